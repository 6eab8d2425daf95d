/* config.c: defaults, teardown and the one validator of struct vm_config; value parsing. */
#include "vmm/base/config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

void vm_config_init(struct vm_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->cpus = 1;
    cfg->memory = 512ULL << 20;
    cfg->serial = SERIAL_TTY;
    cfg->platform.tee = TEE_NONE;
    cfg->platform.snp_policy = 0x30000;
    cfg->vsock.cid = CFG_DEFAULT_VSOCK_CID;
    for (unsigned i = 0; i < CFG_MAX_NETS; i++)
        cfg->nets[i].fd = -1;
}

void vm_config_free(struct vm_config *cfg)
{
    free(cfg->kernel);
    free(cfg->initramfs);
    free(cfg->cmdline);
    free(cfg->firmware);
    free(cfg->firmware_log);
    free(cfg->serial_file);
    for (unsigned i = 0; i < cfg->nr_disks && i < CFG_MAX_DISKS; i++) {
        free(cfg->disks[i].path);
        free(cfg->disks[i].id);
    }
    for (unsigned i = 0; i < cfg->nr_nets && i < CFG_MAX_NETS; i++) {
        free(cfg->nets[i].tap);
        free(cfg->nets[i].id);
        if (cfg->nets[i].fd >= 0)
            close(cfg->nets[i].fd);
    }
    free(cfg->vsock.socket);
    free(cfg->vsock.id);
    free(cfg->platform.quote_socket);
    vm_config_init(cfg);
}

void disk_config_clear(struct disk_config *d)
{
    free(d->path);
    free(d->id);
    memset(d, 0, sizeof(*d));
}

void net_config_clear(struct net_config *n)
{
    free(n->tap);
    free(n->id);
    if (n->fd >= 0)
        close(n->fd);
    memset(n, 0, sizeof(*n));
    n->fd = -1;
}

void vsock_config_clear(struct vsock_config *v)
{
    free(v->socket);
    free(v->id);
    memset(v, 0, sizeof(*v));
    v->cid = CFG_DEFAULT_VSOCK_CID;
}

static bool same_id(const char *a, const char *b)
{
    return a && b && strcmp(a, b) == 0;
}

bool vm_config_id_in_use(const struct vm_config *cfg, const char *id)
{
    for (unsigned i = 0; i < cfg->nr_disks && i < CFG_MAX_DISKS; i++)
        if (same_id(cfg->disks[i].id, id))
            return true;
    for (unsigned i = 0; i < cfg->nr_nets && i < CFG_MAX_NETS; i++)
        if (same_id(cfg->nets[i].id, id))
            return true;
    return cfg->vsock.enabled && same_id(cfg->vsock.id, id);
}

int vm_config_remove_device(struct vm_config *cfg, const char *id)
{
    for (unsigned i = 0; i < cfg->nr_disks; i++)
        if (same_id(cfg->disks[i].id, id)) {
            disk_config_clear(&cfg->disks[i]);
            memmove(&cfg->disks[i], &cfg->disks[i + 1],
                    (cfg->nr_disks - i - 1) * sizeof(cfg->disks[0]));
            memset(&cfg->disks[--cfg->nr_disks], 0, sizeof(cfg->disks[0]));
            return 0;
        }
    for (unsigned i = 0; i < cfg->nr_nets; i++)
        if (same_id(cfg->nets[i].id, id)) {
            net_config_clear(&cfg->nets[i]);
            memmove(&cfg->nets[i], &cfg->nets[i + 1],
                    (cfg->nr_nets - i - 1) * sizeof(cfg->nets[0]));
            memset(&cfg->nets[--cfg->nr_nets], 0, sizeof(cfg->nets[0])); /* moved up */
            cfg->nets[cfg->nr_nets].fd = -1;
            return 0;
        }
    return -1;
}

