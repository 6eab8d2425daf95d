#!/usr/bin/env python3
"""measure_debian_ovmf.py: cocoon-measure on Debian's own OVMF.fd (package `ovmf`), checked
against an independent model of measurement.md written here with hashlib (itself first checked
on the shared known-answer vectors), against the TDX vectors when the installed file is the
vector firmware byte for byte, and against a `sev-snp-measure` on PATH if one is installed."""
import base64
import hashlib
import json
import os
import shutil
import struct
import subprocess
import sys
import uuid

OVMF = os.environ.get("COCOON_DEBIAN_OVMF", "/usr/share/ovmf/OVMF.fd")
FOUR_GB = 1 << 32


def guid(s):
    return uuid.UUID(s).bytes_le


FOOTER = guid("96b582de-1fb2-45f7-baea-a366c55a082d")
RESET = guid("00f771de-1a7e-4fcb-890e-68c77e2fb44e")
META = guid("dc886566-984a-4798-a75e-5585a7bf67cc")
TDXMETA = guid("e47a6535-984a-4798-865e-4685a7bf8ec2")


# ---- an independent model of measurement.md §1, §2, §3, §5 ----

def footer_table(data):
    end = len(data) - 32
    size, g = struct.unpack_from("<H16s", data, end - 18)
    table = {}
    if g != FOOTER:
        return table
    body = data[end - size:end - 18]
    while len(body) >= 18:
        n, g = struct.unpack_from("<H16s", body, len(body) - 18)
        table[g] = body[len(body) - n:len(body) - 18]
        body = body[:len(body) - n]
    return table


def sev_sections(data, table):
    if META not in table:
        return []
    start = len(data) - struct.unpack_from("<I", table[META])[0]
    magic, _size, _ver, n = struct.unpack_from("<4sIII", data, start)
    assert magic == b"ASEV"
    return [struct.unpack_from("<III", data, start + 16 + 12 * i) for i in range(n)]


class Gctx:
    def __init__(self, seed=bytes(48)):
        self.ld = seed

    def update(self, ptype, gpa, contents):
        info = self.ld + contents + struct.pack("<HBBBBBBQ", 0x70, ptype, 0, 0, 0, 0, 0, gpa)
        self.ld = hashlib.sha384(info).digest()

    def pages(self, gpa, data):
        for off in range(0, len(data), 4096):
            self.update(1, gpa + off, hashlib.sha384(data[off:off + 4096]).digest())

    def empty(self, ptype, gpa, size):
        for off in range(0, size, 4096):
            self.update(ptype, gpa + off, bytes(48))


def vmsa(eip, sig, features, vmm):
    page = bytearray(4096)

    def seg(off, sel, attr, limit, base):
        struct.pack_into("<HHIQ", page, off, sel, attr, limit, base)

    cs, ss, tr, gpat, rdx, mxcsr, fcw = 0x9b, 0x93, 0x8b, 0x0007040600070406, sig, 0x1f80, 0x37f
    if vmm == "ec2":
        cs, ss, tr, rdx, mxcsr, fcw = (0x9a if eip == 0xfffffff0 else 0x9b), 0x92, 0x83, 0x600, 0, 0
    if vmm == "gce":
        gpat, rdx, mxcsr, fcw = 0x70106, 0x600, 0, 0
    seg(0x00, 0, 0x93, 0xffff, 0)
    seg(0x10, 0xf000, cs, 0xffff, eip & 0xffff0000)
    seg(0x20, 0, ss, 0xffff, 0)
    for off in (0x30, 0x40, 0x50):
        seg(off, 0, 0x93, 0xffff, 0)
    seg(0x60, 0, 0, 0xffff, 0)
    seg(0x70, 0, 0x82, 0xffff, 0)
    seg(0x80, 0, 0, 0xffff, 0)
    seg(0x90, 0, tr, 0xffff, 0)
    for off, val in ((0xd0, 0x1000), (0x148, 0x40), (0x158, 0x10), (0x160, 0x400),
                     (0x168, 0xffff0ff0), (0x170, 2), (0x178, eip & 0xffff), (0x268, gpat),
                     (0x310, rdx), (0x3b0, features), (0x3e8, 1)):
        struct.pack_into("<Q", page, off, val)
    struct.pack_into("<I", page, 0x408, mxcsr)
    struct.pack_into("<H", page, 0x410, fcw)
    return bytes(page)


