/* fw_cfg_table_loader: etc/table-loader + etc/acpi/tables + etc/acpi/rsdp, executed by a test
 * loader the way the firmware does (SeaBIOS src/fw/romfile_loader.c: ALLOCATE into its zones,
 * ADD_POINTER adds the pointee's address, ADD_CHECKSUM subtracts the sum; edk2
 * OvmfPkg/AcpiPlatformDxe/QemuFwCfgAcpi.c: ADD_CHECKSUM stores it), gives tables whose checksums
 * are valid and whose pointers (RSDP -> XSDT -> FACP -> DSDT/FACS) reach the relocated tables,
 * wherever the firmware puts the blobs. Hostile inputs (a pointer outside the blob) are refused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "devices/fw_cfg.h"
#include "devices/fw_cfg_files.h"
#include "firmware/acpi.h"
#include "vmm/base/memory.h"

enum { GPA = 0x7f00000, XSDT = 48, FACP = 104, DSDT = 352, FACS = 400, APIC = 464, END = 512 };

static uint8_t ram[1 << 20];

static void put32(uint8_t *p, uint32_t v)
{
    memcpy(p, &v, 4);
}

static uint64_t le(const uint8_t *p, unsigned n)
{
    uint64_t v = 0;
    for (unsigned i = 0; i < n; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

static uint8_t sum(const uint8_t *p, size_t n)
{
    uint8_t s = 0;
    for (size_t i = 0; i < n; i++)
        s = (uint8_t)(s + p[i]);
    return s;
}

/* What the ACPI builder hands over: tables built for GPA, absolute pointers, any checksums. */
static size_t build_blob(uint8_t *b)
{
    memset(b, 0, END);
    memcpy(b, "RSD PTR ", 8);
    b[8] = 0x5A; /* stale checksums must not matter */
    b[15] = 2;
    put32(b + 20, 36);
    uint64_t xsdt = GPA + XSDT;
    memcpy(b + 24, &xsdt, 8);
    static const struct {
        const char *sig;
        unsigned at, len;
    } t[] = {{"XSDT", XSDT, 52},
             {"FACP", FACP, 244},
             {"DSDT", DSDT, 40},
             {"FACS", FACS, 64},
             {"APIC", APIC, 44}};
    for (size_t i = 0; i < 5; i++) {
        memcpy(b + t[i].at, t[i].sig, 4);
        put32(b + t[i].at + 4, t[i].len);
        b[t[i].at + 9] = 0x77;
        for (unsigned j = 36; j < t[i].len && t[i].at != FACS; j++)
            b[t[i].at + j] = (uint8_t)(j * 13 + i); /* payload */
    }
    uint64_t facp = GPA + FACP, apic = GPA + APIC, dsdt = GPA + DSDT;
    memcpy(b + XSDT + 36, &facp, 8);
    memcpy(b + XSDT + 44, &apic, 8);
    put32(b + FACP + 36, GPA + FACS);
    put32(b + FACP + 40, GPA + DSDT);
    memset(b + FACP + 132, 0, 8); /* X_FACS absent: must stay 0 */
    memcpy(b + FACP + 140, &dsdt, 8);
    return END;
}

/* A named fw_cfg file, found through the directory as the firmware finds it. */
static uint8_t *read_file(struct fw_cfg *fw, const char *name, uint32_t *len)
{
    uint8_t sel[2] = {FW_CFG_FILE_DIR, 0}, hdr[4];
    fw_cfg_comb_io(fw, 0, sel, 2, true);
    for (int i = 0; i < 4; i++)
        fw_cfg_comb_io(fw, 1, &hdr[i], 1, false);
    uint32_t n = (uint32_t)hdr[0] << 24 | hdr[1] << 16 | hdr[2] << 8 | hdr[3];
    for (uint32_t i = 0; i < n; i++) {
        uint8_t e[64];
        for (int j = 0; j < 64; j++)
            fw_cfg_comb_io(fw, 1, &e[j], 1, false);
        if (strcmp((char *)e + 8, name) != 0)
            continue;
        *len = (uint32_t)e[0] << 24 | e[1] << 16 | e[2] << 8 | e[3];
        uint8_t *buf = malloc(*len);
        uint8_t key[2] = {e[5], e[4]};
        fw_cfg_comb_io(fw, 0, key, 2, true);
        for (uint32_t j = 0; j < *len; j++)
            fw_cfg_comb_io(fw, 1, &buf[j], 1, false);
        return buf;
    }
    return NULL;
}

