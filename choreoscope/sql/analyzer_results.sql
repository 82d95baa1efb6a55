-- Flow analyzer, after the staging: flow instances and types, critical-path samples, edge,
-- service and topic statistics, and the findings' evidence (unconsumed publishes,
-- redeliveries, lost publishes, clock skew).

-- name: analyzer_flows
-- Flow instances: first start to last end over all their traces. Instances group into flow
-- types by structure: the entry service and the set of hops, hashed as the XOR of the
-- distinct hops' hashes (a set hash: no per-flow string building on a large store).
-- A trace that consumed a message of another trace neither starts its flow nor is its
-- entry (unless every trace of the flow did): its root may have begun waiting for the
-- message long before it was published (the OpenTelemetry Demo's accounting opens
-- "order-consumed" before its blocking Consume()).
CREATE OR REPLACE TEMP TABLE a_flows AS
WITH f AS (
    SELECT flow_id, coalesce(min(t0) FILTER (WHERE NOT consumer), min(t0)) AS t0,
           max(t1) AS t1, bool_or(err) AS err, sum(n_spans) AS n_spans, count(*) AS n_traces,
           -- the first trace and its entry, by one aggregate (one key comparison per row)
           arg_min({'trace': trace_id, 'service': first_service, 'name': first_name},
                   (consumer, t0, trace_id)) AS first,
           -- (not all there: begun before the window, analyzer_cut, or still under way at
           -- its end, analyzer_under_way; in no flow type)
           bool_or(trace_id IN (SELECT trace_id FROM a_cut)) AS begun_before,
           bool_or(trace_id IN (SELECT trace_id FROM a_underway)) AS under_way
    FROM a_traces GROUP BY flow_id
    -- (a flow of bookkeeping traces only is none: analyzer_traces)
    HAVING NOT bool_and(bookkeeping)
),
h AS (
    SELECT t.flow_id, bit_xor(DISTINCT hash(h.src, h.dst)) AS hops_hash
    FROM a_hops h JOIN a_traces t ON t.trace_id = h.trace_id
    GROUP BY t.flow_id
)
SELECT f.* EXCLUDE (first), f.first.trace AS first_trace, f.first.service AS entry,
       f.first.name AS entry_name, f.t1 - f.t0 AS dur_ns,
       hash(f.first.service, coalesce(h.hops_hash, 0)) AS sig_hash
FROM f LEFT JOIN h ON h.flow_id = f.flow_id

-- name: analyzer_whole
-- The flow instances all there in the window: the flow types and their critical paths are
-- made of these alone.
CREATE OR REPLACE TEMP VIEW a_whole AS
SELECT * FROM a_flows WHERE NOT (begun_before OR under_way)

-- name: analyzer_under_way
-- Traces of flows still under way at the window's end: a publish of theirs that fewer
-- services received in the window than its destination's messages usually reach (none
-- yet, or one subscriber of several), ending within the longest wait a delivery from it
-- had of the window's end ($horizon; plus $grace when the window runs to the present,
-- spans arriving seconds after they end). What follows it is after the window, or not
-- here yet: as analyzer_unconsumed's pending publishes. A destination nobody consumes ends
-- no flow early; nor does a failed publish (most likely never sent), a reply to a
-- temporary destination (no span receives it) or a message sent on again (Remoulade's
-- delay queue: the flow goes on from there).
CREATE OR REPLACE TEMP TABLE a_underway AS
-- (only the recent publishes and failed deliveries are looked at, mostly none)
WITH recent AS (
    SELECT p.trace_id, p.sk, p.dst FROM a_hops p JOIN a_dst_lag l ON l.dst = p.dst
    WHERE p.type = 'publish' AND NOT p.err AND p.t1 > $horizon - $grace - l.lag
      AND NOT starts_with(p.dst, 'topic:(temporary:')
      -- (nor a message its service sent on again later: a_resend took it on)
      AND p.sk NOT IN (SELECT a_sk FROM a_resend)
),
m AS (
    SELECT m.p_canon, m.c_sk, 'topic:' || h.topic AS dst, c.service AS c_service
    FROM a_match_t m JOIN a_shape h ON h.shape_id = m.p_shape
    JOIN a_shape c ON c.shape_id = m.c_shape
    WHERE 'topic:' || h.topic IN (SELECT dst FROM recent)
),
-- (how many services a message of the destination usually reaches: every subscriber of a
-- topic, one queue's of an exchange routing each message to one of its queues; at equal
-- counts the fewer)
got AS (SELECT p_canon, any_value(dst) AS dst, count(DISTINCT c_service) AS n
        FROM m GROUP BY p_canon),
