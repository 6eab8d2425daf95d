/* cocoon_measure.c: cocoon-measure, the offline launch-measurement CLI (a drop-in for
 * sev-snp-measure, plus `tdx` for MRTD), built on tee/launch_plan.h. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "firmware/ovmf.h"
#include "tee/crypto.h"
#include "tee/launch_plan.h"
#include "tee/sev_hashes.h"
#include "tee/snp_digest.h"
#include "tee/tdx_digest.h"
#include "tee/vmsa.h"
#include "tools/cocoon_measure.h"
#include "version.h"

#define PROG          "cocoon-measure"
#define MAX_FILE_SIZE (1ull << 30)

static const char USAGE[] =
    "usage: cocoon-measure [-h] [--version] [-v] --mode {sev,seves,snp,snp:ovmf-hash,snp:svsm}\n"
    "                      [--vcpus N] [--vcpu-type CPUTYPE] [--vcpu-sig VALUE]\n"
    "                      [--vcpu-family FAMILY] [--vcpu-model MODEL] [--vcpu-stepping STEPPING]\n"
    "                      [--vmm-type VMMTYPE] --ovmf PATH [--kernel PATH] [--initrd PATH]\n"
    "                      [--append CMDLINE] [--guest-features VALUE]\n"
    "                      [--output-format {hex,base64}] [--snp-ovmf-hash HASH] [--dump-vmsa]\n"
    "                      [--svsm PATH] [--vars-size SIZE | --vars-file PATH]\n"
    "                      [--vmsa-mxcsr N] [--vmsa-fcw N] [--format {text,json,rvps}]\n"
    "       cocoon-measure tdx --firmware PATH [--page-order {per-page,per-section}]\n"
    "                      [--format {text,json,rvps}]\n"
    "       cocoon-measure verify {snp,tdx} ... (see --help)\n";

/* Command-line misuse: usage, one message, exit status 2 (as argparse does). */
static void __attribute__((noreturn, format(printf, 1, 2))) usage_error(const char *fmt, ...)
{
    va_list ap;
    fputs(USAGE, stderr);
    fputs(PROG ": error: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    exit(2);
}

/* Inputs that cannot be measured: "Error: ...", exit status 1 (as sev-snp-measure does). */
static int fail(const struct fw_error *err)
{
    fprintf(stderr, "Error: %s\n", err->msg);
    return 1;
}

int measure_read_file(const char *path, struct measure_file *f, struct fw_error *err)
{
    f->data = NULL;
    f->size = 0;
    f->mapped = false;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return fw_fail(err, "cannot open %s: %s", path, strerror(errno));
    struct stat st;
    size_t cap = 1 << 16;
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode)) {
        if ((uint64_t)st.st_size > MAX_FILE_SIZE) {
            close(fd);
            return fw_fail(err, "%s is larger than 1 GiB", path);
        }
        if (st.st_size > 0) {
            void *m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd, 0);
            if (m != MAP_FAILED) {
                close(fd);
                f->data = m;
                f->size = (size_t)st.st_size;
                f->mapped = true;
                return 0;
            }
        }
        cap = (size_t)st.st_size + 1; /* +1: notice a file that grows while we read */
    }
    f->data = malloc(cap);
    while (f->data) {
        if (f->size == cap) {
            if (cap > MAX_FILE_SIZE) {
                measure_file_free(f);
                close(fd);
                return fw_fail(err, "%s is larger than 1 GiB", path);
            }
            uint8_t *n = realloc(f->data, cap * 2);
            if (!n)
                break;
            f->data = n;
            cap *= 2;
        }
        ssize_t r = read(fd, f->data + f->size, cap - f->size);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            int e = errno;
            measure_file_free(f);
            close(fd);
            return fw_fail(err, "cannot read %s: %s", path, strerror(e));
        }
        if (r == 0) {
            close(fd);
            return 0;
        }
        f->size += (size_t)r;
    }
    measure_file_free(f);
    close(fd);
    return fw_fail(err, "out of memory reading %s", path);
}

void measure_file_free(struct measure_file *f)
{
    if (f->mapped)
        munmap(f->data, f->size);
    else
        free(f->data);
    f->mapped = false;
    f->data = NULL;
    f->size = 0;
}

/* ---- number parsing (argparse int() / int(x, 0) semantics, non-negative) ---- */