struct blob {
    const char *name;
    uint8_t *data; /* in the loader's memory at `addr` */
    uint32_t len;
    uint64_t addr;
};

/* Runs the script. ovmf: ADD_CHECKSUM stores the checksum; else SeaBIOS subtracts the sum. */
static void run_loader(struct fw_cfg *fw, struct blob *b, unsigned nb, uint8_t *mem,
                       uint64_t mem_gpa, bool ovmf)
{
    uint32_t len;
    uint8_t *script = read_file(fw, "etc/table-loader", &len);
    assert_non_null(script);
    assert_int_equal(len % FW_LOADER_ENTRY_LEN, 0);
    uint64_t next = mem_gpa + (ovmf ? 0x3000 : 0x40); /* wherever: results must not depend */
    bool seen_checksum = false;
    for (uint32_t o = 0; o < len; o += FW_LOADER_ENTRY_LEN) {
        const uint8_t *e = script + o;
        uint32_t cmd = (uint32_t)le(e, 4);
        if (cmd == FW_LOADER_ALLOCATE) {
            struct blob *t = NULL;
            for (unsigned i = 0; i < nb; i++)
                if (strcmp(b[i].name, (const char *)e + 4) == 0)
                    t = &b[i];
            assert_non_null(t);
            uint32_t align = (uint32_t)le(e + 60, 4);
            assert_true(align && !(align & (align - 1)));
            assert_int_equal(e[64], strcmp(t->name, "etc/acpi/rsdp") == 0 ? FW_LOADER_ZONE_FSEG
                                                                          : FW_LOADER_ZONE_HIGH);
            next = (next + align - 1) & ~(uint64_t)(align - 1);
            uint8_t *file = read_file(fw, t->name, &t->len);
            assert_non_null(file);
            t->addr = next;
            t->data = mem + (next - mem_gpa);
            memcpy(t->data, file, t->len);
            free(file);
            next += t->len + 0x123;
        } else if (cmd == FW_LOADER_ADD_POINTER) {
            assert_false(seen_checksum); /* every checksum runs after every pointer patch */
            struct blob *dst = NULL, *src = NULL;
            for (unsigned i = 0; i < nb; i++) {
                if (strcmp(b[i].name, (const char *)e + 4) == 0)
                    dst = &b[i];
                if (strcmp(b[i].name, (const char *)e + 60) == 0)
                    src = &b[i];
            }
            assert_non_null(dst);
            assert_non_null(src);
            uint32_t off = (uint32_t)le(e + 116, 4);
            uint8_t size = e[120];
            assert_true(off + size <= dst->len);
            uint64_t v = le(dst->data + off, size);
            assert_true(v < src->len); /* edk2 ProcessCmdAddPointer's check */
            v += src->addr;
            for (unsigned i = 0; i < size; i++)
                dst->data[off + i] = (uint8_t)(v >> (8 * i));
        } else if (cmd == FW_LOADER_ADD_CHECKSUM) {
            seen_checksum = true;
            struct blob *t = NULL;
            for (unsigned i = 0; i < nb; i++)
                if (strcmp(b[i].name, (const char *)e + 4) == 0)
                    t = &b[i];
            assert_non_null(t);
            uint32_t at = (uint32_t)le(e + 60, 4), start = (uint32_t)le(e + 64, 4),
                     n = (uint32_t)le(e + 68, 4);
            assert_true(at < t->len && start + n <= t->len);
            if (ovmf)
                t->data[at] = (uint8_t)(0x100 - sum(t->data + start, n));
            else
                t->data[at] = (uint8_t)(t->data[at] - sum(t->data + start, n));
        } else if (cmd != 0) { /* 0: the zero tail of a script rebuilt shorter, skipped */
            fail_msg("unknown loader command %u", cmd);
        }
    }
    free(script);
}

static const uint8_t *at_gpa(const uint8_t *mem, uint64_t mem_gpa, uint64_t gpa)
{
    return mem + (gpa - mem_gpa);
}

