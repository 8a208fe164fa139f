-- 003_gold.sql - gold: the watermark, business aggregates, and the promotion functions the
-- receiver calls (lake.promote_next, lake.refresh_gold, lake.reset).
--
-- Watermark = max(event_time) - allowed_lateness, over every valid event promoted so far; it is
-- persisted in gold.watermark and advanced only by the transaction that promotes a file, so a
-- replay (rebuild) makes the same decisions. A window that ends at or before the watermark is
-- final. An event older than the watermark but within late_horizon of it re-aggregates its window
-- (the window's revision goes up when it was final already); one older than
-- watermark - late_horizon is quarantined as too_late. Times are UTC.
CREATE SCHEMA IF NOT EXISTS gold;

CREATE TABLE IF NOT EXISTS gold.watermark (
    id             integer PRIMARY KEY CHECK (id = 1),
    max_event_time timestamptz,
    watermark      timestamptz,
    updated_at     timestamptz NOT NULL DEFAULT now()
);
INSERT INTO gold.watermark (id) VALUES (1) ON CONFLICT DO NOTHING;

-- Sales (sum of quantity * unit_price over valid order lines, cancellations and returns
-- included, so the figure is net) per window of event_time.
CREATE TABLE IF NOT EXISTS gold.sales_by_window (
    grain        text        NOT NULL CHECK (grain IN ('minute', 'hour', 'day')),
    window_start timestamptz NOT NULL,
    window_end   timestamptz NOT NULL,
    sales        numeric     NOT NULL,
    lines        bigint      NOT NULL,
    invoices     bigint      NOT NULL,
    revision     integer     NOT NULL DEFAULT 0, -- re-aggregations after the window was final
    late_events  bigint      NOT NULL DEFAULT 0, -- events that arrived after it was final
    file_id      bigint      NOT NULL,           -- the bronze file that last changed it
    PRIMARY KEY (grain, window_start)
);

-- Stock codes that are not products (UCI Online Retail); codes starting "gift_" neither.
CREATE TABLE IF NOT EXISTS gold.non_product_code (code text PRIMARY KEY);
INSERT INTO gold.non_product_code (code) VALUES
    ('POST'), ('DOT'), ('M'), ('m'), ('D'), ('C2'), ('S'), ('B'), ('BANK CHARGES'), ('CRUK'),
    ('PADS'), ('AMAZONFEE'), ('ADJUST'), ('ADJUST2'), ('TEST001'), ('TEST002')
ON CONFLICT DO NOTHING;

-- The 10 products with the most revenue (net of returns on ordinary invoices); cancellation
-- invoices ('C...') and non-product codes left out. Ties: the lower stock code first.
CREATE TABLE IF NOT EXISTS gold.top_products (
    rank        integer PRIMARY KEY,
    stock_code  text    NOT NULL,
    description text,
    quantity    bigint  NOT NULL,
    revenue     numeric NOT NULL
);

CREATE TABLE IF NOT EXISTS gold.customer_summary (
    customer_id   text PRIMARY KEY,
    spend         numeric     NOT NULL, -- net: cancellations and returns included
    orders        bigint      NOT NULL, -- distinct invoices that are not cancellations
    lines         bigint      NOT NULL,
    returned_lines bigint     NOT NULL, -- quantity < 0, cancellations included
    first_order   timestamptz,
    last_order    timestamptz,
    loyal         boolean     NOT NULL  -- loyal_min_orders orders within loyal_days days
);

-- One row: cancellations (invoices 'C...') and returns (quantity < 0 on other invoices).
CREATE TABLE IF NOT EXISTS gold.cancellations_returns (
    id                  integer PRIMARY KEY CHECK (id = 1),
    invoices            bigint  NOT NULL, -- not cancellations
    cancelled_invoices  bigint  NOT NULL,
    cancelled_lines     bigint  NOT NULL,
    cancelled_value     numeric NOT NULL, -- positive: what the cancellations took back
    returned_lines      bigint  NOT NULL,
    returned_value      numeric NOT NULL, -- positive
    cancellation_rate   numeric NOT NULL  -- cancelled_invoices / invoices (0 when none)
);

-- One row per parcel: the status with the newest status_time (ties: the greater event_id), so
-- an update that arrives late never moves a parcel back.
CREATE TABLE IF NOT EXISTS gold.order_tracking (
    tracking_num       text PRIMARY KEY,
    order_id           text        NOT NULL,
    status             text        NOT NULL,
    status_time        timestamptz NOT NULL,
    estimated_delivery timestamptz,
    carrier            text,
    event_id           text        NOT NULL
);

-- Per make and model: listings seen, listings gone (sold or removed), the mean days from
-- date_listed to date_removed of those gone, and the mean of each listing's latest price.
-- A listing's state is its latest event (event_time, then event_id).
CREATE TABLE IF NOT EXISTS gold.car_turnover (
    make           text    NOT NULL,
    model          text    NOT NULL,
    listings       bigint  NOT NULL,
    removed        bigint  NOT NULL,
    avg_days_listed numeric,
    avg_price      numeric NOT NULL,
    PRIMARY KEY (make, model)
);

CREATE OR REPLACE FUNCTION lake.setting(k text) RETURNS text
LANGUAGE sql STABLE AS $$ SELECT value FROM lake.config WHERE key = k $$;

-- Empty silver and gold and start promotion from the first bronze file (rebuild).
CREATE OR REPLACE FUNCTION lake.reset() RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(hashtext('hubcap.promote'));
    TRUNCATE silver.order_line, silver.order_status, silver.car_listing, silver.quarantine,
             gold.sales_by_window, gold.top_products, gold.customer_summary,
             gold.cancellations_returns, gold.order_tracking, gold.car_turnover;
    UPDATE gold.watermark SET max_event_time = NULL, watermark = NULL, updated_at = now();
    UPDATE lake.checkpoint SET last_file_id = 0, events = 0, updated_at = now()
     WHERE name = 'promote';
END $$;

-- Stage one bronze file: each record parsed, checked, its rule (NULL: valid) and event time.
CREATE OR REPLACE FUNCTION lake.stage_file(fid bigint) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    DROP TABLE IF EXISTS lake_stage;
    CREATE TEMP TABLE lake_stage ON COMMIT DROP AS
    -- MATERIALIZED: each body parsed and checked once, not once per column that uses it
    WITH p AS MATERIALIZED (
        SELECT e.file_id, e.record_no, e.body, silver.try_json(e.body) AS j
          FROM bronze.event e WHERE e.file_id = fid),
    c AS MATERIALIZED (SELECT p.*, silver.check_rule(p.j) AS rule FROM p)
    SELECT c.file_id, c.record_no, c.body, c.j, c.rule, c.j ->> 'event_id' AS event_id,
           c.j ->> 'kind' AS kind,
           CASE WHEN c.rule IS NULL THEN (c.j ->> 'event_time')::timestamptz END AS event_time
      FROM c;
    ANALYZE lake_stage;
    -- a record already in silver is a duplicate: it goes nowhere
    DELETE FROM lake_stage st
     WHERE st.rule IS NULL
       AND (EXISTS (SELECT 1 FROM silver.order_line o WHERE o.event_id = st.event_id)
            OR EXISTS (SELECT 1 FROM silver.order_status o WHERE o.event_id = st.event_id)
            OR EXISTS (SELECT 1 FROM silver.car_listing o WHERE o.event_id = st.event_id));
END $$;

-- Insert the staged valid records into their silver tables (the first copy of an event_id).
CREATE OR REPLACE FUNCTION lake.insert_silver(fid bigint) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO silver.order_line
    SELECT DISTINCT ON (event_id) event_id, j ->> 'device_id', event_time,
           d ->> 'invoice_no', d ->> 'stock_code', d ->> 'description',
           (d ->> 'quantity')::integer, (d ->> 'unit_price')::numeric,
           (d ->> 'invoice_date')::timestamptz, d ->> 'customer_id', d ->> 'country', fid
      FROM (SELECT *, j -> 'data' AS d FROM lake_stage WHERE rule IS NULL AND kind = 'order_line') s
     ORDER BY event_id, record_no
        ON CONFLICT (event_id) DO NOTHING;
    INSERT INTO silver.order_status
    SELECT DISTINCT ON (event_id) event_id, j ->> 'device_id', event_time,
           d ->> 'tracking_num', d ->> 'order_id', d ->> 'status',
           (d ->> 'status_time')::timestamptz, (d ->> 'estimated_delivery')::timestamptz,
           d ->> 'carrier', fid
      FROM (SELECT *, j -> 'data' AS d FROM lake_stage WHERE rule IS NULL AND kind = 'order_status') s
     ORDER BY event_id, record_no
        ON CONFLICT (event_id) DO NOTHING;
    INSERT INTO silver.car_listing
    SELECT DISTINCT ON (event_id) event_id, j ->> 'device_id', event_time,
           d ->> 'listing_id', d ->> 'vin', d ->> 'make', d ->> 'model',
           (d ->> 'year')::integer, (d ->> 'mileage_km')::numeric, (d ->> 'price')::numeric,
           d ->> 'currency', d ->> 'dealer_id', d ->> 'action',
           (d ->> 'date_listed')::timestamptz, (d ->> 'date_removed')::timestamptz, fid
      FROM (SELECT *, j -> 'data' AS d FROM lake_stage WHERE rule IS NULL AND kind = 'car_listing') s
     ORDER BY event_id, record_no
        ON CONFLICT (event_id) DO NOTHING;
END $$;

-- Re-aggregate the sales windows that this file's new order lines fall in. old_wm: the
-- watermark before this file (a window that ended by then was final: its revision goes up).
CREATE OR REPLACE FUNCTION lake.update_sales(fid bigint, old_wm timestamptz) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO gold.sales_by_window AS s
           (grain, window_start, window_end, sales, lines, invoices, revision, late_events, file_id)
    SELECT a.grain, a.ws, a.ws + a.len, sum(o.quantity * o.unit_price), count(*),
           count(DISTINCT o.invoice_no), 0, a.late, fid
      FROM (SELECT g.grain, g.len, date_trunc(g.grain, n.event_time, 'UTC') AS ws,
                   count(*) FILTER (WHERE date_trunc(g.grain, n.event_time, 'UTC') + g.len <= old_wm)
                       AS late
              FROM silver.order_line n
             CROSS JOIN (VALUES ('minute', interval '1 minute'), ('hour', interval '1 hour'),
                                ('day', interval '1 day')) g (grain, len)
             WHERE n.file_id = fid
             GROUP BY 1, 2, 3) a
      JOIN silver.order_line o ON o.event_time >= a.ws AND o.event_time < a.ws + a.len
     GROUP BY a.grain, a.ws, a.len, a.late
        ON CONFLICT (grain, window_start) DO UPDATE
       SET sales = excluded.sales, lines = excluded.lines, invoices = excluded.invoices,
           revision = s.revision + CASE WHEN s.window_end <= old_wm THEN 1 ELSE 0 END,
           late_events = s.late_events + excluded.late_events, file_id = excluded.file_id;
END $$;

-- Parcels: a newer status_time (then a greater event_id) wins.
CREATE OR REPLACE FUNCTION lake.update_tracking(fid bigint) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO gold.order_tracking AS t
    SELECT DISTINCT ON (tracking_num) tracking_num, order_id, status, status_time,
           estimated_delivery, carrier, event_id
      FROM silver.order_status WHERE file_id = fid
     ORDER BY tracking_num, status_time DESC, event_id DESC
        ON CONFLICT (tracking_num) DO UPDATE
       SET order_id = excluded.order_id, status = excluded.status,
           status_time = excluded.status_time, estimated_delivery = excluded.estimated_delivery,
           carrier = excluded.carrier, event_id = excluded.event_id
     WHERE (excluded.status_time, excluded.event_id) > (t.status_time, t.event_id);
END $$;

-- Promote one bronze file into silver and the incremental gold tables. Returns the records read.
CREATE OR REPLACE FUNCTION lake.promote_file(fid bigint) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    lateness interval := lake.setting('allowed_lateness')::interval;
    horizon  interval := lake.setting('late_horizon')::interval;
    old_max  timestamptz;
    old_wm   timestamptz;
    new_max  timestamptz;
    n        bigint;
BEGIN
    SELECT max_event_time, watermark INTO old_max, old_wm FROM gold.watermark WHERE id = 1 FOR UPDATE;
    PERFORM lake.stage_file(fid);
    SELECT count(*) INTO n FROM bronze.event WHERE file_id = fid;
    SELECT greatest(old_max, max(event_time)) INTO new_max FROM lake_stage WHERE rule IS NULL;
    UPDATE lake_stage SET rule = 'too_late'
     WHERE rule IS NULL AND event_time < new_max - lateness - horizon;
    INSERT INTO silver.quarantine (rule, detail, event_id, kind, file_id, record_no, raw)
    SELECT rule, NULL, CASE WHEN jsonb_typeof(j -> 'event_id') = 'string' THEN event_id END,
           kind, file_id, record_no, body
      FROM lake_stage WHERE rule IS NOT NULL
     ORDER BY record_no
        ON CONFLICT (event_id, rule) DO NOTHING;
    PERFORM lake.insert_silver(fid);
    PERFORM lake.update_sales(fid, old_wm);
    PERFORM lake.update_tracking(fid);
    UPDATE gold.watermark SET max_event_time = new_max, watermark = new_max - lateness,
                              updated_at = now()
     WHERE id = 1;
    UPDATE lake.checkpoint SET last_file_id = fid, events = events + n, updated_at = now()
     WHERE name = 'promote';
    RETURN n;
END $$;

-- Promote the next bronze file after the checkpoint, in this transaction. Returns its file_id,
-- or 0 when every landed file is promoted. Promoters are serialised by an advisory lock.
CREATE OR REPLACE FUNCTION lake.promote_next() RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    fid bigint;
BEGIN
    PERFORM pg_advisory_xact_lock(hashtext('hubcap.promote'));
    SELECT min(f.file_id) INTO fid
      FROM bronze.capture_file f, lake.checkpoint c
     WHERE c.name = 'promote' AND f.file_id > c.last_file_id;
    IF fid IS NULL THEN
        RETURN 0;
    END IF;
    PERFORM lake.promote_file(fid);
    RETURN fid;
END $$;

-- Recompute the whole-history gold tables from silver.
CREATE OR REPLACE FUNCTION lake.refresh_gold() RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    min_orders integer := lake.setting('loyal_min_orders')::integer;
    days       interval := make_interval(days => lake.setting('loyal_days')::integer);
BEGIN
    PERFORM pg_advisory_xact_lock(hashtext('hubcap.promote'));
    TRUNCATE gold.top_products, gold.customer_summary, gold.cancellations_returns,
             gold.car_turnover;

    INSERT INTO gold.top_products
    SELECT row_number() OVER (ORDER BY revenue DESC, stock_code), stock_code, description,
           quantity, revenue
      FROM (SELECT stock_code, max(description) AS description, sum(quantity) AS quantity,
                   sum(quantity * unit_price) AS revenue
              FROM silver.order_line
             WHERE invoice_no NOT LIKE 'C%' AND stock_code !~* '^gift_'
               AND stock_code NOT IN (SELECT code FROM gold.non_product_code)
             GROUP BY stock_code
             ORDER BY revenue DESC, stock_code LIMIT 10) t;

    INSERT INTO gold.customer_summary
    WITH inv AS (
        SELECT customer_id, invoice_no, min(invoice_date) AS t
          FROM silver.order_line
         WHERE customer_id IS NOT NULL AND invoice_no NOT LIKE 'C%'
         GROUP BY customer_id, invoice_no),
    loyal AS (
        SELECT DISTINCT customer_id
          FROM (SELECT customer_id, t,
                       lead(t, min_orders - 1) OVER (PARTITION BY customer_id ORDER BY t) AS tn
                  FROM inv) x
         WHERE tn IS NOT NULL AND tn - t <= days)
    SELECT o.customer_id, sum(o.quantity * o.unit_price),
           count(DISTINCT o.invoice_no) FILTER (WHERE o.invoice_no NOT LIKE 'C%'), count(*),
           count(*) FILTER (WHERE o.quantity < 0),
           min(o.invoice_date) FILTER (WHERE o.invoice_no NOT LIKE 'C%'),
           max(o.invoice_date) FILTER (WHERE o.invoice_no NOT LIKE 'C%'),
           bool_or(l.customer_id IS NOT NULL)
      FROM silver.order_line o LEFT JOIN loyal l USING (customer_id)
     WHERE o.customer_id IS NOT NULL
     GROUP BY o.customer_id;

    INSERT INTO gold.cancellations_returns
    SELECT 1, x.invoices, x.cinv, x.clines, x.cvalue, x.rlines, x.rvalue,
           CASE WHEN x.invoices > 0 THEN round(x.cinv::numeric / x.invoices, 6) ELSE 0 END
      FROM (SELECT count(DISTINCT invoice_no) FILTER (WHERE invoice_no NOT LIKE 'C%') AS invoices,
                   count(DISTINCT invoice_no) FILTER (WHERE invoice_no LIKE 'C%') AS cinv,
                   count(*) FILTER (WHERE invoice_no LIKE 'C%') AS clines,
                   coalesce(-sum(quantity * unit_price) FILTER (WHERE invoice_no LIKE 'C%'), 0)
                       AS cvalue,
                   count(*) FILTER (WHERE invoice_no NOT LIKE 'C%' AND quantity < 0) AS rlines,
                   coalesce(-sum(quantity * unit_price)
                                FILTER (WHERE invoice_no NOT LIKE 'C%' AND quantity < 0), 0)
                       AS rvalue
              FROM silver.order_line) x;

    INSERT INTO gold.car_turnover
    SELECT make, model, count(*),
           count(*) FILTER (WHERE action IN ('sold', 'removed') AND date_removed IS NOT NULL),
           avg(extract(epoch FROM date_removed - date_listed) / 86400)
               FILTER (WHERE action IN ('sold', 'removed') AND date_removed IS NOT NULL),
           avg(price)
      FROM (SELECT DISTINCT ON (listing_id) *
              FROM silver.car_listing
             ORDER BY listing_id, event_time DESC, event_id DESC) latest
     GROUP BY make, model;
END $$;

-- What the pipeline has done: one row per figure (name, value).
CREATE OR REPLACE VIEW gold.pipeline_metrics AS
          SELECT 'bronze_files' AS name, count(*)::numeric AS value FROM bronze.capture_file
UNION ALL SELECT 'bronze_events', coalesce(sum(events), 0) FROM bronze.capture_file
UNION ALL SELECT 'promoted_files', count(*) FROM bronze.capture_file f, lake.checkpoint c
           WHERE c.name = 'promote' AND f.file_id <= c.last_file_id
UNION ALL SELECT 'silver_order_line', count(*) FROM silver.order_line
UNION ALL SELECT 'silver_order_status', count(*) FROM silver.order_status
UNION ALL SELECT 'silver_car_listing', count(*) FROM silver.car_listing
UNION ALL SELECT 'quarantine_' || rule, count(*) FROM silver.quarantine GROUP BY rule
UNION ALL SELECT 'watermark_epoch', extract(epoch FROM watermark) FROM gold.watermark
UNION ALL SELECT 'promote_lag_seconds', extract(epoch FROM now() - max(f.landed_at))
            FROM bronze.capture_file f, lake.checkpoint c
           WHERE c.name = 'promote' AND f.file_id > c.last_file_id;
