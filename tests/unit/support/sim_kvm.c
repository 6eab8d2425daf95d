/* sim_kvm.c: the plain-KVM simulator of sim_kvm.h. */
#include "sim_kvm.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <sys/mman.h>
#include <cmocka.h>

static int sim_open(void *ctx, const char *path, int flags)
{
    struct sim *s = ctx;
    if (s->no_dev) {
        errno = ENOENT;
        return -1;
    }
    s->open_fds++;
    return SIM_FD_BASE - 1;
}

static int sim_close(void *ctx, int fd)
{
    struct sim *s = ctx;
    s->open_fds--;
    return 0;
}

static void *sim_mmap(void *ctx, size_t len, int prot, int flags, int fd, off_t off)
{
    struct sim *s = ctx;
    void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p != MAP_FAILED)
        s->mapped++;
    return p;
}

static int sim_munmap(void *ctx, void *addr, size_t len)
{
    struct sim *s = ctx;
    s->mapped--;
    return munmap(addr, len);
}

/* The vCPU index of a vCPU fd; out of range fails the test rather than writing past the arrays. */
static int vcpu_of(int fd)
{
    int i = fd - SIM_FD_BASE - 1;
    assert_true(i >= 0 && i < SIM_MAX_VCPUS);
    return i;
}

static int sim_ioctl(void *ctx, int fd, unsigned long req, void *arg)
{
    struct sim *s = ctx;
    if (req == s->fail_req && s->calls_of_fail_req++ >= s->fail_after) {
        errno = EINVAL;
        return -1;
    }
    switch (req) {
    case KVM_GET_API_VERSION:
        return s->api_version;
    case KVM_CHECK_EXTENSION:
        if ((long)arg == KVM_CAP_MAX_VCPUS)
            return s->max_vcpus;
        return 1;
    case KVM_CREATE_VM:
        s->open_fds++;
        return SIM_FD_BASE;
    case KVM_SET_USER_MEMORY_REGION: {
        struct kvm_userspace_memory_region *r = arg;
        if (r->slot < 4)
            s->slot_size[r->slot] = r->memory_size;
        s->slots++;
        return 0;
    }
    case KVM_CREATE_IRQCHIP:
        s->irqchip = true;
        return 0;
    case KVM_CREATE_PIT2:
        s->pit = true;
        return 0;
    case KVM_GET_SUPPORTED_CPUID: {
        struct kvm_cpuid2 *c = arg;
        if (c->nent < 2) {
            errno = E2BIG;
            return -1;
        }
        c->nent = 2;
        c->entries[0] = (struct kvm_cpuid_entry2){.function = 0, .eax = 0xd};
        c->entries[1] = (struct kvm_cpuid_entry2){.function = 1, .ebx = 0xFF000800};
        return 0;
    }
    case KVM_CREATE_VCPU:
        s->open_fds++;
        s->vcpus++;
        return SIM_FD_BASE + 1 + (int)(long)arg;
    case KVM_GET_VCPU_MMAP_SIZE:
        return 3 * 4096;
    case KVM_SET_CPUID2: {
        const struct kvm_cpuid2 *c = arg;
        for (unsigned i = 0; i < c->nent; i++)
            if (c->entries[i].function == 1)
                s->apic_id_from_cpuid[vcpu_of(fd)] = c->entries[i].ebx >> 24;
        return 0;
    }
    case KVM_GET_LAPIC:
        memset(arg, 0, sizeof(struct kvm_lapic_state));
        return 0;
    case KVM_SET_LAPIC:
        memcpy(&s->lvt0[vcpu_of(fd)], &((struct kvm_lapic_state *)arg)->regs[0x350], 4);
        return 0;
    case KVM_SET_MSRS:
        return (int)((struct kvm_msrs *)arg)->nmsrs;
    case KVM_GET_SREGS:
        memset(arg, 0, sizeof(struct kvm_sregs));
        return 0;
    case KVM_SET_SREGS:
        s->sregs[vcpu_of(fd)] = *(struct kvm_sregs *)arg;
        return 0;
    case KVM_SET_REGS:
        s->regs[vcpu_of(fd)] = *(struct kvm_regs *)arg;
        return 0;
    case KVM_IRQ_LINE: {
        const struct kvm_irq_level *l = arg;
        if (l->level && l->irq < sizeof(s->irq_raises) / sizeof(s->irq_raises[0]))
            s->irq_raises[l->irq]++;
        return 0;
    }
    default: /* identity map, TSS address, FPU */
        return 0;
    }
}

static const struct kvm_sys sim_sys = {
    .open = sim_open,
    .ioctl = sim_ioctl,
    .mmap = sim_mmap,
    .munmap = sim_munmap,
    .close = sim_close,
};

void sim_init(struct sim *s)
{
    memset(s, 0, sizeof(*s));
    s->h = (struct kvm_handle){.sys = &sim_sys, .ctx = s};
    s->max_vcpus = SIM_MAX_VCPUS;
    s->api_version = KVM_API_VERSION;
    s->fail_req = ~0UL;
}
