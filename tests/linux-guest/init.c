/* init.c: the Linux test guest's /init: checks Linux's virtio drivers against cocoon's devices. */
/*
 * Runs as PID 1 from an uncompressed initramfs. It mounts /dev, /proc and /sys, reports every PCI
 * and virtio device with the driver bound to it, runs one check per capability and prints one
 * "cocoon-init: CHECK <name> PASS|FAIL <detail>" line each, then restarts the machine (with
 * reboot=k that is the i8042 pulse cocoon turns into its exit; without ACPI a Linux power-off
 * is a halt loop KVM keeps to itself). Every line goes through /dev/kmsg so it reaches the polled
 * serial console whole, never interleaved with kernel messages.
 *
 * Parameters come from /proc/cmdline (the kernel ignores "cocoon_test.*" words):
 *   cocoon_test.mode=checks|agent   checks (default), or agent: serve the vsock echo forever
 *   cocoon_test.blk=N .net=N .vsock=N   how many devices of each kind cocoon was given
 *   cocoon_test.ip=A.B.C.D .peer=A.B.C.D .udp=PORT   guest address, UDP echo peer on the tap
 *   cocoon_test.listen=PORT (1024)   vsock port to echo on; cocoon_test.connect=PORT (1025)
 *   cocoon_test.control=PORT (1026)  agent mode: "WAIT <bdf>" requests (PCI hot-plug, no rescan)
 * The disk patterns are shared with tests/scripts/linux_guest_test.py (pattern_byte).
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/netlink.h>
#include <linux/vm_sockets.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define RO_SEED           0x5a /* read-only disk: whole image */
#define RW_SEED_BEFORE    0x33 /* writable disk as the host creates it */
#define RW_SEED_GUEST     0xc7 /* what the guest writes */
#define RW_WRITE_OFFSET   (1u << 20)
#define RW_WRITE_LEN      (256u << 10)
#define HOST_CID          2
#define VSOCK_ACCEPT_WAIT 180 /* seconds */
#define IO_ALIGN          4096

struct params {
    char mode[16];
    int blk, net, vsock;
    char ip[16], peer[16];
    int udp_port;
    unsigned listen_port, connect_port, control_port;
};

static int kmsg_fd = -1;
static int checks_passed, checks_failed;

/* Writes one line to the kernel log (so the console gets it whole), else to the console. */
static void say(const char *fmt, ...)
{
    char line[512];
    int n = snprintf(line, sizeof(line), "<5>cocoon-init: ");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
    va_end(ap);
    size_t len = strlen(line);
    if (len + 1 < sizeof(line))
        line[len++] = '\n';
    if (kmsg_fd < 0 || write(kmsg_fd, line, len) < 0)
        (void)!write(STDOUT_FILENO, line + 3, len - 3);
}

static void check(const char *name, int ok, const char *fmt, ...)
{
    char detail[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof(detail), fmt, ap);
    va_end(ap);
    if (ok)
        checks_passed++;
    else
        checks_failed++;
    say("CHECK %s %s %s", name, ok ? "PASS" : "FAIL", detail);
}

static double uptime_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_BOOTTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint8_t pattern_byte(uint64_t off, uint8_t seed)
{
    return (uint8_t)((off * 7) ^ (off >> 9) ^ seed);
}

static void fill_pattern(uint8_t *buf, size_t len, uint64_t off, uint8_t seed)
{
    for (size_t i = 0; i < len; i++)
        buf[i] = pattern_byte(off + i, seed);
}

/* Returns the offset of the first byte that differs from the pattern, or -1. */
static long long find_mismatch(const uint8_t *buf, size_t len, uint64_t off, uint8_t seed)
{
    for (size_t i = 0; i < len; i++)
        if (buf[i] != pattern_byte(off + i, seed))
            return (long long)(off + i);
    return -1;
}

/* Copies src into dst (len bytes), truncating; dst is always terminated. */
static void copy_str(char *dst, size_t len, const char *src)
{
    size_t n = strnlen(src, len - 1);
    memcpy(dst, src, n);
    dst[n] = '\0';
}

/* Reads a small sysfs/proc file into buf without its trailing newline; "" when unreadable. */
static const char *read_text(const char *path, char *buf, size_t len)
{
    buf[0] = '\0';
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return buf;
    ssize_t n = read(fd, buf, len - 1);
    close(fd);
    if (n < 0)
        n = 0;
    buf[n] = '\0';
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == ' '))
        buf[--n] = '\0';
    return buf;
}

static int write_text(const char *path, const char *text)
{
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t n = write(fd, text, strlen(text));
    close(fd);
    return n == (ssize_t)strlen(text) ? 0 : -1;
}

/* The name of the driver bound to a sysfs device directory, or "none". */
static const char *driver_of(const char *devdir, char *buf, size_t len)
{
    char link[PATH_MAX], target[PATH_MAX];
    snprintf(link, sizeof(link), "%s/driver", devdir);
    ssize_t n = readlink(link, target, sizeof(target) - 1);
    if (n <= 0) {
        snprintf(buf, len, "none");
        return buf;
    }
    target[n] = '\0';
    const char *slash = strrchr(target, '/');
    copy_str(buf, len, slash ? slash + 1 : target);
    return buf;
}

