/* cocoon_measure_verify_tdx.c: `cocoon-measure verify tdx`: an Intel TDX DCAP quote (v4/v5)
 * checked offline: PCK chain to the built-in Intel SGX Root CA, QE report signature and binding,
 * the attestation key's signature, optionally TCB status / QE identity from PCS collateral
 * (verify_tdx_collateral.c), then MRTD (given or computed by `cocoon-measure tdx`), RTMRs,
 * MRCONFIGID and REPORTDATA. */
#include <getopt.h>
#include <inttypes.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tools/cocoon_measure.h"
#include "tools/verify_cli.h"
#include "tools/verify_tdx.h"
#include "tools/verify_tdx_quote.h"
#include "tools/verify_x509.h"

static const char TDX_USAGE[] =
    "usage: cocoon-measure verify tdx --quote FILE [--collateral DIR]\n"
    "         [--expect-mrtd HEX | --firmware FILE [--page-order per-page|per-section]]\n"
    "         [--expect-rtmr N=HEX]... [--expect-mrconfigid HEX] [--expect-report-data HEX]\n"
    "         [--policy-deny-debug] [--at TIME] [--format text|json|rvps]\n";

struct tdx_opts {
    const char *quote, *collateral, *firmware;
    enum launch_tdx_order order;
    bool have_mrtd, have_rtmr[4], have_cfg, have_rd, deny_debug;
    uint8_t mrtd[48], rtmr[4][48], cfg[48], rd[64];
    time_t at;
    enum vformat format;
};

enum {
    T_QUOTE = 512,
    T_COLLATERAL,
    T_MRTD,
    T_FIRMWARE,
    T_ORDER,
    T_RTMR,
    T_CFG,
    T_RD,
    T_DENY_DEBUG,
    T_AT,
    T_FORMAT,
};

static void parse_tdx_opts(int argc, char **argv, struct tdx_opts *o)
{
    static const struct option opts[] = {
        {"help", no_argument, NULL, 'h'},
        {"quote", required_argument, NULL, T_QUOTE},
        {"collateral", required_argument, NULL, T_COLLATERAL},
        {"expect-mrtd", required_argument, NULL, T_MRTD},
        {"firmware", required_argument, NULL, T_FIRMWARE},
        {"page-order", required_argument, NULL, T_ORDER},
        {"expect-rtmr", required_argument, NULL, T_RTMR},
        {"expect-mrconfigid", required_argument, NULL, T_CFG},
        {"expect-report-data", required_argument, NULL, T_RD},
        {"policy-deny-debug", no_argument, NULL, T_DENY_DEBUG},
        {"at", required_argument, NULL, T_AT},
        {"format", required_argument, NULL, T_FORMAT},
        {NULL, 0, NULL, 0},
    };
    o->format = VF_TEXT;
    o->order = LAUNCH_TDX_PER_PAGE;
    o->at = time(NULL);
    bool have_order = false;
    opterr = 0;
    optind = 0;
    int c;
    while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        switch (c) {
        case 'h':
            measure_print_help(stdout);
            exit(0);
        case T_QUOTE:
            o->quote = optarg;
            break;
        case T_COLLATERAL:
            o->collateral = optarg;
            break;
        case T_MRTD:
            if (!vparse_hex(optarg, o->mrtd, 48, false))
                verify_usage_error(TDX_USAGE, "--expect-mrtd needs 96 hex digits");
            o->have_mrtd = true;
            break;
        case T_FIRMWARE:
            o->firmware = optarg;
            break;
        case T_ORDER:
            if (!strcmp(optarg, "per-page"))
                o->order = LAUNCH_TDX_PER_PAGE;
            else if (!strcmp(optarg, "per-section"))
                o->order = LAUNCH_TDX_PER_SECTION;
            else
                verify_usage_error(TDX_USAGE,
                                   "argument --page-order: invalid choice: '%s' "
                                   "(choose from 'per-page', 'per-section')",
                                   optarg);
            have_order = true;
            break;
        case T_RTMR: {
            unsigned n = (unsigned)(optarg[0] - '0');
            if (optarg[0] < '0' || n > 3 || optarg[1] != '=' ||
                !vparse_hex(optarg + 2, o->rtmr[n], 48, false))
                verify_usage_error(TDX_USAGE, "--expect-rtmr needs N=HEX, N in 0..3, 96 hex "
                                              "digits");
            o->have_rtmr[n] = true;
            break;
        }
        case T_CFG:
            if (!vparse_hex(optarg, o->cfg, 48, false))
                verify_usage_error(TDX_USAGE, "--expect-mrconfigid needs 96 hex digits");
            o->have_cfg = true;
            break;
        case T_RD:
            if (!vparse_hex(optarg, o->rd, 64, true))
                verify_usage_error(TDX_USAGE, "--expect-report-data needs up to 128 hex digits "
                                              "(shorter values are padded with zero bytes)");
            o->have_rd = true;
            break;
        case T_DENY_DEBUG:
            o->deny_debug = true;
            break;
        case T_AT:
            if (!vparse_time(optarg, &o->at))
                verify_usage_error(TDX_USAGE, "--at needs seconds since 1970 or "
                                              "YYYY-MM-DDTHH:MM:SSZ");
            break;
        case T_FORMAT:
            o->format = verify_parse_format(TDX_USAGE, optarg);
            break;
        case ':':
            verify_usage_error(TDX_USAGE, "argument %s: expected one argument", argv[optind - 1]);
        default:
            verify_usage_error(TDX_USAGE, "unrecognized arguments: %s", argv[optind - 1]);
        }
    }
    if (optind < argc)
        verify_usage_error(TDX_USAGE, "unrecognized arguments: %s", argv[optind]);
    if (!o->quote)
        verify_usage_error(TDX_USAGE, "the following arguments are required: --quote");
    if (o->firmware && o->have_mrtd)
        verify_usage_error(TDX_USAGE, "give --expect-mrtd or --firmware, not both");
    if (have_order && !o->firmware)
        verify_usage_error(TDX_USAGE, "--page-order only applies with --firmware");
}

