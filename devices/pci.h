/* pci.h: PCI segment 0: host bridge, type-1 config access (0xCF8/0xCFC), BARs and MSI-X. */
#ifndef COCOON_PCI_H
#define COCOON_PCI_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vmm/base/bus.h"
#include "vmm/base/memory.h"

#define PCI_MAX_SLOTS 32
/* 00:1f.0 is the chipset's ISA/LPC bridge (devices/q35.c); hot-plugged devices never get it. */
#define PCI_PLATFORM_SLOT 31

#define PCI_VENDOR_INTEL       0x8086
#define PCI_DEVICE_Q35_MCH     0x29C0 /* Q35 host bridge (QEMU's "q35" machine) */
#define PCI_DEVICE_ICH9_LPC    0x2918 /* ICH9 LPC/ISA bridge at 00:1f.0 */
#define PCI_VENDOR_QEMU_SUBSYS 0x1af4 /* QEMU's subsystem vendor (SeaBIOS: PF_QEMU) */
#define PCI_SUBSYS_QEMU        0x1100
#define PCI_MMIO_START         GM_LOW_RAM_END /* BARs are allocated in [PCI_MMIO_START, PCI_MMIO_END) */
#define PCI_MMIO_END           0xFEC00000ULL
#define PCI_MSIX_MAX           64
#define PCI_NO_VECTOR          0xFFFF

/* Interrupts and doorbells, implemented by the VMM over KVM (vmm/msi.c: GSI routing + irqfd,
 * ioeventfd) and by fakes in unit tests, so devices/ stays KVM-agnostic. Every call is
 * thread-safe. */
struct pci_irq_ops {
    /* Allocates one MSI route; returns a handle >= 0, or -1. */
    int (*msi_alloc)(void *ctx);
    /* Points the route at the message (address, data). Returns 0 or -1. */
    int (*msi_set)(void *ctx, int handle, uint64_t addr, uint32_t data);
    /* Delivers the message now. */
    void (*msi_fire)(void *ctx, int handle);
    void (*msi_free)(void *ctx, int handle);
    /* Makes guest writes to MMIO [addr, addr+len) signal eventfd `fd` instead of exiting to the
     * VMM (len 0: any access size). Returns 0, or -1 (the writes then arrive as bus MMIO). */
    int (*doorbell_attach)(void *ctx, int fd, uint64_t addr, uint32_t len);
    void (*doorbell_detach)(void *ctx, int fd, uint64_t addr, uint32_t len);
};

struct pci_irq {
    const struct pci_irq_ops *ops;
    void *ctx;
};

struct pci_dev;

/* Optional per-device hooks (const table). */
struct pci_dev_ops {
    /* BAR `bar` moved from old_addr to new_addr (0 = unmapped). Called with the root's config
     * lock held, never the device lock. */
    void (*bar_moved)(struct pci_dev *dev, unsigned bar, uint64_t old_addr, uint64_t new_addr);
};

struct pci_bar {
    uint64_t size;     /* power of two >= 4 KiB; 0 = BAR absent */
    uint64_t mapped;   /* GPA currently claimed on the MMIO bus, 0 = none */
    uint64_t assigned; /* GPA pci_root_attach gave it, reserved until detach (0 = none) */
    bus_handler_fn fn;
    void *opaque;
};

struct pci_msix_entry {
    uint32_t addr_lo, addr_hi, data, ctrl;
};

struct pci_msix {
    uint16_t nr; /* vectors; 0 = no MSI-X capability */
    uint8_t cap; /* config-space offset of the capability */
    uint8_t bar; /* BAR holding table and PBA */
    uint32_t table_off, pba_off;
    bool enabled, func_masked;
    uint64_t pending; /* PBA */
    struct pci_msix_entry entry[PCI_MSIX_MAX];
    int route[PCI_MSIX_MAX];
};

