/* cocoon_measure_verify_snp.c: `cocoon-measure verify snp`: an SEV-SNP attestation report checked
 * offline against AMD's key chain (ARK -> ASK -> VCEK/VLEK) and against the expected claims,
 * which may be computed by the same launch code as `--mode snp`. */
#include <getopt.h>
#include <inttypes.h>
#include <openssl/err.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tools/cocoon_measure.h"
#include "tools/verify_cli.h"
#include "tools/verify_snp_report.h"
#include "tools/verify_x509.h"

static const char SNP_USAGE[] =
    "usage: cocoon-measure verify snp --report FILE --vcek FILE [--ask FILE] [--ark FILE]\n"
    "         [--expect-measurement HEX | --ovmf FILE --vcpus N ... (the --mode snp flags)]\n"
    "         [--expect-host-data HEX] [--expect-report-data HEX] [--policy-deny-debug]\n"
    "         [--policy-deny-migration-agent] [--policy-deny-smt] [--policy-min-abi MAJ.MIN]\n"
    "         [--min-tcb bl=N,tee=N,snp=N,ucode=N[,fmc=N]] [--at TIME]\n"
    "         [--format text|json|rvps]\n";

/* AMD products whose roots are built in (tools/roots/, see tests/fixtures/attest/SOURCE.md). */
struct snp_product {
    const char *name, *vcek_chain, *vlek_chain;
    bool turin; /* TCB_VERSION layout with FMC */
};
static const struct snp_product PRODUCTS[] = {
    {"Milan", "amd_ask_ark_milan.pem", "amd_ask_ark_milan_vlek.pem", false},
    {"Genoa", "amd_ask_ark_genoa.pem", "amd_ask_ark_genoa_vlek.pem", false},
    {"Turin", "amd_ask_ark_turin_vcek.pem", "amd_ask_ark_turin_vlek.pem", true},
};
#define N_PRODUCTS (sizeof(PRODUCTS) / sizeof(PRODUCTS[0]))

struct snp_opts {
    const char *report, *vcek, *ask, *ark, *min_tcb;
    bool have_meas, have_host, have_rd, deny_debug, deny_ma, deny_smt, have_abi, compute;
    uint8_t meas[48], host[32], rd[64];
    unsigned abi_major, abi_minor;
    time_t at;
    enum vformat format;
    struct sev_args sev;
};

enum {
    O_REPORT = 512,
    O_VCEK,
    O_ASK,
    O_ARK,
    O_EXP_MEAS,
    O_EXP_HOST,
    O_EXP_RD,
    O_DENY_DEBUG,
    O_DENY_MA,
    O_DENY_SMT,
    O_MIN_ABI,
    O_MIN_TCB,
    O_AT,
    O_VFORMAT,
};

static const struct option VERIFY_OPTS[] = {
    {"help", no_argument, NULL, 'h'},
    {"report", required_argument, NULL, O_REPORT},
    {"vcek", required_argument, NULL, O_VCEK},
    {"vlek", required_argument, NULL, O_VCEK},
    {"ask", required_argument, NULL, O_ASK},
    {"ark", required_argument, NULL, O_ARK},
    {"expect-measurement", required_argument, NULL, O_EXP_MEAS},
    {"expect-host-data", required_argument, NULL, O_EXP_HOST},
    {"expect-report-data", required_argument, NULL, O_EXP_RD},
    {"policy-deny-debug", no_argument, NULL, O_DENY_DEBUG},
    {"policy-deny-migration-agent", no_argument, NULL, O_DENY_MA},
    {"policy-deny-smt", no_argument, NULL, O_DENY_SMT},
    {"policy-min-abi", required_argument, NULL, O_MIN_ABI},
    {"min-tcb", required_argument, NULL, O_MIN_TCB},
    {"at", required_argument, NULL, O_AT},
    {"format", required_argument, NULL, O_VFORMAT},
};
#define N_VERIFY_OPTS (sizeof(VERIFY_OPTS) / sizeof(VERIFY_OPTS[0]))

static bool verify_owns(const char *name)
{
    for (size_t i = 0; i < N_VERIFY_OPTS; i++)
        if (!strcmp(VERIFY_OPTS[i].name, name))
            return true;
    return !strcmp(name, "version") || !strcmp(name, "verbose") || !strcmp(name, "dump-vmsa");
}

enum vformat verify_parse_format(const char *usage, const char *v)
{
    if (!strcmp(v, "text"))
        return VF_TEXT;
    if (!strcmp(v, "json"))
        return VF_JSON;
    if (!strcmp(v, "rvps"))
        return VF_RVPS;
    verify_usage_error(usage,
                       "argument --format: invalid choice: '%s' (choose from 'text', "
                       "'json', 'rvps')",
                       v);
}

/* Verify options, plus the --mode snp flags (collected into a second argv for
 * measure_parse_sev_args, so the expected MEASUREMENT comes from the very same parser). */
