-- 003_gold.sql - gold: the watermark, business aggregates, and the promotion functions the
-- receiver calls (lake.promote_plan, lake.known_ids, lake.silver_ahead, lake.promote_staged,
-- lake.refresh_gold, lake.reset).
--
-- Gold is maintained incrementally: a promotion reads only the bronze records it promotes and
-- adds their sums to gold and to the state tables lake.agg_* (distinct invoices per window, per
-- customer and overall, per product, each car listing's latest state), so its cost follows the
-- new data, not the history. Sums are exact (numeric of a fixed scale), so gold does not depend
-- on how the files were batched: rebuild (large batches) gives the same gold as many small calls.
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
    grain        text COLLATE "C" NOT NULL CHECK (grain IN ('minute', 'hour', 'day')),
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
CREATE TABLE IF NOT EXISTS gold.non_product_code (code text COLLATE "C" PRIMARY KEY);
INSERT INTO gold.non_product_code (code) VALUES
    ('POST'), ('DOT'), ('M'), ('m'), ('D'), ('C2'), ('S'), ('B'), ('BANK CHARGES'), ('CRUK'),
    ('PADS'), ('AMAZONFEE'), ('ADJUST'), ('ADJUST2'), ('TEST001'), ('TEST002')
ON CONFLICT DO NOTHING;

-- The 10 products with the most revenue (net of returns on ordinary invoices); cancellation
-- invoices ('C...') and non-product codes left out. Ties: the lower stock code first.
CREATE TABLE IF NOT EXISTS gold.top_products (
    rank        integer PRIMARY KEY,
    stock_code  text COLLATE "C" NOT NULL,
    description text COLLATE "C",
    quantity    bigint  NOT NULL,
    revenue     numeric NOT NULL
);

CREATE TABLE IF NOT EXISTS gold.customer_summary (
    customer_id   text COLLATE "C" PRIMARY KEY,
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
    tracking_num       text COLLATE "C" PRIMARY KEY,
    order_id           text COLLATE "C" NOT NULL,
    status             text COLLATE "C" NOT NULL,
    status_time        timestamptz NOT NULL,
    estimated_delivery timestamptz,
    carrier            text COLLATE "C",
    event_id           text COLLATE "C" NOT NULL
);

-- Per make and model: listings seen, listings gone (sold or removed), the mean days from
-- date_listed to date_removed of those gone, and the mean of each listing's latest price.
-- A listing's state is its latest event (event_time, then event_id).
CREATE TABLE IF NOT EXISTS gold.car_turnover (
    make           text COLLATE "C" NOT NULL,
    model          text COLLATE "C" NOT NULL,
    listings       bigint  NOT NULL,
    removed        bigint  NOT NULL,
    avg_days_listed numeric,
    avg_price      numeric NOT NULL,
    PRIMARY KEY (make, model)
);

-- Promotion settings beside the gold ones in lake.config.
INSERT INTO lake.config (key, value) VALUES
    ('promote_batch_events', '250000'), -- bronze records promoted per transaction, at most
    ('promote_split_events', '20000')   -- a batch this large has its silver rows written on a
                                        -- second connection while the first updates gold
ON CONFLICT (key) DO NOTHING;

-- State behind the whole-history gold tables, kept by promotion (not for readers).
-- Each invoice seen, with each minute it had lines in (cancellations: 'C...'): whether an
-- invoice is new overall, or in a minute, hour or day window, is one index lookup.
CREATE TABLE IF NOT EXISTS lake.agg_invoice_minute (
    invoice_no text COLLATE "C" NOT NULL,
    minute     timestamptz NOT NULL,
    PRIMARY KEY (invoice_no, minute)
);
-- Each customer's ordinary invoices and when each was placed (its earliest invoice_date).
CREATE TABLE IF NOT EXISTS lake.agg_customer_invoice (
    customer_id text COLLATE "C" NOT NULL,
    invoice_no  text COLLATE "C" NOT NULL,
    placed      timestamptz NOT NULL,
    PRIMARY KEY (customer_id, invoice_no)
);
-- Per stock code, over the lines of ordinary invoices (top_products picks from it).
CREATE TABLE IF NOT EXISTS lake.agg_product (
    stock_code  text COLLATE "C" PRIMARY KEY,
    description text COLLATE "C",
    quantity    bigint  NOT NULL,
    revenue     numeric NOT NULL
);
-- Each car listing's latest event (event_time, then event_id).
CREATE TABLE IF NOT EXISTS lake.agg_listing (
    listing_id   text COLLATE "C" PRIMARY KEY,
    event_time   timestamptz    NOT NULL,
    event_id     text COLLATE "C" NOT NULL,
    make         text COLLATE "C" NOT NULL,
    model        text COLLATE "C" NOT NULL,
    price        numeric(14, 2) NOT NULL,
    gone         boolean        NOT NULL, -- sold or removed, with a date_removed
    listed_secs  numeric,                 -- date_removed - date_listed in seconds, when gone
    CONSTRAINT agg_listing_gone CHECK (gone = (listed_secs IS NOT NULL))
);
-- Per make and model, over the listings' latest states (car_turnover is derived from it).
CREATE TABLE IF NOT EXISTS lake.agg_car (
    make        text COLLATE "C" NOT NULL,
    model       text COLLATE "C" NOT NULL,
    listings    bigint  NOT NULL,
    removed     bigint  NOT NULL,
    listed_secs numeric NOT NULL, -- sum over the removed ones
    price       numeric NOT NULL, -- sum of latest prices
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
             gold.cancellations_returns, gold.order_tracking, gold.car_turnover,
             lake.agg_invoice_minute, lake.agg_customer_invoice,
             lake.agg_product, lake.agg_listing, lake.agg_car;
    UPDATE gold.watermark SET max_event_time = NULL, watermark = NULL, updated_at = now();
    UPDATE lake.checkpoint SET last_file_id = 0, events = 0, updated_at = now()
     WHERE name = 'promote';
    UPDATE lake.silver_written SET hi = 0;
END $$;

-- The invoices of the new order lines (lake_oi) per minute, into lake_inv (invoice_no, minute,
-- fresh), and lake.agg_invoice_minute. fresh: 4 the invoice is new, 3 new in the minute's day,
-- 2 in its hour, 1 in the minute, 0 not new (the CASE probes lazily: a new invoice costs one
-- lookup). Sales and orders count distinct invoices from it.
CREATE OR REPLACE FUNCTION lake.note_invoices() RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    DROP TABLE IF EXISTS lake_inv;
    CREATE TEMP TABLE lake_inv ON COMMIT DROP AS
    SELECT invoice_no, minute,
           CASE WHEN NOT EXISTS (SELECT 1 FROM lake.agg_invoice_minute a
                                  WHERE a.invoice_no = p.invoice_no) THEN 4
                WHEN NOT EXISTS (SELECT 1 FROM lake.agg_invoice_minute a
                                  WHERE a.invoice_no = p.invoice_no
                                    AND a.minute >= date_trunc('day', p.minute, 'UTC')
                                    AND a.minute < date_trunc('day', p.minute, 'UTC')
                                                   + interval '1 day') THEN 3
                WHEN NOT EXISTS (SELECT 1 FROM lake.agg_invoice_minute a
                                  WHERE a.invoice_no = p.invoice_no
                                    AND a.minute >= date_trunc('hour', p.minute, 'UTC')
                                    AND a.minute < date_trunc('hour', p.minute, 'UTC')
                                                   + interval '1 hour') THEN 2
                WHEN NOT EXISTS (SELECT 1 FROM lake.agg_invoice_minute a
                                  WHERE a.invoice_no = p.invoice_no
                                    AND a.minute = p.minute) THEN 1
                ELSE 0 END AS fresh
      FROM (SELECT DISTINCT invoice_no, minute FROM lake_oi) p;
    INSERT INTO lake.agg_invoice_minute SELECT invoice_no, minute FROM lake_inv WHERE fresh > 0;
END $$;

-- Add the new order lines (their sums, lake_oi) to the sales windows. A window that ended at or
-- before the watermark as it stood before a file was final for that file: its lines count as
-- late, and the window's revision goes up once per such file (not for the file that creates the
-- window).
-- invoices: the distinct invoices new in the window (lake_inv). The lines come summed per minute
-- and file; the hours and days are sums of those minutes.
CREATE OR REPLACE FUNCTION lake.update_sales() RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    DROP TABLE IF EXISTS lake_win;
    CREATE TEMP TABLE lake_win ON COMMIT DROP AS
    WITH per_minute AS (
        SELECT minute AS m, file_id, sum(sales) AS sales, sum(lines) AS lines
          FROM lake_oi GROUP BY 1, 2),
    per_file AS (
        SELECT g.grain, date_trunc(g.grain, p.m, 'UTC') AS ws, g.len, p.file_id,
               sum(p.sales) AS sales, sum(p.lines) AS lines,
               bool_or(date_trunc(g.grain, p.m, 'UTC') + g.len <= f.old_wm) AS final
          FROM per_minute p JOIN lake_files f USING (file_id)
         CROSS JOIN (VALUES ('minute', interval '1 minute'), ('hour', interval '1 hour'),
                            ('day', interval '1 day')) g (grain, len)
         GROUP BY 1, 2, 3, 4)
    SELECT grain, ws, ws + len AS we, sum(sales) AS sales, sum(lines) AS lines,
           sum(lines) FILTER (WHERE final) AS late, count(*) FILTER (WHERE final) AS finals,
           (array_agg(final ORDER BY file_id))[1] AS first_final, max(file_id) AS file_id,
           0::bigint AS invoices
      FROM per_file GROUP BY grain, ws, len;
    WITH c AS (
        SELECT 'minute' AS grain, minute AS ws, count(*) AS k
          FROM lake_inv WHERE fresh >= 1 GROUP BY minute
        UNION ALL
        SELECT 'hour', date_trunc('hour', minute, 'UTC'), count(DISTINCT invoice_no)
          FROM lake_inv WHERE fresh >= 2 GROUP BY 2
        UNION ALL
        SELECT 'day', date_trunc('day', minute, 'UTC'), count(DISTINCT invoice_no)
          FROM lake_inv WHERE fresh >= 3 GROUP BY 2)
    UPDATE lake_win w SET invoices = c.k FROM c
     WHERE w.grain = c.grain AND w.ws = c.ws;
    UPDATE gold.sales_by_window s
       SET sales = s.sales + w.sales, lines = s.lines + w.lines,
           invoices = s.invoices + w.invoices, revision = s.revision + w.finals,
           late_events = s.late_events + coalesce(w.late, 0), file_id = w.file_id
      FROM lake_win w
     WHERE s.grain = w.grain AND s.window_start = w.ws;
    INSERT INTO gold.sales_by_window
           (grain, window_start, window_end, sales, lines, invoices, revision, late_events, file_id)
    SELECT grain, ws, we, sales, lines, invoices,
           finals - CASE WHEN first_final THEN 1 ELSE 0 END, coalesce(late, 0), file_id
      FROM lake_win
        ON CONFLICT (grain, window_start) DO NOTHING;
END $$;

-- Parcels, from the order statuses this batch put in silver (lake_os: all of them, or only the
-- latest of each parcel): a newer status_time (then a greater event_id) wins.
CREATE OR REPLACE FUNCTION lake.update_tracking() RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO gold.order_tracking AS t
    SELECT DISTINCT ON (tracking_num) tracking_num, order_id, status, status_time,
           estimated_delivery, carrier, event_id
      FROM lake_os
     ORDER BY tracking_num, status_time DESC, event_id DESC
        ON CONFLICT (tracking_num) DO UPDATE
       SET order_id = excluded.order_id, status = excluded.status,
           status_time = excluded.status_time, estimated_delivery = excluded.estimated_delivery,
           carrier = excluded.carrier, event_id = excluded.event_id
     WHERE (excluded.status_time, excluded.event_id) > (t.status_time, t.event_id);
END $$;

-- Customers, products, cancellations and returns: the new lines' sums added.
CREATE OR REPLACE FUNCTION lake.update_orders() RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    min_orders integer := lake.setting('loyal_min_orders')::integer;
    days       interval := make_interval(days => lake.setting('loyal_days')::integer);
BEGIN
    INSERT INTO lake.agg_product AS p
    SELECT stock_code, description, quantity, revenue FROM lake_op
        ON CONFLICT (stock_code) DO UPDATE
       SET description = greatest(p.description, excluded.description),
           quantity = p.quantity + excluded.quantity, revenue = p.revenue + excluded.revenue;

    INSERT INTO lake.agg_customer_invoice AS ci
    SELECT customer_id, invoice_no, min(first_date)
      FROM lake_oi WHERE customer_id IS NOT NULL AND invoice_no NOT LIKE 'C%'
     GROUP BY customer_id, invoice_no
        ON CONFLICT (customer_id, invoice_no) DO UPDATE SET placed = excluded.placed
     WHERE excluded.placed < ci.placed;
    INSERT INTO gold.customer_summary AS s
    SELECT customer_id, sum(sales), 0, sum(lines), sum(returned),
           min(first_date) FILTER (WHERE invoice_no NOT LIKE 'C%'),
           max(last_date) FILTER (WHERE invoice_no NOT LIKE 'C%'), false
      FROM lake_oi WHERE customer_id IS NOT NULL
     GROUP BY customer_id
        ON CONFLICT (customer_id) DO UPDATE
       SET spend = s.spend + excluded.spend, lines = s.lines + excluded.lines,
           returned_lines = s.returned_lines + excluded.returned_lines,
           first_order = least(s.first_order, excluded.first_order),
           last_order = greatest(s.last_order, excluded.last_order);
    -- orders and loyal: from the invoices of the customers these lines touched
    UPDATE gold.customer_summary s SET orders = x.orders, loyal = x.loyal
      FROM (SELECT customer_id, count(*) AS orders,
                   coalesce(bool_or(nth - placed <= days), false) AS loyal
              FROM (SELECT ci.customer_id, ci.placed,
                           lead(ci.placed, min_orders - 1)
                               OVER (PARTITION BY ci.customer_id ORDER BY ci.placed) AS nth
                      FROM lake.agg_customer_invoice ci
                     WHERE ci.customer_id IN (SELECT customer_id FROM lake_oi
                                               WHERE invoice_no NOT LIKE 'C%')) w
             GROUP BY customer_id) x
     WHERE s.customer_id = x.customer_id;

    WITH n AS (SELECT DISTINCT invoice_no FROM lake_inv WHERE fresh = 4),
    d AS (
        SELECT (SELECT count(*) FROM n WHERE invoice_no NOT LIKE 'C%') AS invoices,
               (SELECT count(*) FROM n WHERE invoice_no LIKE 'C%') AS cinv,
               coalesce(sum(lines) FILTER (WHERE invoice_no LIKE 'C%'), 0) AS clines,
               coalesce(-sum(sales) FILTER (WHERE invoice_no LIKE 'C%'), 0) AS cvalue,
               coalesce(sum(returned) FILTER (WHERE invoice_no NOT LIKE 'C%'), 0) AS rlines,
               coalesce(-sum(returned_value) FILTER (WHERE invoice_no NOT LIKE 'C%'), 0) AS rvalue
          FROM lake_oi)
    INSERT INTO gold.cancellations_returns AS c
    SELECT 1, d.invoices, d.cinv, d.clines, d.cvalue, d.rlines, d.rvalue,
           CASE WHEN d.invoices > 0 THEN round(d.cinv::numeric / d.invoices, 6) ELSE 0 END
      FROM d
        ON CONFLICT (id) DO UPDATE
       SET invoices = c.invoices + excluded.invoices,
           cancelled_invoices = c.cancelled_invoices + excluded.cancelled_invoices,
           cancelled_lines = c.cancelled_lines + excluded.cancelled_lines,
           cancelled_value = c.cancelled_value + excluded.cancelled_value,
           returned_lines = c.returned_lines + excluded.returned_lines,
           returned_value = c.returned_value + excluded.returned_value,
           cancellation_rate = CASE WHEN c.invoices + excluded.invoices > 0
               THEN round((c.cancelled_invoices + excluded.cancelled_invoices)::numeric
                          / (c.invoices + excluded.invoices), 6) ELSE 0 END;
END $$;

-- Car listings, from those this batch put in silver (lake_cl: all of them, or only the latest of
-- each listing): each listing's latest state replaced when a newer event came; the per make and
-- model sums take the old state out and the new one in.
CREATE OR REPLACE FUNCTION lake.update_cars() RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    DROP TABLE IF EXISTS lake_cars;
    CREATE TEMP TABLE lake_cars ON COMMIT DROP AS
    SELECT n.*, o.make AS old_make, o.model AS old_model, o.price AS old_price,
           o.gone AS old_gone, o.listed_secs AS old_secs, o.listing_id IS NOT NULL AS had
      FROM (SELECT DISTINCT ON (listing_id) listing_id, event_time, event_id, make, model, price,
                   action IN ('sold', 'removed') AND date_removed IS NOT NULL AS gone,
                   CASE WHEN action IN ('sold', 'removed') AND date_removed IS NOT NULL
                        THEN extract(epoch FROM date_removed - date_listed) END AS listed_secs
              FROM lake_cl
             ORDER BY listing_id, event_time DESC, event_id DESC) n
      LEFT JOIN lake.agg_listing o USING (listing_id)
     WHERE o.listing_id IS NULL OR (n.event_time, n.event_id) > (o.event_time, o.event_id);
    INSERT INTO lake.agg_listing AS a
    SELECT listing_id, event_time, event_id, make, model, price, gone, listed_secs FROM lake_cars
        ON CONFLICT (listing_id) DO UPDATE
       SET event_time = excluded.event_time, event_id = excluded.event_id, make = excluded.make,
           model = excluded.model, price = excluded.price, gone = excluded.gone,
           listed_secs = excluded.listed_secs;
    INSERT INTO lake.agg_car AS a
    SELECT make, model, sum(listings), sum(removed), sum(secs), sum(price)
      FROM (SELECT make, model, 1 AS listings, gone::int AS removed, coalesce(listed_secs, 0) AS secs,
                   price FROM lake_cars
            UNION ALL
            SELECT old_make, old_model, -1, -old_gone::int, -coalesce(old_secs, 0), -old_price
              FROM lake_cars WHERE had) x
     GROUP BY make, model
        ON CONFLICT (make, model) DO UPDATE
       SET listings = a.listings + excluded.listings, removed = a.removed + excluded.removed,
           listed_secs = a.listed_secs + excluded.listed_secs, price = a.price + excluded.price;
    DELETE FROM lake.agg_car WHERE listings = 0;
END $$;

-- Derive the gold tables that are views of the state tables: top products (of lake.agg_product,
-- ordinary products only) and car turnover (of lake.agg_car). Cheap: their size is the number of
-- products and of car models. Called by every promotion that promoted something.
CREATE OR REPLACE FUNCTION lake.refresh_gold() RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(hashtext('hubcap.promote'));
    DELETE FROM gold.top_products;
    INSERT INTO gold.top_products
    SELECT row_number() OVER (ORDER BY revenue DESC, stock_code), stock_code, description,
           quantity, revenue
      FROM (SELECT * FROM lake.agg_product
             WHERE stock_code !~* '^gift_'
               AND stock_code NOT IN (SELECT code FROM gold.non_product_code)
             ORDER BY revenue DESC, stock_code LIMIT 10) t;
    DELETE FROM gold.car_turnover;
    INSERT INTO gold.car_turnover
    SELECT make, model, listings, removed,
           CASE WHEN removed > 0 THEN listed_secs / 86400 / removed END, price / listings
      FROM lake.agg_car;
END $$;

-- The batch of bronze files after the file lo: (lo, hi] with n records, as many files as make
-- promote_batch_events records (an eighth of that for the first batch of a promotion: the
-- receiver reads the next batch while PostgreSQL promotes one, and only the first is read
-- alone), at least one file; hi is NULL when there is no file after lo. The receiver asks it for
-- the next batch while PostgreSQL promotes the current one; lake.promote_plan names the same
-- batch unless new files landed in between.
CREATE OR REPLACE FUNCTION lake.batch_after(lo bigint, first boolean, OUT hi bigint, OUT n bigint)
LANGUAGE sql STABLE AS $$
    SELECT max(file_id), sum(events)
      FROM (SELECT file_id, events, sum(events) OVER (ORDER BY file_id) - events AS before
              FROM bronze.capture_file WHERE file_id > lo) f
     WHERE before < lake.setting('promote_batch_events')::bigint / CASE WHEN first THEN 8 ELSE 1 END
        OR before = 0
$$;

-- Begin promoting the next bronze files after the checkpoint (lo, hi]: as many as make
-- promote_batch_events records, at least one; hi is NULL when every landed file is promoted.
-- Takes the advisory lock that serialises promoters (for this transaction), and creates the temp
-- tables the promoter (receiver/lake/promote.c) fills with COPY before lake.promote_staged:
-- lake_ol, lake_os, lake_cl (rows for silver: one copy of each event silver does not hold yet,
-- checked and typed by common/rules.c; when the receiver writes silver itself, no lake_ol and
-- only the latest row of each parcel and listing in lake_os and lake_cl), lake_oi and
-- lake_op (the order lines' sums, receiver/lake/orders.h), lake_q (records for the quarantine)
-- and lake_files (per
-- file, the watermark before it and the running maximum of valid event times after it). max_us:
-- the greatest valid event time promoted so far; lateness_us, horizon_us, split_events:
-- lake.config's settings.
CREATE OR REPLACE FUNCTION lake.promote_plan(first boolean, OUT lo bigint, OUT hi bigint,
                                             OUT n bigint,
                                             OUT max_us bigint, OUT lateness_us bigint,
                                             OUT horizon_us bigint, OUT split_events bigint)
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(hashtext('hubcap.promote'));
    SELECT last_file_id INTO lo FROM lake.checkpoint WHERE name = 'promote';
    SELECT r.hi, r.n INTO hi, n FROM lake.batch_after(lo, first) r;
    SELECT (extract(epoch FROM max_event_time) * 1000000)::bigint INTO max_us
      FROM gold.watermark WHERE id = 1;
    lateness_us :=
        (extract(epoch FROM lake.setting('allowed_lateness')::interval) * 1000000)::bigint;
    horizon_us := (extract(epoch FROM lake.setting('late_horizon')::interval) * 1000000)::bigint;
    split_events := lake.setting('promote_split_events')::bigint;
    DROP TABLE IF EXISTS lake_ol, lake_os, lake_cl, lake_oi, lake_op, lake_q, lake_files;
    IF hi IS NULL THEN
        RETURN;
    END IF;
    CREATE TEMP TABLE lake_ol (LIKE silver.order_line) ON COMMIT DROP;
    CREATE TEMP TABLE lake_os (LIKE silver.order_status) ON COMMIT DROP;
    CREATE TEMP TABLE lake_cl (LIKE silver.car_listing) ON COMMIT DROP;
    CREATE TEMP TABLE lake_oi (
        file_id bigint NOT NULL, minute timestamptz NOT NULL, invoice_no text COLLATE "C" NOT NULL,
        customer_id text COLLATE "C", sales numeric NOT NULL, lines bigint NOT NULL,
        returned bigint NOT NULL, returned_value numeric, first_date timestamptz NOT NULL,
        last_date timestamptz NOT NULL) ON COMMIT DROP;
    CREATE TEMP TABLE lake_op (
        stock_code text COLLATE "C" NOT NULL, description text COLLATE "C",
        quantity bigint NOT NULL, revenue numeric NOT NULL) ON COMMIT DROP;
    CREATE TEMP TABLE lake_q (
        file_id bigint NOT NULL, record_no integer NOT NULL, rule text NOT NULL,
        event_id text COLLATE "C", kind text) ON COMMIT DROP;
    CREATE TEMP TABLE lake_files (
        file_id bigint PRIMARY KEY, new_max timestamptz, old_wm timestamptz) ON COMMIT DROP;
END $$;

-- Of the event_ids ids (a batch's, one copy of each), those silver holds from a file up to lo
-- (an earlier batch: their rows are duplicates), in any kind's table. The receiver asks it as it
-- reads a batch, while PostgreSQL may still be writing the batch before (which it checks in its
-- own memory). A row silver holds from a file after lo was put there by this batch itself, by an
-- attempt whose silver committed but whose gold did not (the receiver writes silver on a second
-- connection, see receiver/lake/promote.h): it is not known, so the batch stages it again and gold
-- counts it. The probes are OR-ed EXISTS, which PostgreSQL runs as index lookups per id: a join
-- would be planned from silver's statistics, which until analyzed are an empty table's, and a
-- plan that scans silver costs the whole history per batch.
CREATE OR REPLACE FUNCTION lake.known_ids(lo bigint, ids text[]) RETURNS SETOF text
LANGUAGE sql STABLE AS $$
    SELECT u.id FROM unnest(ids) AS u (id)
     WHERE EXISTS (SELECT 1 FROM silver.order_line o
                    WHERE o.event_id = u.id COLLATE "C" AND o.file_id <= lo)
        OR EXISTS (SELECT 1 FROM silver.order_status o
                    WHERE o.event_id = u.id COLLATE "C" AND o.file_id <= lo)
        OR EXISTS (SELECT 1 FROM silver.car_listing o
                    WHERE o.event_id = u.id COLLATE "C" AND o.file_id <= lo)
$$;

-- The last file whose silver rows a promoter wrote on its own connection (the receiver's silver
-- writer updates it in the transaction that writes them). When it is after the checkpoint,
-- silver holds rows of files not promoted yet, left by an attempt whose gold did not commit.
CREATE TABLE IF NOT EXISTS lake.silver_written (
    id integer PRIMARY KEY CHECK (id = 1),
    hi bigint  NOT NULL
);
INSERT INTO lake.silver_written VALUES (1, 0) ON CONFLICT DO NOTHING;

CREATE OR REPLACE FUNCTION lake.silver_ahead() RETURNS boolean
LANGUAGE sql STABLE AS $$
    SELECT w.hi > c.last_file_id FROM lake.silver_written w, lake.checkpoint c
     WHERE w.id = 1 AND c.name = 'promote'
$$;

-- Insert the staged rows (after lake.known_ids) into silver. merge: silver may hold some of
-- them already (lake.silver_ahead: an earlier attempt of this batch left them, see
-- lake.known_ids), which are skipped while the staged rows stay for gold; else a plain INSERT.
CREATE OR REPLACE FUNCTION lake.insert_silver(merge boolean) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    IF merge THEN
        INSERT INTO silver.order_line SELECT * FROM lake_ol ON CONFLICT (event_id) DO NOTHING;
        INSERT INTO silver.order_status SELECT * FROM lake_os ON CONFLICT (event_id) DO NOTHING;
        INSERT INTO silver.car_listing SELECT * FROM lake_cl ON CONFLICT (event_id) DO NOTHING;
    ELSE
        INSERT INTO silver.order_line SELECT * FROM lake_ol;
        INSERT INTO silver.order_status SELECT * FROM lake_os;
        INSERT INTO silver.car_listing SELECT * FROM lake_cl;
    END IF;
END $$;

-- Finish promoting the files (lo, hi] (n records) staged by the promoter and cleared of known
-- events (lake.known_ids): silver (silver: 'insert' or 'merge', lake.insert_silver; 'none': the
-- promoter writes it on a second connection, committed before this transaction), the quarantine
-- (a too_late copy of an event that an earlier batch put in silver is a duplicate, not
-- quarantined; the promoter left out those of an earlier file of this batch), then gold from the
-- rows this batch put in silver (the order lines summed in lake_oi and lake_op; lake_os, lake_cl),
-- the watermark (new_max: the running maximum after hi) and the checkpoint. Returns hi.
CREATE OR REPLACE FUNCTION lake.promote_staged(lo bigint, hi bigint, n bigint,
                                               new_max timestamptz, silver text)
RETURNS bigint
LANGUAGE plpgsql
-- the staging tables' statistics from 3,000 sampled rows, not 30,000 (an ANALYZE of a 150k-row
-- batch cost 0.13 s); no JIT compilation (it cost more than it saved)
SET work_mem = '64MB' SET default_statistics_target = 10 SET jit = off AS $$
BEGIN
    IF silver <> 'none' THEN
        PERFORM lake.insert_silver(silver = 'merge');
    END IF;
    ANALYZE lake_oi;
    ANALYZE lake_op;
    ANALYZE lake_os;
    ANALYZE lake_cl;
    ANALYZE lake_q;
    ANALYZE lake_files;
    INSERT INTO silver.quarantine (rule, detail, event_id, kind, file_id, record_no, raw)
    SELECT q.rule, NULL, q.event_id, q.kind, q.file_id, q.record_no, e.body
      FROM lake_q q JOIN bronze.event e USING (file_id, record_no)
     WHERE q.rule <> 'too_late'
        OR NOT (EXISTS (SELECT 1 FROM silver.order_line o
                         WHERE o.event_id = q.event_id AND o.file_id < q.file_id)
                OR EXISTS (SELECT 1 FROM silver.order_status o
                            WHERE o.event_id = q.event_id AND o.file_id < q.file_id)
                OR EXISTS (SELECT 1 FROM silver.car_listing o
                            WHERE o.event_id = q.event_id AND o.file_id < q.file_id))
     ORDER BY q.file_id, q.record_no
        ON CONFLICT (event_id, rule) DO NOTHING;
    PERFORM lake.note_invoices();
    PERFORM lake.update_sales();
    PERFORM lake.update_orders();
    PERFORM lake.update_tracking();
    PERFORM lake.update_cars();
    PERFORM lake.refresh_gold();
    UPDATE gold.watermark
       SET max_event_time = new_max,
           watermark = new_max - lake.setting('allowed_lateness')::interval, updated_at = now()
     WHERE id = 1;
    UPDATE lake.checkpoint SET last_file_id = hi, events = events + n, updated_at = now()
     WHERE name = 'promote';
    RETURN hi;
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