static void check_loaded(const uint8_t *mem, uint64_t mem_gpa, const struct blob *rsdp)
{
    const uint8_t *r = rsdp->data;
    assert_memory_equal(r, "RSD PTR ", 8);
    assert_int_equal(sum(r, 20), 0);
    assert_int_equal(sum(r, 36), 0);
    const uint8_t *x = at_gpa(mem, mem_gpa, le(r + 24, 8));
    assert_memory_equal(x, "XSDT", 4);
    assert_int_equal(sum(x, 52), 0);
    const uint8_t *f = at_gpa(mem, mem_gpa, le(x + 36, 8));
    const uint8_t *a = at_gpa(mem, mem_gpa, le(x + 44, 8));
    assert_memory_equal(f, "FACP", 4);
    assert_memory_equal(a, "APIC", 4);
    assert_int_equal(sum(f, 244), 0);
    assert_int_equal(sum(a, 44), 0);
    const uint8_t *d = at_gpa(mem, mem_gpa, le(f + 40, 4));
    assert_memory_equal(d, "DSDT", 4);
    assert_int_equal(sum(d, 40), 0);
    assert_ptr_equal(at_gpa(mem, mem_gpa, le(f + 140, 8)), d);
    assert_memory_equal(at_gpa(mem, mem_gpa, le(f + 36, 4)), "FACS", 4);
    assert_int_equal(le(f + 132, 8), 0);
    for (unsigned j = 36; j < 40; j++)
        assert_int_equal(d[j], (uint8_t)(j * 13 + 2)); /* payload unchanged */
}

static struct fw_cfg *device_with_acpi(struct guest_mem *gm, const uint8_t *blob, size_t len)
{
    gm_init_host(gm, ram, sizeof(ram));
    const struct fw_cfg_config cfg = {.ram_size = sizeof(ram), .nb_cpus = 1};
    char err[160];
    struct fw_cfg *fw = fw_cfg_new(gm, &cfg, err, sizeof(err));
    assert_non_null(fw);
    const struct fw_acpi_blob in = {blob, len, GPA};
    if (fw_cfg_add_acpi(fw, &in, err, sizeof(err)) < 0)
        fail_msg("fw_cfg_add_acpi: %s", err);
    return fw;
}

static void loader_gives_valid_tables(void **state)
{
    (void)state;
    uint8_t blob[END];
    size_t len = build_blob(blob);
    struct guest_mem gm;
    struct fw_cfg *fw = device_with_acpi(&gm, blob, len);
    for (int ovmf = 0; ovmf < 2; ovmf++) {
        static uint8_t mem[64 << 10];
        memset(mem, 0xCC, sizeof(mem));
        const uint64_t mem_gpa = 0x3ffe0000;
        struct blob b[2] = {{.name = "etc/acpi/rsdp"}, {.name = "etc/acpi/tables"}};
        run_loader(fw, b, 2, mem, mem_gpa, ovmf);
        assert_int_equal(b[0].len, 36);
        assert_int_equal(b[1].len, END); /* the whole blob: offsets = blob offsets */
        check_loaded(mem, mem_gpa, &b[0]);
    }
    fw_cfg_free(fw);
}

static void hostile_pointer_refused(void **state)
{
    (void)state;
    uint8_t blob[END];
    size_t len = build_blob(blob);
    put32(blob + FACP + 40, GPA + END + 100); /* DSDT pointer beyond the blob */
    struct guest_mem gm;
    gm_init_host(&gm, ram, sizeof(ram));
    const struct fw_cfg_config cfg = {.ram_size = sizeof(ram), .nb_cpus = 1};
    char err[160];
    struct fw_cfg *fw = fw_cfg_new(&gm, &cfg, err, sizeof(err));
    const struct fw_acpi_blob in = {blob, len, GPA};
    assert_int_equal(fw_cfg_add_acpi(fw, &in, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "not a table"));
    build_blob(blob);
    put32(blob + XSDT + 4, 100000); /* XSDT longer than the blob: its entries are not walked */
    const struct fw_acpi_blob bad_len = {blob, len, GPA};
    assert_int_equal(fw_cfg_add_acpi(fw, &bad_len, err, sizeof(err)), -1);
    const struct fw_acpi_blob no_rsdp = {blob + 1, len - 1, GPA};
    assert_int_equal(fw_cfg_add_acpi(fw, &no_rsdp, err, sizeof(err)), -1);
    fw_cfg_free(fw);
}

/* ---- a firmware's platform: the real builder's tables through the loader ---- */

/* The platform vmm/vm_acpi.c describes for a 256 MiB --firmware guest with one virtio disk. */
static struct acpi_config firmware_platform(uint64_t ecam, uint16_t pm_base)
{
    return (struct acpi_config){.boot_vcpus = 1,
                                .max_vcpus = 1,
                                .ram_below_4g = 256ULL << 20,
                                .mmio32_base = 0xC0000000ULL,
                                .mmio32_len = 0xFEC00000ULL - 0xC0000000ULL,
                                .ecam_base = ecam,
                                .boot_slots = 1u << 1 | 1u << 31,
                                .pci_hotplug = true,
                                .fixed_slots = 1u << 31,
                                .pm_base = pm_base,
                                .ioapic = true,
                                .ged_gsi = 5,
                                .com1 = true,
                                .i8042 = true};
}

