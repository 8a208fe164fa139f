#include "receiver/lake/promote.h"

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

/*
 * One batch: the bronze files (lo, hi] read in file and record order (COPY out), each body
 * checked once (rules.c); the valid records of a file wait in `pend` until the file's greatest
 * valid event time is known (too_late needs it), then go to their kind's rows unless this batch
 * already took a copy of the event (the first copy wins). Settling the batch then drops the events
 * silver holds and reduces the rows to what gold reads; PostgreSQL gets those, the quarantine
 * records and the per-file watermarks by COPY, and lake.promote_staged does the rest.
 */
struct pend {
    int32_t record_no;
    enum hc_kind kind;
    int64_t event_us;
    size_t off, len; /* the row in batch.pend_rows (COPY binary); its first field the event_id */
};

/* A row is COPY binary: a field count (2 bytes), then the event_id's length (4) and bytes. */
#define ROW_ID_AT 6
/* The event_ids taken by this batch: an open-addressing set of slots, each naming its id in
 * batch.idv, a binary text[] (lake.known_ids' parameter): ID_ARRAY_HEAD bytes of header, then
 * per id its length (4 bytes) and bytes. */
#define ID_ARRAY_HEAD 20
struct id_slot {
    uint64_t hash; /* 0: empty */
    uint32_t kind, len;
    size_t off;      /* the id's bytes in batch.idv */
    int64_t file_id; /* the file the copy was taken from */
    int known;       /* silver holds the event from an earlier batch: the row is dropped */
};

struct batch {
    int64_t lo, hi, n;
    int has_max, had_max;
    int64_t max_us, lateness_us, horizon_us; /* running maximum of valid event times */
    int64_t max_before;                      /* max_us before the batch (had_max: not NULL) */
    int64_t split_events;  /* from this many records on, silver is written on a second connection */
    struct hc_buf rows[4]; /* COPY binary tuples per kind (index: enum hc_kind) */
    struct hc_buf quar, files; /* COPY text for lake_q and lake_files */
    /* the file being read */
    int64_t file_id;
    int file_has;
    int64_t file_max;
    struct pend *pend;
    size_t npend, cappend;
    struct hc_buf pend_rows;
    /* the set of taken event_ids */
    struct id_slot *ids;
    size_t nids, capids; /* capids: a power of two */
    struct hc_buf idv;
    int checked;             /* settled: known events dropped, order lines summed */
    struct hc_buf oi, op;    /* COPY text for lake_oi and lake_op (receiver/lake/orders.h) */
    struct hc_buf latest[4]; /* parcels' and listings' latest rows (rx_latest_rows) */
};

static const char *const kind_table[] = {NULL, "lake_ol", "lake_os", "lake_cl"};
static const char *const kind_silver[] = {NULL, "COPY silver.order_line FROM STDIN (FORMAT binary)",
                                          "COPY silver.order_status FROM STDIN (FORMAT binary)",
                                          "COPY silver.car_listing FROM STDIN (FORMAT binary)"};

/* Free b's buffers (its range and carried state stay); b can be freed again. */
static void batch_free(struct batch *b)
{
    for (int i = 0; i < 4; i++)
        hc_buf_free(&b->rows[i]);
    hc_buf_free(&b->quar);
    hc_buf_free(&b->files);
    hc_buf_free(&b->pend_rows);
    hc_buf_free(&b->idv);
    hc_buf_free(&b->oi);
    hc_buf_free(&b->op);
    for (int i = 0; i < 4; i++)
        hc_buf_free(&b->latest[i]);
    free(b->pend);
    free(b->ids);
    b->pend = NULL;
    b->ids = NULL;
    b->npend = b->cappend = b->nids = b->capids = 0;
}

static uint32_t be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* The slot of the id p[0..n) with hash h: its own or the empty one where it would go. */
static struct id_slot *id_find(struct batch *b, const char *p, size_t n, uint64_t h)
{
    size_t mask = b->capids - 1;

    for (size_t i = h & mask;; i = (i + 1) & mask) {
        struct id_slot *s = &b->ids[i];
        if (!s->hash || (s->hash == h && s->len == n && !memcmp(b->idv.p + s->off, p, n)))
            return s;
    }
}

