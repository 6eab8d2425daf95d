/* virtio_net.c: virtio-net over a tap: tx chains -> tap writes, tap reads -> rx chains. */
#include "devices/virtio_net.h"

#include <endian.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <sys/random.h>
#include <unistd.h>

#include "devices/handle_group.h"

#define VIRTIO_NET_S_LINK_UP 1
#define RX_READ_BUDGET       1024 /* frames read from the tap per wake-up */
#define FRAME_BUF            (NET_HDR_LEN + NET_MAX_GSO_FRAME + 64)
/* Frames up to this size (header included) are copied and written with one write(); larger ones
 * go out with writev straight from the guest's buffers. Measured with tools/bench/net_path.c:
 * copying is 9-15% faster at 64 and 1514 B, writev 7% faster at 64 KiB TSO. */
#define TX_COPY_MAX (NET_HDR_LEN + 4096)

struct virtio_net {
    struct virtio_device vdev;
    struct tap tap;
    uv_loop_t *loop;
    uv_poll_t poll;
    uv_idle_t tx_more;             /* continues a tx queue that hit the per-wake-up budget */
    uv_timer_t rx_timer, tx_timer; /* resume a direction the rate limiter paused */
    struct handle_group handles;   /* freed when every handle is closed */
    int poll_events;               /* UV_READABLE / UV_WRITABLE currently requested, 0 = stopped */
    uint32_t mtu;
    uint8_t config[VIRTIO_NET_CONFIG_SIZE];
    bool active;

    bool rx_waiting; /* the guest had no rx buffer: tap not polled until the rx kick */
    bool rx_have;    /* rx_buf holds a checked frame not yet given to the guest */
    uint32_t rx_len; /* header + frame */
    bool tx_have;    /* a checked frame (tx_small / tx_iov) is waiting: the tap said EAGAIN */
    bool tx_blocked; /* waiting for the tap to become writable */
    bool tap_failed; /* the tap reported a hard error: it is not polled any more */
    bool rl_on;      /* rate limiters configured */
    bool rx_throttled, tx_throttled; /* out of tokens: waiting for the timer */
    struct rate_limiter rx_rl, tx_rl;
    uint16_t tx_head;
    uint32_t tx_len;

    struct virtio_net_stats stats;
    struct log_ratelimit io_rl;
    struct virtq_chain chain; /* scratch, loop thread only */
    uint8_t rx_buf[FRAME_BUF];
    /* The frame being sent. Up to TX_COPY_MAX bytes: copied whole into tx_small (one write, the
     * fastest for small frames); larger (TSO) frames: the checked copy of the header in tx_small,
     * then the guest's own buffers, held until the frame is written (the chain is returned only
     * after), so 64 KiB is not copied twice. */
    uint8_t tx_small[TX_COPY_MAX];
    struct iovec tx_iov[1 + VIRTQ_MAX_SIZE];
    unsigned tx_iovcnt; /* 0: the frame is tx_small[0 .. tx_len) */
};

static struct virtio_net *to_net(struct virtio_device *vdev)
{
    return (struct virtio_net *)vdev; /* vdev is the first member */
}

static void poll_cb(uv_poll_t *h, int status, int events);
static void tx_process(struct virtio_net *n);
static void rx_process(struct virtio_net *n);

/* Polls for reading while the guest can take frames, for writing while a frame waits. */
static void update_poll(struct virtio_net *n)
{
    int want = 0;
    if (n->active && !n->vdev.broken && !n->tap_failed) {
        if (!n->rx_waiting && !n->rx_throttled)
            want |= UV_READABLE;
        if (n->tx_blocked)
            want |= UV_WRITABLE;
    }
    if (want == n->poll_events)
        return;
    if (want)
        uv_poll_start(&n->poll, want, poll_cb);
    else
        uv_poll_stop(&n->poll);
    n->poll_events = want;
}

static void guest_error(struct virtio_net *n, unsigned q, const char *why)
{
    virtio_device_error(&n->vdev, "queue %u: %s", q, why ? why : "?");
}

static bool push(struct virtio_net *n, unsigned q, uint16_t head, uint32_t len)
{
    struct virtq *vq = &n->vdev.vq[q];
    if (virtq_push(vq, head, len) < 0) {
        guest_error(n, q, vq->error);
        return false;
    }
    return true;
}

