/* blk_request_parse.c: virtio-blk chain parsing: framing, types, read-only, ranges, GET_ID. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "devices/blk_req.h"

#define RAM    (256 * 1024)
#define HDR    0x1000
#define DATA   0x2000
#define STATUS 0x8000

static uint8_t ram[RAM];
static struct guest_mem gm;
static struct blk_request req;
static const struct blk_disk_info disk = {.capacity_sectors = 64};
static const struct blk_disk_info disk_ro = {.capacity_sectors = 64, .readonly = true};
static const struct blk_disk_info disk_dz = {
    .capacity_sectors = 64, .discard = true, .write_zeroes = true};

static int setup(void **state)
{
    memset(ram, 0xEE, sizeof(ram));
    gm_init_host(&gm, ram, RAM);
    return 0;
}

static void put_hdr(uint64_t gpa, uint32_t type, uint64_t sector)
{
    memcpy(ram + gpa, &type, 4);
    memset(ram + gpa + 4, 0, 4);
    memcpy(ram + gpa + 8, &sector, 8);
}

static enum blk_parse_result parse3(uint32_t type, uint64_t sector, uint32_t data_len,
                                    bool data_writable, const struct blk_disk_info *d)
{
    put_hdr(HDR, type, sector);
    struct blk_seg segs[3] = {{HDR, 16, false}, {DATA, data_len, data_writable}, {STATUS, 1, true}};
    return blk_req_parse(&gm, segs, 3, d, "disk0", &req);
}

static void read_request_maps_data(void **state)
{
    assert_int_equal(parse3(VIRTIO_BLK_T_IN, 2, 1024, true, &disk), BLK_PARSE_SUBMIT);
    assert_int_equal(req.type, VIRTIO_BLK_T_IN);
    assert_int_equal(req.offset, 1024);
    assert_int_equal(req.data_len, 1024);
    assert_int_equal(req.niov, 1);
    assert_ptr_equal(req.iov[0].iov_base, ram + DATA);
    assert_int_equal(req.status_gpa, STATUS);
    req.status = VIRTIO_BLK_S_OK;
    assert_int_equal(blk_req_finish(&gm, &req), 1025);
    assert_int_equal(ram[STATUS], VIRTIO_BLK_S_OK);
}

static void header_copied_once(void **state)
{
    assert_int_equal(parse3(VIRTIO_BLK_T_OUT, 3, 512, false, &disk), BLK_PARSE_SUBMIT);
    put_hdr(HDR, VIRTIO_BLK_T_IN, 60); /* the guest rewrites the header after validation */
    assert_int_equal(req.type, VIRTIO_BLK_T_OUT);
    assert_int_equal(req.offset, 3 * 512);
}

static void header_split_and_shared_with_data(void **state)
{
    /* OUT: header split 10 + (6 + 512 data) across two descriptors */
    put_hdr(HDR, VIRTIO_BLK_T_OUT, 5);
    memcpy(ram + DATA, ram + HDR + 10, 6);
    struct blk_seg segs[3] = {{HDR, 10, false}, {DATA, 6 + 512, false}, {STATUS, 1, true}};
    assert_int_equal(blk_req_parse(&gm, segs, 3, &disk, NULL, &req), BLK_PARSE_SUBMIT);
    assert_int_equal(req.type, VIRTIO_BLK_T_OUT);
    assert_int_equal(req.sector, 5);
    assert_int_equal(req.data_len, 512);
    assert_ptr_equal(req.iov[0].iov_base, ram + DATA + 6);
    /* IN: data and status in one writable descriptor */
    put_hdr(HDR, VIRTIO_BLK_T_IN, 0);
    struct blk_seg s2[2] = {{HDR, 16, false}, {DATA, 513, true}};
    assert_int_equal(blk_req_parse(&gm, s2, 2, &disk, NULL, &req), BLK_PARSE_SUBMIT);
    assert_int_equal(req.data_len, 512);
    assert_int_equal(req.status_gpa, DATA + 512);
}

