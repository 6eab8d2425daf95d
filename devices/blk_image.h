/* blk_image.h: opening a virtio-blk raw image: access mode, O_DIRECT alignment, size, locking
 * (through a loop device to its backing file too) and the conflicts it names. */
#ifndef COCOON_BLK_IMAGE_H
#define COCOON_BLK_IMAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* An open raw image (regular file or block device). Loop thread only. */
struct blk_image {
    int fd;          /* the image; O_DIRECT when direct */
    int buffered_fd; /* direct only: the same image through the page cache, for requests O_DIRECT
                      * cannot take (unaligned offset, a large unaligned buffer); else -1 */
    int backing_fd;  /* a loop device's backing file, held open for its lock; else -1 */
    uint64_t capacity_sectors; /* whole 512-byte sectors; a partial tail sector is not exposed */
    bool readonly;
    bool direct;
    bool can_discard;       /* fallocate(PUNCH_HOLE) works on this file: offer DISCARD */
    unsigned dio_mem_align; /* direct: buffer address/length alignment O_DIRECT needs */
    unsigned dio_off_align; /* direct: file offset/length alignment O_DIRECT needs */
    dev_t dev[2];           /* identities registered against a second attach in this process */
    ino_t ino[2];
    unsigned nid;
    char *path;
};

/* Opens path read-write (exclusive lock) or read-only (shared lock), with O_DIRECT when direct.
 * A loop block device's backing file (/sys/dev/block/M:m/loop/backing_file) is locked too, so
 * the file and its loop device cannot be written by two VMMs at once. The same image (or its
 * loop device) attached twice to this VM is refused as such, not as "another process". Returns
 * 0, or -1 with one clear line in err. */
int blk_image_open(struct blk_image *img, const char *path, bool readonly, bool direct, char *err,
                   size_t errlen);

/* Closes the image and drops its locks and registration. Safe on a closed image. */
void blk_image_close(struct blk_image *img);

#endif
