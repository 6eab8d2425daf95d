/* loader_bzimage.c: the bzImage loader accepts Debian's kernel and refuses malformed images. */
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

#include "support/loader_files.h"
#include "vmm/loader.h"

#define MIB (1ULL << 20)
#define RAM (64 * MIB)

static bool real_kernel_missing;
static struct guest_mem gm;

static int setup(void **state)
{
    char err[256];
    return gm_init(&gm, RAM, err, sizeof(err));
}

static int teardown(void **state)
{
    gm_destroy(&gm);
    lt_cleanup();
    return 0;
}

/* Loads kernel bytes (+ optional initramfs path and cmdline); returns rc and the error line. */
static int load_bytes(const uint8_t *k, size_t len, const char *initrd, const char *cmdline,
                      char *err, size_t errlen)
{
    struct load_request req = {
        .kernel = lt_temp_file(0, k, len), .initramfs = initrd, .cmdline = cmdline};
    struct boot_entry e;
    err[0] = 0;
    return loader_load(&gm, &req, &e, err, errlen);
}

/* Expects the load to fail with one line containing `want`. */
static void expect_error(const uint8_t *k, size_t len, const char *initrd, const char *cmdline,
                         const char *want)
{
    char err[512];
    assert_int_equal(load_bytes(k, len, initrd, cmdline, err, sizeof(err)), -1);
    if (!strstr(err, want))
        fail_msg("error \"%s\" does not mention \"%s\"", err, want);
    assert_null(strchr(err, '\n'));
}

static void synthetic_bzimage_loads(void **state)
{
    size_t len;
    uint8_t *k = lt_make_bzimage(4096, &len);
    char err[256];
    int rc = load_bytes(k, len, NULL, "quiet", err, sizeof(err));
    if (rc)
        fail_msg("%s", err);
    free(k);
}

static void truncated_header(void **state)
{
    size_t len;
    uint8_t *k = lt_make_bzimage(4096, &len);
    expect_error(k, 0x240, NULL, NULL, "truncated bzImage setup header");
    /* Cut before the magic: no longer recognisable at all. */
    expect_error(k, 0x100, NULL, NULL, "neither a bzImage nor an ELF");
    free(k);
}

static void wrong_magic(void **state)
{
    size_t len;
    uint8_t *k = lt_make_bzimage(4096, &len);
    memcpy(k + LT_HEADER, "HdrX", 4);
    expect_error(k, len, NULL, NULL, "neither a bzImage nor an ELF");
    memcpy(k + LT_HEADER, "HdrS", 4);
    lt_put16(k + LT_BOOT_FLAG, 0x1234);
    expect_error(k, len, NULL, NULL, "bad bzImage setup header magic");
    free(k);
}

static void old_protocol_version(void **state)
{
    size_t len;
    uint8_t *k = lt_make_bzimage(4096, &len);
    lt_put16(k + LT_VERSION, 0x020a);
    expect_error(k, len, NULL, NULL, "boot protocol 2.10 is too old");
    free(k);
}

static void no_64bit_entry(void **state)
{
    size_t len;
    uint8_t *k = lt_make_bzimage(4096, &len);
    lt_put16(k + LT_XLOADFLAGS, 0);
    expect_error(k, len, NULL, NULL, "XLF_KERNEL_64");
    free(k);
}

static void not_loaded_high(void **state)
{
    size_t len;
    uint8_t *k = lt_make_bzimage(4096, &len);
    k[LT_LOADFLAGS] = 0;
    expect_error(k, len, NULL, NULL, "LOADED_HIGH");
    free(k);
}

static void setup_sects_huge(void **state)
{
    size_t len;
    uint8_t *k = lt_make_bzimage(4096, &len);
    k[LT_SETUP_SECTS] = 255;
    expect_error(k, len, NULL, NULL, "setup_sects 255 runs past the end of the file");
    free(k);
}

static void syssize_past_eof(void **state)
{
    size_t len;
    uint8_t *k = lt_make_bzimage(4096, &len);
    lt_put32(k + LT_SYSSIZE, 4096 / 16 + 1);
    expect_error(k, len, NULL, NULL, "syssize");
    lt_put32(k + LT_SYSSIZE, 0xffffffff);
    expect_error(k, len, NULL, NULL, "syssize");
    lt_put32(k + LT_SYSSIZE, 0);
    expect_error(k, len, NULL, NULL, "syssize");
    free(k);
}

