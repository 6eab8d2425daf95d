/* api_routes_state.c: the API's routes, VM state machine and confidential refusals (fake backend).
 */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <regex.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>
#include <cmocka.h>

#include "api/router.h"
#include "support/config_cases.h"

/* ---- fake backend ---- */

static struct fake {
    unsigned boots, pauses, resumes, shutdowns, destroys, disks, nets, removes, buttons;
    bool fail_boot, fail_hotplug, no_button;
    int resize_rc; /* what the machine's vCPU resize answers */
    unsigned resized_to;
    unsigned booted_cpus;
    int last_net_fd;
    unsigned vmm_shutdowns, guest_exits;
    enum vm_exit_reason exit_reason;
} fk;

static int fk_boot(void *ctx, const struct vm_config *cfg, char *err, size_t errlen)
{
    if (fk.fail_boot) {
        snprintf(err, errlen, "no KVM here");
        return -1;
    }
    fk.boots++;
    fk.booted_cpus = cfg->cpus;
    return 0;
}
static int fk_pause(void *ctx, char *err, size_t errlen)
{
    fk.pauses++;
    return 0;
}
static int fk_resume(void *ctx, char *err, size_t errlen)
{
    fk.resumes++;
    return 0;
}
static void fk_shutdown(void *ctx)
{
    fk.shutdowns++;
}
static void fk_destroy(void *ctx)
{
    fk.destroys++;
}
static int fk_add_disk(void *ctx, const struct disk_config *d, char *bdf, size_t bdflen, char *err,
                       size_t errlen)
{
    if (fk.fail_hotplug) {
        snprintf(err, errlen, "no free slot");
        return -1;
    }
    snprintf(bdf, bdflen, "0000:00:%02x.0", 4 + fk.disks++);
    return 0;
}
static int fk_add_net(void *ctx, const struct net_config *n, char *bdf, size_t bdflen, char *err,
                      size_t errlen)
{
    fk.last_net_fd = n->fd;
    snprintf(bdf, bdflen, "0000:00:%02x.0", 0x10 + fk.nets++);
    return 0;
}
static int fk_remove(void *ctx, const char *id, char *err, size_t errlen)
{
    fk.removes++;
    return 0;
}

static int fk_power_button(void *ctx, char *err, size_t errlen)
{
    if (fk.no_button) {
        snprintf(err, errlen, "this VM has no power button");
        return -1;
    }
    fk.buttons++;
    return 0;
}

static int fk_resize_vcpus(void *ctx, unsigned desired, char *err, size_t errlen)
{
    if (fk.resize_rc < 0) {
        snprintf(err, errlen, "vCPU 1 is still being removed");
        return fk.resize_rc;
    }
    fk.resized_to = desired;
    return 0;
}

static const struct vm_machine_ops fake_ops = {
    .boot = fk_boot,
    .pause = fk_pause,
    .resume = fk_resume,
    .shutdown = fk_shutdown,
    .destroy = fk_destroy,
    .add_disk = fk_add_disk,
    .add_net = fk_add_net,
    .remove_device = fk_remove,
    .power_button = fk_power_button,
    .resize_vcpus = fk_resize_vcpus,
};

static void hook_vmm_shutdown(void *opaque)
{
    fk.vmm_shutdowns++;
}
static void hook_guest_exit(void *opaque, enum vm_exit_reason reason, int status)
{
    fk.guest_exits++;
    fk.exit_reason = reason;
}

static struct api_router *router;

static int setup(void **state)
{
    memset(&fk, 0, sizeof(fk));
    fk.last_net_fd = -1;
    const struct api_router_hooks hooks = {.vmm_shutdown = hook_vmm_shutdown,
                                           .guest_exit = hook_guest_exit,
                                           .api_socket_path = "/run/cocoon-test/api.sock"};
    router = api_router_new(&fake_ops, NULL, &hooks);
    return router ? 0 : -1;
}

static int teardown(void **state)
{
    api_router_free(router);
    return 0;
}

/* ---- requests ---- */

static char last_body[4096];
static const char *last_allow;

/* Sends one request (body template expanded); fds as the server would hand them over. Returns
 * the status; the response body is in last_body. Leftover fds are closed as the server does. */
static int call_fds(const char *method, const char *route, const char *body_tmpl, int *fds,
                    unsigned nfds)
{
    char body[4096] = "";
    if (body_tmpl)
        assert_int_equal(config_case_expand(body_tmpl, body, sizeof(body)), 0);
    char path[128];
    snprintf(path, sizeof(path), "/api/v1/%s", route);
    struct api_request req = {
        .method = method, .path = path, .body = body, .body_len = strlen(body)};
    for (unsigned i = 0; i < nfds; i++)
        req.fds[i] = fds[i];
    req.nfds = nfds;
    struct api_response resp = {0};
    api_router_handle(router, &req, &resp);
    for (unsigned i = 0; i < req.nfds; i++)
        if (req.fds[i] >= 0)
            close(req.fds[i]);
    snprintf(last_body, sizeof(last_body), "%s", resp.body ? resp.body : "");
    last_allow = resp.allow;
    free(resp.body);
    if (resp.after_send)
        resp.after_send(resp.after_send_opaque);
    return resp.status;
}