static void parse_snp_opts(int argc, char **argv, struct snp_opts *o)
{
    const struct option *sev = measure_sev_options();
    size_t n_sev = 0;
    while (sev[n_sev].name)
        n_sev++;
    struct option *opts = calloc(N_VERIFY_OPTS + n_sev + 1, sizeof(*opts));
    char **fwd = calloc((size_t)argc * 2 + 4, sizeof(char *));
    char **owned = calloc((size_t)argc + 1, sizeof(char *)); /* the "--flag" strings made here */
    int nowned = 0;
    if (!opts || !fwd || !owned)
        verify_usage_error(SNP_USAGE, "out of memory");
    size_t n = 0;
    for (size_t i = 0; i < N_VERIFY_OPTS; i++)
        opts[n++] = VERIFY_OPTS[i];
    for (size_t i = 0; i < n_sev; i++)
        if (!verify_owns(sev[i].name)) {
            opts[n] = sev[i];
            opts[n].flag = NULL;
            opts[n].val = 1024 + (int)i; /* forwarded */
            n++;
        }
    int nfwd = 0;
    bool have_mode = false;
    fwd[nfwd++] = (char *)"cocoon-measure";
    o->format = VF_TEXT;
    o->at = time(NULL);
    opterr = 0;
    optind = 0;
    int c, idx;
    while ((c = getopt_long(argc, argv, ":h", opts, &idx)) != -1) {
        switch (c) {
        case 'h':
            measure_print_help(stdout);
            exit(0);
        case O_REPORT:
            o->report = optarg;
            break;
        case O_VCEK:
            o->vcek = optarg;
            break;
        case O_ASK:
            o->ask = optarg;
            break;
        case O_ARK:
            o->ark = optarg;
            break;
        case O_EXP_MEAS:
            if (!vparse_hex(optarg, o->meas, 48, false))
                verify_usage_error(SNP_USAGE, "--expect-measurement needs 96 hex digits");
            o->have_meas = true;
            break;
        case O_EXP_HOST:
            if (!vparse_hex(optarg, o->host, 32, false))
                verify_usage_error(SNP_USAGE, "--expect-host-data needs 64 hex digits");
            o->have_host = true;
            break;
        case O_EXP_RD:
            if (!vparse_hex(optarg, o->rd, 64, true))
                verify_usage_error(SNP_USAGE, "--expect-report-data needs up to 128 hex digits "
                                              "(shorter values are padded with zero bytes)");
            o->have_rd = true;
            break;
        case O_DENY_DEBUG:
            o->deny_debug = true;
            break;
        case O_DENY_MA:
            o->deny_ma = true;
            break;
        case O_DENY_SMT:
            o->deny_smt = true;
            break;
        case O_MIN_ABI:
            if (sscanf(optarg, "%u.%u", &o->abi_major, &o->abi_minor) != 2 || o->abi_major > 255 ||
                o->abi_minor > 255)
                verify_usage_error(SNP_USAGE, "--policy-min-abi needs MAJOR.MINOR, e.g. 1.51");
            o->have_abi = true;
            break;
        case O_MIN_TCB: {
            struct snp_tcb t; /* syntax only: the layout (Turin or not) comes from the chain */
            if (snp_tcb_parse_text(optarg, false, &t) != 0)
                verify_usage_error(SNP_USAGE, "--min-tcb needs bl=N,tee=N,snp=N,ucode=N[,fmc=N] "
                                              "(any subset, N in 0..255) or a TCB_VERSION number");
            o->min_tcb = optarg;
            break;
        }
        case O_AT:
            if (!vparse_time(optarg, &o->at))
                verify_usage_error(SNP_USAGE, "--at needs seconds since 1970 or "
                                              "YYYY-MM-DDTHH:MM:SSZ");
            break;
        case O_VFORMAT:
            o->format = verify_parse_format(SNP_USAGE, optarg);
            break;
        case ':':
            verify_usage_error(SNP_USAGE, "argument %s: expected one argument", argv[optind - 1]);
        case '?':
            verify_usage_error(SNP_USAGE, "unrecognized arguments: %s", argv[optind - 1]);
        default: /* a --mode snp flag: forward it */
            if (c < 1024)
                verify_usage_error(SNP_USAGE, "unrecognized arguments: %s", argv[optind - 1]);
            if (!strcmp(opts[idx].name, "mode"))
                have_mode = true;
            {
                size_t l = strlen(opts[idx].name) + 3;
                char *flag = malloc(l);
                if (!flag)
                    verify_usage_error(SNP_USAGE, "out of memory");
                snprintf(flag, l, "--%s", opts[idx].name);
                fwd[nfwd++] = flag;
                owned[nowned++] = flag;
            }
            if (opts[idx].has_arg)
                fwd[nfwd++] = optarg;
            o->compute = true;
        }
    }
    if (optind < argc)
        verify_usage_error(SNP_USAGE, "unrecognized arguments: %s", argv[optind]);
    if (!o->report)
        verify_usage_error(SNP_USAGE, "the following arguments are required: --report");
    if (!o->vcek)
        verify_usage_error(SNP_USAGE,
                           "--vcek FILE is required: verification is offline, so the VCEK (or "
                           "VLEK) certificate must be given (snpguest fetch vcek, or AMD KDS)");
    if (o->compute && o->have_meas)
        verify_usage_error(SNP_USAGE, "give --expect-measurement or the --mode snp flags to "
                                      "compute it, not both");
    if (o->compute) {
        if (!have_mode) {
            fwd[nfwd++] = (char *)"--mode";
            fwd[nfwd++] = (char *)"snp";
        }
        measure_parse_sev_args(nfwd, fwd, &o->sev);
        if (strcmp(o->sev.mode, "snp") && strcmp(o->sev.mode, "snp:svsm"))
            verify_usage_error(SNP_USAGE, "--mode %s has no SNP MEASUREMENT (snp or snp:svsm)",
                               o->sev.mode);
    }
    /* sev_args points at option values (argv strings or literals), not at fwd or its flags */
    for (int i = 0; i < nowned; i++)
        free(owned[i]);
    free(owned);
    free(fwd);
    free(opts);
}