static bool tdx_is_raw(const uint8_t *d, size_t n)
{
    return n >= 4 && (d[0] == 4 || d[0] == 5) && d[1] == 0 && d[2] == 2 && d[3] == 0;
}

/* The PCK leaf, the intermediate CA and the root from certification data type 5, verified with
 * OpenSSL's X509_verify_cert against the built-in Intel SGX Root CA only (the quote's own root
 * copy is not trusted). With collateral, the root CA and PCK CRLs are checked too. */
static X509 *check_pck_chain(struct vlog *l, const struct tdx_quote *q, const struct tdx_opts *o,
                             STACK_OF(X509) * *quote_certs, struct tdx_collateral *col)
{
    STACK_OF(X509) *root = vx_builtin_certs("intel_sgx_root_ca.pem");
    *quote_certs = vx_certs_from_bytes(q->pck_chain_pem, q->pck_chain_len);
    X509 *leaf = *quote_certs ? sk_X509_value(*quote_certs, 0) : NULL;
    X509_STORE *store = X509_STORE_new();
    X509_STORE_CTX *ctx = X509_STORE_CTX_new();
    if (!root || !leaf || !store || !ctx) {
        vlog_add(l, "pck_chain", V_FAIL, "%s",
                 !leaf ? "the quote's PCK certification data holds no PEM certificate"
                       : "out of memory or built-in root unreadable");
        leaf = NULL;
        goto out;
    }
    X509_STORE_add_cert(store, sk_X509_value(root, 0));
    unsigned long flags = X509_V_FLAG_USE_CHECK_TIME;
    if (col && col->root_crl && col->pck_crl) {
        X509_STORE_add_crl(store, col->root_crl);
        X509_STORE_add_crl(store, col->pck_crl);
        flags |= X509_V_FLAG_CRL_CHECK | X509_V_FLAG_CRL_CHECK_ALL;
    }
    X509_STORE_CTX_init(ctx, store, leaf, *quote_certs);
    X509_VERIFY_PARAM *p = X509_STORE_CTX_get0_param(ctx);
    X509_VERIFY_PARAM_set_time(p, o->at);
    X509_VERIFY_PARAM_set_flags(p, flags);
    if (X509_verify_cert(ctx) != 1) {
        int e = X509_STORE_CTX_get_error(ctx);
        vlog_add(l, "pck_chain", V_FAIL,
                 "PCK certificate chain does not verify to the built-in "
                 "Intel SGX Root CA: %s (depth %d)",
                 X509_verify_cert_error_string(e), X509_STORE_CTX_get_error_depth(ctx));
        leaf = NULL;
    } else if (strcmp(vx_ec_curve(X509_get0_pubkey(leaf)), "prime256v1")) {
        vlog_add(l, "pck_chain", V_FAIL, "PCK key is not ECDSA P-256");
        leaf = NULL;
    } else {
        char cn[80];
        vx_subject_cn(leaf, cn, sizeof(cn));
        vlog_add(l, "pck_chain", V_PASS, "%s -> %d CA(s) -> built-in Intel SGX Root CA%s", cn,
                 sk_X509_num(X509_STORE_CTX_get0_chain(ctx)) - 2,
                 (flags & X509_V_FLAG_CRL_CHECK) ? " (CRLs checked)" : " (CRLs not checked)");
    }
out:
    X509_STORE_CTX_free(ctx);
    X509_STORE_free(store);
    if (root)
        sk_X509_pop_free(root, X509_free);
    return leaf;
}

