/* vcpu.c: vCPU creation (CPUID, LAPIC, MSRs), boot registers, the KVM_RUN thread, exit dispatch. */
#include <errno.h>
#include <linux/kvm.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "tee/tee.h"
#include "vmm/emulation_quirks.h"
#include "vmm/base/log.h"
#include "vmm/msi.h"
#include "vmm/seccomp.h"
#include "vmm/vm_internal.h"

/* The signal that knocks a vCPU thread out of KVM_RUN. */
#define VCPU_KICK_SIGNAL (SIGRTMIN)

#define CR0_PE   0x1ULL
#define CR0_ET   0x10ULL
#define CR0_PG   0x80000000ULL
#define CR4_PAE  0x20ULL
#define EFER_LME 0x100ULL
#define EFER_LMA 0x400ULL

#define MSR_IA32_MISC_ENABLE 0x1a0
#define MSR_MTRR_DEF_TYPE    0x2ff

#define APIC_LVT0        0x350
#define APIC_LVT1        0x360
#define APIC_MODE_NMI    4
#define APIC_MODE_EXTINT 7

#define BOOT_STACK 0x8FF0ULL /* free page between boot_params and the page tables */

static void vcpu_kick_handler(int sig)
{
    (void)sig; /* interrupting KVM_RUN is all it takes */
}

static pthread_once_t kick_once = PTHREAD_ONCE_INIT;

static void vcpu_install_kick_handler(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = vcpu_kick_handler;
    sa.sa_flags = SA_RESTART; /* other syscalls restart; KVM_RUN still returns EINTR */
    sigemptyset(&sa.sa_mask);
    sigaction(VCPU_KICK_SIGNAL, &sa, NULL);
}

/* ---- Creation. ---- */

/* Per-vCPU CPUID: APIC IDs, topology count, and the hypervisor bit. */
static int vcpu_set_cpuid(struct vcpu *v, const struct kvm_cpuid2 *base, char *err, size_t errlen)
{
    size_t size = sizeof(*base) + base->nent * sizeof(base->entries[0]);
    struct kvm_cpuid2 *c = malloc(size);
    if (!c) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    memcpy(c, base, size);
    for (unsigned i = 0; i < c->nent; i++) {
        struct kvm_cpuid_entry2 *e = &c->entries[i];
        switch (e->function) {
        case 1:
            e->ebx = (e->ebx & 0x0000FFFF) | (v->index << 24) | ((v->vm->cfg.cpus & 0xFF) << 16);
            e->ecx |= 1U << 31; /* running under a hypervisor */
            break;
        case 0xB:
        case 0x1F:
            e->edx = v->index; /* x2APIC ID */
            break;
        default:
            break;
        }
    }
    int rc = kvm_ioctl(&v->vm->kvm, v->fd, KVM_SET_CPUID2, c);
    free(c);
    if (rc < 0) {
        snprintf(err, errlen, "KVM_SET_CPUID2 failed: %s", strerror(errno));
        return -1;
    }
    return 0;
}

/* LINT0 = ExtINT (the 8259 behind the LAPIC), LINT1 = NMI, as a PC BIOS leaves them. */
static int vcpu_set_lapic(struct vcpu *v, char *err, size_t errlen)
{
    struct kvm_lapic_state lapic;
    if (kvm_ioctl(&v->vm->kvm, v->fd, KVM_GET_LAPIC, &lapic) < 0)
        goto fail;
    uint32_t lvt0, lvt1;
    memcpy(&lvt0, &lapic.regs[APIC_LVT0], 4);
    memcpy(&lvt1, &lapic.regs[APIC_LVT1], 4);
    lvt0 = (lvt0 & ~0x700U) | (APIC_MODE_EXTINT << 8);
    lvt1 = (lvt1 & ~0x700U) | (APIC_MODE_NMI << 8);
    memcpy(&lapic.regs[APIC_LVT0], &lvt0, 4);
    memcpy(&lapic.regs[APIC_LVT1], &lvt1, 4);
    if (kvm_ioctl(&v->vm->kvm, v->fd, KVM_SET_LAPIC, &lapic) < 0)
        goto fail;
    return 0;
fail:
    snprintf(err, errlen, "cannot program vCPU %u's local APIC: %s", v->index, strerror(errno));
    return -1;
}

