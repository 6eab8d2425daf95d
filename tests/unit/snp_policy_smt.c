/* snp_policy_smt.c: an SEV-SNP policy without SMT (bit 16) on a host with SMT active is refused
 * by the probe, before a VM exists, with a message saying what to change; the simulated firmware
 * refuses it at SNP_LAUNCH_START (POLICY_FAILURE) as the real one does (issue 16 item 6). */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "tee/kvm_tee_uapi.h"
#include "tests/unit/support/tee_harness.h"

#define RAM (64ULL << 20)

static int probe(struct sim_tee *s, uint64_t policy, char *err, size_t errlen)
{
    struct platform_config pc = {.tee = TEE_SNP, .snp_policy = policy};
    int kvm_fd = s->handle.sys->open(s->handle.ctx, "/dev/kvm", O_RDWR);
    assert_true(kvm_fd >= 0);
    return tee_probe(TEE_SNP, &s->handle, kvm_fd, &pc, err, errlen);
}

static void no_smt_policy_refused_on_smt_host(void **state)
{
    char err[512] = "";
    struct sim_tee *s = sim_tee_new(SIM_HOST_SNP);
    s->host_smt = true;
    assert_int_equal(probe(s, 0x20000, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "SMT"));
    assert_non_null(strstr(err, "bit 16"));
    assert_int_equal(s->vm_creates, 0);
    assert_int_equal(probe(s, 0x30000, err, sizeof(err)), 0);
    sim_tee_free(s);
}

/* Without SMT on the host the same policy is fine, and launches. */
static void no_smt_policy_launches_without_smt(void **state)
{
    char err[512] = "";
    struct harness_vm v;
    assert_int_equal(harness_vm_init(&v, COCOON_SOURCE_DIR, TEE_SNP, 1, RAM, err, sizeof(err)), 0);
    v.s->host_smt = false;
    v.cfg.platform.snp_policy = 0x20000;
    if (harness_vm_launch(&v, err, sizeof(err)))
        fail_msg("launch: %s", err);
    assert_int_equal(v.s->policy, 0x20000);
    harness_vm_down(&v);
}

/* The simulated firmware enforces the rule itself: the same policy sent past the probe fails at
 * SNP_LAUNCH_START with POLICY_FAILURE. */
static void firmware_refuses_no_smt_on_smt_host(void **state)
{
    char err[512] = "";
    struct harness_vm v;
    assert_int_equal(harness_vm_init(&v, COCOON_SOURCE_DIR, TEE_SNP, 1, RAM, err, sizeof(err)), 0);
    v.s->host_smt = false; /* probe passes ... */
    v.cfg.platform.snp_policy = 0x20000;
    struct sim_tee *s = v.s;
    struct platform_config pc = v.cfg.platform;
    int kvm_fd = s->handle.sys->open(s->handle.ctx, "/dev/kvm", O_RDWR);
    assert_int_equal(tee_probe(TEE_SNP, &s->handle, kvm_fd, &pc, err, sizeof(err)), 0);
    s->host_smt = true; /* ... then SMT comes on before LAUNCH_START */
    int vm_fd;
    assert_int_equal(
        tee_vm_create(&s->handle, kvm_fd, &v.cfg, &v.gm, &v.t, &vm_fd, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "firmware error 0x7"));
    harness_vm_down(&v);
}

/* A kernel that reports KVM_X86_SNP_POLICY_BITS refuses bits outside it in the probe too. */
static void policy_bits_attribute_honoured(void **state)
{
    char err[512] = "";
    struct sim_tee *s = sim_tee_new(SIM_HOST_SNP);
    s->policy_bits_attr = true;
    s->policy_bits = 0x3ffff;
    assert_int_equal(probe(s, 0x30000, err, sizeof(err)), 0);
    assert_int_equal(probe(s, 0x30000 | TEE_SNP_POLICY_DBG, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "does not accept"));
    sim_tee_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(no_smt_policy_refused_on_smt_host),
        cmocka_unit_test(no_smt_policy_launches_without_smt),
        cmocka_unit_test(firmware_refuses_no_smt_on_smt_host),
        cmocka_unit_test(policy_bits_attribute_honoured),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
