/* virtio_blk.h: the virtio-blk device model over a raw image (attach its vdev to a transport). */
#ifndef COCOON_VIRTIO_BLK_H
#define COCOON_VIRTIO_BLK_H

#include <stdbool.h>
#include <stddef.h>
#include <uv.h>

#include "devices/rate_limiter.h"
#include "devices/virtio.h"

#define VIRTIO_BLK_F_SEG_MAX      2
#define VIRTIO_BLK_F_RO           5
#define VIRTIO_BLK_F_BLK_SIZE     6
#define VIRTIO_BLK_F_FLUSH        9
#define VIRTIO_BLK_F_MQ           12
#define VIRTIO_BLK_F_DISCARD      13
#define VIRTIO_BLK_F_WRITE_ZEROES 14

#define VIRTIO_BLK_DEFAULT_QUEUE_SIZE 128
/* Requests above VIRTIO_MAX_QUEUES are capped (Kata sends one per vCPU, up to 254). */
#define VIRTIO_BLK_MAX_REQUESTED_QUEUES 1024
#define VIRTIO_BLK_CONFIG_SIZE          60

struct virtio_blk_params {
    const char *path;
    const char *id; /* serial for GET_ID (first 20 bytes); may be NULL */
    bool readonly;
    bool direct;         /* O_DIRECT (Kata's `direct`, CLI direct=on) */
    unsigned num_queues; /* 0 = 1; more than VIRTIO_MAX_QUEUES are capped (logged) */
    unsigned queue_size; /* 0 = 128; a power of two <= VIRTQ_MAX_SIZE */
    /* Token buckets over all queues (bytes of data, requests); NULL or all zero: unlimited. A
     * queue out of tokens stops popping and resumes on a timer. */
    const struct rate_limiter_config *rate_limiter;
};

struct virtio_blk;

/* Opens the image and builds the device (not yet attached). Returns 0, or -1 with err. */
int virtio_blk_create(const struct virtio_blk_params *p, const struct guest_mem *gm,
                      uv_loop_t *loop, struct virtio_blk **out, char *err, size_t errlen);

/* The generic virtio device to hand to the transport. */
struct virtio_device *virtio_blk_vdev(struct virtio_blk *blk);

/* Returns at once: requests still on the disk's ring are cancelled or left to finish, their results
 * dropped, and the device is freed on the loop once the last one completed (its ring's poll handle
 * closes). Detach from the transport first. NULL is fine. */
void virtio_blk_destroy(struct virtio_blk *blk);

/* The disk's back end (for tests and benchmarks: its seams and counters). */
struct blk_backend *virtio_blk_backend(struct virtio_blk *blk);

/* Requests parsed and not yet completed (for tests). */
unsigned virtio_blk_inflight(const struct virtio_blk *blk);

#endif
