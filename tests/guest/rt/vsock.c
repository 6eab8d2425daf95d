/* vsock.c: the test guests' vsock echo service: listen, echo, one greeting out (ring 3 loop). */
#include "rt/vsock.h"

#include "rt/rt.h"
#include "rt/virtio.h"

#define VIRTIO_ID_VSOCK 19
#define HDR             44
#define PKT_MAX         65536
#define NSLOTS          16
#define ECHO_BUF        (256 * 1024)
#define OUT_PORT        5000
#define MAX_CONNS       4

enum { OP_REQUEST = 1, OP_RESPONSE, OP_RST, OP_SHUTDOWN, OP_RW, OP_CREDIT_UPDATE, OP_CREDIT_REQ };

struct hdr {
    uint64_t src_cid, dst_cid;
    uint32_t src_port, dst_port, len;
    uint16_t type, op;
    uint32_t flags, buf_alloc, fwd_cnt;
} __attribute__((packed));

enum { C_FREE, C_CONNECTING, C_OPEN, C_CLOSING };

struct conn {
    int state;
    int outbound;
    uint32_t lport, pport;
    uint32_t peer_buf_alloc, peer_fwd_cnt, tx_cnt;
    uint32_t rx_total, fwd_cnt;
    uint8_t *ring;
    uint32_t head, len;
};

static struct vdev dev;
static struct vq rxq, txq, evq;
static uint8_t *rxbuf[NSLOTS], *txbuf[NSLOTS];
static int tx_busy[NSLOTS];
static uint64_t cid;
static uint32_t listen_port;
static const char *greeting;
static struct conn conns[MAX_CONNS];
static unsigned sessions_done;

/* Ring 3 cannot do port I/O here, so it records what to print and returns to ring 0. */
enum { EV_ACCEPT = 1, EV_SESSION_END, EV_OUT_CLOSED, EV_FAIL };
static struct event {
    int kind;
    uint32_t a, b, c;
} events[16];
static unsigned nr_events;

static void record(int kind, uint32_t a, uint32_t b, uint32_t c)
{
    if (nr_events < 16)
        events[nr_events++] = (struct event){kind, a, b, c};
}

static void print_events(void)
{
    for (unsigned i = 0; i < nr_events; i++) {
        struct event *e = &events[i];
        if (e->kind == EV_ACCEPT)
            rt_printf("vsock-echo: accepted host port %u on port %u\n", e->a, e->b);
        else if (e->kind == EV_SESSION_END)
            rt_printf("vsock-echo: session on port %u ended: %u bytes echoed\n", e->a, e->b);
        else if (e->kind == EV_OUT_CLOSED)
            rt_printf("vsock-echo: outbound connection to host port %u closed\n", e->a);
        else
            rt_fail("vsock-echo: protocol error %u (%u, %u)", e->a, e->b, e->c);
    }
    nr_events = 0;
}

static void reclaim_tx(void)
{
    uint32_t id, len;
    while (vq_get_used(&txq, &id, &len))
        if (id < NSLOTS)
            tx_busy[id] = 0;
}

static void send_pkt(uint32_t lport, uint32_t pport, uint16_t op, uint32_t flags,
                     const struct conn *c, const uint8_t *data, uint32_t len)
{
    int slot = -1;
    for (;;) {
        reclaim_tx();
        for (int i = 0; i < NSLOTS && slot < 0; i++)
            if (!tx_busy[i])
                slot = i;
        if (slot >= 0)
            break;
        rt_pause();
    }
    struct hdr h = {.src_cid = cid,
                    .dst_cid = 2,
                    .src_port = lport,
                    .dst_port = pport,
                    .len = len,
                    .type = 1,
                    .op = op,
                    .flags = flags,
                    .buf_alloc = ECHO_BUF,
                    .fwd_cnt = c ? c->fwd_cnt : 0};
    memcpy(txbuf[slot], &h, HDR);
    if (len)
        memcpy(txbuf[slot] + HDR, data, len);
    tx_busy[slot] = 1;
    vq_set_desc(&txq, (uint16_t)slot, (uint64_t)(uintptr_t)txbuf[slot], HDR + len, 0, 0);
    vq_publish(&txq, (uint16_t)slot);
    vq_kick(&txq);
}

