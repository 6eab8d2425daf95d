/* sim_tee.c: the simulated KVM core (fds, caps, memslots, attributes, vCPU state, scripted runs).
 */
#include "tests/unit/support/sim_tee.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "tee/kvm_tee_uapi.h"

#define SIM_FD_BASE 7000
#define PAGE        4096ULL
#define RUN_SIZE    8192

void sim_violation(struct sim_tee *s, const char *fmt, ...)
{
    if (s->violations++ == 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(s->violation, sizeof(s->violation), fmt, ap);
        va_end(ap);
    }
}

bool sim_eagain(struct sim_tee *s)
{
    return s->eagain_every && (++s->calls % s->eagain_every) == 0;
}

struct sim_vcpu *sim_vcpu_of(struct sim_tee *s, int fd, unsigned *index)
{
    for (unsigned i = 0; i < s->nr_vcpus; i++)
        if (s->vcpu[i].fd == fd) {
            if (index)
                *index = i;
            return &s->vcpu[i];
        }
    return NULL;
}

bool sim_tee_page_private(const struct sim_tee *s, uint64_t gpa)
{
    uint64_t pfn = gpa / PAGE;
    return pfn < SIM_MAX_PAGES && s->page_private[pfn];
}

/* kvm_gmem_populate (virt/kvm/guest_memfd.c), behind SNP_LAUNCH_UPDATE and
 * KVM_TDX_INIT_MEM_REGION: the range must lie in a guest_memfd memslot (-EINVAL) and every page
 * must have KVM_MEMORY_ATTRIBUTE_PRIVATE (kvm_range_has_memory_attributes, -EINVAL). */
int sim_check_private(struct sim_tee *s, uint64_t gpa, uint64_t len, const char *what)
{
    if (len == 0 || gpa % PAGE || len % PAGE || gpa + len < gpa) {
        sim_violation(s, "%s: range 0x%llx+0x%llx not page aligned", what, (unsigned long long)gpa,
                      (unsigned long long)len);
        return -1;
    }
    bool in_slot = false;
    for (unsigned i = 0; i < s->nr_slots; i++)
        if (s->slot[i].gmem_fd >= 0 && gpa >= s->slot[i].gpa &&
            gpa + len <= s->slot[i].gpa + s->slot[i].size)
            in_slot = true;
    if (!in_slot || (gpa + len) / PAGE > SIM_MAX_PAGES) {
        sim_violation(s, "%s: 0x%llx+0x%llx is not inside one guest_memfd memslot", what,
                      (unsigned long long)gpa, (unsigned long long)len);
        return -1;
    }
    for (uint64_t p = gpa / PAGE; p < (gpa + len) / PAGE; p++)
        if (!s->page_private[p]) {
            sim_violation(s, "%s: page 0x%llx is shared, launch updates must target private memory",
                          what, (unsigned long long)(p * PAGE));
            return -1;
        }
    return 0;
}

/* KVM's x86 reset state, which is what a vCPU's VMSA holds unless the VMM sets registers. */
static void sim_vcpu_reset(struct sim_vcpu *v)
{
    struct kvm_sregs sr;
    memset(&sr, 0, sizeof(sr));
    struct kvm_segment data = {.limit = 0xffff, .type = 3, .present = 1, .s = 1};
    sr.es = sr.ss = sr.ds = sr.fs = sr.gs = data;
    sr.cs = data;
    sr.cs.selector = 0xf000;
    sr.cs.base = 0xffff0000;
    sr.cs.type = 0xb;
    sr.ldt = (struct kvm_segment){.limit = 0xffff, .type = 2, .present = 1};
    sr.tr = (struct kvm_segment){.limit = 0xffff, .type = 0xb, .present = 1};
    sr.gdt.limit = 0xffff;
    sr.idt.limit = 0xffff;
    sr.cr0 = 0x60000010;
    memcpy(v->sregs, &sr, sizeof(sr));
    v->regs_rip = 0xfff0;
    v->regs_rflags = 2;
    v->regs_rdx = 0x600;
    memset(v->gprs, 0, sizeof(v->gprs));
    v->fcw = 0x37f;
    v->mxcsr = 0x1f80;
    v->xcr0 = 1;
    v->pat = 0x0007040600070406ULL;
    v->dr6 = 0xffff0ff0;
    v->dr7 = 0x400;
}

static int sim_open(void *ctx, const char *path, int flags)
{
    struct sim_tee *s = ctx;
    if (!strcmp(path, "/dev/kvm"))
        return s->kvm_fd = s->next_fd++;
    if (!strcmp(path, "/sys/devices/system/cpu/smt/active"))
        return s->smt_fd = s->next_fd++;
    if (!strcmp(path, "/dev/sev")) {
        if (!s->has_dev_sev) {
            errno = ENOENT;
            return -1;
        }
        return s->sev_fd = s->next_fd++;
    }
    errno = ENOENT;
    return -1;
}

