/* fw_cfg_kernel_items: the fw_cfg device driven as OVMF drives it (ports and DMA) serves the
 * kernel, initrd and command line byte for byte as the SEV kernel-hashes table hashes them. */
#include <setjmp.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include <openssl/evp.h>

#include "devices/fw_cfg.h"
#include "tests/unit/support/tee_harness.h"
#include "vmm/base/bus.h"
#include "vmm/vm_internal.h"
#include "tee/launch_plan.h"
#include "tee/sev_hashes.h"
#include "vmm/base/memory.h"
#include "support/loader_files.h"
#include "support/measure_fixtures.h"

#define RAM_SIZE  (4u << 20)
#define DESC_GPA  0x1000ULL  /* the DMA descriptor */
#define BUF_GPA   0x10000ULL /* DMA target buffer (up to 1 MiB) */
#define BUF_LEN   0x100000u
#define PM_SIZE   (64u * 1024 + 123) /* protected-mode part of the synthetic bzImage */
#define INITRD_SZ (12345u)

static const char CMDLINE[] = "console=ttyS0 root=/dev/vda1 quiet";

struct fixture {
    uint8_t *ram;
    struct guest_mem gm;
    uint8_t *kernel;
    size_t kernel_len;
    uint8_t *initrd;
    const char *kernel_path;
    const char *initrd_path;
};

static struct fixture fx;

static int setup(void **state)
{
    (void)state;
    fx.ram = calloc(1, RAM_SIZE);
    assert_non_null(fx.ram);
    gm_init_host(&fx.gm, fx.ram, RAM_SIZE);
    fx.kernel = lt_make_bzimage(PM_SIZE, &fx.kernel_len);
    fx.initrd = malloc(INITRD_SZ);
    assert_non_null(fx.kernel);
    assert_non_null(fx.initrd);
    for (size_t i = 0; i < INITRD_SZ; i++)
        fx.initrd[i] = (uint8_t)(i * 131 + 17);
    fx.kernel_path = lt_temp_file(0, fx.kernel, fx.kernel_len);
    fx.initrd_path = lt_temp_file(1, fx.initrd, INITRD_SZ);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    gm_destroy(&fx.gm);
    free(fx.ram);
    free(fx.kernel);
    free(fx.initrd);
    lt_cleanup();
    return 0;
}

static struct fw_cfg *make_dev(const char *initrd, const char *cmdline)
{
    const struct fw_cfg_config c = {.kernel = fx.kernel_path,
                                    .initrd = initrd,
                                    .cmdline = cmdline,
                                    .ram_size = RAM_SIZE,
                                    .nb_cpus = 4,
                                    .max_cpus = 8};
    char err[256] = "";
    struct fw_cfg *fw = fw_cfg_new(&fx.gm, &c, err, sizeof(err));
    if (!fw)
        fprintf(stderr, "fw_cfg_new: %s\n", err);
    assert_non_null(fw);
    return fw;
}

/* ---- Driving the device like OVMF's QemuFwCfgLib ---- */

static void port_select(struct fw_cfg *fw, uint16_t key)
{
    uint8_t d[2] = {(uint8_t)key, (uint8_t)(key >> 8)};
    fw_cfg_comb_io(fw, 0, d, 2, true);
}

static void port_read(struct fw_cfg *fw, uint8_t *out, size_t n)
{
    for (size_t i = 0; i < n; i++)
        fw_cfg_comb_io(fw, 1, &out[i], 1, false);
}

static uint32_t port_u32(struct fw_cfg *fw, uint16_t key)
{
    uint8_t b[4];
    port_select(fw, key);
    port_read(fw, b, 4);
    return lt_get32(b);
}

static void put_be(uint8_t *p, uint64_t v, unsigned n)
{
    for (unsigned i = 0; i < n; i++)
        p[i] = (uint8_t)(v >> (8 * (n - 1 - i)));
}

static uint32_t get_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Writes the descriptor at `desc` (if reachable), kicks the DMA port as OVMF does (outl of the
 * byte-swapped halves, high first), and returns the control word left in the descriptor. */