static int call(const char *method, const char *route, const char *body)
{
    return call_fds(method, route, body, NULL, 0);
}

static const char plain_vm[] = "{\"cpus\":{\"boot_vcpus\":1,\"max_vcpus\":2},"
                               "\"memory\":{\"size\":268435456},"
                               "\"payload\":{\"kernel\":\"@KERNEL@\",\"cmdline\":\"quiet\"},"
                               "\"serial\":{\"mode\":\"Tty\"},\"console\":{\"mode\":\"Off\"},"
                               "\"rng\":{\"src\":\"/dev/urandom\"}}";
static const char tdx_vm[] = "{\"cpus\":{\"boot_vcpus\":1,\"max_vcpus\":2},"
                             "\"memory\":{\"size\":268435456},"
                             "\"payload\":{\"kernel\":\"@KERNEL@\",\"firmware\":\"@FIRMWARE@\"},"
                             "\"platform\":{\"tdx\":true,\"sev_snp\":false}}";
static const char snp_vm[] = "{\"cpus\":{\"boot_vcpus\":1,\"max_vcpus\":2},"
                             "\"memory\":{\"size\":268435456},"
                             "\"payload\":{\"kernel\":\"@KERNEL@\"},"
                             "\"platform\":{\"sev_snp\":true}}";

static void assert_state(enum vm_owner_state s)
{
    assert_int_equal(vm_owner_state(api_router_owner(router)), s);
    if (s == VM_OWNER_NOT_CREATED) {
        assert_int_equal(call("GET", "vm.info", NULL), 404);
        return;
    }
    assert_int_equal(call("GET", "vm.info", NULL), 200);
    char want[64];
    snprintf(want, sizeof(want), "\"state\":\"%s\"", vm_owner_state_name(s));
    if (!strstr(last_body, want))
        fail_msg("vm.info lacks %s: %s", want, last_body);
}

static void error_body_is_json_reason(const char *needle)
{
    if (last_body[0] != '[' || !strstr(last_body, needle))
        fail_msg("error body %s lacks %s", last_body, needle);
}

/* ---- tests ---- */

static void full_lifecycle(void **state)
{
    assert_int_equal(call("GET", "vmm.ping", NULL), 200);
    assert_non_null(strstr(last_body, "\"version\""));
    assert_state(VM_OWNER_NOT_CREATED);
    assert_int_equal(call("PUT", "vm.create", plain_vm), 204);
    assert_state(VM_OWNER_CREATED);
    assert_non_null(strstr(last_body, "\"boot_vcpus\":1"));
    assert_non_null(strstr(last_body, "\"memory_actual_size\":268435456"));
    assert_int_equal(fk.boots, 0); /* vm.create only stores and validates */
    assert_int_equal(call("PUT", "vm.boot", NULL), 204);
    assert_int_equal(fk.boots, 1);
    assert_state(VM_OWNER_RUNNING);
    assert_int_equal(call("PUT", "vm.pause", NULL), 204);
    assert_state(VM_OWNER_PAUSED);
    assert_int_equal(call("PUT", "vm.resume", NULL), 204);
    assert_state(VM_OWNER_RUNNING);
    assert_int_equal(call("PUT", "vm.shutdown", NULL), 204);
    assert_int_equal(fk.shutdowns, 1);
    assert_state(VM_OWNER_SHUTDOWN);
    assert_int_equal(call("PUT", "vm.boot", NULL), 204); /* as CH: boot again from the config */
    assert_int_equal(fk.boots, 2);
    assert_int_equal(fk.destroys, 1);
    assert_state(VM_OWNER_RUNNING);
    assert_int_equal(call("PUT", "vm.delete", NULL), 204);
    assert_int_equal(fk.destroys, 2);
    assert_state(VM_OWNER_NOT_CREATED);
    assert_int_equal(call("PUT", "vm.create", plain_vm), 204); /* a fresh one after delete */
    assert_int_equal(call("PUT", "vmm.shutdown", NULL), 204);
    assert_int_equal(fk.vmm_shutdowns, 1);
}

