/* tee_tdx.c: the Intel TDX backend: TD VM, split irqchip, private memory, TDVF launch, TDVMCALLs.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "firmware/td_hob.h"
#include "tee/kvm_tee_uapi.h"
#include "tee/launch_plan.h"
#include "tee/tee_internal.h"
#include "tee/tee_tdx_quote.h"
#include "vmm/base/log.h"

#define TDX_IOAPIC_PINS  24
#define TDX_APIC_BUS_NS  40 /* 25 MHz APIC bus, as QEMU */
#define TDX_RETRIES      10000
#define TDX_CAPS_MAX_ENT 256
/* GetTdVmCallInfo r11 bits cocoon itself services: none (SetupEventNotifyInterrupt is answered
 * SUBFUNC_UNSUPPORTED), so what the guest is told and what it gets agree. */
#define TDX_VMM_TDVMCALLINFO 0ULL
#define TDX_QUOTE_IN_FLIGHT  0xffffffffffffffffULL
#define TDX_CPUID_X2APIC     (1u << 21) /* CPUID.1.ECX: a TDX fixed-1 bit */

struct tdx_state {
    struct kvm_tdx_capabilities *caps;
    uint64_t attributes;
    uint64_t xfam;
    struct tdx_quote_service *quote;
};

static struct tdx_state *tdx(struct tee_vm *t)
{
    return t->backend;
}

static int tdx_probe(const struct kvm_handle *kvm, int kvm_fd, const struct platform_config *pc,
                     char *err, size_t errlen)
{
    char missing[384] = "";
    if (tee_probe_private_vm(kvm, kvm_fd, KVM_X86_TDX_VM, "TDX needs Linux >= 6.16",
                             "; TDX module not loaded or kvm_intel.tdx=0", missing,
                             sizeof(missing)) > 0 &&
        tee_check_cap(kvm, kvm_fd, KVM_CAP_SPLIT_IRQCHIP) <= 0)
        tee_append(missing, sizeof(missing), "no split irqchip");
    if (missing[0]) {
        snprintf(err, errlen, "TDX unavailable on this host: %s", missing);
        return -1;
    }
    return 0;
}

static int tdx_vm_cmd(struct tee_vm *t, int fd, uint32_t id, uint32_t flags, uint64_t data,
                      uint64_t *hw_error)
{
    struct kvm_tdx_cmd c = {.id = id, .flags = flags, .data = data};
    int rc = kvm_ioctl(t->kvm, fd, KVM_MEMORY_ENCRYPT_OP, &c);
    if (hw_error)
        *hw_error = c.hw_error;
    return rc;
}

static int tdx_get_caps(struct tee_vm *t, char *err, size_t errlen)
{
    for (uint32_t nent = 6; nent <= TDX_CAPS_MAX_ENT; nent *= 2) {
        struct kvm_tdx_capabilities *c =
            calloc(1, sizeof(*c) + nent * sizeof(struct kvm_cpuid_entry2));
        if (!c)
            break;
        c->cpuid.nent = nent;
        uint64_t hw = 0;
        if (tdx_vm_cmd(t, t->vm_fd, TEE_TDX_CAPABILITIES, 0, (uint64_t)(uintptr_t)c, &hw) == 0) {
            tdx(t)->caps = c;
            return 0;
        }
        int e = errno;
        free(c);
        if (e != E2BIG) {
            snprintf(err, errlen, "TDX: KVM_TDX_CAPABILITIES failed: %s (hw 0x%llx)", strerror(e),
                     (unsigned long long)hw);
            return -1;
        }
    }
    snprintf(err, errlen, "TDX: KVM_TDX_CAPABILITIES wants more than %d CPUID entries",
             TDX_CAPS_MAX_ENT);
    return -1;
}

static const struct kvm_cpuid_entry2 *find_cpuid(const struct kvm_cpuid2 *c, uint32_t fn,
                                                 uint32_t idx)
{
    for (uint32_t i = 0; i < c->nent; i++)
        if (c->entries[i].function == fn && c->entries[i].index == idx)
            return &c->entries[i];
    return NULL;
}

