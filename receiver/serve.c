#include "receiver/serve.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <unistd.h>

#include "common/error.h"
#include "common/hctime.h"
#include "common/log.h"
#include "common/notify.h"
#include "receiver/capture/avro_writer.h"
#include "receiver/api/api.h"
#include "receiver/conf.h"
#include "receiver/core/core.h"
#include "receiver/core/frontend.h"
#ifdef HUBCAP_WITH_AMQP
#include "receiver/amqp/amqp.h"
#endif
#include "receiver/lake/landed.h"
#include "receiver/lake/loop.h"
#include "receiver/metrics.h"

#define RX_DRAIN_MS       15000
#define RX_MMAP_THRESHOLD (128 * 1024) /* glibc's default, kept fixed */

static void usage(FILE *f)
{
    fprintf(
        f,
        "usage: hubcap-receiver serve [-c receiver.conf] [OPTIONS]\n\n"
        "Event Hubs-compatible REST ingest writing Event Hubs Capture Avro files.\n"
        "Without -c: development mode on loopback (hub 'events', 4 partitions, policy\n"
        "RootManageSharedAccessKey with key $" RX_DEV_KEY_ENV " or " RX_DEV_KEY ").\n\n"
        "  -c, --config FILE     INI settings (see receiver/hubcap-receiver.conf)\n"
        "  -l, --listen ADDR:PORT  listen address (dev default 127.0.0.1:8080; port 0 = any)\n"
        "  -C, --capture DIR     capture folder (default ./capture)\n"
        "      --codec deflate|null\n"
        "      --window DURATION      close a capture file this long after opening (5m)\n"
        "      --window-bytes SIZE    ... or once it is this big (300M)\n"
        "      --http-threads N\n"
        "      --pg CONNINFO         land capture files into PostgreSQL and promote them to\n"
        "                            silver and gold continuously, and serve /api/v1 and the\n"
        "                            dashboard at / (libpq string or URI; '' = PG* environment)\n"
        "      --lake-interval DURATION  longest wait between lake cycles (1s)\n"
#ifdef HUBCAP_WITH_AMQP
        "      --amqp ADDR:PORT|off  the plain AMQP 1.0 listener (dev default 127.0.0.1:5672)\n"
        "      --shared-port on|off  AMQP also on the --listen port, next to HTTP (dev: on)\n"
#endif
        "      --mqtt URL            subscribe to an MQTT broker (mqtt[s]://host:port), capture\n"
        "                            what devices publish ([mqtt] in the config for the rest)\n"
        "  -h, --help\n");
}

struct serve_args {
    const char *config, *listen, *capture, *codec, *window, *window_bytes, *threads, *pg,
        *lake_interval, *amqp, *mqtt;
    const char *shared;
};

static int parse_args(int argc, char **argv, struct serve_args *a)
{
    static const struct option longs[] = {{"config", required_argument, NULL, 'c'},
                                          {"listen", required_argument, NULL, 'l'},
                                          {"capture", required_argument, NULL, 'C'},
                                          {"codec", required_argument, NULL, 1},
                                          {"window", required_argument, NULL, 2},
                                          {"window-bytes", required_argument, NULL, 3},
                                          {"http-threads", required_argument, NULL, 4},
                                          {"pg", required_argument, NULL, 5},
                                          {"lake-interval", required_argument, NULL, 6},
                                          {"amqp", required_argument, NULL, 7},
                                          {"mqtt", required_argument, NULL, 8},
                                          {"shared-port", required_argument, NULL, 9},
                                          {"help", no_argument, NULL, 'h'},
                                          {NULL, 0, NULL, 0}};
    int opt;
    memset(a, 0, sizeof *a);
    optind = 1;
    while ((opt = getopt_long(argc, argv, "c:l:C:h", longs, NULL)) != -1) {
        switch (opt) {
        case 'c':
            a->config = optarg;
            break;
        case 'l':
            a->listen = optarg;
            break;
        case 'C':
            a->capture = optarg;
            break;
        case 1:
            a->codec = optarg;
            break;
        case 2:
            a->window = optarg;
            break;
        case 3:
            a->window_bytes = optarg;
            break;
        case 4:
            a->threads = optarg;
            break;
        case 5:
            a->pg = optarg;
            break;
        case 6:
            a->lake_interval = optarg;
            break;
        case 7:
            a->amqp = optarg;
            break;
        case 8:
            a->mqtt = optarg;
            break;
        case 9:
            a->shared = optarg;
            break;
        case 'h':
            usage(stdout);
            return 1;
        default:
            usage(stderr);
            return -1;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "hubcap-receiver serve: unexpected argument '%s'\n", argv[optind]);
        return -1;
    }
    return 0;
}

