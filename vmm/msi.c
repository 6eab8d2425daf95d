/* msi.c: GSI routing (KVM_SET_GSI_ROUTING + KVM_IRQFD), legacy lines (KVM_IRQ_LINE or the
 * userspace IOAPIC) and doorbells (KVM_IOEVENTFD). */
#include "vmm/msi.h"

#include <errno.h>
#include <linux/kvm.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "devices/ioapic.h"
#include "vmm/base/log.h"

#define MSI_GSI_BASE   24
#define MSI_MAX_ROUTES 256
#define IRQCHIP_ROUTES (16 * 2 + 8)
#define LEGACY_GSIS    24

struct msi_route {
    bool used;
    int fd; /* irqfd */
    uint64_t addr;
    uint32_t data;
};

/* A userspace IOAPIC pin's route (split irqchip). */
struct pin_route {
    bool valid;
    uint64_t addr;
    uint32_t data;
};

struct vmm_msi {
    struct kvm_handle kvm;
    int vm_fd;
    enum vmm_irqchip chip;
    struct ioapic *ioapic;             /* split irqchip only */
    struct pin_route pin[LEGACY_GSIS]; /* split irqchip: GSI n = IOAPIC pin n */
    uint32_t bell_len;                 /* 0 (any size) when KVM supports it, else 2 */
    pthread_mutex_t lock;
    struct msi_route route[MSI_MAX_ROUTES];
    struct kvm_irq_routing *table; /* scratch for KVM_SET_GSI_ROUTING */
};

static unsigned add_irqchip_routes(struct kvm_irq_routing_entry *e)
{
    unsigned n = 0;
    for (uint32_t gsi = 0; gsi < 24; gsi++) {
        if (gsi < 16) {
            e[n++] = (struct kvm_irq_routing_entry){
                .gsi = gsi,
                .type = KVM_IRQ_ROUTING_IRQCHIP,
                .u.irqchip = {.irqchip = gsi < 8 ? KVM_IRQCHIP_PIC_MASTER : KVM_IRQCHIP_PIC_SLAVE,
                              .pin = gsi % 8}};
        }
        e[n++] = (struct kvm_irq_routing_entry){
            .gsi = gsi,
            .type = KVM_IRQ_ROUTING_IRQCHIP,
            .u.irqchip = {.irqchip = KVM_IRQCHIP_IOAPIC, .pin = gsi}};
    }
    return n;
}

static struct kvm_irq_routing_entry msi_entry(uint32_t gsi, uint64_t addr, uint32_t data)
{
    return (struct kvm_irq_routing_entry){.gsi = gsi,
                                          .type = KVM_IRQ_ROUTING_MSI,
                                          .u.msi = {.address_lo = (uint32_t)addr,
                                                    .address_hi = (uint32_t)(addr >> 32),
                                                    .data = data}};
}

/* Pushes the whole table to KVM. Caller holds the lock. The in-kernel irqchip keeps its default
 * irqchip routes; a split irqchip must have none (kvm_set_routing_entry returns -EINVAL for
 * KVM_IRQ_ROUTING_IRQCHIP when irqchip_split(), failing the whole table), its GSIs 0-23 are the
 * userspace IOAPIC's pins as MSI routes. */
static int msi_commit_locked(struct vmm_msi *m)
{
    struct kvm_irq_routing_entry *e = m->table->entries;
    unsigned n = 0;
    if (m->chip == VMM_IRQCHIP_KERNEL)
        n = add_irqchip_routes(e);
    else
        for (uint32_t gsi = 0; gsi < LEGACY_GSIS; gsi++)
            if (m->pin[gsi].valid)
                e[n++] = msi_entry(gsi, m->pin[gsi].addr, m->pin[gsi].data);
    for (unsigned i = 0; i < MSI_MAX_ROUTES; i++) {
        if (!m->route[i].used)
            continue;
        e[n++] = msi_entry(MSI_GSI_BASE + i, m->route[i].addr, m->route[i].data);
    }
    m->table->nr = n;
    m->table->flags = 0;
    if (kvm_ioctl(&m->kvm, m->vm_fd, KVM_SET_GSI_ROUTING, m->table) < 0) {
        int saved = errno;
        log_err("msi: KVM_SET_GSI_ROUTING (%u routes) refused: %s; interrupts of the routes "
                "changed since the last accepted table are not delivered",
                n, strerror(saved));
        errno = saved;
        return -1;
    }
    return 0;
}

