/* fw_cfg.h: a QEMU-compatible fw_cfg device (selector/data ports, DMA, file directory) that hands
 * the firmware (OVMF, TDVF, SeaBIOS) its platform files and the kernel, initrd and command line. */
#ifndef COCOON_FW_CFG_H
#define COCOON_FW_CFG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vmm/base/memory.h"

/* x86 I/O ports, as QEMU places them. */
#define FW_CFG_PORT_SEL      0x510 /* 16-bit selector write; 8-bit reads here read data too */
#define FW_CFG_PORT_DATA     0x511 /* 8-bit data */
#define FW_CFG_PORT_COMB_LEN 2
#define FW_CFG_PORT_DMA      0x514 /* big-endian 64-bit descriptor address: high half, low half */
#define FW_CFG_PORT_DMA_LEN  8

/* Item selectors (QEMU's standard keys). */
enum {
    FW_CFG_SIGNATURE = 0x00,
    FW_CFG_ID = 0x01,
    FW_CFG_UUID = 0x02,
    FW_CFG_RAM_SIZE = 0x03,
    FW_CFG_NB_CPUS = 0x05,
    FW_CFG_BOOT_MENU = 0x0e,
    FW_CFG_KERNEL_ADDR = 0x07,
    FW_CFG_KERNEL_SIZE = 0x08,
    FW_CFG_INITRD_ADDR = 0x0a,
    FW_CFG_INITRD_SIZE = 0x0b,
    FW_CFG_MAX_CPUS = 0x0f,
    FW_CFG_KERNEL_ENTRY = 0x10,
    FW_CFG_KERNEL_DATA = 0x11,
    FW_CFG_INITRD_DATA = 0x12,
    FW_CFG_CMDLINE_ADDR = 0x13,
    FW_CFG_CMDLINE_SIZE = 0x14,
    FW_CFG_CMDLINE_DATA = 0x15,
    FW_CFG_SETUP_ADDR = 0x16,
    FW_CFG_SETUP_SIZE = 0x17,
    FW_CFG_SETUP_DATA = 0x18,
    FW_CFG_FILE_DIR = 0x19,
    FW_CFG_FILE_FIRST = 0x20, /* named files take selectors from here, in name order */
};

#define FW_CFG_MAX_FILES     32
#define FW_CFG_NR_ITEMS      (FW_CFG_FILE_FIRST + FW_CFG_MAX_FILES)
#define FW_CFG_MAX_NAME      56 /* struct fw_cfg_file name[56], NUL included */
#define FW_CFG_DIR_ENTRY_LEN 64 /* be32 size, be16 select, u16 reserved, name[56] */

#define FW_CFG_ID_TRADITIONAL 0x01
#define FW_CFG_ID_DMA         0x02

/* FWCfgDmaAccess: {be32 control, be32 length, be64 address}; control bits. */
#define FW_CFG_DMA_DESC_LEN   16
#define FW_CFG_DMA_CTL_ERROR  0x01
#define FW_CFG_DMA_CTL_READ   0x02
#define FW_CFG_DMA_CTL_SKIP   0x04
#define FW_CFG_DMA_CTL_SELECT 0x08
#define FW_CFG_DMA_CTL_WRITE  0x10

/* What the device serves. kernel (may be NULL: no kernel items) must be a bzImage (boot protocol
 * >= 2.00): it is split as QEMU does, setup = (setup_sects + 1) * 512 bytes (4 sectors if 0), and
 * served unmodified, so setup || kernel is the whole file (the bytes the SEV kernel-hashes table
 * hashes) -- unless patch_setup, which fills the setup header as QEMU's x86_load_linux does for a
 * non-confidential guest (command line and initrd addresses, loader type, heap), for SeaBIOS's
 * linuxboot_dma.bin option ROM. The command line is served with its NUL (NULL = ""); initrd may
 * be NULL. */
struct fw_cfg_config {
    const char *kernel;
    const char *initrd;
    const char *cmdline;
    uint64_t ram_size;
    uint16_t nb_cpus;
    uint16_t max_cpus;
    bool patch_setup;
    /* Non-zero: kernel is an ELF vmlinux the VMM has loaded into RAM itself, booted by QEMU's
     * pvh.bin option ROM at this PVH entry (QEMU load_elfboot): KERNEL_ENTRY, the first 8 KiB
     * as SETUP_DATA, command line and initrd items; no kernel data. */
    uint32_t pvh_entry;
};

struct fw_cfg;

/* Reads the files and builds the items; DMA goes through `gm` (share-checked). NULL with a
 * message in err if a file cannot be read or the kernel is not a bzImage. */
struct fw_cfg *fw_cfg_new(const struct guest_mem *gm, const struct fw_cfg_config *cfg, char *err,
                          size_t errlen);

/* Adds a named file (data copied) and rebuilds FILE_DIR: entries sorted by name, selectors
 * FW_CFG_FILE_FIRST.. in that order, as QEMU does. Returns 0, or -1 if the name is empty, too
 * long (>= FW_CFG_MAX_NAME), already present, the table is full, or memory ran out. Call before
 * the guest runs. */
int fw_cfg_add_file(struct fw_cfg *fw, const char *name, const void *data, uint32_t len);

/* Replaces the contents of a file added before with len bytes (len <= its size; the rest reads
 * zeros, so the size in the directory the firmware read stays true). Any thread. Returns 0, or
 * -1 if there is no such file or len is larger. */
int fw_cfg_update_file(struct fw_cfg *fw, const char *name, const void *data, uint32_t len);

/* fw_cfg_update_file for n files at once, under one lock: a firmware reading meanwhile sees all
 * the old contents or all the new, and if one file is missing or too small none is changed. */
struct fw_cfg_file_update {
    const char *name;
    const void *data;
    uint32_t len;
};
int fw_cfg_update_files(struct fw_cfg *fw, const struct fw_cfg_file_update *u, unsigned n);

/* Called on the vCPU thread before each selector write and each DMA request, without the device
 * lock (the callee may take locks that come before it and call fw_cfg_update_file): how files
 * built from state the firmware programs are refreshed before it reads them. Set before the
 * guest runs; NULL = none. */
typedef void (*fw_cfg_access_fn)(void *opaque, struct fw_cfg *fw);
void fw_cfg_set_access_hook(struct fw_cfg *fw, fw_cfg_access_fn fn, void *opaque);

/* Frees the device (takes void * to serve as a vm_add_device destructor). NULL is fine. */
void fw_cfg_free(void *fw);

/* Bus handlers: register fw_cfg_comb_io at FW_CFG_PORT_SEL (FW_CFG_PORT_COMB_LEN ports) and
 * fw_cfg_dma_io at FW_CFG_PORT_DMA (FW_CFG_PORT_DMA_LEN ports). */
void fw_cfg_comb_io(void *fw, uint64_t offset, void *data, uint32_t len, bool is_write);
void fw_cfg_dma_io(void *fw, uint64_t offset, void *data, uint32_t len, bool is_write);

/* DMA requests refused so far (descriptor unreachable or ERROR reported); for tests and logs. */
uint64_t fw_cfg_dma_errors(struct fw_cfg *fw);

#endif
