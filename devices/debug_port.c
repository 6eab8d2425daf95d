/* debug_port.c: the boot-timer port (progress codes logged with timestamps) and the exit port. */
#include "devices/debug_port.h"

#include <string.h>

#include "vmm/base/log.h"

void debug_port_timer_io(void *dp, uint64_t offset, void *data, uint32_t len, bool is_write)
{
    if (!is_write) {
        memset(data, 0, len);
        return;
    }
    uint8_t code = *(uint8_t *)data;
    log_info("boot-timer: code 0x%02x at %.6f s", code, log_uptime());
}

void debug_port_exit_io(void *dp, uint64_t offset, void *data, uint32_t len, bool is_write)
{
    struct debug_port *d = dp;
    if (!is_write) {
        memset(data, 0, len);
        return;
    }
    int status = *(uint8_t *)data;
    log_info("guest powered off through the exit port with status %d", status);
    if (d && d->on_exit)
        d->on_exit(d->opaque, status);
}