static bool snp_is_raw(const uint8_t *d, size_t n)
{
    (void)d;
    return n == SNP_REPORT_SIZE;
}

struct snp_chain {
    X509 *ark, *ask, *leaf;
    const struct snp_product *product;
    STACK_OF(X509) * sk_ark, *sk_ask, *sk_leaf, *sk_builtin;
};

static void chain_free(struct snp_chain *ch)
{
    if (ch->sk_ark)
        sk_X509_pop_free(ch->sk_ark, X509_free);
    if (ch->sk_ask)
        sk_X509_pop_free(ch->sk_ask, X509_free);
    if (ch->sk_leaf)
        sk_X509_pop_free(ch->sk_leaf, X509_free);
    if (ch->sk_builtin)
        sk_X509_pop_free(ch->sk_builtin, X509_free);
}

/* The built-in ASK (index 0) and ARK (index 1) of product p for this signing key. */
static STACK_OF(X509) * builtin_chain(const struct snp_product *p, enum snp_signing_key k)
{
    return vx_builtin_certs(k == SNP_KEY_VLEK ? p->vlek_chain : p->vcek_chain);
}

static const struct snp_product *product_of_ark(X509 *ark)
{
    char cn[64];
    vx_subject_cn(ark, cn, sizeof(cn));
    for (size_t i = 0; i < N_PRODUCTS; i++)
        if (!strncmp(cn, "ARK-", 4) && !strcmp(cn + 4, PRODUCTS[i].name))
            return &PRODUCTS[i];
    return NULL;
}

/* Which built-in root an ARK equals, by fingerprint; NULL if none. */
static const char *builtin_ark_name(X509 *ark)
{
    char fp[65], bfp[65];
    vx_fingerprint_hex(ark, fp);
    for (size_t i = 0; i < N_PRODUCTS; i++) {
        STACK_OF(X509) *sk = builtin_chain(&PRODUCTS[i], SNP_KEY_VCEK);
        bool same = false;
        if (sk && sk_X509_num(sk) >= 2) {
            vx_fingerprint_hex(sk_X509_value(sk, 1), bfp);
            same = !strcmp(fp, bfp);
        }
        if (sk)
            sk_X509_pop_free(sk, X509_free);
        if (same)
            return PRODUCTS[i].name;
    }
    return NULL;
}

/* A file may hold AMD KDS's whole cert_chain (ASK then ARK): take the self-signed certificate
 * as the ARK and the other one as the ASK; otherwise the first certificate. */
static X509 *pick_cert(STACK_OF(X509) * sk, bool self_signed)
{
    for (int i = 0; i < sk_X509_num(sk); i++) {
        X509 *c = sk_X509_value(sk, i);
        bool self = X509_NAME_cmp(X509_get_issuer_name(c), X509_get_subject_name(c)) == 0;
        if (self == self_signed)
            return c;
    }
    return sk_X509_value(sk, 0);
}

/* ARK -> ASK -> VCEK/VLEK. Picks the product from --ark, or from the built-in ASK that signed
 * the leaf. Every link is a check of its own. */
