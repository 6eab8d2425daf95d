#!/usr/bin/env python3
# linux_guest_test.py: boots the real Linux test guest under cocoon and checks its virtio devices from both sides.
"""Boots tests/linux-guest (a minimal Linux + static /init) under `cocoon` with two disks (one
read-only), a tap in a private network namespace and hybrid vsock, then asserts every check the
guest prints on its console and the host side of each: the image files' bytes, the UDP peer on the
tap, the vsock echo reached with Kata's bytes (`CONNECT 1024\\n` -> `OK`), and the guest's
connection to `<socket>_1025`.

With --kata-replay it is instead Kata's clh driver on the wire, with this guest's /init as the
agent end (an echo service on vsock port 1024): `cocoon --api-socket`, vmm.ping every 10 ms,
vm.create, vm.info (Created), vm.add-net with a tap fd in one sendmsg (SCM_RIGHTS), vm.boot,
vm.info (Running), the agent dialled with `CONNECT 1024\\n` and redialled as Kata does until
it answers, its echo, vm.add-disk (BDF 0000:00:DD.0) and then, as Kata's agent does, a wait of
at most 3 s in the guest, with no rescan, for the kernel's block uevent under that PCI address
(cocoon's ACPI hot-plug notification must make the guest enumerate it; the replay boots the ACPI
build of the guest kernel) and a read of the disk's bytes; vmm.shutdown and the exit within 3 s.

Exit status: 0 all checks passed, 1 a check failed, 77 skipped (no /dev/kvm, or not root for
the network namespace). Needs only the Python 3 standard library and iproute2.
"""

import argparse
import array
import fcntl
import http.client
import json
import os
import re
import struct
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
from harness import kvm_problem  # noqa: E402

SKIP = 77

# Shared with tests/linux-guest/init.c.
RO_SEED = 0x5A
RW_SEED_BEFORE = 0x33
RW_SEED_GUEST = 0xC7
RW_WRITE_OFFSET = 1 << 20
RW_WRITE_LEN = 256 << 10
RO_SIZE = 1 << 20
RW_SIZE = 4 << 20

GUEST_IP = "10.0.2.15"
PEER_IP = "10.0.2.1"
UDP_PORT = 5555
TAP = "cocoontap0"
GUEST_MAC = "52:54:00:c0:c0:01"
VSOCK_CID = 3
LISTEN_PORT = 1024
CONNECT_PORT = 1025
CONTROL_PORT = 1026  # the agent's "WAIT <bdf>" port: Kata's agent waits for the block uevent
HOTPLUG_TIMEOUT_S = 3  # the agent's hotplug_timeout (kata-agent: DEFAULT_HOTPLUG_TIMEOUT)
ECHO_BYTES = (1 << 20) + 12345  # at least 1 MiB, and not a multiple of any buffer size

GUEST_CHECKS = [
    "pci_enumerate",
    "pci_bind_virtio_pci",
    "virtio_net_bound",
    "virtio_blk_bound",
    "virtio_vsock_bound",
    "fpu_process_exit",
    "blk_ro_read",
    "blk_ro_write_refused",
    "blk_rw_write_read",
    "net_up",
    "net_udp_exchange",
    "vsock_listen_echo",
    "vsock_connect_host",
]

# This machine's KVM: see tests/linux-guest/README.md.
BASE_CMDLINE = (
    "console=ttyS0 earlyprintk=serial,ttyS0,115200 loglevel=8 panic=-1 nokaslr noxsave "
    "clearcpuid=cx16,smap,pku,rdpid,popcnt,sse4_1,sse4_2,ssse3,aes,pclmulqdq,avx,avx2,fma,"
    "f16c,bmi1,bmi2,adx,sha_ni,vaes,vpclmulqdq,clflushopt,clwb,movbe,abm "
    "nofsgsbase nopcid noinvpcid mitigations=off reboot=k printk.devkmsg=on"
)


def log(msg):
    print(f"[host {time.monotonic() - T0:7.2f}s] {msg}", flush=True)


T0 = time.monotonic()


def pattern(off, length, seed):
    """The disk pattern: byte at offset o is (o*7) ^ (o>>9) ^ seed (mod 256)."""
    return bytes((((o * 7) ^ (o >> 9) ^ seed) & 0xFF) for o in range(off, off + length))


def skip(reason):
    print(f"SKIP: {reason}", flush=True)
    sys.exit(SKIP)


# ---- outer: the network namespace around everything ----


