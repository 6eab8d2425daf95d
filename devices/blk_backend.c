/* blk_backend.c: a disk's image I/O on its own restricted io_uring, completed on the libuv loop. */
#include "devices/blk_backend.h"

#ifdef COCOON_VALGRIND
#include <valgrind/memcheck.h>
#endif

#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "vmm/base/log.h"

#define FILE_IMAGE    0 /* registered file slots: the image (O_DIRECT if direct=on) */
#define FILE_BUFFERED 1 /* the page-cache twin of a direct=on image (or the image again) */
#define ZERO_CHUNK    (256u * 1024)
#define SPARE_SQES    16u /* cancels and the odd retry beyond one SQE per request */

static uint8_t zeroes[ZERO_CHUNK] __attribute__((aligned(4096))); /* never written */

/* The operations a disk's ring may carry, and only on its registered files (IOSQE_FIXED_FILE
 * required): a request smuggled into the ring could touch nothing else. */
static const uint8_t allowed_ops[] = {IORING_OP_NOP,   IORING_OP_READV,     IORING_OP_WRITEV,
                                      IORING_OP_FSYNC, IORING_OP_FALLOCATE, IORING_OP_ASYNC_CANCEL};

/* ---- setting up a ring ---- */

static int restrict_ring(struct io_uring *ring)
{
    struct io_uring_restriction res[sizeof(allowed_ops) + 2];
    memset(res, 0, sizeof(res));
    unsigned n = 0;
    for (; n < sizeof(allowed_ops); n++) {
        res[n].opcode = IORING_RESTRICTION_SQE_OP;
        res[n].sqe_op = allowed_ops[n];
    }
    res[n].opcode = IORING_RESTRICTION_SQE_FLAGS_REQUIRED;
    res[n].sqe_flags = IOSQE_FIXED_FILE;
    n++;
    /* once enabled, nothing can be registered; the files are only unregistered at close */
    res[n].opcode = IORING_RESTRICTION_REGISTER_OP;
    res[n].register_op = IORING_UNREGISTER_FILES;
    n++;
    /* the raw register call: Debian's liburing 2.3 does not export its restrictions wrapper */
    return io_uring_register((unsigned)ring->ring_fd, IORING_REGISTER_RESTRICTIONS, res, n);
}

static void describe_uring_failure(const char *path, const char *what, int rc, char *err,
                                   size_t errlen)
{
    snprintf(err, errlen,
             "disk %s: cannot set up io_uring (%s: %s); cocoon's block I/O needs io_uring: Linux "
             "5.19 or later with sysctl kernel.io_uring_disabled=0",
             path, what, strerror(-rc));
}

static void on_completions(uv_poll_t *poll, int status, int events);

/* Requests every open disk may have in flight together (loop thread). */
static unsigned total_inflight;
#define MAX_IO_WORKERS 4096u

/* Blocking operations (fdatasync, tmpfs I/O, buffered ext4 writes) run on io_uring's io-wq
 * workers, and those belong to the submitting thread, shared by all its rings: by default at most
 * 4 per CPU, so a disk with that many slow flushes would hold back every other disk's punted
 * requests. The limit is raised to what all disks together may have in flight (workers are
 * created only when an operation blocks, and exit when idle). */
static int raise_worker_limit(struct io_uring *ring, unsigned max_inflight)
{
    unsigned want = total_inflight + max_inflight;
    unsigned limits[2] = {want < MAX_IO_WORKERS ? want : MAX_IO_WORKERS, 0}; /* 0: unchanged */
    return io_uring_register_iowq_max_workers(ring, limits);
}

