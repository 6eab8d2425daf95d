/* vsock_conn_credit.c: credit arithmetic (saturating, wrapping) and the bounded host buffer. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "devices/vsock_conn.h"

static struct vsock_conn c;

static int setup(void **state)
{
    assert_int_equal(vsock_conn_init(&c, VSOCK_CONN_ESTABLISHED, 1024, 5000), 0);
    return 0;
}

static int teardown(void **state)
{
    vsock_conn_destroy(&c);
    return 0;
}

static void no_credit_before_peer_speaks(void **state)
{
    assert_int_equal(vsock_conn_peer_credit(&c), 0);
}

static void credit_follows_sent_and_fwd_cnt(void **state)
{
    vsock_conn_peer_credit_update(&c, 1000, 0);
    assert_int_equal(vsock_conn_peer_credit(&c), 1000);
    vsock_conn_sent(&c, 600);
    assert_int_equal(vsock_conn_peer_credit(&c), 400);
    vsock_conn_sent(&c, 400);
    assert_int_equal(vsock_conn_peer_credit(&c), 0);
    vsock_conn_peer_credit_update(&c, 1000, 600);
    assert_int_equal(vsock_conn_peer_credit(&c), 600);
}

static void shrinking_buf_alloc_saturates_at_zero(void **state)
{
    vsock_conn_peer_credit_update(&c, 1000, 0);
    vsock_conn_sent(&c, 600);
    vsock_conn_peer_credit_update(&c, 100, 0);
    assert_int_equal(vsock_conn_peer_credit(&c), 0);
}

static void fwd_cnt_ahead_of_sent_gives_no_credit(void **state)
{
    vsock_conn_sent(&c, 10);
    vsock_conn_peer_credit_update(&c, 1000, 500);
    assert_int_equal(vsock_conn_peer_credit(&c), 0);
}

static void counters_wrap_at_u32(void **state)
{
    c.tx_cnt = UINT32_MAX - 99;
    vsock_conn_peer_credit_update(&c, 1000, UINT32_MAX - 99);
    vsock_conn_sent(&c, 300); /* tx_cnt wraps to 200 */
    assert_int_equal(c.tx_cnt, 200);
    assert_int_equal(vsock_conn_peer_credit(&c), 700);
    vsock_conn_peer_credit_update(&c, 1000, 150);
    assert_int_equal(vsock_conn_peer_credit(&c), 950);
}

static void huge_buf_alloc_does_not_overflow(void **state)
{
    vsock_conn_peer_credit_update(&c, UINT32_MAX, 0);
    assert_int_equal(vsock_conn_peer_credit(&c), UINT32_MAX);
    vsock_conn_sent(&c, 5);
    assert_int_equal(vsock_conn_peer_credit(&c), UINT32_MAX - 5);
}

static void host_buffer_is_bounded(void **state)
{
    static uint8_t big[VSOCK_CONN_BUF + 1];
    assert_int_equal(vsock_conn_push(&c, big, VSOCK_CONN_BUF + 1), -1);
    assert_int_equal(c.buf_len, 0);
    assert_int_equal(vsock_conn_push(&c, big, VSOCK_CONN_BUF), 0);
    assert_int_equal(vsock_conn_buf_free(&c), 0);
    assert_int_equal(vsock_conn_push(&c, big, 1), -1);
}

static void ring_wraps_in_order(void **state)
{
    static uint8_t data[VSOCK_CONN_BUF];
    for (size_t i = 0; i < sizeof(data); i++)
        data[i] = (uint8_t)(i * 7);
    assert_int_equal(vsock_conn_push(&c, data, VSOCK_CONN_BUF - 10), 0);
    vsock_conn_consume(&c, VSOCK_CONN_BUF - 20); /* 10 bytes left near the end */
    assert_int_equal(vsock_conn_push(&c, "ABCDEFGHIJKLMNOPQRST", 20), 0);
    const uint8_t *p;
    uint32_t len;
    vsock_conn_peek(&c, &p, &len);
    assert_int_equal(len, 20); /* up to the end of the ring */
    assert_memory_equal(p, data + VSOCK_CONN_BUF - 20, 10);
    assert_memory_equal(p + 10, "ABCDEFGHIJ", 10);
    vsock_conn_consume(&c, len);
    vsock_conn_peek(&c, &p, &len);
    assert_int_equal(len, 10);
    assert_memory_equal(p, "KLMNOPQRST", 10);
}

static void fwd_cnt_and_credit_update(void **state)
{
    static uint8_t data[VSOCK_CONN_BUF];
    assert_int_equal(vsock_conn_push(&c, data, VSOCK_CONN_BUF), 0);
    vsock_conn_consume(&c, VSOCK_CONN_BUF / 2 - 1);
    assert_false(c.pending & VSOCK_PEND_CREDIT);
    vsock_conn_consume(&c, 1);
    assert_true(c.pending & VSOCK_PEND_CREDIT);
    assert_int_equal(c.fwd_cnt, VSOCK_CONN_BUF / 2);
    struct vsock_hdr h;
    vsock_conn_fill_hdr(&c, 3, &h, VSOCK_OP_CREDIT_UPDATE);
    assert_false(c.pending & VSOCK_PEND_CREDIT);
    assert_int_equal(h.fwd_cnt, VSOCK_CONN_BUF / 2);
    assert_int_equal(h.buf_alloc, VSOCK_CONN_BUF);
    assert_int_equal(h.src_cid, 2);
    assert_int_equal(h.dst_cid, 3);
    assert_int_equal(h.src_port, 1024);
    assert_int_equal(h.dst_port, 5000);
    /* Consuming more than buffered cannot push fwd_cnt past what the guest sent. */
    vsock_conn_consume(&c, UINT32_MAX);
    assert_int_equal(c.fwd_cnt, VSOCK_CONN_BUF);
    assert_int_equal(c.buf_len, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(no_credit_before_peer_speaks, setup, teardown),
        cmocka_unit_test_setup_teardown(credit_follows_sent_and_fwd_cnt, setup, teardown),
        cmocka_unit_test_setup_teardown(shrinking_buf_alloc_saturates_at_zero, setup, teardown),
        cmocka_unit_test_setup_teardown(fwd_cnt_ahead_of_sent_gives_no_credit, setup, teardown),
        cmocka_unit_test_setup_teardown(counters_wrap_at_u32, setup, teardown),
        cmocka_unit_test_setup_teardown(huge_buf_alloc_does_not_overflow, setup, teardown),
        cmocka_unit_test_setup_teardown(host_buffer_is_bounded, setup, teardown),
        cmocka_unit_test_setup_teardown(ring_wraps_in_order, setup, teardown),
        cmocka_unit_test_setup_teardown(fwd_cnt_and_credit_update, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
