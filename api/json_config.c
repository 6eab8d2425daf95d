/* json_config.c: maps Cloud Hypervisor's VmConfig/DiskConfig/NetConfig JSON onto struct vm_config.
 */
#include "api/json_config.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "vmm/base/log.h"

__attribute__((format(printf, 3, 4))) static int fail(char *err, size_t errlen, const char *fmt,
                                                      ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return -1;
}

static bool absent(const json_t *v)
{
    return v == NULL || json_is_null(v);
}

/* An optional boolean: left unchanged when absent or null. */
static int get_bool(json_t *obj, const char *sect, const char *key, bool *out, char *err,
                    size_t errlen)
{
    json_t *v = json_object_get(obj, key);
    if (absent(v))
        return 0;
    if (!json_is_boolean(v))
        return fail(err, errlen, "%s.%s: expected true or false", sect, key);
    *out = json_is_true(v);
    return 0;
}

/* An optional non-negative integer no larger than max; *set tells whether it was there. */
static int get_uint(json_t *obj, const char *sect, const char *key, uint64_t max, uint64_t *out,
                    bool *set, char *err, size_t errlen)
{
    json_t *v = json_object_get(obj, key);
    if (set)
        *set = false;
    if (absent(v))
        return 0;
    if (!json_is_integer(v))
        return fail(err, errlen, "%s.%s: expected an integer", sect, key);
    json_int_t i = json_integer_value(v);
    if (i < 0)
        return fail(err, errlen, "%s.%s: must not be negative (got %lld)", sect, key, (long long)i);
    if ((uint64_t)i > max)
        return fail(err, errlen, "%s.%s: %lld is too large (at most %llu)", sect, key, (long long)i,
                    (unsigned long long)max);
    *out = (uint64_t)i;
    if (set)
        *set = true;
    return 0;
}

static int get_unsigned(json_t *obj, const char *sect, const char *key, unsigned max, unsigned *out,
                        char *err, size_t errlen)
{
    uint64_t v = 0;
    bool set;
    if (get_uint(obj, sect, key, max, &v, &set, err, errlen) < 0)
        return -1;
    if (set)
        *out = (unsigned)v;
    return 0;
}

/* An optional string (no embedded NUL), duplicated into *out (old value freed). */
static int get_str(json_t *obj, const char *sect, const char *key, char **out, char *err,
                   size_t errlen)
{
    json_t *v = json_object_get(obj, key);
    if (absent(v))
        return 0;
    if (!json_is_string(v))
        return fail(err, errlen, "%s.%s: expected a string", sect, key);
    const char *s = json_string_value(v);
    if (strlen(s) != json_string_length(v))
        return fail(err, errlen, "%s.%s: contains a NUL character", sect, key);
    char *dup = strdup(s);
    if (!dup)
        return fail(err, errlen, "out of memory");
    free(*out);
    *out = dup;
    return 0;
}

/* A section that must be an object when present; *out is NULL when absent. */
static int get_object(json_t *obj, const char *sect, const char *key, json_t **out, char *err,
                      size_t errlen)
{
    json_t *v = json_object_get(obj, key);
    *out = NULL;
    if (absent(v))
        return 0;
    if (!json_is_object(v))
        return fail(err, errlen, "%s%s%s: expected an object", sect, *sect ? "." : "", key);
    *out = v;
    return 0;
}

/* Sections for devices cocoon does not offer and that a pod does not depend on: accepted,
 * logged once per process (README, Control API: "ignored as harmless"). */
static const char *const ignored_keys[] = {"rng", "landlock_rules"};
#define NR_IGNORED (sizeof(ignored_keys) / sizeof(ignored_keys[0]))
static atomic_uint ignored_logged; /* bit i: ignored_keys[i] already logged */

/* Sections a pod would depend on that cocoon does not offer: refused at vm.create with the Kata
 * setting to change, never accepted and dropped. */
static const struct {
    const char *key;
    const char *why;
} refused_keys[] = {
    {"fs", "virtio-fs is not offered by cocoon (a host-shared file system has no place in a "
           "confidential pod); set shared_fs = \"none\" in Kata's [hypervisor.clh]"},
    {"devices", "VFIO pass-through is not offered by cocoon; use no device pass-through "
                "(Kata: cold_plug_vfio = \"no-port\", hot_plug_vfio = \"no-port\")"},
    {"user_devices", "vfio-user devices are not offered by cocoon"},
    {"vdpa", "vDPA devices are not offered by cocoon"},
    {"pmem", "virtio-pmem is not offered by cocoon; boot the rootfs from a disk (Kata >= 3.27 "
             "does; older Kata: disable_image_nvdimm = true, or initrd instead of image)"},
    {"balloon", "cocoon has no balloon device (Kata: reclaim_guest_freed_memory = false)"},
    {"numa", "guest NUMA nodes are not offered by cocoon"},
    {"sgx_epc", "SGX enclaves are not offered by cocoon"},
    {"tpm", "a vTPM is not offered by cocoon"},
    {"rate_limit_groups", "rate-limit groups are not offered by cocoon"},
    {"pci_segments", "per-segment PCI settings are not offered (cocoon has one PCI segment)"},
    {"watchdog", "cocoon has no watchdog device (send watchdog: false)"},
    {"pvpanic", "cocoon has no pvpanic device (send pvpanic: false)"},
    {"iommu", "cocoon has no virtual IOMMU (Kata: enable_iommu = false)"},
    {"landlock_enable", "cocoon confines itself with seccomp, not Landlock (send "
                        "landlock_enable: false)"},
};
#define NR_REFUSED (sizeof(refused_keys) / sizeof(refused_keys[0]))

