/* vm.c: a VM's whole life: KVM VM, memory, vCPUs, devices, payload, run, stop, teardown. */
#include "vmm/vm.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "tee/tee.h"
#include "vmm/boot_firmware.h"
#include "vmm/base/log.h"
#include "vmm/base/stop_signal.h"
#include "vmm/mptable.h"
#include "vmm/msi.h"
#include "vmm/vm_devices.h"
#include "vmm/vm_internal.h"
#include "vmm/vm_acpi.h"

/* Identity-map and TSS pages KVM needs for real-mode emulation on Intel (top of the 4 GiB hole,
 * below any firmware image; never RAM). */
#define VM_IDENTITY_MAP_ADDR 0xFEFFC000ULL /* QEMU's: clear of a firmware image up to 16 MiB */
#define VM_TSS_ADDR          0xFEFFD000ULL

/* vm_create_with's steps; on failure the caller destroys the half-built VM. */
static int vm_build(struct vm *vm, const struct vm_config *cfg, char *err, size_t errlen);
static int vm_open_kvm(struct vm *vm, char *err, size_t errlen);
static int vm_setup_memory(struct vm *vm, char *err, size_t errlen);
static int vm_setup_irqchip(struct vm *vm, char *err, size_t errlen);
static int vm_create_vcpus(struct vm *vm, char *err, size_t errlen);
static int vm_attach_devices(struct vm *vm, char *err, size_t errlen);
static int vm_direct_boot(void *opaque, char *err, size_t errlen);
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
    vm_sync_init(vm);
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
    /* The backend's launch: measured firmware (SNP, TDX) or vm_direct_boot (none). */
    const struct tee_payload payload = {.direct_boot = vm_direct_boot, .opaque = vm};
    tee_set_payload(vm->tee, &payload);
    if (tee_launch(vm->tee, err, errlen) < 0)
        return -1;
    atomic_store(&vm->state, VM_STATE_RUNNING);
    /* With CPU hot-plug the vCPUs beyond the boot count start too, and wait until hot-added. */
    for (unsigned i = 0; i < vm->nr_vcpus; i++) {
        if (vcpu_start(&vm->vcpus[i], err, errlen) < 0) {
            /* Not half running: stop and join the vCPUs already started (state: shut down). */
            vm_shutdown(vm);
            return -1;
        }
    }
    log_info("booted %u vCPU(s)%s, %llu MiB", vm->cfg.cpus,
             vm->cpu_hotplug ? " (CPU hot-plug up to max_vcpus)" : "",
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
    /* The backend owns the VM fd and waits for its workers before guest memory goes. */
    tee_destroy(vm->tee);
    vm->tee = NULL;
    vm->vm_fd = -1;
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
    unsigned want = vm_vcpus_hotplug(&vm->cfg) ? vm->cfg.max_cpus : vm->cfg.cpus;
    if (max > 0 && want > (unsigned)max) {
        snprintf(err, errlen, "this host's KVM allows at most %d vCPUs", max);
        return -1;
    }
    if (kvm_ioctl(&vm->kvm, vm->kvm_fd, KVM_CHECK_EXTENSION, (void *)KVM_CAP_IMMEDIATE_EXIT) <= 0) {
        snprintf(err, errlen, "this host's KVM lacks KVM_CAP_IMMEDIATE_EXIT");
        return -1;
    }
    /* The backend creates a VM of its type (none: the default type). */
    return tee_vm_create(&vm->kvm, vm->kvm_fd, &vm->cfg, &vm->mem, &vm->tee, &vm->vm_fd, err,
                         errlen);
}

static int vm_setup_memory(struct vm *vm, char *err, size_t errlen)
{
    if (gm_init_pages(&vm->mem, vm->cfg.memory, vm->cfg.hugepages, vm->cfg.hugepage_size, err,
                      errlen) < 0)
        return -1;
    /* none: plain memslots; SNP/TDX: guest_memfd memslots, all private, plus the flash. This can
     * take seconds for a large guest, so a stop signal is held and checked between slots. */
    sigset_t saved;
    stop_signals_hold(&saved);
    int rc = tee_map_memory(vm->tee, err, errlen);
    stop_signals_release(&saved);
    if (rc < 0)
        return -1;
    /* A plain guest's --firmware: the image below 4 GiB (vmm/boot_firmware.c). */
    if (vm->cfg.firmware && !tee_boots_firmware(vm->tee))
        return boot_firmware_map(vm, err, errlen);
    return 0;
}

