/* hubcap-agent run: every source of a config file, each in its own thread, until stopped. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "agent/cli/cli.h"
#include "agent/pipe/conf.h"
#include "agent/pipe/load.h"
#include "agent/pipe/pump.h"
#include "agent/pipe/watch.h"
#include "agent/ship/shipper.h"
#include "common/error.h"
#include "common/hctime.h"
#include "common/log.h"
#include "common/notify.h"

static const char help[] =
    "usage: hubcap-agent run -c FILE\n\n"
    "Run the sources of the config file (generators, watched folders, files) into the buffer it\n"
    "names and, with a [hub] section, ship continuously, until SIGINT or SIGTERM; then every\n"
    "source commits what it holds and the agent exits. The connection string may also come from\n"
    "$HUBCAP_CONNECTION_STRING.\n"
    "See agent/hubcap-agent.conf for a documented example.\n\n"
    "  -c, --config FILE   the INI config\n"
    "      --check         only check the config and print what would run\n";

struct worker {
    pthread_t tid;
    const struct ag_conf *conf;
    const struct ag_source_conf *src;
    struct ag_queue *q;
    int rc;
};

static void on_file(const char *path, int rc, const struct ag_load_result *res, void *arg)
{
    const struct worker *w = arg;
    if (rc == 0 || rc == HC_E_DONE)
        hc_info("[%s] %s: %llu events, %llu rows rejected; archived", w->src->name, path,
                (unsigned long long)res->total_events, (unsigned long long)res->total_rejected);
    else if (rc == HC_E_PARSE)
        hc_warn("[%s] %s: %s; moved to failed/", w->src->name, path,
                res->why ? res->why : "bad header");
    else if (rc != HC_E_STOPPED)
        hc_warn("[%s] %s: %s; left in place, tried again later", w->src->name, path,
                hc_strerror(rc));
}

static void on_full(void *arg)
{
    const struct worker *w = arg;
    hc_warn("[%s] buffer is full (policy block): waiting for room", w->src->name);
}

/* Once per generator: the queue now keeps to a cap for the full disk (queue.h). */
static void on_disk_full(void *arg)
{
    const struct worker *w = arg;
    struct ag_queue_stats st;
    char b[32];
    if (ag_queue_stats(w->q, &st))
        st.disk_cap = 0;
    hc_warn("[%s] the disk under the buffer is full: the buffer keeps to %s from now on (full "
            "policy applies; 'status' shows it); free space to give it room again",
            w->src->name, cli_bytes(st.disk_cap, b, sizeof b));
}

static void run_generator(struct worker *w)
{
    struct ag_gen *g = ag_gen_new(&w->src->gen);
    struct ag_pump_opts o = {.rate = w->src->rate,
                             .count = w->src->count,
                             .batch = w->conf->batch,
                             .stop = &cli_stop,
                             .on_full = on_full,
                             .on_disk_full = on_disk_full,
                             .arg = w};
    uint64_t n = 0;
    if (!g) {
        hc_error("[%s] the generator options give nothing to generate (check mix)", w->src->name);
        w->rc = HC_E_INVAL;
        return;
    }
    w->rc = ag_pump_run(w->q, g, &o, &n);
    ag_gen_free(g);
    if (w->rc)
        hc_error("[%s] stopped after %llu events: %s", w->src->name, (unsigned long long)n,
                 hc_strerror(w->rc));
    else
        hc_info("[%s] generated %llu events", w->src->name, (unsigned long long)n);
}

static void load_opts(const struct worker *w, struct ag_load_opts *in)
{
    ag_load_opts_default(in);
    in->reader = w->src->reader;
    in->batch = w->conf->batch;
    in->full_wait_ms = -1;
    in->stop = &cli_stop;
}

static void run_watch(struct worker *w)
{
    struct ag_watch_opts o;
    memset(&o, 0, sizeof o);
    load_opts(w, &o.load);
    o.on_file = on_file;
    o.arg = w;
    if (mkdir(w->src->path, 0755) && errno != EEXIST)
        hc_warn("[%s] cannot create %s: %s", w->src->name, w->src->path, strerror(errno));
    hc_info("[%s] watching %s", w->src->name, w->src->path);
    w->rc = ag_watch_run(w->q, w->src->path, &o);
    if (w->rc)
        hc_error("[%s] cannot watch %s: %s", w->src->name, w->src->path, hc_strerror(w->rc));
}

