-- Queries of the benchmarks only (bench/analyze.py builds large stores with them).

-- name: bench_base_range
SELECT min(start_time_unix_nano), max(end_time_unix_nano), count(*) FROM spans

-- name: bench_replicate_spans
-- Copies 1..$copies-1 of every span under new trace/span/message ids, each shifted by
-- $period ns: a large store with exactly the structure of the generated scenarios.
INSERT INTO span_rows
SELECT s.* REPLACE (
    substr(md5(s.trace_id || r.k::VARCHAR), 1, 32) AS trace_id,
    substr(md5(s.span_id || r.k::VARCHAR), 1, 16) AS span_id,
    CASE WHEN s.parent_span_id IS NOT NULL
         THEN substr(md5(s.parent_span_id || r.k::VARCHAR), 1, 16) END AS parent_span_id,
    s.start_time_unix_nano + r.k * $period AS start_time_unix_nano,
    s.end_time_unix_nano + r.k * $period AS end_time_unix_nano,
    s.msg_message_id || '~' || r.k::VARCHAR AS msg_message_id,
    s.msg_conversation_id || '~' || r.k::VARCHAR AS msg_conversation_id)
FROM span_rows s, range(1, $copies) r(k)
ORDER BY r.k, s.start_time_unix_nano

-- name: bench_replicate_links
INSERT INTO span_links
SELECT l.* REPLACE (
    substr(md5(l.trace_id || r.k::VARCHAR), 1, 32) AS trace_id,
    substr(md5(l.span_id || r.k::VARCHAR), 1, 16) AS span_id,
    substr(md5(l.linked_trace_id || r.k::VARCHAR), 1, 32) AS linked_trace_id,
    substr(md5(l.linked_span_id || r.k::VARCHAR), 1, 16) AS linked_span_id,
    l.msg_message_id || '~' || r.k::VARCHAR AS msg_message_id)
FROM span_links l, range(1, $copies) r(k)
