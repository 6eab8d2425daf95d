/* msi.h: the KVM side of PCI interrupts and doorbells: GSI routing + irqfd, and ioeventfd. */
#ifndef COCOON_MSI_H
#define COCOON_MSI_H

#include <stddef.h>

#include "devices/pci.h"
#include "vmm/kvm_sys.h"

struct vmm_msi;

/* Takes over the VM's GSI routing table: keeps the default irqchip routes for GSIs 0-23 (when
 * with_irqchip_routes) and hands out MSI routes from GSI 24. Returns NULL with a reason in err. */
struct vmm_msi *vmm_msi_new(const struct kvm_handle *kvm, int vm_fd, bool with_irqchip_routes,
                            char *err, size_t errlen);

/* Deassigns every irqfd/ioeventfd still registered and frees. NULL is fine. */
void vmm_msi_free(struct vmm_msi *m);

/* The pci_irq interface devices/pci.c uses. */
struct pci_irq vmm_msi_irq(struct vmm_msi *m);

#endif
