/* vm_machine.h: the owner's real machine: one struct vm at a time, driven through vmm/vm.h. */
#ifndef COCOON_VM_MACHINE_H
#define COCOON_VM_MACHINE_H

#include <uv.h>

#include "vmm/vm.h"
#include "vmm/vm_owner.h"

struct vm_machine;

extern const struct vm_machine_ops vm_machine_ops;

/* A machine with no VM yet; VMs it creates run on loop. NULL when out of memory. */
struct vm_machine *vm_machine_new(uv_loop_t *loop);

/* Tells the machine which owner to notify when the guest stops by itself. */
void vm_machine_bind(struct vm_machine *m, struct vm_owner *owner);

/* Asks a running guest to stop (vm_request_exit); false when no VM exists. Loop thread. */
bool vm_machine_request_exit(struct vm_machine *m, enum vm_exit_reason reason, int status);

/* Destroys any VM left and frees the machine. NULL is fine. */
void vm_machine_free(struct vm_machine *m);

#endif
