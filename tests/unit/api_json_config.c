/* api_json_config.c: vm.create JSON -> struct vm_config mapping, and the shared validation table.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "api/json_config.h"
#include "support/config_cases.h"
#include "vmm/base/config.h"

static int setup(void **state)
{
    return config_fixture_setup();
}

static int teardown(void **state)
{
    config_fixture_teardown();
    return 0;
}

/* Parses an (expanded) body; returns the parser's result and leaves the error in err. */
static int parse(const char *tmpl, struct vm_config *cfg, char *err, size_t errlen)
{
    char body[4096];
    assert_int_equal(config_case_expand(tmpl, body, sizeof(body)), 0);
    err[0] = '\0';
    return api_json_to_vm_config(body, strlen(body), cfg, err, errlen);
}

static void expect_parse_error(const char *tmpl, const char *substr)
{
    struct vm_config cfg;
    char err[256];
    if (parse(tmpl, &cfg, err, sizeof(err)) == 0) {
        vm_config_free(&cfg);
        fail_msg("accepted: %s", tmpl);
    }
    if (!strstr(err, substr))
        fail_msg("error '%s' lacks '%s' for %s", err, substr, tmpl);
}

/* The same table H1's CLI test runs: every JSON form parses and gets the same verdict. */
static void shared_table_through_json(void **state)
{
    for (size_t i = 0; i < config_cases_count; i++) {
        const struct config_case *c = &config_cases[i];
        struct vm_config cfg;
        char err[256];
        if (parse(c->json, &cfg, err, sizeof(err)) < 0)
            fail_msg("case %s: JSON rejected: %s", c->name, err);
        err[0] = '\0';
        int rc = vm_config_validate(&cfg, err, sizeof(err));
        vm_config_free(&cfg);
        if (c->valid && rc != 0)
            fail_msg("case %s: valid config rejected: %s", c->name, err);
        if (!c->valid && rc == 0)
            fail_msg("case %s: invalid config accepted", c->name);
        if (!c->valid && !strstr(err, c->err))
            fail_msg("case %s: error '%s' lacks '%s'", c->name, err, c->err);
    }
}

/* The body of kata-clh-api.md section 5.4, with fixture files as firmware, kernel and disk. */
static const char kata_example[] =
    "{\"cpus\":{\"boot_vcpus\":1,\"max_vcpus\":1,\"kvm_hyperv\":false,\"nested\":true,"
    "\"topology\":{\"threads_per_core\":1,\"cores_per_die\":1,\"dies_per_package\":1,"
    "\"packages\":1}},"
    "\"memory\":{\"size\":2147483648,\"mergeable\":false,\"hotplug_method\":\"Acpi\","
    "\"shared\":false,\"hugepages\":false,\"prefault\":false,\"thp\":true},"
    "\"payload\":{\"firmware\":\"@FIRMWARE@\",\"kernel\":\"@KERNEL@\","
    "\"cmdline\":\"root=/dev/vda1 rootflags=data=ordered,errors=remount-ro ro rootfstype=ext4 "
    "panic=1 no_timer_check noreplace-smp quiet\"},"
    "\"disks\":[{\"path\":\"@DISK@\",\"readonly\":true,\"direct\":false,\"iommu\":false,"
    "\"num_queues\":1,\"queue_size\":128,\"vhost_user\":false,\"backing_files\":false,"
    "\"sparse\":true,\"image_type\":\"Raw\"}],"
    "\"rng\":{\"src\":\"/dev/urandom\",\"iommu\":false},"
    "\"serial\":{\"mode\":\"Off\",\"iommu\":false},\"console\":{\"mode\":\"Off\",\"iommu\":false},"
    "\"vsock\":{\"cid\":3,\"socket\":\"/run/vc/vm/abc/clh.sock\",\"iommu\":false},"
    "\"iommu\":false,\"watchdog\":false,\"pvpanic\":false,\"landlock_enable\":false,"
    "\"platform\":{\"num_pci_segments\":2,\"tdx\":true,\"sev_snp\":false}}";

