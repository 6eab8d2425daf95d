/* tdx_mrtd.c: TDX MRTD records, both page orders against an explicitly written byte stream,
 * zero fill past raw data, PAGE.AUG, the Debian OVMF vectors and the CFV digest. */
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
#include "tee/tdx_digest.h"
#include "support/measure_fixtures.h"

static uint8_t img[MF_SIZE];

static void records(void **state)
{
    uint8_t r[128];
    tdx_page_add_record(r, 0xffe20000);
    assert_memory_equal(r, "MEM.PAGE.ADD\0\0\0\0", 16);
    assert_int_equal(r[16], 0x00);
    assert_int_equal(r[18], 0xe2);
    assert_int_equal(r[19], 0xff);
    for (int i = 24; i < 128; i++)
        assert_int_equal(r[i], 0);
    tdx_mr_extend_record(r, 0x1234500);
    assert_memory_equal(r, "MR.EXTEND\0\0\0\0\0\0\0", 16);
    assert_int_equal(r[16], 0x00);
    assert_int_equal(r[17], 0x45);
    assert_int_equal(r[18], 0x23);
    assert_int_equal(r[19], 0x01);
}

/* The stream written out here from measurement.md §5.2, independently of tdx_digest.c. */
static void stream_add(EVP_MD_CTX *c, uint64_t gpa)
{
    uint8_t r[128] = "MEM.PAGE.ADD";
    memcpy(r + 16, &gpa, 8);
    EVP_DigestUpdate(c, r, 128);
}

static void stream_extend(EVP_MD_CTX *c, uint64_t gpa, const uint8_t *page)
{
    for (int k = 0; k < 16; k++) {
        uint8_t r[128] = "MR.EXTEND";
        uint64_t g = gpa + 256u * k;
        memcpy(r + 16, &g, 8);
        EVP_DigestUpdate(c, r, 128);
        EVP_DigestUpdate(c, page + 256 * k, 256);
    }
}

static void plan_for(struct launch_plan *plan, enum launch_tdx_order order)
{
    struct launch_tdx_config cfg = {.firmware = img, .firmware_size = MF_SIZE, .order = order};
    struct fw_error err = {{0}};
    assert_int_equal(launch_plan_build_tdx(plan, &cfg, &err), 0);
}

static void both_orders_match_explicit_stream(void **state)
{
    mf_build_image(img);
    /* synthetic TDVF: BFV 8 pages extended (file 0x8000..), CFV 8 pages, TD_HOB 2, TempMem 6 */
    static const uint64_t sec[][4] = {{0x100000000ull - 0x8000, 8, 0x8000, 1},
                                      {0x100000000ull - 0x10000, 8, 0x0, 0},
                                      {0x809000, 2, 0, 0},
                                      {0x800000, 6, 0, 0}};
    for (int per_section = 0; per_section < 2; per_section++) {
        EVP_MD_CTX *c = EVP_MD_CTX_new();
        EVP_DigestInit_ex(c, EVP_sha384(), NULL);
        for (int s = 0; s < 4; s++) {
            for (uint64_t p = 0; p < sec[s][1]; p++) {
                stream_add(c, sec[s][0] + 4096 * p);
                if (sec[s][3] && !per_section)
                    stream_extend(c, sec[s][0] + 4096 * p, img + sec[s][2] + 4096 * p);
            }
            for (uint64_t p = 0; sec[s][3] && per_section && p < sec[s][1]; p++)
                stream_extend(c, sec[s][0] + 4096 * p, img + sec[s][2] + 4096 * p);
        }
        uint8_t want[48], got[48];
        unsigned n;
        EVP_DigestFinal_ex(c, want, &n);
        EVP_MD_CTX_free(c);
        struct launch_plan plan;
        struct fw_error err = {{0}};
        plan_for(&plan, per_section ? LAUNCH_TDX_PER_SECTION : LAUNCH_TDX_PER_PAGE);
        assert_int_equal(plan.n, 4);
        assert_int_equal(plan.updates[0].flags, LAUNCH_F_TDX_EXTEND);
        assert_null(plan.updates[2].data); /* TD_HOB: no file bytes, VMM fills it */
        assert_int_equal(tdx_mrtd_plan(&plan, got, &err), 0);
        assert_memory_equal(got, want, 48);
        launch_plan_free(&plan);
    }
}

static void orders_differ_only_with_multi_page_extends(void **state)
{
    mf_build_image(img);
    struct launch_plan a, b;
    uint8_t da[48], db[48];
    struct fw_error err = {{0}};
    plan_for(&a, LAUNCH_TDX_PER_PAGE);
    plan_for(&b, LAUNCH_TDX_PER_SECTION);
    assert_int_equal(tdx_mrtd_plan(&a, da, &err), 0);
    assert_int_equal(tdx_mrtd_plan(&b, db, &err), 0);
    assert_memory_not_equal(da, db, 48);
    /* with the extended section cut to one page the orders agree */
    a.updates[0].len = b.updates[0].len = 4096;
    a.updates[0].data_len = b.updates[0].data_len = 4096;
    assert_int_equal(tdx_mrtd_plan(&a, da, &err), 0);
    assert_int_equal(tdx_mrtd_plan(&b, db, &err), 0);
    assert_memory_equal(da, db, 48);
    launch_plan_free(&a);
    launch_plan_free(&b);
}

