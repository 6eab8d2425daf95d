/* vm.c: a VM's whole life: KVM VM, memory, vCPUs, devices, payload, run, stop, teardown. */
#include "vmm/vm.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "devices/debug_port.h"
#include "devices/fw_cfg.h"
#include "devices/i8042.h"
#include "devices/uart16550.h"
#include "tee/tee.h"
#include "vmm/console.h"
#include "vmm/log.h"
#include "vmm/vm_internal.h"
#include "vmm/vm_blknet.h"
#include "vmm/vm_acpi.h"
#include "vmm/vm_pci.h"

/* Identity-map and TSS pages KVM needs for real-mode emulation on Intel (top of the 4 GiB hole,
 * below the BIOS area; never RAM). */
#define VM_IDENTITY_MAP_ADDR 0xFFFBC000ULL
#define VM_TSS_ADDR          0xFFFBD000ULL

/* vm_create_with's steps; on failure the caller destroys the half-built VM. */
static int vm_build(struct vm *vm, const struct vm_config *cfg, char *err, size_t errlen);
static int vm_open_kvm(struct vm *vm, char *err, size_t errlen);
static int vm_setup_memory(struct vm *vm, char *err, size_t errlen);
static int vm_setup_irqchip(struct vm *vm, char *err, size_t errlen);
static int vm_create_vcpus(struct vm *vm, char *err, size_t errlen);
static int vm_attach_devices(struct vm *vm, char *err, size_t errlen);
static int vm_load_payload(struct vm *vm, char *err, size_t errlen);
static void vm_exit_async_cb(uv_async_t *handle);

/* ---- The life of a VM, top to bottom. ---- */

int vm_create_with(const struct kvm_handle *kvm, const struct vm_config *cfg, uv_loop_t *loop,
                   vm_exit_cb on_exit, void *opaque, struct vm **out, char *err, size_t errlen)
{
    *out = NULL;
    struct vm *vm = calloc(1, sizeof(*vm));
    if (!vm) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    vm->kvm = *kvm;
    vm->kvm_fd = vm->vm_fd = vm->console_fd = -1;
    vm->loop = loop;
    vm->on_exit = on_exit;
    vm->on_exit_opaque = opaque;
    vm->mem.memfd = -1;
    pthread_mutex_init(&vm->lock, NULL);
    pthread_cond_init(&vm->cond, NULL);
    if (vm_build(vm, cfg, err, errlen) < 0) {
        vm_destroy(vm);
        return -1;
    }
    atomic_store(&vm->state, VM_STATE_CREATED);
    *out = vm;
    return 0;
}

int vm_create(const struct vm_config *cfg, uv_loop_t *loop, vm_exit_cb on_exit, void *opaque,
              struct vm **out, char *err, size_t errlen)
{
    const struct kvm_handle host = {.sys = &kvm_sys_host, .ctx = NULL};
    return vm_create_with(&host, cfg, loop, on_exit, opaque, out, err, errlen);
}

int vm_boot(struct vm *vm, char *err, size_t errlen)
{
    if (atomic_load(&vm->state) != VM_STATE_CREATED) {
        snprintf(err, errlen, "the VM is not in the created state");
        return -1;
    }
    if (vm->tee) { /* measured launch: firmware, kernel hashes, VMSAs / TD pages, finish */
        if (tee_launch(vm->tee, err, errlen) < 0)
            return -1;
    } else if (vm_load_payload(vm, err, errlen) < 0 ||
               vcpu_set_boot_state(&vm->vcpus[0], &vm->boot, err, errlen) < 0) {
        return -1;
    }
    atomic_store(&vm->state, VM_STATE_RUNNING);
    for (unsigned i = 0; i < vm->nr_vcpus; i++) {
        if (vcpu_start(&vm->vcpus[i], err, errlen) < 0) {
            vm_request_exit(vm, VM_EXIT_ERROR, 0);
            return -1;
        }
    }
    log_info("booted %u vCPU(s), %llu MiB", vm->nr_vcpus,
             (unsigned long long)(vm->mem.ram_size >> 20));
    return 0;
}

