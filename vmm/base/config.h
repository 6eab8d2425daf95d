/* config.h: struct vm_config, the one description of a VM that the CLI and vm.create both fill. */
#ifndef COCOON_CONFIG_H
#define COCOON_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CFG_MAX_CPUS          254
#define CFG_MAX_DISKS         16
#define CFG_MAX_NETS          8
#define CFG_MIN_MEMORY        (16ULL << 20)
#define CFG_MAX_MEMORY        (1ULL << 40)
#define CFG_DEFAULT_VSOCK_CID 3
/* Client-input limits (vm.create, vm.add-*, the CLI), so no configuration (and no vm.info) is
 * larger than the sum of these: about 160 KiB at most (CFG_MAX_CONFIG_BYTES). */
#define CFG_MAX_ID_LEN       256   /* device ids */
#define CFG_MAX_PATH_LEN     4095  /* file paths (PATH_MAX less the NUL) */
#define CFG_MAX_CMDLINE_LEN  65535 /* kernel command line */
#define CFG_MAX_SOCKET_PATH  107   /* Unix socket paths (sun_path less the NUL) */
#define CFG_MAX_VSOCK_SOCKET 96    /* 107 less "_4294967295", the guest-initiated suffix */
#define CFG_MAX_CONFIG_BYTES (256 * 1024)

/* A token bucket as the API gives it (Cloud Hypervisor's TokenBucket): `size` tokens refilled
 * in `refill_time_ms`, plus a one-time burst that is not refilled. size 0 or refill_time_ms 0:
 * the bucket does not limit. devices/rate_limiter.h enforces it. */
struct rate_limit_bucket {
    uint64_t size;
    uint64_t one_time_burst;
    uint64_t refill_time_ms;
};

/* Largest accepted size / burst (2^50) and refill time (one day): no product overflows. */
#define CFG_RATE_LIMIT_MAX_TOKENS    (1ULL << 50)
#define CFG_RATE_LIMIT_MAX_REFILL_MS (24ULL * 3600 * 1000)

struct rate_limiter_config {
    struct rate_limit_bucket bandwidth; /* bytes */
    struct rate_limit_bucket ops;       /* requests (disk) or frames (net) */
};

enum serial_mode { SERIAL_OFF = 0, SERIAL_TTY, SERIAL_FILE, SERIAL_NULL };
enum tee_kind { TEE_NONE = 0, TEE_SNP, TEE_TDX };

struct disk_config {
    char *path;
    char *id; /* device id for the API / vm.remove-device; also virtio-blk serial */
    bool readonly;
    bool direct;         /* O_DIRECT image I/O (Kata/Cloud Hypervisor `direct`) */
    unsigned num_queues; /* 0 = default (1) */
    unsigned queue_size; /* 0 = default (128) */
    struct rate_limiter_config rate_limiter; /* all zero: unlimited */
};

struct net_config {
    char *tap; /* tap name the VMM opens (CLI), or NULL */
    int fd;    /* tap fd handed over (API SCM_RIGHTS or CLI fd=N), or -1 */
    char *id;
    uint8_t mac[6];
    bool mac_set;
    unsigned num_queues;                     /* 0 = default (2: one rx, one tx) */
    unsigned queue_size;                     /* 0 = default (256) */
    uint32_t mtu;                            /* 0 = default (1500) */
    struct rate_limiter_config rate_limiter; /* rx and tx each get one; all zero: unlimited */
};

struct vsock_config {
    bool enabled;
    uint64_t cid;
    char *socket; /* host Unix socket path of the hybrid-vsock multiplexer */
    char *id;
};

struct platform_config {
    enum tee_kind tee;
    uint64_t snp_policy; /* default 0x30000 */
    uint8_t host_data[32];
    bool host_data_set;
    uint8_t mrconfigid[48];
    bool mrconfigid_set;
    char *quote_socket; /* TDX GetQuote forwarding target */
    /* SEV-SNP initial vCPU state, which the launch digest covers: give cocoon-measure the same
     * values (--vcpu-sig / --guest-features). 0 = the defaults: EPYC-v4 (0x800f12) and 0x1. */
    uint32_t snp_vcpu_sig;
    uint64_t snp_guest_features;
};

struct vm_config {
    unsigned cpus;          /* boot vCPUs */
    unsigned max_cpus;      /* 0 = cpus */
    uint64_t memory;        /* bytes */
    bool hugepages;         /* guest RAM from hugetlbfs (memory.hugepages) */
    uint64_t hugepage_size; /* 0 = the host's default huge page size */
    char *kernel;
    char *initramfs;
    char *cmdline;
    char *firmware;
    char *firmware_log; /* --firmware-log: the firmware's port-0x402 debug output */
    enum serial_mode serial;
    char *serial_file;
    struct disk_config disks[CFG_MAX_DISKS];
    unsigned nr_disks;
    struct net_config nets[CFG_MAX_NETS];
    unsigned nr_nets;
    struct vsock_config vsock;
    struct platform_config platform;
};

/* Fills defaults: 1 vCPU, 512 MiB, serial tty, no devices, TEE none, net fds -1. */
void vm_config_init(struct vm_config *cfg);

/* Frees every string the config owns (not cfg itself) and closes handed-over net fds. */
void vm_config_free(struct vm_config *cfg);

/* Frees one device entry's strings (and a net's handed-over fd) and leaves it empty (net fd -1,
 * vsock cid the default). */
void disk_config_clear(struct disk_config *d);
void net_config_clear(struct net_config *n);
void vsock_config_clear(struct vsock_config *v);

/* The one id rule: device ids are unique across every kind (disks, nets, the vsock). True when
 * a device of cfg has this id (NULL: false). */
bool vm_config_id_in_use(const struct vm_config *cfg, const char *id);

/* Takes the disk or net with this id out of cfg (freeing it; later entries move up). 0 when
 * removed, -1 when no disk or net has that id (the vsock is not removable). */
int vm_config_remove_device(struct vm_config *cfg, const char *id);

/* Deep-copies src into dst (strings duplicated, net fds dup'ed). Returns 0, or -1 on ENOMEM
 * with dst left freeable. */
int vm_config_copy(struct vm_config *dst, const struct vm_config *src);

/* The one validator: returns 0, or -1 with one clear line in err. Checks ranges, string
 * lengths (the CFG_MAX_* limits), combinations (no path named twice where cocoon writes or
 * creates it), and that referenced files are readable and non-empty; it creates nothing. */
int vm_config_validate(const struct vm_config *cfg, char *err, size_t errlen);

/* vm_config_validate without touching the host: every rule over the whole configuration, no file
 * opened. For edits of a live configuration whose files were checked when it was accepted. */
int vm_config_validate_rules(const struct vm_config *cfg, char *err, size_t errlen);

/* A disk image opens with the guest's access (read-only or read-write) and is a regular file or
 * a block device. 0, or -1 with err. */
int vm_config_check_disk(const struct disk_config *disk, char *err, size_t errlen);

/* Parses "512M", "1G", "4096", "2GiB" style sizes (decimal, K/M/G/T binary suffixes). Returns
 * 0, or -1 on a malformed, suffix-only, leading-zero ("010M") or overflowing value. */
int parse_size(const char *s, uint64_t *out);

/* Parses exactly 2*n hex digits (either case, nothing else) into out[0..n). Returns 0 or -1. */
int parse_hex_bytes(const char *s, uint8_t *out, size_t n);

/* Parses a MAC address "aa:bb:cc:dd:ee:ff" (hex digits of either case). Returns 0 or -1. */
int parse_mac(const char *s, uint8_t mac[6]);

#endif
