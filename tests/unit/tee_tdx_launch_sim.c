/* tee_tdx_launch_sim.c: the real TDX launch on a simulated TDX module yields cocoon-measure's MRTD
 * (and the published vector's, when ../shared/vectors holds the vector firmware). */
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
#define VECTOR                                                                                     \
    "4c7206f0f483c524f12c366c711e9049030a8d47c471ee5aa9c4999a08de4057fb887fed0744d5631a212967fb2"  \
    "31c47"

static char default_fw[4096]; /* the vector file, else Debian's OVMF.fd, else the synthetic image */
static char synthetic[4096];  /* always the synthetic TDVF image */
static enum harness_fw_source fw_src, synthetic_src;

/* Each vCPU kept the full CPU model with x2APIC (a TDX fixed-1 bit INIT_VM's filtered list cannot
 * carry) and leaf 0x80000008; INIT_VM's list is only the configurable bits. */
static void vcpu_cpuid_is_full_model(const struct sim_tee *s, unsigned i)
{
    const struct sim_vcpu *v = &s->vcpu[i];
    bool x2apic = false, pa = false;
    for (uint32_t k = 0; k < v->cpuid_n; k++) {
        if (v->cpuid[k].function == 1)
            x2apic = v->cpuid[k].ecx & (1u << 21);
        pa |= v->cpuid[k].function == 0x80000008;
    }
    assert_true(x2apic);
    assert_true(pa);
    assert_true(v->cpuid_n > s->tdx_cpuid_n);
}

static void launch_on(const char *firmware, enum harness_fw_source src, unsigned vcpus,
                      const char *kernel, const char *initrd)
{
    char err[512] = "";
    char fw[4096];
    if (src == HARNESS_FW_NONE) {
        print_message("skipped: no firmware here\n");
        skip();
    }
    snprintf(fw, sizeof(fw), "%s", firmware);
    struct vm_config cfg;
    vm_config_init(&cfg);
    cfg.cpus = vcpus;
    cfg.memory = RAM;
    cfg.platform.tee = TEE_TDX;
    cfg.firmware = fw;
    cfg.kernel = (char *)kernel;
    cfg.initramfs = (char *)initrd;
    memset(cfg.platform.mrconfigid, 0x5a, sizeof(cfg.platform.mrconfigid));
    cfg.platform.mrconfigid_set = true;
    struct guest_mem gm;
    assert_int_equal(gm_init(&gm, RAM, err, sizeof(err)), 0);
    struct sim_tee *s = sim_tee_new(SIM_HOST_TDX);
    assert_non_null(s);
    s->max_pages_per_call = 5;
    s->eagain_every = 9;
    struct tee_vm *t = NULL;
    if (harness_launch(s, &cfg, &gm, &t, err, sizeof(err)))
        fail_msg("launch failed: %s", err);
    if (s->violations)
        fail_msg("simulated TDX module saw %u broken rules, first: %s", s->violations,
                 s->violation);
    assert_true(s->digest_done);
    assert_true(s->split_irqchip);
    assert_false(s->irqchip);
    assert_true(tee_owns_irqchip(t));
    assert_true(tee_guest_state_protected(t));
    assert_memory_equal(s->mrconfigid, cfg.platform.mrconfigid, 48);
    assert_true(s->tdx_attributes & TEE_TDX_ATTR_SEPT_VE_DISABLE);
    for (unsigned i = 0; i < vcpus; i++) {
        assert_true(s->vcpu[i].tdx_init);
        vcpu_cpuid_is_full_model(s, i);
    }
    assert_true(s->tdx_cpuid_n > 0);
    assert_int_equal(s->tdx_gpaw, 48);
    /* The TD HOB went into its section, well formed, and every vCPU was pointed at it. */
    assert_true(s->tdx_hob_seen);
    assert_true(s->tdx_hob_valid);
    char hex[97], measured[200];
    harness_hex(s->digest, 48, hex);
    char *argv[] = {"cocoon-measure", "tdx", "--firmware", fw, "--page-order", "per-page", NULL};
    int m = harness_measure(COCOON_BINARY_DIR, argv, measured, sizeof(measured));
    if (m == 77)
        fail_msg("%s/cocoon-measure is not built", COCOON_BINARY_DIR);
    assert_int_equal(m, 0);
    assert_string_equal(hex, measured);
    if (src == HARNESS_FW_VECTOR)
        assert_string_equal(hex, VECTOR);
    else if (firmware == default_fw && harness_vectors(COCOON_SOURCE_DIR))
        fail_msg("../shared/vectors is present but its TDX firmware is not readable");
    else
        print_message(
            "vector sub-check skipped: no published MRTD for %s; MRTD == cocoon-measure only\n",
            harness_fw_name(src));
    tee_destroy(t);
    sim_tee_free(s);
    gm_destroy(&gm);
}

static void launch(unsigned vcpus, const char *kernel, const char *initrd)
{
    launch_on(default_fw, fw_src, vcpus, kernel, initrd);
}

static void mrtd_1_vcpu(void **state)
{
    launch(1, NULL, NULL);
}

static void mrtd_4_vcpus(void **state)
{
    launch(4, NULL, NULL);
}

static void mrtd_8_vcpus(void **state)
{
    launch(8, NULL, NULL);
}

/* MRTD covers the firmware only: a kernel and initrd (hashed into RTMRs by the guest) leave it. */
static void mrtd_with_kernel_initrd_4_vcpus(void **state)
{
    launch(4, "/dev/null", "/dev/null");
}

/* Always the synthetic TDVF image (also in CI), so the stand-in path is exercised everywhere. */
static void mrtd_synthetic_tdvf_2_vcpus(void **state)
{
    launch_on(synthetic, synthetic_src, 2, NULL, NULL);
}

int main(void)
{
    fw_src = harness_fw_tdx(COCOON_SOURCE_DIR, default_fw, sizeof(default_fw));
    synthetic_src = harness_fw_synthetic(synthetic, sizeof(synthetic));
    if (fw_src != HARNESS_FW_VECTOR)
        printf("tee_tdx_launch_sim: %s/../shared/vectors is absent: running on %s, no "
               "published-vector sub-checks\n",
               COCOON_SOURCE_DIR, harness_fw_name(fw_src));
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(mrtd_1_vcpu),
        cmocka_unit_test(mrtd_4_vcpus),
        cmocka_unit_test(mrtd_8_vcpus),
        cmocka_unit_test(mrtd_with_kernel_initrd_4_vcpus),
        cmocka_unit_test(mrtd_synthetic_tdvf_2_vcpus),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