static void kata_example_maps_every_field(void **state)
{
    struct vm_config cfg;
    char err[256];
    assert_int_equal(parse(kata_example, &cfg, err, sizeof(err)), 0);
    assert_int_equal(cfg.cpus, 1);
    assert_int_equal(cfg.max_cpus, 1);
    assert_true(cfg.memory == 2147483648ULL);
    assert_non_null(strstr(cfg.kernel, "/kernel"));
    assert_non_null(strstr(cfg.firmware, "/firmware"));
    assert_non_null(strstr(cfg.cmdline, "noreplace-smp quiet"));
    assert_null(cfg.initramfs);
    assert_int_equal(cfg.platform.tee, TEE_TDX);
    assert_int_equal(cfg.nr_disks, 1);
    assert_true(cfg.disks[0].readonly);
    assert_int_equal(cfg.disks[0].num_queues, 1);
    assert_int_equal(cfg.disks[0].queue_size, 128);
    assert_true(cfg.vsock.enabled);
    assert_int_equal(cfg.vsock.cid, 3);
    assert_string_equal(cfg.vsock.socket, "/run/vc/vm/abc/clh.sock");
    assert_int_equal(cfg.serial, SERIAL_OFF);
    assert_int_equal(cfg.nr_nets, 0);
    assert_int_equal(vm_config_validate(&cfg, err, sizeof(err)), 0);
    vm_config_free(&cfg);
}

static void defaults_follow_cloud_hypervisor(void **state)
{
    struct vm_config cfg;
    char err[256];
    assert_int_equal(parse("{\"payload\":{\"kernel\":\"@KERNEL@\"}}", &cfg, err, sizeof(err)), 0);
    assert_int_equal(cfg.cpus, 1);
    assert_true(cfg.memory == 512ULL << 20);
    assert_int_equal(cfg.serial, SERIAL_NULL); /* CH: serial Null unless asked */
    assert_false(cfg.vsock.enabled);
    assert_int_equal(cfg.platform.tee, TEE_NONE);
    vm_config_free(&cfg);
}

static void unknown_keys_are_ignored(void **state)
{
    struct vm_config cfg;
    char err[256];
    assert_int_equal(parse("{\"payload\":{\"kernel\":\"@KERNEL@\",\"future\":1},"
                           "\"cpus\":{\"boot_vcpus\":2,\"iommu_address_width\":39},"
                           "\"brand_new_section\":{\"x\":[1,2,3]},"
                           "\"rng\":{\"src\":\"/dev/urandom\"},\"landlock_rules\":null}",
                           &cfg, err, sizeof(err)),
                     0);
    assert_int_equal(cfg.cpus, 2);
    vm_config_free(&cfg);
}

static void wrong_types_are_refused(void **state)
{
    expect_parse_error("{\"cpus\":{\"boot_vcpus\":\"2\"}}", "cpus.boot_vcpus: expected an integer");
    expect_parse_error("{\"cpus\":{\"boot_vcpus\":1.5}}", "expected an integer");
    expect_parse_error("{\"cpus\":{\"boot_vcpus\":-1}}", "must not be negative");
    expect_parse_error("{\"cpus\":{\"boot_vcpus\":4294967296}}", "too large");
    expect_parse_error("{\"cpus\":[1]}", "cpus: expected an object");
    expect_parse_error("{\"memory\":{\"size\":-4096}}", "memory.size: must not be negative");
    expect_parse_error("{\"memory\":{\"size\":\"1G\"}}", "memory.size: expected an integer");
    expect_parse_error("{\"memory\":{\"size\":99999999999999999999999}}", "invalid JSON");
    expect_parse_error("{\"payload\":{\"kernel\":5}}", "payload.kernel: expected a string");
    expect_parse_error("{\"payload\":{\"kernel\":\"a\\u0000b\"}}", "NUL");
    expect_parse_error("{\"platform\":{\"tdx\":\"yes\"}}", "platform.tdx: expected true or false");
    expect_parse_error("{\"disks\":{\"path\":\"x\"}}", "disks: expected an array");
    expect_parse_error("{\"disks\":[\"x\"]}", "disks[0]: expected an object");
    expect_parse_error("{\"disks\":[{\"readonly\":true}]}", "disks[0].path: missing");
    expect_parse_error("{\"vsock\":{\"cid\":-3,\"socket\":\"/x\"}}", "vsock.cid");
    expect_parse_error("{\"serial\":{\"mode\":7}}", "serial.mode: expected a string");
    expect_parse_error("[1,2]", "expected a JSON object");
    expect_parse_error("{\"cpus\":", "invalid JSON");
    expect_parse_error("", "invalid JSON");
    expect_parse_error("{\"cpus\":{},\"cpus\":{}}", "invalid JSON");
}

