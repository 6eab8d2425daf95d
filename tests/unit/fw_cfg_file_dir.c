/* fw_cfg_file_dir: the fw_cfg file directory as OVMF (QemuFwCfgFindFile) and SeaBIOS
 * (qemu_cfg_init) read it: be32 count, 64-byte entries {be32 size, be16 select, name[56]} sorted
 * by name with selectors from 0x20 in that order (QEMU fw_cfg_add_file_callback); each selector
 * serves its file by port and DMA; and etc/e820 describes cocoon's RAM below and above the 4 GiB
 * hole as 20-byte {le64 addr, le64 len, le32 type} records, low RAM in one piece from 0. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "devices/fw_cfg.h"
#include "devices/fw_cfg_files.h"
#include "vmm/base/memory.h"

#define RAM_SIZE (1u << 20)

static uint8_t ram[RAM_SIZE];

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint64_t le(const uint8_t *p, unsigned n)
{
    uint64_t v = 0;
    for (unsigned i = 0; i < n; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

static void select_key(struct fw_cfg *fw, uint16_t key)
{
    uint8_t sel[2] = {(uint8_t)key, (uint8_t)(key >> 8)};
    fw_cfg_comb_io(fw, 0, sel, 2, true);
}

/* Reads n bytes of the item `key` through the data port (byte at a time, like PEI code). */
static void read_item(struct fw_cfg *fw, uint16_t key, uint8_t *out, size_t n)
{
    select_key(fw, key);
    for (size_t i = 0; i < n; i++)
        fw_cfg_comb_io(fw, 1, &out[i], 1, false);
}

static struct fw_cfg *new_device(struct guest_mem *gm)
{
    memset(ram, 0, sizeof(ram));
    gm_init_host(gm, ram, sizeof(ram));
    const struct fw_cfg_config cfg = {.ram_size = RAM_SIZE, .nb_cpus = 1};
    char err[128];
    struct fw_cfg *fw = fw_cfg_new(gm, &cfg, err, sizeof(err));
    assert_non_null(fw);
    return fw;
}

static void directory_sorted_big_endian(void **state)
{
    (void)state;
    struct guest_mem gm;
    struct fw_cfg *fw = new_device(&gm);
    /* added out of order */
    static const char *names[] = {"etc/table-loader", "bootorder", "genroms/linuxboot_dma.bin",
                                  "etc/e820", "etc/acpi/rsdp"};
    static const char *sorted[] = {"bootorder", "etc/acpi/rsdp", "etc/e820", "etc/table-loader",
                                   "genroms/linuxboot_dma.bin"};
    uint8_t data[5][300];
    for (int i = 0; i < 5; i++) {
        memset(data[i], 'a' + i, sizeof(data[i]));
        assert_int_equal(fw_cfg_add_file(fw, names[i], data[i], (uint32_t)(100 + 50 * i)), 0);
    }
    uint8_t dir[4 + 5 * 64];
    read_item(fw, FW_CFG_FILE_DIR, dir, sizeof(dir));
    assert_int_equal(be32(dir), 5);
    for (int i = 0; i < 5; i++) {
        const uint8_t *e = dir + 4 + 64 * i;
        assert_string_equal((const char *)e + 8, sorted[i]);
        uint16_t key = (uint16_t)(e[4] << 8 | e[5]);
        assert_int_equal(key, FW_CFG_FILE_FIRST + i); /* selectors follow the name order */
        assert_int_equal(e[6] | e[7], 0);
        int orig = 0;
        while (strcmp(names[orig], sorted[i]) != 0)
            orig++;
        assert_int_equal(be32(e), 100 + 50 * orig); /* size, big-endian */
        uint8_t got[300];
        read_item(fw, key, got, be32(e));
        assert_memory_equal(got, data[orig], be32(e));
        uint8_t past;
        fw_cfg_comb_io(fw, 1, &past, 1, false);
        assert_int_equal(past, 0); /* past the end: 0, as QEMU */
    }
    /* refused: duplicate, empty, 56 characters (no room for the NUL) */
    char longname[57];
    memset(longname, 'x', 56);
    longname[56] = 0;
    assert_int_equal(fw_cfg_add_file(fw, "bootorder", "x", 1), -1);
    assert_int_equal(fw_cfg_add_file(fw, "", "x", 1), -1);
    assert_int_equal(fw_cfg_add_file(fw, longname, "x", 1), -1);
    longname[55] = 0;
    assert_int_equal(fw_cfg_add_file(fw, longname, "x", 1), 0);
    fw_cfg_free(fw);
}

/* The directory is full at FW_CFG_MAX_FILES; a further file is refused, nothing is lost. */
static void directory_full_refused(void **state)
{
    (void)state;
    struct guest_mem gm;
    struct fw_cfg *fw = new_device(&gm);
    char name[16];
    for (int i = 0; i < FW_CFG_MAX_FILES; i++) {
        snprintf(name, sizeof(name), "f%02d", FW_CFG_MAX_FILES - i);
        assert_int_equal(fw_cfg_add_file(fw, name, name, 3), 0);
    }
    assert_int_equal(fw_cfg_add_file(fw, "one-more", "x", 1), -1);
    uint8_t count[4];
    read_item(fw, FW_CFG_FILE_DIR, count, 4);
    assert_int_equal(be32(count), FW_CFG_MAX_FILES);
    fw_cfg_free(fw);
}

