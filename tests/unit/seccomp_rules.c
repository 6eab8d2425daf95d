/* seccomp_rules.c: each thread type's filter (errno mode, in a forked child) lets the allowed
 * argument values through and refuses altered ones, as Firecracker's test_seccomp_validate; the
 * process baseline refuses what cocoon never calls. */
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "vmm/seccomp.h"

/* Child-side bookkeeping: a failed expectation is printed and counted (cmocka is the parent's). */
static int child_failures;

/* Calls a raw system call and reports whether the filter refused it (EPERM from errno mode);
 * the arguments are chosen so that an allowed call fails harmlessly (bad fd) or succeeds. */
static void expect(const char *what, long rc, bool refused)
{
    bool was_refused = rc < 0 && errno == EPERM;
    if (was_refused != refused) {
        fprintf(stderr, "  %s: %s, expected %s\n", what, was_refused ? "refused" : "allowed",
                refused ? "refused" : "allowed");
        child_failures++;
    }
}

static void memory_rules(void)
{
    void *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    expect("mmap rw", p == MAP_FAILED ? -1 : 0, false);
    void *x = mmap(NULL, 4096, PROT_READ | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    expect("mmap exec", x == MAP_FAILED ? -1 : 0, true);
    if (p != MAP_FAILED) {
        expect("mprotect read", mprotect(p, 4096, PROT_READ), false);
        expect("mprotect exec", mprotect(p, 4096, PROT_READ | PROT_EXEC), true);
        expect("munmap", munmap(p, 4096), false);
    }
}

static void vcpu_rules(void)
{
    expect("ioctl KVM_RUN", syscall(SYS_ioctl, -1, KVM_RUN, 0), false);
    expect("ioctl KVM_GET_REGS", syscall(SYS_ioctl, -1, KVM_GET_REGS, 0), false);
    expect("ioctl KVM_IRQ_LINE", syscall(SYS_ioctl, -1, KVM_IRQ_LINE, 0), false);
    expect("ioctl KVM_CREATE_VM", syscall(SYS_ioctl, -1, KVM_CREATE_VM, 0), true);
    expect("ioctl KVM_SET_SREGS", syscall(SYS_ioctl, -1, KVM_SET_SREGS, 0), true);
    expect("ioctl TUNSETIFF-ish FIONBIO", syscall(SYS_ioctl, -1, FIONBIO, 0), true);
    expect("fallocate punch", syscall(SYS_fallocate, -1, 3, 0, 4096), false);
    expect("fallocate zero", syscall(SYS_fallocate, -1, 0x11, 0, 4096), true);
    expect("tgkill self", syscall(SYS_tgkill, getpid(), 0x7fffffff, 0), false);
    expect("tgkill other", syscall(SYS_tgkill, 1, 1, 0), true);
    expect("socket", syscall(SYS_socket, AF_UNIX, SOCK_STREAM, 0), true);
    expect("openat", syscall(SYS_openat, AT_FDCWD, "/nonexistent", O_RDONLY), true);
    expect("dup", syscall(SYS_dup, -1), true);
    memory_rules();
}

static void loop_rules(void)
{
    expect("ioctl FIONBIO", syscall(SYS_ioctl, -1, FIONBIO, 0), false);
    expect("ioctl KVM_IRQFD", syscall(SYS_ioctl, -1, KVM_IRQFD, 0), false);
    expect("ioctl KVM_RUN", syscall(SYS_ioctl, -1, KVM_RUN, 0), true);
    expect("ioctl KVM_CREATE_VM", syscall(SYS_ioctl, -1, KVM_CREATE_VM, 0), true);
    long fd = syscall(SYS_socket, AF_UNIX, SOCK_STREAM, 0);
    expect("socket unix", fd, false);
    if (fd >= 0)
        close((int)fd);
    expect("socket inet", syscall(SYS_socket, AF_INET, SOCK_STREAM, 0), true);
    expect("fcntl getfl", syscall(SYS_fcntl, -1, F_GETFL), false);
    expect("fcntl dupfd_cloexec", syscall(SYS_fcntl, -1, F_DUPFD_CLOEXEC, 3), false);
    expect("fcntl setown", syscall(SYS_fcntl, -1, F_SETOWN, 1), true);
    expect("fallocate punch", syscall(SYS_fallocate, -1, 3, 0, 4096), false);
    expect("fallocate plain", syscall(SYS_fallocate, -1, 0, 0, 4096), true);
    expect("tgkill other", syscall(SYS_tgkill, 1, 1, 0), true);
    expect("openat", syscall(SYS_openat, AT_FDCWD, "/nonexistent", O_RDONLY), false);
    expect("execveat", syscall(SYS_execveat, -1, "", NULL, NULL, 0), true);
    expect("preadv", syscall(SYS_preadv, -1, NULL, 0, 0, 0), true);
    /* virtio-blk's rings: enter, and register with the set-up/close opcodes only */
    expect("io_uring_enter", syscall(SYS_io_uring_enter, -1, 0, 0, 0, NULL, 0), false);
    expect("io_uring_register files", syscall(SYS_io_uring_register, -1, 2, NULL, 0), false);
    expect("io_uring_register enable", syscall(SYS_io_uring_register, -1, 12, NULL, 0), false);
    expect("io_uring_register buffers", syscall(SYS_io_uring_register, -1, 0, NULL, 0), true);
    expect("io_uring_register personality", syscall(SYS_io_uring_register, -1, 9, NULL, 0), true);
    memory_rules();
}

/* The process baseline alone (what every thread has from start-up): default allow, the never-used
 * calls and non-Unix sockets refused. */
static void baseline_rules(void)
{
    expect("getpgrp", syscall(SYS_getpgrp), false);
    expect("unshare", syscall(SYS_unshare, 0), true);
    expect("setuid", syscall(SYS_setuid, 0), true);
    expect("mount", syscall(SYS_mount, "none", "/nonexistent", "tmpfs", 0, NULL), true);
    expect("bpf", syscall(SYS_bpf, 0, NULL, 0), true);
    expect("socket inet", syscall(SYS_socket, AF_INET, SOCK_STREAM, 0), true);
    expect("socket netlink", syscall(SYS_socket, AF_NETLINK, SOCK_RAW, 0), true);
    long fd = syscall(SYS_socket, AF_UNIX, SOCK_STREAM, 0);
    expect("socket unix", fd, false);
    if (fd >= 0)
        close((int)fd);
    expect("execveat", syscall(SYS_execveat, -1, "", NULL, NULL, 0), true);
}

/* Runs one thread type's checks in a child that installs that filter (errno mode). */
static void check_thread(enum vmm_seccomp_thread t, void (*checks)(void))
{
    fflush(stderr);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        char err[160];
        if (vmm_seccomp_init(VMM_SECCOMP_ERRNO, err, sizeof(err)) < 0 ||
            vmm_seccomp_install(t, err, sizeof(err)) < 0) {
            fprintf(stderr, "%s\n", err);
            _exit(100);
        }
        checks();
        _exit(child_failures > 99 ? 99 : child_failures);
    }
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    if (WEXITSTATUS(status))
        fail_msg("%s filter: %d rule check(s) failed (see above)",
                 t < VMM_SECCOMP_NR_THREADS ? vmm_seccomp_thread_name(t) : "baseline",
                 WEXITSTATUS(status));
}