static void unsupported_features_are_refused(void **state)
{
    expect_parse_error("{\"platform\":{\"tdx\":true,\"sev_snp\":true}}", "cannot both be set");
    expect_parse_error("{\"payload\":{\"igvm\":\"/x.igvm\"}}", "IGVM");
    expect_parse_error("{\"disks\":[{\"path\":\"@DISK@\",\"image_type\":\"Qcow2\"}]}", "raw");
    expect_parse_error("{\"disks\":[{\"path\":\"@DISK@\",\"vhost_user\":true}]}", "vhost-user");
    expect_parse_error("{\"net\":[{\"fds\":[3]}]}", "SCM_RIGHTS");
    expect_parse_error("{\"net\":[{\"tap\":\"t0\",\"num_queues\":4}]}", "one queue pair");
    expect_parse_error("{\"serial\":{\"mode\":\"Pty\"}}", "serial.mode: 'Pty' is not supported");
    expect_parse_error("{\"memory\":{\"size\":0,\"zones\":[{\"id\":\"mem0\",\"size\":1}]}}",
                       "zones");
}

static void confidential_guests_refuse_hotadd_and_vfio(void **state)
{
    expect_parse_error("{\"platform\":{\"tdx\":true},\"memory\":{\"size\":1073741824,"
                       "\"hotplug_size\":2147483648}}",
                       "memory hot-add is refused for a confidential guest");
    expect_parse_error("{\"platform\":{\"sev_snp\":true},\"devices\":[{\"path\":\"/sys/x\"}]}",
                       "VFIO pass-through is refused for a confidential guest");
    /* hotplug_size on a plain guest is accepted (logged: Kata clamps to what vm.info reports);
     * VFIO is refused there too, naming the Kata setting. */
    struct vm_config cfg;
    char err[256];
    assert_int_equal(parse("{\"memory\":{\"size\":1073741824,\"hotplug_size\":2147483648}}", &cfg,
                           err, sizeof(err)),
                     0);
    vm_config_free(&cfg);
    expect_parse_error("{\"devices\":[{\"path\":\"/sys/x\"}]}", "no-port");
}

static void host_data_and_mrconfigid(void **state)
{
    struct vm_config cfg;
    char err[256];
    assert_int_equal(parse("{\"platform\":{\"sev_snp\":true},\"payload\":{\"kernel\":\"@KERNEL@\","
                           "\"host_data\":"
                           "\"00112233445566778899aabbccddeeff00112233445566778899AABBCCDDEEFF\"}}",
                           &cfg, err, sizeof(err)),
                     0);
    assert_int_equal(cfg.platform.tee, TEE_SNP);
    assert_true(cfg.platform.host_data_set);
    assert_int_equal(cfg.platform.host_data[1], 0x11);
    assert_int_equal(cfg.platform.host_data[31], 0xff);
    vm_config_free(&cfg);
    expect_parse_error("{\"payload\":{\"host_data\":\"0011\"}}", "64 hex digits");
    expect_parse_error("{\"payload\":{\"host_data\":"
                       "\"zz112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\"}}",
                       "64 hex digits");
    char body[512] = "{\"platform\":{\"tdx\":true},\"payload\":{\"mrconfigid\":\"";
    for (int i = 0; i < 48; i++)
        strcat(body, "ab");
    strcat(body, "\"}}");
    assert_int_equal(parse(body, &cfg, err, sizeof(err)), 0);
    assert_true(cfg.platform.mrconfigid_set);
    assert_int_equal(cfg.platform.mrconfigid[47], 0xab);
    vm_config_free(&cfg);
}

