/* vsock_conn.h: one vsock stream connection: state, credit both ways, bounded host-bound buffer. */
#ifndef COCOON_VSOCK_CONN_H
#define COCOON_VSOCK_CONN_H

#include <stdbool.h>
#include <stdint.h>

#include "devices/vsock_packet.h"

/* Bytes buffered per connection on the way guest -> host socket (advertised as buf_alloc),
 * independent of anything the guest advertises. */
#define VSOCK_CONN_BUF (256 * 1024)

enum vsock_conn_state {
    VSOCK_CONN_CONNECTING, /* host-initiated: REQUEST sent or queued, waiting for RESPONSE */
    VSOCK_CONN_ESTABLISHED,
    VSOCK_CONN_CLOSING, /* RST queued; the connection goes away once it is sent */
};

/* Control packets a connection still has to send to the guest (bit set). */
enum vsock_conn_pending {
    VSOCK_PEND_REQUEST = 1,
    VSOCK_PEND_RESPONSE = 2,
    VSOCK_PEND_CREDIT = 4,   /* CREDIT_UPDATE */
    VSOCK_PEND_SHUTDOWN = 8, /* SHUTDOWN(RCV|SEND): the host socket is gone */
    VSOCK_PEND_RST = 16,
};

struct vsock_conn {
    enum vsock_conn_state state;
    uint32_t local_port; /* host side */
    uint32_t peer_port;  /* guest side */
    unsigned pending;    /* VSOCK_PEND_* */

    /* host -> guest credit (what the guest told us) */
    uint32_t peer_buf_alloc, peer_fwd_cnt;
    uint32_t tx_cnt; /* payload bytes sent to the guest, wrapping */

    /* guest -> host: ring buffer of bytes not yet written to the host socket */
    uint8_t *buf;
    uint32_t buf_head, buf_len;
    uint32_t fwd_cnt;      /* bytes written to the host socket, wrapping */
    uint32_t fwd_cnt_sent; /* fwd_cnt last advertised to the guest */

    bool peer_shut_rcv;  /* guest will not receive any more */
    bool peer_shut_send; /* guest will not send any more */
};

/* Initialises a connection (allocates its VSOCK_CONN_BUF buffer). Returns 0 or -1. */
int vsock_conn_init(struct vsock_conn *c, enum vsock_conn_state state, uint32_t local_port,
                    uint32_t peer_port);
void vsock_conn_destroy(struct vsock_conn *c);

/* Records the credit fields every guest packet carries. */
void vsock_conn_peer_credit_update(struct vsock_conn *c, uint32_t buf_alloc, uint32_t fwd_cnt);

/* Bytes the guest can still take: peer_buf_alloc - (tx_cnt - peer_fwd_cnt), saturating at 0
 * when the guest shrank buf_alloc or reported a fwd_cnt ahead of what we sent. */
uint32_t vsock_conn_peer_credit(const struct vsock_conn *c);

/* Accounts payload sent to the guest. */
void vsock_conn_sent(struct vsock_conn *c, uint32_t n);

/* Free space in the host-bound buffer. */
uint32_t vsock_conn_buf_free(const struct vsock_conn *c);

/* Appends guest payload; -1 (nothing appended) when it exceeds the credit we gave. */
int vsock_conn_push(struct vsock_conn *c, const void *data, uint32_t len);

/* The oldest contiguous run of buffered bytes (len 0 when empty). */
void vsock_conn_peek(const struct vsock_conn *c, const uint8_t **data, uint32_t *len);

/* Drops n bytes written to the host socket and advances fwd_cnt; may queue a CREDIT_UPDATE
 * when the guest has not heard about at least half the buffer being freed. */
void vsock_conn_consume(struct vsock_conn *c, uint32_t n);

/* Advances fwd_cnt by n bytes written to the host socket without passing through the buffer
 * (sent straight from guest memory); may queue a CREDIT_UPDATE like vsock_conn_consume. */
void vsock_conn_forwarded(struct vsock_conn *c, uint32_t n);

/* Fills the connection's fields of a header to the guest (cids, ports, type, credit) and
 * records the advertised fwd_cnt. */
void vsock_conn_fill_hdr(struct vsock_conn *c, uint64_t guest_cid, struct vsock_hdr *h,
                         uint16_t op);

#endif
