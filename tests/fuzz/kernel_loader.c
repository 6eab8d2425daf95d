/* kernel_loader.c: libFuzzer target: bzImage setup headers and ELF/PVH kernels into guest RAM. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "vmm/loader_formats.h"
#include "vmm/base/log.h"

#define RAM_SIZE (16u << 20)

static uint8_t *ram;
static struct guest_mem gm;
static int initrd_fd = -1;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    log_set_level(LOG_LVL_ERROR);
    ram = calloc(1, RAM_SIZE);
    initrd_fd = memfd_create("fuzz-initrd", MFD_CLOEXEC);
    if (!ram || initrd_fd < 0 || ftruncate(initrd_fd, 8192) < 0)
        abort();
    gm_init_host(&gm, ram, RAM_SIZE);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    /* First byte: bit 0 an initramfs, bits 1..7 the command-line length. */
    static char cmdline[128];
    size_t cl = (size_t)(data[0] >> 1);
    memset(cmdline, 'c', cl);
    cmdline[cl] = 0;
    struct loader_input in = {
        .kernel_path = "fuzz-kernel",
        .kernel = data + 1,
        .kernel_size = size - 1,
        .initrd_path = (data[0] & 1) ? "fuzz-initrd" : NULL,
        .initrd_fd = (data[0] & 1) ? initrd_fd : -1,
        .initrd_size = 8192,
        .cmdline = cmdline,
    };
    struct boot_entry e;
    char err[256];
    if (bzimage_detect(in.kernel, in.kernel_size))
        (void)bzimage_load(&gm, &in, &e, err, sizeof(err));
    if (elf_detect(in.kernel, in.kernel_size))
        (void)pvh_load(&gm, &in, &e, err, sizeof(err));
    return 0;
}
