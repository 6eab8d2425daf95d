/* acpi_dsdt.c: generates the DSDT AML (devices, hot-plug methods) for an acpi_config. */
#include "firmware/acpi_dsdt.h"

#include <stdio.h>

#define PHPR "\\_SB.PHPR"
#define PRES "\\_SB.PRES"

/* Name(_CRS, ResourceTemplate(){...}) from descriptors already in r. */
static void name_crs(struct aml *a, struct aml *r)
{
    aml_res_end_tag(r);
    if (!aml_ok(r)) {
        a->err = true;
        return;
    }
    aml_name(a, "_CRS");
    aml_buffer(a, r->buf, r->len);
}

/* Store(<src emitted by caller before>, ...) helpers: Store(integer, name). */
static void store_int(struct aml *a, uint64_t v, const char *target)
{
    aml_op(a, AML_OP_STORE);
    aml_integer(a, v);
    aml_namestring(a, target);
}

/* Emits the predicate "LEqual(name, One)". */
static void pred_is_one(struct aml *a, const char *name)
{
    aml_op(a, AML_OP_LEQUAL);
    aml_namestring(a, name);
    aml_integer(a, 1);
}

/* Emits the predicate "And(Local0, bit)" (non-zero when set). */
static void pred_local_bit(struct aml *a, unsigned local, uint64_t bit)
{
    aml_op(a, AML_OP_AND);
    aml_local(a, local);
    aml_integer(a, bit);
    aml_no_target(a);
}

static void slot_name(char out[5], unsigned slot)
{
    snprintf(out, 5, "S%02u", slot % 100);
}

static void cpu_name(char out[5], uint32_t i)
{
    snprintf(out, 5, "C%03X", i & 0xFFF);
}

static void write_s5(struct aml *a)
{
    aml_name(a, "_S5");
    aml_mark p = aml_package_begin(a, 4);
    aml_integer(a, ACPI_S5_SLP_TYP);
    aml_integer(a, ACPI_S5_SLP_TYP);
    aml_integer(a, 0);
    aml_integer(a, 0);
    aml_end(a, p);
}

/* Claims the platform register ports (and ECAM) so the OS allocates nothing over them. */
static void write_mbrd(struct aml *a, const struct acpi_config *c)
{
    aml_mark d = aml_device_begin(a, "MBRD");
    aml_name_eisaid(a, "_HID", "PNP0C02");
    aml_name_integer(a, "_UID", 0);
    uint8_t rb[64];
    struct aml r;
    aml_init(&r, rb, sizeof(rb));
    aml_res_io(&r, ACPI_PORT_BASE, ACPI_PORT_BASE, 1, ACPI_PORT_LEN);
    if (c->ecam_base) {
        uint64_t ecam_len = ((uint64_t)c->bus_last - c->bus_first + 1) << 20;
        aml_res_memory32_fixed(&r, (uint32_t)(c->ecam_base + ((uint64_t)c->bus_first << 20)),
                               (uint32_t)ecam_len);
    }
    name_crs(a, &r);
    aml_end(a, d);
}

static void write_com1(struct aml *a)
{
    aml_mark d = aml_device_begin(a, "COM1");
    aml_name_eisaid(a, "_HID", "PNP0501");
    aml_name_integer(a, "_UID", 1);
    uint8_t rb[32];
    struct aml r;
    aml_init(&r, rb, sizeof(rb));
    aml_res_io(&r, 0x3F8, 0x3F8, 1, 8);
    aml_res_interrupt(&r, 4, true, false);
    name_crs(a, &r);
    aml_end(a, d);
}

static void write_pwrb(struct aml *a)
{
    aml_mark d = aml_device_begin(a, "PWRB");
    aml_name_eisaid(a, "_HID", "PNP0C0C");
    aml_name_integer(a, "_UID", 0);
    aml_end(a, d);
}

static bool slot_described(const struct acpi_config *c, unsigned s)
{
    return s > 0 && (c->pci_hotplug || (c->boot_slots & (1u << s)));
}

/* A slot the guest may eject: hot-plug is on and no platform function (the LPC bridge) sits
 * there; ejecting 00:1f.0 would take the chipset's PM block and PIRQ routing away. */
static bool slot_hotpluggable(const struct acpi_config *c, unsigned s)
{
    return c->pci_hotplug && !(c->fixed_slots & (1u << s));
}

