#!/usr/bin/env python3
"""vcpu_hotplug_test.py: vm.resize of a running plain guest through the ACPI CPU manager.

usage: vcpu_hotplug_test.py COCOON GUEST_ELF   (tests/guest/cpu_hotplug.c)
cocoon --api-socket (seccomp on) boots the guest with cpus boot=1,max=2; every step checks the
HTTP status, the guest's console and cocoon's log:
  resize 2 -> 204; the guest sees vCPU 1 "inserting", starts it with INIT/SIPI, the AP prints;
  vm.info boot_vcpus 2; resize 3 / 0 -> 400;
  resize 1 -> 204; the guest sees "removing" and waits; resize 2 meanwhile -> 429 (Cloud
  Hypervisor's answer while a removal is pending); vm.power-button lets the guest stop the AP
  and eject it; cocoon parks the vCPU;
  resize 2 -> 204 reuses the parked vCPU (log), the AP prints again;
  vm.pause / vm.resume with vCPU 1 waiting (before its add, after its eject) and running; a
  waiting vCPU thread uses no CPU; vm.shutdown (boot_vcpus 2 in vm.info); vmm.shutdown -> 0.
A second cocoon (--seccomp false: two machines in one process): resize 2, vm.shutdown, vm.boot
builds the VM with boot_vcpus 2 (the guest sees vCPU 1 present at boot); a removal the guest
never completes, then SIGTERM -> 143.
On main before vCPU hot-plug, the first resize answered 501. Exit 77 without /dev/kvm.
"""
import os
import shutil
import signal
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import api_test  # noqa: E402
from api_test import Cocoon, Fail, api, check, check_no_sanitizer_report, step  # noqa: E402
from harness import need_kvm  # noqa: E402


def wait_for(c, text, count=1, timeout=90):
    """Waits until text appears count times in cocoon's output (console and log)."""
    deadline = time.monotonic() + timeout
    while c.output().count(text) < count and time.monotonic() < deadline:
        check(c.alive(), "cocoon died waiting for %r:\n%s" % (text, c.output()[-3000:]))
        check("FAIL:" not in c.output(), "the guest failed:\n%s" % c.output()[-3000:])
        time.sleep(0.05)
    check(c.output().count(text) >= count,
          "no %r (#%d) within %d s:\n%s" % (text, count, timeout, c.output()[-3000:]))


def thread_ticks(pid, name):
    """utime + stime (clock ticks) of cocoon's thread called name."""
    for tid in os.listdir("/proc/%d/task" % pid):
        try:
            with open("/proc/%d/task/%s/comm" % (pid, tid)) as f:
                if f.read().strip() != name:
                    continue
            with open("/proc/%d/task/%s/stat" % (pid, tid)) as f:
                fields = f.read().rsplit(")", 1)[1].split()
            return int(fields[11]) + int(fields[12])
        except OSError:
            continue
    raise Fail("no thread %r in cocoon" % name)


def check_parked(c, name, why):
    """A parked vCPU thread waits without spinning: at most 2 ticks of CPU in 1 s."""
    before = thread_ticks(c.proc.pid, name)
    time.sleep(1)
    used = thread_ticks(c.proc.pid, name) - before
    check(used <= 2, "%s used %d ticks of CPU in 1 s while parked (%s)" % (name, used, why))


def boot_vcpus(c):
    _, info = api(c.sock, "GET", "vm.info", want=200)
    return info["state"], info["config"]["cpus"]["boot_vcpus"], info["config"]["cpus"]["max_vcpus"]


def resize(c, n, want):
    st, body = api(c.sock, "PUT", "vm.resize", {"desired_vcpus": n})
    check(st == want, "vm.resize %d -> %d, want %d: %r" % (n, st, want, body))
    return body


def create_and_boot(c, guest):
    c.wait_ready()
    body = {"cpus": {"boot_vcpus": 1, "max_vcpus": 2}, "memory": {"size": 64 << 20},
            "payload": {"kernel": guest}, "serial": {"mode": "Tty"}, "console": {"mode": "Off"}}
    api(c.sock, "PUT", "vm.create", body, want=204)
    api(c.sock, "PUT", "vm.boot", want=204)
    wait_for(c, "cpu hotplug guest ready (cpu 1 present: no)")


def finish(c):
    out = c.output()
    c.stop()
    check_no_sanitizer_report(out)


