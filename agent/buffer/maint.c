/* maint.c - what happens to buffered events after the put: ack, dead letters, replay, pruning. */
#include "agent/buffer/queue_int.h"
#include "common/error.h"
#include "common/hctime.h"

#include <errno.h>
#include <string.h>

#define REPLAY_CHUNK 1000 /* replayed events per commit: bounds the txn's dirty pages */

/* Count the queued records with seq <= through, and their bytes. */
static int count_through(struct ag_txn *t, uint64_t through, uint64_t *n, uint64_t *bytes)
{
    MDB_val k, v;
    MDB_cursor *c;
    int rc;

    *n = *bytes = 0;
    rc = mdb_cursor_open(t->txn, t->q->db_events, &c);
    if (rc)
        return ag_queue__err(rc);
    for (rc = ag_queue__seek(c, t->st.cursor, &k, &v, NULL); !rc && ag_queue__seq(&k) <= through;
         rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
        (*n)++;
        *bytes += v.mv_size;
    }
    mdb_cursor_close(c);
    t->walked += *bytes;
    return rc && rc != MDB_NOTFOUND ? ag_queue__err(rc) : 0;
}

/*
 * Clear reader slots of processes that died (a `status` killed while `run` goes on): a stale slot
 * would keep old pages from being reused, and the file would grow. Open does it too.
 */
static void reader_check(struct ag_queue *q)
{
    int dead;
    if (q)
        mdb_reader_check(q->env, &dead);
}

int ag_queue_ack(struct ag_queue *q, uint64_t through)
{
    struct ag_txn *t;
    struct ag_state *st;
    uint64_t n, bytes;
    int rc;

    reader_check(q);
    rc = ag_queue_begin(q, &t);
    if (rc)
        return rc;
    st = &t->st;
    if (through >= st->next_seq) {
        rc = HC_E_INVAL; /* never assigned */
        goto out_abort_txn;
    }
    if (through >= st->cursor) {
        rc = count_through(t, through, &n, &bytes);
        if (rc)
            goto out_abort_txn;
        st->queued = st->queued > n ? st->queued - n : 0;
        st->queued_bytes = st->queued_bytes > bytes ? st->queued_bytes - bytes : 0;
        st->retained += n;
        st->retained_bytes += bytes;
        st->ctr[AG_CTR_SHIPPED] += n;
        st->cursor = through + 1;
    }
    rc = ag_queue__prune(t, 0, hc_now_ms());
    if (rc)
        goto out_abort_txn;
    return ag_txn_commit(t);
out_abort_txn:
    ag_txn_abort(t);
    return rc;
}

int ag_queue_prune(struct ag_queue *q)
{
    struct ag_txn *t;
    int rc;

    reader_check(q);
    rc = ag_queue_begin(q, &t);
    if (rc)
        return rc;
    rc = ag_queue__prune(t, 0, hc_now_ms());
    if (rc) {
        ag_txn_abort(t);
        return rc;
    }
    return ag_txn_commit(t);
}

/* Bytes of reason to keep: at most AG_REASON_MAX, not cutting a UTF-8 sequence. */
static size_t reason_len(const char *reason)
{
    size_t n = reason ? strlen(reason) : 0;
    if (n <= AG_REASON_MAX)
        return n;
    n = AG_REASON_MAX;
    while (n && ((unsigned char)reason[n] & 0xc0) == 0x80)
        n--;
    return n;
}

/* Put a copy of the record rec (size bytes) with reason into the dead DB under key k. */
static int put_dead(struct ag_txn *t, MDB_val *k, const uint8_t *rec, size_t size,
                    const char *reason)
{
    size_t rlen = reason_len(reason);
    MDB_val v = {size + rlen + 1, NULL};
    uint8_t *p;
    int rc = mdb_put(t->txn, t->q->db_dead, k, &v, MDB_RESERVE);
    if (rc) {
        t->failed = ag_queue__err(rc);
        return t->failed;
    }
    p = v.mv_data;
    memcpy(p, rec, size);
    if (rlen)
        memcpy(p + size, reason, rlen);
    p[size + rlen] = '\0';
    p[3] |= AG_REC_F_REASON;
    ag_queue__rec_seal(p, v.mv_size);
    return 0;
}

/* In t: move queued record seq to the dead DB. HC_E_CORRUPT when it was set aside instead. */
static int dead_letter(struct ag_txn *t, uint64_t seq, const char *reason)
{
    struct ag_queue *q = t->q;
    struct ag_rec_view r;
    uint8_t key[8];
    MDB_val k = {sizeof key, key}, v;
    int rc;

    ag_queue__key(seq, key);
    rc = mdb_get(t->txn, q->db_events, &k, &v);
    if (rc)
        return ag_queue__err(rc);
    if (seq < t->st.cursor)
        return HC_E_NOTFOUND; /* shipped already: not queued */
    if (ag_queue__rec_read(v.mv_data, v.mv_size, &r)) {
        rc = ag_queue__move_aside(t, q->db_events, seq, &v);
        return rc ? rc : HC_E_CORRUPT;
    }
    /* The reserve below may move pages: work from a copy. */
    hc_buf_reset(&q->copy);
    if (hc_buf_add(&q->copy, v.mv_data, v.mv_size))
        return -ENOMEM;
    rc = put_dead(t, &k, (const uint8_t *)q->copy.p, q->copy.len, reason);
    if (rc)
        return rc;
    rc = mdb_del(t->txn, q->db_events, &k, NULL);
    if (rc) {
        t->failed = ag_queue__err(rc);
        return t->failed;
    }
    ag_queue__forget(t, seq, q->copy.len);
    t->st.ctr[AG_CTR_DEAD]++;
    return 0;
}

