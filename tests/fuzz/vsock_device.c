/* vsock_device.c: libFuzzer target: the virtio-vsock device, its packet parser and the hybrid
 * muxer, driven by fuzz-built TX/RX rings plus host clients (CONNECT lines) and a host service. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "devices/vsock.h"
#include "tests/fuzz/fuzz_util.h"

#define GUEST_CID    3
#define SERVICE_PORT 1024 /* the guest may dial this host port */
#define MAX_CLIENTS  4

static uint8_t ram[FZ_RAM_SIZE];
static struct guest_mem gm;
static uv_loop_t loop;
static struct vsock_dev *dev;
static struct virtio_device *vdev;
static bool active;
static char path[108];
static int service_fd = -1;

static int unix_socket(void)
{
    return socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
}

static void setup_once(void)
{
    log_set_level(LOG_LVL_ERROR);
    gm_init_host(&gm, ram, sizeof(ram));
    snprintf(path, sizeof(path), "/tmp/cocoon-fuzz-vsock-%d.sock", (int)getpid());
    char err[160];
    if (uv_loop_init(&loop) != 0 || !(dev = vsock_new(&loop, &gm, GUEST_CID, path, err, 160)))
        abort();
    vdev = vsock_virtio(dev);
    vdev->transport = &fz_transport;
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s_%u", path, SERVICE_PORT);
    unlink(sa.sun_path);
    service_fd = unix_socket();
    if (service_fd < 0 || bind(service_fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
        listen(service_fd, 64) < 0)
        abort();
}

/* A host client dials the muxer and sends `len` bytes of the input (a CONNECT line, ideally). */
static int host_dial(const uint8_t *data, size_t len)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
    int fd = unix_socket();
    if (fd < 0)
        return -1;
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        close(fd);
        return -1;
    }
    (void)send(fd, data, len, MSG_DONTWAIT | MSG_NOSIGNAL);
    return fd;
}

/* The host service answers whatever the guest dialled with a few bytes, then reads. */
static void service_step(const uint8_t *data, size_t len)
{
    int fd = accept4(service_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0)
        return;
    static uint8_t buf[4096];
    (void)send(fd, data, len, MSG_DONTWAIT | MSG_NOSIGNAL);
    (void)recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
    close(fd);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!dev)
        setup_once();
    if (active)
        vdev->ops->reset(vdev);
    active = false;
    vdev->broken = false;
    uv_run(&loop, UV_RUN_NOWAIT); /* finish closing the last input's connections */
    struct fz hdr = fz_split(data, size, ram, sizeof(ram));
    uint64_t end = 0;
    if (fz_ring_init(&vdev->vq[0], &gm, &hdr, 0, VSOCK_QUEUE_SIZE, &end) < 0 ||
        fz_ring_init(&vdev->vq[1], &gm, &hdr, end, VSOCK_QUEUE_SIZE, NULL) < 0)
        return 0;
    vdev->vq[2].ready = false;
    if (vdev->ops->activate(vdev) != 0)
        return 0;
    active = true;
    int clients[MAX_CLIENTS];
    unsigned nclients = 0;
    while (hdr.n) {
        uint8_t op = fz_u8(&hdr);
        size_t len = op >> 3;
        switch (op & 7) {
        case 0:
        case 1:
            vdev->ops->queue_notify(vdev, op & 1);
            break;
        case 2:
            ram[fz_u16(&hdr) % FZ_RAM_SIZE] ^= fz_u8(&hdr);
            break;
        case 3: {
            /* the client's bytes start at a header-chosen offset of the whole input */
            size_t off = fz_u8(&hdr) % (size + 1);
            int fd = nclients < MAX_CLIENTS
                         ? host_dial(data + off, len < size - off ? len : size - off)
                         : -1;
            if (fd >= 0)
                clients[nclients++] = fd;
            break;
        }
        case 4:
            service_step(data, len < size ? len : size);
            break;
        case 5:
            if (nclients)
                close(clients[--nclients]); /* a host client hangs up */
            break;
        default:
            uv_run(&loop, UV_RUN_NOWAIT);
            break;
        }
    }
    uv_run(&loop, UV_RUN_NOWAIT);
    vdev->ops->queue_notify(vdev, 1);
    vdev->ops->queue_notify(vdev, 0);
    while (nclients)
        close(clients[--nclients]);
    return 0;
}
