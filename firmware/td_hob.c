/* td_hob.c: formats the TD HOB (hand-off table, RAM resource descriptors, end of list) for TDVF. */
#include "firmware/td_hob.h"

#include <string.h>

#define HOB_TYPE_HANDOFF        0x0001
#define HOB_TYPE_RESOURCE       0x0003
#define HOB_TYPE_END            0xffff
#define HOB_HANDOFF_VERSION     0x0009
#define HOB_HANDOFF_LEN         56
#define HOB_RESOURCE_LEN        48
#define HOB_END_LEN             8
#define RES_SYSTEM_MEMORY       0x0
#define RES_MEMORY_UNACCEPTED   0x7
#define RES_ATTR_PRESENT_INIT_T 0x7 /* PRESENT | INITIALIZED | TESTED (TDVF private/unaccepted) */
#define PAGE                    4096ULL

struct hob_out {
    uint8_t *buf;
    size_t len, used;
    int overflow;
};

static uint8_t *hob_area(struct hob_out *o, size_t n)
{
    if (o->overflow || n > o->len - o->used) {
        o->overflow = 1;
        return NULL;
    }
    uint8_t *p = o->buf + o->used;
    memset(p, 0, n);
    o->used += n;
    return p;
}

static void put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

static void put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void put64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void hob_resource(struct hob_out *o, uint32_t type, uint64_t gpa, uint64_t size)
{
    uint8_t *p = hob_area(o, HOB_RESOURCE_LEN);
    if (!p)
        return;
    put16(p, HOB_TYPE_RESOURCE);
    put16(p + 2, HOB_RESOURCE_LEN);
    /* owner GUID at 8..23 stays zero */
    put32(p + 24, type);
    put32(p + 28, RES_ATTR_PRESENT_INIT_T);
    put64(p + 32, gpa);
    put64(p + 40, size);
}

static int range_ok(const struct td_hob_range *r)
{
    return r->size && r->gpa % PAGE == 0 && r->size % PAGE == 0 && r->gpa + r->size > r->gpa;
}

/* Index order of `accepted` by address (insertion sort; n is tiny). */
static void sort_idx(const struct td_hob_range *a, size_t n, size_t *idx)
{
    for (size_t i = 0; i < n; i++) {
        size_t j = i;
        idx[i] = i;
        while (j > 0 && a[idx[j - 1]].gpa > a[idx[j]].gpa) {
            size_t t = idx[j - 1];
            idx[j - 1] = idx[j];
            idx[j] = t;
            j--;
        }
    }
}

size_t td_hob_build(uint8_t *buf, size_t buflen, uint64_t hob_gpa, const struct td_hob_range *ram,
                    size_t n_ram, const struct td_hob_range *accepted, size_t n_accepted)
{
    if (n_ram > TD_HOB_MAX_RANGES || n_accepted > TD_HOB_MAX_RANGES)
        return 0;
    size_t ai[TD_HOB_MAX_RANGES], ri[TD_HOB_MAX_RANGES];
    for (size_t i = 0; i < n_accepted; i++)
        if (!range_ok(&accepted[i]))
            return 0;
    for (size_t i = 0; i < n_ram; i++)
        if (!range_ok(&ram[i]))
            return 0;
    sort_idx(accepted, n_accepted, ai);
    sort_idx(ram, n_ram, ri);
    for (size_t i = 1; i < n_accepted; i++)
        if (accepted[ai[i - 1]].gpa + accepted[ai[i - 1]].size > accepted[ai[i]].gpa)
            return 0;

    struct hob_out o = {.buf = buf, .len = buflen};
    uint8_t *hit = hob_area(&o, HOB_HANDOFF_LEN);
    if (!hit)
        return 0;
    put16(hit, HOB_TYPE_HANDOFF);
    put16(hit + 2, HOB_HANDOFF_LEN);
    put32(hit + 8, HOB_HANDOFF_VERSION);
    /* BootMode and the four memory top/bottom fields stay zero (TDVF ignores them). */

    for (size_t k = 0; k < n_ram; k++) {
        const struct td_hob_range *r = &ram[ri[k]];
        uint64_t cur = r->gpa, end = r->gpa + r->size;
        for (size_t i = 0; i < n_accepted; i++) {
            const struct td_hob_range *a = &accepted[ai[i]];
            uint64_t as = a->gpa, ae = a->gpa + a->size;
            if (ae <= cur || as >= end)
                continue;
            if (as > cur)
                hob_resource(&o, RES_MEMORY_UNACCEPTED, cur, as - cur);
            uint64_t s = as > cur ? as : cur, e = ae < end ? ae : end;
            hob_resource(&o, RES_SYSTEM_MEMORY, s, e - s);
            cur = e;
        }
        if (cur < end)
            hob_resource(&o, RES_MEMORY_UNACCEPTED, cur, end - cur);
    }
    uint8_t *last = hob_area(&o, HOB_END_LEN);
    if (!last || o.overflow)
        return 0;
    put16(last, HOB_TYPE_END);
    put16(last + 2, HOB_END_LEN);
    put64(hit + 48, hob_gpa + o.used); /* EfiEndOfHobList */
    return o.used;
}
