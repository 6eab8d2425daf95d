/* virtio_net.h: the virtio-net device model over a tap (one rx and one tx queue). */
#ifndef COCOON_VIRTIO_NET_H
#define COCOON_VIRTIO_NET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "devices/net_hdr.h"
#include "devices/rate_limiter.h"
#include "devices/tap.h"
#include "devices/virtio.h"

#define VIRTIO_NET_Q_RX               0
#define VIRTIO_NET_Q_TX               1
#define VIRTIO_NET_DEFAULT_QUEUE_SIZE 256
#define VIRTIO_NET_DEFAULT_MTU        1500
#define VIRTIO_NET_CONFIG_SIZE        12 /* mac, status, max_virtqueue_pairs, mtu */

struct virtio_net_params {
    struct tap tap; /* opened (tap_open_name / tap_adopt_fd); the device takes ownership */
    uint8_t mac[6];
    bool mac_set;        /* false: a random locally administered address */
    unsigned queue_size; /* 0 = 256; a power of two <= VIRTQ_MAX_SIZE */
    uint32_t mtu;        /* 0 = 1500; 68..65535 */
    /* Token buckets (bytes of frames, frames), one for rx and one for tx, as Cloud Hypervisor
     * does; NULL or all zero: unlimited. */
    const struct rate_limiter_config *rate_limiter;
};

struct virtio_net_stats {
    uint64_t rx_frames, tx_frames;
    uint64_t rx_dropped[NET_DROP_REASONS]; /* by enum net_drop */
    uint64_t tx_dropped[NET_DROP_REASONS];
    uint64_t tx_errors; /* the tap refused a frame (other than EAGAIN) */
    uint64_t rx_paused; /* times reception paused because the guest had no buffers */
    uint64_t rx_throttled, tx_throttled; /* times the rate limiter paused a direction */
};

struct virtio_net;

/* Builds the device over p->tap (closed on failure too). Returns 0, or -1 with err. */
int virtio_net_create(const struct virtio_net_params *p, const struct guest_mem *gm,
                      uv_loop_t *loop, struct virtio_net **out, char *err, size_t errlen);

/* The generic virtio device to hand to the transport. */
struct virtio_device *virtio_net_vdev(struct virtio_net *net);

/* Stops polling and closes the tap; memory is released from a libuv close callback, so let the
 * loop run afterwards. Detach from the transport first. NULL is fine. */
void virtio_net_destroy(struct virtio_net *net);

void virtio_net_get_stats(const struct virtio_net *net, struct virtio_net_stats *out);

/* Whether the tap is being polled for incoming frames (false while the guest has no rx buffer). */
bool virtio_net_rx_polling(const struct virtio_net *net);

#endif
