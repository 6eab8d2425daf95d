/* bus.c: sorted, rwlock-protected range registry behind PIO and MMIO exits. */
#include "vmm/base/bus.h"

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

/* A handler runs under its bus's read lock, often with its device's lock held. A claim change it
 * asks for (a BAR written through ECAM, a PM block moved by a config write) must not wait for a
 * write lock there (that lock cycle would hang vCPUs for good), so it is checked at once and
 * applied when the outermost dispatch has dropped every lock. */
#define BUS_MAX_DEFERRED 16

struct bus_deferred {
    struct bus *bus;
    bool is_register;
    uint64_t base, len;
    bus_handler_fn fn;
    void *opaque;
};

static _Thread_local unsigned tls_depth; /* dispatches this thread is inside */
static _Thread_local struct bus_deferred tls_deferred[BUS_MAX_DEFERRED];
static _Thread_local unsigned tls_nr_deferred;

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

static bool deferred_unregistered(const struct bus *bus, uint64_t base)
{
    bool gone = false;
    for (unsigned i = 0; i < tls_nr_deferred; i++)
        if (tls_deferred[i].bus == bus && tls_deferred[i].base == base)
            gone = !tls_deferred[i].is_register;
    return gone;
}

/* Whether [base, base+len) is free once the queued changes are applied. A read lock never waits
 * here: writers only run outside every dispatch. */
static bool deferred_range_free(struct bus *bus, uint64_t base, uint64_t len)
{
    bool free_range = true;
    pthread_rwlock_rdlock(&bus->lock);
    for (unsigned i = 0; i < bus->nr && free_range; i++) {
        const struct bus_range *r = &bus->ranges[i];
        if (r->base < base + len && base < r->base + r->len && !deferred_unregistered(bus, r->base))
            free_range = false;
    }
    pthread_rwlock_unlock(&bus->lock);
    for (unsigned i = 0; i < tls_nr_deferred && free_range; i++) {
        const struct bus_deferred *d = &tls_deferred[i];
        if (d->bus == bus && d->is_register && d->base < base + len && base < d->base + d->len &&
            !deferred_unregistered(bus, d->base))
            free_range = false;
    }
    return free_range;
}

static int bus_defer(const struct bus_deferred *op)
{
    if (tls_nr_deferred == BUS_MAX_DEFERRED)
        return -1;
    tls_deferred[tls_nr_deferred++] = *op;
    return 0;
}

int bus_register(struct bus *bus, uint64_t base, uint64_t len, bus_handler_fn fn, void *opaque)
{
    if (len == 0 || base + len < base || !fn)
        return -1;
    if (tls_depth > 0) /* inside a handler: applied when the dispatch returns */
        return deferred_range_free(bus, base, len)
                   ? bus_defer(&(struct bus_deferred){bus, true, base, len, fn, opaque})
                   : -1;
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
    if (tls_depth > 0)
        return bus_defer(&(struct bus_deferred){bus, false, base, 0, NULL, NULL});
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

/* Applies the claim changes handlers queued, in order (no bus lock is held here). */
static void bus_apply_deferred(void)
{
    for (unsigned i = 0; i < tls_nr_deferred; i++) {
        const struct bus_deferred *op = &tls_deferred[i];
        if (op->is_register)
            bus_register(op->bus, op->base, op->len, op->fn, op->opaque);
        else
            bus_unregister(op->bus, op->base);
    }
    tls_nr_deferred = 0;
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
            tls_depth++;
            r->fn(r->opaque, off, data, len, is_write);
            tls_depth--;
            handled = true;
        }
    }
    pthread_rwlock_unlock(&bus->lock);
    if (tls_depth == 0 && tls_nr_deferred > 0)
        bus_apply_deferred();
    if (!handled && !is_write)
        memset(data, 0xff, len);
    return handled;
}
