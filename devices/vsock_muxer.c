/* vsock_muxer.c: host Unix sockets <-> guest vsock streams, with Kata's CONNECT/OK handshake. */
#include "devices/vsock_muxer.h"

#include <errno.h>
#include <poll.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "devices/handle_group.h"
#include "devices/unix_socket.h"
#include "devices/vsock_conn.h"
#include "vmm/base/log.h"

#define MUX_RST_QUEUE  64
#define MUX_PORT_FIRST (1u << 30)
#define MUX_PORT_SPAN  (1u << 30)
#define MUX_IOV_MAX    64 /* guest segments per direct send/receive; more go through bounce */

enum mux_phase {
    MUX_HANDSHAKE, /* host client accepted, reading its CONNECT line */
    MUX_STREAM,    /* vsock connection exists (vc.state says which stage) */
};

struct mux_conn {
    struct vsock_muxer *mux;
    enum mux_phase phase;
    struct vsock_conn vc;
    struct vsock_connect_line line;
    int fd; /* host socket, -1 once closed */
    uv_poll_t poll;
    bool poll_open;      /* poll handle initialised and not yet closed */
    bool poll_closing;   /* uv_close issued, callback still to come */
    bool dropped;        /* out of the table: free once the poll handle is closed */
    int events;          /* currently polled */
    bool host_readable;  /* poll reported data we have not read yet */
    bool host_eof;       /* the host side will send nothing more */
    uint32_t shut_flags; /* SHUTDOWN flags to tell the guest once host_eof is set */
    bool close_after_flush;
    char ok[24]; /* "OK <port>\n" still to be written to the host */
    uint32_t ok_len, ok_off;
    double since; /* when the handshake began / the guest last sent after the host's EOF */
};

struct vsock_muxer {
    uv_loop_t *loop;
    char *path;
    uint64_t guest_cid;
    vsock_kick_fn kick;
    void *opaque;
    int listen_fd;
    uv_poll_t listen_poll;
    bool listen_paused; /* out of fds: stop accepting until a connection closes */
    uv_timer_t timer;
    struct handle_group handles; /* listener, timer, connections' polls: mux goes after the last */
    bool freeing;
    struct mux_conn *conn[VSOCK_MAX_CONNS];
    unsigned nr_conns;
    unsigned cursor; /* round-robin start for RX */
    uint32_t next_port;
    struct vsock_hdr rst[MUX_RST_QUEUE];
    unsigned rst_head, rst_len;
    uint8_t bounce[VSOCK_MAX_PAYLOAD];
    struct log_ratelimit rl;
};

static void mux_listen_resume(struct vsock_muxer *mux);

/* ---- CONNECT line ---- */

static int parse_connect_line(const char *s, size_t n, uint32_t *port)
{
    static const char prefix[] = "connect";
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\r' || s[n - 1] == '\t'))
        n--;
    if (n < sizeof(prefix) || strncasecmp(s, prefix, sizeof(prefix) - 1) != 0)
        return -1;
    size_t i = sizeof(prefix) - 1;
    if (s[i] != ' ')
        return -1;
    while (i < n && s[i] == ' ')
        i++;
    if (i == n)
        return -1;
    uint64_t v = 0;
    for (; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (uint64_t)(s[i] - '0');
        if (v > UINT32_MAX)
            return -1;
    }
    *port = (uint32_t)v;
    return 1;
}

int vsock_connect_line_feed(struct vsock_connect_line *l, const void *data, size_t len,
                            size_t *used, uint32_t *port)
{
    const char *p = data;
    *used = 0;
    while (*used < len) {
        char c = p[(*used)++];
        if (c == '\n')
            return parse_connect_line(l->buf, l->len, port);
        if (l->len >= sizeof(l->buf) - 1)
            return -1;
        if (c == '\0')
            return -1;
        l->buf[l->len++] = c;
    }
    return 0;
}

/* ---- helpers ---- */

static double mux_now(const struct vsock_muxer *mux)
{
    return (double)uv_now(mux->loop) / 1000.0;
}

