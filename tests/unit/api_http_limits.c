/* api_http_limits.c: the control socket's HTTP handling and limits, with a fake request handler. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "api/http_server.h"

static uv_loop_t loop;
static struct http_server *srv;
static char dir[64], sock_path[96];

/* What the fake handler saw last. */
static struct {
    unsigned calls;
    char method[16];
    char path[64];
    size_t body_len;
    unsigned nfds;
    int kept_fd;
    unsigned after_send_runs;
} seen;

static void after_send(void *opaque)
{
    seen.after_send_runs++;
}

static void fake_handler(void *opaque, struct api_request *req, struct api_response *resp)
{
    seen.calls++;
    snprintf(seen.method, sizeof(seen.method), "%s", req->method);
    snprintf(seen.path, sizeof(seen.path), "%s", req->path);
    seen.body_len = req->body_len;
    seen.nfds = req->nfds;
    if (strcmp(req->path, "/take-fd") == 0 && req->nfds > 0) {
        seen.kept_fd = req->fds[0];
        req->fds[0] = -1;
    }
    if (strcmp(req->path, "/empty") == 0) {
        resp->status = 204;
        return;
    }
    if (strcmp(req->path, "/after") == 0) {
        resp->after_send = after_send;
        resp->after_send_opaque = NULL;
    }
    resp->status = 200;
    char *body = malloc(128);
    snprintf(body, 128, "{\"len\":%zu,\"nfds\":%u}", req->body_len, req->nfds);
    resp->body = body;
}

static void start_server(const struct http_limits *lim)
{
    char err[256];
    assert_int_equal(
        http_server_listen(&loop, sock_path, lim, fake_handler, NULL, &srv, err, sizeof(err)), 0);
}

static void stop_server(void)
{
    http_server_close(srv);
    srv = NULL;
    uv_run(&loop, UV_RUN_NOWAIT);
}

static int setup(void **state)
{
    signal(SIGPIPE, SIG_IGN);
    uv_loop_init(&loop);
    snprintf(dir, sizeof(dir), "/tmp/cocoon-http-XXXXXX");
    assert_non_null(mkdtemp(dir));
    snprintf(sock_path, sizeof(sock_path), "%s/api.sock", dir);
    memset(&seen, 0, sizeof(seen));
    seen.kept_fd = -1;
    start_server(NULL);
    return 0;
}

