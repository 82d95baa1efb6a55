-- Named queries of `choreoscope export`, GET /api/flow/<trace_id>/otlp and GET /api/export
-- (analyzer/export.py): every stored row of some traces, to be written back as OTLP/JSON.
-- The traces go in the TEMP table x_chunks, each with the chunk (one OTLP/JSON document)
-- it goes out in; export_chunk_spans then reads the chunks a few at a time.

-- name: export_flow_chunks
-- The traces $ids of one flow, in one chunk.
CREATE OR REPLACE TEMP TABLE x_chunks AS
SELECT DISTINCT unnest($ids::VARCHAR[]) AS trace_id, 0 AS chunk

-- name: export_window_chunks
-- The traces with a span that started in [$since, $until), each with the chunk of about
-- $per_chunk spans it goes out in: whole traces, in the order they began. (A TEMP table of
-- the export's cursor, read in a transaction with the chunks' spans, so all come from one
-- snapshot.)
CREATE OR REPLACE TEMP TABLE x_chunks AS
SELECT trace_id,
       (sum(n) OVER (ORDER BY t0, trace_id ROWS UNBOUNDED PRECEDING) - n) // $per_chunk
           AS chunk
FROM (SELECT trace_id, count(*) AS n, min(start_time_unix_nano) AS t0
      FROM span_rows GROUP BY trace_id
      HAVING bool_or(start_time_unix_nano >= $since AND start_time_unix_nano < $until))

-- name: export_chunk_count
SELECT coalesce(max(chunk) + 1, 0) FROM x_chunks

-- name: export_chunk_spans
-- Every span of the chunks $lo <= chunk < $hi, with its events and links as lists, in
-- order. Read a few chunks at a time, so the sort holds those, not the window. Of two spans
-- sharing one id (Zipkin's client and server halves) the first takes the events and links
-- stored under it, so they are not written twice.
WITH c AS (
    SELECT trace_id, chunk FROM x_chunks WHERE chunk >= $lo AND chunk < $hi
), ev AS (
    SELECT e.trace_id, e.span_id,
           list({'time_unix_nano': e.time_unix_nano, 'name': e.name,
                 'attributes': e.attributes,
                 'dropped_attributes_count': e.dropped_attributes_count} ORDER BY e.seq)
               AS events
    FROM span_events e SEMI JOIN c ON c.trace_id = e.trace_id
    GROUP BY e.trace_id, e.span_id
), lk AS (
    SELECT l.trace_id, l.span_id,
           list({'linked_trace_id': l.linked_trace_id, 'linked_span_id': l.linked_span_id,
                 'trace_state': l.trace_state, 'flags': l.flags, 'attributes': l.attributes,
                 'dropped_attributes_count': l.dropped_attributes_count} ORDER BY l.seq)
               AS links
    FROM span_links l SEMI JOIN c ON c.trace_id = l.trace_id
    GROUP BY l.trace_id, l.span_id
)
SELECT c.chunk, s.trace_id, s.span_id, s.parent_span_id, s.trace_state, s.flags, s.name,
       s.kind, s.start_time_unix_nano, s.end_time_unix_nano, s.status_code,
       s.status_message, s.attributes, s.dropped_attributes_count, s.dropped_events_count,
       s.dropped_links_count, s.resource_id, s.scope_id,
       CASE WHEN row_number() OVER (PARTITION BY s.trace_id, s.span_id
                                    ORDER BY s.start_time_unix_nano) = 1
            THEN ev.events END AS events,
       CASE WHEN row_number() OVER (PARTITION BY s.trace_id, s.span_id
                                    ORDER BY s.start_time_unix_nano) = 1
            THEN lk.links END AS links
-- (the chunks' rows found by their trace ids alone, and only theirs read whole, as in
-- detail_breakdown: one flow's 25 spans took 0.02 s at 1M spans against 0.08-0.13 s)
FROM (SELECT r.*, h.name, h.kind, h.status_code
      FROM span_rows r JOIN span_shapes h ON h.shape_id = r.shape_id
      WHERE r.rowid IN (SELECT k.rowid FROM span_rows k
                        SEMI JOIN c ON c.trace_id = k.trace_id)) s
JOIN c ON c.trace_id = s.trace_id
LEFT JOIN ev ON ev.trace_id = s.trace_id AND ev.span_id = s.span_id
LEFT JOIN lk ON lk.trace_id = s.trace_id AND lk.span_id = s.span_id
ORDER BY c.chunk, s.start_time_unix_nano, s.trace_id, s.span_id

-- name: export_all_resources
SELECT resource_id, attributes, schema_url, dropped_attributes_count FROM resources

-- name: export_all_scopes
SELECT scope_id, name, version, attributes, schema_url, dropped_attributes_count FROM scopes
