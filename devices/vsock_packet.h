/* vsock_packet.h: virtio-vsock packet headers: decoded once from the guest, validated, encoded. */
#ifndef COCOON_VSOCK_PACKET_H
#define COCOON_VSOCK_PACKET_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "devices/virtq.h"

#define VSOCK_HDR_SIZE    44
#define VSOCK_MAX_PAYLOAD (64 * 1024) /* larger packets are refused (Firecracker's bound) */
#define VSOCK_HOST_CID    2

#define VSOCK_TYPE_STREAM 1

enum vsock_op {
    VSOCK_OP_INVALID = 0,
    VSOCK_OP_REQUEST = 1,
    VSOCK_OP_RESPONSE = 2,
    VSOCK_OP_RST = 3,
    VSOCK_OP_SHUTDOWN = 4,
    VSOCK_OP_RW = 5,
    VSOCK_OP_CREDIT_UPDATE = 6,
    VSOCK_OP_CREDIT_REQUEST = 7,
};

#define VSOCK_SHUTDOWN_RCV  1
#define VSOCK_SHUTDOWN_SEND 2

/* Host-side copy of struct virtio_vsock_hdr (the wire form is packed little-endian). */
struct vsock_hdr {
    uint64_t src_cid, dst_cid;
    uint32_t src_port, dst_port;
    uint32_t len;
    uint16_t type, op;
    uint32_t flags, buf_alloc, fwd_cnt;
};

void vsock_hdr_decode(const uint8_t raw[VSOCK_HDR_SIZE], struct vsock_hdr *h);
void vsock_hdr_encode(const struct vsock_hdr *h, uint8_t raw[VSOCK_HDR_SIZE]);

/* Copies the header out of a TX chain (once) and checks it against the chain: the readable
 * part must hold the header, len <= VSOCK_MAX_PAYLOAD, len <= readable bytes after the header,
 * len == 0 unless op is RW, op known. Returns 0, or -1 with a static reason in *why. */
int vsock_pkt_parse_tx(const struct virtq *vq, const struct virtq_chain *chain, struct vsock_hdr *h,
                       const char **why);

/* Space for payload in an RX chain after the header (0 if the header does not fit). */
uint32_t vsock_pkt_rx_room(const struct virtq_chain *chain);

/* Writes header (with h->len = len) and payload into an RX chain. Returns the total bytes
 * written, or -1 if the chain is too small or no longer accessible. */
int64_t vsock_pkt_write_rx(const struct virtq *vq, const struct virtq_chain *chain,
                           struct vsock_hdr *h, const void *payload, uint32_t len);

/* Writes only the header (h->len = len) of an RX packet whose payload is already in the chain.
 * Returns VSOCK_HDR_SIZE + len, or -1 like vsock_pkt_write_rx. */
int64_t vsock_pkt_write_rx_hdr(const struct virtq *vq, const struct virtq_chain *chain,
                               struct vsock_hdr *h, uint32_t len);

#endif
