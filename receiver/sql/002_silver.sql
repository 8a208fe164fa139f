-- 002_silver.sql - silver: one typed table per kind, deduplicated on event_id, and the
-- quarantine. Promotion takes several bronze files at a time but decides as if it went one file
-- at a time in file_id order (lake.promote_next in 003_gold.sql), so a replay (rebuild) makes the
-- same decisions however the files were batched.
--
-- Validation rules, checked in this order (the first that fails names the quarantine row):
--   not_json        the body is not a JSON object (or not UTF-8)
--   missing_field   an envelope field (event_id, kind, event_time, data object) or a required
--                   field of the kind is absent or null
--   unknown_kind    kind is not order_line, order_status or car_listing
--   bad_number      a numeric field is not a JSON number (quantity and year: an integer of at
--                   most 9 digits; unit_price and price: what their silver column can hold)
--   bad_timestamp   a time is not ISO 8601 "YYYY-MM-DDThh:mm:ss[.ffffff](Z|±hh:mm)" or not a
--                   real date and time (hours 00-23, seconds 00-59, offsets up to ±15:59)
--   negative_price  unit_price or price below zero
--   unknown_status  order_status.status outside the Olist set
--   unknown_action  car_listing.action outside listed, price_changed, sold, removed
--   bad_vin         a VIN that is not 17 characters of [A-HJ-NPR-Z0-9]
--   too_late        event_time before watermark - late_horizon (see 003_gold.sql)
-- A record whose event_id is already in silver is a duplicate and is dropped, not quarantined.
CREATE SCHEMA IF NOT EXISTS silver;

CREATE TABLE IF NOT EXISTS silver.order_line (
    event_id     text PRIMARY KEY,
    device_id    text,
    event_time   timestamptz NOT NULL,
    invoice_no   text        NOT NULL,
    stock_code   text        NOT NULL,
    description  text,
    quantity     integer     NOT NULL,
    unit_price   numeric(14, 4) NOT NULL,
    invoice_date timestamptz NOT NULL,
    customer_id  text,
    country      text        NOT NULL,
    file_id      bigint      NOT NULL
);
CREATE INDEX IF NOT EXISTS order_line_customer ON silver.order_line (customer_id);
CREATE INDEX IF NOT EXISTS order_line_time ON silver.order_line (event_time);
CREATE INDEX IF NOT EXISTS order_line_file ON silver.order_line (file_id);

CREATE TABLE IF NOT EXISTS silver.order_status (
    event_id           text PRIMARY KEY,
    device_id          text,
    event_time         timestamptz NOT NULL,
    tracking_num       text        NOT NULL,
    order_id           text        NOT NULL,
    status             text        NOT NULL,
    status_time        timestamptz NOT NULL,
    estimated_delivery timestamptz,
    carrier            text,
    file_id            bigint      NOT NULL
);
CREATE INDEX IF NOT EXISTS order_status_file ON silver.order_status (file_id);

CREATE TABLE IF NOT EXISTS silver.car_listing (
    event_id     text PRIMARY KEY,
    device_id    text,
    event_time   timestamptz NOT NULL,
    listing_id   text        NOT NULL,
    vin          text        NOT NULL,
    make         text        NOT NULL,
    model        text        NOT NULL,
    year         integer,
    mileage_km   numeric,
    price        numeric(14, 2) NOT NULL,
    currency     text,
    dealer_id    text,
    action       text        NOT NULL,
    date_listed  timestamptz NOT NULL,
    date_removed timestamptz,
    file_id      bigint      NOT NULL
);

