-- 002_silver.sql - silver: one typed table per kind, deduplicated on event_id, and the
-- quarantine. Promotion goes one bronze file at a time, in file_id order (lake.promote_file), so
-- a replay (rebuild) sees the same batches and makes the same decisions.
--
-- Validation rules, checked in this order (the first that fails names the quarantine row):
--   not_json        the body is not a JSON object (or not UTF-8)
--   missing_field   an envelope field (event_id, kind, event_time, data object) or a required
--                   field of the kind is absent or null
--   unknown_kind    kind is not order_line, order_status or car_listing
--   bad_number      a numeric field is not a JSON number (quantity and year: an integer)
--   bad_timestamp   a time is not ISO 8601 "YYYY-MM-DDThh:mm:ss[.fff](Z|±hh:mm)" or not a real
--                   date and time
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

-- The body as JSON, or NULL when it is not UTF-8 JSON.
CREATE OR REPLACE FUNCTION silver.try_json(b bytea) RETURNS jsonb
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    RETURN convert_from(b, 'UTF8')::jsonb;
EXCEPTION WHEN others THEN
    RETURN NULL;
END $$;

-- An ISO 8601 time as the generator and the seed data sets write it, or NULL.
CREATE OR REPLACE FUNCTION silver.try_ts(t text) RETURNS timestamptz
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    IF t IS NULL OR t !~ '^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?(Z|[+-]\d{2}:\d{2})$' THEN
        RETURN NULL;
    END IF;
    RETURN t::timestamptz;
EXCEPTION WHEN others THEN
    RETURN NULL;
END $$;

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

-- Is a present, non-null value a valid time? (absent or null values pass: required-ness is
-- checked by missing_field)
CREATE OR REPLACE FUNCTION silver.ts_ok(v jsonb) RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$
    SELECT silver.absent(v)
           OR (jsonb_typeof(v) = 'string' AND silver.try_ts(v #>> '{}') IS NOT NULL)
$$;

-- The rule a parsed record breaks, or NULL when it is valid (too_late aside).
CREATE OR REPLACE FUNCTION silver.check_rule(j jsonb) RETURNS text
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    d jsonb;
    k text;
BEGIN
    IF j IS NULL OR jsonb_typeof(j) <> 'object' THEN
        RETURN 'not_json';
    END IF;
    IF silver.absent(j -> 'event_id') OR silver.absent(j -> 'kind')
       OR silver.absent(j -> 'event_time') OR jsonb_typeof(j -> 'data') IS DISTINCT FROM 'object' THEN
        RETURN 'missing_field';
    END IF;
    k := j ->> 'kind';
    d := j -> 'data';
    IF k NOT IN ('order_line', 'order_status', 'car_listing') THEN
        RETURN 'unknown_kind';
    END IF;
    IF k = 'order_line' THEN
        IF silver.absent(d -> 'invoice_no') OR silver.absent(d -> 'stock_code')
           OR silver.absent(d -> 'quantity') OR silver.absent(d -> 'unit_price')
           OR silver.absent(d -> 'invoice_date') OR silver.absent(d -> 'country') THEN
            RETURN 'missing_field';
        END IF;
        IF NOT silver.is_num(d -> 'quantity', true) OR NOT silver.is_num(d -> 'unit_price', false) THEN
            RETURN 'bad_number';
        END IF;
        IF NOT silver.ts_ok(j -> 'event_time') OR NOT silver.ts_ok(d -> 'invoice_date') THEN
            RETURN 'bad_timestamp';
        END IF;
        IF (d ->> 'unit_price')::numeric < 0 THEN
            RETURN 'negative_price';
        END IF;
    ELSIF k = 'order_status' THEN
        IF silver.absent(d -> 'tracking_num') OR silver.absent(d -> 'order_id')
           OR silver.absent(d -> 'status') OR silver.absent(d -> 'status_time') THEN
            RETURN 'missing_field';
        END IF;
        IF NOT silver.ts_ok(j -> 'event_time') OR NOT silver.ts_ok(d -> 'status_time')
           OR NOT silver.ts_ok(d -> 'estimated_delivery') THEN
            RETURN 'bad_timestamp';
        END IF;
        IF d ->> 'status' NOT IN ('created', 'approved', 'invoiced', 'processing', 'shipped',
                                  'delivered', 'canceled', 'unavailable', 'returned') THEN
            RETURN 'unknown_status';
        END IF;
    ELSE
        IF silver.absent(d -> 'listing_id') OR silver.absent(d -> 'vin')
           OR silver.absent(d -> 'make') OR silver.absent(d -> 'model')
           OR silver.absent(d -> 'price') OR silver.absent(d -> 'action')
           OR silver.absent(d -> 'date_listed') THEN
            RETURN 'missing_field';
        END IF;
        IF NOT silver.is_num(d -> 'price', false)
           OR NOT (silver.absent(d -> 'year') OR silver.is_num(d -> 'year', true))
           OR NOT (silver.absent(d -> 'mileage_km') OR silver.is_num(d -> 'mileage_km', false)) THEN
            RETURN 'bad_number';
        END IF;
        IF NOT silver.ts_ok(j -> 'event_time') OR NOT silver.ts_ok(d -> 'date_listed')
           OR NOT silver.ts_ok(d -> 'date_removed') THEN
            RETURN 'bad_timestamp';
        END IF;
        IF (d ->> 'price')::numeric < 0 THEN
            RETURN 'negative_price';
        END IF;
        IF d ->> 'action' NOT IN ('listed', 'price_changed', 'sold', 'removed') THEN
            RETURN 'unknown_action';
        END IF;
        IF d ->> 'vin' !~ '^[A-HJ-NPR-Z0-9]{17}$' THEN
            RETURN 'bad_vin';
        END IF;
    END IF;
    IF jsonb_typeof(j -> 'event_id') <> 'string' THEN
        RETURN 'missing_field';
    END IF;
    RETURN NULL;
END $$;