static void build_platform(uint8_t *buf, size_t cap, uint64_t ecam, uint16_t pm_base,
                           struct fw_acpi_blob *out)
{
    struct acpi_config c = firmware_platform(ecam, pm_base);
    struct acpi_tables t;
    char err[160];
    if (acpi_build(&c, 0x100000, buf, cap, &t, err, sizeof(err)) < 0)
        fail_msg("acpi_build: %s", err);
    *out = (struct fw_acpi_blob){buf, t.len, 0x100000};
}

/* The XSDT entry with signature sig (every table's checksum checked on the way), or NULL. */
static const uint8_t *loaded_table(const uint8_t *mem, uint64_t mem_gpa, const struct blob *rsdp,
                                   const char *sig)
{
    const uint8_t *r = rsdp->data;
    assert_int_equal(sum(r, 20), 0);
    assert_int_equal(sum(r, 36), 0);
    const uint8_t *x = at_gpa(mem, mem_gpa, le(r + 24, 8));
    assert_memory_equal(x, "XSDT", 4);
    uint32_t xlen = (uint32_t)le(x + 4, 4);
    assert_int_equal(sum(x, xlen), 0);
    const uint8_t *found = NULL;
    for (uint32_t o = 36; o + 8 <= xlen; o += 8) {
        const uint8_t *t = at_gpa(mem, mem_gpa, le(x + o, 8));
        assert_int_equal(sum(t, (uint32_t)le(t + 4, 4)), 0);
        if (memcmp(t, sig, 4) == 0)
            found = t;
    }
    return found;
}

static void load(struct fw_cfg *fw, uint8_t *mem, size_t memlen, struct blob *b, bool ovmf)
{
    memset(mem, 0xCC, memlen);
    b[0] = (struct blob){.name = "etc/acpi/rsdp"};
    b[1] = (struct blob){.name = "etc/acpi/tables"};
    run_loader(fw, b, 2, mem, 0x3ffe0000, ovmf);
}

/* FADT fixed hardware at the PM block (ACPI 6.5 5.2.9): 32-bit block addresses and X_ GAS. */
static void check_fadt_pm_block(const uint8_t *f, uint16_t pm)
{
    assert_int_equal(le(f + 112, 4) & (1u << 20), 0); /* not HW_REDUCED */
    assert_int_equal(le(f + 46, 2), ACPI_SCI_IRQ);
    assert_int_equal(le(f + 48, 4), 0); /* no SMI_CMD: always in ACPI mode */
    assert_int_equal(le(f + 56, 4), pm);
    assert_int_equal(le(f + 64, 4), pm + 4u);
    assert_int_equal(le(f + 76, 4), pm + 8u);
    assert_int_equal(le(f + 80, 4), pm + 0x20u);
    assert_int_equal(f[88], 4);
    assert_int_equal(f[89], 2);
    assert_int_equal(f[91], 4);
    assert_int_equal(f[92], 16);
    assert_int_equal(le(f + 112, 4) & (1u << 8), 0); /* TMR_VAL_EXT clear: 24-bit timer */
    assert_int_equal(f[208], 1);                     /* X_PM_TMR_BLK: SystemIO */
    assert_int_equal(le(f + 212, 8), pm + 8u);
    assert_int_equal(le(f + 152, 8), pm);
    assert_int_equal(le(f + 176, 8), pm + 4u);
    assert_int_equal(le(f + 224, 8), pm + 0x20u);
}

