/* vcpu_hotplug_resize_rules.c: vm.resize's vCPU rules in the VM's owner, over a fake machine:
 * range, no-op, before boot, running and paused hot-plug, the machine's refusals, confidential
 * guests, memory changes, and the count kept for vm.info and the next boot. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "support/fake_machine.h"
#include "vmm/vm_owner.h"

FAKE_OWNER_FIXTURE

/* A plain VM of `cpus` vCPUs (max_vcpus max, 0 = unset), created and, if asked, booted. */
static void create(unsigned cpus, unsigned max, enum tee_kind tee, bool boot)
{
    struct vm_config cfg;
    vm_config_init(&cfg);
    cfg.cpus = cpus;
    cfg.max_cpus = max;
    cfg.memory = 256ULL << 20;
    cfg.kernel = fixture("@KERNEL@");
    if (tee != TEE_NONE) {
        cfg.firmware = fixture("@FIRMWARE@");
        cfg.platform.tee = tee;
    }
    if (vm_owner_create(owner, &cfg, err, sizeof(err)) != 0)
        fail_msg("vm_owner_create: %s", err);
    if (boot)
        assert_int_equal(vm_owner_boot(owner, err, sizeof(err)), 0);
}

static int resize(uint64_t vcpus)
{
    const struct vm_owner_resize rq = {.vcpus_set = true, .vcpus = vcpus};
    err[0] = '\0';
    return vm_owner_resize(owner, &rq, err, sizeof(err));
}

static unsigned cfg_cpus(void)
{
    return vm_owner_config(owner)->cpus;
}

/* 1..max_vcpus (max_vcpus unset: boot_vcpus), else 400 naming the range; nothing reaches the
 * machine and the configuration stays. */
static void vcpu_hotplug_range_is_1_to_max(void **state)
{
    create(1, 4, TEE_NONE, true);
    static const uint64_t bad[] = {0, 5, 1000000, UINT64_MAX};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(resize(bad[i]), VM_OWNER_E_INVALID);
        assert_non_null(strstr(err, "out of range (1..4)"));
    }
    assert_int_equal(fm.resizes, 0);
    assert_int_equal(cfg_cpus(), 1);
}

static void vcpu_hotplug_range_without_max_is_boot_count(void **state)
{
    create(2, 0, TEE_NONE, true);
    assert_int_equal(resize(3), VM_OWNER_E_INVALID);
    assert_non_null(strstr(err, "(1..2)"));
}

/* Kata resizes to the current count on every container: 204 without touching the machine. */
static void vcpu_hotplug_current_count_is_a_noop(void **state)
{
    create(2, 4, TEE_NONE, true);
    assert_int_equal(resize(2), 0);
    assert_int_equal(fm.resizes, 0);
}

/* Before boot the count is only the configuration (Cloud Hypervisor's VmOwnership::None). */
static void vcpu_hotplug_before_boot_edits_config(void **state)
{
    create(1, 4, TEE_NONE, false);
    assert_int_equal(resize(3), 0);
    assert_int_equal(fm.resizes, 0);
    assert_int_equal(cfg_cpus(), 3);
    assert_int_equal(vm_owner_boot(owner, err, sizeof(err)), 0);
    assert_int_equal(fm.booted_cpus, 3);
}

/* Running: up and down reach the machine; the count becomes boot_vcpus (vm.info) and survives
 * vm.shutdown + vm.boot, as Cloud Hypervisor's Vm::resize keeps it for a reboot. */
static void vcpu_hotplug_running_resizes_machine_and_config(void **state)
{
    create(1, 4, TEE_NONE, true);
    assert_int_equal(resize(3), 0);
    assert_int_equal(fm.resizes, 1);
    assert_int_equal(fm.resized_to, 3);
    assert_int_equal(cfg_cpus(), 3);
    assert_int_equal(resize(2), 0);
    assert_int_equal(fm.resized_to, 2);
    assert_int_equal(cfg_cpus(), 2);
    assert_int_equal(vm_owner_shutdown(owner, err, sizeof(err)), 0);
    assert_int_equal(cfg_cpus(), 2);
    assert_int_equal(vm_owner_boot(owner, err, sizeof(err)), 0);
    assert_int_equal(fm.booted_cpus, 2);
    assert_int_equal(vm_owner_config(owner)->max_cpus, 4);
}

static void vcpu_hotplug_paused_resizes(void **state)
{
    create(1, 2, TEE_NONE, true);
    assert_int_equal(vm_owner_pause(owner, err, sizeof(err)), 0);
    assert_int_equal(resize(2), 0);
    assert_int_equal(fm.resized_to, 2);
    assert_int_equal(vm_owner_state(owner), VM_OWNER_PAUSED);
}

