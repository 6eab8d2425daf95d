#!/usr/bin/env python3
"""make_seeds.py: writes the structure-aware seed inputs of every fuzz target into corpus/<target>/.

Ring targets take FZ_HDR_SIZE (32) header bytes, then guest RAM from GPA 0 (fuzz_util.h). Running
this again rewrites the seed-*.bin files only (regression inputs, crash-*/reg-*, are kept).
"""
import os
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
HDR = 32
F_NEXT, F_WRITE = 1, 2


def put(target, name, data):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "seed-" + name + ".bin"), "wb") as f:
        f.write(data)


class Ring:
    """A dense split ring of 2^shift entries at `base` inside a RAM image (bytearray)."""

    def __init__(self, ram, base, shift):
        self.ram, self.base, self.size = ram, base, 1 << shift
        self.desc = base
        self.avail = base + 16 * self.size
        self.used = (self.avail + 6 + 2 * self.size + 3) & ~3
        self.end = (self.used + 6 + 8 * self.size + 15) & ~15
        self.nd = 0
        self.na = 0
        grow(ram, self.end)

    def chain(self, segs):
        """segs: [(gpa, len, writable)] -> publishes one chain, returns its head."""
        head = self.nd
        for i, (gpa, ln, w) in enumerate(segs):
            last = i == len(segs) - 1
            flags = (0 if last else F_NEXT) | (F_WRITE if w else 0)
            struct.pack_into("<QIHH", self.ram, self.desc + 16 * self.nd, gpa, ln, flags,
                             0 if last else self.nd + 1)
            self.nd += 1
        struct.pack_into("<H", self.ram, self.avail + 4 + 2 * (self.na % self.size), head)
        self.na += 1
        struct.pack_into("<H", self.ram, self.avail + 2, self.na)
        return head


def grow(ram, n):
    if len(ram) < n:
        ram.extend(bytes(n - len(ram)))


def poke(ram, gpa, data):
    grow(ram, gpa + len(data))
    ram[gpa:gpa + len(data)] = data


def hdr(*parts):
    b = b"".join(parts)
    return b + bytes(HDR - len(b)) if len(b) < HDR else b[:HDR]


def virtq_seeds():
    for shift, ops in ((3, b"\x01\x02\x03\x00\x05"), (0, b"\x00\x04\x10\x00\x00"), (4, b"")):
        ram = bytearray()
        r = Ring(ram, 0, shift)
        poke(ram, 0x200, bytes(range(64)))
        r.chain([(0x200, 16, False), (0x300, 512, True), (0x600, 1, True)])
        if r.size > 1:
            r.chain([(0x210, 48, False)])
        put("virtq_chain", "shift%d" % shift, hdr(bytes([shift]), ops) + bytes(ram))


def blk_seeds():
    def one(name, disk_bits, btype, sector, data_len, writable, extra=b""):
        ram = bytearray()
        r = Ring(ram, 0, 3)
        poke(ram, 0x200, struct.pack("<IIQ", btype, 0, sector) + extra)
        segs = [(0x200, 16 + len(extra), False)]
        if data_len:
            segs.append((0x400, data_len, writable))
        segs.append((0x1400, 1, True))
        r.chain(segs)
        put("blk_request", name, hdr(bytes([disk_bits, 64, 3])) + bytes(ram))

    one("in", 0, 0, 2, 1024, True)
    one("out", 0, 1, 3, 512, False)
    one("out-ro", 1, 1, 3, 512, False)
    one("flush", 0, 4, 0, 0, False)
    one("get-id", 16, 8, 0, 20, True)
    one("discard", 2, 11, 0, 0, False, struct.pack("<QII", 8, 8, 0))
    one("write-zeroes", 4, 13, 0, 0, False, struct.pack("<QII", 8, 8, 1))
    one("beyond-end", 0, 0, 63, 1024, True)


