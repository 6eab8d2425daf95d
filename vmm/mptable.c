/* mptable.c: the Intel MultiProcessor table (v1.4) that tells the guest its CPUs and IRQ wiring. */
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "vmm/loader.h"
#include "vmm/base/config.h"
#include "vmm/mptable.h"

#define MP_LAPIC_ADDR   0xFEE00000U
#define MP_IOAPIC_ADDR  0xFEC00000U
#define MP_APIC_VERSION 0x14
#define MP_IOAPIC_VER   0x11
#define MP_ISA_IRQS     16
#define MP_SPEC_REV     4

enum { MP_PROCESSOR = 0, MP_BUS, MP_IOAPIC, MP_INTSRC, MP_LINTSRC };
enum { MP_INT = 0, MP_NMI = 1, MP_EXTINT = 3 };

struct __attribute__((packed)) mpf_intel {
    char signature[4]; /* "_MP_" */
    uint32_t physptr;
    uint8_t length; /* in 16-byte units */
    uint8_t specification;
    uint8_t checksum;
    uint8_t feature[5];
};

struct __attribute__((packed)) mpc_table {
    char signature[4]; /* "PCMP" */
    uint16_t length;
    uint8_t spec;
    uint8_t checksum;
    char oem[8];
    char productid[12];
    uint32_t oemptr;
    uint16_t oemsize;
    uint16_t oemcount; /* number of entries */
    uint32_t lapic;
    uint16_t reserved_len;
    uint8_t reserved_sum;
    uint8_t reserved;
};

struct __attribute__((packed)) mpc_cpu {
    uint8_t type, apicid, apicver, cpuflag;
    uint32_t cpufeature, featureflag;
    uint32_t reserved[2];
};

struct __attribute__((packed)) mpc_bus {
    uint8_t type, busid;
    char bustype[6];
};

struct __attribute__((packed)) mpc_ioapic {
    uint8_t type, apicid, apicver, flags;
    uint32_t apicaddr;
};

struct __attribute__((packed)) mpc_intsrc {
    uint8_t type, irqtype;
    uint16_t irqflag;
    uint8_t srcbus, srcbusirq, dstapic, dstirq;
};

_Static_assert(sizeof(struct mpf_intel) == 16, "MP floating pointer is 16 bytes");
_Static_assert(sizeof(struct mpc_table) == 44, "MP config header is 44 bytes");
_Static_assert(sizeof(struct mpc_cpu) == 20, "MP processor entry is 20 bytes");
_Static_assert(sizeof(struct mpc_intsrc) == 8, "MP interrupt entry is 8 bytes");

static uint8_t mp_checksum(const uint8_t *p, size_t len)
{
    uint8_t sum = 0;
    for (size_t i = 0; i < len; i++)
        sum = (uint8_t)(sum + p[i]);
    return (uint8_t)-sum;
}

/* Appends one entry to the table under construction. */
struct mp_builder {
    uint8_t *buf;
    size_t len, cap;
    uint16_t count;
};

static void mp_put(struct mp_builder *b, const void *entry, size_t len)
{
    if (b->len + len > b->cap)
        return; /* the caller sized the buffer; never reached */
    memcpy(b->buf + b->len, entry, len);
    b->len += len;
    b->count++;
}

