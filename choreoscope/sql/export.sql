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
