/* vcpu_hotplug_vm_side.c: vm_resize_vcpus on a simulated KVM: which configurations get CPU
 * hot-plug, the vCPUs made at vm_create, what the guest sees in the CPU hot-plug registers and
 * the GED, removal pending until the guest's eject, the park and the reuse. No vCPU thread runs:
 * the guest's register accesses go through the port bus as a vCPU's exit would. */
#include <errno.h>
#include <linux/kvm.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <cmocka.h>

#include "support/sim_kvm.h"
#include "vmm/base/acpi_regs.h"
#include "vmm/vm_acpi.h"
#include "vmm/vm_internal.h"

static struct sim sim;
static uv_loop_t loop;
static struct vm *vm;
static char err[256];

/* A plain VM of cpus vCPUs (max 0 = unset) on the simulator, marked running as vm_boot would
 * (its threads are not started: nothing here runs guest code). */
static void create(unsigned cpus, unsigned max)
{
    sim_init(&sim);
    struct vm_config cfg;
    vm_config_init(&cfg);
    cfg.cpus = cpus;
    cfg.max_cpus = max;
    cfg.memory = 64ULL << 20;
    cfg.serial = SERIAL_OFF;
    uv_loop_init(&loop);
    if (vm_create_with(&sim.h, &cfg, &loop, NULL, NULL, &vm, err, sizeof(err)) != 0)
        fail_msg("vm_create_with: %s", err);
    vm_config_free(&cfg);
    atomic_store(&vm->state, VM_STATE_RUNNING);
}

static int teardown(void **state)
{
    vm_destroy(vm);
    vm = NULL;
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    assert_int_equal(sim.open_fds, 0);
    assert_int_equal(sim.mapped, 0);
    return 0;
}

/* ---- the guest's side: the AML's register accesses ---- */

static uint8_t guest_cpu_status(unsigned idx)
{
    uint32_t sel = idx;
    uint8_t st = 0xFF;
    assert_true(bus_dispatch(vm->pio, ACPI_CPUHP_CSEL, &sel, 4, true));
    assert_true(bus_dispatch(vm->pio, ACPI_CPUHP_STATUS, &st, 1, false));
    return st;
}

static void guest_cpu_write(unsigned idx, uint8_t v)
{
    uint32_t sel = idx;
    assert_true(bus_dispatch(vm->pio, ACPI_CPUHP_CSEL, &sel, 4, true));
    assert_true(bus_dispatch(vm->pio, ACPI_CPUHP_STATUS, &v, 1, true));
}

static uint32_t guest_ged(void)
{
    uint32_t v = 0;
    assert_true(bus_dispatch(vm->pio, ACPI_PORT_GED, &v, 4, false));
    return v;
}

/* The guest's _EJ0 for vCPU idx, then the loop thread's turn (the eject hand-off). */
static void guest_ejects(unsigned idx)
{
    guest_cpu_write(idx, ACPI_CPU_REMOVING);
    guest_cpu_write(idx, ACPI_CPU_EJECT);
    uv_run(&loop, UV_RUN_NOWAIT);
}

static bool active(unsigned idx)
{
    pthread_mutex_lock(&vm->lock);
    bool a = vm->vcpus[idx].active;
    pthread_mutex_unlock(&vm->lock);
    return a;
}

/* ---- tests ---- */

/* CPU hot-plug for a direct-booted plain guest whose max_vcpus is set above 1; never for a
 * firmware boot or SEV-SNP/TDX (a measured launch fixes its vCPUs). */
