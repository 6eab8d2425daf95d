/* launch_plan.h: the ordered list of measured launch updates for a SEV/SEV-ES/SEV-SNP/TDX guest,
 * shared by the VMM's launch sequence and cocoon-measure so the two cannot drift.
 *
 * Build a plan once from the firmware bytes and the launch configuration, then walk it:
 *   - the VMM walks it and issues one launch command per update, in order
 *     (SNP: KVM_SEV_SNP_LAUNCH_UPDATE{gfn=gpa>>12, uaddr=<copy of data>, len, type};
 *      SEV/SEV-ES: LAUNCH_UPDATE_DATA / LAUNCH_UPDATE_VMSA;
 *      TDX: KVM_TDX_INIT_MEM_REGION{gpa, nr_pages=len>>12, MEASURE iff LAUNCH_F_TDX_EXTEND});
 *   - the digest code (snp_digest.h, tdx_digest.h) folds the very same list into the launch
 *     digest / MRTD.
 * An update is a region (several pages); the SNP fold expands it into one PAGE_INFO update per
 * 4 KiB page, in ascending GPA order, exactly as the PSP does for one LAUNCH_UPDATE call. */
#ifndef COCOON_TEE_LAUNCH_PLAN_H
#define COCOON_TEE_LAUNCH_PLAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "firmware/ovmf.h"
#include "tee/vmsa.h"

enum launch_tee {
    LAUNCH_TEE_SEV = 1,  /* GCTX.LD = SHA-256 over the data updates */
    LAUNCH_TEE_SEV_ES,   /* ... then over the VMSAs */
    LAUNCH_TEE_SNP,      /* SHA-384 PAGE_INFO chain (measurement.md §2) */
    LAUNCH_TEE_SNP_SVSM, /* SNP with a COCONUT-SVSM image below OVMF (§4) */
    LAUNCH_TEE_TDX,      /* MRTD (§5) */
};

/* The values of the SNP page types equal the SNP PAGE_INFO / KVM_SEV_SNP_PAGE_TYPE_* codes
 * (KVM has no VMSA page type: the VMSA is measured by KVM at LAUNCH_FINISH from the vCPU state,
 * so the VMM must set registers that produce exactly `data`). */
enum launch_update_type {
    LAUNCH_PAGE_NORMAL = 1, /* SNP: measured contents; SEV/SEV-ES: LAUNCH_UPDATE_DATA bytes */
    LAUNCH_PAGE_VMSA = 2,   /* one 4096-byte VMSA per vCPU; gpa is the SNP VMSA GPA */
    LAUNCH_PAGE_ZERO = 3,
    LAUNCH_PAGE_UNMEASURED = 4,
    LAUNCH_PAGE_SECRETS = 5,
    LAUNCH_PAGE_CPUID = 6,    /* VMM supplies the CPUID table; measured as zero contents */
    LAUNCH_TDX_REGION = 0x20, /* TDX: TDH.MEM.PAGE.ADD every page (+ MR.EXTEND if flagged) */
};

#define LAUNCH_F_TDX_EXTEND 0x1u /* TDX: MR.EXTEND each page's 16 x 256-byte chunks */

/* Where an update comes from; for logs, --format json and tests. */
enum launch_origin {
    LAUNCH_FROM_FIRMWARE = 1,  /* the OVMF/TDVF image bytes */
    LAUNCH_FROM_SVSM,          /* the SVSM image bytes */
    LAUNCH_FROM_SEV_METADATA,  /* an ASEV section (index = section number) */
    LAUNCH_FROM_KERNEL_HASHES, /* the SEV hashes table (SNP: its page; SEV/ES: 176 bytes) */
    LAUNCH_FROM_VMSA,          /* index = vCPU number */
    LAUNCH_FROM_TDVF_SECTION,  /* a TDVF section (index = section number) */
};

struct launch_update {
    enum launch_update_type type;
    enum launch_origin origin;
    uint32_t index; /* section number or vCPU number, see origin */
    uint32_t flags; /* LAUNCH_F_* */
    uint64_t gpa;   /* page aligned except SEV/SEV-ES data updates */
    uint64_t len;   /* bytes; a multiple of 4096 for SNP and TDX */
    /* Bytes to place at gpa before the command; NULL means zero-filled memory (ZERO, SECRETS,
     * CPUID, UNMEASURED, TDX TempMem/TD_HOB). `data_len` may be < len (TDX raw_data_size <
     * memory size): the rest of the region is zero. Points into the caller's firmware bytes or
     * into buffers owned by the plan. */
    const uint8_t *data;
    uint64_t data_len;
};

/* SEV kernel-hashes inputs: SHA-256 digests (see sev_hashes.h to compute them). */
struct launch_kernel_hashes {
    uint8_t cmdline[32];
    uint8_t initrd[32];
    uint8_t kernel[32];
};

