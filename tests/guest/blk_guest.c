/* blk_guest.c: test guest driving cocoon's virtio-blk: data, flush, get-id, errors, hostile rings.
 *
 * cmdline: mode=N  1 rw-verify: disk 0 writable (id "cocoon-rw-disk", 1 MiB, seed 0x33), disk 1
 *                    read-only (id "ro0", 256 KiB, seed 0x5a); checks reads, a write + flush +
 *                    read-back, get-id, IOERR on the read-only disk and past the end
 *                  2 durability: writes seed 0xd1 to sectors 64..127 of disk 0, flushes, prints
 *                    "FLUSHED" and spins until the host kills cocoon
 *                  4 multiqueue: one disk configured (through the API) with 4 queues of 64;
 *                    checks num_queues and MQ, the queue size, and I/O on every queue
 *                  5 hot-plug: waits for a virtio-blk function to appear on the bus (vm.add-disk),
 *                    reads it, prints "PLUGGED", waits until it is gone (vm.remove-device:
 *                    cocoon asks through ACPI, this guest ejects as Linux's acpiphp does)
 *                  3 hostile: feeds disk 0 hostile chains (each must end in NEEDS_RESET or a
 *                    clean error), checks disk 1 keeps working, recovers disk 0 by a reset
 * Prints "CHECK <name> PASS|FAIL <detail>" per check and exits 0 only if all passed.
 * Pattern fills and compares run in ring 3 (rt_run_user); device set-up and requests in ring 0
 * (port I/O from ring 3 faults on this host). Patterns are shared with tests/integration/blknet.py.
 */
#include "rt/rt.h"
#include "rt/virtio.h"

#define VIRTIO_ID_BLOCK 2
#define T_IN            0
#define T_OUT           1
#define T_FLUSH         4
#define T_GET_ID        8
#define S_OK            0
#define S_IOERR         1
#define S_NONE          0xEE /* status byte untouched */
#define F_RO            5
#define F_FLUSH         9
#define F_MQ            12
#define F_DISCARD       13
#define F_WRITE_ZEROES  14
#define T_DISCARD       11
#define T_WRITE_ZEROES  13
#define QSZ             16
#define SPINS           200000000ULL
#define MAX_IO          (64 * 1024)

struct blk {
    struct vdev dev;
    struct vq q;
    struct vq *cur; /* queue blk_rq uses (&q unless a test switches) */
    uint8_t *hdr, *data, *status;
    uint64_t capacity;
};

static struct blk disks[2];
static unsigned failures;

__attribute__((format(printf, 3, 4))) static void check(const char *name, int ok, const char *fmt,
                                                        ...)
{
    va_list ap;
    va_start(ap, fmt);
    rt_printf("CHECK %s %s ", name, ok ? "PASS" : "FAIL");
    rt_vprintf(fmt, ap);
    rt_printf("\n");
    va_end(ap);
    if (!ok)
        failures++;
}

static uint8_t pattern(uint8_t seed, uint64_t off)
{
    return (uint8_t)(seed ^ (off * 131) ^ (off >> 9));
}

static void blk_open(struct blk *b, unsigned n)
{
    if (vdev_find(VIRTIO_ID_BLOCK, n, &b->dev) < 0)
        rt_fail("virtio-blk %u not found", n);
    if (vdev_negotiate(&b->dev, 1ULL << F_RO | 1ULL << F_FLUSH | 1ULL << F_DISCARD |
                                    1ULL << F_WRITE_ZEROES) < 0)
        rt_fail("virtio-blk %u: feature negotiation failed", n);
    if (vq_setup(&b->dev, &b->q, 0, QSZ) < 0)
        rt_fail("virtio-blk %u: queue setup failed", n);
    b->cur = &b->q;
    vdev_driver_ok(&b->dev);
    if (!b->hdr) {
        b->hdr = vt_alloc(4096, 4096);
        b->status = b->hdr + 64;
        b->data = vt_alloc(MAX_IO, 4096);
    }
    b->capacity = vdev_cfg_read64(&b->dev, 0);
}

/* Waits for one used element; returns 1 with its length, or 0 on timeout. */
static int wait_used(struct vq *q, uint32_t *len)
{
    uint32_t id;
    for (uint64_t i = 0; i < SPINS; i++) {
        if (vq_get_used(q, &id, len))
            return 1;
        rt_pause();
    }
    return 0;
}