/* Every request in the wrong state: 4xx, and neither the backend nor the state moves. */
static void wrong_state_changes_nothing(void **state)
{
    static const char *const puts[] = {"vm.boot",     "vm.pause",        "vm.resume",
                                       "vm.shutdown", "vm.add-disk",     "vm.add-net",
                                       "vm.resize",   "vm.remove-device"};
    for (size_t i = 0; i < sizeof(puts) / sizeof(puts[0]); i++) {
        assert_int_equal(call("PUT", puts[i], "{}"), 404);
        error_body_is_json_reason("not created");
    }
    assert_int_equal(call("PUT", "vm.create", plain_vm), 204);
    assert_int_equal(call("PUT", "vm.create", plain_vm), 409);
    assert_int_equal(call("PUT", "vm.pause", NULL), 409);
    assert_int_equal(call("PUT", "vm.resume", NULL), 409);
    assert_int_equal(call("PUT", "vm.shutdown", NULL), 409);
    error_body_is_json_reason("while the VM is Created");
    assert_state(VM_OWNER_CREATED);
    assert_int_equal(call("PUT", "vm.boot", NULL), 204);
    assert_int_equal(call("PUT", "vm.boot", NULL), 409);
    assert_int_equal(call("PUT", "vm.resume", NULL), 409);
    assert_int_equal(call("PUT", "vm.create", plain_vm), 409);
    assert_state(VM_OWNER_RUNNING);
    assert_int_equal(call("PUT", "vm.pause", NULL), 204);
    assert_int_equal(call("PUT", "vm.pause", NULL), 409);
    assert_int_equal(call("PUT", "vm.boot", NULL), 409);
    assert_state(VM_OWNER_PAUSED);
    assert_int_equal(call("PUT", "vm.shutdown", NULL), 204);
    assert_int_equal(call("PUT", "vm.shutdown", NULL), 409);
    assert_int_equal(call("PUT", "vm.pause", NULL), 409);
    assert_int_equal(call("PUT", "vm.add-disk", "{\"path\":\"@DISK@\"}"), 409);
    assert_state(VM_OWNER_SHUTDOWN);
    assert_int_equal(fk.boots, 1);
    assert_int_equal(fk.pauses, 1);
    assert_int_equal(fk.resumes, 0);
    assert_int_equal(fk.shutdowns, 1);
}

static void methods_and_routes(void **state)
{
    assert_int_equal(call("GET", "vm.create", NULL), 405);
    assert_string_equal(last_allow, "PUT");
    assert_int_equal(call("PUT", "vmm.ping", NULL), 405);
    assert_string_equal(last_allow, "GET");
    assert_int_equal(call("POST", "vm.boot", NULL), 405);
    assert_int_equal(call("DELETE", "vm.info", NULL), 405);
    assert_int_equal(call("GET", "vm.nonsense", NULL), 404);
    error_body_is_json_reason("unknown route");
    assert_int_equal(call("GET", "../../etc/passwd", NULL), 404);
    struct api_request req = {.method = "GET", .path = "/", .body = "", .body_len = 0};
    struct api_response resp = {0};
    api_router_handle(router, &req, &resp);
    assert_int_equal(resp.status, 404);
    free(resp.body);
    assert_int_equal(call("PUT", "vm.snapshot", "{}"), 501); /* known to CH, not offered */
    assert_int_equal(call("GET", "vm.snapshot", NULL), 405);
}

static void bad_create_bodies_leave_no_vm(void **state)
{
    static const char *const bad[] = {
        "{",
        "[]",
        "{\"cpus\":{\"boot_vcpus\":\"one\"},\"payload\":{\"kernel\":\"@KERNEL@\"}}",
        "{\"cpus\":{\"boot_vcpus\":-2},\"payload\":{\"kernel\":\"@KERNEL@\"}}",
        "{\"memory\":{\"size\":-1},\"payload\":{\"kernel\":\"@KERNEL@\"}}",
        "{\"memory\":{\"size\":9223372036854775807},\"payload\":{\"kernel\":\"@KERNEL@\"}}",
        "{\"cpus\":{\"boot_vcpus\":100000},\"payload\":{\"kernel\":\"@KERNEL@\"}}",
        "{\"payload\":{\"kernel\":\"@MISSING@\"}}",
        "{\"payload\":{\"kernel\":\"@KERNEL@\"},\"platform\":{\"tdx\":true,\"sev_snp\":true}}",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int st = call("PUT", "vm.create", bad[i]);
        if (st != 400)
            fail_msg("body %zu answered %d: %s", i, st, last_body);
        error_body_is_json_reason("vm.create: ");
        assert_int_equal(vm_owner_state(api_router_owner(router)), VM_OWNER_NOT_CREATED);
    }
}

static bool bdf_ok(const char *json)
{
    regex_t re;
    assert_int_equal(regcomp(&re, "\"bdf\":\"0000:00:[0-9a-f]{2}\\.0\"", REG_EXTENDED), 0);
    bool ok = regexec(&re, json, 0, NULL, 0) == 0;
    regfree(&re);
    return ok;
}

/* A real tap, in a network namespace of this test's own (root only; skipped otherwise). */
static int open_test_tap(void)
{
    static bool in_netns;
    static int seq;
    if (!in_netns && unshare(CLONE_NEWNET) < 0)
        skip();
    in_netns = true;
    int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
    if (fd < 0)
        skip();
    struct ifreq ifr;
    memset(&ifr, 0, sizeof(ifr));
    ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
    snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "ctest%d", seq++);
    assert_int_equal(ioctl(fd, TUNSETIFF, &ifr), 0);
    return fd;
}

