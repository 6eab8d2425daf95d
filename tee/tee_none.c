/* tee_none.c: the plain-KVM backend: default VM type, ordinary memslots, the VMM's direct boot. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "tee/kvm_tee_uapi.h"
#include "tee/tee_internal.h"

static int none_probe(const struct kvm_handle *kvm, int kvm_fd, const struct platform_config *pc,
                      char *err, size_t errlen)
{
    return 0;
}

static int none_map_memory(struct tee_vm *t, char *err, size_t errlen)
{
    for (unsigned i = 0; i < t->gm->nr_regions; i++) {
        const struct gm_region *r = &t->gm->region[i];
        struct kvm_userspace_memory_region m = {
            .slot = i,
            .guest_phys_addr = r->gpa,
            .memory_size = r->size,
            .userspace_addr = (uint64_t)(uintptr_t)r->host,
        };
        if (kvm_ioctl(t->kvm, t->vm_fd, KVM_SET_USER_MEMORY_REGION, &m) < 0) {
            snprintf(err, errlen, "cannot register guest memory at 0x%llx with KVM: %s",
                     (unsigned long long)r->gpa, strerror(errno));
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
