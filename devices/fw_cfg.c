/* fw_cfg.c: the QEMU fw_cfg device (ports 0x510/0x511, DMA at 0x514, file directory) serving the
 * firmware its files and the kernel, initrd and command line (as the SEV hashes table hashes them).
 */
#include "devices/fw_cfg.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vmm/base/log.h"

#define MAX_FILE_LEN   0xFFFFFFFFULL /* items have 32-bit sizes */
#define ACPI_DATA_SIZE 0x28000ULL    /* what QEMU's pc machine keeps below the initrd */
#define NO_ITEM        0xFFFF

static const uint8_t ELF_MAGIC[4] = {0x7f, 'E', 'L', 'F'};
static const uint8_t DMA_SIGNATURE[8] = {'Q', 'E', 'M', 'U', ' ', 'C', 'F', 'G'};

struct fw_cfg_item {
    const uint8_t *data;
    uint32_t len;
};

struct fw_cfg {
    pthread_mutex_t lock;
    const struct guest_mem *gm;
    struct fw_cfg_item items[FW_CFG_NR_ITEMS];
    uint8_t ints[FW_CFG_NR_ITEMS][8]; /* little-endian integer items live here */
    uint8_t uuid[16];
    uint64_t real_addr, cmdline_addr; /* where the option ROM puts setup and command line */
    bool pvh;
    uint16_t cur; /* selected key, NO_ITEM if none valid */
    uint32_t offset;
    uint64_t dma_addr;
    uint64_t dma_errors;
    uint8_t *kernel_file;
    uint8_t *initrd;
    char *cmdline;
    struct {
        char name[FW_CFG_MAX_NAME];
        uint8_t *data;
        uint32_t len;
    } files[FW_CFG_MAX_FILES];
    unsigned nr_files;
    uint8_t dir[4 + FW_CFG_MAX_FILES * FW_CFG_DIR_ENTRY_LEN];
    struct log_ratelimit rl;
    fw_cfg_access_fn on_access; /* set before the guest runs; called without the lock */
    void *access_opaque;
};

static uint32_t get_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static void put_le16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

static void put_le32(uint8_t *p, uint32_t v)
{
    put_le16(p, (uint16_t)v);
    put_le16(p + 2, (uint16_t)(v >> 16));
}

static uint16_t get_le16(const uint8_t *p)
{
    return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t get_le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* ---- Building the items ---- */

static void set_item(struct fw_cfg *fw, uint16_t key, const void *data, uint32_t len)
{
    fw->items[key].data = data;
    fw->items[key].len = len;
}

/* An integer item of `width` bytes, little-endian as QEMU's fw_cfg_add_i16/i32/i64 store it. */
static void set_int(struct fw_cfg *fw, uint16_t key, uint64_t v, uint32_t width)
{
    for (uint32_t i = 0; i < width; i++)
        fw->ints[key][i] = (uint8_t)(v >> (8 * i));
    set_item(fw, key, fw->ints[key], width);
}

/* Reads a whole regular file (at most MAX_FILE_LEN bytes) into a malloc'd buffer. */
static uint8_t *read_file(const char *what, const char *path, uint64_t *len, char *err,
                          size_t errlen)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK); /* a FIFO must not block the open */
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0) {
        snprintf(err, errlen, "fw_cfg: cannot open the %s %s: %s", what, path, strerror(errno));
        if (fd >= 0)
            close(fd);
        return NULL;
    }
    if (!S_ISREG(st.st_mode) || (uint64_t)st.st_size > MAX_FILE_LEN) {
        snprintf(err, errlen, "fw_cfg: the %s %s is not a regular file below 4 GiB", what, path);
        close(fd);
        return NULL;
    }
    uint64_t size = (uint64_t)st.st_size;
    uint8_t *buf = malloc(size ? size : 1);
    uint64_t got = 0;
    while (buf && got < size) {
        ssize_t r = read(fd, buf + got, size - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            snprintf(err, errlen, "fw_cfg: cannot read the %s %s: %s", what, path,
                     r < 0 ? strerror(errno) : "file shrank");
            free(buf);
            close(fd);
            return NULL;
        }
        got += (uint64_t)r;
    }
    close(fd);
    if (!buf)
        snprintf(err, errlen, "fw_cfg: out of memory for the %s", what);
    *len = size;
    return buf;
}

