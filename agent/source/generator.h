/*
 * generator.h - realistic synthetic events of the three kinds, deterministic with a seed.
 *
 *  - order_line: UCI Online Retail-like invoices of 1-20 consecutive lines sharing invoice_no,
 *    customer, country and invoice_date (real stock codes, descriptions and unit prices of the
 *    data set, its quantities, customers 12346-18287 of fixed countries, mostly United Kingdom,
 *    some loyal ones ordering often), ~20 % without customer id (JSON null), 2 % cancellations
 *    (invoice "C…", negative quantities cancelling an earlier purchase of that customer), 1 % of
 *    lines returns (negative quantity on an ordinary invoice), non-product codes (POST, M, D,
 *    BANK CHARGES, DOT) now and then.
 *  - order_status: parcels ("BR" + 11 digits, a 32-hex order_id, a carrier) that move through
 *    created → approved → invoiced → processing → shipped → delivered over time (some canceled
 *    or unavailable on the way, 5 % of delivered ones returned), status_time rising per parcel,
 *    estimated_delivery a midnight 7-30 days after created.
 *  - car_listing: used cars (make/model from a catalogue, 17-character VIN with a valid check
 *    digit, year, mileage, price in EUR with 2 decimals, dealer) listed, then 0-3 price_changed
 *    (mostly cuts), then sold or removed; date_removed is null until then. date_listed comes with
 *    the listing and lies days to weeks before the "listed" event, so turnover
 *    (date_removed - date_listed) is days to weeks whatever the clock's pace.
 * event_time is the time the data carries: invoice_date, status_time, or the time of the car's
 * action (= date_removed for sold/removed). Live parcels and listings are capped at
 * AG_GEN_LIVE_MAX each; memory does not grow with the number of events. The data field names
 * are DESIGN.md's.
 *
 * Lifecycles: a new parcel or listing opens with probability 1 - live/target, where target is
 * live_parcels or live_listings (so the set settles near 6/7 of it for parcels, 2/3 for
 * listings), else a live one moves on. A smaller target gives each parcel and listing more of
 * the events, so a short run shows whole lifecycles: about 8 order_status events per parcel of
 * the target carry parcels from created to delivered. With history set, the generator starts
 * with the set already at that level: parcels created 1-7 days before the clock's start at
 * every stage up to shipped, listings put on sale days to weeks before with their price changes
 * partly done; they emit no events for that past, so the first event of such a parcel may be
 * "shipped" (silver and gold keep the latest status of each).
 *
 * Fault knobs (fractions 0..1 of emitted events), for testing what comes downstream:
 *  - late: event_time, and the data's own time fields with it, pushed back by 1 ms..late_ms
 *    (capped at a year); one in ten of those by late_ms + 1..3 days instead (too late for any
 *    allowed lateness). For order_line the draw is per invoice, so all lines of an invoice stay
 *    on one invoice_date. The event_id keeps the emission time, so id time - event_time is the
 *    lateness. A late sold/removed keeps date_removed >= date_listed + 1 h.
 *  - out_of_order: the event is held back and emitted after 1-3 later events of its kind (at
 *    most 64 events later); for order_status and car_listing the next event of the kind moves
 *    the same parcel or listing on, so e.g. "shipped" arrives after "delivered". At most 8 are
 *    held at once. Held events get their event_id when they go out (as at enqueue), so ids stay
 *    strictly increasing; event times go backwards.
 *  - duplicate: one of the last 16 emitted events again, byte for byte, same event_id.
 *  - malformed: valid envelope, data breaking one rule: a required field missing, a number as a
 *    string (quantity "6 pcs", unit_price "2,55", year "2015 model", mileage_km "n/a", or
 *    status_time as epoch milliseconds), a negative unit_price or price, an unknown status or
 *    action, an unparseable timestamp string, a VIN of 16 characters or with I/O/Q.
 * With all knobs 0, event ids are strictly increasing and per parcel statuses and status_time
 * never go backwards.
 *
 * Event time: with start_ms set, a simulated clock (start_ms + i * step_ms; a held-back event
 * also takes a step) and the output is byte-identical for the same options (seed, device_id,
 * mix, start, knobs); with start_ms 0, the wall clock (never stepping back).
 */
#ifndef AG_GENERATOR_H
#define AG_GENERATOR_H

#include <stdint.h>

#include "common/envelope.h"

#define AG_GEN_LIVE_MAX 4096 /* live parcels at most, and live car listings at most */

struct ag_gen_opts {
    uint64_t seed;             /* 0 = random */
    const char *device_id;     /* required; copied */
    double mix[HC_KIND_COUNT]; /* relative weights by kind; all 0 = 6:3:1 order_line:status:car */
    int64_t start_ms;          /* 0 = wall clock */
    int64_t step_ms;           /* simulated clock step per event (start_ms set); 0 = 10 ms */
    double late;               /* fraction of events with event_time pushed back */
    int64_t late_ms;           /* how far back at most; 0 = 2 h */
    double out_of_order;       /* fraction emitted after a later event */
    double duplicate;          /* fraction repeated with the same event_id */
    double malformed;          /* fraction with invalid data */
    unsigned live_parcels;     /* parcels open at once, about: 0 = AG_GEN_LIVE_MAX (the cap) */
    unsigned live_listings;    /* car listings open at once, about: 0 = AG_GEN_LIVE_MAX */
    int history;               /* start with parcels and listings opened over the past days */
};

struct ag_gen;

/*
 * Returns NULL on bad options (no or empty device id, fractions outside 0..1 or NaN, negative or
 * non-finite mix weights, a weight for HC_KIND_UNKNOWN, negative start_ms/step_ms/late_ms) or
 * when out of memory. Free with ag_gen_free.
 */
struct ag_gen *ag_gen_new(const struct ag_gen_opts *opts);
/*
 * Next event into *ev, with its event_id already assigned (UUIDv7 of the generator's clock and
 * seeded randomness). *ev points into g's memory, valid until the next call; ev->data is
 * NUL-terminated. Returns 0: all memory is taken by ag_gen_new (-ENOMEM would mean a broken
 * internal bound).
 */
int ag_gen_next(struct ag_gen *g, struct hc_event *ev);
/* Accepts NULL. */
void ag_gen_free(struct ag_gen *g);
/*
 * Parse "order_line=6,order_status=3,car_listing=1" (any subset, any order, blanks allowed,
 * weights are non-negative decimal numbers, at least one above 0) into mix; kinds not named get
 * 0. 0, or HC_E_PARSE with mix untouched.
 */
int ag_gen_parse_mix(const char *s, double mix[HC_KIND_COUNT]);

#endif
