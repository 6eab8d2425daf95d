/* acpi_hotplug.h: the GED selector and the PCI / CPU hot-plug registers the DSDT's AML drives. */
#ifndef COCOON_ACPI_HOTPLUG_H
#define COCOON_ACPI_HOTPLUG_H

#include <stdbool.h>
#include <stdint.h>

/* Registered on the port bus at ACPI_PORT_GED for ACPI_HP_PORTS ports; register layout and bit
 * meanings are in firmware/acpi.h. */
#define ACPI_HP_PORTS 0x1C /* base+0x04 .. base+0x1F */

/* What the device asks of the VMM. Every callback runs with no device lock held; raise_gsi may
 * come from any thread, the eject callbacks on the vCPU thread whose write released the device. */
struct acpi_hp_ops {
    /* Pulses the edge-triggered GSI of the GED (a generic raise-GSI: KVM_IRQ_LINE 1/0, or the
     * userspace IOAPIC under a split irqchip). */
    void (*raise_gsi)(void *ctx, uint32_t gsi);
    /* The guest released slot's function through _EJ0 after cocoon asked: free slot and backend. */
    void (*pci_eject)(void *ctx, unsigned slot);
    /* The guest offlined and ejected vCPU `index` after cocoon asked: park it. */
    void (*cpu_eject)(void *ctx, uint32_t index);
};

struct acpi_hp;

/* vCPUs 0..boot_vcpus-1 start enabled (max_vcpus <= ACPI_MAX_VCPUS); bit n of boot_slots marks
 * a function present in slot n at boot. Returns NULL on bad arguments or allocation failure. */
struct acpi_hp *acpi_hp_new(uint32_t gsi, uint32_t boot_vcpus, uint32_t max_vcpus,
                            uint32_t boot_slots, const struct acpi_hp_ops *ops, void *ctx);
void acpi_hp_free(void *hp);

/* Bus handler (opaque = struct acpi_hp): guest input, every access checked; bad ones are logged
 * (rate-limited) and ignored, reads of them return 0. */
void acpi_hp_io(void *hp, uint64_t offset, void *data, uint32_t len, bool is_write);

/* VMM side. Each returns 0, or -1 for an argument out of range or a state that does not allow it
 * (e.g. removing a slot that is already being removed). */
/* The function in `slot` (1..31) is live: the guest gets a Device Check for it. */
int acpi_hp_pci_plugged(struct acpi_hp *hp, unsigned slot);
/* Asks the guest to release `slot`; pci_eject follows once its _EJ0 ran. */
int acpi_hp_pci_unplug_request(struct acpi_hp *hp, unsigned slot);
/* vCPU `index` is created and waits for INIT/SIPI: the guest gets a Device Check for it. */
int acpi_hp_cpu_plugged(struct acpi_hp *hp, uint32_t index);
/* Asks the guest to offline and eject vCPU `index` (never 0); cpu_eject follows. */
int acpi_hp_cpu_unplug_request(struct acpi_hp *hp, uint32_t index);
/* True while vCPU index is enabled (present to the guest). */
bool acpi_hp_cpu_enabled(struct acpi_hp *hp, uint32_t index);
/* Sends the guest a power-button press (Notify(\_SB.PWRB, 0x80)). */
void acpi_hp_power_button(struct acpi_hp *hp);

#endif
