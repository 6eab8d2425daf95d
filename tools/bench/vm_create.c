/* vm_create.c: benchmark: how many VMs per second one thread creates and tears down in-process.
 *
 * usage: bench_vm_create create|boot|kvm KERNEL COUNT
 *   create  vm_create + vm_destroy of a tiny VM (1 vCPU, 16 MiB, serial off; KVM VM, in-kernel
 *           irqchip and PIT, memfd RAM, vCPU, platform devices); nothing runs
 *   boot    vm_create + vm_boot + run the guest (KERNEL, e.g. the hello test guest) until it powers
 *           off + vm_destroy
 *   kvm     the floor: the bare KVM calls any VMM makes for such a VM, without cocoon (open
 *           /dev/kvm, KVM_CREATE_VM, in-kernel irqchip and PIT, 16 MiB memfd memory slot, one vCPU
 *           with its kvm_run mapping), then closing it all
 * Output: one line, "<VMs per second>". Pin it with taskset to measure one host core.
 */
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "vmm/base/config.h"
#include "vmm/base/log.h"
#include "vmm/vm.h"

struct run {
    uv_loop_t loop;
    int exited;
    enum vm_exit_reason reason;
};

static void on_exit_cb(void *opaque, enum vm_exit_reason reason, int status)
{
    struct run *r = opaque;
    r->exited = 1;
    r->reason = reason;
    uv_stop(&r->loop);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* One VM's life; returns 0 or -1 with a message on stderr. */
static int one_vm(struct run *r, const struct vm_config *cfg, int boot)
{
    char err[512] = "";
    struct vm *vm = NULL;
    r->exited = 0;
    if (vm_create(cfg, &r->loop, on_exit_cb, r, &vm, err, sizeof(err)) < 0 ||
        (boot && vm_boot(vm, err, sizeof(err)) < 0)) {
        fprintf(stderr, "bench_vm_create: %s\n", err);
        vm_destroy(vm);
        return -1;
    }
    if (boot) {
        while (!r->exited)
            uv_run(&r->loop, UV_RUN_DEFAULT);
    }
    vm_destroy(vm);
    uv_run(&r->loop, UV_RUN_NOWAIT); /* frees the handles vm_destroy closed */
    if (boot && r->reason != VM_EXIT_POWEROFF) {
        fprintf(stderr, "bench_vm_create: the guest did not power off (reason %d)\n", r->reason);
        return -1;
    }
    return 0;
}

/* The floor: one VM made and torn down with bare KVM ioctls. Returns 0 or -1. */
static int one_bare_kvm_vm(void)
{
    int rc = -1, kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC), vm = -1, vcpu = -1, mem = -1;
    void *ram = MAP_FAILED, *run = MAP_FAILED;
    long run_size = kvm < 0 ? -1 : ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
    struct kvm_pit_config pit = {.flags = KVM_PIT_SPEAKER_DUMMY};
    if (run_size <= 0 || (vm = ioctl(kvm, KVM_CREATE_VM, 0)) < 0 ||
        ioctl(vm, KVM_SET_TSS_ADDR, 0xfffbd000UL) < 0 || ioctl(vm, KVM_CREATE_IRQCHIP, 0) < 0 ||
        ioctl(vm, KVM_CREATE_PIT2, &pit) < 0 ||
        (mem = memfd_create("bench-ram", MFD_CLOEXEC)) < 0 ||
        ftruncate(mem, (off_t)CFG_MIN_MEMORY) < 0)
        goto out;
    ram = mmap(NULL, CFG_MIN_MEMORY, PROT_READ | PROT_WRITE, MAP_SHARED, mem, 0);
    struct kvm_userspace_memory_region slot = {.slot = 0,
                                               .guest_phys_addr = 0,
                                               .memory_size = CFG_MIN_MEMORY,
                                               .userspace_addr = (uintptr_t)ram};
    if (ram == MAP_FAILED || ioctl(vm, KVM_SET_USER_MEMORY_REGION, &slot) < 0 ||
        (vcpu = ioctl(vm, KVM_CREATE_VCPU, 0)) < 0)
        goto out;
    run = mmap(NULL, (size_t)run_size, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu, 0);
    rc = run == MAP_FAILED ? -1 : 0;
out:
    if (run != MAP_FAILED)
        munmap(run, (size_t)run_size);
    if (ram != MAP_FAILED)
        munmap(ram, CFG_MIN_MEMORY);
    for (int *fd = (int[]){vcpu, vm, mem, kvm}, i = 0; i < 4; i++)
        if (fd[i] >= 0)
            close(fd[i]);
    if (rc < 0)
        perror("bench_vm_create: bare KVM VM");
    return rc;
}

int main(int argc, char **argv)
{
    if (argc != 4 ||
        (strcmp(argv[1], "create") && strcmp(argv[1], "boot") && strcmp(argv[1], "kvm"))) {
        fprintf(stderr, "usage: bench_vm_create create|boot|kvm KERNEL COUNT\n");
        return 2;
    }
    int boot = strcmp(argv[1], "boot") == 0, bare = strcmp(argv[1], "kvm") == 0;
    unsigned count = (unsigned)strtoul(argv[3], NULL, 0);
    struct vm_config cfg;
    vm_config_init(&cfg);
    cfg.cpus = 1;
    cfg.memory = CFG_MIN_MEMORY;
    cfg.serial = SERIAL_NULL;
    cfg.kernel = argv[2];
    log_set_level(LOG_LVL_WARN);
    struct run r;
    if (uv_loop_init(&r.loop) != 0 || count == 0)
        return 2;
    int rc = 0;
    double t0 = now_s();
    for (unsigned i = 0; i < count && rc == 0; i++)
        rc = bare ? one_bare_kvm_vm() : one_vm(&r, &cfg, boot);
    double dt = now_s() - t0;
    uv_run(&r.loop, UV_RUN_DEFAULT);
    uv_loop_close(&r.loop);
    if (rc == 0)
        printf("%.1f\n", count / dt);
    return rc ? 1 : 0;
}
