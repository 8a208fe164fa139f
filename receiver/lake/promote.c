/*
 * promote.c - bronze to silver and gold (promote.h): the batches of one promotion, each in its
 * transaction, staged by COPY into temp tables and promoted by lake.promote_staged; the silver
 * writer on a second connection and the read-ahead of the next batch on a third. Reading a batch
 * is promote_read.c, settling it promote_settle.c.
 */
#include "receiver/lake/promote.h"
#include "receiver/lake/promote_int.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/envelope.h"
#include "common/error.h"
#include "receiver/lake/db.h"
#include "receiver/lake/orders.h"
#include "common/rules.h"

static const char *const kind_table[] = {NULL, "lake_ol", "lake_os", "lake_cl"};
static const char *const kind_silver[] = {NULL, "COPY silver.order_line FROM STDIN (FORMAT binary)",
                                          "COPY silver.order_status FROM STDIN (FORMAT binary)",
                                          "COPY silver.car_listing FROM STDIN (FORMAT binary)"};

/* One result value as an integer (*has: not NULL). */
static int64_t value_i64(PGresult *r, int col, int *has)
{
    if (has)
        *has = !PQgetisnull(r, 0, col);
    return PQgetisnull(r, 0, col) ? 0 : strtoll(PQgetvalue(r, 0, col), NULL, 10);
}

/* Begin a batch in the open transaction (lake.promote_plan: the lock, the temp tables) into b's
 * range and carried state; first: the first of this promotion (an eighth of the size, as it is
 * read alone). *has: 0 when every landed file is promoted. */
static int plan(PGconn *c, int first, struct batch *b, int *has, char *err, size_t cap)
{
    const char *params[1] = {first ? "true" : "false"};
    PGresult *r = rx_lake_exec(c, "SELECT * FROM lake.promote_plan($1)", 1, params, err, cap);

    if (!r)
        return rx_lake_failure(c);
    b->lo = value_i64(r, 0, NULL);
    b->hi = value_i64(r, 1, has);
    b->n = value_i64(r, 2, NULL);
    b->max_us = b->max_before = value_i64(r, 3, &b->has_max);
    b->had_max = b->has_max;
    b->lateness_us = value_i64(r, 4, NULL);
    b->horizon_us = value_i64(r, 5, NULL);
    b->split_events = value_i64(r, 6, NULL);
    PQclear(r);
    return 0;
}

/* The batch after the file lo (lake.batch_after): *hi 0 when there is none. */
static int batch_after(PGconn *c, int64_t lo, int64_t *hi, int64_t *n, char *err, size_t cap)
{
    char los[24];
    const char *params[1] = {los};
    PGresult *r;
    int has;

    snprintf(los, sizeof los, "%" PRId64, lo);
    if (!(r = rx_lake_exec(c, "SELECT * FROM lake.batch_after($1, false)", 1, params, err, cap)))
        return rx_lake_failure(c);
    *hi = value_i64(r, 0, &has);
    *n = value_i64(r, 1, NULL);
    if (!has)
        *hi = 0;
    PQclear(r);
    return 0;
}

/* COPY the batch into the temp tables: its rows when PostgreSQL inserts them into silver (all),
 * else only what gold reads (no order lines: their sums; the latest status of each parcel and
 * state of each listing), the sums, quarantine records and watermarks. */
static int stage(PGconn *c, struct batch *b, int all, char *err, size_t cap)
{
    int rc = 0;

    for (int k = all ? HC_KIND_ORDER_LINE : HC_KIND_ORDER_STATUS; k <= HC_KIND_CAR_LISTING && !rc;
         k++) {
        const struct hc_buf *rows = all ? &b->rows[k] : &b->latest[k];
        char sql[64];
        snprintf(sql, sizeof sql, "COPY %s FROM STDIN (FORMAT binary)", kind_table[k]);
        rc = rx_lake_copy_in(c, sql, 1, rows->p, rows->len, err, cap);
    }
    if (!rc)
        rc = rx_lake_copy_in(c, "COPY lake_oi FROM STDIN", 0, b->oi.p, b->oi.len, err, cap);
    if (!rc)
        rc = rx_lake_copy_in(c, "COPY lake_op FROM STDIN", 0, b->op.p, b->op.len, err, cap);
    if (!rc)
        rc = rx_lake_copy_in(c, "COPY lake_q FROM STDIN", 0, b->quar.p, b->quar.len, err, cap);
    if (!rc)
        rc =
            rx_lake_copy_in(c, "COPY lake_files FROM STDIN", 0, b->files.p, b->files.len, err, cap);
    return rc;
}