static uint32_t dma(struct fw_cfg *fw, uint64_t desc, uint32_t control, uint32_t len, uint64_t addr)
{
    uint8_t d[FW_CFG_DMA_DESC_LEN];
    put_be(d, control, 4);
    put_be(d + 4, len, 4);
    put_be(d + 8, addr, 8);
    bool in_ram = desc < RAM_SIZE && RAM_SIZE - desc >= sizeof(d);
    if (in_ram)
        memcpy(fx.ram + desc, d, sizeof(d));
    uint8_t hi[4], lo[4];
    put_be(hi, desc >> 32, 4);
    put_be(lo, desc & 0xffffffffu, 4);
    fw_cfg_dma_io(fw, 0, hi, 4, true);
    fw_cfg_dma_io(fw, 4, lo, 4, true);
    return in_ram ? get_be32(fx.ram + desc) : 0xdeadbeef;
}

static uint32_t dma_read_item(struct fw_cfg *fw, uint16_t key, uint32_t len)
{
    return dma(fw, DESC_GPA, (uint32_t)key << 16 | FW_CFG_DMA_CTL_SELECT | FW_CFG_DMA_CTL_READ, len,
               BUF_GPA);
}

static void sha256(uint8_t out[32], const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    unsigned n = 0;
    assert_non_null(c);
    assert_int_equal(EVP_DigestInit_ex(c, EVP_sha256(), NULL), 1);
    assert_int_equal(EVP_DigestUpdate(c, a, alen), 1);
    assert_int_equal(EVP_DigestUpdate(c, b, blen), 1);
    assert_int_equal(EVP_DigestFinal_ex(c, out, &n), 1);
    assert_int_equal(n, 32);
    EVP_MD_CTX_free(c);
}

/* ---- Tests ---- */

/* Signature, ID with the DMA bit, the DMA signature and an empty file directory. */
static void identity_items(void **state)
{
    (void)state;
    struct fw_cfg *fw = make_dev(fx.initrd_path, CMDLINE);
    uint8_t sig[4];
    port_select(fw, FW_CFG_SIGNATURE);
    port_read(fw, sig, 4);
    assert_memory_equal(sig, "QEMU", 4);
    assert_int_equal(port_u32(fw, FW_CFG_ID), FW_CFG_ID_TRADITIONAL | FW_CFG_ID_DMA);
    uint8_t dsig[8];
    fw_cfg_dma_io(fw, 0, dsig, 4, false);
    fw_cfg_dma_io(fw, 4, dsig + 4, 4, false);
    assert_memory_equal(dsig, "QEMU CFG", 8);
    uint8_t dir[8];
    port_select(fw, FW_CFG_FILE_DIR);
    port_read(fw, dir, 8);
    assert_int_equal(get_be32(dir), 0); /* count 0, then nothing (zeros past the end) */
    assert_int_equal(get_be32(dir + 4), 0);
    uint8_t ncpu[2];
    port_select(fw, FW_CFG_NB_CPUS);
    port_read(fw, ncpu, 2);
    assert_int_equal(ncpu[0] | ncpu[1] << 8, 4);
    /* an unknown key reads zeros and a 2-byte read at the data port is not data */
    uint8_t z[4] = {1, 1, 1, 1};
    port_select(fw, 0x7fff);
    port_read(fw, z, 4);
    assert_int_equal(lt_get32(z), 0);
    fw_cfg_free(fw);
}

