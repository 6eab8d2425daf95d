/* vm_owner_lifecycle.c: the VM owner's one transition table, and the owner driving a (fake)
 * machine through create, boot, pause, resume, shutdown, boot again, delete and hot-plug. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "support/config_cases.h"
#include "support/fake_machine.h"
#include "vmm/vm_owner.h"

#define NC VM_OWNER_NOT_CREATED
#define CR VM_OWNER_CREATED
#define RU VM_OWNER_RUNNING
#define PA VM_OWNER_PAUSED
#define SD VM_OWNER_SHUTDOWN

/* Cloud Hypervisor's lifecycle, written out independently of vmm/vm_owner.c: every allowed
 * (from, op, to); everything else is refused. */
static const struct {
    enum vm_owner_state from;
    enum vm_owner_op op;
    enum vm_owner_state to;
} allowed[] = {
    {NC, VM_OP_CREATE, CR},        {NC, VM_OP_DELETE, NC},        {CR, VM_OP_BOOT, RU},
    {CR, VM_OP_DELETE, NC},        {CR, VM_OP_ADD_DEVICE, CR},    {CR, VM_OP_REMOVE_DEVICE, CR},
    {CR, VM_OP_ADD_VSOCK, CR},     {CR, VM_OP_RESIZE, CR},        {RU, VM_OP_PAUSE, PA},
    {RU, VM_OP_SHUTDOWN, SD},      {RU, VM_OP_DELETE, NC},        {RU, VM_OP_GUEST_STOPPED, SD},
    {RU, VM_OP_ADD_DEVICE, RU},    {RU, VM_OP_REMOVE_DEVICE, RU}, {RU, VM_OP_RESIZE, RU},
    {PA, VM_OP_RESUME, RU},        {PA, VM_OP_SHUTDOWN, SD},      {PA, VM_OP_DELETE, NC},
    {PA, VM_OP_GUEST_STOPPED, SD}, {PA, VM_OP_ADD_DEVICE, PA},    {PA, VM_OP_REMOVE_DEVICE, PA},
    {PA, VM_OP_RESIZE, PA},        {SD, VM_OP_BOOT, RU},          {SD, VM_OP_DELETE, NC},
    {RU, VM_OP_POWER_BUTTON, RU},
};

static int find_allowed(enum vm_owner_state from, enum vm_owner_op op)
{
    for (size_t i = 0; i < sizeof(allowed) / sizeof(allowed[0]); i++)
        if (allowed[i].from == from && allowed[i].op == op)
            return (int)i;
    return -1;
}

/* Every cell of the table: the allowed ones lead where CH's lifecycle says; a refusal says why
 * (no VM: 404; vsock while it runs: not offered; otherwise: the wrong state). */
static void every_transition_allowed_or_refused(void **state)
{
    for (int s = 0; s < VM_OWNER_NR_STATES; s++)
        for (int op = 0; op < VM_OP_NR; op++) {
            enum vm_owner_state to = (enum vm_owner_state)99;
            int rc = vm_owner_transition((enum vm_owner_state)s, (enum vm_owner_op)op, &to);
            int i = find_allowed((enum vm_owner_state)s, (enum vm_owner_op)op);
            if (i >= 0) {
                if (rc != 0 || to != allowed[i].to)
                    fail_msg("state %d op %d: rc %d to %d, want to %d", s, op, rc, (int)to,
                             (int)allowed[i].to);
                continue;
            }
            int want = s == NC                                         ? VM_OWNER_E_NOT_CREATED
                       : op == VM_OP_ADD_VSOCK && (s == RU || s == PA) ? VM_OWNER_E_UNSUPPORTED
                                                                       : VM_OWNER_E_STATE;
            if (rc != want || to != (enum vm_owner_state)99)
                fail_msg("state %d op %d: rc %d (want %d), to %d", s, op, rc, want, (int)to);
        }
    enum vm_owner_state to;
    assert_int_equal(vm_owner_transition(VM_OWNER_NR_STATES, VM_OP_BOOT, &to), VM_OWNER_E_STATE);
    assert_int_equal(vm_owner_transition(CR, VM_OP_NR, &to), VM_OWNER_E_STATE);
}

