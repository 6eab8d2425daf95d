/* virtq_chain.c: the split-virtqueue walker against every hostile-descriptor class that applies. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <cmocka.h>

#include "devices/virtq.h"
#include "support/vring_sim.h"

#define RAM   (256 * 1024)
#define QSZ   8
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
    vring_sim_init(&sim, ram, QSZ, RINGS);
    assert_int_equal(virtq_init(&vq, &gm, QSZ, 256, sim.desc, sim.avail, sim.used), 0);
    return 0;
}

static void good_chain_read_write_push(void **state)
{
    memcpy(ram + BUF, "hello ", 6);
    memcpy(ram + BUF + 0x100, "world", 5);
    vring_sim_desc(&sim, 3, BUF, 6, VIRTQ_DESC_F_NEXT, 5);
    vring_sim_desc(&sim, 5, BUF + 0x100, 5, VIRTQ_DESC_F_NEXT, 1);
    vring_sim_desc(&sim, 1, BUF + 0x200, 64, VIRTQ_DESC_F_WRITE, 0);
    vring_sim_publish(&sim, 3);
    assert_true(virtq_has_avail(&vq));
    assert_int_equal(virtq_pop(&vq, &chain), 1);
    assert_int_equal(chain.head, 3);
    assert_int_equal(chain.nr_read, 2);
    assert_int_equal(chain.nr_write, 1);
    assert_int_equal(chain.read_len, 11);
    assert_int_equal(chain.write_len, 64);
    char buf[16] = {0};
    assert_int_equal(virtq_chain_read(&vq, &chain, 0, buf, sizeof(buf)), 11);
    assert_string_equal(buf, "hello world");
    assert_int_equal(virtq_chain_read(&vq, &chain, 4, buf, 4), 4);
    assert_memory_equal(buf, "o wo", 4);
    assert_int_equal(virtq_chain_write(&vq, &chain, 2, "ok", 2), 2);
    assert_memory_equal(ram + BUF + 0x202, "ok", 2);
    assert_int_equal(virtq_chain_write(&vq, &chain, 60, "12345678", 8), 4);
    assert_int_equal(virtq_push(&vq, chain.head, 4), 0);
    uint32_t id, len;
    assert_true(vring_sim_take_used(&sim, &id, &len));
    assert_int_equal(id, 3);
    assert_int_equal(len, 4);
    assert_int_equal(virtq_pop(&vq, &chain), 0);
    assert_false(virtq_has_avail(&vq));
}

static void empty_queue_pops_nothing(void **state)
{
    assert_int_equal(virtq_pop(&vq, &chain), 0);
    assert_false(vq.broken);
}

static void expect_broken(void)
{
    assert_int_equal(virtq_pop(&vq, &chain), -1);
    assert_true(vq.broken);
    assert_non_null(vq.error);
    /* Once broken, the walker stays refused and pushes nothing. */
    assert_int_equal(virtq_pop(&vq, &chain), -1);
    assert_int_equal(virtq_push(&vq, 0, 0), -1);
}

static void loop_chain_rejected(void **state)
{
    vring_sim_desc(&sim, 0, BUF, 16, VIRTQ_DESC_F_NEXT, 1);
    vring_sim_desc(&sim, 1, BUF, 16, VIRTQ_DESC_F_NEXT, 0);
    vring_sim_publish(&sim, 0);
    expect_broken();
}

static void self_loop_rejected(void **state)
{
    vring_sim_desc(&sim, 2, BUF, 16, VIRTQ_DESC_F_NEXT, 2);
    vring_sim_publish(&sim, 2);
    expect_broken();
}

static void chain_of_exactly_queue_size_accepted(void **state)
{
    for (uint16_t i = 0; i < QSZ; i++)
        vring_sim_desc(&sim, i, BUF + 16 * i, 16, i + 1 < QSZ ? VIRTQ_DESC_F_NEXT : 0, i + 1);
    vring_sim_publish(&sim, 0);
    assert_int_equal(virtq_pop(&vq, &chain), 1);
    assert_int_equal(chain.nr_read, QSZ);
}

