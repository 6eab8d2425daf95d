/* tee_tdx_quote.c: TDX GetQuote forwarding to a QGS Unix socket on one service thread. */
#include "tee/tee_tdx_quote.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "tee/kvm_tee_uapi.h"
#include "vmm/base/log.h"

/* Guest buffer (Linux struct tdx_quote_buf): u64 version (1), u64 status, u32 in_len,
 * u32 out_len, data[]. */
#define QBUF_HDR            24
#define QSTATUS_SUCCESS     0ULL
#define QSTATUS_IN_FLIGHT   0xffffffffffffffffULL
#define QSTATUS_ERROR       0x8000000000000000ULL
#define QSTATUS_UNAVAILABLE 0x8000000000000001ULL
#define Q_MAX_IN_FLIGHT     16
#define Q_TIMEOUT_MS        30000 /* one whole exchange with the QGS: connect, send, receive */
#define Q_CONNECT_RETRY_MS  20    /* a Unix listener with a full backlog refuses with EAGAIN */
/* QGS message framing (Intel qgs_msg_lib, [recalled], not verified against a real QGS here):
 * u32 big-endian length, then header {u16 major 1, u16 minor 1, u32 type, u32 size,
 * u32 error_code}; GET_QUOTE_REQ (0) carries u32 report_size, u32 id_list_size, report;
 * GET_QUOTE_RESP (1) carries u32 selected_id_size, u32 quote_size, id, quote. */
#define QGS_HDR            16
#define QGS_GET_QUOTE_REQ  0
#define QGS_GET_QUOTE_RESP 1
#define QGS_MAX_MSG        (1u << 20)

/* The service thread is started with the service, at VM creation: vCPU threads run under a
 * seccomp filter that forbids creating threads and opening sockets, so a GetQuote exit only
 * queues the job and the service thread (created before the lockdown) talks to the QGS. Every
 * wait of that thread is a poll() bounded by the exchange's deadline and woken by `cancel_fd`,
 * so neither a silent QGS nor a full socket holds it, and teardown never waits on either. */
struct tdx_quote_service {
    char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
    pthread_mutex_t lock;
    pthread_cond_t work; /* service thread: a job was queued or stopping was set */
    struct quote_job *head, **tail;
    unsigned in_flight;
    bool stopping;
    int cancel_fd;       /* eventfd: written once by free, wakes any poll */
    unsigned timeout_ms; /* per exchange */
    pthread_t thread;
};

struct quote_job {
    struct quote_job *next;
    struct tdx_quote_service *q;
    const struct guest_mem *gm;
    uint64_t gpa, size;
    uint32_t in_len;
    uint8_t report[];
};

static void *service_thread(void *arg);

struct tdx_quote_service *tdx_quote_service_new(const char *path)
{
    if (!path || strlen(path) >= sizeof(((struct sockaddr_un *)0)->sun_path))
        return NULL;
    struct tdx_quote_service *q = calloc(1, sizeof(*q));
    if (!q)
        return NULL;
    strcpy(q->path, path);
    q->cancel_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (q->cancel_fd < 0) {
        log_err("tdx: cannot create the GetQuote cancel eventfd: %s", strerror(errno));
        free(q);
        return NULL;
    }
    q->timeout_ms = Q_TIMEOUT_MS;
    pthread_mutex_init(&q->lock, NULL);
    pthread_cond_init(&q->work, NULL);
    q->tail = &q->head;
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old); /* inherited: signals stay with the loop thread */
    int rc = pthread_create(&q->thread, NULL, service_thread, q);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0) {
        log_err("tdx: cannot start the GetQuote service thread: %s", strerror(rc));
        pthread_mutex_destroy(&q->lock);
        pthread_cond_destroy(&q->work);
        close(q->cancel_fd);
        free(q);
        return NULL;
    }
    pthread_setname_np(q->thread, "tdx-quote");
    return q;
}

static void put_le32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t get_le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Waits until fd is ready for `events` (fd < 0: only sleeps up to max_ms). 0 when ready, -1 on
 * the deadline, on cancellation (free) or on a poll error. */
static int wait_ready(const struct tdx_quote_service *q, int fd, short events, int64_t deadline,
                      int64_t max_ms)
{
    for (;;) {
        int64_t left = deadline - now_ms();
        if (left <= 0)
            return -1;
        if (max_ms >= 0 && left > max_ms)
            left = max_ms;
        struct pollfd p[2] = {{.fd = q->cancel_fd, .events = POLLIN}, {.fd = fd, .events = events}};
        int n = poll(p, fd >= 0 ? 2 : 1, (int)left);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 || (p[0].revents & POLLIN))
            return -1;
        if (fd < 0)
            return n == 0 ? 0 : -1; /* slept max_ms */
        if (n > 0)
            return 0; /* ready, or an error the next send/recv reports */
    }
}

