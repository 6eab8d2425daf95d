/* rt.c: test-guest runtime services: console, exit, start info, exceptions, ring 3, SMP, PCI. */
#include "rt.h"

#define KCODE64 0x08
#define TSS_SEL 0x28

#define LAPIC_BASE     0xFEE00000ULL
#define LAPIC_ID       0x20
#define LAPIC_SVR      0xF0
#define LAPIC_ICR_LOW  0x300
#define LAPIC_ICR_HIGH 0x310

#define PVH_MAGIC 0x336ec578U

struct __attribute__((packed)) hvm_start_info {
    uint32_t magic, version, flags, nr_modules;
    uint64_t modlist_paddr, cmdline_paddr, rsdp_paddr, memmap_paddr;
    uint32_t memmap_entries, reserved;
};

struct __attribute__((packed)) hvm_memmap_entry {
    uint64_t addr, size;
    uint32_t type, reserved;
};

struct __attribute__((packed)) tss64 {
    uint32_t reserved0;
    uint64_t rsp[3];
    uint64_t reserved1;
    uint64_t ist[7];
    uint64_t reserved2;
    uint16_t reserved3;
    uint16_t iomap_base;
};

struct __attribute__((packed)) idt_gate {
    uint16_t off_lo, sel;
    uint8_t ist, attr;
    uint16_t off_mid;
    uint32_t off_hi, zero;
};

struct __attribute__((packed)) desc_ptr {
    uint16_t limit;
    uint64_t base;
};

/* From start.S. */
extern uint64_t rt_start_info;
extern uint64_t rt_gdt_tss[2];
extern const uint64_t rt_isr_table[32];
extern volatile uint32_t rt_ap_next;
extern char ap_tramp_start[], ap_tramp_end[], _end[];
extern void rt_user_return(void) __attribute__((noreturn));
extern char rt_user_exit_point[];
extern uint64_t rt_run_user_on(uint64_t (*fn)(uint64_t), uint64_t arg, void *stack_top);

struct tss64 rt_tss;
static struct idt_gate idt[256];
static struct desc_ptr idt_desc;
static uint8_t user_stack[65536] __attribute__((aligned(16)));
static volatile uint32_t console_lock;
static void (*volatile ap_fn)(unsigned slot);
static volatile uint32_t ap_reported;

/* ---- libc bits. ---- */

void *memset(void *d, int c, size_t n)
{
    uint8_t *p = d;
    while (n--)
        *p++ = (uint8_t)c;
    return d;
}

void *memcpy(void *d, const void *s, size_t n)
{
    uint8_t *p = d;
    const uint8_t *q = s;
    while (n--)
        *p++ = *q++;
    return d;
}

void *memmove(void *d, const void *s, size_t n)
{
    uint8_t *p = d;
    const uint8_t *q = s;
    if (p < q)
        return memcpy(d, s, n);
    while (n--)
        p[n] = q[n];
    return d;
}

int memcmp(const void *a, const void *b, size_t n)
{
    const uint8_t *p = a, *q = b;
    for (size_t i = 0; i < n; i++)
        if (p[i] != q[i])
            return p[i] < q[i] ? -1 : 1;
    return 0;
}

size_t strlen(const char *s)
{
    size_t n = 0;
    while (s[n])
        n++;
    return n;
}

int strncmp(const char *a, const char *b, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (a[i] != b[i])
            return (unsigned char)a[i] < (unsigned char)b[i] ? -1 : 1;
        if (!a[i])
            return 0;
    }
    return 0;
}

/* ---- Console. ---- */

static void lock_console(void)
{
    while (__atomic_exchange_n(&console_lock, 1, __ATOMIC_ACQUIRE))
        rt_pause();
}

static void unlock_console(void)
{
    __atomic_store_n(&console_lock, 0, __ATOMIC_RELEASE);
}

static void putc_raw(char c)
{
    if (c == '\n')
        outb(RT_PORT_UART, '\r');
    outb(RT_PORT_UART, (uint8_t)c);
}

void rt_putc(char c)
{
    lock_console();
    putc_raw(c);
    unlock_console();
}

void rt_puts(const char *s)
{
    lock_console();
    while (*s)
        putc_raw(*s++);
    unlock_console();
}

