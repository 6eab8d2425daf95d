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
        } else {
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(loader_gives_valid_tables),
        cmocka_unit_test(hostile_pointer_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
