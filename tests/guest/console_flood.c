/* console_flood.c: test guest: one CPU floods the console while the other serves vsock echo.
 *
 * cmdline: mib=N  MiB the AP writes to the UART with `rep outsb` (0 = until the VM stops)
 * The bootstrap CPU runs the vsock echo service on port 1024 (tests/guest/rt/vsock.c) for ever,
 * so a host can check that devices and the control API keep working while the console floods.
 * Needs 2 vCPUs.
 */
#include "rt/rt.h"
#include "rt/vsock.h"

#define FLOOD_CHUNK 4096

static uint8_t chunk[FLOOD_CHUNK];
static uint64_t flood_mib;
static volatile uint64_t flooded_chunks;

/* String I/O from ring 0 (ring 3 string I/O faults on this runtime); on hosts that emulate ring
 * 0 this runs at about 36 KB/s, one exit per byte. */
static void outsb_chunk(void)
{
    const void *src = chunk;
    uint64_t count = FLOOD_CHUNK;
    __asm__ volatile("rep outsb" : "+S"(src), "+c"(count) : "d"((uint16_t)RT_PORT_UART) : "memory");
}

static void flood_main(unsigned slot)
{
    (void)slot;
    rt_ap_report_in();
    uint64_t chunks = flood_mib * (1024 * 1024 / FLOOD_CHUNK);
    for (uint64_t i = 0; flood_mib == 0 || i < chunks; i++) {
        outsb_chunk();
        flooded_chunks = i + 1;
    }
    for (;;)
        __asm__ volatile("hlt");
}

int main(void)
{
    flood_mib = rt_cmdline_uint("mib", 0);
    for (unsigned i = 0; i < FLOOD_CHUNK; i++)
        chunk[i] = (i % 64 == 63) ? '\n' : (uint8_t)('a' + i % 26);
    rt_printf("console-flood: %lu MiB from the AP (0 = until stopped)\n", flood_mib);
    if (rt_start_aps(flood_main) < 1)
        rt_fail("no AP to flood the console from");
    vsock_echo_start(1024);
    vsock_echo_serve(0);
    return 0;
}
