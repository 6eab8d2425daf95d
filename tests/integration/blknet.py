#!/usr/bin/env python3
"""blknet.py: virtio-blk / virtio-net integration tests: cocoon under real KVM with test guests.

Usage: blknet.py CASE COCOON_BIN GUEST_DIR

Cases: blk_rw_verify, blk_flush_durability, blk_hostile, blk_multiqueue and blk_hotplug (the
last two through the control API, as Kata drives cocoon) with guest_blk.elf, and net_tap_exchange,
net_hostile (guest_net.elf). Each prepares the disks or a tap in a private network namespace,
runs cocoon with the guest, checks every "CHECK name PASS|FAIL" line the guest prints and then
the host side (image bytes, frames received by the peer). Exit 0 pass, 1 fail, 77 skipped (no
/dev/kvm; for net: not root or no netns/tap support). Python 3 standard library and iproute2 only.
"""
import fcntl
import hashlib
import json
import os
import re
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time

SKIP = 77
SECTOR = 512
BAD_LOG = re.compile(r"\bERRO:|\berror:|unhandled|could not emulate|VM entry failed|KVM_RUN failed")


def pattern(seed, off, length):
    """Shared with tests/guest/blk_guest.c: byte = seed ^ (off * 131) ^ (off >> 9)."""
    return bytes((seed ^ ((o * 131) & 0xFF) ^ ((o >> 9) & 0xFF)) & 0xFF for o in range(off, off + length))


def skip(msg):
    print(f"SKIP: {msg}")
    sys.exit(SKIP)


class Result:
    def __init__(self):
        self.failed = 0

    def check(self, name, ok, detail=""):
        print(f"{'PASS' if ok else 'FAIL'} {name}: {detail}", flush=True)
        if not ok:
            self.failed += 1