static bool parse_u64(const char *s, bool auto_base, uint64_t max, uint64_t *out)
{
    int base = 10;
    const char *p = s;
    if (*p == '+')
        p++;
    if (auto_base && p[0] == '0' && p[1]) {
        char c = (char)(p[1] | 0x20);
        if (c == 'x' || c == 'o' || c == 'b') {
            base = c == 'x' ? 16 : c == 'o' ? 8 : 2;
            p += 2;
        }
    }
    if (!*p)
        return false;
    uint64_t v = 0;
    for (; *p; p++) {
        int d;
        char c = *p;
        if (c == '_' && p[1] && p > s)
            continue;
        if (c >= '0' && c <= '9')
            d = c - '0';
        else if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f')
            d = (c | 0x20) - 'a' + 10;
        else
            return false;
        if (d >= base || v > (UINT64_MAX - (uint64_t)d) / (uint64_t)base)
            return false;
        v = v * (uint64_t)base + (uint64_t)d;
    }
    if (v > max)
        return false;
    *out = v;
    return true;
}

static uint64_t arg_u64(const char *opt, const char *val, bool auto_base, uint64_t max)
{
    uint64_t v;
    if (!parse_u64(val, auto_base, max, &v))
        usage_error("argument %s: invalid %s value: '%s'", opt, auto_base ? "auto_base_int" : "int",
                    val);
    return v;
}

static void print_hex(FILE *out, const uint8_t *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        fprintf(out, "%02x", b[i]);
}

static bool parse_hex(const char *s, uint8_t *out, size_t n)
{
    if (strlen(s) != 2 * n)
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned v;
        char pair[3] = {s[2 * i], s[2 * i + 1], 0};
        if (!strchr("0123456789abcdefABCDEF", pair[0]) ||
            !strchr("0123456789abcdefABCDEF", pair[1]) || sscanf(pair, "%2x", &v) != 1)
            return false;
        out[i] = (uint8_t)v;
    }
    return true;
}

/* ---- SEV / SEV-ES / SNP ---- */

enum {
    OPT_MODE = 256,
    OPT_VCPUS,
    OPT_VCPU_TYPE,
    OPT_VCPU_SIG,
    OPT_VCPU_FAMILY,
    OPT_VCPU_MODEL,
    OPT_VCPU_STEPPING,
    OPT_VMM_TYPE,
    OPT_OVMF,
    OPT_KERNEL,
    OPT_INITRD,
    OPT_KERNEL_SHA256,
    OPT_INITRD_SHA256,
    OPT_APPEND,
    OPT_GUEST_FEATURES,
    OPT_OUTPUT_FORMAT,
    OPT_SNP_OVMF_HASH,
    OPT_DUMP_VMSA,
    OPT_SVSM,
    OPT_VARS_SIZE,
    OPT_VARS_FILE,
    OPT_MXCSR,
    OPT_FCW,
    OPT_FORMAT,
    OPT_VERSION,
    OPT_FIRMWARE,
    OPT_PAGE_ORDER,
};

static const char *const MODES[] = {"sev", "seves", "snp", "snp:ovmf-hash", "snp:svsm"};

static void check_choice(const char *opt, const char *val, const char *const *choices, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(val, choices[i]) == 0)
            return;
    char list[256] = "";
    for (size_t i = 0; i < n; i++) {
        size_t l = strlen(list);
        snprintf(list + l, sizeof(list) - l, "%s'%s'", i ? ", " : "", choices[i]);
    }
    usage_error("argument %s: invalid choice: '%s' (choose from %s)", opt, val, list);
}

static void check_vcpu_type(const char *val)
{
    uint32_t sig;
    if (vcpu_type_signature(val, &sig) == 0)
        return;
    char list[512] = "";
    const char *name;
    for (size_t i = 0; (name = vcpu_type_name(i)) != NULL; i++) {
        size_t l = strlen(list);
        snprintf(list + l, sizeof(list) - l, "%s'%s'", i ? ", " : "", name);
    }
    usage_error("argument --vcpu-type: invalid choice: '%s' (choose from %s)", val, list);
}

static const struct option SEV_OPTS[] = {
    {"help", no_argument, NULL, 'h'},
    {"version", no_argument, NULL, OPT_VERSION},
    {"verbose", no_argument, NULL, 'v'},
    {"mode", required_argument, NULL, OPT_MODE},
    {"vcpus", required_argument, NULL, OPT_VCPUS},
    {"vcpu-type", required_argument, NULL, OPT_VCPU_TYPE},
    {"vcpu-sig", required_argument, NULL, OPT_VCPU_SIG},
    {"vcpu-family", required_argument, NULL, OPT_VCPU_FAMILY},
    {"vcpu-model", required_argument, NULL, OPT_VCPU_MODEL},
    {"vcpu-stepping", required_argument, NULL, OPT_VCPU_STEPPING},
    {"vmm-type", required_argument, NULL, OPT_VMM_TYPE},
    {"ovmf", required_argument, NULL, OPT_OVMF},
    {"kernel", required_argument, NULL, OPT_KERNEL},
    {"initrd", required_argument, NULL, OPT_INITRD},
    {"kernel-sha256", required_argument, NULL, OPT_KERNEL_SHA256},
    {"initrd-sha256", required_argument, NULL, OPT_INITRD_SHA256},
    {"append", required_argument, NULL, OPT_APPEND},
    {"guest-features", required_argument, NULL, OPT_GUEST_FEATURES},
    {"output-format", required_argument, NULL, OPT_OUTPUT_FORMAT},
    {"snp-ovmf-hash", required_argument, NULL, OPT_SNP_OVMF_HASH},
    {"dump-vmsa", no_argument, NULL, OPT_DUMP_VMSA},
    {"svsm", required_argument, NULL, OPT_SVSM},
    {"vars-size", required_argument, NULL, OPT_VARS_SIZE},
    {"vars-file", required_argument, NULL, OPT_VARS_FILE},
    {"vmsa-mxcsr", required_argument, NULL, OPT_MXCSR},
    {"vmsa-fcw", required_argument, NULL, OPT_FCW},
    {"format", required_argument, NULL, OPT_FORMAT},
    {NULL, 0, NULL, 0},
};