static bool meaningful(const json_t *v)
{
    if (absent(v) || json_is_false(v))
        return false;
    if (json_is_array(v))
        return json_array_size(v) > 0;
    if (json_is_object(v))
        return json_object_size(v) > 0;
    return true;
}

static void log_ignored(json_t *root)
{
    for (unsigned i = 0; i < NR_IGNORED; i++) {
        if (!meaningful(json_object_get(root, ignored_keys[i])))
            continue;
        unsigned bit = 1u << i;
        if (atomic_fetch_or(&ignored_logged, bit) & bit)
            continue;
        log_info("vm.create: '%s' ignored as harmless (not offered by cocoon; see README, "
                 "Control API)",
                 ignored_keys[i]);
    }
}

static int refuse_unoffered(json_t *root, char *err, size_t errlen)
{
    for (unsigned i = 0; i < NR_REFUSED; i++)
        if (meaningful(json_object_get(root, refused_keys[i].key)))
            return fail(err, errlen, "%s: %s", refused_keys[i].key, refused_keys[i].why);
    json_t *dc = json_object_get(root, "debug_console");
    char *mode = NULL;
    if (json_is_object(dc) && get_str(dc, "debug_console", "mode", &mode, err, errlen) < 0)
        return -1;
    bool on = mode && strcmp(mode, "Off") != 0;
    free(mode);
    if (on)
        return fail(err, errlen,
                    "debug_console: the 0xe9 debug console is not offered by cocoon "
                    "(use the serial port)");
    return 0;
}

/* A key that must be false (or absent): cocoon cannot honour true. */
static int require_false(json_t *obj, const char *sect, const char *key, const char *why, char *err,
                         size_t errlen)
{
    bool v = false;
    if (get_bool(obj, sect, key, &v, err, errlen) < 0)
        return -1;
    if (v)
        return fail(err, errlen, "%s.%s: %s", sect, key, why);
    return 0;
}

/* One token bucket of a rate_limiter_config: {"size", "one_time_burst", "refill_time" (ms)}. */
static int get_bucket(json_t *o, const char *sect, const char *key, struct rate_limit_bucket *b,
                      char *err, size_t errlen)
{
    json_t *t;
    char name[64];
    snprintf(name, sizeof(name), "%s.%s", sect, key);
    if (get_object(o, sect, key, &t, err, errlen) < 0)
        return -1;
    if (!t)
        return 0;
    if (get_uint(t, name, "size", CFG_RATE_LIMIT_MAX_TOKENS, &b->size, NULL, err, errlen) < 0 ||
        get_uint(t, name, "one_time_burst", CFG_RATE_LIMIT_MAX_TOKENS, &b->one_time_burst, NULL,
                 err, errlen) < 0 ||
        get_uint(t, name, "refill_time", CFG_RATE_LIMIT_MAX_REFILL_MS, &b->refill_time_ms, NULL,
                 err, errlen) < 0)
        return -1;
    if (b->size && !b->refill_time_ms)
        return fail(err, errlen, "%s.refill_time: must be at least 1 ms when size is set", name);
    return 0;
}

/* The token-bucket rate limiter of a disk or net (Cloud Hypervisor's RateLimiterConfig). */
static int get_rate_limiter(json_t *o, const char *sect, struct rate_limiter_config *rl, char *err,
                            size_t errlen)
{
    json_t *r;
    char name[64];
    snprintf(name, sizeof(name), "%s.rate_limiter_config", sect);
    if (get_object(o, sect, "rate_limiter_config", &r, err, errlen) < 0)
        return -1;
    if (!r)
        return 0;
    if (get_bucket(r, name, "bandwidth", &rl->bandwidth, err, errlen) < 0 ||
        get_bucket(r, name, "ops", &rl->ops, err, errlen) < 0)
        return -1;
    return 0;
}

static int map_cpus(json_t *root, struct vm_config *cfg, char *err, size_t errlen)
{
    json_t *o, *features;
    if (get_object(root, "", "cpus", &o, err, errlen) < 0)
        return -1;
    if (!o)
        return 0;
    if (get_unsigned(o, "cpus", "boot_vcpus", UINT32_MAX, &cfg->cpus, err, errlen) < 0 ||
        get_unsigned(o, "cpus", "max_vcpus", UINT32_MAX, &cfg->max_cpus, err, errlen) < 0 ||
        require_false(o, "cpus", "kvm_hyperv", "Hyper-V enlightenments are not offered by cocoon",
                      err, errlen) < 0 ||
        get_object(o, "cpus", "features", &features, err, errlen) < 0)
        return -1;
    if (features && require_false(features, "cpus.features", "amx",
                                  "AMX is not offered to guests by cocoon", err, errlen) < 0)
        return -1;
    if (meaningful(json_object_get(o, "affinity")))
        return fail(err, errlen,
                    "cpus.affinity: vCPU pinning is not offered by cocoon (pin the "
                    "process with taskset or a cgroup cpuset instead)");
    return 0;
}

