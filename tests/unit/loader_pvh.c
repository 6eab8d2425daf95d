/* loader_pvh.c: the PVH loader boots Debian's vmlinux and synthetic ELFs, refuses malformed ones.
 */
#include <elf.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "support/loader_files.h"
#include "vmm/e820.h"
#include "vmm/loader.h"

#define MIB (1ULL << 20)
#define RAM (64 * MIB)

/* hvm_start_info field offsets (PVH ABI, version 1). */
#define SI_MAGIC          0
#define SI_VERSION        4
#define SI_NR_MODULES     12
#define SI_MODLIST_PADDR  16
#define SI_CMDLINE_PADDR  24
#define SI_MEMMAP_PADDR   40
#define SI_MEMMAP_ENTRIES 48

static bool real_kernel_missing;
static struct guest_mem gm;

static const struct lt_elf good = {
    .with_pvh = true, .paddr = 0x200000, .filesz = 0x3000, .memsz = 0x5000, .entry = 0x200010};

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

static int load_bytes(const uint8_t *k, size_t len, const char *initrd, const char *cmdline,
                      struct boot_entry *e, char *err, size_t errlen)
{
    struct load_request req = {
        .kernel = lt_temp_file(0, k, len), .initramfs = initrd, .cmdline = cmdline};
    err[0] = 0;
    return loader_load(&gm, &req, e, err, errlen);
}

static void expect_error(const uint8_t *k, size_t len, const char *initrd, const char *cmdline,
                         const char *want)
{
    char err[512];
    struct boot_entry e;
    assert_int_equal(load_bytes(k, len, initrd, cmdline, &e, err, sizeof(err)), -1);
    if (!strstr(err, want))
        fail_msg("error \"%s\" does not mention \"%s\"", err, want);
    assert_null(strchr(err, '\n'));
}

/* Checks the start info page against what was asked for. */
static void check_start_info(const struct guest_mem *m, uint64_t initrd_size, const char *cmdline)
{
    const uint8_t *si = gm_span(m, LAYOUT_PVH_START_INFO, 56);
    assert_non_null(si);
    assert_int_equal(lt_get32(si + SI_MAGIC), 0x336ec578);
    assert_int_equal(lt_get32(si + SI_VERSION), 1);
    uint64_t cl = lt_get64(si + SI_CMDLINE_PADDR);
    assert_string_equal((const char *)gm_span(m, cl, strlen(cmdline) + 1), cmdline);
    uint32_t n = lt_get32(si + SI_MEMMAP_ENTRIES);
    assert_int_equal(n, 3);
    const uint8_t *mm = gm_span(m, lt_get64(si + SI_MEMMAP_PADDR), n * 24);
    assert_non_null(mm);
    assert_int_equal(lt_get64(mm + 0), 0);
    assert_int_equal(lt_get32(mm + 16), E820_RAM);
    assert_int_equal(lt_get64(mm + 24), LAYOUT_EBDA);
    assert_int_equal(lt_get32(mm + 24 + 16), E820_RESERVED);
    assert_int_equal(lt_get64(mm + 48), MIB);
    assert_int_equal(lt_get64(mm + 48) + lt_get64(mm + 56), m->ram_size);
    assert_int_equal(lt_get32(mm + 48 + 16), E820_RAM);
    if (!initrd_size) {
        assert_int_equal(lt_get32(si + SI_NR_MODULES), 0);
        return;
    }
    assert_int_equal(lt_get32(si + SI_NR_MODULES), 1);
    const uint8_t *mod = gm_span(m, lt_get64(si + SI_MODLIST_PADDR), 32);
    assert_non_null(mod);
    uint64_t paddr = lt_get64(mod), size = lt_get64(mod + 8);
    assert_int_equal(size, initrd_size);
    assert_int_equal(paddr % 4096, 0);
    assert_true(paddr + size <= m->ram_size);
    assert_true(paddr + size + 4096 > m->ram_size); /* as high as possible */
}

