/* acpi_tables: the ACPI table builder's output parsed back (RSDP -> XSDT -> FADT -> DSDT, MADT,
 * MCFG): checksums, lengths, pointers, MADT processor entries, refused configs. Writes every
 * case's tables to <build>/acpi_tables/<case>/ for the acpica-tools test (acpi_acpica). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "firmware/acpi.h"
#include "firmware/acpi_dsdt.h"

#define TABLE_GPA 0x000E0000ULL
#define BLOB_CAP  (256 * 1024)

static uint8_t blob[BLOB_CAP + 64];

static uint32_t rd32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t rd64(const uint8_t *p)
{
    return rd32(p) | (uint64_t)rd32(p + 4) << 32;
}

/* cocoon's platform today: PCI decodes bus 0, ports 0xCF8-0xCFF, 32-bit BARs in
 * [0xC0000000, 0xFEC00000) (devices/pci.h, vmm/base/memory.h). */
static struct acpi_config base_config(uint32_t vcpus, uint32_t max, unsigned devices)
{
    struct acpi_config c = {
        .boot_vcpus = vcpus,
        .max_vcpus = max,
        .cpu_hotplug = true,
        .ram_below_4g = 0xC0000000ULL,
        .ram_above_4g = 1ULL << 30,
        .mmio32_base = 0xC0000000ULL,
        .mmio32_len = 0xFEC00000ULL - 0xC0000000ULL,
        .pci_hotplug = true,
        .ioapic = true,
        .ged_gsi = 9,
        .com1 = true,
        .i8042 = true,
    };
    for (unsigned s = 1; s <= devices; s++)
        c.boot_slots |= 1u << s;
    return c;
}

/* A table in the blob at guest address gpa: inside the blob, length sane, checksum 0. */
static const uint8_t *table_at(const struct acpi_tables *t, uint64_t gpa, const char *sig)
{
    assert_true(gpa >= t->gpa && gpa - t->gpa + 36 <= t->len);
    const uint8_t *p = blob + (gpa - t->gpa);
    assert_memory_equal(p, sig, 4);
    uint32_t len = rd32(p + 4);
    assert_true(len >= 36 && gpa - t->gpa + len <= t->len);
    assert_int_equal(acpi_sum(p, len), 0);
    return p;
}

static void check_rsdp(const struct acpi_tables *t)
{
    assert_memory_equal(blob, "RSD PTR ", 8);
    assert_int_equal(acpi_sum(blob, 20), 0);
    assert_int_equal(blob[15], 2);
    assert_int_equal(rd32(blob + 20), 36);
    assert_int_equal(acpi_sum(blob, 36), 0);
}

/* Counts MADT processor entries; checks enabled / online-capable flags and entry types. */
static void check_madt(const uint8_t *m, const struct acpi_config *c)
{
    assert_int_equal(m[8], 5);
    assert_int_equal(rd32(m + 36), ACPI_LAPIC_ADDR);
    assert_int_equal(rd32(m + 40), c->pm_base ? 1 : 0); /* PCAT_COMPAT: a firmware's 8259 */
    uint32_t len = rd32(m + 4), cpus = 0, ioapics = 0, sci_iso = 0;
    for (uint32_t off = 44; off < len;) {
        const uint8_t *e = m + off;
        assert_true(e[1] >= 2 && off + e[1] <= len);
        uint32_t id = UINT32_MAX, flags = 0;
        if (e[0] == 0) {
            id = e[3];
            flags = rd32(e + 4);
            assert_int_equal(e[2], e[3]);
        } else if (e[0] == 9) {
            id = rd32(e + 4);
            flags = rd32(e + 8);
            assert_true(id >= 255);
            assert_int_equal(rd32(e + 12), id);
        } else if (e[0] == 2 && e[3] == ACPI_SCI_IRQ) {
            sci_iso++;
            assert_int_equal(rd32(e + 4), ACPI_SCI_IRQ);
            assert_int_equal(e[8] | e[9] << 8, 0x0D); /* level, active high */
        } else if (e[0] == 1) {
            ioapics++;
            assert_int_equal(rd32(e + 4), ACPI_IOAPIC_ADDR);
        }
        if (id != UINT32_MAX) {
            assert_int_equal(id, cpus);
            assert_int_equal(flags, id < c->boot_vcpus ? 1 : 2);
            cpus++;
        }
        off += e[1];
    }
    assert_int_equal(cpus, c->cpu_hotplug ? c->max_vcpus : c->boot_vcpus);
    assert_int_equal(ioapics, c->ioapic ? 1 : 0);
    assert_int_equal(sci_iso, c->pm_base && c->ioapic ? 1 : 0);
}

static void write_file(const char *dir, const char *name, const uint8_t *p, size_t n)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s.dat", dir, name);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(p, 1, n, f), n);
    assert_int_equal(fclose(f), 0);
}