/* The machine's refusals pass through (409 no hot-plug, 429 removal pending, 400, 500) and the
 * configuration keeps the old count. */
static void vcpu_hotplug_machine_refusals_keep_config(void **state)
{
    static const struct {
        int machine, want;
    } cases[] = {
        {VM_OWNER_E_STATE, VM_OWNER_E_STATE},
        {VM_OWNER_E_BUSY, VM_OWNER_E_BUSY},
        {VM_OWNER_E_INVALID, VM_OWNER_E_INVALID},
        {VM_OWNER_E_FAILED, VM_OWNER_E_FAILED},
        {-1, VM_OWNER_E_FAILED},
        {VM_OWNER_E_NO_DEVICE, VM_OWNER_E_FAILED},
    };
    create(2, 4, TEE_NONE, true);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        fm.resize_rc = cases[i].machine;
        assert_int_equal(resize(3), cases[i].want);
        assert_non_null(strstr(err, "refused"));
        assert_int_equal(cfg_cpus(), 2);
    }
    assert_int_equal(fm.resizes, sizeof(cases) / sizeof(cases[0]));
}

/* A confidential guest keeps refusing a real resize with 403, running or not, and the no-op
 * stays 204. */
static void vcpu_hotplug_confidential_refused(void **state)
{
    static const enum tee_kind tees[] = {TEE_TDX, TEE_SNP};
    for (size_t i = 0; i < 2; i++) {
        vm_owner_delete(owner);
        create(1, 2, tees[i], i == 0);
        assert_int_equal(resize(2), VM_OWNER_E_CONFIDENTIAL);
        assert_non_null(strstr(err, "refused for a confidential guest"));
        assert_int_equal(resize(1), 0);
        assert_int_equal(cfg_cpus(), 1);
    }
    assert_int_equal(fm.resizes, 0);
}

/* No memory hot-plug: a running VM's memory change is 501, and a request that also changes the
 * vCPUs changes nothing. */
static void vcpu_hotplug_memory_change_refused_whole(void **state)
{
    create(1, 2, TEE_NONE, true);
    const struct vm_owner_resize rq = {
        .vcpus_set = true, .vcpus = 2, .ram_set = true, .ram = 512ULL << 20};
    assert_int_equal(vm_owner_resize(owner, &rq, err, sizeof(err)), VM_OWNER_E_UNSUPPORTED);
    assert_non_null(strstr(err, "memory hot-plug"));
    assert_int_equal(fm.resizes, 0);
    assert_int_equal(cfg_cpus(), 1);
    const struct vm_owner_resize same_ram = {
        .vcpus_set = true, .vcpus = 2, .ram_set = true, .ram = 256ULL << 20};
    assert_int_equal(vm_owner_resize(owner, &same_ram, err, sizeof(err)), 0);
    assert_int_equal(fm.resized_to, 2);
}

/* Not created or shut down: the lifecycle's refusals. */
static void vcpu_hotplug_refused_without_running_vm(void **state)
{
    assert_int_equal(resize(1), VM_OWNER_E_NOT_CREATED);
    create(1, 2, TEE_NONE, true);
    assert_int_equal(vm_owner_shutdown(owner, err, sizeof(err)), 0);
    assert_int_equal(resize(2), VM_OWNER_E_STATE);
    assert_int_equal(fm.resizes, 0);
}

/* A machine without vCPU hot-plug: 501, the configuration unchanged. */
static void vcpu_hotplug_machine_without_op_is_501(void **state)
{
    static struct vm_machine_ops ops; /* the owner keeps the pointer until teardown */
    ops = fake_machine_ops;
    ops.resize_vcpus = NULL;
    vm_owner_free(owner);
    owner = vm_owner_new(&ops, &fm, NULL);
    assert_non_null(owner);
    create(1, 2, TEE_NONE, true);
    assert_int_equal(resize(2), VM_OWNER_E_UNSUPPORTED);
    assert_int_equal(cfg_cpus(), 1);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(vcpu_hotplug_range_is_1_to_max),
        T(vcpu_hotplug_range_without_max_is_boot_count),
        T(vcpu_hotplug_current_count_is_a_noop),
        T(vcpu_hotplug_before_boot_edits_config),
        T(vcpu_hotplug_running_resizes_machine_and_config),
        T(vcpu_hotplug_paused_resizes),
        T(vcpu_hotplug_machine_refusals_keep_config),
        T(vcpu_hotplug_confidential_refused),
        T(vcpu_hotplug_memory_change_refused_whole),
        T(vcpu_hotplug_refused_without_running_vm),
        T(vcpu_hotplug_machine_without_op_is_501),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