static const struct kvm_cpuid_entry2 sim_cpuid[] = {
    {.function = 0, .eax = 0xd, .ebx = 0x68747541, .ecx = 0x444d4163, .edx = 0x69746e65},
    {.function = 1,
     .eax = 0x00a00f11,
     .ebx = 0x800,
     .ecx = 0xfef83203 | (1u << 24) | (1u << 21), /* KVM always offers x2APIC */
     .edx = 0x178bfbff},
    {.function = 7,
     .index = 0,
     .flags = KVM_CPUID_FLAG_SIGNIFCANT_INDEX,
     .ebx = 0x219c97a9,
     .edx = 0xfc000010},
    {.function = 0xd,
     .index = 0,
     .flags = KVM_CPUID_FLAG_SIGNIFCANT_INDEX,
     .eax = 0x7,
     .ebx = 0x340,
     .ecx = 0x340},
    {.function = 0xd, .index = 1, .flags = KVM_CPUID_FLAG_SIGNIFCANT_INDEX, .eax = 0xf},
    {.function = 0x80000000, .eax = 0x80000021},
    /* phys_as | virt_as << 8 | g_phys_as << 16, as __do_cpuid_func reports it with TDP */
    {.function = 0x80000008, .eax = 0x303030, .ebx = 0x0300d205},
    {.function = 0x8000001f, .eax = 0x1b, .ebx = 0x33},
};

static int sim_kvm_fd_ioctl(struct sim_tee *s, unsigned long req, void *arg)
{
    switch (req) {
    case KVM_GET_API_VERSION:
        return KVM_API_VERSION;
    case KVM_CHECK_EXTENSION:
        switch ((long)arg) {
        case KVM_CAP_VM_TYPES:
            return (int)s->vm_types;
        case KVM_CAP_GUEST_MEMFD:
        case KVM_CAP_USER_MEMORY2:
        case KVM_CAP_SPLIT_IRQCHIP:
            return 1;
        case KVM_CAP_EXIT_HYPERCALL:
            return 1 << KVM_HC_MAP_GPA_RANGE;
        case KVM_CAP_IMMEDIATE_EXIT:
        case KVM_CAP_IOEVENTFD_ANY_LENGTH:
            return 1;
        case KVM_CAP_MAX_VCPUS:
            return SIM_MAX_VCPUS;
        case KVM_CAP_MEMORY_ATTRIBUTES:
            return 0; /* only a VM fd knows */
        default:
            return 0;
        }
    case KVM_CREATE_VM: {
        /* kvm_arch_init_vm (x86.c): a type not in kvm_caps.supported_vm_types is -EINVAL. */
        unsigned type = (unsigned)(uintptr_t)arg;
        s->vm_creates++;
        if (type >= 32 || !(s->vm_types & (1u << type))) {
            errno = EINVAL;
            return -1;
        }
        s->vm_type = type;
        return s->vm_fd = s->next_fd++;
    }
    case KVM_GET_VCPU_MMAP_SIZE:
        return RUN_SIZE;
    case KVM_GET_SUPPORTED_CPUID: {
        struct kvm_cpuid2 *c = arg;
        size_t base = sizeof(sim_cpuid) / sizeof(sim_cpuid[0]), n = base + s->extra_cpuid;
        if (c->nent < n) {
            c->nent = (uint32_t)n;
            errno = E2BIG;
            return -1;
        }
        c->nent = (uint32_t)n;
        memcpy(c->entries, sim_cpuid, sizeof(sim_cpuid));
        for (size_t i = base; i < n; i++) /* more XSAVE component subleaves */
            c->entries[i] = (struct kvm_cpuid_entry2){.function = 0xd,
                                                      .index = (uint32_t)(i - base + 2),
                                                      .flags = KVM_CPUID_FLAG_SIGNIFCANT_INDEX,
                                                      .eax = 0x100};
        for (uint32_t i = 0; s->drop_cpuid_leaf && i < c->nent; i++)
            if (c->entries[i].function == s->drop_cpuid_leaf)
                c->entries[i--] = c->entries[--c->nent];
        return 0;
    }
    case KVM_GET_DEVICE_ATTR: {
        struct kvm_device_attr *a = arg;
        if (s->kind == SIM_HOST_SNP && a->group == KVM_X86_GRP_SEV &&
            a->attr == KVM_X86_SEV_VMSA_FEATURES) {
            uint64_t v = 0x3e; /* a few features beyond SNPActive */
            memcpy((void *)(uintptr_t)a->addr, &v, 8);
            return 0;
        }
        if (s->kind == SIM_HOST_SNP && s->policy_bits_attr && a->group == KVM_X86_GRP_SEV &&
            a->attr == KVM_X86_SNP_POLICY_BITS) {
            memcpy((void *)(uintptr_t)a->addr, &s->policy_bits, 8);
            return 0;
        }
        errno = ENXIO;
        return -1;
    }
    case KVM_HAS_DEVICE_ATTR:
        errno = ENXIO;
        return -1;
    }
    errno = ENOTTY;
    return -1;
}

/* ---- interrupts (virt/kvm/irqchip.c, arch/x86/kvm/irq.c) ---- */

