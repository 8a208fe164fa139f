/* test_csv.c - the streaming RFC 4180 record reader (agent/source/csv.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/source/csv.h"
#include "common/buf.h"
#include "common/error.h"
#include "tests/unit/testutil.h"

static struct ag_csv *open_str(const char *content, size_t len, unsigned flags, size_t max_row)
{
    const char *path = tu_write_tmp("test_csv", "in.csv", content, len);
    int fd = open(path, O_RDONLY), err = 0;
    struct ag_csv *c;

    assert_true(fd >= 0);
    unlink(path);
    c = ag_csv_new(fd, flags, max_row, &err);
    assert_non_null(c);
    return c;
}

#define OPEN(s) open_str((s), sizeof(s) - 1, 0, 0)

static void assert_field(const struct ag_csv_row *r, size_t i, const char *want)
{
    assert_true(i < r->nfields);
    assert_int_equal(r->len[i], strlen(want));
    assert_memory_equal(r->field[i], want, strlen(want) + 1); /* NUL-terminated too */
}

static void test_quotes_and_escapes(void **state)
{
    (void)state;
    struct ag_csv *c = OPEN("a,\"b \"\"q\"\" c\",\"d,e\",\"\"\n\"x\"\n");
    struct ag_csv_row r;

    assert_int_equal(ag_csv_next(c, &r), 0);
    assert_null(r.error);
    assert_int_equal(r.nfields, 4);
    assert_field(&r, 0, "a");
    assert_field(&r, 1, "b \"q\" c");
    assert_field(&r, 2, "d,e");
    assert_field(&r, 3, "");
    assert_int_equal(r.line, 1);
    assert_int_equal(ag_csv_next(c, &r), 0);
    assert_int_equal(r.nfields, 1);
    assert_field(&r, 0, "x");
    assert_int_equal(r.line, 2);
    assert_int_equal(ag_csv_next(c, &r), HC_E_DONE);
    assert_int_equal(ag_csv_next(c, &r), HC_E_DONE);
    ag_csv_close(c);
}

static void test_bare_quote_inside_plain_field(void **state)
{
    (void)state;
    struct ag_csv *c = OPEN("12\" VINYL,a\"b\n");
    struct ag_csv_row r;

    assert_int_equal(ag_csv_next(c, &r), 0);
    assert_null(r.error);
    assert_field(&r, 0, "12\" VINYL");
    assert_field(&r, 1, "a\"b");
    ag_csv_close(c);
}

static void test_embedded_newlines_count_lines(void **state)
{
    (void)state;
    static const char in[] = "1,\"two\nlines\"\n2,\"three\r\nphysical\nlines\"\n3,x\n";
    struct ag_csv *c = OPEN(in);
    struct ag_csv_row r;

    assert_int_equal(ag_csv_next(c, &r), 0);
    assert_int_equal(r.line, 1);
    assert_int_equal(r.offset, 0);
    assert_field(&r, 1, "two\nlines");
    assert_int_equal(r.next_line, 3);
    assert_int_equal(ag_csv_next(c, &r), 0);
    assert_int_equal(r.line, 3);
    assert_field(&r, 1, "three\r\nphysical\nlines");
    assert_int_equal(r.next_line, 6);
    assert_int_equal(ag_csv_next(c, &r), 0);
    assert_int_equal(r.line, 6);
    assert_field(&r, 0, "3");
    assert_int_equal(r.next_offset, sizeof in - 1);
    assert_int_equal(r.next_line, 7);
    ag_csv_close(c);
}

static void test_crlf(void **state)
{
    (void)state;
    struct ag_csv *c = OPEN("a,b\r\n\"c\",d\r\ne\rf,g\r\n");
    struct ag_csv_row r;

    assert_int_equal(ag_csv_next(c, &r), 0);
    assert_field(&r, 1, "b");
    assert_int_equal(r.next_offset, 5);
    assert_int_equal(r.next_line, 2);
    assert_int_equal(ag_csv_next(c, &r), 0);
    assert_null(r.error);
    assert_field(&r, 0, "c");
    assert_field(&r, 1, "d");
    assert_int_equal(ag_csv_next(c, &r), 0);
    assert_field(&r, 0, "e\rf"); /* a CR not followed by LF is data */
    assert_field(&r, 1, "g");
    assert_int_equal(r.line, 3);
    assert_int_equal(ag_csv_next(c, &r), HC_E_DONE);
    ag_csv_close(c);
}

