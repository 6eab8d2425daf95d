/* sim_snp.c: simulated SEV-SNP firmware: checks INIT2/LAUNCH_* and folds its own launch digest. */
#include <errno.h>
#include <openssl/evp.h>
#include <string.h>

#include "tee/kvm_tee_uapi.h"
#include "tests/unit/support/sim_tee.h"

#define PAGE      4096ULL
#define VMSA_GPA  0x0000FFFFFFFFF000ULL
#define EFER_SVME (1ULL << 12)
#define CR4_MCE   0x40ULL
#define CR0_CD_NW 0x60000000ULL
/* SNP_POLICY_MASK_VALID of arch/x86/kvm/svm/sev.c: ABI minor/major, SMT, RSVD_MBO, MIGRATE_MA,
 * DEBUG, SINGLE_SOCKET. */
#define SIM_SNP_POLICY_VALID         0x1fffffULL
#define SIM_SNP_POLICY_SINGLE_SOCKET (1ULL << 20)

static void sha384(const void *data, size_t len, uint8_t out[48])
{
    unsigned n = 48;
    EVP_Digest(data, len, out, &n, EVP_sha384(), NULL);
}

/* The firmware's PAGE_INFO fold (SNP ABI): LD = SHA-384(LD || contents || len 0x70 || type ...). */
static void fold(struct sim_tee *s, uint8_t type, uint64_t gpa, const uint8_t contents[48])
{
    uint8_t info[0x70];
    memset(info, 0, sizeof(info));
    memcpy(info, s->digest, 48);
    memcpy(info + 0x30, contents, 48);
    info[0x60] = 0x70;
    info[0x62] = type;
    memcpy(info + 0x68, &gpa, 8);
    sha384(info, sizeof(info), s->digest);
    s->pages_measured++;
}

static void put(uint8_t *v, size_t off, uint64_t val, size_t n)
{
    memcpy(v + off, &val, n);
}

static void put_seg(uint8_t *v, size_t off, const struct kvm_segment *sg)
{
    uint16_t attrib = 0;
    if (sg->present && !sg->unusable)
        attrib = (uint16_t)((sg->type & 0xf) | (sg->s & 1) << 4 | (sg->dpl & 3) << 5 | 1 << 7 |
                            (sg->avl & 1) << 8 | (sg->l & 1) << 9 | (sg->db & 1) << 10 |
                            (sg->g & 1) << 11);
    put(v, off, sg->selector, 2);
    put(v, off + 2, attrib, 2);
    put(v, off + 4, sg->limit, 4);
    put(v, off + 8, sg->base, 8);
}

/* What KVM writes into a vCPU's VMSA at LAUNCH_FINISH: the VMCB save area (segments, control
 * registers as the VMCB holds them) plus the synced GPRs, XCR0, FPU words and SEV features. */
static void sim_build_vmsa(const struct sim_tee *s, const struct sim_vcpu *vc, uint8_t v[4096])
{
    struct kvm_sregs sr;
    memcpy(&sr, vc->sregs, sizeof(sr));
    memset(v, 0, 4096);
    put_seg(v, 0x00, &sr.es);
    put_seg(v, 0x10, &sr.cs);
    put_seg(v, 0x20, &sr.ss);
    put_seg(v, 0x30, &sr.ds);
    put_seg(v, 0x40, &sr.fs);
    put_seg(v, 0x50, &sr.gs);
    put(v, 0x64, sr.gdt.limit, 4);
    put(v, 0x68, sr.gdt.base, 8);
    put_seg(v, 0x70, &sr.ldt);
    put(v, 0x84, sr.idt.limit, 4);
    put(v, 0x88, sr.idt.base, 8);
    put_seg(v, 0x90, &sr.tr);
    put(v, 0xd0, sr.efer | EFER_SVME, 8);
    put(v, 0x148, sr.cr4 | CR4_MCE, 8);
    put(v, 0x150, sr.cr3, 8);
    put(v, 0x158, sr.cr0 & ~CR0_CD_NW, 8);
    put(v, 0x160, vc->dr7, 8);
    put(v, 0x168, vc->dr6, 8);
    put(v, 0x170, vc->regs_rflags, 8);
    put(v, 0x178, vc->regs_rip, 8);
    put(v, 0x1d8, vc->gprs[4], 8);
    put(v, 0x1f8, vc->gprs[0], 8);
    put(v, 0x268, vc->pat, 8);
    put(v, 0x308, vc->gprs[1], 8);
    put(v, 0x310, vc->regs_rdx, 8);
    put(v, 0x318, vc->gprs[3], 8);
    put(v, 0x328, vc->gprs[5], 8);
    put(v, 0x330, vc->gprs[6], 8);
    put(v, 0x338, vc->gprs[7], 8);
    for (int r = 8; r < 16; r++)
        put(v, 0x340 + 8 * (size_t)(r - 8), vc->gprs[r], 8);
    put(v, 0x3b0, s->vmsa_features | 1, 8);
    put(v, 0x3e8, vc->xcr0, 8);
    put(v, 0x408, vc->mxcsr, 4);
    put(v, 0x410, vc->fcw, 2);
}