static void parse_params(struct params *p)
{
    memset(p, 0, sizeof(*p));
    snprintf(p->mode, sizeof(p->mode), "checks");
    p->blk = p->net = p->vsock = -1;
    snprintf(p->ip, sizeof(p->ip), "10.0.2.15");
    snprintf(p->peer, sizeof(p->peer), "10.0.2.1");
    p->udp_port = 5555;
    p->listen_port = 1024;
    p->connect_port = 1025;
    p->control_port = 1026;

    char cmdline[4096];
    read_text("/proc/cmdline", cmdline, sizeof(cmdline));
    for (char *save = NULL, *w = strtok_r(cmdline, " ", &save); w; w = strtok_r(NULL, " ", &save)) {
        if (strncmp(w, "cocoon_test.", 12) != 0)
            continue;
        char *key = w + 12, *val = strchr(key, '=');
        if (!val)
            continue;
        *val++ = '\0';
        if (!strcmp(key, "mode"))
            snprintf(p->mode, sizeof(p->mode), "%s", val);
        else if (!strcmp(key, "blk"))
            p->blk = atoi(val);
        else if (!strcmp(key, "net"))
            p->net = atoi(val);
        else if (!strcmp(key, "vsock"))
            p->vsock = atoi(val);
        else if (!strcmp(key, "ip"))
            snprintf(p->ip, sizeof(p->ip), "%s", val);
        else if (!strcmp(key, "peer"))
            snprintf(p->peer, sizeof(p->peer), "%s", val);
        else if (!strcmp(key, "udp"))
            p->udp_port = atoi(val);
        else if (!strcmp(key, "listen"))
            p->listen_port = (unsigned)atoi(val);
        else if (!strcmp(key, "connect"))
            p->connect_port = (unsigned)atoi(val);
        else if (!strcmp(key, "control"))
            p->control_port = (unsigned)atoi(val);
    }
}

static void mount_filesystems(void)
{
    mkdir("/dev", 0755);
    mkdir("/proc", 0755);
    mkdir("/sys", 0755);
    mount("devtmpfs", "/dev", "devtmpfs", 0, NULL);
    mount("proc", "/proc", "proc", 0, NULL);
    mount("sysfs", "/sys", "sysfs", 0, NULL);

    int fd = open("/dev/console", O_RDWR | O_NOCTTY);
    if (fd >= 0) {
        for (int i = 0; i < 3; i++)
            if (fd != i)
                dup2(fd, i);
        if (fd > 2)
            close(fd);
    }
    /* Lines from /dev/kmsg are rate-limited by default; the checks print more than ten. */
    write_text("/proc/sys/kernel/printk_devkmsg", "on\n");
    kmsg_fd = open("/dev/kmsg", O_WRONLY | O_CLOEXEC);
}

/* ---- PCI and virtio enumeration ---- */

static int virtio_id_expected(int id, const struct params *p)
{
    switch (id) {
    case 1:
        return p->net;
    case 2:
        return p->blk;
    case 19:
        return p->vsock;
    }
    return 0;
}

static const char *virtio_driver_for(int id)
{
    switch (id) {
    case 1:
        return "virtio_net";
    case 2:
        return "virtio_blk";
    case 19:
        return "vmw_vsock_virtio_transport";
    }
    return "?";
}

static void check_pci(const struct params *p)
{
    DIR *d = opendir("/sys/bus/pci/devices");
    if (!d) {
        check("pci_enumerate", 0, "no /sys/bus/pci/devices: %s", strerror(errno));
        return;
    }
    int total = 0, bridges = 0, virtio = 0, virtio_bound = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        char dir[PATH_MAX], path[PATH_MAX + 16], vendor[16], device[16], class[16], drv[64];
        snprintf(dir, sizeof(dir), "/sys/bus/pci/devices/%s", e->d_name);
        snprintf(path, sizeof(path), "%s/vendor", dir);
        read_text(path, vendor, sizeof(vendor));
        snprintf(path, sizeof(path), "%s/device", dir);
        read_text(path, device, sizeof(device));
        snprintf(path, sizeof(path), "%s/class", dir);
        read_text(path, class, sizeof(class));
        driver_of(dir, drv, sizeof(drv));
        say("PCI %s vendor=%s device=%s class=%s driver=%s", e->d_name, vendor, device, class, drv);
        total++;
        if (!strncmp(class, "0x0600", 6))
            bridges++;
        if (!strcmp(vendor, "0x1af4")) {
            virtio++;
            if (!strcmp(drv, "virtio-pci"))
                virtio_bound++;
        }
    }
    closedir(d);
    int want =
        (p->blk < 0 ? 0 : p->blk) + (p->net < 0 ? 0 : p->net) + (p->vsock < 0 ? 0 : p->vsock);
    check("pci_enumerate", bridges >= 1 && virtio == want,
          "functions=%d host_bridges=%d virtio=%d expected_virtio=%d", total, bridges, virtio,
          want);
    check("pci_bind_virtio_pci", virtio > 0 && virtio_bound == virtio,
          "%d of %d virtio functions bound to virtio-pci", virtio_bound, virtio);
}