static void vcpu_hotplug_which_configs(void **state)
{
    struct vm_config c;
    vm_config_init(&c);
    assert_false(vm_vcpus_hotplug(&c)); /* max unset */
    c.max_cpus = 1;
    assert_false(vm_vcpus_hotplug(&c));
    c.max_cpus = 2;
    assert_true(vm_vcpus_hotplug(&c));
    c.cpus = 2; /* max == boot: may shrink, as in Cloud Hypervisor */
    assert_true(vm_vcpus_hotplug(&c));
    char fw[] = "OVMF.fd";
    c.firmware = fw; /* its broadcast INIT/SIPI would reach the spare vCPUs */
    assert_false(vm_vcpus_hotplug(&c));
    c.firmware = NULL;
    c.platform.tee = TEE_TDX;
    assert_false(vm_vcpus_hotplug(&c));
    c.platform.tee = TEE_SNP;
    assert_false(vm_vcpus_hotplug(&c));
}

/* Every KVM vCPU up to max_vcpus is made at vm_create (before the seccomp lockdown); only the
 * boot ones are active and enabled in the registers. */
static void vcpu_hotplug_vcpus_made_at_create(void **state)
{
    create(1, 3);
    assert_int_equal(sim.vcpus, 3);
    assert_int_equal(vm->nr_vcpus, 3);
    assert_true(vm->cpu_hotplug);
    assert_true(active(0));
    assert_false(active(1));
    assert_false(active(2));
    assert_int_equal(guest_cpu_status(0), ACPI_CPU_ENABLED);
    assert_int_equal(guest_cpu_status(2), 0);
}

/* Without max_vcpus: the boot vCPUs only, and a resize says what to set. */
static void vcpu_hotplug_refused_without_max(void **state)
{
    create(2, 0);
    assert_int_equal(sim.vcpus, 2);
    assert_false(vm->cpu_hotplug);
    assert_int_equal(vm_resize_vcpus(vm, 1, err, sizeof(err)), VM_RESIZE_NO_HOTPLUG);
    assert_non_null(strstr(err, "max_vcpus"));
    assert_true(active(1));
    assert_int_equal(sim.irq_raises[VM_ACPI_GED_GSI], 0);
}

static void vcpu_hotplug_refused_unless_running(void **state)
{
    create(1, 2);
    atomic_store(&vm->state, VM_STATE_CREATED);
    assert_int_equal(vm_resize_vcpus(vm, 2, err, sizeof(err)), VM_RESIZE_NOT_RUNNING);
    atomic_store(&vm->state, VM_STATE_SHUTDOWN);
    assert_int_equal(vm_resize_vcpus(vm, 2, err, sizeof(err)), VM_RESIZE_NOT_RUNNING);
    atomic_store(&vm->state, VM_STATE_PAUSED); /* allowed: applies when resumed */
    assert_int_equal(vm_resize_vcpus(vm, 2, err, sizeof(err)), 0);
    assert_true(active(1));
}

static void vcpu_hotplug_vm_range(void **state)
{
    create(1, 2);
    assert_int_equal(vm_resize_vcpus(vm, 0, err, sizeof(err)), VM_RESIZE_OUT_OF_RANGE);
    assert_int_equal(vm_resize_vcpus(vm, 3, err, sizeof(err)), VM_RESIZE_OUT_OF_RANGE);
    assert_non_null(strstr(err, "(1..2)"));
    assert_int_equal(vm_resize_vcpus(vm, 1, err, sizeof(err)), 0); /* the current count */
    assert_int_equal(sim.irq_raises[VM_ACPI_GED_GSI], 0);
}

/* Up: the next vCPUs become active, the guest sees them enabled and inserting, with one GED CPU
 * event per vCPU; its acknowledgement clears the insert bit. */
static void vcpu_hotplug_add_announces(void **state)
{
    create(1, 3);
    assert_int_equal(vm_resize_vcpus(vm, 3, err, sizeof(err)), 0);
    assert_true(active(1));
    assert_true(active(2));
    assert_int_equal(sim.irq_raises[VM_ACPI_GED_GSI], 2);
    assert_int_equal(guest_ged() & ACPI_GED_CPU_CHANGED, ACPI_GED_CPU_CHANGED);
    assert_int_equal(guest_ged(), 0); /* read clears */
    for (unsigned i = 1; i <= 2; i++) {
        assert_int_equal(guest_cpu_status(i), ACPI_CPU_ENABLED | ACPI_CPU_INSERTING);
        guest_cpu_write(i, ACPI_CPU_INSERTING);
        assert_int_equal(guest_cpu_status(i), ACPI_CPU_ENABLED);
    }
}