/* Reads one frame from the tap into rx_buf (header first). Returns bytes, 0 if none, -1 error. */
static ssize_t tap_read_frame(struct virtio_net *n)
{
    for (;;) {
        size_t skip = n->tap.vnet_hdr ? 0 : NET_HDR_LEN; /* plain taps: zero header added */
        ssize_t r = read(n->tap.fd, n->rx_buf + skip, sizeof(n->rx_buf) - skip);
        if (r > 0) {
            memset(n->rx_buf, 0, skip);
            return r + (ssize_t)skip;
        }
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return 0;
        /* An error or end of file (a tap never reads 0 bytes): a level-triggered poll would spin
         * on it, so stop reading. */
        log_warn("virtio-net: tap read failed, no more frames for the guest: %s",
                 r < 0 ? strerror(errno) : "end of file");
        n->tap_failed = true;
        return -1;
    }
}

static void rx_timer_cb(uv_timer_t *t)
{
    struct virtio_net *n = t->data;
    n->rx_throttled = false;
    rx_process(n);
}

static void tx_timer_cb(uv_timer_t *t)
{
    struct virtio_net *n = t->data;
    n->tx_throttled = false;
    tx_process(n);
}

/* Whether one more frame may go in this direction; if not, the direction pauses (rx: the tap is
 * not read, so frames wait in the kernel) and resumes when its buckets refill. */
static bool rl_admit(struct virtio_net *n, struct rate_limiter *rl, uv_timer_t *timer,
                     bool *throttled, uv_timer_cb cb, uint64_t *count)
{
    if (!n->rl_on || rate_limiter_ready(rl, uv_hrtime()))
        return true;
    if (!*throttled) {
        (*count)++;
        *throttled = true;
        uv_timer_start(timer, cb, (rate_limiter_wait_ns(rl) + 999999) / 1000000, 0);
    }
    return false;
}

/* Reads frames until one passes the checks; false when the tap is empty or failed. */
static bool rx_fetch(struct virtio_net *n, unsigned *budget)
{
    while (*budget > 0) {
        (*budget)--;
        ssize_t r = tap_read_frame(n);
        if (r <= 0)
            return false;
        enum net_drop d = NET_DROP_SHORT;
        if ((size_t)r >= NET_HDR_LEN + NET_ETH_HLEN) {
            struct virtio_net_hdr_v1 hdr;
            memcpy(&hdr, n->rx_buf, sizeof(hdr));
            d = net_hdr_fix_rx(&hdr, n->vdev.driver_features, (uint32_t)r - NET_HDR_LEN, n->mtu);
            memcpy(n->rx_buf, &hdr, sizeof(hdr));
        }
        if (d != NET_OK) {
            n->stats.rx_dropped[d]++;
            continue;
        }
        n->rx_len = (uint32_t)r;
        n->rx_have = true;
        return true;
    }
    return false;
}

static void rx_process(struct virtio_net *n)
{
    struct virtq *vq = &n->vdev.vq[VIRTIO_NET_Q_RX];
    bool pushed = false;
    unsigned budget = RX_READ_BUDGET;
    while (n->active && !n->vdev.broken) {
        if (!n->rx_have) {
            if (!virtq_has_avail(vq)) {
                n->stats.rx_paused += !n->rx_waiting;
                n->rx_waiting = true; /* resumed by the rx kick */
                break;
            }
            if (!rl_admit(n, &n->rx_rl, &n->rx_timer, &n->rx_throttled, rx_timer_cb,
                          &n->stats.rx_throttled))
                break;
            if (!rx_fetch(n, &budget))
                break;
            if (n->rl_on)
                rate_limiter_consume(&n->rx_rl, n->rx_len - NET_HDR_LEN);
        }
        int rc = virtq_pop(vq, &n->chain);
        if (rc < 0) {
            guest_error(n, VIRTIO_NET_Q_RX, vq->error);
            break;
        }
        if (rc == 0) {
            n->stats.rx_paused += !n->rx_waiting;
            n->rx_waiting = true; /* keep the frame until buffers arrive */
            break;
        }
        if (n->chain.nr_read) {
            guest_error(n, VIRTIO_NET_Q_RX, "rx buffer with device-readable descriptors");
            break;
        }
        n->rx_have = false;
        uint32_t len = n->rx_len;
        if (n->chain.write_len < len) {
            n->stats.rx_dropped[NET_DROP_NO_BUFFER]++;
            len = 0;
        } else if (virtq_chain_write(vq, &n->chain, 0, n->rx_buf, len) != (int64_t)len) {
            guest_error(n, VIRTIO_NET_Q_RX, "rx buffer no longer accessible");
            break;
        } else {
            n->stats.rx_frames++;
        }
        if (!push(n, VIRTIO_NET_Q_RX, n->chain.head, len))
            break;
        pushed = true;
    }
    if (pushed)
        virtio_signal_used(&n->vdev, VIRTIO_NET_Q_RX);
    update_poll(n);
}

