/* console_out.c: console bytes from vCPU threads -> bounded ring -> host fd, drained by the loop.
 */
#include "vmm/console_out.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "devices/handle_group.h"
#include "vmm/base/log.h"

#define CONSOLE_CHUNK    (64u * 1024) /* bytes taken from the ring per write */
#define CONSOLE_RETRY_MS 10           /* EAGAIN on an fd epoll cannot watch: try again later */
#define CONSOLE_FLUSH_MS 300          /* at stop, how long a slow reader may hold the last bytes */

enum console_sink { SINK_DISCARD, SINK_WRITE, SINK_SEND };

struct console_out {
    /* Shared with the vCPU threads, under `lock` (held only for memcpy, never across I/O). */
    pthread_mutex_t lock;
    uint8_t *ring;
    size_t head, len;
    uint64_t dropped;
    bool wake_sent; /* an async wake-up is on its way: producers need not send another */
    bool closed;    /* the host side is gone: producers discard */

    /* Loop thread only. */
    enum console_sink sink;
    int fd, owned_fd;
    bool pollable, waiting;
    uint8_t out[CONSOLE_CHUNK]; /* bytes taken from the ring, not yet written */
    size_t out_off, out_len;
    uint64_t dropped_logged;
    struct log_ratelimit drop_log;
    uv_async_t wake;
    uv_poll_t poll;
    uv_timer_t retry;
    struct handle_group handles; /* wake, retry, poll: co is freed once all are closed */
};

static void console_drain(struct console_out *co);

/* ---- Producer side (any thread). ---- */

static void ring_append(struct console_out *co, const uint8_t *buf, size_t len)
{
    if (len > CONSOLE_OUT_BUFFER) { /* only the newest bytes can be kept */
        co->dropped += len - CONSOLE_OUT_BUFFER;
        buf += len - CONSOLE_OUT_BUFFER;
        len = CONSOLE_OUT_BUFFER;
    }
    size_t excess = co->len + len > CONSOLE_OUT_BUFFER ? co->len + len - CONSOLE_OUT_BUFFER : 0;
    co->head = (co->head + excess) % CONSOLE_OUT_BUFFER; /* drop the oldest */
    co->len -= excess;
    co->dropped += excess;
    size_t tail = (co->head + co->len) % CONSOLE_OUT_BUFFER;
    size_t first = len < CONSOLE_OUT_BUFFER - tail ? len : CONSOLE_OUT_BUFFER - tail;
    memcpy(co->ring + tail, buf, first);
    memcpy(co->ring, buf + first, len - first);
    co->len += len;
}

void console_out_put(struct console_out *co, const uint8_t *buf, size_t len)
{
    if (!co || len == 0)
        return;
    pthread_mutex_lock(&co->lock);
    bool wake = false;
    if (!co->closed) {
        ring_append(co, buf, len);
        wake = !co->wake_sent;
        co->wake_sent = true;
    }
    pthread_mutex_unlock(&co->lock);
    if (wake)
        uv_async_send(&co->wake);
}

uint64_t console_out_dropped(struct console_out *co)
{
    pthread_mutex_lock(&co->lock);
    uint64_t n = co->dropped;
    pthread_mutex_unlock(&co->lock);
    return n;
}

/* ---- Consumer side (loop thread). ---- */

