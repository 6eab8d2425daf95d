/* vm_devices.c: the device table: the kinds of device a VM can have, in the order they attach. */
#include "vmm/vm_devices.h"

#include "vmm/vm_acpi.h"
#include "vmm/vm_blknet.h"
#include "vmm/vm_pci.h"

const struct vm_device_kind vm_device_kinds[] = {
    {.name = "platform", .attach = vm_attach_platform}, /* console, debug port, i8042 */
    {.name = "firmware", .attach = vm_attach_firmware}, /* fw_cfg, CMOS, 0x402 (--firmware) */
    {.name = "pci", .attach = vm_attach_pci},     /* Q35 host bridge + LPC; every virtio function */
    {.name = "vsock", .attach = vm_attach_vsock}, /* 00:01.0 when configured */
    {.name = "disk+net", .attach = vm_attach_blknet, .remove = vm_remove_blknet},
    {.name = "acpi", .attach = vm_acpi_attach}, /* last: its tables list the slots in use */
    {.name = NULL},
};
