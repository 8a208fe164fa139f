/* diskcap.c - the cap learned from a full disk (see "the disk cap" below). */
#include "agent/buffer/queue_int.h"
#include "common/error.h"
#include "common/hctime.h"

#include <errno.h>
#include <stdint.h>
#include <sys/statvfs.h>
#include <unistd.h>

#define DISK_CHECK_NS 1000000000ll /* a disk cap looks for free space at most once a second */
#define DISK_TXN_MIN  (64 * 1024)  /* headroom for txns of at least this many record bytes */

/* ---- the disk cap ------------------------------------------------------------------------
 *
 * A commit that fails because the file system is full (HC_E_DISKFULL) teaches the queue a cap
 * for this disk: the bytes stored when it failed, less a headroom of four times what the failed
 * txn put plus AG_TXN_SLACK. make_room keeps to it like to max_bytes. Once under it, the data file
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
    return (txn_bytes > DISK_TXN_MIN ? txn_bytes : DISK_TXN_MIN) * 4 + AG_TXN_SLACK;
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
void ag_queue__disk_watch(struct ag_txn *t)
{
    struct ag_queue *q = t->q;
    uint64_t h = disk_headroom(q->last_txn_bytes), s = ag_queue__stored(&t->st);
    if (atomic_load(&q->disk_cap) || disk_avail(q) >= h)
        return;
    disk_learn(q, s > q->last_txn_bytes ? s - q->last_txn_bytes : 0, h);
}

/* Relax the disk cap when the file system has room again (at most once a second). */
void ag_queue__disk_relax(struct ag_queue *q)
{
    uint64_t cap = atomic_load(&q->disk_cap), avail, want;
    int64_t now = hc_mono_ns();

    if (!cap || (q->disk_checked_ns && now - q->disk_checked_ns < DISK_CHECK_NS))
        return;
    q->disk_checked_ns = now;
    avail = disk_avail(q);
    if (avail == UINT64_MAX)
        return;
    want = 2 * (q->disk_headroom > AG_TXN_SLACK ? q->disk_headroom : AG_TXN_SLACK);
    if (avail < want)
        return;
    cap += avail / 2;
    atomic_store(&q->disk_cap, cap >= q->o.max_bytes ? 0 : cap);
    q->disk_dirty = 1;
}

int ag_queue__disk_cap_get(struct ag_queue *q, MDB_txn *txn, uint64_t *cap, int64_t *since_ms)
{
    uint64_t v[2] = {0, 0};
    int rc = ag_queue__meta_u64s(q, txn, AG_META_DISK_CAP, v, 2);
    *cap = rc ? 0 : v[0];
    *since_ms = rc ? 0 : (int64_t)v[1];
    return rc == HC_E_NOTFOUND ? 0 : rc;
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

/*
 * A full disk shows as a short write, which LMDB reports as EIO ("short write, filesystem
 * full?"): when a commit fails with EIO or ENOSPC and the file system has no room for the txn's
 * pages, say so.
 */
int ag_queue__commit_error(struct ag_queue *q, int mdb_rc, uint64_t txn_bytes)
{
    uint64_t avail;

    if (mdb_rc != EIO && mdb_rc != ENOSPC)
        return ag_queue__err(mdb_rc);
    avail = disk_avail(q);
    return avail < txn_bytes * 2 + AG_TXN_SLACK ? HC_E_DISKFULL : ag_queue__err(mdb_rc);
}

/* In t: write the disk cap to meta when it changed (or delete it when it went away). */
int ag_queue__store_disk_cap(struct ag_txn *t)
{
    struct ag_queue *q = t->q;
    uint64_t v[2] = {atomic_load(&q->disk_cap), (uint64_t)q->disk_since_ms};
    int rc;
    if (!q->disk_dirty)
        return 0;
    rc = ag_queue__meta_u64s_put(q, t->txn, AG_META_DISK_CAP, v, v[0] ? 2 : 0);
    return rc ? ag_queue__txn_fail(t, rc) : 0;
}

/*
 * A commit failed for want of disk space with stored0 bytes stored and txn_bytes put: learn
 * (or lower) the disk cap, then free the headroom now (see "the disk cap"). Errors here are
 * not reported: the caller has HC_E_DISKFULL already, and a retry that fails learns again.
 */
void ag_queue__disk_full(struct ag_queue *q, uint64_t stored0, uint64_t txn_bytes)
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
        ag_queue__drop_oldest(t, 1);
    if (ag_queue__txn_commit(t))
        return;
    /* A second commit (the cap's meta key), so the next txn may reuse the pages just freed. */
    if (!ag_queue_begin(q, &t)) {
        q->disk_dirty = 1;
        ag_queue__txn_commit(t);
    }
}
