/* vsock_socket_safety.c: the hybrid-vsock socket cocoon creates and the "<socket>_<port>" ones
 * it dials: no fd 0 closed on a failed listen (issue 13 item 9), a live socket never replaced,
 * a symlink named as such (issue 14 items 3, 9), no chmod of a path (item 4), folders others
 * may write refused, planted symlinks never dialled (item 5), the full sun_path usable. */
#include <errno.h>
#include <fcntl.h>
#include <seccomp.h>
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
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "support/test_env.h"

#include "api/http_server.h"
#include "devices/vsock_muxer.h"

static uv_loop_t loop;
static char dir[64], path[100];

static void kick(void *opaque) {}

static int setup(void **state)
{
    signal(SIGPIPE, SIG_IGN);
    uv_loop_init(&loop);
    snprintf(dir, sizeof(dir), "/tmp/cocoon-vss-XXXXXX");
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/vsock.sock", dir);
    return 0;
}

static int teardown(void **state)
{
    uv_run(&loop, UV_RUN_NOWAIT);
    uv_loop_close(&loop);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
    return 0;
}

static struct vsock_muxer *mux_at(const char *p, char *err, size_t errlen)
{
    return vsock_muxer_new(&loop, p, 3, kick, NULL, err, errlen);
}

static void mux_free(struct vsock_muxer *m)
{
    vsock_muxer_free(m);
    uv_run(&loop, UV_RUN_NOWAIT);
}

static int listener_at(const char *p)
{
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    assert_true(strlen(p) < sizeof(sa.sun_path));
    memcpy(sa.sun_path, p, strlen(p) + 1);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(listen(fd, 4), 0);
    return fd;
}

static bool can_connect(const char *p)
{
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    memcpy(sa.sun_path, p, strlen(p) + 1);
    bool ok = connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
    close(fd);
    return ok;
}

static void failed_listen_keeps_fd0(void **state)
{
    if (fcntl(0, F_GETFD) < 0)
        assert_int_equal(open("/dev/null", O_RDONLY), 0);
    char err[256], longp[160];
    memset(longp, 'x', sizeof(longp) - 1);
    longp[0] = '/';
    longp[sizeof(longp) - 1] = '\0';
    assert_null(mux_at(longp, err, sizeof(err)));
    assert_true(fcntl(0, F_GETFD) >= 0); /* the error path closed fd 0 once */
    assert_non_null(strstr(err, "at most 96"));
}

static void live_socket_is_not_replaced(void **state)
{
    char err[256];
    struct vsock_muxer *first = mux_at(path, err, sizeof(err));
    assert_non_null(first);
    struct stat before, after;
    assert_int_equal(stat(path, &before), 0);
    assert_null(mux_at(path, err, sizeof(err)));
    assert_non_null(strstr(err, "in use by another process"));
    assert_int_equal(stat(path, &after), 0);
    assert_int_equal(before.st_ino, after.st_ino);
    assert_true(can_connect(path));
    mux_free(first);
    /* A stale socket (nobody listening) is replaced. */
    int stale = listener_at(path);
    close(stale);
    struct vsock_muxer *again = mux_at(path, err, sizeof(err));
    assert_non_null(again);
    mux_free(again);
}

static void symlink_at_socket_path_is_named(void **state)
{
    char err[256], target[128];
    snprintf(target, sizeof(target), "%s/target", dir);
    assert_int_equal(symlink(target, path), 0);
    assert_null(mux_at(path, err, sizeof(err)));
    if (!strstr(err, "symlink"))
        fail_msg("unclear error: %s", err);
}

static void socket_folder_writable_by_others_is_refused(void **state)
{
    char sub[128], p[160], err[256];
    snprintf(sub, sizeof(sub), "%s/open", dir);
    assert_int_equal(mkdir(sub, 0700), 0);
    assert_int_equal(chmod(sub, 0777), 0);
    snprintf(p, sizeof(p), "%s/v.sock", sub);
    assert_null(mux_at(p, err, sizeof(err)));
    if (!strstr(err, "sticky"))
        fail_msg("unclear error: %s", err);
    assert_int_equal(chmod(sub, 01777), 0); /* like /tmp: fine */
    struct vsock_muxer *m = mux_at(p, err, sizeof(err));
    assert_non_null(m);
    mux_free(m);
}

static void ok_handler(void *opaque, struct api_request *req, struct api_response *resp)
{
    resp->status = 204;
}

/* In a child whose chmod/fchmodat fail with EPERM: both sockets must still be created, born
 * 0600 under a permissive umask. A chmod by path could follow a symlink swapped in by another
 * user (the socket's folder being theirs to write). */
