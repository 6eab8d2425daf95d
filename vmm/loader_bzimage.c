/* loader_bzimage.c: Linux x86 bzImage through the 64-bit boot protocol (boot_params, page tables).
 */
#include <asm/bootparam.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "vmm/e820.h"
#include "vmm/loader_formats.h"

#define HDR_OFF           offsetof(struct boot_params, hdr) /* 0x1f1 in file and zero page */
#define HDR_END           (HDR_OFF + sizeof(struct setup_header))
#define HDR_MAGIC         0x53726448U /* "HdrS" */
#define BOOT_FLAG         0xAA55
#define MIN_VERSION       0x020c /* 2.12: xloadflags / XLF_KERNEL_64 */
#define ENTRY64_OFFSET    0x200
#define LOADER_TYPE_OTHER 0xff
#define PTE_PRESENT_RW    0x3ULL
#define PDE_2M_PAGE       0x83ULL /* present, writable, page size */
#define TWO_MIB           0x200000ULL
#define FOUR_GIB          0x100000000ULL

/* The parts of the setup header the loader relies on, validated against the file and RAM. */
struct bz_layout {
    struct setup_header hdr; /* copy of the file's header (zero past its end) */
    uint64_t hdr_len;        /* bytes of header present in the file, from 0x1f1 */
    uint64_t setup_size;     /* real-mode part: (setup_sects + 1) * 512 */
    uint64_t pm_size;        /* protected-mode part: the rest of the file */
    uint64_t runtime_end;    /* end of the decompressed kernel's memory (init_size) */
};

bool bzimage_detect(const uint8_t *data, uint64_t size)
{
    uint32_t magic;
    if (size < offsetof(struct boot_params, hdr.header) + 4)
        return false;
    memcpy(&magic, data + offsetof(struct boot_params, hdr.header), 4);
    return magic == HDR_MAGIC;
}

static uint64_t align_up(uint64_t v, uint64_t a)
{
    return (v + a - 1) & ~(a - 1);
}

/* Checks the setup header itself: magic, flags, protocol version, the sizes against the file. */
static int check_header(const struct loader_input *in, struct bz_layout *bz, char *err,
                        size_t errlen)
{
    const char *path = in->kernel_path;
    if (in->kernel_size < HDR_END) {
        snprintf(err, errlen, "kernel %s: truncated bzImage setup header (%llu bytes)", path,
                 (unsigned long long)in->kernel_size);
        return -1;
    }
    /* The header ends at 0x202 + the jump offset byte at 0x201. */
    uint64_t end = 0x202 + (uint64_t)in->kernel[0x201];
    bz->hdr_len = (end < HDR_END ? end : HDR_END) - HDR_OFF;
    memset(&bz->hdr, 0, sizeof(bz->hdr));
    memcpy(&bz->hdr, in->kernel + HDR_OFF, bz->hdr_len);
    const struct setup_header *h = &bz->hdr;
    if (h->header != HDR_MAGIC || h->boot_flag != BOOT_FLAG) {
        snprintf(err, errlen, "kernel %s: bad bzImage setup header magic", path);
        return -1;
    }
    if (h->version < MIN_VERSION || bz->hdr_len < offsetof(struct setup_header, init_size) + 4) {
        snprintf(err, errlen,
                 "kernel %s: boot protocol %u.%02u is too old (the 64-bit entry needs 2.12)", path,
                 h->version >> 8, h->version & 0xff);
        return -1;
    }
    if (!(h->xloadflags & XLF_KERNEL_64)) {
        snprintf(err, errlen, "kernel %s: bzImage has no 64-bit entry point (XLF_KERNEL_64)", path);
        return -1;
    }
    if (!(h->loadflags & LOADED_HIGH)) {
        snprintf(err, errlen, "kernel %s: not loadable at 1 MiB (LOADED_HIGH clear)", path);
        return -1;
    }
    unsigned sects = h->setup_sects ? h->setup_sects : 4;
    bz->setup_size = ((uint64_t)sects + 1) * 512;
    if (bz->setup_size >= in->kernel_size) {
        snprintf(err, errlen, "kernel %s: setup_sects %u runs past the end of the file", path,
                 sects);
        return -1;
    }
    bz->pm_size = in->kernel_size - bz->setup_size;
    if (h->syssize == 0 || (uint64_t)h->syssize * 16 > align_up(bz->pm_size, 16)) {
        snprintf(err, errlen,
                 "kernel %s: syssize (%llu bytes) does not match the file (%llu bytes)", path,
                 (unsigned long long)h->syssize * 16, (unsigned long long)bz->pm_size);
        return -1;
    }
    uint32_t a = h->kernel_alignment;
    if (h->relocatable_kernel && (a < GM_PAGE_SIZE || (a & (a - 1)))) {
        snprintf(err, errlen, "kernel %s: bad kernel_alignment 0x%x", path, a);
        return -1;
    }
    return 0;
}

