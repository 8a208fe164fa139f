-- 004_freshness.sql - how fresh gold is: when each promoted batch's events reached the hub
-- (their enqueued time) and when gold had them, and gold.pipeline_metrics with times as times.
--
-- The lander records each capture file's first and last enqueued time (receiver/lake/land.c; NULL
-- for files landed before this version); the promoter notes one row per batch in
-- lake.freshness, in the transaction that commits the batch's gold (lake.note_freshness), so a
-- row says: gold had these events from `at` on. Rows older than lake.config freshness_keep are
-- dropped as new ones come.
ALTER TABLE bronze.capture_file ADD COLUMN IF NOT EXISTS first_enqueued timestamptz;
ALTER TABLE bronze.capture_file ADD COLUMN IF NOT EXISTS last_enqueued timestamptz;

INSERT INTO lake.config (key, value) VALUES ('freshness_keep', '7 days') ON CONFLICT DO NOTHING;

CREATE TABLE IF NOT EXISTS lake.freshness (
    at             timestamptz NOT NULL,  -- the batch's gold commits (clock_timestamp at its end)
    last_file_id   bigint      NOT NULL,  -- the batch (lo, last_file_id]
    events         bigint      NOT NULL,
    first_enqueued timestamptz,           -- the oldest and newest enqueued time of its events
    last_enqueued  timestamptz,
    PRIMARY KEY (at, last_file_id)
);

-- The batch (lo, hi] of n records has been promoted in this transaction: note it.
CREATE OR REPLACE FUNCTION lake.note_freshness(lo bigint, hi bigint, n bigint) RETURNS void
LANGUAGE sql AS $$
    DELETE FROM lake.freshness
     WHERE at < now() - lake.setting('freshness_keep')::interval;
    INSERT INTO lake.freshness (at, last_file_id, events, first_enqueued, last_enqueued)
    SELECT clock_timestamp(), hi, n, min(first_enqueued), max(last_enqueued)
      FROM bronze.capture_file WHERE file_id > lo AND file_id <= hi
    ON CONFLICT DO NOTHING;
$$;

-- What the pipeline has done: one row per figure, a count or a number of seconds in value, a
-- time in at (UTC; NULL before the first promotion). promote_lag_seconds is the age of the
-- oldest landed, unpromoted file (0 when every landed file is promoted), as /api/v1/pipeline
-- says it. (003_gold.sql's first version had a watermark_epoch row and no at column.)
DROP VIEW IF EXISTS gold.pipeline_metrics;
CREATE VIEW gold.pipeline_metrics AS
          SELECT 'bronze_files' AS name, count(*)::numeric AS value, NULL::timestamptz AS at
            FROM bronze.capture_file
UNION ALL SELECT 'bronze_events', coalesce(sum(events), 0), NULL FROM bronze.capture_file
UNION ALL SELECT 'promoted_files', count(*), NULL FROM bronze.capture_file f, lake.checkpoint c
           WHERE c.name = 'promote' AND f.file_id <= c.last_file_id
UNION ALL SELECT 'silver_order_line', count(*), NULL FROM silver.order_line
UNION ALL SELECT 'silver_order_status', count(*), NULL FROM silver.order_status
UNION ALL SELECT 'silver_car_listing', count(*), NULL FROM silver.car_listing
UNION ALL SELECT 'quarantine_' || rule, count(*), NULL FROM silver.quarantine GROUP BY rule
UNION ALL SELECT 'watermark', NULL, watermark FROM gold.watermark
UNION ALL SELECT 'max_event_time', NULL, max_event_time FROM gold.watermark
UNION ALL SELECT 'last_promoted', NULL, CASE WHEN last_file_id > 0 THEN updated_at END
            FROM lake.checkpoint WHERE name = 'promote'
UNION ALL SELECT 'promote_lag_seconds',
                 round(coalesce(extract(epoch FROM now() - min(f.landed_at)), 0), 3), NULL
            FROM bronze.capture_file f, lake.checkpoint c
           WHERE c.name = 'promote' AND f.file_id > c.last_file_id;