static void mux_queue_rst(struct vsock_muxer *mux, const struct vsock_hdr *to)
{
    if (to->op == VSOCK_OP_RST || mux->rst_len == MUX_RST_QUEUE)
        return;
    struct vsock_hdr *r = &mux->rst[(mux->rst_head + mux->rst_len++) % MUX_RST_QUEUE];
    memset(r, 0, sizeof(*r));
    r->src_cid = VSOCK_HOST_CID;
    r->dst_cid = mux->guest_cid;
    r->src_port = to->dst_port;
    r->dst_port = to->src_port;
    r->type = VSOCK_TYPE_STREAM;
    r->op = VSOCK_OP_RST;
}

static struct mux_conn *mux_find(struct vsock_muxer *mux, uint32_t local, uint32_t peer)
{
    for (unsigned i = 0; i < mux->nr_conns; i++) {
        struct mux_conn *c = mux->conn[i];
        if (c->phase == MUX_STREAM && c->vc.local_port == local && c->vc.peer_port == peer)
            return c;
    }
    return NULL;
}

static bool mux_local_port_used(struct vsock_muxer *mux, uint32_t port)
{
    for (unsigned i = 0; i < mux->nr_conns; i++)
        if (mux->conn[i]->phase == MUX_STREAM && mux->conn[i]->vc.local_port == port)
            return true;
    return false;
}

static uint32_t mux_alloc_port(struct vsock_muxer *mux)
{
    for (;;) {
        uint32_t p = MUX_PORT_FIRST + (mux->next_port++ % MUX_PORT_SPAN);
        if (!mux_local_port_used(mux, p))
            return p;
    }
}

static void mux_conn_free(struct mux_conn *c)
{
    vsock_conn_destroy(&c->vc);
    free(c);
}

/* Every handle of the muxer closes through mux->handles; a connection's poll handle is embedded
 * in the connection, which may be freed only now. */
static void mux_handle_closed(uv_handle_t *h, void *opaque)
{
    struct vsock_muxer *mux = opaque;
    if (h == (uv_handle_t *)&mux->listen_poll || h == (uv_handle_t *)&mux->timer)
        return;
    struct mux_conn *c = (struct mux_conn *)(void *)((char *)h - offsetof(struct mux_conn, poll));
    c->poll_closing = false;
    if (c->dropped)
        mux_conn_free(c);
}

/* Closes the host socket together with its poll handle: libuv drops the fd from epoll when the
 * handle stops, so the handle must go before the fd number can be reused by another socket. */
static void mux_close_host(struct mux_conn *c)
{
    if (c->poll_open) {
        handle_group_close(&c->mux->handles, (uv_handle_t *)&c->poll);
        c->poll_open = false;
        c->poll_closing = true;
    }
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    c->events = 0;
}

/* Removes a connection from the table and releases it. */
static void mux_drop(struct mux_conn *c)
{
    struct vsock_muxer *mux = c->mux;
    for (unsigned i = 0; i < mux->nr_conns; i++) {
        if (mux->conn[i] == c) {
            mux->conn[i] = mux->conn[--mux->nr_conns];
            break;
        }
    }
    mux_close_host(c);
    mux_listen_resume(mux);
    c->dropped = true;
    if (!c->poll_closing)
        mux_conn_free(c);
}

/* Closes the host side and tells the guest with an RST; the connection goes once it is sent. */
static void mux_reset_conn(struct mux_conn *c)
{
    mux_close_host(c);
    if (c->phase != MUX_STREAM) {
        mux_drop(c);
        return;
    }
    c->vc.state = VSOCK_CONN_CLOSING;
    c->vc.pending = VSOCK_PEND_RST;
}

static bool conn_has_rx(const struct mux_conn *c)
{
    if (c->phase != MUX_STREAM)
        return false;
    if (c->vc.pending)
        return true;
    return c->vc.state == VSOCK_CONN_ESTABLISHED && c->host_readable && !c->vc.peer_shut_rcv &&
           vsock_conn_peer_credit(&c->vc) > 0;
}

