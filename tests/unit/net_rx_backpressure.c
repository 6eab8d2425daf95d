/* net_rx_backpressure.c: virtio-net rx pauses while the guest has no buffers and resumes on the
 * rx kick without losing order; oversized and misfit frames are dropped and counted; tx checks. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cmocka.h>

#include "devices/virtio_net.h"
#include "support/vring_sim.h"

#define RAM     (1024 * 1024)
#define QSZ     16
#define RX_RING 0x1000
#define TX_RING 0x3000
#define RX_BUF  0x10000 /* QSZ buffers of BUFSZ */
#define TX_BUF  0x80000
#define BUFSZ   (NET_HDR_LEN + 1518)

static uint8_t ram[RAM];
static struct guest_mem gm;
static struct vring_sim rx, tx;
static uv_loop_t loop;
static int peer = -1, tapfd = -1;
static struct virtio_net *net;
static struct virtio_device *vdev;
static unsigned signals[2];
static bool needs_reset;
static uint16_t rx_next_desc;
static const struct rate_limiter_config *setup_rl; /* the next setup's rate limiter, or NULL */

static void fake_signal_queue(void *ctx, unsigned q)
{
    if (q < 2)
        signals[q]++;
}

static void fake_signal_config(void *ctx) {}

static void fake_needs_reset(void *ctx)
{
    needs_reset = true;
}

static const struct virtio_transport_ops fake_transport = {fake_signal_queue, fake_signal_config,
                                                           fake_needs_reset};

static int setup(void **state)
{
    memset(ram, 0, sizeof(ram));
    gm_init_host(&gm, ram, RAM);
    assert_int_equal(uv_loop_init(&loop), 0);
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
    peer = sv[1];
    tapfd = sv[0];
    struct virtio_net_params p = {.tap = {.fd = sv[0], .vnet_hdr = true, .is_tap = false},
                                  .mac = {0x02, 1, 2, 3, 4, 5},
                                  .mac_set = true,
                                  .queue_size = QSZ,
                                  .rate_limiter = setup_rl};
    char err[128];
    assert_int_equal(virtio_net_create(&p, &gm, &loop, &net, err, sizeof(err)), 0);
    vdev = virtio_net_vdev(net);
    vdev->transport = &fake_transport;
    vring_sim_init(&rx, ram, QSZ, RX_RING);
    vring_sim_init(&tx, ram, QSZ, TX_RING);
    assert_int_equal(virtq_init(&vdev->vq[0], &gm, QSZ, QSZ, rx.desc, rx.avail, rx.used), 0);
    assert_int_equal(virtq_init(&vdev->vq[1], &gm, QSZ, QSZ, tx.desc, tx.avail, tx.used), 0);
    vdev->driver_features = vdev->features & (1ULL << VIRTIO_NET_F_MAC | 1ULL << VIRTIO_NET_F_MTU);
    signals[0] = signals[1] = 0;
    needs_reset = false;
    rx_next_desc = 0;
    assert_int_equal(vdev->ops->activate(vdev), 0);
    return 0;
}

static int teardown(void **state)
{
    virtio_net_destroy(net);
    uv_run(&loop, UV_RUN_NOWAIT);
    assert_int_equal(uv_loop_close(&loop), 0);
    close(peer);
    return 0;
}

static void pump(void)
{
    for (int i = 0; i < 4; i++)
        uv_run(&loop, UV_RUN_NOWAIT);
}

/* Host side: one frame = zero virtio header + Ethernet frame whose bytes carry seq. */
static void host_send(uint32_t seq, size_t frame_len)
{
    static uint8_t buf[NET_HDR_LEN + 4096];
    memset(buf, 0, NET_HDR_LEN);
    for (size_t i = 0; i < frame_len; i++)
        buf[NET_HDR_LEN + i] = (uint8_t)(seq + i);
    memcpy(buf + NET_HDR_LEN + 12, &seq, 4);
    assert_int_equal(send(peer, buf, NET_HDR_LEN + frame_len, 0),
                     (ssize_t)(NET_HDR_LEN + frame_len));
}

static void post_rx(unsigned count, uint32_t len)
{
    for (unsigned i = 0; i < count; i++) {
        uint16_t d = rx_next_desc++ % QSZ;
        vring_sim_desc(&rx, d, RX_BUF + (uint64_t)d * BUFSZ, len, VIRTQ_DESC_F_WRITE, 0);
        vring_sim_publish(&rx, d);
    }
}