/* The encodings Kata's drivers send: runtime-rs puts base64 of the initdata digest in
 * mrconfigid (TDX, 48 bytes) and host_data (SNP, 32 bytes); the Go driver and cocoon's CLI hex.
 * The decoded bytes are what the launch gets (tee_tdx.c / tee_snp.c copy these fields). */
static void api_initdata_digest_encodings(void **state)
{
    struct vm_config cfg;
    char err[256];
    /* base64 of bytes 0x00..0x2f (48 bytes) */
    assert_int_equal(
        parse("{\"platform\":{\"tdx\":true},\"payload\":{\"kernel\":\"@KERNEL@\","
              "\"mrconfigid\":\"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygp"
              "KissLS4v\"}}",
              &cfg, err, sizeof(err)),
        0);
    assert_true(cfg.platform.mrconfigid_set);
    for (int i = 0; i < 48; i++)
        assert_int_equal(cfg.platform.mrconfigid[i], i);
    vm_config_free(&cfg);
    /* base64 of a SHA-256 digest (32 bytes, 0x00..0x1f) into MRCONFIGID: zero-padded */
    assert_int_equal(parse("{\"platform\":{\"tdx\":true},\"payload\":{\"mrconfigid\":"
                           "\"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\"}}",
                           &cfg, err, sizeof(err)),
                     0);
    assert_int_equal(cfg.platform.mrconfigid[31], 31);
    assert_int_equal(cfg.platform.mrconfigid[32], 0);
    assert_int_equal(cfg.platform.mrconfigid[47], 0);
    vm_config_free(&cfg);
    /* host_data: base64 of 32 bytes */
    assert_int_equal(parse("{\"platform\":{\"sev_snp\":true},\"payload\":{\"host_data\":"
                           "\"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\"}}",
                           &cfg, err, sizeof(err)),
                     0);
    assert_true(cfg.platform.host_data_set);
    assert_int_equal(cfg.platform.host_data[0], 0);
    assert_int_equal(cfg.platform.host_data[31], 31);
    vm_config_free(&cfg);
    /* vm.info reports them (hex) and they parse back to the same bytes */
    expect_parse_error("{\"platform\":{\"sev_snp\":true},\"payload\":{\"host_data\":"
                       "\"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLS4v\"}}",
                       "32-byte digest");
    expect_parse_error("{\"platform\":{\"tdx\":true},\"payload\":{\"mrconfigid\":\"AAEC\"}}",
                       "96 hex digits");
    expect_parse_error("{\"platform\":{\"tdx\":true},\"payload\":{\"mrconfigid\":\"AA=C\"}}",
                       "96 hex digits");
    /* never dropped: a digest for the other TEE (or none) is refused */
    expect_parse_error("{\"platform\":{\"tdx\":true},\"payload\":{\"host_data\":"
                       "\"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\"}}",
                       "only a SEV-SNP guest");
    expect_parse_error("{\"payload\":{\"mrconfigid\":"
                       "\"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\"}}",
                       "only a TDX guest");
}

/* Every VmConfig key Kata's drivers send is honoured, refused with the setting to change, or
 * ignored as harmless (README, Control API): nothing a pod depends on is accepted and dropped. */
