#include "receiver/lake/land.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <mbedtls/md.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/buf.h"
#include "common/error.h"
#include "common/rules.h"
#include "receiver/lake/capture_read.h"
#include "receiver/lake/db.h"

#define LAND_COPY_CHUNK (256 * 1024) /* bytes gathered before each PQputCopyData */

/* SHA-256 of the file (lowercase hex into hex[65]) and its size. Returns 0 or -errno. */
static int file_digest(const char *path, char hex[65], int64_t *size)
{
    const mbedtls_md_info_t *md = mbedtls_md_info_from_type(MBEDTLS_MD_SHA256);
    mbedtls_md_context_t ctx;
    unsigned char buf[65536], sum[32];
    ssize_t n;
    int fd, rc = 0, i;

    *size = 0;
    if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
        return -errno;
    mbedtls_md_init(&ctx);
    if (!md || mbedtls_md_setup(&ctx, md, 0) || mbedtls_md_starts(&ctx)) {
        rc = -ENOMEM;
        goto out_close;
    }
    while ((n = read(fd, buf, sizeof buf)) > 0) {
        mbedtls_md_update(&ctx, buf, (size_t)n);
        *size += n;
    }
    if (n < 0) {
        rc = -errno;
        goto out_close;
    }
    mbedtls_md_finish(&ctx, sum);
    for (i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", sum[i]);
out_close:
    mbedtls_md_free(&ctx);
    close(fd);
    return rc;
}

/* The {PartitionId} component of "{ns}/{hub}/{pid}/YYYY/MM/DD/hh/mm/ss.avro" into out. */
static void partition_of(const char *rel, char *out, size_t cap)
{
    const char *comp[16];
    int n = 0;
    const char *p = rel;

    comp[n++] = p;
    while ((p = strchr(p, '/')) && n < 16)
        comp[n++] = ++p;
    if (n >= 7) {
        size_t len = (size_t)(comp[n - 6] - comp[n - 7] - 1);
        snprintf(out, cap, "%.*s", (int)len, comp[n - 7]);
    } else {
        snprintf(out, cap, "unknown");
    }
}

/*
 * The records go to PostgreSQL in COPY's binary format: bodies as they are (no hex, half the
 * bytes, nothing for the server to decode), numbers and times as integers. Each field is a
 * big-endian length and its bytes; a tuple starts with its field count.
 */

#define LAND_COPY_FIELDS 9
#define PG_EPOCH_MS      INT64_C(946684800000) /* 2000-01-01 UTC, PostgreSQL's time zero */

/* Append a field: its length, an optional prefix byte (jsonb's format version), the bytes. */
static int bin_field(struct hc_buf *b, int prefix, const void *p, size_t len)
{
    size_t n = len + (prefix >= 0);
    if (n > INT32_MAX || hc_buf_add_be(b, n, 4) || (prefix >= 0 && hc_buf_addc(b, (char)prefix)))
        return -ENOMEM;
    return len ? hc_buf_add(b, p, len) : 0;
}

static int bin_null(struct hc_buf *b)
{
    return hc_buf_add_be(b, UINT32_MAX, 4);
}

/* An integer field of n bytes. */
static int bin_intf(struct hc_buf *b, int64_t v, int n)
{
    return hc_buf_add_be(b, (uint64_t)n, 4) || hc_buf_add_be(b, (uint64_t)v, n) ? -ENOMEM : 0;
}

/* State of one file's COPY. */
struct land_copy {
    PGconn *c;
    int64_t file_id;
    const char *partition;
    struct hc_buf line;
    int64_t n, first_seq, last_seq;
    int64_t first_enq_ms, last_enq_ms; /* the least and greatest enqueued time */
    const char *why;
};

static int copy_flush(struct land_copy *lc)
{
    if (lc->line.len && PQputCopyData(lc->c, lc->line.p, (int)lc->line.len) != 1) {
        lc->why = "COPY failed";
        return HC_E_RETRY;
    }
    hc_buf_reset(&lc->line);
    return 0;
}

static int copy_record(void *ctx, const struct rx_land_rec *r)
{
    struct land_copy *lc = ctx;
    struct hc_buf *b = &lc->line;

    if (!r->enq_ok) {
        lc->why = "a record without an enqueued time (x-opt-enqueued-time or EnqueuedTimeUtc)";
        return HC_E_PARSE;
    }
    if (hc_buf_reserve(b, r->body_len + 512) || hc_buf_add_be(b, LAND_COPY_FIELDS, 2) ||
        bin_intf(b, lc->file_id, 8) || bin_intf(b, lc->n, 4) ||
        bin_field(b, -1, lc->partition, strlen(lc->partition)) || bin_intf(b, r->seq, 8) ||
        bin_field(b, -1, r->offset, strlen(r->offset)) ||
        bin_intf(b, (r->enq_ms - PG_EPOCH_MS) * 1000, 8) ||
        bin_field(b, 1, r->sysprops, strlen(r->sysprops)) ||
        bin_field(b, 1, r->props, strlen(r->props)) ||
        (r->body ? bin_field(b, -1, r->body, r->body_len) : bin_null(b)))
        return -ENOMEM;
    if (lc->n == 0) {
        lc->first_seq = r->seq;
        lc->first_enq_ms = lc->last_enq_ms = r->enq_ms;
    }
    if (r->enq_ms < lc->first_enq_ms)
        lc->first_enq_ms = r->enq_ms;
    if (r->enq_ms > lc->last_enq_ms)
        lc->last_enq_ms = r->enq_ms;
    lc->last_seq = r->seq;
    lc->n++;
    return b->len >= LAND_COPY_CHUNK ? copy_flush(lc) : 0;
}

/* COPY the file's records (the transaction is open, the manifest row inserted). */
static int copy_file(PGconn *c, const char *path, struct land_copy *lc, char *err, size_t cap)
{
    PGresult *r;
    int rc;
    const char *why = NULL;

    r = PQexec(c, "COPY bronze.event (file_id, record_no, partition_id, sequence_number, "
                  "event_offset, enqueued_time, system_properties, properties, body) "
                  "FROM STDIN (FORMAT binary)");
    if (PQresultStatus(r) != PGRES_COPY_IN) {
        PQclear(r);
        rx_lake_errf(c, "COPY into bronze.event", err, cap);
        return rx_lake_failure(c);
    }
    PQclear(r);
    rc = hc_buf_add(&lc->line, rx_lake_copy_bin_header, sizeof rx_lake_copy_bin_header) ? -ENOMEM
                                                                                        : 0;
    if (!rc)
        rc = rx_land_read_capture(path, copy_record, lc, &why);
    if (!rc)
        rc = hc_buf_add_be(&lc->line, UINT16_MAX, 2) ? -ENOMEM : copy_flush(lc);
    if (rc) {
        if (rc == HC_E_RETRY)
            rx_lake_errf(c, "COPY", err, cap);
        else
            snprintf(err, cap, "%s: %s (%s)", path, lc->why ? lc->why : why, hc_strerror(rc));
        PQputCopyEnd(c, "the capture file could not be read");
        PQclear(PQgetResult(c));
        return rc;
    }
    if (PQputCopyEnd(c, NULL) != 1) {
        rx_lake_errf(c, "COPY end", err, cap);
        return rx_lake_failure(c);
    }
    r = PQgetResult(c);
    rc = PQresultStatus(r) == PGRES_COMMAND_OK ? 0 : -1;
    PQclear(r);
    while ((r = PQgetResult(c)))
        PQclear(r);
    if (rc) {
        rx_lake_errf(c, "COPY into bronze.event", err, cap);
        return rx_lake_failure(c);
    }
    return 0;
}

/* Inside the open transaction: check the manifest, insert the row, COPY, complete the row. */
static int land_in_txn(PGconn *c, const char *path, const char *rel, const char *sum, int64_t size,
                       int *landed, int64_t *events, char *err, size_t cap)
{
    char size_s[24], part[64], first[24], last[24], n_s[24], fid[24], enq0[HC_TS_STRLEN],
        enq1[HC_TS_STRLEN];
    const char *p[5] = {rel, sum, size_s, part, NULL};
    struct land_copy lc = {.c = c, .line = HC_BUF_INIT, .partition = part};
    PGresult *r;
    int rc;

    snprintf(size_s, sizeof size_s, "%" PRId64, size);
    partition_of(rel, part, sizeof part);
    if ((rc = rx_lake_run(c, "SELECT pg_advisory_xact_lock(hashtext('hubcap.land'))", 0, NULL, err,
                          cap)))
        return rc;
    if (!(r = rx_lake_exec(
              c, "SELECT file_id FROM bronze.capture_file WHERE path = $1 AND checksum = $2", 2, p,
              err, cap)))
        return rx_lake_failure(c);
    *landed = PQntuples(r) == 0;
    PQclear(r);
    if (!*landed)
        return 0;
    if (!(r = rx_lake_exec(c,
                           "INSERT INTO bronze.capture_file (path, checksum, size, partition_id, "
                           "events) VALUES ($1, $2, $3, $4, 0) RETURNING file_id",
                           4, p, err, cap)))
        return rx_lake_failure(c);
    snprintf(fid, sizeof fid, "%s", PQgetvalue(r, 0, 0));
    PQclear(r);
    lc.file_id = strtoll(fid, NULL, 10);
    rc = copy_file(c, path, &lc, err, cap);
    hc_buf_free(&lc.line);
    if (rc)
        return rc;
    snprintf(first, sizeof first, "%" PRId64, lc.first_seq);
    snprintf(last, sizeof last, "%" PRId64, lc.last_seq);
    snprintf(n_s, sizeof n_s, "%" PRId64, lc.n);
    hc_ts_format(lc.first_enq_ms * 1000, enq0);
    hc_ts_format(lc.last_enq_ms * 1000, enq1);
    {
        const char *q[6] = {fid, lc.n ? first : NULL, lc.n ? last : NULL,
                            n_s, lc.n ? enq0 : NULL,  lc.n ? enq1 : NULL};
        if ((rc = rx_lake_run(c,
                              "UPDATE bronze.capture_file SET first_seq = $2, last_seq = $3, "
                              "events = $4, first_enqueued = $5, last_enqueued = $6 "
                              "WHERE file_id = $1",
                              6, q, err, cap)))
            return rc;
    }
    *events = lc.n;
    return 0;
}

int rx_land_file(PGconn *c, const char *dir, const char *rel, int *landed, int64_t *events,
                 char *err, size_t cap)
{
    char sum[65];
    int64_t size;
    struct hc_buf path = HC_BUF_INIT;
    int rc;

    *landed = 0;
    *events = 0;
    if (hc_buf_addf(&path, "%s/%s", dir, rel))
        return -ENOMEM;
    if ((rc = file_digest(path.p, sum, &size))) {
        snprintf(err, cap, "%s: cannot read: %s", path.p, hc_strerror(rc));
        goto out_path;
    }
    if ((rc = rx_lake_run(c, "BEGIN", 0, NULL, err, cap)))
        goto out_path;
    rc = land_in_txn(c, path.p, rel, sum, size, landed, events, err, cap);
    if (rc || !*landed) {
        PQclear(PQexec(c, "ROLLBACK"));
        *landed = 0;
        goto out_path;
    }
    rc = rx_lake_run(c, "COMMIT", 0, NULL, err, cap);
    if (rc)
        *landed = 0;
out_path:
    hc_buf_free(&path);
    return rc;
}

/* Relative paths of the closed capture files under a folder. */
struct land_list {
    char **v;
    size_t n, cap;
};

static int list_add(struct land_list *l, const char *rel)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 64;
        char **v = realloc(l->v, cap * sizeof *v);
        if (!v)
            return -ENOMEM;
        l->v = v;
        l->cap = cap;
    }
    if (!(l->v[l->n] = strdup(rel)))
        return -ENOMEM;
    l->n++;
    return 0;
}

