/* config_client_limits.c: what a client may put in a configuration is bounded (ids, paths, the
 * vsock socket path with its "_<port>" suffix: issue 13 items 8 and 9, issue 19 item 8) and a
 * bad net fd is named as the user gave it (issue 14 item 9), at validation, not at boot. */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "vmm/cli.h"
#include "vmm/base/config.h"
#include "vmm/config_accept.h"

static char *repeat(char c, size_t n)
{
    char *s = malloc(n + 1);
    assert_non_null(s);
    memset(s, c, n);
    s[n] = '\0';
    return s;
}

static void expect(const struct vm_config *cfg, const char *want)
{
    char err[512] = "";
    int rc = vm_config_accept(cfg, err, sizeof(err)); /* the gate the CLI and the API use */
    if (!want) {
        if (rc != 0)
            fail_msg("refused: %s", err);
        return;
    }
    if (rc == 0 || !strstr(err, want))
        fail_msg("want an error with '%s', got rc %d '%s'", want, rc, err);
}

static void ids_are_at_most_256_bytes(void **state)
{
    struct vm_config cfg;
    vm_config_init(&cfg);
    cfg.vsock.enabled = true;
    cfg.vsock.socket = strdup("/run/v.sock");
    cfg.vsock.id = repeat('i', 256);
    expect(&cfg, NULL);
    free(cfg.vsock.id);
    cfg.vsock.id = repeat('i', 257); /* 65,000 were accepted once */
    expect(&cfg, "vsock id is 257 bytes long; at most 256");
    free(cfg.vsock.id);
    cfg.vsock.id = repeat('i', 65000);
    expect(&cfg, "at most 256");
    vm_config_free(&cfg);
}

static void paths_are_at_most_4095_bytes(void **state)
{
    struct vm_config cfg;
    vm_config_init(&cfg);
    cfg.serial = SERIAL_FILE;
    cfg.serial_file = repeat('/', 4096);
    expect(&cfg, "serial file path is 4096 bytes long; at most 4095");
    vm_config_free(&cfg);
}

static void vsock_path_leaves_room_for_the_port_suffix(void **state)
{
    struct vm_config cfg;
    vm_config_init(&cfg);
    cfg.vsock.enabled = true;
    cfg.vsock.socket = repeat('v', 96);
    cfg.vsock.socket[0] = '/';
    expect(&cfg, NULL);
    free(cfg.vsock.socket);
    /* 97..107 bytes: bind() would take it, but "<path>_<port>" would not fit; refused at
     * vm.create (400) instead of failing vm.boot (500). */
    for (size_t len = 97; len <= 108; len++) {
        cfg.vsock.socket = repeat('v', len);
        cfg.vsock.socket[0] = '/';
        expect(&cfg, "at most 96");
        free(cfg.vsock.socket);
    }
    cfg.vsock.socket = NULL;
    vm_config_free(&cfg);
}

static void net_fd_errors_name_the_users_fd(void **state)
{
    struct vm_config cfg;
    vm_config_init(&cfg);
    cfg.nr_nets = 1;
    cfg.nets[0].fd = 99;
    close(99);
    expect(&cfg, "fd 99: not an open file descriptor"); /* said "out of memory" */
    int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
    assert_true(devnull >= 0);
    cfg.nets[0].fd = devnull;
    char want[64];
    snprintf(want, sizeof(want), "fd %d is not a tap device", devnull); /* said "fd 9" */
    expect(&cfg, want);
    cfg.nets[0].fd = -1;
    close(devnull);
    vm_config_free(&cfg);

    /* The same through the command line. */
    struct cli_opts o;
    char err[512];
    char *argv[] = {"cocoon", "--net", "fd=99", NULL};
    assert_int_equal(cli_parse(3, argv, &o, err, sizeof(err)), 0);
    assert_int_equal(vm_config_accept(&o.cfg, err, sizeof(err)), -1);
    o.cfg.nets[0].fd = -1; /* not ours to close */
    if (!strstr(err, "fd 99"))
        fail_msg("%s", err);
    cli_opts_free(&o);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(ids_are_at_most_256_bytes),
        cmocka_unit_test(paths_are_at_most_4095_bytes),
        cmocka_unit_test(vsock_path_leaves_room_for_the_port_suffix),
        cmocka_unit_test(net_fd_errors_name_the_users_fd),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
