/* boot_firmware.c: firmware boot: image mapping below 4 GiB, the platform devices and fw_cfg files
 * the firmware reads (QEMU's PC contract), and the console for its debug port. */
#include "vmm/boot_firmware.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <linux/kvm.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "devices/cmos.h"
#include "devices/debugcon.h"
#include "devices/fw_cfg.h"
#include "devices/fw_cfg_files.h"
#include "devices/q35.h"
#include "firmware/acpi.h"
#include "tee/tee.h"
#include "vmm/console_out.h"
#include "vmm/loader.h"
#include "vmm/base/log.h"
#include "vmm/vm_internal.h"

static const uint8_t ELF_MAGIC[4] = {0x7f, 'E', 'L', 'F'};

struct fw_image {
    uint8_t *host;
    size_t size;
};

static void fw_image_free(void *opaque)
{
    struct fw_image *img = opaque;
    if (img && img->host)
        munmap(img->host, img->size);
    free(img);
}

/* Reads the whole regular file into a fresh anonymous mapping. */
static int read_image(const char *path, struct fw_image *img, char *err, size_t errlen)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0) {
        snprintf(err, errlen, "cannot open firmware '%s': %s", path, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    uint64_t size = (uint64_t)st.st_size;
    if (!S_ISREG(st.st_mode) || size == 0 || size % 4096 || size > FIRMWARE_MAX_SIZE) {
        snprintf(err, errlen,
                 "firmware '%s' must be a regular file whose size is a non-zero multiple of "
                 "4 KiB up to %llu MiB",
                 path, FIRMWARE_MAX_SIZE >> 20);
        close(fd);
        return -1;
    }
    img->host = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (img->host == MAP_FAILED) {
        img->host = NULL;
        snprintf(err, errlen, "cannot map firmware '%s': %s", path, strerror(errno));
        close(fd);
        return -1;
    }
    img->size = size;
    for (size_t got = 0; got < size;) {
        ssize_t r = pread(fd, img->host + got, size - got, (off_t)got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            snprintf(err, errlen, "cannot read firmware '%s': %s", path,
                     r < 0 ? strerror(errno) : "file shrank");
            close(fd);
            return -1;
        }
        got += (size_t)r;
    }
    close(fd);
    return 0;
}

int boot_firmware_map(struct vm *vm, char *err, size_t errlen)
{
    struct fw_image *img = calloc(1, sizeof(*img));
    if (!img || vm_add_device(vm, "firmware-image", fw_image_free, img) < 0) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    if (read_image(vm->cfg.firmware, img, err, errlen) < 0)
        return -1;
    /* Read-only slot: guest writes exit as MMIO (nobody claims them; flash is not emulated). */
    struct kvm_userspace_memory_region slot = {
        .slot = KVM_SLOT_FIRMWARE,
        .flags = KVM_MEM_READONLY,
        .guest_phys_addr = FIRMWARE_TOP - img->size,
        .memory_size = img->size,
        .userspace_addr = (uint64_t)(uintptr_t)img->host,
    };
    if (kvm_ioctl(&vm->kvm, vm->vm_fd, KVM_SET_USER_MEMORY_REGION, &slot) < 0) {
        snprintf(err, errlen, "cannot map the firmware below 4 GiB: %s", strerror(errno));
        return -1;
    }
    /* The ISA BIOS alias: real-mode code at F000:xxxx runs from here. It is RAM (as after
     * SeaBIOS's PAM unlock), filled with the image's tail, which is what the alias shows. */
    size_t alias = img->size < FIRMWARE_ISA_BIOS_SIZE ? img->size : FIRMWARE_ISA_BIOS_SIZE;
    uint8_t *low = gm_span_loader(&vm->mem, 0x100000 - alias, alias);
    if (!low) {
        snprintf(err, errlen, "guest RAM does not cover the BIOS area below 1 MiB");
        return -1;
    }
    memcpy(low, img->host + img->size - alias, alias);
    log_info("firmware %s: %zu KiB at 0x%llx, last %zu KiB at 0x%llx", vm->cfg.firmware,
             img->size >> 10, (unsigned long long)(FIRMWARE_TOP - img->size), alias >> 10,
             (unsigned long long)(0x100000 - alias));
    return 0;
}

/* ---- devices ---- */

/* Reads a whole small file (an option ROM) into a malloc'd buffer; NULL if absent. */
static uint8_t *read_small_file(const char *path, uint32_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    struct stat st;
    if (fd < 0)
        return NULL;
    uint8_t *buf = NULL;
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0 && st.st_size <= (1 << 20))
        buf = malloc((size_t)st.st_size);
    if (buf && pread(fd, buf, (size_t)st.st_size, 0) != st.st_size) {
        free(buf);
        buf = NULL;
    }
    if (buf)
        *len = (uint32_t)st.st_size;
    close(fd);
    return buf;
}