void vm_shutdown(struct vm *vm)
{
    if (!vm)
        return;
    atomic_store(&vm->stopping, true);
    pthread_mutex_lock(&vm->lock);
    vm->paused = false;
    pthread_cond_broadcast(&vm->cond);
    pthread_mutex_unlock(&vm->lock);
    for (unsigned i = 0; i < vm->nr_vcpus; i++)
        vcpu_kick(&vm->vcpus[i]);
    for (unsigned i = 0; i < vm->nr_vcpus; i++)
        vcpu_join(&vm->vcpus[i]);
    if (atomic_load(&vm->state) != VM_STATE_CREATED)
        atomic_store(&vm->state, VM_STATE_SHUTDOWN);
}

static void vm_free_cb(uv_handle_t *handle)
{
    free(handle);
}

void vm_destroy(struct vm *vm)
{
    if (!vm)
        return;
    vm_shutdown(vm);
    while (vm->nr_devices > 0) {
        struct vm_device *d = &vm->devices[--vm->nr_devices];
        if (d->destroy)
            d->destroy(d->opaque);
    }
    for (unsigned i = 0; i < vm->nr_vcpus; i++)
        vcpu_close(&vm->vcpus[i]);
    free(vm->vcpus);
    if (vm->tee) { /* owns the VM fd; waits for its workers before guest memory goes */
        tee_destroy(vm->tee);
        vm->tee = NULL;
        vm->vm_fd = -1;
    }
    if (vm->vm_fd >= 0)
        vm->kvm.sys->close(vm->kvm.ctx, vm->vm_fd);
    if (vm->kvm_fd >= 0)
        vm->kvm.sys->close(vm->kvm.ctx, vm->kvm_fd);
    gm_destroy(&vm->mem);
    if (vm->console_fd >= 0)
        close(vm->console_fd);
    bus_free(vm->pio);
    bus_free(vm->mmio);
    /* The async handle belongs to the loop until its close callback runs. */
    if (vm->exit_async && vm->exit_async->data == vm)
        uv_close((uv_handle_t *)vm->exit_async, vm_free_cb);
    else
        free(vm->exit_async);
    vm_config_free(&vm->cfg);
    pthread_cond_destroy(&vm->cond);
    pthread_mutex_destroy(&vm->lock);
    free(vm);
}

/* ---- Steps of vm_create. ---- */

static int vm_build(struct vm *vm, const struct vm_config *cfg, char *err, size_t errlen)
{
    vm->pio = bus_new("pio");
    vm->mmio = bus_new("mmio");
    vm->exit_async = calloc(1, sizeof(*vm->exit_async));
    if (vm_config_copy(&vm->cfg, cfg) < 0 || !vm->pio || !vm->mmio || !vm->exit_async) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    /* (TEE: the backend picks the VM type in vm_open_kvm and owns private memory.) */
    if (vm_open_kvm(vm, err, errlen) < 0 || vm_setup_memory(vm, err, errlen) < 0 ||
        vm_setup_irqchip(vm, err, errlen) < 0 || vm_create_vcpus(vm, err, errlen) < 0 ||
        vm_attach_devices(vm, err, errlen) < 0)
        return -1;
    if (uv_async_init(vm->loop, vm->exit_async, vm_exit_async_cb) < 0) {
        snprintf(err, errlen, "cannot create the VM's exit notifier");
        return -1;
    }
    vm->exit_async->data = vm;
    return 0;
}

