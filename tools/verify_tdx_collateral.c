/* verify_tdx_collateral.c: Intel PCS collateral (TDX TCB info, TD QE identity, CRLs) loaded from
 * files and evaluated against a verified quote (Intel's TDX TCB and QE identity algorithms as
 * documented with the PCS v4 API). */
#include <openssl/asn1.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tools/cocoon_measure.h"
#include "tools/verify_tdx.h"
#include "tools/verify_x509.h"

static int read_text(const char *dir, const char *name, char **out, size_t *len,
                     struct fw_error *err)
{
    char path[4096];
    struct measure_file f;
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    if (measure_read_file(path, &f, err))
        return -1;
    *out = malloc(f.size + 1);
    if (!*out) {
        measure_file_free(&f);
        return fw_fail(err, "out of memory");
    }
    memcpy(*out, f.data, f.size);
    (*out)[f.size] = 0;
    *len = f.size;
    measure_file_free(&f);
    return 0;
}

static X509_CRL *read_crl(const char *dir, const char *name, struct fw_error *err)
{
    char *t;
    size_t n;
    if (read_text(dir, name, &t, &n, err))
        return NULL;
    X509_CRL *crl = NULL;
    if (n > INT32_MAX) {
        free(t);
        return fw_fail(err, "%s/%s is too large", dir, name), NULL;
    }
    if (memmem(t, n, "-----BEGIN", 10)) {
        BIO *b = BIO_new_mem_buf(t, (int)n);
        crl = b ? PEM_read_bio_X509_CRL(b, NULL, NULL, NULL) : NULL;
        BIO_free(b);
    } else {
        const unsigned char *p = (const unsigned char *)t;
        crl = d2i_X509_CRL(NULL, &p, (long)n);
    }
    free(t);
    if (!crl)
        fw_fail(err, "%s/%s is not a DER or PEM CRL", dir, name);
    return crl;
}

int tdx_collateral_load(struct tdx_collateral *c, const char *dir, struct fw_error *err)
{
    char e[256];
    json_error_t je;
    if (read_text(dir, TDX_COL_TCB_INFO, &c->tcb_text, &c->tcb_len, err) ||
        read_text(dir, TDX_COL_QE_ID, &c->qe_text, &c->qe_len, err))
        return -1;
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s", dir, TDX_COL_TCB_CHAIN);
    if (!(c->tcb_chain = vx_certs_from_file(path, e, sizeof(e))))
        return fw_fail(err, "%s", e);
    snprintf(path, sizeof(path), "%s/%s", dir, TDX_COL_QE_CHAIN);
    if (!(c->qe_chain = vx_certs_from_file(path, e, sizeof(e))))
        return fw_fail(err, "%s", e);
    if (!(c->root_crl = read_crl(dir, TDX_COL_ROOT_CRL, err)) ||
        !(c->pck_crl = read_crl(dir, TDX_COL_PCK_CRL, err)))
        return -1;
    if (!(c->tcb_doc = json_loadb(c->tcb_text, c->tcb_len, 0, &je)))
        return fw_fail(err, "%s/%s: %s", dir, TDX_COL_TCB_INFO, je.text);
    if (!(c->qe_doc = json_loadb(c->qe_text, c->qe_len, 0, &je)))
        return fw_fail(err, "%s/%s: %s", dir, TDX_COL_QE_ID, je.text);
    return 0;
}

void tdx_collateral_free(struct tdx_collateral *c)
{
    X509_CRL_free(c->root_crl);
    X509_CRL_free(c->pck_crl);
    free(c->tcb_text);
    free(c->qe_text);
    if (c->tcb_chain)
        sk_X509_pop_free(c->tcb_chain, X509_free);
    if (c->qe_chain)
        sk_X509_pop_free(c->qe_chain, X509_free);
    json_decref(c->tcb_doc);
    json_decref(c->qe_doc);
    memset(c, 0, sizeof(*c));
}

/* The exact bytes of the value of top-level member `key` (an object) in `t`: PCS signs those
 * bytes, not a re-serialisation. Skips strings (with escapes) while matching braces. */
