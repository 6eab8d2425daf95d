/* tee_snp_launch_sim.c: the real SEV-SNP launch on simulated firmware yields cocoon-measure's
 * digest (and the published vector's, when ../shared/vectors holds the vector firmware). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "tee/vmsa.h"
#include "tests/unit/support/tee_harness.h"

#define RAM (64ULL << 20)

static char kernel_path[] = "/tmp/cocoon-snp-kernel-XXXXXX";
static char initrd_path[] = "/tmp/cocoon-snp-initrd-XXXXXX";

/* The firmware a case needs. HASHES and OVMF are the vector files when ../shared is present. */
enum fw_role {
    FW_HASHES,    /* with SNP_KERNEL_HASHES: ovmf_AmdSev_suffix.bin, else the synthetic image */
    FW_OVMF,      /* without: ovmf_OvmfX64_suffix.bin, else Debian's OVMF.fd */
    FW_SYNTHETIC, /* always the synthetic image */
    FW_DEBIAN,    /* always Debian's OVMF.fd */
};

struct snp_case {
    enum fw_role fw;
    unsigned vcpus;
    const char *kernel;    /* NULL, "/dev/null" or "tmp" (a made-up kernel file) */
    const char *initrd;    /* same */
    const char *append;    /* NULL = none */
    const char *vector;    /* expected digest from vectors.tsv, or NULL */
    const char *vcpu_type; /* NULL = the default (EPYC-v4) */
    uint64_t features;     /* 0 = the default (0x1) */
};

static const char *input(const char *k, const char *tmp)
{
    return k && !strcmp(k, "tmp") ? tmp : k;
}

/* Resolves a role to a file; skips the case (with the reason) when this machine has none. */
static enum harness_fw_source firmware(enum fw_role role, char *fw, size_t len)
{
    enum harness_fw_source src = HARNESS_FW_NONE;
    switch (role) {
    case FW_HASHES:
        src = harness_fw_snp(COCOON_SOURCE_DIR, fw, len);
        break;
    case FW_OVMF:
        src = harness_fw_ovmf(COCOON_SOURCE_DIR, "snp/fixtures/ovmf_OvmfX64_suffix.bin", fw, len);
        break;
    case FW_SYNTHETIC:
        src = harness_fw_synthetic(fw, len);
        break;
    case FW_DEBIAN:
        src = harness_fw_ovmf(COCOON_SOURCE_DIR, NULL, fw, len);
        break;
    }
    if (src == HARNESS_FW_NONE) {
        print_message("skipped: no such firmware here (no ../shared/vectors, no "
                      "/usr/share/ovmf/OVMF.fd: apt-get install ovmf)\n");
        skip();
    }
    return src;
}

/* Launches on the simulator, then checks: no rule broken, digest == cocoon-measure, and == the
 * published vector when the firmware is the vector's own file. */
static void run_case(const struct snp_case *c, struct sim_tee *s, char *digest_hex)
{
    char fw[4096], err[512] = "";
    enum harness_fw_source src = firmware(c->fw, fw, sizeof(fw));
    struct vm_config cfg;
    vm_config_init(&cfg);
    cfg.cpus = c->vcpus;
    cfg.memory = RAM;
    cfg.platform.tee = TEE_SNP;
    cfg.firmware = fw;
    cfg.kernel = (char *)input(c->kernel, kernel_path);
    cfg.initramfs = (char *)input(c->initrd, initrd_path);
    cfg.cmdline = (char *)c->append;
    if (c->vcpu_type)
        assert_int_equal(vcpu_type_signature(c->vcpu_type, &cfg.platform.snp_vcpu_sig), 0);
    cfg.platform.snp_guest_features = c->features;
    memset(cfg.platform.host_data, 0xab, sizeof(cfg.platform.host_data));
    cfg.platform.host_data_set = true;
    struct guest_mem gm;
    assert_int_equal(gm_init(&gm, RAM, err, sizeof(err)), 0);
    struct tee_vm *t = NULL;
    int rc = harness_launch(s, &cfg, &gm, &t, err, sizeof(err));
    if (rc)
        fail_msg("launch failed: %s", err);
    if (s->violations)
        fail_msg("simulated firmware saw %u broken rules, first: %s", s->violations, s->violation);
    assert_true(s->digest_done);
    assert_true(tee_guest_state_protected(t));
    assert_int_equal(s->policy, 0x30000);
    assert_memory_equal(s->host_data, cfg.platform.host_data, 32);
    assert_int_equal(s->nr_vcpus, c->vcpus);
    harness_hex(s->digest, 48, digest_hex);

    char vcpus[16];
    snprintf(vcpus, sizeof(vcpus), "%u", c->vcpus);
    char features[32];
    snprintf(features, sizeof(features), "0x%llx",
             (unsigned long long)(c->features ? c->features : 1));
    char *argv[20] = {"cocoon-measure",
                      "--mode",
                      "snp",
                      "--ovmf",
                      fw,
                      "--vcpus",
                      vcpus,
                      "--vcpu-type",
                      (char *)(c->vcpu_type ? c->vcpu_type : "EPYC-v4"),
                      "--guest-features",
                      features};
    int n = 11;
    if (cfg.kernel) {
        argv[n++] = "--kernel";
        argv[n++] = cfg.kernel;
        if (cfg.initramfs) {
            argv[n++] = "--initrd";
            argv[n++] = cfg.initramfs;
        }
        if (c->append) {
            argv[n++] = "--append";
            argv[n++] = (char *)c->append;
        }
    }
    argv[n] = NULL;
    char measured[200];
    int m = harness_measure(COCOON_BINARY_DIR, argv, measured, sizeof(measured));
    if (m == 77)
        fail_msg("%s/cocoon-measure is not built (cmake --build ... --target cocoon-measure)",
                 COCOON_BINARY_DIR);
    assert_int_equal(m, 0);
    assert_string_equal(digest_hex, measured);
    if (c->vector && src == HARNESS_FW_VECTOR)
        assert_string_equal(digest_hex, c->vector);
    else if (c->vector && harness_vectors(COCOON_SOURCE_DIR))
        fail_msg("../shared/vectors is present but its SNP firmware is not readable");
    else if (c->vector)
        print_message(
            "vector sub-check skipped: the vector firmware (../shared/vectors) is absent; "
            "ran on %s, digest == cocoon-measure only\n",
            harness_fw_name(src));
    tee_destroy(t);
    gm_destroy(&gm);
}

