/* launch_plan.c: builds the ordered launch-update list for SEV / SEV-ES / SNP / SNP-SVSM / TDX from
 * firmware bytes and a launch configuration (the single source of truth for VMM and measure). */
#include "tee/launch_plan.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "tee/sev_hashes.h"
#include "tee/vmsa.h"

#define FOUR_GIB         0x100000000ull
#define PAGE_SIZE_4K     4096ull
#define LAUNCH_MAX_VCPUS 4096u /* KVM_MAX_VCPUS on x86-64 */

static const char ERR_NO_RESET_BLOCK[] = "Can't find SEV_ES_RESET_BLOCK_GUID entry in OVMF table";

const char *launch_update_type_name(enum launch_update_type t)
{
    switch (t) {
    case LAUNCH_PAGE_NORMAL:
        return "NORMAL";
    case LAUNCH_PAGE_VMSA:
        return "VMSA";
    case LAUNCH_PAGE_ZERO:
        return "ZERO";
    case LAUNCH_PAGE_UNMEASURED:
        return "UNMEASURED";
    case LAUNCH_PAGE_SECRETS:
        return "SECRETS";
    case LAUNCH_PAGE_CPUID:
        return "CPUID";
    case LAUNCH_TDX_REGION:
        return "TDX_REGION";
    }
    return "?";
}

const char *launch_origin_name(enum launch_origin o)
{
    switch (o) {
    case LAUNCH_FROM_FIRMWARE:
        return "firmware";
    case LAUNCH_FROM_SVSM:
        return "svsm";
    case LAUNCH_FROM_SEV_METADATA:
        return "sev-metadata";
    case LAUNCH_FROM_KERNEL_HASHES:
        return "kernel-hashes";
    case LAUNCH_FROM_VMSA:
        return "vmsa";
    case LAUNCH_FROM_TDVF_SECTION:
        return "tdvf-section";
    }
    return "?";
}

void launch_plan_free(struct launch_plan *plan)
{
    free(plan->updates);
    free(plan->hashes_page);
    free(plan->vmsa_bsp);
    free(plan->vmsa_ap);
    plan->updates = NULL;
    plan->hashes_page = plan->vmsa_bsp = plan->vmsa_ap = NULL;
    plan->n = plan->cap = 0;
}

int launch_plan_walk(const struct launch_plan *plan, launch_update_fn fn, void *ctx)
{
    for (size_t i = 0; i < plan->n; i++) {
        int rc = fn(ctx, &plan->updates[i]);
        if (rc)
            return rc;
    }
    return 0;
}

static int plan_reserve(struct launch_plan *plan, size_t cap, struct fw_error *err)
{
    plan->updates = calloc(cap, sizeof(*plan->updates));
    if (!plan->updates)
        return fw_fail(err, "out of memory for %zu launch updates", cap);
    plan->cap = cap;
    return 0;
}

/* Append one update; zero-length regions are dropped (nothing to launch or measure). */
static int plan_add(struct launch_plan *plan, struct launch_update u, struct fw_error *err)
{
    if (u.len == 0)
        return 0;
    if (plan->n == plan->cap)
        return fw_fail(err, "internal error: launch plan capacity %zu exceeded", plan->cap);
    plan->updates[plan->n++] = u;
    return 0;
}

static struct launch_update region(enum launch_update_type type, enum launch_origin origin,
                                   uint32_t index, uint64_t gpa, uint64_t len, const uint8_t *data,
                                   uint64_t data_len)
{
    return (struct launch_update){.type = type,
                                  .origin = origin,
                                  .index = index,
                                  .gpa = gpa,
                                  .len = len,
                                  .data = data,
                                  .data_len = data_len};
}

static enum vmsa_vmm to_vmsa_vmm(enum launch_vmm_type v)
{
    return v == LAUNCH_VMM_EC2 ? VMSA_VMM_EC2 : v == LAUNCH_VMM_GCE ? VMSA_VMM_GCE : VMSA_VMM_QEMU;
}

