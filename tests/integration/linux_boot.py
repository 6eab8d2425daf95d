#!/usr/bin/env python3
"""linux_boot.py: boots a real Linux kernel under cocoon and waits for a line on its console.

Usage: linux_boot.py --cocoon BIN --kernel FILE --cmdline S --expect TEXT [--timeout S] [--name N]

Starts `cocoon --kernel FILE --cmdline S --memory size=512M --cpus boot=1 --serial file=...`,
polls the serial file until TEXT appears, checks that cocoon logged no error (unhandled exit,
emulation failure, failed entry) before it, reports the time it took, then stops cocoon with
SIGTERM. Exit 0 on success, 1 on failure, 77 when /dev/kvm or the kernel file is missing.
"""
import argparse
import os
import re
import signal
import subprocess
import sys
import tempfile
import time

# cocoon log lines that mean the guest hit something the VMM did not handle.
BAD_LOG = re.compile(r"\bERRO:|\berror:|unhandled|could not emulate|VM entry failed|KVM_RUN failed")


def skip(msg):
    print(f"SKIP: {msg}")
    sys.exit(77)


def tail(path, limit=2000):
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError:
        return ""
    return data[-limit:].decode("utf-8", "replace")


def stop(proc):
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cocoon", required=True)
    ap.add_argument("--kernel", required=True)
    ap.add_argument("--cmdline", default="")
    ap.add_argument("--expect", required=True)
    ap.add_argument("--timeout", type=float, default=120.0)
    ap.add_argument("--memory", default="512M")
    ap.add_argument("--name", default="linux_boot")
    a = ap.parse_args()

    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        skip("/dev/kvm is missing or not accessible")
    if not os.path.isfile(a.kernel):
        skip(f"{a.kernel} missing: run tests/scripts/fetch-debian-kernel.sh (needs apt network)")

    with tempfile.TemporaryDirectory(prefix="cocoon-linux-boot-") as tmp:
        serial = os.path.join(tmp, "serial.out")
        log = os.path.join(tmp, "cocoon.log")
        cmd = [a.cocoon, "--kernel", a.kernel, "--cmdline", a.cmdline,
               "--memory", f"size={a.memory}", "--cpus", "boot=1", "--serial", f"file={serial}"]
        print("running:", " ".join(cmd), flush=True)
        with open(log, "wb") as logf:
            start = time.monotonic()
            proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=logf, stderr=logf)
        expect = a.expect.encode()
        found_at = None
        early_exit = None
        try:
            while time.monotonic() - start < a.timeout:
                # Read the log before the console: anything logged before the text was seen
                # is in this snapshot.
                log_snapshot = tail(log, 1 << 20)
                try:
                    with open(serial, "rb") as f:
                        console = f.read()
                except FileNotFoundError:
                    console = b""
                if expect in console:
                    found_at = time.monotonic() - start
                    break
                if proc.poll() is not None:
                    early_exit = proc.returncode
                    break
                time.sleep(0.1)
        finally:
            stop(proc)

        bad = [l for l in log_snapshot.splitlines() if BAD_LOG.search(l)] if found_at else []
        if found_at is None or bad:
            if bad:
                why = f"cocoon logged errors before '{a.expect}'"
            elif early_exit is not None:
                why = f"cocoon exited with status {early_exit} before '{a.expect}'"
            else:
                why = f"no '{a.expect}' within {a.timeout:.0f} s"
            print(f"FAIL: {a.name}: {why}")
            print("--- cocoon log (tail) ---")
            print(tail(log))
            print("--- console (tail) ---")
            print(tail(serial))
            return 1
        print(f"{a.name}: '{a.expect}' on the console after {found_at:.2f} s")
        return 0


if __name__ == "__main__":
    sys.exit(main())
