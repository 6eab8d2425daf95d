/* acpi_registers: the power registers (S5, reset) and the hot-plug registers (GED selector,
 * PCIU/PCID/B0EJ, CPU manager) driven exactly as the DSDT's AML and ACPICA drive them, plus
 * hostile accesses. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "devices/acpi_hotplug.h"
#include "devices/acpi_pm.h"
#include "firmware/acpi.h"
#include "vmm/vm_internal.h"

struct events {
    int poweroff, reset, raised, pci_ejects, cpu_ejects;
    uint32_t last_gsi;
    unsigned ejected_slot;
    uint32_t ejected_cpu;
};

static void on_poweroff(void *o)
{
    ((struct events *)o)->poweroff++;
}

static void on_reset(void *o)
{
    ((struct events *)o)->reset++;
}

static void raise_gsi(void *o, uint32_t gsi)
{
    struct events *e = o;
    e->raised++;
    e->last_gsi = gsi;
}

static void pci_eject(void *o, unsigned slot)
{
    struct events *e = o;
    e->pci_ejects++;
    e->ejected_slot = slot;
}

static void cpu_eject(void *o, uint32_t index)
{
    struct events *e = o;
    e->cpu_ejects++;
    e->ejected_cpu = index;
}

static const struct acpi_hp_ops ops = {raise_gsi, pci_eject, cpu_eject};

static void pm_write(struct acpi_pm *pm, unsigned port, uint8_t v)
{
    acpi_pm_io(pm, port - ACPI_PORT_SLEEP_CTL, &v, 1, true);
}

/* ACPICA's S5 sequence (hwesleep.c): WAK_STS to sleep status, then 0x34 to sleep control. */
static void pm_poweroff_and_reset(void **state)
{
    struct events e = {0};
    struct acpi_pm pm = {on_poweroff, on_reset, &e, LOG_RATELIMIT_INIT};
    pm_write(&pm, ACPI_PORT_SLEEP_STS, 0x80);
    assert_int_equal(e.poweroff, 0);
    pm_write(&pm, ACPI_PORT_SLEEP_CTL, 5 << 2); /* SLP_TYP without SLP_EN */
    assert_int_equal(e.poweroff, 0);
    pm_write(&pm, ACPI_PORT_SLEEP_CTL, 3 << 2 | 0x20); /* S3: not offered */
    assert_int_equal(e.poweroff, 0);
    pm_write(&pm, ACPI_PORT_SLEEP_CTL, ACPI_SLEEP_CTL_S5);
    assert_int_equal(ACPI_SLEEP_CTL_S5, 0x34);
    assert_int_equal(e.poweroff, 1);
    pm_write(&pm, ACPI_PORT_RESET, 0x42);
    assert_int_equal(e.reset, 0);
    pm_write(&pm, ACPI_PORT_RESET, ACPI_RESET_VALUE);
    assert_int_equal(e.reset, 1);
    uint32_t wide = ACPI_SLEEP_CTL_S5;
    acpi_pm_io(&pm, 0, &wide, 4, true); /* wrong width: ignored */
    assert_int_equal(e.poweroff, 1);
    uint8_t r = 0xFF;
    acpi_pm_io(&pm, 1, &r, 1, false);
    assert_int_equal(r, 0);
    uint64_t r8 = ~0ULL;
    acpi_pm_io(&pm, 0, &r8, 8, false);
    assert_int_equal(r8, 0);
}

static uint32_t hp_read(struct acpi_hp *hp, unsigned port, uint32_t len)
{
    uint32_t v = 0xDEADBEEF;
    acpi_hp_io(hp, port - ACPI_PORT_GED, &v, len, false);
    return len == 4 ? v : v & 0xFF;
}

static void hp_write(struct acpi_hp *hp, unsigned port, uint32_t v, uint32_t len)
{
    acpi_hp_io(hp, port - ACPI_PORT_GED, &v, len, true);
}