static int raw_member(const char *t, size_t n, const char *key, const char **start, size_t *len)
{
    size_t klen = strlen(key);
    int depth = 0;
    for (size_t i = 0; i < n; i++) {
        char ch = t[i];
        if (ch == '"') {
            size_t s = i + 1, j = s;
            while (j < n && t[j] != '"')
                j += t[j] == '\\' ? 2 : 1;
            if (j >= n)
                return -1;
            if (depth == 1 && j - s == klen && !memcmp(t + s, key, klen)) {
                size_t k = j + 1;
                while (k < n && (t[k] == ' ' || t[k] == '\n' || t[k] == '\r' || t[k] == '\t'))
                    k++;
                if (k >= n || t[k] != ':')
                    return -1;
                k++;
                while (k < n && (t[k] == ' ' || t[k] == '\n' || t[k] == '\r' || t[k] == '\t'))
                    k++;
                if (k >= n || t[k] != '{')
                    return -1;
                int d = 0;
                for (size_t m = k; m < n; m++) {
                    if (t[m] == '"') {
                        m++;
                        while (m < n && t[m] != '"')
                            m += t[m] == '\\' ? 2 : 1;
                        continue;
                    }
                    if (t[m] == '{')
                        d++;
                    else if (t[m] == '}' && --d == 0) {
                        *start = t + k;
                        *len = m - k + 1;
                        return 0;
                    }
                }
                return -1;
            }
            i = j;
        } else if (ch == '{' || ch == '[') {
            depth++;
        } else if (ch == '}' || ch == ']') {
            depth--;
        }
    }
    return -1;
}

/* The signing certificate of a collateral document chains to the built-in root, and its ECDSA
 * P-256 signature (hex r || s in "signature") covers the raw `key` member. */
static int check_signed_doc(struct vlog *l, const char *check, const char *text, size_t len,
                            json_t *doc, const char *key, STACK_OF(X509) * chain, time_t at)
{
    char err[256];
    STACK_OF(X509) *root = vx_builtin_certs("intel_sgx_root_ca.pem");
    X509 *signer = sk_X509_value(chain, 0);
    int rc = -1;
    const char *sig_hex = json_string_value(json_object_get(doc, "signature"));
    const char *raw;
    size_t raw_len;
    uint8_t sig[64];
    if (!root || !signer) {
        vlog_add(l, check, V_FAIL, "no signing certificate");
    } else if (vx_check_link(signer, sk_X509_value(root, 0), at, err, sizeof(err))) {
        vlog_add(l, check, V_FAIL,
                 "signing certificate does not chain to the built-in Intel SGX "
                 "Root CA: %s",
                 err);
    } else if (!sig_hex || !vparse_hex(sig_hex, sig, 64, false)) {
        vlog_add(l, check, V_FAIL, "no 128-hex-digit \"signature\" member");
    } else if (raw_member(text, len, key, &raw, &raw_len)) {
        vlog_add(l, check, V_FAIL, "no \"%s\" object", key);
    } else if (vx_ecdsa_verify(X509_get0_pubkey(signer), EVP_sha256(), sig, sig + 32, 32,
                               (const uint8_t *)raw, raw_len, err, sizeof(err)) != 1) {
        vlog_add(l, check, V_FAIL,
                 "signature over \"%s\" does not verify with the TCB signing "
                 "key",
                 key);
    } else {
        json_t *body = json_object_get(doc, key);
        const char *issue = json_string_value(json_object_get(body, "issueDate"));
        const char *next = json_string_value(json_object_get(body, "nextUpdate"));
        time_t ti, tn;
        if (!issue || !next || !vparse_time(issue, &ti) || !vparse_time(next, &tn))
            vlog_add(l, check, V_FAIL, "issueDate / nextUpdate missing or malformed");
        else if (at < ti || at > tn)
            vlog_add(l, check, V_FAIL,
                     "outside its validity (%s .. %s) at the verification "
                     "time: fetch fresh collateral or pass --at",
                     issue, next);
        else
            rc = vlog_add(l, check, V_PASS, "signed by Intel SGX TCB Signing, valid %s .. %s",
                          issue, next);
    }
    if (root)
        sk_X509_pop_free(root, X509_free);
    return rc;
}

/* The PCK certificate's SGX extension (OID 1.2.840.113741.1.13.1): FMSPC, PCE-ID, the 16 SGX
 * TCB component SVNs and PCESVN. */
struct pck_tcb {
    uint8_t fmspc[6], pceid[2], comp[16];
    long pcesvn;
};

