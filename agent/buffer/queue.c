/*
 * queue.c - the buffer's write transactions, puts, the cap and meta values.
 *
 * One write transaction at a time exists in the environment (LMDB's writer lock, shared by
 * threads and processes). Everything a write changes, including the accounting and counters in
 * the "ag.state" meta blob, is written in that transaction, so a crash at any point leaves the
 * buffer as of the last commit. Opening is in open.c, the map's resident pages in pages.c, the
 * cap learned from a full disk in diskcap.c.
 */
#include "agent/buffer/queue_int.h"
#include "common/error.h"
#include "common/hctime.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define TRIM_EVERY 4 /* commits between drops of the map's resident pages */

static const char *const ctr_names[AG_CTR_COUNT] = {
    [AG_CTR_ENQUEUED] = "enqueued", [AG_CTR_SHIPPED] = "shipped",   [AG_CTR_DROPPED] = "dropped",
    [AG_CTR_REJECTED] = "rejected", [AG_CTR_CORRUPT] = "corrupt",   [AG_CTR_DEAD] = "dead",
    [AG_CTR_EXPIRED] = "expired",   [AG_CTR_REPLAYED] = "replayed", [AG_CTR_RETRIED] = "retried",
    [AG_CTR_FULL] = "full",
};

const char *ag_counter_name(enum ag_counter c)
{
    if ((int)c < 0 || c >= AG_CTR_COUNT)
        return "unknown";
    return ctr_names[c];
}

int ag_queue__err(int rc)
{
    switch (rc) {
    case MDB_SUCCESS:
        return 0;
    case MDB_NOTFOUND:
        return HC_E_NOTFOUND;
    case MDB_MAP_FULL:
        return HC_E_MAPFULL;
    case MDB_KEYEXIST: /* an append under a seq already used: the state is wrong */
    case MDB_PAGE_NOTFOUND:
    case MDB_CORRUPTED:
    case MDB_INVALID:
        return HC_E_CORRUPT;
    case MDB_VERSION_MISMATCH:
    case MDB_INCOMPATIBLE:
        return HC_E_VERSION;
    case MDB_READERS_FULL:
        return -EBUSY;
    case MDB_TXN_FULL:
        return HC_E_TOOBIG;
    case MDB_PANIC:
        return -EIO;
    case ENOSPC:
    case EDQUOT:
        return HC_E_DISKFULL;
    case MDB_MAP_RESIZED:
        return HC_E_RETRY;
    default:
        /* The remaining MDB_* codes are misuse (bad dbi, bad txn, sizes): a bug here. */
        return rc > 0 ? -rc : HC_E_INVAL;
    }
}

/*
 * A txn of q's env. When another process grew the map past ours, LMDB asks us to adopt its size
 * (MDB_MAP_RESIZED); that remaps, which LMDB allows only while this process has no other txn
 * open: it happens only when processes open one buffer with different max_bytes.
 */
int ag_queue__begin_txn(struct ag_queue *q, unsigned flags, MDB_txn **out)
{
    int rc = mdb_txn_begin(q->env, NULL, flags, out);
    if (rc != MDB_MAP_RESIZED)
        return ag_queue__err(rc);
    pthread_mutex_lock(&q->map_lock);
    rc = mdb_env_set_mapsize(q->env, 0);
    q->map_start = NULL; /* the map moved: never madvise the old range */
    q->map_len = 0;
    pthread_mutex_unlock(&q->map_lock);
    if (!rc)
        rc = mdb_txn_begin(q->env, NULL, flags, out);
    if (!rc)
        ag_queue__map_probe(q, *out);
    return ag_queue__err(rc);
}

int ag_queue__rdtxn(struct ag_queue *q, MDB_txn **out)
{
    return ag_queue__begin_txn(q, MDB_RDONLY, out);
}

int ag_queue__load_state(struct ag_queue *q, MDB_txn *txn, struct ag_state *st)
{
    MDB_val k = {sizeof AG_META_STATE - 1, (void *)AG_META_STATE}, v;
    int rc = mdb_get(txn, q->db_meta, &k, &v);
    if (rc == MDB_NOTFOUND)
        return HC_E_CORRUPT;
    if (rc)
        return ag_queue__err(rc);
    return ag_queue__state_get(v.mv_data, v.mv_size, st);
}

