/* router.h: Cloud Hypervisor API routes over the VM's owner (vmm/vm_owner.h). */
#ifndef COCOON_API_ROUTER_H
#define COCOON_API_ROUTER_H

#include <stddef.h>

#include "api/http_server.h"
#include "vmm/base/config.h"
#include "vmm/vm.h"
#include "vmm/vm_owner.h"

/* Called by the router (on the loop thread) when the process should end. */
struct api_router_hooks {
    /* vmm.shutdown was answered: tear down and exit. */
    void (*vmm_shutdown)(void *opaque);
    /* The guest stopped by itself (power-off, reset, error): Cloud Hypervisor then exits. */
    void (*guest_exit)(void *opaque, enum vm_exit_reason reason, int status);
    void *opaque;
    /* The control socket's path (NULL if unknown): a vsock socket there is refused (400). */
    const char *api_socket_path;
};

struct api_router;

/* A router with no VM: it makes the VM's owner (vmm/vm_owner.h) over the machine ops/machine
 * and calls hooks (copied; may be NULL). NULL when out of memory. */
struct api_router *api_router_new(const struct vm_machine_ops *ops, void *machine,
                                  const struct api_router_hooks *hooks);

/* Shuts down and destroys any VM, then frees the router. NULL is fine. */
void api_router_free(struct api_router *r);

/* The HTTP handler (an api_handler_fn): routes one request and fills resp. */
void api_router_handle(void *router, struct api_request *req, struct api_response *resp);

/* A VM given on the command line: takes *cfg (left empty), then creates and boots it as
 * vm.create + vm.boot would. Returns 0 or -1 + err. */
int api_router_create_and_boot(struct api_router *r, struct vm_config *cfg, char *err,
                               size_t errlen);

/* Stops and destroys the VM (if any) without answering anything; used before exiting. */
void api_router_teardown(struct api_router *r);

/* The owner of the VM's configuration and state, which the routes ask (the machine reports the
 * guest's stops to it). */
struct vm_owner *api_router_owner(const struct api_router *r);

#endif
