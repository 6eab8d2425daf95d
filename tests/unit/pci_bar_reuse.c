/* pci_bar_reuse.c: BAR space in the MMIO hole is reserved only while a device is attached, so
 * hot-plug cycles never exhaust it, and attached devices never overlap. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "devices/pci.h"

#define BIG_BAR (256ULL << 20) /* only three fit in the hole between 3 GiB and the IOAPIC */

static int f_alloc(void *ctx)
{
    return 0;
}
static int f_set(void *ctx, int h, uint64_t a, uint32_t d)
{
    return 0;
}
static void f_fire(void *ctx, int h) {}
static void f_free(void *ctx, int h) {}
static int f_attach(void *ctx, int fd, uint64_t a, uint32_t l)
{
    return 0;
}
static void f_detach(void *ctx, int fd, uint64_t a, uint32_t l) {}
static const struct pci_irq_ops fake_ops = {f_alloc, f_set, f_fire, f_free, f_attach, f_detach};

static void bar_io(void *opaque, uint64_t off, void *data, uint32_t len, bool is_write) {}

static void make_dev(struct pci_dev *d, uint64_t size)
{
    memset(d, 0, sizeof(*d));
    pci_dev_init(d, 0x1af4, 0x1042, 0x018000, 1, 0x1af4, 2);
    assert_int_equal(pci_dev_set_bar(d, 0, size, bar_io, d), 0);
}

/* BAR0 as the guest first sees it in config space. */
static uint64_t bar0_of(const struct pci_dev *d)
{
    uint32_t v;
    memcpy(&v, d->cfg + 0x10, 4);
    return v & ~0xFu;
}

static void hotplug_cycles_reuse_bar_space(void **state)
{
    struct bus *pio = bus_new("pio"), *mmio = bus_new("mmio");
    struct pci_irq irq = {&fake_ops, NULL};
    struct pci_root *root = pci_root_new(pio, mmio, &irq);
    assert_non_null(root);
    static struct pci_dev a, b, c;
    make_dev(&a, BIG_BAR);
    uint64_t first = 0;
    for (int i = 0; i < 100; i++) { /* the old bump allocator failed on the fourth */
        char bdf[16];
        assert_int_equal(pci_root_attach(root, &a, bdf, sizeof(bdf)), 0);
        assert_string_equal(bdf, "0000:00:01.0");
        if (i == 0)
            first = bar0_of(&a);
        assert_int_equal(bar0_of(&a), first);
        pci_root_detach(root, &a);
    }
    /* Attached devices never share space; a freed range goes to the next device. */
    make_dev(&b, BIG_BAR);
    make_dev(&c, BIG_BAR);
    assert_int_equal(pci_root_attach(root, &a, NULL, 0), 0);
    assert_int_equal(pci_root_attach(root, &b, NULL, 0), 0);
    assert_int_equal(pci_root_attach(root, &c, NULL, 0), 0);
    assert_true(bar0_of(&a) != bar0_of(&b) && bar0_of(&b) != bar0_of(&c) &&
                bar0_of(&a) != bar0_of(&c));
    static struct pci_dev d;
    make_dev(&d, BIG_BAR);
    assert_int_equal(pci_root_attach(root, &d, NULL, 0), -1); /* the hole is full */
    uint64_t freed = bar0_of(&b);
    pci_root_detach(root, &b);
    assert_int_equal(pci_root_attach(root, &d, NULL, 0), 0);
    assert_int_equal(bar0_of(&d), freed);
    pci_root_detach(root, &a);
    pci_root_detach(root, &c);
    pci_root_detach(root, &d);
    pci_root_free(root);
    bus_free(pio);
    bus_free(mmio);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(hotplug_cycles_reuse_bar_space),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