static void run_file(struct worker *w)
{
    struct ag_load_opts in;
    struct ag_load_result res;
    load_opts(w, &in);
    w->rc = ag_load_file(w->q, w->src->path, &in, &res);
    if (w->rc == 0 || w->rc == HC_E_DONE) {
        hc_info("[%s] %s: %llu events, %llu rows rejected", w->src->name, w->src->path,
                (unsigned long long)res.total_events, (unsigned long long)res.total_rejected);
        w->rc = 0;
    } else if (w->rc != HC_E_STOPPED) {
        hc_error("[%s] %s: %s", w->src->name, w->src->path,
                 w->rc == HC_E_PARSE && res.why ? res.why : hc_strerror(w->rc));
    }
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    switch (w->src->type) {
    case AG_SRC_GENERATOR:
        run_generator(w);
        break;
    case AG_SRC_WATCH:
        run_watch(w);
        break;
    case AG_SRC_FILE:
        run_file(w);
        break;
    case AG_SRC_NONE:
        break;
    }
    return NULL;
}

struct ship_worker {
    pthread_t tid;
    struct ag_shipper *s;
    int rc;
};

static void *ship_main(void *arg)
{
    struct ship_worker *w = arg;
    w->rc = ag_shipper_run(w->s);
    if (w->rc)
        hc_error("shipper stopped: %s", hc_strerror(w->rc));
    return NULL;
}

/* The shipper of the [hub] section, or nothing (0) when there is none. */
static int start_shipper(const struct ag_conf *c, struct ag_queue *q, struct ship_worker *w,
                         struct ag_kv *kv, struct ag_shipper_opts *so)
{
    size_t n = 0;
    memset(w, 0, sizeof *w);
    if (!c->has_hub)
        return 0;
    for (int i = 0; i < c->nhub; i++) {
        kv[n].key = c->hub[i].key;
        kv[n].value = c->hub[i].value;
        n++;
    }
    n += (size_t)cli_ship_env(kv, n, &kv[n]);
    memset(so, 0, sizeof *so);
    so->conf = kv;
    so->nconf = n;
    so->max_batch_events = (size_t)c->max_batch_events;
    so->linger_ms = c->linger_ms;
    so->catch_up_rate = c->catch_up_rate;
    so->stop = &cli_stop;
    if (cli_ship_start(q, c->buffer_path, c->transport, so, &w->s))
        return -1;
    if (pthread_create(&w->tid, NULL, ship_main, w)) {
        ag_shipper_free(w->s);
        w->s = NULL;
        hc_error("cannot start the shipper thread");
        return -1;
    }
    return 0;
}

static void describe(const struct ag_conf *c)
{
    struct ag_kv kv[AG_CONF_MAX_HUB_KEYS + 1];
    const struct ag_transport *tp = NULL;
    char err[256];
    size_t n = 0;
    for (int i = 0; i < c->nhub; i++)
        kv[n++] = (struct ag_kv){c->hub[i].key, c->hub[i].value};
    n += (size_t)cli_ship_env(kv, n, &kv[n]);
    printf("buffer %s (device %s)\n", c->buffer_path, c->device_id);
    if (!c->has_hub)
        printf("shipping off (no [hub] section)\n");
    else if (ag_transport_choose(c->transport, kv, n, &tp, err, sizeof err))
        printf("shipping: %s\n", err);
    else
        printf("shipping over %s ([hub])\n", tp->name);
    for (int i = 0; i < c->nsrc; i++) {
        const struct ag_source_conf *s = &c->src[i];
        if (s->type == AG_SRC_GENERATOR)
            printf("source %s: generator, %g events/s\n", s->name, s->rate);
        else
            printf("source %s: %s %s\n", s->name, s->type == AG_SRC_WATCH ? "watch" : "file",
                   s->path);
    }
}

/* The status line for the service manager: what the buffer holds. */
static void notify_status(struct ag_queue *q, int nsrc, int shipping)
{
    struct ag_queue_stats st;
    if (ag_queue_stats(q, &st))
        return;
    hc_notify_status("%d sources%s: %llu events queued, %llu shipped and retained", nsrc,
                     shipping ? ", shipping" : "", (unsigned long long)st.queued,
                     (unsigned long long)st.retained);
}

/*
 * Until SIGTERM or SIGINT: under a service manager, the watchdog's keep-alive every half of
 * WatchdogSec (the loop wakes every 200 ms) and the status line every 5 s.
 */