const struct option *measure_sev_options(void)
{
    return SEV_OPTS;
}

void measure_parse_sev_args(int argc, char **argv, struct sev_args *a)
{
    const struct option *opts = SEV_OPTS;
    memset(a, 0, sizeof(*a));
    a->vmm_type = "QEMU";
    a->output_format = "hex";
    a->format = "text";
    a->features = 0x1;
    opterr = 0;
    optind = 0; /* full getopt reset: `verify snp` parses a second argv */
    int c;
    while ((c = getopt_long(argc, argv, ":hv", opts, NULL)) != -1) {
        switch (c) {
        case 'h':
            measure_print_help(stdout);
            exit(0);
        case OPT_VERSION:
            printf(PROG " %s\n", COCOON_VERSION);
            exit(0);
        case 'v':
            a->verbose = true;
            break;
        case OPT_MODE:
            check_choice("--mode", optarg, MODES, sizeof(MODES) / sizeof(MODES[0]));
            a->mode = optarg;
            break;
        case OPT_VCPUS:
            a->vcpus = arg_u64("--vcpus", optarg, false, UINT32_MAX);
            a->have_vcpus = true;
            break;
        case OPT_VCPU_TYPE:
            check_vcpu_type(optarg);
            a->vcpu_type = optarg;
            break;
        case OPT_VCPU_SIG:
            a->sig = arg_u64("--vcpu-sig", optarg, true, UINT32_MAX);
            a->have_sig = true;
            break;
        case OPT_VCPU_FAMILY:
            a->family = arg_u64("--vcpu-family", optarg, false, 0x10e);
            a->have_family = true;
            break;
        case OPT_VCPU_MODEL:
            a->model = arg_u64("--vcpu-model", optarg, false, 0xff);
            a->have_model = true;
            break;
        case OPT_VCPU_STEPPING:
            a->stepping = arg_u64("--vcpu-stepping", optarg, false, 0xf);
            a->have_stepping = true;
            break;
        case OPT_VMM_TYPE:
            a->vmm_type = optarg;
            break;
        case OPT_OVMF:
            a->ovmf = optarg;
            break;
        case OPT_KERNEL:
            a->kernel = optarg;
            break;
        case OPT_KERNEL_SHA256:
            a->kernel_sha256 = optarg;
            break;
        case OPT_INITRD_SHA256:
            a->initrd_sha256 = optarg;
            break;
        case OPT_INITRD:
            a->initrd = optarg;
            break;
        case OPT_APPEND:
            a->append = optarg;
            break;
        case OPT_GUEST_FEATURES:
            a->features = arg_u64("--guest-features", optarg, true, UINT64_MAX);
            break;
        case OPT_OUTPUT_FORMAT: {
            static const char *const f[] = {"hex", "base64"};
            check_choice("--output-format", optarg, f, 2);
            a->output_format = optarg;
            break;
        }
        case OPT_SNP_OVMF_HASH:
            a->snp_ovmf_hash = optarg;
            break;
        case OPT_DUMP_VMSA:
            a->dump_vmsa = true;
            break;
        case OPT_SVSM:
            a->svsm = optarg;
            break;
        case OPT_VARS_SIZE:
            if (a->vars_file)
                usage_error("argument --vars-size: not allowed with argument --vars-file");
            a->vars_size = arg_u64("--vars-size", optarg, false, UINT32_MAX);
            break;
        case OPT_VARS_FILE:
            if (a->vars_size)
                usage_error("argument --vars-file: not allowed with argument --vars-size");
            a->vars_file = optarg;
            break;
        case OPT_MXCSR:
            a->mxcsr = arg_u64("--vmsa-mxcsr", optarg, true, UINT32_MAX);
            a->have_mxcsr = true;
            break;
        case OPT_FCW:
            a->fcw = arg_u64("--vmsa-fcw", optarg, true, UINT16_MAX);
            a->have_fcw = true;
            break;
        case OPT_FORMAT: {
            static const char *const f[] = {"text", "json", "rvps"};
            check_choice("--format", optarg, f, 3);
            a->format = optarg;
            break;
        }
        case ':':
            usage_error("argument %s: expected one argument", argv[optind - 1]);
        default:
            usage_error("unrecognized arguments: %s", argv[optind - 1]);
        }
    }
    if (optind < argc)
        usage_error("unrecognized arguments: %s", argv[optind]);
    if (!a->mode || !a->ovmf)
        usage_error("the following arguments are required: %s%s%s", a->mode ? "" : "--mode",
                    !a->mode && !a->ovmf ? ", " : "", a->ovmf ? "" : "--ovmf");
}