static void add_net_cold_and_hot(void **state)
{
    const char *net = "{\"ip\":\"192.168.249.1\",\"mask\":\"255.255.255.0\","
                      "\"mac\":\"52:54:00:12:34:56\",\"iommu\":false,\"num_queues\":2,"
                      "\"queue_size\":256,\"vhost_user\":false,\"vhost_mode\":\"Client\","
                      "\"offload_tso\":true,\"offload_ufo\":true,\"offload_csum\":true}";
    int p[2];
    assert_int_equal(call("PUT", "vm.create", plain_vm), 204);
    /* No fd and no tap name: refused. */
    assert_int_equal(call("PUT", "vm.add-net", net), 400);
    error_body_is_json_reason("SCM_RIGHTS");
    /* Two fds (multiqueue): refused, and the router leaves both for the server to close. */
    assert_int_equal(pipe(p), 0);
    int two[2] = {p[0], dup(p[0])};
    assert_int_equal(call_fds("PUT", "vm.add-net", net, two, 2), 400);
    assert_int_equal(write(p[1], "x", 1), -1);
    assert_int_equal(errno, EPIPE);
    close(p[1]);
    /* Not a tap (a pipe): 400 at vm.add-net, nothing kept (vm.boot would fail later). */
    assert_int_equal(pipe(p), 0);
    assert_int_equal(call_fds("PUT", "vm.add-net", net, &p[0], 1), 400);
    error_body_is_json_reason("is not a tap device");
    assert_int_equal(vm_owner_config(api_router_owner(router))->nr_nets, 0);
    close(p[1]);
    /* Cold: 204, the fd is kept in the configuration. */
    int tap0 = open_test_tap();
    assert_int_equal(call_fds("PUT", "vm.add-net", net, &tap0, 1), 204);
    assert_string_equal(last_body, "");
    const struct vm_config *cfg = vm_owner_config(api_router_owner(router));
    assert_int_equal(cfg->nr_nets, 1);
    assert_int_equal(cfg->nets[0].fd, tap0);
    assert_string_equal(cfg->nets[0].id, "_net0");
    assert_true(cfg->nets[0].mac_set);
    assert_int_equal(call("PUT", "vm.boot", NULL), 204);
    /* Hot: a pipe is refused with 400 too; a tap gets 200 {"id","bdf"}. */
    assert_int_equal(pipe(p), 0);
    assert_int_equal(call_fds("PUT", "vm.add-net", net, &p[0], 1), 400);
    close(p[1]);
    int tap1 = open_test_tap();
    assert_int_equal(call_fds("PUT", "vm.add-net", net, &tap1, 1), 200);
    assert_true(bdf_ok(last_body));
    assert_non_null(strstr(last_body, "\"id\":\"_net1\""));
    assert_int_equal(fk.last_net_fd, tap1);
    assert_int_equal(vm_owner_config(api_router_owner(router))->nr_nets, 2);
    /* vm.delete closes the fds the configuration held. */
    assert_int_equal(call("PUT", "vm.delete", NULL), 204);
    assert_int_equal(fcntl(tap0, F_GETFD), -1);
    assert_int_equal(fcntl(tap1, F_GETFD), -1);
}

static void vsock_on_the_api_socket_is_refused(void **state)
{
    const char *on_api = "{\"payload\":{\"kernel\":\"@KERNEL@\"},"
                         "\"vsock\":{\"cid\":3,\"socket\":\"/run/cocoon-test/api.sock\"}}";
    assert_int_equal(call("PUT", "vm.create", on_api), 400);
    error_body_is_json_reason("is the API socket's path");
    assert_int_equal(vm_owner_state(api_router_owner(router)), VM_OWNER_NOT_CREATED);
    assert_int_equal(call("PUT", "vm.create", plain_vm), 204);
    assert_int_equal(
        call("PUT", "vm.add-vsock", "{\"cid\":3,\"socket\":\"/run/cocoon-test/api.sock\"}"), 400);
    assert_false(vm_owner_config(api_router_owner(router))->vsock.enabled);
}