static void wait_for_stop(struct ag_queue *q, int nsrc, int shipping)
{
    int64_t wd = hc_notify_watchdog_ms(), last_wd = hc_mono_ns(), last_st = last_wd;
    char status[64];
    snprintf(status, sizeof status, "running %d sources%s", nsrc, shipping ? ", shipping" : "");
    hc_notify_ready(status);
    if (wd)
        hc_notify_watchdog();
    while (!cli_stop) {
        hc_sleep_ms(200, &cli_stop);
        hc_notify_watchdog_due(wd, &last_wd);
        if (hc_mono_ns() - last_st >= 5000000000LL) {
            last_st = hc_mono_ns();
            notify_status(q, nsrc, shipping);
        }
    }
    hc_notify_stopping("sources commit what they hold");
}

static int parse(int argc, char **argv, const char **config, int *check)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'},
        {"check", no_argument, NULL, 2001},
        {"help", no_argument, NULL, 'h'},
        {0, 0, 0, 0},
    };
    int c;
    while ((c = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
        if (c == 'c') {
            *config = optarg;
        } else if (c == 2001) {
            *check = 1;
        } else if (c == 'h') {
            fputs(help, stdout);
            exit(CLI_OK);
        } else {
            return cli_usage_error("run", "bad option");
        }
    }
    if (!*config)
        return cli_usage_error("run", "give the config file with -c FILE");
    if (optind < argc)
        return cli_usage_error("run", "unexpected argument '%s'", argv[optind]);
    return 0;
}

int cmd_run(int argc, char **argv)
{
    static struct ag_conf conf; /* large: keep it off the stack */
    struct worker w[AG_CONF_MAX_SOURCES];
    struct ship_worker sw;
    struct ag_kv kv[AG_CONF_MAX_HUB_KEYS + 1];
    struct ag_shipper_opts so;
    struct cli_buffer b;
    struct ag_queue *q;
    const char *config = NULL;
    int check = 0, rc, failed = 0;

    if ((rc = parse(argc, argv, &config, &check)) != 0)
        return rc;
    rc = ag_conf_load(config, &conf);
    if (rc) {
        if (rc == HC_E_PARSE)
            fprintf(stderr, "hubcap-agent: %s\n", conf.err);
        else
            fprintf(stderr, "hubcap-agent: cannot read config %s: %s\n", config, hc_strerror(rc));
        return CLI_USAGE;
    }
    if (check) {
        describe(&conf);
        return CLI_OK;
    }
    hc_log_set_level(!strcmp(conf.log_level, "debug")   ? HC_LOG_DEBUG
                     : !strcmp(conf.log_level, "warn")  ? HC_LOG_WARN
                     : !strcmp(conf.log_level, "error") ? HC_LOG_ERROR
                                                        : HC_LOG_INFO);
    cli_buffer_init(&b);
    b.dir = conf.buffer_path;
    b.opts = conf.queue;
    if ((rc = cli_buffer_open(&b, 0, &q)) != 0)
        return rc;
    cli_on_signals();
    if (start_shipper(&conf, q, &sw, kv, &so)) {
        ag_queue_close(q);
        return CLI_FAIL;
    }
    if (!conf.nsrc && !conf.has_hub)
        hc_warn("%s has no [source.NAME] and no [hub] section: nothing to do", config);
    for (int i = 0; i < conf.nsrc; i++) {
        w[i] = (struct worker){.conf = &conf, .src = &conf.src[i], .q = q};
        if (pthread_create(&w[i].tid, NULL, worker_main, &w[i])) {
            hc_error("cannot start a thread for [source.%s]", conf.src[i].name);
            cli_stop = 1;
            conf.nsrc = i;
            failed = 1;
            break;
        }
    }
    hc_info("running %d sources into %s (device %s)%s; SIGTERM or Ctrl-C stops", conf.nsrc,
            conf.buffer_path, conf.device_id, sw.s ? ", shipping" : "");
    wait_for_stop(q, conf.nsrc, sw.s != NULL);
    hc_info("stopping: sources commit what they hold");
    for (int i = 0; i < conf.nsrc; i++) {
        pthread_join(w[i].tid, NULL);
        failed |= w[i].rc != 0 && w[i].rc != HC_E_STOPPED;
    }
    if (sw.s) {
        pthread_join(sw.tid, NULL);
        failed |= sw.rc != 0;
        ag_shipper_free(sw.s);
    }
    ag_queue_close(q);
    return failed ? CLI_FAIL : CLI_OK;
}
