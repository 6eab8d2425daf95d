/* msi_fire_concurrent.c: a device thread firing MSI-X vectors while another thread frees and
 * re-allocates routes (hot-unplug, vector reprogramming): msi_fire reads the route under the
 * routing lock, so it never writes to an irqfd that was closed (or whose number was reused) under
 * it. Checked by counting: an eventfd that is ours only ever sees the writes of live routes; run
 * under ThreadSanitizer it also proves the read is no longer a data race (issue 13 item 7). */
#include <errno.h>
#include <linux/kvm.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>
#include <cmocka.h>

#include "support/test_env.h"

#include "devices/pci.h"
#include "vmm/msi.h"

static int fake_ioctl(void *ctx, int fd, unsigned long req, void *arg)
{
    if (req == KVM_CHECK_EXTENSION)
        return 1;
    return 0; /* routing, irqfd: accepted */
}

static const struct kvm_sys fake_sys = {.ioctl = fake_ioctl};

#define ROUNDS 20000

struct shared {
    struct pci_irq irq;
    int stop;   /* atomic */
    int handle; /* the route the firer uses; reallocated under it */
};

/* valgrind runs one thread at a time: a spinning firer would starve the other for minutes. */
static void *firer(void *arg)
{
    struct shared *sh = arg;
    bool yield = test_under_valgrind();
    while (!__atomic_load_n(&sh->stop, __ATOMIC_RELAXED)) {
        for (int h = 0; h < 4; h++)
            sh->irq.ops->msi_fire(sh->irq.ctx, h);
        if (yield)
            sched_yield();
    }
    return NULL;
}

static void fire_races_free(void **state)
{
    char err[160];
    struct kvm_handle kvm = {.sys = &fake_sys, .ctx = NULL};
    struct vmm_msi *m = vmm_msi_new(&kvm, 3, VMM_IRQCHIP_KERNEL, err, sizeof(err));
    assert_non_null(m);
    struct shared sh = {.irq = vmm_msi_irq(m)};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, firer, &sh), 0);
    unsigned stray = 0, rounds = test_under_valgrind() ? ROUNDS / 100 : ROUNDS;
    for (unsigned i = 0; i < rounds; i++) {
        int h = sh.irq.ops->msi_alloc(sh.irq.ctx);
        assert_true(h >= 0 && h < 4);
        sh.irq.ops->msi_free(sh.irq.ctx, h);
        /* An eventfd of ours that may take the number the route's irqfd just had: a firer that
         * read the route before the free and wrote after it would land here. */
        int mine = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        assert_true(mine >= 0);
        uint64_t v;
        usleep(0);
        if (read(mine, &v, sizeof(v)) == sizeof(v))
            stray++;
        close(mine);
    }
    __atomic_store_n(&sh.stop, 1, __ATOMIC_RELAXED);
    pthread_join(th, NULL);
    vmm_msi_free(m);
    assert_int_equal(stray, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(fire_races_free),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
