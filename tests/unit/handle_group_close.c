/* handle_group_close.c: devices/handle_group.c on a real libuv loop: an owner with timers, pipes,
 * a poll and an async is freed exactly once, after the last close callback; never-initialised,
 * failed-init and already-closing handles are skipped; zero handles finish at seal (issue 15).
 * Owners are heap objects freed in the done callback, so a touch after done is a use-after-free
 * that valgrind (tools/test.sh stage valgrind) or ASan reports. */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cmocka.h>

#include "devices/handle_group.h"

#define MAX_EVENTS 16

/* What happened, in order: 'e' a per-handle hook, 'D' the done callback. */
static char events[MAX_EVENTS + 1];
static unsigned nevents;
static unsigned done_calls;

static void note(char c)
{
    if (nevents < MAX_EVENTS)
        events[nevents++] = c;
    events[nevents] = '\0';
}

struct owner {
    struct handle_group handles;
    uv_timer_t t1, t2;
    uv_pipe_t p1, p2;
    uv_poll_t poll;
    uv_async_t async;
    int sv[2];
};

static void owner_done(void *opaque)
{
    struct owner *o = opaque;
    note('D');
    done_calls++;
    for (int i = 0; i < 2; i++)
        if (o->sv[i] >= 0)
            close(o->sv[i]);
    free(o);
}

static void owner_each(uv_handle_t *h, void *opaque)
{
    note('e');
}

static void never_cb(uv_timer_t *t)
{
    fail_msg("a timer of a closed handle fired");
}

static void async_cb(uv_async_t *a) {}

static struct owner *owner_new(void)
{
    struct owner *o = calloc(1, sizeof(*o));
    assert_non_null(o);
    o->sv[0] = o->sv[1] = -1;
    handle_group_init(&o->handles, owner_done, o);
    return o;
}

static void reset_events(void)
{
    nevents = 0;
    events[0] = '\0';
    done_calls = 0;
}

static int loop_setup(void **state)
{
    uv_loop_t *loop = malloc(sizeof(*loop));
    assert_non_null(loop);
    assert_int_equal(uv_loop_init(loop), 0);
    reset_events();
    *state = loop;
    return 0;
}

/* Every handle the group closed has been released: the loop closes cleanly. */
static int loop_teardown(void **state)
{
    uv_loop_t *loop = *state;
    uv_run(loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(loop), 0);
    free(loop);
    return 0;
}

/* Timers (one running), two pipes on a socketpair, a poll and an async: done runs once, only after
 * every close callback, and never from inside handle_group_close or handle_group_seal. */
static void timers_pipes_poll_async_freed_once(void **state)
{
    uv_loop_t *loop = *state;
    struct owner *o = owner_new();
    handle_group_on_each(&o->handles, owner_each);
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, o->sv), 0);
    assert_int_equal(uv_timer_init(loop, &o->t1), 0);
    assert_int_equal(uv_timer_init(loop, &o->t2), 0);
    assert_int_equal(uv_timer_start(&o->t1, never_cb, 0, 0), 0);
    assert_int_equal(uv_pipe_init(loop, &o->p1, 0), 0);
    assert_int_equal(uv_pipe_init(loop, &o->p2, 0), 0);
    assert_int_equal(uv_pipe_open(&o->p1, dup(o->sv[0])), 0);
    assert_int_equal(uv_pipe_open(&o->p2, dup(o->sv[1])), 0);
    int pfd = dup(o->sv[0]);
    assert_int_equal(uv_poll_init(loop, &o->poll, pfd), 0);
    assert_int_equal(uv_async_init(loop, &o->async, async_cb), 0);
    assert_int_equal(uv_async_send(&o->async), 0);

    struct handle_group *g = &o->handles;
    assert_true(handle_group_close(g, (uv_handle_t *)&o->t1));
    assert_true(handle_group_close(g, (uv_handle_t *)&o->t2));
    assert_true(handle_group_close(g, (uv_handle_t *)&o->p1));
    assert_true(handle_group_close(g, (uv_handle_t *)&o->p2));
    assert_true(handle_group_close(g, (uv_handle_t *)&o->poll));
    assert_true(handle_group_close(g, (uv_handle_t *)&o->async));
    handle_group_seal(g);
    assert_int_equal(done_calls, 0); /* the callbacks have not run: the owner must live on */
    uv_run(loop, UV_RUN_DEFAULT);
    close(pfd);
    assert_int_equal(done_calls, 1);
    assert_string_equal(events, "eeeeeeD");
}

/* A handle never initialised (zeroed) and one whose init failed are skipped, not counted: done
 * runs after the one real close instead of waiting forever. */
static void never_initialised_handles_skipped(void **state)
{
    uv_loop_t *loop = *state;
    struct owner *o = owner_new();
    int file = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
    assert_true(file >= 0);
    assert_int_not_equal(uv_poll_init(loop, &o->poll, file), 0); /* epoll refuses a regular file */
    close(file);
    assert_int_equal(uv_timer_init(loop, &o->t1), 0);

    assert_false(handle_group_close(&o->handles, (uv_handle_t *)&o->t2));   /* never initialised */
    assert_false(handle_group_close(&o->handles, (uv_handle_t *)&o->poll)); /* init failed */
    assert_false(handle_group_close(&o->handles, NULL));
    assert_true(handle_group_close(&o->handles, (uv_handle_t *)&o->t1));
    handle_group_seal(&o->handles);
    assert_int_equal(done_calls, 0);
    uv_run(loop, UV_RUN_DEFAULT);
    assert_int_equal(done_calls, 1);
}

