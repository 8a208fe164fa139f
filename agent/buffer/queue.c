/*
 * queue.c - the buffer's environment, write transactions, puts, the cap and meta values.
 *
 * One write transaction at a time exists in the environment (LMDB's writer lock, shared by
 * threads and processes). Everything a write changes, including the accounting and counters in
 * the "ag.state" meta blob, is written in that transaction, so a crash at any point leaves the
 * buffer as of the last commit.
 */
#include "agent/buffer/queue_int.h"
#include "common/error.h"
#include "common/hctime.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#define MIB (1024ull * 1024)
/* 32-bit: the map (2 x max_bytes + MAP_SLACK) stays within MAP_LIMIT_32, half of a 3 GiB user
 * address space, leaving the rest to the libraries, heap and thread stacks. */
#define MAP_LIMIT_32   (1536 * MIB)
#define DEFAULT_MAX    (sizeof(size_t) < 8 ? 512 * MIB : 1024 * MIB)
#define DEFAULT_RET_MS (24 * 3600 * 1000ll)
#define MAP_SLACK      (64 * MIB)
#define TXN_SLACK      (1 * MIB)    /* pages a txn needs besides its records (branches, meta) */
#define TRIM_EVERY     4            /* commits between drops of the map's resident pages */
#define TRIM_TOUCHED   (1 * MIB)    /* ... or after this many record bytes were read or written */
#define DISK_CHECK_NS  1000000000ll /* a disk cap looks for free space at most once a second */
#define DISK_TXN_MIN   (64 * 1024)  /* headroom for txns of at least this many record bytes */

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

void ag_queue_opts_default(struct ag_queue_opts *o)
{
    memset(o, 0, sizeof *o);
    o->max_bytes = DEFAULT_MAX;
    o->policy = AG_FULL_BLOCK;
    o->retention_ms = DEFAULT_RET_MS;
    o->retention_bytes = 0; /* max_bytes / 4: 256 MiB with the default cap */
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

static void map_probe(struct ag_queue *q, MDB_txn *txn);

/*
 * A txn of q's env. When another process grew the map past ours, LMDB asks us to adopt its size
 * (MDB_MAP_RESIZED); that remaps, which LMDB allows only while this process has no other txn
 * open: it happens only when processes open one buffer with different max_bytes.
 */
static int begin_txn(struct ag_queue *q, unsigned flags, MDB_txn **out)
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
        map_probe(q, *out);
    return ag_queue__err(rc);
}