static int vm_open_kvm(struct vm *vm, char *err, size_t errlen)
{
    const struct kvm_sys *sys = vm->kvm.sys;
    vm->kvm_fd = sys->open(vm->kvm.ctx, "/dev/kvm", O_RDWR);
    if (vm->kvm_fd < 0) {
        snprintf(err, errlen, "cannot open /dev/kvm: %s", strerror(errno));
        return -1;
    }
    if (kvm_ioctl(&vm->kvm, vm->kvm_fd, KVM_GET_API_VERSION, NULL) != KVM_API_VERSION) {
        snprintf(err, errlen, "/dev/kvm is not a usable KVM device (API version mismatch)");
        return -1;
    }
    /* The TEE backend names what this host lacks before any KVM object exists. */
    if (tee_probe(vm->cfg.platform.tee, &vm->kvm, vm->kvm_fd, &vm->cfg.platform, err, errlen) < 0)
        return -1;
    int max = kvm_ioctl(&vm->kvm, vm->kvm_fd, KVM_CHECK_EXTENSION, (void *)KVM_CAP_MAX_VCPUS);
    if (max > 0 && vm->cfg.cpus > (unsigned)max) {
        snprintf(err, errlen, "this host's KVM allows at most %d vCPUs", max);
        return -1;
    }
    if (kvm_ioctl(&vm->kvm, vm->kvm_fd, KVM_CHECK_EXTENSION, (void *)KVM_CAP_IMMEDIATE_EXIT) <= 0) {
        snprintf(err, errlen, "this host's KVM lacks KVM_CAP_IMMEDIATE_EXIT");
        return -1;
    }
    if (vm->cfg.platform.tee != TEE_NONE) /* the backend creates a VM of its type */
        return tee_vm_create(&vm->kvm, vm->kvm_fd, &vm->cfg, &vm->mem, &vm->tee, &vm->vm_fd, err,
                             errlen);
    vm->vm_fd = kvm_ioctl(&vm->kvm, vm->kvm_fd, KVM_CREATE_VM, (void *)0UL);
    if (vm->vm_fd < 0) {
        snprintf(err, errlen, "cannot create a KVM VM: %s", strerror(errno));
        return -1;
    }
    return 0;
}

static int vm_setup_memory(struct vm *vm, char *err, size_t errlen)
{
    if (gm_init(&vm->mem, vm->cfg.memory, err, errlen) < 0)
        return -1;
    if (vm->tee) /* guest_memfd memslots, all private, plus the firmware flash */
        return tee_map_memory(vm->tee, err, errlen);
    for (unsigned i = 0; i < vm->mem.nr_regions; i++) {
        const struct gm_region *r = &vm->mem.region[i];
        struct kvm_userspace_memory_region slot = {
            .slot = i,
            .guest_phys_addr = r->gpa,
            .memory_size = r->size,
            .userspace_addr = (uint64_t)(uintptr_t)r->host,
        };
        if (kvm_ioctl(&vm->kvm, vm->vm_fd, KVM_SET_USER_MEMORY_REGION, &slot) < 0) {
            snprintf(err, errlen, "cannot register guest memory with KVM: %s", strerror(errno));
            return -1;
        }
    }
    return 0;
}

static int vm_setup_irqchip(struct vm *vm, char *err, size_t errlen)
{
    if (vm->tee && tee_owns_irqchip(vm->tee))
        return 0; /* TDX: the backend enabled the split irqchip; no PIC, IOAPIC or PIT */
    uint64_t ident = VM_IDENTITY_MAP_ADDR;
    if (kvm_ioctl(&vm->kvm, vm->vm_fd, KVM_SET_IDENTITY_MAP_ADDR, &ident) < 0 ||
        kvm_ioctl(&vm->kvm, vm->vm_fd, KVM_SET_TSS_ADDR, (void *)VM_TSS_ADDR) < 0) {
        snprintf(err, errlen, "cannot set KVM's TSS/identity-map pages: %s", strerror(errno));
        return -1;
    }
    /* Full in-kernel irqchip (PIC, IOAPIC, LAPICs) and the PIT Linux calibrates with. */
    if (kvm_ioctl(&vm->kvm, vm->vm_fd, KVM_CREATE_IRQCHIP, NULL) < 0) {
        snprintf(err, errlen, "cannot create the in-kernel irqchip: %s", strerror(errno));
        return -1;
    }
    struct kvm_pit_config pit = {.flags = KVM_PIT_SPEAKER_DUMMY};
    if (kvm_ioctl(&vm->kvm, vm->vm_fd, KVM_CREATE_PIT2, &pit) < 0) {
        snprintf(err, errlen, "cannot create the in-kernel PIT: %s", strerror(errno));
        return -1;
    }
    return 0;
}

