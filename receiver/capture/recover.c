#include "receiver/capture/recover.h"

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
#include "receiver/capture/avro_writer.h"
#include "receiver/capture/layout.h"
#include "receiver/capture/scan.h"

#define DEPTH_LEAF  5 /* YYYY/MM/DD/hh/mm, then the files */
#define SYNC_LEN    16
#define STEM_LEN    7 /* "ss.avro" */
#define ASIDE_EXT   ".corrupt"
#define REBUILD_EXT ".rebuild"

/* ---- Files ---------------------------------------------------------------------------------- */

/* A file mapped read-only (len 0: p is NULL). */
struct mapped {
    uint8_t *p;
    size_t len;
};

static int map_file(const char *path, struct mapped *m)
{
    struct stat st;
    int fd = open(path, O_RDONLY | O_CLOEXEC), rc = 0;
    m->p = NULL;
    m->len = 0;
    if (fd < 0)
        return -errno;
    if (fstat(fd, &st))
        rc = -errno;
    else if (st.st_size > 0) {
        void *p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (p == MAP_FAILED)
            rc = -errno;
        else {
            m->p = p;
            m->len = (size_t)st.st_size;
        }
    }
    close(fd);
    return rc;
}

static void unmap_file(struct mapped *m)
{
    if (m->p)
        munmap(m->p, m->len);
    m->p = NULL;
}

/* Cut path to len bytes and make that durable. */
static int cut(const char *path, size_t len)
{
    int fd = open(path, O_WRONLY | O_CLOEXEC), rc = 0;
    if (fd < 0)
        return -errno;
    if (ftruncate(fd, (off_t)len) || fsync(fd))
        rc = -errno;
    if (close(fd) && !rc)
        rc = -errno;
    return rc;
}

/* Rename without replacing an existing file (link, then unlink), then sync the folder. */
static int rename_new(const char *from, const char *to)
{
    if (link(from, to))
        return -errno;
    if (unlink(from))
        return -errno;
    return rx_fsync_parent(to);
}

static int remove_file(const char *path)
{
    return unlink(path) ? -errno : rx_fsync_parent(path);
}

static int exists(const char *path)
{
    struct stat st;
    return lstat(path, &st) == 0;
}

/* The blocks of a file, collected. */
struct blocks {
    struct rx_avro_block *b;
    size_t n, cap;
    int64_t records;
};

static int collect(void *arg, const struct rx_avro_block *b)
{
    struct blocks *bl = arg;
    if (bl->n == bl->cap) {
        size_t cap = bl->cap ? bl->cap * 2 : 64;
        struct rx_avro_block *nb = realloc(bl->b, cap * sizeof *nb);
        if (!nb)
            return -ENOMEM;
        bl->b = nb;
        bl->cap = cap;
    }
    bl->b[bl->n++] = *b;
    bl->records += b->count;
    return 0;
}

/*
 * Write head, then the blocks bl of m each ended by sync (a block's own marker may be damaged),
 * to tmp; make it durable and rename it to dest (over it when replace, else only when dest does
 * not exist). *len gets the new file's length.
 */
static int rebuild(const char *tmp, const char *dest, int replace, const void *head,
                   size_t head_len, const uint8_t sync[SYNC_LEN], const struct mapped *m,
                   const struct blocks *bl, size_t *len)
{
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644), rc;
    uint64_t off = head_len;
    if (fd < 0)
        return -errno;
    rc = rx_pwrite_all(fd, head, head_len, 0);
    for (size_t i = 0; i < bl->n && !rc; i++) {
        size_t frame = bl->b[i].len - SYNC_LEN;
        if (!(rc = rx_pwrite_all(fd, m->p + bl->b[i].off, frame, off)))
            rc = rx_pwrite_all(fd, sync, SYNC_LEN, off + frame);
        off += bl->b[i].len;
    }
    if (!rc && fdatasync(fd))
        rc = -errno;
    if (close(fd) && !rc)
        rc = -errno;
    if (!rc)
        rc = replace ? (rename(tmp, dest) ? -errno : rx_fsync_parent(dest)) : rename_new(tmp, dest);
    if (rc)
        unlink(tmp);
    *len = (size_t)off;
    return rc;
}