def model_snp(data, vcpus, sig, features, vmm="QEMU"):
    table = footer_table(data)
    eip = struct.unpack_from("<I", table[RESET])[0]
    g = Gctx()
    g.pages(FOUR_GB - len(data), data)
    secs = sev_sections(data, table)
    for gpa, size, t in secs:
        if t == 1:
            g.empty(4 if vmm == "gce" else 3, gpa, size)
        elif t == 2:
            g.update(5, gpa, bytes(48))
        elif t == 3 and vmm != "ec2":
            g.update(6, gpa, bytes(48))
        elif t in (4, 0x10):
            g.empty(3, gpa, size)
    if vmm == "ec2":
        for gpa, _size, t in secs:
            if t == 3:
                g.update(6, gpa, bytes(48))
    for i in range(vcpus):
        page = vmsa(0xfffffff0 if i == 0 else eip, sig, features, vmm)
        g.update(2, 0xFFFFFFFFF000, hashlib.sha384(page).digest())
    return g.ld.hex()


def model_seves(data, vcpus, sig):
    eip = struct.unpack_from("<I", footer_table(data)[RESET])[0]
    h = hashlib.sha256(data)
    for i in range(vcpus):
        h.update(vmsa(0xfffffff0 if i == 0 else eip, sig, 0, "QEMU"))
    return h.hexdigest()


def model_mrtd(data, per_page=True):
    off = len(data) - struct.unpack_from("<I", footer_table(data)[TDXMETA])[0]
    magic, _length, _ver, n = struct.unpack_from("<4sIII", data, off)
    assert magic == b"TDVF"
    h = hashlib.sha384()
    for i in range(n):
        doff, raw, gpa, msize, _t, attr = struct.unpack_from("<IIQQII", data, off + 16 + 32 * i)
        def add(p):
            h.update(b"MEM.PAGE.ADD".ljust(16, b"\0") + struct.pack("<Q", gpa + p) + bytes(104))

        def ext(p):
            for c in range(0, 4096, 256):
                h.update(b"MR.EXTEND".ljust(16, b"\0") + struct.pack("<Q", gpa + p + c) +
                         bytes(104) + data[doff + p + c:doff + p + c + 256])
        pages = range(0, msize, 4096)
        if attr & 2:
            continue
        if per_page:
            for p in pages:
                add(p)
                if attr & 1:
                    ext(p)
        else:
            for p in pages:
                add(p)
            if attr & 1:
                for p in pages:
                    ext(p)
    return h.hexdigest()


def model_cfv(data):
    off = len(data) - struct.unpack_from("<I", footer_table(data)[TDXMETA])[0]
    n = struct.unpack_from("<I", data, off + 12)[0]
    for i in range(n):
        doff, raw, _gpa, _msize, t, _attr = struct.unpack_from("<IIQQII", data, off + 16 + 32 * i)
        if t == 1:
            return hashlib.sha384(data[doff:doff + raw]).hexdigest()
    return None


# ---- the checks ----

class Checker:
    def __init__(self, binary):
        self.binary = binary
        self.failures = 0
        self.passed = 0

    def run(self, args):
        return subprocess.run([self.binary] + args, capture_output=True, text=True, timeout=120)

    def expect(self, name, args, want):
        p = self.run(args)
        got = p.stdout.strip()
        if p.returncode == 0 and got == want:
            self.passed += 1
            print(f"ok   {name}")
        else:
            self.failures += 1
            print(f"FAIL {name}: rc={p.returncode} got {got!r} want {want!r} {p.stderr.strip()}")
        return got

    def expect_refusal(self, name, args, words):
        p = self.run(args)
        if p.returncode != 0 and all(w in p.stderr for w in words) and not p.stdout:
            self.passed += 1
            print(f"ok   {name}: {p.stderr.strip().splitlines()[-1]}")
        else:
            self.failures += 1
            print(f"FAIL {name}: rc={p.returncode} stdout={p.stdout!r} stderr={p.stderr!r}")


