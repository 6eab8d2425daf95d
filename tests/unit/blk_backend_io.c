/* blk_backend_io.c: a disk's io_uring back end on a real file: read/write, flush (and a failed
 * flush staying failed), discard (holes), write-zeroes, read-only refusal, direct=on with
 * unaligned guest buffers, and the partial tail sector. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <errno.h>
#include <fcntl.h>
#include <seccomp.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "support/test_env.h"

#include "devices/blk_backend.h"

#define IMG (256 * 1024 + 100) /* not a whole number of sectors */

static char path[64];
static uint8_t buf[8192] __attribute__((aligned(4096)));
static uv_loop_t loop;
static unsigned delivered, batches;

static void on_done(struct blk_io *io, void *opaque)
{
    delivered++;
}

static void on_batch(void *opaque)
{
    batches++;
}

static void on_closed(uv_handle_t *h)
{
    *(bool *)h->data = true;
}

static int be_open(struct blk_backend *be, const char *p, bool ro, bool direct, char *err,
                   size_t errlen)
{
    return blk_backend_open(be, p, ro, direct, 8, &loop, on_done, on_batch, NULL, err, errlen);
}

/* Runs one request to completion on the loop and returns its status. */
static uint8_t exec(struct blk_backend *be, const struct blk_request *req)
{
    static struct blk_io io;
    memset(&io, 0, sizeof(io));
    io.req = *req;
    unsigned before = delivered;
    blk_backend_submit(be, &io);
    blk_backend_kick(be);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(delivered, before + 1);
    return io.req.status;
}

static void be_close(struct blk_backend *be)
{
    bool closed = false;
    be->opaque = &closed;
    blk_backend_close(be, on_closed);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_true(closed);
}

static int setup(void **state)
{
    assert_int_equal(uv_loop_init(&loop), 0);
    strcpy(path, "/tmp/cocoon-blkbe-XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    static uint8_t img[IMG];
    memset(img, 0xAB, sizeof(img));
    assert_int_equal(write(fd, img, sizeof(img)), (ssize_t)sizeof(img));
    close(fd);
    return 0;
}

static int teardown(void **state)
{
    unlink(path);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&loop), 0);
    return 0;
}

static struct blk_request rw_req(uint32_t type, uint64_t offset, void *p, size_t len)
{
    struct blk_request r;
    memset(&r, 0, sizeof(r));
    r.type = type;
    r.offset = offset;
    r.data_len = len;
    r.iov[0].iov_base = p;
    r.iov[0].iov_len = len / 2;
    r.iov[1].iov_base = (uint8_t *)p + len / 2;
    r.iov[1].iov_len = len - len / 2;
    r.niov = 2;
    return r;
}

static void file_bytes(uint64_t off, void *dst, size_t len)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    assert_int_equal(fseek(f, (long)off, SEEK_SET), 0);
    assert_int_equal(fread(dst, 1, len, f), len);
    fclose(f);
}

static void read_write_flush(void **state)
{
    struct blk_backend be;
    char err[128];
    assert_int_equal(be_open(&be, path, false, false, err, sizeof(err)), 0);
    assert_int_equal(be.img.capacity_sectors, 512); /* the 100-byte tail is not exposed */
    for (size_t i = 0; i < 4096; i++)
        buf[i] = (uint8_t)i;
    struct blk_request w = rw_req(VIRTIO_BLK_T_OUT, 8192, buf, 4096);
    assert_int_equal(exec(&be, &w), VIRTIO_BLK_S_OK);
    struct blk_request f = {.type = VIRTIO_BLK_T_FLUSH};
    assert_int_equal(exec(&be, &f), VIRTIO_BLK_S_OK);
    memset(buf, 0, sizeof(buf));
    struct blk_request r = rw_req(VIRTIO_BLK_T_IN, 8192, buf, 4096);
    assert_int_equal(exec(&be, &r), VIRTIO_BLK_S_OK);
    for (size_t i = 0; i < 4096; i++)
        assert_int_equal(buf[i], (uint8_t)i);
    uint8_t chk[16];
    file_bytes(8192 + 4080, chk, 16);
    assert_int_equal(chk[15], (uint8_t)4095);
    /* the same image a second time in this VM is refused, and named so */
    struct blk_backend be2;
    assert_int_equal(be_open(&be2, path, false, false, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "the same image twice"));
    be_close(&be);
}

