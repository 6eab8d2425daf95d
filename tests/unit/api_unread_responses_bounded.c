/* api_unread_responses_bounded.c: a client that pipelines requests and never reads the answers
 * costs bounded memory, does not hold the loop, is closed at the timeout, and a client that
 * reads late still gets every answer in order (issue 13 item 8). */
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
#include <unistd.h>
#include <cmocka.h>

#include "support/test_env.h"

#include "api/http_server.h"
#include "api/router.h"
#include "support/api_client.h"

/* Timeouts scale under valgrind, which runs this test tens of times slower, and under the
 * sanitizers: ten hogs must all be accepted before the first one's unread timeout closes it. */
static int slow_factor(void)
{
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
    const int sanitized = 5;
#else
    const int sanitized = 1;
#endif
    return test_under_valgrind() ? 20 : sanitized;
}

static uv_loop_t loop;
static struct http_server *srv;
static struct api_router *router;
static char dir[64], sock_path[96], img[96];

static int no_boot(void *ctx, const struct vm_config *cfg, char *err, size_t errlen)
{
    snprintf(err, errlen, "not in this test");
    return -1;
}
static int no_op(void *ctx, char *err, size_t errlen)
{
    return -1;
}
static void no_void(void *ctx) {}
static const struct vm_machine_ops ops = {
    .boot = no_boot, .pause = no_op, .resume = no_op, .shutdown = no_void, .destroy = no_void};

static int setup(void **state)
{
    signal(SIGPIPE, SIG_IGN);
    uv_loop_init(&loop);
    snprintf(dir, sizeof(dir), "/tmp/cocoon-unread-XXXXXX");
    assert_non_null(mkdtemp(dir));
    snprintf(sock_path, sizeof(sock_path), "%s/api.sock", dir);
    snprintf(img, sizeof(img), "%s/img", dir);
    int fd = open(img, O_CREAT | O_RDWR | O_CLOEXEC, 0600);
    assert_true(fd >= 0);
    assert_int_equal(ftruncate(fd, 1 << 20), 0);
    close(fd);
    router = api_router_new(&ops, NULL, NULL);
    assert_non_null(router);
    struct http_limits lim;
    http_limits_default(&lim);
    lim.partial_timeout_ms = 700 * slow_factor();
    char err[256];
    assert_int_equal(http_server_listen(&loop, sock_path, &lim, api_router_handle, router, &srv,
                                        err, sizeof(err)),
                     0);
    apic_init(&loop, sock_path);
    return 0;
}

static int teardown(void **state)
{
    http_server_close(srv);
    uv_run(&loop, UV_RUN_NOWAIT);
    api_router_free(router);
    uv_run(&loop, UV_RUN_NOWAIT);
    uv_loop_close(&loop);
    unlink(img);
    rmdir(dir);
    return 0;
}

/* One request on its own connection; returns the status. */
static int request(const char *method, const char *route, const char *body)
{
    static char req[70000], buf[8192];
    snprintf(req, sizeof(req), "%s /api/v1/%s HTTP/1.1\r\nContent-Length: %zu\r\n\r\n%s", method,
             route, body ? strlen(body) : 0, body ? body : "");
    int fd = apic_connect();
    assert_true(fd >= 0);
    int status = apic_roundtrip(fd, req, buf, sizeof(buf));
    close(fd);
    return status;
}

/* A configuration as large as the limits allow: a long command line and 16 disks whose paths
 * are long ("./" repeated) but valid. vm.info then answers with over 100 KiB. */
static void create_large_config(void)
{
    static char body[65000];
    static char cmdline[50001];
    memset(cmdline, 'c', sizeof(cmdline) - 1);
    cmdline[sizeof(cmdline) - 1] = '\0';
    snprintf(body, sizeof(body),
             "{\"cpus\":{\"boot_vcpus\":1},\"memory\":{\"size\":268435456},"
             "\"payload\":{\"cmdline\":\"%s\"}}",
             cmdline);
    assert_int_equal(request("PUT", "vm.create", body), 204);
    static char path[4000];
    size_t off = (size_t)snprintf(path, sizeof(path), "%s/", dir);
    while (off + 2 + 4 < 3900) {
        memcpy(path + off, "./", 2);
        off += 2;
    }
    snprintf(path + off, sizeof(path) - off, "img");
    for (int i = 0; i < 16; i++) {
        snprintf(body, sizeof(body), "{\"path\":\"%s\",\"id\":\"disk-%d\"}", path, i);
        assert_int_equal(request("PUT", "vm.add-disk", body), 204);
    }
}