static void test_bom(void **state)
{
    (void)state;
    struct ag_csv *c = OPEN("\xef\xbb\xbfInvoiceNo,X\n1,2\n");
    struct ag_csv_row r;

    assert_int_equal(ag_csv_next(c, &r), 0);
    assert_field(&r, 0, "InvoiceNo");
    assert_int_equal(r.offset, 3);
    assert_int_equal(r.line, 1);
    assert_int_equal(r.next_offset, 15);
    ag_csv_close(c);

    /* A BOM later in the file is data. */
    c = OPEN("a\n\xef\xbb\xbf"
             "b\n");
    assert_int_equal(ag_csv_next(c, &r), 0);
    assert_int_equal(ag_csv_next(c, &r), 0);
    assert_field(&r, 0,
                 "\xef\xbb\xbf"
                 "b");
    ag_csv_close(c);
}

static void test_empty_lines_skipped(void **state)
{
    (void)state;
    struct ag_csv *c = OPEN("\n\na\n\r\n\nb\n\n");
    struct ag_csv_row r;

    assert_int_equal(ag_csv_next(c, &r), 0);
    assert_field(&r, 0, "a");
    assert_int_equal(r.line, 3);
    assert_int_equal(r.offset, 2);
    assert_int_equal(ag_csv_next(c, &r), 0);
    assert_field(&r, 0, "b");
    assert_int_equal(r.line, 6);
    assert_int_equal(ag_csv_next(c, &r), HC_E_DONE);
    ag_csv_close(c);

    /* A quoted empty field is a row, not an empty line. */
    c = OPEN("\"\"\n");
    assert_int_equal(ag_csv_next(c, &r), 0);
    assert_int_equal(r.nfields, 1);
    assert_field(&r, 0, "");
    ag_csv_close(c);
}

static void test_no_final_newline(void **state)
{
    (void)state;
    struct ag_csv *c = OPEN("a,b\nc,");
    struct ag_csv_row r;

    assert_int_equal(ag_csv_next(c, &r), 0);
    assert_int_equal(ag_csv_next(c, &r), 0);
    assert_int_equal(r.nfields, 2);
    assert_field(&r, 0, "c");
    assert_field(&r, 1, "");
    assert_int_equal(r.next_offset, 6);
    assert_int_equal(r.next_line, 2);
    assert_int_equal(ag_csv_next(c, &r), HC_E_DONE);
    ag_csv_close(c);
}

static void test_invalid_utf8(void **state)
{
    (void)state;
    /* Bad bytes in field 1; then a split sequence across a quote boundary; then good UTF-8. */
    struct ag_csv *c = OPEN("ok,bad\xff\n\"\xc3\",\"\xa9\"\nfine,caf\xc3\xa9\n\xed\xa0\x80\n");
    struct ag_csv_row r;

    assert_int_equal(ag_csv_next(c, &r), 0);
    assert_non_null(r.error);
    assert_string_equal(r.error, "invalid UTF-8");
    assert_int_equal(r.error_field, 1);
    assert_int_equal(r.line, 1);
    assert_int_equal(ag_csv_next(c, &r), 0);
    assert_non_null(r.error);
    assert_int_equal(r.error_field, 0);
    assert_int_equal(ag_csv_next(c, &r), 0);
    assert_null(r.error);
    assert_field(&r, 1, "caf\xc3\xa9");
    assert_int_equal(r.line, 3);
    assert_int_equal(ag_csv_next(c, &r), 0); /* a UTF-16 surrogate is not UTF-8 */
    assert_non_null(r.error);
    assert_int_equal(r.line, 4);
    ag_csv_close(c);
}

/* A NUL byte is not text: the row is bad, naming the field, and the next row reads (found by
 * fuzz_reader: a NUL became \u0000 in the event, which the envelope and silver cannot hold). */
