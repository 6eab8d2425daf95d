/* boot_params.c: the bzImage zero page, e820 table, command line, initramfs, page tables and GDT.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <asm/bootparam.h>

#include "support/loader_files.h"
#include "vmm/e820.h"
#include "vmm/loader.h"

#define MIB (1ULL << 20)

static bool real_kernel_missing;

struct loaded {
    struct guest_mem gm;
    struct boot_entry entry;
    struct boot_params bp;
    uint8_t *file;
    size_t file_len;
    uint8_t initrd[3 * 4096 + 123];
};

static int load_synthetic(void **state, uint64_t ram, uint32_t initrd_addr_max)
{
    struct loaded *l = calloc(1, sizeof(*l));
    char err[256];
    if (!l || gm_init(&l->gm, ram, err, sizeof(err)))
        return -1;
    l->file = lt_make_bzimage(64 * 1024, &l->file_len);
    lt_put32(l->file + LT_INITRD_ADDR_MAX, initrd_addr_max);
    for (size_t i = 0; i < sizeof(l->initrd); i++)
        l->initrd[i] = (uint8_t)(i ^ 0x5a);
    struct load_request req = {
        .kernel = lt_temp_file(0, l->file, l->file_len),
        .initramfs = lt_temp_file(1, l->initrd, sizeof(l->initrd)),
        .cmdline = "console=ttyS0 earlyprintk=serial nokaslr",
    };
    if (loader_load(&l->gm, &req, &l->entry, err, sizeof(err))) {
        fprintf(stderr, "loader_load: %s\n", err);
        return -1;
    }
    memcpy(&l->bp, gm_span(&l->gm, LAYOUT_BOOT_PARAMS, sizeof(l->bp)), sizeof(l->bp));
    *state = l;
    return 0;
}

static int setup_64m(void **state)
{
    return load_synthetic(state, 64 * MIB, 0x7fffffff);
}

static int setup_initrd_max_low(void **state)
{
    return load_synthetic(state, 64 * MIB, 0x02ffffff);
}

static int teardown(void **state)
{
    struct loaded *l = *state;
    gm_destroy(&l->gm);
    free(l->file);
    free(l);
    lt_cleanup();
    return 0;
}

static void header_copied_and_loader_fields_set(void **state)
{
    struct loaded *l = *state;
    assert_memory_equal(&l->bp.hdr.header, "HdrS", 4);
    assert_int_equal(l->bp.hdr.version, 0x020f);
    assert_int_equal(l->bp.hdr.boot_flag, 0xAA55);
    assert_int_equal(l->bp.hdr.vid_mode, 0xffff);
    assert_int_equal(l->bp.hdr.kernel_alignment, 0x200000);
    assert_int_equal(l->bp.hdr.init_size, 0x800000);
    assert_int_equal(l->bp.hdr.type_of_loader, 0xff);
    assert_int_equal(l->bp.hdr.code32_start, LAYOUT_KERNEL);
    assert_int_equal(l->bp.hdr.cmd_line_ptr, LAYOUT_CMDLINE);
    assert_int_equal(l->bp.ext_cmd_line_ptr, 0);
    assert_true(l->bp.hdr.loadflags & LOADED_HIGH);
    /* Outside the header everything but the e820 table is zero. */
    assert_int_equal(l->bp.acpi_rsdp_addr, 0);
    assert_int_equal(l->bp.sentinel, 0);
}

static void command_line_in_guest_memory(void **state)
{
    struct loaded *l = *state;
    const char *want = "console=ttyS0 earlyprintk=serial nokaslr";
    const char *got = gm_span(&l->gm, LAYOUT_CMDLINE, strlen(want) + 1);
    assert_non_null(got);
    assert_string_equal(got, want);
}

static void e820_table_in_zero_page(void **state)
{
    struct loaded *l = *state;
    assert_int_equal(l->bp.e820_entries, 3);
    assert_int_equal(l->bp.e820_table[0].addr, 0);
    assert_int_equal(l->bp.e820_table[0].size, LAYOUT_EBDA);
    assert_int_equal(l->bp.e820_table[0].type, E820_RAM);
    assert_int_equal(l->bp.e820_table[1].addr, LAYOUT_EBDA);
    assert_int_equal(l->bp.e820_table[1].type, E820_RESERVED);
    assert_int_equal(l->bp.e820_table[2].addr, MIB);
    assert_int_equal(l->bp.e820_table[2].size, 63 * MIB);
    assert_int_equal(l->bp.e820_table[2].type, E820_RAM);
    assert_int_equal(l->bp.e820_table[3].size, 0);
}

