/* hubcap-agent generate: synthetic events into the buffer or as JSON Lines on stdout. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent/cli/cli.h"
#include "agent/pipe/pump.h"
#include "agent/source/generator.h"
#include "common/error.h"
#include "common/hctime.h"

static const char help[] =
    "usage: hubcap-agent generate [-b DIR] [OPTIONS]\n\n"
    "Make realistic events: order lines (with cancellations and returns), parcel status updates\n"
    "and used-car listings. With -b they go into the buffer (group-committed); without, they\n"
    "are printed as JSON Lines (pipe them to 'hubcap-agent enqueue -b DIR -').\n\n"
    "  -n, --count N             how many (default: until Ctrl-C)\n"
    "  -r, --rate R              events per second (default: as fast as possible)\n"
    "      --seed N              deterministic output for a seed (with --start: byte-identical)\n"
    "      --start TIME          simulated clock start, e.g. 2026-11-22T00:00:00Z (default: now)\n"
    "      --step MS             simulated clock step per event (default 10)\n"
    "      --mix SPEC            kind weights, default order_line=6,order_status=3,car_listing=1\n"
    "      --device-id ID        device id (default $HUBCAP_DEVICE_ID or the host name)\n"
    "      --late F              fraction of late events (event_time pushed back)\n"
    "      --late-by AGE         how far back at most (default 2h)\n"
    "      --out-of-order F      fraction emitted after a later event\n"
    "      --duplicate F         fraction repeated with the same event_id\n"
    "      --malformed F         fraction with data that breaks a validation rule\n"
    "      --batch N             events per commit (default 1000; commits at least every 200 ms)\n"
    "  -q, --quiet               no progress on stderr\n" CLI_BUFFER_HELP;

struct gen_args {
    struct cli_buffer buf;
    struct ag_gen_opts g;
    uint64_t count; /* 0 = unlimited */
    double rate;
    uint64_t batch;
    int quiet;
};

static int parse(int argc, char **argv, struct gen_args *a)
{
    static const struct option opts[] = {
        CLI_BUFFER_OPTS,
        {"count", required_argument, NULL, 'n'},
        {"rate", required_argument, NULL, 'r'},
        {"seed", required_argument, NULL, 2001},
        {"start", required_argument, NULL, 2002},
        {"step", required_argument, NULL, 2003},
        {"mix", required_argument, NULL, 2004},
        {"device-id", required_argument, NULL, 2005},
        {"late", required_argument, NULL, 2006},
        {"late-by", required_argument, NULL, 2007},
        {"out-of-order", required_argument, NULL, 2008},
        {"duplicate", required_argument, NULL, 2009},
        {"malformed", required_argument, NULL, 2010},
        {"batch", required_argument, NULL, 2011},
        {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},
        {0, 0, 0, 0},
    };
    int c, r;
    uint64_t u;

    while ((c = getopt_long(argc, argv, "b:n:r:qh", opts, NULL)) != -1) {
        if ((r = cli_buffer_option(&a->buf, c, optarg)) != 0) {
            if (r < 0)
                return CLI_USAGE;
            continue;
        }
        switch (c) {
        case 'n':
            if (cli_u64("--count", optarg, &a->count))
                return CLI_USAGE;
            break;
        case 'r': {
            char *e;
            a->rate = strtod(optarg, &e);
            if (*e || !(a->rate > 0))
                return cli_usage_error("generate", "--rate '%s': give events per second > 0",
                                       optarg);
            break;
        }
        case 2001:
            if (cli_u64("--seed", optarg, &a->g.seed))
                return CLI_USAGE;
            break;
        case 2002:
            if (hc_time_parse(optarg, -1, &a->g.start_ms))
                return cli_usage_error("generate",
                                       "--start '%s': give a time such as "
                                       "2026-11-22T00:00:00Z",
                                       optarg);
            break;
        case 2003:
            if (cli_u64("--step", optarg, &u) || !u)
                return CLI_USAGE;
            a->g.step_ms = (int64_t)u;
            break;
        case 2004:
            if (ag_gen_parse_mix(optarg, a->g.mix))
                return cli_usage_error("generate",
                                       "--mix '%s': give weights such as "
                                       "order_line=6,order_status=3,car_listing=1",
                                       optarg);
            break;
        case 2005:
            if (!*optarg || strlen(optarg) > HC_DEVICE_ID_MAX)
                return cli_usage_error("generate", "--device-id: 1 to 128 bytes");
            a->g.device_id = optarg;
            break;
        case 2006:
            if (cli_fraction("--late", optarg, &a->g.late))
                return CLI_USAGE;
            break;
        case 2007:
            if (hc_duration_parse(optarg, &a->g.late_ms))
                return cli_usage_error("generate", "--late-by '%s': give a duration such as 2h",
                                       optarg);
            break;
        case 2008:
            if (cli_fraction("--out-of-order", optarg, &a->g.out_of_order))
                return CLI_USAGE;
            break;
        case 2009:
            if (cli_fraction("--duplicate", optarg, &a->g.duplicate))
                return CLI_USAGE;
            break;
        case 2010:
            if (cli_fraction("--malformed", optarg, &a->g.malformed))
                return CLI_USAGE;
            break;
        case 2011:
            if (cli_u64("--batch", optarg, &a->batch) || !a->batch)
                return CLI_USAGE;
            break;
        case 'q':
            a->quiet = 1;
            break;
        case 'h':
            fputs(help, stdout);
            exit(CLI_OK);
        default:
            return cli_usage_error("generate", "bad option");
        }
    }
    if (optind < argc)
        return cli_usage_error("generate", "unexpected argument '%s'", argv[optind]);
    return 0;
}

