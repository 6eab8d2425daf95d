/* seccomp.c: compiles and installs the per-thread seccomp allow-lists (see seccomp.h for order). */
#include "vmm/seccomp.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <linux/if_tun.h>
#include <linux/io_uring.h>
#include <linux/seccomp.h>
#include <pthread.h>
#include <seccomp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>

#include "tee/kvm_tee_uapi.h"
#include "vmm/base/log.h"

/* ---- The allow-lists ---- */

#define L (1u << VMM_SECCOMP_LOOP)
#define V (1u << VMM_SECCOMP_VCPU)

/* How a rule restricts the arguments (one libseccomp rule per allowed value). */
enum arg_rule {
    ANY,         /* no condition */
    NO_EXEC,     /* arg 2 (prot) without PROT_EXEC: mmap, mprotect */
    IOCTL_REQ,   /* arg 1 one of the thread type's ioctl requests below */
    FALLOC_MODE, /* arg 1 one of the thread type's fallocate modes below */
    UNIX_SOCKET, /* socket(AF_UNIX, ...) only */
    SELF_TGKILL, /* tgkill on this process only (vCPU kicks, abort) */
    FCNTL_CMD,   /* the fcntl commands below */
    URING_REG,   /* io_uring_register: the set-up opcodes of a disk's ring only */
};

struct sc_rule {
    int nr;
    const char *name;
    unsigned threads;
    enum arg_rule arg;
};

#define R(sys, thr, a)                                                                             \
    {                                                                                              \
        __NR_##sys, #sys, thr, a                                                                   \
    }

/* Every system call a thread type makes after set-up (measured with strace over the integration
 * tests: vsock, blk, net, API with hot-plug, console, reset, SIGTERM, then trimmed by reason). */
static const struct sc_rule rules[] = {
    /* memory: malloc, thread stacks; never executable */
    R(mmap, L | V, NO_EXEC),
    R(mprotect, L | V, NO_EXEC),
    R(munmap, L | V, ANY),
    R(madvise, L | V, ANY),
    R(brk, L | V, ANY),
    R(mremap, L | V, ANY),
    /* locks, time, signals, exit */
    R(futex, L | V, ANY),
    R(sched_yield, L, ANY),
    R(clock_gettime, L | V, ANY),
    R(restart_syscall, L | V, ANY),
    R(rt_sigreturn, L | V, ANY),
    R(rt_sigprocmask, L | V, ANY),
    R(rt_sigpending, L, ANY), /* a stop signal held during a long set-up step (stop_signal.h) */
    R(rt_sigaction, L, ANY),
    R(getpid, L | V, ANY),
    R(gettid, V, ANY),
    R(tgkill, L | V, SELF_TGKILL),
    R(exit, V, ANY),
    R(exit_group, L | V, ANY),
    /* KVM, tap, block-device and terminal ioctls by request number */
    R(ioctl, L | V, IOCTL_REQ),
    /* logging, console, irqfd/eventfd writes */
    R(write, L | V, ANY),
    /* the loop: epoll, sockets (control API, hybrid vsock), tap, eventfds, hot-plugged disks */
    R(epoll_wait, L, ANY),
    R(epoll_pwait, L, ANY),
    R(epoll_ctl, L, ANY),
    R(read, L, ANY),
    R(writev, L, ANY),
    R(recvfrom, L, ANY),
    R(recvmsg, L, ANY),
    R(sendto, L, ANY),
    R(sendmsg, L, ANY),
    R(accept4, L, ANY),
    R(socket, L, UNIX_SOCKET),
    R(connect, L, ANY),
    R(shutdown, L, ANY),
    R(getsockopt, L, ANY),
    R(close, L, ANY),
    R(eventfd2, L, ANY),
    R(openat, L, ANY),
    R(newfstatat, L, ANY),
    R(fstat, L, ANY),
    R(flock, L, ANY),
    R(fcntl, L, FCNTL_CMD),
    R(getdents64, L, ANY),
    R(unlink, L, ANY),
    R(getrandom, L, ANY),
    R(poll, L, ANY), /* the console's last flush at stop waits (bounded) for its reader */
    /* discard probing (loop), TEE page conversions (vCPU) */
    R(fallocate, L | V, FALLOC_MODE),
    /* virtio-blk (devices/blk_backend.c): one io_uring per disk, submitted and reaped on the loop;
     * set-up (and a direct=on image's O_DIRECT alignment) for disks hot-plugged after lockdown */
    R(io_uring_enter, L, ANY),
    R(io_uring_setup, L, ANY),
    R(io_uring_register, L, URING_REG),
    R(statx, L, ANY),
};