/* Takes one used rx element and returns the seq it carries (or UINT32_MAX for len 0). */
static uint32_t take_rx(uint32_t *len_out)
{
    uint32_t id, len;
    assert_true(vring_sim_take_used(&rx, &id, &len));
    *len_out = len;
    if (len == 0)
        return UINT32_MAX;
    const uint8_t *b = ram + RX_BUF + (uint64_t)id * BUFSZ;
    uint16_t nb;
    memcpy(&nb, b + 10, 2);
    assert_int_equal(nb, 1);
    uint32_t seq;
    memcpy(&seq, b + NET_HDR_LEN + 12, 4);
    for (uint32_t i = 16; i < len - NET_HDR_LEN; i++)
        assert_int_equal(b[NET_HDR_LEN + i], (uint8_t)(seq + i));
    return seq;
}

static void pauses_without_buffers_and_resumes_in_order(void **state)
{
    for (uint32_t s = 0; s < 20; s++)
        host_send(s, 60);
    pump();
    uint32_t id, len;
    assert_false(vring_sim_take_used(&rx, &id, &len));
    assert_false(virtio_net_rx_polling(net)); /* not spinning on a readable tap */

    post_rx(5, BUFSZ);
    vdev->ops->queue_notify(vdev, VIRTIO_NET_Q_RX);
    pump();
    for (uint32_t s = 0; s < 5; s++) {
        assert_int_equal(take_rx(&len), s);
        assert_int_equal(len, NET_HDR_LEN + 60);
    }
    assert_false(vring_sim_take_used(&rx, &id, &len));
    assert_false(virtio_net_rx_polling(net));
    assert_true(signals[0] > 0);

    post_rx(16, BUFSZ);
    vdev->ops->queue_notify(vdev, VIRTIO_NET_Q_RX);
    pump();
    for (uint32_t s = 5; s < 20; s++)
        assert_int_equal(take_rx(&len), s);
    assert_false(vring_sim_take_used(&rx, &id, &len));
    assert_true(virtio_net_rx_polling(net)); /* one buffer left: listening again */

    host_send(20, 100);
    pump();
    assert_int_equal(take_rx(&len), 20);
    assert_false(needs_reset);
    struct virtio_net_stats st;
    virtio_net_get_stats(net, &st);
    assert_int_equal(st.rx_frames, 21);
}

static void oversized_and_misfit_frames_dropped(void **state)
{
    post_rx(4, BUFSZ);
    vdev->ops->queue_notify(vdev, VIRTIO_NET_Q_RX);
    host_send(1, 1519); /* above mtu + 18 */
    host_send(2, 1518);
    host_send(3, 8); /* runt */
    pump();
    uint32_t len;
    assert_int_equal(take_rx(&len), 2);
    assert_int_equal(len, NET_HDR_LEN + 1518);
    /* a buffer too small for the next frame: returned empty, frame counted */
    post_rx(1, 40);
    for (uint32_t s = 4; s < 8; s++) /* three land in the remaining full-size buffers */
        host_send(s, 60);
    pump();
    for (uint32_t s = 4; s < 7; s++)
        assert_int_equal(take_rx(&len), s);
    assert_int_equal(take_rx(&len), UINT32_MAX);
    assert_int_equal(len, 0);
    struct virtio_net_stats st;
    virtio_net_get_stats(net, &st);
    assert_int_equal(st.rx_dropped[NET_DROP_OVERSIZE], 1);
    assert_int_equal(st.rx_dropped[NET_DROP_SHORT], 1);
    assert_int_equal(st.rx_dropped[NET_DROP_NO_BUFFER], 1);
    assert_false(needs_reset);
}

static void post_tx(uint16_t d, uint32_t frame_len, uint8_t fill)
{
    uint64_t a = TX_BUF + (uint64_t)d * 0x1000;
    memset(ram + a, 0, NET_HDR_LEN);
    memset(ram + a + NET_HDR_LEN, fill, frame_len);
    vring_sim_desc(&tx, d, a, NET_HDR_LEN + frame_len, 0, 0);
    vring_sim_publish(&tx, d);
}

