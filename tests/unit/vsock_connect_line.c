/* vsock_connect_line.c: Kata's `CONNECT <port>\n` line: splits, case, garbage, length, overflow. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "devices/vsock_muxer.h"

static int feed_all(const char *s, size_t len, uint32_t *port, size_t *used)
{
    struct vsock_connect_line l = {0};
    return vsock_connect_line_feed(&l, s, len, used, port);
}

static int feed_str(const char *s, uint32_t *port)
{
    size_t used;
    return feed_all(s, strlen(s), port, &used);
}

static void kata_exact_bytes(void **state)
{
    static const uint8_t kata[] = {0x43, 0x4F, 0x4E, 0x4E, 0x45, 0x43, 0x54,
                                   0x20, 0x31, 0x30, 0x32, 0x34, 0x0A};
    uint32_t port = 0;
    size_t used = 0;
    assert_int_equal(feed_all((const char *)kata, sizeof(kata), &port, &used), 1);
    assert_int_equal(port, 1024);
    assert_int_equal(used, sizeof(kata));
}

static void payload_after_line_not_consumed(void **state)
{
    uint32_t port = 0;
    size_t used = 0;
    const char *s = "CONNECT 1024\nttrpc-bytes";
    assert_int_equal(feed_all(s, strlen(s), &port, &used), 1);
    assert_int_equal(used, 13);
}

static void split_across_reads(void **state)
{
    struct vsock_connect_line l = {0};
    size_t used;
    uint32_t port = 0;
    assert_int_equal(vsock_connect_line_feed(&l, "CONN", 4, &used, &port), 0);
    assert_int_equal(used, 4);
    assert_int_equal(vsock_connect_line_feed(&l, "ECT 10", 6, &used, &port), 0);
    assert_int_equal(vsock_connect_line_feed(&l, "24\nXY", 5, &used, &port), 1);
    assert_int_equal(used, 3);
    assert_int_equal(port, 1024);
}

static void byte_at_a_time(void **state)
{
    struct vsock_connect_line l = {0};
    const char *s = "connect 65535\n";
    size_t used;
    uint32_t port = 0;
    for (size_t i = 0; i + 1 < strlen(s); i++)
        assert_int_equal(vsock_connect_line_feed(&l, s + i, 1, &used, &port), 0);
    assert_int_equal(vsock_connect_line_feed(&l, "\n", 1, &used, &port), 1);
    assert_int_equal(port, 65535);
}

static void case_insensitive_prefix(void **state)
{
    uint32_t port = 0;
    assert_int_equal(feed_str("connect 5\n", &port), 1);
    assert_int_equal(port, 5);
    assert_int_equal(feed_str("CoNnEcT 6\n", &port), 1);
    assert_int_equal(port, 6);
}

static void whitespace_and_cr(void **state)
{
    uint32_t port = 0;
    assert_int_equal(feed_str("CONNECT 1024\r\n", &port), 1);
    assert_int_equal(port, 1024);
    assert_int_equal(feed_str("CONNECT   77  \n", &port), 1);
    assert_int_equal(port, 77);
}

static void garbage_refused(void **state)
{
    uint32_t port = 0;
    const char *bad[] = {"GET / HTTP/1.1\n", "CONNECT\n",    "CONNECT \n",      "CONNECT abc\n",
                         "CONNECT 12a\n",    "CONNECT -1\n", "CONNECTX 1\n",    "\n",
                         "CONNECT 1 2\n",    "CONNECT +5\n", " CONNECT 1024\n", "CONNECT\t1024\n"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(feed_str(bad[i], &port), -1);
}

static void nul_byte_refused(void **state)
{
    uint32_t port = 0;
    size_t used;
    assert_int_equal(feed_all("CONNECT \0"
                              "1\n",
                              11, &port, &used),
                     -1);
}

static void overlong_refused(void **state)
{
    uint32_t port = 0;
    char s[64];
    memset(s, 'A', sizeof(s));
    size_t used;
    assert_int_equal(feed_all(s, sizeof(s), &port, &used), -1);
    assert_true(used <= VSOCK_CONNECT_LINE_MAX);
    /* A valid number padded with zeros past the line limit. */
    assert_int_equal(feed_str("CONNECT 000000000000000000000000001\n", &port), -1);
}

static void port_overflow_refused(void **state)
{
    uint32_t port = 0;
    assert_int_equal(feed_str("CONNECT 4294967295\n", &port), 1);
    assert_int_equal(port, UINT32_MAX);
    assert_int_equal(feed_str("CONNECT 4294967296\n", &port), -1);
    assert_int_equal(feed_str("CONNECT 99999999999999999999\n", &port), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(kata_exact_bytes),
        cmocka_unit_test(payload_after_line_not_consumed),
        cmocka_unit_test(split_across_reads),
        cmocka_unit_test(byte_at_a_time),
        cmocka_unit_test(case_insensitive_prefix),
        cmocka_unit_test(whitespace_and_cr),
        cmocka_unit_test(garbage_refused),
        cmocka_unit_test(nul_byte_refused),
        cmocka_unit_test(overlong_refused),
        cmocka_unit_test(port_overflow_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
