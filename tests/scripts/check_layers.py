#!/usr/bin/env python3
"""check_layers.py: who may include whom (README "Layout"), read from the #include lines.

usage: check_layers.py SOURCE_DIR      check the tree; exit 1 listing every violation
       check_layers.py --self-test     prove the rules catch violations in a scratch tree

Layers, bottom to top:
  base      vmm/base/ (memory, bus, log, kvm_sys, config, acpi_regs): the memory door, the trap bus,
            logging, the KVM function table, the config types, the ACPI register map. Includes
            only the base.
  firmware  pure parsing/building of firmware structures: firmware/ and the base.
  devices   device models: devices/ and the base (never tee/, api/ or the machine).
  tee       confidential backends and digests: tee/, firmware/ and the base.
  machine   the rest of vmm/: assembles everything; never api/ (main.c, the program, excepted).
  api       the control socket: api/, the machine's public headers, devices/ fd helpers; never
            vm_internal.h.
  bench     tools/bench/: benchmarks drive the machine and devices as tests do; any layer.
  tools     cocoon-measure: tools/, firmware/ and tee's digest code only (no KVM).
"""
import os
import re
import sys
import tempfile

TEE_DIGEST = {"tee/%s.h" % n for n in ("launch_plan", "vmsa", "tdx_digest", "snp_digest",
                                       "sev_hashes", "crypto")}
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)


def layer(path):
    if path.startswith("vmm/base/"):
        return "base"
    if path.startswith("tools/bench/"):
        return "bench"
    top = path.split("/")[0]
    if top == "vmm":
        return "main" if path == "vmm/main.c" else "machine"
    return top


def allowed(src, inc):
    """Why src may not include inc, or None when it may."""
    if "/" not in inc:  # generated headers (version.h) and system-style local ones
        return None
    lay, target = layer(src), layer(inc)
    if lay == "bench":
        return None
    if lay == "base":
        return None if target == "base" else "the base includes only the base"
    if lay == "firmware":
        return None if target in ("firmware", "base") else "firmware/ is pure: firmware/ and base"
    if lay == "devices":
        return None if target in ("devices", "base") else "devices/ include devices/ and base only"
    if lay == "tee":
        return None if target in ("tee", "firmware", "base") else \
            "tee/ includes tee/, firmware/ and base only"
    if lay == "machine":
        return None if target != "api" else "nothing below api/ includes api/"
    if lay == "api":
        if inc == "vmm/vm_internal.h":
            return "api/ uses the VM's public interface (vmm/vm.h), not vm_internal.h"
        return None if target in ("api", "base", "machine", "devices") else \
            "api/ includes api/, vmm/ and devices/ only"
    if lay == "tools":
        if target in ("tools", "firmware") or inc in TEE_DIGEST:
            return None
        return "tools/ link firmware/ and tee's digest code only"
    return None


def violations(src, path):
    with open(path, encoding="utf-8", errors="replace") as f:
        return ["%s includes %s: %s" % (src, inc, allowed(src, inc))
                for inc in INCLUDE.findall(f.read()) if allowed(src, inc)]


def check(root):
    bad = []
    for top in ("vmm", "devices", "tee", "firmware", "api", "tools"):
        d = os.path.join(root, top)
        if not os.path.isdir(d):
            continue
        for dirpath, _, names in sorted(os.walk(d)):
            for name in sorted(names):
                if name.endswith((".c", ".h")):
                    src = os.path.relpath(os.path.join(dirpath, name), root).replace(os.sep, "/")
                    bad.extend(violations(src, os.path.join(dirpath, name)))
    return bad


def self_test():
    cases = [("vmm/base/memory.c", "devices/pci.h", True), ("vmm/base/bus.h", "tee/tee.h", True),
             ("vmm/base/log.c", "api/api.h", True), ("vmm/base/config.h", "vmm/vm.h", True),
             ("devices/pci.c", "tee/tee.h", True), ("tee/tee.c", "api/router.h", True),
             ("vmm/vm.c", "api/api.h", True), ("api/router.c", "vmm/vm_internal.h", True),
             ("tools/x.c", "tee/tee.h", True), ("vmm/base/memory.c", "vmm/base/log.h", False),
             ("vmm/vm.c", "devices/pci.h", False), ("vmm/main.c", "api/api.h", False)]
    failed = 0
    with tempfile.TemporaryDirectory() as root:
        for src, inc, violates in cases:
            path = os.path.join(root, src)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "w") as f:
                f.write('#include "%s"\n' % inc)
            found = any(b.startswith(src + " includes " + inc) for b in check(root))
            if found != violates:
                print("self-test: %s -> %s %s" % (src, inc, "not caught" if violates else
                                                  "wrongly refused"))
                failed += 1
            os.remove(path)
    return failed


def main():
    if sys.argv[1:] == ["--self-test"]:
        failed = self_test()
        print("self-test: %s" % ("ok" if not failed else "%d case(s) wrong" % failed))
        sys.exit(1 if failed else 0)
    if len(sys.argv) != 2:
        print(__doc__)
        sys.exit(2)
    bad = check(sys.argv[1])
    for line in bad:
        print(line)
    if bad:
        sys.exit(1)
    print("layering: every #include follows the rules")


if __name__ == "__main__":
    main()
