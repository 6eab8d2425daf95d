#!/usr/bin/env python3
"""api_test.py: cocoon's Cloud Hypervisor control API over its Unix socket, end to end.

usage: api_test.py CASE COCOON GUEST_DIR
CASE is one of:
  api_bad_input             hostile requests against a created (and, with KVM, a running) VM
  api_confidential_refusals vm.create with platform.tdx / sev_snp; each refused request gets
                            its 4xx and leaves the VM as it was
  api_kata_replay           Kata's clh driver on the wire, from launch to vmm.shutdown
  api_kata_rs_connection    runtime-rs's sandbox on one connection, vm.add-net fd included
  api_kata_driver_shapes    every vm.create shape of Kata's Go and Rust drivers (defaults,
                            debug, CoCo, initdata, TDX, SNP-patched) and the answers they need
  api_hostile_clients       unread pipelined vm.info of a large configuration (RSS bounded,
                            others answered, the client closed); out of fds (no spin);
                            9 threads x 300 connect/ping/close (never 503)
  api_idle_connection_kept_70s  one persistent connection, 70 s idle, then vm.info and
                            vmm.shutdown on it (runtime-rs's pattern)
  api_reboot_keeps_hotplug  a disk hot-added to a running VM is in the next boot after
                            vm.shutdown + vm.boot, a hot-removed one is not (one configuration)
Exits 0 on success, 1 on failure, 77 (skip) when a host facility is missing.
Python 3 standard library only.
"""
import array
import ctypes
import fcntl
import http.client
import json
import os
import re
import resource
import select
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import skip, need_kvm, sanitizer_report  # noqa: E402

COCOON = ""
GUESTS = ""
REASONS = {200: "OK", 204: "No Content", 400: "Bad Request", 403: "Forbidden",
           404: "Not Found", 405: "Method Not Allowed", 408: "Request Timeout",
           409: "Conflict", 413: "Payload Too Large", 429: "Too Many Requests",
           431: "Request Header Fields Too Large", 500: "Internal Server Error",
           501: "Not Implemented", 503: "Service Unavailable"}
# Headers the Go OpenAPI client of Kata's clh driver sends.
GO_HEADERS = {"Host": "localhost", "User-Agent": "OpenAPI-Generator/1.0.0/go",
              "Accept": "application/json"}


class Fail(Exception):
    pass


def check_no_sanitizer_report(out):
    check(not sanitizer_report(out), "sanitizer report:\n" + out)


def check(cond, msg):
    if not cond:
        raise Fail(msg)


def step(msg):
    print("-- " + msg, flush=True)


# ---- the cocoon process ----

class Cocoon:
    """One `cocoon --api-socket` process, started the way Kata's launchClh does."""

    def __init__(self, workdir, extra=(), nofile=None):
        self.dir = os.path.join(workdir, "vm")
        os.makedirs(self.dir, mode=0o750, exist_ok=True)
        self.sock = os.path.join(self.dir, "clh-api.sock")
        self.log_path = os.path.join(workdir, "cocoon.log")
        self.log = open(self.log_path, "wb")
        self.t0 = time.monotonic()
        limit = (lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))) \
            if nofile else None
        self.proc = subprocess.Popen([COCOON, "--api-socket", self.sock, "-v"] + list(extra),
                                     stdin=subprocess.DEVNULL, stdout=self.log,
                                     stderr=subprocess.STDOUT, preexec_fn=limit)

    def alive(self):
        return self.proc.poll() is None

    def output(self):
        self.log.flush()
        with open(self.log_path, "rb") as f:
            return f.read().decode(errors="replace")

    def wait_ready(self):
        """Kata's launch wait: vmm.ping every 10 ms for up to 10 s, checking the pid first."""
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            check(self.alive(), "cocoon exited during start-up (status %s)" % self.proc.poll())
            try:
                st, _, _ = request(self.sock, "GET", "vmm.ping", timeout=1)
                if st == 200:
                    return time.monotonic() - self.t0
            except OSError:
                pass
            time.sleep(0.01)
        raise Fail("vmm.ping not answered within 10 s")

    def stop(self):
        if self.alive():
            self.proc.kill()
            self.proc.wait()
        self.log.close()


# ---- HTTP over the Unix socket ----

class UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path, timeout=5):
        super().__init__("localhost", timeout=timeout)
        self.unix_path = path

    def connect(self):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(self.timeout)
        s.connect(self.unix_path)
        self.sock = s


def check_response(resp, body):
    """Every response: JSON content type, standard reason, JSON error body on >= 300."""
    ctype = resp.getheader("Content-Type")
    check(ctype == "application/json", "Content-Type %r on %d" % (ctype, resp.status))
    want = REASONS.get(resp.status)
    check(want is None or resp.reason == want,
          "reason %r for %d (want %r)" % (resp.reason, resp.status, want))
    if resp.status >= 300:
        err = json.loads(body)
        check(isinstance(err, list) and err and all(isinstance(e, str) for e in err),
              "error body is not a JSON array of strings: %r" % body)


def request_on(conn, method, route, body=None):
    headers = dict(GO_HEADERS)
    data = None
    if body is not None:
        data = body if isinstance(body, (bytes, str)) else json.dumps(body)
        if isinstance(data, str):
            data = data.encode()
        headers["Content-Type"] = "application/json"
    elif method == "PUT":
        data = b""  # Go sends Content-Length: 0 on a body-less PUT
    conn.request(method, "/api/v1/" + route, body=data, headers=headers)
    resp = conn.getresponse()
    raw = resp.read()
    check_response(resp, raw)
    return resp.status, resp.reason, raw


def request(sock, method, route, body=None, timeout=5):
    conn = UnixHTTPConnection(sock, timeout)
    try:
        st, _, raw = request_on(conn, method, route, body)
        return st, raw, None
    finally:
        conn.close()


def api(sock, method, route, body=None, want=None):
    st, raw, _ = request(sock, method, route, body)
    if want is not None:
        check(st == want, "%s %s -> %d, want %d: %s" % (method, route, st, want, raw[:300]))
    return st, (json.loads(raw) if raw else None)


def raw_exchange(sock_path, data, fds=(), timeout=5, read=True):
    """Sends data in ONE sendmsg (with fds attached) on a fresh connection; returns the reply."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect(sock_path)
    anc = [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", fds))] if fds else []
    try:
        check(s.sendmsg([data], anc) == len(data), "short sendmsg")
    except (BrokenPipeError, ConnectionResetError):
        pass  # the server answered and closed first (503); read what it said
    out = b""
    if read:
        try:
            while b"\r\n\r\n" not in out or not response_complete(out):
                chunk = s.recv(65536)
                if not chunk:
                    break
                out += chunk
        except socket.timeout:
            pass
    s.close()
    return out


def response_complete(buf):
    head, _, body = buf.partition(b"\r\n\r\n")
    m = re.search(rb"Content-Length: (\d+)", head)
    return len(body) >= (int(m.group(1)) if m else 0)


def status_of(raw):
    m = re.match(rb"HTTP/1\.1 (\d{3}) ", raw)
    return int(m.group(1)) if m else None


def go_dump_request(route, body):
    """What Kata's vmAddNetPutRequest writes: httputil.DumpRequest of a Go request."""
    data = json.dumps(body).encode()
    head = ("PUT /api/v1/%s HTTP/1.1\r\nHost: localhost\r\nAccept: application/json\r\n"
            "Content-Length: %d\r\nContent-Type: application/json\r\n\r\n" % (route, len(data)))
    return head.encode() + data


def open_fds(pid):
    try:
        return len(os.listdir("/proc/%d/fd" % pid))
    except OSError:
        return -1


# ---- fixtures ----

def write_file(path, size, fill=b"\0"):
    with open(path, "wb") as f:
        f.write(fill * size)
    return path


def guest_kernel(preferred):
    for name in preferred:
        p = os.path.join(GUESTS, "guest_%s.elf" % name)
        if os.path.exists(p):
            return p, name
    return None, None


