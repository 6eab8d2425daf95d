/* blk_backend.h: one disk's asynchronous image I/O on its own io_uring, completed on the libuv
 * loop through the ring's eventfd. */
#ifndef COCOON_BLK_BACKEND_H
#define COCOON_BLK_BACKEND_H

#include <liburing.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "devices/blk_image.h"
#include "devices/blk_req.h"
#include "vmm/base/log.h"

/* Largest request bounced through an aligned host buffer on a direct=on disk when the guest's
 * buffers are not aligned; larger unaligned requests go through the page cache (buffered_fd). */
#define BLK_BOUNCE_MAX (1u << 20)

struct blk_backend;

/* One request in flight. The caller owns the memory until its done callback runs (on the loop
 * thread) with req.status set; it must not touch the fields after `req`. */
struct blk_io {
    struct blk_io *next; /* the caller's list link (free lists, batches) */
    struct blk_request req;
    /* private to blk_backend.c */
    struct blk_backend *be;
    unsigned iov_at;   /* IN/OUT: first unfinished segment of req.iov (short transfers) */
    unsigned range_at; /* DISCARD/WRITE_ZEROES: current range */
    uint64_t done;     /* bytes finished (IN/OUT) or of the current range (zero fill) */
    void *bounce;      /* direct=on with unaligned guest buffers: aligned copy */
    struct iovec biov; /* what is submitted when bounced or zero-filling */
    uint8_t op;        /* the io_uring operation in flight */
    unsigned gen;      /* the backend's reset generation it was submitted in */
    bool zero_fill;    /* WRITE_ZEROES: writing zero bytes (no ZERO_RANGE on this file) */
    uint8_t file;      /* registered file slot of a read or write (direct=on: which path) */
};

typedef void (*blk_io_done_fn)(struct blk_io *io, void *opaque);
typedef void (*blk_io_batch_fn)(void *opaque);

/* One disk: its image and its ring (the fields are private to blk_backend.c). */
struct blk_backend {
    struct blk_image img;
    struct io_uring ring;
    bool ring_ok;
    bool files_ok;   /* the image is registered with the ring (unregistered at close) */
    int efd;         /* the ring's completion eventfd, watched by poll */
    uv_poll_t *poll; /* its own allocation: a handle closed after a failed open outlives be */
    blk_io_done_fn done;
    blk_io_batch_fn batch_done;
    void *opaque;
    unsigned inflight;     /* requests handed in, done not yet called */
    unsigned max_inflight; /* what the caller may hand in at once (counted in the io-wq limit) */
    unsigned queued;       /* SQEs prepared, not yet submitted */
    unsigned reaping;      /* nesting depth of the completion loop */
    bool closing;          /* blk_backend_close called: free once inflight reaches 0 */
    unsigned gen;          /* bumped by every reset: older requests take no further step */
    struct blk_io *parked; /* could not get an SQE: completed with IOERR by the next reap */
    struct log_ratelimit rl;
    bool no_zero_range;         /* ZERO_RANGE refused once: zero-fill by writes */
    bool flush_failed;          /* sticky: a flush failed, every later flush fails until reset */
    int test_flush_errno;       /* tests: completes every flush as if it failed with this errno */
    bool test_hold_completions; /* tests: completions stay in the ring (slow I/O) until cleared
                                 * and blk_backend_kick is called */
    uv_close_cb closed;
};

/* Opens the image (blk_image_open) and sets up its ring on loop: io_uring with room for
 * max_inflight requests, restricted (IORING_REGISTER_RESTRICTIONS) to READV, WRITEV, FSYNC,
 * FALLOCATE and ASYNC_CANCEL on the image's registered files only, its eventfd watched by a
 * uv_poll. done runs on the loop for every finished request, then batch_done once per batch of
 * completions. If io_uring is unavailable (old kernel, kernel.io_uring_disabled, seccomp,
 * RLIMIT_MEMLOCK) the disk is refused with a message saying so; there is no thread-pool path.
 * Returns 0, or -1 with one clear line in err and nothing left open. */
int blk_backend_open(struct blk_backend *be, const char *path, bool readonly, bool direct,
                     unsigned max_inflight, uv_loop_t *loop, blk_io_done_fn done,
                     blk_io_batch_fn batch_done, void *opaque, char *err, size_t errlen);

/* Starts one parsed request (req filled by blk_req_parse). No system call: the operation is
 * queued on the ring until blk_backend_kick. */
void blk_backend_submit(struct blk_backend *be, struct blk_io *io);

/* Submits what is queued with one io_uring_enter, then delivers the completions that are already
 * there (page-cache hits complete during the submit) without waiting; the rest arrive through
 * the eventfd. Call it once per batch. Returns after calling done for each delivered request, but
 * not batch_done (the caller signals its own batch). */
void blk_backend_kick(struct blk_backend *be);

/* Device reset: asks the kernel to cancel every request of this disk that has not started and
 * clears the sticky flush error. Does not wait: requests that were running still complete (the
 * caller drops their results). */
void blk_backend_reset(struct blk_backend *be);

/* Requests handed in and not yet completed. */
unsigned blk_backend_inflight(const struct blk_backend *be);

/* Cancels what is queued and returns at once: the ring, the image and its locks are released on
 * the loop once the last request completed (done is no longer called), then closed(handle) runs
 * with handle->data == opaque (the handle is freed after it returns). Safe on a backend whose open
 * failed (closed is not called). */
void blk_backend_close(struct blk_backend *be, uv_close_cb closed);

#endif
