/*
 * gen_cars.c - car_listing events: used cars on European dealer sites.
 *
 * The generator keeps up to g->live_listings live listings (the target, AG_GEN_LIVE_MAX at
 * most). A car_listing event either lists a new car, with probability 1 - live/target (the set
 * settles at about 2/3 of the target), or moves a live one, picked at random, on: 0-3
 * price_changed (85 % of them a 2-8 % cut, the rest a 1-4 % rise), then sold (80 %) or removed.
 * The number of price changes and the ending are drawn when the car is listed.
 *
 * The car: a make/model from a catalogue weighted by popularity, with its world manufacturer
 * identifier; year 0-15 years before the clock's year (not before the model existed); mileage
 * about 9 000-21 000 km a year; a price from the model's new price, depreciated by age and
 * mileage and rounded the way dealers do (…90 or …50 euros); a VIN of 17 characters (no I, O,
 * Q) with that WMI, the model-year letter in position 10 and a valid check digit in position 9;
 * one of the device's 12 dealers ("D" and 4 digits); listing_id "L" and 10 digits.
 *
 * Time: event_time is the time of the action (the clock). date_listed is the day the dealer put
 * the car on sale, which comes with the listing: about 2-70 days before the "listed" event for cars
 * that will sell (shorter for popular models), 14-90 days for cars that will be removed. That
 * makes turnover (date_removed - date_listed) days to weeks, as on real sites, without the
 * simulated clock having to run for weeks. date_removed is null until sold/removed, then the
 * action time (never before date_listed + 1 h, even when the late knob pushes it back).
 */
#include "agent/source/gen_internal.h"

#include <stdlib.h>

struct gen_model {
    const char *make;
    const char *model;
    const char *wmi;
    unsigned new_eur;
    unsigned weight;
    uint16_t first_year;
};

