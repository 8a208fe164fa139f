/* hubcap-agent enqueue / watch: files into the buffer, resumable, bad rows to .rejects. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "agent/cli/cli.h"
#include "agent/pipe/load.h"
#include "agent/pipe/watch.h"
#include "common/error.h"

static const char enqueue_help[] =
    "usage: hubcap-agent enqueue -b DIR [OPTIONS] FILE...\n\n"
    "Put the rows of CSV or JSON Lines files into the buffer. Each batch commits together with\n"
    "the file's position, so an interrupted run (Ctrl-C, kill -9, power cut) continues where it\n"
    "stopped when run again, without storing any row twice. A file already done is skipped.\n"
    "Bad rows go to FILE.rejects (line and reason); the rest of the file still goes in.\n\n"
    "  -f, --format F            csv or jsonl (default: by extension, else by content)\n"
    "  -k, --kind K              kind of CSV rows and bare JSON objects: order_line (default),\n"
    "                            order_status or car_listing\n"
    "  -m, --map SPEC            column map for CSV, e.g. invoice_no=Invoice,quantity=Qty\n"
    "                            (default: UCI Online Retail columns or the field names)\n"
    "      --device-id ID        device id of the events (default $HUBCAP_DEVICE_ID or host name)\n"
    "      --batch N             rows per commit (default 1000)\n"
    "      --force               read again a file that was already enqueued\n"
    "      --wait-full SECS      when the buffer is full, wait this long for room (default 0:\n"
    "                            stop at once with what was committed; -1 waits forever)\n"
    "  -P, --progress            print a line to stdout after every commit\n"
    "  -q, --quiet               no summary\n" CLI_BUFFER_HELP
    "\nA FILE of '-' reads standard input: JSON Lines unless --format csv, not resumable,\n"
    "rejects go to ./stdin.rejects.\n"
    "Exit status: 0 all rows in, 3 some rows rejected, 4 buffer full, 1 a file failed.\n";

static const char watch_help[] =
    "usage: hubcap-agent watch -b DIR [OPTIONS] FOLDER\n\n"
    "Ingest every file that arrives in FOLDER (written and closed, or moved in) and move it to\n"
    "FOLDER/archive/ once all its rows are committed, with its .rejects file beside it. Files\n"
    "with an unusable header go to FOLDER/failed/. Names starting with '.' or ending in .tmp or\n"
    ".part are ignored: write to such a name, then rename. Runs until Ctrl-C or SIGTERM.\n\n"
    "  -f, --format F  -k, --kind K  -m, --map SPEC  --device-id ID  --batch N   as for enqueue\n"
    "      --once                take the files there now, then exit\n"
    "  -q, --quiet               no line per file\n" CLI_BUFFER_HELP;

struct enq_args {
    struct cli_buffer buf;
    struct ag_load_opts in;
    int progress, quiet, once;
    int stdin_rejects; /* the file being reported is standard input */
};

