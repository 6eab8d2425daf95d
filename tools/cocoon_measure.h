/* cocoon_measure.h: internal interface between cocoon-measure's source files. */
#ifndef COCOON_TOOLS_MEASURE_H
#define COCOON_TOOLS_MEASURE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <getopt.h>
#include <stdio.h>

#include "firmware/ovmf.h"
#include "tee/launch_plan.h"

/* The SEV/SNP launch flags (`--mode snp ...`), as parsed from the command line. */
struct sev_args {
    const char *mode, *ovmf, *kernel, *initrd, *append, *vcpu_type, *vmm_type, *output_format;
    const char *snp_ovmf_hash, *svsm, *vars_file, *format;
    const char *kernel_sha256, *initrd_sha256; /* hex digests instead of the files */
    bool have_vcpus, have_sig, have_family, have_model, have_stepping, have_mxcsr, have_fcw;
    bool dump_vmsa, verbose;
    uint64_t vcpus, sig, family, model, stepping, features, vars_size, mxcsr, fcw;
};

/* getopt_long table of the SEV/SNP flags (NULL-terminated), so `verify snp` can accept them. */
const struct option *measure_sev_options(void);

/* Parses argv (argv[0] = program name) as `cocoon-measure --mode ...`; exits 2 on misuse. */
void measure_parse_sev_args(int argc, char **argv, struct sev_args *a);

/* The SNP MEASUREMENT the flags in `a` predict (mode snp or snp:svsm), computed by the same
 * launch-plan code as `--mode snp`, without printing. 0, or -1 with err set (may exit 2 on
 * misuse, as the plain command does). */
int measure_sev_digest(const struct sev_args *a, uint8_t ld[48], struct fw_error *err);

/* The MRTD `cocoon-measure tdx --firmware F --page-order O` prints. 0, or -1 with err set. */
int measure_tdx_mrtd(const char *firmware, enum launch_tdx_order order, uint8_t mrtd[48],
                     struct fw_error *err);

/* `cocoon-measure verify snp|tdx ...` (argv[0] = "verify"); returns the exit status. */
int measure_verify_main(int argc, char **argv);

/* Print the Trustee RVPS message registering one digest as reference value `name`. */
int measure_print_rvps_digest(const char *name, const uint8_t *d, size_t n);

/* Write the manual page text (--help). */
void measure_print_help(FILE *out);

/* A whole input file in memory (firmware images are at most a few MiB). */
struct measure_file {
    uint8_t *data;
    size_t size;
    bool mapped; /* regular files are mapped read-only (no copy), others read into memory */
};

/* Load all of `path` (regular file or device such as /dev/null; at most 1 GiB). */
int measure_read_file(const char *path, struct measure_file *f, struct fw_error *err);

/* Unmaps or frees f's bytes and empties it. */
void measure_file_free(struct measure_file *f);

#endif