static void write_to_readonly_is_ioerr(void **state)
{
    assert_int_equal(parse3(VIRTIO_BLK_T_OUT, 0, 512, false, &disk_ro), BLK_PARSE_COMPLETE);
    assert_int_equal(req.status, VIRTIO_BLK_S_IOERR);
    assert_int_equal(blk_req_finish(&gm, &req), 1);
    assert_int_equal(ram[STATUS], VIRTIO_BLK_S_IOERR);
    /* reads and flushes still work */
    assert_int_equal(parse3(VIRTIO_BLK_T_IN, 0, 512, true, &disk_ro), BLK_PARSE_SUBMIT);
}

static void out_of_range_and_partial_is_ioerr(void **state)
{
    assert_int_equal(parse3(VIRTIO_BLK_T_IN, 64, 512, true, &disk), BLK_PARSE_COMPLETE);
    assert_int_equal(req.status, VIRTIO_BLK_S_IOERR);
    assert_int_equal(parse3(VIRTIO_BLK_T_IN, 63, 1024, true, &disk), BLK_PARSE_COMPLETE);
    assert_int_equal(parse3(VIRTIO_BLK_T_OUT, UINT64_MAX, 512, false, &disk), BLK_PARSE_COMPLETE);
    assert_int_equal(parse3(VIRTIO_BLK_T_OUT, UINT64_MAX >> 9, 512, false, &disk),
                     BLK_PARSE_COMPLETE);
    assert_int_equal(parse3(VIRTIO_BLK_T_IN, 0, 100, true, &disk), BLK_PARSE_COMPLETE);
    assert_int_equal(req.status, VIRTIO_BLK_S_IOERR);
    assert_int_equal(parse3(VIRTIO_BLK_T_IN, 63, 512, true, &disk), BLK_PARSE_SUBMIT);
}

static void no_status_descriptor(void **state)
{
    put_hdr(HDR, VIRTIO_BLK_T_IN, 0);
    struct blk_seg head_only[1] = {{HDR, 16, false}};
    assert_int_equal(blk_req_parse(&gm, head_only, 1, &disk, NULL, &req), BLK_PARSE_NO_STATUS);
    assert_int_equal(blk_req_parse(&gm, head_only, 0, &disk, NULL, &req), BLK_PARSE_NO_STATUS);
    struct blk_seg outside[2] = {{HDR, 16, false}, {RAM, 1, true}};
    assert_int_equal(blk_req_parse(&gm, outside, 2, &disk, NULL, &req), BLK_PARSE_NO_STATUS);
    struct blk_seg wrap[2] = {{HDR, 16, false}, {UINT64_MAX, 2, true}};
    assert_int_equal(blk_req_parse(&gm, wrap, 2, &disk, NULL, &req), BLK_PARSE_NO_STATUS);
}

static void malformed_chains_are_ioerr(void **state)
{
    put_hdr(HDR, VIRTIO_BLK_T_IN, 0);
    /* readable after writable */
    struct blk_seg bad_order[4] = {
        {HDR, 16, false}, {DATA, 512, true}, {DATA + 512, 8, false}, {STATUS, 1, true}};
    assert_int_equal(blk_req_parse(&gm, bad_order, 4, &disk, NULL, &req), BLK_PARSE_COMPLETE);
    assert_int_equal(req.status, VIRTIO_BLK_S_IOERR);
    /* short header */
    struct blk_seg short_hdr[2] = {{HDR, 8, false}, {STATUS, 1, true}};
    assert_int_equal(blk_req_parse(&gm, short_hdr, 2, &disk, NULL, &req), BLK_PARSE_COMPLETE);
    assert_int_equal(req.status, VIRTIO_BLK_S_IOERR);
    /* IN with extra readable bytes */
    struct blk_seg extra[3] = {{HDR, 16 + 512, false}, {DATA, 512, true}, {STATUS, 1, true}};
    assert_int_equal(blk_req_parse(&gm, extra, 3, &disk, NULL, &req), BLK_PARSE_COMPLETE);
    assert_int_equal(req.status, VIRTIO_BLK_S_IOERR);
    /* data outside RAM */
    struct blk_seg out[3] = {{HDR, 16, false}, {RAM - 256, 512, true}, {STATUS, 1, true}};
    assert_int_equal(blk_req_parse(&gm, out, 3, &disk, NULL, &req), BLK_PARSE_COMPLETE);
    assert_int_equal(req.status, VIRTIO_BLK_S_IOERR);
    assert_int_equal(req.niov, 0);
    /* more data segments than seg_max allows */
    static struct blk_seg many[BLK_MAX_CHAIN_SEGS + 2];
    many[0] = (struct blk_seg){HDR, 16, false};
    for (unsigned i = 1; i <= BLK_MAX_CHAIN_SEGS; i++)
        many[i] = (struct blk_seg){DATA + 512 * (i % 8), 512, true};
    many[BLK_MAX_CHAIN_SEGS + 1] = (struct blk_seg){STATUS, 1, true};
    assert_int_equal(blk_req_parse(&gm, many, BLK_MAX_CHAIN_SEGS + 2, &disk, NULL, &req),
                     BLK_PARSE_COMPLETE);
    assert_int_equal(req.status, VIRTIO_BLK_S_IOERR);
}

