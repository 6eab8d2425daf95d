/* acpi_hotplug.c: GED event selector, PCI slot up/down/eject and CPU-manager registers. */
#include "devices/acpi_hotplug.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "vmm/base/acpi_regs.h"
#include "vmm/base/log.h"

/* Offsets from ACPI_PORT_GED (firmware/acpi.h has the absolute ports). */
enum {
    HP_ESEL = 0x00,
    HP_PCIU = 0x04,
    HP_PCID = 0x08,
    HP_B0EJ = 0x0C,
    HP_CSEL = 0x10,
    HP_CSTS = 0x14,
    HP_CCMD = 0x15,
    HP_CDAT = 0x18,
};
_Static_assert(ACPI_PORT_GED + HP_CSEL == ACPI_CPUHP_CSEL &&
                   ACPI_PORT_GED + HP_CSTS == ACPI_CPUHP_STATUS,
               "CPU hot-plug registers off the layout of acpi_regs.h");

/* CPU status bits as the guest sees them, plus cocoon's own "removal asked" bit. */
enum {
    CPU_EN = ACPI_CPU_ENABLED,
    CPU_INS = ACPI_CPU_INSERTING,
    CPU_RMV = ACPI_CPU_REMOVING,
    CPU_EJ = ACPI_CPU_EJECT
};
#define CPU_RMV_ASKED (1u << 7)
#define CPU_VISIBLE   (CPU_EN | CPU_INS | CPU_RMV)

struct acpi_hp {
    pthread_mutex_t lock;
    uint32_t gsi;
    uint32_t max_vcpus;
    struct acpi_hp_ops ops;
    void *ctx;
    uint32_t ged;      /* pending ACPI_GED_* bits; read clears */
    uint32_t present;  /* slots with a live function */
    uint32_t removing; /* slots cocoon asked the guest to release */
    uint32_t up, down; /* PCIU / PCID; read clears */
    uint32_t csel;
    uint8_t *cpu; /* CPU_* flags per vCPU index */
    struct log_ratelimit rl;
};

struct acpi_hp *acpi_hp_new(uint32_t gsi, uint32_t boot_vcpus, uint32_t max_vcpus,
                            uint32_t boot_slots, const struct acpi_hp_ops *ops, void *ctx)
{
    if (!ops || max_vcpus == 0 || max_vcpus > ACPI_MAX_VCPUS || boot_vcpus == 0 ||
        boot_vcpus > max_vcpus || (boot_slots & 1u))
        return NULL;
    struct acpi_hp *hp = calloc(1, sizeof(*hp));
    if (!hp)
        return NULL;
    hp->cpu = calloc(max_vcpus, 1);
    if (!hp->cpu || pthread_mutex_init(&hp->lock, NULL)) {
        free(hp->cpu);
        free(hp);
        return NULL;
    }
    hp->gsi = gsi;
    hp->max_vcpus = max_vcpus;
    hp->ops = *ops;
    hp->ctx = ctx;
    hp->present = boot_slots;
    hp->rl = (struct log_ratelimit)LOG_RATELIMIT_INIT;
    for (uint32_t i = 0; i < boot_vcpus; i++)
        hp->cpu[i] = CPU_EN;
    return hp;
}

void acpi_hp_free(void *opaque)
{
    struct acpi_hp *hp = opaque;
    if (!hp)
        return;
    pthread_mutex_destroy(&hp->lock);
    free(hp->cpu);
    free(hp);
}

static void raise_event(struct acpi_hp *hp, uint32_t bit)
{
    pthread_mutex_lock(&hp->lock);
    hp->ged |= bit;
    pthread_mutex_unlock(&hp->lock);
    if (hp->ops.raise_gsi)
        hp->ops.raise_gsi(hp->ctx, hp->gsi);
}

static uint32_t take(uint32_t *reg)
{
    uint32_t v = *reg;
    *reg = 0;
    return v;
}

