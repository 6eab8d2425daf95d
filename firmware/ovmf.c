/* ovmf.c: bounds-checked parsing of the OVMF footer GUID table, SEV metadata and TDVF metadata. */
#include "firmware/ovmf.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const uint8_t OVMF_GUID_TABLE_FOOTER[16] = {0xde, 0x82, 0xb5, 0x96, 0xb2, 0x1f, 0xf7, 0x45,
                                            0xba, 0xea, 0xa3, 0x66, 0xc5, 0x5a, 0x08, 0x2d};
const uint8_t OVMF_GUID_SEV_ES_RESET_BLOCK[16] = {0xde, 0x71, 0xf7, 0x00, 0x7e, 0x1a, 0xcb, 0x4f,
                                                  0x89, 0x0e, 0x68, 0xc7, 0x7e, 0x2f, 0xb4, 0x4e};
const uint8_t OVMF_GUID_SEV_HASH_TABLE[16] = {0x1f, 0x37, 0x55, 0x72, 0x3b, 0x3a, 0x04, 0x4b,
                                              0x92, 0x7b, 0x1d, 0xa6, 0xef, 0xa8, 0xd4, 0x54};
const uint8_t OVMF_GUID_SEV_METADATA[16] = {0x66, 0x65, 0x88, 0xdc, 0x4a, 0x98, 0x98, 0x47,
                                            0xa7, 0x5e, 0x55, 0x85, 0xa7, 0xbf, 0x67, 0xcc};
const uint8_t OVMF_GUID_SEV_SECRET[16] = {0x61, 0xb3, 0x2e, 0x4c, 0x9b, 0x7d, 0xc3, 0x4c,
                                          0x80, 0x81, 0x12, 0x7c, 0x90, 0xd3, 0xd2, 0x94};
const uint8_t OVMF_GUID_TDX_METADATA[16] = {0x35, 0x65, 0x7a, 0xe4, 0x4a, 0x98, 0x98, 0x47,
                                            0x86, 0x5e, 0x46, 0x85, 0xa7, 0xbf, 0x8e, 0xc2};
const uint8_t OVMF_GUID_SVSM_INFO[16] = {0x12, 0xa6, 0x89, 0xa7, 0x97, 0x05, 0x4b, 0x4c,
                                         0xa4, 0x9f, 0xcb, 0xb1, 0xfe, 0x9d, 0x1d, 0xdd};
const uint8_t OVMF_GUID_TDVF_DESCRIPTOR[16] = {0xf3, 0xf9, 0xea, 0xe9, 0x8e, 0x16, 0xd5, 0x44,
                                               0xa8, 0xeb, 0x7f, 0x4d, 0x87, 0x38, 0xf6, 0xae};

#define FOOTER_RESERVED        32 /* reset-vector area at the very end of the image */
#define TABLE_ENTRY_HDR        18 /* u16 length + GUID */
#define ASEV_HEADER_SIZE       16
#define ASEV_ITEM_SIZE         12
#define TDVF_HEADER_SIZE       16
#define TDVF_SECTION_SIZE      32
#define PAGE_MASK_4K           0xfffull
#define FOUR_GIB               0x100000000ull
#define TDVF_MAX_SECTION_BYTES (1ull << 30) /* firmware sections are MiBs; refuse absurd sizes */

int fw_fail(struct fw_error *err, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
        va_end(ap);
    }
    return -1;
}

static uint16_t rd16(const uint8_t *p)
{
    return (uint16_t)(p[0] | (p[1] << 8));
}

static uint32_t rd32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t rd64(const uint8_t *p)
{
    return (uint64_t)rd32(p) | (uint64_t)rd32(p + 4) << 32;
}

/* True if [off, off+len) lies inside a buffer of `size` bytes, without overflow. */
static bool in_bounds(uint64_t off, uint64_t len, uint64_t size)
{
    return off <= size && len <= size - off;
}

const struct ovmf_table_entry *ovmf_find_entry(const struct ovmf_image *img, const uint8_t guid[16])
{
    for (size_t i = 0; i < img->n_entries; i++)
        if (memcmp(img->entries[i].guid, guid, 16) == 0)
            return &img->entries[i];
    return NULL;
}