int ag_queue__rdtxn(struct ag_queue *q, MDB_txn **out)
{
    return begin_txn(q, MDB_RDONLY, out);
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

static int store_state(struct ag_queue *q, MDB_txn *txn, const struct ag_state *st)
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
static int meta_u64s(struct ag_queue *q, MDB_txn *txn, const char *key, uint64_t *out, int n)
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
static int meta_u64s_put(struct ag_queue *q, MDB_txn *txn, const char *key, const uint64_t *in,
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

int ag_queue__disk_cap_get(struct ag_queue *q, MDB_txn *txn, uint64_t *cap, int64_t *since_ms)
{
    uint64_t v[2] = {0, 0};
    int rc = meta_u64s(q, txn, AG_META_DISK_CAP, v, 2);
    *cap = rc ? 0 : v[0];
    *since_ms = rc ? 0 : (int64_t)v[1];
    return rc == HC_E_NOTFOUND ? 0 : rc;
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
    int rc = meta_u64s(q, txn, AG_META_MAX_BYTES, &stored_max, 1);
    if (rc && rc != HC_E_NOTFOUND)
        return rc;
    if (!rc && (!q->o.max_bytes || q->o.readonly)) /* a reader shows the buffer's own */
        q->o.max_bytes = stored_max;
    else if (!q->o.max_bytes)
        q->o.max_bytes = DEFAULT_MAX;
    if (!q->o.readonly && q->o.max_bytes > ag_queue_max_bytes_limit())
        return HC_E_TOOBIG; /* a cap this process cannot map: nothing is stored */
    if (!q->o.retention_bytes)
        q->o.retention_bytes = q->o.max_bytes / 4;
    if (!q->o.readonly && (rc || stored_max != q->o.max_bytes)) {
        rc = ag_queue__err(meta_u64s_put(q, txn, AG_META_MAX_BYTES, &q->o.max_bytes, 1));
        if (rc)
            return rc;
    }
    {
        uint64_t cap;
        rc = ag_queue__disk_cap_get(q, txn, &cap, &q->disk_since_ms);
        atomic_store(&q->disk_cap, cap);
        q->disk_headroom = TXN_SLACK;
    }
    return rc;
}

static int init_rw(struct ag_queue *q)
{
    struct ag_state st;
    MDB_txn *txn;
    size_t before;
    int rc, absent, fixed = 0;

    rc = begin_txn(q, 0, &txn);
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
        rc = store_state(q, txn, &st);
    if (!rc)
        rc = init_caps(q, txn);
    if (rc)
        goto out_abort_txn;
    return ag_queue__err(mdb_txn_commit(txn));
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
    if (!rc)
        rc = init_caps(q, txn);
    if (rc)
        goto out_abort_txn;
    /* Committing a read txn keeps the DB handles it opened. */
    return ag_queue__err(mdb_txn_commit(txn));
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
    map_probe(q, txn);
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
    q->mapsize = map_size(q->o.max_bytes ? q->o.max_bytes : DEFAULT_MAX);
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

/* ---- resident pages ---------------------------------------------------------------------- */

/*
 * The map is a read-only shared mapping of data.mdb. Every page a txn reads (the B-tree path to
 * the tail, the free list, records an iterator or an ack walks) stays resident and counts in the
 * process's RSS, and copy-on-write moves the tail to new pages on every commit, so a long run of
 * enqueues would touch page after page. Dropping the map's resident pages is safe at any time,
 * from any thread (the next access faults the page back in from the page cache), so it is done
 * every few commits and after long iterations.
 * LMDB 0.9 reports no map address (me_mapaddr is only set with MDB_FIXEDMAP): the map is the
 * mapping of /proc/self/maps that holds a pointer LMDB returned into it.
 */
static void map_note(struct ag_queue *q, const void *inside)
{
    uintptr_t p = (uintptr_t)inside, lo, hi;
    char line[PATH_MAX + 128]; /* a longer line is not matched: no trimming, nothing worse */
    FILE *f = fopen("/proc/self/maps", "re");

    if (!f)
        return;
    while (fgets(line, sizeof line, f)) {
        if (sscanf(line, "%" SCNxPTR "-%" SCNxPTR, &lo, &hi) != 2 || p < lo || p >= hi)
            continue;
        /* Only ever the file's shared mapping: DONTNEED would zero private memory. */
        if (strstr(line, " r--s ") && strstr(line, "/data.mdb\n")) {
            pthread_mutex_lock(&q->map_lock);
            q->map_start = (void *)lo;
            q->map_len = hi - lo;
            pthread_mutex_unlock(&q->map_lock);
        }
        break;
    }
    fclose(f);
}

/* Learn where the map is from a value read in txn (nothing is dirty yet, so it is in the map). */
static void map_probe(struct ag_queue *q, MDB_txn *txn)
{
    MDB_val k = {sizeof AG_META_STATE - 1, (void *)AG_META_STATE}, v;
    if (!mdb_get(txn, q->db_meta, &k, &v))
        map_note(q, v.mv_data);
}

void ag_queue__touched(struct ag_queue *q, uint64_t bytes)
{
    if (atomic_fetch_add(&q->touched, bytes) + bytes < TRIM_TOUCHED)
        return;
    atomic_store(&q->touched, 0);
    ag_queue__trim(q);
}

void ag_queue__trim(struct ag_queue *q)
{
    pthread_mutex_lock(&q->map_lock);
    if (q->map_start)
        madvise(q->map_start, q->map_len, MADV_DONTNEED);
    pthread_mutex_unlock(&q->map_lock);
}

/* ---- write transactions ------------------------------------------------------------------ */

static uint64_t stored(const struct ag_state *st)
{
    return st->queued_bytes + st->retained_bytes;
}

static void disk_watch(struct ag_txn *t);

static int txn_fail(struct ag_txn *t, int mdb_rc)
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
    rc = begin_txn(q, 0, &t->txn);
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
    disk_watch(t);
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
        return txn_fail(t, rc);
    if (db == q->db_events)
        ag_queue__forget(t, seq, copy.mv_size);
    t->st.ctr[AG_CTR_CORRUPT]++;
    return 0;
}

uint64_t ag_queue_disk_cap(struct ag_queue *q)
{
    return q ? atomic_load(&q->disk_cap) : 0;
}

int ag_queue_diskfull_retry(int rc, int *tries, volatile int *stop)
{
    if (rc != HC_E_DISKFULL) {
        if (!rc)
            *tries = 0;
        return 0;
    }
    if (++*tries >= AG_QUEUE_DISKFULL_TRIES)
        return 0;
    if (*tries > 1)
        hc_sleep_ms(100, stop);
    return 1;
}

uint64_t ag_queue__cap(struct ag_queue *q)
{
    uint64_t disk = atomic_load(&q->disk_cap);
    return disk && disk < q->o.max_bytes ? disk : q->o.max_bytes;
}

/* Is the oldest retained record (value v, already known to be retained) due to go? */
static int expired(struct ag_txn *t, uint64_t need, int64_t now, const MDB_val *v, int *corrupt)
{
    const struct ag_queue_opts *o = &t->q->o;
    struct ag_rec_view r;

    *corrupt = 0;
    /* need 0: only over the cap (a disk cap learned below what is stored) */
    if (stored(&t->st) + need > ag_queue__cap(t->q) || !o->retention_ms ||
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
        return txn_fail(t, rc);
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
    return rc < 0 ? rc : rc ? txn_fail(t, rc) : 0;
}

/* Policy drop-oldest: delete queued events from the cursor on until need fits under the cap. */
static int drop_oldest(struct ag_txn *t, uint64_t need)
{
    struct ag_state *st = &t->st;
    MDB_cursor *c;
    MDB_val k, v;
    int rc;

    rc = mdb_cursor_open(t->txn, t->q->db_events, &c);
    if (rc)
        return txn_fail(t, rc);
    while (stored(st) + need > ag_queue__cap(t->q)) {
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
    return rc ? txn_fail(t, rc) : 0;
}

/* ---- the disk cap ------------------------------------------------------------------------
 *
 * A commit that fails because the file system is full (HC_E_DISKFULL) teaches the queue a cap
 * for this disk: the bytes stored when it failed, less a headroom of four times what the failed
 * txn put plus TXN_SLACK. make_room keeps to it like to max_bytes. Once under it, the data file
 * need not grow: the pages of pruned and dropped records are reused by later txns (LMDB reuses
 * a page two commits after the one that freed it, hence the headroom: the free pages in reserve
 * cover the txns in flight). Right after learning, relieve() frees that headroom at once (one
 * commit that prunes/drops down to the cap, one more so the next txn may reuse its pages), so
 * the caller's retry of the failed batch fits. Failing again lowers the cap again.
 * The cap is kept in meta (AG_META_DISK_CAP) for `status` and for the next process to open the
 * buffer. At most once a second, make_room looks at the free space of the file system: when
 * more than twice the headroom is free (files were deleted), half of it is given back to the
 * cap, and the cap goes away once it reaches max_bytes. Too much given back is learned again.
 */

/* Bytes free for us on the buffer's file system; UINT64_MAX when unknown. */
static uint64_t disk_avail(struct ag_queue *q)
{
    struct statvfs vfs;
    mdb_filehandle_t fd;
    if (mdb_env_get_fd(q->env, &fd) || fstatvfs(fd, &vfs))
        return UINT64_MAX;
    /* root may use the blocks reserved for it */
    return (uint64_t)(geteuid() ? vfs.f_bavail : vfs.f_bfree) * vfs.f_frsize;
}

/* Headroom for txns of txn_bytes: what the free pages in reserve must cover. */
static uint64_t disk_headroom(uint64_t txn_bytes)
{
    return (txn_bytes > DISK_TXN_MIN ? txn_bytes : DISK_TXN_MIN) * 4 + TXN_SLACK;
}

static void disk_learn(struct ag_queue *q, uint64_t cap, uint64_t headroom)
{
    atomic_store(&q->disk_cap, cap ? cap : 1); /* 1, not 0 (none): nothing fits */
    if (!q->disk_since_ms)
        q->disk_since_ms = hc_now_ms();
    q->disk_headroom = headroom;
    q->disk_checked_ns = hc_mono_ns();
    q->disk_dirty = 1;
}

/*
 * At the start of a write txn without a disk cap: when the free space left on the file system
 * is under the headroom, learn the cap now (what is stored), while the disk still has room for
 * the txns that prune and drop (a commit that found it full could not free anything).
 */
static void disk_watch(struct ag_txn *t)
{
    struct ag_queue *q = t->q;
    uint64_t h = disk_headroom(q->last_txn_bytes), s = stored(&t->st);
    if (atomic_load(&q->disk_cap) || disk_avail(q) >= h)
        return;
    disk_learn(q, s > q->last_txn_bytes ? s - q->last_txn_bytes : 0, h);
}

/* Relax the disk cap when the file system has room again (at most once a second). */
static void disk_relax(struct ag_queue *q)
{
    uint64_t cap = atomic_load(&q->disk_cap), avail, want;
    int64_t now = hc_mono_ns();

    if (!cap || (q->disk_checked_ns && now - q->disk_checked_ns < DISK_CHECK_NS))
        return;
    q->disk_checked_ns = now;
    avail = disk_avail(q);
    if (avail == UINT64_MAX)
        return;
    want = 2 * (q->disk_headroom > TXN_SLACK ? q->disk_headroom : TXN_SLACK);
    if (avail < want)
        return;
    cap += avail / 2;
    atomic_store(&q->disk_cap, cap >= q->o.max_bytes ? 0 : cap);
    q->disk_dirty = 1;
}

/* Room for size more bytes under the cap: retained events go first, then the policy applies. */
static int make_room(struct ag_txn *t, uint64_t size)
{
    const struct ag_queue_opts *o = &t->q->o;
    uint64_t cap;
    int rc;

    disk_relax(t->q);
    cap = ag_queue__cap(t->q);
    if (stored(&t->st) + size <= cap)
        return 0;
    rc = ag_queue__prune(t, size, hc_now_ms());
    if (rc || stored(&t->st) + size <= cap)
        return rc;
    if (o->policy == AG_FULL_DROP_OLDEST) {
        rc = drop_oldest(t, size);
        if (rc || stored(&t->st) + size <= cap)
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
    if (t->txn_bytes && t->map_used + (t->txn_bytes + size) * 2 + TXN_SLACK > q->mapsize) {
        t->st.ctr[AG_CTR_FULL]++;
        return HC_E_FULL;
    }
    rc = make_room(t, size);
    if (rc)
        return rc;
    ag_queue__key(t->st.next_seq, key);
    rc = mdb_cursor_put(t->cur, &k, &v, MDB_APPEND | MDB_RESERVE);
    if (rc)
        return txn_fail(t, rc);
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
    return rc ? txn_fail(t, rc) : 0;
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
    return rc ? txn_fail(t, rc) : 0;
}

int ag_txn_count(struct ag_txn *t, enum ag_counter c, uint64_t n)
{
    if (!t || (int)c < 0 || c >= AG_CTR_COUNT)
        return HC_E_INVAL;
    t->st.ctr[c] += n;
    return 0;
}

/*
 * A full disk shows as a short write, which LMDB reports as EIO ("short write, filesystem
 * full?"): when a commit fails with EIO or ENOSPC and the file system has no room for the txn's
 * pages, say so.
 */
static int commit_error(struct ag_queue *q, int mdb_rc, uint64_t txn_bytes)
{
    uint64_t avail;

    if (mdb_rc != EIO && mdb_rc != ENOSPC)
        return ag_queue__err(mdb_rc);
    avail = disk_avail(q);
    return avail < txn_bytes * 2 + TXN_SLACK ? HC_E_DISKFULL : ag_queue__err(mdb_rc);
}

/* In t: write the disk cap to meta when it changed (or delete it when it went away). */
static int store_disk_cap(struct ag_txn *t)
{
    struct ag_queue *q = t->q;
    uint64_t v[2] = {atomic_load(&q->disk_cap), (uint64_t)q->disk_since_ms};
    int rc;
    if (!q->disk_dirty)
        return 0;
    rc = meta_u64s_put(q, t->txn, AG_META_DISK_CAP, v, v[0] ? 2 : 0);
    return rc ? txn_fail(t, rc) : 0;
}

static int txn_commit(struct ag_txn *t);

/*
 * A commit failed for want of disk space with stored0 bytes stored and txn_bytes put: learn
 * (or lower) the disk cap, then free the headroom now (see "the disk cap"). Errors here are
 * not reported: the caller has HC_E_DISKFULL already, and a retry that fails learns again.
 */
static void disk_full(struct ag_queue *q, uint64_t stored0, uint64_t txn_bytes)
{
    uint64_t h = disk_headroom(txn_bytes), cap = ag_queue__cap(q);
    struct ag_txn *t;

    /*
     * Over a disk cap already learned (policy block could not drop): no free pages yet, the cap
     * is not to blame; keep it (the relief below prunes what it can). Else lower it.
     */
    if (!atomic_load(&q->disk_cap) || stored0 <= cap) {
        if (stored0 < cap)
            cap = stored0;
        cap = cap > h ? cap - h : 0;
    }
    disk_learn(q, cap, h);
    /* Prune and drop down to the cap (1 byte of need: to it, not just past it). */
    if (ag_queue_begin(q, &t))
        return;
    if (!ag_queue__prune(t, 1, hc_now_ms()) && q->o.policy == AG_FULL_DROP_OLDEST)
        drop_oldest(t, 1);
    if (txn_commit(t))
        return;
    /* A second commit (the cap's meta key), so the next txn may reuse the pages just freed. */
    if (!ag_queue_begin(q, &t)) {
        q->disk_dirty = 1;
        txn_commit(t);
    }
}

int ag_txn_commit(struct ag_txn *t)
{
    struct ag_queue *q;
    uint64_t stored0, txn_bytes;
    int rc;

    if (!t)
        return HC_E_INVAL;
    q = t->q;
    stored0 = stored(&t->st0);
    txn_bytes = t->txn_bytes;
    rc = txn_commit(t);
    if (rc == HC_E_DISKFULL)
        disk_full(q, stored0, txn_bytes);
    return rc;
}

/* ag_txn_commit without learning from a full disk. */
static int txn_commit(struct ag_txn *t)
{
    struct ag_queue *q = t->q;
    int rc, trim, dirty = q->disk_dirty;

    rc = t->failed;
    if (!rc)
        rc = store_disk_cap(t);
    if (!rc && memcmp(&t->st, &t->st0, sizeof t->st))
        rc = store_state(q, t->txn, &t->st);
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
        rc = commit_error(q, rc, t->txn_bytes);
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