/* Down: the highest vCPUs are asked to leave and keep running until the guest ejects each; any
 * resize meanwhile is refused as pending; an eject parks exactly that vCPU; then the parked
 * vCPU is reused by the next add. */
static void vcpu_hotplug_remove_waits_for_eject(void **state)
{
    create(1, 3);
    assert_int_equal(vm_resize_vcpus(vm, 3, err, sizeof(err)), 0);
    unsigned pulses = sim.irq_raises[VM_ACPI_GED_GSI];
    assert_int_equal(vm_resize_vcpus(vm, 1, err, sizeof(err)), 0);
    assert_int_equal(sim.irq_raises[VM_ACPI_GED_GSI], pulses + 2);
    assert_true(active(1) && active(2)); /* still running: the guest has not ejected */
    assert_int_equal(guest_cpu_status(2), ACPI_CPU_ENABLED | ACPI_CPU_REMOVING);
    assert_int_equal(guest_cpu_status(1), ACPI_CPU_ENABLED | ACPI_CPU_REMOVING);
    assert_int_equal(vm_resize_vcpus(vm, 3, err, sizeof(err)), VM_RESIZE_PENDING);
    assert_non_null(strstr(err, "still being removed"));
    assert_int_equal(vm_resize_vcpus(vm, 2, err, sizeof(err)), VM_RESIZE_PENDING);

    guest_ejects(2);
    assert_false(active(2));
    assert_true(active(1));
    assert_int_equal(guest_cpu_status(2), 0);
    assert_int_equal(vm_resize_vcpus(vm, 2, err, sizeof(err)), VM_RESIZE_PENDING); /* vCPU 1 */
    guest_ejects(1);
    assert_false(active(1));
    assert_int_equal(vm->vcpus[1].ejects, 1);

    assert_int_equal(vm_resize_vcpus(vm, 2, err, sizeof(err)), 0); /* reuse the parked vCPU 1 */
    assert_true(active(1));
    assert_false(active(2));
    assert_int_equal(sim.vcpus, 3); /* no new KVM vCPU */
    assert_int_equal(guest_cpu_status(1), ACPI_CPU_ENABLED | ACPI_CPU_INSERTING);
}

/* The guest cannot park what cocoon did not ask for: the boot vCPU, an active vCPU with no
 * removal asked, an index beyond max_vcpus. */
static void vcpu_hotplug_unasked_eject_ignored(void **state)
{
    create(2, 3);
    /* after a resize, so the eject hand-off is in place and a refusal is the registers' doing */
    assert_int_equal(vm_resize_vcpus(vm, 3, err, sizeof(err)), 0);
    guest_ejects(0);
    guest_ejects(1);
    guest_ejects(7);
    guest_ejects(2);
    assert_true(active(0));
    assert_true(active(1));
    assert_true(active(2));
    assert_int_equal(vm_resize_vcpus(vm, 2, err, sizeof(err)), 0);
    guest_ejects(1); /* not the one asked */
    assert_true(active(1));
    guest_ejects(2);
    assert_false(active(2));
}

int main(void)
{
#define T(f) cmocka_unit_test_teardown(f, teardown)
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(vcpu_hotplug_which_configs),
        T(vcpu_hotplug_vcpus_made_at_create),
        T(vcpu_hotplug_refused_without_max),
        T(vcpu_hotplug_refused_unless_running),
        T(vcpu_hotplug_vm_range),
        T(vcpu_hotplug_add_announces),
        T(vcpu_hotplug_remove_waits_for_eject),
        T(vcpu_hotplug_unasked_eject_ignored),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
