/* verify_x509.c: libcrypto wrappers for the offline attestation verifier (see verify_x509.h). */
#include "tools/verify_x509.h"

#include <ctype.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tools/cocoon_measure.h"
#include "tools/verify_roots.h"

const char *vx_ssl_error(void)
{
    static char buf[256];
    unsigned long e = ERR_get_error();
    ERR_clear_error();
    if (!e)
        return "no OpenSSL error";
    ERR_error_string_n(e, buf, sizeof(buf));
    return buf;
}

STACK_OF(X509) * vx_certs_from_bytes(const uint8_t *data, size_t len)
{
    if (len > INT32_MAX)
        return NULL;
    STACK_OF(X509) *sk = sk_X509_new_null();
    if (!sk)
        return NULL;
    if (len >= 10 && memmem(data, len, "-----BEGIN", 10)) {
        BIO *b = BIO_new_mem_buf(data, (int)len);
        X509 *c;
        while (b && (c = PEM_read_bio_X509(b, NULL, NULL, NULL)) != NULL) {
            if (!sk_X509_push(sk, c)) {
                X509_free(c);
                break;
            }
        }
        BIO_free(b);
    } else {
        const unsigned char *p = data;
        X509 *c = d2i_X509(NULL, &p, (long)len);
        if (c && p == data + len) {
            if (!sk_X509_push(sk, c))
                X509_free(c);
        } else {
            X509_free(c);
        }
    }
    ERR_clear_error(); /* PEM reading ends with a "no start line" error */
    if (sk_X509_num(sk) == 0) {
        sk_X509_free(sk);
        return NULL;
    }
    return sk;
}

STACK_OF(X509) * vx_certs_from_file(const char *path, char *err, size_t errlen)
{
    struct measure_file f;
    struct fw_error fe = {{0}};
    if (measure_read_file(path, &f, &fe)) {
        snprintf(err, errlen, "%s", fe.msg);
        return NULL;
    }
    STACK_OF(X509) *sk = vx_certs_from_bytes(f.data, f.size);
    measure_file_free(&f);
    if (!sk)
        snprintf(err, errlen, "%s holds no PEM or DER certificate", path);
    return sk;
}

STACK_OF(X509) * vx_builtin_certs(const char *name)
{
    for (size_t i = 0; verify_roots[i].name; i++)
        if (!strcmp(verify_roots[i].name, name))
            return vx_certs_from_bytes((const uint8_t *)verify_roots[i].pem,
                                       strlen(verify_roots[i].pem));
    return NULL;
}

void vx_fingerprint_hex(X509 *c, char out[65])
{
    unsigned char md[32];
    unsigned int n = 0;
    out[0] = 0;
    if (!X509_digest(c, EVP_sha256(), md, &n) || n != 32)
        return;
    for (unsigned i = 0; i < 32; i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
}

int vx_check_link(X509 *child, X509 *parent, time_t at, char *err, size_t errlen)
{
    if (X509_NAME_cmp(X509_get_issuer_name(child), X509_get_subject_name(parent)) != 0) {
        snprintf(err, errlen, "issuer name is not the subject of the issuing certificate");
        return -1;
    }
    EVP_PKEY *pk = X509_get0_pubkey(parent);
    if (!pk) {
        snprintf(err, errlen, "issuing certificate has no usable key: %s", vx_ssl_error());
        return -1;
    }
    if (X509_verify(child, pk) != 1) {
        snprintf(err, errlen, "signature does not verify with the issuer's key (%s)",
                 vx_ssl_error());
        return -1;
    }
    if (X509_cmp_time(X509_get0_notBefore(child), &at) >= 0) {
        snprintf(err, errlen, "not yet valid at the verification time");
        return -1;
    }
    if (X509_cmp_time(X509_get0_notAfter(child), &at) <= 0) {
        snprintf(err, errlen, "expired at the verification time");
        return -1;
    }
    return 0;
}

int vx_ecdsa_verify(EVP_PKEY *key, const EVP_MD *md, const uint8_t *r, const uint8_t *s,
                    size_t clen, const uint8_t *msg, size_t len, char *err, size_t errlen)
{
    int rc = -1;
    ECDSA_SIG *sig = ECDSA_SIG_new();
    BIGNUM *br = BN_bin2bn(r, (int)clen, NULL), *bs = BN_bin2bn(s, (int)clen, NULL);
    unsigned char *der = NULL;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (!sig || !br || !bs || !ctx || !ECDSA_SIG_set0(sig, br, bs)) {
        BN_free(br);
        BN_free(bs);
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    int dlen = i2d_ECDSA_SIG(sig, &der);
    if (dlen <= 0 || EVP_DigestVerifyInit(ctx, NULL, md, NULL, key) != 1) {
        snprintf(err, errlen, "cannot set up ECDSA verification: %s", vx_ssl_error());
        goto out;
    }
    int v = EVP_DigestVerify(ctx, der, (size_t)dlen, msg, len);
    ERR_clear_error();
    rc = v == 1 ? 1 : 0;
out:
    EVP_MD_CTX_free(ctx);
    OPENSSL_free(der);
    ECDSA_SIG_free(sig);
    return rc;
}

EVP_PKEY *vx_p256_key(const uint8_t xy[64])
{
    unsigned char pt[65];
    pt[0] = 0x04;
    memcpy(pt + 1, xy, 64);
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, (char *)"prime256v1", 0),
        OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, pt, sizeof(pt)),
        OSSL_PARAM_construct_end(),
    };
    EVP_PKEY *key = NULL;
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
    if (!ctx || EVP_PKEY_fromdata_init(ctx) != 1 ||
        EVP_PKEY_fromdata(ctx, &key, EVP_PKEY_PUBLIC_KEY, params) != 1)
        key = NULL;
    EVP_PKEY_CTX_free(ctx);
    if (key) { /* fromdata does not check the point is on the curve; this does */
        EVP_PKEY_CTX *chk = EVP_PKEY_CTX_new(key, NULL);
        if (!chk || EVP_PKEY_public_check(chk) != 1) {
            EVP_PKEY_free(key);
            key = NULL;
        }
        EVP_PKEY_CTX_free(chk);
    }
    ERR_clear_error();
    return key;
}

