/* firmware_image_refused: --firmware for a plain guest takes a regular file whose size is a
 * non-zero multiple of 4 KiB and at most 16 MiB (it ends at 4 GiB, above the LAPIC and KVM's
 * identity-map/TSS pages); anything else is one clear error line before a VM exists: a size that
 * is not page-granular, an image too large for the space below 4 GiB, a FIFO (which must not
 * block the check), a device. --firmware-log without --firmware is refused too. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "vmm/base/config.h"

static char dir[] = "/tmp/cocoon-fwimg-XXXXXX";

static const char *make(const char *name, off_t size)
{
    static char path[128];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    fclose(f);
    assert_int_equal(truncate(path, size), 0);
    return path;
}

static int validate(const char *firmware, const char *log, char *err, size_t errlen)
{
    struct vm_config cfg;
    vm_config_init(&cfg);
    cfg.firmware = firmware ? strdup(firmware) : NULL;
    cfg.firmware_log = log ? strdup(log) : NULL;
    int rc = vm_config_validate(&cfg, err, errlen);
    vm_config_free(&cfg);
    return rc;
}

static void bad_images_refused(void **state)
{
    (void)state;
    assert_non_null(mkdtemp(dir));
    char err[256];
    assert_int_equal(validate(make("ok.bin", 128 << 10), NULL, err, sizeof(err)), 0);
    assert_int_equal(validate(make("ovmf.bin", 4 << 20), NULL, err, sizeof(err)), 0);
    assert_int_equal(validate(make("max.bin", 16 << 20), NULL, err, sizeof(err)), 0);
    assert_int_equal(validate(make("odd.bin", 5000), NULL, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "multiple of 4 KiB"));
    assert_int_equal(validate(make("big.bin", (16 << 20) + 4096), NULL, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "at most 16 MiB"));
    assert_int_equal(validate(make("empty.bin", 0), NULL, err, sizeof(err)), -1);
    char fifo[128];
    snprintf(fifo, sizeof(fifo), "%s/fifo", dir);
    assert_int_equal(mkfifo(fifo, 0600), 0);
    assert_int_equal(validate(fifo, NULL, err, sizeof(err)), -1); /* returns: no reader wait */
    assert_non_null(strstr(err, "not a regular file"));
    assert_int_equal(validate("/dev/null", NULL, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "not a regular file"));
    assert_int_equal(validate(NULL, "/tmp/fw.log", err, sizeof(err)), -1);
    assert_non_null(strstr(err, "--firmware-log needs --firmware"));
    assert_null(strchr(err, '\n'));
    char cmd[160];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(bad_images_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
