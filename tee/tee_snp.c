/* tee_snp.c: the AMD SEV-SNP backend: SNP VM, private memory, the measured launch QEMU-style. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tee/kvm_tee_uapi.h"
#include "tee/launch_plan.h"
#include "tee/sev_hashes.h"
#include "tee/tee_internal.h"
#include "tee/vmsa.h"
#include "vmm/base/log.h"

#define SNP_DEFAULT_FEATURE 0x1ULL /* SNPActive; what cocoon-measure assumes by default */
#define SNP_DEFAULT_VCPU    "EPYC-v4"
#define SNP_EFER_SVME       (1ULL << 12)
#define SNP_MSR_PAT         0x277
#define SNP_UPDATE_RETRIES  1000

struct snp_state {
    int sev_fd;
    uint64_t guest_features; /* the VMSA SEV_FEATURES the guest gets */
    uint32_t vcpu_sig;
    uint64_t policy;
};

static struct snp_state *snp(struct tee_vm *t)
{
    return t->backend;
}

/* ---- probe ---- */

#define SMT_ACTIVE_PATH "/sys/devices/system/cpu/smt/active"

/* 1 if SMT is active on the host, 0 if not, -1 if unknown. */
static int host_smt_active(const struct kvm_handle *kvm)
{
    if (!kvm->sys->read)
        return -1;
    int fd = kvm->sys->open(kvm->ctx, SMT_ACTIVE_PATH, O_RDONLY);
    if (fd < 0)
        return -1;
    char c = 0;
    ssize_t n = kvm->sys->read(kvm->ctx, fd, &c, 1);
    kvm->sys->close(kvm->ctx, fd);
    return n == 1 && (c == '0' || c == '1') ? c - '0' : -1;
}

/* The policy checks KVM and the firmware make at SNP_LAUNCH_START, made before anything is
 * created: bit 17 must be one; bits KVM does not accept (KVM_X86_SNP_POLICY_BITS, when the
 * kernel has it) are refused; and the firmware refuses POLICY.SMT = 0 while SMT is active on the
 * platform (SNP ABI 56860, SNP_LAUNCH_START: POLICY_FAILURE), which KVM does not check itself. */
static int snp_probe_policy(const struct kvm_handle *kvm, int kvm_fd, uint64_t policy, char *err,
                            size_t errlen)
{
    if (!(policy & TEE_SNP_POLICY_RSVD_MBO)) {
        snprintf(err, errlen, "SEV-SNP policy 0x%llx: bit 17 is reserved and must be set",
                 (unsigned long long)policy);
        return -1;
    }
    uint64_t bits = 0;
    struct kvm_device_attr a = {.group = KVM_X86_GRP_SEV,
                                .attr = KVM_X86_SNP_POLICY_BITS,
                                .addr = (uint64_t)(uintptr_t)&bits};
    if (kvm_ioctl(kvm, kvm_fd, KVM_GET_DEVICE_ATTR, &a) == 0 && (policy & ~bits)) {
        snprintf(err, errlen, "SEV-SNP policy 0x%llx has bits KVM does not accept (0x%llx)",
                 (unsigned long long)policy, (unsigned long long)(policy & ~bits));
        return -1;
    }
    if (!(policy & TEE_SNP_POLICY_SMT) && host_smt_active(kvm) == 1) {
        snprintf(err, errlen,
                 "SEV-SNP policy 0x%llx forbids SMT (bit 16 clear) but SMT is active on this "
                 "host, so the firmware would refuse SNP_LAUNCH_START: set bit 16 or turn SMT off "
                 "(echo off > /sys/devices/system/cpu/smt/control)",
                 (unsigned long long)policy);
        return -1;
    }
    return 0;
}

