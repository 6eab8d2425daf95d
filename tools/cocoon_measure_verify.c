/* cocoon_measure_verify.c: `cocoon-measure verify`: dispatch to snp/tdx, the named-check log and
 * the text / JSON / RVPS output shared by both. */
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tools/cocoon_measure.h"
#include "tools/verify_cli.h"
#include "tools/verify_x509.h"

static const char VERIFY_USAGE[] = "usage: cocoon-measure verify snp --report FILE ...\n"
                                   "       cocoon-measure verify tdx --quote FILE ...\n"
                                   "(cocoon-measure --help lists every option)\n";

void verify_usage_error(const char *usage, const char *fmt, ...)
{
    va_list ap;
    fputs(usage, stderr);
    fputs("cocoon-measure verify: error: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    exit(2);
}

int measure_verify_main(int argc, char **argv)
{
    if (argc < 2)
        verify_usage_error(VERIFY_USAGE, "which evidence: snp or tdx");
    if (!strcmp(argv[1], "snp"))
        return verify_snp_main(argc - 1, argv + 1);
    if (!strcmp(argv[1], "tdx"))
        return verify_tdx_main(argc - 1, argv + 1);
    if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
        measure_print_help(stdout);
        return 0;
    }
    verify_usage_error(VERIFY_USAGE, "unknown evidence type '%s' (choose from 'snp', 'tdx')",
                       argv[1]);
}

void vlog_init(struct vlog *l)
{
    l->n = 0;
    l->first_fail = -1;
}

int vlog_add(struct vlog *l, const char *name, enum vresult r, const char *fmt, ...)
{
    if (l->n == VERIFY_MAX_CHECKS) { /* a programming error; never silently pass */
        if (l->first_fail < 0)
            l->first_fail = (int)l->n - 1;
        return -1;
    }
    struct vcheck *c = &l->c[l->n];
    snprintf(c->name, sizeof(c->name), "%s", name);
    c->result = r;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->detail, sizeof(c->detail), fmt, ap);
    va_end(ap);
    if (r == V_FAIL && l->first_fail < 0)
        l->first_fail = (int)l->n;
    l->n++;
    return r == V_FAIL ? -1 : 0;
}

static const char *result_name(enum vresult r)
{
    return r == V_PASS ? "PASS" : r == V_FAIL ? "FAIL" : "SKIP";
}

int vlog_finish(const struct vlog *l, enum vformat f, json_t *doc)
{
    if (f == VF_JSON) {
        json_t *arr = json_array();
        for (size_t i = 0; i < l->n; i++)
            json_array_append_new(arr,
                                  json_pack("{s:s,s:s,s:s}", "name", l->c[i].name, "result",
                                            result_name(l->c[i].result), "detail", l->c[i].detail));
        json_object_set_new(doc, "checks", arr);
        json_object_set_new(doc, "result", json_string(l->first_fail < 0 ? "pass" : "fail"));
        json_object_set_new(doc, "first_failed_check",
                            l->first_fail < 0 ? json_null()
                                              : json_string(l->c[l->first_fail].name));
    } else if (f == VF_TEXT) {
        for (size_t i = 0; i < l->n; i++)
            printf("%s  %-22s %s\n", result_name(l->c[i].result), l->c[i].name, l->c[i].detail);
    }
    if (l->first_fail >= 0) {
        fprintf(stderr, "verification FAILED: check '%s': %s\n", l->c[l->first_fail].name,
                l->c[l->first_fail].detail);
        return 1;
    }
    if (f == VF_TEXT)
        printf("RESULT: all checks passed\n");
    return 0;
}

json_t *vjson_hex(const uint8_t *b, size_t n)
{
    char *s = malloc(2 * n + 1);
    if (!s)
        return json_null();
    for (size_t i = 0; i < n; i++)
        snprintf(s + 2 * i, 3, "%02x", b[i]);
    s[2 * n] = 0;
    json_t *j = json_string(s);
    free(s);
    return j;
}

void vprint_hex(const uint8_t *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        printf("%02x", b[i]);
}

static int hexv(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = (char)(c | 0x20);
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

bool vparse_hex(const char *s, uint8_t *out, size_t n, bool allow_short)
{
    if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X'))
        s += 2;
    size_t len = strlen(s);
    if (len % 2 || len > 2 * n || (!allow_short && len != 2 * n) || len == 0)
        return false;
    memset(out, 0, n);
    for (size_t i = 0; i < len / 2; i++) {
        int hi = hexv(s[2 * i]), lo = hexv(s[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return false;
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    return true;
}

bool vparse_time(const char *s, time_t *out)
{
    struct tm tm = {0};
    const char *end = strptime(s, "%Y-%m-%dT%H:%M:%SZ", &tm);
    if (end && !*end) {
        *out = timegm(&tm);
        return true;
    }
    char *e;
    long long v = strtoll(s, &e, 10);
    if (*s && !*e && v >= 0) {
        *out = (time_t)v;
        return true;
    }
    return false;
}

int vprint_rvps(json_t *values)
{
    char *prov = json_dumps(values, JSON_SORT_KEYS | JSON_COMPACT);
    if (!prov)
        return 1;
    size_t n = strlen(prov);
    unsigned char *b64 = malloc(4 * ((n + 2) / 3) + 1);
    if (!b64) {
        free(prov);
        return 1;
    }
    EVP_EncodeBlock(b64, (const unsigned char *)prov, (int)n);
    json_t *msg = json_pack("{s:s,s:s,s:s}", "version", "0.1.0", "type", "sample", "payload",
                            (const char *)b64);
    json_dumpf(msg, stdout, JSON_INDENT(2) | JSON_SORT_KEYS);
    putchar('\n');
    json_decref(msg);
    free(b64);
    free(prov);
    return 0;
}

int measure_print_rvps_digest(const char *name, const uint8_t *d, size_t n)
{
    json_t *v = json_object();
    json_object_set_new(v, name, json_pack("[o]", vjson_hex(d, n)));
    int rc = vprint_rvps(v);
    json_decref(v);
    return rc;
}

int verify_run_open(struct verify_run *v, const char *path, bool (*is_raw)(const uint8_t *, size_t))
{
    memset(v, 0, sizeof(*v));
    struct measure_file f;
    struct fw_error fe = {{0}};
    v->log = malloc(sizeof(*v->log));
    v->doc = json_object();
    if (!v->log || !v->doc) {
        fprintf(stderr, "Error: out of memory\n");
        goto fail;
    }
    vlog_init(v->log);
    if (measure_read_file(path, &f, &fe)) {
        fprintf(stderr, "Error: %s\n", fe.msg);
        goto fail;
    }
    v->from_text = !is_raw(f.data, f.size);
    v->decoded =
        vx_decode_evidence(f.data, f.size, is_raw, &v->raw, &v->raw_len, v->err, sizeof(v->err));
    measure_file_free(&f);
    return 0;
fail:
    free(v->log);
    json_decref(v->doc);
    return -1;
}

int verify_run_finish(struct verify_run *v, enum vformat f, json_t *(*rvps)(const void *ctx),
                      const void *ctx)
{
    int rc = vlog_finish(v->log, f, v->doc);
    if (f == VF_JSON) {
        json_dumpf(v->doc, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        putchar('\n');
    } else if (f == VF_RVPS && rc == 0) {
        json_t *values = rvps(ctx);
        rc = vprint_rvps(values);
        json_decref(values);
    }
    json_decref(v->doc);
    free(v->raw);
    free(v->log);
    return rc;
}
