/* reconcile.c - the fleet's buffers against silver, by event_id (fleet.h "Reconciliation"). */
#include <dirent.h>
#include <errno.h>
#include <libpq-fe.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/buffer/queue.h"
#include "agent/fleet/fleet.h"
#include "common/buf.h"
#include "common/error.h"
#include "common/hctime.h"
#include "common/rules.h"
#include "common/uuid.h"

#define COPY_CHUNK (256 * 1024)

/* Run sql; 0, or HC_E_INVAL with the server's message in err. */
static int exec(PGconn *c, const char *sql, char *err, size_t errlen)
{
    PGresult *r = PQexec(c, sql);
    int ok = PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK;
    if (!ok)
        snprintf(err, errlen, "PostgreSQL: %s", PQerrorMessage(c));
    PQclear(r);
    return ok ? 0 : HC_E_INVAL;
}

/* The first column of the first row of sql as a number; 0 when NULL. */
static int scalar(PGconn *c, const char *sql, uint64_t *out, char *err, size_t errlen)
{
    PGresult *r = PQexec(c, sql);
    int ok = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1;
    if (!ok)
        snprintf(err, errlen, "PostgreSQL: %s", PQerrorMessage(c));
    else
        *out = PQgetisnull(r, 0, 0) ? 0 : strtoull(PQgetvalue(r, 0, 0), NULL, 10);
    PQclear(r);
    return ok ? 0 : HC_E_INVAL;
}

/* One COPY text row: event_id, dead, the rule the body breaks (common/rules.h; \N: valid), and
 * the event_time of a valid one. */
static int copy_row(struct hc_buf *b, const struct ag_record *rec, int dead)
{
    char id[HC_UUID_STRLEN], t[HC_TS_STRLEN];
    struct hc_body body;
    enum hc_rule rule = hc_body_check(&body, rec->json, rec->json_len);

    hc_uuid_format(rec->ev.id, id);
    if (rule == HC_RULE_NONE)
        hc_ts_format(body.event_us, t);
    return hc_buf_addf(b, "%s\t%c\t%s\t%s\n", id, dead ? 't' : 'f',
                       rule == HC_RULE_NONE ? "\\N" : hc_rule_name(rule),
                       rule == HC_RULE_NONE ? t : "\\N");
}

static int flush(PGconn *c, struct hc_buf *b, char *err, size_t errlen)
{
    if (b->len && PQputCopyData(c, b->p, (int)b->len) != 1) {
        snprintf(err, errlen, "PostgreSQL: COPY failed: %s", PQerrorMessage(c));
        return HC_E_INVAL;
    }
    hc_buf_reset(b);
    return 0;
}

/* Every record of one buffer, queued, retained and dead-lettered, into the COPY. */
static int copy_buffer(PGconn *c, const char *path, struct hc_buf *b, uint64_t *records, char *err,
                       size_t errlen)
{
    static const enum ag_scope scopes[] = {AG_SCOPE_ALL, AG_SCOPE_DEAD};
    struct ag_queue_opts qo;
    struct ag_queue *q;
    struct ag_record rec;
    struct ag_iter *it;
    int rc;

    ag_queue_opts_default(&qo);
    qo.readonly = 1;
    if ((rc = ag_queue_open(path, &qo, &q)) != 0) {
        snprintf(err, errlen, "cannot read the buffer %s: %s", path, hc_strerror(rc));
        return rc;
    }
    for (size_t s = 0; s < 2 && !rc; s++) {
        if ((rc = ag_iter_open(q, scopes[s], 0, &it)) != 0)
            break;
        while ((rc = ag_iter_next(it, &rec)) == 0 || rc == HC_E_CORRUPT) {
            if (rc == HC_E_CORRUPT)
                continue; /* not an event any more: status shows it as corrupt */
            copy_row(b, &rec, scopes[s] == AG_SCOPE_DEAD);
            (*records)++;
            if (b->len >= COPY_CHUNK && (rc = flush(c, b, err, errlen)) != 0)
                break;
        }
        ag_iter_close(it);
        rc = rc == HC_E_NOTFOUND ? 0 : rc;
    }
    if (rc && !err[0])
        snprintf(err, errlen, "cannot read the buffer %s: %s", path, hc_strerror(rc));
    ag_queue_close(q);
    return rc;
}

