/* rate_limiter.h: token buckets for I/O bandwidth and operations (Cloud Hypervisor's and
 * Firecracker's rate_limiter_config), the clock passed in so the arithmetic is testable. */
#ifndef COCOON_RATE_LIMITER_H
#define COCOON_RATE_LIMITER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vmm/base/config.h" /* struct rate_limiter_config */

#define RATE_LIMIT_MAX_TOKENS    CFG_RATE_LIMIT_MAX_TOKENS
#define RATE_LIMIT_MAX_REFILL_MS CFG_RATE_LIMIT_MAX_REFILL_MS

struct token_bucket {
    uint64_t size, refill_ns;
    int64_t budget;   /* refilled tokens; negative while a large request is paid off */
    uint64_t burst;   /* one-time tokens left, spent first */
    uint64_t last_ns; /* when budget was last brought up to date */
};

struct rate_limiter {
    struct token_bucket bw, ops;
    bool bw_on, ops_on;
};

/* 0, or -1 with a message naming the bucket (sect: "disks[0].rate_limiter_config"). */
int rate_limiter_config_check(const struct rate_limiter_config *c, const char *sect, char *err,
                              size_t errlen);

/* Whether any bucket of the config limits anything. */
bool rate_limiter_config_enabled(const struct rate_limiter_config *c);

/* Starts with full buckets (size + one_time_burst) at now_ns. */
void rate_limiter_init(struct rate_limiter *rl, const struct rate_limiter_config *c,
                       uint64_t now_ns);

/* Whether one more request may start now: every limiting bucket has a token left. A request
 * that starts pays with rate_limiter_consume, even when that takes a bucket below zero (its
 * debt delays the next ones): averaged over time the rate is exactly the configured one. */
bool rate_limiter_ready(struct rate_limiter *rl, uint64_t now_ns);

/* Takes one operation and `bytes` of bandwidth. */
void rate_limiter_consume(struct rate_limiter *rl, uint64_t bytes);

/* After rate_limiter_ready returned false: nanoseconds until it will return true (>= 1 ms). */
uint64_t rate_limiter_wait_ns(const struct rate_limiter *rl);

#endif