static int setup_ring(struct blk_backend *be, unsigned max_inflight, uv_loop_t *loop, char *err,
                      size_t errlen)
{
    const char *path = be->img.path;
    int rc = io_uring_queue_init(max_inflight + SPARE_SQES, &be->ring, IORING_SETUP_R_DISABLED);
    if (rc < 0) {
        describe_uring_failure(path, "io_uring_setup", rc, err, errlen);
        return -1;
    }
    be->ring_ok = true;
    int files[2] = {be->img.fd, be->img.buffered_fd >= 0 ? be->img.buffered_fd : be->img.fd};
    be->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (be->efd < 0) {
        snprintf(err, errlen, "disk %s: eventfd: %s", path, strerror(errno));
        return -1;
    }
    if ((rc = raise_worker_limit(&be->ring, max_inflight)) < 0 ||
        (rc = io_uring_register_files(&be->ring, files, 2)) < 0 || !(be->files_ok = true) ||
        (rc = io_uring_register_eventfd(&be->ring, be->efd)) < 0 ||
        (rc = restrict_ring(&be->ring)) < 0 ||
        (rc = io_uring_register((unsigned)be->ring.ring_fd, IORING_REGISTER_ENABLE_RINGS, NULL,
                                0)) < 0) {
        describe_uring_failure(path, "io_uring_register", rc, err, errlen);
        return -1;
    }
    uv_poll_t *poll = malloc(sizeof(*poll));
    if (!poll || uv_poll_init(loop, poll, be->efd) != 0) {
        free(poll);
        snprintf(err, errlen, "disk %s: cannot watch the completion eventfd", path);
        return -1;
    }
    be->poll = poll; /* from here on the handle exists and must be closed, started or not */
    poll->data = be;
    if (uv_poll_start(poll, UV_READABLE, on_completions) != 0) {
        snprintf(err, errlen, "disk %s: cannot watch the completion eventfd", path);
        return -1;
    }
    uv_unref((uv_handle_t *)poll);
    be->max_inflight = max_inflight;
    total_inflight += max_inflight;
    return 0;
}

/* Releases the ring, the eventfd and the image (the poll handle is closed already). */
static void release(struct blk_backend *be)
{
    total_inflight -= be->max_inflight; /* the limit stays: idle workers cost nothing */
    be->max_inflight = 0;
    /* The kernel tears a ring down asynchronously, and its registered files with it: unregister
     * them first, so the image's lock is gone when this returns (a re-attach, a restarted VMM). */
    if (be->files_ok && io_uring_unregister_files(&be->ring) < 0)
        log_warn("disk %s: cannot unregister the image from its ring", be->img.path);
    if (be->ring_ok)
        io_uring_queue_exit(&be->ring);
    be->ring_ok = be->files_ok = false;
    if (be->efd >= 0)
        close(be->efd);
    be->efd = -1;
    blk_image_close(&be->img);
}

static void free_handle(uv_handle_t *h)
{
    free(h); /* the backend itself may be gone: the caller saw the failure */
}

int blk_backend_open(struct blk_backend *be, const char *path, bool readonly, bool direct,
                     unsigned max_inflight, uv_loop_t *loop, blk_io_done_fn done,
                     blk_io_batch_fn batch_done, void *opaque, char *err, size_t errlen)
{
    memset(be, 0, sizeof(*be));
    be->efd = -1;
    be->rl = (struct log_ratelimit)LOG_RATELIMIT_INIT;
    be->done = done;
    be->batch_done = batch_done;
    be->opaque = opaque;
    if (blk_image_open(&be->img, path, readonly, direct, err, errlen) < 0)
        return -1;
    if (setup_ring(be, max_inflight, loop, err, errlen) < 0) {
        if (be->poll) /* no leaked handle: closed now, freed once it is off the loop */
            uv_close((uv_handle_t *)be->poll, free_handle);
        be->poll = NULL;
        release(be);
        return -1;
    }
    return 0;
}

/* ---- preparing operations ---- */

static void update_ref(struct blk_backend *be)
{
    if (be->inflight)
        uv_ref((uv_handle_t *)be->poll);
    else
        uv_unref((uv_handle_t *)be->poll);
}

static struct io_uring_sqe *get_sqe(struct blk_backend *be)
{
    struct io_uring_sqe *sqe = io_uring_get_sqe(&be->ring);
    if (!sqe && io_uring_submit(&be->ring) >= 0) { /* cannot happen at the ring's size */
        be->queued = 0;
        sqe = io_uring_get_sqe(&be->ring);
    }
    if (sqe)
        be->queued++;
    return sqe;
}

/* The SQE for io's next operation, or NULL: then io is parked and completes with IOERR on the
 * next pass of the completion loop (never inside blk_backend_submit). */
static struct io_uring_sqe *next_sqe(struct blk_io *io, uint8_t op)
{
    struct io_uring_sqe *sqe = get_sqe(io->be);
    io->op = op;
    if (!sqe) {
        log_limited(&io->be->rl, LOG_LVL_WARN, "disk %s: io_uring submission queue full",
                    io->be->img.path);
        io->req.status = VIRTIO_BLK_S_IOERR;
        io->op = IORING_OP_NOP;
        io->next = io->be->parked;
        io->be->parked = io;
    }
    return sqe;
}

