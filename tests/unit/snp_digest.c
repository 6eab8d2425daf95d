/* snp_digest.c: the SNP GCTX page update (PAGE_INFO layout), the launch-plan fold against the
 * shared vectors, VMSA fields per VMM type, vCPU signatures and the SEV kernel-hashes table. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <openssl/evp.h>

#include "tee/launch_plan.h"
#include "tee/sev_hashes.h"
#include "tee/snp_digest.h"
#include "tee/vmsa.h"
#include "support/measure_fixtures.h"

static uint8_t img[MF_SIZE];

static void sha384(const void *d, size_t n, uint8_t out[48])
{
    unsigned int len;
    assert_true(EVP_Digest(d, n, out, &len, EVP_sha384(), NULL));
}

static uint64_t rd64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

/* One update = SHA-384 of the 0x70-byte PAGE_INFO written out field by field here. */
static void page_info_layout(void **state)
{
    struct snp_gctx g;
    uint8_t seed[48], contents[48], info[0x70] = {0}, want[48];
    for (int i = 0; i < 48; i++) {
        seed[i] = (uint8_t)i;
        contents[i] = (uint8_t)(0xa0 + i);
    }
    assert_int_equal(snp_gctx_init(&g, seed), 0);
    assert_int_equal(snp_gctx_update(&g, 6, 0x0123456789abc000ull, contents), 0);
    memcpy(info, seed, 48);
    memcpy(info + 0x30, contents, 48);
    info[0x60] = 0x70;
    info[0x62] = 6;
    const uint64_t gpa = 0x0123456789abc000ull;
    memcpy(info + 0x68, &gpa, 8); /* x86-64: little-endian */
    sha384(info, sizeof(info), want);
    assert_memory_equal(g.ld, want, 48);
    snp_gctx_free(&g);
}

static void normal_pages_hash_each_page(void **state)
{
    static uint8_t data[3 * 4096];
    for (size_t i = 0; i < sizeof(data); i++)
        data[i] = (uint8_t)(i * 7);
    struct snp_gctx a, b;
    assert_int_equal(snp_gctx_init(&a, NULL), 0);
    assert_int_equal(snp_gctx_init(&b, NULL), 0);
    assert_int_equal(snp_gctx_update_normal(&a, 0x1000, data, sizeof(data)), 0);
    for (int p = 0; p < 3; p++) {
        uint8_t h[48];
        sha384(data + 4096 * p, 4096, h);
        assert_int_equal(snp_gctx_update(&b, 1, 0x1000 + 4096u * p, h), 0);
    }
    assert_memory_equal(a.ld, b.ld, 48);
    assert_int_equal(snp_gctx_update_normal(&a, 0, data, 100), -1); /* not whole pages */
    assert_int_equal(snp_gctx_update_empty(&a, 3, 0, 4097), -1);
    snp_gctx_free(&a);
    snp_gctx_free(&b);
}

static char *vector(const char *id)
{
    return mf_tsv_cell(mf_vector_path(COCOON_SOURCE_DIR, "snp/vectors.tsv"), id, "expected");
}

static uint8_t *fixture(const char *name, size_t *len)
{
    char rel[256];
    snprintf(rel, sizeof(rel), "snp/fixtures/%s", name);
    return mf_read_file(mf_vector_path(COCOON_SOURCE_DIR, rel), len);
}

/* test_snp_without_kernel_*: the whole plan fold reproduces sev-snp-measure's values. */
static void plan_fold_matches_vectors(void **state)
{
    size_t len;
    uint8_t *fw = fixture("ovmf_AmdSev_suffix.bin", &len);
    char *want1 = vector("test_snp_without_kernel_feature_snp_only");
    char *want21 = vector("test_snp_without_kernel_default");
    char *want_hash = vector("test_snp_ovmf_hash_full (ovmf-hash mode)");
    if (!fw || !want1 || !want21 || !want_hash) {
        fprintf(stderr, "skip: ../shared/vectors absent\n");
        skip();
    }
    struct launch_sev_config cfg = {.tee = LAUNCH_TEE_SNP,
                                    .firmware = fw,
                                    .firmware_size = len,
                                    .vcpus = 1,
                                    .vcpu_sig = vcpu_signature(23, 1, 2),
                                    .guest_features = 0x1,
                                    .vmm = LAUNCH_VMM_QEMU};
    struct launch_plan plan;
    struct fw_error err = {{0}};
    uint8_t ld[48], ovmf_hash[48], want[48];
    assert_int_equal(launch_plan_build_sev(&plan, &cfg, &err), 0);
    assert_int_equal(snp_digest_plan(&plan, ld, ovmf_hash, &err), 0);
    assert_int_equal(mf_unhex(want1, want, 48), 0);
    assert_memory_equal(ld, want, 48);
    assert_int_equal(mf_unhex(want_hash, want, 48), 0);
    assert_memory_equal(ovmf_hash, want, 48);
    launch_plan_free(&plan);

    /* seeded with the firmware digest: same result without touching the firmware pages */
    cfg.guest_features = 0x21;
    cfg.ld_seed = ovmf_hash;
    assert_int_equal(launch_plan_build_sev(&plan, &cfg, &err), 0);
    assert_int_equal(snp_digest_plan(&plan, ld, NULL, &err), 0);
    assert_int_equal(mf_unhex(want21, want, 48), 0);
    assert_memory_equal(ld, want, 48);
    launch_plan_free(&plan);
    free(fw);
    free(want1);
    free(want21);
    free(want_hash);
}