/* Fast strings and write-back MTRR default, as firmware would leave them. Best effort. */
static void vcpu_set_msrs(struct vcpu *v)
{
    struct {
        struct kvm_msrs hdr;
        struct kvm_msr_entry e[2];
    } m;
    memset(&m, 0, sizeof(m));
    m.hdr.nmsrs = 2;
    m.e[0].index = MSR_IA32_MISC_ENABLE;
    m.e[0].data = 1;
    m.e[1].index = MSR_MTRR_DEF_TYPE;
    m.e[1].data = (1 << 11) | 6;
    if (kvm_ioctl(&v->vm->kvm, v->fd, KVM_SET_MSRS, &m) != 2)
        log_debug("vCPU %u: not every boot MSR was accepted", v->index);
}

static int vcpu_set_fpu(struct vcpu *v, char *err, size_t errlen)
{
    struct kvm_fpu fpu;
    memset(&fpu, 0, sizeof(fpu));
    fpu.fcw = 0x37f;
    fpu.mxcsr = 0x1f80;
    if (kvm_ioctl(&v->vm->kvm, v->fd, KVM_SET_FPU, &fpu) < 0) {
        snprintf(err, errlen, "cannot set vCPU %u's FPU state: %s", v->index, strerror(errno));
        return -1;
    }
    return 0;
}

int vcpu_init(struct vm *vm, struct vcpu *v, unsigned index, const struct kvm_cpuid2 *cpuid,
              char *err, size_t errlen)
{
    pthread_once(&kick_once, vcpu_install_kick_handler);
    v->vm = vm;
    v->index = index;
    v->fd = kvm_ioctl(&vm->kvm, vm->vm_fd, KVM_CREATE_VCPU, (void *)(uintptr_t)index);
    if (v->fd < 0) {
        snprintf(err, errlen, "cannot create vCPU %u: %s", index, strerror(errno));
        return -1;
    }
    int size = kvm_ioctl(&vm->kvm, vm->kvm_fd, KVM_GET_VCPU_MMAP_SIZE, NULL);
    if (size < (int)sizeof(struct kvm_run)) {
        snprintf(err, errlen, "KVM_GET_VCPU_MMAP_SIZE failed");
        return -1;
    }
    void *run =
        vm->kvm.sys->mmap(vm->kvm.ctx, (size_t)size, PROT_READ | PROT_WRITE, MAP_SHARED, v->fd, 0);
    if (run == MAP_FAILED) {
        snprintf(err, errlen, "cannot map vCPU %u's run area: %s", index, strerror(errno));
        return -1;
    }
    v->run = run;
    v->run_size = (size_t)size;
    /* A TD's register state is never the VMM's (TDX); SNP registers come from the launch. */
    bool protected_state = tee_guest_state_protected(vm->tee);
    if (vcpu_set_cpuid(v, cpuid, err, errlen) < 0 ||
        (!protected_state &&
         (vcpu_set_lapic(v, err, errlen) < 0 || vcpu_set_fpu(v, err, errlen) < 0)))
        return -1;
    vcpu_set_msrs(v);
    return 0;
}

void vcpu_close(struct vcpu *v)
{
    if (v->run)
        v->vm->kvm.sys->munmap(v->vm->kvm.ctx, v->run, v->run_size);
    v->run = NULL;
    if (v->fd >= 0)
        v->vm->kvm.sys->close(v->vm->kvm.ctx, v->fd);
    v->fd = -1;
}

/* ---- Boot state. ---- */

static struct kvm_segment flat_segment(uint16_t sel, uint8_t type, bool code64)
{
    struct kvm_segment s = {
        .base = 0,
        .limit = 0xFFFFFFFF,
        .selector = sel,
        .type = type,
        .present = 1,
        .dpl = 0,
        .db = code64 ? 0 : 1,
        .s = 1,
        .l = code64 ? 1 : 0,
        .g = 1,
    };
    return s;
}

