/* q35.h: the Q35 chipset registers firmware programs: MCH (PCIEXBAR -> ECAM window, PAM, SMRAM)
 * and the ICH9 LPC bridge at 00:1f.0 (PMBASE/ACPI_CNTL -> ACPI PM timer and SMI_EN, PIRQ, RCBA). */
#ifndef COCOON_Q35_H
#define COCOON_Q35_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "devices/pci.h"
#include "vmm/base/bus.h"
#include "vmm/base/log.h"

/* MCH (00:00.0) registers (edk2 OvmfPkg/Include/IndustryStandard/Q35MchIch9.h). */
#define Q35_MCH_PCIEXBAR 0x60 /* 64-bit: base | length code (bits 2:1) | enable (bit 0) */
#define Q35_MCH_PAM0     0x90 /* PAM0..PAM6: 0x90..0x96 */
#define Q35_MCH_SMRAM    0x9D
#define Q35_MCH_ESMRAMC  0x9E
/* ICH9 LPC (00:1f.0) registers. */
#define ICH9_LPC_PMBASE    0x40 /* bits 15:7 = base, bit 0 reads 1 (I/O space) */
#define ICH9_LPC_ACPI_CNTL 0x44 /* bit 7 = ACPI_EN: the PM block decodes */
#define ICH9_LPC_PIRQA     0x60 /* PIRQA..D 0x60..0x63, PIRQE..H 0x68..0x6B */
#define ICH9_LPC_GEN_PMCON 0xA0
#define ICH9_LPC_RCBA      0xF0
#define ICH9_ACPI_EN       0x80
/* Offsets in the PM I/O block (ICH9 datasheet 13.8.3; QEMU hw/acpi/ich9.c). */
#define ICH9_PM_PM1      0x00 /* PM1_STS (16), PM1_EN (16), PM1_CNT (32) */
#define ICH9_PM_PM1_LEN  8
#define ICH9_PM_TMR      0x08
#define ICH9_PM_GPE0     0x20 /* GPE0_STS (8 bytes), GPE0_EN (8 bytes) */
#define ICH9_PM_GPE0_LEN 16
#define ICH9_PM_SMI_EN   0x30 /* 32-bit SMI_EN, then SMI_STS */
#define ICH9_SMI_EN_APMC 0x20 /* set at reset: "SMM already initialised" (no SMM here) */

struct q35 {
    struct pci_root *root;
    struct bus *pio, *mmio;
    struct pci_dev lpc;
    uint64_t ecam_base, ecam_len; /* claimed on mmio; 0 = none (guarded by the root's lock) */
    uint16_t pm_base;             /* PM timer claimed on pio at +8; 0 = none (same lock) */
    bool smi_mapped;              /* SMI_EN claimed at pm_base + 0x30 */
    bool pm1_mapped, gpe0_mapped; /* PM1 at pm_base, GPE0 at pm_base + 0x20 */
    pthread_mutex_t smi_lock;     /* the PM block's registers below */
    uint8_t smi[8];               /* SMI_EN, SMI_STS */
    uint8_t pm1[ICH9_PM_PM1_LEN]; /* PM1_STS, PM1_EN, PM1_CNT (SCI_EN reads 1) */
    uint8_t gpe0[ICH9_PM_GPE0_LEN];
    void (*on_poweroff)(void *opaque); /* PM1_CNT: SLP_EN with SLP_TYP S5 (vCPU thread) */
    void *poweroff_opaque;
    struct timespec pm_epoch;
    struct log_ratelimit rl; /* a guest reprogramming PCIEXBAR/PMBASE in a loop */
};

/* Sets up the MCH registers on root's host bridge and attaches the LPC bridge at 00:1f.0.
 * Returns NULL (with a message in err) on failure. */
struct q35 *q35_new(struct pci_root *root, struct bus *pio, struct bus *mmio, char *err,
                    size_t errlen);

/* The ACPI power-off of a full FADT: the guest writing SLP_EN with SLP_TYP = ACPI_S5_SLP_TYP to
 * PM1_CNT calls fn (on its vCPU thread, no lock held). Set before the guest runs. */
void q35_set_poweroff(struct q35 *q, void (*fn)(void *opaque), void *opaque);

/* What the chipset decodes now, as the firmware programmed it (PCIEXBAR, PMBASE + ACPI_EN);
 * 0 = not decoded. Any thread, no lock: the ACPI tables are built from it at fw_cfg read time,
 * as QEMU's acpi_build_update does after the firmware has set the chipset up. */
struct q35_decode {
    uint64_t ecam_base; /* any window PCIEXBAR opens covers bus 0, the only bus the root decodes */
    uint16_t pm_base;
};
void q35_decoded(const struct q35 *q, struct q35_decode *out);

/* Drops the ECAM and PM claims and detaches the LPC (void * for vm_add_device). NULL is fine. */
void q35_free(void *q);

#endif
