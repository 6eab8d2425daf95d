/* msi.c: MSI routes (KVM_SET_GSI_ROUTING + KVM_IRQFD) and doorbells (KVM_IOEVENTFD) for PCI. */
#include "vmm/msi.h"

#include <errno.h>
#include <linux/kvm.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "vmm/log.h"

#define MSI_GSI_BASE   24
#define MSI_MAX_ROUTES 256
#define IRQCHIP_ROUTES (16 * 2 + 8)

struct msi_route {
    bool used;
    int fd; /* irqfd */
    uint64_t addr;
    uint32_t data;
};

struct vmm_msi {
    struct kvm_handle kvm;
    int vm_fd;
    bool irqchip_routes;
    uint32_t bell_len; /* 0 (any size) when KVM supports it, else 2 */
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

/* Pushes the whole table to KVM. Caller holds the lock. */
static int msi_commit_locked(struct vmm_msi *m)
{
    struct kvm_irq_routing_entry *e = m->table->entries;
    unsigned n = m->irqchip_routes ? add_irqchip_routes(e) : 0;
    for (unsigned i = 0; i < MSI_MAX_ROUTES; i++) {
        if (!m->route[i].used)
            continue;
        e[n++] = (struct kvm_irq_routing_entry){
            .gsi = MSI_GSI_BASE + i,
            .type = KVM_IRQ_ROUTING_MSI,
            .u.msi = {.address_lo = (uint32_t)m->route[i].addr,
                      .address_hi = (uint32_t)(m->route[i].addr >> 32),
                      .data = m->route[i].data}};
    }
    m->table->nr = n;
    m->table->flags = 0;
    if (kvm_ioctl(&m->kvm, m->vm_fd, KVM_SET_GSI_ROUTING, m->table) < 0) {
        log_err("msi: KVM_SET_GSI_ROUTING failed: %s", strerror(errno));
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

static void msi_fire(void *ctx, int h)
{
    struct vmm_msi *m = ctx;
    if (h < 0 || h >= MSI_MAX_ROUTES || !m->route[h].used)
        return;
    uint64_t one = 1;
    if (write(m->route[h].fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
        log_warn("msi: irqfd write failed: %s", strerror(errno));
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

struct vmm_msi *vmm_msi_new(const struct kvm_handle *kvm, int vm_fd, bool with_irqchip_routes,
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
    m->irqchip_routes = with_irqchip_routes;
    pthread_mutex_init(&m->lock, NULL);
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
    pthread_mutex_destroy(&m->lock);
    free(m->table);
    free(m);
}
