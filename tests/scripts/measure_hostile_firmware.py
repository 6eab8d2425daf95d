#!/usr/bin/env python3
"""measure_hostile_firmware.py: feeds cocoon-measure firmware files built here to be hostile
(truncated at every interesting offset, GUID-table lengths pointing outside the file, section
counts in the millions, overlapping sections, ...) in every mode. Each run must end with exit 0
or with exit 1 and one clear "Error: ..." line; a signal, another exit code, or any sanitizer
report fails the test. Where a mutation has one specific problem, the message must name it."""
import os
import struct
import subprocess
import sys
import tempfile
import uuid

FOUR_GB = 1 << 32


def guid(s):
    return uuid.UUID(s).bytes_le


FOOTER = guid("96b582de-1fb2-45f7-baea-a366c55a082d")
RESET = guid("00f771de-1a7e-4fcb-890e-68c77e2fb44e")
HASHES = guid("7255371f-3a3b-4b04-927b-1da6efa8d454")
META = guid("dc886566-984a-4798-a75e-5585a7bf67cc")
TDXMETA = guid("e47a6535-984a-4798-865e-4685a7bf8ec2")
TDVF_GUID = guid("e9eaf9f3-168e-44d5-a8eb-7f4d8738f6ae")

SIZE = 0x10000
ASEV_OFF = 0x1000
TDVF_OFF = 0x2010

BASE_SEV = [(0x800000, 0x9000, 1), (0x80d000, 0x1000, 2), (0x80e000, 0x1000, 3),
            (0x810000, 0x1000, 0x10), (0x811000, 0xf000, 1)]
BASE_TDVF = [(0x8000, 0x8000, FOUR_GB - 0x8000, 0x8000, 0, 1),
             (0x0, 0x8000, FOUR_GB - 0x10000, 0x8000, 1, 0),
             (0x0, 0x0, 0x809000, 0x2000, 2, 0),
             (0x0, 0x0, 0x800000, 0x6000, 3, 0)]


def table_entry(g, data):
    return data + struct.pack("<H", len(data) + 18) + g


def build(size=SIZE, entries=None, sev=None, asev_hdr=None, tdvf=None, tdvf_hdr=None,
          table_len=None, tail_entries=None):
    """A synthetic OVMF-like image: footer table at the end, ASEV at 0x1000, TDVF at 0x2010."""
    img = bytearray(size)
    for i in range(0x8000, size, 4):
        struct.pack_into("<I", img, i, i * 2654435761 & 0xffffffff)  # BFV-ish content
    if size < 0x3000:  # too small for the metadata blobs: footer table only
        return finish(img, size, entries or [], table_len, tail_entries)
    sev = BASE_SEV if sev is None else sev
    hdr = asev_hdr or (b"ASEV", 16 + 12 * len(sev), 1, len(sev))
    struct.pack_into("<4sIII", img, ASEV_OFF, *hdr)
    for i, s in enumerate(sev[:300]):
        struct.pack_into("<III", img, ASEV_OFF + 16 + 12 * i, *s)
    tdvf = BASE_TDVF if tdvf is None else tdvf
    img[TDVF_OFF - 16:TDVF_OFF] = TDVF_GUID
    thdr = tdvf_hdr or (b"TDVF", 16 + 32 * len(tdvf), 1, len(tdvf))
    struct.pack_into("<4sIII", img, TDVF_OFF, *thdr)
    for i, s in enumerate(tdvf[:200]):
        struct.pack_into("<IIQQII", img, TDVF_OFF + 16 + 32 * i, *s)
    if entries is None:
        entries = default_entries(size)
    return finish(img, size, entries, table_len, tail_entries)


def default_entries(size):
    return [(RESET, struct.pack("<I", 0x80b004)),
            (HASHES, struct.pack("<II", 0x810c00, 0x400)),
            (META, struct.pack("<I", size - ASEV_OFF)),
            (TDXMETA, struct.pack("<I", size - TDVF_OFF))]