static void api_kata_keys_honoured_or_refused(void **state)
{
    expect_parse_error("{\"fs\":[{\"tag\":\"kataShared\",\"socket\":\"/run/v.sock\","
                       "\"num_queues\":1,\"queue_size\":1024,\"pci_segment\":1}]}",
                       "shared_fs = \"none\"");
    expect_parse_error("{\"devices\":[{\"path\":\"/sys/bus/pci/devices/0000:01:00.0\"}]}",
                       "no-port");
    expect_parse_error("{\"pmem\":[{\"file\":\"/img\"}]}", "disable_image_nvdimm");
    expect_parse_error("{\"balloon\":{\"size\":0,\"free_page_reporting\":true}}",
                       "reclaim_guest_freed_memory");
    expect_parse_error("{\"iommu\":true}", "enable_iommu");
    expect_parse_error("{\"platform\":{\"iommu_segments\":[0]}}", "enable_iommu");
    expect_parse_error("{\"watchdog\":true}", "watchdog");
    expect_parse_error("{\"pvpanic\":true}", "pvpanic");
    expect_parse_error("{\"cpus\":{\"kvm_hyperv\":true}}", "Hyper-V");
    expect_parse_error("{\"cpus\":{\"affinity\":[{\"vcpu\":0,\"host_cpus\":[1]}]}}", "pinning");
    expect_parse_error("{\"disks\":[{\"path\":\"@DISK@\",\"iommu\":true}]}", "IOMMU");
    expect_parse_error("{\"disks\":[{\"path\":\"@DISK@\",\"rate_limiter_config\":"
                       "{\"bandwidth\":{\"size\":1000}}}]}",
                       "refill_time: must be at least 1 ms");
    expect_parse_error("{\"disks\":[{\"path\":\"@DISK@\",\"rate_limit_group\":\"g0\"}]}",
                       "rate-limit groups");
    expect_parse_error("{\"net\":[{\"tap\":\"t0\",\"rate_limiter_config\":"
                       "{\"ops\":{\"size\":-1,\"refill_time\":100}}}]}",
                       "must not be negative");
    expect_parse_error("{\"memory\":{\"size\":1073741824,\"hugepages\":true,"
                       "\"hugepage_size\":4096}}",
                       "2 MiB or 1 GiB");
    expect_parse_error("{\"debug_console\":{\"mode\":\"Tty\"}}", "serial port");
    /* Honoured: hugepages (and its size) and direct reach struct vm_config. */
    struct vm_config cfg;
    char err[256];
    assert_int_equal(
        parse("{\"memory\":{\"size\":1073741824,\"hugepages\":true,"
              "\"hugepage_size\":2097152},\"disks\":[{\"path\":\"@DISK@\","
              "\"direct\":true,\"num_queues\":254,\"rate_limiter_config\":null}],"
              "\"cpus\":{\"boot_vcpus\":1,\"nested\":true,\"features\":{\"amx\":false}},"
              "\"rng\":{\"src\":\"/dev/urandom\"},\"iommu\":false,\"watchdog\":false,"
              "\"pvpanic\":false,\"landlock_enable\":false,"
              "\"platform\":{\"num_pci_segments\":2}}",
              &cfg, err, sizeof(err)),
        0);
    assert_true(cfg.hugepages);
    assert_true(cfg.hugepage_size == 2097152);
    cfg.memory += 4096; /* not a whole number of huge pages: refused at vm.create, not boot */
    assert_int_equal(vm_config_validate(&cfg, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "huge page size"));
    assert_true(cfg.disks[0].direct);
    assert_int_equal(cfg.disks[0].num_queues, 254);
    vm_config_free(&cfg);
    /* Honoured: disk and net rate_limiter_config (Kata's disk_/net_rate_limiter_*), reported
     * back by vm.info as given. */
    assert_int_equal(parse("{\"disks\":[{\"path\":\"@DISK@\",\"rate_limiter_config\":"
                           "{\"bandwidth\":{\"size\":1048576,\"one_time_burst\":4096,"
                           "\"refill_time\":1000},\"ops\":{\"size\":100,\"refill_time\":1000}}}],"
                           "\"net\":[{\"tap\":\"t0\",\"rate_limiter_config\":{\"bandwidth\":"
                           "{\"size\":125000,\"refill_time\":1000}}}]}",
                           &cfg, err, sizeof(err)),
                     0);
    const struct rate_limiter_config *d = &cfg.disks[0].rate_limiter;
    assert_true(d->bandwidth.size == 1048576 && d->bandwidth.one_time_burst == 4096 &&
                d->bandwidth.refill_time_ms == 1000);
    assert_true(d->ops.size == 100 && d->ops.refill_time_ms == 1000);
    assert_true(cfg.nets[0].rate_limiter.bandwidth.size == 125000);
    json_t *j = api_vm_config_to_json(&cfg);
    json_t *rl =
        json_object_get(json_array_get(json_object_get(j, "disks"), 0), "rate_limiter_config");
    assert_true(json_integer_value(json_object_get(json_object_get(rl, "ops"), "size")) == 100);
    json_decref(j);
    vm_config_free(&cfg);
}

