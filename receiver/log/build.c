/*
 * build.c - the index checked against the capture files at open, and files indexed from their
 * bytes: the index is derived data, so whatever it lacks or got wrong is read again from the
 * files, which are the log.
 *
 * A file's row says which inode and how many bytes of it were indexed. At open, per file:
 *   row and file agree (inode, size), its last block reads as indexed    nothing to do
 *   same inode, grown (the index lost its last writes in a crash)       index from there on
 *   anything else (cut by recovery, rebuilt, replaced, no row)           drop its rows, index all
 * and a row whose file is gone (deleted by hand or by retention) is dropped.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/error.h"
#include "common/log.h"
#include "receiver/capture/avro_enc.h"
#include "receiver/capture/layout.h"
#include "receiver/capture/record.h"
#include "receiver/capture/scan.h"
#include "receiver/log/log_int.h"

int rx_log__path(const struct rx_log *log, int64_t file_s, int tmp, char *out, size_t cap)
{
    int rc = rx_layout_file(out, cap, log->pdir, file_s, tmp);
    return rc < 0 ? rc : 0;
}

int rx_log__open_file(const struct rx_log *log, int64_t file_s)
{
    char p[RX_PATH_MAX];
    int rc;
    for (int i = 0; i < 3; i++) { /* final, temporary, final again (renamed meanwhile) */
        if ((rc = rx_log__path(log, file_s, i == 1, p, sizeof p)))
            return rc;
        int fd = open(p, O_RDONLY | O_CLOEXEC);
        if (fd >= 0)
            return fd;
        if (errno != ENOENT)
            return -errno;
    }
    return -ENOENT;
}

/* ---- Indexing one file ---------------------------------------------------------------------- */

/* The numbers of one record, from its fields. */
static int record_numbers(const struct rx_record *r, int64_t *offset, int64_t *enq)
{
    const uint8_t *v, *q;
    size_t len;
    int64_t off = 0;
    if (r->offset_len == 0 || r->offset_len > 18)
        return HC_E_PARSE;
    for (size_t i = 0; i < r->offset_len; i++) {
        if (r->offset[i] < '0' || r->offset[i] > '9')
            return HC_E_PARSE;
        off = off * 10 + (r->offset[i] - '0');
    }
    *offset = off;
    *enq = 0;
    if (rx_record_map_get(r->sysprops, r->sysprops_len, "x-opt-enqueued-time", &v, &len) ==
        RX_AVRO_LONG) {
        q = v;
        if (rx_avro_get_long(&q, v + len, enq))
            return HC_E_PARSE;
    }
    return 0;
}

struct build {
    struct rx_log *log;
    struct rx_log__index *ix;
    MDB_txn *txn;
    const uint8_t *p;
    size_t from;
    struct rx_log__file *f;
    struct rx_log__blk b; /* the block being decoded */
    int64_t n;            /* its records seen */
    int err;
};

static int build_record(void *ctx, const struct rx_record *r)
{
    struct build *bd = ctx;
    int64_t off, enq;
    int rc = record_numbers(r, &off, &enq);
    if (rc)
        return rc;
    if (bd->n++ == 0) {
        bd->b.seq = r->seq;
        bd->b.offset = off;
    }
    bd->b.last_seq = r->seq;
    if (enq > bd->f->enq_hi)
        bd->f->enq_hi = enq;
    bd->f->last_offset = off;
    bd->f->last_enq = enq;
    return 0;
}

static int build_block(void *ctx, const struct rx_avro_block *blk)
{
    struct build *bd = ctx;
    int rc;
    if (blk->off < bd->from)
        return 0;
    memset(&bd->b, 0, sizeof bd->b);
    bd->n = 0;
    bd->b.file_s = bd->f->file_s;
    bd->b.off = blk->off;
    bd->b.len = (uint32_t)blk->len;
    bd->b.count = (uint32_t)blk->count;
    if ((rc = rx_avro_block_records(bd->p, blk, (enum rx_codec)bd->f->codec, build_record, bd)))
        return rc;
    if (bd->n != blk->count || bd->n == 0)
        return HC_E_PARSE;
    bd->b.enq_hi = bd->f->enq_hi;
    if (bd->f->first_seq < 0)
        bd->f->first_seq = bd->b.seq;
    bd->f->last_seq = bd->b.last_seq;
    bd->f->size = blk->off + blk->len;
    return rx_log__put_block(bd->ix, bd->txn, &bd->b);
}

/*
 * Index the blocks of file f from byte `from` on (f holds what was indexed before: from 0, a
 * fresh row). The file is read through a private mapping.
 */
