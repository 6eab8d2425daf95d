/* sim_tdx.c: simulated TDX module under KVM: checks the TD build order and folds its own MRTD. */
#include <errno.h>
#include <openssl/evp.h>
#include <string.h>

#include "tee/kvm_tee_uapi.h"
#include "tests/unit/support/sim_tee.h"

#define PAGE 4096ULL

/* What the simulated TDX module lets the VMM configure. */
#define SIM_TDX_ATTRS             (TEE_TDX_ATTR_DEBUG | TEE_TDX_ATTR_SEPT_VE_DISABLE | TEE_TDX_ATTR_PKS)
#define SIM_TDX_XFAM              0x6e7ULL
#define SIM_X2APIC                (1u << 21) /* CPUID.1.ECX */
#define SIM_KVM_MAX_CPUID_ENTRIES 256

/* The configurable CPUID bits KVM_TDX_CAPABILITIES reports. x2APIC (1.ECX bit 21) is a TDX
 * fixed-1 bit and so is never configurable (QEMU: tdx_fixed1_bits); KVM reports the GPAW field
 * 0x80000008.EAX[23:16] as configurable (td_init_cpuid_entry2 in arch/x86/kvm/vmx/tdx.c). */
static const struct kvm_cpuid_entry2 sim_tdx_cfg[] = {
    {.function = 1, .eax = ~0u, .ebx = ~0u, .ecx = 0x7ffefbffu & ~SIM_X2APIC, .edx = ~0u},
    {.function = 7,
     .index = 0,
     .flags = KVM_CPUID_FLAG_SIGNIFCANT_INDEX,
     .ebx = ~0u,
     .ecx = ~0u,
     .edx = 0xfc000000u},
    {.function = 0xd, .index = 0, .flags = KVM_CPUID_FLAG_SIGNIFCANT_INDEX, .eax = ~0u},
    {.function = 0xd, .index = 1, .flags = KVM_CPUID_FLAG_SIGNIFCANT_INDEX, .eax = ~0u},
    {.function = 0x80000008, .eax = 0x00ff0000u},
};
#define SIM_TDX_CFG_N (sizeof(sim_tdx_cfg) / sizeof(sim_tdx_cfg[0]))

void sim_tdx_free_md(void *md)
{
    if (md)
        EVP_MD_CTX_free(md);
}

static void mrtd_record(struct sim_tee *s, const char *tag, uint64_t gpa)
{
    uint8_t rec[128];
    memset(rec, 0, sizeof(rec));
    memcpy(rec, tag, strlen(tag));
    memcpy(rec + 16, &gpa, 8);
    EVP_DigestUpdate(s->md, rec, sizeof(rec));
}

static const struct kvm_cpuid_entry2 *cfg_entry(uint32_t fn, uint32_t idx)
{
    for (size_t i = 0; i < SIM_TDX_CFG_N; i++)
        if (sim_tdx_cfg[i].function == fn && sim_tdx_cfg[i].index == idx)
            return &sim_tdx_cfg[i];
    return NULL;
}

static const struct kvm_cpuid_entry2 *find_entry(const struct kvm_cpuid_entry2 *e, uint32_t n,
                                                 uint32_t fn, uint32_t idx)
{
    for (uint32_t i = 0; i < n; i++)
        if (e[i].function == fn && e[i].index == idx)
            return &e[i];
    return NULL;
}

/* The CPUID rules of KVM_TDX_INIT_VM (arch/x86/kvm/vmx/tdx.c). */
static int sim_tdx_init_vm_cpuid(struct sim_tee *s, const struct kvm_tdx_init_vm *iv)
{
    /* tdx_td_init: nent > KVM_MAX_CPUID_ENTRIES is -E2BIG, padding must be 0. */
    if (iv->cpuid.nent > SIM_KVM_MAX_CPUID_ENTRIES || iv->cpuid.padding) {
        sim_violation(s, "INIT_VM with %u CPUID entries / non-zero padding", iv->cpuid.nent);
        errno = iv->cpuid.padding ? EINVAL : E2BIG;
        return -1;
    }
    /* setup_tdparams_eptp_controls: leaf 0x80000008 must be there and its GPAW field
     * (EAX[23:16]) must say 48 or 52. */
    const struct kvm_cpuid_entry2 *pa =
        find_entry(iv->cpuid.entries, iv->cpuid.nent, 0x80000008, 0);
    unsigned gpaw = pa ? (pa->eax >> 16) & 0xff : 0;
    if (gpaw != 48 && gpaw != 52) {
        sim_violation(s, "INIT_VM CPUID lacks leaf 0x80000008 with GPAW 48 or 52 (got %u)", gpaw);
        errno = EINVAL;
        return -1;
    }
    /* setup_tdparams_cpuids: every entry needs a configurable slot (copy_cnt != nent is
     * -EINVAL); the TDX module (TDH.MNG.INIT) refuses bits outside the configurable ones. */
    for (uint32_t i = 0; i < iv->cpuid.nent; i++) {
        const struct kvm_cpuid_entry2 *e = &iv->cpuid.entries[i];
        const struct kvm_cpuid_entry2 *c = cfg_entry(e->function, e->index);
        if (!c || (e->eax & ~c->eax) || (e->ebx & ~c->ebx) || (e->ecx & ~c->ecx) ||
            (e->edx & ~c->edx)) {
            sim_violation(s, "INIT_VM CPUID 0x%x.%u sets bits the TDX module does not allow",
                          e->function, e->index);
            errno = EINVAL;
            return -1;
        }
    }
    return 0;
}

