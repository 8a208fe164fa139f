/*
 * params.h - the pure parts of the API (receiver/api/api.h): which resource a path names, and
 * the checks of query parameters and ids. No I/O, no PostgreSQL: tests/unit/receiver/test_api.c.
 *
 * Every check that fails writes one sentence into err (cap bytes, at least 1) naming the
 * parameter and what is accepted; the caller sends it with 400.
 */
#ifndef RX_API_PARAMS_H
#define RX_API_PARAMS_H

#include <stddef.h>
#include <stdint.h>

enum rx_api_res {
    RX_API_NONE = 0,         /* no such path */
    RX_API_SALES,            /* /api/v1/sales */
    RX_API_TOP_PRODUCTS,     /* /api/v1/top-products */
    RX_API_CUSTOMER,         /* /api/v1/customers/{id} */
    RX_API_CUSTOMER_ORDERS,  /* /api/v1/customers/{id}/orders */
    RX_API_CUSTOMER_RETURNS, /* /api/v1/customers/{id}/returns */
    RX_API_PARCEL,           /* /api/v1/tracking/{tracking_num} */
    RX_API_TRACKING,         /* /api/v1/tracking */
    RX_API_CARS,             /* /api/v1/cars/turnover */
    RX_API_CANCELLATIONS,    /* /api/v1/cancellations */
    RX_API_PIPELINE          /* /api/v1/pipeline */
};

/* What a path names: the resource, and its id (customer or tracking number) when it has one. */
struct rx_api_route {
    enum rx_api_res res;
    const char *id; /* points into the path (not NUL-terminated there); NULL when none */
    size_t id_len;
};

#define RX_API_ID_MAX        64   /* longest customer id or tracking number accepted */
#define RX_API_LIMIT_MAX     1000 /* ?limit= of customer orders */
#define RX_API_LIMIT_DEFAULT 100  /* ... when absent */
#define RX_API_OFFSET_MAX    1000000
#define RX_API_WINDOWS_MAX   10000 /* sales windows in one answer */
#define RX_API_FRESHNESS_MAX 240   /* promoted batches in /pipeline's freshness */

/*
 * Route a path (no query string; exact: no trailing slash, no empty segment). An id is any
 * non-empty segment without '/'; whether it is acceptable is rx_api_check_id's business (400,
 * not 404). Returns r->res (RX_API_NONE for an unknown path, with r->id NULL).
 */
enum rx_api_res rx_api_route(const char *path, struct rx_api_route *r);

/*
 * An id of what ("customer id", "tracking number"): 1 to RX_API_ID_MAX printable ASCII
 * characters (0x21-0x7e). Returns 0 or HC_E_INVAL with err set.
 */
int rx_api_check_id(const char *what, const char *id, size_t len, char *err, size_t cap);

/*
 * ?grain=: "minute", "hour" or "day"; absent (v NULL) is "hour". *grain gets a static string.
 * Returns 0 or HC_E_INVAL with err set.
 */
int rx_api_parse_grain(const char *v, const char **grain, char *err, size_t cap);

/*
 * A time parameter called name (RFC 3339, e.g. 2026-11-22T10:00:00Z): v NULL leaves *ms alone
 * and *given 0. Returns 0 (*ms and *given 1 when present) or HC_E_INVAL with err set.
 */
int rx_api_parse_time(const char *name, const char *v, int64_t *ms, int *given, char *err,
                      size_t cap);

/*
 * A decimal integer parameter called name in [lo, hi] (digits only, no sign; 0 <= lo <= hi <
 * 10^17), def when absent.
 * Returns 0 and *out, or HC_E_INVAL with err set.
 */
int rx_api_parse_int(const char *name, const char *v, int64_t lo, int64_t hi, int64_t def,
                     int64_t *out, char *err, size_t cap);

#endif