/* Sanitizer builds (-DCOCOON_SANITIZE=ON, fuzzers) only: what the ASan/UBSan/LSan runtime itself
 * calls on these threads (alternate signal stacks, LeakSanitizer's stop-the-world tracer at exit,
 * reports). Never part of a release build; not counted in the sizes above. */
#if defined(__SANITIZE_ADDRESS__)
#define SC_SANITIZER_BUILD 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SC_SANITIZER_BUILD 1
#endif
#endif
#ifdef SC_SANITIZER_BUILD
static const struct sc_rule sanitizer_rules[] = {
    R(sigaltstack, L | V, ANY),
    R(gettid, L, ANY),
    /* LeakSanitizer's exit-time tracer: a clone of the loop thread that ptrace-stops the rest */
    R(clone, L, ANY),
    R(ptrace, L, ANY),
    R(wait4, L, ANY),
    R(prctl, L, ANY),
    R(getppid, L, ANY),
    R(open, L, ANY),
    R(lseek, L, ANY),
    R(getdents, L, ANY),
    /* the symbolizer a sanitizer report starts (fork + exec of llvm-symbolizer / addr2line) */
    R(clone, V, ANY),
    R(fork, L | V, ANY),
    R(vfork, L | V, ANY),
    R(execve, L | V, ANY),
    R(wait4, V, ANY),
    R(pipe2, L | V, ANY),
    R(pipe, L | V, ANY),
    R(dup2, L | V, ANY),
    R(close, V, ANY),
    R(read, V, ANY),
};
#else
static const struct sc_rule sanitizer_rules[] = {{-1, "", 0, ANY}};
#endif

/* The process baseline, installed by vmm_seccomp_init on the main thread before any other thread
 * exists (so every thread inherits it): allow by default, refuse what cocoon never does at any
 * point, set-up included — the guard while the control API is served before vm.boot, when the
 * loop's allow-list is not on yet. */
static const int baseline_denied[] = {
    __NR_ptrace,
    __NR_process_vm_readv,
    __NR_process_vm_writev,
    __NR_kexec_load,
    __NR_kexec_file_load,
    __NR_mount,
    __NR_umount2,
    __NR_pivot_root,
    __NR_chroot,
    __NR_unshare,
    __NR_setns,
    __NR_setuid,
    __NR_setgid,
    __NR_setreuid,
    __NR_setregid,
    __NR_setresuid,
    __NR_setresgid,
    __NR_setgroups,
    __NR_init_module,
    __NR_finit_module,
    __NR_delete_module,
    __NR_bpf,
    __NR_perf_event_open,
    __NR_keyctl,
    __NR_add_key,
    __NR_request_key,
    __NR_personality,
    __NR_userfaultfd,
    __NR_acct,
    __NR_swapon,
    __NR_swapoff,
    __NR_reboot,
    __NR_iopl,
    __NR_ioperm,
    __NR_execve,
    __NR_execveat,
    __NR_fork,
    __NR_vfork,
};
/* Sanitizer builds keep ptrace (LeakSanitizer) and fork/exec (the report symbolizer). */
#ifdef SC_SANITIZER_BUILD
#define BASELINE_SKIP(nr)                                                                          \
    ((nr) == __NR_ptrace || (nr) == __NR_execve || (nr) == __NR_fork || (nr) == __NR_vfork)
