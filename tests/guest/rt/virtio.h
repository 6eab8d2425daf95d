/* virtio.h: a minimal modern virtio-pci driver for test guests (enumerate, negotiate, queues). */
#ifndef COCOON_GUEST_VIRTIO_H
#define COCOON_GUEST_VIRTIO_H

#include <stdint.h>

/*
 * Generic over device types: find a function by virtio device id through 0xCF8/0xCFC, walk its
 * vendor capabilities, negotiate features, set up split queues in guest RAM and drive them by
 * polling the used ring (no interrupts needed; MSI-X vectors stay unassigned).
 * Ring 3: on this project's KVM host, port I/O from ring 3 faults (#GP) although the runtime asks
 * for IOPL 3, so vdev_find (PCI config ports) and console output must run in ring 0. Everything
 * else here is MMIO or memory and works from ring 3 (rt_run_user), where bulk traffic should run.
 */

#define VIRTIO_STATUS_ACKNOWLEDGE 1
#define VIRTIO_STATUS_DRIVER      2
#define VIRTIO_STATUS_DRIVER_OK   4
#define VIRTIO_STATUS_FEATURES_OK 8
#define VIRTIO_STATUS_NEEDS_RESET 64
#define VIRTIO_STATUS_FAILED      128

#define VIRTIO_F_VERSION_1       32
#define VIRTIO_F_ACCESS_PLATFORM 33

#define VRING_DESC_F_NEXT     1
#define VRING_DESC_F_WRITE    2
#define VRING_DESC_F_INDIRECT 4

/* Common-configuration register offsets (virtio 1.2, 4.1.4.3). */
#define VCOMMON_DFSELECT  0x00
#define VCOMMON_DF        0x04
#define VCOMMON_GFSELECT  0x08
#define VCOMMON_GF        0x0C
#define VCOMMON_MSIX      0x10
#define VCOMMON_NUMQ      0x12
#define VCOMMON_STATUS    0x14
#define VCOMMON_CFGGEN    0x15
#define VCOMMON_Q_SELECT  0x16
#define VCOMMON_Q_SIZE    0x18
#define VCOMMON_Q_MSIX    0x1A
#define VCOMMON_Q_ENABLE  0x1C
#define VCOMMON_Q_NOFF    0x1E
#define VCOMMON_Q_DESCLO  0x20
#define VCOMMON_Q_AVAILLO 0x28
#define VCOMMON_Q_USEDLO  0x30

struct vring_desc {
    uint64_t addr;
    uint32_t len;
    uint16_t flags;
    uint16_t next;
};

struct vring_used_elem {
    uint32_t id;
    uint32_t len;
};

/* One virtio-pci function. */
struct vdev {
    unsigned slot;
    uint16_t device_id;
    uint64_t bar[6];
    uint64_t common, isr, device, notify; /* absolute MMIO addresses */
    uint32_t notify_mult;
    uint16_t num_queues;
    uint64_t features; /* negotiated */
};

/* One split virtqueue, owned by the driver. */
struct vq {
    struct vdev *dev;
    uint16_t index, size;
    volatile struct vring_desc *desc;
    volatile uint16_t *avail; /* flags, idx, ring[size], used_event */
    volatile uint8_t *used;   /* flags, idx, ring[size] {id, len}, avail_event */
    uint64_t notify_addr;
    uint16_t avail_idx; /* next avail slot */
    uint16_t last_used; /* next used slot to consume */
};

/* Bump allocator over free guest RAM (from rt_free_start); align must be a power of two. The
 * memory is not cleared (guest RAM is zero at boot, and ring-0 clearing is slow here). */
void *vt_alloc(uint64_t size, uint64_t align);

/* Finds the n-th (0-based) function with virtio device id `id` on bus 0, enables memory decoding
 * and bus mastering, and reads its capabilities. Returns 0, or -1 if absent. */
int vdev_find(uint16_t id, unsigned n, struct vdev *d);

/* Reset, ACKNOWLEDGE, DRIVER, feature negotiation (wanted & offered, VERSION_1 required),
 * FEATURES_OK and its read-back. Returns 0 or -1. */
int vdev_negotiate(struct vdev *d, uint64_t wanted);

/* Sets up queue idx with `size` entries (0 = the device maximum) in fresh RAM. Returns 0 or -1. */
int vq_setup(struct vdev *d, struct vq *q, uint16_t idx, uint16_t size);

void vdev_driver_ok(struct vdev *d);
void vdev_reset(struct vdev *d); /* writes 0 and waits until status reads back 0 */
uint8_t vdev_status(struct vdev *d);
/* Spins (up to `spins` status reads) until the status has any of `bits`; returns the status. */
uint8_t vdev_wait_status(struct vdev *d, uint8_t bits, uint64_t spins);

/* Device-specific configuration access. */
uint32_t vdev_cfg_read32(struct vdev *d, unsigned off);
uint64_t vdev_cfg_read64(struct vdev *d, unsigned off);

/* Common-configuration access for tests that poke registers directly. */
void vdev_common_write16(struct vdev *d, unsigned off, uint16_t v);
uint16_t vdev_common_read16(struct vdev *d, unsigned off);

/* Writes descriptor i (any values, hostile ones included). */
void vq_set_desc(struct vq *q, uint16_t i, uint64_t addr, uint32_t len, uint16_t flags,
                 uint16_t next);
/* Publishes `head` in the avail ring (with a barrier before the index update). */
void vq_publish(struct vq *q, uint16_t head);
/* Overwrites the avail index. */
void vq_set_avail_idx(struct vq *q, uint16_t idx);
/* Tells the device about new buffers. */
void vq_kick(struct vq *q);
/* Consumes one used element if there is one: returns 1 with id/len, else 0. */
int vq_get_used(struct vq *q, uint32_t *id, uint32_t *len);

#endif
