/* vmsa.c: builds the initial SEV-ES/SNP VMSA pages (QEMU/KVM, EC2, GCE, COCONUT-SVSM) and maps
 * QEMU vCPU model names to CPUID signatures. */
#include "tee/vmsa.h"

#include <string.h>

static void put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

static void put32(uint8_t *p, uint32_t v)
{
    put16(p, (uint16_t)v);
    put16(p + 2, (uint16_t)(v >> 16));
}

static void put64(uint8_t *p, uint64_t v)
{
    put32(p, (uint32_t)v);
    put32(p + 4, (uint32_t)(v >> 32));
}

/* struct vmcb_seg: u16 selector, u16 attrib, u32 limit, u64 base. */
static void put_seg(uint8_t *page, enum vmsa_offset off, uint16_t sel, uint16_t attrib,
                    uint32_t limit, uint64_t base)
{
    put16(page + off, sel);
    put16(page + off + 2, attrib);
    put32(page + off + 4, limit);
    put64(page + off + 8, base);
}

/* Registers common to every flavour after reset (KVM's defaults). */
static void put_common(uint8_t *page, uint32_t vcpu_sig, uint64_t sev_features, uint64_t g_pat,
                       const struct vmsa_fpu_defaults *fpu)
{
    put_seg(page, VMSA_OFF_GDTR, 0, 0, 0xffff, 0);
    put_seg(page, VMSA_OFF_IDTR, 0, 0, 0xffff, 0);
    put_seg(page, VMSA_OFF_LDTR, 0, 0x82, 0xffff, 0);
    put64(page + VMSA_OFF_EFER, 0x1000); /* EFER.SVME, set by KVM */
    put64(page + VMSA_OFF_CR4, 0x40);    /* CR4.MCE, set by KVM */
    put64(page + VMSA_OFF_DR7, 0x400);
    put64(page + VMSA_OFF_DR6, 0xffff0ff0);
    put64(page + VMSA_OFF_RFLAGS, 0x2);
    put64(page + VMSA_OFF_G_PAT, g_pat);
    put64(page + VMSA_OFF_RDX, vcpu_sig);
    put64(page + VMSA_OFF_SEV_FEATURES, sev_features);
    put64(page + VMSA_OFF_XCR0, 0x1);
    put32(page + VMSA_OFF_MXCSR, fpu->mxcsr);
    put16(page + VMSA_OFF_X87_FCW, fpu->fcw);
}

struct vmsa_fpu_defaults vmsa_fpu_default(enum vmsa_vmm vmm)
{
    if (vmm == VMSA_VMM_QEMU)
        return (struct vmsa_fpu_defaults){.mxcsr = 0x1f80, .fcw = 0x037f};
    return (struct vmsa_fpu_defaults){.mxcsr = 0, .fcw = 0};
}

void vmsa_build(uint8_t page[VMSA_SIZE], enum vmsa_vmm vmm, uint32_t eip, uint32_t vcpu_sig,
                uint64_t sev_features, const struct vmsa_fpu_defaults *fpu)
{
    struct vmsa_fpu_defaults def = vmsa_fpu_default(vmm);
    uint16_t cs_attr = 0x9b, ss_attr = 0x93, tr_attr = 0x8b;
    uint64_t g_pat = 0x0007040600070406ull;
    uint32_t rdx = vcpu_sig;
    if (vmm == VMSA_VMM_EC2) {
        cs_attr = eip == VMSA_BSP_EIP ? 0x9a : 0x9b;
        ss_attr = 0x92;
        tr_attr = 0x83;
        rdx = 0x600;
    } else if (vmm == VMSA_VMM_GCE) {
        g_pat = 0x00070106;
        rdx = 0x600;
    }
    memset(page, 0, VMSA_SIZE);
    put_seg(page, VMSA_OFF_ES, 0, 0x93, 0xffff, 0);
    put_seg(page, VMSA_OFF_CS, 0xf000, cs_attr, 0xffff, eip & 0xffff0000u);
    put_seg(page, VMSA_OFF_SS, 0, ss_attr, 0xffff, 0);
    put_seg(page, VMSA_OFF_DS, 0, 0x93, 0xffff, 0);
    put_seg(page, VMSA_OFF_FS, 0, 0x93, 0xffff, 0);
    put_seg(page, VMSA_OFF_GS, 0, 0x93, 0xffff, 0);
    put_seg(page, VMSA_OFF_TR, 0, tr_attr, 0xffff, 0);
    put64(page + VMSA_OFF_CR0, 0x10);
    put64(page + VMSA_OFF_RIP, eip & 0xffff);
    put_common(page, rdx, sev_features, g_pat, fpu ? fpu : &def);
}

