/* net_path.c: benchmark: frames through cocoon's virtio-net device between a virtqueue in
 * simulated guest memory and a tap in a private network namespace, vs the same frames written to
 * or read from the tap fd directly; prints nanoseconds per frame.
 *
 * usage: bench_net_path dev|raw tx|rx SIZE COUNT
 *   dev  the real virtio-net device (devices/virtio_net.c), every feature it offers negotiated,
 *        driven through split virtqueues (256 entries) in simulated guest memory (gm_init_host)
 *   raw  the floor: write(2) / read(2) of the same header + frame on the tap fd
 *   tx   guest -> tap: 256 one-descriptor chains (header + frame) are posted, the tx queue is
 *        notified, the loop runs until all are used, and so on; the frames go into the
 *        namespace's stack (an unknown EtherType or another host's MAC: dropped on arrival)
 *   rx   tap -> guest: a batch of up to 1024 frames is queued on the tap from an AF_PACKET socket
 *        bound to it (untimed), then drained (timed) into posted rx buffers, which are re-posted
 *        as they are used; every frame's length and sequence number is checked
 *   SIZE Ethernet frame length in bytes, 60..1514, or 65536 (tx only): a TCP/IPv4 frame sent as
 *        one TSO (GSO) frame with its virtio-net header (gso_size 1448). Not for rx: the host
 *        kernel hands a tap whole GSO frames only from its own TCP stack; a GSO frame sent from an
 *        AF_PACKET socket (PACKET_VNET_HDR) is segmented in software before the tap (measured: one
 *        64 KiB frame arrives as 45 frames of 1502 B and a tail), or dropped with qdisc bypass.
 * The process first enters a new network namespace (unshare(CLONE_NEWNET), needs root) holding
 * only loopback and the tap it creates, so the host's network is never touched. Output: one line,
 * "<wall ns per frame> <CPU ns per frame>" (CPU: user + system time of the process).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "tools/bench/bench_clock.h"
#include "devices/virtio_net.h"
#include "support/vring_sim.h"

#define TAP_NAME  "cbench0"
#define QSIZE     256u
#define RX_BATCH  1024u
#define TSO_FRAME 65536u
#define SLOT      (NET_HDR_LEN + TSO_FRAME + 64) /* one frame buffer per descriptor */
#define RINGS     0x1000u                        /* rx ring at RINGS, tx ring at RINGS + 0x8000 */
#define BUFS      0x20000u
#define RAM_SIZE  ((uint64_t)BUFS + 2ull * QSIZE * SLOT)
#define ETH_BENCH 0x88B5 /* IEEE local experimental EtherType: no protocol handler takes it */

static int fail(const char *what)
{
    fprintf(stderr, "bench_net_path: %s\n", what);
    return 1;
}

static int fail_errno(const char *what)
{
    fprintf(stderr, "bench_net_path: %s: %s\n", what, strerror(errno));
    return 1;
}

static unsigned frame_size; /* Ethernet bytes */
static int tso;             /* frame_size == TSO_FRAME */

/* Writes header + frame number `seq` into buf (NET_HDR_LEN + frame_size bytes). A plain frame
 * goes to a MAC that is not the tap's with EtherType ETH_BENCH; the TSO frame is TCP/IPv4 with
 * the GSO fields a Linux guest sets. The sequence number sits at byte 14 of the frame (plain) or
 * in the TCP sequence field (TSO). */
