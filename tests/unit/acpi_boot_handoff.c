/* acpi_boot_handoff: the RSDP reaches a directly booted kernel (boot_params.acpi_rsdp_addr for
 * a bzImage, hvm_start_info.rsdp_paddr for PVH) and the tables' range is typed ACPI in its e820
 * map; e820_carve splits exactly one entry. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <asm/bootparam.h>
#include <cmocka.h>

#include "support/loader_files.h"
#include "vmm/e820.h"
#include "vmm/loader.h"
#include "vmm/vm_acpi.h"

#define MIB        (1ULL << 20)
#define RSDP       VM_ACPI_TABLES
#define ACPI_LEN   0x3000ULL
#define SI_RSDP    32 /* hvm_start_info.rsdp_paddr */
#define SI_MEMMAP  40
#define SI_ENTRIES 48

static struct guest_mem gm;

static int setup(void **state)
{
    char err[256];
    return gm_init(&gm, 64 * MIB, err, sizeof(err));
}

static int teardown(void **state)
{
    gm_destroy(&gm);
    lt_cleanup();
    return 0;
}

static void expect_acpi_map(const struct e820_entry *map, int n)
{
    int acpi = 0;
    for (int i = 0; i < n; i++) {
        if (i > 0)
            assert_true(map[i - 1].addr + map[i - 1].size <= map[i].addr);
        if (map[i].type == E820_ACPI) {
            acpi++;
            assert_int_equal(map[i].addr, RSDP);
            assert_int_equal(map[i].size, ACPI_LEN);
        }
    }
    assert_int_equal(acpi, 1);
}

static void carve_splits_reserved_area(void **state)
{
    struct e820_entry map[E820_MAX_ENTRIES];
    int n = e820_build(&gm, map, E820_MAX_ENTRIES);
    assert_int_equal(n, 3);
    n = e820_carve(map, n, E820_MAX_ENTRIES, RSDP, ACPI_LEN, E820_ACPI);
    assert_int_equal(n, 5);
    assert_int_equal(map[1].addr, LAYOUT_EBDA);
    assert_int_equal(map[1].size, RSDP - LAYOUT_EBDA);
    assert_int_equal(map[1].type, E820_RESERVED);
    assert_int_equal(map[2].type, E820_ACPI);
    assert_int_equal(map[3].addr, RSDP + ACPI_LEN);
    assert_int_equal(map[3].addr + map[3].size, MIB);
    assert_int_equal(map[3].type, E820_RESERVED);
    expect_acpi_map(map, n);

    /* A range across two entries, or outside every entry, is refused. */
    n = e820_build(&gm, map, E820_MAX_ENTRIES);
    assert_int_equal(e820_carve(map, n, E820_MAX_ENTRIES, MIB - 0x1000, 0x2000, E820_ACPI), -1);
    assert_int_equal(e820_carve(map, n, E820_MAX_ENTRIES, 1ULL << 40, 0x1000, E820_ACPI), -1);
    assert_int_equal(e820_carve(map, n, E820_MAX_ENTRIES, RSDP, 0, E820_ACPI), -1);
    assert_int_equal(e820_carve(map, n, (unsigned)n, RSDP, ACPI_LEN, E820_ACPI), -1); /* full */
    /* Carving the start of an entry leaves no empty entry behind. */
    n = e820_carve(map, n, E820_MAX_ENTRIES, LAYOUT_EBDA, 0x400, E820_ACPI);
    assert_int_equal(n, 4);
    for (int i = 0; i < n; i++)
        assert_true(map[i].size > 0);
}

static void bzimage_gets_rsdp(void **state)
{
    size_t len;
    uint8_t *k = lt_make_bzimage(64 * 1024, &len);
    struct load_request req = {.kernel = lt_temp_file(0, k, len),
                               .acpi_rsdp = RSDP,
                               .acpi_base = RSDP,
                               .acpi_len = ACPI_LEN};
    struct boot_entry e;
    char err[256] = "";
    if (loader_load(&gm, &req, &e, err, sizeof(err)))
        fail_msg("%s", err);
    struct boot_params bp;
    assert_int_equal(gm_read(&gm, LAYOUT_BOOT_PARAMS, &bp, sizeof(bp)), 0);
    assert_int_equal(offsetof(struct boot_params, acpi_rsdp_addr), 0x70);
    assert_int_equal(bp.acpi_rsdp_addr, RSDP);
    struct e820_entry map[E820_MAX_ENTRIES];
    for (int i = 0; i < bp.e820_entries; i++)
        map[i] = (struct e820_entry){bp.e820_table[i].addr, bp.e820_table[i].size,
                                     bp.e820_table[i].type};
    expect_acpi_map(map, bp.e820_entries);

    /* Without ACPI nothing is handed over. */
    req.acpi_rsdp = req.acpi_base = req.acpi_len = 0;
    assert_int_equal(loader_load(&gm, &req, &e, err, sizeof(err)), 0);
    assert_int_equal(gm_read(&gm, LAYOUT_BOOT_PARAMS, &bp, sizeof(bp)), 0);
    assert_int_equal(bp.acpi_rsdp_addr, 0);
    for (int i = 0; i < bp.e820_entries; i++)
        assert_int_not_equal(bp.e820_table[i].type, E820_ACPI);
    free(k);
}

static void pvh_gets_rsdp(void **state)
{
    static const struct lt_elf spec = {
        .with_pvh = true, .paddr = 0x200000, .filesz = 0x3000, .memsz = 0x5000, .entry = 0x200010};
    size_t len;
    uint8_t *k = lt_make_elf(&spec, &len);
    struct load_request req = {.kernel = lt_temp_file(0, k, len),
                               .acpi_rsdp = RSDP,
                               .acpi_base = RSDP,
                               .acpi_len = ACPI_LEN};
    struct boot_entry e;
    char err[256] = "";
    if (loader_load(&gm, &req, &e, err, sizeof(err)))
        fail_msg("%s", err);
    uint8_t si[56];
    assert_int_equal(gm_read(&gm, LAYOUT_PVH_START_INFO, si, sizeof(si)), 0);
    uint64_t rsdp, memmap;
    uint32_t n;
    memcpy(&rsdp, si + SI_RSDP, 8);
    memcpy(&memmap, si + SI_MEMMAP, 8);
    memcpy(&n, si + SI_ENTRIES, 4);
    assert_int_equal(rsdp, RSDP);
    struct e820_entry map[E820_MAX_ENTRIES];
    assert_true(n <= E820_MAX_ENTRIES);
    for (uint32_t i = 0; i < n; i++) {
        uint8_t ent[24];
        assert_int_equal(gm_read(&gm, memmap + 24 * i, ent, sizeof(ent)), 0);
        memcpy(&map[i].addr, ent, 8);
        memcpy(&map[i].size, ent + 8, 8);
        memcpy(&map[i].type, ent + 16, 4);
    }
    expect_acpi_map(map, (int)n);
    free(k);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(carve_splits_reserved_area),
        cmocka_unit_test(bzimage_gets_rsdp),
        cmocka_unit_test(pvh_gets_rsdp),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
