/* pci.c: PCI segment 0 with type-1 config access, BAR sizing/mapping and MSI-X emulation. */
#include "devices/pci.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vmm/base/log.h"

#define PCI_CONFIG_ADDRESS 0xCF8
#define PCI_CONFIG_DATA    0xCFC

#define PCI_COMMAND     0x04
#define PCI_STATUS      0x06
#define PCI_BAR0        0x10
#define PCI_CAP_PTR     0x34
#define PCI_CMD_MEMORY  0x2
#define PCI_CMD_MASTER  0x4
#define PCI_CMD_INTX    0x400
#define PCI_STATUS_CAPS 0x10
#define PCI_CAP_MSIX    0x11

#define MSIX_CTRL_ENABLE 0x8000
#define MSIX_CTRL_FMASK  0x4000
#define MSIX_ENTRY_MASK  1

struct pci_root {
    struct bus *pio, *mmio;
    struct pci_irq irq;
    pthread_mutex_t cfg_lock; /* serialises config-space access and BAR mapping */
    uint32_t config_address;
    struct pci_dev *slot[PCI_MAX_SLOTS];
    struct pci_dev bridge;
};

static uint32_t ld(const uint8_t *p, unsigned len)
{
    uint32_t v = 0;
    memcpy(&v, p, len);
    return v;
}

static void st16(uint8_t *p, uint16_t v)
{
    memcpy(p, &v, 2);
}

static void st32(uint8_t *p, uint32_t v)
{
    memcpy(p, &v, 4);
}

const struct pci_irq *pci_root_irq(const struct pci_root *root)
{
    return &root->irq;
}

void pci_dev_init(struct pci_dev *dev, uint16_t vendor, uint16_t device, uint32_t class_code,
                  uint8_t revision, uint16_t subsys_vendor, uint16_t subsys_id)
{
    memset(dev, 0, sizeof(*dev));
    dev->slot = -1;
    pthread_mutex_init(&dev->lock, NULL);
    st16(dev->cfg + 0x00, vendor);
    st16(dev->cfg + 0x02, device);
    dev->cfg[0x08] = revision;
    dev->cfg[0x09] = class_code & 0xff;
    dev->cfg[0x0a] = (class_code >> 8) & 0xff;
    dev->cfg[0x0b] = (class_code >> 16) & 0xff;
    st16(dev->cfg + 0x2c, subsys_vendor);
    st16(dev->cfg + 0x2e, subsys_id);
    st16(dev->wmask + PCI_COMMAND, PCI_CMD_MEMORY | PCI_CMD_MASTER | PCI_CMD_INTX);
    dev->cfg[0x3d] = 0;      /* no INTx pin: MSI-X only */
    dev->wmask[0x3c] = 0xff; /* interrupt line is scratch for the OS */
    dev->next_cap = 0x40;
    for (unsigned i = 0; i < PCI_MSIX_MAX; i++)
        dev->msix.route[i] = -1;
}

int pci_dev_set_bar(struct pci_dev *dev, unsigned bar, uint64_t size, bus_handler_fn fn,
                    void *opaque)
{
    if (bar >= 6 || size < 4096 || (size & (size - 1)) || size > (1ULL << 30) || !fn)
        return -1;
    dev->bar[bar].size = size;
    dev->bar[bar].fn = fn;
    dev->bar[bar].opaque = opaque;
    st32(dev->wmask + PCI_BAR0 + 4 * bar, (uint32_t) ~(size - 1) & ~0xFu);
    return 0;
}

int pci_dev_add_cap(struct pci_dev *dev, const void *cap, uint8_t len, const uint8_t *wmask_bytes)
{
    unsigned off = (dev->next_cap + 3u) & ~3u;
    if (len < 2 || off + len > 256)
        return -1;
    memcpy(dev->cfg + off, cap, len);
    dev->cfg[off + 1] = 0;
    if (wmask_bytes)
        memcpy(dev->wmask + off, wmask_bytes, len);
    if (dev->last_cap)
        dev->cfg[dev->last_cap + 1] = (uint8_t)off;
    else
        dev->cfg[PCI_CAP_PTR] = (uint8_t)off;
    st16(dev->cfg + PCI_STATUS, ld(dev->cfg + PCI_STATUS, 2) | PCI_STATUS_CAPS);
    dev->last_cap = (uint8_t)off;
    dev->next_cap = (uint8_t)(off + len);
    return (int)off;
}