static int msi_alloc(void *ctx)
{
    struct vmm_msi *m = ctx;
    pthread_mutex_lock(&m->lock);
    int h = -1;
    for (int i = 0; i < MSI_MAX_ROUTES && h < 0; i++)
        if (!m->route[i].used)
            h = i;
    if (h < 0)
        goto out;
    int fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (fd < 0) {
        h = -1;
        goto out;
    }
    m->route[h] = (struct msi_route){.used = true, .fd = fd};
    struct kvm_irqfd irqfd = {.fd = (uint32_t)fd, .gsi = MSI_GSI_BASE + (uint32_t)h};
    if (msi_commit_locked(m) < 0 || kvm_ioctl(&m->kvm, m->vm_fd, KVM_IRQFD, &irqfd) < 0) {
        log_err("msi: cannot set up irqfd for GSI %d: %s", MSI_GSI_BASE + h, strerror(errno));
        close(fd);
        m->route[h].used = false;
        msi_commit_locked(m);
        h = -1;
    }
out:
    pthread_mutex_unlock(&m->lock);
    return h;
}

static int msi_set(void *ctx, int h, uint64_t addr, uint32_t data)
{
    struct vmm_msi *m = ctx;
    if (h < 0 || h >= MSI_MAX_ROUTES)
        return -1;
    int rc = 0;
    pthread_mutex_lock(&m->lock);
    struct msi_route *r = &m->route[h];
    if (r->used && (r->addr != addr || r->data != data)) {
        r->addr = addr;
        r->data = data;
        rc = msi_commit_locked(m);
    }
    pthread_mutex_unlock(&m->lock);
    return rc;
}

/* Any thread. The route is read under the lock (msi_free_route closes its fd under it), and the
 * eventfd write (non-blocking, never waits on the guest) happens under it too, so the fd cannot
 * be closed and reused in between. */
