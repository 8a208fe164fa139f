/*
 * gen_internal.h - what the generator's files share (generator.c: options, clock and fault knobs;
 * gen_orders.c: order_line; gen_parcels.c: order_status; gen_cars.c: car_listing).
 *
 * Not a public header: only agent/source/gen_*.c and generator.c include it.
 *
 * One event's data object is written into g->data through a struct ag_gen__w, a raw cursor into
 * memory reserved beforehand (AG_GEN__DATA_ROOM bytes, far above the largest object the builders
 * write), so the hot path has no bounds checks and no allocation.
 */
#ifndef AG_GEN_INTERNAL_H
#define AG_GEN_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "agent/source/generator.h"
#include "common/buf.h"
#include "common/hctime.h"
#include "common/rng.h"
#include "common/uuid.h"

#define AG_GEN__HOLD_MAX  8    /* events held back by the out_of_order knob at once */
#define AG_GEN__DUP_RING  16   /* recent events a duplicate is drawn from */
#define AG_GEN__BUY_RING  256  /* recent purchase lines that cancellations refer to */
#define AG_GEN__DATA_ROOM 2048 /* bytes reserved for one data object (the largest is < 800) */
#define AG_GEN__WTAB      1024 /* slots of a weighted lookup table */
#define AG_GEN__DAY_MS    86400000LL

/* How the current event's data is broken (the malformed knob); AG_GEN__BAD_NONE when it is not. */
enum ag_gen__bad {
    AG_GEN__BAD_NONE = 0,
    AG_GEN__BAD_MISSING,  /* a required field is left out */
    AG_GEN__BAD_TYPE,     /* a number written as a string, or a string as a number */
    AG_GEN__BAD_NEGATIVE, /* a negative price */
    AG_GEN__BAD_TIME,     /* a timestamp string that does not parse */
    AG_GEN__BAD_ENUM,     /* a status or action outside the known set */
    AG_GEN__BAD_VIN,      /* a VIN of the wrong length or with I, O or Q in it */
};

/* A cursor writing one JSON object; field counts the keys seen so omit can skip one of them. */
struct ag_gen__w {
    char *p;
    int field;
    int omit; /* index of the key to leave out, -1 for none */
};

struct ag_gen__invoice {
    int lines_left; /* lines still to emit; 0 when no invoice is open */
    int cancel;     /* a "C" invoice: lines cancel the purchase ring's entries */
    int customer;   /* 0 = no customer id (JSON null) */
    int country;
    int special;        /* a non-product line to emit first (index in the specials), or -1 */
    int buy_at;         /* cancellations: the ring entry cancelled next */
    uint64_t bought_no; /* cancellations: the invoice those entries belong to */
    int64_t date_ms;
    size_t no_len;
    char no[24];
    char date[HC_TIME_STRLEN];
};

/* A purchase line remembered so that a later cancellation can refer to it. */
struct ag_gen__buy {
    uint64_t invoice;
    int32_t customer;
    int32_t price_cents;
    int16_t qty;
    uint8_t country;
    uint8_t product;
};

struct ag_gen__parcel {
    uint8_t status; /* enum in gen_parcels.c */
    uint8_t carrier;
    uint8_t will_return;
    char tracking[16];
    char order_id[33];
    char eta[HC_TIME_STRLEN];
};

struct ag_gen__listing {
    int64_t listed_ms; /* date_listed */
    int64_t price_cents;
    uint32_t mileage_km;
    uint16_t model;
    uint16_t year;
    uint16_t dealer;
    uint8_t changes_left;
    uint8_t sold; /* 1: ends sold, 0: ends removed */
    char id[16];
    char vin[18];
    char date_listed[HC_TIME_STRLEN];
};

/* An event kept aside: held back (out_of_order) or remembered for a duplicate. */
struct ag_gen__kept {
    int used;
    int wait; /* held: events of its kind still to go out before it */
    int age;  /* held: events emitted since it was held */
    enum hc_kind kind;
    int64_t time_ms;
    uint8_t id[16];
    struct hc_buf data;
};

struct ag_gen {
    struct hc_rng rng;
    struct hc_uuid7 ids;
    char *device_id;
    size_t device_id_len;
    double cum[HC_KIND_COUNT]; /* cumulative kind weights, normalised to 1 */
    int64_t start_ms;          /* 0: wall clock */
    int64_t step_ms;
    uint64_t ticks;
    int64_t now_ms; /* the generator's clock: never goes back */
    double late, out_of_order, duplicate, malformed;
    int64_t late_ms;

    /* The event being built. */
    struct hc_buf data;
    enum hc_kind kind;
    int64_t ev_ms;
    enum ag_gen__bad bad;
    unsigned bad_pick; /* random bits that choose the field or the wrong value */
    long touched;      /* parcel or listing the event is about, -1 if none or gone */

    /* order_line */
    uint8_t product_tab[AG_GEN__WTAB];
    uint8_t country_tab[AG_GEN__WTAB];
    uint8_t anon_country_tab[AG_GEN__WTAB];
    uint8_t qty_tab[AG_GEN__WTAB];
    int32_t loyal[1024];
    int n_loyal;
    uint64_t invoice_next;
    struct ag_gen__invoice inv;
    struct ag_gen__buy buys[AG_GEN__BUY_RING];
    unsigned n_buys, buy_pos;

