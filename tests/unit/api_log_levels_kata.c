/* api_log_levels_kata.c: cocoon's stderr lines carry the level markers Kata's runtime-rs grades
 * a Cloud Hypervisor's output by, so warnings and errors are not logged as info. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "vmm/base/log.h"

/* runtime-rs's rule (ch/inner_hypervisor.rs, parse_ch_log_level): the first of "INFO:",
 * "DEBG:", "WARN:", "ERRO:", "TRCE:" found scanning the line decides; none means info. */
static const char *runtime_rs_grade(const char *line)
{
    static const char *const markers[] = {"INFO:", "DEBG:", "WARN:", "ERRO:", "TRCE:"};
    static const char *const grades[] = {"info", "debug", "warn", "error", "trace"};
    for (const char *p = line; *p; p++)
        for (int i = 0; i < 5; i++)
            if (strncmp(p, markers[i], 5) == 0)
                return grades[i];
    return "info";
}

/* Runs one log call with stderr sent to a file and returns the line it wrote. */
static char *logged_line(enum log_level level, const char *msg)
{
    fflush(stderr);
    int saved = dup(2);
    FILE *f = tmpfile();
    assert_non_null(f);
    assert_true(dup2(fileno(f), 2) >= 0);
    log_msg(level, "%s", msg);
    fflush(stderr);
    assert_true(dup2(saved, 2) >= 0);
    close(saved);
    static char line[512];
    line[0] = '\0';
    rewind(f);
    if (!fgets(line, sizeof(line), f))
        line[0] = '\0';
    fclose(f);
    return line;
}

static void levels_graded_as_logged(void **state)
{
    log_set_level(LOG_LVL_TRACE);
    static const struct {
        enum log_level level;
        const char *grade;
    } cases[] = {{LOG_LVL_ERROR, "error"},
                 {LOG_LVL_WARN, "warn"},
                 {LOG_LVL_INFO, "info"},
                 {LOG_LVL_DEBUG, "debug"},
                 {LOG_LVL_TRACE, "trace"}};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        /* a message that itself mentions another level must not change the grade */
        char *line = logged_line(cases[i].level, "vm.boot failed: INFO: nothing");
        if (strncmp(line, "cocoon[", 7) != 0)
            fail_msg("line lacks the cocoon[t] prefix: %s", line);
        if (strcmp(runtime_rs_grade(line), cases[i].grade) != 0)
            fail_msg("runtime-rs grades '%s' as %s, want %s", line, runtime_rs_grade(line),
                     cases[i].grade);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(levels_graded_as_logged),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
