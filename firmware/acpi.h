/* acpi.h: builds the guest's ACPI tables (RSDP, XSDT, FADT, MADT, MCFG, DSDT) from a config. */
#ifndef COCOON_ACPI_H
#define COCOON_ACPI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The platform registers the AML and the FADT point at: one 32-port block in I/O space, claimed by
 * \_SB.MBRD (PNP0C02). Layout (all little-endian):
 *   +0x00 SLEEP_CONTROL (8 bit, W): 0x34 = SLP_EN | SLP_TYP 5 = power off (S5)
 *   +0x01 SLEEP_STATUS  (8 bit, W 0x80 = clear WAK_STS; R 0)
 *   +0x02 RESET         (8 bit, W ACPI_RESET_VALUE = reset)
 *   +0x04 GED selector ESEL (32 bit, R, read clears): ACPI_GED_* bits pending
 *   +0x08 PCIU (32 bit, R, read clears): slots to announce (Device Check)
 *   +0x0C PCID (32 bit, R, read clears): slots asked to eject (Eject Request)
 *   +0x10 B0EJ (32 bit, W): bit n = the guest released slot n (its _EJ0 ran)
 *   +0x14 CSEL (32 bit, R/W): selected vCPU index
 *   +0x18 CPU status (8 bit): R bit0 CPEN enabled, bit1 CINS insert pending, bit2 CRMV remove
 *          pending; W bit1 = clear CINS, bit2 = clear CRMV, bit3 = eject the selected vCPU
 *   +0x19 CCMD (8 bit, reserved: reads 0, writes ignored)
 *   +0x1C CDAT (32 bit, reserved: reads 0, writes ignored)
 * Same register design as Cloud Hypervisor's DeviceManager (PCIU/PCID/B0EJ) and
 * AcpiCpuHotplugController (CSEL/CPEN/CINS/CRMV/CEJ0), and QEMU's acpi_cpu_hotplug.rst, moved to
 * I/O space; the GED bit values are Cloud Hypervisor's AcpiNotificationFlags. The block sits at
 * 0xAE00 (where QEMU keeps its PCI hot-plug registers), clear of the Q35 PM block that firmware
 * programs at 0x600 (or 0xB000) through PMBASE (devices/q35.c); offsets below are from the base. */
#define ACPI_PORT_BASE        0xAE00
#define ACPI_PORT_LEN         0x20
#define ACPI_PORT_SLEEP_CTL   (ACPI_PORT_BASE + 0x00)
#define ACPI_PORT_SLEEP_STS   (ACPI_PORT_BASE + 0x01)
#define ACPI_PORT_RESET       (ACPI_PORT_BASE + 0x02)
#define ACPI_PORT_GED         (ACPI_PORT_BASE + 0x04)
#define ACPI_PORT_PCIHP       (ACPI_PORT_BASE + 0x08)
#define ACPI_PCIHP_LEN        12
#define ACPI_PORT_CPUHP       (ACPI_PORT_BASE + 0x14)
#define ACPI_CPUHP_LEN        12
#define ACPI_RESET_VALUE      0x01
#define ACPI_S5_SLP_TYP       5
#define ACPI_SLEEP_CTL_S5     ((ACPI_S5_SLP_TYP << 2) | 0x20) /* SLP_TYP << 2 | SLP_EN */
#define ACPI_GED_CPU_CHANGED  0x1
#define ACPI_GED_PCI_CHANGED  0x4
#define ACPI_GED_POWER_BUTTON 0x8

#define ACPI_IOAPIC_ADDR 0xFEC00000U
#define ACPI_LAPIC_ADDR  0xFEE00000U
#define ACPI_IOAPIC_PINS 24
#define ACPI_MAX_VCPUS   1024 /* x86 KVM_MAX_VCPUS; names C000..C3FF */
#define ACPI_PCI_SLOTS   32
#define ACPI_MAX_TABLES  6

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
    bool pci_hotplug;                    /* every slot 1..31 hot-pluggable through ACPI */
    bool ioapic;                         /* IOAPIC at ACPI_IOAPIC_ADDR, GSI base 0, 24 pins */
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