/* Walk the footer table backwards from its end; entries keep file order reversed. */
static int parse_footer_table(struct ovmf_image *img, struct fw_error *err)
{
    const uint8_t *d = img->data;
    size_t size = img->size;
    if (size < FOOTER_RESERVED + TABLE_ENTRY_HDR)
        return 0; /* too small to carry a table: treated as "no table", like QEMU */
    size_t footer_off = size - FOOTER_RESERVED - TABLE_ENTRY_HDR;
    if (memcmp(d + footer_off + 2, OVMF_GUID_TABLE_FOOTER, 16) != 0)
        return 0;
    uint16_t table_len = rd16(d + footer_off);
    if (table_len < TABLE_ENTRY_HDR)
        return fw_fail(err, "OVMF footer table length %u is smaller than its own 18-byte entry",
                       table_len);
    size_t body_len = table_len - TABLE_ENTRY_HDR;
    if (body_len > footer_off)
        return fw_fail(err,
                       "OVMF footer table length %u points before the start of the %zu-byte file",
                       table_len, size);
    img->has_footer_table = true;
    size_t end = footer_off; /* exclusive end of the remaining body */
    size_t start = footer_off - body_len;
    while (end - start >= TABLE_ENTRY_HDR) {
        size_t hdr = end - TABLE_ENTRY_HDR;
        uint16_t len = rd16(d + hdr);
        if (len < TABLE_ENTRY_HDR)
            return fw_fail(err, "OVMF footer table entry at file offset %#zx has length %u < 18",
                           hdr, len);
        if (len > end - start)
            return fw_fail(err,
                           "OVMF footer table entry at file offset %#zx has length %u, beyond "
                           "the table start",
                           hdr, len);
        if (img->n_entries == OVMF_MAX_TABLE_ENTRIES)
            return fw_fail(err, "OVMF footer table has more than %d entries",
                           OVMF_MAX_TABLE_ENTRIES);
        struct ovmf_table_entry *e = &img->entries[img->n_entries];
        memcpy(e->guid, d + hdr + 2, 16);
        e->data_len = len - TABLE_ENTRY_HDR;
        e->data_off = hdr - e->data_len;
        for (size_t i = 0; i < img->n_entries; i++)
            if (memcmp(img->entries[i].guid, e->guid, 16) == 0)
                return fw_fail(err,
                               "OVMF footer table has a duplicate GUID entry at file offset "
                               "%#zx (ambiguous firmware)",
                               hdr);
        img->n_entries++;
        end -= len;
    }
    return 0;
}

/* Read a u32 (and optionally a second one) from a table entry's data; -1 if too short. */
static int entry_u32(const struct ovmf_image *img, const uint8_t guid[16], const char *name,
                     unsigned count, uint32_t *a, uint32_t *b, bool *found, struct fw_error *err)
{
    const struct ovmf_table_entry *e = ovmf_find_entry(img, guid);
    *found = false;
    if (!e)
        return 0;
    if (e->data_len < 4u * count)
        return fw_fail(err, "OVMF %s entry has %zu data bytes, needs %u", name, e->data_len,
                       4u * count);
    *a = rd32(img->data + e->data_off);
    if (count > 1)
        *b = rd32(img->data + e->data_off + 4);
    *found = true;
    return 0;
}

const char *sev_section_type_name(uint32_t type)
{
    switch (type) {
    case SEV_SECTION_SNP_SEC_MEM:
        return "SNP_SEC_MEM";
    case SEV_SECTION_SNP_SECRETS:
        return "SNP_SECRETS";
    case SEV_SECTION_CPUID:
        return "CPUID";
    case SEV_SECTION_SVSM_CAA:
        return "SVSM_CAA";
    case SEV_SECTION_SNP_KERNEL_HASHES:
        return "SNP_KERNEL_HASHES";
    default:
        return "?";
    }
}

