/* virtio.h: the contract between a virtio device model and its transport (virtio-pci today). */
#ifndef COCOON_VIRTIO_H
#define COCOON_VIRTIO_H

#include <stdbool.h>
#include <stdint.h>

#include "devices/virtq.h"
#include "vmm/base/log.h"
#include "vmm/base/memory.h"

/* A device model (vsock, blk, net) fills a struct virtio_device and hands it to a transport;
 * it never learns which transport that is. Threads:
 *   - config_read/config_write run on a vCPU thread, under the transport's lock;
 *   - activate, reset and queue_notify run on the libuv loop thread, never concurrently;
 *   - the device's own back-end callbacks run on the loop thread too, so vq[] needs no lock.
 * Transport services: virtio_signal_used belongs on the loop thread (it reads vq[q], which only
 * the loop thread writes; every caller is a queue or back-end callback there);
 * virtio_signal_config may be called from any thread (it only takes the transport's lock);
 * virtio_device_error belongs on the loop thread (it writes vdev->broken, which the loop thread
 * reads). */

#define VIRTIO_MAX_QUEUES 16

/* Device status bits (virtio 1.2, 2.1). */
#define VIRTIO_STATUS_ACKNOWLEDGE        1
#define VIRTIO_STATUS_DRIVER             2
#define VIRTIO_STATUS_DRIVER_OK          4
#define VIRTIO_STATUS_FEATURES_OK        8
#define VIRTIO_STATUS_DEVICE_NEEDS_RESET 64
#define VIRTIO_STATUS_FAILED             128

/* Transport-level feature bits. The transport always offers VERSION_1 and ACCESS_PLATFORM and
 * never INDIRECT_DESC, EVENT_IDX or RING_PACKED. */
#define VIRTIO_F_INDIRECT_DESC   28
#define VIRTIO_F_EVENT_IDX       29
#define VIRTIO_F_VERSION_1       32
#define VIRTIO_F_ACCESS_PLATFORM 33
#define VIRTIO_F_RING_PACKED     34

/* Device ids (virtio 1.2, 5). */
#define VIRTIO_ID_NET   1
#define VIRTIO_ID_BLOCK 2
#define VIRTIO_ID_VSOCK 19

struct virtio_device;

/* What the device implements. The table is const; per-instance state hangs off the device. */
struct virtio_device_ops {
    /* Device-specific config space at `offset` (already checked: offset + len <= config_size,
     * len 1, 2, 4 or 8). Reads must fill `data`; writes to read-only fields are ignored. */
    void (*config_read)(struct virtio_device *vdev, uint32_t offset, void *data, uint32_t len);
    void (*config_write)(struct virtio_device *vdev, uint32_t offset, const void *data,
                         uint32_t len);
    /* The driver set DRIVER_OK; vdev->driver_features is final and every enabled queue in vq[]
     * passed virtq_init. Return 0, or -1 to have the transport mark DEVICE_NEEDS_RESET. */
    int (*activate)(struct virtio_device *vdev);
    /* The driver reset the device (or the VM is going away): drop in-flight requests and back-end
     * state so that a later activate starts clean. Called only after a successful activate. */
    void (*reset)(struct virtio_device *vdev);
    /* The driver notified queue q (q < num_queues, queue ready, device active). */
    void (*queue_notify)(struct virtio_device *vdev, unsigned q);
};

/* What the transport offers back; implemented by devices/virtio_pci.c (and unit-test fakes). */
struct virtio_transport_ops {
    void (*signal_queue)(void *ctx, unsigned q); /* used-buffer interrupt (MSI-X vector of q) */
    void (*signal_config)(void *ctx);            /* configuration-change interrupt */
    void (*set_needs_reset)(void *ctx);          /* DEVICE_NEEDS_RESET + config interrupt */
};

struct virtio_device {
    /* Filled by the device model before attaching it to a transport. */
    const struct virtio_device_ops *ops;
    const char *name;     /* for log lines, e.g. "vsock" */
    uint32_t device_id;   /* VIRTIO_ID_* */
    uint64_t features;    /* device-specific feature bits offered (bits 0..23 and 41+) */
    uint32_t config_size; /* bytes of device config space */
    unsigned num_queues;  /* 1..VIRTIO_MAX_QUEUES */
    uint16_t queue_max[VIRTIO_MAX_QUEUES]; /* largest size per queue, power of two */
    const struct guest_mem *gm;
    /* Kept by the device model (atomic; the transport reads it on a vCPU thread): requests whose
     * data transfer may still touch guest memory. After the driver wrote 0 to device_status the
     * transport keeps device_status reading non-zero until this is 0 — the driver waits for 0
     * before it reuses its buffers (virtio 1.2, 4.1.4.3.2) — so a reset completes without the
     * loop thread waiting for I/O. */
    unsigned dma_pending;

    /* Filled by the transport. */
    uint64_t driver_features;           /* negotiated set, valid from activate() */
    struct virtq vq[VIRTIO_MAX_QUEUES]; /* loop thread only */
    bool broken;                        /* a guest error was reported; stop processing */
    const struct virtio_transport_ops *transport;
    void *transport_ctx;
    struct log_ratelimit err_rl; /* one line per device for guest errors */
};

/* Transport services for the device. */

/* Pushes nothing: raises the used-buffer interrupt for queue q unless the driver suppressed it.
 * Loop thread only (see above). */
void virtio_signal_used(struct virtio_device *vdev, unsigned q);

/* Raises the configuration-change interrupt. */
void virtio_signal_config(struct virtio_device *vdev);

/* Reports a guest error: logs it (rate-limited, once per device burst), marks the device
 * broken and has the transport set DEVICE_NEEDS_RESET and raise a config interrupt. */
void virtio_device_error(struct virtio_device *vdev, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Whether feature bit `bit` was negotiated. */
static inline bool virtio_has_feature(const struct virtio_device *vdev, unsigned bit)
{
    return bit < 64 && (vdev->driver_features >> bit) & 1;
}

#endif
