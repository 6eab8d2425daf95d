/* router.c: CH-compatible routes, the Created/Running/Paused/Shutdown machine, confidential
 * refusals. */
#include "api/router.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api/json_config.h"
#include "devices/tap.h"
#include "version.h"
#include "vmm/config_accept.h"
#include "vmm/base/log.h"

#define API_PREFIX "/api/v1/"

struct api_router {
    const struct api_backend_ops *ops;
    void *backend;
    struct api_router_hooks hooks;
    enum api_vm_state state;
    struct vm_config cfg; /* valid when state != NONE */
    unsigned next_disk, next_net;
};

const char *api_vm_state_name(enum api_vm_state s)
{
    switch (s) {
    case API_VM_NONE:
        return "NotCreated";
    case API_VM_CREATED:
        return "Created";
    case API_VM_RUNNING:
        return "Running";
    case API_VM_PAUSED:
        return "Paused";
    case API_VM_SHUTDOWN:
        return "Shutdown";
    }
    return "Unknown";
}

/* ---- responses ---- */

static char *dump(json_t *j)
{
    char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    return s;
}

__attribute__((format(printf, 3, 4))) static void reply_error(struct api_response *resp, int status,
                                                              const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    resp->status = status;
    free(resp->body);
    resp->body = dump(json_pack("[s]", msg));
    log_info("api: %d: %s", status, msg);
}

static void reply(struct api_response *resp, int status, json_t *body)
{
    resp->status = status;
    free(resp->body);
    resp->body = body ? dump(body) : NULL;
}

/* ---- config helpers ---- */

static bool is_confidential(const struct api_router *r)
{
    return r->state != API_VM_NONE && r->cfg.platform.tee != TEE_NONE;
}

static const char *tee_name(const struct api_router *r)
{
    return r->cfg.platform.tee == TEE_TDX ? "tdx" : "sev_snp";
}

static bool id_in_use(const struct vm_config *cfg, const char *id)
{
    for (unsigned i = 0; i < cfg->nr_disks; i++)
        if (cfg->disks[i].id && strcmp(cfg->disks[i].id, id) == 0)
            return true;
    for (unsigned i = 0; i < cfg->nr_nets; i++)
        if (cfg->nets[i].id && strcmp(cfg->nets[i].id, id) == 0)
            return true;
    return cfg->vsock.enabled && cfg->vsock.id && strcmp(cfg->vsock.id, id) == 0;
}

/* Gives a device without an id one in Cloud Hypervisor's style ("_disk0", "_net1"). */
static int assign_id(struct vm_config *cfg, char **id, const char *prefix, unsigned *counter)
{
    if (*id)
        return 0;
    char buf[32];
    do
        snprintf(buf, sizeof(buf), "_%s%u", prefix, (*counter)++);
    while (id_in_use(cfg, buf));
    *id = strdup(buf);
    return *id ? 0 : -1;
}

static int assign_all_ids(struct api_router *r)
{
    for (unsigned i = 0; i < r->cfg.nr_disks; i++)
        if (assign_id(&r->cfg, &r->cfg.disks[i].id, "disk", &r->next_disk) < 0)
            return -1;
    for (unsigned i = 0; i < r->cfg.nr_nets; i++)
        if (assign_id(&r->cfg, &r->cfg.nets[i].id, "net", &r->next_net) < 0)
            return -1;
    return 0;
}

/* The configuration must not put the vsock socket on the control socket's path (its boot would
 * replace the socket this very request came in on). */
static int check_api_socket_clash(const struct api_router *r, const struct vm_config *cfg,
                                  char *err, size_t errlen)
{
    const char *api = r->hooks.api_socket_path;
    if (api && cfg->vsock.enabled && cfg->vsock.socket && strcmp(api, cfg->vsock.socket) == 0) {
        snprintf(err, errlen, "vsock socket '%.200s' is the API socket's path; choose another",
                 api);
        return -1;
    }
    return 0;
}

/* ---- state transitions ---- */

