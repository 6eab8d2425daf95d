"""harness.py: what every integration harness shares: fail, skip, the /dev/kvm check and the
sanitizer-report check."""
import fcntl
import os
import sys

SKIP = 77  # ctest's SKIP_RETURN_CODE for every integration test
SANITIZER_MARKS = ("AddressSanitizer", "LeakSanitizer", "runtime error:", "ThreadSanitizer")


def fail(msg):
    print("FAIL: " + msg, flush=True)
    sys.exit(1)


def sanitizer_report(text):
    """True when cocoon's output holds an ASan, LSan, UBSan or TSan report."""
    return any(mark in text for mark in SANITIZER_MARKS)


def skip(msg):
    print("SKIP: " + msg, flush=True)
    sys.exit(SKIP)


def kvm_problem():
    """None when /dev/kvm opens read-write and answers KVM_GET_API_VERSION with 12, else why not
    (a device node that exists but is not KVM, e.g. a bind mount, counts as unusable)."""
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


def need_kvm():
    problem = kvm_problem()
    if problem:
        skip(problem)
