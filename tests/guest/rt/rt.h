/* rt.h: the freestanding test-guest runtime: console, ports, MMIO/PCI, exit, ring 3, SMP. */
#ifndef COCOON_GUEST_RT_H
#define COCOON_GUEST_RT_H

/*
 * A test guest is a freestanding C program linked at 1 MiB and booted through cocoon's PVH
 * loader (tests/guest/rt/start.S carries the Xen PHYS32_ENTRY note). The runtime enters 64-bit
 * long mode from the PVH 32-bit entry, identity-maps the low 4 GiB with 2 MiB pages (all of them
 * user-accessible), installs exception handlers (an exception prints its vector and RIP and
 * exits with RT_EXIT_EXCEPTION), then calls the guest's `int main(void)`; main's return value
 * becomes the VMM's exit status. Interrupts stay disabled throughout.
 *
 * Speed: on hosts where KVM emulates ring-0 code (about a million instructions a second), run
 * bulk work (copying or checksumming MiBs) through rt_run_user(), which runs at CPL 3 natively.
 * Everything below may be called from ring 3 as well (IOPL is 3 there), except rt_start_aps.
 */

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Ports of cocoon's platform devices (README "Launch CLI"). */
#define RT_PORT_UART  0x3F8 /* 16550 console (COM1) */
#define RT_PORT_TIMER 0x80  /* boot-timer: each byte written is logged with a timestamp */
#define RT_PORT_EXIT  0xF4  /* debug exit: the byte written is the VMM's exit status */

#define RT_EXIT_EXCEPTION 250 /* an unexpected CPU exception */
#define RT_EXIT_FAILURE   251 /* rt_fail() */

#define RT_MAX_CPUS      16
#define RT_AP_TRAMPOLINE 0x10000 /* real-mode AP start page (SIPI vector 0x10) */

/* The guest's entry point. */
int main(void);

/* ---- Port I/O and MMIO. ---- */
static inline void outb(uint16_t port, uint8_t v)
{
    __asm__ volatile("outb %0, %1" : : "a"(v), "Nd"(port));
}
static inline void outw(uint16_t port, uint16_t v)
{
    __asm__ volatile("outw %0, %1" : : "a"(v), "Nd"(port));
}
static inline void outl(uint16_t port, uint32_t v)
{
    __asm__ volatile("outl %0, %1" : : "a"(v), "Nd"(port));
}
static inline uint8_t inb(uint16_t port)
{
    uint8_t v;
    __asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port));
    return v;
}
static inline uint16_t inw(uint16_t port)
{
    uint16_t v;
    __asm__ volatile("inw %1, %0" : "=a"(v) : "Nd"(port));
    return v;
}
static inline uint32_t inl(uint16_t port)
{
    uint32_t v;
    __asm__ volatile("inl %1, %0" : "=a"(v) : "Nd"(port));
    return v;
}

/* MMIO accessors: one access of exactly the given width (volatile, not merged or split). */
static inline uint8_t mmio_read8(uint64_t a)
{
    return *(volatile uint8_t *)(uintptr_t)a;
}
static inline uint16_t mmio_read16(uint64_t a)
{
    return *(volatile uint16_t *)(uintptr_t)a;
}
static inline uint32_t mmio_read32(uint64_t a)
{
    return *(volatile uint32_t *)(uintptr_t)a;
}
static inline uint64_t mmio_read64(uint64_t a)
{
    return *(volatile uint64_t *)(uintptr_t)a;
}
static inline void mmio_write8(uint64_t a, uint8_t v)
{
    *(volatile uint8_t *)(uintptr_t)a = v;
}
static inline void mmio_write16(uint64_t a, uint16_t v)
{
    *(volatile uint16_t *)(uintptr_t)a = v;
}
static inline void mmio_write32(uint64_t a, uint32_t v)
{
    *(volatile uint32_t *)(uintptr_t)a = v;
}
static inline void mmio_write64(uint64_t a, uint64_t v)
{
    *(volatile uint64_t *)(uintptr_t)a = v;
}

