/* blk_req.h: virtio-blk request parsing and sector arithmetic (pure; no I/O, no queue state). */
#ifndef COCOON_BLK_REQ_H
#define COCOON_BLK_REQ_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "vmm/base/memory.h"

/* Request types and status values (virtio 1.2, 5.2.6). */
#define VIRTIO_BLK_T_IN           0
#define VIRTIO_BLK_T_OUT          1
#define VIRTIO_BLK_T_FLUSH        4
#define VIRTIO_BLK_T_GET_ID       8
#define VIRTIO_BLK_T_DISCARD      11
#define VIRTIO_BLK_T_WRITE_ZEROES 13

#define VIRTIO_BLK_S_OK     0
#define VIRTIO_BLK_S_IOERR  1
#define VIRTIO_BLK_S_UNSUPP 2

#define VIRTIO_BLK_WZ_FLAG_UNMAP 1u

#define BLK_SECTOR_SHIFT   9
#define BLK_SECTOR_SIZE    512u
#define BLK_OUTHDR_SIZE    16u
#define BLK_ID_BYTES       20u
#define BLK_MAX_DATA_SEGS  256u      /* advertised seg_max never exceeds this */
#define BLK_MAX_RANGES     16u       /* max_discard_seg / max_write_zeroes_seg */
#define BLK_MAX_RANGE_SECT 0x400000u /* 2 GiB per discard / write-zeroes range */
#define BLK_MAX_CHAIN_SEGS (BLK_MAX_DATA_SEGS + 2u)

/* One descriptor of a request chain as the virtqueue walker validated it (guest-physical). */
struct blk_seg {
    uint64_t gpa;
    uint32_t len;
    bool device_writes; /* VIRTQ_DESC_F_WRITE */
};

/* What the disk offers; parsing checks every request against it. */
struct blk_disk_info {
    uint64_t capacity_sectors;
    bool readonly;
    bool discard;      /* VIRTIO_BLK_F_DISCARD negotiated */
    bool write_zeroes; /* VIRTIO_BLK_F_WRITE_ZEROES negotiated */
};

/* One discard / write-zeroes range, copied out of guest memory and checked. */
struct blk_range {
    uint64_t offset; /* bytes */
    uint64_t len;    /* bytes */
    bool unmap;
};

enum blk_parse_result {
    BLK_PARSE_SUBMIT = 0, /* valid: hand to the back end, then complete with its status */
    BLK_PARSE_COMPLETE,   /* finished already (error or GET_ID): write req->status now */
    BLK_PARSE_NO_STATUS,  /* no usable status byte: return the head with used length 0 */
};

/* A parsed request. Data buffers are host views of shared guest memory (gm_span-checked). */
struct blk_request {
    uint32_t type;
    uint64_t sector;
    uint64_t offset;   /* sector * 512, checked */
    uint64_t data_len; /* bytes of data (IN/OUT), < 2^32 */
    struct iovec iov[BLK_MAX_DATA_SEGS];
    unsigned niov;
    /* TEE guests only: the data spans stay pinned (vmm/base/memory.h gm_pin) until blk_req_unpin,
     * so a conversion to private while the I/O is in flight fails the request. Allocated on first
     * use, kept across reuse of this record; free with blk_req_free_pins. */
    struct gm_pin *pins;
    unsigned npin;
    struct blk_range range[BLK_MAX_RANGES];
    unsigned nrange;
    uint64_t status_gpa;
    uint8_t status;    /* result when BLK_PARSE_COMPLETE; the back end sets it otherwise */
    uint32_t used_len; /* bytes the device wrote, for the used ring (status byte included) */
};

/* Releases the request's pins (no-op when none): true unless the guest converted part of a data
 * span to private while it was pinned; then the request must complete with VIRTIO_BLK_S_IOERR. */
bool blk_req_unpin(const struct guest_mem *gm, struct blk_request *req);

/* Frees the pin storage of a request record that is no longer used (pins already released). */
void blk_req_free_pins(struct blk_request *req);

/* True iff the byte range [sector*512, sector*512 + len) is whole sectors and lies inside a disk of
 * capacity_sectors; every multiplication and addition is overflow-checked (the 2^64 edge). The
 * byte offset is stored in *offset (when offset is non-NULL). */
bool blk_sector_range_ok(uint64_t sector, uint64_t len, uint64_t capacity_sectors,
                         uint64_t *offset);

/* Parses one descriptor chain (device-readable segments first, then device-writable ones): copies
 * the 16-byte header once, checks type, features, sector range and read-only state, and maps the
 * data. GET_ID is answered here (id: up to 20 bytes, NUL-padded). Never trusts guest memory twice.
 */
enum blk_parse_result blk_req_parse(const struct guest_mem *gm, const struct blk_seg *segs,
                                    unsigned nsegs, const struct blk_disk_info *disk,
                                    const char *id, struct blk_request *req);

/* Writes the status byte and returns the used length to report (0 if the status is unwritable). */
uint32_t blk_req_finish(const struct guest_mem *gm, struct blk_request *req);

#endif
