/* vm_owner.c: the VM's live configuration, its lifecycle table, the id rule and device edits. */
#include "vmm/vm_owner.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vmm/base/log.h"
#include "vmm/config_accept.h"

struct vm_owner {
    const struct vm_machine_ops *ops;
    void *machine;
    struct vm_owner_hooks hooks;
    enum vm_owner_state state;
    struct vm_config cfg;         /* the live configuration; valid when state != NOT_CREATED */
    unsigned next_disk, next_net; /* Cloud Hypervisor style ids: "_disk0", "_net1" */
    bool built;                   /* the machine holds a VM (booted, not yet destroyed) */
};

/* ---- The lifecycle, in one table. ---- */

#define NO   (-1) /* refused in this state */
#define LIVE (-2) /* not offered once the VM runs (no hot-plug of that kind) */
#define NC   VM_OWNER_NOT_CREATED
#define CR   VM_OWNER_CREATED
#define RU   VM_OWNER_RUNNING
#define PA   VM_OWNER_PAUSED
#define SD   VM_OWNER_SHUTDOWN

/* transitions[from][op]: the state op leads to. Edits (add/remove device, add-vsock, resize)
 * lead back to the same state. */
static const signed char transitions[VM_OWNER_NR_STATES][VM_OP_NR] = {
    /*     create boot pause resume shutdown delete stopped add_dev rm_dev vsock resize button */
    [NC] = {CR, NO, NO, NO, NO, NC, NO, NO, NO, NO, NO, NO},
    [CR] = {NO, RU, NO, NO, NO, NC, NO, CR, CR, CR, CR, NO},
    [RU] = {NO, NO, PA, NO, SD, NC, SD, RU, RU, LIVE, RU, RU},
    [PA] = {NO, NO, NO, RU, SD, NC, SD, PA, PA, LIVE, PA, NO},
    [SD] = {NO, RU, NO, NO, NO, NC, NO, NO, NO, NO, NO, NO},
};

int vm_owner_transition(enum vm_owner_state from, enum vm_owner_op op, enum vm_owner_state *to)
{
    if ((unsigned)from >= VM_OWNER_NR_STATES || (unsigned)op >= VM_OP_NR)
        return VM_OWNER_E_STATE;
    int next = transitions[from][op];
    if (next == LIVE)
        return VM_OWNER_E_UNSUPPORTED;
    if (next == NO)
        return from == VM_OWNER_NOT_CREATED ? VM_OWNER_E_NOT_CREATED : VM_OWNER_E_STATE;
    *to = (enum vm_owner_state)next;
    return 0;
}

const char *vm_owner_state_name(enum vm_owner_state s)
{
    static const char *const names[VM_OWNER_NR_STATES] = {[NC] = "NotCreated",
                                                          [CR] = "Created",
                                                          [RU] = "Running",
                                                          [PA] = "Paused",
                                                          [SD] = "Shutdown"};
    return (unsigned)s < VM_OWNER_NR_STATES ? names[s] : "Unknown";
}

int vm_owner_allows(const struct vm_owner *o, enum vm_owner_op op, char *err, size_t errlen)
{
    enum vm_owner_state to;
    int rc = vm_owner_transition(o->state, op, &to);
    if (rc == VM_OWNER_E_NOT_CREATED)
        snprintf(err, errlen, "the VM is not created");
    else if (rc == VM_OWNER_E_STATE && op == VM_OP_CREATE)
        snprintf(err, errlen, "a VM is already created (%s)", vm_owner_state_name(o->state));
    else if (rc == VM_OWNER_E_STATE)
        snprintf(err, errlen, "not allowed while the VM is %s", vm_owner_state_name(o->state));
    else if (rc == VM_OWNER_E_UNSUPPORTED && op == VM_OP_ADD_VSOCK)
        snprintf(err, errlen, "vsock hot-plug is not supported (add it before vm.boot)");
    else if (rc == VM_OWNER_E_UNSUPPORTED)
        snprintf(err, errlen, "not offered while the VM is %s", vm_owner_state_name(o->state));
    return rc;
}

/* ---- Configuration rules. ---- */

/* Gives a device without an id one in Cloud Hypervisor's style ("_disk0", "_net1"), free under
 * the one id rule (vm_config_id_in_use). */
static int assign_id(const struct vm_config *cfg, char **id, const char *prefix, unsigned *counter)
{
    if (*id)
        return 0;
    char buf[32];
    do
        snprintf(buf, sizeof(buf), "_%s%u", prefix, (*counter)++);
    while (vm_config_id_in_use(cfg, buf));
    *id = strdup(buf);
    return *id ? 0 : -1;
}

