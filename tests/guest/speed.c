/* speed.c: benchmark guest: the same loop in ring 0 and in ring 3, bracketed by boot-timer codes.
 */
#include "rt/rt.h"

static uint64_t work(uint64_t n)
{
    volatile uint64_t acc = 0;
    for (uint64_t i = 0; i < n; i++)
        acc += i ^ (acc >> 3);
    return acc;
}

int main(void)
{
    uint64_t n0 = rt_cmdline_uint("ring0", 100000), n3 = rt_cmdline_uint("ring3", 100000000);
    rt_progress(0x10);
    work(n0);
    rt_progress(0x11);
    rt_run_user(work, n3);
    rt_progress(0x12);
    rt_printf("ring0 iterations %lu, ring3 iterations %lu (see boot-timer codes 0x10..0x12)\n", n0,
              n3);
    return 0;
}
