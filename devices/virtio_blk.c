/* virtio_blk.c: virtio-blk device: queues -> parsed requests -> the disk's io_uring -> used ring.
 */
#include "devices/virtio_blk.h"

#include <endian.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "devices/blk_backend.h"
#include "vmm/base/log.h"

/* One request in flight on the disk's ring. */
struct blk_inflight {
    struct blk_io io; /* first member */
    struct virtio_blk *blk;
    unsigned q;
    uint16_t head;
    unsigned generation; /* the activation it belongs to; stale ones are dropped on completion */
    struct blk_inflight *live_prev, *live_next; /* on blk->live while submitted */
};

struct virtio_blk {
    struct virtio_device vdev;
    struct blk_backend be; /* the image and its ring */
    uv_loop_t *loop;
    char id[BLK_ID_BYTES + 1];
    uint8_t config[VIRTIO_BLK_CONFIG_SIZE];
    struct blk_disk_info disk; /* negotiated view, set at activate */

    unsigned generation;
    unsigned inflight_q[VIRTIO_MAX_QUEUES]; /* current generation, per queue */
    unsigned inflight_total;                /* every generation; loop thread */
    bool destroyed;                         /* completions are dropped */

    struct blk_inflight *spare; /* recycled request records (linked by io.next), loop thread */
    struct blk_inflight *live;  /* submitted and not yet completed (their pins), loop thread */
    uint32_t to_signal;         /* queues with used entries not yet signalled (bit per queue) */

    bool rl_on;             /* a rate limiter is configured (and rl_timer initialised) */
    struct rate_limiter rl; /* loop thread */
    uv_timer_t rl_timer;    /* resumes the throttled queues */
    uint32_t rl_throttled;  /* queues that stopped for lack of tokens (bit per queue) */

    struct virtq_chain chain; /* scratch for popping */
    struct blk_seg segs[VIRTQ_MAX_SIZE];
};

static struct virtio_blk *to_blk(struct virtio_device *vdev)
{
    return (struct virtio_blk *)vdev; /* vdev is the first member */
}

static void put_le32(uint8_t *p, uint32_t v)
{
    v = htole32(v);
    memcpy(p, &v, 4);
}

static void build_config(struct virtio_blk *blk, unsigned nq, unsigned qsize)
{
    uint8_t *c = blk->config;
    uint64_t cap = htole64(blk->be.img.capacity_sectors);
    memcpy(c + 0, &cap, 8);
    unsigned seg_max = qsize - 2 < BLK_MAX_DATA_SEGS ? qsize - 2 : BLK_MAX_DATA_SEGS;
    put_le32(c + 12, seg_max);
    put_le32(c + 20, BLK_SECTOR_SIZE);
    uint16_t num_queues = htole16((uint16_t)nq);
    memcpy(c + 34, &num_queues, 2);
    if (blk->vdev.features & (1ULL << VIRTIO_BLK_F_DISCARD)) {
        put_le32(c + 36, BLK_MAX_RANGE_SECT);
        put_le32(c + 40, BLK_MAX_RANGES);
        put_le32(c + 44, 8); /* 4 KiB: the file system's hole granularity */
    }
    if (blk->vdev.features & (1ULL << VIRTIO_BLK_F_WRITE_ZEROES)) {
        put_le32(c + 48, BLK_MAX_RANGE_SECT);
        put_le32(c + 52, BLK_MAX_RANGES);
        c[56] = blk->be.img.can_discard ? 1 : 0;
    }
}

static void blk_config_read(struct virtio_device *vdev, uint32_t offset, void *data, uint32_t len)
{
    struct virtio_blk *blk = to_blk(vdev);
    if (offset > sizeof(blk->config) || len > sizeof(blk->config) - offset) {
        memset(data, 0, len);
        return;
    }
    memcpy(data, blk->config + offset, len);
}

static void blk_config_write(struct virtio_device *vdev, uint32_t offset, const void *data,
                             uint32_t len)
{
    /* Every field is read-only (no CONFIG_WCE): writes are ignored. */
}

static int blk_activate(struct virtio_device *vdev)
{
    struct virtio_blk *blk = to_blk(vdev);
    blk->disk.capacity_sectors = blk->be.img.capacity_sectors;
    blk->disk.readonly = blk->be.img.readonly;
    blk->disk.discard = virtio_has_feature(vdev, VIRTIO_BLK_F_DISCARD);
    blk->disk.write_zeroes = virtio_has_feature(vdev, VIRTIO_BLK_F_WRITE_ZEROES);
    return 0;
}