/* Width each register must be accessed with (the AML's field access width), 0 = no register. */
static uint32_t reg_width(uint64_t offset)
{
    switch (offset) {
    case HP_ESEL:
    case HP_PCIU:
    case HP_PCID:
    case HP_B0EJ:
    case HP_CSEL:
    case HP_CDAT:
        return 4;
    case HP_CSTS:
    case HP_CCMD:
        return 1;
    default:
        return 0;
    }
}

static uint32_t read_locked(struct acpi_hp *hp, uint64_t offset)
{
    switch (offset) {
    case HP_ESEL:
        return take(&hp->ged);
    case HP_PCIU:
        return take(&hp->up);
    case HP_PCID:
        return take(&hp->down);
    case HP_CSEL:
        return hp->csel;
    case HP_CSTS:
        return hp->csel < hp->max_vcpus ? hp->cpu[hp->csel] & CPU_VISIBLE : 0;
    default:
        return 0; /* B0EJ, CCMD, CDAT read as 0 */
    }
}

/* B0EJ: returns the slots the guest released that cocoon had asked for. */
static uint32_t pci_eject_locked(struct acpi_hp *hp, uint32_t v)
{
    uint32_t ok = v & hp->removing;
    if (v & ~ok)
        log_limited(&hp->rl, LOG_LVL_WARN,
                    "acpi-hp: guest ejected slots %#x that cocoon did not ask for, ignored",
                    v & ~ok);
    hp->present &= ~ok;
    hp->removing &= ~ok;
    hp->up &= ~ok;
    hp->down &= ~ok;
    return ok;
}

/* CPU status write: bit 1 / 2 acknowledge insert / remove, bit 3 ejects. Returns true when the
 * selected vCPU was ejected. */
static bool cpu_status_write_locked(struct acpi_hp *hp, uint32_t v)
{
    if (hp->csel >= hp->max_vcpus) {
        log_limited(&hp->rl, LOG_LVL_WARN, "acpi-hp: CPU status write with CSEL %u >= %u", hp->csel,
                    hp->max_vcpus);
        return false;
    }
    uint8_t *c = &hp->cpu[hp->csel];
    if (v & CPU_INS)
        *c &= (uint8_t)~CPU_INS;
    if (v & CPU_RMV)
        *c &= (uint8_t)~CPU_RMV;
    if (!(v & CPU_EJ))
        return false;
    if (hp->csel == 0 || !(*c & CPU_RMV_ASKED)) {
        log_limited(&hp->rl, LOG_LVL_WARN,
                    "acpi-hp: guest ejected vCPU %u that cocoon did not ask for, ignored",
                    hp->csel);
        return false;
    }
    *c = 0;
    return true;
}

static void write_reg(struct acpi_hp *hp, uint64_t offset, uint32_t v)
{
    uint32_t ejected_slots = 0;
    bool cpu_ejected = false;
    uint32_t cpu = 0;
    pthread_mutex_lock(&hp->lock);
    switch (offset) {
    case HP_B0EJ:
        ejected_slots = pci_eject_locked(hp, v);
        break;
    case HP_CSEL:
        hp->csel = v;
        break;
    case HP_CSTS:
        cpu_ejected = cpu_status_write_locked(hp, v);
        cpu = hp->csel;
        break;
    default: /* ESEL, PCIU, PCID are read-only; CCMD and CDAT are reserved */
        log_limited(&hp->rl, LOG_LVL_WARN, "acpi-hp: write %#x to read-only register +%#llx", v,
                    (unsigned long long)offset);
    }
    pthread_mutex_unlock(&hp->lock);
    for (unsigned s = 0; s < 32 && hp->ops.pci_eject; s++)
        if (ejected_slots & (1u << s))
            hp->ops.pci_eject(hp->ctx, s);
    if (cpu_ejected && hp->ops.cpu_eject)
        hp->ops.cpu_eject(hp->ctx, cpu);
}

static uint32_t load_le(const uint8_t *p, uint32_t len)
{
    uint32_t v = 0;
    for (uint32_t i = 0; i < len; i++)
        v |= (uint32_t)p[i] << (8 * i);
    return v;
}

