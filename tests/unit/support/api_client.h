/* api_client.h: a test client for the control socket: connects, sends, reads whole responses
 * while running the server's libuv loop in between (server and client share one thread). */
#ifndef COCOON_TEST_API_CLIENT_H
#define COCOON_TEST_API_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <uv.h>

/* The loop the server runs on and the socket path clients connect to. */
void apic_init(uv_loop_t *loop, const char *sock_path);

double apic_now_ms(void);

/* Runs the server's loop for ms milliseconds. */
void apic_pump(int ms);

/* A connected client socket (blocking mode; the loop runs once so the server accepts). */
int apic_connect(void);

/* Sends everything, running the loop whenever the socket is full. */
void apic_send_str(int fd, const char *s);

/* Reads until n complete responses arrived, EOF (*eof) or timeout; returns the bytes read. */
size_t apic_read_responses(int fd, char *buf, size_t cap, int n, int timeout_ms, bool *eof);

/* One request, one response; returns the status code (0 when none came). */
int apic_roundtrip(int fd, const char *req, char *buf, size_t cap);

/* Waits until the server closes fd (true) or the timeout passes (false), discarding data. */
bool apic_closed_by_server(int fd, int timeout_ms);

/* The process's peak resident set size so far (VmHWM), in KiB. */
long apic_peak_rss_kib(void);

#endif
