-- 002_silver.sql - silver: one typed table per kind, deduplicated on event_id, and the
-- quarantine. Promotion takes several bronze files at a time but decides as if it went one file
-- at a time in file_id order (lake.promote_plan and lake.promote_staged in 003_gold.sql), so a
-- replay (rebuild) makes the same decisions however the files were batched.
--
-- The validation rules and the typing are done by the receiver as it reads bronze (common/rules.h
-- documents them and their order; the first that fails names the quarantine row): not_json,
-- missing_field, unknown_kind, bad_number, bad_timestamp, negative_price, unknown_status,
-- unknown_action, bad_vin; too_late is decided from the watermark (see 003_gold.sql). A record
-- whose event_id is already in silver is a duplicate and is dropped, not quarantined.
--
-- Texts in silver, gold and lake.agg_* compare byte by byte (COLLATE "C"): ids and codes are not
-- words, their order (ties in top_products, the greater event_id) must not depend on the
-- database's locale, and a C comparison costs a fraction of a locale's (index upkeep and the
-- duplicate probes halve).
CREATE SCHEMA IF NOT EXISTS silver;

CREATE TABLE IF NOT EXISTS silver.order_line (
    event_id     text COLLATE "C" PRIMARY KEY,
    device_id    text COLLATE "C",
    event_time   timestamptz NOT NULL,
    invoice_no   text COLLATE "C" NOT NULL,
    stock_code   text COLLATE "C" NOT NULL,
    description  text COLLATE "C",
    quantity     integer     NOT NULL,
    unit_price   numeric(14, 4) NOT NULL,
    invoice_date timestamptz NOT NULL,
    customer_id  text COLLATE "C",
    country      text COLLATE "C" NOT NULL,
    file_id      bigint      NOT NULL
);
CREATE INDEX IF NOT EXISTS order_line_customer ON silver.order_line (customer_id);

CREATE TABLE IF NOT EXISTS silver.order_status (
    event_id           text COLLATE "C" PRIMARY KEY,
    device_id          text COLLATE "C",
    event_time         timestamptz NOT NULL,
    tracking_num       text COLLATE "C" NOT NULL,
    order_id           text COLLATE "C" NOT NULL,
    status             text COLLATE "C" NOT NULL,
    status_time        timestamptz NOT NULL,
    estimated_delivery timestamptz,
    carrier            text COLLATE "C",
    file_id            bigint      NOT NULL
);

CREATE TABLE IF NOT EXISTS silver.car_listing (
    event_id     text COLLATE "C" PRIMARY KEY,
    device_id    text COLLATE "C",
    event_time   timestamptz NOT NULL,
    listing_id   text COLLATE "C" NOT NULL,
    vin          text COLLATE "C" NOT NULL,
    make         text COLLATE "C" NOT NULL,
    model        text COLLATE "C" NOT NULL,
    year         integer,
    mileage_km   numeric,
    price        numeric(14, 2) NOT NULL,
    currency     text COLLATE "C",
    dealer_id    text COLLATE "C",
    action       text COLLATE "C" NOT NULL,
    date_listed  timestamptz NOT NULL,
    date_removed timestamptz,
    file_id      bigint      NOT NULL
);

-- One row per rejected record; a duplicate of a rejected event (same event_id and rule) is not
-- counted twice. Records without a usable event_id (not_json ...) cannot be deduplicated.
CREATE TABLE IF NOT EXISTS silver.quarantine (
    id             bigserial PRIMARY KEY,
    rule           text COLLATE "C" NOT NULL,
    detail         text COLLATE "C",
    event_id       text COLLATE "C",
    kind           text COLLATE "C",
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
