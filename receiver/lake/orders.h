/*
 * orders.h - a batch's order lines summed for gold, in the receiver.
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

#include "common/buf.h"

/*
 * Append the COPY text rows of lake_oi to oi and of lake_op to op for the order-line tuples
 * rows[0..len) (no stream header or trailer). Returns 0, HC_E_PARSE (a tuple not of
 * silver.order_line's shape; oi and op may hold part of the output) or -ENOMEM.
 */
int rx_orders_sum(const char *rows, size_t len, struct hc_buf *oi, struct hc_buf *op);

#endif
