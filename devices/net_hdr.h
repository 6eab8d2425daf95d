/* net_hdr.h: virtio_net_hdr_v1 checks for guest frames (tx) and tap frames (rx), frame limits. */
#ifndef COCOON_NET_HDR_H
#define COCOON_NET_HDR_H

#include <stdint.h>

/* virtio-net feature bits (virtio 1.2, 5.1.3) cocoon knows about. */
#define VIRTIO_NET_F_CSUM       0
#define VIRTIO_NET_F_GUEST_CSUM 1
#define VIRTIO_NET_F_MTU        3
#define VIRTIO_NET_F_MAC        5
#define VIRTIO_NET_F_GUEST_TSO4 7
#define VIRTIO_NET_F_GUEST_TSO6 8
#define VIRTIO_NET_F_GUEST_ECN  9
#define VIRTIO_NET_F_GUEST_UFO  10
#define VIRTIO_NET_F_HOST_TSO4  11
#define VIRTIO_NET_F_HOST_TSO6  12
#define VIRTIO_NET_F_HOST_ECN   13
#define VIRTIO_NET_F_HOST_UFO   14
#define VIRTIO_NET_F_MRG_RXBUF  15
#define VIRTIO_NET_F_STATUS     16

#define VIRTIO_NET_HDR_F_NEEDS_CSUM 1
#define VIRTIO_NET_HDR_F_DATA_VALID 2

#define VIRTIO_NET_HDR_GSO_NONE  0
#define VIRTIO_NET_HDR_GSO_TCPV4 1
#define VIRTIO_NET_HDR_GSO_UDP   3
#define VIRTIO_NET_HDR_GSO_TCPV6 4
#define VIRTIO_NET_HDR_GSO_ECN   0x80

#define NET_HDR_LEN       12u
#define NET_ETH_HLEN      14u
#define NET_VLAN_HLEN     4u
#define NET_MAX_GSO_FRAME 65550u /* + 12-byte header = 65,562 bytes, Firecracker's bound */

/* The virtio 1.x net header, little-endian, as it sits in guest memory and in the tap. */
struct virtio_net_hdr_v1 {
    uint8_t flags;
    uint8_t gso_type;
    uint16_t hdr_len;
    uint16_t gso_size;
    uint16_t csum_start;
    uint16_t csum_offset;
    uint16_t num_buffers;
} __attribute__((packed));

/* Why a frame is dropped (counters are kept per reason). */
enum net_drop {
    NET_OK = 0,
    NET_DROP_SHORT,      /* shorter than header + Ethernet header */
    NET_DROP_OVERSIZE,   /* longer than the negotiated limit */
    NET_DROP_BAD_HDR,    /* flags / GSO / checksum fields not allowed or out of range */
    NET_DROP_NO_BUFFER,  /* the guest's receive buffer is too small for the frame */
    NET_DROP_FRAGMENTED, /* tx: in more pieces than one writev to the tap takes (IOV_MAX) */
    NET_DROP_REASONS
};

/* Largest Ethernet frame (without the virtio header) the guest may send given the negotiated
 * features: 65,550 with host TSO, else mtu + Ethernet + one VLAN tag. */
uint32_t net_tx_frame_limit(uint64_t features, uint32_t mtu);

/* Largest Ethernet frame the guest is prepared to receive: 65,550 with guest TSO, else
 * mtu + Ethernet + VLAN. */
uint32_t net_rx_frame_limit(uint64_t features, uint32_t mtu);

/* Checks a guest header (already copied to host memory) against the negotiated features and the
 * frame that follows it; frame_len excludes the header. Returns NET_OK or the drop reason. */
enum net_drop net_hdr_check_tx(const struct virtio_net_hdr_v1 *hdr, uint64_t features,
                               uint32_t frame_len, uint32_t mtu);

/* Prepares a header received from the tap for the guest: refuses GSO or checksum states the guest
 * did not negotiate, clears bits it may not see, sets num_buffers to 1. Returns NET_OK or why. */
enum net_drop net_hdr_fix_rx(struct virtio_net_hdr_v1 *hdr, uint64_t features, uint32_t frame_len,
                             uint32_t mtu);

#endif