static void check_qe(struct vlog *l, const struct tdx_quote *q, X509 *pck)
{
    char err[256] = "";
    if (!pck)
        vlog_add(l, "qe_report_signature", V_FAIL, "no verified PCK certificate");
    else if (vx_ecdsa_verify(X509_get0_pubkey(pck), EVP_sha256(), q->qe_report_sig,
                             q->qe_report_sig + 32, 32, q->qe_report, SGX_REPORT_BODY_SIZE, err,
                             sizeof(err)) != 1)
        vlog_add(l, "qe_report_signature", V_FAIL,
                 "QE report signature does not verify with the "
                 "PCK key%s%s",
                 *err ? ": " : "", err);
    else
        vlog_add(l, "qe_report_signature", V_PASS, "QE report signed by the PCK key (ECDSA P-256)");

    uint8_t h[32];
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    bool hashed = md && EVP_DigestInit_ex(md, EVP_sha256(), NULL) == 1 &&
                  EVP_DigestUpdate(md, q->att_key, 64) == 1 &&
                  EVP_DigestUpdate(md, q->qe_auth_data, q->qe_auth_len) == 1 &&
                  EVP_DigestFinal_ex(md, h, NULL) == 1;
    EVP_MD_CTX_free(md);
    if (!hashed) {
        vlog_add(l, "qe_report_binding", V_FAIL, "SHA-256 unavailable: %s", vx_ssl_error());
        return;
    }
    static const uint8_t zero[32];
    if (memcmp(h, q->qe.report_data, 32) || memcmp(q->qe.report_data + 32, zero, 32))
        vlog_add(l, "qe_report_binding", V_FAIL,
                 "QE REPORTDATA is not SHA-256(attestation key || "
                 "QE authentication data) || 32 zero bytes");
    else
        vlog_add(l, "qe_report_binding", V_PASS,
                 "QE REPORTDATA = SHA-256(attestation key || %zu "
                 "bytes of QE authentication data)",
                 q->qe_auth_len);
}

static void check_quote_signature(struct vlog *l, const struct tdx_quote *q)
{
    char err[256] = "";
    EVP_PKEY *ak = vx_p256_key(q->att_key);
    if (!ak) {
        vlog_add(l, "quote_signature", V_FAIL, "attestation key is not a P-256 point");
        return;
    }
    if (vx_ecdsa_verify(ak, EVP_sha256(), q->signature, q->signature + 32, 32, q->signed_data,
                        q->signed_len, err, sizeof(err)) != 1)
        vlog_add(l, "quote_signature", V_FAIL,
                 "quote signature does not verify with the "
                 "attestation key%s%s",
                 *err ? ": " : "", err);
    else
        vlog_add(l, "quote_signature", V_PASS,
                 "attestation key's ECDSA P-256 signature over "
                 "header + TD report (%zu bytes) verified",
                 q->signed_len);
    EVP_PKEY_free(ak);
}