static void synthetic_elf64_loads(void **state)
{
    size_t len;
    uint8_t *k = lt_make_elf(&good, &len);
    uint8_t initrd[5000];
    memset(initrd, 0x77, sizeof(initrd));
    /* Dirty the bss range first: the loader must zero it. */
    memset(gm_span(&gm, good.paddr + good.filesz, good.memsz - good.filesz), 0xee,
           good.memsz - good.filesz);
    struct boot_entry e;
    char err[256];
    int rc = load_bytes(k, len, lt_temp_file(1, initrd, sizeof(initrd)), "console=ttyS0", &e, err,
                        sizeof(err));
    if (rc)
        fail_msg("%s", err);
    assert_int_equal(e.kind, BOOT_PVH);
    assert_int_equal(e.rip, good.entry);
    assert_int_equal(e.rbx, LAYOUT_PVH_START_INFO);
    assert_int_equal(e.cr3, 0);
    assert_int_equal(e.cs, BOOT_SEL_CODE32);
    assert_int_equal(e.ds, BOOT_SEL_DATA);
    assert_int_equal(e.gdt_base, LAYOUT_GDT);
    assert_memory_equal(gm_span(&gm, good.paddr, good.filesz), k + 0x200, good.filesz);
    const uint8_t *bss = gm_span(&gm, good.paddr + good.filesz, good.memsz - good.filesz);
    for (uint64_t i = 0; i < good.memsz - good.filesz; i++)
        assert_int_equal(bss[i], 0);
    check_start_info(&gm, sizeof(initrd), "console=ttyS0");
    free(k);
}

static void synthetic_elf32_loads(void **state)
{
    struct lt_elf s = good;
    s.elf32 = true;
    size_t len;
    uint8_t *k = lt_make_elf(&s, &len);
    struct boot_entry e;
    char err[256];
    if (load_bytes(k, len, NULL, "", &e, err, sizeof(err)))
        fail_msg("%s", err);
    assert_int_equal(e.rip, s.entry);
    check_start_info(&gm, 0, "");
    free(k);
}

/* Writes a program-header field of segment 0 (PT_LOAD) or 1 (PT_NOTE) of a 64-bit image. */
static void set_ph64(uint8_t *k, unsigned idx, size_t field, uint64_t v)
{
    lt_put64(k + sizeof(Elf64_Ehdr) + idx * sizeof(Elf64_Phdr) + field, v);
}

static void phdrs_outside_file(void **state)
{
    size_t len;
    uint8_t *k = lt_make_elf(&good, &len);
    lt_put64(k + offsetof(Elf64_Ehdr, e_phoff), len - 8);
    expect_error(k, len, NULL, NULL, "bad ELF program header table");
    lt_put64(k + offsetof(Elf64_Ehdr, e_phoff), UINT64_MAX - 16);
    expect_error(k, len, NULL, NULL, "bad ELF program header table");
    lt_put64(k + offsetof(Elf64_Ehdr, e_phoff), sizeof(Elf64_Ehdr));
    lt_put16(k + offsetof(Elf64_Ehdr, e_phnum), 0);
    expect_error(k, len, NULL, NULL, "bad ELF program header table");
    lt_put16(k + offsetof(Elf64_Ehdr, e_phnum), 0xffff);
    expect_error(k, len, NULL, NULL, "bad ELF program header table");
    lt_put16(k + offsetof(Elf64_Ehdr, e_phnum), 2);
    lt_put16(k + offsetof(Elf64_Ehdr, e_phentsize), 12);
    expect_error(k, len, NULL, NULL, "bad ELF program header table");
    free(k);
}

static void truncated_or_foreign_elf(void **state)
{
    size_t len;
    uint8_t *k = lt_make_elf(&good, &len);
    expect_error(k, 40, NULL, NULL, "truncated or unknown-class ELF header");
    lt_put16(k + offsetof(Elf64_Ehdr, e_machine), EM_AARCH64);
    expect_error(k, len, NULL, NULL, "not a little-endian x86 ELF executable");
    lt_put16(k + offsetof(Elf64_Ehdr, e_machine), EM_X86_64);
    k[EI_DATA] = ELFDATA2MSB;
    expect_error(k, len, NULL, NULL, "not a little-endian x86 ELF executable");
    free(k);
}