static void process_baseline_rules(void **state)
{
    check_thread(VMM_SECCOMP_NR_THREADS, baseline_rules); /* no thread list: the baseline only */
}

static void vcpu_filter_rules(void **state)
{
    check_thread(VMM_SECCOMP_VCPU, vcpu_rules);
}

static void loop_filter_rules(void **state)
{
    check_thread(VMM_SECCOMP_LOOP, loop_rules);
}

/* At or below Firecracker's per-thread sizes (vcpu 27; vmm 50 for the loop, which also serves the
 * API that Firecracker keeps on its own 31-call thread). */
static void allowlist_sizes(void **state)
{
    assert_true(vmm_seccomp_syscall_count(VMM_SECCOMP_VCPU) <= 27);
    assert_true(vmm_seccomp_syscall_count(VMM_SECCOMP_LOOP) <= 50);
    for (int t = 0; t < VMM_SECCOMP_NR_THREADS; t++)
        assert_true(vmm_seccomp_rule_count(t) >= vmm_seccomp_syscall_count(t));
    assert_int_equal(vmm_seccomp_mode(), VMM_SECCOMP_OFF); /* library default: unit tests free */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(allowlist_sizes),
        cmocka_unit_test(process_baseline_rules),
        cmocka_unit_test(vcpu_filter_rules),
        cmocka_unit_test(loop_filter_rules),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