/* An image ending at `end` (exclusive) must be page sized and lie below it. */
static int place_image(const char *what, size_t size, uint64_t end, bool need_pages, uint64_t *gpa,
                       struct fw_error *err)
{
    if (size == 0)
        return fw_fail(err, "%s file is empty", what);
    if (need_pages && size % PAGE_SIZE_4K)
        return fw_fail(err, "%s size %zu is not a multiple of 4096 bytes", what, size);
    if (size > end)
        return fw_fail(err, "%s (%zu bytes) does not fit below %#" PRIx64, what, size, end);
    *gpa = end - size;
    return 0;
}

/* A metadata section must not overlap a measured image (the PSP refuses a page twice). */
static int check_section_vs_image(const struct ovmf_image *img, uint64_t img_gpa, uint64_t img_len,
                                  const char *what, struct fw_error *err)
{
    for (size_t i = 0; i < img->n_sev_sections; i++) {
        const struct sev_meta_section *s = &img->sev_sections[i];
        if (s->gpa < img_gpa + img_len && img_gpa < (uint64_t)s->gpa + sev_section_span(s))
            return fw_fail(err, "SEV metadata section %zu (%s) at %#x overlaps the %s image", i,
                           sev_section_type_name(s->type), s->gpa, what);
    }
    return 0;
}

static int add_kernel_hashes_page(struct launch_plan *plan, const struct sev_meta_section *s,
                                  uint32_t idx, const struct launch_kernel_hashes *kh,
                                  struct fw_error *err)
{
    const struct ovmf_image *img = &plan->fw;
    if (!img->has_hash_table)
        return fw_fail(err, "Can't find SEV_HASH_TABLE_RV_GUID entry in OVMF table");
    if (s->size != PAGE_SIZE_4K)
        return fw_fail(err, "SNP_KERNEL_HASHES section size %#x is not exactly one page", s->size);
    if ((img->hash_table_gpa & ~0xfffu) != s->gpa)
        return fw_fail(err, "SEV hash table GPA %#x lies outside the SNP_KERNEL_HASHES page at %#x",
                       img->hash_table_gpa, s->gpa);
    plan->hashes_page = malloc(PAGE_SIZE_4K);
    if (!plan->hashes_page)
        return fw_fail(err, "out of memory");
    if (sev_hashes_page(plan->hashes_page, img->hash_table_gpa & 0xfffu, kh, err))
        return -1;
    return plan_add(plan,
                    region(LAUNCH_PAGE_NORMAL, LAUNCH_FROM_KERNEL_HASHES, idx, s->gpa, PAGE_SIZE_4K,
                           plan->hashes_page, PAGE_SIZE_4K),
                    err);
}

/* measurement.md §2.4 step 2 (and §2.9 for EC2 / GCE). */
static int add_sev_metadata(struct launch_plan *plan, const struct launch_kernel_hashes *kh,
                            enum launch_vmm_type vmm, struct fw_error *err)
{
    const struct ovmf_image *img = &plan->fw;
    for (uint32_t i = 0; i < img->n_sev_sections; i++) {
        const struct sev_meta_section *s = &img->sev_sections[i];
        int rc = 0;
        switch (s->type) {
        case SEV_SECTION_SNP_SEC_MEM:
            rc = plan_add(plan,
                          region(vmm == LAUNCH_VMM_GCE ? LAUNCH_PAGE_UNMEASURED : LAUNCH_PAGE_ZERO,
                                 LAUNCH_FROM_SEV_METADATA, i, s->gpa, s->size, NULL, 0),
                          err);
            break;
        case SEV_SECTION_SNP_SECRETS:
            rc = plan_add(plan,
                          region(LAUNCH_PAGE_SECRETS, LAUNCH_FROM_SEV_METADATA, i, s->gpa,
                                 PAGE_SIZE_4K, NULL, 0),
                          err);
            break;
        case SEV_SECTION_CPUID:
            if (vmm != LAUNCH_VMM_EC2)
                rc = plan_add(plan,
                              region(LAUNCH_PAGE_CPUID, LAUNCH_FROM_SEV_METADATA, i, s->gpa,
                                     PAGE_SIZE_4K, NULL, 0),
                              err);
            break;
        case SEV_SECTION_SVSM_CAA:
            rc = plan_add(
                plan,
                region(LAUNCH_PAGE_ZERO, LAUNCH_FROM_SEV_METADATA, i, s->gpa, s->size, NULL, 0),
                err);
            break;
        case SEV_SECTION_SNP_KERNEL_HASHES:
            if (kh)
                rc = add_kernel_hashes_page(plan, s, i, kh, err);
            else
                rc = plan_add(
                    plan,
                    region(LAUNCH_PAGE_ZERO, LAUNCH_FROM_SEV_METADATA, i, s->gpa, s->size, NULL, 0),
                    err);
            break;
        default:
            rc = fw_fail(err, "unknown OVMF metadata section type %#x", s->type);
        }
        if (rc)
            return -1;
    }
    if (vmm == LAUNCH_VMM_EC2) /* EC2 measures the CPUID pages after everything else */
        for (uint32_t i = 0; i < img->n_sev_sections; i++)
            if (img->sev_sections[i].type == SEV_SECTION_CPUID &&
                plan_add(plan,
                         region(LAUNCH_PAGE_CPUID, LAUNCH_FROM_SEV_METADATA, i,
                                img->sev_sections[i].gpa, PAGE_SIZE_4K, NULL, 0),
                         err))
                return -1;
    if (kh && !ovmf_has_sev_section(img, SEV_SECTION_SNP_KERNEL_HASHES))
        return fw_fail(
            err, "Kernel specified but OVMF metadata doesn't include SNP_KERNEL_HASHES section");
    return 0;
}

