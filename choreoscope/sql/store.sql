-- Queries used by the store itself (writes, retention, counts).

-- name: stored_duplicate_keys
-- Keys of the batch that are already stored (an exporter retried). A retry repeats spans
-- byte for byte, so the stored copy has the same start time: restricting the probe to the
-- batch's time range lets DuckDB's zone maps skip almost all of the table.
SELECT b.trace_id, b.span_id, b.start_time_unix_nano FROM _batch_spans b
SEMI JOIN (
    SELECT trace_id, span_id, start_time_unix_nano FROM span_rows
    WHERE start_time_unix_nano BETWEEN $lo AND $hi
) s ON b.trace_id = s.trace_id AND b.span_id = s.span_id
   AND b.start_time_unix_nano = s.start_time_unix_nano

-- Span rows, events and links are appended with the relational API (Store._insert).

-- name: stored_resource_ids
-- The envelope ids already stored, read once when the writer starts (at most $limit).
SELECT resource_id FROM resources LIMIT $limit

-- name: stored_scope_ids
SELECT scope_id FROM scopes LIMIT $limit

-- name: stored_shape_ids
SELECT shape_id FROM span_shapes LIMIT $limit

-- name: insert_batch_resources
INSERT INTO resources SELECT * FROM _batch_resources b
WHERE NOT EXISTS (SELECT 1 FROM resources r WHERE r.resource_id = b.resource_id)

-- name: insert_batch_scopes
INSERT INTO scopes SELECT * FROM _batch_scopes b
WHERE NOT EXISTS (SELECT 1 FROM scopes c WHERE c.scope_id = b.scope_id)

-- name: insert_batch_shapes
INSERT INTO span_shapes SELECT * FROM _batch_shapes b
WHERE NOT EXISTS (SELECT 1 FROM span_shapes h WHERE h.shape_id = b.shape_id)

-- name: count_spans
SELECT count(*) FROM span_rows

-- name: time_range
SELECT min(start_time_unix_nano), max(end_time_unix_nano) FROM span_rows

-- name: delete_spans_before
DELETE FROM span_rows WHERE start_time_unix_nano < $cutoff

-- name: delete_events_orphaned
DELETE FROM span_events e WHERE NOT EXISTS (
    SELECT 1 FROM span_rows s WHERE s.trace_id = e.trace_id AND s.span_id = e.span_id)

-- name: delete_links_orphaned
DELETE FROM span_links l WHERE NOT EXISTS (
    SELECT 1 FROM span_rows s WHERE s.trace_id = l.trace_id AND s.span_id = l.span_id)

-- name: start_time_quantile
SELECT quantile_disc(start_time_unix_nano, $q) FROM span_rows
