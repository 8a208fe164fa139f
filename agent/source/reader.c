/* Large files on 32-bit boards (armhf): 64-bit off_t before any system header. */

#include "agent/source/reader.h"
#include "agent/source/colmap.h"
#include "agent/source/csv.h"
#include "common/error.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#define SNIFF_BYTES 4096

struct ag_reader {
    enum ag_format fmt;
    char *device_id;
    size_t device_id_len;
    struct ag_csv *csv; /* CSV records, or lines for JSON Lines */
    struct ag_colmap map;
    char **header; /* CSV: column names, owned */
    size_t ncols;
    struct hc_buf data; /* data JSON of the current item */
    struct hc_buf why;  /* reason of the current rejected item */
    struct hc_event_doc doc;
    int doc_used;
};

/* Reasons of a failed open that name things (columns, map entries): one per thread. */
static _Thread_local char open_why[512];

static int check_opts(const struct ag_reader_opts *o, const char **why)
{
    if (!o || !o->device_id || !o->device_id[0] || strlen(o->device_id) > HC_DEVICE_ID_MAX) {
        *why = "device_id is required (1 to 128 bytes)";
        return HC_E_INVAL;
    }
    if ((int)o->format < AG_FMT_AUTO || o->format > AG_FMT_JSONL) {
        *why = "unknown format";
        return HC_E_INVAL;
    }
    if ((int)o->kind < 0 || (int)o->kind >= HC_KIND_COUNT) {
        *why = "unknown kind";
        return HC_E_INVAL;
    }
    return 0;
}

static int has_ext(const char *path, const char *ext)
{
    size_t n = strlen(path), e = strlen(ext);
    return n > e && !strcasecmp(path + n - e, ext);
}

/* AUTO: the extension, else the first byte that is not a BOM or blank ('{' → JSON Lines). */
static enum ag_format detect_format(const char *path, int fd)
{
    unsigned char b[SNIFF_BYTES];
    ssize_t n;
    size_t i = 0;

    if (has_ext(path, ".csv"))
        return AG_FMT_CSV;
    if (has_ext(path, ".jsonl") || has_ext(path, ".ndjson") || has_ext(path, ".json"))
        return AG_FMT_JSONL;
    n = pread(fd, b, sizeof b, 0);
    if (n >= 3 && b[0] == 0xef && b[1] == 0xbb && b[2] == 0xbf)
        i = 3;
    while (n > 0 && i < (size_t)n && (b[i] == ' ' || b[i] == '\t' || b[i] == '\r' || b[i] == '\n'))
        i++;
    return n > 0 && i < (size_t)n && b[i] == '{' ? AG_FMT_JSONL : AG_FMT_CSV;
}

static int read_header(struct ag_reader *r, const char **why)
{
    struct ag_csv_row row;
    int rc = ag_csv_next(r->csv, &row);

    if (rc == HC_E_DONE) {
        *why = "no header row (empty file)";
        return HC_E_PARSE;
    }
    if (rc) {
        *why = "cannot read the header row";
        return rc;
    }
    if (row.error) {
        snprintf(open_why, sizeof open_why, "header row: %s", row.error);
        *why = open_why;
        return HC_E_PARSE;
    }
    r->header = calloc(row.nfields, sizeof *r->header);
    if (!r->header)
        return -ENOMEM;
    r->ncols = row.nfields;
    for (size_t i = 0; i < row.nfields; i++) {
        r->header[i] = strndup(row.field[i], row.len[i]);
        if (!r->header[i])
            return -ENOMEM;
    }
    rc = ag_colmap_bind(&r->map, row.field, row.len, row.nfields, open_why, sizeof open_why);
    if (rc)
        *why = open_why;
    return rc;
}

/* Position the stream at offset/line (after the CSV header). */
static int start_at(struct ag_reader *r, uint64_t offset, uint64_t line, const char **why)
{
    if (!offset)
        return 0;
    if (!line || offset < ag_csv_offset(r->csv)) {
        *why = !line ? "line must be given with an offset" : "offset inside the header row";
        return HC_E_INVAL;
    }
    return ag_csv_seek(r->csv, offset, line);
}

static int setup(struct ag_reader *r, const char *path, const struct ag_reader_opts *opts,
                 uint64_t offset, uint64_t line, const char **why)
{
    int fd, rc;

    r->device_id = strdup(opts->device_id);
    if (!r->device_id)
        return -ENOMEM;
    r->device_id_len = strlen(r->device_id);
    rc = ag_colmap_init(&r->map, opts->kind, opts->map, open_why, sizeof open_why);
    if (rc) {
        *why = open_why;
        return rc;
    }
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        *why = "cannot open the file";
        return -errno;
    }
    r->fmt = opts->format == AG_FMT_AUTO ? detect_format(path, fd) : opts->format;
    r->csv = ag_csv_new(fd, r->fmt == AG_FMT_JSONL ? AG_CSV_LINES : 0, opts->max_row, &rc);
    if (!r->csv) {
        *why = "cannot read the file";
        return rc;
    }
    if (r->fmt == AG_FMT_CSV) {
        rc = read_header(r, why);
        if (rc)
            return rc;
    }
    return start_at(r, offset, line, why);
}