static void check_virtio(const struct params *p)
{
    int seen[3] = {0}, bound[3] = {0}; /* net, blk, vsock */
    int other = 0;
    DIR *d = opendir("/sys/bus/virtio/devices");
    if (d) {
        struct dirent *e;
        while ((e = readdir(d))) {
            if (e->d_name[0] == '.')
                continue;
            char dir[PATH_MAX], path[PATH_MAX + 16], idtxt[16], drv[64], real[PATH_MAX];
            snprintf(dir, sizeof(dir), "/sys/bus/virtio/devices/%s", e->d_name);
            snprintf(path, sizeof(path), "%s/device", dir);
            int id = (int)strtol(read_text(path, idtxt, sizeof(idtxt)), NULL, 0);
            driver_of(dir, drv, sizeof(drv));
            const char *parent = "?";
            if (realpath(dir, real)) {
                char *slash = strrchr(real, '/');
                if (slash) {
                    *slash = '\0';
                    slash = strrchr(real, '/');
                    parent = slash ? slash + 1 : real;
                }
            }
            say("VIRTIO %s id=%d pci=%s driver=%s", e->d_name, id, parent, drv);
            int k = id == 1 ? 0 : id == 2 ? 1 : id == 19 ? 2 : -1;
            if (k < 0) {
                other++;
                continue;
            }
            seen[k]++;
            if (!strcmp(drv, virtio_driver_for(id)))
                bound[k]++;
        }
        closedir(d);
    }
    static const int ids[3] = {1, 2, 19};
    static const char *const names[3] = {"virtio_net_bound", "virtio_blk_bound",
                                         "virtio_vsock_bound"};
    for (int k = 0; k < 3; k++) {
        int want = virtio_id_expected(ids[k], p);
        check(names[k], seen[k] == want && bound[k] == seen[k] && want > 0,
              "devices=%d expected=%d bound_to_%s=%d", seen[k], want, virtio_driver_for(ids[k]),
              bound[k]);
    }
    if (other)
        say("INFO %d virtio devices of other types", other);
}

/* A child that used the FPU exits: on this test host the kernel's fwait on that path is one of
 * the two emulation failures cocoon fixes up (vmm/emulation_quirks.c). */
static void check_fpu_process_exit(void)
{
    pid_t pid = fork();
    if (pid == 0) {
        volatile double x = 1.0;
        for (int i = 0; i < 1000; i++)
            x = x * 1.0001 + 0.5;
        _exit(x > 1.0 ? 42 : 1);
    }
    int status = 0;
    pid_t got = pid > 0 ? waitpid(pid, &status, 0) : -1;
    check("fpu_process_exit", got == pid && WIFEXITED(status) && WEXITSTATUS(status) == 42,
          "child %d exited with status %d (want 42)", (int)pid,
          WIFEXITED(status) ? WEXITSTATUS(status) : -1);
}

/* ---- block ---- */

/* Finds the first vdX whose read-only flag equals want_ro; fills name (e.g. "vda"). */
static int find_disk(int want_ro, char *name, size_t len, uint64_t *bytes)
{
    DIR *d = opendir("/sys/block");
    if (!d)
        return -1;
    struct dirent *e;
    int found = -1;
    char best[32] = "";
    while ((e = readdir(d))) {
        if (strncmp(e->d_name, "vd", 2) != 0 || strlen(e->d_name) >= sizeof(best))
            continue;
        char path[PATH_MAX], txt[32];
        snprintf(path, sizeof(path), "/sys/block/%s/ro", e->d_name);
        if (atoi(read_text(path, txt, sizeof(txt))) != want_ro)
            continue;
        if (found == 0 && strcmp(e->d_name, best) > 0)
            continue;
        copy_str(best, sizeof(best), e->d_name);
        snprintf(path, sizeof(path), "/sys/block/%s/size", e->d_name);
        *bytes = strtoull(read_text(path, txt, sizeof(txt)), NULL, 10) * 512ULL;
        found = 0;
    }
    closedir(d);
    if (found == 0)
        copy_str(name, len, best);
    return found;
}

static void report_disk(const char *name)
{
    char path[PATH_MAX], serial[64], cache[32];
    snprintf(path, sizeof(path), "/sys/block/%s/serial", name);
    read_text(path, serial, sizeof(serial));
    snprintf(path, sizeof(path), "/sys/block/%s/queue/write_cache", name);
    read_text(path, cache, sizeof(cache));
    say("DISK %s serial=%s write_cache=\"%s\"", name, serial, cache);
}