static STACK_OF(ASN1_TYPE) * seq_of(const ASN1_TYPE *t)
{
    if (!t || t->type != V_ASN1_SEQUENCE)
        return NULL;
    const unsigned char *p = ASN1_STRING_get0_data(t->value.sequence);
    return d2i_ASN1_SEQUENCE_ANY(NULL, &p, ASN1_STRING_length(t->value.sequence));
}

/* Each element of an SGX extension sequence is SEQUENCE { OID, value }. */
static bool pair(const ASN1_TYPE *t, char *oid, size_t oidlen, const ASN1_TYPE **value,
                 STACK_OF(ASN1_TYPE) * *hold)
{
    *hold = seq_of(t);
    if (!*hold || sk_ASN1_TYPE_num(*hold) != 2)
        return false;
    const ASN1_TYPE *o = sk_ASN1_TYPE_value(*hold, 0);
    if (o->type != V_ASN1_OBJECT || OBJ_obj2txt(oid, (int)oidlen, o->value.object, 1) <= 0)
        return false;
    *value = sk_ASN1_TYPE_value(*hold, 1);
    return true;
}

static int octets(const ASN1_TYPE *v, uint8_t *out, int n)
{
    if (v->type != V_ASN1_OCTET_STRING || ASN1_STRING_length(v->value.octet_string) != n)
        return -1;
    memcpy(out, ASN1_STRING_get0_data(v->value.octet_string), (size_t)n);
    return 0;
}

static int pck_tcb_parse(X509 *pck, struct pck_tcb *t)
{
    const uint8_t *p;
    size_t n;
    memset(t, 0, sizeof(*t));
    if (vx_ext_octets(pck, "1.2.840.113741.1.13.1", &p, &n) || n > INT32_MAX)
        return -1;
    STACK_OF(ASN1_TYPE) *top = d2i_ASN1_SEQUENCE_ANY(NULL, &p, (long)n);
    int found = 0;
    for (int i = 0; top && i < sk_ASN1_TYPE_num(top); i++) {
        char oid[64];
        const ASN1_TYPE *v;
        STACK_OF(ASN1_TYPE) * h;
        if (pair(sk_ASN1_TYPE_value(top, i), oid, sizeof(oid), &v, &h)) {
            if (!strcmp(oid, "1.2.840.113741.1.13.1.4") && octets(v, t->fmspc, 6) == 0)
                found |= 1;
            else if (!strcmp(oid, "1.2.840.113741.1.13.1.3") && octets(v, t->pceid, 2) == 0)
                found |= 2;
            else if (!strcmp(oid, "1.2.840.113741.1.13.1.2")) {
                STACK_OF(ASN1_TYPE) *tcb = seq_of(v);
                for (int k = 0; tcb && k < sk_ASN1_TYPE_num(tcb); k++) {
                    char o2[64];
                    const ASN1_TYPE *v2;
                    STACK_OF(ASN1_TYPE) * h2;
                    if (pair(sk_ASN1_TYPE_value(tcb, k), o2, sizeof(o2), &v2, &h2) &&
                        v2->type == V_ASN1_INTEGER &&
                        !strncmp(o2, "1.2.840.113741.1.13.1.2.", 24)) {
                        long idx = strtol(o2 + 24, NULL, 10);
                        long val = ASN1_INTEGER_get(v2->value.integer);
                        if (idx >= 1 && idx <= 16 && val >= 0 && val <= 255) {
                            t->comp[idx - 1] = (uint8_t)val;
                            found |= 4;
                        } else if (idx == 17 && val >= 0) {
                            t->pcesvn = val;
                            found |= 8;
                        }
                    }
                    sk_ASN1_TYPE_pop_free(h2, ASN1_TYPE_free);
                }
                sk_ASN1_TYPE_pop_free(tcb, ASN1_TYPE_free);
            }
        }
        sk_ASN1_TYPE_pop_free(h, ASN1_TYPE_free);
    }
    sk_ASN1_TYPE_pop_free(top, ASN1_TYPE_free);
    return found == 15 ? 0 : -1;
}

static bool hex_eq(const char *hex, const uint8_t *b, size_t n)
{
    uint8_t buf[64];
    return hex && n <= sizeof(buf) && vparse_hex(hex, buf, n, false) && !memcmp(buf, b, n);
}

