#!/usr/bin/env python3
"""bench.py: cocoon side by side with QEMU microvm and with the physical floor, in one run.

usage: bench.py --build DIR [--rounds N] [--out DIR] [--only NAME,...]
Run it through tools/bench.sh, which installs QEMU and gnuplot and builds what this needs.

Every pair (cocoon, peer) runs alternately, A B A B ..., one warm-up round and then N rounds
(at least 5); the table shows medians and cocoon / peer. It reports; it never fails on a number
(exit status 1 only when a measurement itself could not be taken).
"""
import argparse
import json
import os
import platform
import re
import select
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

QEMU = "qemu-system-x86_64"
ARGS = None
WORK = None


def guest(name):
    return os.path.join(ARGS.build, "tests", "guest", "guest_%s.elf" % name)


def tool(name):
    return os.path.join(ARGS.build, "bench", name)


def cocoon_cmd(kernel, cpus=1, mem="128M", extra=()):
    return [os.path.join(ARGS.build, "cocoon"), "--kernel", kernel, "--cpus", "boot=%d" % cpus,
            "--memory", "size=" + mem, "--serial", "tty", *extra]


def qemu_cmd(kernel, cpus=1, mem="128M", memfd=False, extra=()):
    """QEMU microvm on the same PVH ELF: its 16550 at 0x3F8 on stdio, the debug-exit port at 0xF4
    (QEMU exits with (status << 1) | 1), nothing else."""
    machine = "microvm"
    cmd = [QEMU, "-accel", "kvm", "-smp", str(cpus), "-m", mem]
    if memfd:  # guest RAM as a named memfd, so its mapping can be told apart in smaps
        cmd += ["-object", "memory-backend-memfd,id=guestram,size=" + mem]
        machine += ",memory-backend=guestram"
    return cmd + ["-M", machine, "-kernel", kernel, "-nodefaults", "-no-user-config",
                  "-display", "none", "-serial", "stdio",
                  "-device", "isa-debug-exit,iobase=0xf4,iosize=0x04", *extra]


def fail(msg):
    sys.exit("bench: " + msg)


def read_until(proc, text, timeout):
    """Reads the process's stdout until `text` appears; returns the seconds it took."""
    t0 = time.perf_counter()
    buf = b""
    fd = proc.stdout.fileno()
    while text not in buf:
        left = timeout - (time.perf_counter() - t0)
        if left <= 0 or not select.select([fd], [], [], left)[0]:
            fail("%r not seen within %d s (got %r)" % (text, timeout, buf[-200:]))
        chunk = os.read(fd, 4096)
        if not chunk:
            fail("process ended before printing %r (got %r)" % (text, buf[-200:]))
        buf += chunk
    return time.perf_counter() - t0


def stop(proc):
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


# ---- start-up ---------------------------------------------------------------------------------

def first_byte(cmd):
    """Milliseconds from process start to the first byte on the guest console (stdout)."""
    t0 = time.perf_counter()
    p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.DEVNULL)
    r, _, _ = select.select([p.stdout], [], [], 30)
    if not r or not os.read(p.stdout.fileno(), 1):
        stop(p)
        fail("no console output from %s" % cmd[0])
    dt = time.perf_counter() - t0
    p.stdout.read()
    p.wait(30)
    return dt * 1e3


def start_cocoon():
    return first_byte(cocoon_cmd(guest("hello")))


def start_qemu():
    return first_byte(qemu_cmd(guest("hello")))


def lifecycle(cmd, want):
    """Milliseconds from process start to its exit after the hello guest powered off, on one core."""
    t0 = time.perf_counter()
    p = subprocess.run(["taskset", "-c", "1", *cmd], stdin=subprocess.DEVNULL,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=60)
    dt = time.perf_counter() - t0
    if p.returncode != want:
        fail("%s exited %d, expected %d" % (cmd[0], p.returncode, want))
    return dt * 1e3


def life_cocoon():
    return lifecycle(cocoon_cmd(guest("hello"), mem="16M"), 42)


def life_qemu():
    return lifecycle(qemu_cmd(guest("hello"), mem="16M"), 42 * 2 + 1)


def wait_connect(path, proc, timeout=30):
    t_end = time.perf_counter() + timeout
    while True:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            s.connect(path)
            return s
        except OSError:
            s.close()
            if proc.poll() is not None or time.perf_counter() > t_end:
                fail("%s never listened on %s" % (proc.args[0], path))
            time.sleep(0.0002)


def recv_until(s, pred):
    buf = b""
    s.settimeout(30)
    while not pred(buf):
        chunk = s.recv(65536)
        if not chunk:
            fail("control socket closed early: %r" % buf)
        buf += chunk
    return buf


