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
 * kind; an explicit map "field=Column,…" overrides. Values are typed (integers, numbers,
 * timestamps) and checked; a row that does not convert is rejected with the column named.
 *
 * JSON Lines: one object per line; a full envelope (has "kind" and "data") is taken as it is
 * (its event_id kept when present), any other object is the data of opts.kind. Blank lines are
 * skipped.
 */
#ifndef AG_READER_H
#define AG_READER_H

#include <stddef.h>
#include <stdint.h>

#include "common/envelope.h"

enum ag_format { AG_FMT_AUTO = 0, AG_FMT_CSV, AG_FMT_JSONL };

struct ag_reader_opts {
    enum ag_format format;   /* AUTO: by extension (.csv; .jsonl .ndjson .json), else sniffed */
    enum hc_kind kind;       /* kind of CSV rows and bare JSON objects; UNKNOWN = order_line */
    const char *map;         /* "field=Column,field=Column" or NULL */
    const char *device_id;   /* set on events that carry none; required */
    size_t max_row;          /* longest row accepted, bytes; 0 = 1 MiB */
};

struct ag_reader_item {
    int rejected;             /* 1: a bad row, see line and reason; 0: ev is an event */
    struct hc_event ev;       /* valid until the next ag_reader_next or close */
    uint64_t line;            /* 1-based line where the row starts */
    const char *reason;       /* rejected rows: why, naming the column or field */
    uint64_t next_offset;     /* byte offset just past this row */
    uint64_t next_line;       /* line number of the row after this one */
};

struct ag_reader;

/*
 * Open path for reading from byte offset (0 = start) where line number line starts (1 at the
 * start). For CSV the header is always read from the top first. Returns NULL and sets *err
 * (-errno for an unreadable file, HC_E_PARSE with *why set for a missing or unusable header,
 * HC_E_INVAL for a bad map or options). why may be NULL; *why is static or lives in r.
 */
struct ag_reader *ag_reader_open(const char *path, const struct ag_reader_opts *opts,
                                 uint64_t offset, uint64_t line, int *err, const char **why);
/* 0 and an item, HC_E_DONE at the end of the file, or -errno on a read error. */
int ag_reader_next(struct ag_reader *r, struct ag_reader_item *item);
/* Format actually used (after AUTO). */
enum ag_format ag_reader_format(const struct ag_reader *r);
void ag_reader_close(struct ag_reader *r);

#endif