static void check_blk_readonly(void)
{
    char name[32], dev[64];
    uint64_t size = 0;
    if (find_disk(1, name, sizeof(name), &size) < 0) {
        check("blk_ro_read", 0, "no read-only virtio disk in /sys/block");
        check("blk_ro_write_refused", 0, "no read-only virtio disk in /sys/block");
        return;
    }
    report_disk(name);
    snprintf(dev, sizeof(dev), "/dev/%s", name);
    size_t len = size > (4u << 20) ? (4u << 20) : (size_t)size;
    uint8_t *buf = aligned_alloc(IO_ALIGN, (len + IO_ALIGN - 1) / IO_ALIGN * IO_ALIGN + IO_ALIGN);
    int fd = open(dev, O_RDONLY | O_DIRECT | O_CLOEXEC);
    ssize_t got = -1;
    int err = 0;
    if (fd >= 0 && buf) {
        got = pread(fd, buf, len, 0);
        err = errno;
        close(fd);
    } else {
        err = errno;
    }
    if (got != (ssize_t)len || len == 0) {
        check("blk_ro_read", 0, "%s: read %zd of %zu bytes: %s", dev, got, len, strerror(err));
    } else {
        long long bad = find_mismatch(buf, len, 0, RO_SEED);
        check("blk_ro_read", bad < 0, "%s size=%llu read=%zu first_mismatch=%lld", dev,
              (unsigned long long)size, len, bad);
    }

    /* Writing must fail at open, at the write itself, or at the flush. O_DIRECT so a write the
     * block layer lets through really reaches the device. */
    const char *stage = "open";
    int ok = 0;
    fd = open(dev, O_WRONLY | O_DIRECT | O_CLOEXEC);
    if (fd < 0) {
        err = errno;
        ok = 1;
    } else if (buf) {
        stage = "write";
        memset(buf, 0xEE, IO_ALIGN);
        if (pwrite(fd, buf, IO_ALIGN, 0) != IO_ALIGN) {
            err = errno;
            ok = 1;
        } else {
            stage = "fsync";
            ok = fsync(fd) != 0;
            err = ok ? errno : 0;
        }
        close(fd);
    }
    check("blk_ro_write_refused", ok, "%s: %s %s", dev, ok ? "refused at" : "accepted through",
          ok ? stage : "fsync");
    if (ok)
        say("INFO blk_ro_write_refused errno=%d (%s)", err, strerror(err));
    free(buf);
}

static void check_blk_writable(void)
{
    char name[32], dev[64];
    uint64_t size = 0;
    if (find_disk(0, name, sizeof(name), &size) < 0) {
        check("blk_rw_write_read", 0, "no writable virtio disk in /sys/block");
        return;
    }
    report_disk(name);
    snprintf(dev, sizeof(dev), "/dev/%s", name);
    if (size < RW_WRITE_OFFSET + RW_WRITE_LEN) {
        check("blk_rw_write_read", 0, "%s too small: %llu bytes", dev, (unsigned long long)size);
        return;
    }
    uint8_t *buf = aligned_alloc(IO_ALIGN, RW_WRITE_LEN);
    if (!buf) {
        check("blk_rw_write_read", 0, "out of memory");
        return;
    }
    /* The bytes before the region must be the host's pattern (the image as created). */
    int fd = open(dev, O_RDWR | O_DIRECT | O_CLOEXEC);
    if (fd < 0) {
        check("blk_rw_write_read", 0, "open %s: %s", dev, strerror(errno));
        free(buf);
        return;
    }
    const char *fail = NULL;
    long long bad = -1;
    int err = 0;
    if (pread(fd, buf, IO_ALIGN, RW_WRITE_OFFSET - IO_ALIGN) != IO_ALIGN) {
        fail = "read before";
        err = errno;
    } else if ((bad = find_mismatch(buf, IO_ALIGN, RW_WRITE_OFFSET - IO_ALIGN, RW_SEED_BEFORE)) >=
               0) {
        fail = "host pattern mismatch";
    }
    if (!fail) {
        fill_pattern(buf, RW_WRITE_LEN, RW_WRITE_OFFSET, RW_SEED_GUEST);
        if (pwrite(fd, buf, RW_WRITE_LEN, RW_WRITE_OFFSET) != RW_WRITE_LEN) {
            fail = "write";
            err = errno;
        } else if (fsync(fd) != 0) {
            fail = "fsync";
            err = errno;
        }
    }
    if (!fail) {
        memset(buf, 0, RW_WRITE_LEN);
        if (pread(fd, buf, RW_WRITE_LEN, RW_WRITE_OFFSET) != RW_WRITE_LEN) {
            fail = "read back";
            err = errno;
        } else if ((bad = find_mismatch(buf, RW_WRITE_LEN, RW_WRITE_OFFSET, RW_SEED_GUEST)) >= 0) {
            fail = "read-back mismatch";
        }
    }
    close(fd);
    free(buf);
    if (fail)
        check("blk_rw_write_read", 0, "%s: %s failed at offset %lld: %s", dev, fail, bad,
              err ? strerror(err) : "bytes differ");
    else
        check("blk_rw_write_read", 1, "%s wrote, fsynced and read back %u bytes at %u", dev,
              RW_WRITE_LEN, RW_WRITE_OFFSET);
}

/* ---- network ---- */

static int find_netdev(char *name, size_t len)
{
    DIR *d = opendir("/sys/class/net");
    if (!d)
        return -1;
    struct dirent *e;
    int found = -1;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.' || !strcmp(e->d_name, "lo"))
            continue;
        copy_str(name, len, e->d_name);
        found = 0;
        break;
    }
    closedir(d);
    return found;
}

static int set_ifaddr(int s, const char *ifname, unsigned long req, const char *addr)
{
    struct ifreq ifr;
    memset(&ifr, 0, sizeof(ifr));
    snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
    struct sockaddr_in *sin = (struct sockaddr_in *)&ifr.ifr_addr;
    sin->sin_family = AF_INET;
    if (inet_pton(AF_INET, addr, &sin->sin_addr) != 1)
        return -1;
    return ioctl(s, req, &ifr);
}

