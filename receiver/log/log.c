/*
 * log.c - one partition's log: load (the index checked against the files), the writer thread's
 * durable hook (index rows for the blocks just synced, the tail, waking readers), info, retention.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/error.h"
#include "common/log.h"
#include "receiver/capture/avro_writer.h"
#include "receiver/capture/scan.h"
#include "receiver/log/log_int.h"

#define TAIL_DEFAULT (8u << 20)
#define HEADER_MAX   (1u << 20)

struct rx_log *rx_log_new(const struct rx_log_opts *o)
{
    struct rx_log *log = calloc(1, sizeof *log);
    if (!log)
        return NULL;
    snprintf(log->pdir, sizeof log->pdir, "%s", o->pdir);
    snprintf(log->index_dir, sizeof log->index_dir, "%s", o->index_dir);
    log->retention_ms = o->retention_ms;
    log->tail.max_bytes = o->tail_bytes ? o->tail_bytes : TAIL_DEFAULT;
    log->begin_seq = -1;
    log->writing_s = -1;
    log->last_seq = log->last_offset = -1;
    pthread_mutex_init(&log->mu, NULL);
    return log;
}

/*
 * Open the index and check it against the files. 0, or why not (the index is then left out:
 * readers get what the tail holds, and ask again later for the rest).
 */
static int index_up(struct rx_log *log, struct rx_log__numbers *n)
{
    int rc;
    if (!log->ix_open) {
        if ((rc = rx_log__index_open(&log->ix, log->index_dir)))
            return rc;
        log->ix_open = 1;
    }
    if ((rc = rx_log__check(log, n)))
        return rc;
    atomic_store(&log->ix_ok, 1);
    return 0;
}

int rx_log_load(struct rx_log *log, const struct rx_recovery *r)
{
    struct rx_log__numbers n = {-1, -1, -1, 0, 0};
    int rc = index_up(log, &n);
    if (rc)
        hc_error("log %s: no index (%s): %s; capture goes on, consumers read only what arrives "
                 "from now on until the index can be written (tried again at each new capture "
                 "file)",
                 log->index_dir, hc_strerror(rc),
                 rc == -ENOSPC ? "the disk is full" : "check the index folder");
    log->begin_seq = n.begin_seq;
    log->last_seq = n.last_seq;
    log->last_offset = n.last_offset;
    log->last_enq = n.last_enq;
    log->enq_hi = n.enq_hi;
    log->end_seq = log->last_seq + 1;
    if (r && r->next_seq > log->end_seq)
        log->end_seq = r->next_seq;
    if (rc) /* unknown without the index: readers from the start wait for it (HC_E_RETRY) */
        log->begin_seq = 0;
    else if (log->begin_seq < 0)
        log->begin_seq = log->end_seq;
    return 0;
}

void rx_log_free(struct rx_log *log)
{
    if (!log)
        return;
    if (log->ix_open)
        rx_log__index_close(&log->ix);
    rx_log__tail_free(&log->tail);
    hc_buf_free(&log->wbuf);
    pthread_mutex_destroy(&log->mu);
    free(log);
}

/* ---- The durable hook ----------------------------------------------------------------------- */

