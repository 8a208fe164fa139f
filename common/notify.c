#include "common/notify.h"

#include <stdarg.h>
#include <stdio.h>

#include "common/hctime.h"

#ifdef HUBCAP_WITH_SYSTEMD
#include <systemd/sd-daemon.h>

static int send_state(const char *state)
{
    return sd_notify(0, state);
}

int64_t hc_notify_watchdog_ms(void)
{
    uint64_t usec = 0;
    if (sd_watchdog_enabled(0, &usec) <= 0 || usec == 0)
        return 0;
    return usec / 2000 ? (int64_t)(usec / 2000) : 1;
}
#else
static int send_state(const char *state)
{
    (void)state;
    return 0;
}

int64_t hc_notify_watchdog_ms(void)
{
    return 0;
}
#endif

/* "HEAD\nSTATUS=status" (or HEAD alone) into one message. */
static int send_with_status(const char *head, const char *status)
{
    char msg[512];
    if (!status)
        return send_state(head);
    snprintf(msg, sizeof msg, "%s\nSTATUS=%s", head, status);
    return send_state(msg);
}

int hc_notify_ready(const char *status)
{
    return send_with_status("READY=1", status);
}

int hc_notify_stopping(const char *status)
{
    return send_with_status("STOPPING=1", status);
}

int hc_notify_status(const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    int n = snprintf(msg, sizeof msg, "STATUS=");
    va_start(ap, fmt);
    vsnprintf(msg + n, sizeof msg - (size_t)n, fmt, ap);
    va_end(ap);
    return send_state(msg);
}

int hc_notify_watchdog(void)
{
    return send_state("WATCHDOG=1");
}

void hc_notify_watchdog_due(int64_t interval_ms, int64_t *last_ns)
{
    int64_t now = hc_mono_ns();
    if (interval_ms <= 0 || now - *last_ns < interval_ms * 1000000)
        return;
    *last_ns = now;
    hc_notify_watchdog();
}
