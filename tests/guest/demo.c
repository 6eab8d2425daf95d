/* demo.c: the README demo guest: PCI listing, disk read/write, UDP over virtio-net, vsock echo.
 *
 * Run by tools/demo.sh (through tools/demo_host.py, the host side). Every device is optional: a
 * missing one is reported and skipped; a device that is there but misbehaves fails the guest
 * (rt_fail, exit status 251), so the demo cannot pass by accident.
 *   disk  (virtio-blk 0)   prints sector 0 (a line the host wrote), writes a line to sector 1,
 *                          flushes
 *   net   (virtio-net 0)   ARPs for 10.0.2.1, sends one UDP datagram 10.0.2.2:6001 -> :6000 and
 *                          prints the reply
 *   vsock (virtio-vsock)   echo service on port 1024 (tests/guest/rt/vsock.c); with connect=P it
 *                          first greets host port P; powers off (status 0) after sessions=N
 *                          (default 1) echo sessions
 * Device set-up and printing run in ring 0 (port I/O from ring 3 faults on this project's KVM
 * host); waits for the host run in ring 3, where polling is native-speed.
 */
#include "rt/rt.h"
#include "rt/virtio.h"
#include "rt/vsock.h"

#define PCI_VENDOR_VIRTIO 0x1AF4
#define VIRTIO_ID_NET     1
#define VIRTIO_ID_BLOCK   2
#define VIRTIO_ID_VSOCK   19
#define WAIT_SPINS        400000000ULL /* ring-3 polls before a device wait gives up (seconds) */

/* ---- PCI ---- */

static const char *virtio_name(uint16_t device)
{
    switch (device - 0x1040) {
    case VIRTIO_ID_NET:
        return "virtio-net";
    case VIRTIO_ID_BLOCK:
        return "virtio-blk";
    case VIRTIO_ID_VSOCK:
        return "virtio-vsock";
    default:
        return "virtio (other)";
    }
}

static void list_pci(void)
{
    rt_printf("== guest: the PCI bus (config space through ports 0xCF8/0xCFC)\n");
    for (unsigned slot = 0; slot < 32; slot++) {
        uint32_t id = pci_cfg_read32(0, slot, 0, 0);
        uint16_t vendor = (uint16_t)id, device = (uint16_t)(id >> 16);
        if (vendor == 0xFFFF || vendor == 0)
            continue;
        uint32_t class = pci_cfg_read32(0, slot, 0, 8) >> 8;
        const char *what = vendor == PCI_VENDOR_VIRTIO ? virtio_name(device)
                           : class >> 8 == 0x0600      ? "host bridge"
                                                       : "other";
        rt_printf("pci 00:%02x.0  vendor %04x device %04x  class %06x  %s\n", slot, vendor, device,
                  class, what);
    }
}

/* ---- virtio-blk ---- */

#define BLK_T_IN     0
#define BLK_T_OUT    1
#define BLK_T_FLUSH  4
#define BLK_F_RO     5
#define BLK_F_FLUSH  9
#define BLK_S_UNSET  0xEE
#define DEMO_WRITTEN "Written by the cocoon demo guest through virtio-blk, then flushed.\n"

static struct vdev blk;
static struct vq blkq;
static uint8_t *blk_hdr, *blk_data;

struct used_wait {
    struct vq *q;
    uint32_t len;
};

/* Ring 3: polls q for one used element; returns 1 (len stored) or 0 on timeout. */
static uint64_t user_wait_used(uint64_t arg)
{
    struct used_wait *w = (struct used_wait *)(uintptr_t)arg;
    uint32_t id;
    for (uint64_t i = 0; i < WAIT_SPINS; i++) {
        if (vq_get_used(w->q, &id, &w->len))
            return 1;
        rt_pause();
    }
    return 0;
}

