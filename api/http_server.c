/* http_server.c: the control socket: accept, recvmsg (with SCM_RIGHTS), http_parser, limits,
 * replies. */
#include "api/http_server.h"

#include <errno.h>
#include <fcntl.h>
#include <http_parser.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "devices/handle_group.h"
#include "devices/unix_socket.h"
#include "vmm/base/log.h"

#define READ_CHUNK      16384
#define OUT_HIGH_WATER  (64 * 1024) /* unsent output beyond this: parse and read nothing more */
#define MAX_AFTER_SEND  4
#define ACCEPT_RETRY_MS 200 /* out of fds: how long the listener rests before trying again */

struct after_send {
    void (*fn)(void *opaque);
    void *opaque;
};

struct conn {
    struct http_server *srv;
    struct conn *next, *prev;
    int fd;
    uv_poll_t poll;
    uv_timer_t timer;
    struct handle_group handles; /* poll + timer: c is freed once both are closed */
    bool closing;
    int poll_events;

    http_parser parser;
    bool in_request;
    int error_status; /* a limit was hit: answer this and close */
    const char *error_msg;
    char *url;
    size_t url_len;
    size_t header_bytes;
    unsigned nheaders;
    bool last_was_value;
    char field[32];
    size_t field_len;
    bool field_is_expect;
    bool expect_continue;
    char *body;
    size_t body_len, body_cap;

    int fds[API_MAX_FDS_PER_REQUEST];
    unsigned nfds;

    char *out;
    size_t out_len, out_off, out_cap;
    bool close_after_flush;
    /* Parsing stopped because the peer does not read its responses: the bytes received but not
     * parsed yet wait here (at most one read's worth) until the output drains. */
    bool parse_paused;
    char *in;
    size_t in_len;
    struct after_send after[MAX_AFTER_SEND];
    unsigned nafter;
};

struct http_server {
    uv_loop_t *loop;
    struct http_limits lim;
    api_handler_fn handler;
    void *opaque;
    char *path;
    int fd;
    uv_poll_t poll;
    uv_timer_t retry;            /* resumes accepting after running out of fds */
    struct handle_group handles; /* poll + retry: srv is freed once both are closed */
    bool listen_paused;
    bool closing;
    struct conn *conns;
    unsigned nconns;
    struct log_ratelimit rl;
};

void http_limits_default(struct http_limits *lim)
{
    lim->max_body = 64 * 1024;
    lim->max_header_bytes = 8 * 1024;
    lim->max_headers = 64;
    lim->max_conns = 10;
    lim->partial_timeout_ms = 10 * 1000;
}

const char *http_reason(int status)
{
    switch (status) {
    case 100:
        return "Continue";
    case 200:
        return "OK";
    case 204:
        return "No Content";
    case 400:
        return "Bad Request";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 408:
        return "Request Timeout";
    case 409:
        return "Conflict";
    case 411:
        return "Length Required";
    case 413:
        return "Payload Too Large";
    case 415:
        return "Unsupported Media Type";
    case 429:
        return "Too Many Requests";
    case 431:
        return "Request Header Fields Too Large";
    case 500:
        return "Internal Server Error";
    case 501:
        return "Not Implemented";
    case 503:
        return "Service Unavailable";
    }
    return "Unknown";
}

/* Cloud Hypervisor's error body: a JSON array of error strings. */
static char *error_body(const char *msg)
{
    json_t *a = json_pack("[s]", msg);
    char *s = a ? json_dumps(a, JSON_COMPACT) : NULL;
    json_decref(a);
    return s;
}

/* Formats status line + headers + body into buf; returns the length (or 0 if it cannot fit). */
static size_t format_response(char *buf, size_t cap, int status, const char *body,
                              const char *allow, bool close)
{
    size_t blen = body ? strlen(body) : 0;
    int n = snprintf(buf, cap,
                     "HTTP/1.1 %d %s\r\nServer: cocoon\r\nContent-Type: application/json\r\n"
                     "%s%s%s%s",
                     status, http_reason(status), allow ? "Allow: " : "", allow ? allow : "",
                     allow ? "\r\n" : "", close ? "Connection: close\r\n" : "");
    if (n < 0 || (size_t)n >= cap)
        return 0;
    size_t off = (size_t)n;
    if (status != 204 && status >= 200) {
        n = snprintf(buf + off, cap - off, "Content-Length: %zu\r\n", blen);
        if (n < 0 || (size_t)n >= cap - off)
            return 0;
        off += (size_t)n;
    }
    if (off + 2 + blen > cap)
        return 0;
    memcpy(buf + off, "\r\n", 2);
    off += 2;
    if (status != 204 && blen) {
        memcpy(buf + off, body, blen);
        off += blen;
    }
    return off;
}

