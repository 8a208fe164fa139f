/*
 * colmap.h - the fields of each kind, how input names map to them, and typed conversion of one
 * row into the kind's data JSON object. colmap.c holds the mapping and the conversion; jsonl.c
 * holds the JSON Lines side (one line into an event: an envelope, or a bare object converted
 * with the same rules, so data comes out the same shape from CSV and JSON Lines).
 *
 * Names: a CSV column or a JSON key maps to a field when it equals, ignoring case and
 * surrounding blanks, the field's name ("invoice_no") or its UCI Online Retail column
 * ("InvoiceNo"); a map "field=Column,…" replaces both for the fields it names.
 *
 * Values (text; a JSON number is first written in its shortest round-trip form):
 *   string   as is; must not be empty unless the field allows it (description, carrier, vin)
 *   id       a string; "17850.0" becomes "17850" (ids exported through a float column)
 *   integer  optional sign and digits (a ".0" tail allowed), within int64; blanks around ignored
 *   number   decimal, optional fraction and exponent; written in shortest round-trip form
 *   time     any hc_time_parse form; written as "YYYY-MM-DDThh:mm:ss.mmmZ"
 *   enum     one of the kind's words, any case; written in lower case
 * An empty value of a nullable field (customer_id, estimated_delivery, date_removed) is null;
 * nullable fields may also be absent from the header. Every other field must be in the header.
 */
#ifndef AG_COLMAP_H
#define AG_COLMAP_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/envelope.h"

#define AG_FIELDS_MAX 12
#define AG_NUM_STRLEN 32 /* longest shortest-form double + NUL */

enum ag_ftype { AG_T_STR, AG_T_ID, AG_T_INT, AG_T_NUM, AG_T_TIME, AG_T_ENUM };

#define AG_F_NULLABLE 1u /* empty → null; the column may be missing */
#define AG_F_EMPTY_OK 2u /* empty → "" */

struct ag_field {
    const char *name;  /* data key, DESIGN.md */
    const char *alias; /* UCI Online Retail column, or NULL */
    enum ag_ftype type;
    unsigned flags;
    const char *const *words; /* AG_T_ENUM: NULL-terminated, lower case */
};

/* A kind's fields (static). NULL for HC_KIND_UNKNOWN. */
const struct ag_field *ag_kind_fields(enum hc_kind kind, size_t *n);

struct ag_colmap {
    enum hc_kind kind;
    const struct ag_field *fields;
    size_t nfields;
    size_t name_len[AG_FIELDS_MAX]; /* strlen of each field name */
    char *over[AG_FIELDS_MAX];      /* column given by the map, owned, or NULL */
    int col[AG_FIELDS_MAX];         /* CSV: header column of each field, or -1 */
    char *colname[AG_FIELDS_MAX];   /* CSV: that column's name as in the header, owned */
};

/* One input value for a field. */
struct ag_val {
    const char *s;   /* the text (need not be NUL-terminated) */
    size_t len;      /* its length */
    const char *src; /* the column or key it came from, for reasons; NULL: absent */
    int null;        /* 1: absent or JSON null (treated as empty) */
};

/*
 * Set up m for kind (HC_KIND_UNKNOWN = order_line) with an optional map "field=Column,…".
 * Returns 0, or HC_E_INVAL with a reason written to why (why_size bytes) for an unknown kind,
 * a malformed map or a field the kind does not have; -ENOMEM. Free with ag_colmap_free.
 */
int ag_colmap_init(struct ag_colmap *m, enum hc_kind kind, const char *map, char *why,
                   size_t why_size);
/* Release what m owns; m may be init again. Accepts a zeroed struct. */
void ag_colmap_free(struct ag_colmap *m);

/* Field index of an input name (len bytes), or -1 when it maps to no field. */
int ag_colmap_field(const struct ag_colmap *m, const char *name, size_t len);

/*
 * Bind a CSV header (n column names) to the fields: fills m->col and m->colname. Returns 0,
 * HC_E_PARSE with a reason in why naming the missing columns, or two columns that map to one
 * field; -ENOMEM.
 */
int ag_colmap_bind(struct ag_colmap *m, const char *const *names, const size_t *lens, size_t n,
                   char *why, size_t why_size);

/*
 * Convert vals (m->nfields, in field order) into the data JSON object, appended to data, and
 * the event time (the kind's time field) into *time_ms. what names the source of a value in
 * reasons ("column", "field"). Returns 0, or HC_E_INVAL with the reason appended to why
 * ("column Quantity: not an integer: 'abc'") and data left as it was; -ENOMEM.
 */
int ag_colmap_convert(const struct ag_colmap *m, const struct ag_val *vals, const char *what,
                      struct hc_buf *data, int64_t *time_ms, struct hc_buf *why);

/* Shortest text that reads back as v (JavaScript layout: 2.55, 1e+21, 1e-7). Returns length. */
size_t ag_fmt_double(double v, char out[AG_NUM_STRLEN]);

/*
 * jsonl.c: one JSON Lines line (line[0..len), valid UTF-8) into *ev. A full envelope (an object
 * with "kind" and "data") is decoded into *doc (hc_event_decode; free with hc_event_doc_free,
 * *doc_used set) and its missing device id becomes device_id. Any other object is the data of
 * m's kind, converted with ag_colmap_convert into data; ev gets schema 1, a nil id and
 * device_id. ev points into doc, data and device_id. Returns 0, HC_E_DONE for a blank line,
 * HC_E_PARSE / HC_E_INVAL / HC_E_TOOBIG with the reason appended to why; -ENOMEM.
 */
int ag_jsonl_event(const struct ag_colmap *m, const char *line, size_t len, const char *device_id,
                   struct hc_event_doc *doc, int *doc_used, struct hc_buf *data, struct hc_buf *why,
                   struct hc_event *ev);

#endif