static int add_vmsas(struct launch_plan *plan, const struct launch_sev_config *cfg,
                     uint64_t features, struct fw_error *err)
{
    const struct vmsa_fpu_defaults *fpu = cfg->fpu_override ? &cfg->fpu : NULL;
    plan->vmsa_bsp = calloc(1, VMSA_SIZE);
    if (!plan->vmsa_bsp)
        return fw_fail(err, "out of memory");
    if (cfg->tee == LAUNCH_TEE_SNP_SVSM) {
        vmsa_build_svsm(plan->vmsa_bsp, plan->ap_eip, cfg->vcpu_sig, fpu);
    } else {
        enum vmsa_vmm vmm = to_vmsa_vmm(cfg->vmm);
        vmsa_build(plan->vmsa_bsp, vmm, VMSA_BSP_EIP, cfg->vcpu_sig, features, fpu);
        if (cfg->vcpus > 1) {
            if (plan->ap_eip == 0)
                return fw_fail(err,
                               "SEV-ES reset block gives AP entry point 0; cannot start "
                               "%u vCPUs",
                               cfg->vcpus);
            plan->vmsa_ap = calloc(1, VMSA_SIZE);
            if (!plan->vmsa_ap)
                return fw_fail(err, "out of memory");
            vmsa_build(plan->vmsa_ap, vmm, plan->ap_eip, cfg->vcpu_sig, features, fpu);
        }
    }
    for (uint32_t i = 0; i < cfg->vcpus; i++) {
        const uint8_t *page = (i == 0 || !plan->vmsa_ap) ? plan->vmsa_bsp : plan->vmsa_ap;
        if (plan_add(plan,
                     region(LAUNCH_PAGE_VMSA, LAUNCH_FROM_VMSA, i, SNP_VMSA_GPA, VMSA_SIZE, page,
                            VMSA_SIZE),
                     err))
            return -1;
    }
    return 0;
}

/* SEV and SEV-ES: firmware bytes, [176-byte hashes table], [VMSAs] (measurement.md §3). */
static int build_sev_legacy(struct launch_plan *plan, const struct launch_sev_config *cfg,
                            struct fw_error *err)
{
    const struct ovmf_image *img = &plan->fw;
    if (plan_add(plan,
                 region(LAUNCH_PAGE_NORMAL, LAUNCH_FROM_FIRMWARE, 0, plan->fw_gpa,
                        cfg->firmware_size, cfg->firmware, cfg->firmware_size),
                 err))
        return -1;
    if (cfg->kernel) {
        if (!ovmf_kernel_hashes_supported(img))
            return fw_fail(
                err, "Kernel specified but OVMF doesn't support kernel/initrd/cmdline measurement");
        if (img->hash_table_size < SEV_HASHES_TABLE_PADDED_LEN)
            return fw_fail(err, "SEV hash table area (%u bytes) is smaller than the %d-byte table",
                           img->hash_table_size, SEV_HASHES_TABLE_PADDED_LEN);
        plan->hashes_page = malloc(SEV_HASHES_TABLE_PADDED_LEN);
        if (!plan->hashes_page)
            return fw_fail(err, "out of memory");
        sev_hashes_table(plan->hashes_page, cfg->kernel);
        if (plan_add(plan,
                     region(LAUNCH_PAGE_NORMAL, LAUNCH_FROM_KERNEL_HASHES, 0, img->hash_table_gpa,
                            SEV_HASHES_TABLE_PADDED_LEN, plan->hashes_page,
                            SEV_HASHES_TABLE_PADDED_LEN),
                     err))
            return -1;
    }
    if (cfg->tee == LAUNCH_TEE_SEV)
        return 0;
    if (!img->has_reset_block)
        return fw_fail(err, "%s", ERR_NO_RESET_BLOCK);
    plan->ap_eip = img->sev_es_reset_eip;
    return add_vmsas(plan, cfg, 0, err);
}