static long comp_svn(json_t *arr, size_t i)
{
    return (long)json_integer_value(json_object_get(json_array_get(arr, i), "svn"));
}

/* TDX TCB level selection (PCS tcbInfo v3): the first level whose SGX components and PCESVN are
 * at or below the PCK certificate's and whose TDX components are at or below TEE_TCB_SVN. */
static void tcb_status(struct vlog *l, struct tdx_collateral *c, const struct tdx_quote *q,
                       X509 *pck)
{
    struct pck_tcb t;
    json_t *info = json_object_get(c->tcb_doc, "tcbInfo");
    if (pck_tcb_parse(pck, &t)) {
        vlog_add(l, "tcb_status", V_FAIL, "PCK certificate lacks a readable SGX extension");
        return;
    }
    const char *id = json_string_value(json_object_get(info, "id"));
    if (!id || strcmp(id, "TDX")) {
        vlog_add(l, "tcb_status", V_FAIL, "TCB info id is \"%s\", not \"TDX\"", id ? id : "");
        return;
    }
    if (!hex_eq(json_string_value(json_object_get(info, "fmspc")), t.fmspc, 6) ||
        !hex_eq(json_string_value(json_object_get(info, "pceId")), t.pceid, 2)) {
        vlog_add(l, "tcb_status", V_FAIL,
                 "TCB info is for another platform (FMSPC / PCE-ID "
                 "differ from the PCK certificate's)");
        return;
    }
    json_t *mod = json_object_get(info, "tdxModule");
    if (mod &&
        !hex_eq(json_string_value(json_object_get(mod, "mrsigner")), q->td.mr_signer_seam, 48)) {
        vlog_add(l, "tcb_status", V_FAIL,
                 "MRSIGNERSEAM differs from the TCB info's TDX module "
                 "signer");
        return;
    }
    if (q->td.tee_tcb_svn[1] > 0) { /* TDX module major version >= 1: TDX 1.5 collateral */
        c->tcb_status = "NotEvaluated";
        vlog_add(l, "tcb_status", V_FAIL,
                 "TEE_TCB_SVN[1] = %u: the TDX module identity (TCB info tdxModuleIdentities, "
                 "TDX 1.5) is not evaluated by this tool, so no TCB status is claimed",
                 q->td.tee_tcb_svn[1]);
        return;
    }
    json_t *levels = json_object_get(info, "tcbLevels");
    for (size_t i = 0; i < json_array_size(levels); i++) {
        json_t *lv = json_array_get(levels, i), *tcb = json_object_get(lv, "tcb");
        json_t *sgx = json_object_get(tcb, "sgxtcbcomponents");
        json_t *tdx = json_object_get(tcb, "tdxtcbcomponents");
        if (json_array_size(sgx) != 16 || json_array_size(tdx) != 16)
            continue;
        bool ok = (long)json_integer_value(json_object_get(tcb, "pcesvn")) <= t.pcesvn;
        for (size_t k = 0; k < 16 && ok; k++)
            ok = comp_svn(sgx, k) <= t.comp[k] && comp_svn(tdx, k) <= q->td.tee_tcb_svn[k];
        if (!ok)
            continue;
        const char *st = json_string_value(json_object_get(lv, "tcbStatus"));
        c->tcb_status = st ? st : "?";
        if (comp_svn(tdx, 1) != q->td.tee_tcb_svn[1]) {
            vlog_add(l, "tcb_status", V_FAIL,
                     "selected level's TDX module SVN (index 1) %ld "
                     "differs from TEE_TCB_SVN[1] %u: TCB info not for "
                     "this TDX module",
                     comp_svn(tdx, 1), q->td.tee_tcb_svn[1]);
            return;
        }
        vlog_add(l, "tcb_status", !strcmp(c->tcb_status, "UpToDate") ? V_PASS : V_FAIL,
                 "TCB level %zu of %zu (tcbDate %s): status %s", i + 1, json_array_size(levels),
                 json_string_value(json_object_get(lv, "tcbDate")) ?: "?", c->tcb_status);
        return;
    }
    c->tcb_status = "Unsupported";
    vlog_add(l, "tcb_status", V_FAIL,
             "no TCB level matches the PCK certificate and TD report: "
             "TCB not supported");
}