static int parse(const char *cmd, const char *help, int argc, char **argv, struct enq_args *a)
{
    static const struct option opts[] = {
        CLI_BUFFER_OPTS,
        {"format", required_argument, NULL, 'f'},
        {"kind", required_argument, NULL, 'k'},
        {"map", required_argument, NULL, 'm'},
        {"device-id", required_argument, NULL, 2001},
        {"batch", required_argument, NULL, 2002},
        {"force", no_argument, NULL, 2003},
        {"wait-full", required_argument, NULL, 2004},
        {"once", no_argument, NULL, 2005},
        {"progress", no_argument, NULL, 'P'},
        {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},
        {0, 0, 0, 0},
    };
    int c, r;
    uint64_t u;

    while ((c = getopt_long(argc, argv, "b:f:k:m:Pqh", opts, NULL)) != -1) {
        if ((r = cli_buffer_option(&a->buf, c, optarg)) != 0) {
            if (r < 0)
                return CLI_USAGE;
            continue;
        }
        switch (c) {
        case 'f':
            if (!strcmp(optarg, "csv"))
                a->in.reader.format = AG_FMT_CSV;
            else if (!strcmp(optarg, "jsonl") || !strcmp(optarg, "ndjson"))
                a->in.reader.format = AG_FMT_JSONL;
            else
                return cli_usage_error(cmd, "--format '%s': use csv or jsonl", optarg);
            break;
        case 'k':
            a->in.reader.kind = hc_kind_parse(optarg, (size_t)-1);
            if (a->in.reader.kind == HC_KIND_UNKNOWN)
                return cli_usage_error(cmd,
                                       "--kind '%s': use order_line, order_status or "
                                       "car_listing",
                                       optarg);
            break;
        case 'm':
            a->in.reader.map = optarg;
            break;
        case 2001:
            if (!*optarg || strlen(optarg) > HC_DEVICE_ID_MAX)
                return cli_usage_error(cmd, "--device-id: 1 to 128 bytes");
            a->in.reader.device_id = optarg;
            break;
        case 2002:
            if (cli_u64("--batch", optarg, &u) || !u)
                return CLI_USAGE;
            a->in.batch = (size_t)u;
            break;
        case 2003:
            a->in.force = 1;
            break;
        case 2004: {
            char *e;
            long v = strtol(optarg, &e, 10);
            if (*e || v < -1)
                return cli_usage_error(cmd, "--wait-full '%s': seconds, or -1", optarg);
            a->in.full_wait_ms = v < 0 ? -1 : v * 1000;
            break;
        }
        case 2005:
            a->once = 1;
            break;
        case 'P':
            a->progress = 1;
            break;
        case 'q':
            a->quiet = 1;
            break;
        case 'h':
            fputs(help, stdout);
            exit(CLI_OK);
        default:
            return cli_usage_error(cmd, "bad option");
        }
    }
    return 0;
}

static void init_args(struct enq_args *a)
{
    memset(a, 0, sizeof *a);
    cli_buffer_init(&a->buf);
    ag_load_opts_default(&a->in);
    a->in.full_wait_ms = 0;
    a->in.reader.device_id = cli_default_device_id();
    a->in.stop = &cli_stop;
}

static void on_commit(const struct ag_load_progress *p, void *arg)
{
    (void)arg;
    printf("committed file=%s line=%llu events=%llu rejected=%llu%s\n", p->path,
           (unsigned long long)p->line, (unsigned long long)p->events,
           (unsigned long long)p->rejected, p->done ? " done" : "");
    fflush(stdout);
}

/* Say what happened to one file; returns the exit code it deserves. */
static int report(const struct enq_args *a, const char *path, int rc,
                  const struct ag_load_result *res)
{
    switch (rc) {
    case 0:
        if (!a->quiet)
            fprintf(stderr, "%s: %llu events enqueued%s, %llu rows rejected%s%s%s\n", path,
                    (unsigned long long)res->events, res->resumed ? " (resumed)" : "",
                    (unsigned long long)res->rejected, res->total_rejected ? " (see " : "",
                    res->total_rejected ? (a->stdin_rejects ? "stdin" : path) : "",
                    res->total_rejected ? ".rejects)" : "");
        return res->rejected ? CLI_PARTIAL : CLI_OK;
    case HC_E_DONE:
        if (!a->quiet)
            fprintf(stderr, "%s: already enqueued (%llu events); --force reads it again\n", path,
                    (unsigned long long)res->total_events);
        return CLI_OK;
    case HC_E_STOPPED:
        fprintf(stderr, "%s: stopped at line %llu; run the same command again to continue\n", path,
                (unsigned long long)res->next_line);
        return CLI_FAIL;
    case HC_E_FULL:
        fprintf(stderr,
                "%s: the buffer %s is full after %llu events (stopped at line %llu): "
                "ship it (hubcap-agent run), raise --max-bytes or use --full-policy "
                "drop-oldest, then run the same command to continue\n",
                path, a->buf.dir, (unsigned long long)res->events,
                (unsigned long long)res->next_line);
        return CLI_FULL;
    case HC_E_PARSE:
        fprintf(stderr, "%s: %s\n", path, res->why ? res->why : "cannot read the header");
        return CLI_FAIL;
    case HC_E_DISKFULL:
        fprintf(stderr,
                "%s: the disk is full (stopped at line %llu): free space, then run the "
                "same command to continue\n",
                path, (unsigned long long)res->next_line);
        return CLI_FAIL;
    default:
        fprintf(stderr, "%s: %s\n", path, hc_strerror(rc));
        return CLI_FAIL;
    }
}

