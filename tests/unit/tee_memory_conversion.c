/* tee_memory_conversion.c: MAP_GPA_RANGE and memory-fault exits flip pages; a device touching a
 * page the guest did not share fails alone. Runs the SEV-SNP backend on the simulated KVM. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cmocka.h>

#include "devices/virtio_net.h"
#include "tee/kvm_tee_uapi.h"
#include "tests/unit/support/tee_harness.h"
#include "tests/unit/support/vring_sim.h"

#define RAM  (64ULL << 20)
#define PG   4096ULL
#define AREA 0x200000ULL /* the test's playground, private after launch */

static char fw[4096]; /* any SNP firmware: the vector fixture or the synthetic image */
static struct sim_tee *s;
static struct guest_mem gm;
static struct tee_vm *t;

static int setup(void **state)
{
    char err[512] = "";
    struct vm_config cfg;
    vm_config_init(&cfg);
    cfg.cpus = 1;
    cfg.memory = RAM;
    cfg.platform.tee = TEE_SNP;
    cfg.firmware = fw;
    static struct vm_config keep;
    keep = cfg;
    if (gm_init(&gm, RAM, err, sizeof(err)))
        return -1;
    s = sim_tee_new(SIM_HOST_SNP);
    if (!s || harness_launch(s, &keep, &gm, &t, err, sizeof(err))) {
        print_error("launch: %s\n", err);
        return -1;
    }
    return 0;
}

static int teardown(void **state)
{
    tee_destroy(t);
    sim_tee_free(s);
    gm_destroy(&gm);
    return 0;
}

/* One scripted KVM_RUN on vCPU 0, then the backend's exit handling. */
static enum tee_exit_result run_exit(struct sim_exit e)
{
    sim_tee_script(s, e);
    struct sim_vcpu *v = &s->vcpu[0];
    int rc = kvm_ioctl(&s->handle, v->fd, KVM_RUN, NULL);
    int er = rc < 0 ? errno : 0;
    return tee_handle_exit(t, 0, v->run, rc, er);
}

static enum tee_exit_result map_gpa(uint64_t gpa, uint64_t pages, uint64_t attrs, uint64_t *ret)
{
    enum tee_exit_result r = run_exit((struct sim_exit){.reason = KVM_EXIT_HYPERCALL,
                                                        .a0 = KVM_HC_MAP_GPA_RANGE,
                                                        .a1 = gpa,
                                                        .a2 = pages,
                                                        .a3 = attrs});
    *ret = ((struct kvm_run *)s->vcpu[0].run)->hypercall.ret;
    return r;
}

static void everything_private_after_launch(void **state)
{
    assert_null(gm_span(&gm, AREA, 1));
    assert_null(gm_span(&gm, 0, 1));
    assert_true(sim_tee_page_private(s, AREA));
    assert_true(gm_span_loader(&gm, AREA, 1) != NULL); /* the launch code's view still exists */
}

static void hypercall_shares_and_unshares(void **state)
{
    uint64_t ret = 1, punched = s->punched_bytes;
    assert_int_equal(map_gpa(AREA, 4, KVM_MAP_GPA_RANGE_DECRYPTED, &ret), TEE_EXIT_HANDLED);
    assert_int_equal(ret, 0);
    for (uint64_t p = 0; p < 4; p++) {
        assert_false(sim_tee_page_private(s, AREA + p * PG));
        assert_false(gm_is_private(&gm, AREA + p * PG));
    }
    assert_true(sim_tee_page_private(s, AREA + 4 * PG));
    assert_non_null(gm_span(&gm, AREA, 4 * PG));
    assert_null(gm_span(&gm, AREA, 4 * PG + 1));          /* one byte into a private page */
    assert_int_equal(s->punched_bytes - punched, 4 * PG); /* the private side was discarded */

    /* Back to private: the shared bytes are discarded, the door closes. */
    memset(gm_span(&gm, AREA, PG), 0x77, PG);
    assert_int_equal(map_gpa(AREA, 1, KVM_MAP_GPA_RANGE_ENCRYPTED, &ret), TEE_EXIT_HANDLED);
    assert_int_equal(ret, 0);
    assert_true(sim_tee_page_private(s, AREA));
    assert_null(gm_span(&gm, AREA, 1));
    const uint8_t *raw = gm_span_loader(&gm, AREA, PG);
    for (uint64_t i = 0; i < PG; i++)
        assert_int_equal(raw[i], 0);
}