static void add_disk_and_remove(void **state)
{
    assert_int_equal(call("PUT", "vm.create", plain_vm), 204);
    assert_int_equal(call("PUT", "vm.add-disk", "{\"path\":\"@DISK@\",\"id\":\"root\"}"), 204);
    assert_int_equal(call("PUT", "vm.add-disk", "{\"path\":\"@DISK@\",\"id\":\"root\"}"), 409);
    assert_int_equal(call("PUT", "vm.add-disk", "{\"path\":\"\"}"), 400);
    error_body_is_json_reason("has no path"); /* the shared validator's verdict */
    assert_int_equal(call("PUT", "vm.add-disk", "{\"path\":7}"), 400);
    assert_int_equal(call("PUT", "vm.add-disk", "not json"), 400);
    assert_int_equal(vm_owner_config(api_router_owner(router))->nr_disks, 1);
    assert_int_equal(call("PUT", "vm.boot", NULL), 204);
    const char *kata_disk = "{\"path\":\"@DISK@\",\"readonly\":false,\"image_type\":\"Raw\","
                            "\"vhost_user\":false,\"num_queues\":1,\"queue_size\":1024,"
                            "\"iommu\":false,\"backing_files\":false,\"sparse\":true}";
    assert_int_equal(call("PUT", "vm.add-disk", kata_disk), 200);
    assert_true(bdf_ok(last_body));
    char *idp = strstr(last_body, "\"id\":\"_disk");
    assert_non_null(idp);
    char id[32], remove_body[64];
    assert_int_equal(sscanf(idp, "\"id\":\"%31[^\"]", id), 1);
    snprintf(remove_body, sizeof(remove_body), "{\"id\":\"%s\"}", id);
    assert_int_equal(vm_owner_config(api_router_owner(router))->nr_disks, 2);
    fk.fail_hotplug = true;
    assert_int_equal(call("PUT", "vm.add-disk", kata_disk), 500);
    assert_int_equal(vm_owner_config(api_router_owner(router))->nr_disks, 2);
    fk.fail_hotplug = false;
    assert_int_equal(call("PUT", "vm.remove-device", "{\"id\":\"nope\"}"), 404);
    assert_int_equal(call("PUT", "vm.remove-device", "{\"id\":5}"), 400);
    assert_int_equal(call("PUT", "vm.remove-device", remove_body), 204);
    assert_int_equal(fk.removes, 1);
    assert_int_equal(vm_owner_config(api_router_owner(router))->nr_disks, 1);
    assert_string_equal(vm_owner_config(api_router_owner(router))->disks[0].id, "root");
}

/* One id rule for every kind: vm.create may not give a disk the vsock's id (the validator once
 * compared disks with disks only, so vm.remove-device could not name that disk), and a hot-added
 * disk or net may not take it either, before or after boot. */
static void device_id_shared_with_vsock_refused(void **state)
{
    static const char clash[] =
        "{\"payload\":{\"kernel\":\"@KERNEL@\"},"
        "\"disks\":[{\"path\":\"@DISK@\",\"id\":\"agent\"}],"
        "\"vsock\":{\"cid\":3,\"socket\":\"/tmp/v.sock\",\"id\":\"agent\"}}";
    assert_int_equal(call("PUT", "vm.create", clash), 400);
    error_body_is_json_reason("duplicate device id 'agent'");
    assert_state(VM_OWNER_NOT_CREATED);
    assert_int_equal(call("PUT", "vm.create", plain_vm), 204);
    assert_int_equal(
        call("PUT", "vm.add-vsock", "{\"cid\":4,\"socket\":\"/tmp/v.sock\",\"id\":\"agent\"}"),
        204);
    for (int booted = 0; booted <= 1; booted++) {
        assert_int_equal(call("PUT", "vm.add-disk", "{\"path\":\"@DISK@\",\"id\":\"agent\"}"), 409);
        error_body_is_json_reason("id 'agent' is already in use");
        assert_int_equal(call("PUT", "vm.remove-device", "{\"id\":\"agent\"}"), 404);
        if (!booted)
            assert_int_equal(call("PUT", "vm.boot", NULL), 204);
    }
    assert_int_equal(fk.disks + fk.removes, 0);
    assert_int_equal(vm_owner_config(api_router_owner(router))->nr_disks, 0);
}

/* vm.add-vsock takes exactly one VsockConfig object: anything around or after it is refused
 * (it was once spliced into a vm.create text, so a body could close the object and go on). */
static void add_vsock_cold_only(void **state)
{
    assert_int_equal(call("PUT", "vm.create", plain_vm), 204);
    assert_int_equal(call("PUT", "vm.add-vsock",
                          "{\"cid\":4,\"socket\":\"/tmp/v.sock\"}, "
                          "\"memory\":{\"size\":1}"),
                     400);
    assert_int_equal(call("PUT", "vm.add-vsock", "{\"cid\":4,\"socket\":\"/tmp/v.sock\"}}"), 400);
    assert_int_equal(call("PUT", "vm.add-vsock", "[1]"), 400);
    assert_int_equal(call("PUT", "vm.add-vsock", "{\"cid\":2,\"socket\":\"/tmp/v.sock\"}"), 400);
    error_body_is_json_reason("cid");
    assert_false(vm_owner_config(api_router_owner(router))->vsock.enabled);
    assert_int_equal(vm_owner_config(api_router_owner(router))->vsock.cid, 3);
    assert_int_equal(
        call("PUT", "vm.add-vsock", "{\"cid\":4,\"socket\":\"/tmp/v.sock\",\"id\":\"vs\"}"), 204);
    assert_true(vm_owner_config(api_router_owner(router))->vsock.enabled);
    assert_int_equal(vm_owner_config(api_router_owner(router))->vsock.cid, 4);
    assert_string_equal(vm_owner_config(api_router_owner(router))->vsock.socket, "/tmp/v.sock");
    assert_int_equal(call("PUT", "vm.add-vsock", "{\"cid\":5,\"socket\":\"/tmp/w.sock\"}"), 409);
    assert_int_equal(call("PUT", "vm.boot", NULL), 204);
    assert_int_equal(call("PUT", "vm.add-vsock", "{\"cid\":5,\"socket\":\"/tmp/w.sock\"}"), 501);
    error_body_is_json_reason("vsock hot-plug is not supported (add it before vm.boot)");
}

