/* aml.c: AML byte-code encoder (ACPI 6.5 ch. 20) writing into a bounded buffer, sticky error. */
#include "firmware/aml.h"

#include <string.h>

enum {
    AML_ZERO = 0x00,
    AML_ONE = 0x01,
    AML_NAME = 0x08,
    AML_BYTE_PREFIX = 0x0A,
    AML_WORD_PREFIX = 0x0B,
    AML_DWORD_PREFIX = 0x0C,
    AML_STRING_PREFIX = 0x0D,
    AML_QWORD_PREFIX = 0x0E,
    AML_SCOPE = 0x10,
    AML_BUFFER = 0x11,
    AML_PACKAGE = 0x12,
    AML_METHOD = 0x14,
    AML_DUAL_NAME = 0x2E,
    AML_MULTI_NAME = 0x2F,
    AML_EXT = 0x5B,
    AML_ROOT = 0x5C,
    AML_PARENT = 0x5E,
    AML_LOCAL0 = 0x60,
    AML_ARG0 = 0x68,
    AML_IF = 0xA0,
    AML_ELSE = 0xA1,
    AML_WHILE = 0xA2,
    AML_ONES = 0xFF,
    AML_EXT_MUTEX = 0x01,
    AML_EXT_ACQUIRE = 0x23,
    AML_EXT_RELEASE = 0x27,
    AML_EXT_OPREGION = 0x80,
    AML_EXT_FIELD = 0x81,
    AML_EXT_DEVICE = 0x82,
};

#define PKGLEN_MAX ((1u << 28) - 1)

void aml_init(struct aml *a, uint8_t *buf, size_t cap)
{
    a->buf = buf;
    a->cap = buf ? cap : 0;
    a->len = 0;
    a->err = false;
}

bool aml_ok(const struct aml *a)
{
    return !a->err;
}

static bool aml_room(struct aml *a, size_t n)
{
    if (a->err || n > a->cap - a->len) {
        a->err = true;
        return false;
    }
    return true;
}

void aml_bytes(struct aml *a, const void *p, size_t n)
{
    if (!aml_room(a, n))
        return;
    memcpy(a->buf + a->len, p, n);
    a->len += n;
}

void aml_byte(struct aml *a, uint8_t v)
{
    aml_bytes(a, &v, 1);
}

static void aml_le(struct aml *a, uint64_t v, unsigned n)
{
    uint8_t b[8];
    for (unsigned i = 0; i < n; i++)
        b[i] = (uint8_t)(v >> (8 * i));
    aml_bytes(a, b, n);
}

void aml_le16(struct aml *a, uint16_t v)
{
    aml_le(a, v, 2);
}

void aml_le32(struct aml *a, uint32_t v)
{
    aml_le(a, v, 4);
}

void aml_le64(struct aml *a, uint64_t v)
{
    aml_le(a, v, 8);
}

/* Writes value in n (1-4) PkgLength bytes: lead byte holds the count in bits 7:6 and the low 4
 * (or, for n == 1, 6) bits; each following byte holds 8 more bits. */
static void pkglen_put(uint32_t value, unsigned n, uint8_t out[4])
{
    if (n == 1) {
        out[0] = (uint8_t)value;
        return;
    }
    out[0] = (uint8_t)(((n - 1) << 6) | (value & 0x0F));
    for (unsigned i = 1; i < n; i++)
        out[i] = (uint8_t)(value >> (4 + 8 * (i - 1)));
}

static unsigned pkglen_bytes_for(uint64_t value)
{
    if (value <= 0x3F)
        return 1;
    if (value < (1u << 12))
        return 2;
    if (value < (1u << 20))
        return 3;
    return 4;
}

size_t aml_pkglen_encode(size_t body_len, uint8_t out[4])
{
    for (unsigned n = 1; n <= 4; n++) {
        uint64_t total = (uint64_t)body_len + n;
        if (total <= PKGLEN_MAX && pkglen_bytes_for(total) == n) {
            pkglen_put((uint32_t)total, n, out);
            return n;
        }
    }
    return 0;
}

void aml_pkglen_raw(struct aml *a, uint32_t value)
{
    if (value > PKGLEN_MAX) {
        a->err = true;
        return;
    }
    uint8_t b[4];
    unsigned n = pkglen_bytes_for(value);
    pkglen_put(value, n, b);
    aml_bytes(a, b, n);
}

static aml_mark aml_mark_here(const struct aml *a)
{
    return a->len;
}

void aml_end(struct aml *a, aml_mark m)
{
    if (a->err)
        return;
    if (m > a->len) {
        a->err = true;
        return;
    }
    uint8_t pl[4];
    size_t n = aml_pkglen_encode(a->len - m, pl);
    if (n == 0 || !aml_room(a, n))
        return;
    memmove(a->buf + m + n, a->buf + m, a->len - m);
    memcpy(a->buf + m, pl, n);
    a->len += n;
}

