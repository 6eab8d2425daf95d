/* stop_signal.h: the signals that stop cocoon, held during long set-up steps so they can be seen.
 *
 * libuv delivers SIGTERM and its kind to the loop, which cannot run while the loop thread is
 * inside a long set-up step (registering a terabyte of guest RAM with KVM). Around such a step the
 * thread holds the stop signals (blocks them) and asks between slices whether one is pending; on
 * release a pending signal reaches libuv's handler as usual. */
#ifndef COCOON_VMM_BASE_STOP_SIGNAL_H
#define COCOON_VMM_BASE_STOP_SIGNAL_H

#include <signal.h>
#include <stddef.h>

/* The signals that end cocoon as SIGTERM does (status 128 + the signal). */
#define STOP_SIGNAL_COUNT 7
extern const int stop_signal_list[STOP_SIGNAL_COUNT];

/* Blocks the stop signals in the calling thread; *saved receives the previous mask. */
void stop_signals_hold(sigset_t *saved);

/* Restores the mask from stop_signals_hold (a pending signal is delivered now). */
void stop_signals_release(const sigset_t *saved);

/* The lowest-numbered stop signal pending for this thread or the process, or 0. Remembered: once
 * one was seen, stop_signal_seen() returns it. */
int stop_signal_pending(void);

/* The stop signal stop_signal_pending() last found, or 0. */
int stop_signal_seen(void);

#endif
