/* acpi_aml_encoding: the AML writer's byte encodings (PkgLength boundaries, integers, names,
 * resource descriptors) against ACPI 6.5 chapter 20 and iasl's output, and its bounds. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "firmware/aml.h"

static uint8_t buf[8192];

static void expect_bytes(const struct aml *a, const uint8_t *want, size_t n)
{
    assert_true(aml_ok(a));
    assert_int_equal(a->len, n);
    assert_memory_equal(a->buf, want, n);
}

/* PkgLength counts its own bytes: 1 byte up to 63, 2 bytes below 2^12, 3 below 2^20, 4 below
 * 2^28, with the byte count in bits 7:6 of the lead byte. */
static void pkglen_boundaries(void **state)
{
    uint8_t o[4];
    assert_int_equal(aml_pkglen_encode(0, o), 1);
    assert_int_equal(o[0], 0x01);
    assert_int_equal(aml_pkglen_encode(62, o), 1);
    assert_int_equal(o[0], 0x3F);
    /* 63 body bytes + 1 = 64 no longer fits 6 bits: 2 bytes, value 65 = 0x41. */
    assert_int_equal(aml_pkglen_encode(63, o), 2);
    assert_int_equal(o[0], 0x41);
    assert_int_equal(o[1], 0x04);
    assert_int_equal(aml_pkglen_encode(4093, o), 2); /* 4095 */
    assert_int_equal(o[0], 0x4F);
    assert_int_equal(o[1], 0xFF);
    assert_int_equal(aml_pkglen_encode(4094, o), 3); /* 4096 would need 13 bits: 4097 */
    assert_int_equal(o[0], 0x81);
    assert_int_equal(o[1], 0x00);
    assert_int_equal(o[2], 0x01);
    assert_int_equal(aml_pkglen_encode((1u << 20) - 4, o), 3); /* 0xFFFFF */
    assert_int_equal(o[0], 0x8F);
    assert_int_equal(o[1], 0xFF);
    assert_int_equal(o[2], 0xFF);
    assert_int_equal(aml_pkglen_encode((1u << 20) - 3, o), 4); /* 0x100001 */
    assert_int_equal(o[0], 0xC1);
    assert_int_equal(o[1], 0x00);
    assert_int_equal(o[2], 0x00);
    assert_int_equal(o[3], 0x01);
    assert_int_equal(aml_pkglen_encode((1u << 28) - 5, o), 4); /* 0x0FFFFFFF */
    assert_int_equal(o[0], 0xCF);
    assert_int_equal(o[3], 0xFF);
    assert_int_equal(aml_pkglen_encode((1u << 28) - 4, o), 0); /* too long for AML */
}

/* aml_end inserts the PkgLength in front of a body, growing it across the 1/2-byte boundary. */
static void scope_pkglen_inserted(void **state)
{
    struct aml a;
    for (size_t body = 60; body < 70; body++) {
        aml_init(&a, buf, sizeof(buf));
        aml_mark m = aml_scope_begin(&a, "\\_SB"); /* 5C 5F 53 42 5F */
        for (size_t i = 5; i < body; i++)
            aml_byte(&a, 0xA3); /* Noop */
        aml_end(&a, m);
        assert_true(aml_ok(&a));
        uint8_t o[4];
        size_t n = aml_pkglen_encode(body, o);
        assert_int_equal(a.len, 1 + n + body);
        assert_int_equal(buf[0], 0x10);
        assert_memory_equal(buf + 1, o, n);
        assert_int_equal(buf[1 + n], 0x5C);
    }
}

static void integer_shortest(void **state)
{
    static const struct {
        uint64_t v;
        uint8_t enc[9];
        size_t n;
    } cases[] = {
        {0, {0x00}, 1},
        {1, {0x01}, 1},
        {2, {0x0A, 0x02}, 2},
        {0xFF, {0x0A, 0xFF}, 2},
        {0x100, {0x0B, 0x00, 0x01}, 3},
        {0xFFFF, {0x0B, 0xFF, 0xFF}, 3},
        {0x10000, {0x0C, 0x00, 0x00, 0x01, 0x00}, 5},
        {0xFFFFFFFF, {0x0C, 0xFF, 0xFF, 0xFF, 0xFF}, 5},
        {0x100000000ULL, {0x0E, 0, 0, 0, 0, 1, 0, 0, 0}, 9},
        {0xFFFFFFFFFFFFFFFEULL, {0x0E, 0xFE, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF}, 9},
        {UINT64_MAX, {0xFF}, 1},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct aml a;
        aml_init(&a, buf, sizeof(buf));
        aml_integer(&a, cases[i].v);
        expect_bytes(&a, cases[i].enc, cases[i].n);
    }
}

static void namestrings(void **state)
{
    struct aml a;
    aml_init(&a, buf, sizeof(buf));
    aml_namestring(&a, "\\_SB.PCI0.S01");
    static const uint8_t multi[] = {0x5C, 0x2F, 3,   '_', 'S', 'B', '_', 'P',
                                    'C',  'I',  '0', 'S', '0', '1', '_'};
    expect_bytes(&a, multi, sizeof(multi));

    aml_init(&a, buf, sizeof(buf));
    aml_namestring(&a, "^^PHPR.B0EJ");
    static const uint8_t dual[] = {0x5E, 0x5E, 0x2E, 'P', 'H', 'P', 'R', 'B', '0', 'E', 'J'};
    expect_bytes(&a, dual, sizeof(dual));

    aml_init(&a, buf, sizeof(buf));
    aml_namestring(&a, "");
    static const uint8_t null[] = {0x00};
    expect_bytes(&a, null, 1);

    static const char *bad[] = {"TOOLONG", "a", "1ABC", "\\_SB.", "A..B", "\\_SB.PC$0"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        aml_init(&a, buf, sizeof(buf));
        aml_namestring(&a, bad[i]);
        assert_false(aml_ok(&a));
    }
}