static void dump_case(const char *name, const struct acpi_tables *t)
{
    char dir[400];
    snprintf(dir, sizeof(dir), "%s/acpi_tables", COCOON_BINARY_DIR);
    assert_true(mkdir(dir, 0755) == 0 || errno == EEXIST);
    snprintf(dir, sizeof(dir), "%s/acpi_tables/%s", COCOON_BINARY_DIR, name);
    assert_true(mkdir(dir, 0755) == 0 || errno == EEXIST);
    write_file(dir, "rsdp", blob, 36);
    for (unsigned i = 0; i < t->nr; i++) {
        char lower[5];
        for (unsigned k = 0; k < 5; k++)
            lower[k] = (char)(t->table[i].sig[k] | (k < 4 ? 0x20 : 0));
        write_file(dir, lower, blob + t->table[i].off, t->table[i].len);
    }
}

/* Builds, walks RSDP -> XSDT -> tables -> X_DSDT exactly as an OS would, dumps the files. */
static void build_and_walk(const char *name, const struct acpi_config *c)
{
    struct acpi_tables t;
    char err[200] = "";
    memset(blob, 0xA5, sizeof(blob));
    int rc = acpi_build(c, TABLE_GPA, blob, BLOB_CAP, &t, err, sizeof(err));
    if (rc)
        fail_msg("%s: %s", name, err);
    assert_int_equal(blob[t.len + 1], 0xA5);
    check_rsdp(&t);
    const uint8_t *xsdt = table_at(&t, rd64(blob + 24), "XSDT");
    uint32_t n = (rd32(xsdt + 4) - 36) / 8;
    assert_int_equal(n, c->ecam_base ? 3 : 2);
    const uint8_t *fadt = table_at(&t, rd64(xsdt + 36), "FACP");
    assert_int_equal(rd32(fadt + 4), 276);
    assert_int_equal(fadt[8], 6);
    assert_int_equal(fadt[131], 3);
    if (c->pm_base) { /* a firmware's platform: full FADT, FACS, no sleep registers */
        assert_int_equal(rd32(fadt + 112) & (1u << 20), 0);
        assert_int_equal(rd32(fadt + 56), c->pm_base);
        assert_int_equal(rd32(fadt + 76), c->pm_base + 8u);
        const uint8_t *facs = blob + (rd32(fadt + 36) - TABLE_GPA);
        assert_memory_equal(facs, "FACS", 4);
        assert_int_equal(rd32(fadt + 36) % 64, 0);
        assert_int_equal(rd64(fadt + 244 + 4), 0);
    } else {
        assert_int_equal(rd32(fadt + 112) & (1u << 20), 1u << 20); /* HW_REDUCED_ACPI */
        assert_int_equal(rd32(fadt + 36), 0);                      /* no FACS */
        assert_int_equal(rd64(fadt + 244 + 4), ACPI_PORT_SLEEP_CTL);
        assert_int_equal(rd64(fadt + 256 + 4), ACPI_PORT_SLEEP_STS);
    }
    assert_int_equal(rd64(fadt + 116 + 4), ACPI_PORT_RESET);
    const uint8_t *dsdt = table_at(&t, rd64(fadt + 140), "DSDT");
    assert_int_equal(dsdt[8], 2);
    check_madt(table_at(&t, rd64(xsdt + 44), "APIC"), c);
    if (c->ecam_base) {
        const uint8_t *mcfg = table_at(&t, rd64(xsdt + 52), "MCFG");
        assert_int_equal(rd64(mcfg + 44), c->ecam_base);
    }
    if (!c->pm_base) /* the acpica test's cases are direct boots' (acpiexec wants no FACS) */
        dump_case(name, &t);
}

static void tables_for_vcpus_and_devices(void **state)
{
    static const uint32_t vcpus[] = {1, 2, 4, 254};
    static const unsigned devices[] = {0, 16};
    for (size_t i = 0; i < 4; i++) {
        for (size_t k = 0; k < 2; k++) {
            char name[32];
            snprintf(name, sizeof(name), "v%u_d%u", vcpus[i], devices[k]);
            /* Up to 8 possible vCPUs, so the small cases describe hot-pluggable ones too. */
            uint32_t max = vcpus[i] < 8 ? 8 : vcpus[i];
            struct acpi_config c = base_config(vcpus[i], max, devices[k]);
            build_and_walk(name, &c);
        }
    }
}

/* x2APIC entries for ids >= 255; no hot-plug, no serial, an ECAM (MCFG + reservation). */
static void tables_x2apic_and_static(void **state)
{
    struct acpi_config c = base_config(256, 300, 3);
    build_and_walk("v256_x2apic", &c);
    c = base_config(2, 2, 4);
    c.cpu_hotplug = false;
    c.pci_hotplug = false;
    c.com1 = false;
    c.i8042 = false;
    c.ecam_base = 0xE0000000ULL;
    c.mmio32_len = 0x20000000ULL;
    c.mmio64_base = 1ULL << 36;
    c.mmio64_len = 1ULL << 34;
    c.io_base = 0x1000;
    c.io_len = 0xF000;
    build_and_walk("v2_static_ecam", &c);
    c = base_config(1024, 1024, 31);
    build_and_walk("v1024", &c);
}

