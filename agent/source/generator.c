/*
 * generator.c - options, the clock, the kind mix and the fault knobs of the generator. The three
 * kinds are built in gen_orders.c, gen_parcels.c and gen_cars.c.
 *
 * One call of ag_gen_next emits one event, chosen in this order:
 *   1. a held-back event whose turn has come (out_of_order), with a fresh id;
 *   2. with probability `duplicate`, one of the last AG_GEN__DUP_RING emitted events again,
 *      byte for byte (same event_id);
 *   3. a fresh event of a kind drawn from the mix, malformed with probability `malformed`, late
 *      with probability `late`; with probability `out_of_order` it is held back instead and
 *      another fresh event is built in its place.
 * Ids are assigned when an event is emitted (as the agent assigns them at enqueue), so they are
 * strictly increasing except for duplicates.
 */
#include "agent/source/gen_internal.h"
#include "common/error.h"

#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define GEN_HELD_MAX_AGE 64  /* a held event goes out after this many events at the latest */
#define GEN_VERY_LATE    0.1 /* share of late events pushed back by more than a day */
#define GEN_LATE_MAX_MS  (365 * AG_GEN__DAY_MS) /* late_ms is capped at a year */

void ag_gen__wtab(uint8_t tab[AG_GEN__WTAB], const unsigned *w, size_t k)
{
    uint64_t total = 0, cum = 0;
    size_t s = 0;

    for (size_t i = 0; i < k; i++)
        total += w[i];
    for (size_t i = 0; i < k && total; i++) {
        size_t end;
        cum += w[i];
        end = (size_t)(cum * AG_GEN__WTAB / total);
        while (s < end)
            tab[s++] = (uint8_t)i;
    }
    while (s < AG_GEN__WTAB)
        tab[s++] = 0;
}

int64_t ag_gen__event_ms(struct ag_gen *g)
{
    int64_t back;

    if (!hc_rng_chance(&g->rng, g->late))
        return g->now_ms;
    if (hc_rng_chance(&g->rng, GEN_VERY_LATE))
        back = g->late_ms + hc_rng_range(&g->rng, AG_GEN__DAY_MS, 3 * AG_GEN__DAY_MS);
    else
        back = hc_rng_range(&g->rng, 1, g->late_ms);
    return g->now_ms - back;
}

void ag_gen__bad_time(struct ag_gen *g, struct ag_gen__w *w)
{
    static const char *const bad[] = {
        "yesterday", "2011-13-45T25:61:00Z", "12/34/2010 8:26", "", "2011-02-30T10:00:00Z",
        "N/A",       "1293840000",
    };
    ag_gen__cstr(w, bad[(g->bad_pick >> 16) % (sizeof bad / sizeof bad[0])]);
}

/* Advance the clock: simulated, start_ms + ticks * step_ms; or the wall clock, never backwards. */
static void gen_tick(struct ag_gen *g)
{
    if (g->start_ms) {
        g->now_ms = g->start_ms + (int64_t)g->ticks * g->step_ms;
        g->ticks++;
    } else {
        int64_t t = hc_now_ms();
        if (t > g->now_ms)
            g->now_ms = t;
    }
}

static enum hc_kind gen_pick_kind(struct ag_gen *g)
{
    double u = hc_rng_double(&g->rng);
    for (int k = 1; k < HC_KIND_COUNT - 1; k++)
        if (u < g->cum[k])
            return (enum hc_kind)k;
    /* The last kind with a weight (rounding can leave u just above the last boundary). */
    for (int k = HC_KIND_COUNT - 1; k > 1; k--)
        if (g->cum[k] > g->cum[k - 1])
            return (enum hc_kind)k;
    return HC_KIND_ORDER_LINE;
}

