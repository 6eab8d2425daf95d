/* ioapic.h: a userspace 82093AA I/O APIC for split-irqchip guests (TDX): 24 pins whose
 * redirection entries become MSI messages, as QEMU's hw/intc/ioapic.c with a KVM split irqchip. */
#ifndef COCOON_IOAPIC_H
#define COCOON_IOAPIC_H

#include <stdbool.h>
#include <stdint.h>

#define IOAPIC_BASE     0xFEC00000ULL
#define IOAPIC_MMIO_LEN 0x1000ULL
#define IOAPIC_PINS     24

/* Where the IOAPIC's output goes. Both are called with the IOAPIC's lock held and must not call
 * back into it.
 *   route: pin's redirection entry now says (addr, data) (valid false: masked, no route); the
 *          owner keeps GSI `pin` routed to that message so KVM knows which vectors need an EOI
 *          exit (kvm_scan_ioapic_routes looks at MSI routes of GSIs below the reserved pins).
 *   fire:  deliver pin's message now. */
struct ioapic_ops {
    void (*route)(void *opaque, unsigned pin, uint64_t addr, uint32_t data, bool valid);
    void (*fire)(void *opaque, unsigned pin, uint64_t addr, uint32_t data);
};

struct ioapic;

/* A reset IOAPIC (every pin masked), APIC ID 0. NULL when out of memory. */
struct ioapic *ioapic_new(const struct ioapic_ops *ops, void *opaque);
void ioapic_free(struct ioapic *io);

/* Drives input pin `pin` (level true = asserted). Edge pins deliver on assertion when unmasked;
 * level pins deliver while asserted and re-deliver after the guest's EOI. Any thread. Returns 0,
 * or -1 for a pin >= IOAPIC_PINS. */
int ioapic_set_irq(struct ioapic *io, unsigned pin, bool level);

/* The local APICs' EOI for `vector` (KVM_EXIT_IOAPIC_EOI): clears Remote IRR of the level pins
 * using it and re-delivers those still asserted. Any thread. */
void ioapic_eoi(struct ioapic *io, uint8_t vector);

/* bus_handler_fn for the MMIO window [IOAPIC_BASE, +IOAPIC_MMIO_LEN): IOREGSEL at 0x00, IOWIN at
 * 0x10, the version-0x20 EOI register at 0x40; 32-bit accesses only (others read as all-ones and
 * are ignored when written). */
void ioapic_mmio(void *io, uint64_t offset, void *data, uint32_t len, bool is_write);

/* Redirection entry of pin (tests, debugging); 0 for a bad pin. */
uint64_t ioapic_entry(struct ioapic *io, unsigned pin);

#endif
