/* sim_tee.h: a simulated KVM with SEV-SNP firmware / TDX module behind the kvm_sys table (tests).
 */
#ifndef COCOON_TEST_SIM_TEE_H
#define COCOON_TEST_SIM_TEE_H

#include <linux/kvm.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vmm/base/kvm_sys.h"

enum sim_tee_kind { SIM_HOST_PLAIN = 0, SIM_HOST_SNP, SIM_HOST_TDX };

#define SIM_MAX_SLOTS     8
#define SIM_MAX_VCPUS     16
#define SIM_TDX_MAX_CPUID 32
#define SIM_MAX_SCRIPT    16
#define SIM_MAX_PAGES     (3ULL << 20) /* pages tracked: GPAs below 12 GiB */
#define SIM_MAX_CPUID     128          /* entries a vCPU's KVM_SET_CPUID2 may hold here */
#define SIM_MAX_ROUTES    512
#define SIM_MAX_MSIS      64

/* One scripted KVM_RUN result (conversion tests). */
struct sim_exit {
    uint32_t reason;
    int ret_errno; /* 0: KVM_RUN returns 0; else returns -1 with this errno */
    uint64_t a0, a1, a2, a3;
};

/* The state a test inspects. The simulator checks what the real launch code does and counts
 * every broken rule in `violations` (first message in `violation`); it folds the launch digest
 * (SNP) / MRTD (TDX) itself from the bytes and registers it was given. */
struct sim_tee {
    struct kvm_handle handle;
    enum sim_tee_kind kind;
    bool has_dev_sev;
    unsigned vm_types; /* KVM_CAP_VM_TYPES mask */

    int kvm_fd, vm_fd, sev_fd, smt_fd;
    unsigned vm_type;
    int next_fd;

    struct {
        uint64_t gpa, size, uaddr;
        int gmem_fd;
    } slot[SIM_MAX_SLOTS];
    unsigned nr_slots;
    int gmem_fds[SIM_MAX_SLOTS];
    uint64_t gmem_sizes[SIM_MAX_SLOTS];
    unsigned nr_gmem;
    uint64_t punched_bytes; /* fallocate(PUNCH_HOLE) on guest_memfds */

    uint8_t *page_private; /* attribute per page */
    uint8_t *page_added;   /* launch update / TDH.MEM.PAGE.ADD done */

    struct sim_vcpu {
        int fd;
        void *run;
        uint64_t regs_rip, regs_rflags, regs_rdx;
        uint64_t gprs[16];  /* rax.. r15 by register number (rdx mirrored in regs_rdx) */
        uint8_t sregs[512]; /* struct kvm_sregs */
        uint16_t fcw;
        uint32_t mxcsr;
        uint64_t xcr0, pat, dr6, dr7;
        bool tdx_init;
        uint64_t tdx_rcx;
        bool ran; /* KVM_RUN was called: CPUID is frozen (kvm_set_cpuid's has-run rule) */
        struct kvm_cpuid_entry2 cpuid[SIM_MAX_CPUID]; /* its last KVM_SET_CPUID2 */
        uint32_t cpuid_n;
    } vcpu[SIM_MAX_VCPUS];
    unsigned nr_vcpus;

    /* launch state */
    bool hypercall_exit, split_irqchip, irqchip;
    bool snp_init2, snp_started, snp_finished;
    uint64_t vmsa_features, policy;
    uint8_t host_data[32];
    bool tdx_caps, tdx_init_vm, tdx_finalized;
    uint8_t mrconfigid[48];
    uint64_t tdx_attributes, tdx_xfam;
    struct kvm_cpuid_entry2 tdx_cpuid[SIM_TDX_MAX_CPUID]; /* what INIT_VM was given */
    uint32_t tdx_cpuid_n;
    unsigned tdx_gpaw; /* guest physical-address width INIT_VM chose (48 or 52) */
    uint64_t tdx_hob_gpa;
    bool tdx_hob_seen, tdx_hob_valid;

    /* knobs */
    unsigned max_pages_per_call; /* partial processing (0 = all) */
    unsigned eagain_every;       /* return EAGAIN every Nth launch command (0 = never) */
    uint32_t cpuid_reject_leaf;  /* firmware refuses CPUID leaf 1 ECX bits in this mask */
    uint32_t cpuid_reject_ecx;
    unsigned cpuid_rejections;
    bool host_smt;            /* SMT active on the simulated host (firmware POLICY.SMT rule) */
    bool policy_bits_attr;    /* KVM offers KVM_X86_SNP_POLICY_BITS */
    uint64_t policy_bits;     /* its value */
    unsigned extra_cpuid;     /* KVM_GET_SUPPORTED_CPUID reports this many more leaves */
    bool refuse_routing;      /* KVM_SET_GSI_ROUTING fails (ENOMEM) */
    uint32_t drop_cpuid_leaf; /* KVM_GET_SUPPORTED_CPUID leaves this leaf out (0: none) */

    /* interrupts: the GSI routing table KVM accepted, and what reached a local APIC */
    struct kvm_irq_routing_entry routes[SIM_MAX_ROUTES];
    unsigned nr_routes, routing_sets;
    struct {
        uint64_t addr;
        uint32_t data;
    } msi[SIM_MAX_MSIS]; /* KVM_SIGNAL_MSI / MSI routes triggered, in order */
    unsigned nr_msi;
    unsigned lost_irq_lines;      /* KVM_IRQ_LINE on a GSI that has no route: reached nothing */
    uint8_t snp_cpuid_page[4096]; /* the last CPUID page the firmware accepted */

    /* results */
    uint8_t digest[48]; /* SNP launch digest after FINISH / TDX MRTD after FINALIZE */
    bool digest_done;
    unsigned commands, updates, pages_measured;
    unsigned vm_creates; /* KVM_CREATE_VM calls, refused ones included */
    unsigned violations;
    char violation[256];

    struct sim_exit script[SIM_MAX_SCRIPT];
    unsigned script_len, script_pos;

    void *md; /* EVP_MD_CTX for the TDX MRTD stream */
    pthread_mutex_t lock;
    unsigned runs; /* KVM_RUN calls */
    unsigned calls;
};

/* A simulated host of `kind` (PLAIN: no TEE VM types, no /dev/sev, like this machine). */
struct sim_tee *sim_tee_new(enum sim_tee_kind kind);
void sim_tee_free(struct sim_tee *s);

/* Queues a scripted KVM_RUN result for the next KVM_RUN of any vCPU. */
void sim_tee_script(struct sim_tee *s, struct sim_exit e);

/* Attribute state the simulated KVM holds for a page. */
bool sim_tee_page_private(const struct sim_tee *s, uint64_t gpa);

/* ---- internal to the simulator (sim_tee.c / sim_snp.c / sim_tdx.c) ---- */
void sim_violation(struct sim_tee *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
struct sim_vcpu *sim_vcpu_of(struct sim_tee *s, int fd, unsigned *index);
/* 0 if [gpa, gpa+len) lies in one guest_memfd slot and every page is private; else -1. */
int sim_check_private(struct sim_tee *s, uint64_t gpa, uint64_t len, const char *what);
int sim_snp_cmd(struct sim_tee *s, void *arg);
int sim_tdx_vm_cmd(struct sim_tee *s, void *arg);
int sim_tdx_vcpu_cmd(struct sim_tee *s, unsigned vcpu, void *arg);
/* true if launch commands should fail with EAGAIN this time (knob eagain_every). */
bool sim_eagain(struct sim_tee *s);
void sim_tdx_free_md(void *md);

#endif
