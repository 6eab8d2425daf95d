/* blk_path.c: benchmark: 4 KiB random reads/writes through cocoon's virtio-blk device path vs raw
 * pread/pwrite on the same file, same offsets, same count; prints nanoseconds per request.
 *
 * usage: bench_blk_path dev|raw read|write FILE COUNT DEPTH [SEED [direct]]
 *   dev    the real virtio-blk device (devices/virtio_blk.c) and its disk's io_uring
 *          (devices/blk_backend.c), driven through a split virtqueue in simulated guest memory
 *          (gm_init_host, page-aligned like guest RAM):
 *          DEPTH requests are posted, the queue is notified, the loop runs until all DEPTH
 *          completed (status and used length checked), and so on
 *   raw    pread/pwrite of 4 KiB at the same offsets, one after another (DEPTH ignored)
 *   direct the image is opened O_DIRECT (the device's direct=on; raw likewise)
 * FILE is a raw image (a multiple of 4 KiB, e.g. in /dev/shm); offsets are 4 KiB aligned and
 * drawn from SEED (default 1). Output: one line, "<wall ns per request> <CPU ns per request>" (CPU:
 * user + system time of every thread of the process, so the device's worker threads count).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "tools/bench/bench_clock.h"
#include "devices/blk_req.h"
#include "devices/virtio_blk.h"
#include "support/vring_sim.h"

#define BLOCK     4096u
#define QSIZE     128u
#define MAX_DEPTH (QSIZE / 3) /* three descriptors per request */
#define RINGS     0x1000u
#define REQS      0x10000u
#define SLOT      0x3000u /* per request: header +0, data +0x1000, status +0x2000 */
#define RAM_SIZE  (REQS + MAX_DEPTH * SLOT)

static int fail(const char *what)
{
    fprintf(stderr, "bench_blk_path: %s\n", what);
    return 1;
}

static uint64_t *make_offsets(uint64_t nblocks, unsigned count, uint64_t seed)
{
    uint64_t *off = malloc(sizeof(*off) * count);
    uint64_t x = seed * 0x9E3779B97F4A7C15ULL + 1;
    for (unsigned i = 0; off && i < count; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        off[i] = (x % nblocks) * BLOCK;
    }
    return off;
}

static int direct;

static int run_raw(const char *path, int write, const uint64_t *off, unsigned count, double *ns,
                   double *cpu)
{
    int fd = open(path, O_RDWR | (direct ? O_DIRECT : 0));
    if (fd < 0)
        return fail(strerror(errno));
    uint8_t *buf = aligned_alloc(BLOCK, BLOCK);
    if (!buf) {
        close(fd);
        return fail("out of memory");
    }
    memset(buf, 0x5A, BLOCK);
    int rc = 0;
    double t0 = bench_now_ns(), c0 = bench_cpu_ns();
    for (unsigned i = 0; i < count && rc == 0; i++) {
        ssize_t n =
            write ? pwrite(fd, buf, BLOCK, (off_t)off[i]) : pread(fd, buf, BLOCK, (off_t)off[i]);
        if (n != BLOCK)
            rc = fail("short raw transfer");
    }
    *ns = (bench_now_ns() - t0) / count;
    *cpu = (bench_cpu_ns() - c0) / count;
    free(buf);
    close(fd);
    return rc;
}

static void fake_signal_queue(void *ctx, unsigned q) {}
static void fake_signal_config(void *ctx) {}
static void fake_needs_reset(void *ctx)
{
    *(int *)ctx = 1;
}
static const struct virtio_transport_ops fake_transport = {fake_signal_queue, fake_signal_config,
                                                           fake_needs_reset};

/* Posts request `slot` (descriptors 3*slot .. 3*slot+2) for the block at byte offset `off`. */
static void post(struct vring_sim *sim, uint8_t *ram, unsigned slot, int write, uint64_t off)
{
    uint64_t base = REQS + (uint64_t)slot * SLOT;
    uint32_t type = write ? VIRTIO_BLK_T_OUT : VIRTIO_BLK_T_IN;
    uint64_t sector = off / 512;
    memcpy(ram + base, &type, 4);
    memset(ram + base + 4, 0, 4);
    memcpy(ram + base + 8, &sector, 8);
    ram[base + 0x2000] = 0xEE;
    uint16_t d = (uint16_t)(3 * slot);
    vring_sim_desc(sim, d, base, 16, VIRTQ_DESC_F_NEXT, (uint16_t)(d + 1));
    vring_sim_desc(sim, (uint16_t)(d + 1), base + 0x1000, BLOCK,
                   VIRTQ_DESC_F_NEXT | (write ? 0 : VIRTQ_DESC_F_WRITE), (uint16_t)(d + 2));
    vring_sim_desc(sim, (uint16_t)(d + 2), base + 0x2000, 1, VIRTQ_DESC_F_WRITE, 0);
    vring_sim_publish(sim, d);
}

