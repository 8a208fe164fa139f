#include "agent/pipe/load.h"

#include <errno.h>
#include <mbedtls/sha256.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/error.h"
#include "common/hctime.h"

/* The checkpoint as stored in meta (host byte order: a buffer never moves between hosts). */
struct ckpt {
    uint32_t version;
    uint32_t done;
    uint64_t dev, ino, size;
    int64_t mtime_ns;
    uint64_t offset, line;
    uint64_t events, rejected;
    uint64_t rejects_bytes;
};

#define CKPT_VERSION      1
#define CKPT_KEY_PATH_MAX 400 /* longer paths are hashed into the key */

void ag_load_opts_default(struct ag_load_opts *o)
{
    memset(o, 0, sizeof *o);
    o->batch = 1000;
    o->full_wait_ms = -1;
}

static int ckpt_key(const char *path, char *key, size_t cap)
{
    char abs[PATH_MAX];
    if (!realpath(path, abs)) {
        /* Gone already (archived): an absolute path still names its checkpoint. */
        if (path[0] != '/' || strlen(path) >= sizeof abs)
            return -errno;
        strcpy(abs, path);
    }
    if (strlen(abs) <= CKPT_KEY_PATH_MAX) {
        if ((size_t)snprintf(key, cap, "src:%s", abs) >= cap)
            return -ENAMETOOLONG;
        return 0;
    }
    /* LMDB keys stop at 511 bytes: a long path is named by its SHA-256. */
    unsigned char h[32];
    if (cap < 4 + 64 + 1 || mbedtls_sha256_ret((const unsigned char *)abs, strlen(abs), h, 0))
        return -ENAMETOOLONG;
    memcpy(key, "src#", 4);
    for (int i = 0; i < 32; i++)
        snprintf(key + 4 + 2 * i, 3, "%02x", h[i]);
    return 0;
}

static int ckpt_load(struct ag_queue *q, const char *key, struct ckpt *c)
{
    size_t len;
    int rc = ag_queue_meta_get(q, key, c, sizeof *c, &len);
    if (rc)
        return rc;
    if (len != sizeof *c || c->version != CKPT_VERSION)
        return HC_E_NOTFOUND; /* unreadable: start the file again */
    return 0;
}

static int same_file(const struct ckpt *c, const struct stat *st)
{
    return c->dev == (uint64_t)st->st_dev && c->ino == (uint64_t)st->st_ino;
}

static int64_t mtime_ns(const struct stat *st)
{
    return (int64_t)st->st_mtim.tv_sec * 1000000000 + st->st_mtim.tv_nsec;
}

/* The batch under construction: bad rows wait here until written before the commit. */
struct batch {
    struct hc_buf rejects;
    uint64_t events, rejected;
};

static int add_reject(struct batch *b, const struct ag_reader_item *it)
{
    int rc = hc_buf_addf(&b->rejects, "%llu\t", (unsigned long long)it->line);
    for (const char *p = it->reason ? it->reason : "rejected"; !rc && *p; p++)
        rc = hc_buf_addc(&b->rejects, *p == '\n' || *p == '\t' ? ' ' : *p);
    if (!rc)
        rc = hc_buf_addc(&b->rejects, '\n');
    b->rejected++;
    return rc;
}

/* Append the batch's rejects to the file and make them durable before the commit. */
static int flush_rejects(int fd, struct batch *b, uint64_t *rejects_bytes)
{
    size_t off = 0;
    if (!b->rejects.len)
        return 0;
    while (off < b->rejects.len) {
        ssize_t n =
            pwrite(fd, b->rejects.p + off, b->rejects.len - off, (off_t)(*rejects_bytes + off));
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        off += (size_t)n;
    }
    if (fdatasync(fd))
        return -errno;
    *rejects_bytes += b->rejects.len;
    hc_buf_reset(&b->rejects);
    return 0;
}

