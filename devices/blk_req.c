/* blk_req.c: parses a virtio-blk descriptor chain into a checked request (header copied once). */
#include "devices/blk_req.h"

#include <endian.h>
#include <stdlib.h>
#include <string.h>

bool blk_sector_range_ok(uint64_t sector, uint64_t len, uint64_t capacity_sectors, uint64_t *offset)
{
    if (len % BLK_SECTOR_SIZE)
        return false;
    if (sector > (UINT64_MAX >> BLK_SECTOR_SHIFT))
        return false;
    if (sector > capacity_sectors)
        return false;
    uint64_t nsect = len >> BLK_SECTOR_SHIFT;
    if (nsect > capacity_sectors - sector)
        return false;
    if (nsect > (UINT64_MAX >> BLK_SECTOR_SHIFT) - sector)
        return false; /* the byte end would pass 2^64 (only with an absurd capacity) */
    if (offset)
        *offset = sector << BLK_SECTOR_SHIFT;
    return true;
}

/* Walks the byte range [skip, skip+len) of the concatenation of segs[0..count) and calls out for
 * every piece. Returns 0, or -1 when the range runs past the segments or a piece is refused. */
typedef int (*piece_fn)(void *ctx, uint64_t gpa, uint64_t len);

static int walk_range(const struct blk_seg *segs, unsigned count, uint64_t skip, uint64_t len,
                      piece_fn fn, void *ctx)
{
    for (unsigned i = 0; i < count && len > 0; i++) {
        uint64_t seg_len = segs[i].len;
        if (skip >= seg_len) {
            skip -= seg_len;
            continue;
        }
        uint64_t take = seg_len - skip;
        if (take > len)
            take = len;
        if (fn(ctx, segs[i].gpa + skip, take) < 0)
            return -1;
        skip = 0;
        len -= take;
    }
    return len == 0 ? 0 : -1;
}

struct copy_ctx {
    const struct guest_mem *gm;
    uint8_t *dst;
};

static int copy_piece(void *opaque, uint64_t gpa, uint64_t len)
{
    struct copy_ctx *c = opaque;
    if (gm_read(c->gm, gpa, c->dst, len) < 0)
        return -1;
    c->dst += len;
    return 0;
}

struct fill_ctx {
    const struct guest_mem *gm;
    const uint8_t *src;
};

static int fill_piece(void *opaque, uint64_t gpa, uint64_t len)
{
    struct fill_ctx *c = opaque;
    if (gm_write(c->gm, gpa, c->src, len) < 0)
        return -1;
    c->src += len;
    return 0;
}

struct map_ctx {
    const struct guest_mem *gm;
    struct blk_request *req;
};

/* A host view of a data span: pinned for a TEE guest (the I/O outlives this check), checked
 * once for a plain one (every page stays shared). */
static void *map_span(const struct guest_mem *gm, struct blk_request *req, uint64_t gpa,
                      uint64_t len)
{
    if (!gm->pins)
        return gm_span(gm, gpa, len);
    if (!req->pins && !(req->pins = calloc(BLK_MAX_DATA_SEGS, sizeof(*req->pins))))
        return NULL;
    void *host = gm_pin(gm, &req->pins[req->npin], gpa, len);
    if (host)
        req->npin++;
    return host;
}

bool blk_req_unpin(const struct guest_mem *gm, struct blk_request *req)
{
    bool intact = true;
    for (unsigned i = 0; i < req->npin; i++)
        intact &= gm_unpin(gm, &req->pins[i]);
    req->npin = 0;
    return intact;
}

void blk_req_free_pins(struct blk_request *req)
{
    free(req->pins);
    req->pins = NULL;
    req->npin = 0;
}

static int map_piece(void *opaque, uint64_t gpa, uint64_t len)
{
    struct map_ctx *c = opaque;
    if (c->req->niov >= BLK_MAX_DATA_SEGS)
        return -1;
    void *host = map_span(c->gm, c->req, gpa, len);
    if (!host)
        return -1;
    c->req->iov[c->req->niov].iov_base = host;
    c->req->iov[c->req->niov].iov_len = len;
    c->req->niov++;
    return 0;
}

/* The chain split into its device-readable prefix and device-writable suffix. */
struct chain_shape {
    const struct blk_seg *rd;
    unsigned nrd;
    uint64_t rd_len;
    const struct blk_seg *wr;
    unsigned nwr;
    uint64_t wr_len; /* includes the status byte */
};

