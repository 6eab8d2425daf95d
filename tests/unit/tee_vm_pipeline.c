/* tee_vm_pipeline.c: the whole VMM (vm_create/vm_boot/vCPU threads/vm_destroy) on the simulated
 * SEV-SNP / TDX host: vm.c hands the VM to the backend, the launch digest equals cocoon-measure
 * (and the published vector when ../shared/vectors is present), the vCPU threads route a
 * conversion exit to the backend, and nothing runs before the launch. */
#include <setjmp.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "devices/fw_cfg.h"
#include "tee/kvm_tee_uapi.h"
#include "tests/unit/support/tee_harness.h"
#include "vmm/vm_internal.h"

#define RAM (64ULL << 20)
#define TDX_VECTOR                                                                                 \
    "4c7206f0f483c524f12c366c711e9049030a8d47c471ee5aa9c4999a08de4057fb887fed0744d5631a212967fb2"  \
    "31c47"

struct outcome {
    bool done;
    enum vm_exit_reason reason;
    uv_loop_t *loop;
};

/* Whether fw_cfg's file directory (selector 0x19, big-endian count, 64-byte entries with the name
 * at 8) lists name, read through the I/O ports as the firmware reads it. */
static bool fw_cfg_lists(struct fw_cfg *fw, const char *name)
{
    uint16_t sel = 0x19;
    fw_cfg_comb_io(fw, 0, &sel, 2, true);
    uint8_t b[64];
    for (int i = 0; i < 4; i++)
        fw_cfg_comb_io(fw, 1, &b[i], 1, false);
    uint32_t count = (uint32_t)b[0] << 24 | b[1] << 16 | b[2] << 8 | b[3];
    for (uint32_t f = 0; f < count; f++) {
        for (int i = 0; i < 64; i++)
            fw_cfg_comb_io(fw, 1, &b[i], 1, false);
        if (!strncmp((const char *)b + 8, name, 56))
            return true;
    }
    return false;
}

static void on_exit_cb(void *opaque, enum vm_exit_reason reason, int status)
{
    struct outcome *o = opaque;
    o->done = true;
    o->reason = reason;
    uv_stop(o->loop);
}

static void run_vm(enum tee_kind kind, unsigned cpus, const char *fw, char *digest_hex,
                   struct sim_tee **out_sim)
{
    char err[512] = "";
    struct vm_config cfg;
    vm_config_init(&cfg);
    cfg.cpus = cpus;
    cfg.memory = RAM;
    cfg.serial = SERIAL_OFF;
    cfg.platform.tee = kind;
    cfg.firmware = (char *)fw;
    struct sim_tee *s = sim_tee_new(kind == TEE_TDX ? SIM_HOST_TDX : SIM_HOST_SNP);
    assert_non_null(s);
    s->max_pages_per_call = 4;
    /* The guest shares a page, then powers off (the simulator's default exit). */
    sim_tee_script(s, (struct sim_exit){.reason = KVM_EXIT_HYPERCALL,
                                        .a0 = KVM_HC_MAP_GPA_RANGE,
                                        .a1 = 0x400000,
                                        .a2 = 2,
                                        .a3 = KVM_MAP_GPA_RANGE_DECRYPTED});
    uv_loop_t loop;
    assert_int_equal(uv_loop_init(&loop), 0);
    struct outcome o = {.loop = &loop};
    struct vm *vm = NULL;
    if (vm_create_with(&s->handle, &cfg, &loop, on_exit_cb, &o, &vm, err, sizeof(err)))
        fail_msg("vm_create: %s", err);
    assert_non_null(vm->tee);
    assert_int_equal(s->runs, 0);
    /* OVMF (AmdSev) and TDVF install the VMM's ACPI tables through fw_cfg's table-loader. */
    assert_non_null(vm->fw_cfg);
    assert_true(fw_cfg_lists(vm->fw_cfg, "etc/table-loader"));
    assert_true(fw_cfg_lists(vm->fw_cfg, "etc/acpi/tables"));
    assert_true(fw_cfg_lists(vm->fw_cfg, "etc/acpi/rsdp"));
    if (vm_boot(vm, err, sizeof(err)))
        fail_msg("vm_boot: %s", err);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_true(o.done);
    assert_int_equal(o.reason, VM_EXIT_POWEROFF);
    if (s->violations)
        fail_msg("simulator saw %u broken rules, first: %s", s->violations, s->violation);
    assert_true(s->digest_done);
    assert_true(s->runs >= 2);
    assert_int_equal(s->script_pos, 1);
    assert_false(sim_tee_page_private(s, 0x400000));
    assert_false(sim_tee_page_private(s, 0x401000));
    assert_true(sim_tee_page_private(s, 0x402000));
    assert_non_null(gm_span(&vm->mem, 0x400000, 0x2000));
    assert_null(gm_span(&vm->mem, 0x402000, 1));
    if (kind == TEE_TDX)
        assert_false(s->irqchip);
    else
        assert_true(s->irqchip);
    harness_hex(s->digest, 48, digest_hex);
    vm_destroy(vm);
    uv_run(&loop, UV_RUN_NOWAIT);
    assert_int_equal(uv_loop_close(&loop), 0);
    *out_sim = s;
}

