/* fw_cfg_files.c: builds etc/e820, bootorder and the ACPI linker/loader files for fw_cfg. */
#include "devices/fw_cfg_files.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void put_le(uint8_t *p, uint64_t v, unsigned n)
{
    for (unsigned i = 0; i < n; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get_le(const uint8_t *p, unsigned n)
{
    uint64_t v = 0;
    for (unsigned i = 0; i < n; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

size_t fw_e820_records(const struct guest_mem *gm, uint8_t *out, size_t max)
{
    size_t len = 0;
    for (unsigned i = 0; i < gm->nr_regions; i++) {
        if (max - len < FW_E820_RECORD_LEN)
            return 0;
        put_le(out + len, gm->region[i].gpa, 8);
        put_le(out + len + 8, gm->region[i].size, 8);
        put_le(out + len + 16, FW_E820_RAM, 4);
        len += FW_E820_RECORD_LEN;
    }
    return len;
}

/* ---- linker/loader ---- */

static uint8_t *loader_entry(struct fw_loader *l, uint32_t cmd)
{
    if (l->len + FW_LOADER_ENTRY_LEN > sizeof(l->buf))
        return NULL;
    uint8_t *e = l->buf + l->len;
    memset(e, 0, FW_LOADER_ENTRY_LEN);
    put_le(e, cmd, 4);
    return e;
}

static int put_name(uint8_t *dst, const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n >= FW_LOADER_FILE_LEN)
        return -1;
    memcpy(dst, name, n);
    return 0;
}

int fw_loader_allocate(struct fw_loader *l, const char *file, uint32_t align, uint8_t zone)
{
    uint8_t *e = loader_entry(l, FW_LOADER_ALLOCATE);
    if (!e || put_name(e + 4, file) < 0)
        return -1;
    put_le(e + 60, align, 4);
    e[64] = zone;
    l->len += FW_LOADER_ENTRY_LEN;
    return 0;
}

int fw_loader_add_pointer(struct fw_loader *l, const char *pointer_file, const char *pointee_file,
                          uint32_t offset, uint8_t size)
{
    uint8_t *e = loader_entry(l, FW_LOADER_ADD_POINTER);
    if (!e || put_name(e + 4, pointer_file) < 0 || put_name(e + 60, pointee_file) < 0 ||
        (size != 1 && size != 2 && size != 4 && size != 8))
        return -1;
    put_le(e + 116, offset, 4);
    e[120] = size;
    l->len += FW_LOADER_ENTRY_LEN;
    return 0;
}

int fw_loader_add_checksum(struct fw_loader *l, const char *file, uint32_t result, uint32_t start,
                           uint32_t length)
{
    uint8_t *e = loader_entry(l, FW_LOADER_ADD_CHECKSUM);
    if (!e || put_name(e + 4, file) < 0)
        return -1;
    put_le(e + 60, result, 4);
    put_le(e + 64, start, 4);
    put_le(e + 68, length, 4);
    l->len += FW_LOADER_ENTRY_LEN;
    return 0;
}

/* ---- ACPI through the loader ---- */

#define RSDP_FILE   "etc/acpi/rsdp"
#define TABLES_FILE "etc/acpi/tables"
#define LOADER_FILE "etc/table-loader"
#define ACPI_HDR    36
#define MAX_TABLES  64

struct acpi_walk {
    uint8_t *tables; /* the etc/acpi/tables copy being rewritten */
    size_t len;
    uint64_t base; /* GPA of tables[0] in the input layout */
    uint32_t seen[MAX_TABLES];
    unsigned nr_seen;
    struct fw_loader *loader;
    char *err;
    size_t errlen;
};

/* The table header at tables offset `off` is complete and inside the file; its length or 0. */
static uint32_t table_len(const struct acpi_walk *w, uint64_t off)
{
    if (off > w->len || w->len - off < ACPI_HDR)
        return 0;
    uint32_t len = (uint32_t)get_le(w->tables + off + 4, 4);
    return len >= ACPI_HDR && len <= w->len - off ? len : 0;
}

static int walk_table(struct acpi_walk *w, uint32_t off);

/* A pointer field of `size` bytes at tables offset `at` (or in the RSDP when file is the RSDP):
 * the absolute address becomes a tables offset plus an ADD_POINTER, and the pointee is walked. */
static int relocate(struct acpi_walk *w, uint8_t *field, const char *file, uint32_t at,
                    uint8_t size)
{
    uint64_t addr = get_le(field, size);
    if (addr == 0)
        return 0; /* absent (e.g. a zero FACS or X_DSDT): nothing to patch */
    uint64_t off = addr - w->base;
    if (addr < w->base || !table_len(w, off)) {
        snprintf(w->err, w->errlen, "acpi: a pointer in %s at %u (0x%llx) is not a table", file, at,
                 (unsigned long long)addr);
        return -1;
    }
    put_le(field, off, size);
    if (fw_loader_add_pointer(w->loader, file, TABLES_FILE, at, size) < 0) {
        snprintf(w->err, w->errlen, "acpi: table-loader script full");
        return -1;
    }
    return walk_table(w, (uint32_t)off);
}

static int walk_table(struct acpi_walk *w, uint32_t off)
{
    for (unsigned i = 0; i < w->nr_seen; i++)
        if (w->seen[i] == off)
            return 0;
    if (w->nr_seen == MAX_TABLES) {
        snprintf(w->err, w->errlen, "acpi: more than %d tables", MAX_TABLES);
        return -1;
    }
    w->seen[w->nr_seen++] = off;
    uint32_t len = table_len(w, off);
    uint8_t *t = w->tables + off;
    int rc = 0;
    if (memcmp(t, "FACS", 4) == 0)
        return 0; /* no checksum, no pointers */
    if (memcmp(t, "XSDT", 4) == 0 || memcmp(t, "RSDT", 4) == 0) {
        uint8_t sz = t[0] == 'X' ? 8 : 4;
        for (uint32_t p = ACPI_HDR; rc == 0 && p + sz <= len; p += sz)
            rc = relocate(w, t + p, TABLES_FILE, off + p, sz);
    } else if (memcmp(t, "FACP", 4) == 0) {
        static const struct {
            uint32_t at;
            uint8_t size;
        } fields[] = {{36, 4}, {40, 4}, {132, 8}, {140, 8}}; /* FACS, DSDT, X_FACS, X_DSDT */
        for (size_t i = 0; rc == 0 && i < sizeof(fields) / sizeof(fields[0]); i++)
            if (fields[i].at + fields[i].size <= len)
                rc = relocate(w, t + fields[i].at, TABLES_FILE, off + fields[i].at, fields[i].size);
    }
    t[9] = 0; /* OVMF stores the checksum, SeaBIOS subtracts the sum: both agree from 0 */
    if (rc == 0 && fw_loader_add_checksum(w->loader, TABLES_FILE, off + 9, off, len) < 0) {
        snprintf(w->err, w->errlen, "acpi: table-loader script full");
        return -1;
    }
    return rc;
}

/* The three files of one ACPI build: the RSDP, the tables with pointers as file offsets, and the
 * script (every ADD_CHECKSUM after every ADD_POINTER: firmware executes it in order). */
struct acpi_files {
    uint8_t rsdp[36];
    uint8_t *tables;
    size_t len;
    struct fw_loader *script;
};

static void acpi_files_free(struct acpi_files *f)
{
    free(f->tables);
    free(f->script);
}

/* ALLOCATE commands, then the walk's pointers and checksums, then the RSDP's checksums. */
static int acpi_files_walk(struct acpi_walk *w, uint8_t *rsdp, struct fw_loader *loader)
{
    if (fw_loader_allocate(loader, RSDP_FILE, 16, FW_LOADER_ZONE_FSEG) < 0 ||
        fw_loader_allocate(loader, TABLES_FILE, 64, FW_LOADER_ZONE_HIGH) < 0)
        return -1;
    if (relocate(w, rsdp + 16, RSDP_FILE, 16, 4) < 0 ||
        (rsdp[15] >= 2 && relocate(w, rsdp + 24, RSDP_FILE, 24, 8) < 0))
        return -1;
    rsdp[8] = 0;
    rsdp[32] = 0;
    if (fw_loader_add_checksum(loader, RSDP_FILE, 8, 0, 20) < 0 ||
        (rsdp[15] >= 2 && fw_loader_add_checksum(loader, RSDP_FILE, 32, 0, 36) < 0)) {
        snprintf(w->err, w->errlen, "acpi: table-loader script full");
        return -1;
    }
    return 0;
}

/* Copies the commands of `from` into `to`, pointers first, checksums last. */
static void sort_script(const struct fw_loader *from, struct fw_loader *to)
{
    for (int pass = 0; pass < 2; pass++)
        for (size_t o = 0; o < from->len; o += FW_LOADER_ENTRY_LEN) {
            bool is_sum = get_le(from->buf + o, 4) == FW_LOADER_ADD_CHECKSUM;
            if (is_sum == (pass == 1)) {
                memcpy(to->buf + to->len, from->buf + o, FW_LOADER_ENTRY_LEN);
                to->len += FW_LOADER_ENTRY_LEN;
            }
        }
}

static int acpi_files_build(const struct fw_acpi_blob *acpi, struct acpi_files *f, char *err,
                            size_t errlen)
{
    const size_t rsdp_len = sizeof(f->rsdp);
    memset(f, 0, sizeof(*f));
    if (!acpi->data || acpi->len <= rsdp_len || memcmp(acpi->data, "RSD PTR ", 8) != 0) {
        snprintf(err, errlen, "acpi: the blob does not start with an ACPI 2.0 RSDP");
        return -1;
    }
    memcpy(f->rsdp, acpi->data, rsdp_len);
    struct fw_loader *loader = calloc(1, sizeof(*loader));
    /* etc/acpi/tables is the whole blob with the RSDP's bytes zeroed: offsets in the file are
     * offsets in the blob, so a table the builder aligned (the FACS, 64 bytes) stays aligned in
     * the file the firmware allocates with 64-byte alignment. */
    struct acpi_walk w = {
        .len = acpi->len, .base = acpi->gpa, .loader = loader, .err = err, .errlen = errlen};
    w.tables = malloc(w.len);
    f->tables = w.tables;
    f->len = w.len;
    f->script = calloc(1, sizeof(*f->script));
    int rc = -1;
    if (!loader || !w.tables || !f->script) {
        snprintf(err, errlen, "out of memory");
    } else {
        memcpy(w.tables, acpi->data, w.len);
        memset(w.tables, 0, rsdp_len);
        rc = acpi_files_walk(&w, f->rsdp, loader);
    }
    if (rc == 0)
        sort_script(loader, f->script);
    free(loader);
    if (rc < 0)
        acpi_files_free(f);
    return rc;
}

/* Builds the three files and adds them (update false) or replaces them in place, all three at
 * once (fw_cfg_update_files: a firmware never reads new tables with an old script). Returns 0;
 * -1 (err set) when the build fails; -2 when fw_cfg refused, with sizes[] = {tables, script}. */
static int acpi_files_store(struct fw_cfg *fw, const struct fw_acpi_blob *acpi, bool update,
                            size_t sizes[2], char *err, size_t errlen)
{
    struct acpi_files f;
    if (acpi_files_build(acpi, &f, err, errlen) < 0)
        return -1;
    const struct fw_cfg_file_update u[3] = {
        {RSDP_FILE, f.rsdp, sizeof(f.rsdp)},
        {TABLES_FILE, f.tables, (uint32_t)f.len},
        {LOADER_FILE, f.script->buf, (uint32_t)f.script->len},
    };
    int rc = 0;
    if (update)
        rc = fw_cfg_update_files(fw, u, 3);
    for (unsigned i = 0; !update && i < 3 && rc == 0; i++)
        rc = fw_cfg_add_file(fw, u[i].name, u[i].data, u[i].len);
    sizes[0] = f.len;
    sizes[1] = f.script->len;
    acpi_files_free(&f);
    return rc < 0 ? -2 : 0;
}

int fw_cfg_add_acpi(struct fw_cfg *fw, const struct fw_acpi_blob *acpi, char *err, size_t errlen)
{
    size_t sizes[2];
    int rc = acpi_files_store(fw, acpi, false, sizes, err, errlen);
    if (rc == -2)
        snprintf(err, errlen, "acpi: cannot add the ACPI files to fw_cfg");
    return rc < 0 ? -1 : 0;
}

int fw_cfg_update_acpi(struct fw_cfg *fw, const struct fw_acpi_blob *acpi, char *err, size_t errlen)
{
    size_t sizes[2];
    int rc = acpi_files_store(fw, acpi, true, sizes, err, errlen);
    if (rc == -2)
        snprintf(err, errlen,
                 "acpi: the rebuilt tables (%zu bytes, script %zu) outgrow the fw_cfg files; the "
                 "old ones stay",
                 sizes[0], sizes[1]);
    return rc < 0 ? -1 : 0;
}

int fw_cfg_add_platform_files(struct fw_cfg *fw, const struct guest_mem *gm, const char *bootorder)
{
    uint8_t e820[GM_MAX_REGIONS * FW_E820_RECORD_LEN];
    size_t n = fw_e820_records(gm, e820, sizeof(e820));
    if (n == 0 || fw_cfg_add_file(fw, "etc/e820", e820, (uint32_t)n) < 0)
        return -1;
    if (bootorder && fw_cfg_add_file(fw, "bootorder", bootorder, (uint32_t)strlen(bootorder)) < 0)
        return -1;
    return 0;
}