/* Checks that the kernel, once decompressed, fits in low RAM. */
static int check_memory(const struct guest_mem *gm, const struct loader_input *in,
                        struct bz_layout *bz, char *err, size_t errlen)
{
    const struct setup_header *h = &bz->hdr;
    uint64_t low_end = loader_low_ram_end(gm);
    if (LAYOUT_KERNEL + bz->pm_size > low_end) {
        snprintf(err, errlen, "kernel %s (%llu bytes) is larger than guest low memory",
                 in->kernel_path, (unsigned long long)bz->pm_size);
        return -1;
    }
    /* The decompressor runs at the load address rounded up to kernel_alignment, but never below
     * pref_address (LOAD_PHYSICAL_ADDR), and needs init_size bytes from there. */
    uint64_t start = LAYOUT_KERNEL;
    if (h->relocatable_kernel)
        start = align_up(start, h->kernel_alignment);
    if (h->pref_address > start)
        start = h->pref_address;
    bz->runtime_end = start + h->init_size;
    if (h->pref_address >= FOUR_GIB || bz->runtime_end > low_end) {
        snprintf(err, errlen,
                 "kernel %s needs RAM up to 0x%llx (pref_address + init_size) but guest low "
                 "memory ends at 0x%llx",
                 in->kernel_path, (unsigned long long)bz->runtime_end, (unsigned long long)low_end);
        return -1;
    }
    if (bz->runtime_end < LAYOUT_KERNEL + bz->pm_size)
        bz->runtime_end = LAYOUT_KERNEL + bz->pm_size;
    return 0;
}

/* Identity-maps the first 4 GiB with 2 MiB pages: PML4, one PDPT, four page directories. */
static int write_page_tables(const struct guest_mem *gm)
{
    const uint64_t pml4 = LAYOUT_PAGE_TABLES;
    const uint64_t pdpt = pml4 + GM_PAGE_SIZE;
    const uint64_t pd = pdpt + GM_PAGE_SIZE;
    _Static_assert(LAYOUT_PAGE_TABLES + 6 * GM_PAGE_SIZE <= LAYOUT_PAGE_TABLES_END,
                   "page tables overflow their slot");
    uint8_t *p = gm_span_loader(gm, pml4, 6 * GM_PAGE_SIZE);
    if (!p)
        return -1;
    memset(p, 0, 6 * GM_PAGE_SIZE);
    uint64_t e = pdpt | PTE_PRESENT_RW;
    memcpy(p, &e, 8);
    for (uint64_t i = 0; i < 4; i++) {
        e = (pd + i * GM_PAGE_SIZE) | PTE_PRESENT_RW;
        memcpy(p + GM_PAGE_SIZE + i * 8, &e, 8);
    }
    for (uint64_t i = 0; i < 4 * 512; i++) {
        e = (i * TWO_MIB) | PDE_2M_PAGE;
        memcpy(p + 2 * GM_PAGE_SIZE + i * 8, &e, 8);
    }
    return 0;
}

/* Builds the zero page from the file's setup header plus what the loader decided. */
static int write_boot_params(const struct guest_mem *gm, const struct loader_input *in,
                             const struct bz_layout *bz, uint64_t initrd_gpa, uint64_t initrd_size)
{
    struct boot_params bp;
    struct e820_entry map[E820_MAX_ENTRIES];
    int n = loader_e820(gm, in, map, E820_MAX_ENTRIES);
    if (n < 0)
        return -1;
    memset(&bp, 0, sizeof(bp));
    memcpy(&bp.hdr, &bz->hdr, bz->hdr_len);
    bp.hdr.type_of_loader = LOADER_TYPE_OTHER;
    bp.hdr.loadflags &= ~CAN_USE_HEAP; /* no real-mode heap: the setup code is not run */
    bp.hdr.code32_start = (uint32_t)LAYOUT_KERNEL;
    bp.hdr.cmd_line_ptr = (uint32_t)LAYOUT_CMDLINE;
    bp.ext_cmd_line_ptr = (uint32_t)(LAYOUT_CMDLINE >> 32);
    bp.hdr.ramdisk_image = (uint32_t)initrd_gpa;
    bp.hdr.ramdisk_size = (uint32_t)initrd_size;
    bp.ext_ramdisk_image = (uint32_t)(initrd_gpa >> 32);
    bp.ext_ramdisk_size = (uint32_t)(initrd_size >> 32);
    for (int i = 0; i < n; i++) {
        bp.e820_table[i].addr = map[i].addr;
        bp.e820_table[i].size = map[i].size;
        bp.e820_table[i].type = map[i].type;
    }
    bp.e820_entries = (uint8_t)n;
    bp.acpi_rsdp_addr = in->acpi_rsdp;
    return loader_write(gm, LAYOUT_BOOT_PARAMS, &bp, sizeof(bp));
}

int bzimage_load(const struct guest_mem *gm, const struct loader_input *in, struct boot_entry *out,
                 char *err, size_t errlen)
{
    struct bz_layout bz;
    if (check_header(in, &bz, err, errlen) || check_memory(gm, in, &bz, err, errlen))
        return -1;
    uint64_t initrd_top = (uint64_t)bz.hdr.initrd_addr_max + 1;
    uint64_t initrd_gpa;
    if (loader_write_cmdline(gm, in->cmdline, bz.hdr.cmdline_size, err, errlen) ||
        loader_place_initrd(gm, in, bz.runtime_end, initrd_top, &initrd_gpa, err, errlen))
        return -1;
    if (loader_write(gm, LAYOUT_KERNEL, in->kernel + bz.setup_size, bz.pm_size) ||
        write_boot_params(gm, in, &bz, initrd_gpa, in->initrd_path ? in->initrd_size : 0) ||
        write_page_tables(gm) || loader_write_gdt(gm, out)) {
        snprintf(err, errlen, "guest memory too small for the bzImage boot structures");
        return -1;
    }
    out->kind = BOOT_BZIMAGE64;
    out->rip = LAYOUT_KERNEL + ENTRY64_OFFSET;
    out->rsi = LAYOUT_BOOT_PARAMS;
    out->cr3 = LAYOUT_PAGE_TABLES;
    out->cs = BOOT_SEL_CODE64;
    return 0;
}