static int snp_probe(const struct kvm_handle *kvm, int kvm_fd, const struct platform_config *pc,
                     char *err, size_t errlen)
{
    char missing[384] = "";
    char one[160];
    tee_probe_private_vm(kvm, kvm_fd, KVM_X86_SNP_VM, "SEV-SNP needs Linux >= 6.11", "", missing,
                         sizeof(missing));
    int sev = kvm->sys->open(kvm->ctx, "/dev/sev", O_RDWR);
    if (sev < 0) {
        snprintf(one, sizeof(one), "no /dev/sev (%s)", strerror(errno));
        tee_append(missing, sizeof(missing), one);
    } else {
        kvm->sys->close(kvm->ctx, sev);
    }
    if (missing[0]) {
        snprintf(err, errlen, "SEV-SNP unavailable on this host: %s", missing);
        return -1;
    }
    uint64_t policy = pc->snp_policy ? pc->snp_policy : TEE_SNP_DEFAULT_POLICY;
    return snp_probe_policy(kvm, kvm_fd, policy, err, errlen);
}

/* ---- commands ---- */

static int sev_cmd(struct tee_vm *t, uint32_t id, void *data, uint32_t *fw_error)
{
    struct kvm_sev_cmd c = {
        .id = id, .data = (uint64_t)(uintptr_t)data, .sev_fd = (uint32_t)snp(t)->sev_fd};
    int rc = kvm_ioctl(t->kvm, t->vm_fd, KVM_MEMORY_ENCRYPT_OP, &c);
    if (fw_error)
        *fw_error = c.error;
    return rc;
}

static int snp_vm_init(struct tee_vm *t, char *err, size_t errlen)
{
    struct snp_state *s = calloc(1, sizeof(*s));
    if (!s) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    s->sev_fd = -1;
    t->backend = s;
    const struct platform_config *pc = &t->cfg->platform;
    s->policy = pc->snp_policy ? pc->snp_policy : TEE_SNP_DEFAULT_POLICY;
    s->guest_features = pc->snp_guest_features ? pc->snp_guest_features : SNP_DEFAULT_FEATURE;
    if (!(s->guest_features & 1)) {
        snprintf(err, errlen, "SEV-SNP: guest_features 0x%llx lack SNPActive (bit 0)",
                 (unsigned long long)s->guest_features);
        return -1;
    }
    s->vcpu_sig = pc->snp_vcpu_sig;
    if (!s->vcpu_sig && vcpu_type_signature(SNP_DEFAULT_VCPU, &s->vcpu_sig) < 0) {
        snprintf(err, errlen, "SEV-SNP: unknown vCPU model %s", SNP_DEFAULT_VCPU);
        return -1;
    }
    if (!t->cfg->firmware) {
        snprintf(err, errlen, "SEV-SNP needs --firmware (an OVMF build with SEV metadata)");
        return -1;
    }
    if (tee_private_vm_init(t, err, errlen) < 0)
        return -1;
    s->sev_fd = t->kvm->sys->open(t->kvm->ctx, "/dev/sev", O_RDWR);
    if (s->sev_fd < 0) {
        snprintf(err, errlen, "SEV-SNP: cannot open /dev/sev: %s", strerror(errno));
        return -1;
    }
    /* KVM adds SNPActive itself; every other SEV_FEATURES bit must be one it supports. */
    uint64_t want = s->guest_features & ~1ULL, supported = 0;
    struct kvm_device_attr a = {.group = KVM_X86_GRP_SEV,
                                .attr = KVM_X86_SEV_VMSA_FEATURES,
                                .addr = (uint64_t)(uintptr_t)&supported};
    if (want &&
        (kvm_ioctl(t->kvm, t->kvm_fd, KVM_GET_DEVICE_ATTR, &a) < 0 || (want & ~supported))) {
        snprintf(err, errlen, "SEV-SNP: KVM does not support VMSA features 0x%llx",
                 (unsigned long long)want);
        return -1;
    }
    uint32_t fwe = 0;
    struct kvm_sev_init init = {.vmsa_features = want};
    if (sev_cmd(t, TEE_SEV_INIT2, &init, &fwe) < 0) {
        snprintf(err, errlen, "SEV-SNP: KVM_SEV_INIT2 failed: %s (firmware error 0x%x)",
                 strerror(errno), fwe);
        return -1;
    }
    struct kvm_enable_cap hc = {.cap = KVM_CAP_EXIT_HYPERCALL,
                                .args = {1ULL << KVM_HC_MAP_GPA_RANGE}};
    if (kvm_ioctl(t->kvm, t->vm_fd, KVM_ENABLE_CAP, &hc) < 0) {
        snprintf(err, errlen, "SEV-SNP: cannot enable the MAP_GPA_RANGE exit: %s", strerror(errno));
        return -1;
    }
    struct kvm_device_attr rc_attr = {.group = KVM_X86_GRP_SEV, .attr = KVM_X86_SEV_SNP_REQ_CERTS};
    if (kvm_ioctl(t->kvm, t->kvm_fd, KVM_HAS_DEVICE_ATTR, &rc_attr) == 0)
        log_info("SEV-SNP: KVM offers certificate fetching (REQ_CERTS); cocoon does not enable "
                 "it yet, guests get an empty certificate table from KVM");
    else
        log_info("SEV-SNP: no certificate-fetch exit on this kernel; extended guest requests "
                 "return an empty certificate table");
    struct kvm_sev_snp_launch_start start = {.policy = s->policy};
    if (sev_cmd(t, TEE_SEV_SNP_LAUNCH_START, &start, &fwe) < 0) {
        snprintf(err, errlen,
                 "SEV-SNP: SNP_LAUNCH_START (policy 0x%llx) failed: %s (firmware error 0x%x)",
                 (unsigned long long)s->policy, strerror(errno), fwe);
        return -1;
    }
    return 0;
}

