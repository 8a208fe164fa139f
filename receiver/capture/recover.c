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

#define DEPTH_LEAF 5 /* YYYY/MM/DD/hh/mm, then the files */

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
    close(fd);
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

int rx_recover_tmp(const char *path, int skip_empty, int64_t *final_len)
{
    struct mapped m;
    struct rx_avro_scan s;
    char final[RX_PATH_MAX];
    size_t plen = strlen(path), elen = strlen(".tmp");
    int rc = map_file(path, &m);
    *final_len = -1;
    if (rc)
        return rc;
    rc = m.len ? rx_avro_scan(m.p, m.len, &s) : HC_E_PARSE;
    unmap_file(&m);
    if (rc == HC_E_VERSION)
        return rc;
    if (rc || (s.blocks == 0 && skip_empty))
        return unlink(path) ? -errno : rx_fsync_parent(path);
    if (plen <= elen || plen - elen >= sizeof final)
        return -ENAMETOOLONG;
    memcpy(final, path, plen - elen);
    final[plen - elen] = '\0';
    if (s.good_len < m.len && (rc = cut(path, s.good_len)))
        return rc;
    if ((rc = rename_new(path, final)))
        return rc;
    *final_len = (int64_t)s.good_len;
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
    for (size_t i = 1; i < *n; i++) /* insertion sort: folders hold at most 60 entries */
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

/* Called for each file at the leaf level, newest first; a non-zero return stops the walk. */
typedef int (*leaf_fn)(void *ctx, const char *path, const char *name);

static int walk(const char *dir, int depth, leaf_fn fn, void *ctx)
{
    char **names, path[RX_PATH_MAX];
    size_t n;
    int rc = list_desc(dir, &names, &n);
    for (size_t i = 0; i < n && !rc; i++) {
        if (snprintf(path, sizeof path, "%s/%s", dir, names[i]) >= (int)sizeof path)
            rc = -ENAMETOOLONG;
        else if (depth < DEPTH_LEAF)
            rc = walk(path, depth + 1, fn, ctx);
        else
            rc = fn(ctx, path, names[i]);
    }
    free_names(names, n);
    return rc;
}

/* ---- Steps ---------------------------------------------------------------------------------- */

struct recovery_ctx {
    int skip_empty;
    rx_recover_note_fn note;
    void *ctx;
    struct rx_recovery *out;
    int found; /* numbering known */
};

/* Tell the caller "{path}: {what}" (what may hold one %lld for n). */
static void notef(struct recovery_ctx *r, const char *path, const char *what, long long n)
{
    char fmt[128], msg[RX_PATH_MAX + 256];
    if (!r->note)
        return;
    snprintf(fmt, sizeof fmt, "%%s: %s", what);
    snprintf(msg, sizeof msg, fmt, path, n);
    r->note(r->ctx, msg);
}

static int ends_with(const char *s, const char *ext)
{
    size_t n = strlen(s), e = strlen(ext);
    return n >= e && !strcmp(s + n - e, ext);
}

static int step_tmp(void *arg, const char *path, const char *name)
{
    struct recovery_ctx *r = arg;
    int64_t kept;
    struct stat st;
    int rc;
    if (!ends_with(name, RX_CAPTURE_TMP_EXT))
        return 0;
    if (stat(path, &st))
        return -errno;
    rc = rx_recover_tmp(path, r->skip_empty, &kept);
    if (rc == HC_E_VERSION) {
        notef(r, path, "unknown codec, left as it is", 0);
        return 0;
    }
    if (rc)
        return rc;
    if (kept < 0) {
        r->out->removed++;
        notef(r, path, "no complete block, removed (%lld bytes)", (long long)st.st_size);
    } else {
        r->out->recovered++;
        r->out->cut_bytes += st.st_size - kept;
        notef(r, path, "recovered to its last complete block (%lld bytes cut)",
              (long long)(st.st_size - kept));
    }
    return 0;
}

static int last_record(void *arg, const struct rx_record *rec)
{
    int64_t *v = arg;
    char off[24];
    if (rec->offset_len == 0 || rec->offset_len >= sizeof off)
        return HC_E_PARSE;
    memcpy(off, rec->offset, rec->offset_len);
    off[rec->offset_len] = '\0';
    v[0] = rec->seq;
    v[1] = strtoll(off, NULL, 10);
    v[2] = rec->has_body ? (int64_t)rec->body_len : 0;
    return 0;
}

/* Read the numbering from one finished file; 1 when found, 0 when the file is empty. */
static int numbering_from(struct recovery_ctx *r, const char *path)
{
    struct mapped m;
    struct rx_avro_scan s;
    int64_t v[3];
    int rc = map_file(path, &m);
    if (rc)
        return rc;
    rc = m.len ? rx_avro_scan(m.p, m.len, &s) : HC_E_PARSE;
    if (!rc && s.good_len != m.len)
        rc = HC_E_PARSE; /* a finished file has no incomplete tail */
    if (!rc && s.blocks)
        rc = rx_avro_scan_records(m.p, &s, s.blocks - 1, last_record, v);
    unmap_file(&m);
    if (rc == -ENOMEM)
        return rc;
    if (rc) {
        char bad[RX_PATH_MAX + 16];
        snprintf(bad, sizeof bad, "%s.corrupt", path);
        if (rename(path, bad))
            return -errno;
        r->out->quarantined++;
        notef(r, path, "not a readable capture file, renamed *.corrupt", 0);
        return 0;
    }
    if (!s.blocks)
        return 0;
    r->out->next_seq = v[0] + 1;
    r->out->next_offset = v[1] + v[2];
    return 1;
}

static int step_latest(void *arg, const char *path, const char *name)
{
    struct recovery_ctx *r = arg;
    int64_t t;
    char stem[RX_PATH_MAX];
    /* any file of the form ss.* occupies its second, whatever became of it */
    if (strlen(path) < sizeof stem && strlen(name) > 3 && name[2] == '.') {
        strcpy(stem, path);
        strcpy(stem + strlen(path) - strlen(name) + 2, RX_CAPTURE_EXT);
        t = rx_layout_time(stem, 0);
        if (t > r->out->last_name_s)
            r->out->last_name_s = t;
    }
    if (!ends_with(name, RX_CAPTURE_EXT) || rx_layout_time(path, 0) < 0)
        return 0;
    return numbering_from(r, path);
}

int rx_recover_partition(const char *pdir, int skip_empty, rx_recover_note_fn note, void *ctx,
                         struct rx_recovery *out)
{
    struct recovery_ctx r = {skip_empty, note, ctx, out, 0};
    int rc;
    memset(out, 0, sizeof *out);
    out->last_name_s = -1;
    if ((rc = walk(pdir, 0, step_tmp, &r)))
        return rc;
    rc = walk(pdir, 0, step_latest, &r);
    return rc < 0 ? rc : 0;
}
