/* http_request.c: libFuzzer target: raw bytes from an API client through the HTTP server on a real
 * Unix socket, into the Cloud Hypervisor router (and its vm.create JSON) over a fake VM backend. */
#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "api/http_server.h"
#include "api/router.h"
#include "vmm/base/log.h"

static uv_loop_t loop;
static struct http_server *srv;
static struct api_router *router;
static char path[108];
static int devnull = -1;

/* ---- a VM backend that always succeeds (the router's state machine is what is fuzzed) ---- */
static int fb_boot(void *ctx, const struct vm_config *cfg, char *err, size_t errlen)
{
    return 0;
}
static int fb_op(void *ctx, char *err, size_t errlen)
{
    return 0;
}
static void fb_void(void *ctx) {}
static int fb_disk(void *ctx, const struct disk_config *d, char *bdf, size_t bdflen, char *err,
                   size_t errlen)
{
    snprintf(bdf, bdflen, "0000:00:05.0");
    return 0;
}
static int fb_net(void *ctx, const struct net_config *n, char *bdf, size_t bdflen, char *err,
                  size_t errlen)
{
    snprintf(bdf, bdflen, "0000:00:06.0");
    return 0;
}
static int fb_remove(void *ctx, const char *id, char *err, size_t errlen)
{
    return 0;
}
static int fb_button(void *ctx, char *err, size_t errlen)
{
    return 0;
}
static const struct vm_machine_ops fake_ops = {
    .boot = fb_boot,
    .pause = fb_op,
    .resume = fb_op,
    .shutdown = fb_void,
    .destroy = fb_void,
    .add_disk = fb_disk,
    .add_net = fb_net,
    .remove_device = fb_remove,
    .power_button = fb_button,
};
static void hook_shutdown(void *opaque) {}
static void hook_exit(void *opaque, enum vm_exit_reason reason, int status) {}

/* The server keeps one handler for its life; each input gets a fresh router behind it. */
static void handle(void *opaque, struct api_request *req, struct api_response *resp)
{
    if (router)
        api_router_handle(router, req, resp);
    else
        resp->status = 503;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    log_set_level(LOG_LVL_ERROR);
    snprintf(path, sizeof(path), "/tmp/cocoon-fuzz-api-%d.sock", (int)getpid());
    struct http_limits lim;
    http_limits_default(&lim);
    lim.max_body = 2048; /* small limits so fuzz inputs reach the 413/431 paths */
    lim.max_header_bytes = 1024;
    lim.max_headers = 16;
    char err[256];
    devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (devnull < 0 || uv_loop_init(&loop) != 0 ||
        http_server_listen(&loop, path, &lim, handle, NULL, &srv, err, sizeof(err)) != 0) {
        fprintf(stderr, "http_request: %s\n", err);
        abort();
    }
    return 0;
}

/* Sends the request bytes, with one fd attached to the first message when asked to. */
static void client_send(int fd, const uint8_t *data, size_t size, bool with_fd)
{
    union {
        char buf[CMSG_SPACE(sizeof(int))];
        struct cmsghdr align;
    } cbuf;
    struct iovec iov = {.iov_base = (void *)data, .iov_len = size};
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};
    if (with_fd) {
        msg.msg_control = cbuf.buf;
        msg.msg_controllen = sizeof(cbuf.buf);
        struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);
        cm->cmsg_level = SOL_SOCKET;
        cm->cmsg_type = SCM_RIGHTS;
        cm->cmsg_len = CMSG_LEN(sizeof(int));
        memcpy(CMSG_DATA(cm), &devnull, sizeof(int));
    }
    (void)sendmsg(fd, &msg, MSG_NOSIGNAL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > 16384)
        return 0;
    const struct api_router_hooks hooks = {.vmm_shutdown = hook_shutdown, .guest_exit = hook_exit};
    router = api_router_new(&fake_ops, NULL, &hooks);
    if (!router)
        return 0;
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
    int one = 1 << 20;
    (void)setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &one, sizeof(one));
    if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
        client_send(fd, data + 1, size - 1, data[0] & 1);
        if (!(data[0] & 2))
            shutdown(fd, SHUT_WR); /* else: the connection stays open with a partial request */
        /* Serve until the server hangs up on us (or a bounded number of loop turns). */
        static char buf[65536];
        for (int turn = 0; turn < 64; turn++) {
            uv_run(&loop, UV_RUN_NOWAIT);
            ssize_t n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
            if (n == 0)
                break;
        }
    }
    if (fd >= 0)
        close(fd);
    uv_run(&loop, UV_RUN_NOWAIT); /* the server sees our close */
    uv_run(&loop, UV_RUN_NOWAIT);
    api_router_free(router);
    router = NULL;
    return 0;
}