static int index_file(struct rx_log *log, MDB_txn *txn, struct rx_log__file *f, size_t from, int fd,
                      size_t size, int64_t enq_before)
{
    struct rx_avro_scan s;
    struct build bd = {.log = log, .ix = &log->ix, .txn = txn, .from = from, .f = f};
    void *map;
    int rc;
    if (size == 0)
        return HC_E_PARSE;
    if ((map = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0)) == MAP_FAILED)
        return -errno;
    bd.p = map;
    if ((rc = rx_avro_scan(map, size, &s)))
        goto out_unmap;
    if (from == 0) {
        f->codec = (int32_t)s.codec;
        memcpy(f->sync, s.sync, 16);
        f->size = s.header_len;
        f->enq_hi = enq_before;
    }
    rc = rx_avro_scan_blocks(map, &s, build_block, &bd);
out_unmap:
    munmap(map, size);
    return rc;
}

/* ---- Checking a file at open ---------------------------------------------------------------- */

/* Does the last indexed block of f read as the index says (count and sync marker)? */
static int last_block_ok(struct rx_log *log, MDB_txn *txn, int fd, const struct rx_log__file *f)
{
    struct rx_log__blk b;
    struct rx_log__frame fr;
    uint8_t *buf;
    int ok = 0;
    if (f->last_seq < 0)
        return 1;
    if (rx_log__find_seq(&log->ix, txn, f->last_seq, &b) || b.file_s != f->file_s ||
        b.off + b.len != f->size || !(buf = malloc(b.len)))
        return 0;
    if (pread(fd, buf, b.len, (off_t)b.off) == (ssize_t)b.len &&
        !rx_log__frame(buf, b.len, f->sync, &fr) && fr.len == b.len && fr.count == b.count)
        ok = 1;
    free(buf);
    return ok;
}

/* The highest enqueued time of the files before file_s (for enq_hi). */
struct prev_hi {
    int64_t file_s, hi;
};

static int prev_hi_fn(void *ctx, const struct rx_log__file *f)
{
    struct prev_hi *ph = ctx;
    if (f->file_s >= ph->file_s)
        return 1;
    if (f->enq_hi > ph->hi)
        ph->hi = f->enq_hi;
    return 0;
}

static int check_file(struct rx_log *log, MDB_txn *txn, int64_t file_s, const char *path)
{
    struct rx_log__file f, old;
    struct stat st;
    int have, rc, fd = open(path, O_RDONLY | O_CLOEXEC);
    size_t from = 0;
    if (fd < 0)
        return errno == ENOENT ? 0 : -errno;
    if (fstat(fd, &st)) {
        rc = -errno;
        goto out_close;
    }
    have = !rx_log__get_file(&log->ix, txn, file_s, &old);
    if (have && old.ino == (uint64_t)st.st_ino && old.size == (uint64_t)st.st_size &&
        last_block_ok(log, txn, fd, &old)) {
        if (!old.closed) {
            old.closed = 1;
            rc = rx_log__put_file(&log->ix, txn, &old);
        } else {
            rc = 0;
        }
        goto out_close;
    }
    if (have && old.ino == (uint64_t)st.st_ino && old.size < (uint64_t)st.st_size &&
        last_block_ok(log, txn, fd, &old)) {
        f = old;
        from = old.size;
    } else {
        struct prev_hi ph = {file_s, 0};
        if (have && (rc = rx_log__drop_file(&log->ix, txn, &old)))
            goto out_close;
        if ((rc = rx_log__each_file(&log->ix, txn, prev_hi_fn, &ph)) < 0)
            goto out_close;
        memset(&f, 0, sizeof f);
        f.file_s = file_s;
        f.first_seq = f.last_seq = f.last_offset = -1;
        f.enq_hi = ph.hi;
    }
    f.ino = (uint64_t)st.st_ino;
    f.closed = 1;
    rc = index_file(log, txn, &f, from, fd, (size_t)st.st_size, f.enq_hi);
    if (rc == HC_E_PARSE || rc == HC_E_VERSION) {
        hc_warn("log %s: not indexed (%s): its events cannot be read back by consumers", path,
                hc_strerror(rc));
        rc = rx_log__drop_file(&log->ix, txn, &f);
        goto out_close;
    }
    if (!rc)
        rc = rx_log__put_file(&log->ix, txn, &f);
    if (!rc)
        atomic_fetch_add(&log->rebuilt, 1);
out_close:
    close(fd);
    return rc;
}

/* ---- Walking the folder --------------------------------------------------------------------- */

struct walk {
    struct rx_log *log;
    MDB_txn *txn;
    int64_t *seen; /* file seconds found, for the rows without a file */
    size_t n, cap;
};

static int cmp_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int seen_add(struct walk *w, int64_t s)
{
    if (w->n == w->cap) {
        size_t cap = w->cap ? w->cap * 2 : 256;
        int64_t *n = realloc(w->seen, cap * sizeof *n);
        if (!n)
            return -ENOMEM;
        w->seen = n;
        w->cap = cap;
    }
    w->seen[w->n++] = s;
    return 0;
}

