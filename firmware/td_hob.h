/* td_hob.h: the TD HOB (UEFI hand-off blocks with the memory map) QEMU builds for TDVF. */
#ifndef COCOON_FIRMWARE_TD_HOB_H
#define COCOON_FIRMWARE_TD_HOB_H

#include <stddef.h>
#include <stdint.h>

#define TD_HOB_MAX_RANGES 64

/* A span of guest RAM; `accepted` ranges (the TD_HOB and TempMem sections, which are added
 * before the TD runs) are system memory, the rest is unaccepted memory the guest accepts. */
struct td_hob_range {
    uint64_t gpa;
    uint64_t size;
    int accepted;
};

/* Writes the hand-off table, one resource descriptor per RAM range after carving the accepted
 * ranges out of the RAM ranges (sorted by address), and the end-of-list HOB into buf (which lies at
 * guest address hob_gpa). Returns the bytes used, or 0 if buf is too small or the input is not
 * page aligned / overlapping. Pure formatting: no I/O. */
size_t td_hob_build(uint8_t *buf, size_t buflen, uint64_t hob_gpa, const struct td_hob_range *ram,
                    size_t n_ram, const struct td_hob_range *accepted, size_t n_accepted);

#endif