/* ---- Numbering ------------------------------------------------------------------------------ */

/* The numbering after what was read: the next sequence number and offset. */
struct numbering {
    int64_t seq, offset;
};

static int last_record(void *arg, const struct rx_record *rec)
{
    struct numbering *v = arg;
    int64_t off = 0;
    if (rec->offset_len == 0 || rec->offset_len > 18 || rec->seq < 0 || rec->seq == INT64_MAX)
        return HC_E_PARSE;
    for (size_t i = 0; i < rec->offset_len; i++) {
        if (rec->offset[i] < '0' || rec->offset[i] > '9')
            return HC_E_PARSE;
        off = off * 10 + (rec->offset[i] - '0');
    }
    /* the highest, not the last: a damaged block may hold numbers out of order */
    if (rec->seq + 1 > v->seq)
        v->seq = rec->seq + 1;
    off += rx_record_offset_step(rec->has_body ? rec->body_len : 0);
    if (off > v->offset)
        v->offset = off;
    return 0;
}

/*
 * The most body bytes a block that does not decode can hold: its size (null), or its size times
 * deflate's largest ratio. Offsets need not be contiguous, only never reused.
 */
static int64_t body_bound(const struct rx_avro_block *b, enum rx_codec codec)
{
    return (int64_t)b->data_len * (codec == RX_CODEC_DEFLATE ? 1032 : 1);
}

/*
 * The numbering after the blocks bl of p: after the highest record of the last block that decodes,
 * plus the count and bound of every block after it. 1 when a block decoded (*v set), 0 when none
 * did (*skip then holds what the blocks may hold, to add to an older file's numbering).
 */
static int numbering_after(const uint8_t *p, const struct blocks *bl, enum rx_codec codec,
                           struct numbering *v, struct numbering *skip)
{
    skip->seq = skip->offset = 0;
    for (size_t i = bl->n; i-- > 0;) {
        struct numbering got = {0, 0};
        if (!rx_avro_block_records(p, &bl->b[i], codec, last_record, &got)) {
            v->seq = got.seq + skip->seq;
            v->offset = got.offset + skip->offset;
            return 1;
        }
        skip->seq += bl->b[i].count;
        skip->offset += body_bound(&bl->b[i], codec);
    }
    return 0;
}

/* ---- Steps ---------------------------------------------------------------------------------- */

struct recovery_ctx {
    int skip_empty;
    rx_recover_note_fn note;
    void *ctx;
    struct rx_recovery *out;
    struct numbering aside; /* the highest numbering found in files set aside */
    struct numbering skip;  /* step 3: what newer files that did not decode may hold */
    int unknown_codec;      /* files left alone for their codec */
};

/* Tell the caller "{path}: {what}" (what may hold one %lld for n). */
static void notef(struct recovery_ctx *r, const char *path, const char *what, long long n)
{
    char fmt[320], msg[RX_PATH_MAX + 512];
    if (!r->note)
        return;
    snprintf(fmt, sizeof fmt, "%%s: %s", what);
    snprintf(msg, sizeof msg, fmt, path, n);
    r->note(r->ctx, msg);
}

static void raise_numbering(struct numbering *to, const struct numbering *v)
{
    if (v->seq > to->seq)
        to->seq = v->seq;
    if (v->offset > to->offset)
        to->offset = v->offset;
}

static int ends_with(const char *s, const char *ext)
{
    size_t n = strlen(s), e = strlen(ext);
    return n >= e && !strcmp(s + n - e, ext);
}