/* Nothing closed: done runs inside handle_group_seal (documented), exactly once. */
static void zero_handles_done_at_seal(void **state)
{
    uv_loop_t *loop = *state;
    struct owner *o = owner_new();
    handle_group_seal(&o->handles);
    assert_int_equal(done_calls, 1);
    uv_run(loop, UV_RUN_DEFAULT);
    assert_int_equal(done_calls, 1);
}

static unsigned foreign_closed;
static void foreign_close_cb(uv_handle_t *h)
{
    foreign_closed++;
}

/* A handle already closing (by someone else, or twice through the group) is counted once: the
 * foreign close callback still runs, and done does not wait for a callback that will not come. */
static void already_closing_counted_once(void **state)
{
    uv_loop_t *loop = *state;
    struct owner *o = owner_new();
    handle_group_on_each(&o->handles, owner_each);
    foreign_closed = 0;
    assert_int_equal(uv_timer_init(loop, &o->t1), 0);
    assert_int_equal(uv_timer_init(loop, &o->t2), 0);
    uv_close((uv_handle_t *)&o->t1, foreign_close_cb);

    assert_false(handle_group_close(&o->handles, (uv_handle_t *)&o->t1));
    assert_true(handle_group_close(&o->handles, (uv_handle_t *)&o->t2));
    assert_false(handle_group_close(&o->handles, (uv_handle_t *)&o->t2));
    assert_int_equal(o->handles.pending, 1);
    uv_run(loop, UV_RUN_NOWAIT);
    assert_int_equal(foreign_closed, 1);
    assert_int_equal(done_calls, 0); /* not sealed yet */
    handle_group_seal(&o->handles);
    assert_int_equal(done_calls, 1); /* drained before sealing: done at seal */
    assert_string_equal(events, "eD");
}

/* A close issued after the seal while another is pending joins the count; a second seal is
 * refused; done still runs once, after the later close. */
static void close_after_seal_and_second_seal(void **state)
{
    uv_loop_t *loop = *state;
    struct owner *o = owner_new();
    handle_group_on_each(&o->handles, owner_each);
    assert_int_equal(uv_timer_init(loop, &o->t1), 0);
    assert_int_equal(uv_timer_init(loop, &o->t2), 0);
    assert_true(handle_group_close(&o->handles, (uv_handle_t *)&o->t1));
    handle_group_seal(&o->handles);
    assert_true(handle_group_close(&o->handles, (uv_handle_t *)&o->t2));
    handle_group_seal(&o->handles);
    assert_int_equal(done_calls, 0);
    uv_run(loop, UV_RUN_DEFAULT);
    assert_int_equal(done_calls, 1);
    assert_string_equal(events, "eeD");
}

/* A group that outlives its closes (a server closing connections one by one) finishes only when
 * sealed, however often the count touched zero before. */
static void drained_group_waits_for_seal(void **state)
{
    uv_loop_t *loop = *state;
    struct owner *o = owner_new();
    for (int round = 0; round < 3; round++) {
        assert_int_equal(uv_timer_init(loop, &o->t1), 0);
        assert_true(handle_group_close(&o->handles, (uv_handle_t *)&o->t1));
        uv_run(loop, UV_RUN_DEFAULT);
        assert_int_equal(o->handles.pending, 0);
        assert_int_equal(done_calls, 0);
    }
    handle_group_seal(&o->handles);
    assert_int_equal(done_calls, 1);
}

static void count_done(void *opaque)
{
    done_calls++;
}

/* A group whose done frees nothing (the group outlives it): a second seal and a close after done
 * are refused, so done never runs twice and the handle is left to its owner. */
static void done_once_when_misused(void **state)
{
    uv_loop_t *loop = *state;
    struct handle_group g;
    uv_timer_t t;
    memset(&t, 0, sizeof(t));
    handle_group_init(&g, count_done, NULL);
    handle_group_seal(&g);
    handle_group_seal(&g);
    assert_int_equal(done_calls, 1);
    assert_int_equal(uv_timer_init(loop, &t), 0);
    assert_false(handle_group_close(&g, (uv_handle_t *)&t));
    assert_false(uv_is_closing((uv_handle_t *)&t));
    uv_close((uv_handle_t *)&t, NULL);
    uv_run(loop, UV_RUN_DEFAULT);
    assert_int_equal(done_calls, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(timers_pipes_poll_async_freed_once, loop_setup,
                                        loop_teardown),
        cmocka_unit_test_setup_teardown(never_initialised_handles_skipped, loop_setup,
                                        loop_teardown),
        cmocka_unit_test_setup_teardown(zero_handles_done_at_seal, loop_setup, loop_teardown),
        cmocka_unit_test_setup_teardown(already_closing_counted_once, loop_setup, loop_teardown),
        cmocka_unit_test_setup_teardown(close_after_seal_and_second_seal, loop_setup,
                                        loop_teardown),
        cmocka_unit_test_setup_teardown(drained_group_waits_for_seal, loop_setup, loop_teardown),
        cmocka_unit_test_setup_teardown(done_once_when_misused, loop_setup, loop_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