/* Takes `depth` used entries and checks each: status OK and the device-written length. */
static int reap(struct vring_sim *sim, const uint8_t *ram, unsigned depth, int write)
{
    for (unsigned k = 0; k < depth; k++) {
        uint32_t id, len;
        if (!vring_sim_take_used(sim, &id, &len))
            return fail("a request did not complete");
        if (id % 3 || id / 3 >= depth || ram[REQS + (id / 3) * SLOT + 0x2000] != VIRTIO_BLK_S_OK)
            return fail("a request completed with an error");
        if (len != (write ? 1u : BLOCK + 1))
            return fail("unexpected used length");
    }
    return 0;
}

/* After a read run: the last batch's data must equal the file's bytes at those offsets. */
static int verify_reads(const char *path, const uint8_t *ram, const uint64_t *off, unsigned n)
{
    int fd = open(path, O_RDONLY);
    static uint8_t want[BLOCK];
    int rc = fd < 0 ? fail("cannot reopen the image") : 0;
    for (unsigned k = 0; k < n && rc == 0; k++)
        if (pread(fd, want, BLOCK, (off_t)off[k]) != BLOCK ||
            memcmp(want, ram + REQS + (uint64_t)k * SLOT + 0x1000, BLOCK) != 0)
            rc = fail("data read through the device differs from the file");
    if (fd >= 0)
        close(fd);
    return rc;
}

static int run_dev(const char *path, int write, const uint64_t *off, unsigned count, unsigned depth,
                   double *ns, double *cpu)
{
    uint8_t *ram = aligned_alloc(4096, (RAM_SIZE + 4095) & ~(size_t)4095);
    struct guest_mem gm;
    uv_loop_t loop;
    struct virtio_blk *blk = NULL;
    struct vring_sim sim;
    char err[256];
    int needs_reset = 0, rc = 0;
    if (!ram || uv_loop_init(&loop) != 0)
        return fail("out of memory");
    memset(ram, 0, RAM_SIZE);
    gm_init_host(&gm, ram, RAM_SIZE);
    struct virtio_blk_params p = {
        .path = path, .id = "bench", .queue_size = QSIZE, .direct = direct != 0};
    if (virtio_blk_create(&p, &gm, &loop, &blk, err, sizeof(err)) < 0) {
        free(ram);
        return fail(err);
    }
    struct virtio_device *vdev = virtio_blk_vdev(blk);
    vdev->transport = &fake_transport;
    vdev->transport_ctx = &needs_reset;
    vring_sim_init(&sim, ram, QSIZE, RINGS);
    if (virtq_init(&vdev->vq[0], &gm, QSIZE, QSIZE, sim.desc, sim.avail, sim.used) < 0 ||
        vdev->ops->activate(vdev) < 0)
        rc = fail("virtqueue set-up refused");
    for (unsigned k = 0; k < depth; k++)
        memset(ram + REQS + (uint64_t)k * SLOT + 0x1000, 0x5A, BLOCK);
    unsigned last = 0;
    double t0 = bench_now_ns(), c0 = bench_cpu_ns();
    for (unsigned i = 0; i < count && rc == 0; i += depth) {
        unsigned n = count - i < depth ? count - i : depth;
        for (unsigned k = 0; k < n; k++)
            post(&sim, ram, k, write, off[i + k]);
        vdev->ops->queue_notify(vdev, 0);
        uv_run(&loop, UV_RUN_DEFAULT);
        rc = needs_reset ? fail("the device asked for a reset") : reap(&sim, ram, n, write);
        last = i;
    }
    *ns = (bench_now_ns() - t0) / count;
    *cpu = (bench_cpu_ns() - c0) / count;
    if (rc == 0 && !write)
        rc = verify_reads(path, ram, off + last, count - last < depth ? count - last : depth);
    virtio_blk_destroy(blk);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    free(ram);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc < 6 || argc > 8) {
        fprintf(stderr,
                "usage: bench_blk_path dev|raw read|write FILE COUNT DEPTH [SEED [direct]]\n");
        return 2;
    }
    int dev = strcmp(argv[1], "dev") == 0, write = strcmp(argv[2], "write") == 0;
    const char *path = argv[3];
    unsigned count = (unsigned)strtoul(argv[4], NULL, 0);
    unsigned depth = (unsigned)strtoul(argv[5], NULL, 0);
    uint64_t seed = argc >= 7 ? strtoull(argv[6], NULL, 0) : 1;
    direct = argc == 8 && strcmp(argv[7], "direct") == 0;
    struct stat st;
    if (stat(path, &st) < 0 || st.st_size < (off_t)BLOCK)
        return fail("FILE must exist and hold at least 4 KiB");
    if (count == 0 || depth == 0 || depth > MAX_DEPTH)
        return fail("COUNT must be > 0 and DEPTH 1..42");
    uint64_t *off = make_offsets((uint64_t)st.st_size / BLOCK, count, seed);
    if (!off)
        return fail("out of memory");
    double ns = 0, cpu = 0;
    int rc = dev ? run_dev(path, write, off, count, depth, &ns, &cpu)
                 : run_raw(path, write, off, count, &ns, &cpu);
    free(off);
    if (rc == 0)
        printf("%.1f %.1f\n", ns, cpu);
    return rc;
}
