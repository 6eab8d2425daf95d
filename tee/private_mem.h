/* private_mem.h: guest_memfd-backed private memory, the per-page shared/private map and
 * conversions. */
#ifndef COCOON_PRIVATE_MEM_H
#define COCOON_PRIVATE_MEM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vmm/base/kvm_sys.h"
#include "vmm/base/memory.h"

struct kvm_run;

#define PM_MAX_SLOTS (GM_MAX_REGIONS + 1)

/* One memslot with a private side: the shared backing (host mapping) plus a guest_memfd. */
struct pm_slot {
    uint64_t gpa;
    uint64_t size;
    uint8_t *shared;     /* host mapping of the shared side */
    int shared_fd;       /* memfd behind `shared` (hole punching), or -1 (then madvise) */
    uint64_t shared_off; /* offset of this slot in shared_fd */
    int gmem_fd;         /* guest_memfd of this slot */
    bool own_shared;     /* `shared` was mmapped here (the flash slot) and is unmapped here */
};

/* The private-memory state of one VM. Guest RAM slots come from `gm`; the firmware flash (which
 * lies in the hole below 4 GiB) gets a slot of its own that no device can reach. */
struct private_mem {
    const struct kvm_handle *kvm;
    int vm_fd;
    struct guest_mem *gm;
    struct pm_slot slot[PM_MAX_SLOTS];
    unsigned nr_slots;
    uint64_t conversions; /* pages converted since setup: read with pm_conversions (atomic) */
};

/* Gives every RAM region of gm a guest_memfd and a KVM_SET_USER_MEMORY_REGION2 memslot (slot
 * numbers from 0), marks all of it private (KVM_SET_MEMORY_ATTRIBUTES and gm's bitmap: devices see
 * nothing until the guest shares it). Returns 0, or -1 with one line in err. */
int pm_setup(struct private_mem *pm, const struct kvm_handle *kvm, int vm_fd, struct guest_mem *gm,
             char *err, size_t errlen);

/* Adds a private slot of `size` bytes at `gpa` outside guest RAM (the firmware flash ending at
 * 4 GiB) with a fresh anonymous shared side. Returns 0 or -1. */
int pm_add_flash(struct private_mem *pm, uint64_t gpa, uint64_t size, char *err, size_t errlen);

/* True if [gpa, gpa+len) lies in one slot. */
bool pm_covers(const struct private_mem *pm, uint64_t gpa, uint64_t len);

/* Converts [gpa, gpa+size) (4 KiB aligned, inside the slots) to private or shared: memory
 * attributes, the bitmap the memory door checks, and the discard of the side no longer used
 * (shared -> fallocate PUNCH_HOLE or madvise; private -> PUNCH_HOLE on the guest_memfd).
 * Returns 0, or -1 (nothing changed if the range is invalid) with one line in err. */
int pm_convert(struct private_mem *pm, uint64_t gpa, uint64_t size, bool to_private, char *err,
               size_t errlen);

/* KVM_EXIT_HYPERCALL with nr KVM_HC_MAP_GPA_RANGE: converts and writes hypercall.ret (0, or a
 * negative KVM error the guest sees). Guest input: never fails the VMM. Returns 0 if handled. */
int pm_handle_map_gpa_range(struct private_mem *pm, struct kvm_run *run);

/* KVM_EXIT_MEMORY_FAULT (KVM_RUN returned -1/EFAULT): converts the faulting range to the kind of
 * access the guest made. Returns 0 when the vCPU may run again, -1 (logged) when the fault cannot
 * be resolved (outside RAM, unknown flags): the caller stops the VM as for any unhandled exit. */
int pm_handle_memory_fault(struct private_mem *pm, struct kvm_run *run);

/* Pages converted since setup (any thread). */
uint64_t pm_conversions(const struct private_mem *pm);

/* Closes the guest_memfds and unmaps the flash slot. Safe on a zeroed struct. */
void pm_destroy(struct private_mem *pm);

#endif
