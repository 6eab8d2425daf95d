#!/usr/bin/env python3
# firmware_seabios_test.py: boots Debian's SeaBIOS under cocoon (--firmware) and checks, from its
# debug log (port 0x402, --firmware-log) and the serial console, the QEMU platform contract it
# reads: fw_cfg with DMA, etc/e820, the Q35 identity, PCI enumeration, the option-ROM hand-off;
# with --kernel the Linux test guest must then reach userspace and see the same PCI functions as
# when cocoon boots it directly.
#
# Modes (one ctest each):
#   --mode bios    SeaBIOS alone: its log must show the e820 map it read from fw_cfg (RAM as
#                  cocoon lays it out) and that it went on to look for a boot device.
#   --mode linux   SeaBIOS + QEMU's pvh.bin option ROM (genroms/) + the Linux test guest with a
#                  read-only virtio-blk disk, against a direct boot of the same guest.
#   --mode bzimage SeaBIOS + linuxboot_dma.bin + Debian's cloud bzImage: the setup code finds the
#                  command line and initrd through the header cocoon patched as QEMU does, and
#                  Linux takes SeaBIOS's ACPI tables, whose FADT points at cocoon's PM timer.
# Exit 0 pass, 1 fail, 77 skip (no /dev/kvm, no SeaBIOS, no option ROM, no guest kernel).
import argparse
import os
import re
import subprocess
import sys
import tempfile
import time

BIOS = "/usr/share/seabios/bios.bin"
PVH_ROM = "/usr/share/qemu/pvh.bin"
MEMORY = 256 << 20
# The host's KVM emulates guest ring 0 here; the same workarounds as linux_guest_test.py.
CMDLINE = (
    "console=ttyS0 loglevel=8 panic=-1 nokaslr noxsave "
    "clearcpuid=cx16,smap,pku,rdpid,popcnt,sse4_1,sse4_2,ssse3,aes,pclmulqdq,avx,avx2,fma,"
    "f16c,bmi1,bmi2,adx,sha_ni,vaes,vpclmulqdq,clflushopt,clwb,movbe,abm "
    "nofsgsbase nopcid noinvpcid mitigations=off reboot=k printk.devkmsg=on "
    "cocoon_test.blk=1 cocoon_test.net=0 cocoon_test.vsock=0"
)
T0 = time.monotonic()


def log(msg):
    print(f"[host {time.monotonic() - T0:7.2f}s] {msg}", flush=True)


def skip(reason):
    print(f"SKIP: {reason}", flush=True)
    sys.exit(77)


def wait_for(path, pattern, deadline, proc):
    """Polls a growing file until pattern (regex) matches; returns the text or None."""
    while time.monotonic() < deadline:
        text = open(path, errors="replace").read() if os.path.exists(path) else ""
        if re.search(pattern, text, re.M):
            return text
        if proc.poll() is not None:
            time.sleep(0.2)
            text = open(path, errors="replace").read() if os.path.exists(path) else ""
            return text if re.search(pattern, text, re.M) else None
        time.sleep(0.5)
    return None


def start(cmd, tmp, name):
    log("starting: " + " ".join(cmd))
    errf = open(os.path.join(tmp, name + ".stderr"), "wb")
    return subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=errf, stderr=errf)


def stop(proc):
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


class Checks:
    def __init__(self):
        self.failed = 0

    def check(self, name, ok, detail):
        print(f"{'PASS' if ok else 'FAIL'} {name}: {detail}", flush=True)
        if not ok:
            self.failed += 1


def run_bios(args, tmp, c):
    fwlog = os.path.join(tmp, "seabios.log")
    proc = start([args.cocoon, "--firmware", BIOS, "--firmware-log", fwlog, "--serial", "off",
                  "--memory", f"size={MEMORY >> 20}M"], tmp, "bios")
    try:
        text = wait_for(fwlog, r"No bootable device|Booting from", time.monotonic() + 60, proc)
    finally:
        stop(proc)
    text = text or (open(fwlog, errors="replace").read() if os.path.exists(fwlog) else "")
    c.check("seabios_fw_cfg_dma", "Found QEMU fw_cfg" in text and
            "QEMU fw_cfg DMA interface supported" in text, "fw_cfg signature, ID with DMA bit")
    c.check("seabios_q35_identity", "Running on QEMU (q35)" in text and
            "PCIe: using q35 mmconfig at 0xb0000000" in text,
            "host bridge 8086:29c0, PCIEXBAR programmed and decoded")
    want = f"qemu/e820: addr 0x0000000000000000 len 0x{MEMORY:016x} [RAM]"
    c.check("seabios_e820_from_fw_cfg", want in text, want)
    c.check("seabios_lpc_pm", "PCI: init bdf=00:1f.0 id=8086:2918" in text and
            "Q35 LPC init" in text, "ICH9 LPC at 00:1f.0 set up (PMBASE, SMM already done)")
    c.check("seabios_no_boot_menu", "Press ESC for boot menu" not in text and
            "Found QEMU fw_cfg" in text, "FW_CFG_BOOT_MENU = 0: no menu prompt, no menu wait")
    c.check("seabios_handoff", re.search(r"e820 map has \d+ items", text) is not None and
            "enter handle_19" in text, "final e820 map and INT 19h boot hand-off")


