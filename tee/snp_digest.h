/* snp_digest.h: the SEV-SNP launch digest (GCTX.LD, SHA-384 PAGE_INFO chain) and the SEV/SEV-ES
 * GCTX.LD (SHA-256), as folds over a launch plan (launch_plan.h). */
#ifndef COCOON_TEE_SNP_DIGEST_H
#define COCOON_TEE_SNP_DIGEST_H

#include <stddef.h>
#include <stdint.h>

#include "firmware/ovmf.h"
#include "tee/launch_plan.h"

#define SNP_LD_SIZE        48
#define SEV_LD_SIZE        32
#define SNP_PAGE_SIZE      4096
#define SNP_PAGE_INFO_SIZE 0x70

/* Running SNP launch digest. One context reuses its OpenSSL digest contexts for every page. */
struct snp_gctx {
    uint8_t ld[SNP_LD_SIZE];
    void *page_md;      /* EVP_MD_CTX* for page contents */
    void *info_md;      /* EVP_MD_CTX* for PAGE_INFO */
    const void *sha384; /* EVP_MD* */
};

/* Start a context with LD = seed (48 bytes) or zero if seed is NULL. 0 or -1 (OpenSSL failure). */
int snp_gctx_init(struct snp_gctx *g, const uint8_t *seed);

/* Releases the OpenSSL contexts of g. */
void snp_gctx_free(struct snp_gctx *g);

/* One GCTX page update: LD = SHA-384(PAGE_INFO{LD, contents, 0x70, type, 0.., gpa}).
 * `contents` is the 48-byte CONTENTS field (page hash, or zeros for ZERO/SECRETS/...). */
int snp_gctx_update(struct snp_gctx *g, uint8_t page_type, uint64_t gpa,
                    const uint8_t contents[SNP_LD_SIZE]);

/* NORMAL pages: CONTENTS = SHA-384 of each 4 KiB page of data[0..len) (len % 4096 == 0),
 * GPAs ascending from gpa. */
int snp_gctx_update_normal(struct snp_gctx *g, uint64_t gpa, const uint8_t *data, size_t len);

/* ZERO / UNMEASURED / SECRETS / CPUID pages over [gpa, gpa+len): CONTENTS all zero. */
int snp_gctx_update_empty(struct snp_gctx *g, uint8_t page_type, uint64_t gpa, uint64_t len);

/* One VMSA page (GPA SNP_VMSA_GPA). */
int snp_gctx_update_vmsa(struct snp_gctx *g, const uint8_t vmsa[SNP_PAGE_SIZE]);

/* Fold a SNP / SNP-SVSM plan into its launch digest. If stop_after_firmware is non-NULL the LD
 * right after the firmware pages (the `snp:ovmf-hash` value) is stored there too. */
int snp_digest_plan(const struct launch_plan *plan, uint8_t ld[SNP_LD_SIZE], uint8_t *ovmf_hash_out,
                    struct fw_error *err);

/* Fold a SEV / SEV-ES plan into GCTX.LD = SHA-256(data updates || VMSAs). */
int sev_digest_plan(const struct launch_plan *plan, uint8_t ld[SEV_LD_SIZE], struct fw_error *err);

#endif