static int sim_tdx_init_vm(struct sim_tee *s, const struct kvm_tdx_init_vm *iv)
{
    /* tdx_td_init: state must be UNINITIALIZED; setup_tdparams: -EBUSY once vCPUs exist. */
    if (s->tdx_init_vm || s->nr_vcpus) {
        sim_violation(s, "KVM_TDX_INIT_VM repeated or after vCPU creation");
        errno = s->nr_vcpus ? EBUSY : EINVAL;
        return -1;
    }
    /* setup_tdparams: attributes / xfam beyond tdx_get_supported_attrs/_xfam are -EINVAL. */
    if ((iv->attributes & ~SIM_TDX_ATTRS) || (iv->xfam & ~SIM_TDX_XFAM)) {
        sim_violation(s, "INIT_VM attributes/XFAM beyond the capabilities");
        errno = EINVAL;
        return -1;
    }
    if (sim_tdx_init_vm_cpuid(s, iv) < 0)
        return -1;
    if (sim_eagain(s)) {
        errno = EAGAIN;
        return -1;
    }
    if (iv->cpuid.nent > SIM_TDX_MAX_CPUID) {
        sim_violation(s, "INIT_VM with %u CPUID entries", iv->cpuid.nent);
        errno = EINVAL;
        return -1;
    }
    const struct kvm_cpuid_entry2 *pa =
        find_entry(iv->cpuid.entries, iv->cpuid.nent, 0x80000008, 0);
    s->tdx_gpaw = (pa->eax >> 16) & 0xff;
    memcpy(s->tdx_cpuid, iv->cpuid.entries, iv->cpuid.nent * sizeof(s->tdx_cpuid[0]));
    s->tdx_cpuid_n = iv->cpuid.nent;
    s->tdx_attributes = iv->attributes;
    s->tdx_xfam = iv->xfam;
    memcpy(s->mrconfigid, iv->mrconfigid, sizeof(s->mrconfigid));
    s->md = EVP_MD_CTX_new();
    EVP_DigestInit_ex(s->md, EVP_sha384(), NULL);
    s->tdx_init_vm = true;
    return 0;
}

int sim_tdx_vm_cmd(struct sim_tee *s, void *arg)
{
    struct kvm_tdx_cmd *c = arg;
    /* tdx_vm_ioctl: hw_error must come in as 0; tdx_get_capabilities / tdx_td_init: flags 0. */
    if (c->flags || c->hw_error) {
        sim_violation(s, "TDX VM command %u with flags or hw_error set", c->id);
        errno = EINVAL;
        return -1;
    }
    switch (c->id) {
    case TEE_TDX_CAPABILITIES: {
        /* tdx_get_capabilities: -E2BIG when cpuid.nent < the module's CPUID configs (nent is not
         * written back: the caller grows and retries). */
        struct kvm_tdx_capabilities *caps = (void *)(uintptr_t)c->data;
        if (caps->cpuid.nent < SIM_TDX_CFG_N) {
            errno = E2BIG;
            return -1;
        }
        caps->supported_attrs = SIM_TDX_ATTRS;
        caps->supported_xfam = SIM_TDX_XFAM;
        caps->kernel_tdvmcallinfo_1_r11 = 0x1;
        caps->user_tdvmcallinfo_1_r11 = 0x2;
        caps->cpuid.nent = SIM_TDX_CFG_N;
        memcpy(caps->cpuid.entries, sim_tdx_cfg, sizeof(sim_tdx_cfg));
        s->tdx_caps = true;
        return 0;
    }
    case TEE_TDX_INIT_VM:
        return sim_tdx_init_vm(s, (const void *)(uintptr_t)c->data);
    case TEE_TDX_FINALIZE_VM:
        /* tdx_td_finalize: -EINVAL without INIT_VM (no HKID) or when already runnable. Finalizing
         * with no or uninitialised vCPUs is accepted by KVM but leaves vCPUs that can never run
         * (tdx_vcpu_pre_run), so it is flagged too. */
        if (!s->tdx_init_vm || s->tdx_finalized || !s->nr_vcpus) {
            sim_violation(s, "FINALIZE_VM out of order");
            errno = EINVAL;
            return -1;
        }
        for (unsigned i = 0; i < s->nr_vcpus; i++)
            if (!s->vcpu[i].tdx_init) {
                sim_violation(s, "FINALIZE_VM with vCPU %u not initialised", i);
                errno = EINVAL;
                return -1;
            }
        {
            unsigned n = 48;
            EVP_DigestFinal_ex(s->md, s->digest, &n);
        }
        s->tdx_finalized = true;
        s->digest_done = true;
        return 0;
    }
    sim_violation(s, "unknown TDX VM command %u", c->id);
    errno = EINVAL;
    return -1;
}