static int assign_all_ids(struct vm_owner *o)
{
    for (unsigned i = 0; i < o->cfg.nr_disks; i++)
        if (assign_id(&o->cfg, &o->cfg.disks[i].id, "disk", &o->next_disk) < 0)
            return -1;
    for (unsigned i = 0; i < o->cfg.nr_nets; i++)
        if (assign_id(&o->cfg, &o->cfg.nets[i].id, "net", &o->next_net) < 0)
            return -1;
    return 0;
}

/* The API socket's own path is not a vsock socket. */
static int check_reserved(const struct vm_owner *o, const struct vm_config *cfg, char *err,
                          size_t errlen)
{
    const char *reserved = o->hooks.reserved_socket;
    if (reserved && cfg->vsock.enabled && cfg->vsock.socket &&
        strcmp(reserved, cfg->vsock.socket) == 0) {
        snprintf(err, errlen, "vsock socket '%.200s' is the API socket's path; choose another",
                 reserved);
        return VM_OWNER_E_INVALID;
    }
    return 0;
}

/* The gate every configuration passes (vm_config_accept), plus the reserved socket path. */
static int accept_config(const struct vm_owner *o, const struct vm_config *cfg, char *err,
                         size_t errlen)
{
    if (vm_config_accept(cfg, err, errlen) < 0)
        return VM_OWNER_E_INVALID;
    return check_reserved(o, cfg, err, errlen);
}

bool vm_owner_is_confidential(const struct vm_owner *o)
{
    return o->state != VM_OWNER_NOT_CREATED && o->cfg.platform.tee != TEE_NONE;
}

const char *vm_owner_tee_name(const struct vm_owner *o)
{
    return o->cfg.platform.tee == TEE_TDX ? "tdx" : "sev_snp";
}

/* ---- Lifecycle. ---- */

struct vm_owner *vm_owner_new(const struct vm_machine_ops *ops, void *machine,
                              const struct vm_owner_hooks *hooks)
{
    struct vm_owner *o = calloc(1, sizeof(*o));
    if (!o)
        return NULL;
    o->ops = ops;
    o->machine = machine;
    if (hooks)
        o->hooks = *hooks;
    vm_config_init(&o->cfg);
    return o;
}

void vm_owner_free(struct vm_owner *o)
{
    if (!o)
        return;
    vm_owner_delete(o);
    vm_config_free(&o->cfg);
    free(o);
}

int vm_owner_create(struct vm_owner *o, struct vm_config *cfg, char *err, size_t errlen)
{
    int rc = vm_owner_allows(o, VM_OP_CREATE, err, errlen);
    if (rc == 0)
        rc = accept_config(o, cfg, err, errlen);
    if (rc < 0) {
        vm_config_free(cfg);
        return rc;
    }
    o->cfg = *cfg;
    vm_config_init(cfg);
    o->state = VM_OWNER_CREATED;
    if (assign_all_ids(o) < 0) {
        vm_owner_delete(o);
        snprintf(err, errlen, "out of memory");
        return VM_OWNER_E_FAILED;
    }
    log_info("VM created (%u vCPUs, %llu MiB%s%s)", o->cfg.cpus,
             (unsigned long long)(o->cfg.memory >> 20), vm_owner_is_confidential(o) ? ", " : "",
             vm_owner_is_confidential(o) ? vm_owner_tee_name(o) : "");
    return 0;
}

/* Destroys the machine's VM, if it has one. Devices finish closing on later loop turns (a disk
 * image stays registered and locked until its ring drained), so a VM is released as soon as it
 * stops, not when the next vm.boot needs its images. */
static void release_machine(struct vm_owner *o)
{
    if (o->built)
        o->ops->destroy(o->machine);
    o->built = false;
}

int vm_owner_boot(struct vm_owner *o, char *err, size_t errlen)
{
    int rc = vm_owner_allows(o, VM_OP_BOOT, err, errlen);
    if (rc < 0)
        return rc;
    release_machine(o);          /* the guest stopped by itself: its instance goes now */
    o->state = VM_OWNER_CREATED; /* no instance; the configuration remains */
    if (o->ops->boot(o->machine, &o->cfg, err, errlen) < 0)
        return VM_OWNER_E_FAILED;
    o->built = true;
    o->state = VM_OWNER_RUNNING;
    log_info("VM booted");
    return 0;
}

int vm_owner_pause(struct vm_owner *o, char *err, size_t errlen)
{
    int rc = vm_owner_allows(o, VM_OP_PAUSE, err, errlen);
    if (rc < 0)
        return rc;
    if (o->ops->pause(o->machine, err, errlen) < 0)
        return VM_OWNER_E_FAILED;
    o->state = VM_OWNER_PAUSED;
    return 0;
}