/* 404 when there is no VM; 409 when the VM is not in one of the allowed states. */
static bool require_state(struct api_router *r, struct api_response *resp, const char *route,
                          unsigned allowed_mask)
{
    if (r->state == API_VM_NONE) {
        reply_error(resp, 404, "%s: the VM is not created", route);
        return false;
    }
    if (!(allowed_mask & (1u << r->state))) {
        reply_error(resp, 409, "%s: not allowed while the VM is %s", route,
                    api_vm_state_name(r->state));
        return false;
    }
    return true;
}

#define S(x) (1u << API_VM_##x)

/* ---- routes ---- */

/* What this build supports, under Cloud Hypervisor's build-feature names (its feature_list()):
 * runtime-rs refuses a TDX sandbox when "tdx" is missing. Every cocoon build has KVM, the
 * SEV-SNP and TDX launches, and io_uring disks. */
static const char *const build_features[] = {"kvm", "io_uring", "sev_snp", "tdx"};

static void do_ping(struct api_router *r, struct api_request *req, struct api_response *resp)
{
    json_t *features = json_array();
    for (size_t i = 0; i < sizeof(build_features) / sizeof(build_features[0]); i++)
        json_array_append_new(features, json_string(build_features[i]));
    reply(resp, 200,
          json_pack("{s:s, s:s, s:i, s:o}", "build_version", COCOON_VERSION, "version",
                    COCOON_VERSION, "pid", (int)getpid(), "features", features));
}

static void after_vmm_shutdown(void *opaque)
{
    struct api_router *r = opaque;
    if (r->hooks.vmm_shutdown)
        r->hooks.vmm_shutdown(r->hooks.opaque);
}

static void do_vmm_shutdown(struct api_router *r, struct api_request *req,
                            struct api_response *resp)
{
    reply(resp, 204, NULL);
    resp->after_send = after_vmm_shutdown;
    resp->after_send_opaque = r;
}

static void do_create(struct api_router *r, struct api_request *req, struct api_response *resp)
{
    if (r->state != API_VM_NONE) {
        reply_error(resp, 409, "vm.create: a VM is already created (%s)",
                    api_vm_state_name(r->state));
        return;
    }
    struct vm_config cfg;
    char err[256];
    if (api_json_to_vm_config(req->body, req->body_len, &cfg, err, sizeof(err)) < 0) {
        reply_error(resp, 400, "vm.create: %s", err);
        return;
    }
    if (vm_config_accept(&cfg, err, sizeof(err)) < 0 ||
        check_api_socket_clash(r, &cfg, err, sizeof(err)) < 0) {
        vm_config_free(&cfg);
        reply_error(resp, 400, "vm.create: %s", err);
        return;
    }
    r->cfg = cfg;
    r->state = API_VM_CREATED;
    if (assign_all_ids(r) < 0) {
        api_router_teardown(r);
        reply_error(resp, 500, "vm.create: out of memory");
        return;
    }
    log_info("api: VM created (%u vCPUs, %llu MiB%s%s)", cfg.cpus,
             (unsigned long long)(cfg.memory >> 20), is_confidential(r) ? ", " : "",
             is_confidential(r) ? tee_name(r) : "");
    reply(resp, 204, NULL);
}

static void do_info(struct api_router *r, struct api_request *req, struct api_response *resp)
{
    if (r->state == API_VM_NONE) {
        reply_error(resp, 404, "vm.info: the VM is not created");
        return;
    }
    json_t *info = json_object();
    json_object_set_new(info, "config", api_vm_config_to_json(&r->cfg));
    json_object_set_new(info, "state", json_string(api_vm_state_name(r->state)));
    json_object_set_new(info, "memory_actual_size", json_integer((json_int_t)r->cfg.memory));
    json_object_set_new(info, "device_tree", json_object());
    reply(resp, 200, info);
}

static int boot_now(struct api_router *r, char *err, size_t errlen)
{
    if (r->state == API_VM_SHUTDOWN)
        r->ops->destroy(r->backend);
    if (r->ops->boot(r->backend, &r->cfg, err, errlen) < 0) {
        if (r->state == API_VM_SHUTDOWN)
            r->state = API_VM_CREATED; /* the old instance is gone; the config remains */
        return -1;
    }
    r->state = API_VM_RUNNING;
    return 0;
}

