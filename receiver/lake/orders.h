/*
 * orders.h - a batch's silver rows reduced to what gold reads, in the receiver: the order lines
 * summed (rx_orders_sum), and the latest row of each parcel and car listing (rx_latest_rows).
 *
 * The gold tables kept from order lines (sales windows, invoices, customers, products,
 * cancellations and returns) need sums over the lines a promotion batch puts in silver, not the
 * lines themselves. The promoter hands those rows (silver.order_line tuples in COPY's binary
 * format, as common/rules.h writes them) to rx_orders_sum, which groups them into the two
 * tables lake.promote_staged reads (receiver/sql/003_gold.sql):
 *
 *   lake_oi  per file, minute of event_time (UTC), invoice_no and customer_id: the lines, the sum
 *            of quantity * unit_price, the returned lines (quantity < 0) and their value (NULL
 *            when none), the first and the last invoice_date;
 *   lake_op  per stock_code, over the lines of invoices that do not start with 'C': the greatest
 *            description (in byte order, as COLLATE "C"; NULL when all are), the sum of quantity
 *            and of quantity * unit_price.
 *
 * Sums are exact and equal to PostgreSQL's: unit_price is rounded half away from zero to 4
 * decimals, as numeric(14,4) stores it, products and sums are 128-bit integers of 1/10000, and
 * they are written with 4 decimals. Nothing is kept between calls.
 */
#ifndef RX_LAKE_ORDERS_H
#define RX_LAKE_ORDERS_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"

/* A column of a tuple in COPY's binary format: its bytes, or len -1 for NULL. */
struct rx_col {
    const unsigned char *p;
    int64_t len;
};

/*
 * Split the COPY binary tuple at p (before end) into its columns f (at most cap): *nf gets their
 * number, *n the tuple's length. Returns 0 or HC_E_PARSE (more than cap columns, or cut short).
 */
int rx_tuple_split(const unsigned char *p, const unsigned char *end, struct rx_col *f, int cap,
                   int *nf, size_t *n);

/*
 * Append the COPY text rows of lake_oi to oi and of lake_op to op for the order-line tuples
 * rows[0..len) (no stream header or trailer). Returns 0, HC_E_PARSE (a tuple not of
 * silver.order_line's shape; oi and op may hold part of the output) or -ENOMEM.
 */
int rx_orders_sum(const char *rows, size_t len, struct hc_buf *oi, struct hc_buf *op);

/*
 * Append to out, of the tuples rows[0..len) (COPY binary, the event_id in column 0), the latest
 * of each value of column key_col: the greatest column time_col (a timestamptz), then the
 * greatest event_id (bytes), as DISTINCT ON (key) ... ORDER BY key, time DESC, event_id DESC
 * picks under COLLATE "C". Parcels (order_status by tracking_num, status_time) and car listings
 * (car_listing by listing_id, event_time) need only those. Returns 0, HC_E_PARSE (a tuple too
 * short, or a NULL key, event_id or time) or -ENOMEM.
 */
int rx_latest_rows(const char *rows, size_t len, int key_col, int time_col, struct hc_buf *out);

#endif