/* memory.hugepages (+ hugepage_size): guest RAM from hugetlbfs, 2 MiB or 1 GiB pages. */
static int map_hugepages(json_t *o, struct vm_config *cfg, char *err, size_t errlen)
{
    uint64_t size = 0;
    bool size_set;
    if (get_bool(o, "memory", "hugepages", &cfg->hugepages, err, errlen) < 0 ||
        get_uint(o, "memory", "hugepage_size", UINT64_MAX, &size, &size_set, err, errlen) < 0)
        return -1;
    if (!size_set)
        return 0;
    if (size != (2ULL << 20) && size != (1ULL << 30))
        return fail(err, errlen, "memory.hugepage_size: %llu is not supported (2 MiB or 1 GiB)",
                    (unsigned long long)size);
    if (!cfg->hugepages)
        return fail(err, errlen, "memory.hugepage_size needs memory.hugepages: true");
    cfg->hugepage_size = size;
    return 0;
}

static int map_memory(json_t *root, struct vm_config *cfg, char *err, size_t errlen)
{
    json_t *o;
    if (get_object(root, "", "memory", &o, err, errlen) < 0)
        return -1;
    if (!o)
        return 0;
    if (get_uint(o, "memory", "size", UINT64_MAX, &cfg->memory, NULL, err, errlen) < 0)
        return -1;
    uint64_t hotplug = 0;
    bool shared = false, mergeable = false, prefault = false, thp = true;
    if (get_uint(o, "memory", "hotplug_size", UINT64_MAX, &hotplug, NULL, err, errlen) < 0 ||
        map_hugepages(o, cfg, err, errlen) < 0 ||
        get_bool(o, "memory", "shared", &shared, err, errlen) < 0 ||
        get_bool(o, "memory", "mergeable", &mergeable, err, errlen) < 0 ||
        get_bool(o, "memory", "prefault", &prefault, err, errlen) < 0 ||
        get_bool(o, "memory", "thp", &thp, err, errlen) < 0)
        return -1;
    json_t *zones = json_object_get(o, "zones");
    if (meaningful(zones))
        return fail(err, errlen, "memory.zones: memory zones are not supported by cocoon");
    if (hotplug) {
        if (cfg->platform.tee != TEE_NONE)
            return fail(err, errlen,
                        "memory.hotplug_size: memory hot-add is refused for a confidential "
                        "guest (the host would add memory outside the launch measurement)");
        log_info("vm.create: memory.hotplug_size ignored (cocoon has no memory hot-add; Kata: "
                 "static_sandbox_resource_mgmt = true)");
    }
    if (mergeable)
        log_info("vm.create: memory.mergeable ignored (guest RAM is never merged by KSM)");
    return 0;
}

/* Decodes standard base64 (with '=' padding) into out[0..cap); returns the byte count or -1. */
static long decode_base64(const char *s, uint8_t *out, size_t cap)
{
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t len = strlen(s), n = 0;
    if (len == 0 || len % 4)
        return -1;
    uint32_t acc = 0;
    unsigned bits = 0, pad = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '=') {
            if (i < len - 2 || ++pad > 2)
                return -1;
            continue;
        }
        if (pad)
            return -1; /* data after padding */
        const char *p = strchr(alphabet, s[i]);
        if (!p || s[i] == '\0')
            return -1;
        acc = (acc << 6) | (uint32_t)(p - alphabet);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (n >= cap)
                return -1;
            out[n++] = (uint8_t)(acc >> bits);
        }
    }
    return (long)n;
}

/* An optional digest of at most n bytes, in the encodings Kata's drivers send: 2*n hex digits
 * (the Go driver and cocoon's CLI) or base64 (runtime-rs: base64 of the initdata digest). A
 * shorter digest (SHA-256 into TDX's 48-byte MRCONFIGID) is zero-padded at the end, as Kata's
 * QEMU driver pads it. */
static int get_digest(json_t *obj, const char *sect, const char *key, uint8_t *out, size_t n,
                      bool *set, char *err, size_t errlen)
{
    char *text = NULL;
    if (get_str(obj, sect, key, &text, err, errlen) < 0)
        return -1;
    if (!text)
        return 0;
    uint8_t buf[64] = {0};
    long got = -1;
    if (strlen(text) == 2 * n && parse_hex_bytes(text, buf, n) == 0)
        got = (long)n;
    else if (n <= sizeof(buf))
        got = decode_base64(text, buf, n);
    free(text);
    if (got != (long)n && got != 32) /* a SHA-384 or SHA-256 digest */
        return fail(err, errlen, "%s.%s: expected %zu hex digits, or base64 of a %s-byte digest",
                    sect, key, 2 * n, n == 32 ? "32" : "32- or 48");
    memcpy(out, buf, n);
    *set = true;
    return 0;
}

