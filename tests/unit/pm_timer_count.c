/* pm_timer_count: the ACPI PM timer counts at 3.579545 MHz (ACPI 6.x 4.8.3.3; edk2
 * ACPI_TIMER_FREQUENCY; SeaBIOS PMTIMER_HZ) and wraps at 24 bits, which is what a FADT with
 * TMR_VAL_EXT clear says and what edk2 InternalAcpiDelay / SeaBIOS timer_read assume; the register
 * reads through the bus at PMBASE + 8 once the firmware programs the ICH9 LPC (devices/q35.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

#include "devices/pm_timer.h"

static struct timespec ts(int64_t sec, long nsec)
{
    return (struct timespec){.tv_sec = (time_t)sec, .tv_nsec = nsec};
}

static void counts_at_3579545_hz(void **state)
{
    (void)state;
    struct timespec e = ts(1000, 500000000), n;
    n = ts(1000, 500000000);
    assert_int_equal(pm_timer_count(&e, &n), 0);
    n = ts(1001, 500000000); /* one second: 3579545 ticks (below 2^24) */
    assert_int_equal(pm_timer_count(&e, &n), 3579545);
    n = ts(1000, 500001000); /* one microsecond: 3.58 ticks -> 3 */
    assert_int_equal(pm_timer_count(&e, &n), 3);
    n = ts(1002, 0); /* 1.5 s across a second boundary of the clock */
    assert_int_equal(pm_timer_count(&e, &n), 3579545 + 3579545 / 2);
    n = ts(999, 0); /* before the epoch: 0, never garbage */
    assert_int_equal(pm_timer_count(&e, &n), 0);
}

static void wraps_at_24_bits(void **state)
{
    (void)state;
    struct timespec e = ts(0, 0), n;
    /* 2^24 ticks = 4.686902 s: just before, the count is near 0xFFFFFF; just after, near 0 */
    n = ts(4, 686000000);
    uint32_t before = pm_timer_count(&e, &n);
    n = ts(4, 687000000);
    uint32_t after = pm_timer_count(&e, &n);
    assert_true(before > 0xFFF000 && before <= PM_TIMER_MASK);
    assert_true(after < 0x1000);
    /* every value is 24-bit, also after a month of uptime (no 64-bit overflow either) */
    for (int64_t s = 0; s < 3000000; s += 99991) {
        n = ts(s, 123456789);
        uint32_t v = pm_timer_count(&e, &n);
        assert_true(v <= PM_TIMER_MASK);
        uint64_t exact = (uint64_t)s * 3579545ULL + 123456789ULL * 3579545ULL / 1000000000ULL;
        assert_int_equal(v, exact & 0xFFFFFF);
    }
}

static void register_reads_like_hardware(void **state)
{
    (void)state;
    struct timespec epoch;
    clock_gettime(CLOCK_MONOTONIC, &epoch);
    uint32_t a = 0, b = 0;
    pm_timer_io(&epoch, 0, &a, 4, false);
    struct timespec sleep = ts(0, 20000000);
    nanosleep(&sleep, NULL);
    pm_timer_io(&epoch, 0, &b, 4, false);
    uint32_t d = (b - a) & PM_TIMER_MASK; /* 20 ms = 71591 ticks, allow scheduling slack */
    assert_true(d >= 71000 && d < 71591 * 50);
    assert_int_equal(b >> 24, 0);
    uint8_t hi = 0xAA;
    pm_timer_io(&epoch, 3, &hi, 1, false); /* the top byte of a 24-bit timer reads 0 */
    assert_int_equal(hi, 0);
    uint32_t w = 0x12345678;
    pm_timer_io(&epoch, 0, &w, 4, true); /* writes are ignored */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(counts_at_3579545_hz),
        cmocka_unit_test(wraps_at_24_bits),
        cmocka_unit_test(register_reads_like_hardware),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
