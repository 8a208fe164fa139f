/* opts.c - hubcap-fleet's command line into struct fl_opts (no I/O but the help text). */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/fleet/fleet.h"
#include "common/error.h"
#include "common/hctime.h"

static const char help[] =
    "usage: hubcap-fleet --connection-string STR [--devices N] [--duration SECS] [OPTIONS]\n\n"
    "Simulate a fleet of edge devices in one process: each is a real agent with its own LMDB\n"
    "buffer, generating events and shipping them (HTTPS or AMQP) to Event Hubs or "
    "hubcap-receiver.\n"
    "Afterwards, reconcile what the devices buffered against silver in PostgreSQL by event_id.\n"
    "Exit 0: nothing missing and nothing duplicated; 1: some missing or duplicated, or a\n"
    "failure; 2: usage error.\n\n"
    "  -n, --devices N            devices, 1-10000 (default 50; or the fleet in --dir)\n"
    "  -d, --duration SECS        generate for this long (default 60; also 5m, 1h)\n"
    "  -s, --connection-string S  as the agent takes it (default $HUBCAP_CONNECTION_STRING)\n"
    "      --transport T          https or amqp (default: as the agent chooses for the string)\n"
    "      --pg CONNINFO          PostgreSQL of the receiver's lake (default: libpq's PG* vars)\n"
    "      --rate R               events/s across the fleet, daily mean (default 2 per device)\n"
    "      --flat                 no daily curve: the same rate all day\n"
    "      --day-length SECS      real seconds per simulated day (default 86400: real time)\n"
    "      --start-hour H         simulated hour at the start, 0-24 (default: the UTC hour)\n"
    "      --dir DIR              the device buffers (default: a temp folder, removed at the "
    "end);\n"
    "                             an existing fleet folder continues that fleet (after a crash)\n"
    "      --keep                 keep the temp folder\n"
    "      --seed N               deterministic plans (default: random)\n"
    "      --late F, --duplicate F, --malformed F, --out-of-order F\n"
    "                             the generator's fault knobs, fractions of events (default 0)\n"
    "      --offline F            share of devices that lose their link for a while (default 0)\n"
    "      --flap                 a third of the devices have a flapping link (lost answers)\n"
    "      --clock-skew DUR       devices' clocks are off by up to this much (e.g. 30s, 5m)\n"
    "      --settle SECS          after the run, wait this long at most for everything to be\n"
    "                             shipped and in silver (default 60)\n"
    "      --no-reconcile         do not reconcile (no PostgreSQL needed)\n"
    "      --reconcile-only       only reconcile the fleet in --dir (after landing elsewhere)\n"
    "      --json                 print the reconciliation as one JSON object on stdout\n"
    "      --threads N            worker threads (default: 4 per CPU, at most 64)\n"
    "      --buffer-bytes SIZE    cap of each device buffer (default 64M)\n"
    "      --sync                 fsync every commit (default: survive kill -9, not power loss)\n"
    "  -v, --verbose              the agents' own warnings\n";

