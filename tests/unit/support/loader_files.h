/* loader_files.h: unit-test helpers for the loaders: temp files, synthetic kernels, Debian kernel.
 */
#ifndef COCOON_TEST_LOADER_FILES_H
#define COCOON_TEST_LOADER_FILES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Writes len bytes to a new temp file; returns its path (static buffer per slot 0..3). */
const char *lt_temp_file(unsigned slot, const void *data, size_t len);

/* Creates a sparse temp file of `size` bytes whose first bytes are `head` (may be NULL). */
const char *lt_sparse_file(unsigned slot, const void *head, size_t head_len, uint64_t size);

/* Removes every temp file created so far. */
void lt_cleanup(void);

/* Path of the Debian test kernel file `name` ("bzImage" or "vmlinux") under the fetch script's
 * output directory <binary_dir>/debian-kernel, or NULL (with a note on stderr) if the set-up
 * (tests/scripts/fetch-debian-kernel.sh) has not run. */
const char *lt_debian_kernel(const char *binary_dir, const char *name);

/* A minimal valid bzImage (boot protocol 2.15, 64-bit entry, 4 setup sectors, pm_size bytes of
 * protected-mode code filled with a pattern). Returns a malloc'd buffer of *len bytes. */
uint8_t *lt_make_bzimage(uint64_t pm_size, size_t *len);

/* Setup-header field offsets in the file (and in boot_params). */
#define LT_SETUP_SECTS      0x1f1
#define LT_SYSSIZE          0x1f4
#define LT_BOOT_FLAG        0x1fe
#define LT_HEADER           0x202
#define LT_VERSION          0x206
#define LT_LOADFLAGS        0x211
#define LT_INITRD_ADDR_MAX  0x22c
#define LT_KERNEL_ALIGNMENT 0x230
#define LT_XLOADFLAGS       0x236
#define LT_CMDLINE_SIZE     0x238
#define LT_PREF_ADDRESS     0x258
#define LT_INIT_SIZE        0x260

/* A synthetic ELF (64- or 32-bit) kernel: one PT_LOAD segment at `paddr` with `filesz` bytes of
 * code and `memsz` in memory, and one PT_NOTE with a Xen PVH entry note (type 18) pointing at
 * `entry`, or another note type if !with_pvh. Returned as a malloc'd buffer. */
struct lt_elf {
    bool elf32;
    bool with_pvh;
    uint64_t paddr;
    uint64_t filesz;
    uint64_t memsz;
    uint64_t entry;
};
uint8_t *lt_make_elf(const struct lt_elf *spec, size_t *len);

/* Offsets inside an lt_make_elf image, for tests that corrupt fields. */
size_t lt_elf_phoff(const struct lt_elf *spec);
size_t lt_elf_phentsize(const struct lt_elf *spec);

/* Little-endian field writers. */
void lt_put16(uint8_t *p, uint16_t v);
void lt_put32(uint8_t *p, uint32_t v);
void lt_put64(uint8_t *p, uint64_t v);
uint64_t lt_get64(const uint8_t *p);
uint32_t lt_get32(const uint8_t *p);

#endif
