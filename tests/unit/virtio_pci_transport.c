/* virtio_pci_transport.c: PCI config (0xCF8/0xCFC), BAR sizing, caps, MSI-X masking, features,
 * status machine and queue-config freezing of the virtio-pci transport, with a fake interrupt
 * back end and a dummy device model. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <uv.h>

#include "devices/pci.h"
#include "devices/virtio_pci.h"
#include "support/vring_sim.h"

#define RAM (256 * 1024)

static uint8_t ram[RAM];
static struct guest_mem gm;
static struct bus *pio, *mmio;
static struct pci_root *root;
static uv_loop_t loop;
static struct virtio_pci *vp;
static uint64_t bar0;

/* ---- fake interrupt back end ---- */
static int fires[64], routes;
static uint64_t route_addr[64];

static int f_alloc(void *ctx)
{
    return routes < 64 ? routes++ : -1;
}
static int f_set(void *ctx, int h, uint64_t addr, uint32_t data)
{
    route_addr[h] = addr;
    return 0;
}
static void f_fire(void *ctx, int h)
{
    fires[h]++;
}
static void f_free(void *ctx, int h) {}
static int f_attach(void *ctx, int fd, uint64_t addr, uint32_t len)
{
    return -1; /* no ioeventfd: notifications arrive as MMIO writes */
}
static void f_detach(void *ctx, int fd, uint64_t addr, uint32_t len) {}
static const struct pci_irq_ops fake_ops = {f_alloc, f_set, f_fire, f_free, f_attach, f_detach};

/* ---- dummy device ---- */
static struct virtio_device vdev;
static int activated, resets, notified[2];
static uint32_t cfg_word = 0xC0C0A000;

static void d_cfg_read(struct virtio_device *v, uint32_t off, void *data, uint32_t len)
{
    memcpy(data, (uint8_t *)&cfg_word + off, len);
}
static int d_activate(struct virtio_device *v)
{
    activated++;
    return 0;
}
static void d_reset(struct virtio_device *v)
{
    resets++;
}
static void d_notify(struct virtio_device *v, unsigned q)
{
    notified[q]++;
}
static const struct virtio_device_ops dummy_ops = {
    .config_read = d_cfg_read, .activate = d_activate, .reset = d_reset, .queue_notify = d_notify};

/* ---- access helpers ---- */
static uint32_t cfg_read(unsigned slot, unsigned off, unsigned len)
{
    uint32_t a = 0x80000000u | slot << 11 | (off & 0xFC), v = 0;
    bus_dispatch(pio, 0xCF8, &a, 4, true);
    bus_dispatch(pio, 0xCFC + (off & 3), &v, len, false);
    return v;
}
static void cfg_write(unsigned slot, unsigned off, uint32_t v, unsigned len)
{
    uint32_t a = 0x80000000u | slot << 11 | (off & 0xFC);
    bus_dispatch(pio, 0xCF8, &a, 4, true);
    bus_dispatch(pio, 0xCFC + (off & 3), &v, len, true);
}
static uint64_t rd(uint64_t off, unsigned len)
{
    uint64_t v = 0;
    bus_dispatch(mmio, bar0 + off, &v, len, false);
    return v;
}
static void wr(uint64_t off, uint64_t v, unsigned len)
{
    bus_dispatch(mmio, bar0 + off, &v, len, true);
}
static void run_loop(void)
{
    uv_run(&loop, UV_RUN_NOWAIT);
    uv_run(&loop, UV_RUN_NOWAIT);
}