static void put_num(uint64_t v, unsigned base, int width, char pad, int neg)
{
    char buf[24];
    int n = 0;
    do {
        unsigned d = (unsigned)(v % base);
        buf[n++] = (char)(d < 10 ? '0' + d : 'a' + d - 10);
        v /= base;
    } while (v);
    if (neg)
        buf[n++] = '-';
    while (n < width--)
        putc_raw(pad);
    while (n)
        putc_raw(buf[--n]);
}

void rt_vprintf(const char *fmt, va_list ap)
{
    lock_console();
    for (; *fmt; fmt++) {
        if (*fmt != '%') {
            putc_raw(*fmt);
            continue;
        }
        fmt++;
        char pad = ' ';
        int width = 0, longs = 0;
        if (*fmt == '0')
            pad = '0';
        while (*fmt >= '0' && *fmt <= '9')
            width = width * 10 + (*fmt++ - '0');
        while (*fmt == 'l' || *fmt == 'z')
            longs++, fmt++;
        switch (*fmt) {
        case 's': {
            const char *s = va_arg(ap, const char *);
            for (s = s ? s : "(null)"; *s; s++)
                putc_raw(*s);
            break;
        }
        case 'c':
            putc_raw((char)va_arg(ap, int));
            break;
        case 'd':
        case 'i': {
            int64_t v = longs ? va_arg(ap, int64_t) : va_arg(ap, int);
            put_num(v < 0 ? (uint64_t)-v : (uint64_t)v, 10, width, pad, v < 0);
            break;
        }
        case 'u':
        case 'x': {
            uint64_t v = longs ? va_arg(ap, uint64_t) : va_arg(ap, unsigned);
            put_num(v, *fmt == 'u' ? 10 : 16, width, pad, 0);
            break;
        }
        case 'p':
            putc_raw('0');
            putc_raw('x');
            put_num((uint64_t)(uintptr_t)va_arg(ap, void *), 16, width, pad, 0);
            break;
        case '%':
            putc_raw('%');
            break;
        default:
            putc_raw('?');
            if (!*fmt)
                fmt--;
            break;
        }
    }
    unlock_console();
}

void rt_printf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    rt_vprintf(fmt, ap);
    va_end(ap);
}

/* ---- Progress and exit. ---- */

void rt_progress(uint8_t code)
{
    outb(RT_PORT_TIMER, code);
}

void rt_exit(uint8_t status)
{
    for (;;) {
        outb(RT_PORT_EXIT, status);
        __asm__ volatile("cli; hlt");
    }
}

void rt_fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    rt_puts("FAIL: ");
    rt_vprintf(fmt, ap);
    rt_puts("\n");
    va_end(ap);
    rt_exit(RT_EXIT_FAILURE);
}

/* ---- Boot information. ---- */

static const struct hvm_start_info *start_info(void)
{
    const struct hvm_start_info *si = (const void *)(uintptr_t)rt_start_info;
    return si && si->magic == PVH_MAGIC ? si : 0;
}

const char *rt_cmdline(void)
{
    const struct hvm_start_info *si = start_info();
    return si && si->cmdline_paddr ? (const char *)(uintptr_t)si->cmdline_paddr : "";
}

uint64_t rt_cmdline_uint(const char *key, uint64_t def)
{
    const char *s = rt_cmdline();
    size_t klen = strlen(key);
    for (const char *p = s; *p; p++) {
        if ((p != s && p[-1] != ' ') || strncmp(p, key, klen) || p[klen] != '=')
            continue;
        p += klen + 1;
        uint64_t v = 0;
        unsigned base = 10;
        if (p[0] == '0' && p[1] == 'x')
            base = 16, p += 2;
        for (;; p++) {
            unsigned d;
            if (*p >= '0' && *p <= '9')
                d = (unsigned)(*p - '0');
            else if (base == 16 && *p >= 'a' && *p <= 'f')
                d = (unsigned)(*p - 'a' + 10);
            else
                break;
            v = v * base + d;
        }
        return v;
    }
    return def;
}

uint64_t rt_ram_size(void)
{
    const struct hvm_start_info *si = start_info();
    if (!si)
        return 0;
    const struct hvm_memmap_entry *e = (const void *)(uintptr_t)si->memmap_paddr;
    uint64_t total = 0;
    for (uint32_t i = 0; i < si->memmap_entries; i++)
        if (e[i].type == 1)
            total += e[i].size;
    return total;
}