int vcpu_set_boot_state(struct vcpu *v, const struct boot_entry *boot, char *err, size_t errlen)
{
    const struct kvm_handle *k = &v->vm->kvm;
    struct kvm_sregs sregs;
    if (kvm_ioctl(k, v->fd, KVM_GET_SREGS, &sregs) < 0) {
        snprintf(err, errlen, "KVM_GET_SREGS failed: %s", strerror(errno));
        return -1;
    }
    bool long_mode = boot->kind == BOOT_BZIMAGE64;
    uint16_t cs_sel = boot->cs ? boot->cs : (long_mode ? BOOT_SEL_CODE64 : BOOT_SEL_CODE32);
    uint16_t ds_sel = boot->ds ? boot->ds : BOOT_SEL_DATA;
    sregs.cs = flat_segment(cs_sel, 0xB, long_mode);
    sregs.ds = sregs.es = sregs.fs = sregs.gs = sregs.ss = flat_segment(ds_sel, 0x3, false);
    sregs.tr =
        (struct kvm_segment){.selector = BOOT_SEL_TSS, .limit = 0x67, .type = 0xB, .present = 1};
    sregs.gdt.base = boot->gdt_base;
    sregs.gdt.limit = boot->gdt_limit;
    sregs.idt.base = 0;
    sregs.idt.limit = 0;
    if (long_mode) {
        sregs.cr0 = CR0_PE | CR0_ET | CR0_PG;
        sregs.cr3 = boot->cr3;
        sregs.cr4 = CR4_PAE;
        sregs.efer = EFER_LME | EFER_LMA;
    } else {
        sregs.cr0 = CR0_PE | CR0_ET;
        sregs.cr3 = 0;
        sregs.cr4 = 0;
        sregs.efer = 0;
    }
    struct kvm_regs regs;
    memset(&regs, 0, sizeof(regs));
    regs.rflags = 0x2;
    regs.rip = boot->rip;
    regs.rsi = boot->rsi;
    regs.rbx = boot->rbx;
    regs.rsp = regs.rbp = BOOT_STACK;
    if (kvm_ioctl(k, v->fd, KVM_SET_SREGS, &sregs) < 0 ||
        kvm_ioctl(k, v->fd, KVM_SET_REGS, &regs) < 0) {
        snprintf(err, errlen, "cannot set the boot vCPU's registers: %s", strerror(errno));
        return -1;
    }
    return 0;
}

/* ---- Exit dispatch. ---- */

static struct log_ratelimit unclaimed_rl = {.burst = 16, .interval_s = 5.0};

static void vcpu_pio(struct vcpu *v)
{
    struct kvm_run *run = v->run;
    uint8_t *data = (uint8_t *)run + run->io.data_offset;
    bool is_write = run->io.direction == KVM_EXIT_IO_OUT;
    uint32_t size = run->io.size;
    if (run->io.data_offset + (uint64_t)size * run->io.count > v->run_size)
        return;
    for (uint32_t i = 0; i < run->io.count; i++, data += size) {
        if (!bus_dispatch(v->vm->pio, run->io.port, data, size, is_write)) /* reads: all-ones */
            log_limited(&unclaimed_rl, LOG_LVL_DEBUG, "unclaimed port %s 0x%x (size %u)",
                        is_write ? "write" : "read", run->io.port, size);
    }
}

static void vcpu_mmio(struct vcpu *v)
{
    struct kvm_run *run = v->run;
    uint32_t len = run->mmio.len;
    if (len == 0 || len > sizeof(run->mmio.data))
        return;
    if (!bus_dispatch(v->vm->mmio, run->mmio.phys_addr, run->mmio.data, len, run->mmio.is_write))
        log_limited(&unclaimed_rl, LOG_LVL_DEBUG, "unclaimed MMIO %s 0x%llx (size %u)",
                    run->mmio.is_write ? "write" : "read", (unsigned long long)run->mmio.phys_addr,
                    len);
}