static void unknown_type_is_unsupp(void **state)
{
    assert_int_equal(parse3(77, 0, 512, true, &disk), BLK_PARSE_COMPLETE);
    assert_int_equal(req.status, VIRTIO_BLK_S_UNSUPP);
    assert_int_equal(parse3(VIRTIO_BLK_T_DISCARD, 0, 16, false, &disk), BLK_PARSE_COMPLETE);
    assert_int_equal(req.status, VIRTIO_BLK_S_UNSUPP);
}

static void flush_submits(void **state)
{
    put_hdr(HDR, VIRTIO_BLK_T_FLUSH, 0);
    struct blk_seg segs[2] = {{HDR, 16, false}, {STATUS, 1, true}};
    assert_int_equal(blk_req_parse(&gm, segs, 2, &disk_ro, NULL, &req), BLK_PARSE_SUBMIT);
    assert_int_equal(req.type, VIRTIO_BLK_T_FLUSH);
}

static void get_id_returns_serial(void **state)
{
    assert_int_equal(parse3(VIRTIO_BLK_T_GET_ID, 0, 20, true, &disk), BLK_PARSE_COMPLETE);
    assert_int_equal(req.status, VIRTIO_BLK_S_OK);
    assert_int_equal(blk_req_finish(&gm, &req), 21);
    uint8_t want[20] = "disk0";
    assert_memory_equal(ram + DATA, want, 20);
    /* a long id is cut at 20 bytes, without a terminator */
    put_hdr(HDR, VIRTIO_BLK_T_GET_ID, 0);
    struct blk_seg segs[3] = {{HDR, 16, false}, {DATA, 64, true}, {STATUS, 1, true}};
    memset(ram + DATA, 0xEE, 64);
    assert_int_equal(blk_req_parse(&gm, segs, 3, &disk, "abcdefghijklmnopqrstuvwxyz", &req),
                     BLK_PARSE_COMPLETE);
    assert_memory_equal(ram + DATA, "abcdefghijklmnopqrst", 20);
    assert_int_equal(ram[DATA + 20], 0xEE);
}

static void put_range(uint64_t gpa, uint64_t sector, uint32_t num, uint32_t flags)
{
    memcpy(ram + gpa, &sector, 8);
    memcpy(ram + gpa + 8, &num, 4);
    memcpy(ram + gpa + 12, &flags, 4);
}

