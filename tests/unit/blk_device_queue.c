/* blk_device_queue.c: virtio-blk queue handling on the disk's io_uring: inline completion of
 * cached reads, late completions through the eventfd (one interrupt per batch), the in-flight cap
 * for re-posted heads, a reset that does not wait and drops the old activation's completions,
 * destroy with I/O in flight. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "devices/blk_backend.h"
#include "devices/virtio_blk.h"
#include "support/vring_sim.h"

#define RAM   (512 * 1024)
#define QSZ   8
#define RINGS 0x1000
#define REQ   0x10000 /* per head: header at +0, data at +0x1000 (4 KiB), status at +0x3000 */

static uint8_t ram[RAM];
static struct guest_mem gm;
static struct vring_sim sim;
static uv_loop_t loop;
static struct virtio_blk *blk;
static struct virtio_device *vdev;
static char path[64];
static unsigned signals;
static bool needs_reset;

static void fake_signal_queue(void *ctx, unsigned q)
{
    signals++;
}

static void fake_signal_config(void *ctx) {}

static void fake_needs_reset(void *ctx)
{
    needs_reset = true;
}

static const struct virtio_transport_ops fake_transport = {fake_signal_queue, fake_signal_config,
                                                           fake_needs_reset};

static uint8_t image_byte(uint64_t off)
{
    return (uint8_t)(off * 7 + (off >> 9));
}

static int setup(void **state)
{
    memset(ram, 0, sizeof(ram));
    gm_init_host(&gm, ram, RAM);
    assert_int_equal(uv_loop_init(&loop), 0);
    strcpy(path, "/tmp/cocoon-blkq-XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    static uint8_t img[64 * 1024];
    for (size_t i = 0; i < sizeof(img); i++)
        img[i] = image_byte(i);
    assert_int_equal(write(fd, img, sizeof(img)), (ssize_t)sizeof(img));
    close(fd);
    struct virtio_blk_params p = {.path = path, .id = "q0", .queue_size = QSZ};
    char err[128];
    assert_int_equal(virtio_blk_create(&p, &gm, &loop, &blk, err, sizeof(err)), 0);
    vdev = virtio_blk_vdev(blk);
    vdev->transport = &fake_transport;
    vring_sim_init(&sim, ram, QSZ, RINGS);
    assert_int_equal(virtq_init(&vdev->vq[0], &gm, QSZ, QSZ, sim.desc, sim.avail, sim.used), 0);
    assert_int_equal(vdev->ops->activate(vdev), 0);
    signals = 0;
    needs_reset = false;
    return 0;
}

static int teardown(void **state)
{
    virtio_blk_destroy(blk);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&loop), 0);
    unlink(path);
    return 0;
}

static void post_read(uint16_t head, uint16_t d0, uint64_t sector)
{
    uint64_t base = REQ + (uint64_t)head * 0x4000;
    uint32_t type = 0;
    memcpy(ram + base, &type, 4);
    memcpy(ram + base + 8, &sector, 8);
    ram[base + 0x3000] = 0xEE;
    vring_sim_desc(&sim, d0, base, 16, VIRTQ_DESC_F_NEXT, (uint16_t)((d0 + 1) % QSZ));
    vring_sim_desc(&sim, (uint16_t)((d0 + 1) % QSZ), base + 0x1000, 4096,
                   VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, (uint16_t)((d0 + 2) % QSZ));
    vring_sim_desc(&sim, (uint16_t)((d0 + 2) % QSZ), base + 0x3000, 1, VIRTQ_DESC_F_WRITE, 0);
    vring_sim_publish(&sim, d0);
}

static void post_flush(uint16_t d0)
{
    uint64_t base = REQ + (uint64_t)d0 * 0x4000;
    uint32_t type = 4; /* VIRTIO_BLK_T_FLUSH */
    memset(ram + base, 0, 16);
    memcpy(ram + base, &type, 4);
    ram[base + 0x3000] = 0xEE;
    vring_sim_desc(&sim, d0, base, 16, VIRTQ_DESC_F_NEXT, (uint16_t)((d0 + 1) % QSZ));
    vring_sim_desc(&sim, (uint16_t)((d0 + 1) % QSZ), base + 0x3000, 1, VIRTQ_DESC_F_WRITE, 0);
    vring_sim_publish(&sim, d0);
}

