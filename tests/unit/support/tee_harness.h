/* tee_harness.h: plays vm.c for the TEE tests: creates a VM and vCPUs on a simulator and launches.
 */
#ifndef COCOON_TEST_TEE_HARNESS_H
#define COCOON_TEST_TEE_HARNESS_H

#include <stddef.h>

#include "tee/tee.h"
#include "tests/unit/support/sim_tee.h"
#include "vmm/base/config.h"
#include "vmm/base/memory.h"

/* harness_launch without the final tee_launch (a test may change vCPU state first). */
int harness_create(struct sim_tee *s, const struct vm_config *cfg, struct guest_mem *gm,
                   struct tee_vm **out, char *err, size_t errlen);

/* probe -> create -> map memory -> create+add vCPUs -> launch, all through the simulator's table.
 * *out holds the context (also on a launch failure, for inspection); 0 or -1 with err. */
int harness_launch(struct sim_tee *s, const struct vm_config *cfg, struct guest_mem *gm,
                   struct tee_vm **out, char *err, size_t errlen);

/* One confidential VM on its own simulator, for tests that look at run-time behaviour. */
struct harness_vm {
    struct sim_tee *s;
    struct guest_mem gm;
    struct tee_vm *t;
    struct vm_config cfg;
    char fw[4096];
};

/* Prepares kind (TEE_SNP/TEE_TDX, firmware found from source_dir) with `cpus` vCPUs and ram bytes
 * on a new simulator and a usable firmware, without launching (a test may set simulator knobs
 * first). 0 or -1 + err. */
int harness_vm_init(struct harness_vm *v, const char *source_dir, enum tee_kind kind, unsigned cpus,
                    uint64_t ram, char *err, size_t errlen);

/* harness_launch for v. 0 or -1 + err. */
int harness_vm_launch(struct harness_vm *v, char *err, size_t errlen);

/* Destroys the context, the simulator and the memory. */
void harness_vm_down(struct harness_vm *v);

/* Runs <binary_dir>/cocoon-measure with argv (NULL-terminated, argv[0] ignored) and returns the hex
 * digest of the first output line that has one (after "MRTD: " for tdx). 0, 77 if the binary is
 * absent, or -1. */
int harness_measure(const char *binary_dir, char *const argv[], char *hex, size_t hexlen);

/* Lowercase hex of n bytes. */
void harness_hex(const uint8_t *b, size_t n, char *out);

/* The vector folder (<source_dir>/../shared/vectors) or NULL if absent. */
const char *harness_vectors(const char *source_dir);

/* Where a test's firmware came from. Only HARNESS_FW_VECTOR has a published digest to compare
 * with; every source gives a valid firmware for "launch digest == cocoon-measure's". */
enum harness_fw_source {
    HARNESS_FW_NONE,        /* nothing usable on this machine */
    HARNESS_FW_VECTOR,      /* the known-answer vector's own file under ../shared/vectors */
    HARNESS_FW_DEBIAN_OVMF, /* /usr/share/ovmf/OVMF.fd (package ovmf): OvmfPkgX64, no hashes */
    HARNESS_FW_SYNTHETIC,   /* mf_build_image() written to a temporary file (removed at exit) */
};

/* One line naming the source, for skip and sub-check messages. */
const char *harness_fw_name(enum harness_fw_source src);

/* SNP firmware with an SNP_KERNEL_HASHES section: the vector fixture snp/fixtures/
 * ovmf_AmdSev_suffix.bin if readable, else the synthetic AmdSev-style image. */
enum harness_fw_source harness_fw_snp(const char *source_dir, char *path, size_t len);

/* A real OVMF build (SEV and TDX metadata, no kernel-hashes section): the vector file
 * <vectors>/<vector_rel> if readable (vector_rel NULL: never), else Debian's OVMF.fd, else
 * HARNESS_FW_NONE. */
enum harness_fw_source harness_fw_ovmf(const char *source_dir, const char *vector_rel, char *path,
                                       size_t len);

/* TDX firmware: the Debian-12 OVMF vector file, else Debian's OVMF.fd, else the synthetic image
 * (it carries TDVF metadata too). */
enum harness_fw_source harness_fw_tdx(const char *source_dir, char *path, size_t len);

/* Only the synthetic image (the same file for the whole process); HARNESS_FW_NONE if it cannot be
 * written. */
enum harness_fw_source harness_fw_synthetic(char *path, size_t len);

#endif