static enum launch_vmm_type parse_vmm(const char *s)
{
    if (!strcmp(s, "QEMU"))
        return LAUNCH_VMM_QEMU;
    if (!strcmp(s, "ec2"))
        return LAUNCH_VMM_EC2;
    if (!strcmp(s, "gce"))
        return LAUNCH_VMM_GCE;
    usage_error("unknown VMM type '%s'", s);
}

/* sev-snp-measure's get_vcpu_sig(): sev ignores it; family beats sig beats type. */
static uint32_t resolve_vcpu_sig(const struct sev_args *a, enum launch_vmm_type vmm)
{
    if (!strcmp(a->mode, "sev"))
        return 0;
    if (a->have_family) {
        if (!a->have_model || !a->have_stepping)
            usage_error("--vcpu-family needs --vcpu-model and --vcpu-stepping");
        return vcpu_signature((uint32_t)a->family, (uint32_t)a->model, (uint32_t)a->stepping);
    }
    if (a->have_sig)
        return (uint32_t)a->sig;
    uint32_t sig = 0;
    if (a->vcpu_type) {
        vcpu_type_signature(a->vcpu_type, &sig);
        return sig;
    }
    if (vmm == LAUNCH_VMM_QEMU)
        usage_error("missing --vcpu-type or --vcpu-sig or --vcpu-family in guest mode '%s'",
                    a->mode);
    return 0; /* EC2 and GCE put 0x600 in RDX whatever the model */
}

static const char *vmm_name(enum launch_vmm_type v)
{
    return v == LAUNCH_VMM_EC2 ? "ec2" : v == LAUNCH_VMM_GCE ? "gce" : "QEMU";
}

static void json_hex(FILE *o, const char *key, const uint8_t *b, size_t n, bool comma)
{
    fprintf(o, "  \"%s\": \"", key);
    print_hex(o, b, n);
    fprintf(o, "\"%s\n", comma ? "," : "");
}

static void json_updates(FILE *o, const struct launch_plan *plan)
{
    fprintf(o, "  \"launch_updates\": [");
    for (size_t i = 0; i < plan->n; i++) {
        const struct launch_update *u = &plan->updates[i];
        fprintf(
            o,
            "%s\n    {\"type\": \"%s\", \"origin\": \"%s\", \"index\": %u, \"gpa\": \"0x%" PRIx64
            "\", \"len\": %" PRIu64 "%s}",
            i ? "," : "", launch_update_type_name(u->type), launch_origin_name(u->origin), u->index,
            u->gpa, u->len, (u->flags & LAUNCH_F_TDX_EXTEND) ? ", \"extend\": true" : "");
    }
    fprintf(o, "%s]", plan->n ? "\n  " : "");
}

static const char *sev_mode_name(enum launch_tee t)
{
    switch (t) {
    case LAUNCH_TEE_SEV:
        return "SEV";
    case LAUNCH_TEE_SEV_ES:
        return "SEV_ES";
    case LAUNCH_TEE_SNP_SVSM:
        return "SEV_SNP_SVSM";
    default:
        return "SEV_SNP";
    }
}

static void print_measurement(const struct sev_args *a, enum launch_tee tee, const uint8_t *ld,
                              size_t n)
{
    if (a->verbose)
        printf("Calculated %s guest measurement: ", sev_mode_name(tee));
    if (!strcmp(a->output_format, "base64")) {
        unsigned char b64[4 * ((SNP_LD_SIZE + 2) / 3) + 1] = "";
        const struct crypto_evp *c = crypto_evp(); /* loaded: ld was computed with it */
        if (c)
            c->EVP_EncodeBlock(b64, ld, (int)n);
        printf("%s\n", b64);
    } else {
        print_hex(stdout, ld, n);
        putchar('\n');
    }
}

