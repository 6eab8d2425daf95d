/* virtio_pci.c: modern virtio-pci transport: capabilities, feature negotiation, status machine. */
#include "devices/virtio_pci.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "devices/handle_group.h"
#include "vmm/base/log.h"

#define PCI_VENDOR_VIRTIO  0x1AF4
#define PCI_CAP_VENDOR     0x09
#define VIRTIO_CAP_COMMON  1
#define VIRTIO_CAP_NOTIFY  2
#define VIRTIO_CAP_ISR     3
#define VIRTIO_CAP_DEVICE  4
#define VIRTIO_CAP_PCI_CFG 5
#define VIRTIO_ISR_QUEUE   1
#define VIRTIO_ISR_CONFIG  2

/* Feature bits the transport never offers, whatever the device asks for. */
#define VP_FORBIDDEN                                                                               \
    ((1ULL << VIRTIO_F_INDIRECT_DESC) | (1ULL << VIRTIO_F_EVENT_IDX) |                             \
     (1ULL << VIRTIO_F_RING_PACKED))

struct vp_queue {
    uint16_t size, vector, enable;
    uint64_t desc, avail, used;
};

struct vp_bell {
    int fd;
    uv_poll_t poll;
    bool attached;
    uint64_t addr;
};

struct virtio_pci {
    struct pci_dev pci; /* pci.lock guards the registers below */
    struct virtio_device *vdev;
    uv_loop_t *loop;
    uv_async_t async;
    struct vp_bell bell[VIRTIO_MAX_QUEUES];
    struct handle_group handles; /* async + doorbells: vp_release once all are closed */
    uint8_t pci_cfg_cap;         /* config offset of the VIRTIO_PCI_CAP_PCI_CFG window */
    struct log_ratelimit rl;

    /* Registers (vCPU threads, pci.lock). */
    uint32_t dfsel, gfsel;
    uint64_t offered, gfeatures;
    uint16_t config_vector, qsel;
    uint8_t status, isr, generation;
    uint8_t reset_status; /* read back instead of 0 while the model still has DMA pending */
    struct vp_queue q[VIRTIO_MAX_QUEUES];

    /* Work for the loop thread (pci.lock). */
    bool req_reset, req_activate;
    uint32_t notify_bits;

    /* Loop thread only. */
    bool active;
};

static void vp_kick_loop(struct virtio_pci *vp)
{
    uv_async_send(&vp->async);
}

/* Marks DEVICE_NEEDS_RESET and raises the config interrupt. Caller holds pci.lock. */
static void vp_needs_reset_locked(struct virtio_pci *vp)
{
    if (vp->status & VIRTIO_STATUS_DEVICE_NEEDS_RESET)
        return;
    vp->status |= VIRTIO_STATUS_DEVICE_NEEDS_RESET;
    vp->isr |= VIRTIO_ISR_CONFIG;
    if (vp->config_vector != PCI_NO_VECTOR)
        pci_msix_notify_locked(&vp->pci, vp->config_vector);
}

static void vp_guest_error_locked(struct virtio_pci *vp, const char *why)
{
    log_limited(&vp->rl, LOG_LVL_WARN, "virtio-%s (00:%02x.0): guest error, device needs reset: %s",
                vp->vdev->name, vp->pci.slot, why);
    vp_needs_reset_locked(vp);
}

/* ---- transport services for the device ---- */

static void vp_signal_queue(void *ctx, unsigned q)
{
    struct virtio_pci *vp = ctx;
    pthread_mutex_lock(&vp->pci.lock);
    vp->isr |= VIRTIO_ISR_QUEUE;
    if (q < VIRTIO_MAX_QUEUES && vp->q[q].vector != PCI_NO_VECTOR)
        pci_msix_notify_locked(&vp->pci, vp->q[q].vector);
    pthread_mutex_unlock(&vp->pci.lock);
}

