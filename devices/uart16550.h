/* uart16550.h: a 16550A UART (the console at 0x3F8) whose output goes to a byte sink. */
#ifndef COCOON_UART16550_H
#define COCOON_UART16550_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define UART_COM1_BASE 0x3F8
#define UART_NR_PORTS  8

/* Raises or lowers the UART's interrupt line. */
typedef void (*uart_irq_fn)(void *opaque, bool level);

struct uart16550;

/* Takes transmitted bytes. Called with the UART's lock held on a vCPU thread: it must not block
 * (vmm/console_out.h buffers them for the loop). */
typedef void (*uart_tx_fn)(void *opaque, const uint8_t *buf, size_t len);

/* tx receives transmitted bytes (NULL discards them). */
struct uart16550 *uart16550_new(uart_tx_fn tx, void *tx_opaque, uart_irq_fn irq, void *irq_opaque);
void uart16550_free(void *uart);

/* The bus handler for the 8 ports at the base (register offsets 0..7). vCPU threads. */
void uart16550_io(void *uart, uint64_t offset, void *data, uint32_t len, bool is_write);

/* Queues host input for the guest's receive FIFO; returns how many bytes fit. Any thread. */
size_t uart16550_input(struct uart16550 *u, const uint8_t *buf, size_t len);

/* Free bytes in the receive FIFO. */
size_t uart16550_rx_space(struct uart16550 *u);

#endif
