/* rate_limiter.c: token buckets (bandwidth + ops) with one-time burst, paid off as debt. */
#include "devices/rate_limiter.h"

#include <stdio.h>
#include <string.h>

__extension__ typedef unsigned __int128 u128;

static bool bucket_limits(const struct rate_limit_bucket *b)
{
    return b->size && b->refill_time_ms;
}

static int bucket_check(const struct rate_limit_bucket *b, const char *sect, const char *name,
                        char *err, size_t errlen)
{
    if (b->size > RATE_LIMIT_MAX_TOKENS || b->one_time_burst > RATE_LIMIT_MAX_TOKENS) {
        snprintf(err, errlen, "%s.%s: size and one_time_burst must be at most %llu", sect, name,
                 (unsigned long long)RATE_LIMIT_MAX_TOKENS);
        return -1;
    }
    if (b->refill_time_ms > RATE_LIMIT_MAX_REFILL_MS) {
        snprintf(err, errlen, "%s.%s: refill_time must be at most %llu ms", sect, name,
                 (unsigned long long)RATE_LIMIT_MAX_REFILL_MS);
        return -1;
    }
    return 0;
}

int rate_limiter_config_check(const struct rate_limiter_config *c, const char *sect, char *err,
                              size_t errlen)
{
    return bucket_check(&c->bandwidth, sect, "bandwidth", err, errlen) < 0 ||
                   bucket_check(&c->ops, sect, "ops", err, errlen) < 0
               ? -1
               : 0;
}

bool rate_limiter_config_enabled(const struct rate_limiter_config *c)
{
    return bucket_limits(&c->bandwidth) || bucket_limits(&c->ops);
}

static void bucket_init(struct token_bucket *t, const struct rate_limit_bucket *b, uint64_t now)
{
    t->size = b->size;
    t->refill_ns = b->refill_time_ms * 1000000ULL;
    t->budget = (int64_t)b->size;
    t->burst = b->one_time_burst;
    t->last_ns = now;
}

void rate_limiter_init(struct rate_limiter *rl, const struct rate_limiter_config *c,
                       uint64_t now_ns)
{
    memset(rl, 0, sizeof(*rl));
    rl->bw_on = bucket_limits(&c->bandwidth);
    rl->ops_on = bucket_limits(&c->ops);
    if (rl->bw_on)
        bucket_init(&rl->bw, &c->bandwidth, now_ns);
    if (rl->ops_on)
        bucket_init(&rl->ops, &c->ops, now_ns);
}

/* Adds the tokens earned since last_ns (size per refill_ns), never above size. */
static void bucket_refill(struct token_bucket *t, uint64_t now)
{
    if (now <= t->last_ns)
        return;
    uint64_t elapsed = now - t->last_ns;
    uint64_t room = (uint64_t)((int64_t)t->size - t->budget); /* budget <= size always */
    u128 earned = (u128)elapsed * t->size / t->refill_ns;
    if (earned >= room) {
        t->budget = (int64_t)t->size;
        t->last_ns = now;
        return;
    }
    t->budget += (int64_t)earned;
    /* Keep the fraction of a token not yet earned: advance only by the time the tokens took. */
    t->last_ns += (uint64_t)((u128)earned * t->refill_ns / t->size);
}

static bool bucket_ready(struct token_bucket *t, uint64_t now)
{
    bucket_refill(t, now);
    return t->burst > 0 || t->budget > 0;
}

static void bucket_take(struct token_bucket *t, uint64_t n)
{
    uint64_t from_burst = n < t->burst ? n : t->burst;
    t->burst -= from_burst;
    n -= from_burst;
    /* Debt is bounded: one request's size (a virtqueue chain's u32 length) below zero. */
    t->budget -= (int64_t)(n < RATE_LIMIT_MAX_TOKENS ? n : RATE_LIMIT_MAX_TOKENS);
}

bool rate_limiter_ready(struct rate_limiter *rl, uint64_t now_ns)
{
    bool ok = true;
    if (rl->bw_on)
        ok &= bucket_ready(&rl->bw, now_ns);
    if (rl->ops_on)
        ok &= bucket_ready(&rl->ops, now_ns);
    return ok;
}

void rate_limiter_consume(struct rate_limiter *rl, uint64_t bytes)
{
    if (rl->bw_on)
        bucket_take(&rl->bw, bytes);
    if (rl->ops_on)
        bucket_take(&rl->ops, 1);
}

/* Time until the bucket holds a whole token again. */
static uint64_t bucket_wait(const struct token_bucket *t)
{
    if (t->burst > 0 || t->budget > 0)
        return 0;
    u128 need = (u128)(1 - t->budget); /* tokens to earn: up to one token above zero */
    u128 ns = (need * t->refill_ns + t->size - 1) / t->size;
    return ns > UINT64_MAX ? UINT64_MAX : (uint64_t)ns;
}

uint64_t rate_limiter_wait_ns(const struct rate_limiter *rl)
{
    uint64_t w = 0, b;
    if (rl->bw_on && (b = bucket_wait(&rl->bw)) > w)
        w = b;
    if (rl->ops_on && (b = bucket_wait(&rl->ops)) > w)
        w = b;
    return w < 1000000 ? 1000000 : w;
}
