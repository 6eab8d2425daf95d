#!/usr/bin/env python3
"""stall_test.py: nothing a guest, a client or the host's limits do may hang, spin or abort cocoon.

usage: stall_test.py CASE COCOON GUEST_DIR
CASE:
  console_flood_unread  a guest floods the console while stdout is a pipe nobody reads: the API
                        and vsock keep answering, vm.shutdown / SIGTERM stop it within 1 s, RSS
                        stays bounded
  serial_fifo           --serial file= naming a FIFO: refused at once without a reader, used with one
  stdio_closed          stdin, stdout or stderr closed at start: the guest still runs to its status
  stop_signals          SIGHUP, SIGQUIT, SIGUSR1/2, SIGALRM, SIGINT, SIGTERM stop cocoon cleanly
                        (status 128+N, API socket removed); SIGPIPE is ignored
  startup_limits        a tiny open-file limit or address-space limit: one line and status 1
  stop_signal_during_setup  SIGTERM while a 1 TiB guest's RAM is being registered with KVM (seen
                        in cocoon's signal mask): seen at the next memory slot, status 143, from
                        the CLI and vm.boot
  disk_swapped_for_fifo a disk image replaced by a FIFO between vm.create and vm.boot: vm.boot
                        fails at once with a reason, the API keeps answering
Exits 0 on success, 1 on failure, 77 (skip) when /dev/kvm is missing.
"""
import array
import fcntl
import http.client
import json
import os
import resource
import select
import signal
import socket
import subprocess
import sys
import tempfile
import termios
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import fail, need_kvm, sanitizer_report  # noqa: E402

COCOON = ""
GUESTS = ""


def guest(name):
    return os.path.join(GUESTS, "guest_%s.elf" % name)


class UnixHTTP(http.client.HTTPConnection):
    def __init__(self, path, timeout):
        super().__init__("localhost", timeout=timeout)
        self.path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self.path)


def api(sock, method, route, timeout=2.0):
    """One request on a fresh connection; returns (status, seconds)."""
    t0 = time.monotonic()
    c = UnixHTTP(sock, timeout)
    c.request(method, "/api/v1/" + route, body=b"" if method == "PUT" else None)
    r = c.getresponse()
    r.read()
    c.close()
    return r.status, time.monotonic() - t0


def wait_for(cond, timeout, what, log=lambda: ""):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return
        time.sleep(0.05)
    fail("%s\nlog:\n%s" % (what, log()))


