/* tdx_quote_bounded.c: TDX GetQuote never stalls: a QGS that never answers or never reads is
 * cut off at the exchange deadline (an error status for the guest), and tearing the service down
 * returns at once even with an exchange in progress and requests queued (issue 16 item 7). */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "tee/kvm_tee_uapi.h"
#include "tee/tee_tdx_quote.h"
#include "vmm/base/memory.h"

#define RAM  (4ULL << 20)
#define QBUF 0x100000ULL
#define QLEN 0x200000ULL /* 2 MiB buffer: room for a report larger than a socket buffer */

struct qgs {
    int listener;
    char path[108];
    bool read_requests;   /* false: accept and never read (the sender's buffer fills) */
    int got_bytes;        /* atomic: the QGS thread adds, the test reads */
    bool stop;            /* atomic */
    pthread_mutex_t lock; /* guards conns/nconns between the QGS thread and qgs_stop */
    int conns[32];
    int nconns;
    pthread_t th;
};

static void *qgs_thread(void *arg)
{
    struct qgs *g = arg;
    while (!__atomic_load_n(&g->stop, __ATOMIC_ACQUIRE)) {
        int c = accept(g->listener, NULL, NULL);
        if (c < 0)
            break;
        pthread_mutex_lock(&g->lock);
        if (g->nconns < 32)
            g->conns[g->nconns++] = c;
        pthread_mutex_unlock(&g->lock);
        char buf[4096];
        while (g->read_requests && !__atomic_load_n(&g->stop, __ATOMIC_ACQUIRE)) {
            ssize_t n = recv(c, buf, sizeof(buf), 0);
            if (n <= 0)
                break;
            __atomic_fetch_add(&g->got_bytes, (int)n, __ATOMIC_RELAXED);
        }
    }
    return NULL;
}

static void qgs_start(struct qgs *g, const char *tag, bool read_requests)
{
    memset(g, 0, sizeof(*g));
    pthread_mutex_init(&g->lock, NULL);
    g->read_requests = read_requests;
    snprintf(g->path, sizeof(g->path), "/tmp/cocoon-qgs-bounded-%s-%d.sock", tag, (int)getpid());
    unlink(g->path);
    g->listener = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    strcpy(sa.sun_path, g->path);
    assert_int_equal(bind(g->listener, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(listen(g->listener, 8), 0);
    assert_int_equal(pthread_create(&g->th, NULL, qgs_thread, g), 0);
}

static void qgs_stop(struct qgs *g)
{
    __atomic_store_n(&g->stop, true, __ATOMIC_RELEASE);
    shutdown(g->listener, SHUT_RDWR);
    pthread_mutex_lock(&g->lock);
    for (int i = 0; i < g->nconns; i++)
        shutdown(g->conns[i], SHUT_RDWR);
    pthread_mutex_unlock(&g->lock);
    pthread_join(g->th, NULL);
    for (int i = 0; i < g->nconns; i++)
        close(g->conns[i]);
    close(g->listener);
    unlink(g->path);
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Writes a GetQuote buffer header (version 1, in_len) at gpa. */
static void put_request(struct guest_mem *gm, uint64_t gpa, uint32_t in_len)
{
    uint8_t hdr[24] = {1};
    memcpy(hdr + 16, &in_len, 4);
    assert_int_equal(gm_write(gm, gpa, hdr, sizeof(hdr)), 0);
}

static uint64_t status_of(struct guest_mem *gm, uint64_t gpa)
{
    uint64_t st = 0;
    assert_int_equal(gm_read(gm, gpa + 8, &st, 8), 0);
    return st;
}

/* A QGS that takes the request and never answers: free() returns at once, not after the 30 s
 * exchange deadline; queued requests are dropped with it. */
static void shutdown_not_held_by_silent_qgs(void **state)
{
    uint8_t *ram = calloc(1, RAM + QLEN);
    struct guest_mem gm;
    gm_init_host(&gm, ram, RAM + QLEN);
    struct qgs g;
    qgs_start(&g, "silent", true);
    struct tdx_quote_service *q = tdx_quote_service_new(g.path);
    assert_non_null(q);
    for (unsigned i = 0; i < 4; i++) {
        put_request(&gm, QBUF + i * 0x1000, 64);
        assert_int_equal(tdx_quote_request(q, &gm, QBUF + i * 0x1000, 0x1000),
                         TEE_TDVMCALL_STATUS_SUCCESS);
    }
    for (int i = 0; i < 300 && __atomic_load_n(&g.got_bytes, __ATOMIC_RELAXED) == 0; i++)
        usleep(10000);
    assert_true(__atomic_load_n(&g.got_bytes, __ATOMIC_RELAXED) >
                0); /* the first exchange is waiting for the answer */
    int64_t t0 = now_ms();
    tdx_quote_service_free(q);
    int64_t took = now_ms() - t0;
    if (took > 1000)
        fail_msg("teardown waited %lld ms on the quote service", (long long)took);
    qgs_stop(&g);
    free(ram);
}

/* A QGS that never reads: the send is cut off at the exchange deadline and the guest sees an
 * error status instead of IN_FLIGHT forever. */
static void send_bounded_when_qgs_never_reads(void **state)
{
    uint8_t *ram = calloc(1, RAM + QLEN);
    struct guest_mem gm;
    gm_init_host(&gm, ram, RAM + QLEN);
    struct qgs g;
    qgs_start(&g, "deaf", false);
    struct tdx_quote_service *q = tdx_quote_service_new(g.path);
    assert_non_null(q);
    tdx_quote_service_set_timeout_ms(q, 300);
    put_request(&gm, QBUF, (uint32_t)(QLEN - 24 - 0x10000)); /* ~1.9 MiB: fills any buffer */
    assert_int_equal(tdx_quote_request(q, &gm, QBUF, QLEN), TEE_TDVMCALL_STATUS_INVALID_OPERAND);
    put_request(&gm, QBUF, 1u << 20); /* the largest a QGS message may be */
    assert_int_equal(tdx_quote_request(q, &gm, QBUF, QLEN), TEE_TDVMCALL_STATUS_SUCCESS);
    int64_t t0 = now_ms();
    while (status_of(&gm, QBUF) == 0xffffffffffffffffULL && now_ms() - t0 < 5000)
        usleep(10000);
    uint64_t st = status_of(&gm, QBUF);
    if (st == 0xffffffffffffffffULL)
        fail_msg("GetQuote still in flight after 5 s with a QGS that never reads");
    assert_int_equal(st, 0x8000000000000000ULL); /* error */
    t0 = now_ms();
    tdx_quote_service_free(q);
    assert_true(now_ms() - t0 < 1000);
    qgs_stop(&g);
    free(ram);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(shutdown_not_held_by_silent_qgs),
        cmocka_unit_test(send_bounded_when_qgs_never_reads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
