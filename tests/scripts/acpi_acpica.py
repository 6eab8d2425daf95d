#!/usr/bin/env python3
"""acpi_acpica.py: runs Debian's acpica-tools over the tables acpi_tables wrote.

For every case directory under argv[1] (one per acpi_config, written by the cmocka test
acpi_tables): `iasl -d` decodes each table with no error or warning, the disassembled DSDT
recompiles with 0 errors and 0 warnings (iasl's semantic checks), and `acpiexec` loads our FADT
and DSDT and evaluates every named object and every method (methods with N arguments get N
arguments), twice: with simulated I/O regions reading 0 and reading all ones, so both sides of
every If run (the large extra cases once, all ones). Any ACPI error, exception, warning or AE_ status fails the case.
Exit 77 (skip) when acpica-tools is not installed (tools/deps.sh installs it).
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

EXPECTED_CASES = ["v%d_d%d" % (v, d) for v in (1, 2, 4, 254) for d in (0, 16)]
BAD = re.compile(r"error|warning|exception|\bAE_[A-Z_]+|could not|failed|invalid|incorrect",
                 re.IGNORECASE)
NS_LINE = re.compile(r"^\s*(\d+)\s+([A-Z_][A-Z0-9_]{3})\s+(\w+)\s+0x[0-9a-f]+\s+\d+\s*(.*)$")
VALUE_TYPES = {"Integer", "String", "Buffer", "Package"}


def run(cmd, cwd, stdin=None, timeout=600):
    p = subprocess.run(cmd, cwd=cwd, input=stdin, capture_output=True, text=True, timeout=timeout)
    return p.returncode, p.stdout + p.stderr


def fail(case, what, out):
    print("FAIL %s: %s" % (case, what))
    print("\n".join(out.splitlines()[-40:]))
    return False


def iasl_decodes(case, d, tables):
    for t in tables:
        rc, out = run(["iasl", "-vs", "-d", t + ".dat"], d)
        body = [l for l in out.splitlines()
                if not l.startswith(("File appears to be binary", "Binary file appears"))]
        if rc != 0 or any(BAD.search(l) for l in body):
            return fail(case, "iasl -d %s.dat" % t, out)
        if not os.path.exists(os.path.join(d, t + ".dsl")):
            return fail(case, "iasl -d %s.dat wrote no .dsl" % t, out)
    return True


def iasl_recompiles(case, d):
    rc, out = run(["iasl", "-vs", "-p", "recompiled", "dsdt.dsl"], d)
    m = re.search(r"(\d+) Errors, (\d+) Warnings", out)
    if rc != 0 or not m or m.group(1) != "0" or m.group(2) != "0":
        return fail(case, "round trip: iasl dsdt.dsl", out)
    return True


def namespace(d):
    """Returns [(path, type, nargs)] from acpiexec's namespace dump of our DSDT."""
    rc, out = run(["acpiexec", "-b", "namespace", "facp.dat", "dsdt.dat"], d)
    if rc != 0:
        return None, out
    objs, stack = [], []
    for line in out.splitlines():
        m = NS_LINE.match(line)
        if not m:
            continue
        depth, name, typ, rest = int(m.group(1)), m.group(2), m.group(3), m.group(4)
        del stack[depth:]
        stack.append(name)
        path = "\\" + ".".join(stack)
        nargs = 0
        a = re.search(r"Args (\d+)", rest)
        if a:
            nargs = int(a.group(1))
        objs.append((path, typ, nargs))
    return objs, out


