/* sev_hashes.c: the SEV kernel-hashes table (QEMU sev_add_kernel_loader_hashes layout) and
 * one-pass SHA-256 of kernel, initrd and command line. */
#include "tee/sev_hashes.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tee/crypto.h"

static const uint8_t GUID_TABLE_HEADER[16] = {0x06, 0xd6, 0x38, 0x94, 0x22, 0x4f, 0xc9, 0x4c,
                                              0xb4, 0x79, 0xa7, 0x93, 0xd4, 0x11, 0xfd, 0x21};
static const uint8_t GUID_CMDLINE[16] = {0xd8, 0x2d, 0xd0, 0x97, 0x20, 0xbd, 0x94, 0x4c,
                                         0xaa, 0x78, 0xe7, 0x71, 0x4d, 0x36, 0xab, 0x2a};
static const uint8_t GUID_INITRD[16] = {0x31, 0xf7, 0xba, 0x44, 0x2f, 0x3a, 0xd7, 0x4b,
                                        0x9a, 0xf1, 0x41, 0xe2, 0x91, 0x69, 0x78, 0x1d};
static const uint8_t GUID_KERNEL[16] = {0x37, 0x94, 0xe7, 0x4d, 0xd2, 0xab, 0x7f, 0x42,
                                        0xb8, 0x35, 0xd5, 0xb1, 0x72, 0xd2, 0x04, 0x5b};

#define ENTRY_LEN 50 /* GUID + u16 length + SHA-256 */

static void put_entry(uint8_t *p, const uint8_t guid[16], const uint8_t hash[32])
{
    memcpy(p, guid, 16);
    p[16] = ENTRY_LEN;
    p[17] = 0;
    memcpy(p + 18, hash, 32);
}

void sev_hashes_table(uint8_t out[SEV_HASHES_TABLE_PADDED_LEN],
                      const struct launch_kernel_hashes *h)
{
    memset(out, 0, SEV_HASHES_TABLE_PADDED_LEN);
    memcpy(out, GUID_TABLE_HEADER, 16);
    out[16] = SEV_HASHES_TABLE_LEN;
    out[17] = 0;
    put_entry(out + 18, GUID_CMDLINE, h->cmdline);
    put_entry(out + 18 + ENTRY_LEN, GUID_INITRD, h->initrd);
    put_entry(out + 18 + 2 * ENTRY_LEN, GUID_KERNEL, h->kernel);
}

int sev_hashes_page(uint8_t page[4096], uint32_t offset_in_page,
                    const struct launch_kernel_hashes *h, struct fw_error *err)
{
    if (offset_in_page > 4096 - SEV_HASHES_TABLE_PADDED_LEN)
        return fw_fail(err, "SEV hashes table at page offset %#x does not fit in its page",
                       offset_in_page);
    memset(page, 0, 4096);
    sev_hashes_table(page + offset_in_page, h);
    return 0;
}

int sev_sha256(uint8_t out[32], const uint8_t *data, size_t len, struct fw_error *err)
{
    unsigned int n = 0;
    const struct crypto_evp *c = crypto_evp();
    if (!c)
        return fw_fail(err, "OpenSSL SHA-256 unavailable (%s not loaded)", CRYPTO_LIBRARY);
    if (!c->EVP_Digest(data, len, out, &n, c->EVP_sha256(), NULL) || n != 32)
        return fw_fail(err, "OpenSSL SHA-256 failed");
    return 0;
}

int sev_hash_cmdline(uint8_t out[32], const char *cmdline, struct fw_error *err)
{
    /* QEMU hashes the command line including its terminating NUL. */
    const char *s = cmdline ? cmdline : "";
    return sev_sha256(out, (const uint8_t *)s, strlen(s) + 1, err);
}

int sev_sha256_file(uint8_t out[32], const char *path, struct fw_error *err)
{
    if (!path)
        return sev_sha256(out, (const uint8_t *)"", 0, err);
    enum { CHUNK = 512 * 1024 };
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return fw_fail(err, "cannot open %s: %s", path, strerror(errno));
    posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
    const struct crypto_evp *c = crypto_evp();
    if (!c) {
        close(fd);
        return fw_fail(err, "OpenSSL SHA-256 unavailable (%s not loaded)", CRYPTO_LIBRARY);
    }
    uint8_t *buf = malloc(CHUNK);
    EVP_MD_CTX *ctx = c->EVP_MD_CTX_new();
    int rc = -1;
    if (!buf || !ctx || !c->EVP_DigestInit_ex(ctx, c->EVP_sha256(), NULL)) {
        fw_fail(err, "out of memory or OpenSSL failure hashing %s", path);
        goto out;
    }
    for (;;) {
        ssize_t r = read(fd, buf, CHUNK);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            fw_fail(err, "cannot read %s: %s", path, strerror(errno));
            goto out;
        }
        if (r == 0)
            break;
        if (!c->EVP_DigestUpdate(ctx, buf, (size_t)r)) {
            fw_fail(err, "OpenSSL SHA-256 failed on %s", path);
            goto out;
        }
    }
    unsigned int n = 0;
    if (!c->EVP_DigestFinal_ex(ctx, out, &n) || n != 32) {
        fw_fail(err, "OpenSSL SHA-256 failed on %s", path);
        goto out;
    }
    rc = 0;
out:
    c->EVP_MD_CTX_free(ctx);
    free(buf);
    close(fd);
    return rc;
}