int pci_dev_add_msix(struct pci_dev *dev, uint16_t nr, unsigned bar, uint32_t table_off,
                     uint32_t pba_off)
{
    if (nr == 0 || nr > PCI_MSIX_MAX || bar >= 6 || (table_off & 7) || (pba_off & 7))
        return -1;
    uint8_t cap[12] = {PCI_CAP_MSIX, 0};
    st16(cap + 2, (uint16_t)(nr - 1));
    st32(cap + 4, table_off | bar);
    st32(cap + 8, pba_off | bar);
    uint8_t wm[12] = {0};
    st16(wm + 2, MSIX_CTRL_ENABLE | MSIX_CTRL_FMASK);
    int off = pci_dev_add_cap(dev, cap, sizeof(cap), wm);
    if (off < 0)
        return -1;
    dev->msix.nr = nr;
    dev->msix.cap = (uint8_t)off;
    dev->msix.bar = (uint8_t)bar;
    dev->msix.table_off = table_off;
    dev->msix.pba_off = pba_off;
    for (unsigned i = 0; i < nr; i++)
        dev->msix.entry[i].ctrl = MSIX_ENTRY_MASK;
    return 0;
}

/* ---- MSI-X ---- */

static bool msix_vector_masked(const struct pci_msix *m, uint16_t v)
{
    return !m->enabled || m->func_masked || (m->entry[v].ctrl & MSIX_ENTRY_MASK);
}

static void msix_deliver(struct pci_dev *dev, uint16_t v)
{
    const struct pci_irq *irq = &dev->root->irq;
    if (dev->msix.route[v] >= 0)
        irq->ops->msi_fire(irq->ctx, dev->msix.route[v]);
}

/* Pushes a (re)programmed table entry to its route. */
static void msix_entry_written(struct pci_dev *dev, uint16_t v)
{
    const struct pci_irq *irq = &dev->root->irq;
    struct pci_msix_entry *e = &dev->msix.entry[v];
    if (dev->msix.route[v] < 0)
        return;
    uint64_t addr = ((uint64_t)e->addr_hi << 32) | e->addr_lo;
    irq->ops->msi_set(irq->ctx, dev->msix.route[v], addr, e->data);
}

/* Delivers every pending vector that is no longer masked. */
static void msix_flush_pending(struct pci_dev *dev)
{
    struct pci_msix *m = &dev->msix;
    for (uint16_t v = 0; v < m->nr; v++) {
        if ((m->pending >> v & 1) && !msix_vector_masked(m, v)) {
            m->pending &= ~(1ULL << v);
            msix_deliver(dev, v);
        }
    }
}

bool pci_msix_notify_locked(struct pci_dev *dev, uint16_t v)
{
    struct pci_msix *m = &dev->msix;
    if (v >= m->nr || !m->enabled || !dev->root)
        return false;
    if (msix_vector_masked(m, v)) {
        m->pending |= 1ULL << v;
        return true;
    }
    msix_deliver(dev, v);
    return true;
}

bool pci_msix_access(struct pci_dev *dev, unsigned bar, uint64_t offset, void *data, uint32_t len,
                     bool is_write)
{
    struct pci_msix *m = &dev->msix;
    if (m->nr == 0 || bar != m->bar)
        return false;
    uint64_t tsize = 16ULL * m->nr;
    if (offset >= m->table_off && offset - m->table_off < tsize) {
        uint64_t o = offset - m->table_off;
        if ((len != 4 && len != 8) || (o & (len - 1)) || o + len > tsize) {
            if (!is_write)
                memset(data, 0, len);
            return true;
        }
        pthread_mutex_lock(&dev->lock);
        uint8_t *raw = (uint8_t *)m->entry;
        if (is_write) {
            uint16_t v = (uint16_t)(o / 16);
            memcpy(raw + o, data, len);
            m->entry[v].ctrl &= MSIX_ENTRY_MASK; /* reserved bits read as zero */
            if (dev->root)
                msix_entry_written(dev, v);
            msix_flush_pending(dev);
        } else {
            memcpy(data, raw + o, len);
        }
        pthread_mutex_unlock(&dev->lock);
        return true;
    }
    if (offset >= m->pba_off && offset - m->pba_off < 8) {
        if (!is_write) {
            uint64_t o = offset - m->pba_off;
            pthread_mutex_lock(&dev->lock);
            uint64_t pba = m->pending;
            pthread_mutex_unlock(&dev->lock);
            uint8_t b[16] = {0};
            memcpy(b, &pba, 8);
            memcpy(data, b + o, len <= 8 ? len : 8);
        }
        return true; /* PBA is read-only */
    }
    return false;
}

