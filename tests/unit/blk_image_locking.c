/* blk_image_locking.c: who may open a disk image: a second writer in another process is refused
 * as "in use by another process"; the same image twice in this VM is named as such; a loop device
 * over an image is locked through its backing file, both ways (file then /dev/loopN, and
 * /dev/loopN then file), in one VM and across processes (needs root and losetup, else skipped). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "devices/blk_image.h"

static char path[64];
static char loopdev[64];

static int setup(void **state)
{
    strcpy(path, "/var/tmp/cocoon-blklock-XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(ftruncate(fd, 1 << 20), 0);
    close(fd);
    loopdev[0] = 0;
    return 0;
}

static int teardown(void **state)
{
    if (loopdev[0]) {
        char cmd[128];
        snprintf(cmd, sizeof(cmd), "losetup -d %s", loopdev);
        if (system(cmd) != 0)
            print_message("could not detach %s\n", loopdev);
    }
    unlink(path);
    return 0;
}

/* Runs blk_image_open(p) in a child process that holds it until told to exit; returns when the
 * child holds the image. */
static pid_t hold_in_child(const char *p, int *release_fd)
{
    int ready[2], release[2];
    assert_int_equal(pipe(ready), 0);
    assert_int_equal(pipe(release), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(release[1]); /* EOF on release[0] once the parent closes its end */
        struct blk_image img;
        char err[256], c = 0;
        int rc = blk_image_open(&img, p, false, false, err, sizeof(err));
        if (write(ready[1], rc == 0 ? "1" : "0", 1) != 1 || read(release[0], &c, 1) < 0)
            _exit(2);
        _exit(rc == 0 ? 0 : 1);
    }
    char ok = 0;
    assert_int_equal(read(ready[0], &ok, 1), 1);
    assert_int_equal(ok, '1');
    close(ready[0]);
    close(ready[1]);
    close(release[0]);
    *release_fd = release[1];
    return pid;
}

static void release_child(pid_t pid, int fd)
{
    close(fd);
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

static void expect_refused(const char *p, bool readonly, const char *want)
{
    struct blk_image img;
    char err[512] = "";
    assert_int_equal(blk_image_open(&img, p, readonly, false, err, sizeof(err)), -1);
    print_message("refused: %s\n", err);
    assert_non_null(strstr(err, want));
}

static void another_process_and_same_vm_are_told_apart(void **state)
{
    int fd;
    pid_t pid = hold_in_child(path, &fd);
    expect_refused(path, false, "in use by another process");
    expect_refused(path, true, "in use by another process");
    release_child(pid, fd);
    struct blk_image a, b;
    char err[512];
    assert_int_equal(blk_image_open(&a, path, false, false, err, sizeof(err)), 0);
    expect_refused(path, false, "already attached to this VM");
    expect_refused(path, true, "the same image twice");
    blk_image_close(&a);
    assert_int_equal(blk_image_open(&a, path, true, false, err, sizeof(err)), 0);
    assert_int_equal(blk_image_open(&b, path, true, false, err, sizeof(err)), 0); /* shared */
    blk_image_close(&a);
    blk_image_close(&b);
}

static bool attach_loop(void)
{
    if (geteuid() != 0)
        return false;
    char cmd[160];
    snprintf(cmd, sizeof(cmd), "losetup -f --show %s 2>/dev/null", path);
    FILE *p = popen(cmd, "r");
    if (!p)
        return false;
    bool ok = fgets(loopdev, sizeof(loopdev), p) != NULL;
    pclose(p);
    loopdev[strcspn(loopdev, "\n")] = 0;
    if (!ok || strncmp(loopdev, "/dev/loop", 9) != 0) {
        loopdev[0] = 0;
        return false;
    }
    return true;
}

static void loop_device_is_locked_through_its_backing_file(void **state)
{
    if (!attach_loop()) {
        print_message("skipped: needs root and a free loop device (losetup)\n");
        skip();
    }
    int fd;
    /* another cocoon writes the file: the loop device over it is refused, naming the file */
    pid_t pid = hold_in_child(path, &fd);
    expect_refused(loopdev, false, "its loop backing file");
    expect_refused(loopdev, false, "in use by another process");
    release_child(pid, fd);
    /* another cocoon writes the loop device: the file is refused */
    pid = hold_in_child(loopdev, &fd);
    expect_refused(path, false, "in use by another process");
    release_child(pid, fd);
    /* one VM given the file and its loop device: the same image twice */
    struct blk_image a;
    char err[512];
    assert_int_equal(blk_image_open(&a, path, false, false, err, sizeof(err)), 0);
    expect_refused(loopdev, false, "the same image twice");
    blk_image_close(&a);
    assert_int_equal(blk_image_open(&a, loopdev, false, false, err, sizeof(err)), 0);
    expect_refused(path, false, "the same image twice");
    blk_image_close(&a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(another_process_and_same_vm_are_told_apart, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(loop_device_is_locked_through_its_backing_file, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