static uint64_t vcpu_rip(struct vcpu *v)
{
    struct kvm_regs regs;
    if (kvm_ioctl(&v->vm->kvm, v->fd, KVM_GET_REGS, &regs) < 0)
        return ~0ULL;
    return regs.rip;
}

/* KVM could not emulate an instruction: the known host fix-ups (vmm/emulation_quirks.c) let the
 * vCPU go on; anything else is fatal and has been logged with its instruction bytes. */
static int vcpu_internal_error(struct vcpu *v)
{
    if (emulation_quirk_handle(&v->vm->kvm, v->fd, v->run, v->index) == 0)
        return 0;
    vm_request_exit(v->vm, VM_EXIT_ERROR, 0);
    return -1;
}

/* Returns 0 to re-enter the guest, -1 when this vCPU stops. */
static int vcpu_handle_exit(struct vcpu *v)
{
    struct kvm_run *run = v->run;
    switch (run->exit_reason) {
    case KVM_EXIT_IO:
        vcpu_pio(v);
        return 0;
    case KVM_EXIT_MMIO:
        vcpu_mmio(v);
        return 0;
    case KVM_EXIT_INTR:
        return 0;
    case KVM_EXIT_IOAPIC_EOI: /* split irqchip: our IOAPIC's level pins (vmm/msi.h) */
        if (v->vm->msi)
            vmm_msi_ioapic_eoi(v->vm->msi, run->eoi.vector);
        return 0;
    case KVM_EXIT_SHUTDOWN:
        log_info("vCPU %u: triple fault at rip 0x%llx: guest reset", v->index,
                 (unsigned long long)vcpu_rip(v));
        vm_request_exit(v->vm, VM_EXIT_RESET, 0);
        return -1;
    case KVM_EXIT_SYSTEM_EVENT:
        if (run->system_event.type == KVM_SYSTEM_EVENT_RESET)
            vm_request_exit(v->vm, VM_EXIT_RESET, 0);
        else if (run->system_event.type == KVM_SYSTEM_EVENT_SHUTDOWN)
            vm_request_exit(v->vm, VM_EXIT_POWEROFF, 0);
        else
            vm_request_exit(v->vm, VM_EXIT_ERROR, 0);
        return -1;
    case KVM_EXIT_INTERNAL_ERROR:
        return vcpu_internal_error(v);
    case KVM_EXIT_FAIL_ENTRY:
        log_err("vCPU %u: VM entry failed (reason 0x%llx)", v->index,
                (unsigned long long)run->fail_entry.hardware_entry_failure_reason);
        vm_request_exit(v->vm, VM_EXIT_ERROR, 0);
        return -1;
    default:
        log_err("vCPU %u: unhandled KVM exit %u at rip 0x%llx", v->index, run->exit_reason,
                (unsigned long long)vcpu_rip(v));
        vm_request_exit(v->vm, VM_EXIT_ERROR, 0);
        return -1;
    }
}

/* Private/shared conversions and SEV-SNP/TDX exits go to the backend first (tee/tee.h). A
 * guest that terminated itself or an unresolvable fault stops the VM. errno is kept. */
static enum tee_exit_result vcpu_tee_exit(struct vcpu *v, int run_rc)
{
    int e = errno;
    enum tee_exit_result r = tee_handle_exit(v->vm->tee, v->index, v->run, run_rc, e);
    if (r == TEE_EXIT_GUEST_STOP || r == TEE_EXIT_ERROR)
        vm_request_exit(v->vm, VM_EXIT_ERROR, 0);
    errno = e;
    return r;
}

/* ---- The thread. ---- */

/* Parks while the VM is paused or this vCPU is not present to the guest (not hot-added yet, or
 * ejected: vm_vcpus.c), waiting on vm->cond without spinning. Returns false when it must stop. */
static bool vcpu_may_run(struct vcpu *v)
{
    struct vm *vm = v->vm;
    if (atomic_load(&vm->stopping))
        return false;
    pthread_mutex_lock(&vm->lock);
    if ((vm->paused || !v->active) && !atomic_load(&vm->stopping)) {
        vm->parked++;
        pthread_cond_broadcast(&vm->cond);
        while ((vm->paused || !v->active) && !atomic_load(&vm->stopping))
            pthread_cond_wait(&vm->cond, &vm->lock);
        vm->parked--;
    }
    pthread_mutex_unlock(&vm->lock);
    return !atomic_load(&vm->stopping);
}

