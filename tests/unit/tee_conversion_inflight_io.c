/* tee_conversion_inflight_io.c: a page the guest converts to private while device I/O on it is
 * in flight gives a defined result: the span the device pinned (gm_pin) is revoked and the
 * request reports failure (gm_unpin false) instead of silently writing into the discarded shared
 * side; conversions are never held up. Also: concurrent conversions lose no count (issue 16
 * item 8; issue 13 item 7). Runs on the simulated SEV-SNP host through the MAP_GPA_RANGE exit. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "tee/kvm_tee_uapi.h"
#include "tee/tee_internal.h"
#include "tests/unit/support/tee_harness.h"

#define RAM  (64ULL << 20)
#define SPAN 0x400000ULL

static struct harness_vm vm;

static int setup(void **state)
{
    char err[512] = "";
    if (harness_vm_init(&vm, COCOON_SOURCE_DIR, TEE_SNP, 1, RAM, err, sizeof(err)) ||
        harness_vm_launch(&vm, err, sizeof(err))) {
        print_error("launch: %s\n", err);
        return -1;
    }
    return 0;
}

static int teardown(void **state)
{
    harness_vm_down(&vm);
    return 0;
}

/* The guest's MAP_GPA_RANGE hypercall, as KVM hands it to the VMM. */
static void map_gpa(uint64_t gpa, uint64_t pages, bool to_private)
{
    struct kvm_run *run = vm.s->vcpu[0].run;
    memset(run, 0, 4096);
    run->exit_reason = KVM_EXIT_HYPERCALL;
    run->hypercall.nr = KVM_HC_MAP_GPA_RANGE;
    run->hypercall.args[0] = gpa;
    run->hypercall.args[1] = pages;
    run->hypercall.args[2] = to_private ? KVM_MAP_GPA_RANGE_ENCRYPTED : 0;
    assert_int_equal(tee_handle_exit(vm.t, 0, run, 0, 0), TEE_EXIT_HANDLED);
    assert_int_equal(run->hypercall.ret, 0); /* never refused or held because of device I/O */
}

static void converted_mid_request_fails_it(void **state)
{
    const struct guest_mem *gm = &vm.gm;
    map_gpa(SPAN, 4, false);
    struct gm_pin pin;
    uint8_t *p = gm_pin(gm, &pin, SPAN, 0x3000);
    assert_non_null(p);
    uint64_t revoked = gm_revoked_pins(gm);
    map_gpa(SPAN + 0x2000, 1, true); /* the guest takes back one page of the request */
    assert_true(sim_tee_page_private(vm.s, SPAN + 0x2000));
    memset(p, 0xab, 0x3000); /* the worker finishes: host memory only, nothing breaks */
    assert_false(gm_unpin(gm, &pin));
    assert_int_equal(gm_revoked_pins(gm), revoked + 1);
    map_gpa(SPAN, 4, true);
}

static void request_done_before_conversion_stands(void **state)
{
    const struct guest_mem *gm = &vm.gm;
    map_gpa(SPAN, 2, false);
    struct gm_pin pin;
    assert_non_null(gm_pin(gm, &pin, SPAN, 0x2000));
    assert_true(gm_unpin(gm, &pin));
    map_gpa(SPAN, 2, true);
    /* a span that is (now) private cannot be pinned at all */
    assert_null(gm_pin(gm, &pin, SPAN, 0x1000));
    assert_true(gm_unpin(gm, &pin)); /* nothing held: nothing to fail */
}

static void other_pages_and_later_pins_unaffected(void **state)
{
    const struct guest_mem *gm = &vm.gm;
    map_gpa(SPAN, 8, false);
    struct gm_pin a, b;
    assert_non_null(gm_pin(gm, &a, SPAN, 0x1000));
    assert_non_null(gm_pin(gm, &b, SPAN + 0x4000, 0x1000));
    map_gpa(SPAN + 0x4000, 1, true); /* revokes b only */
    map_gpa(SPAN + 0x4000, 1, false);
    struct gm_pin c;
    assert_non_null(gm_pin(gm, &c, SPAN + 0x4000, 0x1000)); /* after the round trip */
    assert_false(gm_unpin(gm, &b));
    assert_true(gm_unpin(gm, &c));
    assert_true(gm_unpin(gm, &a));
    map_gpa(SPAN, 8, true);
}

#define THREADS 4
#define ROUNDS  4000

struct worker {
    unsigned id;
};

static void *convert_loop(void *arg)
{
    struct worker *w = arg;
    char err[160];
    uint64_t gpa = SPAN + 0x100000 + w->id * 0x1000;
    for (unsigned i = 0; i < ROUNDS; i++)
        if (pm_convert(&vm.t->pm, gpa, 0x1000, i & 1, err, sizeof(err)) < 0)
            return (void *)1;
    return NULL;
}

/* vCPU threads convert at once: every page counts (the counter is bumped atomically). */
static void concurrent_conversions_all_counted(void **state)
{
    uint64_t before = pm_conversions(&vm.t->pm);
    pthread_t th[THREADS];
    struct worker w[THREADS];
    for (unsigned i = 0; i < THREADS; i++) {
        w[i].id = i;
        assert_int_equal(pthread_create(&th[i], NULL, convert_loop, &w[i]), 0);
    }
    for (unsigned i = 0; i < THREADS; i++) {
        void *r;
        pthread_join(th[i], &r);
        assert_null(r);
    }
    assert_int_equal(pm_conversions(&vm.t->pm) - before, (uint64_t)THREADS * ROUNDS);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(converted_mid_request_fails_it),
        cmocka_unit_test(request_done_before_conversion_stands),
        cmocka_unit_test(other_pages_and_later_pins_unaffected),
        cmocka_unit_test(concurrent_conversions_all_counted),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
