/* firmware_metadata.c: libFuzzer target: OVMF footer table, SEV metadata and TDVF descriptor
 * parsing of a hostile firmware image (the input is the image's tail, padded in front). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "firmware/ovmf.h"
#include "firmware/td_hob.h"

static struct ovmf_image ovmf;
static struct tdvf_image tdvf;

/* The parsed ranges must lie inside the image the parser was given. */
static void check_ovmf(const struct ovmf_image *img, size_t size)
{
    for (size_t i = 0; i < img->n_entries; i++)
        if (img->entries[i].data_off > size ||
            img->entries[i].data_len > size - img->entries[i].data_off)
            __builtin_trap();
    (void)ovmf_kernel_hashes_supported(img);
    (void)ovmf_find_entry(img, OVMF_GUID_SEV_METADATA);
    for (size_t i = 0; i < img->n_sev_sections; i++)
        (void)sev_section_type_name(img->sev_sections[i].type);
}

static void check_tdvf(const struct tdvf_image *img, size_t size)
{
    for (size_t i = 0; i < img->n_sections; i++) {
        const struct tdvf_section *s = &img->sections[i];
        if (s->data_offset > size || s->raw_size > size - s->data_offset)
            __builtin_trap();
        (void)tdvf_section_type_name(s->type);
    }
}

/* Builds a TD HOB from the TDVF sections, as the TDX launch does. */
static void build_hob(const struct tdvf_image *img)
{
    struct td_hob_range ram[2] = {{0, 0x80000000ULL, 0}, {0x100000000ULL, 0x40000000ULL, 0}};
    struct td_hob_range acc[TDVF_MAX_SECTIONS];
    size_t n = 0;
    for (size_t i = 0; i < img->n_sections; i++)
        if (img->sections[i].type == TDVF_SECTION_TEMP_MEM ||
            img->sections[i].type == TDVF_SECTION_TD_HOB)
            acc[n++] = (struct td_hob_range){img->sections[i].gpa, img->sections[i].mem_size, 1};
    static uint8_t hob[8192];
    (void)td_hob_build(hob, sizeof(hob), 0x809000, ram, 2, acc, n);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fw_error err;
    /* As given (the parsers work from the end of the image) ... */
    if (ovmf_parse(&ovmf, data, size, &err) == 0)
        check_ovmf(&ovmf, size);
    if (tdvf_parse(&tdvf, data, size, &err) == 0) {
        check_tdvf(&tdvf, size);
        build_hob(&tdvf);
    }
    /* ... and inside a larger image, so offsets pointing before the input are reachable. */
    size_t pad = 4096;
    uint8_t *img = malloc(pad + size);
    if (!img)
        return 0;
    memset(img, 0, pad);
    memcpy(img + pad, data, size);
    if (ovmf_parse(&ovmf, img, pad + size, &err) == 0)
        check_ovmf(&ovmf, pad + size);
    if (tdvf_parse(&tdvf, img, pad + size, &err) == 0) {
        check_tdvf(&tdvf, pad + size);
        build_hob(&tdvf);
    }
    free(img);
    return 0;
}