def net_header_seeds():
    tso = (1 << 0) | (1 << 1) | (1 << 7) | (1 << 11) | (1 << 3)
    for name, feat, h, flen, dirn in (
            ("plain-tx", 0, struct.pack("<BBHHHHH", 0, 0, 0, 0, 0, 0, 0), 60, 1),
            ("csum-tx", tso, struct.pack("<BBHHHHH", 1, 0, 0, 0, 34, 16, 0), 100, 1),
            ("tso-tx", tso, struct.pack("<BBHHHHH", 1, 1, 54, 1448, 34, 16, 0), 9000, 1),
            ("plain-rx", 0, struct.pack("<BBHHHHH", 0, 0, 0, 0, 0, 0, 0), 60, 0),
            ("gso-rx", tso, struct.pack("<BBHHHHH", 1, 1, 54, 1448, 34, 16, 0), 9000, 0)):
        put("net_header", name, struct.pack("<QH", feat, 1500) + h + struct.pack("<IB", flen, dirn))


def virtio_net_seeds():
    eth = bytes([0xff] * 6 + [2, 0, 0, 0, 0, 1] + [0x08, 0x00]) + bytes(46)
    vhdr = bytes(12)
    for name, feat in (("plain", 1 << 5), ("offloads", (1 << 0) | (1 << 1) | (1 << 7) | (1 << 11))):
        ram = bytearray()
        rx = Ring(ram, 0, 3)
        tx = Ring(ram, rx.end, 3)
        for i in range(4):
            rx.chain([(0x4000 + 0x800 * i, 1526, True)])
        poke(ram, 0x400, vhdr + eth)
        tx.chain([(0x400, 12 + len(eth), False)])
        tx.chain([(0x400, 12, False), (0x40c, len(eth), False)])
        frames = struct.pack("<BHH", 2, 72, 72)
        ops = b"\x81\x01\x03"  # notify tx, notify rx, ...
        put("virtio_net", name,
            hdr(bytes([3, 3]), struct.pack("<Q", feat), frames, ops) + bytes(ram))


def vsock_hdr(op, src_port, dst_port, length=0, cid=3, buf_alloc=65536, fwd=0, flags=0):
    return struct.pack("<QQIIIHHIII", cid, 2, src_port, dst_port, length, 1, op, flags, buf_alloc,
                       fwd)


def vsock_device_seeds():
    line = b"CONNECT 1024\n"
    # ops: notify tx (1), run loop (6), notify rx (0), service (4 | len<<3), dial (3 | len<<3, off)
    for name, pkts, ops in (
            ("guest-request", [vsock_hdr(1, 5000, 1024)], b"\x01\x06\x00\x34\x06\x00\x01"),
            ("guest-rw", [vsock_hdr(1, 5001, 1024), vsock_hdr(5, 5001, 1024, 5) + b"hello",
                          vsock_hdr(4, 5001, 1024, flags=3), vsock_hdr(3, 5001, 1024)],
             b"\x01\x06\x00\x06\x00"),
            ("host-connect", [vsock_hdr(2, 1024, 0x40000000), vsock_hdr(6, 1024, 0x40000000)],
             bytes([3 | (len(line) << 3), 0xb8]) + b"\x06\x00\x01\x06\x00\x05\x06"),
            ("credit", [vsock_hdr(7, 5002, 1024), vsock_hdr(6, 5002, 1024)], b"\x01\x00")):
        ram = bytearray()
        rx = Ring(ram, 0, 3)
        # the host client's CONNECT line sits in the rx used ring's initial bytes (input offset
        # 32 + 152 = 0xb8, reachable by the dial op's one-byte offset)
        poke(ram, rx.used, line)
        tx = Ring(ram, rx.end, 3)
        for i in range(8):
            rx.chain([(0x4000 + 0x1000 * i, 4096, True)])
        gpa = 0x600
        for p in pkts:
            poke(ram, gpa, p)
            tx.chain([(gpa, len(p), False)])
            gpa += 0x100
        put("vsock_device", name, hdr(bytes([3, 3]), ops) + bytes(ram))