def remove_stale_namespaces():
    """Deletes namespaces left by earlier runs that were killed (e.g. by a ctest timeout)."""
    try:
        names = os.listdir("/run/netns")
    except OSError:
        return
    for name in names:
        m = re.fullmatch(r"cocoon-lg-(\d+)", name)
        if m and not os.path.exists(f"/proc/{m.group(1)}"):
            subprocess.run(["ip", "netns", "del", name], check=False)


def run_outer(args):
    why = kvm_problem()
    if why:
        skip(why + ": the Linux guest test needs KVM")
    if os.geteuid() != 0 or not shutil.which("ip"):
        skip("needs root and iproute2 for a test network namespace with a tap")
    for f in (args.cocoon, args.kernel, args.initramfs):
        if not os.path.exists(f):
            print(f"FAIL: {f} does not exist (the kernel comes from the linux_guest_kernel "
                  "fixture: tests/scripts/build-linux-guest.sh)", flush=True)
            return 1
    remove_stale_namespaces()
    ns = f"cocoon-lg-{os.getpid()}"
    try:
        subprocess.run(["ip", "netns", "add", ns], check=True)
    except (subprocess.CalledProcessError, OSError) as e:
        skip(f"cannot create a network namespace ({e})")
    try:
        for cmd in (
            ["ip", "link", "set", "lo", "up"],
            ["ip", "tuntap", "add", "dev", TAP, "mode", "tap"],
            ["ip", "addr", "add", f"{PEER_IP}/24", "dev", TAP],
            ["ip", "link", "set", TAP, "up"],
        ):
            subprocess.run(["ip", "netns", "exec", ns] + cmd, check=True)
        inner = [sys.executable, os.path.abspath(__file__), "--inside"] + sys.argv[1:]
        return subprocess.call(["ip", "netns", "exec", ns] + inner)
    finally:
        subprocess.run(["ip", "netns", "del", ns], check=False)


# ---- inner: host-side peers, cocoon, and the verdict ----


class Results:
    def __init__(self):
        self.lock = threading.Lock()
        self.checks = {}  # name -> (ok, detail)

    def set(self, name, ok, detail):
        with self.lock:
            self.checks[name] = (ok, detail)


class UdpPeer(threading.Thread):
    """Echoes every datagram from the guest back to it (the peer on the tap)."""

    def __init__(self):
        super().__init__(daemon=True)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((PEER_IP, UDP_PORT))
        self.sock.settimeout(0.5)
        self.count = 0
        self.bytes = 0
        self.stop = False

    def run(self):
        while not self.stop:
            try:
                data, addr = self.sock.recvfrom(65536)
            except socket.timeout:
                continue
            except OSError:
                return
            if addr[0] == GUEST_IP:
                self.count += 1
                self.bytes += len(data)
                self.sock.sendto(data, addr)


class VsockListener(threading.Thread):
    """The host service at <socket>_1025: answers the guest's line with "ack " + line."""

    def __init__(self, path):
        super().__init__(daemon=True)
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(path)
        self.sock.listen(4)
        self.sock.settimeout(0.5)
        self.lines = []
        self.stop = False

    def run(self):
        while not self.stop:
            try:
                conn, _ = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            with conn:
                conn.settimeout(30)
                data = b""
                try:
                    while b"\n" not in data and len(data) < 4096:
                        chunk = conn.recv(4096)
                        if not chunk:
                            break
                        data += chunk
                    line = data.split(b"\n", 1)[0]
                    self.lines.append(line)
                    conn.sendall(b"ack " + line + b"\n")
                except OSError as e:
                    log(f"vsock listener: {e}")


