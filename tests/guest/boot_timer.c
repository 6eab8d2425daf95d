/* boot_timer.c: test guest that writes progress codes to the boot-timer port, then powers off. */
#include "rt/rt.h"

int main(void)
{
    rt_progress(0x01);
    rt_puts("boot-timer guest: stage 1\n");
    rt_progress(0x02);
    rt_puts("boot-timer guest: stage 2\n");
    rt_progress(0x03);
    return 0;
}
