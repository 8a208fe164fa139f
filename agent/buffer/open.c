/* open.c - opening and closing the buffer's environment: the folder, the DBs, the format,
 * the state blob checked against the records, the caps. */
#include "agent/buffer/queue_int.h"
#include "common/error.h"
#include "common/hctime.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define DEFAULT_RET_MS (24 * 3600 * 1000ll)
#define MAP_SLACK      (64 * AG_MIB)
/* 32-bit: the map (2 x max_bytes + MAP_SLACK) stays within MAP_LIMIT_32, half of a 3 GiB user
 * address space, leaving the rest to the libraries, heap and thread stacks. */
#define MAP_LIMIT_32 (1536 * AG_MIB)

void ag_queue_opts_default(struct ag_queue_opts *o)
{
    memset(o, 0, sizeof *o);
    o->max_bytes = AG_DEFAULT_MAX;
    o->policy = AG_FULL_BLOCK;
    o->retention_ms = DEFAULT_RET_MS;
    o->retention_bytes = 0; /* max_bytes / 4: 256 MiB with the default cap */
}

/* ---- opening ---------------------------------------------------------------------------- */

/* mkdir -p dir; then it must be a folder we may write in. */
static int make_dir(const char *dir)
{
    char path[PATH_MAX];
    struct stat st;
    size_t n = strlen(dir);

    if (!n || n >= sizeof path)
        return n ? -ENAMETOOLONG : HC_E_INVAL;
    memcpy(path, dir, n + 1);
    for (char *p = path + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(path, 0755) && errno != EEXIST)
            return -errno;
        *p = '/';
    }
    if (mkdir(path, 0700) && errno != EEXIST)
        return -errno;
    if (stat(path, &st))
        return -errno;
    if (!S_ISDIR(st.st_mode))
        return -ENOTDIR;
    if (access(path, W_OK | X_OK))
        return -errno;
    return 0;
}

/* Readonly: the folder and its data.mdb must exist. */
static int check_existing(const char *dir)
{
    char path[PATH_MAX];
    struct stat st;
    if (snprintf(path, sizeof path, "%s/data.mdb", dir) >= (int)sizeof path)
        return -ENAMETOOLONG;
    if (stat(dir, &st))
        return -errno;
    if (!S_ISDIR(st.st_mode))
        return -ENOTDIR;
    if (stat(path, &st))
        return -errno;
    return 0;
}

static int check_format(struct ag_queue *q, MDB_txn *txn, int *absent)
{
    char want[16];
    MDB_val k = {sizeof AG_META_FORMAT - 1, (void *)AG_META_FORMAT}, v;
    int n = snprintf(want, sizeof want, "%d", AG_FORMAT_VERSION);
    int rc = mdb_get(txn, q->db_meta, &k, &v);

    *absent = rc == MDB_NOTFOUND;
    if (*absent)
        return 0;
    if (rc)
        return ag_queue__err(rc);
    if (v.mv_size != (size_t)n || memcmp(v.mv_data, want, (size_t)n))
        return HC_E_VERSION;
    return 0;
}

/* Last seq stored in db, 0 when empty. */
static int last_seq(MDB_txn *txn, MDB_dbi db, uint64_t *seq)
{
    MDB_cursor *c;
    MDB_val k, v;
    int rc = mdb_cursor_open(txn, db, &c);
    *seq = 0;
    if (rc)
        return ag_queue__err(rc);
    rc = mdb_cursor_get(c, &k, &v, MDB_LAST);
    mdb_cursor_close(c);
    *seq = rc ? 0 : ag_queue__seq(&k);
    return rc == MDB_NOTFOUND ? 0 : ag_queue__err(rc);
}

/*
 * The state blob is missing or unreadable (it never is, short of damage): rebuild it from the
 * records. The cursor is lost, so every event counts as queued again (shipped twice rather than
 * lost); counters restart at zero.
 */
