/* vm_acpi.h: a plain VM's ACPI: tables in guest RAM (direct boot) or through fw_cfg (--firmware),
 * RSDP hand-over, ACPI registers. */
#ifndef COCOON_VM_ACPI_H
#define COCOON_VM_ACPI_H

#include <stddef.h>
#include <stdint.h>

struct vm;
struct vm_acpi;

/* Guest-physical placement: the tables right after the MP table's worst case (vmm/mptable.c
 * writes at LAYOUT_EBDA), below the RSDP copy that the legacy scan of 0xE0000-0xFFFFF finds.
 * All of it lies in the e820-reserved legacy area; the tables' range is typed ACPI. */
#define VM_ACPI_TABLES     0xA2000ULL
#define VM_ACPI_TABLES_END 0xE0000ULL
#define VM_ACPI_RSDP_COPY  0xE0000ULL
#define VM_ACPI_GED_GSI    9 /* ISA IRQ 9: free in cocoon, edge / active high like ISA */

/* What a VM does when the guest released a hot-plugged function or vCPU (set by the VM's
 * hot-plug code; NULL = only logged). The guest's ejecting write (a vCPU thread, inside a trap
 * dispatch) only records it; these run later on the loop thread, where a device may be torn down.
 */
struct vm_acpi_eject_ops {
    void (*pci_released)(struct vm *vm, unsigned slot);
    void (*cpu_released)(struct vm *vm, unsigned index);
};

/* Builds the tables for vm (vCPUs, max vCPUs, RAM, the PCI slots in use now) and claims the ACPI
 * ports (power registers, GED / hot-plug). A direct boot gets the tables and the RSDP copy in
 * guest RAM; --firmware (so every SEV-SNP and TDX launch) gets them through fw_cfg's
 * table-loader (boot_firmware_acpi). The device table's last entry (vmm/vm_devices.c). Sets
 * vm->acpi (freed with the VM's devices). Returns 0, or -1 with one line in err. */
int vm_acpi_attach(struct vm *vm, char *err, size_t errlen);

/* The RSDP address and table range for struct load_request (all 0 when vm has no ACPI). */
void vm_acpi_boot_info(const struct vm *vm, uint64_t *rsdp, uint64_t *base, uint64_t *len);

/* Sets the non-NULL callbacks of ops (the others keep theirs). No-op without ACPI. */
void vm_acpi_set_eject_ops(struct vm *vm, const struct vm_acpi_eject_ops *ops);

/* Guest notifications (any thread). Return 0, or -1 when vm has no ACPI or the slot / vCPU is in
 * a state that does not allow it (acpi_hotplug.h). */
int vm_acpi_power_button(struct vm *vm);
int vm_acpi_pci_plugged(struct vm *vm, unsigned slot);
/* Asks the guest to release slot (Eject Request); pci_released follows once its _EJ0 ran. */
int vm_acpi_pci_unplug_request(struct vm *vm, unsigned slot);
/* A function was hot-added at bdf ("0000:00:DD.0"): Device Check for slot DD. No-op without
 * ACPI or for a malformed bdf. */
void vm_acpi_device_added(struct vm *vm, const char *bdf);
int vm_acpi_cpu_plugged(struct vm *vm, unsigned index);
int vm_acpi_cpu_unplug_request(struct vm *vm, unsigned index);

#endif
