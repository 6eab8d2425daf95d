/* vm_pause_stop_race.c: a pause waiting for vCPUs to park returns when the guest stops instead. */
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

static void *pause_vm(void *arg)
{
    char err[128];
    vm_pause(arg, err, sizeof(err));
    return NULL;
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
    vcpu = (struct vcpu){.vm = &vm, .fd = -1};
    vm.vcpus = &vcpu;
    vm.nr_vcpus = 1;
    vm.exit_async = &async;
    pthread_mutex_init(&vm.lock, NULL);
    pthread_cond_init(&vm.cond, NULL);
    atomic_store(&vm.state, VM_STATE_RUNNING);

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
    uv_close((uv_handle_t *)&async, NULL);
    uv_run(&loop, UV_RUN_NOWAIT);
    uv_loop_close(&loop);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(guest_stop_wakes_a_waiting_pause),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
