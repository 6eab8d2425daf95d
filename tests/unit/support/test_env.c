/* test_env.c: how a unit test is being run (valgrind or not). */
#include "test_env.h"

#include <stdlib.h>
#include <string.h>

bool test_under_valgrind(void)
{
    const char *preload = getenv("LD_PRELOAD"); /* valgrind preloads its vgpreload_* objects */
    return preload && strstr(preload, "vgpreload");
}