/* The TD HOB must be a hand-off table followed by HOBs up to an end-of-list within the page. */
static bool hob_valid(const uint8_t *p, size_t len)
{
    size_t off = 0;
    uint16_t type, hl;
    memcpy(&type, p, 2);
    if (type != 0x0001)
        return false;
    while (off + 8 <= len) {
        memcpy(&type, p + off, 2);
        memcpy(&hl, p + off + 2, 2);
        if (type == 0xffff)
            return hl == 8;
        if (hl < 8 || hl % 8)
            return false;
        off += hl;
    }
    return false;
}

/* tdx_vcpu_init_mem_region (vmx/tdx.c): the TD not yet runnable, flags only MEASURE, source and
 * GPA page aligned, nr_pages non-zero without wrap, the whole range below the shared bit
 * (vt_is_tdx_private_gpa): else -EINVAL; then kvm_gmem_populate (sim_check_private). */
static int sim_tdx_mem_region(struct sim_tee *s, struct kvm_tdx_cmd *c)
{
    struct kvm_tdx_init_mem_region *r = (void *)(uintptr_t)c->data;
    if (!s->tdx_init_vm || s->tdx_finalized) {
        sim_violation(s, "INIT_MEM_REGION outside INIT_VM..FINALIZE");
        errno = EINVAL;
        return -1;
    }
    uint64_t shared_bit = 1ULL << (s->tdx_gpaw - 1);
    if ((c->flags & ~KVM_TDX_MEASURE_MEMORY_REGION) || r->source_addr % PAGE || r->gpa % PAGE ||
        !r->nr_pages || r->nr_pages > SIM_MAX_PAGES || r->gpa + r->nr_pages * PAGE <= r->gpa ||
        r->gpa + r->nr_pages * PAGE - 1 >= shared_bit) {
        sim_violation(s, "INIT_MEM_REGION malformed");
        errno = EINVAL;
        return -1;
    }
    if (sim_check_private(s, r->gpa, r->nr_pages * PAGE, "INIT_MEM_REGION") < 0) {
        errno = EINVAL;
        return -1;
    }
    if (sim_eagain(s)) {
        errno = EAGAIN;
        return -1;
    }
    if (r->gpa == s->tdx_hob_gpa && s->tdx_hob_gpa) {
        s->tdx_hob_seen = true;
        s->tdx_hob_valid = hob_valid((const uint8_t *)(uintptr_t)r->source_addr, PAGE);
    }
    s->updates++;
    uint64_t pages = r->nr_pages;
    if (s->max_pages_per_call && pages > s->max_pages_per_call)
        pages = s->max_pages_per_call;
    for (uint64_t i = 0; i < pages; i++) {
        uint64_t gpa = r->gpa + i * PAGE;
        const uint8_t *src = (const uint8_t *)(uintptr_t)(r->source_addr + i * PAGE);
        if (s->page_added[gpa / PAGE]) {
            sim_violation(s, "page 0x%llx added twice", (unsigned long long)gpa);
            errno = EINVAL;
            return -1;
        }
        s->page_added[gpa / PAGE] = 1;
        mrtd_record(s, "MEM.PAGE.ADD", gpa);
        if (c->flags & KVM_TDX_MEASURE_MEMORY_REGION)
            for (int k = 0; k < 16; k++) {
                mrtd_record(s, "MR.EXTEND", gpa + 256 * (uint64_t)k);
                EVP_DigestUpdate(s->md, src + 256 * k, 256);
            }
        s->pages_measured++;
    }
    r->gpa += pages * PAGE;
    r->source_addr += pages * PAGE;
    r->nr_pages -= pages;
    if (r->nr_pages) {
        errno = EINTR; /* as KVM does when a signal is pending: the caller resumes */
        return -1;
    }
    return 0;
}

