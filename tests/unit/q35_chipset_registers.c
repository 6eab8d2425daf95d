/* q35_chipset_registers: the Q35 identity OVMF and SeaBIOS probe (host bridge 8086:29C0, ICH9 LPC
 * 8086:2918 at 00:1f.0), PCIEXBAR decoding an ECAM window where the firmware puts it (SeaBIOS
 * mch_mmconfig_setup: 0xB0000000; OVMF PciExBarInitialization: 0xE0000000), PMBASE + ACPI_EN
 * placing the PM timer at PMBASE + 8 and SMI_EN (APMC_EN preset: SeaBIOS skips SMM setup) at
 * PMBASE + 0x30, moved again when reprogrammed -- also when the write itself arrives through the
 * bus (a claim change from inside a handler is applied after it, never deadlocks). */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "devices/pci.h"
#include "devices/pm_timer.h"
#include "devices/q35.h"
#include "vmm/base/bus.h"

static int f_alloc(void *ctx)
{
    (void)ctx;
    return 0;
}
static int f_set(void *ctx, int h, uint64_t a, uint32_t d)
{
    (void)ctx, (void)h, (void)a, (void)d;
    return 0;
}
static void f_fire(void *ctx, int h)
{
    (void)ctx, (void)h;
}
static void f_free(void *ctx, int h)
{
    (void)ctx, (void)h;
}
static int f_attach(void *ctx, int fd, uint64_t a, uint32_t l)
{
    (void)ctx, (void)fd, (void)a, (void)l;
    return 0;
}
static void f_detach(void *ctx, int fd, uint64_t a, uint32_t l)
{
    (void)ctx, (void)fd, (void)a, (void)l;
}
static const struct pci_irq_ops fake_ops = {f_alloc, f_set, f_fire, f_free, f_attach, f_detach};

static void other_io(void *opaque, uint64_t off, void *data, uint32_t len, bool is_write)
{
    (void)opaque, (void)off;
    if (!is_write)
        memset(data, 0x5A, len);
}

struct rig {
    struct bus *pio, *mmio;
    struct pci_root *root;
    struct q35 *q;
};

static void rig_up(struct rig *r)
{
    r->pio = bus_new("pio");
    r->mmio = bus_new("mmio");
    struct pci_irq irq = {&fake_ops, NULL};
    r->root = pci_root_new(r->pio, r->mmio, &irq);
    assert_non_null(r->root);
    char err[128];
    r->q = q35_new(r->root, r->pio, r->mmio, err, sizeof(err));
    assert_non_null(r->q);
}

static void rig_down(struct rig *r)
{
    q35_free(r->q);
    pci_root_free(r->root);
    bus_free(r->pio);
    bus_free(r->mmio);
}

/* Type-1 config access through the bus, as firmware does it (0xCF8/0xCFC). */
static uint32_t cf8_read(struct rig *r, unsigned slot, unsigned reg, unsigned len)
{
    uint32_t a = 0x80000000u | slot << 11 | (reg & 0xFC), v = 0;
    assert_true(bus_dispatch(r->pio, 0xCF8, &a, 4, true));
    assert_true(bus_dispatch(r->pio, 0xCFC + (reg & 3), &v, len, false));
    return v;
}

static void cf8_write(struct rig *r, unsigned slot, unsigned reg, uint32_t v, unsigned len)
{
    uint32_t a = 0x80000000u | slot << 11 | (reg & 0xFC);
    assert_true(bus_dispatch(r->pio, 0xCF8, &a, 4, true));
    assert_true(bus_dispatch(r->pio, 0xCFC + (reg & 3), &v, len, true));
}

static void identity(void **state)
{
    (void)state;
    struct rig r;
    rig_up(&r);
    assert_int_equal(cf8_read(&r, 0, 0, 4), 0x29C08086);
    assert_int_equal(cf8_read(&r, 0, 0x2C, 4), 0x11001AF4); /* QEMU subsystem: SeaBIOS PF_QEMU */
    assert_int_equal(cf8_read(&r, 31, 0, 4), 0x29188086);
    assert_int_equal(cf8_read(&r, 31, 8, 4) >> 8, 0x060100);            /* ISA bridge class */
    assert_int_equal(cf8_read(&r, 31, ICH9_LPC_PMBASE, 4) & 0xFFFF, 1); /* reset: 0x0001 */
    /* PAM registers take what SeaBIOS writes to unlock shadow RAM */
    cf8_write(&r, 0, Q35_MCH_PAM0, 0x33333330u, 4);
    assert_int_equal(cf8_read(&r, 0, Q35_MCH_PAM0, 4), 0x33333330u);
    rig_down(&r);
}

