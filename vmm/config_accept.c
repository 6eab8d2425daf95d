/* config_accept.c: validates a configuration and checks what it names on the host (tap fds). */
#include "vmm/config_accept.h"

#include <stdio.h>

#include "devices/tap.h"

/* A handed-over net fd (if any) is a tap. */
static int check_net_fd(const struct net_config *n, unsigned index, char *err, size_t errlen)
{
    char what[48];
    snprintf(what, sizeof(what), "net %u: fd %d", index, n->fd);
    return n->fd >= 0 ? tap_check_fd(n->fd, what, err, errlen) : 0;
}

int vm_config_accept(const struct vm_config *cfg, char *err, size_t errlen)
{
    if (vm_config_validate(cfg, err, errlen) < 0)
        return -1;
    for (unsigned i = 0; i < cfg->nr_nets; i++)
        if (check_net_fd(&cfg->nets[i], i, err, errlen) < 0)
            return -1;
    return 0;
}

int vm_config_accept_device(const struct vm_config *cfg, const struct disk_config *disk,
                            const struct net_config *net, char *err, size_t errlen)
{
    if (vm_config_validate_rules(cfg, err, errlen) < 0)
        return -1;
    if (disk && vm_config_check_disk(disk, err, errlen) < 0)
        return -1;
    return net ? check_net_fd(net, cfg->nr_nets - 1, err, errlen) : 0;
}
