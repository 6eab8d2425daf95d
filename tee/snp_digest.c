/* snp_digest.c: the SNP GCTX page-update primitive and the SNP / SEV / SEV-ES launch-digest folds
 * over a launch plan. */
#include "tee/snp_digest.h"

#include <string.h>

#include "tee/crypto.h"
#include "tee/vmsa.h"

int snp_gctx_init(struct snp_gctx *g, const uint8_t *seed)
{
    memset(g, 0, sizeof(*g));
    if (seed)
        memcpy(g->ld, seed, SNP_LD_SIZE);
    const struct crypto_evp *c = crypto_evp();
    if (!c)
        return -1;
    EVP_MD *md = c->EVP_MD_fetch(NULL, "SHA384", NULL);
    g->sha384 = md;
    g->page_md = c->EVP_MD_CTX_new();
    g->info_md = c->EVP_MD_CTX_new();
    if (!md || !g->page_md || !g->info_md) {
        snp_gctx_free(g);
        return -1;
    }
    return 0;
}

void snp_gctx_free(struct snp_gctx *g)
{
    const struct crypto_evp *c = crypto_evp(); /* non-NULL whenever g holds anything */
    if (c) {
        c->EVP_MD_CTX_free(g->page_md);
        c->EVP_MD_CTX_free(g->info_md);
        c->EVP_MD_free((EVP_MD *)g->sha384);
    }
    g->page_md = g->info_md = NULL;
    g->sha384 = NULL;
}

static int sha384_once(struct snp_gctx *g, void *mdctx, const uint8_t *data, size_t len,
                       uint8_t out[SNP_LD_SIZE])
{
    unsigned int n = 0;
    EVP_MD_CTX *ctx = mdctx;
    const struct crypto_evp *c = crypto_evp();
    if (!c || !c->EVP_DigestInit_ex2(ctx, g->sha384, NULL) ||
        !c->EVP_DigestUpdate(ctx, data, len) || !c->EVP_DigestFinal_ex(ctx, out, &n) ||
        n != SNP_LD_SIZE)
        return -1;
    return 0;
}

int snp_gctx_update(struct snp_gctx *g, uint8_t page_type, uint64_t gpa,
                    const uint8_t contents[SNP_LD_SIZE])
{
    uint8_t info[SNP_PAGE_INFO_SIZE] = {0};
    memcpy(info, g->ld, SNP_LD_SIZE);
    memcpy(info + 0x30, contents, SNP_LD_SIZE);
    info[0x60] = SNP_PAGE_INFO_SIZE; /* LENGTH, u16 */
    info[0x61] = 0;
    info[0x62] = page_type;
    /* 0x63 IMI_PAGE, 0x64..0x66 VMPL3..1 permissions, 0x67 reserved: all zero */
    for (int i = 0; i < 8; i++)
        info[0x68 + i] = (uint8_t)(gpa >> (8 * i));
    return sha384_once(g, g->info_md, info, sizeof(info), g->ld);
}

int snp_gctx_update_normal(struct snp_gctx *g, uint64_t gpa, const uint8_t *data, size_t len)
{
    if (len % SNP_PAGE_SIZE)
        return -1;
    uint8_t h[SNP_LD_SIZE];
    for (size_t off = 0; off < len; off += SNP_PAGE_SIZE) {
        if (sha384_once(g, g->page_md, data + off, SNP_PAGE_SIZE, h) ||
            snp_gctx_update(g, LAUNCH_PAGE_NORMAL, gpa + off, h))
            return -1;
    }
    return 0;
}

int snp_gctx_update_empty(struct snp_gctx *g, uint8_t page_type, uint64_t gpa, uint64_t len)
{
    static const uint8_t zeros[SNP_LD_SIZE];
    if (len % SNP_PAGE_SIZE)
        return -1;
    for (uint64_t off = 0; off < len; off += SNP_PAGE_SIZE)
        if (snp_gctx_update(g, page_type, gpa + off, zeros))
            return -1;
    return 0;
}

int snp_gctx_update_vmsa(struct snp_gctx *g, const uint8_t vmsa[SNP_PAGE_SIZE])
{
    uint8_t h[SNP_LD_SIZE];
    if (sha384_once(g, g->page_md, vmsa, SNP_PAGE_SIZE, h))
        return -1;
    return snp_gctx_update(g, LAUNCH_PAGE_VMSA, SNP_VMSA_GPA, h);
}

struct snp_fold {
    struct snp_gctx g;
    bool seeded;
    uint8_t *ovmf_hash;
    struct fw_error *err;
};

