/* cli.c: parses cocoon's launch flags (Cloud Hypervisor syntax) into a struct vm_config. */
#include "vmm/cli.h"

#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "tee/vmsa.h"

/* One parsed "key=value" item of a comma-separated option list. */
struct kv {
    char *key;
    char *val; /* never NULL; "" when the item had no '=' */
    bool has_eq;
};

#define KV_MAX 16

/* Splits a writable "k=v,k=v" string in place. Returns the count or -1 if there are too many. */
static int kv_split(char *s, struct kv *out)
{
    int n = 0;
    char *save = NULL;
    for (char *tok = strtok_r(s, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        if (n == KV_MAX)
            return -1;
        char *eq = strchr(tok, '=');
        out[n].key = tok;
        out[n].val = eq ? eq + 1 : tok + strlen(tok);
        out[n].has_eq = eq != NULL;
        if (eq)
            *eq = '\0';
        n++;
    }
    return n;
}

/* Counts, sizes and fds are decimal only, and a leading zero is refused rather than read as
 * octal ("010" would be 8 to strtoul with base 0, 10 to a person): one rule for every number. */
static int parse_uint(const char *s, uint64_t max, uint64_t *out)
{
    if (!s || *s < '0' || *s > '9' || (s[0] == '0' && s[1] != '\0'))
        return -1;
    char *end = NULL;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end || v > max)
        return -1;
    *out = v;
    return 0;
}

/* Bit masks and signatures: decimal as above, or hexadecimal with an explicit 0x prefix. */
static int parse_uint_or_hex(const char *s, uint64_t max, uint64_t *out)
{
    if (!s || !(s[0] == '0' && (s[1] == 'x' || s[1] == 'X')))
        return parse_uint(s, max, out);
    const char *h = s + 2;
    if (!((*h >= '0' && *h <= '9') || (*h >= 'a' && *h <= 'f') || (*h >= 'A' && *h <= 'F')))
        return -1;
    char *end = NULL;
    errno = 0;
    unsigned long long v = strtoull(h, &end, 16);
    if (errno || *end || v > max)
        return -1;
    *out = v;
    return 0;
}

static int parse_bool(const char *s, bool *out)
{
    if (!strcmp(s, "on") || !strcmp(s, "true")) {
        *out = true;
        return 0;
    }
    if (!strcmp(s, "off") || !strcmp(s, "false")) {
        *out = false;
        return 0;
    }
    return -1;
}

/* Replaces *dst with a copy of s. */
static int set_str(char **dst, const char *s)
{
    char *c = strdup(s);
    if (!c)
        return -1;
    free(*dst);
    *dst = c;
    return 0;
}

#define BAD(...)                                                                                   \
    do {                                                                                           \
        snprintf(err, errlen, __VA_ARGS__);                                                        \
        return -1;                                                                                 \
    } while (0)

static int opt_cpus(struct vm_config *cfg, struct kv *kv, int n, char *err, size_t errlen)
{
    for (int i = 0; i < n; i++) {
        uint64_t v;
        bool is_boot = !strcmp(kv[i].key, "boot");
        if (!is_boot && strcmp(kv[i].key, "max"))
            BAD("--cpus: unknown option '%s' (expected boot=N[,max=N])", kv[i].key);
        if (parse_uint(kv[i].val, 100000, &v) < 0)
            BAD("--cpus: '%s' is not a vCPU count (decimal, no leading zeros)", kv[i].val);
        if (is_boot)
            cfg->cpus = (unsigned)v;
        else
            cfg->max_cpus = (unsigned)v;
    }
    return 0;
}

