/* cpu_hotplug.c: test guest that follows vm.resize through cocoon's CPU hot-plug registers, as
 * the DSDT's AML would (CSCN's scan and acknowledgements, _EJ0's eject), and runs vCPU 1 itself.
 *
 * A freestanding guest cannot run AML, so it drives the same registers the AML drives, with the
 * layout from vmm/base/acpi_regs.h, and polls them instead of taking the GED interrupt (whose
 * selector it still reads). Round 1: waits until vCPU 1 is "inserting", acknowledges, starts it
 * with INIT/SIPI (it prints), waits until it is "removing", then waits for an ACPI power-button
 * event as the host's go-ahead (so the host can see the removal pending), stops the AP,
 * acknowledges and ejects it. Round 2: the next insert, INIT/SIPI again, the AP prints again.
 * Then it idles (halted) until the host stops it. Booted with vCPU 1 already present (a reboot
 * after vm.resize), it only reports that and idles. */
#include "rt/rt.h"
#include "vmm/base/acpi_regs.h"

#define HOT_CPU 1

static volatile uint32_t ap_round, ap_stop, ap_stopped;
static uint32_t ged_seen; /* every GED selector bit read so far (the selector clears on read) */

static uint8_t cpu_status(unsigned idx)
{
    outl(ACPI_CPUHP_CSEL, idx);
    return inb(ACPI_CPUHP_STATUS);
}

static void cpu_write(unsigned idx, uint8_t v)
{
    outl(ACPI_CPUHP_CSEL, idx);
    outb(ACPI_CPUHP_STATUS, v);
}

/* Polls until vCPU idx shows `bit` (the host decides when; the harness has the timeout). */
static uint8_t wait_cpu(unsigned idx, uint8_t bit)
{
    for (;;) {
        ged_seen |= inl(ACPI_PORT_GED);
        uint8_t st = cpu_status(idx);
        if (st & bit)
            return st;
        rt_pause();
    }
}

static void wait_ged(uint32_t bit)
{
    while (!(ged_seen & bit)) {
        ged_seen |= inl(ACPI_PORT_GED);
        rt_pause();
    }
}

/* The GED event follows the status bit (cocoon sets the bit, then raises the event). */
static void expect_cpu_event(const char *what)
{
    for (uint32_t i = 0; i < 1000000 && !(ged_seen & ACPI_GED_CPU_CHANGED); i++)
        ged_seen |= inl(ACPI_PORT_GED);
    if (!(ged_seen & ACPI_GED_CPU_CHANGED))
        rt_fail("vCPU 1 %s without a GED CPU event (selector bits 0x%x)", what, ged_seen);
    ged_seen &= ~(uint32_t)ACPI_GED_CPU_CHANGED;
}

static void ap_main(unsigned slot)
{
    rt_printf("cpu hotplug: apic %u up (round %u, slot %u)\n", rt_apic_id(), ap_round, slot);
    rt_ap_report_in();
    while (!ap_stop)
        rt_pause();
    ap_stopped = 1; /* returning halts this AP with interrupts off, as an offlined CPU */
}

/* One insert: seen through the registers and the GED, acknowledged, the AP started. */
static void insert_round(unsigned round)
{
    uint8_t st = wait_cpu(HOT_CPU, ACPI_CPU_INSERTING);
    if (!(st & ACPI_CPU_ENABLED))
        rt_fail("vCPU 1 inserting but not enabled (status 0x%x)", st);
    expect_cpu_event("inserting");
    rt_printf("cpu hotplug: cpu 1 inserting (round %u)\n", round);
    cpu_write(HOT_CPU, ACPI_CPU_INSERTING); /* CSCN: Store(1, CINS) */
    if (cpu_status(HOT_CPU) & ACPI_CPU_INSERTING)
        rt_fail("the insert acknowledgement did not clear the bit");
    ap_round = round;
    ap_stop = 0;
    ap_stopped = 0;
    if (!rt_start_ap(HOT_CPU, ap_main))
        rt_fail("hot-added vCPU 1 did not start (round %u)", round);
}

/* One removal: seen, the host's go-ahead, the AP stopped, acknowledged and ejected. */
static void remove_round(void)
{
    wait_cpu(HOT_CPU, ACPI_CPU_REMOVING);
    expect_cpu_event("removing");
    rt_printf("cpu hotplug: cpu 1 removing; waiting for the power button to eject it\n");
    wait_ged(ACPI_GED_POWER_BUTTON);
    ap_stop = 1;
    for (uint64_t spin = 0; !ap_stopped; spin++)
        if (spin > 50000000)
            rt_fail("vCPU 1 did not stop");
    rt_printf("cpu hotplug: cpu 1 stopped\n");
    cpu_write(HOT_CPU, ACPI_CPU_REMOVING); /* CSCN: Store(1, CRMV) */
    cpu_write(HOT_CPU, ACPI_CPU_EJECT);    /* _EJ0 -> CEJ0: Store(1, CEJ0) */
    uint8_t st = cpu_status(HOT_CPU);
    if (st & ACPI_CPU_ENABLED)
        rt_fail("vCPU 1 still enabled after its eject (status 0x%x)", st);
    rt_printf("cpu hotplug: cpu 1 ejected\n");
}

static __attribute__((noreturn)) void idle(void)
{
    for (;;)
        __asm__ volatile("cli; hlt");
}

int main(void)
{
    if (!(cpu_status(0) & ACPI_CPU_ENABLED))
        rt_fail("the boot vCPU is not enabled in the CPU hot-plug registers");
    bool present = cpu_status(HOT_CPU) & ACPI_CPU_ENABLED;
    rt_printf("cpu hotplug guest ready (cpu 1 present: %s)\n", present ? "yes" : "no");
    if (present)
        idle();
    insert_round(1);
    remove_round();
    insert_round(2);
    ap_stop = 1;
    rt_printf("cpu hotplug: done\n");
    idle();
}
