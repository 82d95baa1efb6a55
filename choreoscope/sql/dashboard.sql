-- Queries of the dashboard (search page, span details, filters). Every user input is a bound
-- parameter; NULL means "no filter" so one query serves every combination of the form.

-- name: dashboard_services
-- The service filter's choices: every service seen in the window.
SELECT DISTINCT service_name FROM spans
WHERE ($since IS NULL OR start_time_unix_nano >= $since)
  AND ($until IS NULL OR start_time_unix_nano < $until)
ORDER BY service_name

-- name: dashboard_time_range
-- What the store holds, for the empty state ("nothing in the last hour; data spans ...").
SELECT count(*), min(start_time_unix_nano), max(end_time_unix_nano) FROM spans

-- name: dashboard_search_traces
-- Traces with at least one span matching every given filter, newest first. Duration bounds
-- apply to the whole trace (first start to last end), which is what "slow flows" means.
-- The attribute test is a cheap substring prefilter on the JSON text ($attr_needle, the value
-- as it is escaped inside JSON) followed by the exact check on the extracted value; the JSON
-- path ($attr_path, e.g. $."http.route") is built by the caller with the key quoted.
WITH matched AS (
    SELECT trace_id, count(*) AS matched_spans
    FROM spans
    WHERE ($since IS NULL OR start_time_unix_nano >= $since)
      AND ($until IS NULL OR start_time_unix_nano < $until)
      AND ($service IS NULL OR service_name = $service)
      AND ($trace IS NULL OR starts_with(trace_id, $trace))
      AND ($operation IS NULL OR contains(lower(name), lower($operation)))
      AND ($attr_needle IS NULL OR contains(attributes, $attr_needle))
      AND ($attr_path IS NULL OR (
            CASE WHEN $attr_value IS NULL
                 THEN json_extract(attributes, $attr_path) IS NOT NULL
                 ELSE json_extract_string(attributes, $attr_path) = $attr_value END))
      AND (NOT $errors_only OR status_code = 'ERROR')
    GROUP BY trace_id
),
traces AS (
    SELECT s.trace_id,
           min(s.start_time_unix_nano) AS start_ns,
           max(s.end_time_unix_nano) AS end_ns,
           count(*) AS span_count,
           count_if(s.status_code = 'ERROR')::BIGINT AS error_count,
           list(DISTINCT s.service_name ORDER BY s.service_name) AS services,
           arg_min(s.service_name || ' ' || s.name, s.start_time_unix_nano) AS root
    FROM spans s SEMI JOIN matched m ON s.trace_id = m.trace_id
    GROUP BY s.trace_id
)
SELECT t.trace_id, t.start_ns, t.end_ns, (t.end_ns - t.start_ns) / 1e6 AS duration_ms,
       t.span_count, t.error_count, t.services, t.root, m.matched_spans
FROM traces t JOIN matched m USING (trace_id)
WHERE ($min_ms IS NULL OR (t.end_ns - t.start_ns) / 1e6 >= $min_ms)
  AND ($max_ms IS NULL OR (t.end_ns - t.start_ns) / 1e6 <= $max_ms)
ORDER BY t.start_ns DESC, t.trace_id
LIMIT $limit

-- name: dashboard_span
-- One span with everything it carries (span detail panel).
-- (of a client and a server span sharing an id, Zipkin's, the server when $server)
SELECT * FROM spans_full WHERE trace_id = $trace_id AND span_id = $span_id
ORDER BY (kind = 'SERVER') = $server DESC LIMIT 1

-- name: dashboard_span_events
SELECT seq, time_unix_nano, name, attributes, dropped_attributes_count
FROM span_events WHERE trace_id = $trace_id AND span_id = $span_id ORDER BY seq

-- name: dashboard_span_links_out
-- Links this span carries (to its producers / creation contexts).
SELECT l.seq, l.linked_trace_id, l.linked_span_id, l.attributes, l.msg_message_id,
       s.service_name AS linked_service, s.name AS linked_name
FROM span_links l
LEFT JOIN spans s ON s.trace_id = l.linked_trace_id AND s.span_id = l.linked_span_id
WHERE l.trace_id = $trace_id AND l.span_id = $span_id
ORDER BY l.seq

-- name: dashboard_span_links_in
-- Links other spans carry to this one (its consumers): the "followable backwards" direction.
SELECT l.trace_id, l.span_id, l.attributes, l.msg_message_id,
       s.service_name AS linking_service, s.name AS linking_name
FROM span_links l
LEFT JOIN spans s ON s.trace_id = l.trace_id AND s.span_id = l.span_id
WHERE l.linked_trace_id = $trace_id AND l.linked_span_id = $span_id
ORDER BY l.trace_id, l.span_id
LIMIT 500
