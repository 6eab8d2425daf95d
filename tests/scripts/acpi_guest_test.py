#!/usr/bin/env python3
"""acpi_guest_test.py: boots the freestanding acpi_power guest under cocoon and real KVM.

The guest finds the RSDP through hvm_start_info and through the legacy 0xE0000 scan, checks
every table's checksum and the MADT's enabled vCPUs, then writes the FADT's sleep registers
(S5: cocoon must exit 0) or its reset register (cocoon must exit 3).
usage: acpi_guest_test.py COCOON GUEST_ELF. Exit 77 (skip) without /dev/kvm.
"""
import os
import subprocess
import sys


def main():
    cocoon, guest = sys.argv[1], sys.argv[2]
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        print("skip: no /dev/kvm")
        return 77
    cases = [("mode=0 cpus=1", ["--cpus", "boot=1"], 0, "S5"),
             ("mode=0 cpus=2", ["--cpus", "boot=2,max=4"], 0, "S5"),
             ("mode=1 cpus=4", ["--cpus", "boot=4"], 3, "reset")]
    for cmdline, cpus, want, what in cases:
        p = subprocess.run([cocoon, "-v", "--kernel", guest, "--cmdline", cmdline, "--memory",
                            "size=64M"] + cpus, capture_output=True, text=True, timeout=300)
        ok = p.returncode == want and "acpi guest: RSDP" in p.stdout and "FAIL" not in p.stdout
        print("%s %s (%s): exit %d" % ("ok  " if ok else "FAIL", cmdline, what, p.returncode))
        if not ok:
            print(p.stdout[-3000:])
            print(p.stderr[-3000:])
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
