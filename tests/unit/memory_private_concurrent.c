/* memory_private_concurrent.c: vCPUs converting neighbouring pages at once lose no page's state. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "vmm/base/memory.h"

#define RAM        (64 * 4096) /* one word of private bits */
#define ITERATIONS 2000000

static uint8_t ram[RAM];

struct flipper {
    struct guest_mem *gm;
    uint64_t gpa;
    atomic_bool *go;
    unsigned wrong; /* times this page's own state read back differently */
};

/* Flips one page between private and shared, as one vCPU's MAP_GPA_RANGE exits would. */
static void *flip_page(void *arg)
{
    struct flipper *f = arg;
    while (!atomic_load(f->go))
        ;
    for (unsigned i = 0; i < ITERATIONS; i++) {
        bool to_private = i & 1;
        gm_set_private(f->gm, f->gpa, GM_PAGE_SIZE, to_private);
        if (gm_is_private(f->gm, f->gpa) != to_private)
            f->wrong++;
    }
    return NULL;
}

static void neighbouring_conversions_do_not_clobber(void **state)
{
    (void)state;
    struct guest_mem gm;
    gm_init_host(&gm, ram, RAM);
    assert_int_equal(gm_enable_private(&gm), 0);
    atomic_bool go = false;
    struct flipper f[2] = {{&gm, 0, &go, 0}, {&gm, GM_PAGE_SIZE, &go, 0}};
    pthread_t t[2];
    for (int i = 0; i < 2; i++)
        assert_int_equal(pthread_create(&t[i], NULL, flip_page, &f[i]), 0);
    atomic_store(&go, true);
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    assert_int_equal(f[0].wrong, 0);
    assert_int_equal(f[1].wrong, 0);
    assert_true(gm_is_private(&gm, 0)); /* both end private (last iteration is odd) */
    assert_true(gm_is_private(&gm, GM_PAGE_SIZE));
    assert_true(gm_is_private(&gm, 2 * GM_PAGE_SIZE)); /* untouched pages keep their state */
    free(gm.private_bits);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(neighbouring_conversions_do_not_clobber),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