/* COPY every device buffer of dir (dev-*) into fl_truth. */
static int load_truth(PGconn *c, const char *dir, uint64_t *records, char *err, size_t errlen)
{
    struct hc_buf b = HC_BUF_INIT;
    char path[PATH_MAX];
    struct dirent **names = NULL;
    int n, rc = 0, end;
    PGresult *r;

    n = scandir(dir, &names, NULL, alphasort);
    if (n < 0) {
        snprintf(err, errlen, "cannot list %s: %s", dir, strerror(errno));
        return -errno;
    }
    r = PQexec(c, "COPY fl_truth FROM STDIN");
    if (PQresultStatus(r) != PGRES_COPY_IN) {
        snprintf(err, errlen, "PostgreSQL: %s", PQerrorMessage(c));
        rc = HC_E_INVAL;
    }
    PQclear(r);
    for (int i = 0; i < n; i++) {
        if (!rc && !strncmp(names[i]->d_name, "dev-", 4)) {
            snprintf(path, sizeof path, "%s/%s", dir, names[i]->d_name);
            rc = copy_buffer(c, path, &b, records, err, errlen);
        }
        free(names[i]);
    }
    free(names);
    if (!rc)
        rc = flush(c, &b, err, errlen);
    hc_buf_free(&b);
    end = PQputCopyEnd(c, rc ? "fleet: reading the buffers failed" : NULL);
    r = PQgetResult(c);
    if (!rc && (end != 1 || PQresultStatus(r) != PGRES_COMMAND_OK)) {
        snprintf(err, errlen, "PostgreSQL: COPY failed: %s", PQerrorMessage(c));
        rc = HC_E_INVAL;
    }
    PQclear(r);
    while ((r = PQgetResult(c)))
        PQclear(r);
    return rc;
}

/* rule -> count rows of sql into list (at most FL_RULES_MAX). */
static int rules(PGconn *c, const char *sql, int *n, struct fl_rule_count *l, char *err,
                 size_t errlen)
{
    PGresult *r = PQexec(c, sql);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        snprintf(err, errlen, "PostgreSQL: %s", PQerrorMessage(c));
        PQclear(r);
        return HC_E_INVAL;
    }
    *n = 0;
    for (int i = 0; i < PQntuples(r) && *n < FL_RULES_MAX; i++, (*n)++) {
        snprintf(l[*n].rule, sizeof l[*n].rule, "%s", PQgetvalue(r, i, 0));
        l[*n].n = strtoull(PQgetvalue(r, i, 1), NULL, 10);
    }
    PQclear(r);
    return 0;
}

/* The copies of an event have one body: one rule, one event_time. */
static const char prepare_sql[] =
    "CREATE TEMP TABLE fl_expect AS "
    "SELECT event_id, bool_and(dead) AS dead, count(*) AS copies, min(rule) AS rule, "
    "       min(event_time) AS event_time "
    "  FROM fl_truth GROUP BY event_id;"
    "CREATE UNIQUE INDEX ON fl_expect (event_id);"
    "ANALYZE fl_expect;"
    "DROP TABLE fl_truth;";

/*
 * Valid events older than the watermark when they arrived - late_horizon (lake.config):
 * too_late. Arrival order is approximated by event_id order (UUIDv7: enqueue time), the
 * watermark by the newest event_time of the valid events enqueued before.
 */