/* TD QE identity: MRSIGNER, ISVPRODID, masked MISCSELECT / ATTRIBUTES, then the ISVSVN level. */
static void qe_identity(struct vlog *l, struct tdx_collateral *c, const struct tdx_quote *q)
{
    json_t *id = json_object_get(c->qe_doc, "enclaveIdentity");
    uint8_t misc[4], mmask[4], attr[16], amask[16];
    const char *idname = json_string_value(json_object_get(id, "id"));
    if (!idname || strcmp(idname, "TD_QE")) {
        vlog_add(l, "qe_identity", V_FAIL, "QE identity id is \"%s\", not \"TD_QE\"",
                 idname ? idname : "");
        return;
    }
    if (!vparse_hex(json_string_value(json_object_get(id, "miscselect")) ?: "", misc, 4, false) ||
        !vparse_hex(json_string_value(json_object_get(id, "miscselectMask")) ?: "", mmask, 4,
                    false) ||
        !vparse_hex(json_string_value(json_object_get(id, "attributes")) ?: "", attr, 16, false) ||
        !vparse_hex(json_string_value(json_object_get(id, "attributesMask")) ?: "", amask, 16,
                    false)) {
        vlog_add(l, "qe_identity", V_FAIL, "QE identity fields malformed");
        return;
    }
    uint32_t m = (uint32_t)misc[0] << 24 | (uint32_t)misc[1] << 16 | misc[2] << 8 | misc[3];
    uint32_t mm = (uint32_t)mmask[0] << 24 | (uint32_t)mmask[1] << 16 | mmask[2] << 8 | mmask[3];
    bool attr_ok = true;
    for (int i = 0; i < 16; i++)
        attr_ok = attr_ok && (q->qe.attributes[i] & amask[i]) == attr[i];
    if (!hex_eq(json_string_value(json_object_get(id, "mrsigner")), q->qe.mr_signer, 32) ||
        json_integer_value(json_object_get(id, "isvprodid")) != q->qe.isv_prod_id ||
        (q->qe.misc_select & mm) != m || !attr_ok) {
        vlog_add(l, "qe_identity", V_FAIL,
                 "the quoting enclave is not Intel's TD QE (MRSIGNER, "
                 "ISVPRODID, MISCSELECT or ATTRIBUTES differ)");
        return;
    }
    json_t *levels = json_object_get(id, "tcbLevels");
    for (size_t i = 0; i < json_array_size(levels); i++) {
        json_t *lv = json_array_get(levels, i);
        long svn = (long)json_integer_value(json_object_get(json_object_get(lv, "tcb"), "isvsvn"));
        if (svn <= q->qe.isv_svn) {
            const char *st = json_string_value(json_object_get(lv, "tcbStatus"));
            c->qe_status = st ? st : "?";
            vlog_add(l, "qe_identity", !strcmp(c->qe_status, "UpToDate") ? V_PASS : V_FAIL,
                     "Intel TD QE, ISVSVN %u: status %s", q->qe.isv_svn, c->qe_status);
            return;
        }
    }
    c->qe_status = "Unsupported";
    vlog_add(l, "qe_identity", V_FAIL, "QE ISVSVN %u below every level", q->qe.isv_svn);
}

void tdx_collateral_check(struct vlog *l, struct tdx_collateral *c, const struct tdx_quote *q,
                          X509 *pck, time_t at)
{
    int t = check_signed_doc(l, "collateral_tcb_info", c->tcb_text, c->tcb_len, c->tcb_doc,
                             "tcbInfo", c->tcb_chain, at);
    int e = check_signed_doc(l, "collateral_qe_identity", c->qe_text, c->qe_len, c->qe_doc,
                             "enclaveIdentity", c->qe_chain, at);
    if (e == 0)
        qe_identity(l, c, q);
    if (t == 0 && pck)
        tcb_status(l, c, q, pck);
    else
        vlog_add(l, "tcb_status", V_FAIL, "not evaluated: %s",
                 pck ? "TCB info not verified" : "no verified PCK certificate");
}

void tdx_collateral_json(const struct tdx_collateral *c, json_t *doc)
{
    json_object_set_new(doc, "tcb_status",
                        c->tcb_status ? json_string(c->tcb_status) : json_null());
    json_object_set_new(doc, "qe_identity_status",
                        c->qe_status ? json_string(c->qe_status) : json_null());
}
