/* net_header.c: virtio_net_hdr_v1 checks: offload flags vs features, csum fields, frame limits. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "devices/net_hdr.h"

#define F(bit)   (1ULL << (bit))
#define MTU      1500
#define TSO_FEAT (F(VIRTIO_NET_F_CSUM) | F(VIRTIO_NET_F_HOST_TSO4) | F(VIRTIO_NET_F_HOST_TSO6))
#define GUEST_TSO                                                                                  \
    (F(VIRTIO_NET_F_GUEST_CSUM) | F(VIRTIO_NET_F_GUEST_TSO4) | F(VIRTIO_NET_F_GUEST_TSO6))

static void header_is_12_bytes(void **state)
{
    assert_int_equal(sizeof(struct virtio_net_hdr_v1), NET_HDR_LEN);
}

static void limits_follow_features(void **state)
{
    assert_int_equal(net_tx_frame_limit(0, MTU), 1518);
    assert_int_equal(net_tx_frame_limit(TSO_FEAT, MTU), 65550);
    assert_int_equal(net_rx_frame_limit(0, MTU), 1518);
    assert_int_equal(net_rx_frame_limit(GUEST_TSO, MTU), 65550);
    assert_int_equal(net_rx_frame_limit(0, 65535), 65550);
}

static void plain_tx_frames(void **state)
{
    struct virtio_net_hdr_v1 h = {0};
    assert_int_equal(net_hdr_check_tx(&h, 0, 60, MTU), NET_OK);
    assert_int_equal(net_hdr_check_tx(&h, 0, 1518, MTU), NET_OK);
    assert_int_equal(net_hdr_check_tx(&h, 0, 1519, MTU), NET_DROP_OVERSIZE);
    assert_int_equal(net_hdr_check_tx(&h, 0, 13, MTU), NET_DROP_SHORT);
    assert_int_equal(net_hdr_check_tx(&h, 0, 0, MTU), NET_DROP_SHORT);
    /* non-GSO frames stay within the MTU even when TSO is negotiated */
    assert_int_equal(net_hdr_check_tx(&h, TSO_FEAT, 9000, MTU), NET_DROP_OVERSIZE);
    assert_int_equal(net_hdr_check_tx(&h, TSO_FEAT, 65551, MTU), NET_DROP_OVERSIZE);
}

static void tx_offloads_need_features(void **state)
{
    struct virtio_net_hdr_v1 h = {
        .flags = VIRTIO_NET_HDR_F_NEEDS_CSUM, .csum_start = 34, .csum_offset = 16};
    assert_int_equal(net_hdr_check_tx(&h, 0, 100, MTU), NET_DROP_BAD_HDR);
    assert_int_equal(net_hdr_check_tx(&h, TSO_FEAT, 100, MTU), NET_OK);
    /* checksum slot outside the frame, including the 16-bit wrap attempt */
    h.csum_start = 90;
    h.csum_offset = 9;
    assert_int_equal(net_hdr_check_tx(&h, TSO_FEAT, 100, MTU), NET_DROP_BAD_HDR);
    h.csum_start = 0xFFFF;
    h.csum_offset = 0xFFFF;
    assert_int_equal(net_hdr_check_tx(&h, TSO_FEAT, 65550, MTU), NET_DROP_BAD_HDR);
    /* DATA_VALID / unknown flags are not for the tx direction */
    struct virtio_net_hdr_v1 dv = {.flags = VIRTIO_NET_HDR_F_DATA_VALID};
    assert_int_equal(net_hdr_check_tx(&dv, TSO_FEAT, 100, MTU), NET_DROP_BAD_HDR);
    struct virtio_net_hdr_v1 odd = {.flags = 0x40};
    assert_int_equal(net_hdr_check_tx(&odd, TSO_FEAT, 100, MTU), NET_DROP_BAD_HDR);
}

