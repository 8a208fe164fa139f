/* queries.c - the API's statements (see queries.h). */
#include "receiver/api/queries.h"

#include "receiver/api/params.h"

/*
 * The SQL is kept as written, one clause a line: clang-format would break these literals around
 * the macros into unreadable pieces.
 */
// clang-format off

/* A timestamptz expression as RFC 3339 UTC text: trailing zeros of the fraction dropped. */
#define UTC(x) \
    "(rtrim(rtrim(to_char((" x ") AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US'), '0'), " \
    "'.') || 'Z')"
/* Milliseconds since the epoch (a bigint parameter) as a timestamptz. */
#define MS(p) "(timestamptz 'epoch' + " p "::bigint * interval '1 millisecond')"
#define STR_(x) #x
#define STR(x) STR_(x)

const char rx_api_sql_sales[] =
    "WITH wm AS (SELECT watermark FROM gold.watermark WHERE id = 1),"
    " w AS (SELECT * FROM gold.sales_by_window"
    "        WHERE grain = $1::text"
    "          AND ($2::bigint IS NULL OR window_start >= " MS("$2") ")"
    "          AND ($3::bigint IS NULL OR window_start < " MS("$3") ")"
    "        ORDER BY window_start LIMIT " STR(RX_API_WINDOWS_MAX) " + 1)"
    " SELECT (SELECT count(*) FROM w), json_build_object("
    "  'grain', $1::text,"
    "  'from', " UTC(MS("$2")) ", 'to', " UTC(MS("$3")) ","
    "  'watermark', (SELECT " UTC("watermark") " FROM wm),"
    "  'total_sales', (SELECT coalesce(sum(sales), 0) FROM w),"
    "  'windows', coalesce((SELECT json_agg(json_build_object("
    "     'start', " UTC("window_start") ", 'end', " UTC("window_end") ","
    "     'sales', sales, 'lines', lines, 'invoices', invoices,"
    "     'final', coalesce(window_end <= (SELECT watermark FROM wm), false),"
    "     'revision', revision, 'late_events', late_events) ORDER BY window_start) FROM w),"
    "   '[]'))";

const char rx_api_sql_top_products[] =
    "SELECT json_build_object('products', coalesce(json_agg(json_build_object("
    "  'rank', rank, 'stock_code', stock_code, 'description', description,"
    "  'quantity', quantity, 'revenue', revenue) ORDER BY rank), '[]'))"
    " FROM gold.top_products";

const char rx_api_sql_customer[] =
    "SELECT json_build_object('customer_id', customer_id, 'spend', spend, 'orders', orders,"
    "  'lines', lines, 'returned_lines', returned_lines,"
    "  'first_order', " UTC("first_order") ", 'last_order', " UTC("last_order") ","
    "  'loyal', loyal)"
    " FROM gold.customer_summary WHERE customer_id = $1::text";

/* the customer's lines once (index order_line_customer), then their invoices */
#define CUSTOMER_LINES "WITH l AS (SELECT * FROM silver.order_line WHERE customer_id = $1::text)"

const char rx_api_sql_orders[] =
    CUSTOMER_LINES ","
    " inv AS (SELECT invoice_no, min(invoice_date) AS invoice_date,"
    "                sum(quantity * unit_price) AS total"
    "           FROM l GROUP BY invoice_no"
    "          ORDER BY 2 DESC, 1 DESC LIMIT $2::bigint OFFSET $3::bigint)"
    " SELECT CASE WHEN EXISTS (SELECT 1 FROM l) THEN json_build_object("
    "  'customer_id', $1::text,"
    "  'orders', coalesce((SELECT json_agg(json_build_object("
    "     'invoice_no', i.invoice_no, 'invoice_date', " UTC("i.invoice_date") ","
    "     'cancelled', i.invoice_no LIKE 'C%', 'total', i.total,"
    "     'lines', (SELECT json_agg(json_build_object('stock_code', x.stock_code,"
    "                 'description', x.description, 'quantity', x.quantity,"
    "                 'unit_price', x.unit_price, 'event_id', x.event_id)"
    "                 ORDER BY x.event_time, x.event_id)"
    "                 FROM l x WHERE x.invoice_no = i.invoice_no))"
    "     ORDER BY i.invoice_date DESC, i.invoice_no DESC) FROM inv i), '[]')) END";