enum launch_vmm_type { LAUNCH_VMM_QEMU = 1, LAUNCH_VMM_EC2, LAUNCH_VMM_GCE };

/* Everything a SEV/SEV-ES/SNP launch depends on. */
struct launch_sev_config {
    enum launch_tee tee;     /* SEV, SEV_ES, SNP or SNP_SVSM */
    const uint8_t *firmware; /* the whole OVMF file; placed to end at 4 GiB */
    size_t firmware_size;
    const struct launch_kernel_hashes *kernel; /* NULL: no kernel given (-kernel absent) */
    uint32_t vcpus;
    uint32_t vcpu_sig;       /* CPUID Fn0000_0001_EAX of the guest model (QEMU only) */
    uint64_t guest_features; /* VMSA SEV_FEATURES (SNP); SEV-ES uses 0 */
    enum launch_vmm_type vmm;
    struct vmsa_fpu_defaults fpu; /* MXCSR/FCW the host KVM puts in the VMSA (see vmsa.h) */
    bool fpu_override;            /* false: use the VMM type's default */
    /* snp only: start from this launch digest instead of measuring the firmware pages (the
     * firmware is still parsed for its metadata). A VMM must refuse plans with this set. */
    const uint8_t *ld_seed; /* 48 bytes or NULL */
    /* snp:svsm only */
    const uint8_t *svsm;
    size_t svsm_size;
    uint64_t vars_size; /* size of the OVMF_VARS region between SVSM and OVMF */
};

enum launch_tdx_order {
    LAUNCH_TDX_PER_PAGE = 0, /* ADD(p), EXTEND(p) x16, next page: upstream KVM, QEMU >= 9 */
    LAUNCH_TDX_PER_SECTION,  /* ADD all pages of a section, then EXTEND them (QEMU 8.2 TDX) */
};

struct launch_tdx_config {
    const uint8_t *firmware;
    size_t firmware_size;
    enum launch_tdx_order order; /* only changes the fold, not the list of updates */
};

/* A built plan. Treat as read-only after launch_plan_build_*(). */
struct launch_plan {
    enum launch_tee tee;
    enum launch_tdx_order tdx_order;
    size_t n;
    struct launch_update *updates;
    const uint8_t *ld_seed; /* copy of launch_sev_config.ld_seed (48 bytes) or NULL */
    uint8_t seed_buf[48];
    uint64_t fw_gpa; /* where the firmware starts (SNP/SEV: 4 GiB - size) */
    uint64_t fw_size;
    uint64_t svsm_gpa;      /* snp:svsm */
    uint32_t ap_eip;        /* SEV-ES reset block value (0 if none); SVSM: entry GPA */
    struct ovmf_image fw;   /* parsed firmware (SEV flavours); SVSM: the SVSM image's metadata */
    struct tdvf_image tdvf; /* parsed TDVF (TDX) */
    /* plan-owned bytes the updates point into */
    uint8_t *hashes_page; /* SNP: 4096-byte kernel-hashes page; SEV/ES: the 176-byte table */
    uint8_t *vmsa_bsp;    /* 4096 bytes */
    uint8_t *vmsa_ap;     /* 4096 bytes (NULL with one vCPU) */
    size_t cap;
};

/* Build the SEV/SEV-ES/SNP/SNP-SVSM plan; refuses invalid combinations with the same reasons
 * sev-snp-measure gives (e.g. a kernel with a firmware that has no kernel-hashes section).
 * 0 on success; -1 with err filled. On failure nothing needs freeing. */
int launch_plan_build_sev(struct launch_plan *plan, const struct launch_sev_config *cfg,
                          struct fw_error *err);

/* Build the TDX plan: one LAUNCH_TDX_REGION per TDVF section in descriptor order (sections
 * flagged PAGE.AUG are left out: they are accepted by the guest later, not added). */
int launch_plan_build_tdx(struct launch_plan *plan, const struct launch_tdx_config *cfg,
                          struct fw_error *err);

/* Callback for launch_plan_walk(); return non-zero to stop the walk with that value. */
typedef int (*launch_update_fn)(void *ctx, const struct launch_update *u);

/* Call fn for every update in launch order; returns 0 or the first non-zero fn result. */
int launch_plan_walk(const struct launch_plan *plan, launch_update_fn fn, void *ctx);

/* Release what the plan owns (safe on a zeroed or already-freed plan). */
void launch_plan_free(struct launch_plan *plan);

/* Names for logs and JSON: "NORMAL", "VMSA", ...; "firmware", "sev-metadata", .... */
const char *launch_update_type_name(enum launch_update_type t);
const char *launch_origin_name(enum launch_origin o);

#endif
