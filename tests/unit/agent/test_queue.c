/*
 * test_queue.c - the agent's LMDB buffer (agent/buffer/queue.h): what goes in comes back, byte
 * for byte and in order; acks, retention, the cap and its policies, replay, dead letters, corrupt
 * records, reopen and kill -9, all counted.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <lmdb.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent/buffer/queue.h"
#include "agent/buffer/queue_int.h"
#include "common/error.h"
#include "common/hctime.h"
#include "common/rng.h"
#include "common/uuid.h"
#include "tests/unit/testutil.h"

static char root[PATH_MAX];
static int ndirs;

/* ---- helpers ---------------------------------------------------------------------------- */

static int group_setup(void **state)
{
    (void)state;
    return tu_mkdtemp(root, sizeof root, "test_queue.XXXXXX") ? 0 : -1;
}

static int group_teardown(void **state)
{
    (void)state;
    return tu_rm_tree(root);
}

/* A fresh folder name under the test root (not created). */
static void new_dir(char *out, size_t cap)
{
    assert_true(snprintf(out, cap, "%s/q%d", root, ++ndirs) < (int)cap);
}

struct evbuf {
    char data[256];
    struct hc_event ev;
};

/* Event i: fixed-width data, so every event of the same kind has the same size. */
static const struct hc_event *make_event(struct evbuf *b, int i, enum hc_kind kind)
{
    int n =
        snprintf(b->data, sizeof b->data, "{\"i\":\"%06d\",\"note\":\"caf\xc3\xa9 \\\"x\\\"\"}", i);
    memset(&b->ev, 0, sizeof b->ev);
    b->ev.device_id = "pi-0007";
    b->ev.device_id_len = 7;
    b->ev.kind = kind;
    b->ev.schema = 1 + i % 3;
    b->ev.event_time_ms = 1795000000000 + i * 1000;
    b->ev.data = b->data;
    b->ev.data_len = (size_t)n;
    return &b->ev;
}

static struct ag_queue *open_q(const char *dir, const struct ag_queue_opts *o)
{
    struct ag_queue *q = NULL;
    assert_int_equal(ag_queue_open(dir, o, &q), 0);
    assert_non_null(q);
    return q;
}

/* Put events first..first+n-1 (order lines) in one txn and commit. No cmocka: children use it. */
static int try_put_range(struct ag_queue *q, int first, int n)
{
    struct ag_txn *t;
    struct evbuf b;
    int rc = ag_queue_begin(q, &t);
    for (int i = first; i < first + n && !rc; i++)
        rc = ag_txn_put(t, make_event(&b, i, HC_KIND_ORDER_LINE));
    if (rc) {
        ag_txn_abort(t);
        return rc;
    }
    return ag_txn_commit(t);
}

static void put_range(struct ag_queue *q, int first, int n)
{
    assert_int_equal(try_put_range(q, first, n), 0);
}

static struct ag_queue_stats stats(struct ag_queue *q)
{
    struct ag_queue_stats st;
    assert_int_equal(ag_queue_stats(q, &st), 0);
    return st;
}

/* Seqs of a scope, in order, into seqs (at most cap); returns how many. Fails on corruption. */
static int scope_seqs(struct ag_queue *q, enum ag_scope scope, uint64_t *seqs, int cap)
{
    struct ag_iter *it;
    struct ag_record r;
    int n = 0, rc;
    assert_int_equal(ag_iter_open(q, scope, 0, &it), 0);
    while ((rc = ag_iter_next(it, &r)) == 0) {
        assert_true(n < cap);
        seqs[n++] = r.seq;
    }
    assert_int_equal(rc, HC_E_NOTFOUND);
    ag_iter_close(it);
    return n;
}

/* Bytes one test event takes in the buffer (all test events have the same size). */
static uint64_t record_size(void)
{
    char dir[PATH_MAX];
    struct ag_queue *q;
    uint64_t size;
    new_dir(dir, sizeof dir);
    q = open_q(dir, NULL);
    put_range(q, 0, 1);
    size = stats(q).queued_bytes;
    ag_queue_close(q);
    return size;
}

/* Overwrite one byte (at offset off from the start of the value) of record seq with raw LMDB. */
static void poke_record(const char *dir, uint64_t seq, size_t off, uint8_t xor_mask)
{
    uint8_t key[8], *copy;
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi db;
    MDB_val k = {8, key}, v;

    for (int i = 0; i < 8; i++)
        key[i] = (uint8_t)(seq >> (56 - 8 * i));
    assert_int_equal(mdb_env_create(&env), 0);
    assert_int_equal(mdb_env_set_maxdbs(env, 4), 0);
    assert_int_equal(mdb_env_open(env, dir, 0, 0600), 0);
    assert_int_equal(mdb_txn_begin(env, NULL, 0, &txn), 0);
    assert_int_equal(mdb_dbi_open(txn, "events", 0, &db), 0);
    assert_int_equal(mdb_get(txn, db, &k, &v), 0);
    assert_true(off < v.mv_size);
    copy = malloc(v.mv_size);
    assert_non_null(copy);
    memcpy(copy, v.mv_data, v.mv_size);
    copy[off] ^= xor_mask;
    v.mv_data = copy;
    assert_int_equal(mdb_put(txn, db, &k, &v, 0), 0);
    assert_int_equal(mdb_txn_commit(txn), 0);
    mdb_env_close(env);
    free(copy);
}

/* Replace the value of a meta key with raw LMDB. */
static void poke_meta(const char *dir, const char *key, const char *val)
{
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi db;
    MDB_val k = {strlen(key), (void *)key}, v = {strlen(val), (void *)val};
    assert_int_equal(mdb_env_create(&env), 0);
    assert_int_equal(mdb_env_set_maxdbs(env, 4), 0);
    assert_int_equal(mdb_env_open(env, dir, 0, 0600), 0);
    assert_int_equal(mdb_txn_begin(env, NULL, 0, &txn), 0);
    assert_int_equal(mdb_dbi_open(txn, "meta", 0, &db), 0);
    assert_int_equal(mdb_put(txn, db, &k, &v, 0), 0);
    assert_int_equal(mdb_txn_commit(txn), 0);
    mdb_env_close(env);
}

/* ---- tests ------------------------------------------------------------------------------ */