static void test_nul_byte(void **state)
{
    (void)state;
    struct ag_csv *c = OPEN("ok,b\0d\n\"q\0\"\nfine,x\n");
    struct ag_csv_row r;

    assert_int_equal(ag_csv_next(c, &r), 0);
    assert_non_null(r.error);
    assert_string_equal(r.error, "contains a NUL byte");
    assert_int_equal(r.error_field, 1);
    assert_int_equal(ag_csv_next(c, &r), 0);
    assert_non_null(r.error);
    assert_int_equal(r.error_field, 0);
    assert_int_equal(ag_csv_next(c, &r), 0);
    assert_null(r.error);
    assert_field(&r, 1, "x");
    assert_int_equal(ag_csv_next(c, &r), HC_E_DONE);
    ag_csv_close(c);
    c = open_str("a\0b\nc\n", 6, AG_CSV_LINES, 0);
    assert_int_equal(ag_csv_next(c, &r), 0);
    assert_string_equal(r.error, "contains a NUL byte");
    assert_int_equal(ag_csv_next(c, &r), 0);
    assert_null(r.error);
    assert_field(&r, 0, "c");
    ag_csv_close(c);
}

static void test_unterminated_quote_at_eof(void **state)
{
    (void)state;
    static const char in[] = "a,b\nc,\"open\nstill open\n";
    struct ag_csv *c = OPEN(in);
    struct ag_csv_row r;

    assert_int_equal(ag_csv_next(c, &r), 0);
    assert_null(r.error);
    assert_int_equal(ag_csv_next(c, &r), 0);
    assert_non_null(r.error);
    assert_non_null(strstr(r.error, "unterminated"));
    assert_int_equal(r.line, 2);
    assert_int_equal(r.next_offset, sizeof in - 1);
    assert_int_equal(r.next_line, 4);
    assert_int_equal(ag_csv_next(c, &r), HC_E_DONE);
    ag_csv_close(c);
}

static void test_text_after_closing_quote(void **state)
{
    (void)state;
    struct ag_csv *c = OPEN("\"ab\"c,\"x\ny\"\n\"ok\"\r\n\"q\"\rz\nlast\n");
    struct ag_csv_row r;

    assert_int_equal(ag_csv_next(c, &r), 0);
    assert_non_null(r.error);
    assert_int_equal(r.line, 1);
    assert_int_equal(r.next_line, 3); /* the row still ends where RFC 4180 says */
    assert_int_equal(ag_csv_next(c, &r), 0);
    assert_null(r.error);
    assert_field(&r, 0, "ok");
    assert_int_equal(ag_csv_next(c, &r), 0);
    assert_non_null(r.error); /* "q" then a lone CR */
    assert_int_equal(ag_csv_next(c, &r), 0);
    assert_null(r.error);
    assert_field(&r, 0, "last");
    assert_int_equal(r.line, 5);
    ag_csv_close(c);
}

static void test_max_row_and_resync(void **state)
{
    (void)state;
    /* max_row 10: "0123456789" (10 bytes) fits, with LF and with CRLF; 11 does not. */
    static const char in[] = "0123456789\n0123456789\r\n0123456789A,b\nok\n"
                             "\"quoted over the limit\nstill\",x\nafter\n";
    struct ag_csv *c = open_str(in, sizeof in - 1, 0, 10);
    struct ag_csv_row r;

    assert_int_equal(ag_csv_next(c, &r), 0);
    assert_null(r.error);
    assert_field(&r, 0, "0123456789");
    assert_int_equal(ag_csv_next(c, &r), 0);
    assert_non_null(r.error); /* with its CR the row is 11 bytes before the LF */
    assert_int_equal(ag_csv_next(c, &r), 0);
    assert_non_null(r.error);
    assert_non_null(strstr(r.error, "longer"));
    assert_int_equal(r.line, 3);
    assert_int_equal(r.next_line, 4);
    assert_int_equal(ag_csv_next(c, &r), 0);
    assert_null(r.error);
    assert_field(&r, 0, "ok");
    assert_int_equal(r.line, 4);
    /* Over the limit inside a quoted field: skipped to the next LF, whatever the quotes. */
    assert_int_equal(ag_csv_next(c, &r), 0);
    assert_non_null(r.error);
    assert_int_equal(r.line, 5);
    assert_int_equal(r.next_line, 6);
    assert_int_equal(ag_csv_next(c, &r), 0);
    assert_field(&r, 0, "still\"");
    assert_int_equal(ag_csv_next(c, &r), 0);
    assert_field(&r, 0, "after");
    assert_int_equal(r.line, 7);
    ag_csv_close(c);
}

