/* tee.c: backend dispatch (none/snp/tdx) and the helpers the backends share. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tee/kvm_tee_uapi.h"
#include "tee/tee_internal.h"

#define TEE_FLASH_MAX (64u << 20) /* largest firmware image a confidential guest is given */
#define FOUR_GIB      0x100000000ULL

static const struct tee_ops *tee_ops_for(enum tee_kind kind)
{
    switch (kind) {
    case TEE_NONE:
        return &tee_none_ops;
    case TEE_SNP:
        return &tee_snp_ops;
    case TEE_TDX:
        return &tee_tdx_ops;
    }
    return NULL;
}

int tee_probe(enum tee_kind kind, const struct kvm_handle *kvm, int kvm_fd,
              const struct platform_config *pc, char *err, size_t errlen)
{
    const struct tee_ops *ops = tee_ops_for(kind);
    if (!ops) {
        snprintf(err, errlen, "unknown TEE kind %d", (int)kind);
        return -1;
    }
    return ops->probe(kvm, kvm_fd, pc, err, errlen);
}

int tee_vm_create(const struct kvm_handle *kvm, int kvm_fd, const struct vm_config *cfg,
                  struct guest_mem *gm, struct tee_vm **out, int *vm_fd, char *err, size_t errlen)
{
    const struct tee_ops *ops = tee_ops_for(cfg->platform.tee);
    if (!ops) {
        snprintf(err, errlen, "unknown TEE kind %d", (int)cfg->platform.tee);
        return -1;
    }
    struct tee_vm *t = calloc(1, sizeof(*t));
    if (!t) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    t->ops = ops;
    t->kvm = kvm;
    t->kvm_fd = kvm_fd;
    t->cfg = cfg;
    t->gm = gm;
    t->vm_fd = kvm_ioctl(kvm, kvm_fd, KVM_CREATE_VM, (void *)(uintptr_t)ops->vm_type);
    if (t->vm_fd < 0) {
        snprintf(err, errlen, "cannot create a KVM VM (%s, type %lu): %s", ops->title, ops->vm_type,
                 strerror(errno));
        free(t);
        return -1;
    }
    if (ops->vm_init && ops->vm_init(t, err, errlen) < 0) {
        tee_destroy(t);
        return -1;
    }
    *vm_fd = t->vm_fd;
    *out = t;
    return 0;
}

int tee_map_memory(struct tee_vm *t, char *err, size_t errlen)
{
    return t->ops->map_memory(t, err, errlen);
}

int tee_add_vcpu(struct tee_vm *t, unsigned index, int vcpu_fd, char *err, size_t errlen)
{
    if (index != t->nr_vcpus || index >= TEE_MAX_VCPUS) {
        snprintf(err, errlen, "vCPU %u added out of order", index);
        return -1;
    }
    if (t->launched) {
        snprintf(err, errlen, "vCPU %u added after the measured launch", index);
        return -1;
    }
    t->vcpu[index].fd = vcpu_fd;
    t->nr_vcpus++;
    return 0;
}

void tee_set_payload(struct tee_vm *t, const struct tee_payload *p)
{
    t->payload = *p;
}

bool tee_boots_firmware(const struct tee_vm *t)
{
    return t->ops->kind != TEE_NONE;
}

int tee_launch(struct tee_vm *t, char *err, size_t errlen)
{
    if (t->launched) {
        snprintf(err, errlen, "%s: launch already done", t->ops->name);
        return -1;
    }
    if (t->nr_vcpus == 0) {
        snprintf(err, errlen, "%s: launch without vCPUs", t->ops->name);
        return -1;
    }
    if (t->ops->launch && t->ops->launch(t, err, errlen) < 0)
        return -1;
    t->launched = true;
    return 0;
}

enum tee_exit_result tee_handle_exit(struct tee_vm *t, unsigned vcpu, struct kvm_run *run,
                                     int run_ret, int run_errno)
{
    if (!t->ops->handle_exit)
        return TEE_EXIT_NOT_MINE;
    return t->ops->handle_exit(t, vcpu, run, run_ret, run_errno);
}