static void tx_frames_checked(void **state)
{
    post_tx(0, 100, 0xA1);
    post_tx(1, 1519, 0xA2); /* oversized: dropped */
    post_tx(2, 60, 0xA3);
    vdev->ops->queue_notify(vdev, VIRTIO_NET_Q_TX);
    uint8_t buf[4096];
    assert_int_equal(recv(peer, buf, sizeof(buf), 0), NET_HDR_LEN + 100);
    assert_int_equal(buf[NET_HDR_LEN], 0xA1);
    assert_int_equal(recv(peer, buf, sizeof(buf), 0), NET_HDR_LEN + 60);
    assert_int_equal(buf[NET_HDR_LEN], 0xA3);
    assert_true(recv(peer, buf, sizeof(buf), 0) < 0);
    uint32_t id, len;
    for (uint32_t want = 0; want < 3; want++) {
        assert_true(vring_sim_take_used(&tx, &id, &len));
        assert_int_equal(id, want);
        assert_int_equal(len, 0);
    }
    struct virtio_net_stats st;
    virtio_net_get_stats(net, &st);
    assert_int_equal(st.tx_frames, 2);
    assert_int_equal(st.tx_dropped[NET_DROP_OVERSIZE], 1);
    /* an offload the guest did not negotiate */
    post_tx(3, 100, 0xA4);
    ram[TX_BUF + 3 * 0x1000] = VIRTIO_NET_HDR_F_NEEDS_CSUM;
    vdev->ops->queue_notify(vdev, VIRTIO_NET_Q_TX);
    assert_true(recv(peer, buf, sizeof(buf), 0) < 0);
    virtio_net_get_stats(net, &st);
    assert_int_equal(st.tx_dropped[NET_DROP_BAD_HDR], 1);
    assert_false(needs_reset);
}

/* Fills the tap's queue (the peer does not read): returns how many 1000-byte fillers it took. */
static unsigned fill_tap(int sndbuf)
{
    assert_int_equal(setsockopt(tapfd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf)), 0);
    static const uint8_t filler[1000];
    unsigned n = 0;
    while (send(tapfd, filler, sizeof(filler), MSG_DONTWAIT) > 0)
        n++;
    return n;
}

/* Reads the fillers back, then runs the loop until the held frame arrives; returns its length. */
static ssize_t drain_then_receive(unsigned fillers, uint8_t *buf, size_t size)
{
    for (unsigned i = 0; i < fillers; i++)
        assert_int_equal(recv(peer, buf, size, 0), 1000);
    ssize_t r = -1;
    for (int spins = 0; spins < 1000 && r < 0; spins++) {
        uv_run(&loop, UV_RUN_NOWAIT);
        r = recv(peer, buf, size, MSG_DONTWAIT);
    }
    return r;
}

/* A frame over three descriptors (the header itself split), held while the tap is full: it is
 * written with the header as it was checked at pop time although the guest rewrote it meanwhile
 * (the payload is the guest's own business). Small frames take the copy path. */
static void tx_split_frame_keeps_checked_header(void **state)
{
    (void)state;
    unsigned fillers = fill_tap(4096);
    const uint64_t a = TX_BUF, b = TX_BUF + 0x1000, c = TX_BUF + 0x2000;
    memset(ram + a, 0, 5);
    memset(ram + b, 0, 7);
    memset(ram + b + 7, 0xB1, 30);
    memset(ram + c, 0xB2, 70);
    vring_sim_desc(&tx, 0, a, 5, 1 /* NEXT */, 1);
    vring_sim_desc(&tx, 1, b, 7 + 30, 1, 2);
    vring_sim_desc(&tx, 2, c, 70, 0, 0);
    vring_sim_publish(&tx, 0);
    vdev->ops->queue_notify(vdev, VIRTIO_NET_Q_TX);
    struct virtio_net_stats st;
    virtio_net_get_stats(net, &st);
    assert_int_equal(st.tx_frames, 0);    /* held: the tap is full */
    ram[a] = VIRTIO_NET_HDR_F_NEEDS_CSUM; /* not negotiated: refused had it been checked now */
    ram[b + 1] = 0xFF;
    uint8_t buf[4096];
    assert_int_equal(drain_then_receive(fillers, buf, sizeof(buf)), NET_HDR_LEN + 100);
    static const uint8_t zero_hdr[NET_HDR_LEN];
    assert_memory_equal(buf, zero_hdr, NET_HDR_LEN);
    assert_int_equal(buf[NET_HDR_LEN], 0xB1);
    assert_int_equal(buf[NET_HDR_LEN + 29], 0xB1);
    assert_int_equal(buf[NET_HDR_LEN + 30], 0xB2);
    assert_int_equal(buf[NET_HDR_LEN + 99], 0xB2);
    uint32_t id, len;
    assert_true(vring_sim_take_used(&tx, &id, &len));
    assert_int_equal(id, 0);
    virtio_net_get_stats(net, &st);
    assert_int_equal(st.tx_frames, 1);
    assert_false(needs_reset);
}