/* PCI hot-plug registers (PCIU/PCID/B0EJ) and PCEJ(slot): write 1 << slot to B0EJ. */
static void write_phpr(struct aml *a)
{
    aml_mark d = aml_device_begin(a, "PHPR");
    aml_name_eisaid(a, "_HID", "PNP0A06");
    aml_name_string(a, "_UID", "PCI hot-plug registers");
    aml_opregion(a, "PCST", AML_SPACE_SYSTEM_IO, ACPI_PORT_PCIHP, ACPI_PCIHP_LEN);
    aml_mark f = aml_field_begin(a, "PCST", AML_ACC_DWORD, AML_UPD_WRITE_ZEROS);
    aml_field_unit(a, "PCIU", 32);
    aml_field_unit(a, "PCID", 32);
    aml_field_unit(a, "B0EJ", 32);
    aml_end(a, f);
    aml_mutex(a, "BLCK", 0);
    aml_mark m = aml_method_begin(a, "PCEJ", 1, true);
    aml_acquire(a, "BLCK", 0xFFFF);
    aml_op(a, AML_OP_STORE);
    aml_op(a, AML_OP_SHIFT_LEFT);
    aml_integer(a, 1);
    aml_arg(a, 0);
    aml_no_target(a);
    aml_namestring(a, "B0EJ");
    aml_release(a, "BLCK");
    aml_op(a, AML_OP_RETURN);
    aml_integer(a, 0);
    aml_end(a, m);
    aml_end(a, d);
}

static void write_slot(struct aml *a, const struct acpi_config *c, unsigned s)
{
    char name[5];
    slot_name(name, s);
    aml_mark d = aml_device_begin(a, name);
    aml_name_integer(a, "_ADR", (uint64_t)s << 16);
    aml_name_integer(a, "_SUN", s);
    if (slot_hotpluggable(c, s)) {
        /* No _STA: acpiphp reads presence from config space (acpiphp_glue.c:get_slot_status). */
        aml_mark m = aml_method_begin(a, "_EJ0", 1, false);
        aml_namestring(a, PHPR ".PCEJ");
        aml_namestring(a, "_SUN");
        aml_end(a, m);
    }
    aml_end(a, d);
}

/* DVNT(bitmap, event): Notify(Sxx, event) for every slot bit set in bitmap. */
static void write_dvnt(struct aml *a, const struct acpi_config *c)
{
    aml_mark m = aml_method_begin(a, "DVNT", 2, false);
    for (unsigned s = 1; s < ACPI_PCI_SLOTS; s++) {
        if (!slot_described(c, s))
            continue;
        char name[5];
        slot_name(name, s);
        aml_mark i = aml_if_begin(a);
        aml_op(a, AML_OP_AND);
        aml_arg(a, 0);
        aml_integer(a, 1ULL << s);
        aml_no_target(a);
        aml_op(a, AML_OP_NOTIFY);
        aml_namestring(a, name);
        aml_arg(a, 1);
        aml_end(a, i);
    }
    aml_end(a, m);
}

/* PCNT(): Device Check for slots in PCIU, Eject Request for slots in PCID. */
static void write_pcnt(struct aml *a)
{
    aml_mark m = aml_method_begin(a, "PCNT", 0, true);
    aml_acquire(a, PHPR ".BLCK", 0xFFFF);
    aml_namestring(a, "DVNT");
    aml_namestring(a, PHPR ".PCIU");
    aml_integer(a, 1);
    aml_namestring(a, "DVNT");
    aml_namestring(a, PHPR ".PCID");
    aml_integer(a, 3);
    aml_release(a, PHPR ".BLCK");
    aml_end(a, m);
}

static void pci_root_crs(struct aml *a, const struct acpi_config *c)
{
    uint8_t rb[160];
    struct aml r;
    aml_init(&r, rb, sizeof(rb));
    aml_res_word_bus(&r, c->bus_first, c->bus_last);
    aml_res_io(&r, 0xCF8, 0xCF8, 1, 8);
    if (c->io_len)
        aml_res_word_io(&r, c->io_base, (uint16_t)(c->io_base + c->io_len - 1));
    aml_res_dword_memory(&r, (uint32_t)c->mmio32_base,
                         (uint32_t)(c->mmio32_base + c->mmio32_len - 1), false);
    if (c->mmio64_len)
        aml_res_qword_memory(&r, c->mmio64_base, c->mmio64_base + c->mmio64_len - 1, true);
    name_crs(a, &r);
}

static void write_pci_root(struct aml *a, const struct acpi_config *c)
{
    aml_mark d = aml_device_begin(a, "PCI0");
    aml_name_eisaid(a, "_HID", "PNP0A08");
    aml_name_eisaid(a, "_CID", "PNP0A03");
    aml_name_integer(a, "_SEG", 0);
    aml_name_integer(a, "_UID", 0);
    aml_name_integer(a, "_BBN", c->bus_first);
    pci_root_crs(a, c);
    for (unsigned s = 1; s < ACPI_PCI_SLOTS; s++)
        if (slot_described(c, s))
            write_slot(a, c, s);
    if (c->pci_hotplug) {
        write_dvnt(a, c);
        write_pcnt(a);
    }
    aml_end(a, d);
}