static void blk_reset(struct virtio_device *vdev)
{
    struct virtio_blk *blk = to_blk(vdev);
    /* Nothing waits here: the ring cancels what has not started, and what still completes belongs
     * to the old generation and is dropped (no status, no used entry, no bounce copy). Until the
     * last of it completed, vdev.dma_pending keeps the driver's device_status read non-zero. */
    blk->generation++;
    memset(blk->inflight_q, 0, sizeof(blk->inflight_q));
    blk->to_signal = 0;
    blk->rl_throttled = 0;
    if (blk->rl_on)
        uv_timer_stop(&blk->rl_timer);
    blk_backend_reset(&blk->be);
}

static void process_queue(struct virtio_blk *blk, unsigned q);

/* Requests on the ring, of every generation; mirrored for the transport's reset (dma_pending). */
static void count_inflight(struct virtio_blk *blk, int delta)
{
    blk->inflight_total = (unsigned)((int)blk->inflight_total + delta);
    __atomic_store_n(&blk->vdev.dma_pending, blk->inflight_total, __ATOMIC_RELEASE);
}

static void complete(struct virtio_blk *blk, unsigned q, uint16_t head, uint32_t len)
{
    struct virtq *vq = &blk->vdev.vq[q];
    if (virtq_push(vq, head, len) < 0) {
        virtio_device_error(&blk->vdev, "queue %u: %s", q, vq->error ? vq->error : "push failed");
        return;
    }
    blk->to_signal |= 1u << q;
}

/* One interrupt per queue for everything completed since the last call (a batch). */
static void signal_completed(void *opaque)
{
    struct virtio_blk *blk = opaque;
    for (unsigned q = 0; blk->to_signal; q++) {
        if (blk->to_signal & (1u << q))
            virtio_signal_used(&blk->vdev, q);
        blk->to_signal &= ~(1u << q);
    }
}

/* A request record: recycled ones first (no malloc/free churn per request). */
static struct blk_inflight *inflight_get(struct virtio_blk *blk)
{
    struct blk_inflight *in = blk->spare;
    if (in) {
        blk->spare = (struct blk_inflight *)in->io.next;
        return in;
    }
    return calloc(1, sizeof(*in)); /* no pin storage yet */
}

static void live_add(struct virtio_blk *blk, struct blk_inflight *in)
{
    in->live_prev = NULL;
    in->live_next = blk->live;
    if (blk->live)
        blk->live->live_prev = in;
    blk->live = in;
}

static void live_remove(struct virtio_blk *blk, struct blk_inflight *in)
{
    if (in->live_prev)
        in->live_prev->live_next = in->live_next;
    else
        blk->live = in->live_next;
    if (in->live_next)
        in->live_next->live_prev = in->live_prev;
    in->live_prev = in->live_next = NULL;
}

static void inflight_put(struct virtio_blk *blk, struct blk_inflight *in)
{
    in->io.next = blk->spare ? &blk->spare->io : NULL; /* io is the first member */
    blk->spare = in;
}

/* Runs on the loop for every completed request (also, dropped, for those left at destroy). */
static void io_done(struct blk_io *io, void *opaque)
{
    struct blk_inflight *in = (struct blk_inflight *)io;
    struct virtio_blk *blk = opaque;
    count_inflight(blk, -1);
    /* (After destroy the pins were released there: guest memory may be gone by now.) */
    bool intact = blk->destroyed || blk_req_unpin(blk->vdev.gm, &in->io.req);
    if (!blk->destroyed)
        live_remove(blk, in);
    if (blk->destroyed || in->generation != blk->generation || blk->vdev.broken) {
        inflight_put(blk, in);
        return;
    }
    unsigned q = in->q;
    bool was_full = blk->inflight_q[q] >= blk->vdev.vq[q].size;
    blk->inflight_q[q]--;
    if (!intact) /* the guest made part of a buffer private meanwhile: a defined failure */
        in->io.req.status = VIRTIO_BLK_S_IOERR;
    complete(blk, q, in->head, blk_req_finish(blk->vdev.gm, &in->io.req));
    inflight_put(blk, in);
    if (was_full)
        process_queue(blk, q); /* popping stopped at the in-flight cap */
}