/* The guest physical-address width KVM derives from a vCPU's CPUID: cpuid_query_maxphyaddr
 * (arch/x86/kvm/cpuid.c) reads 0x80000008.EAX[7:0] when 0x80000000.EAX reaches it, else 36. */
static unsigned vcpu_maxphyaddr(const struct sim_vcpu *v)
{
    const struct kvm_cpuid_entry2 *max = find_entry(v->cpuid, v->cpuid_n, 0x80000000, 0);
    if (!max || max->eax < 0x80000008)
        return 36;
    const struct kvm_cpuid_entry2 *e = find_entry(v->cpuid, v->cpuid_n, 0x80000008, 0);
    return e ? e->eax & 0xff : 36;
}

/* tdx_vcpu_init switches the local APIC to x2APIC mode with kvm_apic_set_base(), which
 * (arch/x86/kvm/lapic.c) treats X2APIC_ENABLE as a reserved bit unless the vCPU's CPUID has
 * x2APIC: KVM_TDX_INIT_VCPU then fails with -EINVAL. */
static int sim_tdx_vcpu_x2apic(struct sim_tee *s, unsigned idx, const struct sim_vcpu *v)
{
    const struct kvm_cpuid_entry2 *l1 = find_entry(v->cpuid, v->cpuid_n, 1, 0);
    if (!l1 || !(l1->ecx & SIM_X2APIC)) {
        sim_violation(s, "INIT_VCPU on vCPU %u whose CPUID lacks x2APIC (kvm_apic_set_base)", idx);
        errno = EINVAL;
        return -1;
    }
    /* tdx_map_gpa() refuses a GPA that is not kvm_vcpu_is_legal_gpa() for this vCPU; the shared
     * bit is GPAW-1, so a vCPU whose MAXPHYADDR is below the TD's GPAW could never share a page
     * (every MapGPA to shared would get INVALID_OPERAND). Flagged here, where the cause is. */
    if (vcpu_maxphyaddr(v) < s->tdx_gpaw) {
        sim_violation(s,
                      "vCPU %u MAXPHYADDR %u (CPUID 0x80000008) is below the TD's GPAW %u: "
                      "tdx_map_gpa would refuse every shared GPA",
                      idx, vcpu_maxphyaddr(v), s->tdx_gpaw);
        errno = EINVAL;
        return -1;
    }
    return 0;
}

int sim_tdx_vcpu_cmd(struct sim_tee *s, unsigned vcpu, void *arg)
{
    struct kvm_tdx_cmd *c = arg;
    struct sim_vcpu *v = &s->vcpu[vcpu];
    /* tdx_vcpu_ioctl: -EINVAL before INIT_VM (no HKID), once the TD is runnable, or with
     * hw_error set on input. */
    if (!s->tdx_init_vm || s->tdx_finalized || c->hw_error) {
        sim_violation(s, "TDX vCPU command %u before INIT_VM, after FINALIZE or with hw_error",
                      c->id);
        errno = EINVAL;
        return -1;
    }
    switch (c->id) {
    case TEE_TDX_INIT_VCPU:
        /* tdx_vcpu_init: flags 0, vCPU state UNINITIALIZED; tdx_vcpu_ioctl: not once the TD
         * is runnable. */
        if (v->tdx_init || s->tdx_finalized || c->flags) {
            sim_violation(s, "INIT_VCPU repeated, late or malformed");
            errno = EINVAL;
            return -1;
        }
        if (sim_tdx_vcpu_x2apic(s, vcpu, v) < 0)
            return -1;
        v->tdx_init = true;
        v->tdx_rcx = c->data;
        if (vcpu == 0)
            s->tdx_hob_gpa = c->data;
        else if (c->data != s->tdx_hob_gpa) /* not a kernel rule: TDVF expects one HOB (QEMU) */
            sim_violation(s, "vCPUs were given different TD HOB addresses");
        return 0;
    case TEE_TDX_INIT_MEM_REGION:
        /* tdx_vcpu_init_mem_region: the vCPU must be VCPU_TD_STATE_INITIALIZED (-EINVAL). */
        if (!v->tdx_init) {
            sim_violation(s, "INIT_MEM_REGION on a vCPU before INIT_VCPU");
            errno = EINVAL;
            return -1;
        }
        return sim_tdx_mem_region(s, c);
    }
    sim_violation(s, "unknown TDX vCPU command %u", c->id);
    errno = EINVAL;
    return -1;
}