/* The silver writer: COPYs a staged batch's rows (after drop_known) into silver on its own
 * connection and records the batch in lake.silver_written, in one transaction, while the first
 * connection updates gold. */
struct writer {
    PGconn *c;
    const struct batch *b;
    int rc;
    char err[512];
};

static void *write_silver(void *arg)
{
    struct writer *w = arg;
    char hi[24];
    const char *params[1] = {hi};

    snprintf(hi, sizeof hi, "%" PRId64, w->b->hi);
    w->rc = rx_lake_run(w->c, "BEGIN", 0, NULL, w->err, sizeof w->err);
    for (int k = HC_KIND_ORDER_LINE; k <= HC_KIND_CAR_LISTING && !w->rc; k++)
        if (w->b->rows[k].len)
            w->rc = rx_lake_copy_in(w->c, kind_silver[k], 1, w->b->rows[k].p, w->b->rows[k].len,
                                    w->err, sizeof w->err);
    if (!w->rc)
        w->rc = rx_lake_run(w->c, "UPDATE lake.silver_written SET hi = $1", 1, params, w->err,
                            sizeof w->err);
    if (!w->rc)
        w->rc = rx_lake_run(w->c, "COMMIT", 0, NULL, w->err, sizeof w->err);
    else
        PQclear(PQexec(w->c, "ROLLBACK"));
    return NULL;
}

/* Send lake.promote_staged for the staged batch b (silver: "none", "insert" or "merge", as
 * lake.promote_staged takes it); its result is for wait_staged. */
static int send_staged(PGconn *c, const struct batch *b, const char *silver, char *err, size_t cap)
{
    char newmax[HC_TS_STRLEN], lo[24], hi[24], n[24];
    const char *params[5] = {lo, hi, n, NULL, silver};

    snprintf(lo, sizeof lo, "%" PRId64, b->lo);
    snprintf(hi, sizeof hi, "%" PRId64, b->hi);
    snprintf(n, sizeof n, "%" PRId64, b->n);
    if (b->has_max) {
        hc_ts_format(b->max_us, newmax);
        params[3] = newmax;
    }
    if (!PQsendQueryParams(c, "SELECT lake.promote_staged($1, $2, $3, $4, $5)", 5, NULL, params,
                           NULL, NULL, 0)) {
        rx_lake_errf(c, "promoting", err, cap);
        return rx_lake_failure(c);
    }
    return 0;
}

static int wait_staged(PGconn *c, char *err, size_t cap)
{
    PGresult *r;
    int rc = 0;

    while ((r = PQgetResult(c))) {
        if (!rc && PQresultStatus(r) != PGRES_TUPLES_OK) {
            rx_lake_errf(c, "lake.promote_staged", err, cap);
            rc = rx_lake_failure(c);
        }
        PQclear(r);
    }
    return rc;
}

/* In the batch's transaction, after its gold: when gold had its events (lake.freshness). */
static int note_freshness(PGconn *c, const struct batch *b, char *err, size_t cap)
{
    char lo[24], hi[24], n[24];
    const char *params[3] = {lo, hi, n};

    snprintf(lo, sizeof lo, "%" PRId64, b->lo);
    snprintf(hi, sizeof hi, "%" PRId64, b->hi);
    snprintf(n, sizeof n, "%" PRId64, b->n);
    return rx_lake_run(c, "SELECT lake.note_freshness($1, $2, $3)", 3, params, err, cap);
}

/* Another connection like c (same parameters): for reading bronze ahead, or for writing silver.
 * NULL on failure. */
static PGconn *connect_like(PGconn *c)
{
    PQconninfoOption *o = PQconninfo(c), *p;
    const char *keys[64], *vals[64];
    int k = 0;
    PGconn *r;

    if (!o)
        return NULL;
    for (p = o; p->keyword && k < 63; p++)
        if (p->val && *p->val) {
            keys[k] = p->keyword;
            vals[k++] = p->val;
        }
    keys[k] = vals[k] = NULL;
    r = PQconnectdbParams(keys, vals, 0);
    PQconninfoFree(o);
    if (PQstatus(r) != CONNECTION_OK) {
        PQfinish(r);
        return NULL;
    }
    return r;
}

/* The connections a promotion uses besides its own: rd reads the next batch ahead, wr writes
 * silver (split: allowed, see promote.h); each is opened when first needed. merge: silver may
 * hold rows of the batches to promote (lake.silver_ahead). */