/* Every kernel-loading item, by port and by DMA, against the files. */
static void kernel_items_match_files(void **state)
{
    (void)state;
    struct fw_cfg *fw = make_dev(fx.initrd_path, CMDLINE);
    uint32_t setup = (fx.kernel[LT_SETUP_SECTS] + 1u) * 512u;
    assert_int_equal(port_u32(fw, FW_CFG_SETUP_SIZE), setup);
    assert_int_equal(port_u32(fw, FW_CFG_KERNEL_SIZE), fx.kernel_len - setup);
    assert_int_equal(port_u32(fw, FW_CFG_SETUP_ADDR), 0x10000);
    assert_int_equal(port_u32(fw, FW_CFG_KERNEL_ADDR), 0x100000);
    assert_int_equal(port_u32(fw, FW_CFG_CMDLINE_ADDR), 0x20000);
    assert_int_equal(port_u32(fw, FW_CFG_CMDLINE_SIZE), sizeof(CMDLINE));
    assert_int_equal(port_u32(fw, FW_CFG_INITRD_SIZE), INITRD_SZ);
    /* QEMU: below min(initrd_addr_max, RAM - ACPI reserve - 1), 4 KiB aligned */
    assert_int_equal(port_u32(fw, FW_CFG_INITRD_ADDR),
                     (RAM_SIZE - 0x28000u - 1 - INITRD_SZ) & ~0xfffu);

    /* setup by port, byte by byte */
    uint8_t *buf = malloc(setup);
    assert_non_null(buf);
    port_select(fw, FW_CFG_SETUP_DATA);
    port_read(fw, buf, setup);
    assert_memory_equal(buf, fx.kernel, setup);
    free(buf);

    /* kernel, initrd and cmdline by DMA */
    memset(fx.ram + BUF_GPA, 0xaa, BUF_LEN);
    assert_int_equal(dma_read_item(fw, FW_CFG_KERNEL_DATA, (uint32_t)(fx.kernel_len - setup)), 0);
    assert_memory_equal(fx.ram + BUF_GPA, fx.kernel + setup, fx.kernel_len - setup);
    assert_int_equal(dma_read_item(fw, FW_CFG_INITRD_DATA, INITRD_SZ), 0);
    assert_memory_equal(fx.ram + BUF_GPA, fx.initrd, INITRD_SZ);
    assert_int_equal(dma_read_item(fw, FW_CFG_CMDLINE_DATA, sizeof(CMDLINE)), 0);
    assert_memory_equal(fx.ram + BUF_GPA, CMDLINE, sizeof(CMDLINE)); /* with its NUL */

    /* SKIP then READ continues from the skipped offset; reading past the end gives zeros */
    memset(fx.ram + BUF_GPA, 0xaa, 4096);
    assert_int_equal(
        dma(fw, DESC_GPA,
            (uint32_t)FW_CFG_KERNEL_DATA << 16 | FW_CFG_DMA_CTL_SELECT | FW_CFG_DMA_CTL_SKIP, 100,
            0),
        0);
    assert_int_equal(dma(fw, DESC_GPA, FW_CFG_DMA_CTL_READ, 50, BUF_GPA), 0);
    assert_memory_equal(fx.ram + BUF_GPA, fx.kernel + setup + 100, 50);
    assert_int_equal(
        dma(fw, DESC_GPA,
            (uint32_t)FW_CFG_CMDLINE_DATA << 16 | FW_CFG_DMA_CTL_SELECT | FW_CFG_DMA_CTL_READ,
            sizeof(CMDLINE) + 64, BUF_GPA),
        0);
    for (size_t i = sizeof(CMDLINE); i < sizeof(CMDLINE) + 64; i++)
        assert_int_equal(fx.ram[BUF_GPA + i], 0);
    /* a port read after DMA continues at the item offset */
    port_select(fw, FW_CFG_KERNEL_DATA);
    assert_int_equal(dma(fw, DESC_GPA, FW_CFG_DMA_CTL_SKIP, 7, 0), 0);
    uint8_t b;
    port_read(fw, &b, 1);
    assert_int_equal(b, fx.kernel[setup + 7]);
    assert_int_equal(fw_cfg_dma_errors(fw), 0);
    fw_cfg_free(fw);
}