int parse_size(const char *s, uint64_t *out)
{
    if (!s || *s < '0' || *s > '9' || (s[0] == '0' && s[1] >= '0' && s[1] <= '9'))
        return -1; /* decimal only: a leading zero is not taken for octal, nor ignored */
    uint64_t v = 0;
    const char *p = s;
    for (; *p >= '0' && *p <= '9'; p++) {
        unsigned d = (unsigned)(*p - '0');
        if (v > (UINT64_MAX - d) / 10)
            return -1;
        v = v * 10 + d;
    }
    unsigned shift = 0;
    switch (*p) {
    case '\0':
        break;
    case 'K':
    case 'k':
        shift = 10;
        break;
    case 'M':
    case 'm':
        shift = 20;
        break;
    case 'G':
    case 'g':
        shift = 30;
        break;
    case 'T':
    case 't':
        shift = 40;
        break;
    default:
        return -1;
    }
    if (shift) {
        p++;
        if (strcmp(p, "iB") == 0 || strcmp(p, "B") == 0)
            p += strlen(p);
        if (*p)
            return -1;
        if (v > (UINT64_MAX >> shift))
            return -1;
        v <<= shift;
    }
    *out = v;
    return 0;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* The byte spelt by the two hex digits at s, or -1. */
static int hexbyte(const char *s)
{
    int hi = hexval(s[0]), lo = hi < 0 ? -1 : hexval(s[1]);
    return lo < 0 ? -1 : hi << 4 | lo;
}

int parse_hex_bytes(const char *s, uint8_t *out, size_t n)
{
    if (strlen(s) != 2 * n)
        return -1;
    for (size_t i = 0; i < n; i++) {
        int b = hexbyte(s + 2 * i);
        if (b < 0)
            return -1;
        out[i] = (uint8_t)b;
    }
    return 0;
}

int parse_mac(const char *s, uint8_t mac[6])
{
    if (strlen(s) != 17)
        return -1;
    for (int i = 0; i < 6; i++) {
        int b = hexbyte(s + 3 * i);
        if (b < 0 || (i < 5 && s[3 * i + 2] != ':'))
            return -1;
        mac[i] = (uint8_t)b;
    }
    return 0;
}

/* Checks that path names a readable regular file; returns its size through *size. O_NONBLOCK:
 * opening a FIFO for reading would otherwise wait for a writer (and hang the API loop). */
static int check_file(const char *what, const char *path, uint64_t *size, char *err, size_t errlen)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) {
        snprintf(err, errlen, "cannot open %s '%s': %s", what, path, strerror(errno));
        return -1;
    }
    struct stat st;
    int rc = fstat(fd, &st);
    close(fd);
    if (rc < 0 || !S_ISREG(st.st_mode)) {
        snprintf(err, errlen, "%s '%s' is not a regular file", what, path);
        return -1;
    }
    *size = (uint64_t)st.st_size;
    return 0;
}

/* Checks that a disk image opens with the access the guest will get (read-only or read-write)
 * and is a regular file or a block device, so a bad path fails at vm.create, not at boot. */
int vm_config_check_disk(const struct disk_config *disk, char *err, size_t errlen)
{
    int fd = open(disk->path, (disk->readonly ? O_RDONLY : O_RDWR) | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) {
        snprintf(err, errlen, "cannot open disk image '%s'%s: %s", disk->path,
                 disk->readonly ? "" : " for writing", strerror(errno));
        return -1;
    }
    struct stat st;
    int rc = fstat(fd, &st);
    close(fd);
    if (rc < 0 || !(S_ISREG(st.st_mode) || S_ISBLK(st.st_mode))) {
        snprintf(err, errlen, "disk image '%s' is not a regular file or block device", disk->path);
        return -1;
    }
    return 0;
}

static int validate_machine(const struct vm_config *cfg, char *err, size_t errlen)
{
    if (cfg->cpus == 0 || cfg->cpus > CFG_MAX_CPUS) {
        snprintf(err, errlen, "vCPU count %u is out of range (1..%u)", cfg->cpus, CFG_MAX_CPUS);
        return -1;
    }
    if (cfg->max_cpus && (cfg->max_cpus < cfg->cpus || cfg->max_cpus > CFG_MAX_CPUS)) {
        snprintf(err, errlen, "max vCPU count %u is out of range (%u..%u)", cfg->max_cpus,
                 cfg->cpus, CFG_MAX_CPUS);
        return -1;
    }
    if (cfg->memory < CFG_MIN_MEMORY || cfg->memory > CFG_MAX_MEMORY) {
        snprintf(err, errlen, "memory size %llu is out of range (%llu MiB..%llu GiB)",
                 (unsigned long long)cfg->memory, CFG_MIN_MEMORY >> 20, CFG_MAX_MEMORY >> 30);
        return -1;
    }
    if (cfg->memory % 4096) {
        snprintf(err, errlen, "memory size must be a multiple of 4 KiB");
        return -1;
    }
    uint64_t huge = cfg->hugepage_size ? cfg->hugepage_size : 2ULL << 20;
    if (cfg->hugepages && cfg->memory % huge) {
        snprintf(err, errlen, "memory size must be a multiple of the huge page size (%llu MiB)",
                 (unsigned long long)(huge >> 20));
        return -1;
    }
    return 0;
}