/* SeaBIOS boots a fw_cfg kernel through QEMU's option ROM, which cocoon serves if installed. */
static int add_kernel_rom(struct fw_cfg *fw, const char *name, char *err, size_t errlen)
{
    char path[256], file[80], order[96];
    snprintf(path, sizeof(path), "%s/%s", FIRMWARE_ROM_DIR, name);
    snprintf(file, sizeof(file), "genroms/%s", name);
    int olen = snprintf(order, sizeof(order), "/rom@genroms/%s\n", name);
    uint32_t len = 0;
    uint8_t *rom = read_small_file(path, &len);
    if (!rom) {
        log_info("firmware: %s is not installed (Debian qemu-system-data); a BIOS firmware will "
                 "not find the --kernel (UEFI firmware loads it itself)",
                 path);
        return 0;
    }
    int rc = fw_cfg_add_file(fw, file, rom, len) < 0 ||
                     fw_cfg_add_file(fw, "bootorder", order, (uint32_t)olen + 1) < 0
                 ? -1
                 : 0;
    free(rom);
    if (rc < 0)
        snprintf(err, errlen, "fw_cfg: cannot add the kernel loader option ROM");
    return rc;
}

/* An ELF vmlinux goes into RAM now, as QEMU's load_elfboot does; returns its PVH entry (0: the
 * kernel is not an ELF file, -1: error). */
