/* attest_parse.c: the SEV-SNP report and TDX quote decoders of `cocoon-measure verify` on
 * synthetic and real (tests/fixtures/attest) bytes: field offsets, refusals, every truncation. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "tools/verify_snp_report.h"
#include "tools/verify_tdx_quote.h"

static uint8_t *load(const char *rel, size_t *n)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/tests/fixtures/attest/%s", COCOON_SOURCE_DIR, rel);
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    uint8_t *b = malloc(1 << 16);
    assert_non_null(b);
    *n = fread(b, 1, 1 << 16, f);
    fclose(f);
    return b;
}

static void put64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

/* Every field at its ABI offset: a report whose bytes are their own offsets' markers. */
static void snp_fields_at_abi_offsets(void **state)
{
    uint8_t d[SNP_REPORT_SIZE] = {0};
    char err[128];
    struct snp_report r;
    d[0] = 3;
    put64(d + 0x08, 0x30000);
    d[0x34] = 1;
    d[0x48] = 1 << 2 | 2; /* VLEK, MASK_CHIP_KEY */
    d[0x50] = 0xa1;
    d[0x90] = 0xa2;
    d[0xC0] = 0xa3;
    put64(d + 0x180, 0x4405000000000002ull);
    d[0x188] = 0x19;
    d[0x189] = 0x11;
    d[0x18A] = 1;
    d[0x1A0] = 0xa4;
    d[0x1E8] = 7; /* build, minor, major */
    d[0x1E9] = 55;
    d[0x1EA] = 1;
    d[0x2A0] = 0xa5;
    d[0x2A0 + 72] = 0xa6;
    assert_int_equal(snp_report_parse(&r, d, sizeof(d), err, sizeof(err)), 0);
    assert_int_equal(r.version, 3);
    assert_int_equal(r.policy, 0x30000);
    assert_int_equal(r.sig_algo, 1);
    assert_int_equal(snp_report_signing_key(&r), SNP_KEY_VLEK);
    assert_int_equal(r.flags & 2, 2);
    assert_int_equal(r.report_data[0], 0xa1);
    assert_int_equal(r.measurement[0], 0xa2);
    assert_int_equal(r.host_data[0], 0xa3);
    assert_int_equal(r.chip_id[0], 0xa4);
    assert_int_equal(r.sig_r[0], 0xa5);
    assert_int_equal(r.sig_s[0], 0xa6);
    assert_int_equal(r.cpuid_fam, 0x19);
    assert_int_equal(r.cpuid_mod, 0x11);
    assert_int_equal(r.current_major, 1);
    assert_int_equal(r.current_minor, 55);
    assert_int_equal(r.current_build, 7);
    struct snp_tcb t = snp_tcb_decode(r.reported_tcb, false);
    assert_int_equal(t.bootloader, 2);
    assert_int_equal(t.snp, 5);
    assert_int_equal(t.microcode, 0x44);
    t = snp_tcb_decode(0x4400000004030201ull, true); /* Turin: FMC, BL, TEE, SNP, .., UCODE */
    assert_int_equal(t.fmc, 1);
    assert_int_equal(t.bootloader, 2);
    assert_int_equal(t.tee, 3);
    assert_int_equal(t.snp, 4);
    assert_int_equal(t.microcode, 0x44);
}

static void snp_refuses_size_and_version(void **state)
{
    uint8_t d[SNP_REPORT_SIZE + 1] = {2};
    char err[128];
    struct snp_report r;
    assert_int_equal(snp_report_parse(&r, d, SNP_REPORT_SIZE - 1, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "1184"));
    assert_int_equal(snp_report_parse(&r, d, SNP_REPORT_SIZE + 1, err, sizeof(err)), -1);
    assert_int_equal(snp_report_parse(&r, d, SNP_REPORT_SIZE, err, sizeof(err)), 0);
    d[0] = 1;
    assert_int_equal(snp_report_parse(&r, d, SNP_REPORT_SIZE, err, sizeof(err)), -1);
    d[0] = 6;
    assert_int_equal(snp_report_parse(&r, d, SNP_REPORT_SIZE, err, sizeof(err)), -1);
    assert_int_equal(snp_report_parse(&r, NULL, 0, err, sizeof(err)), -1);
}

static void snp_min_tcb_text(void **state)
{
    struct snp_tcb t;
    assert_int_equal(snp_tcb_parse_text("bl=2,tee=0,snp=5,ucode=0x44", false, &t), 0);
    assert_int_equal(t.bootloader, 2);
    assert_int_equal(t.snp, 5);
    assert_int_equal(t.microcode, 0x44);
    assert_int_equal(snp_tcb_parse_text("0x4405000000000002", false, &t), 0);
    assert_int_equal(t.microcode, 0x44);
    assert_int_equal(snp_tcb_parse_text("fmc=3", true, &t), 0);
    assert_int_equal(t.fmc, 3);
    assert_int_equal(snp_tcb_parse_text("bl=256", false, &t), -1);
    assert_int_equal(snp_tcb_parse_text("bl=-1", false, &t), -1);
    assert_int_equal(snp_tcb_parse_text("bl=", false, &t), -1);
    assert_int_equal(snp_tcb_parse_text("foo=1", false, &t), -1);
    assert_int_equal(snp_tcb_parse_text("bl=1,", false, &t), -1);
    assert_int_equal(snp_tcb_parse_text("", false, &t), -1);
    assert_int_equal(snp_tcb_parse_text("12x", false, &t), -1);
}