static void discard_and_write_zeroes(void **state)
{
    struct blk_backend be;
    char err[128];
    assert_int_equal(be_open(&be, path, false, false, err, sizeof(err)), 0);
    struct blk_request z = {.type = VIRTIO_BLK_T_WRITE_ZEROES, .nrange = 1};
    z.range[0] = (struct blk_range){.offset = 4096, .len = 8192, .unmap = false};
    assert_int_equal(exec(&be, &z), VIRTIO_BLK_S_OK);
    uint8_t chk[8192 + 2];
    file_bytes(4095, chk, sizeof(chk));
    assert_int_equal(chk[0], 0xAB);
    for (size_t i = 1; i <= 8192; i++)
        assert_int_equal(chk[i], 0);
    assert_int_equal(chk[8193], 0xAB);
    struct blk_request d = {.type = VIRTIO_BLK_T_DISCARD, .nrange = 1};
    d.range[0] = (struct blk_range){.offset = 65536, .len = 65536, .unmap = true};
    uint8_t st = exec(&be, &d);
    if (be.img.can_discard) {
        assert_int_equal(st, VIRTIO_BLK_S_OK);
        struct stat s1;
        assert_int_equal(stat(path, &s1), 0);
        assert_int_equal(s1.st_size, IMG); /* KEEP_SIZE */
        file_bytes(65536, chk, 16);
        assert_int_equal(chk[0], 0); /* a hole reads as zeroes */
    } else {
        assert_int_equal(st, VIRTIO_BLK_S_UNSUPP);
    }
    be_close(&be);
}

static void readonly_refuses_writes(void **state)
{
    struct blk_backend be, be2;
    char err[128];
    assert_int_equal(be_open(&be, path, true, false, err, sizeof(err)), 0);
    assert_int_equal(be_open(&be2, path, true, false, err, sizeof(err)), 0); /* shared */
    assert_false(be.img.can_discard);
    memset(buf, 0x11, 512);
    struct blk_request w = rw_req(VIRTIO_BLK_T_OUT, 0, buf, 512);
    assert_int_equal(exec(&be, &w), VIRTIO_BLK_S_IOERR);
    struct blk_request z = {.type = VIRTIO_BLK_T_WRITE_ZEROES, .nrange = 1};
    z.range[0] = (struct blk_range){.offset = 0, .len = 512};
    assert_int_equal(exec(&be, &z), VIRTIO_BLK_S_IOERR);
    uint8_t chk[512];
    file_bytes(0, chk, 512);
    assert_int_equal(chk[0], 0xAB);
    assert_int_equal(chk[511], 0xAB);
    be_close(&be);
    be_close(&be2);
}

static void short_read_is_ioerr(void **state)
{
    struct blk_backend be;
    char err[128];
    assert_int_equal(be_open(&be, path, true, false, err, sizeof(err)), 0);
    assert_int_equal(truncate(path, 4096), 0); /* the image shrinks under the VM */
    struct blk_request r = rw_req(VIRTIO_BLK_T_IN, 8192, buf, 4096);
    assert_int_equal(exec(&be, &r), VIRTIO_BLK_S_IOERR);
    be_close(&be);
}

