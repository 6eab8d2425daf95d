/* sim_kvm.h: a plain-KVM simulator behind the kvm_sys table, for unit tests of the VM (vm_create,
 * vCPU set-up, hot-plug) without /dev/kvm: it records what cocoon asked and can fail one ioctl. */
#ifndef COCOON_TEST_SIM_KVM_H
#define COCOON_TEST_SIM_KVM_H

#include <stdbool.h>
#include <stdint.h>
#include <linux/kvm.h>

#include "vmm/base/kvm_sys.h"

#define SIM_MAX_VCPUS 16
#define SIM_FD_BASE   100 /* the VM's fd; vCPU i is SIM_FD_BASE + 1 + i, /dev/kvm SIM_FD_BASE - 1 */

struct sim {
    struct kvm_handle h;  /* pass &h to vm_create_with */
    int open_fds, mapped; /* fds open and mappings made, net: 0 after a clean destroy */
    int max_vcpus;        /* KVM_CAP_MAX_VCPUS (default SIM_MAX_VCPUS) */
    int api_version;
    unsigned long fail_req; /* this ioctl fails with EINVAL ... */
    int fail_after;         /* ... after this many successful calls of it */
    int calls_of_fail_req;
    bool no_dev; /* opening /dev/kvm fails with ENOENT */
    unsigned slots;
    uint64_t slot_size[4];
    bool irqchip, pit;
    unsigned vcpus;
    unsigned irq_raises[24]; /* KVM_IRQ_LINE with level 1, per GSI */
    uint32_t apic_id_from_cpuid[SIM_MAX_VCPUS];
    uint32_t lvt0[SIM_MAX_VCPUS];
    struct kvm_sregs sregs[SIM_MAX_VCPUS];
    struct kvm_regs regs[SIM_MAX_VCPUS];
};

/* Zeroes s and makes it a working KVM (no failure planned). */
void sim_init(struct sim *s);

#endif
