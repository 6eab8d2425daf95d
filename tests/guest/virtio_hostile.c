/* virtio_hostile.c: test guest that feeds virtio-vsock hostile rings, then proves recovery.
 *
 * Each case breaks one driver rule on a freshly initialised device and expects the device to
 * report DEVICE_NEEDS_RESET; the guest then resets it and goes on. At the end it sets the device
 * up properly, connects to host port `connect=` (default 1025), sends a line and powers off with
 * status 0 (all in ring 0: port I/O faults in ring 3 on this host): cocoon survived every case,
 * still answers on the console and vsock works again.
 */
#include "rt/rt.h"
#include "rt/virtio.h"

#define VIRTIO_ID_VSOCK 19
#define HDR             44
#define QSZ             8
#define SPINS           2000000ULL

struct hdr {
    uint64_t src_cid, dst_cid;
    uint32_t src_port, dst_port, len;
    uint16_t type, op;
    uint32_t flags, buf_alloc, fwd_cnt;
} __attribute__((packed));

static struct vdev dev;
static struct vq rxq, txq, evq;
static uint8_t *buf, *rxb;
static uint64_t cid;

static void setup(void)
{
    if (vdev_negotiate(&dev, 0) < 0)
        rt_fail("feature negotiation failed");
    if (vq_setup(&dev, &rxq, 0, QSZ) < 0 || vq_setup(&dev, &txq, 1, QSZ) < 0 ||
        vq_setup(&dev, &evq, 2, QSZ) < 0)
        rt_fail("queue setup failed");
}

static void tx_one(uint64_t addr, uint32_t len, uint16_t flags, uint16_t next)
{
    vq_set_desc(&txq, 0, addr, len, flags, next);
    vq_publish(&txq, 0);
    vq_kick(&txq);
}

static void case_loop(void)
{
    vq_set_desc(&txq, 1, (uint64_t)(uintptr_t)buf, HDR, VRING_DESC_F_NEXT, 0);
    tx_one((uint64_t)(uintptr_t)buf, HDR, VRING_DESC_F_NEXT, 1);
}

static void case_out_of_ram(void)
{
    tx_one(64ULL << 30, HDR, 0, 0);
}

static void case_len_overflow(void)
{
    tx_one(0xFFFFFFFFFFFFF000ULL, 0x2000, 0, 0);
}

static void case_huge_len(void)
{
    tx_one((uint64_t)(uintptr_t)buf, 0xFFFFFFFFu, 0, 0);
}

static void case_indirect(void)
{
    tx_one((uint64_t)(uintptr_t)buf, 16, VRING_DESC_F_INDIRECT, 0);
}

static void case_avail_jump(void)
{
    vq_set_desc(&txq, 0, (uint64_t)(uintptr_t)buf, HDR, 0, 0);
    vq_set_avail_idx(&txq, QSZ + 3);
    vq_kick(&txq);
}

static void case_resize_after_driver_ok(void)
{
    vdev_common_write16(&dev, VCOMMON_Q_SELECT, 1);
    vdev_common_write16(&dev, VCOMMON_Q_SIZE, QSZ * 4);
}

static void case_zero_len(void)
{
    tx_one((uint64_t)(uintptr_t)buf, 0, 0, 0);
}

struct hostile_case {
    const char *name;
    void (*run)(void);
    int before_driver_ok; /* breaks the queue setup instead of the ring */
};

static void case_misaligned_ring(void)
{
    /* Re-point queue 1's descriptor table off its 16-byte alignment before DRIVER_OK. */
    vdev_common_write16(&dev, VCOMMON_Q_SELECT, 1);
    mmio_write64(dev.common + VCOMMON_Q_DESCLO, (uint64_t)(uintptr_t)txq.desc + 8);
}

static void case_ring_outside_ram(void)
{
    vdev_common_write16(&dev, VCOMMON_Q_SELECT, 1);
    mmio_write64(dev.common + VCOMMON_Q_USEDLO, 64ULL << 30);
}

