/* blk_backend.c: raw image I/O (preadv/pwritev/fdatasync/fallocate) on libuv's thread pool. */
#include "devices/blk_backend.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

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

static void io_work(uv_work_t *work)
{
    struct blk_io *io = work->data;
    io->req.status = blk_backend_execute(io->be, &io->req);
}

static void io_after(uv_work_t *work, int status)
{
    struct blk_io *io = work->data;
    if (status == UV_ECANCELED)
        io->req.status = VIRTIO_BLK_S_IOERR;
    io->done(io);
}

int blk_backend_submit(uv_loop_t *loop, struct blk_io *io)
{
    io->work.data = io;
    return uv_queue_work(loop, &io->work, io_work, io_after) == 0 ? 0 : -1;
}
