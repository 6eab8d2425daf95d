/* loader.c: reads kernel and initramfs, detects the kernel format and dispatches to its loader. */
#include "vmm/loader.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vmm/loader_formats.h"

#define ONE_MIB 0x100000ULL

uint64_t loader_low_ram_end(const struct guest_mem *gm)
{
    for (unsigned i = 0; i < gm->nr_regions; i++)
        if (gm->region[i].gpa == 0)
            return gm->region[i].size;
    return 0;
}

bool loader_overlaps_boot_area(uint64_t start, uint64_t end)
{
    static const uint64_t area[][2] = {
        {0, LAYOUT_PAGE_TABLES_END},
        {LAYOUT_CMDLINE, LAYOUT_CMDLINE + LAYOUT_CMDLINE_MAX},
        {LAYOUT_EBDA, ONE_MIB},
    };
    for (size_t i = 0; i < sizeof(area) / sizeof(area[0]); i++)
        if (start < area[i][1] && end > area[i][0])
            return true;
    return false;
}

int loader_write(const struct guest_mem *gm, uint64_t gpa, const void *src, uint64_t len)
{
    if (len == 0)
        return 0;
    void *p = gm_span_loader(gm, gpa, len);
    if (!p)
        return -1;
    memcpy(p, src, len);
    return 0;
}

int loader_zero(const struct guest_mem *gm, uint64_t gpa, uint64_t len)
{
    if (len == 0)
        return 0;
    void *p = gm_span_loader(gm, gpa, len);
    if (!p)
        return -1;
    memset(p, 0, len);
    return 0;
}

int loader_write_gdt(const struct guest_mem *gm, struct boot_entry *out)
{
    /* Flat 4 GiB segments; the TSS is a 16-byte busy 64-bit TSS at base 0, limit 0x67. */
    const uint64_t gdt[BOOT_GDT_ENTRIES] = {
        0,
        0x00cf9b000000ffffULL, /* BOOT_SEL_CODE32: 32-bit code, read/exec */
        0x00af9b000000ffffULL, /* BOOT_SEL_CODE64: long-mode code */
        0x00cf93000000ffffULL, /* BOOT_SEL_DATA: 32-bit data, read/write */
        0x00008b0000000067ULL, /* BOOT_SEL_TSS low half */
        0,                     /* BOOT_SEL_TSS high half (base 63:32) */
    };
    if (loader_write(gm, LAYOUT_GDT, gdt, sizeof(gdt)))
        return -1;
    out->gdt_base = LAYOUT_GDT;
    out->gdt_limit = BOOT_GDT_LIMIT;
    out->ds = BOOT_SEL_DATA;
    return 0;
}

int loader_write_cmdline(const struct guest_mem *gm, const char *cmdline, uint64_t max_len,
                         char *err, size_t errlen)
{
    size_t len = strlen(cmdline);
    if (max_len > LAYOUT_CMDLINE_MAX - 1)
        max_len = LAYOUT_CMDLINE_MAX - 1;
    if (len > max_len) {
        snprintf(err, errlen, "command line is %zu bytes, the kernel accepts at most %llu", len,
                 (unsigned long long)max_len);
        return -1;
    }
    if (loader_zero(gm, LAYOUT_CMDLINE, LAYOUT_CMDLINE_MAX) ||
        loader_write(gm, LAYOUT_CMDLINE, cmdline, len)) {
        snprintf(err, errlen, "guest memory too small for the command line at 0x%llx",
                 (unsigned long long)LAYOUT_CMDLINE);
        return -1;
    }
    return 0;
}

/* Reads exactly len bytes from fd at offset 0 into dst. On failure errno is 0 if the file was
 * shorter than len. */
static int read_full(int fd, uint8_t *dst, uint64_t len)
{
    uint64_t done = 0;
    errno = 0;
    while (done < len) {
        size_t chunk = len - done > (1U << 30) ? (1U << 30) : (size_t)(len - done);
        ssize_t n = pread(fd, dst + done, chunk, (off_t)done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            if (n == 0)
                errno = 0;
            return -1;
        }
        done += (uint64_t)n;
    }
    return 0;
}