static void do_boot(struct api_router *r, struct api_request *req, struct api_response *resp)
{
    if (!require_state(r, resp, "vm.boot", S(CREATED) | S(SHUTDOWN)))
        return;
    char err[256] = "";
    if (boot_now(r, err, sizeof(err)) < 0) {
        reply_error(resp, 500, "vm.boot: %s", err);
        return;
    }
    log_info("api: VM booted");
    reply(resp, 204, NULL);
}

static void do_pause(struct api_router *r, struct api_request *req, struct api_response *resp)
{
    if (!require_state(r, resp, "vm.pause", S(RUNNING)))
        return;
    char err[256] = "";
    if (r->ops->pause(r->backend, err, sizeof(err)) < 0) {
        reply_error(resp, 500, "vm.pause: %s", err);
        return;
    }
    r->state = API_VM_PAUSED;
    reply(resp, 204, NULL);
}

static void do_resume(struct api_router *r, struct api_request *req, struct api_response *resp)
{
    if (!require_state(r, resp, "vm.resume", S(PAUSED)))
        return;
    char err[256] = "";
    if (r->ops->resume(r->backend, err, sizeof(err)) < 0) {
        reply_error(resp, 500, "vm.resume: %s", err);
        return;
    }
    r->state = API_VM_RUNNING;
    reply(resp, 204, NULL);
}

static void do_shutdown(struct api_router *r, struct api_request *req, struct api_response *resp)
{
    if (!require_state(r, resp, "vm.shutdown", S(RUNNING) | S(PAUSED)))
        return;
    r->state = API_VM_SHUTDOWN; /* first, so the exit callback sees an expected stop */
    r->ops->shutdown(r->backend);
    reply(resp, 204, NULL);
}

/* Cloud Hypervisor's vm.power-button: 204 once the event is raised; the guest decides. */
static void do_power_button(struct api_router *r, struct api_request *req,
                            struct api_response *resp)
{
    if (!require_state(r, resp, "vm.power-button", S(RUNNING)))
        return;
    char err[256] = "not supported by this backend";
    if (!r->ops->power_button || r->ops->power_button(r->backend, err, sizeof(err)) < 0) {
        reply_error(resp, 409, "vm.power-button: %s", err);
        return;
    }
    reply(resp, 204, NULL);
}

static void do_delete(struct api_router *r, struct api_request *req, struct api_response *resp)
{
    api_router_teardown(r);
    reply(resp, 204, NULL);
}

/* The checks a new device passes before it joins the config: its id is free (409), there is a
 * free slot (400); then it gets an id if it has none (500 when out of memory). */
static bool admit_device(struct api_router *r, struct api_response *resp, const char *route,
                         char **id, const char *prefix, unsigned *counter, unsigned count,
                         unsigned max, const char *plural)
{
    if (*id && id_in_use(&r->cfg, *id)) {
        reply_error(resp, 409, "%s: id '%.64s' is already in use", route, *id);
        return false;
    }
    if (count >= max) {
        reply_error(resp, 400, "%s: at most %u %s", route, max, plural);
        return false;
    }
    if (assign_id(&r->cfg, id, prefix, counter) < 0) {
        reply_error(resp, 500, "%s: out of memory", route);
        return false;
    }
    return true;
}

/* How one kind of device, just appended to the config, is plugged in or taken out again. */
struct device_kind {
    const char *route; /* "vm.add-disk" */
    const char *noun;  /* "disk" */
    /* Hot-plugs the last device of the config into the running VM. */
    int (*plug)(struct api_router *r, char *bdf, size_t bdflen, char *err, size_t errlen);
    /* Removes the last device of the config and releases it. */
    void (*drop)(struct api_router *r);
    const char *(*last_id)(const struct api_router *r);
};

/* The device just appended: validated with the rest (the same validator as vm.create), then
 * 204 before boot, or hot-plugged and 200 with its id and bdf. Any failure takes it out again. */
