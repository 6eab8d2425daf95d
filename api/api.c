/* api.c: wires the HTTP server, the router (and its VM owner) and the real machine; runs the loop.
 */
#include "api/api.h"

#include <stdio.h>

#include "api/http_server.h"
#include "api/router.h"
#include "vmm/base/log.h"
#include "vmm/vm_machine.h"

struct api_main {
    uv_loop_t *loop;
    vm_exit_cb on_guest_exit;
    void *opaque;
    bool done;
};

/* Asks the loop to return; the VM and the socket are torn down after uv_run, outside any
 * callback of theirs. */
static void api_finish(struct api_main *m)
{
    m->done = true;
    uv_stop(m->loop);
}

static void on_vmm_shutdown(void *opaque)
{
    log_info("api: vmm.shutdown");
    api_finish(opaque);
}

static void on_guest_exit(void *opaque, enum vm_exit_reason reason, int status)
{
    struct api_main *m = opaque;
    if (m->on_guest_exit)
        m->on_guest_exit(m->opaque, reason, status);
    api_finish(m);
}

int api_run(uv_loop_t *loop, const char *socket_path, int socket_fd, struct vm_config *cfg,
            vm_exit_cb guest_exit_cb, void *opaque)
{
    struct api_main m = {.loop = loop, .on_guest_exit = guest_exit_cb, .opaque = opaque};
    char err[256] = "";
    struct vm_machine *machine = vm_machine_new(loop);
    const struct api_router_hooks hooks = {.vmm_shutdown = on_vmm_shutdown,
                                           .guest_exit = on_guest_exit,
                                           .opaque = &m,
                                           .api_socket_path = socket_path};
    struct api_router *router = machine ? api_router_new(&vm_machine_ops, machine, &hooks) : NULL;
    if (!router) {
        fprintf(stderr, "cocoon: out of memory\n");
        vm_machine_free(machine);
        return -1;
    }
    vm_machine_bind(machine, api_router_owner(router));
    struct http_limits lim;
    http_limits_default(&lim);
    struct http_server *srv = NULL;
    int rc = socket_path ? http_server_listen(loop, socket_path, &lim, api_router_handle, router,
                                              &srv, err, sizeof(err))
                         : http_server_listen_fd(loop, socket_fd, &lim, api_router_handle, router,
                                                 &srv, err, sizeof(err));
    if (rc == 0) {
        log_info("api: serving on %s", socket_path ? socket_path : "an inherited socket");
        if (cfg)
            rc = api_router_create_and_boot(router, cfg, err, sizeof(err));
    }
    if (rc == 0)
        uv_run(loop, UV_RUN_DEFAULT);
    else
        fprintf(stderr, "cocoon: %s\n", err);
    api_router_teardown(router);
    http_server_close(srv);
    uv_run(loop, UV_RUN_NOWAIT); /* let the closing handles finish */
    api_router_free(router);
    vm_machine_free(machine);
    return rc;
}