static const struct gen_model models[] = {
    {"Volkswagen", "Golf", "WVW", 28000, 40, 2000},
    {"Volkswagen", "Polo", "WVW", 20000, 28, 2000},
    {"Volkswagen", "Passat", "WVW", 36000, 20, 2000},
    {"Volkswagen", "Tiguan", "WVG", 38000, 20, 2008},
    {"Volkswagen", "T-Roc", "WVG", 30000, 14, 2018},
    {"BMW", "3 Series", "WBA", 45000, 24, 2000},
    {"BMW", "1 Series", "WBA", 32000, 16, 2004},
    {"BMW", "5 Series", "WBA", 55000, 12, 2000},
    {"BMW", "X1", "WBA", 42000, 12, 2010},
    {"Mercedes-Benz", "C-Class", "WDD", 46000, 20, 2000},
    {"Mercedes-Benz", "A-Class", "WDD", 34000, 16, 2000},
    {"Mercedes-Benz", "E-Class", "WDD", 58000, 12, 2000},
    {"Mercedes-Benz", "GLC", "W1N", 55000, 8, 2016},
    {"Audi", "A3", "WAU", 33000, 20, 2000},
    {"Audi", "A4", "WAU", 42000, 20, 2000},
    {"Audi", "A6", "WAU", 55000, 8, 2000},
    {"Audi", "Q5", "WA1", 52000, 12, 2009},
    {"Opel", "Astra", "W0L", 25000, 20, 2000},
    {"Opel", "Corsa", "W0L", 19000, 20, 2000},
    {"Opel", "Insignia", "W0L", 32000, 8, 2009},
    {"Ford", "Focus", "WF0", 26000, 24, 2000},
    {"Ford", "Fiesta", "WF0", 18000, 24, 2000},
    {"Ford", "Kuga", "WF0", 33000, 12, 2008},
    {"Renault", "Clio", "VF1", 19000, 24, 2000},
    {"Renault", "Megane", "VF1", 25000, 16, 2000},
    {"Renault", "Captur", "VF1", 24000, 12, 2013},
    {"Peugeot", "208", "VF3", 20000, 20, 2012},
    {"Peugeot", "308", "VF3", 27000, 16, 2008},
    {"Peugeot", "3008", "VF3", 34000, 12, 2009},
    {"Skoda", "Octavia", "TMB", 29000, 24, 2000},
    {"Skoda", "Fabia", "TMB", 18000, 16, 2000},
    {"Skoda", "Superb", "TMB", 38000, 8, 2002},
    {"Toyota", "Yaris", "VNK", 20000, 16, 2000},
    {"Toyota", "Corolla", "SB1", 28000, 16, 2000},
    {"Toyota", "RAV4", "JTM", 40000, 12, 2000},
    {"Fiat", "500", "ZFA", 17000, 16, 2007},
    {"Fiat", "Panda", "ZFA", 14000, 16, 2003},
    {"Fiat", "Tipo", "ZFA", 21000, 8, 2016},
    {"SEAT", "Leon", "VSS", 26000, 16, 2000},
    {"SEAT", "Ibiza", "VSS", 18000, 16, 2000},
    {"Volvo", "XC60", "YV1", 52000, 12, 2008},
    {"Volvo", "V60", "YV1", 45000, 8, 2010},
    {"Volvo", "XC40", "YV1", 42000, 8, 2018},
    {"Hyundai", "i30", "TMA", 24000, 12, 2007},
    {"Hyundai", "Tucson", "TMA", 33000, 12, 2004},
    {"Kia", "Ceed", "U5Y", 24000, 12, 2007},
    {"Kia", "Sportage", "U5Y", 32000, 12, 2000},
    {"Dacia", "Sandero", "UU1", 13000, 16, 2008},
    {"Dacia", "Duster", "UU1", 18000, 16, 2010},
    {"Tesla", "Model 3", "LRW", 45000, 8, 2019},
    {"Tesla", "Model Y", "XP7", 48000, 8, 2021},
    {"Citroen", "C3", "VF7", 18000, 12, 2002},
    {"Citroen", "C4", "VF7", 24000, 8, 2004},
    {"MINI", "Cooper", "WMW", 25000, 8, 2001},
    {"Nissan", "Qashqai", "SJN", 30000, 12, 2007},
    {"Nissan", "Juke", "SJN", 22000, 8, 2010},
    {"Mazda", "CX-5", "JMZ", 34000, 8, 2012},
    {"Mazda", "3", "JMZ", 25000, 8, 2003},
};
#define GEN_N_MODELS (sizeof models / sizeof models[0])

/* Share of cars by age 0..15 years. */
static const unsigned age_weights[16] = {2, 6, 8, 10, 10, 10, 9, 8, 7, 6, 5, 4, 3, 3, 2, 2};

#define GEN_LISTING_MOD 10000000000ull /* 10 digits */
#define GEN_HOUR_MS     3600000LL

int ag_gen__cars_init(struct ag_gen *g, uint64_t salt)
{
    unsigned w[GEN_N_MODELS];

    for (size_t i = 0; i < GEN_N_MODELS; i++)
        w[i] = models[i].weight;
    ag_gen__wtab(g->model_tab, w, GEN_N_MODELS);
    g->listings = calloc(g->live_listings, sizeof *g->listings);
    if (!g->listings)
        return -1;
    g->n_listings = 0;
    g->listing_next = salt % GEN_LISTING_MOD;
    for (size_t i = 0; i < sizeof g->dealers / sizeof g->dealers[0]; i++)
        g->dealers[i] = (uint16_t)hc_rng_range(&g->rng, 1000, 9999);
    return 0;
}

void ag_gen__cars_free(struct ag_gen *g)
{
    free(g->listings);
    g->listings = NULL;
    g->n_listings = 0;
}

