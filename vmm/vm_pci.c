/* vm_pci.c: attaches a VM's PCI segment (host bridge, MSI routing) and tears it down. */
#include "vmm/vm_pci.h"

#include <stdio.h>
#include <stdlib.h>

#include "devices/pci.h"
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
    return 0;
}