#else
#define BASELINE_SKIP(nr) 0
#endif

unsigned vmm_seccomp_baseline_count(void)
{
    unsigned n = 1; /* socket: AF_UNIX only */
    for (size_t i = 0; i < sizeof(baseline_denied) / sizeof(baseline_denied[0]); i++)
        n += !BASELINE_SKIP(baseline_denied[i]);
    return n;
}

static const unsigned long loop_ioctls[] = {
    FIONBIO,
    FIONREAD,
    FIOCLEX,
    KVM_IRQ_LINE,
    KVM_IRQFD,
    KVM_IOEVENTFD,
    KVM_SET_GSI_ROUTING,
    TUNGETIFF,
    TUNSETIFF, /* vm.add-net with a tap name after boot (vm_blknet.c -> tap_open_name) */
    TUNSETOFFLOAD,
    TUNSETVNETHDRSZ,
    BLKGETSIZE64,
    TCGETS, /* console input stop: the terminal's settings are restored at exit */
    TCSETS,
};
static const unsigned long vcpu_ioctls[] = {
    KVM_RUN,      KVM_GET_REGS, KVM_SET_REGS,  KVM_GET_VCPU_EVENTS, KVM_SET_VCPU_EVENTS,
    KVM_IRQ_LINE, KVM_IRQFD,    KVM_IOEVENTFD, KVM_SET_GSI_ROUTING, KVM_SET_MEMORY_ATTRIBUTES,
};
static const unsigned long no_values[] = {0};

#define FALLOC_PUNCH (FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE)
static const unsigned long punch_only[] = {FALLOC_PUNCH};
/* blk_backend.c's ring set-up (io-wq limit, files, eventfd, restrictions, enable) and its close
 * (files) */
static const unsigned long uring_reg_ops[] = {
    IORING_REGISTER_FILES,        IORING_UNREGISTER_FILES,      IORING_REGISTER_EVENTFD,
    IORING_REGISTER_RESTRICTIONS, IORING_REGISTER_ENABLE_RINGS, IORING_REGISTER_IOWQ_MAX_WORKERS,
};
static const unsigned long fcntl_cmds[] = {F_GETFL, F_SETFL, F_GETFD, F_SETFD, F_DUPFD_CLOEXEC};

#define N(a) (sizeof(a) / sizeof((a)[0]))

/* The allowed values of an IOCTL_REQ / FALLOC_MODE / FCNTL_CMD rule for thread type t. */
static const unsigned long *rule_values(const struct sc_rule *r, enum vmm_seccomp_thread t,
                                        size_t *n)
{
    switch (r->arg) {
    case IOCTL_REQ:
        *n = t == VMM_SECCOMP_VCPU ? N(vcpu_ioctls) : N(loop_ioctls);
        return t == VMM_SECCOMP_VCPU ? vcpu_ioctls : loop_ioctls;
    case FALLOC_MODE:
        *n = N(punch_only);
        return punch_only;
    case URING_REG:
        *n = N(uring_reg_ops);
        return uring_reg_ops;
    case FCNTL_CMD:
        *n = N(fcntl_cmds);
        return fcntl_cmds;
    default:
        *n = 1;
        return no_values;
    }
}

unsigned vmm_seccomp_syscall_count(enum vmm_seccomp_thread t)
{
    unsigned n = 0;
    for (size_t i = 0; i < N(rules); i++)
        n += (rules[i].threads >> t) & 1;
    return n;
}

unsigned vmm_seccomp_rule_count(enum vmm_seccomp_thread t)
{
    unsigned n = 0;
    for (size_t i = 0; i < N(rules); i++) {
        size_t k;
        if ((rules[i].threads >> t) & 1) {
            rule_values(&rules[i], t, &k);
            n += (unsigned)k;
        }
    }
    return n;
}

