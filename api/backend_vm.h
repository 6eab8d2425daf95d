/* backend_vm.h: the real router backend: one struct vm driven through vmm/vm.h. */
#ifndef COCOON_API_BACKEND_VM_H
#define COCOON_API_BACKEND_VM_H

#include <uv.h>

#include "api/router.h"

struct api_vm_backend;

extern const struct api_backend_ops api_vm_backend_ops;

/* A backend with no VM yet; VMs it creates run on loop. */
struct api_vm_backend *api_vm_backend_new(uv_loop_t *loop);

/* Tells the backend which router to notify when the guest stops by itself. */
void api_vm_backend_bind(struct api_vm_backend *b, struct api_router *router);

/* Destroys any VM left and frees the backend. NULL is fine. */
void api_vm_backend_free(struct api_vm_backend *b);

#endif