static void chain_longer_than_queue_rejected(void **state)
{
    /* Every descriptor chains on: the walk must stop after QSZ hops. */
    for (uint16_t i = 0; i < QSZ; i++)
        vring_sim_desc(&sim, i, BUF, 16, VIRTQ_DESC_F_NEXT, (uint16_t)((i + 1) % QSZ));
    vring_sim_publish(&sim, 0);
    expect_broken();
}

static void next_beyond_queue_rejected(void **state)
{
    vring_sim_desc(&sim, 0, BUF, 16, VIRTQ_DESC_F_NEXT, QSZ);
    vring_sim_publish(&sim, 0);
    expect_broken();
}

static void head_beyond_queue_rejected(void **state)
{
    vring_sim_publish(&sim, 0xFFFF);
    expect_broken();
}

static void out_of_ram_address_rejected(void **state)
{
    vring_sim_desc(&sim, 0, RAM - 8, 16, 0, 0);
    vring_sim_publish(&sim, 0);
    expect_broken();
}

static void far_address_rejected(void **state)
{
    vring_sim_desc(&sim, 0, 0xFEE00000ULL, 4, 0, 0);
    vring_sim_publish(&sim, 0);
    expect_broken();
}

static void address_wrap_rejected(void **state)
{
    vring_sim_desc(&sim, 0, UINT64_MAX - 7, 16, VIRTQ_DESC_F_WRITE, 0);
    vring_sim_publish(&sim, 0);
    expect_broken();
}

static void huge_length_rejected(void **state)
{
    vring_sim_desc(&sim, 0, BUF, UINT32_MAX, 0, 0);
    vring_sim_publish(&sim, 0);
    expect_broken();
}

static void zero_length_rejected(void **state)
{
    vring_sim_desc(&sim, 0, BUF, 0, 0, 0);
    vring_sim_publish(&sim, 0);
    expect_broken();
}

static void indirect_flag_rejected(void **state)
{
    vring_sim_desc(&sim, 0, BUF, 32, VIRTQ_DESC_F_INDIRECT, 0);
    vring_sim_publish(&sim, 0);
    expect_broken();
}

static void write_before_read_rejected(void **state)
{
    vring_sim_desc(&sim, 0, BUF, 16, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 1);
    vring_sim_desc(&sim, 1, BUF + 16, 16, 0, 0);
    vring_sim_publish(&sim, 0);
    expect_broken();
}

static void avail_index_jump_rejected(void **state)
{
    vring_sim_desc(&sim, 0, BUF, 16, 0, 0);
    vring_sim_set_avail_idx(&sim, QSZ + 1);
    expect_broken();
}

static void avail_index_full_queue_accepted(void **state)
{
    for (uint16_t i = 0; i < QSZ; i++) {
        vring_sim_desc(&sim, i, BUF, 16, 0, 0);
        vring_sim_publish(&sim, i);
    }
    for (uint16_t i = 0; i < QSZ; i++)
        assert_int_equal(virtq_pop(&vq, &chain), 1);
    assert_int_equal(virtq_pop(&vq, &chain), 0);
}

static void index_wraps_at_u16(void **state)
{
    /* The free-running indices wrap at 65536; the walker must follow. */
    vq.last_avail = 0xFFFF;
    vq.used_idx = 0xFFFF;
    sim.used_seen = 0xFFFF;
    memcpy(ram + sim.used + 2, &(uint16_t){0xFFFF}, 2);
    vring_sim_set_avail_idx(&sim, 0xFFFF);
    vring_sim_desc(&sim, 4, BUF, 16, 0, 0);
    vring_sim_publish(&sim, 4);
    vring_sim_publish(&sim, 4);
    assert_int_equal(virtq_pop(&vq, &chain), 1);
    assert_int_equal(virtq_pop(&vq, &chain), 1);
    assert_int_equal(virtq_pop(&vq, &chain), 0);
    assert_int_equal(vq.last_avail, 1);
    assert_int_equal(virtq_push(&vq, 4, 0), 0);
    assert_int_equal(virtq_push(&vq, 4, 0), 0);
    uint32_t id, len;
    assert_true(vring_sim_take_used(&sim, &id, &len));
    assert_true(vring_sim_take_used(&sim, &id, &len));
    assert_false(vring_sim_take_used(&sim, &id, &len));
}