static void write_zeroes_fallback(void **state)
{
    assert_int_equal(uv_loop_init(&loop), 0);
    /* tmpfs punches holes but has no FALLOC_FL_ZERO_RANGE: zeroes are written instead. */
    char shm[64] = "/dev/shm/cocoon-blkbe-XXXXXX";
    int fd = mkstemp(shm);
    if (fd < 0) {
        skip();
        return;
    }
    static uint8_t img[64 * 1024];
    memset(img, 0xAB, sizeof(img));
    assert_int_equal(write(fd, img, sizeof(img)), (ssize_t)sizeof(img));
    close(fd);
    struct blk_backend be;
    char err[128];
    assert_int_equal(be_open(&be, shm, false, false, err, sizeof(err)), 0);
    struct blk_request z = {.type = VIRTIO_BLK_T_WRITE_ZEROES, .nrange = 2};
    z.range[0] = (struct blk_range){.offset = 512, .len = 1024, .unmap = false};
    z.range[1] = (struct blk_range){.offset = 8192, .len = 8192, .unmap = true};
    assert_int_equal(exec(&be, &z), VIRTIO_BLK_S_OK);
    be_close(&be);
    FILE *f = fopen(shm, "rb");
    assert_non_null(f);
    assert_int_equal(fread(img, 1, sizeof(img), f), sizeof(img));
    fclose(f);
    unlink(shm);
    for (size_t i = 0; i < sizeof(img); i++) {
        bool zero = (i >= 512 && i < 1536) || (i >= 8192 && i < 16384);
        assert_int_equal(img[i], zero ? 0 : 0xAB);
    }
    assert_int_equal(uv_loop_close(&loop), 0);
}

/* fsyncgate (issue 14): after fdatasync failed the page cache may have dropped the dirty pages,
 * so a later flush must not report them safe. The failure comes through the back end's seam
 * (test_flush_errno rewrites the FSYNC completion's result), the path a real EIO takes. */
static void failed_flush_stays_failed_until_reset(void **state)
{
    struct blk_backend be;
    char err[128];
    assert_int_equal(be_open(&be, path, false, false, err, sizeof(err)), 0);
    memset(buf, 0x42, 4096);
    struct blk_request w = rw_req(VIRTIO_BLK_T_OUT, 0, buf, 4096);
    struct blk_request f = {.type = VIRTIO_BLK_T_FLUSH};
    assert_int_equal(exec(&be, &w), VIRTIO_BLK_S_OK);
    assert_int_equal(exec(&be, &f), VIRTIO_BLK_S_OK);
    be.test_flush_errno = EIO;
    assert_int_equal(exec(&be, &w), VIRTIO_BLK_S_OK);
    assert_int_equal(exec(&be, &f), VIRTIO_BLK_S_IOERR);
    be.test_flush_errno = 0; /* the disk "recovers": the lost pages do not */
    assert_int_equal(exec(&be, &f), VIRTIO_BLK_S_IOERR);
    assert_int_equal(exec(&be, &f), VIRTIO_BLK_S_IOERR);
    assert_int_equal(exec(&be, &w), VIRTIO_BLK_S_OK); /* writes still go (decision: README) */
    blk_backend_reset(&be);                           /* the guest reset the device */
    assert_int_equal(exec(&be, &f), VIRTIO_BLK_S_OK);
    be_close(&be);
}

/* Runs "<cmd> <arg>" through the shell; returns its status. */
static int run_cmd(const char *cmd, const char *arg)
{
    char line[512];
    snprintf(line, sizeof(line), "%s %s", cmd, arg);
    return system(line);
}

/* The same on a real device (issue 14's reproduction): a loop device over a file on a 2 MiB tmpfs.
 * 8 MiB written through the loop device land in its page cache (OK); the flush pushes them to the
 * full tmpfs and fails; the next flushes must fail too, although the kernel has by then dropped
 * the error (the old back end answered OK). Needs root, mount and losetup, else skipped. */
