/* vsock_conn_states.c: the muxer's connection state machine on a real loop and Unix sockets:
 * host connect -> REQUEST -> RESPONSE -> OK line, guest connect to <socket>_P, RST/SHUTDOWN both
 * ways, packets for unknown connections, foreign CIDs and non-stream types. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <cmocka.h>
#include <uv.h>

#include "devices/vsock_muxer.h"
#include "support/vring_sim.h"

#define RAM   (512 * 1024)
#define CID   3
#define RINGS 0x1000
#define TXBUF 0x10000
#define RXBUF 0x40000

static uint8_t ram[RAM];
static struct guest_mem gm;
static uv_loop_t loop;
static struct vsock_muxer *mux;
static char path[64];
static int kicks;

static void kick(void *opaque)
{
    kicks++;
}

static void spin(void)
{
    for (int i = 0; i < 5; i++) {
        usleep(2000);
        uv_run(&loop, UV_RUN_NOWAIT);
    }
}

static int setup(void **state)
{
    memset(ram, 0, sizeof(ram));
    gm_init_host(&gm, ram, RAM);
    uv_loop_init(&loop);
    snprintf(path, sizeof(path), "/tmp/cocoon-unit-vsock-%d.sock", (int)getpid());
    char err[128];
    mux = vsock_muxer_new(&loop, path, CID, kick, NULL, err, sizeof(err));
    assert_non_null(mux);
    kicks = 0;
    return 0;
}

static int teardown(void **state)
{
    vsock_muxer_free(mux);
    uv_run(&loop, UV_RUN_NOWAIT);
    assert_int_equal(uv_loop_close(&loop), 0);
    char p[128];
    snprintf(p, sizeof(p), "%s_%u", path, 2000u);
    unlink(p);
    return 0;
}

/* Sends one guest packet (header + payload) through a one-shot TX ring. */
static void guest_send(uint16_t op, uint32_t src_port, uint32_t dst_port, uint32_t flags,
                       const void *payload, uint32_t len, uint64_t src_cid, uint16_t type)
{
    struct vring_sim s;
    struct virtq vq;
    struct virtq_chain *chain = malloc(sizeof(*chain));
    vring_sim_init(&s, ram, 4, RINGS);
    assert_int_equal(virtq_init(&vq, &gm, 4, 4, s.desc, s.avail, s.used), 0);
    struct vsock_hdr h = {.src_cid = src_cid,
                          .dst_cid = 2,
                          .src_port = src_port,
                          .dst_port = dst_port,
                          .len = len,
                          .type = type,
                          .op = op,
                          .flags = flags,
                          .buf_alloc = 65536,
                          .fwd_cnt = 0};
    vsock_hdr_encode(&h, ram + TXBUF);
    if (len)
        memcpy(ram + TXBUF + VSOCK_HDR_SIZE, payload, len);
    vring_sim_desc(&s, 0, TXBUF, VSOCK_HDR_SIZE + (len ? len : 0), 0, 0);
    vring_sim_publish(&s, 0);
    assert_int_equal(virtq_pop(&vq, chain), 1);
    struct vsock_hdr parsed;
    const char *why;
    assert_int_equal(vsock_pkt_parse_tx(&vq, chain, &parsed, &why), 0);
    vsock_muxer_send(mux, &parsed, &vq, chain);
    free(chain);
}

static void send_op(uint16_t op, uint32_t src_port, uint32_t dst_port, uint32_t flags)
{
    guest_send(op, src_port, dst_port, flags, NULL, 0, CID, VSOCK_TYPE_STREAM);
}

/* Receives one packet for the guest; returns 0 when the muxer had nothing. */
static int guest_recv(struct vsock_hdr *h, uint8_t *payload, uint32_t cap)
{
    struct vring_sim s;
    struct virtq vq;
    struct virtq_chain *chain = malloc(sizeof(*chain));
    vring_sim_init(&s, ram, 4, RINGS);
    assert_int_equal(virtq_init(&vq, &gm, 4, 4, s.desc, s.avail, s.used), 0);
    vring_sim_desc(&s, 0, RXBUF, VSOCK_HDR_SIZE + cap, VIRTQ_DESC_F_WRITE, 0);
    vring_sim_publish(&s, 0);
    assert_int_equal(virtq_pop(&vq, chain), 1);
    int64_t n = vsock_muxer_recv(mux, &vq, chain);
    free(chain);
    assert_true(n >= 0);
    if (n == 0)
        return 0;
    vsock_hdr_decode(ram + RXBUF, h);
    assert_int_equal(n, VSOCK_HDR_SIZE + h->len);
    assert_int_equal(h->src_cid, 2);
    assert_int_equal(h->dst_cid, CID);
    if (h->len)
        memcpy(payload, ram + RXBUF + VSOCK_HDR_SIZE, h->len);
    return 1;
}