static void *vcpu_thread(void *arg)
{
    struct vcpu *v = arg;
    sigset_t kick;
    sigemptyset(&kick);
    sigaddset(&kick, VCPU_KICK_SIGNAL);
    pthread_sigmask(SIG_UNBLOCK, &kick, NULL);
    /* seccomp (vmm/seccomp.h): this thread's allow-list goes on before its first KVM_RUN. */
    char sc_err[160];
    bool confined = vmm_seccomp_install(VMM_SECCOMP_VCPU, sc_err, sizeof(sc_err)) == 0;
    if (!confined) {
        log_err("vCPU %u: %s", v->index, sc_err);
        vm_request_exit(v->vm, VM_EXIT_ERROR, 0);
    }
    while (confined && vcpu_may_run(v)) {
        int rc = kvm_ioctl(&v->vm->kvm, v->fd, KVM_RUN, NULL);
        if (vcpu_tee_exit(v, rc) != TEE_EXIT_NOT_MINE) {
            if (!atomic_load(&v->vm->stopping))
                continue; /* a conversion or TEE call handled; re-enter */
            break;
        }
        if (rc < 0) {
            if (errno == EINTR || errno == EAGAIN) {
                /* Atomic: vcpu_kick stores it from other threads. A kick that lands after this
                 * store is not lost: its flag (stopping, paused) is checked before KVM_RUN. */
                __atomic_store_n(&v->run->immediate_exit, 0, __ATOMIC_SEQ_CST);
                continue;
            }
            log_err("vCPU %u: KVM_RUN failed: %s", v->index, strerror(errno));
            vm_request_exit(v->vm, VM_EXIT_ERROR, 0);
            break;
        }
        if (vcpu_handle_exit(v) < 0)
            break;
    }
    pthread_mutex_lock(&v->vm->lock);
    v->exited = true; /* no kicks from here on; the thread id stays valid until joined */
    pthread_mutex_unlock(&v->vm->lock);
    return NULL;
}

int vcpu_start(struct vcpu *v, char *err, size_t errlen)
{
    /* The thread starts with every asynchronous signal blocked and unblocks only the kick
     * signal, so SIGTERM/SIGINT reach the loop thread; faults still reach their handlers. */
    sigset_t all, old;
    sigfillset(&all);
    static const int synchronous[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP, SIGABRT};
    for (size_t i = 0; i < sizeof(synchronous) / sizeof(synchronous[0]); i++)
        sigdelset(&all, synchronous[i]);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    int rc = pthread_create(&v->thread, NULL, vcpu_thread, v);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0) {
        snprintf(err, errlen, "cannot start vCPU %u's thread: %s", v->index, strerror(rc));
        return -1;
    }
    pthread_mutex_lock(&v->vm->lock);
    v->started = true;
    pthread_mutex_unlock(&v->vm->lock);
    char name[16];
    snprintf(name, sizeof(name), "vcpu%u", v->index);
    pthread_setname_np(v->thread, name);
    return 0;
}

void vcpu_kick(struct vcpu *v)
{
    if (!v->run)
        return;
    /* If the thread is about to enter KVM_RUN, immediate_exit makes it return at once;
     * if it is inside, the signal interrupts it. */
    __atomic_store_n(&v->run->immediate_exit, 1, __ATOMIC_SEQ_CST);
    pthread_mutex_lock(&v->vm->lock);
    if (v->started && !v->exited)
        pthread_kill(v->thread, VCPU_KICK_SIGNAL);
    pthread_mutex_unlock(&v->vm->lock);
}

void vcpu_join(struct vcpu *v)
{
    if (!v->started)
        return;
    pthread_join(v->thread, NULL);
    pthread_mutex_lock(&v->vm->lock);
    v->started = false;
    pthread_mutex_unlock(&v->vm->lock);
}