static int rebuild_state(struct ag_queue *q, MDB_txn *txn, struct ag_state *st)
{
    MDB_cursor *c;
    MDB_val k, v;
    int rc, op = MDB_FIRST;

    memset(st, 0, sizeof *st);
    rc = mdb_cursor_open(txn, q->db_events, &c);
    if (rc)
        return ag_queue__err(rc);
    while (!(rc = mdb_cursor_get(c, &k, &v, op))) {
        uint64_t seq = ag_queue__seq(&k);
        if (!st->cursor && seq)
            st->cursor = seq;
        st->queued++;
        st->queued_bytes += v.mv_size;
        op = MDB_NEXT;
    }
    mdb_cursor_close(c);
    if (rc != MDB_NOTFOUND)
        return ag_queue__err(rc);
    st->next_seq = 1;
    if (!st->cursor)
        st->cursor = 1;
    return 0;
}

/* next_seq must be past every seq ever used (events, dead, corrupt): repair it if not. */
static int check_next_seq(struct ag_queue *q, MDB_txn *txn, struct ag_state *st, int *fixed)
{
    const MDB_dbi dbs[3] = {q->db_events, q->db_dead, q->db_corrupt};
    *fixed = 0;
    for (int i = 0; i < 3; i++) {
        uint64_t last;
        int rc = last_seq(txn, dbs[i], &last);
        if (rc)
            return rc;
        if (last >= st->next_seq) {
            st->next_seq = last + 1;
            *fixed = 1;
        }
    }
    if (st->cursor > st->next_seq)
        st->cursor = st->next_seq;
    return 0;
}

static int open_dbs(struct ag_queue *q, MDB_txn *txn, unsigned flags)
{
    int rc = mdb_dbi_open(txn, "meta", flags, &q->db_meta);
    if (!rc)
        rc = mdb_dbi_open(txn, "events", flags, &q->db_events);
    if (!rc)
        rc = mdb_dbi_open(txn, "dead", flags, &q->db_dead);
    if (!rc)
        rc = mdb_dbi_open(txn, "corrupt", flags, &q->db_corrupt);
    return rc;
}

/* Entries of the unnamed main DB (one per named DB): non-zero means someone made this env. */
static int main_entries(MDB_txn *txn, size_t *n)
{
    MDB_dbi main_db;
    MDB_stat ms;
    int rc = mdb_dbi_open(txn, NULL, 0, &main_db);
    if (!rc)
        rc = mdb_stat(txn, main_db, &ms);
    *n = rc ? 0 : ms.ms_entries;
    return ag_queue__err(rc);
}

/*
 * The buffer's own cap: opened without one (max_bytes 0), take the one stored; opened with one,
 * store it. A learned disk cap is taken up again (it relaxes by itself when space comes back).
 */
static int init_caps(struct ag_queue *q, MDB_txn *txn)
{
    uint64_t stored_max = 0;
    int rc = ag_queue__meta_u64s(q, txn, AG_META_MAX_BYTES, &stored_max, 1);
    if (rc && rc != HC_E_NOTFOUND)
        return rc;
    if (!rc && (!q->o.max_bytes || q->o.readonly)) /* a reader shows the buffer's own */
        q->o.max_bytes = stored_max;
    else if (!q->o.max_bytes)
        q->o.max_bytes = AG_DEFAULT_MAX;
    if (!q->o.readonly && q->o.max_bytes > ag_queue_max_bytes_limit())
        return HC_E_TOOBIG; /* a cap this process cannot map: nothing is stored */
    if (!q->o.retention_bytes)
        q->o.retention_bytes = q->o.max_bytes / 4;
    if (!q->o.readonly && (rc || stored_max != q->o.max_bytes)) {
        rc = ag_queue__err(ag_queue__meta_u64s_put(q, txn, AG_META_MAX_BYTES, &q->o.max_bytes, 1));
        if (rc)
            return rc;
    }
    {
        uint64_t cap;
        rc = ag_queue__disk_cap_get(q, txn, &cap, &q->disk_since_ms);
        atomic_store(&q->disk_cap, cap);
        q->disk_headroom = AG_TXN_SLACK;
    }
    return rc;
}