static int bring_up(int s, const char *ifname, const char *ip, char *why, size_t whylen)
{
    if (set_ifaddr(s, ifname, SIOCSIFADDR, ip) < 0) {
        snprintf(why, whylen, "SIOCSIFADDR %s: %s", ip, strerror(errno));
        return -1;
    }
    if (set_ifaddr(s, ifname, SIOCSIFNETMASK, "255.255.255.0") < 0) {
        snprintf(why, whylen, "SIOCSIFNETMASK: %s", strerror(errno));
        return -1;
    }
    struct ifreq ifr;
    memset(&ifr, 0, sizeof(ifr));
    snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
    if (ioctl(s, SIOCGIFFLAGS, &ifr) < 0) {
        snprintf(why, whylen, "SIOCGIFFLAGS: %s", strerror(errno));
        return -1;
    }
    ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
    if (ioctl(s, SIOCSIFFLAGS, &ifr) < 0) {
        snprintf(why, whylen, "SIOCSIFFLAGS: %s", strerror(errno));
        return -1;
    }
    return 0;
}

/* Sends datagram i to the peer and waits for its echo; returns 0 when it came back intact. */
static int udp_exchange(int s, const struct sockaddr_in *peer, unsigned i, size_t len, int wait_ms)
{
    uint8_t out[1472], in[1600];
    int n = snprintf((char *)out, sizeof(out), "cocoon-udp %u ", i);
    for (size_t k = (size_t)n; k < len; k++)
        out[k] = (uint8_t)(k * 31 + i);
    if (sendto(s, out, len, 0, (const struct sockaddr *)peer, sizeof(*peer)) != (ssize_t)len)
        return -1;
    for (;;) {
        struct pollfd pfd = {.fd = s, .events = POLLIN};
        if (poll(&pfd, 1, wait_ms) <= 0)
            return -1;
        ssize_t got = recv(s, in, sizeof(in), 0);
        if (got == (ssize_t)len && !memcmp(in, out, len))
            return 0;
        /* A late echo of an earlier retry: keep waiting for this one. */
    }
}

static void check_net(const struct params *p)
{
    char ifname[IFNAMSIZ], why[160] = "", path[PATH_MAX], mac[32];
    if (find_netdev(ifname, sizeof(ifname)) < 0) {
        check("net_up", 0, "no network interface besides lo");
        check("net_udp_exchange", 0, "no network interface");
        return;
    }
    snprintf(path, sizeof(path), "/sys/class/net/%s/address", ifname);
    read_text(path, mac, sizeof(mac));
    int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    int up = s >= 0 && bring_up(s, ifname, p->ip, why, sizeof(why)) == 0;
    char oper[32];
    snprintf(path, sizeof(path), "/sys/class/net/%s/operstate", ifname);
    check("net_up", up, "%s mac=%s ip=%s operstate=%s %s", ifname, mac, p->ip,
          read_text(path, oper, sizeof(oper)), why);
    if (!up) {
        check("net_udp_exchange", 0, "%s is not up", ifname);
        if (s >= 0)
            close(s);
        return;
    }
    struct sockaddr_in peer = {.sin_family = AF_INET, .sin_port = htons((uint16_t)p->udp_port)};
    inet_pton(AF_INET, p->peer, &peer.sin_addr);
    /* The first datagram waits for ARP; retry it for up to ~30 s. */
    int first = -1;
    for (int t = 0; t < 15 && first < 0; t++)
        first = udp_exchange(s, &peer, 0, 64, 2000);
    unsigned done = first == 0 ? 1 : 0;
    size_t bytes = first == 0 ? 64 : 0;
    static const size_t sizes[] = {1, 60, 200, 512, 1000, 1400, 1472};
    for (unsigned i = 1; first == 0 && i <= 63; i++) {
        size_t len = sizes[i % (sizeof(sizes) / sizeof(sizes[0]))];
        if (len < 16)
            len = 16;
        if (udp_exchange(s, &peer, i, len, 5000) != 0)
            break;
        done++;
        bytes += len;
    }
    close(s);
    check("net_udp_exchange", done == 64, "%u of 64 datagrams echoed by %s:%d (%zu bytes)", done,
          p->peer, p->udp_port, bytes);
}

/* ---- vsock ---- */

static unsigned local_cid(void)
{
    unsigned cid = 0;
    int fd = open("/dev/vsock", O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        if (ioctl(fd, IOCTL_VM_SOCKETS_GET_LOCAL_CID, &cid) < 0)
            cid = 0;
        close(fd);
    }
    return cid;
}

