/* console_out.h: the console's output path: a bounded buffer that vCPU threads fill and the loop
 * drains to the host fd without ever blocking (a full buffer drops its oldest bytes). */
#ifndef COCOON_CONSOLE_OUT_H
#define COCOON_CONSOLE_OUT_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

/* Bytes kept for a reader that is slow or absent; older bytes are dropped past this. */
#define CONSOLE_OUT_BUFFER (1u << 20)

struct console_out;

/* Starts draining into fd (not owned; -1 discards every byte) on the loop thread. A pipe, FIFO
 * or terminal is written through a private non-blocking open of it, so cocoon never waits for
 * the reader and never changes the flags of a file description it shares with its parent.
 * Returns NULL only when out of memory or the loop refuses a handle (err says which). */
struct console_out *console_out_start(uv_loop_t *loop, int fd, char *err, size_t errlen);

/* Appends bytes for the host. Any thread; takes only the buffer's own lock, never does I/O. */
void console_out_put(struct console_out *co, const uint8_t *buf, size_t len);

/* Bytes dropped so far because the buffer was full. Any thread. */
uint64_t console_out_dropped(struct console_out *co);

/* Loop thread: writes what is buffered, waiting for the reader at most `flush_ms` in all, then
 * closes the handles; the memory goes once the loop has closed them. NULL is fine. */
void console_out_stop(void *co);

#endif
