/* blk_backend.c: raw image I/O (preadv/pwritev/fdatasync/fallocate) on dedicated worker threads. */
#include "devices/blk_backend.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vmm/log.h"

#define MAX_CAPACITY_SECTORS ((uint64_t)INT64_MAX >> BLK_SECTOR_SHIFT)

static int image_size(int fd, const struct stat *st, uint64_t *size)
{
    if (S_ISREG(st->st_mode)) {
        *size = (uint64_t)st->st_size;
        return 0;
    }
    if (S_ISBLK(st->st_mode))
        return ioctl(fd, BLKGETSIZE64, size);
    errno = EINVAL;
    return -1;
}

/* Punching a hole past the end of a regular file changes nothing and tells whether it works. */
static bool probe_punch_hole(int fd, const struct stat *st, uint64_t size)
{
    if (!S_ISREG(st->st_mode))
        return false;
    return fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)size, 4096) == 0;
}

int blk_backend_open(struct blk_backend *be, const char *path, bool readonly, char *err,
                     size_t errlen)
{
    memset(be, 0, sizeof(*be));
    be->fd = -1;
    int fd = open(path, (readonly ? O_RDONLY : O_RDWR) | O_CLOEXEC);
    if (fd < 0) {
        snprintf(err, errlen, "disk %s: cannot open: %s", path, strerror(errno));
        return -1;
    }
    struct stat st;
    uint64_t size = 0;
    if (fstat(fd, &st) < 0 || image_size(fd, &st, &size) < 0) {
        snprintf(err, errlen, "disk %s: not a regular file or block device", path);
        close(fd);
        return -1;
    }
    if (flock(fd, (readonly ? LOCK_SH : LOCK_EX) | LOCK_NB) < 0) {
        snprintf(err, errlen, "disk %s: in use by another process (%s)", path, strerror(errno));
        close(fd);
        return -1;
    }
    be->fd = fd;
    be->readonly = readonly;
    be->capacity_sectors = size >> BLK_SECTOR_SHIFT;
    if (be->capacity_sectors > MAX_CAPACITY_SECTORS)
        be->capacity_sectors = MAX_CAPACITY_SECTORS;
    be->can_discard = !readonly && probe_punch_hole(fd, &st, size);
    return 0;
}

void blk_backend_close(struct blk_backend *be)
{
    if (be->fd >= 0)
        close(be->fd);
    be->fd = -1;
}

/* Transfers all of iov at off, retrying short transfers and EINTR. Returns 0 or -1. */
static int transfer_all(int fd, const struct iovec *src, unsigned n, uint64_t off, bool write)
{
    struct iovec iov[BLK_MAX_DATA_SEGS];
    if (n > BLK_MAX_DATA_SEGS)
        return -1;
    memcpy(iov, src, n * sizeof(*iov));
    struct iovec *cur = iov;
    while (n > 0) {
        ssize_t r =
            write ? pwritev(fd, cur, (int)n, (off_t)off) : preadv(fd, cur, (int)n, (off_t)off);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return -1; /* error, or end of file (the image shrank under us) */
        off += (uint64_t)r;
        size_t done = (size_t)r;
        while (n > 0 && done >= cur->iov_len) {
            done -= cur->iov_len;
            cur++;
            n--;
        }
        if (n > 0) {
            cur->iov_base = (uint8_t *)cur->iov_base + done;
            cur->iov_len -= done;
        }
    }
    return 0;
}

static int write_zero_bytes(int fd, uint64_t off, uint64_t len)
{
    static const uint8_t zeroes[64 * 1024];
    while (len > 0) {
        size_t chunk = len < sizeof(zeroes) ? (size_t)len : sizeof(zeroes);
        /* pwritev, not pwrite: the worker threads' seccomp allow-list has only the v-calls */
        struct iovec iov = {.iov_base = (void *)zeroes, .iov_len = chunk};
        ssize_t r = pwritev(fd, &iov, 1, (off_t)off);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return -1;
        off += (uint64_t)r;
        len -= (uint64_t)r;
    }
    return 0;
}

