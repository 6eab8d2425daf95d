/* memory_access.c: edge cases of the guest-memory door (zero length, wrap, last byte, one past). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "vmm/base/memory.h"

#define RAM (64 * 1024)

static uint8_t ram[RAM];

static void span_refuses_zero_length(void **state)
{
    struct guest_mem gm;
    gm_init_host(&gm, ram, RAM);
    assert_null(gm_span(&gm, 0, 0));
}

static void span_last_byte_and_one_past(void **state)
{
    struct guest_mem gm;
    gm_init_host(&gm, ram, RAM);
    assert_ptr_equal(gm_span(&gm, RAM - 1, 1), ram + RAM - 1);
    assert_null(gm_span(&gm, RAM, 1));
    assert_null(gm_span(&gm, RAM - 1, 2));
    assert_ptr_equal(gm_span(&gm, 0, RAM), ram);
    assert_null(gm_span(&gm, 0, RAM + 1));
}

static void span_refuses_wraparound(void **state)
{
    struct guest_mem gm;
    gm_init_host(&gm, ram, RAM);
    assert_null(gm_span(&gm, UINT64_MAX, 2));
    assert_null(gm_span(&gm, 16, UINT64_MAX));
    assert_null(gm_span(&gm, UINT64_MAX - 15, 16));
}

static void read_write_copy_nothing_on_refusal(void **state)
{
    struct guest_mem gm;
    gm_init_host(&gm, ram, RAM);
    uint8_t buf[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    assert_int_equal(gm_write(&gm, RAM - 8, buf, 8), 0);
    assert_memory_equal(ram + RAM - 8, buf, 8);
    memset(ram + RAM - 4, 0xAA, 4);
    assert_int_equal(gm_write(&gm, RAM - 4, buf, 8), -1);
    assert_int_equal(ram[RAM - 4], 0xAA);
    uint8_t out[8];
    memset(out, 0x55, sizeof(out));
    assert_int_equal(gm_read(&gm, RAM - 4, out, 8), -1);
    assert_int_equal(out[0], 0x55);
}

static void private_pages_refused_for_devices(void **state)
{
    struct guest_mem gm;
    gm_init_host(&gm, ram, RAM);
    assert_int_equal(gm_enable_private(&gm), 0);
    assert_null(gm_span(&gm, 0, 1));
    assert_non_null(gm_span_loader(&gm, 0, 1));
    assert_int_equal(gm_set_private(&gm, 4096, 4096, false), 0);
    assert_non_null(gm_span(&gm, 4096, 4096));
    assert_null(gm_span(&gm, 4096, 4097)); /* last byte in the next, private page */
    assert_null(gm_span(&gm, 4095, 2));    /* first byte in the previous, private page */
    assert_true(gm_is_private(&gm, 8192));
    assert_false(gm_is_private(&gm, 4096));
    assert_int_equal(gm_set_private(&gm, RAM - 1, 2, false), -1);
    free(gm.private_bits);
}

static void init_allocates_split_layout(void **state)
{
    struct guest_mem gm;
    char err[128];
    assert_int_equal(gm_init(&gm, 16 << 20, err, sizeof(err)), 0);
    assert_int_equal(gm.nr_regions, 1);
    assert_non_null(gm_span(&gm, (16 << 20) - 1, 1));
    assert_null(gm_span(&gm, 16 << 20, 1));
    gm_destroy(&gm);
    assert_int_equal(gm_init(&gm, 12345, err, sizeof(err)), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(span_refuses_zero_length),
        cmocka_unit_test(span_last_byte_and_one_past),
        cmocka_unit_test(span_refuses_wraparound),
        cmocka_unit_test(read_write_copy_nothing_on_refusal),
        cmocka_unit_test(private_pages_refused_for_devices),
        cmocka_unit_test(init_allocates_split_layout),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
