/* loader_files.c: temp files, synthetic bzImage/ELF kernels and the Debian kernel for loader tests.
 */
#include "loader_files.h"

#include <elf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define LT_SLOTS 4

static char lt_paths[LT_SLOTS][64];

void lt_put16(uint8_t *p, uint16_t v)
{
    memcpy(p, &v, 2);
}

void lt_put32(uint8_t *p, uint32_t v)
{
    memcpy(p, &v, 4);
}

void lt_put64(uint8_t *p, uint64_t v)
{
    memcpy(p, &v, 8);
}

uint64_t lt_get64(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

uint32_t lt_get32(const uint8_t *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

static int lt_open_slot(unsigned slot)
{
    if (slot >= LT_SLOTS)
        abort();
    if (lt_paths[slot][0])
        unlink(lt_paths[slot]);
    snprintf(lt_paths[slot], sizeof(lt_paths[slot]), "/tmp/cocoon-loader-test-XXXXXX");
    int fd = mkstemp(lt_paths[slot]);
    if (fd < 0)
        abort();
    return fd;
}

const char *lt_temp_file(unsigned slot, const void *data, size_t len)
{
    int fd = lt_open_slot(slot);
    if (len && write(fd, data, len) != (ssize_t)len)
        abort();
    close(fd);
    return lt_paths[slot];
}

const char *lt_sparse_file(unsigned slot, const void *head, size_t head_len, uint64_t size)
{
    int fd = lt_open_slot(slot);
    if (head_len && write(fd, head, head_len) != (ssize_t)head_len)
        abort();
    if (ftruncate(fd, (off_t)size) < 0)
        abort();
    close(fd);
    return lt_paths[slot];
}

void lt_cleanup(void)
{
    for (unsigned i = 0; i < LT_SLOTS; i++) {
        if (lt_paths[i][0])
            unlink(lt_paths[i]);
        lt_paths[i][0] = 0;
    }
}

const char *lt_debian_kernel(const char *binary_dir, const char *name)
{
    static char path[4096];
    snprintf(path, sizeof(path), "%s/debian-kernel/%s", binary_dir, name);
    struct stat st;
    if (stat(path, &st) < 0 || !S_ISREG(st.st_mode)) {
        fprintf(stderr,
                "note: %s missing: run tests/scripts/fetch-debian-kernel.sh %s/debian-kernel "
                "(needs apt network access); real-kernel tests skipped\n",
                path, binary_dir);
        return NULL;
    }
    return path;
}

uint8_t *lt_make_bzimage(uint64_t pm_size, size_t *len)
{
    const unsigned sects = 4;
    size_t setup = (sects + 1) * 512;
    *len = setup + pm_size;
    uint8_t *b = calloc(1, *len);
    if (!b)
        abort();
    b[LT_SETUP_SECTS] = sects;
    lt_put32(b + LT_SYSSIZE, (uint32_t)((pm_size + 15) / 16));
    lt_put16(b + 0x1fa, 0xffff); /* vid_mode: normal */
    lt_put16(b + LT_BOOT_FLAG, 0xAA55);
    b[0x200] = 0xeb;
    b[0x201] = 0x6a; /* header ends at 0x26c */
    memcpy(b + LT_HEADER, "HdrS", 4);
    lt_put16(b + LT_VERSION, 0x020f);
    b[LT_LOADFLAGS] = 0x01; /* LOADED_HIGH */
    lt_put32(b + 0x214, 0x100000);
    lt_put32(b + LT_INITRD_ADDR_MAX, 0x7fffffff);
    lt_put32(b + LT_KERNEL_ALIGNMENT, 0x200000);
    b[0x234] = 1;                     /* relocatable */
    b[0x235] = 21;                    /* min_alignment */
    lt_put16(b + LT_XLOADFLAGS, 0x1); /* XLF_KERNEL_64 */
    lt_put32(b + LT_CMDLINE_SIZE, 0x7ff);
    lt_put64(b + LT_PREF_ADDRESS, 0x1000000);
    lt_put32(b + LT_INIT_SIZE, 0x800000);
    for (uint64_t i = 0; i < pm_size; i++)
        b[setup + i] = (uint8_t)(i * 7 + 1);
    return b;
}

size_t lt_elf_phoff(const struct lt_elf *spec)
{
    return spec->elf32 ? sizeof(Elf32_Ehdr) : sizeof(Elf64_Ehdr);
}

size_t lt_elf_phentsize(const struct lt_elf *spec)
{
    return spec->elf32 ? sizeof(Elf32_Phdr) : sizeof(Elf64_Phdr);
}

/* Layout: ehdr, 2 phdrs, note at 0x100, segment data at 0x200. */
uint8_t *lt_make_elf(const struct lt_elf *s, size_t *len)
{
    const size_t note_off = 0x100, data_off = 0x200;
    const size_t note_len = 12 + 4 + 4;
    *len = data_off + s->filesz;
    uint8_t *b = calloc(1, *len);
    if (!b)
        abort();
    memcpy(b, ELFMAG, SELFMAG);
    b[EI_CLASS] = s->elf32 ? ELFCLASS32 : ELFCLASS64;
    b[EI_DATA] = ELFDATA2LSB;
    b[EI_VERSION] = EV_CURRENT;
    if (s->elf32) {
        Elf32_Ehdr eh;
        memcpy(&eh, b, sizeof(eh));
        eh.e_type = ET_EXEC;
        eh.e_machine = EM_386;
        eh.e_version = EV_CURRENT;
        eh.e_entry = (Elf32_Addr)s->entry;
        eh.e_phoff = sizeof(Elf32_Ehdr);
        eh.e_ehsize = sizeof(Elf32_Ehdr);
        eh.e_phentsize = sizeof(Elf32_Phdr);
        eh.e_phnum = 2;
        memcpy(b, &eh, sizeof(eh));
        Elf32_Phdr ph[2] = {
            {PT_LOAD, data_off, (Elf32_Addr)s->paddr, (Elf32_Addr)s->paddr, (Elf32_Word)s->filesz,
             (Elf32_Word)s->memsz, PF_R | PF_X, 0x1000},
            {PT_NOTE, note_off, 0, 0, note_len, note_len, PF_R, 4},
        };
        memcpy(b + eh.e_phoff, ph, sizeof(ph));
    } else {
        Elf64_Ehdr eh;
        memcpy(&eh, b, sizeof(eh));
        eh.e_type = ET_EXEC;
        eh.e_machine = EM_X86_64;
        eh.e_version = EV_CURRENT;
        eh.e_entry = s->entry;
        eh.e_phoff = sizeof(Elf64_Ehdr);
        eh.e_ehsize = sizeof(Elf64_Ehdr);
        eh.e_phentsize = sizeof(Elf64_Phdr);
        eh.e_phnum = 2;
        memcpy(b, &eh, sizeof(eh));
        Elf64_Phdr ph[2] = {
            {PT_LOAD, PF_R | PF_X, data_off, s->paddr, s->paddr, s->filesz, s->memsz, 0x1000},
            {PT_NOTE, PF_R, note_off, 0, 0, note_len, note_len, 4},
        };
        memcpy(b + eh.e_phoff, ph, sizeof(ph));
    }
    lt_put32(b + note_off, 4);                           /* namesz */
    lt_put32(b + note_off + 4, 4);                       /* descsz */
    lt_put32(b + note_off + 8, s->with_pvh ? 18 : 0x11); /* XEN_ELFNOTE_PHYS32_ENTRY or other */
    memcpy(b + note_off + 12, "Xen", 4);
    lt_put32(b + note_off + 16, (uint32_t)s->entry);
    for (uint64_t i = 0; i < s->filesz; i++)
        b[data_off + i] = (uint8_t)(0xA0 + i);
    return b;
}