/* Re-reads enable/function-mask from config space after a write to the capability. */
static void msix_control_written(struct pci_dev *dev)
{
    uint16_t ctrl = (uint16_t)ld(dev->cfg + dev->msix.cap + 2, 2);
    pthread_mutex_lock(&dev->lock);
    dev->msix.enabled = ctrl & MSIX_CTRL_ENABLE;
    dev->msix.func_masked = ctrl & MSIX_CTRL_FMASK;
    msix_flush_pending(dev);
    pthread_mutex_unlock(&dev->lock);
}

/* ---- BAR mapping ---- */

static uint64_t bar_wanted(const struct pci_dev *dev, unsigned i)
{
    const struct pci_bar *b = &dev->bar[i];
    if (!b->size || !(ld(dev->cfg + PCI_COMMAND, 2) & PCI_CMD_MEMORY))
        return 0;
    uint64_t addr = ld(dev->cfg + PCI_BAR0 + 4 * i, 4) & ~0xFu;
    if (addr == 0 || addr + b->size > (1ULL << 32))
        return 0;
    return addr;
}

/* Brings the bus claims in line with the BAR registers and the command register. */
static void pci_update_mappings(struct pci_root *root, struct pci_dev *dev)
{
    for (unsigned i = 0; i < 6; i++) {
        struct pci_bar *b = &dev->bar[i];
        uint64_t want = bar_wanted(dev, i);
        if (want == b->mapped)
            continue;
        uint64_t old = b->mapped;
        if (old) {
            bus_unregister(root->mmio, old);
            b->mapped = 0;
        }
        if (want && bus_register(root->mmio, want, b->size, b->fn, b->opaque) == 0)
            b->mapped = want;
        else if (want)
            log_warn("pci: 00:%02x.0 BAR%u at 0x%llx overlaps another claim; left unmapped",
                     dev->slot, i, (unsigned long long)want);
        if (dev->ops && dev->ops->bar_moved && old != b->mapped)
            dev->ops->bar_moved(dev, i, old, b->mapped);
    }
}

/* ---- config space ---- */

static void cfg_read(struct pci_dev *dev, uint32_t off, void *data, uint32_t len)
{
    if (dev->cfg_hook && dev->cfg_hook(dev, off, data, len, false))
        return;
    memcpy(data, dev->cfg + off, len);
}

static bool range_touches(uint32_t off, uint32_t len, uint32_t start, uint32_t n)
{
    return off < start + n && start < off + len;
}

static void cfg_write(struct pci_root *root, struct pci_dev *dev, uint32_t off, const void *data,
                      uint32_t len)
{
    if (dev->cfg_hook && dev->cfg_hook(dev, off, (void *)data, len, true))
        return;
    const uint8_t *src = data;
    for (uint32_t i = 0; i < len; i++) {
        uint8_t m = dev->wmask[off + i];
        dev->cfg[off + i] = (uint8_t)((dev->cfg[off + i] & ~m) | (src[i] & m));
    }
    if (dev->msix.nr && range_touches(off, len, dev->msix.cap + 2u, 2))
        msix_control_written(dev);
    if (range_touches(off, len, PCI_COMMAND, 2) || range_touches(off, len, PCI_BAR0, 24))
        pci_update_mappings(root, dev);
}

/* Resolves CONFIG_ADDRESS to a device and register; NULL when nothing answers there. */
static struct pci_dev *cfg_target(struct pci_root *root, uint32_t *reg)
{
    uint32_t a = root->config_address;
    if (!(a & 0x80000000u))
        return NULL;
    unsigned bus = (a >> 16) & 0xff, slot = (a >> 11) & 0x1f, fn = (a >> 8) & 7;
    if (bus != 0 || fn != 0)
        return NULL;
    *reg = a & 0xfc;
    return root->slot[slot];
}

