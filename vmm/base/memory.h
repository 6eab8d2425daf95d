/* memory.h: the only door to guest memory: range-, overflow- and share-checked access by GPA. */
#ifndef COCOON_MEMORY_H
#define COCOON_MEMORY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define GM_PAGE_SIZE   4096ULL
#define GM_MAX_REGIONS 4

/* x86 layout: RAM from 0 up to GM_LOW_RAM_END, the rest from 4 GiB; the hole holds PCI BARs,
 * the IOAPIC and the local APIC. */
#define GM_LOW_RAM_END    0xC0000000ULL
#define GM_HIGH_RAM_START 0x100000000ULL

/* One contiguous span of guest-physical RAM backed by host memory. */
struct gm_region {
    uint64_t gpa;
    uint64_t size;
    uint8_t *host;
    uint64_t fd_offset; /* offset of this region in the backing memfd */
};

struct gm_pins; /* spans devices hold (memory.c) */

/* Guest RAM. `private_bits` is NULL for a plain VM (every page shared with the host); for a TEE
 * guest it has one bit per page of the span [0, gpa_end), set while the page is private, and
 * device access to a private page is refused. */
struct guest_mem {
    struct gm_region region[GM_MAX_REGIONS];
    unsigned nr_regions;
    uint64_t ram_size; /* bytes of RAM across all regions */
    uint64_t gpa_end;  /* one past the highest RAM GPA */
    int memfd;         /* -1 when the memory is not ours (gm_init_host) */
    uint64_t *private_bits;
    struct gm_pins *pins; /* TEE only: lives in private_bits' allocation (gm_enable_private) */
};

/* A span a device keeps using after the check (a request in flight). Caller-owned storage;
 * fields are the memory door's. */
struct gm_pin {
    struct gm_pin *prev, *next;
    uint64_t gpa, len;
    bool tracked; /* on the TEE pin list */
    bool revoked; /* part of it was converted to private while pinned */
};

/* Allocates `ram_size` bytes of guest RAM (memfd, MAP_SHARED, MADV_DONTDUMP) laid out as above.
 * Returns 0, or -1 with a message in err. */
int gm_init(struct guest_mem *gm, uint64_t ram_size, char *err, size_t errlen);

/* gm_init with guest RAM from hugetlb pages when hugepages (page_size 2 MiB, 1 GiB or 0 for the
 * host's default); the pages are reserved at once, so a host without enough free huge pages
 * fails here with an error naming them. */
int gm_init_pages(struct guest_mem *gm, uint64_t ram_size, bool hugepages, uint64_t page_size,
                  char *err, size_t errlen);

/* Wraps a host buffer as guest RAM at GPA 0 (unit tests, fuzzers). Never fails for size > 0. */
void gm_init_host(struct guest_mem *gm, void *buf, uint64_t size);

/* Releases what gm_init allocated. Safe on a zeroed or already-destroyed struct. */
void gm_destroy(struct guest_mem *gm);

/* Returns a host pointer valid for [gpa, gpa+len) if that range is RAM inside one region, does not
 * wrap, and (TEE) every page in it is shared; NULL otherwise. len 0 is refused. */
void *gm_span(const struct guest_mem *gm, uint64_t gpa, uint64_t len);

/* Like gm_span but ignores the shared/private state: only the loaders and TEE launch code, which
 * write the initial image before the guest runs, may use it. */
void *gm_span_loader(const struct guest_mem *gm, uint64_t gpa, uint64_t len);

/* Copies between guest and host memory through gm_span. Return 0, or -1 if the range is refused
 * (nothing is copied then). */
int gm_read(const struct guest_mem *gm, uint64_t gpa, void *dst, uint64_t len);
int gm_write(const struct guest_mem *gm, uint64_t gpa, const void *src, uint64_t len);

/* TEE share tracking: marks [gpa, gpa+len) private or shared (page granular, rounded outwards).
 * gm_enable_private allocates the bitmap with every page private. Return 0 or -1. */
int gm_enable_private(struct guest_mem *gm);
int gm_set_private(struct guest_mem *gm, uint64_t gpa, uint64_t len, bool is_private);
bool gm_is_private(const struct guest_mem *gm, uint64_t gpa);

/* In-flight device I/O against conversions. gm_span's check holds only at the moment it is made;
 * a device that keeps a span (a block request a worker reads into later) pins it instead:
 * gm_pin returns the host pointer as gm_span does (NULL if refused: not RAM, or a private page)
 * and records the span until gm_unpin. When the guest converts a page of a pinned span to private
 * meanwhile, the conversion is not held up (a vCPU never waits on device I/O): the pin is
 * revoked and gm_unpin returns false, and the device must fail that request (virtio-blk:
 * VIRTIO_BLK_S_IOERR) so the guest sees a defined result. Data the device wrote after the
 * conversion went to the discarded shared side; the guest never sees it. A pin released before
 * the conversion finished its check was a request completed before the conversion. Plain VMs:
 * gm_pin is gm_span and gm_unpin always true. Any thread; pins are cheap (one mutex, a list). */
void *gm_pin(const struct guest_mem *gm, struct gm_pin *pin, uint64_t gpa, uint64_t len);
bool gm_unpin(const struct guest_mem *gm, struct gm_pin *pin);

/* Pins revoked by conversions since setup (statistics, tests). */
uint64_t gm_revoked_pins(const struct guest_mem *gm);

#endif
