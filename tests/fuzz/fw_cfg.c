/* fw_cfg.c: libFuzzer target: the fw_cfg device as a guest (OVMF, SeaBIOS) drives it: selector and
 * data ports and DMA descriptors in fuzz-filled guest RAM, serving a small bzImage (header patched
 * or not), initrd, cmdline and the named files: etc/e820, bootorder, a genroms ROM and the ACPI
 * linker/loader set (etc/table-loader, etc/acpi/tables, etc/acpi/rsdp) with writes refused, and
 * the access hook a firmware boot uses to rebuild those files in place (vmm/boot_firmware.c
 * fw_acpi_refresh), here replacing them with fuzz-chosen lengths between two accesses. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "devices/fw_cfg.h"
#include "devices/fw_cfg_files.h"
#include "tests/fuzz/fuzz_util.h"
#include "vmm/base/log.h"

static uint8_t ram[FZ_RAM_SIZE];
static char kernel_path[64], initrd_path[64];

/* A minimal bzImage (boot protocol 2.15, 4 setup sectors) and a 3000-byte initrd. */
static void write_files(void)
{
    static uint8_t k[5 * 512 + 4096];
    k[0x1f1] = 4;
    k[0x1fe] = 0x55;
    k[0x1ff] = 0xAA;
    memcpy(k + 0x202, "HdrS", 4);
    k[0x206] = 0x0f;
    k[0x207] = 0x02;
    k[0x211] = 0x01;                          /* LOADED_HIGH */
    memcpy(k + 0x22c, "\xff\xff\xff\x7f", 4); /* initrd_addr_max */
    memcpy(k + 0x238, "\xff\x07\x00\x00", 4); /* cmdline_size */
    for (size_t i = 5 * 512; i < sizeof(k); i++)
        k[i] = (uint8_t)i;
    snprintf(kernel_path, sizeof(kernel_path), "/tmp/cocoon-fuzz-fwcfg-%d.k", (int)getpid());
    snprintf(initrd_path, sizeof(initrd_path), "/tmp/cocoon-fuzz-fwcfg-%d.i", (int)getpid());
    FILE *f = fopen(kernel_path, "wb");
    FILE *g = fopen(initrd_path, "wb");
    if (!f || !g || fwrite(k, 1, sizeof(k), f) != sizeof(k) || fwrite(k, 1, 3000, g) != 3000)
        abort();
    fclose(f);
    fclose(g);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    log_set_level(LOG_LVL_ERROR);
    write_files();
    return 0;
}

/* RSDP (rev 2) + XSDT + FACP + DSDT + FACS built for GPA 0x100000, pointers absolute. */
static size_t acpi_blob(uint8_t *b)
{
    enum { GPA = 0x100000, XSDT = 48, FACP = 96, DSDT = 368, FACS = 416, END = 480 };
    memset(b, 0, END);
    memcpy(b, "RSD PTR ", 8);
    b[15] = 2;
    b[20] = 36;
    b[24] = (uint8_t)(GPA + XSDT), b[25] = (uint8_t)((GPA + XSDT) >> 8);
    b[26] = (uint8_t)((GPA + XSDT) >> 16);
    static const struct {
        const char *sig;
        unsigned at, len;
    } t[] = {{"XSDT", XSDT, 44}, {"FACP", FACP, 244}, {"DSDT", DSDT, 40}, {"FACS", FACS, 64}};
    for (size_t i = 0; i < 4; i++) {
        memcpy(b + t[i].at, t[i].sig, 4);
        b[t[i].at + 4] = (uint8_t)t[i].len;
    }
    uint32_t facp = GPA + FACP, dsdt = GPA + DSDT, facs = GPA + FACS;
    memcpy(b + XSDT + 36, &facp, 4);
    memcpy(b + FACP + 36, &facs, 4);
    memcpy(b + FACP + 40, &dsdt, 4);
    memcpy(b + FACP + 140, &dsdt, 4);
    return END;
}