static void tx_gso(void **state)
{
    struct virtio_net_hdr_v1 h = {.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM,
                                  .gso_type = VIRTIO_NET_HDR_GSO_TCPV4,
                                  .hdr_len = 66,
                                  .gso_size = 1448,
                                  .csum_start = 34,
                                  .csum_offset = 16};
    assert_int_equal(net_hdr_check_tx(&h, TSO_FEAT, 60000, MTU), NET_OK);
    assert_int_equal(net_hdr_check_tx(&h, F(VIRTIO_NET_F_CSUM), 60000, MTU), NET_DROP_OVERSIZE);
    assert_int_equal(net_hdr_check_tx(&h, F(VIRTIO_NET_F_CSUM), 1000, MTU), NET_DROP_BAD_HDR);
    h.gso_type = VIRTIO_NET_HDR_GSO_UDP; /* UFO never offered */
    assert_int_equal(net_hdr_check_tx(&h, TSO_FEAT, 60000, MTU), NET_DROP_BAD_HDR);
    h.gso_type = VIRTIO_NET_HDR_GSO_TCPV4 | VIRTIO_NET_HDR_GSO_ECN; /* ECN never offered */
    assert_int_equal(net_hdr_check_tx(&h, TSO_FEAT, 60000, MTU), NET_DROP_BAD_HDR);
    h.gso_type = VIRTIO_NET_HDR_GSO_TCPV6;
    h.gso_size = 0;
    assert_int_equal(net_hdr_check_tx(&h, TSO_FEAT, 60000, MTU), NET_DROP_BAD_HDR);
    h.gso_size = 1400;
    h.hdr_len = 65000;
    assert_int_equal(net_hdr_check_tx(&h, TSO_FEAT, 60000, MTU), NET_DROP_BAD_HDR);
    h.hdr_len = 74;
    h.flags = 0;
    assert_int_equal(net_hdr_check_tx(&h, TSO_FEAT, 60000, MTU), NET_DROP_BAD_HDR);
    h.gso_type = 7;
    h.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
    assert_int_equal(net_hdr_check_tx(&h, TSO_FEAT, 60000, MTU), NET_DROP_BAD_HDR);
}

static void rx_fixup(void **state)
{
    struct virtio_net_hdr_v1 h;
    memset(&h, 0xAB, sizeof(h));
    h.flags = VIRTIO_NET_HDR_F_DATA_VALID;
    h.gso_type = 0;
    assert_int_equal(net_hdr_fix_rx(&h, 0, 100, MTU), NET_OK);
    assert_int_equal(h.flags, 0); /* DATA_VALID hidden from a guest without GUEST_CSUM */
    assert_int_equal(h.num_buffers, 1);
    h.flags = VIRTIO_NET_HDR_F_DATA_VALID;
    assert_int_equal(net_hdr_fix_rx(&h, GUEST_TSO, 100, MTU), NET_OK);
    assert_int_equal(h.flags, VIRTIO_NET_HDR_F_DATA_VALID);
    /* GSO frames only when negotiated */
    struct virtio_net_hdr_v1 g = {.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM,
                                  .gso_type = VIRTIO_NET_HDR_GSO_TCPV4,
                                  .hdr_len = 66,
                                  .gso_size = 1448,
                                  .csum_start = 34,
                                  .csum_offset = 16};
    assert_int_equal(net_hdr_fix_rx(&g, GUEST_TSO, 30000, MTU), NET_OK);
    /* the host kernel may mark a GSO frame DATA_VALID instead of NEEDS_CSUM */
    struct virtio_net_hdr_v1 gv = g;
    gv.flags = VIRTIO_NET_HDR_F_DATA_VALID;
    assert_int_equal(net_hdr_fix_rx(&gv, GUEST_TSO, 30000, MTU), NET_OK);
    gv.gso_size = 0;
    assert_int_equal(net_hdr_fix_rx(&gv, GUEST_TSO, 30000, MTU), NET_DROP_BAD_HDR);
    assert_int_equal(net_hdr_fix_rx(&g, 0, 1400, MTU), NET_DROP_BAD_HDR);
    assert_int_equal(net_hdr_fix_rx(&g, 0, 30000, MTU), NET_DROP_OVERSIZE);
    struct virtio_net_hdr_v1 z = {0};
    assert_int_equal(net_hdr_fix_rx(&z, 0, 1519, MTU), NET_DROP_OVERSIZE);
    assert_int_equal(net_hdr_fix_rx(&z, 0, 10, MTU), NET_DROP_SHORT);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(header_is_12_bytes),
        cmocka_unit_test(limits_follow_features),
        cmocka_unit_test(plain_tx_frames),
        cmocka_unit_test(tx_offloads_need_features),
        cmocka_unit_test(tx_gso),
        cmocka_unit_test(rx_fixup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
