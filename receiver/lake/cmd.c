#include "receiver/lake/cmd.h"

#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "common/error.h"
#include "receiver/lake/db.h"
#include "receiver/lake/land.h"
#include "receiver/lake/promote.h"
#include "receiver/serve.h"

#define CMD_ERR_MAX 1024

struct lake_opts {
    const char *pg;      /* NULL: libpq's PG* environment */
    const char *capture; /* land only */
    int quiet;
};

static void usage(FILE *f, const char *cmd)
{
    int land = !strcmp(cmd, "land");
    fprintf(
        f,
        "usage: hubcap-receiver %s [--pg CONNINFO]%s [-q]\n\n"
        "%s\n\n"
        "  --pg CONNINFO   libpq connection string or URI (default: libpq's PGHOST, PGPORT,\n"
        "                  PGDATABASE, PGUSER ... environment)\n"
        "%s"
        "  -q, --quiet     no progress lines\n\n"
        "The schema (receiver/sql/*.sql) is applied first when it is not yet.\n",
        cmd, land ? " --capture DIR" : "",
        land ? "Load every closed capture file (*.avro) under DIR not yet in bronze, each file\n"
               "exactly once (manifest and rows in one transaction)."
        : !strcmp(cmd, "promote")
            ? "Promote the bronze files landed since the last promotion to silver and gold."
            : "Empty silver and gold and recompute them from bronze (one transaction).",
        land ? "  --capture DIR   the capture folder (its {Namespace}/{EventHub}/... tree)\n" : "");
}

/* Parse the options. Returns -1 to go on, else an exit code. */
static int parse(int argc, char **argv, struct lake_opts *o)
{
    static const struct option longs[] = {{"pg", required_argument, NULL, 'p'},
                                          {"capture", required_argument, NULL, 'C'},
                                          {"quiet", no_argument, NULL, 'q'},
                                          {"help", no_argument, NULL, 'h'},
                                          {NULL, 0, NULL, 0}};
    int opt;

    memset(o, 0, sizeof *o);
    optind = 1;
    while ((opt = getopt_long(argc, argv, "p:C:qh", longs, NULL)) != -1) {
        switch (opt) {
        case 'p':
            o->pg = optarg;
            break;
        case 'C':
            o->capture = optarg;
            break;
        case 'q':
            o->quiet = 1;
            break;
        case 'h':
            usage(stdout, argv[0]);
            return RX_EXIT_OK;
        default:
            usage(stderr, argv[0]);
            return RX_EXIT_USAGE;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "hubcap-receiver %s: unexpected argument '%s'\n", argv[0], argv[optind]);
        return RX_EXIT_USAGE;
    }
    return -1;
}

/* Connect and apply the schema. Returns the connection or NULL (reported). */
static PGconn *open_lake(const struct lake_opts *o, const char *cmd)
{
    char err[CMD_ERR_MAX];
    int applied = 0;
    PGconn *c = rx_lake_connect(o->pg, err, sizeof err);

    if (!c) {
        fprintf(stderr, "hubcap-receiver %s: %s\n", cmd, err);
        return NULL;
    }
    if (rx_lake_migrate(c, &applied, err, sizeof err)) {
        fprintf(stderr, "hubcap-receiver %s: applying the schema: %s\n", cmd, err);
        PQfinish(c);
        return NULL;
    }
    if (applied && !o->quiet)
        fprintf(stderr, "hubcap-receiver %s: applied %d schema files\n", cmd, applied);
    return c;
}

int rx_cmd_land(int argc, char **argv)
{
    struct lake_opts o;
    struct rx_land_stats st;
    char err[CMD_ERR_MAX];
    PGconn *c;
    int rc = parse(argc, argv, &o);

    if (rc >= 0)
        return rc;
    if (!o.capture) {
        fprintf(stderr, "hubcap-receiver land: --capture DIR is required\n");
        return RX_EXIT_USAGE;
    }
    if (!(c = open_lake(&o, "land")))
        return RX_EXIT_FAIL;
    rc = rx_land_dir(c, o.capture, o.quiet ? NULL : stdout, stderr, &st, err, sizeof err);
    if (!o.quiet || rc)
        printf("land: %" PRId64 " files found, %" PRId64 " landed (%" PRId64 " events), %" PRId64
               " already in bronze, %" PRId64 " failed\n",
               st.files_seen, st.files_landed, st.events, st.files_skipped, st.files_failed);
    if (rc)
        fprintf(stderr, "hubcap-receiver land: %s\n", err);
    PQfinish(c);
    return rc ? RX_EXIT_FAIL : RX_EXIT_OK;
}

static int promote_cmd(int argc, char **argv, int rebuild)
{
    struct lake_opts o;
    struct rx_promote_stats st;
    char err[CMD_ERR_MAX];
    PGconn *c;
    int rc = parse(argc, argv, &o);

    if (rc >= 0)
        return rc;
    if (o.capture) {
        fprintf(stderr, "hubcap-receiver %s: --capture is for land\n", argv[0]);
        return RX_EXIT_USAGE;
    }
    if (!(c = open_lake(&o, argv[0])))
        return RX_EXIT_FAIL;
    rc = rebuild ? rx_lake_rebuild(c, &st, err, sizeof err)
                 : rx_lake_promote(c, &st, err, sizeof err);
    if (rc)
        fprintf(stderr, "hubcap-receiver %s: %s\n", argv[0], err);
    else if (!o.quiet)
        printf("%s: %" PRId64 " bronze files (%" PRId64 " events) promoted to silver and gold\n",
               argv[0], st.files, st.events);
    PQfinish(c);
    return rc ? RX_EXIT_FAIL : RX_EXIT_OK;
}

int rx_cmd_promote(int argc, char **argv)
{
    return promote_cmd(argc, argv, 0);
}

int rx_cmd_rebuild(int argc, char **argv)
{
    return promote_cmd(argc, argv, 1);
}
