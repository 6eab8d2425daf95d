/* tee_internal.h: what the backends share: the const ops table and the per-VM context. */
#ifndef COCOON_TEE_INTERNAL_H
#define COCOON_TEE_INTERNAL_H

#include <linux/kvm.h>

#include "tee/private_mem.h"
#include "tee/tee.h"

#define TEE_MAX_VCPUS CFG_MAX_CPUS

struct tee_vcpu {
    int fd; /* owned by the VMM */
};

struct tee_ops {
    enum tee_kind kind;
    const char *name;
    unsigned long vm_type; /* argument of KVM_CREATE_VM */
    int (*probe)(const struct kvm_handle *kvm, int kvm_fd, const struct platform_config *pc,
                 char *err, size_t errlen);
    int (*vm_init)(struct tee_vm *t, char *err, size_t errlen); /* after KVM_CREATE_VM */
    int (*map_memory)(struct tee_vm *t, char *err, size_t errlen);
    int (*launch)(struct tee_vm *t, char *err, size_t errlen);
    enum tee_exit_result (*handle_exit)(struct tee_vm *t, unsigned vcpu, struct kvm_run *run,
                                        int run_ret, int run_errno);
    void (*destroy)(struct tee_vm *t); /* backend state only */
};

struct tee_vm {
    const struct tee_ops *ops;
    const struct kvm_handle *kvm;
    int kvm_fd;
    int vm_fd;
    const struct vm_config *cfg;
    struct guest_mem *gm;
    struct private_mem pm;
    bool pm_ready;
    struct tee_vcpu vcpu[TEE_MAX_VCPUS];
    unsigned nr_vcpus;
    bool launched;
    bool state_protected;
    bool owns_irqchip;
    void *backend; /* backend-specific state */
};

extern const struct tee_ops tee_none_ops;
extern const struct tee_ops tee_snp_ops;
extern const struct tee_ops tee_tdx_ops;

/* Shared helpers (tee.c). */

/* Reads a whole file into a malloc'd buffer (at most max bytes). 0 or -1 + err. */
int tee_read_file(const char *path, size_t max, uint8_t **out, size_t *len, char *err,
                  size_t errlen);

/* KVM_CHECK_EXTENSION on fd; negative on error. */
int tee_check_cap(const struct kvm_handle *kvm, int fd, long cap);

/* Fetches KVM_GET_SUPPORTED_CPUID from the /dev/kvm fd (growing the buffer on E2BIG). Returns a
 * malloc'd struct or NULL + err. */
struct kvm_cpuid2 *tee_supported_cpuid(const struct kvm_handle *kvm, int kvm_fd, char *err,
                                       size_t errlen);

/* The VM type probe every TEE backend starts with: "<what>: KVM does not offer VM type N". */
int tee_probe_vm_type(const struct kvm_handle *kvm, int kvm_fd, unsigned type, const char *what,
                      char *err, size_t errlen);

#endif