static void sim_default_routes(struct sim_tee *s)
{
    s->nr_routes = 0;
    for (uint32_t gsi = 0; gsi < 24; gsi++) {
        if (gsi < 16)
            s->routes[s->nr_routes++] = (struct kvm_irq_routing_entry){
                .gsi = gsi,
                .type = KVM_IRQ_ROUTING_IRQCHIP,
                .u.irqchip = {.irqchip = gsi < 8 ? KVM_IRQCHIP_PIC_MASTER : KVM_IRQCHIP_PIC_SLAVE,
                              .pin = gsi % 8}};
        s->routes[s->nr_routes++] = (struct kvm_irq_routing_entry){
            .gsi = gsi,
            .type = KVM_IRQ_ROUTING_IRQCHIP,
            .u.irqchip = {.irqchip = KVM_IRQCHIP_IOAPIC, .pin = gsi}};
    }
}

/* kvm_set_routing_entry (arch/x86/kvm/irq.c): IRQCHIP entries are -EINVAL with a split irqchip,
 * PIC pins < 8, IOAPIC pins < 24; MSI entries are accepted; other types -EINVAL. */
static bool sim_route_ok(const struct sim_tee *s, const struct kvm_irq_routing_entry *e)
{
    switch (e->type) {
    case KVM_IRQ_ROUTING_IRQCHIP:
        if (s->split_irqchip)
            return false;
        if (e->u.irqchip.irqchip == KVM_IRQCHIP_IOAPIC)
            return e->u.irqchip.pin < 24;
        return e->u.irqchip.irqchip <= KVM_IRQCHIP_PIC_SLAVE && e->u.irqchip.pin < 8;
    case KVM_IRQ_ROUTING_MSI:
        return true;
    default:
        return false;
    }
}

/* kvm_vm_ioctl KVM_SET_GSI_ROUTING + kvm_set_irq_routing (virt/kvm/irqchip.c): needs an irqchip
 * in the kernel (kvm_arch_can_set_irq_routing), nr <= KVM_MAX_IRQ_ROUTES, flags 0, each gsi <
 * KVM_MAX_IRQ_ROUTES and entry flags 0, and setup_routing_entry's rule: a GSI with a non-irqchip
 * route has no other route. One bad entry fails the whole table (-EINVAL), the old one stays. */
static int sim_set_gsi_routing(struct sim_tee *s, const struct kvm_irq_routing *t)
{
    if (!(s->irqchip || s->split_irqchip) || t->flags || t->nr > 4096) {
        sim_violation(s, "KVM_SET_GSI_ROUTING without an irqchip or malformed");
        errno = EINVAL;
        return -1;
    }
    if (s->refuse_routing) {
        errno = ENOMEM;
        return -1;
    }
    for (uint32_t i = 0; i < t->nr; i++) {
        const struct kvm_irq_routing_entry *e = &t->entries[i];
        bool ok = e->gsi < 4096 && !e->flags && sim_route_ok(s, e);
        for (uint32_t j = 0; ok && j < i; j++)
            if (t->entries[j].gsi == e->gsi &&
                (e->type != KVM_IRQ_ROUTING_IRQCHIP ||
                 t->entries[j].type != KVM_IRQ_ROUTING_IRQCHIP ||
                 t->entries[j].u.irqchip.irqchip == e->u.irqchip.irqchip))
                ok = false;
        if (!ok) {
            sim_violation(s, "KVM_SET_GSI_ROUTING entry %u (gsi %u type %u) refused%s", i, e->gsi,
                          e->type, s->split_irqchip ? " (split irqchip)" : "");
            errno = EINVAL;
            return -1;
        }
    }
    if (t->nr > SIM_MAX_ROUTES) {
        sim_violation(s, "more routes than the simulator keeps");
        errno = ENOMEM;
        return -1;
    }
    memcpy(s->routes, t->entries, t->nr * sizeof(t->entries[0]));
    s->nr_routes = t->nr;
    s->routing_sets++;
    return 0;
}

static void sim_record_msi(struct sim_tee *s, uint64_t addr, uint32_t data)
{
    if (s->nr_msi < SIM_MAX_MSIS) {
        s->msi[s->nr_msi].addr = addr;
        s->msi[s->nr_msi].data = data;
    }
    s->nr_msi++;
}

/* kvm_vm_ioctl_irq_line: -ENXIO without an irqchip in the kernel; kvm_set_irq then calls every
 * route of the GSI (an MSI route fires only on level 1: kvm_set_msi). A GSI with no route
 * reaches nothing, which is what KVM_IRQ_LINE does with a split irqchip unless userspace put an
 * MSI route there. */
static int sim_irq_line(struct sim_tee *s, struct kvm_irq_level *l)
{
    if (!(s->irqchip || s->split_irqchip)) {
        errno = ENXIO;
        return -1;
    }
    bool routed = false;
    for (unsigned i = 0; i < s->nr_routes; i++) {
        const struct kvm_irq_routing_entry *e = &s->routes[i];
        if (e->gsi != l->irq)
            continue;
        routed = true;
        if (e->type == KVM_IRQ_ROUTING_MSI && l->level)
            sim_record_msi(s, (uint64_t)e->u.msi.address_hi << 32 | e->u.msi.address_lo,
                           e->u.msi.data);
    }
    if (!routed)
        s->lost_irq_lines++;
    return 0;
}

