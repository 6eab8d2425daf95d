#!/usr/bin/env python3
"""vmm_guest_test.py: boots test guests with cocoon under real KVM and checks console, log, status.

usage: vmm_guest_test.py CASE COCOON GUEST_DIR
CASE is one of vmm_hello, vmm_smp, vmm_boot_timer, vmm_sigterm, vmm_reset, vmm_console_input,
cli_errors.
Exits 0 on success, 1 on failure, 77 (skip) when /dev/kvm is missing.
"""
import os
import re
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import fail, need_kvm, sanitizer_report  # noqa: E402

COCOON = ""
GUESTS = ""


def guest(name):
    return os.path.join(GUESTS, "guest_%s.elf" % name)


def run(args, timeout=120):
    p = subprocess.run([COCOON] + args, capture_output=True, text=True, timeout=timeout)
    return p.returncode, p.stdout, p.stderr


def check_sanitizers(err):
    if sanitizer_report(err):
        fail("sanitizer report in stderr:\n" + err)


def expect(rc, want, out, err, what):
    check_sanitizers(err)
    if rc != want:
        fail("%s: exit status %d, want %d\nstdout:\n%s\nstderr:\n%s" % (what, rc, want, out, err))


def case_vmm_hello():
    need_kvm()
    rc, out, err = run(["--kernel", guest("hello"), "--cmdline", "status=42",
                        "--memory", "size=64M", "--serial", "tty"])
    expect(rc, 42, out, err, "hello on tty")
    if "hello from the cocoon test guest" not in out or "cmdline: 'status=42'" not in out:
        fail("greeting or command line missing from the console:\n" + out)
    # The guest chooses its status; a different choice gives a different exit status.
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "console.txt")
        rc, out, err = run(["--kernel", guest("hello"), "--cmdline", "status=9",
                            "--memory", "size=64M", "--serial", "file=" + path])
        expect(rc, 9, out, err, "hello with --serial file=")
        text = open(path).read()
        if "hello from the cocoon test guest" not in text or out:
            fail("--serial file= did not receive the console (file %r, stdout %r)" % (text, out))
    rc, out, err = run(["--kernel", guest("hello"), "--cmdline", "status=0",
                        "--memory", "size=64M", "--serial", "off"])
    expect(rc, 0, out, err, "hello with --serial off")
    if out:
        fail("--serial off still printed: %r" % out)
    print("PASS: hello guest printed through the UART and exited with the status it chose")


def case_vmm_smp():
    need_kvm()
    rc, out, err = run(["--kernel", guest("smp"), "--cpus", "boot=4", "--memory", "size=64M"])
    expect(rc, 4, out, err, "smp guest")
    ids = sorted(set(int(m) for m in re.findall(r"cpu report: apic (\d+) up", out)))
    if ids != [0, 1, 2, 3] or "MP table lists 4 CPU(s)" not in out:
        fail("not every vCPU reported in (apic ids %s):\n%s" % (ids, out))
    print("PASS: 4 vCPUs found in the MP table, started with INIT-SIPI, all reported in")


def case_vmm_boot_timer():
    need_kvm()
    rc, out, err = run(["-v", "--kernel", guest("boot_timer"), "--memory", "size=64M"])
    expect(rc, 0, out, err, "boot-timer guest")
    marks = re.findall(r"boot-timer: code 0x([0-9a-f]{2}) at ([0-9.]+) s", err)
    codes = [int(c, 16) for c, _ in marks]
    times = [float(t) for _, t in marks]
    if codes != [1, 2, 3]:
        fail("boot-timer codes %s, want [1, 2, 3]\nstderr:\n%s" % (codes, err))
    if times != sorted(times) or times[0] <= 0:
        fail("boot-timer timestamps are not increasing: %s" % times)
    print("PASS: boot-timer port logged codes 1, 2, 3 at %s s" % times)


