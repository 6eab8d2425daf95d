/* pm_timer.h: the ACPI power-management timer's count: 3.579545 MHz, 24 bits, as the FADT says. */
#ifndef COCOON_PM_TIMER_H
#define COCOON_PM_TIMER_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#define PM_TIMER_HZ   3579545ULL /* ACPI 4.7.2.1; edk2 ACPI_TIMER_FREQUENCY; SeaBIOS PMTIMER_HZ */
#define PM_TIMER_MASK 0xFFFFFFu  /* 24-bit counter: FADT flags TMR_VAL_EXT = 0 */

/* The counter value `now - epoch` after the epoch, wrapped to 24 bits, as QEMU's acpi_pm_tmr_get
 * computes it from virtual nanoseconds. now before epoch counts as 0. */
uint32_t pm_timer_count(const struct timespec *epoch, const struct timespec *now);

/* Bus handler for the 4-byte PM_TMR register (opaque = struct timespec epoch, read-only): any
 * read of 1, 2 or 4 bytes inside it gives the matching bytes of the count; writes are ignored. */
void pm_timer_io(void *epoch, uint64_t offset, void *data, uint32_t len, bool is_write);

#endif
