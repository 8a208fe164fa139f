/*
 * csv.h - a streaming reader of RFC 4180 records (or of plain lines) from a file descriptor.
 *
 * Memory is bounded, whatever the file size: one 64 KiB read buffer and a row buffer that grows
 * with the rows (and the bytes read ahead), up to max_row bytes.
 * Each row comes with the byte offset and physical line where it starts and those just past it,
 * so a caller can checkpoint after any row and later ag_csv_seek back to that point.
 *
 * CSV mode: fields separated by ',', rows by LF or CRLF (a CR followed by anything else is data);
 * a field that starts with '"' is quoted: "" is one quote, and commas, CRs and LFs inside are
 * data. A quote inside an unquoted field is taken as data (common in real exports). Empty lines
 * are skipped. Lines mode: each line is one field, a final CR is dropped, no quoting.
 *
 * A bad row does not stop the stream: it comes back with error set, and the next call reads the
 * next row. Bad rows: longer than max_row (the rest is skipped up to the next LF), an
 * unterminated quote at the end of the file, text after a closing quote, a NUL byte in a field,
 * invalid UTF-8.
 * A UTF-8 byte order mark at offset 0 is skipped.
 */
#ifndef AG_CSV_H
#define AG_CSV_H

#include <stddef.h>
#include <stdint.h>

#define AG_CSV_LINES 1u /* flag: plain lines, no quoting */

struct ag_csv_row {
    size_t nfields;
    const char *const *field; /* nfields pointers, each field NUL-terminated too */
    const size_t *len;        /* nfields lengths */
    uint64_t line;            /* 1-based physical line where the row starts */
    uint64_t offset;          /* byte offset where the row starts */
    uint64_t next_offset;     /* byte offset just past the row's line feed (or EOF) */
    uint64_t next_line;       /* physical line at next_offset */
    const char *error;        /* NULL, or why the row is bad (fields then partial); static or c's */
    size_t error_field;       /* NUL or invalid UTF-8: index of the first bad field; else -1 */
};

struct ag_csv;

/*
 * Start reading fd (owned from now on: ag_csv_close closes it, also when this fails) at its
 * current position, which is byte offset 0 and line 1. max_row is the longest row accepted, in
 * bytes not counting its final line feed (0 = 1 MiB). Returns NULL with *err = -ENOMEM or the
 * -errno of a failed read.
 */
struct ag_csv *ag_csv_new(int fd, unsigned flags, size_t max_row, int *err);
/*
 * Continue at byte offset (a row start, e.g. a row's next_offset), which is physical line line.
 * Returns 0 or -errno.
 */
int ag_csv_seek(struct ag_csv *c, uint64_t offset, uint64_t line);
/*
 * Next non-empty row into *row. Returns 0, HC_E_DONE at the end of the file, -ENOMEM or -errno
 * of a failed read. The row's memory belongs to c and is valid until the next call or close.
 */
int ag_csv_next(struct ag_csv *c, struct ag_csv_row *row);
/* Byte offset and line just past the last row returned (or the seek point). */
uint64_t ag_csv_offset(const struct ag_csv *c);
uint64_t ag_csv_line(const struct ag_csv *c);
/* Close the file and free c. Accepts NULL. */
void ag_csv_close(struct ag_csv *c);

#endif
