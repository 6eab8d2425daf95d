/* vsock.h: the virtio-vsock device model (rx/tx/event queues) over the hybrid-vsock muxer. */
#ifndef COCOON_VSOCK_H
#define COCOON_VSOCK_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "devices/virtio.h"
#include "vmm/base/memory.h"

#define VSOCK_QUEUE_SIZE 256

struct vsock_dev;

/* Creates the device for guest CID `cid` (3 .. 2^32-2) and starts listening on the Unix socket
 * `socket_path`. Attach vsock_virtio() to a transport afterwards. Loop thread. */
struct vsock_dev *vsock_new(uv_loop_t *loop, const struct guest_mem *gm, uint64_t cid,
                            const char *socket_path, char *err, size_t errlen);

/* The device's transport-facing half. */
struct virtio_device *vsock_virtio(struct vsock_dev *dev);

/* Number of live host connections (tests). */
unsigned vsock_conn_count(const struct vsock_dev *dev);

/* Frees the device; detach (virtio_pci_free) first. Let the loop run afterwards so the muxer's
 * handles finish closing. NULL is fine. */
void vsock_free(struct vsock_dev *dev);

#endif
