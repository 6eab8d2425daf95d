/* tdx_split_irqchip.c: a TD's interrupts through vm.c on the simulated TDX host (split
 * irqchip): the GSI routing table has no irqchip entries (kvm_set_routing_entry refuses them),
 * a table KVM refuses is reported, and legacy lines (COM1's IRQ 4, the ACPI SCI later) reach the
 * guest through the userspace IOAPIC as MSIs, level pins re-delivered after their EOI (items 2,
 * 3). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "devices/ioapic.h"
#include "tee/kvm_tee_uapi.h"
#include "tests/unit/support/tee_harness.h"
#include "vmm/base/bus.h"
#include "vmm/msi.h"
#include "vmm/vm_internal.h"

#define RAM (64ULL << 20)

struct tvm {
    struct sim_tee *s;
    struct vm *vm;
    uv_loop_t loop;
    char fw[4096], sock[108];
};

static void on_exit_cb(void *opaque, enum vm_exit_reason reason, int status) {}

/* A TD with a virtio-vsock device (so MSI-X routes are allocated) built by vm_create_with. */
static int tvm_up(struct tvm *t, bool refuse_routing, char *err, size_t errlen)
{
    memset(t, 0, sizeof(*t));
    if (harness_fw_tdx(COCOON_SOURCE_DIR, t->fw, sizeof(t->fw)) == HARNESS_FW_NONE)
        fail_msg("no firmware");
    snprintf(t->sock, sizeof(t->sock), "/tmp/cocoon-split-irq-%d.sock", (int)getpid());
    struct vm_config cfg;
    vm_config_init(&cfg);
    cfg.cpus = 2;
    cfg.memory = RAM;
    cfg.serial = SERIAL_OFF;
    cfg.platform.tee = TEE_TDX;
    cfg.firmware = t->fw;
    cfg.vsock = (struct vsock_config){.enabled = true, .cid = 3, .socket = t->sock};
    t->s = sim_tee_new(SIM_HOST_TDX);
    assert_non_null(t->s);
    t->s->refuse_routing = refuse_routing;
    assert_int_equal(uv_loop_init(&t->loop), 0);
    return vm_create_with(&t->s->handle, &cfg, &t->loop, on_exit_cb, NULL, &t->vm, err, errlen);
}

static void tvm_down(struct tvm *t)
{
    if (t->vm)
        vm_destroy(t->vm);
    uv_run(&t->loop, UV_RUN_NOWAIT);
    assert_int_equal(uv_loop_close(&t->loop), 0);
    sim_tee_free(t->s);
    unlink(t->sock);
}

static void ioapic_write(struct vm *vm, uint32_t reg, uint32_t val)
{
    assert_true(bus_dispatch(vm->mmio, IOAPIC_BASE, &reg, 4, true));
    assert_true(bus_dispatch(vm->mmio, IOAPIC_BASE + 0x10, &val, 4, true));
}

static const struct kvm_irq_routing_entry *route_of(const struct sim_tee *s, uint32_t gsi)
{
    for (unsigned i = 0; i < s->nr_routes; i++)
        if (s->routes[i].gsi == gsi)
            return &s->routes[i];
    return NULL;
}

/* Every table KVM saw on the split irqchip was accepted: MSI routes only, the virtio device's
 * MSI-X vectors among them (GSI >= 24). */
static void msi_routes_accepted_without_irqchip_entries(void **state)
{
    char err[512] = "";
    struct tvm t;
    if (tvm_up(&t, false, err, sizeof(err)))
        fail_msg("vm_create: %s", err);
    if (t.s->violations)
        fail_msg("simulated KVM: %s", t.s->violation);
    assert_true(t.s->split_irqchip);
    assert_true(t.s->routing_sets >= 1);
    bool msix = false;
    for (unsigned i = 0; i < t.s->nr_routes; i++) {
        assert_int_equal(t.s->routes[i].type, KVM_IRQ_ROUTING_MSI);
        msix |= t.s->routes[i].gsi >= 24;
    }
    assert_true(msix);
    tvm_down(&t);
}

/* A routing table KVM refuses stops vm_create with KVM's reason instead of a VM whose interrupts
 * silently go nowhere. */
static void refused_routing_table_reported(void **state)
{
    char err[512] = "";
    struct tvm t;
    assert_int_equal(tvm_up(&t, true, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "GSI routing"));
    assert_null(t.vm);
    tvm_down(&t);
}