static bool chain_split(const struct blk_seg *segs, unsigned nsegs, struct chain_shape *s)
{
    unsigned i = 0;
    memset(s, 0, sizeof(*s));
    s->rd = segs;
    for (; i < nsegs && !segs[i].device_writes; i++)
        s->rd_len += segs[i].len;
    s->nrd = i;
    s->wr = segs + i;
    for (; i < nsegs; i++) {
        if (!segs[i].device_writes)
            return false; /* a readable descriptor after a writable one */
        s->wr_len += segs[i].len;
    }
    s->nwr = nsegs - s->nrd;
    return true;
}

static enum blk_parse_result fail(struct blk_request *req, uint8_t status)
{
    req->status = status;
    req->used_len = 1;
    return BLK_PARSE_COMPLETE;
}

static enum blk_parse_result parse_rw(const struct guest_mem *gm, const struct chain_shape *s,
                                      const struct blk_disk_info *disk, struct blk_request *req)
{
    bool is_read = req->type == VIRTIO_BLK_T_IN;
    if (is_read ? s->rd_len != BLK_OUTHDR_SIZE : s->wr_len != 1)
        return fail(req, VIRTIO_BLK_S_IOERR);
    if (!is_read && disk->readonly)
        return fail(req, VIRTIO_BLK_S_IOERR);
    uint64_t len = is_read ? s->wr_len - 1 : s->rd_len - BLK_OUTHDR_SIZE;
    if (len >= UINT32_MAX) /* used length = data + status must fit 32 bits */
        return fail(req, VIRTIO_BLK_S_IOERR);
    if (!blk_sector_range_ok(req->sector, len, disk->capacity_sectors, &req->offset))
        return fail(req, VIRTIO_BLK_S_IOERR);
    struct map_ctx mc = {gm, req};
    int rc = is_read ? walk_range(s->wr, s->nwr, 0, len, map_piece, &mc)
                     : walk_range(s->rd, s->nrd, BLK_OUTHDR_SIZE, len, map_piece, &mc);
    if (rc < 0) {
        req->niov = 0;
        blk_req_unpin(gm, req); /* what was pinned before the refusal */
        return fail(req, VIRTIO_BLK_S_IOERR);
    }
    req->data_len = len;
    req->used_len = 1;
    return BLK_PARSE_SUBMIT;
}

static enum blk_parse_result parse_get_id(const struct guest_mem *gm, const struct chain_shape *s,
                                          const char *id, struct blk_request *req)
{
    if (s->rd_len != BLK_OUTHDR_SIZE)
        return fail(req, VIRTIO_BLK_S_IOERR);
    uint8_t serial[BLK_ID_BYTES] = {0};
    if (id) /* NUL-padded; an id of 20 bytes or more is not terminated (virtio 5.2.6) */
        memcpy(serial, id, strnlen(id, sizeof(serial)));
    uint64_t n = s->wr_len - 1;
    if (n > BLK_ID_BYTES)
        n = BLK_ID_BYTES;
    struct fill_ctx fc = {gm, serial};
    if (n && walk_range(s->wr, s->nwr, 0, n, fill_piece, &fc) < 0)
        return fail(req, VIRTIO_BLK_S_IOERR);
    req->status = VIRTIO_BLK_S_OK;
    req->used_len = (uint32_t)n + 1;
    return BLK_PARSE_COMPLETE;
}