/* After the prep helper: every SQE of the ring targets a registered file and carries its io. */
static void seal(struct io_uring_sqe *sqe, struct blk_io *io)
{
    sqe->flags |= IOSQE_FIXED_FILE;
    io_uring_sqe_set_data(sqe, io);
}

static void queue_simple(struct blk_io *io, uint8_t op)
{
    struct io_uring_sqe *sqe = next_sqe(io, op);
    if (!sqe)
        return;
    if (op == IORING_OP_FSYNC)
        io_uring_prep_fsync(sqe, FILE_IMAGE, IORING_FSYNC_DATASYNC);
    else
        io_uring_prep_nop(sqe);
    seal(sqe, io);
}

/* Whether [off, off+len) may go O_DIRECT on this image (offset alignment). */
static bool dio_offset_ok(const struct blk_backend *be, uint64_t off, uint64_t len)
{
    unsigned a = be->img.dio_off_align;
    return ((off | len) & (a - 1)) == 0;
}

/* O_DIRECT takes guest buffers as they are only if every segment is aligned. */
static bool iov_dio_aligned(const struct blk_backend *be, const struct blk_request *r)
{
    uint64_t mem = be->img.dio_mem_align, len = be->img.dio_off_align;
    for (unsigned i = 0; i < r->niov; i++)
        if ((uintptr_t)r->iov[i].iov_base % mem || r->iov[i].iov_len % len)
            return false;
    return true;
}

static void copy_from_iov(uint8_t *dst, const struct blk_request *r)
{
    for (unsigned i = 0; i < r->niov; i++) {
        memcpy(dst, r->iov[i].iov_base, r->iov[i].iov_len);
        dst += r->iov[i].iov_len;
    }
}

static void copy_to_iov(const struct blk_request *r, const uint8_t *src)
{
    for (unsigned i = 0; i < r->niov; i++) {
        memcpy(r->iov[i].iov_base, src, r->iov[i].iov_len);
        src += r->iov[i].iov_len;
    }
}

/* Direct I/O into unaligned guest buffers: an aligned host copy (writes fill it now); false if
 * the request is too large for one or memory is short. */
static bool prepare_bounce(struct blk_io *io)
{
    struct blk_backend *be = io->be;
    const struct blk_request *r = &io->req;
    if (r->data_len > BLK_BOUNCE_MAX || r->data_len == 0)
        return false;
    size_t align = be->img.dio_mem_align > 4096 ? be->img.dio_mem_align : 4096;
    if (posix_memalign(&io->bounce, align, r->data_len) != 0) {
        io->bounce = NULL;
        return false; /* through the page cache instead */
    }
    if (r->type == VIRTIO_BLK_T_OUT)
        copy_from_iov(io->bounce, r);
    io->biov.iov_base = io->bounce;
    io->biov.iov_len = r->data_len;
    return true;
}

/* direct=on: aligned requests go O_DIRECT as they are, unaligned buffers through a bounce copy;
 * what cannot (unaligned offset, more than BLK_BOUNCE_MAX) goes through the page cache. */
static uint8_t choose_rw_path(struct blk_io *io)
{
    struct blk_backend *be = io->be;
    const struct blk_request *r = &io->req;
    if (!be->img.direct)
        return FILE_IMAGE;
    if (!dio_offset_ok(be, r->offset, r->data_len))
        return FILE_BUFFERED;
    if (iov_dio_aligned(be, r) || prepare_bounce(io))
        return FILE_IMAGE;
    return FILE_BUFFERED;
}

static void queue_rw(struct blk_io *io)
{
    const struct blk_request *r = &io->req;
    bool write = r->type == VIRTIO_BLK_T_OUT;
    struct io_uring_sqe *sqe = next_sqe(io, write ? IORING_OP_WRITEV : IORING_OP_READV);
    if (!sqe)
        return;
    uint64_t off = r->offset + io->done;
    int file = io->file;
    const struct iovec *v = io->bounce ? &io->biov : &r->iov[io->iov_at];
    unsigned n = io->bounce ? 1 : r->niov - io->iov_at;
    if (write)
        io_uring_prep_writev(sqe, file, v, n, off);
    else
        io_uring_prep_readv(sqe, file, v, n, off);
    seal(sqe, io);
}