/* The firmware's CPUID check (SNP ABI 56860, SNP_LAUNCH_UPDATE of a CPUID page: each function
 * is checked against what the platform allows; INVALID_PARAM with the corrected table, which
 * KVM's sev_gmem_post_populate copies back to the caller's page): SPEC_CTRL-family bits of 7.0.EDX
 * and the test's forced leaf are not allowed here. */
static bool sim_cpuid_ok(struct sim_tee *s, uint8_t *page)
{
    struct tee_snp_cpuid_page *p = (struct tee_snp_cpuid_page *)page;
    bool ok = p->count <= TEE_SNP_CPUID_MAX;
    for (uint32_t i = 0; ok && i < p->count; i++) {
        struct tee_snp_cpuid_entry *e = &p->entries[i];
        if (e->eax_in == 7 && e->ecx_in == 0 && (e->edx & 0xfc000000u)) {
            e->edx &= ~0xfc000000u;
            ok = false;
        }
        if (s->cpuid_reject_ecx && e->eax_in == s->cpuid_reject_leaf &&
            (e->ecx & s->cpuid_reject_ecx)) {
            e->ecx &= ~s->cpuid_reject_ecx;
            ok = false;
        }
    }
    return ok;
}

/* snp_launch_update (svm/sev.c): needs the SNP context (LAUNCH_START) and not yet finished; len
 * non-zero and page aligned, flags 0, a known page type, the source page aligned unless ZERO
 * (enforced since the 6.20 guest_memfd changes): else -EINVAL; then kvm_gmem_populate
 * (sim_check_private). */
static int sim_snp_update(struct sim_tee *s, struct kvm_sev_cmd *c)
{
    struct kvm_sev_snp_launch_update *u = (void *)(uintptr_t)c->data;
    if (!s->snp_started || s->snp_finished) {
        sim_violation(s, "SNP_LAUNCH_UPDATE outside LAUNCH_START..FINISH");
        errno = EINVAL;
        return -1;
    }
    static const uint8_t types[] = {1, 3, 4, 5, 6};
    if (!memchr(types, u->type, sizeof(types)) || u->flags || !u->len || u->len % PAGE ||
        (u->type != KVM_SEV_SNP_PAGE_TYPE_ZERO && u->uaddr % PAGE)) {
        sim_violation(s, "SNP_LAUNCH_UPDATE malformed (type %u len 0x%llx uaddr 0x%llx)", u->type,
                      (unsigned long long)u->len, (unsigned long long)u->uaddr);
        errno = EINVAL;
        return -1;
    }
    /* Not a kernel refusal: QEMU and OVMF give each CPUID/SECRETS page its own update. */
    if ((u->type == KVM_SEV_SNP_PAGE_TYPE_CPUID || u->type == KVM_SEV_SNP_PAGE_TYPE_SECRETS) &&
        u->len != PAGE)
        sim_violation(s, "SNP_LAUNCH_UPDATE: CPUID/SECRETS updates are one page each");
    uint64_t gpa = u->gfn_start * PAGE;
    if (sim_check_private(s, gpa, u->len, "SNP_LAUNCH_UPDATE") < 0) {
        errno = EINVAL;
        return -1;
    }
    if (sim_eagain(s)) {
        errno = EAGAIN;
        return -1;
    }
    s->updates++;
    uint64_t pages = u->len / PAGE;
    if (s->max_pages_per_call && pages > s->max_pages_per_call)
        pages = s->max_pages_per_call;
    for (uint64_t i = 0; i < pages; i++) {
        uint64_t pfn = u->gfn_start + i;
        uint8_t *src = (uint8_t *)(uintptr_t)(u->uaddr + i * PAGE);
        if (s->page_added[pfn]) {
            sim_violation(s, "page 0x%llx validated twice", (unsigned long long)(pfn * PAGE));
            errno = EINVAL;
            return -1;
        }
        if (u->type == KVM_SEV_SNP_PAGE_TYPE_CPUID && !sim_cpuid_ok(s, src)) {
            s->cpuid_rejections++;
            c->error = TEE_SEV_RET_INVALID_PARAM;
            errno = EIO;
            return -1;
        }
        uint8_t contents[48] = {0};
        if (u->type == KVM_SEV_SNP_PAGE_TYPE_NORMAL)
            sha384(src, PAGE, contents);
        if (u->type == KVM_SEV_SNP_PAGE_TYPE_CPUID)
            memcpy(s->snp_cpuid_page, src, PAGE);
        fold(s, u->type, pfn * PAGE, contents);
        s->page_added[pfn] = 1;
    }
    u->gfn_start += pages;
    u->uaddr += pages * PAGE;
    u->len -= pages * PAGE;
    return 0;
}

