/* uart16550_regs.c: the 16550 console's registers: transmit, divisor latch, loopback (Linux's
 * probe), receive FIFO, THRE/RX interrupts and line changes, odd access widths. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "devices/uart16550.h"

struct irq_log {
    int raises, lowers;
    bool level;
};

static void irq_cb(void *opaque, bool level)
{
    struct irq_log *l = opaque;
    l->level = level;
    if (level)
        l->raises++;
    else
        l->lowers++;
}

/* The transmit sink: what the guest sent, in order. */
struct tx_capture {
    uint8_t buf[64];
    size_t len;
};

static void capture_tx(void *opaque, const uint8_t *buf, size_t len)
{
    struct tx_capture *c = opaque;
    for (size_t i = 0; i < len && c->len < sizeof(c->buf); i++)
        c->buf[c->len++] = buf[i];
}

static uint8_t rd(struct uart16550 *u, unsigned reg)
{
    uint8_t v = 0;
    uart16550_io(u, reg, &v, 1, false);
    return v;
}

static void wr(struct uart16550 *u, unsigned reg, uint8_t v)
{
    uart16550_io(u, reg, &v, 1, true);
}

static void transmit_reaches_sink(void **state)
{
    struct tx_capture cap = {.len = 0};
    struct uart16550 *u = uart16550_new(capture_tx, &cap, NULL, NULL);
    assert_int_equal(rd(u, 5) & 0x60, 0x60); /* THRE | TEMT */
    for (const char *s = "hi\n"; *s; s++)
        wr(u, 0, (uint8_t)*s);
    assert_int_equal(cap.len, 3);
    assert_memory_equal(cap.buf, "hi\n", 3);
    uart16550_free(u);
}

static void divisor_latch_does_not_transmit(void **state)
{
    struct tx_capture cap = {.len = 0};
    struct uart16550 *u = uart16550_new(capture_tx, &cap, NULL, NULL);
    wr(u, 3, 0x80); /* DLAB */
    wr(u, 0, 0x01);
    wr(u, 1, 0x02);
    assert_int_equal(rd(u, 0), 0x01);
    assert_int_equal(rd(u, 1), 0x02);
    wr(u, 3, 0x03);
    assert_int_equal(rd(u, 1), 0); /* IER again */
    assert_int_equal(cap.len, 0);  /* nothing was sent */
    uart16550_free(u);
}

static void loopback_probe(void **state)
{
    struct uart16550 *u = uart16550_new(NULL, NULL, NULL, NULL);
    wr(u, 4, 0x10); /* loop, all outputs low */
    assert_int_equal(rd(u, 6) & 0xF0, 0x00);
    wr(u, 4, 0x1F); /* loop + DTR, RTS, OUT1, OUT2 */
    assert_int_equal(rd(u, 6) & 0xF0, 0xF0);
    wr(u, 0, 'x'); /* loops back into the receiver */
    assert_int_equal(rd(u, 5) & 1, 1);
    assert_int_equal(rd(u, 0), 'x');
    assert_int_equal(rd(u, 5) & 1, 0);
    wr(u, 4, 0x0B);
    assert_int_equal(rd(u, 6), 0xB0); /* DCD, DSR, CTS */
    wr(u, 7, 0x5A);
    assert_int_equal(rd(u, 7), 0x5A);
    uart16550_free(u);
}

static void receive_fifo_and_interrupts(void **state)
{
    struct irq_log l = {0};
    struct uart16550 *u = uart16550_new(NULL, NULL, irq_cb, &l);
    assert_int_equal(rd(u, 2) & 0x0F, 0x01); /* nothing pending */
    wr(u, 1, 0x01);                          /* RX interrupt on */
    assert_false(l.level);
    uint8_t in[100];
    memset(in, 'a', sizeof(in));
    assert_int_equal(uart16550_rx_space(u), 64);
    assert_int_equal(uart16550_input(u, in, sizeof(in)), 64); /* the rest does not fit */
    assert_int_equal(uart16550_rx_space(u), 0);
    assert_true(l.level);
    assert_int_equal(rd(u, 2) & 0x0F, 0x04);
    for (int i = 0; i < 64; i++)
        assert_int_equal(rd(u, 0), 'a');
    assert_false(l.level); /* drained: line lowered */
    assert_int_equal(rd(u, 0), 0);
    assert_int_equal(uart16550_input(u, in, 3), 3);
    wr(u, 2, 0x03); /* FCR: enable + clear receive FIFO */
    assert_int_equal(rd(u, 5) & 1, 0);
    assert_int_equal(rd(u, 2) & 0xC0, 0xC0); /* FIFOs enabled */
    uart16550_free(u);
}

static void thre_interrupt_is_acknowledged_by_iir(void **state)
{
    struct irq_log l = {0};
    struct uart16550 *u = uart16550_new(NULL, NULL, irq_cb, &l);
    wr(u, 1, 0x02); /* THRE interrupt on: THR is empty, so it fires */
    assert_true(l.level);
    assert_int_equal(rd(u, 2) & 0x0F, 0x02);
    assert_false(l.level); /* reading IIR acknowledged it */
    wr(u, 0, 'z');         /* the byte leaves at once: THRE again */
    assert_true(l.level);
    wr(u, 1, 0x00);
    assert_false(l.level);
    uart16550_free(u);
}

static void wide_accesses_are_byte_accesses(void **state)
{
    struct uart16550 *u = uart16550_new(NULL, NULL, NULL, NULL);
    uint32_t v = 0x00005A00; /* offset 6: MSR (read-only) gets 0x00, SCR gets 0x5A */
    uart16550_io(u, 6, &v, 2, true);
    assert_int_equal(rd(u, 7), 0x5A);
    uint64_t all = 0;
    uart16550_io(u, 0, &all, 8, false); /* reads all eight registers, no crash */
    assert_int_equal((all >> 56) & 0xFF, 0x5A);
    uart16550_io(u, 0xFFFFFFFFFFFFFFFFULL, &all, 8, true); /* offsets wrap within the 8 ports */
    uart16550_free(u);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(transmit_reaches_sink),
        cmocka_unit_test(divisor_latch_does_not_transmit),
        cmocka_unit_test(loopback_probe),
        cmocka_unit_test(receive_fifo_and_interrupts),
        cmocka_unit_test(thre_interrupt_is_acknowledged_by_iir),
        cmocka_unit_test(wide_accesses_are_byte_accesses),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