static enum blk_parse_result parse_ranges(const struct guest_mem *gm, const struct chain_shape *s,
                                          const struct blk_disk_info *disk, struct blk_request *req)
{
    bool discard = req->type == VIRTIO_BLK_T_DISCARD;
    if (!(discard ? disk->discard : disk->write_zeroes))
        return fail(req, VIRTIO_BLK_S_UNSUPP);
    if (disk->readonly || s->wr_len != 1)
        return fail(req, VIRTIO_BLK_S_IOERR);
    uint64_t len = s->rd_len - BLK_OUTHDR_SIZE;
    if (len == 0 || len % 16 || len / 16 > BLK_MAX_RANGES)
        return fail(req, VIRTIO_BLK_S_IOERR);
    uint8_t raw[BLK_MAX_RANGES * 16];
    struct copy_ctx cc = {gm, raw};
    if (walk_range(s->rd, s->nrd, BLK_OUTHDR_SIZE, len, copy_piece, &cc) < 0)
        return fail(req, VIRTIO_BLK_S_IOERR);
    req->nrange = (unsigned)(len / 16);
    for (unsigned i = 0; i < req->nrange; i++) {
        uint64_t sector;
        uint32_t num, flags;
        memcpy(&sector, raw + i * 16, 8);
        memcpy(&num, raw + i * 16 + 8, 4);
        memcpy(&flags, raw + i * 16 + 12, 4);
        sector = le64toh(sector);
        num = le32toh(num);
        flags = le32toh(flags);
        if ((flags & ~VIRTIO_BLK_WZ_FLAG_UNMAP) || (discard && flags))
            return fail(req, VIRTIO_BLK_S_UNSUPP);
        if (num > BLK_MAX_RANGE_SECT)
            return fail(req, VIRTIO_BLK_S_IOERR);
        struct blk_range *r = &req->range[i];
        r->len = (uint64_t)num << BLK_SECTOR_SHIFT;
        if (!blk_sector_range_ok(sector, r->len, disk->capacity_sectors, &r->offset))
            return fail(req, VIRTIO_BLK_S_IOERR);
        r->unmap = discard || (flags & VIRTIO_BLK_WZ_FLAG_UNMAP);
    }
    req->used_len = 1;
    return BLK_PARSE_SUBMIT;
}

enum blk_parse_result blk_req_parse(const struct guest_mem *gm, const struct blk_seg *segs,
                                    unsigned nsegs, const struct blk_disk_info *disk,
                                    const char *id, struct blk_request *req)
{
    req->niov = 0;
    req->npin = 0; /* released when the previous use completed; the storage is kept */
    req->nrange = 0;
    req->data_len = 0;
    req->offset = 0;
    req->used_len = 0;
    req->status = VIRTIO_BLK_S_IOERR;
    req->type = UINT32_MAX;
    req->sector = 0;

    /* The status is the last byte of the last (device-writable) descriptor. */
    if (nsegs == 0 || !segs[nsegs - 1].device_writes || segs[nsegs - 1].len == 0)
        return BLK_PARSE_NO_STATUS;
    const struct blk_seg *last = &segs[nsegs - 1];
    req->status_gpa = last->gpa + last->len - 1;
    if (req->status_gpa < last->gpa || !gm_span(gm, req->status_gpa, 1))
        return BLK_PARSE_NO_STATUS;

    struct chain_shape s;
    if (nsegs > BLK_MAX_CHAIN_SEGS || !chain_split(segs, nsegs, &s) || s.rd_len < BLK_OUTHDR_SIZE)
        return fail(req, VIRTIO_BLK_S_IOERR);

    uint8_t hdr[BLK_OUTHDR_SIZE];
    struct copy_ctx cc = {gm, hdr};
    if (walk_range(s.rd, s.nrd, 0, sizeof(hdr), copy_piece, &cc) < 0)
        return fail(req, VIRTIO_BLK_S_IOERR);
    uint32_t type;
    uint64_t sector;
    memcpy(&type, hdr, 4);
    memcpy(&sector, hdr + 8, 8);
    req->type = le32toh(type);
    req->sector = le64toh(sector);

    switch (req->type) {
    case VIRTIO_BLK_T_IN:
    case VIRTIO_BLK_T_OUT:
        return parse_rw(gm, &s, disk, req);
    case VIRTIO_BLK_T_FLUSH:
        req->used_len = 1;
        return BLK_PARSE_SUBMIT;
    case VIRTIO_BLK_T_GET_ID:
        return parse_get_id(gm, &s, id, req);
    case VIRTIO_BLK_T_DISCARD:
    case VIRTIO_BLK_T_WRITE_ZEROES:
        return parse_ranges(gm, &s, disk, req);
    default:
        return fail(req, VIRTIO_BLK_S_UNSUPP);
    }
}

uint32_t blk_req_finish(const struct guest_mem *gm, struct blk_request *req)
{
    if (gm_write(gm, req->status_gpa, &req->status, 1) < 0)
        return 0;
    if (req->type == VIRTIO_BLK_T_IN)
        return req->status == VIRTIO_BLK_S_OK ? (uint32_t)req->data_len + 1 : 1;
    return req->used_len ? req->used_len : 1;
}