bool vsock_muxer_has_rx(struct vsock_muxer *mux)
{
    if (mux->rst_len)
        return true;
    for (unsigned i = 0; i < mux->nr_conns; i++)
        if (conn_has_rx(mux->conn[i]))
            return true;
    return false;
}

static void mux_kick(struct vsock_muxer *mux)
{
    if (vsock_muxer_has_rx(mux))
        mux->kick(mux->opaque);
}

/* ---- host socket I/O ---- */

static void mux_poll_cb(uv_poll_t *h, int status, int events);

static void mux_update_poll(struct mux_conn *c)
{
    if (c->fd < 0 || !c->poll_open)
        return;
    int ev = 0;
    if (c->phase == MUX_HANDSHAKE) {
        ev = UV_READABLE;
    } else if (c->vc.state == VSOCK_CONN_CONNECTING) {
        ev = UV_DISCONNECT;
    } else if (c->vc.state == VSOCK_CONN_ESTABLISHED) {
        if (!c->host_readable && !c->host_eof && !c->vc.peer_shut_rcv)
            ev |= UV_READABLE;
        if (c->vc.buf_len || c->ok_off < c->ok_len)
            ev |= UV_WRITABLE;
    }
    if (ev == c->events)
        return;
    c->events = ev;
    if (ev)
        uv_poll_start(&c->poll, ev, mux_poll_cb);
    else
        uv_poll_stop(&c->poll);
}

/* Writes what the host socket takes; returns -1 when the host side is gone. */
static int mux_flush(struct mux_conn *c)
{
    while (c->fd >= 0 && c->ok_off < c->ok_len) {
        ssize_t n = send(c->fd, c->ok + c->ok_off, c->ok_len - c->ok_off, MSG_NOSIGNAL);
        if (n < 0)
            return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -1;
        c->ok_off += (uint32_t)n;
    }
    while (c->fd >= 0 && c->vc.buf_len) {
        const uint8_t *p;
        uint32_t len;
        vsock_conn_peek(&c->vc, &p, &len);
        ssize_t n = send(c->fd, p, len, MSG_NOSIGNAL);
        if (n < 0)
            return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -1;
        vsock_conn_consume(&c->vc, (uint32_t)n);
    }
    if (c->vc.buf_len == 0 && c->fd >= 0) {
        if (c->close_after_flush) {
            mux_reset_conn(c);
            return 0;
        }
        if (c->vc.peer_shut_send)
            shutdown(c->fd, SHUT_WR);
    }
    return 0;
}

static void mux_start_host_connect(struct mux_conn *c, uint32_t port)
{
    struct vsock_muxer *mux = c->mux;
    if (vsock_conn_init(&c->vc, VSOCK_CONN_CONNECTING, mux_alloc_port(mux), port) < 0) {
        mux_drop(c);
        return;
    }
    c->phase = MUX_STREAM;
    c->vc.pending = VSOCK_PEND_REQUEST;
    c->since = mux_now(mux);
    mux_update_poll(c);
    mux_kick(mux);
}

static void mux_handshake_read(struct mux_conn *c)
{
    char tmp[VSOCK_CONNECT_LINE_MAX];
    /* Peek, then consume exactly the bytes that belong to the line: payload stays queued. */
    ssize_t n = recv(c->fd, tmp, sizeof(tmp), MSG_PEEK);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
        return;
    if (n <= 0) {
        mux_drop(c);
        return;
    }
    size_t used = 0;
    uint32_t port = 0;
    int rc = vsock_connect_line_feed(&c->line, tmp, (size_t)n, &used, &port);
    if (used && recv(c->fd, tmp, used, 0) != (ssize_t)used)
        rc = -1;
    if (rc < 0) {
        log_limited(&c->mux->rl, LOG_LVL_INFO, "vsock: host client sent no valid CONNECT line");
        mux_drop(c);
    } else if (rc == 1) {
        mux_start_host_connect(c, port);
    }
}

