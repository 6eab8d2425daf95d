/* vm_acpi.c: every VM's ACPI: tables in guest RAM (direct boot) or through fw_cfg (--firmware,
 * every TEE launch), the RSDP hand-over, the power and hot-plug register devices. */
#include "vmm/vm_acpi.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "devices/acpi_hotplug.h"
#include "devices/acpi_pm.h"
#include "devices/pci.h"
#include "firmware/acpi.h"
#include "vmm/base/log.h"
#include "vmm/boot_firmware.h"
#include "vmm/vm_internal.h"

_Static_assert(VM_ACPI_TABLES >= LAYOUT_EBDA + 0x2000, "tables overlap the MP table");
_Static_assert(VM_ACPI_RSDP_COPY % 16 == 0, "the legacy scan wants 16-byte alignment");

struct vm_acpi {
    struct vm *vm;
    struct acpi_pm pm;
    struct acpi_hp *hp;
    struct vm_acpi_eject_ops eject;
    uint64_t rsdp, len;
    /* Releases the guest made, handed from its vCPU thread to the loop thread. */
    uv_async_t *released_async;
    _Atomic uint32_t released_slots;
    pthread_mutex_t cpu_lock; /* guards released_cpus */
    uint8_t released_cpus[ACPI_MAX_VCPUS / 8];
};

static void acpi_poweroff(void *opaque)
{
    struct vm_acpi *a = opaque;
    log_info("acpi: guest powered off (S5)");
    vm_request_exit(a->vm, VM_EXIT_POWEROFF, 0);
}

static void acpi_reset(void *opaque)
{
    struct vm_acpi *a = opaque;
    log_info("acpi: guest reset through the FADT reset register");
    vm_request_exit(a->vm, VM_EXIT_RESET, 0);
}

/* Edge-triggered GED interrupt: a pulse on the GSI (KVM_IRQ_LINE 1 then 0). */
static void acpi_raise_gsi(void *ctx, uint32_t gsi)
{
    struct vm_acpi *a = ctx;
    if (vm_irq_line(a->vm, gsi, true) < 0 || vm_irq_line(a->vm, gsi, false) < 0)
        log_warn("acpi: cannot pulse GSI %u for the GED", gsi);
}

/* vCPU thread (the guest's _EJ0 write): record, wake the loop thread. */
static void acpi_pci_eject(void *ctx, unsigned slot)
{
    struct vm_acpi *a = ctx;
    log_info("acpi: guest released 0000:00:%02x.0", slot);
    atomic_fetch_or(&a->released_slots, 1u << slot);
    uv_async_send(a->released_async);
}

static void acpi_cpu_eject(void *ctx, uint32_t index)
{
    struct vm_acpi *a = ctx;
    log_info("acpi: guest ejected vCPU %u", index);
    pthread_mutex_lock(&a->cpu_lock);
    a->released_cpus[index / 8] |= (uint8_t)(1u << (index % 8));
    pthread_mutex_unlock(&a->cpu_lock);
    uv_async_send(a->released_async);
}

/* Loop thread: hand every recorded release to the VM's hot-plug code. */
static void acpi_released_cb(uv_async_t *h)
{
    struct vm_acpi *a = h->data;
    uint32_t slots = atomic_exchange(&a->released_slots, 0);
    for (unsigned s = 0; s < ACPI_PCI_SLOTS; s++)
        if ((slots & (1u << s)) && a->eject.pci_released)
            a->eject.pci_released(a->vm, s);
    uint8_t cpus[sizeof(a->released_cpus)];
    pthread_mutex_lock(&a->cpu_lock);
    memcpy(cpus, a->released_cpus, sizeof(cpus));
    memset(a->released_cpus, 0, sizeof(a->released_cpus));
    pthread_mutex_unlock(&a->cpu_lock);
    for (unsigned i = 0; i < ACPI_MAX_VCPUS; i++)
        if ((cpus[i / 8] & (1u << (i % 8))) && a->eject.cpu_released)
            a->eject.cpu_released(a->vm, i);
}

static void free_handle(uv_handle_t *h)
{
    free(h);
}

