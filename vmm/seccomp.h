/* seccomp.h: per-thread seccomp allow-lists (libseccomp) for the loop and vCPU threads.
 *
 * Filters are per thread (no TSYNC) and a thread inherits its creator's filter, so the order is:
 *   1. main(): vmm_seccomp_init(mode) compiles the two filters and installs the process
 *      baseline deny-list on the main thread, before any thread exists (all threads inherit it);
 *   2. each vCPU thread installs the vCPU filter itself, first thing, before its first KVM_RUN;
 *   3. once the VM has booted, vmm_seccomp_lockdown() installs the loop filter on the calling
 *      (loop) thread. No other thread exists: block I/O runs on io_uring from the loop, and
 *      libuv's thread pool is never started (cocoon queues no work to it). Threads created after
 *      that would inherit the loop filter (and clone is not on it): a second VM in the same process
 * is refused instead. The library default is VMM_SECCOMP_OFF (unit tests run unconfined); the
 * cocoon binary turns it on unless --seccomp false. */
#ifndef COCOON_VMM_SECCOMP_H
#define COCOON_VMM_SECCOMP_H

#include <stdbool.h>
#include <stddef.h>
#include <uv.h>

enum vmm_seccomp_mode {
    VMM_SECCOMP_OFF = 0, /* --seccomp false */
    VMM_SECCOMP_TRAP,    /* --seccomp true: SIGSYS, one line naming the call, exit status 148 */
    VMM_SECCOMP_LOG,     /* --seccomp log: allowed, and the kernel logs it (dmesg / audit) */
    VMM_SECCOMP_ERRNO,   /* --seccomp errno: the call fails with EPERM (debugging) */
};

enum vmm_seccomp_thread {
    VMM_SECCOMP_LOOP = 0, /* the libuv loop thread: devices' back ends, control API, vsock */
    VMM_SECCOMP_VCPU,     /* KVM_RUN and the PIO/MMIO exits it dispatches */
    VMM_SECCOMP_NR_THREADS
};

/* Exit status of a process stopped by a trapped system call (as Firecracker's). */
#define VMM_SECCOMP_EXIT_STATUS 148

/* Sets the process-wide mode and compiles every thread type's filter (and, for TRAP, installs
 * the SIGSYS reporter). Call once from the main thread before any other thread is created.
 * Returns 0, or -1 with one line in err. */
int vmm_seccomp_init(enum vmm_seccomp_mode mode, char *err, size_t errlen);

/* The mode set by vmm_seccomp_init (VMM_SECCOMP_OFF before). */
enum vmm_seccomp_mode vmm_seccomp_mode(void);

/* Installs the filter of thread type t on the calling thread (no-op when off). Returns 0 or -1
 * with err set; the caller must not go on running guest-facing code after -1. */
int vmm_seccomp_install(enum vmm_seccomp_thread t, char *err, size_t errlen);

/* After set-up (the VM booted): confines the calling loop thread. Idempotent; no-op when off.
 * Returns 0 or -1 + err. */
int vmm_seccomp_lockdown(uv_loop_t *loop, char *err, size_t errlen);

/* Whether vmm_seccomp_lockdown has confined the loop thread (no new VM can be created then). */
bool vmm_seccomp_locked(void);

/* Distinct system calls and rules (one per allowed argument value) on thread type t's list. */
unsigned vmm_seccomp_syscall_count(enum vmm_seccomp_thread t);
unsigned vmm_seccomp_rule_count(enum vmm_seccomp_thread t);

/* Calls the process baseline refuses on every thread from vmm_seccomp_init on (default-allow
 * filter: exec, fork, ptrace, mount/namespaces, uid changes, modules, bpf, perf, keys, reboot,
 * ...; sockets other than AF_UNIX). It guards the set-up phase, including a control API served
 * before vm.boot, until the per-thread allow-lists go on. */
unsigned vmm_seccomp_baseline_count(void);

/* "loop", "vcpu". */
const char *vmm_seccomp_thread_name(enum vmm_seccomp_thread t);

#endif
