/* verify_tdx_quote.h: the Intel TDX DCAP quote, versions 4 and 5 (Intel "TDX DCAP Quoting Library
 * API", appendix "Quote Format"), decoded by a bounds-checked parser (no cryptography here). The
 * parsed structure points into the caller's buffer, which must outlive it. */
#ifndef COCOON_TOOLS_VERIFY_TDX_QUOTE_H
#define COCOON_TOOLS_VERIFY_TDX_QUOTE_H

#include <stddef.h>
#include <stdint.h>

#define TDX_QUOTE_HEADER_SIZE   48
#define TDX_REPORT_BODY_V4_SIZE 584 /* TDX 1.0 TD report body */
#define TDX_REPORT_BODY_V5_SIZE 648 /* TDX 1.5: + TEE_TCB_SVN2, MRSERVICETD */
#define SGX_REPORT_BODY_SIZE    384 /* the QE's enclave report */
#define TDX_ATT_KEY_ECDSA_P256  2
#define TDX_TEE_TYPE_TDX        0x81
#define TDX_CERT_QE_REPORT      6 /* certification data: QE report + PCK certification data */
#define TDX_CERT_PCK_CHAIN      5 /* certification data: PEM PCK leaf, intermediate, root */

struct tdx_td_report {
    const uint8_t *tee_tcb_svn;    /* 16 */
    const uint8_t *mr_seam;        /* 48 */
    const uint8_t *mr_signer_seam; /* 48 */
    uint64_t seam_attributes, td_attributes, xfam;
    const uint8_t *mr_td, *mr_config_id, *mr_owner, *mr_owner_config; /* 48 each */
    const uint8_t *rtmr[4];                                           /* 48 each */
    const uint8_t *report_data;                                       /* 64 */
    const uint8_t *tee_tcb_svn2;                                      /* 16, v5 TDX 1.5 only */
    const uint8_t *mr_service_td;                                     /* 48, v5 TDX 1.5 only */
};

struct sgx_report_body {
    const uint8_t *cpu_svn; /* 16 */
    uint32_t misc_select;
    const uint8_t *attributes;             /* 16 */
    const uint8_t *mr_enclave, *mr_signer; /* 32 each */
    uint16_t isv_prod_id, isv_svn;
    const uint8_t *report_data; /* 64 */
};

struct tdx_quote {
    uint16_t version, att_key_type, qe_svn, pce_svn;
    uint32_t tee_type;
    const uint8_t *qe_vendor_id; /* 16 */
    const uint8_t *user_data;    /* 20 */
    uint16_t body_type;          /* v5: 2 = TDX 1.0, 3 = TDX 1.5; v4: 2 */
    struct tdx_td_report td;
    const uint8_t *signed_data; /* header + (v5 body descriptor) + body: what the key signs */
    size_t signed_len;
    const uint8_t *signature; /* 64: r || s, big-endian */
    const uint8_t *att_key;   /* 64: x || y, big-endian */
    const uint8_t *qe_report; /* 384: signed by the PCK key */
    struct sgx_report_body qe;
    const uint8_t *qe_report_sig; /* 64: r || s */
    const uint8_t *qe_auth_data;
    size_t qe_auth_len;
    const uint8_t *pck_chain_pem; /* certification data type 5: PEM certificates */
    size_t pck_chain_len;
    size_t quote_len; /* bytes used; any rest of the buffer was zero padding */
    size_t padding_len;
};

/* Decode a quote. Trailing bytes after the signature data are accepted only if all zero
 * (fixed-size buffers of some quote tools); anything else is refused as unsigned data.
 * 0, or -1 with a message in err[errlen]. */
int tdx_quote_parse(struct tdx_quote *q, const uint8_t *data, size_t len, char *err, size_t errlen);

#endif
