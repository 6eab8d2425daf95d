/* blk_backend.h: raw image file I/O for virtio-blk, executed off the event-loop thread. */
#ifndef COCOON_BLK_BACKEND_H
#define COCOON_BLK_BACKEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "devices/blk_req.h"

/* An open raw image (regular file or block device). Immutable after blk_backend_open, so worker
 * threads may use it concurrently. */
struct blk_backend {
    int fd;
    uint64_t capacity_sectors; /* whole 512-byte sectors; a partial tail sector is not exposed */
    bool readonly;
    bool can_discard; /* fallocate(PUNCH_HOLE) works on this file: offer DISCARD */
};

/* Opens path read-write (locked exclusively) or read-only (shared lock) and probes hole punching.
 * Returns 0, or -1 with one clear line in err. */
int blk_backend_open(struct blk_backend *be, const char *path, bool readonly, char *err,
                     size_t errlen);

/* Closes the image. Safe on a zeroed or closed backend (fd <= 0 ignored only if never opened). */
void blk_backend_close(struct blk_backend *be);

/* Performs one parsed request synchronously and returns its virtio status. IN/OUT loop over short
 * transfers; FLUSH is fdatasync; DISCARD punches holes; WRITE_ZEROES zeroes the range (punching
 * only when the guest allows unmapping). Blocks: call it from a worker thread. */
uint8_t blk_backend_execute(const struct blk_backend *be, const struct blk_request *req);

struct blk_io;
typedef void (*blk_io_done_fn)(struct blk_io *io);

/* One request in flight. The caller owns the memory until done runs (on the loop thread) with
 * req.status set. */
struct blk_io {
    uv_work_t work;
    const struct blk_backend *be;
    struct blk_request req;
    blk_io_done_fn done;
    void *opaque;
};

/* Queues io on libuv's thread pool. Returns 0, or -1 (io->done is not called then). */
int blk_backend_submit(uv_loop_t *loop, struct blk_io *io);

#endif
