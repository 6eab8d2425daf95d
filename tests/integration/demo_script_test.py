#!/usr/bin/env python3
"""demo_script_test.py: keeps the README's first command true: runs tools/demo.sh on a build.

usage: demo_script_test.py SOURCE_DIR BUILD_DIR
Runs SOURCE_DIR/tools/demo.sh with DEMO_BUILD_DIR=BUILD_DIR (no apt, no build) and checks the
lines that show each step worked: both launch measurements, the PCI listing, the disk read and
the guest's write seen from the host, the UDP reply (when root can make a network namespace with
a tap; otherwise the "network: skipped" notice), the Kata-style vsock handshake and echo, the
guest's clean power-off (exit status 0) and that the demo's namespace is gone afterwards.
Exits 0 on success, 1 on failure, 77 (skip) without /dev/kvm. Python 3 standard library only.
"""
import os
import re
import subprocess
import sys
import time


def main():
    src, build = sys.argv[1], sys.argv[2]
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        print("SKIP: /dev/kvm is missing or not accessible")
        return 77
    env = dict(os.environ, DEMO_BUILD_DIR=os.path.abspath(build))
    t0 = time.monotonic()
    r = subprocess.run(["sh", os.path.join(src, "tools", "demo.sh")], env=env,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=200)
    dt = time.monotonic() - t0
    out = r.stdout
    with_net = (os.environ.get("DEMO_NET", "on") != "off" and os.geteuid() == 0
                and os.path.exists("/dev/net/tun"))
    checks = [
        ("exit status 0", r.returncode == 0),
        ("SNP digest (48 bytes hex)",
         re.search(r"SEV-SNP launch digest.*\n[0-9a-f]{96}\n", out) is not None),
        ("TDX MRTD", re.search(r"^MRTD: [0-9a-f]{96}$", out, re.M) is not None),
        ("PCI host bridge", re.search(r"pci 00:00\.0 .* host bridge", out) is not None),
        ("PCI virtio-blk", re.search(r"vendor 1af4 device 1042 .* virtio-blk", out) is not None),
        ("PCI virtio-vsock",
         re.search(r"vendor 1af4 device 1053 .* virtio-vsock", out) is not None),
        ("disk sector 0 read by the guest",
         'sector 0 reads "Hello from the host: this is sector 0 of the demo disk."' in out),
        ("guest's write seen by the host",
         re.search(r"which the guest wrote\n.*Written by the cocoon demo guest", out) is not None),
        ("Kata handshake", re.search(r"cocoon answered 'OK \d+'", out) is not None),
        ("vsock echo", "the guest echoed 'ping from the host over vsock'" in out),
        ("guest greeting on port 1025",
         "said 'hello from the cocoon demo guest over vsock\\n'" in out),
        ("clean power-off", "== cocoon exited with status 0" in out),
        ("demo passed", "== demo passed" in out),
    ]
    if with_net:
        checks += [
            ("PCI virtio-net", re.search(r"vendor 1af4 device 1041 .* virtio-net", out) is not None),
            ("ARP answered", re.search(r"ARP reply: 10\.0\.2\.1 is at", out) is not None),
            ("UDP reply", 'UDP reply from 10.0.2.1:6000: "hello guest' in out),
        ]
        ns = re.search(r"network namespace (cocoon-demo-\d+)", out)
        listed = subprocess.run(["ip", "netns", "list"], stdout=subprocess.PIPE, text=True).stdout
        checks.append(("namespace removed", ns is not None and ns.group(1) not in listed))
    else:
        checks.append(("network skipped notice", "network: skipped" in out))
    failed = [name for name, ok in checks if not ok]
    if failed:
        print(out)
        print("FAIL: %s" % ", ".join(failed))
        return 1
    print("PASS: tools/demo.sh ran every step in %.1f s (%s network)"
          % (dt, "with" if with_net else "without"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