static int vsock_listener(unsigned port)
{
    int s = socket(AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (s < 0)
        return -1;
    struct sockaddr_vm a = {.svm_family = AF_VSOCK, .svm_cid = VMADDR_CID_ANY, .svm_port = port};
    if (bind(s, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(s, 8) < 0) {
        int e = errno;
        close(s);
        errno = e;
        return -1;
    }
    return s;
}

/* Echoes everything read from c back to it until the peer closes; returns the byte count. */
static long long echo_until_eof(int c, int *err)
{
    static uint8_t buf[64 << 10];
    long long total = 0;
    *err = 0;
    for (;;) {
        ssize_t n = read(c, buf, sizeof(buf));
        if (n == 0)
            return total;
        if (n < 0) {
            if (errno == EINTR)
                continue;
            *err = errno;
            return total;
        }
        for (ssize_t off = 0; off < n;) {
            ssize_t w = write(c, buf + off, (size_t)(n - off));
            if (w < 0) {
                if (errno == EINTR)
                    continue;
                *err = errno;
                return total;
            }
            off += w;
        }
        total += n;
    }
}

/* Without a vsock transport bound, the local CID reads as VMADDR_CID_ANY. */
static int have_vsock_transport(void)
{
    unsigned cid = local_cid();
    return cid != 0 && cid != VMADDR_CID_ANY;
}

static void check_vsock_listen(const struct params *p)
{
    say("INFO vsock local cid=%u", local_cid());
    if (!have_vsock_transport()) {
        check("vsock_listen_echo", 0, "no vsock transport (local cid unset)");
        return;
    }
    int s = vsock_listener(p->listen_port);
    if (s < 0) {
        check("vsock_listen_echo", 0, "listen on port %u: %s", p->listen_port, strerror(errno));
        return;
    }
    say("READY vsock-listen %u", p->listen_port);
    struct pollfd pfd = {.fd = s, .events = POLLIN};
    if (poll(&pfd, 1, VSOCK_ACCEPT_WAIT * 1000) <= 0) {
        check("vsock_listen_echo", 0, "no connection to port %u within %d s", p->listen_port,
              VSOCK_ACCEPT_WAIT);
        close(s);
        return;
    }
    struct sockaddr_vm from;
    socklen_t fl = sizeof(from);
    int c = accept(s, (struct sockaddr *)&from, &fl);
    close(s);
    if (c < 0) {
        check("vsock_listen_echo", 0, "accept: %s", strerror(errno));
        return;
    }
    double t0 = uptime_seconds();
    int err;
    long long n = echo_until_eof(c, &err);
    close(c);
    double dt = uptime_seconds() - t0;
    /* The host closes once it has every byte back: a reset after that is not an error. */
    check("vsock_listen_echo", n >= (1 << 20) && (err == 0 || err == ECONNRESET),
          "port %u peer cid=%u echoed %lld bytes in %.1f s%s%s", p->listen_port, from.svm_cid, n,
          dt, err ? " then: " : "", err ? strerror(err) : "");
}

static void check_vsock_connect(const struct params *p)
{
    char msg[128], reply[256];
    int len = snprintf(msg, sizeof(msg), "hello from guest cid %u to port %u\n", local_cid(),
                       p->connect_port);
    if (!have_vsock_transport()) {
        check("vsock_connect_host", 0, "no vsock transport (local cid unset)");
        return;
    }
    int s = -1, err = 0;
    for (int attempt = 0; attempt < 5; attempt++) {
        s = socket(AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC, 0);
        struct sockaddr_vm a = {
            .svm_family = AF_VSOCK, .svm_cid = HOST_CID, .svm_port = p->connect_port};
        if (s >= 0 && connect(s, (struct sockaddr *)&a, sizeof(a)) == 0)
            break;
        err = errno;
        if (s >= 0)
            close(s);
        s = -1;
        sleep(1);
    }
    if (s < 0) {
        check("vsock_connect_host", 0, "connect to cid 2 port %u: %s", p->connect_port,
              strerror(err));
        return;
    }
    size_t got = 0;
    const char *fail = NULL;
    if (write(s, msg, (size_t)len) != len) {
        fail = "write";
        err = errno;
    } else {
        while (got < sizeof(reply) - 1) {
            struct pollfd pfd = {.fd = s, .events = POLLIN};
            if (poll(&pfd, 1, 30000) <= 0) {
                fail = "no reply within 30 s";
                break;
            }
            ssize_t n = read(s, reply + got, sizeof(reply) - 1 - got);
            if (n <= 0) {
                err = n < 0 ? errno : 0;
                break;
            }
            got += (size_t)n;
            if (memchr(reply, '\n', got))
                break;
        }
    }
    close(s);
    reply[got] = '\0';
    char *nl = strchr(reply, '\n');
    if (nl)
        *nl = '\0';
    /* The host's listener answers "ack " + our line. */
    int ok = !fail && !strncmp(reply, "ack ", 4) && !strncmp(reply + 4, msg, (size_t)len - 1);
    check("vsock_connect_host", ok, "port %u sent %d bytes, reply \"%s\"%s%s", p->connect_port, len,
          reply, fail ? " " : "", fail ? fail : (err ? strerror(err) : ""));
}

/* ---- Agent mode: the block-device hot-plug wait of Kata's agent ----
 * Kata's agent (src/agent/src/uevent.rs, device/block_device_handler.rs) listens to the kernel's
 * uevents from its start and keeps every one; for a virtio-blk volume at a PCI path it waits up to
 * hotplug_timeout (3 s) for a "block" uevent whose DEVPATH matches
 * ^/devices/pci0000:00/<bdf>/virtio[0-9]+/block/ with a DEVNAME, counting events that came
 * before the request. It never rescans the bus: the hypervisor's hot-plug notification must make
 * the guest kernel enumerate the function by itself. The PCI function's own "add" uevent is kept
 * too, to tell the notification's latency from the guest driver's probe time. */
#define HOTPLUG_TIMEOUT_MS 3000 /* Kata's DEFAULT_HOTPLUG_TIMEOUT */
#define UEVENT_KEEP        32

struct block_uevent {
    char subsystem[16]; /* "block" or "pci" */
    char devpath[256];
    char devname[32];
    double at; /* CLOCK_BOOTTIME seconds */
};

static struct block_uevent seen[UEVENT_KEEP];
static unsigned nr_seen;

/* Opens the kernel's uevent multicast group (the agent's netlink socket), non-blocking. */
static int uevent_socket(void)
{
    int s = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, NETLINK_KOBJECT_UEVENT);
    struct sockaddr_nl sa = {.nl_family = AF_NETLINK, .nl_groups = 1};
    if (s >= 0 && bind(s, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        close(s);
        s = -1;
    }
    return s;
}

/* The value of KEY= in a uevent message (NUL-separated KEY=value fields), or "". */
static const char *uevent_field(const char *msg, size_t len, const char *key)
{
    size_t klen = strlen(key);
    for (size_t off = 0; off < len; off += strnlen(msg + off, len - off) + 1)
        if (!strncmp(msg + off, key, klen) && msg[off + klen] == '=')
            return msg + off + klen + 1;
    return "";
}

/* Reads every pending uevent and keeps the block and pci "add" events (oldest dropped when
 * full). */
static void drain_uevents(int s)
{
    char msg[4096];
    ssize_t n;
    while ((n = recv(s, msg, sizeof(msg) - 1, 0)) > 0) {
        msg[n] = '\0';
        const char *subsystem = uevent_field(msg, (size_t)n, "SUBSYSTEM");
        if (strcmp(uevent_field(msg, (size_t)n, "ACTION"), "add") ||
            (strcmp(subsystem, "block") && strcmp(subsystem, "pci")))
            continue;
        if (nr_seen == UEVENT_KEEP) {
            memmove(seen, seen + 1, sizeof(seen) - sizeof(seen[0]));
            nr_seen--;
        }
        struct block_uevent *u = &seen[nr_seen++];
        copy_str(u->subsystem, sizeof(u->subsystem), subsystem);
        copy_str(u->devpath, sizeof(u->devpath), uevent_field(msg, (size_t)n, "DEVPATH"));
        copy_str(u->devname, sizeof(u->devname), uevent_field(msg, (size_t)n, "DEVNAME"));
        u->at = uptime_seconds();
        say("INFO agent uevent add %s %s (%s)", u->subsystem, u->devname, u->devpath);
    }
}

/* Kata's VirtioBlkPciMatcher for the function at bdf ("0000:00:DD.0"). */
static const struct block_uevent *find_block_uevent(const char *bdf)
{
    char prefix[64];
    snprintf(prefix, sizeof(prefix), "/devices/pci0000:00/%.16s/virtio", bdf);
    size_t plen = strlen(prefix);
    for (unsigned i = 0; i < nr_seen; i++) {
        const char *rest = seen[i].devpath + plen;
        if (strcmp(seen[i].subsystem, "block") || strncmp(seen[i].devpath, prefix, plen) ||
            !seen[i].devname[0])
            continue;
        size_t digits = strspn(rest, "0123456789");
        if (digits > 0 && !strncmp(rest + digits, "/block/", 7))
            return &seen[i];
    }
    return NULL;
}

/* The PCI function's own add uevent (DEVPATH /devices/pci0000:00/<bdf>), or NULL. */
static const struct block_uevent *find_pci_uevent(const char *bdf)
{
    char path[64];
    snprintf(path, sizeof(path), "/devices/pci0000:00/%.16s", bdf);
    for (unsigned i = 0; i < nr_seen; i++)
        if (!strcmp(seen[i].subsystem, "pci") && !strcmp(seen[i].devpath, path))
            return &seen[i];
    return NULL;
}

/* Waits (no rescan) up to timeout_ms from t_request for the block uevent of bdf. */
static const struct block_uevent *wait_block_uevent(int us, const char *bdf, double t_request,
                                                    int timeout_ms)
{
    const struct block_uevent *u;
    while (!(u = find_block_uevent(bdf))) {
        int left = (int)((t_request + timeout_ms / 1000.0 - uptime_seconds()) * 1000);
        struct pollfd pfd = {.fd = us, .events = POLLIN};
        if (left <= 0 || poll(&pfd, 1, left) < 0)
            return NULL;
        drain_uevents(us);
    }
    return u;
}

/* Reads one request line (at most 5 s, the host test is the only client). */
static void read_request(int c, char *req, size_t len)
{
    size_t got = 0;
    req[0] = '\0';
    while (got < len - 1 && !memchr(req, '\n', got)) {
        struct pollfd pfd = {.fd = c, .events = POLLIN};
        if (poll(&pfd, 1, 5000) <= 0)
            break;
        ssize_t n = read(c, req + got, len - 1 - got);
        if (n <= 0)
            break;
        got += (size_t)n;
        req[got] = '\0';
    }
    req[strcspn(req, "\r\n")] = '\0';
}

/* "DISK <name> <bytes> <hex of its first 32 bytes> <ms> <pci ms>" for the disk u announced; ms
 * and pci ms are the block and the PCI function's add uevents' times relative to the request
 * (negative: it came first; pci ms "-" when not seen). */
static void describe_disk(const struct block_uevent *u, const struct block_uevent *pci,
                          double t_request, char *reply, size_t len)
{
    char pci_ms[24] = "-";
    if (pci)
        snprintf(pci_ms, sizeof(pci_ms), "%.0f", (pci->at - t_request) * 1000);
    char path[64], txt[32], hex[65] = "";
    uint8_t head[32];
    snprintf(path, sizeof(path), "/sys/block/%.31s/size", u->devname);
    unsigned long long bytes = strtoull(read_text(path, txt, sizeof(txt)), NULL, 10) * 512ULL;
    snprintf(path, sizeof(path), "/dev/%.31s", u->devname);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || pread(fd, head, sizeof(head), 0) != (ssize_t)sizeof(head)) {
        snprintf(reply, len, "NONE %s: cannot read: %s\n", path, strerror(errno));
    } else {
        for (size_t i = 0; i < sizeof(head); i++)
            snprintf(hex + 2 * i, sizeof(hex) - 2 * i, "%02x", head[i]);
        snprintf(reply, len, "DISK %s %llu %s %.0f %s\n", u->devname, bytes, hex,
                 (u->at - t_request) * 1000, pci_ms);
    }
    if (fd >= 0)
        close(fd);
}

/* Control request "WAIT <bdf> [ms]": what Kata's agent does for a hot-plugged virtio-blk volume,
 * with Kata's 3 s unless the request names another budget (1..600000 ms). Answers DISK
 * (describe_disk) or "NONE <reason>". Runs in the agent's main process, which owns the uevent
 * socket; the echo service waits meanwhile. */
static void handle_control(int c, int us)
{
    char req[128], reply[256], bdf[32] = "";
    int timeout_ms = HOTPLUG_TIMEOUT_MS;
    read_request(c, req, sizeof(req));
    double t_request = uptime_seconds();
    if (!strncmp(req, "WAIT ", 5))
        copy_str(bdf, sizeof(bdf), req + 5);
    char *ms = strchr(bdf, ' ');
    if (ms) {
        *ms++ = '\0';
        timeout_ms = atoi(ms);
    }
    if (!bdf[0] || timeout_ms < 1 || timeout_ms > 600000) {
        snprintf(reply, sizeof(reply), "NONE bad request\n");
    } else {
        const struct block_uevent *u = wait_block_uevent(us, bdf, t_request, timeout_ms);
        if (u)
            describe_disk(u, find_pci_uevent(bdf), t_request, reply, sizeof(reply));
        else
            snprintf(reply, sizeof(reply),
                     "NONE no block uevent for %s within %d ms (pci add %s)\n", bdf, timeout_ms,
                     find_pci_uevent(bdf) ? "seen" : "not seen");
    }
    say("INFO agent control: %.60s -> %s", req, reply);
    (void)!write(c, reply, strlen(reply));
}

/* Agent mode: the vsock echo service for the Kata replay (one child per connection), the
 * kernel's uevents, and a control port for what the real agent does on a hot-plug, forever. */
static void serve_agent(const struct params *p)
{
    signal(SIGCHLD, SIG_IGN);
    int us = uevent_socket();
    int echo = vsock_listener(p->listen_port);
    int ctl = vsock_listener(p->control_port);
    if (us < 0 || echo < 0 || ctl < 0) {
        say("FATAL agent: uevent socket or listen on vsock ports %u/%u: %s", p->listen_port,
            p->control_port, strerror(errno));
        return;
    }
    say("READY agent vsock-listen %u control %u cid=%u", p->listen_port, p->control_port,
        local_cid());
    for (;;) {
        struct pollfd pfd[3] = {{.fd = echo, .events = POLLIN},
                                {.fd = ctl, .events = POLLIN},
                                {.fd = us, .events = POLLIN}};
        if (poll(pfd, 3, -1) < 0) {
            if (errno == EINTR)
                continue;
            say("FATAL agent: poll: %s", strerror(errno));
            return;
        }
        if (pfd[2].revents & POLLIN)
            drain_uevents(us);
        if (pfd[1].revents & POLLIN) {
            int c = accept(ctl, NULL, NULL);
            if (c >= 0) {
                handle_control(c, us);
                close(c);
            }
        }
        if (!(pfd[0].revents & POLLIN))
            continue;
        int c = accept(echo, NULL, NULL);
        if (c < 0)
            continue;
        if (fork() == 0) {
            int err;
            long long n = echo_until_eof(c, &err);
            say("INFO agent echoed %lld bytes%s%s", n, err ? ": " : "", err ? strerror(err) : "");
            _exit(0);
        }
        close(c);
    }
}

static void finish(void)
{
    sync();
    /* Without ACPI, RB_POWER_OFF becomes a halt loop inside KVM: restart instead (reboot=k
     * makes that the i8042 pulse cocoon exits on). */
    reboot(RB_AUTOBOOT);
    say("FATAL reboot returned: %s", strerror(errno));
    for (;;)
        pause();
}

int main(void)
{
    mount_filesystems();
    struct params p;
    parse_params(&p);
    say("START uptime=%.2f mode=%s", uptime_seconds(), p.mode);

    if (!strcmp(p.mode, "agent")) {
        serve_agent(&p);
        finish();
    }

    check_pci(&p);
    check_virtio(&p);
    check_fpu_process_exit();
    check_blk_readonly();
    check_blk_writable();
    check_net(&p);
    check_vsock_listen(&p);
    check_vsock_connect(&p);

    say("DONE passed=%d failed=%d uptime=%.2f", checks_passed, checks_failed, uptime_seconds());
    finish();
    return 0;
}