void pci_root_ecam_access(struct pci_root *root, uint64_t offset, void *data, uint32_t len,
                          bool is_write)
{
    unsigned bus = (unsigned)(offset >> 20), slot = (offset >> 15) & 0x1f, fn = (offset >> 12) & 7;
    uint32_t reg = (uint32_t)(offset & 0xfff);
    pthread_mutex_lock(&root->cfg_lock);
    struct pci_dev *dev = bus == 0 && fn == 0 ? root->slot[slot] : NULL;
    bool aligned = (len == 1 || len == 2 || len == 4) && (reg & (len - 1)) == 0;
    if (!dev || !aligned) {
        if (!is_write)
            memset(data, 0xff, len);
    } else if (reg >= sizeof(dev->cfg)) { /* no extended capabilities: reads 0 */
        if (!is_write)
            memset(data, 0, len);
    } else if (is_write) {
        cfg_write(root, dev, reg, data, len);
    } else {
        cfg_read(dev, reg, data, len);
    }
    pthread_mutex_unlock(&root->cfg_lock);
}

struct pci_dev *pci_root_host_bridge(struct pci_root *root)
{
    return &root->bridge;
}

static void pci_data_port(void *opaque, uint64_t offset, void *data, uint32_t len, bool is_write)
{
    struct pci_root *root = opaque;
    pthread_mutex_lock(&root->cfg_lock);
    uint32_t reg = 0;
    struct pci_dev *dev = cfg_target(root, &reg);
    if (!dev || offset + len > 4) {
        if (!is_write)
            memset(data, 0xff, len);
    } else if (is_write) {
        cfg_write(root, dev, reg + (uint32_t)offset, data, len);
    } else {
        cfg_read(dev, reg + (uint32_t)offset, data, len);
    }
    pthread_mutex_unlock(&root->cfg_lock);
}

static void pci_address_port(void *opaque, uint64_t offset, void *data, uint32_t len, bool is_write)
{
    struct pci_root *root = opaque;
    if (offset != 0 || len != 4) {
        /* Only dword accesses reach CONFIG_ADDRESS; bytes at 0xCF8-0xCFB are not ours. */
        if (!is_write)
            memset(data, 0xff, len);
        return;
    }
    pthread_mutex_lock(&root->cfg_lock);
    if (is_write)
        root->config_address = ld(data, 4) & 0x80fffffcu;
    else
        memcpy(data, &root->config_address, 4);
    pthread_mutex_unlock(&root->cfg_lock);
}

struct pci_root *pci_root_new(struct bus *pio, struct bus *mmio, const struct pci_irq *irq)
{
    struct pci_root *root = calloc(1, sizeof(*root));
    if (!root)
        return NULL;
    root->pio = pio;
    root->mmio = mmio;
    root->irq = *irq;
    pthread_mutex_init(&root->cfg_lock, NULL);
    /* Host bridge: the Q35 MCH's ids (class 06.00.00), which OVMF and SeaBIOS recognise;
     * devices/q35.c adds its registers. */
    pci_dev_init(&root->bridge, PCI_VENDOR_INTEL, PCI_DEVICE_Q35_MCH, 0x060000, 0,
                 PCI_VENDOR_QEMU_SUBSYS, PCI_SUBSYS_QEMU);
    root->bridge.root = root;
    root->bridge.slot = 0;
    root->slot[0] = &root->bridge;
    if (bus_register(pio, PCI_CONFIG_ADDRESS, 4, pci_address_port, root) < 0) {
        free(root);
        return NULL;
    }
    if (bus_register(pio, PCI_CONFIG_DATA, 4, pci_data_port, root) < 0) {
        bus_unregister(pio, PCI_CONFIG_ADDRESS);
        free(root);
        return NULL;
    }
    return root;
}

void pci_root_free(struct pci_root *root)
{
    if (!root)
        return;
    for (unsigned s = 1; s < PCI_MAX_SLOTS; s++)
        if (root->slot[s])
            pci_root_detach(root, root->slot[s]);
    bus_unregister(root->pio, PCI_CONFIG_ADDRESS);
    bus_unregister(root->pio, PCI_CONFIG_DATA);
    pthread_mutex_destroy(&root->cfg_lock);
    free(root);
}