/* A valid TCP/IPv4 TSO header (checksum and GSO fields inside any frame of 54+ bytes), and the
 * features it needs. */
static const struct virtio_net_hdr_v1 tso_hdr = {.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM,
                                                 .gso_type = VIRTIO_NET_HDR_GSO_TCPV4,
                                                 .hdr_len = 54,
                                                 .gso_size = 1448,
                                                 .csum_start = 34,
                                                 .csum_offset = 16};

static void negotiate_tso(void)
{
    vdev->driver_features |= 1ULL << VIRTIO_NET_F_CSUM | 1ULL << VIRTIO_NET_F_HOST_TSO4;
}

/* The same for a TSO frame, which is written straight from the guest's buffers (writev): held
 * while the tap is full, sent whole with the header checked at pop time, chain returned after. */
static void tx_tso_frame_from_guest_buffers(void **state)
{
    (void)state;
    negotiate_tso();
    unsigned fillers = fill_tap(16384);
    const uint64_t a = TX_BUF, b = TX_BUF + 0x1000, c = TX_BUF + 0x2000;
    memcpy(ram + a, &tso_hdr, sizeof(tso_hdr));
    memset(ram + b, 0xB1, 3000);
    memset(ram + c, 0xB2, 3000);
    vring_sim_desc(&tx, 0, a, NET_HDR_LEN, 1 /* NEXT */, 1);
    vring_sim_desc(&tx, 1, b, 3000, 1, 2);
    vring_sim_desc(&tx, 2, c, 3000, 0, 0);
    vring_sim_publish(&tx, 0);
    vdev->ops->queue_notify(vdev, VIRTIO_NET_Q_TX);
    struct virtio_net_stats st;
    virtio_net_get_stats(net, &st);
    assert_int_equal(st.tx_frames, 0); /* held: the tap is full */
    uint32_t id, len;
    assert_false(vring_sim_take_used(&tx, &id, &len)); /* the guest's buffers are still lent */
    memset(ram + a, 0xFF, NET_HDR_LEN); /* every field out of range had it been checked now */
    static uint8_t buf[8192];
    assert_int_equal(drain_then_receive(fillers, buf, sizeof(buf)), NET_HDR_LEN + 6000);
    assert_memory_equal(buf, &tso_hdr, NET_HDR_LEN);
    assert_int_equal(buf[NET_HDR_LEN], 0xB1);
    assert_int_equal(buf[NET_HDR_LEN + 2999], 0xB1);
    assert_int_equal(buf[NET_HDR_LEN + 3000], 0xB2);
    assert_int_equal(buf[NET_HDR_LEN + 5999], 0xB2);
    assert_true(vring_sim_take_used(&tx, &id, &len));
    assert_int_equal(id, 0);
    virtio_net_get_stats(net, &st);
    assert_int_equal(st.tx_frames, 1);
    assert_false(needs_reset);
}

/* A 1024-entry tx queue lets a chain carry 1024 readable descriptors. A TSO frame whose header
 * has its own descriptor fits one writev (1 + 1023 pieces = IOV_MAX) and is sent; one whose
 * header shares a descriptor with payload would need 1025 pieces: dropped and counted as
 * fragmented, never a failed write. */
