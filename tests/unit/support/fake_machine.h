/* fake_machine.h: a recording vm_machine_ops for tests of the VM's owner (no KVM). */
#ifndef COCOON_TEST_FAKE_MACHINE_H
#define COCOON_TEST_FAKE_MACHINE_H

#include <stdbool.h>

#include "vmm/vm_owner.h"

/* What the owner asked of the machine, and how the next calls should fail. */
struct fake_machine {
    unsigned boots, pauses, resumes, shutdowns, destroys, disks, nets, removes, buttons;
    unsigned booted_disks, booted_nets; /* the configuration the last boot was given */
    bool booted_vsock;
    bool fail_boot, fail_hotplug, fail_remove, no_button;
    unsigned resizes, resized_to, booted_cpus; /* resize_vcpus calls, last count; last boot's */
    int resize_rc;  /* what resize_vcpus answers (0, or a vm_owner_error) */
    unsigned stops; /* the owner's guest_stopped hook */
    enum vm_exit_reason stop_reason;
};

extern const struct vm_machine_ops fake_machine_ops;

/* An owner over a zeroed *m whose guest_stopped hook counts into m. */
struct vm_owner *fake_machine_owner(struct fake_machine *m);

/* cmocka setup/teardown pair for owner tests: the config fixture files (config_cases.h) and an
 * owner over a zeroed *m. */
int fake_owner_setup(struct fake_machine *m, struct vm_owner **owner);
int fake_owner_teardown(struct vm_owner *owner);

/* A config_cases.h template expanded into a new string (NULL when it does not fit). */
char *fake_config_case_dup(const char *tmpl);

/* The owner tests' file-level fixture, written once: a fake machine `fm`, the owner `owner` over
 * it, an error buffer `err`, cmocka's `setup`/`teardown`, and `fixture(name)` (a config case
 * expanded; the test fails if it does not fit). Use it once at file scope, after cmocka.h. */
#define FAKE_OWNER_FIXTURE                                                                         \
    static struct fake_machine fm;                                                                 \
    static struct vm_owner *owner;                                                                 \
    static char err[256];                                                                          \
    static int setup(void **state)                                                                 \
    {                                                                                              \
        (void)state;                                                                               \
        return fake_owner_setup(&fm, &owner);                                                      \
    }                                                                                              \
    static int teardown(void **state)                                                              \
    {                                                                                              \
        (void)state;                                                                               \
        return fake_owner_teardown(owner);                                                         \
    }                                                                                              \
    static char *fixture(const char *name)                                                         \
    {                                                                                              \
        char *s = fake_config_case_dup(name);                                                      \
        assert_non_null(s);                                                                        \
        return s;                                                                                  \
    }

#endif