static void check_reads_done(void)
{
    uint32_t id, len;
    unsigned seen = 0;
    while (vring_sim_take_used(&sim, &id, &len)) {
        assert_true(id == 0 || id == 3);
        assert_int_equal(len, 4097);
        seen++;
    }
    assert_int_equal(seen, 2);
    for (unsigned h = 0; h < 2; h++) {
        uint64_t base = REQ + h * 0x4000;
        assert_int_equal(ram[base + 0x3000], 0);
        for (unsigned i = 0; i < 4096; i++)
            assert_int_equal(ram[base + 0x1000 + i], image_byte(h * 4096 + i));
    }
    assert_int_equal(virtio_blk_inflight(blk), 0);
}

/* Page-cache hits complete inside the notification's one io_uring_enter: no second thread, no
 * wake-up, one interrupt for the batch. */
static void cached_reads_complete_inline_with_one_interrupt(void **state)
{
    post_read(0, 0, 0);
    post_read(1, 3, 8);
    vdev->ops->queue_notify(vdev, 0);
    uv_run(&loop, UV_RUN_NOWAIT); /* at most what the eventfd brought, never a wait */
    check_reads_done();
    assert_int_equal(signals, 1);
}

/* Completions that arrive later come through the ring's eventfd on the loop, as one batch. */
static void late_completions_arrive_on_the_loop(void **state)
{
    struct blk_backend *be = virtio_blk_backend(blk);
    be->test_hold_completions = true; /* the kernel finishes them; cocoon does not look yet */
    post_read(0, 0, 0);
    post_read(1, 3, 8);
    vdev->ops->queue_notify(vdev, 0);
    assert_int_equal(virtio_blk_inflight(blk), 2);
    uint32_t id, len;
    assert_false(vring_sim_take_used(&sim, &id, &len));
    be->test_hold_completions = false;
    uv_run(&loop, UV_RUN_DEFAULT); /* the eventfd was signalled for the held completions */
    check_reads_done();
    assert_int_equal(signals, 1);
}

static void reposted_heads_are_capped(void **state)
{
    /* One chain (descriptors 0..1, a flush) published 2 * QSZ times in two rounds: a driver
     * cannot legally have more than QSZ outstanding, so cocoon holds at QSZ and resumes as
     * completions come back. */
    struct blk_backend *be = virtio_blk_backend(blk);
    be->test_hold_completions = true;
    post_flush(0);
    for (unsigned i = 1; i < QSZ; i++)
        vring_sim_publish(&sim, 0);
    vdev->ops->queue_notify(vdev, 0);
    assert_int_equal(virtio_blk_inflight(blk), QSZ);
    for (unsigned i = 0; i < QSZ; i++)
        vring_sim_publish(&sim, 0);
    vdev->ops->queue_notify(vdev, 0);
    assert_int_equal(virtio_blk_inflight(blk), QSZ);
    assert_int_equal(blk_backend_inflight(be), QSZ);
    be->test_hold_completions = false;
    uv_run(&loop, UV_RUN_DEFAULT);
    uint32_t id, len;
    unsigned seen = 0;
    while (vring_sim_take_used(&sim, &id, &len))
        seen++;
    assert_int_equal(seen, 2 * QSZ);
    assert_false(needs_reset);
}

static void reset_does_not_wait_and_drops_old_completions(void **state)
{
    struct blk_backend *be = virtio_blk_backend(blk);
    be->test_hold_completions = true; /* I/O still running when the driver resets */
    post_read(0, 0, 0);
    post_read(1, 3, 8);
    vdev->ops->queue_notify(vdev, 0);
    assert_int_equal(blk_backend_inflight(be), 2);
    vdev->ops->reset(vdev); /* returns with both requests still in flight */
    assert_int_equal(blk_backend_inflight(be), 2);
    assert_int_equal(vdev->dma_pending, 2); /* the transport holds device_status non-zero */
    memset(ram + REQ, 0x77, 0x8000);
    be->test_hold_completions = false;
    blk_backend_kick(be);
    uv_run(&loop, UV_RUN_DEFAULT);
    uint32_t id, len;
    assert_false(vring_sim_take_used(&sim, &id, &len));
    assert_int_equal(ram[REQ + 0x3000], 0x77); /* no status written after the reset */
    assert_int_equal(ram[REQ + 0x4000 + 0x3000], 0x77);
    assert_int_equal(virtio_blk_inflight(blk), 0);
    assert_int_equal(blk_backend_inflight(be), 0);
    assert_int_equal(vdev->dma_pending, 0); /* the reset is complete for the driver now */
    assert_int_equal(signals, 0);
}

/* Destroy returns at once with I/O in flight, writes nothing to the guest afterwards, and frees
 * the device (ring, image, poll handle) once that I/O completed: the loop then closes with no
 * handle left (teardown's uv_loop_close), and the image lock is released. */