/* One function at 0000:00:slot.0. Embed it in the device's transport struct. */
struct pci_dev {
    struct pci_root *root;
    int slot; /* -1 until attached */
    uint8_t cfg[256];
    uint8_t wmask[256];
    uint8_t next_cap; /* next free config offset for a capability */
    uint8_t last_cap; /* offset of the last capability, 0 = none */
    struct pci_bar bar[6];
    struct pci_msix msix;
    pthread_mutex_t lock; /* device state shared by vCPU threads and the loop thread */
    const struct pci_dev_ops *ops;
    void *opaque;
    /* Extra config-space access hook for device-specific capabilities (root config lock held);
     * returns true when it handled the access. */
    bool (*cfg_hook)(struct pci_dev *dev, uint32_t off, void *data, uint32_t len, bool is_write);
};

struct pci_root;

/* Creates segment 0 with a host bridge at 00:00.0 and claims ports 0xCF8 and 0xCFC..0xCFF on
 * pio. BARs are claimed on mmio. Returns NULL on allocation or claim failure. */
struct pci_root *pci_root_new(struct bus *pio, struct bus *mmio, const struct pci_irq *irq);

/* Releases the ports and BAR claims; attached devices must be detached (or freed) first. */
void pci_root_free(struct pci_root *root);

const struct pci_irq *pci_root_irq(const struct pci_root *root);

/* Fills a type-0 header (ids, class, revision, subsystem). */
void pci_dev_init(struct pci_dev *dev, uint16_t vendor, uint16_t device, uint32_t class_code,
                  uint8_t revision, uint16_t subsys_vendor, uint16_t subsys_id);

/* Declares 32-bit memory BAR `bar` of `size` bytes (power of two, >= 4 KiB) served by fn. */
int pci_dev_set_bar(struct pci_dev *dev, unsigned bar, uint64_t size, bus_handler_fn fn,
                    void *opaque);

/* Appends a capability (cap[0] = id; cap[1] is filled with the link). Bytes in wmask_bytes (may
 * be NULL) are guest-writable. Returns the config offset, or -1 if space ran out. */
int pci_dev_add_cap(struct pci_dev *dev, const void *cap, uint8_t len, const uint8_t *wmask_bytes);

/* Adds an MSI-X capability with nr vectors, table and PBA in BAR `bar` at the given offsets, and
 * allocates one MSI route per vector. Returns 0 or -1. */
int pci_dev_add_msix(struct pci_dev *dev, uint16_t nr, unsigned bar, uint32_t table_off,
                     uint32_t pba_off);

/* Config access through an ECAM window: offset = bus << 20 | dev << 15 | fn << 12 | reg. Only
 * bus 0 function 0 answers; registers past 255 read 0. Takes the root's config lock. */
void pci_root_ecam_access(struct pci_root *root, uint64_t offset, void *data, uint32_t len,
                          bool is_write);

/* The host bridge at 00:00.0 (its registers are the chipset's: devices/q35.c). */
struct pci_dev *pci_root_host_bridge(struct pci_root *root);

/* Like pci_root_attach, at slot `slot` (or the first free slot below PCI_PLATFORM_SLOT when
 * slot < 0). Returns -1 if that slot is taken. */
int pci_root_attach_at(struct pci_root *root, struct pci_dev *dev, int slot, char *bdf,
                       size_t bdflen);

/* Places the device in the first free slot, allocates its BARs in the MMIO hole and writes
 * "0000:00:DD.0" to bdf. Returns 0 or -1 (no slot, no space). */
int pci_root_attach(struct pci_root *root, struct pci_dev *dev, char *bdf, size_t bdflen);

/* Bit n set when slot n (0 = the host bridge) holds a function. Takes the config lock. */
uint32_t pci_root_slot_mask(struct pci_root *root);

/* Unmaps its BARs, frees its MSI routes and empties the slot. */
void pci_root_detach(struct pci_root *root, struct pci_dev *dev);

/* MSI-X table/PBA access from the device's BAR handler: returns true if [offset, offset+len)
 * of BAR `bar` is the table or PBA (then the access was served). Takes dev->lock. */
bool pci_msix_access(struct pci_dev *dev, unsigned bar, uint64_t offset, void *data, uint32_t len,
                     bool is_write);

/* Signals vector v: delivered now, or left pending in the PBA while masked or disabled. Returns
 * false when v is not a valid vector or MSI-X is disabled. Caller holds dev->lock. */
bool pci_msix_notify_locked(struct pci_dev *dev, uint16_t v);

#endif
