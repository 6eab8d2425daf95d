/* handle_group.c: close-then-free for objects that own several libuv handles, written once. */
#include "devices/handle_group.h"

#include "vmm/base/log.h"

void handle_group_init(struct handle_group *g, handle_group_done_fn done, void *opaque)
{
    *g = (struct handle_group){.done = done, .opaque = opaque};
}

void handle_group_on_each(struct handle_group *g, handle_group_each_fn each)
{
    g->each = each;
}

/* The group is sealed and drained: the owner goes. Nothing may touch g after done. */
static void group_finish(struct handle_group *g)
{
    g->finished = true;
    if (g->done)
        g->done(g->opaque);
}

static void group_handle_closed(uv_handle_t *h)
{
    struct handle_group *g = h->data;
    if (g->each)
        g->each(h, g->opaque);
    g->pending--;
    if (g->sealed && g->pending == 0)
        group_finish(g);
}

/* A zeroed handle has type UV_UNKNOWN_HANDLE and no loop until its uv_*_init succeeds. */
static bool handle_initialised(const uv_handle_t *h)
{
    return uv_handle_get_type(h) != UV_UNKNOWN_HANDLE && uv_handle_get_loop(h) != NULL;
}

bool handle_group_close(struct handle_group *g, uv_handle_t *h)
{
    if (!h || !handle_initialised(h) || uv_is_closing(h))
        return false;
    if (g->finished) { /* a programming error: the owner is already gone */
        log_err("handle group: close after the group finished: refused");
        return false;
    }
    h->data = g;
    g->pending++;
    uv_close(h, group_handle_closed);
    return true;
}

void handle_group_seal(struct handle_group *g)
{
    if (g->sealed) { /* a programming error: done runs once whatever happens */
        log_err("handle group: sealed twice: ignored");
        return;
    }
    g->sealed = true;
    if (g->pending == 0)
        group_finish(g);
}