/* How bad an exit code is, to keep the worst over several files. */
static int rank(int code)
{
    return code == CLI_OK ? 0 : code == CLI_PARTIAL ? 1 : code == CLI_FAIL ? 2 : 3;
}

int cmd_enqueue(int argc, char **argv)
{
    struct enq_args a;
    struct ag_queue *q;
    int rc, worst = CLI_OK;

    init_args(&a);
    if ((rc = parse("enqueue", enqueue_help, argc, argv, &a)) != 0)
        return rc;
    if (optind >= argc)
        return cli_usage_error("enqueue", "give one or more files to enqueue");
    if (a.progress)
        a.in.on_commit = on_commit;
    if ((rc = cli_buffer_open(&a.buf, 0, &q)) != 0)
        return rc;
    cli_on_signals();
    for (int i = optind; i < argc && !cli_stop; i++) {
        struct ag_load_opts in = a.in;
        struct ag_load_result res;
        const char *path = argv[i];
        if (!strcmp(path, "-")) {
            path = "/dev/stdin";
            in.rejects_path = "stdin.rejects";
            if (in.reader.format == AG_FMT_AUTO) /* a pipe cannot be sniffed and re-read */
                in.reader.format = AG_FMT_JSONL;
        }
        rc = ag_load_file(q, path, &in, &res);
        a.stdin_rejects = path != argv[i];
        rc = report(&a, argv[i], rc, &res);
        if (rank(rc) > rank(worst))
            worst = rc;
        if (rc == CLI_FULL)
            break;
    }
    ag_queue_close(q);
    return worst;
}

static void on_file(const char *path, int rc, const struct ag_load_result *res, void *arg)
{
    const struct enq_args *a = arg;
    if (rc == 0 || rc == HC_E_DONE) {
        if (!a->quiet)
            fprintf(stderr, "%s: %llu events, %llu rejected; archived\n", path,
                    (unsigned long long)res->total_events, (unsigned long long)res->total_rejected);
    } else if (rc == HC_E_PARSE) {
        fprintf(stderr, "%s: %s; moved to failed/\n", path, res->why ? res->why : "bad header");
    } else if (rc != HC_E_STOPPED) {
        fprintf(stderr, "%s: %s; left in place, tried again later\n", path, hc_strerror(rc));
    }
}

int cmd_watch(int argc, char **argv)
{
    struct enq_args a;
    struct ag_watch_opts w;
    struct ag_queue *q;
    int rc;

    init_args(&a);
    a.in.full_wait_ms = -1;
    if ((rc = parse("watch", watch_help, argc, argv, &a)) != 0)
        return rc;
    if (optind != argc - 1)
        return cli_usage_error("watch", "give exactly one folder to watch");
    if ((rc = cli_buffer_open(&a.buf, 0, &q)) != 0)
        return rc;
    memset(&w, 0, sizeof w);
    w.load = a.in;
    w.once = a.once;
    w.on_file = on_file;
    w.arg = &a;
    cli_on_signals();
    if (!a.quiet && !a.once)
        fprintf(stderr, "watching %s (Ctrl-C stops)\n", argv[optind]);
    rc = ag_watch_run(q, argv[optind], &w);
    ag_queue_close(q);
    if (rc) {
        fprintf(stderr, "hubcap-agent watch: cannot watch %s: %s\n", argv[optind], hc_strerror(rc));
        return CLI_FAIL;
    }
    return CLI_OK;
}