static void vm_acpi_free(void *opaque)
{
    struct vm_acpi *a = opaque;
    acpi_hp_free(a->hp);
    if (a->released_async && a->released_async->data == a)
        uv_close((uv_handle_t *)a->released_async, free_handle); /* the loop frees it */
    else
        free(a->released_async);
    pthread_mutex_destroy(&a->cpu_lock);
    free(a);
}

/* cocoon's platform: what devices/pci.c decodes and the RAM layout of vmm/base/memory.c. */
static void vm_acpi_config(const struct vm *vm, struct acpi_config *c)
{
    /* CPU hot-plug (vm_vcpus.c): the CPU manager for every vCPU made; a TEE guest keeps the
     * max_vcpus entries of its MADT without hot-plug behind them. */
    unsigned boot = vm->cfg.cpus;
    unsigned max = vm->cpu_hotplug           ? vm->nr_vcpus
                   : vm->cfg.max_cpus > boot ? vm->cfg.max_cpus
                                             : boot;
    uint64_t low = vm->mem.ram_size < GM_LOW_RAM_END ? vm->mem.ram_size : GM_LOW_RAM_END;
    *c = (struct acpi_config){
        .boot_vcpus = boot,
        .max_vcpus = max,
        .cpu_hotplug = vm->cpu_hotplug || max > boot,
        .ram_below_4g = low,
        .ram_above_4g = vm->mem.ram_size - low,
        .mmio32_base = PCI_MMIO_START,
        .mmio32_len = PCI_MMIO_END - PCI_MMIO_START,
        .boot_slots = pci_root_slot_mask(vm->pci) & ~1u,
        .pci_hotplug = true,
        .fixed_slots = 1u << PCI_PLATFORM_SLOT, /* the LPC bridge (devices/q35.c) */
        .ioapic = true, /* KVM's in-kernel IOAPIC, or cocoon's own under TDX's split irqchip */
        .ged_gsi = VM_ACPI_GED_GSI,
        .com1 = true,
        .i8042 = true,
    };
}

static int write_tables(struct vm_acpi *a, const struct acpi_config *c, char *err, size_t errlen)
{
    const struct guest_mem *gm = &a->vm->mem;
    size_t cap = VM_ACPI_TABLES_END - VM_ACPI_TABLES;
    uint8_t *buf = gm_span_loader(gm, VM_ACPI_TABLES, cap);
    uint8_t *copy = gm_span_loader(gm, VM_ACPI_RSDP_COPY, 36);
    if (!buf || !copy) {
        snprintf(err, errlen, "acpi: guest RAM does not cover 0x%llx-0x%llx",
                 (unsigned long long)VM_ACPI_TABLES, (unsigned long long)VM_ACPI_RSDP_COPY + 36);
        return -1;
    }
    struct acpi_tables t;
    if (acpi_build(c, VM_ACPI_TABLES, buf, cap, &t, err, errlen))
        return -1;
    memcpy(copy, buf, 36); /* the RSDP is position-independent: XSDT address is absolute */
    a->rsdp = VM_ACPI_TABLES;
    a->len = (t.len + 0xFFF) & ~0xFFFULL;
    log_info("acpi: %zu bytes of tables at 0x%llx for %u/%u vCPUs, slots %#x", t.len,
             (unsigned long long)VM_ACPI_TABLES, c->boot_vcpus, c->max_vcpus, c->boot_slots);
    return 0;
}

