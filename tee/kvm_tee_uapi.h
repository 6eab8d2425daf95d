/* kvm_tee_uapi.h: the one header with the KVM/SEV/TDX UAPI newer than Debian 12's kernel headers.
 */
#ifndef COCOON_KVM_TEE_UAPI_H
#define COCOON_KVM_TEE_UAPI_H

/* Written from shared/specs/kvm-confidential-uapi.md (x86-64 values). Every group is guarded by a
 * macro a newer <linux/kvm.h> defines, so building against newer headers uses theirs; the
 * compile-time checks at the end hold either way. Values that only exist as enum constants in the
 * kernel headers are macros here (same values). kvm_run union members that 6.1 lacks are reached
 * through the overlays at the end (tee_run_*). */

#include <linux/kvm.h>
#include <linux/kvm_para.h>
#include <linux/types.h>
#include <stddef.h>

/* ---- capabilities (KVM_CHECK_EXTENSION) ---- */
#ifndef KVM_CAP_EXIT_HYPERCALL
#define KVM_CAP_EXIT_HYPERCALL 201
#endif
#ifndef KVM_CAP_USER_MEMORY2
#define KVM_CAP_USER_MEMORY2 231
#endif
#ifndef KVM_CAP_MEMORY_FAULT_INFO
#define KVM_CAP_MEMORY_FAULT_INFO 232
#endif
#ifndef KVM_CAP_MEMORY_ATTRIBUTES
#define KVM_CAP_MEMORY_ATTRIBUTES 233
#endif
#ifndef KVM_CAP_GUEST_MEMFD
#define KVM_CAP_GUEST_MEMFD 234
#endif
#ifndef KVM_CAP_VM_TYPES
#define KVM_CAP_VM_TYPES 235
#endif
#ifndef KVM_CAP_PRE_FAULT_MEMORY
#define KVM_CAP_PRE_FAULT_MEMORY 236
#endif
#ifndef KVM_CAP_X86_APIC_BUS_CYCLES_NS
#define KVM_CAP_X86_APIC_BUS_CYCLES_NS 237
#endif
#ifndef KVM_CAP_GUEST_MEMFD_FLAGS
#define KVM_CAP_GUEST_MEMFD_FLAGS 244
#endif

/* ---- VM types (argument of KVM_CREATE_VM; KVM_CAP_VM_TYPES is a mask of 1 << type) ---- */
#ifndef KVM_X86_DEFAULT_VM
#define KVM_X86_DEFAULT_VM 0
#endif
#ifndef KVM_X86_SW_PROTECTED_VM
#define KVM_X86_SW_PROTECTED_VM 1
#endif
#ifndef KVM_X86_SEV_VM
#define KVM_X86_SEV_VM 2
#endif
#ifndef KVM_X86_SEV_ES_VM
#define KVM_X86_SEV_ES_VM 3
#endif
#ifndef KVM_X86_SNP_VM
#define KVM_X86_SNP_VM 4
#endif
#ifndef KVM_X86_TDX_VM
#define KVM_X86_TDX_VM 5
#endif

/* ---- exits ---- */
#ifndef KVM_EXIT_MEMORY_FAULT
#define KVM_EXIT_MEMORY_FAULT 39
#endif
#ifndef KVM_EXIT_TDX
#define KVM_EXIT_TDX 40
#endif
/* KVM_EXIT_SNP_REQ_CERTS moved 40 -> 42 -> 43 during review: the backend takes the number it uses
 * from its context (default below, the v7 value) and only after the attribute probe says yes. */
#define TEE_EXIT_SNP_REQ_CERTS_DEFAULT 42
#ifndef KVM_SYSTEM_EVENT_SEV_TERM
#define KVM_SYSTEM_EVENT_SEV_TERM 6
#endif
#ifndef KVM_SYSTEM_EVENT_TDX_FATAL
#define KVM_SYSTEM_EVENT_TDX_FATAL 7
#endif
#ifndef KVM_MEMORY_EXIT_FLAG_PRIVATE
#define KVM_MEMORY_EXIT_FLAG_PRIVATE (1ULL << 3)
#endif

/* ---- KVM_HC_MAP_GPA_RANGE (explicit private/shared conversions) ---- */
#ifndef KVM_HC_MAP_GPA_RANGE
#define KVM_HC_MAP_GPA_RANGE 12
#endif
#ifndef KVM_MAP_GPA_RANGE_ENCRYPTED
#define KVM_MAP_GPA_RANGE_PAGE_SZ_4K  0
#define KVM_MAP_GPA_RANGE_PAGE_SZ_2M  (1 << 0)
#define KVM_MAP_GPA_RANGE_PAGE_SZ_1G  (1 << 1)
#define KVM_MAP_GPA_RANGE_ENC_STAT(n) ((n) << 4)
#define KVM_MAP_GPA_RANGE_ENCRYPTED   KVM_MAP_GPA_RANGE_ENC_STAT(1)
#define KVM_MAP_GPA_RANGE_DECRYPTED   KVM_MAP_GPA_RANGE_ENC_STAT(0)
#endif

