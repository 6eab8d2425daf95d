/* vm_vsock_attach_full.c: attaching vsock to a VM whose device table is full fails cleanly. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "devices/pci.h"
#include "vmm/vm_internal.h"
#include "vmm/vm_devices.h"
#include "vmm/vm_pci.h"

static uint8_t ram[1 << 20];

static int f_alloc(void *ctx)
{
    (void)ctx;
    return 0;
}
static int f_set(void *ctx, int h, uint64_t addr, uint32_t data)
{
    (void)ctx, (void)h, (void)addr, (void)data;
    return 0;
}
static void f_fire(void *ctx, int h)
{
    (void)ctx, (void)h;
}
static void f_free(void *ctx, int h)
{
    (void)ctx, (void)h;
}
static int f_attach(void *ctx, int fd, uint64_t addr, uint32_t len)
{
    (void)ctx, (void)fd, (void)addr, (void)len;
    return -1;
}
static void f_detach(void *ctx, int fd, uint64_t addr, uint32_t len)
{
    (void)ctx, (void)fd, (void)addr, (void)len;
}
static const struct pci_irq_ops fake_ops = {f_alloc, f_set, f_fire, f_free, f_attach, f_detach};

static void noop_destroy(void *opaque)
{
    (void)opaque;
}

/* vm_add_device already destroys what it cannot record; the caller must not destroy it again. */
static void full_device_table_is_an_error_not_a_double_free(void **state)
{
    (void)state;
    static struct vm vm;
    uv_loop_t loop;
    assert_int_equal(uv_loop_init(&loop), 0);
    vm.loop = &loop;
    gm_init_host(&vm.mem, ram, sizeof(ram));
    vm.pio = bus_new("pio");
    vm.mmio = bus_new("mmio");
    struct pci_irq irq = {.ops = &fake_ops, .ctx = NULL};
    vm.pci = pci_root_new(vm.pio, vm.mmio, &irq);
    assert_non_null(vm.pci);
    char path[64];
    snprintf(path, sizeof(path), "/tmp/cocoon-vsock-full-%d.sock", (int)getpid());
    vm.cfg.vsock = (struct vsock_config){.enabled = true, .cid = 3, .socket = path};
    while (vm.nr_devices < VM_MAX_DEVICES)
        vm.devices[vm.nr_devices++] = (struct vm_device){"filler", noop_destroy, NULL};
    char err[256] = "";
    assert_int_equal(vm_attach_vsock(&vm, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "too many devices"));
    assert_int_equal(vm.nr_devices, VM_MAX_DEVICES);
    pci_root_free(vm.pci);
    bus_free(vm.pio);
    bus_free(vm.mmio);
    uv_run(&loop, UV_RUN_NOWAIT);
    uv_loop_close(&loop);
    unlink(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(full_device_table_is_an_error_not_a_double_free),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
