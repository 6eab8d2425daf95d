/* e820.c: the guest memory map built from guest-memory regions (low split, EBDA hole, high RAM). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "vmm/e820.h"
#include "vmm/loader.h"

#define MIB (1ULL << 20)
#define GIB (1ULL << 30)

/* A guest_mem with the region layout gm_init uses, without backing memory. */
static void fake_gm(struct guest_mem *gm, uint64_t ram)
{
    memset(gm, 0, sizeof(*gm));
    uint64_t low = ram < GM_LOW_RAM_END ? ram : GM_LOW_RAM_END;
    gm->region[0] = (struct gm_region){.gpa = 0, .size = low};
    gm->nr_regions = 1;
    if (ram > low) {
        gm->region[1] = (struct gm_region){.gpa = GM_HIGH_RAM_START, .size = ram - low};
        gm->nr_regions = 2;
    }
    gm->ram_size = ram;
}

static void assert_entry(const struct e820_entry *e, uint64_t addr, uint64_t size, uint32_t type)
{
    assert_int_equal(e->addr, addr);
    assert_int_equal(e->size, size);
    assert_int_equal(e->type, type);
}

static void low_memory_only(void **state)
{
    struct guest_mem gm;
    struct e820_entry map[E820_MAX_ENTRIES];
    fake_gm(&gm, 512 * MIB);
    assert_int_equal(e820_build(&gm, map, E820_MAX_ENTRIES), 3);
    assert_entry(&map[0], 0, LAYOUT_EBDA, E820_RAM);
    assert_entry(&map[1], LAYOUT_EBDA, MIB - LAYOUT_EBDA, E820_RESERVED);
    assert_entry(&map[2], MIB, 511 * MIB, E820_RAM);
}

static void high_memory_above_4g(void **state)
{
    struct guest_mem gm;
    struct e820_entry map[E820_MAX_ENTRIES];
    fake_gm(&gm, 8 * GIB);
    assert_int_equal(e820_build(&gm, map, E820_MAX_ENTRIES), 4);
    assert_entry(&map[2], MIB, GM_LOW_RAM_END - MIB, E820_RAM);
    assert_entry(&map[3], GM_HIGH_RAM_START, 8 * GIB - GM_LOW_RAM_END, E820_RAM);
    /* The PCI/APIC hole is in no entry. */
    for (int i = 0; i < 4; i++)
        assert_false(map[i].addr < 0xFEE00000ULL && map[i].addr + map[i].size > 0xFEE00000ULL);
}

static void exactly_low_ram_end_has_no_high_entry(void **state)
{
    struct guest_mem gm;
    struct e820_entry map[E820_MAX_ENTRIES];
    fake_gm(&gm, GM_LOW_RAM_END);
    assert_int_equal(e820_build(&gm, map, E820_MAX_ENTRIES), 3);
    assert_int_equal(map[2].addr + map[2].size, GM_LOW_RAM_END);
}

static void tiny_ram_below_ebda(void **state)
{
    struct guest_mem gm;
    struct e820_entry map[E820_MAX_ENTRIES];
    fake_gm(&gm, 64 * 1024);
    assert_int_equal(e820_build(&gm, map, E820_MAX_ENTRIES), 2);
    assert_entry(&map[0], 0, 64 * 1024, E820_RAM);
    assert_entry(&map[1], LAYOUT_EBDA, MIB - LAYOUT_EBDA, E820_RESERVED);
}

static void sorted_and_disjoint(void **state)
{
    struct guest_mem gm;
    struct e820_entry map[E820_MAX_ENTRIES];
    fake_gm(&gm, 6 * GIB);
    int n = e820_build(&gm, map, E820_MAX_ENTRIES);
    assert_true(n > 0);
    for (int i = 1; i < n; i++)
        assert_true(map[i - 1].addr + map[i - 1].size <= map[i].addr);
}

static void table_too_small_is_refused(void **state)
{
    struct guest_mem gm;
    struct e820_entry map[E820_MAX_ENTRIES];
    fake_gm(&gm, 8 * GIB);
    assert_int_equal(e820_build(&gm, map, 3), -1);
    assert_int_equal(e820_build(&gm, map, 0), -1);
}

static void no_ram_at_zero_is_refused(void **state)
{
    struct guest_mem gm;
    struct e820_entry map[E820_MAX_ENTRIES];
    memset(&gm, 0, sizeof(gm));
    gm.region[0] = (struct gm_region){.gpa = GM_HIGH_RAM_START, .size = GIB};
    gm.nr_regions = 1;
    assert_int_equal(e820_build(&gm, map, E820_MAX_ENTRIES), -1);
}

static void matches_gm_init_layout(void **state)
{
    struct guest_mem gm;
    char err[256];
    assert_int_equal(gm_init(&gm, 64 * MIB, err, sizeof(err)), 0);
    struct e820_entry map[E820_MAX_ENTRIES];
    assert_int_equal(e820_build(&gm, map, E820_MAX_ENTRIES), 3);
    assert_entry(&map[2], MIB, 63 * MIB, E820_RAM);
    gm_destroy(&gm);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(low_memory_only),
        cmocka_unit_test(high_memory_above_4g),
        cmocka_unit_test(exactly_low_ram_end_has_no_high_entry),
        cmocka_unit_test(tiny_ram_below_ebda),
        cmocka_unit_test(sorted_and_disjoint),
        cmocka_unit_test(table_too_small_is_refused),
        cmocka_unit_test(no_ram_at_zero_is_refused),
        cmocka_unit_test(matches_gm_init_layout),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