static int vin_value(char c)
{
    static const char letters[] = "12345678" /* A-H */ "12345" /* J-N */ "7" /* P */
                                  "9" /* R */ "23456789" /* S-Z */;
    static const char order[] = "ABCDEFGHJKLMNPRSTUVWXYZ";
    if (c >= '0' && c <= '9')
        return c - '0';
    for (int i = 0; order[i]; i++)
        if (order[i] == c)
            return letters[i] - '0';
    return 0;
}

/* A VIN: WMI, 5 random characters, check digit, model-year code, plant, 6-digit serial. */
static void vin_make(struct ag_gen *g, const struct gen_model *m, int year, char vin[18])
{
    static const char charset[] = "0123456789ABCDEFGHJKLMNPRSTUVWXYZ"; /* no I, O, Q */
    static const char years[] = "ABCDEFGHJKLMNPRSTVWXY123456789";      /* 1980 = A, 2010 = A */
    static const int weight[17] = {8, 7, 6, 5, 4, 3, 2, 10, 0, 9, 8, 7, 6, 5, 4, 3, 2};
    uint64_t r = hc_rng_next(&g->rng);
    int sum = 0;

    memcpy(vin, m->wmi, 3);
    for (int i = 3; i < 8; i++, r >>= 6)
        vin[i] = charset[(r & 63) % (sizeof charset - 1)];
    vin[9] = years[((year - 1980) % 30 + 30) % 30];
    vin[10] = charset[(r & 63) % (sizeof charset - 1)];
    r = hc_rng_next(&g->rng);
    for (int i = 11; i < 17; i++, r /= 10)
        vin[i] = (char)('0' + r % 10);
    vin[8] = '0';
    for (int i = 0; i < 17; i++)
        sum += vin_value(vin[i]) * weight[i];
    vin[8] = sum % 11 == 10 ? 'X' : (char)('0' + sum % 11);
    vin[17] = '\0';
}

/* A dealer's asking price in cents: …90 euros mostly, else a multiple of 50. */
static int64_t price_round(struct ag_gen *g, double eur)
{
    int64_t e;
    if (eur < 990)
        eur = 990;
    if (hc_rng_chance(&g->rng, 0.6))
        e = ((int64_t)(eur / 100 + 0.5)) * 100 - 10;
    else
        e = ((int64_t)(eur / 50 + 0.5)) * 50;
    return e * 100;
}

static int clock_year(int64_t ms)
{
    char ts[HC_TIME_STRLEN];
    hc_time_format(ms, ts);
    return (ts[0] - '0') * 1000 + (ts[1] - '0') * 100 + (ts[2] - '0') * 10 + (ts[3] - '0');
}

