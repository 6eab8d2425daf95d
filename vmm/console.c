/* console.c: host stdin -> 16550 receive FIFO, on the loop thread, with terminal mode handling. */
#include "vmm/console.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

#include "devices/handle_group.h"
#include "vmm/base/log.h"

#define CONSOLE_RETRY_MS 5 /* FIFO full: look again after the guest had time to drain it */

struct console_in {
    uv_poll_t poll;
    uv_timer_t retry;
    int fd;
    struct uart16550 *uart;
    bool have_termios;
    struct termios saved;
    struct handle_group handles; /* poll + retry: ci is freed once both are closed */
};

static void console_poll_cb(uv_poll_t *h, int status, int events);

static void console_retry_cb(uv_timer_t *t)
{
    struct console_in *ci = t->data;
    uv_poll_start(&ci->poll, UV_READABLE, console_poll_cb);
}

static void console_poll_cb(uv_poll_t *h, int status, int events)
{
    struct console_in *ci = h->data;
    size_t space = uart16550_rx_space(ci->uart);
    if (space == 0) {
        uv_poll_stop(&ci->poll);
        uv_timer_start(&ci->retry, console_retry_cb, CONSOLE_RETRY_MS, 0);
        return;
    }
    int avail = 0;
    if (status < 0 || ioctl(ci->fd, FIONREAD, &avail) < 0 || avail <= 0) {
        uv_poll_stop(&ci->poll); /* end of input (or an error): stop reading, keep running */
        return;
    }
    uint8_t buf[64];
    size_t want = (size_t)avail < space ? (size_t)avail : space;
    if (want > sizeof(buf))
        want = sizeof(buf);
    ssize_t n = read(ci->fd, buf, want);
    if (n > 0)
        uart16550_input(ci->uart, buf, (size_t)n);
    else if (n == 0 || (errno != EINTR && errno != EAGAIN))
        uv_poll_stop(&ci->poll);
}

/* Keys go to the guest one at a time and unechoed; signals (Ctrl-C) still reach cocoon. */
static void console_raw_mode(struct console_in *ci)
{
    if (!isatty(ci->fd) || !isatty(STDOUT_FILENO) || tcgetattr(ci->fd, &ci->saved) < 0)
        return;
    struct termios t = ci->saved;
    t.c_lflag &= ~(tcflag_t)(ICANON | ECHO);
    t.c_iflag &= ~(tcflag_t)(ICRNL | IXON);
    t.c_cc[VMIN] = 1;
    t.c_cc[VTIME] = 0;
    if (tcsetattr(ci->fd, TCSANOW, &t) == 0)
        ci->have_termios = true;
}

struct console_in *console_in_start(uv_loop_t *loop, int fd, struct uart16550 *uart)
{
    struct console_in *ci = calloc(1, sizeof(*ci));
    if (!ci)
        return NULL;
    ci->fd = fd;
    ci->uart = uart;
    if (uv_poll_init(loop, &ci->poll, fd) < 0) {
        free(ci);
        return NULL;
    }
    uv_timer_init(loop, &ci->retry);
    ci->poll.data = ci->retry.data = ci;
    console_raw_mode(ci);
    uv_poll_start(&ci->poll, UV_READABLE, console_poll_cb);
    return ci;
}

void console_in_stop(void *p)
{
    struct console_in *ci = p;
    if (!ci)
        return;
    if (ci->have_termios)
        tcsetattr(ci->fd, TCSANOW, &ci->saved);
    handle_group_init(&ci->handles, free, ci);
    handle_group_close(&ci->handles, (uv_handle_t *)&ci->poll);
    handle_group_close(&ci->handles, (uv_handle_t *)&ci->retry);
    handle_group_seal(&ci->handles);
}