static const char too_late_sql[] =
    "SELECT count(*) FROM (SELECT event_time, max(event_time) OVER (ORDER BY event_id ROWS "
    "  BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS newest, dead "
    "  FROM fl_expect WHERE rule IS NULL) x WHERE NOT dead AND event_time < newest "
    "  - (SELECT value FROM lake.config WHERE key = 'allowed_lateness')::interval "
    "  - (SELECT value FROM lake.config WHERE key = 'late_horizon')::interval";

static const char verdict_sql[] =
    "WITH s AS (SELECT event_id, count(*) AS n FROM ("
    "   SELECT event_id FROM silver.order_line UNION ALL "
    "   SELECT event_id FROM silver.order_status UNION ALL "
    "   SELECT event_id FROM silver.car_listing) u "
    "  WHERE event_id IN (SELECT event_id FROM fl_expect) GROUP BY event_id), "
    "q AS (SELECT DISTINCT event_id FROM silver.quarantine "
    "  WHERE event_id IN (SELECT event_id FROM fl_expect)) "
    "SELECT count(*) FILTER (WHERE e.rule IS NULL AND NOT e.dead AND s.event_id IS NULL "
    "                        AND q.event_id IS NULL), "
    "       count(*) FILTER (WHERE s.n > 1), "
    "       count(s.event_id), "
    "       count(*) FILTER (WHERE e.rule IS NOT NULL AND NOT e.dead AND s.event_id IS NULL "
    "                        AND q.event_id IS NULL), "
    "       count(*) FILTER (WHERE e.rule IS NOT NULL AND s.event_id IS NOT NULL) "
    "  FROM fl_expect e LEFT JOIN s USING (event_id) LEFT JOIN q USING (event_id)";

/* Of the missing events, those bronze does not hold (an anti-join on the user property the
 * shipper sends), and the receiver's capture window. */
static const char not_landed_sql[] =
    "SELECT count(*) FROM fl_expect e WHERE e.rule IS NULL AND NOT e.dead "
    "   AND NOT EXISTS (SELECT 1 FROM silver.order_line s WHERE s.event_id = e.event_id) "
    "   AND NOT EXISTS (SELECT 1 FROM silver.order_status s WHERE s.event_id = e.event_id) "
    "   AND NOT EXISTS (SELECT 1 FROM silver.car_listing s WHERE s.event_id = e.event_id) "
    "   AND NOT EXISTS (SELECT 1 FROM silver.quarantine q WHERE q.event_id = e.event_id) "
    "   AND NOT EXISTS (SELECT 1 FROM bronze.event b "
    "                    WHERE b.properties ->> 'event_id' = e.event_id)";
static const char window_sql[] =
    "SELECT coalesce((SELECT value::bigint FROM lake.config WHERE key = 'capture_window_ms'), 0)";

/* Missing events that may still be in open capture files (fleet.h) leave missing for
 * not_landed; started_ms: when the reconciliation began (the run's shipping had ended). */
static int not_landed(PGconn *c, const struct fl_opts *o, int64_t started_ms, struct fl_recon *r,
                      char *err, size_t errlen)
{
    uint64_t n = 0, window = 0;
    int rc;

    if (!r->missing || o->reconcile_only)
        return 0;
    if ((rc = scalar(c, window_sql, &window, err, errlen)) || !window)
        return rc;
    r->window_ms = (int64_t)window;
    if (hc_mono_ns() / 1000000 - started_ms >= r->window_ms)
        return 0; /* every file open when the run ended has closed since */
    if ((rc = scalar(c, not_landed_sql, &n, err, errlen)))
        return rc;
    r->not_landed = n;
    r->missing -= n;
    return 0;
}