static int opt_memory(struct vm_config *cfg, struct kv *kv, int n, char *err, size_t errlen)
{
    for (int i = 0; i < n; i++) {
        if (!strcmp(kv[i].key, "size")) {
            if (parse_size(kv[i].val, &cfg->memory) < 0)
                BAD("--memory: '%s' is not a size (decimal, no leading zeros, optional K/M/G/T: "
                    "512M, 1G)",
                    kv[i].val);
        } else if (!strcmp(kv[i].key, "shared") || !strcmp(kv[i].key, "hugepages")) {
            bool b;
            if (parse_bool(kv[i].val, &b) < 0)
                BAD("--memory: %s= takes on|off", kv[i].key);
        } else {
            BAD("--memory: unknown option '%s' (expected size=SIZE)", kv[i].key);
        }
    }
    return 0;
}

static int opt_serial(struct vm_config *cfg, char *arg, char *err, size_t errlen)
{
    if (!strcmp(arg, "tty")) {
        cfg->serial = SERIAL_TTY;
    } else if (!strcmp(arg, "off")) {
        cfg->serial = SERIAL_OFF;
    } else if (!strcmp(arg, "null")) {
        cfg->serial = SERIAL_NULL;
    } else if (!strncmp(arg, "file=", 5) && arg[5]) {
        cfg->serial = SERIAL_FILE;
        if (set_str(&cfg->serial_file, arg + 5) < 0)
            BAD("out of memory");
    } else {
        BAD("--serial: '%s' is not one of tty, off, null, file=PATH", arg);
    }
    return 0;
}

static int opt_disk(struct vm_config *cfg, struct kv *kv, int n, char *err, size_t errlen)
{
    if (cfg->nr_disks >= CFG_MAX_DISKS)
        BAD("--disk: at most %u disks", CFG_MAX_DISKS);
    struct disk_config *d = &cfg->disks[cfg->nr_disks++];
    for (int i = 0; i < n; i++) {
        uint64_t v;
        const char *k = kv[i].key;
        if (!strcmp(k, "path") && *kv[i].val) {
            if (set_str(&d->path, kv[i].val) < 0)
                BAD("out of memory");
        } else if (!strcmp(k, "id") && *kv[i].val) {
            if (set_str(&d->id, kv[i].val) < 0)
                BAD("out of memory");
        } else if (!strcmp(k, "readonly")) {
            if (parse_bool(kv[i].val, &d->readonly) < 0)
                BAD("--disk: readonly= takes on|off");
        } else if (!strcmp(k, "direct")) {
            if (parse_bool(kv[i].val, &d->direct) < 0)
                BAD("--disk: direct= takes on|off");
        } else if (!strcmp(k, "num_queues") || !strcmp(k, "queue_size")) {
            if (parse_uint(kv[i].val, 65535, &v) < 0 || v == 0)
                BAD("--disk: '%s' is not a valid %s", kv[i].val, k);
            *(k[0] == 'n' ? &d->num_queues : &d->queue_size) = (unsigned)v;
        } else {
            BAD("--disk: bad option '%s' (expected path=P[,readonly=on][,direct=on][,id=ID])", k);
        }
    }
    if (!d->path)
        BAD("--disk: path= is required");
    return 0;
}

