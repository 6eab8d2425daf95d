/* vm_blknet.c: builds virtio-blk / virtio-net devices from vm_config and puts them on PCI. */
#include "vmm/vm_blknet.h"

#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "devices/tap.h"
#include "devices/virtio_blk.h"
#include "devices/virtio_net.h"
#include "devices/virtio_pci.h"
#include "vmm/base/log.h"
#include "vmm/vm_acpi.h"
#include "vmm/vm_internal.h"

/* One attached disk or net, torn down by vm_destroy (transport first, then the model). */
struct blknet_dev {
    struct virtio_pci *vp;
    struct virtio_blk *blk;
    struct virtio_net *net;
    char *id;       /* for vm_remove_device; NULL when the config gave none */
    unsigned slot;  /* PCI device number (0000:00:slot.0) */
    bool releasing; /* the guest was asked to eject it; freed when it does (or at destroy) */
};

static void blknet_destroy(void *opaque)
{
    struct blknet_dev *d = opaque;
    if (!d)
        return;
    virtio_pci_free(d->vp); /* resets the model if active: no guest DMA afterwards */
    virtio_blk_destroy(d->blk);
    virtio_net_destroy(d->net);
    free(d->id);
    free(d);
}

/* Puts vdev on PCI and records d for teardown; on failure d is destroyed. */
static int attach(struct vm *vm, struct blknet_dev *d, struct virtio_device *vdev, const char *name,
                  char *bdf, size_t bdflen, char *err, size_t errlen)
{
    char local[16];
    if (!bdf) {
        bdf = local;
        bdflen = sizeof(local);
    }
    d->vp = virtio_pci_new(vm->pci, vdev, vm->loop, bdf, bdflen, err, errlen);
    if (!d->vp) {
        blknet_destroy(d);
        return -1;
    }
    if (vm_add_device(vm, name, blknet_destroy, d) < 0) {
        snprintf(err, errlen, "too many devices");
        return -1;
    }
    if (sscanf(bdf, "0000:00:%2x.0", &d->slot) != 1)
        d->slot = 0; /* never the case for pci.c's names; 0 is never asked to eject */
    log_info("%s at %s", name, bdf);
    return 0;
}