def expect_objects(case, objs):
    paths = {p for p, _, _ in objs}
    need = ["\\_S5_", "\\_SB_.PCI0._CRS", "\\_SB_.PCI0._HID", "\\_SB_.MBRD._CRS",
            "\\_SB_.CPUS.C000._MAT", "\\_SB_.CPUS.C000._STA"]
    m = re.match(r"v(\d+)_d(\d+)$", case)
    if m:
        vcpus = int(m.group(1))
        need += ["\\_SB_.GED_._EVT", "\\_SB_.GED_._CRS", "\\_SB_.PWRB._HID",
                 "\\_SB_.COM1._CRS", "\\_SB_.CPUS.CSCN", "\\_SB_.PCI0.PCNT"]
        cpus = sum(1 for p, t, _ in objs if t == "Device" and re.match(r"\\_SB_\.CPUS\.C...$", p))
        slots = sum(1 for p, t, _ in objs if t == "Device" and re.match(r"\\_SB_\.PCI0\.S..", p))
        if cpus != max(vcpus, 8) or slots != 31:
            print("FAIL %s: %d CPU objects, %d slot objects" % (case, cpus, slots))
            return False
    missing = [n for n in need if n not in paths]
    if missing:
        print("FAIL %s: missing %s" % (case, missing))
        return False
    return True


def acpiexec_evaluates(case, d, objs, fill):
    cmds = []
    for path, typ, nargs in objs:
        ours = path == "\\_S5_" or path.startswith("\\_SB_.")  # not acpiexec's own objects
        if ours and (typ == "Method" or typ in VALUE_TYPES):
            cmds.append("evaluate %s%s" % (path, " 1" * nargs))
    script = "\n".join(cmds + ["quit"]) + "\n"
    args = ["acpiexec"] + (["-fv", fill] if fill else []) + ["facp.dat", "dsdt.dat"]
    rc, out = run(args, d, stdin=script)
    bad = [l for l in out.splitlines() if BAD.search(l)]
    done = len(re.findall(r"^(Evaluation of \S+ returned object|No object was returned from "
                          r"evaluation of)", out, re.MULTILINE))
    if rc != 0 or bad or done != len(cmds):
        return fail(case, "acpiexec (fill %s): %d/%d evaluated, %s" %
                    (fill or "default", done, len(cmds), bad[:5]), out)
    return len(cmds)


def n_objs_small(objs):
    return len(objs) < 1000


def check_case(root, case):
    src = os.path.join(root, case)
    start = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="acpi_acpica_") as d:
        tables = []
        for f in sorted(os.listdir(src)):
            if f.endswith(".dat") and f != "rsdp.dat":  # the RSDP is not an SDT; acpi_tables checks it
                shutil.copy(os.path.join(src, f), d)
                tables.append(f[:-4])
        if "dsdt" not in tables or "facp" not in tables or "apic" not in tables:
            print("FAIL %s: tables missing: %s" % (case, tables))
            return False
        if not iasl_decodes(case, d, tables) or not iasl_recompiles(case, d):
            return False
        objs, out = namespace(d)
        if objs is None or not objs:
            return fail(case, "acpiexec namespace", out)
        if not expect_objects(case, objs):
            return False
        n = 0
        # acpiexec spends ~30 ms per command here: the extra large cases (x2APIC, 1024 vCPUs)
        # run once, with regions reading all ones (every branch that notifies).
        fills = (None, "0xFF") if case in EXPECTED_CASES or n_objs_small(objs) else ("0xFF",)
        for fill in fills:
            r = acpiexec_evaluates(case, d, objs, fill)
            if r is False:
                return False
            n = r
        elapsed = time.monotonic() - start
        print("ok   %s: %s decoded, DSDT recompiled, %d objects evaluated %d time(s) (%.1f s)" %
              (case, "/".join(tables), n, len(fills), elapsed))
        return True


def main():
    if len(sys.argv) != 2:
        print("usage: acpi_acpica.py <dir written by acpi_tables>")
        return 2
    for tool in ("iasl", "acpiexec"):
        if not shutil.which(tool):
            print("skip: %s not installed (apt-get install acpica-tools; tools/deps.sh)" % tool)
            return 77
    root = sys.argv[1]
    cases = sorted(os.listdir(root)) if os.path.isdir(root) else []
    missing = [c for c in EXPECTED_CASES if c not in cases]
    if missing:
        print("FAIL: cases not written by acpi_tables: %s" % missing)
        return 1
    ok = all([check_case(root, c) for c in cases])
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