/* The next step of a DISCARD / WRITE_ZEROES range (punch, zero range, or zero-filling writes). */
static void queue_range(struct blk_io *io)
{
    struct blk_backend *be = io->be;
    const struct blk_range *rg = &io->req.range[io->range_at];
    if (io->zero_fill) {
        uint64_t left = rg->len - io->done;
        io->biov.iov_base = zeroes;
        io->biov.iov_len = left < ZERO_CHUNK ? (size_t)left : ZERO_CHUNK;
        struct io_uring_sqe *sqe = next_sqe(io, IORING_OP_WRITEV);
        if (sqe) {
            io_uring_prep_writev(sqe, be->img.direct ? FILE_BUFFERED : FILE_IMAGE, &io->biov, 1,
                                 rg->offset + io->done);
            seal(sqe, io);
        }
        return;
    }
    bool punch = io->req.type == VIRTIO_BLK_T_DISCARD || (rg->unmap && be->img.can_discard);
    int mode = (punch ? FALLOC_FL_PUNCH_HOLE : FALLOC_FL_ZERO_RANGE) | FALLOC_FL_KEEP_SIZE;
    struct io_uring_sqe *sqe = next_sqe(io, IORING_OP_FALLOCATE);
    if (sqe) {
        io_uring_prep_fallocate(sqe, FILE_IMAGE, mode, rg->offset, rg->len);
        seal(sqe, io);
    }
}

/* Skips empty ranges; returns false when every range is done. */
static bool next_range(struct blk_io *io)
{
    while (io->range_at < io->req.nrange && io->req.range[io->range_at].len == 0)
        io->range_at++;
    io->done = 0;
    io->zero_fill = io->req.type == VIRTIO_BLK_T_WRITE_ZEROES && io->be->no_zero_range &&
                    !(io->req.range[io->range_at < io->req.nrange ? io->range_at : 0].unmap &&
                      io->be->img.can_discard);
    return io->range_at < io->req.nrange;
}

/* A request whose answer is known without I/O still completes through the ring (a NOP), so every
 * completion reaches the caller the same way, on the loop, never inside blk_backend_submit. */
static void queue_status(struct blk_io *io, uint8_t status)
{
    io->req.status = status;
    queue_simple(io, IORING_OP_NOP);
}

void blk_backend_submit(struct blk_backend *be, struct blk_io *io)
{
    io->be = be;
    io->iov_at = 0;
    io->range_at = 0;
    io->done = 0;
    io->bounce = NULL;
    io->zero_fill = false;
    io->req.status = VIRTIO_BLK_S_OK;
    io->gen = be->gen;
    be->inflight++;
    const struct blk_request *r = &io->req;
    bool ro = be->img.readonly;
    switch (r->type) {
    case VIRTIO_BLK_T_IN:
    case VIRTIO_BLK_T_OUT:
        if (r->type == VIRTIO_BLK_T_OUT && ro)
            return queue_status(io, VIRTIO_BLK_S_IOERR);
        if (r->data_len == 0)
            return queue_status(io, VIRTIO_BLK_S_OK);
        io->file = choose_rw_path(io);
        return queue_rw(io);
    case VIRTIO_BLK_T_FLUSH:
        if (ro)
            return queue_status(io, VIRTIO_BLK_S_OK);
        if (be->flush_failed) /* fsyncgate: the lost pages are not coming back */
            return queue_status(io, VIRTIO_BLK_S_IOERR);
        return queue_simple(io, IORING_OP_FSYNC);
    case VIRTIO_BLK_T_DISCARD:
    case VIRTIO_BLK_T_WRITE_ZEROES:
        if (ro)
            return queue_status(io, r->type == VIRTIO_BLK_T_DISCARD ? VIRTIO_BLK_S_UNSUPP
                                                                    : VIRTIO_BLK_S_IOERR);
        if (r->type == VIRTIO_BLK_T_DISCARD && !be->img.can_discard)
            return queue_status(io, VIRTIO_BLK_S_UNSUPP);
        if (!next_range(io))
            return queue_status(io, VIRTIO_BLK_S_OK);
        return queue_range(io);
    default:
        return queue_status(io, VIRTIO_BLK_S_UNSUPP);
    }
}

/* ---- completions ---- */

static void finish(struct blk_backend *be, struct blk_io *io, uint8_t status)
{
    /* a read bounced for an activation that has been reset is not copied: no DMA after reset */
    if (io->bounce && status == VIRTIO_BLK_S_OK && io->req.type == VIRTIO_BLK_T_IN &&
        io->gen == be->gen)
        copy_to_iov(&io->req, io->bounce);
    free(io->bounce);
    io->bounce = NULL;
    io->req.status = status;
    be->inflight--;
    be->done(io, be->opaque);
}