static int zero_range(const struct blk_backend *be, const struct blk_range *r)
{
    if (r->len == 0)
        return 0;
    if (r->unmap && be->can_discard)
        return fallocate(be->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)r->offset,
                         (off_t)r->len);
    if (fallocate(be->fd, FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE, (off_t)r->offset,
                  (off_t)r->len) == 0)
        return 0;
    return write_zero_bytes(be->fd, r->offset, r->len);
}

static int discard_range(const struct blk_backend *be, const struct blk_range *r)
{
    if (r->len == 0)
        return 0;
    return fallocate(be->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)r->offset,
                     (off_t)r->len);
}

uint8_t blk_backend_execute(const struct blk_backend *be, const struct blk_request *req)
{
    int rc = 0;
    switch (req->type) {
    case VIRTIO_BLK_T_IN:
        rc = transfer_all(be->fd, req->iov, req->niov, req->offset, false);
        break;
    case VIRTIO_BLK_T_OUT:
        rc = be->readonly ? -1 : transfer_all(be->fd, req->iov, req->niov, req->offset, true);
        break;
    case VIRTIO_BLK_T_FLUSH:
        rc = be->readonly ? 0 : fdatasync(be->fd);
        break;
    case VIRTIO_BLK_T_DISCARD:
        if (be->readonly || !be->can_discard)
            return VIRTIO_BLK_S_UNSUPP;
        for (unsigned i = 0; i < req->nrange && rc == 0; i++)
            rc = discard_range(be, &req->range[i]);
        break;
    case VIRTIO_BLK_T_WRITE_ZEROES:
        if (be->readonly)
            return VIRTIO_BLK_S_IOERR;
        for (unsigned i = 0; i < req->nrange && rc == 0; i++)
            rc = zero_range(be, &req->range[i]);
        break;
    default:
        return VIRTIO_BLK_S_UNSUPP;
    }
    return rc == 0 ? VIRTIO_BLK_S_OK : VIRTIO_BLK_S_IOERR;
}

/* ---- Worker threads ---- */

static struct {
    pthread_mutex_t lock;
    pthread_cond_t wake; /* workers: work queued or a run-on-each call */
    pthread_cond_t ran;  /* run_on_each caller: a worker ran the function */
    struct blk_io *head; /* queued requests, FIFO */
    struct blk_io **tail;
    unsigned nthreads;
    pthread_t threads[BLK_IO_THREADS];
    bool stopping;             /* blk_io_workers_stop: finish the queue, then exit */
    int (*each_fn)(void *arg); /* the pending run-on-each call */
    void *each_arg;
    unsigned each_gen, each_done, each_failed;
} workers = {.lock = PTHREAD_MUTEX_INITIALIZER,
             .wake = PTHREAD_COND_INITIALIZER,
             .ran = PTHREAD_COND_INITIALIZER};

/* Worker side: pushes the executed run (rev: newest first, oldest = its last element; n
 * requests of one channel) onto the channel's completion stack without a lock, writes the eventfd
 * if the loop has not been woken since it last looked (one wake-up per batch), and only then
 * releases the requests under ch->lock, so a reset or destroy waiting for idle races neither the
 * eventfd write nor the worker's last touch of the channel. */
static void post_completions(struct blk_io *rev, struct blk_io *oldest, unsigned n)
{
    struct blk_io_chan *ch = rev->chan;
    struct blk_io *head = __atomic_load_n(&ch->done_head, __ATOMIC_RELAXED);
    do {
        oldest->next = head;
    } while (!__atomic_compare_exchange_n(&ch->done_head, &head, rev, true, __ATOMIC_RELEASE,
                                          __ATOMIC_RELAXED));
    if (!__atomic_exchange_n(&ch->signalled, true, __ATOMIC_ACQ_REL)) {
        uint64_t one = 1;
        while (write(ch->efd, &one, sizeof(one)) < 0 && errno == EINTR) {
        }
    }
    /* Under the lock: a waiter that sees executing == 0 may destroy the channel (and free its
     * device) at once, so the worker must be done with ch before the count can read zero. */
    pthread_mutex_lock(&ch->lock);
    if (__atomic_sub_fetch(&ch->executing, n, __ATOMIC_ACQ_REL) == 0)
        pthread_cond_broadcast(&ch->idle); /* a reset may go on: no request touches guest RAM */
    pthread_mutex_unlock(&ch->lock);
}

