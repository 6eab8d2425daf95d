/* stop_signal.c: the stop signals, held and polled during long set-up steps (stop_signal.h). */
#include "vmm/base/stop_signal.h"

#include <pthread.h>
#include <stdatomic.h>

/* SIGPIPE is not here: a console or client that goes away must not stop the VM. */
const int stop_signal_list[STOP_SIGNAL_COUNT] = {SIGTERM, SIGINT,  SIGHUP, SIGQUIT,
                                                 SIGUSR1, SIGUSR2, SIGALRM};

static atomic_int seen;

static void stop_set(sigset_t *set)
{
    sigemptyset(set);
    for (size_t i = 0; i < STOP_SIGNAL_COUNT; i++)
        sigaddset(set, stop_signal_list[i]);
}

void stop_signals_hold(sigset_t *saved)
{
    sigset_t set;
    stop_set(&set);
    pthread_sigmask(SIG_BLOCK, &set, saved);
}

void stop_signals_release(const sigset_t *saved)
{
    pthread_sigmask(SIG_SETMASK, saved, NULL);
}

int stop_signal_pending(void)
{
    sigset_t pending;
    if (sigpending(&pending) < 0)
        return 0;
    for (size_t i = 0; i < STOP_SIGNAL_COUNT; i++) {
        if (sigismember(&pending, stop_signal_list[i]) == 1) {
            atomic_store(&seen, stop_signal_list[i]);
            return stop_signal_list[i];
        }
    }
    return 0;
}

int stop_signal_seen(void)
{
    return atomic_load(&seen);
}
