/* iter.c - reading the buffer: iterators over a scope, and stats. */
#include "agent/buffer/queue_int.h"
#include "common/error.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct ag_iter {
    struct ag_queue *q;
    MDB_txn *txn;
    MDB_cursor *cur;
    uint64_t lo, hi; /* seqs in [lo, hi) */
    int dead;        /* iterating the dead-letter DB */
    int started, done;
    uint64_t read_bytes;
};

int ag_iter_open(struct ag_queue *q, enum ag_scope scope, uint64_t from, struct ag_iter **out)
{
    struct ag_state st;
    struct ag_iter *it;
    int rc;

    if (!out)
        return HC_E_INVAL;
    *out = NULL;
    if (!q || (int)scope < AG_SCOPE_QUEUED || scope > AG_SCOPE_DEAD)
        return HC_E_INVAL;
    it = calloc(1, sizeof *it);
    if (!it)
        return -ENOMEM;
    it->q = q;
    rc = ag_queue__rdtxn(q, &it->txn);
    if (rc)
        goto out_free;
    rc = ag_queue__load_state(q, it->txn, &st);
    if (rc)
        goto out_abort_txn;
    it->lo = from;
    it->hi = UINT64_MAX;
    if (scope == AG_SCOPE_QUEUED && it->lo < st.cursor)
        it->lo = st.cursor;
    if (scope == AG_SCOPE_RETAINED)
        it->hi = st.cursor;
    it->dead = scope == AG_SCOPE_DEAD;
    rc = ag_queue__err(mdb_cursor_open(it->txn, it->dead ? q->db_dead : q->db_events, &it->cur));
    if (rc)
        goto out_abort_txn;
    *out = it;
    return 0;
out_abort_txn:
    mdb_txn_abort(it->txn);
out_free:
    free(it);
    return rc;
}

static void fill(struct ag_record *rec, const struct ag_rec_view *r, int dead)
{
    rec->enqueued_ms = r->enqueued_ms;
    rec->ev = r->ev;
    rec->json = r->json;
    rec->json_len = r->json_len;
    rec->reason = dead ? (r->reason ? r->reason : "") : NULL;
}

int ag_iter_next(struct ag_iter *it, struct ag_record *rec)
{
    struct ag_rec_view r;
    MDB_val k, v;
    uint64_t seq;
    int rc;

    if (!it || !rec)
        return HC_E_INVAL;
    memset(rec, 0, sizeof *rec);
    if (it->done)
        return HC_E_NOTFOUND;
    if (it->started) {
        rc = mdb_cursor_get(it->cur, &k, &v, MDB_NEXT);
    } else {
        rc = ag_queue__seek(it->cur, it->lo, &k, &v, NULL);
        it->started = 1;
    }
    seq = rc ? 0 : ag_queue__seq(&k);
    if (rc || seq >= it->hi) {
        it->done = 1;
        return rc && rc != MDB_NOTFOUND ? ag_queue__err(rc) : HC_E_NOTFOUND;
    }
    rec->seq = seq;
    it->read_bytes += v.mv_size;
    if (!seq || ag_queue__rec_read(v.mv_data, v.mv_size, &r))
        return HC_E_CORRUPT;
    fill(rec, &r, it->dead);
    return 0;
}

void ag_iter_close(struct ag_iter *it)
{
    if (!it)
        return;
    mdb_cursor_close(it->cur);
    mdb_txn_abort(it->txn);
    ag_queue__touched(it->q, it->read_bytes);
    free(it);
}

static int db_entries(MDB_txn *txn, MDB_dbi db, uint64_t *n)
{
    MDB_stat ms;
    int rc = mdb_stat(txn, db, &ms);
    *n = rc ? 0 : ms.ms_entries;
    return ag_queue__err(rc);
}

/* Times of the first queued record (0 when none or unreadable). */
static int oldest_queued(struct ag_queue *q, MDB_txn *txn, uint64_t cursor,
                         struct ag_queue_stats *out)
{
    struct ag_rec_view r;
    MDB_val k, v;
    MDB_cursor *c;
    int rc = mdb_cursor_open(txn, q->db_events, &c);
    if (rc)
        return ag_queue__err(rc);
    rc = ag_queue__seek(c, cursor, &k, &v, NULL);
    if (!rc && !ag_queue__rec_read(v.mv_data, v.mv_size, &r)) {
        out->oldest_queued_ms = r.ev.event_time_ms;
        out->oldest_enqueued_ms = r.enqueued_ms;
    }
    mdb_cursor_close(c);
    return rc && rc != MDB_NOTFOUND ? ag_queue__err(rc) : 0;
}

int ag_queue_stats(struct ag_queue *q, struct ag_queue_stats *out)
{
    struct ag_state st;
    MDB_txn *txn;
    int rc;

    if (!q || !out)
        return HC_E_INVAL;
    memset(out, 0, sizeof *out);
    rc = ag_queue__rdtxn(q, &txn);
    if (rc)
        return rc;
    rc = ag_queue__load_state(q, txn, &st);
    if (!rc)
        rc = db_entries(txn, q->db_dead, &out->dead);
    if (!rc)
        rc = db_entries(txn, q->db_corrupt, &out->corrupt_held);
    if (!rc && st.queued)
        rc = oldest_queued(q, txn, st.cursor, out);
    if (!rc)
        rc = ag_queue__disk_cap_get(q, txn, &out->disk_cap, &out->disk_full_since_ms);
    mdb_txn_abort(txn);
    if (rc)
        return rc;
    out->queued = st.queued;
    out->queued_bytes = st.queued_bytes;
    out->retained = st.retained;
    out->retained_bytes = st.retained_bytes;
    out->cursor = st.cursor;
    out->next_seq = st.next_seq;
    out->max_bytes = q->o.max_bytes;
    memcpy(out->counters, st.ctr, sizeof out->counters);
    return 0;
}
