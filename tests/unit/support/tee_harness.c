/* tee_harness.c: VM bring-up on the TEE simulator and running cocoon-measure for comparisons. */
#include "tests/unit/support/tee_harness.h"

#include "tests/unit/support/measure_fixtures.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <linux/kvm.h>

int harness_create(struct sim_tee *s, const struct vm_config *cfg, struct guest_mem *gm,
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
        /* As vcpu_init does: the supported CPUID (the TEE backend adjusts it). */
        struct kvm_cpuid2 *c = kvm_supported_cpuid(h, kvm_fd, err, errlen);
        int rc = c ? kvm_ioctl(h, fd, KVM_SET_CPUID2, c) : -1;
        free(c);
        if (rc < 0) {
            if (!err[0])
                snprintf(err, errlen, "KVM_SET_CPUID2 on vCPU %u failed", i);
            return -1;
        }
        if (tee_add_vcpu(*out, i, fd, err, errlen) < 0)
            return -1;
    }
    return 0;
}

int harness_launch(struct sim_tee *s, const struct vm_config *cfg, struct guest_mem *gm,
                   struct tee_vm **out, char *err, size_t errlen)
{
    if (harness_create(s, cfg, gm, out, err, errlen) < 0)
        return -1;
    return tee_launch(*out, err, errlen);
}

int harness_vm_init(struct harness_vm *v, const char *source_dir, enum tee_kind kind, unsigned cpus,
                    uint64_t ram, char *err, size_t errlen)
{
    memset(v, 0, sizeof(*v));
    enum harness_fw_source src = kind == TEE_TDX ? harness_fw_tdx(source_dir, v->fw, sizeof(v->fw))
                                                 : harness_fw_snp(source_dir, v->fw, sizeof(v->fw));
    if (src == HARNESS_FW_NONE) {
        snprintf(err, errlen, "cannot write the synthetic firmware");
        return -1;
    }
    vm_config_init(&v->cfg);
    v->cfg.cpus = cpus;
    v->cfg.memory = ram;
    v->cfg.platform.tee = kind;
    v->cfg.firmware = v->fw;
    if (gm_init(&v->gm, ram, err, errlen) < 0)
        return -1;
    v->s = sim_tee_new(kind == TEE_TDX ? SIM_HOST_TDX : SIM_HOST_SNP);
    if (!v->s) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    return 0;
}

int harness_vm_launch(struct harness_vm *v, char *err, size_t errlen)
{
    return harness_launch(v->s, &v->cfg, &v->gm, &v->t, err, errlen);
}

void harness_vm_down(struct harness_vm *v)
{
    tee_destroy(v->t);
    sim_tee_free(v->s);
    gm_destroy(&v->gm);
    memset(v, 0, sizeof(*v));
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

#define DEBIAN_OVMF "/usr/share/ovmf/OVMF.fd"
#define TDX_VECTOR  "tdx/debian-bookworm-ovmf-2022.11-6+deb12u2_OVMF.fd"
#define SNP_VECTOR  "snp/fixtures/ovmf_AmdSev_suffix.bin"

const char *harness_fw_name(enum harness_fw_source src)
{
    switch (src) {
    case HARNESS_FW_VECTOR:
        return "the published vector's firmware";
    case HARNESS_FW_DEBIAN_OVMF:
        return "Debian's " DEBIAN_OVMF;
    case HARNESS_FW_SYNTHETIC:
        return "a synthetic AmdSev/TDVF-style image";
    case HARNESS_FW_NONE:
        break;
    }
    return "no firmware";
}

static bool copy_if_readable(const char *file, char *path, size_t len)
{
    if (access(file, R_OK) != 0 || strlen(file) >= len)
        return false;
    memcpy(path, file, strlen(file) + 1);
    return true;
}

static bool vector_file(const char *source_dir, const char *rel, char *path, size_t len)
{
    char file[4096];
    int n = snprintf(file, sizeof(file), "%s/../shared/vectors/%s", source_dir, rel);
    return n > 0 && (size_t)n < sizeof(file) && copy_if_readable(file, path, len);
}

static char synthetic_path[64];

static void remove_synthetic(void)
{
    if (synthetic_path[0])
        unlink(synthetic_path);
}

/* Writes mf_build_image() once per process; 0 or -1. */
static int write_synthetic(void)
{
    if (synthetic_path[0])
        return 0;
    char tmpl[] = "/tmp/cocoon-synthetic-ovmf-XXXXXX";
    static uint8_t img[MF_SIZE];
    mf_build_image(img);
    int fd = mkstemp(tmpl);
    if (fd < 0)
        return -1;
    bool ok = write(fd, img, sizeof(img)) == (ssize_t)sizeof(img);
    close(fd);
    if (!ok) {
        unlink(tmpl);
        return -1;
    }
    memcpy(synthetic_path, tmpl, sizeof(tmpl));
    atexit(remove_synthetic);
    return 0;
}

enum harness_fw_source harness_fw_synthetic(char *path, size_t len)
{
    if (write_synthetic() < 0 || !copy_if_readable(synthetic_path, path, len))
        return HARNESS_FW_NONE;
    return HARNESS_FW_SYNTHETIC;
}

enum harness_fw_source harness_fw_snp(const char *source_dir, char *path, size_t len)
{
    if (vector_file(source_dir, SNP_VECTOR, path, len))
        return HARNESS_FW_VECTOR;
    return harness_fw_synthetic(path, len);
}

enum harness_fw_source harness_fw_ovmf(const char *source_dir, const char *vector_rel, char *path,
                                       size_t len)
{
    if (vector_rel && vector_file(source_dir, vector_rel, path, len))
        return HARNESS_FW_VECTOR;
    if (copy_if_readable(DEBIAN_OVMF, path, len))
        return HARNESS_FW_DEBIAN_OVMF;
    return HARNESS_FW_NONE;
}

enum harness_fw_source harness_fw_tdx(const char *source_dir, char *path, size_t len)
{
    enum harness_fw_source src = harness_fw_ovmf(source_dir, TDX_VECTOR, path, len);
    return src != HARNESS_FW_NONE ? src : harness_fw_synthetic(path, len);
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