uint64_t rt_free_start(void)
{
    return ((uint64_t)(uintptr_t)_end + 4095) & ~4095ULL;
}

/* ---- Exceptions, IDT, TSS. ---- */

void rt_exception(const uint64_t *frame)
{
    /* The #UD that ends an rt_run_user call (frame: vector, error, rip, cs, ...). */
    if (frame[0] == 6 && frame[2] == (uint64_t)(uintptr_t)rt_user_exit_point && (frame[3] & 3) == 3)
        rt_user_return();
    rt_printf("\nexception %lu (error 0x%lx) at rip 0x%lx cs 0x%lx rsp 0x%lx\n", frame[0], frame[1],
              frame[2], frame[3], frame[5]);
    rt_exit(RT_EXIT_EXCEPTION);
}

static void set_gate(unsigned vec, uint64_t handler, uint8_t attr)
{
    idt[vec] = (struct idt_gate){
        .off_lo = (uint16_t)handler,
        .sel = KCODE64,
        .ist = 0,
        .attr = attr,
        .off_mid = (uint16_t)(handler >> 16),
        .off_hi = (uint32_t)(handler >> 32),
    };
}

static void load_idt(void)
{
    __asm__ volatile("lidt %0" : : "m"(idt_desc));
}

static void setup_cpu_tables(void)
{
    for (unsigned v = 0; v < 32; v++)
        set_gate(v, rt_isr_table[v], 0x8E); /* interrupt gate, DPL 0 */
    idt_desc.limit = sizeof(idt) - 1;
    idt_desc.base = (uint64_t)(uintptr_t)idt;
    load_idt();

    uint64_t base = (uint64_t)(uintptr_t)&rt_tss, limit = sizeof(rt_tss) - 1;
    rt_tss.iomap_base = sizeof(rt_tss);
    rt_gdt_tss[0] = (limit & 0xFFFF) | ((base & 0xFFFFFF) << 16) | (0x89ULL << 40) |
                    ((base >> 24 & 0xFF) << 56);
    rt_gdt_tss[1] = base >> 32;
    __asm__ volatile("ltr %w0" : : "r"(TSS_SEL));
}

void rt_main(void)
{
    setup_cpu_tables();
    int rc = main();
    rt_exit((uint8_t)rc);
}

/* ---- Ring 3. ---- */

uint64_t rt_run_user(uint64_t (*fn)(uint64_t), uint64_t arg)
{
    return rt_run_user_on(fn, arg, user_stack + sizeof(user_stack));
}

/* ---- SMP. ---- */

static uint8_t mp_sum(const uint8_t *p, size_t n)
{
    uint8_t s = 0;
    while (n--)
        s = (uint8_t)(s + *p++);
    return s;
}

static const uint8_t *find_mpf(uint64_t start, uint64_t len)
{
    for (uint64_t a = start; a + 16 <= start + len; a += 16) {
        const uint8_t *p = (const uint8_t *)(uintptr_t)a;
        if (!memcmp(p, "_MP_", 4) && mp_sum(p, 16) == 0)
            return p;
    }
    return 0;
}

unsigned rt_mp_cpus(uint8_t *apic_ids, unsigned max)
{
    const uint8_t *mpf = find_mpf(0x9FC00, 0x400);
    if (!mpf)
        mpf = find_mpf(0xF0000, 0x10000);
    if (!mpf)
        return 0;
    uint32_t cfg_addr;
    memcpy(&cfg_addr, mpf + 4, 4);
    const uint8_t *cfg = (const uint8_t *)(uintptr_t)cfg_addr;
    uint16_t len, count;
    memcpy(&len, cfg + 4, 2);
    memcpy(&count, cfg + 34, 2);
    if (memcmp(cfg, "PCMP", 4) || mp_sum(cfg, len) != 0)
        return 0;
    unsigned n = 0;
    const uint8_t *e = cfg + 44, *end = cfg + len;
    for (unsigned i = 0; i < count && e < end; i++) {
        if (e[0] == 0) { /* processor */
            if ((e[3] & 1) && n < max)
                apic_ids[n++] = e[1];
            e += 20;
        } else {
            e += 8;
        }
    }
    return n;
}

unsigned rt_apic_id(void)
{
    return mmio_read32(LAPIC_BASE + LAPIC_ID) >> 24;
}

