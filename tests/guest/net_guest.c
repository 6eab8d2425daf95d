/* net_guest.c: test guest driving cocoon's virtio-net against a tap peer (UDP, ARP, hostile rings).
 *
 * cmdline: mode=1 exchange: checks MAC/MTU in config space, ARPs for the peer 10.0.2.1 (the host
 *                  kernel answers), sends 1000 UDP datagrams 10.0.2.2:6001 -> 10.0.2.1:6000, one
 *                  oversized frame (must be dropped) and an end marker, prints "READY rx", then
 *                  receives 1000 datagrams from the peer and checks order and bytes, and that the
 *                  oversized datagram the peer sent first never arrives
 *          mode=2 hostile: tx chain with a writable descriptor, rx chain with a readable one, a
 *                  descriptor loop and an avail-index jump must each end in NEEDS_RESET with the
 *                  virtio-blk bystander still working; then a reset device exchanges a datagram
 * Device set-up and printing run in ring 0 (port I/O faults at CPL 3 on this host); the 1000-frame
 * loops run at CPL 3. Payload layout shared with tests/integration/blknet.py.
 */
#include "rt/rt.h"
#include "rt/virtio.h"

#define VIRTIO_ID_NET   1
#define VIRTIO_ID_BLOCK 2
#define F_MTU           3
#define F_MAC           5
#define F_STATUS        16
#define NET_HDR         12
#define QSZ             256
#define RXBUFS          64
#define BUFSZ           2048
#define FRAMES          1000
#define GUEST_PORT      6001
#define PEER_PORT       6000
#define END_SEQ         0xFFFFFFFFu
#define OVERSIZE_SEQ    0xEEEEEEEEu
#define SPINS           4000000000ULL

static const uint8_t guest_mac[6] = {0x52, 0x54, 0x00, 0x12, 0x34, 0x56};
static const uint8_t guest_ip[4] = {10, 0, 2, 2};
static const uint8_t peer_ip[4] = {10, 0, 2, 1};

static struct vdev dev;
static struct vq rxq, txq;
static uint8_t *rxbuf, *txbuf;
static uint8_t peer_mac[6];
static unsigned tx_inflight;
static uint16_t tx_next;
static unsigned failures;

__attribute__((format(printf, 3, 4))) static void check(const char *name, int ok, const char *fmt,
                                                        ...)
{
    va_list ap;
    va_start(ap, fmt);
    rt_printf("CHECK %s %s ", name, ok ? "PASS" : "FAIL");
    rt_vprintf(fmt, ap);
    rt_printf("\n");
    va_end(ap);
    if (!ok)
        failures++;
}

static uint16_t be16(uint16_t v)
{
    return (uint16_t)(v << 8 | v >> 8);
}

static uint32_t payload_len(uint32_t seq)
{
    return 16 + (seq * 37) % 1400;
}

static uint8_t payload_byte(uint32_t seq, uint32_t i)
{
    return (uint8_t)(seq + i);
}

/* ---- device set-up (ring 0) ---- */

static void post_rx(uint16_t d)
{
    vq_set_desc(&rxq, d, (uintptr_t)(rxbuf + (uint64_t)d * BUFSZ), BUFSZ, VRING_DESC_F_WRITE, 0);
    vq_publish(&rxq, d);
}

static void net_setup(void)
{
    if (vdev_find(VIRTIO_ID_NET, 0, &dev) < 0)
        rt_fail("virtio-net not found");
    if (vdev_negotiate(&dev, 1ULL << F_MAC | 1ULL << F_MTU | 1ULL << F_STATUS) < 0)
        rt_fail("virtio-net: feature negotiation failed");
    if (vq_setup(&dev, &rxq, 0, QSZ) < 0 || vq_setup(&dev, &txq, 1, QSZ) < 0)
        rt_fail("virtio-net: queue setup failed");
    vdev_driver_ok(&dev);
    if (!rxbuf) {
        rxbuf = vt_alloc((uint64_t)RXBUFS * BUFSZ, 4096);
        txbuf = vt_alloc((uint64_t)QSZ * BUFSZ, 4096);
    }
    tx_inflight = 0;
    tx_next = 0;
}

static void post_all_rx(void)
{
    for (uint16_t d = 0; d < RXBUFS; d++)
        post_rx(d);
    vq_kick(&rxq);
}

/* ---- frames ---- */

static uint16_t ip_csum(const uint8_t *p, unsigned n)
{
    uint32_t s = 0;
    for (unsigned i = 0; i + 1 < n; i += 2)
        s += (uint32_t)p[i] << 8 | p[i + 1];
    while (s >> 16)
        s = (s & 0xFFFF) + (s >> 16);
    return (uint16_t)~s;
}