def hybrid_connect(path, port, timeout=30):
    """Dials the hybrid vsock socket with Kata's exact bytes; returns (socket, OK line)."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect(path)
    s.sendall(f"CONNECT {port}\n".encode())
    line = b""
    while not line.endswith(b"\n"):
        c = s.recv(1)  # one byte at a time: nothing after the line is consumed
        if not c:
            break
        line += c
        if len(line) > 64:
            break
    return s, line


def vsock_echo(path, port, nbytes, results, prefix="host_vsock"):
    """CONNECT, check OK, then push nbytes of random data and read them back byte-exact."""
    s = None
    line = b""
    for attempt in range(5):
        try:
            s, line = hybrid_connect(path, port)
        except OSError as e:
            line = f"({e})".encode()
            s = None
        if line.startswith(b"OK"):
            break
        if s:
            s.close()
            s = None
        time.sleep(1)
    ok_line = line.startswith(b"OK")
    results.set(f"{prefix}_connect_ok", ok_line, f"reply to CONNECT {port}: {line!r}")
    if not ok_line:
        results.set(f"{prefix}_echo", False, "no connection")
        return
    payload = os.urandom(nbytes)
    s.settimeout(240)
    send_err = []

    def sender():
        try:
            s.sendall(payload)
        except OSError as e:
            send_err.append(e)

    t = threading.Thread(target=sender, daemon=True)
    start = time.monotonic()
    t.start()
    got = bytearray()
    err = None
    try:
        while len(got) < nbytes:
            chunk = s.recv(min(1 << 16, nbytes - len(got)))
            if not chunk:
                err = "connection closed early"
                break
            got += chunk
    except OSError as e:
        err = str(e)
    t.join(5)
    dt = time.monotonic() - start
    s.close()
    exact = bytes(got) == payload
    detail = f"{len(got)} of {nbytes} bytes back in {dt:.1f} s, byte-exact={exact}"
    if err or send_err:
        detail += f" ({err or send_err[0]})"
    results.set(f"{prefix}_echo", exact and not err and not send_err, detail)


class Console:
    """Follows the serial console file, echoing it and remembering interesting lines."""

    def __init__(self, path):
        self.path = path
        self.pos = 0
        self.partial = b""
        self.lines = []
        self.marks = {}  # first time (s since cocoon start) a marker was seen

    def poll(self, t_start, markers):
        try:
            with open(self.path, "rb") as f:
                f.seek(self.pos)
                data = f.read()
        except FileNotFoundError:
            return []
        self.pos += len(data)
        data = self.partial + data
        parts = data.split(b"\n")
        self.partial = parts.pop()
        new = []
        for raw in parts:
            line = raw.decode("utf-8", "replace").rstrip("\r")
            print(f"guest| {line}", flush=True)
            self.lines.append(line)
            new.append(line)
            for m in markers:
                if m in line and m not in self.marks:
                    self.marks[m] = time.monotonic() - t_start
        return new


# Kernel messages that mean a driver or the kernel itself objected to what cocoon did.
KERNEL_TROUBLE = re.compile(r"Kernel panic|BUG: |WARNING: |Oops|Call Trace|is not a head|"
                            r"virtio\S* .*(broken|failed|error)|hung_task|soft lockup")


def check_kernel_clean(console, results):
    bad = [ln for ln in console.lines if KERNEL_TROUBLE.search(ln) and "cocoon-init:" not in ln]
    results.set("guest_kernel_clean", not bad,
                "; ".join(bad[:3]) if bad else "no panic, BUG, WARNING, Oops or virtio complaint")


def make_images(tmp):
    ro = os.path.join(tmp, "ro.img")
    rw = os.path.join(tmp, "rw.img")
    with open(ro, "wb") as f:
        f.write(pattern(0, RO_SIZE, RO_SEED))
    with open(rw, "wb") as f:
        f.write(pattern(0, RW_SIZE, RW_SEED_BEFORE))
    return ro, rw


def check_images(ro, rw, results):
    with open(ro, "rb") as f:
        data = f.read()
    results.set("host_ro_image_unchanged", data == pattern(0, RO_SIZE, RO_SEED),
                f"{ro}: {len(data)} bytes, equal to the pattern it was created with: "
                f"{data == pattern(0, RO_SIZE, RO_SEED)}")
    with open(rw, "rb") as f:
        data = f.read()
    want = bytearray(pattern(0, RW_SIZE, RW_SEED_BEFORE))
    want[RW_WRITE_OFFSET:RW_WRITE_OFFSET + RW_WRITE_LEN] = pattern(RW_WRITE_OFFSET, RW_WRITE_LEN,
                                                                   RW_SEED_GUEST)
    if data == bytes(want):
        results.set("host_rw_image_bytes", True,
                    f"{RW_WRITE_LEN} guest bytes at {RW_WRITE_OFFSET}, the rest untouched")
    else:
        first = next((i for i in range(min(len(data), len(want))) if data[i] != want[i]),
                     min(len(data), len(want)))
        results.set("host_rw_image_bytes", False,
                    f"image differs from expectation first at offset {first} (size {len(data)})")


def guest_cmdline(mode):
    extra = (f"cocoon_test.mode={mode} cocoon_test.blk=2 cocoon_test.net=1 cocoon_test.vsock=1 "
             f"cocoon_test.ip={GUEST_IP} cocoon_test.peer={PEER_IP} cocoon_test.udp={UDP_PORT} "
             f"cocoon_test.listen={LISTEN_PORT} cocoon_test.connect={CONNECT_PORT} "
             f"cocoon_test.control={CONTROL_PORT}")
    return f"{BASE_CMDLINE} {extra}"


def run_inner(args):
    results = Results()
    tmp = tempfile.mkdtemp(prefix="cocoon-linux-guest-")
    keep = False
    proc = None
    try:
        ro, rw = make_images(tmp)
        vsock_path = os.path.join(tmp, "vsock.sock")
        console_path = os.path.join(tmp, "console.log")
        peer = UdpPeer()
        peer.start()
        listener = VsockListener(f"{vsock_path}_{CONNECT_PORT}")
        listener.start()
        cmd = [
            args.cocoon,
            "--kernel", args.kernel,
            "--initramfs", args.initramfs,
            "--cmdline", guest_cmdline("checks"),
            "--cpus", "boot=1",
            "--memory", "size=256M",
            "--serial", f"file={console_path}",
            "--disk", f"path={ro},readonly=on,id=ro0",
            "--disk", f"path={rw},id=rw0",
            "--net", f"tap={TAP},mac={GUEST_MAC}",
            "--vsock", f"cid={VSOCK_CID},socket={vsock_path}",
        ] + (["-v"] if args.verbose else [])
        log("starting: " + " ".join(cmd))
        err_path = os.path.join(tmp, "cocoon.stderr")
        t_start = time.monotonic()
        with open(err_path, "wb") as errf:
            proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=errf, stderr=errf)
        console = Console(console_path)
        markers = ["Linux version", "Run /init", "cocoon-init: START", "cocoon-init: DONE",
                   "cocoon-init: READY vsock-listen"]
        echo_thread = None
        deadline = t_start + args.timeout
        done_at = None
        while time.monotonic() < deadline:
            for line in console.poll(t_start, markers):
                if "cocoon-init: READY vsock-listen" in line and echo_thread is None:
                    echo_thread = threading.Thread(
                        target=vsock_echo, args=(vsock_path, LISTEN_PORT, ECHO_BYTES, results),
                        daemon=True)
                    echo_thread.start()
                if "cocoon-init: DONE" in line and done_at is None:
                    done_at = time.monotonic()
            if proc.poll() is not None:
                break
            if done_at and time.monotonic() - done_at > 60:
                break
            time.sleep(0.1)
        console.poll(t_start, markers)
        t_end = time.monotonic() - t_start
        rc = proc.poll()
        if rc is None:
            log(f"cocoon still running after {t_end:.0f} s: terminating it")
            proc.terminate()
            try:
                rc = proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                rc = proc.wait()
            results.set("cocoon_exit", False, f"did not exit by itself (timeout {args.timeout} s)")
        else:
            # /init restarts the machine (reboot=k: the i8042 pulse), which cocoon ends with 3.
            results.set("cocoon_exit", rc == 3 and done_at is not None,
                        f"exit status {rc} after {t_end:.1f} s (3 = guest reset, expected after "
                        "/init's reboot)")
        if echo_thread:
            echo_thread.join(30)
        peer.stop = True
        listener.stop = True

        # Guest checks, from the console.
        seen = {}
        for line in console.lines:
            i = line.find("cocoon-init: CHECK ")
            if i < 0:
                continue
            parts = line[i + len("cocoon-init: CHECK "):].split(" ", 2)
            if len(parts) >= 2:
                seen[parts[0]] = (parts[1] == "PASS", parts[2] if len(parts) > 2 else "")
        for name in GUEST_CHECKS:
            ok, detail = seen.get(name, (False, "no CHECK line on the console"))
            results.set(f"guest_{name}", ok, detail)

        check_kernel_clean(console, results)

        # Host-side checks.
        check_images(ro, rw, results)
        results.set("host_udp_peer", peer.count >= 64,
                    f"peer {PEER_IP}:{UDP_PORT} echoed {peer.count} datagrams ({peer.bytes} "
                    "bytes) from the guest")
        want_line = f"hello from guest cid {VSOCK_CID} to port {CONNECT_PORT}".encode()
        results.set("host_vsock_listener_1025", want_line in listener.lines,
                    f"{vsock_path}_{CONNECT_PORT} received {listener.lines!r}")
        if "host_vsock_connect_ok" not in results.checks:
            results.set("host_vsock_connect_ok", False, "the guest never said it was listening")
            results.set("host_vsock_echo", False, "the guest never said it was listening")
        with open(err_path, "rb") as f:
            stderr = f.read().decode("utf-8", "replace")
        fatal = [ln for ln in stderr.splitlines() if "ERRO:" in ln or "error:" in ln]
        results.set("cocoon_no_errors", not fatal,
                    "; ".join(fatal[:3]) if fatal else "no error lines on cocoon's stderr")

        # Report.
        print("---- cocoon stderr ----")
        print(stderr[-6000:])
        print("---- timings (wall clock from cocoon start) ----")
        for m in markers:
            t = console.marks.get(m)
            print(f"  {m:34s} {'%.1f s' % t if t is not None else 'never'}")
        print(f"  {'cocoon exited':34s} {t_end:.1f} s")
        print("---- checks ----")
        failed = 0
        for name in sorted(results.checks):
            ok, detail = results.checks[name]
            failed += not ok
            print(f"  {'PASS' if ok else 'FAIL'} {name}: {detail}")
        print(f"{len(results.checks) - failed} passed, {failed} failed", flush=True)
        keep = failed and args.keep
        if keep:
            print(f"kept {tmp}")
        return 1 if failed else 0
    finally:
        if proc and proc.poll() is None:
            proc.kill()
            proc.wait()
        if not keep:
            shutil.rmtree(tmp, ignore_errors=True)


# ---- Kata clh driver replay (--kata-replay) ----

KATA_HEADERS = {"Host": "localhost", "User-Agent": "OpenAPI-Generator/1.0.0/go"}
TUNSETIFF = 0x400454CA
IFF_TAP, IFF_NO_PI, IFF_VNET_HDR, IFF_MULTI_QUEUE = 0x0002, 0x1000, 0x4000, 0x0100
KATA_TAP = "tap0_kata"


class UnixHTTPConnection(http.client.HTTPConnection):
    """The Go client's transport: HTTP/1.1 keep-alive over the API's Unix socket."""

    def __init__(self, path, timeout=5):
        super().__init__("localhost", timeout=timeout)
        self.unix_path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self.unix_path)


def api_call(conn, method, route, body=None):
    """One request as the generated Go client sends it; returns (status, parsed JSON or text)."""
    headers = dict(KATA_HEADERS)
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    elif method == "GET":
        headers["Accept"] = "application/json"
    else:
        data = b""  # Go sends Content-Length: 0 on body-less PUTs
    conn.request(method, "/api/v1/" + route, body=data, headers=headers)
    resp = conn.getresponse()
    raw = resp.read()
    ctype = resp.getheader("Content-Type", "")
    try:
        parsed = json.loads(raw) if raw else None
    except ValueError:
        parsed = raw.decode("utf-8", "replace")
    return resp.status, parsed, ctype


def open_kata_tap(name):
    """A tap the way Kata's createLink makes it: multi-queue defaults + vnet header, one queue."""
    fd = os.open("/dev/net/tun", os.O_RDWR | os.O_CLOEXEC)
    ifr = struct.pack("16sH", name.encode(), IFF_TAP | IFF_NO_PI | IFF_VNET_HDR | IFF_MULTI_QUEUE)
    fcntl.ioctl(fd, TUNSETIFF, ifr.ljust(40, b"\0"))
    return fd


