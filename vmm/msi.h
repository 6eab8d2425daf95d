/* msi.h: the KVM side of guest interrupts: GSI routing + irqfd for MSIs, legacy GSI lines
 * (in-kernel IOAPIC, or the userspace IOAPIC of a split irqchip), and ioeventfd doorbells. */
#ifndef COCOON_MSI_H
#define COCOON_MSI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "devices/pci.h"
#include "vmm/base/kvm_sys.h"

struct vmm_msi;
struct ioapic;

/* Which interrupt controller KVM emulates. */
enum vmm_irqchip {
    VMM_IRQCHIP_KERNEL, /* KVM_CREATE_IRQCHIP: PIC + IOAPIC in the kernel */
    VMM_IRQCHIP_SPLIT,  /* KVM_CAP_SPLIT_IRQCHIP (TDX): only LAPICs; the IOAPIC is ours */
};

/* Takes over the VM's GSI routing table and installs it at once (a table KVM refuses fails here,
 * with KVM's reason in err): with the in-kernel irqchip the default irqchip routes of GSIs 0-23;
 * with a split irqchip no irqchip route at all (kvm_set_routing_entry refuses them) but a
 * userspace IOAPIC whose pins are MSI routes on GSIs 0-23. MSI routes are handed out from GSI 24.
 * Returns NULL with a reason in err. */
struct vmm_msi *vmm_msi_new(const struct kvm_handle *kvm, int vm_fd, enum vmm_irqchip chip,
                            char *err, size_t errlen);

/* Raises (level true) or lowers legacy line `gsi` (0-23): KVM_IRQ_LINE into the in-kernel
 * PIC/IOAPIC, or, with a split irqchip, the userspace IOAPIC's pin, delivered as its MSI. Any
 * thread. Returns 0, or -1 (bad GSI, KVM refused). */
int vmm_msi_set_gsi(struct vmm_msi *m, unsigned gsi, bool level);

/* KVM_EXIT_IOAPIC_EOI (split irqchip only): the guest EOI'd a level-triggered vector. */
void vmm_msi_ioapic_eoi(struct vmm_msi *m, uint8_t vector);

/* The userspace IOAPIC to put on the MMIO bus at IOAPIC_BASE (ioapic_mmio), or NULL with the
 * in-kernel irqchip. */
struct ioapic *vmm_msi_ioapic(struct vmm_msi *m);

/* Deassigns every irqfd/ioeventfd still registered and frees. NULL is fine. */
void vmm_msi_free(struct vmm_msi *m);

/* The pci_irq interface devices/pci.c uses. */
struct pci_irq vmm_msi_irq(struct vmm_msi *m);

#endif