/* One request: header, optional data, status. Returns the status byte (S_NONE if untouched). */
static uint8_t blk_rq(struct blk *b, uint32_t type, uint64_t sector, uint32_t len, int dev_writes,
                      uint32_t *used_len)
{
    uint32_t *h32 = (uint32_t *)b->hdr;
    h32[0] = type;
    h32[1] = 0;
    *(uint64_t *)(b->hdr + 8) = sector;
    *b->status = S_NONE;
    uint16_t n = 0;
    vq_set_desc(b->cur, n, (uintptr_t)b->hdr, 16, VRING_DESC_F_NEXT, (uint16_t)(n + 1));
    n++;
    if (len) {
        vq_set_desc(b->cur, n, (uintptr_t)b->data, len,
                    VRING_DESC_F_NEXT | (dev_writes ? VRING_DESC_F_WRITE : 0), (uint16_t)(n + 1));
        n++;
    }
    vq_set_desc(b->cur, n, (uintptr_t)b->status, 1, VRING_DESC_F_WRITE, 0);
    vq_publish(b->cur, 0);
    vq_kick(b->cur);
    uint32_t ul = 0;
    if (!wait_used(b->cur, &ul))
        rt_fail("virtio-blk: request type %u timed out", type);
    if (used_len)
        *used_len = ul;
    return *b->status;
}

/* Pattern work runs at CPL 3 (native speed); port I/O stays in ring 0. */
struct pat_job {
    uint8_t *p;
    uint8_t seed;
    uint64_t off, len;
};

static uint64_t user_mismatch(uint64_t arg)
{
    const struct pat_job *j = (const struct pat_job *)(uintptr_t)arg;
    for (uint64_t i = 0; i < j->len; i++)
        if (j->p[i] != pattern(j->seed, j->off + i))
            return i;
    return j->len;
}

static uint64_t user_fill(uint64_t arg)
{
    const struct pat_job *j = (const struct pat_job *)(uintptr_t)arg;
    for (uint64_t i = 0; i < j->len; i++)
        j->p[i] = pattern(j->seed, j->off + i);
    return 0;
}

static uint64_t first_mismatch(uint8_t *p, uint8_t seed, uint64_t off, uint64_t len)
{
    struct pat_job j = {p, seed, off, len};
    return rt_run_user(user_mismatch, (uintptr_t)&j);
}

static void fill(uint8_t *p, uint8_t seed, uint64_t off, uint64_t len)
{
    struct pat_job j = {p, seed, off, len};
    rt_run_user(user_fill, (uintptr_t)&j);
}