static int bad(const char *what, const char *v, const char *hint)
{
    fprintf(stderr, "hubcap-receiver: %s '%s': %s\n", what, v, hint);
    return -1;
}

/* Command-line settings over the file's (or the development defaults). */
static int apply_args(struct rx_conf *c, const struct serve_args *a)
{
    uint64_t bytes;
    if (a->listen && rx_conf_listen(c, a->listen))
        return bad("--listen", a->listen, "give ADDR:PORT, e.g. 127.0.0.1:8080 or [::1]:0");
    if (a->capture && (!*a->capture || strlen(a->capture) >= sizeof c->capture_dir))
        return bad("--capture", a->capture, "give a folder");
    if (a->capture)
        strcpy(c->capture_dir, a->capture);
    if (a->codec && strcmp(a->codec, "deflate") && strcmp(a->codec, "null"))
        return bad("--codec", a->codec, "use deflate or null");
    if (a->codec)
        c->codec = strcmp(a->codec, "null") ? RX_CODEC_DEFLATE : RX_CODEC_NULL;
    if (a->window && (hc_duration_parse(a->window, &c->window_ms) || c->window_ms < 1000))
        return bad("--window", a->window, "a duration of at least 1s, e.g. 5m");
    if (a->window_bytes && (hc_size_parse(a->window_bytes, &bytes) || bytes < 1024))
        return bad("--window-bytes", a->window_bytes, "a size of at least 1K, e.g. 300M");
    if (a->window_bytes)
        c->window_bytes = bytes;
    if (a->threads && ((c->http_threads = atoi(a->threads)) < 1 || c->http_threads > 256))
        return bad("--http-threads", a->threads, "a whole number from 1 to 256");
    if (a->pg && strlen(a->pg) >= sizeof c->pg)
        return bad("--pg", "...", "the connection string is too long");
    if (a->pg) {
        strcpy(c->pg, a->pg);
        c->lake = 1;
    }
    if (a->lake_interval &&
        (hc_duration_parse(a->lake_interval, &c->lake_interval_ms) || c->lake_interval_ms < 100))
        return bad("--lake-interval", a->lake_interval, "a duration of at least 100ms, e.g. 1s");
    if (a->amqp && rx_conf_amqp_listen(c, a->amqp, 0))
        return bad("--amqp", a->amqp, "give ADDR:PORT, e.g. 127.0.0.1:5672, or off");
    if (a->mqtt && rx_conf_mqtt_set(c, "url", a->mqtt))
        return bad("--mqtt", a->mqtt, "too long");
    if (a->shared && strcmp(a->shared, "on") && strcmp(a->shared, "off"))
        return bad("--shared-port", a->shared, "on or off");
    if (a->shared)
        c->amqp.shared = !strcmp(a->shared, "on");
    if (c->amqp.shared && c->tls_cert[0])
        return bad("--shared-port", "on",
                   "not with TLS ([receiver] tls_cert): TLS hides the protocol");
    if (c->dev && !rx_conf_is_loopback(c))
        return bad("--listen", c->listen_addr,
                   "development mode (no -c config) listens on loopback only; use a config "
                   "file to listen elsewhere");
    return 0;
}

static void set_log_level(const struct rx_conf *c)
{
    const char *v = getenv("HUBCAP_LOG");
    if (!v || !*v)
        v = c->log_level;
    if (!strcmp(v, "debug"))
        hc_log_set_level(HC_LOG_DEBUG);
    else if (!strcmp(v, "warn"))
        hc_log_set_level(HC_LOG_WARN);
    else if (!strcmp(v, "error"))
        hc_log_set_level(HC_LOG_ERROR);
    else
        hc_log_set_level(HC_LOG_INFO);
}

static void raise_fd_limit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

static void note_recovery(void *ctx, const char *msg)
{
    (void)ctx;
    hc_warn("recovery: %s", msg);
}

/* The front ends serve starts, in this order (stopped in reverse). */
static const struct rx_frontend *const frontends[] = {
    &rx_frontend_mqtt, /* first: stopped after REST, whose /metrics renders its counters */
    &rx_frontend_rest,
#ifdef HUBCAP_WITH_AMQP
    &rx_frontend_amqp,
#endif
};
#define NFRONTENDS (sizeof frontends / sizeof frontends[0])

