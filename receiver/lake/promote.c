#include "receiver/lake/promote.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "receiver/lake/db.h"

/* One value of a one-row query as an integer. Returns 0 or an error. */
static int query_i64(PGconn *c, const char *sql, int64_t *v, char *err, size_t cap)
{
    PGresult *r = rx_lake_exec(c, sql, 0, NULL, err, cap);
    if (!r)
        return rx_lake_failure(c);
    *v = PQntuples(r) && !PQgetisnull(r, 0, 0) ? strtoll(PQgetvalue(r, 0, 0), NULL, 10) : 0;
    PQclear(r);
    return 0;
}

/* Promote batches of files until none is left (each batch its own transaction unless one is
 * open); lake.promote_next keeps every gold table up to date with its batch. */
static int promote_all(PGconn *c, struct rx_promote_stats *st, char *err, size_t cap)
{
    int64_t fid, before, after, first, last;
    char sql[160];
    int rc;

    if ((rc = query_i64(c, "SELECT events FROM lake.checkpoint WHERE name = 'promote'", &before,
                        err, cap)))
        return rc;
    if ((rc = query_i64(c, "SELECT last_file_id FROM lake.checkpoint WHERE name = 'promote'",
                        &first, err, cap)))
        return rc;
    last = first;
    for (;;) {
        if ((rc = query_i64(c, "SELECT lake.promote_next()", &fid, err, cap)))
            return rc;
        if (fid == 0)
            break;
        last = fid;
    }
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM bronze.capture_file WHERE file_id > %" PRId64
             " AND file_id <= %" PRId64,
             first, last);
    if ((rc = query_i64(c, sql, &st->files, err, cap)))
        return rc;
    if ((rc = query_i64(c, "SELECT events FROM lake.checkpoint WHERE name = 'promote'", &after, err,
                        cap)))
        return rc;
    st->events += after - before;
    return 0;
}

int rx_lake_promote(PGconn *c, struct rx_promote_stats *st, char *err, size_t cap)
{
    memset(st, 0, sizeof *st);
    return promote_all(c, st, err, cap);
}

int rx_lake_rebuild(PGconn *c, struct rx_promote_stats *st, char *err, size_t cap)
{
    int rc;

    memset(st, 0, sizeof *st);
    if ((rc = rx_lake_run(c, "BEGIN", 0, NULL, err, cap)))
        return rc;
    if ((rc = rx_lake_run(c, "SELECT lake.reset()", 0, NULL, err, cap)) ||
        (rc = promote_all(c, st, err, cap)))
        goto out_rollback;
    return rx_lake_run(c, "COMMIT", 0, NULL, err, cap);
out_rollback:
    PQclear(PQexec(c, "ROLLBACK"));
    return rc;
}
