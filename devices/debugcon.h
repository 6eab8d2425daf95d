/* debugcon.h: QEMU's ISA debug console at port 0x402 (SeaBIOS and OVMF debug output). */
#ifndef COCOON_DEBUGCON_H
#define COCOON_DEBUGCON_H

#include <stdbool.h>
#include <stdint.h>

#define DEBUGCON_PORT     0x402
#define DEBUGCON_READBACK 0xE9 /* what firmware reads to detect it (QEMU debugcon readback) */

/* Called with each byte the guest writes (on the vCPU thread; must not block). */
typedef void (*debugcon_out_fn)(void *opaque, const uint8_t *buf, uint32_t len);

struct debugcon {
    debugcon_out_fn out;
    void *opaque;
};

/* Bus handler (opaque = struct debugcon): byte writes go to out, reads return 0xE9 (SeaBIOS
 * qemu_debug_preinit and edk2 PlatformDebugLibIoPortDetect only print after seeing it). */
void debugcon_io(void *dc, uint64_t offset, void *data, uint32_t len, bool is_write);

#endif
