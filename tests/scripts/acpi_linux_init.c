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
 *                       block device that cocoon hot-adds, prints its first 16 bytes, powers off
 */
#include <dirent.h>
#include <linux/netlink.h>
#include <poll.h>
#include <sys/socket.h>
#include <fcntl.h>
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

/* Waits up to 300 s for a "add@.../block/vdX" uevent (no rescan, no polling of sysfs), then reads
 * the disk's first bytes through the devtmpfs node. */
static void wait_hotplugged_disk(void)
{
    int s = socket(AF_NETLINK, SOCK_DGRAM, NETLINK_KOBJECT_UEVENT);
    struct sockaddr_nl sa = {.nl_family = AF_NETLINK, .nl_groups = 1};
    if (s < 0 || bind(s, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        kmsg("hotplug", "no uevent socket");
        return;
    }
    kmsg("hotplug", "waiting for a block device");
    char msg[4096], dev[64] = "";
    struct pollfd pfd = {.fd = s, .events = POLLIN};
    while (!dev[0] && poll(&pfd, 1, 300000) > 0) {
        ssize_t n = recv(s, msg, sizeof(msg) - 1, 0);
        if (n <= 0)
            continue;
        msg[n] = '\0';
        const char *b = strstr(msg, "/block/vd");
        if (strncmp(msg, "add@", 4) == 0 && b && !strchr(b + 7, '/'))
            snprintf(dev, sizeof(dev), "/dev/%s", b + 7);
    }
    close(s);
    if (!dev[0]) {
        kmsg("hotplug", "no block add uevent");
        return;
    }
    kmsg("block_add", dev);
    unsigned char data[16];
    char hex[64] = "";
    int fd = -1;
    for (int i = 0; i < 100 && fd < 0; i++, usleep(20000))
        fd = open(dev, O_RDONLY);
    if (fd < 0 || read(fd, data, sizeof(data)) != (ssize_t)sizeof(data)) {
        kmsg("block_data", "unreadable");
    } else {
        for (unsigned i = 0; i < sizeof(data); i++)
            snprintf(hex + 2 * i, 3, "%02x", data[i]);
        kmsg("block_data", hex);
    }
    if (fd >= 0)
        close(fd);
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
        wait_hotplugged_disk();
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
