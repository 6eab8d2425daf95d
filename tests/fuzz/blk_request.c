/* blk_request.c: libFuzzer target: virtio-blk requests popped from a fuzz-built ring and parsed. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "devices/blk_req.h"
#include "devices/virtq.h"
#include "tests/fuzz/fuzz_util.h"

static uint8_t ram[FZ_RAM_SIZE];
static struct virtq_chain chain;
static struct blk_request req;
static struct blk_seg segs[VIRTQ_MAX_SIZE]; /* as virtio_blk.c: any chain reaches the parser */

/* Plays the back end: touches every mapped byte the way preadv/pwritev would. */
static void fake_io(struct blk_request *r)
{
    for (unsigned i = 0; i < r->niov; i++) {
        if (r->type == VIRTIO_BLK_T_IN)
            memset(r->iov[i].iov_base, 0xA5, r->iov[i].iov_len);
        else
            (void)memchr(r->iov[i].iov_base, 0x5A, r->iov[i].iov_len);
    }
    r->status = VIRTIO_BLK_S_OK;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fz hdr = fz_split(data, size, ram, sizeof(ram));
    struct guest_mem gm;
    gm_init_host(&gm, ram, sizeof(ram));
    uint8_t disk_bits = fz_u8(&hdr);
    struct blk_disk_info disk = {
        .capacity_sectors = (disk_bits & 8) ? fz_u64(&hdr) : 1 + fz_u8(&hdr),
        .readonly = disk_bits & 1,
        .discard = disk_bits & 2,
        .write_zeroes = disk_bits & 4,
    };
    struct virtq vq;
    if (fz_ring_init(&vq, &gm, &hdr, 0, VIRTQ_MAX_SIZE, NULL) < 0)
        return 0;
    for (int i = 0; i < 64 && virtq_pop(&vq, &chain) == 1; i++) {
        unsigned n = chain.nr_read + chain.nr_write;
        for (unsigned s = 0; s < n; s++)
            segs[s] = (struct blk_seg){chain.seg[s].gpa, chain.seg[s].len, s >= chain.nr_read};
        const char *id = (disk_bits & 16) ? "fuzz-disk-with-a-twenty-byte-id" : NULL;
        enum blk_parse_result r = blk_req_parse(&gm, segs, n, &disk, id, &req);
        uint32_t used = 0;
        if (r == BLK_PARSE_SUBMIT)
            fake_io(&req);
        if (r != BLK_PARSE_NO_STATUS)
            used = blk_req_finish(&gm, &req);
        (void)virtq_push(&vq, chain.head, used);
    }
    return 0;
}
