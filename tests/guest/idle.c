/* idle.c: test guest that says "idle guest ready" and then halts forever (no host CPU used), for
 * measuring a VMM's resident memory with a live guest (tools/bench). */
#include "rt/rt.h"

int main(void)
{
    rt_puts("idle guest ready\n");
    for (;;)
        __asm__ volatile("cli; hlt" ::: "memory");
    return 1;
}