static void test_put_commit_iterate(void **state)
{
    static const enum hc_kind kinds[3] = {HC_KIND_ORDER_LINE, HC_KIND_CAR_LISTING,
                                          HC_KIND_ORDER_STATUS};
    char dir[PATH_MAX];
    struct evbuf b[3];
    uint8_t ids[3][16];
    struct ag_queue *q;
    struct ag_txn *t;
    struct ag_iter *it;
    struct ag_record r;
    int64_t before, after;
    (void)state;

    new_dir(dir, sizeof dir);
    q = open_q(dir, NULL);
    before = hc_now_ms();
    assert_int_equal(ag_queue_begin(q, &t), 0);
    for (int i = 0; i < 3; i++) {
        make_event(&b[i], i, kinds[i]);
        assert_int_equal(ag_txn_put(t, &b[i].ev), 0);
        memcpy(ids[i], ag_txn_last_id(t), 16);
    }
    assert_int_equal(ag_txn_commit(t), 0);
    after = hc_now_ms();

    assert_int_equal(ag_iter_open(q, AG_SCOPE_QUEUED, 0, &it), 0);
    for (int i = 0; i < 3; i++) {
        struct hc_buf want = HC_BUF_INIT;
        struct hc_event e = b[i].ev;
        assert_int_equal(ag_iter_next(it, &r), 0);
        assert_int_equal(r.seq, (uint64_t)i + 1);
        assert_memory_equal(r.ev.id, ids[i], 16);
        assert_int_equal(r.ev.kind, kinds[i]);
        assert_int_equal(r.ev.schema, e.schema);
        assert_int_equal(r.ev.event_time_ms, e.event_time_ms);
        assert_int_equal(r.ev.device_id_len, 7);
        assert_memory_equal(r.ev.device_id, "pi-0007", 7);
        assert_int_equal(r.ev.data_len, e.data_len);
        assert_memory_equal(r.ev.data, e.data, e.data_len);
        assert_null(r.reason);
        /* The stored envelope is exactly hc_event_encode() of the event with its id. */
        memcpy(e.id, ids[i], 16);
        assert_int_equal(hc_event_encode(&e, &want), 0);
        assert_int_equal(r.json_len, want.len);
        assert_memory_equal(r.json, want.p, want.len);
        hc_buf_free(&want);
        /* The coarse clock may lag the precise one by a tick. */
        assert_true(r.enqueued_ms >= before - 20 && r.enqueued_ms <= after + 1);
    }
    assert_int_equal(ag_iter_next(it, &r), HC_E_NOTFOUND);
    assert_int_equal(ag_iter_next(it, &r), HC_E_NOTFOUND);
    ag_iter_close(it);

    /* from: start at a later seq. */
    assert_int_equal(ag_iter_open(q, AG_SCOPE_ALL, 3, &it), 0);
    assert_int_equal(ag_iter_next(it, &r), 0);
    assert_int_equal(r.seq, 3);
    assert_int_equal(ag_iter_next(it, &r), HC_E_NOTFOUND);
    ag_iter_close(it);

    struct ag_queue_stats st = stats(q);
    assert_int_equal(st.queued, 3);
    assert_true(st.queued_bytes > 3 * 52);
    assert_int_equal(st.next_seq, 4);
    assert_int_equal(st.cursor, 1);
    assert_int_equal(st.counters[AG_CTR_ENQUEUED], 3);
    assert_int_equal(st.oldest_queued_ms, b[0].ev.event_time_ms);
    assert_true(st.oldest_enqueued_ms >= before - 20 && st.oldest_enqueued_ms <= after + 1);
    ag_queue_close(q);
}

static void test_ids_assigned_or_kept(void **state)
{
    char dir[PATH_MAX];
    struct ag_queue *q;
    struct ag_txn *t;
    struct evbuf b;
    uint8_t given[16], first[16], second[16];
    struct ag_iter *it;
    struct ag_record r;
    (void)state;

    assert_int_equal(hc_uuid_parse("0190f3c2-1234-7abc-8def-0123456789ab", 36, given), 0);
    new_dir(dir, sizeof dir);
    q = open_q(dir, NULL);
    assert_int_equal(ag_queue_begin(q, &t), 0);
    assert_int_equal(ag_txn_put(t, make_event(&b, 1, HC_KIND_ORDER_LINE)), 0);
    memcpy(first, ag_txn_last_id(t), 16);
    assert_int_equal(ag_txn_put(t, make_event(&b, 2, HC_KIND_ORDER_LINE)), 0);
    memcpy(second, ag_txn_last_id(t), 16);
    make_event(&b, 3, HC_KIND_ORDER_LINE);
    memcpy(b.ev.id, given, 16);
    assert_int_equal(ag_txn_put(t, &b.ev), 0);
    assert_memory_equal(ag_txn_last_id(t), given, 16);
    assert_int_equal(ag_txn_commit(t), 0);

    /* Assigned ids are UUIDv7 of about now, strictly increasing. */
    assert_false(hc_uuid_is_nil(first));
    assert_int_equal(first[6] >> 4, 7);
    assert_int_equal(second[8] >> 6, 2);
    assert_true(memcmp(first, second, 16) < 0);
    assert_true(llabs(hc_uuid7_ms(first) - hc_now_ms()) < 60000);

    assert_int_equal(ag_iter_open(q, AG_SCOPE_QUEUED, 0, &it), 0);
    assert_int_equal(ag_iter_next(it, &r), 0);
    assert_memory_equal(r.ev.id, first, 16);
    assert_int_equal(ag_iter_next(it, &r), 0);
    assert_memory_equal(r.ev.id, second, 16);
    assert_int_equal(ag_iter_next(it, &r), 0);
    assert_memory_equal(r.ev.id, given, 16);
    assert_non_null(strstr(r.json, "\"event_id\":\"0190f3c2-1234-7abc-8def-0123456789ab\""));
    ag_iter_close(it);
    ag_queue_close(q);
}

static void test_abort_stores_nothing(void **state)
{
    char dir[PATH_MAX];
    struct ag_queue *q;
    struct ag_txn *t;
    struct evbuf b;
    uint64_t seqs[4];
    size_t len;
    (void)state;

    new_dir(dir, sizeof dir);
    q = open_q(dir, NULL);
    assert_int_equal(ag_queue_begin(q, &t), 0);
    assert_int_equal(ag_txn_put(t, make_event(&b, 1, HC_KIND_ORDER_LINE)), 0);
    assert_int_equal(ag_txn_meta_put(t, "src.a", "x", 1), 0);
    assert_int_equal(ag_txn_count(t, AG_CTR_REJECTED, 5), 0);
    ag_txn_abort(t);
    ag_txn_abort(NULL);

    struct ag_queue_stats st = stats(q);
    assert_int_equal(st.queued, 0);
    assert_int_equal(st.queued_bytes, 0);
    assert_int_equal(st.next_seq, 1);
    assert_int_equal(st.counters[AG_CTR_ENQUEUED], 0);
    assert_int_equal(st.counters[AG_CTR_REJECTED], 0);
    assert_int_equal(scope_seqs(q, AG_SCOPE_ALL, seqs, 4), 0);
    assert_int_equal(ag_queue_meta_get(q, "src.a", NULL, 0, &len), HC_E_NOTFOUND);

    /* The seq the aborted put had is used by the next committed one. */
    put_range(q, 2, 1);
    assert_int_equal(scope_seqs(q, AG_SCOPE_ALL, seqs, 4), 1);
    assert_int_equal(seqs[0], 1);
    ag_queue_close(q);
}

static void test_put_rejects_bad_events(void **state)
{
    char dir[PATH_MAX];
    struct ag_queue_opts o;
    struct ag_queue *q;
    struct ag_txn *t;
    struct evbuf b;
    char *big;
    (void)state;

    ag_queue_opts_default(&o);
    o.max_bytes = 64 * 1024;
    new_dir(dir, sizeof dir);
    q = open_q(dir, &o);
    assert_int_equal(ag_queue_begin(q, &t), 0);
    make_event(&b, 1, HC_KIND_UNKNOWN);
    assert_int_equal(ag_txn_put(t, &b.ev), HC_E_INVAL);
    make_event(&b, 1, HC_KIND_ORDER_LINE);
    b.ev.device_id_len = 0;
    assert_int_equal(ag_txn_put(t, &b.ev), HC_E_INVAL);
    /* Over HC_EVENT_MAX, and over the whole cap. */
    big = malloc(HC_EVENT_MAX + 2);
    assert_non_null(big);
    memset(big, ' ', HC_EVENT_MAX + 2);
    big[0] = '{';
    big[HC_EVENT_MAX + 1] = '}';
    make_event(&b, 1, HC_KIND_ORDER_LINE);
    b.ev.data = big;
    b.ev.data_len = HC_EVENT_MAX + 2;
    assert_int_equal(ag_txn_put(t, &b.ev), HC_E_TOOBIG);
    b.ev.data_len = 70 * 1024;
    big[b.ev.data_len - 1] = '}';
    assert_int_equal(ag_txn_put(t, &b.ev), HC_E_TOOBIG);
    /* The txn is still usable after each of these. */
    assert_int_equal(ag_txn_put(t, make_event(&b, 2, HC_KIND_ORDER_LINE)), 0);
    assert_int_equal(ag_txn_commit(t), 0);
    assert_int_equal(stats(q).queued, 1);
    assert_int_equal(stats(q).counters[AG_CTR_FULL], 0);
    free(big);
    ag_queue_close(q);
}