static const struct hostile_case cases[] = {
    {"descriptor loop", case_loop, 0},
    {"address outside guest RAM", case_out_of_ram, 0},
    {"address + length wraps", case_len_overflow, 0},
    {"length beyond RAM", case_huge_len, 0},
    {"indirect flag", case_indirect, 0},
    {"zero-length descriptor", case_zero_len, 0},
    {"avail index jump", case_avail_jump, 0},
    {"queue resize after DRIVER_OK", case_resize_after_driver_ok, 0},
    {"misaligned ring at DRIVER_OK", case_misaligned_ring, 1},
    {"ring outside RAM at DRIVER_OK", case_ring_outside_ram, 1},
};

static void send_ctrl(uint32_t lport, uint32_t pport, uint16_t op, uint32_t flags, const char *data,
                      uint32_t len)
{
    struct hdr h = {.src_cid = cid,
                    .dst_cid = 2,
                    .src_port = lport,
                    .dst_port = pport,
                    .len = len,
                    .type = 1,
                    .op = op,
                    .flags = flags,
                    .buf_alloc = 65536};
    memcpy(buf, &h, HDR);
    memcpy(buf + HDR, data, len);
    tx_one((uint64_t)(uintptr_t)buf, HDR + len, 0, 0);
    uint32_t id, ulen;
    for (uint64_t i = 0; !vq_get_used(&txq, &id, &ulen); i++)
        if (i > SPINS)
            rt_fail("tx packet never completed");
}

static uint16_t wait_rx_op(void)
{
    uint32_t id, len;
    for (uint64_t i = 0; !vq_get_used(&rxq, &id, &len); i++) {
        if (i > SPINS)
            rt_fail("no vsock packet from the host");
        rt_pause();
    }
    struct hdr h;
    memcpy(&h, rxb, HDR);
    vq_publish(&rxq, 0);
    vq_kick(&rxq);
    return h.op;
}

static void recover_and_connect(uint32_t port)
{
    vdev_reset(&dev);
    setup();
    vdev_driver_ok(&dev);
    if (vdev_status(&dev) & VIRTIO_STATUS_NEEDS_RESET)
        rt_fail("device still needs reset after a clean set-up");
    cid = vdev_cfg_read64(&dev, 0);
    vq_set_desc(&rxq, 0, (uint64_t)(uintptr_t)rxb, 4096, VRING_DESC_F_WRITE, 0);
    vq_publish(&rxq, 0);
    vq_kick(&rxq);
    send_ctrl(6000, port, 1 /* REQUEST */, 0, "", 0);
    uint16_t op = wait_rx_op();
    if (op != 2 /* RESPONSE */)
        rt_fail("connect to host port %u after recovery: op %u", port, op);
    static const char msg[] = "recovered after hostile rings\n";
    send_ctrl(6000, port, 5 /* RW */, 0, msg, sizeof(msg) - 1);
    send_ctrl(6000, port, 4 /* SHUTDOWN */, 3, "", 0);
    rt_printf("hostile: device recovered, vsock connection to host port %u worked\n", port);
}

int main(void)
{
    uint32_t port = (uint32_t)rt_cmdline_uint("connect", 1025);
    if (vdev_find(VIRTIO_ID_VSOCK, 0, &dev) < 0)
        rt_fail("no virtio-vsock function on bus 0");
    buf = vt_alloc(8192, 4096);
    rxb = vt_alloc(4096, 4096);
    unsigned n = sizeof(cases) / sizeof(cases[0]);
    for (unsigned i = 0; i < n; i++) {
        setup();
        if (cases[i].before_driver_ok)
            cases[i].run();
        vdev_driver_ok(&dev);
        if (!cases[i].before_driver_ok)
            cases[i].run();
        uint8_t s = vdev_wait_status(&dev, VIRTIO_STATUS_NEEDS_RESET, SPINS);
        if (!(s & VIRTIO_STATUS_NEEDS_RESET))
            rt_fail("case '%s': status %x without DEVICE_NEEDS_RESET", cases[i].name, s);
        rt_printf("hostile: case '%s' -> DEVICE_NEEDS_RESET (status %x)\n", cases[i].name, s);
        vdev_reset(&dev);
    }
    rt_printf("hostile: all %u cases refused; the console still answers\n", n);
    recover_and_connect(port);
    return 0;
}
