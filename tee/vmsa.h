/* vmsa.h: the initial SEV-ES/SNP VMSA page (4096 bytes) a VMM's vCPUs start from, as QEMU/KVM,
 * EC2 and GCE produce it (measurement.md §2.6, §4), plus the vCPU-signature table. */
#ifndef COCOON_TEE_VMSA_H
#define COCOON_TEE_VMSA_H

#include <stddef.h>
#include <stdint.h>

#define VMSA_SIZE    4096
#define VMSA_BSP_EIP 0xfffffff0u
#define SNP_VMSA_GPA 0x0000FFFFFFFFF000ull

/* Field offsets inside the VMSA (AMD APM vol. 2 table B-4), for a VMM that sets registers. */
enum vmsa_offset {
    VMSA_OFF_ES = 0x000,
    VMSA_OFF_CS = 0x010,
    VMSA_OFF_SS = 0x020,
    VMSA_OFF_DS = 0x030,
    VMSA_OFF_FS = 0x040,
    VMSA_OFF_GS = 0x050,
    VMSA_OFF_GDTR = 0x060,
    VMSA_OFF_LDTR = 0x070,
    VMSA_OFF_IDTR = 0x080,
    VMSA_OFF_TR = 0x090,
    VMSA_OFF_EFER = 0x0d0,
    VMSA_OFF_CR4 = 0x148,
    VMSA_OFF_CR0 = 0x158,
    VMSA_OFF_DR7 = 0x160,
    VMSA_OFF_DR6 = 0x168,
    VMSA_OFF_RFLAGS = 0x170,
    VMSA_OFF_RIP = 0x178,
    VMSA_OFF_G_PAT = 0x268,
    VMSA_OFF_RDX = 0x310,
    VMSA_OFF_SEV_FEATURES = 0x3b0,
    VMSA_OFF_XCR0 = 0x3e8,
    VMSA_OFF_MXCSR = 0x408,
    VMSA_OFF_X87_FCW = 0x410,
};

/* Initial x87/SSE control words KVM writes into the VMSA. Host kernels >= 6.10 (and QEMU's
 * model in sev-snp-measure >= 0.0.10): MXCSR 0x1f80, FCW 0x037f; older kernels, EC2, GCE: 0. */
struct vmsa_fpu_defaults {
    uint32_t mxcsr;
    uint16_t fcw;
};

enum vmsa_vmm { VMSA_VMM_QEMU = 1, VMSA_VMM_EC2, VMSA_VMM_GCE };

/* Write the reset-state VMSA of a vCPU entering at `eip` (BSP: VMSA_BSP_EIP; APs: the SEV-ES
 * reset block value) into page[VMSA_SIZE]. `fpu` NULL = the VMM type's default. */
void vmsa_build(uint8_t page[VMSA_SIZE], enum vmsa_vmm vmm, uint32_t eip, uint32_t vcpu_sig,
                uint64_t sev_features, const struct vmsa_fpu_defaults *fpu);

/* The COCONUT-SVSM VMSA (all vCPUs identical): 32-bit flat segments, RIP = entry GPA,
 * SEV_FEATURES 0x1, FCW 0 (as sev-snp-measure and the hardware-measured vectors have it). */
void vmsa_build_svsm(uint8_t page[VMSA_SIZE], uint64_t entry_gpa, uint32_t vcpu_sig,
                     const struct vmsa_fpu_defaults *fpu);

/* The default FPU words of a VMM type. */
struct vmsa_fpu_defaults vmsa_fpu_default(enum vmsa_vmm vmm);

/* CPUID Fn0000_0001_EAX signature from family/model/stepping (AMD CPUID spec). */
uint32_t vcpu_signature(uint32_t family, uint32_t model, uint32_t stepping);

/* The signature of a QEMU -cpu model name (EPYC, EPYC-v4, EPYC-Rome, EPYC-Milan-v2, ...).
 * Returns 0 and sets *sig, or -1 if the name is unknown. */
int vcpu_type_signature(const char *name, uint32_t *sig);

/* The i-th known vCPU model name (for --help and errors), NULL past the end. */
const char *vcpu_type_name(size_t i);

#endif
