/* api_accept_fd_exhaustion.c: out of file descriptors, the API listener rests instead of
 * spinning and logging (issue 13 item 8), and serves the waiting client once fds are back. */
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
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <cmocka.h>

#include "support/test_env.h"

#include "api/http_server.h"
#include "support/api_client.h"
#include "vmm/base/log.h"

static uv_loop_t loop;
static struct http_server *srv;
static char dir[64], sock_path[96], log_path[96];

static void ping_handler(void *opaque, struct api_request *req, struct api_response *resp)
{
    resp->status = 204;
}

static double cpu_ms(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e3 +
           (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e3;
}

static size_t count_lines_with(const char *path, const char *needle)
{
    FILE *f = fopen(path, "r");
    char line[512];
    size_t n = 0;
    while (f && fgets(line, sizeof(line), f))
        if (strstr(line, needle))
            n++;
    if (f)
        fclose(f);
    return n;
}

static void listener_rests_when_out_of_fds(void **state)
{
    /* valgrind virtualises RLIMIT_NOFILE for open() but not for accept4(): no EMFILE there. */
    if (test_under_valgrind())
        skip();
    signal(SIGPIPE, SIG_IGN);
    uv_loop_init(&loop);
    snprintf(dir, sizeof(dir), "/tmp/cocoon-emfile-XXXXXX");
    assert_non_null(mkdtemp(dir));
    snprintf(sock_path, sizeof(sock_path), "%s/api.sock", dir);
    snprintf(log_path, sizeof(log_path), "%s/log", dir);
    char err[256];
    assert_int_equal(
        http_server_listen(&loop, sock_path, NULL, ping_handler, NULL, &srv, err, sizeof(err)), 0);
    apic_init(&loop, sock_path);

    /* The server's log goes to a file we can count lines in. */
    int saved_err = dup(2);
    int logfd = open(log_path, O_CREAT | O_TRUNC | O_WRONLY | O_CLOEXEC, 0600);
    assert_true(logfd >= 0 && saved_err >= 0);
    dup2(logfd, 2);
    close(logfd);
    log_set_level(LOG_LVL_WARN);

    /* A client waits in the backlog while the process has no fd left to accept it with. */
    int waiting = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", sock_path);
    assert_int_equal(connect(waiting, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(send(waiting, "GET /ping HTTP/1.1\r\n\r\n", 22, 0), 22);
    static int hog[65536];
    int nhog = 0;
    struct rlimit old, low;
    assert_int_equal(getrlimit(RLIMIT_NOFILE, &old), 0);
    low = old;
    low.rlim_cur = 256;
    assert_int_equal(setrlimit(RLIMIT_NOFILE, &low), 0);
    for (;;) {
        int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            break;
        hog[nhog++] = fd;
    }
    assert_int_equal(errno, EMFILE);

    double cpu0 = cpu_ms();
    apic_pump(600);
    double cpu = cpu_ms() - cpu0;
    for (int i = 0; i < nhog; i++)
        close(hog[i]);
    setrlimit(RLIMIT_NOFILE, &old);

    /* Back to normal: the waiting client is served. */
    char buf[1024];
    bool eof;
    size_t n = apic_read_responses(waiting, buf, sizeof(buf), 1, 2000, &eof);
    dup2(saved_err, 2);
    close(saved_err);
    size_t lines = count_lines_with(log_path, "accept");
    print_message("600 ms out of fds: %.0f ms CPU, %zu log lines\n", cpu, lines);
    assert_true(cpu < 200);
    assert_true(lines >= 1 && lines <= 2);
    assert_true(n > 0);
    assert_non_null(strstr(buf, "HTTP/1.1 204"));
    close(waiting);

    http_server_close(srv);
    uv_run(&loop, UV_RUN_NOWAIT);
    uv_loop_close(&loop);
    unlink(log_path);
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(listener_rests_when_out_of_fds),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