static void check_chain(struct vlog *l, const struct snp_opts *o, enum snp_signing_key key,
                        struct snp_chain *ch)
{
    char err[256];
    const char *leaf_name = key == SNP_KEY_VLEK ? "vlek" : "vcek";
    ch->sk_leaf = vx_certs_from_file(o->vcek, err, sizeof(err));
    if (!ch->sk_leaf) {
        vlog_add(l, leaf_name, V_FAIL, "%s", err);
        return;
    }
    ch->leaf = sk_X509_value(ch->sk_leaf, 0);
    if (o->ark) {
        ch->sk_ark = vx_certs_from_file(o->ark, err, sizeof(err));
        if (!ch->sk_ark) {
            vlog_add(l, "ark", V_FAIL, "%s", err);
            return;
        }
        ch->ark = pick_cert(ch->sk_ark, true);
        ch->product = product_of_ark(ch->ark);
    }
    if (o->ask) {
        ch->sk_ask = vx_certs_from_file(o->ask, err, sizeof(err));
        if (!ch->sk_ask) {
            vlog_add(l, "ask", V_FAIL, "%s", err);
            return;
        }
        ch->ask = pick_cert(ch->sk_ask, false);
    }
    if (!ch->product) { /* the product whose ASK signed the leaf */
        for (size_t i = 0; i < N_PRODUCTS && !ch->product; i++) {
            STACK_OF(X509) *sk = builtin_chain(&PRODUCTS[i], key);
            X509 *ask = ch->ask ? ch->ask : (sk ? sk_X509_value(sk, 0) : NULL);
            if (ask && X509_verify(ch->leaf, X509_get0_pubkey(ask)) == 1) {
                ch->product = &PRODUCTS[i];
                ch->sk_builtin = sk; /* kept: parsing the roots again costs as much as a check */
                sk = NULL;
            }
            if (sk)
                sk_X509_pop_free(sk, X509_free);
        }
    }
    for (size_t i = 0; i < N_PRODUCTS && !ch->product && !ch->ask; i++) {
        /* No signature verified (a damaged leaf): pick the product by issuer name, so the
         * failure is reported on the leaf's own link below. */
        STACK_OF(X509) *sk = builtin_chain(&PRODUCTS[i], key);
        if (sk && X509_NAME_cmp(X509_get_issuer_name(ch->leaf),
                                X509_get_subject_name(sk_X509_value(sk, 0))) == 0)
            ch->product = &PRODUCTS[i];
        if (sk)
            sk_X509_pop_free(sk, X509_free);
    }
    ERR_clear_error();
    if (!ch->product) {
        vlog_add(l, "ask", V_FAIL,
                 "the %s is not signed by %s (built-in products: Milan, Genoa, Turin); give "
                 "--ask and --ark for another product",
                 leaf_name, ch->ask ? "the --ask certificate" : "any built-in AMD ASK");
        return;
    }
    if (!ch->sk_builtin)
        ch->sk_builtin = builtin_chain(ch->product, key);
    if (!ch->sk_builtin || sk_X509_num(ch->sk_builtin) < 2) {
        vlog_add(l, "ark", V_FAIL, "built-in %s roots unreadable", ch->product->name);
        return;
    }
    if (!ch->ark)
        ch->ark = sk_X509_value(ch->sk_builtin, 1);
    if (!ch->ask)
        ch->ask = sk_X509_value(ch->sk_builtin, 0);

    char fp[65];
    vx_fingerprint_hex(ch->ark, fp);
    const char *builtin = o->ark ? builtin_ark_name(ch->ark) : ch->product->name;
    if (vx_check_link(ch->ark, ch->ark, o->at, err, sizeof(err)) != 0)
        vlog_add(l, "ark", V_FAIL, "ARK is not a valid self-signed root: %s", err);
    else if (o->ark)
        vlog_add(l, "ark", V_PASS, "given by --ark, sha256 %s (%s)", fp,
                 builtin ? "equals a built-in AMD ARK" : "NOT one of the built-in AMD ARKs");
    else
        vlog_add(l, "ark", V_PASS, "built-in ARK-%s, sha256 %s", ch->product->name, fp);
    if (vx_check_link(ch->ask, ch->ark, o->at, err, sizeof(err)) != 0)
        vlog_add(l, "ask", V_FAIL, "ASK not signed by the ARK (RSA-PSS SHA-384): %s", err);
    else
        vlog_add(l, "ask", V_PASS, "%s ASK signed by ARK-%s (RSA-PSS SHA-384)",
                 o->ask ? "given" : "built-in", ch->product->name);
    if (vx_check_link(ch->leaf, ch->ask, o->at, err, sizeof(err)) != 0)
        vlog_add(l, leaf_name, V_FAIL, "%s not signed by the ASK: %s",
                 key == SNP_KEY_VLEK ? "VLEK" : "VCEK", err);
    else if (strcmp(vx_ec_curve(X509_get0_pubkey(ch->leaf)), "secp384r1"))
        vlog_add(l, leaf_name, V_FAIL, "key is not ECDSA P-384");
    else
        vlog_add(l, leaf_name, V_PASS, "signed by the %s ASK, ECDSA P-384 key%s", ch->product->name,
                 sk_X509_num(ch->sk_leaf) > 1 ? " (the first certificate of the --vcek file; the "
                                                "others were not used)"
                                              : "");
}

/* Milan/Genoa hwIDs are 64 bytes; Turin's are 8, and its CHIP_ID is those 8 bytes followed by
 * 56 zero bytes (virtee/sev `chip_id_is_turin_like`; the Turin VCEK fixture has an 8-byte hwID). */
static bool hwid_matches(const uint8_t *hw, size_t n, const uint8_t chip_id[64])
{
    if (n != 64 && n != 8)
        return false;
    if (memcmp(hw, chip_id, n))
        return false;
    for (size_t i = n; i < 64; i++)
        if (chip_id[i])
            return false;
    return true;
}

