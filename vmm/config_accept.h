/* config_accept.h: the one gate a configuration passes before a VM is built from it. */
#ifndef COCOON_CONFIG_ACCEPT_H
#define COCOON_CONFIG_ACCEPT_H

#include <stddef.h>

#include "vmm/base/config.h"

/* vm_config_validate (ranges, files, paths, ids), then what only the machine can check: every
 * handed-over net fd is a tap. The CLI and every API route that builds or changes a VM call this,
 * so both refuse the same things with the same words. 0, or -1 with one line in err. */
int vm_config_accept(const struct vm_config *cfg, char *err, size_t errlen);

#endif