static bool nameseg_char_ok(char c, bool first)
{
    if (c == '_' || (c >= 'A' && c <= 'Z'))
        return true;
    return !first && c >= '0' && c <= '9';
}

/* Parses one segment of up to 4 chars at *p into seg (padded with '_'); advances *p. */
static bool nameseg_parse(const char **p, uint8_t seg[4])
{
    unsigned n = 0;
    while (**p && **p != '.') {
        if (n == 4 || !nameseg_char_ok(**p, n == 0))
            return false;
        seg[n++] = (uint8_t) * (*p)++;
    }
    if (n == 0)
        return false;
    while (n < 4)
        seg[n++] = '_';
    return true;
}

void aml_namestring(struct aml *a, const char *path)
{
    uint8_t segs[4 * 255];
    unsigned nseg = 0;
    if (*path == '\\') {
        aml_byte(a, AML_ROOT);
        path++;
    } else {
        while (*path == '^') {
            aml_byte(a, AML_PARENT);
            path++;
        }
    }
    while (*path) {
        if (nseg == 255 || !nameseg_parse(&path, segs + 4 * nseg)) {
            a->err = true;
            return;
        }
        nseg++;
        if (*path == '.' && *++path == '\0') {
            a->err = true; /* trailing dot */
            return;
        }
    }
    if (nseg == 0) {
        aml_byte(a, AML_ZERO); /* NullName */
        return;
    }
    if (nseg == 2)
        aml_byte(a, AML_DUAL_NAME);
    else if (nseg > 2) {
        aml_byte(a, AML_MULTI_NAME);
        aml_byte(a, (uint8_t)nseg);
    }
    aml_bytes(a, segs, 4 * (size_t)nseg);
}

void aml_integer(struct aml *a, uint64_t v)
{
    if (v == 0)
        aml_byte(a, AML_ZERO);
    else if (v == 1)
        aml_byte(a, AML_ONE);
    else if (v == UINT64_MAX)
        aml_byte(a, AML_ONES);
    else if (v <= 0xFF) {
        aml_byte(a, AML_BYTE_PREFIX);
        aml_byte(a, (uint8_t)v);
    } else if (v <= 0xFFFF) {
        aml_byte(a, AML_WORD_PREFIX);
        aml_le16(a, (uint16_t)v);
    } else if (v <= 0xFFFFFFFF) {
        aml_byte(a, AML_DWORD_PREFIX);
        aml_le32(a, (uint32_t)v);
    } else {
        aml_byte(a, AML_QWORD_PREFIX);
        aml_le64(a, v);
    }
}

void aml_string(struct aml *a, const char *s)
{
    for (const char *c = s; *c; c++) {
        if ((unsigned char)*c < 0x01 || (unsigned char)*c > 0x7F) {
            a->err = true; /* AsciiCharList is 0x01-0x7F */
            return;
        }
    }
    aml_byte(a, AML_STRING_PREFIX);
    aml_bytes(a, s, strlen(s) + 1);
}

void aml_buffer(struct aml *a, const void *data, size_t n)
{
    aml_byte(a, AML_BUFFER);
    aml_mark m = aml_mark_here(a);
    aml_integer(a, n);
    aml_bytes(a, data, n);
    aml_end(a, m);
}

static bool eisa_letter(char c)
{
    return c >= 'A' && c <= 'Z';
}

