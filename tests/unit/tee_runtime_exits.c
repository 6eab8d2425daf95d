/* tee_runtime_exits.c: the backends' run-time exits on hand-built kvm_run images: TDX
 * GetTdVmCallInfo / SetupEventNotifyInterrupt / GetQuote (to a fake QGS socket, or refused
 * cleanly) / ReportFatalError, and the SEV-SNP termination request. */
#include <errno.h>
#include <pthread.h>
#include <seccomp.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "tee/kvm_tee_uapi.h"
#include "tests/unit/support/tee_harness.h"

#define RAM   (64ULL << 20)
#define QBUF  0x300000ULL /* guest quote buffer (2 pages) */
#define QUOTE "QUOTE-FROM-FAKE-QGS"

static char sock_path[108];

struct vmctx {
    struct sim_tee *s;
    struct guest_mem gm;
    struct tee_vm *t;
    struct vm_config cfg;
};

static void up(struct vmctx *v, enum tee_kind kind, const char *quote_socket)
{
    static char fw[4096];
    char err[512] = "";
    enum harness_fw_source src = kind == TEE_TDX
                                     ? harness_fw_tdx(COCOON_SOURCE_DIR, fw, sizeof(fw))
                                     : harness_fw_snp(COCOON_SOURCE_DIR, fw, sizeof(fw));
    if (src == HARNESS_FW_NONE)
        fail_msg("cannot write the synthetic firmware");
    vm_config_init(&v->cfg);
    v->cfg.cpus = 1;
    v->cfg.memory = RAM;
    v->cfg.platform.tee = kind;
    v->cfg.firmware = fw;
    v->cfg.platform.quote_socket = (char *)quote_socket;
    assert_int_equal(gm_init(&v->gm, RAM, err, sizeof(err)), 0);
    v->s = sim_tee_new(kind == TEE_TDX ? SIM_HOST_TDX : SIM_HOST_SNP);
    if (harness_launch(v->s, &v->cfg, &v->gm, &v->t, err, sizeof(err)))
        fail_msg("launch: %s", err);
}

static void down(struct vmctx *v)
{
    tee_destroy(v->t);
    sim_tee_free(v->s);
    gm_destroy(&v->gm);
}

static struct kvm_run *run_of(struct vmctx *v, uint32_t reason)
{
    struct kvm_run *run = v->s->vcpu[0].run;
    memset(run, 0, 4096);
    run->exit_reason = reason;
    return run;
}

static struct tee_run_tdx *tdx_exit(struct vmctx *v, uint64_t nr)
{
    struct kvm_run *run = run_of(v, KVM_EXIT_TDX);
    struct tee_run_tdx *x = tee_run_union(run);
    x->nr = nr;
    x->unknown.ret = 0xdead;
    return x;
}

static enum tee_exit_result handle(struct vmctx *v)
{
    return tee_handle_exit(v->t, 0, v->s->vcpu[0].run, 0, 0);
}

static void share(struct vmctx *v, uint64_t gpa, uint64_t pages)
{
    struct kvm_run *run = run_of(v, KVM_EXIT_HYPERCALL);
    run->hypercall.nr = KVM_HC_MAP_GPA_RANGE;
    run->hypercall.args[0] = gpa;
    run->hypercall.args[1] = pages;
    run->hypercall.args[2] = KVM_MAP_GPA_RANGE_DECRYPTED;
    assert_int_equal(handle(v), TEE_EXIT_HANDLED);
    assert_int_equal(run->hypercall.ret, 0);
}