static int build_snp(struct launch_plan *plan, const struct launch_sev_config *cfg,
                     struct fw_error *err)
{
    if (check_section_vs_image(&plan->fw, plan->fw_gpa, cfg->firmware_size, "firmware", err))
        return -1;
    if (plan_add(plan,
                 region(LAUNCH_PAGE_NORMAL, LAUNCH_FROM_FIRMWARE, 0, plan->fw_gpa,
                        cfg->firmware_size, cfg->firmware, cfg->firmware_size),
                 err))
        return -1;
    if (add_sev_metadata(plan, cfg->kernel, cfg->vmm, err))
        return -1;
    if (!plan->fw.has_reset_block)
        return fw_fail(err, "%s", ERR_NO_RESET_BLOCK);
    plan->ap_eip = plan->fw.sev_es_reset_eip;
    return add_vmsas(plan, cfg, cfg->guest_features, err);
}

/* snp:svsm: OVMF pages, SVSM pages, the SVSM's metadata, identical SVSM VMSAs (§4). */
static int build_svsm(struct launch_plan *plan, const struct launch_sev_config *cfg,
                      struct fw_error *err)
{
    if (cfg->vmm != LAUNCH_VMM_QEMU)
        return fw_fail(err, "SVSM mode is only implemented for QEMU");
    if (cfg->kernel)
        return fw_fail(err, "snp:svsm mode does not measure a kernel (no --kernel)");
    if (!cfg->svsm)
        return fw_fail(err, "snp:svsm mode requires an SVSM image");
    if (cfg->vars_size % PAGE_SIZE_4K || cfg->vars_size > plan->fw_gpa)
        return fw_fail(err,
                       "OVMF vars size %" PRIu64 " is not a multiple of 4096 below the "
                       "firmware",
                       cfg->vars_size);
    if (place_image("SVSM", cfg->svsm_size, plan->fw_gpa - cfg->vars_size, true, &plan->svsm_gpa,
                    err))
        return -1;
    /* OVMF is still parsed (and must be well formed); the SVSM's own metadata is measured. */
    if (ovmf_parse(&plan->fw, cfg->svsm, cfg->svsm_size, err))
        return -1;
    if (!plan->fw.has_svsm_info)
        return fw_fail(err, "Can't find SVSM_INFO_GUID entry in SVSM table");
    plan->ap_eip = (uint32_t)(plan->svsm_gpa + plan->fw.svsm_info_offset);
    if (plan->svsm_gpa + plan->fw.svsm_info_offset >= FOUR_GIB)
        return fw_fail(err, "SVSM entry point lies above 4 GiB");
    if (check_section_vs_image(&plan->fw, plan->fw_gpa, cfg->firmware_size, "firmware", err) ||
        check_section_vs_image(&plan->fw, plan->svsm_gpa, cfg->svsm_size, "SVSM", err))
        return -1;
    if (plan_add(plan,
                 region(LAUNCH_PAGE_NORMAL, LAUNCH_FROM_FIRMWARE, 0, plan->fw_gpa,
                        cfg->firmware_size, cfg->firmware, cfg->firmware_size),
                 err) ||
        plan_add(plan,
                 region(LAUNCH_PAGE_NORMAL, LAUNCH_FROM_SVSM, 0, plan->svsm_gpa, cfg->svsm_size,
                        cfg->svsm, cfg->svsm_size),
                 err))
        return -1;
    if (add_sev_metadata(plan, NULL, LAUNCH_VMM_QEMU, err))
        return -1;
    return add_vmsas(plan, cfg, 0x1, err);
}