static void mux_poll_cb(uv_poll_t *h, int status, int events)
{
    struct mux_conn *c = h->data;
    struct vsock_muxer *mux = c->mux;
    if (c->fd < 0)
        return;
    if (c->phase == MUX_HANDSHAKE) {
        if (status < 0)
            mux_drop(c);
        else
            mux_handshake_read(c);
        return;
    }
    if (status < 0 || (c->vc.state == VSOCK_CONN_CONNECTING && (events & UV_DISCONNECT))) {
        mux_reset_conn(c);
        mux_kick(mux);
        return;
    }
    if (events & UV_WRITABLE) {
        if (mux_flush(c) < 0)
            mux_reset_conn(c);
    }
    if (c->fd >= 0 && (events & (UV_READABLE | UV_DISCONNECT)))
        c->host_readable = true;
    mux_update_poll(c);
    mux_kick(mux);
}

static int mux_watch(struct mux_conn *c)
{
    if (uv_poll_init(c->mux->loop, &c->poll, c->fd) < 0)
        return -1;
    c->poll.data = c;
    c->poll_open = true;
    return 0;
}

static struct mux_conn *mux_conn_new(struct vsock_muxer *mux, int fd)
{
    if (mux->nr_conns >= VSOCK_MAX_CONNS) {
        log_limited(&mux->rl, LOG_LVL_WARN, "vsock: %d connections, refusing more",
                    VSOCK_MAX_CONNS);
        return NULL;
    }
    struct mux_conn *c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    c->mux = mux;
    c->fd = fd;
    c->since = mux_now(mux);
    if (mux_watch(c) < 0) {
        free(c);
        return NULL;
    }
    mux->conn[mux->nr_conns++] = c;
    return c;
}

static void mux_accept_cb(uv_poll_t *h, int status, int events);

static void mux_listen_resume(struct vsock_muxer *mux)
{
    if (mux->listen_paused && !mux->freeing) {
        mux->listen_paused = false;
        uv_poll_start(&mux->listen_poll, UV_READABLE, mux_accept_cb);
    }
}

static void mux_accept_cb(uv_poll_t *h, int status, int events)
{
    struct vsock_muxer *mux = h->data;
    for (int i = 0; i < 64; i++) {
        int fd = accept4(mux->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
                /* The pending client stays queued; polling on would spin the loop. */
                log_limited(&mux->rl, LOG_LVL_WARN, "vsock: accept: %s; pausing the listener",
                            strerror(errno));
                uv_poll_stop(&mux->listen_poll);
                mux->listen_paused = true;
            }
            return;
        }
        struct mux_conn *c = mux_conn_new(mux, fd);
        if (!c) {
            close(fd);
            continue;
        }
        mux_update_poll(c);
    }
}

/* Guest-initiated connection to host port P: dial "<path>_P" (Kata's convention). Whoever may
 * write in the socket's folder may create that name, so only a real socket there is dialled:
 * a symlink planted at it (towards another VMM's API socket, say) gets the guest an RST. */
static void mux_guest_connect(struct vsock_muxer *mux, const struct vsock_hdr *h)
{
    char path[UNIX_SOCKET_PATH_MAX + 1];
    int len = snprintf(path, sizeof(path), "%s_%u", mux->path, h->dst_port);
    int fd = -1;
    if (len > 0 && (size_t)len < sizeof(path)) {
        fd = unix_connect_socket_only(path);
        if (fd < 0 && errno == ELOOP)
            log_limited(&mux->rl, LOG_LVL_WARN,
                        "vsock: %s is a symlink, not a socket: guest connection refused", path);
    }
    struct mux_conn *c = fd >= 0 ? mux_conn_new(mux, fd) : NULL;
    if (!c || vsock_conn_init(&c->vc, VSOCK_CONN_ESTABLISHED, h->dst_port, h->src_port) < 0) {
        if (c)
            mux_drop(c);
        else if (fd >= 0)
            close(fd);
        mux_queue_rst(mux, h);
        return;
    }
    c->phase = MUX_STREAM;
    vsock_conn_peer_credit_update(&c->vc, h->buf_alloc, h->fwd_cnt);
    c->vc.pending = VSOCK_PEND_RESPONSE;
    mux_update_poll(c);
}