def add_net_raw(path, fd, mac):
    """vm.add-net as Kata's vmAddNetPutRequest: one sendmsg carrying the request and the tap fd."""
    body = json.dumps({"ip": "192.168.249.1", "mask": "255.255.255.0", "mac": mac,
                       "iommu": False, "num_queues": 2, "queue_size": 256, "vhost_user": False,
                       "vhost_mode": "Client", "offload_tso": True, "offload_ufo": True,
                       "offload_csum": True}).encode()
    req = (b"PUT /api/v1/vm.add-net HTTP/1.1\r\nHost: localhost\r\n"
           b"Accept: application/json\r\nContent-Length: " + str(len(body)).encode() +
           b"\r\nContent-Type: application/json\r\n\r\n" + body)
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(5)
    s.connect(path)
    fds = array.array("i", [fd])
    s.sendmsg([req], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, fds.tobytes())])
    resp = http.client.HTTPResponse(s)
    resp.begin()
    raw = resp.read()
    s.close()
    return resp.status, raw


def kata_create_body(args, ro_image, vsock_path):
    """The spec's example vm.create body (plain guest) with this guest as the payload."""
    return {
        "cpus": {"boot_vcpus": 1, "max_vcpus": 1, "kvm_hyperv": False, "nested": True,
                 "topology": {"threads_per_core": 1, "cores_per_die": 1, "dies_per_package": 1,
                              "packages": 1}},
        "memory": {"size": 256 << 20, "mergeable": False, "hotplug_method": "Acpi",
                   "shared": False, "hugepages": False, "prefault": False, "thp": True},
        "payload": {"kernel": os.path.abspath(args.kernel),
                    "initramfs": os.path.abspath(args.initramfs),
                    "cmdline": guest_cmdline("agent")},
        "disks": [{"path": ro_image, "readonly": True, "direct": False, "iommu": False,
                   "num_queues": 1, "queue_size": 128, "vhost_user": False,
                   "backing_files": False, "sparse": True, "image_type": "Raw"}],
        "rng": {"src": "/dev/urandom", "iommu": False},
        "serial": {"mode": "Tty", "iommu": False},  # Kata in debug: the console on stdout
        "console": {"mode": "Off", "iommu": False},
        "vsock": {"cid": VSOCK_CID, "socket": vsock_path, "iommu": False},
        "iommu": False, "watchdog": False, "pvpanic": False, "landlock_enable": False,
        "platform": {"num_pci_segments": 2, "tdx": False, "sev_snp": False},
    }