/* Takes a popped chain of len bytes as the frame to send: the header copied once and checked,
 * then the payload copied (small frames) or referenced in the guest's buffers (TSO frames).
 * Returns the drop reason, or -1 when the buffers are no longer accessible. The guest's buffers
 * are referenced, not pinned (vmm/base/memory.h gm_pin), while a frame waits for the tap: they are
 * only read, and a confidential guest that converts one of them to private meanwhile sends zeros
 * in its own frame, nothing else. */
static int tx_take(struct virtio_net *n, uint32_t len)
{
    struct virtq *vq = &n->vdev.vq[VIRTIO_NET_Q_TX];
    bool copy = len <= TX_COPY_MAX;
    /* one read: the whole small frame, or a large frame's header */
    uint32_t first = copy ? len : NET_HDR_LEN;
    if (virtq_chain_read(vq, &n->chain, 0, n->tx_small, first) != (int64_t)first)
        return -1;
    struct virtio_net_hdr_v1 hdr;
    memcpy(&hdr, n->tx_small, sizeof(hdr));
    enum net_drop d = net_hdr_check_tx(&hdr, n->vdev.driver_features, len - NET_HDR_LEN, n->mtu);
    if (d != NET_OK)
        return (int)d;
    n->tx_iovcnt = 0;
    if (!copy) {
        int k = virtq_chain_iov(vq, &n->chain, false, NET_HDR_LEN, len - NET_HDR_LEN, n->tx_iov + 1,
                                VIRTQ_MAX_SIZE);
        if (k < 0)
            return -1;
        if (k + 1 > IOV_MAX) /* a 1024-entry queue's chain, header not in its own descriptor */
            return NET_DROP_FRAGMENTED;
        n->tx_iov[0] = (struct iovec){n->tx_small, NET_HDR_LEN};
        n->tx_iovcnt = 1 + (unsigned)k;
    }
    hdr.num_buffers = 0;
    memcpy(n->tx_small, &hdr, NET_HDR_LEN); /* the checked copy, whatever the guest does now */
    n->tx_head = n->chain.head;
    n->tx_len = len;
    n->tx_have = true;
    return NET_OK;
}

/* Pops one tx chain and takes it as the frame to send. Returns 1 ready, 0 empty, -1 stop, 2 when
 * the budget of chains for this wake-up is used up. */
static int tx_fetch(struct virtio_net *n, bool *pushed, unsigned *budget)
{
    struct virtq *vq = &n->vdev.vq[VIRTIO_NET_Q_TX];
    for (;;) {
        if (*budget == 0)
            return 2;
        (*budget)--;
        int rc = virtq_pop(vq, &n->chain);
        if (rc <= 0) {
            if (rc < 0)
                guest_error(n, VIRTIO_NET_Q_TX, vq->error);
            return rc;
        }
        if (n->chain.nr_write) {
            guest_error(n, VIRTIO_NET_Q_TX, "tx buffer with device-writable descriptors");
            return -1;
        }
        uint32_t len = n->chain.read_len;
        int d;
        if (len < NET_HDR_LEN + NET_ETH_HLEN) {
            d = NET_DROP_SHORT;
        } else if (len > NET_HDR_LEN + NET_MAX_GSO_FRAME) {
            d = NET_DROP_OVERSIZE;
        } else if ((d = tx_take(n, len)) < 0) {
            guest_error(n, VIRTIO_NET_Q_TX, "tx buffer no longer accessible");
            return -1;
        } else if (d == NET_OK) {
            return 1;
        }
        n->stats.tx_dropped[d]++;
        if (!push(n, VIRTIO_NET_Q_TX, n->chain.head, 0))
            return -1;
        *pushed = true;
    }
}