static void tdvmcall_info(void **state)
{
    struct vmctx v;
    up(&v, TEE_TDX, NULL);
    struct tee_run_tdx *x = tdx_exit(&v, TEE_TDVMCALL_GET_TD_VM_CALL_INFO);
    x->get_tdvmcall_info.leaf = 1;
    assert_int_equal(handle(&v), TEE_EXIT_HANDLED);
    assert_int_equal(x->get_tdvmcall_info.ret, TEE_TDVMCALL_STATUS_SUCCESS);
    assert_int_equal(x->get_tdvmcall_info.r11, 0x1); /* the kernel's bits; cocoon adds none */
    assert_int_equal(x->get_tdvmcall_info.r13, 0);
    x = tdx_exit(&v, TEE_TDVMCALL_GET_TD_VM_CALL_INFO);
    x->get_tdvmcall_info.leaf = 7;
    assert_int_equal(handle(&v), TEE_EXIT_HANDLED);
    assert_int_equal(x->get_tdvmcall_info.ret, TEE_TDVMCALL_STATUS_INVALID_OPERAND);
    /* event notification is not offered (tdx_event_notify tests the pairing) */
    x = tdx_exit(&v, TEE_TDVMCALL_SETUP_EVENT_NOTIFY);
    x->setup_event_notify.vector = 0x40;
    assert_int_equal(handle(&v), TEE_EXIT_HANDLED);
    assert_int_equal(x->setup_event_notify.ret, TEE_TDVMCALL_STATUS_SUBFUNC_UNSUPPORTED);
    /* a leaf nobody handles keeps what KVM pre-filled */
    x = tdx_exit(&v, 0x12345);
    assert_int_equal(handle(&v), TEE_EXIT_HANDLED);
    assert_int_equal(x->unknown.ret, 0xdead);
    down(&v);
}

static uint64_t get_quote(struct vmctx *v, uint64_t gpa, uint64_t size)
{
    struct tee_run_tdx *x = tdx_exit(v, TEE_TDVMCALL_GET_QUOTE);
    x->get_quote.gpa = gpa;
    x->get_quote.size = size;
    assert_int_equal(handle(v), TEE_EXIT_HANDLED);
    return x->get_quote.ret;
}

static void quote_without_socket_fails_cleanly(void **state)
{
    struct vmctx v;
    up(&v, TEE_TDX, NULL);
    share(&v, QBUF, 2);
    assert_int_equal(get_quote(&v, QBUF, 2 * 4096), TEE_TDVMCALL_STATUS_SUBFUNC_UNSUPPORTED);
    down(&v);
}

/* A fake quote-generation service: one request, checks the framing, answers with QUOTE. */
static void *fake_qgs(void *arg)
{
    int ls = *(int *)arg;
    int c = accept(ls, NULL, NULL);
    uint8_t lenb[4], msg[4096];
    long ok = 0;
    if (c >= 0 && recv(c, lenb, 4, MSG_WAITALL) == 4) {
        uint32_t len = (uint32_t)lenb[0] << 24 | lenb[1] << 16 | lenb[2] << 8 | lenb[3];
        if (len <= sizeof(msg) && recv(c, msg, len, MSG_WAITALL) == (ssize_t)len && len > 24 &&
            msg[0] == 1 && msg[4] == 0 /* GET_QUOTE_REQ */ && msg[16] == 64 &&
            msg[24] == 0xa5 /* first report byte */) {
            uint32_t qlen = sizeof(QUOTE) - 1, rlen = 16 + 8 + qlen;
            uint8_t resp[256] = {(uint8_t)(rlen >> 24), (uint8_t)(rlen >> 16), (uint8_t)(rlen >> 8),
                                 (uint8_t)rlen};
            uint8_t *h = resp + 4;
            h[0] = 1, h[2] = 1, h[4] = 1 /* GET_QUOTE_RESP */, h[8] = (uint8_t)rlen;
            h[20] = (uint8_t)qlen; /* id size 0, quote size */
            memcpy(h + 24, QUOTE, qlen);
            ok = send(c, resp, 4 + rlen, 0) == (ssize_t)(4 + rlen);
        }
    }
    if (c >= 0)
        close(c);
    return (void *)ok;
}

/* Listens on a fresh socket path (named after tag) and serves one connection with fn. */
static int qgs_listener;

static pthread_t qgs_start(const char *tag, void *(*fn)(void *))
{
    snprintf(sock_path, sizeof(sock_path), "/tmp/cocoon-qgs-%s-%d.sock", tag, (int)getpid());
    unlink(sock_path);
    qgs_listener = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    strcpy(sa.sun_path, sock_path);
    assert_int_equal(bind(qgs_listener, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(listen(qgs_listener, 1), 0);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, fn, &qgs_listener), 0);
    return th;
}

/* Joins the fake QGS (it must have seen a well-formed request) and removes its socket. */
static void qgs_stop(pthread_t th)
{
    void *ok;
    pthread_join(th, &ok);
    assert_true(ok != NULL);
    close(qgs_listener);
    unlink(sock_path);
}

/* Writes a version-1 quote request with a 64-byte report of fill bytes at QBUF. */
static void write_quote_request(struct vmctx *v, uint8_t fill)
{
    uint8_t hdr[24 + 64] = {1};
    hdr[16] = 64;
    memset(hdr + 24, fill, 64);
    assert_int_equal(gm_write(&v->gm, QBUF, hdr, sizeof(hdr)), 0);
}