static int io_all(const struct tdx_quote_service *q, int fd, void *buf, size_t len, int writing,
                  int64_t deadline)
{
    uint8_t *p = buf;
    while (len) {
        ssize_t r = writing ? send(fd, p, len, MSG_NOSIGNAL | MSG_DONTWAIT)
                            : recv(fd, p, len, MSG_DONTWAIT);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            if (wait_ready(q, fd, writing ? POLLOUT : POLLIN, deadline, -1) < 0)
                return -1;
            continue;
        }
        if (r <= 0)
            return -1;
        p += r;
        len -= (size_t)r;
    }
    return 0;
}

/* A non-blocking connect, retried while the listener's backlog is full, until the deadline. */
static int qgs_connect(const struct tdx_quote_service *q, int64_t deadline)
{
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    strcpy(sa.sun_path, q->path);
    for (;;) {
        if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
            return fd;
        if (errno == EINTR)
            continue;
        if (errno == EINPROGRESS) {
            int soerr = 0;
            socklen_t sl = sizeof(soerr);
            if (wait_ready(q, fd, POLLOUT, deadline, -1) == 0 &&
                getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) == 0 && soerr == 0)
                return fd;
            break;
        }
        if (errno != EAGAIN || wait_ready(q, -1, 0, deadline, Q_CONNECT_RETRY_MS) < 0)
            break;
    }
    close(fd);
    return -1;
}

/* Sends the request and returns the malloc'd quote, or NULL; the whole exchange ends by
 * q->timeout_ms or when the service is freed. */
static uint8_t *qgs_exchange(const struct tdx_quote_service *q, const uint8_t *report,
                             uint32_t report_len, uint32_t *quote_len, int *unavailable)
{
    *unavailable = 0;
    int64_t deadline = now_ms() + q->timeout_ms;
    int fd = qgs_connect(q, deadline);
    if (fd < 0) {
        *unavailable = 1;
        return NULL;
    }
    uint32_t msg_len = QGS_HDR + 8 + report_len;
    uint8_t *msg = calloc(1, 4 + msg_len);
    uint8_t *resp = NULL, *quote = NULL;
    if (!msg)
        goto out;
    msg[0] = (uint8_t)(msg_len >> 24), msg[1] = (uint8_t)(msg_len >> 16);
    msg[2] = (uint8_t)(msg_len >> 8), msg[3] = (uint8_t)msg_len;
    uint8_t *h = msg + 4;
    h[0] = 1, h[2] = 1; /* major 1, minor 1 */
    put_le32(h + 4, QGS_GET_QUOTE_REQ);
    put_le32(h + 8, msg_len);
    put_le32(h + QGS_HDR, report_len);
    memcpy(h + QGS_HDR + 8, report, report_len);
    uint8_t lenb[4];
    if (io_all(q, fd, msg, 4 + msg_len, 1, deadline) < 0 || io_all(q, fd, lenb, 4, 0, deadline) < 0)
        goto out;
    uint32_t rlen =
        (uint32_t)lenb[0] << 24 | (uint32_t)lenb[1] << 16 | (uint32_t)lenb[2] << 8 | lenb[3];
    if (rlen < QGS_HDR + 8 || rlen > QGS_MAX_MSG || !(resp = malloc(rlen)) ||
        io_all(q, fd, resp, rlen, 0, deadline) < 0)
        goto out;
    uint32_t type = get_le32(resp + 4), error = get_le32(resp + 12);
    uint32_t id_len = get_le32(resp + QGS_HDR), q_len = get_le32(resp + QGS_HDR + 4);
    uint32_t payload = rlen - QGS_HDR - 8; /* id, then quote */
    if (type != QGS_GET_QUOTE_RESP || error || id_len > payload || q_len == 0 ||
        q_len > payload - id_len)
        goto out;
    quote = malloc(q_len);
    if (quote) {
        memcpy(quote, resp + QGS_HDR + 8 + id_len, q_len);
        *quote_len = q_len;
    }
out:
    free(msg);
    free(resp);
    close(fd);
    return quote;
}

static bool stopping(struct tdx_quote_service *q)
{
    pthread_mutex_lock(&q->lock);
    bool s = q->stopping;
    pthread_mutex_unlock(&q->lock);
    return s;
}

