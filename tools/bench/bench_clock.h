/* bench_clock.h: the two clocks every benchmark harness reads (wall and this process's CPU). */
#ifndef COCOON_TOOLS_BENCH_CLOCK_H
#define COCOON_TOOLS_BENCH_CLOCK_H

#include <sys/resource.h>
#include <time.h>

/* CLOCK_MONOTONIC in nanoseconds. */
static inline double bench_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

/* User plus system CPU time of this process in nanoseconds. */
static inline double bench_cpu_ns(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ((double)ru.ru_utime.tv_sec + (double)ru.ru_stime.tv_sec) * 1e9 +
           ((double)ru.ru_utime.tv_usec + (double)ru.ru_stime.tv_usec) * 1e3;
}

#endif
