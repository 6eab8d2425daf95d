/* blk_chan_teardown.c: closing a completion channel waits until no worker still touches it. */
#include <dlfcn.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "devices/blk_backend.h"

/* The test interposes pthread_mutex_lock: a worker thread taking the channel's lock is held back
 * for a while first, which widens the window between a worker posting its last completion and its
 * last touch of the channel. A lock taken after blk_io_chan_close returned is a use after close
 * (the embedding device is freed right after that). */
static pthread_mutex_t *slow_lock;
static pthread_t main_thread;
static bool chan_closed;
static bool late_lock;

int pthread_mutex_lock(pthread_mutex_t *m)
{
    static int (*real)(pthread_mutex_t *);
    if (!real)
        real = (int (*)(pthread_mutex_t *))dlsym(RTLD_NEXT, "pthread_mutex_lock");
    if (m == __atomic_load_n(&slow_lock, __ATOMIC_ACQUIRE) &&
        !pthread_equal(pthread_self(), main_thread)) {
        usleep(100 * 1000);
        if (__atomic_load_n(&chan_closed, __ATOMIC_ACQUIRE))
            __atomic_store_n(&late_lock, true, __ATOMIC_RELEASE);
    }
    return real(m);
}

static unsigned delivered;

static void on_done(struct blk_io *io, void *opaque)
{
    (void)io;
    (void)opaque;
    delivered++;
}

static void on_batch(void *opaque)
{
    (void)opaque;
}

static void on_closed(uv_handle_t *h)
{
    (void)h;
}

static void close_waits_for_the_last_worker(void **state)
{
    (void)state;
    main_thread = pthread_self();
    uv_loop_t loop;
    assert_int_equal(uv_loop_init(&loop), 0);
    struct blk_io_chan *ch = calloc(1, sizeof(*ch));
    assert_non_null(ch);
    char err[256];
    assert_int_equal(blk_io_chan_init(ch, &loop, on_done, on_batch, NULL, err, sizeof(err)), 0);
    __atomic_store_n(&slow_lock, &ch->lock, __ATOMIC_RELEASE);

    struct blk_backend be = {.fd = -1, .readonly = true}; /* FLUSH on read-only: no I/O */
    struct blk_io io;
    memset(&io, 0, sizeof(io));
    io.be = &be;
    io.req.type = VIRTIO_BLK_T_FLUSH;
    blk_io_submit(ch, &io);

    /* Wait until the worker has posted the completion, then close as a device destroy does. */
    while (!__atomic_load_n(&ch->done_head, __ATOMIC_ACQUIRE))
        usleep(1000);
    usleep(20 * 1000);
    blk_io_chan_close(ch, on_closed);
    __atomic_store_n(&chan_closed, true, __ATOMIC_RELEASE);
    assert_int_equal(delivered, 1);

    usleep(250 * 1000); /* let a worker that was still on its way finish */
    __atomic_store_n(&slow_lock, NULL, __ATOMIC_RELEASE);
    assert_false(__atomic_load_n(&late_lock, __ATOMIC_ACQUIRE));

    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&loop), 0);
    blk_io_workers_stop();
    free(ch);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(close_waits_for_the_last_worker),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