/* ---- guest_memfd and memslots with a private side ---- */
#ifndef KVM_SET_USER_MEMORY_REGION2
struct kvm_userspace_memory_region2 {
    __u32 slot;
    __u32 flags;
    __u64 guest_phys_addr;
    __u64 memory_size;
    __u64 userspace_addr; /* the SHARED backing (an ordinary mapping) */
    __u64 guest_memfd_offset;
    __u32 guest_memfd;
    __u32 pad1;
    __u64 pad2[14];
};
#define KVM_SET_USER_MEMORY_REGION2 _IOW(KVMIO, 0x49, struct kvm_userspace_memory_region2)
#endif
#ifndef KVM_MEM_GUEST_MEMFD
#define KVM_MEM_GUEST_MEMFD (1UL << 2)
#endif

#ifndef KVM_SET_MEMORY_ATTRIBUTES
struct kvm_memory_attributes {
    __u64 address;
    __u64 size;
    __u64 attributes;
    __u64 flags;
};
#define KVM_SET_MEMORY_ATTRIBUTES _IOW(KVMIO, 0xd2, struct kvm_memory_attributes)
#endif
#ifndef KVM_MEMORY_ATTRIBUTE_PRIVATE
#define KVM_MEMORY_ATTRIBUTE_PRIVATE (1ULL << 3)
#endif

#ifndef KVM_CREATE_GUEST_MEMFD
struct kvm_create_guest_memfd {
    __u64 size;
    __u64 flags;
    __u64 reserved[6];
};
#define KVM_CREATE_GUEST_MEMFD _IOWR(KVMIO, 0xd4, struct kvm_create_guest_memfd)
#endif
#ifndef GUEST_MEMFD_FLAG_MMAP
#define GUEST_MEMFD_FLAG_MMAP        (1ULL << 0)
#define GUEST_MEMFD_FLAG_INIT_SHARED (1ULL << 1)
#endif

#ifndef KVM_PRE_FAULT_MEMORY
struct kvm_pre_fault_memory {
    __u64 gpa;
    __u64 size;
    __u64 flags;
    __u64 padding[5];
};
#define KVM_PRE_FAULT_MEMORY _IOWR(KVMIO, 0xd5, struct kvm_pre_fault_memory)
#endif

/* ---- device attributes on the /dev/kvm fd ---- */
#ifndef KVM_X86_GRP_SEV
#define KVM_X86_GRP_SYSTEM 0
#define KVM_X86_GRP_SEV    1
#endif
#ifndef KVM_X86_SNP_POLICY_BITS
#define KVM_X86_SNP_POLICY_BITS 1
#endif
#ifndef KVM_X86_SEV_SNP_REQ_CERTS
#define KVM_X86_SEV_SNP_REQ_CERTS 2
#endif

/* ---- AMD SEV / SEV-SNP (KVM_MEMORY_ENCRYPT_OP with struct kvm_sev_cmd, present since 6.1) ---- */
#define TEE_SEV_INIT2                22
#define TEE_SEV_SNP_LAUNCH_START     100
#define TEE_SEV_SNP_LAUNCH_UPDATE    101
#define TEE_SEV_SNP_LAUNCH_FINISH    102
#define TEE_SEV_SNP_ENABLE_REQ_CERTS 103
#define TEE_SNP_POLICY_SMT           (1ULL << 16)
#define TEE_SNP_POLICY_RSVD_MBO      (1ULL << 17)
#define TEE_SNP_POLICY_DBG           (1ULL << 19)
#define TEE_SNP_DEFAULT_POLICY       0x30000ULL
#define TEE_SEV_RET_INVALID_PARAM    0x16 /* firmware status: CPUID page rejected, among others */
#define TEE_SEV_RET_POLICY_FAILURE   0x07 /* firmware status: policy not met (e.g. SMT) */

#ifndef KVM_X86_SEV_VMSA_FEATURES
#define KVM_X86_SEV_VMSA_FEATURES 0
struct kvm_sev_init {
    __u64 vmsa_features;
    __u32 flags;
    __u16 ghcb_version;
    __u16 pad1;
    __u32 pad2[8];
};
#endif