static int64_t load_pvh_kernel(struct vm *vm, char *err, size_t errlen)
{
    uint8_t magic[4] = {0};
    int fd = open(vm->cfg.kernel, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    ssize_t n = fd >= 0 ? pread(fd, magic, sizeof(magic), 0) : -1;
    if (fd >= 0)
        close(fd);
    if (n != (ssize_t)sizeof(magic) || memcmp(magic, ELF_MAGIC, 4) != 0)
        return 0;
    const struct load_request req = {.kernel = vm->cfg.kernel, .cmdline = ""};
    struct boot_entry entry;
    if (loader_load(&vm->mem, &req, &entry, err, errlen) < 0)
        return -1;
    if (entry.kind != BOOT_PVH || entry.rip == 0 || entry.rip > 0xFFFFFFFFULL) {
        snprintf(err, errlen, "kernel %s: no 32-bit PVH entry for the firmware", vm->cfg.kernel);
        return -1;
    }
    return (int64_t)entry.rip;
}

static int attach_fw_cfg(struct vm *vm, char *err, size_t errlen)
{
    /* A plain guest's firmware loads the kernel as QEMU's does; a TEE's measures it unmodified. */
    bool plain = !tee_boots_firmware(vm->tee);
    int64_t pvh = 0;
    if (plain && vm->cfg.kernel && (pvh = load_pvh_kernel(vm, err, errlen)) < 0)
        return -1;
    const struct fw_cfg_config fc = {.kernel = vm->cfg.kernel,
                                     .initrd = vm->cfg.initramfs,
                                     .cmdline = vm->cfg.cmdline,
                                     .ram_size = vm->cfg.memory,
                                     .nb_cpus = (uint16_t)vm->cfg.cpus,
                                     .max_cpus = (uint16_t)vm->cfg.max_cpus,
                                     .patch_setup = plain,
                                     .pvh_entry = (uint32_t)pvh};
    struct fw_cfg *fw = fw_cfg_new(&vm->mem, &fc, err, errlen);
    if (!fw)
        return -1;
    if (vm_add_device(vm, "fw_cfg", fw_cfg_free, fw) < 0) { /* it freed fw */
        snprintf(err, errlen, "too many devices");
        return -1;
    }
    vm->fw_cfg = fw;
    if (fw_cfg_add_platform_files(fw, &vm->mem, NULL) < 0) {
        snprintf(err, errlen, "fw_cfg: cannot build etc/e820");
        return -1;
    }
    if (plain && vm->cfg.kernel &&
        add_kernel_rom(fw, pvh ? "pvh.bin" : "linuxboot_dma.bin", err, errlen) < 0)
        return -1;
    if (bus_register(vm->pio, FW_CFG_PORT_SEL, FW_CFG_PORT_COMB_LEN, fw_cfg_comb_io, fw) < 0 ||
        bus_register(vm->pio, FW_CFG_PORT_DMA, FW_CFG_PORT_DMA_LEN, fw_cfg_dma_io, fw) < 0) {
        snprintf(err, errlen, "cannot register the fw_cfg ports");
        return -1;
    }
    return 0;
}

static int attach_cmos(struct vm *vm, char *err, size_t errlen)
{
    struct cmos *c = calloc(1, sizeof(*c));
    if (!c) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    uint64_t below = vm->mem.ram_size < GM_LOW_RAM_END ? vm->mem.ram_size : GM_LOW_RAM_END;
    cmos_init(c, below, vm->mem.ram_size - below, vm->cfg.cpus);
    if (vm_add_device(vm, "cmos", cmos_free, c) < 0 ||
        bus_register(vm->pio, CMOS_PORT_INDEX, CMOS_NR_PORTS, cmos_io, c) < 0) {
        snprintf(err, errlen, "cannot register the CMOS/RTC ports");
        return -1;
    }
    return 0;
}

static void debugcon_to_console(void *opaque, const uint8_t *buf, uint32_t len)
{
    console_out_put(opaque, buf, len);
}

struct firmware_log {
    struct console_out *co;
    int fd; /* console_out does not own it */
};

static void firmware_log_free(void *opaque)
{
    struct firmware_log *log = opaque;
    console_out_stop(log->co); /* flushes what is buffered */
    if (log->fd >= 0)
        close(log->fd);
    free(log);
}

/* --firmware-log FILE: port 0x402's bytes, written by the loop like the serial console. */
static int attach_debugcon(struct vm *vm, char *err, size_t errlen)
{
    const char *path = vm->cfg.firmware_log;
    if (!path)
        return 0;
    struct firmware_log *log = calloc(1, sizeof(*log));
    struct debugcon *dc = calloc(1, sizeof(*dc));
    if (!log || !dc) {
        free(log);
        free(dc);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    log->fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_NONBLOCK | O_NOCTTY | O_CLOEXEC, 0600);
    struct stat st;
    if (log->fd < 0 || fstat(log->fd, &st) < 0 || !(S_ISREG(st.st_mode) || S_ISFIFO(st.st_mode))) {
        snprintf(err, errlen, "cannot open firmware log '%s': %s", path,
                 log->fd < 0 ? (errno == ENXIO ? "it is a FIFO that nobody has open for reading"
                                               : strerror(errno))
                             : "not a regular file or FIFO");
        if (log->fd >= 0)
            close(log->fd);
        free(log);
        free(dc);
        return -1;
    }
    log->co = console_out_start(vm->loop, log->fd, err, errlen);
    if (!log->co) {
        close(log->fd);
        free(log);
        free(dc);
        return -1;
    }
    dc->out = debugcon_to_console;
    dc->opaque = log->co;
    if (vm_add_device(vm, "firmware-log", firmware_log_free, log) < 0 ||
        vm_add_device(vm, "debugcon", free, dc) < 0 ||
        bus_register(vm->pio, DEBUGCON_PORT, 1, debugcon_io, dc) < 0) {
        snprintf(err, errlen, "cannot register the debug console port");
        return -1;
    }
    return 0;
}

int boot_firmware_attach(struct vm *vm, char *err, size_t errlen)
{
    return attach_fw_cfg(vm, err, errlen) < 0 || attach_cmos(vm, err, errlen) < 0 ||
                   attach_debugcon(vm, err, errlen) < 0
               ? -1
               : 0;
}

/* ---- ACPI through the table-loader ---- */

/* Where the blob is built; the loader turns every pointer into a file offset, so any aligned,
 * non-zero address does (0 would read as "absent" in the pointer walk). */
#define FW_ACPI_BUILD_GPA 0x100000ULL
#define FW_ACPI_BUILD_CAP (256U << 10)
/* The shape the files are sized for before the firmware runs: MCFG present (the largest layout)
 * and a PM timer, at the values SeaBIOS programs when it finds etc/table-loader (src/fw/dev-q35.h
 * Q35_HOST_BRIDGE_PCIEXBAR_ADDR; src/fw/paravirt.c qemu_cfg_init "Moving pm_base to 0x600").
 * The contents are rebuilt from what the firmware really programmed before it reads them. */
#define FW_ACPI_SIZING_ECAM 0xB0000000ULL
#define FW_ACPI_SIZING_PM   0x600

struct fw_acpi {
    struct fw_cfg *fw;
    const struct q35 *q35;
    struct acpi_config base; /* the VM's platform; ECAM and PM timer come from the chipset */
    pthread_mutex_t lock;    /* serialises rebuilds; taken before fw_cfg's own lock */
    bool built;
    unsigned rebuilds; /* bounded: a guest moving PMBASE in a loop gets no more work */
    struct q35_decode last;
    struct log_ratelimit rl;
};

/* A firmware moves ECAM and PMBASE a few times at start-up (SeaBIOS twice, OVMF once); past this
 * many rebuilds the tables stay as they are (QEMU builds once: acpi_build_update's `patched`). */
#define FW_ACPI_MAX_REBUILDS 16

static void fw_acpi_free(void *opaque)
{
    struct fw_acpi *a = opaque;
    pthread_mutex_destroy(&a->lock);
    free(a);
}

/* The VM's config with the chipset as decoded: MCFG names the ECAM window PCIEXBAR opened (bus 0,
 * the only bus the root bridge decodes), the FADT the PM block at PMBASE (PM1, PM timer, GPE0:
 * devices/q35.c decodes them there). A PM block not enabled yet gives the hardware-reduced FADT;
 * the firmware enables it before it reads the tables (SeaBIOS mch_isa_bridge_setup, OVMF
 * PlatformInitLib AcpiPmBaseAddress). */
static void fw_acpi_config(const struct fw_acpi *a, const struct q35_decode *d,
                           struct acpi_config *c)
{
    *c = a->base;
    c->ecam_base = d->ecam_base;
    c->pm_base = d->pm_base;
}

/* Builds the blob for d; add (at attach) or update (at read time) the three fw_cfg files. */
static int fw_acpi_build(struct fw_acpi *a, const struct q35_decode *d, bool add, char *err,
                         size_t errlen)
{
    struct acpi_config c;
    fw_acpi_config(a, d, &c);
    uint8_t *buf = malloc(FW_ACPI_BUILD_CAP);
    struct acpi_tables t;
    int rc = -1;
    if (!buf)
        snprintf(err, errlen, "out of memory");
    else if (acpi_build(&c, FW_ACPI_BUILD_GPA, buf, FW_ACPI_BUILD_CAP, &t, err, errlen) == 0) {
        const struct fw_acpi_blob blob = {buf, t.len, FW_ACPI_BUILD_GPA};
        rc = add ? fw_cfg_add_acpi(a->fw, &blob, err, errlen)
                 : fw_cfg_update_acpi(a->fw, &blob, err, errlen);
    }
    free(buf);
    return rc;
}

/* fw_cfg access hook (vCPU thread, bus read lock only): rebuild when the chipset decodes
 * something else than the tables say, as QEMU's acpi_build_update rebuilds on the first read. */
static void fw_acpi_refresh(void *opaque, struct fw_cfg *fw)
{
    (void)fw;
    struct fw_acpi *a = opaque;
    struct q35_decode d;
    q35_decoded(a->q35, &d);
    pthread_mutex_lock(&a->lock);
    bool changed = d.ecam_base != a->last.ecam_base || d.pm_base != a->last.pm_base;
    if (a->built && changed && a->rebuilds >= FW_ACPI_MAX_REBUILDS) {
        log_limited(&a->rl, LOG_LVL_WARN,
                    "firmware: chipset moved again after %u ACPI rebuilds; tables kept",
                    a->rebuilds);
        a->last = d;
    } else if (!a->built || changed) {
        char err[256];
        a->rebuilds++;
        if (fw_acpi_build(a, &d, false, err, sizeof(err)) < 0) {
            log_limited(&a->rl, LOG_LVL_WARN, "firmware: ACPI tables not rebuilt: %s", err);
        } else { /* rate-limited: a guest may move PMBASE in a loop */
            log_limited(&a->rl, LOG_LVL_INFO,
                        "firmware: ACPI tables for ECAM 0x%llx, PM block 0x%x",
                        (unsigned long long)d.ecam_base, d.pm_base);
        }
        a->built = true; /* once per chipset state: a failure is not retried on every access */
        a->last = d;
    }
    pthread_mutex_unlock(&a->lock);
}

/* PM1_CNT S5 from the full FADT (devices/q35.c), on the writing vCPU's thread. */
static void fw_acpi_poweroff(void *opaque)
{
    struct vm *vm = opaque;
    log_info("acpi: guest powered off (S5 through PM1_CNT)");
    vm_request_exit(vm, VM_EXIT_POWEROFF, 0);
}

int boot_firmware_acpi(struct vm *vm, const struct acpi_config *c, char *err, size_t errlen)
{
    if (!vm->fw_cfg || !vm->q35) {
        snprintf(err, errlen, "firmware: ACPI needs fw_cfg and the Q35 chipset");
        return -1;
    }
    struct fw_acpi *a = calloc(1, sizeof(*a));
    if (!a) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    a->fw = vm->fw_cfg;
    a->q35 = vm->q35;
    a->base = *c;
    a->rl = (struct log_ratelimit)LOG_RATELIMIT_INIT;
    a->rl.burst = 8; /* a firmware rebuilds a few times at start-up; all of those are logged */
    pthread_mutex_init(&a->lock, NULL);
    if (vm_add_device(vm, "firmware-acpi", fw_acpi_free, a) < 0) { /* it freed a */
        snprintf(err, errlen, "too many devices");
        return -1;
    }
    const struct q35_decode sizing = {FW_ACPI_SIZING_ECAM, FW_ACPI_SIZING_PM};
    if (fw_acpi_build(a, &sizing, true, err, errlen) < 0)
        return -1;
    fw_cfg_set_access_hook(a->fw, fw_acpi_refresh, a);
    q35_set_poweroff(vm->q35, fw_acpi_poweroff, vm);
    return 0;
}