static int hex_digit(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

void aml_eisaid(struct aml *a, const char *id)
{
    if (strlen(id) != 7 || !eisa_letter(id[0]) || !eisa_letter(id[1]) || !eisa_letter(id[2])) {
        a->err = true;
        return;
    }
    uint32_t v = ((uint32_t)(id[0] - 0x40) << 26) | ((uint32_t)(id[1] - 0x40) << 21) |
                 ((uint32_t)(id[2] - 0x40) << 16);
    for (unsigned i = 3; i < 7; i++) {
        int d = hex_digit(id[i]);
        if (d < 0) {
            a->err = true;
            return;
        }
        v |= (uint32_t)d << (4 * (6 - i));
    }
    /* EISA ids are stored big-endian in the DWord. */
    uint32_t swapped = (v >> 24) | ((v >> 8) & 0xFF00) | ((v << 8) & 0xFF0000) | (v << 24);
    aml_integer(a, swapped);
}

void aml_name(struct aml *a, const char *path)
{
    aml_byte(a, AML_NAME);
    aml_namestring(a, path);
}

void aml_name_integer(struct aml *a, const char *path, uint64_t v)
{
    aml_name(a, path);
    aml_integer(a, v);
}

void aml_name_string(struct aml *a, const char *path, const char *s)
{
    aml_name(a, path);
    aml_string(a, s);
}

void aml_name_eisaid(struct aml *a, const char *path, const char *id)
{
    aml_name(a, path);
    aml_eisaid(a, id);
}

aml_mark aml_scope_begin(struct aml *a, const char *path)
{
    aml_byte(a, AML_SCOPE);
    aml_mark m = aml_mark_here(a);
    aml_namestring(a, path);
    return m;
}

aml_mark aml_device_begin(struct aml *a, const char *path)
{
    aml_byte(a, AML_EXT);
    aml_byte(a, AML_EXT_DEVICE);
    aml_mark m = aml_mark_here(a);
    aml_namestring(a, path);
    return m;
}

aml_mark aml_method_begin(struct aml *a, const char *path, unsigned nargs, bool serialized)
{
    aml_byte(a, AML_METHOD);
    aml_mark m = aml_mark_here(a);
    aml_namestring(a, path);
    if (nargs > 7)
        a->err = true;
    aml_byte(a, (uint8_t)((nargs & 7) | (serialized ? 0x08 : 0)));
    return m;
}

aml_mark aml_package_begin(struct aml *a, unsigned nelements)
{
    aml_byte(a, AML_PACKAGE);
    aml_mark m = aml_mark_here(a);
    if (nelements > 0xFF)
        a->err = true; /* VarPackage is not needed here */
    aml_byte(a, (uint8_t)nelements);
    return m;
}

static aml_mark aml_block_begin(struct aml *a, uint8_t op)
{
    aml_byte(a, op);
    return aml_mark_here(a);
}

aml_mark aml_if_begin(struct aml *a)
{
    return aml_block_begin(a, AML_IF);
}

aml_mark aml_else_begin(struct aml *a)
{
    return aml_block_begin(a, AML_ELSE);
}

aml_mark aml_while_begin(struct aml *a)
{
    return aml_block_begin(a, AML_WHILE);
}

void aml_opregion(struct aml *a, const char *name, uint8_t space, uint64_t offset, uint64_t len)
{
    aml_byte(a, AML_EXT);
    aml_byte(a, AML_EXT_OPREGION);
    aml_namestring(a, name);
    aml_byte(a, space);
    aml_integer(a, offset);
    aml_integer(a, len);
}

aml_mark aml_field_begin(struct aml *a, const char *region, uint8_t access, uint8_t update)
{
    aml_byte(a, AML_EXT);
    aml_byte(a, AML_EXT_FIELD);
    aml_mark m = aml_mark_here(a);
    aml_namestring(a, region);
    if (access > AML_ACC_DWORD || update > AML_UPD_WRITE_ZEROS)
        a->err = true;
    /* FieldFlags: bits 3:0 access type, bit 4 lock rule (NoLock = 0), bits 6:5 update rule. */
    aml_byte(a, (uint8_t)((access & 0x0F) | ((update & 3) << 5)));
    return m;
}

void aml_field_unit(struct aml *a, const char *nameseg, uint32_t bits)
{
    uint8_t seg[4];
    const char *p = nameseg;
    if (!nameseg_parse(&p, seg) || *p) {
        a->err = true;
        return;
    }
    aml_bytes(a, seg, 4);
    aml_pkglen_raw(a, bits);
}

void aml_field_skip(struct aml *a, uint32_t bits)
{
    aml_byte(a, 0x00); /* ReservedField */
    aml_pkglen_raw(a, bits);
}

void aml_mutex(struct aml *a, const char *name, uint8_t sync_level)
{
    aml_byte(a, AML_EXT);
    aml_byte(a, AML_EXT_MUTEX);
    aml_namestring(a, name);
    if (sync_level > 15)
        a->err = true;
    aml_byte(a, sync_level & 0x0F);
}

void aml_op(struct aml *a, uint8_t op)
{
    aml_byte(a, op);
}

void aml_local(struct aml *a, unsigned n)
{
    if (n > 7)
        a->err = true;
    aml_byte(a, (uint8_t)(AML_LOCAL0 + (n & 7)));
}

void aml_arg(struct aml *a, unsigned n)
{
    if (n > 6)
        a->err = true;
    aml_byte(a, (uint8_t)(AML_ARG0 + (n > 6 ? 0 : n)));
}

void aml_no_target(struct aml *a)
{
    aml_byte(a, AML_ZERO);
}

void aml_acquire(struct aml *a, const char *mutex, uint16_t timeout)
{
    aml_byte(a, AML_EXT);
    aml_byte(a, AML_EXT_ACQUIRE);
    aml_namestring(a, mutex);
    aml_le16(a, timeout);
}

void aml_release(struct aml *a, const char *mutex)
{
    aml_byte(a, AML_EXT);
    aml_byte(a, AML_EXT_RELEASE);
    aml_namestring(a, mutex);
}

/* Resource descriptors: ACPI 6.5 section 6.4 (small items 6.4.2, large items 6.4.3). */
enum {
    RES_IO = 0x47,
    RES_END_TAG = 0x79,
    RES_MEMORY32_FIXED = 0x86,
    RES_DWORD_SPACE = 0x87,
    RES_WORD_SPACE = 0x88,
    RES_EXT_IRQ = 0x89,
    RES_QWORD_SPACE = 0x8A,
};
enum { RES_TYPE_MEMORY = 0, RES_TYPE_IO = 1, RES_TYPE_BUS = 2 };
/* General flags of an address-space descriptor: producer (bit 0 clear), positive decode, min and
 * max fixed (bits 2 and 3). */
#define RES_GEN_PRODUCER_FIXED 0x0C

static void res_large_header(struct aml *r, uint8_t tag, uint16_t len)
{
    aml_byte(r, tag);
    aml_le16(r, len);
}

static void res_word_space(struct aml *r, uint8_t type, uint8_t type_flags, uint16_t min,
                           uint16_t max)
{
    if (max < min || (min == 0 && max == UINT16_MAX)) {
        r->err = true; /* the length would not fit */
        return;
    }
    res_large_header(r, RES_WORD_SPACE, 13);
    aml_byte(r, type);
    aml_byte(r, RES_GEN_PRODUCER_FIXED);
    aml_byte(r, type_flags);
    aml_le16(r, 0); /* granularity */
    aml_le16(r, min);
    aml_le16(r, max);
    aml_le16(r, 0); /* translation */
    aml_le16(r, (uint16_t)(max - min + 1));
}

void aml_res_word_bus(struct aml *r, uint16_t min, uint16_t max)
{
    res_word_space(r, RES_TYPE_BUS, 0, min, max);
}

void aml_res_word_io(struct aml *r, uint16_t min, uint16_t max)
{
    res_word_space(r, RES_TYPE_IO, 3 /* _RNG: EntireRange */, min, max);
}

void aml_res_io(struct aml *r, uint16_t min, uint16_t max, uint8_t align, uint8_t len)
{
    aml_byte(r, RES_IO);
    aml_byte(r, 0x01); /* Decode16 */
    aml_le16(r, min);
    aml_le16(r, max);
    aml_byte(r, align);
    aml_byte(r, len);
}

/* Type-specific memory flags: bit 0 ReadWrite, bits 2:1 _MEM (0 NonCacheable, 1 Cacheable). */
static uint8_t res_mem_flags(bool cacheable)
{
    return (uint8_t)(0x01 | (cacheable ? 0x02 : 0));
}

void aml_res_dword_memory(struct aml *r, uint32_t min, uint32_t max, bool cacheable)
{
    if (max < min || (min == 0 && max == UINT32_MAX)) {
        r->err = true; /* the length would not fit */
        return;
    }
    res_large_header(r, RES_DWORD_SPACE, 23);
    aml_byte(r, RES_TYPE_MEMORY);
    aml_byte(r, RES_GEN_PRODUCER_FIXED);
    aml_byte(r, res_mem_flags(cacheable));
    aml_le32(r, 0);
    aml_le32(r, min);
    aml_le32(r, max);
    aml_le32(r, 0);
    aml_le32(r, max - min + 1);
}

void aml_res_qword_memory(struct aml *r, uint64_t min, uint64_t max, bool cacheable)
{
    if (max < min || (min == 0 && max == UINT64_MAX)) {
        r->err = true;
        return;
    }
    res_large_header(r, RES_QWORD_SPACE, 43);
    aml_byte(r, RES_TYPE_MEMORY);
    aml_byte(r, RES_GEN_PRODUCER_FIXED);
    aml_byte(r, res_mem_flags(cacheable));
    aml_le64(r, 0);
    aml_le64(r, min);
    aml_le64(r, max);
    aml_le64(r, 0);
    aml_le64(r, max - min + 1);
}

void aml_res_memory32_fixed(struct aml *r, uint32_t base, uint32_t len)
{
    res_large_header(r, RES_MEMORY32_FIXED, 9);
    aml_byte(r, 0x01); /* ReadWrite */
    aml_le32(r, base);
    aml_le32(r, len);
}

void aml_res_interrupt(struct aml *r, uint32_t gsi, bool edge, bool active_low)
{
    res_large_header(r, RES_EXT_IRQ, 6);
    /* bit 0 consumer, bit 1 edge, bit 2 active low, bit 3 shared (Exclusive = 0) */
    aml_byte(r, (uint8_t)(0x01 | (edge ? 0x02 : 0) | (active_low ? 0x04 : 0)));
    aml_byte(r, 1);
    aml_le32(r, gsi);
}

void aml_res_end_tag(struct aml *r)
{
    aml_byte(r, RES_END_TAG);
    aml_byte(r, 0); /* checksum 0: "treat as valid" */
}
