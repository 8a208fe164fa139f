#include "agent/transport/https/http_parse.h"
#include "common/buf.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#define CHUNK_LINE_MAX 4096 /* a chunk-size line with extensions, or a trailer line */

enum chunk_state {
    CK_SIZE = 0,     /* in the hex digits of a chunk-size line */
    CK_EXT,          /* after them: extensions, up to the LF */
    CK_DATA,         /* in a chunk's data */
    CK_DATA_CR,      /* after a chunk's data: CR or LF */
    CK_DATA_LF,      /* after that CR: LF */
    CK_TRAILER,      /* at the start of a trailer line (or the final empty line) */
    CK_TRAILER_LINE, /* in a trailer field line */
    CK_END_LF,       /* after the CR of the final empty line: LF */
};

static void parse_fail(struct ag_http_response *rs, const char *why)
{
    snprintf(rs->detail, sizeof rs->detail, "malformed answer: %s", why);
}

size_t ag_http__head_end(const char *p, size_t n)
{
    const char *nl = p, *end = p + n;
    while ((nl = memchr(nl, '\n', (size_t)(end - nl)))) {
        if (nl + 1 < end && nl[1] == '\n')
            return (size_t)(nl + 2 - p);
        if (nl + 2 < end && nl[1] == '\r' && nl[2] == '\n')
            return (size_t)(nl + 3 - p);
        nl++;
    }
    return 0;
}

/* "HTTP/1.x SSS[ reason]": the status, and the minor version in *minor. -1 when malformed. */
static int parse_status_line(const char *s, size_t n, int *minor)
{
    if (n < 12 || memcmp(s, "HTTP/1.", 7) != 0 || (s[7] != '0' && s[7] != '1') || s[8] != ' ')
        return -1;
    for (int i = 9; i < 12; i++)
        if (s[i] < '0' || s[i] > '9')
            return -1;
    if (n > 12 && s[12] != ' ')
        return -1;
    if (s[9] == '0')
        return -1;
    *minor = s[7] - '0';
    return (s[9] - '0') * 100 + (s[10] - '0') * 10 + (s[11] - '0');
}

/* Copy v[0..n) into a kept header field, cut to fit. */
static void keep_value(char *dst, size_t cap, const char *v, size_t n)
{
    if (n >= cap)
        n = cap - 1;
    memcpy(dst, v, n);
    dst[n] = '\0';
}

/* A Content-Length value: digits only. -1 when not. */
static int parse_length(const char *v, size_t n, uint64_t *out)
{
    uint64_t len = 0;
    if (!n)
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (v[i] < '0' || v[i] > '9' || len > (UINT64_MAX - 9) / 10)
            return -1;
        len = len * 10 + (uint64_t)(v[i] - '0');
    }
    *out = len;
    return 0;
}

/* 1 when the comma-separated list v[0..n) has token tok (case-insensitive). */
static int list_has(const char *v, size_t n, const char *tok)
{
    size_t tl = strlen(tok), i = 0;
    while (i < n) {
        size_t b, e;
        while (i < n && (v[i] == ' ' || v[i] == '\t' || v[i] == ','))
            i++;
        b = i;
        while (i < n && v[i] != ',')
            i++;
        e = i;
        while (e > b && (v[e - 1] == ' ' || v[e - 1] == '\t'))
            e--;
        if (e - b == tl && strncasecmp(v + b, tok, tl) == 0)
            return 1;
    }
    return 0;
}

/* 1 when the last coding of the Transfer-Encoding list v[0..n) is chunked. */
static int last_is_chunked(const char *v, size_t n)
{
    const char *comma = v + n;
    while (comma > v && comma[-1] != ',')
        comma--;
    return list_has(comma, (size_t)(v + n - comma), "chunked");
}

/* What one head parse has learned so far. */
struct head {
    int minor;
    int keep_alive, close;
    int have_length, chunked, te;
    uint64_t length;
};

static int name_is(const char *name, size_t nl, const char *want)
{
    return strlen(want) == nl && strncasecmp(name, want, nl) == 0;
}