static void rw_verify(void)
{
    struct blk *rw = &disks[0], *ro = &disks[1];
    blk_open(rw, 0);
    blk_open(ro, 1);
    check("blk_capacity", rw->capacity == 2048 && ro->capacity == 512, "rw=%lu ro=%lu",
          (unsigned long)rw->capacity, (unsigned long)ro->capacity);
    check("blk_ro_feature", (ro->dev.features >> F_RO & 1) && !(rw->dev.features >> F_RO & 1),
          "ro=%lu rw=%lu", (unsigned long)(ro->dev.features >> F_RO & 1),
          (unsigned long)(rw->dev.features >> F_RO & 1));

    uint32_t ul = 0;
    uint8_t st = blk_rq(rw, T_IN, 0, 4096, 1, &ul);
    uint64_t mm = first_mismatch(rw->data, 0x33, 0, 4096);
    check("blk_read_known", st == S_OK && ul == 4097 && mm == 4096,
          "status=%u used=%u first_mismatch=%lu", st, ul, (unsigned long)mm);
    st = blk_rq(ro, T_IN, 500, 12 * 512, 1, NULL);
    mm = first_mismatch(ro->data, 0x5a, 500 * 512, 12 * 512);
    check("blk_read_ro_tail", st == S_OK && mm == 12 * 512, "status=%u first_mismatch=%lu", st,
          (unsigned long)mm);

    fill(rw->data, 0xc7, 16 * 512, 16 * 512);
    uint8_t w = blk_rq(rw, T_OUT, 16, 16 * 512, 0, &ul);
    uint8_t f = blk_rq(rw, T_FLUSH, 0, 0, 0, NULL);
    memset(rw->data, 0, 16 * 512);
    uint8_t r = blk_rq(rw, T_IN, 16, 16 * 512, 1, NULL);
    mm = first_mismatch(rw->data, 0xc7, 16 * 512, 16 * 512);
    check("blk_write_flush_readback",
          w == S_OK && ul == 1 && f == S_OK && r == S_OK && mm == 16 * 512,
          "write=%u used=%u flush=%u read=%u first_mismatch=%lu", w, ul, f, r, (unsigned long)mm);

    memset(rw->data, 0xAA, 64);
    st = blk_rq(rw, T_GET_ID, 0, 20, 1, &ul);
    int id_ok = !memcmp(rw->data, "cocoon-rw-disk\0\0\0\0\0\0", 20);
    rw->data[20] = 0;
    check("blk_get_id", st == S_OK && ul == 21 && id_ok, "status=%u used=%u id='%s'", st, ul,
          (char *)rw->data);
    memset(ro->data, 0xAA, 64);
    st = blk_rq(ro, T_GET_ID, 0, 20, 1, NULL);
    check("blk_get_id_ro", st == S_OK && !memcmp(ro->data, "ro0\0", 4), "status=%u", st);

    fill(ro->data, 0x11, 0, 4096);
    st = blk_rq(ro, T_OUT, 0, 4096, 0, NULL);
    uint8_t f2 = blk_rq(ro, T_FLUSH, 0, 0, 0, NULL);
    uint8_t r2 = blk_rq(ro, T_IN, 0, 4096, 1, NULL);
    mm = first_mismatch(ro->data, 0x5a, 0, 4096);
    check("blk_ro_write_ioerr", st == S_IOERR && f2 == S_OK && r2 == S_OK && mm == 4096,
          "write=%u flush=%u reread=%u first_mismatch=%lu", st, f2, r2, (unsigned long)mm);

    uint8_t e1 = blk_rq(rw, T_IN, rw->capacity, 512, 1, &ul);
    uint8_t e2 = blk_rq(rw, T_IN, rw->capacity - 1, 1024, 1, NULL);
    uint8_t e3 = blk_rq(rw, T_OUT, rw->capacity, 512, 0, NULL);
    uint8_t e4 = blk_rq(rw, T_IN, ~0ULL, 512, 1, NULL);
    uint8_t e5 = blk_rq(rw, T_IN, (~0ULL >> 9), 512, 1, NULL);
    uint8_t ok = blk_rq(rw, T_IN, rw->capacity - 1, 512, 1, NULL);
    check("blk_past_end_ioerr",
          e1 == S_IOERR && ul == 1 && e2 == S_IOERR && e3 == S_IOERR && e4 == S_IOERR &&
              e5 == S_IOERR && ok == S_OK,
          "at_end=%u straddle=%u write_at_end=%u sector_max=%u sector_2^55=%u last=%u", e1, e2, e3,
          e4, e5, ok);
    /* write-zeroes sectors 40..47, discard 48..55 (one 16-byte range segment each) */
    int has_wz = rw->dev.features >> F_WRITE_ZEROES & 1, has_dc = rw->dev.features >> F_DISCARD & 1;
    uint32_t *seg = (uint32_t *)rw->data;
    *(uint64_t *)seg = 40;
    seg[2] = 8;
    seg[3] = 0;
    uint8_t wz = blk_rq(rw, T_WRITE_ZEROES, 0, 16, 0, NULL);
    *(uint64_t *)seg = 48;
    uint8_t dc = has_dc ? blk_rq(rw, T_DISCARD, 0, 16, 0, NULL) : S_OK;
    *(uint64_t *)seg = 2040;
    seg[2] = 9; /* one sector past the end */
    uint8_t wz_end = blk_rq(rw, T_WRITE_ZEROES, 0, 16, 0, NULL);
    memset(rw->data, 0xAA, 16 * 512);
    uint8_t rz = blk_rq(rw, T_IN, 40, 16 * 512, 1, NULL);
    int zero = 1;
    for (unsigned i = 0; i < (has_dc ? 16u : 8u) * 512; i++)
        zero &= rw->data[i] == 0;
    check("blk_write_zeroes_discard",
          has_wz && wz == S_OK && dc == S_OK && wz_end == S_IOERR && rz == S_OK && zero,
          "offered wz=%d discard=%d; wz=%u discard=%u past_end=%u read=%u zeroes=%d", has_wz,
          has_dc, wz, dc, wz_end, rz, zero);
    rt_printf("INFO discard=%d\n", has_dc);

    uint8_t u = blk_rq(rw, 0x77, 0, 0, 0, NULL);
    check("blk_unknown_type_unsupp", u == 2, "status=%u", u);
}

