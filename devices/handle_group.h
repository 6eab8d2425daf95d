/* handle_group.h: close several libuv handles, then free their owner when all have closed. */
#ifndef COCOON_DEVICES_HANDLE_GROUP_H
#define COCOON_DEVICES_HANDLE_GROUP_H

#include <stdbool.h>
#include <uv.h>

/* Runs once, on the loop thread, when the group is sealed and no close is pending: the owner's
 * memory (which may hold the group and the handles) can be released here. */
typedef void (*handle_group_done_fn)(void *opaque);

/* Optional: runs for each handle of the group as its close callback, before the group counts it
 * (e.g. to release a per-connection object that embeds the handle). */
typedef void (*handle_group_each_fn)(uv_handle_t *h, void *opaque);

/* A count of the closes issued through the group whose callback has not run yet. Loop thread
 * only. Usually embedded in the owner that handle_group_done_fn frees. */
struct handle_group {
    handle_group_done_fn done;
    handle_group_each_fn each;
    void *opaque;
    unsigned pending; /* closes issued, callback not yet run */
    bool sealed;      /* handle_group_seal called */
    bool finished;    /* done has been called */
};

/* Starts an empty group; done(opaque) (NULL: nothing) is called once the group is sealed and
 * drained. */
void handle_group_init(struct handle_group *g, handle_group_done_fn done, void *opaque);

/* Sets the per-handle hook (NULL: none). */
void handle_group_on_each(struct handle_group *g, handle_group_each_fn each);

/* Closes h and counts it in the group; h->data is taken over (libuv calls nothing but the close
 * callback once uv_close is issued). Skips, returning false, a handle that was never initialised
 * (its memory must have been zeroed before the init, e.g. by calloc: a failed uv_*_init leaves it
 * so) or that is already closing or closed. Also allowed after handle_group_seal as long as a
 * close is still pending. */
bool handle_group_close(struct handle_group *g, uv_handle_t *h);

/* No more closes will be issued for the owner: done runs when the last pending close callback
 * has run or, when none is pending (zero handles closed), immediately, before this returns. The
 * caller must not touch the group (or the owner done frees) after sealing. Seal once. */
void handle_group_seal(struct handle_group *g);

#endif