const char *vmm_seccomp_thread_name(enum vmm_seccomp_thread t)
{
    static const char *const names[] = {"loop", "vcpu"};
    return t < VMM_SECCOMP_NR_THREADS ? names[t] : "?";
}

/* ---- State ---- */

static enum vmm_seccomp_mode sc_mode = VMM_SECCOMP_OFF;
static struct sock_fprog sc_prog[VMM_SECCOMP_NR_THREADS];
static bool sc_locked;
static _Thread_local const char *sc_thread_kind;

/* Test hook: COCOON_SECCOMP_SELFTEST=<thread>[:ioctl] makes that thread type try a forbidden
 * call (getpgrp, or an ioctl with a request not on its list) right after its filter is on. */
static int selftest_thread = -1;
static bool selftest_ioctl;
static bool selftest_baseline; /* COCOON_SECCOMP_SELFTEST=baseline: unshare(0) at start-up */
/* Test hook: COCOON_SECCOMP_REPORT=<file> appends, once the loop is locked down, one line per
 * thread of the process: "<tid> <name> seccomp=<mode> filters=<n>" from /proc/self/task. */
static const char *report_path;

enum vmm_seccomp_mode vmm_seccomp_mode(void)
{
    return sc_mode;
}

bool vmm_seccomp_locked(void)
{
    return sc_locked;
}

/* ---- The SIGSYS reporter (TRAP mode): async-signal-safe only ---- */

#define SC_NAMES 512
static char sc_names[SC_NAMES][24];

static size_t put_str(char *buf, size_t at, size_t cap, const char *s)
{
    while (*s && at + 1 < cap)
        buf[at++] = *s++;
    return at;
}

static size_t put_num(char *buf, size_t at, size_t cap, unsigned long v, unsigned base)
{
    char tmp[24];
    size_t n = 0;
    do {
        tmp[n++] = "0123456789abcdef"[v % base];
        v /= base;
    } while (v && n < sizeof(tmp));
    while (n && at + 1 < cap)
        buf[at++] = tmp[--n];
    return at;
}

static void on_sigsys(int sig, siginfo_t *info, void *uctx)
{
    char msg[256];
    size_t n = 0;
    int nr = info->si_syscall;
    n = put_str(msg, n, sizeof(msg), "cocoon: seccomp: the ");
    n = put_str(msg, n, sizeof(msg), sc_thread_kind ? sc_thread_kind : "unconfined");
    n = put_str(msg, n, sizeof(msg), " thread made a forbidden system call: ");
    n = put_str(msg, n, sizeof(msg),
                nr >= 0 && nr < SC_NAMES && sc_names[nr][0] ? sc_names[nr] : "?");
    n = put_str(msg, n, sizeof(msg), " (");
    n = put_num(msg, n, sizeof(msg), (unsigned long)nr, 10);
    n = put_str(msg, n, sizeof(msg), ")");
    const ucontext_t *uc = uctx;
    if (nr == __NR_ioctl || nr == __NR_fcntl || nr == __NR_fallocate) {
        n = put_str(msg, n, sizeof(msg), nr == __NR_ioctl ? ", request 0x" : ", argument 0x");
        n = put_num(msg, n, sizeof(msg), (unsigned long)uc->uc_mcontext.gregs[REG_RSI], 16);
    }
    n = put_str(msg, n, sizeof(msg), "; stopping\n");
    ssize_t w = write(STDERR_FILENO, msg, n);
    (void)w;
    _exit(VMM_SECCOMP_EXIT_STATUS);
}

/* ---- Compiling ---- */