static void resize_plain_guest(void **state)
{
    assert_int_equal(call("PUT", "vm.create", plain_vm), 204);
    assert_int_equal(call("PUT", "vm.resize", "{\"desired_vcpus\":2}"), 204);
    assert_int_equal(vm_owner_config(api_router_owner(router))->cpus, 2);
    assert_int_equal(call("PUT", "vm.resize", "{\"desired_vcpus\":3}"), 400); /* > max_vcpus */
    assert_int_equal(call("PUT", "vm.resize", "{\"desired_vcpus\":-1}"), 400);
    assert_int_equal(call("PUT", "vm.resize", "{\"desired_vcpus\":\"2\"}"), 400);
    assert_int_equal(call("PUT", "vm.resize", "{\"desired_ram\":1}"), 400);
    assert_int_equal(call("PUT", "vm.resize", "{\"desired_ram\":536870912}"), 204);
    assert_true(vm_owner_config(api_router_owner(router))->memory == 536870912ULL);
    assert_int_equal(call("PUT", "vm.boot", NULL), 204);
    assert_int_equal(fk.booted_cpus, 2);
    assert_int_equal(call("PUT", "vm.resize", "{\"desired_vcpus\":2}"), 204); /* no change */
    fk.resize_rc = VM_OWNER_E_BUSY; /* a vCPU removal the guest has not finished: CH's 429 */
    assert_int_equal(call("PUT", "vm.resize", "{\"desired_vcpus\":1}"), 429);
    error_body_is_json_reason("still being removed");
    assert_int_equal(vm_owner_config(api_router_owner(router))->cpus, 2);
    fk.resize_rc = VM_OWNER_E_STATE; /* booted without CPU hot-plug */
    assert_int_equal(call("PUT", "vm.resize", "{\"desired_vcpus\":1}"), 409);
    fk.resize_rc = 0; /* vCPU hot-plug (vmm/vm_vcpus.c) */
    assert_int_equal(call("PUT", "vm.resize", "{\"desired_vcpus\":1}"), 204);
    assert_int_equal(fk.resized_to, 1);
    assert_int_equal(vm_owner_config(api_router_owner(router))->cpus, 1);
    assert_int_equal(call("PUT", "vm.resize", "{\"desired_ram\":268435456}"), 501);
    error_body_is_json_reason("memory hot-plug");
}

/* Each request that would undermine a confidential guest: 403 + reason, VM left as it was. */
static void confidential_refusals(const char *vm_json, const char *tee)
{
    static const struct {
        const char *route;
        const char *body;
    } refused[] = {
        {"vm.resize", "{\"desired_ram\":536870912}"},
        {"vm.resize", "{\"desired_vcpus\":2}"},
        {"vm.resize-zone", "{\"id\":\"mem0\",\"desired_ram\":536870912}"},
        {"vm.add-pmem", "{\"file\":\"/tmp/x\"}"},
        {"vm.snapshot", "{\"destination_url\":\"file:///tmp/snap\"}"},
        {"vm.restore", "{\"source_url\":\"file:///tmp/snap\"}"},
        {"vm.coredump", "{\"destination_url\":\"file:///tmp/core\"}"},
        {"vm.send-migration", "{\"destination_url\":\"unix:/tmp/m\"}"},
        {"vm.receive-migration", "{\"receiver_url\":\"unix:/tmp/m\"}"},
        {"vm.add-device", "{\"path\":\"/sys/bus/pci/devices/0000:01:00.0\"}"},
        {"vm.add-user-device", "{\"socket\":\"/tmp/vfio-user\"}"},
    };
    assert_int_equal(call("PUT", "vm.create", vm_json), 204);
    assert_int_equal(call("GET", "vm.info", NULL), 200);
    char before[4096];
    snprintf(before, sizeof(before), "%s", last_body);
    char want[32];
    snprintf(want, sizeof(want), "\"%s\":true", tee);
    assert_non_null(strstr(before, want));
    for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
        int st = call("PUT", refused[i].route, refused[i].body);
        if (st != 403)
            fail_msg("%s on a %s guest answered %d: %s", refused[i].route, tee, st, last_body);
        error_body_is_json_reason("refused for a confidential guest");
        assert_int_equal(call("GET", "vm.info", NULL), 200);
        if (strcmp(before, last_body) != 0)
            fail_msg("%s changed the VM: %s", refused[i].route, last_body);
    }
    assert_int_equal(vm_owner_state(api_router_owner(router)), VM_OWNER_CREATED);
    assert_int_equal(fk.boots + fk.shutdowns + fk.destroys + fk.disks + fk.nets, 0);
    /* What a confidential pod does need still works: block hot-plug configuration. */
    assert_int_equal(call("PUT", "vm.add-disk", "{\"path\":\"@DISK@\",\"readonly\":true}"), 204);
}