static void check_field(struct vlog *l, const char *name, bool have, const uint8_t *want,
                        const uint8_t *got, size_t n, const char *how)
{
    if (!have) {
        vlog_add(l, name, V_SKIP, "no expected value given");
        return;
    }
    if (!memcmp(want, got, n)) {
        vlog_add(l, name, V_PASS, "equals the expected value (%s)", how);
        return;
    }
    char w[129], g[129];
    for (size_t i = 0; i < n && i < 64; i++) {
        snprintf(w + 2 * i, 3, "%02x", want[i]);
        snprintf(g + 2 * i, 3, "%02x", got[i]);
    }
    vlog_add(l, name, V_FAIL, "quote %s, expected %s (%s)", g, w, how);
}

/* Returns true when `computed` holds the MRTD computed from --firmware. */
static bool check_claims(struct vlog *l, const struct tdx_opts *o, const struct tdx_quote *q,
                         uint8_t *computed)
{
    bool have_computed = false;
    if (o->firmware) {
        struct fw_error err = {{0}};
        have_computed = measure_tdx_mrtd(o->firmware, o->order, computed, &err) == 0;
        if (!have_computed)
            vlog_add(l, "mrtd", V_FAIL, "cannot compute the expected MRTD: %s", err.msg);
        else
            check_field(l, "mrtd", true, computed, q->td.mr_td, 48,
                        o->order == LAUNCH_TDX_PER_PAGE ? "cocoon-measure tdx, per-page"
                                                        : "cocoon-measure tdx, per-section");
    } else {
        check_field(l, "mrtd", o->have_mrtd, o->mrtd, q->td.mr_td, 48, "--expect-mrtd");
    }
    static const char *const names[] = {"rtmr0", "rtmr1", "rtmr2", "rtmr3"};
    for (int i = 0; i < 4; i++)
        if (o->have_rtmr[i])
            check_field(l, names[i], true, o->rtmr[i], q->td.rtmr[i], 48, "--expect-rtmr");
    check_field(l, "mr_config_id", o->have_cfg, o->cfg, q->td.mr_config_id, 48,
                "--expect-mrconfigid");
    check_field(l, "report_data", o->have_rd, o->rd, q->td.report_data, 64, "--expect-report-data");
    if (o->deny_debug)
        vlog_add(l, "td_debug", (q->td.td_attributes & 1) ? V_FAIL : V_PASS, "%s",
                 (q->td.td_attributes & 1) ? "TDATTRIBUTES.DEBUG is set: the TD is debuggable"
                                           : "TDATTRIBUTES.DEBUG clear");
    return have_computed;
}

