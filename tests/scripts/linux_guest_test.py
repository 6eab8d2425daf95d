#!/usr/bin/env python3
# linux_guest_test.py: boots the real Linux test guest under cocoon and checks its virtio devices from both sides.
"""Boots tests/linux-guest (a minimal Linux + static /init) under `cocoon` with two disks (one
read-only), a tap in a private network namespace and hybrid vsock, then asserts every check the
guest prints on its console and the host side of each: the image files' bytes, the UDP peer on the
tap, the vsock echo reached with Kata's bytes (`CONNECT 1024\\n` -> `OK`), and the guest's
connection to `<socket>_1025`.

Exit status: 0 all checks passed, 1 a check failed, 77 skipped (no /dev/kvm, or not root for
the network namespace). Needs only the Python 3 standard library and iproute2.
"""

import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time

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
ECHO_BYTES = (1 << 20) + 12345  # at least 1 MiB, and not a multiple of any buffer size

GUEST_CHECKS = [
    "pci_enumerate",
    "pci_bind_virtio_pci",
    "virtio_net_bound",
    "virtio_blk_bound",
    "virtio_vsock_bound",
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


def kvm_usable():
    try:
        fd = os.open("/dev/kvm", os.O_RDWR | os.O_CLOEXEC)
    except OSError as e:
        return f"/dev/kvm is not usable ({e.strerror})"
    os.close(fd)
    return None


# ---- outer: the network namespace around everything ----


def run_outer(args):
    why = kvm_usable()
    if why:
        skip(why + ": the Linux guest test needs KVM")
    for f in (args.cocoon, args.kernel, args.initramfs):
        if not os.path.exists(f):
            print(f"FAIL: {f} does not exist (the kernel comes from the linux_guest_kernel "
                  "fixture: tests/scripts/build-linux-guest.sh)", flush=True)
            return 1
    if os.geteuid() != 0 or not shutil.which("ip"):
        skip("needs root and iproute2 for a test network namespace with a tap")
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
             f"cocoon_test.listen={LISTEN_PORT} cocoon_test.connect={CONNECT_PORT}")
    return f"{BASE_CMDLINE} {extra}"


def run_inner(args):
    results = Results()
    tmp = tempfile.mkdtemp(prefix="cocoon-linux-guest-")
    keep = False
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
        fatal = [ln for ln in stderr.splitlines() if "error:" in ln]
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
        if not keep:
            shutil.rmtree(tmp, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--cocoon", required=True)
    ap.add_argument("--kernel", required=True)
    ap.add_argument("--initramfs", required=True)
    ap.add_argument("--timeout", type=float, default=420, help="seconds for the whole guest run")
    ap.add_argument("--verbose", action="store_true", help="run cocoon with -v")
    ap.add_argument("--keep", action="store_true", help="keep the temporary folder on failure")
    ap.add_argument("--inside", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    sys.exit(run_inner(args) if args.inside else run_outer(args))


if __name__ == "__main__":
    main()
