-- Named queries of `choreoscope export` and GET /api/flow/<trace_id>/otlp
-- (analyzer/export.py): every stored row of the traces $ids, to be written back as OTLP/JSON.
-- Rows are found by a pushed-down list_contains(), as in analyzer_src_traces.

-- name: export_spans
SELECT trace_id, span_id, parent_span_id, trace_state, flags, name, kind,
       start_time_unix_nano, end_time_unix_nano, status_code, status_message, attributes,
       dropped_attributes_count, dropped_events_count, dropped_links_count,
       resource_id, scope_id
FROM spans WHERE list_contains($ids::VARCHAR[], trace_id)
ORDER BY start_time_unix_nano, trace_id, span_id

-- name: export_events
SELECT trace_id, span_id, time_unix_nano, name, attributes, dropped_attributes_count
FROM span_events WHERE list_contains($ids::VARCHAR[], trace_id)
ORDER BY trace_id, span_id, seq

-- name: export_links
SELECT trace_id, span_id, linked_trace_id, linked_span_id, trace_state, flags, attributes,
       dropped_attributes_count
FROM span_links WHERE list_contains($ids::VARCHAR[], trace_id)
ORDER BY trace_id, span_id, seq

-- name: export_resources
SELECT resource_id, attributes, schema_url, dropped_attributes_count
FROM resources WHERE list_contains($ids::BIGINT[], resource_id)

-- name: export_scopes
SELECT scope_id, name, version, attributes, schema_url,
       dropped_attributes_count
FROM scopes WHERE list_contains($ids::BIGINT[], scope_id)

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

-- name: export_window_count
SELECT coalesce(max(chunk) + 1, 0) FROM x_chunks

-- name: export_window_spans
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
FROM spans s JOIN c ON c.trace_id = s.trace_id
LEFT JOIN ev ON ev.trace_id = s.trace_id AND ev.span_id = s.span_id
LEFT JOIN lk ON lk.trace_id = s.trace_id AND lk.span_id = s.span_id
ORDER BY c.chunk, s.start_time_unix_nano, s.trace_id, s.span_id

-- name: export_all_resources
SELECT resource_id, attributes, schema_url, dropped_attributes_count FROM resources

-- name: export_all_scopes
SELECT scope_id, name, version, attributes, schema_url, dropped_attributes_count FROM scopes