/* The paths of one file: itself, its final name, its rebuild name. */
struct names {
    char path[RX_PATH_MAX], final[RX_PATH_MAX], rebuild[RX_PATH_MAX];
    const char *name;
};

static int names_of(struct names *n, const char *dir, const char *name)
{
    const char *ext = strstr(name, RX_CAPTURE_EXT);
    int stem, a, b, c;
    if (!ext)
        return -EINVAL;
    stem = (int)(ext - name + strlen(RX_CAPTURE_EXT));
    a = snprintf(n->path, sizeof n->path, "%s/%s", dir, name);
    b = snprintf(n->final, sizeof n->final, "%s/%.*s", dir, stem, name);
    c = snprintf(n->rebuild, sizeof n->rebuild, "%s/%.*s" REBUILD_EXT, dir, stem, name);
    n->name = name;
    return a < (int)sizeof n->path && b < (int)sizeof n->final && c < (int)sizeof n->rebuild
               ? 0
               : -ENAMETOOLONG;
}

/* What recovering a readable file did. */
struct fix {
    int64_t records; /* events the file holds now */
    int64_t dropped; /* bytes cut off or left out */
    int rebuilt;     /* 1: written anew from its complete blocks, 0: cut (or nothing to do) */
};

/*
 * A file whose header reads (s: rx_avro_scan of m): cut back to its complete blocks, or rebuilt
 * from them when more lie after the damage. HC_E_PARSE (nothing done) when the bytes to cut hold
 * blocks of another sync marker or codec: the header itself is damaged. m may be unmapped on
 * return.
 */
static int recover_readable(const struct names *n, struct mapped *m, const struct rx_avro_scan *s,
                            struct fix *fx)
{
    struct blocks more = {0};
    struct rx_avro_salvage sv;
    size_t len = s->good_len, was = m->len;
    int rc;
    fx->records = s->records;
    fx->dropped = 0;
    fx->rebuilt = 0;
    if (s->good_len == m->len)
        return 0;
    if ((rc = rx_avro_salvage(m->p, m->len, s->good_len, s, &sv, collect, &more)))
        goto out;
    if (!more.n) { /* blocks with another sync marker or codec: the header lies (damaged) */
        struct rx_avro_salvage other;
        if ((rc = rx_avro_salvage(m->p, m->len, s->good_len, NULL, &other, NULL, NULL)))
            goto out;
        if (other.blocks) {
            rc = HC_E_PARSE;
            goto out;
        }
    }
    if (more.n) {
        rc = rebuild(n->rebuild, n->path, 1, m->p, s->good_len, s->sync, m, &more, &len);
        fx->rebuilt = 1;
    } else {
        unmap_file(m);
        rc = cut(n->path, len);
    }
    if (!rc) {
        fx->records += more.records;
        fx->dropped = (int64_t)(was - len);
    }
out:
    free(more.b);
    return rc;
}

/* Say what recover_readable did to path, and count it. */
static void note_fix(struct recovery_ctx *r, const char *path, const struct fix *fx,
                     const char *then)
{
    char what[256];
    snprintf(what, sizeof what, "%s (%%lld bytes %s)%s",
             fx->rebuilt ? "complete blocks after damaged bytes: rebuilt from all of them"
                         : "recovered to its last complete block",
             fx->rebuilt ? "dropped" : "cut", then);
    notef(r, path, what, (long long)fx->dropped);
    r->out->recovered++;
    r->out->cut_bytes += fx->dropped;
}

/* Numbering from the salvaged blocks of a set-aside file. */
static void number_aside(struct recovery_ctx *r, const struct mapped *m,
                         const struct rx_avro_salvage *sv, const struct blocks *bl)
{
    struct numbering v, skip;
    if (numbering_after(m->p, bl, sv->codec, &v, &skip))
        raise_numbering(&r->aside, &v);
}

