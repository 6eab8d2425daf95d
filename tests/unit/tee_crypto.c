/* tee_crypto.c: the lazily loaded libcrypto table (tee/crypto.h): one table for every caller,
 * even racing first calls, every entry filled, and digests through it match FIPS 180-2. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "tee/crypto.h"

enum { RACERS = 4 };

static void *first_call(void *out)
{
    *(const struct crypto_evp **)out = crypto_evp();
    return NULL;
}

/* Runs first: the racing threads make the very first calls of the process. */
static void racing_first_calls_get_one_table(void **state)
{
    (void)state;
    pthread_t t[RACERS];
    const struct crypto_evp *got[RACERS] = {0};
    for (int i = 0; i < RACERS; i++)
        assert_int_equal(pthread_create(&t[i], NULL, first_call, &got[i]), 0);
    for (int i = 0; i < RACERS; i++)
        assert_int_equal(pthread_join(t[i], NULL), 0);
    assert_non_null(got[0]);
    for (int i = 1; i < RACERS; i++)
        assert_ptr_equal(got[i], got[0]);
    assert_ptr_equal(crypto_evp(), got[0]);
}

static void every_entry_is_filled(void **state)
{
    (void)state;
    const struct crypto_evp *c = crypto_evp();
    assert_non_null(c);
    const void *const entries[] = {
        (const void *)c->EVP_MD_CTX_new,    (const void *)c->EVP_MD_CTX_free,
        (const void *)c->EVP_DigestInit_ex, (const void *)c->EVP_DigestInit_ex2,
        (const void *)c->EVP_DigestUpdate,  (const void *)c->EVP_DigestFinal_ex,
        (const void *)c->EVP_Digest,        (const void *)c->EVP_sha256,
        (const void *)c->EVP_sha384,        (const void *)c->EVP_MD_fetch,
        (const void *)c->EVP_MD_free,       (const void *)c->EVP_EncodeBlock,
    };
    assert_int_equal(sizeof(entries), sizeof(*c)); /* a new field must be listed here too */
    for (size_t i = 0; i < sizeof(entries) / sizeof(entries[0]); i++)
        assert_non_null(entries[i]);
}

/* FIPS 180-2 appendix vectors for "abc". */
static const uint8_t SHA256_ABC[32] = {
    0xba, 0x78, 0x16, 0xbf, 0x8f, 0x01, 0xcf, 0xea, 0x41, 0x41, 0x40, 0xde, 0x5d, 0xae, 0x22, 0x23,
    0xb0, 0x03, 0x61, 0xa3, 0x96, 0x17, 0x7a, 0x9c, 0xb4, 0x10, 0xff, 0x61, 0xf2, 0x00, 0x15, 0xad};
static const uint8_t SHA384_ABC[48] = {
    0xcb, 0x00, 0x75, 0x3f, 0x45, 0xa3, 0x5e, 0x8b, 0xb5, 0xa0, 0x3d, 0x69, 0x9a, 0xc6, 0x50, 0x07,
    0x27, 0x2c, 0x32, 0xab, 0x0e, 0xde, 0xd1, 0x63, 0x1a, 0x8b, 0x60, 0x5a, 0x43, 0xff, 0x5b, 0xed,
    0x80, 0x86, 0x07, 0x2b, 0xa1, 0xe7, 0xcc, 0x23, 0x58, 0xba, 0xec, 0xa1, 0x34, 0xc8, 0x25, 0xa7};

static void digests_match_published_vectors(void **state)
{
    (void)state;
    const struct crypto_evp *c = crypto_evp();
    assert_non_null(c);
    uint8_t out[48];
    unsigned int n = 0;
    assert_true(c->EVP_Digest("abc", 3, out, &n, c->EVP_sha256(), NULL));
    assert_int_equal(n, 32);
    assert_memory_equal(out, SHA256_ABC, 32);

    /* Streaming, with a fetched SHA-384 and the _ex2 initialiser (the SNP page path). */
    EVP_MD *md = c->EVP_MD_fetch(NULL, "SHA384", NULL);
    EVP_MD_CTX *ctx = c->EVP_MD_CTX_new();
    assert_non_null(md);
    assert_non_null(ctx);
    assert_true(c->EVP_DigestInit_ex2(ctx, md, NULL));
    assert_true(c->EVP_DigestUpdate(ctx, "a", 1));
    assert_true(c->EVP_DigestUpdate(ctx, "bc", 2));
    assert_true(c->EVP_DigestFinal_ex(ctx, out, &n));
    assert_int_equal(n, 48);
    assert_memory_equal(out, SHA384_ABC, 48);
    assert_true(c->EVP_DigestInit_ex(ctx, c->EVP_sha384(), NULL));
    assert_true(c->EVP_DigestUpdate(ctx, "abc", 3));
    assert_true(c->EVP_DigestFinal_ex(ctx, out, &n));
    assert_memory_equal(out, SHA384_ABC, 48);
    c->EVP_MD_CTX_free(ctx);
    c->EVP_MD_free(md);

    unsigned char b64[12] = ""; /* 8 characters and a NUL */
    assert_int_equal(c->EVP_EncodeBlock(b64, (const unsigned char *)"abcd", 4), 8);
    assert_memory_equal(b64, "YWJjZA==", 8);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(racing_first_calls_get_one_table),
        cmocka_unit_test(every_entry_is_filled),
        cmocka_unit_test(digests_match_published_vectors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