static int vm_setup_irqchip(struct vm *vm, char *err, size_t errlen)
{
    if (tee_owns_irqchip(vm->tee))
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
    /* CPU hot-plug: every vCPU up to max_vcpus is made now, before the measured launch and the
     * seccomp lockdown; those beyond the boot count stay inactive until vm.resize. */
    vm->cpu_hotplug = vm_vcpus_hotplug(&vm->cfg);
    unsigned n = vm->cpu_hotplug ? vm->cfg.max_cpus : vm->cfg.cpus;
    vm->vcpus = calloc(n, sizeof(*vm->vcpus));
    int rc = vm->vcpus ? 0 : -1;
    if (rc < 0)
        snprintf(err, errlen, "out of memory");
    for (unsigned i = 0; rc == 0 && i < n; i++) {
        vm->vcpus[i] = (struct vcpu){.vm = vm, .index = i, .fd = -1, .active = i < vm->cfg.cpus};
        vm->nr_vcpus++; /* counted before init, so a half-made vCPU is closed too */
        rc = vcpu_init(vm, &vm->vcpus[i], i, cpuid, err, errlen);
        if (rc == 0)
            rc = tee_add_vcpu(vm->tee, i, vm->vcpus[i].fd, err, errlen);
    }
    free(cpuid);
    return rc;
}

/* Every device of the configuration, kind by kind, in the order of the device table
 * (vmm/vm_devices.c). */
static int vm_attach_devices(struct vm *vm, char *err, size_t errlen)
{
    for (const struct vm_device_kind *k = vm_device_kinds; k->name; k++)
        if (k->attach && k->attach(vm, err, errlen) < 0)
            return -1;
    return 0;
}

/* ---- Steps of vm_boot. ---- */

/* The "none" backend's launch (tee_payload): kernel, initrd and command line into guest RAM, the
 * MP table, and vCPU 0's entry registers. */
static int vm_direct_boot(void *opaque, char *err, size_t errlen)
{
    struct vm *vm = opaque;
    if (vm->cfg.firmware) /* firmware boot: vCPU 0 stays in KVM's reset state (real mode, CS base
                           * 0xFFFF0000, IP 0xFFF0: the image's reset vector); the others wait
                           * for INIT-SIPI; the firmware fetches the kernel through fw_cfg */
        return 0;
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
    if (loader_load(&vm->mem, &req, &vm->boot, err, errlen) < 0 ||
        mptable_write(&vm->mem, vm->cfg.cpus, err, errlen) < 0)
        return -1;
    return vcpu_set_boot_state(&vm->vcpus[0], &vm->boot, err, errlen);
}

/* ---- Run control. ---- */

void vm_sync_init(struct vm *vm)
{
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC); /* vm_pause's deadline */
    pthread_mutex_init(&vm->lock, NULL);
    pthread_cond_init(&vm->cond, &attr);
    pthread_condattr_destroy(&attr);
}

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
    if (vm->msi) /* in-kernel or userspace (split irqchip) IOAPIC: vmm/msi.h */
        return vmm_msi_set_gsi(vm->msi, irq, level);
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

/* How long vm_pause waits for every vCPU to leave KVM_RUN and park. A vCPU thread never blocks
 * on guest- or client-controlled I/O, so this is only ever reached by a bug: fail, don't hang. */
#define VM_PAUSE_TIMEOUT_MS 2000

/* Waits (lock held) until every vCPU parked, the VM stops, or the deadline passes. */
static int vm_wait_parked(struct vm *vm)
{
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += VM_PAUSE_TIMEOUT_MS / 1000;
    until.tv_nsec += (VM_PAUSE_TIMEOUT_MS % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    while (vm->parked < vm->nr_vcpus && !atomic_load(&vm->stopping))
        if (pthread_cond_timedwait(&vm->cond, &vm->lock, &until) == ETIMEDOUT)
            break;
    return vm->parked == vm->nr_vcpus && !atomic_load(&vm->stopping) ? 0 : -1;
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
    int rc = vm_wait_parked(vm);
    bool stopping = atomic_load(&vm->stopping);
    if (rc < 0) { /* let any parked vCPU go again: the VM stays as it was */
        vm->paused = false;
        pthread_cond_broadcast(&vm->cond);
    }
    pthread_mutex_unlock(&vm->lock);
    if (rc < 0) {
        snprintf(err, errlen,
                 stopping ? "the VM stopped while it was being paused"
                          : "the vCPUs did not stop within %d ms",
                 VM_PAUSE_TIMEOUT_MS);
        return -1;
    }
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

/* ---- Hot-plug: vm_add_disk and vm_add_net live in vm_blknet.c. ---- */

int vm_remove_device(struct vm *vm, const char *id, char *err, size_t errlen)
{
    for (const struct vm_device_kind *k = vm_device_kinds; k->name; k++) {
        int rc = k->remove ? k->remove(vm, id, err, errlen) : 1;
        if (rc <= 0)
            return rc;
    }
    snprintf(err, errlen, "no device with id '%s'", id ? id : "");
    return -1;
}
