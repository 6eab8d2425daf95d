#!/usr/bin/env python3
"""bench_guest_rings.py: ring-0 vs ring-3 speed of a test guest on this host's KVM, as a ratio.

usage: bench_guest_rings.py [BUILD_DIR]   (default: build)
Boots tests/guest/speed.c, which runs the same loop in ring 0 and in ring 3 (rt_run_user)
between boot-timer codes 0x10, 0x11, 0x12, and prints the time per iteration of each.
"""
import os
import re
import subprocess
import sys

build = sys.argv[1] if len(sys.argv) > 1 else "build"
n0, n3 = 200000, 1000000000
p = subprocess.run([os.path.join(build, "cocoon"), "-v", "--kernel",
                    os.path.join(build, "tests/guest/guest_speed.elf"), "--memory", "size=64M",
                    "--cmdline", "ring0=%d ring3=%d" % (n0, n3)],
                   capture_output=True, text=True, timeout=600)
t = {int(c, 16): float(s) for c, s in
     re.findall(r"boot-timer: code 0x([0-9a-f]{2}) at ([0-9.]+) s", p.stderr)}
if p.returncode != 0 or not all(k in t for k in (0x10, 0x11, 0x12)):
    sys.exit("speed guest failed (status %d):\n%s" % (p.returncode, p.stderr))
r0 = (t[0x11] - t[0x10]) / n0 * 1e9
r3 = (t[0x12] - t[0x11]) / n3 * 1e9
print("ring 0: %.1f ns/iteration (%d iterations)" % (r0, n0))
print("ring 3: %.2f ns/iteration (%d iterations)" % (r3, n3))
print("ring 3 is %.0fx faster than ring 0 on this host" % (r0 / r3))
