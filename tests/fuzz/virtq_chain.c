/* virtq_chain.c: libFuzzer target: the split-virtqueue walker over fuzz-built rings and RAM. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "devices/virtq.h"
#include "tests/fuzz/fuzz_util.h"

static uint8_t ram[FZ_RAM_SIZE];
static struct virtq_chain chain;
static uint8_t buf[4096];

/* One harness step picked by a header byte: pop, read, write, push, poke RAM, query. */
static void step(struct virtq *vq, struct fz *hdr, bool *have_chain)
{
    uint8_t op = fz_u8(hdr);
    switch (op % 6) {
    case 0:
        *have_chain = virtq_pop(vq, &chain) == 1;
        break;
    case 1:
        if (*have_chain)
            (void)virtq_chain_read(vq, &chain, op >> 3, buf, sizeof(buf));
        break;
    case 2:
        if (*have_chain)
            (void)virtq_chain_write(vq, &chain, op >> 3, buf, sizeof(buf) >> (op >> 5));
        break;
    case 3:
        if (*have_chain)
            (void)virtq_push(vq, chain.head, chain.write_len);
        *have_chain = false;
        break;
    case 4: /* the guest changes a byte of its RAM concurrently */
        ram[fz_u16(hdr) % FZ_RAM_SIZE] ^= fz_u8(hdr);
        break;
    default:
        (void)virtq_should_signal(vq);
        (void)virtq_has_avail(vq);
        break;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fz hdr = fz_split(data, size, ram, sizeof(ram));
    struct guest_mem gm;
    gm_init_host(&gm, ram, sizeof(ram));
    struct virtq vq;
    if (fz_ring_init(&vq, &gm, &hdr, 0, VIRTQ_MAX_SIZE, NULL) < 0)
        return 0;
    bool have_chain = false;
    /* Drain like a device first, then let the header bytes script the rest. */
    for (int i = 0; i < 64 && virtq_pop(&vq, &chain) == 1; i++) {
        (void)virtq_chain_read(&vq, &chain, 0, buf, sizeof(buf));
        (void)virtq_chain_write(&vq, &chain, 0, buf, chain.write_len < 64 ? chain.write_len : 64);
        (void)virtq_push(&vq, chain.head, chain.write_len);
    }
    while (hdr.n)
        step(&vq, &hdr, &have_chain);
    return 0;
}
