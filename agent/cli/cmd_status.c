/* hubcap-agent status / dump / replay: looking into the buffer. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "agent/cli/cli.h"
#include "agent/ship/shipper.h"
#include "common/buf.h"
#include "common/error.h"
#include "common/hctime.h"

static const char status_help[] =
    "usage: hubcap-agent status -b DIR [--json | --metrics]\n\n"
    "What the buffer holds: queued events and bytes, the oldest queued event, what was shipped,\n"
    "dropped, rejected, dead-lettered, and what is retained for replay; the shipper's state and\n"
    "its transport's counters (connections, requests or transfers, events accepted, retried,\n"
    "refused, bytes, tokens) since the shipper started.\n\n"
    "  -b, --buffer DIR   the buffer folder\n"
    "      --json         one JSON object instead of text\n"
    "      --metrics      Prometheus text format (hubcap_agent_*), e.g. for node_exporter's\n"
    "                     textfile collector\n";

static const char dump_help[] =
    "usage: hubcap-agent dump -b DIR [OPTIONS]\n\n"
    "Print buffered events as JSON Lines, oldest first (the envelopes exactly as shipped).\n\n"
    "  -b, --buffer DIR   the buffer folder\n"
    "      --queued       only events not shipped yet (default: queued and retained)\n"
    "      --retained     only shipped events kept for replay\n"
    "      --dead-letter  the dead-letter store (events the hub refused), with the reason\n"
    "      --from SEQ     start at this sequence number\n"
    "      --since TIME   only events enqueued at or after TIME (e.g. 2026-11-22T03:00:00Z)\n"
    "      --until TIME   only events enqueued at or before TIME\n"
    "  -n, --limit N      at most N events\n"
    "      --meta         wrap each as {\"seq\":…,\"enqueued\":…,\"event\":{…}}\n";

static const char replay_help[] =
    "usage: hubcap-agent replay -b DIR --since TIME [--until TIME]\n\n"
    "Queue again the retained (already shipped) events enqueued between TIME and TIME, so the\n"
    "shipper sends them once more with their original event_id (downstream deduplicates).\n"
    "Times are RFC 3339 (2026-11-22T03:00:00Z) or @EPOCH-SECONDS; --until defaults to now.\n\n"
    "  -b, --buffer DIR   the buffer folder\n";

static void time_or_null(FILE *f, int64_t ms)
{
    char ts[HC_TIME_STRLEN];
    if (!ms) {
        fputs("null", f);
        return;
    }
    hc_time_format(ms, ts);
    fprintf(f, "\"%s\"", ts);
}

static void print_json(const char *dir, const struct ag_queue_stats *st,
                       const struct ag_ship_state *sh)
{
    struct hc_buf d = HC_BUF_INIT;
    hc_buf_add_json_str(&d, dir, strlen(dir));
    printf("{\"buffer\":%s,\"queued_events\":%" PRIu64 ",\"queued_bytes\":%" PRIu64
           ",\"oldest_event_time\":",
           d.p, st->queued, st->queued_bytes);
    time_or_null(stdout, st->oldest_queued_ms);
    printf(",\"oldest_enqueued_time\":");
    time_or_null(stdout, st->oldest_enqueued_ms);
    printf(",\"retained_events\":%" PRIu64 ",\"retained_bytes\":%" PRIu64
           ",\"dead_letter_events\":%" PRIu64 ",\"max_bytes\":%" PRIu64 ",\"cursor\":%" PRIu64
           ",\"next_seq\":%" PRIu64,
           st->retained, st->retained_bytes, st->dead, st->max_bytes, st->cursor, st->next_seq);
    printf(",\"disk_full\":%s,\"disk_cap\":", st->disk_cap ? "true" : "false");
    if (st->disk_cap)
        printf("%" PRIu64, st->disk_cap);
    else
        fputs("null", stdout);
    printf(",\"disk_full_since\":");
    time_or_null(stdout, st->disk_full_since_ms);
    for (int c = 0; c < AG_CTR_COUNT; c++)
        printf(",\"%s\":%" PRIu64, ag_counter_name((enum ag_counter)c), st->counters[c]);
    printf(",\"last_success\":");
    time_or_null(stdout, sh->last_success_ms);
    hc_buf_reset(&d);
    if (sh->last_error[0])
        hc_buf_add_json_str(&d, sh->last_error, strlen(sh->last_error));
    else
        hc_buf_adds(&d, "null");
    printf(",\"last_error\":%s,\"backoff_ms\":%lld,\"paused\":%s", d.p, (long long)sh->backoff_ms,
           sh->paused ? "true" : "false");
    printf(",\"transport\":");
    if (sh->transport[0])
        printf("\"%s\"", sh->transport);
    else
        fputs("null", stdout);
    printf(",\"transport_counters\":{");
    for (int c = 0; c < AG_TPC_COUNT; c++)
        printf("%s\"%s\":%" PRIu64, c ? "," : "", ag_tp_counter_name((enum ag_tp_counter)c),
               sh->tp.v[c]);
    printf("}}\n");
    hc_buf_free(&d);
}

static void print_text(const char *dir, const struct ag_queue_stats *st,
                       const struct ag_ship_state *sh)
{
    char b1[32], b2[32], b3[32], ts[HC_TIME_STRLEN];
    const uint64_t *c = st->counters;
    printf("buffer     %s (cap %s)\n", dir, cli_bytes(st->max_bytes, b1, sizeof b1));
    if (st->disk_cap) {
        hc_time_format(st->disk_full_since_ms, ts);
        printf("DISK FULL  since %s: the buffer keeps to %s (the full policy applies); free "
               "space on its file system to give it room again\n",
               ts, cli_bytes(st->disk_cap, b2, sizeof b2));
    }
    printf("queued     %" PRIu64 " events, %s", st->queued,
           cli_bytes(st->queued_bytes, b2, sizeof b2));
    if (st->oldest_queued_ms) {
        hc_time_format(st->oldest_queued_ms, ts);
        printf(", oldest event %s", ts);
    }
    printf("\nretained   %" PRIu64 " events, %s (shipped, kept for replay)\n", st->retained,
           cli_bytes(st->retained_bytes, b3, sizeof b3));
    printf("enqueued   %" PRIu64 "   shipped %" PRIu64 "   retried %" PRIu64 "\n",
           c[AG_CTR_ENQUEUED], c[AG_CTR_SHIPPED], c[AG_CTR_RETRIED]);
    printf("dropped    %" PRIu64 "   rejected %" PRIu64 "   dead-lettered %" PRIu64
           "   corrupt %" PRIu64 "   expired %" PRIu64 "   refused-full %" PRIu64 "\n",
           c[AG_CTR_DROPPED], c[AG_CTR_REJECTED], c[AG_CTR_DEAD], c[AG_CTR_CORRUPT],
           c[AG_CTR_EXPIRED], c[AG_CTR_FULL]);
    if (sh->last_success_ms) {
        hc_time_format(sh->last_success_ms, ts);
        printf("shipping   last success %s", ts);
    } else {
        printf("shipping   no success yet");
    }
    if (sh->paused)
        printf(", PAUSED");
    if (sh->backoff_ms)
        printf(", backing off %lld ms", (long long)sh->backoff_ms);
    printf("\n");
    if (sh->transport[0]) {
        const uint64_t *t = sh->tp.v;
        printf("transport  %s: %" PRIu64 " connections (%" PRIu64 " lost), %" PRIu64
               " requests, %" PRIu64 " accepted, %" PRIu64 " retried, %" PRIu64
               " refused, %s, %" PRIu64 " tokens renewed, %" PRIu64 " refused tokens\n",
               sh->transport, t[AG_TPC_CONNECTS], t[AG_TPC_DISCONNECTS], t[AG_TPC_REQUESTS],
               t[AG_TPC_ACCEPTED], t[AG_TPC_RETRIED], t[AG_TPC_REJECTED],
               cli_bytes(t[AG_TPC_BYTES], b1, sizeof b1), t[AG_TPC_TOKENS], t[AG_TPC_AUTH_REFUSED]);
    }
    if (sh->last_error[0])
        printf("last error %s\n", sh->last_error);
}

/* Prometheus text format: the buffer's gauges and counters, the transport's counters. */
static void print_metrics(const struct ag_queue_stats *st, const struct ag_ship_state *sh)
{
    printf("# TYPE hubcap_agent_queued_events gauge\nhubcap_agent_queued_events %" PRIu64 "\n",
           st->queued);
    printf("# TYPE hubcap_agent_queued_bytes gauge\nhubcap_agent_queued_bytes %" PRIu64 "\n",
           st->queued_bytes);
    printf("# TYPE hubcap_agent_retained_events gauge\nhubcap_agent_retained_events %" PRIu64 "\n",
           st->retained);
    printf("# TYPE hubcap_agent_dead_letter_events gauge\nhubcap_agent_dead_letter_events %" PRIu64
           "\n",
           st->dead);
    for (int c = 0; c < AG_CTR_COUNT; c++) {
        const char *name = ag_counter_name((enum ag_counter)c);
        printf("# TYPE hubcap_agent_%s_total counter\nhubcap_agent_%s_total %" PRIu64 "\n", name,
               name, st->counters[c]);
    }
    printf("# TYPE hubcap_agent_shipping_paused gauge\nhubcap_agent_shipping_paused %d\n",
           sh->paused);
    printf("# TYPE hubcap_agent_last_success_seconds gauge\nhubcap_agent_last_success_seconds "
           "%.3f\n",
           (double)sh->last_success_ms / 1000);
    if (!sh->transport[0])
        return;
    for (int c = 0; c < AG_TPC_COUNT; c++) {
        const char *name = ag_tp_counter_name((enum ag_tp_counter)c);
        printf("# TYPE hubcap_agent_transport_%s_total counter\n"
               "hubcap_agent_transport_%s_total{transport=\"%s\"} %" PRIu64 "\n",
               name, name, sh->transport, sh->tp.v[c]);
    }
}

