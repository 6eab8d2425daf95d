/* bus.c: sorted, rwlock-protected range registry behind PIO and MMIO exits. */
#include "vmm/bus.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

struct bus_range {
    uint64_t base;
    uint64_t len;
    bus_handler_fn fn;
    void *opaque;
};

struct bus {
    const char *name;
    pthread_rwlock_t lock;
    struct bus_range *ranges; /* sorted by base, non-overlapping */
    unsigned nr, cap;
};

struct bus *bus_new(const char *name)
{
    struct bus *bus = calloc(1, sizeof(*bus));
    if (!bus)
        return NULL;
    bus->name = name;
    pthread_rwlock_init(&bus->lock, NULL);
    return bus;
}

void bus_free(struct bus *bus)
{
    if (!bus)
        return;
    pthread_rwlock_destroy(&bus->lock);
    free(bus->ranges);
    free(bus);
}

/* Index of the first range whose base is > addr. */
static unsigned bus_upper(const struct bus *bus, uint64_t addr)
{
    unsigned lo = 0, hi = bus->nr;
    while (lo < hi) {
        unsigned mid = lo + (hi - lo) / 2;
        if (bus->ranges[mid].base <= addr)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

int bus_register(struct bus *bus, uint64_t base, uint64_t len, bus_handler_fn fn, void *opaque)
{
    if (len == 0 || base + len < base || !fn)
        return -1;
    int rc = -1;
    pthread_rwlock_wrlock(&bus->lock);
    unsigned i = bus_upper(bus, base);
    bool overlaps_prev = i > 0 && bus->ranges[i - 1].base + bus->ranges[i - 1].len > base;
    bool overlaps_next = i < bus->nr && bus->ranges[i].base < base + len;
    if (overlaps_prev || overlaps_next)
        goto out;
    if (bus->nr == bus->cap) {
        unsigned cap = bus->cap ? bus->cap * 2 : 16;
        struct bus_range *r = realloc(bus->ranges, cap * sizeof(*r));
        if (!r)
            goto out;
        bus->ranges = r;
        bus->cap = cap;
    }
    memmove(&bus->ranges[i + 1], &bus->ranges[i], (bus->nr - i) * sizeof(*bus->ranges));
    bus->ranges[i] = (struct bus_range){base, len, fn, opaque};
    bus->nr++;
    rc = 0;
out:
    pthread_rwlock_unlock(&bus->lock);
    return rc;
}

int bus_unregister(struct bus *bus, uint64_t base)
{
    int rc = -1;
    pthread_rwlock_wrlock(&bus->lock);
    unsigned i = bus_upper(bus, base);
    if (i > 0 && bus->ranges[i - 1].base == base) {
        memmove(&bus->ranges[i - 1], &bus->ranges[i], (bus->nr - i) * sizeof(*bus->ranges));
        bus->nr--;
        rc = 0;
    }
    pthread_rwlock_unlock(&bus->lock);
    return rc;
}

bool bus_dispatch(struct bus *bus, uint64_t addr, void *data, uint32_t len, bool is_write)
{
    bool handled = false;
    pthread_rwlock_rdlock(&bus->lock);
    unsigned i = bus_upper(bus, addr);
    if (i > 0) {
        const struct bus_range *r = &bus->ranges[i - 1];
        uint64_t off = addr - r->base;
        if (off < r->len && len <= r->len - off) {
            r->fn(r->opaque, off, data, len, is_write);
            handled = true;
        }
    }
    pthread_rwlock_unlock(&bus->lock);
    if (!handled && !is_write)
        memset(data, 0xff, len);
    return handled;
}
