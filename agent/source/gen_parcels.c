/*
 * gen_parcels.c - order_status events: parcels tracked through the Olist order statuses.
 *
 * The generator keeps up to g->live_parcels live parcels (the target, AG_GEN_LIVE_MAX at most).
 * An order_status event either opens a new parcel ("created"), with probability
 * 1 - live/target, or moves a live one, picked at random, to its next status (so the set settles
 * at about 6/7 of the target, and each parcel waits for about target events between two
 * statuses):
 *   created → approved → invoiced → processing → shipped → delivered [→ returned]
 * with 3 % canceled after created, 1 % canceled and 2 % unavailable after approved, 1 % canceled
 * after invoiced, 0.5 % canceled and 1 % unavailable after processing, and 5 % of delivered
 * parcels returned later. A parcel leaves the set at its last status. status_time is the clock
 * when the status happens, so it rises per parcel (unless the late knob pushes it back);
 * estimated_delivery is midnight UTC 7-30 days after created; the carrier stays the same.
 * tracking_num is "BR" and 11 digits, counting up from a per-device start; order_id is 32 hex
 * digits, as in the Olist data set.
 */
#include "agent/source/gen_internal.h"

#include <stdlib.h>

enum {
    ST_CREATED,
    ST_APPROVED,
    ST_INVOICED,
    ST_PROCESSING,
    ST_SHIPPED,
    ST_DELIVERED,
    ST_RETURNED,
    ST_CANCELED,
    ST_UNAVAILABLE,
};

static const char *const status_names[] = {
    [ST_CREATED] = "created",       [ST_APPROVED] = "approved", [ST_INVOICED] = "invoiced",
    [ST_PROCESSING] = "processing", [ST_SHIPPED] = "shipped",   [ST_DELIVERED] = "delivered",
    [ST_RETURNED] = "returned",     [ST_CANCELED] = "canceled", [ST_UNAVAILABLE] = "unavailable",
};

static const struct {
    const char *name;
    unsigned weight;
} carriers[] = {
    {"Correios", 400},  {"Jadlog", 200}, {"Loggi", 120}, {"Total Express", 80},
    {"Azul Cargo", 60}, {"DHL", 60},     {"FedEx", 40},  {"UPS", 40},
};
#define GEN_N_CARRIERS (sizeof carriers / sizeof carriers[0])

#define GEN_TRACKING_MOD 100000000000ull /* 11 digits */

int ag_gen__parcels_init(struct ag_gen *g, uint64_t salt)
{
    unsigned w[GEN_N_CARRIERS];

    for (size_t i = 0; i < GEN_N_CARRIERS; i++)
        w[i] = carriers[i].weight;
    ag_gen__wtab(g->carrier_tab, w, GEN_N_CARRIERS);
    g->parcels = calloc(g->live_parcels, sizeof *g->parcels);
    if (!g->parcels)
        return -1;
    g->n_parcels = 0;
    g->tracking_next = salt % GEN_TRACKING_MOD;
    return 0;
}

void ag_gen__parcels_free(struct ag_gen *g)
{
    free(g->parcels);
    g->parcels = NULL;
    g->n_parcels = 0;
}

static void put_digits(char *out, uint64_t v, int n)
{
    for (int i = n - 1; i >= 0; i--) {
        out[i] = (char)('0' + v % 10);
        v /= 10;
    }
}

static long parcel_open(struct ag_gen *g, int64_t t)
{
    static const char hex[] = "0123456789abcdef";
    struct ag_gen__parcel *p = &g->parcels[g->n_parcels];
    uint64_t a = hc_rng_next(&g->rng), b = hc_rng_next(&g->rng);

    p->tracking[0] = 'B';
    p->tracking[1] = 'R';
    put_digits(p->tracking + 2, g->tracking_next, 11);
    p->tracking[13] = '\0';
    g->tracking_next = (g->tracking_next + 1) % GEN_TRACKING_MOD;
    for (int i = 0; i < 16; i++) {
        p->order_id[i] = hex[(a >> (4 * i)) & 15];
        p->order_id[16 + i] = hex[(b >> (4 * i)) & 15];
    }
    p->order_id[32] = '\0';
    p->carrier = (uint8_t)ag_gen__pick(g, g->carrier_tab);
    p->status = ST_CREATED;
    p->will_return = 0;
    hc_time_format((t / AG_GEN__DAY_MS + hc_rng_range(&g->rng, 7, 30)) * AG_GEN__DAY_MS, p->eta);
    return (long)g->n_parcels++;
}

