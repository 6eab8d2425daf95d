/* snp_cpuid_page.c: the SEV-SNP CPUID page is what the boot vCPU really has (KVM_GET_CPUID2
 * after vcpu_init), not KVM_GET_SUPPORTED_CPUID, and more than 64 entries is refused instead of
 * truncated, as QEMU's sev_snp_cpuid_info_fill (issue 16 item 5). The launch digest does not
 * change: a CPUID page is measured with zero contents. */
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

#define RAM    (64ULL << 20)
#define MARKER 0x00020800u /* leaf 1 EBX as vcpu_init sets it for vCPU 0 of 2 */

static const struct tee_snp_cpuid_entry *page_leaf(const uint8_t *page, uint32_t fn)
{
    const struct tee_snp_cpuid_page *p = (const void *)page;
    for (uint32_t i = 0; i < p->count && i < TEE_SNP_CPUID_MAX; i++)
        if (p->entries[i].eax_in == fn)
            return &p->entries[i];
    return NULL;
}

/* vCPU 0's own leaf 1 (APIC ID / logical count in EBX, as vcpu_init writes them) is what the page
 * carries; the supported list has another EBX. */
static void page_built_from_vcpu0(void **state)
{
    char err[512] = "";
    struct harness_vm v;
    assert_int_equal(harness_vm_init(&v, COCOON_SOURCE_DIR, TEE_SNP, 2, RAM, err, sizeof(err)), 0);
    if (harness_create(v.s, &v.cfg, &v.gm, &v.t, err, sizeof(err)))
        fail_msg("create: %s", err);
    struct sim_vcpu *c = &v.s->vcpu[0];
    struct kvm_cpuid2 *cp = calloc(1, sizeof(*cp) + c->cpuid_n * sizeof(cp->entries[0]));
    assert_non_null(cp);
    cp->nent = c->cpuid_n;
    memcpy(cp->entries, c->cpuid, c->cpuid_n * sizeof(cp->entries[0]));
    for (uint32_t i = 0; i < cp->nent; i++)
        if (cp->entries[i].function == 1)
            cp->entries[i].ebx = MARKER;
    assert_int_equal(kvm_ioctl(&v.s->handle, c->fd, KVM_SET_CPUID2, cp), 0);
    free(cp);
    if (tee_launch(v.t, err, sizeof(err)))
        fail_msg("launch: %s", err);
    assert_int_equal(v.s->violations, 0);
    const struct tee_snp_cpuid_entry *l1 = page_leaf(v.s->snp_cpuid_page, 1);
    assert_non_null(l1);
    assert_int_equal(l1->ebx, MARKER);
    assert_non_null(page_leaf(v.s->snp_cpuid_page, 0x8000001f));
    harness_vm_down(&v);
}

/* 70 entries do not fit the 64-entry page: the launch stops with a message, nothing dropped. */
static void over_64_entries_refused(void **state)
{
    char err[512] = "";
    struct harness_vm v;
    assert_int_equal(harness_vm_init(&v, COCOON_SOURCE_DIR, TEE_SNP, 1, RAM, err, sizeof(err)), 0);
    v.s->extra_cpuid = 70 - 8;
    assert_int_equal(harness_vm_launch(&v, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "64"));
    assert_false(v.s->snp_finished);
    harness_vm_down(&v);
}

/* Exactly 64 entries still launch. */
static void exactly_64_entries_launch(void **state)
{
    char err[512] = "";
    struct harness_vm v;
    assert_int_equal(harness_vm_init(&v, COCOON_SOURCE_DIR, TEE_SNP, 1, RAM, err, sizeof(err)), 0);
    v.s->extra_cpuid = 64 - 8;
    if (harness_vm_launch(&v, err, sizeof(err)))
        fail_msg("launch: %s", err);
    const struct tee_snp_cpuid_page *p = (const void *)v.s->snp_cpuid_page;
    assert_int_equal(p->count, 64);
    harness_vm_down(&v);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(page_built_from_vcpu0),
        cmocka_unit_test(over_64_entries_refused),
        cmocka_unit_test(exactly_64_entries_launch),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