static void test_ack_moves_to_retained(void **state)
{
    char dir[PATH_MAX];
    struct ag_queue *q;
    uint64_t seqs[8], size = record_size();
    (void)state;

    new_dir(dir, sizeof dir);
    q = open_q(dir, NULL);
    put_range(q, 0, 5);
    assert_int_equal(ag_queue_ack(q, 3), 0);

    struct ag_queue_stats st = stats(q);
    assert_int_equal(st.queued, 2);
    assert_int_equal(st.queued_bytes, 2 * size);
    assert_int_equal(st.retained, 3);
    assert_int_equal(st.retained_bytes, 3 * size);
    assert_int_equal(st.cursor, 4);
    assert_int_equal(st.counters[AG_CTR_SHIPPED], 3);
    assert_int_equal(st.counters[AG_CTR_EXPIRED], 0);

    assert_int_equal(scope_seqs(q, AG_SCOPE_QUEUED, seqs, 8), 2);
    assert_int_equal(seqs[0], 4);
    assert_int_equal(seqs[1], 5);
    assert_int_equal(scope_seqs(q, AG_SCOPE_RETAINED, seqs, 8), 3);
    assert_int_equal(seqs[0], 1);
    assert_int_equal(seqs[2], 3);
    assert_int_equal(scope_seqs(q, AG_SCOPE_ALL, seqs, 8), 5);

    /* Acking again what is already acked changes nothing; acking the unassigned is refused. */
    assert_int_equal(ag_queue_ack(q, 2), 0);
    assert_int_equal(stats(q).counters[AG_CTR_SHIPPED], 3);
    assert_int_equal(ag_queue_ack(q, 6), HC_E_INVAL);
    assert_int_equal(ag_queue_ack(q, 5), 0);
    st = stats(q);
    assert_int_equal(st.queued, 0);
    assert_int_equal(st.retained, 5);
    assert_int_equal(st.counters[AG_CTR_SHIPPED], 5);
    assert_int_equal(st.oldest_queued_ms, 0);
    ag_queue_close(q);
}

static void test_retention_by_age(void **state)
{
    char dir[PATH_MAX];
    struct ag_queue_opts o;
    struct ag_queue *q;
    uint64_t seqs[8];
    (void)state;

    ag_queue_opts_default(&o);
    /* Long enough that a loaded machine cannot age a young event between two calls. */
    o.retention_ms = 1500;
    new_dir(dir, sizeof dir);
    q = open_q(dir, &o);
    put_range(q, 0, 3);
    assert_int_equal(ag_queue_ack(q, 3), 0);
    assert_int_equal(ag_queue_prune(q), 0);
    assert_int_equal(stats(q).retained, 3); /* young: kept */
    hc_sleep_ms(1600, NULL);
    put_range(q, 3, 2);
    assert_int_equal(ag_queue_ack(q, 4), 0); /* ack prunes the old ones, keeps seq 4 */
    struct ag_queue_stats st = stats(q);
    assert_int_equal(st.retained, 1);
    assert_int_equal(st.queued, 1);
    assert_int_equal(st.counters[AG_CTR_EXPIRED], 3);
    assert_int_equal(scope_seqs(q, AG_SCOPE_RETAINED, seqs, 8), 1);
    assert_int_equal(seqs[0], 4);
    hc_sleep_ms(1600, NULL);
    assert_int_equal(ag_queue_prune(q), 0);
    st = stats(q);
    assert_int_equal(st.retained, 0);
    assert_int_equal(st.retained_bytes, 0);
    assert_int_equal(st.queued, 1); /* queued events never expire */
    assert_int_equal(st.counters[AG_CTR_EXPIRED], 4);
    ag_queue_close(q);

    /* retention 0: shipped events go at once. */
    o.retention_ms = 0;
    new_dir(dir, sizeof dir);
    q = open_q(dir, &o);
    put_range(q, 0, 3);
    assert_int_equal(ag_queue_ack(q, 2), 0);
    st = stats(q);
    assert_int_equal(st.retained, 0);
    assert_int_equal(st.queued, 1);
    assert_int_equal(st.counters[AG_CTR_EXPIRED], 2);
    assert_int_equal(scope_seqs(q, AG_SCOPE_ALL, seqs, 8), 1);
    assert_int_equal(seqs[0], 3);
    ag_queue_close(q);
}

static void test_retention_by_bytes(void **state)
{
    char dir[PATH_MAX];
    struct ag_queue_opts o;
    struct ag_queue *q;
    uint64_t seqs[8], size = record_size();
    (void)state;

    ag_queue_opts_default(&o);
    o.retention_bytes = 2 * size + size / 2; /* room for two and a half */
    new_dir(dir, sizeof dir);
    q = open_q(dir, &o);
    put_range(q, 0, 6);
    assert_int_equal(ag_queue_ack(q, 5), 0);
    struct ag_queue_stats st = stats(q);
    assert_int_equal(st.retained, 2);
    assert_int_equal(st.retained_bytes, 2 * size);
    assert_int_equal(st.queued, 1);
    assert_int_equal(st.counters[AG_CTR_EXPIRED], 3);
    assert_int_equal(scope_seqs(q, AG_SCOPE_RETAINED, seqs, 8), 2);
    assert_int_equal(seqs[0], 4); /* the oldest went first */
    assert_int_equal(seqs[1], 5);
    ag_queue_close(q);
}

static void test_cap_block(void **state)
{
    char dir[PATH_MAX];
    struct ag_queue_opts o;
    struct ag_queue *q;
    struct ag_txn *t;
    struct evbuf b;
    uint64_t seqs[8], size = record_size();
    (void)state;

    ag_queue_opts_default(&o);
    o.max_bytes = 4 * size + size / 2;
    o.policy = AG_FULL_BLOCK;
    o.retention_bytes = 4 * size;
    new_dir(dir, sizeof dir);
    q = open_q(dir, &o);
    assert_int_equal(ag_queue_begin(q, &t), 0);
    for (int i = 0; i < 4; i++)
        assert_int_equal(ag_txn_put(t, make_event(&b, i, HC_KIND_ORDER_LINE)), 0);
    assert_int_equal(ag_txn_put(t, make_event(&b, 4, HC_KIND_ORDER_LINE)), HC_E_FULL);
    assert_int_equal(ag_txn_put(t, make_event(&b, 5, HC_KIND_ORDER_LINE)), HC_E_FULL);
    assert_int_equal(ag_txn_commit(t), 0); /* what the txn held is stored */
    struct ag_queue_stats st = stats(q);
    assert_int_equal(st.queued, 4);
    assert_int_equal(st.queued_bytes, 4 * size);
    assert_int_equal(st.counters[AG_CTR_FULL], 2);
    assert_int_equal(st.counters[AG_CTR_ENQUEUED], 4);
    assert_int_equal(st.counters[AG_CTR_DROPPED], 0);

    /* Shipped (retained) events make room before the policy applies. */
    assert_int_equal(ag_queue_ack(q, 2), 0);
    assert_int_equal(stats(q).retained, 2);
    put_range(q, 10, 2);
    st = stats(q);
    assert_int_equal(st.queued, 4);
    assert_int_equal(st.retained, 0);
    assert_int_equal(st.counters[AG_CTR_EXPIRED], 2);
    assert_int_equal(st.counters[AG_CTR_DROPPED], 0);
    assert_int_equal(scope_seqs(q, AG_SCOPE_QUEUED, seqs, 8), 4);
    assert_int_equal(seqs[0], 3);
    assert_int_equal(seqs[3], 6);
    ag_queue_close(q);
}

