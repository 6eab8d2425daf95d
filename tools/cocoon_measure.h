/* cocoon_measure.h: internal interface between cocoon-measure's source files. */
#ifndef COCOON_TOOLS_MEASURE_H
#define COCOON_TOOLS_MEASURE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "firmware/ovmf.h"

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
