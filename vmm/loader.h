/* loader.h: puts a Linux bzImage or a PVH ELF, initramfs and command line into guest memory. */
#ifndef COCOON_LOADER_H
#define COCOON_LOADER_H

#include <stddef.h>
#include <stdint.h>

#include "vmm/memory.h"

/* Fixed low-memory layout (guest-physical). Everything below 1 MiB that is not listed is free
 * RAM in the e820 map except [LAYOUT_EBDA, 1 MiB), which is reserved. */
#define LAYOUT_GDT             0x500ULL  /* boot GDT (loader) */
#define LAYOUT_PVH_START_INFO  0x6000ULL /* hvm_start_info + memmap (PVH) */
#define LAYOUT_BOOT_PARAMS     0x7000ULL /* zero page (bzImage) */
#define LAYOUT_PAGE_TABLES     0x9000ULL /* PML4 + PDPT + PDs identity-mapping 4 GiB (bzImage) */
#define LAYOUT_PAGE_TABLES_END 0xF000ULL
#define LAYOUT_CMDLINE         0x20000ULL /* kernel command line, at most LAYOUT_CMDLINE_MAX bytes */
#define LAYOUT_CMDLINE_MAX     0x10000ULL
#define LAYOUT_EBDA            0x9FC00ULL  /* MP table lives here (vmm/mptable.c) */
#define LAYOUT_KERNEL          0x100000ULL /* bzImage protected-mode code */

enum boot_kind { BOOT_BZIMAGE64 = 1, BOOT_PVH };

/* What the boot vCPU needs to start the loaded payload. */
struct boot_entry {
    enum boot_kind kind;
    uint64_t rip;
    uint64_t rsi;      /* BOOT_BZIMAGE64: boot_params GPA */
    uint64_t rbx;      /* BOOT_PVH: hvm_start_info GPA */
    uint64_t cr3;      /* BOOT_BZIMAGE64: identity page tables; 0 for PVH (paging off) */
    uint64_t gdt_base; /* GDT written by the loader */
    uint16_t gdt_limit;
};

struct load_request {
    const char *kernel;    /* path to a bzImage or an ELF vmlinux with a PVH note */
    const char *initramfs; /* path or NULL */
    const char *cmdline;   /* NULL = empty */
};

/* Detects the kernel format, checks it, and loads kernel, initramfs, command line, e820 map and
 * the boot structures into gm. Every failure is one clear line in err, nothing crashes. */
int loader_load(const struct guest_mem *gm, const struct load_request *req, struct boot_entry *out,
                char *err, size_t errlen);

#endif