def run_cycle(work, guest):
    """Add, remove, add again, with seccomp on (the vCPU threads' filter, the loop's lockdown)."""
    c = Cocoon(work)
    try:
        create_and_boot(c, guest)
        check_parked(c, "vcpu1", "not hot-added yet")
        api(c.sock, "PUT", "vm.pause", want=204)  # vCPU 1's waiting thread counts as parked
        api(c.sock, "PUT", "vm.resume", want=204)
        check_parked(c, "vcpu1", "not hot-added, after pause/resume")

        step("resize 1 -> 2: the guest sees vCPU 1 inserting and starts it")
        resize(c, 2, 204)
        wait_for(c, "cpu hotplug: cpu 1 inserting (round 1)")
        wait_for(c, "cpu hotplug: apic 1 up (round 1")
        check(boot_vcpus(c) == ("Running", 2, 2), "vm.info %r" % (boot_vcpus(c),))
        resize(c, 2, 204)  # the current count: a no-op
        resize(c, 3, 400)
        resize(c, 0, 400)

        step("resize 2 -> 1: removal pending until the guest ejects (429 meanwhile)")
        resize(c, 1, 204)
        wait_for(c, "cpu hotplug: cpu 1 removing")
        body = resize(c, 2, 429)
        check("still being removed" in " ".join(body or []), "429 body %r" % body)
        resize(c, 1, 204)  # already the configured count
        check(boot_vcpus(c) == ("Running", 1, 2), "vm.info %r" % (boot_vcpus(c),))
        check("vCPU 1 ejected by the guest" not in c.output(), "parked before the guest's eject")
        api(c.sock, "PUT", "vm.power-button", want=204)  # the guest's go-ahead to eject
        wait_for(c, "cpu hotplug: cpu 1 ejected")
        wait_for(c, "acpi: guest ejected vCPU 1")
        wait_for(c, "vCPU 1 ejected by the guest: parked")
        check_parked(c, "vcpu1", "ejected")
        api(c.sock, "PUT", "vm.pause", want=204)
        api(c.sock, "PUT", "vm.resume", want=204)
        check_parked(c, "vcpu1", "ejected, after pause/resume")

        step("resize 1 -> 2 again: the parked vCPU is reused")
        resize(c, 2, 204)
        wait_for(c, "vCPU 1 hot-added (its parked KVM vCPU and thread reused)")
        wait_for(c, "cpu hotplug: apic 1 up (round 2")
        wait_for(c, "cpu hotplug: done")

        step("pause / resume with a hot-added vCPU, vm.shutdown, vmm.shutdown")
        api(c.sock, "PUT", "vm.pause", want=204)
        api(c.sock, "PUT", "vm.resume", want=204)
        api(c.sock, "PUT", "vm.shutdown", want=204)
        check(boot_vcpus(c) == ("Shutdown", 2, 2), "vm.info %r" % (boot_vcpus(c),))
        api(c.sock, "PUT", "vmm.shutdown", want=204)
        c.proc.wait(timeout=20)
        check(c.proc.returncode == 0, "exit status %d after vmm.shutdown" % c.proc.returncode)
    finally:
        finish(c)


def run_reboot(work, guest):
    """The resized count is the next boot's; a removal the guest never completes, then SIGTERM.
    A second machine in one process: the loop's seccomp filter allows none, so it is off."""
    c = Cocoon(work, extra=["--seccomp", "false"])
    try:
        create_and_boot(c, guest)
        resize(c, 2, 204)
        wait_for(c, "cpu hotplug: apic 1 up (round 1")
        step("vm.shutdown + vm.boot: the new machine boots with 2 vCPUs")
        api(c.sock, "PUT", "vm.shutdown", want=204)
        check(boot_vcpus(c) == ("Shutdown", 2, 2), "vm.info %r" % (boot_vcpus(c),))
        api(c.sock, "PUT", "vm.boot", want=204)
        wait_for(c, "cpu hotplug guest ready (cpu 1 present: yes)")
        wait_for(c, "booted 2 vCPU(s)")
        check(boot_vcpus(c) == ("Running", 2, 2), "vm.info %r" % (boot_vcpus(c),))

        step("resize 2 -> 1 that the idle guest never ejects, then SIGTERM: a clean stop")
        resize(c, 1, 204)
        c.proc.send_signal(signal.SIGTERM)
        c.proc.wait(timeout=20)
        check(c.proc.returncode == 143, "exit status %d after SIGTERM" % c.proc.returncode)
    finally:
        finish(c)


def main():
    if len(sys.argv) != 3:
        print(__doc__)
        return 2
    need_kvm()
    api_test.COCOON = os.path.abspath(sys.argv[1])
    guest = os.path.abspath(sys.argv[2])
    work = tempfile.mkdtemp(prefix="cocoon-vcpu-hotplug-")
    try:
        run_cycle(os.path.join(work, "cycle"), guest)
        run_reboot(os.path.join(work, "reboot"), guest)
    except Fail as e:
        print("FAIL: %s" % e)
        return 1
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print("PASS: vcpu_hotplug_resize_guest")
    return 0


if __name__ == "__main__":
    sys.exit(main())
