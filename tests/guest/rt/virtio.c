/* virtio.c: the test guests' modern virtio-pci driver: PCI walk, capabilities, queues, polling. */
#include "rt/virtio.h"

#include "rt/rt.h"

#define PCI_VENDOR_VIRTIO 0x1AF4
#define PCI_CAP_VENDOR    0x09

static uint64_t alloc_next;

void *vt_alloc(uint64_t size, uint64_t align)
{
    if (!alloc_next)
        alloc_next = rt_free_start();
    alloc_next = (alloc_next + align - 1) & ~(align - 1);
    void *p = (void *)(uintptr_t)alloc_next;
    alloc_next += size;
    if (alloc_next > rt_ram_size())
        rt_fail("vt_alloc: out of guest RAM");
    return p;
}

static void vdev_read_bars(struct vdev *d)
{
    for (unsigned i = 0; i < 6; i++) {
        uint32_t v = pci_cfg_read32(0, d->slot, 0, 0x10 + 4 * i);
        d->bar[i] = (v & 1) ? 0 : (v & ~0xFu);
        if ((v & 7) == 4 && i < 5) {
            d->bar[i] |= (uint64_t)pci_cfg_read32(0, d->slot, 0, 0x14 + 4 * i) << 32;
            i++;
        }
    }
}

static void vdev_read_caps(struct vdev *d)
{
    unsigned off = pci_cfg_read8(0, d->slot, 0, 0x34) & 0xFC;
    for (unsigned hops = 0; off && hops < 48; hops++) {
        uint8_t id = pci_cfg_read8(0, d->slot, 0, off);
        if (id == PCI_CAP_VENDOR) {
            uint8_t type = pci_cfg_read8(0, d->slot, 0, off + 3);
            uint8_t bar = pci_cfg_read8(0, d->slot, 0, off + 4);
            uint32_t where = pci_cfg_read32(0, d->slot, 0, off + 8);
            uint64_t addr = bar < 6 ? d->bar[bar] + where : 0;
            if (type == 1)
                d->common = addr;
            else if (type == 2) {
                d->notify = addr;
                d->notify_mult = pci_cfg_read32(0, d->slot, 0, off + 16);
            } else if (type == 3)
                d->isr = addr;
            else if (type == 4)
                d->device = addr;
        }
        off = pci_cfg_read8(0, d->slot, 0, off + 1) & 0xFC;
    }
}

int vdev_find(uint16_t id, unsigned n, struct vdev *d)
{
    for (unsigned slot = 0; slot < 32; slot++) {
        uint32_t ids = pci_cfg_read32(0, slot, 0, 0);
        if ((ids & 0xFFFF) != PCI_VENDOR_VIRTIO || (ids >> 16) != 0x1040u + id)
            continue;
        if (n--)
            continue;
        memset(d, 0, sizeof(*d));
        d->slot = slot;
        d->device_id = id;
        vdev_read_bars(d);
        /* Memory decoding + bus mastering. */
        pci_cfg_write16(0, slot, 0, 0x04, pci_cfg_read16(0, slot, 0, 0x04) | 0x6);
        vdev_read_caps(d);
        if (!d->common || !d->notify)
            return -1;
        d->num_queues = mmio_read16(d->common + VCOMMON_NUMQ);
        return 0;
    }
    return -1;
}

uint8_t vdev_status(struct vdev *d)
{
    return mmio_read8(d->common + VCOMMON_STATUS);
}

static void vdev_set_status(struct vdev *d, uint8_t s)
{
    mmio_write8(d->common + VCOMMON_STATUS, s);
}

void vdev_reset(struct vdev *d)
{
    vdev_set_status(d, 0);
    while (vdev_status(d) != 0)
        rt_pause();
}

uint8_t vdev_wait_status(struct vdev *d, uint8_t bits, uint64_t spins)
{
    uint8_t s = vdev_status(d);
    for (uint64_t i = 0; i < spins && !(s & bits); i++) {
        rt_pause();
        s = vdev_status(d);
    }
    return s;
}