/* Writes the frame (with the header when the tap takes one) to the tap in one call. Returns 1
 * written (or dropped on error), 0 on EAGAIN. */
static ssize_t tx_write(struct virtio_net *n)
{
    size_t skip = n->tap.vnet_hdr ? 0 : NET_HDR_LEN;
    if (n->tx_iovcnt == 0)
        return write(n->tap.fd, n->tx_small + skip, n->tx_len - skip);
    return skip ? writev(n->tap.fd, n->tx_iov + 1, (int)n->tx_iovcnt - 1)
                : writev(n->tap.fd, n->tx_iov, (int)n->tx_iovcnt);
}

static int tx_send(struct virtio_net *n)
{
    for (;;) {
        ssize_t w = tx_write(n);
        if (w >= 0) {
            n->stats.tx_frames++;
            return 1;
        }
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            return 0;
        n->stats.tx_errors++;
        log_limited(&n->io_rl, LOG_LVL_WARN, "virtio-net: tap write failed: %s", strerror(errno));
        return 1;
    }
}

static void tx_more_cb(uv_idle_t *h)
{
    uv_idle_stop(h);
    tx_process(h->data);
}

/* Sends what the guest queued. At most a queue's worth of chains per wake-up, so a guest that
 * keeps its tx queue full cannot hold the loop thread: the rest continues on the next turn. */
static void tx_process(struct virtio_net *n)
{
    bool pushed = false;
    unsigned budget = n->vdev.vq[VIRTIO_NET_Q_TX].size;
    while (n->active && !n->vdev.broken) {
        if (!n->tx_have && !rl_admit(n, &n->tx_rl, &n->tx_timer, &n->tx_throttled, tx_timer_cb,
                                     &n->stats.tx_throttled))
            break;
        bool fetched = !n->tx_have;
        int rc = n->tx_have ? 1 : tx_fetch(n, &pushed, &budget);
        if (rc == 1 && fetched && n->rl_on)
            rate_limiter_consume(&n->tx_rl, n->tx_len - NET_HDR_LEN);
        if (rc == 2)
            uv_idle_start(&n->tx_more, tx_more_cb);
        if (rc != 1)
            break;
        if (tx_send(n) == 0) {
            n->tx_blocked = true;
            break;
        }
        n->tx_blocked = false;
        n->tx_have = false;
        if (!push(n, VIRTIO_NET_Q_TX, n->tx_head, 0))
            break;
        pushed = true;
    }
    if (pushed)
        virtio_signal_used(&n->vdev, VIRTIO_NET_Q_TX);
    update_poll(n);
}

static void poll_cb(uv_poll_t *h, int status, int events)
{
    struct virtio_net *n = h->data;
    if (status < 0) {
        log_warn("virtio-net: tap poll failed, tap no longer used: %s", uv_strerror(status));
        n->tap_failed = true;
        update_poll(n);
        return;
    }
    if (events & UV_WRITABLE) {
        n->tx_blocked = false;
        tx_process(n);
    }
    if (events & UV_READABLE)
        rx_process(n);
}

static void net_config_read(struct virtio_device *vdev, uint32_t offset, void *data, uint32_t len)
{
    struct virtio_net *n = to_net(vdev);
    if (offset > sizeof(n->config) || len > sizeof(n->config) - offset) {
        memset(data, 0, len);
        return;
    }
    memcpy(data, n->config + offset, len);
}

static void net_config_write(struct virtio_device *vdev, uint32_t offset, const void *data,
                             uint32_t len)
{
    /* The MAC is read-only without VIRTIO_NET_F_CTRL_MAC_ADDR (not offered). */
}

static unsigned guest_offloads(const struct virtio_device *vdev)
{
    unsigned off = 0;
    if (virtio_has_feature(vdev, VIRTIO_NET_F_GUEST_CSUM)) {
        off |= TAP_OFFLOAD_CSUM;
        if (virtio_has_feature(vdev, VIRTIO_NET_F_GUEST_TSO4))
            off |= TAP_OFFLOAD_TSO4;
        if (virtio_has_feature(vdev, VIRTIO_NET_F_GUEST_TSO6))
            off |= TAP_OFFLOAD_TSO6;
    }
    return off;
}

