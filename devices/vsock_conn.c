/* vsock_conn.c: vsock connection credit accounting and the host-bound ring buffer. */
#include "devices/vsock_conn.h"

#include <stdlib.h>
#include <string.h>

int vsock_conn_init(struct vsock_conn *c, enum vsock_conn_state state, uint32_t local_port,
                    uint32_t peer_port)
{
    memset(c, 0, sizeof(*c));
    c->buf = malloc(VSOCK_CONN_BUF);
    if (!c->buf)
        return -1;
    c->state = state;
    c->local_port = local_port;
    c->peer_port = peer_port;
    return 0;
}

void vsock_conn_destroy(struct vsock_conn *c)
{
    free(c->buf);
    c->buf = NULL;
}

void vsock_conn_peer_credit_update(struct vsock_conn *c, uint32_t buf_alloc, uint32_t fwd_cnt)
{
    c->peer_buf_alloc = buf_alloc;
    c->peer_fwd_cnt = fwd_cnt;
}

uint32_t vsock_conn_peer_credit(const struct vsock_conn *c)
{
    /* In flight = sent but not yet consumed by the guest; a fwd_cnt "ahead" of tx_cnt shows up
     * as a huge in-flight count and is treated as no credit rather than as extra credit. */
    uint32_t in_flight = c->tx_cnt - c->peer_fwd_cnt;
    if (in_flight >= c->peer_buf_alloc)
        return 0;
    return c->peer_buf_alloc - in_flight;
}

void vsock_conn_sent(struct vsock_conn *c, uint32_t n)
{
    c->tx_cnt += n;
}

uint32_t vsock_conn_buf_free(const struct vsock_conn *c)
{
    return VSOCK_CONN_BUF - c->buf_len;
}

int vsock_conn_push(struct vsock_conn *c, const void *data, uint32_t len)
{
    if (!c->buf || len > vsock_conn_buf_free(c))
        return -1;
    const uint8_t *src = data;
    uint32_t tail = (c->buf_head + c->buf_len) % VSOCK_CONN_BUF;
    uint32_t first = VSOCK_CONN_BUF - tail < len ? VSOCK_CONN_BUF - tail : len;
    memcpy(c->buf + tail, src, first);
    memcpy(c->buf, src + first, len - first);
    c->buf_len += len;
    return 0;
}

void vsock_conn_peek(const struct vsock_conn *c, const uint8_t **data, uint32_t *len)
{
    uint32_t run = VSOCK_CONN_BUF - c->buf_head;
    *data = c->buf + c->buf_head;
    *len = c->buf_len < run ? c->buf_len : run;
}

void vsock_conn_consume(struct vsock_conn *c, uint32_t n)
{
    if (n > c->buf_len)
        n = c->buf_len;
    c->buf_head = (c->buf_head + n) % VSOCK_CONN_BUF;
    c->buf_len -= n;
    vsock_conn_forwarded(c, n);
}

void vsock_conn_forwarded(struct vsock_conn *c, uint32_t n)
{
    c->fwd_cnt += n;
    if (c->state == VSOCK_CONN_ESTABLISHED && c->fwd_cnt - c->fwd_cnt_sent >= VSOCK_CONN_BUF / 2)
        c->pending |= VSOCK_PEND_CREDIT;
}

void vsock_conn_fill_hdr(struct vsock_conn *c, uint64_t guest_cid, struct vsock_hdr *h, uint16_t op)
{
    memset(h, 0, sizeof(*h));
    h->src_cid = VSOCK_HOST_CID;
    h->dst_cid = guest_cid;
    h->src_port = c->local_port;
    h->dst_port = c->peer_port;
    h->type = VSOCK_TYPE_STREAM;
    h->op = op;
    h->buf_alloc = VSOCK_CONN_BUF;
    h->fwd_cnt = c->fwd_cnt;
    c->fwd_cnt_sent = c->fwd_cnt;
    c->pending &= ~(unsigned)VSOCK_PEND_CREDIT;
}
