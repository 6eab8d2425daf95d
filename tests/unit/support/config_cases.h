/* config_cases.h: the one validation table that both the CLI and the vm.create JSON paths run. */
#ifndef COCOON_TEST_CONFIG_CASES_H
#define COCOON_TEST_CONFIG_CASES_H

#include <stdbool.h>
#include <stddef.h>

/* One configuration, written both as launch-CLI arguments and as a vm.create body. Both forms
 * must parse; vm_config_validate() then must accept it (valid) or reject it with an error
 * containing err. Placeholders @KERNEL@ (small non-empty file), @INITRAMFS@, @FIRMWARE@,
 * @DISK@ (1 MiB file), @EMPTY@ (empty file), @DIR@ (a directory), @MISSING@ (no such file) and
 * @SOCK@ (a vsock socket path) are expanded with config_case_expand(). */
struct config_case {
    const char *name;
    const char *cli;  /* arguments after argv[0], separated by single spaces */
    const char *json; /* the same machine as a Cloud Hypervisor VmConfig */
    bool valid;
    const char *err; /* substring of the validator's message when !valid */
};

extern const struct config_case config_cases[];
extern const size_t config_cases_count;

/* Creates the fixture files in a fresh temporary folder. Returns 0 or -1. */
int config_fixture_setup(void);

/* Removes the fixture folder and its files. */
void config_fixture_teardown(void);

/* Copies tmpl into out with the placeholders replaced. Returns 0, or -1 if out is too small. */
int config_case_expand(const char *tmpl, char *out, size_t outlen);

/* Splits an expanded CLI string in place into argv (argv[0] = "cocoon"); returns argc. */
int config_case_argv(char *cli, char **argv, int max);

#endif