def kata_dial_agent(vsock_path, results, budget):
    """Kata's HybridVSockDialer: CONNECT 1024, accept a line containing OK, else redial."""
    deadline = time.monotonic() + budget
    attempts = 0
    line = b""
    while time.monotonic() < deadline:
        attempts += 1
        try:
            s, line = hybrid_connect(vsock_path, LISTEN_PORT, timeout=10)
        except OSError as e:
            line = f"({e})".encode()
            time.sleep(0.5)
            continue
        if b"OK" in line:
            results.set("kata_agent_dial", True,
                        f"attempt {attempts}: {line!r} after {time.monotonic() - T0:.1f} s")
            return s
        s.close()
        time.sleep(0.5)
    results.set("kata_agent_dial", False, f"{attempts} attempts, last reply {line!r}")
    return None


def half_close_session(vsock_path, nbytes=300000):
    """Request, shutdown(SHUT_WR), read the whole answer until EOF: the guest's echo service
    (Linux's own vsock driver underneath) must see EOF and still deliver every byte."""
    try:
        s, line = hybrid_connect(vsock_path, LISTEN_PORT, timeout=10)
    except OSError as e:
        return False, f"CONNECT {LISTEN_PORT}: {e}"
    if not line.startswith(b"OK"):
        s.close()
        return False, f"CONNECT {LISTEN_PORT} got {line!r}"
    payload = os.urandom(nbytes)
    s.settimeout(120)
    got = bytearray()
    err = ""
    try:
        # Send and read together (the guest echoes while it reads), then half-close.
        sender = threading.Thread(target=lambda: (s.sendall(payload), s.shutdown(socket.SHUT_WR)),
                                  daemon=True)
        sender.start()
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            got += chunk
        sender.join(10)
    except OSError as e:
        err = f" ({e})"
    s.close()
    ok = bytes(got) == payload
    return ok, f"{len(got)} of {nbytes} bytes back after SHUT_WR, then EOF; exact={ok}{err}"


