/* plan.c - the pure parts of the fleet simulation: the daily curve, per-device plans, links. */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "agent/fleet/fleet.h"
#include "common/rng.h"

#define CURVE_BASE     0.15 /* the night's floor, before normalising */
#define NOON_PEAK      1.0
#define NOON_SIGMA     2.5
#define EVENING_PEAK   0.8
#define EVENING_SIGMA  2.0
#define WEIGHT_SIGMA   0.8  /* spread of the devices' rates (log-normal) */
#define FLAP_SHARE     3    /* one device in FLAP_SHARE flaps with --flap */
#define FLAP_DOWN_PCT  25   /* share of seconds a flapping link is down */
#define OFFLINE_MIN    0.10 /* an offline window lasts 10-40 % of the run */
#define OFFLINE_SPREAD 0.30

/* splitmix64's finaliser: a well-mixed 64-bit hash. */
static uint64_t mix64(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

/* A bump of height h and width sigma centred on hour c, on a 24-hour circle. */
static double bump(double hour, double c, double h, double sigma)
{
    double d = fabs(hour - c);
    if (d > 12)
        d = 24 - d;
    return h * exp(-d * d / (2 * sigma * sigma));
}

double fl_curve(double hour)
{
    /* The bumps' integrals are h * sigma * sqrt(2 pi) (their tails past 12 h are negligible). */
    static const double root_2pi = 2.5066282746310002;
    double mean =
        CURVE_BASE + (NOON_PEAK * NOON_SIGMA + EVENING_PEAK * EVENING_SIGMA) * root_2pi / 24;
    double h = fmod(hour, 24);
    if (h < 0)
        h += 24;
    return (CURVE_BASE + bump(h, 12, NOON_PEAK, NOON_SIGMA) +
            bump(h, 20, EVENING_PEAK, EVENING_SIGMA)) /
           mean;
}

double fl_sim_hour(const struct fl_opts *o, double elapsed_s)
{
    double start = o->start_hour, h;
    if (start < 0) {
        time_t now = time(NULL);
        start = (double)(now % 86400) / 3600;
    }
    h = fmod(start + elapsed_s * 24 / o->day_s, 24);
    return h < 0 ? h + 24 : h;
}

int64_t fl_skew(uint64_t seed, unsigned i, int64_t max_ms)
{
    uint64_t h = mix64(seed ^ mix64(0x5c3e00ULL + i));
    double u = (double)(h >> 11) / 9007199254740992.0;   /* [0, 1) */
    int64_t mag = (int64_t)(u * u * u * (double)max_ms); /* most clocks are nearly right */
    return (h & 1) ? mag : -mag;
}

/* The device's role: what it generates. */
static void pick_mix(struct hc_rng *r, double mix[HC_KIND_COUNT])
{
    double u = hc_rng_double(r);
    memset(mix, 0, sizeof(double) * HC_KIND_COUNT);
    if (u < 0.6) { /* a shop: invoices, and the parcels of some of them */
        mix[HC_KIND_ORDER_LINE] = 9;
        mix[HC_KIND_ORDER_STATUS] = 1;
    } else if (u < 0.9) { /* a depot: parcel statuses */
        mix[HC_KIND_ORDER_STATUS] = 1;
    } else { /* a car dealer, who sells some parts too */
        mix[HC_KIND_CAR_LISTING] = 4;
        mix[HC_KIND_ORDER_LINE] = 1;
    }
}

/* Log-normal with mean 1 (Box-Muller). */
static double pick_weight(struct hc_rng *r)
{
    double u1 = 1 - hc_rng_double(r), u2 = hc_rng_double(r);
    double z = sqrt(-2 * log(u1)) * cos(2 * 3.14159265358979323846 * u2);
    return exp(WEIGHT_SIGMA * z - WEIGHT_SIGMA * WEIGHT_SIGMA / 2);
}

void fl_plan_device(const struct fl_opts *o, unsigned i, unsigned run, struct fl_plan *p)
{
    struct hc_rng r;
    memset(p, 0, sizeof *p);
    hc_rng_seed(&r, mix64(o->seed ^ mix64(i)));
    snprintf(p->device_id, sizeof p->device_id, "fleet-%05u", i);
    pick_mix(&r, p->mix);
    p->weight = pick_weight(&r) / (o->devices ? o->devices : 1);
    p->skew_ms = fl_skew(o->seed, i, o->clock_skew_ms);
    if (hc_rng_double(&r) < o->offline) {
        double len = (OFFLINE_MIN + OFFLINE_SPREAD * hc_rng_double(&r)) * o->duration_s;
        p->offline_from = hc_rng_double(&r) * (o->duration_s - len);
        p->offline_to = p->offline_from + len;
    } else {
        (void)hc_rng_double(&r); /* keep the draws after this one independent of o->offline */
        (void)hc_rng_double(&r);
    }
    p->flaps = o->flap && hc_rng_range(&r, 0, FLAP_SHARE - 1) == 0;
    p->seed = mix64(o->seed ^ mix64(((uint64_t)run << 32) | i)) | 1; /* 0 would mean random */
}

int fl_link_up(const struct fl_plan *p, uint64_t seed, double t, double duration_s)
{
    if (t >= duration_s)
        return 1;
    if (t >= p->offline_from && t < p->offline_to)
        return 0;
    if (p->flaps && t >= 0) {
        uint64_t slot = (uint64_t)t;
        return mix64(seed ^ p->seed ^ mix64(slot)) % 100 >= FLAP_DOWN_PCT;
    }
    return 1;
}