static int setup(void **state)
{
    memset(ram, 0, sizeof(ram));
    memset(fires, 0, sizeof(fires));
    routes = activated = resets = notified[0] = notified[1] = 0;
    gm_init_host(&gm, ram, RAM);
    uv_loop_init(&loop);
    pio = bus_new("pio");
    mmio = bus_new("mmio");
    struct pci_irq irq = {&fake_ops, NULL};
    root = pci_root_new(pio, mmio, &irq);
    memset(&vdev, 0, sizeof(vdev));
    vdev.ops = &dummy_ops;
    vdev.name = "dummy";
    vdev.device_id = 42;
    vdev.features = (1ULL << 3) | (1ULL << VIRTIO_F_INDIRECT_DESC) | (1ULL << VIRTIO_F_EVENT_IDX);
    vdev.config_size = 4;
    vdev.num_queues = 2;
    vdev.queue_max[0] = vdev.queue_max[1] = 16;
    vdev.gm = &gm;
    char bdf[16], err[128];
    vp = virtio_pci_new(root, &vdev, &loop, bdf, sizeof(bdf), err, sizeof(err));
    assert_non_null(vp);
    assert_string_equal(bdf, "0000:00:01.0");
    bar0 = cfg_read(1, 0x10, 4) & ~0xFull;
    cfg_write(1, 0x04, 0x6, 2); /* memory decoding + bus master */
    return 0;
}

static int teardown(void **state)
{
    virtio_pci_free(vp);
    pci_root_free(root);
    run_loop();
    uv_loop_close(&loop);
    bus_free(pio);
    bus_free(mmio);
    return 0;
}

static void config_address_and_absent_functions(void **state)
{
    uint32_t a = 0x80000810, back = 0;
    bus_dispatch(pio, 0xCF8, &a, 4, true);
    bus_dispatch(pio, 0xCF8, &back, 4, false);
    assert_int_equal(back, 0x80000810);
    assert_int_equal(cfg_read(0, 0, 4), 0x29c08086); /* host bridge: Q35 MCH */
    assert_int_equal(cfg_read(0, 0x0A, 2), 0x0600);  /* class: host bridge */
    assert_int_equal(cfg_read(1, 0, 4), (0x1040u + 42) << 16 | 0x1AF4);
    assert_int_equal(cfg_read(1, 0x08, 1), 1);       /* modern revision */
    assert_int_equal(cfg_read(7, 0, 4), 0xFFFFFFFF); /* empty slot */
    uint32_t fn1 = 0x80000000u | 1 << 11 | 1 << 8, v = 0;
    bus_dispatch(pio, 0xCF8, &fn1, 4, true);
    bus_dispatch(pio, 0xCFC, &v, 4, false);
    assert_int_equal(v, 0xFFFFFFFF);
    uint32_t bus1 = 0x80010000u | 1 << 11;
    bus_dispatch(pio, 0xCF8, &bus1, 4, true);
    bus_dispatch(pio, 0xCFC, &v, 4, false);
    assert_int_equal(v, 0xFFFFFFFF);
    uint32_t disabled = 0x00000800u;
    bus_dispatch(pio, 0xCF8, &disabled, 4, true);
    bus_dispatch(pio, 0xCFC, &v, 4, false);
    assert_int_equal(v, 0xFFFFFFFF);
}

static void bar_sizing_and_moving(void **state)
{
    assert_true(bar0 >= PCI_MMIO_START && bar0 + VIRTIO_PCI_BAR_SIZE <= PCI_MMIO_END);
    assert_int_equal(rd(0x12, 2), 2); /* num_queues through the mapped BAR */
    cfg_write(1, 0x04, 0, 2);         /* decoding off while sizing, as drivers do */
    cfg_write(1, 0x10, 0xFFFFFFFF, 4);
    assert_int_equal(cfg_read(1, 0x10, 4), (uint32_t) ~(VIRTIO_PCI_BAR_SIZE - 1));
    cfg_write(1, 0x14, 0xFFFFFFFF, 4);
    assert_int_equal(cfg_read(1, 0x14, 4), 0); /* absent BAR */
    uint64_t moved = 0xD0000000;
    cfg_write(1, 0x10, (uint32_t)moved, 4);
    cfg_write(1, 0x04, 0x6, 2);
    uint64_t old = bar0;
    bar0 = moved;
    assert_int_equal(rd(0x12, 2), 2);
    uint64_t v = 0;
    assert_false(bus_dispatch(mmio, old + 0x12, &v, 2, false));
}

