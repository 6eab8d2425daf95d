/* json_config.h: Cloud Hypervisor vm.create / vm.add-* JSON <-> struct vm_config mapping. */
#ifndef COCOON_API_JSON_CONFIG_H
#define COCOON_API_JSON_CONFIG_H

#include <stddef.h>

#include <jansson.h>

#include "vmm/base/config.h"

/* Parses a vm.create body (CH VmConfig) into cfg (initialised here). Unknown keys are ignored;
 * keys for devices cocoon does not offer are accepted and logged once per process; keys cocoon
 * knows but cannot honour (igvm, qcow2, vhost-user, multiqueue, ...) and wrong JSON types fail.
 * It does NOT run vm_config_validate(): the caller does, exactly as the CLI does.
 * Returns 0, or -1 with one line in err (cfg is then left empty). */
int api_json_to_vm_config(const char *body, size_t len, struct vm_config *cfg, char *err,
                          size_t errlen);

/* Parses a vm.add-disk body (CH DiskConfig) into d (zeroed first). Returns 0 or -1 + err. */
int api_json_to_disk(const char *body, size_t len, struct disk_config *d, char *err, size_t errlen);

/* Parses a vm.add-net body (CH NetConfig) into n (fd = -1; the tap fd travels with SCM_RIGHTS,
 * fd numbers inside the JSON are ignored). Returns 0 or -1 + err. */
int api_json_to_net(const char *body, size_t len, struct net_config *n, char *err, size_t errlen);

/* Parses a vm.add-vsock body (CH VsockConfig: one JSON object) into v (enabled, cid defaulting
 * to CFG_DEFAULT_VSOCK_CID). Returns 0 or -1 + err. */
int api_json_to_vsock(const char *body, size_t len, struct vsock_config *v, char *err,
                      size_t errlen);

/* Releases the strings a parsed disk/net/vsock owns (and a net's fd) and resets it. */
void api_disk_config_clear(struct disk_config *d);
void api_net_config_clear(struct net_config *n);
void api_vsock_config_clear(struct vsock_config *v);

/* Builds the CH-shaped VmConfig object vm.info reports for cfg (new reference). */
json_t *api_vm_config_to_json(const struct vm_config *cfg);

#endif