/* VCEK extensions against the report: hwID = CHIP_ID, SPLs = REPORTED_TCB. */
static void check_leaf_extensions(struct vlog *l, const struct snp_report *r,
                                  enum snp_signing_key key, const struct snp_chain *ch)
{
    if (!ch->leaf || !ch->product)
        return;
    if (key == SNP_KEY_VLEK) {
        vlog_add(l, "vcek_hwid", V_SKIP, "VLEK-signed: a VLEK is not bound to one chip");
    } else if (r->flags & 2) {
        vlog_add(l, "vcek_hwid", V_SKIP, "MASK_CHIP_KEY is set: the report carries no CHIP_ID");
    } else {
        const uint8_t *hw;
        size_t n;
        if (vx_ext_octets(ch->leaf, "1.3.6.1.4.1.3704.1.4", &hw, &n) != 0)
            vlog_add(l, "vcek_hwid", V_FAIL, "VCEK has no hwID extension (1.3.6.1.4.1.3704.1.4)");
        else if (!hwid_matches(hw, n, r->chip_id))
            vlog_add(l, "vcek_hwid", V_FAIL, "VCEK hwID differs from the report's CHIP_ID");
        else
            vlog_add(l, "vcek_hwid", V_PASS, "VCEK hwID = CHIP_ID (%zu bytes)", n);
    }
    struct snp_tcb t = snp_tcb_decode(r->reported_tcb, ch->product->turin);
    static const struct {
        const char *oid, *name;
    } SPL[] = {{"1.3.6.1.4.1.3704.1.3.1", "bootloader"},
               {"1.3.6.1.4.1.3704.1.3.2", "tee"},
               {"1.3.6.1.4.1.3704.1.3.3", "snp"},
               {"1.3.6.1.4.1.3704.1.3.8", "microcode"},
               {"1.3.6.1.4.1.3704.1.3.9", "fmc"}};
    const uint8_t want[] = {t.bootloader, t.tee, t.snp, t.microcode, t.fmc};
    size_t n_spl = ch->product->turin ? 5 : 4;
    for (size_t i = 0; i < n_spl; i++) {
        long v;
        if (vx_ext_small_int(ch->leaf, SPL[i].oid, &v) != 0) {
            vlog_add(l, "vcek_tcb", V_FAIL, "certificate lacks the %s SPL extension (%s)",
                     SPL[i].name, SPL[i].oid);
            return;
        }
        if (v != want[i]) {
            vlog_add(l, "vcek_tcb", V_FAIL,
                     "certificate %s SPL %ld differs from REPORTED_TCB's %u: the certificate is "
                     "for another TCB",
                     SPL[i].name, v, want[i]);
            return;
        }
    }
    vlog_add(l, "vcek_tcb", V_PASS,
             "certificate SPLs = REPORTED_TCB (bl %u, tee %u, snp %u, ucode %u%s)", t.bootloader,
             t.tee, t.snp, t.microcode, ch->product->turin ? ", fmc checked" : "");
}

static void check_signature(struct vlog *l, const struct snp_report *r, const uint8_t *raw,
                            const struct snp_chain *ch)
{
    if (!ch->leaf) {
        vlog_add(l, "signature", V_FAIL, "no signing certificate");
        return;
    }
    if (r->sig_algo != 1) {
        vlog_add(l, "signature", V_FAIL, "SIGNATURE_ALGO %u is not ECDSA P-384 SHA-384 (1)",
                 r->sig_algo);
        return;
    }
    uint8_t rb[72], sb[72]; /* the report stores r and s little-endian */
    for (int i = 0; i < 72; i++) {
        rb[i] = r->sig_r[71 - i];
        sb[i] = r->sig_s[71 - i];
    }
    char err[256] = "";
    int v = vx_ecdsa_verify(X509_get0_pubkey(ch->leaf), EVP_sha384(), rb, sb, 72, raw,
                            SNP_REPORT_SIGNED_SIZE, err, sizeof(err));
    if (v == 1)
        vlog_add(l, "signature", V_PASS, "ECDSA P-384 SHA-384 over bytes 0x0-0x29F verified");
    else
        vlog_add(l, "signature", V_FAIL, "report signature does not verify%s%s", *err ? ": " : "",
                 err);
}

static void check_bytes(struct vlog *l, const char *name, bool have, const uint8_t *want,
                        const uint8_t *got, size_t n, const char *how)
{
    if (!have) {
        vlog_add(l, name, V_SKIP, "no expected value given");
        return;
    }
    if (memcmp(want, got, n)) {
        char w[129], g[129];
        for (size_t i = 0; i < n && i < 64; i++) {
            snprintf(w + 2 * i, 3, "%02x", want[i]);
            snprintf(g + 2 * i, 3, "%02x", got[i]);
        }
        vlog_add(l, name, V_FAIL, "report %s, expected %s (%s)", g, w, how);
    } else {
        vlog_add(l, name, V_PASS, "equals the expected value (%s)", how);
    }
}

