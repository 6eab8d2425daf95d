/* i8042.c: PS/2 controller stub: an empty controller that reports no data, and the reset pulse. */
#include "devices/i8042.h"

#include <string.h>

#include "vmm/base/log.h"

void i8042_data_io(void *dev, uint64_t offset, void *data, uint32_t len, bool is_write)
{
    if (!is_write)
        memset(data, 0, len);
}

void i8042_command_io(void *dev, uint64_t offset, void *data, uint32_t len, bool is_write)
{
    struct i8042 *k = dev;
    if (!is_write) {
        memset(data, 0, len); /* status: output buffer empty, input buffer empty */
        return;
    }
    if (*(uint8_t *)data == I8042_CMD_RESET) {
        log_info("guest pulsed the i8042 reset line");
        if (k && k->on_reset)
            k->on_reset(k->opaque);
    }
}