static void banner(const struct rx_conf *c, void *const *ctx)
{
    printf("hubcap-receiver: %s, namespace %s\n",
           c->dev ? "development mode (no config file), loopback only" : "serving", c->ns);
    printf("capture: %s (codec %s, a file per %llds or %lluB, %s)\n", c->capture_dir,
           rx_codec_name(c->codec), (long long)(c->window_ms / 1000),
           (unsigned long long)c->window_bytes, c->skip_empty ? "skip empty" : "empty files too");
    for (int i = 0; i < c->nhubs; i++)
        printf("hub %s: %d partitions\n", c->hubs[i].name, c->hubs[i].partitions);
    if (c->lake)
        printf("lake: landing and promoting into PostgreSQL (%s) every %llds at most\n",
               c->pg[0] ? "--pg" : "PG* environment", (long long)(c->lake_interval_ms / 1000));
    else
        printf("lake: off (start with --pg CONNINFO to land into PostgreSQL)\n");
    for (size_t i = 0; i < NFRONTENDS; i++)
        if (ctx[i] && frontends[i]->banner)
            frontends[i]->banner(ctx[i], stdout);
    fflush(stdout);
}

/*
 * Take the capture folder for this process: two receivers numbering the same partitions would
 * write the same sequence numbers twice. Returns the lock's descriptor (held until exit) or -1.
 */
static int lock_capture(const struct rx_conf *c)
{
    char path[RX_PATH_MAX + 32];
    int fd, rc = rx_mkdirs(c->capture_dir);
    if (rc) {
        hc_error("cannot create the capture folder %s: %s", c->capture_dir, hc_strerror(rc));
        return -1;
    }
    snprintf(path, sizeof path, "%s/.hubcap-receiver.lock", c->capture_dir);
    fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) {
        hc_error("cannot open %s: %s", path, strerror(errno));
        return -1;
    }
    if (flock(fd, LOCK_EX | LOCK_NB)) {
        hc_error("another hubcap-receiver uses the capture folder %s", c->capture_dir);
        close(fd);
        return -1;
    }
    return fd;
}

/* "N events in, M capture files closed": the status line for the service manager. */
static void notify_status(const struct rx_metrics *m)
{
    hc_notify_status("serving: %llu events in, %llu capture files closed",
                     (unsigned long long)atomic_load(&m->events_in),
                     (unsigned long long)atomic_load(&m->files_closed));
}

/*
 * Wait for SIGTERM or SIGINT; meanwhile, under a service manager, send the watchdog's keep-alive
 * every half of WatchdogSec (common/notify.h) and the status line every few seconds.
 */
static int wait_for_stop(const sigset_t *set, const struct rx_metrics *m)
{
    int64_t wd = hc_notify_watchdog_ms(), tick = wd && wd < 5000 ? wd : 5000;
    struct timespec ts = {.tv_sec = tick / 1000, .tv_nsec = (tick % 1000) * 1000000};
    for (;;) {
        int sig = sigtimedwait(set, NULL, &ts);
        if (sig > 0)
            return sig;
        if (wd) /* every tick: the tick is at most the interval */
            hc_notify_watchdog();
        notify_status(m);
    }
}

/* Block the stop signals in every thread; the main thread waits for them with sigwait. */
static void block_signals(sigset_t *set)
{
    sigemptyset(set);
    sigaddset(set, SIGTERM);
    sigaddset(set, SIGINT);
    pthread_sigmask(SIG_BLOCK, set, NULL);
    signal(SIGPIPE, SIG_IGN);
}

static int core_source(void *ctx, struct hc_buf *out)
{
    return rx_core_render(ctx, out);
}

static int lake_source(void *ctx, struct hc_buf *out)
{
    return rx_lake_loop_render(ctx, out);
}

/* Start the front ends in order; on failure stop those started. Returns 0 or the failure. */
static int start_frontends(const struct rx_frontend_env *env, void **ctx)
{
    for (size_t i = 0; i < NFRONTENDS; i++) {
        const char *why = NULL;
        int rc = frontends[i]->start(env, &ctx[i], &why);
        if (rc == 1) {
            ctx[i] = NULL;
            continue;
        }
        if (rc) {
            hc_error("cannot start the %s front end: %s", frontends[i]->name,
                     why ? why : hc_strerror(rc));
            while (i-- > 0)
                frontends[i]->stop(ctx[i], 0);
            return rc;
        }
    }
    return 0;
}

