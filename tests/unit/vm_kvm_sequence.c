/* vm_kvm_sequence.c: vm_create/vm_destroy on a simulated KVM: set-up, per-vCPU state, MP table,
 * boot registers, and that every failure is one clear line with nothing leaked. */
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
#include "vmm/mptable.h"
#include "vmm/vm_internal.h"

static void config(struct vm_config *cfg, unsigned cpus)
{
    vm_config_init(cfg);
    cfg->cpus = cpus;
    cfg->memory = 64ULL << 20;
    cfg->serial = SERIAL_OFF;
}

/* Destroys the VM and lets the loop finish closing its handle. */
static void destroy(uv_loop_t *loop, struct vm *vm)
{
    vm_destroy(vm);
    uv_run(loop, UV_RUN_DEFAULT);
}

static void create_sets_up_machine(void **state)
{
    struct sim s;
    struct vm_config cfg;
    struct vm *vm = NULL;
    char err[256] = "";
    uv_loop_t loop;
    uv_loop_init(&loop);
    sim_init(&s);
    config(&cfg, 4);
    if (vm_create_with(&s.h, &cfg, &loop, NULL, NULL, &vm, err, sizeof(err)) != 0)
        fail_msg("vm_create_with: %s", err);
    assert_true(s.irqchip);
    assert_true(s.pit);
    assert_int_equal(s.slots, 1);
    assert_int_equal(s.slot_size[0], 64ULL << 20);
    assert_int_equal(s.vcpus, 4);
    for (unsigned i = 0; i < 4; i++) {
        assert_int_equal(s.apic_id_from_cpuid[i], i);
        assert_int_equal((s.lvt0[i] >> 8) & 7, 7); /* LINT0 ExtINT */
    }
    assert_int_equal(atomic_load(&vm->state), VM_STATE_CREATED);
    assert_int_equal(vm->cfg.cpus, 4);
    destroy(&loop, vm);
    assert_int_equal(s.open_fds, 0);
    assert_int_equal(s.mapped, 0);
    vm_config_free(&cfg);
    uv_loop_close(&loop);
}

/* Each set-up step failing gives one line naming it, and leaks nothing. */
static void every_failure_is_clean(void **state)
{
    static const struct {
        unsigned long req;
        int after;
        const char *want;
    } steps[] = {
        {KVM_CREATE_VM, 0, "cannot create a KVM VM"},
        {KVM_SET_USER_MEMORY_REGION, 0, "cannot register guest memory"},
        {KVM_SET_TSS_ADDR, 0, "TSS"},
        {KVM_CREATE_IRQCHIP, 0, "in-kernel irqchip"},
        {KVM_CREATE_PIT2, 0, "PIT"},
        {KVM_GET_SUPPORTED_CPUID, 0, "KVM_GET_SUPPORTED_CPUID"},
        {KVM_CREATE_VCPU, 2, "cannot create vCPU 2"},
        {KVM_SET_CPUID2, 1, "KVM_SET_CPUID2"},
        {KVM_GET_LAPIC, 3, "vCPU 3's local APIC"},
        {KVM_SET_FPU, 0, "FPU"},
    };
    for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
        struct sim s;
        struct vm_config cfg;
        struct vm *vm = (struct vm *)1;
        char err[256] = "";
        uv_loop_t loop;
        uv_loop_init(&loop);
        sim_init(&s);
        s.fail_req = steps[i].req;
        s.fail_after = steps[i].after;
        config(&cfg, 4);
        assert_int_equal(vm_create_with(&s.h, &cfg, &loop, NULL, NULL, &vm, err, sizeof(err)), -1);
        assert_null(vm);
        if (!strstr(err, steps[i].want) || strchr(err, '\n'))
            fail_msg("step %zu: error '%s' does not name '%s'", i, err, steps[i].want);
        assert_int_equal(s.open_fds, 0);
        assert_int_equal(s.mapped, 0);
        uv_run(&loop, UV_RUN_DEFAULT);
        assert_int_equal(uv_loop_close(&loop), 0);
        vm_config_free(&cfg);
    }
}

static void host_limits(void **state)
{
    struct sim s;
    struct vm_config cfg;
    struct vm *vm;
    char err[256];
    uv_loop_t loop;
    uv_loop_init(&loop);

    sim_init(&s);
    s.no_dev = true;
    config(&cfg, 1);
    assert_int_equal(vm_create_with(&s.h, &cfg, &loop, NULL, NULL, &vm, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "cannot open /dev/kvm"));

    sim_init(&s);
    s.api_version = 11;
    assert_int_equal(vm_create_with(&s.h, &cfg, &loop, NULL, NULL, &vm, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "not a usable KVM device"));
    assert_int_equal(s.open_fds, 0);

    sim_init(&s);
    s.max_vcpus = 2;
    cfg.cpus = 3;
    assert_int_equal(vm_create_with(&s.h, &cfg, &loop, NULL, NULL, &vm, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "at most 2 vCPUs"));
    assert_int_equal(s.open_fds, 0);
    vm_config_free(&cfg);
    uv_loop_close(&loop);
}