static int bad(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int bad(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return HC_E_INVAL;
}

void fl_opts_default(struct fl_opts *o)
{
    memset(o, 0, sizeof *o);
    o->duration_s = 60;
    o->day_s = 86400;
    o->start_hour = -1;
    o->settle_s = 60;
    o->reconcile = 1;
    o->buffer_bytes = 64ULL << 20;
}

/* Seconds: a plain number, or a duration such as 5m. */
static int seconds(const char *s, double *out)
{
    char *e;
    int64_t ms;
    double v = strtod(s, &e);
    if (e != s && !*e && isfinite(v)) {
        *out = v;
        return 0;
    }
    if (hc_duration_parse(s, &ms))
        return HC_E_PARSE;
    *out = (double)ms / 1000;
    return 0;
}

static int fraction(const char *s, double *out)
{
    char *e;
    double v = strtod(s, &e);
    if (e == s || *e || !(v >= 0 && v <= 1))
        return HC_E_PARSE;
    *out = v;
    return 0;
}

static int whole(const char *s, uint64_t max, uint64_t *out)
{
    char *e;
    unsigned long long v;
    errno = 0;
    v = strtoull(s, &e, 10);
    if (e == s || *e || errno || s[0] == '-' || v > max)
        return HC_E_PARSE;
    *out = v;
    return 0;
}

enum {
    O_PG = 1000,
    O_TRANSPORT,
    O_RATE,
    O_FLAT,
    O_DAY,
    O_START_HOUR,
    O_DIR,
    O_KEEP,
    O_SEED,
    O_LATE,
    O_DUP,
    O_MALFORMED,
    O_OOO,
    O_OFFLINE,
    O_FLAP,
    O_SKEW,
    O_SETTLE,
    O_NO_RECON,
    O_RECON_ONLY,
    O_JSON,
    O_THREADS,
    O_BUFBYTES,
    O_SYNC
};

/* One option with an argument into o. */
static int take(struct fl_opts *o, int c, const char *arg, char *err, size_t errlen)
{
    uint64_t u;
    switch (c) {
    case 'n':
        if (whole(arg, FL_DEVICES_MAX, &u) || !u)
            return bad(err, errlen, "--devices '%s': a whole number from 1 to %d", arg,
                       FL_DEVICES_MAX);
        o->devices = (unsigned)u;
        return 0;
    case 'd':
        if (seconds(arg, &o->duration_s) || !(o->duration_s > 0 && o->duration_s <= 30 * 86400))
            return bad(err, errlen, "--duration '%s': seconds above 0 (or 90s, 5m, 2h)", arg);
        return 0;
    case O_SETTLE:
        if (seconds(arg, &o->settle_s) || !(o->settle_s >= 0 && o->settle_s <= 86400))
            return bad(err, errlen, "--settle '%s': seconds, 0 or more (or 2m)", arg);
        return 0;
    case O_DAY:
        if (seconds(arg, &o->day_s) || !(o->day_s >= 1))
            return bad(err, errlen, "--day-length '%s': seconds, at least 1 (or 10m)", arg);
        return 0;
    case O_RATE: {
        char *e;
        o->rate = strtod(arg, &e);
        if (e == arg || *e || !(o->rate > 0 && o->rate <= 1e7))
            return bad(err, errlen, "--rate '%s': events per second above 0", arg);
        return 0;
    }
    case O_START_HOUR: {
        char *e;
        o->start_hour = strtod(arg, &e);
        if (e == arg || *e || !(o->start_hour >= 0 && o->start_hour <= 24))
            return bad(err, errlen, "--start-hour '%s': an hour from 0 to 24, e.g. 9.5", arg);
        return 0;
    }
    case O_SEED:
        if (whole(arg, UINT64_MAX, &o->seed))
            return bad(err, errlen, "--seed '%s': a whole number", arg);
        return 0;
    case O_THREADS:
        if (whole(arg, 256, &u) || !u)
            return bad(err, errlen, "--threads '%s': a whole number from 1 to 256", arg);
        o->threads = (unsigned)u;
        return 0;
    case O_BUFBYTES:
        if (hc_size_parse(arg, &o->buffer_bytes) || o->buffer_bytes < (1ULL << 20))
            return bad(err, errlen, "--buffer-bytes '%s': a size of at least 1M, e.g. 64M", arg);
        return 0;
    case O_SKEW:
        if (hc_duration_parse(arg, &o->clock_skew_ms) || o->clock_skew_ms < 0)
            return bad(err, errlen, "--clock-skew '%s': a duration, e.g. 30s or 5m", arg);
        return 0;
    }
    return 1;
}

/* The fraction options: 0 when c was one and fine. */
static int take_fraction(struct fl_opts *o, int c, const char *arg, char *err, size_t errlen)
{
    static const struct {
        int c;
        const char *name;
        size_t off;
    } f[] = {
        {O_LATE, "--late", offsetof(struct fl_opts, late)},
        {O_DUP, "--duplicate", offsetof(struct fl_opts, duplicate)},
        {O_MALFORMED, "--malformed", offsetof(struct fl_opts, malformed)},
        {O_OOO, "--out-of-order", offsetof(struct fl_opts, out_of_order)},
        {O_OFFLINE, "--offline", offsetof(struct fl_opts, offline)},
    };
    for (size_t i = 0; i < sizeof f / sizeof f[0]; i++) {
        if (f[i].c != c)
            continue;
        if (fraction(arg, (double *)((char *)o + f[i].off)))
            return bad(err, errlen, "%s '%s': a fraction from 0 to 1, e.g. 0.05", f[i].name, arg);
        return 0;
    }
    return take(o, c, arg, err, errlen);
}

static int check(struct fl_opts *o, char *err, size_t errlen)
{
    if (o->reconcile_only && !o->reconcile)
        return bad(err, errlen, "--reconcile-only and --no-reconcile exclude each other");
    if (o->reconcile_only && !o->dir)
        return bad(err, errlen, "--reconcile-only needs the fleet's --dir DIR");
    if (!o->connstr || !*o->connstr)
        o->connstr = getenv("HUBCAP_CONNECTION_STRING");
    if (!o->reconcile_only && (!o->connstr || !*o->connstr))
        return bad(err, errlen,
                   "no connection string: pass --connection-string or set "
                   "HUBCAP_CONNECTION_STRING (hubcap-receiver serve prints one)");
    return 0;
}

int fl_opts_parse(int argc, char **argv, struct fl_opts *o, char *err, size_t errlen)
{
    static const struct option longs[] = {
        {"devices", required_argument, NULL, 'n'},
        {"duration", required_argument, NULL, 'd'},
        {"connection-string", required_argument, NULL, 's'},
        {"pg", required_argument, NULL, O_PG},
        {"transport", required_argument, NULL, O_TRANSPORT},
        {"rate", required_argument, NULL, O_RATE},
        {"flat", no_argument, NULL, O_FLAT},
        {"day-length", required_argument, NULL, O_DAY},
        {"start-hour", required_argument, NULL, O_START_HOUR},
        {"dir", required_argument, NULL, O_DIR},
        {"keep", no_argument, NULL, O_KEEP},
        {"seed", required_argument, NULL, O_SEED},
        {"late", required_argument, NULL, O_LATE},
        {"duplicate", required_argument, NULL, O_DUP},
        {"malformed", required_argument, NULL, O_MALFORMED},
        {"out-of-order", required_argument, NULL, O_OOO},
        {"offline", required_argument, NULL, O_OFFLINE},
        {"flap", no_argument, NULL, O_FLAP},
        {"clock-skew", required_argument, NULL, O_SKEW},
        {"settle", required_argument, NULL, O_SETTLE},
        {"no-reconcile", no_argument, NULL, O_NO_RECON},
        {"reconcile-only", no_argument, NULL, O_RECON_ONLY},
        {"json", no_argument, NULL, O_JSON},
        {"threads", required_argument, NULL, O_THREADS},
        {"buffer-bytes", required_argument, NULL, O_BUFBYTES},
        {"sync", no_argument, NULL, O_SYNC},
        {"verbose", no_argument, NULL, 'v'},
        {"help", no_argument, NULL, 'h'},
        {0, 0, 0, 0},
    };
    int c, rc;

    fl_opts_default(o);
    optind = 0; /* GNU getopt: start afresh (the parser may run more than once) */
    opterr = 0;
    while ((c = getopt_long(argc, argv, "n:d:s:vh", longs, NULL)) != -1) {
        switch (c) {
        case 's':
            o->connstr = optarg;
            break;
        case O_PG:
            o->pg = optarg;
            break;
        case O_TRANSPORT:
            o->transport = optarg;
            break;
        case O_DIR:
            o->dir = optarg;
            break;
        case O_FLAT:
            o->flat = 1;
            break;
        case O_KEEP:
            o->keep = 1;
            break;
        case O_FLAP:
            o->flap = 1;
            break;
        case O_NO_RECON:
            o->reconcile = 0;
            break;
        case O_RECON_ONLY:
            o->reconcile_only = 1;
            break;
        case O_JSON:
            o->json = 1;
            break;
        case O_SYNC:
            o->sync = 1;
            break;
        case 'v':
            o->verbose = 1;
            break;
        case 'h':
            fputs(help, stdout);
            return FL_HELP;
        case '?':
            return bad(err, errlen, "bad option '%s': unknown, or it needs a value (see --help)",
                       argv[optind - 1]);
        default:
            rc = take_fraction(o, c, optarg, err, errlen);
            if (rc)
                return rc < 0 ? rc : bad(err, errlen, "unexpected option (see --help)");
        }
    }
    if (optind < argc)
        return bad(err, errlen, "unexpected argument '%s' (see --help)", argv[optind]);
    return check(o, err, errlen);
}