/* Hot-add: PCIU and the GED bit are latched until read, reads clear them. */
static void pci_plug_notifies(void **state)
{
    struct events e = {0};
    struct acpi_hp *hp = acpi_hp_new(9, 1, 1, 0, &ops, &e);
    assert_non_null(hp);
    assert_int_equal(acpi_hp_pci_plugged(hp, 3), 0);
    assert_int_equal(e.raised, 1);
    assert_int_equal(e.last_gsi, 9);
    assert_int_equal(hp_read(hp, ACPI_PORT_GED, 4), ACPI_GED_PCI_CHANGED);
    assert_int_equal(hp_read(hp, ACPI_PORT_GED, 4), 0);
    assert_int_equal(hp_read(hp, ACPI_PORT_PCIHP, 4), 1u << 3);
    assert_int_equal(hp_read(hp, ACPI_PORT_PCIHP, 4), 0);
    assert_int_equal(hp_read(hp, ACPI_PORT_PCIHP + 4, 4), 0);
    assert_int_equal(acpi_hp_pci_plugged(hp, 0), -1);
    assert_int_equal(acpi_hp_pci_plugged(hp, 32), -1);
    acpi_hp_free(hp);
}

/* Hot-remove: PCID asks, the guest's _EJ0 writes B0EJ, only then is the slot freed. */
static void pci_unplug_waits_for_eject(void **state)
{
    struct events e = {0};
    struct acpi_hp *hp = acpi_hp_new(9, 1, 1, 1u << 2, &ops, &e);
    assert_int_equal(acpi_hp_pci_unplug_request(hp, 5), -1); /* nothing there */
    assert_int_equal(acpi_hp_pci_unplug_request(hp, 2), 0);  /* boot-time device */
    assert_int_equal(acpi_hp_pci_unplug_request(hp, 2), -1); /* already asked */
    assert_int_equal(acpi_hp_pci_plugged(hp, 2), -1);        /* busy until ejected */
    assert_int_equal(hp_read(hp, ACPI_PORT_GED, 4), ACPI_GED_PCI_CHANGED);
    assert_int_equal(hp_read(hp, ACPI_PORT_PCIHP + 4, 4), 1u << 2);
    assert_int_equal(e.pci_ejects, 0);
    hp_write(hp, ACPI_PORT_PCIHP + 8, 1u << 7, 4); /* a slot nobody asked about: ignored */
    assert_int_equal(e.pci_ejects, 0);
    hp_write(hp, ACPI_PORT_PCIHP + 8, 1u << 2, 2); /* wrong width: ignored */
    assert_int_equal(e.pci_ejects, 0);
    hp_write(hp, ACPI_PORT_PCIHP + 8, 1u << 2 | 1u << 7, 4);
    assert_int_equal(e.pci_ejects, 1);
    assert_int_equal(e.ejected_slot, 2);
    hp_write(hp, ACPI_PORT_PCIHP + 8, 1u << 2, 4); /* second eject: nothing left */
    assert_int_equal(e.pci_ejects, 1);
    assert_int_equal(acpi_hp_pci_plugged(hp, 2), 0); /* slot reusable */
    acpi_hp_free(hp);
}