/* ---- the owner over a fake machine ---- */

FAKE_OWNER_FIXTURE

static void create_plain(unsigned disks)
{
    struct vm_config cfg;
    vm_config_init(&cfg);
    cfg.memory = 256ULL << 20;
    cfg.kernel = fixture("@KERNEL@");
    for (unsigned i = 0; i < disks; i++)
        cfg.disks[cfg.nr_disks++].path = fixture("@DISK@");
    assert_int_equal(vm_owner_create(owner, &cfg, err, sizeof(err)), 0);
    assert_null(cfg.kernel); /* taken */
}

static struct disk_config new_disk(const char *id)
{
    struct disk_config d = {.path = fixture("@DISK@"), .id = id ? strdup(id) : NULL};
    return d;
}

static void lifecycle_drives_the_machine(void **state)
{
    assert_null(vm_owner_config(owner));
    assert_int_equal(vm_owner_boot(owner, err, sizeof(err)), VM_OWNER_E_NOT_CREATED);
    create_plain(1);
    assert_int_equal(vm_owner_state(owner), CR);
    assert_int_equal(fm.boots, 0); /* vm.create only stores */
    assert_string_equal(vm_owner_config(owner)->disks[0].id, "_disk0");
    assert_int_equal(vm_owner_boot(owner, err, sizeof(err)), 0);
    assert_int_equal(vm_owner_pause(owner, err, sizeof(err)), 0);
    assert_int_equal(vm_owner_state(owner), PA);
    assert_int_equal(vm_owner_resume(owner, err, sizeof(err)), 0);
    assert_int_equal(vm_owner_shutdown(owner, err, sizeof(err)), 0);
    /* Released at once: its disks' images are free (their rings drain on later loop turns)
     * before a vm.boot, which came in the same turn before and met "the same image twice". */
    assert_int_equal(fm.destroys, 1);
    vm_owner_guest_stopped(owner, VM_EXIT_POWEROFF, 0); /* the requested stop reports back */
    assert_int_equal(fm.stops, 0);
    assert_int_equal(vm_owner_state(owner), SD);
    assert_non_null(vm_owner_config(owner));                     /* the configuration stays */
    assert_int_equal(vm_owner_boot(owner, err, sizeof(err)), 0); /* boots again */
    assert_int_equal(fm.boots, 2);
    assert_int_equal(fm.destroys, 1);
    vm_owner_guest_stopped(owner, VM_EXIT_RESET, 0); /* the guest stops by itself */
    assert_int_equal(fm.stops, 1);
    assert_int_equal(fm.stop_reason, VM_EXIT_RESET);
    assert_int_equal(vm_owner_state(owner), SD);
    assert_int_equal(vm_owner_boot(owner, err, sizeof(err)), 0); /* the stopped one goes first */
    assert_int_equal(fm.destroys, 2);
    assert_int_equal(fm.boots, 3);
    vm_owner_delete(owner);
    assert_int_equal(vm_owner_state(owner), NC);
    assert_null(vm_owner_config(owner));
    assert_int_equal(fm.destroys, 3);
    assert_int_equal(fm.pauses + fm.resumes + fm.shutdowns, 4); /* vm.delete stops it too */
}

