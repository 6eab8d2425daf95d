/* cmos.c: MC146818 RTC + CMOS RAM (ports 0x70/0x71): wall-clock registers and memory-size bytes. */
#include "devices/cmos.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

static void put16(uint8_t *ram, unsigned at, uint64_t v)
{
    ram[at] = (uint8_t)v;
    ram[at + 1] = (uint8_t)(v >> 8);
}

void cmos_set_memory(uint8_t ram[CMOS_SIZE], uint64_t below_4g, uint64_t above_4g, unsigned nr_cpus)
{
    const uint64_t kib = 1024, mib = 1024 * 1024;
    uint64_t base = below_4g / kib < 640 ? below_4g / kib : 640;
    put16(ram, 0x15, base);
    uint64_t ext = below_4g > mib ? (below_4g - mib) / kib : 0;
    ext = ext > 0xFFFF ? 0xFFFF : ext;
    put16(ram, 0x17, ext);
    put16(ram, 0x30, ext);
    uint64_t above16 = below_4g > 16 * mib ? (below_4g - 16 * mib) / (64 * kib) : 0;
    put16(ram, 0x34, above16 > 0xFFFF ? 0xFFFF : above16);
    uint64_t high = above_4g / (64 * kib);
    ram[0x5B] = (uint8_t)high;
    ram[0x5C] = (uint8_t)(high >> 8);
    ram[0x5D] = (uint8_t)(high >> 16);
    ram[0x5F] = (uint8_t)(nr_cpus ? nr_cpus - 1 : 0);
}

void cmos_init(struct cmos *c, uint64_t below_4g, uint64_t above_4g, unsigned nr_cpus)
{
    memset(c, 0, sizeof(*c));
    pthread_mutex_init(&c->lock, NULL);
    c->ram[CMOS_REG_A] = 0x26; /* 32.768 kHz time base, 1024 Hz rate; UIP never set */
    c->ram[CMOS_REG_B] = CMOS_B_24H;
    c->ram[CMOS_REG_D] = CMOS_D_VRT;
    c->ram[CMOS_SHUTDOWN] = 0; /* not 0xFE: OVMF would take the S3-resume path */
    cmos_set_memory(c->ram, below_4g, above_4g, nr_cpus);
}

void cmos_free(void *opaque)
{
    struct cmos *c = opaque;
    if (!c)
        return;
    pthread_mutex_destroy(&c->lock);
    free(c);
}

static uint8_t to_bcd(unsigned v)
{
    return (uint8_t)((v / 10) << 4 | (v % 10));
}

/* UTC calendar fields from seconds since the epoch, without gmtime_r (glibc's loads the time
 * zone on first use, a file open the vCPU seccomp filter forbids). Days to civil date: the
 * proleptic Gregorian algorithm of H. Hinnant's "chrono-compatible low-level date algorithms". */
static void utc_fields(int64_t t, struct tm *tm)
{
    int64_t days = t / 86400, rem = t % 86400;
    if (rem < 0) {
        rem += 86400;
        days--;
    }
    tm->tm_hour = (int)(rem / 3600);
    tm->tm_min = (int)(rem % 3600 / 60);
    tm->tm_sec = (int)(rem % 60);
    tm->tm_wday = (int)((days % 7 + 11) % 7); /* 1970-01-01 was a Thursday (4) */
    int64_t z = days + 719468, era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    tm->tm_mday = (int)(doy - (153 * mp + 2) / 5 + 1);
    tm->tm_mon = (int)(mp < 10 ? mp + 2 : mp - 10); /* 0-based */
    tm->tm_year = (int)(yoe + era * 400 + (tm->tm_mon <= 1) - 1900);
}

/* A clock register in register B's format; -1 if reg is not one. */
static int clock_register(uint8_t reg, uint8_t reg_b)
{
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    utc_fields((int64_t)ts.tv_sec, &tm);
    unsigned v;
    switch (reg) {
    case CMOS_SECONDS:
        v = (unsigned)tm.tm_sec;
        break;
    case CMOS_MINUTES:
        v = (unsigned)tm.tm_min;
        break;
    case CMOS_HOURS:
        v = (unsigned)tm.tm_hour;
        break;
    case CMOS_WEEKDAY:
        v = (unsigned)tm.tm_wday + 1;
        break;
    case CMOS_DAY:
        v = (unsigned)tm.tm_mday;
        break;
    case CMOS_MONTH:
        v = (unsigned)tm.tm_mon + 1;
        break;
    case CMOS_YEAR:
        v = (unsigned)(tm.tm_year % 100);
        break;
    case CMOS_CENTURY:
        v = (unsigned)(tm.tm_year / 100 + 19);
        break;
    default:
        return -1;
    }
    bool pm = false;
    if (reg == CMOS_HOURS && !(reg_b & CMOS_B_24H)) { /* 12-hour: 1..12, bit 7 = PM */
        pm = v >= 12;
        v = v % 12 ? v % 12 : 12;
    }
    uint8_t out = (reg_b & CMOS_B_BINARY) ? (uint8_t)v : to_bcd(v);
    return out | (pm ? 0x80 : 0);
}

static uint8_t cmos_read(struct cmos *c)
{
    uint8_t reg = c->index;
    int clk = clock_register(reg, c->ram[CMOS_REG_B]);
    if (clk >= 0)
        return (uint8_t)clk;
    if (reg == CMOS_REG_C) { /* interrupt flags: none raised; reading clears */
        c->ram[CMOS_REG_C] = 0;
        return 0;
    }
    return c->ram[reg];
}

static void cmos_write(struct cmos *c, uint8_t v)
{
    uint8_t reg = c->index;
    switch (reg) {
    case CMOS_SECONDS:
    case CMOS_MINUTES:
    case CMOS_HOURS:
    case CMOS_WEEKDAY:
    case CMOS_DAY:
    case CMOS_MONTH:
    case CMOS_YEAR:
    case CMOS_CENTURY:
    case CMOS_REG_C:
        return; /* the clock follows the host; flags are read-only */
    case CMOS_REG_A:
        c->ram[reg] = v & 0x7F; /* UIP is read-only (and never set) */
        return;
    case CMOS_REG_D:
        c->ram[reg] = CMOS_D_VRT; /* read-only, VRT stays set (edk2 PcRtcInit checks it) */
        return;
    default:
        c->ram[reg] = v;
    }
}

void cmos_io(void *opaque, uint64_t offset, void *data, uint32_t len, bool is_write)
{
    struct cmos *c = opaque;
    uint8_t *d = data;
    if (len != 1) { /* byte registers only */
        if (!is_write)
            memset(data, 0xff, len);
        return;
    }
    pthread_mutex_lock(&c->lock);
    if (offset == 0) {
        if (is_write)
            c->index = d[0] & 0x7F; /* bit 7 masks NMIs; there is nothing to mask */
        else
            d[0] = 0xff; /* the index register is write-only */
    } else if (is_write) {
        cmos_write(c, d[0]);
    } else {
        d[0] = cmos_read(c);
    }
    pthread_mutex_unlock(&c->lock);
}
