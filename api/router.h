/* router.h: Cloud Hypervisor API routes and the VM state machine, over a swappable VM backend. */
#ifndef COCOON_API_ROUTER_H
#define COCOON_API_ROUTER_H

#include <stddef.h>

#include "api/http_server.h"
#include "vmm/base/config.h"
#include "vmm/vm.h"

/* The router's view of the VM. NONE: no vm.create yet (or after vm.delete). */
enum api_vm_state {
    API_VM_NONE = 0,
    API_VM_CREATED,
    API_VM_RUNNING,
    API_VM_PAUSED,
    API_VM_SHUTDOWN
};

/* What the router asks of a VM. The real backend (backend_vm.c) maps these onto vmm/vm.h; unit
 * tests plug in a fake. All calls happen on the loop thread. cfg/disk/net are borrowed for the
 * call only; a backend that keeps a net fd dup()s it. Error paths fill err with one line. */
struct api_backend_ops {
    /* Creates the VM from a validated config and starts it. */
    int (*boot)(void *ctx, const struct vm_config *cfg, char *err, size_t errlen);
    int (*pause)(void *ctx, char *err, size_t errlen);
    int (*resume)(void *ctx, char *err, size_t errlen);
    /* Stops the guest (vCPUs joined); the VM stays until destroy. */
    void (*shutdown)(void *ctx);
    /* Releases the VM; a no-op when there is none. */
    void (*destroy)(void *ctx);
    /* Hot-plug into the running VM; bdf receives "0000:00:DD.0". */
    int (*add_disk)(void *ctx, const struct disk_config *disk, char *bdf, size_t bdflen, char *err,
                    size_t errlen);
    int (*add_net)(void *ctx, const struct net_config *net, char *bdf, size_t bdflen, char *err,
                   size_t errlen);
    int (*remove_device)(void *ctx, const char *id, char *err, size_t errlen);
    /* Presses the guest's ACPI power button (Cloud Hypervisor's vm.power-button). */
    int (*power_button)(void *ctx, char *err, size_t errlen);
};

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

/* A router with no VM, driving the backend ops/backend_ctx and calling hooks (copied; may be
 * NULL). NULL when out of memory. */
struct api_router *api_router_new(const struct api_backend_ops *ops, void *backend_ctx,
                                  const struct api_router_hooks *hooks);

/* Shuts down and destroys any VM, then frees the router. NULL is fine. */
void api_router_free(struct api_router *r);

/* The HTTP handler (an api_handler_fn): routes one request and fills resp. */
void api_router_handle(void *router, struct api_request *req, struct api_response *resp);

/* A VM given on the command line: takes ownership of *cfg (validated by the caller; *cfg is
 * left empty), then creates and boots it as vm.create + vm.boot would. Returns 0 or -1 + err. */
int api_router_create_and_boot(struct api_router *r, struct vm_config *cfg, char *err,
                               size_t errlen);

/* The backend reports that the guest stopped on its own. */
void api_router_guest_exited(struct api_router *r, enum vm_exit_reason reason, int status);

/* Stops and destroys the VM (if any) without answering anything; used before exiting. */
void api_router_teardown(struct api_router *r);

/* The VM's state as the routes see it. */
enum api_vm_state api_router_state(const struct api_router *r);

/* The stored configuration (NULL before vm.create). */
const struct vm_config *api_router_config(const struct api_router *r);

/* "Created", "Running", "Paused", "Shutdown" (and "NotCreated" for NONE). */
const char *api_vm_state_name(enum api_vm_state s);

#endif