/* kvm_send_userspace_msi (virt/kvm/irqchip.c): -EINVAL without an irqchip in the kernel or with
 * flags other than KVM_MSI_VALID_DEVID. */
static int sim_signal_msi(struct sim_tee *s, const struct kvm_msi *m)
{
    if (!(s->irqchip || s->split_irqchip) || (m->flags & ~KVM_MSI_VALID_DEVID)) {
        sim_violation(s, "KVM_SIGNAL_MSI without an irqchip or with bad flags");
        errno = EINVAL;
        return -1;
    }
    sim_record_msi(s, (uint64_t)m->address_hi << 32 | m->address_lo, m->data);
    return 1;
}

/* kvm_vcpu_ioctl_set_cpuid2 / kvm_set_cpuid (arch/x86/kvm/cpuid.c): more than
 * KVM_MAX_CPUID_ENTRIES is -E2BIG; once the vCPU has run only an identical table is accepted
 * (kvm_cpuid_check_equal, -EINVAL). */
static int sim_set_cpuid(struct sim_tee *s, struct sim_vcpu *v, const struct kvm_cpuid2 *c)
{
    if (c->nent > 256) {
        errno = E2BIG;
        return -1;
    }
    if (v->ran &&
        (c->nent != v->cpuid_n || memcmp(c->entries, v->cpuid, c->nent * sizeof(c->entries[0])))) {
        sim_violation(s, "KVM_SET_CPUID2 changes the CPUID of a vCPU that has run");
        errno = EINVAL;
        return -1;
    }
    if (c->nent > SIM_MAX_CPUID) {
        sim_violation(s, "more CPUID entries than the simulator keeps");
        errno = ENOMEM;
        return -1;
    }
    memcpy(v->cpuid, c->entries, c->nent * sizeof(c->entries[0]));
    v->cpuid_n = c->nent;
    return 0;
}