/* CPU hot-plug registers: CSEL selects a vCPU; its status bits sit in byte 4. */
static void write_pres(struct aml *a)
{
    aml_mark d = aml_device_begin(a, "PRES");
    aml_name_eisaid(a, "_HID", "PNP0A06");
    aml_name_string(a, "_UID", "CPU hot-plug registers");
    aml_mutex(a, "CPLK", 0);
    aml_opregion(a, "PRST", AML_SPACE_SYSTEM_IO, ACPI_PORT_CPUHP, ACPI_CPUHP_LEN);
    aml_mark f = aml_field_begin(a, "PRST", AML_ACC_BYTE, AML_UPD_WRITE_ZEROS);
    aml_field_skip(a, 32);
    aml_field_unit(a, "CPEN", 1);
    aml_field_unit(a, "CINS", 1);
    aml_field_unit(a, "CRMV", 1);
    aml_field_unit(a, "CEJ0", 1);
    aml_field_skip(a, 4);
    aml_field_unit(a, "CCMD", 8);
    aml_end(a, f);
    f = aml_field_begin(a, "PRST", AML_ACC_DWORD, AML_UPD_PRESERVE);
    aml_field_unit(a, "CSEL", 32);
    aml_field_skip(a, 32);
    aml_field_unit(a, "CDAT", 32);
    aml_end(a, f);
    aml_end(a, d);
}

/* CSTA(uid): 0xF when the selected vCPU is enabled, else 0. */
static void write_csta(struct aml *a)
{
    aml_mark m = aml_method_begin(a, "CSTA", 1, true);
    aml_acquire(a, PRES ".CPLK", 0xFFFF);
    aml_op(a, AML_OP_STORE);
    aml_arg(a, 0);
    aml_namestring(a, PRES ".CSEL");
    aml_op(a, AML_OP_STORE);
    aml_integer(a, 0);
    aml_local(a, 0);
    aml_mark i = aml_if_begin(a);
    pred_is_one(a, PRES ".CPEN");
    aml_op(a, AML_OP_STORE);
    aml_integer(a, 0x0F);
    aml_local(a, 0);
    aml_end(a, i);
    aml_release(a, PRES ".CPLK");
    aml_op(a, AML_OP_RETURN);
    aml_local(a, 0);
    aml_end(a, m);
}

/* CTFY(uid, event): Notify(Cxxx, event) for the vCPU whose _UID is uid. */
static void write_ctfy(struct aml *a, uint32_t n)
{
    aml_mark m = aml_method_begin(a, "CTFY", 2, false);
    for (uint32_t k = 0; k < n; k++) {
        char name[5];
        cpu_name(name, k);
        aml_mark i = aml_if_begin(a);
        aml_op(a, AML_OP_LEQUAL);
        aml_arg(a, 0);
        aml_integer(a, k);
        aml_op(a, AML_OP_NOTIFY);
        aml_namestring(a, name);
        aml_arg(a, 1);
        aml_end(a, i);
    }
    aml_end(a, m);
}

/* CEJ0(uid): select the vCPU and write its eject bit. */
static void write_cej0(struct aml *a)
{
    aml_mark m = aml_method_begin(a, "CEJ0", 1, true);
    aml_acquire(a, PRES ".CPLK", 0xFFFF);
    aml_op(a, AML_OP_STORE);
    aml_arg(a, 0);
    aml_namestring(a, PRES ".CSEL");
    store_int(a, 1, PRES ".CEJ0");
    aml_release(a, PRES ".CPLK");
    aml_end(a, m);
}

/* One pending-event check inside CSCN's loop: if <bit> then CTFY(Local0, event), clear bit. */
static void cscn_event(struct aml *a, const char *bit, uint8_t event)
{
    aml_mark i = aml_if_begin(a);
    pred_is_one(a, bit);
    aml_namestring(a, "CTFY");
    aml_local(a, 0);
    aml_integer(a, event);
    store_int(a, 1, bit);
    aml_end(a, i);
}

/* CSCN(): for every vCPU, Device Check on a pending insert, Eject Request on a pending remove. */
static void write_cscn(struct aml *a, uint32_t n)
{
    aml_mark m = aml_method_begin(a, "CSCN", 0, true);
    aml_acquire(a, PRES ".CPLK", 0xFFFF);
    aml_op(a, AML_OP_STORE);
    aml_integer(a, 0);
    aml_local(a, 0);
    aml_mark w = aml_while_begin(a);
    aml_op(a, AML_OP_LLESS);
    aml_local(a, 0);
    aml_integer(a, n);
    aml_op(a, AML_OP_STORE);
    aml_local(a, 0);
    aml_namestring(a, PRES ".CSEL");
    cscn_event(a, PRES ".CINS", 1);
    cscn_event(a, PRES ".CRMV", 3);
    aml_op(a, AML_OP_INCREMENT);
    aml_local(a, 0);
    aml_end(a, w);
    aml_release(a, PRES ".CPLK");
    aml_end(a, m);
}