static void capabilities_present(void **state)
{
    assert_true(cfg_read(1, 0x06, 2) & 0x10);
    unsigned off = cfg_read(1, 0x34, 1), seen = 0, hops = 0;
    while (off && hops++ < 16) {
        unsigned id = cfg_read(1, off, 1);
        if (id == 0x09)
            seen |= 1u << cfg_read(1, off + 3, 1);
        if (id == 0x11) {
            seen |= 1u << 8;
            assert_int_equal(cfg_read(1, off + 2, 2) & 0x7FF, 2); /* 3 vectors */
        }
        off = cfg_read(1, off + 1, 1);
    }
    assert_int_equal(seen, (1u << 1) | (1u << 2) | (1u << 3) | (1u << 4) | (1u << 5) | (1u << 8));
    assert_int_equal(rd(VIRTIO_PCI_DEVICE_OFF, 4), cfg_word);
}

static void features_offered(void **state)
{
    wr(0x00, 0, 4);
    uint32_t lo = (uint32_t)rd(0x04, 4);
    wr(0x00, 1, 4);
    uint32_t hi = (uint32_t)rd(0x04, 4);
    assert_int_equal(lo, 1u << 3); /* device bit kept, INDIRECT and EVENT_IDX never offered */
    assert_int_equal(hi, 3u);      /* VERSION_1 | ACCESS_PLATFORM */
}

static void features_ok_needs_version_1(void **state)
{
    wr(0x14, 1 | 2, 1);
    wr(0x08, 0, 4);
    wr(0x0C, 1u << 3, 4);
    wr(0x14, 1 | 2 | 8, 1);
    assert_false(rd(0x14, 1) & 8);
    wr(0x14, 0, 1);
    wr(0x14, 1 | 2, 1);
    wr(0x08, 0, 4);
    wr(0x0C, 1u << VIRTIO_F_INDIRECT_DESC, 4); /* not offered */
    wr(0x08, 1, 4);
    wr(0x0C, 1, 4);
    wr(0x14, 1 | 2 | 8, 1);
    assert_false(rd(0x14, 1) & 8);
}

/* Negotiates VERSION_1, sets up queue 0 at `base`, optionally DRIVER_OK. */
static void bring_up(uint16_t qsize, uint64_t base, bool driver_ok)
{
    wr(0x14, 0, 1);
    wr(0x14, 1 | 2, 1);
    wr(0x08, 1, 4);
    wr(0x0C, 1, 4);
    wr(0x14, 1 | 2 | 8, 1);
    assert_true(rd(0x14, 1) & 8);
    struct vring_sim s;
    vring_sim_init(&s, ram, 16, base);
    wr(0x16, 0, 2);
    wr(0x18, qsize, 2);
    wr(0x20, s.desc, 8);
    wr(0x28, (uint32_t)s.avail, 4); /* 32-bit halves work too */
    wr(0x2C, 0, 4);
    wr(0x30, s.used, 8);
    wr(0x1C, 1, 2);
    if (driver_ok)
        wr(0x14, 1 | 2 | 8 | 4, 1);
    run_loop();
}

static void activation_notify_and_reset(void **state)
{
    bring_up(16, 0x1000, true);
    assert_int_equal(activated, 1);
    assert_int_equal(rd(0x14, 1), 1 | 2 | 4 | 8);
    assert_true(vdev.vq[0].ready);
    assert_false(vdev.vq[1].ready);
    int before = notified[0];
    wr(VIRTIO_PCI_NOTIFY_OFF, 0, 2);
    wr(VIRTIO_PCI_NOTIFY_OFF + 4, 1, 2); /* queue 1 not enabled: ignored */
    run_loop();
    assert_int_equal(notified[0], before + 1);
    assert_int_equal(notified[1], 0);
    wr(0x14, 0, 1);
    assert_int_equal(rd(0x14, 1), 0);
    run_loop();
    assert_int_equal(resets, 1);
    assert_false(vdev.vq[0].ready);
}

/* A reset completes (device_status reads 0) only once the model has no DMA pending: the driver
 * waits for 0 before reusing its buffers, and the loop never waits for the I/O. */