static void vp_signal_config(void *ctx)
{
    struct virtio_pci *vp = ctx;
    pthread_mutex_lock(&vp->pci.lock);
    vp->generation++;
    vp->isr |= VIRTIO_ISR_CONFIG;
    if (vp->config_vector != PCI_NO_VECTOR)
        pci_msix_notify_locked(&vp->pci, vp->config_vector);
    pthread_mutex_unlock(&vp->pci.lock);
}

static void vp_set_needs_reset(void *ctx)
{
    struct virtio_pci *vp = ctx;
    pthread_mutex_lock(&vp->pci.lock);
    vp_needs_reset_locked(vp);
    pthread_mutex_unlock(&vp->pci.lock);
}

static const struct virtio_transport_ops vp_transport_ops = {
    .signal_queue = vp_signal_queue,
    .signal_config = vp_signal_config,
    .set_needs_reset = vp_set_needs_reset,
};

/* ---- loop-thread side: activation, reset, notifications ---- */

static void vp_device_reset(struct virtio_pci *vp)
{
    struct virtio_device *vdev = vp->vdev;
    if (vp->active && vdev->ops->reset)
        vdev->ops->reset(vdev);
    vp->active = false;
    for (unsigned q = 0; q < VIRTIO_MAX_QUEUES; q++)
        memset(&vdev->vq[q], 0, sizeof(vdev->vq[q]));
    vdev->broken = false;
    vdev->driver_features = 0;
}

static void vp_device_activate(struct virtio_pci *vp, uint64_t features, const struct vp_queue *qs)
{
    struct virtio_device *vdev = vp->vdev;
    vdev->driver_features = features;
    for (unsigned q = 0; q < vdev->num_queues; q++) {
        if (!qs[q].enable)
            continue;
        if (virtq_init(&vdev->vq[q], vdev->gm, qs[q].size, vdev->queue_max[q], qs[q].desc,
                       qs[q].avail, qs[q].used) < 0) {
            virtio_device_error(vdev, "queue %u: %s", q, vdev->vq[q].error);
            return;
        }
    }
    if (vdev->ops->activate && vdev->ops->activate(vdev) < 0) {
        virtio_device_error(vdev, "activation refused");
        return;
    }
    vp->active = true;
}

static bool vp_usable(struct virtio_pci *vp)
{
    pthread_mutex_lock(&vp->pci.lock);
    bool ok = !(vp->status & VIRTIO_STATUS_DEVICE_NEEDS_RESET);
    pthread_mutex_unlock(&vp->pci.lock);
    return ok && vp->active && !vp->vdev->broken;
}

static void vp_notify_queue(struct virtio_pci *vp, unsigned q)
{
    struct virtio_device *vdev = vp->vdev;
    if (q < vdev->num_queues && vdev->vq[q].ready && vp_usable(vp))
        vdev->ops->queue_notify(vdev, q);
}

static void vp_async_cb(uv_async_t *h)
{
    struct virtio_pci *vp = h->data;
    struct vp_queue qs[VIRTIO_MAX_QUEUES];
    pthread_mutex_lock(&vp->pci.lock);
    bool do_reset = vp->req_reset, do_activate = vp->req_activate;
    uint32_t bits = vp->notify_bits;
    uint64_t features = vp->gfeatures;
    memcpy(qs, vp->q, sizeof(qs));
    vp->req_reset = vp->req_activate = false;
    vp->notify_bits = 0;
    pthread_mutex_unlock(&vp->pci.lock);

    if (do_reset)
        vp_device_reset(vp);
    if (do_activate) {
        vp_device_activate(vp, features, qs);
        bits = (1u << vp->vdev->num_queues) - 1; /* kicks that raced with activation */
    }
    for (unsigned q = 0; q < vp->vdev->num_queues; q++)
        if (bits >> q & 1)
            vp_notify_queue(vp, q);
}

static void vp_bell_cb(uv_poll_t *h, int status, int events)
{
    struct virtio_pci *vp = h->data;
    for (unsigned i = 0; i < VIRTIO_MAX_QUEUES; i++) {
        if (&vp->bell[i].poll != h)
            continue;
        uint64_t cnt;
        if (read(vp->bell[i].fd, &cnt, sizeof(cnt)) == sizeof(cnt))
            vp_notify_queue(vp, i);
        return;
    }
}