def api_cocoon():
    """Milliseconds from process start to an answered GET /api/v1/vmm.ping (no VM)."""
    path = os.path.join(WORK, "api.sock")
    t0 = time.perf_counter()
    p = subprocess.Popen([os.path.join(ARGS.build, "cocoon"), "--api-socket", path],
                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
    s = wait_connect(path, p)
    s.sendall(b"GET /api/v1/vmm.ping HTTP/1.1\r\nHost: localhost\r\n\r\n")
    r = recv_until(s, lambda b: b"\r\n\r\n" in b and b"}" in b)
    dt = time.perf_counter() - t0
    s.close()
    stop(p)
    if not r.startswith(b"HTTP/1.1 200"):
        fail("vmm.ping answered %r" % r[:80])
    return dt * 1e3


def api_qemu():
    """Milliseconds from process start to an answered QMP command (greeting, qmp_capabilities);
    QEMU always builds its machine first, so it gets the hello guest, stopped (-S)."""
    path = os.path.join(WORK, "qmp.sock")
    t0 = time.perf_counter()
    p = subprocess.Popen(qemu_cmd(guest("hello"), extra=("-S", "-qmp",
                                                         "unix:%s,server=on,wait=off" % path)),
                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
    s = wait_connect(path, p)
    recv_until(s, lambda b: b"QMP" in b and b.endswith(b"\n"))
    s.sendall(b'{"execute": "qmp_capabilities"}\n')
    r = recv_until(s, lambda b: b"return" in b and b.endswith(b"\n"))
    dt = time.perf_counter() - t0
    s.close()
    stop(p)
    if b'"return"' not in r:
        fail("QMP answered %r" % r[:80])
    return dt * 1e3


# ---- memory -----------------------------------------------------------------------------------

MEM_PARTS = {}


def rss_without_guest_ram(pid, ram_name, key):
    """KiB resident in the process, minus the mapping(s) of the guest-RAM memfd named ram_name.
    Also records under key how that splits: anonymous (heap, stacks, relocated library data) and
    file-backed (executable and library pages, shared with other processes), the biggest first."""
    total = ram = 0
    in_ram = False
    by_map = {}
    anon = 0
    with open("/proc/%d/smaps" % pid) as f:
        for line in f:
            if re.match(r"^[0-9a-f]+-[0-9a-f]+ ", line):
                in_ram = re.search(r"/memfd:%s( \(deleted\))?$" % re.escape(ram_name),
                                   line.rstrip()) is not None
                f5 = line.split()
                mapping = os.path.basename(f5[5]) if len(f5) > 5 else "[anon]"
            elif line.startswith("Rss:"):
                kib = int(line.split()[1])
                total += kib
                if in_ram:
                    ram += kib
                else:
                    by_map[mapping] = by_map.get(mapping, 0) + kib
            elif line.startswith("Anonymous:") and not in_ram:
                anon += int(line.split()[1])
    if ram == 0:
        fail("no resident guest-RAM mapping /memfd:%s in pid %d" % (ram_name, pid))
    if key:
        top = sorted(by_map.items(), key=lambda kv: -kv[1])[:4]
        MEM_PARTS.setdefault(key, []).append((anon, top))
    return total - ram


def memory(cmd, ram_name, key):
    p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.DEVNULL)
    try:
        read_until(p, b"idle guest ready", 60)
        time.sleep(0.5)
        return rss_without_guest_ram(p.pid, ram_name, key) / 1024.0
    finally:
        stop(p)


def mem_fns(cpus, size):
    key = "%d vCPU %s" % (cpus, size)
    return (lambda: memory(cocoon_cmd(guest("idle"), cpus, size), "cocoon-guest-ram",
                           "cocoon " + key),
            lambda: memory(qemu_cmd(guest("idle"), cpus, size, memfd=True),
                           "memory-backend-memfd", "QEMU " + key))


# ---- density: N idle VMs started at once -------------------------------------------------------

DENSITY = {}  # (who, n) -> [(all printed ms, p50 ms, p99 ms, MiB per VM, spawn ms)] per round


def percentile(v, q):
    """Nearest-rank percentile of v (q in 0..100)."""
    v = sorted(v)
    return v[max(0, min(len(v) - 1, -(-len(v) * q // 100) - 1))]


def density(who, n):
    """Starts n idle guests (128 MiB, 1 vCPU) at once: n processes are spawned first as a shell
    that waits on a barrier (reads a pipe) and then execs the VMM; closing the pipe's write end
    releases them together, so the harness's own spawn rate is not part of it. Each VM's start latency is from the release to
    its console line. Memory: RSS minus guest RAM of every process, summed, / n. Returns p99 ms."""
    if who == "cocoon":
        cmd, ram_name = cocoon_cmd(guest("idle")), "cocoon-guest-ram"
    else:
        cmd, ram_name = qemu_cmd(guest("idle"), memfd=True), "memory-backend-memfd"

    def run():
        procs, lat = [], {}
        gate_r, gate_w = os.pipe()
        held = ["sh", "-c", 'read _ <&%d; exec %d<&- "$@"' % (gate_r, gate_r), "sh", *cmd]
        try:
            t_spawn = time.perf_counter()
            for _ in range(n):
                procs.append(subprocess.Popen(held, stdin=subprocess.DEVNULL,
                                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                              pass_fds=(gate_r,)))
            spawn = time.perf_counter() - t_spawn
            os.close(gate_r)
            gate_r = -1
            t0 = time.perf_counter()
            os.close(gate_w)
            gate_w = -1
            bufs = {p.stdout.fileno(): (i, b"") for i, p in enumerate(procs)}
            deadline = time.perf_counter() + 120
            while len(lat) < n:
                left = deadline - time.perf_counter()
                ready = select.select(list(bufs), [], [], max(left, 0))[0] if left > 0 else []
                if not ready:
                    fail("density %s %d: only %d of %d VMs printed within 120 s" %
                         (who, n, len(lat), n))
                for fd in ready:
                    i, buf = bufs[fd]
                    chunk = os.read(fd, 4096)
                    if not chunk:
                        fail("density %s %d: VM %d ended before printing" % (who, n, i))
                    buf += chunk
                    if b"idle guest ready" in buf:
                        lat[i] = time.perf_counter() - t0
                        del bufs[fd]
                    else:
                        bufs[fd] = (i, buf)
            t_all = max(lat.values())
            time.sleep(0.3)
            mem = sum(rss_without_guest_ram(p.pid, ram_name, None) for p in procs) / 1024.0 / n
        finally:
            for fd in (gate_r, gate_w):
                if fd >= 0:
                    os.close(fd)
            for p in procs:
                if p.poll() is None:
                    p.terminate()
            for p in procs:
                stop(p)
                p.stdout.close()
        ms = sorted(v * 1e3 for v in lat.values())
        r = (t_all * 1e3, percentile(ms, 50), percentile(ms, 99), mem, spawn * 1e3)
        DENSITY.setdefault((who, n), []).append(r)
        return r[2]
    return run


def density_table(results):
    """The density detail: medians over the rounds of each measure."""
    ran = [int(name.split("-")[1]) for name, *_ in results if name.startswith("density-")]
    if not ran:
        return []
    out = ["", "Density: N idle VMs (1 vCPU, 128 MiB) started at once, medians of %d rounds. "
           "All N are spawned first as a shell held at a barrier that execs the VMM when released, "
           "all together; "
           "start latency: the release to each VM's console line; memory: (RSS - guest RAM) "
           "summed over the N processes / N (shared library pages count in every process, "
           "as RSS does)." % ARGS.rounds, "",
           "| VMs | cocoon: all printed | p50 | p99 | MiB per VM | QEMU microvm: all printed | "
           "p50 | p99 | MiB per VM | cocoon / QEMU p99 |", "|---|---|---|---|---|---|---|---|---|---|"]
    for n in ran:
        row = ["%d" % n]
        p99 = {}
        for who in ("cocoon", "qemu"):
            v = DENSITY.get((who, n))
            if not v:
                row += ["—"] * 4
                continue
            med = [statistics.median(x[k] for x in v[1:] or v) for k in range(4)]
            p99[who] = med[2]
            row += ["%s ms" % fmt(med[0]), "%s ms" % fmt(med[1]), "%s ms" % fmt(med[2]),
                    "%.2f%s" % (med[3], " (≤ 3: %s)" % ("yes" if med[3] <= 3 else "**no**")
                                if who == "cocoon" and n == 128 else "")]
        row.append("%.2f" % (p99["cocoon"] / p99["qemu"]) if len(p99) == 2 else "—")
        out.append("| " + " | ".join(row) + " |")
    return out


# ---- cost curves: start latency against guest RAM and vCPUs -------------------------------------

KVM_FLOOR = {}  # ("memslot", MiB) or ("vcpus", N) -> [(set-up ms, close ms)]


def start_with(cpus, mem):
    return lambda: first_byte(cocoon_cmd(guest("hello"), cpus=cpus, mem=mem))


def kvm_floor(what, n):
    """Bare KVM (tools/bench/kvm_floor.c): ms to register a memfd slot of n MiB, or to create n
    vCPUs, and to close the VM; kept for the notes beside the curves."""
    out = subprocess.run([tool("bench_kvm_floor"), what, str(n)], capture_output=True, text=True,
                         timeout=300)
    if out.returncode != 0:
        fail("bench_kvm_floor: %s" % out.stderr.strip())
    setup, close = (float(x) for x in out.stdout.split())
    KVM_FLOOR.setdefault((what, n), []).append((setup, close))


def curve_pairs():
    p = []
    for size, mib in (("1G", 1024), ("4G", 4096), ("16G", 16384), ("64G", 65536)):
        def fa(size=size, mib=mib):
            kvm_floor("memslot", mib)
            return start_with(1, size)()
        p.append(("curve-ram-%s" % size.lower(),
                  "start-up vs guest RAM: %s against 128 MiB (hello, 1 vCPU, first console byte)"
                  % size.replace("G", " GiB"), "ms", fa, "cocoon, 128 MiB", start_with(1, "128M"),
                  ("<=", 1.2), None))
    for cpus in (2, 8, 32, 64):
        def fa(cpus=cpus):
            kvm_floor("vcpus", cpus)
            return start_with(cpus, "128M")()
        p.append(("curve-cpus-%d" % cpus,
                  "start-up vs vCPUs: %d against 1 (hello, 128 MiB, first console byte)" % cpus,
                  "ms", fa, "cocoon, 1 vCPU", start_with(1, "128M"), None, None))
    return p


def kvm_floor_notes():
    out = []
    for what, label in (("memslot", "register a memfd slot of"), ("vcpus", "create")):
        got = sorted((n, v) for (w, n), v in KVM_FLOOR.items() if w == what)
        if got:
            out.append("Bare-KVM floor beside the curve (tools/bench/kvm_floor.c, median): " +
                       ", ".join("%s %d %s: %.1f ms (closing the VM %.1f ms)" % (
                           label, n, "MiB" if what == "memslot" else "vCPUs",
                           statistics.median(r for r, _ in v[1:] or v),
                           statistics.median(c for _, c in v[1:] or v)) for n, v in got) + ".")
    return out


# ---- the Kata path: process start to a guest vsock answer over the control API ----------------

def http(sock, method, route, body=None):
    data = json.dumps(body).encode() if body is not None else b""
    sock.sendall(b"%s /api/v1/%s HTTP/1.1\r\nHost: localhost\r\nContent-Type: "
                 b"application/json\r\nContent-Length: %d\r\n\r\n%s" %
                 (method.encode(), route.encode(), len(data), data))
    r = recv_until(sock, lambda b: b"\r\n\r\n" in b)
    head, _, rest = r.partition(b"\r\n\r\n")
    m = re.search(rb"content-length: *(\d+)", head, re.I)
    while m and len(rest) < int(m.group(1)):
        rest += sock.recv(65536)
    status = int(head.split()[1])
    if status // 100 != 2:
        fail("%s %s answered %r" % (method, route, r[:200]))
    return status


def kata_path():
    """Milliseconds from process start to the guest's OK on the hybrid vsock: cocoon --api-socket,
    vm.create (vsock_echo guest, 1 vCPU, 128 MiB, hybrid vsock), vm.boot, then CONNECT 1024
    retried until the guest's listener answers OK (as the Kata runtime does for its agent)."""
    api = os.path.join(WORK, "kata-api.sock")
    vs = os.path.join(WORK, "kata-vsock.sock")
    for f in (api, vs):
        if os.path.exists(f):
            os.unlink(f)
    t0 = time.perf_counter()
    steps = []
    p = subprocess.Popen([os.path.join(ARGS.build, "cocoon"), "--api-socket", api],
                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
    try:
        s = wait_connect(api, p)
        steps.append(time.perf_counter())
        http(s, "PUT", "vm.create", {
            "cpus": {"boot_vcpus": 1, "max_vcpus": 1}, "memory": {"size": 128 << 20},
            "payload": {"kernel": guest("vsock_echo"), "cmdline": "sessions=0"},
            "serial": {"mode": "Off"}, "console": {"mode": "Off"},
            "vsock": {"cid": 3, "socket": vs}})
        steps.append(time.perf_counter())
        http(s, "PUT", "vm.boot")
        steps.append(time.perf_counter())
        t_end = time.perf_counter() + 30
        tries = 0
        while True:
            tries += 1
            v = wait_connect(vs, p)
            v.settimeout(30)
            v.sendall(b"CONNECT 1024\n")
            line = b""
            while not line.endswith(b"\n"):
                chunk = v.recv(256)
                if not chunk:
                    break
                line += chunk
            v.close()
            if line.startswith(b"OK "):
                break
            if time.perf_counter() > t_end:
                fail("the vsock_echo guest never answered CONNECT 1024 (last %r)" % line)
            time.sleep(0.0005)
        dt = time.perf_counter() - t0
        s.close()
    finally:
        stop(p)
    KATA_STEPS.append([(t - t0) * 1e3 for t in steps] + [tries])
    return dt * 1e3


KATA_STEPS = []


def kata_notes():
    if not KATA_STEPS:
        return []
    v = KATA_STEPS[1:] or KATA_STEPS
    med = [statistics.median(x[k] for x in v) for k in range(4)]
    return ["Kata path steps (median ms from process start): API socket accepting %.1f, vm.create "
            "answered %.1f, vm.boot answered %.1f; then the guest's OK (CONNECT tried %g times, "
            "median)." % tuple(med)]


# ---- VM creation ------------------------------------------------------------------------------

def vm_rate(mode):
    out = subprocess.run(["taskset", "-c", "1", tool("bench_vm_create"), mode, guest("hello"),
                          str(ARGS.vms)], capture_output=True, text=True, timeout=300)
    if out.returncode != 0:
        fail("bench_vm_create %s: %s" % (mode, out.stderr.strip()))
    return float(out.stdout.split()[0])


# ---- virtio-blk device path -------------------------------------------------------------------

BLK_CPU = {}
NOTES = []


# Backings: a tmpfs image, an image on ext4 (page cache), the same with direct=on (O_DIRECT). The
# ext4 file system is made in a file and loop-mounted (root), so the row does not depend on the
# host's own file systems.
BLK_BACKINGS = (("tmpfs", "tmpfs", False), ("ext4", "ext4", False), ("ext4-direct", "ext4", True))
BLK_IMAGES = {}
BLK_MNT = None


def blk(mode, op, depth, backing="tmpfs"):
    def run():
        fs, direct = next((f, d) for n, f, d in BLK_BACKINGS if n == backing)
        img = BLK_IMAGES.get(fs)
        if not img:
            fail("no %s image (needs root for the loop-mounted ext4)" % fs)
        cmd = [tool("bench_blk_path"), mode, op, img, str(ARGS.blk_count), str(depth), "1"]
        out = subprocess.run(cmd + (["direct"] if direct else []), capture_output=True, text=True,
                             timeout=600)
        if out.returncode != 0:
            fail("bench_blk_path: %s" % out.stderr.strip())
        wall, cpu = (float(x) / 1000 for x in out.stdout.split())
        BLK_CPU.setdefault((backing, mode, op, depth), []).append(cpu)
        return wall
    return run


def fio(op, depth, backing):
    """fio --ioengine=io_uring on the same file, block size and depth: µs per request."""
    def run():
        fs, direct = next((f, d) for n, f, d in BLK_BACKINGS if n == backing)
        out = subprocess.run(
            ["fio", "--name=floor", "--filename=" + BLK_IMAGES[fs], "--ioengine=io_uring",
             "--rw=rand" + op, "--bs=4k", "--iodepth=%d" % depth, "--direct=%d" % direct,
             "--number_ios=%d" % ARGS.blk_count, "--size=64M", "--randrepeat=1",
             "--norandommap", "--output-format=json"],
            capture_output=True, text=True, timeout=600)
        if out.returncode != 0:
            fail("fio: %s" % out.stderr.strip())
        job = json.loads(out.stdout)["jobs"][0]["read" if op == "read" else "write"]
        return 1e6 / job["iops"]
    return run


def blk_setup():
    global BLK_MNT
    tmpfs = os.path.join("/dev/shm", "cocoon-bench-%d.img" % os.getpid())
    with open(tmpfs, "wb") as f:
        f.write(os.urandom(64 << 20))
    BLK_IMAGES["tmpfs"] = tmpfs
    if os.geteuid() != 0:
        NOTES.append("ext4 rows skipped: the loop-mounted ext4 needs root")
        return
    fsimg = "/var/tmp/cocoon-bench-ext4-%d.fs" % os.getpid()
    BLK_MNT = tempfile.mkdtemp(prefix="cocoon-bench-ext4-")
    subprocess.run(["truncate", "-s", "256M", fsimg], check=True)
    subprocess.run(["mkfs.ext4", "-q", "-F", fsimg], check=True)
    subprocess.run(["mount", "-o", "loop", fsimg, BLK_MNT], check=True)
    os.unlink(fsimg)  # the loop device keeps it; gone at umount
    img = os.path.join(BLK_MNT, "disk.img")
    with open(img, "wb") as f:
        f.write(os.urandom(64 << 20))
        os.fsync(f.fileno())
    BLK_IMAGES["ext4"] = img


def blk_teardown():
    os.unlink(BLK_IMAGES.pop("tmpfs"))
    if BLK_MNT:
        BLK_IMAGES.pop("ext4", None)
        subprocess.run(["umount", BLK_MNT])
        os.rmdir(BLK_MNT)


# ---- virtio-net device path ------------------------------------------------------------------

NET_SIZE = {}  # row name -> Ethernet frame bytes, to turn MiB/s back into frames/s


def net(mode, direction, size, count):
    """MiB/s of Ethernet frames through bench_net_path (each run in its own network namespace)."""
    def run():
        out = subprocess.run([tool("bench_net_path"), mode, direction, str(size), str(count)],
                             capture_output=True, text=True, timeout=300)
        if out.returncode != 0:
            fail("bench_net_path: %s" % out.stderr.strip())
        ns = float(out.stdout.split()[0])
        return size / ns * 1e9 / 2.0 ** 20
    return run


def net_pairs():
    p = []
    names = {"tx": "guest → tap", "rx": "tap → guest"}
    sizes = {"tx": (64, 1514, 65536), "rx": (64, 1514)}
    for direction in ("tx", "rx"):
        for size in sizes[direction]:
            label = "64k-tso" if size == 65536 else ("1500" if size == 1514 else str(size))
            what = "virtio-net %s, %s frames (MiB/s)" % (
                names[direction], "64 KiB TSO" if size == 65536 else "%d B" % size)
            NET_SIZE["net-%s-%s" % (direction, label)] = size
            count = ARGS.net_count // 10 if size == 65536 else ARGS.net_count
            p.append(("net-%s-%s" % (direction, label), what, "MiB/s",
                      net("dev", direction, size, count),
                      "tap fd %s (floor)" % ("write" if direction == "tx" else "read"),
                      net("raw", direction, size, count),
                      (">=", 0.7) if size == 1514 else None, None))
    return p


# ---- vsock ------------------------------------------------------------------------------------

VSOCK = {"moved": {"path": 0, "plain": 0}}


def thread_cpu(pid):
    """CPU seconds (user + system) of each thread of pid, by thread name."""
    out = {}
    for tid in os.listdir("/proc/%d/task" % pid):
        with open("/proc/%d/task/%s/stat" % (pid, tid)) as f:
            st = f.read()
        name = st[st.index("(") + 1:st.rindex(")")]
        f = st[st.rindex(")") + 2:].split()
        out[name] = out.get(name, 0) + (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")
    return out


def vsock_setup():
    path = os.path.join(WORK, "vsock.sock")
    VSOCK["vm"] = subprocess.Popen(cocoon_cmd(guest("vsock_echo"), extra=(
        "--vsock", "cid=3,socket=" + path, "--cmdline", "sessions=0")),
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    read_until(VSOCK["vm"], b"listening on port 1024", 60)
    VSOCK["path"] = path
    plain = os.path.join(WORK, "plain.sock")
    VSOCK["echo"] = subprocess.Popen([tool("bench_stream"), "serve", plain])
    wait_connect(plain, VSOCK["echo"]).close()
    VSOCK["plain"] = plain
    VSOCK["cpu0"] = (thread_cpu(VSOCK["vm"].pid), thread_cpu(VSOCK["echo"].pid))


def vsock_teardown():
    vm0, echo0 = VSOCK["cpu0"]
    vm1, echo1 = thread_cpu(VSOCK["vm"].pid), thread_cpu(VSOCK["echo"].pid)
    mib_vm, mib_plain = VSOCK["moved"]["path"] / 2.0 ** 20, VSOCK["moved"]["plain"] / 2.0 ** 20
    per = ["%s thread %.2f ms" % (n, (vm1[n] - vm0.get(n, 0)) * 1e3 / mib_vm)
           for n in sorted(vm1) if vm1[n] - vm0.get(n, 0) > 0]
    NOTES.append("CPU per MiB echoed (each way, all vsock rounds): cocoon %s; the copy-loop process "
                 "%.2f ms." % (", ".join(per) or "below the clock tick",
                               (sum(echo1.values()) - sum(echo0.values())) * 1e3 / mib_plain))
    stop(VSOCK["vm"])
    stop(VSOCK["echo"])


def stream(which, chunk):
    def run():
        cmd = [tool("bench_stream"), "client", VSOCK[which], str(ARGS.vsock_bytes), str(chunk)]
        if which == "path":
            cmd.append("1024")
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
        if out.returncode != 0:
            fail("bench_stream: %s" % out.stderr.strip())
        VSOCK["moved"][which] += ARGS.vsock_bytes
        return float(out.stdout)
    return run


# ---- cocoon-measure (H3's tools/bench-measure.sh) ----------------------------------------------

def measure_table():
    script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "bench-measure.sh")
    out = subprocess.run(["bash", script, ARGS.build, str(ARGS.rounds)], capture_output=True,
                         text=True, timeout=1800)
    if out.returncode != 0:
        fail("bench-measure.sh: %s" % out.stderr.strip())
    return out.stdout


def measure_row(text, what):
    for line in text.splitlines():
        if line.startswith("| " + what):
            return float(line.split("|")[3].split()[0])
    fail("bench-measure.sh printed no %r row" % what)


# ---- the run ----------------------------------------------------------------------------------

# name, what, unit, better ("lower"/"higher"), cocoon fn, peer name, peer fn, target (on
# cocoon / peer: ("<=", x) or (">=", x) or None), group (setup/teardown)
def pairs():
    m1c, m1q = mem_fns(1, "128M")
    m2c, m2q = mem_fns(2, "2G")
    p = [
        ("startup", "start-up: process start to first console byte (hello, 1 vCPU, 128 MiB)",
         "ms", start_cocoon, "QEMU microvm", start_qemu, ("<=", 0.2), None),
        ("api", "start-up: process start to an answered control request (vmm.ping / QMP)",
         "ms", api_cocoon, "QEMU microvm (QMP)", api_qemu, None, None),
        ("mem1", "memory: RSS minus guest RAM, 1 vCPU, 128 MiB, idle guest", "MiB", m1c,
         "QEMU microvm", m1q, ("<=", 0.25), None),
        ("mem2", "memory: RSS minus guest RAM, 2 vCPUs, 2 GiB, idle guest", "MiB", m2c,
         "QEMU microvm", m2q, ("<=", 0.25), None),
        ("life", "VM lifecycle, process level, 1 core: start, hello guest, power-off, exit",
         "ms", life_cocoon, "QEMU microvm", life_qemu, None, None),
        ("create", "VM create + destroy in-process, 1 core (VMs/s; 1 vCPU, 16 MiB)", "VMs/s",
         lambda: vm_rate("create"), "bare KVM ioctls (floor)", lambda: vm_rate("kvm"), None,
         None),
    ]
    for backing, _, direct in BLK_BACKINGS:
        for op in ("read", "write"):
            for depth in (1, 32):
                name = "blk-%s-%s-qd%d" % (backing, op, depth)
                what = "virtio-blk %s, 4 KiB random %s, %d in flight (µs/request)" % (
                    backing, op, depth)
                p.append((name, what, "µs", blk("dev", op, depth, backing),
                          "raw p%s%s (floor)" % (op, ", O_DIRECT" if direct else ""),
                          blk("raw", op, depth, backing),
                          ("<=", 3.0 if depth == 1 else 1.3), "blk"))
                p.append((name + "-fio", what + " vs fio", "µs", blk("dev", op, depth, backing),
                          "fio io_uring, same depth", fio(op, depth, backing),
                          ("<=", 1.2) if direct else None, "blk"))
    p += net_pairs()
    for n in (1, 8, 32, 64, 128):
        p.append(("density-%d" % n, "density: p99 start latency, %d idle VMs started at once "
                  "(1 vCPU, 128 MiB each)" % n, "ms", density("cocoon", n),
                  "QEMU microvm" if n <= 64 else "none (QEMU measured up to 64)",
                  density("qemu", n) if n <= 64 else None,
                  ("<=", 0.2) if n == 64 else None, None))
    p += curve_pairs()
    p.append(("kata-path", "Kata path: process start, vm.create, vm.boot over the API socket, "
              "hybrid vsock OK from the guest", "ms", kata_path, "none", None, None, None))
    for chunk in (4096, 65536):
        p.append(("vsock-%dk" % (chunk // 1024),
                  "vsock echo through a ring-3 guest, %d KiB writes, %d MiB each way (MiB/s)"
                  % (chunk // 1024, ARGS.vsock_bytes >> 20), "MiB/s", stream("path", chunk),
                  "Unix-socket copy loop (floor)", stream("plain", chunk), (">=", 0.5), "vsock"))
    return p


GROUPS = {"blk": (blk_setup, blk_teardown), "vsock": (vsock_setup, vsock_teardown)}


def fmt(v):
    return "%.3g" % v if v < 100 else "%.0f" % v


def main():
    global ARGS, WORK
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build", required=True)
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--out", default=None, help="folder for results.md, results.dat, chart.png")
    ap.add_argument("--only", default="", help="comma-separated pair names (e.g. startup,mem1)")
    ap.add_argument("--vms", type=int, default=40, help="VMs per bench_vm_create run")
    ap.add_argument("--blk-count", type=int, default=20000)
    ap.add_argument("--net-count", type=int, default=50000, help="frames per virtio-net run "
                    "(a tenth of it for 64 KiB frames)")
    ap.add_argument("--vsock-bytes", type=int, default=16 << 20)
    ARGS = ap.parse_args()
    ARGS.build = os.path.abspath(ARGS.build)
    if ARGS.rounds < 5:
        fail("use at least 5 rounds")
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        fail("/dev/kvm is not usable here")
    out_dir = ARGS.out or os.path.join(ARGS.build, "bench")
    os.makedirs(out_dir, exist_ok=True)
    WORK = tempfile.mkdtemp(prefix="cocoon-bench.")
    only = set(filter(None, ARGS.only.split(",")))
    results = []
    try:
        active = None
        for name, what, unit, fa, peer, fb, target, group in pairs():
            if only and name not in only:
                continue
            if group != active:
                if active:
                    GROUPS[active][1]()
                active = group
                if group:
                    GROUPS[group][0]()
            a, b = [], []
            print("bench: %s ..." % name, file=sys.stderr, flush=True)
            for r in range(ARGS.rounds + 1):  # round 0 is the warm-up
                va, vb = fa(), fb() if fb else None
                if r:
                    a.append(va)
                    b.append(vb)
            results.append((name, what, unit, statistics.median(a), peer,
                            statistics.median(b) if fb else None, target))
        if active:
            GROUPS[active][1]()
        measure = None
        if not only or "measure" in only:
            print("bench: measure ...", file=sys.stderr, flush=True)
            measure = measure_table()
            results.append(("measure", "cocoon-measure SNP digest vs hashing the same bytes once",
                            "ms", measure_row(measure, "SNP launch digest"),
                            "openssl dgst (floor)", measure_row(measure, "floor"), None))
    finally:
        shutil.rmtree(WORK, ignore_errors=True)
    report(results, measure, out_dir)


def machine():
    model = "?"
    for line in subprocess.run(["lscpu"], capture_output=True, text=True).stdout.splitlines():
        if line.startswith("Model name:"):
            model = line.split(":", 1)[1].strip()
    hyp = "paravirtualised KVM guest" if "hypervisor" in open("/proc/cpuinfo").read() else \
        "bare metal"
    qv = subprocess.run([QEMU, "--version"], capture_output=True, text=True).stdout.split("\n")[0] \
        if shutil.which(QEMU) else "no QEMU installed"
    return "%s, %d CPUs, Linux %s, %s; %s" % (model, os.cpu_count(), platform.release(), hyp, qv)


def report(results, measure, out_dir):
    lines = ["Machine: %s. Medians of %d rounds after a warm-up, cocoon and peer alternating." %
             (machine(), ARGS.rounds), "",
             "| benchmark | cocoon | peer | peer's | cocoon / peer | target | met |",
             "|---|---|---|---|---|---|---|"]
    dat = []
    for name, what, unit, a, peer, b, target in results:
        if b is None:  # a row without a peer: the number alone, no ratio, not on the chart
            lines.append("| %s | %s %s | %s | — | — | | |" % (what, fmt(a), unit, peer))
            continue
        ratio = a / b
        tgt = met = ""
        state = -1
        if target:
            op, x = target
            tgt = "%s %g" % ("≤" if op == "<=" else "≥", x)
            ok = ratio <= x if op == "<=" else ratio >= x
            if name.startswith("mem"):
                tgt += ", ≤ 3 MiB"
                ok = ok and a <= 3.0
            met = "yes" if ok else "**no**"
            state = 1 if ok else 0
        lines.append("| %s | %s %s | %s | %s %s | %.2f | %s | %s |" % (
            what, fmt(a), unit, peer, fmt(b), unit, ratio, tgt, met))
        dat.append((name, ratio, target[1] if target else "NaN", state))
    cpu = []
    for (backing, mode, op, depth), v in sorted(BLK_CPU.items()):
        cpu.append("%s %s %s QD%d: %.2f µs CPU/request" % (backing, mode, op, depth,
                                                          statistics.median(v)))
    lines.append("")
    if cpu:
        lines += ["CPU time per blk request (all threads, median): " + "; ".join(cpu) + "."]
    lines += kvm_floor_notes()
    lines += kata_notes()
    fps = ["%s %.0f k / %.0f k" % (name, a * 2 ** 20 / NET_SIZE[name] / 1e3,
                                   b * 2 ** 20 / NET_SIZE[name] / 1e3)
           for name, _, _, a, _, b, _ in results if name in NET_SIZE]
    if fps:
        lines.append("virtio-net frames/s, device / tap-fd floor: " + "; ".join(fps) + ".")
    lines += NOTES
    for key, v in sorted(MEM_PARTS.items()):
        anon = statistics.median(a for a, _ in v) / 1024.0
        top = ", ".join("%s %.2f" % (n, k / 1024.0) for n, k in v[-1][1])
        lines.append("Memory of %s: %.2f MiB anonymous; biggest mappings (MiB): %s." %
                     (key, anon, top))
    lines += density_table(results)
    text = "\n".join(lines) + "\n"
    if measure:
        text += "\ncocoon-measure detail (tools/bench-measure.sh):\n\n" + measure
    print(text)
    with open(os.path.join(out_dir, "results.md"), "w") as f:
        f.write(text)
    chart(dat, out_dir)


def chart(dat, out_dir):
    data = os.path.join(out_dir, "results.dat")
    with open(data, "w") as f:
        for i, (name, ratio, target, state) in enumerate(dat):
            f.write("%d %s %g %s %d\n" % (i, name, ratio, target, state))
    png = os.path.join(out_dir, "chart.png")
    width = max(1000, 26 * len(dat) + 300)  # room for every row's label
    if not shutil.which("gnuplot"):
        print("bench: gnuplot missing, no chart", file=sys.stderr)
        return
    script = """
set terminal pngcairo size %d,440 font ",9"
set output '%s'
set title "cocoon / peer, log scale (peer = 1). ms, MiB, µs: lower is better; MiB/s, VMs/s: higher"
set logscale y
set yrange [0.01:100]
set style fill solid 0.7
set grid ytics
set xtics rotate by -35 noenhanced
set key outside right top
set xrange [-0.6:%g]
plot '%s' using 1:($5 == 1 ? $3 : 1/0):($1-0.3):($1+0.3):(1):($5 == 1 ? $3 : 1/0):xtic(2) \
        with boxxyerror lc rgb '#2e8b57' title 'target met', \
     '' using 1:($5 == 0 ? $3 : 1/0):($1-0.3):($1+0.3):(1):($5 == 0 ? $3 : 1/0) \
        with boxxyerror lc rgb '#cd3333' title 'target missed', \
     '' using 1:($5 < 0 ? $3 : 1/0):($1-0.3):($1+0.3):(1):($5 < 0 ? $3 : 1/0) \
        with boxxyerror lc rgb '#888888' title 'no target', \
     '' using 1:4 with points pt 9 ps 1.6 lc rgb 'black' title 'target bound', \
     1 with lines lt -1 notitle
""" % (width, png, len(dat) - 0.4, data)
    r = subprocess.run(["gnuplot"], input=script, capture_output=True, text=True)
    if r.returncode != 0:
        script = script.replace("pngcairo size %d,440 font \",9\"" % width,
                                "png size %d,440" % width)
        r = subprocess.run(["gnuplot"], input=script, capture_output=True, text=True)
    print("chart: %s" % (png if r.returncode == 0 else "failed: " + r.stderr.strip()))


if __name__ == "__main__":
    main()