/* Bad DMA: buffer outside RAM, a length running off RAM, a write, a descriptor outside RAM. */
static void bad_dma_sets_error(void **state)
{
    (void)state;
    struct fw_cfg *fw = make_dev(fx.initrd_path, CMDLINE);
    uint32_t rd = (uint32_t)FW_CFG_INITRD_DATA << 16 | FW_CFG_DMA_CTL_SELECT | FW_CFG_DMA_CTL_READ;
    assert_true(dma(fw, DESC_GPA, rd, 64, RAM_SIZE + 0x1000) & FW_CFG_DMA_CTL_ERROR);
    assert_true(dma(fw, DESC_GPA, rd, 0xffffffffu, RAM_SIZE - 4096) & FW_CFG_DMA_CTL_ERROR);
    assert_true(dma(fw, DESC_GPA, rd, 64, ~0ULL - 10) & FW_CFG_DMA_CTL_ERROR);
    assert_true(dma(fw, DESC_GPA, FW_CFG_DMA_CTL_WRITE, 4, BUF_GPA) & FW_CFG_DMA_CTL_ERROR);
    uint64_t before = fw_cfg_dma_errors(fw);
    dma(fw, (uint64_t)RAM_SIZE + 0x100000, rd, 64, BUF_GPA); /* descriptor unreachable */
    dma(fw, ~0ULL - 8, rd, 64, BUF_GPA);                     /* wrapping descriptor */
    assert_int_equal(fw_cfg_dma_errors(fw), before + 2);
    /* the device keeps working */
    assert_int_equal(dma_read_item(fw, FW_CFG_INITRD_DATA, INITRD_SZ), 0);
    assert_memory_equal(fx.ram + BUF_GPA, fx.initrd, INITRD_SZ);
    fw_cfg_free(fw);
}

/* The bytes served hash to the entries of the SEV hashes table the launch plan builds from the
 * same inputs (as tee_snp.c hashes them), with and without initrd and command line. */
static void served_bytes_match_sev_hashes(void **state)
{
    (void)state;
    for (int variant = 0; variant < 2; variant++) {
        const char *initrd = variant == 0 ? fx.initrd_path : NULL;
        const char *cmdline = variant == 0 ? CMDLINE : NULL;
        struct fw_cfg *fw = make_dev(initrd, cmdline);

        /* the plan's table */
        struct launch_kernel_hashes kh;
        struct fw_error err = {{0}};
        assert_int_equal(sev_sha256_file(kh.kernel, fx.kernel_path, &err), 0);
        assert_int_equal(sev_sha256_file(kh.initrd, initrd, &err), 0);
        assert_int_equal(sev_hash_cmdline(kh.cmdline, cmdline, &err), 0);
        static uint8_t img[MF_SIZE];
        mf_build_image(img);
        struct launch_sev_config cfg = {.tee = LAUNCH_TEE_SNP,
                                        .firmware = img,
                                        .firmware_size = MF_SIZE,
                                        .kernel = &kh,
                                        .vcpus = 1,
                                        .vcpu_sig = 0xa00f11,
                                        .guest_features = 0x1,
                                        .vmm = LAUNCH_VMM_QEMU};
        struct launch_plan plan;
        assert_int_equal(launch_plan_build_sev(&plan, &cfg, &err), 0);
        assert_non_null(plan.hashes_page);
        const uint8_t *table = plan.hashes_page + (0x810c00 & 0xfff);
        assert_int_equal(table[16], SEV_HASHES_TABLE_LEN);

        /* what OVMF's QemuKernelLoaderFsDxe fetches: setup || kernel, initrd, cmdline */
        uint32_t setup_len = port_u32(fw, FW_CFG_SETUP_SIZE);
        uint32_t kernel_len = port_u32(fw, FW_CFG_KERNEL_SIZE);
        uint32_t initrd_len = port_u32(fw, FW_CFG_INITRD_SIZE);
        uint32_t cmdline_len = port_u32(fw, FW_CFG_CMDLINE_SIZE);
        assert_true(setup_len + kernel_len <= BUF_LEN && initrd_len <= BUF_LEN);
        uint8_t *blob = malloc(setup_len + kernel_len + 1);
        assert_non_null(blob);
        assert_int_equal(dma_read_item(fw, FW_CFG_SETUP_DATA, setup_len), 0);
        memcpy(blob, fx.ram + BUF_GPA, setup_len);
        assert_int_equal(dma_read_item(fw, FW_CFG_KERNEL_DATA, kernel_len), 0);
        memcpy(blob + setup_len, fx.ram + BUF_GPA, kernel_len);
        uint8_t h[32];
        sha256(h, blob, setup_len, blob + setup_len, kernel_len);
        assert_memory_equal(h, table + 118 + 18, 32); /* kernel entry */
        if (initrd_len)
            assert_int_equal(dma_read_item(fw, FW_CFG_INITRD_DATA, initrd_len), 0);
        sha256(h, fx.ram + BUF_GPA, initrd_len, NULL, 0);
        assert_memory_equal(h, table + 68 + 18, 32); /* initrd entry */
        assert_int_equal(initrd_len, variant == 0 ? INITRD_SZ : 0);
        assert_int_equal(dma_read_item(fw, FW_CFG_CMDLINE_DATA, cmdline_len), 0);
        sha256(h, fx.ram + BUF_GPA, cmdline_len, NULL, 0);
        assert_memory_equal(h, table + 18 + 18, 32); /* cmdline entry */
        assert_int_equal(cmdline_len, variant == 0 ? sizeof(CMDLINE) : 1);
        free(blob);
        launch_plan_free(&plan);
        fw_cfg_free(fw);
    }
}

