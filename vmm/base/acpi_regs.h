/* acpi_regs.h: the guest-visible ACPI register block (ports and bit values) that the table builder
 * (firmware/acpi.c) describes and the register devices (devices/acpi_*.c) implement. Base layer:
 * constants only, so both sides include the one definition. */
#ifndef COCOON_ACPI_REGS_H
#define COCOON_ACPI_REGS_H

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
#define ACPI_CPUHP_CSEL       (ACPI_PORT_CPUHP + 0x00) /* 32 bit: selected vCPU index */
#define ACPI_CPUHP_STATUS     (ACPI_PORT_CPUHP + 0x04) /* 8 bit: the bits below */
#define ACPI_CPU_ENABLED      0x1                      /* R: present to the guest */
#define ACPI_CPU_INSERTING    0x2                      /* R: insert pending; W 1 = acknowledge */
#define ACPI_CPU_REMOVING     0x4                      /* R: remove pending; W 1 = acknowledge */
#define ACPI_CPU_EJECT        0x8 /* W 1 = eject the selected vCPU (its _EJ0) */
#define ACPI_RESET_VALUE      0x01
#define ACPI_S5_SLP_TYP       5
#define ACPI_SLEEP_CTL_S5     ((ACPI_S5_SLP_TYP << 2) | 0x20) /* SLP_TYP << 2 | SLP_EN */
#define ACPI_GED_CPU_CHANGED  0x1
#define ACPI_GED_PCI_CHANGED  0x4
#define ACPI_GED_POWER_BUTTON 0x8

#define ACPI_MAX_VCPUS 1024 /* x86 KVM_MAX_VCPUS; names C000..C3FF */
#define ACPI_PCI_SLOTS 32

#endif
