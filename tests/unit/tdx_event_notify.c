/* tdx_event_notify.c: TDG.VP.VMCALL<SetupEventNotifyInterrupt> is accepted only if cocoon
 * advertises it in GetTdVmCallInfo and delivers the vector; cocoon does neither, so the call is
 * answered SUBFUNC_UNSUPPORTED rather than a SUCCESS whose interrupt never comes (item 4). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "tee/kvm_tee_uapi.h"
#include "tests/unit/support/tee_harness.h"

static struct tee_run_tdx *tdx_exit(struct harness_vm *v, uint64_t nr)
{
    struct kvm_run *run = v->s->vcpu[0].run;
    memset(run, 0, 4096);
    run->exit_reason = KVM_EXIT_TDX;
    struct tee_run_tdx *x = tee_run_union(run);
    x->nr = nr;
    x->unknown.ret = 0xdead;
    return x;
}

static void notify_answer_matches_advertisement(void **state)
{
    char err[512] = "";
    struct harness_vm v;
    assert_int_equal(
        harness_vm_init(&v, COCOON_SOURCE_DIR, TEE_TDX, 1, 64ULL << 20, err, sizeof(err)), 0);
    v.cfg.platform.quote_socket = "/nonexistent/qgs.sock"; /* GetQuote offered */
    if (harness_vm_launch(&v, err, sizeof(err)))
        fail_msg("launch: %s", err);
    struct tee_run_tdx *x = tdx_exit(&v, TEE_TDVMCALL_GET_TD_VM_CALL_INFO);
    x->get_tdvmcall_info.leaf = 1;
    assert_int_equal(tee_handle_exit(v.t, 0, v.s->vcpu[0].run, 0, 0), TEE_EXIT_HANDLED);
    assert_int_equal(x->get_tdvmcall_info.ret, TEE_TDVMCALL_STATUS_SUCCESS);
    bool advertised = x->get_tdvmcall_info.r11 & TEE_TDVMCALLINFO_SET_EVENT_NOTIFY;
    for (uint64_t vec = 0x20; vec <= 0xff; vec += 0x6f) {
        x = tdx_exit(&v, TEE_TDVMCALL_SETUP_EVENT_NOTIFY);
        x->setup_event_notify.vector = vec;
        assert_int_equal(tee_handle_exit(v.t, 0, v.s->vcpu[0].run, 0, 0), TEE_EXIT_HANDLED);
        if (advertised)
            assert_int_equal(x->setup_event_notify.ret, TEE_TDVMCALL_STATUS_SUCCESS);
        else
            assert_int_equal(x->setup_event_notify.ret, TEE_TDVMCALL_STATUS_SUBFUNC_UNSUPPORTED);
    }
    assert_false(advertised); /* cocoon injects nothing */
    harness_vm_down(&v);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(notify_answer_matches_advertisement),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