def read_until(p, text, timeout):
    """Reads p's stdout until text appears; returns what was read."""
    buf = b""
    deadline = time.monotonic() + timeout
    fd = p.stdout.fileno()
    while text.encode() not in buf:
        left = deadline - time.monotonic()
        if left <= 0 or p.poll() is not None:
            fail("guest did not print %r (got %r)" % (text, buf))
        r, _, _ = select.select([fd], [], [], left)
        if r:
            chunk = os.read(fd, 4096)
            if not chunk and p.poll() is not None:
                break
            buf += chunk
    return buf


def stop_with(sig, want):
    p = subprocess.Popen([COCOON, "-vv", "--kernel", guest("spin"), "--cpus", "boot=2",
                          "--memory", "size=64M"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        read_until(p, "spin guest ready", 60)
        time.sleep(0.3)  # the guest is now spinning in ring 3
        p.send_signal(sig)
        _, err = p.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        p.kill()
        fail("cocoon did not exit within 20 s of signal %d" % sig)
    err = err.decode(errors="replace")
    expect(p.returncode, want, "", err, "signal %d" % sig)
    if "1 thread(s) left" not in err:
        fail("threads were left behind after signal %d:\n%s" % (sig, err))


def case_vmm_sigterm():
    need_kvm()
    stop_with(signal.SIGTERM, 128 + signal.SIGTERM)
    stop_with(signal.SIGINT, 128 + signal.SIGINT)
    print("PASS: SIGTERM/SIGINT stop a running guest cleanly (status 143/130, vCPU threads joined)")


def case_vmm_reset():
    need_kvm()
    rc, out, err = run(["-v", "--kernel", guest("reset"), "--cmdline", "mode=0",
                        "--memory", "size=64M"])
    expect(rc, 3, out, err, "i8042 reset")
    if "i8042 reset" not in err:
        fail("i8042 reset not logged:\n" + err)
    rc, out, err = run(["-v", "--kernel", guest("reset"), "--cmdline", "mode=1",
                        "--memory", "size=64M"])
    expect(rc, 3, out, err, "triple fault")
    if "triple fault" not in err:
        fail("triple fault not logged:\n" + err)
    print("PASS: i8042 pulse and triple fault both end the VMM with the reset status (3)")


def case_vmm_console_input():
    need_kvm()
    p = subprocess.Popen([COCOON, "--kernel", guest("echo"), "--memory", "size=64M"],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        read_until(p, "echo guest ready", 60)
        p.stdin.write(b"ping pong\n")
        p.stdin.flush()
        out, err = p.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        p.kill()
        fail("echo guest did not answer within 60 s")
    out, err = out.decode(errors="replace"), err.decode(errors="replace")
    expect(p.returncode, 9, out, err, "console input")
    if "got: ping pong" not in out:
        fail("guest did not echo the line typed on stdin:\n" + out)
    print("PASS: stdin reached the guest through the 16550 receive path")


def one_line_error(args, want, env_prefix=None):
    cmd = (env_prefix or []) + [COCOON] + args
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    lines = p.stderr.strip().splitlines()
    check_sanitizers(p.stderr)
    if p.returncode != 1 or len(lines) != 1 or not lines[0].startswith("cocoon: ") or p.stdout:
        fail("%s: want one 'cocoon:' line and status 1, got status %d, stdout %r, stderr %r" %
             (args, p.returncode, p.stdout, p.stderr))
    if want not in lines[0]:
        fail("%s: error %r does not mention %r" % (args, lines[0], want))


def case_cli_errors():
    hello = guest("hello")
    with tempfile.TemporaryDirectory() as d:
        text = os.path.join(d, "text")
        with open(text, "w") as f:
            f.write("not a kernel\n" * 100)
        big = os.path.join(d, "big")
        with open(big, "wb") as f:
            f.truncate(40 << 20)
        empty = os.path.join(d, "empty")
        open(empty, "wb").close()
        cases = [
            ([], "--kernel or --firmware is required"),
            (["--kernel", "/nonexistent/vmlinux"], "cannot open kernel"),
            (["--firmware", text], "multiple of 4 KiB"),
            (["--firmware", big], "at most 16 MiB"),
            (["--firmware", d], "not a regular file"),
            (["--kernel", d], "not a regular file"),
            (["--kernel", text], "neither a bzImage nor an ELF"),
            (["--kernel", COCOON], "ELF"),
            (["--kernel", hello, "--initramfs", "/nonexistent/initrd"], "cannot open initramfs"),
            (["--kernel", big, "--memory", "size=16M"], "do not fit in guest memory"),
            (["--kernel", hello, "--initramfs", big, "--memory", "size=32M"], "do not fit"),
            (["--kernel", hello, "--memory", "size=abc"], "not a size"),
            (["--kernel", hello, "--memory", "size=12Q"], "not a size"),
            (["--kernel", hello, "--memory", "size="], "size= needs a value"),
            (["--kernel", hello, "--memory", "size=99999999999999999999G"], "not a size"),
            (["--kernel", hello, "--memory", "size=1M"], "out of range"),
            (["--kernel", hello, "--memory", "size=4T"], "out of range"),
            (["--kernel", hello, "--memory", "bogus=1"], "unknown option"),
            (["--kernel", hello, "--cpus", "boot=0"], "out of range"),
            (["--kernel", hello, "--cpus", "boot=255"], "out of range"),
            (["--kernel", hello, "--cpus", "boot=100000000000"], "not a vCPU count"),
            (["--kernel", hello, "--cpus", "boot=-1"], "not a vCPU count"),
            (["--kernel", hello, "--cpus", "boot=two"], "not a vCPU count"),
            (["--kernel", hello, "--serial", "bogus"], "--serial"),
            (["--kernel", hello, "--serial", "file="], "--serial"),
            (["--kernel", hello, "--bogus"], "unknown option"),
            (["--kernel", hello, "stray"], "unexpected argument"),
            (["--kernel"], "needs a value"),
            (["--kernel", hello, "--net", "tap=t0,fd=3"], "exactly one"),
            (["--kernel", hello, "--disk", "readonly=on"], "path= is required"),
            (["--kernel", hello, "--platform", "tee=sev"], "tee"),
            (["--kernel", hello, "--vsock", "cid=2,socket=/tmp/v"], "cid"),
            (["--kernel", hello, "--seccomp", "maybe"], "--seccomp"),
            # One number rule (decimal, no leading zero), and errors that name what is wrong.
            (["--kernel", hello, "--cpus", "boot=010"], "not a vCPU count (decimal"),
            (["--kernel", hello, "--memory", "size=0x1000000"], "not a size (decimal"),
            (["--kernel", hello, "--disk", "path="], "--disk: path= needs a value"),
            (["--kernel", hello, "--net", "fd=99"], "fd 99: not an open file descriptor"),
            (["--kernel", hello, "--net", "fd=0"], "net 0: fd 0"),
            (["--kernel", hello, "--initramfs", empty], "initramfs '%s' is empty" % empty),
        ]
        for args, want in cases:
            one_line_error(args, want)
        # A host without a usable /dev/kvm (needs root for a private mount namespace).
        unshare = shutil.which("unshare")
        if os.geteuid() == 0 and unshare and os.path.exists("/dev/kvm"):
            ns = [unshare, "--mount", "--propagation", "private", "sh", "-c",
                  'mount --bind /dev/null /dev/kvm && exec "$0" "$@"']
            one_line_error(["--kernel", hello, "--memory", "size=64M"], "not a usable KVM", ns)
            ns = [unshare, "--mount", "--propagation", "private", "sh", "-c",
                  'mount -t tmpfs none /dev && exec "$0" "$@"']
            one_line_error(["--kernel", hello, "--memory", "size=64M"], "cannot open /dev/kvm", ns)
            extra = " and 2 /dev/kvm cases"
        else:
            extra = " (/dev/kvm cases skipped: need root and unshare)"
    print("PASS: %d bad inputs each gave one line and status 1%s" % (len(cases), extra))


def main():
    global COCOON, GUESTS
    if len(sys.argv) != 4:
        print(__doc__)
        sys.exit(2)
    case, COCOON, GUESTS = sys.argv[1:]
    fn = globals().get("case_" + case)
    if not fn:
        fail("unknown case " + case)
    fn()


if __name__ == "__main__":
    main()
