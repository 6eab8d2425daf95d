/* vm_blknet.h: attaching virtio-blk and virtio-net devices to a VM (boot time and hot-plug). */
#ifndef COCOON_VM_BLKNET_H
#define COCOON_VM_BLKNET_H

#include <stddef.h>

#include "vmm/base/config.h"

struct vm;

/* Attaches every disk and net of vm->cfg, in order (BDFs follow the PCI slot allocator). Loop
 * thread, from vm_attach_devices. Returns 0, or -1 with one line in err. */
int vm_attach_blknet(struct vm *vm, char *err, size_t errlen);

/* Attaches one disk / net: opens the image or tap, builds the device, puts it on PCI and records
 * it for teardown. The new function's address goes to bdf (may be NULL). Loop thread. */
int vm_attach_disk(struct vm *vm, const struct disk_config *disk, char *bdf, size_t bdflen,
                   char *err, size_t errlen);
int vm_attach_net(struct vm *vm, const struct net_config *net, char *bdf, size_t bdflen, char *err,
                  size_t errlen);

/* Detaches and frees the disk or net whose config id is `id` (the configuration is the owner's:
 * vmm/vm_owner.h). Loop thread. Returns 0 when removed, 1 when no disk or net has that id, -1 on
 * error (err set). */
int vm_remove_blknet(struct vm *vm, const char *id, char *err, size_t errlen);

#endif