/* Parses one popped chain and either completes it now or returns it for the ring. */
static struct blk_inflight *handle_chain(struct virtio_blk *blk, unsigned q,
                                         const struct virtq_chain *c)
{
    unsigned n = (unsigned)c->nr_read + c->nr_write;
    for (unsigned i = 0; i < n; i++) {
        blk->segs[i].gpa = c->seg[i].gpa;
        blk->segs[i].len = c->seg[i].len;
        blk->segs[i].device_writes = i >= c->nr_read;
    }
    struct blk_inflight *in = inflight_get(blk);
    if (!in) {
        complete(blk, q, c->head, 0);
        return NULL;
    }
    in->blk = blk;
    in->q = q;
    in->head = c->head;
    in->generation = blk->generation;
    in->io.next = NULL;
    const char *id = blk->id[0] ? blk->id : NULL;
    switch (blk_req_parse(blk->vdev.gm, blk->segs, n, &blk->disk, id, &in->io.req)) {
    case BLK_PARSE_SUBMIT:
        count_inflight(blk, 1);
        blk->inflight_q[q]++;
        live_add(blk, in);
        return in;
    case BLK_PARSE_COMPLETE:
        complete(blk, q, c->head, blk_req_finish(blk->vdev.gm, &in->io.req));
        break;
    case BLK_PARSE_NO_STATUS:
        complete(blk, q, c->head, 0);
        break;
    }
    inflight_put(blk, in);
    return NULL;
}

static void rl_timer_cb(uv_timer_t *t)
{
    struct virtio_blk *blk = t->data;
    uint32_t queues = blk->rl_throttled;
    blk->rl_throttled = 0;
    for (unsigned q = 0; queues; q++, queues >>= 1)
        if ((queues & 1) && q < blk->vdev.num_queues && blk->vdev.vq[q].ready)
            process_queue(blk, q);
}

/* Whether queue q may pop another request; if not, it resumes when the buckets refill. */
static bool rl_admit(struct virtio_blk *blk, unsigned q)
{
    if (!blk->rl_on || rate_limiter_ready(&blk->rl, uv_hrtime()))
        return true;
    blk->rl_throttled |= 1u << q;
    if (!uv_is_active((uv_handle_t *)&blk->rl_timer))
        uv_timer_start(&blk->rl_timer, rl_timer_cb,
                       (rate_limiter_wait_ns(&blk->rl) + 999999) / 1000000, 0);
    return false;
}

/* Pops every available chain (up to the in-flight cap and what the rate limiter allows), queues
 * each on the disk's ring and submits them with one io_uring_enter per notification; page-cache
 * hits complete within it. */
static void process_queue(struct virtio_blk *blk, unsigned q)
{
    struct virtq *vq = &blk->vdev.vq[q];
    bool queued = false;
    /* A driver cannot have more than `size` requests outstanding; one that re-posts heads still
     * in flight is throttled here instead of growing host memory. */
    while (!blk->vdev.broken && blk->inflight_q[q] < vq->size && rl_admit(blk, q)) {
        int rc = virtq_pop(vq, &blk->chain);
        if (rc == 0)
            break;
        if (rc < 0) {
            virtio_device_error(&blk->vdev, "queue %u: %s", q, vq->error ? vq->error : "?");
            break;
        }
        if (blk->rl_on) { /* data bytes: the chain less the 16-byte header and the status byte */
            uint64_t total = (uint64_t)blk->chain.read_len + blk->chain.write_len;
            rate_limiter_consume(&blk->rl, total > 17 ? total - 17 : 0);
        }
        struct blk_inflight *in = handle_chain(blk, q, &blk->chain);
        if (in) {
            blk_backend_submit(&blk->be, &in->io);
            queued = true;
        }
    }
    if (queued)
        blk_backend_kick(&blk->be); /* if the device broke meanwhile, io_done drops them */
    signal_completed(blk);          /* one interrupt for everything completed so far */
}

static void blk_queue_notify(struct virtio_device *vdev, unsigned q)
{
    struct virtio_blk *blk = to_blk(vdev);
    if (q < vdev->num_queues && vdev->vq[q].ready)
        process_queue(blk, q);
}

static const struct virtio_device_ops blk_ops = {
    .config_read = blk_config_read,
    .config_write = blk_config_write,
    .activate = blk_activate,
    .reset = blk_reset,
    .queue_notify = blk_queue_notify,
};

