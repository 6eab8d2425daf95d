/* verify_cli.h: shared pieces of `cocoon-measure verify snp|tdx`: the list of named checks with
 * their results, output format, and small argument helpers. */
#ifndef COCOON_TOOLS_VERIFY_CLI_H
#define COCOON_TOOLS_VERIFY_CLI_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#define VERIFY_MAX_CHECKS 48

enum vresult { V_PASS, V_FAIL, V_SKIP };
enum vformat { VF_TEXT, VF_JSON, VF_RVPS };

struct vcheck {
    char name[32];
    enum vresult result;
    char detail[320];
};

/* Every check run, in order; the first failure decides the exit status and its name. */
struct vlog {
    struct vcheck c[VERIFY_MAX_CHECKS];
    size_t n;
    int first_fail; /* index, or -1 */
};

void vlog_init(struct vlog *l);
/* Record one check; returns 0 for PASS/SKIP and -1 for FAIL so callers can chain. */
int vlog_add(struct vlog *l, const char *name, enum vresult r, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Print the checks (text, or into json["checks"]) and return the exit status: 0 all passed,
 * 1 a check failed (its name is printed on stderr). */
int vlog_finish(const struct vlog *l, enum vformat f, json_t *doc);

/* Hex string of n bytes (lowercase) as a new JSON string. */
json_t *vjson_hex(const uint8_t *b, size_t n);
void vprint_hex(const uint8_t *b, size_t n);

/* Parse exactly n bytes of hex (or, if allow_short, up to n bytes, right-padded with zeros). */
bool vparse_hex(const char *s, uint8_t *out, size_t n, bool allow_short);

/* --at: seconds since the epoch, or YYYY-MM-DDTHH:MM:SSZ. */
bool vparse_time(const char *s, time_t *out);

/* The RVPS message (Trustee reference value provider, "sample" extractor) for these reference
 * values: {"version","type":"sample","payload":base64(values)}; printed on stdout. */
int vprint_rvps(json_t *values);

/* Misuse of `verify`: usage line, message, exit 2. */
void __attribute__((noreturn, format(printf, 2, 3)))
verify_usage_error(const char *usage, const char *fmt, ...);

/* --format text|json|rvps, or exit 2. */
enum vformat verify_parse_format(const char *usage, const char *v);

/* One verification run: the check log, the evidence bytes (decoded from hex/base64 when given as
 * text) and the JSON document. verify_run_open reads and decodes the file: -1 (message on
 * stderr) when it cannot be read; a decoding failure is left in decoded/err for the format check.
 */
struct verify_run {
    struct vlog *log;
    uint8_t *raw;
    size_t raw_len;
    bool from_text;
    int decoded; /* 0, or -1 with err set */
    char err[320];
    json_t *doc;
};
int verify_run_open(struct verify_run *v, const char *path,
                    bool (*is_raw)(const uint8_t *, size_t));

/* Prints the checks in format f (the JSON document, or the RVPS message built by rvps(ctx) when
 * every check passed), frees the run and returns the exit status. */
int verify_run_finish(struct verify_run *v, enum vformat f, json_t *(*rvps)(const void *ctx),
                      const void *ctx);

int verify_snp_main(int argc, char **argv);
int verify_tdx_main(int argc, char **argv);

#endif