static void test_cap_drop_oldest(void **state)
{
    char dir[PATH_MAX];
    struct ag_queue_opts o;
    struct ag_queue *q;
    struct ag_iter *it;
    struct ag_record r;
    uint64_t seqs[8], size = record_size();
    (void)state;

    ag_queue_opts_default(&o);
    o.max_bytes = 4 * size + size / 2;
    o.policy = AG_FULL_DROP_OLDEST;
    new_dir(dir, sizeof dir);
    q = open_q(dir, &o);
    put_range(q, 0, 4);
    put_range(q, 4, 2); /* drops seqs 1 and 2 */
    struct ag_queue_stats st = stats(q);
    assert_int_equal(st.queued, 4);
    assert_int_equal(st.queued_bytes, 4 * size);
    assert_int_equal(st.counters[AG_CTR_DROPPED], 2);
    assert_int_equal(st.counters[AG_CTR_ENQUEUED], 6);
    assert_int_equal(st.counters[AG_CTR_FULL], 0);
    assert_int_equal(st.cursor, 3);
    assert_int_equal(scope_seqs(q, AG_SCOPE_QUEUED, seqs, 8), 4);
    assert_int_equal(seqs[0], 3);
    assert_int_equal(seqs[3], 6);
    assert_int_equal(scope_seqs(q, AG_SCOPE_RETAINED, seqs, 8), 0);
    assert_int_equal(ag_iter_open(q, AG_SCOPE_QUEUED, 0, &it), 0);
    assert_int_equal(ag_iter_next(it, &r), 0);
    assert_non_null(strstr(r.json, "\"i\":\"000002\"")); /* the third event put */
    ag_iter_close(it);

    /* Within one txn too: the txn's own oldest may go. */
    assert_int_equal(ag_queue_ack(q, 3), 0); /* retained one goes before any queued */
    put_range(q, 6, 6);
    st = stats(q);
    assert_int_equal(st.queued, 4);
    assert_int_equal(st.retained, 0);
    assert_int_equal(st.counters[AG_CTR_EXPIRED], 1);
    assert_int_equal(st.counters[AG_CTR_DROPPED], 2 + 5);
    assert_int_equal(scope_seqs(q, AG_SCOPE_QUEUED, seqs, 8), 4);
    assert_int_equal(seqs[0], 9);
    assert_int_equal(seqs[3], 12);
    ag_queue_close(q);

    /* Room for one: every put empties the buffer first, within the txn. */
    o.max_bytes = size + size / 2;
    new_dir(dir, sizeof dir);
    q = open_q(dir, &o);
    put_range(q, 0, 3);
    put_range(q, 3, 2);
    st = stats(q);
    assert_int_equal(st.queued, 1);
    assert_int_equal(st.queued_bytes, size);
    assert_int_equal(st.counters[AG_CTR_DROPPED], 4);
    assert_int_equal(st.cursor, 5);
    assert_int_equal(scope_seqs(q, AG_SCOPE_QUEUED, seqs, 8), 1);
    assert_int_equal(seqs[0], 5);
    ag_queue_close(q);
}

static void test_replay(void **state)
{
    char dir[PATH_MAX];
    struct ag_queue *q;
    struct ag_iter *it;
    struct ag_record r;
    uint8_t ids[5][16];
    char *json[5];
    size_t jlen[5];
    uint64_t n, seqs[16];
    int64_t mark;
    (void)state;

    new_dir(dir, sizeof dir);
    q = open_q(dir, NULL);
    put_range(q, 0, 3);
    hc_sleep_ms(60, NULL);
    mark = hc_now_ms();
    hc_sleep_ms(20, NULL);
    put_range(q, 3, 2);
    assert_int_equal(ag_queue_ack(q, 5), 0);
    assert_int_equal(ag_iter_open(q, AG_SCOPE_RETAINED, 0, &it), 0);
    for (int i = 0; i < 5; i++) {
        assert_int_equal(ag_iter_next(it, &r), 0);
        memcpy(ids[i], r.ev.id, 16);
        json[i] = malloc(r.json_len);
        memcpy(json[i], r.json, r.json_len);
        jlen[i] = r.json_len;
    }
    ag_iter_close(it);

    /* Only the ones enqueued after mark. */
    assert_int_equal(ag_queue_replay(q, mark, hc_now_ms(), &n), 0);
    assert_int_equal(n, 2);
    assert_int_equal(scope_seqs(q, AG_SCOPE_QUEUED, seqs, 16), 2);
    assert_int_equal(seqs[0], 6);
    assert_int_equal(seqs[1], 7);
    assert_int_equal(ag_iter_open(q, AG_SCOPE_QUEUED, 0, &it), 0);
    for (int i = 3; i < 5; i++) {
        assert_int_equal(ag_iter_next(it, &r), 0);
        assert_memory_equal(r.ev.id, ids[i], 16);
        assert_int_equal(r.json_len, jlen[i]);
        assert_memory_equal(r.json, json[i], jlen[i]);
    }
    ag_iter_close(it);
    struct ag_queue_stats st = stats(q);
    assert_int_equal(st.counters[AG_CTR_REPLAYED], 2);
    assert_int_equal(st.queued, 2);
    assert_int_equal(st.retained, 5); /* the originals stay */
    assert_int_equal(st.counters[AG_CTR_ENQUEUED], 5);

    /* The whole range: all five again, in their original order; an empty range: none. */
    assert_int_equal(ag_queue_replay(q, 0, hc_now_ms(), &n), 0);
    assert_int_equal(n, 5);
    assert_int_equal(ag_iter_open(q, AG_SCOPE_QUEUED, 8, &it), 0);
    for (int i = 0; i < 5; i++) {
        assert_int_equal(ag_iter_next(it, &r), 0);
        assert_int_equal(r.seq, 8 + (uint64_t)i);
        assert_memory_equal(r.ev.id, ids[i], 16);
        assert_memory_equal(r.json, json[i], jlen[i]);
    }
    ag_iter_close(it);
    assert_int_equal(ag_queue_replay(q, 0, mark - 100000, &n), 0);
    assert_int_equal(n, 0);
    assert_int_equal(ag_queue_replay(q, 10, 5, &n), HC_E_INVAL);
    assert_int_equal(stats(q).counters[AG_CTR_REPLAYED], 7);
    for (int i = 0; i < 5; i++)
        free(json[i]);
    ag_queue_close(q);
}

static void test_dead_letter(void **state)
{
    char dir[PATH_MAX];
    struct ag_queue *q;
    struct ag_iter *it;
    struct ag_record r;
    uint64_t seqs[8], size = record_size();
    char json2[512];
    size_t json2_len;
    uint8_t id2[16];
    (void)state;

    new_dir(dir, sizeof dir);
    q = open_q(dir, NULL);
    put_range(q, 0, 4);
    assert_int_equal(ag_iter_open(q, AG_SCOPE_QUEUED, 2, &it), 0);
    assert_int_equal(ag_iter_next(it, &r), 0);
    assert_int_equal(r.seq, 2);
    memcpy(id2, r.ev.id, 16);
    memcpy(json2, r.json, r.json_len);
    json2_len = r.json_len;
    ag_iter_close(it);

    assert_int_equal(ag_queue_dead_letter(q, 2, "413: event over the hub's limit"), 0);
    struct ag_queue_stats st = stats(q);
    assert_int_equal(st.queued, 3);
    assert_int_equal(st.queued_bytes, 3 * size);
    assert_int_equal(st.dead, 1);
    assert_int_equal(st.counters[AG_CTR_DEAD], 1);
    assert_int_equal(scope_seqs(q, AG_SCOPE_QUEUED, seqs, 8), 3);
    assert_int_equal(seqs[0], 1);
    assert_int_equal(seqs[1], 3);

    assert_int_equal(ag_iter_open(q, AG_SCOPE_DEAD, 0, &it), 0);
    assert_int_equal(ag_iter_next(it, &r), 0);
    assert_int_equal(r.seq, 2);
    assert_memory_equal(r.ev.id, id2, 16);
    assert_int_equal(r.json_len, json2_len);
    assert_memory_equal(r.json, json2, json2_len);
    assert_non_null(r.reason);
    assert_string_equal(r.reason, "413: event over the hub's limit");
    assert_int_equal(ag_iter_next(it, &r), HC_E_NOTFOUND);
    ag_iter_close(it);

    /* Gone from the queue: a second time is not found; shipped events are not dead-lettered. */
    assert_int_equal(ag_queue_dead_letter(q, 2, "again"), HC_E_NOTFOUND);
    assert_int_equal(ag_queue_ack(q, 3), 0);
    assert_int_equal(ag_queue_dead_letter(q, 1, "late"), HC_E_NOTFOUND);
    assert_int_equal(ag_queue_dead_letter(q, 4, NULL), 0);
    st = stats(q);
    assert_int_equal(st.dead, 2);
    assert_int_equal(st.queued, 0);
    assert_int_equal(st.retained, 2);
    assert_int_equal(st.counters[AG_CTR_DEAD], 2);
    assert_int_equal(st.counters[AG_CTR_SHIPPED], 2);
    ag_queue_close(q);
}

