/* stream.c: benchmark: echo throughput over a Unix stream socket, through cocoon's hybrid vsock
 * (into a guest echo service and back) or through a plain copy-loop process (the floor).
 *
 * usage: bench_stream serve PATH
 *          listens on PATH and echoes every connection (read, write back) one at a time, forever
 *        bench_stream client PATH TOTAL CHUNK [VSOCK_PORT]
 *          connects to PATH (with VSOCK_PORT: Kata's "CONNECT <port>\n" handshake first, "OK"
 *          expected), writes TOTAL random bytes in CHUNK-byte writes while reading the echo, checks
 *          it byte for byte, and prints "<MiB/s each way>" (TOTAL / time from first write to last
 *          byte back)
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

static int fail(const char *what)
{
    fprintf(stderr, "bench_stream: %s%s%s\n", what, errno ? ": " : "",
            errno ? strerror(errno) : "");
    return 1;
}

static int unix_addr(const char *path, struct sockaddr_un *a)
{
    memset(a, 0, sizeof(*a));
    a->sun_family = AF_UNIX;
    if (strlen(path) >= sizeof(a->sun_path))
        return -1;
    strcpy(a->sun_path, path);
    return 0;
}

static int write_all(int fd, const uint8_t *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

static int serve(const char *path)
{
    struct sockaddr_un a;
    int l = socket(AF_UNIX, SOCK_STREAM, 0);
    unlink(path);
    if (l < 0 || unix_addr(path, &a) < 0 || bind(l, (struct sockaddr *)&a, sizeof(a)) < 0 ||
        listen(l, 4) < 0)
        return fail("cannot listen");
    static uint8_t buf[65536];
    for (;;) {
        int c = accept(l, NULL, NULL);
        if (c < 0)
            continue;
        for (;;) {
            ssize_t n = read(c, buf, sizeof(buf));
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0 || write_all(c, buf, (size_t)n) < 0)
                break;
        }
        close(c);
    }
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Kata's hybrid-vsock handshake: "CONNECT <port>\n", answer "OK <hostport>\n". */
static int kata_connect(int s, unsigned port)
{
    char line[64];
    int n = snprintf(line, sizeof(line), "CONNECT %u\n", port);
    if (write_all(s, (const uint8_t *)line, (size_t)n) < 0)
        return -1;
    size_t got = 0;
    while (got < sizeof(line) - 1) {
        if (read(s, line + got, 1) != 1)
            return -1;
        if (line[got++] == '\n')
            break;
    }
    line[got] = 0;
    return strncmp(line, "OK ", 3) == 0 ? 0 : -1;
}

/* Sends data in chunk-byte writes and reads the echo at the same time (one thread, poll). */
static int pump(int s, const uint8_t *data, uint8_t *back, size_t total, size_t chunk)
{
    size_t sent = 0, recvd = 0;
    fcntl(s, F_SETFL, fcntl(s, F_GETFL) | O_NONBLOCK);
    while (recvd < total) {
        struct pollfd p = {.fd = s, .events = (short)(POLLIN | (sent < total ? POLLOUT : 0))};
        if (poll(&p, 1, 30000) <= 0)
            return fail("echo stalled for 30 s");
        if ((p.revents & POLLOUT) && sent < total) {
            size_t n = total - sent < chunk ? total - sent : chunk;
            ssize_t w = write(s, data + sent, n);
            if (w < 0 && errno != EAGAIN && errno != EINTR)
                return fail("write");
            sent += w > 0 ? (size_t)w : 0;
        }
        if (p.revents & (POLLIN | POLLHUP | POLLERR)) {
            ssize_t r = read(s, back + recvd, total - recvd);
            if (r == 0)
                return fail("the peer closed early");
            if (r < 0 && errno != EAGAIN && errno != EINTR)
                return fail("read");
            recvd += r > 0 ? (size_t)r : 0;
        }
    }
    return 0;
}

static int client(const char *path, size_t total, size_t chunk, unsigned vsock_port)
{
    struct sockaddr_un a;
    uint8_t *data = malloc(total), *back = malloc(total);
    int s = socket(AF_UNIX, SOCK_STREAM, 0);
    if (!data || !back || s < 0 || unix_addr(path, &a) < 0)
        return fail("set-up");
    uint64_t x = 0x243F6A8885A308D3ULL;
    for (size_t i = 0; i < total; i++) {
        x = x * 6364136223846793005ULL + 1442695040888963407ULL;
        data[i] = (uint8_t)(x >> 56);
    }
    if (connect(s, (struct sockaddr *)&a, sizeof(a)) < 0)
        return fail("connect");
    if (vsock_port && kata_connect(s, vsock_port) < 0)
        return fail("vsock handshake refused");
    double t0 = now_s();
    if (pump(s, data, back, total, chunk) < 0)
        return 1;
    double dt = now_s() - t0;
    close(s);
    errno = 0;
    if (memcmp(data, back, total) != 0)
        return fail("the echo differs from what was sent");
    printf("%.1f\n", (double)total / dt / (1 << 20));
    free(data);
    free(back);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "serve") == 0)
        return serve(argv[2]);
    if ((argc == 5 || argc == 6) && strcmp(argv[1], "client") == 0) {
        size_t total = strtoul(argv[3], NULL, 0), chunk = strtoul(argv[4], NULL, 0);
        if (total == 0 || chunk == 0)
            return 2;
        return client(argv[2], total, chunk, argc == 6 ? (unsigned)strtoul(argv[5], NULL, 0) : 0);
    }
    fprintf(stderr, "usage: bench_stream serve PATH | client PATH TOTAL CHUNK [VSOCK_PORT]\n");
    return 2;
}