static void client_connect(int fd)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    strcpy(sa.sun_path, path);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
}

static int client(void)
{
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    client_connect(fd);
    return fd;
}

static int listener(uint32_t port)
{
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s_%u", path, port);
    unlink(sa.sun_path);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(listen(fd, 4), 0);
    return fd;
}

static ssize_t recv_timeout(int fd, void *buf, size_t len)
{
    struct timeval tv = {.tv_sec = 2};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    return recv(fd, buf, len, 0);
}

/* Host dials port 1024; returns the client fd and the REQUEST's host port. */
static int host_connect(uint32_t *host_port)
{
    int fd = client();
    assert_int_equal(send(fd, "CONNECT 1024\n", 13, 0), 13);
    spin();
    assert_true(kicks > 0);
    struct vsock_hdr h;
    uint8_t p[16];
    assert_int_equal(guest_recv(&h, p, sizeof(p)), 1);
    assert_int_equal(h.op, VSOCK_OP_REQUEST);
    assert_int_equal(h.dst_port, 1024);
    assert_true(h.src_port >= (1u << 30) && h.src_port < (1u << 31));
    assert_int_equal(h.type, VSOCK_TYPE_STREAM);
    *host_port = h.src_port;
    return fd;
}

static void host_connect_response_ok_line_and_data(void **state)
{
    uint32_t hp;
    int fd = host_connect(&hp);
    send_op(VSOCK_OP_RESPONSE, 1024, hp, 0);
    char line[32] = {0};
    assert_true(recv_timeout(fd, line, sizeof(line) - 1) > 0);
    char want[32];
    snprintf(want, sizeof(want), "OK %u\n", hp);
    assert_string_equal(line, want);
    /* guest -> host bytes */
    guest_send(VSOCK_OP_RW, 1024, hp, 0, "ping", 4, CID, VSOCK_TYPE_STREAM);
    char buf[8] = {0};
    assert_int_equal(recv_timeout(fd, buf, sizeof(buf)), 4);
    assert_string_equal(buf, "ping");
    /* host -> guest bytes */
    assert_int_equal(send(fd, "pong!", 5, 0), 5);
    spin();
    struct vsock_hdr h;
    uint8_t p[16];
    assert_int_equal(guest_recv(&h, p, sizeof(p)), 1);
    assert_int_equal(h.op, VSOCK_OP_RW);
    assert_int_equal(h.len, 5);
    assert_memory_equal(p, "pong!", 5);
    assert_int_equal(h.fwd_cnt, 4); /* what the host socket took from the guest */
    /* host closes: the guest is told, answers RST, the connection goes */
    close(fd);
    spin();
    assert_int_equal(guest_recv(&h, p, sizeof(p)), 1);
    assert_int_equal(h.op, VSOCK_OP_SHUTDOWN);
    assert_int_equal(h.flags, VSOCK_SHUTDOWN_RCV | VSOCK_SHUTDOWN_SEND);
    assert_int_equal(vsock_muxer_conn_count(mux), 1);
    send_op(VSOCK_OP_RST, 1024, hp, 0);
    assert_int_equal(vsock_muxer_conn_count(mux), 0);
}

/* Kata's pattern: request, shutdown(SHUT_WR), read the whole answer. The guest hears only
 * "no more data" (SEND), its answer still reaches the host, and its own shutdown ends it. */
