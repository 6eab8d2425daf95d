/* pm_timer.c: the ACPI PM timer count (3.579545 MHz, 24-bit) read from the monotonic clock. */
#include "devices/pm_timer.h"

#include <string.h>

uint32_t pm_timer_count(const struct timespec *epoch, const struct timespec *now)
{
    int64_t sec = (int64_t)now->tv_sec - (int64_t)epoch->tv_sec;
    int64_t nsec = (int64_t)now->tv_nsec - (int64_t)epoch->tv_nsec;
    if (nsec < 0) {
        nsec += 1000000000;
        sec--;
    }
    if (sec < 0)
        return 0;
    /* seconds and nanoseconds apart, so nothing overflows for any uptime */
    uint64_t ticks = (uint64_t)sec * PM_TIMER_HZ + (uint64_t)nsec * PM_TIMER_HZ / 1000000000ULL;
    return (uint32_t)(ticks & PM_TIMER_MASK);
}

void pm_timer_io(void *opaque, uint64_t offset, void *data, uint32_t len, bool is_write)
{
    const struct timespec *epoch = opaque;
    if (is_write)
        return; /* the timer is read-only (QEMU acpi_pm_tmr_write ignores writes) */
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    uint32_t v = pm_timer_count(epoch, &now);
    uint8_t b[8] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
    memset(data, 0, len);
    if (offset < 4)
        memcpy(data, b + offset, len <= 4 - offset ? len : 4 - offset);
}