static int check_sev_section(const struct sev_meta_section *s, size_t i, struct fw_error *err)
{
    if (!strcmp(sev_section_type_name(s->type), "?"))
        return fw_fail(err, "SEV metadata section %zu has unknown type %#x", i, s->type);
    if (s->gpa & PAGE_MASK_4K)
        return fw_fail(err, "SEV metadata section %zu (%s) GPA %#x is not 4 KiB aligned", i,
                       sev_section_type_name(s->type), s->gpa);
    if (s->size & PAGE_MASK_4K)
        return fw_fail(err, "SEV metadata section %zu (%s) size %#x is not a multiple of 4 KiB", i,
                       sev_section_type_name(s->type), s->size);
    if ((uint64_t)s->gpa + s->size > FOUR_GIB)
        return fw_fail(err, "SEV metadata section %zu (%s) [%#x, +%#x) runs past 4 GiB", i,
                       sev_section_type_name(s->type), s->gpa, s->size);
    return 0;
}

uint64_t sev_section_span(const struct sev_meta_section *s)
{
    if (s->type == SEV_SECTION_SNP_SECRETS || s->type == SEV_SECTION_CPUID)
        return 4096;
    return s->size;
}

static int parse_sev_metadata(struct ovmf_image *img, struct fw_error *err)
{
    bool found;
    uint32_t off = 0;
    if (entry_u32(img, OVMF_GUID_SEV_METADATA, "SEV metadata", 1, &off, NULL, &found, err))
        return -1;
    if (!found)
        return 0;
    if (off > img->size || off < ASEV_HEADER_SIZE)
        return fw_fail(err, "SEV metadata offset %#x from the end lies outside the %zu-byte file",
                       off, img->size);
    size_t start = img->size - off;
    const uint8_t *h = img->data + start;
    if (memcmp(h, "ASEV", 4) != 0)
        return fw_fail(err, "Wrong SEV metadata signature at file offset %#zx", start);
    uint32_t len = rd32(h + 4), version = rd32(h + 8), n = rd32(h + 12);
    if (version != 1)
        return fw_fail(err, "Wrong SEV metadata version %u (expected 1)", version);
    if (len < ASEV_HEADER_SIZE || !in_bounds(start, len, img->size))
        return fw_fail(err, "SEV metadata length %u at file offset %#zx exceeds the file", len,
                       start);
    if ((uint64_t)n * ASEV_ITEM_SIZE > len - ASEV_HEADER_SIZE)
        return fw_fail(err, "SEV metadata claims %u sections but its %u bytes hold at most %u", n,
                       len, (len - ASEV_HEADER_SIZE) / ASEV_ITEM_SIZE);
    if (n > SEV_META_MAX_SECTIONS)
        return fw_fail(err, "SEV metadata has %u sections; at most %d are accepted", n,
                       SEV_META_MAX_SECTIONS);
    for (uint32_t i = 0; i < n; i++) {
        const uint8_t *it = h + ASEV_HEADER_SIZE + (size_t)i * ASEV_ITEM_SIZE;
        struct sev_meta_section *s = &img->sev_sections[i];
        s->gpa = rd32(it);
        s->size = rd32(it + 4);
        s->type = rd32(it + 8);
        if (check_sev_section(s, i, err))
            return -1;
        for (uint32_t j = 0; j < i; j++) {
            const struct sev_meta_section *o = &img->sev_sections[j];
            uint64_t a0 = s->gpa, a1 = a0 + sev_section_span(s);
            uint64_t b0 = o->gpa, b1 = b0 + sev_section_span(o);
            if (a0 < b1 && b0 < a1)
                return fw_fail(err, "SEV metadata sections %u (%s) and %u (%s) overlap", j,
                               sev_section_type_name(o->type), i, sev_section_type_name(s->type));
        }
    }
    img->n_sev_sections = n;
    img->has_sev_metadata = true;
    return 0;
}

