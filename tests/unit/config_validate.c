/* config_validate.c: parse_size's table, and the shared validation table run through the CLI. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "support/config_cases.h"
#include "vmm/cli.h"
#include "vmm/base/config.h"

static const struct {
    const char *in;
    int rc;
    uint64_t want;
} size_cases[] = {
    {"4096", 0, 4096},
    {"0", 0, 0},
    {"512M", 0, 512ULL << 20},
    {"512m", 0, 512ULL << 20},
    {"1G", 0, 1ULL << 30},
    {"2GiB", 0, 2ULL << 30},
    {"2GB", 0, 2ULL << 30},
    {"64K", 0, 64ULL << 10},
    {"1T", 0, 1ULL << 40},
    {"18446744073709551615", 0, UINT64_MAX},
    {"18446744073709551616", -1, 0},
    {"16777216T", -1, 0}, /* 2^24 TiB = 2^64: overflows */
    {"16777215T", 0, 16777215ULL << 40},
    {"", -1, 0},
    {"M", -1, 0},
    {"G1", -1, 0},
    {"-1", -1, 0},
    {"+1", -1, 0},
    {" 1", -1, 0},
    {"1 ", -1, 0},
    {"1.5G", -1, 0},
    {"1Q", -1, 0},
    {"1GiBx", -1, 0},
    {"1iB", -1, 0},
    {"0x10", -1, 0},
    {"010", -1, 0}, /* decimal only: not octal 8, not silently 10 */
    {"0512M", -1, 0},
    {"0M", 0, 0},
};

static void parse_size_table(void **state)
{
    for (size_t i = 0; i < sizeof(size_cases) / sizeof(size_cases[0]); i++) {
        uint64_t v = 0xdead;
        int rc = parse_size(size_cases[i].in, &v);
        if (rc != size_cases[i].rc)
            fail_msg("parse_size(\"%s\") = %d, want %d", size_cases[i].in, rc, size_cases[i].rc);
        if (rc == 0 && v != size_cases[i].want)
            fail_msg("parse_size(\"%s\") = %llu, want %llu", size_cases[i].in,
                     (unsigned long long)v, (unsigned long long)size_cases[i].want);
        if (rc != 0 && v != 0xdead)
            fail_msg("parse_size(\"%s\") wrote a value on failure", size_cases[i].in);
    }
    assert_int_equal(parse_size(NULL, &(uint64_t){0}), -1);
}

/* The hex and MAC parsers the CLI and vm.create share. */
static void hex_and_mac_parsing(void **state)
{
    uint8_t b[3], mac[6];
    assert_int_equal(parse_hex_bytes("00aBfF", b, 3), 0);
    assert_int_equal(b[0], 0x00);
    assert_int_equal(b[1], 0xab);
    assert_int_equal(b[2], 0xff);
    assert_int_equal(parse_hex_bytes("00aBf", b, 3), -1);
    assert_int_equal(parse_hex_bytes("00aBfF0", b, 3), -1);
    assert_int_equal(parse_hex_bytes("00aBfg", b, 3), -1);
    assert_int_equal(parse_hex_bytes("0x0102", b, 3), -1);
    assert_int_equal(parse_mac("52:54:00:Ab:cD:ef", mac), 0);
    assert_int_equal(mac[0], 0x52);
    assert_int_equal(mac[5], 0xef);
    assert_int_equal(parse_mac("52:54:00:ab:cd", mac), -1);
    assert_int_equal(parse_mac("52-54-00-ab-cd-ef", mac), -1);
    assert_int_equal(parse_mac("52:54:00:ab:cd:eg", mac), -1);
    assert_int_equal(parse_mac("52:54:00:ab:cd:ef:", mac), -1);
    assert_int_equal(parse_mac("5:254:00:ab:cd:ef", mac), -1);
}

