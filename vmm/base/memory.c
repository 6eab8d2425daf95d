/* memory.c: guest RAM allocation and the checked accessor every device goes through. */
#include "vmm/base/memory.h"

#include <errno.h>
#include <linux/memfd.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

struct gm_pins {
    pthread_mutex_t lock;
    struct gm_pin *head;
    uint64_t revoked; /* atomic */
};

static void gm_add_region(struct guest_mem *gm, uint64_t gpa, uint64_t size, uint8_t *host,
                          uint64_t fd_offset)
{
    struct gm_region *r = &gm->region[gm->nr_regions++];
    r->gpa = gpa;
    r->size = size;
    r->host = host;
    r->fd_offset = fd_offset;
    if (gpa + size > gm->gpa_end)
        gm->gpa_end = gpa + size;
}

/* memfd flags for hugetlb pages of page_size bytes (0: the host's default size). */
static unsigned hugetlb_flags(uint64_t page_size)
{
    if (page_size == (1ULL << 30))
        return MFD_HUGETLB | MFD_HUGE_1GB;
    if (page_size == (2ULL << 20))
        return MFD_HUGETLB | MFD_HUGE_2MB;
    return MFD_HUGETLB;
}

int gm_init(struct guest_mem *gm, uint64_t ram_size, char *err, size_t errlen)
{
    return gm_init_pages(gm, ram_size, false, 0, err, errlen);
}