/* The plan of the synthetic image: order, page types, kernel-hashes page contents. */
static void plan_order_and_types(void **state)
{
    mf_build_image(img);
    struct launch_kernel_hashes kh;
    struct fw_error err = {{0}};
    assert_int_equal(sev_hash_cmdline(kh.cmdline, "console=ttyS0", &err), 0);
    assert_int_equal(sev_sha256(kh.initrd, NULL, 0, &err), 0);
    assert_int_equal(sev_sha256(kh.kernel, (const uint8_t *)"MZ", 2, &err), 0);
    struct launch_sev_config cfg = {.tee = LAUNCH_TEE_SNP,
                                    .firmware = img,
                                    .firmware_size = MF_SIZE,
                                    .kernel = &kh,
                                    .vcpus = 3,
                                    .vcpu_sig = 0xa00f11,
                                    .guest_features = 0x21,
                                    .vmm = LAUNCH_VMM_EC2};
    struct launch_plan plan;
    assert_int_equal(launch_plan_build_sev(&plan, &cfg, &err), 0);
    /* firmware, SEC_MEM, SECRETS, KERNEL_HASHES, SEC_MEM, CPUID (EC2: last), 3 VMSAs */
    static const enum launch_update_type want[] = {
        LAUNCH_PAGE_NORMAL, LAUNCH_PAGE_ZERO, LAUNCH_PAGE_SECRETS,
        LAUNCH_PAGE_NORMAL, LAUNCH_PAGE_ZERO, LAUNCH_PAGE_CPUID,
        LAUNCH_PAGE_VMSA,   LAUNCH_PAGE_VMSA, LAUNCH_PAGE_VMSA};
    assert_int_equal(plan.n, 9);
    for (size_t i = 0; i < plan.n; i++)
        assert_int_equal(plan.updates[i].type, want[i]);
    assert_int_equal(plan.updates[0].gpa, 0x100000000ull - MF_SIZE);
    const struct launch_update *h = &plan.updates[3];
    assert_int_equal(h->origin, LAUNCH_FROM_KERNEL_HASHES);
    assert_int_equal(h->gpa, 0x810000);
    uint8_t table[SEV_HASHES_TABLE_PADDED_LEN];
    sev_hashes_table(table, &kh);
    assert_memory_equal(h->data + 0xc00, table, sizeof(table));
    for (size_t i = 0; i < 0xc00; i++)
        assert_int_equal(h->data[i], 0);
    assert_int_equal(plan.updates[5].gpa, 0x80e000);
    assert_ptr_equal(plan.updates[7].data, plan.updates[8].data); /* APs share one VMSA */
    assert_ptr_not_equal(plan.updates[6].data, plan.updates[7].data);
    /* the fold equals the primitives applied by hand in that order */
    struct snp_gctx g;
    uint8_t ld[48];
    assert_int_equal(snp_gctx_init(&g, NULL), 0);
    assert_int_equal(snp_gctx_update_normal(&g, 0x100000000ull - MF_SIZE, img, MF_SIZE), 0);
    assert_int_equal(snp_gctx_update_empty(&g, 3, 0x800000, 0x9000), 0);
    assert_int_equal(snp_gctx_update_empty(&g, 5, 0x80d000, 0x1000), 0);
    assert_int_equal(snp_gctx_update_normal(&g, 0x810000, h->data, 4096), 0);
    assert_int_equal(snp_gctx_update_empty(&g, 3, 0x811000, 0xf000), 0);
    assert_int_equal(snp_gctx_update_empty(&g, 6, 0x80e000, 0x1000), 0);
    for (int i = 0; i < 3; i++)
        assert_int_equal(snp_gctx_update_vmsa(&g, plan.updates[6 + i].data), 0);
    assert_int_equal(snp_digest_plan(&plan, ld, NULL, &err), 0);
    assert_memory_equal(ld, g.ld, 48);
    snp_gctx_free(&g);
    launch_plan_free(&plan);
}

