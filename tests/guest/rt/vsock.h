/* vsock.h: a virtio-vsock echo service for test guests (listen, echo back, one greeting out). */
#ifndef COCOON_GUEST_VSOCK_H
#define COCOON_GUEST_VSOCK_H

#include <stdint.h>

/*
 * Set-up and printing run in ring 0 (port I/O); the packet loop runs in ring 3 (rt_run_user), so
 * bulk echoes run at native speed. Up to 4 connections; console lines start with "vsock-echo:".
 */

/* Finds virtio-vsock function 0, sets up its queues and buffers, listens on `port`; prints the
 * device and the port, returns the guest CID. Fails the guest (rt_fail) if there is no device. */
uint64_t vsock_echo_start(uint32_t port);

/* Connects to host port `host_port` (guest port 5000), sends `text` (a NUL-terminated string
 * that must stay valid) once connected, then shuts the connection down. */
void vsock_echo_connect(uint32_t host_port, const char *text);

/* Echoes until `sessions` inbound sessions ended (0 = forever), printing accepts and ends;
 * returns the number of sessions that ended. */
unsigned vsock_echo_serve(unsigned sessions);

#endif