int vm_owner_resume(struct vm_owner *o, char *err, size_t errlen)
{
    int rc = vm_owner_allows(o, VM_OP_RESUME, err, errlen);
    if (rc < 0)
        return rc;
    if (o->ops->resume(o->machine, err, errlen) < 0)
        return VM_OWNER_E_FAILED;
    o->state = VM_OWNER_RUNNING;
    return 0;
}

int vm_owner_shutdown(struct vm_owner *o, char *err, size_t errlen)
{
    int rc = vm_owner_allows(o, VM_OP_SHUTDOWN, err, errlen);
    if (rc < 0)
        return rc;
    o->state = VM_OWNER_SHUTDOWN; /* first, so the stop report is seen as expected */
    o->ops->shutdown(o->machine);
    release_machine(o); /* CH: vm.shutdown leaves the configuration only */
    return 0;
}

void vm_owner_delete(struct vm_owner *o)
{
    if (o->state == VM_OWNER_NOT_CREATED)
        return;
    enum vm_owner_state was = o->state;
    o->state = VM_OWNER_SHUTDOWN; /* a stop report from here on is expected */
    if (was == VM_OWNER_RUNNING || was == VM_OWNER_PAUSED)
        o->ops->shutdown(o->machine);
    release_machine(o);
    vm_config_free(&o->cfg);
    o->state = VM_OWNER_NOT_CREATED;
}

void vm_owner_guest_stopped(struct vm_owner *o, enum vm_exit_reason reason, int status)
{
    enum vm_owner_state to;
    if (vm_owner_transition(o->state, VM_OP_GUEST_STOPPED, &to) < 0)
        return; /* stopped on request (vm.shutdown, vm.delete) */
    o->state = to;
    log_info("the guest stopped (reason %d, status %d)", (int)reason, status);
    if (o->hooks.guest_stopped)
        o->hooks.guest_stopped(o->hooks.opaque, reason, status);
}

/* ---- Devices: the configuration first, then the running machine. ---- */

/* The checks a new device passes before it joins the configuration: the state allows it, its id
 * is free, there is a free slot; then it gets an id if it has none. */
static int admit_device(struct vm_owner *o, char **id, const char *prefix, unsigned *counter,
                        unsigned count, unsigned max, const char *plural, char *err, size_t errlen)
{
    int rc = vm_owner_allows(o, VM_OP_ADD_DEVICE, err, errlen);
    if (rc < 0)
        return rc;
    if (vm_config_id_in_use(&o->cfg, *id)) {
        snprintf(err, errlen, "id '%.64s' is already in use", *id);
        return VM_OWNER_E_ID_IN_USE;
    }
    if (count >= max) {
        snprintf(err, errlen, "at most %u %s", max, plural);
        return VM_OWNER_E_INVALID;
    }
    if (assign_id(&o->cfg, id, prefix, counter) < 0) {
        snprintf(err, errlen, "out of memory");
        return VM_OWNER_E_FAILED;
    }
    return 0;
}

static int accept_added_device(const struct vm_owner *o, const struct disk_config *disk,
                               const struct net_config *net, char *err, size_t errlen)
{
    if (o->state == VM_OWNER_CREATED)
        return accept_config(o, &o->cfg, err, errlen);
    if (vm_config_accept_device(&o->cfg, disk, net, err, errlen) < 0)
        return VM_OWNER_E_INVALID;
    return check_reserved(o, &o->cfg, err, errlen);
}

/* The device just appended (disk or net, the other NULL): before boot validated with the rest
 * (the same gate as vm.create); on a running VM the rules over the whole configuration and the
 * new device's own host checks (vm_config_accept_device), then hot-plugged. Returns 0, or the
 * error after `drop` took it out again. */
static int
commit_device(struct vm_owner *o, const struct disk_config *disk, const struct net_config *net,
              int (*plug)(struct vm_owner *o, char *bdf, size_t bdflen, char *err, size_t errlen),
              void (*drop)(struct vm_owner *o), char *bdf, size_t bdflen, char *err, size_t errlen)
{
    int rc = accept_added_device(o, disk, net, err, errlen);
    if (rc == 0 && o->state != VM_OWNER_CREATED && plug(o, bdf, bdflen, err, errlen) < 0)
        rc = VM_OWNER_E_FAILED;
    if (rc < 0)
        drop(o);
    return rc;
}

static int plug_disk(struct vm_owner *o, char *bdf, size_t bdflen, char *err, size_t errlen)
{
    return o->ops->add_disk(o->machine, &o->cfg.disks[o->cfg.nr_disks - 1], bdf, bdflen, err,
                            errlen);
}