/* Returns true when `computed` holds a measurement computed from the --mode snp flags. */
static bool check_claims(struct vlog *l, const struct snp_opts *o, const struct snp_report *r,
                         const struct snp_chain *ch, uint8_t *computed)
{
    bool have_computed = false;
    if (o->compute) {
        struct fw_error err = {{0}};
        have_computed = measure_sev_digest(&o->sev, computed, &err) == 0;
        if (!have_computed)
            vlog_add(l, "measurement", V_FAIL, "cannot compute the expected measurement: %s",
                     err.msg);
        else
            check_bytes(l, "measurement", true, computed, r->measurement, 48,
                        "computed by the --mode snp launch code");
    } else {
        check_bytes(l, "measurement", o->have_meas, o->meas, r->measurement, 48,
                    "--expect-measurement");
    }
    check_bytes(l, "host_data", o->have_host, o->host, r->host_data, 32, "--expect-host-data");
    check_bytes(l, "report_data", o->have_rd, o->rd, r->report_data, 64, "--expect-report-data");
    if (!(r->policy & SNP_POLICY_RESERVED_1))
        vlog_add(l, "policy_reserved", V_FAIL, "POLICY bit 17 must be one");
    if (o->deny_debug)
        vlog_add(l, "policy_debug", (r->policy & SNP_POLICY_DEBUG) ? V_FAIL : V_PASS, "%s",
                 (r->policy & SNP_POLICY_DEBUG) ? "the guest policy allows debugging"
                                                : "debugging not allowed");
    if (o->deny_ma)
        vlog_add(l, "policy_migration_agent", (r->policy & SNP_POLICY_MIGRATE_MA) ? V_FAIL : V_PASS,
                 "%s",
                 (r->policy & SNP_POLICY_MIGRATE_MA) ? "the policy allows a migration agent"
                                                     : "no migration agent allowed");
    if (o->deny_smt)
        vlog_add(l, "policy_smt", (r->policy & SNP_POLICY_SMT) ? V_FAIL : V_PASS, "%s",
                 (r->policy & SNP_POLICY_SMT) ? "the policy allows SMT" : "SMT not allowed");
    if (o->have_abi) {
        unsigned maj = (unsigned)(r->policy >> 8) & 0xff, min = (unsigned)r->policy & 0xff;
        bool ok = maj > o->abi_major || (maj == o->abi_major && min >= o->abi_minor);
        vlog_add(l, "policy_abi", ok ? V_PASS : V_FAIL, "policy ABI %u.%u, minimum %u.%u", maj, min,
                 o->abi_major, o->abi_minor);
    }
    if (o->min_tcb) {
        bool turin = ch->product && ch->product->turin;
        struct snp_tcb min, t = snp_tcb_decode(r->reported_tcb, turin);
        if (snp_tcb_parse_text(o->min_tcb, turin, &min) != 0) {
            vlog_add(l, "tcb_min", V_FAIL, "cannot parse --min-tcb '%s'", o->min_tcb);
            return have_computed;
        }
        bool ok = t.bootloader >= min.bootloader && t.tee >= min.tee && t.snp >= min.snp &&
                  t.microcode >= min.microcode && t.fmc >= min.fmc;
        vlog_add(l, "tcb_min", ok ? V_PASS : V_FAIL,
                 "REPORTED_TCB bl %u tee %u snp %u ucode %u fmc %u; minimum bl %u tee %u snp %u "
                 "ucode %u fmc %u",
                 t.bootloader, t.tee, t.snp, t.microcode, t.fmc, min.bootloader, min.tee, min.snp,
                 min.microcode, min.fmc);
    }
    return have_computed;
}

static json_t *tcb_json(uint64_t v, bool turin)
{
    struct snp_tcb t = snp_tcb_decode(v, turin);
    char raw[24];
    snprintf(raw, sizeof(raw), "0x%016" PRIx64, v);
    json_t *j = json_pack("{s:s,s:i,s:i,s:i,s:i}", "raw", raw, "bootloader", t.bootloader, "tee",
                          t.tee, "snp", t.snp, "microcode", t.microcode);
    if (turin)
        json_object_set_new(j, "fmc", json_integer(t.fmc));
    return j;
}