static int map_payload(json_t *root, struct vm_config *cfg, char *err, size_t errlen)
{
    json_t *o;
    if (get_object(root, "", "payload", &o, err, errlen) < 0)
        return -1;
    if (!o)
        return 0;
    if (get_str(o, "payload", "kernel", &cfg->kernel, err, errlen) < 0 ||
        get_str(o, "payload", "initramfs", &cfg->initramfs, err, errlen) < 0 ||
        get_str(o, "payload", "cmdline", &cfg->cmdline, err, errlen) < 0 ||
        get_str(o, "payload", "firmware", &cfg->firmware, err, errlen) < 0)
        return -1;
    if (!absent(json_object_get(o, "igvm")))
        return fail(err, errlen, "payload.igvm: IGVM payloads are not supported by cocoon");
    struct platform_config *pc = &cfg->platform;
    if (get_digest(o, "payload", "host_data", pc->host_data, sizeof(pc->host_data),
                   &pc->host_data_set, err, errlen) < 0 ||
        get_digest(o, "payload", "mrconfigid", pc->mrconfigid, sizeof(pc->mrconfigid),
                   &pc->mrconfigid_set, err, errlen) < 0)
        return -1;
    /* Never accepted and dropped: each digest reaches only its own TEE's launch. */
    if (pc->host_data_set && pc->tee != TEE_SNP)
        return fail(err, errlen,
                    "payload.host_data: only a SEV-SNP guest carries host_data (set "
                    "platform.sev_snp: true)");
    if (pc->mrconfigid_set && pc->tee != TEE_TDX)
        return fail(err, errlen,
                    "payload.mrconfigid: only a TDX guest carries MRCONFIGID (set "
                    "platform.tdx: true)");
    return 0;
}

static int map_platform(json_t *root, struct vm_config *cfg, char *err, size_t errlen)
{
    json_t *o;
    if (get_object(root, "", "platform", &o, err, errlen) < 0)
        return -1;
    if (!o)
        return 0;
    bool tdx = false, snp = false;
    if (get_bool(o, "platform", "tdx", &tdx, err, errlen) < 0 ||
        get_bool(o, "platform", "sev_snp", &snp, err, errlen) < 0)
        return -1;
    if (tdx && snp)
        return fail(err, errlen, "platform: tdx and sev_snp cannot both be set");
    if (meaningful(json_object_get(o, "iommu_segments")))
        return fail(err, errlen,
                    "platform.iommu_segments: cocoon has no virtual IOMMU (Kata: "
                    "enable_iommu = false)");
    cfg->platform.tee = tdx ? TEE_TDX : snp ? TEE_SNP : TEE_NONE;
    return 0;
}

static int parse_serial_mode(json_t *o, const char *sect, enum serial_mode *mode, bool *set,
                             char *err, size_t errlen)
{
    char *m = NULL;
    *set = false;
    if (get_str(o, sect, "mode", &m, err, errlen) < 0)
        return -1;
    if (!m)
        return 0;
    static const struct {
        const char *name;
        enum serial_mode mode;
    } modes[] = {
        {"Off", SERIAL_OFF}, {"Tty", SERIAL_TTY}, {"File", SERIAL_FILE}, {"Null", SERIAL_NULL}};
    for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++)
        if (strcmp(m, modes[i].name) == 0) {
            *mode = modes[i].mode;
            *set = true;
            free(m);
            return 0;
        }
    fail(err, errlen, "%s.mode: '%.32s' is not supported (Off, Tty, File or Null)", sect, m);
    free(m);
    return -1;
}

/* A console request (Kata in debug: console Tty, and for confidential guests console=hvc0):
 * cocoon has no virtio-console, so say where the guest's console really is. */
static void log_console_request(const struct vm_config *cfg)
{
    const char *hvc = cfg->cmdline ? strstr(cfg->cmdline, "console=hvc") : NULL;
    if (hvc)
        log_warn("vm.create: the guest command line asks for a virtio console (console=hvc0), "
                 "but cocoon has no virtio-console: that output is lost; the guest's serial "
                 "console is ttyS0, which carries the console's output (put console=ttyS0 in "
                 "Kata's kernel_params)");
    else
        log_info("vm.create: console (virtio-console) is not offered; the guest console is the "
                 "16550 serial port (ttyS0), which carries the console's output");
}

static int map_console(json_t *root, struct vm_config *cfg, char *err, size_t errlen)
{
    json_t *o;
    bool set;
    enum serial_mode mode = SERIAL_NULL;
    /* Cloud Hypervisor's default serial mode is Null (device present, output dropped). */
    cfg->serial = SERIAL_NULL;
    if (get_object(root, "", "serial", &o, err, errlen) < 0)
        return -1;
    if (o) {
        if (parse_serial_mode(o, "serial", &mode, &set, err, errlen) < 0 ||
            get_str(o, "serial", "file", &cfg->serial_file, err, errlen) < 0)
            return -1;
        if (set)
            cfg->serial = mode;
    }
    if (get_object(root, "", "console", &o, err, errlen) < 0)
        return -1;
    if (o) {
        char *file = NULL;
        if (parse_serial_mode(o, "console", &mode, &set, err, errlen) < 0 ||
            get_str(o, "console", "file", &file, err, errlen) < 0)
            return -1;
        if (set && mode != SERIAL_OFF && mode != SERIAL_NULL) {
            log_console_request(cfg);
            /* The serial port is cocoon's only console: where the console was asked to go (Kata
             * in debug for a confidential guest: Tty, serial Off), the serial port goes. */
            if ((cfg->serial == SERIAL_OFF || cfg->serial == SERIAL_NULL) &&
                (mode == SERIAL_TTY || file)) {
                cfg->serial = mode;
                if (mode == SERIAL_FILE) {
                    free(cfg->serial_file);
                    cfg->serial_file = file;
                    file = NULL;
                }
            }
        }
        free(file);
    }
    return 0;
}

