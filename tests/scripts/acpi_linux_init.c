/* acpi_linux_init.c: /init of the ACPI Linux test guest: reports what Linux took from cocoon's
 * ACPI tables, then leaves the way the command line says, through ACPI. */
/*
 * Static program (gcc -static), packed alone into an initramfs by tests/cmake/acpi.cmake. It
 * prints "acpi-init: <key> = <value>" lines through /dev/kmsg (so they reach the serial console
 * whole): the tables under /sys/firmware/acpi/tables, the online and possible CPUs, the ACPI
 * hot-plug slots under /sys/bus/pci/slots. Then, by "acpitest=" on the kernel command line:
 *   poweroff (default)  reboot(RB_POWER_OFF): ACPI S5 through the FADT sleep registers
 *   reboot              reboot(RB_AUTOBOOT): the FADT reset register (without reboot=k)
 */
#include <dirent.h>
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
