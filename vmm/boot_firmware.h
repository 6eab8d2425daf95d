/* boot_firmware.h: booting a guest through its firmware (--firmware): the image below 4 GiB, the
 * QEMU platform contract it reads (fw_cfg files, CMOS, debug console), vCPU 0 at the reset vector.
 */
#ifndef COCOON_BOOT_FIRMWARE_H
#define COCOON_BOOT_FIRMWARE_H

#include <stddef.h>
#include <stdint.h>

struct vm;

/* A plain guest's firmware image: a non-zero multiple of 4 KiB, at most this big (it ends at
 * 4 GiB and must start above the local APIC page and KVM's identity-map/TSS pages). */
#define FIRMWARE_MAX_SIZE (16ULL << 20)
#define FIRMWARE_TOP      0x100000000ULL
/* The last 128 KiB of the image also appear below 1 MiB (QEMU x86_isa_bios_init). */
#define FIRMWARE_ISA_BIOS_SIZE (128ULL << 10)

/* tee=none: reads the image, maps it read-only so that it ends at 4 GiB and copies its last
 * 128 KiB (or all of it if smaller) into RAM at 1 MiB - that size, where real-mode firmware runs
 * and which SeaBIOS then treats as shadow RAM. Call after guest RAM is registered. */
int boot_firmware_map(struct vm *vm, char *err, size_t errlen);

/* Every firmware boot (also TEE): fw_cfg with the kernel items (header patched like QEMU's for a
 * plain guest), etc/e820, and for a plain guest with a kernel QEMU's kernel loader option ROM as
 * QEMU serves it to SeaBIOS (bzImage: genroms/linuxboot_dma.bin; ELF vmlinux with a PVH note:
 * the kernel loaded into RAM here and genroms/pvh.bin) plus its `bootorder` line, if installed;
 * CMOS/RTC at 0x70; the 0x402 debug console into --firmware-log. */
int boot_firmware_attach(struct vm *vm, char *err, size_t errlen);

/* A plain firmware boot's ACPI tables, built from c (the VM's platform, as for a direct boot)
 * and served through fw_cfg's table-loader (etc/table-loader, etc/acpi/tables, etc/acpi/rsdp).
 * MCFG and the FADT's PM timer follow what the firmware programs into the Q35 chipset
 * (PCIEXBAR, PMBASE): the files are rebuilt in place before each fw_cfg access that finds the
 * chipset changed, so the firmware reads tables for the platform it set up. Needs vm's fw_cfg
 * (boot_firmware_attach) and Q35 (the pci device kind). Returns 0 or -1 with one line in err. */
struct acpi_config;
/* A firmware's platform has the SCI on GSI 9 (firmware/acpi.h ACPI_SCI_IRQ), so its GED takes
 * ISA IRQ 5, which SeaBIOS and OVMF leave unused (PCI INTx go to 10 and 11). */
#define FIRMWARE_ACPI_GED_GSI 5
int boot_firmware_acpi(struct vm *vm, const struct acpi_config *c, char *err, size_t errlen);

/* Where QEMU's kernel loader option ROMs are looked for (Debian qemu-system-data). */
#define FIRMWARE_ROM_DIR "/usr/share/qemu"

#endif