static void build_frame(uint8_t *buf, uint32_t seq)
{
    struct virtio_net_hdr_v1 hdr = {0};
    uint8_t *f = buf + NET_HDR_LEN;
    static const uint8_t dst[6] = {0x02, 0xbe, 0x4c, 0x00, 0x00, 0x01};
    static const uint8_t src[6] = {0x02, 0xbe, 0x4c, 0x00, 0x00, 0x02};
    memset(f, 0xA5, frame_size);
    memcpy(f, dst, 6);
    memcpy(f + 6, src, 6);
    if (!tso) {
        uint16_t type = htons(ETH_BENCH);
        memcpy(f + 12, &type, 2);
        memcpy(f + 14, &seq, 4);
    } else {
        uint16_t type = htons(ETHERTYPE_IP), tot = htons((uint16_t)(frame_size - 14));
        memcpy(f + 12, &type, 2);
        uint8_t *ip = f + 14, *tcp = f + 34;
        memset(ip, 0, 40);
        ip[0] = 0x45;
        memcpy(ip + 2, &tot, 2);
        ip[8] = 64;
        ip[9] = 6; /* TCP */
        uint32_t a = htonl(0x0A000002), b = htonl(0x0A000001), s = htonl(seq);
        memcpy(ip + 12, &a, 4);
        memcpy(ip + 16, &b, 4);
        uint32_t sum = 0;
        for (int i = 0; i < 20; i += 2)
            sum += (uint32_t)(ip[i] << 8 | ip[i + 1]);
        while (sum >> 16)
            sum = (sum & 0xFFFF) + (sum >> 16);
        uint16_t csum = htons((uint16_t)~sum);
        memcpy(ip + 10, &csum, 2);
        tcp[1] = 80;
        tcp[3] = 80;
        memcpy(tcp + 4, &s, 4);
        tcp[12] = 5 << 4;
        tcp[13] = 0x18; /* PSH ACK */
        tcp[15] = 0xFF;
        hdr.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
        hdr.gso_type = VIRTIO_NET_HDR_GSO_TCPV4;
        hdr.hdr_len = 54;
        hdr.gso_size = 1448;
        hdr.csum_start = 34;
        hdr.csum_offset = 16;
    }
    memcpy(buf, &hdr, sizeof(hdr));
}

/* The sequence number of a received header + frame, or UINT32_MAX if it is not one of ours. */
static uint32_t frame_seq(const uint8_t *buf, size_t len)
{
    const uint8_t *f = buf + NET_HDR_LEN;
    uint32_t seq;
    if (len != NET_HDR_LEN + frame_size || f[6] != 0x02 || f[7] != 0xbe)
        return UINT32_MAX;
    if (tso) {
        memcpy(&seq, f + 38, 4);
        return ntohl(seq);
    }
    memcpy(&seq, f + 14, 4);
    return seq;
}

/* ---- the namespace, the tap and the sender that queues frames on it ------------------------- */

static int write_file(const char *path, const char *text)
{
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t n = write(fd, text, strlen(text));
    close(fd);
    return n == (ssize_t)strlen(text) ? 0 : -1;
}

/* A new network namespace (loopback only, no IPv6 chatter on the tap). */
static int enter_private_netns(void)
{
    if (unshare(CLONE_NEWNET) < 0)
        return fail_errno("unshare(CLONE_NEWNET) (needs root)");
    write_file("/proc/sys/net/ipv6/conf/default/disable_ipv6", "1"); /* absent without IPv6 */
    write_file("/proc/sys/net/ipv6/conf/all/disable_ipv6", "1");
    return 0;
}

/* Brings the tap up without ARP, with room for a whole rx batch in its queue; returns ifindex. */
static int tap_up(void)
{
    int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    struct ifreq ifr = {0};
    int rc = -1;
    snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", TAP_NAME);
    if (s < 0)
        return fail_errno("socket");
    ifr.ifr_qlen = 2 * RX_BATCH;
    if (ioctl(s, SIOCSIFTXQLEN, &ifr) < 0) {
        fail_errno("SIOCSIFTXQLEN");
    } else if (ioctl(s, SIOCGIFFLAGS, &ifr) < 0) {
        fail_errno("SIOCGIFFLAGS");
    } else {
        ifr.ifr_flags |= IFF_UP | IFF_NOARP;
        if (ioctl(s, SIOCSIFFLAGS, &ifr) < 0)
            fail_errno("SIOCSIFFLAGS");
        else if (ioctl(s, SIOCGIFINDEX, &ifr) < 0)
            fail_errno("SIOCGIFINDEX");
        else
            rc = ifr.ifr_ifindex;
    }
    close(s);
    return rc;
}

/* An AF_PACKET socket bound to the tap that transmits straight to its driver (no qdisc); with
 * TSO frames it carries a virtio-net header (PACKET_VNET_HDR) so the GSO frame stays whole. */