static void bad_kernel_alignment(void **state)
{
    size_t len;
    uint8_t *k = lt_make_bzimage(4096, &len);
    lt_put32(k + LT_KERNEL_ALIGNMENT, 0x300000);
    expect_error(k, len, NULL, NULL, "kernel_alignment");
    free(k);
}

static void init_size_beyond_ram(void **state)
{
    size_t len;
    uint8_t *k = lt_make_bzimage(4096, &len);
    lt_put32(k + LT_INIT_SIZE, (uint32_t)RAM);
    expect_error(k, len, NULL, NULL, "init_size");
    lt_put32(k + LT_INIT_SIZE, 0xffffffff);
    expect_error(k, len, NULL, NULL, "init_size");
    lt_put32(k + LT_INIT_SIZE, 0x800000);
    lt_put64(k + LT_PREF_ADDRESS, 0xfffffffffff00000ULL);
    expect_error(k, len, NULL, NULL, "init_size");
    free(k);
}

static void kernel_bigger_than_ram(void **state)
{
    size_t len;
    uint8_t *k = lt_make_bzimage(4096, &len);
    struct load_request req = {.kernel = lt_sparse_file(0, k, len, RAM + 1)};
    struct boot_entry e;
    char err[256];
    assert_int_equal(loader_load(&gm, &req, &e, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "is larger than guest memory"));
    free(k);
}

static void kernel_image_bigger_than_low_ram(void **state)
{
    /* Fits in RAM as a file but not between 1 MiB and the end of RAM. */
    size_t len;
    uint8_t *k = lt_make_bzimage(RAM - 512 * 1024, &len);
    expect_error(k, len, NULL, NULL, "larger than guest low memory");
    free(k);
}

static void initramfs_bigger_than_ram(void **state)
{
    size_t len;
    uint8_t *k = lt_make_bzimage(4096, &len);
    const char *initrd = lt_sparse_file(1, "070701", 6, RAM + 4096);
    expect_error(k, len, initrd, NULL, "initramfs");
    expect_error(k, len, initrd, NULL, "is larger than guest memory");
    free(k);
}

static void initramfs_does_not_fit_above_kernel(void **state)
{
    size_t len;
    uint8_t *k = lt_make_bzimage(4096, &len);
    /* Kernel needs RAM up to 24 MiB; 48 MiB of initramfs cannot go above it in 64 MiB. */
    const char *initrd = lt_sparse_file(1, "070701", 6, 48 * MIB);
    expect_error(k, len, initrd, NULL, "does not fit");
    /* initrd_addr_max below the kernel's end leaves no room at all. */
    lt_put32(k + LT_INITRD_ADDR_MAX, 0x00ffffff);
    initrd = lt_sparse_file(1, "070701", 6, 4096);
    expect_error(k, len, initrd, NULL, "does not fit");
    free(k);
}

static void cmdline_longer_than_cmdline_size(void **state)
{
    size_t len;
    uint8_t *k = lt_make_bzimage(4096, &len);
    lt_put32(k + LT_CMDLINE_SIZE, 15);
    char err[256];
    assert_int_equal(load_bytes(k, len, NULL, "0123456789abcde", err, sizeof(err)), 0);
    expect_error(k, len, NULL, "0123456789abcdef", "accepts at most 15");
    free(k);
}

static void missing_and_unreadable_files(void **state)
{
    struct load_request req = {.kernel = "/nonexistent/cocoon-kernel"};
    struct boot_entry e;
    char err[256];
    assert_int_equal(loader_load(&gm, &req, &e, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "cannot open kernel"));
    req.kernel = "/tmp";
    assert_int_equal(loader_load(&gm, &req, &e, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "not a regular file"));
    req.kernel = lt_temp_file(0, "", 0);
    assert_int_equal(loader_load(&gm, &req, &e, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "is empty"));
    size_t len;
    uint8_t *k = lt_make_bzimage(4096, &len);
    req.kernel = lt_temp_file(0, k, len);
    req.initramfs = "/nonexistent/initrd";
    assert_int_equal(loader_load(&gm, &req, &e, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "cannot open initramfs"));
    free(k);
}

