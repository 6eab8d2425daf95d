/* kvm_floor.c: benchmark floor: what bare KVM charges, without cocoon, for what grows with a VM's
 * size (its RAM slot, its vCPUs), to attribute how start-up grows along the cost curves.
 *
 * usage: bench_kvm_floor memslot SIZE_MIB
 *          creates a VM, maps an untouched SIZE_MIB memfd (MAP_SHARED | MAP_NORESERVE, as cocoon
 *          maps guest RAM), times KVM_SET_USER_MEMORY_REGION of it as one slot, then times
 *          closing the VM (KVM frees the slot's metadata there)
 *        bench_kvm_floor vcpus N
 *          creates a VM with the in-kernel irqchip, then times creating N vCPUs (KVM_CREATE_VCPU
 *          and the mapping of each one's kvm_run), then times closing them and the VM
 * Output: one line, "<ms for the set-up step> <ms to close the VM>".
 */
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "tools/bench/bench_clock.h"

#define MAX_VCPUS 254

static double now_ms(void)
{
    return bench_now_ns() / 1e6;
}

static int fail(const char *what)
{
    perror(what);
    return 1;
}

static int memslot(int vm, uint64_t mib)
{
    uint64_t size = mib << 20;
    int mem = memfd_create("bench-memslot", MFD_CLOEXEC);
    if (size == 0 || mem < 0 || ftruncate(mem, (off_t)size) < 0)
        return fail("bench_kvm_floor: memfd");
    void *ram = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE, mem, 0);
    if (ram == MAP_FAILED)
        return fail("bench_kvm_floor: mmap");
    struct kvm_userspace_memory_region slot = {
        .slot = 0, .guest_phys_addr = 0, .memory_size = size, .userspace_addr = (uintptr_t)ram};
    double t0 = now_ms();
    if (ioctl(vm, KVM_SET_USER_MEMORY_REGION, &slot) < 0)
        return fail("bench_kvm_floor: KVM_SET_USER_MEMORY_REGION");
    double t1 = now_ms();
    close(vm);
    double t2 = now_ms();
    munmap(ram, size);
    close(mem);
    printf("%.2f %.2f\n", t1 - t0, t2 - t1);
    return 0;
}

static int vcpus(int kvm, int vm, unsigned n)
{
    static int fd[MAX_VCPUS];
    static void *run[MAX_VCPUS];
    long run_size = ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
    if (n == 0 || n > MAX_VCPUS || run_size <= 0 || ioctl(vm, KVM_CREATE_IRQCHIP, 0) < 0)
        return fail("bench_kvm_floor: vCPU set-up");
    double t0 = now_ms();
    for (unsigned i = 0; i < n; i++) {
        fd[i] = ioctl(vm, KVM_CREATE_VCPU, (unsigned long)i);
        if (fd[i] < 0)
            return fail("bench_kvm_floor: KVM_CREATE_VCPU");
        run[i] = mmap(NULL, (size_t)run_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd[i], 0);
        if (run[i] == MAP_FAILED)
            return fail("bench_kvm_floor: mmap kvm_run");
    }
    double t1 = now_ms();
    for (unsigned i = 0; i < n; i++) {
        munmap(run[i], (size_t)run_size);
        close(fd[i]);
    }
    close(vm);
    double t2 = now_ms();
    printf("%.2f %.2f\n", t1 - t0, t2 - t1);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc != 3 || (strcmp(argv[1], "memslot") && strcmp(argv[1], "vcpus"))) {
        fprintf(stderr, "usage: bench_kvm_floor memslot SIZE_MIB | vcpus N\n");
        return 2;
    }
    unsigned long long v = strtoull(argv[2], NULL, 0);
    int kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
    int vm = kvm < 0 ? -1 : ioctl(kvm, KVM_CREATE_VM, 0);
    if (vm < 0)
        return fail("bench_kvm_floor: /dev/kvm, KVM_CREATE_VM");
    int rc = strcmp(argv[1], "memslot") == 0 ? memslot(vm, v) : vcpus(kvm, vm, (unsigned)v);
    close(kvm);
    return rc;
}