def vsock_connect_seeds():
    for i, s in enumerate((b"\x00CONNECT 1024\n", b"\x03connect   52\r\nxyz", b"\x01CONNECT 4294967295\n",
                           b"\x00CONNECT 4294967296\n", b"\x05Connect 1  \n", b"\x00CONNECT\n")):
        put("vsock_connect", str(i), s)


VM_CREATE = (b'{"cpus":{"boot_vcpus":1,"max_vcpus":1},"memory":{"size":536870912,"shared":true},'
             b'"payload":{"kernel":"/nonexistent/vmlinux","cmdline":"console=hvc0"},'
             b'"disks":[{"path":"/nonexistent/rootfs.img","readonly":true,"id":"_disk0"}],'
             b'"net":[{"mac":"02:00:00:00:00:01","mtu":1500,"num_queues":2,"queue_size":256}],'
             b'"vsock":{"cid":3,"socket":"/tmp/cocoon-fuzz.vsock"},"serial":{"mode":"Off"},'
             b'"console":{"mode":"Off"},"platform":{"num_pci_segments":1}}')


def json_seeds():
    put("vm_create_json", "vm-create", b"\x00" + VM_CREATE)
    put("vm_create_json", "vm-create-min", b'\x00{"payload":{"kernel":"/nonexistent"}}')
    put("vm_create_json", "add-disk", b'\x01{"path":"/nonexistent/d.img","readonly":false,"id":"d1"}')
    put("vm_create_json", "add-net", b'\x02{"mac":"02:00:00:00:00:02","tap":"tap0","id":"n1"}')
    put("vm_create_json", "bad-type", b'\x00{"cpus":{"boot_vcpus":"2"}}')