static int sim_vm_ioctl(struct sim_tee *s, unsigned long req, void *arg)
{
    switch (req) {
    case KVM_CHECK_EXTENSION:
        if ((long)arg == KVM_CAP_MEMORY_ATTRIBUTES)
            return s->vm_type ? (int)KVM_MEMORY_ATTRIBUTE_PRIVATE : 0;
        return sim_kvm_fd_ioctl(s, req, arg);
    case KVM_ENABLE_CAP: {
        struct kvm_enable_cap *c = arg;
        if (c->cap == KVM_CAP_EXIT_HYPERCALL) {
            /* kvm_vm_ioctl_enable_cap: bits outside KVM_EXIT_HYPERCALL_VALID_MASK are -EINVAL. */
            if (c->args[0] & ~(1ULL << KVM_HC_MAP_GPA_RANGE)) {
                errno = EINVAL;
                return -1;
            }
            s->hypercall_exit = true;
            return 0;
        }
        if (c->cap == KVM_CAP_SPLIT_IRQCHIP) {
            /* kvm_vm_ioctl_enable_cap (x86.c): > MAX_NR_RESERVED_IOAPIC_PINS (256) is -EINVAL,
             * an irqchip already in the kernel -EEXIST, after vCPU creation -EINVAL. */
            if (s->nr_vcpus || s->irqchip || s->split_irqchip || c->args[0] > 256) {
                sim_violation(s, "split irqchip enabled after vCPUs, twice or with a full "
                                 "irqchip");
                errno = (s->irqchip || s->split_irqchip) ? EEXIST : EINVAL;
                return -1;
            }
            s->split_irqchip = true;
            s->nr_routes = 0; /* kvm_setup_empty_irq_routing */
            return 0;
        }
        if (c->cap == KVM_CAP_X86_APIC_BUS_CYCLES_NS) {
            /* kvm_vm_ioctl_enable_cap: 0 or a value after vCPU creation (or once the APIC bus
             * frequency is in use) is -EINVAL. */
            if (s->nr_vcpus || !c->args[0]) {
                sim_violation(s, "APIC bus frequency set after vCPUs exist or zero");
                errno = EINVAL;
                return -1;
            }
            return 0;
        }
        errno = EINVAL;
        return -1;
    }
    case KVM_SET_IDENTITY_MAP_ADDR:
    case KVM_SET_TSS_ADDR:
        return 0;
    case KVM_IOEVENTFD: {
        /* kvm_ioeventfd / kvm_assign_ioeventfd (virt/kvm/eventfd.c): unknown flags, a length
         * other than 0/1/2/4/8, a wrapping range, or DATAMATCH with length 0 are -EINVAL. */
        const struct kvm_ioeventfd *io = arg;
        bool bad = (io->flags & ~(uint32_t)((1 << kvm_ioeventfd_flag_nr_max) - 1)) ||
                   (io->len != 0 && io->len != 1 && io->len != 2 && io->len != 4 && io->len != 8) ||
                   io->addr + io->len < io->addr ||
                   (!io->len && (io->flags & KVM_IOEVENTFD_FLAG_DATAMATCH));
        if (bad) {
            sim_violation(s, "KVM_IOEVENTFD malformed (len %u flags 0x%x)", io->len, io->flags);
            errno = EINVAL;
            return -1;
        }
        return 0;
    }
    case KVM_SET_GSI_ROUTING:
        return sim_set_gsi_routing(s, arg);
    case KVM_IRQ_LINE:
        return sim_irq_line(s, arg);
    case KVM_SIGNAL_MSI:
        return sim_signal_msi(s, arg);
    case KVM_IRQFD: {
        /* kvm_arch_irqfd_allowed (arch/x86/kvm/irq.c): a resampler needs the full irqchip,
         * any irqfd an irqchip in the kernel (full or split). */
        const struct kvm_irqfd *f = arg;
        bool resample = f->flags & KVM_IRQFD_FLAG_RESAMPLE;
        /* kvm_irqfd (virt/kvm/eventfd.c): flags beyond DEASSIGN|RESAMPLE are -EINVAL. */
        if (f->flags & ~(uint32_t)(KVM_IRQFD_FLAG_DEASSIGN | KVM_IRQFD_FLAG_RESAMPLE)) {
            sim_violation(s, "KVM_IRQFD with unknown flags 0x%x", f->flags);
            errno = EINVAL;
            return -1;
        }
        if (resample ? !s->irqchip : !(s->irqchip || s->split_irqchip)) {
            sim_violation(s, "KVM_IRQFD without the irqchip it needs");
            errno = EINVAL;
            return -1;
        }
        return 0;
    }
    case KVM_CREATE_PIT2:
        /* kvm_arch_vm_ioctl KVM_CREATE_PIT2: -ENOENT unless the PIC is in the kernel. */
        if (!s->irqchip) {
            sim_violation(s, "KVM_CREATE_PIT2 without the in-kernel irqchip");
            errno = ENOENT;
            return -1;
        }
        return 0;
    case KVM_SET_USER_MEMORY_REGION:
        /* Not a refusal in KVM: a slot without guest_memfd on an SNP/TDX VM can never back a
         * private fault (kvm_faultin_pfn → KVM_EXIT_MEMORY_FAULT forever), so flag it. */
        if (s->vm_type != KVM_X86_DEFAULT_VM)
            sim_violation(s, "plain memslot on a confidential VM (needs guest_memfd)");
        return 0;
    case KVM_CREATE_IRQCHIP:
        /* kvm_arch_vm_ioctl KVM_CREATE_IRQCHIP: -ENOTTY when the VM has protected EOIs (a TD:
         * kvm->arch.has_protected_eoi, set by tdx_vm_init), -EEXIST with an irqchip already,
         * -EINVAL after vCPU creation. */
        if (s->vm_type == KVM_X86_TDX_VM) {
            sim_violation(s, "KVM_CREATE_IRQCHIP on a TD (TDX needs the split irqchip)");
            errno = ENOTTY;
            return -1;
        }
        if (s->irqchip || s->split_irqchip || s->nr_vcpus) {
            sim_violation(s, "KVM_CREATE_IRQCHIP twice, on a split irqchip or after vCPUs");
            errno = s->nr_vcpus ? EINVAL : EEXIST;
            return -1;
        }
        s->irqchip = true;
        sim_default_routes(s); /* kvm_setup_default_irq_routing */
        return 0;
    case KVM_CREATE_GUEST_MEMFD: {
        /* kvm_gmem_create (virt/kvm/guest_memfd.c): unknown flags, a size of 0 or not page
         * aligned are -EINVAL. */
        struct kvm_create_guest_memfd *g = arg;
        if (!s->vm_type || g->flags || !g->size || g->size % PAGE || s->nr_gmem == SIM_MAX_SLOTS) {
            errno = EINVAL;
            return -1;
        }
        int fd = s->next_fd++;
        s->gmem_fds[s->nr_gmem] = fd;
        s->gmem_sizes[s->nr_gmem++] = g->size;
        return fd;
    }
    case KVM_SET_USER_MEMORY_REGION2: {
        /* kvm_set_memory_region / check_memory_region_flags (kvm_main.c): GPA, size and
         * userspace address page aligned; kvm_gmem_bind: the fd must be a guest_memfd of this VM
         * and offset + size within it (-EINVAL). */
        const struct kvm_userspace_memory_region2 *r = arg;
        if (!(r->flags & KVM_MEM_GUEST_MEMFD) || r->guest_phys_addr % PAGE ||
            r->guest_memfd_offset % PAGE || r->memory_size % PAGE || r->userspace_addr % PAGE ||
            s->nr_slots == SIM_MAX_SLOTS) {
            sim_violation(s, "memslot2 %u malformed", r->slot);
            errno = EINVAL;
            return -1;
        }
        bool known = false;
        for (unsigned i = 0; i < s->nr_gmem; i++)
            if (s->gmem_fds[i] == (int)r->guest_memfd &&
                r->guest_memfd_offset + r->memory_size <= s->gmem_sizes[i])
                known = true;
        if (!known) {
            sim_violation(s, "memslot2 %u names no guest_memfd of this VM", r->slot);
            errno = EINVAL;
            return -1;
        }
        s->slot[s->nr_slots].gpa = r->guest_phys_addr;
        s->slot[s->nr_slots].size = r->memory_size;
        s->slot[s->nr_slots].uaddr = r->userspace_addr;
        s->slot[s->nr_slots].gmem_fd = (int)r->guest_memfd;
        s->nr_slots++;
        return 0;
    }
    case KVM_SET_MEMORY_ATTRIBUTES: {
        /* kvm_vm_ioctl_set_mem_attributes (kvm_main.c): flags 0, only supported attributes,
         * size non-zero and page aligned, address page aligned, no wrap: else -EINVAL. */
        const struct kvm_memory_attributes *a = arg;
        if (!s->vm_type || a->flags || a->address % PAGE || a->size % PAGE || !a->size ||
            (a->attributes & ~KVM_MEMORY_ATTRIBUTE_PRIVATE) ||
            (a->address + a->size) / PAGE > SIM_MAX_PAGES) {
            errno = EINVAL;
            return -1;
        }
        for (uint64_t p = a->address / PAGE; p < (a->address + a->size) / PAGE; p++)
            s->page_private[p] = a->attributes ? 1 : 0;
        return 0;
    }
    case KVM_CREATE_VCPU: {
        if (s->nr_vcpus == SIM_MAX_VCPUS) {
            errno = EINVAL;
            return -1;
        }
        /* tdx_vcpu_create (vmx/tdx.c): -EINVAL without the split irqchip, -EIO before
         * KVM_TDX_INIT_VM. */
        if (s->vm_type == KVM_X86_TDX_VM && (!s->tdx_init_vm || !s->split_irqchip)) {
            sim_violation(s, "TD vCPU created before INIT_VM / split irqchip");
            errno = s->split_irqchip ? EIO : EINVAL;
            return -1;
        }
        /* A vCPU made after SNP_LAUNCH_FINISH gets no VMSA and can never run (pre_sev_run);
         * newer kernels refuse it outright ("KVM: SEV: ... snp_finished", 2026). */
        if (s->snp_finished) {
            sim_violation(s, "vCPU created after SNP_LAUNCH_FINISH");
            errno = EINVAL;
            return -1;
        }
        struct sim_vcpu *v = &s->vcpu[s->nr_vcpus++];
        memset(v, 0, sizeof(*v));
        v->fd = s->next_fd++;
        sim_vcpu_reset(v);
        return v->fd;
    }
    case KVM_MEMORY_ENCRYPT_OP:
        /* kvm_arch_vm_ioctl: -ENOTTY without a mem_enc_ioctl for this VM type. */
        s->commands++;
        if (s->vm_type == KVM_X86_SNP_VM)
            return sim_snp_cmd(s, arg);
        if (s->vm_type == KVM_X86_TDX_VM)
            return sim_tdx_vm_cmd(s, arg);
        errno = ENOTTY;
        return -1;
    }
    errno = ENOTTY;
    return -1;
}