static int open_rejects(const char *path, const char *given, uint64_t keep, int *fd)
{
    char name[PATH_MAX];
    if (!given) {
        if ((size_t)snprintf(name, sizeof name, "%s.rejects", path) >= sizeof name)
            return -ENAMETOOLONG;
        given = name;
    }
    *fd = open(given, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    if (*fd < 0)
        return -errno;
    /* Rows rejected after the last commit of a killed run are cut off; they come again. */
    if (ftruncate(*fd, (off_t)keep)) {
        int rc = -errno;
        close(*fd);
        *fd = -1;
        return rc;
    }
    return 0;
}

/* Remove an empty rejects file: a clean file leaves nothing behind. */
static void drop_empty_rejects(const char *path, const char *given)
{
    char name[PATH_MAX];
    struct stat st;
    if (!given) {
        if ((size_t)snprintf(name, sizeof name, "%s.rejects", path) >= sizeof name)
            return;
        given = name;
    }
    if (!stat(given, &st) && st.st_size == 0)
        unlink(given);
}

/* Wait for room in the buffer; 0 when time is left to try again, HC_E_FULL or HC_E_STOPPED. */
static int wait_for_room(const struct ag_load_opts *o, int64_t *waited_ms)
{
    int64_t step = 100;
    if (o->stop && *o->stop)
        return HC_E_STOPPED;
    if (o->full_wait_ms >= 0 && *waited_ms >= o->full_wait_ms)
        return HC_E_FULL;
    hc_sleep_ms(step, o->stop);
    *waited_ms += step;
    return o->stop && *o->stop ? HC_E_STOPPED : 0;
}

struct run {
    struct ag_queue *q;
    const char *path;
    const struct ag_load_opts *o;
    struct ag_reader *rd;
    struct ckpt ck;
    char key[PATH_MAX + 8];
    int rej_fd;
    struct batch b;
    int have_item; /* item read but not yet stored (the buffer was full) */
    struct ag_reader_item item;
    int eof;
};

/* One batch: fill a txn with up to o->batch rows, then commit it with the checkpoint. */
static int run_batch(struct run *r, struct ag_load_result *res)
{
    struct ag_txn *t;
    struct ckpt ck0 = r->ck;
    size_t n = 0;
    int rc, full = 0;

    rc = ag_queue_begin(r->q, &t);
    if (rc)
        return rc;
    r->b.events = r->b.rejected = 0;
    while (n < r->o->batch && !r->eof) {
        if (!r->have_item) {
            rc = ag_reader_next(r->rd, &r->item);
            if (rc == HC_E_DONE) {
                r->eof = 1;
                break;
            }
            if (rc)
                goto out_abort_txn;
            r->have_item = 1;
        }
        if (r->item.rejected) {
            rc = add_reject(&r->b, &r->item);
        } else {
            rc = ag_txn_put(t, &r->item.ev);
            if (rc == HC_E_FULL) {
                full = 1;
                break;
            }
            if (rc == HC_E_TOOBIG || rc == HC_E_INVAL) {
                r->item.reason = rc == HC_E_TOOBIG ? "event larger than the buffer accepts"
                                                   : "event has no kind, device id or data";
                rc = add_reject(&r->b, &r->item);
            } else if (!rc) {
                r->b.events++;
            }
        }
        if (rc)
            goto out_abort_txn;
        r->have_item = 0;
        r->ck.offset = r->item.next_offset;
        r->ck.line = r->item.next_line;
        n++;
    }
    if (!n && !r->eof) {
        ag_txn_abort(t);
        return full ? HC_E_FULL : 0;
    }
    rc = flush_rejects(r->rej_fd, &r->b, &r->ck.rejects_bytes);
    if (rc)
        goto out_abort_txn;
    r->ck.events += r->b.events;
    r->ck.rejected += r->b.rejected;
    r->ck.done = r->eof;
    if (r->key[0])
        rc = ag_txn_meta_put(t, r->key, &r->ck, sizeof r->ck);
    if (!rc && r->b.rejected)
        rc = ag_txn_count(t, AG_CTR_REJECTED, r->b.rejected);
    if (rc)
        goto out_abort_txn;
    rc = ag_txn_commit(t);
    if (rc) {
        /* Nothing of the batch is stored: roll the in-memory checkpoint back with it. */
        r->ck = ck0;
        return rc;
    }
    res->events += r->b.events;
    res->rejected += r->b.rejected;
    if (r->o->on_commit) {
        struct ag_load_progress p = {r->path, r->ck.line, r->ck.events, r->ck.rejected, r->eof};
        r->o->on_commit(&p, r->o->arg);
    }
    return full ? HC_E_FULL : 0;
out_abort_txn:
    ag_txn_abort(t);
    return rc;
}

/*
 * Read again from the checkpoint (after a batch that failed to commit). Only a file with a
 * checkpoint can be: HC_E_DISKFULL for a pipe. The rejects of the batch are written again over
 * themselves (the checkpoint holds the size the file had).
 */
static int rewind_to_ckpt(struct run *r)
{
    const char *why = NULL;
    int rc = 0;

    if (!r->key[0])
        return HC_E_DISKFULL;
    ag_reader_close(r->rd);
    r->rd = ag_reader_open(r->path, &r->o->reader, r->ck.offset, r->ck.line, &rc, &why);
    r->have_item = 0;
    r->eof = 0;
    hc_buf_reset(&r->b.rejects);
    return r->rd ? 0 : rc ? rc : -EIO;
}

static int run_file(struct run *r, struct ag_load_result *res)
{
    int64_t waited = 0;
    int rc, disk_tries = 0;

    while (!r->eof) {
        if (r->o->stop && *r->o->stop)
            return HC_E_STOPPED;
        rc = run_batch(r, res);
        if (ag_queue_diskfull_retry(rc, &disk_tries, r->o->stop)) {
            /* The queue keeps to a cap for the disk now (queue.h): the batch again. */
            rc = rewind_to_ckpt(r);
            if (rc)
                return rc;
            continue;
        }
        if (rc == HC_E_FULL) {
            rc = wait_for_room(r->o, &waited);
            if (rc)
                return rc;
            continue;
        }
        if (rc)
            return rc;
        waited = 0;
    }
    return 0;
}

int ag_load_file(struct ag_queue *q, const char *path, const struct ag_load_opts *opts,
                 struct ag_load_result *res)
{
    struct ag_load_opts defaults;
    struct ag_load_result dummy;
    struct run r;
    struct stat st;
    const char *why = NULL;
    int rc;

    if (!opts) {
        ag_load_opts_default(&defaults);
        opts = &defaults;
    }
    if (!res)
        res = &dummy;
    memset(res, 0, sizeof *res);
    memset(&r, 0, sizeof r);
    r.q = q;
    r.path = path;
    r.o = opts;
    r.rej_fd = -1;
    if (stat(path, &st))
        return -errno;
    if (S_ISDIR(st.st_mode))
        return -EISDIR;
    /* A pipe or terminal cannot be read again: no checkpoint, nothing to resume. */
    if (!S_ISREG(st.st_mode))
        rc = HC_E_NOTFOUND;
    else if ((rc = ckpt_key(path, r.key, sizeof r.key)) == 0)
        rc = ckpt_load(q, r.key, &r.ck);
    if (rc == 0 && same_file(&r.ck, &st) && r.ck.done) {
        int grown = (uint64_t)st.st_size > r.ck.size;
        if (!opts->force && !grown && r.ck.mtime_ns == mtime_ns(&st)) {
            res->total_events = r.ck.events;
            res->total_rejected = r.ck.rejected;
            return HC_E_DONE;
        }
        /* Appended to since: go on from where it ended. Forced or rewritten: all again. */
        if (opts->force || !grown)
            rc = HC_E_NOTFOUND;
        r.ck.done = 0;
    }
    if (rc == 0 && same_file(&r.ck, &st)) {
        res->resumed = 1;
    } else if (rc == 0 || rc == HC_E_NOTFOUND) {
        memset(&r.ck, 0, sizeof r.ck);
        r.ck.version = CKPT_VERSION;
        r.ck.line = 1;
    } else {
        return rc;
    }
    r.ck.dev = (uint64_t)st.st_dev;
    r.ck.ino = (uint64_t)st.st_ino;
    r.ck.size = (uint64_t)st.st_size;
    r.ck.mtime_ns = mtime_ns(&st);

    rc = open_rejects(path, opts->rejects_path, r.ck.rejects_bytes, &r.rej_fd);
    if (rc)
        return rc;
    r.rd = ag_reader_open(path, &opts->reader, r.ck.offset, r.ck.line, &rc, &why);
    if (!r.rd) {
        res->why = why;
        goto out_close_rejects;
    }
    rc = run_file(&r, res);
    ag_reader_close(r.rd);
out_close_rejects:
    close(r.rej_fd);
    hc_buf_free(&r.b.rejects);
    if (rc == 0)
        drop_empty_rejects(path, opts->rejects_path);
    res->total_events = r.ck.events;
    res->total_rejected = r.ck.rejected;
    res->next_line = r.ck.line;
    return rc;
}

int ag_load_forget(struct ag_queue *q, const char *path)
{
    char key[PATH_MAX + 8];
    struct ag_txn *t;
    int rc = ckpt_key(path, key, sizeof key);
    if (rc)
        return rc;
    rc = ag_queue_begin(q, &t);
    if (rc)
        return rc;
    rc = ag_txn_meta_del(t, key);
    if (rc && rc != HC_E_NOTFOUND) {
        ag_txn_abort(t);
        return rc;
    }
    return ag_txn_commit(t);
}