static json_t *report_json(const struct snp_report *r, bool turin)
{
    json_t *j = json_object();
    char buf[32];
    json_object_set_new(j, "version", json_integer(r->version));
    json_object_set_new(j, "guest_svn", json_integer(r->guest_svn));
    snprintf(buf, sizeof(buf), "0x%" PRIx64, r->policy);
    json_t *pol = json_pack(
        "{s:s,s:i,s:i,s:b,s:b,s:b,s:b,s:b,s:b,s:b,s:b,s:b}", "raw", buf, "abi_minor",
        (int)(r->policy & 0xff), "abi_major", (int)((r->policy >> 8) & 0xff), "smt_allowed",
        !!(r->policy & SNP_POLICY_SMT), "migrate_ma_allowed", !!(r->policy & SNP_POLICY_MIGRATE_MA),
        "debug_allowed", !!(r->policy & SNP_POLICY_DEBUG), "single_socket",
        !!(r->policy & SNP_POLICY_SINGLE_SOCKET), "cxl_allowed",
        !!(r->policy & SNP_POLICY_CXL_ALLOW), "mem_aes_256_xts",
        !!(r->policy & SNP_POLICY_MEM_AES_256_XTS), "rapl_disabled",
        !!(r->policy & SNP_POLICY_RAPL_DIS), "ciphertext_hiding",
        !!(r->policy & SNP_POLICY_CIPHERTEXT_HIDE), "page_swap_disabled",
        !!(r->policy & SNP_POLICY_PAGE_SWAP_DISABL));
    json_object_set_new(j, "policy", pol);
    json_object_set_new(j, "family_id", vjson_hex(r->family_id, 16));
    json_object_set_new(j, "image_id", vjson_hex(r->image_id, 16));
    json_object_set_new(j, "vmpl", json_integer(r->vmpl));
    json_object_set_new(j, "signature_algo", json_integer(r->sig_algo));
    json_object_set_new(j, "current_tcb", tcb_json(r->current_tcb, turin));
    snprintf(buf, sizeof(buf), "0x%" PRIx64, r->platform_info);
    json_object_set_new(j, "platform_info",
                        json_pack("{s:s,s:b,s:b,s:b,s:b,s:b,s:b}", "raw", buf, "smt_enabled",
                                  !!(r->platform_info & 1), "tsme_enabled",
                                  !!(r->platform_info & 2), "ecc_enabled", !!(r->platform_info & 4),
                                  "rapl_disabled", !!(r->platform_info & 8),
                                  "ciphertext_hiding_enabled", !!(r->platform_info & 16),
                                  "alias_check_complete", !!(r->platform_info & 32)));
    json_object_set_new(j, "author_key_en", json_boolean(r->flags & 1));
    json_object_set_new(j, "mask_chip_key", json_boolean(r->flags & 2));
    enum snp_signing_key k = snp_report_signing_key(r);
    json_object_set_new(j, "signing_key",
                        json_string(k == SNP_KEY_VCEK   ? "vcek"
                                    : k == SNP_KEY_VLEK ? "vlek"
                                    : k == SNP_KEY_NONE ? "none"
                                                        : "reserved"));
    json_object_set_new(j, "report_data", vjson_hex(r->report_data, 64));
    json_object_set_new(j, "measurement", vjson_hex(r->measurement, 48));
    json_object_set_new(j, "host_data", vjson_hex(r->host_data, 32));
    json_object_set_new(j, "id_key_digest", vjson_hex(r->id_key_digest, 48));
    json_object_set_new(j, "author_key_digest", vjson_hex(r->author_key_digest, 48));
    json_object_set_new(j, "report_id", vjson_hex(r->report_id, 32));
    json_object_set_new(j, "report_id_ma", vjson_hex(r->report_id_ma, 32));
    json_object_set_new(j, "reported_tcb", tcb_json(r->reported_tcb, turin));
    if (r->version >= 3)
        json_object_set_new(j, "cpuid",
                            json_pack("{s:i,s:i,s:i}", "family", r->cpuid_fam, "model",
                                      r->cpuid_mod, "stepping", r->cpuid_step));
    json_object_set_new(j, "chip_id", vjson_hex(r->chip_id, 64));
    json_object_set_new(j, "committed_tcb", tcb_json(r->committed_tcb, turin));
    snprintf(buf, sizeof(buf), "%u.%u.%u", r->current_major, r->current_minor, r->current_build);
    json_object_set_new(j, "current_version", json_string(buf));
    snprintf(buf, sizeof(buf), "%u.%u.%u", r->committed_major, r->committed_minor,
             r->committed_build);
    json_object_set_new(j, "committed_version", json_string(buf));
    json_object_set_new(j, "launch_tcb", tcb_json(r->launch_tcb, turin));
    if (r->version >= 5) {
        json_object_set_new(j, "launch_mit_vector", json_integer((json_int_t)r->launch_mit_vector));
        json_object_set_new(j, "current_mit_vector",
                            json_integer((json_int_t)r->current_mit_vector));
    }
    json_object_set_new(j, "signature_r", vjson_hex(r->sig_r, 72));
    json_object_set_new(j, "signature_s", vjson_hex(r->sig_s, 72));
    return j;
}

/* Reference values, named as Trustee's default policy queries them (ear_default_policy_cpu.rego:
 * snp_launch_measurement, snp_bootloader, ...), from the verified report. */
static json_t *rvps_values(const struct snp_report *r, bool turin)
{
    struct snp_tcb t = snp_tcb_decode(r->reported_tcb, turin);
    json_t *v = json_object();
    json_object_set_new(v, "snp_launch_measurement",
                        json_pack("[o]", vjson_hex(r->measurement, 48)));
    json_object_set_new(v, "snp_bootloader", json_pack("[i]", t.bootloader));
    json_object_set_new(v, "snp_tee_svn", json_pack("[i]", t.tee));
    json_object_set_new(v, "snp_snp_svn", json_pack("[i]", t.snp));
    json_object_set_new(v, "snp_microcode", json_pack("[i]", t.microcode));
    json_object_set_new(v, "snp_smt_enabled", json_boolean(r->platform_info & 1));
    json_object_set_new(v, "snp_tsme_enabled", json_boolean(r->platform_info & 2));
    json_object_set_new(v, "snp_guest_abi_major", json_integer((r->policy >> 8) & 0xff));
    json_object_set_new(v, "snp_guest_abi_minor", json_integer(r->policy & 0xff));
    json_object_set_new(v, "snp_single_socket", json_boolean(r->policy & SNP_POLICY_SINGLE_SOCKET));
    json_object_set_new(v, "snp_smt_allowed", json_boolean(r->policy & SNP_POLICY_SMT));
    return v;
}