static int snp_fold_update(void *ctx, const struct launch_update *u)
{
    struct snp_fold *f = ctx;
    int rc;
    if (u->origin == LAUNCH_FROM_FIRMWARE && f->seeded)
        return 0; /* --snp-ovmf-hash: the seed stands for these pages */
    switch (u->type) {
    case LAUNCH_PAGE_NORMAL:
        if (!u->data || u->data_len != u->len)
            return fw_fail(f->err, "NORMAL update at %#llx has no full contents",
                           (unsigned long long)u->gpa);
        rc = snp_gctx_update_normal(&f->g, u->gpa, u->data, u->len);
        break;
    case LAUNCH_PAGE_VMSA:
        if (!u->data || u->len != SNP_PAGE_SIZE)
            return fw_fail(f->err, "VMSA update without a 4 KiB page");
        rc = snp_gctx_update_vmsa(&f->g, u->data);
        break;
    case LAUNCH_PAGE_ZERO:
    case LAUNCH_PAGE_UNMEASURED:
    case LAUNCH_PAGE_SECRETS:
    case LAUNCH_PAGE_CPUID:
        rc = snp_gctx_update_empty(&f->g, (uint8_t)u->type, u->gpa, u->len);
        break;
    default:
        return fw_fail(f->err, "update type %d is not a SNP page type", u->type);
    }
    if (rc)
        return fw_fail(f->err, "SNP digest update failed at GPA %#llx (OpenSSL or length)",
                       (unsigned long long)u->gpa);
    if (u->origin == LAUNCH_FROM_FIRMWARE && f->ovmf_hash)
        memcpy(f->ovmf_hash, f->g.ld, SNP_LD_SIZE);
    return 0;
}

int snp_digest_plan(const struct launch_plan *plan, uint8_t ld[SNP_LD_SIZE], uint8_t *ovmf_hash_out,
                    struct fw_error *err)
{
    if (plan->tee != LAUNCH_TEE_SNP && plan->tee != LAUNCH_TEE_SNP_SVSM)
        return fw_fail(err, "not a SEV-SNP launch plan");
    struct snp_fold f = {.seeded = plan->ld_seed != NULL, .ovmf_hash = ovmf_hash_out, .err = err};
    if (snp_gctx_init(&f.g, plan->ld_seed))
        return fw_fail(err, "OpenSSL SHA-384 unavailable");
    if (ovmf_hash_out)
        memcpy(ovmf_hash_out, f.g.ld, SNP_LD_SIZE);
    int rc = launch_plan_walk(plan, snp_fold_update, &f);
    if (!rc)
        memcpy(ld, f.g.ld, SNP_LD_SIZE);
    snp_gctx_free(&f.g);
    return rc ? -1 : 0;
}

struct sev_fold {
    const struct crypto_evp *evp;
    EVP_MD_CTX *ctx;
    struct fw_error *err;
};

static int sev_fold_update(void *ctx, const struct launch_update *u)
{
    struct sev_fold *f = ctx;
    if (u->type != LAUNCH_PAGE_NORMAL && u->type != LAUNCH_PAGE_VMSA)
        return fw_fail(f->err, "update type %d is not a SEV/SEV-ES update", u->type);
    if (!u->data || u->data_len != u->len)
        return fw_fail(f->err, "SEV update at %#llx has no full contents",
                       (unsigned long long)u->gpa);
    if (!f->evp->EVP_DigestUpdate(f->ctx, u->data, u->len))
        return fw_fail(f->err, "OpenSSL SHA-256 failed");
    return 0;
}

int sev_digest_plan(const struct launch_plan *plan, uint8_t ld[SEV_LD_SIZE], struct fw_error *err)
{
    if (plan->tee != LAUNCH_TEE_SEV && plan->tee != LAUNCH_TEE_SEV_ES)
        return fw_fail(err, "not a SEV / SEV-ES launch plan");
    const struct crypto_evp *c = crypto_evp();
    if (!c)
        return fw_fail(err, "OpenSSL SHA-256 unavailable (%s not loaded)", CRYPTO_LIBRARY);
    struct sev_fold f = {.evp = c, .ctx = c->EVP_MD_CTX_new(), .err = err};
    if (!f.ctx || !c->EVP_DigestInit_ex(f.ctx, c->EVP_sha256(), NULL)) {
        c->EVP_MD_CTX_free(f.ctx);
        return fw_fail(err, "OpenSSL SHA-256 unavailable");
    }
    int rc = launch_plan_walk(plan, sev_fold_update, &f);
    unsigned int n = 0;
    if (!rc && (!c->EVP_DigestFinal_ex(f.ctx, ld, &n) || n != SEV_LD_SIZE))
        rc = fw_fail(err, "OpenSSL SHA-256 failed");
    c->EVP_MD_CTX_free(f.ctx);
    return rc ? -1 : 0;
}