def http_seeds():
    def req(method, path, body=b"", extra=b""):
        return (method + b" " + path + b" HTTP/1.1\r\nHost: localhost\r\nAccept: */*\r\n" + extra +
                b"Content-Type: application/json\r\nContent-Length: " + str(len(body)).encode() +
                b"\r\n\r\n" + body)

    put("http_request", "ping", b"\x00" + req(b"GET", b"/api/v1/vmm.ping"))
    put("http_request", "create-boot-info",
        b"\x00" + req(b"PUT", b"/api/v1/vm.create", VM_CREATE) + req(b"PUT", b"/api/v1/vm.boot") +
        req(b"GET", b"/api/v1/vm.info"))
    put("http_request", "add-net-fd",
        b"\x01" + req(b"PUT", b"/api/v1/vm.add-net", b'{"mac":"02:00:00:00:00:02","id":"n1"}'))
    put("http_request", "chunked",
        b"\x00PUT /api/v1/vm.add-disk HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"5\r\n{\"pat\r\n0\r\n\r\n")
    put("http_request", "partial", b"\x02" + req(b"PUT", b"/api/v1/vm.create", VM_CREATE)[:120])
    put("http_request", "shutdown",
        b"\x00" + req(b"PUT", b"/api/v1/vm.shutdown") + req(b"PUT", b"/api/v1/vm.delete") +
        req(b"PUT", b"/api/v1/vmm.shutdown"))


def firmware_seeds():
    for path in ("/usr/share/ovmf/OVMF.fd", "/usr/share/OVMF/OVMF_CODE_4M.fd"):
        if os.path.exists(path):
            data = open(path, "rb").read()
            name = os.path.basename(path).replace(".fd", "")
            put("firmware_metadata", name + "-tail4k", data[-4096:])
            put("firmware_metadata", name + "-tail64k", data[-65536:])
    # td-shim style: descriptor located via the u32 at size-0x20, one BFV section
    img = bytearray(0x3000)
    desc_off = 0x1000
    struct.pack_into("<4sIII", img, desc_off, b"TDVF", 16 + 32, 1, 1)
    struct.pack_into("<IIQQII", img, desc_off + 16, 0x2000, 0x1000, 0xFFFFF000, 0x1000, 0, 1)
    struct.pack_into("<I", img, len(img) - 0x20, desc_off)
    put("firmware_metadata", "td-shim", bytes(img))


def kernel_seeds():
    b = bytearray(5 * 512 + 4096)
    b[0x1f1] = 4
    struct.pack_into("<I", b, 0x1f4, 4096 // 16)
    struct.pack_into("<H", b, 0x1fa, 0xffff)
    struct.pack_into("<H", b, 0x1fe, 0xAA55)
    b[0x200:0x202] = b"\xeb\x6a"
    b[0x202:0x206] = b"HdrS"
    struct.pack_into("<H", b, 0x206, 0x020f)
    b[0x211] = 1
    struct.pack_into("<I", b, 0x214, 0x100000)
    struct.pack_into("<I", b, 0x22c, 0x7fffffff)
    struct.pack_into("<I", b, 0x230, 0x200000)
    b[0x234], b[0x235] = 1, 21
    struct.pack_into("<H", b, 0x236, 1)
    struct.pack_into("<I", b, 0x238, 0x7ff)
    struct.pack_into("<Q", b, 0x258, 0x1000000)
    struct.pack_into("<I", b, 0x260, 0x800000)
    put("kernel_loader", "bzimage", bytes([0x20]) + bytes(b))
    put("kernel_loader", "bzimage-initrd", bytes([0x21]) + bytes(b))
    for name, cls in (("elf64-pvh", 2), ("elf32-pvh", 1)):
        filesz = 256
        e = bytearray(0x200 + filesz)
        e[0:4] = b"\x7fELF"
        e[4], e[5], e[6] = cls, 1, 1
        if cls == 2:
            struct.pack_into("<HHIQQQIHHHHHH", e, 16, 2, 62, 1, 0x100000, 64, 0, 0, 64, 56, 2, 0, 0, 0)
            struct.pack_into("<IIQQQQQQ", e, 64, 1, 5, 0x200, 0x100000, 0x100000, filesz, 0x2000, 0x1000)
            struct.pack_into("<IIQQQQQQ", e, 120, 4, 4, 0x100, 0, 0, 20, 20, 4)
        else:
            struct.pack_into("<HHIIIIIHHHHHH", e, 16, 2, 3, 1, 0x100000, 52, 0, 0, 52, 32, 2, 0, 0, 0)
            struct.pack_into("<IIIIIIII", e, 52, 1, 0x200, 0x100000, 0x100000, filesz, 0x2000, 5, 0x1000)
            struct.pack_into("<IIIIIIII", e, 84, 4, 0x100, 0, 0, 20, 20, 4, 4)
        struct.pack_into("<III4sI", e, 0x100, 4, 4, 18, b"Xen\x00", 0x100000)
        put("kernel_loader", name, bytes([0x10]) + bytes(e))


def virtio_pci_seeds():
    """8-byte ops (op, u16 offset, u32 value, pad) until 0xFF, then guest RAM."""
    lens = {1: 0, 2: 1, 4: 2, 8: 3}

    def cfg_w(off, val, ln):
        return struct.pack("<BHIB", 0x11 | lens[ln] << 2, off, val, 0)

    def bar(page, off, val, ln, write=True):
        return struct.pack("<BHIB", 0x02 | (0x10 if write else 0) | lens[ln] << 2 | page << 5, off,
                           val, 0)

    ops = [cfg_w(0x04, 6, 2)]  # memory decoding + bus master
    ops += [bar(0, 0x14, 1, 1), bar(0, 0x14, 3, 1), bar(0, 0x00, 1, 4), bar(0, 0x08, 1, 4),
            bar(0, 0x0c, 1, 4), bar(0, 0x14, 0xb, 1)]  # ACK, DRIVER, VERSION_1, FEATURES_OK
    ram = bytearray()
    r = Ring(ram, 0, 3)
    r.chain([(0x1000, 64, False), (0x2000, 64, True)])
    for q, (lo, size) in enumerate(((r.desc, 8),)):
        ops += [bar(0, 0x16, q, 2), bar(0, 0x18, size, 2), bar(0, 0x20, r.desc, 4),
                bar(0, 0x28, r.avail, 4), bar(0, 0x30, r.used, 4), bar(0, 0x1a, 0, 2),
                bar(0, 0x1c, 1, 2)]
    ops += [bar(4, 0x000, 0xfee00000, 4), bar(4, 0x008, 0x30, 4), bar(4, 0x00c, 0, 4)]  # MSI-X 0
    ops += [bar(0, 0x14, 0xf, 1), bar(3, 0x000, 0, 2), bar(1, 0x000, 0, 1, False),
            bar(2, 0x000, 0, 4, False), bar(0, 0x14, 0, 1)]  # DRIVER_OK, notify, ISR, cfg, reset
    put("virtio_pci", "driver-init", b"".join(ops) + b"\xff" + bytes(ram))
    put("virtio_pci", "cfg-walk", b"".join(struct.pack("<BHIB", 0x01 | 2 << 2, o, 0, 0)
                                            for o in range(0, 0x100, 4)) + b"\xff")


def fw_cfg_seeds():
    """8-byte port accesses (op, 7 data bytes) until 0xFF, then guest RAM."""
    def port(op, data):
        return bytes([op]) + data + bytes(7 - len(data))

    sel = lambda key: port(0x08 | 1 << 1, struct.pack("<H", key))  # 16-bit selector write
    rd = port(0x00, b"")  # 8-bit data read
    ram = bytearray(0x200)
    struct.pack_into(">IIQ", ram, 0x100, 0x0A | 0x17 << 16, 4, 0x180)  # SELECT|READ SETUP_SIZE
    struct.pack_into(">IIQ", ram, 0x140, 0x02, 64, 0x1000)  # READ 64 bytes more
    dma = lambda desc: (port(0x01 | 0x08 | 2 << 1, struct.pack(">I", 0)) +
                        port(0x01 | 0x08 | 2 << 1 | 4 << 4, struct.pack(">I", desc)))
    put("fw_cfg", "ports", sel(0) + rd * 4 + sel(0x17) + rd * 4 + sel(0x18) + rd * 8 + b"\xff")
    put("fw_cfg", "dma", sel(0x01) + rd + dma(0x100) + dma(0x140) + b"\xff" + bytes(ram))
    # The file directory, then the files by DMA as SeaBIOS reads them (selectors 0x20.. in name
    # order: bootorder, etc/acpi/rsdp, etc/acpi/tables, etc/e820, etc/table-loader, genroms/...).
    files = bytearray(0x200)
    struct.pack_into(">IIQ", files, 0x100, 0x0A | 0x19 << 16, 4 + 6 * 64, 0x1000)  # FILE_DIR
    for i in range(6):
        struct.pack_into(">IIQ", files, 0x120 + 16 * i, 0x0A | (0x20 + i) << 16, 600, 0x2000)
    put("fw_cfg", "files", b"".join(dma(0x100 + (0x20 + 16 * i if i >= 0 else 0))
                                    for i in [-1] + list(range(6))) + b"\xff" + bytes(files))


def main():
    virtq_seeds()
    blk_seeds()
    net_header_seeds()
    virtio_net_seeds()
    vsock_device_seeds()
    vsock_connect_seeds()
    json_seeds()
    http_seeds()
    firmware_seeds()
    kernel_seeds()
    virtio_pci_seeds()
    fw_cfg_seeds()
    return 0


if __name__ == "__main__":
    sys.exit(main())
