/* config_cases.c: the shared validation table (CLI and vm.create) and its fixture files. */
#include "config_cases.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define K "--kernel @KERNEL@"
#define P "\"payload\":{\"kernel\":\"@KERNEL@\"}"

const struct config_case config_cases[] = {
    {"minimal", K, "{" P "}", true, NULL},
    {"kata_like", K " --cpus boot=2,max=4 --memory size=1G --disk path=@DISK@,readonly=on",
     "{\"cpus\":{\"boot_vcpus\":2,\"max_vcpus\":4},\"memory\":{\"size\":1073741824}," P
     ",\"disks\":[{\"path\":\"@DISK@\",\"readonly\":true}]}",
     true, NULL},
    {"cpus_zero", K " --cpus boot=0", "{\"cpus\":{\"boot_vcpus\":0}," P "}", false,
     "vCPU count 0 is out of range"},
    {"cpus_too_many", K " --cpus boot=255", "{\"cpus\":{\"boot_vcpus\":255}," P "}", false,
     "vCPU count 255 is out of range"},
    {"cpus_max_below_boot", K " --cpus boot=4,max=2",
     "{\"cpus\":{\"boot_vcpus\":4,\"max_vcpus\":2}," P "}", false, "max vCPU count 2"},
    {"memory_too_small", K " --memory size=1M", "{\"memory\":{\"size\":1048576}," P "}", false,
     "memory size 1048576 is out of range"},
    {"memory_too_large", K " --memory size=2T", "{\"memory\":{\"size\":2199023255552}," P "}",
     false, "is out of range"},
    {"memory_unaligned", K " --memory size=16777217", "{\"memory\":{\"size\":16777217}," P "}",
     false, "multiple of 4 KiB"},
    {"kernel_missing", "--kernel @MISSING@", "{\"payload\":{\"kernel\":\"@MISSING@\"}}", false,
     "cannot open kernel"},
    {"kernel_empty", "--kernel @EMPTY@", "{\"payload\":{\"kernel\":\"@EMPTY@\"}}", false,
     "is empty"},
    {"kernel_is_dir", "--kernel @DIR@", "{\"payload\":{\"kernel\":\"@DIR@\"}}", false,
     "not a regular file"},
    {"initramfs_ok", K " --initramfs @INITRAMFS@",
     "{\"payload\":{\"kernel\":\"@KERNEL@\",\"initramfs\":\"@INITRAMFS@\"}}", true, NULL},
    {"initramfs_missing", K " --initramfs @MISSING@",
     "{\"payload\":{\"kernel\":\"@KERNEL@\",\"initramfs\":\"@MISSING@\"}}", false,
     "cannot open initramfs"},
    {"initramfs_empty", K " --initramfs @EMPTY@",
     "{\"payload\":{\"kernel\":\"@KERNEL@\",\"initramfs\":\"@EMPTY@\"}}", false, "initramfs '"},
    {"vsock_socket_on_serial_file", K " --serial file=@SOCK@ --vsock cid=3,socket=@SOCK@",
     "{" P ",\"serial\":{\"mode\":\"File\",\"file\":\"@SOCK@\"},"
     "\"vsock\":{\"cid\":3,\"socket\":\"@SOCK@\"}}",
     false, "serial file and vsock socket name the same path"},
    {"vsock_socket_on_kernel", K " --vsock cid=3,socket=@KERNEL@",
     "{" P ",\"vsock\":{\"cid\":3,\"socket\":\"@KERNEL@\"}}", false,
     "kernel and vsock socket name the same path"},
    {"disk_missing_image", K " --disk path=@MISSING@",
     "{" P ",\"disks\":[{\"path\":\"@MISSING@\"}]}", false, "cannot open disk image"},
    {"disk_image_is_directory", K " --disk path=@DIR@", "{" P ",\"disks\":[{\"path\":\"@DIR@\"}]}",
     false, "Is a directory"},
    {"disk_duplicate_id", K " --disk path=@DISK@,id=d0 --disk path=@DISK@,id=d0",
     "{" P ",\"disks\":[{\"path\":\"@DISK@\",\"id\":\"d0\"},{\"path\":\"@DISK@\",\"id\":\"d0\"}]}",
     false, "duplicate device id"},
    {"disk_and_net_share_id", K " --disk path=@DISK@,id=x --net tap=tap0,id=x",
     "{" P ",\"disks\":[{\"path\":\"@DISK@\",\"id\":\"x\"}],"
     "\"net\":[{\"tap\":\"tap0\",\"id\":\"x\"}]}",
     false, "duplicate device id"},
    {"vsock_ok", K " --vsock cid=3,socket=@SOCK@",
     "{" P ",\"vsock\":{\"cid\":3,\"socket\":\"@SOCK@\"}}", true, NULL},
    {"serial_file_ok", K " --serial file=@DIR@/serial.log",
     "{" P ",\"serial\":{\"mode\":\"File\",\"file\":\"@DIR@/serial.log\"}}", true, NULL},
    {"tdx_firmware_and_kernel", K " --firmware @FIRMWARE@ --platform tdx=on",
     "{\"payload\":{\"kernel\":\"@KERNEL@\",\"firmware\":\"@FIRMWARE@\"},"
     "\"platform\":{\"tdx\":true}}",
     true, NULL},
    {"snp_kernel", K " --platform sev_snp=on", "{" P ",\"platform\":{\"sev_snp\":true}}", true,
     NULL},
    {"firmware_missing", "--firmware @MISSING@", "{\"payload\":{\"firmware\":\"@MISSING@\"}}",
     false, "cannot open firmware"},
    {"tee_without_payload", "--platform tdx=on", "{\"platform\":{\"tdx\":true}}", false,
     "confidential guest needs"},
};
const size_t config_cases_count = sizeof(config_cases) / sizeof(config_cases[0]);