/* INIT_VM: attributes, XFAM and the CPUID the TD gets (supported CPUID limited to the bits the
 * TDX module lets the VMM configure: only this copy is filtered, as QEMU's tdx_filter_cpuid),
 * mrconfigid from the config. */
static int tdx_init_vm(struct tee_vm *t, char *err, size_t errlen)
{
    struct tdx_state *s = tdx(t);
    struct kvm_cpuid2 *sup = kvm_supported_cpuid(t->kvm, t->kvm_fd, err, errlen);
    if (!sup)
        return -1;
    const struct kvm_cpuid_entry2 *d0 = find_cpuid(sup, 0xd, 0), *d1 = find_cpuid(sup, 0xd, 1);
    uint64_t xfam = 0;
    if (d0)
        xfam |= d0->eax | ((uint64_t)d0->edx << 32);
    if (d1)
        xfam |= d1->ecx | ((uint64_t)d1->edx << 32);
    s->xfam = xfam & s->caps->supported_xfam;
    s->attributes = TEE_TDX_ATTR_SEPT_VE_DISABLE & s->caps->supported_attrs;

    size_t n = sup->nent;
    struct kvm_tdx_init_vm *iv = calloc(1, sizeof(*iv) + n * sizeof(struct kvm_cpuid_entry2));
    if (!iv) {
        free(sup);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    iv->attributes = s->attributes;
    iv->xfam = s->xfam;
    if (t->cfg->platform.mrconfigid_set)
        memcpy(iv->mrconfigid, t->cfg->platform.mrconfigid, sizeof(iv->mrconfigid));
    uint32_t out = 0;
    for (uint32_t i = 0; i < sup->nent; i++) {
        const struct kvm_cpuid_entry2 *e = &sup->entries[i];
        const struct kvm_cpuid_entry2 *cfgable = find_cpuid(&s->caps->cpuid, e->function, e->index);
        if (!cfgable)
            continue;
        struct kvm_cpuid_entry2 *o = &iv->cpuid.entries[out++];
        *o = *e;
        o->eax &= cfgable->eax;
        o->ebx &= cfgable->ebx;
        o->ecx &= cfgable->ecx;
        o->edx &= cfgable->edx;
    }
    iv->cpuid.nent = out;
    free(sup);
    /* KVM takes the TD's guest physical-address width from 0x80000008.EAX[23:16] and refuses
     * INIT_VM unless it says 48 or 52 (setup_tdparams_eptp_controls). */
    const struct kvm_cpuid_entry2 *pa = find_cpuid(&iv->cpuid, 0x80000008, 0);
    unsigned gpaw = pa ? (pa->eax >> 16) & 0xff : 0;
    if (gpaw != 48 && gpaw != 52) {
        snprintf(err, errlen,
                 "TDX: the host CPUID leaf 0x80000008 gives no guest physical-address width of 48 "
                 "or 52 (got %u); this kernel/TDX module cannot build a TD",
                 gpaw);
        free(iv);
        return -1;
    }
    int rc = -1;
    uint64_t hw = 0;
    for (unsigned tries = 0; tries < TDX_RETRIES; tries++) {
        rc = tdx_vm_cmd(t, t->vm_fd, TEE_TDX_INIT_VM, 0, (uint64_t)(uintptr_t)iv, &hw);
        if (rc == 0 || errno != EAGAIN)
            break;
    }
    if (rc < 0)
        snprintf(err, errlen, "TDX: KVM_TDX_INIT_VM failed: %s (hw 0x%llx)", strerror(errno),
                 (unsigned long long)hw);
    free(iv);
    return rc;
}

static int tdx_vm_init(struct tee_vm *t, char *err, size_t errlen)
{
    struct tdx_state *s = calloc(1, sizeof(*s));
    if (!s) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    t->backend = s;
    t->state_protected = true; /* TD register state is never the VMM's */
    if (!t->cfg->firmware) {
        snprintf(err, errlen, "TDX needs --firmware (a TDVF/OVMF build with TDX metadata)");
        return -1;
    }
    if (tee_private_vm_init(t, err, errlen) < 0)
        return -1;
    struct kvm_enable_cap split = {.cap = KVM_CAP_SPLIT_IRQCHIP, .args = {TDX_IOAPIC_PINS}};
    if (kvm_ioctl(t->kvm, t->vm_fd, KVM_ENABLE_CAP, &split) < 0) {
        snprintf(err, errlen, "TDX: cannot enable the split irqchip: %s", strerror(errno));
        return -1;
    }
    t->owns_irqchip = true;
    if (tdx_get_caps(t, err, errlen) < 0)
        return -1;
    struct kvm_enable_cap hc = {.cap = KVM_CAP_EXIT_HYPERCALL,
                                .args = {1ULL << KVM_HC_MAP_GPA_RANGE}};
    if (kvm_ioctl(t->kvm, t->vm_fd, KVM_ENABLE_CAP, &hc) < 0) {
        snprintf(err, errlen, "TDX: cannot enable the MapGPA exit: %s", strerror(errno));
        return -1;
    }
    struct kvm_enable_cap apic = {.cap = KVM_CAP_X86_APIC_BUS_CYCLES_NS, .args = {TDX_APIC_BUS_NS}};
    if (kvm_ioctl(t->kvm, t->vm_fd, KVM_ENABLE_CAP, &apic) < 0) {
        snprintf(err, errlen, "TDX: cannot set the APIC bus frequency: %s", strerror(errno));
        return -1;
    }
    if (tdx_init_vm(t, err, errlen) < 0)
        return -1;
    s->quote = tdx_quote_service_new(t->cfg->platform.quote_socket);
    return 0;
}

/* ---- launch ---- */

struct tdx_walk {
    struct tee_vm *t;
    const struct launch_plan *plan;
    const uint8_t *hob;
    size_t hob_len;
    uint32_t hob_section; /* index of the TD_HOB section, or UINT32_MAX */
    char *err;
    size_t errlen;
};

static int tdx_build_hob(struct tee_vm *t, const struct tdvf_image *img, uint8_t *buf,
                         size_t buflen, uint64_t *hob_gpa, uint32_t *hob_section, size_t *used)
{
    struct td_hob_range ram[GM_MAX_REGIONS], acc[TD_HOB_MAX_RANGES];
    size_t n_acc = 0;
    for (unsigned i = 0; i < t->gm->nr_regions; i++)
        ram[i] = (struct td_hob_range){.gpa = t->gm->region[i].gpa, .size = t->gm->region[i].size};
    *hob_section = UINT32_MAX;
    for (size_t i = 0; i < img->n_sections && n_acc < TD_HOB_MAX_RANGES; i++) {
        const struct tdvf_section *s = &img->sections[i];
        if (s->type == TDVF_SECTION_TD_HOB && *hob_section == UINT32_MAX) {
            *hob_section = (uint32_t)i;
            *hob_gpa = s->gpa;
        }
        if (s->type == TDVF_SECTION_TD_HOB || s->type == TDVF_SECTION_TEMP_MEM)
            acc[n_acc++] = (struct td_hob_range){.gpa = s->gpa, .size = s->mem_size, .accepted = 1};
    }
    if (*hob_section == UINT32_MAX) {
        *used = 0;
        *hob_gpa = 0;
        return 0;
    }
    *used = td_hob_build(buf, buflen, *hob_gpa, ram, t->gm->nr_regions, acc, n_acc);
    return *used ? 0 : -1;
}

static int tdx_init_mem(struct tee_vm *t, uint64_t gpa, const uint8_t *src, uint64_t pages,
                        bool measure, char *err, size_t errlen)
{
    if (tee_set_private(t, gpa, pages * GM_PAGE_SIZE, err, errlen) < 0)
        return -1;
    struct kvm_tdx_init_mem_region r = {
        .source_addr = (uint64_t)(uintptr_t)src, .gpa = gpa, .nr_pages = pages};
    unsigned tries = 0;
    while (r.nr_pages) {
        uint64_t hw = 0, before = r.nr_pages;
        int rc = tdx_vm_cmd(t, t->vcpu[0].fd, TEE_TDX_INIT_MEM_REGION,
                            measure ? (uint32_t)KVM_TDX_MEASURE_MEMORY_REGION : 0,
                            (uint64_t)(uintptr_t)&r, &hw);
        if (rc == 0 && r.nr_pages == before)
            break; /* KVM says done without updating the struct: all pages taken */
        if (rc == 0)
            continue;
        if ((errno == EAGAIN || errno == EINTR) && ++tries < TDX_RETRIES)
            continue;
        snprintf(err, errlen, "TDX: KVM_TDX_INIT_MEM_REGION at 0x%llx failed: %s (hw 0x%llx)",
                 (unsigned long long)r.gpa, strerror(errno), (unsigned long long)hw);
        return -1;
    }
    return 0;
}

static int tdx_apply(void *ctx, const struct launch_update *u)
{
    struct tdx_walk *w = ctx;
    struct tee_vm *t = w->t;
    if (u->type != LAUNCH_TDX_REGION || u->gpa % GM_PAGE_SIZE || u->len % GM_PAGE_SIZE ||
        u->len == 0 || u->data_len > u->len || !pm_covers(&t->pm, u->gpa, u->len)) {
        snprintf(w->err, w->errlen,
                 "TDX: cannot add TDVF section %u at 0x%llx+0x%llx (outside private memory or "
                 "misaligned)",
                 u->index, (unsigned long long)u->gpa, (unsigned long long)u->len);
        return -1;
    }
    uint8_t *buf = tee_stage_pages(u->len, u->data, u->data_len);
    if (!buf) {
        snprintf(w->err, w->errlen, "TDX: out of memory staging 0x%llx bytes",
                 (unsigned long long)u->len);
        return -1;
    }
    if (u->origin == LAUNCH_FROM_TDVF_SECTION && u->index == w->hob_section) {
        if (w->hob_len > u->len) {
            free(buf);
            snprintf(w->err, w->errlen, "TDX: TD HOB (%zu bytes) exceeds its section", w->hob_len);
            return -1;
        }
        memcpy(buf, w->hob, w->hob_len);
    }
    int rc = tdx_init_mem(t, u->gpa, buf, u->len / GM_PAGE_SIZE, u->flags & LAUNCH_F_TDX_EXTEND,
                          w->err, w->errlen);
    free(buf);
    return rc;
}

/* Before INIT_VCPU each vCPU keeps the full CPU model vcpu_init gave it (never INIT_VM's
 * filtered list) plus the TDX fixed-1 bits, as QEMU's tdx_adjust_cpuid_features: x2APIC,
 * because tdx_vcpu_init() switches the local APIC to x2APIC mode and kvm_apic_set_base()
 * refuses that without it. Leaf 0x80000008 must be there: KVM takes the guest physical-address
 * width from it (36 bits without it) and tdx_map_gpa() would then refuse every shared GPA. */
static int tdx_set_vcpu_cpuid(struct tee_vm *t, unsigned i, char *err, size_t errlen)
{
    struct kvm_cpuid2 *c = tee_vcpu_cpuid(t, i, err, errlen);
    if (!c)
        return -1;
    struct kvm_cpuid_entry2 *l1 = NULL;
    bool has_pa = false, ext_max = false;
    for (uint32_t k = 0; k < c->nent; k++) {
        if (c->entries[k].function == 1)
            l1 = &c->entries[k];
        has_pa |= c->entries[k].function == 0x80000008;
        /* cpuid_query_maxphyaddr reads 0x80000008 only if 0x80000000 reaches it */
        ext_max |= c->entries[k].function == 0x80000000 && c->entries[k].eax >= 0x80000008;
    }
    has_pa &= ext_max;
    int rc = -1;
    if (!l1 || !has_pa) {
        snprintf(err, errlen, "TDX: vCPU %u's CPUID lacks leaf %s", i,
                 l1 ? "0x80000008 (guest physical-address width)" : "1");
    } else {
        l1->ecx |= TDX_CPUID_X2APIC;
        rc = kvm_ioctl(t->kvm, t->vcpu[i].fd, KVM_SET_CPUID2, c);
        if (rc < 0)
            snprintf(err, errlen, "TDX: KVM_SET_CPUID2 on vCPU %u failed: %s", i, strerror(errno));
    }
    free(c);
    return rc;
}

static int tdx_launch(struct tee_vm *t, char *err, size_t errlen)
{
    struct launch_tdx_config lc = {
        .firmware = t->flash.data, .firmware_size = t->flash.size, .order = LAUNCH_TDX_PER_PAGE};
    struct launch_plan plan;
    struct fw_error fe = {{0}};
    if (launch_plan_build_tdx(&plan, &lc, &fe) < 0) {
        snprintf(err, errlen, "TDX: %s: %s", t->cfg->firmware, fe.msg);
        return -1;
    }
    uint8_t *hob = calloc(1, 64 * 1024);
    struct tdx_walk w = {.t = t, .plan = &plan, .hob = hob, .err = err, .errlen = errlen};
    uint64_t hob_gpa = 0;
    int rc = hob ? 0 : -1;
    if (rc < 0)
        snprintf(err, errlen, "out of memory");
    if (rc == 0 &&
        tdx_build_hob(t, &plan.tdvf, hob, 64 * 1024, &hob_gpa, &w.hob_section, &w.hob_len) < 0) {
        snprintf(err, errlen, "TDX: cannot build the TD HOB for this memory map");
        rc = -1;
    }
    for (unsigned i = 0; rc == 0 && i < t->nr_vcpus; i++) {
        uint64_t hw = 0;
        if (tdx_set_vcpu_cpuid(t, i, err, errlen) < 0) {
            rc = -1;
            break;
        }
        if (tdx_vm_cmd(t, t->vcpu[i].fd, TEE_TDX_INIT_VCPU, 0, hob_gpa, &hw) < 0) {
            snprintf(err, errlen, "TDX: KVM_TDX_INIT_VCPU on vCPU %u failed: %s (hw 0x%llx)", i,
                     strerror(errno), (unsigned long long)hw);
            rc = -1;
        }
    }
    if (rc == 0)
        rc = launch_plan_walk(&plan, tdx_apply, &w);
    launch_plan_free(&plan);
    free(hob);
    if (rc != 0)
        return -1;
    uint64_t hw = 0;
    if (tdx_vm_cmd(t, t->vm_fd, TEE_TDX_FINALIZE_VM, 0, 0, &hw) < 0) {
        snprintf(err, errlen, "TDX: KVM_TDX_FINALIZE_VM failed: %s (hw 0x%llx)", strerror(errno),
                 (unsigned long long)hw);
        return -1;
    }
    log_info("TDX: TD finalized (%u vCPUs)", t->nr_vcpus);
    return 0;
}

/* ---- run time ---- */

static void tdx_fatal_error(unsigned vcpu, const struct kvm_run *run)
{
    /* data[] is indexed by register number: RCX 1, RDX 2, RBX 3, RSI 6, RDI 7, R8.. 8.. */
    const __u64 *d = run->system_event.data;
    if (run->system_event.ndata < 16) {
        log_err("TDX guest reported a fatal error on vCPU %u (no register data)", vcpu);
        return;
    }
    uint64_t code = d[12], mask = d[1];
    static const int msg_regs[] = {14, 15, 3, 7, 6, 8, 9, 2};
    char msg[65] = "";
    size_t n = 0;
    for (size_t i = 0; i < sizeof(msg_regs) / sizeof(msg_regs[0]); i++) {
        if (!(mask & (1ULL << msg_regs[i])))
            continue;
        for (int b = 0; b < 8 && n < 64; b++) {
            char c = (char)(d[msg_regs[i]] >> (8 * b));
            if (!c)
                break;
            msg[n++] = (c >= 0x20 && c < 0x7f) ? c : '?';
        }
    }
    msg[n] = 0;
    if (code & (1ULL << 63))
        log_err("TDX guest fatal error on vCPU %u: code 0x%llx gpa 0x%llx %s", vcpu,
                (unsigned long long)code, (unsigned long long)d[13], msg);
    else
        log_err("TDX guest fatal error on vCPU %u: code 0x%llx %s", vcpu, (unsigned long long)code,
                msg);
}

static struct log_ratelimit quote_rl = LOG_RATELIMIT_INIT;

static void tdx_exit_tdx(struct tee_vm *t, unsigned vcpu, struct kvm_run *run)
{
    struct tdx_state *s = tdx(t);
    struct tee_run_tdx *x = tee_run_union(run);
    switch (x->nr) {
    case TEE_TDVMCALL_GET_TD_VM_CALL_INFO: {
        uint64_t leaf = x->get_tdvmcall_info.leaf;
        x->get_tdvmcall_info.r11 = x->get_tdvmcall_info.r12 = 0;
        x->get_tdvmcall_info.r13 = x->get_tdvmcall_info.r14 = 0;
        if (leaf == 1) {
            x->get_tdvmcall_info.r11 = (s->caps->user_tdvmcallinfo_1_r11 & TDX_VMM_TDVMCALLINFO) |
                                       s->caps->kernel_tdvmcallinfo_1_r11;
            x->get_tdvmcall_info.r12 = s->caps->kernel_tdvmcallinfo_1_r12;
            x->get_tdvmcall_info.ret = TEE_TDVMCALL_STATUS_SUCCESS;
        } else {
            x->get_tdvmcall_info.ret = TEE_TDVMCALL_STATUS_INVALID_OPERAND;
        }
        break;
    }
    case TEE_TDVMCALL_GET_QUOTE:
        x->get_quote.ret = tdx_quote_request(s->quote, t->gm, x->get_quote.gpa, x->get_quote.size);
        if (x->get_quote.ret != TEE_TDVMCALL_STATUS_SUCCESS)
            log_limited(&quote_rl, LOG_LVL_WARN, "TDX GetQuote at 0x%llx refused (0x%llx)",
                        (unsigned long long)x->get_quote.gpa, (unsigned long long)x->get_quote.ret);
        break;
    case TEE_TDVMCALL_SETUP_EVENT_NOTIFY:
        /* cocoon never injects a notify vector (the guest polls the GetQuote status, as Linux's
         * tdx-guest driver does), so it neither advertises the call (TDX_VMM_TDVMCALLINFO) nor
         * accepts it: SUCCESS would promise an interrupt that never comes. */
        x->setup_event_notify.ret = TEE_TDVMCALL_STATUS_SUBFUNC_UNSUPPORTED;
        break;
    default:
        /* KVM pre-filled an error status for calls userspace does not handle. */
        break;
    }
}

static enum tee_exit_result tdx_handle_exit(struct tee_vm *t, unsigned vcpu, struct kvm_run *run,
                                            int run_ret, int run_errno)
{
    enum tee_exit_result res;
    if (tee_conversion_exit(t, run, run_ret, run_errno, &res))
        return res;
    if (run_ret < 0)
        return TEE_EXIT_NOT_MINE;
    switch (run->exit_reason) {
    case KVM_EXIT_TDX:
        tdx_exit_tdx(t, vcpu, run);
        return TEE_EXIT_HANDLED;
    case KVM_EXIT_SYSTEM_EVENT:
        if (run->system_event.type != KVM_SYSTEM_EVENT_TDX_FATAL)
            return TEE_EXIT_NOT_MINE;
        tdx_fatal_error(vcpu, run);
        return TEE_EXIT_GUEST_STOP;
    default:
        return TEE_EXIT_NOT_MINE;
    }
}

static void tdx_destroy(struct tee_vm *t)
{
    struct tdx_state *s = t->backend;
    if (!s)
        return;
    tdx_quote_service_free(s->quote);
    free(s->caps);
    free(s);
    t->backend = NULL;
}

const struct tee_ops tee_tdx_ops = {
    .kind = TEE_TDX,
    .name = "tdx",
    .title = "TDX",
    .vm_type = KVM_X86_TDX_VM,
    .probe = tdx_probe,
    .vm_init = tdx_vm_init,
    .map_memory = tee_map_private,
    .launch = tdx_launch,
    .handle_exit = tdx_handle_exit,
    .destroy = tdx_destroy,
};
