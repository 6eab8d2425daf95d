/* console.h: feeds the host's stdin (terminal or pipe) into the 16550's receive FIFO. */
#ifndef COCOON_CONSOLE_H
#define COCOON_CONSOLE_H

#include <uv.h>

#include "devices/uart16550.h"

struct console_in;

/* Starts reading fd on the loop thread into uart. A terminal on both stdin and stdout is put in
 * non-canonical, no-echo mode (Ctrl-C still stops cocoon) until console_in_stop. Returns NULL
 * (nothing to do) when fd cannot be polled, e.g. /dev/null or a regular file. */
struct console_in *console_in_start(uv_loop_t *loop, int fd, struct uart16550 *uart);

/* Stops reading and restores the terminal; the memory is freed once the loop closes the
 * handles. NULL is fine. */
void console_in_stop(void *ci);

#endif
