/* acpi_linux_init.c: /init of the ACPI Linux test guest: reports what Linux took from cocoon's
 * ACPI tables, then leaves the way the command line says, through ACPI. */
/*
 * Static program (gcc -static), packed alone into an initramfs by tests/cmake/acpi.cmake. It
 * prints "acpi-init: <key> = <value>" lines through /dev/kmsg (so they reach the serial console
 * whole): the tables under /sys/firmware/acpi/tables, the online and possible CPUs, the ACPI
 * hot-plug slots under /sys/bus/pci/slots. Then, by "acpitest=" on the kernel command line:
 *   poweroff (default)  reboot(RB_POWER_OFF): ACPI S5 through the FADT sleep registers
 *   reboot              reboot(RB_AUTOBOOT): the FADT reset register (without reboot=k)
 *   hotplug             waits (netlink, like Kata's agent) for the kernel's "add" uevent of a
 *                       block device that cocoon hot-adds, prints its first 16 bytes; then for
 *                       its "remove" uevent (vm.remove-device: eject request, acpiphp, _EJ0);
 *                       then for a second disk's "add" and its bytes; powers off
 *   cpus                waits until a vCPU that vm.resize hot-adds is present in
 *                       /sys/devices/system/cpu/present (it is not onlined), then until the
 *                       next vm.resize makes the kernel eject it (present back as it was);
 *                       reports both and whether any CPU came online; powers off
 *   button              waits for the ACPI power-button event (the "acpi_event" generic netlink
 *                       family, as acpid and systemd-logind get it) and powers off on it, as a
 *                       distribution's userspace does; without an event it resets instead
 */
#include <dirent.h>
#include <linux/genetlink.h>
#include <linux/netlink.h>
#include <poll.h>
#include <sys/socket.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/stat.h>
#include <unistd.h>

static void kmsg(const char *key, const char *value)
{
    char line[1024];
    int n = snprintf(line, sizeof(line), "acpi-init: %s = %s\n", key, value);
    int fd = open("/dev/kmsg", O_WRONLY);
    if (fd >= 0) {
        if (write(fd, line, (size_t)n) < 0)
            n = 0;
        close(fd);
    }
}

static void read_text(const char *path, char *out, size_t len)
{
    out[0] = '\0';
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return;
    ssize_t n = read(fd, out, len - 1);
    close(fd);
    out[n > 0 ? n : 0] = '\0';
    out[strcspn(out, "\n")] = '\0';
}

/* Space-separated, sorted-by-readdir names in dir (skipping dot entries). */
static void list_dir(const char *dir, char *out, size_t len)
{
    out[0] = '\0';
    DIR *d = opendir(dir);
    struct dirent *e;
    while (d && (e = readdir(d))) {
        if (e->d_name[0] == '.' || strlen(out) + strlen(e->d_name) + 2 > len)
            continue;
        strcat(out, e->d_name);
        strcat(out, " ");
    }
    if (d)
        closedir(d);
}