/* ---- common configuration ---- */

static void vp_reset_registers_locked(struct virtio_pci *vp)
{
    vp->dfsel = vp->gfsel = 0;
    vp->gfeatures = 0;
    vp->config_vector = PCI_NO_VECTOR;
    vp->qsel = 0;
    vp->status = 0;
    vp->isr = 0;
    for (unsigned q = 0; q < VIRTIO_MAX_QUEUES; q++) {
        vp->q[q] = (struct vp_queue){.size = q < vp->vdev->num_queues ? vp->vdev->queue_max[q] : 0,
                                     .vector = PCI_NO_VECTOR};
    }
    vp->req_activate = false;
    vp->req_reset = true;
    vp->notify_bits = 0;
    vp->pci.msix.pending = 0;
}

static void vp_common_snapshot(struct virtio_pci *vp, uint8_t *b)
{
    const struct vp_queue *q = vp->qsel < vp->vdev->num_queues ? &vp->q[vp->qsel] : NULL;
    uint32_t df = vp->dfsel == 0   ? (uint32_t)vp->offered
                  : vp->dfsel == 1 ? (uint32_t)(vp->offered >> 32)
                                   : 0;
    uint32_t gf = vp->gfsel == 0   ? (uint32_t)vp->gfeatures
                  : vp->gfsel == 1 ? (uint32_t)(vp->gfeatures >> 32)
                                   : 0;
    uint16_t nq = (uint16_t)vp->vdev->num_queues;
    memcpy(b + 0x00, &vp->dfsel, 4);
    memcpy(b + 0x04, &df, 4);
    memcpy(b + 0x08, &vp->gfsel, 4);
    memcpy(b + 0x0C, &gf, 4);
    memcpy(b + 0x10, &vp->config_vector, 2);
    memcpy(b + 0x12, &nq, 2);
    /* a reset is complete only when no request of the old activation can touch guest memory */
    bool draining = !vp->status && __atomic_load_n(&vp->vdev->dma_pending, __ATOMIC_ACQUIRE);
    b[0x14] = draining ? vp->reset_status : vp->status;
    b[0x15] = vp->generation;
    memcpy(b + 0x16, &vp->qsel, 2);
    if (!q)
        return;
    uint16_t notify_off = vp->qsel;
    memcpy(b + 0x18, &q->size, 2);
    memcpy(b + 0x1A, &q->vector, 2);
    memcpy(b + 0x1C, &q->enable, 2);
    memcpy(b + 0x1E, &notify_off, 2);
    memcpy(b + 0x20, &q->desc, 8);
    memcpy(b + 0x28, &q->avail, 8);
    memcpy(b + 0x30, &q->used, 8);
}

/* Validates the enabled queues before DRIVER_OK takes effect. */
static const char *vp_check_queues_locked(struct virtio_pci *vp)
{
    static const char *const msg = "queue configuration invalid at DRIVER_OK";
    for (unsigned q = 0; q < vp->vdev->num_queues; q++) {
        if (!vp->q[q].enable)
            continue;
        struct virtq tmp;
        if (virtq_init(&tmp, vp->vdev->gm, vp->q[q].size, vp->vdev->queue_max[q], vp->q[q].desc,
                       vp->q[q].avail, vp->q[q].used) < 0)
            return msg;
    }
    return NULL;
}

