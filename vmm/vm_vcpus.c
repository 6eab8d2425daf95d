/* vm_vcpus.c: vCPU hot-plug of a running plain VM (vm.resize) through the ACPI CPU manager. */
#include <stdio.h>

#include "vmm/base/log.h"
#include "vmm/vm_acpi.h"
#include "vmm/vm_internal.h"

/* The model is Cloud Hypervisor's (vmm/src/cpu.rs: CpuManager::resize, activate_vcpus,
 * mark_vcpus_for_removal, AcpiCpuHotplugController::remove_vcpu), with one difference: every
 * KVM vCPU up to max_vcpus and its thread exist from vm_create / vm_boot on, so nothing is
 * created after the seccomp lockdown (the loop thread's filter allows no clone and no new vCPU
 * fd). A KVM vCPU cannot be destroyed; an inactive one is simply never run: its thread waits on
 * vm->cond in vcpu_may_run (vcpu.c), and a guest's INIT/SIPI to it stays pending in its local
 * APIC until it is added. The active vCPUs are always 0..n-1: only the highest are removed, and
 * nothing changes while a removal is pending. */

/* Not with --firmware: SeaBIOS and OVMF wake their APs with a broadcast INIT-SIPI-SIPI, which
 * KVM would leave pending in the local APIC of a vCPU made but not run, so a later hot-add would
 * start it at the firmware's stale SIPI vector inside the running OS (KVM processes pending
 * INIT/SIPI at the vCPU's next KVM_RUN: lapic.c kvm_apic_accept_events). A direct-booted Linux
 * starts each CPU with its own targeted INIT/SIPI. */
bool vm_vcpus_hotplug(const struct vm_config *cfg)
{
    return cfg->platform.tee == TEE_NONE && !cfg->firmware && cfg->max_cpus > 1;
}

/* Counts the active vCPUs; *removing: the first one the guest still has to eject, or -1. */
static unsigned count_active(struct vm *vm, int *removing)
{
    unsigned n = 0;
    *removing = -1;
    pthread_mutex_lock(&vm->lock);
    for (unsigned i = 0; i < vm->nr_vcpus; i++) {
        n += vm->vcpus[i].active;
        if (vm->vcpus[i].removing && *removing < 0)
            *removing = (int)i;
    }
    pthread_mutex_unlock(&vm->lock);
    return n;
}

/* Loop thread (vm_acpi.c's eject hand-off): the guest ran _EJ0 on vCPU `index` after cocoon
 * asked. Its thread leaves KVM_RUN and parks until a later vm.resize adds it again. */
static void vcpu_released(struct vm *vm, unsigned index)
{
    if (index == 0 || index >= vm->nr_vcpus)
        return;
    struct vcpu *v = &vm->vcpus[index];
    pthread_mutex_lock(&vm->lock);
    bool asked = v->removing;
    if (asked) {
        v->active = false;
        v->removing = false;
        v->ejects++;
    }
    pthread_mutex_unlock(&vm->lock);
    if (!asked) /* acpi_hotplug.c already refuses unasked ejects; never reached */
        return;
    vcpu_kick(v);
    log_info("vCPU %u ejected by the guest: parked (off KVM_RUN) until vm.resize adds it again",
             index);
}

/* Makes vCPUs from..to-1 active and announces them; the guest brings them online itself. */
static int add_vcpus(struct vm *vm, unsigned from, unsigned to, char *err, size_t errlen)
{
    for (unsigned i = from; i < to; i++) {
        /* Announced first: a vCPU the registers refused never runs. The guest's INIT/SIPI waits
         * in the vCPU's local APIC until its thread enters KVM_RUN below. */
        if (vm_acpi_cpu_plugged(vm, i) < 0) {
            snprintf(err, errlen, "the CPU hot-plug registers refused vCPU %u", i);
            return VM_RESIZE_FAILED;
        }
        struct vcpu *v = &vm->vcpus[i];
        pthread_mutex_lock(&vm->lock);
        v->active = true;
        bool reused = v->ejects > 0;
        pthread_cond_broadcast(&vm->cond); /* its thread leaves vcpu_may_run (unless paused) */
        pthread_mutex_unlock(&vm->lock);
        log_info("vCPU %u hot-added%s: waits for the guest's INIT/SIPI", i,
                 reused ? " (its parked KVM vCPU and thread reused)" : "");
    }
    return 0;
}

/* Marks vCPUs from..to-1 for removal and asks the guest to eject them. */
static int remove_vcpus(struct vm *vm, unsigned from, unsigned to, char *err, size_t errlen)
{
    for (unsigned i = to; i-- > from;) {
        pthread_mutex_lock(&vm->lock);
        vm->vcpus[i].removing = true;
        pthread_mutex_unlock(&vm->lock);
        if (vm_acpi_cpu_unplug_request(vm, i) < 0) {
            pthread_mutex_lock(&vm->lock);
            vm->vcpus[i].removing = false;
            pthread_mutex_unlock(&vm->lock);
            snprintf(err, errlen, "the CPU hot-plug registers refused to remove vCPU %u", i);
            return VM_RESIZE_FAILED;
        }
        log_info("asked the guest to offline and eject vCPU %u; it runs until the guest does", i);
    }
    return 0;
}

int vm_resize_vcpus(struct vm *vm, unsigned desired, char *err, size_t errlen)
{
    enum vm_state st = atomic_load(&vm->state);
    if (st != VM_STATE_RUNNING && st != VM_STATE_PAUSED) {
        snprintf(err, errlen, "the VM is not running");
        return VM_RESIZE_NOT_RUNNING;
    }
    if (!vm->cpu_hotplug || !vm->acpi) {
        if (vm->cfg.firmware)
            snprintf(err, errlen,
                     "no CPU hot-plug with a firmware boot (its broadcast INIT/SIPI would reach "
                     "the spare vCPUs): boot the kernel directly (payload.kernel, no firmware)");
        else
            snprintf(err, errlen,
                     "this VM was created without CPU hot-plug: set cpus.max_vcpus above 1 "
                     "(above boot_vcpus to add vCPUs) at vm.create");
        return VM_RESIZE_NO_HOTPLUG;
    }
    if (desired == 0 || desired > vm->nr_vcpus) {
        snprintf(err, errlen, "desired_vcpus %u is out of range (1..%u)", desired, vm->nr_vcpus);
        return VM_RESIZE_OUT_OF_RANGE;
    }
    static const struct vm_acpi_eject_ops ops = {.cpu_released = vcpu_released};
    vm_acpi_set_eject_ops(vm, &ops);
    int removing;
    unsigned present = count_active(vm, &removing);
    if (removing >= 0) {
        snprintf(err, errlen,
                 "vCPU %d is still being removed (the guest has not ejected it yet); retry later",
                 removing);
        return VM_RESIZE_PENDING;
    }
    if (desired > present)
        return add_vcpus(vm, present, desired, err, errlen);
    if (desired < present)
        return remove_vcpus(vm, desired, present, err, errlen);
    return 0;
}