/* 1 when m is a beginning of a header this writer makes, cut short (a crash in create). */
static int torn_header(const struct mapped *m)
{
    static const uint8_t sync[SYNC_LEN];
    static const enum rx_codec codecs[] = {RX_CODEC_NULL, RX_CODEC_DEFLATE};
    int torn = 0;
    for (size_t c = 0; c < sizeof codecs / sizeof *codecs && !torn; c++) {
        struct hc_buf h = HC_BUF_INIT;
        if (!rx_avro_header(&h, codecs[c], sync) && m->len < h.len) {
            size_t n = m->len < h.len - SYNC_LEN ? m->len : h.len - SYNC_LEN;
            torn = !n || !memcmp(m->p, h.p, n);
        }
        hc_buf_free(&h);
    }
    return torn;
}

/*
 * A file whose header does not read: set it aside (renamed NAME.corrupt unless it is already),
 * and write the complete blocks found in it with a new header under its final name when that is
 * free (or is the file itself). A .tmp that is a header cut short is removed.
 */
static int recover_unreadable(struct recovery_ctx *r, const struct names *n, struct mapped *m)
{
    struct hc_buf head = HC_BUF_INIT;
    struct blocks bl = {0};
    struct rx_avro_salvage sv;
    char aside[RX_PATH_MAX + sizeof ASIDE_EXT];
    int is_aside = ends_with(n->name, ASIDE_EXT), rc;
    size_t len;
    if (ends_with(n->name, RX_CAPTURE_TMP_EXT) && torn_header(m)) {
        notef(r, n->path, "its header was never complete, removed (%lld bytes)", (long long)m->len);
        r->out->removed++;
        return remove_file(n->path);
    }
    if ((rc = rx_avro_salvage(m->p, m->len, 0, NULL, &sv, collect, &bl)))
        goto out;
    number_aside(r, m, &sv, &bl);
    if (!is_aside) { /* first: a crash before the copy below finds it set aside, and goes on */
        snprintf(aside, sizeof aside, "%s" ASIDE_EXT, n->path);
        if (exists(aside)) {
            notef(r, n->path, "unreadable header, and *" ASIDE_EXT " is taken: left as it is", 0);
            goto out;
        }
        if ((rc = rename_new(n->path, aside)))
            goto out;
        r->out->set_aside++;
        notef(r, n->path,
              "unreadable header: set aside as *" ASIDE_EXT " in the same folder "
              "(%lld bytes kept; the lander skips it)",
              (long long)m->len);
    }
    if (bl.n && !exists(n->final)) {
        if ((rc = rx_avro_header(&head, sv.codec, sv.sync)) ||
            (rc = rebuild(n->rebuild, n->final, 0, head.p, head.len, sv.sync, m, &bl, &len)))
            goto out;
        r->out->repaired++;
        notef(r, n->final, "written anew from the %lld complete blocks found in the file set aside",
              (long long)bl.n);
    }
out:
    hc_buf_free(&head);
    free(bl.b);
    return rc;
}

/* A closed file that ends with its sync marker ends with a complete block (or its header). */
static int tail_ok(const struct mapped *m, const struct rx_avro_scan *s)
{
    return m->len >= s->header_len && !memcmp(m->p + m->len - SYNC_LEN, s->sync, SYNC_LEN);
}

/* Numbering from a file left under another name than its final one: as if set aside. */
static int number_file(struct recovery_ctx *r, const char *path)
{
    struct blocks bl = {0};
    struct mapped m;
    struct rx_avro_scan s;
    struct numbering v, skip;
    int rc = map_file(path, &m);
    if (rc)
        return rc;
    if (!rx_avro_scan(m.p, m.len, &s) && !(rc = rx_avro_scan_blocks(m.p, &s, collect, &bl)) &&
        numbering_after(m.p, &bl, s.codec, &v, &skip))
        raise_numbering(&r->aside, &v);
    free(bl.b);
    unmap_file(&m);
    return rc;
}