static struct conn *conn_find(uint32_t lport, uint32_t pport)
{
    for (int i = 0; i < MAX_CONNS; i++)
        if (conns[i].state != C_FREE && conns[i].lport == lport && conns[i].pport == pport)
            return &conns[i];
    return 0;
}

static struct conn *conn_new(uint32_t lport, uint32_t pport, int state)
{
    for (int i = 0; i < MAX_CONNS; i++) {
        struct conn *c = &conns[i];
        if (c->state == C_FREE) {
            uint8_t *ring = c->ring;
            memset(c, 0, sizeof(*c));
            c->ring = ring;
            c->state = state;
            c->lport = lport;
            c->pport = pport;
            return c;
        }
    }
    return 0;
}

static void conn_end(struct conn *c)
{
    if (!c->outbound) {
        sessions_done++;
        record(EV_SESSION_END, c->lport, c->fwd_cnt, 0);
    } else {
        record(EV_OUT_CLOSED, c->pport, 0, 0);
    }
    c->state = C_FREE;
}

static uint32_t peer_credit(const struct conn *c)
{
    uint32_t in_flight = c->tx_cnt - c->peer_fwd_cnt;
    return in_flight >= c->peer_buf_alloc ? 0 : c->peer_buf_alloc - in_flight;
}

/* Sends buffered bytes back as far as the host's credit allows. */
static void pump(struct conn *c)
{
    while (c->state == C_OPEN && c->len) {
        uint32_t n = ECHO_BUF - c->head < c->len ? ECHO_BUF - c->head : c->len;
        uint32_t credit = peer_credit(c);
        if (n > credit)
            n = credit;
        if (n > PKT_MAX)
            n = PKT_MAX;
        if (!n)
            return;
        const uint8_t *p = c->ring + c->head;
        c->head = (c->head + n) % ECHO_BUF;
        c->len -= n;
        c->fwd_cnt += n;
        c->tx_cnt += n;
        send_pkt(c->lport, c->pport, OP_RW, 0, c, p, n);
    }
}

static void handle(const uint8_t *buf, uint32_t used_len)
{
    struct hdr h;
    if (used_len < HDR) {
        record(EV_FAIL, 1, used_len, 0);
        return;
    }
    memcpy(&h, buf, HDR);
    if (h.dst_cid != cid || h.src_cid != 2 || HDR + h.len > used_len) {
        record(EV_FAIL, 2, h.len, used_len);
        return;
    }
    struct conn *c = conn_find(h.dst_port, h.src_port);
    if (c) {
        c->peer_buf_alloc = h.buf_alloc;
        c->peer_fwd_cnt = h.fwd_cnt;
    }
    switch (h.op) {
    case OP_REQUEST:
        if (c || h.dst_port != listen_port || !(c = conn_new(h.dst_port, h.src_port, C_OPEN))) {
            send_pkt(h.dst_port, h.src_port, OP_RST, 0, 0, 0, 0);
            return;
        }
        c->peer_buf_alloc = h.buf_alloc;
        c->peer_fwd_cnt = h.fwd_cnt;
        send_pkt(c->lport, c->pport, OP_RESPONSE, 0, c, 0, 0);
        record(EV_ACCEPT, c->pport, c->lport, 0);
        return;
    case OP_RESPONSE:
        if (c && c->state == C_CONNECTING) {
            uint32_t n = (uint32_t)strlen(greeting);
            c->state = C_OPEN;
            c->tx_cnt += n;
            send_pkt(c->lport, c->pport, OP_RW, 0, c, (const uint8_t *)greeting, n);
            send_pkt(c->lport, c->pport, OP_SHUTDOWN, 3, c, 0, 0);
            c->state = C_CLOSING;
        }
        return;
    case OP_RW:
        if (!c || c->state != C_OPEN)
            return;
        if (h.len > ECHO_BUF - c->len) {
            record(EV_FAIL, 3, h.len, ECHO_BUF - c->len);
            return;
        }
        for (uint32_t i = 0; i < h.len;) {
            uint32_t tail = (c->head + c->len) % ECHO_BUF;
            uint32_t n = ECHO_BUF - tail < h.len - i ? ECHO_BUF - tail : h.len - i;
            memcpy(c->ring + tail, buf + HDR + i, n);
            c->len += n;
            i += n;
        }
        c->rx_total += h.len;
        return;
    case OP_CREDIT_REQ:
        if (c)
            send_pkt(c->lport, c->pport, OP_CREDIT_UPDATE, 0, c, 0, 0);
        return;
    case OP_SHUTDOWN:
        if (c) {
            send_pkt(c->lport, c->pport, OP_RST, 0, c, 0, 0);
            conn_end(c);
        }
        return;
    case OP_RST:
        if (c)
            conn_end(c);
        return;
    default:
        return;
    }
}