/* Moves up to one chunk from the ring into co->out. Returns the bytes now pending. */
static size_t take_chunk(struct console_out *co)
{
    if (co->out_len > co->out_off)
        return co->out_len - co->out_off;
    pthread_mutex_lock(&co->lock);
    size_t n = co->len < CONSOLE_CHUNK ? co->len : CONSOLE_CHUNK;
    size_t first = n < CONSOLE_OUT_BUFFER - co->head ? n : CONSOLE_OUT_BUFFER - co->head;
    memcpy(co->out, co->ring + co->head, first);
    memcpy(co->out + first, co->ring, n - first);
    co->head = (co->head + n) % CONSOLE_OUT_BUFFER;
    co->len -= n;
    if (co->len == 0)
        co->wake_sent = false; /* the next byte must wake the loop again */
    uint64_t dropped = co->dropped;
    pthread_mutex_unlock(&co->lock);
    co->out_off = 0;
    co->out_len = n;
    if (dropped > co->dropped_logged) {
        log_limited(&co->drop_log, LOG_LVL_WARN,
                    "console: %llu byte(s) of guest output dropped so far: the reader of the "
                    "console is not keeping up",
                    (unsigned long long)dropped);
        co->dropped_logged = dropped;
    }
    return n;
}

/* The host side failed for good (reader gone, fd closed): discard from now on. */
static void console_sink_lost(struct console_out *co, int e)
{
    log_warn("console: output stopped: %s; later guest output is discarded", strerror(e));
    co->sink = SINK_DISCARD;
    co->out_len = co->out_off = 0;
    pthread_mutex_lock(&co->lock);
    co->closed = true;
    co->len = 0;
    pthread_mutex_unlock(&co->lock);
}

static ssize_t sink_write(struct console_out *co, const uint8_t *p, size_t n)
{
    if (co->sink == SINK_SEND)
        return send(co->fd, p, n, MSG_DONTWAIT | MSG_NOSIGNAL);
    return write(co->fd, p, n);
}

static void console_poll_cb(uv_poll_t *h, int status, int events)
{
    struct console_out *co = h->data;
    uv_poll_stop(&co->poll);
    co->waiting = false;
    console_drain(co);
}

static void console_retry_cb(uv_timer_t *t)
{
    struct console_out *co = t->data;
    co->waiting = false;
    console_drain(co);
}

/* Writes until the ring is empty or the fd would block; then waits for it to become writable. */
static void console_drain(struct console_out *co)
{
    while (!co->waiting && take_chunk(co) > 0) {
        if (co->sink == SINK_DISCARD) {
            co->out_off = co->out_len;
            continue;
        }
        ssize_t n = sink_write(co, co->out + co->out_off, co->out_len - co->out_off);
        if (n > 0) {
            co->out_off += (size_t)n;
        } else if (n < 0 && errno == EINTR) {
            continue;
        } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            co->waiting = true;
            if (!co->pollable || uv_poll_start(&co->poll, UV_WRITABLE, console_poll_cb) < 0)
                uv_timer_start(&co->retry, console_retry_cb, CONSOLE_RETRY_MS, 0);
        } else {
            console_sink_lost(co, n < 0 ? errno : EPIPE);
        }
    }
}

static void console_wake_cb(uv_async_t *h)
{
    console_drain(h->data);
}

/* A private non-blocking description of a pipe, FIFO or terminal: reopening it through /proc
 * leaves the flags of the description shared with the parent (e.g. a shell's terminal) alone. */
static int reopen_nonblocking(int fd)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
    return open(path, O_WRONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
}

static int console_pick_sink(struct console_out *co, int fd, char *err, size_t errlen)
{
    struct stat st;
    co->fd = fd;
    co->sink = fd < 0 ? SINK_DISCARD : SINK_WRITE;
    if (fd < 0)
        return 0;
    if (fstat(fd, &st) < 0) {
        snprintf(err, errlen, "console output fd %d: %s", fd, strerror(errno));
        return -1;
    }
    if (S_ISSOCK(st.st_mode)) {
        co->sink = SINK_SEND; /* MSG_DONTWAIT per call */
        co->pollable = true;
    } else if (S_ISFIFO(st.st_mode) || S_ISCHR(st.st_mode)) {
        int nb = reopen_nonblocking(fd);
        if (nb >= 0) {
            co->fd = co->owned_fd = nb;
        } else if (!(fcntl(fd, F_GETFL) & O_NONBLOCK)) { /* no /proc: share the flag instead */
            fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
            log_info("console: set O_NONBLOCK on fd %d (cannot reopen it: %s)", fd,
                     strerror(errno));
        }
        co->pollable = !S_ISCHR(st.st_mode) || isatty(co->fd);
    } /* regular files: writes do not wait for a reader */
    return 0;
}