static int open_sender(int ifindex)
{
    int s = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);
    int one = 1, big = 64 << 20;
    struct sockaddr_ll sll = {.sll_family = AF_PACKET, .sll_ifindex = ifindex};
    if (s < 0)
        return fail_errno("AF_PACKET socket"), -1;
    if (setsockopt(s, SOL_PACKET, PACKET_QDISC_BYPASS, &one, sizeof(one)) < 0 ||
        setsockopt(s, SOL_SOCKET, SO_SNDBUFFORCE, &big, sizeof(big)) < 0 ||
        (tso && setsockopt(s, SOL_PACKET, PACKET_VNET_HDR, &one, sizeof(one)) < 0) ||
        bind(s, (struct sockaddr *)&sll, sizeof(sll)) < 0) {
        fail_errno("AF_PACKET set-up");
        close(s);
        return -1;
    }
    return s;
}

/* Queues frames first .. first+n-1 on the tap's read side. */
static int queue_frames(int sender, uint8_t *scratch, uint32_t first, unsigned n)
{
    /* PACKET_VNET_HDR takes the 10-byte legacy header (no num_buffers) in front of the frame. */
    size_t hdr = tso ? NET_HDR_LEN - 2 : NET_HDR_LEN;
    for (unsigned i = 0; i < n; i++) {
        build_frame(scratch, first + i);
        if (tso)
            memmove(scratch + hdr, scratch + NET_HDR_LEN, frame_size);
        const uint8_t *p = tso ? scratch : scratch + NET_HDR_LEN;
        size_t len = tso ? hdr + frame_size : frame_size;
        if (send(sender, p, len, 0) != (ssize_t)len)
            return fail_errno("AF_PACKET send");
    }
    return 0;
}

/* ---- the floor: the tap fd directly ---------------------------------------------------------- */

/* The floor uses QSIZE frame buffers in turn, as the device uses the guest's QSIZE buffers, so
 * both touch the same amount of memory (16 MiB for 64 KiB frames: not cache-resident). */
static uint8_t *floor_bufs(void)
{
    uint8_t *bufs = aligned_alloc(4096, (size_t)QSIZE * SLOT);
    for (unsigned k = 0; bufs && k < QSIZE; k++)
        build_frame(bufs + (size_t)k * SLOT, 0);
    return bufs;
}

static int raw_tx(int fd, uint8_t *bufs, unsigned count)
{
    for (unsigned i = 0; i < count; i++)
        if (write(fd, bufs + (size_t)(i % QSIZE) * SLOT, NET_HDR_LEN + frame_size) !=
            (ssize_t)(NET_HDR_LEN + frame_size))
            return fail_errno("tap write");
    return 0;
}

static int raw_rx_batch(int fd, uint8_t *bufs, uint32_t first, unsigned n)
{
    unsigned got = 0, k = 0;
    double give_up = bench_now_ns() + 5e9;
    while (got < n) {
        uint8_t *buf = bufs + (size_t)(k++ % QSIZE) * SLOT;
        ssize_t r = read(fd, buf, SLOT);
        if (r < 0 && errno != EAGAIN && errno != EINTR)
            return fail_errno("tap read");
        if (r < 0) {
            if (bench_now_ns() > give_up)
                return fail("frames queued on the tap never arrived");
            continue;
        }
        uint32_t seq = frame_seq(buf, (size_t)r);
        if (seq == UINT32_MAX)
            continue; /* not one of ours */
        if (seq != first + got)
            return fail("tap frames out of order or lost");
        got++;
    }
    return 0;
}

/* ---- the device path ---------------------------------------------------------------------------
 */

static void fake_signal_queue(void *ctx, unsigned q) {}
static void fake_signal_config(void *ctx) {}
static void fake_needs_reset(void *ctx)
{
    *(int *)ctx = 1;
}
static const struct virtio_transport_ops fake_transport = {fake_signal_queue, fake_signal_config,
                                                           fake_needs_reset};

struct dev {
    uint8_t *ram;
    struct guest_mem gm;
    uv_loop_t loop;
    struct virtio_net *net;
    struct virtio_device *vdev;
    struct vring_sim rx, tx;
    int needs_reset;
};

static uint64_t rx_buf(unsigned d)
{
    return BUFS + (uint64_t)d * SLOT;
}

static uint64_t tx_buf(unsigned d)
{
    return BUFS + (uint64_t)(QSIZE + d) * SLOT;
}