/* ---- CPUID page ---- */

static void snp_mask_cpuid(struct tee_snp_cpuid_entry *e)
{
    if (e->eax_in == 1)
        e->ecx &= ~(1u << 24); /* TSC deadline timer */
    if (e->eax_in == 7 && e->ecx_in == 0) {
        e->ebx &= ~(1u << 1);     /* TSC_ADJUST */
        e->edx &= ~(0x3fu << 26); /* SPEC_CTRL, STIBP, FLUSH_L1D, ARCH_CAP, CORE_CAP, SSBD */
    }
    if (e->eax_in == 0x80000008)
        e->ebx &= ~(1u << 25); /* VIRT_SSBD */
}

/* The CPUID page from what the boot vCPU really has (KVM_GET_CPUID2 after vcpu_init), as QEMU's
 * sev_snp_cpuid_info_fill; more entries than the page holds is refused rather than truncated,
 * which could drop extended leaves such as 0x8000001F. */
static int snp_build_cpuid_page(struct tee_vm *t, uint8_t *page, char *err, size_t errlen)
{
    struct kvm_cpuid2 *c = tee_vcpu_cpuid(t, 0, err, errlen);
    if (!c)
        return -1;
    if (c->nent > TEE_SNP_CPUID_MAX) {
        snprintf(err, errlen,
                 "SEV-SNP: vCPU 0 has %u CPUID entries but the CPUID page holds %d; refusing to "
                 "launch with a truncated CPUID table",
                 c->nent, TEE_SNP_CPUID_MAX);
        free(c);
        return -1;
    }
    struct tee_snp_cpuid_page *p = (struct tee_snp_cpuid_page *)page;
    memset(p, 0, sizeof(*p));
    for (uint32_t i = 0; i < c->nent; i++) {
        const struct kvm_cpuid_entry2 *k = &c->entries[i];
        struct tee_snp_cpuid_entry *e = &p->entries[p->count++];
        e->eax_in = k->function;
        e->ecx_in = (k->flags & KVM_CPUID_FLAG_SIGNIFCANT_INDEX) ? k->index : 0;
        e->eax = k->eax;
        e->ebx = k->ebx;
        e->ecx = k->ecx;
        e->edx = k->edx;
        if (k->function == 0xd && (k->index == 0 || k->index == 1)) {
            e->ebx = 0x240;
            e->xcr0_in = 1;
            e->xss_in = 0;
        }
        snp_mask_cpuid(e);
    }
    free(c);
    return 0;
}

/* The firmware rejected the CPUID page and (through KVM) wrote back what it accepts: name every
 * entry it changed. */
