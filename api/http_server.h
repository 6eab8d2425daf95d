/* http_server.h: HTTP/1.1 over a Unix socket on the libuv loop, with fd passing and hard limits. */
#ifndef COCOON_API_HTTP_SERVER_H
#define COCOON_API_HTTP_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#define API_MAX_FDS_PER_REQUEST 8

/* One complete request, handed to the handler on the loop thread. */
struct api_request {
    const char *method; /* "GET", "PUT", ... */
    const char *path;   /* request target without query string, NUL-terminated */
    const char *body;   /* NUL-terminated copy of the body (body_len bytes) */
    size_t body_len;
    /* fds received with SCM_RIGHTS alongside this request. A handler that keeps one sets its
     * slot to -1; the server closes whatever is left after the handler returns. */
    int fds[API_MAX_FDS_PER_REQUEST];
    unsigned nfds;
};

/* What the handler answers. body is a malloc'd JSON text (or NULL for none); the server frees
 * it. after_send, if set, runs once the response has been written out (or the peer vanished). */
struct api_response {
    int status;
    char *body;
    const char *allow; /* Allow header value for 405 */
    void (*after_send)(void *opaque);
    void *after_send_opaque;
};

typedef void (*api_handler_fn)(void *opaque, struct api_request *req, struct api_response *resp);

struct http_limits {
    size_t max_body;             /* 413 beyond */
    size_t max_header_bytes;     /* request line + headers; 431 beyond */
    unsigned max_headers;        /* 431 beyond */
    unsigned max_conns;          /* 503 beyond (connections whose peer closed do not count) */
    uint64_t partial_timeout_ms; /* a started request must complete within this (408 and
                                    close), and queued responses must be read within it (close) */
};

/* Defaults: 64 KiB body, 8 KiB / 64 headers, 10 connections, 10 s partial. There is no idle
 * timeout: a connection with no request started and nothing queued stays open as long as the
 * client wants (Kata's runtime-rs keeps one for the sandbox's whole life). A client that
 * pipelines without reading is answered until 64 KiB of responses are queued, then neither
 * read nor parsed until it reads; it is closed when it reads nothing for partial_timeout_ms, or
 * at once when the connection limit is reached and a newcomer needs its slot. */
void http_limits_default(struct http_limits *lim);

struct http_server;

/* Creates the socket at path (unix_listen_path: mode 0600 from birth; the folder must exist
 * and not be writable by others without the sticky bit; a stale socket file is replaced, a live
 * one or any other file is not), listens, and serves on loop. Returns 0 or -1 + err. */
int http_server_listen(uv_loop_t *loop, const char *path, const struct http_limits *lim,
                       api_handler_fn handler, void *opaque, struct http_server **out, char *err,
                       size_t errlen);

/* As http_server_listen, on an inherited listening Unix stream socket (`--api-socket fd=N`).
 * Returns 0 (the server owns fd from then on; no socket file is removed on close), or -1 + err
 * with fd left open and still the caller's. */
int http_server_listen_fd(uv_loop_t *loop, int fd, const struct http_limits *lim,
                          api_handler_fn handler, void *opaque, struct http_server **out, char *err,
                          size_t errlen);

/* Serves one already-connected stream socket as if it had been accepted (fuzzers, tests); the
 * server owns fd. Counts against the connection limit (503 beyond). */
void http_server_adopt(struct http_server *srv, int fd);

/* Closes every connection and the listener and removes the socket file. The handles finish
 * closing on the next loop iteration; the server memory is released then. NULL is fine. */
void http_server_close(struct http_server *srv);

/* Number of open client connections (for tests and logging). */
unsigned http_server_connections(const struct http_server *srv);

/* Standard reason phrase for an HTTP status code ("Unknown" if none). */
const char *http_reason(int status);

#endif
