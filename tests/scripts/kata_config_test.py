#!/usr/bin/env python3
"""kata_config_test.py: the Kata configurations cocoon ships install and say what cocoon needs.

usage: kata_config_test.py BUILD_DIR SOURCE_DIR
Installs the build into a scratch prefix (cmake --install), then checks each installed
configuration-cocoon*.toml: it parses, [hypervisor.clh] path is the installed cocoon, and every
setting cocoon would refuse (virtio-fs, VFIO, IOMMU, balloon, seccomp off, dynamic sizing) is set
to what cocoon accepts; the confidential variants ask for a confidential guest with firmware;
tools/kata/clh-sev-snp.patch is a well-formed patch of clh.go's enableProtection.
Exits 0 on success, 1 on failure, 77 when cmake or tomllib is missing.
"""
import os
import shutil
import subprocess
import sys
import tempfile

try:
    import tomllib
except ImportError:  # Python < 3.11
    print("SKIP: tomllib needs Python 3.11")
    sys.exit(77)


def fail(msg):
    print("FAIL: " + msg)
    sys.exit(1)


def main():
    build, source = sys.argv[1], sys.argv[2]
    if not shutil.which("cmake"):
        print("SKIP: no cmake")
        sys.exit(77)
    prefix = tempfile.mkdtemp(prefix="cocoon-install-")
    try:
        r = subprocess.run(["cmake", "--install", build, "--prefix", prefix],
                           capture_output=True, text=True)
        if r.returncode:
            fail("cmake --install: " + r.stdout + r.stderr)
        for exe in ("bin/cocoon", "bin/cocoon-measure"):
            if not os.access(os.path.join(prefix, exe), os.X_OK):
                fail("%s not installed" % exe)
        kata = os.path.join(prefix, "share", "cocoon", "kata")
        names = sorted(n for n in os.listdir(kata) if n.endswith(".toml"))
        if names != ["configuration-cocoon-snp.toml", "configuration-cocoon-tdx.toml",
                     "configuration-cocoon.toml"]:
            fail("installed configurations: %r" % names)
        for name in names:
            with open(os.path.join(kata, name), "rb") as f:
                cfg = tomllib.load(f)
            hv = cfg["hypervisor"]["clh"]
            rt = cfg["runtime"]
            want = {"shared_fs": "none", "disable_seccomp": False, "enable_iommu": False,
                    "reclaim_guest_freed_memory": False, "hot_plug_vfio": "no-port",
                    "cold_plug_vfio": "no-port", "block_device_driver": "virtio-blk",
                    "disable_image_nvdimm": True}
            for key, value in want.items():
                if hv.get(key) != value:
                    fail("%s: %s = %r, cocoon needs %r" % (name, key, hv.get(key), value))
            if os.path.basename(hv["path"]) != "cocoon" or hv["path"] not in \
                    hv.get("valid_hypervisor_paths", []):
                fail("%s: path %r / valid_hypervisor_paths" % (name, hv["path"]))
            if rt.get("static_sandbox_resource_mgmt") is not True:
                fail("%s: static_sandbox_resource_mgmt must be true (no hot-plug)" % name)
            confidential = name != "configuration-cocoon.toml"
            if bool(hv.get("confidential_guest")) != confidential:
                fail("%s: confidential_guest = %r" % (name, hv.get("confidential_guest")))
            if confidential and not hv.get("firmware"):
                fail("%s: a confidential guest needs firmware" % name)
            if "snp" in name and hv.get("sev_snp_guest") is not True:
                fail("%s: sev_snp_guest" % name)
        with open(os.path.join(kata, "clh-sev-snp.patch")) as f:
            patch = f.read()
        for needle in ("--- a/src/runtime/virtcontainers/clh.go",
                       "+++ b/src/runtime/virtcontainers/clh.go", "SetSevSnp(true)",
                       "SetHostData(", "InitdataDigest"):
            if needle not in patch:
                fail("clh-sev-snp.patch lacks %r" % needle)
        if shutil.which("git"):
            r = subprocess.run(["git", "apply", "--stat", os.path.join(kata, "clh-sev-snp.patch")],
                               capture_output=True, text=True)
            if r.returncode or "clh.go" not in r.stdout:
                fail("clh-sev-snp.patch is not a well-formed patch: " + r.stderr)
        print("PASS: installed %s and %d configurations under %s" % (
            "cocoon, cocoon-measure", len(names), prefix))
    finally:
        shutil.rmtree(prefix, ignore_errors=True)


if __name__ == "__main__":
    main()