static int uevent_socket(void)
{
    int s = socket(AF_NETLINK, SOCK_DGRAM, NETLINK_KOBJECT_UEVENT);
    struct sockaddr_nl sa = {.nl_family = AF_NETLINK, .nl_groups = 1};
    if (s >= 0 && bind(s, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        close(s);
        s = -1;
    }
    return s;
}

/* Waits up to 300 s for an "<action>@.../block/vdX" uevent of a whole disk (no rescan, no polling
 * of sysfs); dev receives "/dev/vdX", or "" on timeout. */
static void wait_block_uevent(int s, const char *action, char *dev, size_t len)
{
    char msg[4096];
    size_t alen = strlen(action);
    struct pollfd pfd = {.fd = s, .events = POLLIN};
    dev[0] = '\0';
    while (!dev[0] && poll(&pfd, 1, 300000) > 0) {
        ssize_t n = recv(s, msg, sizeof(msg) - 1, 0);
        if (n <= 0)
            continue;
        msg[n] = '\0';
        const char *b = strstr(msg, "/block/vd");
        if (strncmp(msg, action, alen) == 0 && msg[alen] == '@' && b && !strchr(b + 7, '/'))
            snprintf(dev, len, "/dev/%s", b + 7);
    }
}

/* Prints "<key> = <hex of the first 16 bytes of dev>" (or "unreadable"). */
static void report_disk_bytes(const char *key, const char *dev)
{
    unsigned char data[16];
    char hex[64] = "";
    int fd = -1;
    for (int i = 0; i < 100 && fd < 0; i++, usleep(20000))
        fd = open(dev, O_RDONLY);
    if (fd < 0 || read(fd, data, sizeof(data)) != (ssize_t)sizeof(data)) {
        kmsg(key, "unreadable");
    } else {
        for (unsigned i = 0; i < sizeof(data); i++)
            snprintf(hex + 2 * i, 3, "%02x", data[i]);
        kmsg(key, hex);
    }
    if (fd >= 0)
        close(fd);
}

/* The hot-plug cycle the host drives: add, remove (eject), add again. */
static void hotplug_cycle(void)
{
    int s = uevent_socket();
    if (s < 0) {
        kmsg("hotplug", "no uevent socket");
        return;
    }
    kmsg("hotplug", "waiting for a block device");
    char dev[64];
    wait_block_uevent(s, "add", dev, sizeof(dev));
    if (!dev[0]) {
        kmsg("hotplug", "no block add uevent");
        close(s);
        return;
    }
    kmsg("block_add", dev);
    report_disk_bytes("block_data", dev);
    wait_block_uevent(s, "remove", dev, sizeof(dev));
    kmsg("block_remove", dev[0] ? dev : "none");
    wait_block_uevent(s, "add", dev, sizeof(dev));
    kmsg("block_add2", dev[0] ? dev : "none");
    if (dev[0])
        report_disk_bytes("block_data2", dev);
    close(s);
}

/* ---- The ACPI power button as userspace sees it: Linux's button driver (drivers/acpi/button.c,
 * acpi_button_notify) sends acpi_bus_generate_netlink_event("button/power", ...) to the
 * "acpi_event" generic netlink family's "acpi_mc_group" (drivers/acpi/event.c). ---- */
#define ACPI_GENL_FAMILY "acpi_event"
#define ACPI_GENL_GROUP  "acpi_mc_group"

struct acpi_genl_event { /* drivers/acpi/event.c */
    char device_class[20];
    char bus_id[15];
    uint32_t type;
    uint32_t data;
};

/* Walks the attributes in [p, p+len) and returns the one of type t, or NULL. */
static const struct nlattr *nla_find(const char *p, size_t len, unsigned t)
{
    while (len >= NLA_HDRLEN) {
        const struct nlattr *a = (const void *)p;
        if (a->nla_len < NLA_HDRLEN || a->nla_len > len)
            return NULL;
        if ((a->nla_type & NLA_TYPE_MASK) == t)
            return a;
        size_t step = NLA_ALIGN(a->nla_len);
        if (step >= len)
            return NULL;
        p += step;
        len -= step;
    }
    return NULL;
}

/* The multicast group id of "acpi_mc_group" in a CTRL_CMD_NEWFAMILY reply, or 0. */
static uint32_t acpi_group_id(const char *buf, ssize_t n)
{
    const struct nlmsghdr *h = (const void *)buf;
    if (n < (ssize_t)NLMSG_HDRLEN || h->nlmsg_type != GENL_ID_CTRL || h->nlmsg_len > (size_t)n)
        return 0;
    const char *attrs = (const char *)NLMSG_DATA(h) + GENL_HDRLEN;
    size_t alen = h->nlmsg_len - NLMSG_HDRLEN - GENL_HDRLEN;
    const struct nlattr *groups = nla_find(attrs, alen, CTRL_ATTR_MCAST_GROUPS);
    if (!groups)
        return 0;
    const char *g = (const char *)groups + NLA_HDRLEN;
    size_t glen = groups->nla_len - NLA_HDRLEN;
    while (glen >= NLA_HDRLEN) {
        const struct nlattr *one = (const void *)g;
        if (one->nla_len < NLA_HDRLEN || one->nla_len > glen)
            return 0;
        const char *in = g + NLA_HDRLEN;
        size_t inlen = one->nla_len - NLA_HDRLEN;
        const struct nlattr *name = nla_find(in, inlen, CTRL_ATTR_MCAST_GRP_NAME);
        const struct nlattr *id = nla_find(in, inlen, CTRL_ATTR_MCAST_GRP_ID);
        if (name && id && !strcmp((const char *)name + NLA_HDRLEN, ACPI_GENL_GROUP))
            return *(const uint32_t *)((const char *)id + NLA_HDRLEN);
        size_t step = NLA_ALIGN(one->nla_len);
        if (step >= glen)
            return 0;
        g += step;
        glen -= step;
    }
    return 0;
}

/* A generic netlink socket joined to the ACPI event group, or -1. */
static int acpi_event_socket(void)
{
    int s = socket(AF_NETLINK, SOCK_RAW, NETLINK_GENERIC);
    if (s < 0)
        return -1;
    struct {
        struct nlmsghdr n;
        struct genlmsghdr g;
        char attr[NLA_HDRLEN + NLA_ALIGN(sizeof(ACPI_GENL_FAMILY))];
    } req = {0};
    struct nlattr *a = (struct nlattr *)req.attr;
    a->nla_type = CTRL_ATTR_FAMILY_NAME;
    a->nla_len = NLA_HDRLEN + sizeof(ACPI_GENL_FAMILY);
    memcpy(req.attr + NLA_HDRLEN, ACPI_GENL_FAMILY, sizeof(ACPI_GENL_FAMILY));
    req.n.nlmsg_len = sizeof(req);
    req.n.nlmsg_type = GENL_ID_CTRL;
    req.n.nlmsg_flags = NLM_F_REQUEST;
    req.g.cmd = CTRL_CMD_GETFAMILY;
    req.g.version = 1;
    struct sockaddr_nl kernel = {.nl_family = AF_NETLINK};
    char buf[8192];
    ssize_t n = -1;
    if (sendto(s, &req, sizeof(req), 0, (struct sockaddr *)&kernel, sizeof(kernel)) ==
        (ssize_t)sizeof(req))
        n = recv(s, buf, sizeof(buf), 0);
    uint32_t group = n > 0 ? acpi_group_id(buf, n) : 0;
    if (!group || setsockopt(s, SOL_NETLINK, NETLINK_ADD_MEMBERSHIP, &group, sizeof(group)) < 0) {
        close(s);
        return -1;
    }
    return s;
}

/* Waits up to 300 s for a "button/power" event; returns 1 when it came. */
static int wait_power_button(void)
{
    int s = acpi_event_socket();
    if (s < 0) {
        kmsg("button", "no acpi_event netlink family");
        return 0;
    }
    kmsg("button", "waiting for the power button");
    char buf[4096];
    struct pollfd pfd = {.fd = s, .events = POLLIN};
    while (poll(&pfd, 1, 300000) > 0) {
        ssize_t n = recv(s, buf, sizeof(buf), 0);
        const struct nlmsghdr *h = (const void *)buf;
        if (n < (ssize_t)(NLMSG_HDRLEN + GENL_HDRLEN) || h->nlmsg_len > (size_t)n)
            continue;
        const struct nlattr *ev = nla_find((const char *)NLMSG_DATA(h) + GENL_HDRLEN,
                                           h->nlmsg_len - NLMSG_HDRLEN - GENL_HDRLEN, 1);
        struct acpi_genl_event e;
        if (!ev || ev->nla_len < NLA_HDRLEN + sizeof(e))
            continue;
        memcpy(&e, (const char *)ev + NLA_HDRLEN, sizeof(e));
        e.device_class[sizeof(e.device_class) - 1] = e.bus_id[sizeof(e.bus_id) - 1] = '\0';
        char line[128];
        snprintf(line, sizeof(line), "%s %s %#x", e.device_class, e.bus_id, e.type);
        kmsg("acpi_event", line);
        if (!strcmp(e.device_class, "button/power")) {
            close(s);
            return 1;
        }
    }
    close(s);
    kmsg("button", "no power button event");
    return 0;
}

static void report(const char *key, const char *path);

/* Polls `path` (every 100 ms, at most `seconds`) until its first line differs from `from`. */
static void wait_changed(const char *path, const char *from, char *out, size_t len, int seconds)
{
    for (int i = 0; i < seconds * 10; i++) {
        read_text(path, out, len);
        if (strcmp(out, from) != 0)
            return;
        usleep(100000);
    }
}

/* vm.resize 1 -> 2 -> 1 as the kernel's present mask shows it (no CPU is onlined here). */
static void cpu_cycle(void)
{
    char boot[64], now[64];
    read_text("/sys/devices/system/cpu/present", boot, sizeof(boot));
    kmsg("cpus_present_boot", boot);
    kmsg("cpus", "waiting");
    wait_changed("/sys/devices/system/cpu/present", boot, now, sizeof(now), 300);
    kmsg("cpus_present_added", now);
    report("cpus_online_added", "/sys/devices/system/cpu/online");
    char added[64];
    snprintf(added, sizeof(added), "%s", now);
    wait_changed("/sys/devices/system/cpu/present", added, now, sizeof(now), 300);
    kmsg("cpus_present_removed", now);
}

static void report(const char *key, const char *path)
{
    char v[512];
    read_text(path, v, sizeof(v));
    kmsg(key, v);
}

int main(void)
{
    mkdir("/dev", 0755);
    mkdir("/proc", 0755);
    mkdir("/sys", 0755);
    mount("devtmpfs", "/dev", "devtmpfs", 0, NULL);
    mount("proc", "/proc", "proc", 0, NULL);
    mount("sysfs", "/sys", "sysfs", 0, NULL);
    char buf[1024];
    list_dir("/sys/firmware/acpi/tables", buf, sizeof(buf));
    kmsg("tables", buf);
    list_dir("/sys/bus/pci/slots", buf, sizeof(buf));
    kmsg("slots", buf);
    report("cpus_online", "/sys/devices/system/cpu/online");
    report("cpus_possible", "/sys/devices/system/cpu/possible");
    char cmdline[4096];
    read_text("/proc/cmdline", cmdline, sizeof(cmdline));
    sync();
    if (strstr(cmdline, "acpitest=hotplug"))
        hotplug_cycle();
    if (strstr(cmdline, "acpitest=cpus"))
        cpu_cycle();
    if (strstr(cmdline, "acpitest=button") && !wait_power_button()) {
        kmsg("leaving", "reboot");
        reboot(RB_AUTOBOOT);
    }
    if (strstr(cmdline, "acpitest=reboot")) {
        kmsg("leaving", "reboot");
        reboot(RB_AUTOBOOT);
    } else {
        kmsg("leaving", "poweroff");
        reboot(RB_POWER_OFF);
    }
    kmsg("leaving", "failed");
    for (;;)
        pause();
}
