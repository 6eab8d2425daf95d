/* tdx_vcpu_cpuid.c: a TD's vCPUs keep the full CPU model plus the TDX fixed-1 bits (x2APIC) and
 * leaf 0x80000008, while only INIT_VM's copy is filtered to the configurable bits: the simulated
 * KVM refuses KVM_TDX_INIT_VCPU without x2APIC as kvm_apic_set_base() does (issue 16 item 1). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "tee/kvm_tee_uapi.h"
#include "tests/unit/support/tee_harness.h"

#define RAM (64ULL << 20)

static const struct kvm_cpuid_entry2 *leaf(const struct sim_vcpu *v, uint32_t fn)
{
    for (uint32_t k = 0; k < v->cpuid_n; k++)
        if (v->cpuid[k].function == fn)
            return &v->cpuid[k];
    return NULL;
}

/* The launch passes INIT_VCPU on every vCPU: each has x2APIC and the guest physical-address
 * width of 0x80000008 (MAXPHYADDR 48 >= the TD's GPAW), although INIT_VM's list has no x2APIC. */
static void init_vcpu_gets_x2apic_and_maxphyaddr(void **state)
{
    char err[512] = "";
    struct harness_vm v;
    assert_int_equal(harness_vm_init(&v, COCOON_SOURCE_DIR, TEE_TDX, 3, RAM, err, sizeof(err)), 0);
    if (harness_vm_launch(&v, err, sizeof(err)))
        fail_msg("launch: %s (simulator: %s)", err, v.s->violation);
    assert_int_equal(v.s->violations, 0);
    for (uint32_t k = 0; k < v.s->tdx_cpuid_n; k++)
        if (v.s->tdx_cpuid[k].function == 1)
            assert_false(v.s->tdx_cpuid[k].ecx & (1u << 21)); /* not configurable */
    for (unsigned i = 0; i < 3; i++) {
        const struct sim_vcpu *c = &v.s->vcpu[i];
        assert_true(c->tdx_init);
        assert_non_null(leaf(c, 1));
        assert_true(leaf(c, 1)->ecx & (1u << 21));
        assert_non_null(leaf(c, 0x80000008));
        assert_int_equal(leaf(c, 0x80000008)->eax & 0xff, 48);
        /* the full model: leaves INIT_VM's filtered list does not carry (0, 0x8000001f) */
        assert_non_null(leaf(c, 0));
        assert_non_null(leaf(c, 0x8000001f));
    }
    harness_vm_down(&v);
}

/* A vCPU model without leaf 0x80000008 is refused before INIT_VCPU, with a message naming the
 * leaf, instead of a TD whose every MapGPA to shared would fail. */
static void missing_phys_bits_leaf_refused(void **state)
{
    char err[512] = "";
    struct harness_vm v;
    assert_int_equal(harness_vm_init(&v, COCOON_SOURCE_DIR, TEE_TDX, 1, RAM, err, sizeof(err)), 0);
    /* Launch on a copy of the harness without 0x80000008: do the steps by hand. */
    assert_int_equal(harness_vm_launch(&v, err, sizeof(err)), 0);
    harness_vm_down(&v);

    assert_int_equal(harness_vm_init(&v, COCOON_SOURCE_DIR, TEE_TDX, 1, RAM, err, sizeof(err)), 0);
    v.s->drop_cpuid_leaf = 0x80000008;
    assert_int_equal(harness_vm_launch(&v, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "0x80000008"));
    assert_false(v.s->vcpu[0].tdx_init);
    harness_vm_down(&v);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(init_vcpu_gets_x2apic_and_maxphyaddr),
        cmocka_unit_test(missing_phys_bits_leaf_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
