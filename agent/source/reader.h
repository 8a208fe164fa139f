/*
 * reader.h - turn one input file (CSV or JSON Lines) into events, row by row.
 *
 * A reader yields items in file order. Each item is either an event or a rejected row (line
 * number and reason); a bad row never stops the file. Every item carries the byte offset and
 * line number just past it, so a caller can checkpoint and later reopen the reader at that point
 * (ag_reader_open with offset/line): rows before it are not read again.
 *
 * CSV (RFC 4180): header row, quoted fields with "" escapes and embedded newlines, CRLF or LF,
 * a UTF-8 BOM, rows shorter or longer than the header rejected. The header is mapped to the
 * fields of a kind: UCI Online Retail columns (InvoiceNo, StockCode, Description, Quantity,
 * InvoiceDate, UnitPrice, CustomerID, Country) as they come, or the DESIGN.md field names of any
 * kind, ignoring case; an explicit map "field=Column,…" overrides. Values are typed (integers,
 * numbers, timestamps, enums) and checked; a row that does not convert is rejected with the
 * column named ("column Quantity: not an integer: 'abc'"). Unmapped columns are ignored.
 * The conversion rules are in colmap.h.
 *
 * JSON Lines: one object per line; a full envelope (has "kind" and "data") is taken as
 * hc_event_decode reads it (its event_id kept when present, opts.device_id when it has none);
 * any other object is the data of opts.kind, its keys mapped and its values typed like CSV
 * columns (a string or a number for any field, null for empty), so the data comes out the same
 * shape. Blank lines are skipped; bad JSON, invalid UTF-8 and wrong types are rejected.
 *
 * Rejected rows: line is where the row starts, reason names the column or field. A row longer
 * than max_row is rejected and reading resumes at the next line feed. An event that would not fit
 * in HC_EVENT_MAX once enveloped is rejected too.
 *
 * Memory stays fixed whatever the file size (a read buffer and one row of max_row bytes).
 * Events from CSV rows and bare objects have schema 1, a nil id (the buffer assigns it) and
 * opts.device_id.
 */
#ifndef AG_READER_H
#define AG_READER_H

#include <stddef.h>
#include <stdint.h>

#include "common/envelope.h"

enum ag_format { AG_FMT_AUTO = 0, AG_FMT_CSV, AG_FMT_JSONL };

struct ag_reader_opts {
    enum ag_format format; /* AUTO: by extension (.csv; .jsonl .ndjson .json), else sniffed */
    enum hc_kind kind;     /* kind of CSV rows and bare JSON objects; UNKNOWN = order_line */
    const char *map;       /* "field=Column,field=Column" or NULL */
    const char *device_id; /* set on events that carry none; required */
    size_t max_row;        /* longest row accepted, bytes before its LF; 0 = 1 MiB */
};

struct ag_reader_item {
    int rejected;         /* 1: a bad row, see line and reason; 0: ev is an event */
    struct hc_event ev;   /* valid until the next ag_reader_next or close */
    uint64_t line;        /* 1-based line where the row starts */
    const char *reason;   /* rejected rows: why, naming the column or field */
    uint64_t next_offset; /* byte offset just past this row */
    uint64_t next_line;   /* line number of the row after this one */
};

struct ag_reader;

/*
 * Open path for reading from byte offset (0 = start, line then ignored) where line number line
 * starts: an item's next_offset and next_line. For CSV the header is always read from the top
 * first, and offset must not fall inside it. Returns NULL and sets *err (err may be NULL):
 * -errno for an unreadable file, HC_E_PARSE for a missing or unusable header (a missing column
 * named), HC_E_INVAL for a bad map or options, -ENOMEM. why may be NULL, else *why is set to a
 * reason, a static string or a thread-local one valid until the next ag_reader_open in the
 * same thread. The caller closes the reader with ag_reader_close.
 */
struct ag_reader *ag_reader_open(const char *path, const struct ag_reader_opts *opts,
                                 uint64_t offset, uint64_t line, int *err, const char **why);
/*
 * Next item in file order: 0 and *item (its memory belongs to r, valid until the next call or
 * close), HC_E_DONE at the end of the file (again on every later call), -errno on a read error
 * or -ENOMEM.
 */
int ag_reader_next(struct ag_reader *r, struct ag_reader_item *item);
/* Format actually used (after AUTO). */
enum ag_format ag_reader_format(const struct ag_reader *r);
/* Close the file and free r. Accepts NULL. */
void ag_reader_close(struct ag_reader *r);

#endif