static void lapic_ipi(unsigned apic_id, uint32_t icr)
{
    mmio_write32(LAPIC_BASE + LAPIC_ICR_HIGH, apic_id << 24);
    mmio_write32(LAPIC_BASE + LAPIC_ICR_LOW, icr);
    while (mmio_read32(LAPIC_BASE + LAPIC_ICR_LOW) & (1 << 12)) /* delivery pending */
        rt_pause();
}

void rt_ap_main(unsigned slot)
{
    load_idt();
    if (ap_fn)
        ap_fn(slot);
    for (;;)
        __asm__ volatile("cli; hlt");
}

void rt_ap_report_in(void)
{
    __atomic_fetch_add(&ap_reported, 1, __ATOMIC_SEQ_CST);
}

bool rt_start_ap(unsigned apic_id, void (*fn)(unsigned slot))
{
    uint32_t before = ap_reported;
    memcpy((void *)(uintptr_t)RT_AP_TRAMPOLINE, ap_tramp_start,
           (size_t)(ap_tramp_end - ap_tramp_start));
    ap_fn = fn;
    mmio_write32(LAPIC_BASE + LAPIC_SVR, 0x1FF);           /* software-enable the local APIC */
    lapic_ipi(apic_id, 0x4500);                            /* INIT */
    lapic_ipi(apic_id, 0x4600 | (RT_AP_TRAMPOLINE >> 12)); /* STARTUP */
    for (uint64_t spin = 0; spin < 20000000 && ap_reported == before; spin++)
        rt_pause();
    return ap_reported != before;
}

unsigned rt_start_aps(void (*fn)(unsigned slot))
{
    uint8_t ids[RT_MAX_CPUS];
    unsigned n = rt_mp_cpus(ids, RT_MAX_CPUS), self = rt_apic_id(), started = 0;
    memcpy((void *)(uintptr_t)RT_AP_TRAMPOLINE, ap_tramp_start,
           (size_t)(ap_tramp_end - ap_tramp_start));
    ap_fn = fn;
    mmio_write32(LAPIC_BASE + LAPIC_SVR, 0x1FF); /* software-enable the local APIC */
    for (unsigned i = 0; i < n; i++) {
        if (ids[i] == self)
            continue;
        lapic_ipi(ids[i], 0x4500);                            /* INIT */
        lapic_ipi(ids[i], 0x4600 | (RT_AP_TRAMPOLINE >> 12)); /* STARTUP */
        started++;
    }
    for (uint64_t spin = 0; spin < 20000000 && ap_reported < started; spin++)
        rt_pause();
    return ap_reported;
}

/* ---- PCI configuration mechanism #1. ---- */

static void pci_select(unsigned bus, unsigned dev, unsigned fn, unsigned off)
{
    outl(0xCF8,
         0x80000000U | (bus & 0xFF) << 16 | (dev & 0x1F) << 11 | (fn & 7) << 8 | (off & 0xFC));
}

uint32_t pci_cfg_read32(unsigned bus, unsigned dev, unsigned fn, unsigned off)
{
    pci_select(bus, dev, fn, off);
    return inl(0xCFC);
}

uint16_t pci_cfg_read16(unsigned bus, unsigned dev, unsigned fn, unsigned off)
{
    pci_select(bus, dev, fn, off);
    return inw((uint16_t)(0xCFC + (off & 2)));
}

uint8_t pci_cfg_read8(unsigned bus, unsigned dev, unsigned fn, unsigned off)
{
    pci_select(bus, dev, fn, off);
    return inb((uint16_t)(0xCFC + (off & 3)));
}

void pci_cfg_write32(unsigned bus, unsigned dev, unsigned fn, unsigned off, uint32_t v)
{
    pci_select(bus, dev, fn, off);
    outl(0xCFC, v);
}

void pci_cfg_write16(unsigned bus, unsigned dev, unsigned fn, unsigned off, uint16_t v)
{
    pci_select(bus, dev, fn, off);
    outw((uint16_t)(0xCFC + (off & 2)), v);
}

void pci_cfg_write8(unsigned bus, unsigned dev, unsigned fn, unsigned off, uint8_t v)
{
    pci_select(bus, dev, fn, off);
    outb((uint16_t)(0xCFC + (off & 3)), v);
}
