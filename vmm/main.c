/* main.c: the cocoon executable: parse the launch CLI, boot the VM, run the loop, exit with status.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "api/api.h"
#include "version.h"
#include "vmm/cli.h"
#include "vmm/config_accept.h"
#include "vmm/base/log.h"
#include "vmm/base/stop_signal.h"
#include "vmm/seccomp.h"
#include "vmm/vm.h"
#include "vmm/vm_machine.h"
#include "vmm/vm_owner.h"

/* Exit statuses besides the guest's own (see README "Launch CLI"). */
#define EXIT_BAD_INPUT     1
#define EXIT_RUNTIME_ERROR 2
#define EXIT_GUEST_RESET   3

/* The stop signals (vmm/base/stop_signal.h) end cocoon the way SIGTERM does: the VM stops,
 * sockets are removed, threads are joined, and the status is 128 + the signal. SIGPIPE is
 * ignored instead: a console or client that goes away must not stop the VM (writes then fail with
 * EPIPE). */

struct app {
    uv_loop_t loop;
    uv_signal_t signals[STOP_SIGNAL_COUNT];
    unsigned nr_signals;
    bool loop_ok;               /* uv_loop_init succeeded: the loop must be closed */
    struct vm_machine *machine; /* the command-line VM (without --api-socket) */
    struct vm_owner *owner;     /* its configuration and state, as the API's router has them */
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
    if (!app->machine || !vm_machine_request_exit(app->machine, VM_EXIT_SIGNAL, signum)) {
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
#if defined(__SANITIZE_THREAD__)
    n--; /* ThreadSanitizer's own background thread */
#endif
    return n;
}

static int run(struct app *app, struct cli_opts *o)
{
    char err[512] = "";
    if (o->api_socket || o->api_socket_fd >= 0) {
        /* Control API mode (api/api.h): the socket serves; a VM given here too boots at once. */
        struct vm_config *cli_vm = o->cfg.kernel || o->cfg.firmware ? &o->cfg : NULL;
        if (cli_vm && vm_config_accept(cli_vm, err, sizeof(err)) < 0) {
            fprintf(stderr, "cocoon: %s\n", err);
            return EXIT_BAD_INPUT;
        }
        if (api_run(&app->loop, o->api_socket, o->api_socket_fd, cli_vm, on_vm_exit, app) < 0)
            return EXIT_BAD_INPUT;
        return app->status;
    }
    if (!o->cfg.kernel && !o->cfg.firmware) {
        /* (With --api-socket the VM arrives over the control API instead.) */
        fprintf(stderr, "cocoon: --kernel or --firmware is required (see --help)\n");
        return EXIT_BAD_INPUT;
    }
    /* The same owner as vm.create + vm.boot (vmm/vm_owner.h): it validates, keeps the
     * configuration and boots the machine (which then confines this thread: vmm/seccomp.h). */
    const struct vm_owner_hooks hooks = {.guest_stopped = on_vm_exit, .opaque = app};
    app->machine = vm_machine_new(&app->loop);
    app->owner = app->machine ? vm_owner_new(&vm_machine_ops, app->machine, &hooks) : NULL;
    if (!app->owner) {
        fprintf(stderr, "cocoon: out of memory\n");
        return EXIT_RUNTIME_ERROR;
    }
    vm_machine_bind(app->machine, app->owner);
    if (vm_owner_create(app->owner, &o->cfg, err, sizeof(err)) < 0 ||
        vm_owner_boot(app->owner, err, sizeof(err)) < 0) {
        if (stop_signal_seen()) {
            log_info("stopped by signal %d during set-up", stop_signal_seen());
            return 128 + stop_signal_seen();
        }
        fprintf(stderr, "cocoon: %s\n", err);
        return EXIT_BAD_INPUT;
    }
    uv_run(&app->loop, UV_RUN_DEFAULT);
    return app->status;
}

/* Makes fds 0-2 valid before anything opens a file: with one of them closed, the next open (a
 * socket, the epoll fd) would take its number and console output or libuv's checks would hit it.
 * Returns -1 when /dev/null cannot be opened (nothing can be reported then). */
static int reserve_stdio(void)
{
    for (int fd = 0; fd <= 2; fd++) {
        if (fcntl(fd, F_GETFD) >= 0 || errno != EBADF)
            continue;
        int null = open("/dev/null", O_RDWR);
        if (null != fd) {
            if (null >= 0)
                close(null);
            return -1;
        }
    }
    return 0;
}

/* Below this many open files libuv cannot even start (it aborts when its signal pipe fails), and
 * a VM needs KVM, vCPU, memory, eventfd and socket fds on top. */
#define MIN_OPEN_FILES 64

static int check_fd_limit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur >= MIN_OPEN_FILES)
        return 0;
    fprintf(stderr,
            "cocoon: the open-file limit is %llu; cocoon needs at least %d (raise ulimit -n)\n",
            (unsigned long long)rl.rlim_cur, MIN_OPEN_FILES);
    return -1;
}

/* The event loop and its signal handlers; one line on stderr and -1 when the host refuses them
 * (e.g. out of file descriptors). */
static int app_init(struct app *app)
{
    int rc = uv_loop_init(&app->loop);
    if (rc < 0) {
        fprintf(stderr, "cocoon: cannot start the event loop: %s\n", uv_strerror(rc));
        return -1;
    }
    app->loop_ok = true;
    for (unsigned i = 0; i < STOP_SIGNAL_COUNT; i++) {
        uv_signal_t *h = &app->signals[i];
        if ((rc = uv_signal_init(&app->loop, h)) < 0) {
            fprintf(stderr, "cocoon: cannot handle signals: %s\n", uv_strerror(rc));
            return -1;
        }
        app->nr_signals++;
        h->data = app;
        if ((rc = uv_signal_start(h, on_signal, stop_signal_list[i])) < 0) {
            fprintf(stderr, "cocoon: cannot handle signal %d: %s\n", stop_signal_list[i],
                    uv_strerror(rc));
            return -1;
        }
    }
    return 0;
}

static void app_close(struct app *app)
{
    uv_walk(&app->loop, close_walk_cb, NULL);
    uv_run(&app->loop, UV_RUN_DEFAULT);
    uv_loop_close(&app->loop);
}

int main(int argc, char **argv)
{
    if (reserve_stdio() < 0)
        return EXIT_BAD_INPUT;
    signal(SIGPIPE, SIG_IGN);
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
    enum vmm_seccomp_mode sc_mode = sc_modes[o.seccomp];
#if defined(__SANITIZE_THREAD__)
    /* ThreadSanitizer's runtime makes system calls the filters refuse: TSan builds run without. */
    if (sc_mode != VMM_SECCOMP_OFF)
        log_info("TSan build: seccomp filters off");
    sc_mode = VMM_SECCOMP_OFF;
#endif
    if (vmm_seccomp_init(sc_mode, err, sizeof(err)) < 0) {
        fprintf(stderr, "cocoon: %s\n", err);
        cli_opts_free(&o);
        return EXIT_RUNTIME_ERROR;
    }

    struct app app = {.status = 0};
    if (check_fd_limit() < 0 || app_init(&app) < 0) {
        if (app.loop_ok)
            app_close(&app);
        cli_opts_free(&o);
        return EXIT_BAD_INPUT;
    }

    int status = run(&app, &o);

    vm_owner_free(app.owner);
    vm_machine_free(app.machine);
    app_close(&app);
    uv_library_shutdown();
    cli_opts_free(&o);
    log_debug("exit status %d, %d thread(s) left", status, count_threads());
    return status;
}
