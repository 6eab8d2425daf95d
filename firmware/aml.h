/* aml.h: a small AML (ACPI Machine Language) byte-code writer into a bounded buffer. */
#ifndef COCOON_AML_H
#define COCOON_AML_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Output buffer with a sticky error: once a write would overflow (or an argument is invalid),
 * err is set, nothing more is written and every later call is a no-op. Check aml_ok() once at
 * the end. Encodings follow ACPI 6.5 chapter 20 (AML grammar). */
struct aml {
    uint8_t *buf;
    size_t cap;
    size_t len;
    bool err;
};

/* A construct opened by one of the *_begin calls: where its PkgLength goes. Close it with
 * aml_end(), innermost first. */
typedef size_t aml_mark;

void aml_init(struct aml *a, uint8_t *buf, size_t cap);
bool aml_ok(const struct aml *a);

/* Raw bytes and little-endian integers. */
void aml_byte(struct aml *a, uint8_t v);
void aml_bytes(struct aml *a, const void *p, size_t n);
void aml_le16(struct aml *a, uint16_t v);
void aml_le32(struct aml *a, uint32_t v);
void aml_le64(struct aml *a, uint64_t v);

/* PkgLength for a construct whose body (after the PkgLength) is body_len bytes: the encoded value
 * counts its own 1-4 bytes. Writes nothing and returns 0 if body_len is too large (>= 2^28 - 4).
 * Returns the number of bytes written into out (at most 4). */
size_t aml_pkglen_encode(size_t body_len, uint8_t out[4]);
/* A PkgLength holding exactly `value` (field-unit bit widths): 1-4 bytes, value < 2^28. */
void aml_pkglen_raw(struct aml *a, uint32_t value);

/* NameString from a dotted ASL path: "\\_SB.PCI0", "^^CSEL", "S01", "" (NullName). Each segment
 * is 1-4 characters [A-Z0-9_] (first not a digit), padded with '_'. */
void aml_namestring(struct aml *a, const char *path);

/* Data objects. aml_integer uses the shortest encoding: Zero, One, Ones (all 64 bits),
 * BytePrefix, WordPrefix, DWordPrefix, QWordPrefix. */
void aml_integer(struct aml *a, uint64_t v);
void aml_string(struct aml *a, const char *s);
void aml_buffer(struct aml *a, const void *data, size_t n);
/* EISA id ("PNP0A03") as the compressed DWord integer EisaId() produces. */
void aml_eisaid(struct aml *a, const char *id);

/* Name(path, <next object>); the helpers emit the value too. */
void aml_name(struct aml *a, const char *path);
void aml_name_integer(struct aml *a, const char *path, uint64_t v);
void aml_name_string(struct aml *a, const char *path, const char *s);
void aml_name_eisaid(struct aml *a, const char *path, const char *id);

/* Constructs with a PkgLength: begin, emit the body, aml_end(mark). */
aml_mark aml_scope_begin(struct aml *a, const char *path);
aml_mark aml_device_begin(struct aml *a, const char *path);
/* nargs 0..7; serialized per ACPI MethodFlags bit 3. */
aml_mark aml_method_begin(struct aml *a, const char *path, unsigned nargs, bool serialized);
aml_mark aml_package_begin(struct aml *a, unsigned nelements);
/* If (<predicate emitted next>) { ... }, Else { ... }, While (<predicate>) { ... }. */
aml_mark aml_if_begin(struct aml *a);
aml_mark aml_else_begin(struct aml *a);
aml_mark aml_while_begin(struct aml *a);
void aml_end(struct aml *a, aml_mark m);

/* OperationRegion spaces and Field access types / update rules. */
enum { AML_SPACE_SYSTEM_MEMORY = 0, AML_SPACE_SYSTEM_IO = 1 };
enum { AML_ACC_ANY = 0, AML_ACC_BYTE = 1, AML_ACC_WORD = 2, AML_ACC_DWORD = 3 };
enum { AML_UPD_PRESERVE = 0, AML_UPD_WRITE_ONES = 1, AML_UPD_WRITE_ZEROS = 2 };

void aml_opregion(struct aml *a, const char *name, uint8_t space, uint64_t offset, uint64_t len);
/* Field(region, access, NoLock, update) { entries }: add entries with aml_field_unit and
 * aml_field_skip, then aml_end. */
aml_mark aml_field_begin(struct aml *a, const char *region, uint8_t access, uint8_t update);
void aml_field_unit(struct aml *a, const char *nameseg, uint32_t bits);
void aml_field_skip(struct aml *a, uint32_t bits);
void aml_mutex(struct aml *a, const char *name, uint8_t sync_level);

/* Statements. Operands follow in prefix order, e.g. Store: aml_store(a); <source>; <target>. */
enum {
    AML_OP_STORE = 0x70,
    AML_OP_ADD = 0x72,
    AML_OP_SUBTRACT = 0x74,
    AML_OP_INCREMENT = 0x75,
    AML_OP_SHIFT_LEFT = 0x79,
    AML_OP_SHIFT_RIGHT = 0x7A,
    AML_OP_AND = 0x7B,
    AML_OP_OR = 0x7D,
    AML_OP_NOTIFY = 0x86,
    AML_OP_LAND = 0x90,
    AML_OP_LOR = 0x91,
    AML_OP_LNOT = 0x92,
    AML_OP_LEQUAL = 0x93,
    AML_OP_LGREATER = 0x94,
    AML_OP_LLESS = 0x95,
    AML_OP_RETURN = 0xA4,
};
/* Emits one opcode byte; binary arithmetic (Add..Or) takes Operand, Operand, Target. */
void aml_op(struct aml *a, uint8_t op);
void aml_local(struct aml *a, unsigned n); /* Local0..Local7 */
void aml_arg(struct aml *a, unsigned n);   /* Arg0..Arg6 */
void aml_no_target(struct aml *a);         /* NullName as "no target" */
/* Acquire(mutex, timeout) and Release(mutex). */
void aml_acquire(struct aml *a, const char *mutex, uint16_t timeout);
void aml_release(struct aml *a, const char *mutex);

/* Resource descriptors for a ResourceTemplate: write them into their own struct aml, finish with
 * aml_res_end_tag, then emit the bytes with aml_buffer. */
void aml_res_word_bus(struct aml *r, uint16_t min, uint16_t max);
void aml_res_word_io(struct aml *r, uint16_t min, uint16_t max);
void aml_res_io(struct aml *r, uint16_t min, uint16_t max, uint8_t align, uint8_t len);
void aml_res_dword_memory(struct aml *r, uint32_t min, uint32_t max, bool cacheable);
void aml_res_qword_memory(struct aml *r, uint64_t min, uint64_t max, bool cacheable);
void aml_res_memory32_fixed(struct aml *r, uint32_t base, uint32_t len);
/* Interrupt(ResourceConsumer, edge ? Edge : Level, low ? ActiveLow : ActiveHigh, Exclusive){gsi} */
void aml_res_interrupt(struct aml *r, uint32_t gsi, bool edge, bool active_low);
void aml_res_end_tag(struct aml *r);

#endif