static void commit_device(struct api_router *r, const struct device_kind *k,
                          struct api_response *resp)
{
    char err[256] = "", bdf[32] = "";
    if (vm_config_accept(&r->cfg, err, sizeof(err)) < 0) {
        k->drop(r);
        reply_error(resp, 400, "%s: %s", k->route, err);
        return;
    }
    if (r->state == API_VM_CREATED) {
        reply(resp, 204, NULL);
        return;
    }
    if (k->plug(r, bdf, sizeof(bdf), err, sizeof(err)) < 0) {
        k->drop(r);
        reply_error(resp, 500, "%s: %s", k->route, err);
        return;
    }
    log_info("api: %s %s hot-added at %s", k->noun, k->last_id(r), bdf);
    reply(resp, 200, json_pack("{s:s, s:s}", "id", k->last_id(r), "bdf", bdf));
}

static int plug_disk(struct api_router *r, char *bdf, size_t bdflen, char *err, size_t errlen)
{
    return r->ops->add_disk(r->backend, &r->cfg.disks[r->cfg.nr_disks - 1], bdf, bdflen, err,
                            errlen);
}

static void drop_disk(struct api_router *r)
{
    api_disk_config_clear(&r->cfg.disks[--r->cfg.nr_disks]);
}

static const char *last_disk_id(const struct api_router *r)
{
    return r->cfg.disks[r->cfg.nr_disks - 1].id;
}

static const struct device_kind disk_kind = {"vm.add-disk", "disk", plug_disk, drop_disk,
                                             last_disk_id};

static void do_add_disk(struct api_router *r, struct api_request *req, struct api_response *resp)
{
    if (!require_state(r, resp, "vm.add-disk", S(CREATED) | S(RUNNING) | S(PAUSED)))
        return;
    struct disk_config d;
    char err[256] = "";
    if (api_json_to_disk(req->body, req->body_len, &d, err, sizeof(err)) < 0) {
        reply_error(resp, 400, "vm.add-disk: %s", err);
        return;
    }
    if (!admit_device(r, resp, "vm.add-disk", &d.id, "disk", &r->next_disk, r->cfg.nr_disks,
                      CFG_MAX_DISKS, "disks")) {
        api_disk_config_clear(&d);
        return;
    }
    r->cfg.disks[r->cfg.nr_disks++] = d;
    commit_device(r, &disk_kind, resp);
}

/* Moves the tap fd that came with the request into n (exactly one is accepted). */
static int take_tap_fd(struct api_request *req, struct net_config *n, char *err, size_t errlen)
{
    if (req->nfds > 1) {
        snprintf(err, errlen, "one tap fd per interface (multiqueue is not offered), got %u",
                 req->nfds);
        return -1;
    }
    if (req->nfds == 1 && n->tap) {
        snprintf(err, errlen, "give either a tap name or a tap fd, not both");
        return -1;
    }
    if (req->nfds == 0 && !n->tap) {
        snprintf(err, errlen, "needs a tap fd passed with SCM_RIGHTS (or a tap name)");
        return -1;
    }
    /* Checked here, not at vm.boot: a pipe or a file kept in the configuration would make every
     * later vm.boot fail, naming an fd number that is cocoon's, not the client's. */
    if (req->nfds == 1 &&
        tap_check_fd(req->fds[0], "the fd passed with SCM_RIGHTS", err, errlen) < 0)
        return -1;
    if (req->nfds == 1) {
        n->fd = req->fds[0];
        req->fds[0] = -1;
    }
    return 0;
}

static int plug_net(struct api_router *r, char *bdf, size_t bdflen, char *err, size_t errlen)
{
    return r->ops->add_net(r->backend, &r->cfg.nets[r->cfg.nr_nets - 1], bdf, bdflen, err, errlen);
}

static void drop_net(struct api_router *r)
{
    api_net_config_clear(&r->cfg.nets[--r->cfg.nr_nets]);
}

static const char *last_net_id(const struct api_router *r)
{
    return r->cfg.nets[r->cfg.nr_nets - 1].id;
}

static const struct device_kind net_kind = {"vm.add-net", "net", plug_net, drop_net, last_net_id};

