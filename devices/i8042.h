/* i8042.h: the minimal PS/2 controller a guest needs: status reads and the 0xFE reset pulse. */
#ifndef COCOON_I8042_H
#define COCOON_I8042_H

#include <stdbool.h>
#include <stdint.h>

#define I8042_DATA_PORT    0x60
#define I8042_COMMAND_PORT 0x64
#define I8042_CMD_RESET    0xFE

typedef void (*i8042_reset_fn)(void *opaque);

struct i8042 {
    i8042_reset_fn on_reset;
    void *opaque;
};

/* Bus handlers for port 0x60 (data: reads 0) and 0x64 (status reads 0; 0xFE written = reset). */
void i8042_data_io(void *dev, uint64_t offset, void *data, uint32_t len, bool is_write);
void i8042_command_io(void *dev, uint64_t offset, void *data, uint32_t len, bool is_write);

#endif