static int add_rule(scmp_filter_ctx ctx, const struct sc_rule *r, enum vmm_seccomp_thread t)
{
    size_t n;
    const unsigned long *vals = rule_values(r, t, &n);
    for (size_t i = 0; i < n; i++) {
        int rc;
        switch (r->arg) {
        case ANY:
            rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, r->nr, 0);
            break;
        case NO_EXEC:
            rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, r->nr, 1,
                                  SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0));
            break;
        case UNIX_SOCKET:
            rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, r->nr, 1, SCMP_A0(SCMP_CMP_EQ, AF_UNIX, 0));
            break;
        case SELF_TGKILL:
            rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, r->nr, 1,
                                  SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)getpid(), 0));
            break;
        default: /* a list of values in the low 32 bits of arg 1 */
            rc = seccomp_rule_add(
                ctx, SCMP_ACT_ALLOW, r->nr, 1,
                SCMP_A1(SCMP_CMP_MASKED_EQ, 0xffffffffULL, vals[i] & 0xffffffffUL));
            break;
        }
        if (rc < 0)
            return rc;
    }
    return 0;
}

/* Builds thread type t's filter and exports it as a BPF program (through a memfd: libseccomp
 * 2.5 exports to a file descriptor only). */
/* Exports a built filter as a BPF program (through a memfd: libseccomp 2.5 exports to a file
 * descriptor only). */
static int export_filter(scmp_filter_ctx ctx, const char *name, struct sock_fprog *out, char *err,
                         size_t errlen)
{
    struct stat st;
    int rc = -1;
    int fd = memfd_create("cocoon-seccomp", MFD_CLOEXEC);
    if (fd < 0 || seccomp_export_bpf(ctx, fd) < 0 || fstat(fd, &st) < 0 || st.st_size <= 0 ||
        st.st_size % sizeof(struct sock_filter) ||
        st.st_size / sizeof(struct sock_filter) > 0xffff) {
        snprintf(err, errlen, "seccomp: cannot export the %s filter", name);
        goto out;
    }
    struct sock_filter *insns = malloc((size_t)st.st_size);
    if (!insns || pread(fd, insns, (size_t)st.st_size, 0) != st.st_size) {
        free(insns);
        snprintf(err, errlen, "seccomp: cannot read back the %s filter", name);
        goto out;
    }
    out->len = (unsigned short)(st.st_size / sizeof(struct sock_filter));
    out->filter = insns;
    rc = 0;
out:
    if (fd >= 0)
        close(fd);
    return rc;
}

/* Builds thread type t's allow-list filter. */
static int compile(enum vmm_seccomp_thread t, uint32_t deny, struct sock_fprog *out, char *err,
                   size_t errlen)
{
    scmp_filter_ctx ctx = seccomp_init(deny);
    int rc = -1;
    if (!ctx) {
        snprintf(err, errlen, "seccomp: cannot create a filter");
        return -1;
    }
    for (size_t i = 0; i < N(rules) + N(sanitizer_rules); i++) {
        const struct sc_rule *r = i < N(rules) ? &rules[i] : &sanitizer_rules[i - N(rules)];
        if (((r->threads >> t) & 1) && add_rule(ctx, r, t) < 0) {
            snprintf(err, errlen, "seccomp: cannot add %s to the %s filter", r->name,
                     vmm_seccomp_thread_name(t));
            goto out;
        }
    }
    rc = export_filter(ctx, vmm_seccomp_thread_name(t), out, err, errlen);
out:
    seccomp_release(ctx);
    return rc;
}

/* Builds the process baseline: default allow, the calls above refused with `deny`, and sockets
 * other than AF_UNIX refused (no IP, netlink or packet sockets, ever). */
