/* tdx_digest.h: Intel TDX MRTD (one running SHA-384 over TDH.MEM.PAGE.ADD / TDH.MR.EXTEND
 * records, measurement.md §5.2) in both page orders, and the CFV (variable store) digest. */
#ifndef COCOON_TEE_TDX_DIGEST_H
#define COCOON_TEE_TDX_DIGEST_H

#include <stddef.h>
#include <stdint.h>

#include "firmware/ovmf.h"
#include "tee/launch_plan.h"

#define TDX_MR_SIZE 48

/* Fold a TDX plan into MRTD, in plan->tdx_order. */
int tdx_mrtd_plan(const struct launch_plan *plan, uint8_t mrtd[TDX_MR_SIZE], struct fw_error *err);

/* SHA-384 of the first CFV section's file bytes (the RTMR0 event for the variable store). */
int tdx_cfv_digest(const struct tdvf_image *img, uint8_t out[TDX_MR_SIZE], struct fw_error *err);

/* The 128-byte TDH.MEM.PAGE.ADD / TDH.MR.EXTEND records as the TDX module hashes them. */
void tdx_page_add_record(uint8_t rec[128], uint64_t gpa);
void tdx_mr_extend_record(uint8_t rec[128], uint64_t gpa);

#endif
