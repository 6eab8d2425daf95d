/* attest_tdx_quote.c: libFuzzer target: the TDX DCAP quote v4/v5 decoder of `cocoon-measure
 * verify tdx` on hostile bytes; every pointer it returns must lie inside the input. */
#include <stddef.h>
#include <stdint.h>

#include "tools/verify_tdx_quote.h"

static void inside(const uint8_t *p, size_t n, const uint8_t *data, size_t size)
{
    if (!p || p < data || n > size || (size_t)(p - data) > size - n)
        __builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct tdx_quote q;
    char err[320];
    if (tdx_quote_parse(&q, data, size, err, sizeof(err)) != 0)
        return 0;
    inside(q.signed_data, q.signed_len, data, size);
    inside(q.td.mr_td, 48, data, size);
    inside(q.td.report_data, 64, data, size);
    if (q.td.mr_service_td)
        inside(q.td.mr_service_td, 48, data, size);
    inside(q.signature, 64, data, size);
    inside(q.att_key, 64, data, size);
    inside(q.qe_report, SGX_REPORT_BODY_SIZE, data, size);
    inside(q.qe_report_sig, 64, data, size);
    if (q.qe_auth_len)
        inside(q.qe_auth_data, q.qe_auth_len, data, size);
    if (q.pck_chain_len)
        inside(q.pck_chain_pem, q.pck_chain_len, data, size);
    if (q.quote_len + q.padding_len != size)
        __builtin_trap();
    for (size_t i = q.quote_len; i < size; i++)
        if (data[i])
            __builtin_trap();
    return 0;
}