static int opt_net(struct vm_config *cfg, struct kv *kv, int n, char *err, size_t errlen)
{
    if (cfg->nr_nets >= CFG_MAX_NETS)
        BAD("--net: at most %u interfaces", CFG_MAX_NETS);
    struct net_config *c = &cfg->nets[cfg->nr_nets++];
    for (int i = 0; i < n; i++) {
        uint64_t v;
        const char *k = kv[i].key;
        if (!strcmp(k, "tap") && *kv[i].val) {
            if (set_str(&c->tap, kv[i].val) < 0)
                BAD("out of memory");
        } else if (!strcmp(k, "fd")) {
            if (parse_uint(kv[i].val, 1 << 20, &v) < 0)
                BAD("--net: '%s' is not a file descriptor number", kv[i].val);
            c->fd = (int)v;
        } else if (!strcmp(k, "mac")) {
            if (parse_mac(kv[i].val, c->mac) < 0)
                BAD("--net: '%s' is not a MAC address (aa:bb:cc:dd:ee:ff)", kv[i].val);
            c->mac_set = true;
        } else if (!strcmp(k, "id") && *kv[i].val) {
            if (set_str(&c->id, kv[i].val) < 0)
                BAD("out of memory");
        } else if (!strcmp(k, "mtu")) {
            if (parse_uint(kv[i].val, 65535, &v) < 0 || v < 68)
                BAD("--net: '%s' is not a valid mtu", kv[i].val);
            c->mtu = (uint32_t)v;
        } else if (!strcmp(k, "num_queues") || !strcmp(k, "queue_size")) {
            if (parse_uint(kv[i].val, 65535, &v) < 0 || v == 0)
                BAD("--net: '%s' is not a valid %s", kv[i].val, k);
            *(k[0] == 'n' ? &c->num_queues : &c->queue_size) = (unsigned)v;
        } else {
            BAD("--net: bad option '%s' (expected tap=NAME|fd=N[,mac=M])", k);
        }
    }
    if ((c->tap != NULL) == (c->fd >= 0))
        BAD("--net: give exactly one of tap=NAME or fd=N");
    return 0;
}

static int opt_vsock(struct vm_config *cfg, struct kv *kv, int n, char *err, size_t errlen)
{
    struct vsock_config *v = &cfg->vsock;
    v->enabled = true;
    for (int i = 0; i < n; i++) {
        if (!strcmp(kv[i].key, "cid")) {
            if (parse_uint(kv[i].val, 0xFFFFFFFEULL, &v->cid) < 0 || v->cid < 3)
                BAD("--vsock: cid '%s' is not in 3..4294967294", kv[i].val);
        } else if (!strcmp(kv[i].key, "socket") && *kv[i].val) {
            if (set_str(&v->socket, kv[i].val) < 0)
                BAD("out of memory");
        } else if (!strcmp(kv[i].key, "id") && *kv[i].val) {
            if (set_str(&v->id, kv[i].val) < 0)
                BAD("out of memory");
        } else {
            BAD("--vsock: bad option '%s' (expected cid=N,socket=PATH)", kv[i].key);
        }
    }
    if (!v->socket)
        BAD("--vsock: socket= is required");
    return 0;
}

static int opt_platform(struct vm_config *cfg, struct kv *kv, int n, char *err, size_t errlen)
{
    struct platform_config *p = &cfg->platform;
    for (int i = 0; i < n; i++) {
        const char *k = kv[i].key, *val = kv[i].val;
        bool b;
        if (!strcmp(k, "tee")) {
            if (!strcmp(val, "none"))
                p->tee = TEE_NONE;
            else if (!strcmp(val, "snp"))
                p->tee = TEE_SNP;
            else if (!strcmp(val, "tdx"))
                p->tee = TEE_TDX;
            else
                BAD("--platform: tee '%s' is not one of none, snp, tdx", val);
        } else if (!strcmp(k, "sev_snp") || !strcmp(k, "tdx")) {
            if (parse_bool(val, &b) < 0)
                BAD("--platform: %s= takes on|off", k);
            if (b)
                p->tee = k[0] == 's' ? TEE_SNP : TEE_TDX;
        } else if (!strcmp(k, "policy")) {
            if (parse_uint_or_hex(val, UINT64_MAX, &p->snp_policy) < 0)
                BAD("--platform: policy '%s' is not a number", val);
        } else if (!strcmp(k, "host_data")) {
            if (parse_hex_bytes(val, p->host_data, sizeof(p->host_data)) < 0)
                BAD("--platform: host_data must be 64 hex digits");
            p->host_data_set = true;
        } else if (!strcmp(k, "mrconfigid")) {
            if (parse_hex_bytes(val, p->mrconfigid, sizeof(p->mrconfigid)) < 0)
                BAD("--platform: mrconfigid must be 96 hex digits");
            p->mrconfigid_set = true;
        } else if (!strcmp(k, "vcpu_type")) {
            if (vcpu_type_signature(val, &p->snp_vcpu_sig) < 0)
                BAD("--platform: unknown vcpu_type '%s' (e.g. EPYC-v4, EPYC-Milan)", val);
        } else if (!strcmp(k, "vcpu_sig")) {
            uint64_t sig;
            if (parse_uint_or_hex(val, UINT32_MAX, &sig) < 0 || sig == 0)
                BAD("--platform: vcpu_sig '%s' is not a CPUID signature", val);
            p->snp_vcpu_sig = (uint32_t)sig;
        } else if (!strcmp(k, "guest_features")) {
            if (parse_uint_or_hex(val, UINT64_MAX, &p->snp_guest_features) < 0 ||
                !(p->snp_guest_features & 1))
                BAD("--platform: guest_features '%s' must be a number with bit 0 (SNPActive)", val);
        } else if (!strcmp(k, "quote_socket") && *val) {
            if (set_str(&p->quote_socket, val) < 0)
                BAD("out of memory");
        } else {
            BAD("--platform: bad option '%s' (expected "
                "tee=none|snp|tdx[,policy=N][,host_data=HEX])",
                k);
        }
    }
    return 0;
}