static void tdx_real_v4_fields(void **state)
{
    size_t n;
    uint8_t *q = load("tdx/quote_v4_spr.dat", &n);
    struct tdx_quote t;
    char err[320];
    assert_int_equal(tdx_quote_parse(&t, q, n, err, sizeof(err)), 0);
    assert_int_equal(t.version, 4);
    assert_int_equal(t.tee_type, 0x81);
    assert_ptr_equal(t.td.mr_td, q + 48 + 136);
    assert_ptr_equal(t.td.report_data, q + 48 + 520);
    assert_null(t.td.mr_service_td);
    assert_int_equal(t.signed_len, 48 + 584);
    assert_ptr_equal(t.signature, q + 48 + 584 + 4);
    assert_int_equal(t.qe_auth_len, 32);
    assert_int_equal(t.quote_len, n);
    assert_memory_equal(t.pck_chain_pem, "-----BEGIN CERTIFICATE-----", 27);
    free(q);
}

static void tdx_real_v5_fields(void **state)
{
    size_t n;
    uint8_t *q = load("tdx/quote_v5.dat", &n);
    struct tdx_quote t;
    char err[320];
    assert_int_equal(tdx_quote_parse(&t, q, n, err, sizeof(err)), 0);
    assert_int_equal(t.version, 5);
    assert_int_equal(t.body_type, 3);
    assert_int_equal(t.signed_len, 48 + 6 + 648);
    assert_ptr_equal(t.td.mr_td, q + 54 + 136);
    assert_ptr_equal(t.td.mr_service_td, q + 54 + 600);
    free(q);
}

/* Every strict prefix of a real quote is refused with a message, never read past. */
static void tdx_every_truncation_refused(void **state)
{
    size_t n;
    uint8_t *q = load("tdx/quote_v4_spr.dat", &n);
    struct tdx_quote t;
    char err[320];
    for (size_t len = 0; len < n; len++) {
        uint8_t *copy = malloc(len ? len : 1); /* exact size: ASan catches any over-read */
        assert_non_null(copy);
        memcpy(copy, q, len);
        err[0] = 0;
        assert_int_equal(tdx_quote_parse(&t, copy, len, err, sizeof(err)), -1);
        assert_true(err[0] != 0);
        free(copy);
    }
    free(q);
}

static void tdx_refusals(void **state)
{
    size_t n;
    uint8_t *q = load("tdx/quote_v4_spr.dat", &n);
    uint8_t *b = malloc(n + 16);
    struct tdx_quote t;
    char err[320];
    assert_non_null(b);
    const size_t sig = 48 + 584;
    /* zero padding accepted and reported, anything else after the signature data refused */
    memcpy(b, q, n);
    memset(b + n, 0, 16);
    assert_int_equal(tdx_quote_parse(&t, b, n + 16, err, sizeof(err)), 0);
    assert_int_equal(t.padding_len, 16);
    b[n + 15] = 1;
    assert_int_equal(tdx_quote_parse(&t, b, n + 16, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "not zero padding"));
    struct {
        size_t off;
        uint8_t val;
        const char *msg;
    } cases[] = {
        {0, 3, "version"},
        {2, 3, "attestation key type"},
        {4, 0, "TEE type"},
        {sig + 3, 0x7f, "exceeds"},          /* signature data length */
        {sig + 4 + 128, 5, "type 5 is not"}, /* certification data type */
        {sig + 4 + 130, 0x55, "size"},       /* certification data size */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        memcpy(b, q, n);
        b[cases[i].off] = cases[i].val;
        assert_int_equal(tdx_quote_parse(&t, b, n, err, sizeof(err)), -1);
        if (!strstr(err, cases[i].msg))
            fail_msg("case %zu: '%s' lacks '%s'", i, err, cases[i].msg);
    }
    /* v5 header with a body size that disagrees with its type */
    size_t m;
    uint8_t *q5 = load("tdx/quote_v5.dat", &m);
    q5[50] = 0x89; /* size 0x289 instead of 0x288 */
    assert_int_equal(tdx_quote_parse(&t, q5, m, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "size"));
    q5[50] = 0x88;
    q5[48] = 1; /* SGX body */
    assert_int_equal(tdx_quote_parse(&t, q5, m, err, sizeof(err)), -1);
    free(q5);
    free(b);
    free(q);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(snp_fields_at_abi_offsets),
        cmocka_unit_test(snp_refuses_size_and_version),
        cmocka_unit_test(snp_min_tcb_text),
        cmocka_unit_test(tdx_real_v4_fields),
        cmocka_unit_test(tdx_real_v5_fields),
        cmocka_unit_test(tdx_every_truncation_refused),
        cmocka_unit_test(tdx_refusals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