/* ---- connection lifetime ---- */

static void close_fds(int *fds, unsigned *n)
{
    for (unsigned i = 0; i < *n; i++)
        if (fds[i] >= 0)
            close(fds[i]);
    *n = 0;
}

static void run_after_send(struct conn *c)
{
    unsigned n = c->nafter;
    struct after_send list[MAX_AFTER_SEND];
    memcpy(list, c->after, sizeof(list));
    c->nafter = 0;
    for (unsigned i = 0; i < n; i++)
        list[i].fn(list[i].opaque);
}

static void listen_resume(struct http_server *srv);

static void conn_close(struct conn *c)
{
    if (c->closing)
        return;
    c->closing = true;
    struct http_server *srv = c->srv;
    if (c->prev)
        c->prev->next = c->next;
    else
        srv->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    srv->nconns--;
    uv_poll_stop(&c->poll);
    uv_timer_stop(&c->timer);
    close(c->fd);
    close_fds(c->fds, &c->nfds);
    free(c->url);
    free(c->body);
    free(c->out);
    free(c->in);
    c->url = c->body = c->out = c->in = NULL;
    c->in_len = 0;
    handle_group_init(&c->handles, free, c);
    handle_group_close(&c->handles, (uv_handle_t *)&c->poll);
    handle_group_close(&c->handles, (uv_handle_t *)&c->timer);
    run_after_send(c);
    handle_group_seal(&c->handles); /* c goes once both callbacks ran: not touched after */
    listen_resume(srv);             /* a slot (and an fd) is free again */
}

static void conn_update_poll(struct conn *c);
static void conn_poll_cb(uv_poll_t *h, int status, int events);
static void conn_arm_timer(struct conn *c);

/* Writes as much pending output as the socket takes. Returns -1 if the connection closed. */
static int conn_flush(struct conn *c)
{
    size_t before = c->out_off;
    while (c->out_off < c->out_len) {
        ssize_t n =
            send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            break;
        if (n <= 0) {
            conn_close(c);
            return -1;
        }
        c->out_off += (size_t)n;
    }
    bool progress = c->out_off != before;
    if (c->out_off == c->out_len) {
        c->out_off = c->out_len = 0;
        run_after_send(c);
        if (c->close_after_flush) {
            conn_close(c);
            return -1;
        }
    }
    if (progress && !c->in_request)
        conn_arm_timer(c); /* the peer reads: its stall clock starts again */
    conn_update_poll(c);
    return 0;
}

static int conn_queue(struct conn *c, const char *data, size_t len)
{
    if (c->out_len + len > c->out_cap) {
        size_t cap = c->out_cap ? c->out_cap : 1024;
        while (cap < c->out_len + len)
            cap *= 2;
        char *p = realloc(c->out, cap);
        if (!p)
            return -1;
        c->out = p;
        c->out_cap = cap;
    }
    memcpy(c->out + c->out_len, data, len);
    c->out_len += len;
    return 0;
}

/* Queues one response (taking ownership of body). */
static void conn_respond(struct conn *c, int status, char *body, const char *allow, bool close)
{
    size_t blen = body ? strlen(body) : 0;
    size_t cap = blen + 512;
    char *buf = malloc(cap);
    size_t n = buf ? format_response(buf, cap, status, body, allow, close) : 0;
    if (n == 0 || conn_queue(c, buf, n) < 0)
        c->close_after_flush = true;
    if (close)
        c->close_after_flush = true;
    free(buf);
    free(body);
}

