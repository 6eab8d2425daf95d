/* verify_tdx.h: Intel PCS collateral for `verify tdx --collateral DIR`: TDX TCB info, TD QE
 * identity (both signed by the Intel SGX TCB Signing certificate) and the root / PCK CRLs, loaded
 * from files as Intel's PCS serves them, and the TCB status / QE identity evaluation. */
#ifndef COCOON_TOOLS_VERIFY_TDX_H
#define COCOON_TOOLS_VERIFY_TDX_H

#include <jansson.h>
#include <openssl/x509.h>
#include <time.h>

#include "firmware/ovmf.h"
#include "tools/verify_cli.h"
#include "tools/verify_tdx_quote.h"

/* File names expected in DIR (the PCS response bodies and issuer-chain headers, saved as is). */
#define TDX_COL_TCB_INFO  "tcb_info.json"                /* GET /tdx/certification/v4/tcb */
#define TDX_COL_TCB_CHAIN "tcb_info_issuer_chain.pem"    /* header TCB-Info-Issuer-Chain */
#define TDX_COL_QE_ID     "qe_identity.json"             /* GET /tdx/certification/v4/qe/identity */
#define TDX_COL_QE_CHAIN  "qe_identity_issuer_chain.pem" /* SGX-Enclave-Identity-Issuer-Chain */
#define TDX_COL_PCK_CRL   "pck_crl.der"  /* GET /sgx/certification/v4/pckcrl?ca=platform */
#define TDX_COL_ROOT_CRL  "root_crl.der" /* IntelSGXRootCA.der CRL */

struct tdx_collateral {
    X509_CRL *root_crl, *pck_crl;
    char *tcb_text, *qe_text; /* whole files, NUL-terminated */
    size_t tcb_len, qe_len;
    STACK_OF(X509) * tcb_chain, *qe_chain;
    json_t *tcb_doc, *qe_doc;           /* parsed files */
    const char *tcb_status, *qe_status; /* results, for JSON (point into the docs) */
};

/* Read every file of DIR; 0, or -1 with err naming the file. */
int tdx_collateral_load(struct tdx_collateral *c, const char *dir, struct fw_error *err);

/* Checks "collateral_tcb_info", "collateral_qe_identity", "qe_identity", "tcb_status". */
void tdx_collateral_check(struct vlog *l, struct tdx_collateral *c, const struct tdx_quote *q,
                          X509 *pck, time_t at);

/* Adds "tcb_status" / "qe_identity_status" to doc. */
void tdx_collateral_json(const struct tdx_collateral *c, json_t *doc);

void tdx_collateral_free(struct tdx_collateral *c);

#endif
