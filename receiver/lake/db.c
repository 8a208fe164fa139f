#include "receiver/lake/db.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"

static void drop_notice(void *arg, const char *message)
{
    (void)arg;
    (void)message;
}

void rx_lake_errf(PGconn *c, const char *what, char *err, size_t cap)
{
    const char *m = c ? PQerrorMessage(c) : "out of memory";
    size_t n = strlen(m);
    while (n && (m[n - 1] == '\n' || m[n - 1] == ' '))
        n--;
    snprintf(err, cap, "%s: %.*s", what, (int)n, m);
}

PGconn *rx_lake_connect(const char *conninfo, char *err, size_t cap)
{
    PGconn *c = PQconnectdb(conninfo ? conninfo : "");
    if (!c || PQstatus(c) != CONNECTION_OK) {
        rx_lake_errf(c, "cannot connect to PostgreSQL", err, cap);
        PQfinish(c);
        return NULL;
    }
    PQsetNoticeProcessor(c, drop_notice, NULL);
    return c;
}

int rx_lake_failure(PGconn *c)
{
    return PQstatus(c) == CONNECTION_OK ? HC_E_INVAL : HC_E_RETRY;
}

PGresult *rx_lake_exec(PGconn *c, const char *sql, int n, const char *const *params, char *err,
                       size_t cap)
{
    PGresult *r = PQexecParams(c, sql, n, NULL, params, NULL, NULL, 0);
    ExecStatusType st = PQresultStatus(r);
    if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK)
        return r;
    rx_lake_errf(c, sql, err, cap);
    PQclear(r);
    return NULL;
}

int rx_lake_run(PGconn *c, const char *sql, int n, const char *const *params, char *err, size_t cap)
{
    PGresult *r = rx_lake_exec(c, sql, n, params, err, cap);
    if (!r)
        return rx_lake_failure(c);
    PQclear(r);
    return 0;
}

#define RX_COPY_CHUNK (1 << 20) /* bytes per PQputCopyData */

const char rx_lake_copy_bin_header[19] = "PGCOPY\n\377\r\n\0\0\0\0\0\0\0\0\0";

int rx_lake_copy_in(PGconn *c, const char *sql, int binary, const char *data, size_t len, char *err,
                    size_t cap)
{
    PGresult *r = PQexec(c, sql);
    int ok;

    if (PQresultStatus(r) != PGRES_COPY_IN) {
        rx_lake_errf(c, sql, err, cap);
        PQclear(r);
        return rx_lake_failure(c);
    }
    PQclear(r);
    ok = !binary || PQputCopyData(c, rx_lake_copy_bin_header, sizeof rx_lake_copy_bin_header) == 1;
    for (size_t off = 0; ok && off < len; off += RX_COPY_CHUNK) {
        size_t k = len - off < RX_COPY_CHUNK ? len - off : RX_COPY_CHUNK;
        ok = PQputCopyData(c, data + off, (int)k) == 1;
    }
    if (ok && binary)
        PQputCopyData(c, "\377\377", 2);
    PQputCopyEnd(c, NULL);
    r = PQgetResult(c);
    ok = PQresultStatus(r) == PGRES_COMMAND_OK;
    if (!ok)
        rx_lake_errf(c, sql, err, cap);
    PQclear(r);
    while ((r = PQgetResult(c)))
        PQclear(r);
    return ok ? 0 : rx_lake_failure(c);
}

/* Apply one file unless its version is recorded. Returns 1 applied, 0 already, or an error. */
static int apply_file(PGconn *c, const struct rx_lake_sql_file *f, char *err, size_t cap)
{
    char version[16];
    const char *params[2] = {version, f->name};
    PGresult *r;
    int rc, have;

    snprintf(version, sizeof version, "%d", atoi(f->name));
    if ((rc = rx_lake_run(c, "BEGIN", 0, NULL, err, cap)))
        return rc;
    if ((rc = rx_lake_run(c, "SELECT pg_advisory_xact_lock(hashtext('hubcap.schema'))", 0, NULL,
                          err, cap)) ||
        (rc = rx_lake_run(c, "CREATE SCHEMA IF NOT EXISTS lake", 0, NULL, err, cap)) ||
        (rc = rx_lake_run(c,
                          "CREATE TABLE IF NOT EXISTS lake.schema_version (version integer "
                          "PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL "
                          "DEFAULT now())",
                          0, NULL, err, cap)))
        goto out_rollback;
    r = rx_lake_exec(c, "SELECT 1 FROM lake.schema_version WHERE version = $1::integer", 1, params,
                     err, cap);
    if (!r) {
        rc = rx_lake_failure(c);
        goto out_rollback;
    }
    have = PQntuples(r) > 0;
    PQclear(r);
    if (!have) {
        /* the file's own text: several statements, no parameters (it is not input) */
        r = PQexec(c, f->sql);
        if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK) {
            PQclear(r);
            rx_lake_errf(c, f->name, err, cap);
            rc = rx_lake_failure(c);
            goto out_rollback;
        }
        PQclear(r);
        if ((rc = rx_lake_run(c, "INSERT INTO lake.schema_version (version, name) VALUES ($1, $2)",
                              2, params, err, cap)))
            goto out_rollback;
    }
    if ((rc = rx_lake_run(c, "COMMIT", 0, NULL, err, cap)))
        return rc;
    return !have;
out_rollback:
    PQclear(PQexec(c, "ROLLBACK"));
    return rc;
}

int rx_lake_migrate(PGconn *c, int *applied, char *err, size_t cap)
{
    const struct rx_lake_sql_file *f;
    int n = 0, rc;

    for (f = rx_lake_sql_files; f->name; f++) {
        rc = apply_file(c, f, err, cap);
        if (rc < 0)
            return rc;
        n += rc;
    }
    if (applied)
        *applied = n;
    return 0;
}
