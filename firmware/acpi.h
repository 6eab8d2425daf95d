/* acpi.h: builds the guest's ACPI tables (RSDP, XSDT, FADT, MADT, MCFG, DSDT) from a config. */
#ifndef COCOON_ACPI_H
#define COCOON_ACPI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vmm/base/acpi_regs.h" /* the register block the FADT and the AML point at */

#define ACPI_IOAPIC_ADDR 0xFEC00000U
#define ACPI_LAPIC_ADDR  0xFEE00000U
#define ACPI_IOAPIC_PINS 24
#define ACPI_MAX_TABLES  6
#define ACPI_SCI_IRQ     9    /* ICH9 ACPI_CNTL SCI_IRQ_SEL 0, QEMU's and SeaBIOS's SCI */
#define ACPI_PM1_EVT     0x00 /* offsets in the PM block (ICH9 datasheet 13.8.3, QEMU ich9.c) */
#define ACPI_PM1_CNT     0x04
#define ACPI_PM_TMR      0x08
#define ACPI_GPE0        0x20
#define ACPI_GPE0_LEN    0x10

struct acpi_config {
    uint32_t boot_vcpus;                 /* APIC ids 0..boot_vcpus-1 run at boot (1..max_vcpus) */
    uint32_t max_vcpus;                  /* possible vCPUs; APIC id = vCPU index */
    bool cpu_hotplug;                    /* CPU manager; without it only boot vCPUs are described */
    uint64_t ram_below_4g, ram_above_4g; /* RAM at [0, below) and [4 GiB, 4 GiB + above) */
    uint8_t bus_first, bus_last;         /* PCI bus numbers decoded by the root bridge */
    uint16_t io_base, io_len;            /* I/O window for BARs; len 0 = none */
    uint64_t mmio32_base, mmio32_len;    /* memory window below 4 GiB */
    uint64_t mmio64_base, mmio64_len;    /* 64-bit memory window; len 0 = none */
    uint64_t ecam_base;                  /* ECAM for bus_first..bus_last; 0 = none (no MCFG) */
    uint32_t boot_slots;                 /* bit n: a device is in 0000:00:n.0 at boot */
    bool pci_hotplug;     /* every slot 1..31 hot-pluggable through ACPI, except fixed_slots */
    uint32_t fixed_slots; /* bit n: slot n holds a platform function (LPC at 31): no _EJ0 */
    /* The chipset's ACPI PM block (Q35: the PMBASE the firmware programmed into the ICH9 LPC):
     * non-zero gives a full FADT (SCI, PM1a event/control at +0/+4, PM timer at +8, GPE0 at
     * +0x20, FACS) and an 8259-compatible MADT, for a platform a firmware set up; 0 gives the
     * hardware-reduced FADT of a direct boot. */
    uint16_t pm_base;
    bool ioapic; /* IOAPIC at ACPI_IOAPIC_ADDR, GSI base 0, 24 pins */
    uint8_t ioapic_id;
    uint32_t ged_gsi; /* the GED's edge / active-high interrupt (needs the IOAPIC) */
    bool com1;        /* 16550 at 0x3F8, IRQ 4 */
    bool i8042;       /* keyboard controller at 0x60/0x64 (FADT IAPC_BOOT_ARCH bit 1) */
};

struct acpi_table_ref {
    char sig[5];
    uint32_t off; /* from the start of the blob */
    uint32_t len;
};

/* The blob: RSDP at offset 0, then XSDT, FACP, APIC, [MCFG], DSDT, each 16-byte aligned, with
 * every pointer computed for the blob being placed at guest-physical `gpa`. */
struct acpi_tables {
    uint64_t gpa;
    size_t len;
    unsigned nr;
    struct acpi_table_ref table[ACPI_MAX_TABLES]; /* RSDP not included */
};

/* Builds all tables into buf (cap bytes; 256 KiB is enough for ACPI_MAX_VCPUS and all slots).
 * Returns 0, or -1 with a message in err when the config is invalid or buf is too small. */
int acpi_build(const struct acpi_config *cfg, uint64_t gpa, uint8_t *buf, size_t cap,
               struct acpi_tables *out, char *err, size_t errlen);

/* Checks an ACPI config on its own (same rules acpi_build applies). Returns 0 or -1 with err. */
int acpi_config_check(const struct acpi_config *cfg, char *err, size_t errlen);

/* 8-bit sum of n bytes (0 for a table with a valid checksum). */
uint8_t acpi_sum(const uint8_t *p, size_t n);

#endif