static int net_activate(struct virtio_device *vdev)
{
    struct virtio_net *n = to_net(vdev);
    if (tap_set_offload(&n->tap, guest_offloads(vdev)) < 0)
        log_warn("virtio-net: cannot set tap offloads: %s (guest gets plain frames)",
                 strerror(errno));
    n->active = true;
    n->rx_waiting = false;
    n->rx_have = n->tx_have = n->tx_blocked = false;
    update_poll(n);
    tx_process(n);
    rx_process(n);
    return 0;
}

static void net_reset(struct virtio_device *vdev)
{
    struct virtio_net *n = to_net(vdev);
    n->active = false;
    n->rx_have = n->tx_have = n->tx_blocked = false;
    n->rx_throttled = n->tx_throttled = false;
    update_poll(n);
    uv_idle_stop(&n->tx_more);
    uv_timer_stop(&n->rx_timer);
    uv_timer_stop(&n->tx_timer);
    tap_set_offload(&n->tap, 0);
}

static void net_queue_notify(struct virtio_device *vdev, unsigned q)
{
    struct virtio_net *n = to_net(vdev);
    if (!n->active)
        return;
    if (q == VIRTIO_NET_Q_RX) {
        n->rx_waiting = false; /* new buffers: resume reading the tap */
        rx_process(n);
    } else if (q == VIRTIO_NET_Q_TX) {
        if (!n->tx_blocked && !n->tx_throttled)
            tx_process(n);
    }
}

static const struct virtio_device_ops net_ops = {
    .config_read = net_config_read,
    .config_write = net_config_write,
    .activate = net_activate,
    .reset = net_reset,
    .queue_notify = net_queue_notify,
};

static void build_config(struct virtio_net *n, const uint8_t mac[6])
{
    memcpy(n->config, mac, 6);
    uint16_t v = htole16(VIRTIO_NET_S_LINK_UP);
    memcpy(n->config + 6, &v, 2);
    v = htole16(1);
    memcpy(n->config + 8, &v, 2);
    v = htole16((uint16_t)n->mtu);
    memcpy(n->config + 10, &v, 2);
}

static void random_mac(uint8_t mac[6])
{
    if (getrandom(mac, 6, 0) != 6)
        memset(mac, 0x5A, 6);
    mac[0] = (uint8_t)((mac[0] & 0xFE) | 0x02); /* unicast, locally administered */
}

