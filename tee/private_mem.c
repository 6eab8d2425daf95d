/* private_mem.c: guest_memfd memslots, private/shared conversions and discarding the unused side.
 */
#include "tee/private_mem.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

#include "tee/kvm_tee_uapi.h"
#include "vmm/base/log.h"

static struct log_ratelimit discard_rl = LOG_RATELIMIT_INIT;
static struct log_ratelimit convert_rl = LOG_RATELIMIT_INIT;

static int pm_add_slot(struct private_mem *pm, uint64_t gpa, uint64_t size, uint8_t *shared,
                       int shared_fd, uint64_t shared_off, bool own_shared, char *err,
                       size_t errlen)
{
    if (pm->nr_slots >= PM_MAX_SLOTS) {
        snprintf(err, errlen, "too many private memory slots");
        return -1;
    }
    struct kvm_create_guest_memfd cg = {.size = size, .flags = 0};
    int gfd = kvm_ioctl(pm->kvm, pm->vm_fd, KVM_CREATE_GUEST_MEMFD, &cg);
    if (gfd < 0) {
        snprintf(err, errlen, "KVM_CREATE_GUEST_MEMFD (%llu bytes) failed: %s",
                 (unsigned long long)size, strerror(errno));
        return -1;
    }
    unsigned idx = pm->nr_slots;
    struct kvm_userspace_memory_region2 r = {
        .slot = idx,
        .flags = KVM_MEM_GUEST_MEMFD,
        .guest_phys_addr = gpa,
        .memory_size = size,
        .userspace_addr = (uint64_t)(uintptr_t)shared,
        .guest_memfd_offset = 0,
        .guest_memfd = (uint32_t)gfd,
    };
    if (kvm_ioctl(pm->kvm, pm->vm_fd, KVM_SET_USER_MEMORY_REGION2, &r) < 0) {
        snprintf(err, errlen, "KVM_SET_USER_MEMORY_REGION2 at 0x%llx failed: %s",
                 (unsigned long long)gpa, strerror(errno));
        pm->kvm->sys->close(pm->kvm->ctx, gfd);
        return -1;
    }
    struct kvm_memory_attributes a = {
        .address = gpa, .size = size, .attributes = KVM_MEMORY_ATTRIBUTE_PRIVATE};
    if (kvm_ioctl(pm->kvm, pm->vm_fd, KVM_SET_MEMORY_ATTRIBUTES, &a) < 0) {
        snprintf(err, errlen, "KVM_SET_MEMORY_ATTRIBUTES (private) at 0x%llx failed: %s",
                 (unsigned long long)gpa, strerror(errno));
        pm->kvm->sys->close(pm->kvm->ctx, gfd);
        return -1;
    }
    pm->slot[idx] = (struct pm_slot){.gpa = gpa,
                                     .size = size,
                                     .shared = shared,
                                     .shared_fd = shared_fd,
                                     .shared_off = shared_off,
                                     .gmem_fd = gfd,
                                     .own_shared = own_shared};
    pm->nr_slots++;
    return 0;
}

int pm_setup(struct private_mem *pm, const struct kvm_handle *kvm, int vm_fd, struct guest_mem *gm,
             char *err, size_t errlen)
{
    memset(pm, 0, sizeof(*pm));
    pm->kvm = kvm;
    pm->vm_fd = vm_fd;
    pm->gm = gm;
    for (unsigned i = 0; i < gm->nr_regions; i++) {
        const struct gm_region *r = &gm->region[i];
        if (pm_add_slot(pm, r->gpa, r->size, r->host, gm->memfd, r->fd_offset, false, err, errlen) <
            0) {
            pm_destroy(pm);
            return -1;
        }
    }
    if (gm_enable_private(gm) < 0) {
        snprintf(err, errlen, "out of memory for the private-page map");
        pm_destroy(pm);
        return -1;
    }
    return 0;
}

