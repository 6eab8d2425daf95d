/* acpi.c: ACPI table builder: config in, RSDP/XSDT/FADT/MADT/MCFG/DSDT bytes out (ACPI 6.5). */
#include "firmware/acpi.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "firmware/acpi_dsdt.h"
#include "firmware/aml.h"

#define SDT_HEADER_LEN 36
#define RSDP_LEN       36
#define FADT_LEN       276
#define OEM_ID         "COCOON"
#define OEM_TABLE_ID   "COCOONVM"
#define CREATOR_ID     "CCON"

static int fail(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return -1;
}

uint8_t acpi_sum(const uint8_t *p, size_t n)
{
    uint8_t s = 0;
    for (size_t i = 0; i < n; i++)
        s = (uint8_t)(s + p[i]);
    return s;
}

static void put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

static void put32(uint8_t *p, uint32_t v)
{
    for (unsigned i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void put64(uint8_t *p, uint64_t v)
{
    for (unsigned i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static bool window_ok(uint64_t base, uint64_t len, uint64_t limit)
{
    return len == 0 || (base <= limit && len <= limit - base);
}

static bool overlaps(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
    return alen && blen && a < b + blen && b < a + alen;
}

static int check_vcpus(const struct acpi_config *c, char *err, size_t errlen)
{
    if (c->max_vcpus == 0 || c->max_vcpus > ACPI_MAX_VCPUS)
        return fail(err, errlen, "acpi: max_vcpus %u is outside 1..%u", c->max_vcpus,
                    ACPI_MAX_VCPUS);
    if (c->boot_vcpus == 0 || c->boot_vcpus > c->max_vcpus)
        return fail(err, errlen, "acpi: boot_vcpus %u is outside 1..max_vcpus (%u)", c->boot_vcpus,
                    c->max_vcpus);
    return 0;
}

static int check_windows(const struct acpi_config *c, char *err, size_t errlen)
{
    const uint64_t four_g = 1ULL << 32;
    if (c->bus_first > c->bus_last)
        return fail(err, errlen, "acpi: PCI bus range %u..%u is empty", c->bus_first, c->bus_last);
    if (c->io_len && (uint32_t)c->io_base + c->io_len > 0x10000)
        return fail(err, errlen, "acpi: I/O window passes 0xFFFF");
    if (c->mmio32_len == 0 || !window_ok(c->mmio32_base, c->mmio32_len, four_g))
        return fail(err, errlen, "acpi: the 32-bit MMIO window must be non-empty, below 4 GiB");
    if (!window_ok(c->mmio64_base, c->mmio64_len, UINT64_MAX) ||
        (c->mmio64_len && c->mmio64_base < four_g))
        return fail(err, errlen, "acpi: the 64-bit MMIO window must lie above 4 GiB");
    if (c->ram_below_4g > four_g || c->ram_above_4g > UINT64_MAX - four_g)
        return fail(err, errlen, "acpi: RAM layout out of range");
    uint64_t hi = c->ram_above_4g;
    if (overlaps(c->mmio32_base, c->mmio32_len, 0, c->ram_below_4g) ||
        overlaps(c->mmio64_base, c->mmio64_len, four_g, hi))
        return fail(err, errlen, "acpi: an MMIO window overlaps RAM");
    if (c->pm_base % 0x80 || c->pm_base > 0xFF80)
        return fail(err, errlen, "acpi: PM block 0x%x is not a 128-port block of I/O space",
                    c->pm_base);
    if (c->ecam_base && (c->ecam_base & 0xFFFFF))
        return fail(err, errlen, "acpi: ECAM base must be 1 MiB aligned");
    return 0;
}

int acpi_config_check(const struct acpi_config *c, char *err, size_t errlen)
{
    if (check_vcpus(c, err, errlen) || check_windows(c, err, errlen))
        return -1;
    if (c->boot_slots & 1u)
        return fail(err, errlen, "acpi: slot 0 is the host bridge, not a device slot");
    if (!c->ioapic && (c->cpu_hotplug || c->pci_hotplug))
        return fail(err, errlen, "acpi: hot-plug events need the IOAPIC (GED interrupt)");
    if (c->ioapic && c->ged_gsi >= ACPI_IOAPIC_PINS)
        return fail(err, errlen, "acpi: GED GSI %u is beyond the IOAPIC's %u pins", c->ged_gsi,
                    ACPI_IOAPIC_PINS);
    if (c->pm_base && c->ged_gsi == ACPI_SCI_IRQ)
        return fail(err, errlen, "acpi: the GED cannot share GSI %u with the SCI", ACPI_SCI_IRQ);
    if (c->ioapic && c->ged_gsi == 0)
        return fail(err, errlen, "acpi: GED GSI 0 is the timer (IRQ 0 is overridden to GSI 2)");
    return 0;
}

/* Bounded writer over the whole blob; tables are appended 16-byte aligned. */
static size_t table_begin(struct aml *a, const char *sig, uint8_t rev)
{
    while (a->len % 16 && aml_ok(a))
        aml_byte(a, 0);
    size_t start = a->len;
    uint8_t h[SDT_HEADER_LEN] = {0};
    memcpy(h, sig, 4);
    h[8] = rev;
    memcpy(h + 10, OEM_ID, 6);
    memcpy(h + 16, OEM_TABLE_ID, 8);
    put32(h + 24, 1);
    memcpy(h + 28, CREATOR_ID, 4);
    put32(h + 32, 1);
    aml_bytes(a, h, sizeof(h));
    return start;
}

/* Sets the length of the table at start (ends at a->len); checksums are filled last. */
static void table_end(struct aml *a, size_t start, struct acpi_tables *out)
{
    if (!aml_ok(a) || out->nr == ACPI_MAX_TABLES) {
        a->err = true;
        return;
    }
    put32(a->buf + start + 4, (uint32_t)(a->len - start));
    struct acpi_table_ref *t = &out->table[out->nr++];
    memcpy(t->sig, a->buf + start, 4);
    t->sig[4] = '\0';
    t->off = (uint32_t)start;
    t->len = (uint32_t)(a->len - start);
}

static void table_checksum(uint8_t *t, uint32_t len)
{
    t[9] = 0;
    t[9] = (uint8_t)(0x100 - acpi_sum(t, len));
}

static void write_rsdp(uint8_t *r, uint64_t xsdt_gpa)
{
    memset(r, 0, RSDP_LEN);
    memcpy(r, "RSD PTR ", 8);
    memcpy(r + 9, OEM_ID, 6);
    r[15] = 2;
    put32(r + 20, RSDP_LEN);
    put64(r + 24, xsdt_gpa);
    r[8] = (uint8_t)(0x100 - acpi_sum(r, 20));
    r[32] = (uint8_t)(0x100 - acpi_sum(r, RSDP_LEN));
}

/* Generic Address Structure: SystemIO register of `bits` width at port. */
static void put_gas_io(uint8_t *g, uint8_t bits, uint16_t port)
{
    g[0] = 1; /* SystemIO */
    g[1] = bits;
    g[2] = 0;
    g[3] = bits == 8 ? 1 : bits == 16 ? 2 : 3; /* access size: byte, word, dword */
    put64(g + 4, port);
}

enum {
    FADT_F_PWR_BUTTON = 1u << 4, /* no fixed-feature power button (ours is PNP0C0C via GED) */
    FADT_F_SLP_BUTTON = 1u << 5,
    FADT_F_RESET_REG_SUP = 1u << 10,
    FADT_F_HW_REDUCED = 1u << 20,
    FADT_F_WBINVD = 1u << 0, /* required from ACPI 2.0 on for a non-reduced FADT */
    FADT_F_PROC_C1 = 1u << 2,
};
enum {
    IAPC_LEGACY_DEVICES = 1u << 0,
    IAPC_8042 = 1u << 1,
    IAPC_NO_VGA = 1u << 2,
    IAPC_NO_CMOS_RTC = 1u << 5
};

/* The fixed hardware of a chipset PM block (ACPI 6.5 5.2.9, 4.8): SCI, PM1a event (status +
 * enable, 4 bytes) and control (2 bytes), the 24-bit PM timer, GPE0 (status + enable), each in
 * the 32-bit field and its X_ GAS. No SMI command port: the platform is always in ACPI mode
 * (ACPICA acpi_hw_get_mode: SMI_CMD 0 means ACPI mode only). */
static void fadt_pm_block(uint8_t *b, uint16_t pm)
{
    put16(b + 46, ACPI_SCI_IRQ);
    put32(b + 56, pm + ACPI_PM1_EVT);
    put32(b + 64, pm + ACPI_PM1_CNT);
    put32(b + 76, pm + ACPI_PM_TMR);
    put32(b + 80, pm + ACPI_GPE0);
    b[88] = 4;
    b[89] = 2;
    b[91] = 4;
    b[92] = ACPI_GPE0_LEN;
    put_gas_io(b + 148, 32, pm + ACPI_PM1_EVT);
    put_gas_io(b + 172, 16, pm + ACPI_PM1_CNT);
    put_gas_io(b + 208, 32, pm + ACPI_PM_TMR);
    put_gas_io(b + 220, ACPI_GPE0_LEN * 8, pm + ACPI_GPE0);
    b[220 + 3] = 1; /* GPE registers are byte-accessed */
}

/* FADT 6.3. Without a PM block, hardware-reduced: no SCI, PM1, GPE or PM timer; power off
 * through the sleep control/status registers, reset through the reset register (Linux: sleep.c
 * acpi_sleep_state_supported, reboot.c acpi_reboot). With one (a firmware's platform, which has
 * the 8259 and PIT the firmware programmed: a hardware-reduced FADT makes Linux skip the 8259,
 * acpi_reduced_hw_init, and the PIT the firmware left running then interrupts at the vector the
 * firmware gave it, 8, a double fault), the full fixed hardware of fadt_pm_block and the FACS at
 * facs_gpa. X_DSDT is patched in later. */
static size_t write_fadt(struct aml *a, const struct acpi_config *c, uint64_t facs_gpa,
                         struct acpi_tables *out)
{
    size_t start = table_begin(a, "FACP", 6);
    uint8_t b[FADT_LEN] = {0}; /* offsets below are table offsets; the header is written */
    uint16_t iapc = IAPC_NO_VGA | IAPC_NO_CMOS_RTC | (c->i8042 ? IAPC_8042 : 0);
    uint32_t flags = FADT_F_PWR_BUTTON | FADT_F_SLP_BUTTON | FADT_F_RESET_REG_SUP;
    if (c->pm_base) {
        put32(b + 36, (uint32_t)facs_gpa);
        fadt_pm_block(b, c->pm_base);
        iapc |= IAPC_LEGACY_DEVICES;
        flags |= FADT_F_WBINVD | FADT_F_PROC_C1;
    } else {
        flags |= FADT_F_HW_REDUCED;
        put_gas_io(b + 244, 8, ACPI_PORT_SLEEP_CTL);
        put_gas_io(b + 256, 8, ACPI_PORT_SLEEP_STS);
    }
    put16(b + 109, iapc);
    put32(b + 112, flags);
    put_gas_io(b + 116, 8, ACPI_PORT_RESET);
    b[128] = ACPI_RESET_VALUE;
    b[131] = 3; /* minor version: 6.3, so Linux honours MADT Online Capable */
    memcpy(b + 268, "COCOONVM", 8);
    aml_bytes(a, b + SDT_HEADER_LEN, sizeof(b) - SDT_HEADER_LEN);
    table_end(a, start, out);
    return start;
}

/* FACS (ACPI 6.5 5.2.10): 64 bytes, 64-byte aligned in the blob, no checksum, not in the XSDT;
 * version 2, no global lock owner, no waking vector. Returns its blob offset. */
static size_t write_facs(struct aml *a)
{
    while (a->len % 64 && aml_ok(a))
        aml_byte(a, 0);
    size_t start = a->len;
    uint8_t f[64] = {0};
    memcpy(f, "FACS", 4);
    put32(f + 4, sizeof(f));
    f[32] = 2;
    aml_bytes(a, f, sizeof(f));
    return start;
}

enum { MADT_LAPIC = 0, MADT_IOAPIC = 1, MADT_ISO = 2, MADT_LAPIC_NMI = 4, MADT_X2APIC = 9 };
enum { MADT_X2APIC_NMI = 0xA };
enum { CPU_ENABLED = 1, CPU_ONLINE_CAPABLE = 2 };

/* The MADT entry of vCPU i (UID = APIC id = i): type 0 below 255, type 9 from 255 on (ACPI 6.5
 * 5.2.12.12: x2APIC structures for ids >= 255; Linux acpi_parse_x2apic ignores small x2APIC ids
 * when type-0 entries exist, so small ids are never type 9). Returns its length. */
size_t acpi_cpu_entry(uint32_t i, uint32_t flags, uint8_t out[16])
{
    memset(out, 0, 16);
    if (i < 255) {
        out[0] = MADT_LAPIC;
        out[1] = 8;
        out[2] = (uint8_t)i;
        out[3] = (uint8_t)i;
        put32(out + 4, flags);
        return 8;
    }
    out[0] = MADT_X2APIC;
    out[1] = 16;
    put32(out + 4, i);
    put32(out + 8, flags);
    put32(out + 12, i);
    return 16;
}

static void madt_cpus(struct aml *a, const struct acpi_config *c)
{
    uint32_t n = c->cpu_hotplug ? c->max_vcpus : c->boot_vcpus;
    for (uint32_t i = 0; i < n; i++) {
        uint8_t e[16];
        uint32_t flags = i < c->boot_vcpus ? CPU_ENABLED : CPU_ONLINE_CAPABLE;
        aml_bytes(a, e, acpi_cpu_entry(i, flags, e));
    }
}

static void madt_nmi(struct aml *a, const struct acpi_config *c)
{
    /* LINT1 is NMI on every CPU, as the MP table says (vmm/mptable.c). */
    uint8_t nmi[6] = {MADT_LAPIC_NMI, 6, 0xFF, 0, 0, 1};
    aml_bytes(a, nmi, sizeof(nmi));
    uint32_t n = c->cpu_hotplug ? c->max_vcpus : c->boot_vcpus;
    if (n > 255) {
        uint8_t x[12] = {MADT_X2APIC_NMI, 12, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF, 1, 0, 0, 0};
        aml_bytes(a, x, sizeof(x));
    }
}

static void madt_ioapic(struct aml *a, const struct acpi_config *c)
{
    uint8_t io[12] = {MADT_IOAPIC, 12, c->ioapic_id, 0};
    put32(io + 4, ACPI_IOAPIC_ADDR);
    put32(io + 8, 0);
    aml_bytes(a, io, sizeof(io));
    /* ISA IRQ 0 (the PIT) is on pin 2, every other ISA IRQ on its own pin (vmm/mptable.c). */
    uint8_t iso[10] = {MADT_ISO, 10, 0, 0};
    put32(iso + 4, 2);
    put16(iso + 8, 0); /* conforming polarity and trigger: ISA edge / active high */
    aml_bytes(a, iso, sizeof(iso));
    if (c->pm_base) { /* the SCI: level, active high (as QEMU's q35 and ICH9 route it) */
        uint8_t sci[10] = {MADT_ISO, 10, 0, ACPI_SCI_IRQ};
        put32(sci + 4, ACPI_SCI_IRQ);
        put16(sci + 8, 0x0D); /* polarity 01 active high, trigger 11 level */
        aml_bytes(a, sci, sizeof(sci));
    }
}

static void write_madt(struct aml *a, const struct acpi_config *c, struct acpi_tables *out)
{
    size_t start = table_begin(a, "APIC", 5);
    aml_le32(a, ACPI_LAPIC_ADDR);
    /* PCAT_COMPAT when a firmware set up the 8259 (Linux then masks it); a direct boot is
     * hardware-reduced and Linux uses no 8259. */
    aml_le32(a, c->pm_base ? 1 : 0);
    madt_cpus(a, c);
    if (c->ioapic)
        madt_ioapic(a, c);
    madt_nmi(a, c);
    table_end(a, start, out);
}

static void write_mcfg(struct aml *a, const struct acpi_config *c, struct acpi_tables *out)
{
    size_t start = table_begin(a, "MCFG", 1);
    aml_le64(a, 0); /* reserved */
    aml_le64(a, c->ecam_base);
    aml_le16(a, 0); /* segment */
    aml_byte(a, c->bus_first);
    aml_byte(a, c->bus_last);
    aml_le32(a, 0);
    table_end(a, start, out);
}

static void write_dsdt(struct aml *a, const struct acpi_config *c, struct acpi_tables *out)
{
    size_t start = table_begin(a, "DSDT", 2); /* revision 2: 64-bit AML integers */
    acpi_dsdt_body(a, c);
    table_end(a, start, out);
}

static const struct acpi_table_ref *find_table(const struct acpi_tables *t, const char *sig)
{
    for (unsigned i = 0; i < t->nr; i++)
        if (!memcmp(t->table[i].sig, sig, 4))
            return &t->table[i];
    return NULL;
}

/* Fills XSDT entries, FADT.X_DSDT, the RSDP and every checksum once all offsets are known. */
static void link_tables(uint8_t *buf, uint64_t gpa, const struct acpi_tables *t)
{
    const struct acpi_table_ref *xsdt = find_table(t, "XSDT");
    const struct acpi_table_ref *fadt = find_table(t, "FACP");
    const struct acpi_table_ref *dsdt = find_table(t, "DSDT");
    unsigned k = 0;
    for (unsigned i = 0; i < t->nr; i++) {
        const char *s = t->table[i].sig;
        if (strcmp(s, "XSDT") && strcmp(s, "DSDT"))
            put64(buf + xsdt->off + SDT_HEADER_LEN + 8 * k++, gpa + t->table[i].off);
    }
    put64(buf + fadt->off + 140, gpa + dsdt->off);
    for (unsigned i = 0; i < t->nr; i++)
        table_checksum(buf + t->table[i].off, t->table[i].len);
    write_rsdp(buf, gpa + xsdt->off);
}

int acpi_build(const struct acpi_config *c, uint64_t gpa, uint8_t *buf, size_t cap,
               struct acpi_tables *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof(*out));
    if (acpi_config_check(c, err, errlen))
        return -1;
    if (gpa % 16 || gpa > UINT64_MAX - cap)
        return fail(err, errlen, "acpi: table address 0x%llx is not 16-byte aligned",
                    (unsigned long long)gpa);
    struct aml a;
    aml_init(&a, buf, cap);
    uint8_t rsdp[RSDP_LEN] = {0};
    aml_bytes(&a, rsdp, sizeof(rsdp));
    size_t facs = c->pm_base ? write_facs(&a) : 0;
    unsigned nr_xsdt = c->ecam_base ? 3 : 2; /* FACP, APIC, [MCFG] */
    size_t xsdt = table_begin(&a, "XSDT", 1);
    for (unsigned i = 0; i < nr_xsdt; i++)
        aml_le64(&a, 0);
    table_end(&a, xsdt, out);
    write_fadt(&a, c, facs ? gpa + facs : 0, out);
    write_madt(&a, c, out);
    if (c->ecam_base)
        write_mcfg(&a, c, out);
    write_dsdt(&a, c, out);
    if (!aml_ok(&a))
        return fail(err, errlen, "acpi: tables do not fit in %zu bytes", cap);
    link_tables(buf, gpa, out);
    out->gpa = gpa;
    out->len = a.len;
    return 0;
}