static void do_add_net(struct api_router *r, struct api_request *req, struct api_response *resp)
{
    if (!require_state(r, resp, "vm.add-net", S(CREATED) | S(RUNNING) | S(PAUSED)))
        return;
    struct net_config n;
    char err[256] = "";
    if (api_json_to_net(req->body, req->body_len, &n, err, sizeof(err)) < 0) {
        reply_error(resp, 400, "vm.add-net: %s", err);
        return;
    }
    if (take_tap_fd(req, &n, err, sizeof(err)) < 0) {
        reply_error(resp, 400, "vm.add-net: %s", err);
        api_net_config_clear(&n);
        return;
    }
    if (!admit_device(r, resp, "vm.add-net", &n.id, "net", &r->next_net, r->cfg.nr_nets,
                      CFG_MAX_NETS, "interfaces")) {
        api_net_config_clear(&n);
        return;
    }
    r->cfg.nets[r->cfg.nr_nets++] = n;
    commit_device(r, &net_kind, resp);
}

/* Parses {"id": "..."} into a malloc'd string. */
static char *parse_id_body(struct api_request *req, char *err, size_t errlen)
{
    json_error_t jerr;
    json_t *root = json_loadb(req->body, req->body_len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root) {
        snprintf(err, errlen, "invalid JSON: %s", jerr.text);
        return NULL;
    }
    json_t *id = json_is_object(root) ? json_object_get(root, "id") : NULL;
    char *out = NULL;
    if (!json_is_string(id) || strlen(json_string_value(id)) != json_string_length(id) ||
        json_string_length(id) == 0)
        snprintf(err, errlen, "expected {\"id\": \"<device id>\"}");
    else if (!(out = strdup(json_string_value(id))))
        snprintf(err, errlen, "out of memory");
    json_decref(root);
    return out;
}

static void remove_from_config(struct vm_config *cfg, const char *id)
{
    for (unsigned i = 0; i < cfg->nr_disks; i++)
        if (cfg->disks[i].id && strcmp(cfg->disks[i].id, id) == 0) {
            api_disk_config_clear(&cfg->disks[i]);
            memmove(&cfg->disks[i], &cfg->disks[i + 1],
                    (cfg->nr_disks - i - 1) * sizeof(cfg->disks[0]));
            cfg->nr_disks--;
            memset(&cfg->disks[cfg->nr_disks], 0, sizeof(cfg->disks[0]));
            return;
        }
    for (unsigned i = 0; i < cfg->nr_nets; i++)
        if (cfg->nets[i].id && strcmp(cfg->nets[i].id, id) == 0) {
            api_net_config_clear(&cfg->nets[i]);
            memmove(&cfg->nets[i], &cfg->nets[i + 1],
                    (cfg->nr_nets - i - 1) * sizeof(cfg->nets[0]));
            cfg->nr_nets--;
            memset(&cfg->nets[cfg->nr_nets], 0, sizeof(cfg->nets[0]));
            cfg->nets[cfg->nr_nets].fd = -1;
            return;
        }
}

static void do_remove_device(struct api_router *r, struct api_request *req,
                             struct api_response *resp)
{
    if (!require_state(r, resp, "vm.remove-device", S(CREATED) | S(RUNNING) | S(PAUSED)))
        return;
    char err[256] = "";
    char *id = parse_id_body(req, err, sizeof(err));
    if (!id) {
        reply_error(resp, 400, "vm.remove-device: %s", err);
        return;
    }
    bool is_vsock = r->cfg.vsock.enabled && r->cfg.vsock.id && strcmp(r->cfg.vsock.id, id) == 0;
    if (!id_in_use(&r->cfg, id) || is_vsock) {
        reply_error(resp, 404, "vm.remove-device: no removable device with id '%.64s'", id);
        free(id);
        return;
    }
    if (r->state != API_VM_CREATED && r->ops->remove_device(r->backend, id, err, sizeof(err)) < 0) {
        reply_error(resp, 500, "vm.remove-device: %s", err);
        free(id);
        return;
    }
    remove_from_config(&r->cfg, id);
    free(id);
    reply(resp, 204, NULL);
}

