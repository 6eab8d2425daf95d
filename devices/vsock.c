/* vsock.c: virtio-vsock device: moves packets between its virtqueues and the muxer. */
#include "devices/vsock.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "devices/vsock_muxer.h"
#include "devices/vsock_packet.h"

enum { VSOCK_Q_RX = 0, VSOCK_Q_TX = 1, VSOCK_Q_EVENT = 2, VSOCK_NR_QUEUES = 3 };

struct vsock_dev {
    struct virtio_device vdev;
    uint64_t cid;
    struct vsock_muxer *mux;
    struct virtq_chain tx_chain, rx_chain; /* host copies of the chains being worked on */
    bool rx_held;                          /* rx_chain popped but not filled yet */
    bool in_rx;
    bool in_tx; /* the tx loop fills rx once at its end: muxer kicks meanwhile are deferred */
    bool active;
    struct log_ratelimit rl;
};

static struct vsock_dev *to_vsock(struct virtio_device *vdev)
{
    return (struct vsock_dev *)((char *)vdev - offsetof(struct vsock_dev, vdev));
}

static void vsock_config_read(struct virtio_device *vdev, uint32_t offset, void *data, uint32_t len)
{
    struct vsock_dev *dev = to_vsock(vdev);
    uint8_t cfg[8];
    memcpy(cfg, &dev->cid, sizeof(cfg));
    memcpy(data, cfg + offset, len);
}

static bool vsock_running(const struct vsock_dev *dev)
{
    return dev->active && !dev->vdev.broken;
}

/* Fills guest RX buffers with whatever the muxer has for the guest. */
static void vsock_process_rx(struct vsock_dev *dev)
{
    struct virtq *vq = &dev->vdev.vq[VSOCK_Q_RX];
    if (dev->in_rx || !vsock_running(dev) || !vq->ready)
        return;
    dev->in_rx = true;
    bool pushed = false;
    while (vsock_muxer_has_rx(dev->mux)) {
        if (!dev->rx_held) {
            int rc = virtq_pop(vq, &dev->rx_chain);
            if (rc < 0) {
                virtio_device_error(&dev->vdev, "rx queue: %s", vq->error);
                break;
            }
            if (rc == 0)
                break;
            dev->rx_held = true;
        }
        int64_t n = vsock_muxer_recv(dev->mux, vq, &dev->rx_chain);
        if (n == 0)
            break; /* keep the buffer for the next packet */
        if (n < 0) {
            log_limited(&dev->rl, LOG_LVL_WARN, "vsock: rx buffer too small or inaccessible");
            n = 0;
        }
        dev->rx_held = false;
        if (virtq_push(vq, dev->rx_chain.head, (uint32_t)n) < 0) {
            virtio_device_error(&dev->vdev, "rx queue: %s", vq->error);
            break;
        }
        pushed = true;
    }
    dev->in_rx = false;
    if (pushed)
        virtio_signal_used(&dev->vdev, VSOCK_Q_RX);
}

static void vsock_process_tx(struct vsock_dev *dev)
{
    struct virtq *vq = &dev->vdev.vq[VSOCK_Q_TX];
    bool pushed = false;
    dev->in_tx = true;
    while (vsock_running(dev)) {
        int rc = virtq_pop(vq, &dev->tx_chain);
        if (rc < 0) {
            virtio_device_error(&dev->vdev, "tx queue: %s", vq->error);
            break;
        }
        if (rc == 0)
            break;
        struct vsock_hdr h;
        const char *why = NULL;
        if (vsock_pkt_parse_tx(vq, &dev->tx_chain, &h, &why) < 0)
            log_limited(&dev->rl, LOG_LVL_WARN, "vsock: dropped guest packet: %s", why);
        else
            vsock_muxer_send(dev->mux, &h, vq, &dev->tx_chain);
        if (virtq_push(vq, dev->tx_chain.head, 0) < 0) {
            virtio_device_error(&dev->vdev, "tx queue: %s", vq->error);
            break;
        }
        pushed = true;
    }
    dev->in_tx = false;
    if (pushed)
        virtio_signal_used(&dev->vdev, VSOCK_Q_TX);
    vsock_process_rx(dev);
}

static void vsock_queue_notify(struct virtio_device *vdev, unsigned q)
{
    struct vsock_dev *dev = to_vsock(vdev);
    if (q == VSOCK_Q_TX)
        vsock_process_tx(dev);
    else if (q == VSOCK_Q_RX)
        vsock_process_rx(dev);
    /* The event queue only holds buffers for events cocoon never sends (no migration). */
}

static int vsock_activate(struct virtio_device *vdev)
{
    struct vsock_dev *dev = to_vsock(vdev);
    dev->active = true;
    dev->rx_held = false;
    return 0;
}

static void vsock_reset(struct virtio_device *vdev)
{
    struct vsock_dev *dev = to_vsock(vdev);
    dev->active = false;
    dev->rx_held = false;
    vsock_muxer_reset(dev->mux);
}

static void vsock_kick(void *opaque)
{
    struct vsock_dev *dev = opaque;
    if (!dev->in_tx) /* vsock_process_tx ends with an rx pass: one batch, one interrupt */
        vsock_process_rx(dev);
}

static const struct virtio_device_ops vsock_ops = {
    .config_read = vsock_config_read,
    .activate = vsock_activate,
    .reset = vsock_reset,
    .queue_notify = vsock_queue_notify,
};

struct vsock_dev *vsock_new(uv_loop_t *loop, const struct guest_mem *gm, uint64_t cid,
                            const char *socket_path, char *err, size_t errlen)
{
    if (cid < 3 || cid >= UINT32_MAX) {
        snprintf(err, errlen, "vsock: guest cid %llu out of range (3..%u)", (unsigned long long)cid,
                 UINT32_MAX - 1);
        return NULL;
    }
    if (!socket_path || !*socket_path) {
        snprintf(err, errlen, "vsock: a socket path is required");
        return NULL;
    }
    struct vsock_dev *dev = calloc(1, sizeof(*dev));
    if (!dev) {
        snprintf(err, errlen, "vsock: out of memory");
        return NULL;
    }
    dev->cid = cid;
    dev->rl = (struct log_ratelimit)LOG_RATELIMIT_INIT;
    dev->vdev.ops = &vsock_ops;
    dev->vdev.name = "vsock";
    dev->vdev.device_id = VIRTIO_ID_VSOCK;
    dev->vdev.features = 0;
    dev->vdev.config_size = 8;
    dev->vdev.num_queues = VSOCK_NR_QUEUES;
    for (unsigned q = 0; q < VSOCK_NR_QUEUES; q++)
        dev->vdev.queue_max[q] = VSOCK_QUEUE_SIZE;
    dev->vdev.gm = gm;
    dev->mux = vsock_muxer_new(loop, socket_path, cid, vsock_kick, dev, err, errlen);
    if (!dev->mux) {
        free(dev);
        return NULL;
    }
    return dev;
}

struct virtio_device *vsock_virtio(struct vsock_dev *dev)
{
    return &dev->vdev;
}

unsigned vsock_conn_count(const struct vsock_dev *dev)
{
    return vsock_muxer_conn_count(dev->mux);
}

void vsock_free(struct vsock_dev *dev)
{
    if (!dev)
        return;
    vsock_muxer_free(dev->mux);
    free(dev);
}