def plain_vm(kernel, extra=None):
    body = {"cpus": {"boot_vcpus": 1, "max_vcpus": 1},
            "memory": {"size": 64 << 20},
            "payload": {"kernel": kernel, "cmdline": "console=ttyS0"},
            "serial": {"mode": "Tty"}, "console": {"mode": "Off"}}
    body.update(extra or {})
    return body


# ---- api_bad_input ----

class Baseline:
    """What the VM looks like; every hostile request must leave it exactly so."""

    def __init__(self, c):
        self.c = c
        _, self.info = api(c.sock, "GET", "vm.info", want=200)

    def verify(self, what):
        check(self.c.alive(), "cocoon died after: %s" % what)
        t = time.monotonic()
        api(self.c.sock, "GET", "vmm.ping", want=200)
        check(time.monotonic() - t < 1.0, "vmm.ping slow after: %s" % what)
        _, info = api(self.c.sock, "GET", "vm.info", want=200)
        check(info == self.info, "VM changed after %s:\n%s\nwas\n%s" % (what, info, self.info))


def hostile_requests(c, base, state):
    sock = c.sock
    step("[%s] truncated request, then the client goes away" % state)
    raw_exchange(sock, b"PUT /api/v1/vm.add-disk HTTP/1.1\r\nContent-Length: 400\r\n\r\n{\"pa",
                 read=False)
    raw_exchange(sock, b"PUT /api/v1/vm.boot HTT", read=False)
    base.verify("truncated requests")

    step("[%s] oversized body -> 413, oversized headers -> 431" % state)
    big = b"{\"path\":\"" + b"a" * 70000 + b"\"}"
    r = raw_exchange(sock, b"PUT /api/v1/vm.add-disk HTTP/1.1\r\nHost: localhost\r\n"
                     b"Content-Length: %d\r\n\r\n" % len(big) + big)
    check(status_of(r) == 413, "oversized body answered %r" % r[:80])
    r = raw_exchange(sock, b"GET /api/v1/vmm.ping HTTP/1.1\r\nX-Pad: " + b"x" * 10000 +
                     b"\r\n\r\n")
    check(status_of(r) == 431, "oversized header answered %r" % r[:80])
    r = raw_exchange(sock, b"GET /api/v1/vmm.ping HTTP/1.1\r\n" +
                     b"".join(b"X-%d: y\r\n" % i for i in range(200)) + b"\r\n")
    check(status_of(r) == 431, "too many headers answered %r" % r[:80])
    base.verify("oversized requests")

    step("[%s] malformed HTTP and binary garbage -> 400" % state)
    for junk in (b"\x00\xff\x10garbage\r\n\r\n", b"PUT /api/v1/vm.boot HTTP/1.1\r\n"
                 b"Content-Length: -1\r\n\r\n", b"GET /api/v1/vmm.ping HTTP/1.1\r\nNoColon\r\n\r\n"):
        r = raw_exchange(sock, junk)
        check(status_of(r) == 400, "garbage %r answered %r" % (junk[:20], r[:80]))
    base.verify("malformed HTTP")

    step("[%s] invalid JSON and wrong JSON types -> 400" % state)
    for route, body in (("vm.add-disk", "{\"path\":"), ("vm.add-disk", "[1,2"),
                        ("vm.resize", "not json"), ("vm.remove-device", "{\"id\":}"),
                        ("vm.add-disk", {"path": 5}), ("vm.add-disk", {"path": ["a"]}),
                        ("vm.add-disk", {"path": "/x", "readonly": "yes"}),
                        ("vm.resize", {"desired_vcpus": "2"}), ("vm.resize", {"desired_ram": 1.5}),
                        ("vm.remove-device", {"id": 3}), ("vm.remove-device", ["_disk0"]),
                        ("vm.add-net", {"mac": 17})):
        api(sock, "PUT", route, body, want=400)
    base.verify("bad JSON")

    step("[%s] negative and absurd sizes -> 400" % state)
    for route, body in (("vm.resize", {"desired_ram": -1}),
                        ("vm.resize", {"desired_ram": 1 << 62}),
                        ("vm.resize", {"desired_vcpus": -1}),
                        ("vm.resize", {"desired_vcpus": 1000000}),
                        ("vm.resize", {"desired_vcpus": 0}),
                        ("vm.resize", {"desired_ram": 99999999999999999999999}),
                        ("vm.add-disk", {"path": "/x", "num_queues": -1}),
                        ("vm.add-disk", {"path": "/x", "queue_size": 1 << 40}),
                        ("vm.add-net", {"mtu": -5}), ("vm.add-net", {"num_queues": 64})):
        api(sock, "PUT", route, body, want=400)
    base.verify("absurd sizes")

    step("[%s] unknown route -> 404, wrong method -> 405" % state)
    api(sock, "GET", "vm.nonexistent", want=404)
    api(sock, "PUT", "vmm.reboot-the-host", {}, want=404)
    r = raw_exchange(sock, b"GET /etc/passwd HTTP/1.1\r\nHost: localhost\r\n\r\n")
    check(status_of(r) == 404, "path outside /api/v1 answered %r" % r[:60])
    for method, route in (("GET", "vm.boot"), ("PUT", "vm.info"), ("DELETE", "vmm.ping"),
                          ("POST", "vm.create"), ("GET", "vmm.shutdown")):
        st, raw, _ = request(sock, method, route)
        check(st == 405, "%s %s answered %d" % (method, route, st))
    base.verify("bad routes")

    step("[%s] requests out of state order -> 409" % state)
    for route in (["vm.resume", "vm.shutdown", "vm.pause"] if state == "Created"
                  else ["vm.boot", "vm.resume"]):
        api(sock, "PUT", route, want=409)
    api(sock, "PUT", "vm.create", plain_vm(base.info["config"]["payload"]["kernel"]), want=409)
    base.verify("out-of-order requests")

    step("[%s] 10 connections held open, the 11th gets 503" % state)
    conns = []
    for _ in range(10):
        conn = UnixHTTPConnection(sock)
        check(request_on(conn, "GET", "vmm.ping")[0] == 200, "held connection refused")
        conns.append(conn)
    extra = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    extra.settimeout(5)
    extra.connect(sock)
    r = extra.recv(4096)  # answered without asking: the server is full
    extra.close()
    check(status_of(r) == 503, "11th connection answered %r" % r[:60])
    check(b"too many open connections" in r, "503 without its reason: %r" % r)
    check(request_on(conns[7], "GET", "vmm.ping")[0] == 200, "held connection broke")
    for conn in conns:
        conn.close()
    time.sleep(0.1)
    base.verify("11 connections")

    step("[%s] half a request, then a stall: others served, stalled one gets 408" % state)
    stalled = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stalled.connect(sock)
    stalled.sendall(b"PUT /api/v1/vm.add-disk HTTP/1.1\r\nContent-Length: 100\r\n\r\n{\"pa")
    t0 = time.monotonic()
    base.verify("a stalled request (while it stalls)")
    stalled.settimeout(15)
    got = b""
    try:
        while True:
            chunk = stalled.recv(4096)
            if not chunk:
                break
            got += chunk
    except socket.timeout:
        pass
    stalled.close()
    check(status_of(got) == 408, "stalled request answered %r" % got[:80])
    check(time.monotonic() - t0 < 14, "stalled request held %.1f s" % (time.monotonic() - t0))
    base.verify("a stalled request")

    step("[%s] an fd sent with a request that takes none is closed, not leaked" % state)
    time.sleep(0.1)
    before = open_fds(c.proc.pid)
    for route, body in (("vmm.ping", None), ("vm.info", None), ("vm.resize", {"x": 1})):
        rd, wr = os.pipe()
        method = "GET" if body is None else "PUT"
        data = json.dumps(body).encode() if body is not None else b""
        req = ("%s /api/v1/%s HTTP/1.1\r\nHost: localhost\r\nContent-Length: %d\r\n\r\n"
               % (method, route, len(data))).encode() + data
        r = raw_exchange(sock, req, fds=[rd])
        os.close(rd)
        check(status_of(r) is not None, "no answer to %s with an fd" % route)
        try:
            os.write(wr, b"x")
            leaked = True
        except BrokenPipeError:
            leaked = False
        os.close(wr)
        check(not leaked, "cocoon kept the fd sent with %s" % route)
    deadline = time.monotonic() + 2  # closed client connections take a loop turn to go
    while open_fds(c.proc.pid) > before and time.monotonic() < deadline:
        time.sleep(0.02)
    after = open_fds(c.proc.pid)
    check(after <= before, "cocoon's fd count grew from %d to %d" % (before, after))
    base.verify("fds with requests that take none")


