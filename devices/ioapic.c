/* ioapic.c: the userspace I/O APIC for split-irqchip guests; pins become MSI messages. */
#include "devices/ioapic.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define REG_SEL 0x00
#define REG_WIN 0x10
#define REG_EOI 0x40

#define IDX_ID  0x00
#define IDX_VER 0x01
#define IDX_ARB 0x02
#define IDX_RED 0x10 /* 0x10 + 2*pin: low word, +1: high word */

#define VERSION 0x20 /* has the EOI register, as QEMU's default */

/* Redirection entry bits (82093AA datasheet 3.2.4). */
#define RTE_VECTOR      0xffULL
#define RTE_DELIV_SHIFT 8
#define RTE_DEST_LOGIC  (1ULL << 11)
#define RTE_DELIV_STAT  (1ULL << 12)
#define RTE_REMOTE_IRR  (1ULL << 14)
#define RTE_LEVEL       (1ULL << 15)
#define RTE_MASKED      (1ULL << 16)
#define RTE_DEST_SHIFT  56
#define RTE_RO_BITS     (RTE_DELIV_STAT | RTE_REMOTE_IRR)

#define MSI_ADDR_BASE 0xfee00000ULL

struct ioapic {
    pthread_mutex_t lock;
    const struct ioapic_ops *ops;
    void *opaque;
    uint32_t sel; /* IOREGSEL */
    uint32_t id;  /* bits 27:24 of register 0 */
    uint32_t irr; /* pins whose input is asserted (level) or pending (edge) */
    uint64_t rte[IOAPIC_PINS];
};

struct ioapic *ioapic_new(const struct ioapic_ops *ops, void *opaque)
{
    struct ioapic *io = calloc(1, sizeof(*io));
    if (!io)
        return NULL;
    pthread_mutex_init(&io->lock, NULL);
    io->ops = ops;
    io->opaque = opaque;
    for (unsigned i = 0; i < IOAPIC_PINS; i++)
        io->rte[i] = RTE_MASKED;
    return io;
}

void ioapic_free(struct ioapic *io)
{
    if (!io)
        return;
    pthread_mutex_destroy(&io->lock);
    free(io);
}

/* The MSI an entry stands for, as QEMU's ioapic_entry_parse: destination ID and mode in the
 * address, vector, delivery mode and trigger mode in the data. */
static void rte_msi(uint64_t e, uint64_t *addr, uint32_t *data)
{
    *addr = MSI_ADDR_BASE | ((e >> RTE_DEST_SHIFT) & 0xff) << 12 |
            ((e & RTE_DEST_LOGIC) ? 1ULL << 2 : 0);
    *data = (uint32_t)(e & RTE_VECTOR) | (uint32_t)((e >> RTE_DELIV_SHIFT) & 7) << 8 |
            ((e & RTE_LEVEL) ? 1u << 15 : 0);
}

static void publish_route(struct ioapic *io, unsigned pin)
{
    uint64_t addr;
    uint32_t data;
    rte_msi(io->rte[pin], &addr, &data);
    io->ops->route(io->opaque, pin, addr, data, !(io->rte[pin] & RTE_MASKED));
}

/* Delivers every pending, unmasked pin; a level pin then waits for its EOI (Remote IRR), as
 * QEMU's ioapic_service. Caller holds the lock. */
static void service(struct ioapic *io)
{
    for (unsigned pin = 0; pin < IOAPIC_PINS; pin++) {
        uint64_t e = io->rte[pin];
        if (!(io->irr & (1u << pin)) || (e & RTE_MASKED))
            continue;
        if (e & RTE_LEVEL) {
            if (e & RTE_REMOTE_IRR)
                continue; /* the guest has not EOI'd the last one: coalesce */
            io->rte[pin] |= RTE_REMOTE_IRR;
        } else {
            io->irr &= ~(1u << pin);
        }
        uint64_t addr;
        uint32_t data;
        rte_msi(e, &addr, &data);
        io->ops->fire(io->opaque, pin, addr, data);
    }
}