static void flush_failed(struct blk_backend *be, int res)
{
    if (!be->flush_failed)
        log_err("disk %s: flush failed (%s): data written since the last good flush may be lost; "
                "every later flush of this disk fails until the guest resets the device",
                be->img.path, strerror(-res));
    be->flush_failed = true;
}

/* valgrind cannot see the kernel write a read's bytes from io_uring's worker: tell it (valgrind
 * builds only, -DCOCOON_VALGRIND; a no-op everywhere else). */
static void mark_read_defined(const struct blk_io *io, size_t res)
{
#ifdef COCOON_VALGRIND
    if (io->bounce) {
        VALGRIND_MAKE_MEM_DEFINED((uint8_t *)io->bounce + io->done, res);
        return;
    }
    for (unsigned i = io->iov_at; i < io->req.niov && res > 0; i++) {
        size_t n = res < io->req.iov[i].iov_len ? res : io->req.iov[i].iov_len;
        VALGRIND_MAKE_MEM_DEFINED(io->req.iov[i].iov_base, n);
        res -= n;
    }
#else
    (void)io;
    (void)res;
#endif
}

/* Advances past res bytes of a read or write; true when the whole transfer is done. */
static bool advance_rw(struct blk_io *io, size_t res)
{
    io->done += res;
    if (io->done >= io->req.data_len)
        return true;
    if (io->bounce) {
        io->biov.iov_base = (uint8_t *)io->bounce + io->done;
        io->biov.iov_len = io->req.data_len - io->done;
        return false;
    }
    struct blk_request *r = &io->req; /* the segments are ours to trim: they are host views */
    while (res > 0 && io->iov_at < r->niov) {
        struct iovec *v = &r->iov[io->iov_at];
        size_t step = res < v->iov_len ? res : v->iov_len;
        v->iov_base = (uint8_t *)v->iov_base + step;
        v->iov_len -= step;
        res -= step;
        if (v->iov_len == 0)
            io->iov_at++;
    }
    return false;
}

static void on_range_done(struct blk_backend *be, struct blk_io *io, int res)
{
    const struct blk_range *rg = &io->req.range[io->range_at];
    if (io->op == IORING_OP_FALLOCATE && res < 0 && io->req.type == VIRTIO_BLK_T_WRITE_ZEROES &&
        (res == -EOPNOTSUPP || res == -EINVAL) && !(rg->unmap && be->img.can_discard)) {
        be->no_zero_range = true; /* e.g. tmpfs: zero-fill by writes from now on */
        io->zero_fill = true;
        io->done = 0;
        return queue_range(io);
    }
    if (res < 0 || (io->zero_fill && res == 0))
        return finish(be, io, VIRTIO_BLK_S_IOERR);
    if (io->zero_fill) {
        io->done += (uint64_t)res;
        if (io->done < rg->len)
            return queue_range(io);
    }
    io->range_at++;
    if (!next_range(io))
        return finish(be, io, VIRTIO_BLK_S_OK);
    queue_range(io);
}

static void on_cqe(struct blk_backend *be, struct blk_io *io, int res)
{
    if (!io)
        return; /* a cancel request's own completion */
    if ((be->closing || io->gen != be->gen) && io->op != IORING_OP_NOP)
        return finish(be, io, VIRTIO_BLK_S_IOERR); /* no further steps after a reset or close */
    switch (io->op) {
    case IORING_OP_NOP:
        return finish(be, io, io->req.status);
    case IORING_OP_FSYNC:
        if (be->test_flush_errno)
            res = -be->test_flush_errno;
        if (res < 0)
            flush_failed(be, res);
        return finish(be, io, res < 0 ? VIRTIO_BLK_S_IOERR : VIRTIO_BLK_S_OK);
    case IORING_OP_READV:
    case IORING_OP_WRITEV:
        if (io->req.type == VIRTIO_BLK_T_IN || io->req.type == VIRTIO_BLK_T_OUT) {
            if (res <= 0) /* an error, or the end of the file (the image shrank under us) */
                return finish(be, io, VIRTIO_BLK_S_IOERR);
            if (io->op == IORING_OP_READV)
                mark_read_defined(io, (size_t)res);
            if (advance_rw(io, (size_t)res))
                return finish(be, io, VIRTIO_BLK_S_OK);
            return queue_rw(io);
        }
        return on_range_done(be, io, res);
    default:
        return on_range_done(be, io, res);
    }
}

