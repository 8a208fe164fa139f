/*
 * api.h - the read-only HTTP JSON API over gold and silver (GET /api/v1/...), answered from
 * PostgreSQL with parameterised statements only.
 *
 *   /api/v1/sales?grain=minute|hour|day&from=T&to=T   sales per window (T: RFC 3339)
 *   /api/v1/top-products                               the 10 best products by revenue
 *   /api/v1/customers/{id}                             a customer's summary (spend to date, ...)
 *   /api/v1/customers/{id}/orders                      their invoices with lines
 *   /api/v1/customers/{id}/returns                     their returned and cancelled items
 *   /api/v1/tracking/{tracking_num}                    a parcel's latest status
 *   /api/v1/tracking                                   parcels per status
 *   /api/v1/cars/turnover                              turnover and average price per model
 *   /api/v1/cancellations                              cancellations and returns figures
 *   /api/v1/pipeline                                   watermark, lag, counts, quarantine
 * JSON shapes (times RFC 3339 UTC "2026-11-22T10:00:00Z" or null; money and averages are JSON
 * numbers written from PostgreSQL's numeric text, so no precision is lost):
 *   sales:         (grain defaults to hour; from and to are optional)
 *                  {"grain":"hour","from":T|null,"to":T|null,"watermark":T|null,
 *                   "total_sales":N,"windows":[{"start":T,"end":T,"sales":N,"lines":N,
 *                   "invoices":N,"final":bool,"revision":N,"late_events":N}, ...]}  (by start;
 *                   from inclusive, to exclusive, on window start; final = end <= watermark;
 *                   at most 10,000 windows: 400 asks for a narrower range)
 *   top-products:  {"products":[{"rank":1,"stock_code":S,"description":S,"quantity":N,
 *                   "revenue":N}, ...]}
 *   customers/{id}: {"customer_id":S,"spend":N,"orders":N,"lines":N,"returned_lines":N,
 *                   "first_order":T,"last_order":T,"loyal":bool}
 *   .../orders:    {"customer_id":S,"orders":[{"invoice_no":S,"invoice_date":T,"cancelled":bool,
 *                   "total":N,"lines":[{"stock_code":S,"description":S,"quantity":N,
 *                   "unit_price":N,"event_id":S}, ...]}, ...]}  (newest invoice first;
 *                   ?limit=1..1000, default 100, &offset=N)
 *   .../returns:   {"customer_id":S,"returns":[{"invoice_no":S,"invoice_date":T,
 *                   "stock_code":S,"description":S,"quantity":N,"unit_price":N,"value":N,
 *                   "cancellation":bool}, ...]}  (lines with quantity < 0; value positive)
 *   tracking/{n}:  {"tracking_num":S,"order_id":S,"status":S,"status_time":T,
 *                   "estimated_delivery":T,"carrier":S}
 *   tracking:      {"parcels":N,"statuses":[{"status":S,"parcels":N}, ...]}  (most parcels
 *                   first, then by status)
 *   cars/turnover: {"models":[{"make":S,"model":S,"listings":N,"removed":N,
 *                   "avg_days_listed":N|null,"avg_price":N}, ...]}  (by make, model)
 *   cancellations: {"invoices":N,"cancelled_invoices":N,"cancelled_lines":N,
 *                   "cancelled_value":N,"returned_lines":N,"returned_value":N,
 *                   "cancellation_rate":N}
 *   pipeline:      {"watermark":T,"max_event_time":T,"lag_seconds":N|null (now - max event
 *                   time),"promote_lag_seconds":N (age of the oldest landed, unpromoted file),
 *                   "bronze_files":N,"bronze_events":N,"promoted_files":N,
 *                   "promoted_events":N (records of the promoted files),
 *                   "silver":{"order_line":N,"order_status":N,"car_listing":N},
 *                   "quarantine":{"rule":N, ...},"quarantined":N,
 *                   "freshness":[{"at":T,"events":N,"oldest_seconds":N|null,
 *                   "newest_seconds":N|null}, ...] (the last RX_API_FRESHNESS_MAX promoted
 *                   batches, oldest first: at = when gold had them, *_seconds = at - the
 *                   oldest/newest enqueued time of their events; null for files landed before
 *                   the lander recorded enqueued times),
 *                   "lake":{"connected":bool,"cycles":N,"errors":N,"reconnects":N,
 *                   "last_cycle":T|null,"last_error":S|null}}  (lake: from the loop, null
 *                   without one)
 * Ids (customer id, tracking number) are 1 to 64 printable ASCII characters without spaces (else
 * 400). customers/{id} is 404 when gold.customer_summary has no row for id; .../orders and
 * .../returns are 404 when silver.order_line has no line of the customer. Times in answers carry
 * a fraction only when they have one ("2026-11-22T10:00:04.89Z").
 * Errors are
 * {"error": "sentence"} with 400 (a parameter is wrong: the sentence names it and what is
 * accepted), 404 (no such resource or id), 405 (not GET/HEAD) or 503 (PostgreSQL unreachable,
 * the schema not applied yet, or a statement timed out); 500 when PostgreSQL refuses a statement
 * (a bug: logged).
 *
 * Connections: a small pool, opened on demand (PostgreSQL may be down when the receiver starts)
 * and reopened when one breaks. Thread-safe: any number of HTTP threads may call rx_api_handle.
 */
#ifndef RX_API_H
#define RX_API_H

#include <stddef.h>

#include "common/buf.h"
#include "receiver/lake/loop.h"

struct rx_api;

/* The value of query parameter name, or NULL when absent (e.g. over libmicrohttpd's). */
typedef const char *(*rx_api_arg_fn)(void *ctx, const char *name);

/*
 * Prepare the API. conninfo: libpq string or URI, NULL or "" for the PG* environment (copied).
 * loop: the lake loop whose status /pipeline adds (NULL when none); must outlive the API.
 * Returns 0 and *out, or -ENOMEM.
 */
int rx_api_open(const char *conninfo, int pool_size, struct rx_lake_loop *loop,
                struct rx_api **out);

/*
 * Answer one request: method, path (starting "/api/", no query string), its parameters by arg.
 * Sets *status and appends the JSON body to out (always a body, also for errors).
 */
void rx_api_handle(struct rx_api *a, const char *method, const char *path, rx_api_arg_fn arg,
                   void *ctx, int *status, struct hc_buf *out);

/* Close every connection and free a. NULL is ok. */
void rx_api_close(struct rx_api *a);

#endif