/* A recovered .tmp or readable .corrupt takes its final name (a .tmp with no event may go). */
static int final_name(struct recovery_ctx *r, const struct names *n, const struct fix *fx)
{
    int rc;
    if (ends_with(n->name, RX_CAPTURE_TMP_EXT) && fx->records == 0 && r->skip_empty) {
        r->out->removed++;
        notef(r, n->path, "no complete block, removed", 0);
        return remove_file(n->path);
    }
    if (exists(n->final)) {
        notef(r, n->path, "its final name is taken: left as it is", 0);
        return number_file(r, n->path);
    }
    if ((rc = rename_new(n->path, n->final)))
        return rc;
    if (fx->dropped)
        note_fix(r, n->path, fx, ", then given its final name");
    else {
        notef(r, n->path, "complete: given its final name (%lld events)", (long long)fx->records);
        r->out->recovered++;
    }
    return 0;
}

/* 1 when the header names a codec of the Avro specification other than null and deflate. */
static int other_codec(const struct rx_avro_scan *s)
{
    static const char *const codecs[] = {"snappy", "bzip2", "xz", "zstandard"};
    for (size_t i = 0; i < sizeof codecs / sizeof *codecs; i++)
        if (s->codec_name_len == strlen(codecs[i]) &&
            !memcmp(s->codec_name, codecs[i], s->codec_name_len))
            return 1;
    return 0;
}

/* Steps 1 and 2 for one file: ss.avro, ss.avro.tmp or NAME.corrupt. */
static int recover_file(struct recovery_ctx *r, const char *dir, const char *name)
{
    struct names n;
    struct mapped m;
    struct rx_avro_scan s;
    struct fix fx;
    int closed = !ends_with(name, RX_CAPTURE_TMP_EXT) && !ends_with(name, ASIDE_EXT), rc;
    if ((rc = names_of(&n, dir, name)) || (rc = map_file(n.path, &m)))
        return rc;
    rc = rx_avro_scan_header(m.p, m.len, &s);
    if (rc == HC_E_VERSION && !other_codec(&s))
        rc = HC_E_PARSE; /* not a codec at all: a damaged header */
    if (rc == HC_E_VERSION) {
        r->unknown_codec++;
        notef(r, n.path, "an Avro codec other than null or deflate: left as it is", 0);
        rc = 0;
    } else if (rc) {
        rc = recover_unreadable(r, &n, &m);
    } else if (!closed || !tail_ok(&m, &s)) {
        rx_avro_scan(m.p, m.len, &s);
        if ((rc = recover_readable(&n, &m, &s, &fx)) == HC_E_PARSE) {
            rc = recover_unreadable(r, &n, &m);
        } else if (!rc) {
            if (!closed)
                rc = final_name(r, &n, &fx);
            else if (fx.dropped)
                note_fix(r, n.path, &fx, "");
        }
    }
    unmap_file(&m);
    return rc;
}

static int is_capture_name(const char *name)
{
    return name[0] >= '0' && name[0] <= '9' && name[1] >= '0' && name[1] <= '9' &&
           !strncmp(name + 2, RX_CAPTURE_EXT, strlen(RX_CAPTURE_EXT));
}

/* Steps 1 and 2 for a minute folder; every "ss.*" file occupies its second. */
static int step_repair(struct recovery_ctx *r, const char *dir, char **names, size_t n)
{
    char path[RX_PATH_MAX];
    int rc;
    for (size_t i = 0; i < n; i++) {
        int64_t t;
        if (!is_capture_name(names[i]))
            continue;
        if (snprintf(path, sizeof path, "%s/%.*s", dir, STEM_LEN, names[i]) >= (int)sizeof path)
            return -ENAMETOOLONG;
        if ((t = rx_layout_time(path, 0)) > r->out->last_name_s)
            r->out->last_name_s = t;
        if (ends_with(names[i], REBUILD_EXT)) { /* a repair cut short: its source is still here */
            snprintf(path, sizeof path, "%s/%s", dir, names[i]);
            if ((rc = remove_file(path)))
                return rc;
            names[i][0] = '\0';
        }
    }
    for (size_t i = 0; i < n; i++) {
        const char *nm = names[i];
        if (!is_capture_name(nm))
            continue;
        if ((!strcmp(nm + STEM_LEN, "") || !strcmp(nm + STEM_LEN, ".tmp") ||
             ends_with(nm, ASIDE_EXT)) &&
            (rc = recover_file(r, dir, nm)))
            return rc;
    }
    return 0;
}

