/* q35.c: the Q35 chipset registers (MCH PCIEXBAR/PAM, ICH9 LPC PMBASE) and what they map: the ECAM
 * window, the ACPI PM timer and SMI_EN. Registers and reset values follow QEMU's q35 machine. */
#include "devices/q35.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "devices/pm_timer.h"
#include "vmm/base/acpi_regs.h"
#include "vmm/base/log.h"

static uint32_t ld32(const uint8_t *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

static void set_wmask(struct pci_dev *dev, unsigned off, uint32_t mask, unsigned len)
{
    for (unsigned i = 0; i < len; i++)
        dev->wmask[off + i] = (uint8_t)(mask >> (8 * i));
}

static bool touches(uint32_t off, uint32_t len, uint32_t start, uint32_t n)
{
    return off < start + n && start < off + len;
}

/* The write as config space would do it, honouring the write mask. */
static void masked_write(struct pci_dev *dev, uint32_t off, const uint8_t *src, uint32_t len)
{
    for (uint32_t i = 0; i < len && off + i < sizeof(dev->cfg); i++) {
        uint8_t m = dev->wmask[off + i];
        dev->cfg[off + i] = (uint8_t)((dev->cfg[off + i] & ~m) | (src[i] & m));
    }
}

/* ---- ECAM ---- */

static void ecam_io(void *opaque, uint64_t offset, void *data, uint32_t len, bool is_write)
{
    struct q35 *q = opaque;
    pci_root_ecam_access(q->root, offset, data, len, is_write);
}

/* PCIEXBAR -> the window it selects: length code 0/1/2 = 256/128/64 MiB (buses 0-255/127/63),
 * base aligned to the length; code 3 (reserved) and bases above 4 GiB decode nothing here. */
static void ecam_remap(struct q35 *q, const struct pci_dev *mch)
{
    uint32_t lo = ld32(mch->cfg + Q35_MCH_PCIEXBAR), hi = ld32(mch->cfg + Q35_MCH_PCIEXBAR + 4);
    unsigned code = (lo >> 1) & 3;
    uint64_t len = code == 3 ? 0 : (256ULL << 20) >> code;
    uint64_t base = (lo & 1) && len && !hi ? (lo & ~(uint32_t)(len - 1)) : 0;
    if (!base)
        len = 0;
    if (base == q->ecam_base && len == q->ecam_len)
        return;
    if (q->ecam_base)
        bus_unregister(q->mmio, q->ecam_base);
    __atomic_store_n(&q->ecam_base, 0, __ATOMIC_RELEASE);
    q->ecam_len = 0; /* read only here, under the root's lock */
    if (base && bus_register(q->mmio, base, len, ecam_io, q) == 0) {
        q->ecam_len = len;
        __atomic_store_n(&q->ecam_base, base, __ATOMIC_RELEASE);
    } else if (base) {
        log_limited(&q->rl, LOG_LVL_WARN,
                    "q35: ECAM window 0x%llx+0x%llx overlaps another claim; not decoded",
                    (unsigned long long)base, (unsigned long long)len);
    }
}

static bool mch_hook(struct pci_dev *dev, uint32_t off, void *data, uint32_t len, bool is_write)
{
    if (!is_write || !touches(off, len, Q35_MCH_PCIEXBAR, 8))
        return false;
    masked_write(dev, off, data, len);
    ecam_remap(dev->opaque, dev);
    return true;
}

/* ---- PM I/O block ---- */

static void smi_io(void *opaque, uint64_t offset, void *data, uint32_t len, bool is_write)
{
    struct q35 *q = opaque;
    pthread_mutex_lock(&q->smi_lock);
    if (offset + len <= sizeof(q->smi)) {
        if (is_write)
            memcpy(q->smi + offset, data, len);
        else
            memcpy(data, q->smi + offset, len);
    } else if (!is_write) {
        memset(data, 0xff, len);
    }
    pthread_mutex_unlock(&q->smi_lock);
}

/* W1C status bytes, R/W enable bytes: PM1 (STS 0-1, EN 2-3) and GPE0 (STS 0-7, EN 8-15). */
static void status_enable_io(uint8_t *regs, unsigned sts_len, uint64_t off, uint8_t *d,
                             uint32_t len, bool is_write)
{
    for (uint32_t i = 0; i < len; i++) {
        uint64_t r = off + i;
        if (!is_write)
            d[i] = regs[r];
        else if (r < sts_len)
            regs[r] &= (uint8_t)~d[i];
        else
            regs[r] = d[i];
    }
}

enum { PM1_CNT = 4, PM1_SCI_EN = 0x1, PM1_SLP_EN = 0x2000, PM1_SLP_TYP_SHIFT = 10 };

/* PM1: status/enable at +0 (nothing here sets a status bit: the power button and hot-plug are
 * the GED's), PM1_CNT at +4: SCI_EN always reads 1 (no SMI_CMD: ACPI mode only), SLP_EN with
 * SLP_TYP S5 powers off (ACPICA acpi_hw_legacy_sleep writes SLP_TYP, then SLP_TYP | SLP_EN). */
static void pm1_io(void *opaque, uint64_t offset, void *data, uint32_t len, bool is_write)
{
    struct q35 *q = opaque;
    uint8_t *d = data;
    if (offset + len > ICH9_PM_PM1_LEN) {
        if (!is_write)
            memset(d, 0xff, len);
        return;
    }
    bool poweroff = false;
    uint32_t low = offset < PM1_CNT ? (uint32_t)(PM1_CNT - offset) : 0;
    low = low < len ? low : len;
    pthread_mutex_lock(&q->smi_lock);
    status_enable_io(q->pm1, 2, offset, d, low, is_write);
    if (low < len && !is_write) {
        memcpy(d + low, q->pm1 + offset + low, len - low);
    } else if (low < len) {
        memcpy(q->pm1 + offset + low, d + low, len - low);
        uint16_t cnt = (uint16_t)(q->pm1[PM1_CNT] | q->pm1[PM1_CNT + 1] << 8);
        unsigned typ = (cnt >> PM1_SLP_TYP_SHIFT) & 7;
        poweroff = (cnt & PM1_SLP_EN) && typ == ACPI_S5_SLP_TYP;
        if ((cnt & PM1_SLP_EN) && !poweroff)
            log_limited(&q->rl, LOG_LVL_WARN, "q35: sleep state %u is not supported; ignored", typ);
        q->pm1[PM1_CNT + 1] &= (uint8_t) ~(PM1_SLP_EN >> 8); /* SLP_EN is write-only */
    }
    q->pm1[PM1_CNT] |= PM1_SCI_EN;
    pthread_mutex_unlock(&q->smi_lock);
    if (poweroff && q->on_poweroff)
        q->on_poweroff(q->poweroff_opaque);
}

static void gpe0_io(void *opaque, uint64_t offset, void *data, uint32_t len, bool is_write)
{
    struct q35 *q = opaque;
    if (offset + len > ICH9_PM_GPE0_LEN) {
        if (!is_write)
            memset(data, 0xff, len);
        return;
    }
    pthread_mutex_lock(&q->smi_lock);
    status_enable_io(q->gpe0, ICH9_PM_GPE0_LEN / 2, offset, data, len, is_write);
    pthread_mutex_unlock(&q->smi_lock);
}

void q35_set_poweroff(struct q35 *q, void (*fn)(void *opaque), void *opaque)
{
    q->on_poweroff = fn;
    q->poweroff_opaque = opaque;
}

/* Unclaims what pm_remap claimed at base (never another device's range). */
static void pm_unmap(struct q35 *q, uint16_t base)
{
    bus_unregister(q->pio, base + ICH9_PM_TMR);
    if (q->smi_mapped)
        bus_unregister(q->pio, base + ICH9_PM_SMI_EN);
    if (q->pm1_mapped)
        bus_unregister(q->pio, base + ICH9_PM_PM1);
    if (q->gpe0_mapped)
        bus_unregister(q->pio, base + ICH9_PM_GPE0);
    q->smi_mapped = q->pm1_mapped = q->gpe0_mapped = false;
}

/* PMBASE/ACPI_CNTL -> claims for the timer and SMI_EN (ICH9: decoded only while ACPI_EN). */
static void pm_remap(struct q35 *q)
{
    const uint8_t *cfg = q->lpc.cfg;
    uint16_t base = (uint16_t)((cfg[ICH9_LPC_PMBASE] | cfg[ICH9_LPC_PMBASE + 1] << 8) & 0xFF80);
    uint16_t want = (cfg[ICH9_LPC_ACPI_CNTL] & ICH9_ACPI_EN) ? base : 0;
    if (want == q->pm_base)
        return;
    if (q->pm_base)
        pm_unmap(q, q->pm_base);
    __atomic_store_n(&q->pm_base, 0, __ATOMIC_RELEASE);
    if (!want)
        return;
    if (bus_register(q->pio, want + ICH9_PM_TMR, 4, pm_timer_io, &q->pm_epoch) < 0) {
        log_limited(&q->rl, LOG_LVL_WARN,
                    "q35: PM timer port 0x%x is claimed by another device; PM block not decoded",
                    want + ICH9_PM_TMR);
        return;
    }
    q->smi_mapped = bus_register(q->pio, want + ICH9_PM_SMI_EN, 8, smi_io, q) == 0;
    q->pm1_mapped = bus_register(q->pio, want + ICH9_PM_PM1, ICH9_PM_PM1_LEN, pm1_io, q) == 0;
    q->gpe0_mapped = bus_register(q->pio, want + ICH9_PM_GPE0, ICH9_PM_GPE0_LEN, gpe0_io, q) == 0;
    if (!q->smi_mapped || !q->pm1_mapped || !q->gpe0_mapped)
        log_limited(&q->rl, LOG_LVL_WARN,
                    "q35: part of the PM block at 0x%x (PM1, GPE0 or SMI_EN) is claimed by another "
                    "device",
                    want);
    __atomic_store_n(&q->pm_base, want, __ATOMIC_RELEASE);
}

static bool lpc_hook(struct pci_dev *dev, uint32_t off, void *data, uint32_t len, bool is_write)
{
    if (!is_write || !touches(off, len, ICH9_LPC_PMBASE, 8))
        return false;
    masked_write(dev, off, data, len);
    pm_remap(dev->opaque);
    return true;
}

/* ---- Setup ---- */

static void mch_init(struct q35 *q)
{
    struct pci_dev *mch = pci_root_host_bridge(q->root);
    set_wmask(mch, Q35_MCH_PCIEXBAR, 0xFC000007u, 4); /* QEMU MCH_HOST_BRIDGE_PCIEXBAR_* */
    set_wmask(mch, Q35_MCH_PCIEXBAR + 4, 0x0000000Fu, 4);
    mch->wmask[Q35_MCH_PAM0] = 0x30; /* PAM0 covers 0xF0000 only (high nibble) */
    for (unsigned i = 1; i < 7; i++)
        mch->wmask[Q35_MCH_PAM0 + i] = 0x33;
    mch->cfg[Q35_MCH_SMRAM] = 0x02; /* QEMU MCH_HOST_BRIDGE_SMRAM_DEFAULT */
    mch->wmask[Q35_MCH_SMRAM] = 0x78;
    mch->cfg[Q35_MCH_ESMRAMC] = 0x38;
    mch->opaque = q;
    mch->cfg_hook = mch_hook;
}

static void lpc_init(struct q35 *q)
{
    struct pci_dev *lpc = &q->lpc;
    pci_dev_init(lpc, PCI_VENDOR_INTEL, PCI_DEVICE_ICH9_LPC, 0x060100, 2, PCI_VENDOR_QEMU_SUBSYS,
                 PCI_SUBSYS_QEMU);
    lpc->cfg[ICH9_LPC_PMBASE] = 0x01; /* I/O space indicator; base 0 until firmware sets it */
    set_wmask(lpc, ICH9_LPC_PMBASE, 0xFF80u, 2);
    lpc->wmask[ICH9_LPC_ACPI_CNTL] = 0x87; /* ACPI_EN, SCI_IRQ_SEL */
    for (unsigned i = 0; i < 4; i++) {
        lpc->cfg[ICH9_LPC_PIRQA + i] = lpc->cfg[ICH9_LPC_PIRQA + 8 + i] = 0x80; /* disabled */
        lpc->wmask[ICH9_LPC_PIRQA + i] = lpc->wmask[ICH9_LPC_PIRQA + 8 + i] = 0x8F;
    }
    set_wmask(lpc, ICH9_LPC_GEN_PMCON, 0xFFFFFFFFu, 4);
    set_wmask(lpc, ICH9_LPC_RCBA, 0xFFFFC001u, 4);
    lpc->opaque = q;
    lpc->cfg_hook = lpc_hook;
}

struct q35 *q35_new(struct pci_root *root, struct bus *pio, struct bus *mmio, char *err,
                    size_t errlen)
{
    struct q35 *q = calloc(1, sizeof(*q));
    if (!q) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    q->root = root;
    q->pio = pio;
    q->mmio = mmio;
    pthread_mutex_init(&q->smi_lock, NULL);
    q->smi[0] = ICH9_SMI_EN_APMC; /* QEMU ich9 pm_reset without SMM */
    q->pm1[PM1_CNT] = PM1_SCI_EN;
    q->rl = (struct log_ratelimit)LOG_RATELIMIT_INIT;
    clock_gettime(CLOCK_MONOTONIC, &q->pm_epoch);
    mch_init(q);
    lpc_init(q);
    if (pci_root_attach_at(root, &q->lpc, PCI_PLATFORM_SLOT, NULL, 0) < 0) {
        snprintf(err, errlen, "q35: slot 00:1f.0 for the LPC bridge is taken");
        pthread_mutex_destroy(&q->smi_lock);
        free(q);
        return NULL;
    }
    return q;
}

void q35_decoded(const struct q35 *q, struct q35_decode *out)
{
    /* Stored with release under the root's config lock (ecam_remap, pm_remap). */
    out->ecam_base = __atomic_load_n(&q->ecam_base, __ATOMIC_ACQUIRE);
    out->pm_base = __atomic_load_n(&q->pm_base, __ATOMIC_ACQUIRE);
}

void q35_free(void *opaque)
{
    struct q35 *q = opaque;
    if (!q)
        return;
    struct pci_dev *mch = pci_root_host_bridge(q->root);
    mch->cfg_hook = NULL;
    mch->opaque = NULL;
    if (q->ecam_base)
        bus_unregister(q->mmio, q->ecam_base);
    if (q->pm_base)
        pm_unmap(q, q->pm_base);
    pci_root_detach(q->root, &q->lpc);
    pthread_mutex_destroy(&q->smi_lock);
    free(q);
}