static int opt_api_socket(struct cli_opts *o, struct kv *kv, int n, const char *raw, char *err,
                          size_t errlen)
{
    if (n == 1 && !*kv[0].val && strchr(raw, '=') == NULL) {
        if (set_str(&o->api_socket, raw) < 0)
            BAD("out of memory");
        return 0;
    }
    for (int i = 0; i < n; i++) {
        uint64_t v;
        if (!strcmp(kv[i].key, "path") && *kv[i].val) {
            if (set_str(&o->api_socket, kv[i].val) < 0)
                BAD("out of memory");
        } else if (!strcmp(kv[i].key, "fd") && parse_uint(kv[i].val, 1 << 20, &v) == 0) {
            o->api_socket_fd = (int)v;
        } else {
            BAD("--api-socket: expected PATH, path=PATH or fd=N");
        }
    }
    return 0;
}

static int opt_seccomp(struct cli_opts *o, const char *arg, char *err, size_t errlen)
{
    if (!strcmp(arg, "true"))
        o->seccomp = CLI_SECCOMP_TRUE;
    else if (!strcmp(arg, "false"))
        o->seccomp = CLI_SECCOMP_FALSE;
    else if (!strcmp(arg, "log"))
        o->seccomp = CLI_SECCOMP_LOG;
    else if (!strcmp(arg, "errno"))
        o->seccomp = CLI_SECCOMP_ERRNO;
    else
        BAD("--seccomp: '%s' is not one of true, false, log, errno", arg);
    return 0;
}

enum {
    OPT_KERNEL = 256,
    OPT_INITRAMFS,
    OPT_CMDLINE,
    OPT_CPUS,
    OPT_MEMORY,
    OPT_SERIAL,
    OPT_API_SOCKET,
    OPT_SECCOMP,
    OPT_VSOCK,
    OPT_DISK,
    OPT_NET,
    OPT_PLATFORM,
    OPT_FIRMWARE,
    OPT_FIRMWARE_LOG,
};

static const struct option long_opts[] = {
    {"kernel", required_argument, NULL, OPT_KERNEL},
    {"initramfs", required_argument, NULL, OPT_INITRAMFS},
    {"cmdline", required_argument, NULL, OPT_CMDLINE},
    {"cpus", required_argument, NULL, OPT_CPUS},
    {"memory", required_argument, NULL, OPT_MEMORY},
    {"serial", required_argument, NULL, OPT_SERIAL},
    {"api-socket", required_argument, NULL, OPT_API_SOCKET},
    {"seccomp", required_argument, NULL, OPT_SECCOMP},
    {"vsock", required_argument, NULL, OPT_VSOCK},
    {"disk", required_argument, NULL, OPT_DISK},
    {"net", required_argument, NULL, OPT_NET},
    {"platform", required_argument, NULL, OPT_PLATFORM},
    {"firmware", required_argument, NULL, OPT_FIRMWARE},
    {"firmware-log", required_argument, NULL, OPT_FIRMWARE_LOG},
    {"verbose", no_argument, NULL, 'v'},
    {"help", no_argument, NULL, 'h'},
    {"version", no_argument, NULL, 'V'},
    {NULL, 0, NULL, 0},
};