#ifndef KVM_SEV_SNP_PAGE_TYPE_NORMAL
#define KVM_SEV_PAGE_TYPE_INVALID        0x0
#define KVM_SEV_SNP_PAGE_TYPE_NORMAL     0x1
#define KVM_SEV_SNP_PAGE_TYPE_ZERO       0x3
#define KVM_SEV_SNP_PAGE_TYPE_UNMEASURED 0x4
#define KVM_SEV_SNP_PAGE_TYPE_SECRETS    0x5
#define KVM_SEV_SNP_PAGE_TYPE_CPUID      0x6
struct kvm_sev_snp_launch_start {
    __u64 policy;
    __u8 gosvw[16];
    __u16 flags;
    __u8 pad0[6];
    __u64 pad1[4];
};
struct kvm_sev_snp_launch_update {
    __u64 gfn_start;
    __u64 uaddr;
    __u64 len;
    __u8 type;
    __u8 pad0;
    __u16 flags;
    __u32 pad1;
    __u64 pad2[4];
};
#define KVM_SEV_SNP_ID_BLOCK_SIZE    96
#define KVM_SEV_SNP_ID_AUTH_SIZE     4096
#define KVM_SEV_SNP_FINISH_DATA_SIZE 32
struct kvm_sev_snp_launch_finish {
    __u64 id_block_uaddr;
    __u64 id_auth_uaddr;
    __u8 id_block_en;
    __u8 auth_key_en;
    __u8 vcek_disabled;
    __u8 host_data[KVM_SEV_SNP_FINISH_DATA_SIZE];
    __u8 pad0[3];
    __u16 flags;
    __u64 pad1[4];
};
#endif

/* The SNP CPUID page (firmware ABI, as QEMU's SnpCpuidInfo): packed, 3088 bytes. */
#define TEE_SNP_CPUID_MAX 64
struct tee_snp_cpuid_entry {
    __u32 eax_in;
    __u32 ecx_in;
    __u64 xcr0_in;
    __u64 xss_in;
    __u32 eax, ebx, ecx, edx;
    __u64 reserved;
} __attribute__((packed));
struct tee_snp_cpuid_page {
    __u32 count;
    __u32 reserved1;
    __u64 reserved2;
    struct tee_snp_cpuid_entry entries[TEE_SNP_CPUID_MAX];
} __attribute__((packed));

/* ---- Intel TDX (KVM_MEMORY_ENCRYPT_OP with struct kvm_tdx_cmd) ---- */
#define TEE_TDX_CAPABILITIES    0
#define TEE_TDX_INIT_VM         1
#define TEE_TDX_INIT_VCPU       2
#define TEE_TDX_INIT_MEM_REGION 3
#define TEE_TDX_FINALIZE_VM     4
#define TEE_TDX_GET_CPUID       5
#define TEE_TDX_TERMINATE_VM    6

#ifndef KVM_TDX_MEASURE_MEMORY_REGION
#define KVM_TDX_MEASURE_MEMORY_REGION (1ULL << 0)
struct kvm_tdx_cmd {
    __u32 id;
    __u32 flags;
    __u64 data;
    __u64 hw_error;
};
struct kvm_tdx_capabilities {
    __u64 supported_attrs;
    __u64 supported_xfam;
    __u64 kernel_tdvmcallinfo_1_r11;
    __u64 user_tdvmcallinfo_1_r11;
    __u64 kernel_tdvmcallinfo_1_r12;
    __u64 user_tdvmcallinfo_1_r12;
    __u64 reserved[250];
    struct kvm_cpuid2 cpuid; /* configurable CPUID bits; entries follow */
};
struct kvm_tdx_init_vm {
    __u64 attributes;
    __u64 xfam;
    __u64 mrconfigid[6];
    __u64 mrowner[6];
    __u64 mrownerconfig[6];
    __u64 reserved[12];
    struct kvm_cpuid2 cpuid; /* entries follow */
};
struct kvm_tdx_init_mem_region {
    __u64 source_addr;
    __u64 gpa;
    __u64 nr_pages;
};
#endif

#define TEE_TDX_ATTR_DEBUG           (1ULL << 0)
#define TEE_TDX_ATTR_SEPT_VE_DISABLE (1ULL << 28)
#define TEE_TDX_ATTR_PKS             (1ULL << 30)
#define TEE_TDX_ATTR_PERFMON         (1ULL << 63)