static void do_add_vsock(struct api_router *r, struct api_request *req, struct api_response *resp)
{
    if (r->state == API_VM_RUNNING || r->state == API_VM_PAUSED) {
        reply_error(resp, 501,
                    "vm.add-vsock: vsock hot-plug is not supported (add it before "
                    "vm.boot)");
        return;
    }
    if (!require_state(r, resp, "vm.add-vsock", S(CREATED)))
        return;
    if (r->cfg.vsock.enabled) {
        reply_error(resp, 409, "vm.add-vsock: the VM already has a vsock device");
        return;
    }
    struct vsock_config v;
    char err[256] = "";
    if (api_json_to_vsock(req->body, req->body_len, &v, err, sizeof(err)) < 0) {
        reply_error(resp, 400, "vm.add-vsock: %s", err);
        return;
    }
    if (v.id && id_in_use(&r->cfg, v.id)) {
        reply_error(resp, 409, "vm.add-vsock: id '%.64s' is already in use", v.id);
        api_vsock_config_clear(&v);
        return;
    }
    r->cfg.vsock = v;
    if (vm_config_accept(&r->cfg, err, sizeof(err)) < 0 ||
        check_api_socket_clash(r, &r->cfg, err, sizeof(err)) < 0) {
        api_vsock_config_clear(&r->cfg.vsock);
        reply_error(resp, 400, "vm.add-vsock: %s", err);
        return;
    }
    reply(resp, 204, NULL);
}

/* Reads an optional non-negative integer field of the resize body. */
static int resize_field(json_t *root, const char *key, bool *set, uint64_t *out, char *err,
                        size_t errlen)
{
    json_t *v = json_object_get(root, key);
    *set = false;
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_integer(v) || json_integer_value(v) < 0) {
        snprintf(err, errlen, "%s: expected a non-negative integer", key);
        return -1;
    }
    *out = (uint64_t)json_integer_value(v);
    *set = true;
    return 0;
}

static void do_resize(struct api_router *r, struct api_request *req, struct api_response *resp)
{
    if (!require_state(r, resp, "vm.resize", S(CREATED) | S(RUNNING) | S(PAUSED)))
        return;
    json_error_t jerr;
    json_t *root = json_loadb(req->body, req->body_len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root || !json_is_object(root)) {
        json_decref(root);
        reply_error(resp, 400, "vm.resize: expected a JSON object");
        return;
    }
    bool vset, mset, bset;
    uint64_t vcpus = 0, ram = 0, balloon = 0;
    char err[256] = "";
    int rc = resize_field(root, "desired_vcpus", &vset, &vcpus, err, sizeof(err)) < 0 ||
                     resize_field(root, "desired_ram", &mset, &ram, err, sizeof(err)) < 0 ||
                     resize_field(root, "desired_balloon", &bset, &balloon, err, sizeof(err)) < 0
                 ? -1
                 : 0;
    json_decref(root);
    if (rc < 0) {
        reply_error(resp, 400, "vm.resize: %s", err);
        return;
    }
    unsigned max = r->cfg.max_cpus ? r->cfg.max_cpus : r->cfg.cpus;
    if (vset && (vcpus == 0 || vcpus > max)) {
        reply_error(resp, 400, "vm.resize: desired_vcpus %llu is out of range (1..%u)",
                    (unsigned long long)vcpus, max);
        return;
    }
    if (mset && (ram < CFG_MIN_MEMORY || ram > CFG_MAX_MEMORY || ram % 4096)) {
        reply_error(resp, 400, "vm.resize: desired_ram %llu is not a valid memory size",
                    (unsigned long long)ram);
        return;
    }
    if (bset && balloon) {
        reply_error(resp, 501, "vm.resize: cocoon has no balloon device");
        return;
    }
    bool vchange = vset && vcpus != r->cfg.cpus, mchange = mset && ram != r->cfg.memory;
    if (!vchange && !mchange) {
        reply(resp, 204, NULL); /* Kata resizes to the current size on every container */
        return;
    }
    if (is_confidential(r)) {
        reply_error(resp, 403,
                    "vm.resize: refused for a confidential guest (%s): vCPU and memory "
                    "resizing would change the launch-measured machine",
                    tee_name(r));
        return;
    }
    if (r->state != API_VM_CREATED) {
        reply_error(resp, 501,
                    "vm.resize: cocoon has no vCPU or memory hot-plug; size the VM "
                    "at vm.create (Kata: static_sandbox_resource_mgmt=true)");
        return;
    }
    /* Not booted yet: the new size simply becomes the configuration (as in Cloud Hypervisor). */
    unsigned old_cpus = r->cfg.cpus;
    uint64_t old_mem = r->cfg.memory;
    if (vchange)
        r->cfg.cpus = (unsigned)vcpus;
    if (mchange)
        r->cfg.memory = ram;
    if (vm_config_accept(&r->cfg, err, sizeof(err)) < 0) {
        r->cfg.cpus = old_cpus;
        r->cfg.memory = old_mem;
        reply_error(resp, 400, "vm.resize: %s", err);
        return;
    }
    reply(resp, 204, NULL);
}

