-- Flow analyzer, its hop stages: every hop instance of the window (calls, publishes,
-- deliveries), trace pairs and the per-trace rows the union-find's flows are built from, and
-- the narrowing of the staged tables to one service's flows.

-- name: analyzer_hops
-- Every hop instance of the window: one row per publish (canonical producer), delivery
-- (counted consumer), route (a published message delivered from another destination) and
-- call (a span whose child runs in another service: a client span's server, or any context
-- carried across services, as Hangfire's background jobs do; or a client span naming a peer
-- without spans). Edge statistics are GROUP BYs over this table.
-- A peer without spans is named by peer.service, else db.system (a database is known by
-- its system: one node per kind of store), else server.address / net.peer.name. A client
-- call whose child publishes or consumes is how that was done (an app calling its Dapr
-- sidecar's publish API), not a call to a peer.
CREATE OR REPLACE TEMP TABLE a_hops AS
WITH services AS (SELECT DISTINCT service FROM a_spans),
pub0 AS (
    SELECT any_value(c.trace_id) AS trace_id, p.canon AS sk, any_value(c.service) AS service,
           coalesce(max(p.topic) FILTER (WHERE p.topic <> 'unknown'), 'unknown') AS topic,
           any_value(c.t0) AS t0, any_value(c.t1) AS t1, bool_or(p.err) AS err
    FROM a_prod p JOIN a_prod c ON c.sk = p.canon
    WHERE (NOT c.envelope OR c.sk IN (SELECT p_canon FROM a_match))
      -- (nor a send handed over in process: analyzer_inproc_sends)
      AND p.canon NOT IN (SELECT p_canon FROM a_inproc)
      -- (nor a broker's delivery of a message passing through it: analyzer_relays)
      AND p.canon NOT IN (SELECT send_sk FROM a_relay)
    GROUP BY p.canon
),
-- A publish that names no destination went where all its deliveries say it came from
-- (Brave's RabbitMQ publish span has no tags; its consumers name the exchange). (Only
-- such publishes are looked at: their producer spans all name none.)
went AS (
    SELECT m.p_canon, min(k.topic) AS topic
    FROM a_match m JOIN a_cons k ON k.sk = m.c_sk
    WHERE m.p_topic = 'unknown' AND k.topic <> 'unknown'
    GROUP BY m.p_canon HAVING count(DISTINCT k.topic) = 1
),
pub AS (
    SELECT p.* REPLACE (CASE WHEN p.topic = 'unknown' THEN coalesce(w.topic, 'unknown')
                             ELSE p.topic END AS topic)
    FROM pub0 p
    -- (an equi-join only: a one-sided condition in a LEFT JOIN's ON is a nested loop)
    LEFT JOIN went w ON w.p_canon = p.sk
),
-- (pairs also holds a client span under a client span of its service, which no call is:
-- what tells a service calling itself from its sidecar handing it a request, below)
-- (pushed: a producer span and a span of another service under it naming no messaging
-- system, destination or database, a delivery pushed to it if nothing else consumed that
-- publish: candidates for analyzer_pushed, found by this join of every span to its parent)
pairs_all AS MATERIALIZED (
    SELECT s.trace_id, s.sk AS s_sk, s.pk AS s_pk, p.pk AS p_pk, s.kind AS s_kind,
           p.service AS src_service, s.service AS dst, s.t0 AS s_t0,
           s.t1 AS s_t1, p.t0 AS p_t0, p.t1 AS p_t1, s.err OR p.err AS err,
           call_waited(p.kind, s.kind, p.t0, p.t1, s.t0, s.t1) AS w,
           p.kind = 'CLIENT' AND s.kind = 'CLIENT' AND p.service = s.service AS layered,
           p.loopback AS p_loopback, coalesce(p.role = 'P', false) AS pushed,
           -- (a client span's server: what analyzer_hops' learned reads)
           p.kind = 'CLIENT' AND s.kind = 'SERVER' AS answered, p.shape_id AS p_shape
    FROM a_spans s JOIN a_spans p ON p.sk = s.pk
    WHERE s.role IS NULL AND (p.role IS NULL OR p.role = 'P')
      AND ((p.role IS NULL
            -- (a span with messaging attributes is no such call: Wolverine's handler span
            -- is a child of the span that published its message, beside its receive span)
            AND ((p.kind = 'CLIENT' AND s.kind = 'SERVER')
                 OR (p.kind = 'CLIENT' AND s.kind = 'CLIENT' AND p.service = s.service)
                 OR (p.service <> s.service AND s.msg_system IS NULL)))
           OR (p.role = 'P' AND s.push_child AND p.service <> s.service))
),
pairs AS (SELECT * FROM pairs_all WHERE NOT pushed),
-- A client span reaching a server span of its own service is no call of the service to
-- itself when no work of the service made it. Dapr's sidecar reports under its app's name:
-- its client span handing the app a request is under the app's own client span to the
-- sidecar (an actor hosted by the same app, a workflow started), or one that waits for the
-- app is a root (a cron binding) or continues the sender's context (an input binding, a
-- message). (Temporal's Python SDK starting an activity of the workflow's own worker
-- under the starter's span is a call: its start span is a mark the activity outlives.)
-- (the few such pairs are looked up in the others, not the others in them)
own AS MATERIALIZED (
    SELECT s_sk, s_pk, p_pk, w FROM pairs
    WHERE s_kind = 'SERVER' AND src_service = dst  -- (under a client span: pairs)
),
handed AS (
    SELECT s_sk, s_pk FROM own
    WHERE s_pk IN (SELECT s_sk FROM pairs
                   WHERE layered AND s_sk IN (SELECT s_pk FROM own))
       OR (w AND (p_pk IS NULL
                  OR p_pk IN (SELECT sk FROM a_msg_t WHERE sk IN (SELECT p_pk FROM own))
                  OR s_pk IN (SELECT s_sk FROM pairs
                              WHERE src_service <> dst AND s_sk IN (SELECT s_pk FROM own))))
),
-- (keyed by the calling span, timed by the client span it waited in (call_waited); a
-- server span whose parent is no client span, or that its client did not wait for, is a
-- call of its own: Zipkin's instrumentation (Brave, Sleuth) gives a server span its client
-- span's id and parent by default (B3's "join"), so the server and its children, whose
-- parent is both spans, are one call)
sync AS MATERIALIZED (
    SELECT any_value(trace_id) AS trace_id,
           CASE WHEN s_kind = 'SERVER' AND NOT w THEN s_sk ELSE s_pk END AS sk,
           src_service, dst,
           min(CASE WHEN w THEN p_t0 ELSE s_t0 END) AS t0,
           max(CASE WHEN w THEN p_t1 ELSE s_t1 END) AS t1,
           bool_or(err) AS err,
           -- (a child no longer than the client span that waited for it, starting once
           -- the client had ended: their clocks disagree. One starting inside its client
           -- and ending after it finished its span after it had answered: nameko's RPC
           -- entrypoint ends its span once the reply is sent, 0.5-2 ms after the caller
           -- has it, which may be most of the span, as any server span ending after the
           -- response is written may. Any other child may outlive its parent, work handed
           -- on (a Temporal activity under its start span), as may a span of no duration
           -- (a mark, as Temporal's Python SDK gives a workflow's run) and a longer one:
           -- .NET's HttpClient span ends with the response headers, the Istio sidecar's
           -- under it once the body is through. Only one starting before its parent is
           -- skewed then; critical_path's _waited_for clips all those children)
           bool_or(s_t0 < p_t0 OR (w AND s_t1 > s_t0 AND s_t1 - s_t0 <= p_t1 - p_t0
                                   AND s_t0 >= p_t1)) AS skew
    FROM pairs
    WHERE NOT layered AND s_sk NOT IN (SELECT s_sk FROM handed)
      -- (nor a request that pushed a message: analyzer_transported)
      AND s_sk NOT IN (SELECT s_sk FROM a_transported)
    GROUP BY 2, src_service, dst
),
-- A message published to one destination and delivered from another was routed by the
-- broker: a RabbitMQ exchange to its bound queues, an SNS topic to SQS queues, a Service Bus
-- topic to subscriptions. One row per message and destination it reached, timed from the
-- end of the publish to its first delivery there, keeps the map connected (exchange ->
-- queue) and lets a queue's consumers be traced back to the exchange's publishers.
route AS (
    SELECT any_value(p.trace_id) AS trace_id, p.sk, p.topic AS src, k.topic AS dst,
           any_value(p.t1) AS t0, greatest(min(k.t0), any_value(p.t1)) AS t1
    FROM a_match m JOIN a_cons k ON k.sk = m.c_sk JOIN pub p ON p.sk = m.p_canon
    WHERE p.topic <> k.topic AND p.topic <> 'unknown' AND k.topic <> 'unknown'
    GROUP BY p.sk, p.topic, k.topic
),
-- A client span under a messaging span of its service naming the same server is how that
-- publish or poll reached the broker (Node's HTTP instrumentation under the AWS SDK's SQS
-- spans), not a call of its own. (Only spans of client shapes whose server a messaging
-- shape of their service names are looked at: mostly none.)
transport AS (
    SELECT s.sk FROM a_spans s
    JOIN a_msg_t m ON m.sk = s.pk
    JOIN a_shape mh ON mh.shape_id = m.shape_id
    WHERE s.shape_id IN (SELECT c.shape_id FROM a_shape c
                         SEMI JOIN a_shape x ON x.service = c.service
                              AND x.server_address = c.server_address AND x.role IS NOT NULL
                         WHERE c.kind = 'CLIENT' AND c.role IS NULL AND c.msg_system IS NULL)
      AND mh.server_address = s.server_address AND mh.service = s.service
    UNION ALL
    -- (so is a client span, no database's, under a producer span of its service naming
    -- neither a destination nor a server: the request the message went out as, the
    -- CloudEvents Go SDK's HTTP client under its send span. Only client shapes of services
    -- with such producer shapes are looked at: mostly none.)
    SELECT s.sk FROM a_spans s
    JOIN a_msg_t m ON m.sk = s.pk
    JOIN a_shape mh ON mh.shape_id = m.shape_id
    WHERE s.shape_id IN (SELECT c.shape_id FROM a_shape c
                         SEMI JOIN a_shape x ON x.service = c.service AND x.role = 'P'
                              AND x.topic = 'unknown' AND x.server_address IS NULL
                         WHERE c.kind = 'CLIENT' AND c.role IS NULL AND c.msg_system IS NULL
                           AND c.db_system IS NULL)
      AND mh.role = 'P' AND mh.topic = 'unknown' AND mh.server_address IS NULL
      AND mh.service = s.service
),
ext AS (
    SELECT s.trace_id, s.sk, s.service, s.peer, s.t0, s.t1, s.err
    FROM (SELECT trace_id, sk, service, t0, t1, err,
                 coalesce(peer_service, db_system, server_address) AS peer
          FROM a_spans
          WHERE kind = 'CLIENT' AND role IS NULL AND msg_system IS NULL) s
    WHERE s.peer IS NOT NULL AND s.sk NOT IN (SELECT sk FROM sync)
      -- (nor one whose server it did not wait for, a call keyed by that server in sync: a
      -- client span of no duration, a mark, reached its server all the same)
      AND s.sk NOT IN (SELECT s_pk FROM pairs WHERE s_kind = 'SERVER' AND NOT w)
      AND s.sk NOT IN (SELECT pk FROM a_msg_t WHERE pk IS NOT NULL)
      AND s.sk NOT IN (SELECT sk FROM transport)
      -- (nor a client span handing its service a request, nor one to this host that has
      -- a span of its service under it: an app's call to its Dapr sidecar)
      AND s.sk NOT IN (SELECT s_pk FROM handed)
      AND s.sk NOT IN (SELECT s_pk FROM pairs WHERE layered AND p_loopback)
      AND s.sk NOT IN (SELECT k_sk FROM a_transported)
),
-- A peer where every client span of the window that a server span answered reached one
-- service: that service. A client span to it with no span under it is a call to that
-- service whose server spans are not here: not exported yet (seconds, in a window running
-- to the present: analyzer_under_way_live), lost or not sampled; not an external peer of
-- its own, a node that comes and goes. (Not a loopback address, where a sidecar answers
-- for its app; not a database's system; nor a peer several services answer at: a gateway.)
-- (with the store's answers for a flow's peers: analyzer_peer_answers)
learned AS (
    SELECT peer, min(service) AS service FROM (
        SELECT h.learn_peer AS peer, a.dst AS service
        FROM (SELECT p_shape, dst FROM pairs WHERE answered GROUP BY p_shape, dst) a
        JOIN a_shape h ON h.shape_id = a.p_shape
        WHERE h.learn_peer IS NOT NULL
        UNION ALL
        SELECT peer, service FROM a_peer_answer)
    GROUP BY peer HAVING count(DISTINCT service) = 1
),
ext_to AS (
    SELECT e.*,
           CASE WHEN e.peer IN (SELECT service FROM services) THEN e.peer
                WHEN l.service <> e.service THEN l.service END AS to_service
    FROM ext e LEFT JOIN learned l ON l.peer = e.peer
)
SELECT 'publish' AS type, 'service:' || service AS src, 'topic:' || topic AS dst,
       trace_id, sk, t0, t1, err, false AS skew, NULL::UBIGINT AS pk,
       false AS no_server FROM pub
UNION ALL
SELECT 'consume', 'topic:' || topic, 'service:' || service, trace_id, sk, t0, t1, err,
       false, NULL, false FROM a_cons
UNION ALL
SELECT 'route', 'topic:' || src, 'topic:' || dst, trace_id, sk, t0, t1, false, false, NULL,
       false
FROM route
UNION ALL
SELECT 'call', 'service:' || src_service, 'service:' || dst, trace_id, sk, t0, t1, err,
       skew, NULL, false FROM sync
UNION ALL
-- a peer that names a service we do have spans of is that service, not an external, as
-- is a peer that learned says one service answers at (no_server: none of its spans is
-- under this one)
SELECT 'call', 'service:' || e.service,
       CASE WHEN e.to_service IS NOT NULL THEN 'service:' || e.to_service
            ELSE 'external:' || e.peer END,
       e.trace_id, e.sk, e.t0, e.t1, e.err, false, NULL, e.to_service IS NOT NULL
FROM ext_to e
UNION ALL
-- (candidates of analyzer_pushed, keyed by their parent producer span: pk)
SELECT 'pushed', NULL, 'service:' || dst, trace_id, s_sk, s_t0, s_t1, false, false, s_pk,
       false
FROM pairs_all WHERE pushed

-- name: analyzer_push_candidates
-- Whether analyzer_hops found spans that may be deliveries pushed with no messaging
-- attributes (its 'pushed' rows: mostly none).
SELECT count(*) FROM a_hops WHERE type = 'pushed'

-- name: analyzer_pushed
-- A span of no role naming no messaging system, destination or database (a SERVER or
-- INTERNAL span) whose parent is another service's producer span, a publish nothing else
-- consumed, is that message's delivery: the broker pushed it to a handler that knows
-- nothing of messaging but continued the message's context. A Pub/Sub push subscription's
-- request to Cloud Run, with cloudrunner-go's extractor the child of the message's create
-- span, an SNS-triggered Lambda's SERVER invocation span under the publish, Benthos'
-- INTERNAL input span. (A producer's child in its own service is how it sent, and a call
-- needs a client span: analyzer_hops. Beside a consumer span the publish reached, such a
-- span is a step of that delivery, as CAP's "Subscriber Invoke", or the broker's own, as
-- EMQX's process_message: publishes something consumed are not looked at.) analyzer_hops
-- found the candidates in its join of the spans to their parents (type 'pushed', pk the
-- producer span): such spans take a twin of their shape per destination that says they
-- consume ('C', 'process', the producer's topic and system), as analyzer_delivered's do,
-- their match by parent and their delivery and hop, and the other candidates are dropped.
-- Run only when analyzer_push_candidates found some. (The stages before the hops do not
-- see these deliveries: they name the producer's destination, so no route or destination
-- that analyzer_hops' went gives depends on them.)
CREATE OR REPLACE TEMP TABLE a_pushed AS
WITH h AS MATERIALIZED (SELECT trace_id, sk, pk, t0, t1 FROM a_hops WHERE type = 'pushed')
SELECT h.trace_id, s.span_id, h.sk, h.pk, h.t0, h.t1, s.msg_id, s.shape_id AS s_shape,
       s.service, s.err, p.shape_id AS p_shape, p.sk AS p_sk, p.canon, p.trace_id AS p_trace,
       p.span_id AS p_span, p.t0 AS p_t0, p.t1 AS p_t1, ph.topic, ph.msg_system,
       xor(s.shape_id, (hash(ph.topic, ph.msg_system) >> 2)::BIGINT) AS twin
FROM h JOIN a_prod_t p ON p.sk = h.pk
JOIN a_shape ph ON ph.shape_id = p.shape_id
JOIN (SELECT sk, span_id, msg_id, shape_id, service, err FROM a_spans
      WHERE sk IN (SELECT sk FROM h)) s ON s.sk = h.sk
ANTI JOIN a_match_t m ON m.p_canon = p.canon;
INSERT INTO a_shape
SELECT h.* REPLACE (x.twin AS shape_id, 'process' AS op, 'C' AS role, x.topic AS topic,
                    x.msg_system AS msg_system)
FROM a_shape h
JOIN (SELECT DISTINCT s_shape, twin, topic, msg_system FROM a_pushed) x
  ON x.s_shape = h.shape_id;
INSERT INTO a_msg_t BY NAME
SELECT trace_id, span_id, sk, pk, t0, t1,
       CASE WHEN msg_id IS NOT NULL THEN hash(msg_id) END AS mid, twin AS shape_id,
       NULL AS batch_n, p_shape, false AS p_nested, false AS p_other
FROM a_pushed;
INSERT INTO a_match_t BY NAME
SELECT sk AS c_sk, trace_id AS c_trace, span_id AS c_span, p_sk, p_trace, p_span,
       canon AS p_canon, 1 AS prio, t0 - p_t1 AS queue_ns, t0 < p_t0 AS skew,
       twin AS c_shape, p_shape
FROM a_pushed;
INSERT INTO a_cons_t BY NAME
SELECT trace_id, span_id, sk, twin AS shape_id, t0, t1,
       CASE WHEN msg_id IS NOT NULL THEN hash(msg_id) END AS mid, NULL AS alt_topic
FROM a_pushed;
INSERT INTO a_hops BY NAME
SELECT 'consume' AS type, 'topic:' || topic AS src, 'service:' || service AS dst, trace_id,
       sk, t0, t1, err, false AS skew, false AS no_server
FROM a_pushed;
DELETE FROM a_hops WHERE type = 'pushed'

-- name: analyzer_trace_pairs
-- Pairs of traces in the window that belong to one flow: producer/consumer pairs across
-- traces (parent, link or message id), any other span link, and a shared conversation id.
-- A span that joins several other traces at once (a batch consumer, a fan-in link) is where
-- separate transactions meet, not one transaction: it does not merge them. A conversation
-- id shared by more traces than $max_conv is a session, and is ignored for the same reason;
-- so are ids of three characters or fewer (boto3sqs puts a batch entry's id, '0', '1',
-- there) and the labels $conv_labels (Rebus.Diagnostics puts the message's intent, 'pub' or
-- 'p2p', where the conversation id goes).
WITH tr AS (SELECT DISTINCT trace_id FROM a_spans),
conv AS (
    SELECT conv_id, trace_id, min(trace_id) OVER (PARTITION BY conv_id) AS first_trace,
           count(*) OVER (PARTITION BY conv_id) AS n
    FROM (SELECT DISTINCT conv_id, trace_id FROM a_spans
          WHERE conv_id IS NOT NULL AND length(conv_id) >= $min_conv_len
            AND NOT list_contains($conv_labels::VARCHAR[], conv_id))
),
-- (a span's pairs only count when it joins one other trace: grouped per span, not windowed)
m AS (
    SELECT any_value(c_trace) AS c_trace, min(p_trace) AS p_trace
    FROM a_match WHERE p_trace <> c_trace
    GROUP BY c_sk HAVING count(DISTINCT p_trace) = 1
),
-- (a link between a message's producer span and the send that carried it, either way, joins
-- no traces: the Node Pub/Sub client sends each batch in a trace of its own, linked with
-- the create spans of every order in it)
carrier AS (
    SELECT l.from_sk FROM a_lk l
    JOIN a_prod_t a ON a.sk = l.from_sk JOIN a_prod_t b ON b.sk = l.to_sk
    JOIN a_shape ah ON ah.shape_id = a.shape_id JOIN a_shape bh ON bh.shape_id = b.shape_id
    WHERE ah.service = bh.service
),
-- (nor does a link from or to an acknowledgement: Google Pub/Sub's Go client sends its ack
-- and modack RPCs in traces of their own linked with the deliveries they settle, and each
-- delivery links them back; spans of such shapes only, mostly none)
settles AS (
    SELECT sk FROM a_spans
    WHERE shape_id IN (SELECT shape_id FROM a_shape
                       WHERE role IS NULL AND (op = 'settle' OR (kind = 'CLIENT' AND op = 'receive')))
),
l AS (
    SELECT l.trace_id, min(l.linked_trace_id) AS linked_trace_id
    FROM a_links l
    SEMI JOIN tr t1 ON t1.trace_id = l.trace_id
    SEMI JOIN tr t2 ON t2.trace_id = l.linked_trace_id
    WHERE l.trace_id <> l.linked_trace_id
      AND hash(l.trace_id, l.span_id) NOT IN (SELECT from_sk FROM carrier)
      AND hash(l.trace_id, l.span_id) NOT IN (SELECT sk FROM settles)
      AND hash(l.linked_trace_id, l.linked_span_id) NOT IN (SELECT sk FROM settles)
    GROUP BY l.trace_id, l.span_id HAVING count(DISTINCT l.linked_trace_id) = 1
),
-- ... and only when the spans of its trace, together, join one other trace: a poll's trace
-- whose per-record spans each link to their own message's trace (the Java agent's receive
-- span over its process spans, a batch of two orders) is where transactions meet too.
joined AS (
    SELECT c_trace AS t, p_trace AS o, true AS consumed FROM m
    UNION ALL
    SELECT trace_id, linked_trace_id, false FROM l
    UNION ALL
    -- (a message sent on in a trace of its own: that trace continues the other)
    SELECT DISTINCT r_trace, a_trace, true FROM a_resend
),
single AS (SELECT t FROM joined GROUP BY t HAVING count(DISTINCT o) = 1)
-- (cons: the trace of the pair that consumed a message of the other, for analyzer_flows)
SELECT DISTINCT least(a, b) AS a, greatest(a, b) AS b, cons FROM (
    SELECT j.o AS a, j.t AS b, CASE WHEN j.consumed THEN j.t END AS cons
    FROM joined j SEMI JOIN single s ON s.t = j.t
    UNION ALL
    SELECT first_trace, trace_id, NULL FROM conv
    WHERE n <= $max_conv AND trace_id <> first_trace
)

-- name: analyzer_traces
-- One row per trace with its flow (the union-find result in a_flowmap, else the trace
-- itself) and what flow-level aggregation needs.
CREATE OR REPLACE TEMP TABLE a_traces AS
WITH t AS (
    -- the root span names the entry and starts the trace (a span of another host starting
    -- before it is skewed: the trace did not begin there), else the earliest span (a
    -- trace whose root is not in the window, or was never exported)
    -- (its shape: service and name are joined to the per-trace row, not carried)
    SELECT trace_id, coalesce(min(t0) FILTER (WHERE parent_span_id IS NULL), min(t0)) AS t0,
           max(t1) AS t1, bool_or(err) AS err, count(*) AS n_spans,
           arg_min(shape_id, (parent_span_id IS NOT NULL, t0, span_id)) AS first,
           bool_or(parent_span_id IS NULL) AS rooted
    FROM a_spans GROUP BY trace_id
),
-- (a trace that is a client library's bookkeeping is no business transaction: one that
-- starts with an acknowledgement, one that is a lone poll span (fs2-kafka's otel4s tracing
-- links a poll to the records it fetched, each processed in a trace of its own), or one
-- whose root is a send carrying only messages created in other traces. Google Pub/Sub's
-- clients send each batch, and ack or extend the deadline of the messages they received,
-- in RPC spans starting traces of their own)
carrier_roots AS (
    SELECT e.trace_id FROM a_carried c
    JOIN a_msg_t e ON e.sk = c.env JOIN a_msg_t m ON m.sk = c.sk
    WHERE e.pk IS NULL
    GROUP BY e.trace_id HAVING bool_and(m.trace_id <> e.trace_id)
)
SELECT t.trace_id, coalesce(f.flow_id, t.trace_id) AS flow_id, t.t0, t.t1, t.err,
       t.n_spans, h.service AS first_service, h.name AS first_name,
       -- (the root span's shape, when the trace has its root: analyzer_publish_lost)
       CASE WHEN t.rooted THEN t.first END AS root_shape,
       coalesce(f.consumer, false) AS consumer,
       coalesce(h.op = 'settle' OR (h.op = 'receive' AND t.n_spans = 1), false)
           OR t.trace_id IN (SELECT trace_id FROM carrier_roots) AS bookkeeping
FROM t JOIN a_shape h ON h.shape_id = t.first
LEFT JOIN a_flowmap f ON f.trace_id = t.trace_id

-- name: analyzer_cut
-- Traces of the window that began before it: the first span of a trace whose root the
-- window does not hold names a parent, or a delivery joined to no producer links a span,
-- that the store holds from before the window. A window starting at a time (the last 5
-- minutes) cuts every flow under way then; what is left of such a flow enters at whichever
-- span came after the cut, and would be a flow type of its own. A parent or linked span
-- that is nowhere in the store (never exported, or still open) cuts nothing: the flow
-- began where its spans say. (Run only for a window with a start: at most the first span
-- of each unrooted trace and the unjoined deliveries are looked up, among the store's
-- spans of those traces.)
CREATE OR REPLACE TEMP TABLE a_cut AS
WITH firsts AS (
    SELECT s.trace_id, s.trace_id AS ref_trace,
           arg_min(s.parent_span_id, (s.t0, s.span_id)) AS ref_span
    FROM a_spans_w s
    SEMI JOIN (SELECT trace_id FROM a_traces WHERE root_shape IS NULL) u
         ON u.trace_id = s.trace_id
    GROUP BY s.trace_id
),
linked AS (
    SELECT k.trace_id, l.linked_trace_id AS ref_trace, l.linked_span_id AS ref_span
    FROM a_cons_t k JOIN a_links l ON l.trace_id = k.trace_id AND l.span_id = k.span_id
    WHERE k.sk NOT IN (SELECT c_sk FROM a_match_t)
),
refs AS (SELECT * FROM firsts UNION ALL SELECT * FROM linked)
SELECT DISTINCT r.trace_id
FROM refs r JOIN a_rows p ON p.trace_id = r.ref_trace AND p.span_id = r.ref_span
WHERE p.start_time_unix_nano < getvariable('a_window')[1]

-- name: analyzer_cut_none
-- (a window from the store's beginning cuts nothing)
CREATE OR REPLACE TEMP TABLE a_cut (trace_id VARCHAR)

-- name: analyzer_select_service
-- Keep only flows that involve $service (restricting every staged table).
CREATE OR REPLACE TEMP TABLE a_keep AS
SELECT t.trace_id FROM a_traces t
SEMI JOIN (SELECT DISTINCT t2.flow_id FROM a_traces t2
           SEMI JOIN a_spans s ON s.trace_id = t2.trace_id AND s.service = $service) f
     ON f.flow_id = t.flow_id

-- name: analyzer_apply_keep
DELETE FROM a_hops WHERE trace_id NOT IN (SELECT trace_id FROM a_keep);
DELETE FROM a_match_t WHERE c_trace NOT IN (SELECT trace_id FROM a_keep);
DELETE FROM a_cons_t WHERE trace_id NOT IN (SELECT trace_id FROM a_keep);
DELETE FROM a_prod_t WHERE trace_id NOT IN (SELECT trace_id FROM a_keep);
DELETE FROM a_msg_t WHERE trace_id NOT IN (SELECT trace_id FROM a_keep);
DELETE FROM a_traces WHERE trace_id NOT IN (SELECT trace_id FROM a_keep)
