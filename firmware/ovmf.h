/* ovmf.h: bounds-checked parsing of OVMF/TDVF firmware images (footer GUID table, SEV metadata,
 * SEV-ES reset block, SEV kernel-hashes table location, SVSM info, TDVF metadata). */
#ifndef COCOON_FIRMWARE_OVMF_H
#define COCOON_FIRMWARE_OVMF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Every parser reports failures as one human-readable sentence in here (never aborts). */
struct fw_error {
    char msg[256];
};

/* Record a formatted error; always returns -1 so callers can `return fw_fail(err, ...)`. */
int fw_fail(struct fw_error *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Limits: real images have < 10 of each; anything beyond these is refused as hostile. */
#define OVMF_MAX_TABLE_ENTRIES 64
#define SEV_META_MAX_SECTIONS  64
#define TDVF_MAX_SECTIONS      64

/* GUIDs in EFI byte order (uuid.bytes_le). */
extern const uint8_t OVMF_GUID_TABLE_FOOTER[16];
extern const uint8_t OVMF_GUID_SEV_ES_RESET_BLOCK[16];
extern const uint8_t OVMF_GUID_SEV_HASH_TABLE[16];
extern const uint8_t OVMF_GUID_SEV_METADATA[16];
extern const uint8_t OVMF_GUID_SEV_SECRET[16];
extern const uint8_t OVMF_GUID_TDX_METADATA[16];
extern const uint8_t OVMF_GUID_SVSM_INFO[16];
extern const uint8_t OVMF_GUID_TDVF_DESCRIPTOR[16];

/* SEV metadata (ASEV) section types. */
enum sev_section_type {
    SEV_SECTION_SNP_SEC_MEM = 1,
    SEV_SECTION_SNP_SECRETS = 2,
    SEV_SECTION_CPUID = 3,
    SEV_SECTION_SVSM_CAA = 4,
    SEV_SECTION_SNP_KERNEL_HASHES = 0x10,
};

struct sev_meta_section {
    uint32_t gpa;  /* 4 KiB aligned */
    uint32_t size; /* multiple of 4 KiB; gpa + size <= 4 GiB */
    uint32_t type; /* enum sev_section_type */
};

/* One footer-table entry: GUID plus the location of its data inside the image. */
struct ovmf_table_entry {
    uint8_t guid[16];
    size_t data_off;
    size_t data_len;
};

/* What ovmf_parse() found. Pointers refer into the caller's bytes, which must outlive this. */
struct ovmf_image {
    const uint8_t *data;
    size_t size;

    bool has_footer_table;
    size_t n_entries;
    struct ovmf_table_entry entries[OVMF_MAX_TABLE_ENTRIES];

    bool has_reset_block; /* SEV-ES reset block: AP entry point */
    uint32_t sev_es_reset_eip;

    bool has_hash_table; /* SEV kernel-hashes table location (GPA 0 = unsupported) */
    uint32_t hash_table_gpa;
    uint32_t hash_table_size;

    bool has_svsm_info; /* SVSM images only: entry offset from the load GPA */
    uint32_t svsm_info_offset;

    bool has_sev_metadata; /* ASEV metadata, sections in file order (validated: no overlap) */
    size_t n_sev_sections;
    struct sev_meta_section sev_sections[SEV_META_MAX_SECTIONS];
};

/* Parse the footer GUID table and the SEV-related entries of `data[0..size)`. A file without the
 * footer GUID parses fine (has_footer_table = false, nothing else found); any malformed offset,
 * length, count, type or overlap is an error with a message. */
int ovmf_parse(struct ovmf_image *img, const uint8_t *data, size_t size, struct fw_error *err);

/* The footer-table entry with this GUID, or NULL. */
const struct ovmf_table_entry *ovmf_find_entry(const struct ovmf_image *img,
                                               const uint8_t guid[16]);

/* True if the image has a SEV metadata section of this type. */
bool ovmf_has_sev_section(const struct ovmf_image *img, enum sev_section_type type);

/* SEV / SEV-ES kernel measurement support: hash-table entry present with a non-zero GPA. */
bool ovmf_kernel_hashes_supported(const struct ovmf_image *img);

/* The bytes a section occupies once launched: SECRETS and CPUID are one page whatever their
 * size field says, the others their size. */
uint64_t sev_section_span(const struct sev_meta_section *s);

/* Name of a SEV metadata section type ("SNP_SEC_MEM", ...), "?" if unknown. */
const char *sev_section_type_name(uint32_t type);

/* ---- TDVF (Intel TDX firmware) metadata ---- */

enum tdvf_section_type {
    TDVF_SECTION_BFV = 0,
    TDVF_SECTION_CFV = 1,
    TDVF_SECTION_TD_HOB = 2,
    TDVF_SECTION_TEMP_MEM = 3,
    TDVF_SECTION_PERM_MEM = 4,
    TDVF_SECTION_PAYLOAD = 5,
    TDVF_SECTION_PAYLOAD_PARAM = 6,
    TDVF_SECTION_TD_INFO = 7,
    TDVF_SECTION_TD_PARAMS = 8,
};
#define TDVF_ATTR_MR_EXTEND 0x1u
#define TDVF_ATTR_PAGE_AUG  0x2u

struct tdvf_section {
    uint32_t data_offset; /* in the file; data_offset + raw_size <= file size */
    uint32_t raw_size;
    uint64_t gpa;      /* 4 KiB aligned */
    uint64_t mem_size; /* 4 KiB aligned, >= raw_size */
    uint32_t type;     /* enum tdvf_section_type */
    uint32_t attributes;
};

struct tdvf_image {
    const uint8_t *data;
    size_t size;
    size_t n_sections; /* descriptor order, validated: no overlapping GPA ranges */
    struct tdvf_section sections[TDVF_MAX_SECTIONS];
};

/* Locate and validate the TDVF descriptor: via the OVMF footer table entry, or (td-shim images
 * without a table) via the u32 file offset at size-0x20. Errors name the offending field. */
int tdvf_parse(struct tdvf_image *img, const uint8_t *data, size_t size, struct fw_error *err);

/* Name of a TDVF section type ("BFV", "CFV", ...), "?" if unknown. */
const char *tdvf_section_type_name(uint32_t type);

#endif