def wait_until(cond, timeout):
    """True as soon as cond() holds, False after timeout seconds."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(0.05)
    return False


def read_text(path):
    try:
        with open(path, "rb") as f:
            return f.read().decode(errors="replace")
    except OSError:
        return ""


def check_log(text):
    if sanitizer_report(text):
        fail("sanitizer report:\n" + text)


def pipe_bytes(fd):
    """Bytes waiting in a pipe (FIONREAD)."""
    n = array.array("i", [0])
    fcntl.ioctl(fd, termios.FIONREAD, n)
    return n[0]


def pipe_full(fd):
    """The flooded pipe takes no more: over 16 KiB and not grown for a second. (Its byte count
    at full depends on the writes' sizes: 16 page buffers, each holding one or more writes.)"""
    before = pipe_bytes(fd)
    if before < 16 * 1024:
        return False
    time.sleep(1)
    return pipe_bytes(fd) == before


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def vsock_echo(path, payload, timeout=20):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect(path)
    s.sendall(b"CONNECT 1024\n")
    line = b""
    while not line.endswith(b"\n"):
        b = s.recv(1)
        if not b:
            break
        line += b
    if not line.startswith(b"OK "):
        fail("vsock handshake answered %r" % line)
    s.sendall(payload)
    got = b""
    while len(got) < len(payload):
        b = s.recv(65536)
        if not b:
            break
        got += b
    s.close()
    if got != payload:
        fail("vsock echo returned %d of %d bytes (or different bytes)" % (len(got), len(payload)))


def start_flood(d, stop_how):
    """cocoon with the API, the console-flood guest (2 vCPUs) and vsock; stdout a pipe never read."""
    api_sock, vsock = os.path.join(d, "api.sock"), os.path.join(d, "vsock.sock")
    log_path = os.path.join(d, "log.txt")
    rd, wr = os.pipe()
    log = open(log_path, "wb")
    p = subprocess.Popen([COCOON, "-v", "--api-socket", "path=" + api_sock, "--kernel",
                          guest("console_flood"), "--cpus", "boot=2", "--memory", "size=64M",
                          "--serial", "tty", "--vsock", "cid=3,socket=" + vsock],
                         stdin=subprocess.DEVNULL, stdout=wr, stderr=log)
    os.close(wr)
    logf = lambda: read_text(log_path)  # noqa: E731
    wait_for(lambda: os.path.exists(api_sock) and os.path.exists(vsock), 20,
             "sockets never appeared", logf)
    return p, rd, api_sock, vsock, logf


def flood_case(stop_how):
    with tempfile.TemporaryDirectory() as d:
        p, rd, api_sock, vsock, logf = start_flood(d, stop_how)
        try:
            # The pipe holds 64 KiB: once it is full, a VMM that wrote the console synchronously
            # is stuck. Wait for that (seconds here; longer on a loaded host), then some more.
            wait_until(lambda: pipe_full(rd) or p.poll() is not None, 30)
            if p.poll() is not None:  # cocoon's failure, never retried
                text = logf()
                check_log(text)
                fail("cocoon exited with status %d during the flood\n%s" % (p.poll(), text))
            if not pipe_full(rd):
                # The guest's side, not cocoon's: its flooding AP did not start (INIT-SIPI spin
                # budget on a loaded, sanitized host). Shown, and the case retried.
                os.set_blocking(rd, False)
                head = os.read(rd, 300) if pipe_bytes(rd) else b""
                return "pipe holds %d bytes after 30 s, cocoon running; console: %r" % (
                    pipe_bytes(rd), head)
            time.sleep(2)
            worst = 0.0
            for _ in range(20):
                status, dt = api(api_sock, "GET", "vmm.ping")
                if status != 200:
                    fail("vmm.ping answered %d during the flood" % status)
                worst = max(worst, dt)
            if worst > 1.0:
                fail("vmm.ping took %.2f s during the flood" % worst)
            vsock_echo(vsock, os.urandom(65536))
            rss = rss_kib(p.pid)
            if rss > 64 * 1024 + 16 * 1024:  # guest RAM (64 MiB) plus a bounded console buffer
                fail("RSS %d KiB during the flood" % rss)
            t0 = time.monotonic()
            if stop_how == "api":
                status, _ = api(api_sock, "PUT", "vm.shutdown")
                if status != 204:
                    fail("vm.shutdown answered %d" % status)
                status, _ = api(api_sock, "PUT", "vmm.shutdown")
                want = 0
            else:
                p.send_signal(signal.SIGTERM)
                want = 128 + signal.SIGTERM
            try:
                rc = p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                fail("cocoon still running 5 s after %s with an unread console" % stop_how)
            dt = time.monotonic() - t0
            text = logf()
            check_log(text)
            if rc != want:
                fail("exit status %d, want %d\n%s" % (rc, want, text))
            if dt > 1.0:
                fail("stopping took %.2f s (want <= 1 s)" % dt)
            if "dropped" not in text and "not written" not in text:
                fail("no line says that console output was dropped\n" + text)
            print("%s: ping worst %.0f ms during the flood, vsock echo ok, RSS %d KiB, stopped in "
                  "%.0f ms" % (stop_how, worst * 1000, rss, dt * 1000))
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
            os.close(rd)


def flood_case_retried(stop_how):
    """flood_case, once more when the guest never filled the pipe (a guest-side start failure)."""
    why = flood_case(stop_how)
    if why:
        print("%s: the guest did not flood (%s); once more" % (stop_how, why))
        why = flood_case(stop_how)
        if why:
            fail("%s: the guest did not flood twice: %s" % (stop_how, why))


def case_console_flood_unread():
    need_kvm()
    flood_case_retried("api")
    flood_case_retried("sigterm")
    print("PASS: console flood with an unread stdout: API and vsock served, stops within 1 s")


def run_cocoon(args, timeout=30, **kw):
    t0 = time.monotonic()
    p = subprocess.run([COCOON] + args, capture_output=True, timeout=timeout, **kw)
    return p.returncode, p.stdout.decode(errors="replace"), p.stderr.decode(errors="replace"), \
        time.monotonic() - t0


def case_serial_fifo():
    need_kvm()
    with tempfile.TemporaryDirectory() as d:
        fifo = os.path.join(d, "console.fifo")
        os.mkfifo(fifo)
        rc, out, err, dt = run_cocoon(["--kernel", guest("hello"), "--memory", "size=32M",
                                       "--serial", "file=" + fifo], timeout=10)
        lines = [line for line in err.splitlines() if line]
        if rc != 1 or len(lines) != 1 or "FIFO" not in lines[0] or dt > 2:
            fail("FIFO without reader: status %d after %.1f s, stderr %r" % (rc, dt, err))
        # With a reader, the FIFO is a console like any other.
        rfd = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
        rc, out, err, dt = run_cocoon(["--kernel", guest("hello"), "--memory", "size=32M",
                                       "--serial", "file=" + fifo], timeout=60)
        got = b""
        while True:
            try:
                b = os.read(rfd, 65536)
            except BlockingIOError:
                break
            if not b:
                break
            got += b
        os.close(rfd)
        if rc != 42 or b"hello from the cocoon test guest" not in got:
            fail("FIFO with reader: status %d, console %r, stderr %r" % (rc, got, err))
        # A directory is refused with one line.
        rc, out, err, dt = run_cocoon(["--kernel", guest("hello"), "--serial", "file=" + d])
        if rc != 1 or len(err.strip().splitlines()) != 1:
            fail("directory as serial file: status %d, stderr %r" % (rc, err))
    print("PASS: FIFO console refused in %.0f ms without a reader, used with one" % (dt * 1000))


def case_stdio_closed():
    need_kvm()
    for fd in (0, 1, 2):
        def close_fd(fd=fd):
            os.close(fd)
        p = subprocess.run([COCOON, "--kernel", guest("hello"), "--memory", "size=32M",
                            "--serial", "tty"], capture_output=True, timeout=60,
                           preexec_fn=close_fd)
        if p.returncode != 42:
            fail("fd %d closed: exit status %d, want 42 (the guest's)\nstdout %r\nstderr %r"
                 % (fd, p.returncode, p.stdout[-300:], p.stderr[-600:]))
    print("PASS: with stdin, stdout or stderr closed the guest runs to its own status")


def case_stop_signals():
    need_kvm()
    sigs = (signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1, signal.SIGUSR2, signal.SIGALRM,
            signal.SIGINT, signal.SIGTERM)
    with tempfile.TemporaryDirectory() as d:
        for sig in sigs:
            sock = os.path.join(d, "api.sock")
            vs = os.path.join(d, "vsock.sock")
            p = subprocess.Popen([COCOON, "--api-socket", "path=" + sock, "--kernel",
                                  guest("spin"), "--memory", "size=32M", "--serial", "off",
                                  "--vsock", "cid=3,socket=" + vs],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            wait_for(lambda: os.path.exists(sock) and os.path.exists(vs), 20, "no socket")
            if sig == signal.SIGTERM:  # SIGPIPE from kill is ignored: still serving afterwards
                p.send_signal(signal.SIGPIPE)
                time.sleep(0.3)
                if p.poll() is not None or api(sock, "GET", "vmm.ping")[0] != 200:
                    fail("SIGPIPE stopped cocoon (status %s)" % p.poll())
            t0 = time.monotonic()
            p.send_signal(sig)
            try:
                rc = p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                p.kill()
                fail("%s did not stop cocoon" % signal.Signals(sig).name)
            err = p.stderr.read().decode(errors="replace")
            check_log(err)
            if rc != 128 + sig:
                fail("%s: exit status %d, want %d\n%s" % (signal.Signals(sig).name, rc, 128 + sig,
                                                           err))
            for path in (sock, vs):
                if os.path.exists(path):
                    fail("%s left %s behind" % (signal.Signals(sig).name, path))
            print("%s: status %d in %.0f ms, sockets removed"
                  % (signal.Signals(sig).name, rc, (time.monotonic() - t0) * 1000))
    print("PASS: every terminating signal stops cocoon cleanly; SIGPIPE is ignored")


STOP_HELD = sum(1 << (n - 1) for n in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP,
                                         signal.SIGQUIT, signal.SIGUSR1, signal.SIGUSR2,
                                         signal.SIGALRM))


def holds_stop_signals(pid):
    """True while cocoon's set-up thread (the main thread: CLI and API loop alike) holds the stop
    signals, which it does exactly while it registers guest RAM with KVM (vmm/vm.c)."""
    try:
        with open("/proc/%d/task/%d/status" % (pid, pid)) as f:
            for line in f:
                if line.startswith("SigBlk:"):
                    return int(line.split()[1], 16) & STOP_HELD == STOP_HELD
    except OSError:
        pass
    return False


def stop_during_setup(cmd, sock=None):
    """Starts cmd and sends SIGTERM once cocoon is seen registering guest RAM (stop signals held).
    Returns (status, seconds from the signal to the exit), or None when the set-up ended before it
    was seen (a fast host)."""
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    if sock:
        wait_for(lambda: os.path.exists(sock), 20, "no API socket")
        body = json.dumps({"cpus": {"boot_vcpus": 1, "max_vcpus": 1},
                           "memory": {"size": 1 << 40},
                           "payload": {"kernel": guest("hello")}}).encode()
        c = UnixHTTP(sock, 5)
        c.request("PUT", "/api/v1/vm.create", body=body,
                  headers={"Content-Type": "application/json"})
        if c.getresponse().status != 204:
            fail("vm.create with 1 TiB refused")
        c.close()
        c = UnixHTTP(sock, 30)
        c.request("PUT", "/api/v1/vm.boot", body=b"")  # answered (500) or cut by the stop
    end = time.monotonic() + 30
    while not holds_stop_signals(p.pid):
        booted = sock is not None and select.select([c.sock], [], [], 0)[0]
        if p.poll() is not None or booted or time.monotonic() > end:
            p.kill()
            p.wait()
            p.stderr.close()
            return None
        time.sleep(0.0005)
    t0 = time.monotonic()
    p.send_signal(signal.SIGTERM)
    try:
        rc = p.wait(timeout=10)
    except subprocess.TimeoutExpired:
        p.kill()
        fail("SIGTERM during set-up: cocoon still running after 10 s")
    err = p.stderr.read().decode(errors="replace")
    p.stderr.close()
    check_log(err)
    if rc != 128 + signal.SIGTERM:
        print("cocoon's stderr:\n" + err[-2000:])
    return rc, time.monotonic() - t0, err


def stop_during_setup_seen(cmd, sock_dir=None):
    """stop_during_setup, tried until the signal lands inside the set-up (at most 5 starts; in API
    mode each on its own socket path, so a killed attempt's socket file cannot fool the next)."""
    for attempt in range(5):
        sock = os.path.join(sock_dir, "api%d.sock" % attempt) if sock_dir else None
        got = stop_during_setup(cmd(sock) if sock_dir else cmd, sock)
        if got is not None:
            return got + (sock,)
    return None


# Signal to exit: one memory slot plus teardown. Warm hosts take milliseconds; the bound only
# catches a stop that waits for more than the slot in hand.
STOP_BOUND = 10


def case_stop_signal_during_setup():
    """A 1 TiB guest: registering its RAM with KVM takes from 0.4 s (warm) to seconds (cold) on a
    shadow-paging host. The test watches cocoon's signal mask and sends SIGTERM while the set-up
    holds the stop signals: cocoon must stop at once (status 143), from the CLI and from vm.boot."""
    need_kvm()
    hello = [COCOON, "-v", "--kernel", guest("hello"), "--memory", "size=1T", "--serial", "off"]
    got = stop_during_setup_seen(hello)
    if got is None:
        t0 = time.monotonic()
        subprocess.run(hello, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=120)
        whole = time.monotonic() - t0
        if whole > 1.5:
            fail("a 1 TiB start takes %.2f s but cocoon was never seen holding the stop signals "
                 "during it" % whole)
        print("SKIP: a 1 TiB guest starts and stops in %.2f s on this host (no set-up long "
              "enough to interrupt)" % whole)
        sys.exit(77)
    rc, took, err, _ = got
    # Seen between two memory slots, not only once the whole set-up released the signals. That is
    # the property; the time is KVM's: one slot's KVM_SET_USER_MEMORY_REGION cannot be
    # interrupted, and on a cold host (memory to reclaim first) one can take seconds.
    if "stopped by signal 15 during set-up" not in err:
        fail("CLI: the set-up did not see the signal between memory slots (status %s after "
             "%.2f s):\n%s" % (rc, took, err[-2000:]))
    if rc != 128 + signal.SIGTERM or took > STOP_BOUND:
        fail("CLI: SIGTERM during set-up: status %s after %.2f s, want 143 within %d s"
             % (rc, took, STOP_BOUND))
    print("CLI: SIGTERM during the 1 TiB set-up stopped cocoon in %.0f ms" % (took * 1000))
    with tempfile.TemporaryDirectory() as d:
        got = stop_during_setup_seen(
            lambda sock: [COCOON, "-v", "--api-socket", "path=" + sock], d)
        if got is None:
            fail("API: vm.boot of 1 TiB never seen holding the stop signals in 5 tries")
        rc, took, err, sock = got
        if "set-up interrupted by signal 15" not in err:
            fail("API: vm.boot's set-up did not see the signal between memory slots:\n"
                 + err[-2000:])
        if rc != 128 + signal.SIGTERM or took > STOP_BOUND or os.path.exists(sock):
            fail("API: SIGTERM during vm.boot: status %s after %.2f s, socket left: %s"
                 % (rc, took, os.path.exists(sock)))
        print("API: SIGTERM during vm.boot of 1 TiB stopped cocoon in %.0f ms" % (took * 1000))
    print("PASS: a stop signal during a long memory set-up is acted on at the next memory slot")


def case_startup_limits():
    need_kvm()
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    for n in (4, 6, 8, 20):
        def limit(n=n):
            resource.setrlimit(resource.RLIMIT_NOFILE, (n, hard))
        rc, out, err, dt = run_cocoon(["--kernel", guest("hello")], timeout=10, preexec_fn=limit)
        lines = [line for line in err.splitlines() if line]
        if rc != 1 or len(lines) != 1 or not lines[0].startswith("cocoon:"):
            fail("ulimit -n %d: status %d, stderr %r" % (n, rc, err))
    with open(COCOON, "rb") as f:
        image = f.read()
    if b"__asan_init" in image or b"__tsan_init" in image:
        print("PASS: tight open-file limits give one line and status 1 (address-space limits not "
              "tried: a sanitizer runtime cannot start under them)")
        return
    for kib in (100000, 300000):
        def limit_as(kib=kib):
            resource.setrlimit(resource.RLIMIT_AS, (kib * 1024, resource.RLIM_INFINITY))
        rc, out, err, dt = run_cocoon(["--kernel", guest("hello"), "--memory", "size=512M"],
                                      timeout=20, preexec_fn=limit_as)
        lines = [line for line in err.splitlines() if line]
        if rc != 1 or len(lines) != 1 or not lines[0].startswith("cocoon:"):
            fail("ulimit -v %d: status %d, stderr %r" % (kib, rc, err))
    print("PASS: tight open-file and address-space limits give one line and status 1")


def api_json(sock, method, route, body, timeout=5.0):
    c = UnixHTTP(sock, timeout)
    data = json.dumps(body).encode() if body is not None else b""
    c.request(method, "/api/v1/" + route, body=data,
              headers={"Content-Type": "application/json"} if body is not None else {})
    r = c.getresponse()
    text = r.read().decode(errors="replace")
    c.close()
    return r.status, text


def case_disk_swapped_for_fifo():
    need_kvm()
    with tempfile.TemporaryDirectory() as d:
        sock, img = os.path.join(d, "api.sock"), os.path.join(d, "disk.img")
        with open(img, "wb") as f:
            f.truncate(1 << 20)
        log_path = os.path.join(d, "log.txt")
        log = open(log_path, "wb")
        p = subprocess.Popen([COCOON, "--api-socket", "path=" + sock], stdin=subprocess.DEVNULL,
                             stdout=subprocess.DEVNULL, stderr=log)
        try:
            wait_for(lambda: os.path.exists(sock), 10, "no API socket")
            cfg = {"cpus": {"boot_vcpus": 1, "max_vcpus": 1}, "memory": {"size": 32 << 20},
                   "payload": {"kernel": guest("hello")}, "serial": {"mode": "Off"},
                   "disks": [{"path": img}]}
            st, body = api_json(sock, "PUT", "vm.create", cfg)
            if st != 204:
                fail("vm.create: %d %s" % (st, body))
            os.remove(img)
            os.mkfifo(img)  # nobody will ever open its other end
            t0 = time.monotonic()
            st, body = api_json(sock, "PUT", "vm.boot", None, timeout=10)
            dt = time.monotonic() - t0
            if st < 400 or dt > 2:
                fail("vm.boot on a FIFO disk: %d after %.1f s: %s" % (st, dt, body))
            if api(sock, "GET", "vmm.ping")[0] != 200:
                fail("the API stopped answering after the refused boot")
            api(sock, "PUT", "vmm.shutdown")
            p.wait(timeout=10)
            print("PASS: vm.boot refused in %.0f ms: %s" % (dt * 1000, body.strip()[:160]))
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()


def main():
    global COCOON, GUESTS
    if len(sys.argv) != 4:
        print(__doc__)
        sys.exit(2)
    case, COCOON, GUESTS = sys.argv[1:]
    globals()["case_" + case]()


if __name__ == "__main__":
    main()