static void write_cpu(struct aml *a, const struct acpi_config *c, uint32_t i)
{
    char name[5];
    cpu_name(name, i);
    aml_mark d = aml_device_begin(a, name);
    aml_name_string(a, "_HID", "ACPI0007");
    aml_name_integer(a, "_UID", i);
    if (c->cpu_hotplug) {
        aml_mark m = aml_method_begin(a, "_STA", 0, false);
        aml_op(a, AML_OP_RETURN);
        aml_namestring(a, "\\_SB.CPUS.CSTA");
        aml_integer(a, i);
        aml_end(a, m);
    } else {
        aml_name_integer(a, "_STA", 0x0F);
    }
    /* _MAT always says Enabled: Linux takes a hot-added vCPU's APIC id from it
     * (processor_core.c:map_mat_entry ignores disabled entries). */
    uint8_t e[16];
    size_t n = acpi_cpu_entry(i, 1, e);
    aml_name(a, "_MAT");
    aml_buffer(a, e, n);
    if (c->cpu_hotplug && i != 0) { /* the boot vCPU is never ejected */
        aml_mark m = aml_method_begin(a, "_EJ0", 1, false);
        aml_namestring(a, "\\_SB.CPUS.CEJ0");
        aml_integer(a, i);
        aml_end(a, m);
    }
    aml_end(a, d);
}

static void write_cpus(struct aml *a, const struct acpi_config *c)
{
    uint32_t n = c->cpu_hotplug ? c->max_vcpus : c->boot_vcpus;
    if (c->cpu_hotplug)
        write_pres(a);
    aml_mark d = aml_device_begin(a, "CPUS");
    aml_name_string(a, "_HID", "ACPI0010");
    aml_name_eisaid(a, "_CID", "PNP0A05");
    if (c->cpu_hotplug) {
        write_csta(a);
        write_ctfy(a, n);
        write_cej0(a);
        write_cscn(a, n);
    }
    for (uint32_t i = 0; i < n; i++)
        write_cpu(a, c, i);
    aml_end(a, d);
}

/* GED: one edge interrupt; _EVT reads the selector (read clears) and dispatches. */
static void write_ged(struct aml *a, const struct acpi_config *c)
{
    aml_mark d = aml_device_begin(a, "GED_");
    aml_name_string(a, "_HID", "ACPI0013");
    aml_name_integer(a, "_UID", 0);
    uint8_t rb[16];
    struct aml r;
    aml_init(&r, rb, sizeof(rb));
    aml_res_interrupt(&r, c->ged_gsi, true, false);
    name_crs(a, &r);
    aml_opregion(a, "EREG", AML_SPACE_SYSTEM_IO, ACPI_PORT_GED, 4);
    aml_mark f = aml_field_begin(a, "EREG", AML_ACC_DWORD, AML_UPD_WRITE_ZEROS);
    aml_field_unit(a, "ESEL", 32);
    aml_end(a, f);
    aml_mark m = aml_method_begin(a, "_EVT", 1, true);
    aml_op(a, AML_OP_STORE);
    aml_namestring(a, "ESEL");
    aml_local(a, 0);
    if (c->cpu_hotplug) {
        aml_mark i = aml_if_begin(a);
        pred_local_bit(a, 0, ACPI_GED_CPU_CHANGED);
        aml_namestring(a, "\\_SB.CPUS.CSCN");
        aml_end(a, i);
    }
    if (c->pci_hotplug) {
        aml_mark i = aml_if_begin(a);
        pred_local_bit(a, 0, ACPI_GED_PCI_CHANGED);
        aml_namestring(a, "\\_SB.PCI0.PCNT");
        aml_end(a, i);
    }
    aml_mark i = aml_if_begin(a);
    pred_local_bit(a, 0, ACPI_GED_POWER_BUTTON);
    aml_op(a, AML_OP_NOTIFY);
    aml_namestring(a, "\\_SB.PWRB");
    aml_integer(a, 0x80);
    aml_end(a, i);
    aml_end(a, m);
    aml_end(a, d);
}

void acpi_dsdt_body(struct aml *a, const struct acpi_config *c)
{
    write_s5(a);
    aml_mark sb = aml_scope_begin(a, "\\_SB");
    write_mbrd(a, c);
    if (c->com1)
        write_com1(a);
    if (c->ioapic)
        write_pwrb(a);
    if (c->pci_hotplug)
        write_phpr(a);
    write_pci_root(a, c);
    write_cpus(a, c);
    if (c->ioapic)
        write_ged(a, c);
    aml_end(a, sb);
}