static void firmware_platform_tables(void **state)
{
    (void)state;
    static uint8_t buf[256 << 10], mem[64 << 10];
    struct fw_acpi_blob in;
    build_platform(buf, sizeof(buf), 0xB0000000ULL, 0x600, &in);
    struct guest_mem gm;
    gm_init_host(&gm, ram, sizeof(ram));
    const struct fw_cfg_config cfg = {.ram_size = sizeof(ram), .nb_cpus = 1};
    char err[160];
    struct fw_cfg *fw = fw_cfg_new(&gm, &cfg, err, sizeof(err));
    assert_non_null(fw);
    assert_int_equal(fw_cfg_add_acpi(fw, &in, err, sizeof(err)), 0);
    for (int ovmf = 0; ovmf < 2; ovmf++) {
        struct blob b[2];
        load(fw, mem, sizeof(mem), b, ovmf);
        const uint8_t *mcfg = loaded_table(mem, 0x3ffe0000, &b[0], "MCFG");
        assert_non_null(mcfg); /* SeaBIOS's PCIEXBAR, bus 0 only */
        assert_int_equal(le(mcfg + 44, 8), 0xB0000000ULL);
        assert_int_equal(mcfg[54], 0);
        assert_int_equal(mcfg[55], 0);
        const uint8_t *f = loaded_table(mem, 0x3ffe0000, &b[0], "FACP");
        assert_non_null(f);
        check_fadt_pm_block(f, 0x600);
        uint64_t facs = le(f + 36, 4);
        assert_int_equal(facs % 64, 0); /* ACPI 6.5 5.2.10: 64-byte aligned */
        assert_memory_equal(at_gpa(mem, 0x3ffe0000, facs), "FACS", 4);
        const uint8_t *d = at_gpa(mem, 0x3ffe0000, le(f + 140, 8));
        assert_memory_equal(d, "DSDT", 4);
        assert_int_equal(sum(d, (uint32_t)le(d + 4, 4)), 0);
        const uint8_t *madt = loaded_table(mem, 0x3ffe0000, &b[0], "APIC");
        assert_int_equal(le(madt + 40, 4), 1); /* PCAT_COMPAT: Linux masks the 8259 */
    }
    /* ECAM not opened yet (a firmware reading early): rebuilt shorter, no MCFG, still valid;
     * then OVMF's layout and a moved PM block. The files keep their sizes. */
    build_platform(buf, sizeof(buf), 0, 0x600, &in);
    assert_int_equal(fw_cfg_update_acpi(fw, &in, err, sizeof(err)), 0);
    struct blob b[2];
    load(fw, mem, sizeof(mem), b, false);
    assert_null(loaded_table(mem, 0x3ffe0000, &b[0], "MCFG"));
    build_platform(buf, sizeof(buf), 0xE0000000ULL, 0xB000, &in);
    assert_int_equal(fw_cfg_update_acpi(fw, &in, err, sizeof(err)), 0);
    load(fw, mem, sizeof(mem), b, true);
    assert_int_equal(le(loaded_table(mem, 0x3ffe0000, &b[0], "MCFG") + 44, 8), 0xE0000000ULL);
    check_fadt_pm_block(loaded_table(mem, 0x3ffe0000, &b[0], "FACP"), 0xB000);
    /* a build that outgrows the files is refused, the old contents stay */
    struct acpi_config big = firmware_platform(0xB0000000ULL, 0x600);
    big.max_vcpus = 64;
    big.cpu_hotplug = true;
    struct acpi_tables t;
    assert_int_equal(acpi_build(&big, 0x100000, buf, sizeof(buf), &t, err, sizeof(err)), 0);
    const struct fw_acpi_blob grown = {buf, t.len, 0x100000};
    assert_int_equal(fw_cfg_update_acpi(fw, &grown, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "outgrow"));
    load(fw, mem, sizeof(mem), b, true);
    assert_int_equal(le(loaded_table(mem, 0x3ffe0000, &b[0], "MCFG") + 44, 8), 0xE0000000ULL);
    check_fadt_pm_block(loaded_table(mem, 0x3ffe0000, &b[0], "FACP"), 0xB000);
    fw_cfg_free(fw);
}

/* The direct boot's FADT stays hardware-reduced, with no PM block and no FACS. */
static void direct_boot_fadt_unchanged(void **state)
{
    (void)state;
    static uint8_t buf[256 << 10];
    struct fw_acpi_blob in;
    build_platform(buf, sizeof(buf), 0, 0, &in);
    const uint8_t *f = NULL;
    for (size_t o = 48; o + 4 <= in.len; o += 16) /* tables are 16-byte aligned */
        if (memcmp(buf + o, "FACP", 4) == 0)
            f = buf + o;
    assert_non_null(f);
    assert_int_not_equal(le(f + 112, 4) & (1u << 20), 0);
    assert_int_equal(le(f + 36, 4), 0);
    assert_int_equal(le(f + 76, 4), 0);
    assert_int_equal(le(f + 46, 2), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(loader_gives_valid_tables),
        cmocka_unit_test(hostile_pointer_refused),
        cmocka_unit_test(firmware_platform_tables),
        cmocka_unit_test(direct_boot_fadt_unchanged),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
