/* fake_machine.c: a recording vm_machine_ops for tests of the VM's owner (no KVM). */
#include "fake_machine.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config_cases.h"

static int fm_boot(void *ctx, const struct vm_config *cfg, char *err, size_t errlen)
{
    struct fake_machine *m = ctx;
    if (m->fail_boot) {
        snprintf(err, errlen, "no KVM here");
        return -1;
    }
    m->boots++;
    m->booted_disks = cfg->nr_disks;
    m->booted_nets = cfg->nr_nets;
    m->booted_vsock = cfg->vsock.enabled;
    m->booted_cpus = cfg->cpus;
    return 0;
}

static int fm_pause(void *ctx, char *err, size_t errlen)
{
    ((struct fake_machine *)ctx)->pauses++;
    return 0;
}

static int fm_resume(void *ctx, char *err, size_t errlen)
{
    ((struct fake_machine *)ctx)->resumes++;
    return 0;
}

static void fm_shutdown(void *ctx)
{
    ((struct fake_machine *)ctx)->shutdowns++;
}

static void fm_destroy(void *ctx)
{
    ((struct fake_machine *)ctx)->destroys++;
}

static int fm_hotplug(struct fake_machine *m, unsigned *count, unsigned base, char *bdf,
                      size_t bdflen, char *err, size_t errlen)
{
    if (m->fail_hotplug) {
        snprintf(err, errlen, "no free slot");
        return -1;
    }
    snprintf(bdf, bdflen, "0000:00:%02x.0", base + (*count)++);
    return 0;
}

static int fm_add_disk(void *ctx, const struct disk_config *d, char *bdf, size_t bdflen, char *err,
                       size_t errlen)
{
    struct fake_machine *m = ctx;
    return fm_hotplug(m, &m->disks, 4, bdf, bdflen, err, errlen);
}

static int fm_add_net(void *ctx, const struct net_config *n, char *bdf, size_t bdflen, char *err,
                      size_t errlen)
{
    struct fake_machine *m = ctx;
    return fm_hotplug(m, &m->nets, 0x10, bdf, bdflen, err, errlen);
}

static int fm_remove(void *ctx, const char *id, char *err, size_t errlen)
{
    struct fake_machine *m = ctx;
    if (m->fail_remove) {
        snprintf(err, errlen, "the guest did not let go");
        return -1;
    }
    m->removes++;
    return 0;
}

static int fm_power_button(void *ctx, char *err, size_t errlen)
{
    struct fake_machine *m = ctx;
    if (m->no_button) {
        snprintf(err, errlen, "this VM has no power button");
        return -1;
    }
    m->buttons++;
    return 0;
}

static int fm_resize_vcpus(void *ctx, unsigned desired, char *err, size_t errlen)
{
    struct fake_machine *m = ctx;
    m->resizes++;
    if (m->resize_rc < 0) {
        snprintf(err, errlen, "the fake machine refused (%d)", m->resize_rc);
        return m->resize_rc;
    }
    m->resized_to = desired;
    return 0;
}

const struct vm_machine_ops fake_machine_ops = {
    .boot = fm_boot,
    .pause = fm_pause,
    .resume = fm_resume,
    .shutdown = fm_shutdown,
    .destroy = fm_destroy,
    .add_disk = fm_add_disk,
    .add_net = fm_add_net,
    .remove_device = fm_remove,
    .power_button = fm_power_button,
    .resize_vcpus = fm_resize_vcpus,
};

static void fm_stopped(void *opaque, enum vm_exit_reason reason, int status)
{
    struct fake_machine *m = opaque;
    m->stops++;
    m->stop_reason = reason;
}

struct vm_owner *fake_machine_owner(struct fake_machine *m)
{
    memset(m, 0, sizeof(*m));
    const struct vm_owner_hooks hooks = {.guest_stopped = fm_stopped, .opaque = m};
    return vm_owner_new(&fake_machine_ops, m, &hooks);
}

int fake_owner_setup(struct fake_machine *m, struct vm_owner **owner)
{
    if (config_fixture_setup() < 0)
        return -1;
    *owner = fake_machine_owner(m);
    return *owner ? 0 : -1;
}

int fake_owner_teardown(struct vm_owner *owner)
{
    vm_owner_free(owner);
    config_fixture_teardown();
    return 0;
}

char *fake_config_case_dup(const char *tmpl)
{
    char buf[256];
    return config_case_expand(tmpl, buf, sizeof(buf)) == 0 ? strdup(buf) : NULL;
}
