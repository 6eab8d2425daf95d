/* crypto.h: OpenSSL's libcrypto, loaded on first use, as one read-only table of the EVP digest
 * functions the launch-measurement code calls (a plain-KVM VM never maps libcrypto). */
#ifndef COCOON_TEE_CRYPTO_H
#define COCOON_TEE_CRYPTO_H

#include <openssl/evp.h>

/* The shared object loaded, and the symbol version every function is looked up with (the ABI of
 * the <openssl/evp.h> this was compiled against). */
#define CRYPTO_LIBRARY        "libcrypto.so.3"
#define CRYPTO_SYMBOL_VERSION "OPENSSL_3.0.0"

/* One field per libcrypto function used, typed from its <openssl/evp.h> declaration, so a call
 * through the table is checked exactly like a direct call to the function it is named after. */
struct crypto_evp {
    __typeof__(EVP_MD_CTX_new) *EVP_MD_CTX_new;
    __typeof__(EVP_MD_CTX_free) *EVP_MD_CTX_free;
    __typeof__(EVP_DigestInit_ex) *EVP_DigestInit_ex;
    __typeof__(EVP_DigestInit_ex2) *EVP_DigestInit_ex2;
    __typeof__(EVP_DigestUpdate) *EVP_DigestUpdate;
    __typeof__(EVP_DigestFinal_ex) *EVP_DigestFinal_ex;
    __typeof__(EVP_Digest) *EVP_Digest;
    __typeof__(EVP_sha256) *EVP_sha256;
    __typeof__(EVP_sha384) *EVP_sha384;
    __typeof__(EVP_MD_fetch) *EVP_MD_fetch;
    __typeof__(EVP_MD_free) *EVP_MD_free;
    __typeof__(EVP_EncodeBlock) *EVP_EncodeBlock;
};

/* The table, filled once (thread-safe) by the first call, which dlopen()s CRYPTO_LIBRARY; never
 * written again. NULL if the library or one of its functions cannot be loaded: that first call
 * then prints one line saying so on stderr, and every later call returns NULL quietly. */
const struct crypto_evp *crypto_evp(void);

#endif