def guest_wait_disk(vsock_path, bdf, t_answer, timeout_s):
    """What Kata's agent does for a hot-plugged volume: no rescan, wait up to 3 s (its
    hotplug_timeout) for the kernel's block uevent under that PCI address, then read the disk.
    The control port is redialled as Kata redials its agent: while the guest enumerates the new
    function here (emulated ring 0: seconds), it may not answer a vsock connect in time."""
    s, line, attempts = None, b"", 0
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        attempts += 1
        try:
            s, line = hybrid_connect(vsock_path, CONTROL_PORT)
        except OSError as e:
            s, line = None, f"({e})".encode()
        if s and line.startswith(b"OK"):
            break
        if s:
            s.close()
            s = None
        time.sleep(0.5)
    if not s:
        return False, f"control port: CONNECT {CONTROL_PORT} got {line!r} ({attempts} attempts)"
    s.settimeout(60)
    reply = b""
    t_sent = time.monotonic()
    try:
        s.sendall(f"WAIT {bdf} {int(timeout_s * 1000)}\n".encode())
        while not reply.endswith(b"\n"):
            chunk = s.recv(256)
            if not chunk:
                break
            reply += chunk
    except OSError as e:
        reply += f" ({e})".encode()
    t_reply = time.monotonic()
    s.close()
    words = reply.decode("utf-8", "replace").split()
    want = pattern(0, 32, RW_SEED_BEFORE).hex()
    ok = len(words) == 6 and words[0] == "DISK" and words[2] == str(RW_SIZE) and words[3] == want
    timing = ""
    if ok:
        # The uevents' times in the guest relative to the WAIT's arrival, plus the host's time
        # from the vm.add-disk answer to sending WAIT: the hot-add to uevent latencies.
        base = (t_sent - t_answer) * 1000
        pci = f"{base + float(words[5]):.0f} ms" if words[5] != "-" else "not seen"
        in_kata = float(words[4]) <= HOTPLUG_TIMEOUT_S * 1000
        timing = (f"; after the vm.add-disk answer: PCI function add uevent {pci}, block uevent "
                  f"{base + float(words[4]):.0f} ms; WAIT sent after {attempts} dial(s), answered "
                  f"{(t_reply - t_sent) * 1000:.0f} ms later; within Kata's "
                  f"{HOTPLUG_TIMEOUT_S} s of the request: {'yes' if in_kata else 'NO'}")
    return ok, (f"guest waited (no rescan, {timeout_s:g} s) for the block uevent: "
                f"{reply.strip()!r} (want DISK vdX {RW_SIZE} {want[:16]}... ms pci_ms){timing}")


