/* bus.h: the trap registry: maps port-I/O or MMIO address ranges to device handlers. */
#ifndef COCOON_BUS_H
#define COCOON_BUS_H

#include <stdbool.h>
#include <stdint.h>

/* Called on the vCPU thread that trapped. `offset` is relative to the registered base; for a read
 * the handler fills `data` (len bytes, 1..8). Handlers must be short and lock their device. */
typedef void (*bus_handler_fn)(void *opaque, uint64_t offset, void *data, uint32_t len,
                               bool is_write);

struct bus;

struct bus *bus_new(const char *name);
void bus_free(struct bus *bus);

/* Claims [base, base+len). Returns 0, or -1 if len is 0, the range wraps or overlaps a claim.
 * Called from inside a handler of the same bus, register/unregister are checked at once and take
 * effect when that handler returns (the handler holds the bus's read lock). */
int bus_register(struct bus *bus, uint64_t base, uint64_t len, bus_handler_fn fn, void *opaque);

/* Releases the claim that starts at base. Returns 0, or -1 if there is none. */
int bus_unregister(struct bus *bus, uint64_t base);

/* Routes one access. Returns false when nobody claims addr (reads then see all-ones). An access
 * that straddles the end of a claim is not delivered either. */
bool bus_dispatch(struct bus *bus, uint64_t addr, void *data, uint32_t len, bool is_write);

#endif
