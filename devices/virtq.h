/* virtq.h: the hardened split-virtqueue walker: copies and validates descriptor chains once. */
#ifndef COCOON_VIRTQ_H
#define COCOON_VIRTQ_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "vmm/base/memory.h"

/* Largest queue any cocoon device offers; also the longest chain a virtq_chain can hold. */
#define VIRTQ_MAX_SIZE 1024

/* Descriptor flags (virtio 1.2, 2.7.5). INDIRECT is never offered: a descriptor carrying it is a
 * guest error. */
#define VIRTQ_DESC_F_NEXT     1
#define VIRTQ_DESC_F_WRITE    2
#define VIRTQ_DESC_F_INDIRECT 4

#define VIRTQ_AVAIL_F_NO_INTERRUPT 1

/* One split virtqueue. The transport fills the configuration (size, ring GPAs) and calls
 * virtq_init before the device's activate(); afterwards only the loop thread touches it. */
struct virtq {
    const struct guest_mem *gm;
    uint16_t size; /* power of two, 1..VIRTQ_MAX_SIZE */
    uint64_t desc_gpa, avail_gpa, used_gpa;
    bool ready;          /* virtq_init succeeded and the queue is enabled */
    bool broken;         /* a guest error was seen: the walker refuses to go on until re-init */
    uint16_t last_avail; /* next avail ring slot the device will consume */
    uint16_t used_idx;   /* next used ring slot the device will fill */
    const char *error;   /* static description of the last guest error, or NULL */
};

/* One buffer of a chain, already checked to lie in shared guest RAM (at pop time). */
struct virtq_seg {
    uint64_t gpa;
    uint32_t len;
};

/* A host-side copy of one validated descriptor chain: the readable (driver → device) segments
 * come first, then the writable ones (the walker enforces this order). */
struct virtq_chain {
    uint16_t head;
    uint16_t nr_read, nr_write;
    uint32_t read_len, write_len; /* byte totals, each checked to fit in u32 */
    struct virtq_seg seg[VIRTQ_MAX_SIZE];
};

/* Validates the configuration (size a non-zero power of two <= max_size, rings aligned 16/2/4
 * and wholly inside shared guest RAM) and resets the walker. Returns 0, or -1 with vq->error set
 * and vq->ready false. */
int virtq_init(struct virtq *vq, const struct guest_mem *gm, uint16_t size, uint16_t max_size,
               uint64_t desc_gpa, uint64_t avail_gpa, uint64_t used_gpa);

/* Pops the next available chain into `chain` (descriptors and indices copied once).
 * Returns 1 when a chain was popped, 0 when the queue is empty (or not ready), -1 on a guest
 * error: loop or chain longer than the queue, index >= size, INDIRECT flag, zero length, length
 * sum overflow, address outside shared RAM, writable before readable, avail index jump > size.
 * After -1 the queue is broken (vq->error says why) and every later call returns -1. */
int virtq_pop(struct virtq *vq, struct virtq_chain *chain);

/* Returns the chain (head) to the driver with `len` bytes written, and publishes the used index.
 * Returns 0, or -1 if the used ring is no longer accessible (queue marked broken). */
int virtq_push(struct virtq *vq, uint16_t head, uint32_t len);

/* Whether the driver wants an interrupt now (VIRTQ_AVAIL_F_NO_INTERRUPT clear). */
bool virtq_should_signal(const struct virtq *vq);

/* Whether the avail ring holds chains the device has not popped yet (0 on error). */
bool virtq_has_avail(const struct virtq *vq);

/* Copies `len` bytes starting `offset` bytes into the chain's readable part into dst.
 * Returns the number of bytes copied (less than len if the readable part is shorter), or -1 if a
 * segment is no longer accessible. */
int64_t virtq_chain_read(const struct virtq *vq, const struct virtq_chain *chain, uint32_t offset,
                         void *dst, uint32_t len);

/* Copies `len` bytes from src into the chain's writable part starting at `offset`. Returns the
 * number of bytes copied (less than len if the writable part is shorter), or -1 as above. */
int64_t virtq_chain_write(const struct virtq *vq, const struct virtq_chain *chain, uint32_t offset,
                          const void *src, uint32_t len);

/* Host views of `len` bytes of the chain's readable (writable false) or writable part, starting
 * `offset` bytes into that part, for writev/sendmsg/recvmsg straight from or into guest buffers.
 * Returns the number of iovecs filled (0 when len is 0), or -1 when the range runs past that part,
 * needs more than max iovecs, or touches memory gm_span refuses (then copy through a buffer). */
int virtq_chain_iov(const struct virtq *vq, const struct virtq_chain *chain, bool writable,
                    uint32_t offset, uint32_t len, struct iovec *iov, unsigned max);

#endif
