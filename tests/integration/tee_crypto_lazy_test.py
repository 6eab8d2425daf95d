#!/usr/bin/env python3
"""tee_crypto_lazy_test.py: libcrypto is loaded on the first digest only (tee/crypto.h).

usage: tee_crypto_lazy_test.py COCOON COCOON_MEASURE GUEST_IDLE_ELF

1. cocoon does not name libcrypto in its dynamic section (readelf -d). (cocoon-measure links it:
   its `verify` commands need X.509 and signatures; its start-up memory does not matter.)
2. A plain-KVM cocoon running the idle guest has no libcrypto mapping (/proc/PID/maps).
   Needs /dev/kvm: without it step 2 is skipped (exit 77) after step 1 passed.
The digests themselves (loaded through the same table) are checked by measure_* and snp_*/tdx_*.
"""
import fcntl
import os
import select
import subprocess
import sys
import time


def fail(msg):
    print("FAIL: " + msg)
    sys.exit(1)


def needed_libraries(binary):
    out = subprocess.run(["readelf", "-d", binary], capture_output=True, text=True, check=True)
    return [line.split("[", 1)[1].split("]", 1)[0] for line in out.stdout.splitlines()
            if "(NEEDED)" in line]


def kvm_usable():
    try:
        fd = os.open("/dev/kvm", os.O_RDWR | os.O_CLOEXEC)
    except OSError as e:
        return "/dev/kvm is not usable (%s)" % e.strerror
    try:
        version = fcntl.ioctl(fd, 0xAE00)  # KVM_GET_API_VERSION
    except OSError as e:
        version = "error " + e.strerror
    finally:
        os.close(fd)
    return None if version == 12 else "/dev/kvm does not answer KVM_GET_API_VERSION (%s)" % version


def wait_for(proc, text, timeout):
    seen = b""
    end = time.monotonic() + timeout
    while text not in seen:
        left = end - time.monotonic()
        if left <= 0 or proc.poll() is not None:
            fail("no %r from cocoon (exit %s); output: %r" % (text, proc.poll(), seen[-300:]))
        if select.select([proc.stdout], [], [], left)[0]:
            seen += os.read(proc.stdout.fileno(), 4096)


def main():
    if len(sys.argv) != 4:
        print(__doc__)
        return 2
    cocoon, measure, idle = sys.argv[1:]
    for binary in (cocoon,):
        libs = needed_libraries(binary)
        if not libs:
            fail("readelf found no NEEDED entries in %s" % binary)
        if any("libcrypto" in lib for lib in libs):
            fail("%s links libcrypto: %s" % (binary, " ".join(libs)))
    print("ok: cocoon does not link libcrypto")

    reason = kvm_usable()
    if reason:
        print("SKIP: " + reason)
        return 77
    proc = subprocess.Popen([cocoon, "--kernel", idle, "--cpus", "boot=1", "--memory",
                             "size=128M", "--serial", "tty"], stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        wait_for(proc, b"idle guest ready", 60)
        with open("/proc/%d/maps" % proc.pid) as f:
            maps = f.read()
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    if "libcrypto" in maps:
        fail("a plain-KVM cocoon maps libcrypto:\n" +
             "\n".join(l for l in maps.splitlines() if "libcrypto" in l))
    if "libc.so" not in maps:
        fail("/proc/PID/maps looks wrong (no libc mapping)")
    print("ok: a running plain-KVM VM has no libcrypto mapping")
    return 0


if __name__ == "__main__":
    sys.exit(main())
