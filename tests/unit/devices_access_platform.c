/* devices_access_platform.c: every virtio device type, read through its virtio-pci transport as a
 * guest driver would, offers VIRTIO_F_ACCESS_PLATFORM and VIRTIO_F_VERSION_1 (TEE guests refuse
 * devices without them and bounce DMA through shared memory only because of them). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cmocka.h>

#include "devices/pci.h"
#include "devices/virtio_blk.h"
#include "devices/virtio_net.h"
#include "devices/virtio_pci.h"
#include "devices/vsock.h"
#include "vmm/base/bus.h"

#define BAR_ADDR 0xe0000000u

static uint8_t ram[1 << 20];
static struct guest_mem gm;
static uv_loop_t loop;
static struct bus *pio, *mmio;
static struct pci_root *root;
static int next_route;

static int fake_msi_alloc(void *ctx)
{
    return next_route++;
}
static int fake_msi_set(void *ctx, int h, uint64_t addr, uint32_t data)
{
    return 0;
}
static void fake_msi_fire(void *ctx, int h) {}
static void fake_msi_free(void *ctx, int h) {}
static int fake_doorbell_attach(void *ctx, int fd, uint64_t addr, uint32_t len)
{
    return -1;
}
static void fake_doorbell_detach(void *ctx, int fd, uint64_t addr, uint32_t len) {}
static const struct pci_irq_ops fake_irq_ops = {fake_msi_alloc,       fake_msi_set,
                                                fake_msi_fire,        fake_msi_free,
                                                fake_doorbell_attach, fake_doorbell_detach};
static const struct pci_irq fake_irq = {&fake_irq_ops, NULL};

static void cfg_write32(unsigned slot, unsigned reg, uint32_t v)
{
    uint32_t addr = 0x80000000u | slot << 11 | (reg & 0xfc);
    assert_true(bus_dispatch(pio, 0xcf8, &addr, 4, true));
    assert_true(bus_dispatch(pio, 0xcfc, &v, 4, true));
}

static uint32_t mmio_read32(uint64_t addr)
{
    uint32_t v = 0;
    assert_true(bus_dispatch(mmio, addr, &v, 4, false));
    return v;
}

static void mmio_write32(uint64_t addr, uint32_t v)
{
    assert_true(bus_dispatch(mmio, addr, &v, 4, true));
}

/* Attaches vdev, maps its BAR 0 and reads the 64 device feature bits from the common config. */
static uint64_t offered_features(struct virtio_device *vdev)
{
    char bdf[32], err[160];
    struct virtio_pci *vp = virtio_pci_new(root, vdev, &loop, bdf, sizeof(bdf), err, sizeof(err));
    if (!vp)
        fail_msg("virtio_pci_new: %s", err);
    unsigned slot = 0;
    assert_int_equal(sscanf(bdf, "0000:00:%x.0", &slot), 1);
    cfg_write32(slot, 0x10, BAR_ADDR);
    cfg_write32(slot, 0x04, 0x2); /* memory space on */
    uint64_t f = 0;
    for (uint32_t sel = 0; sel < 2; sel++) {
        mmio_write32(BAR_ADDR + VIRTIO_PCI_COMMON_OFF + 0, sel); /* device_feature_select */
        f |= (uint64_t)mmio_read32(BAR_ADDR + VIRTIO_PCI_COMMON_OFF + 4) << (32 * sel);
    }
    cfg_write32(slot, 0x04, 0);
    virtio_pci_free(vp);
    for (int i = 0; i < 4; i++)
        uv_run(&loop, UV_RUN_NOWAIT);
    return f;
}

static void assert_platform(uint64_t f, const char *what)
{
    if (!(f >> VIRTIO_F_ACCESS_PLATFORM & 1) || !(f >> VIRTIO_F_VERSION_1 & 1))
        fail_msg("%s offers 0x%llx: no ACCESS_PLATFORM/VERSION_1", what, (unsigned long long)f);
    /* Nothing the hardened TDX/SNP guest drivers refuse. */
    assert_false(f >> VIRTIO_F_RING_PACKED & 1);
    assert_false(f >> VIRTIO_F_INDIRECT_DESC & 1);
}

static int setup(void **state)
{
    gm_init_host(&gm, ram, sizeof(ram));
    if (uv_loop_init(&loop))
        return -1;
    pio = bus_new("pio");
    mmio = bus_new("mmio");
    root = pci_root_new(pio, mmio, &fake_irq);
    return root ? 0 : -1;
}

static int teardown(void **state)
{
    pci_root_free(root);
    bus_free(pio);
    bus_free(mmio);
    uv_run(&loop, UV_RUN_NOWAIT);
    uv_loop_close(&loop);
    return 0;
}

static void blk_offers_access_platform(void **state)
{
    char path[] = "/tmp/cocoon-ap-blk-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(ftruncate(fd, 1 << 20), 0);
    close(fd);
    struct virtio_blk_params p = {.path = path};
    struct virtio_blk *blk;
    char err[160];
    if (virtio_blk_create(&p, &gm, &loop, &blk, err, sizeof(err)))
        fail_msg("virtio_blk_create: %s", err);
    assert_platform(offered_features(virtio_blk_vdev(blk)), "virtio-blk");
    virtio_blk_destroy(blk);
    uv_run(&loop, UV_RUN_NOWAIT);
    unlink(path);
}

static void net_offers_access_platform(void **state)
{
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
    struct virtio_net_params p = {.tap = {.fd = sv[0], .vnet_hdr = true, .is_tap = false}};
    struct virtio_net *net;
    char err[160];
    if (virtio_net_create(&p, &gm, &loop, &net, err, sizeof(err)))
        fail_msg("virtio_net_create: %s", err);
    assert_platform(offered_features(virtio_net_vdev(net)), "virtio-net");
    virtio_net_destroy(net);
    uv_run(&loop, UV_RUN_NOWAIT);
    close(sv[1]);
}

static void vsock_offers_access_platform(void **state)
{
    char path[64];
    snprintf(path, sizeof(path), "/tmp/cocoon-ap-vsock-%d.sock", (int)getpid());
    char err[160];
    struct vsock_dev *v = vsock_new(&loop, &gm, 3, path, err, sizeof(err));
    if (!v)
        fail_msg("vsock_new: %s", err);
    assert_platform(offered_features(vsock_virtio(v)), "virtio-vsock");
    vsock_free(v);
    for (int i = 0; i < 4; i++)
        uv_run(&loop, UV_RUN_NOWAIT);
    unlink(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(blk_offers_access_platform),
        cmocka_unit_test(net_offers_access_platform),
        cmocka_unit_test(vsock_offers_access_platform),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
