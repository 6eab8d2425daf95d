/* vsock_packet.c: virtio-vsock header decoding and validation against the carrying chain. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "devices/vsock_packet.h"
#include "support/vring_sim.h"

#define RAM   (256 * 1024)
#define RINGS 0x1000
#define BUF   0x8000

static uint8_t ram[RAM];
static struct guest_mem gm;
static struct vring_sim sim;
static struct virtq vq;
static struct virtq_chain chain;

static int setup(void **state)
{
    memset(ram, 0, sizeof(ram));
    gm_init_host(&gm, ram, RAM);
    vring_sim_init(&sim, ram, 8, RINGS);
    assert_int_equal(virtq_init(&vq, &gm, 8, 8, sim.desc, sim.avail, sim.used), 0);
    return 0;
}

static void put_hdr(uint64_t gpa, uint32_t len, uint16_t op)
{
    struct vsock_hdr h = {.src_cid = 3,
                          .dst_cid = 2,
                          .src_port = 1111,
                          .dst_port = 1025,
                          .len = len,
                          .type = VSOCK_TYPE_STREAM,
                          .op = op,
                          .flags = 0,
                          .buf_alloc = 65536,
                          .fwd_cnt = 77};
    uint8_t raw[VSOCK_HDR_SIZE];
    vsock_hdr_encode(&h, raw);
    memcpy(ram + gpa, raw, sizeof(raw));
}

static void pop_one(void)
{
    assert_int_equal(virtq_pop(&vq, &chain), 1);
}

static void wire_layout_is_packed_le(void **state)
{
    struct vsock_hdr h = {.src_cid = 0x0102030405060708ULL,
                          .dst_cid = 2,
                          .src_port = 0xAABBCCDD,
                          .dst_port = 1024,
                          .len = 5,
                          .type = 1,
                          .op = 5,
                          .flags = 3,
                          .buf_alloc = 0x10000,
                          .fwd_cnt = 9};
    uint8_t raw[VSOCK_HDR_SIZE];
    vsock_hdr_encode(&h, raw);
    assert_int_equal(raw[0], 0x08);
    assert_int_equal(raw[7], 0x01);
    assert_int_equal(raw[8], 2);
    assert_int_equal(raw[16], 0xDD);
    assert_int_equal(raw[20], 0x00);
    assert_int_equal(raw[21], 0x04);
    assert_int_equal(raw[24], 5);
    assert_int_equal(raw[28], 1);
    assert_int_equal(raw[30], 5);
    assert_int_equal(raw[32], 3);
    assert_int_equal(raw[38], 1);
    assert_int_equal(raw[40], 9);
    struct vsock_hdr back;
    vsock_hdr_decode(raw, &back);
    /* Field by field: the struct has padding after `op`, which neither side initialises. */
    assert_int_equal(back.src_cid, h.src_cid);
    assert_int_equal(back.dst_cid, h.dst_cid);
    assert_int_equal(back.src_port, h.src_port);
    assert_int_equal(back.dst_port, h.dst_port);
    assert_int_equal(back.len, h.len);
    assert_int_equal(back.type, h.type);
    assert_int_equal(back.op, h.op);
    assert_int_equal(back.flags, h.flags);
    assert_int_equal(back.buf_alloc, h.buf_alloc);
    assert_int_equal(back.fwd_cnt, h.fwd_cnt);
}

