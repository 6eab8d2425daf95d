#!/usr/bin/env python3
"""measure_vectors.py: runs the built cocoon-measure on every row of the shared known-answer
vectors (snp or tdx) in place; every digest must match and every ERROR: row must be refused
with a non-zero exit and a message naming the problem."""
import os
import subprocess
import sys


def rows(path):
    with open(path, encoding="utf-8") as f:
        lines = f.read().splitlines()
    header = lines[0].split("\t")
    for line in lines[1:]:
        if line.strip():
            cells = line.split("\t")
            cells += [""] * (len(header) - len(cells))
            yield dict(zip(header, cells))


def snp_args(row, base):
    def rel(p):
        return p if p.startswith("/") else os.path.join(base, p)

    args = ["--mode", row["mode"], "--ovmf", rel(row["ovmf"])]
    for col, opt in (("kernel", "--kernel"), ("initrd", "--initrd")):
        if row[col]:
            args += [opt, rel(row[col])]
    if row["append"]:
        args += ["--append", row["append"]]
    if row["mode"] != "snp:ovmf-hash":
        args += ["--vcpus", row["vcpus"] or "1"]
        if row["vcpu_type"]:
            args += ["--vcpu-type", row["vcpu_type"]]
        if row["vcpu_sig"]:
            args += ["--vcpu-sig", row["vcpu_sig"]]
        if row["guest_features"]:
            args += ["--guest-features", row["guest_features"]]
        if row["vmm_type"]:
            args += ["--vmm-type", row["vmm_type"]]
        if row["snp_ovmf_hash"]:
            args += ["--snp-ovmf-hash", row["snp_ovmf_hash"]]
        if row["svsm"]:
            args += ["--svsm", rel(row["svsm"]), "--vars-size", row["vars_size"]]
    return args


def expect_error(name, proc, text):
    """An ERROR: row: non-zero exit and the expected problem named on stderr."""
    key = [w for w in ("SNP_KERNEL_HASHES", "kernel/initrd/cmdline") if w in text]
    if proc.returncode == 0:
        return f"{name}: accepted (stdout {proc.stdout.strip()!r}), expected refusal: {text}"
    if text not in proc.stderr and not (key and key[0] in proc.stderr):
        return f"{name}: refused but message {proc.stderr.strip()!r} does not name: {text}"
    return None


def run_snp(binary, vdir):
    failures, n = [], 0
    base = os.path.join(vdir, "snp")
    for row in rows(os.path.join(base, "vectors.tsv")):
        n += 1
        args = [binary] + snp_args(row, base)
        proc = subprocess.run(args, capture_output=True, text=True, timeout=120)
        exp = row["expected"]
        if exp.startswith("ERROR:"):
            err = expect_error(row["id"], proc, exp[len("ERROR:"):])
            if err:
                failures.append(err)
            else:
                print(f"ok   {row['id']}: refused: {proc.stderr.strip()}")
            continue
        got = proc.stdout.strip()
        if proc.returncode != 0 or got != exp:
            failures.append(f"{row['id']}: rc={proc.returncode} got {got!r} "
                            f"stderr {proc.stderr.strip()!r}, expected {exp}\n  cmd: {args}")
        else:
            print(f"ok   {row['id']}")
        # the JSON form must carry the same value
        if proc.returncode == 0:
            pj = subprocess.run(args + ["--format", "json"], capture_output=True, text=True)
            import json
            if json.loads(pj.stdout)["measurement"] != exp:
                failures.append(f"{row['id']}: --format json measurement differs")
    return n, failures


def run_tdx(binary, vdir):
    import json
    failures, n = [], 0
    base = os.path.join(vdir, "tdx")
    for row in rows(os.path.join(base, "vectors.tsv")):
        n += 1
        fw = os.path.join(base, row["firmware"])
        order = row["page_order"] if row["page_order"] not in ("", "-") else "per-page"
        args = [binary, "tdx", "--firmware", fw, "--page-order", order, "--format", "json"]
        proc = subprocess.run(args, capture_output=True, text=True, timeout=120)
        exp = row["expected"]
        if exp.startswith("ERROR:"):
            err = expect_error(row["id"], proc, exp[len("ERROR:"):])
            if err:
                failures.append(err)
            continue
        if proc.returncode != 0:
            failures.append(f"{row['id']}: rc={proc.returncode} {proc.stderr.strip()}")
            continue
        out = json.loads(proc.stdout)
        field = {"MRTD": "mrtd", "CFV-SHA384": "cfv_sha384"}.get(row["quantity"])
        if field is None:
            failures.append(f"{row['id']}: unknown quantity {row['quantity']}")
            continue
        if out[field] != exp:
            failures.append(f"{row['id']}: {field} {out[field]} != expected {exp}")
            continue
        text = subprocess.run(args[:-2], capture_output=True, text=True).stdout
        if f"{row['quantity']}: {exp}" not in text:
            failures.append(f"{row['id']}: text output lacks '{row['quantity']}: {exp}'")
            continue
        print(f"ok   {row['id']}")
    return n, failures


def main():
    if len(sys.argv) != 4 or sys.argv[3] not in ("snp", "tdx"):
        print("usage: measure_vectors.py COCOON_MEASURE VECTORS_DIR snp|tdx", file=sys.stderr)
        return 2
    binary, vdir, kind = sys.argv[1:]
    tsv = os.path.join(vdir, kind, "vectors.tsv")
    if not os.path.isfile(tsv):
        print(f"SKIP: {tsv} is absent (the shared known-answer vectors are not checked out)")
        return 77
    n, failures = (run_snp if kind == "snp" else run_tdx)(binary, vdir)
    for f in failures:
        print("FAIL " + f)
    print(f"{n - len(failures)}/{n} {kind} vectors pass")
    return 1 if failures or n == 0 else 0


if __name__ == "__main__":
    sys.exit(main())