int sim_snp_cmd(struct sim_tee *s, void *arg)
{
    struct kvm_sev_cmd *c = arg;
    /* sev_issue_cmd_external_user (drivers/crypto/ccp/sev-dev.c): sev_fd must be an open
     * /dev/sev, else -EBADF. */
    if ((int)c->sev_fd != s->sev_fd || s->sev_fd < 0) {
        sim_violation(s, "SEV command %u without the /dev/sev fd", c->id);
        errno = EBADF;
        return -1;
    }
    switch (c->id) {
    case TEE_SEV_INIT2: {
        /* __sev_guest_init (svm/sev.c): once only (-EINVAL when already active), flags 0,
         * vmsa_features within KVM_X86_SEV_VMSA_FEATURES, ghcb_version <= GHCB_VERSION_MAX (2),
         * no vCPU yet. */
        const struct kvm_sev_init *i = (void *)(uintptr_t)c->data;
        if (s->snp_init2 || i->flags || (i->vmsa_features & ~0x3eULL) || i->ghcb_version > 2 ||
            s->nr_vcpus) {
            sim_violation(s, "KVM_SEV_INIT2 repeated or malformed");
            errno = EINVAL;
            return -1;
        }
        s->vmsa_features = i->vmsa_features;
        s->snp_init2 = true;
        return 0;
    }
    case TEE_SEV_SNP_LAUNCH_START: {
        const struct kvm_sev_snp_launch_start *st = (void *)(uintptr_t)c->data;
        /* snp_launch_start (arch/x86/kvm/svm/sev.c): one context, flags 0, policy within
         * SNP_POLICY_MASK_VALID, RSVD_MBO set, SINGLE_SOCKET refused: all -EINVAL. */
        if (!s->snp_init2 || s->snp_started || st->flags) {
            sim_violation(s, "SNP_LAUNCH_START before INIT2, repeated or malformed");
            errno = EINVAL;
            return -1;
        }
        if (!s->hypercall_exit)
            sim_violation(s, "SNP_LAUNCH_START before the MAP_GPA_RANGE exit was enabled");
        if ((st->policy & ~SIM_SNP_POLICY_VALID) || !(st->policy & TEE_SNP_POLICY_RSVD_MBO) ||
            (st->policy & SIM_SNP_POLICY_SINGLE_SOCKET)) {
            errno = EINVAL;
            return -1;
        }
        /* SNP firmware ABI (56860), SNP_LAUNCH_START: POLICY.SMT = 0 while SMT is enabled on
         * the platform fails with POLICY_FAILURE. */
        if (s->host_smt && !(st->policy & TEE_SNP_POLICY_SMT)) {
            c->error = TEE_SEV_RET_POLICY_FAILURE;
            errno = EIO;
            return -1;
        }
        s->policy = st->policy;
        s->snp_started = true;
        return 0;
    }
    case TEE_SEV_SNP_LAUNCH_UPDATE:
        return sim_snp_update(s, c);
    case TEE_SEV_SNP_LAUNCH_FINISH: {
        /* snp_launch_finish (svm/sev.c): needs the SNP context, once, flags 0 (-EINVAL); it turns
         * every vCPU's registers into its VMSA (snp_launch_update_vmsa), measured as below. */
        const struct kvm_sev_snp_launch_finish *f = (void *)(uintptr_t)c->data;
        if (!s->snp_started || s->snp_finished || f->flags) {
            sim_violation(s, "SNP_LAUNCH_FINISH out of order or malformed");
            errno = EINVAL;
            return -1;
        }
        uint8_t vmsa[4096];
        for (unsigned i = 0; i < s->nr_vcpus; i++) {
            uint8_t h[48];
            sim_build_vmsa(s, &s->vcpu[i], vmsa);
            sha384(vmsa, sizeof(vmsa), h);
            fold(s, 2, VMSA_GPA, h);
        }
        memcpy(s->host_data, f->host_data, sizeof(s->host_data));
        s->snp_finished = true;
        s->digest_done = true;
        return 0;
    }
    }
    sim_violation(s, "unknown SEV command %u", c->id);
    errno = EINVAL;
    return -1;
}