void acpi_hp_io(void *opaque, uint64_t offset, void *data, uint32_t len, bool is_write)
{
    struct acpi_hp *hp = opaque;
    uint8_t *b = data;
    uint32_t width = reg_width(offset);
    if (!is_write)
        memset(data, 0, len);
    if (width == 0 || len != width) {
        log_limited(&hp->rl, LOG_LVL_WARN, "acpi-hp: %u-byte %s at +%#llx ignored", len,
                    is_write ? "write" : "read", (unsigned long long)offset);
        return;
    }
    if (is_write) {
        write_reg(hp, offset, load_le(b, len));
        return;
    }
    pthread_mutex_lock(&hp->lock);
    uint32_t v = read_locked(hp, offset);
    pthread_mutex_unlock(&hp->lock);
    for (uint32_t i = 0; i < len; i++)
        b[i] = (uint8_t)(v >> (8 * i));
}

int acpi_hp_pci_plugged(struct acpi_hp *hp, unsigned slot)
{
    if (slot == 0 || slot >= ACPI_PCI_SLOTS)
        return -1;
    uint32_t bit = 1u << slot;
    pthread_mutex_lock(&hp->lock);
    bool busy = hp->removing & bit;
    if (!busy) {
        hp->present |= bit;
        hp->up |= bit;
        hp->down &= ~bit;
    }
    pthread_mutex_unlock(&hp->lock);
    if (busy)
        return -1;
    raise_event(hp, ACPI_GED_PCI_CHANGED);
    return 0;
}

int acpi_hp_pci_unplug_request(struct acpi_hp *hp, unsigned slot)
{
    if (slot == 0 || slot >= ACPI_PCI_SLOTS)
        return -1;
    uint32_t bit = 1u << slot;
    pthread_mutex_lock(&hp->lock);
    bool ok = (hp->present & bit) && !(hp->removing & bit);
    if (ok) {
        hp->removing |= bit;
        hp->down |= bit;
        hp->up &= ~bit;
    }
    pthread_mutex_unlock(&hp->lock);
    if (!ok)
        return -1;
    raise_event(hp, ACPI_GED_PCI_CHANGED);
    return 0;
}

int acpi_hp_cpu_plugged(struct acpi_hp *hp, uint32_t index)
{
    if (index >= hp->max_vcpus)
        return -1;
    pthread_mutex_lock(&hp->lock);
    bool ok = !(hp->cpu[index] & CPU_EN);
    if (ok)
        hp->cpu[index] = CPU_EN | CPU_INS;
    pthread_mutex_unlock(&hp->lock);
    if (!ok)
        return -1;
    raise_event(hp, ACPI_GED_CPU_CHANGED);
    return 0;
}

int acpi_hp_cpu_unplug_request(struct acpi_hp *hp, uint32_t index)
{
    if (index == 0 || index >= hp->max_vcpus)
        return -1;
    pthread_mutex_lock(&hp->lock);
    uint8_t *c = &hp->cpu[index];
    bool ok = (*c & CPU_EN) && !(*c & CPU_RMV_ASKED);
    if (ok)
        *c = (uint8_t)((*c & ~CPU_INS) | CPU_RMV | CPU_RMV_ASKED);
    pthread_mutex_unlock(&hp->lock);
    if (!ok)
        return -1;
    raise_event(hp, ACPI_GED_CPU_CHANGED);
    return 0;
}

bool acpi_hp_cpu_enabled(struct acpi_hp *hp, uint32_t index)
{
    if (index >= hp->max_vcpus)
        return false;
    pthread_mutex_lock(&hp->lock);
    bool en = hp->cpu[index] & CPU_EN;
    pthread_mutex_unlock(&hp->lock);
    return en;
}

void acpi_hp_power_button(struct acpi_hp *hp)
{
    raise_event(hp, ACPI_GED_POWER_BUTTON);
}
