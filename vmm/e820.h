/* e820.h: the guest's physical memory map (RAM and reserved ranges), shared by both loaders. */
#ifndef COCOON_E820_H
#define COCOON_E820_H

#include <stdint.h>

#include "vmm/base/memory.h"

#define E820_RAM      1
#define E820_RESERVED 2
#define E820_ACPI     3

/* Enough for the low split around the EBDA, low RAM, high RAM, one reserved range per
 * remaining guest-memory region, and one range carved out by e820_carve (up to 2 more). */
#define E820_MAX_ENTRIES (GM_MAX_REGIONS + 5)

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

/* Gives [addr, addr+len) the type `type` by splitting the one entry of map[0..n) that contains
 * it (e.g. the ACPI tables inside the reserved legacy area). Returns the new entry count, or -1
 * if no single entry contains the range or max is too small. */
int e820_carve(struct e820_entry *map, int n, unsigned max, uint64_t addr, uint64_t len,
               uint32_t type);

#endif