/* COM1's IRQ 4, edge-triggered as Linux programs ISA pins, arrives as the MSI of its IOAPIC
 * redirection entry; nothing is dropped on a GSI without a route. */
static void legacy_line_delivered_as_msi(void **state)
{
    char err[512] = "";
    struct tvm t;
    if (tvm_up(&t, false, err, sizeof(err)))
        fail_msg("vm_create: %s", err);
    /* masked after reset: an edge is ignored (82093AA) */
    assert_int_equal(vm_irq_line(t.vm, VM_IRQ_COM1, true), 0);
    assert_int_equal(vm_irq_line(t.vm, VM_IRQ_COM1, false), 0);
    assert_int_equal(t.s->nr_msi, 0);
    ioapic_write(t.vm, 0x10 + 2 * 4 + 1, 1u << 24); /* destination APIC ID 1 */
    ioapic_write(t.vm, 0x10 + 2 * 4, 0x34);         /* vector 0x34, fixed, edge, unmasked */
    const struct kvm_irq_routing_entry *r = route_of(t.s, 4);
    assert_non_null(r);
    assert_int_equal(r->type, KVM_IRQ_ROUTING_MSI);
    assert_int_equal(r->u.msi.address_lo, 0xfee01000);
    assert_int_equal(r->u.msi.data, 0x34);
    assert_int_equal(vm_irq_line(t.vm, VM_IRQ_COM1, true), 0);
    assert_int_equal(vm_irq_line(t.vm, VM_IRQ_COM1, false), 0);
    assert_int_equal(t.s->nr_msi, 1);
    assert_int_equal(t.s->msi[0].addr, 0xfee01000);
    assert_int_equal(t.s->msi[0].data, 0x34);
    assert_int_equal(t.s->lost_irq_lines, 0);
    if (t.s->violations)
        fail_msg("simulated KVM: %s", t.s->violation);
    tvm_down(&t);
}

/* A level pin (the ACPI SCI) is delivered once while asserted, again after the guest's EOI
 * (KVM_EXIT_IOAPIC_EOI) if still asserted, and its route carries the level bit so KVM intercepts
 * that EOI (kvm_scan_ioapic_routes). */
static void level_pin_redelivered_after_eoi(void **state)
{
    char err[512] = "";
    struct tvm t;
    if (tvm_up(&t, false, err, sizeof(err)))
        fail_msg("vm_create: %s", err);
    ioapic_write(t.vm, 0x10 + 2 * 9, 0x41 | (1u << 15) | (1u << 13)); /* level, active low */
    const struct kvm_irq_routing_entry *r = route_of(t.s, 9);
    assert_non_null(r);
    assert_true(r->u.msi.data & (1u << 15));
    assert_int_equal(vm_irq_line(t.vm, 9, true), 0);
    assert_int_equal(vm_irq_line(t.vm, 9, true), 0); /* Remote IRR: coalesced */
    assert_int_equal(t.s->nr_msi, 1);
    assert_true(ioapic_entry(vmm_msi_ioapic(t.vm->msi), 9) & (1u << 14));
    vmm_msi_ioapic_eoi(t.vm->msi, 0x41); /* still asserted: again */
    assert_int_equal(t.s->nr_msi, 2);
    assert_int_equal(vm_irq_line(t.vm, 9, false), 0);
    vmm_msi_ioapic_eoi(t.vm->msi, 0x41); /* released: done */
    assert_int_equal(t.s->nr_msi, 2);
    assert_false(ioapic_entry(vmm_msi_ioapic(t.vm->msi), 9) & (1u << 14));
    /* the EOI register (version 0x20) does the same */
    assert_int_equal(vm_irq_line(t.vm, 9, true), 0);
    assert_int_equal(t.s->nr_msi, 3);
    uint32_t vec = 0x41;
    assert_true(bus_dispatch(t.vm->mmio, IOAPIC_BASE + 0x40, &vec, 4, true));
    assert_int_equal(t.s->nr_msi, 4);
    uint32_t sel = 0x01, ver = 0;
    assert_true(bus_dispatch(t.vm->mmio, IOAPIC_BASE, &sel, 4, true));
    assert_true(bus_dispatch(t.vm->mmio, IOAPIC_BASE + 0x10, &ver, 4, false));
    assert_int_equal(ver, 0x00170020);
    tvm_down(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(msi_routes_accepted_without_irqchip_entries),
        cmocka_unit_test(refused_routing_table_reported),
        cmocka_unit_test(legacy_line_delivered_as_msi),
        cmocka_unit_test(level_pin_redelivered_after_eoi),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