static void vp_write_status_locked(struct virtio_pci *vp, uint8_t val)
{
    if (val == 0) {
        vp->reset_status = vp->status ? vp->status : VIRTIO_STATUS_ACKNOWLEDGE;
        vp_reset_registers_locked(vp);
        vp_kick_loop(vp);
        return;
    }
    val &= (uint8_t)~VIRTIO_STATUS_DEVICE_NEEDS_RESET;
    uint8_t cur = vp->status & (uint8_t)~VIRTIO_STATUS_DEVICE_NEEDS_RESET;
    if (cur & ~val)
        return; /* bits are only cleared by a reset */
    uint8_t added = val & ~cur;
    if (added & VIRTIO_STATUS_FEATURES_OK) {
        bool ok = !(vp->gfeatures & ~vp->offered) && (vp->gfeatures >> VIRTIO_F_VERSION_1 & 1);
        if (!ok)
            val &= (uint8_t)~VIRTIO_STATUS_FEATURES_OK;
    }
    if (added & VIRTIO_STATUS_DRIVER_OK) {
        const char *why = !(val & VIRTIO_STATUS_FEATURES_OK) ? "DRIVER_OK without FEATURES_OK"
                                                             : vp_check_queues_locked(vp);
        if (why) {
            vp->status = (vp->status & VIRTIO_STATUS_DEVICE_NEEDS_RESET) |
                         (val & (uint8_t)~VIRTIO_STATUS_DRIVER_OK);
            vp_guest_error_locked(vp, why);
            return;
        }
        vp->req_activate = true;
        vp_kick_loop(vp);
    }
    vp->status = (vp->status & VIRTIO_STATUS_DEVICE_NEEDS_RESET) | val;
}

/* Queue registers may change only before DRIVER_OK (CVE-2026-5747 class). */
static bool vp_queue_writable_locked(struct virtio_pci *vp, const char *what)
{
    if (vp->qsel >= vp->vdev->num_queues)
        return false;
    if (vp->status & VIRTIO_STATUS_DRIVER_OK) {
        char why[96];
        snprintf(why, sizeof(why), "%s written after DRIVER_OK", what);
        vp_guest_error_locked(vp, why);
        return false;
    }
    return true;
}

static void vp_write_u64_half(uint64_t *field, uint32_t off_in_field, uint64_t val, uint32_t len)
{
    if (len == 8 && off_in_field == 0)
        *field = val;
    else if (len == 4 && off_in_field == 0)
        *field = (*field & ~0xFFFFFFFFULL) | (uint32_t)val;
    else if (len == 4 && off_in_field == 4)
        *field = (*field & 0xFFFFFFFFULL) | (val << 32);
}

static void vp_common_write_locked(struct virtio_pci *vp, uint32_t off, uint64_t val, uint32_t len)
{
    struct vp_queue *q = vp->qsel < vp->vdev->num_queues ? &vp->q[vp->qsel] : NULL;
    switch (off) {
    case 0x00:
        vp->dfsel = (uint32_t)val;
        return;
    case 0x08:
        vp->gfsel = (uint32_t)val;
        return;
    case 0x0C:
        if (len != 4 || vp->gfsel > 1 || (vp->status & VIRTIO_STATUS_FEATURES_OK))
            return;
        if (vp->gfsel == 0)
            vp->gfeatures = (vp->gfeatures & ~0xFFFFFFFFULL) | (uint32_t)val;
        else
            vp->gfeatures = (vp->gfeatures & 0xFFFFFFFFULL) | (val << 32);
        return;
    case 0x10:
        vp->config_vector = (uint16_t)val < vp->pci.msix.nr ? (uint16_t)val : PCI_NO_VECTOR;
        return;
    case 0x14:
        if (len == 1)
            vp_write_status_locked(vp, (uint8_t)val);
        return;
    case 0x16:
        if (len == 2)
            vp->qsel = (uint16_t)val;
        return;
    case 0x18:
        if (len == 2 && vp_queue_writable_locked(vp, "queue_size"))
            q->size = (uint16_t)val;
        return;
    case 0x1A:
        if (len == 2 && q)
            q->vector = (uint16_t)val < vp->pci.msix.nr ? (uint16_t)val : PCI_NO_VECTOR;
        return;
    case 0x1C:
        if (len == 2 && vp_queue_writable_locked(vp, "queue_enable") && val == 1)
            q->enable = 1;
        return;
    }
    if (off >= 0x20 && off < 0x38 && (len == 4 || len == 8)) {
        if (!vp_queue_writable_locked(vp, "queue address"))
            return;
        uint64_t *field = off < 0x28 ? &q->desc : off < 0x30 ? &q->avail : &q->used;
        vp_write_u64_half(field, (off - 0x20) % 8, val, len);
    }
    /* Other offsets (read-only fields, unknown registers) ignore writes. */
}

