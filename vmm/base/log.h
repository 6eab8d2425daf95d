/* log.h: leveled, timestamped logging to stderr, plus a rate limiter for guest-triggered errors. */
#ifndef COCOON_LOG_H
#define COCOON_LOG_H

#include <stdint.h>

enum log_level { LOG_LVL_ERROR = 0, LOG_LVL_WARN, LOG_LVL_INFO, LOG_LVL_DEBUG, LOG_LVL_TRACE };

/* Messages above this level are dropped. Default: LOG_LVL_WARN; each -v raises it by one. */
void log_set_level(enum log_level level);
enum log_level log_get_level(void);

/* Seconds since the process started logging (CLOCK_MONOTONIC), for boot-timer output. */
double log_uptime(void);

void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_err(...)   log_msg(LOG_LVL_ERROR, __VA_ARGS__)
#define log_warn(...)  log_msg(LOG_LVL_WARN, __VA_ARGS__)
#define log_info(...)  log_msg(LOG_LVL_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_LVL_DEBUG, __VA_ARGS__)

/* Lets through the first `burst` messages, then at most one every `interval_s` seconds with a
 * count of what was suppressed. Zero-initialise; one per message site (or per device). */
struct log_ratelimit {
    uint32_t burst;
    double interval_s;
    uint32_t seen;
    uint64_t suppressed;
    double last;
};
#define LOG_RATELIMIT_INIT                                                                         \
    {                                                                                              \
        .burst = 1, .interval_s = 5.0                                                              \
    }

void log_limited(struct log_ratelimit *rl, enum log_level level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