int ovmf_parse(struct ovmf_image *img, const uint8_t *data, size_t size, struct fw_error *err)
{
    memset(img, 0, sizeof(*img));
    img->data = data;
    img->size = size;
    if (!data && size)
        return fw_fail(err, "no firmware bytes");
    if (parse_footer_table(img, err))
        return -1;
    bool found;
    if (entry_u32(img, OVMF_GUID_SEV_ES_RESET_BLOCK, "SEV-ES reset block", 1,
                  &img->sev_es_reset_eip, NULL, &found, err))
        return -1;
    img->has_reset_block = found;
    if (entry_u32(img, OVMF_GUID_SEV_HASH_TABLE, "SEV hash table", 1, &img->hash_table_gpa,
                  &img->hash_table_size, &found, err))
        return -1;
    img->has_hash_table = found;
    if (found) {
        const struct ovmf_table_entry *e = ovmf_find_entry(img, OVMF_GUID_SEV_HASH_TABLE);
        if (e->data_len >= 8)
            img->hash_table_size = rd32(img->data + e->data_off + 4);
    }
    if (entry_u32(img, OVMF_GUID_SVSM_INFO, "SVSM info", 1, &img->svsm_info_offset, NULL, &found,
                  err))
        return -1;
    img->has_svsm_info = found;
    return parse_sev_metadata(img, err);
}

bool ovmf_has_sev_section(const struct ovmf_image *img, enum sev_section_type type)
{
    for (size_t i = 0; i < img->n_sev_sections; i++)
        if (img->sev_sections[i].type == (uint32_t)type)
            return true;
    return false;
}

bool ovmf_kernel_hashes_supported(const struct ovmf_image *img)
{
    return img->has_hash_table && img->hash_table_gpa != 0;
}

/* ---- TDVF ---- */

const char *tdvf_section_type_name(uint32_t type)
{
    static const char *const names[] = {"BFV",     "CFV",          "TD_HOB", "TempMem", "PermMem",
                                        "Payload", "PayloadParam", "TdInfo", "TdParams"};
    return type < sizeof(names) / sizeof(names[0]) ? names[type] : "?";
}

/* Find the TDVF descriptor's file offset (the 16 bytes before it hold its GUID). */
static int tdvf_locate(const uint8_t *data, size_t size, size_t *desc_off, struct fw_error *err)
{
    struct ovmf_image *img = calloc(1, sizeof(*img));
    if (!img)
        return fw_fail(err, "out of memory");
    img->data = data;
    img->size = size;
    int rc = parse_footer_table(img, err);
    bool found = false;
    uint32_t off = 0;
    if (!rc)
        rc = entry_u32(img, OVMF_GUID_TDX_METADATA, "TDX metadata", 1, &off, NULL, &found, err);
    bool has_table = img->has_footer_table;
    free(img);
    if (rc)
        return -1;
    if (found) {
        if (off > size || off < TDVF_HEADER_SIZE || size - off < 16)
            return fw_fail(err,
                           "TDX metadata offset %#x from the end lies outside the %zu-byte "
                           "file",
                           off, size);
        *desc_off = size - off;
    } else if (!has_table && size >= 0x20) {
        /* td-shim layout: absolute descriptor offset at size - 0x20 */
        uint32_t abs = rd32(data + size - 0x20);
        if (abs < 16 || abs > size)
            return fw_fail(err,
                           "firmware has no OVMF footer table and no valid td-shim TDVF "
                           "offset (%#x)",
                           abs);
        *desc_off = abs;
    } else {
        return fw_fail(err, "firmware has no TDX metadata (TDVF) entry in its OVMF table");
    }
    if (memcmp(data + *desc_off - 16, OVMF_GUID_TDVF_DESCRIPTOR, 16) != 0)
        return fw_fail(err, "TDVF descriptor at file offset %#zx is not preceded by its GUID",
                       *desc_off);
    return 0;
}