/*
 * Rows far longer than the row buffer's first 4 KiB and than a 64 KiB read: the buffer grows
 * (up to max_row) with the fields already written moving with it, and the limit holds.
 */
static void test_long_rows_grow(void **state)
{
    enum { NF = 3000, FL = 97, MAX = 400000 };
    struct hc_buf in = HC_BUF_INIT;
    struct ag_csv_row r;
    char field[FL + 1];
    (void)state;
    for (size_t i = 0; i < NF; i++) { /* ~300 KB: fields plain, quoted with "" and a CR */
        memset(field, 'a' + (int)(i % 26), FL);
        field[FL] = '\0';
        if (i % 3 == 1)
            assert_int_equal(hc_buf_addf(&in, "\"%.40s\"\"\r%.40s\"", field, field), 0);
        else
            assert_int_equal(hc_buf_add(&in, field, FL), 0);
        assert_int_equal(hc_buf_addc(&in, i + 1 < NF ? ',' : '\n'), 0);
    }
    size_t row1 = in.len;
    /* then a row of exactly MAX bytes (fits), and one of MAX + 1 (does not), then "end" */
    for (int k = 0; k < 2; k++) {
        for (size_t i = 0; i < (size_t)MAX + (size_t)k; i++)
            assert_int_equal(hc_buf_addc(&in, 'x'), 0);
        assert_int_equal(hc_buf_addc(&in, '\n'), 0);
    }
    assert_int_equal(hc_buf_add(&in, "end\n", 4), 0);
    struct ag_csv *c = open_str(in.p, in.len, 0, MAX);
    assert_int_equal(ag_csv_next(c, &r), 0);
    assert_null(r.error);
    assert_int_equal(r.nfields, NF);
    assert_int_equal(r.next_offset, row1);
    for (size_t i = 0; i < NF; i++) {
        memset(field, 'a' + (int)(i % 26), FL);
        field[FL] = '\0';
        if (i % 3 == 1) {
            char want[100];
            snprintf(want, sizeof want, "%.40s\"\r%.40s", field, field);
            assert_field(&r, i, want);
        } else {
            assert_field(&r, i, field);
        }
    }
    assert_int_equal(ag_csv_next(c, &r), 0);
    assert_null(r.error);
    assert_int_equal(r.nfields, 1);
    assert_int_equal(r.len[0], MAX);
    assert_int_equal(r.field[0][MAX], '\0');
    assert_int_equal(ag_csv_next(c, &r), 0);
    assert_non_null(r.error);
    assert_non_null(strstr(r.error, "longer"));
    assert_int_equal(ag_csv_next(c, &r), 0);
    assert_field(&r, 0, "end");
    assert_int_equal(ag_csv_next(c, &r), HC_E_DONE);
    ag_csv_close(c);
    /* lines mode: one field per line, the same long lines */
    c = open_str(in.p, in.len, AG_CSV_LINES, MAX);
    assert_int_equal(ag_csv_next(c, &r), 0);
    assert_null(r.error);
    assert_int_equal(r.len[0], row1 - 1);
    assert_memory_equal(r.field[0], in.p, row1 - 1);
    assert_int_equal(ag_csv_next(c, &r), 0);
    assert_null(r.error);
    assert_int_equal(r.len[0], MAX);
    assert_int_equal(ag_csv_next(c, &r), 0);
    assert_non_null(r.error);
    assert_int_equal(ag_csv_next(c, &r), 0);
    assert_field(&r, 0, "end");
    ag_csv_close(c);
    hc_buf_free(&in);
}