/* The progress line on stderr, at most once a second (always at the end); waiting: the buffer is
 * full and generating waits for room, said on the line. Padded so that a shorter line covers a
 * longer one. */
static void progress_line(const struct gen_args *a, uint64_t n, int64_t t0_ns, int64_t *last,
                          int end, int waiting)
{
    int64_t now = hc_mono_ns();
    double secs;
    char line[160];
    if (a->quiet || (!end && now - *last < 1000000000))
        return;
    *last = now;
    secs = (double)(now - t0_ns) / 1e9;
    snprintf(line, sizeof line, "generated %llu events (%.0f/s)%s", (unsigned long long)n,
             secs > 0 ? (double)n / secs : 0.0,
             waiting ? ", waiting: the buffer is full (policy block)" : "");
    fprintf(stderr, "\r%-76s%s", line, end ? "\n" : "");
}

static void progress(const struct gen_args *a, uint64_t n, int64_t t0_ns, int64_t *last, int end)
{
    progress_line(a, n, t0_ns, last, end, 0);
}

static int to_stdout(struct gen_args *a, struct ag_gen *g)
{
    struct hc_buf out = HC_BUF_INIT;
    struct hc_event ev;
    int64_t t0 = hc_mono_ns(), last = t0, flushed = t0;
    uint64_t i;
    int rc = CLI_OK;

    for (i = 0; (!a->count || i < a->count) && !cli_stop; i++) {
        ag_pace(a->rate, t0, i, &cli_stop);
        ag_gen_next(g, &ev);
        if (hc_event_encode(&ev, &out) || hc_buf_addc(&out, '\n')) {
            rc = CLI_FAIL;
            break;
        }
        if (out.len >= 65536 || hc_mono_ns() - flushed > 200000000) {
            if (fwrite(out.p, 1, out.len, stdout) != out.len || fflush(stdout)) {
                rc = CLI_FAIL; /* a closed pipe: the reader is gone */
                break;
            }
            hc_buf_reset(&out);
            flushed = hc_mono_ns();
        }
        progress(a, i + 1, t0, &last, 0);
    }
    if (out.len && (fwrite(out.p, 1, out.len, stdout) != out.len || fflush(stdout)))
        rc = CLI_FAIL;
    progress(a, i, t0, &last, 1);
    hc_buf_free(&out);
    return rc;
}

struct pump_ctx {
    const struct gen_args *a;
    struct ag_queue *q;
    int64_t t0, last;
    uint64_t committed; /* at the last commit */
    int waiting;        /* the buffer is full: nothing committed since the last commit */
    int full_told;      /* the buffer was found full (policy block), and said so */
};

