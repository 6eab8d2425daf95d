/* vm.h: a VM's life: create from a validated config, boot, pause/resume, hot-plug, shut down. */
#ifndef COCOON_VM_H
#define COCOON_VM_H

#include <stddef.h>
#include <uv.h>

#include "vmm/base/config.h"

struct vm;

enum vm_state { VM_STATE_CREATED = 0, VM_STATE_RUNNING, VM_STATE_PAUSED, VM_STATE_SHUTDOWN };

/* How a guest run ended. The launch CLI maps these to its exit status (see README). */
enum vm_exit_reason {
    VM_EXIT_NONE = 0,
    VM_EXIT_POWEROFF, /* guest powered off (status from the debug-exit port, 0 by default) */
    VM_EXIT_RESET,    /* guest asked for a reset (i8042 0xFE, triple fault) */
    VM_EXIT_SIGNAL,   /* SIGTERM/SIGINT */
    VM_EXIT_ERROR,    /* unhandled exit or internal failure */
};

/* Called on the loop thread once the guest has stopped running. */
typedef void (*vm_exit_cb)(void *opaque, enum vm_exit_reason reason, int status);

/* Creates the KVM VM, memory, backend and devices from cfg (copied: the copy is what this instance
 * was built from; hot-plug does not edit it). Nothing runs yet. */
int vm_create(const struct vm_config *cfg, uv_loop_t *loop, vm_exit_cb on_exit, void *opaque,
              struct vm **out, char *err, size_t errlen);

/* Loads the payload (measured launch for a TEE) and starts the vCPU threads. */
int vm_boot(struct vm *vm, char *err, size_t errlen);

int vm_pause(struct vm *vm, char *err, size_t errlen);
int vm_resume(struct vm *vm, char *err, size_t errlen);

/* Ends the guest's run: records why (the first call wins), kicks every vCPU out of KVM_RUN and
 * wakes the loop thread, which joins the vCPUs and calls the vm_exit_cb. Any thread. */
void vm_request_exit(struct vm *vm, enum vm_exit_reason reason, int status);

/* Stops the vCPU threads and joins them; devices stay until vm_destroy. */
void vm_shutdown(struct vm *vm);

/* Tears everything down in reverse order of creation. NULL is fine. */
void vm_destroy(struct vm *vm);

/* Hot-plug into the running machine only: the VM's owner (vmm/vm_owner.h) checks ids and keeps the
 * live configuration. The new device's PCI address is written to bdf ("0000:00:DD.0"); a net's
 * tap fd is dup'ed, disk and net stay the caller's. vm_remove_device takes out the disk or net
 * with that id (-1 + err when there is none). */
int vm_add_disk(struct vm *vm, const struct disk_config *disk, char *bdf, size_t bdflen, char *err,
                size_t errlen);
int vm_add_net(struct vm *vm, const struct net_config *net, char *bdf, size_t bdflen, char *err,
               size_t errlen);
int vm_remove_device(struct vm *vm, const char *id, char *err, size_t errlen);

/* vm.resize's vCPU count for a running or paused plain VM with CPU hot-plug (vm_vcpus.c), as
 * Cloud Hypervisor's CpuManager::resize does it. Up: the next inactive vCPUs (made at vm_create,
 * or parked after an eject) become active, their threads enter KVM_RUN and wait for the guest's
 * INIT/SIPI, and the guest gets a Device Check through the GED (it onlines them itself). Down:
 * the highest active vCPUs are marked for removal and the guest gets an Eject Request; each
 * stops running only when the guest's _EJ0 ejected it, and is parked for reuse. Returns 0 at
 * once (the guest acts later), or one of vm_resize_error with one line in err. Loop thread. */
enum vm_resize_error {
    VM_RESIZE_NO_HOTPLUG = -1,   /* the VM was created without CPU hot-plug */
    VM_RESIZE_OUT_OF_RANGE = -2, /* desired outside 1..max_vcpus */
    VM_RESIZE_PENDING = -3,      /* a vCPU asked to leave has not been ejected by the guest yet */
    VM_RESIZE_NOT_RUNNING = -4,
    VM_RESIZE_FAILED = -5,
};
int vm_resize_vcpus(struct vm *vm, unsigned desired, char *err, size_t errlen);

/* Presses the ACPI power button (vm_acpi.c): the guest gets a power-button event and decides
 * (Linux's button driver reports it; its userspace powers off). Returns 0, or -1 with one line in
 * err when the VM has no ACPI from cocoon (TEE or firmware boot). */
int vm_power_button(struct vm *vm, char *err, size_t errlen);

#endif