static int check_tdvf_section(const struct tdvf_section *s, size_t i, size_t file_size,
                              struct fw_error *err)
{
    const char *name = tdvf_section_type_name(s->type);
    if (!strcmp(name, "?"))
        return fw_fail(err, "TDVF section %zu has unknown type %u", i, s->type);
    if (s->attributes & ~(TDVF_ATTR_MR_EXTEND | TDVF_ATTR_PAGE_AUG))
        return fw_fail(err, "TDVF section %zu (%s) has unknown attributes %#x", i, name,
                       s->attributes);
    if (!in_bounds(s->data_offset, s->raw_size, file_size))
        return fw_fail(err, "TDVF section %zu (%s) data [%#x, +%#x) lies outside the %zu-byte file",
                       i, name, s->data_offset, s->raw_size, file_size);
    if ((s->gpa & PAGE_MASK_4K) || (s->mem_size & PAGE_MASK_4K))
        return fw_fail(
            err, "TDVF section %zu (%s) GPA %#" PRIx64 " / size %#" PRIx64 " is not 4 KiB aligned",
            i, name, s->gpa, s->mem_size);
    if (s->mem_size < s->raw_size)
        return fw_fail(err, "TDVF section %zu (%s) memory size %#" PRIx64 " < raw size %#x", i,
                       name, s->mem_size, s->raw_size);
    if (s->mem_size > TDVF_MAX_SECTION_BYTES)
        return fw_fail(err, "TDVF section %zu (%s) memory size %#" PRIx64 " exceeds 1 GiB", i, name,
                       s->mem_size);
    if (s->mem_size == 0)
        return fw_fail(err, "TDVF section %zu (%s) is empty", i, name);
    /* Guest physical addresses are at most 52 bits. */
    if (s->gpa >= (1ull << 52) || s->mem_size > (1ull << 52) - s->gpa)
        return fw_fail(err,
                       "TDVF section %zu (%s) [%#" PRIx64 ", +%#" PRIx64
                       ") exceeds the 52-bit physical address space",
                       i, name, s->gpa, s->mem_size);
    return 0;
}

int tdvf_parse(struct tdvf_image *img, const uint8_t *data, size_t size, struct fw_error *err)
{
    memset(img, 0, sizeof(*img));
    img->data = data;
    img->size = size;
    size_t off = 0;
    if (!data || tdvf_locate(data, size, &off, err))
        return data ? -1 : fw_fail(err, "no firmware bytes");
    if (!in_bounds(off, TDVF_HEADER_SIZE, size))
        return fw_fail(err, "TDVF descriptor at file offset %#zx is truncated", off);
    const uint8_t *h = data + off;
    if (memcmp(h, "TDVF", 4) != 0)
        return fw_fail(err, "Wrong TDVF descriptor signature at file offset %#zx", off);
    uint32_t len = rd32(h + 4), version = rd32(h + 8), n = rd32(h + 12);
    if (version != 1)
        return fw_fail(err, "Wrong TDVF descriptor version %u (expected 1)", version);
    if ((uint64_t)n * TDVF_SECTION_SIZE + TDVF_HEADER_SIZE != len)
        return fw_fail(err, "TDVF descriptor length %u does not match its %u sections", len, n);
    if (!in_bounds(off, len, size))
        return fw_fail(err, "TDVF descriptor (%u bytes at %#zx) exceeds the %zu-byte file", len,
                       off, size);
    if (n == 0)
        return fw_fail(err, "TDVF descriptor has no sections");
    if (n > TDVF_MAX_SECTIONS)
        return fw_fail(err, "TDVF descriptor has %u sections; at most %d are accepted", n,
                       TDVF_MAX_SECTIONS);
    for (uint32_t i = 0; i < n; i++) {
        const uint8_t *p = h + TDVF_HEADER_SIZE + (size_t)i * TDVF_SECTION_SIZE;
        struct tdvf_section *s = &img->sections[i];
        s->data_offset = rd32(p);
        s->raw_size = rd32(p + 4);
        s->gpa = rd64(p + 8);
        s->mem_size = rd64(p + 16);
        s->type = rd32(p + 24);
        s->attributes = rd32(p + 28);
        if (check_tdvf_section(s, i, size, err))
            return -1;
        for (uint32_t j = 0; j < i; j++) {
            const struct tdvf_section *o = &img->sections[j];
            if (s->gpa < o->gpa + o->mem_size && o->gpa < s->gpa + s->mem_size)
                return fw_fail(err, "TDVF sections %u (%s) and %u (%s) overlap in guest memory", j,
                               tdvf_section_type_name(o->type), i, tdvf_section_type_name(s->type));
        }
    }
    img->n_sections = n;
    return 0;
}
