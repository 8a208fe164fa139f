/*
 * queries.h - the API's statements (receiver/api/queries.c). Each returns one row whose last
 * column is the whole answer as JSON text (NULL or no row: the resource does not exist), built
 * by PostgreSQL so that numeric values keep every digit. Times are written as RFC 3339 UTC with
 * the fraction only when there is one ("2026-11-22T10:00:00Z", "2026-11-22T10:00:00.25Z").
 * User input only ever arrives as a parameter ($1 ...).
 */
#ifndef RX_API_QUERIES_H
#define RX_API_QUERIES_H

/* $1 grain, $2 from and $3 to (ms since the epoch, NULL: open). Columns: windows (at most
 * RX_API_WINDOWS_MAX + 1 counted, so the caller can refuse a range too wide), JSON. */
extern const char rx_api_sql_sales[];
extern const char rx_api_sql_top_products[];
/* $1 customer id. */
extern const char rx_api_sql_customer[];
/* $1 customer id, $2 limit, $3 offset (invoices, newest first). */
extern const char rx_api_sql_orders[];
/* $1 customer id. */
extern const char rx_api_sql_returns[];
/* $1 tracking number. */
extern const char rx_api_sql_parcel[];
extern const char rx_api_sql_tracking[];
extern const char rx_api_sql_cars[];
extern const char rx_api_sql_cancellations[];
/* The figures of /pipeline that PostgreSQL knows (the lake loop's are added by the caller). */
extern const char rx_api_sql_pipeline[];

#endif