/* Build one fresh event into g->data. Returns 0 or -ENOMEM. */
static int gen_build(struct ag_gen *g)
{
    struct ag_gen__w w;

    hc_buf_reset(&g->data);
    if (hc_buf_reserve(&g->data, AG_GEN__DATA_ROOM))
        return -ENOMEM;
    g->kind = gen_pick_kind(g);
    g->bad = AG_GEN__BAD_NONE;
    if (hc_rng_chance(&g->rng, g->malformed)) {
        /* The builder turns this into one of the ways its kind can be broken. */
        g->bad = AG_GEN__BAD_MISSING;
        g->bad_pick = (unsigned)(hc_rng_next(&g->rng) >> 32);
    }
    w.p = g->data.p;
    w.field = 0;
    w.omit = -1;
    *w.p++ = '{';
    switch (g->kind) {
    case HC_KIND_ORDER_STATUS:
        ag_gen__order_status(g, &w);
        break;
    case HC_KIND_CAR_LISTING:
        ag_gen__car_listing(g, &w);
        break;
    default:
        ag_gen__order_line(g, &w);
        break;
    }
    *w.p++ = '}';
    g->data.len = (size_t)(w.p - g->data.p);
    assert(g->data.len < AG_GEN__DATA_ROOM);
    g->data.p[g->data.len] = '\0';
    return 0;
}

static struct ag_gen__kept *gen_free_slot(struct ag_gen *g)
{
    for (int i = 0; i < AG_GEN__HOLD_MAX; i++)
        if (!g->held[i].used)
            return &g->held[i];
    return NULL;
}

/* Keep g->data aside in slot k (held or remembered). Returns 0 or -ENOMEM. */
static int gen_keep(struct ag_gen *g, struct ag_gen__kept *k, const uint8_t *id)
{
    hc_buf_reset(&k->data);
    if (hc_buf_add(&k->data, g->data.p, g->data.len))
        return -ENOMEM;
    k->used = 1;
    k->kind = g->kind;
    k->time_ms = g->ev_ms;
    if (id)
        memcpy(k->id, id, 16);
    return 0;
}

/*
 * Build fresh events until one is not held back. A held event waits for 1 to 3 later events of
 * its kind; for order_status and car_listing the next event of the kind advances the same parcel
 * or listing, so its successor really does arrive first.
 */
static int gen_fresh(struct ag_gen *g)
{
    for (;;) {
        struct ag_gen__kept *k;
        int rc = gen_build(g);
        if (rc)
            return rc;
        if (!hc_rng_chance(&g->rng, g->out_of_order) || !(k = gen_free_slot(g)))
            return 0;
        if (gen_keep(g, k, NULL))
            return -ENOMEM;
        k->wait = (int)hc_rng_range(&g->rng, 1, 3);
        k->age = 0;
        if (g->kind == HC_KIND_ORDER_STATUS)
            g->follow_parcel = g->touched;
        else if (g->kind == HC_KIND_CAR_LISTING)
            g->follow_listing = g->touched;
        gen_tick(g);
    }
}

static struct ag_gen__kept *gen_held_ready(struct ag_gen *g)
{
    for (int i = 0; i < AG_GEN__HOLD_MAX; i++) {
        struct ag_gen__kept *k = &g->held[i];
        if (k->used && (k->wait <= 0 || k->age >= GEN_HELD_MAX_AGE))
            return k;
    }
    return NULL;
}

/* Bookkeeping after an event went out: held events age, and one of its kind counts down. */
static void gen_after_emit(struct ag_gen *g, enum hc_kind kind, int fresh)
{
    for (int i = 0; i < AG_GEN__HOLD_MAX; i++) {
        struct ag_gen__kept *k = &g->held[i];
        if (!k->used)
            continue;
        k->age++;
        if (fresh && k->kind == kind)
            k->wait--;
    }
}

static int gen_remember(struct ag_gen *g, const struct hc_event *ev)
{
    struct ag_gen__kept *k = &g->dups[g->dup_pos];
    hc_buf_reset(&k->data);
    if (hc_buf_add(&k->data, ev->data, ev->data_len))
        return -ENOMEM;
    k->used = 1;
    k->kind = ev->kind;
    k->time_ms = ev->event_time_ms;
    memcpy(k->id, ev->id, 16);
    g->dup_pos = (g->dup_pos + 1) % AG_GEN__DUP_RING;
    if (g->n_dups < AG_GEN__DUP_RING)
        g->n_dups++;
    return 0;
}

static void gen_fill(const struct ag_gen *g, struct hc_event *ev, enum hc_kind kind,
                     int64_t time_ms, const struct hc_buf *data)
{
    ev->device_id = g->device_id;
    ev->device_id_len = g->device_id_len;
    ev->kind = kind;
    ev->schema = 1;
    ev->event_time_ms = time_ms;
    ev->data = data->p;
    ev->data_len = data->len;
}