/* TEE guest: the descriptor or the buffer in a private page is refused (the private page is not
 * touched); with both shared (OVMF's bounce buffer) the transfer works. */
static void private_pages_refused(void **state)
{
    (void)state;
    struct fw_cfg *fw = make_dev(fx.initrd_path, CMDLINE);
    assert_int_equal(gm_enable_private(&fx.gm), 0); /* everything private */
    uint32_t rd = (uint32_t)FW_CFG_INITRD_DATA << 16 | FW_CFG_DMA_CTL_SELECT | FW_CFG_DMA_CTL_READ;

    /* descriptor private: nothing read or written, the refusal is counted */
    memset(fx.ram + BUF_GPA, 0x5a, 8192);
    uint64_t before = fw_cfg_dma_errors(fw);
    uint32_t ctl = dma(fw, DESC_GPA, rd, 64, BUF_GPA);
    assert_int_equal(ctl, rd); /* the private descriptor was not written back */
    assert_int_equal(fw_cfg_dma_errors(fw), before + 1);
    assert_int_equal(fx.ram[BUF_GPA], 0x5a);

    /* descriptor shared, buffer private: ERROR, the private page untouched */
    assert_int_equal(gm_set_private(&fx.gm, DESC_GPA, 4096, false), 0);
    assert_true(dma(fw, DESC_GPA, rd, 64, BUF_GPA) & FW_CFG_DMA_CTL_ERROR);
    assert_int_equal(fx.ram[BUF_GPA], 0x5a);
    /* a buffer straddling shared -> private is refused too */
    assert_int_equal(gm_set_private(&fx.gm, BUF_GPA, 4096, false), 0);
    assert_true(dma(fw, DESC_GPA, rd, 8192, BUF_GPA) & FW_CFG_DMA_CTL_ERROR);
    assert_int_equal(fx.ram[BUF_GPA + 4096], 0x5a);

    /* both shared: works */
    assert_int_equal(dma_read_item(fw, FW_CFG_INITRD_DATA, 4096), 0);
    assert_memory_equal(fx.ram + BUF_GPA, fx.initrd, 4096);
    free(fx.gm.private_bits);
    fx.gm.private_bits = NULL;
    fw_cfg_free(fw);
}