def finish(img, size, entries, table_len, tail_entries):
    body = b"".join(table_entry(g, d) for g, d in entries) + (tail_entries or b"")
    footer_at = size - 32 - 18
    tl = len(body) + 18 if table_len is None else table_len
    img[footer_at - len(body):footer_at] = body
    img[footer_at:footer_at + 18] = struct.pack("<H", tl) + FOOTER
    return bytes(img)


class Runner:
    def __init__(self, binary, tmp):
        self.binary, self.tmp = binary, tmp
        self.kernel = os.path.join(tmp, "kernel")
        with open(self.kernel, "wb") as f:
            f.write(b"MZ" + bytes(8190))
        self.failures, self.runs, self.n = [], 0, 0
        self.env = dict(os.environ, ASAN_OPTIONS="exitcode=99:detect_leaks=1",
                        UBSAN_OPTIONS="exitcode=98:print_stacktrace=1:halt_on_error=1")

    def modes(self, f):
        k = ["--kernel", self.kernel, "--append", "console=ttyS0"]
        snp = ["--mode", "snp", "--ovmf", f, "--vcpus", "2", "--vcpu-type", "EPYC-v4"]
        return {
            "snp": snp,
            "snp+kernel": snp + k,
            "snp-ec2": snp + ["--vmm-type", "ec2"],
            "seves+kernel": ["--mode", "seves", "--ovmf", f, "--vcpus", "2", "--vcpu-sig", "0"] + k,
            "sev+kernel": ["--mode", "sev", "--ovmf", f] + k,
            "ovmf-hash": ["--mode", "snp:ovmf-hash", "--ovmf", f],
            "tdx": ["tdx", "--firmware", f],
            "tdx-sec": ["tdx", "--firmware", f, "--page-order", "per-section"],
        }

    def case(self, name, data, expect=None, must_fail=(), must_pass=()):
        """Run every mode; `must_fail` modes must be refused naming `expect`."""
        self.n += 1
        path = os.path.join(self.tmp, "fw.bin")
        with open(path, "wb") as f:
            f.write(data)
        for mode, args in self.modes(path).items():
            self.runs += 1
            p = subprocess.run([self.binary] + args, capture_output=True, text=True,
                               timeout=60, env=self.env)
            err = p.stderr
            where = f"{name} [{mode}]"
            if "Sanitizer" in err or "runtime error" in err or p.returncode not in (0, 1):
                self.failures.append(f"{where}: rc={p.returncode} {err[-2000:]}")
                continue
            if p.returncode == 1:
                lines = err.strip().splitlines()
                if len(lines) != 1 or not lines[0].startswith("Error: ") or len(lines[0]) < 15:
                    self.failures.append(f"{where}: unclear refusal {err!r}")
                    continue
            if mode in must_fail:
                if p.returncode != 1 or (expect and expect not in err):
                    self.failures.append(f"{where}: rc={p.returncode}, wanted a refusal naming "
                                         f"{expect!r}, got {err.strip()!r}")
            if mode in must_pass and p.returncode != 0:
                self.failures.append(f"{where}: refused a valid image: {err.strip()!r}")


SNP_MODES = ("snp", "snp+kernel", "snp-ec2")
TDX_MODES = ("tdx", "tdx-sec")
ALL = ("snp", "snp+kernel", "snp-ec2", "seves+kernel", "sev+kernel", "ovmf-hash", "tdx", "tdx-sec")