int gm_init_pages(struct guest_mem *gm, uint64_t ram_size, bool hugepages, uint64_t page_size,
                  char *err, size_t errlen)
{
    memset(gm, 0, sizeof(*gm));
    gm->memfd = -1;
    uint64_t align = hugepages ? (page_size ? page_size : 2ULL << 20) : GM_PAGE_SIZE;
    if (ram_size == 0 || ram_size % align) {
        snprintf(err, errlen, "guest memory size must be a non-zero multiple of %llu KiB",
                 (unsigned long long)(align >> 10));
        return -1;
    }
    int fd =
        memfd_create("cocoon-guest-ram", MFD_CLOEXEC | (hugepages ? hugetlb_flags(page_size) : 0));
    if (fd < 0 || ftruncate(fd, (off_t)ram_size) < 0) {
        snprintf(err, errlen, "cannot allocate %llu bytes of guest memory%s: %s",
                 (unsigned long long)ram_size, hugepages ? " from huge pages" : "",
                 strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    /* Huge pages are reserved now (no MAP_NORESERVE), so a host without enough free ones fails
     * here with a clear error instead of the guest dying of SIGBUS later. */
    int flags = MAP_SHARED | (hugepages ? 0 : MAP_NORESERVE);
    uint8_t *host = mmap(NULL, ram_size, PROT_READ | PROT_WRITE, flags, fd, 0);
    if (host == MAP_FAILED) {
        if (hugepages)
            snprintf(err, errlen,
                     "memory.hugepages: the host has fewer than %llu free %llu KiB huge pages "
                     "(%s); reserve them (/proc/sys/vm/nr_hugepages) or turn hugepages off",
                     (unsigned long long)(ram_size / align), (unsigned long long)(align >> 10),
                     strerror(errno));
        else
            snprintf(err, errlen, "cannot map guest memory: %s", strerror(errno));
        close(fd);
        return -1;
    }
    /* Guest secrets must not land in a core dump of the VMM. */
    madvise(host, ram_size, MADV_DONTDUMP);
    gm->memfd = fd;
    gm->ram_size = ram_size;
    uint64_t low = ram_size < GM_LOW_RAM_END ? ram_size : GM_LOW_RAM_END;
    gm_add_region(gm, 0, low, host, 0);
    if (ram_size > low)
        gm_add_region(gm, GM_HIGH_RAM_START, ram_size - low, host + low, low);
    return 0;
}

void gm_init_host(struct guest_mem *gm, void *buf, uint64_t size)
{
    memset(gm, 0, sizeof(*gm));
    gm->memfd = -1;
    gm->ram_size = size;
    gm_add_region(gm, 0, size, buf, 0);
}

void gm_destroy(struct guest_mem *gm)
{
    if (gm->memfd >= 0) {
        /* Regions are views into one mapping that starts at region 0. */
        munmap(gm->region[0].host, gm->ram_size);
        close(gm->memfd);
    }
    if (gm->private_bits && gm->pins) /* the list lives in the bitmap's block */
        pthread_mutex_destroy(&gm->pins->lock);
    free(gm->private_bits); /* and the pin list after it */
    memset(gm, 0, sizeof(*gm));
    gm->memfd = -1;
}

static const struct gm_region *gm_find(const struct guest_mem *gm, uint64_t gpa, uint64_t len)
{
    if (len == 0 || gpa + len < gpa)
        return NULL;
    for (unsigned i = 0; i < gm->nr_regions; i++) {
        const struct gm_region *r = &gm->region[i];
        if (gpa >= r->gpa && gpa - r->gpa < r->size && len <= r->size - (gpa - r->gpa))
            return r;
    }
    return NULL;
}

void *gm_span_loader(const struct guest_mem *gm, uint64_t gpa, uint64_t len)
{
    const struct gm_region *r = gm_find(gm, gpa, len);
    return r ? r->host + (gpa - r->gpa) : NULL;
}

/* vCPU threads convert pages concurrently and 64 pages share a word: every access is atomic so a
 * conversion never rewrites a neighbour's bit with a stale value. */
static bool private_bit(const struct guest_mem *gm, uint64_t pfn)
{
    return __atomic_load_n(&gm->private_bits[pfn / 64], __ATOMIC_ACQUIRE) & (1ULL << (pfn % 64));
}

static bool gm_range_shared(const struct guest_mem *gm, uint64_t gpa, uint64_t len)
{
    if (!gm->private_bits)
        return true;
    for (uint64_t pfn = gpa / GM_PAGE_SIZE; pfn <= (gpa + len - 1) / GM_PAGE_SIZE; pfn++)
        if (private_bit(gm, pfn))
            return false;
    return true;
}

void *gm_span(const struct guest_mem *gm, uint64_t gpa, uint64_t len)
{
    void *p = gm_span_loader(gm, gpa, len);
    if (!p || !gm_range_shared(gm, gpa, len))
        return NULL;
    return p;
}

int gm_read(const struct guest_mem *gm, uint64_t gpa, void *dst, uint64_t len)
{
    const void *p = gm_span(gm, gpa, len);
    if (!p)
        return -1;
    memcpy(dst, p, len);
    return 0;
}

int gm_write(const struct guest_mem *gm, uint64_t gpa, const void *src, uint64_t len)
{
    void *p = gm_span(gm, gpa, len);
    if (!p)
        return -1;
    memcpy(p, src, len);
    return 0;
}

int gm_enable_private(struct guest_mem *gm)
{
    uint64_t pages = (gm->gpa_end + GM_PAGE_SIZE - 1) / GM_PAGE_SIZE;
    uint64_t words = (pages + 63) / 64;
    if (gm->private_bits && gm->pins)
        pthread_mutex_destroy(&gm->pins->lock);
    free(gm->private_bits);
    gm->pins = NULL;
    /* One block: the bitmap, then the pin list (so freeing private_bits frees both). */
    gm->private_bits = malloc(words * sizeof(uint64_t) + sizeof(struct gm_pins));
    if (!gm->private_bits)
        return -1;
    gm->pins = (struct gm_pins *)(gm->private_bits + words);
    memset(gm->pins, 0, sizeof(*gm->pins));
    pthread_mutex_init(&gm->pins->lock, NULL);
    memset(gm->private_bits, 0xff, words * sizeof(uint64_t));
    return 0;
}

/* A conversion to private revokes every pin overlapping it. The bits are already set, so a pin
 * taken after this lock is released sees them and is refused; one taken before is on the list. */
static void revoke_pins(const struct guest_mem *gm, uint64_t gpa, uint64_t len)
{
    struct gm_pins *ps = gm->pins;
    if (!ps || !gm->private_bits)
        return;
    uint64_t n = 0;
    pthread_mutex_lock(&ps->lock);
    for (struct gm_pin *p = ps->head; p; p = p->next)
        if (p->gpa < gpa + len && gpa < p->gpa + p->len && !p->revoked) {
            p->revoked = true;
            n++;
        }
    pthread_mutex_unlock(&ps->lock);
    if (n)
        __atomic_fetch_add(&ps->revoked, n, __ATOMIC_RELAXED);
}

int gm_set_private(struct guest_mem *gm, uint64_t gpa, uint64_t len, bool is_private)
{
    if (!gm->private_bits || len == 0 || gpa + len < gpa || gpa + len > gm->gpa_end)
        return -1;
    for (uint64_t pfn = gpa / GM_PAGE_SIZE; pfn <= (gpa + len - 1) / GM_PAGE_SIZE; pfn++) {
        if (is_private)
            __atomic_fetch_or(&gm->private_bits[pfn / 64], 1ULL << (pfn % 64), __ATOMIC_ACQ_REL);
        else
            __atomic_fetch_and(&gm->private_bits[pfn / 64], ~(1ULL << (pfn % 64)),
                               __ATOMIC_ACQ_REL);
    }
    if (is_private)
        revoke_pins(gm, gpa, len);
    return 0;
}

void *gm_pin(const struct guest_mem *gm, struct gm_pin *pin, uint64_t gpa, uint64_t len)
{
    *pin = (struct gm_pin){.gpa = gpa, .len = len};
    struct gm_pins *ps = gm->pins;
    if (!gm->private_bits || !ps) /* plain VM: nothing converts under the device */
        return gm_span(gm, gpa, len);
    pthread_mutex_lock(&ps->lock);
    void *p = gm_span(gm, gpa, len); /* checked under the lock revoke_pins takes */
    if (p) {
        pin->tracked = true;
        pin->next = ps->head;
        if (ps->head)
            ps->head->prev = pin;
        ps->head = pin;
    }
    pthread_mutex_unlock(&ps->lock);
    return p;
}

bool gm_unpin(const struct guest_mem *gm, struct gm_pin *pin)
{
    if (!pin->tracked)
        return true;
    struct gm_pins *ps = gm->pins;
    pthread_mutex_lock(&ps->lock);
    if (pin->prev)
        pin->prev->next = pin->next;
    else
        ps->head = pin->next;
    if (pin->next)
        pin->next->prev = pin->prev;
    bool kept = !pin->revoked;
    pthread_mutex_unlock(&ps->lock);
    pin->tracked = false;
    pin->prev = pin->next = NULL;
    return kept;
}

uint64_t gm_revoked_pins(const struct guest_mem *gm)
{
    return gm->pins && gm->private_bits ? __atomic_load_n(&gm->pins->revoked, __ATOMIC_RELAXED) : 0;
}

bool gm_is_private(const struct guest_mem *gm, uint64_t gpa)
{
    if (!gm->private_bits || gpa >= gm->gpa_end)
        return false;
    return private_bit(gm, gpa / GM_PAGE_SIZE);
}
