/* sim_tdx.c: simulated TDX module under KVM: checks the TD build order and folds its own MRTD. */
#include <errno.h>
#include <openssl/evp.h>
#include <string.h>

#include "tee/kvm_tee_uapi.h"
#include "tests/unit/support/sim_tee.h"

#define PAGE 4096ULL

/* What the simulated TDX module lets the VMM configure. */
#define SIM_TDX_ATTRS (TEE_TDX_ATTR_DEBUG | TEE_TDX_ATTR_SEPT_VE_DISABLE | TEE_TDX_ATTR_PKS)
#define SIM_TDX_XFAM  0x6e7ULL

static const struct kvm_cpuid_entry2 sim_tdx_cfg[] = {
    {.function = 1, .eax = ~0u, .ebx = ~0u, .ecx = 0x7ffefbffu, .edx = ~0u},
    {.function = 7,
     .index = 0,
     .flags = KVM_CPUID_FLAG_SIGNIFCANT_INDEX,
     .ebx = ~0u,
     .ecx = ~0u,
     .edx = 0xfc000000u},
    {.function = 0xd, .index = 0, .flags = KVM_CPUID_FLAG_SIGNIFCANT_INDEX, .eax = ~0u},
    {.function = 0xd, .index = 1, .flags = KVM_CPUID_FLAG_SIGNIFCANT_INDEX, .eax = ~0u},
    {.function = 0x80000008, .eax = 0xff},
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

static int sim_tdx_init_vm(struct sim_tee *s, const struct kvm_tdx_init_vm *iv)
{
    if (s->tdx_init_vm || s->nr_vcpus) {
        sim_violation(s, "KVM_TDX_INIT_VM repeated or after vCPU creation");
        errno = EINVAL;
        return -1;
    }
    if ((iv->attributes & ~SIM_TDX_ATTRS) || (iv->xfam & ~SIM_TDX_XFAM)) {
        sim_violation(s, "INIT_VM attributes/XFAM beyond the capabilities");
        errno = EINVAL;
        return -1;
    }
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
    if (sim_eagain(s)) {
        errno = EAGAIN;
        return -1;
    }
    if (iv->cpuid.nent > SIM_TDX_MAX_CPUID) {
        sim_violation(s, "INIT_VM with %u CPUID entries", iv->cpuid.nent);
        errno = EINVAL;
        return -1;
    }
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
    if (c->flags) {
        sim_violation(s, "TDX VM command %u with flags", c->id);
        errno = EINVAL;
        return -1;
    }
    switch (c->id) {
    case TEE_TDX_CAPABILITIES: {
        struct kvm_tdx_capabilities *caps = (void *)(uintptr_t)c->data;
        if (caps->cpuid.nent < SIM_TDX_CFG_N) {
            caps->cpuid.nent = SIM_TDX_CFG_N;
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

static int sim_tdx_mem_region(struct sim_tee *s, struct kvm_tdx_cmd *c)
{
    struct kvm_tdx_init_mem_region *r = (void *)(uintptr_t)c->data;
    if (!s->tdx_init_vm || s->tdx_finalized) {
        sim_violation(s, "INIT_MEM_REGION outside INIT_VM..FINALIZE");
        errno = EINVAL;
        return -1;
    }
    if ((c->flags & ~KVM_TDX_MEASURE_MEMORY_REGION) || r->source_addr % PAGE || !r->nr_pages ||
        r->nr_pages > SIM_MAX_PAGES) {
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

static bool same_as_init_vm(const struct sim_tee *s, const struct kvm_cpuid2 *c)
{
    if (c->nent != s->tdx_cpuid_n)
        return false;
    for (uint32_t i = 0; i < c->nent; i++) {
        const struct kvm_cpuid_entry2 *e = &c->entries[i];
        bool found = false;
        for (uint32_t j = 0; j < s->tdx_cpuid_n && !found; j++) {
            const struct kvm_cpuid_entry2 *w = &s->tdx_cpuid[j];
            found = w->function == e->function && w->index == e->index && w->eax == e->eax &&
                    w->ebx == e->ebx && w->ecx == e->ecx && w->edx == e->edx;
        }
        if (!found)
            return false;
    }
    return true;
}

int sim_tdx_set_cpuid(struct sim_tee *s, unsigned vcpu, const struct kvm_cpuid2 *c)
{
    struct sim_vcpu *v = &s->vcpu[vcpu];
    bool same = s->tdx_init_vm && same_as_init_vm(s, c);
    if (!same && v->tdx_init) { /* after INIT_VCPU the TD's CPUID is fixed */
        sim_violation(s, "KVM_SET_CPUID2 on TD vCPU %u differs from INIT_VM's CPUID", vcpu);
        errno = EINVAL;
        return -1;
    }
    v->tdx_cpuid_ok = same; /* before INIT_VCPU a later call may still replace it */
    return 0;
}

int sim_tdx_vcpu_cmd(struct sim_tee *s, unsigned vcpu, void *arg)
{
    struct kvm_tdx_cmd *c = arg;
    struct sim_vcpu *v = &s->vcpu[vcpu];
    switch (c->id) {
    case TEE_TDX_INIT_VCPU:
        if (v->tdx_init || s->tdx_finalized || c->flags) {
            sim_violation(s, "INIT_VCPU repeated, late or malformed");
            errno = EINVAL;
            return -1;
        }
        if (!v->tdx_cpuid_ok) {
            sim_violation(s, "INIT_VCPU on vCPU %u whose CPUID differs from INIT_VM's", vcpu);
            errno = EINVAL;
            return -1;
        }
        v->tdx_init = true;
        v->tdx_rcx = c->data;
        if (vcpu == 0)
            s->tdx_hob_gpa = c->data;
        else if (c->data != s->tdx_hob_gpa)
            sim_violation(s, "vCPUs were given different TD HOB addresses");
        return 0;
    case TEE_TDX_INIT_MEM_REGION:
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