/* Builds header + Ethernet + IPv4 + UDP carrying `len` payload bytes of seq at buf; returns the
 * chain length (virtio header included). */
static uint32_t build_udp(uint8_t *buf, uint32_t seq, uint32_t len)
{
    memset(buf, 0, NET_HDR);
    uint8_t *e = buf + NET_HDR;
    memcpy(e, peer_mac, 6);
    memcpy(e + 6, guest_mac, 6);
    e[12] = 0x08;
    e[13] = 0x00;
    uint8_t *ip = e + 14;
    uint16_t tot = (uint16_t)(20 + 8 + len);
    memset(ip, 0, 20);
    ip[0] = 0x45;
    *(uint16_t *)(ip + 2) = be16(tot);
    *(uint16_t *)(ip + 4) = be16((uint16_t)seq);
    ip[6] = 0x40; /* DF */
    ip[8] = 64;
    ip[9] = 17;
    memcpy(ip + 12, guest_ip, 4);
    memcpy(ip + 16, peer_ip, 4);
    *(uint16_t *)(ip + 10) = be16(ip_csum(ip, 20));
    uint8_t *udp = ip + 20;
    *(uint16_t *)(udp + 0) = be16(GUEST_PORT);
    *(uint16_t *)(udp + 2) = be16(PEER_PORT);
    *(uint16_t *)(udp + 4) = be16((uint16_t)(8 + len));
    *(uint16_t *)(udp + 6) = 0;
    uint8_t *pl = udp + 8;
    memcpy(pl, &seq, 4);
    for (uint32_t i = 4; i < len; i++)
        pl[i] = payload_byte(seq, i);
    return NET_HDR + 14 + 20 + 8 + len;
}

/* Reclaims finished tx chains; with wait, spins until at least one came back. */
static void tx_reap(int wait)
{
    uint32_t id, len;
    for (uint64_t i = 0; i < SPINS; i++) {
        int got = 0;
        while (vq_get_used(&txq, &id, &len)) {
            tx_inflight--;
            got = 1;
        }
        if (got || !wait)
            return;
        rt_pause();
    }
}

/* Sends the chain already built in tx slot `slot`. */
static void tx_send_slot(uint16_t slot, uint32_t chain_len)
{
    vq_set_desc(&txq, slot, (uintptr_t)(txbuf + (uint64_t)slot * BUFSZ), chain_len, 0, 0);
    vq_publish(&txq, slot);
    vq_kick(&txq);
    tx_inflight++;
}

static uint8_t *tx_slot(uint16_t *slot)
{
    while (tx_inflight >= QSZ / 2)
        tx_reap(1);
    *slot = tx_next;
    tx_next = (uint16_t)((tx_next + 1) % QSZ);
    return txbuf + (uint64_t)*slot * BUFSZ;
}

/* Takes one received frame: returns its buffer and length (virtio header excluded) or NULL. */
static uint8_t *rx_take(uint16_t *d, uint32_t *len)
{
    uint32_t id, l;
    if (!vq_get_used(&rxq, &id, &l))
        return NULL;
    *d = (uint16_t)id;
    *len = l >= NET_HDR ? l - NET_HDR : 0;
    return rxbuf + (uint64_t)id * BUFSZ + NET_HDR;
}

static void rx_recycle(uint16_t d)
{
    post_rx(d);
    vq_kick(&rxq);
}

/* ---- mode 1 ---- */

static int arp_exchange(void)
{
    uint16_t slot;
    uint8_t *b = tx_slot(&slot);
    memset(b, 0, NET_HDR + 60);
    uint8_t *e = b + NET_HDR;
    memset(e, 0xFF, 6);
    memcpy(e + 6, guest_mac, 6);
    e[12] = 0x08;
    e[13] = 0x06;
    uint8_t *a = e + 14;
    a[1] = 1;    /* htype Ethernet */
    a[2] = 0x08; /* ptype IPv4 */
    a[4] = 6;
    a[5] = 4;
    a[7] = 1; /* request */
    memcpy(a + 8, guest_mac, 6);
    memcpy(a + 14, guest_ip, 4);
    memcpy(a + 24, peer_ip, 4);
    tx_send_slot(slot, NET_HDR + 60);
    for (uint64_t i = 0; i < SPINS / 8; i++) {
        uint16_t d;
        uint32_t len;
        uint8_t *f = rx_take(&d, &len);
        if (!f) {
            rt_pause();
            continue;
        }
        int is_reply = len >= 42 && f[12] == 0x08 && f[13] == 0x06 && f[21] == 2 &&
                       !memcmp(f + 28, peer_ip, 4) && !memcmp(f + 38, guest_ip, 4);
        if (is_reply)
            memcpy(peer_mac, f + 22, 6);
        rx_recycle(d);
        if (is_reply)
            return 1;
    }
    return 0;
}

