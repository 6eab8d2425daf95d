/* api.h: cocoon's --api-socket mode: the control socket, the router and the VM on one loop. */
#ifndef COCOON_API_API_H
#define COCOON_API_API_H

#include <uv.h>

#include "vmm/config.h"

/* Serves the Cloud Hypervisor API on socket_path (created here, mode 0600, its folder must
 * exist) until vmm.shutdown, SIGTERM/SIGINT, or the guest stopping by itself (as Cloud
 * Hypervisor, the process then exits). If cfg is non-NULL (validated, from the command line)
 * that VM is created and booted at once and the socket still serves; *cfg is consumed.
 * Returns the process exit status: 0 after vmm.shutdown or a signal, the guest's status after a
 * power-off, 1 on a startup failure or a guest error. The socket file is removed on return. */
int api_run(uv_loop_t *loop, const char *socket_path, struct vm_config *cfg);

#endif
