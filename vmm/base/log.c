/* log.c: stderr logging with monotonic timestamps and a per-site rate limiter. */
/* Lines carry Cloud Hypervisor's level markers ("WARN:", ...): Kata's runtime-rs grades a VMM's
 * stderr by the first such marker in each line (ch/inner_hypervisor.rs, parse_ch_log_level),
 * anything else is logged at info. */
#include "vmm/base/log.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdatomic.h>
#include <stdio.h>
#include <time.h>

static _Atomic int log_level = LOG_LVL_WARN;
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t log_once = PTHREAD_ONCE_INIT;
static struct timespec log_start;

static const char *const log_names[] = {"ERRO", "WARN", "INFO", "DEBG", "TRCE"};

static void log_init_clock(void)
{
    clock_gettime(CLOCK_MONOTONIC, &log_start);
}

void log_set_level(enum log_level level)
{
    if (level > LOG_LVL_TRACE)
        level = LOG_LVL_TRACE;
    atomic_store(&log_level, (int)level);
}

enum log_level log_get_level(void)
{
    return (enum log_level)atomic_load(&log_level);
}

double log_uptime(void)
{
    pthread_once(&log_once, log_init_clock);
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)(now.tv_sec - log_start.tv_sec) + (now.tv_nsec - log_start.tv_nsec) / 1e9;
}

static void log_vmsg(enum log_level level, const char *fmt, va_list ap)
{
    double t = log_uptime();
    pthread_mutex_lock(&log_lock);
    fprintf(stderr, "cocoon[%9.6f] %s: ", t, log_names[level]);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    pthread_mutex_unlock(&log_lock);
}

void log_msg(enum log_level level, const char *fmt, ...)
{
    if ((int)level > atomic_load(&log_level))
        return;
    va_list ap;
    va_start(ap, fmt);
    log_vmsg(level, fmt, ap);
    va_end(ap);
}

void log_limited(struct log_ratelimit *rl, enum log_level level, const char *fmt, ...)
{
    if ((int)level > atomic_load(&log_level))
        return;
    double now = log_uptime();
    uint64_t suppressed = 0;
    pthread_mutex_lock(&log_lock);
    bool pass = rl->seen < rl->burst || now - rl->last >= rl->interval_s;
    if (pass) {
        rl->seen++;
        rl->last = now;
        suppressed = rl->suppressed;
        rl->suppressed = 0;
    } else {
        rl->suppressed++;
    }
    pthread_mutex_unlock(&log_lock);
    if (!pass)
        return;
    va_list ap;
    va_start(ap, fmt);
    log_vmsg(level, fmt, ap);
    va_end(ap);
    if (suppressed)
        log_msg(level, "(%llu similar messages suppressed)", (unsigned long long)suppressed);
}