static void short_raw_data_is_zero_filled(void **state)
{
    mf_build_image(img);
    struct launch_plan a, b;
    uint8_t da[48], db[48];
    struct fw_error err = {{0}};
    plan_for(&a, LAUNCH_TDX_PER_PAGE);
    plan_for(&b, LAUNCH_TDX_PER_PAGE);
    /* a: raw data 1.5 pages of a 2-page region; b: the same bytes explicitly zero-padded */
    static uint8_t padded[8192];
    memcpy(padded, img + 0x8000, 6144);
    a.updates[0].len = 8192;
    a.updates[0].data_len = 6144;
    b.updates[0].len = 8192;
    b.updates[0].data = padded;
    b.updates[0].data_len = 8192;
    assert_int_equal(tdx_mrtd_plan(&a, da, &err), 0);
    assert_int_equal(tdx_mrtd_plan(&b, db, &err), 0);
    assert_memory_equal(da, db, 48);
    a.updates[0].data_len = 9000; /* more data than the region: refused */
    assert_int_equal(tdx_mrtd_plan(&a, da, &err), -1);
    launch_plan_free(&a);
    launch_plan_free(&b);
}

static void page_aug_sections_are_not_added(void **state)
{
    mf_build_image(img);
    img[MF_TDVF_OFF + 16 + 32 * 3 + 28] = TDVF_ATTR_PAGE_AUG; /* TempMem accepted later */
    struct launch_plan plan;
    plan_for(&plan, LAUNCH_TDX_PER_PAGE);
    assert_int_equal(plan.n, 3);
    for (size_t i = 0; i < plan.n; i++)
        assert_int_not_equal(plan.updates[i].gpa, 0x800000);
    launch_plan_free(&plan);
}

static void debian_ovmf_vectors(void **state)
{
    size_t len;
    uint8_t *fw = mf_read_file(
        mf_vector_path(COCOON_SOURCE_DIR, "tdx/debian-bookworm-ovmf-2022.11-6+deb12u2_OVMF.fd"),
        &len);
    const char *tsv = mf_vector_path(COCOON_SOURCE_DIR, "tdx/vectors.tsv");
    char *mrtd_hex = mf_tsv_cell(tsv, "debian12_ovmf_mrtd_per_page", "expected");
    char *cfv_hex = mf_tsv_cell(tsv, "debian12_ovmf_cfv_sha384", "expected");
    if (!fw || !mrtd_hex || !cfv_hex) {
        fprintf(stderr, "skip: ../shared/vectors absent\n");
        skip();
    }
    struct launch_tdx_config cfg = {.firmware = fw, .firmware_size = len};
    struct launch_plan plan;
    struct fw_error err = {{0}};
    uint8_t got[48], want[48];
    assert_int_equal(launch_plan_build_tdx(&plan, &cfg, &err), 0);
    assert_int_equal(tdx_mrtd_plan(&plan, got, &err), 0);
    assert_int_equal(mf_unhex(mrtd_hex, want, 48), 0);
    assert_memory_equal(got, want, 48);
    assert_int_equal(tdx_cfv_digest(&plan.tdvf, got, &err), 0);
    assert_int_equal(mf_unhex(cfv_hex, want, 48), 0);
    assert_memory_equal(got, want, 48);
    launch_plan_free(&plan);
    free(fw);
    free(mrtd_hex);
    free(cfv_hex);
}

static void cfv_digest_needs_a_cfv(void **state)
{
    mf_build_image(img);
    struct tdvf_image t;
    struct fw_error err = {{0}};
    uint8_t got[48], want[48];
    unsigned n;
    assert_int_equal(tdvf_parse(&t, img, MF_SIZE, &err), 0);
    assert_int_equal(tdx_cfv_digest(&t, got, &err), 0);
    EVP_Digest(img, 0x8000, want, &n, EVP_sha384(), NULL);
    assert_memory_equal(got, want, 48);
    t.sections[1].type = TDVF_SECTION_TEMP_MEM;
    assert_int_equal(tdx_cfv_digest(&t, got, &err), -1);
    assert_non_null(strstr(err.msg, "CFV"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(records),
        cmocka_unit_test(both_orders_match_explicit_stream),
        cmocka_unit_test(orders_differ_only_with_multi_page_extends),
        cmocka_unit_test(short_raw_data_is_zero_filled),
        cmocka_unit_test(page_aug_sections_are_not_added),
        cmocka_unit_test(debian_ovmf_vectors),
        cmocka_unit_test(cfv_digest_needs_a_cfv),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