static void tx_tso_frame_in_1024_descriptors(void **state)
{
    (void)state;
    enum { BIG = 1024, RING = 0xD0000, PAYLOAD = 0xE0000, PIECE = 8 };
    struct vring_sim big;
    vring_sim_init(&big, ram, BIG, RING);
    assert_int_equal(virtq_init(&vdev->vq[1], &gm, BIG, BIG, big.desc, big.avail, big.used), 0);
    negotiate_tso();
    memcpy(ram + TX_BUF, &tso_hdr, sizeof(tso_hdr));
    memset(ram + PAYLOAD, 0xC3, BIG * PIECE);
    for (unsigned shared = 0; shared < 2; shared++) {
        /* descriptor 0: the header (plus one piece of payload when shared) */
        vring_sim_desc(&big, 0, TX_BUF, NET_HDR_LEN + (shared ? PIECE : 0), 1, 1);
        if (shared)
            memset(ram + TX_BUF + NET_HDR_LEN, 0xC3, PIECE);
        for (uint16_t d = 1; d < BIG; d++)
            vring_sim_desc(&big, d, PAYLOAD + (uint64_t)d * PIECE, PIECE, d + 1 < BIG ? 1 : 0,
                           (uint16_t)(d + 1 < BIG ? d + 1 : 0));
        vring_sim_publish(&big, 0);
        vdev->ops->queue_notify(vdev, VIRTIO_NET_Q_TX);
        uint32_t id, len;
        assert_true(vring_sim_take_used(&big, &id, &len));
        assert_int_equal(id, 0);
    }
    static uint8_t buf[NET_HDR_LEN + BIG * PIECE + 64];
    assert_int_equal(recv(peer, buf, sizeof(buf), MSG_DONTWAIT), NET_HDR_LEN + 1023 * PIECE);
    assert_memory_equal(buf, &tso_hdr, NET_HDR_LEN);
    assert_int_equal(buf[NET_HDR_LEN + 1023 * PIECE - 1], 0xC3);
    assert_true(recv(peer, buf, sizeof(buf), MSG_DONTWAIT) < 0); /* the second: dropped */
    struct virtio_net_stats st;
    virtio_net_get_stats(net, &st);
    assert_int_equal(st.tx_frames, 1);
    assert_int_equal(st.tx_dropped[NET_DROP_FRAGMENTED], 1);
    assert_int_equal(st.tx_errors, 0);
    assert_false(needs_reset);
}

/* Both directions at 2 frames per 50 ms (one bucket each, as Cloud Hypervisor does). */
static const struct rate_limiter_config two_per_50ms = {.ops = {.size = 2, .refill_time_ms = 50}};

static int setup_limited(void **state)
{
    setup_rl = &two_per_50ms;
    int rc = setup(state);
    setup_rl = NULL;
    return rc;
}

/* Runs the loop until cond() or 3 s; returns the milliseconds it took. */
static uint64_t run_until(bool (*cond)(void))
{
    uint64_t t0 = uv_hrtime();
    while (!cond() && uv_hrtime() - t0 < 3000000000ULL)
        uv_run(&loop, UV_RUN_ONCE);
    return (uv_hrtime() - t0) / 1000000;
}

static unsigned tx_seen, rx_seen;

static bool four_tx_frames(void)
{
    uint8_t buf[4096];
    while (recv(peer, buf, sizeof(buf), 0) > 0)
        tx_seen++;
    return tx_seen >= 4;
}

static bool four_rx_frames(void)
{
    uint32_t id, len, seq;
    while (vring_sim_take_used(&rx, &id, &len)) { /* in order, none lost */
        assert_int_equal(len, NET_HDR_LEN + 60);
        memcpy(&seq, ram + RX_BUF + (uint64_t)id * BUFSZ + NET_HDR_LEN + 12, 4);
        assert_int_equal(seq, rx_seen++);
    }
    return rx_seen >= 4;
}

/* net rate_limiter_config: out of tokens a direction pauses (tx frames stay on the ring, rx
 * frames in the tap) and resumes on a timer; nothing is lost or reordered. */
static void net_rate_limited_tx_and_rx(void **state)
{
    for (uint16_t d = 0; d < 4; d++)
        post_tx(d, 100, (uint8_t)(0xB0 + d));
    tx_seen = 0;
    vdev->ops->queue_notify(vdev, VIRTIO_NET_Q_TX);
    four_tx_frames();
    assert_int_equal(tx_seen, 2); /* two tokens */
    uint64_t ms = run_until(four_tx_frames);
    assert_int_equal(tx_seen, 4);
    if (ms < 30 || ms > 2000) /* two more tokens, 25 ms each */
        fail_msg("tx: 2 throttled frames took %llu ms, want about 50", (unsigned long long)ms);

    for (uint32_t s = 0; s < 4; s++)
        host_send(s, 60);
    post_rx(4, BUFSZ);
    rx_seen = 0;
    vdev->ops->queue_notify(vdev, VIRTIO_NET_Q_RX);
    four_rx_frames();
    assert_int_equal(rx_seen, 2);
    assert_false(virtio_net_rx_polling(net)); /* throttled: the tap is not read meanwhile */
    ms = run_until(four_rx_frames);
    assert_int_equal(rx_seen, 4);
    if (ms < 30 || ms > 2000)
        fail_msg("rx: 2 throttled frames took %llu ms, want about 50", (unsigned long long)ms);
    struct virtio_net_stats st;
    virtio_net_get_stats(net, &st);
    assert_int_equal(st.tx_frames, 4);
    assert_int_equal(st.rx_frames, 4);
    assert_true(st.tx_throttled >= 1 && st.rx_throttled >= 1);
    assert_false(needs_reset);
}

