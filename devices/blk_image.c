/* blk_image.c: opens, sizes and locks a virtio-blk raw image (loop devices to their backing file).
 */
#include "devices/blk_image.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "devices/blk_req.h"
#include "vmm/base/log.h"

#define MAX_CAPACITY_SECTORS ((uint64_t)INT64_MAX >> BLK_SECTOR_SHIFT)
#define DIO_FALLBACK_ALIGN   4096u /* when the kernel does not report STATX_DIOALIGN */

/* The images this process has open (loop thread only): a second attach of one of them in this VM
 * is named as such; flock alone would call it "another process". */
struct open_image {
    const struct blk_image *img;
    struct open_image *next;
};
static struct open_image *open_images;

static const struct blk_image *find_open(dev_t dev, ino_t ino)
{
    for (struct open_image *o = open_images; o; o = o->next)
        for (unsigned i = 0; i < o->img->nid; i++)
            if (o->img->dev[i] == dev && o->img->ino[i] == ino)
                return o->img;
    return NULL;
}

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

/* O_DIRECT's alignment rules for this file as the kernel reports them (statx, Linux 6.1+). */
static void probe_dio_align(struct blk_image *img)
{
    struct statx sx;
    img->dio_mem_align = img->dio_off_align = DIO_FALLBACK_ALIGN;
    if (statx(img->fd, "", AT_EMPTY_PATH, STATX_DIOALIGN, &sx) == 0 &&
        (sx.stx_mask & STATX_DIOALIGN) && sx.stx_dio_offset_align) {
        img->dio_mem_align = sx.stx_dio_mem_align ? sx.stx_dio_mem_align : 1;
        img->dio_off_align = sx.stx_dio_offset_align;
    }
    if (img->dio_off_align < BLK_SECTOR_SIZE)
        img->dio_off_align = BLK_SECTOR_SIZE;
}

