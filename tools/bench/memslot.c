/* memslot.c: benchmark floor: what bare KVM charges to register (and to tear down) guest RAM of a
 * given size, without cocoon, to attribute how start-up grows with guest RAM.
 *
 * usage: bench_memslot SIZE_MIB
 *   Opens /dev/kvm, creates a VM, maps a SIZE_MIB memfd (MAP_SHARED | MAP_NORESERVE, untouched,
 *   as cocoon maps guest RAM), times KVM_SET_USER_MEMORY_REGION of it as one slot, then times
 *   closing the VM (KVM frees the slot's metadata there).
 * Output: one line, "<ms to register the slot> <ms to close the VM>".
 */
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: bench_memslot SIZE_MIB\n");
        return 2;
    }
    uint64_t size = strtoull(argv[1], NULL, 0) << 20;
    int kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
    int vm = kvm < 0 ? -1 : ioctl(kvm, KVM_CREATE_VM, 0);
    int mem = memfd_create("bench-memslot", MFD_CLOEXEC);
    if (size == 0 || vm < 0 || mem < 0 || ftruncate(mem, (off_t)size) < 0) {
        perror("bench_memslot: set-up");
        return 1;
    }
    void *ram = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE, mem, 0);
    if (ram == MAP_FAILED) {
        perror("bench_memslot: mmap");
        return 1;
    }
    struct kvm_userspace_memory_region slot = {
        .slot = 0, .guest_phys_addr = 0, .memory_size = size, .userspace_addr = (uintptr_t)ram};
    double t0 = now_ms();
    if (ioctl(vm, KVM_SET_USER_MEMORY_REGION, &slot) < 0) {
        perror("bench_memslot: KVM_SET_USER_MEMORY_REGION");
        return 1;
    }
    double t1 = now_ms();
    close(vm);
    double t2 = now_ms();
    munmap(ram, size);
    close(mem);
    close(kvm);
    printf("%.2f %.2f\n", t1 - t0, t2 - t1);
    return 0;
}