/* One request (header, optional 512-byte data buffer, status); returns the status byte. */
static uint8_t blk_request(uint32_t type, uint64_t sector, int with_data, int device_writes)
{
    uint8_t *status = blk_hdr + 64;
    *(uint32_t *)blk_hdr = type;
    *(uint32_t *)(blk_hdr + 4) = 0;
    *(uint64_t *)(blk_hdr + 8) = sector;
    *status = BLK_S_UNSET;
    uint16_t n = 0;
    vq_set_desc(&blkq, n, (uintptr_t)blk_hdr, 16, VRING_DESC_F_NEXT, 1);
    n++;
    if (with_data) {
        vq_set_desc(&blkq, n, (uintptr_t)blk_data, 512,
                    VRING_DESC_F_NEXT | (device_writes ? VRING_DESC_F_WRITE : 0), 2);
        n++;
    }
    vq_set_desc(&blkq, n, (uintptr_t)status, 1, VRING_DESC_F_WRITE, 0);
    vq_publish(&blkq, 0);
    vq_kick(&blkq);
    struct used_wait w = {&blkq, 0};
    if (!rt_run_user(user_wait_used, (uintptr_t)&w))
        rt_fail("disk: request type %u got no answer", type);
    return *status;
}

/* Prints at most `max` bytes of p up to the first newline or NUL, other non-printables as '.'. */
static void print_text(const uint8_t *p, unsigned max)
{
    for (unsigned i = 0; i < max && p[i] && p[i] != '\n'; i++)
        rt_putc(p[i] >= 0x20 && p[i] < 0x7F ? (char)p[i] : '.');
}

static void demo_disk(void)
{
    rt_printf("== guest: the disk (virtio-blk)\n");
    if (vdev_find(VIRTIO_ID_BLOCK, 0, &blk) < 0) {
        rt_printf("disk: no virtio-blk device, skipped\n");
        return;
    }
    if (vdev_negotiate(&blk, 1ULL << BLK_F_RO | 1ULL << BLK_F_FLUSH) < 0 ||
        vq_setup(&blk, &blkq, 0, 8) < 0)
        rt_fail("disk: virtio-blk set-up failed");
    vdev_driver_ok(&blk);
    blk_hdr = vt_alloc(4096, 4096);
    blk_data = vt_alloc(4096, 4096);
    uint64_t sectors = vdev_cfg_read64(&blk, 0);
    rt_printf("disk: %lu sectors (%lu KiB), flush %s\n", (unsigned long)sectors,
              (unsigned long)(sectors / 2), blk.features >> BLK_F_FLUSH & 1 ? "supported" : "no");
    uint8_t st = blk_request(BLK_T_IN, 0, 1, 1);
    if (st != 0)
        rt_fail("disk: reading sector 0 failed, status %u", st);
    rt_printf("disk: sector 0 reads \"");
    print_text(blk_data, 100);
    rt_printf("\"\n");
    memset(blk_data, 0, 512);
    memcpy(blk_data, DEMO_WRITTEN, sizeof(DEMO_WRITTEN) - 1);
    uint8_t w = blk_request(BLK_T_OUT, 1, 1, 0);
    uint8_t f = blk_request(BLK_T_FLUSH, 0, 0, 0);
    if (w != 0 || f != 0)
        rt_fail("disk: write status %u, flush status %u", w, f);
    rt_printf("disk: wrote a line to sector 1 and flushed it (both status OK)\n");
}

/* ---- virtio-net ---- */

#define NET_F_MAC  5
#define NET_HDR    12
#define NET_BUFS   8
#define NET_BUFSZ  2048
#define GUEST_PORT 6001
#define PEER_PORT  6000

static const uint8_t guest_mac[6] = {0x52, 0x54, 0x00, 0x12, 0x34, 0x56};
static const uint8_t guest_ip[4] = {10, 0, 2, 2};
static const uint8_t peer_ip[4] = {10, 0, 2, 1};

static struct vdev net;
static struct vq rxq, txq;
static uint8_t *rxbuf, *txbuf;
static uint8_t peer_mac[6];

static uint16_t be16(uint16_t v)
{
    return (uint16_t)(v << 8 | v >> 8);
}

static void post_rx(uint16_t d)
{
    vq_set_desc(&rxq, d, (uintptr_t)(rxbuf + (uint64_t)d * NET_BUFSZ), NET_BUFSZ,
                VRING_DESC_F_WRITE, 0);
    vq_publish(&rxq, d);
}