int ag_queue_dead_letter(struct ag_queue *q, uint64_t seq, const char *reason)
{
    struct ag_txn *t;
    int rc = ag_queue_begin(q, &t), crc;
    if (rc)
        return rc;
    rc = dead_letter(t, seq, reason);
    if (rc && rc != HC_E_CORRUPT) {
        ag_txn_abort(t);
        return rc;
    }
    crc = ag_txn_commit(t);
    return crc ? crc : rc;
}

int ag_queue_set_aside(struct ag_queue *q, uint64_t seq)
{
    struct ag_txn *t;
    uint8_t key[8];
    MDB_val k = {sizeof key, key}, v;
    MDB_dbi db;
    int rc;

    rc = ag_queue_begin(q, &t);
    if (rc)
        return rc;
    ag_queue__key(seq, key);
    db = q->db_events;
    rc = mdb_get(t->txn, db, &k, &v);
    if (rc == MDB_NOTFOUND) {
        db = q->db_dead;
        rc = mdb_get(t->txn, db, &k, &v);
    }
    rc = ag_queue__err(rc);
    if (!rc)
        rc = ag_queue__move_aside(t, db, seq, &v);
    if (rc) {
        ag_txn_abort(t);
        return rc;
    }
    return ag_txn_commit(t);
}

/*
 * One txn of replay: copy retained records with seq in [*from, hi) enqueued within
 * [since, until] to the tail, at most REPLAY_CHUNK of them. *from moves past what was visited;
 * *more is set when the chunk ended before hi.
 */
static int replay_chunk(struct ag_txn *t, uint64_t *from, uint64_t hi, int64_t since, int64_t until,
                        uint64_t *count, int *more)
{
    struct ag_queue *q = t->q;
    struct ag_rec_view r;
    uint8_t *dst;
    MDB_val k, v;
    MDB_cursor *c;
    int64_t now = hc_now_ms();
    int rc;

    *count = 0;
    *more = 0;
    rc = mdb_cursor_open(t->txn, q->db_events, &c);
    if (rc)
        return ag_queue__err(rc);
    for (;;) {
        uint64_t seq;
        /* Seek again every time: a put may prune records ahead of us. */
        if ((rc = ag_queue__seek(c, *from, &k, &v, &seq)))
            break;
        if (!seq || seq >= hi)
            break;
        *from = seq + 1;
        t->walked += v.mv_size;
        if (ag_queue__rec_read(v.mv_data, v.mv_size, &r)) {
            rc = ag_queue__move_aside(t, q->db_events, seq, &v);
            if (rc)
                goto out_close;
            continue;
        }
        if (r.enqueued_ms < since || r.enqueued_ms > until)
            continue;
        if (*count == REPLAY_CHUNK) {
            *from = seq;
            *more = 1;
            break;
        }
        /* The same record with a new enqueue time; q->json is free during a replay. */
        hc_buf_reset(&q->json);
        if (hc_buf_add(&q->json, v.mv_data, v.mv_size)) {
            rc = -ENOMEM;
            goto out_close;
        }
        ag_queue__rec_set_enqueued((uint8_t *)q->json.p, q->json.len, now);
        rc = ag_queue__reserve(t, q->json.len, &dst);
        if (rc)
            goto out_close;
        memcpy(dst, q->json.p, q->json.len);
        (*count)++;
    }
    rc = rc == MDB_NOTFOUND ? 0 : ag_queue__err(rc);
out_close:
    mdb_cursor_close(c);
    return rc;
}

int ag_queue_replay(struct ag_queue *q, int64_t since_ms, int64_t until_ms, uint64_t *n)
{
    uint64_t from = 1, hi = 0, done = 0, count;
    int rc, more, full = 0;

    if (n)
        *n = 0;
    if (since_ms > until_ms)
        return HC_E_INVAL;
    do {
        struct ag_txn *t;
        rc = ag_queue_begin(q, &t);
        if (rc)
            return rc;
        if (!hi)
            hi = t->st.cursor; /* retained when the replay started; copies land above */
        rc = replay_chunk(t, &from, hi, since_ms, until_ms, &count, &more);
        if (rc == HC_E_FULL) {
            full = 1;
            more = 0;
            rc = 0;
        }
        if (rc) {
            ag_txn_abort(t);
            return rc;
        }
        t->st.ctr[AG_CTR_REPLAYED] += count;
        rc = ag_txn_commit(t);
        if (rc)
            return rc;
        done += count;
        if (n)
            *n = done;
    } while (more);
    return full ? HC_E_FULL : 0;
}