static void serial_and_console_modes(void **state)
{
    struct vm_config cfg;
    char err[256];
    assert_int_equal(parse("{\"serial\":{\"mode\":\"Tty\"},\"console\":{\"mode\":\"Off\"}}", &cfg,
                           err, sizeof(err)),
                     0);
    assert_int_equal(cfg.serial, SERIAL_TTY);
    vm_config_free(&cfg);
    assert_int_equal(
        parse("{\"serial\":{\"mode\":\"File\",\"file\":\"/tmp/s\"}}", &cfg, err, sizeof(err)), 0);
    assert_int_equal(cfg.serial, SERIAL_FILE);
    assert_string_equal(cfg.serial_file, "/tmp/s");
    vm_config_free(&cfg);
    /* Confidential Kata in debug: console Tty, serial Off -> the serial port (cocoon's only
     * console) goes to the Tty, so console=ttyS0 output reaches the shim. */
    assert_int_equal(parse("{\"serial\":{\"mode\":\"Off\"},\"console\":{\"mode\":\"Tty\"}}", &cfg,
                           err, sizeof(err)),
                     0);
    assert_int_equal(cfg.serial, SERIAL_TTY);
    vm_config_free(&cfg);
    assert_int_equal(parse("{\"serial\":{\"mode\":\"Off\"},\"console\":{\"mode\":\"File\","
                           "\"file\":\"/tmp/c\"}}",
                           &cfg, err, sizeof(err)),
                     0);
    assert_int_equal(cfg.serial, SERIAL_FILE);
    assert_string_equal(cfg.serial_file, "/tmp/c");
    vm_config_free(&cfg);
    /* both given: the serial port keeps its own */
    assert_int_equal(parse("{\"serial\":{\"mode\":\"Null\"},\"console\":{\"mode\":\"Off\"}}", &cfg,
                           err, sizeof(err)),
                     0);
    assert_int_equal(cfg.serial, SERIAL_NULL);
    vm_config_free(&cfg);
}

static void add_disk_and_add_net_bodies(void **state)
{
    struct disk_config d;
    char err[256];
    const char *disk = "{\"path\":\"/img\",\"readonly\":false,\"image_type\":\"Raw\","
                       "\"vhost_user\":false,\"num_queues\":2,\"queue_size\":1024,"
                       "\"iommu\":false,\"backing_files\":false,\"sparse\":true}";
    assert_int_equal(api_json_to_disk(disk, strlen(disk), &d, err, sizeof(err)), 0);
    assert_string_equal(d.path, "/img");
    assert_false(d.readonly);
    assert_int_equal(d.num_queues, 2);
    assert_int_equal(d.queue_size, 1024);
    api_disk_config_clear(&d);
    assert_int_equal(api_json_to_disk("{\"readonly\":1}", 14, &d, err, sizeof(err)), -1);

    struct net_config n;
    const char *net = "{\"ip\":\"192.168.249.1\",\"mask\":\"255.255.255.0\","
                      "\"mac\":\"52:54:00:ab:CD:ef\",\"iommu\":false,\"num_queues\":2,"
                      "\"queue_size\":256,\"vhost_user\":false,\"vhost_mode\":\"Client\","
                      "\"offload_tso\":true,\"offload_ufo\":true,\"offload_csum\":true,"
                      "\"fds\":[7]}";
    assert_int_equal(api_json_to_net(net, strlen(net), &n, err, sizeof(err)), 0);
    assert_true(n.mac_set);
    assert_int_equal(n.mac[0], 0x52);
    assert_int_equal(n.mac[4], 0xcd);
    assert_int_equal(n.fd, -1); /* fd numbers in JSON are never trusted */
    assert_int_equal(n.num_queues, 2);
    api_net_config_clear(&n);
    assert_int_equal(api_json_to_net("{\"mac\":\"52:54:00:ab:cd\"}", 24, &n, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "mac"));
}

