/* fw_cfg_files.h: the named fw_cfg files of QEMU's PC platform contract: etc/e820, bootorder, and
 * the ACPI linker/loader (etc/table-loader with etc/acpi/tables and etc/acpi/rsdp). */
#ifndef COCOON_FW_CFG_FILES_H
#define COCOON_FW_CFG_FILES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "devices/fw_cfg.h"
#include "vmm/base/memory.h"

/* etc/e820 records: packed {le64 address, le64 length, le32 type}, type 1 = RAM, 2 = reserved
 * (QEMU hw/i386/e820_memory_layout.h). */
#define FW_E820_RECORD_LEN 20
#define FW_E820_RAM        1
#define FW_E820_RESERVED   2

/* Writes one RAM record per region of gm (low RAM from 0 in one piece: edk2 PlatformScanE820
 * sums contiguous RAM from 0, so a split at 640 KiB would shrink its low memory). Returns the
 * byte count, or 0 if out (max bytes) is too small. */
size_t fw_e820_records(const struct guest_mem *gm, uint8_t *out, size_t max);

/* ---- BIOS linker/loader script (QEMU hw/acpi/bios-linker-loader.c; edk2 QemuLoader.h;
 * SeaBIOS src/fw/romfile_loader.h): 128-byte little-endian commands. ---- */
#define FW_LOADER_ENTRY_LEN    128
#define FW_LOADER_FILE_LEN     56
#define FW_LOADER_ALLOCATE     1
#define FW_LOADER_ADD_POINTER  2
#define FW_LOADER_ADD_CHECKSUM 3
#define FW_LOADER_ZONE_HIGH    1
#define FW_LOADER_ZONE_FSEG    2
#define FW_LOADER_MAX_ENTRIES  256

struct fw_loader {
    uint8_t buf[FW_LOADER_MAX_ENTRIES * FW_LOADER_ENTRY_LEN];
    size_t len;
};

/* Each appends one command; -1 if a name does not fit in 55 bytes or the script is full. */
int fw_loader_allocate(struct fw_loader *l, const char *file, uint32_t align, uint8_t zone);
/* pointer_file[offset, +size) += address of pointee_file (size 1, 2, 4 or 8). */
int fw_loader_add_pointer(struct fw_loader *l, const char *pointer_file, const char *pointee_file,
                          uint32_t offset, uint8_t size);
/* file[result] = checksum making the bytes [start, start+length) sum to 0. */
int fw_loader_add_checksum(struct fw_loader *l, const char *file, uint32_t result, uint32_t start,
                           uint32_t length);

/* ACPI tables built for guest-physical `gpa` (RSDP at blob offset 0, every other table after it
 * in the same blob, pointers absolute): served as QEMU does, etc/acpi/rsdp (FSEG, align 16) and
 * etc/acpi/tables (HIGH, align 64: the whole blob, its first 36 bytes zeroed, so blob offsets
 * are file offsets and alignment is kept), with the pointers found by walking RSDP -> RSDT/XSDT ->
 * tables -> FADT's FACS/DSDT rewritten as file offsets plus an ADD_POINTER each, checksum bytes
 * zeroed plus an ADD_CHECKSUM each, in etc/table-loader. Returns 0 or -1 with a message. */
struct fw_acpi_blob {
    const uint8_t *data;
    size_t len;
    uint64_t gpa;
};
int fw_cfg_add_acpi(struct fw_cfg *fw, const struct fw_acpi_blob *acpi, char *err, size_t errlen);

/* Rebuilds the three files from a new blob, in place and all at once (fw_cfg_update_files: all or
 * none): each must fit in the size fw_cfg_add_acpi gave it; the space left reads zeros (a zero
 * script command is one that SeaBIOS's romfile_loader_execute and edk2's InstallQemuFwCfgTables
 * skip as unknown). 0 or -1 with err. */
int fw_cfg_update_acpi(struct fw_cfg *fw, const struct fw_acpi_blob *acpi, char *err,
                       size_t errlen);

/* Adds etc/e820 for gm and `bootorder` (may be NULL: none). Returns 0 or -1. */
int fw_cfg_add_platform_files(struct fw_cfg *fw, const struct guest_mem *gm, const char *bootorder);

#endif
