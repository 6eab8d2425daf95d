/* config_accept.h: the one gate a configuration passes before a VM is built from it. */
#ifndef COCOON_CONFIG_ACCEPT_H
#define COCOON_CONFIG_ACCEPT_H

#include <stddef.h>

#include "vmm/base/config.h"

/* vm_config_validate (ranges, files, paths, ids), then what only the machine can check: every
 * handed-over net fd is a tap. The CLI and every API route that builds or changes a VM call this,
 * so both refuse the same things with the same words. 0, or -1 with one line in err. */
int vm_config_accept(const struct vm_config *cfg, char *err, size_t errlen);

/* A device added to a running VM's accepted configuration: the rules over the whole of it
 * (vm_config_validate_rules), and the host checks of the new device only (its disk image or its
 * tap fd; either may be NULL). The files accepted before are not reopened: a kernel replaced on
 * the host after boot does not refuse a later vm.add-disk. 0, or -1 with one line in err. */
int vm_config_accept_device(const struct vm_config *cfg, const struct disk_config *disk,
                            const struct net_config *net, char *err, size_t errlen);

#endif