/* Files are replaced in place, several at once: all of them or, when one is missing or would
 * outgrow its size, none (a firmware never reads half a rebuild); the rest of a shorter file
 * reads zeros and the directory's sizes do not change. */
static void files_updated_all_or_none(void **state)
{
    (void)state;
    struct guest_mem gm;
    struct fw_cfg *fw = new_device(&gm);
    assert_int_equal(fw_cfg_add_file(fw, "a", "AAAA", 4), 0);
    assert_int_equal(fw_cfg_add_file(fw, "b", "BBBB", 4), 0);
    const struct fw_cfg_file_update too_long[2] = {{"a", "xx", 2}, {"b", "yyyyy", 5}};
    assert_int_equal(fw_cfg_update_files(fw, too_long, 2), -1);
    const struct fw_cfg_file_update missing[2] = {{"a", "xx", 2}, {"c", "y", 1}};
    assert_int_equal(fw_cfg_update_files(fw, missing, 2), -1);
    uint8_t got[4];
    read_item(fw, FW_CFG_FILE_FIRST, got, 4);
    assert_memory_equal(got, "AAAA", 4); /* untouched by either refusal */
    const struct fw_cfg_file_update both[2] = {{"a", "xx", 2}, {"b", "yyyy", 4}};
    assert_int_equal(fw_cfg_update_files(fw, both, 2), 0);
    read_item(fw, FW_CFG_FILE_FIRST, got, 4);
    assert_memory_equal(got, "xx\0\0", 4);
    read_item(fw, FW_CFG_FILE_FIRST + 1, got, 4);
    assert_memory_equal(got, "yyyy", 4);
    uint8_t dir[4 + 2 * 64];
    read_item(fw, FW_CFG_FILE_DIR, dir, sizeof(dir));
    assert_int_equal(be32(dir + 4), 4);
    fw_cfg_free(fw);
}

/* SeaBIOS reads files by DMA: SELECT|READ with a big-endian descriptor written to 0x514/0x518. */
static void file_read_by_dma(void **state)
{
    (void)state;
    struct guest_mem gm;
    struct fw_cfg *fw = new_device(&gm);
    assert_int_equal(fw_cfg_add_file(fw, "etc/e820", "0123456789abcdefghij", 20), 0);
    uint32_t ctl = (uint32_t)FW_CFG_FILE_FIRST << 16 | FW_CFG_DMA_CTL_SELECT | FW_CFG_DMA_CTL_READ;
    uint8_t *d = ram + 0x1000;
    uint8_t desc[16] = {(uint8_t)(ctl >> 24),
                        (uint8_t)(ctl >> 16),
                        (uint8_t)(ctl >> 8),
                        (uint8_t)ctl,
                        0,
                        0,
                        0,
                        24,
                        0,
                        0,
                        0,
                        0,
                        0,
                        0,
                        0x20,
                        0};
    memcpy(d, desc, sizeof(desc));
    memset(ram + 0x2000, 0xEE, 32);
    uint8_t lo[4] = {0, 0, 0x10, 0}; /* 0x1000, big-endian; only the low half, like SeaBIOS */
    fw_cfg_dma_io(fw, 4, lo, 4, true);
    assert_int_equal(be32(d), 0); /* control cleared: done, no error */
    assert_memory_equal(ram + 0x2000, "0123456789abcdefghij", 20);
    assert_memory_equal(ram + 0x2014, "\0\0\0\0", 4); /* zero-filled past the end */
    assert_int_equal(ram[0x2018], 0xEE);
    fw_cfg_free(fw);
}

/* etc/e820 for cocoon's layout (vmm/base/memory.h): RAM [0, min(size, 3 GiB)), rest from 4 GiB. */
static void check_e820(uint64_t size, unsigned want_n, const uint64_t want[][2])
{
    struct guest_mem gm;
    char err[128];
    assert_int_equal(gm_init(&gm, size, err, sizeof(err)), 0);
    uint8_t out[GM_MAX_REGIONS * FW_E820_RECORD_LEN];
    size_t n = fw_e820_records(&gm, out, sizeof(out));
    assert_int_equal(n, want_n * FW_E820_RECORD_LEN);
    for (unsigned i = 0; i < want_n; i++) {
        const uint8_t *r = out + i * FW_E820_RECORD_LEN;
        assert_int_equal(le(r, 8), want[i][0]);
        assert_int_equal(le(r + 8, 8), want[i][1]);
        assert_int_equal(le(r + 16, 4), FW_E820_RAM);
    }
    assert_int_equal(fw_e820_records(&gm, out, FW_E820_RECORD_LEN * want_n - 1), 0);
    gm_destroy(&gm);
}

static void e820_below_and_above_hole(void **state)
{
    (void)state;
    const uint64_t mib = 1ULL << 20, gib = 1ULL << 30;
    const uint64_t small[][2] = {{0, 128 * mib}};
    check_e820(128 * mib, 1, small);
    const uint64_t three[][2] = {{0, 3 * gib}};
    check_e820(3 * gib, 1, three);
    const uint64_t eight[][2] = {{0, 3 * gib}, {4 * gib, 5 * gib}};
    check_e820(8 * gib, 2, eight);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(directory_sorted_big_endian), cmocka_unit_test(directory_full_refused),
        cmocka_unit_test(files_updated_all_or_none),   cmocka_unit_test(file_read_by_dma),
        cmocka_unit_test(e820_below_and_above_hole),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