static void rw_packet_split_across_descriptors(void **state)
{
    put_hdr(BUF, 10, VSOCK_OP_RW);
    /* Header split 20 + 24 bytes, payload shares the second descriptor and a third one. */
    memcpy(ram + 0x9000, ram + BUF + 20, 24);
    memcpy(ram + 0x9000 + 24, "01234", 5);
    memcpy(ram + 0xA000, "56789", 5);
    vring_sim_desc(&sim, 0, BUF, 20, 1, 1);
    vring_sim_desc(&sim, 1, 0x9000, 29, 1, 2);
    vring_sim_desc(&sim, 2, 0xA000, 5, 0, 0);
    vring_sim_publish(&sim, 0);
    pop_one();
    struct vsock_hdr h;
    const char *why = NULL;
    assert_int_equal(vsock_pkt_parse_tx(&vq, &chain, &h, &why), 0);
    assert_int_equal(h.len, 10);
    assert_int_equal(h.src_port, 1111);
    assert_int_equal(h.fwd_cnt, 77);
    char payload[10];
    assert_int_equal(virtq_chain_read(&vq, &chain, VSOCK_HDR_SIZE, payload, 10), 10);
    assert_memory_equal(payload, "0123456789", 10);
}

static void expect_refused(void)
{
    pop_one();
    struct vsock_hdr h;
    const char *why = NULL;
    assert_int_equal(vsock_pkt_parse_tx(&vq, &chain, &h, &why), -1);
    assert_non_null(why);
}

static void payload_iov_views_guest_buffers(void **state)
{
    /* Same layout as above: readable part 20 + 29 + 5 bytes; payload = bytes 44..53. */
    vring_sim_desc(&sim, 0, BUF, 20, 1, 1);
    vring_sim_desc(&sim, 1, 0x9000, 29, 1, 2);
    vring_sim_desc(&sim, 2, 0xA000, 5, 1, 3);
    vring_sim_desc(&sim, 3, 0xB000, 100, 2 /* write */, 0);
    vring_sim_publish(&sim, 0);
    pop_one();
    struct iovec iov[4];
    assert_int_equal(virtq_chain_iov(&vq, &chain, false, VSOCK_HDR_SIZE, 10, iov, 4), 2);
    assert_ptr_equal(iov[0].iov_base, ram + 0x9000 + 24);
    assert_int_equal(iov[0].iov_len, 5);
    assert_ptr_equal(iov[1].iov_base, ram + 0xA000);
    assert_int_equal(iov[1].iov_len, 5);
    assert_int_equal(virtq_chain_iov(&vq, &chain, false, VSOCK_HDR_SIZE, 11, iov, 4), -1);
    assert_int_equal(virtq_chain_iov(&vq, &chain, false, VSOCK_HDR_SIZE, 10, iov, 1), -1);
    assert_int_equal(virtq_chain_iov(&vq, &chain, false, 0, 0, iov, 4), 0);
    /* the writable part only: 100 bytes at 0xB000 */
    assert_int_equal(virtq_chain_iov(&vq, &chain, true, VSOCK_HDR_SIZE, 56, iov, 4), 1);
    assert_ptr_equal(iov[0].iov_base, ram + 0xB000 + VSOCK_HDR_SIZE);
    assert_int_equal(virtq_chain_iov(&vq, &chain, true, VSOCK_HDR_SIZE, 57, iov, 4), -1);
    struct vsock_hdr h = {.op = VSOCK_OP_RW};
    assert_int_equal(vsock_pkt_write_rx_hdr(&vq, &chain, &h, 56), VSOCK_HDR_SIZE + 56);
    assert_int_equal(vsock_pkt_write_rx_hdr(&vq, &chain, &h, 57), -1);
    struct vsock_hdr back;
    vsock_hdr_decode(ram + 0xB000, &back);
    assert_int_equal(back.len, 56);
}

static void chain_shorter_than_header_refused(void **state)
{
    put_hdr(BUF, 0, VSOCK_OP_REQUEST);
    vring_sim_desc(&sim, 0, BUF, VSOCK_HDR_SIZE - 1, 0, 0);
    vring_sim_publish(&sim, 0);
    expect_refused();
}

static void header_only_in_writable_refused(void **state)
{
    put_hdr(BUF, 0, VSOCK_OP_REQUEST);
    vring_sim_desc(&sim, 0, BUF, VSOCK_HDR_SIZE, 2 /* WRITE */, 0);
    vring_sim_publish(&sim, 0);
    expect_refused();
}