int launch_plan_build_sev(struct launch_plan *plan, const struct launch_sev_config *cfg,
                          struct fw_error *err)
{
    memset(plan, 0, sizeof(*plan));
    plan->tee = cfg->tee;
    bool snp = cfg->tee == LAUNCH_TEE_SNP || cfg->tee == LAUNCH_TEE_SNP_SVSM;
    if (cfg->tee != LAUNCH_TEE_SEV && cfg->tee != LAUNCH_TEE_SEV_ES && !snp)
        return fw_fail(err, "not a SEV launch type");
    if (!cfg->firmware)
        return fw_fail(err, "no firmware given");
    if (cfg->ld_seed && cfg->tee != LAUNCH_TEE_SNP)
        return fw_fail(err, "SNP OVMF hash only works with SNP");
    if (cfg->vcpus > LAUNCH_MAX_VCPUS)
        return fw_fail(err, "%u vCPUs requested; at most %u are supported", cfg->vcpus,
                       LAUNCH_MAX_VCPUS);
    if (cfg->vmm != LAUNCH_VMM_QEMU && cfg->vmm != LAUNCH_VMM_EC2 && cfg->vmm != LAUNCH_VMM_GCE)
        return fw_fail(err, "unknown VMM type");
    if (place_image("OVMF", cfg->firmware_size, FOUR_GIB, snp, &plan->fw_gpa, err))
        return -1;
    plan->fw_size = cfg->firmware_size;
    if (ovmf_parse(&plan->fw, cfg->firmware, cfg->firmware_size, err))
        return -1;
    if (cfg->ld_seed) {
        memcpy(plan->seed_buf, cfg->ld_seed, sizeof(plan->seed_buf));
        plan->ld_seed = plan->seed_buf;
    }
    /* firmware + svsm + two per metadata section (EC2 CPUID pass) + hashes + vCPUs */
    if (plan_reserve(plan, 4 + 2 * SEV_META_MAX_SECTIONS + (size_t)cfg->vcpus, err))
        return -1;
    int rc;
    if (cfg->tee == LAUNCH_TEE_SNP)
        rc = build_snp(plan, cfg, err);
    else if (cfg->tee == LAUNCH_TEE_SNP_SVSM)
        rc = build_svsm(plan, cfg, err);
    else
        rc = build_sev_legacy(plan, cfg, err);
    if (rc)
        launch_plan_free(plan);
    return rc;
}

int launch_plan_build_tdx(struct launch_plan *plan, const struct launch_tdx_config *cfg,
                          struct fw_error *err)
{
    memset(plan, 0, sizeof(*plan));
    plan->tee = LAUNCH_TEE_TDX;
    plan->tdx_order = cfg->order;
    if (cfg->order != LAUNCH_TDX_PER_PAGE && cfg->order != LAUNCH_TDX_PER_SECTION)
        return fw_fail(err, "unknown TDX page order");
    if (!cfg->firmware || cfg->firmware_size == 0)
        return fw_fail(err, "firmware file is empty");
    if (tdvf_parse(&plan->tdvf, cfg->firmware, cfg->firmware_size, err))
        return -1;
    plan->fw_size = cfg->firmware_size;
    if (plan_reserve(plan, plan->tdvf.n_sections, err))
        return -1;
    for (uint32_t i = 0; i < plan->tdvf.n_sections; i++) {
        const struct tdvf_section *s = &plan->tdvf.sections[i];
        if (s->attributes & TDVF_ATTR_PAGE_AUG)
            continue;
        struct launch_update u =
            region(LAUNCH_TDX_REGION, LAUNCH_FROM_TDVF_SECTION, i, s->gpa, s->mem_size,
                   s->raw_size ? cfg->firmware + s->data_offset : NULL, s->raw_size);
        u.flags = (s->attributes & TDVF_ATTR_MR_EXTEND) ? LAUNCH_F_TDX_EXTEND : 0;
        if (plan_add(plan, u, err)) {
            launch_plan_free(plan);
            return -1;
        }
    }
    return 0;
}