static void host_half_close_keeps_the_answer_flowing(void **state)
{
    uint32_t hp;
    int fd = host_connect(&hp);
    send_op(VSOCK_OP_RESPONSE, 1024, hp, 0);
    char line[32] = {0};
    assert_true(recv_timeout(fd, line, sizeof(line) - 1) > 0);
    assert_int_equal(send(fd, "request", 7, 0), 7);
    assert_int_equal(shutdown(fd, SHUT_WR), 0);
    spin();
    struct vsock_hdr h;
    uint8_t p[16];
    assert_int_equal(guest_recv(&h, p, sizeof(p)), 1);
    assert_int_equal(h.op, VSOCK_OP_RW);
    assert_memory_equal(p, "request", 7);
    assert_int_equal(guest_recv(&h, p, sizeof(p)), 1);
    assert_int_equal(h.op, VSOCK_OP_SHUTDOWN);
    assert_int_equal(h.flags, VSOCK_SHUTDOWN_SEND); /* not RCV: the guest may still answer */
    guest_send(VSOCK_OP_RW, 1024, hp, 0, "answer", 6, CID, VSOCK_TYPE_STREAM);
    spin();
    char buf[16] = {0};
    assert_int_equal(recv_timeout(fd, buf, sizeof(buf)), 6);
    assert_memory_equal(buf, "answer", 6);
    assert_int_equal(vsock_muxer_conn_count(mux), 1);
    send_op(VSOCK_OP_SHUTDOWN, 1024, hp, VSOCK_SHUTDOWN_RCV | VSOCK_SHUTDOWN_SEND);
    spin();
    assert_int_equal(recv_timeout(fd, buf, sizeof(buf)), 0); /* the host sees the end */
    assert_int_equal(guest_recv(&h, p, sizeof(p)), 1);
    assert_int_equal(h.op, VSOCK_OP_RST);
    assert_int_equal(vsock_muxer_conn_count(mux), 0);
    close(fd);
}

static void guest_rst_closes_host_socket(void **state)
{
    uint32_t hp;
    int fd = host_connect(&hp);
    send_op(VSOCK_OP_RST, 1024, hp, 0); /* nobody listens on 1024 */
    spin();
    char c;
    assert_int_equal(recv_timeout(fd, &c, 1), 0);
    assert_int_equal(vsock_muxer_conn_count(mux), 0);
    close(fd);
}

static void guest_connect_without_listener_gets_rst(void **state)
{
    send_op(VSOCK_OP_REQUEST, 7777, 2001, 0);
    struct vsock_hdr h;
    uint8_t p[16];
    assert_int_equal(guest_recv(&h, p, sizeof(p)), 1);
    assert_int_equal(h.op, VSOCK_OP_RST);
    assert_int_equal(h.src_port, 2001);
    assert_int_equal(h.dst_port, 7777);
    assert_int_equal(guest_recv(&h, p, sizeof(p)), 0);
}

static void guest_connect_data_and_full_shutdown(void **state)
{
    int l = listener(2000);
    send_op(VSOCK_OP_REQUEST, 7777, 2000, 0);
    struct vsock_hdr h;
    uint8_t p[16];
    assert_int_equal(guest_recv(&h, p, sizeof(p)), 1);
    assert_int_equal(h.op, VSOCK_OP_RESPONSE);
    assert_int_equal(h.src_port, 2000);
    assert_int_equal(h.dst_port, 7777);
    int a = accept(l, NULL, NULL);
    assert_true(a >= 0);
    guest_send(VSOCK_OP_RW, 7777, 2000, 0, "hello", 5, CID, VSOCK_TYPE_STREAM);
    send_op(VSOCK_OP_SHUTDOWN, 7777, 2000, VSOCK_SHUTDOWN_RCV | VSOCK_SHUTDOWN_SEND);
    char buf[16] = {0};
    assert_int_equal(recv_timeout(a, buf, sizeof(buf)), 5);
    assert_string_equal(buf, "hello");
    assert_int_equal(recv_timeout(a, buf, sizeof(buf)), 0); /* closed after the flush */
    assert_int_equal(guest_recv(&h, p, sizeof(p)), 1);
    assert_int_equal(h.op, VSOCK_OP_RST);
    assert_int_equal(vsock_muxer_conn_count(mux), 0);
    close(a);
    close(l);
}

static void credit_request_answered(void **state)
{
    int l = listener(2000);
    send_op(VSOCK_OP_REQUEST, 7777, 2000, 0);
    struct vsock_hdr h;
    uint8_t p[16];
    assert_int_equal(guest_recv(&h, p, sizeof(p)), 1);
    send_op(VSOCK_OP_CREDIT_REQUEST, 7777, 2000, 0);
    assert_int_equal(guest_recv(&h, p, sizeof(p)), 1);
    assert_int_equal(h.op, VSOCK_OP_CREDIT_UPDATE);
    assert_true(h.buf_alloc > 0);
    /* A second REQUEST on a live connection resets it. */
    send_op(VSOCK_OP_REQUEST, 7777, 2000, 0);
    assert_int_equal(guest_recv(&h, p, sizeof(p)), 1);
    assert_int_equal(h.op, VSOCK_OP_RST);
    assert_int_equal(vsock_muxer_conn_count(mux), 0);
    close(l);
}