int ag_queue__store_state(struct ag_queue *q, MDB_txn *txn, const struct ag_state *st)
{
    uint8_t blob[AG_STATE_BYTES];
    MDB_val k = {sizeof AG_META_STATE - 1, (void *)AG_META_STATE}, v = {sizeof blob, blob};
    ag_queue__state_put(st, blob);
    return ag_queue__err(mdb_put(txn, q->db_meta, &k, &v, 0));
}

static void le64_put(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t le64_get(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

/* A u64 (and more) stored under a reserved meta key: HC_E_NOTFOUND when absent or short. */
int ag_queue__meta_u64s(struct ag_queue *q, MDB_txn *txn, const char *key, uint64_t *out, int n)
{
    MDB_val k = {strlen(key), (void *)key}, v;
    int rc = mdb_get(txn, q->db_meta, &k, &v);
    if (rc)
        return ag_queue__err(rc);
    if (v.mv_size != 8 * (size_t)n)
        return HC_E_NOTFOUND;
    for (int i = 0; i < n; i++)
        out[i] = le64_get((const uint8_t *)v.mv_data + 8 * i);
    return 0;
}

/* Store n u64 under key; n == 0 deletes it. An LMDB error code. */
int ag_queue__meta_u64s_put(struct ag_queue *q, MDB_txn *txn, const char *key, const uint64_t *in,
                            int n)
{
    uint8_t b[16];
    MDB_val k = {strlen(key), (void *)key}, v = {8 * (size_t)n, b};
    int rc;
    if (!n) {
        rc = mdb_del(txn, q->db_meta, &k, NULL);
        return rc == MDB_NOTFOUND ? 0 : rc;
    }
    for (int i = 0; i < n; i++)
        le64_put(b + 8 * i, in[i]);
    return mdb_put(txn, q->db_meta, &k, &v, 0);
}
/* ---- write transactions ------------------------------------------------------------------ */

int ag_queue__txn_fail(struct ag_txn *t, int mdb_rc)
{
    t->failed = ag_queue__err(mdb_rc);
    return t->failed;
}

int ag_queue_begin(struct ag_queue *q, struct ag_txn **out)
{
    struct ag_txn *t;
    MDB_envinfo info;
    int rc;

    if (!out)
        return HC_E_INVAL;
    *out = NULL;
    if (!q)
        return HC_E_INVAL;
    if (q->o.readonly)
        return -EROFS;
    t = calloc(1, sizeof *t);
    if (!t)
        return -ENOMEM;
    t->q = q;
    rc = ag_queue__begin_txn(q, 0, &t->txn);
    if (rc)
        goto out_free;
    rc = ag_queue__load_state(q, t->txn, &t->st);
    if (!rc)
        rc = ag_queue__err(mdb_cursor_open(t->txn, q->db_events, &t->cur));
    if (rc)
        goto out_abort_txn;
    /* Pages in use by the last commit: this txn's new pages come on top (or from the free list). */
    mdb_env_info(q->env, &info);
    t->map_used = ((uint64_t)info.me_last_pgno + 1) * q->psize;
    t->st0 = t->st;
    ag_queue__disk_watch(t);
    *out = t;
    return 0;
out_abort_txn:
    mdb_txn_abort(t->txn);
out_free:
    free(t);
    return rc;
}

static uint64_t sat_sub(uint64_t a, uint64_t b)
{
    return a > b ? a - b : 0;
}

void ag_queue__forget(struct ag_txn *t, uint64_t seq, uint64_t size)
{
    struct ag_state *st = &t->st;
    if (seq < st->cursor) {
        st->retained = sat_sub(st->retained, 1);
        st->retained_bytes = sat_sub(st->retained_bytes, size);
    } else {
        st->queued = sat_sub(st->queued, 1);
        st->queued_bytes = sat_sub(st->queued_bytes, size);
    }
}

int ag_queue__move_aside(struct ag_txn *t, MDB_dbi db, uint64_t seq, const MDB_val *v)
{
    struct ag_queue *q = t->q;
    uint8_t key[8];
    MDB_val k = {sizeof key, key}, copy;
    int rc;

    /* v may live in a page the put below moves: copy it out first. */
    hc_buf_reset(&q->copy);
    if (hc_buf_add(&q->copy, v->mv_data, v->mv_size))
        return -ENOMEM;
    copy.mv_size = q->copy.len;
    copy.mv_data = q->copy.p;
    ag_queue__key(seq, key);
    rc = mdb_put(t->txn, q->db_corrupt, &k, &copy, 0);
    if (!rc)
        rc = mdb_del(t->txn, db, &k, NULL);
    if (rc)
        return ag_queue__txn_fail(t, rc);
    if (db == q->db_events)
        ag_queue__forget(t, seq, copy.mv_size);
    t->st.ctr[AG_CTR_CORRUPT]++;
    return 0;
}

static int expired(struct ag_txn *t, uint64_t need, int64_t now, const MDB_val *v, int *corrupt)
{
    const struct ag_queue_opts *o = &t->q->o;
    struct ag_rec_view r;

    *corrupt = 0;
    /* need 0: only over the cap (a disk cap learned below what is stored) */
    if (ag_queue__stored(&t->st) + need > ag_queue__cap(t->q) || !o->retention_ms ||
        t->st.retained_bytes > o->retention_bytes)
        return 1;
    if (ag_queue__rec_read(v->mv_data, v->mv_size, &r)) {
        *corrupt = 1;
        return 1;
    }
    return now - r.enqueued_ms > o->retention_ms;
}

int ag_queue__prune(struct ag_txn *t, uint64_t need, int64_t now)
{
    MDB_cursor *c;
    MDB_val k, v;
    int rc, corrupt;

    rc = mdb_cursor_open(t->txn, t->q->db_events, &c);
    if (rc)
        return ag_queue__txn_fail(t, rc);
    /* Oldest first; each round starts again at the first record, as the last one is gone. */
    while (!(rc = mdb_cursor_get(c, &k, &v, MDB_FIRST))) {
        uint64_t seq = ag_queue__seq(&k);
        t->walked += v.mv_size;
        if (seq >= t->st.cursor || !expired(t, need, now, &v, &corrupt))
            break;
        if (corrupt) {
            rc = ag_queue__move_aside(t, t->q->db_events, seq, &v);
            if (rc)
                break;
            continue;
        }
        rc = mdb_cursor_del(c, 0);
        if (rc)
            break;
        ag_queue__forget(t, seq, v.mv_size);
        t->st.ctr[AG_CTR_EXPIRED]++;
    }
    mdb_cursor_close(c);
    if (rc == MDB_NOTFOUND)
        return 0;
    return rc < 0 ? rc : rc ? ag_queue__txn_fail(t, rc) : 0;
}

/* Policy drop-oldest: delete queued events from the cursor on until need fits under the cap. */
int ag_queue__drop_oldest(struct ag_txn *t, uint64_t need)
{
    struct ag_state *st = &t->st;
    MDB_cursor *c;
    MDB_val k, v;
    int rc;

    rc = mdb_cursor_open(t->txn, t->q->db_events, &c);
    if (rc)
        return ag_queue__txn_fail(t, rc);
    while (ag_queue__stored(st) + need > ag_queue__cap(t->q)) {
        uint64_t seq;
        if ((rc = ag_queue__seek(c, st->cursor, &k, &v, &seq)))
            break;
        t->walked += v.mv_size;
        rc = mdb_cursor_del(c, 0);
        if (rc)
            break;
        ag_queue__forget(t, seq, v.mv_size);
        st->ctr[AG_CTR_DROPPED]++;
        st->cursor = seq + 1; /* what is left of the queue starts after it */
    }
    mdb_cursor_close(c);
    if (rc == MDB_NOTFOUND)
        return 0;
    return rc ? ag_queue__txn_fail(t, rc) : 0;
}

/* Room for size more bytes under the cap: retained events go first, then the policy applies. */
static int make_room(struct ag_txn *t, uint64_t size)
{
    const struct ag_queue_opts *o = &t->q->o;
    uint64_t cap;
    int rc;

    ag_queue__disk_relax(t->q);
    cap = ag_queue__cap(t->q);
    if (ag_queue__stored(&t->st) + size <= cap)
        return 0;
    rc = ag_queue__prune(t, size, hc_now_ms());
    if (rc || ag_queue__stored(&t->st) + size <= cap)
        return rc;
    if (o->policy == AG_FULL_DROP_OLDEST) {
        rc = ag_queue__drop_oldest(t, size);
        if (rc || ag_queue__stored(&t->st) + size <= cap)
            return rc;
    }
    t->st.ctr[AG_CTR_FULL]++;
    return HC_E_FULL;
}

int ag_queue__reserve(struct ag_txn *t, size_t size, uint8_t **out)
{
    struct ag_queue *q = t->q;
    uint8_t key[8];
    MDB_val k = {sizeof key, key}, v = {size, NULL};
    int rc;

    if (size > q->o.max_bytes)
        return HC_E_TOOBIG;
    /*
     * MDB_MAP_FULL would fail the whole txn: when this txn's pages (at worst twice its bytes, on
     * top of what the file already uses) might not fit the map, refuse the put so the caller can
     * commit what the txn holds. A txn's first put is always tried.
     */
    if (t->txn_bytes && t->map_used + (t->txn_bytes + size) * 2 + AG_TXN_SLACK > q->mapsize) {
        t->st.ctr[AG_CTR_FULL]++;
        return HC_E_FULL;
    }
    rc = make_room(t, size);
    if (rc)
        return rc;
    ag_queue__key(t->st.next_seq, key);
    rc = mdb_cursor_put(t->cur, &k, &v, MDB_APPEND | MDB_RESERVE);
    if (rc)
        return ag_queue__txn_fail(t, rc);
    *out = v.mv_data;
    t->st.next_seq++;
    t->st.queued++;
    t->st.queued_bytes += size;
    t->txn_bytes += size;
    return 0;
}

/*
 * Enqueue time: the coarse wall clock (a few ms of resolution, but a memory read, where a precise
 * clock_gettime costs 100 ns on some VMs: a tenth of a put). UUIDv7 ids stay strictly increasing
 * (the generator counts within a millisecond).
 */
static int64_t enqueue_clock_ms(void)
{
#ifdef CLOCK_REALTIME_COARSE
    struct timespec ts;
    if (!clock_gettime(CLOCK_REALTIME_COARSE, &ts))
        return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
#endif
    return hc_now_ms();
}

int ag_txn_put(struct ag_txn *t, const struct hc_event *ev)
{
    struct ag_queue *q;
    struct hc_event e;
    uint8_t *rec;
    size_t jlen;
    int64_t now;
    int rc;

    if (!t || !ev || (int)ev->kind <= HC_KIND_UNKNOWN || ev->kind >= HC_KIND_COUNT)
        return HC_E_INVAL;
    /* Times that would overflow the date arithmetic (and are no dates anyway). */
    if (ev->event_time_ms > INT64_MAX / 2 || ev->event_time_ms < -(INT64_MAX / 2))
        return HC_E_INVAL;
    if (t->failed)
        return t->failed;
    q = t->q;
    e = *ev;
    rc = hc_event_encoded_len(&e, &jlen);
    if (rc)
        return rc;
    now = enqueue_clock_ms();
    if (hc_uuid_is_nil(e.id))
        hc_uuid7_next(&q->gen, now, e.id);
    rc = ag_queue__reserve(t, ag_queue__rec_size(&e, jlen), &rec);
    if (rc)
        return rc;
    /* Straight into the page LMDB reserved: no copy of the envelope on the way. */
    hc_event_encode_to(&e, ag_queue__rec_json(rec, &e));
    ag_queue__rec_write(rec, &e, now, jlen);
    t->st.ctr[AG_CTR_ENQUEUED]++;
    memcpy(t->last_id, e.id, sizeof t->last_id);
    return 0;
}

const uint8_t *ag_txn_last_id(const struct ag_txn *t)
{
    return t ? t->last_id : NULL;
}

/* A meta key callers may write: not empty, not "ag.", within LMDB's key limit. */
static int user_key(struct ag_txn *t, const char *key, MDB_val *k)
{
    if (!t || !key)
        return HC_E_INVAL;
    if (t->failed)
        return t->failed;
    k->mv_size = strlen(key);
    k->mv_data = (void *)key;
    if (!k->mv_size || !strncmp(key, "ag.", 3))
        return HC_E_INVAL;
    if (k->mv_size > (size_t)mdb_env_get_maxkeysize(t->q->env))
        return HC_E_TOOBIG;
    return 0;
}

int ag_txn_meta_put(struct ag_txn *t, const char *key, const void *val, size_t len)
{
    MDB_val k, v = {len, (void *)val};
    int rc = user_key(t, key, &k);
    if (rc)
        return rc;
    if (!val && len)
        return HC_E_INVAL;
    rc = mdb_put(t->txn, t->q->db_meta, &k, &v, 0);
    return rc ? ag_queue__txn_fail(t, rc) : 0;
}

int ag_txn_meta_del(struct ag_txn *t, const char *key)
{
    MDB_val k;
    int rc = user_key(t, key, &k);
    if (rc)
        return rc;
    rc = mdb_del(t->txn, t->q->db_meta, &k, NULL);
    if (rc == MDB_NOTFOUND)
        return 0;
    return rc ? ag_queue__txn_fail(t, rc) : 0;
}

int ag_txn_count(struct ag_txn *t, enum ag_counter c, uint64_t n)
{
    if (!t || (int)c < 0 || c >= AG_CTR_COUNT)
        return HC_E_INVAL;
    t->st.ctr[c] += n;
    return 0;
}

int ag_txn_commit(struct ag_txn *t)
{
    struct ag_queue *q;
    uint64_t stored0, txn_bytes;
    int rc;

    if (!t)
        return HC_E_INVAL;
    q = t->q;
    stored0 = ag_queue__stored(&t->st0);
    txn_bytes = t->txn_bytes;
    rc = ag_queue__txn_commit(t);
    if (rc == HC_E_DISKFULL)
        ag_queue__disk_full(q, stored0, txn_bytes);
    return rc;
}

/* ag_txn_commit without learning from a full disk. */
int ag_queue__txn_commit(struct ag_txn *t)
{
    struct ag_queue *q = t->q;
    int rc, trim, dirty = q->disk_dirty;

    rc = t->failed;
    if (!rc)
        rc = ag_queue__store_disk_cap(t);
    if (!rc && memcmp(&t->st, &t->st0, sizeof t->st))
        rc = ag_queue__store_state(q, t->txn, &t->st);
    if (rc) {
        ag_txn_abort(t);
        return rc;
    }
    /* Still under the writer lock: since_trim is the writers' alone. */
    trim = ++q->since_trim >= TRIM_EVERY;
    if (trim)
        q->since_trim = 0;
    /* On failure LMDB aborts the txn itself: nothing of it is stored. */
    rc = mdb_txn_commit(t->txn);
    if (rc)
        rc = ag_queue__commit_error(q, rc, t->txn_bytes);
    else if (dirty)
        q->disk_dirty = 0;
    if (!rc)
        q->last_txn_bytes = t->txn_bytes;
    if (trim) {
        atomic_store(&q->touched, 0);
        ag_queue__trim(q);
    } else {
        ag_queue__touched(q, t->txn_bytes + t->walked);
    }
    free(t);
    return rc;
}

void ag_txn_abort(struct ag_txn *t)
{
    if (!t)
        return;
    mdb_txn_abort(t->txn);
    free(t);
}

int ag_queue_meta_get(struct ag_queue *q, const char *key, void *val, size_t cap, size_t *len)
{
    MDB_txn *txn;
    MDB_val k, v;
    int rc;

    if (!q || !key || (!val && cap))
        return HC_E_INVAL;
    k.mv_size = strlen(key);
    k.mv_data = (void *)key;
    if (!k.mv_size || k.mv_size > (size_t)mdb_env_get_maxkeysize(q->env))
        return HC_E_NOTFOUND;
    rc = ag_queue__rdtxn(q, &txn);
    if (rc)
        return rc;
    rc = ag_queue__err(mdb_get(txn, q->db_meta, &k, &v));
    if (!rc) {
        if (len)
            *len = v.mv_size;
        if (v.mv_size)
            memcpy(val, v.mv_data, v.mv_size < cap ? v.mv_size : cap);
    }
    mdb_txn_abort(txn);
    return rc;
}