static int vm_create_vcpus(struct vm *vm, char *err, size_t errlen)
{
    /* the host's supported CPUID, adjusted per vCPU by vcpu_init */
    struct kvm_cpuid2 *cpuid = kvm_supported_cpuid(&vm->kvm, vm->kvm_fd, err, errlen);
    if (!cpuid)
        return -1;
    vm->vcpus = calloc(vm->cfg.cpus, sizeof(*vm->vcpus));
    int rc = vm->vcpus ? 0 : -1;
    if (rc < 0)
        snprintf(err, errlen, "out of memory");
    for (unsigned i = 0; rc == 0 && i < vm->cfg.cpus; i++) {
        vm->vcpus[i] = (struct vcpu){.vm = vm, .index = i, .fd = -1};
        vm->nr_vcpus++; /* counted before init, so a half-made vCPU is closed too */
        rc = vcpu_init(vm, &vm->vcpus[i], i, cpuid, err, errlen);
        if (rc == 0 && vm->tee)
            rc = tee_add_vcpu(vm->tee, i, vm->vcpus[i].fd, err, errlen);
    }
    free(cpuid);
    return rc;
}

static void vm_uart_irq(void *opaque, bool level)
{
    vm_irq_line(opaque, VM_IRQ_COM1, level);
}

static void vm_guest_poweroff(void *opaque, int status)
{
    vm_request_exit(opaque, VM_EXIT_POWEROFF, status);
}

static void vm_guest_reset(void *opaque)
{
    vm_request_exit(opaque, VM_EXIT_RESET, 0);
}

