/* verify_x509.h: the OpenSSL calls the offline verifier makes (certificate loading, chain links,
 * raw-ECDSA signatures, vendor extensions, base64/hex evidence decoding). All cryptography goes
 * through libcrypto; nothing here parses a report or quote. */
#ifndef COCOON_TOOLS_VERIFY_X509_H
#define COCOON_TOOLS_VERIFY_X509_H

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* Certificates from PEM (one or more) or DER (one) bytes; NULL if none parses. The caller
 * frees the stack with sk_X509_pop_free(sk, X509_free). */
STACK_OF(X509) * vx_certs_from_bytes(const uint8_t *data, size_t len);

/* The same from a file; NULL with err set if unreadable or no certificate in it. */
STACK_OF(X509) * vx_certs_from_file(const char *path, char *err, size_t errlen);

/* One of the built-in roots (tools/roots/<name>), parsed; NULL if unknown. */
STACK_OF(X509) * vx_builtin_certs(const char *name);

/* SHA-256 of the DER certificate, as 64 lowercase hex digits plus NUL. */
void vx_fingerprint_hex(X509 *c, char out[65]);

/* child's issuer is parent's subject, parent's key verifies child's signature (RSA-PSS and ECDSA
 * as the certificate says), and `at` lies in child's validity. 0, or -1 with err set. */
int vx_check_link(X509 *child, X509 *parent, time_t at, char *err, size_t errlen);

/* ECDSA over msg with `md`, the signature given as big-endian r and s of clen bytes each. 1
 * verified, 0 not verified, -1 error (err set). */
int vx_ecdsa_verify(EVP_PKEY *key, const EVP_MD *md, const uint8_t *r, const uint8_t *s,
                    size_t clen, const uint8_t *msg, size_t len, char *err, size_t errlen);

/* A P-256 public key from its 64-byte big-endian x || y; NULL if not a point on the curve. */
EVP_PKEY *vx_p256_key(const uint8_t xy[64]);

/* Name of the curve of an EC key ("secp384r1", ...), or "" if not EC. */
const char *vx_ec_curve(EVP_PKEY *key);

/* The extension with this dotted OID: its DER INTEGER value (0..255 for AMD's SPLs) / its raw
 * OCTET STRING contents. 0, or -1 if absent or malformed. */
int vx_ext_small_int(X509 *c, const char *oid, long *out);
int vx_ext_octets(X509 *c, const char *oid, const uint8_t **p, size_t *n);

/* The CN of the subject, or "" (static buffer per call site is not needed: copied to out). */
void vx_subject_cn(X509 *c, char *out, size_t outlen);

/* Evidence bytes as a tool wrote them: raw when `is_raw` says so, else hex (whitespace allowed)
 * or base64. *out is malloc'd. 0, or -1 with err set. */
int vx_decode_evidence(const uint8_t *in, size_t len, bool (*is_raw)(const uint8_t *, size_t),
                       uint8_t **out, size_t *outlen, char *err, size_t errlen);

/* The most recent OpenSSL error as text (for messages). */
const char *vx_ssl_error(void);

#endif