/* Sends the frame (virtio-net header included) at txbuf and waits until the device took it. */
static void send_frame(uint32_t len)
{
    vq_set_desc(&txq, 0, (uintptr_t)txbuf, len, 0, 0);
    vq_publish(&txq, 0);
    vq_kick(&txq);
    struct used_wait w = {&txq, 0};
    if (!rt_run_user(user_wait_used, (uintptr_t)&w))
        rt_fail("net: the device never took the frame");
}

/* What a receive wait looks for; the matching frame is copied to `frame`. */
struct rx_wait {
    int want_udp; /* 0: an ARP reply from the peer; 1: a UDP datagram to GUEST_PORT */
    uint32_t len;
    uint8_t frame[NET_BUFSZ];
};

static int frame_matches(const struct rx_wait *r, const uint8_t *f, uint32_t len)
{
    if (len < 42)
        return 0;
    if (!r->want_udp)
        return f[12] == 0x08 && f[13] == 0x06 && f[21] == 2 && !memcmp(f + 28, peer_ip, 4) &&
               !memcmp(f + 38, guest_ip, 4);
    return f[12] == 0x08 && f[13] == 0x00 && f[23] == 17 && !memcmp(f + 26, peer_ip, 4) &&
           be16(*(const uint16_t *)(f + 36)) == GUEST_PORT;
}

/* Ring 3: takes received frames (recycling the rest) until one matches; 1 if found. */
static uint64_t user_wait_frame(uint64_t arg)
{
    struct rx_wait *r = (struct rx_wait *)(uintptr_t)arg;
    for (uint64_t i = 0; i < WAIT_SPINS; i++) {
        uint32_t id, len;
        if (!vq_get_used(&rxq, &id, &len)) {
            rt_pause();
            continue;
        }
        if (id >= NET_BUFS)
            return 0;
        const uint8_t *f = rxbuf + (uint64_t)id * NET_BUFSZ + NET_HDR;
        len = len >= NET_HDR ? len - NET_HDR : 0;
        if (len > NET_BUFSZ - NET_HDR)
            len = NET_BUFSZ - NET_HDR;
        int match = frame_matches(r, f, len);
        if (match) {
            memcpy(r->frame, f, len);
            r->len = len;
        }
        post_rx((uint16_t)id);
        vq_kick(&rxq);
        if (match)
            return 1;
    }
    return 0;
}

static uint16_t ip_checksum(const uint8_t *p, unsigned n)
{
    uint32_t s = 0;
    for (unsigned i = 0; i + 1 < n; i += 2)
        s += (uint32_t)p[i] << 8 | p[i + 1];
    while (s >> 16)
        s = (s & 0xFFFF) + (s >> 16);
    return (uint16_t)~s;
}

static void arp_for_peer(struct rx_wait *r)
{
    uint8_t *e = txbuf + NET_HDR;
    memset(txbuf, 0, NET_HDR + 60);
    memset(e, 0xFF, 6);
    memcpy(e + 6, guest_mac, 6);
    e[12] = 0x08;
    e[13] = 0x06;
    uint8_t *a = e + 14;
    a[1] = 1;    /* Ethernet */
    a[2] = 0x08; /* IPv4 */
    a[4] = 6;
    a[5] = 4;
    a[7] = 1; /* request */
    memcpy(a + 8, guest_mac, 6);
    memcpy(a + 14, guest_ip, 4);
    memcpy(a + 24, peer_ip, 4);
    send_frame(NET_HDR + 60);
    r->want_udp = 0;
    if (!rt_run_user(user_wait_frame, (uintptr_t)r))
        rt_fail("net: no ARP reply for 10.0.2.1");
    memcpy(peer_mac, r->frame + 22, 6);
}

