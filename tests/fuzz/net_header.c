/* net_header.c: libFuzzer target: virtio-net headers from the guest (TX) and the tap (RX). */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "devices/net_hdr.h"
#include "tests/fuzz/fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fz f = {data, size};
    uint64_t features = fz_u64(&f);
    uint32_t mtu = fz_u16(&f);
    while (f.n) {
        struct virtio_net_hdr_v1 h;
        uint8_t raw[NET_HDR_LEN] = {0};
        for (size_t i = 0; i < sizeof(raw); i++)
            raw[i] = fz_u8(&f);
        memcpy(&h, raw, sizeof(h));
        uint32_t frame_len = fz_u32(&f);
        if (fz_u8(&f) & 1) {
            (void)net_hdr_check_tx(&h, features, frame_len, mtu);
        } else {
            enum net_drop d = net_hdr_fix_rx(&h, features, frame_len, mtu);
            if (d == NET_OK && h.num_buffers != 1)
                __builtin_trap(); /* contract: RX headers go to the guest with num_buffers 1 */
        }
        (void)net_tx_frame_limit(features, mtu);
        (void)net_rx_frame_limit(features, mtu);
    }
    return 0;
}
