/* test_env.h: what a unit test may ask about the way it is being run. */
#ifndef COCOON_TEST_ENV_H
#define COCOON_TEST_ENV_H

#include <stdbool.h>

/* True under valgrind memcheck (the valgrind stage): threads run one at a time, timing is tens of
 * times slower, and seccomp(2) and accept4's RLIMIT_NOFILE are not emulated. */
bool test_under_valgrind(void);

#endif
