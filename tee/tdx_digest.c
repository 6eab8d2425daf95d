/* tdx_digest.c: Intel TDX MRTD as one running SHA-384 over PAGE.ADD / MR.EXTEND records (per-page
 * or per-section order), folded over a TDX launch plan, and the CFV digest. */
#include "tee/tdx_digest.h"

#include <stdlib.h>
#include <string.h>

#include "tee/crypto.h"

#define TDX_PAGE        4096u
#define TDX_CHUNK       256u
#define TDX_REC         128u
#define CHUNKS_PER_PAGE (TDX_PAGE / TDX_CHUNK)

static void put_gpa(uint8_t *p, uint64_t gpa)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(gpa >> (8 * i));
}

void tdx_page_add_record(uint8_t rec[128], uint64_t gpa)
{
    memset(rec, 0, TDX_REC);
    memcpy(rec, "MEM.PAGE.ADD", 12);
    put_gpa(rec + 16, gpa);
}

void tdx_mr_extend_record(uint8_t rec[128], uint64_t gpa)
{
    memset(rec, 0, TDX_REC);
    memcpy(rec, "MR.EXTEND", 9);
    put_gpa(rec + 16, gpa);
}

/* The bytes guest memory holds at page `p` of the region: file data, zero beyond data_len. */
static const uint8_t *page_bytes(const struct launch_update *u, uint64_t p, uint8_t *scratch)
{
    uint64_t off = p * TDX_PAGE;
    if (u->data && off + TDX_PAGE <= u->data_len)
        return u->data + off;
    memset(scratch, 0, TDX_PAGE);
    if (u->data && off < u->data_len)
        memcpy(scratch, u->data + off, u->data_len - off);
    return scratch;
}

static int hash_add(const struct crypto_evp *evp, EVP_MD_CTX *ctx, uint64_t gpa)
{
    uint8_t rec[TDX_REC];
    tdx_page_add_record(rec, gpa);
    return evp->EVP_DigestUpdate(ctx, rec, sizeof(rec));
}

/* Sixteen MR.EXTEND records of one page, each followed by its 256 data bytes, in one update. */
static int hash_extend(const struct crypto_evp *evp, EVP_MD_CTX *ctx, uint64_t gpa,
                       const uint8_t *page)
{
    uint8_t buf[CHUNKS_PER_PAGE * (TDX_REC + TDX_CHUNK)];
    for (unsigned c = 0; c < CHUNKS_PER_PAGE; c++) {
        uint8_t *rec = buf + c * (TDX_REC + TDX_CHUNK);
        tdx_mr_extend_record(rec, gpa + (uint64_t)c * TDX_CHUNK);
        memcpy(rec + TDX_REC, page + c * TDX_CHUNK, TDX_CHUNK);
    }
    return evp->EVP_DigestUpdate(ctx, buf, sizeof(buf));
}

struct tdx_fold {
    const struct crypto_evp *evp;
    EVP_MD_CTX *ctx;
    enum launch_tdx_order order;
    uint8_t scratch[TDX_PAGE];
    struct fw_error *err;
};

static int tdx_fold_update(void *vctx, const struct launch_update *u)
{
    struct tdx_fold *f = vctx;
    if (u->type != LAUNCH_TDX_REGION || u->len % TDX_PAGE || u->data_len > u->len)
        return fw_fail(f->err, "malformed TDX launch update at GPA %#llx",
                       (unsigned long long)u->gpa);
    uint64_t pages = u->len / TDX_PAGE;
    bool extend = u->flags & LAUNCH_F_TDX_EXTEND;
    int ok = 1;
    if (f->order == LAUNCH_TDX_PER_PAGE) {
        for (uint64_t p = 0; ok && p < pages; p++) {
            uint64_t gpa = u->gpa + p * TDX_PAGE;
            ok = hash_add(f->evp, f->ctx, gpa);
            if (ok && extend)
                ok = hash_extend(f->evp, f->ctx, gpa, page_bytes(u, p, f->scratch));
        }
    } else {
        for (uint64_t p = 0; ok && p < pages; p++)
            ok = hash_add(f->evp, f->ctx, u->gpa + p * TDX_PAGE);
        for (uint64_t p = 0; ok && extend && p < pages; p++)
            ok = hash_extend(f->evp, f->ctx, u->gpa + p * TDX_PAGE, page_bytes(u, p, f->scratch));
    }
    return ok ? 0 : fw_fail(f->err, "OpenSSL SHA-384 failed");
}

int tdx_mrtd_plan(const struct launch_plan *plan, uint8_t mrtd[TDX_MR_SIZE], struct fw_error *err)
{
    if (plan->tee != LAUNCH_TEE_TDX)
        return fw_fail(err, "not a TDX launch plan");
    const struct crypto_evp *c = crypto_evp();
    if (!c)
        return fw_fail(err, "OpenSSL SHA-384 unavailable (%s not loaded)", CRYPTO_LIBRARY);
    struct tdx_fold *f = calloc(1, sizeof(*f));
    if (!f)
        return fw_fail(err, "out of memory");
    f->evp = c;
    f->ctx = c->EVP_MD_CTX_new();
    f->order = plan->tdx_order;
    f->err = err;
    int rc = -1;
    unsigned int n = 0;
    if (!f->ctx || !c->EVP_DigestInit_ex(f->ctx, c->EVP_sha384(), NULL)) {
        fw_fail(err, "OpenSSL SHA-384 unavailable");
    } else if (launch_plan_walk(plan, tdx_fold_update, f) == 0) {
        if (c->EVP_DigestFinal_ex(f->ctx, mrtd, &n) && n == TDX_MR_SIZE)
            rc = 0;
        else
            fw_fail(err, "OpenSSL SHA-384 failed");
    }
    c->EVP_MD_CTX_free(f->ctx);
    free(f);
    return rc;
}

int tdx_cfv_digest(const struct tdvf_image *img, uint8_t out[TDX_MR_SIZE], struct fw_error *err)
{
    for (size_t i = 0; i < img->n_sections; i++) {
        const struct tdvf_section *s = &img->sections[i];
        if (s->type != TDVF_SECTION_CFV)
            continue;
        const struct crypto_evp *c = crypto_evp();
        if (!c)
            return fw_fail(err, "OpenSSL SHA-384 unavailable (%s not loaded)", CRYPTO_LIBRARY);
        unsigned int n = 0;
        if (!c->EVP_Digest(img->data + s->data_offset, s->raw_size, out, &n, c->EVP_sha384(),
                           NULL) ||
            n != TDX_MR_SIZE)
            return fw_fail(err, "OpenSSL SHA-384 failed");
        return 0;
    }
    return fw_fail(err, "firmware has no CFV (configuration volume) section");
}
