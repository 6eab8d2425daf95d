#!/usr/bin/env python3
"""vsock_test.py: cocoon's virtio-vsock + hybrid socket under real KVM, driven like Kata does.

usage: vsock_test.py CASE COCOON GUEST_DIR
CASE: vsock_echo, vsock_guest_connect, vsock_no_listener, virtio_hostile, vsock_conn_cap.
Exits 0 on success, 1 on failure, 77 (skip) when /dev/kvm is missing.
"""
import atexit
import os
import random
import resource
import select
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import fail, need_kvm, sanitizer_report  # noqa: E402

COCOON = ""
GUESTS = ""
ECHO_BYTES = 1 << 20
RUNNING = []  # cocoon processes to kill if the harness stops early (failure or exception)


@atexit.register
def kill_leftovers():
    for p in RUNNING:
        if p.poll() is None:
            p.kill()
            p.wait()


class Cocoon:
    """A running cocoon whose stdout (console) and stderr (log) are collected by threads."""

    def __init__(self, guest, sock, cmdline, memory="128M", nofile=None):
        args = [COCOON, "-v", "--kernel", os.path.join(GUESTS, "guest_%s.elf" % guest),
                "--memory", "size=" + memory, "--serial", "tty", "--cmdline", cmdline,
                "--vsock", "cid=3,socket=" + sock]
        pre = (lambda: resource.setrlimit(resource.RLIMIT_NOFILE, nofile)) if nofile else None
        self.p = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  preexec_fn=pre)
        RUNNING.append(self.p)
        self.out, self.err = [], []
        self.lock = threading.Lock()
        for stream, sink in ((self.p.stdout, self.out), (self.p.stderr, self.err)):
            threading.Thread(target=self._pump, args=(stream, sink), daemon=True).start()

    def _pump(self, stream, sink):
        for line in iter(stream.readline, b""):
            with self.lock:
                sink.append(line.decode(errors="replace"))

    def console(self):
        with self.lock:
            return "".join(self.out)

    def log(self):
        with self.lock:
            return "".join(self.err)

    def wait_console(self, text, timeout):
        end = time.time() + timeout
        while time.time() < end:
            if text in self.console():
                return
            if self.p.poll() is not None:
                time.sleep(0.2)
                break
            time.sleep(0.05)
        fail("console never showed %r\nconsole:\n%s\nlog:\n%s" % (text, self.console(), self.log()))

    def finish(self, want_status, timeout=60, terminate=False):
        if terminate and self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
        try:
            rc = self.p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.wait()
            fail("cocoon did not exit\nconsole:\n%s\nlog:\n%s" % (self.console(), self.log()))
        time.sleep(0.2)
        log = self.log()
        if sanitizer_report(log):
            fail("sanitizer report:\n" + log)
        if rc != want_status:
            fail("exit status %d, want %d\nconsole:\n%s\nlog:\n%s"
                 % (rc, want_status, self.console(), log))


def wait_path(path, proc, timeout=30):
    end = time.time() + timeout
    while time.time() < end:
        if os.path.exists(path):
            return
        if proc.p.poll() is not None:
            break
        time.sleep(0.05)
    fail("socket %s never appeared\nlog:\n%s" % (path, proc.log()))


def read_line(s, timeout=10):
    s.settimeout(timeout)
    line = b""
    while not line.endswith(b"\n"):
        b = s.recv(1)
        if not b:
            break
        line += b
    return line


def connect_kata(path, port, extra=b""):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(path)
    s.sendall(b"CONNECT %d\n" % port + extra)
    return s