static void pipelined_unread_info_stays_bounded(void **state)
{
    create_large_config();
    static char buf[1 << 20];
    int fd = apic_connect();
    int status = apic_roundtrip(fd, "GET /api/v1/vm.info HTTP/1.1\r\n\r\n", buf, sizeof(buf));
    assert_int_equal(status, 200);
    print_message("vm.info answers %zu bytes\n", strlen(buf));
    assert_true(strlen(buf) > 100000);
    close(fd);

    long rss0 = apic_peak_rss_kib();
    int hostile = apic_connect();
    /* 600 pipelined vm.info requests (~20 KiB), never reading: answering them all would
     * queue some 70 MB. */
    static char reqs[600 * 40];
    size_t off = 0;
    for (int i = 0; i < 600; i++)
        off += (size_t)snprintf(reqs + off, sizeof(reqs) - off,
                                "GET /api/v1/vm.info HTTP/1.1\r\n\r\n");
    double t0 = apic_now_ms();
    apic_send_str(hostile, reqs);
    apic_pump(100);
    /* Another client is answered at once meanwhile. */
    int other = apic_connect();
    double t1 = apic_now_ms();
    assert_int_equal(
        apic_roundtrip(other, "GET /api/v1/vmm.ping HTTP/1.1\r\n\r\n", buf, sizeof(buf)), 200);
    assert_true(apic_now_ms() - t1 < 500);
    long grown = apic_peak_rss_kib() - rss0;
    print_message("peak RSS grew by %ld KiB for 600 unread pipelined vm.info\n", grown);
    assert_true(grown < 16 * 1024);
    /* The hostile client is closed once it has read nothing for the timeout (700 ms). */
    int closed_after = -1;
    while (apic_now_ms() - t0 < 3000 * slow_factor()) {
        apic_pump(20);
        char b;
        /* Peeking does not read the queued answers away: the server sees no progress. */
        ssize_t n = recv(hostile, &b, 1, MSG_PEEK | MSG_DONTWAIT);
        (void)n;
        if (http_server_connections(srv) == 1) {
            closed_after = (int)(apic_now_ms() - t0);
            break;
        }
    }
    print_message("unread client closed after %d ms\n", closed_after);
    assert_true(closed_after > 0);
    close(hostile);
    close(other);
}

static void late_reader_gets_every_answer_in_order(void **state)
{
    /* 3000 pipelined pings (about 400 KiB of answers, far above the 64 KiB at which the server
     * stops parsing): read slowly, every one arrives, in order, on the same connection. */
    int fd = apic_connect();
    static char reqs[3000 * 64];
    size_t off = 0;
    for (int i = 0; i < 3000; i++)
        off += (size_t)snprintf(reqs + off, sizeof(reqs) - off,
                                "GET /api/v1/vmm.ping?n=%d HTTP/1.1\r\n\r\n", i);
    apic_send_str(fd, reqs);
    apic_pump(50);
    static char buf[1 << 20];
    bool eof;
    size_t len = 0;
    int got = 0;
    double t0 = apic_now_ms();
    size_t scanned = 0; /* count only what arrived since the last look: reading stays prompt */
    while (got < 3000 && apic_now_ms() - t0 < 10000 * slow_factor()) {
        size_t n = apic_read_responses(fd, buf + len, sizeof(buf) - len - 1, 1, 200, &eof);
        assert_false(eof);
        len += n;
        buf[len] = '\0';
        const char *p = buf + scanned;
        for (; (p = strstr(p, "HTTP/1.1 200 OK")); p++)
            got++;
        scanned = len > 16 ? len - 16 : 0; /* a marker cut at the end is found next time */
        if (got > 0 && scanned > 0) {      /* do not count a marker twice across the overlap */
            const char *last = buf + scanned;
            for (const char *q = last; (q = strstr(q, "HTTP/1.1 200 OK")); q++)
                got--;
        }
    }
    assert_int_equal(got, 3000);
    assert_int_equal(http_server_connections(srv), 1);
    close(fd);
}

static void ten_non_readers_lock_nobody_out(void **state)
{
    /* Ten clients fill every slot with pipelined pings they never read (far above the 64 KiB
     * at which parsing stops): a newcomer takes one of their slots instead of getting 503. */
    static char reqs[3000 * 40];
    size_t off = 0;
    for (int i = 0; i < 3000; i++)
        off += (size_t)snprintf(reqs + off, sizeof(reqs) - off,
                                "GET /api/v1/vmm.ping HTTP/1.1\r\n\r\n");
    int hog[10];
    for (int i = 0; i < 10; i++) {
        hog[i] = apic_connect();
        apic_send_str(hog[i], reqs);
    }
    /* Wait for the server to hold all ten (a loaded or sanitized run accepts slowly). */
    double t0 = apic_now_ms();
    while (http_server_connections(srv) < 10 && apic_now_ms() - t0 < 5000 * slow_factor())
        apic_pump(20);
    assert_int_equal(http_server_connections(srv), 10);
    char buf[4096];
    for (int i = 0; i < 3; i++) {
        int fd = apic_connect();
        assert_int_equal(
            apic_roundtrip(fd, "GET /api/v1/vmm.ping HTTP/1.1\r\n\r\n", buf, sizeof(buf)), 200);
        close(fd);
    }
    for (int i = 0; i < 10; i++)
        close(hog[i]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(pipelined_unread_info_stays_bounded, setup, teardown),
        cmocka_unit_test_setup_teardown(late_reader_gets_every_answer_in_order, setup, teardown),
        cmocka_unit_test_setup_teardown(ten_non_readers_lock_nobody_out, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
