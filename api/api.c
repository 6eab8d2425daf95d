/* api.c: wires the HTTP server, the router and the real VM backend together and runs the loop. */
#include "api/api.h"

#include <signal.h>
#include <stdio.h>

#include "api/backend_vm.h"
#include "api/http_server.h"
#include "api/router.h"
#include "vmm/log.h"

struct api_main {
    uv_loop_t *loop;
    struct http_server *srv;
    struct api_router *router;
    uv_signal_t sigterm, sigint;
    int status;
    bool done;
};

/* Asks the loop to return; the VM and the socket are torn down after uv_run, outside any
 * callback of theirs. */
static void api_finish(struct api_main *m, int status)
{
    if (m->done)
        return;
    m->done = true;
    m->status = status;
    uv_stop(m->loop);
}

static void on_vmm_shutdown(void *opaque)
{
    log_info("api: vmm.shutdown");
    api_finish(opaque, 0);
}

static void on_guest_exit(void *opaque, enum vm_exit_reason reason, int status)
{
    int code = reason == VM_EXIT_POWEROFF ? status : reason == VM_EXIT_ERROR ? 1 : 0;
    log_info("api: guest stopped; exiting with status %d", code);
    api_finish(opaque, code);
}

static void on_signal(uv_signal_t *h, int signum)
{
    log_info("api: signal %d: shutting down", signum);
    api_finish(h->data, 0);
}

int api_run(uv_loop_t *loop, const char *socket_path, struct vm_config *cfg)
{
    struct api_main m = {.loop = loop};
    char err[256] = "";
    struct api_vm_backend *backend = api_vm_backend_new(loop);
    const struct api_router_hooks hooks = {
        .vmm_shutdown = on_vmm_shutdown, .guest_exit = on_guest_exit, .opaque = &m};
    m.router = backend ? api_router_new(&api_vm_backend_ops, backend, &hooks) : NULL;
    if (!m.router) {
        fprintf(stderr, "cocoon: out of memory\n");
        api_vm_backend_free(backend);
        return 1;
    }
    api_vm_backend_bind(backend, m.router);
    struct http_limits lim;
    http_limits_default(&lim);
    if (http_server_listen(loop, socket_path, &lim, api_router_handle, m.router, &m.srv, err,
                           sizeof(err)) < 0) {
        fprintf(stderr, "cocoon: %s\n", err);
        api_router_free(m.router);
        api_vm_backend_free(backend);
        return 1;
    }
    log_info("api: serving on %s", socket_path);
    uv_signal_init(loop, &m.sigterm);
    uv_signal_init(loop, &m.sigint);
    m.sigterm.data = m.sigint.data = &m;
    uv_signal_start(&m.sigterm, on_signal, SIGTERM);
    uv_signal_start(&m.sigint, on_signal, SIGINT);

    if (cfg && api_router_create_and_boot(m.router, cfg, err, sizeof(err)) < 0) {
        fprintf(stderr, "cocoon: %s\n", err);
        api_finish(&m, 1);
    }
    if (!m.done)
        uv_run(loop, UV_RUN_DEFAULT);
    api_router_teardown(m.router);
    http_server_close(m.srv);
    uv_close((uv_handle_t *)&m.sigterm, NULL);
    uv_close((uv_handle_t *)&m.sigint, NULL);
    uv_run(loop, UV_RUN_NOWAIT); /* let the closing handles finish */
    api_router_free(m.router);
    api_vm_backend_free(backend);
    return m.status;
}
