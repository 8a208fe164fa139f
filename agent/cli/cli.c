#include "agent/cli/cli.h"

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/error.h"
#include "common/hctime.h"

volatile int cli_stop;

static void on_signal(int sig)
{
    (void)sig;
    cli_stop = 1;
}

void cli_on_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
}

void cli_buffer_init(struct cli_buffer *b)
{
    memset(b, 0, sizeof *b);
    ag_queue_opts_default(&b->opts);
    b->opts.max_bytes = 0; /* without --max-bytes: the buffer's own cap (1 GiB for a new one) */
}

int cli_buffer_option(struct cli_buffer *b, int opt, const char *arg)
{
    switch (opt) {
    case 'b':
        b->dir = arg;
        return 1;
    case 1001:
        if (hc_size_parse(arg, &b->opts.max_bytes) || b->opts.max_bytes < (1u << 20)) {
            fprintf(stderr,
                    "hubcap-agent: --max-bytes '%s': give a size of at least 1M, "
                    "e.g. 512M or 2G\n",
                    arg);
            return -1;
        }
        if (b->opts.max_bytes > ag_queue_max_bytes_limit()) {
            fprintf(stderr,
                    "hubcap-agent: --max-bytes '%s': this 32-bit system cannot map a buffer "
                    "that big; the maximum is %" PRIu64 "M (the map is 2 x max_bytes + 64 MiB)\n",
                    arg, ag_queue_max_bytes_limit() >> 20);
            return -1;
        }
        return 1;
    case 1002:
        if (!strcmp(arg, "block")) {
            b->opts.policy = AG_FULL_BLOCK;
        } else if (!strcmp(arg, "drop-oldest")) {
            b->opts.policy = AG_FULL_DROP_OLDEST;
        } else {
            fprintf(stderr, "hubcap-agent: --full-policy '%s': use block or drop-oldest\n", arg);
            return -1;
        }
        return 1;
    case 1003:
        b->opts.nosync = 1;
        return 1;
    case 1004:
        if (hc_duration_parse(arg, &b->opts.retention_ms)) {
            fprintf(stderr,
                    "hubcap-agent: --retention '%s': give a duration such as 90m, "
                    "24h or 7d (0 keeps nothing)\n",
                    arg);
            return -1;
        }
        return 1;
    case 1005:
        if (hc_size_parse(arg, &b->opts.retention_bytes)) {
            fprintf(stderr, "hubcap-agent: --retention-bytes '%s': give a size such as 256M\n",
                    arg);
            return -1;
        }
        return 1;
    }
    return 0;
}

int cli_buffer_open(const struct cli_buffer *b, int readonly, struct ag_queue **q)
{
    struct ag_queue_opts o = b->opts;
    int rc;

    if (!b->dir) {
        fprintf(stderr, "hubcap-agent: no buffer: give its folder with -b DIR "
                        "(e.g. -b /var/lib/hubcap/buffer)\n");
        return CLI_USAGE;
    }
    o.readonly = readonly;
    rc = ag_queue_open(b->dir, &o, q);
    if (!rc)
        return 0;
    if (rc == -ENOENT && readonly)
        fprintf(stderr,
                "hubcap-agent: no buffer in %s: nothing was enqueued there yet "
                "(check -b)\n",
                b->dir);
    else if (rc == -EACCES || rc == -EROFS || rc == -EPERM)
        fprintf(stderr,
                "hubcap-agent: buffer folder %s is not writable: %s; choose another "
                "folder with -b or fix its permissions\n",
                b->dir, hc_strerror(rc));
    else if (rc == -ENOTDIR)
        fprintf(stderr, "hubcap-agent: %s is not a folder: -b takes the buffer's folder\n", b->dir);
    else if (rc == HC_E_VERSION)
        fprintf(stderr, "hubcap-agent: buffer %s was written by another version of hubcap\n",
                b->dir);
    else if (rc == HC_E_TOOBIG)
        fprintf(stderr,
                "hubcap-agent: buffer %s has a cap this 32-bit system cannot map; the maximum "
                "is %" PRIu64 "M: open it with --max-bytes %" PRIu64 "M or less\n",
                b->dir, ag_queue_max_bytes_limit() >> 20, ag_queue_max_bytes_limit() >> 20);
    else if (rc == -ENOMEM)
        fprintf(stderr,
                "hubcap-agent: cannot map buffer %s: no room in the address space for its "
                "map (2 x max_bytes + 64 MiB); give a smaller --max-bytes\n",
                b->dir);
    else if (rc == HC_E_DISKFULL)
        fprintf(stderr,
                "hubcap-agent: cannot open buffer %s: the disk is full; free some "
                "space\n",
                b->dir);
    else
        fprintf(stderr, "hubcap-agent: cannot open buffer %s: %s\n", b->dir, hc_strerror(rc));
    return CLI_FAIL;
}

int cli_usage_error(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "hubcap-agent %s: ", cmd);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\nTry 'hubcap-agent %s --help'.\n", cmd);
    return CLI_USAGE;
}

const char *cli_bytes(uint64_t n, char *buf, size_t cap)
{
    static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    double v = (double)n;
    int u = 0;
    while (v >= 1024 && u < 4) {
        v /= 1024;
        u++;
    }
    if (u == 0)
        snprintf(buf, cap, "%llu B", (unsigned long long)n);
    else
        snprintf(buf, cap, "%.1f %s", v, units[u]);
    return buf;
}

const char *cli_default_device_id(void)
{
    static char host[256];
    const char *e = getenv("HUBCAP_DEVICE_ID");
    if (e && *e)
        return e;
    if (gethostname(host, sizeof host - 1) || !host[0])
        strcpy(host, "device");
    return host;
}

int cli_fraction(const char *opt, const char *arg, double *out)
{
    char *e;
    double v = strtod(arg, &e);
    if (*e || e == arg || !(v >= 0 && v <= 1)) {
        fprintf(stderr, "hubcap-agent: %s '%s': give a fraction between 0 and 1, e.g. 0.01\n", opt,
                arg);
        return -1;
    }
    *out = v;
    return 0;
}

int cli_u64(const char *opt, const char *arg, uint64_t *out)
{
    char *e;
    unsigned long long v;
    errno = 0;
    v = strtoull(arg, &e, 10);
    if (errno || *e || e == arg || arg[0] == '-') {
        fprintf(stderr, "hubcap-agent: %s '%s': give a whole number\n", opt, arg);
        return -1;
    }
    *out = v;
    return 0;
}