static void segment_outside_file(void **state)
{
    size_t len;
    uint8_t *k = lt_make_elf(&good, &len);
    set_ph64(k, 0, offsetof(Elf64_Phdr, p_offset), len - 16);
    expect_error(k, len, NULL, NULL, "segment 0 lies outside the file");
    set_ph64(k, 0, offsetof(Elf64_Phdr, p_offset), UINT64_MAX);
    expect_error(k, len, NULL, NULL, "segment 0 lies outside the file");
    free(k);
}

static void filesz_above_memsz(void **state)
{
    struct lt_elf s = good;
    s.memsz = s.filesz - 1;
    size_t len;
    uint8_t *k = lt_make_elf(&s, &len);
    expect_error(k, len, NULL, NULL, "p_filesz > p_memsz");
    free(k);
}

static void segment_wraps_at_2_64(void **state)
{
    size_t len;
    uint8_t *k = lt_make_elf(&good, &len);
    set_ph64(k, 0, offsetof(Elf64_Phdr, p_paddr), UINT64_MAX - 0xfff);
    expect_error(k, len, NULL, NULL, "wraps around the address space");
    set_ph64(k, 0, offsetof(Elf64_Phdr, p_paddr), 0x200000);
    set_ph64(k, 0, offsetof(Elf64_Phdr, p_memsz), UINT64_MAX);
    expect_error(k, len, NULL, NULL, "wraps around the address space");
    free(k);
}

static void segment_outside_ram(void **state)
{
    struct lt_elf s = good;
    s.paddr = RAM - 0x1000;
    s.entry = s.paddr;
    size_t len;
    uint8_t *k = lt_make_elf(&s, &len);
    expect_error(k, len, NULL, NULL, "is not inside guest RAM");
    free(k);
}

static void segment_over_boot_structures(void **state)
{
    const uint64_t bad[] = {0x0, 0x6000, 0x9000, 0x1f000, LAYOUT_CMDLINE + 0x100, 0x9f000, 0xff000};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct lt_elf s = good;
        s.paddr = bad[i];
        s.entry = s.paddr;
        size_t len;
        uint8_t *k = lt_make_elf(&s, &len);
        expect_error(k, len, NULL, NULL, "overlaps the boot structures");
        free(k);
    }
    /* Between the page tables and the command line is free. */
    struct lt_elf s = good;
    s.paddr = LAYOUT_PAGE_TABLES_END;
    s.entry = s.paddr;
    s.filesz = s.memsz = 0x1000;
    size_t len;
    uint8_t *k = lt_make_elf(&s, &len);
    struct boot_entry e;
    char err[256];
    if (load_bytes(k, len, NULL, NULL, &e, err, sizeof(err)))
        fail_msg("%s", err);
    free(k);
}

static void note_without_pvh_entry(void **state)
{
    struct lt_elf s = good;
    s.with_pvh = false;
    size_t len;
    uint8_t *k = lt_make_elf(&s, &len);
    expect_error(k, len, NULL, NULL, "no PVH entry note");
    expect_error(k, len, NULL, NULL, "neither a bzImage nor an ELF vmlinux with a PVH note");
    free(k);
}

static void malformed_note(void **state)
{
    size_t len;
    uint8_t *k = lt_make_elf(&good, &len);
    lt_put32(k + 0x100, 0xfffffff0); /* namesz */
    expect_error(k, len, NULL, NULL, "malformed ELF note");
    lt_put32(k + 0x100, 4);
    lt_put32(k + 0x104, 3); /* descsz neither 4 nor 8 */
    expect_error(k, len, NULL, NULL, "malformed ELF note");
    lt_put32(k + 0x104, 4);
    set_ph64(k, 1, offsetof(Elf64_Phdr, p_offset), len - 4);
    expect_error(k, len, NULL, NULL, "note segment 1 lies outside the file");
    free(k);
}

static void entry_outside_segments(void **state)
{
    struct lt_elf s = good;
    s.entry = s.paddr + s.filesz; /* in bss, not code */
    size_t len;
    uint8_t *k = lt_make_elf(&s, &len);
    expect_error(k, len, NULL, NULL, "is not inside a loaded segment");
    free(k);
}