int virtio_net_create(const struct virtio_net_params *p, const struct guest_mem *gm,
                      uv_loop_t *loop, struct virtio_net **out, char *err, size_t errlen)
{
    struct tap tap = p->tap;
    unsigned qsize = p->queue_size ? p->queue_size : VIRTIO_NET_DEFAULT_QUEUE_SIZE;
    uint32_t mtu = p->mtu ? p->mtu : VIRTIO_NET_DEFAULT_MTU;
    struct virtio_net *n = NULL;
    if (qsize < 2 || qsize > VIRTQ_MAX_SIZE || (qsize & (qsize - 1))) {
        snprintf(err, errlen, "net: queue_size must be a power of two in 2..%d", VIRTQ_MAX_SIZE);
        goto fail;
    }
    if (mtu < 68 || mtu > 65535) {
        snprintf(err, errlen, "net: mtu must be 68..65535");
        goto fail;
    }
    if (p->mac_set && (p->mac[0] & 1)) {
        snprintf(err, errlen, "net: mac must be a unicast address");
        goto fail;
    }
    n = calloc(1, sizeof(*n));
    if (!n) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    if (uv_poll_init(loop, &n->poll, tap.fd) != 0) {
        snprintf(err, errlen, "net: cannot poll the tap fd");
        goto fail;
    }
    uv_idle_init(loop, &n->tx_more); /* cannot fail */
    uv_timer_init(loop, &n->rx_timer);
    uv_timer_init(loop, &n->tx_timer);
    n->poll.data = n;
    n->tx_more.data = n;
    n->rx_timer.data = n;
    n->tx_timer.data = n;
    if (p->rate_limiter && rate_limiter_config_enabled(p->rate_limiter)) {
        rate_limiter_init(&n->rx_rl, p->rate_limiter, uv_hrtime());
        rate_limiter_init(&n->tx_rl, p->rate_limiter, uv_hrtime());
        n->rl_on = true;
    }
    n->tap = tap;
    n->loop = loop;
    n->mtu = mtu;
    n->io_rl = (struct log_ratelimit)LOG_RATELIMIT_INIT;
    uint8_t mac[6];
    if (p->mac_set)
        memcpy(mac, p->mac, 6);
    else
        random_mac(mac);
    build_config(n, mac);
    struct virtio_device *v = &n->vdev;
    v->ops = &net_ops;
    v->name = "net";
    v->device_id = VIRTIO_ID_NET;
    v->features = 1ULL << VIRTIO_NET_F_MAC | 1ULL << VIRTIO_NET_F_MTU | 1ULL << VIRTIO_NET_F_STATUS;
    if (tap.vnet_hdr)
        v->features |= 1ULL << VIRTIO_NET_F_CSUM | 1ULL << VIRTIO_NET_F_GUEST_CSUM |
                       1ULL << VIRTIO_NET_F_GUEST_TSO4 | 1ULL << VIRTIO_NET_F_GUEST_TSO6 |
                       1ULL << VIRTIO_NET_F_HOST_TSO4 | 1ULL << VIRTIO_NET_F_HOST_TSO6;
    v->config_size = VIRTIO_NET_CONFIG_SIZE;
    v->num_queues = 2;
    v->queue_max[VIRTIO_NET_Q_RX] = (uint16_t)qsize;
    v->queue_max[VIRTIO_NET_Q_TX] = (uint16_t)qsize;
    v->gm = gm;
    *out = n;
    return 0;
fail:
    free(n);
    tap_close(&tap);
    return -1;
}

struct virtio_device *virtio_net_vdev(struct virtio_net *net)
{
    return &net->vdev;
}

void virtio_net_get_stats(const struct virtio_net *net, struct virtio_net_stats *out)
{
    *out = net->stats;
}

bool virtio_net_rx_polling(const struct virtio_net *net)
{
    return (net->poll_events & UV_READABLE) != 0;
}

static void on_handles_closed(void *opaque)
{
    struct virtio_net *n = opaque;
    tap_close(&n->tap);
    free(n);
}

void virtio_net_destroy(struct virtio_net *net)
{
    if (!net)
        return;
    const struct virtio_net_stats *s = &net->stats;
    log_info("virtio-net: rx %llu tx %llu frames; rx paused %llu times; dropped: rx oversize %llu "
             "no-buffer %llu bad %llu short %llu, tx oversize %llu bad %llu short %llu fragmented "
             "%llu, tx errors %llu",
             (unsigned long long)s->rx_frames, (unsigned long long)s->tx_frames,
             (unsigned long long)s->rx_paused, (unsigned long long)s->rx_dropped[NET_DROP_OVERSIZE],
             (unsigned long long)s->rx_dropped[NET_DROP_NO_BUFFER],
             (unsigned long long)s->rx_dropped[NET_DROP_BAD_HDR],
             (unsigned long long)s->rx_dropped[NET_DROP_SHORT],
             (unsigned long long)s->tx_dropped[NET_DROP_OVERSIZE],
             (unsigned long long)s->tx_dropped[NET_DROP_BAD_HDR],
             (unsigned long long)s->tx_dropped[NET_DROP_SHORT],
             (unsigned long long)s->tx_dropped[NET_DROP_FRAGMENTED],
             (unsigned long long)s->tx_errors);
    net->active = false;
    uv_poll_stop(&net->poll);
    handle_group_init(&net->handles, on_handles_closed, net);
    handle_group_close(&net->handles, (uv_handle_t *)&net->poll);
    handle_group_close(&net->handles, (uv_handle_t *)&net->tx_more);
    handle_group_close(&net->handles, (uv_handle_t *)&net->rx_timer);
    handle_group_close(&net->handles, (uv_handle_t *)&net->tx_timer);
    handle_group_seal(&net->handles);
}