def echo_session(path, nbytes, seed, piggyback=0):
    """Kata's handshake, then nbytes each way; returns the seconds the transfer took."""
    data = random.Random(seed).randbytes(nbytes)
    first = data[:piggyback]
    s = connect_kata(path, 1024, first)
    line = read_line(s)
    if b"OK" not in line:
        fail("handshake answer %r does not contain OK" % line)
    port = int(line.split()[1])
    if not (1 << 30) <= port < (1 << 31):
        fail("host port %d in the OK line is outside [2^30, 2^31)" % port)
    got = bytearray()
    errors = []

    def sender():
        try:
            s.sendall(data[piggyback:])
        except OSError as e:
            errors.append(e)

    t0 = time.time()
    th = threading.Thread(target=sender, daemon=True)
    th.start()
    s.settimeout(60)
    while len(got) < nbytes:
        chunk = s.recv(262144)
        if not chunk:
            break
        got += chunk
    dt = time.time() - t0
    th.join(10)
    s.close()
    if errors:
        fail("sending to the guest failed: %s" % errors[0])
    if len(got) != nbytes:
        fail("echo returned %d of %d bytes" % (len(got), nbytes))
    if bytes(got) != data:
        bad = next(i for i in range(nbytes) if got[i] != data[i])
        fail("echo differs from what was sent at byte %d" % bad)
    return dt


def case_vsock_echo():
    need_kvm()
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "clh.sock")
        vm = Cocoon("vsock_echo", path, "sessions=2")
        wait_path(path, vm)
        vm.wait_console("listening on port 1024", 60)
        dt = echo_session(path, ECHO_BYTES, 1)
        # Payload written together with the CONNECT line must not be eaten by the handshake.
        echo_session(path, 4096, 2, piggyback=100)
        vm.wait_console("2 session(s) done", 30)
        vm.finish(0)
    mibs = ECHO_BYTES / dt / (1 << 20)
    print("PASS: CONNECT 1024 -> OK, %d bytes each way byte-exact in %.2f s (%.1f MiB/s each "
          "way); payload sent with the CONNECT line survived" % (ECHO_BYTES, dt, mibs))


def accept_from(lst, vm, timeout, what):
    """Accepts one connection on lst, giving up early if cocoon exits."""
    lst.settimeout(0.2)
    end = time.time() + timeout
    while time.time() < end:
        try:
            conn, _ = lst.accept()
            conn.settimeout(30)
            return conn
        except socket.timeout:
            if vm.p.poll() is not None:
                break
    fail("%s\nconsole:\n%s\nlog:\n%s" % (what, vm.console(), vm.log()))


def read_all(conn):
    msg = b""
    while True:
        chunk = conn.recv(4096)
        if not chunk:
            return msg
        msg += chunk


def case_vsock_guest_connect():
    need_kvm()
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "clh.sock")
        lst = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        lst.bind(path + "_1025")
        lst.listen(1)
        vm = Cocoon("vsock_echo", path, "connect=1025")
        conn = accept_from(lst, vm, 60, "nobody connected to %s_1025" % path)
        msg = read_all(conn)
        if msg != b"hello from the guest over vsock\n":
            fail("listener got %r" % msg)
        vm.wait_console("outbound connection to host port 1025 closed", 30)
        vm.finish(128 + signal.SIGTERM, terminate=True)
    print("PASS: the guest's connection to port 1025 reached the listener at <socket>_1025")


def expect_closed(path, line, what):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(path)
    s.sendall(line)
    s.settimeout(15)
    t0 = time.time()
    try:
        data = s.recv(100)
    except socket.timeout:
        fail("%s: socket neither answered nor closed within 15 s (hang)" % what)
    except ConnectionResetError:
        data = b""  # closed with our unread bytes still queued: a close all the same
    s.close()
    if data:
        fail("%s: got %r instead of a closed socket" % (what, data))
    return time.time() - t0


def case_vsock_no_listener():
    need_kvm()
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "clh.sock")
        vm = Cocoon("vsock_echo", path, "")
        wait_path(path, vm)
        vm.wait_console("listening on port 1024", 60)
        dt = expect_closed(path, b"CONNECT 1234\n", "port without listener")
        expect_closed(path, b"HELLO WORLD\n", "garbage line")
        expect_closed(path, b"CONNECT 99999999999\n", "port overflow")
        expect_closed(path, b"C" * 64, "overlong line")
        # The device and muxer still work afterwards.
        echo_session(path, 65536, 3)
        vm.finish(128 + signal.SIGTERM, terminate=True)
    print("PASS: CONNECT to a port without a guest listener closed the socket in %.2f s; "
          "garbage/overlong/overflowing lines closed too; echo still works" % dt)