static void ecam_follows_pciexbar(void **state)
{
    (void)state;
    struct rig r;
    rig_up(&r);
    uint32_t v = 0;
    assert_false(bus_dispatch(r.mmio, 0xB0000000, &v, 4, false)); /* off until programmed */
    /* SeaBIOS: clear, high dword, then base | enable (256 MiB, length code 0) */
    cf8_write(&r, 0, Q35_MCH_PCIEXBAR, 0, 4);
    cf8_write(&r, 0, Q35_MCH_PCIEXBAR + 4, 0, 4);
    cf8_write(&r, 0, Q35_MCH_PCIEXBAR, 0xB0000001u, 4);
    assert_true(bus_dispatch(r.mmio, 0xB0000000, &v, 4, false));
    assert_int_equal(v, 0x29C08086);
    assert_true(bus_dispatch(r.mmio, 0xB0000000 + (31u << 15), &v, 4, false));
    assert_int_equal(v, 0x29188086);
    assert_true(bus_dispatch(r.mmio, 0xB0000000 + (5u << 15), &v, 4, false));
    assert_int_equal(v, 0xFFFFFFFFu); /* empty slot */
    assert_true(bus_dispatch(r.mmio, 0xB0000000 + 0x100, &v, 4, false));
    assert_int_equal(v, 0); /* no extended capabilities */
    /* OVMF moves it to 0xE0000000; the write arrives through ECAM itself (mmio dispatch) */
    uint32_t lo = 0xE0000001u;
    assert_true(bus_dispatch(r.mmio, 0xB0000000 + Q35_MCH_PCIEXBAR, &lo, 4, true));
    assert_false(bus_dispatch(r.mmio, 0xB0000000, &v, 4, false));
    assert_true(bus_dispatch(r.mmio, 0xEFFFFFFC, &v, 4, false)); /* bus 255 fn 7 reg 0xFFC */
    assert_true(bus_dispatch(r.mmio, 0xE0000000, &v, 4, false));
    assert_int_equal(v, 0x29C08086);
    /* disabled: gone */
    cf8_write(&r, 0, Q35_MCH_PCIEXBAR, 0xE0000000u, 4);
    assert_false(bus_dispatch(r.mmio, 0xE0000000, &v, 4, false));
    rig_down(&r);
}

static void pm_block_follows_pmbase(void **state)
{
    (void)state;
    struct rig r;
    rig_up(&r);
    uint32_t t = 0;
    assert_false(bus_dispatch(r.pio, 0x608, &t, 4, false)); /* reset: no decode */
    cf8_write(&r, 31, ICH9_LPC_PMBASE, 0x601, 4);           /* OVMF/SeaBIOS: PMBASE 0x600 */
    assert_false(bus_dispatch(r.pio, 0x608, &t, 4, false)); /* ACPI_EN still clear */
    cf8_write(&r, 31, ICH9_LPC_ACPI_CNTL, ICH9_ACPI_EN, 1);
    assert_int_equal(cf8_read(&r, 31, ICH9_LPC_PMBASE, 2), 0x601); /* bit 0 reads 1 */
    assert_true(bus_dispatch(r.pio, 0x608, &t, 4, false));
    assert_true(t <= PM_TIMER_MASK);
    uint32_t smi = 0;
    assert_true(bus_dispatch(r.pio, 0x630, &smi, 4, false));
    assert_int_equal(smi & ICH9_SMI_EN_APMC, ICH9_SMI_EN_APMC);
    assert_true(bus_dispatch(r.pio, 0x600, &t, 4, false)); /* PM1 (the full FADT's) */
    /* SeaBIOS without a table-loader uses 0xB000; the write comes through ECAM this time */
    cf8_write(&r, 0, Q35_MCH_PCIEXBAR, 0xB0000001u, 4);
    uint32_t base = 0xB001;
    assert_true(bus_dispatch(r.mmio, 0xB0000000 + (31u << 15) + ICH9_LPC_PMBASE, &base, 4, true));
    assert_false(bus_dispatch(r.pio, 0x608, &t, 4, false));
    assert_true(bus_dispatch(r.pio, 0xB008, &t, 4, false));
    /* PMBASE's low bits are not writable: 0xB07F decodes at 0xB000 */
    cf8_write(&r, 31, ICH9_LPC_PMBASE, 0xC07F, 2);
    assert_true(bus_dispatch(r.pio, 0xC008, &t, 4, false));
    /* a guest PMBASE whose SMI_EN lands on another device's port: that device keeps it, also
     * when the PM block moves on (only claims q35 made are released) */
    assert_int_equal(bus_register(r.pio, 0x730, 1, other_io, NULL), 0);
    cf8_write(&r, 31, ICH9_LPC_PMBASE, 0x700, 2);
    assert_true(bus_dispatch(r.pio, 0x708, &t, 4, false));
    uint8_t b = 0;
    assert_true(bus_dispatch(r.pio, 0x730, &b, 1, false));
    assert_int_equal(b, 0x5A);
    cf8_write(&r, 31, ICH9_LPC_PMBASE, 0x800, 2);
    b = 0;
    assert_true(bus_dispatch(r.pio, 0x730, &b, 1, false));
    assert_int_equal(b, 0x5A);
    bus_unregister(r.pio, 0x730);
    rig_down(&r);
}