static void snp_cpuid_diagnose(const struct tee_snp_cpuid_page *sent,
                               const struct tee_snp_cpuid_page *back)
{
    unsigned n = sent->count < TEE_SNP_CPUID_MAX ? sent->count : TEE_SNP_CPUID_MAX, diffs = 0;
    for (unsigned i = 0; i < n; i++) {
        const struct tee_snp_cpuid_entry *a = &sent->entries[i], *b = &back->entries[i];
        if (memcmp(a, b, sizeof(*a)) == 0)
            continue;
        diffs++;
        log_warn("SEV-SNP: CPUID 0x%08x.%u provided eax %08x ebx %08x ecx %08x edx %08x, "
                 "firmware expects eax %08x ebx %08x ecx %08x edx %08x",
                 a->eax_in, a->ecx_in, a->eax, a->ebx, a->ecx, a->edx, b->eax, b->ebx, b->ecx,
                 b->edx);
    }
    if (!diffs)
        log_warn("SEV-SNP: CPUID page rejected but the firmware changed no entry");
}

/* ---- launch updates ---- */

/* One SNP_LAUNCH_UPDATE over [gpa, gpa+len) from buf, resumed until KVM consumed it all. */
static int snp_update(struct tee_vm *t, uint64_t gpa, uint8_t *buf, uint64_t len, uint8_t type,
                      uint32_t *fwe, char *err, size_t errlen)
{
    if (tee_set_private(t, gpa, len, err, errlen) < 0)
        return -1;
    struct kvm_sev_snp_launch_update u = {
        .gfn_start = gpa >> 12, .uaddr = (uint64_t)(uintptr_t)buf, .len = len, .type = type};
    unsigned retries = 0;
    while (u.len) {
        uint64_t before = u.len;
        if (sev_cmd(t, TEE_SEV_SNP_LAUNCH_UPDATE, &u, fwe) == 0) {
            if (u.len < before)
                continue;
            snprintf(err, errlen, "SEV-SNP: SNP_LAUNCH_UPDATE at 0x%llx made no progress",
                     (unsigned long long)(u.gfn_start << 12));
            return -1;
        }
        if ((errno == EAGAIN || errno == EINTR) && ++retries < SNP_UPDATE_RETRIES)
            continue;
        snprintf(err, errlen,
                 "SEV-SNP: SNP_LAUNCH_UPDATE type %u at 0x%llx failed: %s (firmware error 0x%x)",
                 type, (unsigned long long)(u.gfn_start << 12), strerror(errno), *fwe);
        return -1;
    }
    if (u.gfn_start << 12 != gpa + len) {
        snprintf(err, errlen, "SEV-SNP: SNP_LAUNCH_UPDATE at 0x%llx ended at 0x%llx",
                 (unsigned long long)gpa, (unsigned long long)(u.gfn_start << 12));
        return -1;
    }
    return 0;
}

static int snp_update_cpuid(struct tee_vm *t, uint64_t gpa, uint8_t *page, char *err, size_t errlen)
{
    if (snp_build_cpuid_page(t, page, err, errlen) < 0)
        return -1;
    struct tee_snp_cpuid_page sent;
    memcpy(&sent, page, sizeof(sent));
    uint32_t fwe = 0;
    if (snp_update(t, gpa, page, GM_PAGE_SIZE, KVM_SEV_SNP_PAGE_TYPE_CPUID, &fwe, err, errlen) == 0)
        return 0;
    if (fwe != TEE_SEV_RET_INVALID_PARAM)
        return -1;
    /* The CPUID page is measured as zero contents, so taking the firmware's corrections does not
     * change the launch digest; it only narrows what the guest is told. */
    snp_cpuid_diagnose(&sent, (const struct tee_snp_cpuid_page *)page);
    log_warn("SEV-SNP: retrying the CPUID page with the firmware's values");
    return snp_update(t, gpa, page, GM_PAGE_SIZE, KVM_SEV_SNP_PAGE_TYPE_CPUID, &fwe, err, errlen);
}

/* ---- VMSA -> vCPU registers (KVM builds the VMSA from them at LAUNCH_FINISH) ---- */

static uint64_t rd(const uint8_t *p, size_t off, size_t n)
{
    uint64_t v = 0;
    memcpy(&v, p + off, n);
    return v;
}

static void seg_from_vmsa(struct kvm_segment *s, const uint8_t *v, size_t off)
{
    uint16_t attrib = (uint16_t)rd(v, off + 2, 2);
    memset(s, 0, sizeof(*s));
    s->selector = (uint16_t)rd(v, off, 2);
    s->limit = (uint32_t)rd(v, off + 4, 4);
    s->base = rd(v, off + 8, 8);
    s->type = attrib & 0xf;
    s->s = (attrib >> 4) & 1;
    s->dpl = (attrib >> 5) & 3;
    s->present = (attrib >> 7) & 1;
    s->avl = (attrib >> 8) & 1;
    s->l = (attrib >> 9) & 1;
    s->db = (attrib >> 10) & 1;
    s->g = (attrib >> 11) & 1;
    s->unusable = !s->present;
}