static void config_to_json_for_vm_info(void **state)
{
    struct vm_config cfg;
    char err[256];
    assert_int_equal(parse(kata_example, &cfg, err, sizeof(err)), 0);
    json_t *j = api_vm_config_to_json(&cfg);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(j, "cpus"), "boot_vcpus")),
                     1);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(j, "cpus"), "max_vcpus")),
                     1);
    assert_true(json_integer_value(json_object_get(json_object_get(j, "memory"), "size")) ==
                2147483648LL);
    assert_true(json_is_true(json_object_get(json_object_get(j, "platform"), "tdx")));
    assert_int_equal(json_array_size(json_object_get(j, "disks")), 1);
    /* Round trip: what vm.info reports parses back to the same machine. */
    char *text = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    struct vm_config back;
    assert_int_equal(api_json_to_vm_config(text, strlen(text), &back, err, sizeof(err)), 0);
    free(text);
    assert_int_equal(back.cpus, cfg.cpus);
    assert_true(back.memory == cfg.memory);
    assert_string_equal(back.kernel, cfg.kernel);
    assert_string_equal(back.disks[0].path, cfg.disks[0].path);
    assert_int_equal(back.platform.tee, TEE_TDX);
    assert_int_equal(back.serial, cfg.serial);
    vm_config_free(&back);
    vm_config_free(&cfg);
}

/* Requires path (a.b.c) in j, of the given jansson type. */
static void require_path(json_t *j, const char *path, json_type type)
{
    char buf[128];
    snprintf(buf, sizeof(buf), "%s", path);
    json_t *v = j;
    for (char *save = NULL, *k = strtok_r(buf, ".", &save); k; k = strtok_r(NULL, ".", &save)) {
        if (json_is_array(v))
            v = json_array_get(v, 0);
        v = json_object_get(v, k);
        if (!v)
            fail_msg("vm.info config lacks %s", path);
    }
    if (json_typeof(v) != type && !(type == JSON_TRUE && json_is_boolean(v)))
        fail_msg("vm.info config: %s has type %d, want %d", path, json_typeof(v), type);
}

/* vm.info in Cloud Hypervisor's full VmConfig shape: every field a strict parser (runtime-rs's
 * ch-config structs, which fail on the first missing one) requires, at CH's defaults. */