int vm_acpi_attach(struct vm *vm, char *err, size_t errlen)
{
    struct vm_acpi *a = calloc(1, sizeof(*a));
    if (a && pthread_mutex_init(&a->cpu_lock, NULL)) {
        free(a);
        a = NULL;
    }
    if (!a || vm_add_device(vm, "acpi", vm_acpi_free, a) < 0) {
        if (a)
            pthread_mutex_destroy(&a->cpu_lock);
        free(a);
        snprintf(err, errlen, "acpi: out of memory or too many devices");
        return -1;
    }
    a->vm = vm;
    a->released_async = calloc(1, sizeof(*a->released_async));
    if (!a->released_async || uv_async_init(vm->loop, a->released_async, acpi_released_cb) < 0) {
        snprintf(err, errlen, "acpi: cannot create the eject notifier");
        return -1;
    }
    a->released_async->data = a;
    a->pm = (struct acpi_pm){acpi_poweroff, acpi_reset, a, LOG_RATELIMIT_INIT};
    struct acpi_config c;
    vm_acpi_config(vm, &c);
    if (vm->cfg.firmware)
        c.ged_gsi = FIRMWARE_ACPI_GED_GSI; /* the SCI has GSI 9 (boot_firmware.h) */
    static const struct acpi_hp_ops ops = {acpi_raise_gsi, acpi_pci_eject, acpi_cpu_eject};
    a->hp = acpi_hp_new(c.ged_gsi, c.boot_vcpus, c.max_vcpus, c.boot_slots, &ops, a);
    if (!a->hp) {
        snprintf(err, errlen, "acpi: cannot create the hot-plug registers");
        return -1;
    }
    /* --firmware (every SEV-SNP and TDX launch too): the same tables through fw_cfg's
     * table-loader (vmm/boot_firmware.c), which OVMF and TDVF install as QEMU's. */
    if (vm->cfg.firmware ? boot_firmware_acpi(vm, &c, err, errlen)
                         : write_tables(a, &c, err, errlen))
        return -1;
    if (bus_register(vm->pio, ACPI_PORT_SLEEP_CTL, ACPI_PM_PORTS, acpi_pm_io, &a->pm) < 0 ||
        bus_register(vm->pio, ACPI_PORT_GED, ACPI_HP_PORTS, acpi_hp_io, a->hp) < 0) {
        snprintf(err, errlen, "acpi: ports 0x%x-0x%x are taken", ACPI_PORT_BASE,
                 ACPI_PORT_BASE + ACPI_PORT_LEN - 1);
        return -1;
    }
    vm->acpi = a;
    return 0;
}

void vm_acpi_boot_info(const struct vm *vm, uint64_t *rsdp, uint64_t *base, uint64_t *len)
{
    const struct vm_acpi *a = vm->acpi;
    *rsdp = a ? a->rsdp : 0;
    *base = a ? VM_ACPI_TABLES : 0;
    *len = a ? a->len : 0;
}

void vm_acpi_set_eject_ops(struct vm *vm, const struct vm_acpi_eject_ops *ops)
{
    if (!vm->acpi)
        return;
    if (ops->pci_released)
        vm->acpi->eject.pci_released = ops->pci_released;
    if (ops->cpu_released)
        vm->acpi->eject.cpu_released = ops->cpu_released;
}

int vm_acpi_power_button(struct vm *vm)
{
    if (!vm->acpi)
        return -1;
    acpi_hp_power_button(vm->acpi->hp);
    return 0;
}

int vm_power_button(struct vm *vm, char *err, size_t errlen)
{
    if (vm_acpi_power_button(vm) == 0) {
        log_info("acpi: power button pressed");
        return 0;
    }
    snprintf(err, errlen, "this VM has no ACPI power button from cocoon; stop it with vm.shutdown");
    return -1;
}

int vm_acpi_pci_plugged(struct vm *vm, unsigned slot)
{
    return vm->acpi ? acpi_hp_pci_plugged(vm->acpi->hp, slot) : -1;
}

int vm_acpi_pci_unplug_request(struct vm *vm, unsigned slot)
{
    return vm->acpi ? acpi_hp_pci_unplug_request(vm->acpi->hp, slot) : -1;
}

int vm_acpi_cpu_plugged(struct vm *vm, unsigned index)
{
    return vm->acpi ? acpi_hp_cpu_plugged(vm->acpi->hp, index) : -1;
}

int vm_acpi_cpu_unplug_request(struct vm *vm, unsigned index)
{
    return vm->acpi ? acpi_hp_cpu_unplug_request(vm->acpi->hp, index) : -1;
}

void vm_acpi_device_added(struct vm *vm, const char *bdf)
{
    unsigned slot;
    char tail;
    if (!vm->acpi || sscanf(bdf, "0000:00:%2x.0%c", &slot, &tail) != 1)
        return;
    if (vm_acpi_pci_plugged(vm, slot) < 0)
        log_warn("acpi: cannot announce %s to the guest", bdf);
}
