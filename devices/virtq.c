/* virtq.c: split-virtqueue walker that treats every ring byte as hostile and reads it once. */
#include "devices/virtq.h"

#include <string.h>

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

/* Orders this thread's ring accesses against the guest's vCPUs. ThreadSanitizer cannot see guest
 * memory accesses made by KVM, so its warning that it does not model fences is not about a race it
 * could report; it is silenced here and only here. */
#if defined(__SANITIZE_THREAD__)
#define GUEST_FENCE(order)                                                                         \
    do {                                                                                           \
        _Pragma("GCC diagnostic push") _Pragma("GCC diagnostic ignored \"-Wtsan\"")                \
            __atomic_thread_fence(order);                                                          \
        _Pragma("GCC diagnostic pop")                                                              \
    } while (0)
#else
#define GUEST_FENCE(order) __atomic_thread_fence(order)
#endif

static int virtq_fail(struct virtq *vq, const char *why)
{
    vq->broken = true;
    vq->error = why;
    return -1;
}

int virtq_init(struct virtq *vq, const struct guest_mem *gm, uint16_t size, uint16_t max_size,
               uint64_t desc_gpa, uint64_t avail_gpa, uint64_t used_gpa)
{
    memset(vq, 0, sizeof(*vq));
    vq->gm = gm;
    if (size == 0 || (size & (size - 1)) != 0 || size > max_size || size > VIRTQ_MAX_SIZE)
        return virtq_fail(vq, "queue size is zero, not a power of two or above the maximum");
    if (desc_gpa % 16 || avail_gpa % 2 || used_gpa % 4)
        return virtq_fail(vq, "ring address misaligned");
    if (!gm_span(gm, desc_gpa, 16ULL * size) || !gm_span(gm, avail_gpa, 6ULL + 2ULL * size) ||
        !gm_span(gm, used_gpa, 6ULL + 8ULL * size))
        return virtq_fail(vq, "ring outside shared guest RAM");
    vq->size = size;
    vq->desc_gpa = desc_gpa;
    vq->avail_gpa = avail_gpa;
    vq->used_gpa = used_gpa;
    vq->ready = true;
    return 0;
}

static int virtq_read_avail_idx(const struct virtq *vq, uint16_t *idx)
{
    return gm_read(vq->gm, vq->avail_gpa + 2, idx, sizeof(*idx));
}

/* Appends one copied descriptor to the chain after checking it. */
static int virtq_add_desc(struct virtq *vq, struct virtq_chain *chain, const struct vring_desc *d)
{
    if (d->flags & VIRTQ_DESC_F_INDIRECT)
        return virtq_fail(vq, "indirect descriptor (not negotiated)");
    if (d->len == 0)
        return virtq_fail(vq, "zero-length descriptor");
    if (!gm_span(vq->gm, d->addr, d->len))
        return virtq_fail(vq, "descriptor buffer outside shared guest RAM or wraps");
    uint16_t n = chain->nr_read + chain->nr_write;
    if (d->flags & VIRTQ_DESC_F_WRITE) {
        if (chain->write_len > UINT32_MAX - d->len)
            return virtq_fail(vq, "writable length sum overflows u32");
        chain->write_len += d->len;
        chain->nr_write++;
    } else {
        if (chain->nr_write)
            return virtq_fail(vq, "readable descriptor after a writable one");
        if (chain->read_len > UINT32_MAX - d->len)
            return virtq_fail(vq, "readable length sum overflows u32");
        chain->read_len += d->len;
        chain->nr_read++;
    }
    chain->seg[n].gpa = d->addr;
    chain->seg[n].len = d->len;
    return 0;
}

/* Walks the chain starting at head; at most vq->size descriptors, so a loop cannot spin. */
static int virtq_walk(struct virtq *vq, uint16_t head, struct virtq_chain *chain)
{
    chain->head = head;
    chain->nr_read = chain->nr_write = 0;
    chain->read_len = chain->write_len = 0;
    uint16_t idx = head;
    for (unsigned hops = 0;; hops++) {
        if (hops >= vq->size)
            return virtq_fail(vq, "descriptor loop or chain longer than the queue");
        if (idx >= vq->size)
            return virtq_fail(vq, "descriptor index beyond the queue size");
        struct vring_desc d;
        if (gm_read(vq->gm, vq->desc_gpa + 16ULL * idx, &d, sizeof(d)) < 0)
            return virtq_fail(vq, "descriptor table no longer accessible");
        if (virtq_add_desc(vq, chain, &d) < 0)
            return -1;
        if (!(d.flags & VIRTQ_DESC_F_NEXT))
            return 0;
        idx = d.next;
    }
}