/* The end of opening, rc the result so far: the caps, then the commit (of a read txn too: it
 * keeps the DB handles it opened); on any error the txn is aborted. */
static int init_end(struct ag_queue *q, MDB_txn *txn, int rc)
{
    if (!rc)
        rc = init_caps(q, txn);
    if (rc) {
        mdb_txn_abort(txn);
        return rc;
    }
    return ag_queue__err(mdb_txn_commit(txn));
}

static int init_rw(struct ag_queue *q)
{
    struct ag_state st;
    MDB_txn *txn;
    size_t before;
    int rc, absent, fixed = 0;

    rc = ag_queue__begin_txn(q, 0, &txn);
    if (rc)
        return rc;
    rc = main_entries(txn, &before);
    if (!rc)
        rc = ag_queue__err(open_dbs(q, txn, MDB_CREATE));
    if (!rc)
        rc = check_format(q, txn, &absent);
    if (rc)
        goto out_abort_txn;
    if (absent) {
        char ver[16];
        int n = snprintf(ver, sizeof ver, "%d", AG_FORMAT_VERSION);
        MDB_val k = {sizeof AG_META_FORMAT - 1, (void *)AG_META_FORMAT}, v = {(size_t)n, ver};
        if (before) { /* an LMDB environment, but not one of ours (or of an unknown version) */
            rc = HC_E_VERSION;
            goto out_abort_txn;
        }
        rc = ag_queue__err(mdb_put(txn, q->db_meta, &k, &v, 0));
        memset(&st, 0, sizeof st);
        st.next_seq = st.cursor = 1;
        fixed = 1;
    } else if (ag_queue__load_state(q, txn, &st) == HC_E_CORRUPT) {
        rc = rebuild_state(q, txn, &st);
        fixed = 1;
    }
    if (!rc) {
        int seq_fixed;
        rc = check_next_seq(q, txn, &st, &seq_fixed);
        fixed |= seq_fixed;
    }
    if (!rc && fixed)
        rc = ag_queue__store_state(q, txn, &st);
    return init_end(q, txn, rc);
out_abort_txn:
    mdb_txn_abort(txn);
    return rc;
}

static int init_ro(struct ag_queue *q)
{
    struct ag_state st;
    MDB_txn *txn;
    size_t before;
    int rc, absent;

    rc = ag_queue__rdtxn(q, &txn);
    if (rc)
        return rc;
    rc = open_dbs(q, txn, 0);
    if (rc == MDB_NOTFOUND) { /* an empty env is no buffer; a foreign one is another format */
        rc = main_entries(txn, &before);
        if (!rc)
            rc = before ? HC_E_VERSION : -ENOENT;
        goto out_abort_txn;
    }
    rc = ag_queue__err(rc);
    if (!rc)
        rc = check_format(q, txn, &absent);
    if (!rc && absent)
        rc = HC_E_VERSION;
    if (!rc)
        rc = ag_queue__load_state(q, txn, &st);
    return init_end(q, txn, rc);
out_abort_txn:
    mdb_txn_abort(txn);
    return rc;
}

/* Page size, and where the map lies in this process. */
static int locate(struct ag_queue *q)
{
    MDB_stat ms;
    MDB_txn *txn;
    int rc = ag_queue__err(mdb_env_stat(q->env, &ms));
    if (rc)
        return rc;
    q->psize = ms.ms_psize;
    rc = ag_queue__rdtxn(q, &txn);
    if (rc)
        return rc;
    ag_queue__map_probe(q, txn);
    mdb_txn_abort(txn);
    return 0;
}

uint64_t ag_queue_max_bytes_limit(void)
{
    return sizeof(size_t) < 8 ? (MAP_LIMIT_32 - MAP_SLACK) / 2 : (UINT64_MAX - MAP_SLACK) / 2;
}

