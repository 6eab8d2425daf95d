#!/usr/bin/env python3
"""acpi_linux_guest_test.py: the Linux test guest with ACPI (tiny.config + acpi.config) on cocoon.

Boots the guest with cocoon's ACPI tables and checks, from its serial console and cocoon's exit:
Linux found RSDP/XSDT/FACP/APIC/DSDT and lists them in /sys/firmware/acpi/tables, used the MADT,
loaded the DSDT with no ACPI error, supports S5, registered acpiphp slots 1-30 (31 is the Q35 LPC
bridge, not ejectable) and the PWRB power button; `poweroff` ends cocoon with 0 (FADT sleep
registers) and `reboot` (no reboot=k) with 3 (FADT reset register). Hot-plug: after `vm.add-disk`
over the API socket the guest's /init gets the kernel's block "add" uevent (acpiphp, no rescan
anywhere) and reads the disk's known bytes; the time from the API answer to the guest's report is
printed; `vm.remove-device` answers at once and the guest ejects the disk (remove uevent; cocoon
frees the slot only after the guest's _EJ0), and the next `vm.add-disk` reuses that slot.
`vm.resize` 1 -> 2 -> 1 (--cpus boot=1,max=2): the kernel makes the hot-added cpu1 present (not
onlined: a second running vCPU hangs Linux on this host) and ejects it on the resize back.
`vm.power-button`: the guest gets the ACPI power-button event (acpi_event netlink) and powers off
by itself, cocoon exits 0. Prints the time to /init with and
without ACPI (acpi=off) for the README.
usage: acpi_linux_guest_test.py COCOON VMLINUX INITRAMFS. Exit 77 (skip) without /dev/kvm.
"""
import os
import json
import re
import socket
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


def api_put(path, route, body):
    data = json.dumps(body).encode()
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(30)
    s.connect(path)
    s.sendall(("PUT /api/v1/%s HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
               "Content-Length: %d\r\n\r\n" % (route, len(data))).encode() + data)
    reply = b""
    while b"\r\n\r\n" not in reply:
        chunk = s.recv(4096)
        if not chunk:
            break
        reply += chunk
    head, _, rest = reply.partition(b"\r\n\r\n")
    m = re.search(rb"Content-Length: (\d+)", head, re.IGNORECASE)
    while m and len(rest) < int(m.group(1)):
        chunk = s.recv(4096)
        if not chunk:
            break
        rest += chunk
    s.close()
    return int(head.split()[1]), rest.decode(errors="replace")


def wait_for(path, pattern, deadline):
    while time.monotonic() < deadline:
        if os.path.exists(path):
            m = re.search(pattern, open(path, errors="replace").read(), re.MULTILINE)
            if m:
                return m
        time.sleep(0.05)
    return None


class ApiGuest:
    """The ACPI guest under cocoon with an API socket, /init in the given acpitest mode."""

    def __init__(self, cocoon, kernel, initramfs, mode, d, cpus="boot=1"):
        self.console, self.err_path = os.path.join(d, "console.txt"), os.path.join(d, "stderr.txt")
        self.sock, self.dir = os.path.join(d, "api.sock"), d
        with open(self.err_path, "w") as err:
            self.proc = subprocess.Popen([cocoon, "-v", "--api-socket", self.sock, "--kernel",
                                          kernel, "--initramfs", initramfs, "--cmdline",
                                          BASE + " acpitest=" + mode, "--cpus", cpus,
                                          "--memory", "size=256M", "--serial",
                                          "file=" + self.console], stderr=err)

    def image(self, name, pattern):
        path = os.path.join(self.dir, name)
        with open(path, "wb") as f:
            f.write(pattern + bytes(1024 * 1024 - len(pattern)))
        return path

    def wait_console(self, pattern, seconds):
        return wait_for(self.console, pattern, time.monotonic() + seconds)

    def wait_stderr(self, pattern, seconds):
        return wait_for(self.err_path, pattern, time.monotonic() + seconds)

    def close(self):
        if self.proc.poll() is None:
            try:
                api_put(self.sock, "vmm.shutdown", {})
                self.proc.wait(timeout=30)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait()