static int dev_open(struct dev *d, struct tap tap)
{
    char err[256];
    memset(d, 0, sizeof(*d));
    d->ram = aligned_alloc(4096, RAM_SIZE);
    if (!d->ram || uv_loop_init(&d->loop) != 0)
        return fail("out of memory");
    memset(d->ram, 0, BUFS);
    gm_init_host(&d->gm, d->ram, RAM_SIZE);
    struct virtio_net_params p = {.tap = tap, .queue_size = QSIZE};
    if (virtio_net_create(&p, &d->gm, &d->loop, &d->net, err, sizeof(err)) < 0)
        return fail(err);
    d->vdev = virtio_net_vdev(d->net);
    d->vdev->transport = &fake_transport;
    d->vdev->transport_ctx = &d->needs_reset;
    d->vdev->driver_features = d->vdev->features | 1ULL << VIRTIO_F_VERSION_1;
    vring_sim_init(&d->rx, d->ram, QSIZE, RINGS);
    vring_sim_init(&d->tx, d->ram, QSIZE, RINGS + 0x8000);
    if (virtq_init(&d->vdev->vq[VIRTIO_NET_Q_RX], &d->gm, QSIZE, QSIZE, d->rx.desc, d->rx.avail,
                   d->rx.used) < 0 ||
        virtq_init(&d->vdev->vq[VIRTIO_NET_Q_TX], &d->gm, QSIZE, QSIZE, d->tx.desc, d->tx.avail,
                   d->tx.used) < 0 ||
        d->vdev->ops->activate(d->vdev) < 0)
        return fail("virtqueue set-up refused");
    return 0;
}

static void dev_close(struct dev *d)
{
    if (d->net) {
        virtio_net_destroy(d->net);
        uv_run(&d->loop, UV_RUN_DEFAULT);
    }
    uv_loop_close(&d->loop);
    free(d->ram);
}

static int dev_tx(struct dev *d, unsigned count)
{
    for (unsigned k = 0; k < QSIZE; k++) {
        build_frame(d->ram + tx_buf(k), 0);
        vring_sim_desc(&d->tx, (uint16_t)k, tx_buf(k), NET_HDR_LEN + frame_size, 0, 0);
    }
    for (unsigned i = 0; i < count; i += QSIZE) {
        unsigned n = count - i < QSIZE ? count - i : QSIZE;
        for (unsigned k = 0; k < n; k++)
            vring_sim_publish(&d->tx, (uint16_t)k);
        d->vdev->ops->queue_notify(d->vdev, VIRTIO_NET_Q_TX);
        for (unsigned k = 0; k < n;) {
            uint32_t id, len;
            if (vring_sim_take_used(&d->tx, &id, &len)) {
                k++;
                continue;
            }
            if (d->needs_reset)
                return fail("the device asked for a reset");
            uv_run(&d->loop, UV_RUN_ONCE); /* the tap was full: wait until it is writable */
        }
    }
    struct virtio_net_stats st;
    virtio_net_get_stats(d->net, &st);
    if (st.tx_frames != count)
        return fail("the device did not send every frame to the tap");
    return 0;
}

static void post_rx(struct dev *d, uint16_t desc)
{
    vring_sim_desc(&d->rx, desc, rx_buf(desc), SLOT, VIRTQ_DESC_F_WRITE, 0);
    vring_sim_publish(&d->rx, desc);
}

/* Drains n queued frames (first .. first+n-1) into the guest's rx buffers. */
static int dev_rx_batch(struct dev *d, uint32_t first, unsigned n)
{
    unsigned got = 0;
    double give_up = bench_now_ns() + 5e9;
    while (got < n) {
        uint32_t id, len;
        bool any = false;
        while (vring_sim_take_used(&d->rx, &id, &len)) {
            any = true;
            if (id >= QSIZE)
                return fail("rx used id out of range");
            uint32_t seq = frame_seq(d->ram + rx_buf(id), len);
            post_rx(d, (uint16_t)id);
            if (seq == UINT32_MAX)
                continue;
            if (seq != first + got)
                return fail("rx frames out of order or lost");
            got++;
        }
        if (d->needs_reset)
            return fail("the device asked for a reset");
        if (any)
            d->vdev->ops->queue_notify(d->vdev, VIRTIO_NET_Q_RX);
        else if (bench_now_ns() > give_up)
            return fail("frames queued on the tap never reached the guest");
        uv_run(&d->loop, UV_RUN_NOWAIT);
    }
    return 0;
}

