/* tee_tdx_quote.h: TDX GetQuote: forwards a guest's TDREPORT to a quote-generation socket (QGS). */
#ifndef COCOON_TEE_TDX_QUOTE_H
#define COCOON_TEE_TDX_QUOTE_H

#include <stdint.h>

#include "vmm/base/memory.h"

struct tdx_quote_service;

/* A service forwarding to the Unix socket at `path`; NULL path (or no memory) gives NULL, and
 * every request is then refused with SUBFUNC_UNSUPPORTED. */
struct tdx_quote_service *tdx_quote_service_new(const char *path);

/* Handles TDG.VP.VMCALL<GetQuote> for the shared buffer [gpa, gpa+size): validates it (4 KiB
 * aligned, shared RAM, header version 1, in_len fits), copies the request out once, marks the
 * buffer IN_FLIGHT and completes it from a worker thread (quote or error status in the buffer;
 * the guest polls). Returns the TDVMCALL status for kvm_run.tdx.get_quote.ret. */
uint64_t tdx_quote_request(struct tdx_quote_service *q, const struct guest_mem *gm, uint64_t gpa,
                           uint64_t size);

/* Bounds one whole QGS exchange (connect, send, receive; default 30 s): past it the request
 * completes with an error status. NULL is fine. */
void tdx_quote_service_set_timeout_ms(struct tdx_quote_service *q, unsigned ms);

/* Stops at once: cancels the exchange in progress, drops queued requests (their buffers keep
 * IN_FLIGHT: the VM is going away), joins the service thread. Never waits on the guest or the
 * QGS. NULL is fine. */
void tdx_quote_service_free(struct tdx_quote_service *q);

#endif