def hotplug(cocoon, kernel, initramfs):
    """vm.add-disk, vm.remove-device, vm.add-disk again, all seen by the guest through ACPI with
    no rescan anywhere. Returns (ok, message)."""
    first, second = bytes(range(0x30, 0x40)), bytes(range(0x60, 0x70))
    with tempfile.TemporaryDirectory() as d:
        g = ApiGuest(cocoon, kernel, initramfs, "hotplug", d)
        try:
            if not g.wait_console(r"acpi-init: hotplug = waiting", 900):
                return False, "the guest never got to waiting for the disk"
            t0 = time.monotonic()
            status, body = api_put(g.sock, "vm.add-disk", {"path": g.image("a.img", first),
                                                            "id": "hp0"})
            t_answer = time.monotonic()
            if status != 200:
                return False, "vm.add-disk answered %d %s" % (status, body)
            bdf = json.loads(body).get("bdf")
            m = g.wait_console(r"acpi-init: block_data = (\S+)\r?\n", 120)
            t_seen = time.monotonic()
            if not m:
                return False, "no block add uevent in the guest within 120 s of %s" % body
            if m.group(1) != first.hex():
                return False, "guest read %s, want %s" % (m.group(1), first.hex())
            added = ("%s hot-added: the guest had its add uevent and the disk's bytes %.2f s "
                     "after the API answer (%.2f s after the request)" %
                     (bdf, t_seen - t_answer, t_seen - t0))
            t1 = time.monotonic()
            status, body = api_put(g.sock, "vm.remove-device", {"id": "hp0"})
            t_answer = time.monotonic()
            if status != 204:
                return False, added + "; vm.remove-device answered %d %s" % (status, body)
            m = g.wait_console(r"acpi-init: block_remove = (\S+)\r?\n", 120)
            t_gone = time.monotonic()
            freed = g.wait_stderr(r"device 'hp0' released by the guest", 30)
            if not m or m.group(1) == "none" or not freed:
                return False, added + "; after vm.remove-device (answered in %.2f s): guest " \
                    "remove uevent %s, cocoon freed the slot after the guest's eject: %s" % (
                        t_answer - t1, m.group(1) if m else None, bool(freed))
            removed = ("removed: answered in %.3f s, gone from the guest (remove uevent, eject) "
                       "%.2f s later" % (t_answer - t1, t_gone - t_answer))
            status, body = api_put(g.sock, "vm.add-disk", {"path": g.image("b.img", second),
                                                            "id": "hp1"})
            bdf2 = json.loads(body).get("bdf") if status == 200 else None
            m = g.wait_console(r"acpi-init: block_data2 = (\S+)\r?\n", 120)
            if bdf2 != bdf or not m or m.group(1) != second.hex():
                return False, added + "; " + removed + "; second vm.add-disk: %d %s (want %s " \
                    "again), guest read %s" % (status, body, bdf, m.group(1) if m else None)
            if not g.wait_stderr(r"guest powered off \(S5\)", 300):
                return False, "no ACPI power-off after the hot-plug checks"
            return True, added + "; " + removed + "; the next vm.add-disk reused %s and the " \
                "guest read its bytes" % bdf
        finally:
            g.close()


def power_button(cocoon, kernel, initramfs):
    """vm.power-button: the guest gets the ACPI power-button event and powers off by itself."""
    with tempfile.TemporaryDirectory() as d:
        g = ApiGuest(cocoon, kernel, initramfs, "button", d)
        try:
            if not g.wait_console(r"acpi-init: button = waiting", 900):
                return False, "the guest never got to waiting for the power button"
            t0 = time.monotonic()
            status, body = api_put(g.sock, "vm.power-button", {})
            if status != 204:
                return False, "vm.power-button answered %d %s" % (status, body)
            try:
                rc = g.proc.wait(timeout=300)
            except subprocess.TimeoutExpired:
                rc = None
            took = time.monotonic() - t0
            ev = value(open(g.console, errors="replace").read(), "acpi_event")
            s5 = g.wait_stderr(r"guest powered off \(S5\)", 1)
            if rc != 0 or not ev or not ev.startswith("button/power") or not s5:
                return False, "after vm.power-button: exit %s, guest event %r, S5 %s" % (
                    rc, ev, bool(s5))
            return True, ("vm.power-button 204; the guest got '%s' and powered off, cocoon exited "
                          "0 %.1f s after the request" % (ev, took))
        finally:
            g.close()