static void initramfs_high_and_page_aligned(void **state)
{
    struct loaded *l = *state;
    uint64_t gpa = l->bp.hdr.ramdisk_image | (uint64_t)l->bp.ext_ramdisk_image << 32;
    uint64_t size = l->bp.hdr.ramdisk_size | (uint64_t)l->bp.ext_ramdisk_size << 32;
    assert_int_equal(size, sizeof(l->initrd));
    assert_int_equal(gpa % 4096, 0);
    /* As high as possible: within one page of the top of RAM. */
    assert_true(gpa + size <= 64 * MIB);
    assert_true(gpa + size + 4096 > 64 * MIB);
    /* Above the decompressed kernel: pref_address + init_size. */
    assert_true(gpa >= 0x1000000 + 0x800000);
    assert_memory_equal(gm_span(&l->gm, gpa, size), l->initrd, size);
}

static void initramfs_below_initrd_addr_max(void **state)
{
    struct loaded *l = *state;
    uint64_t gpa = l->bp.hdr.ramdisk_image;
    uint64_t size = l->bp.hdr.ramdisk_size;
    assert_true(gpa + size <= 0x03000000);
    assert_true(gpa + size + 4096 > 0x03000000);
    assert_int_equal(gpa % 4096, 0);
}

static void kernel_code_and_entry(void **state)
{
    struct loaded *l = *state;
    const size_t setup = 5 * 512;
    assert_memory_equal(gm_span(&l->gm, LAYOUT_KERNEL, l->file_len - setup), l->file + setup,
                        l->file_len - setup);
    assert_int_equal(l->entry.kind, BOOT_BZIMAGE64);
    assert_int_equal(l->entry.rip, LAYOUT_KERNEL + 0x200);
    assert_int_equal(l->entry.rsi, LAYOUT_BOOT_PARAMS);
    assert_int_equal(l->entry.cr3, LAYOUT_PAGE_TABLES);
    assert_int_equal(l->entry.cs, BOOT_SEL_CODE64);
    assert_int_equal(l->entry.ds, BOOT_SEL_DATA);
}

static void identity_page_tables_cover_4g(void **state)
{
    struct loaded *l = *state;
    const uint8_t *pt = gm_span(&l->gm, LAYOUT_PAGE_TABLES, 6 * 4096);
    assert_non_null(pt);
    uint64_t pml4e = lt_get64(pt);
    assert_int_equal(pml4e & 1, 1);
    uint64_t pdpt = pml4e & ~0xfffULL;
    assert_true(pdpt >= LAYOUT_PAGE_TABLES && pdpt < LAYOUT_PAGE_TABLES_END);
    assert_int_equal(lt_get64(pt + 8), 0); /* nothing above 512 GiB */
    /* Walk a few addresses through PDPT and PD: every 2 MiB page maps to itself. */
    const uint64_t probes[] = {0, 0x200000, 0x1000000, 0xBFE00000ULL, 0xFEE00000ULL, 0xFFE00000ULL};
    for (size_t i = 0; i < sizeof(probes) / sizeof(probes[0]); i++) {
        uint64_t va = probes[i];
        uint64_t pdpte = lt_get64(pt + (pdpt - LAYOUT_PAGE_TABLES) + ((va >> 30) & 511) * 8);
        assert_int_equal(pdpte & 3, 3);
        uint64_t pd = pdpte & ~0xfffULL;
        assert_true(pd >= LAYOUT_PAGE_TABLES && pd + 4096 <= LAYOUT_PAGE_TABLES_END);
        uint64_t pde = lt_get64(pt + (pd - LAYOUT_PAGE_TABLES) + ((va >> 21) & 511) * 8);
        assert_int_equal(pde & 0x83, 0x83);
        assert_int_equal(pde & ~0x1fffffULL, va);
    }
    /* The fifth PDPT entry (4 GiB and up) is not present. */
    assert_int_equal(lt_get64(pt + (pdpt - LAYOUT_PAGE_TABLES) + 4 * 8), 0);
}

