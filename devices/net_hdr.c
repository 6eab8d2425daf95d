/* net_hdr.c: validates virtio-net headers against negotiated offloads and frame limits. */
#include "devices/net_hdr.h"

#include <endian.h>
#include <stdbool.h>

static bool has(uint64_t features, unsigned bit)
{
    return (features >> bit) & 1;
}

static uint32_t plain_limit(uint32_t mtu)
{
    return mtu + NET_ETH_HLEN + NET_VLAN_HLEN;
}

uint32_t net_tx_frame_limit(uint64_t features, uint32_t mtu)
{
    if (has(features, VIRTIO_NET_F_HOST_TSO4) || has(features, VIRTIO_NET_F_HOST_TSO6))
        return NET_MAX_GSO_FRAME;
    uint32_t lim = plain_limit(mtu);
    return lim < NET_MAX_GSO_FRAME ? lim : NET_MAX_GSO_FRAME;
}

uint32_t net_rx_frame_limit(uint64_t features, uint32_t mtu)
{
    if (has(features, VIRTIO_NET_F_GUEST_TSO4) || has(features, VIRTIO_NET_F_GUEST_TSO6))
        return NET_MAX_GSO_FRAME;
    uint32_t lim = plain_limit(mtu);
    return lim < NET_MAX_GSO_FRAME ? lim : NET_MAX_GSO_FRAME;
}

/* csum_start + csum_offset + 2 must lie inside the frame (32-bit arithmetic cannot wrap). */
static bool csum_fields_ok(const struct virtio_net_hdr_v1 *hdr, uint32_t frame_len)
{
    uint32_t start = le16toh(hdr->csum_start), off = le16toh(hdr->csum_offset);
    return start + off + 2u <= frame_len;
}

/* Checks GSO fields given which GSO types the receiving side accepts. A guest's GSO frame must ask
 * for a checksum (the tap needs the offsets); the host kernel may hand over a GSO frame marked
 * DATA_VALID instead. */
static enum net_drop gso_ok(const struct virtio_net_hdr_v1 *hdr, bool tcp4, bool tcp6, bool ecn,
                            uint32_t frame_len, bool need_csum)
{
    uint8_t type = hdr->gso_type;
    if (type == VIRTIO_NET_HDR_GSO_NONE)
        return NET_OK;
    if ((type & VIRTIO_NET_HDR_GSO_ECN) && !ecn)
        return NET_DROP_BAD_HDR;
    type &= (uint8_t)~VIRTIO_NET_HDR_GSO_ECN;
    if (!((type == VIRTIO_NET_HDR_GSO_TCPV4 && tcp4) || (type == VIRTIO_NET_HDR_GSO_TCPV6 && tcp6)))
        return NET_DROP_BAD_HDR;
    if ((need_csum && !(hdr->flags & VIRTIO_NET_HDR_F_NEEDS_CSUM)) || le16toh(hdr->gso_size) == 0 ||
        le16toh(hdr->hdr_len) > frame_len)
        return NET_DROP_BAD_HDR;
    return NET_OK;
}

enum net_drop net_hdr_check_tx(const struct virtio_net_hdr_v1 *hdr, uint64_t features,
                               uint32_t frame_len, uint32_t mtu)
{
    if (frame_len < NET_ETH_HLEN)
        return NET_DROP_SHORT;
    if (frame_len > net_tx_frame_limit(features, mtu))
        return NET_DROP_OVERSIZE;
    if (hdr->flags & ~VIRTIO_NET_HDR_F_NEEDS_CSUM)
        return NET_DROP_BAD_HDR;
    if (hdr->flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) {
        if (!has(features, VIRTIO_NET_F_CSUM) || !csum_fields_ok(hdr, frame_len))
            return NET_DROP_BAD_HDR;
    }
    enum net_drop d =
        gso_ok(hdr, has(features, VIRTIO_NET_F_HOST_TSO4), has(features, VIRTIO_NET_F_HOST_TSO6),
               has(features, VIRTIO_NET_F_HOST_ECN), frame_len, true);
    if (d != NET_OK)
        return d;
    /* A non-GSO frame must fit the MTU even when TSO raised the absolute limit. */
    if (hdr->gso_type == VIRTIO_NET_HDR_GSO_NONE && frame_len > plain_limit(mtu))
        return NET_DROP_OVERSIZE;
    return NET_OK;
}

enum net_drop net_hdr_fix_rx(struct virtio_net_hdr_v1 *hdr, uint64_t features, uint32_t frame_len,
                             uint32_t mtu)
{
    if (frame_len < NET_ETH_HLEN)
        return NET_DROP_SHORT;
    if (frame_len > net_rx_frame_limit(features, mtu))
        return NET_DROP_OVERSIZE;
    bool guest_csum = has(features, VIRTIO_NET_F_GUEST_CSUM);
    if (!guest_csum)
        hdr->flags &= (uint8_t)~VIRTIO_NET_HDR_F_DATA_VALID;
    if (hdr->flags & ~(VIRTIO_NET_HDR_F_NEEDS_CSUM | VIRTIO_NET_HDR_F_DATA_VALID))
        return NET_DROP_BAD_HDR;
    if ((hdr->flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) &&
        (!guest_csum || !csum_fields_ok(hdr, frame_len)))
        return NET_DROP_BAD_HDR;
    enum net_drop d =
        gso_ok(hdr, has(features, VIRTIO_NET_F_GUEST_TSO4), has(features, VIRTIO_NET_F_GUEST_TSO6),
               has(features, VIRTIO_NET_F_GUEST_ECN), frame_len, false);
    if (d != NET_OK)
        return d;
    hdr->num_buffers = htole16(1);
    return NET_OK;
}