int cmd_status(int argc, char **argv)
{
    static const struct option opts[] = {
        {"buffer", required_argument, NULL, 'b'},
        {"json", no_argument, NULL, 'j'},
        {"metrics", no_argument, NULL, 'm'},
        {"help", no_argument, NULL, 'h'},
        {0, 0, 0, 0},
    };
    struct cli_buffer b;
    struct ag_queue_stats st;
    struct ag_ship_state sh;
    struct ag_queue *q;
    int c, json = 0, metrics = 0, rc;

    cli_buffer_init(&b);
    while ((c = getopt_long(argc, argv, "b:jh", opts, NULL)) != -1) {
        if (c == 'b') {
            b.dir = optarg;
        } else if (c == 'j') {
            json = 1;
        } else if (c == 'm') {
            metrics = 1;
        } else if (c == 'h') {
            fputs(status_help, stdout);
            return CLI_OK;
        } else {
            return cli_usage_error("status", "bad option");
        }
    }
    if (optind < argc)
        return cli_usage_error("status", "unexpected argument '%s'", argv[optind]);
    if ((rc = cli_buffer_open(&b, 1, &q)) != 0)
        return rc;
    rc = ag_queue_stats(q, &st);
    ag_queue_close(q);
    if (rc) {
        fprintf(stderr, "hubcap-agent status: cannot read %s: %s\n", b.dir, hc_strerror(rc));
        return CLI_FAIL;
    }
    ag_ship_state_read(b.dir, &sh); /* no shipper ran yet: all zero */
    if (metrics)
        print_metrics(&st, &sh);
    else if (json)
        print_json(b.dir, &st, &sh);
    else
        print_text(b.dir, &st, &sh);
    return CLI_OK;
}