static int teardown(void **state)
{
    if (srv)
        stop_server();
    if (seen.kept_fd >= 0)
        close(seen.kept_fd);
    unlink(sock_path);
    rmdir(dir);
    uv_run(&loop, UV_RUN_NOWAIT);
    uv_loop_close(&loop);
    return 0;
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* Runs the server's loop for up to ms milliseconds. */
static void pump(int ms)
{
    double end = now_ms() + ms;
    while (now_ms() < end) {
        uv_run(&loop, UV_RUN_NOWAIT);
        usleep(1000);
    }
}

static int client(void)
{
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", sock_path);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    pump(5); /* let the server accept */
    return fd;
}

static void send_all(int fd, const char *data, size_t len)
{
    while (len) {
        ssize_t n = send(fd, data, len, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0 && errno == EAGAIN) {
            uv_run(&loop, UV_RUN_NOWAIT);
            continue;
        }
        assert_true(n > 0);
        data += n;
        len -= (size_t)n;
    }
}

static void send_str(int fd, const char *s)
{
    send_all(fd, s, strlen(s));
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

/* Reads until n complete responses arrived (or EOF / timeout); returns the bytes read. The
 * server runs in between. *eof tells whether the server closed the connection. */
static size_t read_responses(int fd, char *buf, size_t cap, int n, int timeout_ms, bool *eof)
{
    size_t len = 0;
    double end = now_ms() + timeout_ms;
    *eof = false;
    while (now_ms() < end) {
        uv_run(&loop, UV_RUN_NOWAIT);
        ssize_t r = recv(fd, buf + len, cap - 1 - len, MSG_DONTWAIT);
        if (r == 0) {
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

/* One request, one response; returns the status code. */
static int roundtrip(int fd, const char *req, char *buf, size_t cap)
{
    bool eof;
    send_str(fd, req);
    size_t n = read_responses(fd, buf, cap, 1, 2000, &eof);
    int status = 0;
    if (n > 12)
        sscanf(buf, "HTTP/1.1 %d", &status);
    return status;
}

/* Waits until the server closes fd (true) or the timeout passes (false). */
static bool closed_by_server(int fd, int timeout_ms)
{
    char buf[4096];
    bool eof;
    read_responses(fd, buf, sizeof(buf), 1000, timeout_ms, &eof);
    return eof;
}

static void keep_alive_serves_several_requests(void **state)
{
    char buf[4096];
    int fd = client();
    assert_int_equal(roundtrip(fd,
                               "GET /api/v1/vmm.ping HTTP/1.1\r\nHost: localhost\r\n"
                               "Accept: application/json\r\n\r\n",
                               buf, sizeof(buf)),
                     200);
    assert_non_null(strstr(buf, "HTTP/1.1 200 OK\r\n"));
    assert_non_null(strstr(buf, "Content-Type: application/json\r\n"));
    assert_string_equal(seen.method, "GET");
    assert_string_equal(seen.path, "/api/v1/vmm.ping");
    assert_int_equal(roundtrip(fd,
                               "PUT http://localhost/api/v1/vm.create?x=1 HTTP/1.1\r\n"
                               "Host: localhost\r\nContent-Type: application/json\r\n"
                               "Content-Length: 2\r\n\r\n{}",
                               buf, sizeof(buf)),
                     200);
    assert_string_equal(seen.path, "/api/v1/vm.create"); /* absolute form, query dropped */
    assert_int_equal(seen.body_len, 2);
    assert_int_equal(
        roundtrip(fd, "PUT /empty HTTP/1.1\r\nContent-Length: 0\r\n\r\n", buf, sizeof(buf)), 204);
    assert_non_null(strstr(buf, "HTTP/1.1 204 No Content\r\n"));
    assert_non_null(strstr(buf, "Content-Type: application/json\r\n"));
    assert_null(strstr(buf, "Content-Length"));
    assert_int_equal(seen.calls, 3);
    close(fd);
}

static void pipelined_requests_are_answered_in_order(void **state)
{
    char buf[4096];
    bool eof;
    int fd = client();
    send_str(fd, "PUT /a HTTP/1.1\r\nContent-Length: 3\r\n\r\nabcGET /b HTTP/1.1\r\n\r\n"
                 "PUT /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nwxyz\r\n0\r\n\r\n");
    read_responses(fd, buf, sizeof(buf), 3, 2000, &eof);
    assert_int_equal(seen.calls, 3);
    assert_string_equal(seen.path, "/c");
    assert_int_equal(seen.body_len, 4);
    char *second = strstr(buf + 1, "HTTP/1.1 200");
    assert_non_null(second);
    assert_non_null(strstr(second + 1, "HTTP/1.1 200"));
    close(fd);
}

static void oversized_body_gets_413(void **state)
{
    char buf[4096];
    int fd = client();
    assert_int_equal(
        roundtrip(fd, "PUT /x HTTP/1.1\r\nContent-Length: 65537\r\n\r\n", buf, sizeof(buf)), 413);
    assert_non_null(strstr(buf, "Payload Too Large"));
    assert_non_null(strstr(buf, "[\"request body is too large\"]"));
    assert_true(closed_by_server(fd, 500));
    close(fd);
    assert_int_equal(seen.calls, 0);

    /* Chunked bodies are counted as they arrive. */
    fd = client();
    send_str(fd, "PUT /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n");
    static char chunk[40000];
    memset(chunk, 'a', sizeof(chunk));
    char head[32];
    int status = 0;
    for (int i = 0; i < 2; i++) {
        snprintf(head, sizeof(head), "%zx\r\n", sizeof(chunk));
        send_str(fd, head);
        send_all(fd, chunk, sizeof(chunk));
        send_str(fd, "\r\n");
    }
    bool eof;
    read_responses(fd, buf, sizeof(buf), 1, 2000, &eof);
    sscanf(buf, "HTTP/1.1 %d", &status);
    assert_int_equal(status, 413);
    close(fd);
    assert_int_equal(seen.calls, 0);

    /* Exactly the limit is fine. */
    fd = client();
    static char big[65536 + 128];
    int n = snprintf(big, sizeof(big), "PUT /x HTTP/1.1\r\nContent-Length: 65536\r\n\r\n");
    memset(big + n, 'b', 65536);
    send_all(fd, big, (size_t)n + 65536);
    read_responses(fd, buf, sizeof(buf), 1, 2000, &eof);
    assert_non_null(strstr(buf, "HTTP/1.1 200 OK"));
    assert_int_equal(seen.body_len, 65536);
    close(fd);
}

static void oversized_headers_get_431(void **state)
{
    char buf[4096];
    static char req[12000];
    int fd = client();
    int n = snprintf(req, sizeof(req), "GET /x HTTP/1.1\r\nX-Big: ");
    memset(req + n, 'h', 9000);
    snprintf(req + n + 9000, sizeof(req) - n - 9000, "\r\n\r\n");
    assert_int_equal(roundtrip(fd, req, buf, sizeof(buf)), 431);
    assert_non_null(strstr(buf, "Request Header Fields Too Large"));
    assert_true(closed_by_server(fd, 500));
    close(fd);

    fd = client();
    n = snprintf(req, sizeof(req), "GET /x HTTP/1.1\r\n");
    for (int i = 0; i < 70; i++)
        n += snprintf(req + n, sizeof(req) - n, "X-H%d: v\r\n", i);
    snprintf(req + n, sizeof(req) - n, "\r\n");
    assert_int_equal(roundtrip(fd, req, buf, sizeof(buf)), 431);
    close(fd);

    fd = client();
    n = snprintf(req, sizeof(req), "GET /");
    memset(req + n, 'u', 9000);
    snprintf(req + n + 9000, sizeof(req) - n - 9000, " HTTP/1.1\r\n\r\n");
    assert_int_equal(roundtrip(fd, req, buf, sizeof(buf)), 431);
    close(fd);
    assert_int_equal(seen.calls, 0);
}

static void malformed_requests_get_400_and_close(void **state)
{
    static const char *const bad[] = {
        "GARBAGE\r\n\r\n",
        "PUT /x HTTP/1.1\r\nContent-Length: -5\r\n\r\n",
        "PUT /x HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
        "GET /x HTTP/1.1\r\nBad Header\r\n\r\n",
        "GET /x HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
        "GET x HTTP/1.1\r\n\r\n",
    };
    char buf[4096];
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int fd = client();
        int status = roundtrip(fd, bad[i], buf, sizeof(buf));
        if (status != 400)
            fail_msg("request %zu answered %d, not 400", i, status);
        assert_non_null(strstr(buf, "Content-Type: application/json"));
        assert_non_null(strstr(buf, "[\""));
        assert_true(closed_by_server(fd, 500));
        close(fd);
    }
    assert_int_equal(seen.calls, 0);
}

static void chunk_size_overflow_is_named(void **state)
{
    char buf[4096];
    int fd = client();
    int status = roundtrip(fd,
                           "PUT /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
                           "FFFFFFFFFFFFFFFFFFFF\r\n",
                           buf, sizeof(buf));
    assert_int_equal(status, 413);
    if (!strstr(buf, "chunk size")) /* said "invalid character in content-length header" */
        fail_msg("%s", buf);
    assert_true(closed_by_server(fd, 500));
    close(fd);
}

static void eleventh_connection_gets_503(void **state)
{
    int fds[10];
    char buf[4096];
    for (int i = 0; i < 10; i++)
        fds[i] = client();
    pump(20);
    assert_int_equal(http_server_connections(srv), 10);
    int extra = client();
    bool eof;
    read_responses(extra, buf, sizeof(buf), 1, 1000, &eof);
    assert_non_null(strstr(buf, "HTTP/1.1 503 Service Unavailable"));
    assert_non_null(strstr(buf, "too many open connections"));
    assert_true(closed_by_server(extra, 500));
    close(extra);
    /* The ten still work, and a slot frees when one goes. */
    assert_int_equal(roundtrip(fds[3], "GET /ok HTTP/1.1\r\n\r\n", buf, sizeof(buf)), 200);
    close(fds[0]);
    pump(20);
    assert_int_equal(http_server_connections(srv), 9);
    int again = client();
    assert_int_equal(roundtrip(again, "GET /ok HTTP/1.1\r\n\r\n", buf, sizeof(buf)), 200);
    close(again);
    for (int i = 1; i < 10; i++)
        close(fds[i]);
}

static void half_request_times_out_with_408(void **state)
{
    stop_server();
    struct http_limits lim;
    http_limits_default(&lim);
    lim.partial_timeout_ms = 300;
    start_server(&lim);
    char buf[4096];
    bool eof;
    int stalled = client();
    send_str(stalled, "PUT /api/v1/vm.create HTTP/1.1\r\nContent-Length: 100\r\n\r\n{\"cpus\"");
    int idle = client();
    /* Others are served meanwhile. */
    int other = client();
    assert_int_equal(roundtrip(other, "GET /ok HTTP/1.1\r\n\r\n", buf, sizeof(buf)), 200);
    double t0 = now_ms();
    read_responses(stalled, buf, sizeof(buf), 1, 2000, &eof);
    assert_non_null(strstr(buf, "HTTP/1.1 408 Request Timeout"));
    assert_true(now_ms() - t0 < 1500);
    assert_true(closed_by_server(stalled, 500));
    /* An idle keep-alive connection (nothing started, nothing queued) is not timed out. */
    size_t n = read_responses(idle, buf, sizeof(buf), 1, 1000, &eof);
    assert_false(eof);
    assert_int_equal(n, 0);
    assert_int_equal(seen.calls, 1);
    assert_int_equal(roundtrip(idle, "GET /ok HTTP/1.1\r\n\r\n", buf, sizeof(buf)), 200);
    close(stalled);
    close(idle);
    close(other);
}

/* Sends req in ONE sendmsg with fd attached, as Kata's vm.add-net does. */
static void send_with_fd(int sock, const char *req, int fd)
{
    union {
        char buf[CMSG_SPACE(sizeof(int))];
        struct cmsghdr align;
    } c;
    memset(&c, 0, sizeof(c)); /* the padding after the fd goes to the kernel too (valgrind) */
    struct iovec iov = {.iov_base = (void *)req, .iov_len = strlen(req)};
    struct msghdr msg = {
        .msg_iov = &iov, .msg_iovlen = 1, .msg_control = c.buf, .msg_controllen = sizeof(c.buf)};
    struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);
    cm->cmsg_level = SOL_SOCKET;
    cm->cmsg_type = SCM_RIGHTS;
    cm->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(cm), &fd, sizeof(int));
    assert_int_equal(sendmsg(sock, &msg, 0), (ssize_t)strlen(req));
}

static void passed_fds_reach_the_handler_or_are_closed(void **state)
{
    char buf[4096];
    bool eof;
    int p[2];
    int fd = client();

    /* A request that takes no fd: the server closes it (the pipe's last reader goes). */
    assert_int_equal(pipe(p), 0);
    send_with_fd(fd, "PUT /no-fd HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}", p[0]);
    close(p[0]);
    read_responses(fd, buf, sizeof(buf), 1, 2000, &eof);
    assert_int_equal(seen.nfds, 1);
    assert_int_equal(write(p[1], "x", 1), -1);
    assert_int_equal(errno, EPIPE);
    close(p[1]);

    /* A request that takes it: the handler owns it afterwards. */
    assert_int_equal(pipe(p), 0);
    send_with_fd(fd, "PUT /take-fd HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}", p[0]);
    close(p[0]);
    read_responses(fd, buf, sizeof(buf), 1, 2000, &eof);
    assert_true(seen.kept_fd >= 0);
    assert_int_equal(write(p[1], "x", 1), 1);
    char c;
    assert_int_equal(read(seen.kept_fd, &c, 1), 1);
    close(seen.kept_fd);
    seen.kept_fd = -1;
    close(p[1]);

    /* An fd with a request that never completes is closed with the connection. */
    assert_int_equal(pipe(p), 0);
    send_with_fd(fd, "PUT /no-fd HTTP/1.1\r\nContent-Len", p[0]);
    close(p[0]);
    pump(20);
    close(fd);
    pump(20);
    assert_int_equal(write(p[1], "x", 1), -1);
    assert_int_equal(errno, EPIPE);
    close(p[1]);
}

static void expect_continue_and_after_send(void **state)
{
    char buf[4096];
    bool eof;
    int fd = client();
    send_str(fd, "PUT /after HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n");
    read_responses(fd, buf, sizeof(buf), 1, 300, &eof);
    assert_non_null(strstr(buf, "HTTP/1.1 100 Continue\r\n\r\n"));
    assert_int_equal(seen.after_send_runs, 0);
    send_str(fd, "{}");
    read_responses(fd, buf, sizeof(buf), 1, 2000, &eof);
    assert_non_null(strstr(buf, "HTTP/1.1 200 OK"));
    assert_int_equal(seen.after_send_runs, 1);
    /* HTTP/1.0 without keep-alive: answered, then closed. */
    send_str(fd, "GET /x HTTP/1.0\r\n\r\n");
    read_responses(fd, buf, sizeof(buf), 1, 2000, &eof);
    assert_non_null(strstr(buf, "Connection: close"));
    assert_true(closed_by_server(fd, 500));
    close(fd);
}

static void socket_file_rules(void **state)
{
    struct stat st;
    assert_int_equal(stat(sock_path, &st), 0);
    assert_true(S_ISSOCK(st.st_mode));
    assert_int_equal(st.st_mode & 0777, 0600);

    char err[256];
    struct http_server *other;
    /* A live socket is not stolen. */
    assert_int_equal(
        http_server_listen(&loop, sock_path, NULL, fake_handler, NULL, &other, err, sizeof(err)),
        -1);
    assert_non_null(strstr(err, "in use"));
    /* Closing removes the file; a stale socket file is replaced. */
    stop_server();
    assert_int_equal(stat(sock_path, &st), -1);
    int s = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", sock_path);
    assert_int_equal(bind(s, (struct sockaddr *)&sa, sizeof(sa)), 0);
    close(s);
    start_server(NULL);
    stop_server();
    /* A regular file is never replaced. */
    int f = open(sock_path, O_CREAT | O_WRONLY, 0600);
    close(f);
    assert_int_equal(
        http_server_listen(&loop, sock_path, NULL, fake_handler, NULL, &other, err, sizeof(err)),
        -1);
    assert_non_null(strstr(err, "not a socket"));
    unlink(sock_path);
    /* The folder must exist. */
    char missing[160];
    snprintf(missing, sizeof(missing), "%s/nope/api.sock", dir);
    assert_int_equal(
        http_server_listen(&loop, missing, NULL, fake_handler, NULL, &other, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "folder must exist"));
    start_server(NULL);
}

static void inherited_listener_and_adopted_connection(void **state)
{
    stop_server();
    char err[256], buf[4096];
    /* --api-socket fd=N: a socket the parent bound and listens on. */
    int lfd = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", sock_path);
    assert_int_equal(bind(lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    int notlistening = socket(AF_UNIX, SOCK_STREAM, 0);
    assert_int_equal(http_server_listen_fd(&loop, notlistening, NULL, fake_handler, NULL, &srv, err,
                                           sizeof(err)),
                     -1);
    assert_non_null(strstr(err, "not a listening Unix stream socket"));
    close(notlistening);
    assert_int_equal(listen(lfd, 4), 0);
    assert_int_equal(
        http_server_listen_fd(&loop, lfd, NULL, fake_handler, NULL, &srv, err, sizeof(err)), 0);
    int fd = client();
    assert_int_equal(roundtrip(fd, "GET /api/v1/vmm.ping HTTP/1.1\r\n\r\n", buf, sizeof(buf)), 200);
    close(fd);
    /* An adopted, already-connected socket (how a fuzzer feeds the parser). */
    int sp[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sp), 0);
    http_server_adopt(srv, sp[0]);
    assert_int_equal(roundtrip(sp[1], "GET /adopted HTTP/1.1\r\n\r\n", buf, sizeof(buf)), 200);
    assert_string_equal(seen.path, "/adopted");
    close(sp[1]);
    stop_server();
    /* The inherited socket's file is the parent's business: left in place. */
    struct stat st;
    assert_int_equal(stat(sock_path, &st), 0);
    unlink(sock_path);
    start_server(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(keep_alive_serves_several_requests, setup, teardown),
        cmocka_unit_test_setup_teardown(pipelined_requests_are_answered_in_order, setup, teardown),
        cmocka_unit_test_setup_teardown(oversized_body_gets_413, setup, teardown),
        cmocka_unit_test_setup_teardown(oversized_headers_get_431, setup, teardown),
        cmocka_unit_test_setup_teardown(malformed_requests_get_400_and_close, setup, teardown),
        cmocka_unit_test_setup_teardown(chunk_size_overflow_is_named, setup, teardown),
        cmocka_unit_test_setup_teardown(eleventh_connection_gets_503, setup, teardown),
        cmocka_unit_test_setup_teardown(half_request_times_out_with_408, setup, teardown),
        cmocka_unit_test_setup_teardown(passed_fds_reach_the_handler_or_are_closed, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(expect_continue_and_after_send, setup, teardown),
        cmocka_unit_test_setup_teardown(socket_file_rules, setup, teardown),
        cmocka_unit_test_setup_teardown(inherited_listener_and_adopted_connection, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