    /* order_status */
    uint8_t carrier_tab[AG_GEN__WTAB];
    struct ag_gen__parcel *parcels;
    size_t n_parcels;
    size_t live_parcels; /* the target: 1..AG_GEN_LIVE_MAX */
    uint64_t tracking_next;
    long follow_parcel; /* out_of_order: advance this parcel next, or -1 */

    /* car_listing */
    uint8_t model_tab[AG_GEN__WTAB];
    struct ag_gen__listing *listings;
    size_t n_listings;
    size_t live_listings; /* the target: 1..AG_GEN_LIVE_MAX */
    uint64_t listing_next;
    uint16_t dealers[12];
    long follow_listing; /* out_of_order: advance this listing next, or -1 */

    /* faults */
    struct ag_gen__kept held[AG_GEN__HOLD_MAX];
    struct ag_gen__kept dups[AG_GEN__DUP_RING];
    unsigned n_dups, dup_pos;
};

/* Fill tab with indexes 0..k-1, each over a share of the slots proportional to w[i]; an index
 * with w[i] > 0 gets at least one slot when the weights add up to at most AG_GEN__WTAB. */
void ag_gen__wtab(uint8_t tab[AG_GEN__WTAB], const unsigned *w, size_t k);
/* One draw from a table built by ag_gen__wtab. */
static inline unsigned ag_gen__pick(struct ag_gen *g, const uint8_t tab[AG_GEN__WTAB])
{
    return tab[hc_rng_next(&g->rng) >> 54];
}
/* The time of an event happening now: g->now_ms, or earlier when the late knob says so. */
int64_t ag_gen__event_ms(struct ag_gen *g);
/* A cheap integer hash (the splitmix64 finaliser). */
static inline uint64_t ag_gen__mix(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* The builders: each writes one data object at w and sets g->ev_ms (honouring g->bad). The
 * _history functions fill the live set as of t_ms without emitting anything. */
int ag_gen__orders_init(struct ag_gen *g, uint64_t salt);
void ag_gen__order_line(struct ag_gen *g, struct ag_gen__w *w);
int ag_gen__parcels_init(struct ag_gen *g, uint64_t salt);
void ag_gen__order_status(struct ag_gen *g, struct ag_gen__w *w);
void ag_gen__parcels_history(struct ag_gen *g, int64_t t_ms);
void ag_gen__parcels_free(struct ag_gen *g);
int ag_gen__cars_init(struct ag_gen *g, uint64_t salt);
void ag_gen__car_listing(struct ag_gen *g, struct ag_gen__w *w);
void ag_gen__cars_history(struct ag_gen *g, int64_t t_ms);
void ag_gen__cars_free(struct ag_gen *g);

/* --- JSON writing at a cursor (room reserved beforehand) --- */

static inline void ag_gen__put(struct ag_gen__w *w, const char *s, size_t n)
{
    memcpy(w->p, s, n);
    w->p += n;
}

/* Starts the next key: 1 when it is written (a comma first if needed), 0 when it is omitted. */
static inline int ag_gen__key(struct ag_gen__w *w, const char *key)
{
    size_t n = strlen(key);
    if (w->field++ == w->omit)
        return 0;
    if (w->p[-1] != '{')
        *w->p++ = ',';
    *w->p++ = '"';
    ag_gen__put(w, key, n);
    *w->p++ = '"';
    *w->p++ = ':';
    return 1;
}

/* A string known to need no escaping (catalogue text, ids, timestamps). */
static inline void ag_gen__str(struct ag_gen__w *w, const char *s, size_t n)
{
    *w->p++ = '"';
    ag_gen__put(w, s, n);
    *w->p++ = '"';
}

static inline void ag_gen__cstr(struct ag_gen__w *w, const char *s)
{
    ag_gen__str(w, s, strlen(s));
}

static inline void ag_gen__u64(struct ag_gen__w *w, uint64_t u)
{
    char tmp[24], *t = tmp + sizeof tmp;
    do {
        *--t = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    ag_gen__put(w, t, (size_t)(tmp + sizeof tmp - t));
}

static inline void ag_gen__i64(struct ag_gen__w *w, int64_t v)
{
    if (v < 0) {
        *w->p++ = '-';
        ag_gen__u64(w, -(uint64_t)v);
    } else {
        ag_gen__u64(w, (uint64_t)v);
    }
}

/* An amount of cents as a JSON number with two decimals: 255 -> 2.55, -1800 -> -18.00. */
static inline void ag_gen__cents(struct ag_gen__w *w, int64_t cents)
{
    uint64_t u = cents < 0 ? -(uint64_t)cents : (uint64_t)cents;
    if (cents < 0)
        *w->p++ = '-';
    ag_gen__u64(w, u / 100);
    *w->p++ = '.';
    *w->p++ = (char)('0' + u % 100 / 10);
    *w->p++ = (char)('0' + u % 10);
}

/* A timestamp string "YYYY-MM-DDThh:mm:ss.mmmZ". */
static inline void ag_gen__time(struct ag_gen__w *w, int64_t ms)
{
    *w->p++ = '"';
    hc_time_format(ms, w->p);
    w->p += 24;
    *w->p++ = '"';
}

/* One of a few timestamp strings hc_time_parse refuses (the malformed knob). */
void ag_gen__bad_time(struct ag_gen *g, struct ag_gen__w *w);

#endif
