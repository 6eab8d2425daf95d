/* mptable.h: the Intel MultiProcessor table the VMM writes for direct-booted guests. */
#ifndef COCOON_MPTABLE_H
#define COCOON_MPTABLE_H

#include <stddef.h>

#include "vmm/base/memory.h"

/* Writes an Intel MP table (floating pointer at LAYOUT_EBDA) describing nr_cpus
 * processors (APIC IDs 0..nr_cpus-1), the ISA bus, the IOAPIC and ISA interrupt routing. */
int mptable_write(const struct guest_mem *gm, unsigned nr_cpus, char *err, size_t errlen);

#endif