/* A refused request leaves the state, the configuration and the machine as they were. */
static void refused_requests_change_nothing(void **state)
{
    create_plain(0);
    assert_int_equal(vm_owner_pause(owner, err, sizeof(err)), VM_OWNER_E_STATE);
    assert_non_null(strstr(err, "not allowed while the VM is Created"));
    assert_int_equal(vm_owner_resume(owner, err, sizeof(err)), VM_OWNER_E_STATE);
    assert_int_equal(vm_owner_shutdown(owner, err, sizeof(err)), VM_OWNER_E_STATE);
    struct vm_config again;
    vm_config_init(&again);
    assert_int_equal(vm_owner_create(owner, &again, err, sizeof(err)), VM_OWNER_E_STATE);
    assert_non_null(strstr(err, "already created"));
    assert_int_equal(fm.pauses + fm.resumes + fm.shutdowns + fm.boots, 0);
    assert_int_equal(vm_owner_state(owner), CR);
    assert_int_equal(vm_owner_boot(owner, err, sizeof(err)), 0);
    struct vsock_config v = {.enabled = true, .cid = 3, .socket = strdup("/tmp/x.sock")};
    assert_int_equal(vm_owner_add_vsock(owner, &v, err, sizeof(err)), VM_OWNER_E_UNSUPPORTED);
    assert_non_null(strstr(err, "add it before vm.boot"));
    assert_null(v.socket); /* taken and released */
    assert_false(vm_owner_config(owner)->vsock.enabled);
}

/* A failed boot from Shutdown: the old instance is gone, the configuration remains (Created). */
static void failed_reboot_keeps_the_config(void **state)
{
    create_plain(1);
    assert_int_equal(vm_owner_boot(owner, err, sizeof(err)), 0);
    assert_int_equal(vm_owner_shutdown(owner, err, sizeof(err)), 0);
    fm.fail_boot = true;
    assert_int_equal(vm_owner_boot(owner, err, sizeof(err)), VM_OWNER_E_FAILED);
    assert_string_equal(err, "no KVM here");
    assert_int_equal(vm_owner_state(owner), CR);
    assert_int_equal(vm_owner_config(owner)->nr_disks, 1);
    fm.fail_boot = false;
    assert_int_equal(vm_owner_boot(owner, err, sizeof(err)), 0);
    assert_int_equal(vm_owner_state(owner), RU);
}

/* A running VM's hot-plug checks the new device on the host and the rules over the whole
 * configuration, but does not reopen the files accepted at vm.create: a kernel replaced on the
 * host after boot (a package upgrade) must not refuse a later vm.add-disk. */
static void hotplug_checks_only_the_new_device(void **state)
{
    char kernel[] = "/tmp/cocoon-owner-kernel-XXXXXX";
    int fd = mkstemp(kernel);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "k", 1), 1);
    close(fd);
    struct vm_config cfg;
    vm_config_init(&cfg);
    cfg.memory = 256ULL << 20;
    cfg.kernel = strdup(kernel);
    assert_int_equal(vm_owner_create(owner, &cfg, err, sizeof(err)), 0);
    assert_int_equal(vm_owner_boot(owner, err, sizeof(err)), 0);
    assert_int_equal(unlink(kernel), 0);
    char bdf[32];
    const char *id = NULL;
    struct disk_config d = new_disk(NULL);
    if (vm_owner_add_disk(owner, &d, bdf, sizeof(bdf), &id, err, sizeof(err)) != 0)
        fail_msg("vm.add-disk after the kernel file went away: %s", err);
    struct disk_config missing = {.path = fixture("@MISSING@")};
    assert_int_equal(vm_owner_add_disk(owner, &missing, bdf, sizeof(bdf), &id, err, sizeof(err)),
                     VM_OWNER_E_INVALID);
    assert_non_null(strstr(err, "cannot open disk image"));
    struct disk_config same_id = new_disk("_disk0"); /* the rules still cover every device */
    assert_int_equal(vm_owner_add_disk(owner, &same_id, bdf, sizeof(bdf), &id, err, sizeof(err)),
                     VM_OWNER_E_ID_IN_USE);
    assert_int_equal(fm.disks, 1);
}

/* Hot-plug edits the running machine AND the configuration, so a reboot keeps the change; before
 * boot only the configuration changes. */