static void msi_fire(void *ctx, int h)
{
    struct vmm_msi *m = ctx;
    if (h < 0 || h >= MSI_MAX_ROUTES)
        return;
    uint64_t one = 1;
    pthread_mutex_lock(&m->lock);
    if (m->route[h].used && write(m->route[h].fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
        log_warn("msi: irqfd write failed: %s", strerror(errno));
    pthread_mutex_unlock(&m->lock);
}

static void msi_release_locked(struct vmm_msi *m, int h)
{
    struct msi_route *r = &m->route[h];
    struct kvm_irqfd irqfd = {
        .fd = (uint32_t)r->fd, .gsi = MSI_GSI_BASE + (uint32_t)h, .flags = KVM_IRQFD_FLAG_DEASSIGN};
    kvm_ioctl(&m->kvm, m->vm_fd, KVM_IRQFD, &irqfd);
    close(r->fd);
    r->used = false;
}

static void msi_free_route(void *ctx, int h)
{
    struct vmm_msi *m = ctx;
    if (h < 0 || h >= MSI_MAX_ROUTES)
        return;
    pthread_mutex_lock(&m->lock);
    if (m->route[h].used) {
        msi_release_locked(m, h);
        msi_commit_locked(m);
    }
    pthread_mutex_unlock(&m->lock);
}

static int bell_ioctl(struct vmm_msi *m, int fd, uint64_t addr, bool assign)
{
    struct kvm_ioeventfd io = {.addr = addr,
                               .len = m->bell_len,
                               .fd = fd,
                               .flags = assign ? 0 : KVM_IOEVENTFD_FLAG_DEASSIGN};
    return kvm_ioctl(&m->kvm, m->vm_fd, KVM_IOEVENTFD, &io);
}

static int bell_attach(void *ctx, int fd, uint64_t addr, uint32_t len)
{
    struct vmm_msi *m = ctx;
    if (bell_ioctl(m, fd, addr, true) < 0) {
        log_warn("msi: KVM_IOEVENTFD at 0x%llx failed (%s); notifications will trap instead",
                 (unsigned long long)addr, strerror(errno));
        return -1;
    }
    return 0;
}

static void bell_detach(void *ctx, int fd, uint64_t addr, uint32_t len)
{
    bell_ioctl(ctx, fd, addr, false);
}

static const struct pci_irq_ops vmm_msi_ops = {
    .msi_alloc = msi_alloc,
    .msi_set = msi_set,
    .msi_fire = msi_fire,
    .msi_free = msi_free_route,
    .doorbell_attach = bell_attach,
    .doorbell_detach = bell_detach,
};

struct pci_irq vmm_msi_irq(struct vmm_msi *m)
{
    return (struct pci_irq){.ops = &vmm_msi_ops, .ctx = m};
}

/* ---- legacy lines ---- */

/* The IOAPIC's outputs (called with its lock held; lock order ioapic -> msi). */
static void pin_route(void *opaque, unsigned pin, uint64_t addr, uint32_t data, bool valid)
{
    struct vmm_msi *m = opaque;
    pthread_mutex_lock(&m->lock);
    struct pin_route *p = &m->pin[pin];
    if (p->valid != valid || (valid && (p->addr != addr || p->data != data))) {
        *p = (struct pin_route){.valid = valid, .addr = addr, .data = data};
        msi_commit_locked(m);
    }
    pthread_mutex_unlock(&m->lock);
}

/* Fires GSI `pin` through its MSI route, as QEMU's ioapic_service does with a split irqchip
 * (kvm_set_irq on the GSI); an MSI route fires on level 1 only (kvm_set_msi). */
static void pin_fire(void *opaque, unsigned pin, uint64_t addr, uint32_t data)
{
    struct vmm_msi *m = opaque;
    struct kvm_irq_level line = {.irq = pin, .level = 1};
    if (kvm_ioctl(&m->kvm, m->vm_fd, KVM_IRQ_LINE, &line) < 0)
        log_warn("msi: IOAPIC pin %u (vector 0x%x) not delivered: %s", pin, data & 0xff,
                 strerror(errno));
}

static const struct ioapic_ops pin_ops = {.route = pin_route, .fire = pin_fire};

int vmm_msi_set_gsi(struct vmm_msi *m, unsigned gsi, bool level)
{
    if (gsi >= LEGACY_GSIS)
        return -1;
    if (m->ioapic)
        return ioapic_set_irq(m->ioapic, gsi, level);
    struct kvm_irq_level line = {.irq = gsi, .level = level ? 1 : 0};
    return kvm_ioctl(&m->kvm, m->vm_fd, KVM_IRQ_LINE, &line);
}

void vmm_msi_ioapic_eoi(struct vmm_msi *m, uint8_t vector)
{
    if (m->ioapic)
        ioapic_eoi(m->ioapic, vector);
}

struct ioapic *vmm_msi_ioapic(struct vmm_msi *m)
{
    return m->ioapic;
}

struct vmm_msi *vmm_msi_new(const struct kvm_handle *kvm, int vm_fd, enum vmm_irqchip chip,
                            char *err, size_t errlen)
{
    struct vmm_msi *m = calloc(1, sizeof(*m));
    size_t tsize = sizeof(struct kvm_irq_routing) +
                   (IRQCHIP_ROUTES + MSI_MAX_ROUTES) * sizeof(struct kvm_irq_routing_entry);
    if (m)
        m->table = calloc(1, tsize);
    if (!m || !m->table) {
        snprintf(err, errlen, "msi: out of memory");
        if (m)
            free(m);
        return NULL;
    }
    m->kvm = *kvm;
    m->vm_fd = vm_fd;
    m->chip = chip;
    pthread_mutex_init(&m->lock, NULL);
    if (chip == VMM_IRQCHIP_SPLIT && !(m->ioapic = ioapic_new(&pin_ops, m))) {
        snprintf(err, errlen, "msi: out of memory");
        vmm_msi_free(m);
        return NULL;
    }
    pthread_mutex_lock(&m->lock);
    int rc = msi_commit_locked(m);
    pthread_mutex_unlock(&m->lock);
    if (rc < 0) {
        snprintf(err, errlen, "KVM refused the initial GSI routing table (%s irqchip): %s",
                 chip == VMM_IRQCHIP_SPLIT ? "split" : "in-kernel", strerror(errno));
        vmm_msi_free(m);
        return NULL;
    }
    int any =
        kvm_ioctl(kvm, vm_fd, KVM_CHECK_EXTENSION, (void *)(uintptr_t)KVM_CAP_IOEVENTFD_ANY_LENGTH);
    m->bell_len = any > 0 ? 0 : 2;
    return m;
}

void vmm_msi_free(struct vmm_msi *m)
{
    if (!m)
        return;
    pthread_mutex_lock(&m->lock);
    for (int h = 0; h < MSI_MAX_ROUTES; h++)
        if (m->route[h].used)
            msi_release_locked(m, h);
    pthread_mutex_unlock(&m->lock);
    ioapic_free(m->ioapic);
    pthread_mutex_destroy(&m->lock);
    free(m->table);
    free(m);
}