static uint64_t user_tx_bulk(uint64_t arg)
{
    (void)arg;
    for (uint32_t seq = 0; seq < FRAMES; seq++) {
        uint16_t slot;
        uint8_t *b = tx_slot(&slot);
        tx_send_slot(slot, build_udp(b, seq, payload_len(seq)));
    }
    uint16_t slot;
    uint8_t *b = tx_slot(&slot);
    tx_send_slot(slot, build_udp(b, OVERSIZE_SEQ, 1600 - 14 - 28)); /* a 1600-byte frame */
    b = tx_slot(&slot);
    tx_send_slot(slot, build_udp(b, END_SEQ, 4));
    while (tx_inflight)
        tx_reap(1);
    return 0;
}

struct rx_result {
    uint32_t good, bad, out_of_order, oversize, other;
    int end_seen;
};

static uint64_t user_rx_bulk(uint64_t arg)
{
    struct rx_result *r = (struct rx_result *)(uintptr_t)arg;
    uint32_t expect = 0;
    for (uint64_t i = 0; i < SPINS && !r->end_seen; i++) {
        uint16_t d;
        uint32_t len;
        uint8_t *f = rx_take(&d, &len);
        if (!f) {
            rt_pause();
            continue;
        }
        const uint8_t *ip = f + 14, *udp = f + 34, *pl = f + 42;
        if (len < 46 || f[12] != 0x08 || f[13] != 0x00 || ip[9] != 17 ||
            be16(*(const uint16_t *)(udp + 2)) != GUEST_PORT) {
            r->other++;
            rx_recycle(d);
            continue;
        }
        uint32_t plen = len - 42, seq;
        memcpy(&seq, pl, 4);
        if (seq == END_SEQ) {
            r->end_seen = 1;
        } else if (seq == OVERSIZE_SEQ || len > 1518) {
            r->oversize++;
        } else {
            if (seq != expect)
                r->out_of_order++;
            expect = seq + 1;
            int ok = plen == payload_len(seq);
            for (uint32_t k = 4; ok && k < plen; k++)
                ok = pl[k] == payload_byte(seq, k);
            if (ok)
                r->good++;
            else
                r->bad++;
        }
        rx_recycle(d);
    }
    return 0;
}

static void exchange(void)
{
    net_setup();
    uint32_t w0 = vdev_cfg_read32(&dev, 0), w1 = vdev_cfg_read32(&dev, 4);
    uint32_t w2 = vdev_cfg_read32(&dev, 8);
    uint8_t mac[6] = {(uint8_t)w0,         (uint8_t)(w0 >> 8), (uint8_t)(w0 >> 16),
                      (uint8_t)(w0 >> 24), (uint8_t)w1,        (uint8_t)(w1 >> 8)};
    unsigned link = (w1 >> 16) & 0xFFFF, mtu = (w2 >> 16) & 0xFFFF;
    check("net_config", !memcmp(mac, guest_mac, 6) && link == 1 && mtu == 1500,
          "mac=%x:%x:%x:%x:%x:%x link=%u mtu=%u", mac[0], mac[1], mac[2], mac[3], mac[4], mac[5],
          link, mtu);
    post_all_rx();
    int arp = arp_exchange();
    check("net_arp_reply", arp, "peer mac %x:%x:%x:%x:%x:%x", peer_mac[0], peer_mac[1], peer_mac[2],
          peer_mac[3], peer_mac[4], peer_mac[5]);
    if (!arp)
        return;
    rt_run_user(user_tx_bulk, 0);
    check("net_tx_done", tx_inflight == 0, "%u datagrams + oversized + end marker returned",
          FRAMES);
    rt_printf("READY rx\n");
    struct rx_result r = {0};
    rt_run_user(user_rx_bulk, (uintptr_t)&r);
    check("net_rx_frames", r.good == FRAMES && r.bad == 0 && r.out_of_order == 0 && r.end_seen,
          "good=%u bad=%u out_of_order=%u other=%u end=%d", r.good, r.bad, r.out_of_order, r.other,
          r.end_seen);
    check("net_rx_no_oversize", r.oversize == 0 && r.end_seen, "oversized frames seen=%u",
          r.oversize);
}

/* ---- mode 2 ---- */

