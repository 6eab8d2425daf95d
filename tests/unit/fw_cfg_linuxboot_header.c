/* fw_cfg_linuxboot_header: for a plain guest (patch_setup) the setup header served in
 * FW_CFG_SETUP_DATA carries what QEMU's x86_load_linux writes before SeaBIOS's
 * linuxboot_dma.bin jumps into it: cmd_line_ptr = FW_CFG_CMDLINE_ADDR, type_of_loader 0xB0,
 * CAN_USE_HEAP with heap_end_ptr = cmdline - setup - 0x200, ramdisk_image/size = the initrd items;
 * the rest of the file is served unchanged. A TEE guest gets the unpatched bytes (the SEV hashes
 * table hashes the file), which fw_cfg_kernel_items checks. An ELF vmlinux for pvh.bin gets
 * KERNEL_ENTRY and its first 8 KiB as SETUP_DATA (QEMU load_elfboot). */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "devices/fw_cfg.h"
#include "support/loader_files.h"
#include "vmm/base/memory.h"

static uint8_t ram[1 << 20];

static uint8_t *read_item(struct fw_cfg *fw, uint16_t key, uint32_t len)
{
    uint8_t sel[2] = {(uint8_t)key, (uint8_t)(key >> 8)};
    fw_cfg_comb_io(fw, 0, sel, 2, true);
    uint8_t *out = malloc(len ? len : 1);
    for (uint32_t i = 0; i < len; i++)
        fw_cfg_comb_io(fw, 1, &out[i], 1, false);
    return out;
}

static uint32_t item32(struct fw_cfg *fw, uint16_t key)
{
    uint8_t *b = read_item(fw, key, 4);
    uint32_t v = lt_get32(b);
    free(b);
    return v;
}

static void header_patched_for_plain_guest(void **state)
{
    (void)state;
    size_t klen;
    uint8_t *k = lt_make_bzimage(40000, &klen);
    static uint8_t initrd[5000];
    memset(initrd, 0x42, sizeof(initrd));
    const char *kpath = lt_temp_file(0, k, klen), *ipath = lt_temp_file(1, initrd, sizeof(initrd));
    struct guest_mem gm;
    gm_init_host(&gm, ram, sizeof(ram));
    const struct fw_cfg_config cfg = {.kernel = kpath,
                                      .initrd = ipath,
                                      .cmdline = "console=ttyS0",
                                      .ram_size = 256 << 20,
                                      .nb_cpus = 1,
                                      .patch_setup = true};
    char err[160];
    struct fw_cfg *fw = fw_cfg_new(&gm, &cfg, err, sizeof(err));
    if (!fw)
        fail_msg("fw_cfg_new: %s", err);
    uint32_t setup_len = item32(fw, FW_CFG_SETUP_SIZE);
    uint8_t *h = read_item(fw, FW_CFG_SETUP_DATA, setup_len);
    uint32_t cmdline = item32(fw, FW_CFG_CMDLINE_ADDR), setup = item32(fw, FW_CFG_SETUP_ADDR);
    assert_int_equal(setup, 0x10000); /* protocol >= 2.02, LOADED_HIGH: QEMU's addresses */
    assert_int_equal(cmdline, 0x20000);
    assert_int_equal(lt_get32(h + 0x228), cmdline);
    assert_int_equal(h[0x210], 0xB0);
    assert_int_equal(h[0x211] & 0x81, 0x81);
    assert_int_equal(h[0x224] | h[0x225] << 8, cmdline - setup - 0x200);
    assert_int_equal(lt_get32(h + 0x218), item32(fw, FW_CFG_INITRD_ADDR));
    assert_int_equal(lt_get32(h + 0x21C), sizeof(initrd));
    /* nothing else changed */
    static const unsigned patched[][2] = {{0x210, 2}, {0x218, 8}, {0x224, 2}, {0x228, 4}};
    for (unsigned i = 0; i < setup_len; i++) {
        bool in = false;
        for (size_t p = 0; p < 4; p++)
            in |= i >= patched[p][0] && i < patched[p][0] + patched[p][1];
        if (!in && h[i] != k[i])
            fail_msg("setup byte 0x%x changed", i);
    }
    uint32_t kernel_len = item32(fw, FW_CFG_KERNEL_SIZE);
    uint8_t *body = read_item(fw, FW_CFG_KERNEL_DATA, kernel_len);
    assert_int_equal(setup_len + kernel_len, klen);
    assert_memory_equal(body, k + setup_len, kernel_len);
    free(body);
    free(h);
    fw_cfg_free(fw);
    free(k);
}

static void elf_kernel_items_for_pvh_rom(void **state)
{
    (void)state;
    static uint8_t elf[12000];
    for (size_t i = 4; i < sizeof(elf); i++)
        elf[i] = (uint8_t)(i * 7);
    elf[0] = 0x7f, elf[1] = 'E', elf[2] = 'L', elf[3] = 'F';
    const char *kpath = lt_temp_file(0, elf, sizeof(elf));
    struct guest_mem gm;
    gm_init_host(&gm, ram, sizeof(ram));
    const struct fw_cfg_config cfg = {.kernel = kpath,
                                      .cmdline = "console=ttyS0",
                                      .ram_size = 256 << 20,
                                      .nb_cpus = 1,
                                      .patch_setup = true,
                                      .pvh_entry = 0x1000abc};
    char err[160];
    struct fw_cfg *fw = fw_cfg_new(&gm, &cfg, err, sizeof(err));
    if (!fw)
        fail_msg("fw_cfg_new: %s", err);
    assert_int_equal(item32(fw, FW_CFG_KERNEL_ENTRY), 0x1000abc);
    assert_int_equal(item32(fw, FW_CFG_SETUP_SIZE), 8192);
    uint8_t *head = read_item(fw, FW_CFG_SETUP_DATA, 8192);
    assert_memory_equal(head, elf, 8192); /* never patched */
    free(head);
    assert_int_equal(item32(fw, FW_CFG_CMDLINE_SIZE), sizeof("console=ttyS0"));
    assert_int_equal(item32(fw, FW_CFG_KERNEL_SIZE), 0); /* the VMM loaded the segments */
    fw_cfg_free(fw);
    /* a bzImage is not an ELF: refused for the PVH ROM */
    size_t klen;
    uint8_t *k = lt_make_bzimage(4096, &klen);
    const struct fw_cfg_config bad = {.kernel = lt_temp_file(1, k, klen), .pvh_entry = 0x1000};
    assert_null(fw_cfg_new(&gm, &bad, err, sizeof(err)));
    free(k);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(header_patched_for_plain_guest),
        cmocka_unit_test(elf_kernel_items_for_pvh_rom),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