def case_api_bad_input(work):
    kernel, gname = guest_kernel(["spin"])
    check(kernel, "guest_spin.elf not built in %s" % GUESTS)
    c = Cocoon(work)
    try:
        ms = c.wait_ready() * 1000
        step("vmm.ping answered %.1f ms after start" % ms)

        step("hostile vm.create bodies create nothing")
        for body in ({"memory": {"size": -1}, "payload": {"kernel": kernel}},
                     {"memory": {"size": 1 << 62}, "payload": {"kernel": kernel}},
                     {"memory": {"size": "2G"}, "payload": {"kernel": kernel}},
                     {"cpus": {"boot_vcpus": 1000000}, "payload": {"kernel": kernel}},
                     {"cpus": {"boot_vcpus": -1}, "payload": {"kernel": kernel}},
                     {"cpus": {"boot_vcpus": 0}, "payload": {"kernel": kernel}},
                     {"payload": {"kernel": "/nonexistent/vmlinux"}},
                     {"payload": {"kernel": kernel}, "disks": "all of them"}):
            api(c.sock, "PUT", "vm.create", body, want=400)
        api(c.sock, "PUT", "vm.create", "{\"cpus\":", want=400)
        api(c.sock, "GET", "vm.info", want=404)

        api(c.sock, "PUT", "vm.create", plain_vm(kernel), want=204)
        base = Baseline(c)
        check(base.info["state"] == "Created", "state %r" % base.info["state"])
        hostile_requests(c, base, "Created")

        if not os.access("/dev/kvm", os.R_OK | os.W_OK):
            step("no /dev/kvm: the running-VM half is skipped")
        else:
            api(c.sock, "PUT", "vm.boot", want=204)
            deadline = time.monotonic() + 60
            while "spin guest ready" not in c.output() and time.monotonic() < deadline:
                check(c.alive(), "cocoon died booting the spin guest")
                time.sleep(0.1)
            check("spin guest ready" in c.output(), "spin guest did not start:\n" + c.output())
            base = Baseline(c)
            check(base.info["state"] == "Running", "state %r" % base.info["state"])
            hostile_requests(c, base, "Running")

        step("vmm.shutdown: 204, exit within 3 s, socket removed")
        t0 = time.monotonic()
        api(c.sock, "PUT", "vmm.shutdown", want=204)
        c.proc.wait(timeout=3)
        check(time.monotonic() - t0 < 3, "exit took %.2f s" % (time.monotonic() - t0))
        check(c.proc.returncode == 0, "exit status %d" % c.proc.returncode)
        check(not os.path.exists(c.sock), "socket file left behind")
    finally:
        out = c.output()
        c.stop()
    check_no_sanitizer_report(out)


# ---- api_confidential_refusals ----

REFUSED = [
    ("vm.resize", {"desired_ram": 1 << 30}),
    ("vm.resize", {"desired_vcpus": 2}),
    ("vm.resize-zone", {"id": "mem0", "desired_ram": 1 << 30}),
    ("vm.add-pmem", {"file": "/tmp/pmem.img"}),
    ("vm.snapshot", {"destination_url": "file:///tmp/snapshot"}),
    ("vm.restore", {"source_url": "file:///tmp/snapshot"}),
    ("vm.coredump", {"destination_url": "file:///tmp/core"}),
    ("vm.send-migration", {"destination_url": "unix:/tmp/migrate"}),
    ("vm.receive-migration", {"receiver_url": "unix:/tmp/migrate"}),
    ("vm.add-device", {"path": "/sys/bus/pci/devices/0000:01:00.0", "iommu": False}),
    ("vm.add-user-device", {"socket": "/tmp/vfio-user.sock"}),
]


def case_api_confidential_refusals(work):
    kernel = write_file(os.path.join(work, "vmlinux"), 8192, b"K")
    firmware = write_file(os.path.join(work, "td-shim.bin"), 65536, b"F")
    disk = write_file(os.path.join(work, "disk.img"), 1 << 20)
    c = Cocoon(work)
    try:
        c.wait_ready()
        for tee, payload in (("tdx", {"kernel": kernel, "firmware": firmware}),
                             ("sev_snp", {"kernel": kernel})):
            step("%s: refused at vm.create: memory hot-add and VFIO" % tee)
            plat = {"tdx": tee == "tdx", "sev_snp": tee == "sev_snp", "num_pci_segments": 2}
            body = {"cpus": {"boot_vcpus": 1, "max_vcpus": 2},
                    "memory": {"size": 256 << 20, "hotplug_size": 1 << 30},
                    "payload": payload, "platform": plat}
            _, err = api(c.sock, "PUT", "vm.create", body, want=400)
            check("confidential" in err[0], "no reason: %r" % err)
            body["memory"] = {"size": 256 << 20}
            body["devices"] = [{"path": "/sys/bus/pci/devices/0000:01:00.0"}]
            _, err = api(c.sock, "PUT", "vm.create", body, want=400)
            check("VFIO" in err[0] and "confidential" in err[0], "no reason: %r" % err)
            api(c.sock, "GET", "vm.info", want=404)

            step("%s: created, not booted" % tee)
            del body["devices"]
            body["disks"] = [{"path": disk, "readonly": True, "image_type": "Raw"}]
            api(c.sock, "PUT", "vm.create", body, want=204)
            _, before = api(c.sock, "GET", "vm.info", want=200)
            check(before["state"] == "Created", "state %r" % before["state"])
            check(before["config"]["platform"][tee] is True, "platform lost: %r" % before)
            for route, rbody in REFUSED:
                st, err = api(c.sock, "PUT", route, rbody)
                check(st == 403, "%s on %s answered %d" % (route, tee, st))
                check("refused for a confidential guest" in err[0], "no reason: %r" % err)
                _, after = api(c.sock, "GET", "vm.info", want=200)
                check(after == before, "%s changed the %s VM" % (route, tee))
                check(c.alive(), "cocoon died")
            step("%s: every refusal answered 403 with its reason; VM unchanged" % tee)
            st, err = api(c.sock, "PUT", "vm.boot")
            if st != 204:  # no such TEE on this host: a clear error, and the VM stays Created
                check(st == 500, "vm.boot answered %d %r" % (st, err))
                _, after = api(c.sock, "GET", "vm.info", want=200)
                check(after == before, "a failed vm.boot changed the %s VM" % tee)
                step("%s: vm.boot on this host: %s" % (tee, err[0]))
            api(c.sock, "PUT", "vm.delete", want=204)

        step("plain guest: the same requests are not refused for confidentiality")
        api(c.sock, "PUT", "vm.create", {"cpus": {"boot_vcpus": 1, "max_vcpus": 2},
                                         "memory": {"size": 256 << 20},
                                         "payload": {"kernel": kernel}}, want=204)
        api(c.sock, "PUT", "vm.resize", {"desired_vcpus": 2}, want=204)
        _, info = api(c.sock, "GET", "vm.info", want=200)
        check(info["config"]["cpus"]["boot_vcpus"] == 2, "resize not applied: %r" % info)
        kata_setting = {"vm.add-pmem": "disable_image_nvdimm", "vm.add-device": "no-port",
                        "vm.add-user-device": "vfio-user"}
        for route, rbody in REFUSED[2:]:
            st, err = api(c.sock, "PUT", route, rbody)
            if route in kata_setting:  # reached by a Kata setting: 400 naming it
                check(st == 400 and kata_setting[route] in err[0],
                      "%s on a plain guest answered %d %r" % (route, st, err))
            else:
                check(st == 501, "%s on a plain guest answered %d" % (route, st))
        api(c.sock, "PUT", "vmm.shutdown", want=204)
        c.proc.wait(timeout=3)
        check(not os.path.exists(c.sock), "socket file left behind")
    finally:
        c.stop()


# ---- api_kata_replay ----