static void sockets_are_born_0600_without_chmod(void **state)
{
    /* valgrind does not emulate seccomp(2) and counts the attempt as an error. */
    if (test_under_valgrind())
        skip();
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        umask(0);
        scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
        if (!ctx || seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(chmod), 0) < 0 ||
            seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(fchmodat), 0) < 0 ||
            seccomp_load(ctx) < 0)
            _exit(77);
        char err[256], api[160];
        struct vsock_muxer *m = mux_at(path, err, sizeof(err));
        if (!m) {
            fprintf(stderr, "vsock: %s\n", err);
            _exit(1);
        }
        snprintf(api, sizeof(api), "%s/api.sock", dir);
        struct http_server *srv = NULL;
        if (http_server_listen(&loop, api, NULL, ok_handler, NULL, &srv, err, sizeof(err)) < 0) {
            fprintf(stderr, "api: %s\n", err);
            _exit(2);
        }
        struct stat a, b;
        if (stat(path, &a) < 0 || stat(api, &b) < 0 || (a.st_mode & 07777) != 0600 ||
            (b.st_mode & 07777) != 0600)
            _exit(3);
        _exit(0);
    }
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    if (WEXITSTATUS(status) == 77)
        skip();
    assert_int_equal(WEXITSTATUS(status), 0);
}

/* A guest REQUEST to host port P makes the muxer dial "<socket>_P". */
static void guest_request(struct vsock_muxer *m, uint32_t port)
{
    struct vsock_hdr h = {.src_cid = 3,
                          .dst_cid = VSOCK_HOST_CID,
                          .src_port = 5000,
                          .dst_port = port,
                          .type = VSOCK_TYPE_STREAM,
                          .op = VSOCK_OP_REQUEST,
                          .buf_alloc = 65536};
    vsock_muxer_send(m, &h, NULL, NULL);
}

static bool has_pending_client(int lfd)
{
    int c = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
    if (c < 0)
        return false;
    close(c);
    return true;
}

static void guest_connect_dials_only_real_sockets(void **state)
{
    char err[256], other[128], planted[128], real[128];
    struct vsock_muxer *m = mux_at(path, err, sizeof(err));
    assert_non_null(m);
    /* Another VMM's API socket, and a symlink to it planted at "<socket>_1024". */
    snprintf(other, sizeof(other), "%s/other-api.sock", dir);
    int victim = listener_at(other);
    snprintf(planted, sizeof(planted), "%s_1024", path);
    assert_int_equal(symlink(other, planted), 0);
    guest_request(m, 1024);
    assert_false(has_pending_client(victim));
    assert_int_equal(vsock_muxer_conn_count(m), 0);
    assert_true(vsock_muxer_has_rx(m)); /* an RST for the guest */
    /* A real socket at "<socket>_1025" is dialled. */
    snprintf(real, sizeof(real), "%s_1025", path);
    int svc = listener_at(real);
    guest_request(m, 1025);
    assert_true(has_pending_client(svc));
    assert_int_equal(vsock_muxer_conn_count(m), 1);
    mux_free(m);
    close(victim);
    close(svc);
}

/* A 96-byte socket path (the limit) works, and so does the 107-byte "<path>_4294967295". */
static void longest_socket_path_works_for_every_port(void **state)
{
    char p[128], err[256], dialled[160];
    int n = snprintf(p, sizeof(p), "%s/", dir);
    while (n < 96)
        p[n++] = 'v';
    p[n] = '\0';
    assert_int_equal(strlen(p), 96);
    struct vsock_muxer *m = mux_at(p, err, sizeof(err));
    if (!m)
        fail_msg("96-byte path refused: %s", err);
    snprintf(dialled, sizeof(dialled), "%s_4294967295", p);
    assert_int_equal(strlen(dialled), 107);
    int svc = listener_at(dialled);
    guest_request(m, 4294967295u);
    assert_true(has_pending_client(svc));
    assert_true(can_connect(p));
    mux_free(m);
    close(svc);
    p[n++] = 'v';
    p[n] = '\0';
    assert_null(mux_at(p, err, sizeof(err)));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(failed_listen_keeps_fd0, setup, teardown),
        cmocka_unit_test_setup_teardown(live_socket_is_not_replaced, setup, teardown),
        cmocka_unit_test_setup_teardown(symlink_at_socket_path_is_named, setup, teardown),
        cmocka_unit_test_setup_teardown(socket_folder_writable_by_others_is_refused, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(sockets_are_born_0600_without_chmod, setup, teardown),
        cmocka_unit_test_setup_teardown(guest_connect_dials_only_real_sockets, setup, teardown),
        cmocka_unit_test_setup_teardown(longest_socket_path_works_for_every_port, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
