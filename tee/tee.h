/* tee.h: the confidential-backend interface (none, SEV-SNP, TDX): const ops per kind, a context per
 * VM. */
#ifndef COCOON_TEE_H
#define COCOON_TEE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vmm/base/config.h"
#include "vmm/base/kvm_sys.h"
#include "vmm/base/memory.h"

struct kvm_run;
struct tee_vm; /* per-VM backend context (tee/tee_internal.h) */

/* The life of a VM as the backend sees it (vm.c calls these in this order):
 *   tee_probe            before anything is created: fails with one line naming what is missing
 *   tee_vm_create        KVM_CREATE_VM of the backend's type + VM-level set-up (SNP: INIT2,
 *                        LAUNCH_START; TDX: split irqchip, CAPABILITIES, INIT_VM)
 *   tee_map_memory       memslots for gm (TEE: guest_memfd, all private) and the firmware flash
 *   tee_add_vcpu         after each KVM_CREATE_VCPU (index 0 = boot vCPU)
 *   tee_set_payload      how the VMM loads a payload the backend does not measure
 *   tee_launch           the measured launch (SNP: updates, VMSA registers, FINISH; TDX: TD HOB,
 *                        INIT_VCPU, INIT_MEM_REGION, FINALIZE); none: the VMM's direct boot
 *   tee_handle_exit      every KVM_RUN return, before the VMM's own dispatch
 *   tee_destroy */

enum tee_exit_result {
    TEE_EXIT_NOT_MINE = 0, /* the VMM handles this exit as usual */
    TEE_EXIT_HANDLED,      /* run the vCPU again */
    TEE_EXIT_GUEST_STOP,   /* the guest terminated itself (SEV termination, TDX fatal error) */
    TEE_EXIT_ERROR,        /* unresolvable (logged): stop the VM */
};

/* Probes the host for everything `kind` needs, creating nothing (a VM made to test is destroyed
 * again only for "none"). Returns 0, or -1 with one line in err naming what is missing: VM type
 * not offered (KVM_CAP_VM_TYPES), no /dev/sev, kernel too old (missing capability). */
int tee_probe(enum tee_kind kind, const struct kvm_handle *kvm, int kvm_fd,
              const struct platform_config *pc, char *err, size_t errlen);

/* Creates the VM for cfg->platform.tee and returns its context; *vm_fd is the new VM fd (owned by
 * the context: tee_destroy closes it). cfg and gm must outlive the context. 0 or -1 + err. */
int tee_vm_create(const struct kvm_handle *kvm, int kvm_fd, const struct vm_config *cfg,
                  struct guest_mem *gm, struct tee_vm **out, int *vm_fd, char *err, size_t errlen);

/* Registers guest memory with KVM (plain memslots for none). 0 or -1 + err. */
int tee_map_memory(struct tee_vm *t, char *err, size_t errlen);

/* Records a created vCPU's fd (the VMM keeps owning it). 0 or -1 + err. */
int tee_add_vcpu(struct tee_vm *t, unsigned index, int vcpu_fd, char *err, size_t errlen);

/* The VMM's own payload loading (kernel/initrd/cmdline into guest RAM, boot registers): the
 * "none" backend's launch runs it; SEV-SNP and TDX launch measured firmware instead. */
struct tee_payload {
    int (*direct_boot)(void *opaque, char *err, size_t errlen);
    void *opaque;
};

/* Records the payload loader for tee_launch (copied). */
void tee_set_payload(struct tee_vm *t, const struct tee_payload *p);

/* Performs the launch: measured from the configured firmware, kernel, initrd and command line
 * (SNP, TDX), or the payload's direct boot (none). Must follow every tee_add_vcpu. 0 or -1 + err.
 */
int tee_launch(struct tee_vm *t, char *err, size_t errlen);

/* True if the guest starts in firmware that fetches the kernel itself (SNP and TDX: through
 * fw_cfg); false when the VMM loads the kernel directly. */
bool tee_boots_firmware(const struct tee_vm *t);

/* Looks at a KVM_RUN result first: memory conversions, TEE exits. `run_ret`/`run_errno` are what
 * KVM_RUN returned (KVM_EXIT_MEMORY_FAULT comes with -1/EFAULT). */
enum tee_exit_result tee_handle_exit(struct tee_vm *t, unsigned vcpu, struct kvm_run *run,
                                     int run_ret, int run_errno);

/* True once vCPU register state belongs to the TEE (SNP after FINISH, TDX always): the VMM must not
 * write registers or load a payload into guest memory itself. */
bool tee_guest_state_protected(const struct tee_vm *t);

/* True if the backend set up the interrupt controller itself (TDX: split irqchip); the VMM must
 * then not call KVM_CREATE_IRQCHIP. */
bool tee_owns_irqchip(const struct tee_vm *t);

/* Closes the VM fd and releases the context. NULL is fine. */
void tee_destroy(struct tee_vm *t);

#endif