/* Register writes: kvm_arch_vcpu_ioctl_set_regs/_sregs/_fpu, KVM_SET_XCRS, KVM_SET_DEBUGREGS,
 * KVM_SET_LAPIC (x86.c) return -EINVAL once vcpu->arch.guest_state_protected (a TD always; SNP
 * from LAUNCH_FINISH, when KVM turns the registers into the VMSA). */
static bool sim_regs_locked(struct sim_tee *s, const char *what)
{
    if (s->vm_type == KVM_X86_TDX_VM || s->snp_finished) {
        sim_violation(s, "%s after the guest state became protected", what);
        errno = EINVAL;
        return true;
    }
    return false;
}

static int sim_run(struct sim_tee *s, struct sim_vcpu *v)
{
    struct kvm_run *run = v->run;
    if (!run) {
        errno = EINVAL;
        return -1;
    }
    /* tdx_vcpu_pre_run: -EINVAL unless the vCPU is initialised and the TD runnable; SNP:
     * pre_sev_run has no VMSA before LAUNCH_FINISH (-EINVAL). */
    if ((s->vm_type == KVM_X86_SNP_VM && !s->snp_finished) ||
        (s->vm_type == KVM_X86_TDX_VM && (!s->tdx_finalized || !v->tdx_init))) {
        sim_violation(s, "KVM_RUN before the measured launch finished");
        errno = EINVAL;
        return -1;
    }
    s->runs++;
    v->ran = true;
    if (v != &s->vcpu[0] && s->script_pos < s->script_len) {
        /* Scripted exits belong to vCPU 0; the others idle (as if halted) until it is done. */
        pthread_mutex_unlock(&s->lock);
        usleep(1000);
        pthread_mutex_lock(&s->lock);
        errno = EINTR;
        return -1;
    }
    if (s->script_pos == s->script_len) { /* nothing scripted: the guest powers off */
        run->exit_reason = KVM_EXIT_SYSTEM_EVENT;
        run->system_event.type = KVM_SYSTEM_EVENT_SHUTDOWN;
        run->system_event.ndata = 0;
        return 0;
    }
    const struct sim_exit *e = &s->script[s->script_pos++];
    run->exit_reason = e->reason;
    if (e->reason == KVM_EXIT_HYPERCALL) {
        run->hypercall.nr = e->a0;
        run->hypercall.args[0] = e->a1;
        run->hypercall.args[1] = e->a2;
        run->hypercall.args[2] = e->a3;
        run->hypercall.ret = 0xdead;
    } else if (e->reason == KVM_EXIT_MEMORY_FAULT) {
        struct tee_run_memory_fault *mf = tee_run_union(run);
        mf->flags = e->a0;
        mf->gpa = e->a1;
        mf->size = e->a2;
    }
    if (e->ret_errno) {
        errno = e->ret_errno;
        return -1;
    }
    return 0;
}