static void memory_fault_converts_to_the_access_kind(void **state)
{
    /* A shared access to a private page: convert to shared. */
    assert_int_equal(run_exit((struct sim_exit){.reason = KVM_EXIT_MEMORY_FAULT,
                                                .ret_errno = EFAULT,
                                                .a0 = 0,
                                                .a1 = AREA + 8 * PG + 12,
                                                .a2 = 8}),
                     TEE_EXIT_HANDLED);
    assert_false(sim_tee_page_private(s, AREA + 8 * PG));
    assert_non_null(gm_span(&gm, AREA + 8 * PG, PG));
    /* A private access to it: back to private. size 0 = the faulting page. */
    assert_int_equal(run_exit((struct sim_exit){.reason = KVM_EXIT_MEMORY_FAULT,
                                                .ret_errno = EFAULT,
                                                .a0 = KVM_MEMORY_EXIT_FLAG_PRIVATE,
                                                .a1 = AREA + 8 * PG,
                                                .a2 = 0}),
                     TEE_EXIT_HANDLED);
    assert_true(sim_tee_page_private(s, AREA + 8 * PG));
    assert_null(gm_span(&gm, AREA + 8 * PG, 1));
}

static void hostile_conversions_are_refused(void **state)
{
    uint64_t ret = 0;
    assert_int_equal(map_gpa(AREA + 1, 1, 0, &ret), TEE_EXIT_HANDLED);
    assert_int_equal(ret, (uint64_t)-EINVAL);
    assert_int_equal(map_gpa(RAM, 1, 0, &ret), TEE_EXIT_HANDLED); /* past the end of RAM */
    assert_int_equal(ret, (uint64_t)-EINVAL);
    assert_int_equal(map_gpa(AREA, UINT64_MAX / 2, 0, &ret), TEE_EXIT_HANDLED);
    assert_int_equal(ret, (uint64_t)-EINVAL);
    assert_int_equal(map_gpa(AREA, 1, 1ULL << 40, &ret), TEE_EXIT_HANDLED); /* reserved bits */
    assert_int_equal(ret, (uint64_t)-EINVAL);
    assert_int_equal(map_gpa(0xfffff000ULL, 1, 0, &ret), TEE_EXIT_HANDLED); /* firmware flash */
    assert_int_equal(ret, (uint64_t)-EINVAL);
    assert_true(sim_tee_page_private(s, AREA));
    assert_true(sim_tee_page_private(s, 0xfffff000ULL));
    /* Faults KVM cannot have meant: unknown flags, outside RAM. The VM stops; nothing changes. */
    assert_int_equal(run_exit((struct sim_exit){.reason = KVM_EXIT_MEMORY_FAULT,
                                                .ret_errno = EFAULT,
                                                .a0 = 1ULL << 7,
                                                .a1 = AREA,
                                                .a2 = PG}),
                     TEE_EXIT_ERROR);
    assert_int_equal(
        run_exit((struct sim_exit){
            .reason = KVM_EXIT_MEMORY_FAULT, .ret_errno = EFAULT, .a1 = 0xd0000000ULL, .a2 = PG}),
        TEE_EXIT_ERROR);
    assert_true(sim_tee_page_private(s, AREA));
    /* Other exits are the VMM's. */
    assert_int_equal(run_exit((struct sim_exit){.reason = KVM_EXIT_HYPERCALL, .a0 = 5}),
                     TEE_EXIT_NOT_MINE);
}

/* ---- two virtio-net devices on the same guest memory ---- */

#define QSZ 8

struct dev {
    struct virtio_net *net;
    struct virtio_device *vdev;
    struct vring_sim tx;
    int peer;
    bool needs_reset;
};

static void fake_signal_queue(void *ctx, unsigned q) {}
static void fake_signal_config(void *ctx) {}
static void fake_needs_reset(void *ctx)
{
    ((struct dev *)ctx)->needs_reset = true;
}
static const struct virtio_transport_ops fake_transport = {fake_signal_queue, fake_signal_config,
                                                           fake_needs_reset};