/* CPU manager as CSCN / CSTA / CEJ0 drive it. */
static void cpu_plug_and_eject(void **state)
{
    struct events e = {0};
    struct acpi_hp *hp = acpi_hp_new(9, 1, 4, 0, &ops, &e);
    hp_write(hp, ACPI_PORT_CPUHP, 0, 4);
    assert_int_equal(hp_read(hp, ACPI_PORT_CPUHP + 4, 1), 1); /* CPEN */
    hp_write(hp, ACPI_PORT_CPUHP, 1, 4);
    assert_int_equal(hp_read(hp, ACPI_PORT_CPUHP + 4, 1), 0);
    assert_int_equal(acpi_hp_cpu_plugged(hp, 1), 0);
    assert_int_equal(acpi_hp_cpu_plugged(hp, 1), -1);
    assert_int_equal(acpi_hp_cpu_plugged(hp, 4), -1);
    assert_int_equal(hp_read(hp, ACPI_PORT_GED, 4), ACPI_GED_CPU_CHANGED);
    assert_int_equal(hp_read(hp, ACPI_PORT_CPUHP + 4, 1), 3); /* CPEN | CINS */
    hp_write(hp, ACPI_PORT_CPUHP + 4, 2, 1);                  /* clear CINS */
    assert_int_equal(hp_read(hp, ACPI_PORT_CPUHP + 4, 1), 1);
    assert_true(acpi_hp_cpu_enabled(hp, 1));

    hp_write(hp, ACPI_PORT_CPUHP + 4, 8, 1); /* eject before cocoon asked: ignored */
    assert_int_equal(e.cpu_ejects, 0);
    assert_int_equal(acpi_hp_cpu_unplug_request(hp, 0), -1); /* the boot vCPU stays */
    assert_int_equal(acpi_hp_cpu_unplug_request(hp, 2), -1); /* not present */
    assert_int_equal(acpi_hp_cpu_unplug_request(hp, 1), 0);
    assert_int_equal(hp_read(hp, ACPI_PORT_CPUHP + 4, 1), 5); /* CPEN | CRMV */
    hp_write(hp, ACPI_PORT_CPUHP + 4, 4, 1);                  /* clear CRMV */
    hp_write(hp, ACPI_PORT_CPUHP + 4, 8, 1);                  /* CEJ0 */
    assert_int_equal(e.cpu_ejects, 1);
    assert_int_equal(e.ejected_cpu, 1);
    assert_int_equal(hp_read(hp, ACPI_PORT_CPUHP + 4, 1), 0);
    assert_false(acpi_hp_cpu_enabled(hp, 1));
    assert_int_equal(acpi_hp_cpu_plugged(hp, 1), 0); /* re-added later */

    hp_write(hp, ACPI_PORT_CPUHP, 0, 4);
    hp_write(hp, ACPI_PORT_CPUHP + 4, 8, 1); /* the guest tries to eject vCPU 0 */
    assert_int_equal(e.cpu_ejects, 1);
    hp_write(hp, ACPI_PORT_CPUHP, 0xFFFFFFFF, 4); /* CSEL out of range */
    assert_int_equal(hp_read(hp, ACPI_PORT_CPUHP + 4, 1), 0);
    hp_write(hp, ACPI_PORT_CPUHP + 4, 8, 1);
    assert_int_equal(e.cpu_ejects, 1);
    acpi_hp_free(hp);
}

static void power_button_event(void **state)
{
    struct events e = {0};
    struct acpi_hp *hp = acpi_hp_new(5, 2, 2, 0, &ops, &e);
    acpi_hp_power_button(hp);
    assert_int_equal(e.raised, 1);
    assert_int_equal(e.last_gsi, 5);
    assert_int_equal(hp_read(hp, ACPI_PORT_GED, 4), ACPI_GED_POWER_BUTTON);
    acpi_hp_free(hp);
}

/* vm.power-button's machine side: a VM without cocoon's ACPI (no ACPI device attached)
 * refuses with what to do instead rather than pretending to press a button nobody sees. */
static void power_button_needs_acpi(void **state)
{
    struct vm vm;
    memset(&vm, 0, sizeof(vm));
    char err[256] = "";
    assert_int_equal(vm_power_button(&vm, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "vm.shutdown"));
}

/* Every offset, width and direction: no crash, reads of non-registers return 0. */
static void hostile_accesses(void **state)
{
    struct events e = {0};
    struct acpi_hp *hp = acpi_hp_new(9, 1, 2, 0, &ops, &e);
    for (uint64_t off = 0; off < ACPI_HP_PORTS + 4; off++) {
        for (uint32_t len = 1; len <= 8; len *= 2) {
            uint64_t v = ~0ULL;
            acpi_hp_io(hp, off, &v, len, false);
            if (off == 0x16 || off == 0x17 || off >= ACPI_HP_PORTS)
                assert_int_equal(v & ((len == 8) ? ~0ULL : ((1ULL << (8 * len)) - 1)), 0);
            v = ~0ULL;
            acpi_hp_io(hp, off, &v, len, true);
        }
    }
    assert_int_equal(e.pci_ejects + e.cpu_ejects, 0);
    assert_null(acpi_hp_new(9, 0, 1, 0, &ops, &e));
    assert_null(acpi_hp_new(9, 2, 1, 0, &ops, &e));
    assert_null(acpi_hp_new(9, 1, ACPI_MAX_VCPUS + 1, 0, &ops, &e));
    assert_null(acpi_hp_new(9, 1, 1, 1, &ops, &e));
    assert_null(acpi_hp_new(9, 1, 1, 0, NULL, &e));
    acpi_hp_free(hp);
    acpi_hp_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(pm_poweroff_and_reset),      cmocka_unit_test(pci_plug_notifies),
        cmocka_unit_test(pci_unplug_waits_for_eject), cmocka_unit_test(cpu_plug_and_eject),
        cmocka_unit_test(power_button_event),         cmocka_unit_test(hostile_accesses),
        cmocka_unit_test(power_button_needs_acpi),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
