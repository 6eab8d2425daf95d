/* loader_pvh.c: ELF vmlinux (64- or 32-bit) through the PVH entry note and hvm_start_info. */
#include <elf.h>
#include <stdio.h>
#include <string.h>

#include "vmm/e820.h"
#include "vmm/loader_formats.h"

#define XEN_ELFNOTE_PHYS32_ENTRY 18
#define HVM_START_MAGIC          0x336ec578U
#define HVM_START_VERSION        1
#define MAX_PHDRS                64
#define FOUR_GIB                 0x100000000ULL

/* PVH boot ABI (xen/include/public/arch-x86/hvm/start_info.h), version 1 fields. */
struct hvm_start_info {
    uint32_t magic;
    uint32_t version;
    uint32_t flags;
    uint32_t nr_modules;
    uint64_t modlist_paddr;
    uint64_t cmdline_paddr;
    uint64_t rsdp_paddr;
    uint64_t memmap_paddr;
    uint32_t memmap_entries;
    uint32_t reserved;
};

struct hvm_modlist_entry {
    uint64_t paddr;
    uint64_t size;
    uint64_t cmdline_paddr;
    uint64_t reserved;
};

struct hvm_memmap_table_entry {
    uint64_t addr;
    uint64_t size;
    uint32_t type;
    uint32_t reserved;
};

_Static_assert(sizeof(struct hvm_start_info) == 56, "hvm_start_info layout");
_Static_assert(sizeof(struct hvm_modlist_entry) == 32, "hvm_modlist_entry layout");
_Static_assert(sizeof(struct hvm_memmap_table_entry) == 24, "hvm_memmap_table_entry layout");

/* Everything lives in the page at LAYOUT_PVH_START_INFO. */
#define PVH_MODLIST    (LAYOUT_PVH_START_INFO + 0x40)
#define PVH_MEMMAP     (LAYOUT_PVH_START_INFO + 0x80)
#define PVH_MEMMAP_MAX ((GM_PAGE_SIZE - 0x80) / sizeof(struct hvm_memmap_table_entry))
#define PVH_INFO_PAGE  GM_PAGE_SIZE
_Static_assert(LAYOUT_PVH_START_INFO + PVH_INFO_PAGE <= LAYOUT_BOOT_PARAMS, "PVH page overlaps");

/* A program header, independent of the ELF class. */
struct phdr {
    uint32_t type;
    uint64_t offset;
    uint64_t paddr;
    uint64_t filesz;
    uint64_t memsz;
};

struct elf_image {
    unsigned phnum;
    struct phdr ph[MAX_PHDRS];
    uint64_t load_end; /* one past the highest loaded byte */
};

bool elf_detect(const uint8_t *data, uint64_t size)
{
    return size >= SELFMAG && memcmp(data, ELFMAG, SELFMAG) == 0;
}

/* True if [off, off+len) lies inside a file of `size` bytes (no wrap). */
static bool in_file(uint64_t off, uint64_t len, uint64_t size)
{
    return off <= size && len <= size - off;
}

/* Checks the fixed ELF header fields common to both classes. */
static int check_ident(const struct loader_input *in, uint16_t type, uint16_t machine,
                       uint64_t phoff, uint16_t phentsize, uint16_t phnum, uint16_t want_entsize,
                       uint16_t want_machine, char *err, size_t errlen)
{
    const char *path = in->kernel_path;
    if (in->kernel[EI_DATA] != ELFDATA2LSB || in->kernel[EI_VERSION] != EV_CURRENT ||
        type != ET_EXEC || machine != want_machine) {
        snprintf(err, errlen, "kernel %s: not a little-endian x86 ELF executable", path);
        return -1;
    }
    if (phentsize != want_entsize || phnum == 0 || phnum > MAX_PHDRS ||
        !in_file(phoff, (uint64_t)phnum * phentsize, in->kernel_size)) {
        snprintf(err, errlen, "kernel %s: bad ELF program header table (%u entries at 0x%llx)",
                 path, phnum, (unsigned long long)phoff);
        return -1;
    }
    return 0;
}