static char fixture_dir[64];

static int write_file(const char *name, size_t size)
{
    char path[128];
    snprintf(path, sizeof(path), "%s/%s", fixture_dir, name);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return -1;
    static const char fill[4096] = "cocoon test fixture";
    int rc = 0;
    for (size_t done = 0; done < size && rc == 0;) {
        size_t n = size - done < sizeof(fill) ? size - done : sizeof(fill);
        if (write(fd, fill, n) != (ssize_t)n)
            rc = -1;
        done += n;
    }
    close(fd);
    return rc;
}

int config_fixture_setup(void)
{
    snprintf(fixture_dir, sizeof(fixture_dir), "/tmp/cocoon-cfg-XXXXXX");
    if (!mkdtemp(fixture_dir))
        return -1;
    char dir[128];
    snprintf(dir, sizeof(dir), "%s/dir", fixture_dir);
    if (write_file("kernel", 8192) < 0 || write_file("initramfs", 4096) < 0 ||
        write_file("firmware", 65536) < 0 || write_file("disk.img", 1 << 20) < 0 ||
        write_file("empty", 0) < 0 || mkdir(dir, 0700) < 0)
        return -1;
    return 0;
}

void config_fixture_teardown(void)
{
    static const char *const names[] = {"kernel",   "initramfs", "firmware",
                                        "disk.img", "empty",     "dir/serial.log"};
    char path[128];
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        snprintf(path, sizeof(path), "%s/%s", fixture_dir, names[i]);
        unlink(path);
    }
    snprintf(path, sizeof(path), "%s/dir", fixture_dir);
    rmdir(path);
    rmdir(fixture_dir);
}

static const struct {
    const char *key;
    const char *file; /* relative to the fixture folder; "" is the folder itself */
} placeholders[] = {
    {"@KERNEL@", "kernel"},  {"@INITRAMFS@", "initramfs"}, {"@FIRMWARE@", "firmware"},
    {"@DISK@", "disk.img"},  {"@EMPTY@", "empty"},         {"@DIR@", "dir"},
    {"@MISSING@", "absent"}, {"@SOCK@", "vsock.sock"},
};

int config_case_expand(const char *tmpl, char *out, size_t outlen)
{
    size_t o = 0;
    while (*tmpl) {
        size_t i, n = sizeof(placeholders) / sizeof(placeholders[0]);
        for (i = 0; i < n; i++)
            if (strncmp(tmpl, placeholders[i].key, strlen(placeholders[i].key)) == 0)
                break;
        char piece[160];
        size_t plen;
        if (i < n) {
            snprintf(piece, sizeof(piece), "%s/%s", fixture_dir, placeholders[i].file);
            plen = strlen(piece);
            tmpl += strlen(placeholders[i].key);
        } else {
            piece[0] = *tmpl++;
            plen = 1;
        }
        if (o + plen + 1 > outlen)
            return -1;
        memcpy(out + o, piece, plen);
        o += plen;
    }
    out[o] = '\0';
    return 0;
}

int config_case_argv(char *cli, char **argv, int max)
{
    int argc = 0;
    argv[argc++] = "cocoon";
    for (char *save = NULL, *tok = strtok_r(cli, " ", &save); tok && argc < max - 1;
         tok = strtok_r(NULL, " ", &save))
        argv[argc++] = tok;
    argv[argc] = NULL;
    return argc;
}
