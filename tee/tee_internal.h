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
    const char *name;      /* "snp" */
    const char *title;     /* "SEV-SNP": how messages name the backend */
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

/* The firmware image a confidential guest gets as a private flash slot ending at 4 GiB. */
struct tee_flash {
    uint8_t *data; /* the file's bytes (freed by tee_destroy) */
    size_t size;
    uint64_t gpa;
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
    struct tee_flash flash;     /* SNP and TDX */
    struct tee_payload payload; /* none: the VMM's direct boot */
    void *backend;              /* backend-specific state */
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

/* Appends what to the "; "-separated list in buf (a probe's "missing" list). */
void tee_append(char *buf, size_t len, const char *what);

/* The host checks SNP and TDX share, each failure appended to missing: VM type `type` in
 * KVM_CAP_VM_TYPES (min_kernel: "SEV-SNP needs Linux >= 6.11"; type_hint follows the offered
 * types, e.g. "; TDX module not loaded"), guest_memfd and the MAP_GPA_RANGE exit. Returns the
 * KVM_CAP_VM_TYPES value (<= 0: the kernel has none and the later checks were skipped). */
int tee_probe_private_vm(const struct kvm_handle *kvm, int kvm_fd, unsigned type,
                         const char *min_kernel, const char *type_hint, char *missing, size_t len);

/* Reads cfg->firmware into t->flash (at most 64 MiB, whole pages, placed to end at 4 GiB) and
 * checks that the VM offers private memory attributes. 0 or -1 + err. */
int tee_private_vm_init(struct tee_vm *t, char *err, size_t errlen);

/* The map_memory of SNP and TDX: guest_memfd slots for all of RAM plus the private flash. */
int tee_map_private(struct tee_vm *t, char *err, size_t errlen);

/* Marks [gpa, gpa+len) private (KVM_SET_MEMORY_ATTRIBUTES) before it is added to the launch
 * image. 0 or -1 + err. */
int tee_set_private(struct tee_vm *t, uint64_t gpa, uint64_t len, char *err, size_t errlen);

/* A page-aligned, zeroed staging copy of len bytes (a multiple of 4 KiB) starting with the
 * data_len bytes of data (data may be NULL). NULL when out of memory or len is 0. */
uint8_t *tee_stage_pages(uint64_t len, const void *data, uint64_t data_len);

/* vCPU i's CPUID as KVM holds it (KVM_GET_CPUID2, grown on E2BIG up to 256 entries): what the
 * vCPU really has, set by vcpu_init. malloc'd, or NULL with one line in err. */
struct kvm_cpuid2 *tee_vcpu_cpuid(struct tee_vm *t, unsigned i, char *err, size_t errlen);

/* The exits SNP and TDX resolve alike: a KVM_EXIT_MEMORY_FAULT (KVM_RUN -1/EFAULT) and the
 * MAP_GPA_RANGE hypercall. True with *res set if run was one of them. */
bool tee_conversion_exit(struct tee_vm *t, struct kvm_run *run, int run_ret, int run_errno,
                         enum tee_exit_result *res);

#endif