/* ---- the run --------------------------------------------------------------------------------- */

static int run(int dev_mode, int tx, unsigned count, double *ns, double *cpu)
{
    char err[256];
    struct tap tap;
    if (enter_private_netns() != 0)
        return 1;
    if (tap_open_name(&tap, TAP_NAME, err, sizeof(err)) < 0)
        return fail(err);
    int ifindex = tap_up();
    if (ifindex < 0) {
        tap_close(&tap);
        return 1;
    }
    int raw_fd = tap.fd;
    /* The device negotiates checksum and TSO offloads on activation; the floor sets the same. */
    if (!dev_mode &&
        tap_set_offload(&tap, TAP_OFFLOAD_CSUM | TAP_OFFLOAD_TSO4 | TAP_OFFLOAD_TSO6) < 0) {
        tap_close(&tap);
        return fail_errno("TUNSETOFFLOAD");
    }
    struct dev d = {0};
    int rc = dev_mode ? dev_open(&d, tap) : 0; /* the device owns the tap from here */
    int sender = rc == 0 && !tx ? open_sender(ifindex) : -1;
    uint8_t *scratch = malloc(SLOT), *bufs = dev_mode ? NULL : floor_bufs();
    if (!scratch || (!dev_mode && !bufs) || (!tx && sender < 0))
        rc = rc ? rc : 1;
    if (rc == 0 && dev_mode && !tx)
        for (uint16_t k = 0; k < QSIZE; k++)
            post_rx(&d, k);
    double t = 0, c = 0;
    if (rc == 0 && tx) {
        double t0 = bench_now_ns(), c0 = bench_cpu_ns();
        rc = dev_mode ? dev_tx(&d, count) : raw_tx(raw_fd, bufs, count);
        t = bench_now_ns() - t0;
        c = bench_cpu_ns() - c0;
    }
    for (unsigned i = 0; rc == 0 && !tx && i < count; i += RX_BATCH) {
        unsigned n = count - i < RX_BATCH ? count - i : RX_BATCH;
        rc = queue_frames(sender, scratch, i, n);
        if (rc)
            break;
        double t0 = bench_now_ns(), c0 = bench_cpu_ns();
        if (dev_mode) {
            d.vdev->ops->queue_notify(d.vdev, VIRTIO_NET_Q_RX);
            rc = dev_rx_batch(&d, i, n);
        } else {
            rc = raw_rx_batch(raw_fd, bufs, i, n);
        }
        t += bench_now_ns() - t0;
        c += bench_cpu_ns() - c0;
    }
    *ns = t / count;
    *cpu = c / count;
    if (sender >= 0)
        close(sender);
    free(scratch);
    free(bufs);
    if (dev_mode)
        dev_close(&d);
    else
        tap_close(&tap);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc != 5 || (strcmp(argv[1], "dev") && strcmp(argv[1], "raw")) ||
        (strcmp(argv[2], "tx") && strcmp(argv[2], "rx"))) {
        fprintf(stderr, "usage: bench_net_path dev|raw tx|rx SIZE COUNT\n");
        return 2;
    }
    frame_size = (unsigned)strtoul(argv[3], NULL, 0);
    unsigned count = (unsigned)strtoul(argv[4], NULL, 0);
    tso = frame_size == TSO_FRAME;
    if (!tso && (frame_size < 60 || frame_size > 1514))
        return fail("SIZE must be 60..1514 or 65536");
    if (tso && strcmp(argv[2], "rx") == 0)
        return fail("64 KiB frames are tx only: an AF_PACKET sender cannot queue a whole GSO "
                    "frame on the tap (the kernel segments it first)");
    if (count == 0)
        return fail("COUNT must be > 0");
    double ns = 0, cpu = 0;
    int rc = run(strcmp(argv[1], "dev") == 0, strcmp(argv[2], "tx") == 0, count, &ns, &cpu);
    if (rc == 0)
        printf("%.1f %.1f\n", ns, cpu);
    return rc;
}