static void stray_packets(void **state)
{
    struct vsock_hdr h;
    uint8_t p[16];
    /* RW for no connection: RST back. RST for no connection: nothing. */
    guest_send(VSOCK_OP_RW, 1, 2, 0, "x", 1, CID, VSOCK_TYPE_STREAM);
    assert_int_equal(guest_recv(&h, p, sizeof(p)), 1);
    assert_int_equal(h.op, VSOCK_OP_RST);
    send_op(VSOCK_OP_RST, 1, 2, 0);
    assert_int_equal(guest_recv(&h, p, sizeof(p)), 0);
    /* A packet claiming another source CID is dropped without an answer. */
    guest_send(VSOCK_OP_REQUEST, 1, 2, 0, NULL, 0, CID + 1, VSOCK_TYPE_STREAM);
    assert_int_equal(guest_recv(&h, p, sizeof(p)), 0);
    /* SEQPACKET (not offered) is refused with RST. */
    guest_send(VSOCK_OP_REQUEST, 1, 2, 0, NULL, 0, CID, 2);
    assert_int_equal(guest_recv(&h, p, sizeof(p)), 1);
    assert_int_equal(h.op, VSOCK_OP_RST);
}

static void reset_drops_everything(void **state)
{
    uint32_t hp;
    int fd = host_connect(&hp);
    send_op(VSOCK_OP_RESPONSE, 1024, hp, 0);
    assert_int_equal(vsock_muxer_conn_count(mux), 1);
    vsock_muxer_reset(mux);
    assert_int_equal(vsock_muxer_conn_count(mux), 0);
    spin();
    char buf[32];
    ssize_t n = recv_timeout(fd, buf, sizeof(buf)); /* the OK line, then EOF */
    if (n > 0)
        n = recv_timeout(fd, buf, sizeof(buf));
    assert_int_equal(n, 0);
    struct vsock_hdr h;
    uint8_t p[16];
    assert_int_equal(guest_recv(&h, p, sizeof(p)), 0);
    close(fd);
}

/* A reset connection's host fd is closed at once while its RST waits for an RX buffer; a new
 * client that gets the same fd number must keep working after the old connection goes. */
static void fd_reuse_after_reset(void **state)
{
    uint32_t hp_a;
    int a = host_connect(&hp_a);
    send_op(VSOCK_OP_RESPONSE, 1024, hp_a, 0);
    int b = socket(AF_UNIX, SOCK_STREAM, 0);  /* take our fd number before the muxer frees one */
    send_op(VSOCK_OP_REQUEST, 1024, hp_a, 0); /* duplicate REQUEST: A is reset, fd closed */
    client_connect(b);                        /* accepted into A's old fd number */
    assert_int_equal(send(b, "CONNECT 1024\n", 13, 0), 13);
    spin();
    struct vsock_hdr h;
    uint8_t p[16];
    /* Round robin serves B's REQUEST first; A (closed, RST pending) stays in the table. */
    assert_int_equal(guest_recv(&h, p, sizeof(p)), 1);
    assert_int_equal(h.op, VSOCK_OP_REQUEST);
    uint32_t hp_b = h.src_port;
    send_op(VSOCK_OP_RESPONSE, 1024, hp_b, 0);
    char line[32] = {0};
    assert_true(recv_timeout(b, line, sizeof(line) - 1) > 0);
    spin(); /* B is now steadily polled for input */
    assert_int_equal(guest_recv(&h, p, sizeof(p)), 1);
    assert_int_equal(h.op, VSOCK_OP_RST); /* A goes away now */
    assert_int_equal(h.src_port, hp_a);
    assert_int_equal(vsock_muxer_conn_count(mux), 1);
    assert_int_equal(send(b, "still here", 10, 0), 10);
    spin();
    assert_int_equal(guest_recv(&h, p, sizeof(p)), 1);
    assert_int_equal(h.op, VSOCK_OP_RW);
    assert_memory_equal(p, "still here", 10);
    close(a);
    close(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(host_connect_response_ok_line_and_data, setup, teardown),
        cmocka_unit_test_setup_teardown(host_half_close_keeps_the_answer_flowing, setup, teardown),
        cmocka_unit_test_setup_teardown(guest_rst_closes_host_socket, setup, teardown),
        cmocka_unit_test_setup_teardown(guest_connect_without_listener_gets_rst, setup, teardown),
        cmocka_unit_test_setup_teardown(guest_connect_data_and_full_shutdown, setup, teardown),
        cmocka_unit_test_setup_teardown(credit_request_answered, setup, teardown),
        cmocka_unit_test_setup_teardown(stray_packets, setup, teardown),
        cmocka_unit_test_setup_teardown(reset_drops_everything, setup, teardown),
        cmocka_unit_test_setup_teardown(fd_reuse_after_reset, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
