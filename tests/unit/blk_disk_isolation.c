/* blk_disk_isolation.c: one disk saturated with slow I/O (fdatasync of a large dirty image on a
 * real file system) does not delay another disk: each disk has its own ring, and the second
 * disk's read completes while every request of the first is still in flight. (With the former
 * shared pool of two I/O threads, two batches of slow flushes on disk A held both threads and
 * disk B's read waited behind them; with io_uring's default io-wq limit, 4 workers per CPU shared
 * by all rings of the loop thread, A's 12 flushes held them all and B's tmpfs read, which tmpfs
 * cannot do without blocking, waited the same way.) */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "devices/blk_req.h"
#include "devices/virtio_blk.h"
#include "support/vring_sim.h"

#define RAM      (1024 * 1024)
#define QSZ      64
#define FLUSHES  12  /* more than io_uring's default io-wq limit here (4 per CPU) */
#define DIRTY_MB 256 /* writeback of this takes far longer than a read, even on a loaded host */

struct disk {
    uint8_t *ram;
    struct guest_mem gm;
    struct vring_sim sim;
    struct virtio_blk *blk;
    char path[64];
};

static uv_loop_t loop;
static void no_signal(void *ctx, unsigned q) {}
static void no_config(void *ctx) {}
static void no_reset(void *ctx) {}
static const struct virtio_transport_ops transport = {no_signal, no_config, no_reset};

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void disk_open(struct disk *d, const char *dir, size_t size)
{
    d->ram = calloc(1, RAM);
    assert_non_null(d->ram);
    gm_init_host(&d->gm, d->ram, RAM);
    snprintf(d->path, sizeof(d->path), "%s/cocoon-blkiso-XXXXXX", dir);
    int fd = mkstemp(d->path);
    assert_true(fd >= 0);
    assert_int_equal(ftruncate(fd, (off_t)size), 0);
    static const uint8_t page[4096] = {1};
    assert_int_equal(pwrite(fd, page, sizeof(page), 0), (ssize_t)sizeof(page)); /* cached */
    close(fd);
    struct virtio_blk_params p = {.path = d->path, .queue_size = QSZ};
    char err[200];
    assert_int_equal(virtio_blk_create(&p, &d->gm, &loop, &d->blk, err, sizeof(err)), 0);
    struct virtio_device *v = virtio_blk_vdev(d->blk);
    v->transport = &transport;
    vring_sim_init(&d->sim, d->ram, QSZ, 0x1000);
    assert_int_equal(
        virtq_init(&v->vq[0], &d->gm, QSZ, QSZ, d->sim.desc, d->sim.avail, d->sim.used), 0);
    assert_int_equal(v->ops->activate(v), 0);
}

/* Request i: header at 0x10000 + i * 0x2000, data (4 KiB) at +0x1000 for reads, status at +16. */
static void post(struct disk *d, unsigned i, uint32_t type)
{
    uint64_t base = 0x10000 + (uint64_t)i * 0x2000;
    memset(d->ram + base, 0, 16);
    memcpy(d->ram + base, &type, 4);
    uint16_t h = (uint16_t)(3 * i);
    if (type == VIRTIO_BLK_T_IN) {
        vring_sim_desc(&d->sim, h, base, 16, VIRTQ_DESC_F_NEXT, (uint16_t)(h + 1));
        vring_sim_desc(&d->sim, (uint16_t)(h + 1), base + 0x1000, 4096,
                       VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, (uint16_t)(h + 2));
    } else {
        vring_sim_desc(&d->sim, h, base, 16, VIRTQ_DESC_F_NEXT, (uint16_t)(h + 2));
    }
    vring_sim_desc(&d->sim, (uint16_t)(h + 2), base + 16, 1, VIRTQ_DESC_F_WRITE, 0);
    vring_sim_publish(&d->sim, h);
}

static void notify(struct disk *d)
{
    struct virtio_device *v = virtio_blk_vdev(d->blk);
    v->ops->queue_notify(v, 0);
}

static void dirty(const struct disk *d)
{
    int fd = open(d->path, O_WRONLY);
    assert_true(fd >= 0);
    static uint8_t chunk[1 << 20];
    memset(chunk, 0x5A, sizeof(chunk));
    for (unsigned i = 0; i < DIRTY_MB; i++)
        assert_int_equal(pwrite(fd, chunk, sizeof(chunk), (off_t)i << 20), (ssize_t)sizeof(chunk));
    close(fd);
}

static void a_saturated_disk_does_not_stall_another(void **state)
{
    assert_int_equal(uv_loop_init(&loop), 0);
    struct disk a, b;
    disk_open(&a, "/var/tmp", (size_t)DIRTY_MB << 20); /* a real file system: flushes are slow */
    disk_open(&b, "/dev/shm", 1 << 20);
    uint32_t id, len;
    post(&b, 0, VIRTIO_BLK_T_IN); /* warm-up: B's ring and page cache ready, as in steady state */
    notify(&b);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_true(vring_sim_take_used(&b.sim, &id, &len));
    dirty(&a);
    for (unsigned i = 0; i < FLUSHES; i++) { /* one notification each (one batch each) */
        post(&a, i, VIRTIO_BLK_T_FLUSH);
        notify(&a);
    }
    unsigned a_before = virtio_blk_inflight(a.blk);
    double t0 = now_ms();
    post(&b, 0, VIRTIO_BLK_T_IN);
    notify(&b);
    bool b_done = false;
    unsigned a_when_b_done = 0;
    while (!b_done && now_ms() - t0 < 30000) {
        b_done = vring_sim_take_used(&b.sim, &id, &len);
        if (b_done)
            a_when_b_done = virtio_blk_inflight(a.blk);
        else
            uv_run(&loop, UV_RUN_ONCE);
    }
    double b_ms = now_ms() - t0;
    assert_true(b_done);
    assert_int_equal(b.ram[0x10000 + 16], VIRTIO_BLK_S_OK);
    print_message("disk B read: %.3f ms; disk A requests in flight then: %u of %u\n", b_ms,
                  a_when_b_done, a_before);
    assert_int_equal(a_before, FLUSHES);
    assert_int_equal(a_when_b_done, FLUSHES); /* B finished before any of A's slow flushes */
    uv_run(&loop, UV_RUN_DEFAULT);            /* A's flushes finish too */
    unsigned a_done = 0;
    while (vring_sim_take_used(&a.sim, &id, &len))
        a_done++;
    assert_int_equal(a_done, FLUSHES);
    double total_ms = now_ms() - t0;
    print_message("disk A flushes: %.3f ms\n", total_ms);
    virtio_blk_destroy(a.blk);
    virtio_blk_destroy(b.blk);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&loop), 0);
    unlink(a.path);
    unlink(b.path);
    free(a.ram);
    free(b.ram);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(a_saturated_disk_does_not_stall_another),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