static void destroy_with_io_in_flight(void **state)
{
    struct blk_backend *be = virtio_blk_backend(blk);
    be->test_hold_completions = true;
    post_read(0, 0, 0);
    vdev->ops->queue_notify(vdev, 0);
    assert_int_equal(blk_backend_inflight(be), 1);
    virtio_blk_destroy(blk); /* must not wait for the read */
    blk = NULL;
    assert_int_equal(blk_backend_inflight(be), 1); /* still running: destroy did not wait */
    ram[REQ + 0x3000] = 0x77;
    be->test_hold_completions = false;
    blk_backend_kick(be); /* the read completes now; the device is freed on the loop */
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(ram[REQ + 0x3000], 0x77); /* no status after destroy */
    uint32_t id, len;
    assert_false(vring_sim_take_used(&sim, &id, &len));
    /* the image is free again: a new disk on it opens (its lock and registration are gone) */
    struct virtio_blk_params p = {.path = path, .queue_size = QSZ};
    char err[160] = "";
    int rc = virtio_blk_create(&p, &gm, &loop, &blk, err, sizeof(err));
    if (rc < 0)
        print_message("%s\n", err);
    assert_int_equal(rc, 0);
}

/* A TEE guest converts a read's buffer to private while the read is in flight: the request fails
 * (IOERR, status only), it is never reported as read; a request on untouched buffers still reads.
 */
static void buffer_converted_in_flight_fails_the_request(void **state)
{
    assert_int_equal(gm_enable_private(&gm), 0); /* a TEE guest: every page starts private */
    assert_int_equal(gm_set_private(&gm, 0, RAM, false), 0); /* it shares everything */
    struct blk_backend *be = virtio_blk_backend(blk);
    be->test_hold_completions = true;
    post_read(0, 0, 0);
    post_read(1, 3, 8);
    vdev->ops->queue_notify(vdev, 0);
    assert_int_equal(virtio_blk_inflight(blk), 2);
    /* head 0's data page goes private under the running read (as on a MapGPA exit) */
    assert_int_equal(gm_set_private(&gm, REQ + 0x1000, 4096, true), 0);
    be->test_hold_completions = false;
    blk_backend_kick(be);
    uv_run(&loop, UV_RUN_DEFAULT);
    uint32_t id, len;
    bool seen[2] = {false, false};
    while (vring_sim_take_used(&sim, &id, &len)) {
        assert_true(id == 0 || id == 3);
        seen[id == 3] = true;
        if (id == 0) {
            assert_int_equal(len, 1);               /* status only: nothing was read */
            assert_int_equal(ram[REQ + 0x3000], 1); /* VIRTIO_BLK_S_IOERR */
        } else {
            assert_int_equal(len, 4097);
            assert_int_equal(ram[REQ + 0x4000 + 0x3000], 0); /* OK */
        }
    }
    assert_true(seen[0] && seen[1]);
    assert_int_equal(gm_revoked_pins(&gm), 1);
    virtio_blk_destroy(blk);
    blk = NULL;
    uv_run(&loop, UV_RUN_DEFAULT);
    gm_destroy(&gm);
}

static void hostile_chain_needs_reset(void **state)
{
    vring_sim_desc(&sim, 0, REQ, 16, VIRTQ_DESC_F_NEXT, 0); /* loop */
    vring_sim_publish(&sim, 0);
    vdev->ops->queue_notify(vdev, 0);
    assert_true(needs_reset);
    assert_true(vdev->broken);
    assert_int_equal(virtio_blk_inflight(blk), 0);
}

/* Kata asks for one queue per vCPU (up to 254): the disk is created with the queues it
 * supports (VIRTIO_MAX_QUEUES) and says so in its config space, instead of failing vm.boot. */
static void blk_kata_num_queues_capped(void **state)
{
    char other[] = "/tmp/cocoon-blkq-mq-XXXXXX";
    int fd = mkstemp(other);
    assert_true(fd >= 0);
    assert_int_equal(ftruncate(fd, 1 << 20), 0);
    close(fd);
    struct virtio_blk_params p = {.path = other, .id = "mq", .num_queues = 254, .queue_size = QSZ};
    struct virtio_blk *mq = NULL;
    char err[160] = "";
    int rc = virtio_blk_create(&p, &gm, &loop, &mq, err, sizeof(err));
    if (rc < 0)
        fail_msg("num_queues 254 refused: %s", err);
    struct virtio_device *v = virtio_blk_vdev(mq);
    assert_int_equal(v->num_queues, VIRTIO_MAX_QUEUES);
    uint8_t cfg[2];
    v->ops->config_read(v, 34, cfg, 2); /* virtio_blk_config.num_queues */
    assert_int_equal(cfg[0] | cfg[1] << 8, VIRTIO_MAX_QUEUES);
    virtio_blk_destroy(mq);
    uv_run(&loop, UV_RUN_DEFAULT);
    unlink(other);
    p.num_queues = VIRTIO_BLK_MAX_REQUESTED_QUEUES + 1; /* absurd counts are still refused */
    p.path = path;
    assert_int_equal(virtio_blk_create(&p, &gm, &loop, &mq, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "num_queues"));
}