/* Whether [addr, addr+sz) is clear of every BAR attached devices were given and of this
 * device's BARs placed so far: space is reserved only while its device is attached, so hot-plug
 * cycles reuse it. */
static bool bar_space_free(const struct pci_root *root, const struct pci_dev *dev, uint64_t addr,
                           uint64_t sz)
{
    for (int s = 0; s <= PCI_MAX_SLOTS; s++) {
        const struct pci_dev *d = s < PCI_MAX_SLOTS ? root->slot[s] : dev;
        if (!d)
            continue;
        for (unsigned j = 0; j < 6; j++) {
            const struct pci_bar *b = &d->bar[j];
            if (b->assigned && addr < b->assigned + b->size && b->assigned < addr + sz)
                return false;
        }
    }
    return true;
}

/* First naturally aligned free place for a BAR of sz bytes in the MMIO hole, or 0. */
static uint64_t bar_find_space(const struct pci_root *root, const struct pci_dev *dev, uint64_t sz)
{
    for (uint64_t a = (PCI_MMIO_START + sz - 1) & ~(sz - 1); a + sz <= PCI_MMIO_END; a += sz)
        if (bar_space_free(root, dev, a, sz))
            return a;
    return 0;
}

int pci_root_attach(struct pci_root *root, struct pci_dev *dev, char *bdf, size_t bdflen)
{
    return pci_root_attach_at(root, dev, -1, bdf, bdflen);
}

int pci_root_attach_at(struct pci_root *root, struct pci_dev *dev, int want, char *bdf,
                       size_t bdflen)
{
    pthread_mutex_lock(&root->cfg_lock);
    int slot = -1;
    if (want > 0 && want < PCI_MAX_SLOTS && !root->slot[want])
        slot = want;
    for (int s = 1; want < 0 && s < PCI_PLATFORM_SLOT && slot < 0; s++)
        if (!root->slot[s])
            slot = s;
    for (unsigned i = 0; i < 6; i++)
        dev->bar[i].assigned = 0;
    for (unsigned i = 0; i < 6 && slot >= 0; i++) {
        if (dev->bar[i].size &&
            !(dev->bar[i].assigned = bar_find_space(root, dev, dev->bar[i].size)))
            slot = -1;
    }
    if (slot < 0) {
        for (unsigned i = 0; i < 6; i++)
            dev->bar[i].assigned = 0;
        pthread_mutex_unlock(&root->cfg_lock);
        return -1;
    }
    dev->root = root;
    dev->slot = slot;
    for (unsigned i = 0; i < 6; i++)
        st32(dev->cfg + PCI_BAR0 + 4 * i, (uint32_t)dev->bar[i].assigned);
    const struct pci_irq *irq = &root->irq;
    for (unsigned v = 0; v < dev->msix.nr; v++)
        dev->msix.route[v] = irq->ops->msi_alloc(irq->ctx);
    root->slot[slot] = dev;
    pthread_mutex_unlock(&root->cfg_lock);
    if (bdf)
        snprintf(bdf, bdflen, "0000:00:%02x.0", (unsigned)slot);
    return 0;
}

void pci_root_detach(struct pci_root *root, struct pci_dev *dev)
{
    pthread_mutex_lock(&root->cfg_lock);
    if (dev->slot > 0 && root->slot[dev->slot] == dev) {
        st16(dev->cfg + PCI_COMMAND, 0);
        pci_update_mappings(root, dev);
        root->slot[dev->slot] = NULL;
        for (unsigned i = 0; i < 6; i++)
            dev->bar[i].assigned = 0; /* the space is free for the next device */
        const struct pci_irq *irq = &root->irq;
        for (unsigned v = 0; v < dev->msix.nr; v++) {
            if (dev->msix.route[v] >= 0)
                irq->ops->msi_free(irq->ctx, dev->msix.route[v]);
            dev->msix.route[v] = -1;
        }
        dev->slot = -1;
    }
    pthread_mutex_unlock(&root->cfg_lock);
}

uint32_t pci_root_slot_mask(struct pci_root *root)
{
    uint32_t mask = 0;
    pthread_mutex_lock(&root->cfg_lock);
    for (unsigned s = 0; s < PCI_MAX_SLOTS; s++)
        if (root->slot[s])
            mask |= 1u << s;
    pthread_mutex_unlock(&root->cfg_lock);
    return mask;
}