/* One header line "name: value" (no line ending). Returns 0 or -1 with rs->detail. */
static int parse_field(const char *s, size_t n, struct head *h, struct ag_http_response *rs)
{
    const char *colon = memchr(s, ':', n), *v;
    size_t nl, vl;
    uint64_t len;
    if (!colon || colon == s || colon[-1] == ' ' || colon[-1] == '\t') {
        parse_fail(rs, "a header line is not \"name: value\"");
        return -1;
    }
    nl = (size_t)(colon - s);
    v = colon + 1;
    vl = n - nl - 1;
    while (vl && (*v == ' ' || *v == '\t'))
        v++, vl--;
    while (vl && (v[vl - 1] == ' ' || v[vl - 1] == '\t'))
        vl--;
    if (name_is(s, nl, "content-length")) {
        if (parse_length(v, vl, &len) || (h->have_length && len != h->length)) {
            parse_fail(rs, "bad Content-Length");
            return -1;
        }
        h->have_length = 1;
        h->length = len;
    } else if (name_is(s, nl, "transfer-encoding")) {
        h->te = 1;
        h->chunked = last_is_chunked(v, vl);
    } else if (name_is(s, nl, "connection")) {
        h->close |= list_has(v, vl, "close");
        h->keep_alive |= list_has(v, vl, "keep-alive");
    } else if (name_is(s, nl, "retry-after")) {
        keep_value(rs->retry_after, sizeof rs->retry_after, v, vl);
    } else if (name_is(s, nl, "retry-after-ms") || name_is(s, nl, "x-ms-retry-after-ms")) {
        keep_value(rs->retry_after_ms, sizeof rs->retry_after_ms, v, vl);
    }
    return 0;
}

/* The body framing of RFC 9112 6.3 for an answer to a request that is not HEAD or CONNECT. */
static void set_framing(const struct head *h, int status, struct ag_http__body *b)
{
    memset(b, 0, sizeof *b);
    if (status < 200 || status == 204 || status == 304) {
        b->framing = AG_HTTP__NONE;
    } else if (h->te) {
        b->framing = h->chunked ? AG_HTTP__CHUNKED : AG_HTTP__CLOSE;
    } else if (h->have_length) {
        b->framing = h->length ? AG_HTTP__LENGTH : AG_HTTP__NONE;
        b->left = h->length;
    } else {
        b->framing = AG_HTTP__CLOSE;
    }
}

int ag_http__head_parse(const char *p, size_t n, struct ag_http_response *rs,
                        struct ag_http__body *b)
{
    struct head h = {0};
    const char *line = p, *end = p + n, *nl;
    int status = -1;
    if (memchr(p, '\0', n)) {
        parse_fail(rs, "a NUL byte in the headers");
        return AG_HTTP_E_PROTOCOL;
    }
    for (; line < end && (nl = memchr(line, '\n', (size_t)(end - line))); line = nl + 1) {
        size_t len = (size_t)(nl - line);
        if (len && line[len - 1] == '\r')
            len--;
        if (status < 0) {
            if ((status = parse_status_line(line, len, &h.minor)) < 0) {
                parse_fail(rs, "bad status line");
                return AG_HTTP_E_PROTOCOL;
            }
        } else if (!len) {
            break; /* the empty line: end of the head */
        } else if (line[0] == ' ' || line[0] == '\t') {
            continue; /* obsolete line folding: part of a field this client ignores */
        } else if (parse_field(line, len, &h, rs)) {
            return AG_HTTP_E_PROTOCOL;
        }
    }
    if (status < 0) {
        parse_fail(rs, "no status line");
        return AG_HTTP_E_PROTOCOL;
    }
    rs->status = status;
    rs->conn_close = h.close || (h.minor == 0 && !h.keep_alive);
    set_framing(&h, status, b);
    return 0;
}

