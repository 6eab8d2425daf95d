/* vm_pci.c: attaches the PCI segment and the virtio-vsock device to a VM, and tears them down. */
#include "vmm/vm_pci.h"

#include <stdio.h>
#include <stdlib.h>

#include "devices/pci.h"
#include "devices/q35.h"
#include "devices/virtio_pci.h"
#include "devices/vsock.h"
#include "vmm/log.h"
#include "vmm/msi.h"
#include "vmm/vm_internal.h"

static void vm_pci_destroy(void *opaque)
{
    struct vm *vm = opaque;
    pci_root_free(vm->pci);
    vm->pci = NULL;
    vmm_msi_free(vm->msi);
    vm->msi = NULL;
}

int vm_attach_pci(struct vm *vm, char *err, size_t errlen)
{
    /* KVM's default irqchip routes (GSIs 0-23) stay in the table next to the MSI routes. */
    vm->msi = vmm_msi_new(&vm->kvm, vm->vm_fd, true, err, errlen);
    if (!vm->msi)
        return -1;
    struct pci_irq irq = vmm_msi_irq(vm->msi);
    vm->pci = pci_root_new(vm->pio, vm->mmio, &irq);
    if (!vm->pci || vm_add_device(vm, "pci", vm_pci_destroy, vm) < 0) {
        snprintf(err, errlen, "cannot create the PCI host bridge");
        pci_root_free(vm->pci);
        vm->pci = NULL;
        vmm_msi_free(vm->msi);
        vm->msi = NULL;
        return -1;
    }
    /* The chipset firmware recognises: Q35 MCH + ICH9 LPC with the PM timer (devices/q35.c). */
    struct q35 *q = q35_new(vm->pci, vm->pio, vm->mmio, err, errlen);
    if (!q || vm_add_device(vm, "q35", q35_free, q) < 0) {
        if (q)
            snprintf(err, errlen, "too many devices");
        return -1;
    }
    return 0;
}

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