/* The access hook: when the current operation's top bit is set, replaces a file as a rebuild
 * does (any length, the too-long ones refused) or names one that does not exist. */
static const uint8_t *hook_op;
static void rebuild_hook(void *opaque, struct fw_cfg *fw)
{
    (void)opaque;
    if (!hook_op || !(hook_op[0] & 0x80))
        return;
    static const char *const names[] = {"etc/acpi/tables", "etc/acpi/rsdp", "etc/table-loader",
                                        "etc/no-such-file"};
    static uint8_t content[1024];
    uint32_t len = ((uint32_t)hook_op[1] | (uint32_t)hook_op[2] << 8) % (sizeof(content) + 1);
    memset(content, hook_op[3], len);
    (void)fw_cfg_update_file(fw, names[hook_op[4] & 3], content, len);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* Input: 8-byte port accesses until the marker byte 0xFF, then guest RAM from GPA 0. */
    size_t ops_len = 0;
    while (ops_len + 8 <= size && data[ops_len] != 0xFF)
        ops_len += 8;
    memset(ram, 0, sizeof(ram));
    if (ops_len < size)
        memcpy(ram, data + ops_len + 1,
               size - ops_len - 1 < sizeof(ram) ? size - ops_len - 1 : sizeof(ram));
    struct guest_mem gm;
    gm_init_host(&gm, ram, sizeof(ram));
    const struct fw_cfg_config cfg = {.kernel = kernel_path,
                                      .initrd = initrd_path,
                                      .cmdline = "console=ttyS0",
                                      .ram_size = 512ull << 20, /* what the guest is told */
                                      .nb_cpus = 2,
                                      .max_cpus = 2,
                                      .patch_setup = size & 1};
    char err[256];
    struct fw_cfg *fw = fw_cfg_new(&gm, &cfg, err, sizeof(err));
    if (!fw) { /* the fixed files must always load */
        fprintf(stderr, "fw_cfg_new: %s\n", err);
        abort();
    }
    static uint8_t acpi[512];
    const struct fw_acpi_blob blob = {acpi, acpi_blob(acpi), 0x100000};
    static const uint8_t rom[1024] = {0x55, 0xAA, 2};
    if (fw_cfg_add_platform_files(fw, &gm, "/rom@genroms/linuxboot_dma.bin\n") < 0 ||
        fw_cfg_add_file(fw, "genroms/linuxboot_dma.bin", rom, sizeof(rom)) < 0 ||
        fw_cfg_add_acpi(fw, &blob, err, sizeof(err)) < 0) {
        fprintf(stderr, "fw_cfg files: %s\n", err);
        abort();
    }
    fw_cfg_set_access_hook(fw, rebuild_hook, NULL);
    for (size_t i = 0; i < ops_len; i += 8) {
        hook_op = data + i;
        struct fz f = {data + i, 8};
        uint8_t op = fz_u8(&f);
        uint8_t lens[] = {1, 2, 4, 8};
        uint32_t len = lens[(op >> 1) & 3];
        bool write = op & 0x08;
        uint8_t buf[8];
        for (size_t b = 0; b < sizeof(buf); b++)
            buf[b] = fz_u8(&f);
        /* As the bus delivers them: offset + len inside the registered range. */
        if (op & 1) { /* the DMA port pair: 8 ports */
            len = len > 4 ? 4 : len;
            uint32_t off = (op >> 4) & 7;
            fw_cfg_dma_io(fw, off + len > 8 ? 8 - len : off, buf, len, write);
        } else { /* selector / data: 2 ports */
            len = len > 2 ? 2 : len;
            fw_cfg_comb_io(fw, len == 2 ? 0 : (op >> 4) & 1, buf, len, write);
        }
    }
    hook_op = NULL;
    (void)fw_cfg_dma_errors(fw);
    fw_cfg_free(fw);
    return 0;
}
