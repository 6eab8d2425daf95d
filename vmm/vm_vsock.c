/* vm_vsock.c: attaches the virtio-vsock device (Kata's agent channel) to a VM and tears it down. */
#include <stdio.h>
#include <stdlib.h>

#include "devices/pci.h"
#include "devices/virtio_pci.h"
#include "devices/vsock.h"
#include "vmm/base/log.h"
#include "vmm/vm_devices.h"
#include "vmm/vm_internal.h"

struct vm_vsock {
    struct vsock_dev *dev;
    struct virtio_pci *vp;
};

static void vm_vsock_destroy(void *opaque)
{
    struct vm_vsock *v = opaque;
    virtio_pci_free(v->vp);
    vsock_free(v->dev);
    free(v);
}

int vm_attach_vsock(struct vm *vm, char *err, size_t errlen)
{
    const struct vsock_config *vc = &vm->cfg.vsock;
    if (!vc->enabled)
        return 0;
    struct vm_vsock *v = calloc(1, sizeof(*v));
    if (!v) {
        snprintf(err, errlen, "out of memory attaching vsock");
        return -1;
    }
    v->dev = vsock_new(vm->loop, &vm->mem, vc->cid, vc->socket, err, errlen);
    char bdf[16] = "";
    if (v->dev)
        v->vp =
            virtio_pci_new(vm->pci, vsock_virtio(v->dev), vm->loop, bdf, sizeof(bdf), err, errlen);
    if (!v->dev || !v->vp) {
        vm_vsock_destroy(v);
        return -1;
    }
    if (vm_add_device(vm, "vsock", vm_vsock_destroy, v) < 0) { /* it destroyed v */
        snprintf(err, errlen, "too many devices");
        return -1;
    }
    log_info("vsock: guest cid %llu at %s, socket %s", (unsigned long long)vc->cid, bdf,
             vc->socket);
    return 0;
}
