/* verify_snp_report.h: the SEV-SNP ATTESTATION_REPORT (SEV-SNP ABI spec, Table "ATTESTATION_REPORT
 * Structure"), decoded from its 1184 bytes by a bounds-checked parser (no cryptography here). */
#ifndef COCOON_TOOLS_VERIFY_SNP_REPORT_H
#define COCOON_TOOLS_VERIFY_SNP_REPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SNP_REPORT_SIZE        0x4A0 /* 1184 */
#define SNP_REPORT_SIGNED_SIZE 0x2A0 /* the signature covers bytes 0x0 - 0x29F */
#define SNP_SIG_COMPONENT_SIZE 72    /* r and s: little-endian, zero-padded to 72 bytes */

/* POLICY bits (ABI spec "Guest Policy Structure"). */
#define SNP_POLICY_SMT              (1ull << 16)
#define SNP_POLICY_RESERVED_1       (1ull << 17) /* must be one */
#define SNP_POLICY_MIGRATE_MA       (1ull << 18)
#define SNP_POLICY_DEBUG            (1ull << 19)
#define SNP_POLICY_SINGLE_SOCKET    (1ull << 20)
#define SNP_POLICY_CXL_ALLOW        (1ull << 21)
#define SNP_POLICY_MEM_AES_256_XTS  (1ull << 22)
#define SNP_POLICY_RAPL_DIS         (1ull << 23)
#define SNP_POLICY_CIPHERTEXT_HIDE  (1ull << 24)
#define SNP_POLICY_PAGE_SWAP_DISABL (1ull << 25)

/* Which key signed the report (report field SIGNING_KEY, bits 4:2 at 0x48). */
enum snp_signing_key { SNP_KEY_VCEK = 0, SNP_KEY_VLEK = 1, SNP_KEY_NONE = 7 };

/* TCB_VERSION: the layout depends on the product (Turin added an FMC SPL and moved the rest). */
struct snp_tcb {
    uint8_t fmc; /* Turin only (0 otherwise) */
    uint8_t bootloader, tee, snp, microcode;
};

struct snp_report {
    uint32_t version, guest_svn, vmpl, sig_algo;
    uint64_t policy, current_tcb, platform_info, reported_tcb, committed_tcb, launch_tcb;
    uint32_t flags; /* 0x48: AUTHOR_KEY_EN bit 0, MASK_CHIP_KEY bit 1, SIGNING_KEY bits 4:2 */
    uint8_t family_id[16], image_id[16];
    uint8_t report_data[64], measurement[48], host_data[32], id_key_digest[48];
    uint8_t author_key_digest[48], report_id[32], report_id_ma[32], chip_id[64];
    uint8_t cpuid_fam, cpuid_mod, cpuid_step; /* version >= 3, else 0 */
    uint8_t current_build, current_minor, current_major;
    uint8_t committed_build, committed_minor, committed_major;
    uint64_t launch_mit_vector, current_mit_vector;                       /* version >= 5, else 0 */
    uint8_t sig_r[SNP_SIG_COMPONENT_SIZE], sig_s[SNP_SIG_COMPONENT_SIZE]; /* little-endian */
};

/* Decode the raw report (exactly SNP_REPORT_SIZE bytes). Versions 2..5 are accepted (version 1
 * predates the fields the checks need). 0, or -1 with a message in err[errlen]. */
int snp_report_parse(struct snp_report *r, const uint8_t *data, size_t len, char *err,
                     size_t errlen);

/* The key that signed it (SIGNING_KEY field). */
enum snp_signing_key snp_report_signing_key(const struct snp_report *r);

/* Split a TCB_VERSION value; `turin` selects the Turin layout (FMC, BL, TEE, SNP, .., UCODE). */
struct snp_tcb snp_tcb_decode(uint64_t tcb, bool turin);

/* Parse "bl=N,tee=N,snp=N,ucode=N[,fmc=N]" (any subset; missing components are 0) or a raw
 * TCB_VERSION number ("0x..."). 0 or -1. */
int snp_tcb_parse_text(const char *s, bool turin, struct snp_tcb *out);

#endif
