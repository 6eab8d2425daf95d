/* verify_tdx_quote.c: bounds-checked decoder of Intel TDX DCAP quotes v4 and v5. */
#include "tools/verify_tdx_quote.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

/* A cursor over the quote: every take() checks the remaining length first. */
struct cursor {
    const uint8_t *p;
    size_t left;
    bool bad;
    const char *what; /* the first field that did not fit */
};

static const uint8_t *take(struct cursor *c, size_t n, const char *what)
{
    if (c->bad || n > c->left) {
        if (!c->bad)
            c->what = what;
        c->bad = true;
        return NULL;
    }
    const uint8_t *p = c->p;
    c->p += n;
    c->left -= n;
    return p;
}

static uint16_t le16(const uint8_t *p)
{
    return p ? (uint16_t)(p[0] | p[1] << 8) : 0;
}

static uint32_t le32(const uint8_t *p)
{
    return p ? (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24
             : 0;
}

static uint64_t le64(const uint8_t *p)
{
    return p ? (uint64_t)le32(p) | (uint64_t)le32(p + 4) << 32 : 0;
}

static void parse_td_report(struct tdx_td_report *t, const uint8_t *b, bool v15)
{
    t->tee_tcb_svn = b;
    t->mr_seam = b + 16;
    t->mr_signer_seam = b + 64;
    t->seam_attributes = le64(b + 112);
    t->td_attributes = le64(b + 120);
    t->xfam = le64(b + 128);
    t->mr_td = b + 136;
    t->mr_config_id = b + 184;
    t->mr_owner = b + 232;
    t->mr_owner_config = b + 280;
    for (int i = 0; i < 4; i++)
        t->rtmr[i] = b + 328 + 48 * i;
    t->report_data = b + 520;
    if (v15) {
        t->tee_tcb_svn2 = b + 584;
        t->mr_service_td = b + 600;
    }
}

static void parse_sgx_report(struct sgx_report_body *s, const uint8_t *b)
{
    s->cpu_svn = b;
    s->misc_select = le32(b + 16);
    s->attributes = b + 48;
    s->mr_enclave = b + 64;
    s->mr_signer = b + 128;
    s->isv_prod_id = le16(b + 256);
    s->isv_svn = le16(b + 258);
    s->report_data = b + 320;
}

static int fail(char *err, size_t errlen, const char *msg, const struct cursor *c)
{
    if (c && c->bad)
        snprintf(err, errlen, "%s: the quote ends inside %s", msg, c->what);
    else
        snprintf(err, errlen, "%s", msg);
    return -1;
}

/* Header and body; leaves the cursor at the signature-data length. */
static int parse_header_body(struct tdx_quote *q, struct cursor *c, char *err, size_t errlen)
{
    const uint8_t *h = take(c, TDX_QUOTE_HEADER_SIZE, "the header");
    if (!h)
        return fail(err, errlen, "not a TDX quote", c);
    q->version = le16(h);
    q->att_key_type = le16(h + 2);
    q->tee_type = le32(h + 4);
    q->qe_svn = le16(h + 8);
    q->pce_svn = le16(h + 10);
    q->qe_vendor_id = h + 12;
    q->user_data = h + 28;
    if (q->version != 4 && q->version != 5) {
        snprintf(err, errlen, "quote version %u is not supported (4 or 5)", q->version);
        return -1;
    }
    if (q->att_key_type != TDX_ATT_KEY_ECDSA_P256) {
        snprintf(err, errlen, "attestation key type %u is not ECDSA P-256 (2)", q->att_key_type);
        return -1;
    }
    if (q->tee_type != TDX_TEE_TYPE_TDX) {
        snprintf(err, errlen, "TEE type 0x%x is not TDX (0x81)", q->tee_type);
        return -1;
    }
    size_t body_len = TDX_REPORT_BODY_V4_SIZE;
    q->body_type = 2;
    if (q->version == 5) {
        const uint8_t *d = take(c, 6, "the body descriptor");
        q->body_type = le16(d);
        uint32_t size = le32(d ? d + 2 : NULL);
        if (c->bad)
            return fail(err, errlen, "truncated quote", c);
        if (q->body_type == 2)
            body_len = TDX_REPORT_BODY_V4_SIZE;
        else if (q->body_type == 3)
            body_len = TDX_REPORT_BODY_V5_SIZE;
        else {
            snprintf(err, errlen, "quote body type %u is not a TD report (2 or 3)", q->body_type);
            return -1;
        }
        if (size != body_len) {
            snprintf(err, errlen, "quote body type %u has size %u, expected %zu", q->body_type,
                     size, body_len);
            return -1;
        }
    }
    const uint8_t *body = take(c, body_len, "the TD report body");
    if (!body)
        return fail(err, errlen, "truncated quote", c);
    parse_td_report(&q->td, body, body_len == TDX_REPORT_BODY_V5_SIZE);
    q->signed_data = h;
    q->signed_len = (size_t)(c->p - h);
    return 0;
}

/* ECDSA signature data with QE report certification data (type 6) holding a PCK chain (5). */
static int parse_signature_data(struct tdx_quote *q, struct cursor *c, char *err, size_t errlen)
{
    uint32_t sig_len = le32(take(c, 4, "the signature data length"));
    if (c->bad)
        return fail(err, errlen, "truncated quote", c);
    if (sig_len > c->left) {
        snprintf(err, errlen, "signature data length %u exceeds the %zu bytes left", sig_len,
                 c->left);
        return -1;
    }
    struct cursor s = {.p = c->p, .left = sig_len};
    c->p += sig_len;
    c->left -= sig_len;
    q->signature = take(&s, 64, "the quote signature");
    q->att_key = take(&s, 64, "the attestation key");
    const uint8_t *ch = take(&s, 6, "the certification data header");
    if (s.bad)
        return fail(err, errlen, "truncated signature data", &s);
    uint16_t type = le16(ch);
    uint32_t size = le32(ch + 2);
    if (type != TDX_CERT_QE_REPORT) {
        snprintf(err, errlen, "certification data type %u is not QE report data (6)", type);
        return -1;
    }
    if (size != s.left) {
        snprintf(err, errlen, "certification data size %u, but %zu bytes remain", size, s.left);
        return -1;
    }
    q->qe_report = take(&s, SGX_REPORT_BODY_SIZE, "the QE report");
    q->qe_report_sig = take(&s, 64, "the QE report signature");
    q->qe_auth_len = le16(take(&s, 2, "the QE authentication data length"));
    q->qe_auth_data = take(&s, q->qe_auth_len, "the QE authentication data");
    const uint8_t *ph = take(&s, 6, "the PCK certification data header");
    if (s.bad)
        return fail(err, errlen, "truncated QE report certification data", &s);
    parse_sgx_report(&q->qe, q->qe_report);
    type = le16(ph);
    size = le32(ph + 2);
    if (type != TDX_CERT_PCK_CHAIN) {
        snprintf(err, errlen,
                 "PCK certification data type %u is not a PCK certificate chain (5); "
                 "other types need collateral this tool does not fetch",
                 type);
        return -1;
    }
    if (size != s.left) {
        snprintf(err, errlen, "PCK certification data size %u, but %zu bytes remain", size, s.left);
        return -1;
    }
    q->pck_chain_pem = take(&s, size, "the PCK certificate chain");
    q->pck_chain_len = size;
    return 0;
}

int tdx_quote_parse(struct tdx_quote *q, const uint8_t *data, size_t len, char *err, size_t errlen)
{
    memset(q, 0, sizeof(*q));
    struct cursor c = {.p = data, .left = len};
    if (parse_header_body(q, &c, err, errlen) || parse_signature_data(q, &c, err, errlen))
        return -1;
    q->quote_len = len - c.left;
    for (size_t i = 0; i < c.left; i++) {
        if (c.p[i]) {
            snprintf(err, errlen,
                     "%zu bytes follow the signature data and are not zero padding (at offset "
                     "%zu): unsigned data is refused; cut the file to %zu bytes",
                     c.left, q->quote_len + i, q->quote_len);
            return -1;
        }
    }
    q->padding_len = c.left;
    return 0;
}
