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
#                  Linux takes cocoon's ACPI tables, whose FADT points at the PM timer SeaBIOS
#                  placed (PMBASE 0x600 once it has seen etc/table-loader).
#   --mode acpi    SeaBIOS + pvh.bin + the ACPI Linux test guest (acpi.config, acpi_linux_init):
#                  SeaBIOS ran cocoon's etc/table-loader, the tables were rebuilt for the chipset
#                  SeaBIOS programmed (MCFG at its PCIEXBAR, FADT at its PMBASE), Linux finds
#                  them through the RSDP SeaBIOS put in the F segment with valid checksums, sees
#                  the same tables and hot-plug slots as a direct boot (plus MCFG and FACS, which
#                  only a firmware's platform has) and powers off through the FADT's PM1_CNT.
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
    c.check("seabios_bzimage_pm_timer", m is not None and m.group(1) == "0x608",
            f"cocoon's FADT PM timer {m.group(1) if m else 'absent'} = SeaBIOS's PMBASE 0x600 + 8")


ACPI_BASE = (
    "console=ttyS0 earlyprintk=serial,ttyS0,115200 loglevel=8 panic=-1 nokaslr noxsave "
    "clearcpuid=cx16,smap,pku,rdpid,popcnt,sse4_1,sse4_2,ssse3,aes,pclmulqdq,avx,avx2,fma,"
    "f16c,bmi1,bmi2,adx,sha_ni,vaes,vpclmulqdq,clflushopt,clwb,movbe,abm "
    "nofsgsbase nopcid noinvpcid mitigations=off printk.devkmsg=on acpitest=poweroff"
)
ACPI_ERRORS = re.compile(r"ACPI (BIOS )?(Error|Warning)|AE_[A-Z_]+|Firmware Error|"
                         r"Incorrect checksum|double fault")


def acpi_run(args, tmp, name, firmware):
    """Boots the ACPI test guest until it powers off; returns (status, console, stderr, fwlog)."""
    console = os.path.join(tmp, name + ".console")
    fwlog = os.path.join(tmp, name + ".seabios.log")
    cmd = [args.cocoon, "-v", "--kernel", args.kernel, "--initramfs", args.initramfs,
           "--cmdline", ACPI_BASE, "--memory", f"size={MEMORY >> 20}M", "--serial",
           f"file={console}"]
    if firmware:
        cmd += ["--firmware", BIOS, "--firmware-log", fwlog]
    log("starting: " + " ".join(cmd))
    t = time.monotonic()
    try:
        p = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                           timeout=args.timeout)
        rc, err = p.returncode, p.stderr
    except subprocess.TimeoutExpired as e:
        rc, err = None, (e.stderr or b"").decode(errors="replace")
    log(f"{name}: {time.monotonic() - t:.1f} s, exit {rc}")
    text = open(console, errors="replace").read() if os.path.exists(console) else ""
    fw = open(fwlog, errors="replace").read() if firmware and os.path.exists(fwlog) else ""
    with open(os.path.join(tmp, name + ".stderr"), "w") as f:
        f.write(err)
    return rc, text, err, fw


def acpi_problems(text):
    """ACPI error/warning lines, without their timestamps."""
    return {re.sub(r"^\[[ 0-9.]+\] ", "", line) for line in text.splitlines()
            if ACPI_ERRORS.search(line)}


def init_value(text, key):
    m = re.search(rf"acpi-init: {key} = (.*)$", text, re.M)
    return m.group(1).split() if m else None


def run_acpi(args, tmp, c):
    if not args.kernel or not os.path.exists(args.kernel):
        skip("no ACPI Linux test guest (ctest -R acpi_linux_guest_kernel builds it)")
    if not os.path.exists(PVH_ROM):
        skip(f"{PVH_ROM} missing (Debian qemu-system-data)")
    rc, text, err, fw = acpi_run(args, tmp, "seabios", True)
    # SeaBIOS src/fw/paravirt.c qemu_cfg_init: etc/table-loader in the file directory moves the PM
    # block to 0x600; qemu_platform_setup: a script that fails or installs no RSDP gives
    # warn_internalerror ("WARNING - internal error") and SeaBIOS's own tables instead.
    c.check("seabios_saw_table_loader", "Moving pm_base to 0x600" in fw and
            "internal error" not in fw, "etc/table-loader listed; the script ran without error")
    c.check("acpi_rebuilt_for_programmed_chipset",
            "firmware: ACPI tables for ECAM 0xb0000000, PM block 0x600" in err and
            "PCIe: using q35 mmconfig at 0xb0000000" in fw,
            "tables rebuilt at read time from PCIEXBAR 0xb0000000 / PMBASE 0x600 SeaBIOS set")
    m = re.search(r"ACPI: RSDP 0x([0-9A-F]+) [0-9A-F]+ \(v02 COCOON\)", text)
    c.check("acpi_rsdp_placed_by_seabios", m is not None and 0xE0000 <= int(m.group(1), 16) < 0x100000,
            f"cocoon's RSDP at {m.group(1) if m else 'none'}: in the F segment (ALLOCATE FSEG)")
    c.check("acpi_mcfg_is_seabios_ecam",
            re.search(r"PCI: MMCONFIG for domain 0000 \[bus 00-00\] at \[mem 0xb0000000-", text)
            is not None, "Linux uses MCFG's ECAM at SeaBIOS's 0xb0000000")
    c.check("acpi_fadt_pm_timer_at_pmbase", "ACPI: PM-Timer IO Port: 0x608" in text,
            "FADT PM timer = PMBASE 0x600 + 8")
    c.check("acpi_poweroff_through_pm1_cnt", rc == 0 and "S5 through PM1_CNT" in err,
            f"exit {rc}: poweroff wrote SLP_TYP 5 | SLP_EN to PM1_CNT at 0x604")
    drc, direct, derr, _ = acpi_run(args, tmp, "direct", False)
    # The same DSDT gives the same notes (the _OSC it lacks: AE_NOT_FOUND); nothing else allowed.
    bad = acpi_problems(text) - acpi_problems(direct)
    c.check("acpi_checksums_and_aml_clean", not bad and "ACPI: FACP" in text,
            f"no checksum warning, ACPI error or double fault beyond a direct boot's ({sorted(bad)})")
    a, b = init_value(text, "tables"), init_value(direct, "tables")
    extra = sorted(set(a or []) - set(b or [])) if a and b else None
    c.check("acpi_same_tables_as_direct_boot",
            a is not None and b is not None and set(b) <= set(a) and extra == ["FACS", "MCFG"],
            f"through SeaBIOS {a} / direct {b}: only MCFG (ECAM the firmware opened) and FACS "
            "(the full FADT's) added")
    sa, sb = init_value(text, "slots"), init_value(direct, "slots")
    c.check("acpi_same_slots_as_direct_boot",
            sa is not None and sorted(sa) == sorted(sb or []) and "31" not in sa,
            f"{len(sa or [])} hot-plug slots, the LPC's slot 31 not among them")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cocoon", required=True)
    ap.add_argument("--mode", choices=("bios", "linux", "bzimage", "acpi"), required=True)
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
    modes = {"bios": run_bios, "linux": run_linux, "bzimage": run_bzimage, "acpi": run_acpi}
    modes[args.mode](args, tmp, c)
    if c.failed:
        log(f"{c.failed} check(s) failed; logs kept in {tmp}")
        sys.exit(1)
    if not args.keep:
        subprocess.run(["rm", "-rf", tmp])
    log("all checks passed")


if __name__ == "__main__":
    main()