static json_t *quote_json(const struct tdx_quote *q)
{
    const struct tdx_td_report *t = &q->td;
    char buf[32];
    json_t *h = json_object();
    json_object_set_new(h, "version", json_integer(q->version));
    json_object_set_new(h, "att_key_type", json_integer(q->att_key_type));
    snprintf(buf, sizeof(buf), "0x%x", q->tee_type);
    json_object_set_new(h, "tee_type", json_string(buf));
    json_object_set_new(h, "qe_svn", json_integer(q->qe_svn));
    json_object_set_new(h, "pce_svn", json_integer(q->pce_svn));
    json_object_set_new(h, "qe_vendor_id", vjson_hex(q->qe_vendor_id, 16));
    json_object_set_new(h, "user_data", vjson_hex(q->user_data, 20));
    json_t *b = json_object();
    json_object_set_new(b, "body_type", json_integer(q->body_type));
    json_object_set_new(b, "tee_tcb_svn", vjson_hex(t->tee_tcb_svn, 16));
    json_object_set_new(b, "mr_seam", vjson_hex(t->mr_seam, 48));
    json_object_set_new(b, "mr_signer_seam", vjson_hex(t->mr_signer_seam, 48));
    snprintf(buf, sizeof(buf), "0x%016" PRIx64, t->seam_attributes);
    json_object_set_new(b, "seam_attributes", json_string(buf));
    snprintf(buf, sizeof(buf), "0x%016" PRIx64, t->td_attributes);
    json_object_set_new(b, "td_attributes", json_string(buf));
    json_object_set_new(b, "td_debug", json_boolean(t->td_attributes & 1));
    snprintf(buf, sizeof(buf), "0x%016" PRIx64, t->xfam);
    json_object_set_new(b, "xfam", json_string(buf));
    json_object_set_new(b, "mr_td", vjson_hex(t->mr_td, 48));
    json_object_set_new(b, "mr_config_id", vjson_hex(t->mr_config_id, 48));
    json_object_set_new(b, "mr_owner", vjson_hex(t->mr_owner, 48));
    json_object_set_new(b, "mr_owner_config", vjson_hex(t->mr_owner_config, 48));
    for (int i = 0; i < 4; i++) {
        snprintf(buf, sizeof(buf), "rtmr_%d", i);
        json_object_set_new(b, buf, vjson_hex(t->rtmr[i], 48));
    }
    json_object_set_new(b, "report_data", vjson_hex(t->report_data, 64));
    if (t->tee_tcb_svn2) {
        json_object_set_new(b, "tee_tcb_svn2", vjson_hex(t->tee_tcb_svn2, 16));
        json_object_set_new(b, "mr_service_td", vjson_hex(t->mr_service_td, 48));
    }
    json_t *qe = json_object();
    json_object_set_new(qe, "cpu_svn", vjson_hex(q->qe.cpu_svn, 16));
    json_object_set_new(qe, "misc_select", json_integer(q->qe.misc_select));
    json_object_set_new(qe, "attributes", vjson_hex(q->qe.attributes, 16));
    json_object_set_new(qe, "mr_enclave", vjson_hex(q->qe.mr_enclave, 32));
    json_object_set_new(qe, "mr_signer", vjson_hex(q->qe.mr_signer, 32));
    json_object_set_new(qe, "isv_prod_id", json_integer(q->qe.isv_prod_id));
    json_object_set_new(qe, "isv_svn", json_integer(q->qe.isv_svn));
    json_object_set_new(qe, "report_data", vjson_hex(q->qe.report_data, 64));
    json_t *j = json_object();
    json_object_set_new(j, "header", h);
    json_object_set_new(j, "body", b);
    json_object_set_new(j, "signature", vjson_hex(q->signature, 64));
    json_object_set_new(j, "attestation_key", vjson_hex(q->att_key, 64));
    json_object_set_new(j, "qe_report", qe);
    json_object_set_new(j, "qe_auth_data", vjson_hex(q->qe_auth_data, q->qe_auth_len));
    json_object_set_new(j, "quote_bytes", json_integer((json_int_t)q->quote_len));
    json_object_set_new(j, "zero_padding_bytes", json_integer((json_int_t)q->padding_len));
    return j;
}

static void print_text_claims(const struct tdx_quote *q)
{
    const struct tdx_td_report *t = &q->td;
    printf("TDX quote version %u (%s TD report), %zu bytes\n", q->version,
           t->tee_tcb_svn2 ? "TDX 1.5" : "TDX 1.0", q->quote_len);
    static const char *const names[] = {"mr_td", "mr_config_id", "mr_owner", "mr_owner_config",
                                        "rtmr0", "rtmr1",        "rtmr2",    "rtmr3"};
    const uint8_t *vals[] = {t->mr_td,   t->mr_config_id, t->mr_owner, t->mr_owner_config,
                             t->rtmr[0], t->rtmr[1],      t->rtmr[2],  t->rtmr[3]};
    for (int i = 0; i < 8; i++) {
        printf("  %-16s ", names[i]);
        vprint_hex(vals[i], 48);
        putchar('\n');
    }
    printf("  %-16s ", "mr_seam");
    vprint_hex(t->mr_seam, 48);
    printf("\n  %-16s ", "tee_tcb_svn");
    vprint_hex(t->tee_tcb_svn, 16);
    printf("\n  %-16s 0x%016" PRIx64 " (debug %s)\n  %-16s 0x%016" PRIx64 "\n  %-16s ",
           "td_attributes", t->td_attributes, (t->td_attributes & 1) ? "ON" : "off", "xfam",
           t->xfam, "report_data");
    vprint_hex(t->report_data, 64);
    putchar('\n');
}

