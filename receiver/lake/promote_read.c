/*
 * promote_read.c - a promotion's batch read from bronze (COPY out, binary): each body checked once
 * (common/rules.h), the valid records of a file held until its greatest event time is known, then
 * too_late decided and the first copy of each event taken into its kind's rows (promote_int.h).
 */
#include "receiver/lake/promote_int.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/rules.h"
#include "receiver/lake/db.h"

/* Free b's buffers (its range and carried state stay); b can be freed again. */
void rx_promote__batch_free(struct batch *b)
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
struct id_slot *rx_promote__id_find(struct batch *b, const char *p, size_t n, uint64_t h)
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
        s = rx_promote__id_find(b, id, idlen, h);
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
int rx_promote__read_bronze(PGconn *c, struct batch *b, char *err, size_t cap)
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