static void drop_disk(struct vm_owner *o)
{
    disk_config_clear(&o->cfg.disks[--o->cfg.nr_disks]);
}

int vm_owner_add_disk(struct vm_owner *o, struct disk_config *disk, char *bdf, size_t bdflen,
                      const char **id, char *err, size_t errlen)
{
    if (bdflen)
        bdf[0] = '\0';
    int rc = admit_device(o, &disk->id, "disk", &o->next_disk, o->cfg.nr_disks, CFG_MAX_DISKS,
                          "disks", err, errlen);
    if (rc < 0) {
        disk_config_clear(disk);
        return rc;
    }
    o->cfg.disks[o->cfg.nr_disks++] = *disk;
    memset(disk, 0, sizeof(*disk));
    rc = commit_device(o, &o->cfg.disks[o->cfg.nr_disks - 1], NULL, plug_disk, drop_disk, bdf,
                       bdflen, err, errlen);
    if (rc == 0)
        *id = o->cfg.disks[o->cfg.nr_disks - 1].id;
    return rc;
}

static int plug_net(struct vm_owner *o, char *bdf, size_t bdflen, char *err, size_t errlen)
{
    return o->ops->add_net(o->machine, &o->cfg.nets[o->cfg.nr_nets - 1], bdf, bdflen, err, errlen);
}

static void drop_net(struct vm_owner *o)
{
    net_config_clear(&o->cfg.nets[--o->cfg.nr_nets]);
}

int vm_owner_add_net(struct vm_owner *o, struct net_config *net, char *bdf, size_t bdflen,
                     const char **id, char *err, size_t errlen)
{
    if (bdflen)
        bdf[0] = '\0';
    int rc = admit_device(o, &net->id, "net", &o->next_net, o->cfg.nr_nets, CFG_MAX_NETS,
                          "interfaces", err, errlen);
    if (rc < 0) {
        net_config_clear(net);
        return rc;
    }
    o->cfg.nets[o->cfg.nr_nets++] = *net;
    memset(net, 0, sizeof(*net));
    net->fd = -1;
    rc = commit_device(o, NULL, &o->cfg.nets[o->cfg.nr_nets - 1], plug_net, drop_net, bdf, bdflen,
                       err, errlen);
    if (rc == 0)
        *id = o->cfg.nets[o->cfg.nr_nets - 1].id;
    return rc;
}

int vm_owner_add_vsock(struct vm_owner *o, struct vsock_config *vsock, char *err, size_t errlen)
{
    int rc = vm_owner_allows(o, VM_OP_ADD_VSOCK, err, errlen);
    if (rc == 0 && o->cfg.vsock.enabled) {
        snprintf(err, errlen, "the VM already has a vsock device");
        rc = VM_OWNER_E_STATE;
    }
    if (rc == 0 && vm_config_id_in_use(&o->cfg, vsock->id)) {
        snprintf(err, errlen, "id '%.64s' is already in use", vsock->id);
        rc = VM_OWNER_E_ID_IN_USE;
    }
    if (rc < 0) {
        vsock_config_clear(vsock);
        return rc;
    }
    o->cfg.vsock = *vsock;
    memset(vsock, 0, sizeof(*vsock));
    rc = accept_config(o, &o->cfg, err, errlen);
    if (rc < 0)
        vsock_config_clear(&o->cfg.vsock);
    return rc;
}

int vm_owner_remove_device(struct vm_owner *o, const char *id, char *err, size_t errlen)
{
    int rc = vm_owner_allows(o, VM_OP_REMOVE_DEVICE, err, errlen);
    if (rc < 0)
        return rc;
    bool is_vsock = o->cfg.vsock.enabled && o->cfg.vsock.id && strcmp(o->cfg.vsock.id, id) == 0;
    if (is_vsock || !vm_config_id_in_use(&o->cfg, id)) {
        snprintf(err, errlen, "no removable device with id '%.64s'", id);
        return VM_OWNER_E_NO_DEVICE;
    }
    if (o->state != VM_OWNER_CREATED && o->ops->remove_device(o->machine, id, err, errlen) < 0)
        return VM_OWNER_E_FAILED;
    vm_config_remove_device(&o->cfg, id); /* so a later vm.boot does not bring it back */
    return 0;
}

