/* spin.c: test guest that says "ready" and then runs forever (in ring 3), until the VMM stops it.
 */
#include "rt/rt.h"

static uint64_t spin_forever(uint64_t arg)
{
    volatile uint64_t n = arg;
    for (;;)
        n++;
    return n;
}

int main(void)
{
    rt_puts("spin guest ready\n");
    rt_run_user(spin_forever, 0);
    return 1;
}
