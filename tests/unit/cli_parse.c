/* cli_parse.c: the launch CLI's flag syntax (Cloud Hypervisor style) into struct vm_config. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "vmm/cli.h"

/* Parses a NULL-terminated argument list (argv[0] supplied). */
static int parse(struct cli_opts *o, char *err, size_t errlen, const char **args)
{
    char *argv[64] = {"cocoon"};
    int argc = 1;
    for (; args[argc - 1] && argc < 63; argc++)
        argv[argc] = (char *)args[argc - 1];
    argv[argc] = NULL;
    return cli_parse(argc, argv, o, err, errlen);
}

#define PARSE_OK(o, ...)                                                                           \
    do {                                                                                           \
        char err_[256] = "";                                                                       \
        const char *args_[] = {__VA_ARGS__, NULL};                                                 \
        if (parse(o, err_, sizeof(err_), args_) != 0)                                              \
            fail_msg("parse failed: %s", err_);                                                    \
    } while (0)

static void expect_error(const char *want, const char **args)
{
    struct cli_opts o;
    char err[256] = "";
    if (parse(&o, err, sizeof(err), args) == 0)
        fail_msg("accepted, want error containing '%s'", want);
    if (!strstr(err, want) || strchr(err, '\n'))
        fail_msg("error '%s' does not contain '%s' on one line", err, want);
    cli_opts_free(&o);
}

#define PARSE_ERR(want, ...)                                                                       \
    do {                                                                                           \
        const char *args_[] = {__VA_ARGS__, NULL};                                                 \
        expect_error(want, args_);                                                                 \
    } while (0)

static void basic_launch(void **state)
{
    struct cli_opts o;
    PARSE_OK(&o, "--kernel", "/k", "--initramfs", "/i", "--cmdline", "console=ttyS0 quiet",
             "--cpus", "boot=4", "--memory", "size=1G", "--serial", "off", "-v", "-v");
    assert_string_equal(o.cfg.kernel, "/k");
    assert_string_equal(o.cfg.initramfs, "/i");
    assert_string_equal(o.cfg.cmdline, "console=ttyS0 quiet");
    assert_int_equal(o.cfg.cpus, 4);
    assert_int_equal(o.cfg.memory, 1ULL << 30);
    assert_int_equal(o.cfg.serial, SERIAL_OFF);
    assert_int_equal(o.verbosity, 2);
    assert_false(o.help);
    cli_opts_free(&o);
}

static void equals_form_and_defaults(void **state)
{
    struct cli_opts o;
    PARSE_OK(&o, "--kernel=/k", "--cpus=boot=2,max=8", "--serial=file=/tmp/x");
    assert_string_equal(o.cfg.kernel, "/k");
    assert_int_equal(o.cfg.cpus, 2);
    assert_int_equal(o.cfg.max_cpus, 8);
    assert_int_equal(o.cfg.memory, 512ULL << 20);
    assert_int_equal(o.cfg.serial, SERIAL_FILE);
    assert_string_equal(o.cfg.serial_file, "/tmp/x");
    assert_int_equal(o.seccomp, CLI_SECCOMP_TRUE);
    assert_int_equal(o.api_socket_fd, -1);
    cli_opts_free(&o);
}

static void help_and_version(void **state)
{
    struct cli_opts o;
    PARSE_OK(&o, "--help");
    assert_true(o.help);
    cli_opts_free(&o);
    PARSE_OK(&o, "-V");
    assert_true(o.version);
    cli_opts_free(&o);
}

static void kata_flags(void **state)
{
    struct cli_opts o;
    PARSE_OK(&o, "--api-socket", "/run/vc/vm/x/clh-api.sock", "-v", "--seccomp", "false");
    assert_string_equal(o.api_socket, "/run/vc/vm/x/clh-api.sock");
    assert_int_equal(o.seccomp, CLI_SECCOMP_FALSE);
    assert_null(o.cfg.kernel);
    cli_opts_free(&o);
    PARSE_OK(&o, "--api-socket", "path=/s", "--seccomp", "log");
    assert_string_equal(o.api_socket, "/s");
    assert_int_equal(o.seccomp, CLI_SECCOMP_LOG);
    cli_opts_free(&o);
    PARSE_OK(&o, "--api-socket", "fd=7");
    assert_null(o.api_socket);
    assert_int_equal(o.api_socket_fd, 7);
    cli_opts_free(&o);
}

static void devices(void **state)
{
    struct cli_opts o;
    PARSE_OK(&o, "--disk", "path=/a.img,readonly=on,id=root", "--disk", "path=/b.img", "--net",
             "tap=tap0,mac=02:00:00:aa:bb:cc", "--net", "fd=5", "--vsock",
             "cid=42,socket=/tmp/v.sock");
    assert_int_equal(o.cfg.nr_disks, 2);
    assert_string_equal(o.cfg.disks[0].path, "/a.img");
    assert_true(o.cfg.disks[0].readonly);
    assert_string_equal(o.cfg.disks[0].id, "root");
    assert_false(o.cfg.disks[1].readonly);
    assert_int_equal(o.cfg.nr_nets, 2);
    assert_string_equal(o.cfg.nets[0].tap, "tap0");
    assert_true(o.cfg.nets[0].mac_set);
    assert_int_equal(o.cfg.nets[0].mac[5], 0xcc);
    assert_int_equal(o.cfg.nets[0].fd, -1);
    assert_int_equal(o.cfg.nets[1].fd, 5);
    o.cfg.nets[1].fd = -1; /* not ours to close */
    assert_true(o.cfg.vsock.enabled);
    assert_int_equal(o.cfg.vsock.cid, 42);
    assert_string_equal(o.cfg.vsock.socket, "/tmp/v.sock");
    cli_opts_free(&o);
}