static int dump_vmsas(const struct launch_plan *plan)
{
    for (size_t i = 0; i < plan->n; i++) {
        const struct launch_update *u = &plan->updates[i];
        if (u->type != LAUNCH_PAGE_VMSA)
            continue;
        char name[32];
        snprintf(name, sizeof(name), "vmsa%u.bin", u->index);
        FILE *f = fopen(name, "wb");
        if (!f || fwrite(u->data, 1, u->len, f) != u->len || fclose(f) != 0) {
            fprintf(stderr, "Error: cannot write %s: %s\n", name, strerror(errno));
            return 1;
        }
    }
    return 0;
}

/* snp:ovmf-hash: only the firmware pages (the first update of every SNP plan). */
static int run_ovmf_hash(const struct sev_args *a)
{
    struct fw_error err = {{0}};
    struct measure_file fw;
    struct ovmf_image *img = calloc(1, sizeof(*img));
    struct snp_gctx g;
    uint8_t ld[SNP_LD_SIZE];
    if (!img)
        return fw_fail(&err, "out of memory"), fail(&err);
    if (measure_read_file(a->ovmf, &fw, &err)) {
        free(img);
        return fail(&err);
    }
    int rc = 1;
    if (ovmf_parse(img, fw.data, fw.size, &err) == 0) {
        if (fw.size == 0)
            fw_fail(&err, "OVMF file is empty");
        else if (fw.size % 4096 || fw.size > 0x100000000ull)
            fw_fail(&err, "OVMF size %zu is not a non-zero multiple of 4096 bytes below 4 GiB",
                    fw.size);
        else if (snp_gctx_init(&g, NULL))
            fw_fail(&err, "OpenSSL SHA-384 unavailable");
        else {
            if (snp_gctx_update_normal(&g, 0x100000000ull - fw.size, fw.data, fw.size) == 0) {
                memcpy(ld, g.ld, sizeof(ld));
                rc = 0;
            } else {
                fw_fail(&err, "SHA-384 failed");
            }
            snp_gctx_free(&g);
        }
    }
    measure_file_free(&fw);
    free(img);
    if (rc)
        return fail(&err);
    if (!strcmp(a->format, "json")) {
        printf("{\n  \"mode\": \"snp:ovmf-hash\",\n");
        json_hex(stdout, "measurement", ld, sizeof(ld), true);
        json_hex(stdout, "ovmf_hash", ld, sizeof(ld), false);
        printf("}\n");
    } else {
        print_hex(stdout, ld, sizeof(ld)); /* always hex, as sev-snp-measure */
        putchar('\n');
    }
    return 0;
}

static void print_sev_json(const struct sev_args *a, const struct launch_plan *plan,
                           const struct launch_sev_config *cfg, const uint8_t *ld, size_t n,
                           const uint8_t *ovmf_hash)
{
    FILE *o = stdout;
    fprintf(o, "{\n  \"mode\": \"%s\",\n", a->mode);
    json_hex(o, "measurement", ld, n, true);
    fprintf(o, "  \"digest_algorithm\": \"%s\",\n", n == SNP_LD_SIZE ? "sha384" : "sha256");
    if (ovmf_hash)
        json_hex(o, "ovmf_hash", ovmf_hash, SNP_LD_SIZE, true);
    fprintf(o, "  \"vmm_type\": \"%s\",\n", vmm_name(cfg->vmm));
    fprintf(o, "  \"vcpus\": %u,\n", cfg->vcpus);
    fprintf(o, "  \"vcpu_sig\": \"0x%x\",\n", cfg->vcpu_sig);
    fprintf(o, "  \"guest_features\": \"0x%" PRIx64 "\",\n", cfg->guest_features);
    fprintf(o, "  \"firmware_size\": %zu,\n", cfg->firmware_size);
    fprintf(o, "  \"firmware_gpa\": \"0x%" PRIx64 "\",\n", plan->fw_gpa);
    fprintf(o, "  \"ap_eip\": \"0x%x\",\n", plan->ap_eip);
    if (cfg->kernel) {
        fprintf(o, "  \"kernel_hashes\": {\n  ");
        json_hex(o, "cmdline_sha256", cfg->kernel->cmdline, 32, true);
        fprintf(o, "  ");
        json_hex(o, "initrd_sha256", cfg->kernel->initrd, 32, true);
        fprintf(o, "  ");
        json_hex(o, "kernel_sha256", cfg->kernel->kernel, 32, false);
        fprintf(o, "  },\n");
    } else {
        fprintf(o, "  \"kernel_hashes\": null,\n");
    }
    json_updates(o, plan);
    fprintf(o, "\n}\n");
}