/* Routes cocoon knows from Cloud Hypervisor's API but does not offer; for a confidential guest
 * the ones that would undermine it are refused with 403 and the reason. */
struct unsupported_route {
    const char *name;
    const char *tee_reason; /* NULL: not a confidentiality matter */
};

static const struct unsupported_route unsupported_routes[] = {
    {"vm.snapshot", "a snapshot reads guest memory and device state"},
    {"vm.restore", "a restore installs memory and state the launch did not measure"},
    {"vm.coredump", "a core dump reads guest memory"},
    {"vm.send-migration", "migration reads guest memory"},
    {"vm.receive-migration", "migration installs memory the launch did not measure"},
    {"vm.add-device", "VFIO pass-through gives a device DMA outside the TEE's control"},
    {"vm.add-user-device", "vfio-user pass-through gives a process DMA into guest memory"},
    {"vm.resize-zone", "memory hot-add changes the launch-measured machine"},
    {"vm.add-pmem", "pmem hot-adds host memory into the guest address space"},
    {"vm.add-fs", NULL},
    {"vm.add-vdpa", NULL},
    {"vm.reboot", NULL},
    {"vm.power-button", NULL},
    {"vm.nmi", NULL},
    {"vm.counters", NULL},
};

/* Routes a Kata configuration reaches by a setting: 400 naming the setting to change. */
static const struct {
    const char *name;
    const char *why;
} refused_routes[] = {
    {"vm.add-fs", "virtio-fs is not offered by cocoon (a host-shared file system has no place in "
                  "a confidential pod); set shared_fs = \"none\" in Kata's [hypervisor.clh]"},
    {"vm.add-device", "VFIO pass-through is not offered by cocoon; use no device pass-through "
                      "(Kata: cold_plug_vfio = \"no-port\", hot_plug_vfio = \"no-port\")"},
    {"vm.add-user-device", "vfio-user devices are not offered by cocoon"},
    {"vm.add-vdpa", "vDPA devices are not offered by cocoon"},
    {"vm.add-pmem", "virtio-pmem is not offered by cocoon; use a disk (Kata: "
                    "disable_image_nvdimm = true)"},
};

static void do_unsupported(struct api_router *r, const struct unsupported_route *u,
                           struct api_response *resp)
{
    if (!(u->tee_reason && is_confidential(r)))
        for (size_t i = 0; i < sizeof(refused_routes) / sizeof(refused_routes[0]); i++)
            if (strcmp(u->name, refused_routes[i].name) == 0) {
                reply_error(resp, 400, "%s: %s", u->name, refused_routes[i].why);
                return;
            }
    if (u->tee_reason && is_confidential(r)) {
        reply_error(resp, 403, "%s: refused for a confidential guest (%s): %s", u->name,
                    tee_name(r), u->tee_reason);
        return;
    }
    reply_error(resp, 501, "%s: not supported by cocoon", u->name);
}

typedef void (*route_fn)(struct api_router *r, struct api_request *req, struct api_response *resp);

struct route {
    const char *name;
    const char *method;
    route_fn fn;
};

static const struct route routes[] = {
    {"vmm.ping", "GET", do_ping},
    {"vmm.shutdown", "PUT", do_vmm_shutdown},
    {"vm.create", "PUT", do_create},
    {"vm.info", "GET", do_info},
    {"vm.boot", "PUT", do_boot},
    {"vm.pause", "PUT", do_pause},
    {"vm.resume", "PUT", do_resume},
    {"vm.shutdown", "PUT", do_shutdown},
    {"vm.delete", "PUT", do_delete},
    {"vm.add-disk", "PUT", do_add_disk},
    {"vm.add-net", "PUT", do_add_net},
    {"vm.add-vsock", "PUT", do_add_vsock},
    {"vm.remove-device", "PUT", do_remove_device},
    {"vm.resize", "PUT", do_resize},
    {"vm.power-button", "PUT", do_power_button},
};