/* ---- BAR0 ---- */

static void vp_bar_access(void *opaque, uint64_t off, void *data, uint32_t len, bool is_write)
{
    struct virtio_pci *vp = opaque;
    if (pci_msix_access(&vp->pci, 0, off, data, len, is_write))
        return;
    if (!is_write)
        memset(data, 0, len);
    if (off >= VIRTIO_PCI_NOTIFY_OFF &&
        off < VIRTIO_PCI_NOTIFY_OFF + VIRTIO_PCI_NOTIFY_MULT * (uint64_t)vp->vdev->num_queues) {
        /* A notification that did not go through an ioeventfd: hand it to the loop. */
        if (is_write) {
            unsigned q = (unsigned)((off - VIRTIO_PCI_NOTIFY_OFF) / VIRTIO_PCI_NOTIFY_MULT);
            pthread_mutex_lock(&vp->pci.lock);
            vp->notify_bits |= 1u << q;
            pthread_mutex_unlock(&vp->pci.lock);
            vp_kick_loop(vp);
        }
        return;
    }
    pthread_mutex_lock(&vp->pci.lock);
    if (off < VIRTIO_PCI_COMMON_LEN) {
        uint32_t o = (uint32_t)off;
        if (is_write) {
            uint64_t v = 0;
            memcpy(&v, data, len);
            vp_common_write_locked(vp, o, v, len);
        } else {
            uint8_t snap[0x40] = {0};
            vp_common_snapshot(vp, snap);
            if (o + len <= sizeof(snap))
                memcpy(data, snap + o, len);
        }
    } else if (off == VIRTIO_PCI_ISR_OFF && !is_write) {
        *(uint8_t *)data = vp->isr; /* reading acknowledges */
        vp->isr = 0;
    } else if (off >= VIRTIO_PCI_DEVICE_OFF &&
               off - VIRTIO_PCI_DEVICE_OFF + len <= vp->vdev->config_size &&
               (len == 1 || len == 2 || len == 4 || len == 8)) {
        uint32_t o = (uint32_t)(off - VIRTIO_PCI_DEVICE_OFF);
        if (is_write && vp->vdev->ops->config_write)
            vp->vdev->ops->config_write(vp->vdev, o, data, len);
        else if (!is_write && vp->vdev->ops->config_read)
            vp->vdev->ops->config_read(vp->vdev, o, data, len);
    }
    pthread_mutex_unlock(&vp->pci.lock);
}

/* VIRTIO_PCI_CAP_PCI_CFG: a window from config space into BAR0. */
static bool vp_cfg_hook(struct pci_dev *dev, uint32_t off, void *data, uint32_t len, bool is_write)
{
    struct virtio_pci *vp = dev->opaque;
    uint32_t win = vp->pci_cfg_cap + 16u;
    if (!vp->pci_cfg_cap || off + len <= win || off >= win + 4)
        return false;
    uint8_t bar = dev->cfg[vp->pci_cfg_cap + 4];
    uint32_t boff, blen;
    memcpy(&boff, dev->cfg + vp->pci_cfg_cap + 8, 4);
    memcpy(&blen, dev->cfg + vp->pci_cfg_cap + 12, 4);
    bool ok = off == win && len >= blen && bar == 0 && (blen == 1 || blen == 2 || blen == 4) &&
              boff < VIRTIO_PCI_BAR_SIZE && boff % blen == 0;
    if (!ok) {
        if (!is_write)
            memset(data, 0, len);
        return true;
    }
    uint8_t buf[4] = {0};
    if (is_write)
        memcpy(buf, data, blen);
    vp_bar_access(vp, boff, buf, blen, is_write);
    if (!is_write) {
        memset(data, 0, len);
        memcpy(data, buf, blen);
    }
    return true;
}