static void shared_table_through_cli(void **state)
{
    for (size_t i = 0; i < config_cases_count; i++) {
        const struct config_case *c = &config_cases[i];
        char cli[2048], err[512] = "";
        char *argv[64];
        assert_int_equal(config_case_expand(c->cli, cli, sizeof(cli)), 0);
        int argc = config_case_argv(cli, argv, 64);
        struct cli_opts o;
        if (cli_parse(argc, argv, &o, err, sizeof(err)) < 0)
            fail_msg("case %s: CLI did not parse: %s", c->name, err);
        int rc = vm_config_validate(&o.cfg, err, sizeof(err));
        if (c->valid && rc != 0)
            fail_msg("case %s: rejected: %s", c->name, err);
        if (!c->valid && (rc == 0 || !strstr(err, c->err)))
            fail_msg("case %s: rc %d, error '%s' does not contain '%s'", c->name, rc, err, c->err);
        if (!c->valid && strchr(err, '\n'))
            fail_msg("case %s: error is more than one line", c->name);
        cli_opts_free(&o);
    }
}

static void defaults_are_valid_without_payload_files(void **state)
{
    struct vm_config cfg;
    char err[256];
    vm_config_init(&cfg);
    assert_int_equal(cfg.cpus, 1);
    assert_int_equal(cfg.memory, 512ULL << 20);
    assert_int_equal(cfg.serial, SERIAL_TTY);
    assert_int_equal(cfg.nets[0].fd, -1);
    assert_int_equal(vm_config_validate(&cfg, err, sizeof(err)), 0);
    vm_config_free(&cfg);
}

static void copy_is_deep(void **state)
{
    struct vm_config a, b;
    vm_config_init(&a);
    a.kernel = strdup("/k");
    a.cmdline = strdup("console=ttyS0");
    a.disks[0].path = strdup("/d");
    a.nr_disks = 1;
    assert_int_equal(vm_config_copy(&b, &a), 0);
    assert_ptr_not_equal(a.kernel, b.kernel);
    assert_string_equal(b.kernel, "/k");
    assert_string_equal(b.cmdline, "console=ttyS0");
    assert_string_equal(b.disks[0].path, "/d");
    vm_config_free(&a);
    assert_string_equal(b.disks[0].path, "/d");
    vm_config_free(&b);
}

/* A FIFO named as kernel, initramfs, firmware or read-only disk is refused at once: opening one for
 * reading would otherwise block the control loop until some writer appears. */
static void fifo_paths_are_refused_without_blocking(void **state)
{
    char fifo[64];
    snprintf(fifo, sizeof(fifo), "/tmp/cocoon-cfg-fifo-%d", (int)getpid());
    unlink(fifo);
    assert_int_equal(mkfifo(fifo, 0600), 0);
    alarm(10); /* a blocking open() would hang here: SIGALRM ends the test as failed */
    for (int which = 0; which < 4; which++) {
        struct vm_config cfg;
        char err[256] = "";
        vm_config_init(&cfg);
        if (which == 0)
            cfg.kernel = strdup(fifo);
        else if (which == 1)
            cfg.firmware = strdup(fifo);
        else if (which == 2) {
            cfg.disks[0].path = strdup(fifo);
            cfg.disks[0].readonly = true;
            cfg.nr_disks = 1;
        } else {
            cfg.disks[0].path = strdup(fifo);
            cfg.nr_disks = 1;
        }
        assert_int_equal(vm_config_validate(&cfg, err, sizeof(err)), -1);
        assert_non_null(strstr(err, "not a regular file"));
        vm_config_free(&cfg);
    }
    alarm(0);
    unlink(fifo);
}

static int setup(void **state)
{
    return config_fixture_setup();
}

static int teardown(void **state)
{
    config_fixture_teardown();
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(parse_size_table),
        cmocka_unit_test(hex_and_mac_parsing),
        cmocka_unit_test(shared_table_through_cli),
        cmocka_unit_test(defaults_are_valid_without_payload_files),
        cmocka_unit_test(copy_is_deep),
        cmocka_unit_test(fifo_paths_are_refused_without_blocking),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