static void job_finish(struct quote_job *j)
{
    uint32_t q_len = 0;
    int unavailable = 0;
    uint8_t *quote = qgs_exchange(j->q, j->report, j->in_len, &q_len, &unavailable);
    if (stopping(j->q)) { /* the VM is being torn down: nobody polls the buffer any more */
        free(quote);
        return;
    }
    uint64_t status = quote ? QSTATUS_SUCCESS : unavailable ? QSTATUS_UNAVAILABLE : QSTATUS_ERROR;
    if (quote && q_len > j->size - QBUF_HDR)
        status = QSTATUS_ERROR;
    if (status == QSTATUS_SUCCESS) {
        uint8_t len_le[4];
        put_le32(len_le, q_len);
        if (gm_write(j->gm, j->gpa + QBUF_HDR, quote, q_len) < 0 ||
            gm_write(j->gm, j->gpa + 20, len_le, 4) < 0)
            status = QSTATUS_ERROR;
    }
    /* Status last: the guest polls it. A buffer made private meanwhile is simply not written. */
    gm_write(j->gm, j->gpa + 8, &status, 8);
    free(quote);
}

static void *service_thread(void *arg)
{
    struct tdx_quote_service *q = arg;
    pthread_mutex_lock(&q->lock);
    for (;;) {
        if (q->stopping) { /* teardown: queued jobs are dropped, not sent */
            while (q->head) {
                struct quote_job *j = q->head;
                q->head = j->next;
                free(j);
            }
            break;
        }
        if (!q->head) {
            pthread_cond_wait(&q->work, &q->lock);
            continue;
        }
        struct quote_job *j = q->head;
        q->head = j->next;
        if (!q->head)
            q->tail = &q->head;
        pthread_mutex_unlock(&q->lock);
        job_finish(j);
        free(j);
        pthread_mutex_lock(&q->lock);
        q->in_flight--;
    }
    pthread_mutex_unlock(&q->lock);
    return NULL;
}

uint64_t tdx_quote_request(struct tdx_quote_service *q, const struct guest_mem *gm, uint64_t gpa,
                           uint64_t size)
{
    if (!q)
        return TEE_TDVMCALL_STATUS_SUBFUNC_UNSUPPORTED;
    if (gpa % GM_PAGE_SIZE || size % GM_PAGE_SIZE || size == 0)
        return TEE_TDVMCALL_STATUS_ALIGN_ERROR;
    uint8_t hdr[QBUF_HDR];
    if (!gm_span(gm, gpa, size) || gm_read(gm, gpa, hdr, sizeof(hdr)) < 0)
        return TEE_TDVMCALL_STATUS_INVALID_OPERAND;
    uint64_t version;
    memcpy(&version, hdr, 8);
    uint32_t in_len = get_le32(hdr + 16);
    if (version != 1 || in_len == 0 || in_len > size - QBUF_HDR || in_len > QGS_MAX_MSG)
        return TEE_TDVMCALL_STATUS_INVALID_OPERAND;
    struct quote_job *j = malloc(sizeof(*j) + in_len);
    if (!j)
        return TEE_TDVMCALL_STATUS_RETRY;
    *j = (struct quote_job){.q = q, .gm = gm, .gpa = gpa, .size = size, .in_len = in_len};
    if (gm_read(gm, gpa + QBUF_HDR, j->report, in_len) < 0) {
        free(j);
        return TEE_TDVMCALL_STATUS_INVALID_OPERAND;
    }
    pthread_mutex_lock(&q->lock);
    if (q->in_flight >= Q_MAX_IN_FLIGHT) {
        pthread_mutex_unlock(&q->lock);
        free(j);
        return TEE_TDVMCALL_STATUS_RETRY;
    }
    /* In flight before the job is visible, so the service thread cannot overwrite a final
     * status with this one. */
    uint64_t st = QSTATUS_IN_FLIGHT;
    gm_write(gm, gpa + 8, &st, 8);
    q->in_flight++;
    *q->tail = j;
    q->tail = &j->next;
    pthread_cond_signal(&q->work);
    pthread_mutex_unlock(&q->lock);
    return TEE_TDVMCALL_STATUS_SUCCESS;
}

void tdx_quote_service_set_timeout_ms(struct tdx_quote_service *q, unsigned ms)
{
    if (!q)
        return;
    pthread_mutex_lock(&q->lock);
    q->timeout_ms = ms;
    pthread_mutex_unlock(&q->lock);
}

/* Never waits on the guest or the QGS: the exchange in progress is cancelled through the
 * eventfd, queued jobs are dropped, and the join only waits for the thread to notice. */
void tdx_quote_service_free(struct tdx_quote_service *q)
{
    if (!q)
        return;
    pthread_mutex_lock(&q->lock);
    q->stopping = true;
    pthread_cond_signal(&q->work);
    pthread_mutex_unlock(&q->lock);
    uint64_t one = 1;
    if (write(q->cancel_fd, &one, sizeof(one)) < 0)
        log_warn("tdx: cannot cancel the GetQuote exchange: %s", strerror(errno));
    pthread_join(q->thread, NULL);
    pthread_mutex_destroy(&q->lock);
    pthread_cond_destroy(&q->work);
    close(q->cancel_fd);
    free(q);
}
