#!/usr/bin/env python3
"""acpi_linux_guest_test.py: the Linux test guest with ACPI (tiny.config + acpi.config) on cocoon.

Boots the guest with cocoon's ACPI tables and checks, from its serial console and cocoon's exit:
Linux found RSDP/XSDT/FACP/APIC/DSDT and lists them in /sys/firmware/acpi/tables, used the MADT,
loaded the DSDT with no ACPI error, supports S5, registered acpiphp slots 1-31 and the PWRB power
button; `poweroff` ends cocoon with 0 (FADT sleep registers) and `reboot` (no reboot=k) with 3
(FADT reset register). Prints the time to /init with and without ACPI (acpi=off) for the README.
usage: acpi_linux_guest_test.py COCOON VMLINUX INITRAMFS. Exit 77 (skip) without /dev/kvm.
"""
import os
import re
import subprocess
import sys
import tempfile
import time

BASE = ("console=ttyS0 earlyprintk=serial,ttyS0,115200 loglevel=8 panic=-1 nokaslr noxsave "
        "clearcpuid=cx16,smap,pku,rdpid,popcnt,sse4_1,sse4_2,ssse3,aes,pclmulqdq,avx,avx2,fma,"
        "f16c,bmi1,bmi2,adx,sha_ni,vaes,vpclmulqdq,clflushopt,clwb,movbe,abm "
        "nofsgsbase nopcid noinvpcid mitigations=off printk.devkmsg=on")
ACPI_ERRORS = re.compile(r"ACPI (BIOS )?(Error|Warning)|AE_[A-Z_]+|Firmware Error")


def boot(cocoon, kernel, initramfs, extra, cpus, timeout=900):
    with tempfile.TemporaryDirectory() as d:
        console = os.path.join(d, "console.txt")
        t0 = time.monotonic()
        p = subprocess.run([cocoon, "-v", "--kernel", kernel, "--initramfs", initramfs,
                            "--cmdline", BASE + " " + extra, "--cpus", cpus, "--memory",
                            "size=256M", "--serial", "file=" + console],
                           capture_output=True, text=True, timeout=timeout)
        elapsed = time.monotonic() - t0
        text = open(console, errors="replace").read()
    m = re.search(r"^\[\s*([0-9.]+)\] acpi-init: tables", text, re.MULTILINE)
    return p.returncode, text, p.stderr, elapsed, float(m.group(1)) if m else None


def value(text, key):
    m = re.search(r"acpi-init: %s = (.*)$" % key, text, re.MULTILINE)
    return m.group(1).strip() if m else None


def check_acpi_boot(text):
    need = ["ACPI: RSDP 0x00000000000A2000", "ACPI: Using ACPI (MADT) for SMP configuration",
            "ACPI: PM: (supports S0 S5)", "ACPI: PCI Root Bridge [PCI0]",
            "acpiphp: Slot [31] registered", "ACPI: button: Power Button [PWRB]"]
    missing = [n for n in need if n not in text]
    # No _OSC is offered on purpose (acpiphp, not pciehp): its AE_NOT_FOUND line is expected.
    errors = [l for l in text.splitlines() if ACPI_ERRORS.search(l) and "_OSC" not in l]
    tables = (value(text, "tables") or "").split()
    slots = (value(text, "slots") or "").split()
    problems = missing + errors
    if not {"APIC", "DSDT", "FACP"} <= set(tables):
        problems.append("tables listed: %s" % tables)
    if len(slots) != 31:
        problems.append("pci slots: %s" % slots)
    return problems


def main():
    cocoon, kernel, initramfs = sys.argv[1:4]
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        print("skip: no /dev/kvm")
        return 77
    if not os.path.exists(kernel):
        print("skip: no ACPI guest kernel at %s (fixture acpi_linux_guest_kernel)" % kernel)
        return 77
    ok = True
    rc, text, err, secs, t_init = boot(cocoon, kernel, initramfs, "acpitest=poweroff",
                                       "boot=1,max=2")
    problems = check_acpi_boot(text)
    if rc != 0 or problems or value(text, "cpus_possible") != "0-1":
        ok = False
        print("FAIL poweroff: exit %d, %s, possible CPUs %s" %
              (rc, problems, value(text, "cpus_possible")))
        print(text[-4000:], err[-2000:])
    else:
        print("ok   ACPI boot (1 of 2 possible vCPUs): tables %s, /init at %.1f s, poweroff -> 0 "
              "after %.1f s" % (value(text, "tables"), t_init, secs))
    rc, text, err, secs, _ = boot(cocoon, kernel, initramfs, "acpitest=reboot", "boot=1")
    if rc != 3 or "acpi: guest reset through the FADT reset register" not in err:
        ok = False
        print("FAIL reboot: exit %d\n%s\n%s" % (rc, text[-3000:], err[-2000:]))
    else:
        print("ok   reboot through the FADT reset register -> 3 after %.1f s" % secs)
    rc, text, err, secs, t_off = boot(cocoon, kernel, initramfs,
                                      "acpi=off reboot=k acpitest=reboot", "boot=1")
    if rc != 3 or t_off is None:
        ok = False
        print("FAIL acpi=off reference boot: exit %d\n%s" % (rc, text[-3000:]))
    elif t_init is not None:
        print("time to /init: %.1f s with ACPI, %.1f s with acpi=off (same kernel, 1 vCPU)" %
              (t_init, t_off))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
