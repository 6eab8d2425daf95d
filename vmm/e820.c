/* e820.c: builds the guest's e820 memory map from the guest-memory regions. */
#include "vmm/e820.h"

#include "vmm/loader.h"

#define ONE_MIB 0x100000ULL

static int e820_add(struct e820_entry *out, unsigned max, unsigned *n, uint64_t addr, uint64_t end,
                    uint32_t type)
{
    if (end <= addr)
        return 0;
    if (*n >= max)
        return -1;
    out[*n].addr = addr;
    out[*n].size = end - addr;
    out[*n].type = type;
    (*n)++;
    return 0;
}

/* Sorts by address (a handful of entries: insertion sort). */
static void e820_sort(struct e820_entry *e, unsigned n)
{
    for (unsigned i = 1; i < n; i++) {
        struct e820_entry cur = e[i];
        unsigned j = i;
        while (j > 0 && e[j - 1].addr > cur.addr) {
            e[j] = e[j - 1];
            j--;
        }
        e[j] = cur;
    }
}

int e820_build(const struct guest_mem *gm, struct e820_entry *out, unsigned max)
{
    unsigned n = 0;
    bool has_low = false;
    for (unsigned i = 0; i < gm->nr_regions; i++) {
        const struct gm_region *r = &gm->region[i];
        uint64_t start = r->gpa;
        uint64_t end = r->gpa + r->size;
        if (start == 0)
            has_low = true;
        /* The legacy BIOS area [EBDA, 1 MiB) is never RAM, whatever backs it. */
        if (start < LAYOUT_EBDA &&
            e820_add(out, max, &n, start, end < LAYOUT_EBDA ? end : LAYOUT_EBDA, E820_RAM))
            return -1;
        if (end > ONE_MIB &&
            e820_add(out, max, &n, start > ONE_MIB ? start : ONE_MIB, end, E820_RAM))
            return -1;
    }
    if (!has_low || e820_add(out, max, &n, LAYOUT_EBDA, ONE_MIB, E820_RESERVED))
        return -1;
    e820_sort(out, n);
    return (int)n;
}

int e820_carve(struct e820_entry *map, int n, unsigned max, uint64_t addr, uint64_t len,
               uint32_t type)
{
    if (n < 0 || len == 0 || addr + len < addr)
        return -1;
    for (int i = 0; i < n; i++) {
        struct e820_entry e = map[i];
        uint64_t end = e.addr + e.size;
        if (addr < e.addr || addr + len > end)
            continue;
        unsigned k = (unsigned)n;
        map[i].size = addr - e.addr; /* head keeps the old type, may become empty */
        if (e820_add(map, max, &k, addr, addr + len, type) ||
            e820_add(map, max, &k, addr + len, end, e.type))
            return -1;
        if (map[i].size == 0)
            map[i] = map[--k];
        e820_sort(map, k);
        return (int)k;
    }
    return -1;
}