static void vp_bar_moved(struct pci_dev *dev, unsigned bar, uint64_t old_addr, uint64_t new_addr)
{
    struct virtio_pci *vp = dev->opaque;
    const struct pci_irq *irq = pci_root_irq(dev->root);
    if (bar != 0)
        return;
    for (unsigned q = 0; q < vp->vdev->num_queues; q++) {
        struct vp_bell *b = &vp->bell[q];
        if (b->attached)
            irq->ops->doorbell_detach(irq->ctx, b->fd, b->addr, 0);
        b->attached = false;
        if (!new_addr)
            continue;
        b->addr = new_addr + VIRTIO_PCI_NOTIFY_OFF + (uint64_t)VIRTIO_PCI_NOTIFY_MULT * q;
        b->attached = irq->ops->doorbell_attach(irq->ctx, b->fd, b->addr, 0) == 0;
    }
}

static const struct pci_dev_ops vp_pci_ops = {.bar_moved = vp_bar_moved};

/* ---- set-up and tear-down ---- */

static int vp_add_virtio_cap(struct virtio_pci *vp, uint8_t type, uint32_t off, uint32_t len,
                             bool notify)
{
    uint8_t cap[20] = {PCI_CAP_VENDOR, 0, notify ? 20 : 16, type, 0, 0, 0, 0};
    memcpy(cap + 8, &off, 4);
    memcpy(cap + 12, &len, 4);
    uint32_t mult = VIRTIO_PCI_NOTIFY_MULT;
    if (notify)
        memcpy(cap + 16, &mult, 4);
    return pci_dev_add_cap(&vp->pci, cap, cap[2], NULL);
}

static int vp_add_caps(struct virtio_pci *vp)
{
    struct virtio_device *vdev = vp->vdev;
    uint32_t nlen = VIRTIO_PCI_NOTIFY_MULT * vdev->num_queues;
    if (vp_add_virtio_cap(vp, VIRTIO_CAP_COMMON, VIRTIO_PCI_COMMON_OFF, VIRTIO_PCI_COMMON_LEN,
                          false) < 0 ||
        vp_add_virtio_cap(vp, VIRTIO_CAP_ISR, VIRTIO_PCI_ISR_OFF, 1, false) < 0 ||
        vp_add_virtio_cap(vp, VIRTIO_CAP_NOTIFY, VIRTIO_PCI_NOTIFY_OFF, nlen, true) < 0)
        return -1;
    if (vdev->config_size && vp_add_virtio_cap(vp, VIRTIO_CAP_DEVICE, VIRTIO_PCI_DEVICE_OFF,
                                               vdev->config_size, false) < 0)
        return -1;
    uint8_t cfgcap[20] = {PCI_CAP_VENDOR, 0, 20, VIRTIO_CAP_PCI_CFG};
    uint8_t wm[20] = {0};
    wm[4] = 0xff;
    memset(wm + 8, 0xff, 8);
    int off = pci_dev_add_cap(&vp->pci, cfgcap, sizeof(cfgcap), wm);
    if (off < 0)
        return -1;
    vp->pci_cfg_cap = (uint8_t)off;
    return pci_dev_add_msix(&vp->pci, (uint16_t)(vdev->num_queues + 1), 0, VIRTIO_PCI_MSIX_OFF,
                            VIRTIO_PCI_PBA_OFF);
}

static uint32_t vp_class_code(uint32_t device_id)
{
    switch (device_id) {
    case VIRTIO_ID_NET:
        return 0x020000; /* ethernet controller */
    case VIRTIO_ID_BLOCK:
        return 0x018000; /* mass storage, other */
    default:
        return 0xff0000; /* unclassified */
    }
}

static void vp_release(void *opaque)
{
    struct virtio_pci *vp = opaque;
    for (unsigned q = 0; q < VIRTIO_MAX_QUEUES; q++)
        if (vp->bell[q].fd >= 0)
            close(vp->bell[q].fd);
    pthread_mutex_destroy(&vp->pci.lock);
    free(vp);
}

