/* Large files on 32-bit boards (armhf): 64-bit off_t before any system header. */

#include "agent/source/csv.h"
#include "common/buf.h"
#include "common/error.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* 64 KiB reads cost no more than larger ones (the kernel reads ahead) */
#define CSV_READ_SIZE       (64 * 1024)
#define CSV_ROW_FIRST       4096 /* the row buffer's first size */
#define CSV_MAX_ROW_DEFAULT (1024 * 1024)

enum csv_state {
    ST_START,  /* at the start of a field */
    ST_PLAIN,  /* inside an unquoted field */
    ST_QUOTED, /* inside a quoted field */
    ST_QQ,     /* just after a quote inside a quoted field: "" or the closing quote */
    ST_CR,     /* just after a CR outside quotes: CRLF ends the row, anything else is data */
    ST_SKIP,   /* a bad row: skipping to the next LF */
};

struct ag_csv {
    int fd;
    unsigned flags;
    size_t max_row;
    char too_long[64]; /* the reason for rows over max_row */
    char *in; /* read buffer: bytes [0, in_len) are file bytes [in_base, in_base + in_len) */
    size_t in_len, in_pos;
    uint64_t in_base;
    uint64_t line;  /* physical line of the byte at in_pos */
    char *row;      /* field bytes, each field NUL-terminated, one after another */
    size_t row_cap; /* bytes at row: grows up to max_row + 2, all a row can take */
    const char **fp;
    size_t *fl;
    size_t fcap;
    /* the row being parsed */
    char *out;
    size_t nf;
    char *fstart;
    int quoted;      /* a quote opened somewhere in the row */
    int after_quote; /* the current field was quoted and is closed */
};

/* Bytes that stop an unquoted field. */
static const unsigned char plain_stop[256] = {[','] = 1, ['\r'] = 1, ['\n'] = 1};

/* Next chunk of the file into the read buffer. 1: bytes, 0: end of file, or -errno. */
static int refill(struct ag_csv *c)
{
    ssize_t n;
    c->in_base += c->in_len;
    c->in_pos = c->in_len = 0;
    do {
        n = read(c->fd, c->in, CSV_READ_SIZE);
    } while (n < 0 && errno == EINTR);
    if (n < 0)
        return -errno;
    c->in_len = (size_t)n;
    return n > 0;
}

static int skip_bom(struct ag_csv *c)
{
    unsigned char b[3];
    ssize_t n;
    do {
        n = pread(c->fd, b, 3, 0);
    } while (n < 0 && errno == EINTR);
    if (n < 0)
        return errno == ESPIPE ? 0 : -errno;
    if (n == 3 && b[0] == 0xef && b[1] == 0xbb && b[2] == 0xbf)
        return ag_csv_seek(c, 3, 1);
    return 0;
}

struct ag_csv *ag_csv_new(int fd, unsigned flags, size_t max_row, int *err)
{
    struct ag_csv *c = calloc(1, sizeof *c);
    int rc = -ENOMEM;

    if (!c)
        goto out_close_fd;
    c->fd = fd;
    c->flags = flags;
    c->max_row = max_row ? max_row : CSV_MAX_ROW_DEFAULT;
    snprintf(c->too_long, sizeof c->too_long, "row longer than %zu bytes", c->max_row);
    c->line = 1;
    c->in = malloc(CSV_READ_SIZE);
    c->row_cap = c->max_row + 2 < CSV_ROW_FIRST ? c->max_row + 2 : CSV_ROW_FIRST;
    c->row = malloc(c->row_cap);
    c->fcap = 16;
    c->fp = malloc(c->fcap * sizeof *c->fp);
    c->fl = malloc(c->fcap * sizeof *c->fl);
    if (!c->in || !c->row || !c->fp || !c->fl)
        goto out_free_c;
#ifdef POSIX_FADV_SEQUENTIAL
    posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
#endif
    rc = skip_bom(c);
    if (rc)
        goto out_free_c;
    return c;

out_free_c:
    ag_csv_close(c);
    *err = rc;
    return NULL;
out_close_fd:
    close(fd);
    *err = rc;
    return NULL;
}

int ag_csv_seek(struct ag_csv *c, uint64_t offset, uint64_t line)
{
    if (offset >= c->in_base && offset <= c->in_base + c->in_len) {
        c->in_pos = (size_t)(offset - c->in_base);
    } else {
        if (lseek(c->fd, (off_t)offset, SEEK_SET) < 0)
            return -errno;
        c->in_base = offset;
        c->in_len = c->in_pos = 0;
    }
    c->line = line;
    return 0;
}

uint64_t ag_csv_offset(const struct ag_csv *c)
{
    return c->in_base + c->in_pos;
}

uint64_t ag_csv_line(const struct ag_csv *c)
{
    return c->line;
}

void ag_csv_close(struct ag_csv *c)
{
    if (!c)
        return;
    close(c->fd);
    free(c->in);
    free(c->row);
    free(c->fp);
    free(c->fl);
    free(c);
}

