/* debugcon.c: the port-0x402 debug console: guest bytes to a host sink, reads identify it. */
#include "devices/debugcon.h"

#include <string.h>

void debugcon_io(void *opaque, uint64_t offset, void *data, uint32_t len, bool is_write)
{
    struct debugcon *dc = opaque;
    (void)offset;
    if (!is_write) {
        memset(data, DEBUGCON_READBACK, len);
        return;
    }
    if (dc->out)
        dc->out(dc->opaque, data, len);
}
