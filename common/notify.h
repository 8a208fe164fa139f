/*
 * notify.h - tell a service manager (systemd, Type=notify) how the daemon is doing: readiness,
 * a status line, watchdog keep-alives, stopping.
 *
 * The messages go to the datagram socket named by $NOTIFY_SOCKET (sd_notify(3) of libsystemd).
 * Built without HUBCAP_WITH_SYSTEMD, or run without $NOTIFY_SOCKET (a shell, a test), every call
 * does nothing and returns 0: a daemon calls them unconditionally. Safe from any thread.
 *
 * The watchdog: with WatchdogSec= systemd sets $WATCHDOG_USEC (and $WATCHDOG_PID, which must be
 * this process); hc_notify_watchdog_ms() says how often to ping (half of it), and the main loop
 * calls hc_notify_watchdog() at least that often once it is ready. A daemon whose loop stops
 * answering is killed and restarted (Restart=on-failure).
 */
#ifndef HC_NOTIFY_H
#define HC_NOTIFY_H

#include <stdint.h>

/*
 * Send READY=1 with a status line (may be NULL). Call it once, after everything a client needs
 * is up (the buffer or the capture folder open, listeners bound). Returns 1 if a message was
 * sent, 0 if there is nothing to send to, or a negative errno.
 */
int hc_notify_ready(const char *status);

/* Send STATUS=<printf text> (one line, shown by `systemctl status`). Returns as above. */
int hc_notify_status(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Send STOPPING=1 with a status line (may be NULL), as the daemon begins to shut down. */
int hc_notify_stopping(const char *status);

/*
 * The watchdog's ping interval in milliseconds: half of $WATCHDOG_USEC (at least 1), or 0 when
 * there is no watchdog for this process (no $WATCHDOG_USEC, $WATCHDOG_PID names another
 * process, or a build without HUBCAP_WITH_SYSTEMD). Read the environment once at start.
 */
int64_t hc_notify_watchdog_ms(void);

/* Send WATCHDOG=1. Returns as hc_notify_ready(). */
int hc_notify_watchdog(void);

/*
 * For a loop that wakes often: send WATCHDOG=1 if interval_ms (hc_notify_watchdog_ms()) passed
 * since *last_ns (a hc_mono_ns() time, updated when a ping goes). Nothing when interval_ms is 0.
 */
void hc_notify_watchdog_due(int64_t interval_ms, int64_t *last_ns);

#endif
