/* vm_machine.c: the owner's real machine, mapping each call onto vmm/vm.h. */
#include "vmm/vm_machine.h"

#include <stdio.h>
#include <stdlib.h>

#include "vmm/base/log.h"
#include "vmm/seccomp.h"

struct vm_machine {
    uv_loop_t *loop;
    struct vm *vm;
    struct vm_owner *owner;
};

static void on_guest_exit(void *opaque, enum vm_exit_reason reason, int status)
{
    struct vm_machine *m = opaque;
    if (m->owner)
        vm_owner_guest_stopped(m->owner, reason, status);
}

static int machine_boot(void *ctx, const struct vm_config *cfg, char *err, size_t errlen)
{
    struct vm_machine *m = ctx;
    if (m->vm) {
        snprintf(err, errlen, "a VM instance already exists");
        return -1;
    }
    if (vmm_seccomp_locked()) { /* vmm/seccomp.h: the loop filter allows no new VM */
        snprintf(err, errlen,
                 "seccomp is on and a VM already ran in this process: start a new "
                 "cocoon (or use --seccomp false)");
        return -1;
    }
    struct vm *vm = NULL;
    if (vm_create(cfg, m->loop, on_guest_exit, m, &vm, err, errlen) < 0)
        return -1;
    if (vm_boot(vm, err, errlen) < 0) {
        vm_destroy(vm);
        return -1;
    }
    m->vm = vm;
    /* Set-up is over: confine the thread pool and this (loop) thread. */
    if (vmm_seccomp_lockdown(m->loop, err, errlen) < 0) {
        vm_destroy(vm);
        m->vm = NULL;
        return -1;
    }
    return 0;
}

static int machine_pause(void *ctx, char *err, size_t errlen)
{
    struct vm_machine *m = ctx;
    return vm_pause(m->vm, err, errlen);
}

static int machine_resume(void *ctx, char *err, size_t errlen)
{
    struct vm_machine *m = ctx;
    return vm_resume(m->vm, err, errlen);
}

static void machine_shutdown(void *ctx)
{
    struct vm_machine *m = ctx;
    vm_shutdown(m->vm);
}

static void machine_destroy(void *ctx)
{
    struct vm_machine *m = ctx;
    vm_destroy(m->vm);
    m->vm = NULL;
}

static int machine_add_disk(void *ctx, const struct disk_config *disk, char *bdf, size_t bdflen,
                            char *err, size_t errlen)
{
    struct vm_machine *m = ctx;
    return vm_add_disk(m->vm, disk, bdf, bdflen, err, errlen);
}

static int machine_add_net(void *ctx, const struct net_config *net, char *bdf, size_t bdflen,
                           char *err, size_t errlen)
{
    struct vm_machine *m = ctx;
    return vm_add_net(m->vm, net, bdf, bdflen, err, errlen);
}

static int machine_remove_device(void *ctx, const char *id, char *err, size_t errlen)
{
    struct vm_machine *m = ctx;
    return vm_remove_device(m->vm, id, err, errlen);
}

static int machine_power_button(void *ctx, char *err, size_t errlen)
{
    struct vm_machine *m = ctx;
    return vm_power_button(m->vm, err, errlen);
}

static int machine_resize_vcpus(void *ctx, unsigned desired, char *err, size_t errlen)
{
    struct vm_machine *m = ctx;
    switch (vm_resize_vcpus(m->vm, desired, err, errlen)) {
    case 0:
        return 0;
    case VM_RESIZE_NO_HOTPLUG:
    case VM_RESIZE_NOT_RUNNING:
        return VM_OWNER_E_STATE;
    case VM_RESIZE_OUT_OF_RANGE:
        return VM_OWNER_E_INVALID;
    case VM_RESIZE_PENDING:
        return VM_OWNER_E_BUSY;
    default:
        return VM_OWNER_E_FAILED;
    }
}

const struct vm_machine_ops vm_machine_ops = {
    .boot = machine_boot,
    .pause = machine_pause,
    .resume = machine_resume,
    .shutdown = machine_shutdown,
    .destroy = machine_destroy,
    .add_disk = machine_add_disk,
    .add_net = machine_add_net,
    .remove_device = machine_remove_device,
    .power_button = machine_power_button,
    .resize_vcpus = machine_resize_vcpus,
};

struct vm_machine *vm_machine_new(uv_loop_t *loop)
{
    struct vm_machine *m = calloc(1, sizeof(*m));
    if (m)
        m->loop = loop;
    return m;
}

void vm_machine_bind(struct vm_machine *m, struct vm_owner *owner)
{
    m->owner = owner;
}

bool vm_machine_request_exit(struct vm_machine *m, enum vm_exit_reason reason, int status)
{
    if (!m->vm)
        return false;
    vm_request_exit(m->vm, reason, status);
    return true;
}

void vm_machine_free(struct vm_machine *m)
{
    if (!m)
        return;
    vm_destroy(m->vm);
    free(m);
}