static void send_udp(const char *text)
{
    uint32_t len = (uint32_t)strlen(text);
    memset(txbuf, 0, NET_HDR);
    uint8_t *e = txbuf + NET_HDR, *ip = e + 14, *udp = ip + 20;
    memcpy(e, peer_mac, 6);
    memcpy(e + 6, guest_mac, 6);
    e[12] = 0x08;
    e[13] = 0x00;
    memset(ip, 0, 20);
    ip[0] = 0x45;
    *(uint16_t *)(ip + 2) = be16((uint16_t)(28 + len));
    ip[6] = 0x40; /* don't fragment */
    ip[8] = 64;
    ip[9] = 17;
    memcpy(ip + 12, guest_ip, 4);
    memcpy(ip + 16, peer_ip, 4);
    *(uint16_t *)(ip + 10) = be16(ip_checksum(ip, 20));
    *(uint16_t *)udp = be16(GUEST_PORT);
    *(uint16_t *)(udp + 2) = be16(PEER_PORT);
    *(uint16_t *)(udp + 4) = be16((uint16_t)(8 + len));
    *(uint16_t *)(udp + 6) = 0; /* no checksum (allowed for UDP over IPv4) */
    memcpy(udp + 8, text, len);
    send_frame(NET_HDR + 42 + len);
}

static void demo_net(void)
{
    static struct rx_wait r;
    rt_printf("== guest: the network (virtio-net on a tap)\n");
    if (vdev_find(VIRTIO_ID_NET, 0, &net) < 0) {
        rt_printf("net: no virtio-net device, skipped\n");
        return;
    }
    if (vdev_negotiate(&net, 1ULL << NET_F_MAC) < 0 || vq_setup(&net, &rxq, 0, 16) < 0 ||
        vq_setup(&net, &txq, 1, 16) < 0)
        rt_fail("net: virtio-net set-up failed");
    vdev_driver_ok(&net);
    rxbuf = vt_alloc((uint64_t)NET_BUFS * NET_BUFSZ, 4096);
    txbuf = vt_alloc(NET_BUFSZ, 4096);
    for (uint16_t d = 0; d < NET_BUFS; d++)
        post_rx(d);
    vq_kick(&rxq);
    uint32_t w0 = vdev_cfg_read32(&net, 0), w1 = vdev_cfg_read32(&net, 4);
    rt_printf("net: MAC %02x:%02x:%02x:%02x:%02x:%02x, I am 10.0.2.2\n", w0 & 0xFF, w0 >> 8 & 0xFF,
              w0 >> 16 & 0xFF, w0 >> 24, w1 & 0xFF, w1 >> 8 & 0xFF);
    arp_for_peer(&r);
    rt_printf("net: ARP reply: 10.0.2.1 is at %02x:%02x:%02x:%02x:%02x:%02x\n", peer_mac[0],
              peer_mac[1], peer_mac[2], peer_mac[3], peer_mac[4], peer_mac[5]);
    rt_printf("net: sending a UDP datagram to 10.0.2.1:%u and waiting for the reply\n", PEER_PORT);
    send_udp("hello from the cocoon demo guest over virtio-net");
    r.want_udp = 1;
    if (!rt_run_user(user_wait_frame, (uintptr_t)&r))
        rt_fail("net: no UDP reply from 10.0.2.1");
    unsigned ihl = (r.frame[14] & 0xF) * 4u;
    unsigned off = 14 + ihl + 8;
    rt_printf("net: UDP reply from 10.0.2.1:%u: \"", be16(*(uint16_t *)(r.frame + 14 + ihl)));
    if (off < r.len)
        print_text(r.frame + off, r.len - off < 120 ? r.len - off : 120);
    rt_printf("\"\n");
}

/* ---- vsock ---- */

static void demo_vsock(void)
{
    static struct vdev probe;
    rt_printf("== guest: vsock (virtio-vsock)\n");
    if (vdev_find(VIRTIO_ID_VSOCK, 0, &probe) < 0) {
        rt_printf("vsock: no virtio-vsock device, skipped\n");
        return;
    }
    vsock_echo_start(1024);
    uint32_t port = (uint32_t)rt_cmdline_uint("connect", 0);
    if (port)
        vsock_echo_connect(port, "hello from the cocoon demo guest over vsock\n");
    vsock_echo_serve((unsigned)rt_cmdline_uint("sessions", 1));
}

int main(void)
{
    rt_printf("cocoon demo guest: %lu MiB of RAM, cmdline \"%s\"\n",
              (unsigned long)(rt_ram_size() >> 20), rt_cmdline());
    list_pci();
    demo_disk();
    demo_net();
    demo_vsock();
    rt_printf("== guest: all done, powering off with status 0\n");
    return 0;
}
