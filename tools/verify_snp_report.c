/* verify_snp_report.c: bounds-checked decoder of the 1184-byte SEV-SNP ATTESTATION_REPORT. */
#include "tools/verify_snp_report.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint32_t le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t le64(const uint8_t *p)
{
    return (uint64_t)le32(p) | (uint64_t)le32(p + 4) << 32;
}

int snp_report_parse(struct snp_report *r, const uint8_t *d, size_t len, char *err, size_t errlen)
{
    memset(r, 0, sizeof(*r));
    if (len != SNP_REPORT_SIZE) {
        snprintf(err, errlen, "an SNP report is %d bytes, this one is %zu", SNP_REPORT_SIZE, len);
        return -1;
    }
    r->version = le32(d + 0x00);
    if (r->version < 2 || r->version > 5) {
        snprintf(err, errlen, "report version %u is not supported (2..5)", r->version);
        return -1;
    }
    r->guest_svn = le32(d + 0x04);
    r->policy = le64(d + 0x08);
    memcpy(r->family_id, d + 0x10, 16);
    memcpy(r->image_id, d + 0x20, 16);
    r->vmpl = le32(d + 0x30);
    r->sig_algo = le32(d + 0x34);
    r->current_tcb = le64(d + 0x38);
    r->platform_info = le64(d + 0x40);
    r->flags = le32(d + 0x48);
    memcpy(r->report_data, d + 0x50, 64);
    memcpy(r->measurement, d + 0x90, 48);
    memcpy(r->host_data, d + 0xC0, 32);
    memcpy(r->id_key_digest, d + 0xE0, 48);
    memcpy(r->author_key_digest, d + 0x110, 48);
    memcpy(r->report_id, d + 0x140, 32);
    memcpy(r->report_id_ma, d + 0x160, 32);
    r->reported_tcb = le64(d + 0x180);
    if (r->version >= 3) {
        r->cpuid_fam = d[0x188];
        r->cpuid_mod = d[0x189];
        r->cpuid_step = d[0x18A];
    }
    memcpy(r->chip_id, d + 0x1A0, 64);
    r->committed_tcb = le64(d + 0x1E0);
    r->current_build = d[0x1E8];
    r->current_minor = d[0x1E9];
    r->current_major = d[0x1EA];
    r->committed_build = d[0x1EC];
    r->committed_minor = d[0x1ED];
    r->committed_major = d[0x1EE];
    r->launch_tcb = le64(d + 0x1F0);
    if (r->version >= 5) {
        r->launch_mit_vector = le64(d + 0x1F8);
        r->current_mit_vector = le64(d + 0x200);
    }
    memcpy(r->sig_r, d + 0x2A0, SNP_SIG_COMPONENT_SIZE);
    memcpy(r->sig_s, d + 0x2A0 + SNP_SIG_COMPONENT_SIZE, SNP_SIG_COMPONENT_SIZE);
    return 0;
}

enum snp_signing_key snp_report_signing_key(const struct snp_report *r)
{
    return (enum snp_signing_key)((r->flags >> 2) & 7);
}

struct snp_tcb snp_tcb_decode(uint64_t tcb, bool turin)
{
    struct snp_tcb t = {0};
    if (turin) {
        t.fmc = (uint8_t)tcb;
        t.bootloader = (uint8_t)(tcb >> 8);
        t.tee = (uint8_t)(tcb >> 16);
        t.snp = (uint8_t)(tcb >> 24);
    } else {
        t.bootloader = (uint8_t)tcb;
        t.tee = (uint8_t)(tcb >> 8);
        t.snp = (uint8_t)(tcb >> 48);
    }
    t.microcode = (uint8_t)(tcb >> 56);
    return t;
}

static int parse_u8(const char *s, size_t n, uint8_t *out)
{
    char buf[16];
    if (n == 0 || n >= sizeof(buf))
        return -1;
    memcpy(buf, s, n);
    buf[n] = 0;
    char *end;
    unsigned long v = strtoul(buf, &end, 0);
    if (*end || v > 0xff || buf[0] == '-')
        return -1;
    *out = (uint8_t)v;
    return 0;
}

int snp_tcb_parse_text(const char *s, bool turin, struct snp_tcb *out)
{
    memset(out, 0, sizeof(*out));
    if (!strchr(s, '=')) {
        char *end;
        if (!*s || *s == '-')
            return -1;
        unsigned long long v = strtoull(s, &end, 0);
        if (*end)
            return -1;
        *out = snp_tcb_decode(v, turin);
        return 0;
    }
    while (*s) {
        const char *eq = strchr(s, '=');
        if (!eq)
            return -1;
        const char *end = strchr(eq, ',');
        size_t vlen = end ? (size_t)(end - eq - 1) : strlen(eq + 1);
        size_t klen = (size_t)(eq - s);
        uint8_t *f = NULL;
        if (klen == 2 && !strncmp(s, "bl", 2))
            f = &out->bootloader;
        else if (klen == 3 && !strncmp(s, "tee", 3))
            f = &out->tee;
        else if (klen == 3 && !strncmp(s, "snp", 3))
            f = &out->snp;
        else if (klen == 5 && !strncmp(s, "ucode", 5))
            f = &out->microcode;
        else if (klen == 3 && !strncmp(s, "fmc", 3))
            f = &out->fmc;
        if (!f || parse_u8(eq + 1, vlen, f))
            return -1;
        if (end && !end[1])
            return -1; /* trailing comma: a component was probably lost */
        s = end ? end + 1 : eq + 1 + vlen;
    }
    return 0;
}