static void console_closed_cb(void *opaque)
{
    struct console_out *co = opaque;
    if (co->owned_fd >= 0)
        close(co->owned_fd);
    pthread_mutex_destroy(&co->lock);
    free(co->ring);
    free(co);
}

struct console_out *console_out_start(uv_loop_t *loop, int fd, char *err, size_t errlen)
{
    struct console_out *co = calloc(1, sizeof(*co));
    if (co)
        co->ring = fd >= 0 ? malloc(CONSOLE_OUT_BUFFER) : NULL;
    if (!co || (fd >= 0 && !co->ring)) {
        if (co)
            free(co);
        snprintf(err, errlen, "out of memory for the console buffer");
        return NULL;
    }
    co->owned_fd = -1;
    co->drop_log = (struct log_ratelimit)LOG_RATELIMIT_INIT;
    pthread_mutex_init(&co->lock, NULL);
    co->closed = fd < 0;
    if (console_pick_sink(co, fd, err, errlen) < 0 ||
        uv_async_init(loop, &co->wake, console_wake_cb) < 0) {
        if (!err[0])
            snprintf(err, errlen, "cannot start the console output");
        if (co->owned_fd >= 0)
            close(co->owned_fd);
        pthread_mutex_destroy(&co->lock);
        free(co->ring);
        free(co);
        return NULL;
    }
    co->wake.data = co->retry.data = co;
    uv_timer_init(loop, &co->retry);
    if (co->pollable && uv_poll_init(loop, &co->poll, co->fd) == 0) {
        co->poll.data = co;
    } else {
        co->pollable = false;
    }
    return co;
}

/* Loop thread at stop: a last drain that may wait for the reader, but never past the deadline. */
static void console_final_flush(struct console_out *co)
{
    struct timespec t0, now;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (;;) {
        co->waiting = false;
        uv_timer_stop(&co->retry);
        if (co->pollable)
            uv_poll_stop(&co->poll);
        console_drain(co);
        if (!co->waiting)
            return;
        clock_gettime(CLOCK_MONOTONIC, &now);
        long spent = (now.tv_sec - t0.tv_sec) * 1000 + (now.tv_nsec - t0.tv_nsec) / 1000000;
        if (spent >= CONSOLE_FLUSH_MS)
            break;
        struct pollfd p = {.fd = co->fd, .events = POLLOUT};
        if (poll(&p, 1, co->pollable ? (int)(CONSOLE_FLUSH_MS - spent) : CONSOLE_RETRY_MS) < 0 &&
            errno != EINTR)
            break;
    }
    pthread_mutex_lock(&co->lock);
    size_t left = co->len + (co->out_len - co->out_off);
    co->closed = true;
    pthread_mutex_unlock(&co->lock);
    log_warn("console: %zu byte(s) of guest output not written at exit (the reader is not reading)",
             left);
}

void console_out_stop(void *p)
{
    struct console_out *co = p;
    if (!co)
        return;
    if (co->sink != SINK_DISCARD)
        console_final_flush(co);
    uint64_t dropped = console_out_dropped(co);
    if (dropped)
        log_info("console: %llu byte(s) of guest output dropped in all",
                 (unsigned long long)dropped);
    handle_group_init(&co->handles, console_closed_cb, co);
    handle_group_close(&co->handles, (uv_handle_t *)&co->wake);
    handle_group_close(&co->handles, (uv_handle_t *)&co->retry);
    handle_group_close(&co->handles, (uv_handle_t *)&co->poll); /* skipped when never polled */
    handle_group_seal(&co->handles);
}
