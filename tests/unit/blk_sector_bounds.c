/* blk_sector_bounds.c: virtio-blk sector arithmetic: end of disk, partial sectors, the 2^64 edge.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "devices/blk_req.h"

#define CAP 2048ULL /* 1 MiB disk */

static void inside_and_exact_end(void **state)
{
    uint64_t off = 1;
    assert_true(blk_sector_range_ok(0, 512, CAP, &off));
    assert_int_equal(off, 0);
    assert_true(blk_sector_range_ok(CAP - 1, 512, CAP, &off));
    assert_int_equal(off, (CAP - 1) * 512);
    assert_true(blk_sector_range_ok(0, CAP * 512, CAP, NULL));
    /* zero-length access at the very end is in bounds, one sector further is not */
    assert_true(blk_sector_range_ok(CAP, 0, CAP, NULL));
    assert_false(blk_sector_range_ok(CAP + 1, 0, CAP, NULL));
}

static void past_the_end(void **state)
{
    assert_false(blk_sector_range_ok(CAP, 512, CAP, NULL));
    assert_false(blk_sector_range_ok(CAP - 1, 1024, CAP, NULL));
    assert_false(blk_sector_range_ok(0, CAP * 512 + 512, CAP, NULL));
}

static void partial_sectors_refused(void **state)
{
    assert_false(blk_sector_range_ok(0, 1, CAP, NULL));
    assert_false(blk_sector_range_ok(0, 511, CAP, NULL));
    assert_false(blk_sector_range_ok(0, 513, CAP, NULL));
}

static void edge_of_2_64(void **state)
{
    uint64_t huge = UINT64_MAX; /* a disk claiming every sector */
    /* sector * 512 overflows u64 */
    assert_false(blk_sector_range_ok(UINT64_MAX, 512, huge, NULL));
    assert_false(blk_sector_range_ok(UINT64_MAX >> 9 | 1ULL << 55, 0, huge, NULL));
    assert_false(blk_sector_range_ok((UINT64_MAX >> 9) + 1, 0, huge, NULL));
    /* the last sector whose byte offset still fits */
    uint64_t last = UINT64_MAX >> 9;
    uint64_t off = 0;
    assert_true(blk_sector_range_ok(last - 1, 512, huge, &off));
    assert_int_equal(off, (last - 1) << 9);
    /* offset fits but offset + len wraps */
    assert_false(blk_sector_range_ok(last, UINT64_MAX - 511, huge, NULL));
    assert_false(blk_sector_range_ok(1, UINT64_MAX - 511, huge, NULL));
    /* len near 2^64 against a normal disk */
    assert_false(blk_sector_range_ok(0, UINT64_MAX - 511, CAP, NULL));
    assert_false(blk_sector_range_ok(CAP - 1, 1ULL << 63, CAP, NULL));
}

static void empty_disk(void **state)
{
    assert_true(blk_sector_range_ok(0, 0, 0, NULL));
    assert_false(blk_sector_range_ok(0, 512, 0, NULL));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(inside_and_exact_end),
        cmocka_unit_test(past_the_end),
        cmocka_unit_test(partial_sectors_refused),
        cmocka_unit_test(edge_of_2_64),
        cmocka_unit_test(empty_disk),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