/* Parses the ELF header and program headers (64- or 32-bit) into img. */
static int parse_elf(const struct loader_input *in, struct elf_image *img, char *err, size_t errlen)
{
    const uint8_t *d = in->kernel;
    if (in->kernel_size >= sizeof(Elf64_Ehdr) && d[EI_CLASS] == ELFCLASS64) {
        Elf64_Ehdr eh;
        memcpy(&eh, d, sizeof(eh));
        if (check_ident(in, eh.e_type, eh.e_machine, eh.e_phoff, eh.e_phentsize, eh.e_phnum,
                        sizeof(Elf64_Phdr), EM_X86_64, err, errlen))
            return -1;
        img->phnum = eh.e_phnum;
        for (unsigned i = 0; i < img->phnum; i++) {
            Elf64_Phdr p;
            memcpy(&p, d + eh.e_phoff + (uint64_t)i * sizeof(p), sizeof(p));
            img->ph[i] = (struct phdr){p.p_type, p.p_offset, p.p_paddr, p.p_filesz, p.p_memsz};
        }
        return 0;
    }
    if (in->kernel_size >= sizeof(Elf32_Ehdr) && d[EI_CLASS] == ELFCLASS32) {
        Elf32_Ehdr eh;
        memcpy(&eh, d, sizeof(eh));
        if (check_ident(in, eh.e_type, eh.e_machine, eh.e_phoff, eh.e_phentsize, eh.e_phnum,
                        sizeof(Elf32_Phdr), EM_386, err, errlen))
            return -1;
        img->phnum = eh.e_phnum;
        for (unsigned i = 0; i < img->phnum; i++) {
            Elf32_Phdr p;
            memcpy(&p, d + eh.e_phoff + (uint64_t)i * sizeof(p), sizeof(p));
            img->ph[i] = (struct phdr){p.p_type, p.p_offset, p.p_paddr, p.p_filesz, p.p_memsz};
        }
        return 0;
    }
    snprintf(err, errlen, "kernel %s: truncated or unknown-class ELF header", in->kernel_path);
    return -1;
}

/* Checks every PT_LOAD segment against the file, guest RAM and the boot structures. */
static int check_segments(const struct guest_mem *gm, const struct loader_input *in,
                          struct elf_image *img, char *err, size_t errlen)
{
    const char *path = in->kernel_path;
    img->load_end = 0;
    for (unsigned i = 0; i < img->phnum; i++) {
        const struct phdr *p = &img->ph[i];
        if (p->type != PT_LOAD)
            continue;
        if (p->filesz > p->memsz) {
            snprintf(err, errlen, "kernel %s: segment %u has p_filesz > p_memsz", path, i);
            return -1;
        }
        if (!in_file(p->offset, p->filesz, in->kernel_size)) {
            snprintf(err, errlen, "kernel %s: segment %u lies outside the file", path, i);
            return -1;
        }
        if (p->memsz == 0)
            continue;
        if (p->paddr > UINT64_MAX - p->memsz) {
            snprintf(err, errlen, "kernel %s: segment %u wraps around the address space", path, i);
            return -1;
        }
        uint64_t end = p->paddr + p->memsz;
        if (!gm_span_loader(gm, p->paddr, p->memsz)) {
            snprintf(err, errlen, "kernel %s: segment %u [0x%llx, 0x%llx) is not inside guest RAM",
                     path, i, (unsigned long long)p->paddr, (unsigned long long)end);
            return -1;
        }
        if (loader_overlaps_boot_area(p->paddr, end)) {
            snprintf(err, errlen,
                     "kernel %s: segment %u [0x%llx, 0x%llx) overlaps the boot structures below "
                     "1 MiB",
                     path, i, (unsigned long long)p->paddr, (unsigned long long)end);
            return -1;
        }
        if (end > img->load_end)
            img->load_end = end;
    }
    if (img->load_end == 0) {
        snprintf(err, errlen, "kernel %s: ELF has no loadable segment", path);
        return -1;
    }
    return 0;
}

/* Walks the notes of one PT_NOTE segment; 1 and *entry set if the PVH note is there. */
static int scan_notes(const uint8_t *d, uint64_t pos, uint64_t end, uint64_t *entry)
{
    while (end - pos >= 12) {
        uint32_t hdr[3]; /* namesz, descsz, type */
        memcpy(hdr, d + pos, sizeof(hdr));
        pos += 12;
        uint64_t name_len = ((uint64_t)hdr[0] + 3) & ~3ULL;
        uint64_t desc_len = ((uint64_t)hdr[1] + 3) & ~3ULL;
        if (name_len > end - pos || desc_len > end - pos - name_len)
            return -1;
        const uint8_t *name = d + pos;
        const uint8_t *desc = d + pos + name_len;
        pos += name_len + desc_len;
        if (hdr[2] != XEN_ELFNOTE_PHYS32_ENTRY || hdr[0] != 4 || memcmp(name, "Xen", 4) != 0)
            continue;
        if (hdr[1] == 4) {
            uint32_t v;
            memcpy(&v, desc, 4);
            *entry = v;
        } else if (hdr[1] == 8) {
            memcpy(entry, desc, 8);
        } else {
            return -1;
        }
        return 1;
    }
    return 0;
}

