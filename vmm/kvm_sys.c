/* kvm_sys.c: the host implementation of the KVM function table (plain system calls). */
#include "vmm/kvm_sys.h"

#include <fcntl.h>
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

const struct kvm_sys kvm_sys_host = {
    .open = host_open,
    .ioctl = host_ioctl,
    .mmap = host_mmap,
    .munmap = host_munmap,
    .close = host_close,
    .fallocate = host_fallocate,
};