static int id_grow(struct batch *b)
{
    struct id_slot *old = b->ids;
    size_t oldcap = b->capids, cap = oldcap ? oldcap * 2 : 1 << 16;

    if (!(b->ids = calloc(cap, sizeof *b->ids))) {
        b->ids = old;
        return -ENOMEM;
    }
    b->capids = cap;
    for (size_t i = 0; i < oldcap; i++)
        if (old[i].hash) {
            struct id_slot *s = &b->ids[old[i].hash & (cap - 1)];
            while (s->hash)
                s = s == &b->ids[cap - 1] ? b->ids : s + 1;
            *s = old[i];
        }
    free(old);
    return 0;
}

/* A quarantine record: file, record, rule, event_id (a string's, else NULL), kind. */
static int quarantine(struct batch *b, int32_t record_no, enum hc_rule rule,
                      const struct hc_json_val *event_id, const struct hc_json_val *kind)
{
    struct hc_buf *q = &b->quar;
    struct hc_json_val none = {NULL, 0, HC_JSON_ABSENT};

    if (hc_buf_add_i64(q, b->file_id) || hc_buf_addc(q, '\t') || hc_buf_add_i64(q, record_no) ||
        hc_buf_addc(q, '\t') || hc_buf_adds(q, hc_rule_name(rule)) || hc_buf_addc(q, '\t') ||
        hc_copy_text(q, event_id->type == HC_JSON_STRING ? event_id : &none) ||
        hc_buf_addc(q, '\t') || hc_copy_text(q, kind) || hc_buf_addc(q, '\n'))
        return -ENOMEM;
    return 0;
}

/* A timestamptz COPY field for us, or \N. */
static int ts_field(struct hc_buf *out, int has, int64_t us)
{
    char t[HC_TS_STRLEN];

    if (!has)
        return hc_buf_add(out, "\\N", 2);
    return hc_buf_add(out, t, (size_t)hc_ts_format(us, t));
}

/* The file's records are all read: its watermark row, then too_late and first copies. */
static int finish_file(struct batch *b)
{
    int had = b->has_max;
    int64_t before = b->max_us, limit;

    if (!b->file_id)
        return 0;
    if (b->file_has && (!b->has_max || b->file_max > b->max_us)) {
        b->max_us = b->file_max;
        b->has_max = 1;
    }
    if (hc_buf_add_i64(&b->files, b->file_id) || hc_buf_addc(&b->files, '\t') ||
        ts_field(&b->files, b->has_max, b->max_us) || hc_buf_addc(&b->files, '\t') ||
        ts_field(&b->files, had, before - b->lateness_us) || hc_buf_addc(&b->files, '\n'))
        return -ENOMEM;
    limit = b->max_us - b->lateness_us - b->horizon_us;
    for (size_t i = 0; i < b->npend; i++) {
        const struct pend *p = &b->pend[i];
        const char *row = b->pend_rows.p + p->off, *id = row + ROW_ID_AT;
        size_t idlen = be32((const unsigned char *)row + 2);
        struct hc_buf *dst = &b->rows[p->kind];
        struct id_slot *s;
        uint64_t h;

        h = hc_hash_bytes(id, idlen);
        if ((b->nids + 1) * 2 > b->capids && id_grow(b))
            return -ENOMEM;
        s = id_find(b, id, idlen, h);
        if (p->event_us < limit) {
            struct hc_buf *q = &b->quar;
            if (s->hash && s->file_id < b->file_id)
                continue; /* a copy of an event an earlier file put in silver: a duplicate */
            if (hc_buf_add_i64(q, b->file_id) || hc_buf_addc(q, '\t') ||
                hc_buf_add_i64(q, p->record_no) || hc_buf_adds(q, "\ttoo_late\t") ||
                hc_copy_escape(q, id, idlen) || hc_buf_addc(q, '\t') ||
                hc_buf_adds(q, hc_kind_name(p->kind)) || hc_buf_addc(q, '\n'))
                return -ENOMEM;
            continue;
        }
        if (s->hash)
            continue; /* a later copy of an event this batch took */
        if ((!b->idv.len &&
             hc_buf_add(&b->idv, "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0", ID_ARRAY_HEAD)) ||
            hc_buf_add(&b->idv, row + 2, 4 + idlen) || hc_buf_add(dst, row, p->len))
            return -ENOMEM;
        s->hash = h;
        s->kind = (uint32_t)p->kind;
        s->len = (uint32_t)idlen;
        s->off = b->idv.len - idlen;
        s->file_id = b->file_id;
        b->nids++;
    }
    b->npend = 0;
    hc_buf_reset(&b->pend_rows);
    b->file_has = 0;
    return 0;
}