int mptable_write(const struct guest_mem *gm, unsigned nr_cpus, char *err, size_t errlen)
{
    if (nr_cpus == 0 || nr_cpus > CFG_MAX_CPUS) {
        snprintf(err, errlen, "MP table: %u CPUs is out of range", nr_cpus);
        return -1;
    }
    size_t cfg_len = sizeof(struct mpc_table) + nr_cpus * sizeof(struct mpc_cpu) +
                     sizeof(struct mpc_bus) + sizeof(struct mpc_ioapic) +
                     (MP_ISA_IRQS + 2) * sizeof(struct mpc_intsrc);
    size_t total = sizeof(struct mpf_intel) + cfg_len;
    uint8_t *base = gm_span_loader(gm, LAYOUT_EBDA, total);
    if (!base || LAYOUT_EBDA + total > 0x100000) {
        snprintf(err, errlen, "MP table does not fit below 1 MiB");
        return -1;
    }
    memset(base, 0, total);
    uint64_t cfg_gpa = LAYOUT_EBDA + sizeof(struct mpf_intel);
    struct mp_builder b = {.buf = base + sizeof(struct mpf_intel), .cap = cfg_len};
    b.len = sizeof(struct mpc_table);

    for (unsigned i = 0; i < nr_cpus; i++) {
        struct mpc_cpu cpu = {
            .type = MP_PROCESSOR,
            .apicid = (uint8_t)i,
            .apicver = MP_APIC_VERSION,
            .cpuflag = (uint8_t)(1 | (i == 0 ? 2 : 0)), /* enabled, BSP */
            .cpufeature = 0x600,                        /* family 6 */
            .featureflag = (1 << 0) | (1 << 9),         /* FPU, APIC */
        };
        mp_put(&b, &cpu, sizeof(cpu));
    }
    struct mpc_bus isa = {.type = MP_BUS, .busid = 0};
    memcpy(isa.bustype, "ISA   ", 6);
    mp_put(&b, &isa, sizeof(isa));
    uint8_t ioapic_id = (uint8_t)nr_cpus;
    struct mpc_ioapic ioapic = {.type = MP_IOAPIC,
                                .apicid = ioapic_id,
                                .apicver = MP_IOAPIC_VER,
                                .flags = 1,
                                .apicaddr = MP_IOAPIC_ADDR};
    mp_put(&b, &ioapic, sizeof(ioapic));
    /* ISA IRQ n on IOAPIC pin n, except the timer (IRQ 0) on pin 2, as KVM routes it. */
    for (uint8_t irq = 0; irq < MP_ISA_IRQS; irq++) {
        if (irq == 2)
            continue;
        struct mpc_intsrc src = {.type = MP_INTSRC,
                                 .irqtype = MP_INT,
                                 .srcbus = 0,
                                 .srcbusirq = irq,
                                 .dstapic = ioapic_id,
                                 .dstirq = irq == 0 ? 2 : irq};
        mp_put(&b, &src, sizeof(src));
    }
    struct mpc_intsrc extint = {.type = MP_INTSRC, .irqtype = MP_EXTINT, .dstapic = ioapic_id};
    mp_put(&b, &extint, sizeof(extint));
    struct mpc_intsrc lint0 = {.type = MP_LINTSRC, .irqtype = MP_EXTINT, .dstapic = 0xFF};
    struct mpc_intsrc lint1 = {.type = MP_LINTSRC, .irqtype = MP_NMI, .dstapic = 0xFF, .dstirq = 1};
    mp_put(&b, &lint0, sizeof(lint0));
    mp_put(&b, &lint1, sizeof(lint1));

    struct mpc_table hdr = {.length = (uint16_t)b.len,
                            .spec = MP_SPEC_REV,
                            .oemcount = b.count,
                            .lapic = MP_LAPIC_ADDR};
    memcpy(hdr.signature, "PCMP", 4);
    memcpy(hdr.oem, "COCOON  ", 8);
    memcpy(hdr.productid, "MICROVM     ", 12);
    memcpy(b.buf, &hdr, sizeof(hdr));
    b.buf[offsetof(struct mpc_table, checksum)] = mp_checksum(b.buf, b.len);

    struct mpf_intel mpf = {.physptr = (uint32_t)cfg_gpa, .length = 1, .specification = 4};
    memcpy(mpf.signature, "_MP_", 4);
    memcpy(base, &mpf, sizeof(mpf));
    base[offsetof(struct mpf_intel, checksum)] = mp_checksum(base, sizeof(mpf));
    return 0;
}
