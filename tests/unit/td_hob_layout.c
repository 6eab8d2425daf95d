/* td_hob_layout.c: the TD HOB TDVF reads: hand-off table, RAM carved around accepted sections
 * (system memory) into unaccepted memory, sorted, end of list; bad input refused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "firmware/td_hob.h"

static uint64_t ld(const uint8_t *p, size_t n)
{
    uint64_t v = 0;
    memcpy(&v, p, n);
    return v;
}

static void carves_ram_around_accepted_sections(void **state)
{
    const struct td_hob_range ram[] = {{0x100000000ULL, 0x40000000ULL, 0}, {0, 0xC0000000ULL, 0}};
    const struct td_hob_range acc[] = {{0x810000, 0x10000, 1},
                                       {0x80b000, 0x2000, 1},
                                       {0x809000, 0x2000, 1},
                                       {0x800000, 0x6000, 1}};
    static const struct {
        uint32_t type;
        uint64_t start, len;
    } want[] = {
        {7, 0, 0x800000},
        {0, 0x800000, 0x6000},
        {7, 0x806000, 0x3000},
        {0, 0x809000, 0x2000},
        {0, 0x80b000, 0x2000},
        {7, 0x80d000, 0x3000},
        {0, 0x810000, 0x10000},
        {7, 0x820000, 0xC0000000ULL - 0x820000},
        {7, 0x100000000ULL, 0x40000000ULL},
    };
    uint8_t buf[4096];
    memset(buf, 0xcc, sizeof(buf));
    size_t n = td_hob_build(buf, sizeof(buf), 0x809000, ram, 2, acc, 4);
    size_t nwant = sizeof(want) / sizeof(want[0]);
    assert_int_equal(n, 56 + 48 * nwant + 8);
    assert_int_equal(ld(buf, 2), 0x0001); /* hand-off table */
    assert_int_equal(ld(buf + 2, 2), 56);
    assert_int_equal(ld(buf + 8, 4), 0x0009);        /* version */
    assert_int_equal(ld(buf + 48, 8), 0x809000 + n); /* EfiEndOfHobList */
    for (size_t i = 0; i < nwant; i++) {
        const uint8_t *r = buf + 56 + 48 * i;
        assert_int_equal(ld(r, 2), 0x0003);
        assert_int_equal(ld(r + 2, 2), 48);
        for (int b = 8; b < 24; b++)
            assert_int_equal(r[b], 0); /* owner GUID */
        assert_int_equal(ld(r + 24, 4), want[i].type);
        assert_int_equal(ld(r + 28, 4), 0x7);
        assert_int_equal(ld(r + 32, 8), want[i].start);
        assert_int_equal(ld(r + 40, 8), want[i].len);
    }
    const uint8_t *end = buf + 56 + 48 * nwant;
    assert_int_equal(ld(end, 2), 0xffff);
    assert_int_equal(ld(end + 2, 2), 8);
    assert_int_equal(buf[n], 0xcc); /* nothing written past the end */
}

static void refuses_bad_input(void **state)
{
    uint8_t buf[4096];
    const struct td_hob_range ram[] = {{0, 0x1000000, 0}};
    const struct td_hob_range overlap[] = {{0x800000, 0x2000, 1}, {0x801000, 0x2000, 1}};
    const struct td_hob_range unaligned[] = {{0x800800, 0x1000, 1}};
    const struct td_hob_range wraps[] = {{0xfffffffffffff000ULL, 0x2000, 1}};
    assert_int_equal(td_hob_build(buf, sizeof(buf), 0, ram, 1, overlap, 2), 0);
    assert_int_equal(td_hob_build(buf, sizeof(buf), 0, ram, 1, unaligned, 1), 0);
    assert_int_equal(td_hob_build(buf, sizeof(buf), 0, ram, 1, wraps, 1), 0);
    assert_int_equal(td_hob_build(buf, 100, 0, ram, 1, NULL, 0), 0); /* too small */
    assert_int_equal(td_hob_build(buf, 56 + 48 + 8, 0, ram, 1, NULL, 0), 56 + 48 + 8);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(carves_ram_around_accepted_sections),
        cmocka_unit_test(refuses_bad_input),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