static void list_free(struct land_list *l)
{
    size_t i;
    for (i = 0; i < l->n; i++)
        free(l->v[i]);
    free(l->v);
}

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && !strcmp(s + n - m, suffix);
}

/* Walk root/rel (rel "" at the top) and collect the "*.avro" files. Returns 0 or -errno. */
static int walk(const char *root, const char *rel, struct land_list *l, int depth)
{
    struct hc_buf path = HC_BUF_INIT, sub = HC_BUF_INIT;
    struct dirent *de;
    struct stat st;
    DIR *d;
    int rc = 0;

    if (depth > 16)
        return 0;
    if (hc_buf_addf(&path, "%s%s%s", root, *rel ? "/" : "", rel))
        return -ENOMEM;
    if (!(d = opendir(path.p))) {
        rc = -errno;
        goto out_path;
    }
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.')
            continue;
        hc_buf_reset(&sub);
        if (hc_buf_addf(&sub, "%s%s%s", rel, *rel ? "/" : "", de->d_name)) {
            rc = -ENOMEM;
            break;
        }
        if (fstatat(dirfd(d), de->d_name, &st, 0))
            continue; /* gone meanwhile (a .tmp renamed) */
        if (S_ISDIR(st.st_mode))
            rc = walk(root, sub.p, l, depth + 1);
        else if (S_ISREG(st.st_mode) && ends_with(de->d_name, ".avro"))
            rc = list_add(l, sub.p);
        if (rc)
            break;
    }
    closedir(d);