static void test_corrupt_record_set_aside(void **state)
{
    char dir[PATH_MAX];
    struct ag_queue *q;
    struct ag_iter *it;
    struct ag_record r;
    uint64_t seqs[8], size = record_size();
    (void)state;

    new_dir(dir, sizeof dir);
    q = open_q(dir, NULL);
    put_range(q, 0, 4);
    ag_queue_close(q);
    poke_record(dir, 2, size - 10, 0x01); /* a bit of the JSON */
    poke_record(dir, 4, 0, 0x80);         /* the format version byte */

    q = open_q(dir, NULL);
    assert_int_equal(ag_iter_open(q, AG_SCOPE_QUEUED, 0, &it), 0);
    assert_int_equal(ag_iter_next(it, &r), 0);
    assert_int_equal(r.seq, 1);
    assert_int_equal(ag_iter_next(it, &r), HC_E_CORRUPT);
    assert_int_equal(r.seq, 2);
    assert_null(r.json);
    assert_int_equal(ag_iter_next(it, &r), 0); /* the iterator moved past it */
    assert_int_equal(r.seq, 3);
    assert_int_equal(ag_iter_next(it, &r), HC_E_CORRUPT);
    assert_int_equal(r.seq, 4);
    assert_int_equal(ag_iter_next(it, &r), HC_E_NOTFOUND);
    ag_iter_close(it);

    assert_int_equal(ag_queue_set_aside(q, 2), 0);
    assert_int_equal(ag_queue_set_aside(q, 4), 0);
    assert_int_equal(ag_queue_set_aside(q, 2), HC_E_NOTFOUND);
    struct ag_queue_stats st = stats(q);
    assert_int_equal(st.queued, 2);
    assert_int_equal(st.queued_bytes, 2 * size);
    assert_int_equal(st.corrupt_held, 2);
    assert_int_equal(st.counters[AG_CTR_CORRUPT], 2);
    assert_int_equal(scope_seqs(q, AG_SCOPE_QUEUED, seqs, 8), 2);
    assert_int_equal(seqs[0], 1);
    assert_int_equal(seqs[1], 3);

    /* Dead-lettering a corrupt record sets it aside instead. */
    ag_queue_close(q);
    poke_record(dir, 1, 30, 0x04); /* the event_id */
    q = open_q(dir, NULL);
    assert_int_equal(ag_queue_dead_letter(q, 1, "x"), HC_E_CORRUPT);
    st = stats(q);
    assert_int_equal(st.corrupt_held, 3);
    assert_int_equal(st.counters[AG_CTR_CORRUPT], 3);
    assert_int_equal(st.dead, 0);
    assert_int_equal(st.queued, 1);

    /* Pruning that meets a corrupt retained record sets it aside (not counted as expired). */
    put_range(q, 10, 1); /* seq 5 */
    assert_int_equal(ag_queue_ack(q, 3), 0);
    ag_queue_close(q);
    poke_record(dir, 3, 8, 0x10); /* the enqueue time */
    struct ag_queue_opts o;
    ag_queue_opts_default(&o);
    o.retention_ms = 100000;
    q = open_q(dir, &o);
    assert_int_equal(ag_queue_prune(q), 0);
    st = stats(q);
    assert_int_equal(st.corrupt_held, 4);
    assert_int_equal(st.counters[AG_CTR_CORRUPT], 4);
    assert_int_equal(st.counters[AG_CTR_EXPIRED], 0);
    assert_int_equal(st.retained, 0);
    assert_int_equal(st.queued, 1);
    assert_int_equal(scope_seqs(q, AG_SCOPE_ALL, seqs, 8), 1);
    assert_int_equal(seqs[0], 5);
    ag_queue_close(q);
}

static void test_reopen_keeps_everything(void **state)
{
    char dir[PATH_MAX], val[16];
    struct ag_queue *q;
    struct ag_queue_stats a, b;
    struct ag_txn *t;
    uint64_t seqs1[16], seqs2[16];
    size_t len;
    int n1;
    (void)state;

    new_dir(dir, sizeof dir);
    q = open_q(dir, NULL);
    put_range(q, 0, 8);
    assert_int_equal(ag_queue_ack(q, 3), 0);
    assert_int_equal(ag_queue_dead_letter(q, 5, "400"), 0);
    assert_int_equal(ag_queue_begin(q, &t), 0);
    assert_int_equal(ag_txn_meta_put(t, "src.csv", "offset=42", 9), 0);
    assert_int_equal(ag_txn_count(t, AG_CTR_REJECTED, 2), 0);
    assert_int_equal(ag_txn_count(t, AG_CTR_RETRIED, 7), 0);
    assert_int_equal(ag_txn_commit(t), 0);
    a = stats(q);
    n1 = scope_seqs(q, AG_SCOPE_ALL, seqs1, 16);
    ag_queue_close(q);

    q = open_q(dir, NULL);
    b = stats(q);
    assert_memory_equal(&a, &b, sizeof a);
    assert_int_equal(b.counters[AG_CTR_REJECTED], 2);
    assert_int_equal(b.counters[AG_CTR_RETRIED], 7);
    assert_int_equal(b.counters[AG_CTR_DEAD], 1);
    assert_int_equal(scope_seqs(q, AG_SCOPE_ALL, seqs2, 16), n1);
    assert_memory_equal(seqs1, seqs2, sizeof seqs1[0] * (size_t)n1);
    assert_int_equal(ag_queue_meta_get(q, "src.csv", val, sizeof val, &len), 0);
    assert_int_equal(len, 9);
    assert_memory_equal(val, "offset=42", 9);
    put_range(q, 8, 1); /* seqs go on where they were */
    assert_int_equal(stats(q).next_seq, 10);
    ag_queue_close(q);
}

/* In a child process (one env per path and process): a readonly open beside the writer. */
static int readonly_child(const char *dir)
{
    struct ag_queue_opts o;
    struct ag_queue_stats st;
    struct ag_queue *q;
    struct ag_txn *t;
    ag_queue_opts_default(&o);
    o.readonly = 1;
    if (ag_queue_open(dir, &o, &q))
        return 1;
    if (ag_queue_stats(q, &st) || st.queued != 2 || ag_queue_begin(q, &t) != -EROFS)
        return 2;
    ag_queue_close(q);
    return 0;
}

