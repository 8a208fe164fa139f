/* hubcap-agent ship: send queued events to Event Hubs, continuously or until drained (--once). */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "agent/cli/cli.h"
#include "agent/ship/shipper.h"
#include "common/error.h"
#include "common/hctime.h"

static const char help[] =
    "usage: hubcap-agent ship -b DIR [--once] [--connection-string STR] [OPTIONS]\n\n"
    "Send the buffer's queued events to Azure Event Hubs (or hubcap-receiver) over AMQP 1.0 or\n"
    "HTTPS, oldest first, in batches under the hub's size limit. An event leaves the queue only\n"
    "when the hub acknowledged it (HTTP 201, AMQP accepted). Throttling, server errors and\n"
    "outages are retried with back-off; an event the hub refuses (400/413, a rejected AMQP\n"
    "message) goes to the dead-letter store (dump --dead-letter).\n\n"
    "  -b, --buffer DIR            the buffer folder\n"
    "      --once                  ship what is queued, then exit (0: all shipped, 3: some\n"
    "                              dead-lettered, 1: gave up or refused)\n"
    "  -s, --connection-string S   as Azure prints it (default $HUBCAP_CONNECTION_STRING):\n"
    "                              "
    "Endpoint=sb://NS.servicebus.windows.net/;SharedAccessKeyName=N;\n"
    "                              SharedAccessKey=K;EntityPath=HUB  (add UseDevelopmentEmulator=\n"
    "                              true, or use http://host:port/, for a local hubcap-receiver)\n"
    "      --hub NAME              the event hub, when the string has no EntityPath\n"
    "      --transport T           amqp or https (REST). Default: as Azure's SDKs, amqp for an\n"
    "                              sb:// Endpoint (TLS 5671), https for https:// and http://;\n"
    "                              with UseDevelopmentEmulator=true, amqp when the Endpoint has\n"
    "                              no port or 5672 (Azure's emulator, hubcap-receiver's AMQP\n"
    "                              string), else https on that port (hubcap-receiver's REST)\n"
    "      --proxy URL             https: an HTTP proxy (http://host:port; default\n"
    "                              $HTTPS_PROXY, NO_PROXY applies; none: no proxy)\n"
    "      --ca-file FILE          PEM CA bundle to verify the hub (default: the system's)\n"
    "      --cert-file FILE, --key-file FILE\n"
    "                              mqtt over mqtts://: a client certificate (PEM) and its key\n"
    "      --events-per-message N  mqtt to a broker: up to N events in one PUBLISH (an Event\n"
    "                              Hubs batch hubcap-receiver reads; default 1, IoT Hub's form)\n"
    "      --tier T                basic (256 KB batches) or standard (1 MB; default)\n"
    "      --max-batch-bytes SIZE  batch size limit (default by tier)\n"
    "      --max-batch-events N    events per batch at most (default 5000)\n"
    "      --linger MS             wait this long for a batch to fill (default 100)\n"
    "      --catch-up-rate R       events/s at most while a backlog drains (default: no limit)\n"
    "      --timeout SECS          one send at most (default 70)\n"
    "      --token-ttl DUR         lifetime of each SAS token (default 1h), renewed before it\n"
    "                              ends (AMQP: on the live connection)\n"
    "      --give-up-after SECS    --once: stop after this long without progress (default 60)\n"
    "  -q, --quiet                 no summary\n";

struct ship_args {
    struct cli_buffer buf;
    const char *transport;
    struct ag_shipper_opts so;
    struct ag_kv kv[16];
    size_t nkv;
    char sizes[4][32];
    int quiet;
};

static int add_kv(struct ship_args *a, const char *k, const char *v)
{
    if (a->nkv == sizeof a->kv / sizeof a->kv[0])
        return cli_usage_error("ship", "too many settings");
    a->kv[a->nkv].key = k;
    a->kv[a->nkv].value = v;
    a->nkv++;
    return 0;
}

static int has_kv(const struct ag_kv *kv, size_t n, const char *k)
{
    for (size_t i = 0; i < n; i++)
        if (!strcmp(kv[i].key, k))
            return 1;
    return 0;
}