static void dt_from_vmsa(struct kvm_dtable *d, const uint8_t *v, size_t off)
{
    memset(d, 0, sizeof(*d));
    d->limit = (uint16_t)rd(v, off + 4, 4);
    d->base = rd(v, off + 8, 8);
}

/* Every VMSA field cocoon sets through KVM, with its width; whatever else is non-zero in a plan's
 * VMSA could not be reproduced by KVM and is refused. */
static const struct {
    uint16_t off, len;
} vmsa_fields[] = {
    {VMSA_OFF_ES, 16},   {VMSA_OFF_CS, 16},   {VMSA_OFF_SS, 16},     {VMSA_OFF_DS, 16},
    {VMSA_OFF_FS, 16},   {VMSA_OFF_GS, 16},   {VMSA_OFF_GDTR, 16},   {VMSA_OFF_LDTR, 16},
    {VMSA_OFF_IDTR, 16}, {VMSA_OFF_TR, 16},   {VMSA_OFF_EFER, 8},    {VMSA_OFF_CR4, 8},
    {VMSA_OFF_CR0, 8},   {VMSA_OFF_DR7, 8},   {VMSA_OFF_DR6, 8},     {VMSA_OFF_RFLAGS, 8},
    {VMSA_OFF_RIP, 8},   {VMSA_OFF_G_PAT, 8}, {VMSA_OFF_RDX, 8},     {VMSA_OFF_SEV_FEATURES, 8},
    {VMSA_OFF_XCR0, 8},  {VMSA_OFF_MXCSR, 4}, {VMSA_OFF_X87_FCW, 2},
};

static int snp_check_vmsa_fields(const uint8_t *vmsa, char *err, size_t errlen)
{
    uint8_t rest[VMSA_SIZE];
    memcpy(rest, vmsa, VMSA_SIZE);
    for (size_t i = 0; i < sizeof(vmsa_fields) / sizeof(vmsa_fields[0]); i++)
        memset(rest + vmsa_fields[i].off, 0, vmsa_fields[i].len);
    /* GDTR/IDTR have no selector/attrib in KVM, segment selectors/attribs are kept above. */
    for (size_t i = 0; i < VMSA_SIZE; i++)
        if (rest[i]) {
            snprintf(err, errlen, "SEV-SNP: VMSA byte 0x%zx is set but cannot be set through KVM",
                     i);
            return -1;
        }
    if (rd(vmsa, VMSA_OFF_GDTR, 4) || rd(vmsa, VMSA_OFF_IDTR, 4)) {
        snprintf(err, errlen, "SEV-SNP: VMSA GDTR/IDTR selector or attributes are set");
        return -1;
    }
    return 0;
}

static int vcpu_ioctl(struct tee_vm *t, unsigned idx, unsigned long req, void *arg,
                      const char *what, char *err, size_t errlen)
{
    if (kvm_ioctl(t->kvm, t->vcpu[idx].fd, req, arg) < 0) {
        snprintf(err, errlen, "SEV-SNP: %s on vCPU %u failed: %s", what, idx, strerror(errno));
        return -1;
    }
    return 0;
}

