/* sev_hashes.h: the SEV kernel-hashes table QEMU places for OVMF to check -kernel/-initrd/-append
 * (measurement.md §2.5), and one-pass SHA-256 of the inputs. */
#ifndef COCOON_TEE_SEV_HASHES_H
#define COCOON_TEE_SEV_HASHES_H

#include <stddef.h>
#include <stdint.h>

#include "firmware/ovmf.h"
#include "tee/launch_plan.h"

#define SEV_HASHES_TABLE_LEN        168 /* packed table, as its length field says */
#define SEV_HASHES_TABLE_PADDED_LEN 176 /* padded to 16, as measured */

/* The padded 176-byte table: header GUID, length 168, cmdline, initrd, kernel entries. */
void sev_hashes_table(uint8_t out[SEV_HASHES_TABLE_PADDED_LEN],
                      const struct launch_kernel_hashes *h);

/* The 4 KiB page holding the table at offset `offset_in_page`; -1 if it does not fit. */
int sev_hashes_page(uint8_t page[4096], uint32_t offset_in_page,
                    const struct launch_kernel_hashes *h, struct fw_error *err);

/* SHA-256 of the command line as QEMU hashes it: the bytes plus one NUL (NULL = ""). */
int sev_hash_cmdline(uint8_t out[32], const char *cmdline, struct fw_error *err);

/* SHA-256 of a memory buffer (one pass). */
int sev_sha256(uint8_t out[32], const uint8_t *data, size_t len, struct fw_error *err);

/* SHA-256 of a file in one streaming pass (path NULL = the empty string's hash). */
int sev_sha256_file(uint8_t out[32], const char *path, struct fw_error *err);

#endif
