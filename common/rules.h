/*
 * rules.h - one event body against silver's validation rules, and its typed silver row.
 *
 * The receiver's promotion (receiver/lake/promote.c) reads each bronze body once, here: the rule
 * it breaks, or its fields as a row of its kind's silver table in COPY text format, so that
 * PostgreSQL only inserts. hubcap-fleet's reconciliation applies the same rules to the events its
 * devices buffered, to know what silver must hold.
 *
 * An event body is a JSON object {"event_id", "kind", "event_time", "device_id", "data": {...}}
 * (DESIGN.md). A repeated key: the last one counts (as in jsonb). The rules, checked in this
 * order; the first that fails names the quarantine row:
 *   not_json        the body is not UTF-8 JSON (common/json.h) or not an object
 *   missing_field   event_id, kind or event_time absent or null, or data not an object; or a
 *                   required field of the kind absent or null (see the tables in rules.c); or,
 *                   checked last, an event_id that is not a string
 *   unknown_kind    kind is not the string order_line, order_status or car_listing
 *   bad_number      quantity or year not an integer literal of at most 9 digits (no fraction, no
 *                   exponent); unit_price (numeric(14,4)), price (numeric(14,2)) not a number that
 *                   column holds once rounded to its scale; mileage_km not a number
 *   bad_timestamp   a time present and not "YYYY-MM-DDThh:mm:ss[.f{1,6}](Z|+hh:mm|-hh:mm)" with a
 *                   real date (leap years, no year 0000), hours 00-23, minutes and seconds 00-59,
 *                   offsets up to +-15:59
 *   negative_price  unit_price or price below zero
 *   unknown_status  order_status.status outside the Olist set
 *   unknown_action  car_listing.action outside listed, price_changed, sold, removed
 *   bad_vin         vin not 17 characters of [A-HJ-NPR-Z0-9]
 *   too_late        (decided by promotion: event_time before watermark - late_horizon)
 * A string field's text is the string with its escapes decoded; a text field holding a number,
 * true, false, an object or an array keeps that JSON text as written.
 */
#ifndef HC_RULES_H
#define HC_RULES_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/envelope.h"
#include "common/json.h"

enum hc_rule {
    HC_RULE_NONE = 0,
    HC_RULE_NOT_JSON,
    HC_RULE_MISSING_FIELD,
    HC_RULE_UNKNOWN_KIND,
    HC_RULE_BAD_NUMBER,
    HC_RULE_BAD_TIMESTAMP,
    HC_RULE_NEGATIVE_PRICE,
    HC_RULE_UNKNOWN_STATUS,
    HC_RULE_UNKNOWN_ACTION,
    HC_RULE_BAD_VIN,
    HC_RULE_TOO_LATE,
    HC_RULE_COUNT
};

#define HC_BODY_FIELDS 12 /* the most data fields of a kind (car_listing) */

/* One body, read. Every value points into the body and lives as long as it. */
struct hc_body {
    enum hc_rule rule;
    enum hc_kind kind;           /* UNKNOWN unless kind names one of the three */
    struct hc_json_val event_id; /* ABSENT when not there */
    struct hc_json_val kind_v;
    struct hc_json_val event_time;
    struct hc_json_val device_id;
    struct hc_json_val f[HC_BODY_FIELDS]; /* the kind's data fields, in silver column order */
    int64_t event_us;           /* event_time, microseconds since the epoch (valid only) */
    int64_t us[HC_BODY_FIELDS]; /* the time fields among f, the same way (present ones) */
};

/* The rule's name as in silver.quarantine.rule ("not_json" ...); NULL for HC_RULE_NONE. */
const char *hc_rule_name(enum hc_rule r);

/* Read body[0..len) (body may be NULL: a record without a body) into *e and return e->rule. */
enum hc_rule hc_body_check(struct hc_body *e, const char *body, size_t len);

/*
 * Append a valid e's row of its kind's silver table (silver.order_line, order_status or
 * car_listing, every column in order, file_id last) to out, as one tuple of COPY's binary format
 * (no header: the caller writes the stream's header and trailer): texts as their bytes, times as
 * timestamptz, quantity and year as int4, prices and mileage as numeric. Returns 0 or -ENOMEM
 * (out may then hold part of the tuple: cut it back to its old length).
 */
int hc_body_copy_binary(const struct hc_body *e, int64_t file_id, struct hc_buf *out);

/* Append s[0..n) escaped for COPY text format (backslash, tab, line ends). */
int hc_copy_escape(struct hc_buf *out, const char *s, size_t n);

/* Append v as one COPY text field: its text (see above), escaped; \N when absent or null. */
int hc_copy_text(struct hc_buf *out, const struct hc_json_val *v);

/*
 * The text of v (a string decoded, anything else as written) when it fits in cap bytes: returns
 * its length and a pointer to it (into v's text or into buf). Returns NULL when v is absent or
 * null or its text does not fit.
 */
const char *hc_json_text(const struct hc_json_val *v, char *buf, size_t cap, size_t *n);

/*
 * Parse a time as the bad_timestamp rule accepts it into microseconds since the epoch. Returns 0,
 * or -1 when the rule refuses it.
 */
int hc_ts_parse(const char *t, size_t n, int64_t *us);

/* Write us as "YYYY-MM-DD hh:mm:ss.ffffff+00" (PostgreSQL timestamptz input) into out (at least
 * HC_TS_STRLEN bytes, NUL-terminated). Returns the length. */
#define HC_TS_STRLEN 40
int hc_ts_format(int64_t us, char *out);

#endif