static long listing_open(struct ag_gen *g, int64_t t)
{
    struct ag_gen__listing *l = &g->listings[g->n_listings];
    const struct gen_model *m;
    int64_t days_ms;
    int now_year = clock_year(t), age;
    double eur, u;

    /* Only models already on the market in the clock's year (the Golf always is). */
    for (int tries = 0; tries < 8; tries++) {
        l->model = (uint16_t)ag_gen__pick(g, g->model_tab);
        if (models[l->model].first_year <= now_year)
            break;
    }
    if (models[l->model].first_year > now_year)
        l->model = 0;
    m = &models[l->model];
    u = hc_rng_double(&g->rng) * 95; /* the sum of age_weights */
    for (age = 0; age < 15 && u >= age_weights[age]; age++)
        u -= age_weights[age];
    if (now_year - age < m->first_year)
        age = now_year > m->first_year ? now_year - m->first_year : 0;
    l->year = (uint16_t)(now_year - age);
    l->mileage_km =
        age ? (uint32_t)(age * hc_rng_range(&g->rng, 9000, 21000) + hc_rng_range(&g->rng, 0, 9999))
            : (uint32_t)hc_rng_range(&g->rng, 10, 9000);
    eur = m->new_eur;
    for (int i = 0; i < age; i++)
        eur *= 0.86;
    eur *= 1.0 - 0.25 * (l->mileage_km > 250000 ? 1.0 : l->mileage_km / 250000.0);
    eur *= 0.92 + 0.16 * hc_rng_double(&g->rng);
    l->price_cents = price_round(g, eur);
    l->dealer = g->dealers[hc_rng_range(&g->rng, 0, 11)];
    u = hc_rng_double(&g->rng);
    l->changes_left = u < 0.4 ? 0 : u < 0.7 ? 1 : u < 0.9 ? 2 : 3;
    l->sold = (uint8_t)hc_rng_chance(&g->rng, 0.8);
    if (l->sold) /* 2-60 days, triangular, x0.9 for the most popular to x1.2 for the rarest */
        days_ms = (hc_rng_range(&g->rng, 1, 30) + hc_rng_range(&g->rng, 1, 30)) * AG_GEN__DAY_MS *
                  (130 - (int64_t)m->weight) / 100;
    else
        days_ms = hc_rng_range(&g->rng, 14, 90) * AG_GEN__DAY_MS;
    l->listed_ms = t - days_ms - hc_rng_range(&g->rng, 0, AG_GEN__DAY_MS - 1);
    hc_time_format(l->listed_ms, l->date_listed);
    l->id[0] = 'L';
    {
        uint64_t v = g->listing_next;
        for (int i = 10; i >= 1; i--, v /= 10)
            l->id[i] = (char)('0' + v % 10);
        l->id[11] = '\0';
    }
    g->listing_next = (g->listing_next + 1) % GEN_LISTING_MOD;
    vin_make(g, m, l->year, l->vin);
    return (long)g->n_listings++;
}

void ag_gen__cars_history(struct ag_gen *g, int64_t t_ms)
{
    size_t n = g->live_listings * 2 / 3;

    while (g->n_listings < n) {
        struct ag_gen__listing *l = &g->listings[listing_open(g, t_ms)];
        l->changes_left = (uint8_t)hc_rng_range(&g->rng, 0, l->changes_left);
    }
}

static void listing_reprice(struct ag_gen *g, struct ag_gen__listing *l)
{
    int64_t old = l->price_cents;
    int cut = hc_rng_chance(&g->rng, 0.85);
    double f = cut ? 1.0 - 0.02 - 0.06 * hc_rng_double(&g->rng)
                   : 1.0 + 0.01 + 0.03 * hc_rng_double(&g->rng);

    l->price_cents = price_round(g, (double)old / 100 * f);
    if (cut && l->price_cents >= old)
        l->price_cents = old - 10000;
    else if (!cut && l->price_cents <= old)
        l->price_cents = old + 10000;
    if (l->price_cents < 50000)
        l->price_cents = 50000;
}

static void listing_close(struct ag_gen *g, long i)
{
    long last = (long)g->n_listings - 1;
    if (g->follow_listing == i)
        g->follow_listing = -1;
    else if (g->follow_listing == last)
        g->follow_listing = i;
    g->listings[i] = g->listings[last];
    g->n_listings--;
}

static void car_break(struct ag_gen *g, struct ag_gen__w *w)
{
    static const enum ag_gen__bad how[] = {AG_GEN__BAD_MISSING, AG_GEN__BAD_NEGATIVE,
                                           AG_GEN__BAD_TYPE,    AG_GEN__BAD_ENUM,
                                           AG_GEN__BAD_TIME,    AG_GEN__BAD_VIN};
    /* listing_id, vin, make, model, price, action, date_listed */
    static const int required[] = {0, 1, 2, 3, 6, 9, 10};

    g->bad = how[g->bad_pick % 6];
    if (g->bad == AG_GEN__BAD_MISSING)
        w->omit = required[(g->bad_pick >> 8) % 7];
}

