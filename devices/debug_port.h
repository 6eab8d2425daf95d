/* debug_port.h: guest progress codes with timestamps (port 0x80) and a power-off-with-status port.
 */
#ifndef COCOON_DEBUG_PORT_H
#define COCOON_DEBUG_PORT_H

#include <stdbool.h>
#include <stdint.h>

#define DEBUG_PORT_BOOT_TIMER 0x80 /* write a byte: logged as "boot-timer: code 0xNN at T s" */
#define DEBUG_PORT_EXIT       0xF4 /* write a byte N: the VMM stops and exits with status N */

/* Called on a vCPU thread when the guest writes the exit port. */
typedef void (*debug_exit_fn)(void *opaque, int status);

struct debug_port {
    debug_exit_fn on_exit;
    void *opaque;
};

/* Bus handlers; `dp` is a struct debug_port (for the timer port it may be NULL). */
void debug_port_timer_io(void *dp, uint64_t offset, void *data, uint32_t len, bool is_write);
void debug_port_exit_io(void *dp, uint64_t offset, void *data, uint32_t len, bool is_write);

#endif