/* One bronze record, in file and record order. */
static int take_record(struct batch *b, int64_t file_id, int32_t record_no, const char *body,
                       size_t len)
{
    struct hc_body e;
    struct pend *p;
    int rc;

    if (file_id != b->file_id) {
        if ((rc = finish_file(b)))
            return rc;
        b->file_id = file_id;
    }
    if (hc_body_check(&e, body, len) != HC_RULE_NONE)
        return quarantine(b, record_no, e.rule, &e.event_id, &e.kind_v);
    if (b->npend == b->cappend) {
        size_t cap = b->cappend ? 2 * b->cappend : 4096;
        struct pend *np = realloc(b->pend, cap * sizeof *np);
        if (!np)
            return -ENOMEM;
        b->pend = np;
        b->cappend = cap;
    }
    p = &b->pend[b->npend++];
    p->record_no = record_no;
    p->kind = e.kind;
    p->event_us = e.event_us;
    p->off = b->pend_rows.len;
    if (hc_body_copy_binary(&e, file_id, &b->pend_rows))
        return -ENOMEM;
    p->len = b->pend_rows.len - p->off;
    if (!b->file_has || e.event_us > b->file_max)
        b->file_max = e.event_us;
    b->file_has = 1;
    return 0;
}

/*
 * The tuples of one COPY binary message (file_id int8, record_no int4, body bytea); *header
 * when the stream's header comes first. Returns 0, 1 at the trailer, or HC_E_PARSE.
 */
static int take_message(struct batch *b, const unsigned char *p, size_t n, int *header)
{
    const unsigned char *end = p + n;
    int rc;

    if (*header) {
        if (n < 19 || memcmp(p, rx_lake_copy_bin_header, 11))
            return HC_E_PARSE;
        p += 19 + be32(p + 15);
        *header = 0;
    }
    while (p < end) {
        uint32_t blen;
        if (end - p >= 2 && p[0] == 0xFF && p[1] == 0xFF)
            return 1;
        /* 3 fields: 2 + (4 + 8) + (4 + 4) + 4 bytes before the body */
        if (end - p < 26 || p[0] != 0 || p[1] != 3 || be32(p + 2) != 8 || be32(p + 14) != 4)
            return HC_E_PARSE;
        blen = be32(p + 22);
        if (blen != 0xFFFFFFFFu && (size_t)(end - p - 26) < blen)
            return HC_E_PARSE;
        rc = take_record(b, (int64_t)((uint64_t)be32(p + 6) << 32 | be32(p + 10)),
                         (int32_t)be32(p + 18), blen == 0xFFFFFFFFu ? NULL : (const char *)p + 26,
                         blen == 0xFFFFFFFFu ? 0 : blen);
        if (rc)
            return rc;
        p += 26 + (blen == 0xFFFFFFFFu ? 0 : blen);
    }
    return 0;
}

/* Read the batch's records from bronze. */
static int read_bronze(PGconn *c, struct batch *b, char *err, size_t cap)
{
    char sql[256];
    PGresult *r;
    char *msg;
    int n, header = 1, rc = 0, trailer = 0;

    snprintf(sql, sizeof sql,
             "COPY (SELECT file_id, record_no, body FROM bronze.event WHERE file_id > %" PRId64
             " AND file_id <= %" PRId64 " ORDER BY file_id, record_no) TO STDOUT (FORMAT binary)",
             b->lo, b->hi);
    r = PQexec(c, sql);
    if (PQresultStatus(r) != PGRES_COPY_OUT) {
        rx_lake_errf(c, "reading bronze", err, cap);
        PQclear(r);
        return rx_lake_failure(c);
    }
    PQclear(r);
    while ((n = PQgetCopyData(c, &msg, 0)) > 0) {
        if (!rc && !trailer) {
            rc = take_message(b, (const unsigned char *)msg, (size_t)n, &header);
            trailer = rc == 1;
            rc = rc == 1 ? 0 : rc;
        }
        PQfreemem(msg);
    }
    r = PQgetResult(c);
    if (n == -2 || PQresultStatus(r) != PGRES_COMMAND_OK) {
        rx_lake_errf(c, "reading bronze", err, cap);
        rc = rx_lake_failure(c);
    } else if (rc || (rc = finish_file(b))) {
        snprintf(err, cap, "reading bronze: %s", hc_strerror(rc));
    }
    PQclear(r);
    while ((r = PQgetResult(c)))
        PQclear(r);
    return rc;
}

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

