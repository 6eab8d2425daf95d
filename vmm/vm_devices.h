/* vm_devices.h: the device table: every kind of device a VM can have, and how each attaches. */
#ifndef COCOON_VM_DEVICES_H
#define COCOON_VM_DEVICES_H

#include <stddef.h>

struct vm;

/* One kind of device. `attach` runs once at vm_create (loop thread) and attaches every device of
 * that kind the configuration asks for (none is fine); each device it creates records its own
 * teardown with vm_add_device, so detach and destroy happen in reverse order at vm_destroy.
 * `remove` (hot-pluggable kinds only) detaches the device with config id `id`: 0 when removed,
 * 1 when this kind has no such id, -1 on error (err set). A new kind of device is one entry here
 * and its own file. */
struct vm_device_kind {
    const char *name;
    int (*attach)(struct vm *vm, char *err, size_t errlen);
    int (*remove)(struct vm *vm, const char *id, char *err, size_t errlen);
};

/* In attach order (PCI functions get their slots in this order); ends with a NULL name. */
extern const struct vm_device_kind vm_device_kinds[];

/* The attach functions of kinds that have no header of their own (vm_pci.h and vm_blknet.h
 * declare the others). */
int vm_attach_platform(struct vm *vm, char *err, size_t errlen); /* vm_platform.c */
int vm_attach_firmware(struct vm *vm, char *err, size_t errlen); /* vm_platform.c */
int vm_attach_vsock(struct vm *vm, char *err, size_t errlen);    /* vm_vsock.c: when configured */

#endif