static int vsock_from_object(json_t *o, struct vsock_config *v, char *err, size_t errlen)
{
    v->enabled = true;
    if (get_uint(o, "vsock", "cid", UINT32_MAX, &v->cid, NULL, err, errlen) < 0 ||
        get_str(o, "vsock", "socket", &v->socket, err, errlen) < 0 ||
        get_str(o, "vsock", "id", &v->id, err, errlen) < 0 ||
        require_false(o, "vsock", "iommu", "cocoon has no virtual IOMMU", err, errlen) < 0)
        return -1;
    return 0;
}

static int map_vsock(json_t *root, struct vm_config *cfg, char *err, size_t errlen)
{
    json_t *o;
    if (get_object(root, "", "vsock", &o, err, errlen) < 0)
        return -1;
    return o ? vsock_from_object(o, &cfg->vsock, err, errlen) : 0;
}

static int disk_from_object(json_t *o, const char *sect, struct disk_config *d, char *err,
                            size_t errlen)
{
    bool vhost_user = false;
    char *image_type = NULL;
    if (get_str(o, sect, "path", &d->path, err, errlen) < 0 ||
        get_str(o, sect, "id", &d->id, err, errlen) < 0 ||
        get_bool(o, sect, "readonly", &d->readonly, err, errlen) < 0 ||
        get_bool(o, sect, "direct", &d->direct, err, errlen) < 0 ||
        get_unsigned(o, sect, "num_queues", 1024, &d->num_queues, err, errlen) < 0 ||
        get_unsigned(o, sect, "queue_size", 32768, &d->queue_size, err, errlen) < 0 ||
        get_bool(o, sect, "vhost_user", &vhost_user, err, errlen) < 0 ||
        require_false(o, sect, "iommu", "cocoon has no virtual IOMMU (Kata: enable_iommu = false)",
                      err, errlen) < 0 ||
        get_rate_limiter(o, sect, &d->rate_limiter, err, errlen) < 0 ||
        get_str(o, sect, "image_type", &image_type, err, errlen) < 0)
        return -1;
    if (image_type && strcmp(image_type, "Raw") != 0 && strcmp(image_type, "Unknown") != 0) {
        fail(err, errlen, "%s.image_type: '%.32s' is not supported (raw images only)", sect,
             image_type);
        free(image_type);
        return -1;
    }
    free(image_type);
    if (vhost_user)
        return fail(err, errlen, "%s.vhost_user: vhost-user disks are not supported", sect);
    if (!absent(json_object_get(o, "rate_limit_group")))
        return fail(err, errlen,
                    "%s.rate_limit_group: rate-limit groups are not offered by cocoon (give the "
                    "disk its own rate_limiter_config)",
                    sect);
    if (!d->path)
        return fail(err, errlen, "%s.path: missing", sect);
    return 0;
}

static int net_from_object(json_t *o, const char *sect, struct net_config *n, char *err,
                           size_t errlen)
{
    bool vhost_user = false;
    char *mac = NULL;
    uint64_t mtu = 0;
    bool mtu_set;
    if (get_str(o, sect, "tap", &n->tap, err, errlen) < 0 ||
        get_str(o, sect, "id", &n->id, err, errlen) < 0 ||
        get_unsigned(o, sect, "num_queues", 1024, &n->num_queues, err, errlen) < 0 ||
        get_unsigned(o, sect, "queue_size", 32768, &n->queue_size, err, errlen) < 0 ||
        get_uint(o, sect, "mtu", 65535, &mtu, &mtu_set, err, errlen) < 0 ||
        get_bool(o, sect, "vhost_user", &vhost_user, err, errlen) < 0 ||
        require_false(o, sect, "iommu", "cocoon has no virtual IOMMU (Kata: enable_iommu = false)",
                      err, errlen) < 0 ||
        get_rate_limiter(o, sect, &n->rate_limiter, err, errlen) < 0 ||
        get_str(o, sect, "mac", &mac, err, errlen) < 0)
        return -1;
    if (mtu_set)
        n->mtu = (uint32_t)mtu;
    if (mac) {
        int rc = parse_mac(mac, n->mac);
        free(mac);
        if (rc < 0)
            return fail(err, errlen, "%s.mac: expected aa:bb:cc:dd:ee:ff", sect);
        n->mac_set = true;
    } else if (getrandom(n->mac, sizeof(n->mac), 0) == (ssize_t)sizeof(n->mac)) {
        /* As Cloud Hypervisor does: the MAC is chosen now, so vm.info reports the guest's. */
        n->mac[0] = (uint8_t)((n->mac[0] & 0xfe) | 0x02); /* unicast, locally administered */
        n->mac_set = true;
    }
    if (vhost_user)
        return fail(err, errlen, "%s.vhost_user: vhost-user networking is not supported", sect);
    if (n->num_queues != 0 && n->num_queues != 2)
        return fail(err, errlen, "%s.num_queues: cocoon offers one queue pair (2), got %u", sect,
                    n->num_queues);
    return 0;
}

