/* fuzz_util.h: shared helpers for the libFuzzer targets: a byte reader and a fuzz-built vring. */
#ifndef COCOON_FUZZ_UTIL_H
#define COCOON_FUZZ_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "devices/virtio.h"
#include "devices/virtq.h"
#include "vmm/base/memory.h"

/* Reads little-endian integers from the fuzz input; past the end everything reads as zero. */
struct fz {
    const uint8_t *p;
    size_t n;
};

static inline uint8_t fz_u8(struct fz *f)
{
    if (!f->n)
        return 0;
    f->n--;
    return *f->p++;
}

static inline uint16_t fz_u16(struct fz *f)
{
    uint16_t lo = fz_u8(f);
    return (uint16_t)(lo | (uint16_t)fz_u8(f) << 8);
}

static inline uint32_t fz_u32(struct fz *f)
{
    uint32_t lo = fz_u16(f);
    return lo | (uint32_t)fz_u16(f) << 16;
}

static inline uint64_t fz_u64(struct fz *f)
{
    uint64_t lo = fz_u32(f);
    return lo | (uint64_t)fz_u32(f) << 32;
}

/* Guest RAM every ring target uses: small enough to reset per input. */
#define FZ_RAM_SIZE (64 * 1024)

/* Lays out one split ring densely from GPA `base` (descriptors, avail, used) for a queue of
 * 2^(mode % 11) entries (mode: next header byte), or — mode bit 7 — at fuzz-chosen GPAs and size,
 * so virtq_init's own checks are fuzzed too. *end (if non-NULL) receives the 16-aligned GPA after
 * the dense ring. Returns virtq_init's result. */
static inline int fz_ring_init(struct virtq *vq, const struct guest_mem *gm, struct fz *f,
                               uint64_t base, uint16_t max_size, uint64_t *end)
{
    uint8_t mode = fz_u8(f);
    uint16_t size = (uint16_t)(1u << (mode % 11));
    uint64_t desc = base, avail, used;
    if (mode & 0x80) {
        desc = fz_u32(f);
        avail = fz_u32(f);
        used = fz_u32(f);
        size = fz_u16(f);
    } else {
        avail = desc + 16ULL * size;
        used = (avail + 6 + 2ULL * size + 3) & ~3ULL;
    }
    if (end)
        *end = (used + 6 + 8ULL * size + 15) & ~15ULL;
    memset(vq, 0, sizeof(*vq));
    return virtq_init(vq, gm, size, max_size, desc, avail, used);
}

/* Ring targets split their input: the first FZ_HDR_SIZE bytes drive the harness (ring layout,
 * operations), the rest is copied into guest RAM from GPA 0 (where the dense ring lives). */
#define FZ_HDR_SIZE 32

/* A transport that only counts: device-level targets attach their device to it. */
static inline void fz_signal_queue(void *ctx, unsigned q) {}
static inline void fz_signal_config(void *ctx) {}
static inline void fz_needs_reset(void *ctx) {}
static const struct virtio_transport_ops fz_transport = {fz_signal_queue, fz_signal_config,
                                                         fz_needs_reset};

static inline struct fz fz_split(const uint8_t *data, size_t size, uint8_t *ram, size_t ram_size)
{
    struct fz hdr = {data, size < FZ_HDR_SIZE ? size : FZ_HDR_SIZE};
    memset(ram, 0, ram_size);
    if (size > FZ_HDR_SIZE) {
        size_t n = size - FZ_HDR_SIZE;
        memcpy(ram, data + FZ_HDR_SIZE, n < ram_size ? n : ram_size);
    }
    return hdr;
}

#endif