/* ---- guest -> host ---- */

/* With nothing queued ahead of it, sends the packet's payload to the host socket straight from
 * the guest's buffers (no bounce, no ring copy). Returns the bytes sent (0 when it must be queued
 * instead, e.g. the socket is full), or -1 when the host side is gone. */
static int64_t mux_send_direct(struct mux_conn *c, const struct virtq *vq,
                               const struct virtq_chain *chain, uint32_t len)
{
    struct iovec iov[MUX_IOV_MAX];
    if (c->fd < 0 || c->vc.buf_len || c->ok_off < c->ok_len)
        return 0;
    int n = virtq_chain_iov(vq, chain, false, VSOCK_HDR_SIZE, len, iov, MUX_IOV_MAX);
    if (n <= 0)
        return 0;
    struct msghdr m = {.msg_iov = iov, .msg_iovlen = (size_t)n};
    ssize_t w = sendmsg(c->fd, &m, MSG_NOSIGNAL);
    if (w < 0)
        return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? 0 : -1;
    vsock_conn_forwarded(&c->vc, (uint32_t)w);
    return w;
}

static void mux_guest_data(struct vsock_muxer *mux, struct mux_conn *c, const struct vsock_hdr *h,
                           const struct virtq *vq, const struct virtq_chain *chain)
{
    if (c->vc.state != VSOCK_CONN_ESTABLISHED || c->vc.peer_shut_send) {
        mux_reset_conn(c);
        return;
    }
    if (h->len == 0)
        return;
    if (c->host_eof) /* the guest is still answering a half-closed host: not stale */
        c->since = mux_now(mux);
    if (h->len > vsock_conn_buf_free(&c->vc)) {
        log_limited(&mux->rl, LOG_LVL_WARN,
                    "vsock: guest port %u sent beyond the credit it was given; reset", h->src_port);
        mux_reset_conn(c);
        return;
    }
    int64_t sent = mux_send_direct(c, vq, chain, h->len);
    if (sent < 0) {
        mux_reset_conn(c);
        return;
    }
    uint32_t rest = h->len - (uint32_t)sent;
    if (rest &&
        (virtq_chain_read(vq, chain, VSOCK_HDR_SIZE + (uint32_t)sent, mux->bounce, rest) != rest ||
         vsock_conn_push(&c->vc, mux->bounce, rest) < 0)) {
        log_limited(&mux->rl, LOG_LVL_WARN,
                    "vsock: guest port %u sent beyond the credit it was given; reset", h->src_port);
        mux_reset_conn(c);
        return;
    }
    if (mux_flush(c) < 0)
        mux_reset_conn(c);
}

static void mux_guest_shutdown(struct mux_conn *c, uint32_t flags)
{
    if (flags & VSOCK_SHUTDOWN_RCV)
        c->vc.peer_shut_rcv = true;
    if (flags & VSOCK_SHUTDOWN_SEND)
        c->vc.peer_shut_send = true;
    if (c->vc.peer_shut_rcv && c->vc.peer_shut_send)
        c->close_after_flush = true;
    if (c->fd < 0) {
        if (c->close_after_flush)
            mux_reset_conn(c);
        return;
    }
    if (mux_flush(c) < 0)
        mux_reset_conn(c);
}

static void mux_guest_response(struct mux_conn *c)
{
    if (c->vc.state != VSOCK_CONN_CONNECTING) {
        mux_reset_conn(c);
        return;
    }
    c->vc.state = VSOCK_CONN_ESTABLISHED;
    c->ok_len = (uint32_t)snprintf(c->ok, sizeof(c->ok), "OK %u\n", c->vc.local_port);
    c->ok_off = 0;
    if (mux_flush(c) < 0)
        mux_reset_conn(c);
}