struct helpers {
    PGconn *rd, *wr;
    int own, split, merge;
};

#ifdef HUBCAP_TEST_HOOKS
/* A test's fault (test builds only: HUBCAP_TEST_HOOKS): HC_FAULT=promote_after_silver kills the
 * process (SIGKILL) once a split batch's silver committed and before its gold did. */
static void fault_after_silver(void)
{
    const char *f = getenv("HC_FAULT");

    if (f && !strcmp(f, "promote_after_silver"))
        raise(SIGKILL);
}
#else
static void fault_after_silver(void)
{
}
#endif

/* The same batch as b, as promote_plan names it: the range and the state carried into it. */
static int same_batch(const struct batch *ahead, const struct batch *b)
{
    return ahead->hi && ahead->lo == b->lo && ahead->hi == b->hi && ahead->n == b->n &&
           ahead->had_max == b->had_max && ahead->max_before == b->max_before &&
           ahead->lateness_us == b->lateness_us && ahead->horizon_us == b->horizon_us;
}

/* Plan the next batch into b (*has: 0 when none is left) and fill it: the batch read ahead when
 * it is the one planned (ahead is then emptied), else from bronze (ahead is dropped). */
static int take_batch(PGconn *c, int first, struct batch *ahead, struct batch *b, int *has,
                      char *err, size_t cap)
{
    int rc;

    if ((rc = plan(c, first, b, has, err, cap)))
        return rc;
    if (*has && same_batch(ahead, b)) {
        int64_t split_events = b->split_events;
        *b = *ahead; /* read while the batch before was promoted */
        b->split_events = split_events;
        memset(ahead, 0, sizeof *ahead);
        return 0;
    }
    rx_promote__batch_free(ahead);
    memset(ahead, 0, sizeof *ahead);
    return *has ? rx_promote__read_bronze(c, b, err, cap) : 0;
}

/* Stage b, ask for the batch after it (*next_hi, *next_n) and send lake.promote_staged; silver
 * rows go with it unless split (the writer's), inserted or merged (h->merge). */
static int stage_and_send(PGconn *c, struct batch *b, int split, const struct helpers *h,
                          int64_t *next_hi, int64_t *next_n, char *err, size_t cap)
{
    const char *silver = split ? "none" : h->merge ? "merge" : "insert";
    int rc;

    if ((rc = stage(c, b, !split, err, cap)) ||
        (rc = batch_after(c, b->hi, next_hi, next_n, err, cap)) ||
        (rc = send_staged(c, b, silver, err, cap)))
        return rc;
    return 0;
}

/* Read the batch after b (up to next_hi) into ahead on h->rd while PostgreSQL promotes b; a
 * failure here only loses the read-ahead (ahead is left empty, err cleared). */
static void read_ahead(PGconn *c, struct helpers *h, struct batch *b, struct batch *ahead,
                       int64_t next_hi, int64_t next_n, char *err, size_t cap)
{
    if (!next_hi || !(h->rd || (h->rd = connect_like(c))))
        return;
    /* the next batch starts where this one ends */
    ahead->lo = b->hi;
    ahead->hi = next_hi;
    ahead->n = next_n;
    ahead->has_max = ahead->had_max = b->has_max;
    ahead->max_us = ahead->max_before = b->max_us;
    ahead->lateness_us = b->lateness_us;
    ahead->horizon_us = b->horizon_us;
    /* checked there too, unless this transaction holds silver locked (a rebuild's) */
    if (rx_promote__read_bronze(h->rd, ahead, err, cap) ||
        (h->own && rx_promote__settle(h->rd, ahead, b, err, cap))) {
        rx_promote__batch_free(ahead);
        memset(ahead, 0, sizeof *ahead);
        err[0] = '\0';
    }
}

/* Wait for the silver writer; when it failed, drain the staged promotion and drop its
 * connection: gold must not commit without silver (the caller rolls back; what the writer
 * committed is this batch's own, and the next attempt keeps it: lake.known_ids). */
static int join_writer(PGconn *c, struct helpers *h, pthread_t wt, struct writer *w, char *err,
                       size_t cap)
{
    char ignored[256];

    pthread_join(wt, NULL);
    if (!w->rc) {
        fault_after_silver();
        return 0;
    }
    snprintf(err, cap, "writing silver: %s", w->err);
    wait_staged(c, ignored, sizeof ignored);
    PQfinish(h->wr);
    h->wr = NULL;
    return w->rc;
}