int vdev_negotiate(struct vdev *d, uint64_t wanted)
{
    vdev_reset(d);
    vdev_set_status(d, VIRTIO_STATUS_ACKNOWLEDGE);
    vdev_set_status(d, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
    mmio_write32(d->common + VCOMMON_DFSELECT, 0);
    uint64_t offered = mmio_read32(d->common + VCOMMON_DF);
    mmio_write32(d->common + VCOMMON_DFSELECT, 1);
    offered |= (uint64_t)mmio_read32(d->common + VCOMMON_DF) << 32;
    if (!(offered >> VIRTIO_F_VERSION_1 & 1))
        return -1;
    d->features =
        offered & (wanted | 1ULL << VIRTIO_F_VERSION_1 | 1ULL << VIRTIO_F_ACCESS_PLATFORM);
    mmio_write32(d->common + VCOMMON_GFSELECT, 0);
    mmio_write32(d->common + VCOMMON_GF, (uint32_t)d->features);
    mmio_write32(d->common + VCOMMON_GFSELECT, 1);
    mmio_write32(d->common + VCOMMON_GF, (uint32_t)(d->features >> 32));
    uint8_t s = VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK;
    vdev_set_status(d, s);
    if (!(vdev_status(d) & VIRTIO_STATUS_FEATURES_OK))
        return -1;
    return 0;
}

int vq_setup(struct vdev *d, struct vq *q, uint16_t idx, uint16_t size)
{
    if (idx >= d->num_queues)
        return -1;
    mmio_write16(d->common + VCOMMON_Q_SELECT, idx);
    uint16_t max = mmio_read16(d->common + VCOMMON_Q_SIZE);
    if (size == 0 || size > max)
        size = max;
    memset(q, 0, sizeof(*q));
    q->dev = d;
    q->index = idx;
    q->size = size;
    uint64_t dsz = 16ULL * size, asz = 6 + 2ULL * size, usz = 6 + 8ULL * size;
    uint8_t *mem = vt_alloc(((dsz + asz + 3) & ~3ULL) + usz, 4096);
    q->desc = (volatile struct vring_desc *)mem;
    q->avail = (volatile uint16_t *)(mem + dsz);
    q->used = mem + ((dsz + asz + 3) & ~3ULL);
    mmio_write16(d->common + VCOMMON_Q_SIZE, size);
    mmio_write64(d->common + VCOMMON_Q_DESCLO, (uint64_t)(uintptr_t)q->desc);
    mmio_write64(d->common + VCOMMON_Q_AVAILLO, (uint64_t)(uintptr_t)q->avail);
    mmio_write64(d->common + VCOMMON_Q_USEDLO, (uint64_t)(uintptr_t)q->used);
    uint16_t noff = mmio_read16(d->common + VCOMMON_Q_NOFF);
    q->notify_addr = d->notify + (uint64_t)noff * d->notify_mult;
    mmio_write16(d->common + VCOMMON_Q_ENABLE, 1);
    return 0;
}

void vdev_driver_ok(struct vdev *d)
{
    vdev_set_status(d, vdev_status(d) | VIRTIO_STATUS_DRIVER_OK);
}

uint32_t vdev_cfg_read32(struct vdev *d, unsigned off)
{
    return mmio_read32(d->device + off);
}

uint64_t vdev_cfg_read64(struct vdev *d, unsigned off)
{
    return mmio_read32(d->device + off) | (uint64_t)mmio_read32(d->device + off + 4) << 32;
}

void vdev_common_write16(struct vdev *d, unsigned off, uint16_t v)
{
    mmio_write16(d->common + off, v);
}

uint16_t vdev_common_read16(struct vdev *d, unsigned off)
{
    return mmio_read16(d->common + off);
}

void vq_set_desc(struct vq *q, uint16_t i, uint64_t addr, uint32_t len, uint16_t flags,
                 uint16_t next)
{
    volatile struct vring_desc *dd = &q->desc[i % q->size];
    dd->addr = addr;
    dd->len = len;
    dd->flags = flags;
    dd->next = next;
}

void vq_set_avail_idx(struct vq *q, uint16_t idx)
{
    __asm__ volatile("" ::: "memory");
    q->avail[1] = idx;
    q->avail_idx = idx;
}

void vq_publish(struct vq *q, uint16_t head)
{
    q->avail[2 + q->avail_idx % q->size] = head;
    vq_set_avail_idx(q, (uint16_t)(q->avail_idx + 1));
}

void vq_kick(struct vq *q)
{
    __asm__ volatile("mfence" ::: "memory");
    mmio_write16(q->notify_addr, q->index);
}

int vq_get_used(struct vq *q, uint32_t *id, uint32_t *len)
{
    uint16_t idx = *(volatile uint16_t *)(q->used + 2);
    if (idx == q->last_used)
        return 0;
    __asm__ volatile("" ::: "memory"); /* x86: loads are not reordered with older loads */
    volatile struct vring_used_elem *e =
        (volatile struct vring_used_elem *)(q->used + 4) + (q->last_used % q->size);
    *id = e->id;
    *len = e->len;
    q->last_used++;
    return 1;
}