static int sim_vcpu_ioctl(struct sim_tee *s, struct sim_vcpu *v, unsigned idx, unsigned long req,
                          void *arg)
{
    switch (req) {
    case KVM_GET_SREGS:
        memcpy(arg, v->sregs, sizeof(struct kvm_sregs));
        return 0;
    case KVM_SET_SREGS:
        if (sim_regs_locked(s, "KVM_SET_SREGS"))
            return -1;
        memcpy(v->sregs, arg, sizeof(struct kvm_sregs));
        return 0;
    case KVM_GET_REGS: {
        struct kvm_regs *r = arg;
        memset(r, 0, sizeof(*r));
        r->rip = v->regs_rip;
        r->rflags = v->regs_rflags;
        r->rdx = v->regs_rdx;
        return 0;
    }
    case KVM_SET_REGS: {
        if (sim_regs_locked(s, "KVM_SET_REGS"))
            return -1;
        const struct kvm_regs *r = arg;
        v->regs_rip = r->rip;
        v->regs_rflags = r->rflags;
        v->regs_rdx = r->rdx;
        uint64_t g[16] = {r->rax, r->rcx, r->rdx, r->rbx, r->rsp, r->rbp, r->rsi, r->rdi,
                          r->r8,  r->r9,  r->r10, r->r11, r->r12, r->r13, r->r14, r->r15};
        memcpy(v->gprs, g, sizeof(g));
        return 0;
    }
    case KVM_GET_FPU: {
        struct kvm_fpu *f = arg;
        memset(f, 0, sizeof(*f));
        f->fcw = v->fcw;
        f->mxcsr = v->mxcsr;
        return 0;
    }
    case KVM_SET_FPU: {
        if (sim_regs_locked(s, "KVM_SET_FPU"))
            return -1;
        const struct kvm_fpu *f = arg;
        v->fcw = f->fcw;
        v->mxcsr = f->mxcsr;
        return 0;
    }
    case KVM_SET_XCRS: {
        if (sim_regs_locked(s, "KVM_SET_XCRS"))
            return -1;
        const struct kvm_xcrs *x = arg;
        for (unsigned i = 0; i < x->nr_xcrs && i < KVM_MAX_XCRS; i++)
            if (x->xcrs[i].xcr == 0)
                v->xcr0 = x->xcrs[i].value;
        return 0;
    }
    case KVM_SET_DEBUGREGS: {
        if (sim_regs_locked(s, "KVM_SET_DEBUGREGS"))
            return -1;
        const struct kvm_debugregs *d = arg;
        v->dr6 = d->dr6;
        v->dr7 = d->dr7;
        return 0;
    }
    case KVM_SET_MSRS: {
        if (s->vm_type != KVM_X86_TDX_VM && sim_regs_locked(s, "KVM_SET_MSRS"))
            return -1;
        const struct kvm_msrs *m = arg;
        for (unsigned i = 0; i < m->nmsrs; i++)
            if (m->entries[i].index == 0x277)
                v->pat = m->entries[i].data;
        return (int)m->nmsrs;
    }
    case KVM_SET_CPUID2:
        return sim_set_cpuid(s, v, arg);
    case KVM_GET_CPUID2: {
        /* kvm_vcpu_ioctl_get_cpuid2 (cpuid.c): -E2BIG when nent is too small (nent is not
         * updated then); else the entries and their count. */
        struct kvm_cpuid2 *c = arg;
        if (c->nent < v->cpuid_n) {
            errno = E2BIG;
            return -1;
        }
        c->nent = v->cpuid_n;
        memcpy(c->entries, v->cpuid, v->cpuid_n * sizeof(v->cpuid[0]));
        return 0;
    }
    case KVM_GET_LAPIC:
        /* kvm_vcpu_ioctl_get_lapic (x86.c): -EINVAL when guest_apic_protected (every TD vCPU,
         * set by tdx_vcpu_create). */
        if (s->vm_type == KVM_X86_TDX_VM) {
            sim_violation(s, "KVM_GET_LAPIC on a TD vCPU (its APIC is protected)");
            errno = EINVAL;
            return -1;
        }
        memset(arg, 0, sizeof(struct kvm_lapic_state));
        return 0;
    case KVM_SET_LAPIC: /* kvm_vcpu_ioctl_set_lapic: -EINVAL when guest_apic_protected */
        if (sim_regs_locked(s, "KVM_SET_LAPIC"))
            return -1;
        return 0;
    case KVM_MEMORY_ENCRYPT_OP:
        s->commands++;
        if (s->vm_type == KVM_X86_TDX_VM)
            return sim_tdx_vcpu_cmd(s, idx, arg);
        errno = EINVAL;
        return -1;
    case KVM_RUN:
        return sim_run(s, v);
    }
    errno = ENOTTY;
    return -1;
}