void ag_gen__parcels_history(struct ag_gen *g, int64_t t_ms)
{
    size_t n = g->live_parcels * 6 / 7;

    while (g->n_parcels < n) {
        int64_t created = t_ms - hc_rng_range(&g->rng, AG_GEN__DAY_MS, 7 * AG_GEN__DAY_MS);
        struct ag_gen__parcel *p = &g->parcels[parcel_open(g, created)];
        p->status = (uint8_t)hc_rng_range(&g->rng, ST_CREATED, ST_SHIPPED);
    }
}

static uint8_t parcel_next_status(struct ag_gen *g, struct ag_gen__parcel *p)
{
    double u = hc_rng_double(&g->rng);

    switch (p->status) {
    case ST_CREATED:
        return u < 0.03 ? ST_CANCELED : ST_APPROVED;
    case ST_APPROVED:
        return u < 0.01 ? ST_CANCELED : u < 0.03 ? ST_UNAVAILABLE : ST_INVOICED;
    case ST_INVOICED:
        return u < 0.01 ? ST_CANCELED : ST_PROCESSING;
    case ST_PROCESSING:
        return u < 0.005 ? ST_CANCELED : u < 0.015 ? ST_UNAVAILABLE : ST_SHIPPED;
    case ST_SHIPPED:
        p->will_return = u < 0.05;
        return ST_DELIVERED;
    default: /* delivered, and kept only to be returned */
        return ST_RETURNED;
    }
}

static int parcel_done(const struct ag_gen__parcel *p)
{
    return p->status >= ST_RETURNED || (p->status == ST_DELIVERED && !p->will_return);
}

/* Remove parcel i (the last one takes its place), keeping follow_parcel pointing right. */
static void parcel_close(struct ag_gen *g, long i)
{
    long last = (long)g->n_parcels - 1;
    if (g->follow_parcel == i)
        g->follow_parcel = -1;
    else if (g->follow_parcel == last)
        g->follow_parcel = i;
    g->parcels[i] = g->parcels[last];
    g->n_parcels--;
}

static void status_break(struct ag_gen *g, struct ag_gen__w *w)
{
    static const enum ag_gen__bad how[] = {AG_GEN__BAD_MISSING, AG_GEN__BAD_ENUM, AG_GEN__BAD_TIME,
                                           AG_GEN__BAD_TYPE};
    static const int required[] = {0, 1, 2, 3}; /* tracking_num, order_id, status, status_time */

    g->bad = how[g->bad_pick % 4];
    if (g->bad == AG_GEN__BAD_MISSING)
        w->omit = required[(g->bad_pick >> 8) % 4];
}

static void status_write(struct ag_gen *g, struct ag_gen__w *w, const struct ag_gen__parcel *p,
                         int64_t t)
{
    static const char *const unknown[] = {"teleported", "pending_review", "in_limbo", "??"};

    if (g->bad)
        status_break(g, w);
    if (ag_gen__key(w, "tracking_num")) /* 0 */
        ag_gen__str(w, p->tracking, 13);
    if (ag_gen__key(w, "order_id")) /* 1 */
        ag_gen__str(w, p->order_id, 32);
    if (ag_gen__key(w, "status")) { /* 2 */
        if (g->bad == AG_GEN__BAD_ENUM)
            ag_gen__cstr(w, unknown[(g->bad_pick >> 8) % 4]);
        else
            ag_gen__cstr(w, status_names[p->status]);
    }
    if (ag_gen__key(w, "status_time")) { /* 3 */
        if (g->bad == AG_GEN__BAD_TIME)
            ag_gen__bad_time(g, w);
        else if (g->bad == AG_GEN__BAD_TYPE)
            ag_gen__i64(w, t); /* epoch milliseconds as a number, not a timestamp string */
        else
            ag_gen__time(w, t);
    }
    if (ag_gen__key(w, "estimated_delivery")) /* 4 */
        ag_gen__str(w, p->eta, 24);
    if (ag_gen__key(w, "carrier")) /* 5 */
        ag_gen__cstr(w, carriers[p->carrier].name);
}

void ag_gen__order_status(struct ag_gen *g, struct ag_gen__w *w)
{
    struct ag_gen__parcel *p;
    int64_t t = ag_gen__event_ms(g);
    long i;

    if (g->follow_parcel < 0 &&
        hc_rng_chance(&g->rng, 1.0 - (double)g->n_parcels / (double)g->live_parcels)) {
        i = parcel_open(g, t);
        p = &g->parcels[i];
    } else {
        if (g->follow_parcel >= 0) {
            i = g->follow_parcel;
            g->follow_parcel = -1;
        } else {
            i = (long)hc_rng_range(&g->rng, 0, (int64_t)g->n_parcels - 1);
        }
        p = &g->parcels[i];
        p->status = parcel_next_status(g, p);
    }
    g->ev_ms = t;
    g->touched = i;
    status_write(g, w, p, t);
    if (parcel_done(p)) {
        parcel_close(g, i);
        g->touched = -1;
    }
}
