/* smp.c: test guest that finds its CPUs in the MP table, starts the APs and has each report in. */
#include "rt/rt.h"

static void ap_main(unsigned slot)
{
    rt_printf("cpu report: apic %u up (slot %u)\n", rt_apic_id(), slot);
    rt_ap_report_in();
}

int main(void)
{
    uint8_t ids[RT_MAX_CPUS];
    unsigned n = rt_mp_cpus(ids, RT_MAX_CPUS);
    if (n == 0)
        rt_fail("no MP table or no processors in it");
    rt_printf("MP table lists %u CPU(s)\n", n);
    rt_printf("cpu report: apic %u up (bootstrap)\n", rt_apic_id());
    unsigned aps = rt_start_aps(ap_main);
    if (aps != n - 1)
        rt_fail("only %u of %u APs reported in", aps, n - 1);
    rt_printf("all %u CPUs reported in\n", n);
    return (int)n;
}
