/* ioapic_regs.c: the userspace IOAPIC's register window under hostile guest accesses (wrong
 * sizes, unknown offsets and indexes, read-only bits) and its delivery rules (masked edges
 * dropped, edge vs level, Remote IRR), with the MSI message each redirection entry stands for. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "devices/ioapic.h"

struct out {
    unsigned fired, routed;
    uint64_t addr;
    uint32_t data;
    bool valid;
};

static void route(void *o, unsigned pin, uint64_t addr, uint32_t data, bool valid)
{
    struct out *x = o;
    x->routed++;
    x->valid = valid;
}

static void fire(void *o, unsigned pin, uint64_t addr, uint32_t data)
{
    struct out *x = o;
    x->fired++;
    x->addr = addr;
    x->data = data;
}

static const struct ioapic_ops ops = {.route = route, .fire = fire};

static void wr(struct ioapic *io, uint32_t reg, uint32_t val)
{
    ioapic_mmio(io, 0x00, &reg, 4, true);
    ioapic_mmio(io, 0x10, &val, 4, true);
}

static uint32_t rd(struct ioapic *io, uint32_t reg)
{
    uint32_t v = 0;
    ioapic_mmio(io, 0x00, &reg, 4, true);
    ioapic_mmio(io, 0x10, &v, 4, false);
    return v;
}

static void hostile_accesses_are_harmless(void **state)
{
    struct out o = {0};
    struct ioapic *io = ioapic_new(&ops, &o);
    assert_non_null(io);
    uint8_t b = 0x12;
    uint64_t q = ~0ULL;
    ioapic_mmio(io, 0x00, &b, 1, true); /* byte write: ignored */
    ioapic_mmio(io, 0x10, &q, 8, false);
    assert_int_equal(q, ~0ULL); /* 8-byte read: all-ones */
    uint32_t v = 0;
    ioapic_mmio(io, 0x20, &v, 4, false);
    assert_int_equal(v, 0xffffffffu);                   /* unknown offset */
    assert_int_equal(rd(io, 0x3f + 0x10), 0xffffffffu); /* past the 24 entries */
    assert_int_equal(rd(io, 0xff), 0xffffffffu);
    wr(io, 0x01, 0); /* version is read-only */
    assert_int_equal(rd(io, 0x01), 0x00170020);
    wr(io, 0x00, 0xffffffffu); /* only the ID bits stick */
    assert_int_equal(rd(io, 0x00), 0x0f000000u);
    wr(io, 0x10 + 2 * 23 + 2, 0); /* index 0x40: nothing there */
    assert_int_equal(ioapic_set_irq(io, 24, true), -1);
    /* Remote IRR and delivery status cannot be set by the guest */
    wr(io, 0x10, 0x30 | (1u << 14) | (1u << 12) | (1u << 16));
    assert_int_equal(rd(io, 0x10) & ((1u << 14) | (1u << 12)), 0);
    assert_int_equal(o.fired, 0);
    ioapic_free(io);
}

static void delivery_rules(void **state)
{
    struct out o = {0};
    struct ioapic *io = ioapic_new(&ops, &o);
    /* edge pin, masked: dropped, not remembered */
    wr(io, 0x10 + 2 * 3, 0x33 | (1u << 16));
    assert_int_equal(ioapic_set_irq(io, 3, true), 0);
    wr(io, 0x10 + 2 * 3, 0x33); /* unmask: nothing pending */
    assert_int_equal(o.fired, 0);
    assert_true(o.valid);
    /* edge: each assertion one message; logical destination 0x0f */
    wr(io, 0x10 + 2 * 3 + 1, 0x0f000000u);
    wr(io, 0x10 + 2 * 3, 0x33 | (1u << 11) | (1u << 8)); /* lowest priority, logical */
    ioapic_set_irq(io, 3, true);
    ioapic_set_irq(io, 3, false);
    ioapic_set_irq(io, 3, true);
    assert_int_equal(o.fired, 2);
    assert_int_equal(o.addr, 0xfee0f004ULL);
    assert_int_equal(o.data, 0x133);
    /* level, masked while asserted: delivered on unmask */
    o.fired = 0;
    wr(io, 0x10 + 2 * 5, 0x45 | (1u << 15) | (1u << 16));
    ioapic_set_irq(io, 5, true);
    assert_int_equal(o.fired, 0);
    wr(io, 0x10 + 2 * 5, 0x45 | (1u << 15));
    assert_int_equal(o.fired, 1);
    assert_int_equal(o.data, 0x8045);
    ioapic_eoi(io, 0x46); /* another vector: nothing */
    assert_int_equal(o.fired, 1);
    /* switching the pin to edge clears Remote IRR */
    wr(io, 0x10 + 2 * 5, 0x45);
    assert_false(ioapic_entry(io, 5) & (1u << 14));
    ioapic_free(io);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(hostile_accesses_are_harmless),
        cmocka_unit_test(delivery_rules),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
