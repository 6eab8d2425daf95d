/* router.c: CH-compatible routes: parses each request, asks the VM's owner, maps its answer to
 * HTTP; confidential refusals of the routes cocoon does not offer. */
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
#include "vmm/base/log.h"

#define API_PREFIX "/api/v1/"

struct api_router {
    struct vm_owner *owner; /* the configuration and the state: the router keeps no copy */
    struct api_router_hooks hooks;
};

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

/* ---- the owner's answers ---- */

/* The HTTP status of each refusal of the owner (vmm/vm_owner.h). */
static int status_of(int rc)
{
    switch (rc) {
    case VM_OWNER_E_NOT_CREATED:
    case VM_OWNER_E_NO_DEVICE:
        return 404;
    case VM_OWNER_E_STATE:
    case VM_OWNER_E_ID_IN_USE:
        return 409;
    case VM_OWNER_E_UNSUPPORTED:
        return 501;
    case VM_OWNER_E_INVALID:
        return 400;
    case VM_OWNER_E_CONFIDENTIAL:
        return 403;
    case VM_OWNER_E_BUSY: /* Cloud Hypervisor's answer to a resize during a vCPU removal */
        return 429;
    default:
        return 500;
    }
}

/* 204 when the owner said 0, else its refusal under the route's name. */
static void answer(struct api_response *resp, const char *route, int rc, const char *err)
{
    if (rc == 0)
        reply(resp, 204, NULL);
    else
        reply_error(resp, status_of(rc), "%s: %s", route, err);
}

/* Asks the owner whether op is allowed now (before the body is parsed); false after replying. */
static bool allowed(struct api_router *r, struct api_response *resp, const char *route,
                    enum vm_owner_op op)
{
    char err[256] = "";
    int rc = vm_owner_allows(r->owner, op, err, sizeof(err));
    if (rc < 0)
        answer(resp, route, rc, err);
    return rc == 0;
}

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
    if (!allowed(r, resp, "vm.create", VM_OP_CREATE))
        return;
    struct vm_config cfg;
    char err[256] = "";
    if (api_json_to_vm_config(req->body, req->body_len, &cfg, err, sizeof(err)) < 0) {
        reply_error(resp, 400, "vm.create: %s", err);
        return;
    }
    answer(resp, "vm.create", vm_owner_create(r->owner, &cfg, err, sizeof(err)), err);
}

static void do_info(struct api_router *r, struct api_request *req, struct api_response *resp)
{
    const struct vm_config *cfg = vm_owner_config(r->owner);
    if (!cfg) {
        reply_error(resp, 404, "vm.info: the VM is not created");
        return;
    }
    json_t *info = json_object();
    json_object_set_new(info, "config", api_vm_config_to_json(cfg));
    json_object_set_new(info, "state", json_string(vm_owner_state_name(vm_owner_state(r->owner))));
    json_object_set_new(info, "memory_actual_size", json_integer((json_int_t)cfg->memory));
    json_object_set_new(info, "device_tree", json_object());
    reply(resp, 200, info);
}

static void do_boot(struct api_router *r, struct api_request *req, struct api_response *resp)
{
    char err[256] = "";
    answer(resp, "vm.boot", vm_owner_boot(r->owner, err, sizeof(err)), err);
}

static void do_pause(struct api_router *r, struct api_request *req, struct api_response *resp)
{
    char err[256] = "";
    answer(resp, "vm.pause", vm_owner_pause(r->owner, err, sizeof(err)), err);
}

static void do_resume(struct api_router *r, struct api_request *req, struct api_response *resp)
{
    char err[256] = "";
    answer(resp, "vm.resume", vm_owner_resume(r->owner, err, sizeof(err)), err);
}

static void do_shutdown(struct api_router *r, struct api_request *req, struct api_response *resp)
{
    char err[256] = "";
    answer(resp, "vm.shutdown", vm_owner_shutdown(r->owner, err, sizeof(err)), err);
}

/* Cloud Hypervisor's vm.power-button: 204 once the event is raised; the guest decides. */
static void do_power_button(struct api_router *r, struct api_request *req,
                            struct api_response *resp)
{
    char err[256] = "";
    answer(resp, "vm.power-button", vm_owner_power_button(r->owner, err, sizeof(err)), err);
}

static void do_delete(struct api_router *r, struct api_request *req, struct api_response *resp)
{
    vm_owner_delete(r->owner);
    reply(resp, 204, NULL);
}

/* A device add's answer: 204 when it joined the configuration only, 200 with its id and PCI
 * address when it was also hot-plugged. */
static void answer_device(struct api_response *resp, const char *route, int rc, const char *id,
                          const char *bdf, const char *err)
{
    if (rc < 0 || !bdf[0]) {
        answer(resp, route, rc, err);
        return;
    }
    log_info("api: %s: %s hot-added at %s", route, id, bdf);
    reply(resp, 200, json_pack("{s:s, s:s}", "id", id, "bdf", bdf));
}