static void launch(const struct snp_case *c)
{
    struct sim_tee *s = sim_tee_new(SIM_HOST_SNP);
    assert_non_null(s);
    s->max_pages_per_call = 3; /* KVM may take a range in pieces */
    s->eagain_every = 7;
    char hex[97];
    run_case(c, s, hex);
    sim_tee_free(s);
}

static void vector_without_kernel_1_vcpu(void **state)
{
    struct snp_case c = {FW_HASHES,
                         1,
                         NULL,
                         NULL,
                         NULL,
                         "19358ba9a7615534a9a1e2f0dfc29384dcd4dcb7062ff9c6013b26869a5fc6ecabe033c48"
                         "dd6f6db5d6d76e7c5df632d",
                         NULL,
                         0};
    launch(&c);
}

static void vector_with_kernel_and_append_1_vcpu(void **state)
{
    struct snp_case c = {FW_HASHES,
                         1,
                         "/dev/null",
                         "/dev/null",
                         "console=ttyS0 loglevel=7",
                         "6d287813eb5222d770f75005c664e34c204f385ce832cc2ce7d0d6f354454362f390ef83a"
                         "92046c042e706363b4b08fa",
                         NULL,
                         0};
    launch(&c);
}

static void vector_with_kernel_4_vcpus(void **state)
{
    struct snp_case c = {FW_HASHES,
                         4,
                         "/dev/null",
                         "/dev/null",
                         NULL,
                         "5061fffb019493a903613d56d54b94912a1a2f9e4502385f5c194616753720a92441310ba"
                         "6c4933de877c36e23046ad5",
                         NULL,
                         0};
    launch(&c);
}

static void vector_ovmfx64_without_kernel(void **state)
{
    struct snp_case c = {FW_OVMF,
                         1,
                         NULL,
                         NULL,
                         NULL,
                         "da0296de8193586a5512078dcd719eccecbd87e2b825ad4148c44f665dc87df21e5b49e21"
                         "523a9ad993afdb6a30b4005",
                         NULL,
                         0};
    launch(&c);
}

static void kernel_initrd_8_vcpus(void **state)
{
    struct snp_case c = {FW_HASHES, 8, "tmp", "tmp", "root=/dev/vda ro", NULL, NULL, 0};
    launch(&c);
}

static void kernel_only_4_vcpus(void **state)
{
    struct snp_case c = {FW_HASHES, 4, "tmp", NULL, NULL, NULL, NULL, 0};
    launch(&c);
}

static void without_kernel_8_vcpus(void **state)
{
    struct snp_case c = {FW_HASHES, 8, NULL, NULL, NULL, NULL, NULL, 0};
    launch(&c);
}

/* debug_swap hosts (guest features 0x21): sev-snp-measure's default vector. */
static void vector_debug_swap_features(void **state)
{
    struct snp_case c = {FW_HASHES,
                         1,
                         "/dev/null",
                         "/dev/null",
                         "console=ttyS0 loglevel=7",
                         "803f691094946e42068aaa3a8f9e26a5c89f36f7b73ecfb28c653360fe4b3aba7e534442e"
                         "7e1e17895dfe778d0228977",
                         NULL,
                         0x21};
    launch(&c);
}