int vm_attach_disk(struct vm *vm, const struct disk_config *disk, char *bdf, size_t bdflen,
                   char *err, size_t errlen)
{
    struct blknet_dev *d = calloc(1, sizeof(*d));
    if (!d || (disk->id && !(d->id = strdup(disk->id)))) {
        free(d);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    struct virtio_blk_params p = {
        .path = disk->path,
        .id = disk->id,
        .readonly = disk->readonly,
        .direct = disk->direct,
        .num_queues = disk->num_queues,
        .queue_size = disk->queue_size,
        .rate_limiter = &disk->rate_limiter,
    };
    if (!disk->path) {
        snprintf(err, errlen, "disk: path is required");
        blknet_destroy(d);
        return -1;
    }
    if (virtio_blk_create(&p, &vm->mem, vm->loop, &d->blk, err, errlen) < 0) {
        blknet_destroy(d);
        return -1;
    }
    return attach(vm, d, virtio_blk_vdev(d->blk), "virtio-blk", bdf, bdflen, err, errlen);
}

int vm_attach_net(struct vm *vm, const struct net_config *net, char *bdf, size_t bdflen, char *err,
                  size_t errlen)
{
    struct virtio_net_params p = {
        .mac_set = net->mac_set,
        .queue_size = net->queue_size,
        .mtu = net->mtu,
        .rate_limiter = &net->rate_limiter,
    };
    memcpy(p.mac, net->mac, sizeof(p.mac));
    int rc = net->tap ? tap_open_name(&p.tap, net->tap, err, errlen)
                      : tap_adopt_fd(&p.tap, net->fd, err, errlen);
    if (rc < 0)
        return -1;
    struct blknet_dev *d = calloc(1, sizeof(*d));
    if (!d || (net->id && !(d->id = strdup(net->id)))) {
        free(d);
        tap_close(&p.tap);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    if (virtio_net_create(&p, &vm->mem, vm->loop, &d->net, err, errlen) < 0) {
        blknet_destroy(d);
        return -1;
    }
    return attach(vm, d, virtio_net_vdev(d->net), "virtio-net", bdf, bdflen, err, errlen);
}

int vm_attach_blknet(struct vm *vm, char *err, size_t errlen)
{
    for (unsigned i = 0; i < vm->cfg.nr_disks; i++)
        if (vm_attach_disk(vm, &vm->cfg.disks[i], NULL, 0, err, errlen) < 0)
            return -1;
    for (unsigned i = 0; i < vm->cfg.nr_nets; i++)
        if (vm_attach_net(vm, &vm->cfg.nets[i], NULL, 0, err, errlen) < 0)
            return -1;
    return 0;
}

/* ---- Hot-plug (vm.h): the new device joins vm->cfg so that the VM's config stays complete. ----
 */

static bool id_in_use(const struct vm *vm, const char *id)
{
    if (!id)
        return false;
    for (unsigned i = 0; i < vm->cfg.nr_disks; i++)
        if (vm->cfg.disks[i].id && !strcmp(vm->cfg.disks[i].id, id))
            return true;
    for (unsigned i = 0; i < vm->cfg.nr_nets; i++)
        if (vm->cfg.nets[i].id && !strcmp(vm->cfg.nets[i].id, id))
            return true;
    return vm->cfg.vsock.id && !strcmp(vm->cfg.vsock.id, id);
}

static int dup_str(char **dst, const char *src)
{
    *dst = NULL;
    if (!src)
        return 0;
    *dst = strdup(src);
    return *dst ? 0 : -1;
}

int vm_add_disk(struct vm *vm, const struct disk_config *disk, char *bdf, size_t bdflen, char *err,
                size_t errlen)
{
    if (vm->cfg.nr_disks >= CFG_MAX_DISKS) {
        snprintf(err, errlen, "at most %u disks", CFG_MAX_DISKS);
        return -1;
    }
    if (id_in_use(vm, disk->id)) {
        snprintf(err, errlen, "device id '%s' is already in use", disk->id);
        return -1;
    }
    struct disk_config copy = *disk;
    if (dup_str(&copy.path, disk->path) < 0 || dup_str(&copy.id, disk->id) < 0) {
        free(copy.path);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    if (vm_attach_disk(vm, &copy, bdf, bdflen, err, errlen) < 0) {
        free(copy.path);
        free(copy.id);
        return -1;
    }
    vm->cfg.disks[vm->cfg.nr_disks++] = copy;
    vm_acpi_device_added(vm, bdf); /* the guest's acpiphp enumerates it, no rescan */
    return 0;
}

int vm_add_net(struct vm *vm, const struct net_config *net, char *bdf, size_t bdflen, char *err,
               size_t errlen)
{
    if (vm->cfg.nr_nets >= CFG_MAX_NETS) {
        snprintf(err, errlen, "at most %u network interfaces", CFG_MAX_NETS);
        return -1;
    }
    if (id_in_use(vm, net->id)) {
        snprintf(err, errlen, "device id '%s' is already in use", net->id);
        return -1;
    }
    struct net_config copy = *net;
    copy.fd = -1;
    if (dup_str(&copy.tap, net->tap) < 0 || dup_str(&copy.id, net->id) < 0 ||
        (net->fd >= 0 && (copy.fd = fcntl(net->fd, F_DUPFD_CLOEXEC, 3)) < 0)) {
        free(copy.tap);
        free(copy.id);
        snprintf(err, errlen, "cannot take over the net device: out of memory or fds");
        return -1;
    }
    if (vm_attach_net(vm, &copy, bdf, bdflen, err, errlen) < 0) {
        free(copy.tap);
        free(copy.id);
        if (copy.fd >= 0)
            close(copy.fd);
        return -1;
    }
    vm->cfg.nets[vm->cfg.nr_nets++] = copy;
    vm_acpi_device_added(vm, bdf);
    return 0;
}

/* ---- Hot-unplug ---- */

static void drop_disk_config(struct vm_config *cfg, const char *id)
{
    for (unsigned i = 0; i < cfg->nr_disks; i++) {
        struct disk_config *d = &cfg->disks[i];
        if (!d->id || strcmp(d->id, id))
            continue;
        free(d->path);
        free(d->id);
        memmove(d, d + 1, (cfg->nr_disks - i - 1) * sizeof(*d));
        memset(&cfg->disks[--cfg->nr_disks], 0, sizeof(*d));
        return;
    }
}

static void drop_net_config(struct vm_config *cfg, const char *id)
{
    for (unsigned i = 0; i < cfg->nr_nets; i++) {
        struct net_config *n = &cfg->nets[i];
        if (!n->id || strcmp(n->id, id))
            continue;
        free(n->tap);
        free(n->id);
        if (n->fd >= 0)
            close(n->fd);
        memmove(n, n + 1, (cfg->nr_nets - i - 1) * sizeof(*n));
        memset(&cfg->nets[--cfg->nr_nets], 0, sizeof(*n));
        cfg->nets[cfg->nr_nets].fd = -1;
        return;
    }
}

/* Tears down vm->devices[i] (a blknet_dev) at once: its PCI slot is free again. */
static void detach_now(struct vm *vm, unsigned i)
{
    blknet_destroy(vm->devices[i].opaque);
    memmove(&vm->devices[i], &vm->devices[i + 1],
            (vm->nr_devices - i - 1) * sizeof(vm->devices[0]));
    vm->nr_devices--;
}

/* Loop thread (vm_acpi.c): the guest's _EJ0 released slot; free the device cocoon asked about. */
static void blknet_released(struct vm *vm, unsigned slot)
{
    for (unsigned i = 0; i < vm->nr_devices; i++) {
        struct blknet_dev *d = vm->devices[i].opaque;
        if (vm->devices[i].destroy != blknet_destroy || !d || !d->releasing || d->slot != slot)
            continue;
        log_info("device '%s' released by the guest: 0000:00:%02x.0 freed", d->id ? d->id : "",
                 slot);
        detach_now(vm, i);
        return;
    }
}

/* A guest that has booted with ACPI owns its functions: ask it to eject (as Cloud Hypervisor and
 * QEMU's acpiphp do). True when asked; the device then stays until the guest's _EJ0. */
static bool ask_guest_to_release(struct vm *vm, struct blknet_dev *d)
{
    enum vm_state st = vm_get_state(vm);
    if (st != VM_STATE_RUNNING && st != VM_STATE_PAUSED)
        return false;
    static const struct vm_acpi_eject_ops ops = {.pci_released = blknet_released};
    vm_acpi_set_eject_ops(vm, &ops);
    if (vm_acpi_pci_unplug_request(vm, d->slot) < 0)
        return false; /* no ACPI: detach at once, the guest must rescan */
    d->releasing = true;
    log_info("asked the guest to release device '%s' (0000:00:%02x.0); freed when it ejects", d->id,
             d->slot);
    return true;
}

/* Removes the device with config id `id`: from vm->cfg at once (as Cloud Hypervisor, so it is not
 * recreated), from the machine once the guest released it (or at once without ACPI). */
int vm_remove_blknet(struct vm *vm, const char *id, char *err, size_t errlen)
{
    if (!id)
        return 1;
    for (unsigned i = 0; i < vm->nr_devices; i++) {
        struct vm_device *dev = &vm->devices[i];
        struct blknet_dev *d = dev->opaque;
        if (dev->destroy != blknet_destroy || !d || !d->id || d->releasing || strcmp(d->id, id))
            continue;
        bool is_disk = d->blk != NULL;
        char *saved_id = strdup(id);
        if (!saved_id) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
        if (!ask_guest_to_release(vm, d)) {
            detach_now(vm, i);
            log_info("removed device '%s'", saved_id);
        }
        if (is_disk)
            drop_disk_config(&vm->cfg, saved_id);
        else
            drop_net_config(&vm->cfg, saved_id);
        free(saved_id);
        return 0;
    }
    return 1;
}