static int verdict(PGconn *c, struct fl_recon *r, char *err, size_t errlen)
{
    uint64_t *v[] = {&r->missing, &r->duplicated, &r->in_silver, &r->unaccounted_malformed,
                     &r->malformed_in_silver};
    PGresult *res = PQexec(c, verdict_sql);
    if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
        snprintf(err, errlen, "PostgreSQL: %s", PQerrorMessage(c));
        PQclear(res);
        return HC_E_INVAL;
    }
    for (int i = 0; i < 5; i++)
        *v[i] = strtoull(PQgetvalue(res, 0, i), NULL, 10);
    PQclear(res);
    return rules(c,
                 "SELECT q.rule, count(DISTINCT q.event_id) FROM silver.quarantine q "
                 "JOIN fl_expect e USING (event_id) GROUP BY q.rule ORDER BY 1",
                 &r->nrules, r->quarantined, err, errlen);
}

static int expectations(PGconn *c, struct fl_recon *r, char *err, size_t errlen)
{
    int rc = scalar(c, "SELECT count(*) FROM fl_expect", &r->distinct, err, errlen);
    if (!rc)
        rc = scalar(c, "SELECT count(*) FROM fl_expect WHERE dead", &r->dead, err, errlen);
    if (!rc)
        rc = scalar(c, "SELECT count(*) FROM fl_expect WHERE rule IS NULL AND NOT dead", &r->valid,
                    err, errlen);
    if (!rc)
        rc = scalar(c, "SELECT count(*) FROM fl_expect WHERE rule IS NOT NULL AND NOT dead",
                    &r->malformed, err, errlen);
    if (!rc)
        rc = rules(c,
                   "SELECT rule, count(*) FROM fl_expect WHERE rule IS NOT NULL AND NOT dead "
                   "GROUP BY rule ORDER BY 1",
                   &r->nexpected, r->expected, err, errlen);
    if (!rc && scalar(c, too_late_sql, &r->expected_too_late, err, errlen))
        err[0] = '\0'; /* an estimate only: a lake without lake.config gives none */
    return rc;
}

static int check_schema(PGconn *c, char *err, size_t errlen)
{
    uint64_t ok = 0;
    int rc = scalar(c,
                    "SELECT (to_regclass('silver.order_line') IS NOT NULL "
                    " AND to_regclass('silver.quarantine') IS NOT NULL)::int",
                    &ok, err, errlen);
    if (!rc && !ok) {
        snprintf(err, errlen,
                 "the database has no silver schema: point --pg (or PG*) at the receiver's "
                 "lake, after `hubcap-receiver land`/`promote` or `serve --pg` made it");
        return HC_E_NOTFOUND;
    }
    return rc;
}

int fl_reconcile(const struct fl_opts *o, const char *dir, struct fl_recon *r, char *err,
                 size_t errlen)
{
    PGconn *c;
    int64_t started = hc_mono_ns() / 1000000, deadline = started + (int64_t)(o->settle_s * 1000);
    int rc;

    memset(r, 0, sizeof *r);
    err[0] = '\0';
    c = PQconnectdb(o->pg ? o->pg : "");
    if (PQstatus(c) != CONNECTION_OK) {
        snprintf(err, errlen, "cannot connect to PostgreSQL (%s): %s",
                 o->pg ? "--pg" : "PG* environment", PQerrorMessage(c));
        PQfinish(c);
        return -ECONNREFUSED;
    }
    rc = check_schema(c, err, errlen);
    if (!rc)
        rc = exec(c,
                  "SET client_min_messages = warning;"
                  "CREATE TEMP TABLE fl_truth (event_id text, dead boolean, rule text, "
                  "event_time timestamptz)",
                  err, errlen);
    if (!rc)
        rc = load_truth(c, dir, &r->records, err, errlen);
    if (!rc)
        rc = exec(c, prepare_sql, err, errlen);
    if (!rc)
        rc = expectations(c, r, err, errlen);
    while (!rc) { /* promotion may still be running: poll until complete or settled */
        rc = verdict(c, r, err, errlen);
        if (rc || (!r->missing && !r->unaccounted_malformed) || hc_mono_ns() / 1000000 >= deadline)
            break;
        hc_sleep_ms(1000, NULL);
    }
    if (!rc)
        rc = not_landed(c, o, started, r, err, errlen);
    PQfinish(c);
    return rc;
}