-- One row per rejected record; a duplicate of a rejected event (same event_id and rule) is not
-- counted twice. Records without a usable event_id (not_json ...) cannot be deduplicated.
CREATE TABLE IF NOT EXISTS silver.quarantine (
    id             bigserial PRIMARY KEY,
    rule           text        NOT NULL,
    detail         text,
    event_id       text,
    kind           text,
    file_id        bigint      NOT NULL,
    record_no      integer     NOT NULL,
    raw            bytea,
    quarantined_at timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX IF NOT EXISTS quarantine_once ON silver.quarantine (event_id, rule);

-- Where promotion stands: the last bronze file whose records are in silver and gold. Updated in
-- the transaction that promotes that file.
CREATE TABLE IF NOT EXISTS lake.checkpoint (
    name         text PRIMARY KEY,
    last_file_id bigint      NOT NULL,
    events       bigint      NOT NULL DEFAULT 0,
    updated_at   timestamptz NOT NULL DEFAULT now()
);
INSERT INTO lake.checkpoint (name, last_file_id) VALUES ('promote', 0) ON CONFLICT DO NOTHING;

-- The body as JSON, or NULL when it is not UTF-8 JSON (a subtransaction per call: promotion
-- reads bronze.event.body_json instead, which the lander fills).
CREATE OR REPLACE FUNCTION silver.try_json(b bytea) RETURNS jsonb
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    RETURN convert_from(b, 'UTF8')::jsonb;
EXCEPTION WHEN others THEN
    RETURN NULL;
END $$;

-- Is t (not NULL) an ISO 8601 time as the generator and the seed data sets write it, and a real
-- one (days per month, 29 February of leap years, hours 00-23, minutes and seconds 00-59, offsets
-- up to ±15:59)? A text that passes always casts to timestamptz: no exception to catch. The shape
-- is compared with every digit made a 9, the month and day with the 366 real ones, the other
-- fields as texts ("C" collation: byte order); constant IN lists are hashed, so this costs a
-- fraction of a regular expression. An SQL function that the planner inlines; give
-- it a column, not an expression (t is read several times).
CREATE OR REPLACE FUNCTION silver.ts_valid(t text) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT translate(t, '012345678', '999999999') IN (
                '9999-99-99T99:99:99Z', '9999-99-99T99:99:99+99:99', '9999-99-99T99:99:99-99:99',
                '9999-99-99T99:99:99.9Z', '9999-99-99T99:99:99.9+99:99',
                '9999-99-99T99:99:99.9-99:99', '9999-99-99T99:99:99.99Z',
                '9999-99-99T99:99:99.99+99:99', '9999-99-99T99:99:99.99-99:99',
                '9999-99-99T99:99:99.999Z', '9999-99-99T99:99:99.999+99:99',
                '9999-99-99T99:99:99.999-99:99', '9999-99-99T99:99:99.9999Z',
                '9999-99-99T99:99:99.9999+99:99', '9999-99-99T99:99:99.9999-99:99',
                '9999-99-99T99:99:99.99999Z', '9999-99-99T99:99:99.99999+99:99',
                '9999-99-99T99:99:99.99999-99:99', '9999-99-99T99:99:99.999999Z',
                '9999-99-99T99:99:99.999999+99:99', '9999-99-99T99:99:99.999999-99:99')
       AND substr(t, 6, 5) IN (
                '01-01', '01-02', '01-03', '01-04', '01-05', '01-06', '01-07', '01-08', '01-09',
                '01-10', '01-11', '01-12', '01-13', '01-14', '01-15', '01-16', '01-17', '01-18',
                '01-19', '01-20', '01-21', '01-22', '01-23', '01-24', '01-25', '01-26', '01-27',
                '01-28', '01-29', '01-30', '01-31', '02-01', '02-02', '02-03', '02-04', '02-05',
                '02-06', '02-07', '02-08', '02-09', '02-10', '02-11', '02-12', '02-13', '02-14',
                '02-15', '02-16', '02-17', '02-18', '02-19', '02-20', '02-21', '02-22', '02-23',
                '02-24', '02-25', '02-26', '02-27', '02-28', '02-29', '03-01', '03-02', '03-03',
                '03-04', '03-05', '03-06', '03-07', '03-08', '03-09', '03-10', '03-11', '03-12',
                '03-13', '03-14', '03-15', '03-16', '03-17', '03-18', '03-19', '03-20', '03-21',
                '03-22', '03-23', '03-24', '03-25', '03-26', '03-27', '03-28', '03-29', '03-30',
                '03-31', '04-01', '04-02', '04-03', '04-04', '04-05', '04-06', '04-07', '04-08',
                '04-09', '04-10', '04-11', '04-12', '04-13', '04-14', '04-15', '04-16', '04-17',
                '04-18', '04-19', '04-20', '04-21', '04-22', '04-23', '04-24', '04-25', '04-26',
                '04-27', '04-28', '04-29', '04-30', '05-01', '05-02', '05-03', '05-04', '05-05',
                '05-06', '05-07', '05-08', '05-09', '05-10', '05-11', '05-12', '05-13', '05-14',
                '05-15', '05-16', '05-17', '05-18', '05-19', '05-20', '05-21', '05-22', '05-23',
                '05-24', '05-25', '05-26', '05-27', '05-28', '05-29', '05-30', '05-31', '06-01',
                '06-02', '06-03', '06-04', '06-05', '06-06', '06-07', '06-08', '06-09', '06-10',
                '06-11', '06-12', '06-13', '06-14', '06-15', '06-16', '06-17', '06-18', '06-19',
                '06-20', '06-21', '06-22', '06-23', '06-24', '06-25', '06-26', '06-27', '06-28',
                '06-29', '06-30', '07-01', '07-02', '07-03', '07-04', '07-05', '07-06', '07-07',
                '07-08', '07-09', '07-10', '07-11', '07-12', '07-13', '07-14', '07-15', '07-16',
                '07-17', '07-18', '07-19', '07-20', '07-21', '07-22', '07-23', '07-24', '07-25',
                '07-26', '07-27', '07-28', '07-29', '07-30', '07-31', '08-01', '08-02', '08-03',
                '08-04', '08-05', '08-06', '08-07', '08-08', '08-09', '08-10', '08-11', '08-12',
                '08-13', '08-14', '08-15', '08-16', '08-17', '08-18', '08-19', '08-20', '08-21',
                '08-22', '08-23', '08-24', '08-25', '08-26', '08-27', '08-28', '08-29', '08-30',
                '08-31', '09-01', '09-02', '09-03', '09-04', '09-05', '09-06', '09-07', '09-08',
                '09-09', '09-10', '09-11', '09-12', '09-13', '09-14', '09-15', '09-16', '09-17',
                '09-18', '09-19', '09-20', '09-21', '09-22', '09-23', '09-24', '09-25', '09-26',
                '09-27', '09-28', '09-29', '09-30', '10-01', '10-02', '10-03', '10-04', '10-05',
                '10-06', '10-07', '10-08', '10-09', '10-10', '10-11', '10-12', '10-13', '10-14',
                '10-15', '10-16', '10-17', '10-18', '10-19', '10-20', '10-21', '10-22', '10-23',
                '10-24', '10-25', '10-26', '10-27', '10-28', '10-29', '10-30', '10-31', '11-01',
                '11-02', '11-03', '11-04', '11-05', '11-06', '11-07', '11-08', '11-09', '11-10',
                '11-11', '11-12', '11-13', '11-14', '11-15', '11-16', '11-17', '11-18', '11-19',
                '11-20', '11-21', '11-22', '11-23', '11-24', '11-25', '11-26', '11-27', '11-28',
                '11-29', '11-30', '12-01', '12-02', '12-03', '12-04', '12-05', '12-06', '12-07',
                '12-08', '12-09', '12-10', '12-11', '12-12', '12-13', '12-14', '12-15', '12-16',
                '12-17', '12-18', '12-19', '12-20', '12-21', '12-22', '12-23', '12-24', '12-25',
                '12-26', '12-27', '12-28', '12-29', '12-30', '12-31')
       AND substr(t, 12, 2) COLLATE "C" <= '23' AND substr(t, 15, 1) COLLATE "C" <= '5'
       AND substr(t, 18, 1) COLLATE "C" <= '5'
       AND (right(t, 1) = 'Z' OR (substr(t, length(t) - 4, 2) COLLATE "C" <= '15'
                                  AND substr(t, length(t) - 1, 1) COLLATE "C" <= '5'))
       AND CASE WHEN substr(t, 6, 5) <> '02-29' THEN true
                WHEN translate(left(t, 4), '012345678', '999999999') <> '9999' THEN false
                ELSE left(t, 4)::integer % 4 = 0 AND (left(t, 4)::integer % 100 <> 0
                                                       OR left(t, 4)::integer % 400 = 0) END
       AND left(t, 4) <> '0000'
$$;

-- An ISO 8601 time as the generator and the seed data sets write it, or NULL.
CREATE OR REPLACE FUNCTION silver.try_ts(t text) RETURNS timestamptz
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN silver.ts_valid(t) THEN t::timestamptz END
$$;

-- Is the JSON value v (may be NULL: absent) a number (an integer when want_int)?
CREATE OR REPLACE FUNCTION silver.is_num(v jsonb, want_int boolean) RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$
    SELECT v IS NOT NULL AND jsonb_typeof(v) = 'number'
           AND (NOT want_int OR (v #>> '{}') ~ '^-?\d+$')
$$;

-- Is the JSON value absent or null?
CREATE OR REPLACE FUNCTION silver.absent(v jsonb) RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$
    SELECT v IS NULL OR jsonb_typeof(v) = 'null'
$$;

-- Is a present, non-null time t (the text of a JSON value: NULL when absent or null) valid?
CREATE OR REPLACE FUNCTION silver.ts_ok(t text) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT coalesce(silver.ts_valid(t), true)
$$;

-- Is the JSON value v a number that fits integer (at most 9 digits)? NULL (absent) is not.
CREATE OR REPLACE FUNCTION silver.int_ok(v jsonb) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT coalesce(jsonb_typeof(v) = 'number' AND (v #>> '{}') ~ '^-?[0-9]{1,9}$', false)
$$;

-- Is the JSON value v a number whose value rounded to scale digits is below lim in magnitude
-- (what a numeric(p, scale) column holds: lim = 10^(p - scale))? NULL (absent) is not.
CREATE OR REPLACE FUNCTION silver.num_ok(v jsonb, scale integer, lim numeric) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT coalesce(jsonb_typeof(v) = 'number'
                    AND abs(round(CASE WHEN jsonb_typeof(v) = 'number' THEN v::numeric END,
                                  scale)) < lim, false)
$$;

-- The rule a parsed record breaks, or NULL when it is valid (too_late aside), when times_ok
-- says whether its times are valid (see silver.check_rule). One SQL expression that the planner
-- inlines into the promotion query: no PL/pgSQL call per record.
CREATE OR REPLACE FUNCTION silver.check_rule_times(j jsonb, times_ok boolean) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
SELECT CASE
    WHEN j IS NULL OR jsonb_typeof(j) <> 'object' THEN 'not_json'
    WHEN j ->> 'event_id' IS NULL OR j ->> 'kind' IS NULL OR j ->> 'event_time' IS NULL
         OR jsonb_typeof(j -> 'data') IS DISTINCT FROM 'object' THEN 'missing_field'
    WHEN j ->> 'kind' NOT IN ('order_line', 'order_status', 'car_listing') THEN 'unknown_kind'
    WHEN j ->> 'kind' = 'order_line' THEN CASE
        WHEN j #>> '{data,invoice_no}' IS NULL OR j #>> '{data,stock_code}' IS NULL
             OR j #>> '{data,quantity}' IS NULL OR j #>> '{data,unit_price}' IS NULL
             OR j #>> '{data,invoice_date}' IS NULL OR j #>> '{data,country}' IS NULL
            THEN 'missing_field'
        WHEN NOT silver.int_ok(j #> '{data,quantity}')
             OR NOT silver.num_ok(j #> '{data,unit_price}', 4, 1e10) THEN 'bad_number'
        WHEN NOT times_ok THEN 'bad_timestamp'
        WHEN (j #> '{data,unit_price}')::numeric < 0 THEN 'negative_price'
        WHEN jsonb_typeof(j -> 'event_id') <> 'string' THEN 'missing_field'
        END
    WHEN j ->> 'kind' = 'order_status' THEN CASE
        WHEN j #>> '{data,tracking_num}' IS NULL OR j #>> '{data,order_id}' IS NULL
             OR j #>> '{data,status}' IS NULL OR j #>> '{data,status_time}' IS NULL
            THEN 'missing_field'
        WHEN NOT times_ok THEN 'bad_timestamp'
        WHEN j #>> '{data,status}' NOT IN ('created', 'approved', 'invoiced', 'processing',
                                           'shipped', 'delivered', 'canceled', 'unavailable',
                                           'returned') THEN 'unknown_status'
        WHEN jsonb_typeof(j -> 'event_id') <> 'string' THEN 'missing_field'
        END
    ELSE CASE
        WHEN j #>> '{data,listing_id}' IS NULL OR j #>> '{data,vin}' IS NULL
             OR j #>> '{data,make}' IS NULL OR j #>> '{data,model}' IS NULL
             OR j #>> '{data,price}' IS NULL OR j #>> '{data,action}' IS NULL
             OR j #>> '{data,date_listed}' IS NULL THEN 'missing_field'
        WHEN NOT silver.num_ok(j #> '{data,price}', 2, 1e12)
             OR NOT (j #>> '{data,year}' IS NULL OR silver.int_ok(j #> '{data,year}'))
             OR NOT (j #>> '{data,mileage_km}' IS NULL
                     OR jsonb_typeof(j #> '{data,mileage_km}') = 'number') THEN 'bad_number'
        WHEN NOT times_ok THEN 'bad_timestamp'
        WHEN (j #> '{data,price}')::numeric < 0 THEN 'negative_price'
        WHEN j #>> '{data,action}' NOT IN ('listed', 'price_changed', 'sold', 'removed')
            THEN 'unknown_action'
        WHEN j #>> '{data,vin}' !~ '^[A-HJ-NPR-Z0-9]{17}$' THEN 'bad_vin'
        WHEN jsonb_typeof(j -> 'event_id') <> 'string' THEN 'missing_field'
        END
    END
$$;

-- A record's times: event_time, and the kind's first (t1) and second (t2) time field.
CREATE OR REPLACE FUNCTION silver.time1(j jsonb) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE j ->> 'kind' WHEN 'order_line' THEN j #>> '{data,invoice_date}'
                             WHEN 'order_status' THEN j #>> '{data,status_time}'
                             ELSE j #>> '{data,date_listed}' END
$$;
CREATE OR REPLACE FUNCTION silver.time2(j jsonb) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE j ->> 'kind' WHEN 'order_status' THEN j #>> '{data,estimated_delivery}'
                             WHEN 'car_listing' THEN j #>> '{data,date_removed}' END
$$;

-- Are a record's times valid, given as texts (NULL: absent or null)?
CREATE OR REPLACE FUNCTION silver.times_ok(et text, t1 text, t2 text) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT silver.ts_ok(et) AND silver.ts_ok(t1) AND silver.ts_ok(t2)
$$;

-- The rule a parsed record breaks, or NULL when it is valid (too_late aside).
CREATE OR REPLACE FUNCTION silver.check_rule(j jsonb) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT silver.check_rule_times(j, silver.times_ok(j ->> 'event_time', silver.time1(j),
                                                      silver.time2(j)))
$$;
