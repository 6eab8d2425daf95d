/* loader_formats.h: internal interface between loader.c (files, dispatch) and the format loaders.
 */
#ifndef COCOON_LOADER_FORMATS_H
#define COCOON_LOADER_FORMATS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vmm/e820.h"
#include "vmm/loader.h"

/* What a format loader gets: the kernel file's bytes, the initramfs as an open file, and the
 * command line. Paths are only for error messages. */
struct loader_input {
    const char *kernel_path;
    const uint8_t *kernel;
    uint64_t kernel_size;
    const char *initrd_path; /* NULL: no initramfs */
    int initrd_fd;
    uint64_t initrd_size;
    const char *cmdline;                     /* never NULL */
    uint64_t acpi_rsdp, acpi_base, acpi_len; /* from struct load_request */
};

/* e820_build plus the ACPI range of `in` typed ACPI. Returns the entry count or -1. */
int loader_e820(const struct guest_mem *gm, const struct loader_input *in, struct e820_entry *map,
                unsigned max);

/* True if the bytes start like an x86 bzImage ("HdrS" setup header) / an ELF file. */
bool bzimage_detect(const uint8_t *data, uint64_t size);
bool elf_detect(const uint8_t *data, uint64_t size);

/* Format loaders: validate, then write everything into gm. 0, or -1 with one line in err. */
int bzimage_load(const struct guest_mem *gm, const struct loader_input *in, struct boot_entry *out,
                 char *err, size_t errlen);
int pvh_load(const struct guest_mem *gm, const struct loader_input *in, struct boot_entry *out,
             char *err, size_t errlen);

/* Shared helpers (loader.c). All guest writes go through gm_span_loader. */

/* End of the RAM region that starts at GPA 0 (0 if there is none). */
uint64_t loader_low_ram_end(const struct guest_mem *gm);

/* True if [start, end) touches the low-memory boot structures (see loader.h). */
bool loader_overlaps_boot_area(uint64_t start, uint64_t end);

/* Copies / zeroes guest memory; -1 if the range is not RAM. */
int loader_write(const struct guest_mem *gm, uint64_t gpa, const void *src, uint64_t len);
int loader_zero(const struct guest_mem *gm, uint64_t gpa, uint64_t len);

/* Writes the boot GDT at LAYOUT_GDT and fills out->gdt_base/gdt_limit/ds. */
int loader_write_gdt(const struct guest_mem *gm, struct boot_entry *out);

/* Writes the NUL-terminated command line at LAYOUT_CMDLINE if its length (without the NUL) is
 * at most max_len. */
int loader_write_cmdline(const struct guest_mem *gm, const char *cmdline, uint64_t max_len,
                         char *err, size_t errlen);

/* Places the initramfs page-aligned as high as possible with its end at or below `top`, and not
 * below `bottom`, then reads it into guest memory. Sets *gpa. No-op (gpa 0) without initramfs. */
int loader_place_initrd(const struct guest_mem *gm, const struct loader_input *in, uint64_t bottom,
                        uint64_t top, uint64_t *gpa, char *err, size_t errlen);

#endif