static int vp_open_handles(struct virtio_pci *vp, char *err, size_t errlen)
{
    if (uv_async_init(vp->loop, &vp->async, vp_async_cb) < 0) {
        snprintf(err, errlen, "virtio-%s: cannot create async handle", vp->vdev->name);
        return -1;
    }
    vp->async.data = vp;
    for (unsigned q = 0; q < vp->vdev->num_queues; q++) {
        struct vp_bell *b = &vp->bell[q];
        b->fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (b->fd < 0 || uv_poll_init(vp->loop, &b->poll, b->fd) < 0) {
            snprintf(err, errlen, "virtio-%s: cannot create doorbell: %s", vp->vdev->name,
                     strerror(errno));
            return -1;
        }
        b->poll.data = vp;
        uv_poll_start(&b->poll, UV_READABLE, vp_bell_cb);
    }
    return 0;
}

/* Handles whose init failed (or never ran) are skipped; vp goes once the others are closed. */
static void vp_close_handles(struct virtio_pci *vp)
{
    handle_group_init(&vp->handles, vp_release, vp);
    handle_group_close(&vp->handles, (uv_handle_t *)&vp->async);
    for (unsigned q = 0; q < vp->vdev->num_queues; q++)
        handle_group_close(&vp->handles, (uv_handle_t *)&vp->bell[q].poll);
    handle_group_seal(&vp->handles);
}

struct virtio_pci *virtio_pci_new(struct pci_root *root, struct virtio_device *vdev,
                                  uv_loop_t *loop, char *bdf, size_t bdflen, char *err,
                                  size_t errlen)
{
    if (vdev->num_queues == 0 || vdev->num_queues > VIRTIO_MAX_QUEUES ||
        vdev->config_size > VIRTIO_PCI_DEVICE_MAX) {
        snprintf(err, errlen, "virtio-%s: bad queue count or config size", vdev->name);
        return NULL;
    }
    struct virtio_pci *vp = calloc(1, sizeof(*vp));
    if (!vp) {
        snprintf(err, errlen, "virtio-%s: out of memory", vdev->name);
        return NULL;
    }
    pci_dev_init(&vp->pci, PCI_VENDOR_VIRTIO, (uint16_t)(0x1040 + vdev->device_id),
                 vp_class_code(vdev->device_id), 1, PCI_VENDOR_VIRTIO, 0x40);
    vp->pci.ops = &vp_pci_ops;
    vp->pci.opaque = vp;
    vp->pci.cfg_hook = vp_cfg_hook;
    vp->vdev = vdev;
    vp->loop = loop;
    vp->rl = (struct log_ratelimit)LOG_RATELIMIT_INIT;
    for (unsigned q = 0; q < VIRTIO_MAX_QUEUES; q++)
        vp->bell[q].fd = -1;
    vp->offered = (vdev->features & ~VP_FORBIDDEN) | (1ULL << VIRTIO_F_VERSION_1) |
                  (1ULL << VIRTIO_F_ACCESS_PLATFORM);
    vdev->transport = &vp_transport_ops;
    vdev->transport_ctx = vp;
    vp_reset_registers_locked(vp);
    vp->req_reset = false;
    if (vp_open_handles(vp, err, errlen) < 0) {
        vp_close_handles(vp);
        return NULL;
    }
    if (pci_dev_set_bar(&vp->pci, 0, VIRTIO_PCI_BAR_SIZE, vp_bar_access, vp) < 0 ||
        vp_add_caps(vp) < 0 || pci_root_attach(root, &vp->pci, bdf, bdflen) < 0) {
        snprintf(err, errlen, "virtio-%s: no free PCI slot or MMIO space", vdev->name);
        vp_close_handles(vp);
        return NULL;
    }
    return vp;
}

void virtio_pci_free(struct virtio_pci *vp)
{
    if (!vp)
        return;
    if (vp->pci.root)
        pci_root_detach(vp->pci.root, &vp->pci);
    vp_device_reset(vp);
    vp->vdev->transport = NULL;
    vp_close_handles(vp);
}

uint8_t virtio_pci_status(struct virtio_pci *vp)
{
    pthread_mutex_lock(&vp->pci.lock);
    uint8_t s = vp->status;
    pthread_mutex_unlock(&vp->pci.lock);
    return s;
}
