/* crypto.c: loads libcrypto on first use and fills the read-only EVP function table (crypto.h). */
#include "tee/crypto.h"

#include <dlfcn.h>
#include <errno.h> /* program_invocation_short_name */
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>

static struct crypto_evp evp_table;
static const struct crypto_evp *evp_loaded; /* &evp_table once every entry is filled */
static pthread_once_t evp_once = PTHREAD_ONCE_INIT;

/* One function of lib at the version the header describes; on failure prints why (once). */
static void *crypto_symbol(void *lib, const char *name, bool *ok)
{
    void *fn = dlvsym(lib, name, CRYPTO_SYMBOL_VERSION);
    if (!fn && *ok)
        fprintf(stderr, "%s: %s has no %s@%s, which the launch digests need\n",
                program_invocation_short_name, CRYPTO_LIBRARY, name, CRYPTO_SYMBOL_VERSION);
    if (!fn)
        *ok = false;
    return fn;
}

static void crypto_load(void)
{
    void *lib = dlopen(CRYPTO_LIBRARY, RTLD_NOW | RTLD_LOCAL);
    if (!lib) {
        fprintf(stderr, "%s: cannot load %s (OpenSSL 3), which the launch digests need: %s\n",
                program_invocation_short_name, CRYPTO_LIBRARY, dlerror());
        return;
    }
    bool ok = true;
    struct crypto_evp *t = &evp_table;
    t->EVP_MD_CTX_new = (__typeof__(t->EVP_MD_CTX_new))crypto_symbol(lib, "EVP_MD_CTX_new", &ok);
    t->EVP_MD_CTX_free = (__typeof__(t->EVP_MD_CTX_free))crypto_symbol(lib, "EVP_MD_CTX_free", &ok);
    t->EVP_DigestInit_ex =
        (__typeof__(t->EVP_DigestInit_ex))crypto_symbol(lib, "EVP_DigestInit_ex", &ok);
    t->EVP_DigestInit_ex2 =
        (__typeof__(t->EVP_DigestInit_ex2))crypto_symbol(lib, "EVP_DigestInit_ex2", &ok);
    t->EVP_DigestUpdate =
        (__typeof__(t->EVP_DigestUpdate))crypto_symbol(lib, "EVP_DigestUpdate", &ok);
    t->EVP_DigestFinal_ex =
        (__typeof__(t->EVP_DigestFinal_ex))crypto_symbol(lib, "EVP_DigestFinal_ex", &ok);
    t->EVP_Digest = (__typeof__(t->EVP_Digest))crypto_symbol(lib, "EVP_Digest", &ok);
    t->EVP_sha256 = (__typeof__(t->EVP_sha256))crypto_symbol(lib, "EVP_sha256", &ok);
    t->EVP_sha384 = (__typeof__(t->EVP_sha384))crypto_symbol(lib, "EVP_sha384", &ok);
    t->EVP_MD_fetch = (__typeof__(t->EVP_MD_fetch))crypto_symbol(lib, "EVP_MD_fetch", &ok);
    t->EVP_MD_free = (__typeof__(t->EVP_MD_free))crypto_symbol(lib, "EVP_MD_free", &ok);
    t->EVP_EncodeBlock = (__typeof__(t->EVP_EncodeBlock))crypto_symbol(lib, "EVP_EncodeBlock", &ok);
    /* The library stays loaded for the life of the process (OpenSSL keeps global state). */
    if (ok)
        evp_loaded = t;
}

const struct crypto_evp *crypto_evp(void)
{
    pthread_once(&evp_once, crypto_load);
    return evp_loaded;
}