const char *vx_ec_curve(EVP_PKEY *key)
{
    static char name[64];
    size_t n = 0;
    name[0] = 0;
    if (EVP_PKEY_get_base_id(key) != EVP_PKEY_EC ||
        EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME, name, sizeof(name), &n) !=
            1)
        name[0] = 0;
    return name;
}

static ASN1_OCTET_STRING *ext_data(X509 *c, const char *oid)
{
    ASN1_OBJECT *obj = OBJ_txt2obj(oid, 1);
    if (!obj)
        return NULL;
    int idx = X509_get_ext_by_OBJ(c, obj, -1);
    ASN1_OBJECT_free(obj);
    if (idx < 0)
        return NULL;
    return X509_EXTENSION_get_data(X509_get_ext(c, idx));
}

int vx_ext_small_int(X509 *c, const char *oid, long *out)
{
    ASN1_OCTET_STRING *d = ext_data(c, oid);
    if (!d)
        return -1;
    const unsigned char *p = ASN1_STRING_get0_data(d);
    long n = ASN1_STRING_length(d);
    ASN1_INTEGER *i = d2i_ASN1_INTEGER(NULL, &p, n);
    if (!i)
        return ERR_clear_error(), -1;
    long v = ASN1_INTEGER_get(i);
    ASN1_INTEGER_free(i);
    if (v < 0 || v > 0xff)
        return -1;
    *out = v;
    return 0;
}

int vx_ext_octets(X509 *c, const char *oid, const uint8_t **p, size_t *n)
{
    ASN1_OCTET_STRING *d = ext_data(c, oid);
    if (!d)
        return -1;
    *p = ASN1_STRING_get0_data(d);
    *n = (size_t)ASN1_STRING_length(d);
    return 0;
}

void vx_subject_cn(X509 *c, char *out, size_t outlen)
{
    out[0] = 0;
    if (X509_NAME_get_text_by_NID(X509_get_subject_name(c), NID_commonName, out, (int)outlen) < 0)
        out[0] = 0;
}

static int hexval(int ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    ch |= 0x20;
    return ch >= 'a' && ch <= 'f' ? ch - 'a' + 10 : -1;
}

int vx_decode_evidence(const uint8_t *in, size_t len, bool (*is_raw)(const uint8_t *, size_t),
                       uint8_t **out, size_t *outlen, char *err, size_t errlen)
{
    *out = NULL;
    *outlen = 0;
    if (is_raw(in, len)) {
        *out = malloc(len ? len : 1);
        if (!*out)
            return snprintf(err, errlen, "out of memory"), -1;
        memcpy(*out, in, len);
        *outlen = len;
        return 0;
    }
    char *txt = malloc(len + 1);
    if (!txt)
        return snprintf(err, errlen, "out of memory"), -1;
    size_t n = 0;
    bool hex = true;
    for (size_t i = 0; i < len; i++) {
        if (isspace(in[i]))
            continue;
        if (!isprint(in[i])) {
            free(txt);
            snprintf(err, errlen,
                     "neither raw evidence of the expected size nor hex or base64 "
                     "text");
            return -1;
        }
        hex = hex && hexval(in[i]) >= 0;
        txt[n++] = (char)in[i];
    }
    uint8_t *buf = malloc(n / 2 + n + 4);
    if (!buf) {
        free(txt);
        return snprintf(err, errlen, "out of memory"), -1;
    }
    if (hex && n % 2 == 0 && n > 0) {
        for (size_t i = 0; i < n / 2; i++)
            buf[i] = (uint8_t)(hexval(txt[2 * i]) << 4 | hexval(txt[2 * i + 1]));
        *outlen = n / 2;
    } else {
        int r = n % 4 == 0 && n > 0 && n < INT32_MAX
                    ? EVP_DecodeBlock(buf, (const unsigned char *)txt, (int)n)
                    : -1;
        if (r < 0) {
            free(txt);
            free(buf);
            snprintf(err, errlen,
                     "neither raw evidence of the expected size nor hex or base64 "
                     "text");
            return -1;
        }
        size_t pad = (txt[n - 1] == '=') + (txt[n - 2] == '=');
        *outlen = (size_t)r - pad;
    }
    free(txt);
    *out = buf;
    return 0;
}