def linux_run(args, tmp, name, firmware):
    disk = os.path.join(tmp, "ro.img")
    if not os.path.exists(disk):
        with open(disk, "wb") as f:
            f.write(bytes(1 << 20))
    console = os.path.join(tmp, name + ".console")
    fwlog = os.path.join(tmp, name + ".seabios.log")
    cmd = [args.cocoon, "--kernel", args.kernel, "--initramfs", args.initramfs,
           "--cmdline", CMDLINE, "--memory", f"size={MEMORY >> 20}M", "--serial",
           f"file={console}", "--disk", f"path={disk},readonly=on"]
    if firmware:
        cmd += ["--firmware", BIOS, "--firmware-log", fwlog]
    proc = start(cmd, tmp, name)
    t = time.monotonic()
    try:
        text = wait_for(console, r"cocoon-init: DONE", t + args.timeout, proc)
    finally:
        stop(proc)
    text = text or (open(console, errors="replace").read() if os.path.exists(console) else "")
    log(f"{name}: {time.monotonic() - t:.1f} s")
    fw = open(fwlog, errors="replace").read() if firmware and os.path.exists(fwlog) else ""
    return text, fw


def pci_lines(text):
    return sorted(set(re.findall(r"cocoon-init: PCI (\S+ vendor=\S+ device=\S+ class=\S+)", text)))


def run_linux(args, tmp, c):
    if not args.kernel or not os.path.exists(args.kernel):
        skip("no Linux test guest kernel (ctest -R linux_guest_kernel builds it)")
    if not os.path.exists(PVH_ROM):
        skip(f"{PVH_ROM} missing (Debian qemu-system-data)")
    text, fw = linux_run(args, tmp, "seabios", True)
    c.check("seabios_option_rom", "Searching bootorder for: /rom@genroms/pvh.bin" in fw and
            "Booting from ROM" in fw, "genroms/pvh.bin found via bootorder, BEV booted")
    c.check("seabios_linux_version", "Linux version" in text, "kernel started by pvh.bin")
    c.check("seabios_linux_userspace", "cocoon-init: START" in text and
            "cocoon-init: DONE" in text, "the test guest's /init ran to the end")
    for chk in ("pci_enumerate", "pci_bind_virtio_pci", "virtio_blk_bound"):
        c.check(f"seabios_{chk}", re.search(rf"CHECK {chk} PASS", text) is not None,
                "virtio-blk behind BARs SeaBIOS reassigned through ECAM")
    direct, _ = linux_run(args, tmp, "direct", False)
    a, b = pci_lines(text), pci_lines(direct)
    c.check("seabios_same_devices_as_direct_boot", a == b and len(a) >= 3,
            f"through SeaBIOS {a} / direct {b}")


def run_bzimage(args, tmp, c):
    if not args.kernel or not os.path.exists(args.kernel):
        skip("no Debian bzImage (ctest -R debian_kernel_fetch fetches it)")
    if not os.path.exists("/usr/share/qemu/linuxboot_dma.bin"):
        skip("/usr/share/qemu/linuxboot_dma.bin missing (Debian qemu-system-data)")
    console = os.path.join(tmp, "bz.console")
    fwlog = os.path.join(tmp, "bz.seabios.log")
    cmd = [args.cocoon, "--firmware", BIOS, "--firmware-log", fwlog, "--kernel", args.kernel,
           "--initramfs", args.initramfs, "--cmdline", "earlyprintk=serial,ttyS0,115200 " + CMDLINE,
           "--memory", "size=512M", "--serial", f"file={console}"]
    proc = start(cmd, tmp, "bzimage")
    try:
        text = wait_for(console, r"ACPI: PM-Timer IO Port", time.monotonic() + args.timeout, proc)
    finally:
        stop(proc)
    text = text or (open(console, errors="replace").read() if os.path.exists(console) else "")
    fw = open(fwlog, errors="replace").read() if os.path.exists(fwlog) else ""
    c.check("seabios_linuxboot_rom", "Searching bootorder for: /rom@genroms/linuxboot_dma.bin" in fw
            and "Booting from ROM" in fw, "genroms/linuxboot_dma.bin booted as the BEV")
    c.check("seabios_bzimage_cmdline", "KASLR disabled: 'nokaslr' on cmdline" in text,
            "the setup code read the command line at the patched cmd_line_ptr")
    c.check("seabios_bzimage_linux_version", "Linux version" in text, "kernel decompressed, started")
    c.check("seabios_bzimage_initrd", re.search(r"RAMDISK: \[mem 0x[0-9a-f]+-0x[0-9a-f]+\]", text)
            is not None, "ramdisk_image/size from the patched header")
    m = re.search(r"ACPI: PM-Timer IO Port: (0x[0-9a-f]+)", text)
    c.check("seabios_bzimage_pm_timer", m is not None and m.group(1) == "0xb008",
            f"FADT PM timer {m.group(1) if m else 'absent'} = SeaBIOS's PMBASE 0xB000 + 8")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cocoon", required=True)
    ap.add_argument("--mode", choices=("bios", "linux", "bzimage"), required=True)
    ap.add_argument("--kernel")
    ap.add_argument("--initramfs")
    ap.add_argument("--timeout", type=float, default=300)
    ap.add_argument("--keep", action="store_true")
    args = ap.parse_args()
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        skip("no usable /dev/kvm")
    if not os.path.exists(BIOS):
        skip(f"{BIOS} missing (Debian seabios; tools/deps.sh installs it)")
    tmp = tempfile.mkdtemp(prefix="cocoon-seabios-")
    c = Checks()
    {"bios": run_bios, "linux": run_linux, "bzimage": run_bzimage}[args.mode](args, tmp, c)
    if c.failed:
        log(f"{c.failed} check(s) failed; logs kept in {tmp}")
        sys.exit(1)
    if not args.keep:
        subprocess.run(["rm", "-rf", tmp])
    log("all checks passed")


if __name__ == "__main__":
    main()
