/* tee_harness.h: plays vm.c for the TEE tests: creates a VM and vCPUs on a simulator and launches.
 */
#ifndef COCOON_TEST_TEE_HARNESS_H
#define COCOON_TEST_TEE_HARNESS_H

#include <stddef.h>

#include "tee/tee.h"
#include "tests/unit/support/sim_tee.h"
#include "vmm/config.h"
#include "vmm/memory.h"

/* probe -> create -> map memory -> create+add vCPUs -> launch, all through the simulator's table.
 * *out holds the context (also on a launch failure, for inspection); 0 or -1 with err. */
int harness_launch(struct sim_tee *s, const struct vm_config *cfg, struct guest_mem *gm,
                   struct tee_vm **out, char *err, size_t errlen);

/* Runs <binary_dir>/cocoon-measure with argv (NULL-terminated, argv[0] ignored) and returns the hex
 * digest of the first output line that has one (after "MRTD: " for tdx). 0, 77 if the binary is
 * absent, or -1. */
int harness_measure(const char *binary_dir, char *const argv[], char *hex, size_t hexlen);

/* Lowercase hex of n bytes. */
void harness_hex(const uint8_t *b, size_t n, char *out);

/* The vector folder (<source_dir>/../shared/vectors) or NULL if absent. */
const char *harness_vectors(const char *source_dir);

#endif