static int walk_entry(struct walk *w, const char *path, int depth, const char *name);

/* The folders YYYY/MM/DD/hh/mm (depth 0..4) and the files ss.avro in them, in name order. */
static int walk_dir(struct walk *w, const char *dir, int depth)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char **names = NULL;
    size_t n = 0, cap = 0;
    int rc = 0;
    if (!d)
        return errno == ENOENT ? 0 : -errno;
    while ((e = readdir(d))) {
        if (e->d_name[0] < '0' || e->d_name[0] > '9')
            continue;
        if (n == cap) {
            char **nn = realloc(names, (cap = cap ? cap * 2 : 64) * sizeof *nn);
            if (!nn) {
                rc = -ENOMEM;
                break;
            }
            names = nn;
        }
        if (!(names[n] = strdup(e->d_name))) {
            rc = -ENOMEM;
            break;
        }
        n++;
    }
    closedir(d);
    if (!rc && n)
        qsort(names, n, sizeof *names, cmp_name);
    for (size_t i = 0; i < n && !rc; i++) {
        char path[RX_PATH_MAX];
        if (snprintf(path, sizeof path, "%s/%s", dir, names[i]) >= (int)sizeof path)
            continue;
        rc = walk_entry(w, path, depth, names[i]);
    }
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    return rc;
}

static int walk_entry(struct walk *w, const char *path, int depth, const char *name)
{
    size_t len = strlen(name), ext = strlen(RX_CAPTURE_EXT);
    int64_t s;
    int rc;
    if (depth < 5)
        return walk_dir(w, path, depth + 1);
    if (len <= ext || strcmp(name + len - ext, RX_CAPTURE_EXT) || (s = rx_layout_time(path, 0)) < 0)
        return 0;
    if ((rc = check_file(w->log, w->txn, s, path)))
        return rc;
    return seen_add(w, s);
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

/* Rows whose file is gone. */
struct gone {
    struct walk *w;
    struct rx_log__file *f;
    size_t n, cap;
};

static int gone_fn(void *ctx, const struct rx_log__file *f)
{
    struct gone *g = ctx;
    if (g->w->n && bsearch(&f->file_s, g->w->seen, g->w->n, sizeof(int64_t), cmp_i64))
        return 0;
    if (g->n == g->cap) {
        struct rx_log__file *nf = realloc(g->f, (g->cap = g->cap ? g->cap * 2 : 16) * sizeof *nf);
        if (!nf)
            return -ENOMEM;
        g->f = nf;
    }
    g->f[g->n++] = *f;
    return 0;
}

/* The partition's numbers from the newest file row. */
static int last_fn(void *ctx, const struct rx_log__file *f)
{
    struct rx_log__numbers *n = ctx;
    if (f->last_seq >= 0 && f->last_seq >= n->last_seq) {
        n->last_seq = f->last_seq;
        n->last_offset = f->last_offset;
        n->last_enq = f->last_enq;
    }
    if (f->enq_hi > n->enq_hi)
        n->enq_hi = f->enq_hi;
    return 0;
}

int rx_log__check(struct rx_log *log, struct rx_log__numbers *out)
{
    struct walk w = {.log = log};
    struct gone g = {.w = &w};
    struct rx_log__blk b;
    int rc = mdb_txn_begin(log->ix.env, NULL, 0, &w.txn);
    if (rc)
        return rx_log__mdb_err(rc);
    if ((rc = walk_dir(&w, log->pdir, 0)))
        goto out_abort;
    if (w.n)
        qsort(w.seen, w.n, sizeof *w.seen, cmp_i64);
    if ((rc = rx_log__each_file(&log->ix, w.txn, gone_fn, &g)) < 0)
        goto out_abort;
    for (size_t i = 0; i < g.n && !rc; i++)
        rc = rx_log__drop_file(&log->ix, w.txn, &g.f[i]);
    if (rc)
        goto out_abort;
    *out = (struct rx_log__numbers){-1, -1, -1, 0, 0};
    if ((rc = rx_log__each_file(&log->ix, w.txn, last_fn, out)) < 0)
        goto out_abort;
    rc = rx_log__edge_block(&log->ix, w.txn, 0, &b);
    out->begin_seq = rc ? -1 : b.seq;
    if ((rc = rx_log__mdb_err(mdb_txn_commit(w.txn))))
        goto out_free;
    rc = rx_log__mdb_err(mdb_env_sync(log->ix.env, 1));
    goto out_free;
out_abort:
    mdb_txn_abort(w.txn);
out_free:
    free(w.seen);
    free(g.f);
    return rc;
}
