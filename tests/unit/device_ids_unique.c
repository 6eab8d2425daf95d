/* device_ids_unique.c: one id rule for every device kind (disks, nets, the vsock), the same in the
 * validator (vm.create, the CLI) and in the owner's device edits (vm.add-*, vm.remove-device). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "support/config_cases.h"
#include "support/fake_machine.h"
#include "vmm/base/config.h"
#include "vmm/vm_owner.h"

FAKE_OWNER_FIXTURE

/* A plain VM with one disk "d0", one net "n0" (a tap name: no fd) and a vsock "v0". */
static void fill_config(struct vm_config *cfg)
{
    vm_config_init(cfg);
    cfg->memory = 256ULL << 20;
    cfg->kernel = fixture("@KERNEL@");
    cfg->disks[0] = (struct disk_config){.path = fixture("@DISK@"), .id = strdup("d0")};
    cfg->nr_disks = 1;
    cfg->nets[0] = (struct net_config){.tap = strdup("tap0"), .fd = -1, .id = strdup("n0")};
    cfg->nr_nets = 1;
    cfg->vsock = (struct vsock_config){
        .enabled = true, .cid = 3, .socket = fixture("@DIR@/v.sock"), .id = strdup("v0")};
}

static void id_in_use_spans_every_kind(void **state)
{
    struct vm_config cfg;
    fill_config(&cfg);
    assert_true(vm_config_id_in_use(&cfg, "d0"));
    assert_true(vm_config_id_in_use(&cfg, "n0"));
    assert_true(vm_config_id_in_use(&cfg, "v0"));
    assert_false(vm_config_id_in_use(&cfg, "x"));
    assert_false(vm_config_id_in_use(&cfg, NULL));
    cfg.vsock.enabled = false; /* a vsock that is not there holds no id */
    assert_false(vm_config_id_in_use(&cfg, "v0"));
    vm_config_free(&cfg);
}

/* The validator used to compare disk ids with disk ids only: a disk named like the vsock (or a
 * net) passed vm.create, and vm.remove-device then could not name it. */
static void validator_refuses_an_id_shared_across_kinds(void **state)
{
    static const char *const clashes[][2] = {{"d0", "v0"}, {"d0", "n0"}, {"n0", "v0"}};
    for (size_t i = 0; i < sizeof(clashes) / sizeof(clashes[0]); i++) {
        struct vm_config cfg;
        fill_config(&cfg);
        assert_int_equal(vm_config_validate(&cfg, err, sizeof(err)), 0);
        char **victim = clashes[i][0][0] == 'd' ? &cfg.disks[0].id : &cfg.nets[0].id;
        free(*victim);
        *victim = strdup(strcmp(clashes[i][1], "v0") ? cfg.nets[0].id : cfg.vsock.id);
        assert_int_equal(vm_config_validate(&cfg, err, sizeof(err)), -1);
        if (!strstr(err, "duplicate device id"))
            fail_msg("%s/%s: %s", clashes[i][0], clashes[i][1], err);
        vm_config_free(&cfg);
    }
}

static void create_owner_vm(void)
{
    struct vm_config cfg;
    fill_config(&cfg);
    assert_int_equal(vm_owner_create(owner, &cfg, err, sizeof(err)), 0);
}

/* An id held by any kind is refused for every other kind, before and while running, and the
 * configuration does not change. */
static void owner_refuses_an_id_used_by_another_kind(void **state)
{
    create_owner_vm();
    char bdf[32];
    const char *id;
    for (int running = 0; running <= 1; running++) {
        const char *const taken[] = {"d0", "n0", "v0"};
        for (size_t i = 0; i < 3; i++) {
            struct disk_config d = {.path = fixture("@DISK@"), .id = strdup(taken[i])};
            assert_int_equal(vm_owner_add_disk(owner, &d, bdf, sizeof(bdf), &id, err, sizeof(err)),
                             VM_OWNER_E_ID_IN_USE);
            assert_null(d.id); /* taken and released */
            struct net_config n = {.tap = strdup("tap1"), .fd = -1, .id = strdup(taken[i])};
            assert_int_equal(vm_owner_add_net(owner, &n, bdf, sizeof(bdf), &id, err, sizeof(err)),
                             VM_OWNER_E_ID_IN_USE);
        }
        assert_int_equal(fm.disks + fm.nets, 0);
        assert_int_equal(vm_owner_config(owner)->nr_disks, 1);
        assert_int_equal(vm_owner_config(owner)->nr_nets, 1);
        if (!running)
            assert_int_equal(vm_owner_boot(owner, err, sizeof(err)), 0);
    }
}

static void owner_refuses_a_vsock_id_in_use(void **state)
{
    struct vm_config cfg;
    vm_config_init(&cfg);
    cfg.kernel = fixture("@KERNEL@");
    cfg.disks[cfg.nr_disks++] = (struct disk_config){.path = fixture("@DISK@"), .id = strdup("x")};
    assert_int_equal(vm_owner_create(owner, &cfg, err, sizeof(err)), 0);
    struct vsock_config v = {
        .enabled = true, .cid = 3, .socket = fixture("@DIR@/v.sock"), .id = strdup("x")};
    assert_int_equal(vm_owner_add_vsock(owner, &v, err, sizeof(err)), VM_OWNER_E_ID_IN_USE);
    assert_false(vm_owner_config(owner)->vsock.enabled);
}

/* The vsock's id names no removable device; a removed id is free again; generated ids skip
 * taken ones whatever kind holds them. */
static void remove_and_generated_ids_follow_the_rule(void **state)
{
    create_owner_vm();
    assert_int_equal(vm_owner_remove_device(owner, "v0", err, sizeof(err)), VM_OWNER_E_NO_DEVICE);
    assert_int_equal(vm_owner_remove_device(owner, "nope", err, sizeof(err)), VM_OWNER_E_NO_DEVICE);
    assert_true(vm_owner_config(owner)->vsock.enabled);
    assert_int_equal(vm_owner_remove_device(owner, "n0", err, sizeof(err)), 0);
    assert_int_equal(vm_owner_config(owner)->nr_nets, 0);
    char bdf[32];
    const char *id;
    struct disk_config d = {.path = fixture("@DISK@"), .id = strdup("n0")};
    assert_int_equal(vm_owner_add_disk(owner, &d, bdf, sizeof(bdf), &id, err, sizeof(err)), 0);
    assert_string_equal(id, "n0");
    struct net_config n = {.tap = strdup("tap1"), .fd = -1, .id = strdup("_disk0")};
    assert_int_equal(vm_owner_add_net(owner, &n, bdf, sizeof(bdf), &id, err, sizeof(err)), 0);
    d = (struct disk_config){.path = fixture("@DISK@")};
    assert_int_equal(vm_owner_add_disk(owner, &d, bdf, sizeof(bdf), &id, err, sizeof(err)), 0);
    assert_string_equal(id, "_disk1"); /* "_disk0" is the net's */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(id_in_use_spans_every_kind, setup, teardown),
        cmocka_unit_test_setup_teardown(validator_refuses_an_id_shared_across_kinds, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(owner_refuses_an_id_used_by_another_kind, setup, teardown),
        cmocka_unit_test_setup_teardown(owner_refuses_a_vsock_id_in_use, setup, teardown),
        cmocka_unit_test_setup_teardown(remove_and_generated_ids_follow_the_rule, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