static void print_text_claims(const struct snp_report *r, bool turin)
{
    struct snp_tcb t = snp_tcb_decode(r->reported_tcb, turin);
    enum snp_signing_key k = snp_report_signing_key(r);
    printf("SNP report version %u, VMPL %u, signed by %s\n", r->version, r->vmpl,
           k == SNP_KEY_VCEK   ? "VCEK"
           : k == SNP_KEY_VLEK ? "VLEK"
                               : "no key");
    printf("  measurement:  ");
    vprint_hex(r->measurement, 48);
    printf("\n  host_data:    ");
    vprint_hex(r->host_data, 32);
    printf("\n  report_data:  ");
    vprint_hex(r->report_data, 64);
    printf("\n  policy:       0x%" PRIx64 " (ABI %u.%u, debug %s, migration agent %s, SMT %s, "
           "single socket %s)\n",
           r->policy, (unsigned)(r->policy >> 8) & 0xff, (unsigned)r->policy & 0xff,
           r->policy & SNP_POLICY_DEBUG ? "allowed" : "denied",
           r->policy & SNP_POLICY_MIGRATE_MA ? "allowed" : "denied",
           r->policy & SNP_POLICY_SMT ? "allowed" : "denied",
           r->policy & SNP_POLICY_SINGLE_SOCKET ? "required" : "not required");
    printf("  reported_tcb: 0x%016" PRIx64 " (bl %u, tee %u, snp %u, ucode %u", r->reported_tcb,
           t.bootloader, t.tee, t.snp, t.microcode);
    if (turin)
        printf(", fmc %u", t.fmc);
    printf(")\n  chip_id:      ");
    vprint_hex(r->chip_id, 64);
    printf("\n  firmware:     %u.%u.%u\n", r->current_major, r->current_minor, r->current_build);
}

struct snp_rvps_ctx {
    const struct snp_report *r;
    bool turin;
};

static json_t *snp_rvps(const void *ctx)
{
    const struct snp_rvps_ctx *c = ctx;
    return rvps_values(c->r, c->turin);
}

/* Every check of one parsed report, in order, and the report into the JSON document. */
static void verify_snp_report(struct verify_run *v, const struct snp_opts *o,
                              const struct snp_report *r, struct snp_chain *ch)
{
    struct vlog *l = v->log;
    uint8_t computed[48];
    enum snp_signing_key key = snp_report_signing_key(r);
    if (key != SNP_KEY_VCEK && key != SNP_KEY_VLEK)
        vlog_add(l, "report_format", V_FAIL, "SIGNING_KEY %u: the report is not signed",
                 (unsigned)key);
    else
        vlog_add(l, "report_format", V_PASS, "SEV-SNP report version %u (%zu bytes%s)", r->version,
                 v->raw_len, v->from_text ? ", decoded from hex/base64" : "");
    check_chain(l, o, key, ch);
    check_leaf_extensions(l, r, key, ch);
    check_signature(l, r, v->raw, ch);
    bool have_computed = check_claims(l, o, r, ch, computed);
    bool turin = ch->product && ch->product->turin;
    if (o->format == VF_TEXT)
        print_text_claims(r, turin);
    json_object_set_new(v->doc, "tee", json_string("snp"));
    json_object_set_new(v->doc, "product",
                        ch->product ? json_string(ch->product->name) : json_null());
    json_object_set_new(v->doc, "report", report_json(r, turin));
    if (have_computed)
        json_object_set_new(v->doc, "expected_measurement", vjson_hex(computed, 48));
}

int verify_snp_main(int argc, char **argv)
{
    struct snp_opts o;
    memset(&o, 0, sizeof(o));
    parse_snp_opts(argc, argv, &o);
    struct verify_run v;
    if (verify_run_open(&v, o.report, snp_is_raw) < 0)
        return 1;
    struct snp_report r;
    struct snp_chain ch = {0};
    int parsed = v.decoded;
    if (parsed == 0)
        parsed = snp_report_parse(&r, v.raw, v.raw_len, v.err, sizeof(v.err));
    if (parsed != 0)
        vlog_add(v.log, "report_format", V_FAIL, "%s", v.err);
    else
        verify_snp_report(&v, &o, &r, &ch);
    struct snp_rvps_ctx ctx = {&r, ch.product && ch.product->turin};
    int rc = verify_run_finish(&v, o.format, snp_rvps, &ctx);
    chain_free(&ch);
    return rc;
}