static int vm_console_fd(struct vm *vm, char *err, size_t errlen)
{
    switch (vm->cfg.serial) {
    case SERIAL_TTY:
        return STDOUT_FILENO;
    case SERIAL_FILE:
        vm->console_fd = open(vm->cfg.serial_file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (vm->console_fd < 0)
            snprintf(err, errlen, "cannot open serial file '%s': %s", vm->cfg.serial_file,
                     strerror(errno));
        return vm->console_fd < 0 ? -2 : vm->console_fd;
    default:
        return -1;
    }
}

/* The fw_cfg device serving --kernel/--initramfs/--cmdline to the firmware, byte for byte what
 * the SEV kernel-hashes table hashes. */
static int vm_attach_fw_cfg(struct vm *vm, char *err, size_t errlen)
{
    const struct fw_cfg_config fc = {.kernel = vm->cfg.kernel,
                                     .initrd = vm->cfg.initramfs,
                                     .cmdline = vm->cfg.cmdline,
                                     .ram_size = vm->cfg.memory,
                                     .nb_cpus = (uint16_t)vm->cfg.cpus,
                                     .max_cpus = (uint16_t)vm->cfg.max_cpus};
    struct fw_cfg *fw = fw_cfg_new(&vm->mem, &fc, err, errlen);
    if (!fw)
        return -1;
    if (vm_add_device(vm, "fw_cfg", fw_cfg_free, fw) < 0) { /* it freed fw */
        snprintf(err, errlen, "too many devices");
        return -1;
    }
    if (bus_register(vm->pio, FW_CFG_PORT_SEL, FW_CFG_PORT_COMB_LEN, fw_cfg_comb_io, fw) < 0 ||
        bus_register(vm->pio, FW_CFG_PORT_DMA, FW_CFG_PORT_DMA_LEN, fw_cfg_dma_io, fw) < 0) {
        snprintf(err, errlen, "cannot register the fw_cfg ports");
        return -1;
    }
    return 0;
}

/* The platform devices every VM has. Later devices (PCI host bridge, virtio) attach here too:
 * register their traps on vm->pio / vm->mmio and their teardown with vm_add_device. */
static int vm_attach_devices(struct vm *vm, char *err, size_t errlen)
{
    int out = vm_console_fd(vm, err, errlen);
    if (out == -2)
        return -1;
    struct uart16550 *uart = uart16550_new(out, vm_uart_irq, vm);
    struct debug_port *dbg = calloc(1, sizeof(*dbg));
    struct i8042 *kbd = calloc(1, sizeof(*kbd));
    int rc = (uart && dbg && kbd) ? 0 : -1;
    rc |= vm_add_device(vm, "uart16550", uart16550_free, uart);
    rc |= vm_add_device(vm, "debug-port", free, dbg);
    rc |= vm_add_device(vm, "i8042", free, kbd);
    if (rc < 0 || !uart || !dbg || !kbd) {
        snprintf(err, errlen, "out of memory attaching platform devices");
        return -1;
    }
    dbg->on_exit = vm_guest_poweroff;
    dbg->opaque = vm;
    kbd->on_reset = vm_guest_reset;
    kbd->opaque = vm;
    rc |= bus_register(vm->pio, UART_COM1_BASE, UART_NR_PORTS, uart16550_io, uart);
    rc |= bus_register(vm->pio, DEBUG_PORT_BOOT_TIMER, 1, debug_port_timer_io, dbg);
    rc |= bus_register(vm->pio, DEBUG_PORT_EXIT, 1, debug_port_exit_io, dbg);
    rc |= bus_register(vm->pio, I8042_DATA_PORT, 1, i8042_data_io, kbd);
    rc |= bus_register(vm->pio, I8042_COMMAND_PORT, 1, i8042_command_io, kbd);
    if (rc < 0) {
        snprintf(err, errlen, "cannot register platform device ports");
        return -1;
    }
    if (vm->cfg.serial == SERIAL_TTY) { /* stdin feeds the console (if it can be polled) */
        struct console_in *in = console_in_start(vm->loop, STDIN_FILENO, uart);
        if (in && vm_add_device(vm, "console-input", console_in_stop, in) < 0) {
            snprintf(err, errlen, "too many devices");
            return -1;
        }
    }
    /* ---- fw_cfg: firmware boot with a kernel (OVMF loads it from here). Only a TEE launch
     * boots the firmware; with tee=none --firmware is unused and the kernel is direct-booted. */
    if (vm->tee && vm->cfg.firmware && vm->cfg.kernel && vm_attach_fw_cfg(vm, err, errlen) < 0)
        return -1;
    /* ---- end fw_cfg ---- */
    /* ---- PCI host bridge and virtio devices (vmm/vm_pci.c) ---- */
    if (vm_attach_pci(vm, err, errlen) < 0 || vm_attach_vsock(vm, err, errlen) < 0 ||
        vm_attach_blknet(vm, err, errlen) < 0) /* virtio-blk, virtio-net: vm_blknet.c */
        return -1;
    /* ---- end PCI ---- */
    /* ---- ACPI tables and registers for a direct boot (vmm/vm_acpi.c) ---- */
    if (!vm->tee && vm_acpi_attach(vm, err, errlen) < 0)
        return -1;
    return 0;
}

/* ---- Steps of vm_boot. ---- */

static int vm_load_payload(struct vm *vm, char *err, size_t errlen)
{
    if (!vm->cfg.kernel) {
        snprintf(err, errlen, "no kernel to boot");
        return -1;
    }
    struct load_request req = {
        .kernel = vm->cfg.kernel,
        .initramfs = vm->cfg.initramfs,
        .cmdline = vm->cfg.cmdline,
    };
    vm_acpi_boot_info(vm, &req.acpi_rsdp, &req.acpi_base, &req.acpi_len);
    if (loader_load(&vm->mem, &req, &vm->boot, err, errlen) < 0)
        return -1;
    /* (TEE: measured launch of the loaded image goes here.) */
    return mptable_write(&vm->mem, vm->nr_vcpus, err, errlen);
}

/* ---- Run control. ---- */

int vm_add_device(struct vm *vm, const char *name, void (*destroy)(void *), void *opaque)
{
    if (vm->nr_devices >= VM_MAX_DEVICES) {
        if (destroy)
            destroy(opaque);
        return -1;
    }
    vm->devices[vm->nr_devices++] = (struct vm_device){name, destroy, opaque};
    return 0;
}

int vm_irq_line(struct vm *vm, unsigned irq, bool level)
{
    struct kvm_irq_level line = {.irq = irq, .level = level ? 1 : 0};
    return kvm_ioctl(&vm->kvm, vm->vm_fd, KVM_IRQ_LINE, &line);
}

void vm_request_exit(struct vm *vm, enum vm_exit_reason reason, int status)
{
    pthread_mutex_lock(&vm->lock);
    if (vm->exit_reason == VM_EXIT_NONE) {
        vm->exit_reason = reason;
        vm->exit_status = status;
    }
    /* Under the lock, with a broadcast: a vm_pause waiting for vCPUs to park must see it. */
    atomic_store(&vm->stopping, true);
    pthread_cond_broadcast(&vm->cond);
    pthread_mutex_unlock(&vm->lock);
    for (unsigned i = 0; i < vm->nr_vcpus; i++)
        vcpu_kick(&vm->vcpus[i]);
    uv_async_send(vm->exit_async);
}

/* Loop thread: the guest has stopped; join the vCPUs and tell the owner once. */
static void vm_exit_async_cb(uv_async_t *handle)
{
    struct vm *vm = handle->data;
    vm_shutdown(vm);
    pthread_mutex_lock(&vm->lock);
    bool deliver = !vm->exit_delivered && vm->exit_reason != VM_EXIT_NONE;
    vm->exit_delivered = true;
    enum vm_exit_reason reason = vm->exit_reason;
    int status = vm->exit_status;
    pthread_mutex_unlock(&vm->lock);
    if (deliver && vm->on_exit)
        vm->on_exit(vm->on_exit_opaque, reason, status);
}

int vm_pause(struct vm *vm, char *err, size_t errlen)
{
    if (atomic_load(&vm->state) != VM_STATE_RUNNING) {
        snprintf(err, errlen, "the VM is not running");
        return -1;
    }
    pthread_mutex_lock(&vm->lock);
    vm->paused = true;
    pthread_mutex_unlock(&vm->lock);
    for (unsigned i = 0; i < vm->nr_vcpus; i++)
        vcpu_kick(&vm->vcpus[i]);
    pthread_mutex_lock(&vm->lock);
    while (vm->parked < vm->nr_vcpus && !atomic_load(&vm->stopping))
        pthread_cond_wait(&vm->cond, &vm->lock);
    pthread_mutex_unlock(&vm->lock);
    atomic_store(&vm->state, VM_STATE_PAUSED);
    return 0;
}

int vm_resume(struct vm *vm, char *err, size_t errlen)
{
    if (atomic_load(&vm->state) != VM_STATE_PAUSED) {
        snprintf(err, errlen, "the VM is not paused");
        return -1;
    }
    pthread_mutex_lock(&vm->lock);
    vm->paused = false;
    pthread_cond_broadcast(&vm->cond);
    pthread_mutex_unlock(&vm->lock);
    atomic_store(&vm->state, VM_STATE_RUNNING);
    return 0;
}

enum vm_state vm_get_state(const struct vm *vm)
{
    return (enum vm_state)atomic_load(&((struct vm *)vm)->state);
}

const struct vm_config *vm_get_config(const struct vm *vm)
{
    return &vm->cfg;
}

/* ---- Hot-plug: virtio-blk/net land with their devices. ---- */

/* vm_add_disk and vm_add_net live in vm_blknet.c. */

int vm_remove_device(struct vm *vm, const char *id, char *err, size_t errlen)
{
    int rc = vm_remove_blknet(vm, id, err, errlen); /* virtio-blk / virtio-net: vm_blknet.c */
    if (rc <= 0)
        return rc;
    snprintf(err, errlen, "no device with id '%s'", id ? id : "");
    return -1;
}