static void gdt_has_boot_selectors(void **state)
{
    struct loaded *l = *state;
    assert_int_equal(l->entry.gdt_base, LAYOUT_GDT);
    assert_int_equal(l->entry.gdt_limit, BOOT_GDT_LIMIT);
    const uint8_t *gdt = gm_span(&l->gm, LAYOUT_GDT, BOOT_GDT_LIMIT + 1);
    assert_non_null(gdt);
    assert_int_equal(lt_get64(gdt), 0);
    uint64_t cs64 = lt_get64(gdt + BOOT_SEL_CODE64);
    assert_true(cs64 & (1ULL << 53));            /* L */
    assert_false(cs64 & (1ULL << 54));           /* D must be 0 with L */
    assert_true(cs64 & (1ULL << 47));            /* present */
    assert_int_equal((cs64 >> 40) & 0x18, 0x18); /* code segment */
    uint64_t cs32 = lt_get64(gdt + BOOT_SEL_CODE32);
    assert_true(cs32 & (1ULL << 54)); /* D: 32-bit */
    assert_false(cs32 & (1ULL << 53));
    uint64_t ds = lt_get64(gdt + BOOT_SEL_DATA);
    assert_int_equal((ds >> 40) & 0x1a, 0x12);                           /* writable data */
    assert_int_equal((lt_get64(gdt + BOOT_SEL_TSS) >> 40) & 0x9f, 0x8b); /* busy TSS, present */
}

static void debian_bzimage_boot_params(void **state)
{
    const char *path = lt_debian_kernel(COCOON_BINARY_DIR, "bzImage");
    if (!path) {
        real_kernel_missing = true;
        skip();
    }
    struct guest_mem gm;
    char err[256];
    assert_int_equal(gm_init(&gm, 512 * MIB, err, sizeof(err)), 0);
    uint8_t initrd[8192] = {1, 2, 3};
    struct load_request req = {
        .kernel = path,
        .initramfs = lt_temp_file(1, initrd, sizeof(initrd)),
        .cmdline = "console=ttyS0 earlyprintk=serial nokaslr",
    };
    struct boot_entry e;
    int rc = loader_load(&gm, &req, &e, err, sizeof(err));
    if (rc)
        fail_msg("%s", err);
    struct boot_params bp;
    memcpy(&bp, gm_span(&gm, LAYOUT_BOOT_PARAMS, sizeof(bp)), sizeof(bp));
    assert_true(bp.hdr.version >= 0x020c);
    assert_true(bp.hdr.xloadflags & XLF_KERNEL_64);
    assert_int_equal(bp.hdr.type_of_loader, 0xff);
    assert_int_equal(bp.e820_entries, 3);
    assert_int_equal(bp.e820_table[2].addr + bp.e820_table[2].size, 512 * MIB);
    uint64_t kernel_end = bp.hdr.pref_address + bp.hdr.init_size;
    assert_true(bp.hdr.ramdisk_image >= kernel_end);
    assert_true(bp.hdr.ramdisk_image + bp.hdr.ramdisk_size <= 512 * MIB);
    assert_int_equal(bp.hdr.ramdisk_size, sizeof(initrd));
    assert_int_equal(e.rip, LAYOUT_KERNEL + 0x200);
    gm_destroy(&gm);
    lt_cleanup();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(header_copied_and_loader_fields_set, setup_64m, teardown),
        cmocka_unit_test_setup_teardown(command_line_in_guest_memory, setup_64m, teardown),
        cmocka_unit_test_setup_teardown(e820_table_in_zero_page, setup_64m, teardown),
        cmocka_unit_test_setup_teardown(initramfs_high_and_page_aligned, setup_64m, teardown),
        cmocka_unit_test_setup_teardown(initramfs_below_initrd_addr_max, setup_initrd_max_low,
                                        teardown),
        cmocka_unit_test_setup_teardown(kernel_code_and_entry, setup_64m, teardown),
        cmocka_unit_test_setup_teardown(identity_page_tables_cover_4g, setup_64m, teardown),
        cmocka_unit_test_setup_teardown(gdt_has_boot_selectors, setup_64m, teardown),
        cmocka_unit_test(debian_bzimage_boot_params),
    };
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    if (failed == 0 && real_kernel_missing) {
        fprintf(stderr, "SKIP: Debian kernel not fetched (tests/scripts/fetch-debian-kernel.sh)\n");
        return 77;
    }
    return failed;
}