int pm_add_flash(struct private_mem *pm, uint64_t gpa, uint64_t size, char *err, size_t errlen)
{
    if (size == 0 || size % GM_PAGE_SIZE || gpa % GM_PAGE_SIZE || gpa + size < gpa) {
        snprintf(err, errlen, "firmware region 0x%llx+0x%llx is not page aligned",
                 (unsigned long long)gpa, (unsigned long long)size);
        return -1;
    }
    for (unsigned i = 0; i < pm->nr_slots; i++) {
        const struct pm_slot *s = &pm->slot[i];
        if (gpa < s->gpa + s->size && s->gpa < gpa + size) {
            snprintf(err, errlen, "firmware region 0x%llx+0x%llx overlaps guest RAM",
                     (unsigned long long)gpa, (unsigned long long)size);
            return -1;
        }
    }
    uint8_t *host = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (host == MAP_FAILED) {
        snprintf(err, errlen, "cannot map the firmware region: %s", strerror(errno));
        return -1;
    }
    if (pm_add_slot(pm, gpa, size, host, -1, 0, true, err, errlen) < 0) {
        munmap(host, size);
        return -1;
    }
    return 0;
}

static const struct pm_slot *pm_find(const struct private_mem *pm, uint64_t gpa, uint64_t len)
{
    if (len == 0 || gpa + len < gpa)
        return NULL;
    for (unsigned i = 0; i < pm->nr_slots; i++) {
        const struct pm_slot *s = &pm->slot[i];
        if (gpa >= s->gpa && gpa - s->gpa < s->size && len <= s->size - (gpa - s->gpa))
            return s;
    }
    return NULL;
}

bool pm_covers(const struct private_mem *pm, uint64_t gpa, uint64_t len)
{
    return pm_find(pm, gpa, len) != NULL;
}

/* Drops the backing of the side that stops being used; a failure only costs memory. */
static void pm_discard(struct private_mem *pm, const struct pm_slot *s, uint64_t gpa, uint64_t size,
                       bool to_private)
{
    uint64_t off = gpa - s->gpa;
    int rc;
    const char *what;
    if (to_private) {
        what = "shared";
        if (s->shared_fd >= 0)
            rc = fallocate(s->shared_fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                           (off_t)(s->shared_off + off), (off_t)size);
        else
            rc = madvise(s->shared + off, size, MADV_DONTNEED);
    } else {
        what = "private";
        if (pm->kvm->sys->fallocate)
            rc = pm->kvm->sys->fallocate(pm->kvm->ctx, s->gmem_fd,
                                         FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)off,
                                         (off_t)size);
        else
            rc = -1, errno = EOPNOTSUPP;
    }
    if (rc < 0)
        log_limited(&discard_rl, LOG_LVL_WARN, "cannot discard the %s side of 0x%llx+0x%llx: %s",
                    what, (unsigned long long)gpa, (unsigned long long)size, strerror(errno));
}

int pm_convert(struct private_mem *pm, uint64_t gpa, uint64_t size, bool to_private, char *err,
               size_t errlen)
{
    if (size == 0 || gpa % GM_PAGE_SIZE || size % GM_PAGE_SIZE) {
        snprintf(err, errlen, "conversion of 0x%llx+0x%llx is not page aligned",
                 (unsigned long long)gpa, (unsigned long long)size);
        return -1;
    }
    const struct pm_slot *s = pm_find(pm, gpa, size);
    /* Only guest RAM converts; the flash slot stays private (no device may ever see it). */
    if (!s || s->own_shared || !gm_span_loader(pm->gm, gpa, size)) {
        snprintf(err, errlen, "conversion of 0x%llx+0x%llx is outside guest RAM",
                 (unsigned long long)gpa, (unsigned long long)size);
        return -1;
    }
    struct kvm_memory_attributes a = {
        .address = gpa, .size = size, .attributes = to_private ? KVM_MEMORY_ATTRIBUTE_PRIVATE : 0};
    if (kvm_ioctl(pm->kvm, pm->vm_fd, KVM_SET_MEMORY_ATTRIBUTES, &a) < 0) {
        snprintf(err, errlen, "KVM_SET_MEMORY_ATTRIBUTES 0x%llx+0x%llx failed: %s",
                 (unsigned long long)gpa, (unsigned long long)size, strerror(errno));
        return -1;
    }
    /* Make the door refuse first when going private, so no device reads a page being taken;
     * spans devices still hold (gm_pin) are revoked there, so their requests fail. */
    gm_set_private(pm->gm, gpa, size, to_private);
    pm_discard(pm, s, gpa, size, to_private);
    /* vCPU threads convert concurrently: an atomic add, so no conversion is lost. */
    __atomic_fetch_add(&pm->conversions, size / GM_PAGE_SIZE, __ATOMIC_RELAXED);
    return 0;
}

