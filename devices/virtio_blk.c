/* virtio_blk.c: virtio-blk device: queues -> parsed requests -> thread-pool I/O -> used ring. */
#include "devices/virtio_blk.h"

#include <endian.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "devices/blk_backend.h"

/* One request in flight on a worker thread. */
struct blk_inflight {
    struct blk_io io;
    struct virtio_blk *blk;
    unsigned q;
    uint16_t head;
    unsigned generation; /* the activation it belongs to; stale ones are dropped on completion */
};

struct virtio_blk {
    struct virtio_device vdev;
    struct blk_backend be;
    uv_loop_t *loop;
    char id[BLK_ID_BYTES + 1];
    uint8_t config[VIRTIO_BLK_CONFIG_SIZE];
    struct blk_disk_info disk; /* negotiated view, set at activate */

    unsigned generation;
    unsigned inflight_q[VIRTIO_MAX_QUEUES]; /* current generation, per queue */
    unsigned inflight_total;                /* every generation; loop thread */
    bool destroyed;                         /* last completion frees */

    pthread_mutex_t lock; /* guards executing (worker threads <-> loop thread) */
    pthread_cond_t idle;
    unsigned executing;

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
    uint64_t cap = htole64(blk->be.capacity_sectors);
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
        c[56] = blk->be.can_discard ? 1 : 0;
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
    blk->disk.capacity_sectors = blk->be.capacity_sectors;
    blk->disk.readonly = blk->be.readonly;
    blk->disk.discard = virtio_has_feature(vdev, VIRTIO_BLK_F_DISCARD);
    blk->disk.write_zeroes = virtio_has_feature(vdev, VIRTIO_BLK_F_WRITE_ZEROES);
    return 0;
}

static void wait_workers_idle(struct virtio_blk *blk)
{
    pthread_mutex_lock(&blk->lock);
    while (blk->executing)
        pthread_cond_wait(&blk->idle, &blk->lock);
    pthread_mutex_unlock(&blk->lock);
}

static void blk_reset(struct virtio_device *vdev)
{
    struct virtio_blk *blk = to_blk(vdev);
    /* No DMA after reset: let running transfers finish, then forget their completions. */
    wait_workers_idle(blk);
    blk->generation++;
    memset(blk->inflight_q, 0, sizeof(blk->inflight_q));
}

static void process_queue(struct virtio_blk *blk, unsigned q);

static void complete(struct virtio_blk *blk, unsigned q, uint16_t head, uint32_t len)
{
    struct virtq *vq = &blk->vdev.vq[q];
    if (virtq_push(vq, head, len) < 0) {
        virtio_device_error(&blk->vdev, "queue %u: %s", q, vq->error ? vq->error : "push failed");
        return;
    }
    virtio_signal_used(&blk->vdev, q);
}

static void free_device(struct virtio_blk *blk)
{
    blk_backend_close(&blk->be);
    pthread_mutex_destroy(&blk->lock);
    pthread_cond_destroy(&blk->idle);
    free(blk);
}

static void io_done(struct blk_io *io)
{
    struct blk_inflight *in = (struct blk_inflight *)io;
    struct virtio_blk *blk = in->blk;
    blk->inflight_total--;
    if (blk->destroyed) {
        free(in);
        if (blk->inflight_total == 0)
            free_device(blk);
        return;
    }
    if (in->generation != blk->generation || blk->vdev.broken) {
        free(in);
        return;
    }
    unsigned q = in->q;
    bool was_full = blk->inflight_q[q] >= blk->vdev.vq[q].size;
    blk->inflight_q[q]--;
    complete(blk, q, in->head, blk_req_finish(blk->vdev.gm, &in->io.req));
    free(in);
    if (was_full)
        process_queue(blk, q); /* popping stopped at the in-flight cap */
}

/* Runs on a worker thread: the I/O itself, then wakes a reset waiting for idle workers. */
static void worker_done_hook(struct virtio_blk *blk)
{
    pthread_mutex_lock(&blk->lock);
    if (--blk->executing == 0)
        pthread_cond_broadcast(&blk->idle);
    pthread_mutex_unlock(&blk->lock);
}