static void refusals_name_the_problem(void **state)
{
    size_t len;
    uint8_t *fw = fixture("ovmf_OvmfX64_suffix.bin", &len);
    if (!fw)
        skip();
    struct launch_kernel_hashes kh;
    memset(&kh, 0, sizeof(kh));
    struct launch_sev_config cfg = {.tee = LAUNCH_TEE_SNP,
                                    .firmware = fw,
                                    .firmware_size = len,
                                    .kernel = &kh,
                                    .vcpus = 1,
                                    .vmm = LAUNCH_VMM_QEMU};
    struct launch_plan plan;
    struct fw_error err = {{0}};
    assert_int_equal(launch_plan_build_sev(&plan, &cfg, &err), -1);
    assert_non_null(strstr(err.msg, "SNP_KERNEL_HASHES"));
    cfg.tee = LAUNCH_TEE_SEV_ES;
    assert_int_equal(launch_plan_build_sev(&plan, &cfg, &err), -1);
    assert_non_null(strstr(err.msg, "kernel/initrd/cmdline"));
    cfg.tee = LAUNCH_TEE_SEV;
    cfg.ld_seed = img;
    assert_int_equal(launch_plan_build_sev(&plan, &cfg, &err), -1);
    assert_non_null(strstr(err.msg, "only works with SNP"));
    free(fw);
}

static void sev_fold_is_sha256_of_firmware(void **state)
{
    mf_build_image(img);
    struct launch_sev_config cfg = {
        .tee = LAUNCH_TEE_SEV, .firmware = img, .firmware_size = MF_SIZE, .vmm = LAUNCH_VMM_QEMU};
    struct launch_plan plan;
    struct fw_error err = {{0}};
    uint8_t ld[48], want[32];
    assert_int_equal(launch_plan_build_sev(&plan, &cfg, &err), 0);
    assert_int_equal(sev_digest_plan(&plan, ld, &err), 0);
    assert_int_equal(sev_sha256(want, img, MF_SIZE, &err), 0);
    assert_memory_equal(ld, want, 32);
    assert_int_equal(snp_digest_plan(&plan, ld, NULL, &err), -1); /* wrong fold for the plan */
    launch_plan_free(&plan);
}

static void vmsa_fields(void **state)
{
    static uint8_t p[VMSA_SIZE];
    vmsa_build(p, VMSA_VMM_QEMU, 0x80b004, 0x800f12, 0x21, NULL);
    assert_int_equal(rd64(p + VMSA_OFF_CS + 8), 0x800000); /* CS base */
    assert_int_equal(p[VMSA_OFF_CS + 2], 0x9b);
    assert_int_equal(rd64(p + VMSA_OFF_RIP), 0xb004);
    assert_int_equal(rd64(p + VMSA_OFF_RDX), 0x800f12);
    assert_int_equal(rd64(p + VMSA_OFF_SEV_FEATURES), 0x21);
    assert_int_equal(rd64(p + VMSA_OFF_G_PAT), 0x0007040600070406ull);
    assert_int_equal(rd64(p + VMSA_OFF_EFER), 0x1000);
    assert_int_equal(p[VMSA_OFF_MXCSR] | p[VMSA_OFF_MXCSR + 1] << 8, 0x1f80);
    assert_int_equal(p[VMSA_OFF_X87_FCW] | p[VMSA_OFF_X87_FCW + 1] << 8, 0x37f);
    vmsa_build(p, VMSA_VMM_QEMU, VMSA_BSP_EIP, 1, 1, NULL);
    assert_int_equal(rd64(p + VMSA_OFF_CS + 8), 0xffff0000);
    assert_int_equal(rd64(p + VMSA_OFF_RIP), 0xfff0);
    vmsa_build(p, VMSA_VMM_EC2, VMSA_BSP_EIP, 0x800f12, 1, NULL);
    assert_int_equal(p[VMSA_OFF_CS + 2], 0x9a);
    assert_int_equal(p[VMSA_OFF_SS + 2], 0x92);
    assert_int_equal(p[VMSA_OFF_TR + 2], 0x83);
    assert_int_equal(rd64(p + VMSA_OFF_RDX), 0x600);
    assert_int_equal(p[VMSA_OFF_MXCSR + 1], 0);
    vmsa_build(p, VMSA_VMM_EC2, 0x80b004, 0x800f12, 1, NULL);
    assert_int_equal(p[VMSA_OFF_CS + 2], 0x9b);
    vmsa_build(p, VMSA_VMM_GCE, VMSA_BSP_EIP, 0x800f12, 1, NULL);
    assert_int_equal(rd64(p + VMSA_OFF_G_PAT), 0x00070106);
    assert_int_equal(rd64(p + VMSA_OFF_RDX), 0x600);
    struct vmsa_fpu_defaults old_kvm = {0, 0};
    vmsa_build(p, VMSA_VMM_QEMU, VMSA_BSP_EIP, 1, 1, &old_kvm);
    assert_int_equal(p[VMSA_OFF_MXCSR + 1], 0);
    vmsa_build_svsm(p, 0xffbc1000, 0x800f12, NULL);
    assert_int_equal(rd64(p + VMSA_OFF_RIP), 0xffbc1000);
    assert_int_equal(rd64(p + VMSA_OFF_CR0), 0x11);
    assert_int_equal(p[VMSA_OFF_CS], 8);
    assert_int_equal(p[VMSA_OFF_X87_FCW], 0); /* as sev-snp-measure and hardware have it */
    assert_int_equal(rd64(p + VMSA_OFF_SEV_FEATURES), 1);
}