/* Executes a taken list in order; each run of requests of one channel is posted back at once. */
static void execute_list(struct blk_io *io)
{
    while (io) {
        struct blk_io_chan *ch = io->chan;
        struct blk_io *rev = NULL, *oldest = io;
        unsigned n = 0;
        while (io && io->chan == ch) {
            struct blk_io *next = io->next;
            io->req.status = blk_backend_execute(io->be, &io->req);
            io->next = rev;
            rev = io;
            n++;
            io = next;
        }
        post_completions(rev, oldest, n);
    }
}

/* Called with workers.lock held: runs a pending run-on-each call once on this thread. */
static void run_each_locked(unsigned *seen_gen)
{
    *seen_gen = workers.each_gen;
    int (*fn)(void *) = workers.each_fn;
    void *arg = workers.each_arg;
    pthread_mutex_unlock(&workers.lock);
    int rc = fn(arg);
    pthread_mutex_lock(&workers.lock);
    workers.each_done++;
    workers.each_failed += rc != 0;
    pthread_cond_broadcast(&workers.ran);
    /* all at the same time: no thread may take a second turn before every one had its own */
    while (workers.each_done < workers.nthreads && workers.each_gen == *seen_gen)
        pthread_cond_wait(&workers.ran, &workers.lock);
}

static void *worker_main(void *unused)
{
    (void)unused;
    unsigned seen_gen = 0;
    pthread_mutex_lock(&workers.lock);
    for (;;) {
        if (workers.each_gen != seen_gen) {
            run_each_locked(&seen_gen);
            continue;
        }
        if (!workers.head) {
            if (workers.stopping)
                break;
            pthread_cond_wait(&workers.wake, &workers.lock);
            continue;
        }
        struct blk_io *list = workers.head; /* take everything queued: one hand-off per batch */
        workers.head = NULL;
        workers.tail = &workers.head;
        pthread_mutex_unlock(&workers.lock);
        execute_list(list);
        pthread_mutex_lock(&workers.lock);
    }
    pthread_mutex_unlock(&workers.lock);
    return NULL;
}

int blk_io_workers_start(char *err, size_t errlen)
{
    pthread_mutex_lock(&workers.lock);
    if (!workers.tail)
        workers.tail = &workers.head;
    if (workers.nthreads == BLK_IO_THREADS) { /* the usual case: no system call at all */
        pthread_mutex_unlock(&workers.lock);
        return 0;
    }
    int rc = 0;
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old); /* inherited: signals go to the loop thread */
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, 1u << 20);
    while (workers.nthreads < BLK_IO_THREADS) {
        pthread_t t;
        rc = pthread_create(&t, &attr, worker_main, NULL);
        if (rc != 0) {
            snprintf(err, errlen, "cannot start the block I/O threads: %s", strerror(rc));
            break;
        }
        pthread_setname_np(t, "blk-io");
        workers.threads[workers.nthreads++] = t;
    }
    pthread_attr_destroy(&attr);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    bool ok = workers.nthreads > 0;
    pthread_mutex_unlock(&workers.lock);
    return ok ? 0 : -1;
}

void blk_io_workers_stop(void)
{
    pthread_mutex_lock(&workers.lock);
    workers.stopping = true;
    pthread_cond_broadcast(&workers.wake);
    unsigned n = workers.nthreads;
    pthread_mutex_unlock(&workers.lock);
    for (unsigned i = 0; i < n; i++)
        pthread_join(workers.threads[i], NULL);
    pthread_mutex_lock(&workers.lock);
    workers.nthreads = 0;
    workers.stopping = false;
    pthread_mutex_unlock(&workers.lock);
}

int blk_io_workers_run_on_each(int (*fn)(void *arg), void *arg)
{
    pthread_mutex_lock(&workers.lock);
    workers.each_fn = fn;
    workers.each_arg = arg;
    workers.each_done = workers.each_failed = 0;
    workers.each_gen++;
    pthread_cond_broadcast(&workers.wake);
    while (workers.each_done < workers.nthreads)
        pthread_cond_wait(&workers.ran, &workers.lock);
    bool ok = workers.each_failed == 0;
    pthread_mutex_unlock(&workers.lock);
    return ok ? 0 : -1;
}