/*
 * Step 3 for one closed file: read it through, recovered first when it is damaged inside (bytes
 * lost in the middle; a header whose sync marker or codec the blocks do not match), and take the
 * numbering after its last event. 1 when it had one, 0 when not (or when it was set aside with
 * nothing to copy), or -errno.
 */
static int number_newest(struct recovery_ctx *r, const char *dir, const char *name)
{
    struct names nm;
    int rc;
    if ((rc = names_of(&nm, dir, name)))
        return rc;
    for (int pass = 0; pass < 3; pass++) {
        struct blocks bl = {0};
        struct mapped m;
        struct rx_avro_scan s;
        struct numbering v, skip;
        struct rx_avro_salvage other;
        struct fix fx;
        int found = 0, lies = 0;
        if ((rc = map_file(nm.path, &m)))
            return rc == -ENOENT ? 0 : rc;
        if (rx_avro_scan(m.p, m.len, &s)) { /* set aside or another codec: said in step 2 */
            unmap_file(&m);
            return 0;
        }
        if (s.good_len != m.len) {
            if ((rc = recover_readable(&nm, &m, &s, &fx)) == HC_E_PARSE)
                rc = recover_unreadable(r, &nm, &m);
            else if (!rc)
                note_fix(r, nm.path, &fx, "");
            unmap_file(&m);
            if (rc)
                return rc;
            continue; /* read what it is now */
        }
        if (!(rc = rx_avro_scan_blocks(m.p, &s, collect, &bl)))
            found = numbering_after(m.p, &bl, s.codec, &v, &skip);
        if (!rc && !found && bl.n && pass == 0 &&
            !(rc = rx_avro_salvage(m.p, m.len, 0, NULL, &other, NULL, NULL)) && other.blocks)
            lies = 1; /* no block decodes as the header says, yet blocks are there */
        if (lies) {
            rc = recover_unreadable(r, &nm, &m);
        } else if (!rc && found) {
            r->out->next_seq = v.seq + r->skip.seq;
            r->out->next_offset = v.offset + r->skip.offset;
        } else if (!rc) {
            r->skip.seq += skip.seq;
            r->skip.offset += skip.offset;
        }
        free(bl.b);
        unmap_file(&m);
        if (rc || !lies)
            return rc ? rc : found;
    }
    return 0;
}

/* Step 3: the newest closed file with an event gives the numbering; 1 stops the walk. */
static int step_number(struct recovery_ctx *r, const char *dir, char **names, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        int rc;
        if (!is_capture_name(names[i]) || strcmp(names[i] + STEM_LEN, ""))
            continue;
        if ((rc = number_newest(r, dir, names[i])))
            return rc;
    }
    return 0;
}

/* ---- Walking the folder tree ---------------------------------------------------------------- */