const char rx_api_sql_returns[] =
    CUSTOMER_LINES
    " SELECT CASE WHEN EXISTS (SELECT 1 FROM l) THEN json_build_object("
    "  'customer_id', $1::text,"
    "  'returns', coalesce((SELECT json_agg(json_build_object("
    "     'invoice_no', invoice_no, 'invoice_date', " UTC("invoice_date") ","
    "     'stock_code', stock_code, 'description', description, 'quantity', quantity,"
    "     'unit_price', unit_price, 'value', -(quantity * unit_price),"
    "     'cancellation', invoice_no LIKE 'C%')"
    "     ORDER BY invoice_date DESC, invoice_no DESC, event_time, event_id)"
    "     FROM l WHERE quantity < 0), '[]')) END";

const char rx_api_sql_parcel[] =
    "SELECT json_build_object('tracking_num', tracking_num, 'order_id', order_id,"
    "  'status', status, 'status_time', " UTC("status_time") ","
    "  'estimated_delivery', " UTC("estimated_delivery") ", 'carrier', carrier)"
    " FROM gold.order_tracking WHERE tracking_num = $1::text";

const char rx_api_sql_tracking[] =
    "SELECT json_build_object('parcels', coalesce(sum(n), 0),"
    "  'statuses', coalesce(json_agg(json_build_object('status', status, 'parcels', n)"
    "                                ORDER BY n DESC, status), '[]'))"
    " FROM (SELECT status, count(*) AS n FROM gold.order_tracking GROUP BY status) s";

const char rx_api_sql_cars[] =
    "SELECT json_build_object('models', coalesce(json_agg(json_build_object("
    "  'make', make, 'model', model, 'listings', listings, 'removed', removed,"
    "  'avg_days_listed', avg_days_listed, 'avg_price', avg_price) ORDER BY make, model), '[]'))"
    " FROM gold.car_turnover";

/* zeros before the first refresh of gold */
const char rx_api_sql_cancellations[] =
    "SELECT json_build_object('invoices', coalesce(c.invoices, 0),"
    "  'cancelled_invoices', coalesce(c.cancelled_invoices, 0),"
    "  'cancelled_lines', coalesce(c.cancelled_lines, 0),"
    "  'cancelled_value', coalesce(c.cancelled_value, 0),"
    "  'returned_lines', coalesce(c.returned_lines, 0),"
    "  'returned_value', coalesce(c.returned_value, 0),"
    "  'cancellation_rate', coalesce(c.cancellation_rate, 0))"
    " FROM (VALUES (1)) one (id) LEFT JOIN gold.cancellations_returns c USING (id)";

const char rx_api_sql_pipeline[] =
    "WITH w AS (SELECT * FROM gold.watermark WHERE id = 1),"
    " ck AS (SELECT coalesce(max(last_file_id), 0) AS last, coalesce(max(events), 0) AS events"
    "          FROM lake.checkpoint WHERE name = 'promote'),"
    " q AS (SELECT rule, count(*) AS n FROM silver.quarantine GROUP BY rule)"
    " SELECT json_build_object("
    "  'watermark', (SELECT " UTC("watermark") " FROM w),"
    "  'max_event_time', (SELECT " UTC("max_event_time") " FROM w),"
    "  'lag_seconds', (SELECT extract(epoch FROM now() - max_event_time) FROM w),"
    "  'promote_lag_seconds', coalesce((SELECT extract(epoch FROM now() - min(f.landed_at))"
    "     FROM bronze.capture_file f, ck WHERE f.file_id > ck.last), 0),"
    "  'bronze_files', (SELECT count(*) FROM bronze.capture_file),"
    "  'bronze_events', (SELECT coalesce(sum(events), 0) FROM bronze.capture_file),"
    "  'promoted_files', (SELECT count(*) FROM bronze.capture_file f, ck"
    "                      WHERE f.file_id <= ck.last),"
    "  'promoted_events', (SELECT events FROM ck),"
    "  'silver', json_build_object("
    "     'order_line', (SELECT count(*) FROM silver.order_line),"
    "     'order_status', (SELECT count(*) FROM silver.order_status),"
    "     'car_listing', (SELECT count(*) FROM silver.car_listing)),"
    "  'quarantine', coalesce((SELECT json_object_agg(rule, n ORDER BY rule) FROM q), '{}'),"
    "  'quarantined', (SELECT coalesce(sum(n), 0) FROM q),"
    "  'freshness', coalesce((SELECT json_agg(json_build_object("
    "     'at', " UTC("at") ", 'events', events,"
    "     'oldest_seconds', round(extract(epoch FROM at - first_enqueued), 3),"
    "     'newest_seconds', round(extract(epoch FROM at - last_enqueued), 3)) ORDER BY at)"
    "     FROM (SELECT * FROM lake.freshness ORDER BY at DESC LIMIT " STR(RX_API_FRESHNESS_MAX) ") f),"
    "   '[]'))";

// clang-format on
