/* api_idle_connection_kept.c: an idle API connection is never closed; only a started request
 * (408) or unread responses end it, after the partial-request timeout (issue 19 item 2). The
 * timeout is shortened to 200 ms here; api_idle_connection_kept_70s checks the real one. */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "api/http_server.h"
#include "support/api_client.h"

static uv_loop_t loop;
static struct http_server *srv;
static char dir[64], sock_path[96];

static void ping_handler(void *opaque, struct api_request *req, struct api_response *resp)
{
    resp->status = 200;
    resp->body = strdup("{\"ok\":true}");
}

static void idle_connection_outlives_every_timeout(void **state)
{
    signal(SIGPIPE, SIG_IGN);
    uv_loop_init(&loop);
    snprintf(dir, sizeof(dir), "/tmp/cocoon-idle-XXXXXX");
    assert_non_null(mkdtemp(dir));
    snprintf(sock_path, sizeof(sock_path), "%s/api.sock", dir);
    struct http_limits lim;
    http_limits_default(&lim);
    lim.partial_timeout_ms = 200;
    char err[256], buf[4096];
    assert_int_equal(
        http_server_listen(&loop, sock_path, &lim, ping_handler, NULL, &srv, err, sizeof(err)), 0);
    apic_init(&loop, sock_path);

    int idle = apic_connect();
    int partial = apic_connect();
    assert_int_equal(apic_roundtrip(idle, "GET /ping HTTP/1.1\r\n\r\n", buf, sizeof(buf)), 200);
    apic_send_str(partial, "GET /ping HTTP/1.1\r\nHost: x");
    /* Ten timeouts long: the half-sent request is answered 408 and closed, the idle one stays. */
    bool eof;
    apic_read_responses(partial, buf, sizeof(buf), 1, 2000, &eof);
    assert_non_null(strstr(buf, "HTTP/1.1 408"));
    assert_true(apic_closed_by_server(partial, 500));
    apic_pump(2000 - 500);
    assert_int_equal(http_server_connections(srv), 1);
    assert_false(apic_closed_by_server(idle, 10));
    assert_int_equal(apic_roundtrip(idle, "GET /ping HTTP/1.1\r\n\r\n", buf, sizeof(buf)), 200);
    close(idle);
    close(partial);
    http_server_close(srv);
    uv_run(&loop, UV_RUN_NOWAIT);
    uv_loop_close(&loop);
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(idle_connection_outlives_every_timeout),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