/*
 * Room for n more bytes at c->out: the row buffer doubles (at most to max_row + 2, what a row can
 * take), and the fields already written move with it. 0 or -ENOMEM.
 */
static int row_room(struct ag_csv *c, size_t n)
{
    size_t used = (size_t)(c->out - c->row), most = c->max_row + 2, cap, off = 0;
    char *p;
    if (used + n <= c->row_cap || c->row_cap >= most)
        return 0;
    for (cap = c->row_cap; cap < used + n && cap < most; cap *= 2)
        ;
    if (cap > most)
        cap = most;
    p = realloc(c->row, cap);
    if (!p)
        return -ENOMEM;
    /* the fields lie one after another from the start, each with its NUL; then the open one */
    for (size_t i = 0; i < c->nf; off += c->fl[i] + 1, i++)
        c->fp[i] = p + off;
    c->row = p;
    c->row_cap = cap;
    c->out = p + used;
    c->fstart = p + off;
    return 0;
}

/* Close the field being written. 0 or -ENOMEM. */
static int end_field(struct ag_csv *c)
{
    if (c->nf == c->fcap) {
        size_t cap = c->fcap * 2;
        const char **fp = realloc(c->fp, cap * sizeof *fp);
        if (!fp)
            return -ENOMEM;
        c->fp = fp;
        size_t *fl = realloc(c->fl, cap * sizeof *fl);
        if (!fl)
            return -ENOMEM;
        c->fl = fl;
        c->fcap = cap;
    }
    c->fp[c->nf] = c->fstart;
    c->fl[c->nf] = (size_t)(c->out - c->fstart);
    c->nf++;
    *c->out++ = '\0';
    c->fstart = c->out;
    c->after_quote = 0;
    return 0;
}

/* 1 when s[0..len) is all ASCII; eight bytes at a time. */
static int all_ascii(const char *s, size_t len)
{
    uint64_t acc = 0, w;
    size_t i = 0;
    for (; i + 8 <= len; i += 8) {
        memcpy(&w, s + i, 8);
        acc |= w;
    }
    for (; i < len; i++)
        acc |= (unsigned char)s[i];
    return !(acc & 0x8080808080808080ull);
}

/* Fields must be text: no NUL byte (no event can carry it: the lake's jsonb refuses \u0000), and
 * UTF-8. */
static void check_utf8(struct ag_csv *c, struct ag_csv_row *r)
{
    for (size_t i = 0; i < c->nf; i++) {
        if (memchr(c->fp[i], '\0', c->fl[i])) {
            r->error = "contains a NUL byte";
            r->error_field = i;
            return;
        }
    }
    if (all_ascii(c->row, (size_t)(c->out - c->row)))
        return;
    for (size_t i = 0; i < c->nf; i++) {
        if (!hc_utf8_valid(c->fp[i], c->fl[i])) {
            r->error = "invalid UTF-8";
            r->error_field = i;
            return;
        }
    }
}

/*
 * The byte at the row's size limit is acceptable only as the row's final LF (outside quotes).
 * Returns 1 when the row is over max_row.
 */
static int over_limit(const struct ag_csv *c, enum csv_state st, uint64_t hard)
{
    if (st == ST_SKIP || c->in_base + c->in_pos < hard)
        return 0;
    return !(c->in[c->in_pos] == '\n' && st != ST_QUOTED);
}

/*
 * One step of the state machine over the bytes at in_pos (at least one). Sets *done at the end
 * of the row. Returns 0 or -ENOMEM.
 */
static int csv_step(struct ag_csv *c, enum csv_state *st, size_t stop, int *done,
                    struct ag_csv_row *r)
{
    const char *in = c->in;
    size_t pos = c->in_pos;
    char *o = c->out, ch;

    switch (*st) {
    case ST_SKIP: {
        const char *nl = memchr(in + pos, '\n', c->in_len - pos);
        c->in_pos = nl ? (size_t)(nl - in) + 1 : c->in_len;
        if (nl) {
            c->line++;
            *done = 1;
        }
        return 0;
    }
    case ST_START:
        if (in[pos] == '"') {
            c->in_pos = pos + 1;
            c->quoted = 1;
            *st = ST_QUOTED;
            return 0;
        }
        *st = ST_PLAIN;
        /* fall through */
    case ST_PLAIN:
        while (pos < stop && !plain_stop[(unsigned char)in[pos]])
            *o++ = in[pos++];
        c->out = o;
        c->in_pos = pos;
        if (pos == c->in_len || (pos == stop && in[pos] != '\n'))
            return 0; /* refill, or over the limit (seen on the next step) */
        ch = in[pos];
        c->in_pos = pos + 1;
        if (ch == '\r') {
            *st = ST_CR;
            return 0;
        }
        if (ch == '\n') {
            c->line++;
            *done = 1;
        }
        *st = ST_START;
        return end_field(c);
    case ST_QUOTED:
        while (pos < stop && in[pos] != '"') {
            c->line += in[pos] == '\n';
            *o++ = in[pos++];
        }
        c->out = o;
        c->in_pos = pos;
        if (pos < stop) {
            c->in_pos = pos + 1;
            *st = ST_QQ;
        }
        return 0;
    case ST_QQ:
        ch = in[pos];
        if (ch == '"') {
            *c->out++ = '"';
            c->in_pos = pos + 1;
            *st = ST_QUOTED;
            return 0;
        }
        if (ch == ',' || ch == '\n' || ch == '\r') {
            c->after_quote = 1;
            *st = ST_PLAIN; /* the separator is handled as after any field */
            return 0;
        }
        if (!r->error)
            r->error = "text after a closing quote";
        *st = ST_PLAIN;
        return 0;
    case ST_CR:
        if (in[pos] == '\n') {
            c->in_pos = pos + 1;
            c->line++;
            *done = 1;
            *st = ST_START;
            return end_field(c);
        }
        if (c->after_quote && !r->error)
            r->error = "text after a closing quote";
        *c->out++ = '\r';
        *st = ST_PLAIN;
        return 0;
    }
    return 0;
}

