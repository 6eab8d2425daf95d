/* backend_vm.c: the router's real VM backend, mapping each call onto vmm/vm.h. */
#include "api/backend_vm.h"

#include <stdio.h>
#include <stdlib.h>

#include "vmm/base/log.h"
#include "vmm/seccomp.h"

struct api_vm_backend {
    uv_loop_t *loop;
    struct vm *vm;
    struct api_router *router;
};

static void on_guest_exit(void *opaque, enum vm_exit_reason reason, int status)
{
    struct api_vm_backend *b = opaque;
    if (b->router)
        api_router_guest_exited(b->router, reason, status);
}

static int be_boot(void *ctx, const struct vm_config *cfg, char *err, size_t errlen)
{
    struct api_vm_backend *b = ctx;
    if (b->vm) {
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
    if (vm_create(cfg, b->loop, on_guest_exit, b, &vm, err, errlen) < 0)
        return -1;
    if (vm_boot(vm, err, errlen) < 0) {
        vm_destroy(vm);
        return -1;
    }
    b->vm = vm;
    /* Set-up is over: confine the thread pool and this (loop) thread. */
    if (vmm_seccomp_lockdown(b->loop, err, errlen) < 0) {
        vm_destroy(vm);
        b->vm = NULL;
        return -1;
    }
    return 0;
}

static int be_pause(void *ctx, char *err, size_t errlen)
{
    struct api_vm_backend *b = ctx;
    return vm_pause(b->vm, err, errlen);
}

static int be_resume(void *ctx, char *err, size_t errlen)
{
    struct api_vm_backend *b = ctx;
    return vm_resume(b->vm, err, errlen);
}

static void be_shutdown(void *ctx)
{
    struct api_vm_backend *b = ctx;
    vm_shutdown(b->vm);
}

static void be_destroy(void *ctx)
{
    struct api_vm_backend *b = ctx;
    vm_destroy(b->vm);
    b->vm = NULL;
}

static int be_add_disk(void *ctx, const struct disk_config *disk, char *bdf, size_t bdflen,
                       char *err, size_t errlen)
{
    struct api_vm_backend *b = ctx;
    return vm_add_disk(b->vm, disk, bdf, bdflen, err, errlen);
}

static int be_add_net(void *ctx, const struct net_config *net, char *bdf, size_t bdflen, char *err,
                      size_t errlen)
{
    struct api_vm_backend *b = ctx;
    return vm_add_net(b->vm, net, bdf, bdflen, err, errlen);
}

static int be_remove_device(void *ctx, const char *id, char *err, size_t errlen)
{
    struct api_vm_backend *b = ctx;
    return vm_remove_device(b->vm, id, err, errlen);
}

static int be_power_button(void *ctx, char *err, size_t errlen)
{
    struct api_vm_backend *b = ctx;
    return vm_power_button(b->vm, err, errlen);
}

const struct api_backend_ops api_vm_backend_ops = {
    .boot = be_boot,
    .pause = be_pause,
    .resume = be_resume,
    .shutdown = be_shutdown,
    .destroy = be_destroy,
    .add_disk = be_add_disk,
    .add_net = be_add_net,
    .remove_device = be_remove_device,
    .power_button = be_power_button,
};

struct api_vm_backend *api_vm_backend_new(uv_loop_t *loop)
{
    struct api_vm_backend *b = calloc(1, sizeof(*b));
    if (b)
        b->loop = loop;
    return b;
}

void api_vm_backend_bind(struct api_vm_backend *b, struct api_router *router)
{
    b->router = router;
}

void api_vm_backend_free(struct api_vm_backend *b)
{
    if (!b)
        return;
    vm_destroy(b->vm);
    free(b);
}
