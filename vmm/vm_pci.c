/* vm_pci.c: attaches a VM's PCI segment (host bridge, MSI routing) and tears it down. */
#include "vmm/vm_pci.h"

#include <stdio.h>
#include <stdlib.h>

#include "devices/ioapic.h"
#include "devices/pci.h"
#include "devices/q35.h"
#include "tee/tee.h"
#include "vmm/base/log.h"
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
    bool split = tee_owns_irqchip(vm->tee);
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
    /* The chipset firmware recognises: Q35 MCH + ICH9 LPC with the PM timer (devices/q35.c). */
    struct q35 *q = q35_new(vm->pci, vm->pio, vm->mmio, err, errlen);
    if (!q || vm_add_device(vm, "q35", q35_free, q) < 0) {
        if (q)
            snprintf(err, errlen, "too many devices");
        return -1;
    }
    vm->q35 = q;
    return 0;
}