/* Kernel items as QEMU's x86_load_linux sets them for a bzImage, the file left unmodified. */
static int add_kernel(struct fw_cfg *fw, const char *path, uint32_t cmdline_len, char *err,
                      size_t errlen)
{
    uint64_t size = 0;
    fw->kernel_file = read_file("kernel", path, &size, err, errlen);
    if (!fw->kernel_file)
        return -1;
    const uint8_t *h = fw->kernel_file;
    if (size < 0x240 || memcmp(h + 0x202, "HdrS", 4) != 0 || get_le16(h + 0x206) < 0x200) {
        snprintf(err, errlen, "fw_cfg: %s is not a bzImage (boot protocol >= 2.00)", path);
        return -1;
    }
    uint16_t protocol = get_le16(h + 0x206);
    uint64_t setup = h[0x1f1] ? h[0x1f1] : 4;
    setup = (setup + 1) * 512;
    if (setup > size) {
        snprintf(err, errlen, "fw_cfg: %s has an invalid setup header (setup beyond the file)",
                 path);
        return -1;
    }
    uint64_t real_addr, cmdline_addr, prot_addr;
    if (!(h[0x211] & 0x01)) { /* not LOADED_HIGH: a zImage */
        real_addr = 0x90000;
        cmdline_addr = 0x9a000;
        prot_addr = 0x10000;
    } else if (protocol < 0x202) {
        real_addr = 0x90000;
        cmdline_addr = 0x9a000 - ((cmdline_len - 1 + 16) & ~15u); /* QEMU rounds to 16 */
        prot_addr = 0x100000;
    } else {
        real_addr = 0x10000;
        cmdline_addr = 0x20000;
        prot_addr = 0x100000;
    }
    set_int(fw, FW_CFG_SETUP_ADDR, real_addr, 4);
    set_int(fw, FW_CFG_SETUP_SIZE, setup, 4);
    set_item(fw, FW_CFG_SETUP_DATA, fw->kernel_file, (uint32_t)setup);
    set_int(fw, FW_CFG_KERNEL_ADDR, prot_addr, 4);
    set_int(fw, FW_CFG_KERNEL_SIZE, size - setup, 4);
    set_item(fw, FW_CFG_KERNEL_DATA, fw->kernel_file + setup, (uint32_t)(size - setup));
    set_int(fw, FW_CFG_CMDLINE_ADDR, cmdline_addr, 4);
    fw->real_addr = real_addr;
    fw->cmdline_addr = cmdline_addr;
    return 0;
}

/* An ELF kernel for pvh.bin: the entry and the file's first 8 KiB (QEMU's `header`). */
static int add_pvh_kernel(struct fw_cfg *fw, const char *path, uint32_t entry, char *err,
                          size_t errlen)
{
    uint64_t size = 0;
    fw->kernel_file = read_file("kernel", path, &size, err, errlen);
    if (!fw->kernel_file)
        return -1;
    if (size < 64 || memcmp(fw->kernel_file, ELF_MAGIC, 4) != 0) {
        snprintf(err, errlen, "fw_cfg: %s is not an ELF kernel", path);
        return -1;
    }
    fw->pvh = true;
    set_int(fw, FW_CFG_KERNEL_ENTRY, entry, 4);
    set_int(fw, FW_CFG_SETUP_SIZE, size < 8192 ? size : 8192, 4);
    set_item(fw, FW_CFG_SETUP_DATA, fw->kernel_file, (uint32_t)(size < 8192 ? size : 8192));
    return 0;
}