static int sev_run(const struct sev_args *a, uint8_t *ld_out, struct fw_error *out_err)
{
    if (!ld_out && !strcmp(a->mode, "snp:ovmf-hash")) {
        if (!strcmp(a->format, "rvps"))
            usage_error("--format rvps needs a launch measurement: snp:ovmf-hash is only a seed");
        return run_ovmf_hash(a);
    }
    if (a->kernel && a->kernel_sha256)
        usage_error("argument --kernel-sha256: not allowed with argument --kernel");
    if (a->initrd && a->initrd_sha256)
        usage_error("argument --initrd-sha256: not allowed with argument --initrd");
    bool have_kernel = a->kernel || a->kernel_sha256;
    if ((a->initrd || a->initrd_sha256) && !have_kernel)
        usage_error("--kernel required when using --initrd");
    if (a->append && *a->append && !have_kernel)
        usage_error("--kernel required when using --append");
    if (strcmp(a->mode, "sev") && !a->have_vcpus)
        usage_error("missing --vcpus N in guest mode '%s'", a->mode);

    struct launch_sev_config cfg = {0};
    cfg.vmm = parse_vmm(a->vmm_type);
    cfg.vcpu_sig = resolve_vcpu_sig(a, cfg.vmm);
    cfg.tee = !strcmp(a->mode, "sev")        ? LAUNCH_TEE_SEV
              : !strcmp(a->mode, "seves")    ? LAUNCH_TEE_SEV_ES
              : !strcmp(a->mode, "snp:svsm") ? LAUNCH_TEE_SNP_SVSM
                                             : LAUNCH_TEE_SNP;
    uint64_t vars_size = a->vars_size;
    struct fw_error err = {{0}};
    if (cfg.tee == LAUNCH_TEE_SNP_SVSM) {
        if (a->vars_file) {
            struct stat st;
            if (stat(a->vars_file, &st) != 0) {
                fw_fail(&err, "cannot stat %s: %s", a->vars_file, strerror(errno));
                return fail(&err);
            }
            vars_size = (uint64_t)st.st_size;
        } else if (!a->vars_size) {
            usage_error("snp:svsm mode requires --vars-size or --vars-file");
        }
        if (!a->svsm)
            usage_error("snp:svsm mode requires --svsm");
    }
    if (!strcmp(a->format, "rvps") && cfg.tee != LAUNCH_TEE_SNP && cfg.tee != LAUNCH_TEE_SNP_SVSM)
        usage_error("--format rvps gives Trustee's snp_launch_measurement: use --mode snp or "
                    "snp:svsm");
    if (a->dump_vmsa && cfg.tee == LAUNCH_TEE_SEV)
        usage_error("--dump-vmsa is not availibe in the selected mode");
    uint8_t seed[SNP_LD_SIZE];
    if (a->snp_ovmf_hash) {
        if (cfg.tee != LAUNCH_TEE_SNP) {
            fw_fail(&err, "SNP OVMF hash only works with SNP");
            return fail(&err);
        }
        if (!parse_hex(a->snp_ovmf_hash, seed, sizeof(seed))) {
            fw_fail(&err, "--snp-ovmf-hash must be 96 hex digits (a 48-byte SHA-384 digest)");
            return fail(&err);
        }
        cfg.ld_seed = seed;
    }
    cfg.vcpus = (uint32_t)(cfg.tee == LAUNCH_TEE_SEV ? 0 : a->vcpus);
    cfg.guest_features = a->features;
    cfg.vars_size = vars_size;
    if (a->have_mxcsr || a->have_fcw) {
        enum vmsa_vmm vv = cfg.vmm == LAUNCH_VMM_EC2   ? VMSA_VMM_EC2
                           : cfg.vmm == LAUNCH_VMM_GCE ? VMSA_VMM_GCE
                                                       : VMSA_VMM_QEMU;
        cfg.fpu = vmsa_fpu_default(vv);
        if (cfg.tee == LAUNCH_TEE_SNP_SVSM)
            cfg.fpu.fcw = 0;
        if (a->have_mxcsr)
            cfg.fpu.mxcsr = (uint32_t)a->mxcsr;
        if (a->have_fcw)
            cfg.fpu.fcw = (uint16_t)a->fcw;
        cfg.fpu_override = true;
    }

    struct launch_kernel_hashes kh;
    if (have_kernel) {
        if ((a->kernel_sha256 && !parse_hex(a->kernel_sha256, kh.kernel, 32)) ||
            (a->initrd_sha256 && !parse_hex(a->initrd_sha256, kh.initrd, 32)))
            usage_error("--kernel-sha256 / --initrd-sha256 need 64 hex digits (a SHA-256)");
        if ((!a->kernel_sha256 && sev_sha256_file(kh.kernel, a->kernel, &err)) ||
            (!a->initrd_sha256 && sev_sha256_file(kh.initrd, a->initrd, &err)) ||
            sev_hash_cmdline(kh.cmdline, a->append, &err))
            return fail(&err);
        cfg.kernel = &kh;
    }
    struct measure_file fw = {0}, svsm = {0};
    if (measure_read_file(a->ovmf, &fw, &err))
        return fail(&err);
    if (cfg.tee == LAUNCH_TEE_SNP_SVSM && measure_read_file(a->svsm, &svsm, &err)) {
        measure_file_free(&fw);
        return fail(&err);
    }
    cfg.firmware = fw.data;
    cfg.firmware_size = fw.size;
    cfg.svsm = svsm.data;
    cfg.svsm_size = svsm.size;

    struct launch_plan *plan = calloc(1, sizeof(*plan));
    uint8_t ld[SNP_LD_SIZE], ovmf_hash[SNP_LD_SIZE];
    size_t ld_len = SNP_LD_SIZE;
    int rc = 1;
    if (!plan) {
        fw_fail(&err, "out of memory");
    } else if (launch_plan_build_sev(plan, &cfg, &err) == 0) {
        int drc;
        if (cfg.tee == LAUNCH_TEE_SEV || cfg.tee == LAUNCH_TEE_SEV_ES) {
            ld_len = SEV_LD_SIZE;
            drc = sev_digest_plan(plan, ld, &err);
        } else {
            drc = snp_digest_plan(plan, ld, ovmf_hash, &err);
        }
        if (drc == 0 && ld_out) {
            memcpy(ld_out, ld, ld_len);
            rc = 0;
        } else if (drc == 0 && (!a->dump_vmsa || dump_vmsas(plan) == 0)) {
            if (!strcmp(a->format, "json"))
                print_sev_json(a, plan, &cfg, ld, ld_len,
                               cfg.tee == LAUNCH_TEE_SNP ? ovmf_hash : NULL);
            else if (!strcmp(a->format, "rvps"))
                measure_print_rvps_digest("snp_launch_measurement", ld, ld_len);
            else
                print_measurement(a, cfg.tee, ld, ld_len);
            rc = 0;
        } else if (drc == 0) {
            rc = 2; /* dump failure already reported */
        }
        launch_plan_free(plan);
    }
    free(plan);
    measure_file_free(&fw);
    measure_file_free(&svsm);
    if (rc == 2)
        return 1;
    if (rc && out_err) {
        *out_err = err;
        return 1;
    }
    return rc ? fail(&err) : 0;
}

