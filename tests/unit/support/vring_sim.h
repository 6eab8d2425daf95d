/* vring_sim.h: the driver side of a split virtqueue over simulated guest RAM, for unit tests. */
#ifndef COCOON_TEST_VRING_SIM_H
#define COCOON_TEST_VRING_SIM_H

#include <stdbool.h>
#include <stdint.h>

/* A driver's view of one split ring laid out at `base` in a host buffer that the test wrapped
 * with gm_init_host (guest physical address == offset into ram). */
struct vring_sim {
    uint8_t *ram;
    uint16_t size;
    uint64_t desc, avail, used; /* GPAs of the three rings */
    uint16_t avail_idx;         /* next avail slot the driver fills */
    uint16_t used_seen;         /* used entries already consumed by the test */
};

/* Lays out desc/avail/used for `size` entries from `base` (16-aligned) and zeroes them. */
void vring_sim_init(struct vring_sim *s, uint8_t *ram, uint16_t size, uint64_t base);

/* Writes descriptor idx verbatim (hostile values welcome). */
void vring_sim_desc(struct vring_sim *s, uint16_t idx, uint64_t addr, uint32_t len, uint16_t flags,
                    uint16_t next);

/* Puts head into the next avail slot and publishes the new avail index. */
void vring_sim_publish(struct vring_sim *s, uint16_t head);

/* Overwrites the avail index (for index-jump tests). */
void vring_sim_set_avail_idx(struct vring_sim *s, uint16_t idx);

/* Consumes the next used element if the device published one. */
bool vring_sim_take_used(struct vring_sim *s, uint32_t *id, uint32_t *len);

#endif