static int bystander_ok(void)
{
    static struct vdev blk;
    static struct vq q;
    static uint8_t *mem;
    if (vdev_find(VIRTIO_ID_BLOCK, 0, &blk) < 0 || vdev_negotiate(&blk, 0) < 0 ||
        vq_setup(&blk, &q, 0, 8) < 0)
        return 0;
    vdev_driver_ok(&blk);
    if (!mem)
        mem = vt_alloc(4096, 4096);
    memset(mem, 0, 16);
    mem[1024] = 0xEE;
    vq_set_desc(&q, 0, (uintptr_t)mem, 16, VRING_DESC_F_NEXT, 1);
    vq_set_desc(&q, 1, (uintptr_t)mem + 512, 512, VRING_DESC_F_NEXT | VRING_DESC_F_WRITE, 2);
    vq_set_desc(&q, 2, (uintptr_t)mem + 1024, 1, VRING_DESC_F_WRITE, 0);
    vq_publish(&q, 0);
    vq_kick(&q);
    uint32_t id, len;
    for (uint64_t i = 0; i < 100000000ULL; i++) {
        if (vq_get_used(&q, &id, &len))
            return mem[1024] == 0 && mem[512] == 0x5A; /* d.img byte 0: pattern(0x5a, 0) */
        rt_pause();
    }
    return 0;
}

static int wait_needs_reset(void)
{
    return (vdev_wait_status(&dev, VIRTIO_STATUS_NEEDS_RESET, 20000000ULL) &
            VIRTIO_STATUS_NEEDS_RESET) != 0;
}

/* Sends one datagram to the peer, which echoes it back (the harness). */
static void ping(uint32_t seq)
{
    uint16_t slot;
    uint8_t *b = tx_slot(&slot);
    tx_send_slot(slot, build_udp(b, seq, 32));
}

static void hostile_case(const char *name, int which)
{
    net_setup();
    uint8_t *b = txbuf;
    switch (which) {
    case 0: /* tx chain with a device-writable descriptor */
        build_udp(b, 1, 32);
        vq_set_desc(&txq, 0, (uintptr_t)b, 100, VRING_DESC_F_WRITE, 0);
        vq_publish(&txq, 0);
        vq_kick(&txq);
        break;
    case 1: /* rx buffer the device may only read; revealed when a frame arrives */
        vq_set_desc(&rxq, 0, (uintptr_t)rxbuf, BUFSZ, 0, 0);
        vq_publish(&rxq, 0);
        vq_kick(&rxq);
        ping(0xA11E0000u + 1);
        break;
    case 2: /* descriptor loop on tx */
        vq_set_desc(&txq, 0, (uintptr_t)b, 64, VRING_DESC_F_NEXT, 1);
        vq_set_desc(&txq, 1, (uintptr_t)b + 64, 64, VRING_DESC_F_NEXT, 0);
        vq_publish(&txq, 0);
        vq_kick(&txq);
        break;
    default: /* avail index jump on rx */
        vq_set_desc(&rxq, 0, (uintptr_t)rxbuf, BUFSZ, VRING_DESC_F_WRITE, 0);
        vq_set_avail_idx(&rxq, QSZ + 9);
        vq_kick(&rxq);
        ping(0xA11E0000u + 3);
        break;
    }
    int nr = wait_needs_reset();
    int other = bystander_ok();
    check(name, nr && other, "needs_reset=%d bystander_blk_ok=%d", nr, other);
}

static void hostile(void)
{
    net_setup(); /* learn the peer's MAC first, so the rx cases can be triggered by its echo */
    post_all_rx();
    if (!arp_exchange())
        rt_fail("no ARP reply from the peer");
    hostile_case("net_hostile_tx_writable", 0);
    hostile_case("net_hostile_rx_readable", 1);
    hostile_case("net_hostile_loop", 2);
    hostile_case("net_hostile_avail_jump", 3);
    /* recovery: a freshly reset device exchanges a datagram with the peer */
    net_setup();
    post_all_rx();
    int arp = arp_exchange();
    int echoed = 0;
    if (arp) {
        ping(0xA11E0000u + 9);
        for (uint64_t i = 0; i < SPINS / 8 && !echoed; i++) {
            uint16_t d;
            uint32_t len;
            uint8_t *f = rx_take(&d, &len);
            if (!f) {
                rt_pause();
                continue;
            }
            uint32_t seq = 0;
            if (len >= 46 && f[12] == 0x08 && f[13] == 0x00)
                memcpy(&seq, f + 42, 4);
            echoed = seq == 0xA11E0000u + 9;
            rx_recycle(d);
        }
    }
    check("net_recovers_after_reset", arp && echoed, "arp=%d echo=%d", arp, echoed);
}

int main(void)
{
    uint64_t mode = rt_cmdline_uint("mode", 0);
    if (mode == 1)
        exchange();
    else if (mode == 2)
        hostile();
    else
        rt_fail("unknown mode %lu", (unsigned long)mode);
    rt_printf("RESULT %s failures=%u\n", failures ? "FAIL" : "PASS", failures);
    return failures ? 1 : 0;
}