int virtq_pop(struct virtq *vq, struct virtq_chain *chain)
{
    if (vq->broken)
        return -1;
    if (!vq->ready)
        return 0;
    uint16_t avail_idx;
    if (virtq_read_avail_idx(vq, &avail_idx) < 0)
        return virtq_fail(vq, "avail ring no longer accessible");
    uint16_t pending = (uint16_t)(avail_idx - vq->last_avail);
    if (pending == 0)
        return 0;
    if (pending > vq->size)
        return virtq_fail(vq, "avail index jumped by more than the queue size");
    /* Ring entries are read only after the index that published them. */
    GUEST_FENCE(__ATOMIC_ACQUIRE);
    uint16_t head;
    uint64_t slot = vq->avail_gpa + 4 + 2ULL * (vq->last_avail % vq->size);
    if (gm_read(vq->gm, slot, &head, sizeof(head)) < 0)
        return virtq_fail(vq, "avail ring no longer accessible");
    if (virtq_walk(vq, head, chain) < 0)
        return -1;
    vq->last_avail++;
    return 1;
}

int virtq_push(struct virtq *vq, uint16_t head, uint32_t len)
{
    if (vq->broken || !vq->ready)
        return -1;
    if (head >= vq->size)
        return virtq_fail(vq, "device pushed an index beyond the queue size");
    struct vring_used_elem e = {.id = head, .len = len};
    uint64_t slot = vq->used_gpa + 4 + 8ULL * (vq->used_idx % vq->size);
    if (gm_write(vq->gm, slot, &e, sizeof(e)) < 0)
        return virtq_fail(vq, "used ring no longer accessible");
    /* The element must be visible before the index that publishes it. */
    GUEST_FENCE(__ATOMIC_RELEASE);
    vq->used_idx++;
    if (gm_write(vq->gm, vq->used_gpa + 2, &vq->used_idx, sizeof(vq->used_idx)) < 0)
        return virtq_fail(vq, "used ring no longer accessible");
    /* Order the index store before reading the driver's interrupt-suppression flags. */
    GUEST_FENCE(__ATOMIC_SEQ_CST);
    return 0;
}

bool virtq_should_signal(const struct virtq *vq)
{
    uint16_t flags;
    if (!vq->ready || gm_read(vq->gm, vq->avail_gpa, &flags, sizeof(flags)) < 0)
        return true;
    return !(flags & VIRTQ_AVAIL_F_NO_INTERRUPT);
}

bool virtq_has_avail(const struct virtq *vq)
{
    uint16_t avail_idx;
    if (!vq->ready || vq->broken || virtq_read_avail_idx(vq, &avail_idx) < 0)
        return false;
    return avail_idx != vq->last_avail;
}

/* Copies between host memory and segments [first, first+count) starting `offset` bytes in. */
static int64_t virtq_copy(const struct virtq *vq, const struct virtq_seg *seg, unsigned count,
                          uint32_t offset, uint8_t *host, uint32_t len, bool to_guest)
{
    uint32_t done = 0;
    for (unsigned i = 0; i < count && done < len; i++) {
        if (offset >= seg[i].len) {
            offset -= seg[i].len;
            continue;
        }
        uint32_t n = seg[i].len - offset;
        if (n > len - done)
            n = len - done;
        uint64_t gpa = seg[i].gpa + offset;
        int rc =
            to_guest ? gm_write(vq->gm, gpa, host + done, n) : gm_read(vq->gm, gpa, host + done, n);
        if (rc < 0)
            return -1;
        done += n;
        offset = 0;
    }
    return done;
}

int64_t virtq_chain_read(const struct virtq *vq, const struct virtq_chain *chain, uint32_t offset,
                         void *dst, uint32_t len)
{
    return virtq_copy(vq, chain->seg, chain->nr_read, offset, dst, len, false);
}

int64_t virtq_chain_write(const struct virtq *vq, const struct virtq_chain *chain, uint32_t offset,
                          const void *src, uint32_t len)
{
    return virtq_copy(vq, chain->seg + chain->nr_read, chain->nr_write, offset, (uint8_t *)src, len,
                      true);
}

int virtq_chain_iov(const struct virtq *vq, const struct virtq_chain *chain, bool writable,
                    uint32_t offset, uint32_t len, struct iovec *iov, unsigned max)
{
    unsigned first = writable ? chain->nr_read : 0;
    unsigned end = writable ? (unsigned)chain->nr_read + chain->nr_write : chain->nr_read;
    unsigned n = 0;
    for (unsigned i = first; i < end && len > 0; i++) {
        const struct virtq_seg *sg = &chain->seg[i];
        if (offset >= sg->len) {
            offset -= sg->len;
            continue;
        }
        uint32_t take = sg->len - offset < len ? sg->len - offset : len;
        void *host = n < max ? gm_span(vq->gm, sg->gpa + offset, take) : NULL;
        if (!host)
            return -1;
        iov[n].iov_base = host;
        iov[n].iov_len = take;
        n++;
        len -= take;
        offset = 0;
    }
    return len == 0 ? (int)n : -1;
}