/*
 * Drop the rows of events silver holds already: lake.known_ids on c (silver from files up to
 * b->lo; c may be the read-ahead connection, while the batch before, prev, is still being
 * written), and prev's events (NULL: none). b's rows are filtered in place; its set stays valid.
 */
static int drop_known(PGconn *c, struct batch *b, struct batch *prev, char *err, size_t cap)
{
    static const Oid types[2] = {20 /* int8 */, 1009 /* text[] */};
    static const int formats[2] = {0, 1};
    char los[24];
    const char *params[2] = {los, b->idv.p};
    int lens[2] = {0, (int)b->idv.len};
    struct hc_buf kept = HC_BUF_INIT;
    int marked[4] = {0, 0, 0, 0}, rc = 0;
    unsigned char *head = (unsigned char *)b->idv.p;
    PGresult *r;

    if (!b->nids)
        return 0;
    if (b->idv.len > INT32_MAX) {
        snprintf(err, cap, "checking known events: %zu bytes of event_ids is too many for one call",
                 b->idv.len);
        return HC_E_INVAL;
    }
    /* 1 dimension, no NULLs, text, nids elements from index 1 */
    memset(head, 0, ID_ARRAY_HEAD);
    head[3] = 1;
    head[11] = 25;
    for (int i = 0; i < 4; i++)
        head[12 + i] = (unsigned char)((uint64_t)b->nids >> (24 - 8 * i));
    head[19] = 1;
    snprintf(los, sizeof los, "%" PRId64, b->lo);
    r = PQexecParams(c, "SELECT * FROM lake.known_ids($1, $2)", 2, types, params, lens, formats, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        rx_lake_errf(c, "checking known events", err, cap);
        PQclear(r);
        return rx_lake_failure(c);
    }
    for (int i = 0; i < PQntuples(r); i++) {
        const char *id = PQgetvalue(r, i, 0);
        size_t len = (size_t)PQgetlength(r, i, 0);
        struct id_slot *s = id_find(b, id, len, hc_hash_bytes(id, len));
        if (s->hash) {
            s->known = 1;
            marked[s->kind] = 1;
        }
    }
    PQclear(r);
    for (size_t i = 0; prev && prev->nids && i < b->capids; i++) {
        struct id_slot *s = &b->ids[i];
        if (s->hash && !s->known && id_find(prev, b->idv.p + s->off, s->len, s->hash)->hash) {
            s->known = 1;
            marked[s->kind] = 1;
        }
    }
    for (int k = HC_KIND_ORDER_LINE; k <= HC_KIND_CAR_LISTING && !rc; k++) {
        const unsigned char *p = (const unsigned char *)b->rows[k].p, *end = p + b->rows[k].len;
        size_t n;
        if (!marked[k])
            continue;
        for (; p < end && !rc; p += n) {
            struct rx_col f[32];
            int nf;
            if (rx_tuple_split(p, end, f, 32, &nf, &n) || nf < 1 || f[0].len < 0) {
                rc = HC_E_PARSE;
                break;
            }
            if (!id_find(b, (const char *)f[0].p, (size_t)f[0].len,
                         hc_hash_bytes((const char *)f[0].p, (size_t)f[0].len))
                     ->known)
                rc = hc_buf_add(&kept, p, n);
        }
        if (!rc) {
            struct hc_buf t = b->rows[k];
            b->rows[k] = kept;
            kept = t;
            hc_buf_reset(&kept);
        }
    }
    hc_buf_free(&kept);
    if (rc)
        snprintf(err, cap, "dropping known events: %s", hc_strerror(rc));
    return rc;
}

