/* hello.c: test guest that greets through the UART and powers off with the status it chose. */
#include "rt/rt.h"

static uint64_t user_sum(uint64_t n)
{
    uint64_t s = 0;
    for (uint64_t i = 1; i <= n; i++)
        s += i;
    return s;
}

int main(void)
{
    unsigned status = (unsigned)rt_cmdline_uint("status", 42);
    rt_printf("hello from the cocoon test guest\n");
    rt_printf("cmdline: '%s', RAM %lu MiB\n", rt_cmdline(), rt_ram_size() >> 20);
    /* A ring-3 round trip proves the runtime's user mode works on this host. */
    uint64_t s = rt_run_user(user_sum, 1000);
    if (s != 500500)
        rt_fail("ring-3 sum %lu != 500500", s);
    rt_printf("ring 3 ok; powering off with status %u\n", status);
    return (int)status;
}