/* Swaps the fixture's disk for one on the same image with the given rate limiter. */
static void recreate_with_limiter(const struct rate_limiter_config *rl)
{
    virtio_blk_destroy(blk);
    uv_run(&loop, UV_RUN_DEFAULT);
    struct virtio_blk_params p = {.path = path, .id = "rl", .queue_size = QSZ, .rate_limiter = rl};
    char err[160] = "";
    if (virtio_blk_create(&p, &gm, &loop, &blk, err, sizeof(err)) < 0)
        fail_msg("%s", err);
    vdev = virtio_blk_vdev(blk);
    vdev->transport = &fake_transport;
    vring_sim_init(&sim, ram, QSZ, RINGS);
    assert_int_equal(virtq_init(&vdev->vq[0], &gm, QSZ, QSZ, sim.desc, sim.avail, sim.used), 0);
    assert_int_equal(vdev->ops->activate(vdev), 0);
}

static unsigned take_used(void)
{
    uint32_t id, len;
    unsigned n = 0;
    while (vring_sim_take_used(&sim, &id, &len))
        n++;
    return n;
}

/* rate_limiter_config on a disk: out of tokens the queue stops popping (nothing is lost, the
 * requests stay on the ring) and a timer resumes it at the configured rate. */
static void blk_rate_limited_queue_resumes(void **state)
{
    struct rate_limiter_config rl;
    memset(&rl, 0, sizeof(rl));
    rl.ops = (struct rate_limit_bucket){.size = 1, .refill_time_ms = 40}; /* 25 requests/s */
    recreate_with_limiter(&rl);
    for (uint16_t d = 0; d < QSZ; d += 2)
        post_flush(d); /* 4 flushes */
    uint64_t t0 = uv_hrtime();
    vdev->ops->queue_notify(vdev, 0);
    unsigned done = take_used();
    /* one token: one request started (done or in flight), the rest wait on the ring */
    assert_int_equal(done + virtio_blk_inflight(blk), 1);
    while (done < 4 && uv_hrtime() - t0 < 5000000000ULL) {
        uv_run(&loop, UV_RUN_ONCE);
        done += take_used();
    }
    uint64_t ms = (uv_hrtime() - t0) / 1000000;
    assert_int_equal(done, 4);
    if (ms < 110 || ms > 2000) /* 3 more tokens at 40 ms each */
        fail_msg("4 rate-limited requests took %llu ms, want about 120", (unsigned long long)ms);
    for (uint16_t d = 0; d < QSZ; d += 2)
        assert_int_equal(ram[REQ + (uint64_t)d * 0x4000 + 0x3000], 0); /* each flush OK */
}

/* Destroy while throttled: the timer is closed first, nothing fires afterwards. */
static void blk_rate_limited_destroy_while_waiting(void **state)
{
    struct rate_limiter_config rl;
    memset(&rl, 0, sizeof(rl));
    rl.bandwidth = (struct rate_limit_bucket){.size = 1, .refill_time_ms = 1000000};
    recreate_with_limiter(&rl);
    post_read(0, 0, 0);
    post_read(1, 3, 8);
    vdev->ops->queue_notify(vdev, 0);
    /* the first 4 KiB read went (into debt), the second waits on the ring */
    assert_int_equal(take_used() + virtio_blk_inflight(blk), 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(cached_reads_complete_inline_with_one_interrupt, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(late_completions_arrive_on_the_loop, setup, teardown),
        cmocka_unit_test_setup_teardown(reposted_heads_are_capped, setup, teardown),
        cmocka_unit_test_setup_teardown(reset_does_not_wait_and_drops_old_completions, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(destroy_with_io_in_flight, setup, teardown),
        cmocka_unit_test_setup_teardown(buffer_converted_in_flight_fails_the_request, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(hostile_chain_needs_reset, setup, teardown),
        cmocka_unit_test_setup_teardown(blk_kata_num_queues_capped, setup, teardown),
        cmocka_unit_test_setup_teardown(blk_rate_limited_queue_resumes, setup, teardown),
        cmocka_unit_test_setup_teardown(blk_rate_limited_destroy_while_waiting, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