static void failed_flush_on_a_full_device_stays_failed(void **state)
{
    char dir[64] = "/var/tmp/cocoon-enospc-XXXXXX", file[96], dev[64] = "";
    if (geteuid() != 0 || !mkdtemp(dir)) {
        print_message("skipped: needs root\n");
        skip();
    }
    snprintf(file, sizeof(file), "%s/backing", dir);
    if (run_cmd("mount -t tmpfs -o size=2m cocoon-enospc", dir) != 0) {
        rmdir(dir);
        print_message("skipped: cannot mount a tmpfs\n");
        skip();
    }
    FILE *p = NULL;
    if (run_cmd("truncate -s 16M", file) == 0) {
        char cmd[160];
        snprintf(cmd, sizeof(cmd), "losetup -f --show %s 2>/dev/null", file);
        p = popen(cmd, "r");
    }
    bool have_loop = p && fgets(dev, sizeof(dev), p) && !strncmp(dev, "/dev/loop", 9);
    if (p)
        pclose(p);
    dev[strcspn(dev, "\n")] = 0;
    struct blk_backend be;
    char err[256];
    int opened = have_loop ? be_open(&be, dev, false, false, err, sizeof(err)) : -1;
    uint8_t st_write = VIRTIO_BLK_S_IOERR, st_flush[3] = {0, 0, 0};
    if (opened == 0) {
        static uint8_t chunk[1 << 20];
        memset(chunk, 0x6B, sizeof(chunk));
        st_write = VIRTIO_BLK_S_OK;
        for (unsigned i = 0; i < 8; i++) {
            struct blk_request w =
                rw_req(VIRTIO_BLK_T_OUT, (uint64_t)i << 20, chunk, sizeof(chunk));
            st_write |= exec(&be, &w);
        }
        struct blk_request f = {.type = VIRTIO_BLK_T_FLUSH};
        for (unsigned i = 0; i < 3; i++)
            st_flush[i] = exec(&be, &f);
        be_close(&be);
    }
    if (have_loop)
        run_cmd("losetup -d", dev);
    run_cmd("umount", dir);
    rmdir(dir);
    if (!have_loop) {
        print_message("skipped: no free loop device\n");
        skip();
    }
    assert_int_equal(opened, 0);
    assert_int_equal(st_write, VIRTIO_BLK_S_OK);
    print_message("flushes: %u %u %u\n", st_flush[0], st_flush[1], st_flush[2]);
    assert_int_equal(st_flush[0], VIRTIO_BLK_S_IOERR);
    assert_int_equal(st_flush[1], VIRTIO_BLK_S_IOERR);
    assert_int_equal(st_flush[2], VIRTIO_BLK_S_IOERR);
}

static unsigned open_fds(void)
{
    unsigned n = 0;
    for (int fd = 0; fd < 1024; fd++)
        n += fcntl(fd, F_GETFD) >= 0;
    return n;
}

/* In a child: a seccomp policy refuses `call`; the disk must be refused with a message naming
 * io_uring, and leave no fd and no loop handle behind. Exit status 0 when all holds. */
static int refuse_in_child(int call)
{
    scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
    if (!ctx || seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), call, 0) < 0 || seccomp_load(ctx) < 0)
        return 3;
    struct blk_backend be;
    char err[256] = "";
    if (uv_loop_init(&loop) != 0)
        return 4;
    unsigned before = open_fds();
    if (be_open(&be, path, false, false, err, sizeof(err)) != -1)
        return 5;
    fprintf(stderr, "refused: %s\n", err);
    if (!strstr(err, "io_uring") || !strstr(err, "io_uring_disabled"))
        return 6;
    uv_run(&loop, UV_RUN_DEFAULT);
    if (open_fds() != before)
        return 7; /* the image, its ring or its eventfd leaked */
    return uv_loop_close(&loop) == 0 ? 0 : 8;
}

/* Without io_uring (a seccomp policy around the process refusing io_uring_setup, as a container
 * runtime's default profile does), or when its set-up fails half-way (io_uring_register refused),
 * a disk is refused with a message that says why, and nothing is left open or on the loop. */
static void refused_with_a_message_without_io_uring(void **state)
{
    /* valgrind does not emulate seccomp(2): the child's policy cannot be installed under it. */
    if (test_under_valgrind())
        skip();
    int calls[] = {SCMP_SYS(io_uring_setup), SCMP_SYS(io_uring_register)};
    for (unsigned i = 0; i < 2; i++) {
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0)
            _exit(refuse_in_child(calls[i]));
        int st;
        assert_int_equal(waitpid(pid, &st, 0), pid);
        assert_true(WIFEXITED(st));
        assert_int_equal(WEXITSTATUS(st), 0);
    }
}

/* direct=on: O_DIRECT on the image; guest buffers that are not aligned are bounced through an
 * aligned copy, aligned ones go straight; both read and write the right bytes. */