/* QEMU's x86_load_linux header patches for a guest that is not confidential: the option ROM
 * jumps into the setup code, which takes the command line and initrd from these fields. */
static void patch_setup_header(struct fw_cfg *fw)
{
    uint8_t *h = fw->kernel_file;
    uint16_t protocol = get_le16(h + 0x206);
    if (protocol >= 0x202) {
        put_le32(h + 0x228, (uint32_t)fw->cmdline_addr); /* cmd_line_ptr */
    } else {
        put_le16(h + 0x20, 0xA33F); /* old command-line protocol: magic, then offset */
        put_le16(h + 0x22, (uint16_t)(fw->cmdline_addr - fw->real_addr));
    }
    h[0x210] = 0xB0; /* type_of_loader: "Qemu" */
    if (protocol >= 0x201) {
        h[0x211] |= 0x80; /* CAN_USE_HEAP */
        put_le16(h + 0x224, (uint16_t)(fw->cmdline_addr - fw->real_addr - 0x200));
    }
    if (fw->initrd) {
        put_le32(h + 0x218, get_le32(fw->ints[FW_CFG_INITRD_ADDR])); /* ramdisk_image */
        put_le32(h + 0x21C, fw->items[FW_CFG_INITRD_DATA].len);      /* ramdisk_size */
    }
}

/* Initrd items; the address is QEMU's: below initrd_addr_max and the ACPI reserve, 4K aligned. */
static int add_initrd(struct fw_cfg *fw, const char *path, uint64_t ram_size, char *err,
                      size_t errlen)
{
    uint64_t size = 0;
    fw->initrd = read_file("initrd", path, &size, err, errlen);
    if (!fw->initrd)
        return -1;
    const uint8_t *h = fw->kernel_file;
    uint64_t max = 0xffffffff; /* PVH: only the RAM below 4 GiB limits it (x86_load_linux) */
    if (!fw->pvh)
        max = get_le16(h + 0x206) >= 0x203 ? get_le32(h + 0x22c) : 0x37ffffff;
    uint64_t below_4g = ram_size < GM_LOW_RAM_END ? ram_size : GM_LOW_RAM_END;
    if (below_4g <= ACPI_DATA_SIZE) {
        snprintf(err, errlen, "fw_cfg: too little memory for an initrd");
        return -1;
    }
    if (max >= below_4g - ACPI_DATA_SIZE)
        max = below_4g - ACPI_DATA_SIZE - 1;
    if (size > max) {
        snprintf(err, errlen, "fw_cfg: the initrd %s (%llu bytes) does not fit below %#llx", path,
                 (unsigned long long)size, (unsigned long long)max);
        return -1;
    }
    set_int(fw, FW_CFG_INITRD_ADDR, (max - size) & ~0xfffULL, 4);
    set_int(fw, FW_CFG_INITRD_SIZE, size, 4);
    set_item(fw, FW_CFG_INITRD_DATA, fw->initrd, (uint32_t)size);
    return 0;
}