/*
 * Promote the next batch in the open transaction; *hi: 0 when nothing was left. *ahead may hold
 * the batch read ahead (used when promote_plan names the same one, else dropped). While
 * PostgreSQL promotes this batch, the next one is read into *ahead on h->rd, so that reading and
 * checking bodies overlaps the SQL; a large batch's silver rows are written on h->wr meanwhile
 * (h->split). first: the first batch of this promotion.
 */
static int promote_batch(PGconn *c, int first, struct helpers *h, struct batch *ahead, int64_t *hi,
                         char *err, size_t cap)
{
    struct batch b;
    struct writer w;
    pthread_t wt;
    int64_t next_hi = 0, next_n = 0;
    int has = 0, split, rc;
    char ignored[256];

    memset(&b, 0, sizeof b);
    rc = take_batch(c, first, ahead, &b, &has, err, cap);
    *hi = has ? b.hi : 0;
    if (rc || !has)
        goto out;
    if (!b.checked && (rc = rx_promote__settle(c, &b, NULL, err, cap)))
        goto out;
    split = h->split && b.n >= b.split_events && (h->wr || (h->wr = connect_like(c)));
    if ((rc = stage_and_send(c, &b, split, h, &next_hi, &next_n, err, cap)))
        goto out;
    if (split) {
        w.c = h->wr;
        w.b = &b;
        if (pthread_create(&wt, NULL, write_silver, &w)) {
            snprintf(err, cap, "starting the silver writer: %s", strerror(errno));
            wait_staged(c, ignored, sizeof ignored);
            rc = HC_E_INVAL;
            goto out;
        }
    } else {
        for (int k = 0; k < 4; k++) /* staged; the set of its events stays for the next batch */
            hc_buf_free(&b.rows[k]);
    }
    read_ahead(c, h, &b, ahead, next_hi, next_n, err, cap);
    if (split && (rc = join_writer(c, h, wt, &w, err, cap)))
        goto out;
    if (!(rc = wait_staged(c, err, cap)))
        rc = note_freshness(c, &b, err, cap);
out:
    rx_promote__batch_free(&b);
    return rc;
}

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

/* Promote batches of files until none is left: each batch its own transaction, unless the
 * caller has one open (rebuild). */
static int promote_all(PGconn *c, struct rx_promote_stats *st, char *err, size_t cap)
{
    int own = PQtransactionStatus(c) == PQTRANS_IDLE;
    int64_t fid = 0, before, after, first, last, ahead_rows = 1;
    struct helpers h = {NULL, NULL, own, 0, 0};
    struct batch ahead;
    char sql[160];
    int rc;

    memset(&ahead, 0, sizeof ahead);
    /* silver on a second connection: in our own transactions only (a rebuild's TRUNCATE locks
     * silver until it commits), and not while silver holds rows ahead of the checkpoint (a
     * failed attempt's: this call inserts with ON CONFLICT, which skips them) */
    if ((rc = query_i64(c, "SELECT lake.silver_ahead()::int", &ahead_rows, err, cap)))
        return rc;
    h.merge = ahead_rows != 0;
    h.split = own && !h.merge;
    if ((rc = query_i64(c, "SELECT events FROM lake.checkpoint WHERE name = 'promote'", &before,
                        err, cap)))
        return rc;
    if ((rc = query_i64(c, "SELECT last_file_id FROM lake.checkpoint WHERE name = 'promote'",
                        &first, err, cap)))
        return rc;
    last = first;
    for (;;) {
        if (own && (rc = rx_lake_run(c, "BEGIN", 0, NULL, err, cap)))
            goto out;
        if ((rc = promote_batch(c, last == first, &h, &ahead, &fid, err, cap)) ||
            (own && (rc = rx_lake_run(c, "COMMIT", 0, NULL, err, cap)))) {
            if (own)
                PQclear(PQexec(c, "ROLLBACK"));
            goto out;
        }
        if (fid == 0)
            break;
        last = fid;
    }
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM bronze.capture_file WHERE file_id > %" PRId64
             " AND file_id <= %" PRId64,
             first, last);
    if ((rc = query_i64(c, sql, &st->files, err, cap)) ||
        (rc = query_i64(c, "SELECT events FROM lake.checkpoint WHERE name = 'promote'", &after, err,
                        cap)))
        goto out;
    st->events += after - before;
out:
    rx_promote__batch_free(&ahead);
    PQfinish(h.rd);
    PQfinish(h.wr);
    return rc;
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