int ag_gen_next(struct ag_gen *g, struct hc_event *ev)
{
    struct ag_gen__kept *k;
    int rc;

    gen_tick(g);
    k = gen_held_ready(g);
    if (k) {
        gen_fill(g, ev, k->kind, k->time_ms, &k->data);
        hc_uuid7_next(&g->ids, g->now_ms, ev->id);
        k->used = 0;
        gen_after_emit(g, k->kind, 0);
    } else if (g->n_dups && hc_rng_chance(&g->rng, g->duplicate)) {
        unsigned back = (unsigned)hc_rng_range(&g->rng, 1, g->n_dups);
        k = &g->dups[(g->dup_pos + AG_GEN__DUP_RING - back) % AG_GEN__DUP_RING];
        gen_fill(g, ev, k->kind, k->time_ms, &k->data);
        memcpy(ev->id, k->id, 16);
        gen_after_emit(g, k->kind, 0);
        return 0;
    } else {
        rc = gen_fresh(g);
        if (rc)
            return rc;
        gen_fill(g, ev, g->kind, g->ev_ms, &g->data);
        hc_uuid7_next(&g->ids, g->now_ms, ev->id);
        gen_after_emit(g, g->kind, 1);
    }
    if (g->duplicate > 0)
        return gen_remember(g, ev);
    return 0;
}

static int gen_frac_ok(double x)
{
    return x >= 0 && x <= 1; /* false for NaN */
}

static int gen_opts_ok(const struct ag_gen_opts *o)
{
    size_t dlen;
    if (!o || !o->device_id)
        return 0;
    dlen = strlen(o->device_id);
    if (!dlen || dlen > HC_DEVICE_ID_MAX || !hc_utf8_valid(o->device_id, dlen))
        return 0;
    if (!gen_frac_ok(o->late) || !gen_frac_ok(o->out_of_order) || !gen_frac_ok(o->duplicate) ||
        !gen_frac_ok(o->malformed))
        return 0;
    if (o->start_ms < 0 || o->step_ms < 0 || o->late_ms < 0)
        return 0;
    if (o->mix[HC_KIND_UNKNOWN] != 0)
        return 0;
    for (int k = 1; k < HC_KIND_COUNT; k++)
        if (!(o->mix[k] >= 0) || !isfinite(o->mix[k]))
            return 0;
    return 1;
}

static size_t gen_live(unsigned target)
{
    return target && target < AG_GEN_LIVE_MAX ? target : AG_GEN_LIVE_MAX;
}

static void gen_set_mix(struct ag_gen *g, const double *mix)
{
    static const double dflt[HC_KIND_COUNT] = {0, 6, 3, 1};
    double total = 0, cum = 0;

    for (int k = 1; k < HC_KIND_COUNT; k++)
        total += mix[k];
    if (!(total > 0)) {
        mix = dflt;
        total = 10;
    }
    g->cum[0] = 0;
    for (int k = 1; k < HC_KIND_COUNT; k++) {
        cum += mix[k];
        g->cum[k] = cum / total;
    }
}

static uint64_t gen_str_hash(const char *s)
{
    uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 0x100000001b3ull;
    return h;
}

static int gen_reserve_kept(struct ag_gen__kept *k, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (hc_buf_reserve(&k[i].data, AG_GEN__DATA_ROOM))
            return -ENOMEM;
    return 0;
}

struct ag_gen *ag_gen_new(const struct ag_gen_opts *opts)
{
    struct ag_gen *g;
    uint64_t seed, salt;

    if (!gen_opts_ok(opts))
        return NULL;
    g = calloc(1, sizeof *g);
    if (!g)
        return NULL;
    g->device_id_len = strlen(opts->device_id);
    g->device_id = malloc(g->device_id_len + 1);
    if (!g->device_id)
        goto out_free_gen;
    memcpy(g->device_id, opts->device_id, g->device_id_len + 1);

    seed = opts->seed;
    if (!seed) {
        hc_rng_seed_random(&g->rng);
        seed = hc_rng_next(&g->rng) | 1;
    }
    hc_rng_seed(&g->rng, seed);
    hc_uuid7_init(&g->ids, ag_gen__mix(seed + 0x9e3779b97f4a7c15ull) | 1);
    /* Ids of invoices, parcels and listings also depend on the device, so devices started with
     * the same seed do not share them. */
    salt = ag_gen__mix(seed ^ gen_str_hash(g->device_id));

