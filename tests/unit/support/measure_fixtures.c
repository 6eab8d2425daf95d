/* measure_fixtures.c: file, vector and synthetic-firmware helpers for the measurement unit tests.
 */
#include "measure_fixtures.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "firmware/ovmf.h"

uint8_t *mf_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    uint8_t *buf = NULL;
    size_t cap = 0, n = 0;
    for (;;) {
        if (n == cap) {
            cap = cap ? cap * 2 : 1 << 16;
            uint8_t *nb = realloc(buf, cap);
            if (!nb) {
                free(buf);
                fclose(f);
                return NULL;
            }
            buf = nb;
        }
        size_t r = fread(buf + n, 1, cap - n, f);
        n += r;
        if (r == 0)
            break;
    }
    fclose(f);
    *len = n;
    return buf;
}

const char *mf_vector_path(const char *source_dir, const char *rel)
{
    static char path[4096];
    snprintf(path, sizeof(path), "%s/../shared/vectors/%s", source_dir, rel);
    return path;
}

/* Splits a tab-separated line in place; returns the number of cells. */
static size_t split_tabs(char *line, char **cells, size_t max)
{
    size_t n = 0;
    char *p = line;
    while (n < max) {
        cells[n++] = p;
        char *t = strchr(p, '\t');
        if (!t)
            break;
        *t = 0;
        p = t + 1;
    }
    char *nl = strchr(cells[n - 1], '\n');
    if (nl)
        *nl = 0;
    return n;
}

char *mf_tsv_cell(const char *tsv_path, const char *id, const char *column)
{
    FILE *f = fopen(tsv_path, "r");
    if (!f)
        return NULL;
    char head[4096], line[4096];
    char *hc[32], *lc[32];
    char *result = NULL;
    if (!fgets(head, sizeof(head), f)) {
        fclose(f);
        return NULL;
    }
    size_t nh = split_tabs(head, hc, 32), col = nh;
    for (size_t i = 0; i < nh; i++)
        if (!strcmp(hc[i], column))
            col = i;
    while (col < nh && fgets(line, sizeof(line), f)) {
        size_t nl = split_tabs(line, lc, 32);
        if (nl > col && !strcmp(lc[0], id)) {
            result = strdup(lc[col]);
            break;
        }
    }
    fclose(f);
    return result;
}

int mf_unhex(const char *hex, uint8_t *out, size_t n)
{
    if (!hex || strlen(hex) != 2 * n)
        return -1;
    for (size_t i = 0; i < n; i++) {
        unsigned v;
        if (sscanf(hex + 2 * i, "%2x", &v) != 1)
            return -1;
        out[i] = (uint8_t)v;
    }
    return 0;
}

static void put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void put64(uint8_t *p, uint64_t v)
{
    put32(p, (uint32_t)v);
    put32(p + 4, (uint32_t)(v >> 32));
}

/* Appends one table entry (data, u16 length, GUID) ending at *end; moves *end down. */
static void put_entry(uint8_t *img, size_t *end, const uint8_t guid[16], const uint8_t *data,
                      size_t len)
{
    size_t total = len + 18;
    size_t at = *end - total;
    memcpy(img + at, data, len);
    img[at + len] = (uint8_t)total;
    img[at + len + 1] = (uint8_t)(total >> 8);
    memcpy(img + at + len + 2, guid, 16);
    *end = at;
}

void mf_build_image(uint8_t img[MF_SIZE])
{
    memset(img, 0, MF_SIZE);
    for (size_t i = 0x8000; i < MF_SIZE; i += 4)
        put32(img + i, (uint32_t)(i * 2654435761u));
    static const uint32_t sev[][3] = {{0x800000, 0x9000, 1},
                                      {0x80d000, 0x1000, 2},
                                      {0x80e000, 0x1000, 3},
                                      {0x810000, 0x1000, 0x10},
                                      {0x811000, 0xf000, 1}};
    uint8_t *a = img + MF_ASEV_OFF;
    memcpy(a, "ASEV", 4);
    put32(a + 4, 16 + 12 * 5);
    put32(a + 8, 1);
    put32(a + 12, 5);
    for (int i = 0; i < 5; i++)
        for (int j = 0; j < 3; j++)
            put32(a + 16 + 12 * i + 4 * j, sev[i][j]);
    memcpy(img + MF_TDVF_OFF - 16, OVMF_GUID_TDVF_DESCRIPTOR, 16);
    uint8_t *t = img + MF_TDVF_OFF;
    static const uint64_t tdvf[][6] = {{0x8000, 0x8000, 0x100000000ull - 0x8000, 0x8000, 0, 1},
                                       {0x0, 0x8000, 0x100000000ull - 0x10000, 0x8000, 1, 0},
                                       {0x0, 0x0, 0x809000, 0x2000, 2, 0},
                                       {0x0, 0x0, 0x800000, 0x6000, 3, 0}};
    memcpy(t, "TDVF", 4);
    put32(t + 4, 16 + 32 * 4);
    put32(t + 8, 1);
    put32(t + 12, 4);
    for (int i = 0; i < 4; i++) {
        uint8_t *s = t + 16 + 32 * i;
        put32(s, (uint32_t)tdvf[i][0]);
        put32(s + 4, (uint32_t)tdvf[i][1]);
        put64(s + 8, tdvf[i][2]);
        put64(s + 16, tdvf[i][3]);
        put32(s + 24, (uint32_t)tdvf[i][4]);
        put32(s + 28, (uint32_t)tdvf[i][5]);
    }
    size_t footer = MF_SIZE - 32 - 18, end = footer;
    uint8_t d[8];
    put32(d, MF_SIZE - MF_TDVF_OFF);
    put_entry(img, &end, OVMF_GUID_TDX_METADATA, d, 4);
    put32(d, MF_SIZE - MF_ASEV_OFF);
    put_entry(img, &end, OVMF_GUID_SEV_METADATA, d, 4);
    put32(d, 0x810c00);
    put32(d + 4, 0x400);
    put_entry(img, &end, OVMF_GUID_SEV_HASH_TABLE, d, 8);
    put32(d, 0x80b004);
    put_entry(img, &end, OVMF_GUID_SEV_ES_RESET_BLOCK, d, 4);
    size_t table_len = footer - end + 18;
    img[footer] = (uint8_t)table_len;
    img[footer + 1] = (uint8_t)(table_len >> 8);
    memcpy(img + footer + 2, OVMF_GUID_TABLE_FOOTER, 16);
}
