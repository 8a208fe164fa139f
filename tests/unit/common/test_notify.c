/*
 * notify: what reaches a service manager's socket ($NOTIFY_SOCKET, a datagram socket this test
 * binds): READY=1 with STATUS, STATUS, STOPPING=1, WATCHDOG=1; the watchdog interval from
 * $WATCHDOG_USEC and $WATCHDOG_PID. Without HUBCAP_WITH_SYSTEMD nothing is sent.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/hctime.h"
#include "common/notify.h"

struct sock {
    int fd;
    char path[108];
};

static int setup(void **state)
{
    static struct sock s;
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    const char *tmp = getenv("HC_TEST_TMP");
    snprintf(s.path, sizeof s.path, "%s/notify-%d.sock", tmp ? tmp : "/tmp", (int)getpid());
    if (tmp) {
        char cmd[300];
        snprintf(cmd, sizeof cmd, "mkdir -p '%s'", tmp);
        if (system(cmd))
            return -1;
    }
    unlink(s.path);
    s.fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    strcpy(a.sun_path, s.path);
    if (s.fd < 0 || bind(s.fd, (struct sockaddr *)&a, sizeof a))
        return -1;
    setenv("NOTIFY_SOCKET", s.path, 1);
    *state = &s;
    return 0;
}

static int teardown(void **state)
{
    struct sock *s = *state;
    close(s->fd);
    unlink(s->path);
    unsetenv("NOTIFY_SOCKET");
    return 0;
}

/* The next datagram, or "" when none is waiting. */
static const char *next(struct sock *s)
{
    static char buf[1024];
    ssize_t n = recv(s->fd, buf, sizeof buf - 1, 0);
    buf[n > 0 ? n : 0] = 0;
    return buf;
}

#ifdef HUBCAP_WITH_SYSTEMD
static void test_messages(void **state)
{
    struct sock *s = *state;
    assert_int_equal(hc_notify_ready("serving on 127.0.0.1:8080"), 1);
    assert_string_equal(next(s), "READY=1\nSTATUS=serving on 127.0.0.1:8080");
    assert_int_equal(hc_notify_ready(NULL), 1);
    assert_string_equal(next(s), "READY=1");
    assert_int_equal(hc_notify_status("%d events in", 42), 1);
    assert_string_equal(next(s), "STATUS=42 events in");
    assert_int_equal(hc_notify_watchdog(), 1);
    assert_string_equal(next(s), "WATCHDOG=1");
    assert_int_equal(hc_notify_stopping("closing capture files"), 1);
    assert_string_equal(next(s), "STOPPING=1\nSTATUS=closing capture files");
    assert_string_equal(next(s), "");
}

static void test_no_socket(void **state)
{
    struct sock *s = *state;
    unsetenv("NOTIFY_SOCKET");
    assert_int_equal(hc_notify_ready("x"), 0);
    assert_int_equal(hc_notify_watchdog(), 0);
    setenv("NOTIFY_SOCKET", s->path, 1);
    assert_string_equal(next(s), "");
}

static void test_watchdog_interval(void **state)
{
    char pid[32];
    (void)state;
    unsetenv("WATCHDOG_PID");
    unsetenv("WATCHDOG_USEC");
    assert_int_equal(hc_notify_watchdog_ms(), 0);
    setenv("WATCHDOG_USEC", "30000000", 1); /* WatchdogSec=30s: ping every 15 s */
    assert_int_equal(hc_notify_watchdog_ms(), 15000);
    snprintf(pid, sizeof pid, "%d", (int)getpid());
    setenv("WATCHDOG_PID", pid, 1);
    assert_int_equal(hc_notify_watchdog_ms(), 15000);
    setenv("WATCHDOG_PID", "1", 1); /* another process's watchdog */
    assert_int_equal(hc_notify_watchdog_ms(), 0);
    unsetenv("WATCHDOG_PID");
    setenv("WATCHDOG_USEC", "garbage", 1);
    assert_int_equal(hc_notify_watchdog_ms(), 0);
    unsetenv("WATCHDOG_USEC");
}

static void test_watchdog_due(void **state)
{
    struct sock *s = *state;
    int64_t last = hc_mono_ns();
    hc_notify_watchdog_due(0, &last); /* no watchdog: never */
    hc_notify_watchdog_due(1000, &last);
    assert_string_equal(next(s), ""); /* not due yet */
    last -= 2000000000LL;
    hc_notify_watchdog_due(1000, &last);
    assert_string_equal(next(s), "WATCHDOG=1");
    hc_notify_watchdog_due(1000, &last); /* just sent: not again */
    assert_string_equal(next(s), "");
}
#else
static void test_nothing_sent(void **state)
{
    struct sock *s = *state;
    int64_t last = 0;
    setenv("WATCHDOG_USEC", "30000000", 1);
    assert_int_equal(hc_notify_ready("x"), 0);
    assert_int_equal(hc_notify_status("y"), 0);
    assert_int_equal(hc_notify_watchdog(), 0);
    assert_int_equal(hc_notify_watchdog_ms(), 0);
    hc_notify_watchdog_due(1, &last);
    assert_string_equal(next(s), "");
    unsetenv("WATCHDOG_USEC");
}
#endif

int main(void)
{
    const struct CMUnitTest tests[] = {
#ifdef HUBCAP_WITH_SYSTEMD
        cmocka_unit_test(test_messages),
        cmocka_unit_test(test_no_socket),
        cmocka_unit_test(test_watchdog_interval),
        cmocka_unit_test(test_watchdog_due),
#else
        cmocka_unit_test(test_nothing_sent),
#endif
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