static void kernel_bigger_than_ram(void **state)
{
    size_t len;
    uint8_t *k = lt_make_elf(&good, &len);
    struct load_request req = {.kernel = lt_sparse_file(0, k, len, RAM + 1)};
    struct boot_entry e;
    char err[256];
    assert_int_equal(loader_load(&gm, &req, &e, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "is larger than guest memory"));
    free(k);
}

static void initramfs_bigger_than_ram(void **state)
{
    size_t len;
    uint8_t *k = lt_make_elf(&good, &len);
    expect_error(k, len, lt_sparse_file(1, "070701", 6, RAM + 1), NULL,
                 "is larger than guest memory");
    /* Smaller than RAM but not above the kernel. */
    expect_error(k, len, lt_sparse_file(1, "070701", 6, RAM - MIB), NULL, "does not fit");
    free(k);
}

static void cmdline_too_long(void **state)
{
    size_t len;
    uint8_t *k = lt_make_elf(&good, &len);
    char *cl = malloc(LAYOUT_CMDLINE_MAX + 1);
    memset(cl, 'a', LAYOUT_CMDLINE_MAX);
    cl[LAYOUT_CMDLINE_MAX] = 0;
    expect_error(k, len, NULL, cl, "command line is");
    cl[LAYOUT_CMDLINE_MAX - 1] = 0; /* 0xffff bytes + NUL fits exactly */
    struct boot_entry e;
    char err[256];
    if (load_bytes(k, len, NULL, cl, &e, err, sizeof(err)))
        fail_msg("%s", err);
    free(cl);
    free(k);
}

static void debian_vmlinux_loads(void **state)
{
    const char *path = lt_debian_kernel(COCOON_BINARY_DIR, "vmlinux");
    if (!path) {
        real_kernel_missing = true;
        skip();
    }
    struct guest_mem big;
    char err[256];
    assert_int_equal(gm_init(&big, 512 * MIB, err, sizeof(err)), 0);
    uint8_t initrd[4096] = {7};
    struct load_request req = {.kernel = path,
                               .initramfs = lt_temp_file(1, initrd, sizeof(initrd)),
                               .cmdline = "console=ttyS0"};
    struct boot_entry e;
    if (loader_load(&big, &req, &e, err, sizeof(err)))
        fail_msg("%s", err);
    assert_int_equal(e.kind, BOOT_PVH);
    /* pvh_start_xen lives in the first (text) segment, physically at 16 MiB and up. */
    assert_true(e.rip >= 0x1000000 && e.rip < 0x3000000);
    check_start_info(&big, sizeof(initrd), "console=ttyS0");
    /* Debian's kernel does not fit in 16 MiB of RAM. */
    struct guest_mem small;
    assert_int_equal(gm_init(&small, 16 * MIB, err, sizeof(err)), 0);
    assert_int_equal(loader_load(&small, &req, &e, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "larger than guest memory"));
    gm_destroy(&small);
    gm_destroy(&big);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(synthetic_elf64_loads),
        cmocka_unit_test(synthetic_elf32_loads),
        cmocka_unit_test(phdrs_outside_file),
        cmocka_unit_test(truncated_or_foreign_elf),
        cmocka_unit_test(segment_outside_file),
        cmocka_unit_test(filesz_above_memsz),
        cmocka_unit_test(segment_wraps_at_2_64),
        cmocka_unit_test(segment_outside_ram),
        cmocka_unit_test(segment_over_boot_structures),
        cmocka_unit_test(note_without_pvh_entry),
        cmocka_unit_test(malformed_note),
        cmocka_unit_test(entry_outside_segments),
        cmocka_unit_test(kernel_bigger_than_ram),
        cmocka_unit_test(initramfs_bigger_than_ram),
        cmocka_unit_test(cmdline_too_long),
        cmocka_unit_test(debian_vmlinux_loads),
    };
    int failed = cmocka_run_group_tests(tests, setup, teardown);
    if (failed == 0 && real_kernel_missing) {
        fprintf(stderr, "SKIP: Debian kernel not fetched (tests/scripts/fetch-debian-kernel.sh)\n");
        return 77;
    }
    return failed;
}