static void submit_queued(struct blk_backend *be)
{
    while (be->queued) {
        int rc = io_uring_submit(&be->ring);
        if (rc == -EINTR)
            continue;
        if (rc < 0) { /* the SQEs stay in the ring; the next kick or completion retries */
            log_limited(&be->rl, LOG_LVL_WARN, "disk %s: io_uring_enter: %s", be->img.path,
                        strerror(-rc));
            return;
        }
        be->queued = (unsigned)rc >= be->queued ? 0 : be->queued - (unsigned)rc;
        if (rc == 0)
            return;
    }
}

/* Submits what is queued and delivers every completion already posted, again and again while
 * completions queue follow-up steps. Nested calls (a done callback submitting) only queue. */
static void reap(struct blk_backend *be)
{
    if (be->reaping)
        return;
    if (be->test_hold_completions) { /* tests: I/O that is slow to complete */
        submit_queued(be);
        return;
    }
    be->reaping++;
    for (;;) {
        submit_queued(be);
        unsigned n = 0;
        while (be->parked) {
            struct blk_io *io = be->parked;
            be->parked = io->next;
            n++;
            on_cqe(be, io, 0);
        }
        unsigned head, seen = 0;
        struct io_uring_cqe *cqe;
        io_uring_for_each_cqe(&be->ring, head, cqe)
        {
            struct blk_io *io = io_uring_cqe_get_data(cqe);
            int res = cqe->res;
            seen++;
            on_cqe(be, io, res);
        }
        io_uring_cq_advance(&be->ring, seen);
        if (n + seen == 0)
            break; /* everything queued was submitted at the top of this pass */
    }
    be->reaping--;
}

static void on_poll_closed(uv_handle_t *h)
{
    struct blk_backend *be = h->data;
    uv_close_cb closed = be->closed;
    be->poll = NULL;
    release(be);
    h->data = be->opaque;
    closed(h); /* may free the memory holding be */
    free(h);
}

static void maybe_finish_close(struct blk_backend *be)
{
    if (be->closing && be->inflight == 0 && be->poll && !uv_is_closing((uv_handle_t *)be->poll))
        uv_close((uv_handle_t *)be->poll, on_poll_closed);
}

static void on_completions(uv_poll_t *poll, int status, int events)
{
    struct blk_backend *be = poll->data;
    uint64_t count;
    if (read(be->efd, &count, sizeof(count)) < 0 && errno != EAGAIN && errno != EINTR)
        log_limited(&be->rl, LOG_LVL_WARN, "disk %s: completion eventfd: %s", be->img.path,
                    strerror(errno));
    reap(be);
    if (!be->closing)
        be->batch_done(be->opaque);
    update_ref(be);
    maybe_finish_close(be);
}

void blk_backend_kick(struct blk_backend *be)
{
    if (be->reaping)
        return; /* the running completion loop submits it */
    /* Completions posted during the submit are taken right here; the eventfd need not wake the
     * loop for them. It is switched back on before the last look, so nothing is missed. */
    bool quiet = !be->test_hold_completions; /* held: they must come through the eventfd */
    if (quiet)
        io_uring_cq_eventfd_toggle(&be->ring, false);
    reap(be);
    if (quiet)
        io_uring_cq_eventfd_toggle(&be->ring, true);
    reap(be);
    update_ref(be);
    maybe_finish_close(be);
}

void blk_backend_reset(struct blk_backend *be)
{
    be->flush_failed = false;
    be->gen++;
    if (!be->inflight)
        return;
    struct io_uring_sqe *sqe = get_sqe(be);
    if (sqe) {
        io_uring_prep_cancel64(sqe, 0, IORING_ASYNC_CANCEL_ANY);
        sqe->flags |= IOSQE_FIXED_FILE; /* required on every SQE of this ring */
        io_uring_sqe_set_data(sqe, NULL);
    }
    blk_backend_kick(be);
}

unsigned blk_backend_inflight(const struct blk_backend *be)
{
    return be->inflight;
}

void blk_backend_close(struct blk_backend *be, uv_close_cb closed)
{
    if (!be->poll)
        return;
    be->closed = closed;
    be->closing = true;
    blk_backend_reset(be);
    update_ref(be);
    maybe_finish_close(be);
}