static void reset_completes_when_dma_drained(void **state)
{
    bring_up(16, 0x1000, true);
    __atomic_store_n(&vdev.dma_pending, 2, __ATOMIC_RELEASE); /* two requests still running */
    wr(0x14, 0, 1);
    assert_int_not_equal(rd(0x14, 1), 0);
    run_loop(); /* the model's reset ran; its I/O has not finished */
    assert_int_equal(resets, 1);
    assert_int_not_equal(rd(0x14, 1), 0);
    __atomic_store_n(&vdev.dma_pending, 0, __ATOMIC_RELEASE);
    assert_int_equal(rd(0x14, 1), 0);
    wr(0x14, 1, 1); /* re-initialisation reads its own status back */
    assert_int_equal(rd(0x14, 1), 1);
}

static void enable_msix(unsigned cap_ctrl_off, uint16_t ctrl)
{
    cfg_write(1, cap_ctrl_off, ctrl, 2);
}

static unsigned msix_cap(void)
{
    unsigned off = cfg_read(1, 0x34, 1);
    while (off && cfg_read(1, off, 1) != 0x11)
        off = cfg_read(1, off + 1, 1);
    return off;
}

static void queue_frozen_after_driver_ok(void **state)
{
    unsigned cap = msix_cap();
    enable_msix(cap + 2, 0x8000);
    /* Vector 2 for configuration changes, unmasked. */
    wr(VIRTIO_PCI_MSIX_OFF + 32, 0xFEE00000, 4);
    wr(VIRTIO_PCI_MSIX_OFF + 40, 0x41, 4);
    wr(VIRTIO_PCI_MSIX_OFF + 44, 0, 4);
    bring_up(16, 0x1000, false);
    wr(0x10, 2, 2);
    assert_int_equal(rd(0x10, 2), 2);
    wr(0x14, 1 | 2 | 8 | 4, 1);
    run_loop();
    assert_int_equal(activated, 1);
    wr(0x16, 0, 2);
    wr(0x18, 8, 2); /* resize after DRIVER_OK */
    assert_true(rd(0x14, 1) & VIRTIO_STATUS_DEVICE_NEEDS_RESET);
    assert_int_equal(rd(0x18, 2), 16);
    assert_int_equal(fires[2], 1);
    assert_true(rd(VIRTIO_PCI_ISR_OFF, 1) & 2);
    assert_int_equal(rd(VIRTIO_PCI_ISR_OFF, 1), 0); /* read clears */
    /* Notifications are ignored while the device needs a reset. */
    int before = notified[0];
    wr(VIRTIO_PCI_NOTIFY_OFF, 0, 2);
    run_loop();
    assert_int_equal(notified[0], before);
    wr(0x14, 0, 1);
    assert_int_equal(rd(0x14, 1), 0);
}

static void bad_queue_refused_at_driver_ok(void **state)
{
    bring_up(12, 0x1000, true); /* not a power of two */
    assert_int_equal(activated, 0);
    assert_true(rd(0x14, 1) & VIRTIO_STATUS_DEVICE_NEEDS_RESET);
    assert_false(rd(0x14, 1) & VIRTIO_STATUS_DRIVER_OK);
    bring_up(16, 0x1008, true); /* misaligned descriptor table */
    assert_int_equal(activated, 0);
    assert_true(rd(0x14, 1) & VIRTIO_STATUS_DEVICE_NEEDS_RESET);
    bring_up(16, 0x1000, true); /* and a clean set-up after reset works */
    assert_int_equal(activated, 1);
    assert_false(rd(0x14, 1) & VIRTIO_STATUS_DEVICE_NEEDS_RESET);
}

