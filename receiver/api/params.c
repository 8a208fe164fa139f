/* params.c - routing and parameter checks of the API (see params.h). */
#include "receiver/api/params.h"

#include <stdio.h>
#include <string.h>

#include "common/error.h"
#include "common/hctime.h"

#define V1 "/api/v1/"

/* The fixed paths under /api/v1/. */
static const struct {
    const char *name;
    enum rx_api_res res;
} fixed[] = {
    {"sales", RX_API_SALES},
    {"top-products", RX_API_TOP_PRODUCTS},
    {"tracking", RX_API_TRACKING},
    {"cars/turnover", RX_API_CARS},
    {"cancellations", RX_API_CANCELLATIONS},
    {"pipeline", RX_API_PIPELINE},
};

/* If s starts with prefix, the rest of s; else NULL. */
static const char *after(const char *s, const char *prefix)
{
    size_t n = strlen(prefix);
    return strncmp(s, prefix, n) == 0 ? s + n : NULL;
}

/* Route "{id}", "{id}/orders" or "{id}/returns" below a collection (RX_API_NONE: not there). */
static enum rx_api_res route_id(const char *rest, struct rx_api_route *r, enum rx_api_res one,
                                enum rx_api_res orders, enum rx_api_res returns)
{
    const char *slash = strchr(rest, '/');
    size_t len = slash ? (size_t)(slash - rest) : strlen(rest);
    enum rx_api_res res = one;

    if (len == 0)
        return RX_API_NONE;
    if (slash) {
        if (orders != RX_API_NONE && strcmp(slash, "/orders") == 0)
            res = orders;
        else if (returns != RX_API_NONE && strcmp(slash, "/returns") == 0)
            res = returns;
        else
            return RX_API_NONE;
    }
    r->res = res;
    r->id = rest;
    r->id_len = len;
    return res;
}

enum rx_api_res rx_api_route(const char *path, struct rx_api_route *r)
{
    const char *rest;

    r->res = RX_API_NONE;
    r->id = NULL;
    r->id_len = 0;
    if (!path || !(rest = after(path, V1)))
        return RX_API_NONE;
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++)
        if (strcmp(rest, fixed[i].name) == 0)
            return r->res = fixed[i].res;
    if ((path = after(rest, "customers/")))
        return route_id(path, r, RX_API_CUSTOMER, RX_API_CUSTOMER_ORDERS, RX_API_CUSTOMER_RETURNS);
    if ((path = after(rest, "tracking/")))
        return route_id(path, r, RX_API_PARCEL, RX_API_NONE, RX_API_NONE);
    return RX_API_NONE;
}

int rx_api_check_id(const char *what, const char *id, size_t len, char *err, size_t cap)
{
    int ok = len >= 1 && len <= RX_API_ID_MAX;

    for (size_t i = 0; ok && i < len; i++)
        ok = id[i] >= 0x21 && id[i] <= 0x7e;
    if (ok)
        return 0;
    snprintf(err, cap, "the %s must be 1 to %d printable ASCII characters without spaces", what,
             RX_API_ID_MAX);
    return HC_E_INVAL;
}

int rx_api_parse_grain(const char *v, const char **grain, char *err, size_t cap)
{
    static const char *const grains[] = {"minute", "hour", "day"};

    if (!v) {
        *grain = "hour";
        return 0;
    }
    for (size_t i = 0; i < sizeof grains / sizeof grains[0]; i++)
        if (strcmp(v, grains[i]) == 0) {
            *grain = grains[i];
            return 0;
        }
    snprintf(err, cap, "grain must be minute, hour or day");
    return HC_E_INVAL;
}

int rx_api_parse_time(const char *name, const char *v, int64_t *ms, int *given, char *err,
                      size_t cap)
{
    int64_t t;

    *given = 0;
    if (!v)
        return 0;
    /* hc_time_parse also takes "@seconds" and the UCI "m/d/yyyy" form: RFC 3339 only here */
    if (strlen(v) < 10 || v[4] != '-' || hc_time_parse(v, -1, &t)) {
        snprintf(err, cap, "%s must be an RFC 3339 time, e.g. 2026-11-22T10:00:00Z", name);
        return HC_E_INVAL;
    }
    *ms = t;
    *given = 1;
    return 0;
}

int rx_api_parse_int(const char *name, const char *v, int64_t lo, int64_t hi, int64_t def,
                     int64_t *out, char *err, size_t cap)
{
    int64_t n = 0;
    const char *p;

    if (!v) {
        *out = def;
        return 0;
    }
    for (p = v; *p >= '0' && *p <= '9' && n <= hi; p++)
        n = n * 10 + (*p - '0');
    if (p == v || *p || n < lo || n > hi) {
        snprintf(err, cap, "%s must be an integer from %lld to %lld", name, (long long)lo,
                 (long long)hi);
        return HC_E_INVAL;
    }
    *out = n;
    return 0;
}
