/* virtio_pci.c: libFuzzer target: the virtio-pci transport as a guest drives it: PCI config space
 * through 0xCF8/0xCFC and the BAR (common config, ISR, device config, notify, MSI-X table, PBA),
 * with rings in fuzz-filled guest RAM; a dummy device behind it. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "devices/pci.h"
#include "devices/virtio_pci.h"
#include "tests/fuzz/fuzz_util.h"
#include "vmm/base/bus.h"

static uint8_t ram[FZ_RAM_SIZE];

/* ---- interrupt back end and device that only count ---- */
static int routes;
static int f_alloc(void *ctx)
{
    return routes < 64 ? routes++ : -1;
}
static int f_set(void *ctx, int h, uint64_t addr, uint32_t data)
{
    return h >= 0 && h < 64 ? 0 : -1;
}
static void f_fire(void *ctx, int h) {}
static void f_free(void *ctx, int h) {}
static int f_attach(void *ctx, int fd, uint64_t addr, uint32_t len)
{
    return -1; /* no ioeventfd: notifications arrive as MMIO writes */
}
static void f_detach(void *ctx, int fd, uint64_t addr, uint32_t len) {}
static const struct pci_irq_ops irq_ops = {f_alloc, f_set, f_fire, f_free, f_attach, f_detach};

static uint8_t dev_cfg[16];
static void d_cfg_read(struct virtio_device *v, uint32_t off, void *data, uint32_t len)
{
    if (off + len > sizeof(dev_cfg)) /* the transport promises off + len <= config_size */
        __builtin_trap();
    memcpy(data, dev_cfg + off, len);
}
static void d_cfg_write(struct virtio_device *v, uint32_t off, const void *data, uint32_t len)
{
    if (off + len > sizeof(dev_cfg))
        __builtin_trap();
    memcpy(dev_cfg + off, data, len);
}
static int d_activate(struct virtio_device *v)
{
    for (unsigned q = 0; q < v->num_queues; q++) /* activate() promise: enabled queues are valid */
        if (v->vq[q].ready && (v->vq[q].size == 0 || v->vq[q].size > v->queue_max[q]))
            __builtin_trap();
    return 0;
}
static void d_reset(struct virtio_device *v) {}
static void d_notify(struct virtio_device *v, unsigned q)
{
    if (q >= v->num_queues)
        __builtin_trap();
    struct virtq_chain *c = malloc(sizeof(*c));
    for (int i = 0; c && i < 4 && virtq_pop(&v->vq[q], c) == 1; i++)
        (void)virtq_push(&v->vq[q], c->head, 0);
    free(c);
}
static const struct virtio_device_ops dummy_ops = {.config_read = d_cfg_read,
                                                   .config_write = d_cfg_write,
                                                   .activate = d_activate,
                                                   .reset = d_reset,
                                                   .queue_notify = d_notify};

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    log_set_level(LOG_LVL_ERROR);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* Input: 8-byte ops until the marker byte 0xFF, then guest RAM from GPA 0. */
    size_t ops_len = 0;
    while (ops_len + 8 <= size && data[ops_len] != 0xFF)
        ops_len += 8;
    memset(ram, 0, sizeof(ram));
    if (ops_len < size)
        memcpy(ram, data + ops_len + 1,
               size - ops_len - 1 < sizeof(ram) ? size - ops_len - 1 : sizeof(ram));
    struct guest_mem gm;
    gm_init_host(&gm, ram, sizeof(ram));
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct bus *pio = bus_new("pio"), *mmio = bus_new("mmio");
    struct pci_irq irq = {&irq_ops, NULL};
    struct pci_root *root = pio && mmio ? pci_root_new(pio, mmio, &irq) : NULL;
    struct virtio_device vdev = {.ops = &dummy_ops,
                                 .name = "fuzz",
                                 .device_id = 42,
                                 .features = 1ULL << 3,
                                 .config_size = sizeof(dev_cfg),
                                 .num_queues = 2,
                                 .queue_max = {16, 256},
                                 .gm = &gm};
    routes = 0;
    char bdf[16], err[128];
    struct virtio_pci *vp =
        root ? virtio_pci_new(root, &vdev, &loop, bdf, sizeof(bdf), err, sizeof(err)) : NULL;
    if (vp) {
        uint64_t bar0 = 0;
        for (size_t i = 0; i < ops_len; i += 8) {
            struct fz f = {data + i, 8};
            uint8_t op = fz_u8(&f);
            uint16_t off = fz_u16(&f);
            uint32_t val = fz_u32(&f);
            uint8_t lens[] = {1, 2, 4, 8};
            uint32_t len = lens[(op >> 2) & 3];
            uint64_t v = val;
            bool write = op & 0x10;
            if (op & 1) { /* PCI config space of slot 1 (or the one the fuzzer names) */
                uint32_t a =
                    0x80000000u | (uint32_t)((op >> 5) & 1 ? off >> 8 : 1) << 11 | (off & 0xFC);
                bus_dispatch(pio, 0xCF8, &a, 4, true);
                bus_dispatch(pio, 0xCFC + (off & 3), &v, len > 4 ? 4 : len, write);
            } else if (op & 2) { /* the BAR, wherever config space put it */
                uint32_t lo = 0;
                uint32_t a = 0x80000000u | 1u << 11 | 0x10;
                bus_dispatch(pio, 0xCF8, &a, 4, true);
                bus_dispatch(pio, 0xCFC, &lo, 4, false);
                bar0 = lo & ~0xFull;
                bus_dispatch(mmio, bar0 + ((uint64_t)(op >> 5) << 12 | (off & 0xFFF)), &v, len,
                             write);
            } else {
                uv_run(&loop, UV_RUN_NOWAIT);
            }
        }
        (void)virtio_pci_status(vp);
        virtio_pci_free(vp);
    }
    pci_root_free(root);
    uv_run(&loop, UV_RUN_NOWAIT);
    uv_run(&loop, UV_RUN_NOWAIT);
    uv_loop_close(&loop);
    bus_free(pio);
    bus_free(mmio);
    return 0;
}
