/* reset.c: test guest that resets the machine: mode=kbd (i8042 0xFE pulse) or mode=triple. */
#include "rt/rt.h"

int main(void)
{
    unsigned mode = (unsigned)rt_cmdline_uint("mode", 0);
    if (mode == 0) {
        rt_puts("reset guest: i8042 reset pulse\n");
        outb(0x64, 0xFE);
    } else {
        rt_puts("reset guest: triple fault\n");
        static const struct __attribute__((packed)) {
            uint16_t limit;
            uint64_t base;
        } empty_idt = {0, 0};
        __asm__ volatile("lidt %0; ud2" : : "m"(empty_idt));
    }
    rt_fail("still running after the reset request");
}