/* TDVMCALL leaves in kvm_run.tdx.nr and the status codes written to .ret */
#define TEE_TDVMCALL_GET_TD_VM_CALL_INFO        0x10000ULL
#define TEE_TDVMCALL_MAP_GPA                    0x10001ULL
#define TEE_TDVMCALL_GET_QUOTE                  0x10002ULL
#define TEE_TDVMCALL_SETUP_EVENT_NOTIFY         0x10004ULL
#define TEE_TDVMCALL_STATUS_SUCCESS             0ULL
#define TEE_TDVMCALL_STATUS_RETRY               1ULL
#define TEE_TDVMCALL_STATUS_INVALID_OPERAND     0x8000000000000000ULL
#define TEE_TDVMCALL_STATUS_GPA_INUSE           0x8000000000000001ULL
#define TEE_TDVMCALL_STATUS_ALIGN_ERROR         0x8000000000000002ULL
#define TEE_TDVMCALL_STATUS_SUBFUNC_UNSUPPORTED 0x8000000000000003ULL
#define TEE_TDVMCALLINFO_SET_EVENT_NOTIFY       (1ULL << 1) /* r11 bit the VMM may advertise */

/* ---- kvm_run union members 6.1 lacks: overlays at the union (byte 32 of struct kvm_run) ---- */
struct tee_run_memory_fault {
    __u64 flags;
    __u64 gpa;
    __u64 size;
};
struct tee_run_tdx {
    __u64 flags;
    __u64 nr;
    union {
        struct {
            __u64 ret;
            __u64 data[5];
        } unknown;
        struct {
            __u64 ret;
            __u64 gpa;
            __u64 size;
        } get_quote;
        struct {
            __u64 ret;
            __u64 leaf;
            __u64 r11, r12, r13, r14;
        } get_tdvmcall_info;
        struct {
            __u64 ret;
            __u64 vector;
        } setup_event_notify;
    };
};
struct tee_run_snp_req_certs {
    __u64 gpa;
    __u64 npages;
    __u64 ret;
};

#define TEE_RUN_UNION_OFFSET 32
static inline void *tee_run_union(struct kvm_run *run)
{
    return (unsigned char *)run + TEE_RUN_UNION_OFFSET;
}

/* ---- compile-time checks against the values in the spec ---- */
_Static_assert(offsetof(struct kvm_run, mmio) == TEE_RUN_UNION_OFFSET, "kvm_run union offset");
_Static_assert(sizeof(struct kvm_userspace_memory_region2) == 160, "region2 size");
_Static_assert(sizeof(struct kvm_memory_attributes) == 32, "attributes size");
_Static_assert(sizeof(struct kvm_create_guest_memfd) == 64, "guest_memfd size");
_Static_assert(sizeof(struct kvm_pre_fault_memory) == 64, "pre-fault size");
_Static_assert(KVM_SET_USER_MEMORY_REGION2 == 0x40a0ae49, "ioctl value");
_Static_assert(KVM_SET_MEMORY_ATTRIBUTES == 0x4020aed2, "ioctl value");
_Static_assert(KVM_CREATE_GUEST_MEMFD == 0xc040aed4, "ioctl value");
_Static_assert(KVM_PRE_FAULT_MEMORY == 0xc040aed5, "ioctl value");
_Static_assert(KVM_MEMORY_ENCRYPT_OP == 0xc008aeba, "ioctl value");
_Static_assert(sizeof(struct kvm_sev_cmd) == 24, "sev cmd size");
_Static_assert(sizeof(struct kvm_sev_init) == 48, "sev init size");
_Static_assert(sizeof(struct kvm_sev_snp_launch_start) == 64, "launch start size");
_Static_assert(sizeof(struct kvm_sev_snp_launch_update) == 64, "launch update size");
_Static_assert(sizeof(struct kvm_sev_snp_launch_finish) == 88, "launch finish size");
_Static_assert(offsetof(struct kvm_sev_snp_launch_finish, flags) == 54, "finish flags offset");
_Static_assert(sizeof(struct tee_snp_cpuid_page) == 3088, "SNP CPUID page size");
_Static_assert(sizeof(struct kvm_tdx_cmd) == 24, "tdx cmd size");
_Static_assert(offsetof(struct kvm_tdx_capabilities, cpuid) == 2048, "tdx caps cpuid offset");
_Static_assert(offsetof(struct kvm_tdx_init_vm, cpuid) == 256, "tdx init_vm cpuid offset");
_Static_assert(sizeof(struct kvm_tdx_init_mem_region) == 24, "tdx mem region size");
_Static_assert(sizeof(struct tee_run_tdx) == 64, "kvm_run.tdx size");
_Static_assert(sizeof(struct tee_run_tdx) <= 256 && sizeof(struct tee_run_memory_fault) <= 256,
               "overlay fits the kvm_run union");

#endif