out_path:
    hc_buf_free(&path);
    hc_buf_free(&sub);
    return rc;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int rx_land_dir(PGconn *c, const char *dir, FILE *progress, FILE *log, struct rx_land_stats *st,
                char *err, size_t cap)
{
    struct land_list l = {0};
    size_t i;
    int rc, landed, failed = 0;
    int64_t events;

    memset(st, 0, sizeof *st);
    if ((rc = walk(dir, "", &l, 0))) {
        snprintf(err, cap, "%s: cannot list the capture folder: %s", dir, hc_strerror(rc));
        goto out_list;
    }
    if (l.n) /* qsort(NULL, 0, ...) is undefined */
        qsort(l.v, l.n, sizeof *l.v, cmp_str);
    st->files_seen = (int64_t)l.n;
    for (i = 0; i < l.n; i++) {
        rc = rx_land_file(c, dir, l.v[i], &landed, &events, err, cap);
        if (rc == HC_E_RETRY || rc == -ENOMEM)
            goto out_list;
        if (rc) {
            st->files_failed++;
            failed = 1;
            if (log)
                fprintf(log, "hubcap-receiver: land: %s\n", err);
            continue;
        }
        if (!landed) {
            st->files_skipped++;
            continue;
        }
        st->files_landed++;
        st->events += events;
        if (progress)
            fprintf(progress, "landed %s: %" PRId64 " events\n", l.v[i], events);
    }
    rc = failed ? HC_E_PARSE : 0;
    if (failed)
        snprintf(err, cap, "%" PRId64 " capture files could not be landed", st->files_failed);
out_list:
    list_free(&l);
    return rc;
}