static void api_vm_info_full_shape(void **state)
{
    struct vm_config cfg;
    char err[256];
    assert_int_equal(parse("{\"payload\":{\"kernel\":\"@KERNEL@\"},"
                           "\"disks\":[{\"path\":\"@DISK@\"}],\"net\":[{\"tap\":\"t0\"}],"
                           "\"vsock\":{\"cid\":3,\"socket\":\"/run/v.sock\"}}",
                           &cfg, err, sizeof(err)),
                     0);
    json_t *j = api_vm_config_to_json(&cfg);
    static const struct {
        const char *path;
        json_type type;
    } fields[] = {
        {"cpus.boot_vcpus", JSON_INTEGER},
        {"cpus.max_vcpus", JSON_INTEGER},
        {"cpus.max_phys_bits", JSON_INTEGER},
        {"cpus.kvm_hyperv", JSON_TRUE},
        {"cpus.topology.threads_per_core", JSON_INTEGER},
        {"cpus.features.amx", JSON_TRUE},
        {"cpus.affinity", JSON_NULL},
        {"memory.size", JSON_INTEGER},
        {"memory.mergeable", JSON_TRUE},
        {"memory.hotplug_method", JSON_STRING},
        {"memory.shared", JSON_TRUE},
        {"memory.hugepages", JSON_TRUE},
        {"memory.prefault", JSON_TRUE},
        {"memory.thp", JSON_TRUE},
        {"memory.zones", JSON_NULL},
        {"payload.kernel", JSON_STRING},
        {"payload.igvm", JSON_NULL},
        {"disks.path", JSON_STRING},
        {"disks.readonly", JSON_TRUE},
        {"disks.direct", JSON_TRUE},
        {"disks.iommu", JSON_TRUE},
        {"disks.num_queues", JSON_INTEGER},
        {"disks.queue_size", JSON_INTEGER},
        {"disks.vhost_user", JSON_TRUE},
        {"disks.rate_limiter_config", JSON_NULL},
        {"disks.pci_segment", JSON_INTEGER},
        {"net.ip", JSON_STRING},
        {"net.mask", JSON_STRING},
        {"net.mac", JSON_STRING},
        {"net.iommu", JSON_TRUE},
        {"net.num_queues", JSON_INTEGER},
        {"net.queue_size", JSON_INTEGER},
        {"net.vhost_user", JSON_TRUE},
        {"net.vhost_mode", JSON_STRING},
        {"net.pci_segment", JSON_INTEGER},
        {"net.tap", JSON_STRING},
        {"rng.src", JSON_STRING},
        {"rng.iommu", JSON_TRUE},
        {"balloon", JSON_NULL},
        {"fs", JSON_NULL},
        {"pmem", JSON_NULL},
        {"devices", JSON_NULL},
        {"user_devices", JSON_NULL},
        {"vdpa", JSON_NULL},
        {"numa", JSON_NULL},
        {"serial.mode", JSON_STRING},
        {"serial.iommu", JSON_TRUE},
        {"console.mode", JSON_STRING},
        {"console.iommu", JSON_TRUE},
        {"vsock.cid", JSON_INTEGER},
        {"vsock.socket", JSON_STRING},
        {"vsock.iommu", JSON_TRUE},
        {"vsock.pci_segment", JSON_INTEGER},
        {"iommu", JSON_TRUE},
        {"watchdog", JSON_TRUE},
        {"pvpanic", JSON_TRUE},
        {"landlock_enable", JSON_TRUE},
        {"platform.num_pci_segments", JSON_INTEGER},
        {"platform.iommu_segments", JSON_NULL},
        {"platform.tdx", JSON_TRUE},
        {"platform.sev_snp", JSON_TRUE},
    };
    for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++)
        require_path(j, fields[i].path, fields[i].type);
    /* the MAC is fixed at vm.create (as Cloud Hypervisor does), so vm.info reports the guest's */
    const char *mac =
        json_string_value(json_object_get(json_array_get(json_object_get(j, "net"), 0), "mac"));
    assert_string_not_equal(mac, "00:00:00:00:00:00");
    /* and the whole of it parses back */
    char *text = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    struct vm_config back;
    if (api_json_to_vm_config(text, strlen(text), &back, err, sizeof(err)) < 0)
        fail_msg("vm.info config does not parse back: %s", err);
    free(text);
    assert_memory_equal(back.nets[0].mac, cfg.nets[0].mac, 6);
    vm_config_free(&back);
    vm_config_free(&cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(shared_table_through_json),
        cmocka_unit_test(kata_example_maps_every_field),
        cmocka_unit_test(defaults_follow_cloud_hypervisor),
        cmocka_unit_test(unknown_keys_are_ignored),
        cmocka_unit_test(wrong_types_are_refused),
        cmocka_unit_test(unsupported_features_are_refused),
        cmocka_unit_test(confidential_guests_refuse_hotadd_and_vfio),
        cmocka_unit_test(host_data_and_mrconfigid),
        cmocka_unit_test(api_initdata_digest_encodings),
        cmocka_unit_test(api_kata_keys_honoured_or_refused),
        cmocka_unit_test(api_vm_info_full_shape),
        cmocka_unit_test(serial_and_console_modes),
        cmocka_unit_test(add_disk_and_add_net_bodies),
        cmocka_unit_test(config_to_json_for_vm_info),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