usual AS (
    SELECT dst, arg_max(n, (k, -n)) AS subs
    FROM (SELECT dst, n, count(*) AS k FROM got GROUP BY dst, n) GROUP BY dst
),
failed AS (
    SELECT k.trace_id, m.p_canon, k.service, k.t1
    FROM a_match_t m JOIN a_cons k ON k.sk = m.c_sk
    JOIN a_shape h ON h.shape_id = m.p_shape JOIN a_dst_lag l ON l.dst = 'topic:' || h.topic
    WHERE k.err AND k.t1 > $horizon - $grace - l.lag
)
SELECT r.trace_id FROM recent r JOIN usual u ON u.dst = r.dst
LEFT JOIN got g ON g.p_canon = r.sk
WHERE coalesce(g.n, 0) < u.subs
UNION
-- ... or a delivery that failed as recently, its message not delivered to its service
-- again since: a retry may still come (the broker's redelivery, a retry with backoff).
SELECT f.trace_id FROM failed f
WHERE NOT EXISTS (SELECT 1 FROM a_match_t m JOIN a_cons k ON k.sk = m.c_sk
                  WHERE m.p_canon = f.p_canon AND k.service = f.service AND k.t0 >= f.t1)

-- name: analyzer_under_way_ended
-- ... or a span of theirs ran past the end of a window that ended in the past: what it
-- went on to do started after the window. (Not at the present: only a host whose clock
-- runs ahead ends spans after it.)
INSERT INTO a_underway SELECT DISTINCT trace_id FROM a_spans WHERE t1 > $ended

-- name: analyzer_under_way_live
-- ... or, in a window running to the present, a trace whose root has not arrived and
-- whose spans ended within $grace of it: a span is exported when it ends, so the root of
-- a request still being served (its calls and their children in, itself still open) comes
-- last. (One whose root never comes enters at its first span once it is older.) Or one
-- with a call as recent that no span of the service it called is under: each service
-- exports on its own schedule, and the server's spans may come seconds after its client's
-- (analyzer_hops' no_server).
INSERT INTO a_underway
SELECT trace_id FROM a_traces WHERE root_shape IS NULL AND t1 > $horizon - $grace
UNION
SELECT trace_id FROM a_hops WHERE no_server AND t1 > $horizon - $grace

-- name: analyzer_flow_types
-- Flow types with the readable signature of one representative instance, named by the
-- entry span name most of their instances have (at equal counts the smallest name: mode()
-- breaks ties by whichever row its thread saw first).
WITH names AS (
    SELECT sig_hash, arg_min(entry_name, (-n, entry_name)) AS entry_name
    FROM (SELECT sig_hash, entry_name, count(*) AS n FROM a_whole
          WHERE entry_name IS NOT NULL GROUP BY sig_hash, entry_name)
    GROUP BY sig_hash
),
t AS (
    SELECT sig_hash, count(*) AS n, any_value(entry) AS entry, any_value(nm.entry_name) AS entry_name,
           quantile_cont(dur_ns, [0.5, 0.95, 0.99]) AS q, avg(err::INT) AS error_rate,
           sum(err::INT) AS errors, max_by(first_trace, (dur_ns, first_trace), 5) AS slowest,
           max_by(first_trace, (t0, first_trace), 5) FILTER (WHERE err) AS failed,
           min(t0) AS t0, max(t1) AS t1, avg(n_traces) AS traces_per_flow,
           min(flow_id) AS rep
    FROM a_whole f LEFT JOIN names nm USING (sig_hash) GROUP BY sig_hash
),
-- (hops as a list: service and destination names may contain spaces)
hops AS (
    SELECT t.sig_hash,
           list(DISTINCT h.src || '->' || h.dst ORDER BY h.src || '->' || h.dst) AS hops
    FROM t JOIN a_traces tr ON tr.flow_id = t.rep
    JOIN a_hops h ON h.trace_id = tr.trace_id
    GROUP BY t.sig_hash
)
SELECT t.*, coalesce(hops.hops, []::VARCHAR[]) AS hops,
       'entry:service:' || t.entry || ' ' || array_to_string(coalesce(hops.hops, []), ' ') AS sig
FROM t LEFT JOIN hops ON hops.sig_hash = t.sig_hash
ORDER BY n DESC, sig

-- name: analyzer_cp_sample
-- Flow instances whose critical path is computed: a deterministic pseudo-random sample of
-- each flow type plus its slowest instances (the share estimate is scaled to the count).
CREATE OR REPLACE TEMP TABLE a_cpflows AS
SELECT flow_id, sig_hash FROM (
    SELECT flow_id, sig_hash,
           row_number() OVER (PARTITION BY sig_hash ORDER BY hash(flow_id), flow_id) AS r1,
           row_number() OVER (PARTITION BY sig_hash ORDER BY dur_ns DESC, flow_id) AS r2
    FROM a_whole)
WHERE r1 <= $per_type OR r2 <= $slowest

-- name: analyzer_cp_sample_list
SELECT flow_id, sig_hash FROM a_cpflows

-- name: analyzer_cp_spans
-- (a producer span's topic is its publish's, as the map counts it: a client's producer span
-- naming nothing inside a framework's that names the topic is on that publish's hop, as is
-- one naming nothing whose deliveries say where it went)
SELECT t.flow_id, s.trace_id, s.span_id, s.parent_span_id, s.kind, s.service, s.role,
       s.op, CASE WHEN s.role = 'P' AND hp.dst IS NOT NULL THEN substr(hp.dst, 7)
                  ELSE s.topic END AS topic, s.t0, s.t1, s.err, s.msg_id, s.cgroup,
       -- a call is its caller's, not the server span's that shares its key (analyzer_hops;
       -- decided here, not in the join: a condition on both sides there is a nested loop)
       CASE WHEN NOT (h.type = 'call' AND s.kind = 'SERVER'
                      AND h.dst = 'service:' || s.service) THEN h.type END AS hop_type,
       h.src AS hop_src, h.dst AS hop_dst
FROM a_spans s
JOIN a_traces t ON t.trace_id = s.trace_id
SEMI JOIN a_cpflows c ON c.flow_id = t.flow_id
-- (publish and route rows are keyed by the producer: its consume/call role is what counts)
LEFT JOIN a_hops h ON h.sk = s.sk AND h.type IN ('consume', 'call')
LEFT JOIN a_prod_t pc ON pc.sk = s.sk
LEFT JOIN a_hops hp ON hp.sk = pc.canon AND hp.type = 'publish'
ORDER BY t.flow_id

-- name: analyzer_cp_matches
SELECT m.c_trace, m.c_span, m.p_trace, m.p_span, m.via
FROM a_match m
JOIN a_traces t ON t.trace_id = m.c_trace
SEMI JOIN a_cpflows c ON c.flow_id = t.flow_id

-- name: analyzer_cp_carriers
-- (run only when a_carried has rows) Messages of the sampled flows created before the send
-- that carried them, with that send (a_sent): their consumers follow the send on the
-- critical path, as their queue time starts at its end.
SELECT s.trace_id, s.span_id, s.send
FROM a_sent s JOIN a_traces t ON t.trace_id = s.trace_id
SEMI JOIN a_cpflows f ON f.flow_id = t.flow_id

-- name: analyzer_dst_lag
-- The longest wait a delivery from each destination had in the window, by the publish
-- shape's destination (per shape first: a few hundred rows). How recent a publish may be
-- and still be delivered: analyzer_under_way and analyzer_unconsumed. (A view: a service
-- filter's narrowing is read as it stands.)
CREATE OR REPLACE TEMP VIEW a_dst_lag AS
    SELECT 'topic:' || h.topic AS dst, max(l.lag) AS lag
    FROM (SELECT p_shape, max(greatest(queue_ns, 0)) AS lag FROM a_match_t GROUP BY p_shape) l
    JOIN a_shape h ON h.shape_id = l.p_shape
    GROUP BY h.topic

-- name: analyzer_edge_queue
-- Per delivery edge: the queue-time percentiles and the messages its deliveries were joined
-- to (pairs: one per producer span, but one per message id for a consumer span linking one
-- producer span once per message: Node's AWS SDK's receive of a SendMessageBatch's messages
-- links the batch's one send span three times, each link naming its message). A view over
-- the staged tables, so the edge statistics (analyzer_edge_stats) and one edge's detail
-- read from the staged window (staged_detail_queue) are one computation, after a service
-- filter's deletions as before them.
CREATE OR REPLACE TEMP VIEW a_edge_queue AS
WITH multi AS (
    SELECT from_sk, to_sk, count(DISTINCT link_mid) - 1 AS more
    FROM a_lk WHERE link_mid IS NOT NULL
    GROUP BY from_sk, to_sk HAVING count(DISTINCT link_mid) > 1
)
SELECT k.topic, k.service,
       quantile_cont(greatest(m.queue_ns, 0), [0.5, 0.95, 0.99]) AS qq,
       count(*) + coalesce(sum(x.more), 0) AS pairs
FROM a_match m JOIN a_cons k ON k.sk = m.c_sk
LEFT JOIN multi x ON x.from_sk = m.c_sk AND x.to_sk = m.p_sk
GROUP BY k.topic, k.service

-- name: analyzer_edge_stats
-- Per edge: counts, errors, duration and (deliveries) queue-time percentiles, evidence.
-- Example ids break ties by trace id (max_by over a (value, id) pair) so the same spans
-- give the same answer whatever order they arrived in.
-- Ids are built on the aggregated rows (one per edge), not on every hop.
-- (queue time and messages of delivery edges: analyzer_edge_queue)
WITH q AS (
    SELECT 'topic:' || topic || '->service:' || service AS id, qq, pairs FROM a_edge_queue
),
e AS (
    SELECT h.type, h.src, h.dst, count(*) AS n,
           sum(h.err::INT) AS errors,
           quantile_cont(h.t1 - h.t0, [0.5, 0.95, 0.99]) AS dq,
           max_by(h.trace_id, (h.t1 - h.t0, h.trace_id), 5) AS slowest,
           max_by(h.trace_id, (h.t0, h.trace_id), 5) FILTER (WHERE h.err) AS failed,
           sum(h.skew::INT) AS call_skew, min(h.t0) AS t0, max(h.t1) AS t1
    FROM a_hops h
    GROUP BY h.type, h.src, h.dst
)
SELECT e.type, e.src, e.dst, e.src || '->' || e.dst AS id, e.n, e.errors, e.dq, e.slowest,
       e.failed, e.call_skew, e.t0, e.t1, q.qq, q.pairs
FROM e LEFT JOIN q ON q.id = e.src || '->' || e.dst
ORDER BY e.type, e.src, e.dst

-- name: analyzer_outside
-- Deliveries joined to no producer whose parent or a link names a span the window does not
-- hold: a publish before the window began (a window cuts flows), or a span never received
-- (a producer whose spans were not exported, or one left open). They carried a context:
-- no lost context, and no consumer without a producer. (Looked up in the whole window, as
-- a service filter keeps the deliveries' traces but not every trace their links name.)
CREATE OR REPLACE TEMP TABLE a_outside AS
WITH bare AS (SELECT k.sk FROM a_cons k WHERE k.sk NOT IN (SELECT c_sk FROM a_match)),
named AS (
    SELECT m.sk, m.pk AS ref FROM a_msg_t m SEMI JOIN bare b ON b.sk = m.sk
    WHERE m.pk IS NOT NULL
    UNION ALL
    SELECT l.from_sk, l.to_sk FROM a_lk l SEMI JOIN bare b ON b.sk = l.from_sk
),
seen AS (SELECT s.sk FROM a_spans_w s SEMI JOIN named n ON n.ref = s.sk)
SELECT DISTINCT sk FROM named WHERE ref NOT IN (SELECT sk FROM seen)

-- name: analyzer_outside_none
-- (until the evidence says some deliveries were joined to no producer: mostly none are)
CREATE OR REPLACE TEMP TABLE a_outside (sk UBIGINT)

-- name: analyzer_consumer_evidence
-- Per delivery edge: how each delivery was joined to a producer.
WITH mm AS (
    SELECT c_sk, bool_or(via IN ('parent', 'link')) AS has_ctx,
           bool_or(via = 'message_id') AS by_id, bool_or(skew) AS skew,
           count(*) AS producers
    FROM a_match GROUP BY c_sk
),
j AS (
    SELECT k.trace_id, k.span_id, k.topic, k.service,
           coalesce(mm.has_ctx, false) AS has_ctx, coalesce(mm.by_id, false) AS by_id,
           coalesce(mm.skew, false) AS skew, coalesce(mm.producers, 0) AS producers,
           k.sk IN (SELECT sk FROM a_outside) AS outside
    FROM a_cons k LEFT JOIN mm ON mm.c_sk = k.sk
),
-- (a queue that published messages are routed to has producers too)
pt AS (SELECT DISTINCT dst FROM a_hops WHERE type IN ('publish', 'route')),
g AS (
    SELECT j.topic, j.service,
           count(*) AS n,
           sum((NOT j.has_ctx AND NOT j.outside)::INT) AS no_ctx,
           sum((NOT j.has_ctx AND j.by_id)::INT) AS stitched,
           sum(j.outside::INT) AS outside,
           sum(j.skew::INT) AS skew,
           max_by(j.trace_id, (j.span_id, j.trace_id), 5)
               FILTER (WHERE NOT j.has_ctx AND NOT j.outside) AS no_ctx_traces,
           max_by(j.trace_id, (j.span_id, j.trace_id), 5) FILTER (WHERE j.skew) AS skew_traces,
           sum((j.producers > 1)::INT) AS batch_deliveries
    FROM j GROUP BY j.topic, j.service
)
SELECT 'topic:' || g.topic || '->service:' || g.service AS id, g.topic, g.service, g.n,
       g.no_ctx, g.stitched, g.outside, g.skew, g.no_ctx_traces, g.skew_traces,
       pt.dst IS NOT NULL AS topic_has_producers, g.batch_deliveries
FROM g LEFT JOIN pt ON pt.dst = 'topic:' || g.topic
ORDER BY id

-- name: analyzer_unconsumed
-- Published messages that no consumer in the window received, per topic.
-- A publish that failed (status error) and that no consumer received was most likely never
-- sent (DotNetCore.CAP retries a send the broker refused): not counted. Nor is a topic
-- whose messages another service acknowledges, though no delivery span was joined to them
-- (PHP's ext-amqp instrumentation traces a worker's acks only). Nor is a reply to a
-- temporary destination: its requester waits for it inside its request span, and request
-- clients (NATS' request mux, RabbitMQ's direct reply-to) make no span of receiving it,
-- nor a Kafka Streams changelog (below). Nor is a message its service sent again later
-- (a_resend): it was taken from where it went and sent on, which nothing traced.
-- A publish ending so close to the window's end ($horizon) that its delivery may come
-- after it is pending: within the longest wait a delivery of its destination had in the
-- window, plus $grace when the window runs to the present (spans arrive seconds after
-- they end).
WITH consumed AS (SELECT DISTINCT p_canon FROM a_match),
acked AS (
    SELECT DISTINCT 'topic:' || k.topic AS topic, k.service FROM a_shape k
    WHERE k.op = 'settle' AND k.topic <> 'unknown'
)
-- (a publish naming no destination has no wait of its own but $grace)
SELECT p.dst AS topic, p.src, count(*) AS n, count(c.p_canon) AS consumed,
       count(*) FILTER (WHERE c.p_canon IS NULL
                        AND p.t1 > $horizon - $grace - coalesce(l.lag, 0)) AS pending,
       max_by(p.trace_id, (p.t0, p.trace_id), 5)
           FILTER (WHERE c.p_canon IS NULL
                   AND p.t1 <= $horizon - $grace - coalesce(l.lag, 0)) AS traces
FROM a_hops p LEFT JOIN consumed c ON c.p_canon = p.sk
LEFT JOIN a_dst_lag l ON l.dst = p.dst
WHERE p.type = 'publish' AND (NOT p.err OR c.p_canon IS NOT NULL)
  AND (c.p_canon IS NOT NULL OR p.sk NOT IN (SELECT a_sk FROM a_resend))
  AND p.dst NOT IN (SELECT a.topic FROM acked a WHERE 'service:' || a.service <> p.src)
GROUP BY p.dst, p.src
-- (nor a Kafka Streams state store's changelog, '<application id>-<store>-changelog':
-- read only to restore the store after a failure. Asked of the groups, not the rows)
HAVING NOT starts_with(p.dst, 'topic:(temporary:') AND NOT ends_with(p.dst, '-changelog')
ORDER BY p.dst, p.src

-- name: analyzer_publish_lost
-- Publishes that start a flow of their own in a service that handles messages from other
-- services: when they follow from a message it handled, that message's context was lost
-- in between. Instrumentations whose receive span ends before the handler runs leave the
-- handler's publishes at the root of a new trace (kafka-python's and aiokafka's), as does
-- a hand-off to a thread or task that does not carry the context. Counted are publishes
-- whose trace is the first of its flow (nothing before it carried a context or a link to
-- it) and whose root span, in the publishing service, is neither a request it served
-- (SERVER) nor a delivery. A scheduled job of such a service (an outbox relay) starts
-- flows of its own by design: the detail says "if", and the share tells them apart.
-- A reply received on a temporary destination is no message a service handles but the
-- answer to its own request (a client script sending requests in root spans), and a
-- Kafka Streams changelog is written at commit, of every update at once. A trace sending on
-- a message of another trace at its root (a_resend) joined that trace's flow with no
-- context: it counts as though it started a flow.
-- (the roots first: traces starting so are few, and the publishes are read for them only;
-- the share's denominator is the publish edge's count, analysis._anomalies)
WITH sp AS (SELECT DISTINCT c_shape, p_shape FROM a_match_t),
consuming AS (
    SELECT 'service:' || ch.service AS src, list(DISTINCT 'topic:' || ch.topic) AS topics
    FROM sp JOIN a_shape ch ON ch.shape_id = sp.c_shape JOIN a_shape ph ON ph.shape_id = sp.p_shape
    WHERE ph.service <> ch.service AND NOT starts_with(ch.topic, '(temporary:')
    GROUP BY ch.service
),
roots AS (
    SELECT t.trace_id, 'service:' || r.service AS src
    FROM a_traces t JOIN a_shape r ON r.shape_id = t.root_shape
    WHERE r.kind <> 'SERVER' AND coalesce(r.role, '') <> 'C'
      AND (t.trace_id IN (SELECT first_trace FROM a_flows)
           OR t.trace_id IN (SELECT r_trace FROM a_resend))
      AND 'service:' || r.service IN (SELECT src FROM consuming)
)
SELECT h.src, h.dst AS topic, count(*) AS lost,
       max_by(h.trace_id, (h.t0, h.trace_id), 5) AS traces, any_value(c.topics) AS consumes
FROM roots rt JOIN a_hops h ON h.trace_id = rt.trace_id AND h.src = rt.src
JOIN consuming c ON c.src = h.src
WHERE h.type = 'publish' AND NOT ends_with(h.dst, '-changelog')
GROUP BY h.src, h.dst
ORDER BY h.src, h.dst

-- name: analyzer_redeliveries
-- The same message delivered more than once to one service (and consumer group): retries
-- and broker redeliveries. Keyed by the message id, else by the producer it was joined to.
-- A message id delivered again from another publish is a new message (Celery's
-- chord_unlock sends itself again under its task id while it waits): each publish counts
-- once.
WITH dup AS MATERIALIZED (   -- ids delivered more than once to one service and group
    SELECT topic, service, coalesce(cgroup, '') AS grp, mid FROM a_cons
    WHERE mid IS NOT NULL GROUP BY 1, 2, 3, 4 HAVING count(*) > 1
),
dupk AS MATERIALIZED (
    SELECT k.sk, k.topic, k.service, coalesce(k.cgroup, '') AS grp, k.mid, k.trace_id
    FROM a_cons k SEMI JOIN dup d ON d.topic = k.topic AND d.service = k.service
                                 AND d.grp = coalesce(k.cgroup, '') AND d.mid = k.mid
),
-- (the producer is looked up for those deliveries only)
first_match AS (
    SELECT m.c_sk, min(m.p_canon) AS p_canon
    FROM a_match m SEMI JOIN dupk k ON k.sk = m.c_sk
    GROUP BY m.c_sk
)
SELECT topic, service, sum(extra) AS extra, count(*) AS messages,
       max_by(trace_id, (n, trace_id), 5) AS traces
FROM (
    SELECT c.topic, c.service, count(*) AS n,
           count(*) - greatest(count(DISTINCT m.p_canon), 1) AS extra,
           min(c.trace_id) AS trace_id
    FROM dupk c LEFT JOIN first_match m ON m.c_sk = c.sk
    GROUP BY c.topic, c.service, c.grp, c.mid
    UNION ALL
    -- (without an id, a message is its publish: each publish a delivery was joined to, so a
    -- batch delivered again, as Spring Kafka's after a failed batch listener, repeats each
    -- of its messages)
    SELECT k.topic, k.service, count(*), count(*) - 1, min(k.trace_id)
    FROM a_cons k JOIN a_match m ON m.c_sk = k.sk
    WHERE k.mid IS NULL
    GROUP BY k.topic, k.service, coalesce(k.cgroup, ''), m.p_canon HAVING count(*) > 1
)
WHERE extra > 0
GROUP BY topic, service ORDER BY extra DESC, topic, service

-- name: analyzer_through_topics
-- Which services' messages each of the topics $topics delivered to which services (or
-- routed to which destinations, below): a topic
-- is where every publisher's messages meet, and a cycle of the map passes it only where a
-- message did (analysis._cycles). Asked only about the topics on the map's cycles.
-- Read from the shapes of the joined pairs, distinct first (a few hundred pairs of shapes,
-- not a join of every delivery with its publish: 11 ms at 1M spans, not 60), except where a shape
-- names no destination: then a delivery's or a publish's topic is decided per span
-- (analyzer_consumers, analyzer_hops), and those few pairs are read from the hops.
-- (of counted deliveries only: a client library's hand-off beside the delivery, or a
-- wrapper around it, is no edge of the map)
WITH sp AS (SELECT DISTINCT m.c_shape, m.p_shape FROM a_match_t m
            SEMI JOIN a_cons_t k ON k.sk = m.c_sk),
unnamed AS (SELECT shape_id FROM a_shape WHERE topic = 'unknown')
SELECT DISTINCT 'topic:' || ch.topic AS topic, 'service:' || ph.service AS src,
       'service:' || ch.service AS dst
FROM sp JOIN a_shape ch ON ch.shape_id = sp.c_shape JOIN a_shape ph ON ph.shape_id = sp.p_shape
WHERE ph.topic = ch.topic AND ch.topic <> 'unknown'
  AND list_contains($topics::VARCHAR[], 'topic:' || ch.topic)
UNION
SELECT c.src, p.src, c.dst
FROM a_hops c
JOIN (SELECT c_sk, p_canon FROM a_match_t
      WHERE c_shape IN (SELECT shape_id FROM unnamed)
         OR p_shape IN (SELECT shape_id FROM unnamed)) m ON m.c_sk = c.sk
JOIN a_hops p ON p.sk = m.p_canon AND p.type = 'publish' AND p.dst = c.src
WHERE c.type = 'consume' AND list_contains($topics::VARCHAR[], c.src)
UNION
-- and which services' messages it routed on to which destinations (a RabbitMQ exchange,
-- the default one above all, routes each publisher's messages to its own queues)
SELECT r.src, p.src, r.dst
FROM a_hops r JOIN a_hops p ON p.sk = r.sk AND p.type = 'publish'
WHERE r.type = 'route' AND list_contains($topics::VARCHAR[], r.src)

-- name: analyzer_services
SELECT service, count(*) AS n, sum(err::INT) AS errors, count(DISTINCT trace_id) AS traces,
       min(t0) AS t0, max(t1) AS t1,
       max_by(trace_id, (t0, trace_id), 5) FILTER (WHERE err) AS failed
FROM a_spans GROUP BY service ORDER BY service

-- name: analyzer_topics
-- (a_msg holds exactly the spans with a role: no scan of every span)
-- A topic's system is the one of its spans nearest the wire: a producer span nested in
-- another (the client library's under a framework's: rdkafka's under ActiveJob's), else a
-- producer span (SQS's SendMessageBatch, not the Shoryuken jobs that ran its messages,
-- three times as many), else any. At that level the most spans win, then the name (ties
-- are decided the same way every time).
WITH n AS (
    SELECT topic, msg_system,
           CASE WHEN role = 'P' AND p_nested THEN 0 WHEN role = 'P' THEN 1 ELSE 2 END AS lvl,
           count(*) AS n, count(*) FILTER (WHERE role = 'P') AS p,
           count(*) FILTER (WHERE role = 'C') AS c
    FROM a_msg GROUP BY topic, msg_system, lvl
)
SELECT topic,
       arg_min(msg_system, (lvl, -n, msg_system)) FILTER (WHERE msg_system IS NOT NULL)
           AS system,
       sum(p)::BIGINT AS producer_spans, sum(c)::BIGINT AS consumer_spans
FROM n GROUP BY topic

-- name: analyzer_summary
-- (from the per-trace rows, which cover the same spans: no scan of every span)
SELECT sum(n_spans) AS spans, count(*) AS traces, min(t0) AS t0, max(t1) AS t1
FROM a_traces

-- name: analyzer_partial_flows
-- The flow instances the window holds only part of (a_whole leaves them out).
SELECT count(*) FILTER (WHERE begun_before) AS begun_before,
       count(*) FILTER (WHERE under_way AND NOT begun_before) AS under_way
FROM a_flows

-- name: analyzer_error_hops
-- Which hops fail in failed flows: per hop, the failed flow instances it failed in (of
-- all failed flow instances: `failed_flows`). Services count errors of their own work
-- (server, internal, consumer-side handler spans other than the delivery itself).
WITH ft AS (SELECT t.trace_id, t.flow_id FROM a_traces t),
hop_err AS (
    SELECT h.src || '->' || h.dst AS hop, count(DISTINCT ft.flow_id) AS flows,
           count(*) AS errors, max_by(h.trace_id, (h.t0, h.trace_id), 5) AS traces
    FROM a_hops h JOIN ft ON ft.trace_id = h.trace_id
    WHERE h.err GROUP BY 1
),
svc_err AS (
    SELECT 'service:' || s.service AS hop, count(DISTINCT ft.flow_id) AS flows,
           count(*) AS errors, max_by(s.trace_id, (s.t0, s.trace_id), 5) AS traces
    FROM a_spans s JOIN ft ON ft.trace_id = s.trace_id
    WHERE s.err AND s.role IS NULL AND s.kind <> 'CLIENT'
    GROUP BY 1
),
failed AS (SELECT count(*) AS n FROM a_flows WHERE err)
SELECT x.*, (SELECT n FROM failed) AS failed_flows
FROM (SELECT * FROM hop_err UNION ALL SELECT * FROM svc_err) x
ORDER BY flows DESC, hop