struct fw_cfg *fw_cfg_new(const struct guest_mem *gm, const struct fw_cfg_config *cfg, char *err,
                          size_t errlen)
{
    struct fw_cfg *fw = calloc(1, sizeof(*fw));
    const char *cmdline = cfg->cmdline ? cfg->cmdline : "";
    size_t cmdline_len = strlen(cmdline) + 1; /* served and hashed with its NUL */
    if (!fw || cmdline_len > 0x100000 || !(fw->cmdline = strdup(cmdline))) {
        snprintf(err, errlen, "fw_cfg: out of memory or command line too long");
        free(fw);
        return NULL;
    }
    pthread_mutex_init(&fw->lock, NULL);
    fw->gm = gm;
    fw->cur = NO_ITEM;
    fw->rl = (struct log_ratelimit)LOG_RATELIMIT_INIT;
    set_item(fw, FW_CFG_SIGNATURE, "QEMU", 4);
    set_int(fw, FW_CFG_ID, FW_CFG_ID_TRADITIONAL | FW_CFG_ID_DMA, 4);
    set_item(fw, FW_CFG_UUID, fw->uuid, sizeof(fw->uuid));
    set_int(fw, FW_CFG_RAM_SIZE, cfg->ram_size, 8);
    set_int(fw, FW_CFG_NB_CPUS, cfg->nb_cpus, 2);
    set_int(fw, FW_CFG_MAX_CPUS, cfg->max_cpus ? cfg->max_cpus : cfg->nb_cpus, 2);
    set_int(fw, FW_CFG_BOOT_MENU, 0, 2);       /* no boot menu, no menu timeout */
    set_item(fw, FW_CFG_FILE_DIR, fw->dir, 4); /* be32 count = 0 */
    if (!cfg->kernel)
        return fw;
    set_int(fw, FW_CFG_CMDLINE_SIZE, cmdline_len, 4);
    set_item(fw, FW_CFG_CMDLINE_DATA, fw->cmdline, (uint32_t)cmdline_len);
    int krc = cfg->pvh_entry ? add_pvh_kernel(fw, cfg->kernel, cfg->pvh_entry, err, errlen)
                             : add_kernel(fw, cfg->kernel, (uint32_t)cmdline_len, err, errlen);
    if (krc < 0 || (cfg->initrd && add_initrd(fw, cfg->initrd, cfg->ram_size, err, errlen) < 0)) {
        fw_cfg_free(fw);
        return NULL;
    }
    if (cfg->patch_setup && !fw->pvh)
        patch_setup_header(fw);
    return fw;
}

void fw_cfg_free(void *opaque)
{
    struct fw_cfg *fw = opaque;
    if (!fw)
        return;
    pthread_mutex_destroy(&fw->lock);
    free(fw->kernel_file);
    free(fw->initrd);
    free(fw->cmdline);
    for (unsigned i = 0; i < fw->nr_files; i++)
        free(fw->files[i].data);
    free(fw);
}

/* FILE_DIR and the file items from files[] (kept sorted by name). */
static void rebuild_directory(struct fw_cfg *fw)
{
    put_be32(fw->dir, fw->nr_files);
    for (unsigned i = 0; i < fw->nr_files; i++) {
        uint8_t *e = fw->dir + 4 + i * FW_CFG_DIR_ENTRY_LEN;
        uint16_t key = (uint16_t)(FW_CFG_FILE_FIRST + i);
        memset(e, 0, FW_CFG_DIR_ENTRY_LEN);
        put_be32(e, fw->files[i].len);
        e[4] = (uint8_t)(key >> 8);
        e[5] = (uint8_t)key;
        memcpy(e + 8, fw->files[i].name, strlen(fw->files[i].name));
        set_item(fw, key, fw->files[i].data, fw->files[i].len);
    }
    set_item(fw, FW_CFG_FILE_DIR, fw->dir, 4 + fw->nr_files * FW_CFG_DIR_ENTRY_LEN);
}

int fw_cfg_add_file(struct fw_cfg *fw, const char *name, const void *data, uint32_t len)
{
    size_t n = name ? strlen(name) : 0;
    if (n == 0 || n >= FW_CFG_MAX_NAME || fw->nr_files == FW_CFG_MAX_FILES)
        return -1;
    unsigned at = 0;
    while (at < fw->nr_files && strcmp(fw->files[at].name, name) < 0)
        at++;
    if (at < fw->nr_files && strcmp(fw->files[at].name, name) == 0)
        return -1;
    uint8_t *copy = malloc(len ? len : 1);
    if (!copy)
        return -1;
    if (len)
        memcpy(copy, data, len);
    pthread_mutex_lock(&fw->lock);
    memmove(&fw->files[at + 1], &fw->files[at], (fw->nr_files - at) * sizeof(fw->files[0]));
    memset(fw->files[at].name, 0, sizeof(fw->files[at].name));
    memcpy(fw->files[at].name, name, n);
    fw->files[at].data = copy;
    fw->files[at].len = len;
    fw->nr_files++;
    rebuild_directory(fw);
    pthread_mutex_unlock(&fw->lock);
    return 0;
}

