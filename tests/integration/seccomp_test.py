#!/usr/bin/env python3
"""seccomp_test.py: cocoon's per-thread seccomp filters under real KVM.

Usage: seccomp_test.py CASE COCOON_BIN GUEST_DIR

  seccomp_filters   every thread type (loop, vcpu) has its filter on: with the
                    COCOON_SECCOMP_SELFTEST hook that thread tries a forbidden system call
                    (getpgrp) and an ioctl request not on its list (KVM_CREATE_VM), and the call is
                    refused as configured: --seccomp true kills with exit 148 and a line naming the
                    call, errno fails it with EPERM, log lets it through; seen from /proc, every
                    thread of a running VM is in seccomp mode 2 (0 with --seccomp false); the
                    process baseline (on from start-up) refuses unshare(0) the same ways; a
                    terminal on stdin is restored at exit under the filters; the
                    allow-lists stay within Firecracker's sizes (vCPU 27, loop = vmm+api 50).
  seccomp_guest_run the existing vsock, blk and net harnesses (vsock_test.py vsock_echo,
                    blknet.py blk_flush_durability and net_tap_exchange) pass with --seccomp true
                    forced, and every cocoon they started reports all its threads filtered.
Exit 0 pass, 1 fail, 77 skipped (no /dev/kvm; net needs root and netns). Python 3 stdlib only.
"""
import os
import re
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import need_kvm  # noqa: E402

SKIP = 77
COCOON = GUESTS = None
FC_LIMITS = {"loop": 50, "vcpu": 27}  # Firecracker: vmm 50, api 31, vcpu 27


class Checks:
    def __init__(self):
        self.failed = 0

    def check(self, name, ok, detail=""):
        print(f"{'PASS' if ok else 'FAIL'} {name}: {detail}", flush=True)
        self.failed += 0 if ok else 1


def hello(args, env_extra=None, timeout=60):
    env = dict(os.environ, **(env_extra or {}))
    cmd = [COCOON, "--kernel", os.path.join(GUESTS, "guest_hello.elf"), "--memory", "size=64M",
           "-v"] + args
    p = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, env=env,
                       timeout=timeout)
    return p.returncode, p.stderr.decode("utf-8", "replace")


def selftests(c):
    for kind in ("loop", "vcpu"):
        for variant, call, trap_txt in (
                ("", "getpgrp", "getpgrp (111)"),
                (":ioctl", "ioctl(KVM_CREATE_VM)", "ioctl (16), request 0xae01")):
            env = {"COCOON_SECCOMP_SELFTEST": kind + variant}
            name = f"{kind}{variant}"
            rc, err = hello(["--seccomp", "true"], env)
            want = f"the {kind} thread made a forbidden system call: {trap_txt}"
            c.check(f"trap_{name}", rc == 148 and want in err,
                    f"exit {rc}, wants 148 and '{want}'" + ("" if want in err else f"; stderr: {err[-300:]}"))
            rc, err = hello(["--seccomp", "errno"], env)
            want = f"seccomp self-test on the {kind} thread: {call} returned -1 (Operation not permitted)"
            c.check(f"errno_{name}", rc == 42 and want in err,
                    f"exit {rc}; " + ("refused with EPERM, guest finished" if want in err else err[-300:]))
            rc, err = hello(["--seccomp", "log"], env)
            m = re.search(rf"seccomp self-test on the {kind} thread: {re.escape(call)} returned (\S+)", err)
            allowed = m and (m.group(1) != "-1" if not variant else "Bad file descriptor" in err)
            c.check(f"log_{name}", rc == 42 and bool(allowed),
                    f"exit {rc}; the call " + ("reached the kernel (logged, not refused)" if allowed
                                               else "was refused: " + err[-300:]))
        # Without a filter the hook never runs (the thread type is not confined at all).
        rc, err = hello(["--seccomp", "false"], {"COCOON_SECCOMP_SELFTEST": kind})
        c.check(f"off_{kind}", rc == 42 and "self-test" not in err, f"exit {rc}")


def baseline_selftest(c):
    """The process baseline (on from start-up, before any allow-list) refuses unshare(0)."""
    env = {"COCOON_SECCOMP_SELFTEST": "baseline"}
    rc, err = hello(["--seccomp", "true"], env)
    want = "the main (set-up) thread made a forbidden system call: unshare (272)"
    c.check("trap_baseline", rc == 148 and want in err, f"exit {rc}; " + (want if want in err else err[-300:]))
    rc, err = hello(["--seccomp", "errno"], env)
    want = "(baseline): unshare returned -1 (Operation not permitted)"
    c.check("errno_baseline", rc == 42 and want in err, f"exit {rc}; " + (want if want in err else err[-300:]))
    rc, err = hello(["--seccomp", "log"], env)
    want = "(baseline): unshare returned 0 (ok)"
    c.check("log_baseline", rc == 42 and want in err, f"exit {rc}; " + (want if want in err else err[-300:]))


def tty_console(c):
    """With a terminal on stdin cocoon puts it in raw mode and restores it at exit, after the
    loop's filter is on (TCGETS/TCSETS must be on the list)."""
    import pty
    master, slave = pty.openpty()
    try:
        cmd = [COCOON, "--kernel", os.path.join(GUESTS, "guest_hello.elf"), "--memory", "size=64M"]
        p = subprocess.run(cmd, stdin=slave, stdout=slave, stderr=subprocess.PIPE, timeout=60)
    finally:
        os.close(slave)
        os.close(master)
    err = p.stderr.decode("utf-8", "replace")
    c.check("tty_console_exit", p.returncode == 42 and "seccomp" not in err,
            f"exit {p.returncode}" + (f"; {err[-300:]}" if err else ""))


