/* tap.h: a Linux tap device for virtio-net: opened by name or adopted from a handed-over fd. */
#ifndef COCOON_TAP_H
#define COCOON_TAP_H

#include <stdbool.h>
#include <stddef.h>

/* TUNSETOFFLOAD bits, mirrored here so callers need not include linux/if_tun.h. */
#define TAP_OFFLOAD_CSUM 0x01
#define TAP_OFFLOAD_TSO4 0x02
#define TAP_OFFLOAD_TSO6 0x04
#define TAP_OFFLOAD_ECN  0x08
#define TAP_OFFLOAD_UFO  0x10

#define TAP_VNET_HDR_LEN 12 /* struct virtio_net_hdr_v1 (virtio 1.x always has num_buffers) */

struct tap {
    int fd;        /* non-blocking, close-on-exec; owned by this struct */
    bool vnet_hdr; /* frames carry a 12-byte virtio-net header (IFF_VNET_HDR) */
    bool is_tap;   /* a real tun/tap fd (false: a datagram socket standing in, in unit tests) */
    char name[16];
};

/* Opens /dev/net/tun and attaches to (or creates) tap `name` with IFF_TAP | IFF_NO_PI |
 * IFF_VNET_HDR, a 12-byte header and no offloads. Returns 0, or -1 with one line in err. */
int tap_open_name(struct tap *tap, const char *name, char *err, size_t errlen);

/* Adopts a tap fd handed over by the caller (CLI fd=N, or SCM_RIGHTS): works on a duplicate, so
 * the caller keeps and closes its own fd. Checks it is a tap (TUNGETIFF), makes it non-blocking
 * and, if it has IFF_VNET_HDR, sets the 12-byte header size. Returns 0 or -1 with err. */
int tap_adopt_fd(struct tap *tap, int fd, char *err, size_t errlen);

/* Checks, without changing anything, that fd is a tap cocoon can use (TUNGETIFF: IFF_TAP
 * with IFF_NO_PI). what names the fd in the message ("the fd passed with vm.add-net",
 * "--net fd=3"). Returns 0, or -1 with one line in err. */
int tap_check_fd(int fd, const char *what, char *err, size_t errlen);

/* Tells the kernel which offloads the guest accepts on receive (TAP_OFFLOAD_* bits). A no-op
 * returning 0 on a stand-in socket. Returns 0 or -1 (errno set). */
int tap_set_offload(const struct tap *tap, unsigned offloads);

/* Closes the fd. Safe to call twice. */
void tap_close(struct tap *tap);

#endif