static void tx_waits_for_a_writable_tap(void **state)
{
    /* An AF_UNIX datagram peer that does not read refuses more frames after a few (like a full
     * tap): the device keeps the frame, waits for POLLOUT and goes on in order, dropping none.
     * (A socketpair is limited by the sender's buffer, so make that small.) */
    int sndbuf = 4096;
    assert_int_equal(setsockopt(tapfd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf)), 0);
    for (uint16_t i = 0; i < QSZ; i++) {
        uint64_t a = TX_BUF + (uint64_t)i * 0x1000;
        memset(ram + a, 0, NET_HDR_LEN);
        memset(ram + a + NET_HDR_LEN, (int)i, 60);
        vring_sim_desc(&tx, i, a, NET_HDR_LEN + 60, 0, 0);
        vring_sim_publish(&tx, i);
    }
    vdev->ops->queue_notify(vdev, VIRTIO_NET_Q_TX);
    struct virtio_net_stats st;
    virtio_net_get_stats(net, &st);
    assert_true(st.tx_frames < QSZ); /* the peer's queue filled up: EAGAIN */
    uint32_t id, len, used = 0;
    while (vring_sim_take_used(&tx, &id, &len))
        used++;
    assert_int_equal(used, st.tx_frames); /* the refused frame was kept, not completed */
    unsigned got = 0;
    for (int spins = 0; spins < 1000 && got < QSZ; spins++) {
        uint8_t buf[4096];
        ssize_t r;
        while ((r = recv(peer, buf, sizeof(buf), MSG_DONTWAIT)) > 0) {
            assert_int_equal(r, NET_HDR_LEN + 60);
            assert_int_equal(buf[NET_HDR_LEN], got); /* in order, none lost */
            got++;
        }
        uv_run(&loop, UV_RUN_NOWAIT);
    }
    assert_int_equal(got, QSZ);
    while (vring_sim_take_used(&tx, &id, &len))
        used++;
    assert_int_equal(used, QSZ);
    virtio_net_get_stats(net, &st);
    assert_int_equal(st.tx_frames, QSZ);
    assert_int_equal(st.tx_errors, 0);
    assert_false(needs_reset);
}

static void hostile_chains_need_reset(void **state)
{
    /* tx chain with a device-writable descriptor */
    vring_sim_desc(&tx, 0, TX_BUF, 100, VIRTQ_DESC_F_WRITE, 0);
    vring_sim_publish(&tx, 0);
    vdev->ops->queue_notify(vdev, VIRTIO_NET_Q_TX);
    assert_true(needs_reset);
    assert_true(vdev->broken);
    /* further kicks and tap traffic are ignored, nothing crashes */
    host_send(1, 60);
    post_rx(1, BUFSZ);
    vdev->ops->queue_notify(vdev, VIRTIO_NET_Q_RX);
    pump();
    uint32_t id, len;
    assert_false(vring_sim_take_used(&rx, &id, &len));
    assert_false(virtio_net_rx_polling(net));
}

static void rx_loop_needs_reset(void **state)
{
    host_send(1, 60);
    vring_sim_desc(&rx, 0, RX_BUF, BUFSZ, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 0);
    vring_sim_publish(&rx, 0);
    vdev->ops->queue_notify(vdev, VIRTIO_NET_Q_RX);
    pump();
    assert_true(needs_reset);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(pauses_without_buffers_and_resumes_in_order, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(oversized_and_misfit_frames_dropped, setup, teardown),
        cmocka_unit_test_setup_teardown(tx_frames_checked, setup, teardown),
        cmocka_unit_test_setup_teardown(tx_waits_for_a_writable_tap, setup, teardown),
        cmocka_unit_test_setup_teardown(tx_split_frame_keeps_checked_header, setup, teardown),
        cmocka_unit_test_setup_teardown(tx_tso_frame_from_guest_buffers, setup, teardown),
        cmocka_unit_test_setup_teardown(tx_tso_frame_in_1024_descriptors, setup, teardown),
        cmocka_unit_test_setup_teardown(hostile_chains_need_reset, setup, teardown),
        cmocka_unit_test_setup_teardown(rx_loop_needs_reset, setup, teardown),
        cmocka_unit_test_setup_teardown(net_rate_limited_tx_and_rx, setup_limited, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