static void boot_registers(void **state)
{
    struct sim s;
    struct vm_config cfg;
    struct vm *vm;
    char err[256];
    uv_loop_t loop;
    uv_loop_init(&loop);
    sim_init(&s);
    config(&cfg, 1);
    assert_int_equal(vm_create_with(&s.h, &cfg, &loop, NULL, NULL, &vm, err, sizeof(err)), 0);

    struct boot_entry pvh = {.kind = BOOT_PVH,
                             .rip = 0x100000,
                             .rbx = LAYOUT_PVH_START_INFO,
                             .gdt_base = LAYOUT_GDT,
                             .gdt_limit = BOOT_GDT_LIMIT,
                             .cs = BOOT_SEL_CODE32,
                             .ds = BOOT_SEL_DATA};
    assert_int_equal(vcpu_set_boot_state(&vm->vcpus[0], &pvh, err, sizeof(err)), 0);
    struct kvm_sregs *sr = &s.sregs[0];
    assert_int_equal(sr->cr0 & 0x80000001, 1); /* protected mode, paging off */
    assert_int_equal(sr->efer, 0);
    assert_int_equal(sr->cs.selector, BOOT_SEL_CODE32);
    assert_int_equal(sr->cs.db, 1);
    assert_int_equal(sr->cs.l, 0);
    assert_int_equal(sr->ds.selector, BOOT_SEL_DATA);
    assert_int_equal(sr->tr.selector, BOOT_SEL_TSS);
    assert_int_equal(sr->gdt.base, LAYOUT_GDT);
    assert_int_equal(s.regs[0].rip, 0x100000);
    assert_int_equal(s.regs[0].rbx, LAYOUT_PVH_START_INFO);
    assert_int_equal(s.regs[0].rflags, 2);

    struct boot_entry bz = {.kind = BOOT_BZIMAGE64,
                            .rip = 0x100200,
                            .rsi = LAYOUT_BOOT_PARAMS,
                            .cr3 = LAYOUT_PAGE_TABLES,
                            .gdt_base = LAYOUT_GDT,
                            .gdt_limit = BOOT_GDT_LIMIT,
                            .cs = BOOT_SEL_CODE64,
                            .ds = BOOT_SEL_DATA};
    assert_int_equal(vcpu_set_boot_state(&vm->vcpus[0], &bz, err, sizeof(err)), 0);
    assert_int_equal(sr->cr0 & 0x80000001, 0x80000001);
    assert_int_equal(sr->cr3, LAYOUT_PAGE_TABLES);
    assert_int_equal(sr->cr4 & 0x20, 0x20);
    assert_int_equal(sr->efer & 0x500, 0x500);
    assert_int_equal(sr->cs.l, 1);
    assert_int_equal(sr->cs.db, 0);
    assert_int_equal(s.regs[0].rsi, LAYOUT_BOOT_PARAMS);
    destroy(&loop, vm);
    vm_config_free(&cfg);
    uv_loop_close(&loop);
}

static uint8_t sum(const uint8_t *p, size_t n)
{
    uint8_t s = 0;
    while (n--)
        s = (uint8_t)(s + *p++);
    return s;
}

static void mp_table_describes_cpus(void **state)
{
    static uint8_t ram[1 << 20];
    struct guest_mem gm;
    char err[128];
    gm_init_host(&gm, ram, sizeof(ram));
    for (unsigned n = 1; n <= CFG_MAX_CPUS; n += 63) {
        memset(ram, 0, sizeof(ram));
        assert_int_equal(mptable_write(&gm, n, err, sizeof(err)), 0);
        const uint8_t *mpf = ram + LAYOUT_EBDA;
        assert_memory_equal(mpf, "_MP_", 4);
        assert_int_equal(sum(mpf, 16), 0);
        uint32_t cfg_gpa;
        memcpy(&cfg_gpa, mpf + 4, 4);
        const uint8_t *cfg = ram + cfg_gpa;
        uint16_t len, count;
        memcpy(&len, cfg + 4, 2);
        memcpy(&count, cfg + 34, 2);
        assert_memory_equal(cfg, "PCMP", 4);
        assert_int_equal(sum(cfg, len), 0);
        assert_true(cfg_gpa + len <= 0x100000);
        unsigned cpus = 0, bsp = 0, ioapics = 0;
        const uint8_t *e = cfg + 44;
        for (unsigned i = 0; i < count; i++) {
            if (e[0] == 0) {
                assert_int_equal(e[1], cpus); /* APIC IDs 0..n-1 */
                cpus++;
                bsp += (e[3] & 2) ? 1 : 0;
                e += 20;
            } else {
                ioapics += e[0] == 2;
                e += 8;
            }
        }
        assert_ptr_equal(e, cfg + len);
        assert_int_equal(cpus, n);
        assert_int_equal(bsp, 1);
        assert_int_equal(ioapics, 1);
    }
    assert_int_equal(mptable_write(&gm, 0, err, sizeof(err)), -1);
    assert_int_equal(mptable_write(&gm, CFG_MAX_CPUS + 1, err, sizeof(err)), -1);
    struct guest_mem tiny;
    gm_init_host(&tiny, ram, LAYOUT_EBDA + 16);
    assert_int_equal(mptable_write(&tiny, 2, err, sizeof(err)), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(create_sets_up_machine),
        cmocka_unit_test(every_failure_is_clean),
        cmocka_unit_test(host_limits),
        cmocka_unit_test(boot_registers),
        cmocka_unit_test(mp_table_describes_cpus),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
