/* memory_hugepages.c: memory.hugepages backs guest RAM with hugetlb pages, and a host without
 * enough free huge pages is told so at once (not a SIGBUS in the guest later). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "vmm/base/memory.h"

#define HUGE_2M (2ULL << 20)

static long free_huge_pages(void)
{
    FILE *f = fopen("/proc/meminfo", "r");
    char line[128];
    long n = -1;
    while (f && fgets(line, sizeof(line), f))
        if (sscanf(line, "HugePages_Free: %ld", &n) == 1)
            break;
    if (f)
        fclose(f);
    return n;
}

/* More huge pages than the host has free: a clear error at set-up, nothing left behind. */
static void no_free_huge_pages_is_a_clear_error(void **state)
{
    long nfree = free_huge_pages();
    if (nfree < 0)
        skip();
    struct guest_mem gm;
    char err[256] = "";
    uint64_t size = (uint64_t)(nfree + 1) * HUGE_2M;
    assert_int_equal(gm_init_pages(&gm, size, true, HUGE_2M, err, sizeof(err)), -1);
    if (!strstr(err, "huge pages") || !strstr(err, "nr_hugepages"))
        fail_msg("unclear error: %s", err);
    assert_int_equal(gm.memfd, -1);
    gm_destroy(&gm);
}

static void size_must_be_a_multiple_of_the_page(void **state)
{
    struct guest_mem gm;
    char err[256] = "";
    assert_int_equal(gm_init_pages(&gm, HUGE_2M + 4096, true, HUGE_2M, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "2048 KiB"));
    gm_destroy(&gm);
}

/* With free huge pages, guest RAM is on hugetlbfs (the memfd's block size is the page size). */
static void ram_on_huge_pages_when_free(void **state)
{
    if (free_huge_pages() < 2)
        skip(); /* the host has none reserved (/proc/sys/vm/nr_hugepages) */
    struct guest_mem gm;
    char err[256] = "";
    if (gm_init_pages(&gm, 2 * HUGE_2M, true, HUGE_2M, err, sizeof(err)) < 0)
        fail_msg("%s", err);
    struct stat st;
    assert_int_equal(fstat(gm.memfd, &st), 0);
    assert_int_equal(st.st_blksize, HUGE_2M);
    gm.region[0].host[0] = 1;
    gm_destroy(&gm);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(no_free_huge_pages_is_a_clear_error),
        cmocka_unit_test(size_must_be_a_multiple_of_the_page),
        cmocka_unit_test(ram_on_huge_pages_when_free),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
