/* e820.h: the guest's physical memory map (RAM and reserved ranges), shared by both loaders. */
#ifndef COCOON_E820_H
#define COCOON_E820_H

#include <stdint.h>

#include "vmm/memory.h"

#define E820_RAM      1
#define E820_RESERVED 2

/* Enough for the low split around the EBDA, low RAM, high RAM and one reserved range per
 * remaining guest-memory region. */
#define E820_MAX_ENTRIES (GM_MAX_REGIONS + 3)

struct e820_entry {
    uint64_t addr;
    uint64_t size;
    uint32_t type;
};

/* Builds the map from gm's regions, sorted by address: RAM [0, LAYOUT_EBDA), reserved
 * [LAYOUT_EBDA, 1 MiB), RAM from 1 MiB to the end of low RAM, then high RAM from 4 GiB.
 * Returns the number of entries written to out (at most max), or -1 if max is too small or
 * gm has no RAM at 0 (the map would not describe a bootable PC). */
int e820_build(const struct guest_mem *gm, struct e820_entry *out, unsigned max);

#endif