static void car_write(struct ag_gen *g, struct ag_gen__w *w, const struct ag_gen__listing *l,
                      const char *action, int64_t removed_ms)
{
    static const char *const unknown[] = {"auctioned", "relisted", "reserved"};
    const struct gen_model *m = &models[l->model];
    unsigned pick = g->bad_pick >> 8;

    if (g->bad)
        car_break(g, w);
    if (ag_gen__key(w, "listing_id")) /* 0 */
        ag_gen__str(w, l->id, 11);
    if (ag_gen__key(w, "vin")) { /* 1 */
        if (g->bad == AG_GEN__BAD_VIN && (pick & 1))
            ag_gen__str(w, l->vin, 16);
        else if (g->bad == AG_GEN__BAD_VIN) {
            ag_gen__str(w, l->vin, 17);
            w->p[-5] = "IOQ"[pick % 3];
        } else
            ag_gen__str(w, l->vin, 17);
    }
    if (ag_gen__key(w, "make")) /* 2 */
        ag_gen__cstr(w, m->make);
    if (ag_gen__key(w, "model")) /* 3 */
        ag_gen__cstr(w, m->model);
    if (ag_gen__key(w, "year")) { /* 4 */
        if (g->bad == AG_GEN__BAD_TYPE && (pick & 1)) {
            *w->p++ = '"';
            ag_gen__u64(w, l->year);
            ag_gen__put(w, " model\"", 7);
        } else {
            ag_gen__u64(w, l->year);
        }
    }
    if (ag_gen__key(w, "mileage_km")) { /* 5 */
        if (g->bad == AG_GEN__BAD_TYPE && !(pick & 1))
            ag_gen__cstr(w, "n/a");
        else
            ag_gen__u64(w, l->mileage_km);
    }
    if (ag_gen__key(w, "price")) /* 6 */
        ag_gen__cents(w, g->bad == AG_GEN__BAD_NEGATIVE ? -l->price_cents : l->price_cents);
    if (ag_gen__key(w, "currency")) /* 7 */
        ag_gen__str(w, "EUR", 3);
    if (ag_gen__key(w, "dealer_id")) { /* 8 */
        *w->p++ = '"';
        *w->p++ = 'D';
        ag_gen__u64(w, l->dealer);
        *w->p++ = '"';
    }
    if (ag_gen__key(w, "action")) /* 9 */
        ag_gen__cstr(w, g->bad == AG_GEN__BAD_ENUM ? unknown[pick % 3] : action);
    if (ag_gen__key(w, "date_listed")) { /* 10 */
        if (g->bad == AG_GEN__BAD_TIME)
            ag_gen__bad_time(g, w);
        else
            ag_gen__str(w, l->date_listed, 24);
    }
    if (ag_gen__key(w, "date_removed")) { /* 11 */
        if (removed_ms)
            ag_gen__time(w, removed_ms);
        else
            ag_gen__put(w, "null", 4);
    }
}

void ag_gen__car_listing(struct ag_gen *g, struct ag_gen__w *w)
{
    struct ag_gen__listing *l;
    const char *action;
    int64_t t = ag_gen__event_ms(g), removed = 0;
    int done = 0;
    long i;

    if (g->follow_listing < 0 &&
        hc_rng_chance(&g->rng, 1.0 - (double)g->n_listings / (double)g->live_listings)) {
        i = listing_open(g, t);
        l = &g->listings[i];
        action = "listed";
    } else {
        if (g->follow_listing >= 0) {
            i = g->follow_listing;
            g->follow_listing = -1;
        } else {
            i = (long)hc_rng_range(&g->rng, 0, (int64_t)g->n_listings - 1);
        }
        l = &g->listings[i];
        if (l->changes_left) {
            l->changes_left--;
            listing_reprice(g, l);
            action = "price_changed";
        } else {
            action = l->sold ? "sold" : "removed";
            removed = t > l->listed_ms + GEN_HOUR_MS ? t : l->listed_ms + GEN_HOUR_MS;
            done = 1;
        }
    }
    g->ev_ms = t;
    g->touched = i;
    car_write(g, w, l, action, removed);
    if (done) {
        listing_close(g, i);
        g->touched = -1;
    }
}
