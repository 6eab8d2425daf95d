/* kvm_sys.c: the host implementation of the KVM function table (plain system calls). */
#include "vmm/base/kvm_sys.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

static int host_open(void *ctx, const char *path, int flags)
{
    return open(path, flags | O_CLOEXEC);
}

static int host_ioctl(void *ctx, int fd, unsigned long request, void *arg)
{
    return ioctl(fd, request, arg);
}

static void *host_mmap(void *ctx, size_t len, int prot, int flags, int fd, off_t off)
{
    return mmap(NULL, len, prot, flags, fd, off);
}

static int host_munmap(void *ctx, void *addr, size_t len)
{
    return munmap(addr, len);
}

static int host_close(void *ctx, int fd)
{
    return close(fd);
}

static int host_fallocate(void *ctx, int fd, int mode, off_t off, off_t len)
{
    return fallocate(fd, mode, off, len);
}

static ssize_t host_read(void *ctx, int fd, void *buf, size_t len)
{
    return read(fd, buf, len);
}

const struct kvm_sys kvm_sys_host = {
    .open = host_open,
    .ioctl = host_ioctl,
    .mmap = host_mmap,
    .munmap = host_munmap,
    .close = host_close,
    .fallocate = host_fallocate,
    .read = host_read,
};

struct kvm_cpuid2 *kvm_supported_cpuid(const struct kvm_handle *kvm, int kvm_fd, char *err,
                                       size_t errlen)
{
    for (unsigned nent = 64; nent <= 4096; nent *= 2) {
        struct kvm_cpuid2 *c = calloc(1, sizeof(*c) + nent * sizeof(struct kvm_cpuid_entry2));
        if (!c)
            break;
        c->nent = nent;
        if (kvm_ioctl(kvm, kvm_fd, KVM_GET_SUPPORTED_CPUID, c) == 0)
            return c;
        int e = errno;
        free(c);
        if (e != E2BIG) {
            snprintf(err, errlen, "KVM_GET_SUPPORTED_CPUID failed: %s", strerror(e));
            return NULL;
        }
    }
    snprintf(err, errlen, "KVM_GET_SUPPORTED_CPUID: no buffer size accepted (or out of memory)");
    return NULL;
}
