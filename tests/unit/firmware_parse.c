/* firmware_parse.c: the OVMF footer table, ASEV and TDVF parsers on real and synthetic images,
 * every truncation and single-byte corruption of the metadata (no crash, invariants hold). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "firmware/ovmf.h"
#include "support/measure_fixtures.h"

static uint8_t img[MF_SIZE];

static void synthetic_image_parses(void **state)
{
    struct ovmf_image o;
    struct fw_error err = {{0}};
    mf_build_image(img);
    assert_int_equal(ovmf_parse(&o, img, MF_SIZE, &err), 0);
    assert_true(o.has_footer_table);
    assert_int_equal(o.n_entries, 4);
    assert_true(o.has_reset_block);
    assert_int_equal(o.sev_es_reset_eip, 0x80b004);
    assert_true(o.has_hash_table);
    assert_int_equal(o.hash_table_gpa, 0x810c00);
    assert_int_equal(o.hash_table_size, 0x400);
    assert_true(ovmf_kernel_hashes_supported(&o));
    assert_false(o.has_svsm_info);
    assert_int_equal(o.n_sev_sections, 5);
    assert_int_equal(o.sev_sections[3].type, SEV_SECTION_SNP_KERNEL_HASHES);
    assert_int_equal(o.sev_sections[4].gpa, 0x811000);
    assert_int_equal(o.sev_sections[4].size, 0xf000);
    assert_true(ovmf_has_sev_section(&o, SEV_SECTION_CPUID));
    assert_false(ovmf_has_sev_section(&o, SEV_SECTION_SVSM_CAA));

    struct tdvf_image t;
    assert_int_equal(tdvf_parse(&t, img, MF_SIZE, &err), 0);
    assert_int_equal(t.n_sections, 4);
    assert_int_equal(t.sections[0].type, TDVF_SECTION_BFV);
    assert_int_equal(t.sections[0].attributes, TDVF_ATTR_MR_EXTEND);
    assert_int_equal(t.sections[1].type, TDVF_SECTION_CFV);
    assert_int_equal(t.sections[1].gpa, 0x100000000ull - 0x10000);
    assert_int_equal(t.sections[3].mem_size, 0x6000);
}

static void no_footer_means_no_table(void **state)
{
    struct ovmf_image o;
    struct fw_error err = {{0}};
    memset(img, 0x5a, sizeof(img));
    assert_int_equal(ovmf_parse(&o, img, MF_SIZE, &err), 0);
    assert_false(o.has_footer_table);
    assert_int_equal(o.n_entries, 0);
    assert_false(ovmf_kernel_hashes_supported(&o));
    struct tdvf_image t;
    assert_int_equal(tdvf_parse(&t, img, MF_SIZE, &err), -1);
    assert_true(strlen(err.msg) > 10);
    assert_int_equal(ovmf_parse(&o, img, 0, &err), 0); /* empty: nothing found */
}

/* Whatever a parser accepted must lie inside the bytes it was given. */
static void check_invariants(const struct ovmf_image *o, const struct tdvf_image *t, int orc,
                             int trc, size_t size)
{
    if (orc == 0) {
        assert_true(o->n_entries <= OVMF_MAX_TABLE_ENTRIES);
        for (size_t i = 0; i < o->n_entries; i++)
            assert_true(o->entries[i].data_off + o->entries[i].data_len <= size);
        assert_true(o->n_sev_sections <= SEV_META_MAX_SECTIONS);
        for (size_t i = 0; i < o->n_sev_sections; i++) {
            assert_int_equal(o->sev_sections[i].gpa & 0xfff, 0);
            assert_true((uint64_t)o->sev_sections[i].gpa + o->sev_sections[i].size <=
                        0x100000000ull);
        }
    }
    if (trc == 0) {
        assert_true(t->n_sections >= 1 && t->n_sections <= TDVF_MAX_SECTIONS);
        for (size_t i = 0; i < t->n_sections; i++) {
            const struct tdvf_section *s = &t->sections[i];
            assert_true((uint64_t)s->data_offset + s->raw_size <= size);
            assert_true(s->mem_size >= s->raw_size);
            assert_int_equal(s->gpa & 0xfff, 0);
        }
    }
}

static void parse_both(const uint8_t *data, size_t size)
{
    static struct ovmf_image o;
    static struct tdvf_image t;
    struct fw_error e1 = {{0}}, e2 = {{0}};
    int orc = ovmf_parse(&o, data, size, &e1);
    int trc = tdvf_parse(&t, data, size, &e2);
    assert_true(orc == 0 || (orc == -1 && strlen(e1.msg) > 10));
    assert_true(trc == 0 || (trc == -1 && strlen(e2.msg) > 10));
    check_invariants(&o, &t, orc, trc, size);
}

static void every_truncation_is_safe(void **state)
{
    mf_build_image(img);
    for (size_t k = 0; k <= MF_SIZE; k++) {
        /* an exact-size heap copy so ASan sees any read past the end */
        uint8_t *tail = malloc(k ? k : 1);
        assert_non_null(tail);
        memcpy(tail, img + MF_SIZE - k, k);
        parse_both(tail, k);
        memcpy(tail, img, k);
        parse_both(tail, k);
        free(tail);
    }
}