static int parse(int argc, char **argv, struct ship_args *a)
{
    static const struct option opts[] = {
        {"buffer", required_argument, NULL, 'b'},
        {"once", no_argument, NULL, 2001},
        {"connection-string", required_argument, NULL, 's'},
        {"hub", required_argument, NULL, 2002},
        {"ca-file", required_argument, NULL, 2003},
        {"tier", required_argument, NULL, 2004},
        {"max-batch-bytes", required_argument, NULL, 2005},
        {"max-batch-events", required_argument, NULL, 2006},
        {"linger", required_argument, NULL, 2007},
        {"catch-up-rate", required_argument, NULL, 2008},
        {"timeout", required_argument, NULL, 2009},
        {"give-up-after", required_argument, NULL, 2010},
        {"transport", required_argument, NULL, 2011},
        {"proxy", required_argument, NULL, 2012},
        {"token-ttl", required_argument, NULL, 2013},
        {"cert-file", required_argument, NULL, 2014},
        {"key-file", required_argument, NULL, 2015},
        {"events-per-message", required_argument, NULL, 2016},
        {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},
        {0, 0, 0, 0},
    };
    int c, rc = 0;
    uint64_t u;
    char *e;

    while ((c = getopt_long(argc, argv, "b:s:qh", opts, NULL)) != -1 && !rc) {
        switch (c) {
        case 'b':
            a->buf.dir = optarg;
            break;
        case 2001:
            a->so.once = 1;
            break;
        case 's':
            rc = add_kv(a, "connection_string", optarg);
            break;
        case 2002:
            rc = add_kv(a, "hub", optarg);
            break;
        case 2003:
            rc = add_kv(a, "ca_file", optarg);
            break;
        case 2004:
            rc = add_kv(a, "tier", optarg);
            break;
        case 2005:
            rc = add_kv(a, "max_batch_bytes", optarg);
            break;
        case 2006:
            if (cli_u64("--max-batch-events", optarg, &u) || !u || u > 100000)
                return cli_usage_error("ship", "--max-batch-events: 1 to 100000");
            a->so.max_batch_events = (size_t)u;
            break;
        case 2007:
            if (cli_u64("--linger", optarg, &u))
                return CLI_USAGE;
            a->so.linger_ms = (int64_t)u;
            break;
        case 2008:
            a->so.catch_up_rate = strtod(optarg, &e);
            if (*e || !(a->so.catch_up_rate >= 0))
                return cli_usage_error("ship", "--catch-up-rate '%s': events per second", optarg);
            break;
        case 2009:
            snprintf(a->sizes[0], sizeof a->sizes[0], "%ss", optarg);
            rc = add_kv(a, "timeout", a->sizes[0]);
            break;
        case 2010:
            if (cli_u64("--give-up-after", optarg, &u) || !u)
                return CLI_USAGE;
            a->so.give_up_ms = (int64_t)u * 1000;
            break;
        case 2011:
            a->transport = optarg;
            break;
        case 2012:
            rc = add_kv(a, "proxy", optarg);
            break;
        case 2013:
            rc = add_kv(a, "token_ttl", optarg);
            break;
        case 2014:
            rc = add_kv(a, "cert_file", optarg);
            break;
        case 2015:
            rc = add_kv(a, "key_file", optarg);
            break;
        case 2016:
            rc = add_kv(a, "events_per_message", optarg);
            break;
        case 'q':
            a->quiet = 1;
            break;
        case 'h':
            fputs(help, stdout);
            exit(CLI_OK);
        default:
            return cli_usage_error("ship", "bad option");
        }
    }
    if (rc)
        return rc;
    if (optind < argc)
        return cli_usage_error("ship", "unexpected argument '%s'", argv[optind]);
    return 0;
}

int cli_ship_env(const struct ag_kv *kv, size_t n, struct ag_kv *extra)
{
    const char *env = getenv("HUBCAP_CONNECTION_STRING");
    if (has_kv(kv, n, "connection_string") || !env || !*env)
        return 0;
    extra->key = "connection_string";
    extra->value = env;
    return 1;
}

int cli_ship_start(struct ag_queue *q, const char *dir, const char *transport,
                   struct ag_shipper_opts *so, struct ag_shipper **out)
{
    char err[512];
    int rc;
    *out = NULL;
    rc = ag_transport_choose(transport, so->conf, so->nconf, &so->tp, err, sizeof err);
    if (!rc)
        rc = ag_shipper_new(q, dir, so, out, err, sizeof err);
    if (rc)
        fprintf(stderr, "hubcap-agent: cannot ship: %s\n", err);
    return rc;
}

static void summary(const struct ship_args *a, const struct ag_shipper *s, struct ag_queue *q)
{
    const struct ag_ship_state *st = ag_shipper_state(s);
    struct ag_queue_stats qs;
    if (a->quiet || ag_queue_stats(q, &qs))
        return;
    fprintf(stderr,
            "shipped %" PRIu64 " events in %" PRIu64 " requests, %" PRIu64 " retries, %" PRIu64
            " dead-lettered; %" PRIu64 " still queued\n",
            st->shipped, st->sends, st->retried, st->dead, qs.queued);
}

int cmd_ship(int argc, char **argv)
{
    struct ship_args a;
    struct ag_shipper *s;
    struct ag_queue *q;
    int rc;

    memset(&a, 0, sizeof a);
    cli_buffer_init(&a.buf);
    a.so.stop = &cli_stop;
    if ((rc = parse(argc, argv, &a)) != 0)
        return rc;
    a.nkv += (size_t)cli_ship_env(a.kv, a.nkv, &a.kv[a.nkv]);
    if (!has_kv(a.kv, a.nkv, "connection_string"))
        return cli_usage_error("ship", "no connection string: pass --connection-string or set "
                                       "HUBCAP_CONNECTION_STRING");
    a.so.conf = a.kv;
    a.so.nconf = a.nkv;
    if ((rc = cli_buffer_open(&a.buf, 0, &q)) != 0)
        return rc;
    if (cli_ship_start(q, a.buf.dir, a.transport, &a.so, &s)) {
        ag_queue_close(q);
        return CLI_FAIL;
    }
    cli_on_signals();
    rc = ag_shipper_run(s);
    summary(&a, s, q);
    if (rc == HC_E_AUTH || rc == HC_E_REJECT)
        fprintf(stderr, "hubcap-agent ship: the hub refused: %s\n",
                ag_shipper_state(s)->last_error);
    else if (rc == HC_E_RETRY)
        fprintf(stderr, "hubcap-agent ship: gave up after no progress: %s\n",
                ag_shipper_state(s)->last_error);
    else if (rc)
        fprintf(stderr, "hubcap-agent ship: %s\n", hc_strerror(rc));
    if (!rc && ag_shipper_state(s)->dead)
        rc = CLI_PARTIAL;
    else if (rc)
        rc = CLI_FAIL;
    ag_shipper_free(s);
    ag_queue_close(q);
    return rc;
}