uint64_t pm_conversions(const struct private_mem *pm)
{
    return __atomic_load_n(&pm->conversions, __ATOMIC_RELAXED);
}

int pm_handle_map_gpa_range(struct private_mem *pm, struct kvm_run *run)
{
    uint64_t gpa = run->hypercall.args[0];
    uint64_t npages = run->hypercall.args[1];
    uint64_t attrs = run->hypercall.args[2];
    char err[160];
    /* bits 3:0 page size (0..2), bit 4 encrypted, the rest reserved */
    if ((attrs & ~0x1fULL) || (attrs & 0xf) > 2 || npages == 0 ||
        npages > UINT64_MAX / GM_PAGE_SIZE) {
        log_limited(&convert_rl, LOG_LVL_WARN,
                    "MAP_GPA_RANGE refused: gpa 0x%llx pages %llu attrs 0x%llx",
                    (unsigned long long)gpa, (unsigned long long)npages, (unsigned long long)attrs);
        run->hypercall.ret = (uint64_t)-EINVAL;
        return 0;
    }
    bool to_private = attrs & KVM_MAP_GPA_RANGE_ENCRYPTED;
    if (pm_convert(pm, gpa, npages * GM_PAGE_SIZE, to_private, err, sizeof(err)) < 0) {
        log_limited(&convert_rl, LOG_LVL_WARN, "MAP_GPA_RANGE refused: %s", err);
        run->hypercall.ret = (uint64_t)-EINVAL;
        return 0;
    }
    run->hypercall.ret = 0;
    return 0;
}

int pm_handle_memory_fault(struct private_mem *pm, struct kvm_run *run)
{
    const struct tee_run_memory_fault *mf = tee_run_union(run);
    uint64_t flags = mf->flags, gpa = mf->gpa, size = mf->size;
    if (flags & ~KVM_MEMORY_EXIT_FLAG_PRIVATE) {
        log_err("memory fault at 0x%llx with unknown flags 0x%llx", (unsigned long long)gpa,
                (unsigned long long)flags);
        return -1;
    }
    /* size 0: KVM could not tell; convert the page that faulted. */
    uint64_t start = gpa & ~(GM_PAGE_SIZE - 1);
    uint64_t end = size ? gpa + size : gpa + 1;
    if (end < gpa || end > UINT64_MAX - GM_PAGE_SIZE) {
        log_err("memory fault range 0x%llx+0x%llx wraps", (unsigned long long)gpa,
                (unsigned long long)size);
        return -1;
    }
    end = (end + GM_PAGE_SIZE - 1) & ~(GM_PAGE_SIZE - 1);
    char err[160];
    if (pm_convert(pm, start, end - start, flags & KVM_MEMORY_EXIT_FLAG_PRIVATE, err, sizeof(err)) <
        0) {
        log_err("unresolvable memory fault: %s", err);
        return -1;
    }
    return 0;
}

void pm_destroy(struct private_mem *pm)
{
    for (unsigned i = 0; i < pm->nr_slots; i++) {
        struct pm_slot *s = &pm->slot[i];
        if (s->gmem_fd >= 0 && pm->kvm)
            pm->kvm->sys->close(pm->kvm->ctx, s->gmem_fd);
        if (s->own_shared)
            munmap(s->shared, s->size);
    }
    pm->nr_slots = 0;
}
