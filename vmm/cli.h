/* cli.h: the launch CLI (Cloud Hypervisor flag syntax) parsed into a struct vm_config. */
#ifndef COCOON_CLI_H
#define COCOON_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "vmm/base/config.h"

enum cli_seccomp { CLI_SECCOMP_TRUE = 0, CLI_SECCOMP_FALSE, CLI_SECCOMP_LOG, CLI_SECCOMP_ERRNO };

/* Everything the command line says. `cfg` is not validated here: call vm_config_validate. */
struct cli_opts {
    struct vm_config cfg;
    char *api_socket;  /* --api-socket PATH | path=PATH, or NULL */
    int api_socket_fd; /* --api-socket fd=N, or -1 */
    enum cli_seccomp seccomp;
    int verbosity; /* number of -v */
    bool help;
    bool version;
};

/* Parses argv into o (initialised here; free with cli_opts_free even on failure). Returns 0, or
 * -1 with one line in err naming the bad flag or value. */
int cli_parse(int argc, char *const argv[], struct cli_opts *o, char *err, size_t errlen);

/* Releases what cli_parse allocated. */
void cli_opts_free(struct cli_opts *o);

/* Writes the --help text. */
void cli_usage(FILE *f);

#endif