def case_virtio_hostile():
    need_kvm()
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "clh.sock")
        lst = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        lst.bind(path + "_1025")
        lst.listen(1)
        vm = Cocoon("virtio_hostile", path, "connect=1025")
        conn = accept_from(lst, vm, 180, "the guest never reconnected after the hostile cases")
        msg = read_all(conn)
        vm.finish(0)
        console, log = vm.console(), vm.log()
        if msg != b"recovered after hostile rings\n":
            fail("listener got %r" % msg)
        cases = console.count("-> DEVICE_NEEDS_RESET")
        if cases < 10 or "all 10 cases refused; the console still answers" not in console:
            fail("not every hostile case ended in NEEDS_RESET:\n" + console)
        if "needs reset" not in log:
            fail("cocoon did not log the guest error:\n" + log)
    print("PASS: %d hostile ring/queue cases -> DEVICE_NEEDS_RESET, cocoon kept running, console "
          "answered, the reset device carried a new vsock connection" % cases)


def open_clients(path, n):
    out = []
    for _ in range(n):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(path)
        out.append(s)
    return out


def closed_now(socks, timeout):
    """Which of socks the peer closed within timeout (EOF or reset)."""
    closed = set()
    by_fd = {s.fileno(): s for s in socks}
    poller = select.poll()
    for fd in by_fd:
        poller.register(fd, select.POLLIN)
    end = time.time() + timeout
    while time.time() < end and len(closed) < len(socks):
        for fd, _ in poller.poll(200):
            s = by_fd[fd]
            try:
                data = s.recv(16)
            except ConnectionResetError:
                data = b""
            if not data:
                closed.add(s)
                poller.unregister(fd)
    return closed


def case_vsock_conn_cap():
    need_kvm()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < 4096:
        print("SKIP: RLIMIT_NOFILE hard limit %d is below 4096" % hard)
        sys.exit(77)
    resource.setrlimit(resource.RLIMIT_NOFILE, (4096, hard))
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "clh.sock")
        # 1) Cap: 1023 connections are kept, the rest are closed at once.
        vm = Cocoon("vsock_echo", path, "", nofile=(4096, hard))
        wait_path(path, vm)
        vm.wait_console("listening on port 1024", 60)
        socks = open_clients(path, 1100)
        time.sleep(0.5)
        closed = closed_now(socks, 1.5)  # well inside the 5 s handshake timeout
        if not 77 <= len(closed) <= 80:
            fail("%d of 1100 idle clients were closed at once; want the 77 above the cap" % len(closed))
        for s in socks:
            s.close()
        time.sleep(0.5)
        echo_session(path, 65536, 4)  # room again once clients go
        vm.finish(128 + signal.SIGTERM, terminate=True)
        # 2) Out of file descriptors: cocoon pauses accepting instead of spinning, and recovers.
        vm = Cocoon("vsock_echo", path, "", nofile=(160, hard))
        wait_path(path, vm)
        vm.wait_console("listening on port 1024", 60)
        socks = open_clients(path, 300)
        time.sleep(2.0)
        for s in socks:
            s.close()
        time.sleep(6.0)  # idle handshakes time out, the listener resumes
        echo_session(path, 65536, 5)
        vm.finish(128 + signal.SIGTERM, terminate=True)
        if "pausing the listener" not in vm.log():
            fail("cocoon never ran out of descriptors; the test did not test anything\n" + vm.log())
    print("PASS: 1023 host connections kept, the 1024th+ closed at once; fd exhaustion pauses the "
          "listener without spinning and service resumes")


def main():
    global COCOON, GUESTS
    if len(sys.argv) != 4:
        print(__doc__)
        sys.exit(2)
    case, COCOON, GUESTS = sys.argv[1:]
    fn = globals().get("case_" + case)
    if not fn:
        fail("unknown case " + case)
    fn()


if __name__ == "__main__":
    main()