/* One element of "disks" or "net": parsed into slot i of cfg. */
typedef int (*array_item_fn)(json_t *o, const char *sect, struct vm_config *cfg, size_t i,
                             char *err, size_t errlen);

/* An optional array of at most max objects under key, each handed to item; *count grows
 * before each item so vm_config_free releases a half-parsed one. */
static int map_array(json_t *root, const char *key, unsigned max, const char *plural,
                     unsigned *count, array_item_fn item, struct vm_config *cfg, char *err,
                     size_t errlen)
{
    json_t *a = json_object_get(root, key);
    if (absent(a))
        return 0;
    if (!json_is_array(a))
        return fail(err, errlen, "%s: expected an array", key);
    if (json_array_size(a) > max)
        return fail(err, errlen, "%s: at most %u %s", key, max, plural);
    for (size_t i = 0; i < json_array_size(a); i++) {
        json_t *o = json_array_get(a, i);
        char sect[32];
        snprintf(sect, sizeof(sect), "%s[%zu]", key, i);
        if (!json_is_object(o))
            return fail(err, errlen, "%s: expected an object", sect);
        *count = (unsigned)i + 1;
        if (item(o, sect, cfg, i, err, errlen) < 0)
            return -1;
    }
    return 0;
}

static int disk_item(json_t *o, const char *sect, struct vm_config *cfg, size_t i, char *err,
                     size_t errlen)
{
    return disk_from_object(o, sect, &cfg->disks[i], err, errlen);
}

static int net_item(json_t *o, const char *sect, struct vm_config *cfg, size_t i, char *err,
                    size_t errlen)
{
    if (meaningful(json_object_get(o, "fds")))
        return fail(err, errlen, "%s.fds: tap fds must be passed with SCM_RIGHTS on vm.add-net",
                    sect);
    return net_from_object(o, sect, &cfg->nets[i], err, errlen);
}

static int map_disks(json_t *root, struct vm_config *cfg, char *err, size_t errlen)
{
    return map_array(root, "disks", CFG_MAX_DISKS, "disks", &cfg->nr_disks, disk_item, cfg, err,
                     errlen);
}

static int map_nets(json_t *root, struct vm_config *cfg, char *err, size_t errlen)
{
    return map_array(root, "net", CFG_MAX_NETS, "interfaces", &cfg->nr_nets, net_item, cfg, err,
                     errlen);
}

/* Requests that would undermine a confidential guest are refused in vm.create too. */
static int refuse_for_tee(json_t *root, const struct vm_config *cfg, char *err, size_t errlen)
{
    if (cfg->platform.tee == TEE_NONE)
        return 0;
    if (meaningful(json_object_get(root, "devices")))
        return fail(err, errlen,
                    "devices: VFIO pass-through is refused for a confidential guest (the "
                    "device could DMA into guest memory outside the TEE's control)");
    if (meaningful(json_object_get(root, "balloon")))
        return fail(err, errlen, "balloon: memory ballooning is refused for a confidential guest");
    return 0;
}

static json_t *load_object(const char *body, size_t len, char *err, size_t errlen)
{
    json_error_t jerr;
    json_t *root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root) {
        fail(err, errlen, "invalid JSON at line %d column %d: %s", jerr.line, jerr.column,
             jerr.text);
        return NULL;
    }
    if (!json_is_object(root)) {
        json_decref(root);
        fail(err, errlen, "expected a JSON object");
        return NULL;
    }
    return root;
}

int api_json_to_vm_config(const char *body, size_t len, struct vm_config *cfg, char *err,
                          size_t errlen)
{
    vm_config_init(cfg);
    json_t *root = load_object(body, len, err, errlen);
    if (!root)
        return -1;
    /* Platform first: memory and device checks depend on whether the guest is confidential. */
    int rc = (map_platform(root, cfg, err, errlen) < 0 || map_cpus(root, cfg, err, errlen) < 0 ||
              map_memory(root, cfg, err, errlen) < 0 || map_payload(root, cfg, err, errlen) < 0 ||
              map_console(root, cfg, err, errlen) < 0 || map_vsock(root, cfg, err, errlen) < 0 ||
              map_disks(root, cfg, err, errlen) < 0 || map_nets(root, cfg, err, errlen) < 0 ||
              refuse_for_tee(root, cfg, err, errlen) < 0 || refuse_unoffered(root, err, errlen) < 0)
                 ? -1
                 : 0;
    if (rc == 0)
        log_ignored(root);
    json_decref(root);
    if (rc < 0)
        vm_config_free(cfg);
    return rc;
}

void api_disk_config_clear(struct disk_config *d)
{
    disk_config_clear(d);
}

void api_net_config_clear(struct net_config *n)
{
    net_config_clear(n);
}

void api_vsock_config_clear(struct vsock_config *v)
{
    vsock_config_clear(v);
}

int api_json_to_vsock(const char *body, size_t len, struct vsock_config *v, char *err,
                      size_t errlen)
{
    memset(v, 0, sizeof(*v));
    v->cid = CFG_DEFAULT_VSOCK_CID;
    json_t *root = load_object(body, len, err, errlen);
    if (!root)
        return -1;
    int rc = vsock_from_object(root, v, err, errlen);
    json_decref(root);
    if (rc < 0)
        api_vsock_config_clear(v);
    return rc;
}

