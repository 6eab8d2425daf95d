/* emulation_quirks.h: the fix-ups for instructions this test host's KVM fails to emulate. */
#ifndef COCOON_EMULATION_QUIRKS_H
#define COCOON_EMULATION_QUIRKS_H

#include "vmm/base/kvm_sys.h"

struct kvm_run;

/* Handles a KVM_EXIT_INTERNAL_ERROR of the vCPU whose fd is vcpu_fd (index for messages).
 * Some paravirtualised KVM hosts report two harmless ring-0 instructions as emulation
 * failures; on real hardware neither ever exits:
 *   int3  (0xCC): RIP advances by one and #BP is injected (KVM_SET_VCPU_EVENTS);
 *   fwait (0x9B): RIP advances by one.
 * Each fix-up is logged once per process. Returns 0 when the vCPU may run again; -1 for every
 * other internal error, which is fatal: it is logged with the suberror and the instruction
 * bytes KVM reported. */
int emulation_quirk_handle(const struct kvm_handle *kvm, int vcpu_fd, const struct kvm_run *run,
                           unsigned vcpu_index);

#endif