    gen_set_mix(g, opts->mix);
    g->start_ms = opts->start_ms;
    g->step_ms = opts->step_ms ? opts->step_ms : 10;
    g->now_ms = g->start_ms;
    g->late = opts->late;
    g->late_ms = opts->late_ms ? opts->late_ms : 2 * 3600 * 1000LL;
    if (g->late_ms > GEN_LATE_MAX_MS)
        g->late_ms = GEN_LATE_MAX_MS;
    g->out_of_order = opts->out_of_order;
    g->duplicate = opts->duplicate;
    g->malformed = opts->malformed;
    g->follow_parcel = g->follow_listing = g->touched = -1;
    g->live_parcels = gen_live(opts->live_parcels);
    g->live_listings = gen_live(opts->live_listings);

    if (hc_buf_reserve(&g->data, AG_GEN__DATA_ROOM) ||
        (g->out_of_order > 0 && gen_reserve_kept(g->held, AG_GEN__HOLD_MAX)) ||
        (g->duplicate > 0 && gen_reserve_kept(g->dups, AG_GEN__DUP_RING)))
        goto out_free_all;
    if (ag_gen__orders_init(g, salt) || ag_gen__parcels_init(g, ag_gen__mix(salt + 1)) ||
        ag_gen__cars_init(g, ag_gen__mix(salt + 2)))
        goto out_free_all;
    if (opts->history) {
        int64_t t = g->start_ms ? g->start_ms : hc_now_ms();
        ag_gen__parcels_history(g, t);
        ag_gen__cars_history(g, t);
    }
    return g;

out_free_all:
    ag_gen_free(g);
    return NULL;
out_free_gen:
    free(g);
    return NULL;
}

void ag_gen_free(struct ag_gen *g)
{
    if (!g)
        return;
    for (int i = 0; i < AG_GEN__HOLD_MAX; i++)
        hc_buf_free(&g->held[i].data);
    for (int i = 0; i < AG_GEN__DUP_RING; i++)
        hc_buf_free(&g->dups[i].data);
    hc_buf_free(&g->data);
    ag_gen__parcels_free(g);
    ag_gen__cars_free(g);
    free(g->device_id);
    free(g);
}

static const char *gen_skip_space(const char *p)
{
    while (*p == ' ' || *p == '\t')
        p++;
    return p;
}

/* One "kind=weight" at *pp into m; *pp moves past it. Returns 0 or HC_E_PARSE. */
static int gen_parse_one(const char **pp, double m[HC_KIND_COUNT], unsigned *seen)
{
    const char *p = gen_skip_space(*pp), *name = p;
    enum hc_kind kind;
    char *end;
    double v;

    while (*p == '_' || isalpha((unsigned char)*p))
        p++;
    kind = hc_kind_parse(name, (size_t)(p - name));
    if (kind == HC_KIND_UNKNOWN || (*seen & (1u << kind)))
        return HC_E_PARSE;
    *seen |= 1u << kind;
    p = gen_skip_space(p);
    if (*p++ != '=')
        return HC_E_PARSE;
    p = gen_skip_space(p);
    if (!isdigit((unsigned char)*p) && *p != '.')
        return HC_E_PARSE;
    errno = 0;
    v = strtod(p, &end);
    if (end == p || errno || !isfinite(v) || v < 0)
        return HC_E_PARSE;
    m[kind] = v;
    *pp = gen_skip_space(end);
    return 0;
}

int ag_gen_parse_mix(const char *s, double mix[HC_KIND_COUNT])
{
    double m[HC_KIND_COUNT] = {0};
    unsigned seen = 0;
    const char *p = s;
    int any = 0;

    if (!s)
        return HC_E_PARSE;
    for (;;) {
        if (gen_parse_one(&p, m, &seen))
            return HC_E_PARSE;
        if (*p == '\0')
            break;
        if (*p++ != ',')
            return HC_E_PARSE;
    }
    for (int k = 1; k < HC_KIND_COUNT; k++)
        any |= m[k] > 0;
    if (!any)
        return HC_E_PARSE;
    memcpy(mix, m, sizeof m);
    return 0;
}