static void conn_fail(struct conn *c, int status, const char *msg)
{
    log_info("api: %d %s: %s", status, http_reason(status), msg);
    conn_respond(c, status, error_body(msg), NULL, true);
    conn_flush(c);
}

/* ---- timers ---- */

/* Every timeout ends the connection: a 408 is offered to a peer that is still reading, but a
 * peer that reads nothing cannot hold its slot by leaving the 408 unread. */
static void conn_timeout(uv_timer_t *t)
{
    struct conn *c = t->data;
    if (c->in_request)
        conn_fail(c, 408, "request not completed in time");
    else
        log_info("api: closing a connection that has not read its responses in %llu ms",
                 (unsigned long long)c->srv->lim.partial_timeout_ms);
    conn_close(c);
}

/* One clock, two uses: a started request must complete, and queued responses must be read,
 * each within partial_timeout_ms. An idle connection (nothing started, nothing queued) has no
 * timeout: Kata's runtime-rs keeps one connection for the sandbox's whole life. */
static void conn_arm_timer(struct conn *c)
{
    if (c->closing)
        return;
    if (c->in_request || c->out_off < c->out_len)
        uv_timer_start(&c->timer, conn_timeout, c->srv->lim.partial_timeout_ms, 0);
    else
        uv_timer_stop(&c->timer);
}

/* ---- request assembly (http_parser callbacks) ---- */

static struct conn *conn_of(http_parser *p)
{
    return p->data;
}

static int limit_hit(struct conn *c, int status, const char *msg)
{
    c->error_status = status;
    c->error_msg = msg;
    return -1; /* not 1 or 2: on_headers_complete gives those a meaning (skip body) */
}

static int count_header_bytes(struct conn *c, size_t len)
{
    c->header_bytes += len;
    if (c->header_bytes > c->srv->lim.max_header_bytes)
        return limit_hit(c, 431, "request line and headers are too large");
    return 0;
}

static int on_message_begin(http_parser *p)
{
    struct conn *c = conn_of(p);
    c->in_request = true;
    c->url_len = c->header_bytes = c->body_len = 0;
    c->nheaders = 0;
    c->last_was_value = true;
    c->field_len = 0;
    c->expect_continue = false;
    conn_arm_timer(c);
    return 0;
}

static int on_url(http_parser *p, const char *at, size_t len)
{
    struct conn *c = conn_of(p);
    if (count_header_bytes(c, len))
        return -1;
    char *u = realloc(c->url, c->url_len + len + 1);
    if (!u)
        return limit_hit(c, 500, "out of memory");
    memcpy(u + c->url_len, at, len);
    c->url_len += len;
    u[c->url_len] = '\0';
    c->url = u;
    return 0;
}

static int on_header_field(http_parser *p, const char *at, size_t len)
{
    struct conn *c = conn_of(p);
    if (count_header_bytes(c, len))
        return -1;
    if (c->last_was_value) {
        if (++c->nheaders > c->srv->lim.max_headers)
            return limit_hit(c, 431, "too many header fields");
        c->field_len = 0;
        c->last_was_value = false;
    }
    if (c->field_len + len < sizeof(c->field)) {
        memcpy(c->field + c->field_len, at, len);
        c->field_len += len;
    } else {
        c->field_len = sizeof(c->field); /* too long to be a header we care about */
    }
    return 0;
}

static int on_header_value(http_parser *p, const char *at, size_t len)
{
    struct conn *c = conn_of(p);
    if (count_header_bytes(c, len))
        return -1;
    if (!c->last_was_value) {
        c->field_is_expect = c->field_len == 6 && strncasecmp(c->field, "expect", 6) == 0;
        c->last_was_value = true;
    }
    if (c->field_is_expect && len >= 12 && strncasecmp(at, "100-continue", 12) == 0)
        c->expect_continue = true;
    return 0;
}

static int on_headers_complete(http_parser *p)
{
    struct conn *c = conn_of(p);
    if (p->upgrade)
        return limit_hit(c, 400, "protocol upgrade is not supported");
    if (p->content_length != ULLONG_MAX && p->content_length > c->srv->lim.max_body)
        return limit_hit(c, 413, "request body is too large");
    if (c->expect_continue) {
        static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
        conn_queue(c, cont, sizeof(cont) - 1);
    }
    return 0;
}