static void hotplug_survives_reboot(void **state)
{
    create_plain(0);
    char bdf[32];
    const char *id = NULL;
    struct disk_config d = new_disk("cold");
    assert_int_equal(vm_owner_add_disk(owner, &d, bdf, sizeof(bdf), &id, err, sizeof(err)), 0);
    assert_string_equal(bdf, ""); /* not booted: nothing plugged */
    assert_string_equal(id, "cold");
    assert_int_equal(fm.disks, 0);
    assert_int_equal(vm_owner_boot(owner, err, sizeof(err)), 0);
    assert_int_equal(fm.booted_disks, 1);
    d = new_disk(NULL);
    assert_int_equal(vm_owner_add_disk(owner, &d, bdf, sizeof(bdf), &id, err, sizeof(err)), 0);
    assert_string_equal(bdf, "0000:00:04.0");
    assert_string_equal(id, "_disk0");
    assert_int_equal(vm_owner_remove_device(owner, "cold", err, sizeof(err)), 0);
    assert_int_equal(fm.removes, 1);
    fm.fail_hotplug = true; /* a failed hot-plug leaves no trace in the configuration */
    d = new_disk("broken");
    assert_int_equal(vm_owner_add_disk(owner, &d, bdf, sizeof(bdf), &id, err, sizeof(err)),
                     VM_OWNER_E_FAILED);
    fm.fail_remove = true; /* nor does a failed removal */
    assert_int_equal(vm_owner_remove_device(owner, "_disk0", err, sizeof(err)), VM_OWNER_E_FAILED);
    assert_int_equal(vm_owner_config(owner)->nr_disks, 1);
    assert_string_equal(vm_owner_config(owner)->disks[0].id, "_disk0");
    assert_int_equal(vm_owner_shutdown(owner, err, sizeof(err)), 0);
    assert_int_equal(vm_owner_boot(owner, err, sizeof(err)), 0);
    assert_int_equal(fm.booted_disks, 1); /* the reboot has the hot-plugged disk, not "cold" */
}

/* vm.power-button: only a running guest gets the event, and it stays Running (the guest decides);
 * a machine that cannot raise it is a conflict, one without the op is "not supported". */
static void power_button_only_while_running(void **state)
{
    assert_int_equal(vm_owner_power_button(owner, err, sizeof(err)), VM_OWNER_E_NOT_CREATED);
    create_plain(0);
    assert_int_equal(vm_owner_power_button(owner, err, sizeof(err)), VM_OWNER_E_STATE);
    assert_int_equal(vm_owner_boot(owner, err, sizeof(err)), 0);
    assert_int_equal(vm_owner_power_button(owner, err, sizeof(err)), 0);
    assert_int_equal(fm.buttons, 1);
    assert_int_equal(vm_owner_state(owner), RU);
    assert_int_equal(vm_owner_pause(owner, err, sizeof(err)), 0);
    assert_int_equal(vm_owner_power_button(owner, err, sizeof(err)), VM_OWNER_E_STATE);
    assert_int_equal(vm_owner_resume(owner, err, sizeof(err)), 0);
    fm.no_button = true;
    assert_int_equal(vm_owner_power_button(owner, err, sizeof(err)), VM_OWNER_E_STATE);
    assert_string_equal(err, "this VM has no power button");
    assert_int_equal(fm.buttons, 1);
    static struct vm_machine_ops without; /* a machine with no power button at all */
    without = fake_machine_ops;
    without.power_button = NULL;
    vm_owner_free(owner);
    owner = vm_owner_new(&without, &fm, NULL);
    assert_non_null(owner);
    create_plain(0);
    assert_int_equal(vm_owner_boot(owner, err, sizeof(err)), 0);
    assert_int_equal(vm_owner_power_button(owner, err, sizeof(err)), VM_OWNER_E_UNSUPPORTED);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_transition_allowed_or_refused),
        cmocka_unit_test_setup_teardown(lifecycle_drives_the_machine, setup, teardown),
        cmocka_unit_test_setup_teardown(refused_requests_change_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(failed_reboot_keeps_the_config, setup, teardown),
        cmocka_unit_test_setup_teardown(hotplug_survives_reboot, setup, teardown),
        cmocka_unit_test_setup_teardown(hotplug_checks_only_the_new_device, setup, teardown),
        cmocka_unit_test_setup_teardown(power_button_only_while_running, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