int loader_place_initrd(const struct guest_mem *gm, const struct loader_input *in, uint64_t bottom,
                        uint64_t top, uint64_t *gpa, char *err, size_t errlen)
{
    *gpa = 0;
    if (!in->initrd_path)
        return 0;
    uint64_t low_end = loader_low_ram_end(gm);
    if (top > low_end)
        top = low_end;
    if (bottom < ONE_MIB)
        bottom = ONE_MIB;
    uint64_t size = in->initrd_size;
    uint64_t start = size <= top ? (top - size) & ~(GM_PAGE_SIZE - 1) : 0;
    if (size > top || start < bottom) {
        snprintf(err, errlen,
                 "initramfs %s (%llu bytes) does not fit in guest RAM between the kernel end "
                 "0x%llx and 0x%llx",
                 in->initrd_path, (unsigned long long)size, (unsigned long long)bottom,
                 (unsigned long long)top);
        return -1;
    }
    uint8_t *dst = gm_span_loader(gm, start, size);
    if (!dst) {
        snprintf(err, errlen, "initramfs %s: 0x%llx+%llu is not guest RAM", in->initrd_path,
                 (unsigned long long)start, (unsigned long long)size);
        return -1;
    }
    if (read_full(in->initrd_fd, dst, size)) {
        snprintf(err, errlen, "cannot read initramfs %s: %s", in->initrd_path,
                 errno ? strerror(errno) : "file shrank while reading");
        return -1;
    }
    *gpa = start;
    return 0;
}

/* Opens path as a regular file no larger than guest RAM (O_NONBLOCK: a FIFO must not block the
 * open). Returns the fd or -1 with err set. */
static int open_input(const struct guest_mem *gm, const char *what, const char *path,
                      uint64_t *size, char *err, size_t errlen)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) {
        snprintf(err, errlen, "cannot open %s %s: %s", what, path, strerror(errno));
        return -1;
    }
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        snprintf(err, errlen, "%s %s is not a regular file", what, path);
        close(fd);
        return -1;
    }
    if (st.st_size == 0) {
        snprintf(err, errlen, "%s %s is empty", what, path);
        close(fd);
        return -1;
    }
    if ((uint64_t)st.st_size > gm->ram_size) {
        snprintf(err, errlen, "%s %s (%llu bytes) is larger than guest memory (%llu bytes)", what,
                 path, (unsigned long long)st.st_size, (unsigned long long)gm->ram_size);
        close(fd);
        return -1;
    }
    *size = (uint64_t)st.st_size;
    return fd;
}

static int load_files(const struct guest_mem *gm, const struct load_request *req,
                      struct loader_input *in, struct boot_entry *out, char *err, size_t errlen)
{
    int kfd = open_input(gm, "kernel", req->kernel, &in->kernel_size, err, errlen);
    if (kfd < 0)
        return -1;
    uint8_t *buf = malloc(in->kernel_size);
    int rc = -1;
    if (!buf) {
        snprintf(err, errlen, "out of memory reading kernel %s", req->kernel);
    } else if (read_full(kfd, buf, in->kernel_size)) {
        snprintf(err, errlen, "cannot read kernel %s: %s", req->kernel,
                 errno ? strerror(errno) : "file shrank while reading");
    } else {
        in->kernel = buf;
        if (bzimage_detect(buf, in->kernel_size))
            rc = bzimage_load(gm, in, out, err, errlen);
        else if (elf_detect(buf, in->kernel_size))
            rc = pvh_load(gm, in, out, err, errlen);
        else
            snprintf(err, errlen,
                     "kernel %s is neither a bzImage nor an ELF vmlinux with a PVH note",
                     req->kernel);
    }
    free(buf);
    in->kernel = NULL;
    close(kfd);
    return rc;
}

int loader_load(const struct guest_mem *gm, const struct load_request *req, struct boot_entry *out,
                char *err, size_t errlen)
{
    memset(out, 0, sizeof(*out));
    if (!req || !req->kernel) {
        snprintf(err, errlen, "no kernel given");
        return -1;
    }
    struct loader_input in = {
        .kernel_path = req->kernel,
        .initrd_fd = -1,
        .cmdline = req->cmdline ? req->cmdline : "",
        .acpi_rsdp = req->acpi_rsdp,
        .acpi_base = req->acpi_base,
        .acpi_len = req->acpi_len,
    };
    if (req->initramfs) {
        in.initrd_path = req->initramfs;
        in.initrd_fd = open_input(gm, "initramfs", req->initramfs, &in.initrd_size, err, errlen);
        if (in.initrd_fd < 0)
            return -1;
    }
    int rc = load_files(gm, req, &in, out, err, errlen);
    if (in.initrd_fd >= 0)
        close(in.initrd_fd);
    return rc;
}

int loader_e820(const struct guest_mem *gm, const struct loader_input *in, struct e820_entry *map,
                unsigned max)
{
    int n = e820_build(gm, map, max);
    if (n >= 0 && in->acpi_len)
        n = e820_carve(map, n, max, in->acpi_base, in->acpi_len, E820_ACPI);
    return n;
}
