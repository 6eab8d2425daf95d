/* tee_none.c: the plain-KVM backend: default VM type, ordinary memslots, the VMM's direct boot. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "tee/kvm_tee_uapi.h"
#include "tee/tee_internal.h"
#include "vmm/base/stop_signal.h"

static int none_probe(const struct kvm_handle *kvm, int kvm_fd, const struct platform_config *pc,
                      char *err, size_t errlen)
{
    return 0;
}

/* KVM slices a memslot's metadata work per slot: on a host with shadow paging, registering one
 * slot allocates reverse maps for every page it covers (kvm_alloc_memslot_metadata(),
 * arch/x86/kvm/x86.c), about 1.4 s per 256 GiB here. Slots of at most this size keep each step
 * short, so a stop signal between two of them is acted on at once. */
#define NONE_SLOT_MAX (16ULL << 30)

static int none_register_slot(struct tee_vm *t, unsigned slot, uint64_t gpa, uint64_t size,
                              uint8_t *host, char *err, size_t errlen)
{
    struct kvm_userspace_memory_region m = {
        .slot = slot,
        .guest_phys_addr = gpa,
        .memory_size = size,
        .userspace_addr = (uint64_t)(uintptr_t)host,
    };
    if (kvm_ioctl(t->kvm, t->vm_fd, KVM_SET_USER_MEMORY_REGION, &m) < 0) {
        snprintf(err, errlen, "cannot register guest memory at 0x%llx with KVM: %s",
                 (unsigned long long)gpa, strerror(errno));
        return -1;
    }
    return 0;
}

/* Every RAM region as slots of at most NONE_SLOT_MAX, checking for a stop signal between them
 * (the caller holds the stop signals, vmm/base/stop_signal.h). */
static int none_map_memory(struct tee_vm *t, char *err, size_t errlen)
{
    unsigned slot = 0;
    for (unsigned i = 0; i < t->gm->nr_regions; i++) {
        const struct gm_region *r = &t->gm->region[i];
        for (uint64_t off = 0; off < r->size; off += NONE_SLOT_MAX, slot++) {
            int sig = stop_signal_pending();
            if (sig) {
                snprintf(err, errlen, "set-up interrupted by signal %d", sig);
                return -1;
            }
            if (slot >= KVM_SLOT_RAM_MAX) {
                snprintf(err, errlen, "guest RAM needs more than %u KVM memory slots",
                         KVM_SLOT_RAM_MAX);
                return -1;
            }
            uint64_t len = r->size - off < NONE_SLOT_MAX ? r->size - off : NONE_SLOT_MAX;
            if (none_register_slot(t, slot, r->gpa + off, len, r->host + off, err, errlen) < 0)
                return -1;
        }
    }
    return 0;
}

/* No measurement: the VMM loads the payload and sets the boot registers itself. */
static int none_launch(struct tee_vm *t, char *err, size_t errlen)
{
    if (!t->payload.direct_boot) {
        snprintf(err, errlen, "none: no payload loader");
        return -1;
    }
    return t->payload.direct_boot(t->payload.opaque, err, errlen);
}

const struct tee_ops tee_none_ops = {
    .kind = TEE_NONE,
    .name = "none",
    .title = "plain KVM",
    .vm_type = KVM_X86_DEFAULT_VM,
    .probe = none_probe,
    .map_memory = none_map_memory,
    .launch = none_launch,
};