static void test_readonly(void **state)
{
    char dir[PATH_MAX], missing[PATH_MAX + 16];
    struct ag_queue_opts o, rwo;
    struct ag_queue *q = (struct ag_queue *)1, *rw;
    struct ag_txn *t;
    struct ag_iter *it;
    struct ag_record r;
    uint64_t seqs[4];
    int status;
    pid_t pid;
    (void)state;

    ag_queue_opts_default(&o);
    o.readonly = 1;
    new_dir(dir, sizeof dir);
    snprintf(missing, sizeof missing, "%s/nope", dir);
    assert_int_equal(ag_queue_open(missing, &o, &q), -ENOENT);
    assert_null(q);
    assert_int_equal(mkdir(dir, 0700), 0);
    assert_int_equal(ag_queue_open(dir, &o, &q), -ENOENT); /* a folder, but no buffer */
    assert_int_equal(access(missing, F_OK), -1);           /* nothing was created */

    /* A small cap: the forked child keeps the parent's map beside its own, and two default
     * maps (1088 MiB each on 32-bit) need not fit in one 32-bit address space together. */
    ag_queue_opts_default(&rwo);
    rwo.max_bytes = 64 << 20;
    rw = open_q(dir, &rwo);
    put_range(rw, 0, 2);
    fflush(NULL);
    pid = fork();
    assert_true(pid >= 0);
    if (!pid) /* as `status` runs beside `run` */
        _exit(readonly_child(dir));
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    ag_queue_close(rw);

    q = open_q(dir, &o);
    assert_int_equal(scope_seqs(q, AG_SCOPE_QUEUED, seqs, 4), 2);
    assert_int_equal(ag_iter_open(q, AG_SCOPE_QUEUED, 0, &it), 0);
    assert_int_equal(ag_iter_next(it, &r), 0);
    assert_memory_equal(r.ev.device_id, "pi-0007", 7);
    ag_iter_close(it);
    assert_int_equal(ag_queue_begin(q, &t), -EROFS);
    assert_null(t);
    assert_int_equal(ag_queue_ack(q, 1), -EROFS);
    ag_queue_close(q);
    ag_queue_close(NULL);
}

static void test_open_errors(void **state)
{
    char dir[PATH_MAX], file[PATH_MAX + 16], sub[PATH_MAX + 32];
    struct ag_queue *q;
    FILE *f;
    (void)state;

    new_dir(dir, sizeof dir);
    assert_int_equal(mkdir(dir, 0700), 0);
    snprintf(file, sizeof file, "%s/file", dir);
    f = fopen(file, "w");
    assert_non_null(f);
    fclose(f);
    assert_int_equal(ag_queue_open(file, NULL, &q), -ENOTDIR);
    snprintf(sub, sizeof sub, "%s/x", file);
    assert_int_equal(ag_queue_open(sub, NULL, &q), -ENOTDIR);

    /* Missing parents are made. */
    snprintf(sub, sizeof sub, "%s/a/b/c", dir);
    q = open_q(sub, NULL);
    ag_queue_close(q);

    if (geteuid() == 0) /* root writes anywhere: the permission case cannot be seen */
        return;
    snprintf(sub, sizeof sub, "%s/ro", dir);
    assert_int_equal(mkdir(sub, 0500), 0);
    assert_int_equal(ag_queue_open(sub, NULL, &q), -EACCES);
    snprintf(sub, sizeof sub, "%s/ro/inner", dir);
    assert_int_equal(ag_queue_open(sub, NULL, &q), -EACCES);
}

static void test_format_version(void **state)
{
    char dir[PATH_MAX];
    struct ag_queue_opts o;
    struct ag_queue *q;
    (void)state;

    new_dir(dir, sizeof dir);
    q = open_q(dir, NULL);
    put_range(q, 0, 1);
    ag_queue_close(q);
    poke_meta(dir, "ag.format", "2");
    assert_int_equal(ag_queue_open(dir, NULL, &q), HC_E_VERSION);
    ag_queue_opts_default(&o);
    o.readonly = 1;
    assert_int_equal(ag_queue_open(dir, &o, &q), HC_E_VERSION);
    poke_meta(dir, "ag.format", "1");
    q = open_q(dir, NULL);
    assert_int_equal(stats(q).queued, 1);
    ag_queue_close(q);
}

static void test_meta(void **state)
{
    char dir[PATH_MAX], val[8];
    struct ag_queue *q;
    struct ag_txn *t;
    char longkey[600];
    size_t len;
    (void)state;

    new_dir(dir, sizeof dir);
    q = open_q(dir, NULL);
    assert_int_equal(ag_queue_begin(q, &t), 0);
    assert_int_equal(ag_txn_meta_put(t, "src.file", "0123456789", 10), 0);
    assert_int_equal(ag_txn_meta_put(t, "src.empty", NULL, 0), 0);
    assert_int_equal(ag_txn_meta_put(t, "ag.state", "x", 1), HC_E_INVAL);
    assert_int_equal(ag_txn_meta_put(t, "", "x", 1), HC_E_INVAL);
    memset(longkey, 'k', sizeof longkey - 1);
    longkey[sizeof longkey - 1] = '\0';
    assert_int_equal(ag_txn_meta_put(t, longkey, "x", 1), HC_E_TOOBIG);
    assert_int_equal(ag_txn_commit(t), 0);

    memset(val, 0, sizeof val);
    assert_int_equal(ag_queue_meta_get(q, "src.file", val, sizeof val, &len), 0);
    assert_int_equal(len, 10); /* the full length; only cap bytes copied */
    assert_memory_equal(val, "01234567", 8);
    assert_int_equal(ag_queue_meta_get(q, "src.empty", val, sizeof val, &len), 0);
    assert_int_equal(len, 0);
    assert_int_equal(ag_queue_meta_get(q, "src.none", val, sizeof val, &len), HC_E_NOTFOUND);

    assert_int_equal(ag_queue_begin(q, &t), 0);
    assert_int_equal(ag_txn_meta_put(t, "src.file", "ab", 2), 0);
    assert_int_equal(ag_txn_meta_del(t, "src.empty"), 0);
    assert_int_equal(ag_txn_meta_del(t, "src.never"), 0);
    assert_int_equal(ag_txn_meta_del(t, "ag.format"), HC_E_INVAL);
    assert_int_equal(ag_txn_commit(t), 0);
    assert_int_equal(ag_queue_meta_get(q, "src.file", val, sizeof val, &len), 0);
    assert_int_equal(len, 2);
    assert_memory_equal(val, "ab", 2);
    assert_int_equal(ag_queue_meta_get(q, "src.empty", val, sizeof val, &len), HC_E_NOTFOUND);
    ag_queue_close(q);
}

static void test_counters(void **state)
{
    char dir[PATH_MAX];
    struct ag_queue *q;
    struct ag_txn *t;
    (void)state;

    assert_string_equal(ag_counter_name(AG_CTR_ENQUEUED), "enqueued");
    assert_string_equal(ag_counter_name(AG_CTR_DROPPED), "dropped");
    assert_string_equal(ag_counter_name(AG_CTR_FULL), "full");
    assert_string_equal(ag_counter_name(AG_CTR_COUNT), "unknown");
    for (int c = 0; c < AG_CTR_COUNT; c++)
        assert_string_not_equal(ag_counter_name((enum ag_counter)c), "unknown");

    new_dir(dir, sizeof dir);
    q = open_q(dir, NULL);
    assert_int_equal(ag_queue_begin(q, &t), 0);
    assert_int_equal(ag_txn_count(t, AG_CTR_REJECTED, 3), 0);
    assert_int_equal(ag_txn_count(t, AG_CTR_RETRIED, 1), 0);
    assert_int_equal(ag_txn_count(t, AG_CTR_COUNT, 1), HC_E_INVAL);
    assert_int_equal(ag_txn_commit(t), 0);
    struct ag_queue_stats st = stats(q);
    assert_int_equal(st.counters[AG_CTR_REJECTED], 3);
    assert_int_equal(st.counters[AG_CTR_RETRIED], 1);
    assert_int_equal(st.counters[AG_CTR_ENQUEUED], 0);
    /* the default cap: 1 GiB, 512 MiB on a 32-bit board (its map must fit beside the rest) */
    assert_int_equal(st.max_bytes, (sizeof(size_t) < 8 ? 512ull : 1024ull) * 1024 * 1024);
    ag_queue_close(q);
}