static void test_lines_mode(void **state)
{
    (void)state;
    static const char in[] = "\xef\xbb\xbf{\"a\":\"x,\\\"y\"}\r\n\n  \nlast";
    struct ag_csv *c = open_str(in, sizeof in - 1, AG_CSV_LINES, 0);
    struct ag_csv_row r;

    assert_int_equal(ag_csv_next(c, &r), 0);
    assert_int_equal(r.nfields, 1);
    assert_field(&r, 0, "{\"a\":\"x,\\\"y\"}");
    assert_int_equal(r.offset, 3);
    assert_int_equal(ag_csv_next(c, &r), 0);
    assert_field(&r, 0, "  ");
    assert_int_equal(r.line, 3);
    assert_int_equal(ag_csv_next(c, &r), 0);
    assert_field(&r, 0, "last");
    assert_int_equal(r.next_offset, sizeof in - 1);
    assert_int_equal(ag_csv_next(c, &r), HC_E_DONE);
    ag_csv_close(c);

    static const char big[] = "12345\n123456\n1234\r\nx\n";
    c = open_str(big, sizeof big - 1, AG_CSV_LINES, 5);
    assert_int_equal(ag_csv_next(c, &r), 0);
    assert_null(r.error);
    assert_int_equal(ag_csv_next(c, &r), 0);
    assert_non_null(r.error);
    assert_int_equal(r.line, 2);
    assert_int_equal(ag_csv_next(c, &r), 0);
    assert_null(r.error);
    assert_field(&r, 0, "1234");
    assert_int_equal(ag_csv_next(c, &r), 0);
    assert_field(&r, 0, "x");
    assert_int_equal(r.line, 4);
    ag_csv_close(c);
}

/* ---- a large generated file: read-buffer boundaries, exact offsets, seek ------------------ */

#define GEN_ROWS 20000
#define GEN_COLS 4

static uint64_t rnd_state = 0x9e3779b97f4a7c15ull;

static uint32_t rnd(void)
{
    rnd_state ^= rnd_state << 13;
    rnd_state ^= rnd_state >> 7;
    rnd_state ^= rnd_state << 17;
    return (uint32_t)(rnd_state >> 16);
}

struct gen {
    char *text; /* the file */
    size_t len, cap;
    char **want;        /* GEN_ROWS * GEN_COLS expected field values */
    uint64_t *row_line; /* line where row i starts */
    uint64_t *row_off;  /* offset where row i starts */
};

static void put(struct gen *g, const char *s, size_t n)
{
    if (g->len + n > g->cap) {
        g->cap = (g->len + n) * 2;
        g->text = realloc(g->text, g->cap);
        assert_non_null(g->text);
    }
    memcpy(g->text + g->len, s, n);
    g->len += n;
}

static uint64_t lines_in(const char *s, size_t n)
{
    uint64_t k = 0;
    for (size_t i = 0; i < n; i++)
        k += s[i] == '\n';
    return k;
}

/* A random field value (with commas, quotes, CR/LF, UTF-8) and its CSV encoding. */
static void gen_field(struct gen *g, char **want)
{
    static const char *const parts[] = {"abc",         ",", "\"",   "\n",           "\r\n",
                                        "caf\xc3\xa9", " ", "12.5", "\xe2\x82\xac", "x"};
    char val[200];
    size_t n = 0, k = rnd() % 8;
    int quote = rnd() % 4 == 0;

    for (size_t i = 0; i < k; i++) {
        const char *p = parts[rnd() % 10];
        memcpy(val + n, p, strlen(p));
        n += strlen(p);
    }
    val[n] = '\0';
    for (size_t i = 0; i < n; i++)
        if (strchr(",\"\r\n", val[i]))
            quote = 1;
    if (!n && !quote && rnd() % 2)
        quote = 1;
    *want = strdup(val);
    if (!quote) {
        put(g, val, n);
        return;
    }
    put(g, "\"", 1);
    for (size_t i = 0; i < n; i++)
        put(g, val[i] == '"' ? "\"\"" : val + i, 1 + (val[i] == '"'));
    put(g, "\"", 1);
}

