/* vsock_packet.c: decoding, validation and encoding of virtio-vsock packet headers. */
#include "devices/vsock_packet.h"

#include <string.h>

static uint64_t le64(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

static uint32_t le32(const uint8_t *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

static uint16_t le16(const uint8_t *p)
{
    uint16_t v;
    memcpy(&v, p, 2);
    return v;
}

void vsock_hdr_decode(const uint8_t raw[VSOCK_HDR_SIZE], struct vsock_hdr *h)
{
    h->src_cid = le64(raw + 0);
    h->dst_cid = le64(raw + 8);
    h->src_port = le32(raw + 16);
    h->dst_port = le32(raw + 20);
    h->len = le32(raw + 24);
    h->type = le16(raw + 28);
    h->op = le16(raw + 30);
    h->flags = le32(raw + 32);
    h->buf_alloc = le32(raw + 36);
    h->fwd_cnt = le32(raw + 40);
}

void vsock_hdr_encode(const struct vsock_hdr *h, uint8_t raw[VSOCK_HDR_SIZE])
{
    memcpy(raw + 0, &h->src_cid, 8);
    memcpy(raw + 8, &h->dst_cid, 8);
    memcpy(raw + 16, &h->src_port, 4);
    memcpy(raw + 20, &h->dst_port, 4);
    memcpy(raw + 24, &h->len, 4);
    memcpy(raw + 28, &h->type, 2);
    memcpy(raw + 30, &h->op, 2);
    memcpy(raw + 32, &h->flags, 4);
    memcpy(raw + 36, &h->buf_alloc, 4);
    memcpy(raw + 40, &h->fwd_cnt, 4);
}

int vsock_pkt_parse_tx(const struct virtq *vq, const struct virtq_chain *chain, struct vsock_hdr *h,
                       const char **why)
{
    uint8_t raw[VSOCK_HDR_SIZE];
    if (chain->read_len < VSOCK_HDR_SIZE) {
        *why = "TX chain shorter than the packet header";
        return -1;
    }
    if (virtq_chain_read(vq, chain, 0, raw, VSOCK_HDR_SIZE) != VSOCK_HDR_SIZE) {
        *why = "TX header not readable";
        return -1;
    }
    vsock_hdr_decode(raw, h);
    if (h->len > VSOCK_MAX_PAYLOAD) {
        *why = "packet length above 64 KiB";
        return -1;
    }
    if (h->len > chain->read_len - VSOCK_HDR_SIZE) {
        *why = "packet length beyond the TX chain";
        return -1;
    }
    if (h->op == VSOCK_OP_INVALID || h->op > VSOCK_OP_CREDIT_REQUEST) {
        *why = "unknown operation";
        return -1;
    }
    if (h->len && h->op != VSOCK_OP_RW) {
        *why = "payload on a control packet";
        return -1;
    }
    return 0;
}

uint32_t vsock_pkt_rx_room(const struct virtq_chain *chain)
{
    return chain->write_len > VSOCK_HDR_SIZE ? chain->write_len - VSOCK_HDR_SIZE : 0;
}

int64_t vsock_pkt_write_rx(const struct virtq *vq, const struct virtq_chain *chain,
                           struct vsock_hdr *h, const void *payload, uint32_t len)
{
    if (chain->write_len < VSOCK_HDR_SIZE || len > chain->write_len - VSOCK_HDR_SIZE)
        return -1;
    h->len = len;
    uint8_t raw[VSOCK_HDR_SIZE];
    vsock_hdr_encode(h, raw);
    if (virtq_chain_write(vq, chain, 0, raw, VSOCK_HDR_SIZE) != VSOCK_HDR_SIZE)
        return -1;
    if (len && virtq_chain_write(vq, chain, VSOCK_HDR_SIZE, payload, len) != len)
        return -1;
    return VSOCK_HDR_SIZE + (int64_t)len;
}

int64_t vsock_pkt_write_rx_hdr(const struct virtq *vq, const struct virtq_chain *chain,
                               struct vsock_hdr *h, uint32_t len)
{
    if (chain->write_len < VSOCK_HDR_SIZE || len > chain->write_len - VSOCK_HDR_SIZE)
        return -1;
    h->len = len;
    uint8_t raw[VSOCK_HDR_SIZE];
    vsock_hdr_encode(h, raw);
    if (virtq_chain_write(vq, chain, 0, raw, VSOCK_HDR_SIZE) != VSOCK_HDR_SIZE)
        return -1;
    return VSOCK_HDR_SIZE + (int64_t)len;
}
