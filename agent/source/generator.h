/*
 * generator.h - realistic synthetic events of the three kinds, deterministic with a seed.
 *
 *  - order_line: UCI Online Retail-like invoices of several lines (real-looking stock codes and
 *    descriptions, quantities, unit prices, countries), ~20 % without customer id, cancellations
 *    (invoice "C…" with negative quantities), returns (negative quantity), non-product codes
 *    (POST, M, D, BANK CHARGES, DOT) now and then.
 *  - order_status: parcels that move through created → approved → invoiced → processing →
 *    shipped → delivered over time (some canceled, unavailable or returned), status_time rising.
 *  - car_listing: listings that are listed, change price, and later are sold or removed
 *    (date_removed set then).
 * Fault knobs for testing what comes downstream: fractions of late events (event_time pushed
 * back), out-of-order events (emitted after a later one), duplicates (an earlier event again
 * with the same event_id) and malformed ones (valid envelope, data that breaks a silver rule).
 *
 * Event time: with start_ms set, a simulated clock (start_ms + i * step_ms) and the output is
 * byte-identical for the same seed; with start_ms 0, the wall clock.
 */
#ifndef AG_GENERATOR_H
#define AG_GENERATOR_H

#include <stdint.h>

#include "common/envelope.h"

struct ag_gen_opts {
    uint64_t seed;          /* 0 = random */
    const char *device_id;  /* required; copied */
    double mix[HC_KIND_COUNT]; /* relative weights by kind; all 0 = 6:3:1 order_line:status:car */
    int64_t start_ms;       /* 0 = wall clock */
    int64_t step_ms;        /* simulated clock step per event (start_ms set); 0 = 10 ms */
    double late;            /* fraction of events with event_time pushed back */
    int64_t late_ms;        /* how far back at most; 0 = 2 h */
    double out_of_order;    /* fraction emitted after a later event */
    double duplicate;       /* fraction repeated with the same event_id */
    double malformed;       /* fraction with invalid data */
};

struct ag_gen;

/* Returns NULL on bad options (no device id, negative fractions, all-zero after defaults). */
struct ag_gen *ag_gen_new(const struct ag_gen_opts *opts);
/*
 * Next event into *ev, with its event_id already assigned (UUIDv7 of the generator's clock and
 * seeded randomness). *ev points into g's memory, valid until the next call. Returns 0.
 */
int ag_gen_next(struct ag_gen *g, struct hc_event *ev);
void ag_gen_free(struct ag_gen *g);
/* Parse "order_line=6,order_status=3,car_listing=1" into mix. 0 or HC_E_PARSE. */
int ag_gen_parse_mix(const char *s, double mix[HC_KIND_COUNT]);

#endif
