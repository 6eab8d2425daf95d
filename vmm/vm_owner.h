/* vm_owner.h: the one owner of the VM's live configuration and lifecycle state, over a machine. */
#ifndef COCOON_VM_OWNER_H
#define COCOON_VM_OWNER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vmm/base/config.h"
#include "vmm/vm.h"

/* The lifecycle as Cloud Hypervisor's API shows it: NOT_CREATED until vm.create (and after
 * vm.delete); CREATED holds only the configuration; vm.boot builds and starts the machine;
 * SHUTDOWN keeps the configuration and may boot again. */
enum vm_owner_state {
    VM_OWNER_NOT_CREATED = 0,
    VM_OWNER_CREATED,
    VM_OWNER_RUNNING,
    VM_OWNER_PAUSED,
    VM_OWNER_SHUTDOWN,
    VM_OWNER_NR_STATES
};

/* What can be asked of the owner (or happen to the guest). */
enum vm_owner_op {
    VM_OP_CREATE = 0,
    VM_OP_BOOT,
    VM_OP_PAUSE,
    VM_OP_RESUME,
    VM_OP_SHUTDOWN,
    VM_OP_DELETE,
    VM_OP_GUEST_STOPPED, /* the guest stopped by itself */
    VM_OP_ADD_DEVICE,    /* disk or net: a config edit, plus hot-plug while it runs */
    VM_OP_REMOVE_DEVICE,
    VM_OP_ADD_VSOCK,    /* a config edit only: no vsock hot-plug */
    VM_OP_RESIZE,       /* vCPU hot-plug while it runs (plain guests); memory: a config edit */
    VM_OP_POWER_BUTTON, /* an ACPI power-button event to the running guest */
    VM_OP_NR
};

/* Why a request was refused (negative return values); the API maps each to one HTTP status. */
enum vm_owner_error {
    VM_OWNER_E_NOT_CREATED = -1,  /* no VM (404) */
    VM_OWNER_E_STATE = -2,        /* not allowed in the current state (409) */
    VM_OWNER_E_UNSUPPORTED = -3,  /* cocoon does not offer it (501) */
    VM_OWNER_E_INVALID = -4,      /* the request or the configuration it makes is invalid (400) */
    VM_OWNER_E_ID_IN_USE = -5,    /* another device has that id (409) */
    VM_OWNER_E_NO_DEVICE = -6,    /* no removable device has that id (404) */
    VM_OWNER_E_CONFIDENTIAL = -7, /* refused to keep a confidential guest's launch intact (403) */
    VM_OWNER_E_FAILED = -8,       /* the machine failed, or out of memory (500) */
    VM_OWNER_E_BUSY = -9,         /* the guest has not finished the last change yet (429) */
};

/* The machine the owner drives: the real one (vmm/vm_machine.h) maps each call onto vmm/vm.h;
 * unit tests plug in a fake. All calls happen on the loop thread. cfg/disk/net are borrowed for
 * the call only. Error paths fill err with one line. */
struct vm_machine_ops {
    /* Creates the VM from a validated config and starts it. */
    int (*boot)(void *ctx, const struct vm_config *cfg, char *err, size_t errlen);
    int (*pause)(void *ctx, char *err, size_t errlen);
    int (*resume)(void *ctx, char *err, size_t errlen);
    /* Stops the guest (vCPUs joined); the VM stays until destroy. */
    void (*shutdown)(void *ctx);
    /* Releases the VM; a no-op when there is none. */
    void (*destroy)(void *ctx);
    /* Hot-plug into the running VM; bdf receives "0000:00:DD.0". */
    int (*add_disk)(void *ctx, const struct disk_config *disk, char *bdf, size_t bdflen, char *err,
                    size_t errlen);
    int (*add_net)(void *ctx, const struct net_config *net, char *bdf, size_t bdflen, char *err,
                   size_t errlen);
    int (*remove_device)(void *ctx, const char *id, char *err, size_t errlen);
    /* Presses the guest's ACPI power button; NULL when the machine has none (then 501). */
    int (*power_button)(void *ctx, char *err, size_t errlen);
    /* vm.resize of the running (or paused) VM's vCPUs to `desired` (1..max_vcpus, checked).
     * Returns 0 (the guest follows later), VM_OWNER_E_STATE (created without CPU hot-plug),
     * VM_OWNER_E_INVALID (beyond what the machine has), VM_OWNER_E_BUSY (a removal the guest has
     * not finished) or VM_OWNER_E_FAILED. NULL: no vCPU hot-plug (then 501). */
    int (*resize_vcpus)(void *ctx, unsigned desired, char *err, size_t errlen);
};

struct vm_owner_hooks {
    /* The guest stopped by itself while running or paused (not on a requested shutdown). */
    void (*guest_stopped)(void *opaque, enum vm_exit_reason reason, int status);
    void *opaque;
    /* A path no vsock socket may take (the API's control socket: its boot would replace the
     * socket the request came in on); NULL for none. Borrowed for the owner's life. */
    const char *reserved_socket;
};