static void tdx_refusals(void **state)
{
    confidential_refusals(tdx_vm, "tdx");
}

static void snp_refusals(void **state)
{
    confidential_refusals(snp_vm, "sev_snp");
}

static void plain_guest_gets_501_not_403(void **state)
{
    assert_int_equal(call("PUT", "vm.create", plain_vm), 204);
    assert_int_equal(call("PUT", "vm.snapshot", "{}"), 501);
    assert_int_equal(call("PUT", "vm.coredump", "{}"), 501);
    error_body_is_json_reason("not supported by cocoon");
}

/* Kata resizes to the current size on every container create: 204 for every guest, before
 * and after boot, confidential ones included (a TDX pod's first container failed on 403). */
static void noop_resize_answers_204(const char *vm_json)
{
    static const char *const same[] = {"{\"desired_vcpus\":1}", "{\"desired_ram\":268435456}",
                                       "{\"desired_vcpus\":1,\"desired_ram\":268435456}"};
    assert_int_equal(call("PUT", "vm.create", vm_json), 204);
    for (int booted = 0; booted < 2; booted++) {
        for (size_t i = 0; i < sizeof(same) / sizeof(same[0]); i++)
            if (call("PUT", "vm.resize", same[i]) != 204)
                fail_msg("no-op resize %s answered %s", same[i], last_body);
        if (!booted)
            assert_int_equal(call("PUT", "vm.boot", NULL), 204);
    }
    assert_int_equal(vm_owner_config(api_router_owner(router))->cpus, 1);
}

static void api_noop_resize_tdx(void **state)
{
    noop_resize_answers_204(tdx_vm);
}

static void api_noop_resize_snp(void **state)
{
    noop_resize_answers_204(snp_vm);
}

static void api_noop_resize_plain(void **state)
{
    noop_resize_answers_204(plain_vm);
}

/* Devices a Kata setting asks for and cocoon does not offer: 400 naming the setting, on every
 * guest (a plain guest used to get 204 for fs in vm.create, 501 for the routes). */
static void unoffered_devices_name_the_kata_setting(void **state)
{
    static const struct {
        const char *route, *body, *reason;
    } refused[] = {
        {"vm.add-fs",
         "{\"tag\":\"kataShared\",\"socket\":\"/tmp/vfs.sock\",\"num_queues\":1,"
         "\"queue_size\":1024}",
         "set shared_fs = "},
        {"vm.add-device", "{\"path\":\"/sys/bus/pci/devices/0000:01:00.0\"}", "no-port"},
        {"vm.add-user-device", "{\"socket\":\"/tmp/vfio-user\"}", "vfio-user"},
        {"vm.add-vdpa", "{\"path\":\"/dev/vhost-vdpa-0\"}", "vDPA"},
        {"vm.add-pmem", "{\"file\":\"/tmp/x\"}", "disable_image_nvdimm"},
    };
    assert_int_equal(call("PUT", "vm.create", plain_vm), 204);
    for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
        int st = call("PUT", refused[i].route, refused[i].body);
        if (st != 400)
            fail_msg("%s answered %d: %s", refused[i].route, st, last_body);
        error_body_is_json_reason(refused[i].reason);
    }
    /* In vm.create too: nothing the pod depends on is accepted and dropped. */
    assert_int_equal(call("PUT", "vm.delete", NULL), 204);
    char body[1024];
    snprintf(body, sizeof(body),
             "{\"payload\":{\"kernel\":\"@KERNEL@\"},\"fs\":[{\"tag\":\"kataShared\","
             "\"socket\":\"/tmp/vfs.sock\",\"num_queues\":1,\"queue_size\":1024}]}");
    assert_int_equal(call("PUT", "vm.create", body), 400);
    error_body_is_json_reason("set shared_fs = ");
    assert_int_equal(vm_owner_state(api_router_owner(router)), VM_OWNER_NOT_CREATED);
}

/* vmm.ping lists the build's features under Cloud Hypervisor's names: runtime-rs refuses a TDX
 * sandbox unless "tdx" is there (inner_hypervisor.rs, start_hypervisor). */
static void ping_lists_build_features(void **state)
{
    assert_int_equal(call("GET", "vmm.ping", NULL), 200);
    json_t *j = json_loads(last_body, 0, NULL);
    assert_non_null(j);
    json_t *f = json_object_get(j, "features");
    assert_true(json_is_array(f));
    bool tdx = false, snp = false, kvm = false;
    size_t i;
    json_t *v;
    json_array_foreach(f, i, v)
    {
        tdx |= strcmp(json_string_value(v), "tdx") == 0;
        snp |= strcmp(json_string_value(v), "sev_snp") == 0;
        kvm |= strcmp(json_string_value(v), "kvm") == 0;
    }
    json_decref(j);
    assert_true(tdx && snp && kvm);
}

