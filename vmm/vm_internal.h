/* vm_internal.h: the inside of a struct vm, for vmm/ code that attaches devices or runs vCPUs. */
#ifndef COCOON_VM_INTERNAL_H
#define COCOON_VM_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <uv.h>

#include "vmm/base/bus.h"
#include "vmm/base/kvm_sys.h"
#include "vmm/loader.h"
#include "vmm/base/memory.h"
#include "vmm/vm.h"

struct kvm_run;
struct kvm_cpuid2;
struct vmm_msi;
struct pci_root;
struct tee_vm;
struct vm_acpi;
struct fw_cfg;
struct q35;

/* One vCPU: its fd, the shared kvm_run page, and the thread blocked in KVM_RUN. */
struct vcpu {
    struct vm *vm;
    unsigned index; /* also its APIC ID */
    int fd;
    struct kvm_run *run;
    size_t run_size;
    pthread_t thread;
    bool started; /* guarded by vm->lock, like exited */
    bool exited;
    /* CPU hot-plug (vm_vcpus.c), guarded by vm->lock. A vCPU that is not active is present in
     * KVM but not to the guest: its thread waits on vm->cond (counted in vm->parked), never in
     * KVM_RUN. removing: cocoon asked the guest to eject it and it has not yet. */
    bool active;
    bool removing;
    unsigned ejects; /* times the guest ejected it (a later add reuses it) */
};

/* A device attached in vm_attach_devices(): torn down in reverse order by vm_destroy(). */
struct vm_device {
    const char *name;
    void (*destroy)(void *opaque);
    void *opaque;
};

#define VM_MAX_DEVICES 48 /* platform + firmware devices, 16 disks, 8 nets */

/* ISA IRQ of the 16550 console (COM1). */
#define VM_IRQ_COM1 4

struct vm {
    struct vm_config cfg; /* private deep copy: what this instance was built from */
    uv_loop_t *loop;      /* the main thread's loop: device back ends, ioeventfd polls */
    struct kvm_handle kvm;
    int kvm_fd;
    int vm_fd;
    struct guest_mem mem;
    struct bus *pio;      /* port I/O traps */
    struct bus *mmio;     /* MMIO traps (addresses outside RAM) */
    struct vmm_msi *msi;  /* MSI routes, irqfds, ioeventfds (vm_pci.c) */
    struct pci_root *pci; /* PCI segment 0 every virtio device attaches to (vm_pci.c) */
    struct tee_vm *tee;   /* SEV-SNP/TDX backend (tee/tee.h); NULL for a plain VM */
    struct vm_acpi *acpi; /* ACPI tables and registers (vm_acpi.c); NULL without ACPI */

    struct fw_cfg *fw_cfg; /* --firmware's fw_cfg (boot_firmware.c); NULL without */
    struct q35 *q35;       /* the chipset registers (vm_pci.c) */

    struct vcpu *vcpus;
    unsigned nr_vcpus; /* KVM vCPUs made at vm_create: max_vcpus with CPU hot-plug, else cpus */
    bool cpu_hotplug;  /* vm_vcpus_hotplug(cfg): vm.resize may change the active count */
    struct boot_entry boot;
    struct vm_device devices[VM_MAX_DEVICES];
    unsigned nr_devices;
    int console_fd; /* owned file for --serial file=, else -1 */

    /* Run control, shared with the vCPU threads. */
    _Atomic int state; /* enum vm_state */
    atomic_bool stopping;
    pthread_mutex_t lock; /* guards the fields below */
    pthread_cond_t cond;
    bool paused;
    unsigned parked;
    enum vm_exit_reason exit_reason;
    int exit_status;
    bool exit_delivered;

    uv_async_t *exit_async; /* wakes the loop thread when the guest stops */
    vm_exit_cb on_exit;
    void *on_exit_opaque;
};

/* vm_create with an explicit KVM table (tests put a simulated KVM under it). */
int vm_create_with(const struct kvm_handle *kvm, const struct vm_config *cfg, uv_loop_t *loop,
                   vm_exit_cb on_exit, void *opaque, struct vm **out, char *err, size_t errlen);

/* Initialises vm->lock and vm->cond (the condition variable waits on CLOCK_MONOTONIC). */
void vm_sync_init(struct vm *vm);

/* Records a device for teardown (reverse order). Returns 0, or -1 when the table is full. */
int vm_add_device(struct vm *vm, const char *name, void (*destroy)(void *), void *opaque);

/* Drives an ISA interrupt line of the in-kernel PIC/IOAPIC (KVM_IRQ_LINE). Any thread. */
int vm_irq_line(struct vm *vm, unsigned irq, bool level);

/* vm_vcpus.c: whether a configuration gets CPU hot-plug: a direct-booted plain guest whose
 * max_vcpus is set above 1. Its KVM vCPUs up to max_vcpus are then made at vm_create, and those
 * beyond boot_vcpus wait (inactive) until vm.resize adds them. */
bool vm_vcpus_hotplug(const struct vm_config *cfg);

/* vcpu.c: creation, boot register state, the KVM_RUN thread and exit dispatch. */
int vcpu_init(struct vm *vm, struct vcpu *v, unsigned index, const struct kvm_cpuid2 *cpuid,
              char *err, size_t errlen);
int vcpu_set_boot_state(struct vcpu *v, const struct boot_entry *boot, char *err, size_t errlen);
int vcpu_start(struct vcpu *v, char *err, size_t errlen);
void vcpu_kick(struct vcpu *v); /* forces a return from KVM_RUN; any thread */
void vcpu_join(struct vcpu *v);
void vcpu_close(struct vcpu *v);

#endif