/* Another vCPU model: its signature lands in every VMSA's RDX through KVM_SET_REGS. */
static void milan_vcpus_4(void **state)
{
    struct snp_case c = {FW_HASHES, 4, "tmp", "tmp", "quiet", NULL, "EPYC-Milan", 0x21};
    launch(&c);
}

/* The firmware refuses CPUID entries: the launch diagnoses, retries with its values, and the
 * digest is unchanged (CPUID pages are measured as zero contents). */
static void cpuid_rejection_is_retried(void **state)
{
    struct snp_case c = {FW_HASHES,
                         1,
                         NULL,
                         NULL,
                         NULL,
                         "19358ba9a7615534a9a1e2f0dfc29384dcd4dcb7062ff9c6013b26869a5fc6ecabe033c48"
                         "dd6f6db5d6d76e7c5df632d",
                         NULL,
                         0};
    struct sim_tee *s = sim_tee_new(SIM_HOST_SNP);
    assert_non_null(s);
    s->cpuid_reject_leaf = 1;
    s->cpuid_reject_ecx = 1u << 0;
    char hex[97];
    run_case(&c, s, hex);
    assert_int_equal(s->cpuid_rejections, 1);
    sim_tee_free(s);
}

/* A kernel with a firmware that cannot measure it is refused before anything is launched. */
static void kernel_without_hashes_section_refused(void **state)
{
    char fw[4096], err[512] = "";
    firmware(FW_OVMF, fw, sizeof(fw));
    struct vm_config cfg;
    vm_config_init(&cfg);
    cfg.platform.tee = TEE_SNP;
    cfg.firmware = fw;
    cfg.kernel = "/dev/null";
    struct guest_mem gm;
    assert_int_equal(gm_init(&gm, RAM, err, sizeof(err)), 0);
    struct sim_tee *s = sim_tee_new(SIM_HOST_SNP);
    struct tee_vm *t = NULL;
    assert_int_equal(harness_launch(s, &cfg, &gm, &t, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "SNP_KERNEL_HASHES"));
    assert_int_equal(s->updates, 0);
    assert_false(s->snp_finished);
    tee_destroy(t);
    sim_tee_free(s);
    gm_destroy(&gm);
}

/* These two run on the same stand-ins whether or not ../shared is present, so CI keeps the
 * no-vector path honest. */
static void synthetic_firmware_kernel_initrd_2_vcpus(void **state)
{
    struct snp_case c = {FW_SYNTHETIC, 2, "tmp", "tmp", "console=hvc0", NULL, NULL, 0x21};
    launch(&c);
}

static void debian_ovmf_without_kernel_2_vcpus(void **state)
{
    struct snp_case c = {FW_DEBIAN, 2, NULL, NULL, NULL, NULL, "EPYC-Milan", 0};
    launch(&c);
}

static int write_tmp(char *path, size_t size, unsigned seed)
{
    int fd = mkstemp(path);
    if (fd < 0)
        return -1;
    uint8_t buf[4096];
    for (size_t off = 0; off < size; off += sizeof(buf)) {
        for (size_t i = 0; i < sizeof(buf); i++)
            buf[i] = (uint8_t)(i * 31 + off / 4096 + seed);
        if (write(fd, buf, sizeof(buf)) != (ssize_t)sizeof(buf))
            return -1;
    }
    close(fd);
    return 0;
}

int main(void)
{
    if (!harness_vectors(COCOON_SOURCE_DIR))
        printf("tee_snp_launch_sim: %s/../shared/vectors is absent: stand-in firmware, no "
               "published-vector sub-checks\n",
               COCOON_SOURCE_DIR);
    if (write_tmp(kernel_path, 64 * 1024, 1) < 0 || write_tmp(initrd_path, 32 * 1024, 2) < 0) {
        printf("tee_snp_launch_sim: cannot write temporary inputs\n");
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(vector_without_kernel_1_vcpu),
        cmocka_unit_test(vector_with_kernel_and_append_1_vcpu),
        cmocka_unit_test(vector_with_kernel_4_vcpus),
        cmocka_unit_test(vector_ovmfx64_without_kernel),
        cmocka_unit_test(kernel_initrd_8_vcpus),
        cmocka_unit_test(kernel_only_4_vcpus),
        cmocka_unit_test(without_kernel_8_vcpus),
        cmocka_unit_test(vector_debug_swap_features),
        cmocka_unit_test(milan_vcpus_4),
        cmocka_unit_test(cpuid_rejection_is_retried),
        cmocka_unit_test(kernel_without_hashes_section_refused),
        cmocka_unit_test(synthetic_firmware_kernel_initrd_2_vcpus),
        cmocka_unit_test(debian_ovmf_without_kernel_2_vcpus),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    unlink(kernel_path);
    unlink(initrd_path);
    return rc;
}