static void len_above_64k_refused(void **state)
{
    put_hdr(BUF, VSOCK_MAX_PAYLOAD + 1, VSOCK_OP_RW);
    vring_sim_desc(&sim, 0, BUF, 0x30000, 0, 0);
    vring_sim_publish(&sim, 0);
    expect_refused();
}

static void len_beyond_chain_refused(void **state)
{
    put_hdr(BUF, 100, VSOCK_OP_RW);
    vring_sim_desc(&sim, 0, BUF, VSOCK_HDR_SIZE + 99, 0, 0);
    vring_sim_publish(&sim, 0);
    expect_refused();
}

static void huge_len_refused(void **state)
{
    put_hdr(BUF, UINT32_MAX, VSOCK_OP_RW);
    vring_sim_desc(&sim, 0, BUF, VSOCK_HDR_SIZE, 0, 0);
    vring_sim_publish(&sim, 0);
    expect_refused();
}

static void unknown_op_refused(void **state)
{
    put_hdr(BUF, 0, 99);
    vring_sim_desc(&sim, 0, BUF, VSOCK_HDR_SIZE, 0, 0);
    vring_sim_publish(&sim, 0);
    expect_refused();
}

static void payload_on_control_refused(void **state)
{
    put_hdr(BUF, 4, VSOCK_OP_REQUEST);
    vring_sim_desc(&sim, 0, BUF, VSOCK_HDR_SIZE + 4, 0, 0);
    vring_sim_publish(&sim, 0);
    expect_refused();
}

static void rx_write_checks_room(void **state)
{
    vring_sim_desc(&sim, 0, BUF, VSOCK_HDR_SIZE + 3, 2, 0);
    vring_sim_publish(&sim, 0);
    pop_one();
    assert_int_equal(vsock_pkt_rx_room(&chain), 3);
    struct vsock_hdr h = {.src_cid = 2, .dst_cid = 3, .op = VSOCK_OP_RW, .type = 1};
    assert_int_equal(vsock_pkt_write_rx(&vq, &chain, &h, "abcd", 4), -1);
    assert_int_equal(vsock_pkt_write_rx(&vq, &chain, &h, "abc", 3), VSOCK_HDR_SIZE + 3);
    struct vsock_hdr back;
    vsock_hdr_decode(ram + BUF, &back);
    assert_int_equal(back.len, 3);
    assert_memory_equal(ram + BUF + VSOCK_HDR_SIZE, "abc", 3);
}

static void rx_chain_without_room_for_header(void **state)
{
    vring_sim_desc(&sim, 0, BUF, 16, 2, 0);
    vring_sim_publish(&sim, 0);
    pop_one();
    assert_int_equal(vsock_pkt_rx_room(&chain), 0);
    struct vsock_hdr h = {.op = VSOCK_OP_RST};
    assert_int_equal(vsock_pkt_write_rx(&vq, &chain, &h, NULL, 0), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(wire_layout_is_packed_le, setup),
        cmocka_unit_test_setup(rw_packet_split_across_descriptors, setup),
        cmocka_unit_test_setup(payload_iov_views_guest_buffers, setup),
        cmocka_unit_test_setup(chain_shorter_than_header_refused, setup),
        cmocka_unit_test_setup(header_only_in_writable_refused, setup),
        cmocka_unit_test_setup(len_above_64k_refused, setup),
        cmocka_unit_test_setup(len_beyond_chain_refused, setup),
        cmocka_unit_test_setup(huge_len_refused, setup),
        cmocka_unit_test_setup(unknown_op_refused, setup),
        cmocka_unit_test_setup(payload_on_control_refused, setup),
        cmocka_unit_test_setup(rx_write_checks_room, setup),
        cmocka_unit_test_setup(rx_chain_without_room_for_header, setup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