static int sim_ioctl_locked(struct sim_tee *s, int fd, unsigned long req, void *arg)
{
    unsigned idx;
    struct sim_vcpu *v;
    if (fd == s->kvm_fd)
        return sim_kvm_fd_ioctl(s, req, arg);
    if (fd == s->vm_fd)
        return sim_vm_ioctl(s, req, arg);
    if ((v = sim_vcpu_of(s, fd, &idx)))
        return sim_vcpu_ioctl(s, v, idx, req, arg);
    errno = EBADF;
    return -1;
}

/* vCPU threads of the real VMM call in concurrently: one lock keeps the model consistent. */
static int sim_ioctl(void *ctx, int fd, unsigned long req, void *arg)
{
    struct sim_tee *s = ctx;
    pthread_mutex_lock(&s->lock);
    int rc = sim_ioctl_locked(s, fd, req, arg);
    int e = errno;
    pthread_mutex_unlock(&s->lock);
    errno = e;
    return rc;
}

static void *sim_mmap(void *ctx, size_t len, int prot, int flags, int fd, off_t off)
{
    struct sim_tee *s = ctx;
    struct sim_vcpu *v = sim_vcpu_of(s, fd, NULL);
    if (!v || len > RUN_SIZE || v->run)
        return MAP_FAILED;
    v->run = calloc(1, RUN_SIZE);
    return v->run ? v->run : MAP_FAILED;
}

static int sim_munmap(void *ctx, void *addr, size_t len)
{
    struct sim_tee *s = ctx;
    for (unsigned i = 0; i < s->nr_vcpus; i++)
        if (s->vcpu[i].run == addr) {
            free(addr);
            s->vcpu[i].run = NULL;
            return 0;
        }
    errno = EINVAL;
    return -1;
}

static int sim_close(void *ctx, int fd)
{
    return 0;
}

static ssize_t sim_read(void *ctx, int fd, void *buf, size_t len)
{
    struct sim_tee *s = ctx;
    if (fd != s->smt_fd || fd < 0) {
        errno = EBADF;
        return -1;
    }
    const char *v = s->host_smt ? "1\n" : "0\n";
    size_t n = len < 2 ? len : 2;
    memcpy(buf, v, n);
    return (ssize_t)n;
}

static int sim_fallocate(void *ctx, int fd, int mode, off_t off, off_t len)
{
    struct sim_tee *s = ctx;
    for (unsigned i = 0; i < s->nr_gmem; i++)
        if (s->gmem_fds[i] == fd) {
            if (off < 0 || len <= 0 || (uint64_t)(off + len) > s->gmem_sizes[i]) {
                errno = EINVAL;
                return -1;
            }
            /* Concurrent conversions punch from several vCPU threads, as the kernel allows. */
            __atomic_fetch_add(&s->punched_bytes, (uint64_t)len, __ATOMIC_RELAXED);
            return 0;
        }
    errno = EBADF;
    return -1;
}

static const struct kvm_sys sim_sys = {
    .open = sim_open,
    .ioctl = sim_ioctl,
    .mmap = sim_mmap,
    .munmap = sim_munmap,
    .close = sim_close,
    .fallocate = sim_fallocate,
    .read = sim_read,
};

struct sim_tee *sim_tee_new(enum sim_tee_kind kind)
{
    struct sim_tee *s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    s->page_private = calloc(SIM_MAX_PAGES, 1);
    s->page_added = calloc(SIM_MAX_PAGES, 1);
    if (!s->page_private || !s->page_added) {
        sim_tee_free(s);
        return NULL;
    }
    pthread_mutex_init(&s->lock, NULL);
    s->kind = kind;
    s->handle.sys = &sim_sys;
    s->handle.ctx = s;
    s->next_fd = SIM_FD_BASE;
    s->kvm_fd = s->vm_fd = s->sev_fd = s->smt_fd = -1;
    s->vm_types = 1u << KVM_X86_DEFAULT_VM;
    if (kind == SIM_HOST_SNP) {
        s->vm_types |= 1u << KVM_X86_SNP_VM;
        s->has_dev_sev = true;
        s->host_smt = true;
    } else if (kind == SIM_HOST_TDX) {
        s->vm_types |= 1u << KVM_X86_TDX_VM;
    }
    return s;
}

void sim_tee_free(struct sim_tee *s)
{
    if (!s)
        return;
    for (unsigned i = 0; i < s->nr_vcpus; i++)
        free(s->vcpu[i].run);
    free(s->page_private);
    free(s->page_added);
    sim_tdx_free_md(s->md);
    free(s);
}

void sim_tee_script(struct sim_tee *s, struct sim_exit e)
{
    if (s->script_len < SIM_MAX_SCRIPT)
        s->script[s->script_len++] = e;
}
