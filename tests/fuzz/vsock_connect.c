/* vsock_connect.c: libFuzzer target: Kata's `CONNECT <port>\n` line, fed in fuzz-chosen pieces. */
#include <stddef.h>
#include <stdint.h>

#include "devices/vsock_muxer.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    /* First byte: piece length (0 = everything at once), the rest: the client's bytes. */
    size_t piece = data[0] % 17;
    data++;
    size--;
    struct vsock_connect_line l = {0};
    size_t off = 0;
    while (off < size) {
        size_t n = piece && piece < size - off ? piece : size - off;
        size_t used = 0;
        uint32_t port = 0;
        int rc = vsock_connect_line_feed(&l, data + off, n, &used, &port);
        if (used > n)
            __builtin_trap(); /* contract: never consumes more than it was given */
        off += used;
        if (rc != 0)
            break;
        if (used == 0)
            break;
    }
    return 0;
}