int api_json_to_disk(const char *body, size_t len, struct disk_config *d, char *err, size_t errlen)
{
    memset(d, 0, sizeof(*d));
    json_t *root = load_object(body, len, err, errlen);
    if (!root)
        return -1;
    int rc = disk_from_object(root, "disk", d, err, errlen);
    json_decref(root);
    if (rc < 0)
        api_disk_config_clear(d);
    return rc;
}

int api_json_to_net(const char *body, size_t len, struct net_config *n, char *err, size_t errlen)
{
    memset(n, 0, sizeof(*n));
    n->fd = -1;
    json_t *root = load_object(body, len, err, errlen);
    if (!root)
        return -1;
    int rc = net_from_object(root, "net", n, err, errlen);
    json_decref(root);
    if (rc < 0)
        api_net_config_clear(n);
    return rc;
}

static const char *serial_mode_name(enum serial_mode m)
{
    switch (m) {
    case SERIAL_OFF:
        return "Off";
    case SERIAL_TTY:
        return "Tty";
    case SERIAL_FILE:
        return "File";
    case SERIAL_NULL:
        return "Null";
    }
    return "Off";
}

static void set_str(json_t *o, const char *key, const char *v)
{
    if (v)
        json_object_set_new(o, key, json_string(v));
}

static json_t *payload_to_json(const struct vm_config *cfg)
{
    json_t *p = json_object();
    set_str(p, "kernel", cfg->kernel);
    set_str(p, "initramfs", cfg->initramfs);
    set_str(p, "cmdline", cfg->cmdline);
    set_str(p, "firmware", cfg->firmware);
    json_object_set_new(p, "igvm", json_null());
    char hex[97];
    if (cfg->platform.host_data_set) {
        for (int i = 0; i < 32; i++)
            snprintf(hex + 2 * i, 3, "%02x", cfg->platform.host_data[i]);
        json_object_set_new(p, "host_data", json_string(hex));
    }
    if (cfg->platform.mrconfigid_set) {
        for (int i = 0; i < 48; i++)
            snprintf(hex + 2 * i, 3, "%02x", cfg->platform.mrconfigid[i]);
        json_object_set_new(p, "mrconfigid", json_string(hex));
    }
    return p;
}

/* A disk as Cloud Hypervisor's DiskConfig reports it: every field, defaults included. */
static json_t *bucket_to_json(const struct rate_limit_bucket *b)
{
    return json_pack("{s:I, s:I, s:I}", "size", (json_int_t)b->size, "one_time_burst",
                     (json_int_t)b->one_time_burst, "refill_time", (json_int_t)b->refill_time_ms);
}

/* null when unlimited, else both buckets as given. */
static json_t *rate_limiter_to_json(const struct rate_limiter_config *rl)
{
    if (!rl->bandwidth.size && !rl->ops.size)
        return json_null();
    json_t *o = json_object();
    if (rl->bandwidth.size)
        json_object_set_new(o, "bandwidth", bucket_to_json(&rl->bandwidth));
    if (rl->ops.size)
        json_object_set_new(o, "ops", bucket_to_json(&rl->ops));
    return o;
}

static json_t *disk_to_json(const struct disk_config *d)
{
    json_t *o = json_pack(
        "{s:b, s:b, s:b, s:I, s:I, s:b, s:n, s:n, s:n, s:b, s:i, s:n, s:n, s:s, s:b, s:b}",
        "readonly", d->readonly, "direct", d->direct, "iommu", 0, "num_queues",
        (json_int_t)(d->num_queues ? d->num_queues : 1), "queue_size",
        (json_int_t)(d->queue_size ? d->queue_size : 128), "vhost_user", 0, "vhost_socket",
        "rate_limit_group", "rate_limiter_config", "disable_io_uring", 0, "pci_segment", 0,
        "serial", "queue_affinity", "image_type", "Raw", "backing_files", 0, "sparse", 1);
    set_str(o, "path", d->path);
    set_str(o, "id", d->id);
    json_object_set_new(o, "rate_limiter_config", rate_limiter_to_json(&d->rate_limiter));
    return o;
}

static json_t *disks_to_json(const struct vm_config *cfg)
{
    json_t *a = json_array();
    for (unsigned i = 0; i < cfg->nr_disks && i < CFG_MAX_DISKS; i++)
        json_array_append_new(a, disk_to_json(&cfg->disks[i]));
    return a;
}

/* A net as Cloud Hypervisor's NetConfig reports it (ip/mask: its defaults; cocoon leaves the
 * host side of the tap to whoever made it, as with Kata's fds). */
static json_t *net_to_json(const struct net_config *n)
{
    char mac[18];
    snprintf(mac, sizeof(mac), "%02x:%02x:%02x:%02x:%02x:%02x", n->mac[0], n->mac[1], n->mac[2],
             n->mac[3], n->mac[4], n->mac[5]);
    json_t *o = json_pack("{s:s, s:s, s:s, s:n, s:I, s:b, s:I, s:I, s:b, s:n, s:s, s:n, s:n, "
                          "s:i, s:b, s:b, s:b}",
                          "ip", "192.168.249.1", "mask", "255.255.255.0", "mac", mac, "host_mac",
                          "mtu", (json_int_t)(n->mtu ? n->mtu : 1500), "iommu", 0, "num_queues",
                          (json_int_t)(n->num_queues ? n->num_queues : 2), "queue_size",
                          (json_int_t)(n->queue_size ? n->queue_size : 256), "vhost_user", 0,
                          "vhost_socket", "vhost_mode", "Client", "fds", "rate_limiter_config",
                          "pci_segment", 0, "offload_tso", 1, "offload_ufo", 1, "offload_csum", 1);
    set_str(o, "tap", n->tap);
    set_str(o, "id", n->id);
    json_object_set_new(o, "rate_limiter_config", rate_limiter_to_json(&n->rate_limiter));
    return o;
}