/* Kernels the device refuses, and setup_sects 0 meaning 4. */
static void kernel_header_checks(void **state)
{
    (void)state;
    char err[256] = "";
    const struct fw_cfg_config bad = {.kernel = fx.initrd_path, .ram_size = RAM_SIZE};
    assert_null(fw_cfg_new(&fx.gm, &bad, err, sizeof(err)));
    assert_non_null(strstr(err, "bzImage"));
    const struct fw_cfg_config missing = {.kernel = "/nonexistent/k", .ram_size = RAM_SIZE};
    assert_null(fw_cfg_new(&fx.gm, &missing, err, sizeof(err)));
    char fifo[] = "/tmp/cocoon-fwcfg-fifo-XXXXXX"; /* refused without blocking the open */
    assert_non_null(mkdtemp(fifo));
    char fifo_path[64];
    snprintf(fifo_path, sizeof(fifo_path), "%s/k", fifo);
    assert_int_equal(mkfifo(fifo_path, 0600), 0);
    const struct fw_cfg_config pipe_kernel = {.kernel = fifo_path, .ram_size = RAM_SIZE};
    assert_null(fw_cfg_new(&fx.gm, &pipe_kernel, err, sizeof(err)));
    assert_non_null(strstr(err, "regular file"));
    unlink(fifo_path);
    rmdir(fifo);
    uint8_t *k = malloc(fx.kernel_len);
    assert_non_null(k);
    memcpy(k, fx.kernel, fx.kernel_len);
    k[LT_SETUP_SECTS] = 0; /* 0 means 4 sectors */
    const struct fw_cfg_config zero = {.kernel = lt_temp_file(2, k, fx.kernel_len),
                                       .ram_size = RAM_SIZE};
    struct fw_cfg *fw = fw_cfg_new(&fx.gm, &zero, err, sizeof(err));
    assert_non_null(fw);
    assert_int_equal(port_u32(fw, FW_CFG_SETUP_SIZE), 5 * 512);
    fw_cfg_free(fw);
    lt_put16(k + LT_VERSION, 0x0201); /* boot protocol 2.01: setup at 0x90000, cmdline below */
    const struct fw_cfg_config old_proto = {
        .kernel = lt_temp_file(3, k, fx.kernel_len), .cmdline = CMDLINE, .ram_size = RAM_SIZE};
    fw = fw_cfg_new(&fx.gm, &old_proto, err, sizeof(err));
    assert_non_null(fw);
    assert_int_equal(port_u32(fw, FW_CFG_SETUP_ADDR), 0x90000);
    assert_int_equal(port_u32(fw, FW_CFG_CMDLINE_ADDR), 0x9a000 - ((strlen(CMDLINE) + 16) & ~15u));
    assert_int_equal(port_u32(fw, FW_CFG_KERNEL_ADDR), 0x100000);
    fw_cfg_free(fw);
    k[LT_SETUP_SECTS] = 250; /* setup beyond the file */
    const struct fw_cfg_config big = {.kernel = lt_temp_file(3, k, 4096), .ram_size = RAM_SIZE};
    assert_null(fw_cfg_new(&fx.gm, &big, err, sizeof(err)));
    free(k);
}

/* vm_create on a simulated SNP host: --firmware with --kernel claims the fw_cfg ports (serving
 * the files), without a kernel they stay unclaimed, and a kernel OVMF could not load is refused. */
static struct vm *create_snp(const char *kernel, char *err, size_t errlen, uv_loop_t *loop,
                             struct sim_tee **sim)
{
    static char fw[4096];
    if (harness_fw_snp(COCOON_SOURCE_DIR, fw, sizeof(fw)) == HARNESS_FW_NONE)
        fail_msg("cannot write the synthetic firmware");
    struct vm_config cfg;
    vm_config_init(&cfg);
    cfg.cpus = 1;
    cfg.memory = 64ULL << 20;
    cfg.serial = SERIAL_OFF;
    cfg.platform.tee = TEE_SNP;
    cfg.firmware = fw;
    cfg.kernel = (char *)kernel;
    cfg.initramfs = kernel ? (char *)fx.initrd_path : NULL;
    cfg.cmdline = kernel ? (char *)CMDLINE : NULL;
    *sim = sim_tee_new(SIM_HOST_SNP);
    assert_non_null(*sim);
    struct vm *vm = NULL;
    if (vm_create_with(&(*sim)->handle, &cfg, loop, NULL, NULL, &vm, err, errlen) < 0)
        return NULL;
    return vm;
}