/* A loop device's backing file as the kernel reports it; 1 if found, 0 if not a loop device. */
static int loop_backing_file(const struct stat *st, char *out, size_t cap)
{
    if (!S_ISBLK(st->st_mode))
        return 0;
    char sys[96];
    snprintf(sys, sizeof(sys), "/sys/dev/block/%u:%u/loop/backing_file", major(st->st_rdev),
             minor(st->st_rdev));
    int fd = open(sys, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    ssize_t n = read(fd, out, cap - 1);
    close(fd);
    if (n <= 0)
        return 0;
    out[n] = 0;
    out[strcspn(out, "\n")] = 0;
    return out[0] ? 1 : 0;
}

static int register_id(struct blk_image *img, const struct stat *st, const char *what, char *err,
                       size_t errlen)
{
    const struct blk_image *other = find_open(st->st_dev, st->st_ino);
    if (other && (!img->readonly || !other->readonly)) {
        snprintf(err, errlen,
                 "disk %s: %s is already attached to this VM as disk %s (the same image twice)",
                 img->path, what, other->path);
        return -1;
    }
    img->dev[img->nid] = st->st_dev;
    img->ino[img->nid] = st->st_ino;
    img->nid++;
    return 0;
}

static int lock_fd(int fd, bool readonly)
{
    return flock(fd, (readonly ? LOCK_SH : LOCK_EX) | LOCK_NB);
}

/* Locks a loop device's backing file too: a second VMM on the file, or on another loop device
 * over it, meets the lock. */
static int lock_backing(struct blk_image *img, const struct stat *st, char *err, size_t errlen)
{
    char file[4096];
    if (!loop_backing_file(st, file, sizeof(file)))
        return 0;
    img->backing_fd = open(file, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    struct stat bst;
    if (img->backing_fd < 0 || fstat(img->backing_fd, &bst) < 0 || !S_ISREG(bst.st_mode)) {
        snprintf(err, errlen, "disk %s: cannot open its loop backing file %s to lock it: %s",
                 img->path, file, img->backing_fd < 0 ? strerror(errno) : "not a regular file");
        return -1;
    }
    char what[4200];
    snprintf(what, sizeof(what), "its loop backing file %s", file);
    if (register_id(img, &bst, what, err, errlen) < 0)
        return -1;
    if (lock_fd(img->backing_fd, img->readonly) < 0) {
        snprintf(err, errlen, "disk %s: its loop backing file %s is in use by another process (%s)",
                 img->path, file, strerror(errno));
        return -1;
    }
    return 0;
}

static int open_checked(struct blk_image *img, const char *path, char *err, size_t errlen)
{
    int flags = (img->readonly ? O_RDONLY : O_RDWR) | O_CLOEXEC | O_NONBLOCK;
    img->fd = open(path, flags | (img->direct ? O_DIRECT : 0));
    if (img->fd < 0) {
        if (img->direct && errno == EINVAL)
            snprintf(err, errlen, "disk %s: direct=on: its file system does not support O_DIRECT",
                     path);
        else
            snprintf(err, errlen, "disk %s: cannot open: %s", path, strerror(errno));
        return -1;
    }
    struct stat st;
    uint64_t size = 0;
    if (fstat(img->fd, &st) < 0 || image_size(img->fd, &st, &size) < 0) {
        snprintf(err, errlen, "disk %s: not a regular file or block device", path);
        return -1;
    }
    /* O_NONBLOCK guarded the open against a FIFO; io_uring must not see it (EAGAIN results) */
    int fl = fcntl(img->fd, F_GETFL);
    if (fl < 0 || fcntl(img->fd, F_SETFL, fl & ~O_NONBLOCK) < 0) {
        snprintf(err, errlen, "disk %s: fcntl: %s", path, strerror(errno));
        return -1;
    }
    if (register_id(img, &st, "this image", err, errlen) < 0)
        return -1;
    if (lock_fd(img->fd, img->readonly) < 0) {
        snprintf(err, errlen, "disk %s: in use by another process (%s)", path, strerror(errno));
        return -1;
    }
    if (lock_backing(img, &st, err, errlen) < 0)
        return -1;
    img->capacity_sectors = size >> BLK_SECTOR_SHIFT;
    if (img->capacity_sectors > MAX_CAPACITY_SECTORS)
        img->capacity_sectors = MAX_CAPACITY_SECTORS;
    img->can_discard = !img->readonly && probe_punch_hole(img->fd, &st, size);
    return 0;
}

static int open_buffered_twin(struct blk_image *img, char *err, size_t errlen)
{
    probe_dio_align(img);
    img->buffered_fd = open(img->path, (img->readonly ? O_RDONLY : O_RDWR) | O_CLOEXEC);
    if (img->buffered_fd < 0) {
        snprintf(err, errlen, "disk %s: cannot reopen: %s", img->path, strerror(errno));
        return -1;
    }
    return 0;
}

int blk_image_open(struct blk_image *img, const char *path, bool readonly, bool direct, char *err,
                   size_t errlen)
{
    memset(img, 0, sizeof(*img));
    img->fd = img->buffered_fd = img->backing_fd = -1;
    img->readonly = readonly;
    img->direct = direct;
    struct open_image *entry = calloc(1, sizeof(*entry));
    img->path = strdup(path);
    if (!entry || !img->path) {
        free(entry);
        free(img->path);
        img->path = NULL;
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    if (open_checked(img, path, err, errlen) < 0 ||
        (direct && open_buffered_twin(img, err, errlen) < 0)) {
        free(entry);
        blk_image_close(img);
        return -1;
    }
    entry->img = img;
    entry->next = open_images;
    open_images = entry;
    return 0;
}

void blk_image_close(struct blk_image *img)
{
    for (struct open_image **o = &open_images; *o; o = &(*o)->next) {
        if ((*o)->img == img) {
            struct open_image *dead = *o;
            *o = dead->next;
            free(dead);
            break;
        }
    }
    int *fds[] = {&img->fd, &img->buffered_fd, &img->backing_fd};
    for (unsigned i = 0; i < 3; i++) {
        if (*fds[i] >= 0)
            close(*fds[i]);
        *fds[i] = -1;
    }
    free(img->path);
    img->path = NULL;
    img->nid = 0;
}