static int run_sev(const struct sev_args *a)
{
    return sev_run(a, NULL, NULL);
}

int measure_sev_digest(const struct sev_args *a, uint8_t ld[SNP_LD_SIZE], struct fw_error *err)
{
    if (strcmp(a->mode, "snp") && strcmp(a->mode, "snp:svsm"))
        return fw_fail(err, "mode %s has no SNP MEASUREMENT (use --mode snp or snp:svsm)", a->mode);
    return sev_run(a, ld, err) ? -1 : 0;
}

/* ---- TDX ---- */

int measure_tdx_mrtd(const char *firmware, enum launch_tdx_order order, uint8_t mrtd[TDX_MR_SIZE],
                     struct fw_error *err)
{
    struct measure_file fw;
    if (measure_read_file(firmware, &fw, err))
        return -1;
    struct launch_plan *plan = calloc(1, sizeof(*plan));
    struct launch_tdx_config cfg = {.firmware = fw.data, .firmware_size = fw.size, .order = order};
    int rc = -1;
    if (!plan) {
        fw_fail(err, "out of memory");
    } else if (launch_plan_build_tdx(plan, &cfg, err) == 0) {
        rc = tdx_mrtd_plan(plan, mrtd, err);
        launch_plan_free(plan);
    }
    free(plan);
    measure_file_free(&fw);
    return rc;
}

static const char TDX_USAGE[] = "usage: cocoon-measure tdx --firmware PATH "
                                "[--page-order {per-page,per-section}] "
                                "[--format {text,json,rvps}]\n";

