/* config_accept.c: validates a configuration and checks what it names on the host (tap fds). */
#include "vmm/config_accept.h"

#include <stdio.h>

#include "devices/tap.h"

int vm_config_accept(const struct vm_config *cfg, char *err, size_t errlen)
{
    if (vm_config_validate(cfg, err, errlen) < 0)
        return -1;
    for (unsigned i = 0; i < cfg->nr_nets; i++) {
        const struct net_config *n = &cfg->nets[i];
        char what[48];
        snprintf(what, sizeof(what), "net %u: fd %d", i, n->fd);
        if (n->fd >= 0 && tap_check_fd(n->fd, what, err, errlen) < 0)
            return -1;
    }
    return 0;
}
