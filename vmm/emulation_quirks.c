/* emulation_quirks.c: the int3/fwait emulation-failure fix-ups, in one place; all else is fatal. */
#include "vmm/emulation_quirks.h"

#include <errno.h>
#include <linux/kvm.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "vmm/base/log.h"

#define OPCODE_INT3  0xCC
#define OPCODE_FWAIT 0x9B
#define VECTOR_BP    3

static atomic_bool logged_int3;
static atomic_bool logged_fwait;

/* Copies the instruction bytes KVM attached to an emulation failure; returns their count (0
 * when KVM reported none). */
static unsigned failed_insn_bytes(const struct kvm_run *run, uint8_t out[15])
{
    if (run->internal.suberror != KVM_INTERNAL_ERROR_EMULATION ||
        run->emulation_failure.ndata < 3 ||
        !(run->emulation_failure.flags & KVM_INTERNAL_ERROR_EMULATION_FLAG_INSTRUCTION_BYTES))
        return 0;
    unsigned n = run->emulation_failure.insn_size;
    if (n > 15)
        n = 15;
    memcpy(out, run->emulation_failure.insn_bytes, n);
    return n;
}

static int advance_rip(const struct kvm_handle *kvm, int fd, unsigned vcpu_index)
{
    struct kvm_regs regs;
    if (kvm_ioctl(kvm, fd, KVM_GET_REGS, &regs) < 0) {
        log_err("vcpu%u: KVM_GET_REGS: %s", vcpu_index, strerror(errno));
        return -1;
    }
    regs.rip += 1;
    if (kvm_ioctl(kvm, fd, KVM_SET_REGS, &regs) < 0) {
        log_err("vcpu%u: KVM_SET_REGS: %s", vcpu_index, strerror(errno));
        return -1;
    }
    return 0;
}

static int inject_breakpoint(const struct kvm_handle *kvm, int fd, unsigned vcpu_index)
{
    struct kvm_vcpu_events ev;
    memset(&ev, 0, sizeof(ev));
    if (kvm_ioctl(kvm, fd, KVM_GET_VCPU_EVENTS, &ev) < 0) {
        log_err("vcpu%u: KVM_GET_VCPU_EVENTS: %s", vcpu_index, strerror(errno));
        return -1;
    }
    ev.exception.injected = 1;
    ev.exception.nr = VECTOR_BP;
    ev.exception.has_error_code = 0;
    ev.exception.error_code = 0;
    ev.flags = 0; /* leave NMI, SIPI and shadow state as they are */
    if (kvm_ioctl(kvm, fd, KVM_SET_VCPU_EVENTS, &ev) < 0) {
        log_err("vcpu%u: KVM_SET_VCPU_EVENTS: %s", vcpu_index, strerror(errno));
        return -1;
    }
    return 0;
}

static void log_fatal(const struct kvm_handle *kvm, int fd, const struct kvm_run *run,
                      unsigned vcpu_index, const uint8_t *insn, unsigned n)
{
    struct kvm_regs regs;
    char where[40] = "";
    if (kvm_ioctl(kvm, fd, KVM_GET_REGS, &regs) == 0)
        snprintf(where, sizeof(where), " at rip %#llx", (unsigned long long)regs.rip);
    char hex[15 * 3 + 1] = "";
    size_t pos = 0;
    for (unsigned i = 0; i < n && pos + 3 < sizeof(hex); i++)
        pos += (size_t)snprintf(hex + pos, sizeof(hex) - pos, "%s%02x", i ? " " : "", insn[i]);
    if (run->internal.suberror == KVM_INTERNAL_ERROR_EMULATION)
        log_err("vcpu%u: KVM could not emulate an instruction (internal error, suberror 1); "
                "instruction bytes%s: %s",
                vcpu_index, where, n ? hex : "(not reported)");
    else
        log_err("vcpu%u: KVM internal error%s, suberror %u, ndata %u", vcpu_index, where,
                run->internal.suberror, run->internal.ndata);
}

int emulation_quirk_handle(const struct kvm_handle *kvm, int vcpu_fd, const struct kvm_run *run,
                           unsigned vcpu_index)
{
    uint8_t insn[15];
    unsigned n = failed_insn_bytes(run, insn);
    if (n >= 1 && insn[0] == OPCODE_INT3) {
        if (!atomic_exchange(&logged_int3, true))
            log_warn("vcpu%u: host KVM cannot emulate int3: skipping it and injecting #BP "
                     "(logged once)",
                     vcpu_index);
        if (advance_rip(kvm, vcpu_fd, vcpu_index) < 0 ||
            inject_breakpoint(kvm, vcpu_fd, vcpu_index) < 0)
            return -1;
        return 0;
    }
    if (n >= 1 && insn[0] == OPCODE_FWAIT) {
        if (!atomic_exchange(&logged_fwait, true))
            log_warn("vcpu%u: host KVM cannot emulate fwait: skipping it (logged once)",
                     vcpu_index);
        return advance_rip(kvm, vcpu_fd, vcpu_index);
    }
    log_fatal(kvm, vcpu_fd, run, vcpu_index, insn, n);
    return -1;
}
