/* vring_sim.c: simulated virtio driver rings for unit tests of device models and the walker. */
#include "vring_sim.h"

#include <string.h>

void vring_sim_init(struct vring_sim *s, uint8_t *ram, uint16_t size, uint64_t base)
{
    memset(s, 0, sizeof(*s));
    s->ram = ram;
    s->size = size;
    s->desc = base;
    s->avail = base + 16ULL * size;
    s->used = (s->avail + 6 + 2ULL * size + 3) & ~3ULL;
    memset(ram + base, 0, (size_t)(s->used + 6 + 8ULL * size - base));
}

void vring_sim_desc(struct vring_sim *s, uint16_t idx, uint64_t addr, uint32_t len, uint16_t flags,
                    uint16_t next)
{
    uint8_t *d = s->ram + s->desc + 16ULL * idx;
    memcpy(d, &addr, 8);
    memcpy(d + 8, &len, 4);
    memcpy(d + 12, &flags, 2);
    memcpy(d + 14, &next, 2);
}

void vring_sim_set_avail_idx(struct vring_sim *s, uint16_t idx)
{
    s->avail_idx = idx;
    memcpy(s->ram + s->avail + 2, &idx, 2);
}

void vring_sim_publish(struct vring_sim *s, uint16_t head)
{
    memcpy(s->ram + s->avail + 4 + 2ULL * (s->avail_idx % s->size), &head, 2);
    vring_sim_set_avail_idx(s, (uint16_t)(s->avail_idx + 1));
}

bool vring_sim_take_used(struct vring_sim *s, uint32_t *id, uint32_t *len)
{
    uint16_t used_idx;
    memcpy(&used_idx, s->ram + s->used + 2, 2);
    if (used_idx == s->used_seen)
        return false;
    const uint8_t *e = s->ram + s->used + 4 + 8ULL * (s->used_seen % s->size);
    memcpy(id, e, 4);
    memcpy(len, e + 4, 4);
    s->used_seen++;
    return true;
}
