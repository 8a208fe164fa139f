/*
 * envelope.h - the event envelope of DESIGN.md, encoded as one JSON object:
 *
 *   {"event_id":"0190f3c2-…","device_id":"pi-0007","kind":"order_line","schema":1,
 *    "event_time":"2026-11-22T03:00:00.123Z","data":{…}}
 *
 * At most HC_EVENT_MAX bytes encoded. The encoder writes the keys in that order and copies
 * `data` verbatim (it must be one JSON object, already valid); the decoder accepts any key
 * order and whitespace.
 */
#ifndef HC_ENVELOPE_H
#define HC_ENVELOPE_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"

#define HC_EVENT_MAX     (256 * 1024)
#define HC_DEVICE_ID_MAX 128

enum hc_kind {
    HC_KIND_UNKNOWN = 0,
    HC_KIND_ORDER_LINE = 1,
    HC_KIND_ORDER_STATUS = 2,
    HC_KIND_CAR_LISTING = 3,
};
#define HC_KIND_COUNT 4

/*
 * An event. All pointers are borrowed: the struct owns nothing. data is the JSON text of the
 * kind-specific object (not NUL-terminated necessarily: data_len counts it).
 */
struct hc_event {
    uint8_t id[16];
    const char *device_id;
    size_t device_id_len;
    enum hc_kind kind;
    int schema;
    int64_t event_time_ms;
    const char *data;
    size_t data_len;
};

/* "order_line", "order_status", "car_listing", or "unknown". Static string. */
const char *hc_kind_name(enum hc_kind kind);
/* Kind from its name (len bytes, or a C string when len is (size_t)-1); HC_KIND_UNKNOWN if none. */
enum hc_kind hc_kind_parse(const char *s, size_t len);

/*
 * Append the envelope JSON of ev to out. Returns 0, HC_E_TOOBIG when the encoded event would
 * exceed HC_EVENT_MAX, HC_E_INVAL for a missing device id or unknown kind, or -ENOMEM; on failure
 * out is left as it was. The same as hc_event_encoded_len, hc_buf_reserve, hc_event_encode_to.
 */
int hc_event_encode(const struct hc_event *ev, struct hc_buf *out);

/*
 * Check ev as hc_event_encode does and give the exact length of its envelope JSON. Returns 0 and
 * sets *len, or the HC_E_INVAL or HC_E_TOOBIG hc_event_encode would return (*len unchanged).
 * HC_E_TOOBIG also comes for some events that would encode within HC_EVENT_MAX: data_len
 * plus 160 plus six times device_id_len must not exceed it either.
 */
int hc_event_encoded_len(const struct hc_event *ev, size_t *len);

/*
 * Write the envelope JSON of ev at dst: the bytes hc_event_encode appends, and no NUL. ev must be
 * one hc_event_encoded_len accepted, and dst must have room for the length it gave. Allocates
 * nothing. Returns the bytes written (that length).
 */
size_t hc_event_encode_to(const struct hc_event *ev, char *dst);

/* A decoded envelope: ev points into the doc's own memory, valid until hc_event_doc_free. */
struct hc_event_doc {
    struct hc_event ev;
    char *mem; /* device id and data text, owned */
};

/*
 * Decode one envelope from json[0..len). On success returns 0 and fills doc (free it with
 * hc_event_doc_free). On failure returns HC_E_PARSE, HC_E_INVAL, HC_E_UTF8 or HC_E_TOOBIG, sets
 * *why (when why is not NULL) to a static reason naming the field, and doc needs no free.
 * A missing event_id leaves ev.id all zero; a present one must be a valid UUID.
 */
int hc_event_decode(const char *json, size_t len, struct hc_event_doc *doc, const char **why);
void hc_event_doc_free(struct hc_event_doc *doc);

#endif