/* The new size as a configuration (before boot only), checked by the same gate. */
static int apply_size(struct vm_owner *o, bool vchange, unsigned vcpus, bool mchange, uint64_t ram,
                      char *err, size_t errlen)
{
    unsigned old_cpus = o->cfg.cpus;
    uint64_t old_mem = o->cfg.memory;
    if (vchange)
        o->cfg.cpus = vcpus;
    if (mchange)
        o->cfg.memory = ram;
    if (vm_config_accept(&o->cfg, err, errlen) < 0) {
        o->cfg.cpus = old_cpus;
        o->cfg.memory = old_mem;
        return VM_OWNER_E_INVALID;
    }
    return 0;
}

/* The running (or paused) machine: vCPU hot-plug only; the new count becomes the
 * configuration's boot_vcpus once the machine took it (Cloud Hypervisor's Vm::resize). */
static int resize_running(struct vm_owner *o, bool vchange, unsigned vcpus, bool mchange, char *err,
                          size_t errlen)
{
    if (mchange) {
        snprintf(err, errlen,
                 "cocoon has no memory hot-plug; size the memory at vm.create "
                 "(Kata: static_sandbox_resource_mgmt=true)");
        return VM_OWNER_E_UNSUPPORTED;
    }
    if (!vchange)
        return 0;
    if (!o->ops->resize_vcpus) {
        snprintf(err, errlen, "cocoon has no vCPU hot-plug here; size the VM at vm.create");
        return VM_OWNER_E_UNSUPPORTED;
    }
    int rc = o->ops->resize_vcpus(o->machine, vcpus, err, errlen);
    if (rc == VM_OWNER_E_STATE || rc == VM_OWNER_E_BUSY || rc == VM_OWNER_E_INVALID)
        return rc;
    if (rc < 0)
        return VM_OWNER_E_FAILED;
    log_info("vm.resize: %u vCPUs (was %u)", vcpus, o->cfg.cpus);
    o->cfg.cpus = vcpus;
    return 0;
}

int vm_owner_resize(struct vm_owner *o, const struct vm_owner_resize *rq, char *err, size_t errlen)
{
    int rc = vm_owner_allows(o, VM_OP_RESIZE, err, errlen);
    if (rc < 0)
        return rc;
    unsigned max = o->cfg.max_cpus ? o->cfg.max_cpus : o->cfg.cpus;
    if (rq->vcpus_set && (rq->vcpus == 0 || rq->vcpus > max)) {
        snprintf(err, errlen, "desired_vcpus %llu is out of range (1..%u)",
                 (unsigned long long)rq->vcpus, max);
        return VM_OWNER_E_INVALID;
    }
    if (rq->ram_set && (rq->ram < CFG_MIN_MEMORY || rq->ram > CFG_MAX_MEMORY || rq->ram % 4096)) {
        snprintf(err, errlen, "desired_ram %llu is not a valid memory size",
                 (unsigned long long)rq->ram);
        return VM_OWNER_E_INVALID;
    }
    if (rq->balloon_set && rq->balloon) {
        snprintf(err, errlen, "cocoon has no balloon device");
        return VM_OWNER_E_UNSUPPORTED;
    }
    bool vchange = rq->vcpus_set && rq->vcpus != o->cfg.cpus;
    bool mchange = rq->ram_set && rq->ram != o->cfg.memory;
    if (!vchange && !mchange)
        return 0; /* Kata resizes to the current size on every container */
    if (vm_owner_is_confidential(o)) {
        snprintf(err, errlen,
                 "refused for a confidential guest (%s): vCPU and memory resizing would change "
                 "the launch-measured machine",
                 vm_owner_tee_name(o));
        return VM_OWNER_E_CONFIDENTIAL;
    }
    if (o->state != VM_OWNER_CREATED)
        return resize_running(o, vchange, (unsigned)rq->vcpus, mchange, err, errlen);
    /* Not booted yet: the new size simply becomes the configuration (as in Cloud Hypervisor). */
    return apply_size(o, vchange, (unsigned)rq->vcpus, mchange, rq->ram, err, errlen);
}

int vm_owner_power_button(struct vm_owner *o, char *err, size_t errlen)
{
    int rc = vm_owner_allows(o, VM_OP_POWER_BUTTON, err, errlen);
    if (rc < 0)
        return rc;
    if (!o->ops->power_button) {
        snprintf(err, errlen, "not supported by cocoon");
        return VM_OWNER_E_UNSUPPORTED;
    }
    return o->ops->power_button(o->machine, err, errlen) < 0 ? VM_OWNER_E_STATE : 0;
}

enum vm_owner_state vm_owner_state(const struct vm_owner *o)
{
    return o->state;
}

const struct vm_config *vm_owner_config(const struct vm_owner *o)
{
    return o->state == VM_OWNER_NOT_CREATED ? NULL : &o->cfg;
}
