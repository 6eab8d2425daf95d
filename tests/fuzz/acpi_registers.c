/* acpi_registers.c: libFuzzer target: the ACPI power and hot-plug registers as a hostile guest
 * drives them (any port offset, width, value), interleaved with cocoon's own plug / unplug /
 * power-button calls. Checks that a slot or vCPU is only ever ejected after cocoon asked. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "devices/acpi_hotplug.h"
#include "devices/acpi_pm.h"
#include "firmware/acpi.h"
#include "tests/fuzz/fuzz_util.h"
#include "vmm/base/log.h"

#define FZ_MAX_VCPUS 8

struct model {
    uint32_t asked_slots;
    uint8_t asked_cpu[FZ_MAX_VCPUS];
};

static void raise_gsi(void *ctx, uint32_t gsi)
{
    if (gsi != 9)
        abort();
}

static void pci_eject(void *ctx, unsigned slot)
{
    struct model *m = ctx;
    if (slot >= 32 || !(m->asked_slots & (1u << slot)))
        abort(); /* ejected without cocoon asking */
    m->asked_slots &= ~(1u << slot);
}

static void cpu_eject(void *ctx, uint32_t index)
{
    struct model *m = ctx;
    if (index == 0 || index >= FZ_MAX_VCPUS || !m->asked_cpu[index])
        abort();
    m->asked_cpu[index] = 0;
}

static void nop(void *opaque) {}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    log_set_level(LOG_LVL_ERROR);
    static const struct acpi_hp_ops ops = {raise_gsi, pci_eject, cpu_eject};
    struct model m = {0};
    struct acpi_hp *hp = acpi_hp_new(9, 2, FZ_MAX_VCPUS, 1u << 1, &ops, &m);
    struct acpi_pm pm = {nop, nop, NULL, LOG_RATELIMIT_INIT};
    if (!hp)
        abort();
    struct fz f = {data, size};
    while (f.n) {
        uint8_t op = fz_u8(&f), arg = fz_u8(&f);
        uint32_t len = 1u << (fz_u8(&f) & 3);
        uint64_t v = fz_u32(&f);
        switch (op % 8) {
        case 0:
            acpi_hp_io(hp, arg % (ACPI_HP_PORTS + 4), &v, len, false);
            break;
        case 1:
            acpi_hp_io(hp, arg % (ACPI_HP_PORTS + 4), &v, len, true);
            break;
        case 2:
            acpi_pm_io(&pm, arg % ACPI_PM_PORTS, &v, len, (arg & 0x80) != 0);
            break;
        case 3:
            acpi_hp_pci_plugged(hp, arg % 33);
            break;
        case 4:
            if (acpi_hp_pci_unplug_request(hp, arg % 33) == 0)
                m.asked_slots |= 1u << (arg % 33);
            break;
        case 5:
            acpi_hp_cpu_plugged(hp, arg % (FZ_MAX_VCPUS + 1));
            break;
        case 6:
            if (acpi_hp_cpu_unplug_request(hp, arg % (FZ_MAX_VCPUS + 1)) == 0)
                m.asked_cpu[arg % (FZ_MAX_VCPUS + 1)] = 1;
            break;
        default:
            acpi_hp_power_button(hp);
        }
    }
    acpi_hp_free(hp);
    return 0;
}