TUNSETIFF = 0x400454CA
IFF_TAP, IFF_NO_PI, IFF_VNET_HDR = 0x0002, 0x1000, 0x4000


def enter_test_netns():
    """A network namespace of our own (cocoon inherits it, as in a Kata pod)."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.unshare(0x40000000) != 0:  # CLONE_NEWNET
        skip("cannot create a network namespace: %s" % os.strerror(ctypes.get_errno()))


def open_tap(name):
    """A tap fd as Kata creates it (IFF_TAP | IFF_NO_PI | IFF_VNET_HDR)."""
    try:
        fd = os.open("/dev/net/tun", os.O_RDWR)
    except OSError as e:
        skip("/dev/net/tun: %s" % e)
    ifr = struct.pack("16sH22x", name.encode(), IFF_TAP | IFF_NO_PI | IFF_VNET_HDR)
    fcntl.ioctl(fd, TUNSETIFF, ifr)
    return fd


def kata_vm_create_body(kernel, image, vsock_path):
    """kata-clh-api.md 5.4, with a test guest as kernel. The example is a TDX guest; this host
    has no TDX, so platform.tdx is false and the td-shim firmware is left out (the confidential
    path is api_confidential_refusals'); every other field is as Kata sends it."""
    return {
        "cpus": {"boot_vcpus": 1, "max_vcpus": 1, "kvm_hyperv": False, "nested": True,
                 "topology": {"threads_per_core": 1, "cores_per_die": 1,
                              "dies_per_package": 1, "packages": 1}},
        "memory": {"size": 2147483648, "mergeable": False, "hotplug_method": "Acpi",
                   "shared": False, "hugepages": False, "prefault": False, "thp": True},
        "payload": {"kernel": kernel,
                    "cmdline": "root=/dev/vda1 rootflags=data=ordered,errors=remount-ro ro "
                               "rootfstype=ext4 panic=1 no_timer_check noreplace-smp quiet "
                               "console=ttyS0"},
        "disks": [{"path": image, "readonly": True, "direct": False, "iommu": False,
                   "num_queues": 1, "queue_size": 128, "vhost_user": False,
                   "backing_files": False, "sparse": True, "image_type": "Raw"}],
        "rng": {"src": "/dev/urandom", "iommu": False},
        "serial": {"mode": "Tty", "iommu": False}, "console": {"mode": "Off", "iommu": False},
        "vsock": {"cid": 3, "socket": vsock_path, "iommu": False},
        "iommu": False, "watchdog": False, "pvpanic": False, "landlock_enable": False,
        "platform": {"num_pci_segments": 2, "tdx": False, "sev_snp": False},
    }


def hybrid_vsock_echo(path, port, payload, timeout):
    """Kata's HybridVSockDialer: CONNECT <port>\\n, a line containing OK, then the stream."""
    deadline = time.monotonic() + timeout
    last = "never connected"
    while time.monotonic() < deadline:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(10)
        try:
            s.connect(path)
            s.sendall(b"CONNECT %d\n" % port)
            line = b""
            while not line.endswith(b"\n"):
                ch = s.recv(1)
                if not ch:
                    break
                line += ch
            if b"OK" not in line:
                last = "handshake answered %r" % line
                s.close()
                time.sleep(0.2)
                continue
            s.sendall(payload)
            got = b""
            while len(got) < len(payload):
                chunk = s.recv(65536)
                if not chunk:
                    break
                got += chunk
            s.close()
            return line, got
        except OSError as e:
            last = str(e)
            s.close()
            time.sleep(0.2)
    raise Fail("hybrid vsock to port %d: %s" % (port, last))


def case_api_kata_replay(work):
    need_kvm()
    enter_test_netns()
    kernel, gname = guest_kernel(["vsock_echo"])
    check(kernel, "guest_vsock_echo.elf (the agent end) is not built in %s" % GUESTS)
    image = write_file(os.path.join(work, "rootfs.img"), 4 << 20)
    hot_disk = write_file(os.path.join(work, "volume.img"), 1 << 20)
    c = Cocoon(work)
    vsock_path = os.path.join(c.dir, "clh.sock")
    tap_fd = -1
    try:
        ms = c.wait_ready() * 1000
        step("launch: vmm.ping answered %.1f ms after exec (polled every 10 ms)" % ms)
        check(ms < 1000, "vmm.ping took %.0f ms" % ms)
        mode = os.stat(c.sock).st_mode & 0o777
        check(mode == 0o600, "socket mode %o" % mode)

        api(c.sock, "PUT", "vm.create", kata_vm_create_body(kernel, image, vsock_path), want=204)
        _, info = api(c.sock, "GET", "vm.info", want=200)
        check(info["state"] == "Created", "vm.info state %r, Kata aborts" % info["state"])
        step("vm.create 204, vm.info Created")

        tap_fd = open_tap("tap0_kata")
        body = {"ip": "192.168.249.1", "mask": "255.255.255.0", "mac": "52:54:00:4b:a7:a1",
                "iommu": False, "num_queues": 2, "queue_size": 256, "vhost_user": False,
                "vhost_mode": "Client", "offload_tso": True, "offload_ufo": True,
                "offload_csum": True}
        r = raw_exchange(c.sock, go_dump_request("vm.add-net", body), fds=[tap_fd])
        check(status_of(r) in (200, 204), "vm.add-net (one sendmsg + tap fd) answered %r" % r)
        check(status_of(r) == 204, "cold vm.add-net should be 204, got %r" % r[:40])
        step("vm.add-net in one sendmsg with the tap fd: 204")

        api(c.sock, "PUT", "vm.boot", want=204)
        _, info = api(c.sock, "GET", "vm.info", want=200)
        check(info["state"] == "Running", "after boot vm.info state %r" % info["state"])
        step("vm.boot 204, vm.info Running")

        failures = []
        try:
            payload = b"kata agent ttrpc stand-in \x00\x01\x02" * 64
            line, got = hybrid_vsock_echo(vsock_path, 1024, payload, 60)
            check(re.match(rb"^OK \d+\n$", line), "handshake line %r" % line)
            check(got == payload, "echo returned %d of %d bytes" % (len(got), len(payload)))
            step("hybrid vsock: CONNECT 1024 -> %r, echo of %d bytes" % (line, len(payload)))
        except Fail as e:
            failures.append("vsock echo: %s" % e)

        try:
            disk = {"path": hot_disk, "readonly": False, "image_type": "Raw", "vhost_user": False,
                    "num_queues": 1, "queue_size": 1024, "iommu": False,
                    "backing_files": False, "sparse": True}
            st, dev = api(c.sock, "PUT", "vm.add-disk", disk)
            check(st == 200, "vm.add-disk answered %d: %r" % (st, dev))
            check(isinstance(dev.get("id"), str) and dev["id"], "no id in %r" % dev)
            check(re.match(r"^0000:00:[0-9a-f]{2}\.0$", dev.get("bdf", "")),
                  "bdf %r is not 0000:00:DD.0 (Kata: Unexpected PCI address)" % dev.get("bdf"))
            step("vm.add-disk 200 %r" % dev)
            api(c.sock, "PUT", "vm.remove-device", {"id": dev["id"]}, want=204)
            _, info = api(c.sock, "GET", "vm.info", want=200)
            check(all(d.get("id") != dev["id"] for d in info["config"]["disks"]),
                  "removed disk still in vm.info: %r" % info["config"]["disks"])
            step("vm.remove-device %s 204" % dev["id"])
        except Fail as e:
            failures.append("disk hot-add/remove: %s" % e)

        try:  # Kata's NIC hot-plug (HotplugAddDevice NetDev): same raw sendmsg, 200 + bdf
            hot_tap = open_tap("tap1_kata")
            body["mac"] = "52:54:00:4b:a7:a2"
            r = raw_exchange(c.sock, go_dump_request("vm.add-net", body), fds=[hot_tap])
            os.close(hot_tap)
            check(status_of(r) == 200, "hot vm.add-net answered %r" % r[:200])
            dev = json.loads(r.partition(b"\r\n\r\n")[2])
            check(re.match(r"^0000:00:[0-9a-f]{2}\.0$", dev.get("bdf", "")), "bdf %r" % dev)
            step("hot vm.add-net 200 %r" % dev)
        except Fail as e:
            failures.append("net hot-add: %s" % e)

        api(c.sock, "GET", "vmm.ping", want=200)
        t0 = time.monotonic()
        api(c.sock, "PUT", "vmm.shutdown", want=204)
        try:
            c.proc.wait(timeout=3)
        except subprocess.TimeoutExpired:
            raise Fail("cocoon still running 3 s after vmm.shutdown (Kata would SIGKILL)")
        step("vmm.shutdown 204; exited in %.0f ms with status %d"
             % ((time.monotonic() - t0) * 1000, c.proc.returncode))
        check(not os.path.exists(c.sock), "API socket left behind")
        check(not failures, "; ".join(failures))
    finally:
        if tap_fd >= 0:
            os.close(tap_fd)
        out = c.output()
        c.stop()
        print("---- cocoon output (tail) ----\n" + out[-3000:])
    check_no_sanitizer_report(out)


# ---- api_kata_driver_shapes ----

def runtime_rs_parses_vm_info(info):
    """What runtime-rs's ch-config structs (serde, no defaults on these) require of vm.info:
    its parser fails on the first missing field."""
    cfg = info["config"]
    need = [("cpus", "boot_vcpus"), ("cpus", "max_vcpus"), ("cpus", "max_phys_bits"),
            ("memory", "size"), ("serial", "mode"), ("console", "mode"), ("rng", "src"),
            ("platform", "num_pci_segments")]
    for sect, key in need:
        check(isinstance(cfg.get(sect), dict) and key in cfg[sect],
              "vm.info config lacks %s.%s (runtime-rs cannot parse it)" % (sect, key))
    check(0 < cfg["cpus"]["boot_vcpus"] <= 255, "boot_vcpus does not fit runtime-rs's u8")
    for d in cfg.get("disks") or []:
        for key in ("num_queues", "queue_size"):
            check(key in d, "vm.info disk lacks %s: %r" % (key, d))
    for n in cfg.get("net") or []:
        for key in ("ip", "mask", "mac", "num_queues", "queue_size"):
            check(key in n, "vm.info net lacks %s: %r" % (key, n))
        check(re.match(r"^([0-9a-f]{2}:){5}[0-9a-f]{2}$", n["mac"]), "mac %r" % n["mac"])
    if cfg.get("vsock"):
        check("cid" in cfg["vsock"] and "socket" in cfg["vsock"], "vsock %r" % cfg["vsock"])
    check(info["state"] in ("Created", "Running", "Shutdown", "Paused"), "state %r" % info)


def go_body(kernel, image, vsock_path, vcpus=1, debug=False, tee=None, firmware=None,
            initdata=None, shared_fs=None, host_data=None):
    """The Go clh driver's vm.create (clh.go CreateVM + enableProtection), per setting."""
    cmdline = ("root=/dev/vda1 rootflags=data=ordered,errors=remount-ro ro rootfstype=ext4 "
               "panic=1 no_timer_check noreplace-smp ")
    if debug:
        cmdline += ("console=hvc0" if tee else "console=ttyS0,115200n8") + \
            " systemd.log_target=console"
    else:
        cmdline += "quiet"
    body = {
        "cpus": {"boot_vcpus": vcpus, "max_vcpus": vcpus, "kvm_hyperv": False, "nested": True,
                 "topology": {"threads_per_core": 1, "cores_per_die": vcpus,
                              "dies_per_package": 1, "packages": 1}},
        "memory": {"size": 256 << 20, "mergeable": False, "hotplug_method": "Acpi",
                   "shared": bool(shared_fs), "hugepages": False, "prefault": False,
                   "thp": True},
        "payload": {"kernel": kernel, "cmdline": cmdline},
        "disks": [{"path": image, "readonly": True, "direct": False, "iommu": False,
                   "num_queues": 1, "queue_size": 128, "vhost_user": False,
                   "backing_files": False, "sparse": True, "image_type": "Raw"}],
        "rng": {"src": "/dev/urandom", "iommu": False},
        "serial": {"mode": "Tty" if debug and not tee else "Off", "iommu": False},
        "console": {"mode": "Tty" if debug and tee else "Off", "iommu": False},
        "vsock": {"cid": 3, "socket": vsock_path, "iommu": False},
        "iommu": False, "watchdog": False, "pvpanic": False, "landlock_enable": False,
        "platform": {"num_pci_segments": 2, "tdx": tee == "tdx", "sev_snp": tee == "sev_snp"},
    }
    if not tee:
        body["memory"]["hotplug_size"] = 2048 << 20  # default_maxmemory; omitted for CC
    if tee == "tdx":
        body["payload"]["firmware"] = firmware
    if host_data:  # only with tools/kata/clh-sev-snp.patch
        body["payload"]["host_data"] = host_data
    if initdata:
        body["disks"].append({"path": initdata, "readonly": True, "direct": False,
                              "iommu": False, "num_queues": vcpus, "queue_size": 1024,
                              "vhost_user": False, "backing_files": False, "sparse": True,
                              "image_type": "Raw"})
    if shared_fs:
        body["fs"] = [{"tag": "kataShared", "socket": shared_fs, "num_queues": 1,
                       "queue_size": 1024, "pci_segment": 1}]
    return body


def rs_body(kernel, image, vsock_path, vcpus=1, tee=None, firmware=None, mrconfigid=None):
    """runtime-rs's vm.create: its ch-config VmConfig serialised (convert.rs), per setting."""
    payload = {"firmware": firmware, "kernel": kernel, "initramfs": None,
               "cmdline": "console=hvc0 root=/dev/vda1 rootflags=data=ordered,errors=remount-ro "
                          "ro rootfstype=ext4 no_timer_check noreplace-smp "
                          "systemd.log_target=console" if tee else
                          "quiet root=/dev/vda1 ro rootfstype=ext4 no_timer_check noreplace-smp "
                          "systemd.log_target=console"}
    if mrconfigid:
        payload["mrconfigid"] = mrconfigid
    return {
        "cpus": {"boot_vcpus": vcpus, "max_vcpus": vcpus, "kvm_hyperv": False,
                 "features": {"amx": False}},
        "memory": {"size": 256 << 20, "mergeable": False, "hotplug_method": "Acpi",
                   "shared": False, "hugepages": False, "prefault": False},
        "payload": payload,
        "disks": [{"path": image, "readonly": True, "direct": False, "iommu": False,
                   "num_queues": vcpus, "queue_size": 1024, "vhost_user": False,
                   "vhost_socket": None, "rate_limiter_config": None, "id": None,
                   "disable_io_uring": False, "pci_segment": 0}],
        "rng": {"src": "/dev/urandom", "iommu": False},
        "serial": {"file": None, "mode": "Off", "iommu": False},
        "console": {"file": None, "mode": "Off", "iommu": False},
        "vsock": {"cid": 3, "socket": vsock_path, "iommu": False, "id": None, "pci_segment": 0},
        "iommu": False, "watchdog": False,
        "platform": {"num_pci_segments": 1, "iommu_segments": None, "serial_number": None,
                     "uuid": None, "oem_strings": None, "tdx": tee == "tdx"},
    }


def case_api_kata_driver_shapes(work):
    """Every request shape Kata's Go and Rust drivers send, on the wire, and each answer they
    rely on: Go defaults (virtio-fs refused naming shared_fs, then shared_fs=none), debug,
    CoCo TDX, initdata (num_queues = vCPUs), SNP with the reviewed patch; runtime-rs plain and
    TDX with initdata (base64 mrconfigid). A plain pod boots when KVM is there."""
    kernel, _ = guest_kernel(["spin"])
    check(kernel, "guest_spin.elf not built in %s" % GUESTS)
    image = write_file(os.path.join(work, "rootfs.img"), 4 << 20)
    initdata = write_file(os.path.join(work, "initdata.img"), 4096)
    firmware = write_file(os.path.join(work, "td-shim.bin"), 65536, b"F")
    c = Cocoon(work)
    vsock_path = os.path.join(c.dir, "clh.sock")
    digest48 = bytes(range(48))
    try:
        c.wait_ready()
        _, ping = api(c.sock, "GET", "vmm.ping", want=200)
        for f in ("kvm", "tdx", "sev_snp"):
            check(f in ping.get("features", []), "vmm.ping features %r lack %s (runtime-rs "
                  "refuses TDX without 'tdx')" % (ping.get("features"), f))
        check(isinstance(ping.get("pid"), int) and ping.get("build_version"), "ping %r" % ping)
        step("vmm.ping: features %r" % ping["features"])

        def created(body, what, resize=True):
            api(c.sock, "PUT", "vm.create", body, want=204)
            _, info = api(c.sock, "GET", "vm.info", want=200)
            check(info["state"] == "Created", "%s: state %r" % (what, info["state"]))
            runtime_rs_parses_vm_info(info)
            if resize:  # Go: ResizeVCPUs / ResizeMemory to the current size per container
                cur = info["config"]["cpus"]["boot_vcpus"]
                api(c.sock, "PUT", "vm.resize", {"desired_vcpus": cur}, want=204)
                api(c.sock, "PUT", "vm.resize",
                    {"desired_ram": info["config"]["memory"]["size"]}, want=204)
            step("%s: vm.create 204, vm.info parses as runtime-rs needs, no-op resize 204"
                 % what)
            return info

        # Go defaults: shared_fs = virtio-fs is refused, naming the setting; nothing created
        _, err = api(c.sock, "PUT", "vm.create",
                     go_body(kernel, image, vsock_path, shared_fs=os.path.join(c.dir, "vfs.sock")),
                     want=400)
        check('shared_fs = "none"' in err[0], "fs refusal lacks the Kata setting: %r" % err)
        api(c.sock, "GET", "vm.info", want=404)
        step("Go defaults (virtio-fs): 400 %r" % err[0][:90])

        # Go, shared_fs = none, 4 vCPUs with an initdata disk of num_queues = 4
        body = go_body(kernel, image, vsock_path, vcpus=4, initdata=initdata)
        body["disks"][0]["num_queues"] = 32  # beyond the device's 16: capped at boot
        # disk_rate_limiter_bw_max_rate / _ops_max_rate (clh.go getDiskRateLimiterConfig)
        limiter = {"bandwidth": {"size": 10 << 20, "one_time_burst": 0, "refill_time": 1000},
                   "ops": {"size": 1000, "one_time_burst": 0, "refill_time": 1000}}
        body["disks"][0]["rate_limiter_config"] = limiter
        info = created(body, "Go plain + initdata")
        check(info["config"]["disks"][0]["rate_limiter_config"] == limiter,
              "rate limiter not kept: %r" % info["config"]["disks"][0])
        _, err = api(c.sock, "PUT", "vm.add-fs", {"tag": "kataShared", "socket": "/x.sock",
                                                  "num_queues": 1, "queue_size": 1024}, want=400)
        check("shared_fs" in err[0], "vm.add-fs: %r" % err)
        if os.access("/dev/kvm", os.R_OK | os.W_OK):
            api(c.sock, "PUT", "vm.boot", want=204)
            _, info = api(c.sock, "GET", "vm.info", want=200)
            check(info["state"] == "Running", "state %r" % info["state"])
            runtime_rs_parses_vm_info(info)
            api(c.sock, "PUT", "vm.resize", {"desired_vcpus": 4}, want=204)
            disk = {"path": write_file(os.path.join(work, "vol.img"), 1 << 20),
                    "readonly": False, "image_type": "Raw", "vhost_user": False,
                    "num_queues": 4, "queue_size": 1024, "iommu": False}
            st, dev = api(c.sock, "PUT", "vm.add-disk", disk)
            check(st == 200 and re.match(r"^0000:00:[0-9a-f]{2}\.0$", dev.get("bdf", "")),
                  "hot vm.add-disk %d %r" % (st, dev))
            check("32 queues requested, 16 offered" in c.output(), "queue cap not logged")
            step("Go plain: booted with a 32-queue disk (capped, logged), hot disk %s" % dev["bdf"])
        api(c.sock, "PUT", "vm.delete", want=204)

        # Go debug: serial Tty on a plain guest
        info = created(go_body(kernel, image, vsock_path, debug=True), "Go debug")
        check(info["config"]["serial"]["mode"] == "Tty", "serial %r" % info["config"]["serial"])
        api(c.sock, "PUT", "vm.delete", want=204)

        # Go CoCo on a TDX host, debug: console Tty with console=hvc0
        info = created(go_body(kernel, image, vsock_path, debug=True, tee="tdx",
                               firmware=firmware, initdata=initdata, vcpus=2), "Go CoCo TDX debug")
        check(info["config"]["platform"]["tdx"] is True, "tdx lost")
        check(info["config"]["serial"]["mode"] == "Tty",
              "console Tty not carried by the serial port: %r" % info["config"]["serial"])
        log = c.output()
        check(re.search(r"WARN: .*console=hvc0.*no virtio-console.*ttyS0", log),
              "no clear log line for console=hvc0:\n" + log[-1500:])
        api(c.sock, "PUT", "vm.resize", {"desired_vcpus": 1}, want=403)
        api(c.sock, "PUT", "vm.delete", want=204)
        step("Go CoCo debug: console=hvc0 logged (WARN) as lost; the serial port carries the "
             "console Tty")

        # Go + tools/kata/clh-sev-snp.patch: platform.sev_snp and hex host_data
        hd = bytes(range(100, 132)).hex()
        info = created(go_body(kernel, image, vsock_path, tee="sev_snp", host_data=hd),
                       "Go SNP (patched driver)")
        check(info["config"]["payload"].get("host_data") == hd, "host_data %r" % info)
        api(c.sock, "PUT", "vm.delete", want=204)

        # runtime-rs plain, its one persistent connection, vm.add-vsock cold
        body = rs_body(kernel, image, vsock_path, vcpus=2)
        del body["vsock"]
        info = created(body, "runtime-rs plain", resize=False)
        api(c.sock, "PUT", "vm.add-vsock", {"cid": 3, "socket": vsock_path, "iommu": False,
                                            "id": None, "pci_segment": 0}, want=204)
        _, info = api(c.sock, "GET", "vm.info", want=200)
        runtime_rs_parses_vm_info(info)
        api(c.sock, "PUT", "vm.delete", want=204)

        # runtime-rs TDX with initdata: mrconfigid = base64 of the 48-byte digest
        b64 = __import__("base64").b64encode(digest48).decode()
        info = created(rs_body(kernel, image, vsock_path, vcpus=2, tee="tdx", firmware=firmware,
                               mrconfigid=b64), "runtime-rs TDX + initdata", resize=False)
        check(info["config"]["payload"].get("mrconfigid") == digest48.hex(),
              "mrconfigid did not reach the config: %r" % info["config"]["payload"])
        step("runtime-rs TDX: base64 mrconfigid decoded to the 48-byte digest")
        api(c.sock, "PUT", "vm.delete", want=204)

        api(c.sock, "PUT", "vmm.shutdown", want=204)
        c.proc.wait(timeout=3)
        check(c.proc.returncode == 0, "exit status %d" % c.proc.returncode)
    finally:
        out = c.output()
        c.stop()
    check_no_sanitizer_report(out)


# ---- api_kata_rs_connection ----

def rs_request(s, method, route, body=None, fds=()):
    """runtime-rs's api_command: one request on its one persistent connection, written with one
    sendmsg (the tap fds of vm.add-net attached, SCM_RIGHTS), body serialised by serde."""
    data = b"" if body is None else body.encode()
    head = ("%s /api/v1/%s HTTP/1.1\r\nHost: localhost\r\nAccept: */*\r\n" % (method, route))
    if body is not None:
        head += "Content-Type: application/json\r\n"
    head += "Content-Length: %d\r\n\r\n" % len(data)
    msg = head.encode() + data
    anc = [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", fds))] if fds else []
    check(s.sendmsg([msg], anc) == len(msg), "short sendmsg")
    out = b""
    while b"\r\n\r\n" not in out or not response_complete(out):
        chunk = s.recv(65536)
        check(chunk, "%s %s: cocoon closed runtime-rs's connection" % (method, route))
        out += chunk
    body_out = out.partition(b"\r\n\r\n")[2]
    return status_of(out), (json.loads(body_out) if body_out else None)


def case_api_kata_rs_connection(work):
    """The Rust runtime's whole sandbox on ONE connection: vmm.ping (features), vm.create (its
    pretty-printed serde VmConfig), vm.add-net with the tap fd and `fds` in the body, vm.boot,
    vm.info parsed as its structs need, vmm.shutdown."""
    need_kvm()
    enter_test_netns()
    kernel, _ = guest_kernel(["spin"])
    check(kernel, "guest_spin.elf not built in %s" % GUESTS)
    image = write_file(os.path.join(work, "rootfs.img"), 4 << 20)
    c = Cocoon(work)
    tap_fd = -1
    try:
        c.wait_ready()
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(10)
        s.connect(c.sock)
        st, ping = rs_request(s, "GET", "vmm.ping")
        check(st == 200 and "tdx" in ping["features"], "vmm.ping %r %r" % (st, ping))
        body = rs_body(kernel, image, os.path.join(c.dir, "clh.sock"), vcpus=2)
        st, err = rs_request(s, "PUT", "vm.create", json.dumps(body, indent=2))
        check(st == 204, "vm.create %r %r" % (st, err))
        tap_fd = open_tap("tap0_rs")
        net = {"ip": "192.168.249.1", "mask": "255.255.255.0", "mac": "52:54:00:12:34:56",
               "iommu": False, "num_queues": 2, "queue_size": 256, "vhost_user": False,
               "vhost_mode": "Client", "fds": [tap_fd]}
        st, err = rs_request(s, "PUT", "vm.add-net", json.dumps(net), fds=[tap_fd])
        check(st == 204, "vm.add-net with fds %r %r" % (st, err))
        st, err = rs_request(s, "PUT", "vm.boot")
        check(st == 204, "vm.boot %r %r" % (st, err))
        st, info = rs_request(s, "GET", "vm.info")
        check(st == 200, "vm.info %r" % st)
        runtime_rs_parses_vm_info(info)
        check(info["state"] == "Running", "state %r" % info["state"])
        check(info["config"]["net"][0]["mac"] == "52:54:00:12:34:56", "net %r" % info["config"])
        step("runtime-rs on one connection: ping, create, add-net + fd, boot, vm.info Running")
        st, _ = rs_request(s, "PUT", "vmm.shutdown")
        check(st == 204, "vmm.shutdown %r" % st)
        c.proc.wait(timeout=3)
        check(c.proc.returncode == 0, "exit status %d" % c.proc.returncode)
        s.close()
    finally:
        if tap_fd >= 0:
            os.close(tap_fd)
        out = c.output()
        c.stop()
    check_no_sanitizer_report(out)


# ---- api_idle_connection_kept_70s ----

def raw_roundtrip(s, method, route, body=b""):
    """One request on an existing raw socket; returns the whole response (or b"" at EOF)."""
    try:
        return raw_roundtrip_once(s, method, route, body)
    except (BrokenPipeError, ConnectionResetError) as e:
        raise Fail("%s %s: cocoon closed the connection (%s)" % (method, route, e))


def raw_roundtrip_once(s, method, route, body):
    s.sendall(("%s /api/v1/%s HTTP/1.1\r\nHost: localhost\r\nContent-Length: %d\r\n\r\n"
               % (method, route, len(body))).encode() + body)
    out = b""
    while b"\r\n\r\n" not in out or not response_complete(out):
        chunk = s.recv(65536)
        if not chunk:
            break
        out += chunk
    return out


def case_api_idle_connection_kept_70s(work):
    """runtime-rs keeps one API connection for the sandbox's life: 70 s of silence on it (longer
    than the old 60 s idle timeout) and vm.info, then vmm.shutdown, still work on it."""
    kernel = write_file(os.path.join(work, "vmlinux"), 8192, b"K")
    c = Cocoon(work)
    try:
        c.wait_ready()
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(10)
        s.connect(c.sock)
        body = json.dumps(plain_vm(kernel)).encode()
        check(status_of(raw_roundtrip(s, "PUT", "vm.create", body)) == 204, "vm.create")
        step("vm.create on the persistent connection; now 70 s of silence")
        time.sleep(70)
        r = raw_roundtrip(s, "GET", "vm.info")
        check(status_of(r) == 200, "vm.info after 70 s idle answered %r" % r[:80])
        step("vm.info answered on the same connection after 70 s idle")
        t0 = time.monotonic()
        r = raw_roundtrip(s, "PUT", "vmm.shutdown")
        check(status_of(r) == 204, "vmm.shutdown after idle answered %r" % r[:80])
        c.proc.wait(timeout=3)
        check(c.proc.returncode == 0, "exit status %d" % c.proc.returncode)
        step("vmm.shutdown on the same connection: 204, exit in %.2f s"
             % (time.monotonic() - t0))
        s.close()
    finally:
        out = c.output()
        c.stop()
    check_no_sanitizer_report(out)


# ---- api_hostile_clients ----

def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return -1


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def closed_by_peer(s, timeout):
    """Waits for the server to close s without reading what it queued (POLLRDHUP/POLLHUP)."""
    p = select.poll()
    p.register(s, select.POLLRDHUP | select.POLLHUP)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if p.poll(100):
            return True
    return False


def ping_time(sock):
    t = time.monotonic()
    st, _, _ = request(sock, "GET", "vmm.ping", timeout=5)
    check(st == 200, "vmm.ping answered %d" % st)
    return time.monotonic() - t


def unread_pipelined_info(work, kernel):
    """A configuration as large as the limits allow, and a client that pipelines vm.info without
    reading: cocoon's memory stays bounded, others are answered, the client is closed."""
    os.makedirs(os.path.join(work, "d"), exist_ok=True)
    disk = write_file(os.path.join(work, "d", "disk.img"), 1 << 20)
    c = Cocoon(work)
    try:
        c.wait_ready()
        body = plain_vm(kernel)
        body["payload"]["cmdline"] = "c" * 50000
        api(c.sock, "PUT", "vm.create", body, want=204)
        long_path = os.path.join(work, "d") + "/" + "./" * ((3900 - len(work)) // 2) + "disk.img"
        for i in range(16):
            api(c.sock, "PUT", "vm.add-disk", {"path": long_path, "id": "disk-%d" % i,
                                                "readonly": True}, want=204)
        _, raw, _ = request(c.sock, "GET", "vm.info")
        step("vm.info of the large configuration: %d bytes" % len(raw))
        check(len(raw) > 100000, "configuration not large: %d bytes" % len(raw))
        rss0 = rss_kib(c.proc.pid)
        hostile = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        hostile.connect(c.sock)
        hostile.setblocking(False)
        reqs = b"GET /api/v1/vm.info HTTP/1.1\r\nHost: localhost\r\n\r\n" * 600
        sent = 0
        t0 = time.monotonic()
        while sent < len(reqs) and time.monotonic() - t0 < 2:
            try:
                sent += hostile.send(reqs[sent:])
            except BlockingIOError:
                time.sleep(0.01)
        time.sleep(0.5)
        worst = max(ping_time(c.sock) for _ in range(5))
        grown = rss_kib(c.proc.pid) - rss0
        step("600 unread pipelined vm.info (%d bytes sent): RSS +%d KiB, vmm.ping %.0f ms"
             % (sent, grown, worst * 1000))
        check(grown < 32 * 1024, "cocoon's RSS grew by %d KiB" % grown)
        check(worst < 1.0, "vmm.ping took %.2f s meanwhile" % worst)
        check(closed_by_peer(hostile, 15), "the client that reads nothing was never closed")
        step("the client that reads nothing was closed after %.1f s" % (time.monotonic() - t0))
        hostile.close()
        ping_time(c.sock)
        api(c.sock, "PUT", "vm.remove-device", {"id": "disk-0"}, want=204)
        st, raw, _ = request(c.sock, "PUT", "vm.add-disk", {"path": disk, "id": "x" * 257})
        check(st == 400 and b"at most 256" in raw, "a 257-byte id answered %d %r" % (st, raw))
    finally:
        out = c.output()
        c.stop()
    check_no_sanitizer_report(out)


def fd_exhaustion(work):
    """Out of fds (RLIMIT_NOFILE 64, clients holding fds passed with SCM_RIGHTS): the listener
    rests instead of spinning and logging, and serves again once fds are back."""
    wd = os.path.join(work, "fds")
    os.makedirs(wd)
    c = Cocoon(wd, nofile=64)
    held = []
    try:
        c.wait_ready()
        rd, wr = os.pipe()
        for _ in range(9):  # 9 partial requests x 8 fds: more than cocoon may hold
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.connect(c.sock)
            s.sendmsg([b"PUT /api/v1/vm.add-net HTTP/1.1\r\nContent-Length: 100\r\n\r\n{"],
                      [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", [rd] * 8))])
            held.append(s)
        time.sleep(0.3)
        waiting = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        waiting.settimeout(10)
        waiting.connect(c.sock)  # queued in the backlog: accept() gets EMFILE
        waiting.sendall(b"GET /api/v1/vmm.ping HTTP/1.1\r\nHost: localhost\r\n\r\n")
        cpu0, t0 = cpu_seconds(c.proc.pid), time.monotonic()
        time.sleep(2)
        cpu = cpu_seconds(c.proc.pid) - cpu0
        lines = c.output().count("accept:")
        step("2 s out of fds: %.2f s CPU, %d 'accept:' log lines" % (cpu, lines))
        check(lines >= 1, "no accept failure was logged (not out of fds?)")
        check(cpu < 0.3, "cocoon used %.2f s of CPU in 2 s while out of fds" % cpu)
        check(lines <= 2, "%d accept log lines in 2 s" % lines)
        for s in held:
            s.close()
        r = b""
        while not response_complete(r) or b"\r\n\r\n" not in r:
            chunk = waiting.recv(4096)
            if not chunk:
                break
            r += chunk
        check(status_of(r) == 200, "the waiting client got %r" % r[:60])
        step("fds back: the waiting client answered %.1f s after it connected"
             % (time.monotonic() - t0))
        waiting.close()
        os.close(rd)
        os.close(wr)
    finally:
        for s in held:
            s.close()
        out = c.output()
        c.stop()
    check_no_sanitizer_report(out)


PING = b"GET /api/v1/vmm.ping HTTP/1.1\r\nHost: localhost\r\n\r\n"


def connection_per_request(work):
    """Kata's pattern from 9 threads, 300 times each: connect, vmm.ping, close. Never a 503."""
    import threading
    wd = os.path.join(work, "burst")
    os.makedirs(wd)
    c = Cocoon(wd)
    counts = {"ok": 0, "busy": 0, "none": 0}
    lock = threading.Lock()

    def worker():
        for _ in range(300):
            try:
                r = raw_exchange(c.sock, PING)
                st = status_of(r)
            except OSError:
                st = None
            key = "ok" if st == 200 else "busy" if st == 503 else "none"
            with lock:
                counts[key] += 1
    try:
        c.wait_ready()
        threads = [threading.Thread(target=worker) for _ in range(9)]
        t0 = time.monotonic()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        step("9 threads x 300 connect/ping/close in %.1f s: %d OK, %d x 503, %d unanswered"
             % (time.monotonic() - t0, counts["ok"], counts["busy"], counts["none"]))
        check(counts["ok"] == 2700, "well-behaved clients refused: %r" % counts)
    finally:
        out = c.output()
        c.stop()
    check_no_sanitizer_report(out)


def case_api_hostile_clients(work):
    kernel = write_file(os.path.join(work, "vmlinux"), 8192, b"K")
    unread_pipelined_info(work, kernel)
    fd_exhaustion(work)
    connection_per_request(work)


# ---- api_reboot_keeps_hotplug ----

def wait_count(c, text, n, timeout=60):
    """Waits until text appears n times in cocoon's output."""
    deadline = time.monotonic() + timeout
    while c.output().count(text) < n and time.monotonic() < deadline:
        check(c.alive(), "cocoon died waiting for %r #%d:\n%s" % (text, n, c.output()))
        time.sleep(0.05)
    check(c.output().count(text) >= n, "no %r #%d:\n%s" % (text, n, c.output()))


def config_disk_ids(c):
    _, info = api(c.sock, "GET", "vm.info", want=200)
    return info["state"], [d["id"] for d in (info["config"].get("disks") or [])]


def case_api_reboot_keeps_hotplug(work):
    """Hot-plug edits the running machine and the one configuration the owner keeps, so the
    machine vm.boot builds after vm.shutdown has the added disk and not the removed one."""
    kernel, _ = guest_kernel(["spin"])
    check(kernel, "guest_spin.elf not built in %s" % GUESTS)
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        print("SKIP: no usable /dev/kvm")
        sys.exit(77)
    keep = write_file(os.path.join(work, "keep.img"), 1 << 20)
    drop = write_file(os.path.join(work, "drop.img"), 1 << 20)
    # A second machine in one process: the loop thread's seccomp filter allows no new VM.
    c = Cocoon(work, extra=["--seccomp", "false"])
    try:
        c.wait_ready()
        api(c.sock, "PUT", "vm.create", plain_vm(kernel), want=204)
        api(c.sock, "PUT", "vm.boot", want=204)
        wait_count(c, "spin guest ready", 1)
        step("hot-add 'keep' and 'drop', hot-remove 'drop'")
        _, added = api(c.sock, "PUT", "vm.add-disk", {"path": keep, "id": "keep"}, want=200)
        check(added["id"] == "keep", "answer %r" % added)
        api(c.sock, "PUT", "vm.add-disk", {"path": drop, "id": "drop"}, want=200)
        api(c.sock, "PUT", "vm.remove-device", {"id": "drop"}, want=204)
        check(config_disk_ids(c) == ("Running", ["keep"]), "vm.info %r" % (config_disk_ids(c),))
        attached = c.output().count("virtio-blk at")
        check(attached == 2, "%d virtio-blk attach lines after two hot-adds" % attached)
        step("vm.shutdown keeps the configuration; vm.boot builds a new machine from it")
        api(c.sock, "PUT", "vm.shutdown", want=204)
        check(config_disk_ids(c) == ("Shutdown", ["keep"]), "vm.info %r" % (config_disk_ids(c),))
        api(c.sock, "PUT", "vm.boot", want=204)
        wait_count(c, "spin guest ready", 2)
        check(config_disk_ids(c) == ("Running", ["keep"]), "vm.info %r" % (config_disk_ids(c),))
        attached = c.output().count("virtio-blk at")
        check(attached == 3, "%d virtio-blk attach lines: the reboot attached %d disks, want 1"
              % (attached, attached - 2))
        api(c.sock, "PUT", "vm.remove-device", {"id": "keep"}, want=204)
        api(c.sock, "PUT", "vmm.shutdown", want=204)
        c.proc.wait(timeout=5)
        check(c.proc.returncode == 0, "exit status %d" % c.proc.returncode)
    finally:
        out = c.output()
        c.stop()
    check_no_sanitizer_report(out)


CASES = {
    "api_hostile_clients": case_api_hostile_clients,
    "api_idle_connection_kept_70s": case_api_idle_connection_kept_70s,
    "api_bad_input": case_api_bad_input,
    "api_confidential_refusals": case_api_confidential_refusals,
    "api_kata_replay": case_api_kata_replay,
    "api_kata_driver_shapes": case_api_kata_driver_shapes,
    "api_kata_rs_connection": case_api_kata_rs_connection,
    "api_reboot_keeps_hotplug": case_api_reboot_keeps_hotplug,
}


def main():
    global COCOON, GUESTS
    if len(sys.argv) != 4 or sys.argv[1] not in CASES:
        print(__doc__)
        sys.exit(2)
    COCOON, GUESTS = os.path.abspath(sys.argv[2]), os.path.abspath(sys.argv[3])
    work = tempfile.mkdtemp(prefix="cocoon-%s-" % sys.argv[1])
    try:
        CASES[sys.argv[1]](work)
    except Fail as e:
        print("FAIL: %s" % e)
        sys.exit(1)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print("PASS: %s" % sys.argv[1])


if __name__ == "__main__":
    main()