static void on_commit(uint64_t committed, void *arg)
{
    struct pump_ctx *p = arg;
    /* while the buffer is full the pump commits every 100 ms with nothing more in it */
    p->waiting = p->full_told && committed == p->committed;
    p->committed = committed;
    progress_line(p->a, committed, p->t0, &p->last, 0, p->waiting);
}

/* The buffer turned full (policy block). Said once, with what to do; the progress line says
 * while it waits. */
static void on_full(void *arg)
{
    struct pump_ctx *p = arg;
    struct ag_queue_stats st;
    char b[32];
    if (p->full_told++)
        return;
    if (ag_queue_stats(p->q, &st))
        st.max_bytes = 0;
    fprintf(stderr,
            "%shubcap-agent: buffer %s is full (%s, policy block): generate waits until a "
            "shipper makes room ('hubcap-agent ship -b %s', or 'run' with a [hub]); or give it "
            "more room (--max-bytes), or let the oldest events go (--full-policy drop-oldest). "
            "Ctrl-C stops.\n",
            p->last != p->t0 ? "\n" : "", p->a->buf.dir, cli_bytes(st.max_bytes, b, sizeof b),
            p->a->buf.dir);
    p->last = 0; /* the progress line again at once, below the message (and "shown" above) */
}

/* Said once: a commit failed for a full disk; the queue keeps to a cap for it from now on. */
static void on_disk_full(void *arg)
{
    struct pump_ctx *p = arg;
    struct ag_queue_stats st;
    char b[32];
    if (ag_queue_stats(p->q, &st))
        st.disk_cap = 0;
    fprintf(stderr,
            "%shubcap-agent: the disk under %s is full: the buffer keeps to %s from now on "
            "(--full-policy %s applies; 'status' shows it); free space to give it room again\n",
            p->last != p->t0 ? "\n" : "", p->a->buf.dir, cli_bytes(st.disk_cap, b, sizeof b),
            p->a->buf.opts.policy == AG_FULL_DROP_OLDEST ? "drop-oldest" : "block");
}

static int to_buffer(struct gen_args *a, struct ag_gen *g, struct ag_queue *q)
{
    struct pump_ctx p = {a, q, hc_mono_ns(), hc_mono_ns(), 0, 0, 0};
    struct ag_pump_opts o = {.rate = a->rate,
                             .count = a->count,
                             .batch = a->batch,
                             .stop = &cli_stop,
                             .on_commit = on_commit,
                             .on_full = on_full,
                             .on_disk_full = on_disk_full,
                             .arg = &p};
    uint64_t committed = 0;
    int rc = ag_pump_run(q, g, &o, &committed);

    progress_line(a, committed, p.t0, &p.last, 1, p.waiting);
    if (rc == HC_E_DISKFULL)
        fprintf(stderr,
                "hubcap-agent: the disk under %s stays full even with the buffer kept small: "
                "free space; the last batch was not stored\n",
                a->buf.dir);
    else if (rc)
        fprintf(stderr, "hubcap-agent: storing events in %s failed: %s\n", a->buf.dir,
                hc_strerror(rc));
    if (!a->quiet)
        fprintf(stderr, "%llu events committed to %s\n", (unsigned long long)committed, a->buf.dir);
    return rc ? CLI_FAIL : CLI_OK;
}

int cmd_generate(int argc, char **argv)
{
    struct gen_args a;
    struct ag_gen *g;
    struct ag_queue *q = NULL;
    int rc;

    memset(&a, 0, sizeof a);
    cli_buffer_init(&a.buf);
    a.batch = 1000;
    a.g.device_id = cli_default_device_id();
    if ((rc = parse(argc, argv, &a)) != 0)
        return rc;
    g = ag_gen_new(&a.g);
    if (!g) {
        fprintf(stderr, "hubcap-agent generate: the options give nothing to generate (check "
                        "--mix)\n");
        return CLI_USAGE;
    }
    cli_on_signals();
    if (!a.buf.dir) {
        rc = to_stdout(&a, g);
    } else if ((rc = cli_buffer_open(&a.buf, 0, &q)) == 0) {
        rc = to_buffer(&a, g, q);
        ag_queue_close(q);
    }
    ag_gen_free(g);
    return rc;
}