static void finish(struct vm *vm, uv_loop_t *loop, struct sim_tee *s)
{
    if (vm)
        vm_destroy(vm);
    uv_run(loop, UV_RUN_NOWAIT);
    assert_int_equal(uv_loop_close(loop), 0);
    sim_tee_free(s);
}

static void attached_for_tee_firmware_with_kernel(void **state)
{
    (void)state;
    char err[512] = "";
    uv_loop_t loop;
    struct sim_tee *s;
    assert_int_equal(uv_loop_init(&loop), 0);
    struct vm *vm = create_snp(fx.kernel_path, err, sizeof(err), &loop, &s);
    if (!vm)
        fail_msg("vm_create: %s", err);
    uint8_t sel[2] = {FW_CFG_SIGNATURE, 0}, sig[4], dsig[4];
    assert_true(bus_dispatch(vm->pio, FW_CFG_PORT_SEL, sel, 2, true));
    for (int i = 0; i < 4; i++)
        assert_true(bus_dispatch(vm->pio, FW_CFG_PORT_DATA, &sig[i], 1, false));
    assert_memory_equal(sig, "QEMU", 4);
    assert_true(bus_dispatch(vm->pio, FW_CFG_PORT_DMA, dsig, 4, false));
    assert_memory_equal(dsig, "QEMU", 4);
    sel[0] = FW_CFG_INITRD_SIZE;
    assert_true(bus_dispatch(vm->pio, FW_CFG_PORT_SEL, sel, 2, true));
    for (int i = 0; i < 4; i++)
        assert_true(bus_dispatch(vm->pio, FW_CFG_PORT_DATA, &sig[i], 1, false));
    assert_int_equal(lt_get32(sig), INITRD_SZ);
    finish(vm, &loop, s);

    /* no kernel: fw_cfg is still there (every firmware boot reads its platform files from it,
     * issue 18), with a file directory and without kernel items */
    assert_int_equal(uv_loop_init(&loop), 0);
    vm = create_snp(NULL, err, sizeof(err), &loop, &s);
    if (!vm)
        fail_msg("vm_create: %s", err);
    sel[0] = FW_CFG_FILE_DIR;
    assert_true(bus_dispatch(vm->pio, FW_CFG_PORT_SEL, sel, 2, true));
    for (int i = 0; i < 4; i++)
        assert_true(bus_dispatch(vm->pio, FW_CFG_PORT_DATA, &sig[i], 1, false));
    assert_true(sig[3] >= 1 && sig[0] == 0); /* be32 count: at least etc/e820 */
    sel[0] = FW_CFG_KERNEL_SIZE;
    assert_true(bus_dispatch(vm->pio, FW_CFG_PORT_SEL, sel, 2, true));
    for (int i = 0; i < 4; i++)
        assert_true(bus_dispatch(vm->pio, FW_CFG_PORT_DATA, &sig[i], 1, false));
    assert_int_equal(lt_get32(sig), 0);
    finish(vm, &loop, s);

    /* a kernel that is not a bzImage: refused before anything runs */
    assert_int_equal(uv_loop_init(&loop), 0);
    vm = create_snp(fx.initrd_path, err, sizeof(err), &loop, &s);
    assert_null(vm);
    assert_non_null(strstr(err, "bzImage"));
    finish(NULL, &loop, s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(identity_items),
        cmocka_unit_test(kernel_items_match_files),
        cmocka_unit_test(bad_dma_sets_error),
        cmocka_unit_test(served_bytes_match_sev_hashes),
        cmocka_unit_test(private_pages_refused),
        cmocka_unit_test(kernel_header_checks),
        cmocka_unit_test(attached_for_tee_firmware_with_kernel),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