static void poweroff_cb(void *opaque)
{
    ++*(int *)opaque;
}

/* The full FADT's fixed hardware at PMBASE (firmware/acpi.c fadt_pm_block): PM1_STS write-1-to-
 * clear, PM1_EN read/write, PM1_CNT with SCI_EN always set (no SMI_CMD: ACPI mode only) and
 * SLP_EN + SLP_TYP S5 powering off as ACPICA acpi_hw_legacy_sleep writes it; GPE0 at +0x20. */
static void pm1_gpe0_poweroff(void **state)
{
    (void)state;
    struct rig r;
    rig_up(&r);
    int offs = 0;
    q35_set_poweroff(r.q, poweroff_cb, &offs);
    cf8_write(&r, 31, ICH9_LPC_PMBASE, 0x601, 4);
    cf8_write(&r, 31, ICH9_LPC_ACPI_CNTL, ICH9_ACPI_EN, 1);
    uint16_t v = 0;
    assert_true(bus_dispatch(r.pio, 0x604, &v, 2, false));
    assert_int_equal(v & 1, 1); /* SCI_EN */
    v = 0x0120;                 /* PM1_EN: GBL_EN | PWRBTN_EN stick (ACPICA reads them back) */
    assert_true(bus_dispatch(r.pio, 0x602, &v, 2, true));
    v = 0;
    assert_true(bus_dispatch(r.pio, 0x602, &v, 2, false));
    assert_int_equal(v, 0x0120);
    v = 0xFFFF; /* PM1_STS: write-1-to-clear leaves nothing set */
    assert_true(bus_dispatch(r.pio, 0x600, &v, 2, true));
    assert_true(bus_dispatch(r.pio, 0x600, &v, 2, false));
    assert_int_equal(v, 0);
    v = 3 << 10 | 1 << 13; /* S3: not supported, no power-off */
    assert_true(bus_dispatch(r.pio, 0x604, &v, 2, true));
    assert_int_equal(offs, 0);
    v = 5 << 10; /* SLP_TYP first, then SLP_EN (ACPICA) */
    assert_true(bus_dispatch(r.pio, 0x604, &v, 2, true));
    assert_int_equal(offs, 0);
    v = 5 << 10 | 1 << 13;
    assert_true(bus_dispatch(r.pio, 0x604, &v, 2, true));
    assert_int_equal(offs, 1);
    assert_true(bus_dispatch(r.pio, 0x604, &v, 2, false));
    assert_int_equal(v & (1 << 13), 0); /* SLP_EN is write-only */
    uint8_t g = 0xA5;
    assert_true(bus_dispatch(r.pio, 0x628, &g, 1, true)); /* GPE0_EN */
    g = 0;
    assert_true(bus_dispatch(r.pio, 0x628, &g, 1, false));
    assert_int_equal(g, 0xA5);
    g = 0xFF;
    assert_true(bus_dispatch(r.pio, 0x620, &g, 1, true)); /* GPE0_STS: W1C */
    assert_true(bus_dispatch(r.pio, 0x620, &g, 1, false));
    assert_int_equal(g, 0);
    /* the block moves with PMBASE: nothing left at the old place */
    cf8_write(&r, 31, ICH9_LPC_PMBASE, 0xB001, 4);
    assert_false(bus_dispatch(r.pio, 0x604, &v, 2, false));
    assert_false(bus_dispatch(r.pio, 0x620, &g, 1, false));
    assert_true(bus_dispatch(r.pio, 0xB004, &v, 2, false));
    assert_true(bus_dispatch(r.pio, 0xB020, &g, 1, false));
    rig_down(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(identity),
        cmocka_unit_test(ecam_follows_pciexbar),
        cmocka_unit_test(pm_block_follows_pmbase),
        cmocka_unit_test(pm1_gpe0_poweroff),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
