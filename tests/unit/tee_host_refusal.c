/* tee_host_refusal.c: on a host without SEV-SNP/TDX, `cocoon --platform tee=snp|tdx` stops at once
 * with one line naming what is missing, before any KVM object exists. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include <linux/kvm.h>

#include "tee/kvm_tee_uapi.h"
#include "tests/unit/support/tee_harness.h"
#include "vmm/vm_internal.h"

#define SNP_VECTOR "snp/fixtures/ovmf_AmdSev_suffix.bin"

static char fw[4096]; /* the vector fixture, else Debian's OVMF.fd, else the synthetic image */
static char kernel[] = "/tmp/cocoon-refusal-kernel-XXXXXX";

/* In process, on a simulated plain host (like this machine): vm_create refuses after the probe and
 * the simulated KVM never saw KVM_CREATE_VM. */
static void refused_before_create(enum tee_kind kind, const char *needle)
{
    struct sim_tee *s = sim_tee_new(SIM_HOST_PLAIN);
    struct vm_config cfg;
    vm_config_init(&cfg);
    cfg.platform.tee = kind;
    cfg.kernel = kernel;
    cfg.firmware = fw;
    uv_loop_t loop;
    assert_int_equal(uv_loop_init(&loop), 0);
    struct vm *vm = NULL;
    char err[512] = "";
    assert_int_equal(vm_create_with(&s->handle, &cfg, &loop, NULL, NULL, &vm, err, sizeof(err)),
                     -1);
    assert_null(vm);
    assert_int_equal(s->vm_creates, 0);
    assert_null(strchr(err, '\n'));
    if (!strstr(err, needle))
        fail_msg("message '%s' lacks '%s'", err, needle);
    assert_non_null(strstr(err, "KVM does not offer VM type"));
    uv_run(&loop, UV_RUN_NOWAIT);
    uv_loop_close(&loop);
    sim_tee_free(s);
}

static void snp_refused_in_process(void **state)
{
    refused_before_create(TEE_SNP, "no /dev/sev");
}

static void tdx_refused_in_process(void **state)
{
    refused_before_create(TEE_TDX, "TDX unavailable");
}

/* The built binary on this machine's real KVM. */
static void cli_refuses(const char *tee, unsigned vm_type)
{
    int kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
    if (kvm < 0) {
        print_message("no /dev/kvm: CLI part skipped\n");
        skip();
    }
    int types = ioctl(kvm, KVM_CHECK_EXTENSION, KVM_CAP_VM_TYPES);
    close(kvm);
    if (types > 0 && (types & (1 << vm_type))) {
        print_message("this host offers VM type %u: nothing to refuse\n", vm_type);
        skip();
    }
    char bin[4096], platform[64];
    snprintf(bin, sizeof(bin), "%s/cocoon", COCOON_BINARY_DIR);
    snprintf(platform, sizeof(platform), "tee=%s", tee);
    int pfd[2];
    assert_int_equal(pipe(pfd), 0);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dup2(pfd[1], 2);
        close(pfd[0]);
        execl(bin, "cocoon", "--platform", platform, "--firmware", fw, "--kernel", kernel,
              "--memory", "size=64M", (char *)NULL);
        _exit(127);
    }
    close(pfd[1]);
    char out[2048];
    size_t got = 0;
    ssize_t r;
    while (got < sizeof(out) - 1 && (r = read(pfd[0], out + got, sizeof(out) - 1 - got)) > 0)
        got += (size_t)r;
    out[got] = 0;
    close(pfd[0]);
    int status;
    waitpid(pid, &status, 0);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    assert_true(WIFEXITED(status));
    assert_int_not_equal(WEXITSTATUS(status), 127);
    assert_int_not_equal(WEXITSTATUS(status), 0);
    if (!strstr(out, "unavailable on this host") || !strstr(out, "VM type"))
        fail_msg("unexpected message: %s", out);
    char *nl = strchr(out, '\n');
    assert_true(nl && nl[1] == 0); /* exactly one line */
    assert_true(secs < 5.0);
}

static void snp_cli_refuses(void **state)
{
    cli_refuses("snp", KVM_X86_SNP_VM);
}

static void tdx_cli_refuses(void **state)
{
    cli_refuses("tdx", KVM_X86_TDX_VM);
}

int main(void)
{
    /* Any firmware file will do: the refusal comes before it is read. */
    enum harness_fw_source src = harness_fw_ovmf(COCOON_SOURCE_DIR, SNP_VECTOR, fw, sizeof(fw));
    if (src == HARNESS_FW_NONE)
        src = harness_fw_synthetic(fw, sizeof(fw));
    if (src == HARNESS_FW_NONE) {
        printf("tee_host_refusal: cannot write the synthetic firmware\n");
        return 1;
    }
    printf("tee_host_refusal: firmware argument: %s\n", harness_fw_name(src));
    int fd = mkstemp(kernel);
    char junk[8192] = {0};
    if (fd < 0 || write(fd, junk, sizeof(junk)) != (ssize_t)sizeof(junk))
        return 1;
    close(fd);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(snp_refused_in_process),
        cmocka_unit_test(tdx_refused_in_process),
        cmocka_unit_test(snp_cli_refuses),
        cmocka_unit_test(tdx_cli_refuses),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    unlink(kernel);
    return rc;
}