struct dump_args {
    enum ag_scope scope;
    uint64_t from, limit;
    int64_t since, until;
    int meta;
};

static int dump_one(const struct dump_args *a, const struct ag_record *r, struct hc_buf *out)
{
    char ts[HC_TIME_STRLEN];
    if (r->enqueued_ms < a->since || r->enqueued_ms > a->until)
        return 0;
    if (a->meta || r->reason) {
        hc_time_format(r->enqueued_ms, ts);
        hc_buf_addf(out, "{\"seq\":%" PRIu64 ",\"enqueued\":\"%s\",", r->seq, ts);
        if (r->reason) {
            hc_buf_adds(out, "\"reason\":");
            hc_buf_add_json_str(out, r->reason, strlen(r->reason));
            hc_buf_addc(out, ',');
        }
        hc_buf_adds(out, "\"event\":");
    }
    hc_buf_add(out, r->json, r->json_len);
    if (a->meta || r->reason)
        hc_buf_addc(out, '}');
    return hc_buf_addc(out, '\n') ? -1 : 1;
}

static int dump(struct ag_queue *q, const struct dump_args *a)
{
    struct hc_buf out = HC_BUF_INIT;
    struct ag_record r;
    struct ag_iter *it;
    uint64_t n = 0, corrupt = 0;
    int rc = ag_iter_open(q, a->scope, a->from, &it);

    if (rc)
        return rc;
    while ((!a->limit || n < a->limit) && !cli_stop) {
        rc = ag_iter_next(it, &r);
        if (rc == HC_E_CORRUPT) {
            corrupt++;
            continue;
        }
        if (rc)
            break;
        if (dump_one(a, &r, &out) > 0)
            n++;
        if (out.len > 65536) {
            if (fwrite(out.p, 1, out.len, stdout) != out.len)
                break;
            hc_buf_reset(&out);
        }
    }
    ag_iter_close(it);
    if (out.len)
        fwrite(out.p, 1, out.len, stdout);
    hc_buf_free(&out);
    fflush(stdout);
    if (corrupt)
        fprintf(stderr,
                "hubcap-agent dump: %" PRIu64 " corrupt records skipped (the agent sets "
                "them aside when it ships)\n",
                corrupt);
    return rc == HC_E_NOTFOUND ? 0 : rc;
}