/* Segments, descriptor tables, control registers and EFER. */
static int snp_set_sregs(struct tee_vm *t, unsigned idx, const uint8_t *v, char *err, size_t errlen)
{
    struct kvm_sregs sr;
    if (vcpu_ioctl(t, idx, KVM_GET_SREGS, &sr, "KVM_GET_SREGS", err, errlen) < 0)
        return -1;
    seg_from_vmsa(&sr.es, v, VMSA_OFF_ES);
    seg_from_vmsa(&sr.cs, v, VMSA_OFF_CS);
    seg_from_vmsa(&sr.ss, v, VMSA_OFF_SS);
    seg_from_vmsa(&sr.ds, v, VMSA_OFF_DS);
    seg_from_vmsa(&sr.fs, v, VMSA_OFF_FS);
    seg_from_vmsa(&sr.gs, v, VMSA_OFF_GS);
    seg_from_vmsa(&sr.ldt, v, VMSA_OFF_LDTR);
    seg_from_vmsa(&sr.tr, v, VMSA_OFF_TR);
    dt_from_vmsa(&sr.gdt, v, VMSA_OFF_GDTR);
    dt_from_vmsa(&sr.idt, v, VMSA_OFF_IDTR);
    sr.cr0 = rd(v, VMSA_OFF_CR0, 8);
    sr.cr2 = 0;
    sr.cr3 = 0;
    sr.cr4 = rd(v, VMSA_OFF_CR4, 8);
    sr.efer = rd(v, VMSA_OFF_EFER, 8) & ~SNP_EFER_SVME; /* KVM sets SVME itself */
    return vcpu_ioctl(t, idx, KVM_SET_SREGS, &sr, "KVM_SET_SREGS", err, errlen);
}

/* x87 control word, MXCSR and XCR0. */
static int snp_set_fpu(struct tee_vm *t, unsigned idx, const uint8_t *v, char *err, size_t errlen)
{
    struct kvm_fpu f;
    if (vcpu_ioctl(t, idx, KVM_GET_FPU, &f, "KVM_GET_FPU", err, errlen) < 0)
        return -1;
    f.fcw = (uint16_t)rd(v, VMSA_OFF_X87_FCW, 2);
    f.mxcsr = (uint32_t)rd(v, VMSA_OFF_MXCSR, 4);
    if (vcpu_ioctl(t, idx, KVM_SET_FPU, &f, "KVM_SET_FPU", err, errlen) < 0)
        return -1;
    struct kvm_xcrs x;
    memset(&x, 0, sizeof(x));
    x.nr_xcrs = 1;
    x.xcrs[0].xcr = 0;
    x.xcrs[0].value = rd(v, VMSA_OFF_XCR0, 8);
    return vcpu_ioctl(t, idx, KVM_SET_XCRS, &x, "KVM_SET_XCRS", err, errlen);
}

static int snp_set_vcpu_from_vmsa(struct tee_vm *t, unsigned idx, const uint8_t *v, char *err,
                                  size_t errlen)
{
    if (idx >= t->nr_vcpus) {
        snprintf(err, errlen, "SEV-SNP: plan has a VMSA for vCPU %u of %u", idx, t->nr_vcpus);
        return -1;
    }
    if (snp_check_vmsa_fields(v, err, errlen) < 0)
        return -1;
    uint64_t feat = rd(v, VMSA_OFF_SEV_FEATURES, 8);
    if (feat != snp(t)->guest_features) {
        snprintf(err, errlen, "SEV-SNP: plan VMSA SEV_FEATURES 0x%llx differ from INIT2's 0x%llx",
                 (unsigned long long)feat, (unsigned long long)snp(t)->guest_features);
        return -1;
    }
    if (snp_set_sregs(t, idx, v, err, errlen) < 0)
        return -1;
    struct kvm_regs r;
    memset(&r, 0, sizeof(r));
    r.rip = rd(v, VMSA_OFF_RIP, 8);
    r.rflags = rd(v, VMSA_OFF_RFLAGS, 8);
    r.rdx = rd(v, VMSA_OFF_RDX, 8);
    if (vcpu_ioctl(t, idx, KVM_SET_REGS, &r, "KVM_SET_REGS", err, errlen) < 0)
        return -1;
    struct kvm_debugregs d;
    memset(&d, 0, sizeof(d));
    d.dr6 = rd(v, VMSA_OFF_DR6, 8);
    d.dr7 = rd(v, VMSA_OFF_DR7, 8);
    if (vcpu_ioctl(t, idx, KVM_SET_DEBUGREGS, &d, "KVM_SET_DEBUGREGS", err, errlen) < 0 ||
        snp_set_fpu(t, idx, v, err, errlen) < 0)
        return -1;
    struct {
        struct kvm_msrs hdr;
        struct kvm_msr_entry e[1];
    } m;
    memset(&m, 0, sizeof(m));
    m.hdr.nmsrs = 1;
    m.e[0].index = SNP_MSR_PAT;
    m.e[0].data = rd(v, VMSA_OFF_G_PAT, 8);
    if (kvm_ioctl(t->kvm, t->vcpu[idx].fd, KVM_SET_MSRS, &m) != 1) {
        snprintf(err, errlen, "SEV-SNP: KVM_SET_MSRS (PAT) on vCPU %u failed", idx);
        return -1;
    }
    return 0;
}