/* Map size: room for copy-on-write and free pages over the cap. */
static size_t map_size(uint64_t max_bytes)
{
    uint64_t m = max_bytes > (UINT64_MAX - MAP_SLACK) / 2 ? UINT64_MAX : max_bytes * 2 + MAP_SLACK;
    /* A 32-bit board cannot map 2 GiB in one piece: stay within 1.5 GiB there (a reader of a
     * buffer written with a larger cap on another system; a writer is refused above it). */
    uint64_t limit = sizeof(size_t) < 8 ? MAP_LIMIT_32 : (uint64_t)SIZE_MAX / 2;
    return (size_t)(m < limit ? m : limit);
}

static int resolve_opts(const struct ag_queue_opts *in, struct ag_queue_opts *o)
{
    if (in)
        *o = *in;
    else
        ag_queue_opts_default(o);
    if (o->policy != AG_FULL_BLOCK && o->policy != AG_FULL_DROP_OLDEST)
        return HC_E_INVAL;
    if (!o->readonly && o->max_bytes > ag_queue_max_bytes_limit())
        return HC_E_TOOBIG;
    /* max_bytes 0 (the buffer's own cap) and retention_bytes 0 are settled by init_caps. */
    if (o->retention_ms < 0)
        o->retention_ms = DEFAULT_RET_MS;
    return 0;
}

int ag_queue_open(const char *dir, const struct ag_queue_opts *opts, struct ag_queue **out)
{
    struct ag_queue *q;
    unsigned flags = MDB_NOTLS;
    int rc, dead;

    if (!out || !dir)
        return HC_E_INVAL;
    *out = NULL;
    q = calloc(1, sizeof *q);
    if (!q)
        return -ENOMEM;
    pthread_mutex_init(&q->map_lock, NULL);
    atomic_init(&q->touched, 0);
    rc = resolve_opts(opts, &q->o);
    if (!rc)
        rc = q->o.readonly ? check_existing(dir) : make_dir(dir);
    if (rc)
        goto out_free;
    if (q->o.nosync)
        flags |= MDB_NOSYNC;
    if (q->o.readonly)
        flags |= MDB_RDONLY;
    q->mapsize = map_size(q->o.max_bytes ? q->o.max_bytes : AG_DEFAULT_MAX);
    rc = ag_queue__err(mdb_env_create(&q->env));
    if (!rc)
        rc = ag_queue__err(mdb_env_set_maxdbs(q->env, 4));
    if (!rc)
        rc = ag_queue__err(mdb_env_set_mapsize(q->env, q->mapsize));
    if (!rc)
        rc = ag_queue__err(mdb_env_open(q->env, dir, flags, 0600));
    /* Slots of readers that died (kill -9) would pin old pages: clear them. */
    if (!rc)
        rc = ag_queue__err(mdb_reader_check(q->env, &dead));
    if (!rc)
        rc = q->o.readonly ? init_ro(q) : init_rw(q);
    /* The cap stored in the buffer may want another map (no txn is open: LMDB allows it). */
    if (!rc && !q->o.readonly && map_size(q->o.max_bytes) != q->mapsize) {
        q->mapsize = map_size(q->o.max_bytes);
        rc = ag_queue__err(mdb_env_set_mapsize(q->env, q->mapsize));
    }
    if (!rc)
        rc = locate(q);
    if (rc)
        goto out_free;
    hc_uuid7_init(&q->gen, 0);
    *out = q;
    return 0;
out_free:
    if (q->env)
        mdb_env_close(q->env);
    pthread_mutex_destroy(&q->map_lock);
    free(q);
    return rc;
}

void ag_queue_close(struct ag_queue *q)
{
    if (!q)
        return;
    mdb_env_close(q->env);
    pthread_mutex_destroy(&q->map_lock);
    hc_buf_free(&q->json);
    hc_buf_free(&q->copy);
    free(q);
}