void vmsa_build_svsm(uint8_t page[VMSA_SIZE], uint64_t entry_gpa, uint32_t vcpu_sig,
                     const struct vmsa_fpu_defaults *fpu)
{
    /* sev-snp-measure never sets X87_FCW for SVSM (see measurement.md §4); hardware agrees. */
    struct vmsa_fpu_defaults def = {.mxcsr = 0x1f80, .fcw = 0};
    memset(page, 0, VMSA_SIZE);
    put_seg(page, VMSA_OFF_ES, 16, 0xc93, 0xffffffff, 0);
    put_seg(page, VMSA_OFF_CS, 8, 0xc9b, 0xffffffff, 0);
    put_seg(page, VMSA_OFF_SS, 16, 0xc93, 0xffffffff, 0);
    put_seg(page, VMSA_OFF_DS, 16, 0xc93, 0xffffffff, 0);
    put_seg(page, VMSA_OFF_FS, 16, 0xc93, 0xffffffff, 0);
    put_seg(page, VMSA_OFF_GS, 0, 0x93, 0xffff, 0);
    put_seg(page, VMSA_OFF_TR, 0, 0x8b, 0xffff, 0);
    put64(page + VMSA_OFF_CR0, 0x11);
    put64(page + VMSA_OFF_RIP, entry_gpa);
    put_common(page, vcpu_sig, 0x1, 0x0007040600070406ull, fpu ? fpu : &def);
}

uint32_t vcpu_signature(uint32_t family, uint32_t model, uint32_t stepping)
{
    uint32_t fam_lo = family, fam_hi = 0;
    if (family > 0xf) {
        fam_lo = 0xf;
        fam_hi = (family - 0xf) & 0xff;
    }
    return fam_hi << 20 | ((model >> 4) & 0xf) << 16 | fam_lo << 8 | (model & 0xf) << 4 |
           (stepping & 0xf);
}

/* QEMU builtin_x86_defs AMD EPYC models (family, model, stepping). */
static const struct vcpu_type {
    const char *name;
    uint8_t family, model, stepping;
} vcpu_types[] = {
    {"EPYC", 23, 1, 2},          {"EPYC-v1", 23, 1, 2},       {"EPYC-v2", 23, 1, 2},
    {"EPYC-IBPB", 23, 1, 2},     {"EPYC-v3", 23, 1, 2},       {"EPYC-v4", 23, 1, 2},
    {"EPYC-Rome", 23, 49, 0},    {"EPYC-Rome-v1", 23, 49, 0}, {"EPYC-Rome-v2", 23, 49, 0},
    {"EPYC-Rome-v3", 23, 49, 0}, {"EPYC-Milan", 25, 1, 1},    {"EPYC-Milan-v1", 25, 1, 1},
    {"EPYC-Milan-v2", 25, 1, 1}, {"EPYC-Genoa", 25, 17, 0},   {"EPYC-Genoa-v1", 25, 17, 0},
    {"EPYC-Turin", 26, 0, 0},
};

int vcpu_type_signature(const char *name, uint32_t *sig)
{
    for (size_t i = 0; i < sizeof(vcpu_types) / sizeof(vcpu_types[0]); i++) {
        if (strcmp(name, vcpu_types[i].name) == 0) {
            *sig =
                vcpu_signature(vcpu_types[i].family, vcpu_types[i].model, vcpu_types[i].stepping);
            return 0;
        }
    }
    return -1;
}

const char *vcpu_type_name(size_t i)
{
    return i < sizeof(vcpu_types) / sizeof(vcpu_types[0]) ? vcpu_types[i].name : NULL;
}