static int run(struct rx_conf *c)
{
    struct rx_metrics m;
    struct rx_core *core = NULL;
    struct rx_lake_loop *lake = NULL;
    struct rx_lake_landed *landed = NULL;
    struct rx_api *api = NULL;
    void *ctx[NFRONTENDS] = {0};
    char why_buf[512];
    sigset_t set;
    int sig = 0, rc, lock = lock_capture(c);
    if (lock < 0)
        return RX_EXIT_FAIL;
    /*
     * Request bodies and parsed batches are large (up to max_publication) and short-lived: keep
     * them in their own mappings, given back when freed, instead of letting glibc's adaptive
     * threshold move them onto the heap, where freed memory stays resident. The process then
     * holds about what max_inflight counts (tools/bench/upload_memory.sh).
     */
    mallopt(M_MMAP_THRESHOLD, RX_MMAP_THRESHOLD);
    block_signals(&set);
    rx_metrics_init(&m);
    if ((rc = rx_core_open(c, &m, note_recovery, NULL, &core, why_buf, sizeof why_buf))) {
        hc_error("cannot open the capture folder %s: %s", c->capture_dir, why_buf);
        close(lock);
        return RX_EXIT_FAIL;
    }
    rx_metrics_add_source(&m, core_source, core);
    if (c->lake) {
        struct rx_lake_loop_opts lo = {.conninfo = c->pg,
                                       .capture_dir = c->capture_dir,
                                       .interval_ms = c->lake_interval_ms,
                                       .window_ms = c->window_ms,
                                       .m = &m};
        if ((rc = rx_lake_loop_start(&lo, &lake)) || (rc = rx_api_open(c->pg, 4, lake, &api))) {
            hc_error("cannot start the lake: %s", hc_strerror(rc));
            goto out_close_core;
        }
        rx_metrics_add_source(&m, lake_source, lake);
    }
    /* retention deletes only what is in bronze when there is a lake */
    if (c->lake && !(landed = rx_lake_landed_new(c->pg, c->capture_dir)))
        rc = -ENOMEM;
    if (rc ||
        (rc = rx_core_retention_start(core, 0, landed ? rx_lake_landed_check : NULL, landed))) {
        hc_error("cannot start retention: %s", hc_strerror(rc));
        goto out_close_core;
    }
    struct rx_frontend_env env = {.c = c, .core = core, .m = &m, .api = api};
    if ((rc = start_frontends(&env, ctx)))
        goto out_close_core;
    banner(c, ctx);
    hc_info("ready");
    hc_notify_ready("serving: capture folder open, listening");
    sig = wait_for_stop(&set, &m);
    hc_info("%s: answering what is being written, closing capture files",
            sig == SIGINT ? "SIGINT" : "SIGTERM");
    hc_notify_stopping("answering what is being written, closing capture files");
    for (size_t i = NFRONTENDS; i-- > 0;)
        if (ctx[i])
            frontends[i]->stop(ctx[i], RX_DRAIN_MS);
out_close_core:
    rx_core_close(core);
    rx_lake_landed_free(landed);
    /* after the core: the files it closed last are landed by the loop's final cycle */
    rx_lake_loop_stop(lake);
    rx_api_close(api);
    close(lock);
    if (!rc)
        hc_info("stopped: %llu events in, %llu capture files closed",
                (unsigned long long)atomic_load(&m.events_in),
                (unsigned long long)atomic_load(&m.files_closed));
    return rc ? RX_EXIT_FAIL : RX_EXIT_OK;
}

int rx_cmd_serve(int argc, char **argv)
{
    struct serve_args a;
    struct rx_conf *c;
    int rc = parse_args(argc, argv, &a);
    if (rc)
        return rc > 0 ? RX_EXIT_OK : RX_EXIT_USAGE;
    c = malloc(sizeof *c);
    if (!c) {
        fprintf(stderr, "hubcap-receiver: out of memory\n");
        return RX_EXIT_FAIL;
    }
    if (a.config) {
        if (rx_conf_load(c, a.config)) {
            fprintf(stderr, "hubcap-receiver: %s\n", c->err);
            free(c);
            return RX_EXIT_FAIL;
        }
    } else {
        rx_conf_dev(c);
    }
    if (apply_args(c, &a)) {
        free(c);
        return RX_EXIT_USAGE;
    }
    set_log_level(c);
    raise_fd_limit();
    rc = run(c);
    free(c);
    return rc;
}