/* The memory door as the walk sees it (tests/CMakeLists.txt links this test with
 * --wrap=gm_read): every read of the descriptor table is counted per descriptor, and the guest
 * "rewrites" a descriptor right after the device first read it, while the walk is still going. */
int __real_gm_read(const struct guest_mem *m, uint64_t gpa, void *dst, uint64_t len);
static unsigned desc_reads[QSZ];
static bool rewrite_after_first_read;

int __wrap_gm_read(const struct guest_mem *m, uint64_t gpa, void *dst, uint64_t len);
int __wrap_gm_read(const struct guest_mem *m, uint64_t gpa, void *dst, uint64_t len)
{
    int rc = __real_gm_read(m, gpa, dst, len);
    if (m == &gm && gpa >= sim.desc && gpa < sim.desc + 16ULL * QSZ) {
        unsigned i = (unsigned)((gpa - sim.desc) / 16);
        if (desc_reads[i]++ == 0 && rewrite_after_first_read)
            vring_sim_desc(&sim, (uint16_t)i, UINT64_MAX - 1, UINT32_MAX, VIRTQ_DESC_F_INDIRECT, 0);
    }
    return rc;
}

static void descriptor_copied_once(void **state)
{
    memset(desc_reads, 0, sizeof(desc_reads));
    vring_sim_desc(&sim, 0, BUF, 16, VIRTQ_DESC_F_NEXT, 1);
    vring_sim_desc(&sim, 1, BUF + 0x100, 32, VIRTQ_DESC_F_WRITE, 0);
    vring_sim_publish(&sim, 0);
    rewrite_after_first_read = true; /* a hostile guest racing the walk */
    int rc = virtq_pop(&vq, &chain);
    rewrite_after_first_read = false;
    assert_int_equal(rc, 1);
    assert_false(vq.broken);
    /* Each descriptor was fetched exactly once, and the chain holds what was fetched. */
    assert_int_equal(desc_reads[0], 1);
    assert_int_equal(desc_reads[1], 1);
    assert_int_equal(chain.nr_read, 1);
    assert_int_equal(chain.nr_write, 1);
    assert_int_equal(chain.seg[0].gpa, BUF);
    assert_int_equal(chain.seg[0].len, 16);
    assert_int_equal(chain.seg[1].gpa, BUF + 0x100);
    assert_int_equal(chain.seg[1].len, 32);
    char buf[16];
    assert_int_equal(virtq_chain_read(&vq, &chain, 0, buf, 16), 16);
}

