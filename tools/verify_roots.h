/* verify_roots.h: the vendor root certificates built into cocoon-measure (PEM text of the files
 * in tools/roots/, generated into the build by tools/measure.cmake). */
#ifndef COCOON_TOOLS_VERIFY_ROOTS_H
#define COCOON_TOOLS_VERIFY_ROOTS_H

struct verify_root {
    const char *name; /* file name in tools/roots/, e.g. "amd_ask_ark_milan.pem" */
    const char *pem;
};

/* Terminated by an entry with name NULL. */
extern const struct verify_root verify_roots[];

#endif