/* The index of the file called name that can take len bytes, or -1. Under fw->lock. */
static int file_fitting(const struct fw_cfg *fw, const char *name, uint32_t len)
{
    for (unsigned i = 0; i < fw->nr_files; i++)
        if (strcmp(fw->files[i].name, name) == 0)
            return len <= fw->files[i].len ? (int)i : -1;
    return -1;
}

int fw_cfg_update_files(struct fw_cfg *fw, const struct fw_cfg_file_update *u, unsigned n)
{
    int rc = 0;
    pthread_mutex_lock(&fw->lock);
    for (unsigned k = 0; k < n && rc == 0; k++) /* all fit, or nothing is touched */
        rc = file_fitting(fw, u[k].name, u[k].len) < 0 ? -1 : 0;
    for (unsigned k = 0; k < n && rc == 0; k++) {
        int i = file_fitting(fw, u[k].name, u[k].len);
        /* In place: the directory's size stays what the firmware read at start-up. */
        memcpy(fw->files[i].data, u[k].data, u[k].len);
        memset(fw->files[i].data + u[k].len, 0, fw->files[i].len - u[k].len);
    }
    pthread_mutex_unlock(&fw->lock);
    return rc;
}

int fw_cfg_update_file(struct fw_cfg *fw, const char *name, const void *data, uint32_t len)
{
    const struct fw_cfg_file_update u = {name, data, len};
    return fw_cfg_update_files(fw, &u, 1);
}

void fw_cfg_set_access_hook(struct fw_cfg *fw, fw_cfg_access_fn fn, void *opaque)
{
    fw->on_access = fn;
    fw->access_opaque = opaque;
}

/* Before a selector write or a DMA request: the owner may refresh files (no lock held here). */
static void before_access(struct fw_cfg *fw)
{
    if (fw->on_access)
        fw->on_access(fw->access_opaque, fw);
}

uint64_t fw_cfg_dma_errors(struct fw_cfg *fw)
{
    pthread_mutex_lock(&fw->lock);
    uint64_t n = fw->dma_errors;
    pthread_mutex_unlock(&fw->lock);
    return n;
}

/* ---- Selector and data port ---- */

static void select_item(struct fw_cfg *fw, uint16_t key)
{
    fw->offset = 0;
    fw->cur = key < FW_CFG_NR_ITEMS && fw->items[key].data ? key : NO_ITEM;
}

static const struct fw_cfg_item *current(const struct fw_cfg *fw)
{
    return fw->cur == NO_ITEM ? NULL : &fw->items[fw->cur];
}

void fw_cfg_comb_io(void *opaque, uint64_t offset, void *data, uint32_t len, bool is_write)
{
    struct fw_cfg *fw = opaque;
    uint8_t *d = data;
    if (is_write && offset == 0 && len == 2)
        before_access(fw);
    pthread_mutex_lock(&fw->lock);
    if (is_write) {
        if (offset == 0 && len == 2) /* selector; 8-bit data writes are ignored, as in QEMU */
            select_item(fw, (uint16_t)(d[0] | d[1] << 8));
    } else {
        memset(d, 0, len);
        const struct fw_cfg_item *it = current(fw);
        if (len == 1 && it && fw->offset < it->len)
            d[0] = it->data[fw->offset++];
    }
    pthread_mutex_unlock(&fw->lock);
}

/* ---- DMA ---- */

