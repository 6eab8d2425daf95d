/* kvm_sys.h: the one table of functions through which all KVM (and /dev/sev) access passes. */
#ifndef COCOON_KVM_SYS_H
#define COCOON_KVM_SYS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Every open/ioctl/mmap/close on /dev/kvm, a VM fd, a vCPU fd, a guest_memfd or /dev/sev goes
 * through one of these, so tests can put a simulated KVM or TEE firmware under the real code.
 * The table is const; `ctx` is passed back to every call. */
struct kvm_sys {
    int (*open)(void *ctx, const char *path, int flags);
    int (*ioctl)(void *ctx, int fd, unsigned long request, void *arg);
    void *(*mmap)(void *ctx, size_t len, int prot, int flags, int fd, off_t off);
    int (*munmap)(void *ctx, void *addr, size_t len);
    int (*close)(void *ctx, int fd);
    /* fallocate(2); the TEE code punches holes in a guest_memfd with it. NULL = not offered. */
    int (*fallocate)(void *ctx, int fd, int mode, off_t off, off_t len);
    /* read(2) on an fd from `open` (host facts a TEE probe checks, e.g. SMT). NULL = none. */
    ssize_t (*read)(void *ctx, int fd, void *buf, size_t len);
};

/* A table bound to its context. */
struct kvm_handle {
    const struct kvm_sys *sys;
    void *ctx;
};

/* The real host: open(2), ioctl(2), mmap(2), munmap(2), close(2). */
extern const struct kvm_sys kvm_sys_host;

struct kvm_cpuid2;

/* KVM_GET_SUPPORTED_CPUID on the /dev/kvm fd, growing the buffer on E2BIG. Returns a malloc'd
 * struct the caller frees, or NULL with one line in err. */
struct kvm_cpuid2 *kvm_supported_cpuid(const struct kvm_handle *kvm, int kvm_fd, char *err,
                                       size_t errlen);

static inline int kvm_ioctl(const struct kvm_handle *h, int fd, unsigned long req, void *arg)
{
    return h->sys->ioctl(h->ctx, fd, req, arg);
}

/* KVM memory slot numbers of a plain VM: guest RAM takes slots 0 .. KVM_SLOT_RAM_MAX - 1 (one per
 * slice of a RAM region, tee/tee_none.c); a --firmware image's read-only slot comes after. */
#define KVM_SLOT_RAM_MAX  256
#define KVM_SLOT_FIRMWARE KVM_SLOT_RAM_MAX

#endif
