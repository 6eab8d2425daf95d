/* loader.h: puts a Linux bzImage or a PVH ELF, initramfs and command line into guest memory. */
#ifndef COCOON_LOADER_H
#define COCOON_LOADER_H

#include <stddef.h>
#include <stdint.h>

#include "vmm/base/memory.h"

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

/* The boot GDT the loader writes at LAYOUT_GDT for both boot kinds (flat, base 0, 4 GiB limit).
 * The boot vCPU's segment registers must hold these selectors: CS = BOOT_SEL_CODE64 for
 * BOOT_BZIMAGE64 (long mode), CS = BOOT_SEL_CODE32 for BOOT_PVH (32-bit protected mode, paging
 * off); DS/ES/SS/FS/GS = BOOT_SEL_DATA; TR = BOOT_SEL_TSS (a busy 64-bit TSS, base 0, limit 0x67:
 * VMX needs a usable TR). boot_entry.cs/.ds repeat the ones to use. */
#define BOOT_SEL_CODE32  0x08
#define BOOT_SEL_CODE64  0x10 /* Linux's __BOOT_CS */
#define BOOT_SEL_DATA    0x18 /* Linux's __BOOT_DS */
#define BOOT_SEL_TSS     0x20 /* 16-byte system descriptor (entries 4 and 5) */
#define BOOT_GDT_ENTRIES 6
#define BOOT_GDT_LIMIT   (BOOT_GDT_ENTRIES * 8 - 1)

/* PVH payloads (ELF PT_LOAD segments) and initramfs never overlap the boot structures:
 * [0, LAYOUT_PAGE_TABLES_END), [LAYOUT_CMDLINE, +LAYOUT_CMDLINE_MAX) and [LAYOUT_EBDA, 1 MiB). */

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
    uint16_t cs; /* code selector for the entry mode (BOOT_SEL_CODE64 or BOOT_SEL_CODE32) */
    uint16_t ds; /* data selector (BOOT_SEL_DATA) */
};

struct load_request {
    const char *kernel;    /* path to a bzImage or an ELF vmlinux with a PVH note */
    const char *initramfs; /* path or NULL */
    const char *cmdline;   /* NULL = empty */
    /* ACPI (all 0 = none): the RSDP address handed over in boot_params.acpi_rsdp_addr or
     * hvm_start_info.rsdp_paddr, and the tables' range, typed ACPI in the e820 map. */
    uint64_t acpi_rsdp;
    uint64_t acpi_base, acpi_len;
};

/* Detects the kernel format, checks it, and loads kernel, initramfs, command line, e820 map and
 * the boot structures into gm. Every failure is one clear line in err, nothing crashes. */
int loader_load(const struct guest_mem *gm, const struct load_request *req, struct boot_entry *out,
                char *err, size_t errlen);

#endif