/* Finds XEN_ELFNOTE_PHYS32_ENTRY and checks that it points into loaded code below 4 GiB. */
static int find_pvh_entry(const struct loader_input *in, const struct elf_image *img,
                          uint64_t *entry, char *err, size_t errlen)
{
    const char *path = in->kernel_path;
    int found = 0;
    for (unsigned i = 0; i < img->phnum && !found; i++) {
        const struct phdr *p = &img->ph[i];
        if (p->type != PT_NOTE)
            continue;
        if (!in_file(p->offset, p->filesz, in->kernel_size)) {
            snprintf(err, errlen, "kernel %s: note segment %u lies outside the file", path, i);
            return -1;
        }
        found = scan_notes(in->kernel, p->offset, p->offset + p->filesz, entry);
        if (found < 0) {
            snprintf(err, errlen, "kernel %s: malformed ELF note in segment %u", path, i);
            return -1;
        }
    }
    if (!found) {
        snprintf(err, errlen,
                 "kernel %s: ELF has no PVH entry note (Xen XEN_ELFNOTE_PHYS32_ENTRY): neither a "
                 "bzImage nor an ELF vmlinux with a PVH note",
                 path);
        return -1;
    }
    for (unsigned i = 0; i < img->phnum; i++) {
        const struct phdr *p = &img->ph[i];
        if (p->type == PT_LOAD && *entry >= p->paddr && *entry - p->paddr < p->filesz &&
            *entry < FOUR_GIB)
            return 0;
    }
    snprintf(err, errlen, "kernel %s: PVH entry 0x%llx is not inside a loaded segment below 4 GiB",
             path, (unsigned long long)*entry);
    return -1;
}

static int load_segments(const struct guest_mem *gm, const struct loader_input *in,
                         const struct elf_image *img)
{
    for (unsigned i = 0; i < img->phnum; i++) {
        const struct phdr *p = &img->ph[i];
        if (p->type != PT_LOAD || p->memsz == 0)
            continue;
        if (loader_write(gm, p->paddr, in->kernel + p->offset, p->filesz) ||
            loader_zero(gm, p->paddr + p->filesz, p->memsz - p->filesz))
            return -1;
    }
    return 0;
}

/* Writes hvm_start_info, the module list (initramfs = module 0) and the memory map. */
static int write_start_info(const struct guest_mem *gm, const struct loader_input *in,
                            uint64_t initrd_gpa, uint64_t initrd_size)
{
    struct e820_entry map[E820_MAX_ENTRIES];
    int n = loader_e820(gm, in, map, E820_MAX_ENTRIES);
    if (n < 0 || (unsigned)n > PVH_MEMMAP_MAX ||
        loader_zero(gm, LAYOUT_PVH_START_INFO, PVH_INFO_PAGE))
        return -1;
    for (int i = 0; i < n; i++) {
        struct hvm_memmap_table_entry e = {map[i].addr, map[i].size, map[i].type, 0};
        if (loader_write(gm, PVH_MEMMAP + (uint64_t)i * sizeof(e), &e, sizeof(e)))
            return -1;
    }
    struct hvm_start_info si = {
        .magic = HVM_START_MAGIC,
        .version = HVM_START_VERSION,
        .cmdline_paddr = LAYOUT_CMDLINE,
        .memmap_paddr = PVH_MEMMAP,
        .memmap_entries = (uint32_t)n,
        .rsdp_paddr = in->acpi_rsdp,
    };
    if (initrd_size) {
        struct hvm_modlist_entry mod = {.paddr = initrd_gpa, .size = initrd_size};
        if (loader_write(gm, PVH_MODLIST, &mod, sizeof(mod)))
            return -1;
        si.nr_modules = 1;
        si.modlist_paddr = PVH_MODLIST;
    }
    return loader_write(gm, LAYOUT_PVH_START_INFO, &si, sizeof(si));
}

int pvh_load(const struct guest_mem *gm, const struct loader_input *in, struct boot_entry *out,
             char *err, size_t errlen)
{
    struct elf_image img = {0}; /* gcc -O1 cannot see parse_elf fill it on success */
    uint64_t entry = 0;
    if (parse_elf(in, &img, err, errlen) || check_segments(gm, in, &img, err, errlen) ||
        find_pvh_entry(in, &img, &entry, err, errlen))
        return -1;
    uint64_t initrd_gpa;
    if (loader_write_cmdline(gm, in->cmdline, LAYOUT_CMDLINE_MAX - 1, err, errlen) ||
        loader_place_initrd(gm, in, img.load_end, FOUR_GIB, &initrd_gpa, err, errlen))
        return -1;
    if (load_segments(gm, in, &img) ||
        write_start_info(gm, in, initrd_gpa, in->initrd_path ? in->initrd_size : 0) ||
        loader_write_gdt(gm, out)) {
        snprintf(err, errlen, "guest memory too small for the PVH boot structures");
        return -1;
    }
    out->kind = BOOT_PVH;
    out->rip = entry;
    out->rbx = LAYOUT_PVH_START_INFO;
    out->cr3 = 0;
    out->cs = BOOT_SEL_CODE32;
    return 0;
}