def run_kata_replay(args):
    results = Results()
    tmp = tempfile.mkdtemp(prefix="cocoon-kata-replay-")
    proc = None
    try:
        ro, rw = make_images(tmp)
        api = os.path.join(tmp, "clh-api.sock")
        vsock_path = os.path.join(tmp, "clh.sock")
        out_path = os.path.join(tmp, "cocoon.out")
        cmd = [args.cocoon, "--api-socket", api] + (["-v"] if args.verbose else [])
        log("starting: " + " ".join(cmd))
        with open(out_path, "wb") as out:
            proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=out)
        console = Console(out_path)

        # Launch wait: ping every 10 ms for up to 10 s, checking the pid is alive.
        conn = UnixHTTPConnection(api)
        pinged = None
        start = time.monotonic()
        while time.monotonic() - start < 10 and proc.poll() is None:
            try:
                st, body, ctype = api_call(conn, "GET", "vmm.ping")
                pinged = (st, body, ctype)
                break
            except OSError:
                conn.close()
                time.sleep(0.01)
        ok = (pinged is not None and pinged[0] == 200 and isinstance(pinged[1], dict) and
              "version" in pinged[1] and "application/json" in pinged[2])
        results.set("kata_ping", ok, f"{pinged} after {time.monotonic() - start:.2f} s")
        if not ok:
            return finish_replay(results, proc, console, tmp, args)

        st, body, _ = api_call(conn, "PUT", "vm.create", kata_create_body(args, ro, vsock_path))
        results.set("kata_vm_create", st < 300, f"status {st} {body!r}")
        st, body, _ = api_call(conn, "GET", "vm.info")
        state = body.get("state") if isinstance(body, dict) else None
        results.set("kata_info_created", st == 200 and state == "Created",
                    f"status {st} state {state!r}")

        subprocess.run(["ip", "link", "del", KATA_TAP], stderr=subprocess.DEVNULL, check=False)
        tapfd = open_kata_tap(KATA_TAP)
        subprocess.run(["ip", "link", "set", KATA_TAP, "up"], check=False)
        st, raw = add_net_raw(api, tapfd, GUEST_MAC)
        os.close(tapfd)  # cocoon holds its own duplicate now
        results.set("kata_add_net_scm_rights", st in (200, 204), f"status {st} {raw[:200]!r}")

        st, body, _ = api_call(conn, "PUT", "vm.boot")
        results.set("kata_vm_boot", st < 300, f"status {st} {body!r}")
        st, body, _ = api_call(conn, "GET", "vm.info")
        state = body.get("state") if isinstance(body, dict) else None
        results.set("kata_info_running", st == 200 and state == "Running",
                    f"status {st} state {state!r}")
        conn.close()

        # The agent: Kata redials for its dial_timeout (45 s on clh); this emulated boot takes
        # ~30 s to reach /init, so allow more before calling it a failure.
        agent = None
        if state == "Running":
            agent = kata_dial_agent(vsock_path, results, budget=args.timeout / 2)
        if agent:
            payload = b"ttrpc-ish " + os.urandom(64 << 10)
            agent.settimeout(60)
            got = b""
            try:
                agent.sendall(payload)
                while len(got) < len(payload):
                    chunk = agent.recv(65536)
                    if not chunk:
                        break
                    got += chunk
            except OSError as e:
                log(f"agent echo: {e}")
            agent.close()
            results.set("kata_agent_echo", got == payload,
                        f"{len(got)} of {len(payload)} bytes back, byte-exact={got == payload}")
            results.set("kata_half_close", *half_close_session(vsock_path))
        else:
            results.set("kata_agent_echo", False, "agent not reached")
            results.set("kata_half_close", False, "agent not reached")

        conn = UnixHTTPConnection(api)
        st, body, _ = api_call(conn, "PUT", "vm.add-disk",
                               {"path": rw, "readonly": False, "image_type": "Raw",
                                "vhost_user": False, "num_queues": 1, "queue_size": 1024,
                                "iommu": False, "backing_files": False, "sparse": True})
        t_added = time.monotonic()
        bdf = body.get("bdf") if isinstance(body, dict) else None
        did = body.get("id") if isinstance(body, dict) else None
        results.set("kata_add_disk_bdf",
                    st == 200 and bool(did) and bool(bdf) and
                    re.fullmatch(r"0000:00:[0-9a-f]{2}\.0", bdf or "") is not None,
                    f"status {st} {body!r}")

        # What Kata's agent does next: wait for the kernel's uevent of the disk at that BDF.
        if bdf and agent:
            results.set("kata_hotplug_disk_in_guest",
                        *guest_wait_disk(vsock_path, bdf, t_added, args.hotplug_timeout))
        else:
            results.set("kata_hotplug_disk_in_guest", False, "no BDF or no agent")

        st, _, _ = api_call(conn, "GET", "vmm.ping")
        st2, body, _ = api_call(conn, "PUT", "vmm.shutdown")
        t_shut = time.monotonic()
        conn.close()
        try:
            rc = proc.wait(3)
            took = time.monotonic() - t_shut
            results.set("kata_vmm_shutdown_exit", st2 < 300,
                        f"status {st2}; exited with {rc} {took:.2f} s later")
        except subprocess.TimeoutExpired:
            results.set("kata_vmm_shutdown_exit", False,
                        f"status {st2}; still running 3 s later (Kata would SIGKILL it)")
        results.set("kata_api_socket_removed", not os.path.exists(api),
                    f"{api} {'still exists' if os.path.exists(api) else 'removed'}")
        return finish_replay(results, proc, console, tmp, args)
    except Exception as e:  # a protocol surprise is a failed check, with its reason
        results.set("kata_replay_ran", False, f"{type(e).__name__}: {e}")
        return finish_replay(results, proc, console if proc else None, tmp, args)