static uint8_t snp_page_type(enum launch_update_type t)
{
    switch (t) {
    case LAUNCH_PAGE_NORMAL:
        return KVM_SEV_SNP_PAGE_TYPE_NORMAL;
    case LAUNCH_PAGE_ZERO:
        return KVM_SEV_SNP_PAGE_TYPE_ZERO;
    case LAUNCH_PAGE_UNMEASURED:
        return KVM_SEV_SNP_PAGE_TYPE_UNMEASURED;
    case LAUNCH_PAGE_SECRETS:
        return KVM_SEV_SNP_PAGE_TYPE_SECRETS;
    case LAUNCH_PAGE_CPUID:
        return KVM_SEV_SNP_PAGE_TYPE_CPUID;
    default:
        return KVM_SEV_PAGE_TYPE_INVALID;
    }
}

struct snp_walk {
    struct tee_vm *t;
    char *err;
    size_t errlen;
    unsigned vmsas;
};

static int snp_apply(void *ctx, const struct launch_update *u)
{
    struct snp_walk *w = ctx;
    struct tee_vm *t = w->t;
    if (u->type == LAUNCH_PAGE_VMSA) {
        if (!u->data || u->len != VMSA_SIZE) {
            snprintf(w->err, w->errlen, "SEV-SNP: malformed VMSA update");
            return -1;
        }
        w->vmsas++;
        return snp_set_vcpu_from_vmsa(t, u->index, u->data, w->err, w->errlen);
    }
    uint8_t type = snp_page_type(u->type);
    if (type == KVM_SEV_PAGE_TYPE_INVALID || u->gpa % GM_PAGE_SIZE || u->len % GM_PAGE_SIZE ||
        u->data_len > u->len || !pm_covers(&t->pm, u->gpa, u->len)) {
        snprintf(w->err, w->errlen,
                 "SEV-SNP: cannot apply %s update at 0x%llx+0x%llx (outside private memory or "
                 "misaligned)",
                 launch_update_type_name(u->type), (unsigned long long)u->gpa,
                 (unsigned long long)u->len);
        return -1;
    }
    uint8_t *buf = tee_stage_pages(u->len, u->data, u->data_len);
    if (!buf) {
        snprintf(w->err, w->errlen, "SEV-SNP: out of memory staging 0x%llx bytes",
                 (unsigned long long)u->len);
        return -1;
    }
    int rc;
    uint32_t fwe = 0;
    if (type == KVM_SEV_SNP_PAGE_TYPE_CPUID) {
        rc = 0;
        for (uint64_t off = 0; rc == 0 && off < u->len; off += GM_PAGE_SIZE)
            rc = snp_update_cpuid(t, u->gpa + off, buf + off, w->err, w->errlen);
    } else {
        rc = snp_update(t, u->gpa, buf, u->len, type, &fwe, w->err, w->errlen);
    }
    free(buf);
    return rc;
}

static int snp_kernel_hashes(const struct vm_config *cfg, struct launch_kernel_hashes *kh,
                             char *err, size_t errlen)
{
    struct fw_error fe = {{0}};
    if (sev_sha256_file(kh->kernel, cfg->kernel, &fe) < 0 ||
        sev_sha256_file(kh->initrd, cfg->initramfs, &fe) < 0 ||
        sev_hash_cmdline(kh->cmdline, cfg->cmdline, &fe) < 0) {
        snprintf(err, errlen, "SEV-SNP: hashing the kernel inputs failed: %s", fe.msg);
        return -1;
    }
    return 0;
}