static int compile_baseline(uint32_t deny, struct sock_fprog *out, char *err, size_t errlen)
{
    scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
    int rc = -1;
    if (!ctx) {
        snprintf(err, errlen, "seccomp: cannot create a filter");
        return -1;
    }
    for (size_t i = 0; i < N(baseline_denied); i++)
        if (!BASELINE_SKIP(baseline_denied[i]) &&
            seccomp_rule_add(ctx, deny, baseline_denied[i], 0) < 0)
            goto out;
    if (seccomp_rule_add(ctx, deny, __NR_socket, 1, SCMP_A0(SCMP_CMP_NE, AF_UNIX, 0)) < 0)
        goto out;
    rc = export_filter(ctx, "baseline", out, err, errlen);
out:
    if (rc < 0 && !err[0])
        snprintf(err, errlen, "seccomp: cannot build the baseline filter");
    seccomp_release(ctx);
    return rc;
}

/* Puts a compiled filter on the calling thread (unblocking SIGSYS, setting no_new_privs). */
static int install_prog(const struct sock_fprog *prog)
{
    sigset_t sys;
    sigemptyset(&sys);
    sigaddset(&sys, SIGSYS); /* a blocked SIGSYS would kill without the message */
    pthread_sigmask(SIG_UNBLOCK, &sys, NULL);
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
        return -1;
    return syscall(__NR_seccomp, SECCOMP_SET_MODE_FILTER, 0, prog) < 0 ? -1 : 0;
}

static void parse_selftest(void)
{
    report_path = getenv("COCOON_SECCOMP_REPORT");
    const char *s = getenv("COCOON_SECCOMP_SELFTEST");
    if (!s)
        return;
    selftest_baseline = strcmp(s, "baseline") == 0;
    for (int t = 0; t < VMM_SECCOMP_NR_THREADS; t++) {
        size_t n = strlen(vmm_seccomp_thread_name(t));
        if (strncmp(s, vmm_seccomp_thread_name(t), n) == 0 && (s[n] == 0 || s[n] == ':')) {
            selftest_thread = t;
            selftest_ioctl = strcmp(s + n, ":ioctl") == 0;
        }
    }
}

int vmm_seccomp_init(enum vmm_seccomp_mode mode, char *err, size_t errlen)
{
    sc_mode = mode;
    if (mode == VMM_SECCOMP_OFF)
        return 0;
    uint32_t deny = mode == VMM_SECCOMP_TRAP  ? SCMP_ACT_TRAP
                    : mode == VMM_SECCOMP_LOG ? SCMP_ACT_LOG
                                              : SCMP_ACT_ERRNO(EPERM);
    for (int t = 0; t < VMM_SECCOMP_NR_THREADS; t++)
        if (compile(t, deny, &sc_prog[t], err, errlen) < 0)
            return -1;
    for (int nr = 0; nr < SC_NAMES; nr++) {
        char *name = seccomp_syscall_resolve_num_arch(SCMP_ARCH_NATIVE, nr);
        if (name) {
            snprintf(sc_names[nr], sizeof(sc_names[nr]), "%s", name);
            free(name);
        }
    }
    if (mode == VMM_SECCOMP_TRAP) {
        struct sigaction sa = {.sa_sigaction = on_sigsys, .sa_flags = SA_SIGINFO};
        sigemptyset(&sa.sa_mask);
        if (sigaction(SIGSYS, &sa, NULL) < 0) {
            snprintf(err, errlen, "seccomp: cannot install the SIGSYS handler: %s",
                     strerror(errno));
            return -1;
        }
    }
    parse_selftest();
    /* The baseline goes on now, on this (main) thread, so every thread created later has it. */
    struct sock_fprog baseline;
    err[0] = 0;
    if (compile_baseline(deny, &baseline, err, errlen) < 0)
        return -1;
    int rc = install_prog(&baseline);
    free(baseline.filter);
    if (rc < 0) {
        snprintf(err, errlen, "seccomp: cannot install the baseline filter: %s", strerror(errno));
        return -1;
    }
    sc_thread_kind = "main (set-up)";
    if (selftest_baseline) {
        long r = syscall(__NR_unshare, 0);
        log_warn("seccomp self-test on the main thread (baseline): unshare returned %ld (%s)", r,
                 r < 0 ? strerror(errno) : "ok");
    }
    return 0;
}