static void io_work(uv_work_t *work)
{
    struct blk_inflight *in = work->data;
    in->io.req.status = blk_backend_execute(in->io.be, &in->io.req);
    worker_done_hook(in->blk);
}

static void io_after(uv_work_t *work, int status)
{
    struct blk_inflight *in = work->data;
    if (status == UV_ECANCELED) {
        in->io.req.status = VIRTIO_BLK_S_IOERR;
        worker_done_hook(in->blk);
    }
    io_done(&in->io);
}

static int submit(struct virtio_blk *blk, struct blk_inflight *in)
{
    in->io.be = &blk->be;
    in->io.work.data = in;
    pthread_mutex_lock(&blk->lock);
    blk->executing++;
    pthread_mutex_unlock(&blk->lock);
    if (uv_queue_work(blk->loop, &in->io.work, io_work, io_after) != 0) {
        worker_done_hook(blk);
        return -1;
    }
    blk->inflight_total++;
    blk->inflight_q[in->q]++;
    return 0;
}

/* Parses one popped chain and either completes it now or sends it to a worker. */
static void handle_chain(struct virtio_blk *blk, unsigned q, const struct virtq_chain *c)
{
    unsigned n = (unsigned)c->nr_read + c->nr_write;
    for (unsigned i = 0; i < n; i++) {
        blk->segs[i].gpa = c->seg[i].gpa;
        blk->segs[i].len = c->seg[i].len;
        blk->segs[i].device_writes = i >= c->nr_read;
    }
    struct blk_inflight *in = malloc(sizeof(*in));
    if (!in) {
        complete(blk, q, c->head, 0);
        return;
    }
    in->blk = blk;
    in->q = q;
    in->head = c->head;
    in->generation = blk->generation;
    const char *id = blk->id[0] ? blk->id : NULL;
    switch (blk_req_parse(blk->vdev.gm, blk->segs, n, &blk->disk, id, &in->io.req)) {
    case BLK_PARSE_SUBMIT:
        if (submit(blk, in) == 0)
            return;
        in->io.req.status = VIRTIO_BLK_S_IOERR;
        complete(blk, q, c->head, blk_req_finish(blk->vdev.gm, &in->io.req));
        break;
    case BLK_PARSE_COMPLETE:
        complete(blk, q, c->head, blk_req_finish(blk->vdev.gm, &in->io.req));
        break;
    case BLK_PARSE_NO_STATUS:
        complete(blk, q, c->head, 0);
        break;
    }
    free(in);
}

static void process_queue(struct virtio_blk *blk, unsigned q)
{
    struct virtq *vq = &blk->vdev.vq[q];
    /* A driver cannot have more than `size` requests outstanding; one that re-posts heads still
     * in flight is throttled here instead of growing host memory. */
    while (!blk->vdev.broken && blk->inflight_q[q] < vq->size) {
        int rc = virtq_pop(vq, &blk->chain);
        if (rc == 0)
            return;
        if (rc < 0) {
            virtio_device_error(&blk->vdev, "queue %u: %s", q, vq->error ? vq->error : "?");
            return;
        }
        handle_chain(blk, q, &blk->chain);
    }
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
    if (nq > VIRTIO_MAX_QUEUES) {
        snprintf(err, errlen, "disk %s: num_queues must be 1..%d", p->path, VIRTIO_MAX_QUEUES);
        return -1;
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
    if (blk_backend_open(&blk->be, p->path, p->readonly, err, errlen) < 0) {
        free(blk);
        return -1;
    }
    pthread_mutex_init(&blk->lock, NULL);
    pthread_cond_init(&blk->idle, NULL);
    blk->loop = loop;
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
    if (blk->be.can_discard)
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

unsigned virtio_blk_inflight(const struct virtio_blk *blk)
{
    return blk->inflight_total;
}

void virtio_blk_destroy(struct virtio_blk *blk)
{
    if (!blk)
        return;
    wait_workers_idle(blk);
    if (blk->inflight_total) {
        blk->destroyed = true; /* completions still queued on the loop free it */
        return;
    }
    free_device(blk);
}