static int snp_launch(struct tee_vm *t, char *err, size_t errlen)
{
    struct snp_state *s = snp(t);
    struct launch_kernel_hashes kh;
    if (t->cfg->kernel && snp_kernel_hashes(t->cfg, &kh, err, errlen) < 0)
        return -1;
    struct launch_sev_config lc = {
        .tee = LAUNCH_TEE_SNP,
        .firmware = t->flash.data,
        .firmware_size = t->flash.size,
        .kernel = t->cfg->kernel ? &kh : NULL,
        .vcpus = t->nr_vcpus,
        .vcpu_sig = s->vcpu_sig,
        .guest_features = s->guest_features,
        .vmm = LAUNCH_VMM_QEMU,
    };
    struct launch_plan plan;
    struct fw_error fe = {{0}};
    if (launch_plan_build_sev(&plan, &lc, &fe) < 0) {
        snprintf(err, errlen, "SEV-SNP: %s: %s", t->cfg->firmware, fe.msg);
        return -1;
    }
    struct snp_walk w = {.t = t, .err = err, .errlen = errlen};
    int rc = plan.ld_seed || plan.fw_gpa != t->flash.gpa ? -1 : 0;
    if (rc < 0)
        snprintf(err, errlen,
                 "SEV-SNP: the launch plan does not place the firmware where it "
                 "was mapped");
    if (rc == 0)
        rc = launch_plan_walk(&plan, snp_apply, &w);
    launch_plan_free(&plan);
    if (rc != 0)
        return -1;
    if (w.vmsas != t->nr_vcpus) {
        snprintf(err, errlen, "SEV-SNP: plan set %u VMSAs for %u vCPUs", w.vmsas, t->nr_vcpus);
        return -1;
    }
    struct kvm_sev_snp_launch_finish fin;
    memset(&fin, 0, sizeof(fin));
    if (t->cfg->platform.host_data_set)
        memcpy(fin.host_data, t->cfg->platform.host_data, sizeof(fin.host_data));
    uint32_t fwe = 0;
    if (sev_cmd(t, TEE_SEV_SNP_LAUNCH_FINISH, &fin, &fwe) < 0) {
        snprintf(err, errlen, "SEV-SNP: SNP_LAUNCH_FINISH failed: %s (firmware error 0x%x)",
                 strerror(errno), fwe);
        return -1;
    }
    t->state_protected = true;
    log_info("SEV-SNP: launch finished (%u vCPUs, policy 0x%llx)", t->nr_vcpus,
             (unsigned long long)s->policy);
    return 0;
}

/* ---- run time ---- */

static enum tee_exit_result snp_handle_exit(struct tee_vm *t, unsigned vcpu, struct kvm_run *run,
                                            int run_ret, int run_errno)
{
    enum tee_exit_result res;
    if (tee_conversion_exit(t, run, run_ret, run_errno, &res))
        return res;
    if (run_ret < 0)
        return TEE_EXIT_NOT_MINE;
    switch (run->exit_reason) {
    case KVM_EXIT_SYSTEM_EVENT:
        if (run->system_event.type != KVM_SYSTEM_EVENT_SEV_TERM)
            return TEE_EXIT_NOT_MINE;
        {
            /* GHCB MSR protocol termination: [15:12] reason set, [23:16] reason code. */
            uint64_t ghcb = run->system_event.ndata ? run->system_event.data[0] : 0;
            log_err("SEV-SNP guest terminated itself on vCPU %u: reason set %u, code %u "
                    "(GHCB 0x%llx)",
                    vcpu, (unsigned)((ghcb >> 12) & 0xf), (unsigned)((ghcb >> 16) & 0xff),
                    (unsigned long long)ghcb);
        }
        return TEE_EXIT_GUEST_STOP;
    default:
        return TEE_EXIT_NOT_MINE;
    }
}

static void snp_destroy(struct tee_vm *t)
{
    struct snp_state *s = t->backend;
    if (!s)
        return;
    if (s->sev_fd >= 0)
        t->kvm->sys->close(t->kvm->ctx, s->sev_fd);
    free(s);
    t->backend = NULL;
}

const struct tee_ops tee_snp_ops = {
    .kind = TEE_SNP,
    .name = "snp",
    .title = "SEV-SNP",
    .vm_type = KVM_X86_SNP_VM,
    .probe = snp_probe,
    .vm_init = snp_vm_init,
    .map_memory = tee_map_private,
    .launch = snp_launch,
    .handle_exit = snp_handle_exit,
    .destroy = snp_destroy,
};