static void do_add_disk(struct api_router *r, struct api_request *req, struct api_response *resp)
{
    if (!allowed(r, resp, "vm.add-disk", VM_OP_ADD_DEVICE))
        return;
    struct disk_config d;
    char err[256] = "", bdf[32] = "";
    if (api_json_to_disk(req->body, req->body_len, &d, err, sizeof(err)) < 0) {
        reply_error(resp, 400, "vm.add-disk: %s", err);
        return;
    }
    const char *id = NULL;
    int rc = vm_owner_add_disk(r->owner, &d, bdf, sizeof(bdf), &id, err, sizeof(err));
    answer_device(resp, "vm.add-disk", rc, id, bdf, err);
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

static void do_add_net(struct api_router *r, struct api_request *req, struct api_response *resp)
{
    if (!allowed(r, resp, "vm.add-net", VM_OP_ADD_DEVICE))
        return;
    struct net_config n;
    char err[256] = "", bdf[32] = "";
    if (api_json_to_net(req->body, req->body_len, &n, err, sizeof(err)) < 0) {
        reply_error(resp, 400, "vm.add-net: %s", err);
        return;
    }
    if (take_tap_fd(req, &n, err, sizeof(err)) < 0) {
        reply_error(resp, 400, "vm.add-net: %s", err);
        api_net_config_clear(&n);
        return;
    }
    const char *id = NULL;
    int rc = vm_owner_add_net(r->owner, &n, bdf, sizeof(bdf), &id, err, sizeof(err));
    answer_device(resp, "vm.add-net", rc, id, bdf, err);
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

static void do_remove_device(struct api_router *r, struct api_request *req,
                             struct api_response *resp)
{
    if (!allowed(r, resp, "vm.remove-device", VM_OP_REMOVE_DEVICE))
        return;
    char err[256] = "";
    char *id = parse_id_body(req, err, sizeof(err));
    if (!id) {
        reply_error(resp, 400, "vm.remove-device: %s", err);
        return;
    }
    answer(resp, "vm.remove-device", vm_owner_remove_device(r->owner, id, err, sizeof(err)), err);
    free(id);
}

static void do_add_vsock(struct api_router *r, struct api_request *req, struct api_response *resp)
{
    char err[256] = "";
    if (!allowed(r, resp, "vm.add-vsock", VM_OP_ADD_VSOCK))
        return;
    struct vsock_config v;
    if (api_json_to_vsock(req->body, req->body_len, &v, err, sizeof(err)) < 0) {
        reply_error(resp, 400, "vm.add-vsock: %s", err);
        return;
    }
    answer(resp, "vm.add-vsock", vm_owner_add_vsock(r->owner, &v, err, sizeof(err)), err);
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
    if (!allowed(r, resp, "vm.resize", VM_OP_RESIZE))
        return;
    json_error_t jerr;
    json_t *root = json_loadb(req->body, req->body_len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root || !json_is_object(root)) {
        json_decref(root);
        reply_error(resp, 400, "vm.resize: expected a JSON object");
        return;
    }
    struct vm_owner_resize rq = {0};
    char err[256] = "";
    int rc =
        resize_field(root, "desired_vcpus", &rq.vcpus_set, &rq.vcpus, err, sizeof(err)) < 0 ||
                resize_field(root, "desired_ram", &rq.ram_set, &rq.ram, err, sizeof(err)) < 0 ||
                resize_field(root, "desired_balloon", &rq.balloon_set, &rq.balloon, err,
                             sizeof(err)) < 0
            ? -1
            : 0;
    json_decref(root);
    if (rc < 0) {
        reply_error(resp, 400, "vm.resize: %s", err);
        return;
    }
    answer(resp, "vm.resize", vm_owner_resize(r->owner, &rq, err, sizeof(err)), err);
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
    if (!(u->tee_reason && vm_owner_is_confidential(r->owner)))
        for (size_t i = 0; i < sizeof(refused_routes) / sizeof(refused_routes[0]); i++)
            if (strcmp(u->name, refused_routes[i].name) == 0) {
                reply_error(resp, 400, "%s: %s", u->name, refused_routes[i].why);
                return;
            }
    if (u->tee_reason && vm_owner_is_confidential(r->owner)) {
        reply_error(resp, 403, "%s: refused for a confidential guest (%s): %s", u->name,
                    vm_owner_tee_name(r->owner), u->tee_reason);
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

/* The owner saw the guest stop by itself: as with Cloud Hypervisor, the process ends. */
static void on_guest_stopped(void *opaque, enum vm_exit_reason reason, int status)
{
    struct api_router *r = opaque;
    if (r->hooks.guest_exit)
        r->hooks.guest_exit(r->hooks.opaque, reason, status);
}

struct api_router *api_router_new(const struct vm_machine_ops *ops, void *machine,
                                  const struct api_router_hooks *hooks)
{
    struct api_router *r = calloc(1, sizeof(*r));
    if (!r)
        return NULL;
    if (hooks)
        r->hooks = *hooks;
    const struct vm_owner_hooks owner_hooks = {.guest_stopped = on_guest_stopped,
                                               .opaque = r,
                                               .reserved_socket = r->hooks.api_socket_path};
    r->owner = vm_owner_new(ops, machine, &owner_hooks);
    if (!r->owner) {
        free(r);
        return NULL;
    }
    return r;
}

void api_router_teardown(struct api_router *r)
{
    if (r)
        vm_owner_delete(r->owner);
}

void api_router_free(struct api_router *r)
{
    if (!r)
        return;
    vm_owner_free(r->owner);
    free(r);
}

int api_router_create_and_boot(struct api_router *r, struct vm_config *cfg, char *err,
                               size_t errlen)
{
    if (vm_owner_create(r->owner, cfg, err, errlen) < 0)
        return -1;
    if (vm_owner_boot(r->owner, err, errlen) < 0) {
        vm_owner_delete(r->owner);
        return -1;
    }
    return 0;
}

struct vm_owner *api_router_owner(const struct api_router *r)
{
    return r->owner;
}