static void dev_up(struct dev *d, uv_loop_t *loop, uint64_t ring_gpa, uint8_t mac_last)
{
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
    d->peer = sv[1];
    struct virtio_net_params p = {.tap = {.fd = sv[0], .vnet_hdr = true, .is_tap = false},
                                  .mac = {0x02, 0, 0, 0, 0, mac_last},
                                  .mac_set = true,
                                  .queue_size = QSZ};
    char err[128];
    assert_int_equal(virtio_net_create(&p, &gm, loop, &d->net, err, sizeof(err)), 0);
    d->vdev = virtio_net_vdev(d->net);
    d->vdev->transport = &fake_transport;
    d->vdev->transport_ctx = d;
    struct vring_sim rx;
    uint8_t *ram = gm.region[0].host;
    vring_sim_init(&rx, ram, QSZ, ring_gpa);
    vring_sim_init(&d->tx, ram, QSZ, ring_gpa + 0x800);
    assert_int_equal(virtq_init(&d->vdev->vq[0], &gm, QSZ, QSZ, rx.desc, rx.avail, rx.used), 0);
    assert_int_equal(
        virtq_init(&d->vdev->vq[1], &gm, QSZ, QSZ, d->tx.desc, d->tx.avail, d->tx.used), 0);
    d->vdev->driver_features = 0;
    assert_int_equal(d->vdev->ops->activate(d->vdev), 0);
}

static void dev_send(struct dev *d, uint64_t buf_gpa, uint32_t len, uv_loop_t *loop)
{
    vring_sim_desc(&d->tx, 0, buf_gpa, len, 0, 0);
    vring_sim_publish(&d->tx, 0);
    d->vdev->ops->queue_notify(d->vdev, 1);
    for (int i = 0; i < 4; i++)
        uv_run(loop, UV_RUN_NOWAIT);
}

static void device_touching_private_page_fails_alone(void **state)
{
    uint64_t ret = 1;
    /* The guest shares both devices' rings and device A's buffer, not device B's buffer. */
    const uint64_t ring_a = AREA + 0x10000, ring_b = AREA + 0x11000;
    const uint64_t buf_a = AREA + 0x12000, buf_b = AREA + 0x13000;
    assert_int_equal(map_gpa(ring_a, 3, KVM_MAP_GPA_RANGE_DECRYPTED, &ret), TEE_EXIT_HANDLED);
    assert_int_equal(ret, 0);
    assert_null(gm_span(&gm, buf_b, 1));

    uv_loop_t loop;
    assert_int_equal(uv_loop_init(&loop), 0);
    struct dev a = {0}, b = {0};
    dev_up(&a, &loop, ring_a, 1);
    dev_up(&b, &loop, ring_b, 2);
    uint8_t frame[12 + 60];
    memset(frame, 0, sizeof(frame));
    memset(frame + 12, 0xee, 60);
    memcpy(gm_span(&gm, buf_a, sizeof(frame)), frame, sizeof(frame));

    dev_send(&b, buf_b, sizeof(frame), &loop);
    dev_send(&a, buf_a, sizeof(frame), &loop);

    assert_true(b.needs_reset);
    assert_false(a.needs_reset);
    uint8_t got[256];
    assert_int_equal(recv(a.peer, got, sizeof(got), 0), (ssize_t)sizeof(frame));
    assert_int_equal(recv(b.peer, got, sizeof(got), 0), -1); /* nothing of B's left the host */
    /* Device A still works after B broke. */
    dev_send(&a, buf_a, sizeof(frame), &loop);
    assert_false(a.needs_reset);
    assert_int_equal(recv(a.peer, got, sizeof(got), 0), (ssize_t)sizeof(frame));

    virtio_net_destroy(a.net);
    virtio_net_destroy(b.net);
    uv_run(&loop, UV_RUN_NOWAIT);
    uv_loop_close(&loop);
    close(a.peer);
    close(b.peer);
}

int main(void)
{
    enum harness_fw_source src = harness_fw_snp(COCOON_SOURCE_DIR, fw, sizeof(fw));
    if (src == HARNESS_FW_NONE) {
        printf("tee_memory_conversion: cannot write the synthetic firmware\n");
        return 1;
    }
    printf("tee_memory_conversion: launching on %s\n", harness_fw_name(src));
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(everything_private_after_launch),
        cmocka_unit_test(hypercall_shares_and_unshares),
        cmocka_unit_test(memory_fault_converts_to_the_access_kind),
        cmocka_unit_test(hostile_conversions_are_refused),
        cmocka_unit_test(device_touching_private_page_fails_alone),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