static void confidential_create_refusals(void **state)
{
    assert_int_equal(call("PUT", "vm.create",
                          "{\"payload\":{\"kernel\":\"@KERNEL@\"},\"platform\":{\"tdx\":true},"
                          "\"memory\":{\"size\":268435456,\"hotplug_size\":1073741824}}"),
                     400);
    error_body_is_json_reason("memory hot-add is refused for a confidential guest");
    assert_int_equal(call("PUT", "vm.create",
                          "{\"payload\":{\"kernel\":\"@KERNEL@\"},\"platform\":{\"sev_snp\":true},"
                          "\"devices\":[{\"path\":\"/sys/bus/pci/devices/0000:01:00.0\"}]}"),
                     400);
    error_body_is_json_reason("VFIO");
    assert_int_equal(vm_owner_state(api_router_owner(router)), VM_OWNER_NOT_CREATED);
}

static void boot_failure_keeps_created(void **state)
{
    assert_int_equal(call("PUT", "vm.create", tdx_vm), 204);
    fk.fail_boot = true;
    assert_int_equal(call("PUT", "vm.boot", NULL), 500);
    error_body_is_json_reason("no KVM here");
    assert_state(VM_OWNER_CREATED);
}

static void guest_exit_is_reported_once(void **state)
{
    assert_int_equal(call("PUT", "vm.create", plain_vm), 204);
    assert_int_equal(call("PUT", "vm.boot", NULL), 204);
    vm_owner_guest_stopped(api_router_owner(router), VM_EXIT_POWEROFF, 0);
    assert_int_equal(fk.guest_exits, 1);
    assert_int_equal(fk.exit_reason, VM_EXIT_POWEROFF);
    assert_state(VM_OWNER_SHUTDOWN);
    vm_owner_guest_stopped(api_router_owner(router), VM_EXIT_POWEROFF, 0);
    assert_int_equal(fk.guest_exits, 1);
    /* A stop we asked for is not a guest exit. */
    assert_int_equal(call("PUT", "vm.boot", NULL), 204);
    assert_int_equal(call("PUT", "vm.shutdown", NULL), 204);
    vm_owner_guest_stopped(api_router_owner(router), VM_EXIT_POWEROFF, 0);
    assert_int_equal(fk.guest_exits, 1);
}

static void command_line_vm_boots_at_once(void **state)
{
    struct vm_config cfg;
    vm_config_init(&cfg);
    char kernel[160];
    assert_int_equal(config_case_expand("@KERNEL@", kernel, sizeof(kernel)), 0);
    cfg.kernel = strdup(kernel);
    char err[128];
    assert_int_equal(api_router_create_and_boot(router, &cfg, err, sizeof(err)), 0);
    assert_null(cfg.kernel); /* ownership moved */
    assert_int_equal(fk.boots, 1);
    assert_state(VM_OWNER_RUNNING);
    assert_int_equal(call("GET", "vmm.ping", NULL), 200);
}

/* vm.power-button (Cloud Hypervisor's route): 204 on a running VM, the backend raises the event;
 * 404 without a VM, 409 before boot, while paused, after shutdown and without a button. */
static void power_button_route(void **state)
{
    assert_int_equal(call("PUT", "vm.power-button", NULL), 404);
    assert_int_equal(call("PUT", "vm.create", plain_vm), 204);
    assert_int_equal(call("PUT", "vm.power-button", NULL), 409);
    error_body_is_json_reason("not allowed while the VM is Created");
    assert_int_equal(call("GET", "vm.power-button", NULL), 405);
    assert_int_equal(call("PUT", "vm.boot", NULL), 204);
    assert_int_equal(call("PUT", "vm.power-button", NULL), 204);
    assert_int_equal(fk.buttons, 1);
    assert_state(VM_OWNER_RUNNING); /* the guest decides; the VM runs until it powers off */
    assert_int_equal(call("PUT", "vm.pause", NULL), 204);
    assert_int_equal(call("PUT", "vm.power-button", NULL), 409);
    assert_int_equal(call("PUT", "vm.resume", NULL), 204);
    fk.no_button = true;
    assert_int_equal(call("PUT", "vm.power-button", NULL), 409);
    error_body_is_json_reason("no power button");
    assert_int_equal(fk.buttons, 1);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    if (config_fixture_setup() < 0)
        return 1;
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(full_lifecycle),
        T(wrong_state_changes_nothing),
        T(methods_and_routes),
        T(bad_create_bodies_leave_no_vm),
        T(add_net_cold_and_hot),
        T(vsock_on_the_api_socket_is_refused),
        T(add_disk_and_remove),
        T(device_id_shared_with_vsock_refused),
        T(add_vsock_cold_only),
        T(resize_plain_guest),
        T(tdx_refusals),
        T(snp_refusals),
        T(plain_guest_gets_501_not_403),
        T(api_noop_resize_tdx),
        T(api_noop_resize_snp),
        T(api_noop_resize_plain),
        T(unoffered_devices_name_the_kata_setting),
        T(ping_lists_build_features),
        T(confidential_create_refusals),
        T(boot_failure_keeps_created),
        T(guest_exit_is_reported_once),
        T(command_line_vm_boots_at_once),
        T(power_button_route),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    config_fixture_teardown();
    return rc;
}