static void every_metadata_byte_corruption_is_safe(void **state)
{
    static const uint8_t values[] = {0x00, 0x01, 0x7f, 0x80, 0xff};
    size_t ranges[][2] = {{MF_ASEV_OFF, MF_ASEV_OFF + 16 + 60},
                          {MF_TDVF_OFF - 16, MF_TDVF_OFF + 16 + 128},
                          {MF_SIZE - 160, MF_SIZE - 32}};
    for (size_t r = 0; r < 3; r++)
        for (size_t off = ranges[r][0]; off < ranges[r][1]; off++)
            for (size_t v = 0; v < sizeof(values); v++) {
                mf_build_image(img);
                img[off] = values[v];
                parse_both(img, MF_SIZE);
            }
}

static void real_amdsev_fixture_layout(void **state)
{
    size_t len;
    uint8_t *d = mf_read_file(
        mf_vector_path(COCOON_SOURCE_DIR, "snp/fixtures/ovmf_AmdSev_suffix.bin"), &len);
    if (!d) {
        fprintf(stderr, "skip: ../shared/vectors absent\n");
        skip();
    }
    struct ovmf_image o;
    struct fw_error err = {{0}};
    assert_int_equal(ovmf_parse(&o, d, len, &err), 0);
    /* edk2-stable202405 AmdSevX64, as measurement.md §1/§2.2 observed it */
    static const uint32_t want[][3] = {{0x800000, 0x9000, 1}, {0x80a000, 0x3000, 1},
                                       {0x80d000, 0x1000, 2}, {0x80e000, 0x1000, 3},
                                       {0x80f000, 0x1000, 4}, {0x810000, 0x1000, 0x10},
                                       {0x811000, 0xf000, 1}};
    assert_int_equal(o.n_sev_sections, 7);
    for (size_t i = 0; i < 7; i++) {
        assert_int_equal(o.sev_sections[i].gpa, want[i][0]);
        assert_int_equal(o.sev_sections[i].size, want[i][1]);
        assert_int_equal(o.sev_sections[i].type, want[i][2]);
    }
    assert_int_equal(o.sev_es_reset_eip, 0x80b004);
    assert_int_equal(o.hash_table_gpa, 0x810c00);
    assert_int_equal(o.hash_table_size, 0x400);
    free(d);
}

static void real_ovmfx64_fixture_has_no_kernel_hashes(void **state)
{
    size_t len;
    uint8_t *d = mf_read_file(
        mf_vector_path(COCOON_SOURCE_DIR, "snp/fixtures/ovmf_OvmfX64_suffix.bin"), &len);
    if (!d)
        skip();
    struct ovmf_image o;
    struct fw_error err = {{0}};
    assert_int_equal(ovmf_parse(&o, d, len, &err), 0);
    assert_true(o.has_reset_block);
    assert_false(ovmf_kernel_hashes_supported(&o));
    assert_false(ovmf_has_sev_section(&o, SEV_SECTION_SNP_KERNEL_HASHES));
    free(d);
}

static void debian_ovmf_tdvf_sections(void **state)
{
    size_t len;
    uint8_t *d = mf_read_file("/usr/share/ovmf/OVMF.fd", &len);
    if (!d) {
        fprintf(stderr, "skip: /usr/share/ovmf/OVMF.fd absent (apt-get install ovmf)\n");
        skip();
    }
    struct tdvf_image t;
    struct fw_error err = {{0}};
    assert_int_equal(tdvf_parse(&t, d, len, &err), 0);
    /* measurement.md §7: Debian bookworm 2022.11 OVMF.fd */
    assert_int_equal(t.n_sections, 6);
    assert_int_equal(t.sections[0].type, TDVF_SECTION_BFV);
    assert_int_equal(t.sections[0].data_offset, 0x20000);
    assert_int_equal(t.sections[0].raw_size, 0x1e0000);
    assert_int_equal(t.sections[0].gpa, 0xffe20000);
    assert_int_equal(t.sections[0].attributes, TDVF_ATTR_MR_EXTEND);
    assert_int_equal(t.sections[1].type, TDVF_SECTION_CFV);
    assert_int_equal(t.sections[1].gpa, 0xffe00000);
    assert_int_equal(t.sections[4].type, TDVF_SECTION_TD_HOB);
    assert_int_equal(t.sections[4].gpa, 0x809000);
    struct ovmf_image o;
    assert_int_equal(ovmf_parse(&o, d, len, &err), 0);
    assert_false(ovmf_has_sev_section(&o, SEV_SECTION_SNP_KERNEL_HASHES));
    assert_false(ovmf_has_sev_section(&o, SEV_SECTION_SVSM_CAA));
    free(d);
}

static void section_names(void **state)
{
    assert_string_equal(sev_section_type_name(SEV_SECTION_SNP_KERNEL_HASHES), "SNP_KERNEL_HASHES");
    assert_string_equal(sev_section_type_name(9), "?");
    assert_string_equal(tdvf_section_type_name(TDVF_SECTION_TD_HOB), "TD_HOB");
    assert_string_equal(tdvf_section_type_name(1000), "?");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(synthetic_image_parses),
        cmocka_unit_test(no_footer_means_no_table),
        cmocka_unit_test(every_truncation_is_safe),
        cmocka_unit_test(every_metadata_byte_corruption_is_safe),
        cmocka_unit_test(real_amdsev_fixture_layout),
        cmocka_unit_test(real_ovmfx64_fixture_has_no_kernel_hashes),
        cmocka_unit_test(debian_ovmf_tdvf_sections),
        cmocka_unit_test(section_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
