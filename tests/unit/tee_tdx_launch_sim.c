/* tee_tdx_launch_sim.c: the real TDX launch on a simulated TDX module yields cocoon-measure's MRTD.
 */
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

#define RAM      (64ULL << 20)
#define FIRMWARE "tdx/debian-bookworm-ovmf-2022.11-6+deb12u2_OVMF.fd"
#define VECTOR                                                                                     \
    "4c7206f0f483c524f12c366c711e9049030a8d47c471ee5aa9c4999a08de4057fb887fed0744d5631a212967fb2"  \
    "31c47"

static const char *vectors;
static char fw[4096];

static void launch(unsigned vcpus, const char *kernel, const char *initrd)
{
    char err[512] = "";
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
    for (unsigned i = 0; i < vcpus; i++)
        assert_true(s->vcpu[i].tdx_init);
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
    assert_string_equal(hex, VECTOR);
    tee_destroy(t);
    sim_tee_free(s);
    gm_destroy(&gm);
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

int main(void)
{
    vectors = harness_vectors(COCOON_SOURCE_DIR);
    if (!vectors) {
        printf("tee_tdx_launch_sim: skipped: %s/../shared/vectors is absent\n", COCOON_SOURCE_DIR);
        return 77;
    }
    snprintf(fw, sizeof(fw), "%s/%s", vectors, FIRMWARE);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(mrtd_1_vcpu),
        cmocka_unit_test(mrtd_4_vcpus),
        cmocka_unit_test(mrtd_8_vcpus),
        cmocka_unit_test(mrtd_with_kernel_initrd_4_vcpus),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
