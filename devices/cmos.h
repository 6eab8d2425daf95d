/* cmos.h: the MC146818 RTC and CMOS RAM at ports 0x70/0x71, with the memory-size bytes PC firmware
 * (SeaBIOS, OVMF) reads when fw_cfg has no etc/e820, as QEMU's pc_cmos_init sets them. */
#ifndef COCOON_CMOS_H
#define COCOON_CMOS_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#define CMOS_PORT_INDEX 0x70
#define CMOS_NR_PORTS   2
#define CMOS_SIZE       128

/* Register numbers (MC146818 and the PC CMOS map). */
enum {
    CMOS_SECONDS = 0x00,
    CMOS_MINUTES = 0x02,
    CMOS_HOURS = 0x04,
    CMOS_WEEKDAY = 0x06,
    CMOS_DAY = 0x07,
    CMOS_MONTH = 0x08,
    CMOS_YEAR = 0x09,
    CMOS_REG_A = 0x0A,
    CMOS_REG_B = 0x0B,
    CMOS_REG_C = 0x0C,
    CMOS_REG_D = 0x0D,
    CMOS_SHUTDOWN = 0x0F,
    CMOS_CENTURY = 0x32,
};

#define CMOS_B_24H    0x02
#define CMOS_B_BINARY 0x04
#define CMOS_D_VRT    0x80 /* valid RAM and time: edk2 PcRtcInit requires it */

struct cmos {
    pthread_mutex_t lock;
    uint8_t index;
    uint8_t ram[CMOS_SIZE];
};

/* Fills the memory-size bytes of ram[] like QEMU's pc_cmos_init: 0x15/0x16 base KiB (<= 640),
 * 0x17/0x18 and 0x30/0x31 KiB above 1 MiB (capped 0xFFFF), 0x34/0x35 64-KiB units above 16 MiB
 * (capped 0xFFFF), 0x5B-0x5D 64-KiB units above 4 GiB; 0x5F = nr_cpus - 1. */
void cmos_set_memory(uint8_t ram[CMOS_SIZE], uint64_t below_4g, uint64_t above_4g,
                     unsigned nr_cpus);

/* Initialises the device: register A 0x26, B 24-hour BCD, D VRT, shutdown code 0, memory bytes. */
void cmos_init(struct cmos *c, uint64_t below_4g, uint64_t above_4g, unsigned nr_cpus);

/* Frees the lock (takes void * to serve as a vm_add_device destructor; frees c). */
void cmos_free(void *c);

/* Bus handler for ports 0x70 (index, bit 7 = NMI mask) and 0x71 (data). Time registers read the
 * host's UTC clock in the format register B selects; writes to them are ignored. */
void cmos_io(void *c, uint64_t offset, void *data, uint32_t len, bool is_write);

#endif
