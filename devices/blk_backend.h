/* blk_backend.h: raw image file I/O for virtio-blk, executed on dedicated I/O worker threads. */
#ifndef COCOON_BLK_BACKEND_H
#define COCOON_BLK_BACKEND_H

#include <stdbool.h>
#include <stddef.h>
#include <pthread.h>
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

/* ---- Block I/O workers ----
 * A small fixed set of dedicated threads (BLK_IO_THREADS, shared by every disk of the process)
 * executes requests. The loop thread hands over a whole batch (every request popped in one queue
 * notification) with one wake-up; a worker takes everything queued, executes it and posts the
 * completions back to each disk's channel, waking the loop once per batch (an eventfd watched by
 * a uv_poll). Nothing blocks the loop thread. */
#define BLK_IO_THREADS 2

struct blk_io_chan;

/* One request in flight. The caller owns the memory until the channel's done callback runs (on
 * the loop thread) with req.status set. */
struct blk_io {
    struct blk_io *next; /* batch / completion list link */
    struct blk_io_chan *chan;
    const struct blk_backend *be;
    struct blk_request req;
};

typedef void (*blk_io_done_fn)(struct blk_io *io, void *opaque);
typedef void (*blk_io_batch_fn)(void *opaque);

/* One disk's completion channel (embed it; the fields are private to blk_backend.c). */
struct blk_io_chan {
    uv_poll_t poll; /* on efd; referenced only while requests are outstanding */
    int efd;
    blk_io_done_fn done;
    blk_io_batch_fn batch_done;
    void *opaque;
    unsigned outstanding; /* submitted, not yet delivered (loop thread only) */
    /* shared with the workers (atomics; the lock and cond only to wait for executing == 0) */
    unsigned executing;       /* submitted, not yet posted back */
    struct blk_io *done_head; /* posted back, not yet delivered: a stack, newest first */
    bool signalled;           /* efd written since the loop last took the stack */
    pthread_mutex_t lock;
    pthread_cond_t idle;
};

/* Starts the worker threads if they are not running yet (idempotent; call it on the loop thread).
 * They block every signal. Returns 0, or -1 with err. */
int blk_io_workers_start(char *err, size_t errlen);

/* Lets the block I/O threads finish what is queued, then joins them (process shutdown, after
 * every disk is gone). blk_io_workers_start may start them again afterwards. */
void blk_io_workers_stop(void);

/* Runs fn(arg) once on every worker thread, all at the same time, and returns when each has run
 * it: 0 if every call returned 0, else -1 (used to install the workers' seccomp filter). */
int blk_io_workers_run_on_each(int (*fn)(void *arg), void *arg);

/* Sets up ch on loop (an eventfd + uv_poll) and starts the workers. On the loop thread, done runs
 * for every completed request and then batch_done once for the requests delivered together (e.g.
 * to raise one interrupt per batch). Returns 0, or -1 with err. */
int blk_io_chan_init(struct blk_io_chan *ch, uv_loop_t *loop, blk_io_done_fn done,
                     blk_io_batch_fn batch_done, void *opaque, char *err, size_t errlen);

/* Queues the list first -> next ... (at least one request) for the workers with one wake-up. */
void blk_io_submit(struct blk_io_chan *ch, struct blk_io *first);

/* Blocks until no request of ch is executing (completions may still wait to be delivered). */
void blk_io_chan_wait_idle(struct blk_io_chan *ch);

/* Waits until idle, hands every undelivered completion to done (synchronously; no batch_done),
 * then closes the
 * poll handle; closed(handle) runs on the loop once it is closed (it may free the memory). */
void blk_io_chan_close(struct blk_io_chan *ch, uv_close_cb closed);

#endif
