/* echo.c: test guest that reads one line from the console UART and echoes it back. */
#include "rt/rt.h"

#define UART_LSR 5
#define LSR_DR   0x01

static char read_char(void)
{
    while (!(inb(RT_PORT_UART + UART_LSR) & LSR_DR))
        rt_pause();
    return (char)inb(RT_PORT_UART);
}

int main(void)
{
    char line[128];
    unsigned n = 0;
    rt_puts("echo guest ready\n");
    for (;;) {
        char c = read_char();
        if (c == '\n' || c == '\r' || n == sizeof(line) - 1)
            break;
        line[n++] = c;
    }
    line[n] = '\0';
    rt_printf("got: %s\n", line);
    return (int)n;
}
