/* blk_net_rate_limiter.c: the token buckets behind disk and net rate_limiter_config: full at
 * start (plus the one-time burst), refilled at size per refill_time, large requests paid off as
 * debt so the long-run rate is the configured one, and no overflow at the accepted limits. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "devices/rate_limiter.h"

#define MS 1000000ULL

static struct rate_limiter_config ops_cfg(uint64_t size, uint64_t burst, uint64_t refill_ms)
{
    struct rate_limiter_config c;
    memset(&c, 0, sizeof(c));
    c.ops = (struct rate_limit_bucket){size, burst, refill_ms};
    return c;
}

static void unconfigured_never_limits(void **state)
{
    struct rate_limiter_config c;
    memset(&c, 0, sizeof(c));
    assert_false(rate_limiter_config_enabled(&c));
    c.bandwidth.size = 100; /* no refill time: not a limit (Cloud Hypervisor's rule) */
    assert_false(rate_limiter_config_enabled(&c));
    struct rate_limiter rl;
    rate_limiter_init(&rl, &c, 0);
    for (int i = 0; i < 1000; i++) {
        assert_true(rate_limiter_ready(&rl, 0));
        rate_limiter_consume(&rl, 1 << 20);
    }
}

/* 10 ops per 100 ms: 10 at once, then one every 10 ms. */
static void ops_bucket_refills_at_its_rate(void **state)
{
    struct rate_limiter_config c = ops_cfg(10, 0, 100);
    struct rate_limiter rl;
    rate_limiter_init(&rl, &c, 1000 * MS);
    unsigned n = 0;
    while (rate_limiter_ready(&rl, 1000 * MS)) {
        rate_limiter_consume(&rl, 0);
        n++;
    }
    assert_int_equal(n, 10);
    uint64_t w = rate_limiter_wait_ns(&rl);
    assert_true(w >= 10 * MS - 1 && w <= 10 * MS + 1);
    assert_false(rate_limiter_ready(&rl, 1000 * MS + 9 * MS));
    assert_true(rate_limiter_ready(&rl, 1000 * MS + 10 * MS));
    /* over one simulated second at 1 ms steps, 100 more ops (+/- 1) */
    rate_limiter_consume(&rl, 0);
    unsigned later = 0;
    for (uint64_t t = 1010 * MS; t <= 2010 * MS; t += MS)
        while (rate_limiter_ready(&rl, t)) {
            rate_limiter_consume(&rl, 0);
            later++;
        }
    assert_true(later >= 99 && later <= 101);
}

/* The one-time burst is spent first and never comes back. */
static void one_time_burst_is_spent_once(void **state)
{
    struct rate_limiter_config c = ops_cfg(2, 5, 1000);
    struct rate_limiter rl;
    rate_limiter_init(&rl, &c, 0);
    unsigned n = 0;
    while (rate_limiter_ready(&rl, 0)) {
        rate_limiter_consume(&rl, 0);
        n++;
    }
    assert_int_equal(n, 7);
    n = 0;
    uint64_t t = 10000 * MS; /* long idle: the bucket is full again, the burst is not */
    while (rate_limiter_ready(&rl, t)) {
        rate_limiter_consume(&rl, 0);
        n++;
    }
    assert_int_equal(n, 2);
}

/* A request larger than the bucket goes (else it would wait forever) and its debt delays the
 * next ones, so bandwidth over time stays at size per refill_time. */
static void large_requests_pay_their_debt(void **state)
{
    struct rate_limiter_config c;
    memset(&c, 0, sizeof(c));
    c.bandwidth = (struct rate_limit_bucket){1 << 20, 0, 1000}; /* 1 MiB/s */
    struct rate_limiter rl;
    rate_limiter_init(&rl, &c, 0);
    uint64_t t = 0, sent = 0;
    while (t < 10000 * MS) { /* 10 s of 4 MiB requests */
        if (rate_limiter_ready(&rl, t)) {
            rate_limiter_consume(&rl, 4 << 20);
            sent += 4 << 20;
        } else {
            t += rate_limiter_wait_ns(&rl);
        }
    }
    /* 1 MiB at start + 10 MiB earned, rounded up to whole 4 MiB requests */
    assert_true(sent >= (10ULL << 20) && sent <= (16ULL << 20));
    assert_true(rate_limiter_wait_ns(&rl) >= MS);
}

/* Both buckets must have tokens; the request pays both. */
static void both_buckets_gate(void **state)
{
    struct rate_limiter_config c;
    memset(&c, 0, sizeof(c));
    c.bandwidth = (struct rate_limit_bucket){1000, 0, 1000};
    c.ops = (struct rate_limit_bucket){100, 0, 1000};
    struct rate_limiter rl;
    rate_limiter_init(&rl, &c, 0);
    assert_true(rate_limiter_ready(&rl, 0));
    rate_limiter_consume(&rl, 1000); /* bandwidth exhausted, 99 ops left */
    assert_false(rate_limiter_ready(&rl, 0));
    assert_true(rate_limiter_ready(&rl, 2 * MS)); /* 2 bytes earned */
}

/* The largest accepted values neither overflow nor wrap. */
static void limits_do_not_overflow(void **state)
{
    struct rate_limiter_config c;
    memset(&c, 0, sizeof(c));
    c.bandwidth = (struct rate_limit_bucket){RATE_LIMIT_MAX_TOKENS, RATE_LIMIT_MAX_TOKENS,
                                             RATE_LIMIT_MAX_REFILL_MS};
    c.ops = (struct rate_limit_bucket){1, 0, RATE_LIMIT_MAX_REFILL_MS};
    char err[160];
    assert_int_equal(rate_limiter_config_check(&c, "disk", err, sizeof(err)), 0);
    struct rate_limiter rl;
    rate_limiter_init(&rl, &c, 0);
    assert_true(rate_limiter_ready(&rl, 0));
    rate_limiter_consume(&rl, UINT32_MAX);
    assert_false(rate_limiter_ready(&rl, 1)); /* the one op is spent for a day */
    uint64_t w = rate_limiter_wait_ns(&rl);
    assert_true(w > 0 && w <= RATE_LIMIT_MAX_REFILL_MS * MS);
    assert_true(rate_limiter_ready(&rl, UINT64_MAX)); /* far future: full, no wrap */
    c.ops.refill_time_ms = RATE_LIMIT_MAX_REFILL_MS + 1;
    assert_int_equal(rate_limiter_config_check(&c, "disk", err, sizeof(err)), -1);
    assert_non_null(strstr(err, "disk.ops"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(unconfigured_never_limits),
        cmocka_unit_test(ops_bucket_refills_at_its_rate),
        cmocka_unit_test(one_time_burst_is_spent_once),
        cmocka_unit_test(large_requests_pay_their_debt),
        cmocka_unit_test(both_buckets_gate),
        cmocka_unit_test(limits_do_not_overflow),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
