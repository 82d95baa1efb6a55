-- Queries used by the store itself (writes, retention, counts).

-- name: stage_new_spans
-- The batch is deduplicated on (trace_id, span_id) within itself and against what is stored.
-- A retried export repeats spans byte for byte, so the stored duplicate has the same start
-- time: restricting the anti-join to the batch's time range lets DuckDB's zone maps skip
-- almost all of the table instead of hashing every stored key on every commit.
CREATE OR REPLACE TEMP TABLE _new_spans AS
SELECT n.* EXCLUDE (rn) FROM (
    SELECT *, row_number() OVER (PARTITION BY trace_id, span_id) AS rn FROM _batch_spans
) n
WHERE n.rn = 1
  AND NOT EXISTS (
    SELECT 1 FROM spans s
    WHERE s.start_time_unix_nano BETWEEN $lo AND $hi
      AND s.trace_id = n.trace_id AND s.span_id = n.span_id
      AND s.start_time_unix_nano = n.start_time_unix_nano)

-- name: insert_staged_spans
INSERT INTO spans SELECT * FROM _new_spans

-- name: insert_staged_events
INSERT INTO span_events
SELECT e.* EXCLUDE (rn) FROM (
    SELECT *, row_number() OVER (PARTITION BY trace_id, span_id, seq) AS rn FROM _batch_events
) e SEMI JOIN _new_spans n ON e.trace_id = n.trace_id AND e.span_id = n.span_id
WHERE e.rn = 1

-- name: insert_staged_links
INSERT INTO span_links
SELECT l.* EXCLUDE (rn) FROM (
    SELECT *, row_number() OVER (PARTITION BY trace_id, span_id, seq) AS rn FROM _batch_links
) l SEMI JOIN _new_spans n ON l.trace_id = n.trace_id AND l.span_id = n.span_id
WHERE l.rn = 1

-- name: count_spans
SELECT count(*) FROM spans

-- name: time_range
SELECT min(start_time_unix_nano), max(end_time_unix_nano) FROM spans

-- name: delete_spans_before
DELETE FROM spans WHERE start_time_unix_nano < $cutoff

-- name: delete_events_orphaned
DELETE FROM span_events e WHERE NOT EXISTS (
    SELECT 1 FROM spans s WHERE s.trace_id = e.trace_id AND s.span_id = e.span_id)

-- name: delete_links_orphaned
DELETE FROM span_links l WHERE NOT EXISTS (
    SELECT 1 FROM spans s WHERE s.trace_id = l.trace_id AND s.span_id = l.span_id)

-- name: start_time_quantile
SELECT quantile_disc(start_time_unix_nano, $q) FROM spans