/* ---- Installing ---- */

static void run_selftest(enum vmm_seccomp_thread t)
{
    long r = selftest_ioctl ? syscall(__NR_ioctl, -1, (unsigned long)KVM_CREATE_VM, 0)
                            : syscall(__NR_getpgrp);
    log_warn("seccomp self-test on the %s thread: %s returned %ld (%s)", vmm_seccomp_thread_name(t),
             selftest_ioctl ? "ioctl(KVM_CREATE_VM)" : "getpgrp", r,
             r < 0 ? strerror(errno) : "ok");
}

int vmm_seccomp_install(enum vmm_seccomp_thread t, char *err, size_t errlen)
{
    if (sc_mode == VMM_SECCOMP_OFF || t >= VMM_SECCOMP_NR_THREADS)
        return 0;
    if (install_prog(&sc_prog[t]) < 0) {
        snprintf(err, errlen, "seccomp: cannot install the %s filter: %s",
                 vmm_seccomp_thread_name(t), strerror(errno));
        return -1;
    }
    sc_thread_kind = vmm_seccomp_thread_name(t);
    if (selftest_thread == (int)t)
        run_selftest(t);
    return 0;
}

/* libuv's thread pool is never started: cocoon queues no work to it (no uv_queue_work, no uv_fs_*
 * or uv_getaddrinfo calls), so there are no pool threads to confine, and a pool started after the
 * lockdown would die on the loop's filter (clone is not on it) instead of running unconfined. */

/* Copies one "Key:\tvalue" field of a /proc status file (or "?"). */
static void status_field(const char *status, const char *key, char *out, size_t cap)
{
    const char *p = strstr(status, key);
    snprintf(out, cap, "?");
    if (p) {
        p += strlen(key);
        while (*p == '\t' || *p == ' ')
            p++;
        size_t n = strcspn(p, "\n");
        snprintf(out, cap, "%.*s", (int)(n < cap ? n : cap - 1), p);
    }
}

/* Runs on the loop thread after lockdown, so it uses only calls on the loop's list. */
static void write_report(void)
{
    int out = open(report_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
    DIR *d = opendir("/proc/self/task");
    for (struct dirent *e; out >= 0 && d && (e = readdir(d));) {
        if (e->d_name[0] == '.')
            continue;
        char path[320], status[4096], name[32], mode[8], filters[8];
        snprintf(path, sizeof(path), "/proc/self/task/%s/status", e->d_name);
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        ssize_t n = fd >= 0 ? read(fd, status, sizeof(status) - 1) : -1;
        if (fd >= 0)
            close(fd);
        status[n > 0 ? n : 0] = 0;
        status_field(status, "Name:", name, sizeof(name));
        status_field(status, "Seccomp:", mode, sizeof(mode));
        status_field(status, "Seccomp_filters:", filters, sizeof(filters));
        char line[400];
        int len = snprintf(line, sizeof(line), "%s %s seccomp=%s filters=%s\n", e->d_name, name,
                           mode, filters);
        if (len > 0 && write(out, line, (size_t)len) < 0)
            break;
    }
    if (d)
        closedir(d);
    if (out >= 0)
        close(out);
}

int vmm_seccomp_lockdown(uv_loop_t *loop, char *err, size_t errlen)
{
    if (sc_mode == VMM_SECCOMP_OFF || sc_locked)
        return 0;
    if (vmm_seccomp_install(VMM_SECCOMP_LOOP, err, errlen) < 0)
        return -1;
    sc_locked = true;
    log_info("seccomp: filters on (loop %u, vCPU %u system calls)",
             vmm_seccomp_syscall_count(VMM_SECCOMP_LOOP),
             vmm_seccomp_syscall_count(VMM_SECCOMP_VCPU));
    if (report_path)
        write_report();
    return 0;
}