/* Lines mode: one step over the bytes at in_pos. */
static void line_step(struct ag_csv *c, enum csv_state *st, size_t stop, int *done)
{
    const char *in = c->in, *nl;
    size_t pos = c->in_pos, n;

    if (*st == ST_SKIP) {
        nl = memchr(in + pos, '\n', c->in_len - pos);
        c->in_pos = nl ? (size_t)(nl - in) + 1 : c->in_len;
    } else {
        /* The byte at the limit (stop) may still be the final LF. */
        nl = memchr(in + pos, '\n', (stop < c->in_len ? stop + 1 : stop) - pos);
        n = nl ? (size_t)(nl - (in + pos)) : stop - pos;
        memcpy(c->out, in + pos, n);
        c->out += n;
        c->in_pos = nl ? (size_t)(nl - in) + 1 : stop;
    }
    if (nl) {
        c->line++;
        *done = 1;
    }
}

/* The row ended at the end of the file in state st. */
static int at_eof(struct ag_csv *c, enum csv_state st, struct ag_csv_row *r)
{
    switch (st) {
    case ST_SKIP:
        return 0;
    case ST_QUOTED:
        if (!r->error)
            r->error = "unterminated quoted field at end of file";
        return end_field(c);
    default:
        return end_field(c);
    }
}

/* Parse one row, possibly empty (*empty set). 0, HC_E_DONE, -ENOMEM or -errno. */
static int parse_row(struct ag_csv *c, struct ag_csv_row *r, int *empty)
{
    enum csv_state st = ST_START;
    uint64_t row_off = c->in_base + c->in_pos, hard = row_off + c->max_row;
    int done = 0, rc;

    r->line = c->line;
    r->offset = row_off;
    r->error = NULL;
    r->error_field = (size_t)-1;
    c->out = c->fstart = c->row;
    c->nf = 0;
    c->quoted = c->after_quote = 0;
    while (!done) {
        if (c->in_pos == c->in_len) {
            rc = refill(c);
            if (rc < 0)
                return rc;
            if (rc == 0) {
                if (c->in_base == row_off && st == ST_START)
                    return HC_E_DONE;
                rc = row_room(c, 1);
                if (!rc)
                    rc = at_eof(c, st, r);
                if (rc)
                    return rc;
                break;
            }
        }
        if (over_limit(c, st, hard)) {
            r->error = c->too_long;
            st = ST_SKIP;
            continue;
        }
        size_t stop = c->in_len;
        if (hard - c->in_base < stop)
            stop = (size_t)(hard - c->in_base);
        /* a step writes at most the bytes it reads and one more (a NUL, a held-back CR) */
        if (st != ST_SKIP && (rc = row_room(c, stop - c->in_pos + 2)))
            return rc;
        if (c->flags & AG_CSV_LINES) {
            line_step(c, &st, stop, &done);
        } else {
            rc = csv_step(c, &st, stop, &done, r);
            if (rc)
                return rc;
        }
    }
    if (c->flags & AG_CSV_LINES && st != ST_SKIP) {
        if (c->out > c->row && c->out[-1] == '\r')
            c->out--;
        rc = row_room(c, 1);
        if (!rc)
            rc = end_field(c);
        if (rc)
            return rc;
    }
    r->next_offset = c->in_base + c->in_pos;
    r->next_line = c->line;
    r->nfields = c->nf;
    r->field = c->fp;
    r->len = c->fl;
    *empty = !r->error && !c->quoted && c->nf == 1 && c->fl[0] == 0;
    if (!r->error)
        check_utf8(c, r);
    return 0;
}

int ag_csv_next(struct ag_csv *c, struct ag_csv_row *row)
{
    int empty, rc;
    do {
        rc = parse_row(c, row, &empty);
    } while (!rc && empty);
    return rc;
}
