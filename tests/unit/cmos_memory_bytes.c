/* cmos_memory_bytes: the CMOS bytes PC firmware sizes memory from without etc/e820 (SeaBIOS
 * qemu_preinit, edk2 PlatformGetSystemMemorySizeBelow4gb/Above4gb), as QEMU's pc_cmos_init sets
 * them, for 128 MiB, 3 GiB and 8 GiB (cocoon: RAM up to 3 GiB below the hole, the rest from
 * 4 GiB); and the RTC registers edk2 PcRtcInit and SeaBIOS rtc_setup require (VRT set, UIP
 * clear, BCD or binary time of the host's UTC clock). */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

#include "devices/cmos.h"

static uint8_t rd(struct cmos *c, uint8_t reg)
{
    uint8_t v;
    cmos_io(c, 0, &reg, 1, true);
    cmos_io(c, 1, &v, 1, false);
    return v;
}

static void wr(struct cmos *c, uint8_t reg, uint8_t v)
{
    cmos_io(c, 0, &reg, 1, true);
    cmos_io(c, 1, &v, 1, true);
}

struct want {
    uint64_t below, above;
    uint16_t base_kib, ext_kib, above16;
    uint32_t above4g;
};

static void memory_bytes(void **state)
{
    (void)state;
    const uint64_t mib = 1ULL << 20, gib = 1ULL << 30;
    static const struct want cases[] = {
        /* 128 MiB: (128-1) MiB in KiB = 130048 -> capped 0xFFFF; (128-16) MiB / 64 KiB = 1792 */
        {128 * mib, 0, 640, 0xFFFF, 1792, 0},
        /* 3 GiB, all below the hole: (3072-16) MiB / 64 KiB = 48896 */
        {3 * gib, 0, 640, 0xFFFF, 48896, 0},
        /* 8 GiB: 3 GiB below, 5 GiB above: 5 GiB / 64 KiB = 81920 = 0x014000 */
        {3 * gib, 5 * gib, 640, 0xFFFF, 48896, 81920},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const struct want *w = &cases[i];
        struct cmos *c = calloc(1, sizeof(*c));
        cmos_init(c, w->below, w->above, 4);
        assert_int_equal(rd(c, 0x15) | rd(c, 0x16) << 8, w->base_kib);
        assert_int_equal(rd(c, 0x17) | rd(c, 0x18) << 8, w->ext_kib);
        assert_int_equal(rd(c, 0x30) | rd(c, 0x31) << 8, w->ext_kib);
        assert_int_equal(rd(c, 0x34) | rd(c, 0x35) << 8, w->above16);
        assert_int_equal(rd(c, 0x5B) | rd(c, 0x5C) << 8 | (uint32_t)rd(c, 0x5D) << 16, w->above4g);
        assert_int_equal(rd(c, 0x5F), 3);          /* vCPUs - 1 */
        assert_int_equal(rd(c, CMOS_SHUTDOWN), 0); /* never 0xFE (OVMF's S3 resume) */
        cmos_free(c);
    }
    /* 20 MiB: extended KiB below the cap (19456) and 4 MiB above 16 MiB = 64 units */
    uint8_t ram[CMOS_SIZE] = {0};
    cmos_set_memory(ram, 20 * mib, 0, 1);
    assert_int_equal(ram[0x17] | ram[0x18] << 8, 19456);
    assert_int_equal(ram[0x34] | ram[0x35] << 8, 64);
}

static unsigned from_bcd(uint8_t v)
{
    return (v >> 4) * 10 + (v & 15);
}

static void rtc_registers(void **state)
{
    (void)state;
    struct cmos *c = calloc(1, sizeof(*c));
    cmos_init(c, 256ULL << 20, 0, 1);
    assert_int_equal(rd(c, CMOS_REG_D) & CMOS_D_VRT, CMOS_D_VRT);
    wr(c, CMOS_REG_D, 0); /* edk2 writes D = 0 and then requires VRT */
    assert_int_equal(rd(c, CMOS_REG_D) & CMOS_D_VRT, CMOS_D_VRT);
    wr(c, CMOS_REG_A, 0xA6);
    assert_int_equal(rd(c, CMOS_REG_A) & 0x80, 0); /* UIP never set */
    assert_int_equal(rd(c, CMOS_REG_B), CMOS_B_24H);
    for (int binary = 0; binary < 2; binary++) {
        wr(c, CMOS_REG_B, binary ? CMOS_B_24H | CMOS_B_BINARY : CMOS_B_24H);
        for (int tries = 0; tries < 3; tries++) {
            time_t t0 = time(NULL);
            uint8_t r[8] = {rd(c, CMOS_SECONDS), rd(c, CMOS_MINUTES), rd(c, CMOS_HOURS),
                            rd(c, CMOS_DAY),     rd(c, CMOS_MONTH),   rd(c, CMOS_YEAR),
                            rd(c, CMOS_CENTURY), rd(c, CMOS_WEEKDAY)};
            if (time(NULL) != t0)
                continue; /* a second passed mid-read: read again */
            struct tm tm;
            gmtime_r(&t0, &tm);
            unsigned v[8];
            for (int i = 0; i < 8; i++)
                v[i] = binary ? r[i] : from_bcd(r[i]);
            assert_int_equal(v[0], (unsigned)tm.tm_sec);
            assert_int_equal(v[1], (unsigned)tm.tm_min);
            assert_int_equal(v[2], (unsigned)tm.tm_hour);
            assert_int_equal(v[3], (unsigned)tm.tm_mday);
            assert_int_equal(v[4], (unsigned)tm.tm_mon + 1);
            assert_int_equal(v[5], (unsigned)tm.tm_year % 100);
            assert_int_equal(v[6], (unsigned)(tm.tm_year / 100 + 19));
            assert_int_equal(v[7], (unsigned)tm.tm_wday + 1);
            break;
        }
    }
    wr(c, CMOS_SECONDS, 0x99); /* ignored: the clock follows the host */
    wr(c, 0x40, 0x5A);         /* NVRAM keeps what is written */
    assert_int_equal(rd(c, 0x40), 0x5A);
    uint8_t idx;
    cmos_io(c, 0, &idx, 1, false);
    assert_int_equal(idx, 0xFF); /* the index port is write-only */
    uint16_t wide = 0;
    cmos_io(c, 1, &wide, 2, false);
    assert_int_equal(wide, 0xFFFF); /* byte registers only */
    cmos_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(memory_bytes),
        cmocka_unit_test(rtc_registers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