/* The payload's files: they open, are regular and non-empty, the firmware has a size a plain
 * guest can map, and kernel + initramfs fit in guest memory. */
static int validate_payload_files(const struct vm_config *cfg, char *err, size_t errlen)
{
    uint64_t ksize = 0, isize = 0, fsize = 0;
    if (cfg->kernel && check_file("kernel", cfg->kernel, &ksize, err, errlen) < 0)
        return -1;
    if (cfg->initramfs && check_file("initramfs", cfg->initramfs, &isize, err, errlen) < 0)
        return -1;
    if (cfg->firmware && check_file("firmware", cfg->firmware, &fsize, err, errlen) < 0)
        return -1;
    /* A plain guest's image ends at 4 GiB above the LAPIC page (vmm/boot_firmware.h). */
    if (cfg->firmware && cfg->platform.tee == TEE_NONE &&
        (fsize == 0 || fsize % 4096 || fsize > (16ULL << 20))) {
        snprintf(err, errlen,
                 "firmware '%s' is %llu bytes: it must be a non-zero multiple of 4 KiB, at most "
                 "16 MiB",
                 cfg->firmware, (unsigned long long)fsize);
        return -1;
    }
    if (ksize == 0 && cfg->kernel) {
        snprintf(err, errlen, "kernel '%s' is empty", cfg->kernel);
        return -1;
    }
    if (isize == 0 && cfg->initramfs) {
        snprintf(err, errlen, "initramfs '%s' is empty", cfg->initramfs);
        return -1;
    }
    if (ksize > cfg->memory || isize > cfg->memory || ksize + isize > cfg->memory) {
        snprintf(err, errlen, "kernel and initramfs (%llu bytes) do not fit in guest memory",
                 (unsigned long long)(ksize + isize));
        return -1;
    }
    return 0;
}

/* The payload's rules; with host, also its files (opened, sized against the rules and memory). */
static int validate_payload(const struct vm_config *cfg, bool host, char *err, size_t errlen)
{
    if (cfg->initramfs && !cfg->kernel) {
        snprintf(err, errlen, "--initramfs needs --kernel");
        return -1;
    }
    if (cfg->firmware_log && !cfg->firmware) {
        snprintf(err, errlen, "--firmware-log needs --firmware");
        return -1;
    }
    if (cfg->cmdline && strlen(cfg->cmdline) > CFG_MAX_CMDLINE_LEN) {
        snprintf(err, errlen, "kernel command line is longer than %d bytes", CFG_MAX_CMDLINE_LEN);
        return -1;
    }
    return host ? validate_payload_files(cfg, err, errlen) : 0;
}
/* The one id rule (vm_config_id_in_use) over the whole configuration: no two devices of any
 * kind share an id (as in Cloud Hypervisor, whose vm.remove-device names one device). */
static int validate_unique_ids(const struct vm_config *cfg, char *err, size_t errlen)
{
    const char *ids[CFG_MAX_DISKS + CFG_MAX_NETS + 1];
    unsigned n = 0;
    for (unsigned i = 0; i < cfg->nr_disks; i++)
        ids[n++] = cfg->disks[i].id;
    for (unsigned i = 0; i < cfg->nr_nets; i++)
        ids[n++] = cfg->nets[i].id;
    if (cfg->vsock.enabled)
        ids[n++] = cfg->vsock.id;
    for (unsigned i = 0; i < n; i++)
        for (unsigned j = 0; j < i; j++)
            if (ids[i] && ids[j] && strcmp(ids[i], ids[j]) == 0) {
                snprintf(err, errlen,
                         "duplicate device id '%.*s' (ids are unique across disks, nets and "
                         "the vsock)",
                         CFG_MAX_ID_LEN, ids[i]);
                return -1;
            }
    return 0;
}