def thread_states(pid):
    """{tid: (name, seccomp mode)} of a live process, from /proc."""
    out = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            status = open(f"/proc/{pid}/task/{tid}/status").read()
        except OSError:
            continue
        name = re.search(r"^Name:\s*(.*)$", status, re.M).group(1)
        mode = re.search(r"^Seccomp:\s*(\d+)$", status, re.M).group(1)
        out[tid] = (name, int(mode))
    return out


def proc_view(c, mode, want):
    """Every user thread of a running VM (2 vCPUs, spin guest) is in seccomp mode `want`."""
    cmd = [COCOON, "--kernel", os.path.join(GUESTS, "guest_spin.elf"), "--memory", "size=64M",
           "--cpus", "boot=2", "--seccomp", mode, "-v"]
    with tempfile.TemporaryFile() as log:
        p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=log)
        states = {}
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and p.poll() is None:
            time.sleep(0.2)
            states = thread_states(p.pid)
            log.seek(0)
            text = log.read().decode("utf-8", "replace")
            vcpus = [t for t, (n, _) in states.items() if n.startswith("vcpu")]
            if len(vcpus) == 2 and (mode == "false" or "seccomp: filters on" in text):
                time.sleep(0.3)
                states = thread_states(p.pid)
                break
        p.send_signal(signal.SIGTERM)
        rc = p.wait(timeout=30)
        log.seek(0)
        text = log.read().decode("utf-8", "replace")
    user = {t: v for t, v in states.items() if not v[0].startswith("kvm-")}  # KVM's own workers
    names = sorted(n for n, _ in user.values())
    # loop + 2 vCPUs at least (plus any block I/O threads); libuv's pool is never started
    ok = len(user) >= 3 and all(m == want for _, m in user.values())
    c.check(f"proc_seccomp_{mode}", ok,
            f"{len(user)} threads ({', '.join(names)}) in mode "
            f"{sorted(set(m for _, m in user.values()))}, want {want}; exit {rc}")
    if mode == "true":
        m = re.search(r"filters on \(loop (\d+), vCPU (\d+) system calls\)", text)
        counts = dict(zip(("loop", "vcpu"), map(int, m.groups()))) if m else {}
        c.check("allowlist_sizes", bool(m) and all(counts[k] <= FC_LIMITS[k] for k in counts),
                f"{counts} (limits {FC_LIMITS})")


def case_seccomp_filters():
    need_kvm()
    c = Checks()
    selftests(c)
    baseline_selftest(c)
    tty_console(c)
    proc_view(c, "true", 2)
    proc_view(c, "false", 0)
    return c


def case_seccomp_guest_run():
    need_kvm()
    c = Checks()
    here = os.path.dirname(os.path.abspath(__file__))
    runs = (("vsock_test.py", "vsock_echo"), ("blknet.py", "blk_flush_durability"),
            ("blknet.py", "net_tap_exchange"))
    with tempfile.TemporaryDirectory() as tmp:
        skipped = 0
        for script, case in runs:
            report = os.path.join(tmp, case + ".report")
            wrapper = os.path.join(tmp, case + ".sh")
            with open(wrapper, "w") as f:
                f.write(f"#!/bin/sh\nCOCOON_SECCOMP_REPORT={report} exec {COCOON} \"$@\" --seccomp true\n")
            os.chmod(wrapper, 0o755)
            p = subprocess.run([sys.executable, os.path.join(here, script), case, wrapper, GUESTS],
                               capture_output=True, timeout=600)
            out = p.stdout.decode("utf-8", "replace") + p.stderr.decode("utf-8", "replace")
            if p.returncode == SKIP:
                print(f"SKIP {case}: {out.strip().splitlines()[-1] if out.strip() else ''}")
                skipped += 1
                continue
            c.check(f"{case}_passes", p.returncode == 0,
                    "harness passed under the filters" if p.returncode == 0 else out[-1500:])
            lines = open(report).read().splitlines() if os.path.exists(report) else []
            user = [ln for ln in lines if " kvm-" not in ln]
            ok = bool(user) and all("seccomp=2" in ln for ln in user) and any(" vcpu" in ln for ln in user)
            c.check(f"{case}_filtered", ok, f"{len(user)} threads reported: " + "; ".join(user))
        if skipped == len(runs):
            print("SKIP: no harness could run here")
            sys.exit(SKIP)
    return c


CASES = {"seccomp_filters": case_seccomp_filters, "seccomp_guest_run": case_seccomp_guest_run}


def main():
    global COCOON, GUESTS
    if len(sys.argv) != 4 or sys.argv[1] not in CASES:
        print(__doc__)
        return 2
    COCOON, GUESTS = os.path.abspath(sys.argv[2]), os.path.abspath(sys.argv[3])
    c = CASES[sys.argv[1]]()
    print(f"{sys.argv[1]}: {'PASS' if not c.failed else f'FAIL ({c.failed} failed)'}")
    return 1 if c.failed else 0


if __name__ == "__main__":
    sys.exit(main())