static void durability(void)
{
    struct blk *rw = &disks[0];
    blk_open(rw, 0);
    uint64_t off = 64 * 512, len = 64 * 512;
    fill(rw->data, 0xd1, off, len);
    uint8_t w = blk_rq(rw, T_OUT, 64, (uint32_t)len, 0, NULL);
    uint8_t f = blk_rq(rw, T_FLUSH, 0, 0, 0, NULL);
    if (w != S_OK || f != S_OK)
        rt_fail("write=%u flush=%u", w, f);
    rt_printf("FLUSHED\n");
    for (;;)
        rt_pause();
}

/* ---- hostile chains against disk 0 ---- */

static int needs_reset(struct blk *b)
{
    return (vdev_wait_status(&b->dev, VIRTIO_STATUS_NEEDS_RESET, 20000000ULL) &
            VIRTIO_STATUS_NEEDS_RESET) != 0;
}

static void raw_kick(struct blk *b, uint16_t head)
{
    vq_publish(&b->q, head);
    vq_kick(&b->q);
}

static int other_disk_works(void)
{
    struct blk *d1 = &disks[1];
    uint8_t st = blk_rq(d1, T_IN, 3, 512, 1, NULL);
    return st == S_OK && first_mismatch(d1->data, 0x5a, 3 * 512, 512) == 512;
}

static void hostile_case(const char *name, void (*fn)(struct blk *))
{
    struct blk *b = &disks[0];
    blk_open(b, 0);
    fn(b);
    int nr = needs_reset(b);
    int other = other_disk_works();
    check(name, nr && other, "needs_reset=%d other_disk_ok=%d", nr, other);
}

static void h_loop(struct blk *b)
{
    vq_set_desc(&b->q, 0, (uintptr_t)b->hdr, 16, VRING_DESC_F_NEXT, 1);
    vq_set_desc(&b->q, 1, (uintptr_t)b->data, 512, VRING_DESC_F_NEXT | VRING_DESC_F_WRITE, 0);
    raw_kick(b, 0);
}

static void h_next_oob(struct blk *b)
{
    vq_set_desc(&b->q, 0, (uintptr_t)b->hdr, 16, VRING_DESC_F_NEXT, QSZ + 5);
    raw_kick(b, 0);
}

static void h_head_oob(struct blk *b)
{
    raw_kick(b, 0xFFFF);
}

static void h_outside_ram(struct blk *b)
{
    vq_set_desc(&b->q, 0, (uintptr_t)b->hdr, 16, VRING_DESC_F_NEXT, 1);
    vq_set_desc(&b->q, 1, rt_ram_size() + (1ULL << 36), 4096,
                VRING_DESC_F_NEXT | VRING_DESC_F_WRITE, 2);
    vq_set_desc(&b->q, 2, (uintptr_t)b->status, 1, VRING_DESC_F_WRITE, 0);
    raw_kick(b, 0);
}

static void h_wrap(struct blk *b)
{
    vq_set_desc(&b->q, 0, 0xFFFFFFFFFFFFFE00ULL, 0x400, VRING_DESC_F_NEXT, 1);
    vq_set_desc(&b->q, 1, (uintptr_t)b->status, 1, VRING_DESC_F_WRITE, 0);
    raw_kick(b, 0);
}

static void h_indirect(struct blk *b)
{
    vq_set_desc(&b->q, 0, (uintptr_t)b->data, 48, VRING_DESC_F_INDIRECT, 0);
    raw_kick(b, 0);
}

static void h_avail_jump(struct blk *b)
{
    vq_set_desc(&b->q, 0, (uintptr_t)b->hdr, 16, 0, 0);
    vq_set_avail_idx(&b->q, QSZ + 7);
    vq_kick(&b->q);
}

static void h_zero_len(struct blk *b)
{
    vq_set_desc(&b->q, 0, (uintptr_t)b->hdr, 0, VRING_DESC_F_NEXT, 1);
    vq_set_desc(&b->q, 1, (uintptr_t)b->status, 1, VRING_DESC_F_WRITE, 0);
    raw_kick(b, 0);
}