bool tee_guest_state_protected(const struct tee_vm *t)
{
    return t->state_protected;
}

bool tee_owns_irqchip(const struct tee_vm *t)
{
    return t->owns_irqchip;
}

void tee_destroy(struct tee_vm *t)
{
    if (!t)
        return;
    if (t->ops->destroy)
        t->ops->destroy(t);
    if (t->pm_ready)
        pm_destroy(&t->pm);
    free(t->flash.data);
    if (t->vm_fd >= 0)
        t->kvm->sys->close(t->kvm->ctx, t->vm_fd);
    free(t);
}

/* ---- shared helpers ---- */

int tee_read_file(const char *path, size_t max, uint8_t **out, size_t *len, char *err,
                  size_t errlen)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK); /* a FIFO must not block the open */
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0) {
        snprintf(err, errlen, "cannot open %s: %s", path, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    if (!S_ISREG(st.st_mode) || st.st_size <= 0 || (uint64_t)st.st_size > max) {
        snprintf(err, errlen, "%s: not a regular file of 1..%zu bytes", path, max);
        close(fd);
        return -1;
    }
    size_t n = (size_t)st.st_size, got = 0;
    uint8_t *buf = malloc(n);
    if (!buf) {
        snprintf(err, errlen, "out of memory reading %s", path);
        close(fd);
        return -1;
    }
    while (got < n) {
        ssize_t r = read(fd, buf + got, n - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            snprintf(err, errlen, "cannot read %s: %s", path, r < 0 ? strerror(errno) : "short");
            free(buf);
            close(fd);
            return -1;
        }
        got += (size_t)r;
    }
    close(fd);
    *out = buf;
    *len = n;
    return 0;
}

int tee_check_cap(const struct kvm_handle *kvm, int fd, long cap)
{
    return kvm_ioctl(kvm, fd, KVM_CHECK_EXTENSION, (void *)cap);
}

void tee_append(char *buf, size_t len, const char *what)
{
    size_t used = strlen(buf);
    snprintf(buf + used, len - used, "%s%s", used ? "; " : "", what);
}

int tee_probe_private_vm(const struct kvm_handle *kvm, int kvm_fd, unsigned type,
                         const char *min_kernel, const char *type_hint, char *missing, size_t len)
{
    char one[192];
    int types = tee_check_cap(kvm, kvm_fd, KVM_CAP_VM_TYPES);
    if (types <= 0) {
        snprintf(one, sizeof(one), "kernel too old: no KVM_CAP_VM_TYPES (%s)", min_kernel);
        tee_append(missing, len, one);
        return types;
    }
    if (!(types & (1 << type))) {
        snprintf(one, sizeof(one), "KVM does not offer VM type %u (KVM_CAP_VM_TYPES = 0x%x%s)",
                 type, (unsigned)types, type_hint);
        tee_append(missing, len, one);
    }
    if (tee_check_cap(kvm, kvm_fd, KVM_CAP_GUEST_MEMFD) <= 0 ||
        tee_check_cap(kvm, kvm_fd, KVM_CAP_USER_MEMORY2) <= 0)
        tee_append(missing, len, "kernel too old: no guest_memfd");
    int hc = tee_check_cap(kvm, kvm_fd, KVM_CAP_EXIT_HYPERCALL);
    if (hc <= 0 || !(hc & (1 << KVM_HC_MAP_GPA_RANGE)))
        tee_append(missing, len, "kernel too old: no KVM_HC_MAP_GPA_RANGE exit");
    return types;
}

int tee_private_vm_init(struct tee_vm *t, char *err, size_t errlen)
{
    struct tee_flash *f = &t->flash;
    if (tee_read_file(t->cfg->firmware, TEE_FLASH_MAX, &f->data, &f->size, err, errlen) < 0)
        return -1;
    if (f->size % GM_PAGE_SIZE) {
        snprintf(err, errlen, "%s: firmware size %zu is not a multiple of 4 KiB", t->cfg->firmware,
                 f->size);
        return -1;
    }
    f->gpa = FOUR_GIB - f->size;
    int attrs = tee_check_cap(t->kvm, t->vm_fd, KVM_CAP_MEMORY_ATTRIBUTES);
    if (attrs < 0 || !((unsigned)attrs & KVM_MEMORY_ATTRIBUTE_PRIVATE)) {
        snprintf(err, errlen, "%s: this kernel offers no private memory attributes", t->ops->title);
        return -1;
    }
    return 0;
}

int tee_map_private(struct tee_vm *t, char *err, size_t errlen)
{
    if (pm_setup(&t->pm, t->kvm, t->vm_fd, t->gm, err, errlen) < 0)
        return -1;
    t->pm_ready = true;
    return pm_add_flash(&t->pm, t->flash.gpa, t->flash.size, err, errlen);
}

int tee_set_private(struct tee_vm *t, uint64_t gpa, uint64_t len, char *err, size_t errlen)
{
    struct kvm_memory_attributes a = {
        .address = gpa, .size = len, .attributes = KVM_MEMORY_ATTRIBUTE_PRIVATE};
    if (kvm_ioctl(t->kvm, t->vm_fd, KVM_SET_MEMORY_ATTRIBUTES, &a) < 0) {
        snprintf(err, errlen, "%s: cannot make 0x%llx+0x%llx private: %s", t->ops->title,
                 (unsigned long long)gpa, (unsigned long long)len, strerror(errno));
        return -1;
    }
    return 0;
}

uint8_t *tee_stage_pages(uint64_t len, const void *data, uint64_t data_len)
{
    if (len == 0 || len % GM_PAGE_SIZE || len > SIZE_MAX || data_len > len)
        return NULL;
    uint8_t *buf = aligned_alloc(GM_PAGE_SIZE, (size_t)len);
    if (!buf)
        return NULL;
    memset(buf, 0, (size_t)len);
    if (data)
        memcpy(buf, data, (size_t)data_len);
    return buf;
}

bool tee_conversion_exit(struct tee_vm *t, struct kvm_run *run, int run_ret, int run_errno,
                         enum tee_exit_result *res)
{
    if (run_ret < 0 && run_errno == EFAULT && run->exit_reason == KVM_EXIT_MEMORY_FAULT) {
        *res = pm_handle_memory_fault(&t->pm, run) == 0 ? TEE_EXIT_HANDLED : TEE_EXIT_ERROR;
        return true;
    }
    if (run_ret >= 0 && run->exit_reason == KVM_EXIT_HYPERCALL &&
        run->hypercall.nr == KVM_HC_MAP_GPA_RANGE) {
        pm_handle_map_gpa_range(&t->pm, run);
        *res = TEE_EXIT_HANDLED;
        return true;
    }
    return false;
}

struct kvm_cpuid2 *tee_vcpu_cpuid(struct tee_vm *t, unsigned i, char *err, size_t errlen)
{
    for (uint32_t nent = 64; nent <= 256; nent *= 2) {
        struct kvm_cpuid2 *c = calloc(1, sizeof(*c) + nent * sizeof(struct kvm_cpuid_entry2));
        if (!c)
            break;
        c->nent = nent;
        if (kvm_ioctl(t->kvm, t->vcpu[i].fd, KVM_GET_CPUID2, c) == 0)
            return c;
        int e = errno;
        free(c);
        if (e != E2BIG) {
            snprintf(err, errlen, "%s: KVM_GET_CPUID2 on vCPU %u failed: %s", t->ops->title, i,
                     strerror(e));
            return NULL;
        }
    }
    snprintf(err, errlen, "%s: cannot read vCPU %u's CPUID (more than 256 entries or no memory)",
             t->ops->title, i);
    return NULL;
}