static int on_body(http_parser *p, const char *at, size_t len)
{
    struct conn *c = conn_of(p);
    if (len > c->srv->lim.max_body - c->body_len)
        return limit_hit(c, 413, "request body is too large");
    if (c->body_len + len + 1 > c->body_cap) {
        size_t cap = c->body_cap ? c->body_cap : 1024;
        while (cap < c->body_len + len + 1)
            cap *= 2;
        char *b = realloc(c->body, cap);
        if (!b)
            return limit_hit(c, 500, "out of memory");
        c->body = b;
        c->body_cap = cap;
    }
    memcpy(c->body + c->body_len, at, len);
    c->body_len += len;
    return 0;
}

/* Extracts the path of the request target (origin- or absolute-form), without the query. */
static int request_path(const struct conn *c, char *path, size_t cap)
{
    struct http_parser_url u;
    http_parser_url_init(&u);
    if (!c->url || http_parser_parse_url(c->url, c->url_len, 0, &u) != 0 ||
        !(u.field_set & (1 << UF_PATH)))
        return -1;
    size_t len = u.field_data[UF_PATH].len;
    if (len >= cap)
        return -1;
    memcpy(path, c->url + u.field_data[UF_PATH].off, len);
    path[len] = '\0';
    return 0;
}

static int on_message_complete(http_parser *p)
{
    struct conn *c = conn_of(p);
    struct http_server *srv = c->srv;
    c->in_request = false;

    char path[256];
    if (request_path(c, path, sizeof(path)) < 0)
        return limit_hit(c, 400, "malformed request target");

    struct api_request req = {
        .method = http_method_str((enum http_method)p->method),
        .path = path,
        .body = c->body ? c->body : "",
        .body_len = c->body_len,
    };
    if (c->body)
        c->body[c->body_len] = '\0';
    memcpy(req.fds, c->fds, sizeof(req.fds));
    req.nfds = c->nfds;
    c->nfds = 0;

    struct api_response resp = {.status = 500};
    srv->handler(srv->opaque, &req, &resp);
    for (unsigned i = 0; i < req.nfds; i++)
        if (req.fds[i] >= 0) {
            log_info("api: %s %s takes no fd: closing the one passed", req.method, path);
            close(req.fds[i]);
        }

    bool keep = http_should_keep_alive(p);
    conn_respond(c, resp.status, resp.body, resp.allow, !keep);
    if (resp.after_send) {
        if (c->nafter < MAX_AFTER_SEND)
            c->after[c->nafter++] = (struct after_send){resp.after_send, resp.after_send_opaque};
        else
            resp.after_send(resp.after_send_opaque);
    }
    conn_arm_timer(c);
    if (!keep)
        return 1; /* stop parsing pipelined requests on a closing connection */
    /* A peer pipelining requests without reading the answers: answer no more of them until it
     * reads (each response is bounded by the configuration limits, so this bounds memory). */
    if (c->out_len - c->out_off > OUT_HIGH_WATER)
        http_parser_pause(p, 1);
    return 0;
}

static const http_parser_settings parser_settings = {
    .on_message_begin = on_message_begin,
    .on_url = on_url,
    .on_header_field = on_header_field,
    .on_header_value = on_header_value,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
};

/* ---- reading ---- */

static void take_fds(struct conn *c, struct msghdr *msg)
{
    for (struct cmsghdr *cm = CMSG_FIRSTHDR(msg); cm; cm = CMSG_NXTHDR(msg, cm)) {
        if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
            continue;
        size_t n = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        const unsigned char *data = CMSG_DATA(cm);
        for (size_t i = 0; i < n; i++) {
            int fd;
            memcpy(&fd, data + i * sizeof(int), sizeof(int));
            if (c->nfds < API_MAX_FDS_PER_REQUEST)
                c->fds[c->nfds++] = fd;
            else
                close(fd);
        }
    }
    if (msg->msg_flags & MSG_CTRUNC)
        log_info("api: too many fds in one message; the extra ones were discarded");
}

