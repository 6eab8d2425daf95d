/* vm_pci.c: attaches the PCI segment and the virtio-vsock device to a VM, and tears them down. */
#include "vmm/vm_pci.h"

#include <stdio.h>
#include <stdlib.h>

#include "devices/ioapic.h"
#include "devices/pci.h"
#include "devices/virtio_pci.h"
#include "tee/tee.h"
#include "devices/vsock.h"
#include "vmm/log.h"
#include "vmm/msi.h"
#include "vmm/vm_internal.h"

static void vm_pci_destroy(void *opaque)
{
    struct vm *vm = opaque;
    pci_root_free(vm->pci);
    vm->pci = NULL;
    if (vmm_msi_ioapic(vm->msi))
        bus_unregister(vm->mmio, IOAPIC_BASE);
    vmm_msi_free(vm->msi);
    vm->msi = NULL;
}

int vm_attach_pci(struct vm *vm, char *err, size_t errlen)
{
    /* In-kernel irqchip: its default routes (GSIs 0-23) stay next to the MSI routes. Split
     * irqchip (TDX): no irqchip routes; our IOAPIC answers at IOAPIC_BASE and its pins are MSIs. */
    bool split = vm->tee && tee_owns_irqchip(vm->tee);
    vm->msi = vmm_msi_new(&vm->kvm, vm->vm_fd, split ? VMM_IRQCHIP_SPLIT : VMM_IRQCHIP_KERNEL, err,
                          errlen);
    if (!vm->msi)
        return -1;
    struct ioapic *io = vmm_msi_ioapic(vm->msi);
    if (io && bus_register(vm->mmio, IOAPIC_BASE, IOAPIC_MMIO_LEN, ioapic_mmio, io) < 0) {
        snprintf(err, errlen, "cannot claim the IOAPIC window at 0x%llx",
                 (unsigned long long)IOAPIC_BASE);
        vmm_msi_free(vm->msi);
        vm->msi = NULL;
        return -1;
    }
    struct pci_irq irq = vmm_msi_irq(vm->msi);
    vm->pci = pci_root_new(vm->pio, vm->mmio, &irq);
    if (!vm->pci || vm_add_device(vm, "pci", vm_pci_destroy, vm) < 0) {
        snprintf(err, errlen, "cannot create the PCI host bridge");
        pci_root_free(vm->pci);
        vm->pci = NULL;
        if (io)
            bus_unregister(vm->mmio, IOAPIC_BASE);
        vmm_msi_free(vm->msi);
        vm->msi = NULL;
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