/* The cap a buffer was opened with is its own: kept for opens without one and for readers. */
static void test_cap_kept(void **state)
{
    char dir[PATH_MAX];
    struct ag_queue_opts o;
    struct ag_queue *q;
    (void)state;

    ag_queue_opts_default(&o);
    o.max_bytes = 5 << 20;
    new_dir(dir, sizeof dir);
    q = open_q(dir, &o);
    ag_queue_close(q);
    o.max_bytes = 0; /* the buffer's own */
    q = open_q(dir, &o);
    assert_int_equal(stats(q).max_bytes, 5 << 20);
    ag_queue_close(q);
    ag_queue_opts_default(&o); /* a reader shows the buffer's own whatever it asked */
    o.readonly = 1;
    q = open_q(dir, &o);
    assert_int_equal(stats(q).max_bytes, 5 << 20);
    assert_int_equal(stats(q).disk_cap, 0);
    ag_queue_close(q);
    o.readonly = 0;
    o.max_bytes = 7 << 20; /* given: it becomes the buffer's cap */
    q = open_q(dir, &o);
    ag_queue_close(q);
    o.max_bytes = 0;
    q = open_q(dir, &o);
    assert_int_equal(stats(q).max_bytes, 7 << 20);
    ag_queue_close(q);
}

/*
 * A disk that fills up before the cap (a 4 MiB tmpfs, when this runs as root): the failing
 * commit teaches a disk cap, the policy applies under it, and with the pages reused the buffer
 * goes on taking events on the full disk; the cap is kept in meta and relaxes with room again.
 */
static void test_disk_full(void **state)
{
    char dir[PATH_MAX];
    struct ag_queue_opts o;
    struct ag_queue_stats st;
    struct ag_queue *q;
    uint64_t accepted = 0, size = record_size(), cap;
    int first = 0, rc, fails = 0;
    (void)state;

    new_dir(dir, sizeof dir);
    assert_int_equal(mkdir(dir, 0700), 0);
    if (mount("tmpfs", dir, "tmpfs", 0, "size=4M")) {
        print_message("skip: cannot mount a tmpfs on %s (%s): needs root\n", dir, strerror(errno));
        skip();
    }
    ag_queue_opts_default(&o);
    o.max_bytes = 64 << 20;
    o.policy = AG_FULL_DROP_OLDEST;
    o.nosync = 1;
    q = open_q(dir, &o);
    /* Nine disks' worth: each batch goes in, at worst on a second try (a commit that found the
     * disk full stored nothing; the cap is learned before that when it can be). */
    for (int b = 0; b < 500; b++) {
        rc = try_put_range(q, first, 500);
        if (rc == HC_E_DISKFULL) {
            assert_true(++fails < 5);
            rc = try_put_range(q, first, 500); /* the batch again, once */
        }
        assert_int_equal(rc, 0);
        first += 500;
        accepted += 500;
    }
    st = stats(q);
    assert_true(st.disk_cap > 0 && st.disk_cap < (4 << 20));
    assert_true(st.disk_full_since_ms > 0);
    assert_true(st.counters[AG_CTR_DROPPED] > 0);
    assert_int_equal(st.counters[AG_CTR_ENQUEUED], accepted);
    assert_int_equal(st.queued + st.counters[AG_CTR_DROPPED], accepted);
    assert_true(st.queued_bytes <= st.disk_cap);
    assert_true(st.queued * size == st.queued_bytes);
    cap = st.disk_cap;
    ag_queue_close(q);

    /* Kept for the next open; block refuses (HC_E_FULL) under it instead of failing the disk. */
    o.policy = AG_FULL_BLOCK;
    q = open_q(dir, &o);
    st = stats(q);
    assert_int_equal(st.disk_cap, cap);
    assert_int_equal(try_put_range(q, first, 500), HC_E_FULL);
    assert_int_equal(stats(q).counters[AG_CTR_DROPPED], st.counters[AG_CTR_DROPPED]);
    /* Shipped: the retained make room, the new events go in the pages they leave. */
    assert_int_equal(ag_queue_ack(q, st.next_seq - 1), 0);
    for (uint64_t b = 0; b < cap / size / 500; b++) {
        assert_int_equal(try_put_range(q, first, 500), 0);
        first += 500;
    }
    st = stats(q);
    assert_true(st.queued_bytes <= cap && st.queued_bytes + 500 * size > cap);
    assert_int_equal(try_put_range(q, first, 500 + (int)(cap / size)), HC_E_FULL);

    /* Room again: within a second the cap relaxes. */
    assert_int_equal(mount(NULL, dir, NULL, MS_REMOUNT, "size=32M"), 0);
    hc_sleep_ms(1100, NULL);
    put_range(q, first, 10);
    st = stats(q);
    assert_true(st.disk_cap == 0 || st.disk_cap > cap);
    ag_queue_close(q);
    assert_int_equal(umount2(dir, MNT_DETACH), 0);
}

/* A writer killed mid-transaction (and holding a reader slot) leaves a buffer that opens. */
static void test_kill9_mid_txn(void **state)
{
    char dir[PATH_MAX];
    struct ag_queue *q;
    int status;
    pid_t pid;
    (void)state;

    new_dir(dir, sizeof dir);
    pid = fork();
    assert_true(pid >= 0);
    if (!pid) {
        struct ag_queue *cq;
        struct ag_txn *t;
        struct ag_iter *it;
        struct evbuf b;
        if (ag_queue_open(dir, NULL, &cq) || try_put_range(cq, 0, 10))
            _exit(1);
        if (ag_iter_open(cq, AG_SCOPE_ALL, 0, &it) || ag_queue_begin(cq, &t))
            _exit(1);
        for (int i = 10; i < 15; i++)
            if (ag_txn_put(t, make_event(&b, i, HC_KIND_ORDER_LINE)))
                _exit(1);
        kill(getpid(), SIGKILL);
        _exit(1);
    }
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);

    q = open_q(dir, NULL);
    struct ag_queue_stats st = stats(q);
    assert_int_equal(st.queued, 10);
    assert_int_equal(st.next_seq, 11);
    assert_int_equal(st.counters[AG_CTR_ENQUEUED], 10);
    put_range(q, 20, 3); /* the writer lock is free again */
    assert_int_equal(stats(q).queued, 13);
    ag_queue_close(q);
}

struct writer {
    struct ag_queue *q;
    int base;
};

static void *writer_main(void *arg)
{
    struct writer *w = arg;
    for (int k = 0; k < 20; k++) {
        struct ag_txn *t;
        struct evbuf b;
        if (ag_queue_begin(w->q, &t))
            return (void *)1;
        for (int i = 0; i < 10; i++)
            if (ag_txn_put(t, make_event(&b, w->base + k * 10 + i, HC_KIND_ORDER_LINE)))
                return (void *)1;
        if (ag_txn_commit(t))
            return (void *)1;
    }
    return NULL;
}