/* Keeps the bytes the parser has not taken yet (it paused on a backed-up peer). */
static int conn_hold_input(struct conn *c, const char *rest, size_t len)
{
    c->parse_paused = true;
    if (!len)
        return 0;
    char *in = malloc(len);
    if (!in) {
        conn_fail(c, 500, "out of memory");
        return -1;
    }
    memcpy(in, rest, len);
    c->in = in;
    c->in_len = len;
    return 0;
}

/* Feeds received bytes to the parser; returns -1 if the connection was closed. */
static int conn_feed(struct conn *c, const char *buf, size_t len)
{
    size_t done = http_parser_execute(&c->parser, &parser_settings, buf, len);
    if (c->closing)
        return -1;
    if (c->error_status) {
        conn_fail(c, c->error_status, c->error_msg);
        return -1;
    }
    enum http_errno e = HTTP_PARSER_ERRNO(&c->parser);
    if (e == HPE_CB_message_complete && c->close_after_flush) {
        conn_flush(c); /* closes once the last response is out */
        return -1;
    }
    if (e == HPE_PAUSED) {
        if (conn_hold_input(c, buf + done, len - done) < 0)
            return -1;
        return conn_flush(c);
    }
    if (e == HPE_INVALID_CONTENT_LENGTH && (c->parser.flags & F_CHUNKED)) {
        conn_fail(c, 413, "request body is too large: a chunk size does not fit in 64 bits");
        return -1;
    }
    if (e != HPE_OK || done != len) {
        char msg[128];
        snprintf(msg, sizeof(msg), "malformed HTTP request: %s", http_errno_description(e));
        conn_fail(c, e == HPE_HEADER_OVERFLOW ? 431 : 400, msg);
        return -1;
    }
    return conn_flush(c);
}

/* The peer read enough of its responses (or the socket took them at once): parse what was held
 * back, as long as the output stays below the high-water mark. Returns -1 if closed. */
static int conn_resume_input(struct conn *c)
{
    while (!c->closing && c->parse_paused && c->out_len - c->out_off <= OUT_HIGH_WATER) {
        c->parse_paused = false;
        http_parser_pause(&c->parser, 0);
        char *in = c->in;
        size_t len = c->in_len;
        c->in = NULL;
        c->in_len = 0;
        int rc = len ? conn_feed(c, in, len) : 0;
        free(in);
        if (rc < 0)
            return -1;
    }
    conn_update_poll(c);
    return 0;
}