def cases(r):
    base = build()
    r.case("valid synthetic image", base, must_pass=ALL)

    # -- truncation: keep a prefix (footer lost) or a suffix (offsets from the end dangle) --
    marks = {0, 1, 17, 18, 31, 32, 49, 50, 51, 64, 100, 4095, 4096, 4097}
    body_len = 4 * 18 + 4 + 8 + 4 + 4
    for x in (50, 50 + body_len, 50 + body_len + 1):
        marks |= {x - 1, x, x + 1}
    for off in (ASEV_OFF, TDVF_OFF - 16, TDVF_OFF):
        for d in (-1, 0, 1, 12, 15, 16, 17, 28, 32, 48, 0x80):
            marks.add(SIZE - off - d)
    marks |= set(range(0, 200, 3)) | set(range(0x1000, SIZE, 0x1000))
    for k in sorted(m for m in marks if 0 <= m < SIZE):
        r.case(f"suffix {k:#x}", base[SIZE - k:])
        r.case(f"prefix {k:#x}", base[:k])

    # -- footer table lengths --
    r.case("table length 0xffff", build(table_len=0xffff), "before the start", ALL[:6] + TDX_MODES)
    r.case("table length 17", build(table_len=17), "smaller than", ALL)
    r.case("table length 0", build(table_len=0), "smaller than", ALL)
    r.case("table length past a tiny file", build(size=0x1000, table_len=0xfff0, sev=[]),
           "before the start", ALL)
    bad_entry = struct.pack("<H", 0xffff) + RESET
    r.case("entry length 0xffff", build(tail_entries=bad_entry), "beyond the table", ALL)
    r.case("entry length 3", build(tail_entries=struct.pack("<H", 3) + RESET), "length 3", ALL)
    r.case("entry length 0", build(tail_entries=struct.pack("<H", 0) + META), "length 0", ALL)
    r.case("duplicate GUID", build(tail_entries=table_entry(RESET, struct.pack("<I", 0))),
           "duplicate", ALL)
    many = b"".join(table_entry(uuid.uuid4().bytes_le, b"") for _ in range(80))
    r.case("80 table entries", build(tail_entries=many), "more than", ALL)
    r.case("reset block 2 bytes", build(entries=[(RESET, b"\x04\xb0")]), "data bytes", ALL[:6])
    r.case("hash table entry 3 bytes", build(entries=[(RESET, struct.pack("<I", 0x80b004)),
                                                     (HASHES, b"\0\x0c\x81")]), "data bytes",
           ALL[:6])

    # -- SEV metadata (ASEV) --
    def sev_entries(off):
        return [(RESET, struct.pack("<I", 0x80b004)), (HASHES, struct.pack("<II", 0x810c00, 0x400)),
                (META, struct.pack("<I", off))]
    r.case("ASEV offset beyond the file", build(entries=sev_entries(SIZE + 0x1000)),
           "outside", ALL[:6])
    r.case("ASEV offset 0xffffffff", build(entries=sev_entries(0xffffffff)), "outside", ALL[:6])
    r.case("ASEV offset 4 (header cut)", build(entries=sev_entries(4)), "outside", ALL[:6])
    r.case("ASEV bad signature", build(asev_hdr=(b"ASEX", 76, 1, 5)), "signature", ALL[:6])
    r.case("ASEV version 2", build(asev_hdr=(b"ASEV", 76, 2, 5)), "version", ALL[:6])
    r.case("ASEV 16M sections", build(asev_hdr=(b"ASEV", 76, 1, 0x1000000)), "sections", ALL[:6])
    r.case("ASEV 4G-1 sections", build(asev_hdr=(b"ASEV", 0xffffffff, 1, 0xffffffff)),
           "exceeds the file", ALL[:6])
    r.case("ASEV length past file", build(asev_hdr=(b"ASEV", 0x100000, 1, 5)), "exceeds the file",
           ALL[:6])
    r.case("ASEV 100 sections", build(sev=[(0x800000 + 0x1000 * i, 0x1000, 1) for i in range(100)]),
           "at most", ALL[:6])
    r.case("ASEV overlapping sections",
           build(sev=[(0x800000, 0x9000, 1), (0x808000, 0x1000, 2)]), "overlap", ALL[:6])
    r.case("ASEV CPUID inside SEC_MEM",
           build(sev=[(0x800000, 0x9000, 1), (0x804000, 0x1000, 3)]), "overlap", ALL[:6])
    r.case("ASEV section over the firmware",
           build(sev=[(0xffff0000, 0x1000, 1)]), "overlaps the firmware", SNP_MODES)
    r.case("ASEV unknown type", build(sev=[(0x800000, 0x1000, 7)]), "unknown type", ALL[:6])
    r.case("ASEV unaligned GPA", build(sev=[(0x800100, 0x1000, 1)]), "aligned", ALL[:6])
    r.case("ASEV odd size", build(sev=[(0x800000, 0x1234, 1)]), "multiple", ALL[:6])
    r.case("ASEV past 4 GiB", build(sev=[(0xfffff000, 0x2000, 1)]), "4 GiB", ALL[:6])
    r.case("kernel-hashes section 2 pages",
           build(sev=[(0x810000, 0x2000, 0x10)]), "one page", ("snp+kernel",), ("snp",))
    r.case("hash table outside its page",
           build(entries=[(RESET, struct.pack("<I", 0x80b004)),
                          (HASHES, struct.pack("<II", 0x820c00, 0x400)),
                          (META, struct.pack("<I", SIZE - ASEV_OFF))]),
           "outside the SNP_KERNEL_HASHES page", ("snp+kernel",), ("snp",))
    r.case("hash table does not fit its page",
           build(entries=[(RESET, struct.pack("<I", 0x80b004)),
                          (HASHES, struct.pack("<II", 0x810fc0, 0x400)),
                          (META, struct.pack("<I", SIZE - ASEV_OFF))]),
           "does not fit", ("snp+kernel",), ("snp",))
    r.case("hash table area too small",
           build(entries=[(RESET, struct.pack("<I", 0x80b004)),
                          (HASHES, struct.pack("<II", 0x810c00, 0x10)),
                          (META, struct.pack("<I", SIZE - ASEV_OFF))]),
           "smaller than", ("sev+kernel", "seves+kernel"))
    r.case("no reset block", build(entries=[(META, struct.pack("<I", SIZE - ASEV_OFF))]),
           "SEV_ES_RESET_BLOCK_GUID", ("snp", "snp-ec2"))
    r.case("AP entry 0 with 2 vCPUs", build(entries=[(RESET, struct.pack("<I", 0)),
                                                    (META, struct.pack("<I", SIZE - ASEV_OFF))]),
           "entry point 0", ("snp", "snp-ec2"))
    r.case("not page sized", bytes(100) + base,
           "multiple of 4096", SNP_MODES)

    # -- TDVF --
    def tdx_entries(off):
        return [(TDXMETA, struct.pack("<I", off))]
    r.case("TDVF offset beyond the file", build(entries=tdx_entries(SIZE + 16)), "outside",
           TDX_MODES)
    r.case("TDVF offset 0xffffffff", build(entries=tdx_entries(0xffffffff)), "outside", TDX_MODES)
    r.case("TDVF offset 8", build(entries=tdx_entries(8)), "outside", TDX_MODES)
    r.case("TDVF offset 16 (header cut)", build(entries=tdx_entries(16)), "", TDX_MODES)
    r.case("TDVF GUID missing", build(entries=tdx_entries(SIZE - TDVF_OFF - 0x100)), "GUID",
           TDX_MODES)
    r.case("TDVF bad signature", build(tdvf_hdr=(b"TDVX", 16 + 32 * 4, 1, 4)), "signature",
           TDX_MODES)
    r.case("TDVF version 0", build(tdvf_hdr=(b"TDVF", 16 + 32 * 4, 0, 4)), "version", TDX_MODES)
    r.case("TDVF 1M sections", build(tdvf_hdr=(b"TDVF", 16 + 32 * 1000000, 1, 1000000)),
           "exceeds the", TDX_MODES)
    r.case("TDVF 1M sections, short length", build(tdvf_hdr=(b"TDVF", 16 + 32 * 4, 1, 1000000)),
           "does not match", TDX_MODES)
    r.case("TDVF wrapping count", build(tdvf_hdr=(b"TDVF", 16, 1, 0x08000000)), "does not match",
           TDX_MODES)
    r.case("TDVF no sections", build(tdvf=[], tdvf_hdr=(b"TDVF", 16, 1, 0)), "no sections",
           TDX_MODES)
    r.case("TDVF 100 sections",
           build(tdvf=[(0, 0, 0x1000000 + 0x1000 * i, 0x1000, 3, 0) for i in range(100)]),
           "at most", TDX_MODES)
    r.case("TDVF data past the file", build(tdvf=[(0xf000, 0x2000, 0x1000000, 0x2000, 0, 1)]),
           "outside", TDX_MODES)
    r.case("TDVF data offset wraps", build(tdvf=[(0xfffff000, 0x2000, 0x1000000, 0x2000, 0, 1)]),
           "outside", TDX_MODES)
    r.case("TDVF mem < raw", build(tdvf=[(0, 0x2000, 0x1000000, 0x1000, 0, 1)]), "raw size",
           TDX_MODES)
    r.case("TDVF unaligned GPA", build(tdvf=[(0, 0x1000, 0x1000010, 0x1000, 0, 1)]), "aligned",
           TDX_MODES)
    r.case("TDVF huge section", build(tdvf=[(0, 0x1000, 0x1000000, 1 << 40, 3, 0)]), "1 GiB",
           TDX_MODES)
    r.case("TDVF GPA wraps", build(tdvf=[(0, 0x1000, 0xfffffffffffff000, 0x2000, 3, 0)]),
           "52-bit", TDX_MODES)
    r.case("TDVF unknown type", build(tdvf=[(0, 0x1000, 0x1000000, 0x1000, 99, 0)]),
           "unknown type", TDX_MODES)
    r.case("TDVF unknown attribute", build(tdvf=[(0, 0x1000, 0x1000000, 0x1000, 0, 0x80)]),
           "attributes", TDX_MODES)
    r.case("TDVF overlapping sections",
           build(tdvf=[(0, 0x2000, 0x1000000, 0x2000, 0, 1), (0, 0, 0x1001000, 0x1000, 3, 0)]),
           "overlap", TDX_MODES)
    r.case("TDVF empty section", build(tdvf=[(0, 0, 0x1000000, 0, 3, 0)]), "empty", TDX_MODES)
    r.case("TDVF without CFV still measures",
           build(tdvf=[(0x8000, 0x8000, FOUR_GB - 0x8000, 0x8000, 0, 1)]), None, (), TDX_MODES)

    # -- whole-file oddities --
    r.case("empty file", b"", "empty", ALL)
    r.case("one byte", b"\0", None, ("snp", "tdx"))
    r.case("all 0xff", b"\xff" * SIZE, None, ("snp", "tdx"))


def main():
    if len(sys.argv) != 2:
        print("usage: measure_hostile_firmware.py COCOON_MEASURE", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="cocoon-hostile-") as tmp:
        r = Runner(sys.argv[1], tmp)
        cases(r)
        # A 1.5 GiB sparse file: refused by size, not read into memory.
        big = os.path.join(tmp, "big.fd")
        with open(big, "wb") as f:
            f.truncate(3 << 29)
        p = subprocess.run([sys.argv[1], "tdx", "--firmware", big], capture_output=True,
                           text=True, env=r.env)
        if p.returncode != 1 or "larger than 1 GiB" not in p.stderr:
            r.failures.append(f"1.5 GiB firmware: rc={p.returncode} {p.stderr.strip()!r}")
    for f in r.failures:
        print("FAIL " + f)
    print(f"{r.n} hostile images, {r.runs} runs, {len(r.failures)} failures")
    return 1 if r.failures else 0


if __name__ == "__main__":
    sys.exit(main())
