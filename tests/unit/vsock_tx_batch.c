/* vsock_tx_batch.c: one tx notification fills the rx queue once, with one rx interrupt. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "devices/vsock.h"
#include "devices/vsock_packet.h"
#include "support/vring_sim.h"

#define RAM     (1u << 20)
#define QSZ     16
#define RX_RING 0x10000
#define TX_RING 0x20000
#define RX_BUFS 0x40000
#define TX_BUFS 0x80000
#define NPKT    8
#define CID     7

static unsigned rx_signals;

static void count_signal(void *ctx, unsigned q)
{
    (void)ctx;
    if (q == 0)
        rx_signals++;
}

static void no_config(void *ctx)
{
    (void)ctx;
}

static void no_reset(void *ctx)
{
    (void)ctx;
}

static const struct virtio_transport_ops stub_transport = {
    .signal_queue = count_signal,
    .signal_config = no_config,
    .set_needs_reset = no_reset,
};

static void tx_packets_to_unknown_ports_get_one_rx_batch(void **state)
{
    (void)state;
    uint8_t *ram = aligned_alloc(4096, RAM);
    assert_non_null(ram);
    memset(ram, 0, RAM);
    struct guest_mem gm;
    gm_init_host(&gm, ram, RAM);
    uv_loop_t loop;
    assert_int_equal(uv_loop_init(&loop), 0);
    char path[64], err[256];
    snprintf(path, sizeof(path), "/tmp/cocoon-txbatch-%d.sock", (int)getpid());
    struct vsock_dev *v = vsock_new(&loop, &gm, CID, path, err, sizeof(err));
    if (!v)
        fail_msg("vsock_new: %s", err);
    struct virtio_device *vd = vsock_virtio(v);
    vd->transport = &stub_transport;

    struct vring_sim rx, tx;
    vring_sim_init(&rx, ram, QSZ, RX_RING);
    vring_sim_init(&tx, ram, QSZ, TX_RING);
    assert_int_equal(virtq_init(&vd->vq[0], &gm, QSZ, QSZ, rx.desc, rx.avail, rx.used), 0);
    assert_int_equal(virtq_init(&vd->vq[1], &gm, QSZ, QSZ, tx.desc, tx.avail, tx.used), 0);
    assert_int_equal(vd->ops->activate(vd), 0);

    for (uint16_t i = 0; i < QSZ; i++) {
        vring_sim_desc(&rx, i, RX_BUFS + 4096ull * i, 4096, VIRTQ_DESC_F_WRITE, 0);
        vring_sim_publish(&rx, i);
    }
    /* NPKT credit requests for connections that do not exist: each is answered with an RST. */
    for (uint16_t i = 0; i < NPKT; i++) {
        struct vsock_hdr h = {.src_cid = CID,
                              .dst_cid = VSOCK_HOST_CID,
                              .src_port = 5000u + i,
                              .dst_port = 6000u + i,
                              .type = VSOCK_TYPE_STREAM,
                              .op = VSOCK_OP_CREDIT_REQUEST};
        uint8_t raw[VSOCK_HDR_SIZE];
        vsock_hdr_encode(&h, raw);
        memcpy(ram + TX_BUFS + 256u * i, raw, sizeof(raw));
        vring_sim_desc(&tx, i, TX_BUFS + 256u * i, VSOCK_HDR_SIZE, 0, 0);
        vring_sim_publish(&tx, i);
    }
    vd->ops->queue_notify(vd, 1);

    unsigned rsts = 0;
    uint32_t id, len;
    while (vring_sim_take_used(&rx, &id, &len)) {
        struct vsock_hdr h;
        vsock_hdr_decode(ram + RX_BUFS + 4096ull * id, &h);
        assert_int_equal(h.op, VSOCK_OP_RST);
        rsts++;
    }
    assert_int_equal(rsts, NPKT);
    assert_int_equal(rx_signals, 1); /* not one rx pass and interrupt per tx packet */

    vd->transport = NULL;
    vsock_free(v);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    free(ram);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(tx_packets_to_unknown_ports_get_one_rx_batch),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
