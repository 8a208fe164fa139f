-- 001_bronze.sql - the control tables and bronze: capture files as they landed.
--
-- Applied by the receiver at start (receiver/lake/schema.c), once, in one transaction, recorded in
-- lake.schema_version. Every statement is idempotent as well (IF NOT EXISTS), so a half-applied
-- development database is no obstacle.
--
-- bronze.event keeps an event exactly as the capture file held it: the body as bytea (an event
-- body is bytes to Event Hubs, and a body that is not UTF-8 or not JSON must still land, so that
-- silver can quarantine it with a rule instead of bronze refusing it); the Properties and
-- SystemProperties maps as jsonb (long and double values as JSON numbers, string values as
-- strings, bytes values as {"$bytes": "<base64>"}). Promotion reads and checks the bodies itself
-- (common/rules.h); convert_from(body, 'UTF8')::jsonb reads one in SQL.
CREATE SCHEMA IF NOT EXISTS lake;
CREATE SCHEMA IF NOT EXISTS bronze;

-- Settings of promotion and gold; the defaults are inserted here, a deployment updates them.
CREATE TABLE IF NOT EXISTS lake.config (
    key   text PRIMARY KEY,
    value text NOT NULL
);
INSERT INTO lake.config (key, value) VALUES
    ('allowed_lateness', '5 minutes'),  -- watermark = max(event_time) - allowed_lateness
    ('late_horizon', '12 hours'),       -- events older than watermark - late_horizon: too_late
    ('loyal_min_orders', '3'),          -- loyal: at least this many orders ...
    ('loyal_days', '30')                -- ... within this many days
ON CONFLICT (key) DO NOTHING;

-- bronze.event.file_id names its bronze.capture_file row, which the lander inserts in the same
-- transaction as the events; there is no foreign key, whose check per row would cost as much as
-- the row itself (tools/bench/land.sh).
--
-- One row per capture file landed; (path, checksum) is unique, so a file lands once. path is
-- relative to the capture folder ({Namespace}/{EventHub}/{PartitionId}/.../{ss}.avro), so the
-- same file copied to another folder is still the same file.
CREATE TABLE IF NOT EXISTS bronze.capture_file (
    file_id      bigserial PRIMARY KEY,
    path         text        NOT NULL,
    size         bigint      NOT NULL,
    checksum     text        NOT NULL,  -- SHA-256 of the whole file, lowercase hex
    partition_id text        NOT NULL,  -- the {PartitionId} path component
    first_seq    bigint,                -- NULL for a file without records
    last_seq     bigint,
    events       bigint      NOT NULL,
    landed_at    timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT capture_file_once UNIQUE (path, checksum)
);

CREATE TABLE IF NOT EXISTS bronze.event (
    file_id           bigint      NOT NULL,  -- bronze.capture_file (see below)
    record_no         integer     NOT NULL,  -- 0-based position in the file
    partition_id      text        NOT NULL,
    sequence_number   bigint      NOT NULL,
    event_offset      text        NOT NULL,  -- Azure's Offset string
    enqueued_time     timestamptz NOT NULL,  -- x-opt-enqueued-time (ms), else EnqueuedTimeUtc
    system_properties jsonb       NOT NULL,
    properties        jsonb       NOT NULL,
    body              bytea,                 -- NULL when the record's Body is null
    PRIMARY KEY (file_id, record_no)
);