/* A new file: its row, from its header (codec, sync marker) and inode. */
static int cur_start(struct rx_log *log, const struct rx_durable *d)
{
    struct rx_log__file *f = &log->cur;
    struct rx_avro_scan s;
    struct stat st;
    size_t n = d->from < HEADER_MAX ? (size_t)d->from : HEADER_MAX;
    int rc = 0, fd = open(d->path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    hc_buf_reset(&log->wbuf);
    if (fstat(fd, &st) || hc_buf_reserve(&log->wbuf, n)) {
        rc = errno ? -errno : -ENOMEM;
        goto out_close;
    }
    if (pread(fd, log->wbuf.p, n, 0) != (ssize_t)n) {
        rc = -EIO;
        goto out_close;
    }
    if ((rc = rx_avro_scan_header((const uint8_t *)log->wbuf.p, n, &s)))
        goto out_close;
    memset(f, 0, sizeof *f);
    f->file_s = d->file_s;
    f->ino = (uint64_t)st.st_ino;
    f->size = d->from;
    f->first_seq = f->last_seq = f->last_offset = -1;
    f->enq_hi = log->enq_hi;
    f->codec = (int32_t)s.codec;
    memcpy(f->sync, s.sync, 16);
    log->cur_valid = 1;
out_close:
    close(fd);
    return rc;
}

/* The index rows of the blocks in [d->from, d->to), in one transaction. */
static int index_durable(struct rx_log *log, const struct rx_durable *d)
{
    struct rx_log__file *f = &log->cur;
    size_t len = (size_t)(d->to - d->from), at = 0, ev = 0;
    MDB_txn *txn;
    int rc, fd;
    if (!log->cur_valid || f->file_s != d->file_s) {
        if (log->cur_valid)
            mdb_env_sync(log->ix.env, 1); /* the last file's rows, now that it is closed */
        log->cur_valid = 0;
        if ((rc = cur_start(log, d)))
            return rc;
    }
    if (f->size != d->from)
        return HC_E_INVAL; /* a sync the log did not see */
    hc_buf_reset(&log->wbuf);
    if (hc_buf_reserve(&log->wbuf, len ? len : 1))
        return -ENOMEM;
    if ((fd = open(d->path, O_RDONLY | O_CLOEXEC)) < 0)
        return -errno;
    rc = pread(fd, log->wbuf.p, len, (off_t)d->from) == (ssize_t)len ? 0 : -EIO;
    close(fd);
    if (rc)
        return rc;
    if ((rc = mdb_txn_begin(log->ix.env, NULL, 0, &txn)))
        return rx_log__mdb_err(rc);
    while (at < len && !rc) {
        struct rx_log__frame fr;
        struct rx_log__blk b = {0};
        if ((rc = rx_log__frame((const uint8_t *)log->wbuf.p + at, len - at, f->sync, &fr)))
            break;
        if (ev + (size_t)fr.count > d->n) {
            rc = HC_E_PARSE;
            break;
        }
        b.seq = d->ev[ev].seq;
        b.file_s = d->file_s;
        b.off = d->from + at;
        b.len = (uint32_t)fr.len;
        b.count = (uint32_t)fr.count;
        b.offset = d->ev[ev].offset;
        for (size_t i = 0; i < (size_t)fr.count; i++, ev++)
            if (d->ev[ev].enq_ms > f->enq_hi)
                f->enq_hi = d->ev[ev].enq_ms;
        b.enq_hi = f->enq_hi;
        b.last_seq = d->ev[ev - 1].seq;
        rc = rx_log__put_block(&log->ix, txn, &b);
        at += fr.len;
    }
    if (!rc && ev != d->n)
        rc = HC_E_PARSE;
    if (!rc) {
        if (f->first_seq < 0)
            f->first_seq = d->ev[0].seq;
        f->last_seq = d->ev[d->n - 1].seq;
        f->last_offset = d->ev[d->n - 1].offset;
        f->last_enq = d->ev[d->n - 1].enq_ms;
        f->size = d->to;
        rc = rx_log__put_file(&log->ix, txn, f);
    }
    if (rc) {
        mdb_txn_abort(txn);
        return rc;
    }
    return rx_log__mdb_err(mdb_txn_commit(txn));
}

void rx_log_durable(struct rx_log *log, const struct rx_durable *d)
{
    int rc = 0;
    if (!atomic_load(&log->ix_ok) && (!log->cur_valid || log->cur.file_s != d->file_s)) {
        /* a new file: the one before is closed, so the files can be indexed again */
        struct rx_log__numbers n;
        log->cur_valid = 0;
        if (!(rc = index_up(log, &n))) {
            hc_info("log %s: indexed again from the files", log->pdir);
            pthread_mutex_lock(&log->mu);
            log->begin_seq = n.begin_seq >= 0 ? n.begin_seq : log->end_seq;
            pthread_mutex_unlock(&log->mu);
        }
    }
    if (atomic_load(&log->ix_ok) && (rc = index_durable(log, d))) {
        atomic_store(&log->ix_ok, 0);
        hc_error("log %s: cannot index %s: %s; consumers read these events from memory while it "
                 "holds them, and the files are indexed again at the next capture file",
                 log->pdir, d->path, hc_strerror(rc));
    }
    pthread_mutex_lock(&log->mu);
    log->writing_s = d->file_s;
    if ((rc = rx_log__tail_add(&log->tail, d)))
        hc_error("log %s: tail: %s", log->pdir, hc_strerror(rc));
    for (size_t i = 0; i < d->n; i++)
        if (d->ev[i].enq_ms > log->enq_hi)
            log->enq_hi = d->ev[i].enq_ms;
    log->last_seq = d->ev[d->n - 1].seq;
    log->last_offset = d->ev[d->n - 1].offset;
    log->last_enq = d->ev[d->n - 1].enq_ms;
    if (log->begin_seq >= log->end_seq)
        log->begin_seq = d->ev[0].seq;
    log->end_seq = log->last_seq + 1;
    rx_log__wake(log);
    pthread_mutex_unlock(&log->mu);
}

static int hook_recovered(void *ctx, const char *pdir, const struct rx_recovery *r)
{
    (void)pdir;
    return rx_log_load(ctx, r);
}

static void hook_durable(void *ctx, const struct rx_durable *d)
{
    rx_log_durable(ctx, d);
}

void rx_log_hooks(struct rx_log *log, struct rx_partition_hooks *h)
{
    h->recovered = hook_recovered;
    h->durable = hook_durable;
    h->ctx = log;
}

void rx_log_info(struct rx_log *log, struct rx_log_info *out)
{
    MDB_txn *txn;
    memset(out, 0, sizeof *out);
    if (atomic_load(&log->ix_ok) && !mdb_txn_begin(log->ix.env, NULL, MDB_RDONLY, &txn)) {
        rx_log__counts(&log->ix, txn, &out->files, &out->blocks);
        mdb_txn_abort(txn);
    }
    pthread_mutex_lock(&log->mu);
    out->begin_seq = log->begin_seq;
    out->end_seq = log->end_seq;
    out->last_seq = log->last_seq;
    out->last_offset = log->last_offset;
    out->last_enq_ms = log->last_enq;
    out->readers = log->nreaders;
    out->rebuilt = atomic_load(&log->rebuilt);
    out->retained_out = log->retained_out;
    pthread_mutex_unlock(&log->mu);
}

/* ---- Retention ------------------------------------------------------------------------------ */

struct retain {
    struct rx_log *log;
    int64_t before_ms; /* files whose newest event is older than this */
    int64_t min_reader;
    rx_log_safe_fn safe;
    void *ctx;
    struct rx_log__file *f;
    size_t n, cap;
    int64_t next_begin;
    int64_t writing_s;
};

static int retain_fn(void *ctx, const struct rx_log__file *f)
{
    struct retain *rt = ctx;
    char path[RX_PATH_MAX];
    struct stat st;
    int rc;
    if (rt->writing_s >= 0 && f->file_s >= rt->writing_s)
        return 1; /* being written */
    if (f->last_enq >= rt->before_ms || (f->last_seq >= 0 && rt->min_reader <= f->last_seq))
        return 1;
    if ((rc = rx_log__path(rt->log, f->file_s, 0, path, sizeof path)))
        return rc;
    if (stat(path, &st))
        return 1; /* not closed (yet) */
    if (rt->safe && (rc = rt->safe(rt->ctx, path)) != 1)
        return rc < 0 ? rc : 1;
    if (rt->n == rt->cap) {
        struct rx_log__file *nf =
            realloc(rt->f, (rt->cap = rt->cap ? rt->cap * 2 : 16) * sizeof *nf);
        if (!nf)
            return -ENOMEM;
        rt->f = nf;
    }
    rt->f[rt->n++] = *f;
    if (f->last_seq >= 0)
        rt->next_begin = f->last_seq + 1;
    return 0;
}

static int64_t min_reader_seq(struct rx_log *log)
{
    int64_t m = INT64_MAX;
    for (struct rx_log_reader *r = log->readers; r; r = r->next) {
        int64_t s = atomic_load(&r->next_seq);
        if (s < m)
            m = s;
    }
    return m;
}

int rx_log_retain(struct rx_log *log, int64_t now_ms, rx_log_safe_fn safe, void *ctx, int *deleted)
{
    struct retain rt = {.log = log,
                        .before_ms = now_ms - log->retention_ms,
                        .safe = safe,
                        .ctx = ctx,
                        .next_begin = -1};
    MDB_txn *txn;
    int rc;
    if (deleted)
        *deleted = 0;
    if (!log->retention_ms || !atomic_load(&log->ix_ok))
        return 0;
    /* hold the readers still: none may open before the files chosen while they are chosen */
    pthread_mutex_lock(&log->mu);
    rt.min_reader = min_reader_seq(log);
    rt.writing_s = log->writing_s;
    if ((rc = mdb_txn_begin(log->ix.env, NULL, MDB_RDONLY, &txn))) {
        pthread_mutex_unlock(&log->mu);
        return rx_log__mdb_err(rc);
    }
    rc = rx_log__each_file(&log->ix, txn, retain_fn, &rt);
    mdb_txn_abort(txn);
    if (rc >= 0 && rt.n && rt.next_begin > log->begin_seq)
        log->begin_seq = rt.next_begin < log->end_seq ? rt.next_begin : log->end_seq;
    pthread_mutex_unlock(&log->mu);
    if (rc < 0 || !rt.n)
        goto out_free;
    if ((rc = mdb_txn_begin(log->ix.env, NULL, 0, &txn))) {
        rc = rx_log__mdb_err(rc);
        goto out_free;
    }
    for (size_t i = 0; i < rt.n && !rc; i++)
        rc = rx_log__drop_file(&log->ix, txn, &rt.f[i]);
    if (rc) {
        mdb_txn_abort(txn);
        goto out_free;
    }
    if ((rc = rx_log__mdb_err(mdb_txn_commit(txn))))
        goto out_free;
    for (size_t i = 0; i < rt.n; i++) {
        char path[RX_PATH_MAX];
        if (rx_log__path(log, rt.f[i].file_s, 0, path, sizeof path))
            continue;
        if (unlink(path) && errno != ENOENT) {
            rc = -errno;
            hc_warn("log %s: retention: cannot delete %s: %s", log->pdir, path, hc_strerror(rc));
            continue;
        }
        rx_fsync_parent(path);
        pthread_mutex_lock(&log->mu);
        log->retained_out++;
        pthread_mutex_unlock(&log->mu);
        if (deleted)
            (*deleted)++;
    }
    rc = 0;
out_free:
    free(rt.f);
    return rc > 0 ? 0 : rc;
}
