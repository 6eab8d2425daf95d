/* uart16550.c: 16550A register model: transmit to a byte sink, receive FIFO, THRE/RX interrupts. */
#include "devices/uart16550.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define UART_FIFO_SIZE 64

/* Registers (offsets from the base). */
#define REG_DATA 0 /* RBR / THR, DLL when DLAB */
#define REG_IER  1 /* DLM when DLAB */
#define REG_IIR  2 /* FCR on write */
#define REG_LCR  3
#define REG_MCR  4
#define REG_LSR  5
#define REG_MSR  6
#define REG_SCR  7

#define IER_RDI  0x01
#define IER_THRI 0x02
#define IIR_NONE 0x01
#define IIR_THRI 0x02
#define IIR_RDI  0x04
#define IIR_FIFO 0xC0
#define LCR_DLAB 0x80
#define LSR_DR   0x01
#define LSR_THRE 0x20
#define LSR_TEMT 0x40
#define MCR_LOOP 0x10

struct uart16550 {
    pthread_mutex_t lock;
    uart_tx_fn tx;
    void *tx_opaque;
    uart_irq_fn irq;
    void *irq_opaque;
    uint8_t ier, lcr, mcr, scr, fcr, dll, dlm;
    bool thri_pending; /* THR-empty interrupt not yet acknowledged */
    bool irq_level;
    uint8_t fifo[UART_FIFO_SIZE];
    unsigned rx_head, rx_count;
};

struct uart16550 *uart16550_new(uart_tx_fn tx, void *tx_opaque, uart_irq_fn irq, void *irq_opaque)
{
    struct uart16550 *u = calloc(1, sizeof(*u));
    if (!u)
        return NULL;
    pthread_mutex_init(&u->lock, NULL);
    u->tx = tx;
    u->tx_opaque = tx_opaque;
    u->irq = irq;
    u->irq_opaque = irq_opaque;
    u->dll = 12; /* 9600 baud */
    return u;
}

void uart16550_free(void *uart)
{
    struct uart16550 *u = uart;
    if (!u)
        return;
    pthread_mutex_destroy(&u->lock);
    free(u);
}

static uint8_t uart_iir(const struct uart16550 *u)
{
    uint8_t fifo = (u->fcr & 1) ? IIR_FIFO : 0;
    if ((u->ier & IER_RDI) && u->rx_count)
        return IIR_RDI | fifo;
    if ((u->ier & IER_THRI) && u->thri_pending)
        return IIR_THRI | fifo;
    return IIR_NONE | fifo;
}

/* Called with the lock held: drives the line to match the pending state. */
static void uart_update_irq(struct uart16550 *u)
{
    bool level = !(uart_iir(u) & IIR_NONE);
    if (level != u->irq_level && u->irq) {
        u->irq_level = level;
        u->irq(u->irq_opaque, level);
    }
}

static void uart_push_rx(struct uart16550 *u, uint8_t c)
{
    if (u->rx_count == UART_FIFO_SIZE)
        return;
    u->fifo[(u->rx_head + u->rx_count) % UART_FIFO_SIZE] = c;
    u->rx_count++;
}

static void uart_transmit(struct uart16550 *u, uint8_t c)
{
    if (u->mcr & MCR_LOOP) {
        uart_push_rx(u, c);
    } else if (u->tx) {
        u->tx(u->tx_opaque, &c, 1); /* buffered, never blocks */
    }
    u->thri_pending = true; /* the byte left at once: THR is empty again */
}

static uint8_t uart_msr(const struct uart16550 *u)
{
    if (!(u->mcr & MCR_LOOP))
        return 0xB0; /* DCD, DSR, CTS */
    uint8_t m = u->mcr;
    return (uint8_t)(((m & 0x01) << 5) | ((m & 0x02) << 3) | ((m & 0x04) << 4) | ((m & 0x08) << 4));
}

static uint8_t uart_read(struct uart16550 *u, unsigned reg)
{
    bool dlab = u->lcr & LCR_DLAB;
    uint8_t v = 0;
    switch (reg) {
    case REG_DATA:
        if (dlab)
            return u->dll;
        if (u->rx_count) {
            v = u->fifo[u->rx_head];
            u->rx_head = (u->rx_head + 1) % UART_FIFO_SIZE;
            u->rx_count--;
        }
        return v;
    case REG_IER:
        return dlab ? u->dlm : u->ier;
    case REG_IIR:
        v = uart_iir(u);
        if ((v & 0x0F) == IIR_THRI)
            u->thri_pending = false; /* reading IIR acknowledges THRE */
        return v;
    case REG_LCR:
        return u->lcr;
    case REG_MCR:
        return u->mcr;
    case REG_LSR:
        return LSR_THRE | LSR_TEMT | (u->rx_count ? LSR_DR : 0);
    case REG_MSR:
        return uart_msr(u);
    default:
        return u->scr;
    }
}

static void uart_write(struct uart16550 *u, unsigned reg, uint8_t v)
{
    bool dlab = u->lcr & LCR_DLAB;
    switch (reg) {
    case REG_DATA:
        if (dlab)
            u->dll = v;
        else
            uart_transmit(u, v);
        break;
    case REG_IER:
        if (dlab) {
            u->dlm = v;
        } else {
            if ((v & IER_THRI) && !(u->ier & IER_THRI))
                u->thri_pending = true;
            u->ier = v & 0x0F;
        }
        break;
    case REG_IIR:
        u->fcr = v;
        if (v & 0x02) /* clear receive FIFO */
            u->rx_count = 0;
        break;
    case REG_LCR:
        u->lcr = v;
        break;
    case REG_MCR:
        u->mcr = v & 0x1F;
        break;
    case REG_SCR:
        u->scr = v;
        break;
    default: /* LSR, MSR: read-only */
        break;
    }
}

void uart16550_io(void *uart, uint64_t offset, void *data, uint32_t len, bool is_write)
{
    struct uart16550 *u = uart;
    uint8_t *bytes = data;
    pthread_mutex_lock(&u->lock);
    /* Wider accesses are byte accesses to consecutive registers. */
    for (uint32_t i = 0; i < len; i++) {
        unsigned reg = (unsigned)((offset + i) & 7);
        if (is_write)
            uart_write(u, reg, bytes[i]);
        else
            bytes[i] = uart_read(u, reg);
    }
    uart_update_irq(u);
    pthread_mutex_unlock(&u->lock);
}

size_t uart16550_input(struct uart16550 *u, const uint8_t *buf, size_t len)
{
    size_t n = 0;
    pthread_mutex_lock(&u->lock);
    for (; n < len && u->rx_count < UART_FIFO_SIZE; n++)
        uart_push_rx(u, buf[n]);
    uart_update_irq(u);
    pthread_mutex_unlock(&u->lock);
    return n;
}

size_t uart16550_rx_space(struct uart16550 *u)
{
    pthread_mutex_lock(&u->lock);
    size_t n = UART_FIFO_SIZE - u->rx_count;
    pthread_mutex_unlock(&u->lock);
    return n;
}