static void length_sum_overflow_rejected(void **state)
{
    /* Needs buffers that are each valid but sum past 4 GiB: a sparse 5 GiB "guest". */
    uint64_t big = 5ULL << 30;
    uint8_t *mem =
        mmap(NULL, big, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (mem == MAP_FAILED)
        skip();
    struct guest_mem bgm;
    gm_init_host(&bgm, mem, big);
    struct vring_sim bs;
    vring_sim_init(&bs, mem, QSZ, RINGS);
    struct virtq bvq;
    assert_int_equal(virtq_init(&bvq, &bgm, QSZ, QSZ, bs.desc, bs.avail, bs.used), 0);
    vring_sim_desc(&bs, 0, 1ULL << 30, 0xC0000000u, VIRTQ_DESC_F_NEXT, 1);
    vring_sim_desc(&bs, 1, 1ULL << 30, 0xC0000000u, 0, 0);
    vring_sim_publish(&bs, 0);
    assert_int_equal(virtq_pop(&bvq, &chain), -1);
    assert_true(bvq.broken);
    munmap(mem, big);
}

static void private_buffer_rejected(void **state)
{
    struct guest_mem pgm;
    gm_init_host(&pgm, ram, RAM);
    assert_int_equal(gm_enable_private(&pgm), 0);
    assert_int_equal(gm_set_private(&pgm, 0, BUF, false), 0);
    struct virtq pvq;
    assert_int_equal(virtq_init(&pvq, &pgm, QSZ, QSZ, sim.desc, sim.avail, sim.used), 0);
    vring_sim_desc(&sim, 0, BUF, 16, 0, 0); /* BUF is still private */
    vring_sim_publish(&sim, 0);
    assert_int_equal(virtq_pop(&pvq, &chain), -1);
    /* Rings in private memory are refused at init. */
    assert_int_equal(gm_set_private(&pgm, RINGS, 4096, true), 0);
    assert_int_equal(virtq_init(&pvq, &pgm, QSZ, QSZ, sim.desc, sim.avail, sim.used), -1);
    free(pgm.private_bits);
}

static void bad_queue_config_refused(void **state)
{
    struct virtq q;
    assert_int_equal(virtq_init(&q, &gm, 0, 256, RINGS, RINGS + 0x800, RINGS + 0x1000), -1);
    assert_false(q.ready);
    assert_int_equal(virtq_init(&q, &gm, 6, 256, RINGS, RINGS + 0x800, RINGS + 0x1000), -1);
    assert_int_equal(virtq_init(&q, &gm, 512, 256, RINGS, RINGS + 0x2000, RINGS + 0x3000), -1);
    assert_int_equal(virtq_init(&q, &gm, 8, 256, RINGS + 8, RINGS + 0x800, RINGS + 0x1000), -1);
    assert_int_equal(virtq_init(&q, &gm, 8, 256, RINGS, RINGS + 0x801, RINGS + 0x1000), -1);
    assert_int_equal(virtq_init(&q, &gm, 8, 256, RINGS, RINGS + 0x800, RINGS + 0x1002), -1);
    assert_int_equal(virtq_init(&q, &gm, 8, 256, RAM - 64, RINGS + 0x800, RINGS + 0x1000), -1);
    assert_int_equal(virtq_init(&q, &gm, 8, 256, RINGS, RAM - 4, RINGS + 0x1000), -1);
    assert_int_equal(virtq_init(&q, &gm, 8, 256, RINGS, RINGS + 0x800, 0xFFFFFFFFFFFFFFF0ULL), -1);
    assert_int_equal(virtq_init(&q, &gm, 8, 256, RINGS, RINGS + 0x800, RINGS + 0x1000), 0);
    assert_true(q.ready);
}

static void not_ready_queue_is_idle(void **state)
{
    struct virtq q;
    memset(&q, 0, sizeof(q));
    assert_int_equal(virtq_pop(&q, &chain), 0);
    assert_int_equal(virtq_push(&q, 0, 0), -1);
}

static void interrupt_suppression_flag(void **state)
{
    assert_true(virtq_should_signal(&vq));
    memcpy(ram + sim.avail, &(uint16_t){VIRTQ_AVAIL_F_NO_INTERRUPT}, 2);
    assert_false(virtq_should_signal(&vq));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(good_chain_read_write_push, setup),
        cmocka_unit_test_setup(empty_queue_pops_nothing, setup),
        cmocka_unit_test_setup(loop_chain_rejected, setup),
        cmocka_unit_test_setup(self_loop_rejected, setup),
        cmocka_unit_test_setup(chain_of_exactly_queue_size_accepted, setup),
        cmocka_unit_test_setup(chain_longer_than_queue_rejected, setup),
        cmocka_unit_test_setup(next_beyond_queue_rejected, setup),
        cmocka_unit_test_setup(head_beyond_queue_rejected, setup),
        cmocka_unit_test_setup(out_of_ram_address_rejected, setup),
        cmocka_unit_test_setup(far_address_rejected, setup),
        cmocka_unit_test_setup(address_wrap_rejected, setup),
        cmocka_unit_test_setup(huge_length_rejected, setup),
        cmocka_unit_test_setup(zero_length_rejected, setup),
        cmocka_unit_test_setup(indirect_flag_rejected, setup),
        cmocka_unit_test_setup(write_before_read_rejected, setup),
        cmocka_unit_test_setup(avail_index_jump_rejected, setup),
        cmocka_unit_test_setup(avail_index_full_queue_accepted, setup),
        cmocka_unit_test_setup(index_wraps_at_u16, setup),
        cmocka_unit_test_setup(descriptor_copied_once, setup),
        cmocka_unit_test_setup(length_sum_overflow_rejected, setup),
        cmocka_unit_test_setup(private_buffer_rejected, setup),
        cmocka_unit_test_setup(bad_queue_config_refused, setup),
        cmocka_unit_test_setup(not_ready_queue_is_idle, setup),
        cmocka_unit_test_setup(interrupt_suppression_flag, setup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