def cpu_hotplug(cocoon, kernel, initramfs):
    """vm.resize 1 -> 2 -> 1 on --cpus boot=1,max=2: Linux makes the hot-added cpu1 present (it
    is not onlined: on this host a second running vCPU hangs Linux, see README), and ejects it
    on the resize back (present as at boot; cocoon parks the vCPU after the guest's _EJ0)."""
    with tempfile.TemporaryDirectory() as d:
        g = ApiGuest(cocoon, kernel, initramfs, "cpus", d, cpus="boot=1,max=2")
        try:
            if not g.wait_console(r"acpi-init: cpus = waiting", 900):
                return False, "the guest never got to waiting for a CPU"
            t0 = time.monotonic()
            status, body = api_put(g.sock, "vm.resize", {"desired_vcpus": 2})
            if status != 204:
                return False, "vm.resize 2 answered %d %s" % (status, body)
            m = g.wait_console(r"acpi-init: cpus_present_added = (\S*)\r?\n", 300)
            t_added = time.monotonic()
            online = g.wait_console(r"acpi-init: cpus_online_added = (\S*)\r?\n", 10)
            if not m or m.group(1) != "0-1" or not online or online.group(1) != "0":
                return False, "after vm.resize 2: present %s, online %s (want 0-1, 0)" % (
                    m.group(1) if m else None, online.group(1) if online else None)
            t1 = time.monotonic()
            status, body = api_put(g.sock, "vm.resize", {"desired_vcpus": 1})
            if status != 204:
                return False, "vm.resize 1 answered %d %s" % (status, body)
            m = g.wait_console(r"acpi-init: cpus_present_removed = (\S*)\r?\n", 300)
            t_removed = time.monotonic()
            parked = g.wait_stderr(r"vCPU 1 ejected by the guest: parked", 30)
            if not m or m.group(1) != "0" or not parked:
                return False, "after vm.resize 1: present %s, cocoon parked vCPU 1: %s" % (
                    m.group(1) if m else None, bool(parked))
            if not g.wait_stderr(r"guest powered off \(S5\)", 300):
                return False, "no ACPI power-off after the CPU checks"
            return True, ("vm.resize 2: cpu1 present (not onlined) %.2f s after the request; "
                          "vm.resize 1: ejected by the kernel %.2f s after the request, vCPU "
                          "parked" % (t_added - t0, t_removed - t1))
        finally:
            g.close()


def value(text, key):
    m = re.search(r"acpi-init: %s = (.*)$" % key, text, re.MULTILINE)
    return m.group(1).strip() if m else None


def check_acpi_boot(text):
    need = ["ACPI: RSDP 0x00000000000A2000", "ACPI: Using ACPI (MADT) for SMP configuration",
            "ACPI: PM: (supports S0 S5)", "ACPI: PCI Root Bridge [PCI0]",
            "acpiphp: Slot [30] registered", "ACPI: button: Power Button [PWRB]"]
    missing = [n for n in need if n not in text]
    # No _OSC is offered on purpose (acpiphp, not pciehp): its AE_NOT_FOUND line is expected.
    errors = [l for l in text.splitlines() if ACPI_ERRORS.search(l) and "_OSC" not in l]
    tables = (value(text, "tables") or "").split()
    slots = (value(text, "slots") or "").split()
    problems = missing + errors
    if not {"APIC", "DSDT", "FACP"} <= set(tables):
        problems.append("tables listed: %s" % tables)
    if len(slots) != 30 or "31" in slots:
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
    for check in (hotplug, cpu_hotplug, power_button):
        good, msg = check(cocoon, kernel, initramfs)
        print(("ok   " if good else "FAIL ") + msg, flush=True)
        ok = ok and good
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