static void test_threads_share_queue(void **state)
{
    char dir[PATH_MAX];
    struct ag_queue *q;
    struct writer w[4];
    pthread_t th[4];
    uint64_t *seqs = calloc(1000, sizeof *seqs);
    void *ret;
    (void)state;

    assert_non_null(seqs);
    new_dir(dir, sizeof dir);
    q = open_q(dir, NULL);
    for (int i = 0; i < 4; i++) {
        w[i].q = q;
        w[i].base = i * 1000;
        assert_int_equal(pthread_create(&th[i], NULL, writer_main, &w[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        assert_int_equal(pthread_join(th[i], &ret), 0);
        assert_null(ret);
    }
    assert_int_equal(scope_seqs(q, AG_SCOPE_QUEUED, seqs, 1000), 800);
    for (int i = 0; i < 800; i++)
        assert_int_equal(seqs[i], (uint64_t)i + 1);
    assert_int_equal(stats(q).counters[AG_CTR_ENQUEUED], 800);
    free(seqs);
    ag_queue_close(q);
}

/*
 * The buffer writes the envelope itself, straight into the record: it must be byte for byte
 * what hc_event_encode() makes, for any device id (escapes, control bytes, UTF-8), schema, time
 * (before 1970, past 9999) and id, and refuse exactly what it refuses.
 */
static void test_envelope_matches_encoder(void **state)
{
    static const int64_t times[] = {0,
                                    -1,
                                    1,
                                    86399999,
                                    86400000,
                                    -86400000,
                                    -86400001,
                                    253402300799999,
                                    253402300800000,
                                    -62167219200001,
                                    1795000000123};
    static const int schemas[] = {0, 1, -1, 9, 10, 65535, INT_MAX, INT_MIN};
    enum { N = 3000 };
    char dir[PATH_MAX];
    struct ag_queue *q;
    struct ag_txn *t;
    struct ag_iter *it;
    struct ag_record r;
    struct hc_rng rng;
    struct hc_event *evs = calloc(N, sizeof *evs);
    char *mem = malloc((size_t)N * 2200);
    (void)state;

    assert_non_null(evs);
    assert_non_null(mem);
    hc_rng_seed(&rng, 20261122);
    for (int i = 0; i < N; i++) {
        struct hc_event *e = &evs[i];
        char *dev = mem + (size_t)i * 2200, *data = dev + 130;
        size_t dlen = (size_t)hc_rng_range(&rng, 1, HC_DEVICE_ID_MAX);
        size_t n = (size_t)hc_rng_range(&rng, 0, 2000);
        for (size_t k = 0; k < dlen; k++) /* any byte, control bytes and quotes often */
            dev[k] = (char)(hc_rng_chance(&rng, 0.3) ? "\"\\\n\r\t\b\f\x01\x1f\x7f"[k % 10]
                                                     : hc_rng_range(&rng, 0, 255));
        memcpy(data, "{\"v\":\"", 6);
        memset(data + 6, 'a' + i % 26, n);
        memcpy(data + 6 + n, "\"}", 2);
        e->device_id = dev;
        e->device_id_len = dlen;
        e->kind = (enum hc_kind)hc_rng_range(&rng, 1, HC_KIND_COUNT - 1);
        e->schema = i % 4 ? (int)hc_rng_range(&rng, INT_MIN, INT_MAX) : schemas[i / 4 % 8];
        if (i % 3 == 0)
            e->event_time_ms = times[i / 3 % 11];
        else if (i % 3 == 1) /* runs within one day */
            e->event_time_ms = 1795000000000 + hc_rng_range(&rng, 0, 3600000);
        else
            e->event_time_ms = hc_rng_range(&rng, -1000000000000000, 1000000000000000);
        if (i % 2)
            for (int k = 0; k < 16; k++)
                e->id[k] = (uint8_t)hc_rng_range(&rng, 0, 255);
        e->data = data;
        e->data_len = n + 8;
    }
    new_dir(dir, sizeof dir);
    q = open_q(dir, NULL);
    assert_int_equal(ag_queue_begin(q, &t), 0);
    for (int i = 0; i < N; i++)
        assert_int_equal(ag_txn_put(t, &evs[i]), 0);
    assert_int_equal(ag_txn_commit(t), 0);

    assert_int_equal(ag_iter_open(q, AG_SCOPE_QUEUED, 0, &it), 0);
    for (int i = 0; i < N; i++) {
        struct hc_buf want = HC_BUF_INIT;
        struct hc_event e = evs[i];
        assert_int_equal(ag_iter_next(it, &r), 0);
        memcpy(e.id, r.ev.id, 16);
        assert_int_equal(hc_event_encode(&e, &want), 0);
        if (r.json_len != want.len || memcmp(r.json, want.p, want.len))
            fail_msg("event %d: %.*s\n  hc_event_encode: %s", i, (int)r.json_len, r.json, want.p);
        assert_int_equal(r.ev.data_len, e.data_len);
        assert_memory_equal(r.ev.data, e.data, e.data_len);
        assert_int_equal(r.ev.schema, e.schema);
        assert_int_equal(r.ev.event_time_ms, e.event_time_ms);
        hc_buf_free(&want);
    }
    ag_iter_close(it);

    /* Refused exactly where hc_event_encode refuses, and the txn goes on. */
    assert_int_equal(ag_queue_begin(q, &t), 0);
    for (int c = 0; c < 4; c++) {
        struct hc_buf out = HC_BUF_INIT;
        struct hc_event e = evs[c];
        size_t big = HC_EVENT_MAX - 160 - e.device_id_len * 6;
        char *data = malloc(big + 2);
        assert_non_null(data);
        memset(data, ' ', big + 2);
        data[0] = '{';
        if (c == 0)
            e.device_id_len = 0;
        if (c == 1)
            e.device_id_len = HC_DEVICE_ID_MAX + 1;
        if (c == 2) { /* at the pre-check's limit, and one past it */
            e.data = data;
            e.data_len = big + 1;
        }
        if (c == 3) {
            e.data = data;
            e.data_len = big;
        }
        if (c >= 2)
            data[e.data_len - 1] = '}';
        assert_int_equal(ag_txn_put(t, &e), hc_event_encode(&e, &out));
        hc_buf_free(&out);
        free(data);
    }
    ag_txn_abort(t);
    free(evs);
    free(mem);
    ag_queue_close(q);
}

static void test_checksum(void **state)
{
    uint8_t buf[1024];
    (void)state;
    /* The CRC-32C check value, in hardware and in software. */
    assert_int_equal(ag_queue__crc32c(0, "123456789", 9), 0xe3069283);
    assert_int_equal(ag_queue__crc32c_sw(0, "123456789", 9), 0xe3069283);
    for (size_t i = 0; i < sizeof buf; i++)
        buf[i] = (uint8_t)(i * 131 + 7);
    for (size_t off = 0; off < 8; off++)
        for (size_t n = 0; n < 1000; n += 13) {
            uint32_t whole = ag_queue__crc32c(0, buf + off, n);
            assert_int_equal(whole, ag_queue__crc32c_sw(0, buf + off, n));
            assert_int_equal(whole, ag_queue__crc32c(ag_queue__crc32c(0, buf + off, n / 3),
                                                     buf + off + n / 3, n - n / 3));
        }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_put_commit_iterate),
        cmocka_unit_test(test_ids_assigned_or_kept),
        cmocka_unit_test(test_abort_stores_nothing),
        cmocka_unit_test(test_put_rejects_bad_events),
        cmocka_unit_test(test_ack_moves_to_retained),
        cmocka_unit_test(test_retention_by_age),
        cmocka_unit_test(test_retention_by_bytes),
        cmocka_unit_test(test_cap_block),
        cmocka_unit_test(test_cap_drop_oldest),
        cmocka_unit_test(test_replay),
        cmocka_unit_test(test_dead_letter),
        cmocka_unit_test(test_corrupt_record_set_aside),
        cmocka_unit_test(test_reopen_keeps_everything),
        cmocka_unit_test(test_readonly),
        cmocka_unit_test(test_open_errors),
        cmocka_unit_test(test_format_version),
        cmocka_unit_test(test_meta),
        cmocka_unit_test(test_counters),
        cmocka_unit_test(test_cap_kept),
        cmocka_unit_test(test_disk_full),
        cmocka_unit_test(test_kill9_mid_txn),
        cmocka_unit_test(test_threads_share_queue),
        cmocka_unit_test(test_envelope_matches_encoder),
        cmocka_unit_test(test_checksum),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
