/* acpi_pm.c: ACPI sleep control / status and reset registers: S5 powers off, reset resets. */
#include "devices/acpi_pm.h"

#include <string.h>

#include "vmm/base/acpi_regs.h"

enum { PM_SLEEP_CTL = 0, PM_SLEEP_STS = 1, PM_RESET = 2 };

#define SLP_EN         0x20
#define SLP_TYP(v)     (((v) >> 2) & 7)
#define SLEEP_STS_WAKE 0x80

/* ACPICA's HW-reduced path (hwesleep.c:acpi_hw_extended_sleep) writes WAK_STS to sleep status,
 * then ((SLP_TYPa << 2) & 0x1C) | SLP_EN to sleep control, as one byte each (GAS width 8). */
static void sleep_control_write(struct acpi_pm *pm, uint8_t v)
{
    if (!(v & SLP_EN))
        return; /* SLP_TYP alone arms nothing */
    if (SLP_TYP(v) == ACPI_S5_SLP_TYP) {
        if (pm->on_poweroff)
            pm->on_poweroff(pm->opaque);
        return;
    }
    log_limited(&pm->rl, LOG_LVL_WARN,
                "acpi-pm: guest asked for sleep type %u; only S5 (type %u) is offered, ignored",
                SLP_TYP(v), ACPI_S5_SLP_TYP);
}

static void reset_write(struct acpi_pm *pm, uint8_t v)
{
    if (v == ACPI_RESET_VALUE) {
        if (pm->on_reset)
            pm->on_reset(pm->opaque);
        return;
    }
    log_limited(&pm->rl, LOG_LVL_WARN,
                "acpi-pm: reset register written with %#x (want %#x), ignored", v,
                ACPI_RESET_VALUE);
}

void acpi_pm_io(void *opaque, uint64_t offset, void *data, uint32_t len, bool is_write)
{
    struct acpi_pm *pm = opaque;
    if (!is_write)
        memset(data, 0, len);
    if (len != 1) {
        log_limited(&pm->rl, LOG_LVL_WARN, "acpi-pm: %u-byte access at +%llu, registers are 8-bit",
                    len, (unsigned long long)offset);
        return;
    }
    if (!is_write)
        return;
    uint8_t v = *(const uint8_t *)data;
    switch (offset) {
    case PM_SLEEP_CTL:
        sleep_control_write(pm, v);
        break;
    case PM_SLEEP_STS:
        if (v & ~SLEEP_STS_WAKE)
            log_limited(&pm->rl, LOG_LVL_WARN, "acpi-pm: sleep status written with %#x", v);
        break; /* WAK_STS is write-1-to-clear and never set: nothing to do */
    case PM_RESET:
        reset_write(pm, v);
        break;
    default:
        log_limited(&pm->rl, LOG_LVL_WARN, "acpi-pm: write %#x to reserved port +%llu", v,
                    (unsigned long long)offset);
    }
}
