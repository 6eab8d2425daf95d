/* api.h: cocoon's --api-socket mode: the control socket, the router and the VM on one loop. */
#ifndef COCOON_API_API_H
#define COCOON_API_API_H

#include <uv.h>

#include "vmm/base/config.h"
#include "vmm/vm.h"

/* Serves the Cloud Hypervisor API on socket_path (created here, mode 0600, its folder must
 * exist) -- or, when socket_path is NULL, on the inherited listening socket socket_fd -- on loop
 * until vmm.shutdown, until the caller uv_stop()s the loop (e.g. on a signal), or until the guest
 * stops by itself: then on_guest_exit(opaque, reason, status) runs and, as with Cloud Hypervisor,
 * serving ends. If cfg is non-NULL (validated, from the command line) that VM is created and booted
 * at once and the socket still serves; *cfg is consumed. On return the VM is gone and the socket
 * file removed. Returns 0, or -1 (message printed to stderr) when the socket or the command-line VM
 * could not be set up. */
int api_run(uv_loop_t *loop, const char *socket_path, int socket_fd, struct vm_config *cfg,
            vm_exit_cb on_guest_exit, void *opaque);

#endif
