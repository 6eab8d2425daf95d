/* main.c: the cocoon executable: parse the launch CLI, boot the VM, run the loop, exit with status.
 */
#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "version.h"
#include "vmm/cli.h"
#include "vmm/log.h"
#include "vmm/seccomp.h"
#include "vmm/vm.h"
#include "vmm/vm_internal.h"

/* Exit statuses besides the guest's own (see README "Launch CLI"). */
#define EXIT_BAD_INPUT     1
#define EXIT_RUNTIME_ERROR 2
#define EXIT_GUEST_RESET   3

struct app {
    uv_loop_t loop;
    uv_signal_t sigterm, sigint;
    struct vm *vm;
    int status;
};

static void on_vm_exit(void *opaque, enum vm_exit_reason reason, int status)
{
    struct app *app = opaque;
    switch (reason) {
    case VM_EXIT_POWEROFF:
        app->status = status;
        break;
    case VM_EXIT_RESET:
        log_info("guest reset: stopping");
        app->status = EXIT_GUEST_RESET;
        break;
    case VM_EXIT_SIGNAL:
        log_info("stopped by signal %d", status);
        app->status = 128 + status;
        break;
    default:
        app->status = EXIT_RUNTIME_ERROR;
        break;
    }
    uv_stop(&app->loop);
}

static void on_signal(uv_signal_t *handle, int signum)
{
    struct app *app = handle->data;
    if (app->vm) {
        vm_request_exit(app->vm, VM_EXIT_SIGNAL, signum);
    } else {
        app->status = 128 + signum;
        uv_stop(&app->loop);
    }
}

static void close_walk_cb(uv_handle_t *handle, void *arg)
{
    if (!uv_is_closing(handle))
        uv_close(handle, NULL);
}

/* Threads of this process still alive (1 = only the main thread). */
static int count_threads(void)
{
    DIR *d = opendir("/proc/self/task");
    if (!d)
        return -1;
    int n = 0;
    for (struct dirent *e; (e = readdir(d));)
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    return n;
}

static int run(struct app *app, struct cli_opts *o)
{
    char err[512] = "";
    if (o->api_socket || o->api_socket_fd >= 0) {
        /* Control API mode (api/api.h): the socket serves; a VM given here too boots at once. */
        struct vm_config *cli_vm = o->cfg.kernel || o->cfg.firmware ? &o->cfg : NULL;
        if (cli_vm && vm_config_validate(cli_vm, err, sizeof(err)) < 0) {
            fprintf(stderr, "cocoon: %s\n", err);
            return EXIT_BAD_INPUT;
        }
        if (api_run(&app->loop, o->api_socket, o->api_socket_fd, cli_vm, on_vm_exit, app) < 0)
            return EXIT_BAD_INPUT;
        return app->status;
    }
    if (!o->cfg.kernel) {
        /* (With --api-socket the VM arrives over the control API instead.) */
        fprintf(stderr, "cocoon: --kernel is required (see --help)\n");
        return EXIT_BAD_INPUT;
    }
    if (vm_config_validate(&o->cfg, err, sizeof(err)) < 0 ||
        vm_create(&o->cfg, &app->loop, on_vm_exit, app, &app->vm, err, sizeof(err)) < 0 ||
        vm_boot(app->vm, err, sizeof(err)) < 0) {
        fprintf(stderr, "cocoon: %s\n", err);
        return EXIT_BAD_INPUT;
    }
    /* Set-up is over: confine the thread pool and this (loop) thread (vmm/seccomp.h). */
    if (vmm_seccomp_lockdown(&app->loop, err, sizeof(err)) < 0) {
        fprintf(stderr, "cocoon: %s\n", err);
        return EXIT_RUNTIME_ERROR;
    }
    uv_run(&app->loop, UV_RUN_DEFAULT);
    return app->status;
}

int main(int argc, char **argv)
{
    struct cli_opts o;
    char err[512] = "";
    if (cli_parse(argc, argv, &o, err, sizeof(err)) < 0) {
        fprintf(stderr, "cocoon: %s\n", err);
        cli_opts_free(&o);
        return EXIT_BAD_INPUT;
    }
    if (o.help || o.version) {
        if (o.help)
            cli_usage(stdout);
        else
            printf("cocoon %s\n", COCOON_VERSION);
        cli_opts_free(&o);
        return 0;
    }
    log_set_level((enum log_level)(LOG_LVL_WARN + o.verbosity));
    log_uptime(); /* start the boot timer's clock */
    /* Compile the seccomp filters before any thread exists (vmm/seccomp.h). */
    static const enum vmm_seccomp_mode sc_modes[] = {
        [CLI_SECCOMP_TRUE] = VMM_SECCOMP_TRAP,
        [CLI_SECCOMP_FALSE] = VMM_SECCOMP_OFF,
        [CLI_SECCOMP_LOG] = VMM_SECCOMP_LOG,
        [CLI_SECCOMP_ERRNO] = VMM_SECCOMP_ERRNO,
    };
    if (vmm_seccomp_init(sc_modes[o.seccomp], err, sizeof(err)) < 0) {
        fprintf(stderr, "cocoon: %s\n", err);
        cli_opts_free(&o);
        return EXIT_RUNTIME_ERROR;
    }

    struct app app = {.status = 0};
    uv_loop_init(&app.loop);
    uv_signal_init(&app.loop, &app.sigterm);
    uv_signal_init(&app.loop, &app.sigint);
    app.sigterm.data = app.sigint.data = &app;
    uv_signal_start(&app.sigterm, on_signal, SIGTERM);
    uv_signal_start(&app.sigint, on_signal, SIGINT);

    int status = run(&app, &o);

    vm_destroy(app.vm);
    uv_walk(&app.loop, close_walk_cb, NULL);
    uv_run(&app.loop, UV_RUN_DEFAULT);
    uv_loop_close(&app.loop);
    uv_library_shutdown();
    cli_opts_free(&o);
    log_debug("exit status %d, %d thread(s) left", status, count_threads());
    return status;
}