/* vm.resize's request: each field only when its _set is true. */
struct vm_owner_resize {
    bool vcpus_set, ram_set, balloon_set;
    uint64_t vcpus, ram, balloon;
};

struct vm_owner;

/* An owner with no VM, driving ops/machine; hooks copied (may be NULL). NULL when out of memory. */
struct vm_owner *vm_owner_new(const struct vm_machine_ops *ops, void *machine,
                              const struct vm_owner_hooks *hooks);

/* Stops and destroys any VM, forgets the configuration, frees the owner. NULL is fine. */
void vm_owner_free(struct vm_owner *o);

/* The lifecycle table: the state `op` leads to from `from` (edits lead back to `from`). Returns
 * 0, or VM_OWNER_E_NOT_CREATED / _E_STATE / _E_UNSUPPORTED when op is refused there. */
int vm_owner_transition(enum vm_owner_state from, enum vm_owner_op op, enum vm_owner_state *to);

/* Whether op is allowed now: 0, or the refusal with one line in err. */
int vm_owner_allows(const struct vm_owner *o, enum vm_owner_op op, char *err, size_t errlen);

/* Every call below returns 0 or a vm_owner_error with one line in err. */

/* vm.create: takes *cfg (left empty), validates it (vm_config_accept) and keeps it; devices
 * without an id get one ("_disk0", "_net1"). No KVM resource is made. */
int vm_owner_create(struct vm_owner *o, struct vm_config *cfg, char *err, size_t errlen);

/* vm.boot: builds and starts the machine from the configuration (from SHUTDOWN the old instance
 * is released first). */
int vm_owner_boot(struct vm_owner *o, char *err, size_t errlen);
int vm_owner_pause(struct vm_owner *o, char *err, size_t errlen);
int vm_owner_resume(struct vm_owner *o, char *err, size_t errlen);
/* vm.shutdown: stops the guest; the configuration stays and vm.boot may boot it again. */
int vm_owner_shutdown(struct vm_owner *o, char *err, size_t errlen);
/* vm.delete: stops and releases any machine and forgets the configuration. Always succeeds. */
void vm_owner_delete(struct vm_owner *o);

/* The machine reports that the guest stopped on its own (loop thread). */
void vm_owner_guest_stopped(struct vm_owner *o, enum vm_exit_reason reason, int status);

/* vm.add-disk / vm.add-net: takes *disk / *net (left empty, fd -1); the id must be free, the
 * result must pass vm_config_accept. Before boot the device joins the configuration (bdf ""); while
 * running it is also hot-plugged (bdf set). *id points at the device's id in the configuration
 * (valid until the next edit). */
int vm_owner_add_disk(struct vm_owner *o, struct disk_config *disk, char *bdf, size_t bdflen,
                      const char **id, char *err, size_t errlen);
int vm_owner_add_net(struct vm_owner *o, struct net_config *net, char *bdf, size_t bdflen,
                     const char **id, char *err, size_t errlen);

/* vm.add-vsock: takes *vsock (left empty); before boot only. */
int vm_owner_add_vsock(struct vm_owner *o, struct vsock_config *vsock, char *err, size_t errlen);

/* vm.remove-device: the disk or net with this id leaves the running VM (if it runs) and the
 * configuration, so a later boot does not bring it back. */
int vm_owner_remove_device(struct vm_owner *o, const char *id, char *err, size_t errlen);

/* vm.resize: a new size before boot; the current size at any time is accepted as a no-op.
 * While the VM runs or is paused: desired_vcpus hot-plugs vCPUs of a plain guest (resize_vcpus)
 * and becomes the configuration's boot_vcpus, as in Cloud Hypervisor (vm.info shows it and the
 * next vm.boot uses it); a confidential guest refuses with VM_OWNER_E_CONFIDENTIAL; a memory
 * change is VM_OWNER_E_UNSUPPORTED (no memory hot-plug) and leaves the vCPUs alone. */
int vm_owner_resize(struct vm_owner *o, const struct vm_owner_resize *rq, char *err, size_t errlen);

/* vm.power-button: the running guest gets the event and decides (it stays Running). A machine
 * that cannot raise it: VM_OWNER_E_STATE; one without the op: VM_OWNER_E_UNSUPPORTED. */
int vm_owner_power_button(struct vm_owner *o, char *err, size_t errlen);

enum vm_owner_state vm_owner_state(const struct vm_owner *o);

/* The live configuration (NULL when NOT_CREATED). */
const struct vm_config *vm_owner_config(const struct vm_owner *o);

/* Whether the VM is a confidential guest (SEV-SNP or TDX); its name ("sev_snp", "tdx"). */
bool vm_owner_is_confidential(const struct vm_owner *o);
const char *vm_owner_tee_name(const struct vm_owner *o);

/* "NotCreated", "Created", "Running", "Paused", "Shutdown". */
const char *vm_owner_state_name(enum vm_owner_state s);

#endif
