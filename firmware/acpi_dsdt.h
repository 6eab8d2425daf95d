/* acpi_dsdt.h: the DSDT's AML: PCI root and slots, CPUs, GED, power button, COM1, _S5. */
#ifndef COCOON_ACPI_DSDT_H
#define COCOON_ACPI_DSDT_H

#include <stddef.h>
#include <stdint.h>

#include "firmware/acpi.h"
#include "firmware/aml.h"

/* Appends the DSDT's TermList (everything after the header) for a config that passed
 * acpi_config_check. Errors are left in a's sticky error. */
void acpi_dsdt_body(struct aml *a, const struct acpi_config *c);

/* The MADT processor entry of vCPU i (UID = APIC id = i) with `flags` (bit 0 Enabled, bit 1
 * Online Capable): type 0 (8 bytes) below id 255, type 9 (16 bytes) from 255 on. Shared by the
 * MADT and each CPU's _MAT. Returns the length written to out. */
size_t acpi_cpu_entry(uint32_t i, uint32_t flags, uint8_t out[16]);

#endif
