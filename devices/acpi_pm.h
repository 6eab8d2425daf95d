/* acpi_pm.h: the ACPI power registers of the HW-reduced FADT: sleep control/status and reset. */
#ifndef COCOON_ACPI_PM_H
#define COCOON_ACPI_PM_H

#include <stdbool.h>
#include <stdint.h>

#include "vmm/base/log.h"

/* Register at ACPI_PORT_SLEEP_CTL with length ACPI_PM_PORTS (firmware/acpi.h describes the
 * layout): 0 sleep control, 1 sleep status, 2 reset, 3 reserved. All 8 bits wide. */
#define ACPI_PM_PORTS 4

/* Called on the vCPU thread that wrote the register; the VM must stop that vCPU. */
typedef void (*acpi_pm_event_fn)(void *opaque);

struct acpi_pm {
    acpi_pm_event_fn on_poweroff; /* SLP_EN with SLP_TYP 5 (S5) written to sleep control */
    acpi_pm_event_fn on_reset;    /* ACPI_RESET_VALUE written to the reset register */
    void *opaque;
    struct log_ratelimit rl; /* zero-initialise or LOG_RATELIMIT_INIT */
};

/* Bus handler (opaque = struct acpi_pm). Reads return 0; other sleep states, other reset values,
 * and accesses wider than a byte are logged (rate-limited) and ignored. */
void acpi_pm_io(void *pm, uint64_t offset, void *data, uint32_t len, bool is_write);

#endif