int virtio_blk_create(const struct virtio_blk_params *p, const struct guest_mem *gm,
                      uv_loop_t *loop, struct virtio_blk **out, char *err, size_t errlen)
{
    unsigned nq = p->num_queues ? p->num_queues : 1;
    unsigned qsize = p->queue_size ? p->queue_size : VIRTIO_BLK_DEFAULT_QUEUE_SIZE;
    if (nq > VIRTIO_BLK_MAX_REQUESTED_QUEUES) {
        snprintf(err, errlen, "disk %s: num_queues must be 1..%d", p->path,
                 VIRTIO_BLK_MAX_REQUESTED_QUEUES);
        return -1;
    }
    if (nq > VIRTIO_MAX_QUEUES) {
        /* Kata asks for one queue per vCPU (up to 254): the guest spreads its queues over
         * what the device offers, so a cap loses nothing but parallelism. */
        log_info("disk %s: %u queues requested, %d offered (the device's maximum)",
                 p->id ? p->id : p->path, nq, VIRTIO_MAX_QUEUES);
        nq = VIRTIO_MAX_QUEUES;
    }
    if (qsize < 4 || qsize > VIRTQ_MAX_SIZE || (qsize & (qsize - 1))) {
        snprintf(err, errlen, "disk %s: queue_size must be a power of two in 4..%d", p->path,
                 VIRTQ_MAX_SIZE);
        return -1;
    }
    struct virtio_blk *blk = calloc(1, sizeof(*blk));
    if (!blk) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    if (blk_backend_open(&blk->be, p->path, p->readonly, p->direct, nq * qsize, loop, io_done,
                         signal_completed, blk, err, errlen) < 0) {
        free(blk); /* a failed open leaves nothing on the loop that refers to blk */
        return -1;
    }
    blk->loop = loop;
    if (p->rate_limiter && rate_limiter_config_enabled(p->rate_limiter)) {
        rate_limiter_init(&blk->rl, p->rate_limiter, uv_hrtime());
        uv_timer_init(loop, &blk->rl_timer); /* cannot fail */
        blk->rl_timer.data = blk;
        blk->rl_on = true;
    }
    if (p->id)
        snprintf(blk->id, sizeof(blk->id), "%s", p->id);
    struct virtio_device *v = &blk->vdev;
    v->ops = &blk_ops;
    v->name = "blk";
    v->device_id = VIRTIO_ID_BLOCK;
    v->features =
        1ULL << VIRTIO_BLK_F_SEG_MAX | 1ULL << VIRTIO_BLK_F_BLK_SIZE | 1ULL << VIRTIO_BLK_F_FLUSH;
    if (nq > 1)
        v->features |= 1ULL << VIRTIO_BLK_F_MQ;
    if (p->readonly)
        v->features |= 1ULL << VIRTIO_BLK_F_RO;
    else
        v->features |= 1ULL << VIRTIO_BLK_F_WRITE_ZEROES;
    if (blk->be.img.can_discard)
        v->features |= 1ULL << VIRTIO_BLK_F_DISCARD;
    v->config_size = VIRTIO_BLK_CONFIG_SIZE;
    v->num_queues = nq;
    for (unsigned i = 0; i < nq; i++)
        v->queue_max[i] = (uint16_t)qsize;
    v->gm = gm;
    build_config(blk, nq, qsize);
    *out = blk;
    return 0;
}

struct virtio_device *virtio_blk_vdev(struct virtio_blk *blk)
{
    return &blk->vdev;
}

struct blk_backend *virtio_blk_backend(struct virtio_blk *blk)
{
    return &blk->be;
}

unsigned virtio_blk_inflight(const struct virtio_blk *blk)
{
    return blk->inflight_total;
}

/* The disk's ring is closed and its last request completed: nothing refers to the device. */
static void free_device(uv_handle_t *poll)
{
    struct virtio_blk *blk = poll->data;
    while (blk->spare) {
        struct blk_inflight *in = blk->spare;
        blk->spare = (struct blk_inflight *)in->io.next;
        blk_req_free_pins(&in->io.req);
        free(in);
    }
    free(blk);
}

/* The rate limiter's timer is closed: now the ring. */
static void rl_timer_closed(uv_handle_t *t)
{
    struct virtio_blk *blk = t->data;
    blk_backend_close(&blk->be, free_device);
}

void virtio_blk_destroy(struct virtio_blk *blk)
{
    if (!blk)
        return;
    /* Guest memory outlives this call but maybe not the I/O still in flight: release the pins
     * now; completions after this touch nothing of the guest's. */
    for (struct blk_inflight *in = blk->live; in; in = in->live_next)
        blk_req_unpin(blk->vdev.gm, &in->io.req);
    blk->live = NULL;
    blk->destroyed = true;
    if (blk->rl_on) { /* the timer goes first, then the ring, then the memory */
        uv_timer_stop(&blk->rl_timer);
        uv_close((uv_handle_t *)&blk->rl_timer, rl_timer_closed);
        return;
    }
    blk_backend_close(&blk->be, free_device); /* returns at once; frees on the loop when drained */
}