/* The devices' rules; with host, also every disk image (vm_config_check_disk). */
static int validate_devices(const struct vm_config *cfg, bool host, char *err, size_t errlen)
{
    if (cfg->serial == SERIAL_FILE && (!cfg->serial_file || !*cfg->serial_file)) {
        snprintf(err, errlen, "--serial file= needs a path");
        return -1;
    }
    if (cfg->nr_disks > CFG_MAX_DISKS || cfg->nr_nets > CFG_MAX_NETS) {
        snprintf(err, errlen, "too many devices (at most %u disks, %u nets)", CFG_MAX_DISKS,
                 CFG_MAX_NETS);
        return -1;
    }
    for (unsigned i = 0; i < cfg->nr_disks; i++) {
        if (!cfg->disks[i].path || !*cfg->disks[i].path) {
            snprintf(err, errlen, "disk %u has no path", i);
            return -1;
        }
        if (host && vm_config_check_disk(&cfg->disks[i], err, errlen) < 0)
            return -1;
    }
    for (unsigned i = 0; i < cfg->nr_nets; i++) {
        const struct net_config *n = &cfg->nets[i];
        if ((n->tap != NULL) == (n->fd >= 0)) {
            snprintf(err, errlen, "net %u needs exactly one of tap= or fd=", i);
            return -1;
        }
    }
    if (validate_unique_ids(cfg, err, errlen) < 0)
        return -1;
    if (cfg->vsock.enabled) {
        if (cfg->vsock.cid < 3 || cfg->vsock.cid > 0xFFFFFFFEULL) {
            snprintf(err, errlen, "vsock cid %llu is out of range (3..4294967294)",
                     (unsigned long long)cfg->vsock.cid);
            return -1;
        }
        if (!cfg->vsock.socket || !*cfg->vsock.socket) {
            snprintf(err, errlen, "vsock needs socket=PATH");
            return -1;
        }
    }
    return 0;
}

/* A string no longer than max bytes (NULL is fine). */
static int check_len(const char *what, const char *s, size_t max, char *err, size_t errlen)
{
    size_t len = s ? strlen(s) : 0;
    if (len <= max)
        return 0;
    snprintf(err, errlen, "%s is %zu bytes long; at most %zu are accepted", what, len, max);
    return -1;
}

static int validate_lengths(const struct vm_config *cfg, char *err, size_t errlen)
{
    if (check_len("kernel path", cfg->kernel, CFG_MAX_PATH_LEN, err, errlen) < 0 ||
        check_len("initramfs path", cfg->initramfs, CFG_MAX_PATH_LEN, err, errlen) < 0 ||
        check_len("firmware path", cfg->firmware, CFG_MAX_PATH_LEN, err, errlen) < 0 ||
        check_len("serial file path", cfg->serial_file, CFG_MAX_PATH_LEN, err, errlen) < 0 ||
        check_len("vsock id", cfg->vsock.id, CFG_MAX_ID_LEN, err, errlen) < 0 ||
        check_len("quote_socket path", cfg->platform.quote_socket, CFG_MAX_SOCKET_PATH, err,
                  errlen) < 0)
        return -1;
    if (cfg->vsock.enabled &&
        check_len("vsock socket path (its \"_<port>\" suffix for guest-initiated connections "
                  "must fit in the 107 bytes of a Unix socket address)",
                  cfg->vsock.socket, CFG_MAX_VSOCK_SOCKET, err, errlen) < 0)
        return -1;
    for (unsigned i = 0; i < cfg->nr_disks && i < CFG_MAX_DISKS; i++)
        if (check_len("disk path", cfg->disks[i].path, CFG_MAX_PATH_LEN, err, errlen) < 0 ||
            check_len("disk id", cfg->disks[i].id, CFG_MAX_ID_LEN, err, errlen) < 0)
            return -1;
    for (unsigned i = 0; i < cfg->nr_nets && i < CFG_MAX_NETS; i++)
        if (check_len("net id", cfg->nets[i].id, CFG_MAX_ID_LEN, err, errlen) < 0 ||
            check_len("tap name", cfg->nets[i].tap, 15, err, errlen) < 0)
            return -1;
    return 0;
}

/* The largest configuration these limits let through, with room to spare. */
_Static_assert(4 * CFG_MAX_PATH_LEN + CFG_MAX_CMDLINE_LEN +
                       CFG_MAX_DISKS * (CFG_MAX_PATH_LEN + CFG_MAX_ID_LEN) +
                       CFG_MAX_NETS * (15 + CFG_MAX_ID_LEN) + CFG_MAX_VSOCK_SOCKET +
                       CFG_MAX_ID_LEN + CFG_MAX_SOCKET_PATH <
                   CFG_MAX_CONFIG_BYTES,
               "the per-string limits bound the configuration size");