static const char *opt_name(int opt)
{
    for (const struct option *lo = long_opts; lo->name; lo++)
        if (lo->val == opt)
            return lo->name;
    return "?";
}

/* Options whose argument is a "k=v,..." list. */
static bool takes_kv(int opt)
{
    return opt == OPT_CPUS || opt == OPT_MEMORY || opt == OPT_VSOCK || opt == OPT_DISK ||
           opt == OPT_NET || opt == OPT_PLATFORM || opt == OPT_API_SOCKET;
}

static const char *opt_name(int opt);

/* Every key of a "k=v" list needs a value; "path=" is named as such, not as a bad option. */
static int check_values(int opt, const struct kv *kv, int n, const char *raw, char *err,
                        size_t errlen)
{
    if (opt == OPT_API_SOCKET && n == 1 && !strchr(raw, '='))
        return 0; /* --api-socket PATH */
    for (int i = 0; i < n; i++)
        if (!*kv[i].val) {
            if (kv[i].has_eq)
                BAD("--%s: %s= needs a value", opt_name(opt), kv[i].key);
            BAD("--%s: '%s' needs a value (%s=...)", opt_name(opt), kv[i].key, kv[i].key);
        }
    return 0;
}

static int apply_opt(struct cli_opts *o, int opt, char *arg, char *err, size_t errlen)
{
    struct vm_config *cfg = &o->cfg;
    struct kv kv[KV_MAX];
    int n = 0;
    char *copy = NULL;
    if (takes_kv(opt)) {
        copy = strdup(arg);
        if (!copy)
            BAD("out of memory");
        n = kv_split(copy, kv);
        if (n <= 0) {
            free(copy);
            BAD("option value '%s' is empty or has too many items", arg);
        }
        if (check_values(opt, kv, n, arg, err, errlen) < 0) {
            free(copy);
            return -1;
        }
    }
    int rc = 0;
    switch (opt) {
    case OPT_KERNEL:
        rc = set_str(&cfg->kernel, arg);
        break;
    case OPT_INITRAMFS:
        rc = set_str(&cfg->initramfs, arg);
        break;
    case OPT_CMDLINE:
        rc = set_str(&cfg->cmdline, arg);
        break;
    case OPT_FIRMWARE:
        rc = set_str(&cfg->firmware, arg);
        break;
    case OPT_FIRMWARE_LOG:
        rc = set_str(&cfg->firmware_log, arg);
        break;
    case OPT_CPUS:
        rc = opt_cpus(cfg, kv, n, err, errlen);
        break;
    case OPT_MEMORY:
        rc = opt_memory(cfg, kv, n, err, errlen);
        break;
    case OPT_SERIAL:
        rc = opt_serial(cfg, arg, err, errlen);
        break;
    case OPT_DISK:
        rc = opt_disk(cfg, kv, n, err, errlen);
        break;
    case OPT_NET:
        rc = opt_net(cfg, kv, n, err, errlen);
        break;
    case OPT_VSOCK:
        rc = opt_vsock(cfg, kv, n, err, errlen);
        break;
    case OPT_PLATFORM:
        rc = opt_platform(cfg, kv, n, err, errlen);
        break;
    case OPT_API_SOCKET:
        rc = opt_api_socket(o, kv, n, arg, err, errlen);
        break;
    case OPT_SECCOMP:
        rc = opt_seccomp(o, arg, err, errlen);
        break;
    }
    free(copy);
    if (rc < 0 && !*err)
        snprintf(err, errlen, "out of memory");
    return rc;
}

