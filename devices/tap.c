/* tap.c: opens or adopts a tap fd (IFF_VNET_HDR, 12-byte header, non-blocking, offloads). */
#include "devices/tap.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

static void tap_reset(struct tap *tap)
{
    memset(tap, 0, sizeof(*tap));
    tap->fd = -1;
}

static int set_vnet_hdr_len(int fd)
{
    int len = TAP_VNET_HDR_LEN;
    return ioctl(fd, TUNSETVNETHDRSZ, &len);
}

int tap_open_name(struct tap *tap, const char *name, char *err, size_t errlen)
{
    tap_reset(tap);
    if (!name || !name[0] || strlen(name) >= IFNAMSIZ) {
        snprintf(err, errlen, "tap name must be 1..%d characters", IFNAMSIZ - 1);
        return -1;
    }
    int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
        snprintf(err, errlen, "cannot open /dev/net/tun: %s", strerror(errno));
        return -1;
    }
    struct ifreq ifr;
    memset(&ifr, 0, sizeof(ifr));
    ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
    memcpy(ifr.ifr_name, name, strlen(name));
    if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
        snprintf(err, errlen, "tap %s: TUNSETIFF failed: %s", name, strerror(errno));
        close(fd);
        return -1;
    }
    if (set_vnet_hdr_len(fd) < 0 || ioctl(fd, TUNSETOFFLOAD, 0) < 0) {
        snprintf(err, errlen, "tap %s: cannot set the virtio-net header: %s", name,
                 strerror(errno));
        close(fd);
        return -1;
    }
    tap->fd = fd;
    tap->vnet_hdr = true;
    tap->is_tap = true;
    memcpy(tap->name, ifr.ifr_name, sizeof(tap->name) - 1);
    return 0;
}

int tap_check_fd(int fd, const char *what, char *err, size_t errlen)
{
    struct ifreq ifr;
    memset(&ifr, 0, sizeof(ifr));
    if (fd < 0 || fcntl(fd, F_GETFD) < 0) {
        snprintf(err, errlen, "%s: not an open file descriptor", what);
        return -1;
    }
    if (ioctl(fd, TUNGETIFF, &ifr) < 0) {
        snprintf(err, errlen, "%s is not a tap device (TUNGETIFF: %s)", what, strerror(errno));
        return -1;
    }
    if (!(ifr.ifr_flags & IFF_TAP)) {
        snprintf(err, errlen, "%s is a tun device, not a tap", what);
        return -1;
    }
    if (!(ifr.ifr_flags & IFF_NO_PI)) {
        snprintf(err, errlen, "%s: the tap was opened without IFF_NO_PI", what);
        return -1;
    }
    return 0;
}

int tap_adopt_fd(struct tap *tap, int fd, char *err, size_t errlen)
{
    tap_reset(tap);
    struct ifreq ifr;
    memset(&ifr, 0, sizeof(ifr));
    if (fd < 0 || ioctl(fd, TUNGETIFF, &ifr) < 0 || !(ifr.ifr_flags & IFF_TAP)) {
        snprintf(err, errlen, "fd %d is not a tap device", fd);
        return -1;
    }
    if (!(ifr.ifr_flags & IFF_NO_PI)) { /* frames must start with the header or Ethernet */
        snprintf(err, errlen, "tap fd %d was opened without IFF_NO_PI", fd);
        return -1;
    }
    int dup_fd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
    if (dup_fd < 0) {
        snprintf(err, errlen, "cannot duplicate tap fd %d: %s", fd, strerror(errno));
        return -1;
    }
    /* O_NONBLOCK lives in the shared open file description: the owner sees it too. */
    int fl = fcntl(dup_fd, F_GETFL);
    if (fl < 0 || fcntl(dup_fd, F_SETFL, fl | O_NONBLOCK) < 0) {
        snprintf(err, errlen, "tap fd %d: cannot make it non-blocking: %s", fd, strerror(errno));
        close(dup_fd);
        return -1;
    }
    bool vnet = (ifr.ifr_flags & IFF_VNET_HDR) != 0;
    if (vnet && (set_vnet_hdr_len(dup_fd) < 0 || ioctl(dup_fd, TUNSETOFFLOAD, 0) < 0)) {
        snprintf(err, errlen, "tap fd %d: cannot set the virtio-net header: %s", fd,
                 strerror(errno));
        close(dup_fd);
        return -1;
    }
    tap->fd = dup_fd;
    tap->vnet_hdr = vnet;
    tap->is_tap = true;
    memcpy(tap->name, ifr.ifr_name, sizeof(tap->name) - 1);
    return 0;
}

int tap_set_offload(const struct tap *tap, unsigned offloads)
{
    if (!tap->is_tap || !tap->vnet_hdr)
        return 0;
    unsigned long arg = 0;
    if (offloads & TAP_OFFLOAD_CSUM)
        arg |= TUN_F_CSUM;
    if (offloads & TAP_OFFLOAD_TSO4)
        arg |= TUN_F_TSO4;
    if (offloads & TAP_OFFLOAD_TSO6)
        arg |= TUN_F_TSO6;
    if (offloads & TAP_OFFLOAD_ECN)
        arg |= TUN_F_TSO_ECN;
    if (offloads & TAP_OFFLOAD_UFO)
        arg |= TUN_F_UFO;
    return ioctl(tap->fd, TUNSETOFFLOAD, arg);
}

void tap_close(struct tap *tap)
{
    if (tap->fd >= 0)
        close(tap->fd);
    tap->fd = -1;
}