def finish_replay(results, proc, console, tmp, args):
    if proc and proc.poll() is None:
        proc.kill()
        proc.wait()
    if console:
        console.poll(T0, [])
        check_kernel_clean(console, results)
        errors = [ln for ln in console.lines if ln.startswith("cocoon[") and " ERRO:" in ln]
        results.set("kata_cocoon_no_errors", not errors,
                    "; ".join(errors[:3]) if errors else "no error lines from cocoon")
        ready = [ln for ln in console.lines if "cocoon-init: READY agent" in ln]
        results.set("kata_guest_agent_ready", bool(ready),
                    ready[0].strip() if ready else "the guest's agent never said READY")
    print("---- checks ----")
    failed = 0
    for name in sorted(results.checks):
        ok, detail = results.checks[name]
        failed += not ok
        print(f"  {'PASS' if ok else 'FAIL'} {name}: {detail}")
    print(f"{len(results.checks) - failed} passed, {failed} failed", flush=True)
    if failed and args.keep:
        print(f"kept {tmp}")
    else:
        shutil.rmtree(tmp, ignore_errors=True)
    return 1 if failed else 0


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--cocoon", required=True)
    ap.add_argument("--kernel", required=True)
    ap.add_argument("--initramfs", required=True)
    ap.add_argument("--timeout", type=float, default=540, help="seconds for the whole guest run")
    ap.add_argument("--verbose", action="store_true", help="run cocoon with -v")
    ap.add_argument("--keep", action="store_true", help="keep the temporary folder on failure")
    ap.add_argument("--kata-replay", action="store_true",
                    help="replay Kata's clh driver against this guest as the agent end")
    ap.add_argument("--hotplug-timeout", type=float, default=HOTPLUG_TIMEOUT_S,
                    help="seconds the guest agent waits for a hot-added disk's uevent (default: "
                         "Kata's 3)")
    ap.add_argument("--inside", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if not args.inside:
        sys.exit(run_outer(args))
    sys.exit(run_kata_replay(args) if args.kata_replay else run_inner(args))


if __name__ == "__main__":
    main()