/* A FIFO as kernel or initramfs is refused at once instead of blocking open() for a writer. */
static void fifo_inputs_are_refused_without_blocking(void **state)
{
    char fifo[64];
    snprintf(fifo, sizeof(fifo), "/tmp/cocoon-loader-fifo-%d", (int)getpid());
    unlink(fifo);
    assert_int_equal(mkfifo(fifo, 0600), 0);
    alarm(10); /* a blocking open() would hang here: SIGALRM ends the test as failed */
    struct load_request req = {.kernel = fifo};
    struct boot_entry e;
    char err[256];
    assert_int_equal(loader_load(&gm, &req, &e, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "not a regular file"));
    size_t len;
    uint8_t *k = lt_make_bzimage(4096, &len);
    req.kernel = lt_temp_file(0, k, len);
    req.initramfs = fifo;
    assert_int_equal(loader_load(&gm, &req, &e, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "initramfs"));
    assert_non_null(strstr(err, "not a regular file"));
    alarm(0);
    free(k);
    unlink(fifo);
}

static void neither_format(void **state)
{
    uint8_t junk[4096];
    for (size_t i = 0; i < sizeof(junk); i++)
        junk[i] = (uint8_t)(i * 31 + 7);
    expect_error(junk, sizeof(junk), NULL, NULL,
                 "is neither a bzImage nor an ELF vmlinux with a PVH note");
}

static void debian_bzimage_loads(void **state)
{
    const char *path = lt_debian_kernel(COCOON_BINARY_DIR, "bzImage");
    if (!path) {
        real_kernel_missing = true;
        skip();
    }
    struct guest_mem big;
    char err[256];
    assert_int_equal(gm_init(&big, 512 * MIB, err, sizeof(err)), 0);
    struct load_request req = {.kernel = path,
                               .cmdline = "console=ttyS0 earlyprintk=serial nokaslr"};
    struct boot_entry e;
    if (loader_load(&big, &req, &e, err, sizeof(err)))
        fail_msg("%s", err);
    assert_int_equal(e.kind, BOOT_BZIMAGE64);
    assert_int_equal(e.rip, 0x100200);
    /* The 64-bit entry (startup_64) is at +0x200 of the protected-mode code: it must not be the
     * zero padding of an empty image. */
    const uint8_t *code = gm_span(&big, e.rip, 16);
    uint8_t zero[16] = {0};
    assert_memory_not_equal(code, zero, sizeof(zero));
    /* Debian's kernel does not fit in 64 MiB once decompressed (init_size ~ 51 MiB at 16 MiB). */
    assert_int_equal(loader_load(&gm, &req, &e, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "init_size"));
    gm_destroy(&big);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(synthetic_bzimage_loads),
        cmocka_unit_test(fifo_inputs_are_refused_without_blocking),
        cmocka_unit_test(truncated_header),
        cmocka_unit_test(wrong_magic),
        cmocka_unit_test(old_protocol_version),
        cmocka_unit_test(no_64bit_entry),
        cmocka_unit_test(not_loaded_high),
        cmocka_unit_test(setup_sects_huge),
        cmocka_unit_test(syssize_past_eof),
        cmocka_unit_test(bad_kernel_alignment),
        cmocka_unit_test(init_size_beyond_ram),
        cmocka_unit_test(kernel_bigger_than_ram),
        cmocka_unit_test(kernel_image_bigger_than_low_ram),
        cmocka_unit_test(initramfs_bigger_than_ram),
        cmocka_unit_test(initramfs_does_not_fit_above_kernel),
        cmocka_unit_test(cmdline_longer_than_cmdline_size),
        cmocka_unit_test(missing_and_unreadable_files),
        cmocka_unit_test(neither_format),
        cmocka_unit_test(debian_bzimage_loads),
    };
    int failed = cmocka_run_group_tests(tests, setup, teardown);
    if (failed == 0 && real_kernel_missing) {
        fprintf(stderr, "SKIP: Debian kernel not fetched (tests/scripts/fetch-debian-kernel.sh)\n");
        return 77;
    }
    return failed;
}
