/* attest_snp_report.c: libFuzzer target: the SEV-SNP report decoder and the --min-tcb parser of
 * `cocoon-measure verify snp` on hostile bytes (any length; the report must be 1184 bytes). */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "tools/verify_snp_report.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct snp_report r;
    char err[256];
    if (snp_report_parse(&r, data, size, err, sizeof(err)) == 0) {
        if (size != SNP_REPORT_SIZE || r.version < 2 || r.version > 5)
            __builtin_trap();
        (void)snp_report_signing_key(&r);
        (void)snp_tcb_decode(r.reported_tcb, true);
        (void)snp_tcb_decode(r.reported_tcb, false);
    } else if (!memchr(err, 0, sizeof(err))) {
        __builtin_trap();
    }
    /* The same bytes as --min-tcb text (NUL-terminated copy). */
    char text[128];
    size_t n = size < sizeof(text) - 1 ? size : sizeof(text) - 1;
    memcpy(text, data, n);
    text[n] = 0;
    struct snp_tcb t;
    (void)snp_tcb_parse_text(text, size & 1, &t);
    return 0;
}