static void msix_masking_and_pba(void **state)
{
    unsigned cap = msix_cap();
    enable_msix(cap + 2, 0x8000);
    bring_up(16, 0x1000, false);
    wr(0x16, 0, 2);
    wr(0x1A, 0, 2); /* queue 0 -> vector 0 */
    assert_int_equal(rd(0x1A, 2), 0);
    wr(0x1A, 9, 2); /* beyond the table: reads back NO_VECTOR */
    assert_int_equal(rd(0x1A, 2), 0xFFFF);
    wr(0x1A, 0, 2);
    wr(0x14, 1 | 2 | 8 | 4, 1);
    run_loop();
    wr(VIRTIO_PCI_MSIX_OFF + 0, 0xFEE01000, 4);
    wr(VIRTIO_PCI_MSIX_OFF + 8, 0x30, 4);
    /* Entry 0 is masked (reset state): the signal stays pending in the PBA. */
    vdev.transport->signal_queue(vdev.transport_ctx, 0);
    assert_int_equal(fires[0], 0);
    assert_int_equal(rd(VIRTIO_PCI_PBA_OFF, 8) & 1, 1);
    wr(VIRTIO_PCI_MSIX_OFF + 12, 0, 4); /* unmask: delivered once */
    assert_int_equal(fires[0], 1);
    assert_int_equal(route_addr[0], 0xFEE01000);
    assert_int_equal(rd(VIRTIO_PCI_PBA_OFF, 8) & 1, 0);
    /* Function mask holds everything back too. */
    enable_msix(cap + 2, 0xC000);
    vdev.transport->signal_queue(vdev.transport_ctx, 0);
    assert_int_equal(fires[0], 1);
    enable_msix(cap + 2, 0x8000);
    assert_int_equal(fires[0], 2);
    /* MSI-X disabled: nothing fires, the ISR still says why. */
    enable_msix(cap + 2, 0);
    vdev.transport->signal_queue(vdev.transport_ctx, 0);
    assert_int_equal(fires[0], 2);
    assert_true(rd(VIRTIO_PCI_ISR_OFF, 1) & 1);
}

static void pci_cfg_window_reaches_bar(void **state)
{
    unsigned off = cfg_read(1, 0x34, 1);
    while (off && !(cfg_read(1, off, 1) == 0x09 && cfg_read(1, off + 3, 1) == 5))
        off = cfg_read(1, off + 1, 1);
    assert_true(off);
    cfg_write(1, off + 4, 0, 1);    /* bar 0 */
    cfg_write(1, off + 8, 0x12, 4); /* num_queues */
    cfg_write(1, off + 12, 2, 4);
    assert_int_equal(cfg_read(1, off + 16, 2), 2);
}

static void hostile_register_accesses_are_harmless(void **state)
{
    /* Odd sizes, unknown offsets, selectors beyond the queues. */
    wr(0x16, 0xFFFF, 2);
    assert_int_equal(rd(0x18, 2), 0);
    wr(0x18, 64, 2);
    wr(0x20, 0x1234, 8);
    wr(0x37, 0xFF, 1);
    wr(0x100, 0xFFFFFFFF, 4);
    wr(VIRTIO_PCI_DEVICE_OFF + 3, 0xFFFF, 2); /* crosses the 4-byte config space */
    wr(VIRTIO_PCI_MSIX_OFF + 3, 0xFF, 1);
    wr(VIRTIO_PCI_NOTIFY_OFF + 4 * 100, 0, 2);
    cfg_write(1, 0xFF, 0xFF, 1);
    cfg_write(1, 0x00, 0xFFFFFFFF, 4); /* ids are read-only */
    assert_int_equal(cfg_read(1, 0, 2), 0x1AF4);
    run_loop();
    assert_int_equal(rd(0x12, 2), 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(config_address_and_absent_functions, setup, teardown),
        cmocka_unit_test_setup_teardown(reset_completes_when_dma_drained, setup, teardown),
        cmocka_unit_test_setup_teardown(bar_sizing_and_moving, setup, teardown),
        cmocka_unit_test_setup_teardown(capabilities_present, setup, teardown),
        cmocka_unit_test_setup_teardown(features_offered, setup, teardown),
        cmocka_unit_test_setup_teardown(features_ok_needs_version_1, setup, teardown),
        cmocka_unit_test_setup_teardown(activation_notify_and_reset, setup, teardown),
        cmocka_unit_test_setup_teardown(queue_frozen_after_driver_ok, setup, teardown),
        cmocka_unit_test_setup_teardown(bad_queue_refused_at_driver_ok, setup, teardown),
        cmocka_unit_test_setup_teardown(msix_masking_and_pba, setup, teardown),
        cmocka_unit_test_setup_teardown(pci_cfg_window_reaches_bar, setup, teardown),
        cmocka_unit_test_setup_teardown(hostile_register_accesses_are_harmless, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
