/* virtio_pci.h: the modern virtio-pci transport that puts any struct virtio_device on PCI. */
#ifndef COCOON_VIRTIO_PCI_H
#define COCOON_VIRTIO_PCI_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "devices/pci.h"
#include "devices/virtio.h"

/* BAR0 layout (32 KiB, memory): common cfg, ISR, device cfg, notify, MSI-X table, PBA. */
#define VIRTIO_PCI_BAR_SIZE    0x8000
#define VIRTIO_PCI_COMMON_OFF  0x0000
#define VIRTIO_PCI_COMMON_LEN  0x38
#define VIRTIO_PCI_ISR_OFF     0x1000
#define VIRTIO_PCI_DEVICE_OFF  0x2000
#define VIRTIO_PCI_DEVICE_MAX  0x1000
#define VIRTIO_PCI_NOTIFY_OFF  0x3000
#define VIRTIO_PCI_NOTIFY_MULT 4
#define VIRTIO_PCI_MSIX_OFF    0x4000
#define VIRTIO_PCI_PBA_OFF     0x6000

struct virtio_pci;

/* Creates the transport for vdev (one MSI-X vector per queue plus one for config), attaches it
 * at the next free 0000:00:DD.0 and writes that BDF to bdf. Call on the loop thread, before
 * the guest runs or while it runs (hot-plug). Returns NULL with a reason in err. */
struct virtio_pci *virtio_pci_new(struct pci_root *root, struct virtio_device *vdev,
                                  uv_loop_t *loop, char *bdf, size_t bdflen, char *err,
                                  size_t errlen);

/* Resets the device model if it is active, detaches the function and closes the transport's
 * libuv handles; memory is released from their close callbacks, so the caller must let the loop
 * run (uv_run) afterwards. Loop thread. NULL is fine. */
void virtio_pci_free(struct virtio_pci *vp);

/* Current device status register (tests, logs). */
uint8_t virtio_pci_status(struct virtio_pci *vp);

#endif