static void h_huge_len(struct blk *b)
{
    vq_set_desc(&b->q, 0, (uintptr_t)b->hdr, 16, VRING_DESC_F_NEXT, 1);
    vq_set_desc(&b->q, 1, 0x100000, 0xFFFFF000u, VRING_DESC_F_NEXT | VRING_DESC_F_WRITE, 2);
    vq_set_desc(&b->q, 2, 0x100000, 0x2000, VRING_DESC_F_NEXT | VRING_DESC_F_WRITE, 3);
    vq_set_desc(&b->q, 3, (uintptr_t)b->status, 1, VRING_DESC_F_WRITE, 0);
    raw_kick(b, 0);
}

/* Malformed requests that are not protocol violations: answered, the device stays usable. */
static void soft_errors(void)
{
    struct blk *b = &disks[0];
    blk_open(b, 0);
    uint32_t ul = 99;
    /* head-only chain: no status byte to write -> returned with length 0 */
    *(uint32_t *)b->hdr = T_IN;
    vq_set_desc(&b->q, 0, (uintptr_t)b->hdr, 16, 0, 0);
    raw_kick(b, 0);
    int got = wait_used(&b->q, &ul);
    check("blk_head_only_chain",
          got && ul == 0 && !(vdev_status(&b->dev) & VIRTIO_STATUS_NEEDS_RESET),
          "returned=%d used=%u status=0x%x", got, ul, vdev_status(&b->dev));
    /* data not a multiple of 512, readable status, status-less write */
    uint8_t s1 = blk_rq(b, T_IN, 0, 100, 1, NULL);
    *(uint32_t *)b->hdr = T_OUT;
    vq_set_desc(&b->q, 0, (uintptr_t)b->hdr, 16, VRING_DESC_F_NEXT, 1);
    vq_set_desc(&b->q, 1, (uintptr_t)b->status, 1, 0, 0);
    raw_kick(b, 0);
    got = wait_used(&b->q, &ul);
    uint8_t s2 = blk_rq(b, T_IN, 0, 512, 1, NULL);
    check("blk_malformed_requests", s1 == S_IOERR && got && ul == 0 && s2 == S_OK,
          "partial=%u readable_status_used=%u after=%u", s1, ul, s2);
}

static void hostile(void)
{
    blk_open(&disks[1], 1);
    soft_errors();
    hostile_case("blk_hostile_loop", h_loop);
    hostile_case("blk_hostile_next_oob", h_next_oob);
    hostile_case("blk_hostile_head_oob", h_head_oob);
    hostile_case("blk_hostile_outside_ram", h_outside_ram);
    hostile_case("blk_hostile_wrap", h_wrap);
    hostile_case("blk_hostile_indirect", h_indirect);
    hostile_case("blk_hostile_avail_jump", h_avail_jump);
    hostile_case("blk_hostile_zero_len", h_zero_len);
    hostile_case("blk_hostile_huge_len", h_huge_len);
    /* recovery: after a reset the same device serves requests again */
    struct blk *b = &disks[0];
    blk_open(b, 0);
    uint8_t st = blk_rq(b, T_IN, 0, 4096, 1, NULL);
    uint64_t mm = first_mismatch(b->data, 0x33, 0, 4096);
    check("blk_recovers_after_reset", st == S_OK && mm == 4096, "status=%u first_mismatch=%lu", st,
          (unsigned long)mm);
}

