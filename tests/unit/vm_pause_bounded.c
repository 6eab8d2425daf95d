/* vm_pause_bounded.c: vm_pause never hangs and never lies: a guest that stops while it waits
 * makes it fail (state not Paused), and a vCPU that never parks makes it fail after its bound. */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "vmm/vm_internal.h"

static int pause_rc;

static void *pause_vm(void *arg)
{
    char err[128];
    pause_rc = vm_pause(arg, err, sizeof(err));
    return NULL;
}

/* A VM with one vCPU that has no run page and is never started: kicks are no-ops, so it never
 * parks unless the test says so. */
static void fake_vm(struct vm *vm, struct vcpu *vcpu, uv_async_t *async)
{
    memset(vm, 0, sizeof(*vm));
    *vcpu = (struct vcpu){.vm = vm, .fd = -1};
    vm->vcpus = vcpu;
    vm->nr_vcpus = 1;
    vm->exit_async = async;
    vm_sync_init(vm);
    atomic_store(&vm->state, VM_STATE_RUNNING);
}

/* One vCPU that never parks (it stops: a guest reset mid-pause); the pauser must not hang. */
static void guest_stop_wakes_a_waiting_pause(void **state)
{
    (void)state;
    static struct vm vm;
    static struct vcpu vcpu; /* no run page, never started: kicks are no-ops */
    uv_loop_t loop;
    uv_async_t async;
    assert_int_equal(uv_loop_init(&loop), 0);
    assert_int_equal(uv_async_init(&loop, &async, NULL), 0);
    fake_vm(&vm, &vcpu, &async);

    pthread_t pauser;
    assert_int_equal(pthread_create(&pauser, NULL, pause_vm, &vm), 0);
    usleep(100 * 1000); /* the pauser is now waiting for the vCPU to park */
    vm_request_exit(&vm, VM_EXIT_RESET, 0);

    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += 3;
    int rc = pthread_timedjoin_np(pauser, NULL, &deadline);
    if (rc == ETIMEDOUT) { /* free the hung pauser so the test can report */
        pthread_mutex_lock(&vm.lock);
        vm.parked = vm.nr_vcpus;
        pthread_cond_broadcast(&vm.cond);
        pthread_mutex_unlock(&vm.lock);
        pthread_join(pauser, NULL);
    }
    assert_int_equal(rc, 0);
    assert_int_equal(pause_rc, -1); /* it did not pause: the VM stopped */
    assert_int_not_equal(atomic_load(&vm.state), VM_STATE_PAUSED);
    uv_close((uv_handle_t *)&async, NULL);
    uv_run(&loop, UV_RUN_NOWAIT);
    uv_loop_close(&loop);
}

/* A vCPU that never parks while the VM keeps running: vm_pause gives up after its bound, leaves
 * the VM running and not marked paused. */
static void unparked_vcpu_bounds_the_pause(void **state)
{
    (void)state;
    static struct vm vm;
    static struct vcpu vcpu;
    fake_vm(&vm, &vcpu, NULL);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    char err[128] = "";
    assert_int_equal(vm_pause(&vm, err, sizeof(err)), -1);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double s = (double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9;
    assert_true(s >= 1.5 && s < 5.0);
    assert_non_null(strstr(err, "did not stop"));
    assert_int_equal(atomic_load(&vm.state), VM_STATE_RUNNING);
    assert_false(vm.paused);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(guest_stop_wakes_a_waiting_pause),
        cmocka_unit_test(unparked_vcpu_bounds_the_pause),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
