/* tee_harness.c: VM bring-up on the TEE simulator and running cocoon-measure for comparisons. */
#include "tests/unit/support/tee_harness.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <linux/kvm.h>

int harness_launch(struct sim_tee *s, const struct vm_config *cfg, struct guest_mem *gm,
                   struct tee_vm **out, char *err, size_t errlen)
{
    const struct kvm_handle *h = &s->handle;
    *out = NULL;
    int kvm_fd = h->sys->open(h->ctx, "/dev/kvm", O_RDWR);
    if (kvm_fd < 0) {
        snprintf(err, errlen, "no /dev/kvm in the simulator");
        return -1;
    }
    if (tee_probe(cfg->platform.tee, h, kvm_fd, &cfg->platform, err, errlen) < 0)
        return -1;
    int vm_fd;
    if (tee_vm_create(h, kvm_fd, cfg, gm, out, &vm_fd, err, errlen) < 0)
        return -1;
    if (!tee_owns_irqchip(*out) && kvm_ioctl(h, vm_fd, KVM_CREATE_IRQCHIP, NULL) < 0) {
        snprintf(err, errlen, "KVM_CREATE_IRQCHIP failed");
        return -1;
    }
    if (tee_map_memory(*out, err, errlen) < 0)
        return -1;
    for (unsigned i = 0; i < cfg->cpus; i++) {
        int fd = kvm_ioctl(h, vm_fd, KVM_CREATE_VCPU, (void *)(uintptr_t)i);
        if (fd < 0) {
            snprintf(err, errlen, "KVM_CREATE_VCPU %u failed: %s", i, strerror(errno));
            return -1;
        }
        /* As vm.c does: the kvm_run page (the simulator keeps it for scripted exits). */
        int size = kvm_ioctl(h, kvm_fd, KVM_GET_VCPU_MMAP_SIZE, NULL);
        if (size <= 0 || h->sys->mmap(h->ctx, (size_t)size, PROT_READ | PROT_WRITE, MAP_SHARED, fd,
                                      0) == MAP_FAILED) {
            snprintf(err, errlen, "cannot map vCPU %u's kvm_run", i);
            return -1;
        }
        if (tee_add_vcpu(*out, i, fd, err, errlen) < 0)
            return -1;
    }
    return tee_launch(*out, err, errlen);
}

void harness_hex(const uint8_t *b, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++)
        sprintf(out + 2 * i, "%02x", b[i]);
    out[2 * n] = 0;
}

const char *harness_vectors(const char *source_dir)
{
    static char path[4096];
    struct stat st;
    snprintf(path, sizeof(path), "%s/../shared/vectors", source_dir);
    return stat(path, &st) == 0 ? path : NULL;
}

int harness_measure(const char *binary_dir, char *const argv[], char *hex, size_t hexlen)
{
    char bin[4096];
    snprintf(bin, sizeof(bin), "%s/cocoon-measure", binary_dir);
    if (access(bin, X_OK) != 0)
        return 77;
    int pfd[2];
    if (pipe(pfd) < 0)
        return -1;
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        dup2(pfd[1], 1);
        close(pfd[0]);
        close(pfd[1]);
        execv(bin, argv);
        _exit(127);
    }
    close(pfd[1]);
    char buf[4096];
    size_t got = 0;
    ssize_t r;
    while (got < sizeof(buf) - 1 && (r = read(pfd[0], buf + got, sizeof(buf) - 1 - got)) > 0)
        got += (size_t)r;
    buf[got] = 0;
    close(pfd[0]);
    int status;
    waitpid(pid, &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        return -1;
    const char *p = strstr(buf, "MRTD: ");
    p = p ? p + 6 : buf;
    size_t n = strspn(p, "0123456789abcdef");
    if (n == 0 || n >= hexlen)
        return -1;
    memcpy(hex, p, n);
    hex[n] = 0;
    return 0;
}