static void gen_file(struct gen *g)
{
    uint64_t line = 1;

    memset(g, 0, sizeof *g);
    g->want = calloc(GEN_ROWS * GEN_COLS, sizeof *g->want);
    g->row_line = calloc(GEN_ROWS, sizeof *g->row_line);
    g->row_off = calloc(GEN_ROWS, sizeof *g->row_off);
    for (size_t i = 0; i < GEN_ROWS; i++) {
        if (rnd() % 50 == 0) { /* stray empty lines */
            if (rnd() % 2)
                put(g, "\n", 1);
            else
                put(g, "\r\n", 2);
        }
        size_t from = i ? (size_t)g->row_off[i - 1] : 0; /* lines since the previous row */
        line += lines_in(g->text + from, g->len - from);
        g->row_off[i] = g->len;
        g->row_line[i] = line;
        for (size_t j = 0; j < GEN_COLS; j++) {
            if (j)
                put(g, ",", 1);
            gen_field(g, &g->want[i * GEN_COLS + j]);
        }
        if (rnd() % 2)
            put(g, "\r\n", 2);
        else
            put(g, "\n", 1);
    }
}

static void gen_free(struct gen *g)
{
    for (size_t i = 0; i < GEN_ROWS * GEN_COLS; i++)
        free(g->want[i]);
    free(g->want);
    free(g->row_line);
    free(g->row_off);
    free(g->text);
}

static void test_generated_file_offsets_and_seek(void **state)
{
    (void)state;
    struct gen g;
    struct ag_csv_row r;
    struct ag_csv *c;
    uint64_t *next_off = calloc(GEN_ROWS, sizeof *next_off);
    uint64_t *next_line = calloc(GEN_ROWS, sizeof *next_line);

    gen_file(&g);
    assert_true(g.len > 3 * 256 * 1024); /* several read buffers */
    c = open_str(g.text, g.len, 0, 0);
    for (size_t i = 0; i < GEN_ROWS; i++) {
        assert_int_equal(ag_csv_next(c, &r), 0);
        assert_null(r.error);
        assert_int_equal(r.nfields, GEN_COLS);
        for (size_t j = 0; j < GEN_COLS; j++)
            assert_field(&r, j, g.want[i * GEN_COLS + j]);
        assert_int_equal(r.offset, g.row_off[i]);
        assert_int_equal(r.line, g.row_line[i]);
        next_off[i] = r.next_offset;
        next_line[i] = r.next_line;
        assert_true(r.next_offset >= r.offset);
        assert_int_equal(r.line + lines_in(g.text + r.offset, r.next_offset - r.offset),
                         r.next_line);
    }
    assert_int_equal(ag_csv_next(c, &r), HC_E_DONE);
    /* Seek back to a sample of rows (forwards and backwards) and read on from there. */
    for (size_t k = 0; k < 200; k++) {
        size_t i = rnd() % (GEN_ROWS - 1);
        assert_int_equal(ag_csv_seek(c, next_off[i], next_line[i]), 0);
        assert_int_equal(ag_csv_next(c, &r), 0);
        assert_int_equal(r.line, g.row_line[i + 1]);
        assert_int_equal(r.offset, g.row_off[i + 1]);
        assert_field(&r, 0, g.want[(i + 1) * GEN_COLS]);
        assert_field(&r, 3, g.want[(i + 1) * GEN_COLS + 3]);
    }
    ag_csv_close(c);
    gen_free(&g);
    free(next_off);
    free(next_line);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_quotes_and_escapes),
        cmocka_unit_test(test_bare_quote_inside_plain_field),
        cmocka_unit_test(test_embedded_newlines_count_lines),
        cmocka_unit_test(test_crlf),
        cmocka_unit_test(test_bom),
        cmocka_unit_test(test_empty_lines_skipped),
        cmocka_unit_test(test_no_final_newline),
        cmocka_unit_test(test_invalid_utf8),
        cmocka_unit_test(test_nul_byte),
        cmocka_unit_test(test_unterminated_quote_at_eof),
        cmocka_unit_test(test_text_after_closing_quote),
        cmocka_unit_test(test_max_row_and_resync),
        cmocka_unit_test(test_lines_mode),
        cmocka_unit_test(test_long_rows_grow),
        cmocka_unit_test(test_generated_file_offsets_and_seek),
    };
    return cmocka_run_group_tests(tests, NULL, tu_remove_tmp_files);
}