static void direct_io_bounces_unaligned_buffers(void **state)
{
    struct blk_backend be;
    char err[160];
    assert_int_equal(truncate(path, 8 << 20), 0); /* room for the large request */
    if (be_open(&be, path, false, true, err, sizeof(err)) < 0) {
        print_message("skipped: %s\n", err); /* a file system without O_DIRECT */
        skip();
    }
    assert_true(be.img.direct);
    static uint8_t raw[3 * 4096] __attribute__((aligned(4096)));
    uint8_t *odd = raw + 3; /* not 512-aligned: O_DIRECT would refuse it (EINVAL) */
    for (size_t i = 0; i < 4096; i++)
        odd[i] = (uint8_t)(i * 5 + 1);
    struct blk_request w = rw_req(VIRTIO_BLK_T_OUT, 16384, odd, 4096);
    assert_int_equal(exec(&be, &w), VIRTIO_BLK_S_OK);
    uint8_t chk[4096];
    file_bytes(16384, chk, sizeof(chk));
    assert_memory_equal(chk, odd, 4096);
    memset(raw, 0, sizeof(raw));
    struct blk_request r = rw_req(VIRTIO_BLK_T_IN, 16384, odd, 4096);
    assert_int_equal(exec(&be, &r), VIRTIO_BLK_S_OK);
    assert_memory_equal(chk, odd, 4096);
    assert_int_equal(raw[2], 0);        /* nothing written before the buffer */
    assert_int_equal(raw[4096 + 3], 0); /* nor after it */
    memset(buf, 0, 4096);               /* aligned: no bounce, same bytes */
    struct blk_request a = rw_req(VIRTIO_BLK_T_IN, 16384, buf, 4096);
    assert_int_equal(exec(&be, &a), VIRTIO_BLK_S_OK);
    assert_memory_equal(chk, buf, 4096);
    /* unaligned and larger than a bounce buffer: through the page-cache twin, same bytes */
    size_t big = 2 * BLK_BOUNCE_MAX;
    uint8_t *mem = malloc(big + 8), *out = malloc(big + 8), *file = malloc(big);
    assert_non_null(mem);
    assert_non_null(out);
    assert_non_null(file);
    for (size_t i = 0; i < big; i++)
        mem[i + 1] = (uint8_t)(i * 13 + 7);
    struct blk_request bw = rw_req(VIRTIO_BLK_T_OUT, 1 << 20, mem + 1, big);
    assert_int_equal(exec(&be, &bw), VIRTIO_BLK_S_OK);
    file_bytes(1 << 20, file, big);
    assert_memory_equal(file, mem + 1, big);
    struct blk_request br = rw_req(VIRTIO_BLK_T_IN, 1 << 20, out + 3, big);
    assert_int_equal(exec(&be, &br), VIRTIO_BLK_S_OK);
    assert_memory_equal(out + 3, mem + 1, big);
    free(mem);
    free(out);
    free(file);
    be_close(&be);
}

static void open_errors(void **state)
{
    assert_int_equal(uv_loop_init(&loop), 0);
    struct blk_backend be;
    char err[128];
    assert_int_equal(be_open(&be, "/nonexistent/cocoon.img", true, false, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "cannot open"));
    assert_int_equal(be_open(&be, "/tmp", true, false, err, sizeof(err)), -1);
    assert_int_equal(uv_loop_close(&loop), 0); /* nothing left on the loop by a failed open */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(read_write_flush, setup, teardown),
        cmocka_unit_test_setup_teardown(discard_and_write_zeroes, setup, teardown),
        cmocka_unit_test_setup_teardown(readonly_refuses_writes, setup, teardown),
        cmocka_unit_test_setup_teardown(short_read_is_ioerr, setup, teardown),
        cmocka_unit_test(write_zeroes_fallback),
        cmocka_unit_test_setup_teardown(failed_flush_stays_failed_until_reset, setup, teardown),
        cmocka_unit_test_setup_teardown(direct_io_bounces_unaligned_buffers, setup, teardown),
        cmocka_unit_test_setup_teardown(failed_flush_on_a_full_device_stays_failed, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(refused_with_a_message_without_io_uring, setup, teardown),
        cmocka_unit_test(open_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