static inline void rt_pause(void)
{
    __asm__ volatile("pause" ::: "memory");
}

/* ---- PCI configuration space through ports 0xCF8/0xCFC (bus 0..255, dev 0..31, fn 0..7). ---- */
uint32_t pci_cfg_read32(unsigned bus, unsigned dev, unsigned fn, unsigned off);
uint16_t pci_cfg_read16(unsigned bus, unsigned dev, unsigned fn, unsigned off);
uint8_t pci_cfg_read8(unsigned bus, unsigned dev, unsigned fn, unsigned off);
void pci_cfg_write32(unsigned bus, unsigned dev, unsigned fn, unsigned off, uint32_t v);
void pci_cfg_write16(unsigned bus, unsigned dev, unsigned fn, unsigned off, uint16_t v);
void pci_cfg_write8(unsigned bus, unsigned dev, unsigned fn, unsigned off, uint8_t v);

/* ---- Console (16550 at 0x3F8; output only, serialised across CPUs). ---- */
void rt_putc(char c);
void rt_puts(const char *s);
/* printf subset: %s %c %d %i %u %x %p %%, with l/ll/z length, zero-pad and width (e.g. %08lx). */
void rt_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void rt_vprintf(const char *fmt, va_list ap);

/* ---- Progress and exit. ---- */
void rt_progress(uint8_t code); /* boot-timer port */
__attribute__((noreturn)) void rt_exit(uint8_t status);
/* Prints "FAIL: <msg>" and exits with RT_EXIT_FAILURE. */
__attribute__((noreturn)) void rt_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* ---- Boot information (from the PVH hvm_start_info). ---- */
const char *rt_cmdline(void); /* "" when none */
/* Value of "key=" in the command line as a number (decimal or 0x hex); def if absent. */
uint64_t rt_cmdline_uint(const char *key, uint64_t def);
uint64_t rt_ram_size(void); /* sum of the e820 RAM entries */
/* First byte past the guest image (bss end), page aligned: free RAM from here to rt_ram_size. */
uint64_t rt_free_start(void);

/* ---- Ring 3. ---- */
/* Runs fn(arg) at CPL 3 (IOPL 3, interrupts off) on a 64 KiB user stack and returns its result.
 * Bootstrap CPU only; not reentrant. */
uint64_t rt_run_user(uint64_t (*fn)(uint64_t), uint64_t arg);

/* ---- SMP. ---- */
/* Reads the MP table: fills up to max APIC IDs of enabled processors; returns how many. */
unsigned rt_mp_cpus(uint8_t *apic_ids, unsigned max);
unsigned rt_apic_id(void); /* this CPU's local APIC ID */
/* Starts every AP listed in the MP table with INIT-SIPI (trampoline at RT_AP_TRAMPOLINE); each
 * runs fn(slot) with its own stack (slot = 0.. in arrival order), interrupts off. Returns the
 * number of APs that called rt_ap_report_in() within the spin budget. */
unsigned rt_start_aps(void (*fn)(unsigned slot));
void rt_ap_report_in(void);
/* Starts one AP by APIC ID (INIT-SIPI, e.g. a hot-added CPU) to run fn(slot) like rt_start_aps;
 * true when it called rt_ap_report_in() within the spin budget. An AP whose fn returns halts
 * with interrupts off. Slots are never reused: at most RT_MAX_CPUS AP starts in all. */
bool rt_start_ap(unsigned apic_id, void (*fn)(unsigned slot));

/* ---- Freestanding libc bits. ---- */
void *memset(void *d, int c, size_t n);
void *memcpy(void *d, const void *s, size_t n);
void *memmove(void *d, const void *s, size_t n);
int memcmp(const void *a, const void *b, size_t n);
size_t strlen(const char *s);
int strncmp(const char *a, const char *b, size_t n);

#endif