static void multiqueue(void)
{
    struct blk *b = &disks[0];
    if (vdev_find(VIRTIO_ID_BLOCK, 0, &b->dev) < 0)
        rt_fail("virtio-blk not found");
    if (vdev_negotiate(&b->dev, 1ULL << F_MQ | 1ULL << F_FLUSH) < 0)
        rt_fail("feature negotiation failed");
    static struct vq qs[4];
    unsigned cfg_nq = vdev_cfg_read32(&b->dev, 32) >> 16, sizes_ok = 1;
    for (uint16_t i = 0; i < 4 && i < b->dev.num_queues; i++) {
        if (vq_setup(&b->dev, &qs[i], i, 0) < 0) /* 0: the device's maximum */
            rt_fail("queue %u setup failed", i);
        sizes_ok &= qs[i].size == 64;
    }
    vdev_driver_ok(&b->dev);
    check("blk_mq_config",
          (b->dev.features >> F_MQ & 1) && cfg_nq == 4 && b->dev.num_queues == 4 && sizes_ok,
          "mq=%lu config_num_queues=%u transport_queues=%u size=%u",
          (unsigned long)(b->dev.features >> F_MQ & 1), cfg_nq, b->dev.num_queues, qs[0].size);
    if (b->dev.num_queues < 4)
        return;
    b->hdr = vt_alloc(4096, 4096);
    b->status = b->hdr + 64;
    b->data = vt_alloc(MAX_IO, 4096);
    unsigned good = 0;
    for (unsigned i = 0; i < 4; i++) {
        b->cur = &qs[i];
        uint8_t st = blk_rq(b, T_IN, 100 * i, 2048, 1, NULL);
        good += st == S_OK && first_mismatch(b->data, 0x33, 100 * i * 512, 2048) == 2048;
    }
    b->cur = &qs[3];
    fill(b->data, 0xc7, 16 * 512, 4096);
    uint8_t w = blk_rq(b, T_OUT, 16, 4096, 0, NULL);
    b->cur = &qs[2];
    uint8_t f = blk_rq(b, T_FLUSH, 0, 0, 0, NULL);
    b->cur = &qs[1];
    memset(b->data, 0, 4096);
    uint8_t r = blk_rq(b, T_IN, 16, 4096, 1, NULL);
    uint64_t mm = first_mismatch(b->data, 0xc7, 16 * 512, 4096);
    check("blk_mq_io", good == 4 && w == S_OK && f == S_OK && r == S_OK && mm == 4096,
          "reads ok on %u of 4 queues; write(q3)=%u flush(q2)=%u read(q1)=%u first_mismatch=%lu",
          good, w, f, r, (unsigned long)mm);
}

/* cocoon's PCI hot-plug registers (vmm/base/acpi_regs.h): PCID lists the slots cocoon asks the
 * guest to eject (read clears); B0EJ is where the slot's _EJ0 writes 1 << slot. */
#define ACPI_PCID 0xAE0C
#define ACPI_B0EJ 0xAE10

/* What Linux's acpiphp does on an Eject Request for slot (Notify 3 from the DSDT's PCNT):
 * release the function, then run the slot's _EJ0. Returns 1 once it ejected. */
static int eject_when_asked(unsigned slot)
{
    if (!(inl(ACPI_PCID) & (1u << slot)))
        return 0;
    outl(ACPI_B0EJ, 1u << slot);
    return 1;
}

static void hotplug(void)
{
    struct blk *b = &disks[0];
    rt_printf("WAITING\n");
    int found = 0;
    for (unsigned i = 0; i < 200000 && !found; i++) {
        found = vdev_find(VIRTIO_ID_BLOCK, 0, &b->dev) == 0;
        for (unsigned k = 0; k < 200 && !found; k++)
            rt_pause();
    }
    check("blk_hotplug_appears", found, "slot %u", found ? b->dev.slot : 0);
    if (!found)
        return;
    blk_open(b, 0);
    uint8_t st = blk_rq(b, T_IN, 0, 4096, 1, NULL);
    uint64_t mm = first_mismatch(b->data, 0x33, 0, 4096);
    check("blk_hotplug_io", st == S_OK && mm == 4096 && b->capacity == 2048,
          "status=%u first_mismatch=%lu capacity=%lu", st, (unsigned long)mm,
          (unsigned long)b->capacity);
    rt_printf("PLUGGED\n");
    int gone = 0, ejected = 0;
    for (unsigned i = 0; i < 200000 && !gone; i++) {
        ejected = ejected || eject_when_asked(b->dev.slot);
        gone = (pci_cfg_read32(0, b->dev.slot, 0, 0) & 0xFFFF) == 0xFFFF;
        for (unsigned k = 0; k < 200 && !gone; k++)
            rt_pause();
    }
    check("blk_hot_unplug_gone", gone && ejected,
          "vendor id reads all-ones after vm.remove-device (eject request seen: %d)", ejected);
}

static uint64_t run(uint64_t mode)
{
    if (mode == 1)
        rw_verify();
    else if (mode == 2)
        durability();
    else if (mode == 3)
        hostile();
    else if (mode == 4)
        multiqueue();
    else if (mode == 5)
        hotplug();
    else
        rt_fail("unknown mode %lu", (unsigned long)mode);
    rt_printf("RESULT %s failures=%u\n", failures ? "FAIL" : "PASS", failures);
    return failures ? 1 : 0;
}

int main(void)
{
    return (int)run(rt_cmdline_uint("mode", 0));
}
