/* vm_blknet.c: builds virtio-blk / virtio-net devices from vm_config and puts them on PCI. */
#include "vmm/vm_blknet.h"

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

/* ---- Hot-plug (vm.h): only the running machine changes; the owner (vmm/vm_owner.c) checked the
 * id and keeps the configuration. vm->cfg stays what the VM was built from. ---- */

int vm_add_disk(struct vm *vm, const struct disk_config *disk, char *bdf, size_t bdflen, char *err,
                size_t errlen)
{
    if (vm_attach_disk(vm, disk, bdf, bdflen, err, errlen) < 0)
        return -1;
    vm_acpi_device_added(vm, bdf); /* the guest's acpiphp enumerates it, no rescan */
    return 0;
}

int vm_add_net(struct vm *vm, const struct net_config *net, char *bdf, size_t bdflen, char *err,
               size_t errlen)
{
    if (vm_attach_net(vm, net, bdf, bdflen, err, errlen) < 0) /* the tap fd is dup'ed */
        return -1;
    vm_acpi_device_added(vm, bdf);
    return 0;
}

/* ---- Hot-unplug ---- */

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
    enum vm_state st = atomic_load(&vm->state);
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

/* Removes the device with config id `id` from the machine once the guest released it (or at once
 * without ACPI); the owner (vm_owner.c) has already taken it out of the configuration. */
int vm_remove_blknet(struct vm *vm, const char *id, char *err, size_t errlen)
{
    if (!id)
        return 1;
    for (unsigned i = 0; i < vm->nr_devices; i++) {
        struct vm_device *dev = &vm->devices[i];
        struct blknet_dev *d = dev->opaque;
        if (dev->destroy != blknet_destroy || !d || !d->id || d->releasing || strcmp(d->id, id))
            continue;
        if (!ask_guest_to_release(vm, d)) {
            log_info("removing device '%s'", d->id);
            detach_now(vm, i);
        }
        return 0;
    }
    return 1;
}