/* Settle a batch read from bronze: drop the known events (drop_known), sum its order lines. */
static int settle(PGconn *c, struct batch *b, struct batch *prev, char *err, size_t cap)
{
    int rc;

    if ((rc = drop_known(c, b, prev, err, cap)))
        return rc;
    hc_buf_reset(&b->oi);
    hc_buf_reset(&b->op);
    for (int k = 0; k < 4; k++)
        hc_buf_reset(&b->latest[k]);
    /* silver.order_status: tracking_num 3, status_time 6; car_listing: listing_id 3, event_time 2
     */
    if ((rc = rx_orders_sum(b->rows[HC_KIND_ORDER_LINE].p, b->rows[HC_KIND_ORDER_LINE].len, &b->oi,
                            &b->op)) ||
        (rc = rx_latest_rows(b->rows[HC_KIND_ORDER_STATUS].p, b->rows[HC_KIND_ORDER_STATUS].len, 3,
                             6, &b->latest[HC_KIND_ORDER_STATUS])) ||
        (rc = rx_latest_rows(b->rows[HC_KIND_CAR_LISTING].p, b->rows[HC_KIND_CAR_LISTING].len, 3, 2,
                             &b->latest[HC_KIND_CAR_LISTING]))) {
        snprintf(err, cap, "summing the batch for gold: %s", hc_strerror(rc));
        return rc;
    }
    b->checked = 1;
    return 0;
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
    int has = 0, split, writing = 0, rc;
    char ignored[256];

    memset(&b, 0, sizeof b);
    if ((rc = plan(c, first, &b, &has, err, cap)))
        return rc;
    *hi = has ? b.hi : 0;
    if (ahead->hi && has && ahead->lo == b.lo && ahead->hi == b.hi && ahead->n == b.n &&
        ahead->had_max == b.had_max && ahead->max_before == b.max_before &&
        ahead->lateness_us == b.lateness_us && ahead->horizon_us == b.horizon_us) {
        int64_t split_events = b.split_events;
        b = *ahead; /* read while the batch before was promoted */
        b.split_events = split_events;
        memset(ahead, 0, sizeof *ahead);
    } else {
        batch_free(ahead);
        memset(ahead, 0, sizeof *ahead);
        if (has && (rc = read_bronze(c, &b, err, cap)))
            goto out;
    }
    if (!has)
        return 0;
    if (!b.checked && (rc = settle(c, &b, NULL, err, cap)))
        goto out;
    split = h->split && b.n >= b.split_events && (h->wr || (h->wr = connect_like(c)));
    if ((rc = stage(c, &b, !split, err, cap)) ||
        (rc = batch_after(c, b.hi, &next_hi, &next_n, err, cap)) ||
        (rc = send_staged(c, &b,
                          split      ? "none"
                          : h->merge ? "merge"
                                     : "insert",
                          err, cap)))
        goto out;
    if (split) {
        w.c = h->wr;
        w.b = &b;
        if (pthread_create(&wt, NULL, write_silver, &w)) {
            snprintf(err, cap, "starting the silver writer: %s", strerror(errno));
            rc = HC_E_INVAL;
            wait_staged(c, ignored, sizeof ignored);
            goto out;
        }
        writing = 1;
    } else {
        for (int k = 0; k < 4; k++) /* staged; the set of its events stays for the next batch */
            hc_buf_free(&b.rows[k]);
    }
    if (next_hi && (h->rd || (h->rd = connect_like(c)))) {
        /* the next batch starts where this one ends; a failure here only loses the read-ahead */
        ahead->lo = b.hi;
        ahead->hi = next_hi;
        ahead->n = next_n;
        ahead->has_max = ahead->had_max = b.has_max;
        ahead->max_us = ahead->max_before = b.max_us;
        ahead->lateness_us = b.lateness_us;
        ahead->horizon_us = b.horizon_us;
        /* checked there too, unless this transaction holds silver locked (a rebuild's) */
        if (read_bronze(h->rd, ahead, err, cap) || (h->own && settle(h->rd, ahead, &b, err, cap))) {
            batch_free(ahead);
            memset(ahead, 0, sizeof *ahead);
            err[0] = '\0';
        }
    }
    if (writing) {
        pthread_join(wt, NULL);
        if (w.rc) {
            /* gold must not commit without silver: the caller rolls back; what the writer
             * committed is this batch's own, and the next attempt keeps it (lake.known_ids) */
            snprintf(err, cap, "writing silver: %s", w.err);
            wait_staged(c, ignored, sizeof ignored);
            PQfinish(h->wr);
            h->wr = NULL;
            rc = w.rc;
            goto out;
        }
        fault_after_silver();
    }
    if (!(rc = wait_staged(c, err, cap)))
        rc = note_freshness(c, &b, err, cap);
out:
    batch_free(&b);
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
    batch_free(&ahead);
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