void vsock_muxer_send(struct vsock_muxer *mux, const struct vsock_hdr *h, const struct virtq *vq,
                      const struct virtq_chain *chain)
{
    if (h->src_cid != mux->guest_cid || h->dst_cid != VSOCK_HOST_CID) {
        log_limited(&mux->rl, LOG_LVL_INFO, "vsock: dropped packet %llu -> %llu",
                    (unsigned long long)h->src_cid, (unsigned long long)h->dst_cid);
        return;
    }
    struct mux_conn *c = mux_find(mux, h->dst_port, h->src_port);
    if (h->type != VSOCK_TYPE_STREAM) {
        if (c)
            mux_reset_conn(c);
        else
            mux_queue_rst(mux, h);
    } else if (!c) {
        if (h->op == VSOCK_OP_REQUEST)
            mux_guest_connect(mux, h);
        else
            mux_queue_rst(mux, h);
    } else if (c->vc.state == VSOCK_CONN_CLOSING) {
        if (h->op == VSOCK_OP_RST)
            mux_drop(c);
    } else {
        vsock_conn_peer_credit_update(&c->vc, h->buf_alloc, h->fwd_cnt);
        switch (h->op) {
        case VSOCK_OP_RESPONSE:
            mux_guest_response(c);
            break;
        case VSOCK_OP_RW:
            mux_guest_data(mux, c, h, vq, chain);
            break;
        case VSOCK_OP_SHUTDOWN:
            mux_guest_shutdown(c, h->flags);
            break;
        case VSOCK_OP_RST:
            mux_drop(c);
            c = NULL;
            break;
        case VSOCK_OP_CREDIT_REQUEST:
            c->vc.pending |= VSOCK_PEND_CREDIT;
            break;
        case VSOCK_OP_CREDIT_UPDATE:
            break;
        default: /* a second REQUEST on a live connection */
            mux_reset_conn(c);
            break;
        }
        if (c)
            mux_update_poll(c);
    }
    mux_kick(mux);
}

/* ---- host -> guest ---- */

static int64_t mux_write_ctrl(struct vsock_muxer *mux, struct mux_conn *c, const struct virtq *vq,
                              const struct virtq_chain *chain, uint16_t op, uint32_t flags)
{
    struct vsock_hdr h;
    vsock_conn_fill_hdr(&c->vc, mux->guest_cid, &h, op);
    h.flags = flags;
    return vsock_pkt_write_rx(vq, chain, &h, NULL, 0);
}

/* After EOF: whether the host closed both directions (POLLHUP: close) rather than only its
 * sending side (shutdown(SHUT_WR) raises POLLRDHUP alone on a Unix stream socket). */
static bool mux_host_hung_up(int fd)
{
    struct pollfd p = {.fd = fd, .events = POLLOUT};
    return poll(&p, 1, 0) == 1 && (p.revents & (POLLHUP | POLLERR));
}

