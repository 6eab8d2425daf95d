/* vsock_muxer.h: hybrid vsock: host Unix-socket listener and connection multiplexer (Kata's). */
#ifndef COCOON_VSOCK_MUXER_H
#define COCOON_VSOCK_MUXER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "devices/virtq.h"
#include "devices/vsock_packet.h"

#define VSOCK_MAX_CONNS        1023
#define VSOCK_CONNECT_LINE_MAX 32
#define VSOCK_CONNECT_TIMEOUT  5.0 /* seconds a host connect waits for the guest's answer */
/* Longest vsock socket path: 107 (sun_path less its NUL) less "_4294967295", the suffix of the
 * socket a guest-initiated connection to a port dials. */
#define VSOCK_SOCKET_PATH_MAX 96

/* Accumulates the `CONNECT <port>\n` line a host client sends first. */
struct vsock_connect_line {
    char buf[VSOCK_CONNECT_LINE_MAX];
    size_t len;
};

/* Feeds bytes read from the client. Consumes at most up to and including the first '\n' (so
 * payload after the line stays unread) and reports how many bytes it took in *used. Returns 1
 * with *port set once the line is complete and valid ("connect" in any case, one or more
 * spaces, a decimal u32, optional trailing spaces or CR), 0 when more bytes are needed, -1 on a
 * malformed or overlong line. */
int vsock_connect_line_feed(struct vsock_connect_line *l, const void *data, size_t len,
                            size_t *used, uint32_t *port);

struct vsock_muxer;

/* Called (loop thread) when the muxer has packets for the guest; the device then drains them
 * with vsock_muxer_recv. */
typedef void (*vsock_kick_fn)(void *opaque);

/* Listens on the Unix socket `path` (unix_listen_path: born 0600; a stale socket is replaced,
 * a live one, a symlink or another file refused; the folder must not be writable by others
 * without the sticky bit). Returns NULL with a reason in err. */
struct vsock_muxer *vsock_muxer_new(uv_loop_t *loop, const char *path, uint64_t guest_cid,
                                    vsock_kick_fn kick, void *opaque, char *err, size_t errlen);

/* Closes every connection and the listener, removes the socket file. Memory goes away from
 * libuv close callbacks: let the loop run afterwards. NULL is fine. */
void vsock_muxer_free(struct vsock_muxer *mux);

/* The guest's driver went away (device reset): every connection is closed without packets. */
void vsock_muxer_reset(struct vsock_muxer *mux);

/* Handles one packet from the guest (header already validated against its chain; the payload
 * is read from the chain at VSOCK_HDR_SIZE). */
void vsock_muxer_send(struct vsock_muxer *mux, const struct vsock_hdr *h, const struct virtq *vq,
                      const struct virtq_chain *chain);

/* Whether a packet for the guest is ready. */
bool vsock_muxer_has_rx(struct vsock_muxer *mux);

/* Writes the next packet for the guest into an RX chain. Returns the bytes written, 0 when
 * nothing was ready, -1 when the chain cannot hold a header or is no longer accessible. */
int64_t vsock_muxer_recv(struct vsock_muxer *mux, const struct virtq *vq,
                         const struct virtq_chain *chain);

/* Number of live connections (handshaking ones included). */
unsigned vsock_muxer_conn_count(const struct vsock_muxer *mux);

#endif
