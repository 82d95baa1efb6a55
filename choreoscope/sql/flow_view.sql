-- The flow view (analyzer/trace_flow.py): the traces of one flow instance, found from one of
-- them, and the staged rows its waterfall is drawn from.

-- name: flow_trace_keys
-- Message and conversation ids carried by the spans of the traces $ids. (Rows are found by
-- a pushed-down list_contains(), as in analyzer_src_traces.)
SELECT trace_id, span_id, msg_role(kind, msg_operation_type, msg_system, name) AS role,
       msg_message_id, msg_conversation_id, msg_topic(dest, msg_system, msg_destination_kind) AS topic
FROM (SELECT trace_id, span_id, kind, msg_operation_type, msg_system, name, msg_message_id,
             msg_conversation_id, msg_destination_kind,
             destination_name(msg_destination) AS dest
      FROM spans WHERE list_contains($ids::VARCHAR[], trace_id)
        AND (msg_message_id IS NOT NULL OR msg_conversation_id IS NOT NULL))

-- name: flow_linked_traces
-- Traces joined to the traces $ids by span links in either direction, with the number of
-- other traces the linking trace's spans point at (a batch consumer, or a poll whose
-- per-record spans link to their messages, is not followed into every transaction it
-- batched: analyzer_trace_pairs). A span linked to that itself links to several other
-- traces is such a meeting point too: Google Pub/Sub's clients send a batch in an RPC span
-- of its own trace, linking the create spans of every order in it, and each create span
-- links to it; from an order, that trace is shown, not followed to the other orders.
SELECT 'out' AS how, l.linked_trace_id AS trace_id,
       greatest(count(DISTINCT l.linked_trace_id) OVER (PARTITION BY l.trace_id),
                (SELECT count(DISTINCT x.linked_trace_id) FROM span_links x
                 WHERE x.trace_id = l.linked_trace_id AND x.span_id = l.linked_span_id
                   AND x.linked_trace_id <> x.trace_id)) AS fan_in
FROM span_links l WHERE list_contains($ids::VARCHAR[], l.trace_id)
  AND l.linked_trace_id <> l.trace_id
UNION ALL
SELECT 'in', l.trace_id,
       (SELECT count(DISTINCT x.linked_trace_id) FROM span_links x
        WHERE x.trace_id = l.trace_id AND x.linked_trace_id <> x.trace_id)
FROM span_links l WHERE list_contains($ids::VARCHAR[], l.linked_trace_id)
  AND l.linked_trace_id <> l.trace_id

-- name: flow_message_traces
-- Spans carrying one of the message ids $msg_ids (producer/consumer pairs whose context
-- was lost).
SELECT trace_id, msg_message_id, msg_role(kind, msg_operation_type, msg_system, name) AS role,
       msg_topic(dest, msg_system, msg_destination_kind) AS topic
FROM (SELECT trace_id, kind, msg_operation_type, msg_system, name, msg_message_id,
             msg_destination_kind, destination_name(msg_destination) AS dest
      FROM spans WHERE list_contains($msg_ids::VARCHAR[], msg_message_id))

-- name: flow_conversation_traces
SELECT DISTINCT trace_id, msg_conversation_id
FROM spans WHERE list_contains($conv_ids::VARCHAR[], msg_conversation_id)

-- name: flow_spans
-- The staged spans of the flow (a_src) with their resource and scope, under the names the
-- view spans_full gives them.
SELECT s.* EXCLUDE (resource_id, scope_id),
       res.attributes AS resource_attributes, res.schema_url AS resource_schema_url,
       sc.name AS scope_name, sc.version AS scope_version, sc.attributes AS scope_attributes,
       sc.schema_url AS scope_schema_url
FROM a_src s
LEFT JOIN resources res ON res.resource_id = s.resource_id
LEFT JOIN scopes sc ON sc.scope_id = s.scope_id
ORDER BY s.start_time_unix_nano, s.span_id

-- name: flow_span_roles
-- Each staged span's role and topic, as the analysis decides them (per shape, a_shape; a
-- span that took a twin of its shape, analyzer_delivered and analyzer_pushed, by that).
SELECT r.trace_id, r.span_id, coalesce(th.role, h.role) AS role,
       coalesce(th.topic, h.topic) AS topic
FROM a_rows r JOIN a_shape h ON h.shape_id = r.shape_id
LEFT JOIN a_msg_t m ON m.sk = hash(r.trace_id, r.span_id)
LEFT JOIN a_shape th ON th.shape_id = m.shape_id AND th.shape_id <> h.shape_id

-- name: flow_links
SELECT trace_id, span_id, linked_trace_id, linked_span_id, msg_message_id FROM a_links

-- name: flow_carriers
-- (the flow view's analyzer_cp_carriers: its staged traces are the flow's)
SELECT trace_id, span_id, send FROM a_sent

-- name: flow_hops_and_matches
SELECT 'hop' AS what, s.trace_id, s.span_id, h.type, h.src, h.dst, NULL AS p_trace,
       NULL AS p_span, NULL::BIGINT AS queue_ns
FROM a_hops h JOIN a_spans s ON s.sk = h.sk WHERE h.type IN ('consume', 'call')
  AND NOT (h.type = 'call' AND s.kind = 'SERVER' AND h.dst = 'service:' || s.service)
UNION ALL
SELECT 'match', m.c_trace, m.c_span, m.via, NULL, NULL, m.p_trace, m.p_span, m.queue_ns
FROM a_match m