/* Reads host bytes straight into one RW packet; 0 when the socket had nothing after all. */
static int64_t mux_write_data(struct vsock_muxer *mux, struct mux_conn *c, const struct virtq *vq,
                              const struct virtq_chain *chain)
{
    uint32_t n = vsock_conn_peer_credit(&c->vc);
    uint32_t room = vsock_pkt_rx_room(chain);
    if (n > room)
        n = room;
    if (n > sizeof(mux->bounce))
        n = sizeof(mux->bounce);
    if (n == 0)
        return -1;
    /* Straight into the guest's buffers when they are plain shared RAM, else through bounce. */
    struct iovec iov[MUX_IOV_MAX];
    int niov = virtq_chain_iov(vq, chain, true, VSOCK_HDR_SIZE, n, iov, MUX_IOV_MAX);
    ssize_t got;
    if (niov > 0) {
        struct msghdr m = {.msg_iov = iov, .msg_iovlen = (size_t)niov};
        got = recvmsg(c->fd, &m, 0);
    } else {
        got = recv(c->fd, mux->bounce, n, 0);
    }
    if (got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
        c->host_readable = false;
        mux_update_poll(c);
        return 0;
    }
    if (got <= 0) {
        /* EOF: the host shut down its sending side (Kata: request, SHUT_WR, read the answer), so
         * tell the guest "no more data" only (SEND) and keep relaying what the guest sends until
         * it shuts down too; a full close shows up as EPIPE on that relay. An error ends both
         * directions. */
        c->host_readable = false;
        c->host_eof = true;
        c->shut_flags = got == 0 && !mux_host_hung_up(c->fd)
                            ? VSOCK_SHUTDOWN_SEND
                            : VSOCK_SHUTDOWN_RCV | VSOCK_SHUTDOWN_SEND;
        c->vc.pending |= VSOCK_PEND_SHUTDOWN;
        c->since = mux_now(mux);
        mux_update_poll(c);
        return 0;
    }
    struct vsock_hdr h;
    vsock_conn_fill_hdr(&c->vc, mux->guest_cid, &h, VSOCK_OP_RW);
    int64_t w = niov > 0 ? vsock_pkt_write_rx_hdr(vq, chain, &h, (uint32_t)got)
                         : vsock_pkt_write_rx(vq, chain, &h, mux->bounce, (uint32_t)got);
    if (w > 0)
        vsock_conn_sent(&c->vc, (uint32_t)got);
    return w;
}

/* Produces at most one packet for connection c. */
static int64_t mux_conn_rx(struct vsock_muxer *mux, struct mux_conn *c, const struct virtq *vq,
                           const struct virtq_chain *chain)
{
    struct vsock_conn *vc = &c->vc;
    if (vc->pending & VSOCK_PEND_RST) {
        int64_t w = mux_write_ctrl(mux, c, vq, chain, VSOCK_OP_RST, 0);
        mux_drop(c);
        return w;
    }
    if (vc->pending & VSOCK_PEND_REQUEST) {
        vc->pending &= ~(unsigned)VSOCK_PEND_REQUEST;
        return mux_write_ctrl(mux, c, vq, chain, VSOCK_OP_REQUEST, 0);
    }
    if (vc->pending & VSOCK_PEND_RESPONSE) {
        vc->pending &= ~(unsigned)VSOCK_PEND_RESPONSE;
        return mux_write_ctrl(mux, c, vq, chain, VSOCK_OP_RESPONSE, 0);
    }
    if (vc->state == VSOCK_CONN_ESTABLISHED && c->host_readable && !vc->peer_shut_rcv &&
        vsock_conn_peer_credit(vc) > 0) {
        int64_t w = mux_write_data(mux, c, vq, chain);
        if (w != 0)
            return w;
    }
    if (vc->pending & VSOCK_PEND_SHUTDOWN) {
        vc->pending &= ~(unsigned)VSOCK_PEND_SHUTDOWN;
        return mux_write_ctrl(mux, c, vq, chain, VSOCK_OP_SHUTDOWN, c->shut_flags);
    }
    if (vc->pending & VSOCK_PEND_CREDIT)
        return mux_write_ctrl(mux, c, vq, chain, VSOCK_OP_CREDIT_UPDATE, 0);
    return 0;
}

int64_t vsock_muxer_recv(struct vsock_muxer *mux, const struct virtq *vq,
                         const struct virtq_chain *chain)
{
    if (chain->write_len < VSOCK_HDR_SIZE)
        return -1;
    if (mux->rst_len) {
        struct vsock_hdr *r = &mux->rst[mux->rst_head];
        mux->rst_head = (mux->rst_head + 1) % MUX_RST_QUEUE;
        mux->rst_len--;
        return vsock_pkt_write_rx(vq, chain, r, NULL, 0);
    }
    for (unsigned k = 0; k < mux->nr_conns; k++) {
        unsigned i = (mux->cursor + k) % mux->nr_conns;
        struct mux_conn *c = mux->conn[i];
        if (!conn_has_rx(c))
            continue;
        mux->cursor = i + 1;
        int64_t w = mux_conn_rx(mux, c, vq, chain);
        if (w != 0)
            return w;
    }
    return 0;
}