struct named_path {
    const char *what;
    const char *path;
    bool written; /* cocoon writes or creates it */
    bool is_disk; /* one image twice is the block layer's to judge (it locks images) */
};

/* Refuses a path named twice where cocoon writes or creates one of them: a vsock socket over
 * the serial file or the kernel, the console written into a disk image, ... */
static int validate_distinct_paths(const struct vm_config *cfg, char *err, size_t errlen)
{
    struct named_path p[6 + CFG_MAX_DISKS];
    unsigned n = 0;
    p[n++] = (struct named_path){"kernel", cfg->kernel, false, false};
    p[n++] = (struct named_path){"initramfs", cfg->initramfs, false, false};
    p[n++] = (struct named_path){"firmware", cfg->firmware, false, false};
    if (cfg->serial == SERIAL_FILE)
        p[n++] = (struct named_path){"serial file", cfg->serial_file, true, false};
    if (cfg->vsock.enabled)
        p[n++] = (struct named_path){"vsock socket", cfg->vsock.socket, true, false};
    p[n++] = (struct named_path){"quote_socket", cfg->platform.quote_socket, false, false};
    for (unsigned i = 0; i < cfg->nr_disks && i < CFG_MAX_DISKS; i++)
        p[n++] = (struct named_path){"disk", cfg->disks[i].path, !cfg->disks[i].readonly, true};
    for (unsigned i = 0; i < n; i++)
        for (unsigned j = i + 1; j < n; j++)
            if (p[i].path && p[j].path && (p[i].written || p[j].written) &&
                !(p[i].is_disk && p[j].is_disk) && strcmp(p[i].path, p[j].path) == 0) {
                snprintf(err, errlen, "%s and %s name the same path '%.200s'", p[i].what, p[j].what,
                         p[i].path);
                return -1;
            }
    return 0;
}

static int validate(const struct vm_config *cfg, bool host, char *err, size_t errlen)
{
    if (validate_lengths(cfg, err, errlen) < 0 || validate_machine(cfg, err, errlen) < 0 ||
        validate_payload(cfg, host, err, errlen) < 0 ||
        validate_devices(cfg, host, err, errlen) < 0 ||
        validate_distinct_paths(cfg, err, errlen) < 0)
        return -1;
    if (cfg->platform.tee != TEE_NONE && !cfg->firmware && !cfg->kernel) {
        snprintf(err, errlen, "a confidential guest needs --firmware or --kernel");
        return -1;
    }
    return 0;
}

int vm_config_validate(const struct vm_config *cfg, char *err, size_t errlen)
{
    return validate(cfg, true, err, errlen);
}

int vm_config_validate_rules(const struct vm_config *cfg, char *err, size_t errlen)
{
    return validate(cfg, false, err, errlen);
}

static int dup_str(char **dst, const char *src)
{
    *dst = NULL;
    if (!src)
        return 0;
    *dst = strdup(src);
    return *dst ? 0 : -1;
}

int vm_config_copy(struct vm_config *dst, const struct vm_config *src)
{
    *dst = *src;
    int rc = 0;
    rc |= dup_str(&dst->kernel, src->kernel);
    rc |= dup_str(&dst->initramfs, src->initramfs);
    rc |= dup_str(&dst->cmdline, src->cmdline);
    rc |= dup_str(&dst->firmware, src->firmware);
    rc |= dup_str(&dst->firmware_log, src->firmware_log);
    rc |= dup_str(&dst->serial_file, src->serial_file);
    for (unsigned i = 0; i < src->nr_disks && i < CFG_MAX_DISKS; i++) {
        rc |= dup_str(&dst->disks[i].path, src->disks[i].path);
        rc |= dup_str(&dst->disks[i].id, src->disks[i].id);
    }
    for (unsigned i = 0; i < src->nr_nets && i < CFG_MAX_NETS; i++) {
        rc |= dup_str(&dst->nets[i].tap, src->nets[i].tap);
        rc |= dup_str(&dst->nets[i].id, src->nets[i].id);
        if (src->nets[i].fd >= 0) {
            dst->nets[i].fd = fcntl(src->nets[i].fd, F_DUPFD_CLOEXEC, 3);
            rc |= dst->nets[i].fd < 0 ? -1 : 0;
        }
    }
    rc |= dup_str(&dst->vsock.socket, src->vsock.socket);
    rc |= dup_str(&dst->vsock.id, src->vsock.id);
    rc |= dup_str(&dst->platform.quote_socket, src->platform.quote_socket);
    return rc ? -1 : 0;
}