static void vcpu_signatures(void **state)
{
    static const struct {
        const char *name;
        uint32_t sig;
    } t[] = {{"EPYC", 0x800f12},          {"EPYC-v4", 0x800f12},      {"EPYC-IBPB", 0x800f12},
             {"EPYC-Rome", 0x830f10},     {"EPYC-Rome-v3", 0x830f10}, {"EPYC-Milan", 0xa00f11},
             {"EPYC-Milan-v2", 0xa00f11}, {"EPYC-Genoa", 0xa10f10},   {"EPYC-Turin", 0xb00f00}};
    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        uint32_t sig = 0;
        assert_int_equal(vcpu_type_signature(t[i].name, &sig), 0);
        assert_int_equal(sig, t[i].sig);
    }
    uint32_t sig;
    assert_int_equal(vcpu_type_signature("EPYC-v9", &sig), -1);
    assert_int_equal(vcpu_signature(25, 17, 0), 0xa10f10);
    assert_int_equal(vcpu_signature(6, 0x55, 7), 0x50657);
    assert_non_null(vcpu_type_name(0));
    assert_null(vcpu_type_name(1000));
}

static void hashes_table_layout(void **state)
{
    struct launch_kernel_hashes kh;
    struct fw_error err = {{0}};
    uint8_t t[SEV_HASHES_TABLE_PADDED_LEN], nul_hash[32], empty_hash[32];
    memset(&kh, 0, sizeof(kh));
    assert_int_equal(sev_hash_cmdline(kh.cmdline, NULL, &err), 0);
    assert_int_equal(sev_sha256(nul_hash, (const uint8_t *)"", 1, &err), 0);
    assert_memory_equal(kh.cmdline, nul_hash, 32); /* no cmdline = SHA-256 of one NUL */
    assert_int_equal(sev_sha256_file(kh.initrd, NULL, &err), 0);
    assert_int_equal(sev_sha256(empty_hash, NULL, 0, &err), 0);
    assert_memory_equal(kh.initrd, empty_hash, 32);
    assert_int_equal(sev_sha256_file(kh.kernel, "/dev/null", &err), 0);
    assert_memory_equal(kh.kernel, empty_hash, 32);
    assert_int_equal(sev_sha256_file(kh.kernel, "/nonexistent/kernel", &err), -1);
    assert_non_null(strstr(err.msg, "/nonexistent/kernel"));
    sev_hashes_table(t, &kh);
    static const uint8_t hdr[16] = {0x06, 0xd6, 0x38, 0x94, 0x22, 0x4f, 0xc9, 0x4c,
                                    0xb4, 0x79, 0xa7, 0x93, 0xd4, 0x11, 0xfd, 0x21};
    assert_memory_equal(t, hdr, 16);
    assert_int_equal(t[16] | t[17] << 8, 168);
    assert_int_equal(t[18], 0xd8); /* cmdline entry first */
    assert_int_equal(t[18 + 16], 50);
    assert_memory_equal(t + 18 + 18, kh.cmdline, 32);
    assert_int_equal(t[68], 0x31);  /* then initrd */
    assert_int_equal(t[118], 0x37); /* then kernel */
    for (int i = 168; i < 176; i++)
        assert_int_equal(t[i], 0);
    uint8_t page[4096];
    assert_int_equal(sev_hashes_page(page, 4096 - 176, &kh, &err), 0);
    assert_memory_equal(page + 4096 - 176, t, 176);
    assert_int_equal(sev_hashes_page(page, 4096 - 175, &kh, &err), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(page_info_layout),
        cmocka_unit_test(normal_pages_hash_each_page),
        cmocka_unit_test(plan_fold_matches_vectors),
        cmocka_unit_test(plan_order_and_types),
        cmocka_unit_test(refusals_name_the_problem),
        cmocka_unit_test(sev_fold_is_sha256_of_firmware),
        cmocka_unit_test(vmsa_fields),
        cmocka_unit_test(vcpu_signatures),
        cmocka_unit_test(hashes_table_layout),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
