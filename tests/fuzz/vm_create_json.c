/* vm_create_json.c: libFuzzer target: vm.create / vm.add-disk / vm.add-net bodies into the JSON
 * mapping and then the config validator, as the API does. */
#include <stddef.h>
#include <stdint.h>

#include "api/json_config.h"
#include "vmm/base/config.h"
#include "vmm/base/log.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    log_set_level(LOG_LVL_ERROR);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    char err[256];
    const char *body = (const char *)data + 1;
    size_t len = size - 1;
    switch (data[0] % 3) {
    case 0: {
        struct vm_config cfg;
        if (api_json_to_vm_config(body, len, &cfg, err, sizeof(err)) == 0) {
            (void)vm_config_validate(&cfg, err, sizeof(err));
            struct vm_config copy;
            if (vm_config_copy(&copy, &cfg) == 0)
                vm_config_free(&copy);
            json_decref(api_vm_config_to_json(&cfg));
            vm_config_free(&cfg);
        }
        break;
    }
    case 1: {
        struct disk_config d;
        if (api_json_to_disk(body, len, &d, err, sizeof(err)) == 0)
            api_disk_config_clear(&d);
        break;
    }
    default: {
        struct net_config n;
        if (api_json_to_net(body, len, &n, err, sizeof(err)) == 0)
            api_net_config_clear(&n);
        break;
    }
    }
    return 0;
}
