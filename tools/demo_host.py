#!/usr/bin/env python3
"""demo_host.py: the host side of tools/demo.sh: runs cocoon on the demo guest and talks to it.

usage: demo_host.py COCOON GUEST_ELF DISK_IMAGE VSOCK_SOCKET [TAP]

Starts cocoon with the disk, the vsock device (cid 3, hybrid socket VSOCK_SOCKET) and, given TAP,
a NIC on that tap (call it inside the network namespace that holds the tap, whose address is
10.0.2.1). Relays the guest's console ("guest |" lines), answers the guest's UDP datagram on
10.0.2.1:6000, accepts the guest's vsock greeting on VSOCK_SOCKET_1025, and connects to the
guest's echo service on port 1024 exactly as Kata does ("CONNECT 1024\\n", answer "OK <port>").
Exits 0 only if every step worked and cocoon exited with status 0; otherwise prints where it
failed and exits 1. Python 3 standard library only.
"""
import os
import signal
import socket
import subprocess
import sys
import threading
import time

PRINT_LOCK = threading.Lock()
PEER = ("10.0.2.1", 6000)
VSOCK_LINE = b"ping from the host over vsock\n"


def say(line):
    with PRINT_LOCK:
        print(line, flush=True)


def host(text):
    say("   host  | " + text)


class Failed(Exception):
    pass


class Guest:
    """cocoon on the demo guest; a thread relays the console and remembers it."""

    def __init__(self, args):
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.lines, self.log = [], []
        self.cond = threading.Condition()
        threading.Thread(target=self._console, daemon=True).start()
        threading.Thread(target=self._stderr, daemon=True).start()

    def _console(self):
        for raw in iter(self.proc.stdout.readline, b""):
            line = raw.decode(errors="replace").rstrip("\r\n")
            say(line if line.startswith("== ") else "   guest | " + line)
            with self.cond:
                self.lines.append(line)
                self.cond.notify_all()
        with self.cond:
            self.lines.append(None)  # end of console
            self.cond.notify_all()

    def _stderr(self):
        for raw in iter(self.proc.stderr.readline, b""):
            self.log.append(raw.decode(errors="replace").rstrip("\n"))

    def wait_line(self, text, timeout):
        end = time.monotonic() + timeout
        with self.cond:
            while True:
                if any(line is not None and text in line for line in self.lines):
                    return
                if None in self.lines:
                    self.proc.wait()
                    raise Failed("cocoon exited (status %d) before the guest printed %r"
                                 % (self.proc.returncode, text))
                if time.monotonic() >= end:
                    raise Failed("the guest did not print %r within %d s" % (text, timeout))
                self.cond.wait(0.2)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def udp_peer(result):
    """Answers one datagram from the guest on 10.0.2.1:6000."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(PEER)
    s.settimeout(60)
    try:
        data, addr = s.recvfrom(2048)
    except socket.timeout:
        s.close()
        return
    host("UDP peer %s:%d got %r from %s:%d" % (PEER + (data.decode(errors="replace"),) + addr))
    reply = b"hello guest, the host's UDP peer got your %d bytes" % len(data)
    result.append(data)
    s.sendto(reply, addr)
    host("UDP peer answered %r" % reply.decode())
    s.close()


def greeting_listener(lst, path, result):
    """Accepts the guest's connection to host port 1025 (Kata's <socket>_1025 convention)."""
    lst.settimeout(60)
    try:
        conn, _ = lst.accept()
    except socket.timeout:
        return
    conn.settimeout(30)
    msg = b""
    while True:
        chunk = conn.recv(4096)
        if not chunk:
            break
        msg += chunk
    conn.close()
    host("the guest connected to host vsock port 1025 (listener %s_1025) and said %r"
         % (path, msg.decode(errors="replace")))
    result.append(msg)


def read_line(s):
    line = b""
    while not line.endswith(b"\n") and len(line) < 4096:
        b = s.recv(1)
        if not b:
            break
        line += b
    return line


def vsock_session(path):
    say("== host: connect to the guest's vsock port 1024 through %s, exactly as Kata does" % path)
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(30)
    s.connect(path)
    s.sendall(b"CONNECT 1024\n")
    answer = read_line(s)
    host("sent 'CONNECT 1024', cocoon answered %r" % answer.decode(errors="replace").strip())
    if not answer.startswith(b"OK "):
        raise Failed("the hybrid vsock handshake was answered %r" % answer)
    s.sendall(VSOCK_LINE)
    echo = b""
    while len(echo) < len(VSOCK_LINE):
        chunk = s.recv(4096)
        if not chunk:
            break
        echo += chunk
    host("sent %r, the guest echoed %r" % (VSOCK_LINE.decode().strip(),
                                          echo.decode(errors="replace").strip()))
    if echo != VSOCK_LINE:
        raise Failed("the vsock echo came back as %r" % echo)
    s.close()
    host("closed the connection; the guest powers off after one echo session")


def run(cocoon, elf, disk, sock, tap):
    udp_got, greeting = [], []
    threads = []
    if tap:
        threads.append(threading.Thread(target=udp_peer, args=(udp_got,), daemon=True))
    lst = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    lst.bind(sock + "_1025")
    lst.listen(1)
    threads.append(threading.Thread(target=greeting_listener, args=(lst, sock, greeting), daemon=True))
    for t in threads:
        t.start()
    args = [cocoon, "--kernel", elf, "--memory", "size=128M", "--cmdline", "connect=1025",
            "--disk", "path=%s,id=demo-disk" % disk, "--vsock", "cid=3,socket=" + sock]
    if tap:
        args += ["--net", "tap=%s,mac=52:54:00:12:34:56" % tap]
    say("   host  | " + " ".join(os.path.basename(a) if a in (cocoon, elf) else a for a in args))
    guest = Guest(args)
    try:
        if tap:
            guest.wait_line("net: UDP reply", 60)
            if not udp_got:
                raise Failed("the host's UDP peer never got the guest's datagram")
        guest.wait_line("vsock-echo: listening on port 1024", 60)
        vsock_session(sock)
        for t in threads:
            t.join(30)
        if not greeting:
            raise Failed("the guest's greeting never reached %s_1025" % sock)
        try:
            status = guest.proc.wait(30)
        except subprocess.TimeoutExpired:
            guest.proc.send_signal(signal.SIGTERM)
            status = guest.proc.wait(10)
            raise Failed("the guest did not power off; SIGTERM ended cocoon with status %d"
                         % status)
        time.sleep(0.2)  # let the console thread print the last lines
        say("== cocoon exited with status %d (the guest powered off by itself)" % status)
        if status != 0:
            raise Failed("cocoon exit status %d" % status)
        guest.wait_line("all done", 1)
    except (Failed, OSError) as e:
        guest.stop()
        time.sleep(0.2)
        say("demo: FAILED: %s" % e)
        if guest.log:
            say("demo: cocoon's log (stderr), last lines:\n" + "\n".join(guest.log[-15:]))
        return 1
    finally:
        guest.stop()
        lst.close()
    return 0


def main():
    if len(sys.argv) not in (5, 6):
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        return 2
    cocoon, elf, disk, sock = sys.argv[1:5]
    tap = sys.argv[5] if len(sys.argv) == 6 else ""
    return run(cocoon, elf, disk, sock, tap)


if __name__ == "__main__":
    sys.exit(main())