int cli_parse(int argc, char *const argv[], struct cli_opts *o, char *err, size_t errlen)
{
    memset(o, 0, sizeof(*o));
    vm_config_init(&o->cfg);
    o->api_socket_fd = -1;
    if (errlen)
        err[0] = '\0';
    optind = 0; /* full re-initialisation, so tests can call us repeatedly */
    opterr = 0;
    int opt;
    while ((opt = getopt_long(argc, argv, "+:vhV", long_opts, NULL)) != -1) {
        switch (opt) {
        case 'v':
            o->verbosity++;
            break;
        case 'h':
            o->help = true;
            break;
        case 'V':
            o->version = true;
            break;
        case ':':
            BAD("option '%s' needs a value", argv[optind - 1]);
        case '?':
            if (optopt)
                BAD("unknown option '-%c' (see --help)", optopt);
            BAD("unknown option '%s' (see --help)", argv[optind - 1]);
        default:
            if (apply_opt(o, opt, optarg, err, errlen) < 0)
                return -1;
        }
    }
    if (optind < argc)
        BAD("unexpected argument '%s' (see --help)", argv[optind]);
    return 0;
}

void cli_opts_free(struct cli_opts *o)
{
    vm_config_free(&o->cfg);
    free(o->api_socket);
    o->api_socket = NULL;
}

void cli_usage(FILE *f)
{
    fputs("usage: cocoon --kernel FILE [--initramfs FILE] [--cmdline STRING]\n"
          "              [--cpus boot=N[,max=N]] [--memory size=SIZE]\n"
          "              [--serial tty|off|null|file=PATH] [-v]...\n"
          "       cocoon --api-socket PATH|path=PATH|fd=N [-v]... [--seccomp true|false|log]\n"
          "\n"
          "Boots a Linux bzImage or a PVH ELF (vmlinux, test guest) on KVM.\n"
          "  --kernel FILE        bzImage (64-bit boot protocol) or ELF with a PVH entry note\n"
          "  --initramfs FILE     initial ramdisk\n"
          "  --cmdline STRING     kernel command line\n"
          "  --cpus boot=N        vCPUs (1..254, default 1)\n"
          "  --memory size=SIZE   guest RAM, e.g. 512M, 2G (16M..1T, default 512M)\n"
          "  --serial MODE        16550 console at 0x3F8: tty (stdout, default), off, null,\n"
          "                       file=PATH\n"
          "  --disk path=P[,readonly=on][,direct=on][,id=ID]   virtio-blk disk (repeatable)\n"
          "  --net tap=NAME|fd=N[,mac=M]           virtio-net interface (repeatable)\n"
          "  --vsock cid=N,socket=PATH             virtio-vsock (hybrid Unix-socket muxer)\n"
          "  --platform tee=none|snp|tdx[,policy=N][,host_data=HEX]\n"
          "                       [,vcpu_type=NAME|vcpu_sig=N][,guest_features=N] (SNP)\n"
          "                       [,mrconfigid=HEX][,quote_socket=PATH] (TDX)\n"
          "  --firmware FILE      firmware image (OVMF/TDVF; tee=none: any PC firmware such as\n"
          "                       SeaBIOS, booted from the reset vector; --kernel via fw_cfg)\n"
          "  --firmware-log FILE  the firmware's debug console (port 0x402) into FILE\n"
          "  --api-socket PATH    Cloud Hypervisor-compatible REST API on a Unix socket\n"
          "  --seccomp MODE       true (default), false, log\n"
          "  -v                   more logging (repeat for more)\n"
          "  -h, --help           this text\n"
          "  -V, --version        print the version\n"
          "\n"
          "Exit status: the guest's chosen status on power-off (debug-exit port 0xF4), 0 on\n"
          "power-off without one, 1 for bad input or start-up failure, 2 for a VMM run-time\n"
          "error, 3 when the guest resets, 128+N on signal N (SIGTERM, SIGINT).\n",
          f);
}
