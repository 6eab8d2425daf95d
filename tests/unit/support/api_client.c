/* api_client.c: a test client for the control socket that runs the server's loop meanwhile. */
#include "api_client.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

static uv_loop_t *apic_loop;
static char apic_path[108];

void apic_init(uv_loop_t *loop, const char *sock_path)
{
    apic_loop = loop;
    snprintf(apic_path, sizeof(apic_path), "%s", sock_path);
}

double apic_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

void apic_pump(int ms)
{
    double end = apic_now_ms() + ms;
    while (apic_now_ms() < end) {
        uv_run(apic_loop, UV_RUN_NOWAIT);
        usleep(1000);
    }
}

int apic_connect(void)
{
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    memcpy(sa.sun_path, apic_path, strlen(apic_path) + 1);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    apic_pump(5);
    return fd;
}

void apic_send_str(int fd, const char *s)
{
    size_t len = strlen(s);
    while (len) {
        ssize_t n = send(fd, s, len, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0 && errno == EAGAIN) {
            uv_run(apic_loop, UV_RUN_NOWAIT);
            continue;
        }
        if (n <= 0)
            return;
        s += n;
        len -= (size_t)n;
    }
}

/* Length of the first complete response in buf[0..len), or 0 if incomplete. */
static size_t response_length(const char *buf, size_t len)
{
    const char *end = memmem(buf, len, "\r\n\r\n", 4);
    if (!end)
        return 0;
    size_t head = (size_t)(end - buf) + 4;
    const char *cl = memmem(buf, head, "Content-Length: ", 16);
    size_t body = cl ? strtoul(cl + 16, NULL, 10) : 0;
    return head + body <= len ? head + body : 0;
}

size_t apic_read_responses(int fd, char *buf, size_t cap, int n, int timeout_ms, bool *eof)
{
    size_t len = 0;
    double end = apic_now_ms() + timeout_ms;
    *eof = false;
    while (apic_now_ms() < end) {
        uv_run(apic_loop, UV_RUN_NOWAIT);
        if (len + 1 >= cap) { /* keep reading (to see EOF) but drop the old bytes */
            len = 0;
        }
        ssize_t r = recv(fd, buf + len, cap - 1 - len, MSG_DONTWAIT);
        if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR)) {
            *eof = true;
            break;
        }
        if (r > 0) {
            len += (size_t)r;
            buf[len] = '\0';
            size_t off = 0;
            int got = 0;
            for (size_t l; (l = response_length(buf + off, len - off)) > 0; off += l)
                got++;
            if (got >= n)
                break;
        } else {
            usleep(1000);
        }
    }
    buf[len] = '\0';
    return len;
}

int apic_roundtrip(int fd, const char *req, char *buf, size_t cap)
{
    bool eof;
    apic_send_str(fd, req);
    size_t n = apic_read_responses(fd, buf, cap, 1, 2000, &eof);
    int status = 0;
    if (n > 12 && sscanf(buf, "HTTP/1.1 %d", &status) != 1)
        status = 0;
    return status;
}

bool apic_closed_by_server(int fd, int timeout_ms)
{
    char buf[4096];
    bool eof;
    apic_read_responses(fd, buf, sizeof(buf), 1 << 30, timeout_ms, &eof);
    return eof;
}

long apic_peak_rss_kib(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kib = -1;
    while (f && fgets(line, sizeof(line), f))
        if (sscanf(line, "VmHWM: %ld kB", &kib) == 1)
            break;
    if (f)
        fclose(f);
    return kib;
}