/* Polls the status word until the service has answered (or ~5 s pass). */
static uint64_t wait_quote_status(struct vmctx *v)
{
    uint64_t status = UINT64_MAX;
    for (int i = 0; i < 500 && status == UINT64_MAX; i++) {
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
        assert_int_equal(gm_read(&v->gm, QBUF + 8, &status, 8), 0);
    }
    return status;
}

static void quote_forwarded_to_socket(void **state)
{
    pthread_t qgs = qgs_start("ok", fake_qgs);
    struct vmctx v;
    up(&v, TEE_TDX, sock_path);
    /* hostile requests first: misaligned, private buffer */
    assert_int_equal(get_quote(&v, QBUF + 8, 4096), TEE_TDVMCALL_STATUS_ALIGN_ERROR);
    assert_int_equal(get_quote(&v, QBUF, 4096), TEE_TDVMCALL_STATUS_INVALID_OPERAND);
    share(&v, QBUF, 2);
    write_quote_request(&v, 0xa5);
    uint8_t in_len[4] = {0xff, 0xff, 0xff, 0}; /* beyond the buffer: refused, nothing sent */
    assert_int_equal(gm_write(&v.gm, QBUF + 16, in_len, 4), 0);
    assert_int_equal(get_quote(&v, QBUF, 2 * 4096), TEE_TDVMCALL_STATUS_INVALID_OPERAND);
    write_quote_request(&v, 0xa5);

    assert_int_equal(get_quote(&v, QBUF, 2 * 4096), TEE_TDVMCALL_STATUS_SUCCESS);
    assert_int_equal(wait_quote_status(&v), 0);
    uint32_t out_len = 0;
    char quote[64] = "";
    assert_int_equal(gm_read(&v.gm, QBUF + 20, &out_len, 4), 0);
    assert_int_equal(out_len, sizeof(QUOTE) - 1);
    assert_int_equal(gm_read(&v.gm, QBUF + 24, quote, out_len), 0);
    assert_memory_equal(quote, QUOTE, out_len);
    qgs_stop(qgs);
    down(&v);
}

/* GetQuote as a vCPU thread makes it: under a seccomp filter that refuses creating threads and
 * opening sockets. The request must still complete (the QGS exchange happens on the service
 * thread, which exists before any filter); a thread per request would fail with EPERM here. */
struct confined_call {
    struct vmctx *v;
    uint64_t ret;
};

static void *confined_get_quote(void *arg)
{
    struct confined_call *c = arg;
    scmp_filter_ctx f = seccomp_init(SCMP_ACT_ALLOW);
    if (!f || seccomp_rule_add(f, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(clone), 0) < 0 ||
        seccomp_rule_add(f, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0) < 0 ||
        seccomp_rule_add(f, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(socket), 0) < 0 ||
        seccomp_rule_add(f, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(connect), 0) < 0 ||
        seccomp_load(f) < 0) {
        c->ret = UINT64_MAX - 1;
    } else {
        c->ret = get_quote(c->v, QBUF, 2 * 4096);
    }
    seccomp_release(f);
    return NULL;
}

static void quote_from_confined_vcpu_thread(void **state)
{
    pthread_t qgs = qgs_start("confined", fake_qgs);
    struct vmctx v;
    up(&v, TEE_TDX, sock_path);
    share(&v, QBUF, 2);
    write_quote_request(&v, 0xa5);
    struct confined_call call = {.v = &v};
    pthread_t vcpu;
    assert_int_equal(pthread_create(&vcpu, NULL, confined_get_quote, &call), 0);
    pthread_join(vcpu, NULL);
    assert_int_equal(call.ret, TEE_TDVMCALL_STATUS_SUCCESS);
    assert_int_equal(wait_quote_status(&v), 0);
    qgs_stop(qgs);
    down(&v);
}

/* A QGS that answers with a selected-id size running past its own message (the quote size is then
 * what remains after a wrapped subtraction): one request read, that reply sent. */