/* ---- timers, set-up, tear-down ---- */

static void mux_timer_cb(uv_timer_t *t)
{
    struct vsock_muxer *mux = t->data;
    double now = mux_now(mux);
    mux_listen_resume(mux);
    for (unsigned i = mux->nr_conns; i-- > 0;) {
        struct mux_conn *c = mux->conn[i];
        bool stale_handshake = c->phase == MUX_HANDSHAKE || c->vc.state == VSOCK_CONN_CONNECTING;
        bool stale_shutdown = c->phase == MUX_STREAM && c->host_eof;
        if ((stale_handshake || stale_shutdown) && now - c->since > VSOCK_CONNECT_TIMEOUT)
            mux_reset_conn(c);
    }
    mux_kick(mux);
}

unsigned vsock_muxer_conn_count(const struct vsock_muxer *mux)
{
    return mux->nr_conns;
}

void vsock_muxer_reset(struct vsock_muxer *mux)
{
    while (mux->nr_conns)
        mux_drop(mux->conn[mux->nr_conns - 1]);
    mux->rst_len = 0;
}

static int mux_listen(struct vsock_muxer *mux, char *err, size_t errlen)
{
    /* vm_config_validate refuses these first (400 at vm.create); kept for other callers. */
    if (strlen(mux->path) > VSOCK_SOCKET_PATH_MAX) {
        snprintf(err, errlen,
                 "vsock socket path is %zu bytes; at most %d, so that \"<path>_<port>\" of a "
                 "guest-initiated connection fits in a Unix socket address",
                 strlen(mux->path), VSOCK_SOCKET_PATH_MAX);
        return -1;
    }
    mux->listen_fd = unix_listen_path(mux->path, "vsock socket", 128, err, errlen);
    return mux->listen_fd < 0 ? -1 : 0;
}

struct vsock_muxer *vsock_muxer_new(uv_loop_t *loop, const char *path, uint64_t guest_cid,
                                    vsock_kick_fn kick, void *opaque, char *err, size_t errlen)
{
    struct vsock_muxer *mux = calloc(1, sizeof(*mux));
    if (!mux || !(mux->path = strdup(path))) {
        snprintf(err, errlen, "vsock: out of memory");
        free(mux);
        return NULL;
    }
    mux->listen_fd = -1;
    mux->loop = loop;
    mux->guest_cid = guest_cid;
    mux->kick = kick;
    mux->opaque = opaque;
    mux->rl = (struct log_ratelimit)LOG_RATELIMIT_INIT;
    handle_group_init(&mux->handles, free, mux);
    handle_group_on_each(&mux->handles, mux_handle_closed);
    if (mux_listen(mux, err, errlen) < 0 ||
        uv_poll_init(loop, &mux->listen_poll, mux->listen_fd) < 0) {
        if (mux->listen_fd >= 0)
            close(mux->listen_fd);
        free(mux->path);
        free(mux);
        return NULL;
    }
    mux->listen_poll.data = mux;
    uv_poll_start(&mux->listen_poll, UV_READABLE, mux_accept_cb);
    uv_timer_init(loop, &mux->timer);
    mux->timer.data = mux;
    uv_timer_start(&mux->timer, mux_timer_cb, 1000, 1000);
    uv_unref((uv_handle_t *)&mux->timer);
    return mux;
}

void vsock_muxer_free(struct vsock_muxer *mux)
{
    if (!mux)
        return;
    mux->freeing = true;
    vsock_muxer_reset(mux);
    /* The poll handle goes first: stopping it drops the fd number from epoll. */
    handle_group_close(&mux->handles, (uv_handle_t *)&mux->listen_poll);
    handle_group_close(&mux->handles, (uv_handle_t *)&mux->timer);
    close(mux->listen_fd);
    unlink(mux->path);
    free(mux->path);
    mux->path = NULL;
    handle_group_seal(&mux->handles); /* mux is freed once every close above has finished */
}