struct ag_reader *ag_reader_open(const char *path, const struct ag_reader_opts *opts,
                                 uint64_t offset, uint64_t line, int *err, const char **why)
{
    const char *w = NULL;
    struct ag_reader *r = NULL;
    int rc = check_opts(opts, &w);

    if (rc)
        goto out_fail;
    r = calloc(1, sizeof *r);
    if (!r) {
        rc = -ENOMEM;
        goto out_fail;
    }
    rc = setup(r, path, opts, offset, line, &w);
    if (rc)
        goto out_close_reader;
    return r;

out_close_reader:
    ag_reader_close(r);
out_fail:
    if (rc == -ENOMEM)
        w = "out of memory";
    if (err)
        *err = rc;
    if (why)
        *why = w;
    return NULL;
}

enum ag_format ag_reader_format(const struct ag_reader *r)
{
    return r->fmt;
}

void ag_reader_close(struct ag_reader *r)
{
    if (!r)
        return;
    if (r->doc_used)
        hc_event_doc_free(&r->doc);
    for (size_t i = 0; r->header && i < r->ncols; i++)
        free(r->header[i]);
    free(r->header);
    ag_csv_close(r->csv);
    ag_colmap_free(&r->map);
    hc_buf_free(&r->data);
    hc_buf_free(&r->why);
    free(r->device_id);
    free(r);
}

/* A bad row from the record layer: say why, naming the column for invalid UTF-8. */
static int row_error(struct ag_reader *r, const struct ag_csv_row *row)
{
    if (row->error_field != (size_t)-1 && r->fmt == AG_FMT_CSV && row->error_field < r->ncols)
        return hc_buf_addf(&r->why, "column %s: %s", r->header[row->error_field], row->error);
    if (row->error_field != (size_t)-1 && r->fmt == AG_FMT_CSV)
        return hc_buf_addf(&r->why, "field %zu: %s", row->error_field + 1, row->error);
    return hc_buf_adds(&r->why, row->error);
}

static int csv_event(struct ag_reader *r, const struct ag_csv_row *row, struct hc_event *ev)
{
    struct ag_val vals[AG_FIELDS_MAX];

    if (row->nfields != r->ncols)
        return hc_buf_addf(&r->why, "row has %zu field%s, header has %zu", row->nfields,
                           row->nfields == 1 ? "" : "s", r->ncols)
                   ? -ENOMEM
                   : HC_E_PARSE;
    for (size_t f = 0; f < r->map.nfields; f++) {
        int c = r->map.col[f];
        vals[f].s = c >= 0 ? row->field[c] : "";
        vals[f].len = c >= 0 ? row->len[c] : 0;
        vals[f].src = c >= 0 ? r->map.colname[f] : NULL;
        vals[f].null = c < 0;
    }
    int rc = ag_colmap_convert(&r->map, vals, "column", &r->data, &ev->event_time_ms, &r->why);
    if (rc)
        return rc;
    memset(ev->id, 0, sizeof ev->id);
    ev->device_id = r->device_id;
    ev->device_id_len = r->device_id_len;
    ev->kind = r->map.kind;
    ev->schema = 1;
    ev->data = r->data.p;
    ev->data_len = r->data.len;
    return 0;
}

/* An event whose envelope would be over HC_EVENT_MAX (the estimate hc_event_encode uses). */
static int too_big(struct ag_reader *r, const struct hc_event *ev)
{
    if (ev->data_len + 160 + ev->device_id_len * 6 <= HC_EVENT_MAX)
        return 0;
    return hc_buf_addf(&r->why, "event larger than %d KiB (data %zu bytes)", HC_EVENT_MAX / 1024,
                       ev->data_len)
               ? -ENOMEM
               : HC_E_TOOBIG;
}

/* One row into item. 0, HC_E_DONE for a blank JSON line, or -ENOMEM. */
static int row_item(struct ag_reader *r, const struct ag_csv_row *row, struct ag_reader_item *it)
{
    int rc;

    memset(it, 0, sizeof *it);
    it->line = row->line;
    it->next_offset = row->next_offset;
    it->next_line = row->next_line;
    if (row->error) {
        rc = row_error(r, row) ? -ENOMEM : HC_E_PARSE;
    } else if (r->fmt == AG_FMT_CSV) {
        rc = csv_event(r, row, &it->ev);
    } else {
        rc = ag_jsonl_event(&r->map, row->field[0], row->len[0], r->device_id, &r->doc,
                            &r->doc_used, &r->data, &r->why, &it->ev);
    }
    if (!rc)
        rc = too_big(r, &it->ev);
    if (rc == HC_E_DONE || rc == -ENOMEM)
        return rc;
    if (rc) {
        memset(&it->ev, 0, sizeof it->ev);
        it->rejected = 1;
        it->reason = r->why.len ? r->why.p : "rejected";
    }
    return 0;
}

int ag_reader_next(struct ag_reader *r, struct ag_reader_item *item)
{
    struct ag_csv_row row;
    int rc;

    for (;;) {
        if (r->doc_used) {
            hc_event_doc_free(&r->doc);
            r->doc_used = 0;
        }
        hc_buf_reset(&r->data);
        hc_buf_reset(&r->why);
        rc = ag_csv_next(r->csv, &row);
        if (rc)
            return rc;
        rc = row_item(r, &row, item);
        if (rc != HC_E_DONE)
            return rc;
    }
}