static json_t *nets_to_json(const struct vm_config *cfg)
{
    json_t *a = json_array();
    for (unsigned i = 0; i < cfg->nr_nets && i < CFG_MAX_NETS; i++)
        json_array_append_new(a, net_to_json(&cfg->nets[i]));
    return a;
}

static json_t *cpus_to_json(const struct vm_config *cfg)
{
    unsigned max_cpus = cfg->max_cpus ? cfg->max_cpus : cfg->cpus;
    return json_pack("{s:I, s:I, s:{s:i, s:I, s:i, s:i}, s:b, s:i, s:n, s:{s:b}, s:b}",
                     "boot_vcpus", (json_int_t)cfg->cpus, "max_vcpus", (json_int_t)max_cpus,
                     "topology", "threads_per_core", 1, "cores_per_die", (json_int_t)max_cpus,
                     "dies_per_package", 1, "packages", 1, "kvm_hyperv", 0, "max_phys_bits", 46,
                     "affinity", "features", "amx", 0, "nested", 0);
}

static json_t *memory_to_json(const struct vm_config *cfg)
{
    json_t *m = json_pack("{s:I, s:b, s:s, s:n, s:n, s:b, s:b, s:n, s:b, s:n, s:b}", "size",
                          (json_int_t)cfg->memory, "mergeable", 0, "hotplug_method", "Acpi",
                          "hotplug_size", "hotplugged_size", "shared", 0, "hugepages",
                          cfg->hugepages, "hugepage_size", "prefault", 0, "zones", "thp", 1);
    if (cfg->hugepage_size)
        json_object_set_new(m, "hugepage_size", json_integer((json_int_t)cfg->hugepage_size));
    return m;
}

/* Cloud Hypervisor's ConsoleConfig. */
static json_t *console_to_json(enum serial_mode mode, const char *file)
{
    json_t *c = json_pack("{s:n, s:s, s:b, s:n}", "file", "mode", serial_mode_name(mode), "iommu",
                          0, "socket");
    if (file)
        json_object_set_new(c, "file", json_string(file));
    return c;
}

static json_t *platform_to_json(const struct vm_config *cfg)
{
    return json_pack("{s:i, s:n, s:n, s:n, s:n, s:b, s:b}", "num_pci_segments", 1, "iommu_segments",
                     "serial_number", "uuid", "oem_strings", "tdx", cfg->platform.tee == TEE_TDX,
                     "sev_snp", cfg->platform.tee == TEE_SNP);
}

json_t *api_vm_config_to_json(const struct vm_config *cfg)
{
    json_t *root = json_object();
    json_object_set_new(root, "cpus", cpus_to_json(cfg));
    json_object_set_new(root, "memory", memory_to_json(cfg));
    json_object_set_new(root, "payload", payload_to_json(cfg));
    json_object_set_new(root, "rate_limit_groups", json_null());
    json_object_set_new(root, "disks", disks_to_json(cfg));
    json_object_set_new(root, "net", nets_to_json(cfg));
    /* Not offered: reported at Cloud Hypervisor's "none" values (see README, Control API). */
    json_object_set_new(root, "rng", json_pack("{s:s, s:b}", "src", "/dev/urandom", "iommu", 0));
    static const char *const none[] = {"balloon",      "fs",   "pmem",          "devices",
                                       "user_devices", "vdpa", "sgx_epc",       "numa",
                                       "pci_segments", "tpm",  "landlock_rules"};
    for (size_t i = 0; i < sizeof(none) / sizeof(none[0]); i++)
        json_object_set_new(root, none[i], json_null());
    json_object_set_new(root, "serial", console_to_json(cfg->serial, cfg->serial_file));
    json_object_set_new(root, "console", console_to_json(SERIAL_OFF, NULL));
    json_object_set_new(root, "debug_console",
                        json_pack("{s:n, s:s, s:n}", "file", "mode", "Off", "iobase"));
    if (cfg->vsock.enabled) {
        json_t *v = json_pack("{s:I, s:b, s:i}", "cid", (json_int_t)cfg->vsock.cid, "iommu", 0,
                              "pci_segment", 0);
        set_str(v, "socket", cfg->vsock.socket);
        set_str(v, "id", cfg->vsock.id);
        json_object_set_new(root, "vsock", v);
    } else {
        json_object_set_new(root, "vsock", json_null());
    }
    json_object_set_new(root, "iommu", json_false());
    json_object_set_new(root, "watchdog", json_false());
    json_object_set_new(root, "pvpanic", json_false());
    json_object_set_new(root, "landlock_enable", json_false());
    json_object_set_new(root, "platform", platform_to_json(cfg));
    return root;
}