/* The entries of dir whose names start with a digit, sorted descending. Free with free_names. */
static int list_desc(const char *dir, char ***names, size_t *n)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    size_t cap = 0;
    *names = NULL;
    *n = 0;
    if (!d)
        return errno == ENOENT ? 0 : -errno;
    while ((e = readdir(d))) {
        if (e->d_name[0] < '0' || e->d_name[0] > '9')
            continue;
        if (*n == cap) {
            char **nn = realloc(*names, (cap = cap ? cap * 2 : 64) * sizeof *nn);
            if (!nn)
                goto out_nomem;
            *names = nn;
        }
        if (!((*names)[*n] = strdup(e->d_name)))
            goto out_nomem;
        (*n)++;
    }
    closedir(d);
    for (size_t i = 1; i < *n; i++) /* insertion sort: folders hold a few hundred entries */
        for (size_t j = i; j > 0 && strcmp((*names)[j - 1], (*names)[j]) < 0; j--) {
            char *t = (*names)[j];
            (*names)[j] = (*names)[j - 1];
            (*names)[j - 1] = t;
        }
    return 0;
out_nomem:
    closedir(d);
    for (size_t i = 0; i < *n; i++)
        free((*names)[i]);
    free(*names);
    *names = NULL;
    *n = 0;
    return -ENOMEM;
}

static void free_names(char **names, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
}

/* Called for each minute folder, newest first, with its entries; non-zero stops the walk. */
typedef int (*leaf_fn)(struct recovery_ctx *r, const char *dir, char **names, size_t n);

static int walk(const char *dir, int depth, leaf_fn fn, struct recovery_ctx *r)
{
    char **names, path[RX_PATH_MAX];
    size_t n;
    int rc = list_desc(dir, &names, &n);
    if (!rc && depth == DEPTH_LEAF)
        rc = fn(r, dir, names, n);
    for (size_t i = 0; i < n && !rc && depth < DEPTH_LEAF; i++) {
        if (snprintf(path, sizeof path, "%s/%s", dir, names[i]) >= (int)sizeof path)
            rc = -ENAMETOOLONG;
        else
            rc = walk(path, depth + 1, fn, r);
    }
    free_names(names, n);
    return rc;
}

int rx_recover_partition(const char *pdir, int skip_empty, rx_recover_note_fn note, void *ctx,
                         struct rx_recovery *out)
{
    struct recovery_ctx r = {skip_empty, note, ctx, out, {0, 0}, {0, 0}, 0};
    int rc;
    memset(out, 0, sizeof *out);
    out->last_name_s = -1;
    if ((rc = walk(pdir, 0, step_repair, &r)))
        return rc;
    if ((rc = walk(pdir, 0, step_number, &r)) < 0)
        return rc;
    if (rc == 0) { /* no file with an event that decodes: only what the others may hold */
        out->next_seq = r.skip.seq;
        out->next_offset = r.skip.offset;
    }
    if (r.aside.seq > out->next_seq)
        out->next_seq = r.aside.seq;
    if (r.aside.offset > out->next_offset)
        out->next_offset = r.aside.offset;
    return 0;
}

int rx_recover_tmp(const char *path, int skip_empty, int64_t *final_len)
{
    struct rx_recovery out;
    struct recovery_ctx r = {skip_empty, NULL, NULL, &out, {0, 0}, {0, 0}, 0};
    char dir[RX_PATH_MAX], final[RX_PATH_MAX];
    const char *slash = strrchr(path, '/');
    struct stat st;
    size_t plen = strlen(path), elen = strlen(".tmp");
    if (!ends_with(path, RX_CAPTURE_TMP_EXT))
        return -EINVAL;
    int rc;
    *final_len = -1;
    memset(&out, 0, sizeof out);
    if (!slash || (size_t)(slash - path) >= sizeof dir || plen <= elen || plen >= sizeof final)
        return -ENAMETOOLONG;
    memcpy(dir, path, (size_t)(slash - path));
    dir[slash - path] = '\0';
    memcpy(final, path, plen - elen);
    final[plen - elen] = '\0';
    if (exists(final))
        return -EEXIST;
    if ((rc = recover_file(&r, dir, slash + 1)))
        return rc;
    if (r.unknown_codec)
        return HC_E_VERSION;
    if (stat(final, &st) == 0)
        *final_len = (int64_t)st.st_size;
    return 0;
}