static void platform(void **state)
{
    struct cli_opts o;
    PARSE_OK(&o, "--platform",
             "tee=snp,policy=0x30000,host_data="
             "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff",
             "--firmware", "/fw");
    assert_int_equal(o.cfg.platform.tee, TEE_SNP);
    assert_int_equal(o.cfg.platform.snp_policy, 0x30000);
    assert_true(o.cfg.platform.host_data_set);
    assert_int_equal(o.cfg.platform.host_data[1], 0x11);
    assert_int_equal(o.cfg.platform.host_data[31], 0xff);
    assert_string_equal(o.cfg.firmware, "/fw");
    cli_opts_free(&o);
    PARSE_OK(&o, "--platform", "tdx=on");
    assert_int_equal(o.cfg.platform.tee, TEE_TDX);
    cli_opts_free(&o);
}

static void last_flag_wins(void **state)
{
    struct cli_opts o;
    PARSE_OK(&o, "--kernel", "/a", "--kernel", "/b", "--memory", "size=1G", "--memory", "size=2G");
    assert_string_equal(o.cfg.kernel, "/b");
    assert_int_equal(o.cfg.memory, 2ULL << 30);
    cli_opts_free(&o);
}

static void bad_inputs(void **state)
{
    PARSE_ERR("unknown option", "--bogus");
    PARSE_ERR("unknown option '-x'", "-x");
    PARSE_ERR("needs a value", "--kernel");
    PARSE_ERR("unexpected argument 'stray'", "--kernel", "/k", "stray");
    PARSE_ERR("not a size", "--memory", "size=12Q");
    PARSE_ERR("--memory: size= needs a value", "--memory", "size=");
    /* One number rule: decimal, no leading zero (not octal), no 0x except for masks. */
    PARSE_ERR("not a vCPU count (decimal", "--cpus", "boot=010");
    PARSE_ERR("not a vCPU count", "--cpus", "boot=0x2");
    PARSE_ERR("not a size (decimal", "--memory", "size=0x1000000");
    PARSE_ERR("not a size", "--memory", "size=0512M");
    PARSE_ERR("--disk: path= needs a value", "--disk", "path=");
    PARSE_ERR("--disk: path= needs a value", "--disk", "path=,readonly=on");
    PARSE_ERR("--vsock: socket= needs a value", "--vsock", "cid=3,socket=");
    PARSE_ERR("'readonly' needs a value", "--disk", "path=/a,readonly");
    PARSE_ERR("unknown option 'sz'", "--memory", "sz=1G");
    PARSE_ERR("not a vCPU count", "--cpus", "boot=-1");
    PARSE_ERR("not a vCPU count", "--cpus", "boot=1x");
    PARSE_ERR("not a vCPU count", "--cpus", "boot=99999999999");
    PARSE_ERR("unknown option 'cores'", "--cpus", "cores=2");
    PARSE_ERR("--serial", "--serial", "pty");
    PARSE_ERR("--serial", "--serial", "file=");
    PARSE_ERR("path= is required", "--disk", "readonly=on");
    PARSE_ERR("readonly=", "--disk", "path=/a,readonly=maybe");
    PARSE_ERR("bad option 'cache'", "--disk", "path=/a,cache=none");
    PARSE_ERR("exactly one", "--net", "tap=t0,fd=3");
    PARSE_ERR("exactly one", "--net", "mac=02:00:00:00:00:01");
    PARSE_ERR("not a MAC", "--net", "tap=t0,mac=02:00:00:00:00");
    PARSE_ERR("not a MAC", "--net", "tap=t0,mac=02-00-00-00-00-01");
    PARSE_ERR("cid", "--vsock", "cid=2,socket=/s");
    PARSE_ERR("socket= is required", "--vsock", "cid=3");
    PARSE_ERR("tee 'sev'", "--platform", "tee=sev");
    PARSE_ERR("host_data must be 64 hex digits", "--platform", "tee=snp,host_data=00ff");
    PARSE_ERR("--seccomp", "--seccomp", "maybe");
    PARSE_ERR("--api-socket", "--api-socket", "fd=x");
    PARSE_ERR("empty", "--cpus", ",");
}

static void masks_take_hex_counts_do_not(void **state)
{
    struct cli_opts o;
    PARSE_OK(&o, "--platform", "tee=snp,policy=196608,guest_features=0x1", "--cpus", "boot=10");
    assert_int_equal(o.cfg.platform.snp_policy, 0x30000);
    assert_int_equal(o.cfg.platform.snp_guest_features, 1);
    assert_int_equal(o.cfg.cpus, 10);
    cli_opts_free(&o);
    PARSE_ERR("policy", "--platform", "tee=snp,policy=030000");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(basic_launch),
        cmocka_unit_test(equals_form_and_defaults),
        cmocka_unit_test(help_and_version),
        cmocka_unit_test(kata_flags),
        cmocka_unit_test(devices),
        cmocka_unit_test(platform),
        cmocka_unit_test(last_flag_wins),
        cmocka_unit_test(bad_inputs),
        cmocka_unit_test(masks_take_hex_counts_do_not),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