void api_router_handle(void *opaque, struct api_request *req, struct api_response *resp)
{
    struct api_router *r = opaque;
    resp->status = 500;
    resp->body = NULL;
    size_t plen = strlen(API_PREFIX);
    if (strncmp(req->path, API_PREFIX, plen) != 0) {
        reply_error(resp, 404, "unknown path %.64s", req->path);
        return;
    }
    const char *name = req->path + plen;
    for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
        if (strcmp(name, routes[i].name) != 0)
            continue;
        if (strcmp(req->method, routes[i].method) != 0) {
            resp->allow = routes[i].method;
            reply_error(resp, 405, "%s takes %s, not %.16s", name, routes[i].method, req->method);
            return;
        }
        log_debug("api: %s %s", req->method, name);
        routes[i].fn(r, req, resp);
        return;
    }
    for (size_t i = 0; i < sizeof(unsupported_routes) / sizeof(unsupported_routes[0]); i++) {
        if (strcmp(name, unsupported_routes[i].name) != 0)
            continue;
        const char *method = strcmp(name, "vm.counters") == 0 ? "GET" : "PUT";
        if (strcmp(req->method, method) != 0) {
            resp->allow = method;
            reply_error(resp, 405, "%s takes %s, not %.16s", name, method, req->method);
            return;
        }
        do_unsupported(r, &unsupported_routes[i], resp);
        return;
    }
    reply_error(resp, 404, "unknown route %.64s", req->path);
}

/* ---- lifecycle ---- */

struct api_router *api_router_new(const struct api_backend_ops *ops, void *backend_ctx,
                                  const struct api_router_hooks *hooks)
{
    struct api_router *r = calloc(1, sizeof(*r));
    if (!r)
        return NULL;
    r->ops = ops;
    r->backend = backend_ctx;
    if (hooks)
        r->hooks = *hooks;
    vm_config_init(&r->cfg);
    return r;
}

void api_router_teardown(struct api_router *r)
{
    if (!r || r->state == API_VM_NONE)
        return;
    enum api_vm_state was = r->state;
    r->state = API_VM_SHUTDOWN;
    if (was == API_VM_RUNNING || was == API_VM_PAUSED)
        r->ops->shutdown(r->backend);
    r->ops->destroy(r->backend);
    vm_config_free(&r->cfg);
    r->state = API_VM_NONE;
}

void api_router_free(struct api_router *r)
{
    if (!r)
        return;
    api_router_teardown(r);
    vm_config_free(&r->cfg);
    free(r);
}

int api_router_create_and_boot(struct api_router *r, struct vm_config *cfg, char *err,
                               size_t errlen)
{
    if (r->state != API_VM_NONE) {
        snprintf(err, errlen, "a VM is already created");
        return -1;
    }
    if (check_api_socket_clash(r, cfg, err, errlen) < 0)
        return -1;
    r->cfg = *cfg;
    vm_config_init(cfg);
    r->state = API_VM_CREATED;
    if (assign_all_ids(r) < 0 || boot_now(r, err, errlen) < 0) {
        vm_config_free(&r->cfg);
        r->state = API_VM_NONE;
        return -1;
    }
    return 0;
}

void api_router_guest_exited(struct api_router *r, enum vm_exit_reason reason, int status)
{
    if (r->state != API_VM_RUNNING && r->state != API_VM_PAUSED)
        return; /* we stopped it ourselves */
    r->state = API_VM_SHUTDOWN;
    log_info("api: the guest stopped (reason %d, status %d)", (int)reason, status);
    if (r->hooks.guest_exit)
        r->hooks.guest_exit(r->hooks.opaque, reason, status);
}

enum api_vm_state api_router_state(const struct api_router *r)
{
    return r->state;
}

const struct vm_config *api_router_config(const struct api_router *r)
{
    return r->state == API_VM_NONE ? NULL : &r->cfg;
}