/* What vm_acpi + boot_firmware build for --firmware: ECAM and PM block where the firmware put
 * them (SeaBIOS with a table-loader: 0xB0000000 / 0x600), the GED off the SCI's GSI 9; a GED on
 * GSI 9 next to the SCI is refused. */
static void tables_for_a_firmware_platform(void **state)
{
    (void)state;
    struct acpi_config c = base_config(2, 8, 4);
    c.ram_below_4g = 256ULL << 20;
    c.ram_above_4g = 0;
    c.ecam_base = 0xB0000000ULL;
    c.pm_base = 0x600;
    c.ged_gsi = 5;
    c.fixed_slots = 1u << 31;
    c.boot_slots |= 1u << 31;
    build_and_walk("fw_q35", &c);
    struct acpi_tables t;
    char err[200] = "";
    c.ged_gsi = 9;
    assert_int_equal(acpi_build(&c, TABLE_GPA, blob, BLOB_CAP, &t, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "SCI"));
    c.ged_gsi = 5;
    c.pm_base = 0x640; /* PMBASE bits 6:0 do not exist (ICH9: 128-port block) */
    assert_int_equal(acpi_build(&c, TABLE_GPA, blob, BLOB_CAP, &t, err, sizeof(err)), -1);
}

/* The MADT entry / _MAT layout: type 0 below 255 (8 bytes), type 9 from 255 (16 bytes). */
static void cpu_entry_layout(void **state)
{
    uint8_t e[16];
    assert_int_equal(acpi_cpu_entry(254, 1, e), 8);
    static const uint8_t lapic[8] = {0, 8, 254, 254, 1, 0, 0, 0};
    assert_memory_equal(e, lapic, 8);
    assert_int_equal(acpi_cpu_entry(0x1234, 2, e), 16);
    static const uint8_t x2[16] = {9, 16, 0, 0, 0x34, 0x12, 0, 0, 2, 0, 0, 0, 0x34, 0x12, 0, 0};
    assert_memory_equal(e, x2, 16);
}

static void refuses_bad_configs(void **state)
{
    struct acpi_tables t;
    char err[200];
    struct acpi_config c;
#define REFUSED(mutation)                                                                          \
    do {                                                                                           \
        c = base_config(2, 4, 1);                                                                  \
        mutation;                                                                                  \
        err[0] = '\0';                                                                             \
        assert_int_equal(acpi_build(&c, TABLE_GPA, blob, BLOB_CAP, &t, err, sizeof(err)), -1);     \
        assert_true(strncmp(err, "acpi: ", 6) == 0);                                               \
    } while (0)
    REFUSED(c.boot_vcpus = 0);
    REFUSED(c.boot_vcpus = 5);
    REFUSED(c.max_vcpus = ACPI_MAX_VCPUS + 1);
    REFUSED(c.bus_first = 1);
    REFUSED(c.mmio32_len = 0);
    REFUSED(c.mmio32_base = 0xF0000000ULL);                   /* passes 4 GiB */
    REFUSED(c.mmio32_base = 0x80000000ULL);                   /* overlaps low RAM */
    REFUSED(c.mmio64_base = 0x10000000ULL; c.mmio64_len = 1); /* below 4 GiB */
    REFUSED(c.mmio64_base = 1ULL << 32; c.mmio64_len = 1);    /* overlaps high RAM */
    REFUSED(c.io_base = 0xF000; c.io_len = 0x2000);
    REFUSED(c.ioapic = false);
    REFUSED(c.ged_gsi = 24);
    REFUSED(c.ged_gsi = 0);
    REFUSED(c.boot_slots = 1);
    REFUSED(c.ecam_base = 0xE0001000ULL);
#undef REFUSED
    c = base_config(1, 1, 0);
    assert_int_equal(acpi_build(&c, TABLE_GPA + 8, blob, BLOB_CAP, &t, err, sizeof(err)), -1);
}

/* Every buffer shorter than the tables is refused without a byte written past it. */
static void refuses_small_buffer(void **state)
{
    struct acpi_tables t;
    char err[200];
    struct acpi_config c = base_config(4, 8, 16);
    assert_int_equal(acpi_build(&c, TABLE_GPA, blob, BLOB_CAP, &t, err, sizeof(err)), 0);
    size_t need = t.len;
    for (size_t cap = 0; cap < need; cap += (cap < 512 ? 1 : 97)) {
        memset(blob, 0x5A, need + 16);
        assert_int_equal(acpi_build(&c, TABLE_GPA, blob, cap, &t, err, sizeof(err)), -1);
        for (size_t i = cap; i < need + 16; i++)
            assert_int_equal(blob[i], 0x5A);
    }
    assert_int_equal(acpi_build(&c, TABLE_GPA, blob, need, &t, err, sizeof(err)), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(tables_for_vcpus_and_devices),
        cmocka_unit_test(tables_x2apic_and_static),
        cmocka_unit_test(tables_for_a_firmware_platform),
        cmocka_unit_test(cpu_entry_layout),
        cmocka_unit_test(refuses_bad_configs),
        cmocka_unit_test(refuses_small_buffer),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