/* ---- Per-disk completion channel (loop thread) ---- */

/* Keeps the loop alive exactly while requests are outstanding. */
static void update_ref(struct blk_io_chan *ch)
{
    if (ch->outstanding)
        uv_ref((uv_handle_t *)&ch->poll);
    else
        uv_unref((uv_handle_t *)&ch->poll);
}

/* Takes the completion stack (newest first) and returns it oldest first. */
static struct blk_io *take_completions(struct blk_io_chan *ch)
{
    __atomic_store_n(&ch->signalled, false, __ATOMIC_RELEASE); /* before the take: no lost wake */
    struct blk_io *io = __atomic_exchange_n(&ch->done_head, NULL, __ATOMIC_ACQUIRE), *list = NULL;
    while (io) {
        struct blk_io *next = io->next;
        io->next = list;
        list = io;
        io = next;
    }
    return list;
}

static void deliver(struct blk_io_chan *ch, struct blk_io *io)
{
    while (io) {
        struct blk_io *next = io->next;
        ch->outstanding--;
        ch->done(io, ch->opaque); /* may submit more */
        io = next;
    }
}

static void on_completions(uv_poll_t *poll, int status, int events)
{
    struct blk_io_chan *ch = poll->data;
    uint64_t count;
    if (read(ch->efd, &count, sizeof(count)) < 0 && errno != EAGAIN && errno != EINTR)
        log_warn("blk: completion eventfd: %s", strerror(errno));
    deliver(ch, take_completions(ch));
    ch->batch_done(ch->opaque);
    update_ref(ch);
}

int blk_io_chan_init(struct blk_io_chan *ch, uv_loop_t *loop, blk_io_done_fn done,
                     blk_io_batch_fn batch_done, void *opaque, char *err, size_t errlen)
{
    memset(ch, 0, sizeof(*ch));
    ch->done = done;
    ch->batch_done = batch_done;
    ch->opaque = opaque;
    if (blk_io_workers_start(err, errlen) < 0)
        return -1;
    ch->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (ch->efd < 0) {
        snprintf(err, errlen, "blk: eventfd: %s", strerror(errno));
        return -1;
    }
    if (uv_poll_init(loop, &ch->poll, ch->efd) != 0 ||
        uv_poll_start(&ch->poll, UV_READABLE, on_completions) != 0) {
        snprintf(err, errlen, "blk: cannot watch the completion eventfd");
        close(ch->efd); /* a failed uv_poll_init leaves no handle behind; a started one is leaked */
        return -1;
    }
    ch->poll.data = ch;
    pthread_mutex_init(&ch->lock, NULL);
    pthread_cond_init(&ch->idle, NULL);
    update_ref(ch);
    return 0;
}

void blk_io_submit(struct blk_io_chan *ch, struct blk_io *first)
{
    unsigned n = 0;
    struct blk_io *last = first;
    for (struct blk_io *io = first; io; io = io->next) {
        io->chan = ch;
        last = io;
        n++;
    }
    __atomic_add_fetch(&ch->executing, n, __ATOMIC_ACQ_REL);
    ch->outstanding += n;
    update_ref(ch);
    pthread_mutex_lock(&workers.lock);
    *workers.tail = first;
    workers.tail = &last->next;
    pthread_mutex_unlock(&workers.lock);
    pthread_cond_signal(&workers.wake); /* after unlocking: the woken worker need not wait for it */
}

void blk_io_chan_wait_idle(struct blk_io_chan *ch)
{
    pthread_mutex_lock(&ch->lock);
    while (__atomic_load_n(&ch->executing, __ATOMIC_ACQUIRE))
        pthread_cond_wait(&ch->idle, &ch->lock);
    pthread_mutex_unlock(&ch->lock);
}

void blk_io_chan_close(struct blk_io_chan *ch, uv_close_cb closed)
{
    blk_io_chan_wait_idle(ch);
    deliver(ch, take_completions(ch));
    uv_close((uv_handle_t *)&ch->poll, closed);
    close(ch->efd);
    ch->efd = -1;
    pthread_mutex_destroy(&ch->lock);
    pthread_cond_destroy(&ch->idle);
}
