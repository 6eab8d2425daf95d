/* measure_fixtures.h: unit-test helpers for the measurement code: whole-file reads, the shared
 * known-answer vectors (read in place), and a synthetic OVMF/TDVF image builder. */
#ifndef COCOON_TEST_MEASURE_FIXTURES_H
#define COCOON_TEST_MEASURE_FIXTURES_H

#include <stddef.h>
#include <stdint.h>

/* Reads a whole file into a malloc'd buffer; NULL if it cannot be read. */
uint8_t *mf_read_file(const char *path, size_t *len);

/* Path under the shared vectors directory (<source_dir>/../shared/vectors/<rel>), static buffer.
 * Pass COCOON_SOURCE_DIR (defined for every unit-test program). */
const char *mf_vector_path(const char *source_dir, const char *rel);

/* The `column` cell of the row whose first cell is `id` in a vectors.tsv; malloc'd, or NULL. */
char *mf_tsv_cell(const char *tsv_path, const char *id, const char *column);

/* Decodes `hex` into out[n]; 0 on success. */
int mf_unhex(const char *hex, uint8_t *out, size_t n);

/* A synthetic 64 KiB OVMF-like image: footer table (reset block 0x80b004, hash table
 * 0x810c00/0x400, ASEV at 0x1000 with SEC_MEM, SECRETS, CPUID, KERNEL_HASHES, SEC_MEM, TDVF at
 * 0x2010 with BFV(extend) 0x8000 bytes, CFV 0x8000 bytes, TD_HOB, TempMem). */
#define MF_SIZE     0x10000
#define MF_ASEV_OFF 0x1000
#define MF_TDVF_OFF 0x2010
void mf_build_image(uint8_t img[MF_SIZE]);

#endif
