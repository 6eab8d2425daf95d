/* api_closed_conns_free_slots.c: well-behaved clients opening a connection per request (Kata's
 * pattern) never meet 503: a connection whose client closed stops counting at once (issue 14
 * item 7). Nine threads x 300 connect -> ping -> close against the default 10-connection limit. */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>
#include <cmocka.h>

#include "api/http_server.h"

#define THREADS 9
#define ROUNDS  300

static uv_loop_t loop;
static struct http_server *srv;
static char dir[64], sock_path[96];
static atomic_int done_threads, ok, busy, no_answer;

static void ping_handler(void *opaque, struct api_request *req, struct api_response *resp)
{
    resp->status = 200;
    resp->body = strdup("{\"version\":\"test\"}");
}

static int one_ping(void)
{
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", sock_path);
    struct timeval tv = {.tv_sec = 5};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    int status = 0;
    static const char req[] = "GET /api/v1/vmm.ping HTTP/1.1\r\nHost: localhost\r\n\r\n";
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
        send(fd, req, sizeof(req) - 1, MSG_NOSIGNAL) == (ssize_t)sizeof(req) - 1) {
        char buf[1024];
        size_t len = 0;
        while (len < sizeof(buf) - 1) {
            ssize_t n = recv(fd, buf + len, sizeof(buf) - 1 - len, 0);
            if (n <= 0)
                break;
            len += (size_t)n;
            buf[len] = '\0';
            if (strstr(buf, "}") || strstr(buf, "\r\n\r\n["))
                break;
        }
        buf[len] = '\0';
        if (len > 12 && sscanf(buf, "HTTP/1.1 %d", &status) != 1)
            status = 0;
    }
    close(fd);
    return status;
}

static void *client_thread(void *arg)
{
    for (int i = 0; i < ROUNDS; i++) {
        int s = one_ping();
        if (s == 200)
            atomic_fetch_add(&ok, 1);
        else if (s == 503)
            atomic_fetch_add(&busy, 1);
        else
            atomic_fetch_add(&no_answer, 1);
    }
    atomic_fetch_add(&done_threads, 1);
    return NULL;
}

static void tick(uv_timer_t *t)
{
    if (atomic_load(&done_threads) == THREADS)
        uv_stop(&loop);
}

static void connect_ping_close_never_503(void **state)
{
    signal(SIGPIPE, SIG_IGN);
    uv_loop_init(&loop);
    snprintf(dir, sizeof(dir), "/tmp/cocoon-slots-XXXXXX");
    assert_non_null(mkdtemp(dir));
    snprintf(sock_path, sizeof(sock_path), "%s/api.sock", dir);
    char err[256];
    assert_int_equal(
        http_server_listen(&loop, sock_path, NULL, ping_handler, NULL, &srv, err, sizeof(err)), 0);
    uv_timer_t timer;
    uv_timer_init(&loop, &timer);
    uv_timer_start(&timer, tick, 10, 10);
    pthread_t th[THREADS];
    for (int i = 0; i < THREADS; i++)
        assert_int_equal(pthread_create(&th[i], NULL, client_thread, NULL), 0);
    uv_run(&loop, UV_RUN_DEFAULT);
    for (int i = 0; i < THREADS; i++)
        pthread_join(th[i], NULL);
    print_message("%d OK, %d 503, %d without an answer\n", atomic_load(&ok), atomic_load(&busy),
                  atomic_load(&no_answer));
    assert_int_equal(atomic_load(&busy), 0);
    assert_int_equal(atomic_load(&no_answer), 0);
    assert_int_equal(atomic_load(&ok), THREADS * ROUNDS);
    uv_close((uv_handle_t *)&timer, NULL);
    http_server_close(srv);
    uv_run(&loop, UV_RUN_NOWAIT);
    uv_loop_close(&loop);
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(connect_ping_close_never_503),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