/* Ring 3: moves packets until there is something to print or the sessions are done. */
static uint64_t serve_step(uint64_t sessions)
{
    while ((!sessions || sessions_done < sessions) && !nr_events) {
        uint32_t id, len;
        int reposted = 0;
        reclaim_tx();
        while (vq_get_used(&rxq, &id, &len)) {
            if (id >= NSLOTS) {
                record(EV_FAIL, 4, id, 0);
                break;
            }
            handle(rxbuf[id], len);
            vq_publish(&rxq, (uint16_t)id);
            reposted = 1;
        }
        if (reposted)
            vq_kick(&rxq);
        for (int i = 0; i < MAX_CONNS; i++)
            pump(&conns[i]);
        if (!reposted)
            rt_pause();
    }
    return 0;
}

uint64_t vsock_echo_start(uint32_t port)
{
    if (vdev_find(VIRTIO_ID_VSOCK, 0, &dev) < 0)
        rt_fail("no virtio-vsock function on bus 0");
    if (vdev_negotiate(&dev, 0) < 0)
        rt_fail("feature negotiation failed");
    if (vq_setup(&dev, &rxq, 0, NSLOTS) < 0 || vq_setup(&dev, &txq, 1, NSLOTS) < 0 ||
        vq_setup(&dev, &evq, 2, 4) < 0)
        rt_fail("queue setup failed");
    vdev_driver_ok(&dev);
    cid = vdev_cfg_read64(&dev, 0);
    listen_port = port;
    rt_printf("vsock-echo: virtio-vsock at 00:%02x.0, features %lx, guest cid %lu\n", dev.slot,
              (unsigned long)dev.features, (unsigned long)cid);
    for (int i = 0; i < MAX_CONNS; i++)
        conns[i].ring = vt_alloc(ECHO_BUF, 4096);
    for (uint16_t i = 0; i < NSLOTS; i++) {
        rxbuf[i] = vt_alloc(HDR + PKT_MAX, 4096);
        txbuf[i] = vt_alloc(HDR + PKT_MAX, 4096);
        vq_set_desc(&rxq, i, (uint64_t)(uintptr_t)rxbuf[i], HDR + PKT_MAX, VRING_DESC_F_WRITE, 0);
        vq_publish(&rxq, i);
    }
    vq_kick(&rxq);
    rt_printf("vsock-echo: listening on port %u\n", listen_port);
    return cid;
}

void vsock_echo_connect(uint32_t host_port, const char *text)
{
    struct conn *c = conn_new(OUT_PORT, host_port, C_CONNECTING);
    if (!c)
        rt_fail("vsock-echo: no free connection slot");
    greeting = text;
    c->outbound = 1;
    send_pkt(OUT_PORT, host_port, OP_REQUEST, 0, c, 0, 0);
}

unsigned vsock_echo_serve(unsigned sessions)
{
    while (!sessions || sessions_done < sessions) {
        rt_run_user(serve_step, sessions);
        print_events();
    }
    rt_printf("vsock-echo: %u session(s) done\n", sessions_done);
    return sessions_done;
}