static void discard_and_write_zeroes(void **state)
{
    put_range(DATA, 4, 8, 0);
    put_range(DATA + 16, 60, 4, 0);
    assert_int_equal(parse3(VIRTIO_BLK_T_DISCARD, 0, 32, false, &disk_dz), BLK_PARSE_SUBMIT);
    assert_int_equal(req.nrange, 2);
    assert_int_equal(req.range[0].offset, 4 * 512);
    assert_int_equal(req.range[0].len, 8 * 512);
    assert_int_equal(req.range[1].offset, 60 * 512);
    /* past the end */
    put_range(DATA + 16, 60, 5, 0);
    assert_int_equal(parse3(VIRTIO_BLK_T_DISCARD, 0, 32, false, &disk_dz), BLK_PARSE_COMPLETE);
    assert_int_equal(req.status, VIRTIO_BLK_S_IOERR);
    /* sector at the 2^64 edge */
    put_range(DATA, UINT64_MAX, 1, 0);
    assert_int_equal(parse3(VIRTIO_BLK_T_WRITE_ZEROES, 0, 16, false, &disk_dz), BLK_PARSE_COMPLETE);
    assert_int_equal(req.status, VIRTIO_BLK_S_IOERR);
    /* unmap is only for write-zeroes; unknown flags unsupported */
    put_range(DATA, 0, 1, VIRTIO_BLK_WZ_FLAG_UNMAP);
    assert_int_equal(parse3(VIRTIO_BLK_T_DISCARD, 0, 16, false, &disk_dz), BLK_PARSE_COMPLETE);
    assert_int_equal(req.status, VIRTIO_BLK_S_UNSUPP);
    assert_int_equal(parse3(VIRTIO_BLK_T_WRITE_ZEROES, 0, 16, false, &disk_dz), BLK_PARSE_SUBMIT);
    assert_true(req.range[0].unmap);
    put_range(DATA, 0, 1, 0x80);
    assert_int_equal(parse3(VIRTIO_BLK_T_WRITE_ZEROES, 0, 16, false, &disk_dz), BLK_PARSE_COMPLETE);
    assert_int_equal(req.status, VIRTIO_BLK_S_UNSUPP);
    /* not a multiple of 16, too many ranges, read-only disk */
    assert_int_equal(parse3(VIRTIO_BLK_T_DISCARD, 0, 24, false, &disk_dz), BLK_PARSE_COMPLETE);
    assert_int_equal(req.status, VIRTIO_BLK_S_IOERR);
    assert_int_equal(parse3(VIRTIO_BLK_T_DISCARD, 0, 16 * (BLK_MAX_RANGES + 1), false, &disk_dz),
                     BLK_PARSE_COMPLETE);
    assert_int_equal(req.status, VIRTIO_BLK_S_IOERR);
    struct blk_disk_info ro = disk_dz;
    ro.readonly = true;
    put_range(DATA, 0, 1, 0);
    assert_int_equal(parse3(VIRTIO_BLK_T_WRITE_ZEROES, 0, 16, false, &ro), BLK_PARSE_COMPLETE);
    assert_int_equal(req.status, VIRTIO_BLK_S_IOERR);
}

static void private_pages_refused(void **state)
{
    /* TEE guest: only pages the guest shared may be touched by the device. */
    assert_int_equal(gm_enable_private(&gm), 0);
    assert_int_equal(gm_set_private(&gm, 0, RAM, false), 0);
    assert_int_equal(gm_set_private(&gm, DATA, 4096, true), 0);
    assert_int_equal(parse3(VIRTIO_BLK_T_IN, 0, 512, true, &disk), BLK_PARSE_COMPLETE);
    assert_int_equal(req.status, VIRTIO_BLK_S_IOERR);
    assert_int_equal(req.niov, 0);
    assert_int_equal(gm_set_private(&gm, DATA, 4096, false), 0);
    assert_int_equal(gm_set_private(&gm, STATUS, 1, true), 0);
    assert_int_equal(parse3(VIRTIO_BLK_T_IN, 0, 512, true, &disk), BLK_PARSE_NO_STATUS);
    assert_int_equal(gm_set_private(&gm, STATUS, 1, false), 0);
    assert_int_equal(gm_set_private(&gm, HDR, 16, true), 0);
    assert_int_equal(parse3(VIRTIO_BLK_T_IN, 0, 512, true, &disk), BLK_PARSE_COMPLETE);
    assert_int_equal(req.status, VIRTIO_BLK_S_IOERR);
    gm_destroy(&gm);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(read_request_maps_data, setup),
        cmocka_unit_test_setup(header_copied_once, setup),
        cmocka_unit_test_setup(header_split_and_shared_with_data, setup),
        cmocka_unit_test_setup(write_to_readonly_is_ioerr, setup),
        cmocka_unit_test_setup(out_of_range_and_partial_is_ioerr, setup),
        cmocka_unit_test_setup(no_status_descriptor, setup),
        cmocka_unit_test_setup(malformed_chains_are_ioerr, setup),
        cmocka_unit_test_setup(unknown_type_is_unsupp, setup),
        cmocka_unit_test_setup(flush_submits, setup),
        cmocka_unit_test_setup(get_id_returns_serial, setup),
        cmocka_unit_test_setup(discard_and_write_zeroes, setup),
        cmocka_unit_test_setup(private_pages_refused, setup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