/* EisaId("PNP0A03") as compiled by iasl: DWord 0x030AD041. */
static void eisaid_matches_iasl(void **state)
{
    struct aml a;
    aml_init(&a, buf, sizeof(buf));
    aml_eisaid(&a, "PNP0A03");
    static const uint8_t want[] = {0x0C, 0x41, 0xD0, 0x0A, 0x03};
    expect_bytes(&a, want, sizeof(want));
    aml_init(&a, buf, sizeof(buf));
    aml_eisaid(&a, "pnp0a03");
    assert_false(aml_ok(&a));
}

/* Method (PCEJ, 1, Serialized) { Return (Zero) } and a String, as iasl emits them. */
static void method_and_string(void **state)
{
    struct aml a;
    aml_init(&a, buf, sizeof(buf));
    aml_mark m = aml_method_begin(&a, "PCEJ", 1, true);
    aml_op(&a, AML_OP_RETURN);
    aml_integer(&a, 0);
    aml_end(&a, m);
    aml_string(&a, "ab");
    static const uint8_t want[] = {0x14, 0x08, 'P',  'C', 'E', 'J', 0x09,
                                   0xA4, 0x00, 0x0D, 'a', 'b', 0x00};
    expect_bytes(&a, want, sizeof(want));
}

/* Field(PRST, ByteAcc, NoLock, WriteAsZeros) { Offset(4), CPEN, 1 } */
static void field_encoding(void **state)
{
    struct aml a;
    aml_init(&a, buf, sizeof(buf));
    aml_mark f = aml_field_begin(&a, "PRST", AML_ACC_BYTE, AML_UPD_WRITE_ZEROS);
    aml_field_skip(&a, 32);
    aml_field_unit(&a, "CPEN", 1);
    aml_end(&a, f);
    static const uint8_t want[] = {0x5B, 0x81, 0x0D, 'P', 'R', 'S', 'T', 0x41,
                                   0x00, 0x20, 'C',  'P', 'E', 'N', 0x01};
    expect_bytes(&a, want, sizeof(want));
}

/* Buffer(){...} from a ResourceTemplate with WordBusNumber and Interrupt, as iasl emits it. */
static void resource_template(void **state)
{
    uint8_t rb[64];
    struct aml r;
    aml_init(&r, rb, sizeof(rb));
    aml_res_word_bus(&r, 0, 0);
    aml_res_interrupt(&r, 9, true, false);
    aml_res_end_tag(&r);
    static const uint8_t want[] = {0x88, 0x0D, 0x00, 0x02, 0x0C, 0x00, 0x00, 0x00, 0x00,
                                   0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x89, 0x06,
                                   0x00, 0x03, 0x01, 0x09, 0x00, 0x00, 0x00, 0x79, 0x00};
    expect_bytes(&r, want, sizeof(want));
    struct aml a;
    aml_init(&a, buf, sizeof(buf));
    aml_buffer(&a, rb, r.len);
    assert_true(aml_ok(&a));
    assert_int_equal(buf[0], 0x11);
    assert_int_equal(buf[1], 0x1E); /* PkgLength: 1 + 2 (BufferSize 0x0A 0x1B) + 27 */
    assert_int_equal(buf[2], 0x0A);
    assert_int_equal(buf[3], sizeof(want));

    aml_init(&r, rb, sizeof(rb));
    aml_res_dword_memory(&r, 0xC0000000, 0xFEBFFFFF, false);
    assert_true(aml_ok(&r));
    assert_int_equal(r.len, 26);
    uint32_t len;
    memcpy(&len, rb + 22, 4);
    assert_int_equal(len, 0x3EC00000);
    aml_res_dword_memory(&r, 0, UINT32_MAX, false); /* length 2^32 does not fit */
    assert_false(aml_ok(&r));
}

/* Every overflow is caught, nothing is written past cap, and the error sticks. */
static void bounded_and_sticky(void **state)
{
    uint8_t small[8];
    memset(small, 0xEE, sizeof(small));
    struct aml a;
    aml_init(&a, small, 4);
    aml_integer(&a, 0x12345678); /* 5 bytes into 4 */
    assert_false(aml_ok(&a));
    size_t len = a.len;
    assert_true(len <= 4);
    aml_byte(&a, 1);
    assert_int_equal(a.len, len);
    for (size_t i = 4; i < sizeof(small); i++)
        assert_int_equal(small[i], 0xEE);

    /* The PkgLength insertion itself must fit. */
    aml_init(&a, small, 6);
    aml_mark m = aml_scope_begin(&a, "\\_SB"); /* 6 bytes: op + 5 */
    aml_end(&a, m);
    assert_false(aml_ok(&a));
    assert_int_equal(small[6], 0xEE);

    aml_init(&a, buf, sizeof(buf));
    aml_local(&a, 8);
    assert_false(aml_ok(&a));
    aml_init(&a, buf, sizeof(buf));
    aml_method_begin(&a, "M", 8, false);
    assert_false(aml_ok(&a));
    aml_init(&a, NULL, 100);
    aml_byte(&a, 0);
    assert_false(aml_ok(&a));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(pkglen_boundaries),   cmocka_unit_test(scope_pkglen_inserted),
        cmocka_unit_test(integer_shortest),    cmocka_unit_test(namestrings),
        cmocka_unit_test(eisaid_matches_iasl), cmocka_unit_test(method_and_string),
        cmocka_unit_test(field_encoding),      cmocka_unit_test(resource_template),
        cmocka_unit_test(bounded_and_sticky),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