static void measure(char *const argv[], const char *hex)
{
    char measured[200];
    int m = harness_measure(COCOON_BINARY_DIR, argv, measured, sizeof(measured));
    if (m == 77)
        fail_msg("%s/cocoon-measure is not built", COCOON_BINARY_DIR);
    assert_int_equal(m, 0);
    assert_string_equal(hex, measured);
}

static void snp_through_vm_c(void **state)
{
    const unsigned cpus = 2;
    char hex[97], fw[4096], n[8];
    struct sim_tee *s;
    enum harness_fw_source src = harness_fw_snp(COCOON_SOURCE_DIR, fw, sizeof(fw));
    if (src == HARNESS_FW_NONE)
        fail_msg("cannot write the synthetic firmware");
    run_vm(TEE_SNP, cpus, fw, hex, &s);
    assert_int_equal(s->nr_vcpus, cpus);
    sim_tee_free(s);
    snprintf(n, sizeof(n), "%u", cpus);
    char *argv[] = {"cocoon-measure", "--mode", "snp",         "--ovmf",  fw,
                    "--vcpus",        n,        "--vcpu-type", "EPYC-v4", NULL};
    measure(argv, hex);
}

static void tdx_through_vm_c(void **state)
{
    char hex[97], fw[4096];
    struct sim_tee *s;
    enum harness_fw_source src = harness_fw_tdx(COCOON_SOURCE_DIR, fw, sizeof(fw));
    if (src == HARNESS_FW_NONE)
        fail_msg("cannot write the synthetic firmware");
    run_vm(TEE_TDX, 2, fw, hex, &s);
    assert_true(s->split_irqchip);
    sim_tee_free(s);
    char *argv[] = {"cocoon-measure", "tdx", "--firmware", fw, "--page-order", "per-page", NULL};
    measure(argv, hex);
    if (src == HARNESS_FW_VECTOR)
        assert_string_equal(hex, TDX_VECTOR);
    else if (harness_vectors(COCOON_SOURCE_DIR))
        fail_msg("../shared/vectors is present but its TDX firmware is not readable");
    else
        print_message("vector sub-check skipped: ../shared/vectors is absent; ran on %s, MRTD == "
                      "cocoon-measure only\n",
                      harness_fw_name(src));
}

int main(void)
{
    if (!harness_vectors(COCOON_SOURCE_DIR))
        printf("tee_vm_pipeline: %s/../shared/vectors is absent: stand-in firmware, no "
               "published-vector sub-check\n",
               COCOON_SOURCE_DIR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(snp_through_vm_c),
        cmocka_unit_test(tdx_through_vm_c),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