def check_model_on_vectors(vdir):
    """The model must itself reproduce the public vectors it can express (no kernel, SNP)."""
    tsv = os.path.join(vdir, "snp", "vectors.tsv")
    if not os.path.isfile(tsv):
        print("note: ../shared/vectors absent; the hashlib model is not self-checked")
        return 0
    bad = 0
    with open(tsv, encoding="utf-8") as f:
        head = f.readline().rstrip("\n").split("\t")
        for line in f:
            r = dict(zip(head, line.rstrip("\n").split("\t")))
            if r["mode"] != "snp" or r["kernel"] or r["snp_ovmf_hash"] or not r["vcpu_type"]:
                continue
            data = open(os.path.join(vdir, "snp", r["ovmf"]), "rb").read()
            got = model_snp(data, int(r["vcpus"]), 0x800f12, int(r["guest_features"], 0),
                            r["vmm_type"])
            ok = got == r["expected"]
            bad += not ok
            print(f"{'ok  ' if ok else 'FAIL'} model self-check {r['id']}")
    return bad


def main():
    if len(sys.argv) != 3:
        print("usage: measure_debian_ovmf.py COCOON_MEASURE VECTORS_DIR", file=sys.stderr)
        return 2
    binary, vdir = sys.argv[1:]
    if not os.path.isfile(OVMF):
        print(f"SKIP: {OVMF} is absent (apt-get install ovmf, or run tools/deps.sh)")
        return 77
    data = open(OVMF, "rb").read()
    c = Checker(binary)
    c.failures += check_model_on_vectors(vdir)

    table = footer_table(data)
    print(f"{OVMF}: {len(data)} bytes, SEV metadata sections "
          f"{[(hex(a), hex(b), t) for a, b, t in sev_sections(data, table)]}")
    # SNP: Debian's OvmfPkgX64 has ASEV metadata but no SNP_KERNEL_HASHES section.
    sigs = {"EPYC-v4": 0x800f12, "EPYC-Milan": 0xa00f11, "EPYC-Genoa": 0xa10f10}
    for vcpus in (1, 4):
        for vt, sig in sigs.items():
            for feat in (0x1, 0x21):
                c.expect(f"snp {vcpus} {vt} {feat:#x}",
                         ["--mode", "snp", "--ovmf", OVMF, "--vcpus", str(vcpus), "--vcpu-type", vt,
                          "--guest-features", hex(feat)],
                         model_snp(data, vcpus, sig, feat))
    for vmm in ("ec2", "gce"):
        c.expect(f"snp {vmm} 2 vCPUs", ["--mode", "snp", "--ovmf", OVMF, "--vcpus", "2",
                                        "--vmm-type", vmm], model_snp(data, 2, 0, 1, vmm))
    ovmf_hash = Gctx()
    ovmf_hash.pages(FOUR_GB - len(data), data)
    c.expect("snp:ovmf-hash", ["--mode", "snp:ovmf-hash", "--ovmf", OVMF], ovmf_hash.ld.hex())
    full = model_snp(data, 2, 0x800f12, 1)
    c.expect("snp seeded with its ovmf-hash", ["--mode", "snp", "--ovmf", OVMF, "--vcpus", "2",
                                                "--vcpu-sig", "0x800f12", "--snp-ovmf-hash",
                                                ovmf_hash.ld.hex()], full)
    c.expect("snp base64", ["--mode", "snp", "--ovmf", OVMF, "--vcpus", "2", "--vcpu-family",
                            "23", "--vcpu-model", "1", "--vcpu-stepping", "2", "--output-format",
                            "base64"], base64.b64encode(bytes.fromhex(full)).decode())
    c.expect("seves 2 vCPUs", ["--mode", "seves", "--ovmf", OVMF, "--vcpus", "2", "--vcpu-type",
                               "EPYC-v4"], model_seves(data, 2, 0x800f12))
    c.expect("sev", ["--mode", "sev", "--ovmf", OVMF], hashlib.sha256(data).hexdigest())
    c.expect_refusal("snp with a kernel is refused (no SNP_KERNEL_HASHES)",
                     ["--mode", "snp", "--ovmf", OVMF, "--vcpus", "1", "--vcpu-type", "EPYC-v4",
                      "--kernel", "/dev/null"], ["Error:", "SNP_KERNEL_HASHES"])
    c.expect_refusal("sev with a kernel is refused (no hashes table)",
                     ["--mode", "sev", "--ovmf", OVMF, "--kernel", "/dev/null"],
                     ["Error:", "kernel/initrd/cmdline"])
    p = c.run(["--mode", "snp", "--ovmf", OVMF, "--vcpus", "2", "--vcpu-type", "EPYC-v4",
               "--format", "json"])
    j = json.loads(p.stdout)
    pages_fw = [u for u in j["launch_updates"] if u["origin"] == "firmware"]
    if (j["measurement"] == full and j["ovmf_hash"] == ovmf_hash.ld.hex() and
            pages_fw == [{"type": "NORMAL", "origin": "firmware", "index": 0,
                          "gpa": hex(FOUR_GB - len(data)), "len": len(data)}] and
            sum(u["type"] == "VMSA" for u in j["launch_updates"]) == 2):
        c.passed += 1
        print("ok   snp --format json fields")
    else:
        c.failures += 1
        print(f"FAIL snp --format json: {p.stdout}")

    # TDX: the same file carries TDVF metadata.
    tdx_vec = os.path.join(vdir, "tdx", "debian-bookworm-ovmf-2022.11-6+deb12u2_OVMF.fd")
    want_mrtd, want_cfv = model_mrtd(data), model_cfv(data)
    if os.path.isfile(tdx_vec) and open(tdx_vec, "rb").read() == data:
        print("note: installed OVMF.fd is byte-identical to the TDX vector firmware")
        with open(os.path.join(vdir, "tdx", "vectors.tsv"), encoding="utf-8") as f:
            for line in f.read().splitlines()[1:]:
                cells = line.split("\t")
                if cells[2] == "MRTD" and cells[3] == "per-page":
                    if want_mrtd != cells[4]:
                        c.failures += 1
                        print("FAIL hashlib MRTD model disagrees with the vector")
                    want_mrtd = cells[4]
                if cells[2] == "CFV-SHA384":
                    want_cfv = cells[4]
    c.expect("tdx per-page", ["tdx", "--firmware", OVMF],
             f"MRTD: {want_mrtd}\nCFV-SHA384: {want_cfv}")
    c.expect("tdx per-section", ["tdx", "--firmware", OVMF, "--page-order", "per-section"],
             f"MRTD: {model_mrtd(data, per_page=False)}\nCFV-SHA384: {want_cfv}")

    ssm = shutil.which("sev-snp-measure")
    if ssm:
        for args in (["--mode", "snp", "--vcpus", "4", "--vcpu-type", "EPYC-Milan"],
                     ["--mode", "seves", "--vcpus", "2", "--vcpu-type", "EPYC-v4"]):
            want = subprocess.run([ssm, "--ovmf", OVMF] + args, capture_output=True,
                                  text=True).stdout.strip()
            c.expect("vs installed sev-snp-measure " + " ".join(args), ["--ovmf", OVMF] + args,
                     want)
    else:
        print("note: no sev-snp-measure on PATH; the external cross-check is skipped")
    print(f"{c.passed} passed, {c.failures} failed")
    return 1 if c.failures else 0


if __name__ == "__main__":
    sys.exit(main())