class Cocoon:
    """One cocoon run with the serial console in a file and stderr in a log."""

    def __init__(self, binary, guest, tmp, args, cmdline, prefix=None, verbose=True, pass_fds=()):
        self.serial = os.path.join(tmp, "serial.out")
        self.log = os.path.join(tmp, "cocoon.log")
        cmd = list(prefix or []) + [binary, "--kernel", guest, "--cmdline", cmdline,
                                    "--memory", "size=64M", "--cpus", "boot=1",
                                    "--serial", f"file={self.serial}"] + args
        if verbose:
            cmd.append("-v")
        print("running:", " ".join(cmd), flush=True)
        self.logf = open(self.log, "wb")
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=self.logf,
                                     stderr=self.logf, pass_fds=pass_fds)
        self.start = time.monotonic()

    def console(self):
        try:
            with open(self.serial, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def logtext(self):
        with open(self.log, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def wait_line(self, text, timeout):
        while time.monotonic() - self.start < timeout:
            if text in self.console():
                return True
            if self.proc.poll() is not None:
                return text in self.console()
            time.sleep(0.005)
        return False

    def wait_exit(self, timeout):
        try:
            return self.proc.wait(timeout=max(1, timeout - (time.monotonic() - self.start)))
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            return None

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.logf.close()

    def dump(self):
        print("---- console ----\n" + self.console()[-3000:])
        print("---- cocoon log ----\n" + self.logtext()[-3000:])


def guest_checks(res, run, expected):
    """Turns the guest's CHECK lines into results; every expected name must appear."""
    seen = {}
    for m in re.finditer(r"^CHECK (\S+) (PASS|FAIL) ?(.*)$", run.console(), re.M):
        seen[m.group(1)] = (m.group(2) == "PASS", m.group(3))
    for name in expected:
        ok, detail = seen.get(name, (False, "not reported by the guest"))
        res.check("guest_" + name, ok, detail)
    for name in sorted(set(seen) - set(expected)):
        res.check("guest_" + name, seen[name][0], seen[name][1])


def no_errors(res, run):
    bad = [l for l in run.logtext().splitlines() if BAD_LOG.search(l)]
    res.check("cocoon_no_errors", not bad, "; ".join(bad[:3]) or "no error lines")


def make_image(path, seed, size):
    with open(path, "wb") as f:
        f.write(pattern(seed, 0, size))


def sha(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


# ---------------------------------------------------------------- blk

def blk_rw_verify(binary, guests, tmp, res, direct=False):
    rw, ro = os.path.join(tmp, "rw.img"), os.path.join(tmp, "ro.img")
    make_image(rw, 0x33, 1 << 20)
    make_image(ro, 0x5A, 256 << 10)
    ro_before = sha(ro)
    opt = ",direct=on" if direct else ""
    run = Cocoon(binary, os.path.join(guests, "guest_blk.elf"), tmp,
                 ["--disk", f"path={rw},id=cocoon-rw-disk{opt}",
                  "--disk", f"path={ro},readonly=on,id=ro0{opt}"],
                 "mode=1")
    status = run.wait_exit(120)
    run.stop()
    res.check("cocoon_exit", status == 0, f"exit status {status}")
    guest_checks(res, run, ["blk_capacity", "blk_ro_feature", "blk_read_known", "blk_read_ro_tail",
                            "blk_write_flush_readback", "blk_get_id", "blk_get_id_ro",
                            "blk_ro_write_ioerr", "blk_past_end_ioerr", "blk_write_zeroes_discard",
                            "blk_unknown_type_unsupp"])
    no_errors(res, run)
    with open(rw, "rb") as f:
        data = f.read()
    want = bytearray(pattern(0x33, 0, 1 << 20))
    want[16 * SECTOR:32 * SECTOR] = pattern(0xC7, 16 * SECTOR, 16 * SECTOR)
    zeroed = 16 if "INFO discard=1" in run.console() else 8  # write-zeroes 40..47, discard 48..55
    want[40 * SECTOR:(40 + zeroed) * SECTOR] = bytes(zeroed * SECTOR)
    diff = next((i for i in range(len(want)) if data[i] != want[i]), -1) if data != want else -1
    res.check("host_rw_image_bytes", bytes(want) == data,
              f"{len(data)} bytes; sectors 16..31 carry the guest's pattern, 40..{39 + zeroed} are "
              f"zeroes, the rest untouched; "
              f"first difference at {diff}")
    res.check("host_ro_image_unchanged", sha(ro) == ro_before, "sha256 before == after")
    if res.failed:
        run.dump()


def blk_direct(binary, guests, tmp, res):
    """blk_rw_verify with both disks direct=on (O_DIRECT; the guest's buffers bounce if unaligned)."""
    probe = os.path.join(tmp, "probe")
    try:
        fd = os.open(probe, os.O_CREAT | os.O_RDWR | os.O_DIRECT)
        os.close(fd)
    except OSError:
        skip(f"{tmp}: the file system has no O_DIRECT")
    blk_rw_verify(binary, guests, tmp, res, direct=True)


def blk_image_conflicts(binary, guests, tmp, res):
    """The same image twice in one VM is refused as such, at start, in one line, status 1."""
    img = os.path.join(tmp, "img")
    make_image(img, 0x11, 64 << 10)
    out = subprocess.run([binary, "--kernel", os.path.join(guests, "guest_blk.elf"), "--memory",
                          "size=64M", "--serial", "off", "--disk", f"path={img},id=a", "--disk",
                          f"path={img},id=b"], capture_output=True, text=True, timeout=60)
    res.check("refused", out.returncode != 0, f"exit status {out.returncode}")
    res.check("named_as_same_image_twice", "the same image twice" in out.stderr,
              out.stderr.strip()[-300:])
    res.check("not_another_process", "another process" not in out.stderr, "")


def blk_flush_durability(binary, guests, tmp, res):
    rw = os.path.join(tmp, "rw.img")
    make_image(rw, 0x33, 1 << 20)
    run = Cocoon(binary, os.path.join(guests, "guest_blk.elf"), tmp,
                 ["--disk", f"path={rw},id=cocoon-rw-disk"], "mode=2")
    flushed = run.wait_line("FLUSHED", 120)
    if flushed:
        run.proc.send_signal(signal.SIGKILL)  # right after the flush completed
    killed_at = time.monotonic() - run.start
    status = run.wait_exit(30)
    run.stop()
    res.check("guest_flushed", flushed, f"'FLUSHED' on the console after {killed_at:.2f} s")
    res.check("cocoon_killed", status == -signal.SIGKILL, f"exit status {status}")
    with open(rw, "rb") as f:
        data = f.read()
    off, length = 64 * SECTOR, 64 * SECTOR
    res.check("host_flushed_data_in_file", data[off:off + length] == pattern(0xD1, off, length),
              f"{length} bytes at {off} equal the guest's pattern")
    res.check("host_rest_untouched",
              data[:off] == pattern(0x33, 0, off) and
              data[off + length:] == pattern(0x33, off + length, len(data) - off - length),
              "bytes outside the written range unchanged")
    if res.failed:
        run.dump()


def blk_hostile(binary, guests, tmp, res):
    d0, d1 = os.path.join(tmp, "d0.img"), os.path.join(tmp, "d1.img")
    make_image(d0, 0x33, 1 << 20)
    make_image(d1, 0x5A, 256 << 10)
    before = sha(d0)
    run = Cocoon(binary, os.path.join(guests, "guest_blk.elf"), tmp,
                 ["--disk", f"path={d0},id=victim", "--disk", f"path={d1},readonly=on,id=bystander"],
                 "mode=3")
    status = run.wait_exit(240)
    run.stop()
    res.check("cocoon_exit", status == 0, f"exit status {status} (0: the guest finished every case)")
    cases = ["blk_head_only_chain", "blk_malformed_requests", "blk_hostile_loop",
             "blk_hostile_next_oob", "blk_hostile_head_oob", "blk_hostile_outside_ram",
             "blk_hostile_wrap", "blk_hostile_indirect", "blk_hostile_avail_jump",
             "blk_hostile_zero_len", "blk_hostile_huge_len", "blk_recovers_after_reset"]
    guest_checks(res, run, cases)
    no_errors(res, run)
    log = run.logtext()
    resets = len(re.findall(r"virtio-blk: guest error, device needs reset", log))
    res.check("host_needs_reset_logged", resets >= 1, f"{resets} rate-limited log line(s)")
    res.check("host_image_unchanged", sha(d0) == before, "no hostile case wrote the disk")
    if res.failed:
        run.dump()


def api_call(sock_path, method, route, body=None):
    """One HTTP/1.1 request on cocoon's API socket; returns (status, body text)."""
    data = json.dumps(body).encode() if body is not None else b""
    with socket.socket(socket.AF_UNIX) as s:
        s.settimeout(10)
        s.connect(sock_path)
        s.sendall(f"{method} /api/v1/{route} HTTP/1.1\r\nHost: localhost\r\n"
                  f"Content-Type: application/json\r\nContent-Length: {len(data)}\r\n\r\n"
                  .encode() + data)
        reply = b""
        while b"\r\n\r\n" not in reply:
            chunk = s.recv(65536)
            if not chunk:
                break
            reply += chunk
        head, _, rest = reply.partition(b"\r\n\r\n")
        m = re.search(rb"Content-Length: *(\d+)", head, re.I)
        need = int(m.group(1)) if m else 0
        while len(rest) < need:
            chunk = s.recv(65536)
            if not chunk:
                break
            rest += chunk
    status = int(head.split(b" ")[1]) if head.startswith(b"HTTP/1.1 ") else 0
    return status, rest.decode("utf-8", "replace")


def blk_multiqueue(binary, guests, tmp, res):
    """Queues and queue size as configured: Kata sets them through vm.create."""
    img = os.path.join(tmp, "mq.img")
    make_image(img, 0x33, 1 << 20)
    serial, log, api = (os.path.join(tmp, n) for n in ("serial.out", "cocoon.log", "api.sock"))
    with open(log, "wb") as logf:
        proc = subprocess.Popen([binary, "--api-socket", api, "-v"], stdin=subprocess.DEVNULL,
                                stdout=logf, stderr=logf)
    try:
        for _ in range(200):
            if os.path.exists(api):
                break
            time.sleep(0.01)
        cfg = {"cpus": {"boot_vcpus": 1, "max_vcpus": 1}, "memory": {"size": 64 << 20},
               "payload": {"kernel": os.path.join(guests, "guest_blk.elf"), "cmdline": "mode=4"},
               "disks": [{"path": img, "id": "mq0", "num_queues": 4, "queue_size": 64}],
               "serial": {"mode": "File", "file": serial}}
        st_create = api_call(api, "PUT", "vm.create", cfg)
        st_info = api_call(api, "GET", "vm.info")
        st_boot = api_call(api, "PUT", "vm.boot")
        res.check("api_create_boot", st_create[0] == 204 and st_boot[0] == 204,
                  f"vm.create {st_create}, vm.boot {st_boot}")
        info = json.loads(st_info[1]) if st_info[0] == 200 else {}
        disk = (info.get("config", {}).get("disks") or [{}])[0]
        res.check("api_disk_config", disk.get("num_queues") == 4 and disk.get("queue_size") == 64,
                  f"vm.info disk: {disk}")
        try:
            status = proc.wait(timeout=120)
        except subprocess.TimeoutExpired:
            status = None
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()

    class Run:  # what guest_checks/no_errors need
        def console(self):
            with open(serial, "rb") as f:
                return f.read().decode("utf-8", "replace")

        def logtext(self):
            with open(log, "rb") as f:
                return f.read().decode("utf-8", "replace")
    run = Run()
    res.check("cocoon_exit", status == 0, f"exit status {status}")
    guest_checks(res, run, ["blk_mq_config", "blk_mq_io"])
    no_errors(res, run)
    with open(img, "rb") as f:
        data = f.read()
    res.check("host_image_bytes", data[16 * SECTOR:24 * SECTOR] == pattern(0xC7, 16 * SECTOR, 4096),
              "the write through queue 3 reached the file")
    if res.failed:
        print("---- console ----\n" + run.console()[-3000:])
        print("---- cocoon log ----\n" + run.logtext()[-3000:])


def blk_hotplug(binary, guests, tmp, res):
    """vm.add-disk into a running guest, I/O on it, then vm.remove-device."""
    img = os.path.join(tmp, "hot.img")
    make_image(img, 0x33, 1 << 20)
    serial, log, api = (os.path.join(tmp, n) for n in ("serial.out", "cocoon.log", "api.sock"))

    def console():
        try:
            with open(serial, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def wait_for(text, proc, timeout):
        end = time.monotonic() + timeout
        while time.monotonic() < end and proc.poll() is None:
            if text in console():
                return True
            time.sleep(0.01)
        return text in console()

    with open(log, "wb") as logf:
        proc = subprocess.Popen([binary, "--api-socket", api, "-v"], stdin=subprocess.DEVNULL,
                                stdout=logf, stderr=logf)
    status = None
    try:
        for _ in range(200):
            if os.path.exists(api):
                break
            time.sleep(0.01)
        cfg = {"cpus": {"boot_vcpus": 1, "max_vcpus": 1}, "memory": {"size": 64 << 20},
               "payload": {"kernel": os.path.join(guests, "guest_blk.elf"), "cmdline": "mode=5"},
               "serial": {"mode": "File", "file": serial}}
        created = api_call(api, "PUT", "vm.create", cfg)
        booted = api_call(api, "PUT", "vm.boot")
        res.check("api_create_boot", created[0] == 204 and booted[0] == 204,
                  f"vm.create {created}, vm.boot {booted}")
        if wait_for("WAITING", proc, 60):
            added = api_call(api, "PUT", "vm.add-disk", {"path": img, "id": "hot0"})
            body = json.loads(added[1]) if added[0] == 200 else {}
            res.check("api_add_disk", added[0] == 200 and body.get("id") == "hot0" and
                      re.fullmatch(r"0000:00:[0-9a-f]{2}\.0", body.get("bdf", "")) is not None,
                      f"{added}")
            if wait_for("PLUGGED", proc, 60):
                unknown = api_call(api, "PUT", "vm.remove-device", {"id": "hot1"})
                res.check("api_remove_unknown_404", unknown[0] == 404, f"{unknown}")
                # The guest powers off as soon as it sees the function gone, and cocoon exits
                # with it; the client must still get its answer first.
                try:
                    removed = api_call(api, "PUT", "vm.remove-device", {"id": "hot0"})
                except OSError as e:
                    removed = (0, f"no answer: {e}")
                gone = "CHECK blk_hot_unplug_gone PASS" in console() or wait_for(
                    "CHECK blk_hot_unplug_gone PASS", proc, 30)
                res.check("api_remove_device", removed[0] == 204 and gone,
                          f"{removed}, guest saw it gone: {gone}")
        try:
            status = proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            status = None
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()

    class Run:
        def console(self):
            return console()

        def logtext(self):
            with open(log, "rb") as f:
                return f.read().decode("utf-8", "replace")
    run = Run()
    res.check("cocoon_exit", status == 0, f"exit status {status}")
    # ACPI remove-with-eject: cocoon asked, the guest ejected, only then was the function freed.
    asked = "asked the guest to release device 'hot0'" in run.logtext()
    freed = "device 'hot0' released by the guest" in run.logtext()
    res.check("api_remove_waits_for_eject", asked and freed,
              f"eject requested: {asked}, freed after the guest's eject: {freed}")
    guest_checks(res, run, ["blk_hotplug_appears", "blk_hotplug_io", "blk_hot_unplug_gone"])
    no_errors(res, run)
    if res.failed:
        print("---- console ----\n" + run.console()[-3000:])
        print("---- cocoon log ----\n" + run.logtext()[-3000:])


# ---------------------------------------------------------------- net

NET_GUEST_IP = "10.0.2.2"
NET_PEER_IP = "10.0.2.1"
NET_GUEST_MAC = "52:54:00:12:34:56"
NET_TAP = "cocoon-h6tap"
UDP_GUEST_PORT = 6001
UDP_PEER_PORT = 6000
FRAMES = 1000


def sh(*cmd, check=True):
    r = subprocess.run(list(cmd), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if check and r.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)}: {r.stdout.strip()}")
    return r


def net_payload(seq, length):
    """Shared with tests/guest/net_guest.c: 4-byte seq, then bytes (seq + i) & 0xff."""
    return struct.pack("<I", seq) + bytes(((seq + i) & 0xFF) for i in range(4, length))


def net_length(seq):
    return 16 + (seq * 37) % 1400


def open_tap(name):
    """Attaches to tap `name` with IFF_TAP | IFF_NO_PI | IFF_VNET_HDR; returns the fd."""
    tunsetiff, iff_tap, iff_no_pi, iff_vnet_hdr = 0x400454CA, 0x0002, 0x1000, 0x4000
    fd = os.open("/dev/net/tun", os.O_RDWR)
    ifr = struct.pack("16sH22x", name.encode(), iff_tap | iff_no_pi | iff_vnet_hdr)
    fcntl.ioctl(fd, tunsetiff, ifr)
    return fd


def net_inside(binary, guests, tmp, res, case):
    """Runs inside the namespace: tap + address, UDP peer, cocoon."""
    sh("ip", "link", "set", "lo", "up")
    sh("ip", "tuntap", "add", "dev", NET_TAP, "mode", "tap")
    sh("ip", "link", "set", NET_TAP, "mtu", "9000", "txqueuelen", "4000", "up")
    sh("ip", "addr", "add", f"{NET_PEER_IP}/24", "dev", NET_TAP)
    sh("ip", "neigh", "replace", NET_GUEST_IP, "lladdr", NET_GUEST_MAC, "dev", NET_TAP, "nud",
       "permanent")
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    sock.bind((NET_PEER_IP, UDP_PEER_PORT))
    sock.settimeout(0.2)
    mode = 1 if case == "net_tap_exchange" else 2
    # net_tap_exchange lets cocoon open the tap by name; net_hostile hands over an open tap fd,
    # as Kata does (there over the API socket; here with --net fd=N).
    tap_fd = -1
    if mode == 1:
        net_arg = f"tap={NET_TAP},mac={NET_GUEST_MAC}"
    else:
        tap_fd = open_tap(NET_TAP)
        net_arg = f"fd={tap_fd},mac={NET_GUEST_MAC}"
    run = Cocoon(binary, os.path.join(guests, "guest_net.elf"), tmp,
                 ["--net", net_arg, "--disk",
                  f"path={os.path.join(tmp, 'd.img')},readonly=on,id=bystander"],
                 f"mode={mode}", pass_fds=(tap_fd,) if tap_fd >= 0 else ())
    if tap_fd >= 0:
        os.close(tap_fd)
    try:
        if mode == 1:
            net_exchange(run, sock, res)
        else:
            net_hostile_host(run, sock, res)
        status = run.wait_exit(240)
        res.check("cocoon_exit", status == 0, f"exit status {status}")
    finally:
        run.stop()
        sock.close()
    stats = re.search(r"virtio-net: rx (\d+) tx (\d+) frames; rx paused (\d+) times; dropped: "
                      r"rx oversize (\d+) .* tx oversize (\d+)", run.logtext())
    if mode == 1:
        ok = stats is not None and int(stats.group(4)) >= 1 and int(stats.group(5)) == 1
        res.check("host_drops_counted", ok,
                  stats.group(0) if stats else "no virtio-net statistics line in the log")
        if stats:
            print(f"INFO rx pauses (guest out of buffers, tap not polled): {stats.group(3)}")
        guest_checks(res, run, ["net_config", "net_arp_reply", "net_tx_done", "net_rx_frames",
                                "net_rx_no_oversize"])
    else:
        guest_checks(res, run, ["net_hostile_tx_writable", "net_hostile_rx_readable",
                                "net_hostile_loop", "net_hostile_avail_jump",
                                "net_recovers_after_reset"])
    no_errors(res, run)
    if res.failed:
        run.dump()


def net_exchange(run, sock, res):
    # 1. The guest ARPs for the peer (the host kernel answers), then sends FRAMES datagrams and
    #    one oversized frame, then an end marker.
    got, bad, order_ok, oversize_seen, end_seen = 0, 0, True, False, False
    deadline = time.monotonic() + 180
    expect = 0
    while time.monotonic() < deadline and not end_seen:
        try:
            data, addr = sock.recvfrom(65536)
        except socket.timeout:
            if run.proc.poll() is not None:
                break
            continue
        seq = struct.unpack("<I", data[:4])[0]
        if seq == 0xFFFFFFFF:
            end_seen = True
            continue
        if len(data) > 1500:
            oversize_seen = True
            continue
        if seq != expect:
            order_ok = False
        expect = seq + 1
        if data == net_payload(seq, net_length(seq)) and addr == (NET_GUEST_IP, UDP_GUEST_PORT):
            got += 1
        else:
            bad += 1
    res.check("host_rx_from_guest", got == FRAMES and bad == 0 and order_ok,
              f"{got} of {FRAMES} datagrams intact, {bad} damaged, in order: {order_ok}")
    res.check("host_guest_oversize_dropped", end_seen and not oversize_seen,
              f"end marker seen: {end_seen}; oversized frame arrived: {oversize_seen}")
    # 2. Host -> guest: one datagram larger than the guest's MTU (the tap's MTU is 9000, so it
    #    leaves as one 4042-byte frame that cocoon must drop), then FRAMES datagrams, then the end.
    if not run.wait_line("READY rx", 60):
        res.check("guest_ready_rx", False, "guest never printed READY rx")
        return
    dst = (NET_GUEST_IP, UDP_GUEST_PORT)
    sock.sendto(net_payload(0xEEEEEEEE, 4000), dst)
    for seq in range(FRAMES):
        sock.sendto(net_payload(seq, net_length(seq)), dst)
        if seq % 64 == 63:
            time.sleep(0.002)  # txqueuelen is ample; this only keeps the host socket buffer small
    sock.sendto(struct.pack("<I", 0xFFFFFFFF), dst)


def net_hostile_host(run, sock, res):
    # After every hostile case the guest resets the device and sends one datagram "alive" (seq
    # 0xA11E0000 + n); the host echoes each back so the guest sees rx working too.
    seen = 0
    deadline = time.monotonic() + 200
    while time.monotonic() < deadline and run.proc.poll() is None:
        try:
            data, addr = sock.recvfrom(65536)
        except socket.timeout:
            continue
        seen += 1
        sock.sendto(data, addr)
    # The recovery check needs one echo; the rx cases are usually triggered by an echo too, but
    # any frame already waiting in the tap (IPv6 neighbour discovery) may trigger them first.
    res.check("host_peer_echoes", seen >= 1, f"{seen} datagram(s) echoed")


def net_case(binary, guests, tmp, res, case):
    if os.geteuid() != 0:
        skip("needs root for a network namespace and a tap")
    if not os.path.exists("/dev/net/tun"):
        skip("/dev/net/tun is missing")
    ns = f"cocoon-h6-{os.getpid()}"
    if sh("ip", "netns", "add", ns, check=False).returncode != 0:
        skip("cannot create a network namespace (ip netns add)")
    try:
        with open(os.path.join(tmp, "d.img"), "wb") as f:
            f.write(pattern(0x5A, 0, 64 << 10))
        r = subprocess.run(["ip", "netns", "exec", ns, sys.executable, os.path.abspath(__file__),
                            "--inside", case, binary, guests, tmp])
        return r.returncode
    finally:
        sh("ip", "netns", "del", ns, check=False)


CASES = {
    "blk_rw_verify": blk_rw_verify,
    "blk_flush_durability": blk_flush_durability,
    "blk_hostile": blk_hostile,
    "blk_multiqueue": blk_multiqueue,
    "blk_hotplug": blk_hotplug,
    "blk_direct": blk_direct,
    "blk_image_conflicts": blk_image_conflicts,
}
NET_CASES = ("net_tap_exchange", "net_hostile")


def main():
    argv = sys.argv[1:]
    inside = argv and argv[0] == "--inside"
    if inside:
        argv = argv[1:]
    if len(argv) < 3 or (argv[0] not in CASES and argv[0] not in NET_CASES):
        print(__doc__)
        return 2
    case, binary, guests = argv[0], os.path.abspath(argv[1]), os.path.abspath(argv[2])
    res = Result()
    if inside:
        net_inside(binary, guests, argv[3], res, case)
        print(f"{case}: {'FAIL' if res.failed else 'PASS'} ({res.failed} failed)")
        return 1 if res.failed else 0
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        skip("/dev/kvm is missing or not accessible")
    with tempfile.TemporaryDirectory(prefix=f"cocoon-{case}-") as tmp:
        if case in NET_CASES:
            return net_case(binary, guests, tmp, res, case)
        CASES[case](binary, guests, tmp, res)
    print(f"{case}: {'FAIL' if res.failed else 'PASS'} ({res.failed} failed)")
    return 1 if res.failed else 0


if __name__ == "__main__":
    sys.exit(main())
