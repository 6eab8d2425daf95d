/* virtio.c: the transport services a virtio device model calls (interrupts, error reporting). */
#include "devices/virtio.h"

#include <stdarg.h>
#include <stdio.h>

void virtio_signal_used(struct virtio_device *vdev, unsigned q)
{
    if (q >= vdev->num_queues || !vdev->transport)
        return;
    if (virtq_should_signal(&vdev->vq[q]))
        vdev->transport->signal_queue(vdev->transport_ctx, q);
}

void virtio_signal_config(struct virtio_device *vdev)
{
    if (vdev->transport)
        vdev->transport->signal_config(vdev->transport_ctx);
}

void virtio_device_error(struct virtio_device *vdev, const char *fmt, ...)
{
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (vdev->err_rl.burst == 0) {
        vdev->err_rl.burst = 1;
        vdev->err_rl.interval_s = 5.0;
    }
    log_limited(&vdev->err_rl, LOG_LVL_WARN, "virtio-%s: guest error, device needs reset: %s",
                vdev->name ? vdev->name : "?", msg);
    if (vdev->broken)
        return;
    vdev->broken = true;
    if (vdev->transport)
        vdev->transport->set_needs_reset(vdev->transport_ctx);
}