int ioapic_set_irq(struct ioapic *io, unsigned pin, bool level)
{
    if (pin >= IOAPIC_PINS)
        return -1;
    pthread_mutex_lock(&io->lock);
    uint32_t bit = 1u << pin;
    uint64_t e = io->rte[pin];
    if (e & RTE_LEVEL) {
        if (level) {
            io->irr |= bit;
            service(io);
        } else {
            io->irr &= ~bit;
        }
    } else if (level && !(e & RTE_MASKED)) {
        /* 82093AA: an edge on a masked pin is ignored. */
        io->irr |= bit;
        service(io);
    }
    pthread_mutex_unlock(&io->lock);
    return 0;
}

static void eoi_locked(struct ioapic *io, uint8_t vector)
{
    bool again = false;
    for (unsigned pin = 0; pin < IOAPIC_PINS; pin++) {
        uint64_t e = io->rte[pin];
        if ((e & RTE_VECTOR) != vector || !(e & RTE_LEVEL) || !(e & RTE_REMOTE_IRR))
            continue;
        io->rte[pin] &= ~RTE_REMOTE_IRR;
        again |= (io->irr & (1u << pin)) != 0;
    }
    if (again)
        service(io);
}

void ioapic_eoi(struct ioapic *io, uint8_t vector)
{
    pthread_mutex_lock(&io->lock);
    eoi_locked(io, vector);
    pthread_mutex_unlock(&io->lock);
}

static uint32_t reg_read(struct ioapic *io)
{
    uint32_t idx = io->sel & 0xff;
    switch (idx) {
    case IDX_ID:
        return io->id;
    case IDX_VER:
        return VERSION | (uint32_t)(IOAPIC_PINS - 1) << 16;
    case IDX_ARB:
        return 0;
    default:
        if (idx >= IDX_RED && idx < IDX_RED + 2 * IOAPIC_PINS) {
            uint64_t e = io->rte[(idx - IDX_RED) / 2];
            return (idx & 1) ? (uint32_t)(e >> 32) : (uint32_t)e;
        }
        return 0xffffffffu;
    }
}

static void reg_write(struct ioapic *io, uint32_t val)
{
    uint32_t idx = io->sel & 0xff;
    if (idx == IDX_ID) {
        io->id = val & 0x0f000000u;
        return;
    }
    if (idx < IDX_RED || idx >= IDX_RED + 2 * IOAPIC_PINS)
        return; /* version, arbitration and unknown registers are read-only */
    unsigned pin = (idx - IDX_RED) / 2;
    uint64_t e = io->rte[pin];
    if (idx & 1)
        e = (e & 0xffffffffULL) | (uint64_t)val << 32;
    else
        e = (e & ~0xffffffffULL) | val;
    e = (e & ~RTE_RO_BITS) | (io->rte[pin] & RTE_RO_BITS);
    if (!(e & RTE_LEVEL))
        e &= ~RTE_REMOTE_IRR; /* an edge pin has no Remote IRR (QEMU: ioapic_fix_edge_remote_irr) */
    io->rte[pin] = e;
    publish_route(io, pin);
    service(io); /* unmasking a pin whose level input is asserted delivers it */
}

void ioapic_mmio(void *opaque, uint64_t offset, void *data, uint32_t len, bool is_write)
{
    struct ioapic *io = opaque;
    uint32_t v = 0xffffffffu;
    if (len != 4 || (offset != REG_SEL && offset != REG_WIN && offset != REG_EOI)) {
        if (!is_write)
            memset(data, 0xff, len);
        return;
    }
    if (is_write)
        memcpy(&v, data, 4);
    pthread_mutex_lock(&io->lock);
    if (offset == REG_SEL) {
        if (is_write)
            io->sel = v & 0xff;
        else
            v = io->sel;
    } else if (offset == REG_WIN) {
        if (is_write)
            reg_write(io, v);
        else
            v = reg_read(io);
    } else if (is_write) { /* REG_EOI */
        eoi_locked(io, (uint8_t)v);
    }
    pthread_mutex_unlock(&io->lock);
    if (!is_write)
        memcpy(data, &v, 4);
}

uint64_t ioapic_entry(struct ioapic *io, unsigned pin)
{
    if (pin >= IOAPIC_PINS)
        return 0;
    pthread_mutex_lock(&io->lock);
    uint64_t e = io->rte[pin];
    pthread_mutex_unlock(&io->lock);
    return e;
}