static void __attribute__((noreturn, format(printf, 1, 2))) tdx_usage_error(const char *fmt, ...)
{
    va_list ap;
    fputs(TDX_USAGE, stderr);
    fputs(PROG " tdx: error: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    exit(2);
}

static void print_tdx_json(const struct launch_plan *plan, const uint8_t *mrtd, const uint8_t *cfv,
                           bool have_cfv)
{
    FILE *o = stdout;
    fprintf(o, "{\n  \"mode\": \"tdx\",\n  \"page_order\": \"%s\",\n",
            plan->tdx_order == LAUNCH_TDX_PER_PAGE ? "per-page" : "per-section");
    json_hex(o, "mrtd", mrtd, TDX_MR_SIZE, true);
    if (have_cfv)
        json_hex(o, "cfv_sha384", cfv, TDX_MR_SIZE, true);
    else
        fprintf(o, "  \"cfv_sha384\": null,\n");
    fprintf(o, "  \"firmware_size\": %" PRIu64 ",\n  \"tdvf_sections\": [", plan->fw_size);
    for (size_t i = 0; i < plan->tdvf.n_sections; i++) {
        const struct tdvf_section *s = &plan->tdvf.sections[i];
        fprintf(o,
                "%s\n    {\"type\": \"%s\", \"data_offset\": \"0x%x\", \"raw_size\": \"0x%x\", "
                "\"gpa\": \"0x%" PRIx64 "\", \"mem_size\": \"0x%" PRIx64
                "\", \"attributes\": \"0x%x\"}",
                i ? "," : "", tdvf_section_type_name(s->type), s->data_offset, s->raw_size, s->gpa,
                s->mem_size, s->attributes);
    }
    fprintf(o, "%s],\n", plan->tdvf.n_sections ? "\n  " : "");
    json_updates(o, plan);
    fprintf(o, "\n}\n");
}

static int run_tdx(int argc, char **argv)
{
    static const struct option opts[] = {
        {"help", no_argument, NULL, 'h'},
        {"firmware", required_argument, NULL, OPT_FIRMWARE},
        {"page-order", required_argument, NULL, OPT_PAGE_ORDER},
        {"format", required_argument, NULL, OPT_FORMAT},
        {NULL, 0, NULL, 0},
    };
    const char *firmware = NULL, *format = "text";
    enum launch_tdx_order order = LAUNCH_TDX_PER_PAGE;
    opterr = 0;
    optind = 1;
    int c;
    while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        switch (c) {
        case 'h':
            measure_print_help(stdout);
            exit(0);
        case OPT_FIRMWARE:
            firmware = optarg;
            break;
        case OPT_PAGE_ORDER:
            if (!strcmp(optarg, "per-page"))
                order = LAUNCH_TDX_PER_PAGE;
            else if (!strcmp(optarg, "per-section"))
                order = LAUNCH_TDX_PER_SECTION;
            else
                tdx_usage_error("argument --page-order: invalid choice: '%s' (choose from "
                                "'per-page', 'per-section')",
                                optarg);
            break;
        case OPT_FORMAT:
            if (strcmp(optarg, "text") && strcmp(optarg, "json") && strcmp(optarg, "rvps"))
                tdx_usage_error("argument --format: invalid choice: '%s' (choose from 'text', "
                                "'json', 'rvps')",
                                optarg);
            format = optarg;
            break;
        case ':':
            tdx_usage_error("argument %s: expected one argument", argv[optind - 1]);
        default:
            tdx_usage_error("unrecognized arguments: %s", argv[optind - 1]);
        }
    }
    if (optind < argc)
        tdx_usage_error("unrecognized arguments: %s", argv[optind]);
    if (!firmware)
        tdx_usage_error("the following arguments are required: --firmware");

    struct fw_error err = {{0}};
    struct measure_file fw;
    if (measure_read_file(firmware, &fw, &err))
        return fail(&err);
    struct launch_plan *plan = calloc(1, sizeof(*plan));
    struct launch_tdx_config cfg = {.firmware = fw.data, .firmware_size = fw.size, .order = order};
    uint8_t mrtd[TDX_MR_SIZE], cfv[TDX_MR_SIZE];
    int rc = 1;
    if (!plan) {
        fw_fail(&err, "out of memory");
    } else if (launch_plan_build_tdx(plan, &cfg, &err) == 0) {
        if (tdx_mrtd_plan(plan, mrtd, &err) == 0) {
            struct fw_error cfv_err;
            bool have_cfv = tdx_cfv_digest(&plan->tdvf, cfv, &cfv_err) == 0;
            if (!strcmp(format, "json")) {
                print_tdx_json(plan, mrtd, cfv, have_cfv);
            } else if (!strcmp(format, "rvps")) {
                measure_print_rvps_digest("mr_td", mrtd, sizeof(mrtd));
            } else {
                printf("MRTD: ");
                print_hex(stdout, mrtd, sizeof(mrtd));
                if (have_cfv) {
                    printf("\nCFV-SHA384: ");
                    print_hex(stdout, cfv, sizeof(cfv));
                }
                putchar('\n');
            }
            rc = 0;
        }
        launch_plan_free(plan);
    }
    free(plan);
    measure_file_free(&fw);
    return rc ? fail(&err) : 0;
}

int main(int argc, char **argv)
{
    int rc;
    if (argc > 1 && !strcmp(argv[1], "tdx")) {
        rc = run_tdx(argc - 1, argv + 1);
    } else if (argc > 1 && !strcmp(argv[1], "verify")) {
        rc = measure_verify_main(argc - 1, argv + 1);
    } else {
        struct sev_args a;
        measure_parse_sev_args(argc, argv, &a);
        rc = run_sev(&a);
    }
    if (fflush(stdout) != 0 || ferror(stdout)) {
        fprintf(stderr, "Error: cannot write the result: %s\n", strerror(errno));
        return 1;
    }
    return rc;
}