static void conn_read(struct conn *c)
{
    for (int round = 0; round < 8 && !c->closing; round++) {
        char buf[READ_CHUNK];
        union {
            char buf[CMSG_SPACE(sizeof(int) * API_MAX_FDS_PER_REQUEST)];
            struct cmsghdr align;
        } cbuf;
        struct iovec iov = {.iov_base = buf, .iov_len = sizeof(buf)};
        struct msghdr msg = {
            .msg_iov = &iov,
            .msg_iovlen = 1,
            .msg_control = cbuf.buf,
            .msg_controllen = sizeof(cbuf.buf),
        };
        ssize_t n = recvmsg(c->fd, &msg, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        if (n >= 0)
            take_fds(c, &msg);
        if (n <= 0) {
            conn_close(c);
            return;
        }
        if (conn_feed(c, buf, (size_t)n) < 0 || conn_resume_input(c) < 0)
            return;
        if (c->parse_paused || c->out_len - c->out_off > OUT_HIGH_WATER)
            return; /* the peer is not reading its responses: stop reading its requests */
    }
}

static void conn_update_poll(struct conn *c)
{
    if (c->closing)
        return;
    int ev = 0;
    if (c->out_len - c->out_off <= OUT_HIGH_WATER && !c->close_after_flush && !c->parse_paused)
        ev |= UV_READABLE;
    if (c->out_off < c->out_len)
        ev |= UV_WRITABLE;
    if (ev == c->poll_events)
        return;
    c->poll_events = ev;
    if (ev)
        uv_poll_start(&c->poll, ev, conn_poll_cb);
    else
        uv_poll_stop(&c->poll);
}

static void conn_poll_cb(uv_poll_t *h, int status, int events)
{
    struct conn *c = h->data;
    if (status < 0) {
        conn_close(c);
        return;
    }
    if ((events & UV_WRITABLE) && (conn_flush(c) < 0 || conn_resume_input(c) < 0))
        return;
    if ((events & UV_READABLE) && !c->parse_paused)
        conn_read(c);
}

/* ---- accepting ---- */

static void reject_busy(int fd)
{
    char buf[512];
    char *body = error_body("too many open connections");
    size_t n = format_response(buf, sizeof(buf), 503, body, NULL, true);
    free(body);
    if (n && send(fd, buf, n, MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
        log_debug("api: could not send 503: %s", strerror(errno));
    close(fd);
}

static void conn_start(struct http_server *srv, int fd)
{
    struct conn *c = calloc(1, sizeof(*c));
    if (!c) {
        close(fd);
        return;
    }
    c->srv = srv;
    c->fd = fd;
    http_parser_init(&c->parser, HTTP_REQUEST);
    c->parser.data = c;
    if (uv_poll_init(srv->loop, &c->poll, fd) < 0) {
        close(fd);
        free(c);
        return;
    }
    uv_timer_init(srv->loop, &c->timer);
    c->poll.data = c->timer.data = c;
    c->next = srv->conns;
    if (srv->conns)
        srv->conns->prev = c;
    srv->conns = c;
    srv->nconns++;
    conn_arm_timer(c);
    conn_update_poll(c);
}

static void on_listen_readable(uv_poll_t *h, int status, int events);

static void listen_resume(struct http_server *srv)
{
    if (!srv->listen_paused || srv->closing)
        return;
    srv->listen_paused = false;
    uv_timer_stop(&srv->retry);
    uv_poll_start(&srv->poll, UV_READABLE, on_listen_readable);
}

static void on_accept_retry(uv_timer_t *t)
{
    listen_resume(t->data);
}

/* accept() cannot get an fd (EMFILE and friends): the client stays queued and the listener
 * stays readable, so polling on would spin the loop. Rest until a connection closes or the
 * retry timer fires; say so at most once every few seconds. */
static void listen_pause(struct http_server *srv, int err)
{
    log_limited(&srv->rl, LOG_LVL_WARN, "api: accept: %s; not accepting for %d ms", strerror(err),
                ACCEPT_RETRY_MS);
    uv_poll_stop(&srv->poll);
    srv->listen_paused = true;
    uv_timer_start(&srv->retry, on_accept_retry, ACCEPT_RETRY_MS, 0);
}

/* Closes the connections whose peer has gone (EOF, error) while nothing is owed to them, so a
 * client that closed counts no more even before the loop has seen its hang-up (Kata opens a
 * connection per request; a burst of them must not meet its own dead predecessors). */
static void reap_closed_conns(struct http_server *srv)
{
    for (struct conn *c = srv->conns, *next; c; c = next) {
        next = c->next;
        /* Answers still owed may be awaited by a client that only shut down its sending side;
         * a half-sent request from a closed client can never complete. */
        if (c->out_off < c->out_len || c->parse_paused)
            continue;
        char b;
        ssize_t n = recv(c->fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR))
            conn_close(c);
    }
}

/* At the limit, a connection whose client pipelined requests and reads none of the answers
 * (parsing paused on it) gives its slot to the newcomer: such clients cannot lock others out. */
static bool evict_backed_up_conn(struct http_server *srv)
{
    for (struct conn *c = srv->conns; c; c = c->next)
        if (c->parse_paused) {
            log_info("api: connection limit reached: closing one that does not read its "
                     "responses");
            conn_close(c);
            return true;
        }
    return false;
}

static void on_listen_readable(uv_poll_t *h, int status, int events)
{
    struct http_server *srv = h->data;
    for (int i = 0; i < 16; i++) {
        int fd = accept4(srv->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM)
                listen_pause(srv, errno);
            else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
                log_limited(&srv->rl, LOG_LVL_WARN, "api: accept: %s", strerror(errno));
            return;
        }
        if (srv->nconns >= srv->lim.max_conns)
            reap_closed_conns(srv);
        if (srv->nconns >= srv->lim.max_conns)
            evict_backed_up_conn(srv);
        if (srv->nconns >= srv->lim.max_conns) {
            log_info("api: 503: connection limit (%u) reached", srv->lim.max_conns);
            reject_busy(fd);
            continue;
        }
        conn_start(srv, fd);
    }
}

/* Common tail of the two listen calls. On failure a listener it created (path non-NULL) is
 * closed and its file removed; an inherited fd (path NULL) stays the caller's. */
static int serve_listener(uv_loop_t *loop, int fd, const char *path, const struct http_limits *lim,
                          api_handler_fn handler, void *opaque, struct http_server **out, char *err,
                          size_t errlen)
{
    struct http_server *srv = calloc(1, sizeof(*srv));
    if (!srv || (path && !(srv->path = strdup(path)))) {
        free(srv);
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    srv->loop = loop;
    if (lim)
        srv->lim = *lim;
    else
        http_limits_default(&srv->lim);
    srv->handler = handler;
    srv->opaque = opaque;
    srv->fd = fd;
    if (uv_poll_init(loop, &srv->poll, fd) < 0) {
        snprintf(err, errlen, "cannot poll the API socket");
        free(srv->path);
        free(srv);
        goto fail;
    }
    srv->poll.data = srv;
    uv_timer_init(loop, &srv->retry);
    srv->retry.data = srv;
    srv->rl = (struct log_ratelimit)LOG_RATELIMIT_INIT;
    uv_poll_start(&srv->poll, UV_READABLE, on_listen_readable);
    *out = srv;
    return 0;
fail:
    if (path) {
        close(fd);
        unlink(path);
    }
    return -1;
}

int http_server_listen(uv_loop_t *loop, const char *path, const struct http_limits *lim,
                       api_handler_fn handler, void *opaque, struct http_server **out, char *err,
                       size_t errlen)
{
    int fd = unix_listen_path(path, "API socket", 16, err, errlen);
    if (fd < 0)
        return -1;
    return serve_listener(loop, fd, path, lim, handler, opaque, out, err, errlen);
}

int http_server_listen_fd(uv_loop_t *loop, int fd, const struct http_limits *lim,
                          api_handler_fn handler, void *opaque, struct http_server **out, char *err,
                          size_t errlen)
{
    int listening = 0, type = 0;
    socklen_t len = sizeof(int);
    struct sockaddr_un sa;
    socklen_t salen = sizeof(sa);
    if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) < 0 || !listening ||
        getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0 || type != SOCK_STREAM ||
        getsockname(fd, (struct sockaddr *)&sa, &salen) < 0 || sa.sun_family != AF_UNIX) {
        snprintf(err, errlen, "fd %d is not a listening Unix stream socket", fd);
        return -1;
    }
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0 || fcntl(fd, F_SETFD, FD_CLOEXEC) < 0) {
        snprintf(err, errlen, "fd %d: %s", fd, strerror(errno));
        return -1;
    }
    return serve_listener(loop, fd, NULL, lim, handler, opaque, out, err, errlen);
}

void http_server_adopt(struct http_server *srv, int fd)
{
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0) {
        close(fd);
        return;
    }
    if (srv->nconns >= srv->lim.max_conns)
        reap_closed_conns(srv);
    if (srv->nconns >= srv->lim.max_conns)
        evict_backed_up_conn(srv);
    if (srv->nconns >= srv->lim.max_conns) {
        reject_busy(fd);
        return;
    }
    conn_start(srv, fd);
}

static void server_handles_closed(void *opaque)
{
    struct http_server *srv = opaque;
    free(srv->path);
    free(srv);
}

void http_server_close(struct http_server *srv)
{
    if (!srv || srv->closing)
        return;
    srv->closing = true;
    while (srv->conns)
        conn_close(srv->conns);
    uv_poll_stop(&srv->poll);
    close(srv->fd);
    if (srv->path)
        unlink(srv->path);
    handle_group_init(&srv->handles, server_handles_closed, srv);
    handle_group_close(&srv->handles, (uv_handle_t *)&srv->poll);
    handle_group_close(&srv->handles, (uv_handle_t *)&srv->retry);
    handle_group_seal(&srv->handles);
}

unsigned http_server_connections(const struct http_server *srv)
{
    return srv ? srv->nconns : 0;
}
