/* virtio_net.c: libFuzzer target: the virtio-net device (TX and RX queues) over fuzz-built rings,
 * with a socketpair standing in for the tap and fuzz bytes as frames arriving from it. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "devices/virtio_net.h"
#include "tests/fuzz/fuzz_util.h"

static uint8_t ram[FZ_RAM_SIZE];
static struct guest_mem gm;
static uv_loop_t loop;
static int peer = -1, tapfd = -1;
static struct virtio_net *net;
static struct virtio_device *vdev;
static bool active;

static void setup_once(void)
{
    log_set_level(LOG_LVL_ERROR);
    gm_init_host(&gm, ram, sizeof(ram));
    int sv[2];
    if (uv_loop_init(&loop) != 0 ||
        socketpair(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) != 0)
        abort();
    tapfd = sv[0];
    peer = sv[1];
    struct virtio_net_params p = {.tap = {.fd = sv[0], .vnet_hdr = true, .is_tap = false},
                                  .mac_set = true,
                                  .queue_size = 256};
    char err[128];
    if (virtio_net_create(&p, &gm, &loop, &net, err, sizeof(err)) != 0)
        abort();
    vdev = virtio_net_vdev(net);
    vdev->transport = &fz_transport;
}

/* Empties one end of the socketpair so every input starts from the same state. */
static void drain(int fd)
{
    static uint8_t buf[70000];
    while (recv(fd, buf, sizeof(buf), MSG_DONTWAIT) > 0) {
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!net)
        setup_once();
    if (active)
        vdev->ops->reset(vdev);
    active = false;
    vdev->broken = false;
    drain(tapfd); /* frames the device left unread last time */
    struct fz hdr = fz_split(data, size, ram, sizeof(ram));
    uint64_t rx_end = 0;
    if (fz_ring_init(&vdev->vq[0], &gm, &hdr, 0, 256, &rx_end) < 0 ||
        fz_ring_init(&vdev->vq[1], &gm, &hdr, rx_end, 256, NULL) < 0)
        return 0;
    vdev->driver_features = vdev->features & fz_u64(&hdr);
    /* Frames the host side sends: lengths from the header, bytes from the input itself. */
    unsigned nframes = fz_u8(&hdr) % 8;
    for (unsigned i = 0; i < nframes; i++) {
        size_t len = fz_u16(&hdr) % (size + 1);
        (void)send(peer, data, len, MSG_DONTWAIT);
    }
    if (vdev->ops->activate(vdev) != 0)
        return 0;
    active = true;
    while (hdr.n) {
        uint8_t op = fz_u8(&hdr);
        if (op & 1)
            vdev->ops->queue_notify(vdev, op >> 7);
        else
            ram[fz_u16(&hdr) % FZ_RAM_SIZE] ^= op;
        uv_run(&loop, UV_RUN_NOWAIT);
    }
    vdev->ops->queue_notify(vdev, 0);
    vdev->ops->queue_notify(vdev, 1);
    uv_run(&loop, UV_RUN_NOWAIT);
    drain(peer);
    return 0;
}
