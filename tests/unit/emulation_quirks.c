/* emulation_quirks.c: int3/fwait emulation failures are fixed up; every other one stays fatal. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <linux/kvm.h>
#include <cmocka.h>

#include "vmm/emulation_quirks.h"

/* A simulated vCPU: the register file and event state the fix-ups read and write. */
struct sim_vcpu {
    struct kvm_regs regs;
    struct kvm_vcpu_events events;
    int set_regs_calls;
    int set_events_calls;
    unsigned long fail_request; /* this ioctl fails with EIO */
};

static int sim_ioctl(void *ctx, int fd, unsigned long req, void *arg)
{
    struct sim_vcpu *v = ctx;
    assert_int_equal(fd, 42);
    if (req == v->fail_request) {
        errno = EIO;
        return -1;
    }
    switch (req) {
    case KVM_GET_REGS:
        memcpy(arg, &v->regs, sizeof(v->regs));
        return 0;
    case KVM_SET_REGS:
        memcpy(&v->regs, arg, sizeof(v->regs));
        v->set_regs_calls++;
        return 0;
    case KVM_GET_VCPU_EVENTS:
        memcpy(arg, &v->events, sizeof(v->events));
        return 0;
    case KVM_SET_VCPU_EVENTS:
        memcpy(&v->events, arg, sizeof(v->events));
        v->set_events_calls++;
        return 0;
    }
    fail_msg("unexpected ioctl %#lx", req);
    return -1;
}

static const struct kvm_sys sim_sys = {.ioctl = sim_ioctl};

static void emulation_failure(struct kvm_run *run, const uint8_t *bytes, unsigned n)
{
    memset(run, 0, sizeof(*run));
    run->exit_reason = KVM_EXIT_INTERNAL_ERROR;
    run->emulation_failure.suberror = KVM_INTERNAL_ERROR_EMULATION;
    run->emulation_failure.ndata = n ? 3 : 1;
    run->emulation_failure.flags = n ? KVM_INTERNAL_ERROR_EMULATION_FLAG_INSTRUCTION_BYTES : 0;
    run->emulation_failure.insn_size = (uint8_t)n;
    if (n) /* bytes is NULL when there are none (memcpy's source must not be, even for 0) */
        memcpy(run->emulation_failure.insn_bytes, bytes, n);
}

static void int3_advances_rip_and_injects_bp(void **state)
{
    struct sim_vcpu v = {.regs.rip = 0xffffffff81001234ULL};
    v.events.interrupt.injected = 1; /* unrelated state must survive */
    v.events.interrupt.nr = 0x30;
    struct kvm_handle h = {&sim_sys, &v};
    struct kvm_run run;
    const uint8_t insn[] = {0xCC, 0x90, 0x90};
    emulation_failure(&run, insn, sizeof(insn));
    assert_int_equal(emulation_quirk_handle(&h, 42, &run, 0), 0);
    assert_int_equal(v.regs.rip, 0xffffffff81001235ULL);
    assert_int_equal(v.events.exception.injected, 1);
    assert_int_equal(v.events.exception.nr, 3);
    assert_int_equal(v.events.exception.has_error_code, 0);
    assert_int_equal(v.events.interrupt.injected, 1);
    assert_int_equal(v.events.interrupt.nr, 0x30);
    /* A second one is fixed up the same way (logged only once). */
    assert_int_equal(emulation_quirk_handle(&h, 42, &run, 0), 0);
    assert_int_equal(v.regs.rip, 0xffffffff81001236ULL);
    assert_int_equal(v.set_events_calls, 2);
}

static void fwait_advances_rip_only(void **state)
{
    struct sim_vcpu v = {.regs.rip = 0x401000};
    struct kvm_handle h = {&sim_sys, &v};
    struct kvm_run run;
    const uint8_t insn[] = {0x9B, 0xDB, 0xE2};
    emulation_failure(&run, insn, sizeof(insn));
    assert_int_equal(emulation_quirk_handle(&h, 42, &run, 1), 0);
    assert_int_equal(v.regs.rip, 0x401001);
    assert_int_equal(v.set_events_calls, 0);
    assert_int_equal(v.events.exception.injected, 0);
}

static void other_instructions_are_fatal(void **state)
{
    struct sim_vcpu v = {.regs.rip = 0x1000};
    struct kvm_handle h = {&sim_sys, &v};
    struct kvm_run run;
    const uint8_t cmpxchg16b[] = {0x48, 0x0F, 0xC7, 0x0E};
    emulation_failure(&run, cmpxchg16b, sizeof(cmpxchg16b));
    assert_int_equal(emulation_quirk_handle(&h, 42, &run, 0), -1);
    const uint8_t xrstor[] = {0x0F, 0xAE, 0x2F};
    emulation_failure(&run, xrstor, sizeof(xrstor));
    assert_int_equal(emulation_quirk_handle(&h, 42, &run, 0), -1);
    assert_int_equal(v.set_regs_calls, 0);
    assert_int_equal(v.regs.rip, 0x1000);
}

static void failure_without_bytes_is_fatal(void **state)
{
    struct sim_vcpu v = {.regs.rip = 0x1000};
    struct kvm_handle h = {&sim_sys, &v};
    struct kvm_run run;
    emulation_failure(&run, NULL, 0);
    run.emulation_failure.insn_bytes[0] = 0xCC; /* not flagged as valid: must not be trusted */
    assert_int_equal(emulation_quirk_handle(&h, 42, &run, 0), -1);
    assert_int_equal(v.set_regs_calls, 0);
}

static void other_suberrors_are_fatal(void **state)
{
    struct sim_vcpu v = {.regs.rip = 0x1000};
    struct kvm_handle h = {&sim_sys, &v};
    struct kvm_run run;
    const uint8_t insn[] = {0xCC};
    emulation_failure(&run, insn, 1);
    run.internal.suberror = KVM_INTERNAL_ERROR_SIMUL_EX;
    assert_int_equal(emulation_quirk_handle(&h, 42, &run, 0), -1);
    assert_int_equal(v.set_regs_calls, 0);
}

static void failing_ioctl_is_fatal(void **state)
{
    struct sim_vcpu v = {.regs.rip = 0x1000, .fail_request = KVM_SET_VCPU_EVENTS};
    struct kvm_handle h = {&sim_sys, &v};
    struct kvm_run run;
    const uint8_t insn[] = {0xCC};
    emulation_failure(&run, insn, 1);
    assert_int_equal(emulation_quirk_handle(&h, 42, &run, 0), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(int3_advances_rip_and_injects_bp),
        cmocka_unit_test(fwait_advances_rip_only),
        cmocka_unit_test(other_instructions_are_fatal),
        cmocka_unit_test(failure_without_bytes_is_fatal),
        cmocka_unit_test(other_suberrors_are_fatal),
        cmocka_unit_test(failing_ioctl_is_fatal),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
