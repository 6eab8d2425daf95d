/* acpi_power.c: test guest that finds cocoon's ACPI tables as an OS does (hvm_start_info
 * rsdp_paddr, and the legacy 0xE0000 scan), checks every checksum and the MADT's vCPUs, then
 * powers off (mode=0: FADT sleep registers, S5) or resets (mode=1: FADT reset register). */
#include "rt/rt.h"

extern uint64_t rt_start_info;

static uint32_t rd32(const volatile uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t rd64(const volatile uint8_t *p)
{
    return rd32(p) | (uint64_t)rd32(p + 4) << 32;
}

static uint8_t sum(const volatile uint8_t *p, uint32_t n)
{
    uint8_t s = 0;
    for (uint32_t i = 0; i < n; i++)
        s = (uint8_t)(s + p[i]);
    return s;
}

static int sig_is(const volatile uint8_t *p, const char *sig, unsigned n)
{
    for (unsigned i = 0; i < n; i++)
        if (p[i] != (uint8_t)sig[i])
            return 0;
    return 1;
}

static const volatile uint8_t *table(uint64_t gpa, const char *sig)
{
    const volatile uint8_t *t = (const volatile uint8_t *)(uintptr_t)gpa;
    if (gpa == 0 || gpa >= 0x100000 || !sig_is(t, sig, 4))
        rt_fail("no %s table at 0x%lx", sig, (unsigned long)gpa);
    uint32_t len = rd32(t + 4);
    if (len < 36 || len > 0x40000 || sum(t, len) != 0)
        rt_fail("%s: length %u or checksum wrong", sig, len);
    return t;
}

/* The legacy scan: 16-byte steps through 0xE0000-0xFFFFF (ACPICA tbxfroot.c). */
static uint64_t scan_rsdp(void)
{
    for (uint64_t a = 0xE0000; a < 0x100000; a += 16) {
        const volatile uint8_t *p = (const volatile uint8_t *)(uintptr_t)a;
        if (sig_is(p, "RSD PTR ", 8) && sum(p, 20) == 0)
            return a;
    }
    return 0;
}

static unsigned madt_enabled_cpus(const volatile uint8_t *m)
{
    unsigned n = 0;
    uint32_t len = rd32(m + 4);
    for (uint32_t off = 44; off + 2 <= len && m[off + 1] >= 2; off += m[off + 1]) {
        if (m[off] == 0 && (rd32(m + off + 4) & 1))
            n++;
        if (m[off] == 9 && (rd32(m + off + 8) & 1))
            n++;
    }
    return n;
}

/* GAS of a SystemIO register: returns its port. */
static uint16_t gas_port(const volatile uint8_t *g, const char *what)
{
    if (g[0] != 1 || g[1] != 8)
        rt_fail("%s: not an 8-bit SystemIO register", what);
    return (uint16_t)rd64(g + 4);
}

int main(void)
{
    unsigned mode = (unsigned)rt_cmdline_uint("mode", 0);
    unsigned cpus = (unsigned)rt_cmdline_uint("cpus", 1);
    const volatile uint8_t *si = (const volatile uint8_t *)(uintptr_t)rt_start_info;
    uint64_t rsdp = rd64(si + 32), copy = scan_rsdp();
    if (!rsdp || !copy)
        rt_fail("RSDP: start info 0x%lx, legacy scan 0x%lx", (unsigned long)rsdp,
                (unsigned long)copy);
    const volatile uint8_t *r = (const volatile uint8_t *)(uintptr_t)rsdp;
    if (!sig_is(r, "RSD PTR ", 8) || r[15] != 2 || sum(r, 36) != 0 ||
        rd64(r + 24) != rd64((const volatile uint8_t *)(uintptr_t)copy + 24))
        rt_fail("RSDP at 0x%lx invalid or differs from the scanned copy", (unsigned long)rsdp);
    const volatile uint8_t *xsdt = table(rd64(r + 24), "XSDT");
    const volatile uint8_t *fadt = table(rd64(xsdt + 36), "FACP");
    const volatile uint8_t *madt = table(rd64(xsdt + 44), "APIC");
    const volatile uint8_t *dsdt = table(rd64(fadt + 140), "DSDT");
    unsigned enabled = madt_enabled_cpus(madt);
    if (enabled != cpus)
        rt_fail("MADT lists %u enabled vCPUs, want %u", enabled, cpus);
    rt_printf("acpi guest: RSDP 0x%lx (copy 0x%lx), FADT, MADT (%u vCPUs), DSDT %u bytes ok\n",
              (unsigned long)rsdp, (unsigned long)copy, enabled, rd32(dsdt + 4));
    if (mode == 0) {
        uint16_t sts = gas_port(fadt + 256, "SLEEP_STATUS");
        uint16_t ctl = gas_port(fadt + 244, "SLEEP_CONTROL");
        rt_puts("acpi guest: S5 through the sleep registers\n");
        outb(sts, 0x80);                     /* clear WAK_STS, as ACPICA does first */
        outb(ctl, (uint8_t)(5 << 2 | 0x20)); /* SLP_TYP 5 (the DSDT's _S5) | SLP_EN */
    } else {
        uint16_t port = gas_port(fadt + 116, "RESET_REG");
        rt_puts("acpi guest: reset through the FADT reset register\n");
        outb(port, fadt[128]);
    }
    for (unsigned i = 0; i < 1000000; i++)
        rt_pause();
    rt_fail("still running after the ACPI %s", mode == 0 ? "power-off" : "reset");
}