/* Reference values named as Trustee's default policy queries them (mr_td, rtmr_1, ...). */
static json_t *rvps_values(const struct tdx_quote *q)
{
    json_t *v = json_object();
    json_object_set_new(v, "mr_td", json_pack("[o]", vjson_hex(q->td.mr_td, 48)));
    json_object_set_new(v, "mr_config_id", json_pack("[o]", vjson_hex(q->td.mr_config_id, 48)));
    static const char *const names[] = {"rtmr_0", "rtmr_1", "rtmr_2", "rtmr_3"};
    for (int i = 0; i < 4; i++)
        json_object_set_new(v, names[i], json_pack("[o]", vjson_hex(q->td.rtmr[i], 48)));
    char x[24];
    snprintf(x, sizeof(x), "%016" PRIx64, q->td.xfam);
    json_object_set_new(v, "xfam", json_pack("[s]", x));
    return v;
}

static json_t *tdx_rvps(const void *ctx)
{
    return rvps_values(ctx);
}

/* Every check of one parsed quote, in order, and the quote into the JSON document. */
static void verify_tdx_quote(struct verify_run *v, const struct tdx_opts *o,
                             const struct tdx_quote *q, struct tdx_collateral *col,
                             STACK_OF(X509) * *certs)
{
    struct vlog *l = v->log;
    uint8_t computed[48];
    vlog_add(l, "quote_format", V_PASS, "TDX quote v%u, body type %u, %zu bytes%s%s", q->version,
             q->body_type, q->quote_len, v->from_text ? ", decoded from hex/base64" : "",
             q->padding_len ? ", then zero padding" : "");
    X509 *pck = check_pck_chain(l, q, o, certs, o->collateral ? col : NULL);
    check_qe(l, q, pck);
    check_quote_signature(l, q);
    if (o->collateral)
        tdx_collateral_check(l, col, q, pck, o->at);
    else
        vlog_add(l, "tcb_status", V_SKIP,
                 "TCB status and QE identity NOT evaluated: no --collateral DIR given");
    bool have_computed = check_claims(l, o, q, computed);
    if (o->format == VF_TEXT)
        print_text_claims(q);
    json_object_set_new(v->doc, "tee", json_string("tdx"));
    json_object_set_new(v->doc, "quote", quote_json(q));
    if (o->collateral)
        tdx_collateral_json(col, v->doc);
    if (have_computed)
        json_object_set_new(v->doc, "expected_mrtd", vjson_hex(computed, 48));
}

int verify_tdx_main(int argc, char **argv)
{
    struct tdx_opts o;
    memset(&o, 0, sizeof(o));
    parse_tdx_opts(argc, argv, &o);
    struct tdx_collateral col;
    struct fw_error fe = {{0}};
    memset(&col, 0, sizeof(col));
    if (o.collateral && tdx_collateral_load(&col, o.collateral, &fe) != 0) {
        fprintf(stderr, "Error: %s\n", fe.msg);
        return 1;
    }
    struct verify_run v;
    if (verify_run_open(&v, o.quote, tdx_is_raw) < 0) {
        tdx_collateral_free(&col);
        return 1;
    }
    struct tdx_quote q;
    STACK_OF(X509) *certs = NULL;
    int parsed = v.decoded;
    if (parsed == 0)
        parsed = tdx_quote_parse(&q, v.raw, v.raw_len, v.err, sizeof(v.err));
    if (parsed != 0)
        vlog_add(v.log, "quote_format", V_FAIL, "%s", v.err);
    else
        verify_tdx_quote(&v, &o, &q, &col, &certs);
    int rc = verify_run_finish(&v, o.format, tdx_rvps, &q);
    if (certs)
        sk_X509_pop_free(certs, X509_free);
    tdx_collateral_free(&col);
    return rc;
}