/* Zero-fills or copies item bytes into guest memory; 0, or -1 if the range is refused. */
static int dma_to_guest(const struct fw_cfg *fw, uint64_t gpa, const uint8_t *src, uint32_t len)
{
    if (src)
        return gm_write(fw->gm, gpa, src, len);
    uint8_t *p = gm_span(fw->gm, gpa, len);
    if (!p)
        return -1;
    memset(p, 0, len);
    return 0;
}

/* One FWCfgDmaAccess: returns the control word to write back (0 or ERROR). */
static uint32_t dma_transfer(struct fw_cfg *fw, uint32_t control, uint32_t length, uint64_t addr)
{
    if (control & FW_CFG_DMA_CTL_SELECT)
        select_item(fw, (uint16_t)(control >> 16));
    bool read = control & FW_CFG_DMA_CTL_READ;
    if (!read && (control & FW_CFG_DMA_CTL_WRITE))
        return FW_CFG_DMA_CTL_ERROR; /* no item is writable */
    if (!read && !(control & FW_CFG_DMA_CTL_SKIP))
        return 0;
    const struct fw_cfg_item *it = current(fw);
    while (length > 0) {
        uint32_t n = length;
        const uint8_t *src = NULL; /* past the item's end: zeros */
        if (it && fw->offset < it->len) {
            uint32_t left = it->len - fw->offset;
            n = length < left ? length : left;
            src = it->data + fw->offset;
            fw->offset += n;
        }
        if (read && dma_to_guest(fw, addr, src, n) < 0)
            return FW_CFG_DMA_CTL_ERROR;
        if (addr + n < addr) /* the next chunk would wrap: refuse */
            return length == n ? 0 : FW_CFG_DMA_CTL_ERROR;
        addr += n;
        length -= n;
    }
    return 0;
}

/* The guest wrote the descriptor's low half: copy the descriptor once, run it, report. */
static void dma_kick(struct fw_cfg *fw)
{
    uint8_t desc[FW_CFG_DMA_DESC_LEN];
    uint64_t at = fw->dma_addr;
    fw->dma_addr = 0;
    if (gm_read(fw->gm, at, desc, sizeof(desc)) < 0) {
        fw->dma_errors++;
        log_limited(&fw->rl, LOG_LVL_WARN,
                    "fw_cfg: DMA descriptor at %#llx is not in shared guest RAM; ignored",
                    (unsigned long long)at);
        return;
    }
    uint64_t addr = (uint64_t)get_be32(desc + 8) << 32 | get_be32(desc + 12);
    uint32_t status = dma_transfer(fw, get_be32(desc), get_be32(desc + 4), addr);
    if (status)
        fw->dma_errors++;
    uint8_t out[4];
    put_be32(out, status);
    if (gm_write(fw->gm, at, out, sizeof(out)) < 0)
        log_limited(&fw->rl, LOG_LVL_WARN, "fw_cfg: cannot write the DMA status at %#llx",
                    (unsigned long long)at);
}

void fw_cfg_dma_io(void *opaque, uint64_t offset, void *data, uint32_t len, bool is_write)
{
    struct fw_cfg *fw = opaque;
    uint8_t *d = data;
    if (is_write && ((offset == 4 && len == 4) || (offset == 0 && len == 8)))
        before_access(fw); /* this write starts a request */
    pthread_mutex_lock(&fw->lock);
    if (!is_write) { /* reads give the "QEMU CFG" signature bytes */
        for (uint32_t i = 0; i < len; i++)
            d[i] = offset + i < sizeof(DMA_SIGNATURE) ? DMA_SIGNATURE[offset + i] : 0;
    } else if (offset == 0 && len == 4) {
        fw->dma_addr = (uint64_t)get_be32(d) << 32;
    } else if (offset == 4 && len == 4) {
        fw->dma_addr |= get_be32(d);
        dma_kick(fw);
    } else if (offset == 0 && len == 8) {
        fw->dma_addr = (uint64_t)get_be32(d) << 32 | get_be32(d + 4);
        dma_kick(fw);
    }
    pthread_mutex_unlock(&fw->lock);
}