static void *lying_qgs(void *arg)
{
    int c = accept(*(int *)arg, NULL, NULL);
    uint8_t lenb[4], msg[4096];
    long ok = 0;
    if (c >= 0 && recv(c, lenb, 4, MSG_WAITALL) == 4) {
        uint32_t len = (uint32_t)lenb[0] << 24 | lenb[1] << 16 | lenb[2] << 8 | lenb[3];
        if (len <= sizeof(msg) && recv(c, msg, len, MSG_WAITALL) == (ssize_t)len) {
            uint32_t rlen = 16 + 8; /* header + id size + quote size, no payload at all */
            uint8_t resp[4 + 16 + 8] = {0, 0, 0, (uint8_t)rlen};
            uint8_t *h = resp + 4;
            h[0] = 1, h[2] = 1, h[4] = 1 /* GET_QUOTE_RESP */, h[8] = (uint8_t)rlen;
            h[16] = 12; /* id size: 12 bytes that are not there */
            h[20] = 4;  /* quote size */
            ok = send(c, resp, sizeof(resp), 0) == (ssize_t)sizeof(resp);
        }
    }
    if (c >= 0)
        close(c);
    return (void *)ok;
}

static void quote_reply_with_bad_sizes_is_an_error(void **state)
{
    pthread_t qgs = qgs_start("bad", lying_qgs);
    struct vmctx v;
    up(&v, TEE_TDX, sock_path);
    share(&v, QBUF, 2);
    write_quote_request(&v, 0);
    assert_int_equal(get_quote(&v, QBUF, 2 * 4096), TEE_TDVMCALL_STATUS_SUCCESS);
    /* error, no quote taken from the reply */
    assert_int_equal(wait_quote_status(&v), 0x8000000000000000ULL);
    qgs_stop(qgs);
    down(&v);
}

static void tdx_fatal_error_stops_the_vm(void **state)
{
    struct vmctx v;
    up(&v, TEE_TDX, NULL);
    struct kvm_run *run = run_of(&v, KVM_EXIT_SYSTEM_EVENT);
    run->system_event.type = KVM_SYSTEM_EVENT_TDX_FATAL;
    run->system_event.ndata = 16;
    run->system_event.data[12] = 0x1ULL << 63 | 0x20000;
    run->system_event.data[13] = 0x1000;
    run->system_event.data[1] = 1ULL << 14; /* message in R14 */
    memcpy(&run->system_event.data[14], "oops\x01!!!", 8);
    assert_int_equal(handle(&v), TEE_EXIT_GUEST_STOP);
    run = run_of(&v, KVM_EXIT_SYSTEM_EVENT);
    run->system_event.type = KVM_SYSTEM_EVENT_SHUTDOWN;
    assert_int_equal(handle(&v), TEE_EXIT_NOT_MINE);
    run = run_of(&v, KVM_EXIT_IO);
    assert_int_equal(handle(&v), TEE_EXIT_NOT_MINE);
    down(&v);
}

static void snp_termination_stops_the_vm(void **state)
{
    struct vmctx v;
    up(&v, TEE_SNP, NULL);
    struct kvm_run *run = run_of(&v, KVM_EXIT_SYSTEM_EVENT);
    run->system_event.type = KVM_SYSTEM_EVENT_SEV_TERM;
    run->system_event.ndata = 1;
    run->system_event.data[0] = 0x100 | 0x1000 | 0x30000; /* set 1, code 3 */
    assert_int_equal(handle(&v), TEE_EXIT_GUEST_STOP);
    run = run_of(&v, KVM_EXIT_SYSTEM_EVENT);
    run->system_event.type = KVM_SYSTEM_EVENT_RESET;
    assert_int_equal(handle(&v), TEE_EXIT_NOT_MINE);
    run = run_of(&v, KVM_EXIT_TDX); /* not an SNP exit */
    assert_int_equal(handle(&v), TEE_EXIT_NOT_MINE);
    down(&v);
}

int main(void)
{
    if (!harness_vectors(COCOON_SOURCE_DIR))
        printf("tee_runtime_exits: %s/../shared/vectors is absent: launching on stand-in "
               "firmware\n",
               COCOON_SOURCE_DIR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(tdvmcall_info),
        cmocka_unit_test(quote_without_socket_fails_cleanly),
        cmocka_unit_test(quote_forwarded_to_socket),
        cmocka_unit_test(quote_from_confined_vcpu_thread),
        cmocka_unit_test(quote_reply_with_bad_sizes_is_an_error),
        cmocka_unit_test(tdx_fatal_error_stops_the_vm),
        cmocka_unit_test(snp_termination_stops_the_vm),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