int cmd_dump(int argc, char **argv)
{
    static const struct option opts[] = {
        {"buffer", required_argument, NULL, 'b'},
        {"queued", no_argument, NULL, 2001},
        {"retained", no_argument, NULL, 2002},
        {"dead-letter", no_argument, NULL, 2003},
        {"from", required_argument, NULL, 2004},
        {"since", required_argument, NULL, 2005},
        {"until", required_argument, NULL, 2006},
        {"limit", required_argument, NULL, 'n'},
        {"meta", no_argument, NULL, 2007},
        {"help", no_argument, NULL, 'h'},
        {0, 0, 0, 0},
    };
    struct dump_args a = {AG_SCOPE_ALL, 0, 0, INT64_MIN, INT64_MAX, 0};
    struct cli_buffer b;
    struct ag_queue *q;
    int c, rc;

    cli_buffer_init(&b);
    while ((c = getopt_long(argc, argv, "b:n:h", opts, NULL)) != -1) {
        switch (c) {
        case 'b':
            b.dir = optarg;
            break;
        case 2001:
            a.scope = AG_SCOPE_QUEUED;
            break;
        case 2002:
            a.scope = AG_SCOPE_RETAINED;
            break;
        case 2003:
            a.scope = AG_SCOPE_DEAD;
            break;
        case 2004:
            if (cli_u64("--from", optarg, &a.from))
                return CLI_USAGE;
            break;
        case 2005:
        case 2006:
            if (hc_time_parse(optarg, -1, c == 2005 ? &a.since : &a.until))
                return cli_usage_error("dump",
                                       "'%s' is not a time: use e.g. "
                                       "2026-11-22T03:00:00Z or @1763780400",
                                       optarg);
            break;
        case 'n':
            if (cli_u64("--limit", optarg, &a.limit))
                return CLI_USAGE;
            break;
        case 2007:
            a.meta = 1;
            break;
        case 'h':
            fputs(dump_help, stdout);
            return CLI_OK;
        default:
            return cli_usage_error("dump", "bad option");
        }
    }
    if (optind < argc)
        return cli_usage_error("dump", "unexpected argument '%s'", argv[optind]);
    if ((rc = cli_buffer_open(&b, 1, &q)) != 0)
        return rc;
    cli_on_signals();
    rc = dump(q, &a);
    ag_queue_close(q);
    if (rc) {
        fprintf(stderr, "hubcap-agent dump: %s\n", hc_strerror(rc));
        return CLI_FAIL;
    }
    return CLI_OK;
}

int cmd_replay(int argc, char **argv)
{
    static const struct option opts[] = {
        CLI_BUFFER_OPTS,
        {"since", required_argument, NULL, 2001},
        {"until", required_argument, NULL, 2002},
        {"help", no_argument, NULL, 'h'},
        {0, 0, 0, 0},
    };
    struct cli_buffer b;
    struct ag_queue *q;
    int64_t since = INT64_MIN, until = hc_now_ms();
    char s1[HC_TIME_STRLEN], s2[HC_TIME_STRLEN];
    uint64_t n = 0;
    int c, r, rc;

    cli_buffer_init(&b);
    while ((c = getopt_long(argc, argv, "b:h", opts, NULL)) != -1) {
        if ((r = cli_buffer_option(&b, c, optarg)) != 0) {
            if (r < 0)
                return CLI_USAGE;
            continue;
        }
        if (c == 2001 || c == 2002) {
            if (hc_time_parse(optarg, -1, c == 2001 ? &since : &until))
                return cli_usage_error("replay",
                                       "'%s' is not a time: use e.g. "
                                       "2026-11-22T03:00:00Z or @1763780400",
                                       optarg);
        } else if (c == 'h') {
            fputs(replay_help, stdout);
            return CLI_OK;
        } else {
            return cli_usage_error("replay", "bad option");
        }
    }
    if (since == INT64_MIN)
        return cli_usage_error("replay", "--since TIME is required");
    if (since > until)
        return cli_usage_error("replay", "--since is after --until");
    if ((rc = cli_buffer_open(&b, 0, &q)) != 0)
        return rc;
    rc = ag_queue_replay(q, since, until, &n);
    ag_queue_close(q);
    hc_time_format(since, s1);
    hc_time_format(until, s2);
    if (rc == HC_E_FULL) {
        fprintf(stderr, "hubcap-agent replay: the buffer is full; ship first or raise "
                        "--max-bytes (nothing was queued)\n");
        return CLI_FULL;
    }
    if (rc) {
        fprintf(stderr, "hubcap-agent replay: %s\n", hc_strerror(rc));
        return CLI_FAIL;
    }
    printf("queued %" PRIu64 " retained events enqueued between %s and %s to ship again\n", n, s1,
           s2);
    if (!n)
        fprintf(stderr, "nothing matched: only shipped events still retained can be replayed "
                        "(see 'status': retained)\n");
    return CLI_OK;
}