static void keep_body(struct ag_http_response *rs, const char *p, size_t n)
{
    if (rs->body_len < AG_HTTP_BODY_KEEP) {
        size_t k = AG_HTTP_BODY_KEEP - rs->body_len;
        if (k > n)
            k = n;
        memcpy(rs->body + rs->body_len, p, k);
        rs->body_len += k;
        rs->body[rs->body_len] = '\0';
    }
    rs->body_total += n;
}

/* c in a chunk-size line after the size: the LF ends it. */
static int chunk_ext(struct ag_http__body *b, char c)
{
    b->state = CK_EXT;
    if (c == '\n') {
        b->state = b->left ? CK_DATA : CK_TRAILER;
        b->line = 0;
    }
    return 0;
}

/* c where the LF after a chunk's data must be. */
static int chunk_lf(struct ag_http__body *b, char c, struct ag_http_response *rs)
{
    if (c != '\n') {
        parse_fail(rs, "a chunk not followed by CRLF");
        return -1;
    }
    b->state = CK_SIZE;
    b->digits = 0;
    b->line = 0;
    return 0;
}

/* One byte c of chunk syntax outside data. Returns 1 at the end of the body, 0, or -1. */
static int chunk_byte(struct ag_http__body *b, char c, struct ag_http_response *rs)
{
    int v;
    if (++b->line > CHUNK_LINE_MAX) {
        parse_fail(rs, "a chunk line too long");
        return -1;
    }
    switch (b->state) {
    case CK_SIZE:
        if ((v = hc_hex_val(c)) >= 0) {
            if (b->left > (UINT64_MAX >> 4)) {
                parse_fail(rs, "a chunk size too large");
                return -1;
            }
            b->left = b->left * 16 + (uint64_t)v;
            b->digits++;
            return 0;
        }
        if (!b->digits || !strchr("; \t\r\n", c)) {
            parse_fail(rs, "bad chunk size");
            return -1;
        }
        return chunk_ext(b, c);
    case CK_EXT:
        return chunk_ext(b, c);
    case CK_DATA_CR:
        if (c == '\r') {
            b->state = CK_DATA_LF;
            return 0;
        }
        return chunk_lf(b, c, rs); /* a bare LF ends the chunk too */
    case CK_DATA_LF:
        return chunk_lf(b, c, rs);
    case CK_TRAILER:
        if (c == '\n')
            return 1;
        b->state = c == '\r' ? CK_END_LF : CK_TRAILER_LINE;
        return 0;
    case CK_END_LF:
        if (c == '\n')
            return 1;
        parse_fail(rs, "bad end of chunked body");
        return -1;
    default: /* CK_TRAILER_LINE */
        if (c == '\n') {
            b->state = CK_TRAILER;
            b->line = 0;
        }
        return 0;
    }
}

static int chunked_feed(struct ag_http__body *b, const char *p, size_t n, size_t *used,
                        struct ag_http_response *rs)
{
    size_t i = 0;
    while (i < n) {
        if (b->state == CK_DATA) {
            size_t k = n - i < b->left ? n - i : (size_t)b->left;
            keep_body(rs, p + i, k);
            i += k;
            b->left -= k;
            if (!b->left)
                b->state = CK_DATA_CR;
            continue;
        }
        int r = chunk_byte(b, p[i++], rs);
        if (r) {
            *used = i;
            return r < 0 ? AG_HTTP_E_PROTOCOL : 1;
        }
    }
    *used = n;
    return 0;
}

int ag_http__body_feed(struct ag_http__body *b, const char *p, size_t n, size_t *used,
                       struct ag_http_response *rs)
{
    size_t k;
    switch (b->framing) {
    case AG_HTTP__NONE:
        *used = 0;
        return 1;
    case AG_HTTP__LENGTH:
        k = n < b->left ? n : (size_t)b->left;
        keep_body(rs, p, k);
        b->left -= k;
        *used = k;
        return b->left == 0;
    case AG_HTTP__CHUNKED:
        return chunked_feed(b, p, n, used, rs);
    default: /* AG_HTTP__CLOSE */
        keep_body(rs, p, n);
        *used = n;
        return 0;
    }
}
