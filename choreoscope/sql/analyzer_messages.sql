-- Flow analyzer, its messaging stages: the window's messaging spans, producers, deliveries
-- matched to their publishes (by parent, link, message id), counted consumers, and the rarer
-- shapes (relays, transports, implied and in-process sends) that add to those tables.
-- Read with the rest of the analyzer's queries: analyzer.sql says how they join and why.

-- name: analyzer_load_messaging
-- The window's messaging spans (role P or C) with their parent's essentials joined once, so
-- later rules need no further self-join. Only a messaging parent matters to them (every
-- rule on p_* first asks for p_role), so the join stays among messaging spans. What the
-- rules ask of the parent's service and destination is decided here (p_nested).
-- The table keeps each span's shape (and its parent's), not the shape's strings: copying a
-- string column into a TEMP table costs more than joining a_shape back where it is read
-- (the view a_msg does, under the names the rules use).
CREATE OR REPLACE TEMP TABLE a_msg_t AS
WITH s AS (
    SELECT trace_id, span_id, sk, pk, t0, t1, shape_id, service, op, role, topic,
           CASE WHEN msg_id IS NOT NULL THEN hash(msg_id) END AS mid, batch_n
    FROM a_spans
    WHERE role IS NOT NULL
)
SELECT s.trace_id, s.span_id, s.sk, s.pk, s.t0, s.t1, s.mid, s.shape_id, s.batch_n,
       p.shape_id AS p_shape,
       -- the parent is an outer span of the same publish or delivery: same role, same (or
       -- an unnamed) destination and, for consumers, the same service. Not a message
       -- created inside a batch send ('create' under a send): that is a message of its own.
       coalesce(p.role = s.role
                AND (p.topic = s.topic OR p.topic = 'unknown' OR s.topic = 'unknown')
                AND (s.role = 'P' OR p.service = s.service)
                AND NOT (s.role = 'P' AND coalesce(s.op, '') = 'create'
                         AND coalesce(p.op, '') <> 'create'),
                false) AS p_nested,
       -- a consumer whose parent publish names another destination (analyzer_matches)
       coalesce(s.role = 'C' AND p.role = 'P' AND p.topic <> s.topic AND p.topic <> 'unknown'
                AND s.topic <> 'unknown', false) AS p_other
FROM s LEFT JOIN s p ON p.sk = s.pk;
CREATE OR REPLACE TEMP VIEW a_msg AS
SELECT m.*, h.service, h.kind, h.err, h.op, h.cgroup, h.role, h.topic, h.msg_system,
       ph.role AS p_role, ph.op AS p_op, ph.topic AS p_topic, ph.service AS p_service
FROM a_msg_t m JOIN a_shape h ON h.shape_id = m.shape_id
LEFT JOIN a_shape ph ON ph.shape_id = m.p_shape

-- name: analyzer_server_sends
-- Whether the window has SERVER spans saying they send (their shapes: mostly none)
SELECT count(*) FROM a_shape WHERE role = 'P' AND kind = 'SERVER'

-- name: analyzer_delivered
-- A SERVER span saying it sends, under another service's publish to its destination, is
-- that message's delivery: vertx-opentelemetry gives the event bus's SERVER span the
-- sender's operation. (Shape pairs say so: its shape and its parent's.) Such spans take a
-- twin of their shape that says they consume ('C', 'process'), so every stage reads their
-- role from a shape as it does any span's, and they are no nested producer. Run only when
-- analyzer_server_sends found such shapes.
CREATE OR REPLACE TEMP TABLE a_delivered AS
SELECT h.shape_id, ph.shape_id AS p_shape
FROM a_shape h JOIN a_shape ph ON ph.role = 'P' AND ph.service <> h.service
                              AND ph.topic = h.topic
WHERE h.role = 'P' AND h.kind = 'SERVER';
INSERT INTO a_shape
SELECT * REPLACE (xor(shape_id, 6510615555426900570) AS shape_id, 'process' AS op,
                  'C' AS role)
FROM a_shape WHERE shape_id IN (SELECT shape_id FROM a_delivered);
UPDATE a_msg_t SET shape_id = xor(shape_id, 6510615555426900570), p_nested = false
WHERE shape_id IN (SELECT shape_id FROM a_delivered)
  AND (shape_id, p_shape) IN (SELECT shape_id, p_shape FROM a_delivered)

-- name: analyzer_producers
-- Producer spans with their canonical span: instrumentation often nests PRODUCER spans for
-- one publish (framework + client library); a producer under a producer for the same (or an
-- unnamed) destination belongs to its outermost ancestor, so the message counts once.
-- A batch send whose messages have 'create' spans of their own is an envelope: the creates
-- are the messages (consumers link to them), so it counts as a publish only if a consumer
-- was joined to the envelope itself (see pub in analyzer_hops). So is a producer span
-- around a producer span of its service that names another destination: a framework's
-- span around the client's (Camel's, naming the topic its exchange was consumed from). The creates are children of
-- the send, or (messages created before it) linked from it: a send that links to producer
-- spans of its own service carries those messages (Azure SDKs' per-message spans say
-- 'publish', not 'create'). A link to another service's producer is not that (a forwarder
-- pointing at the message it forwards).
-- (a_prod_t keeps the shape; the view a_prod joins its strings back, as for a_msg)
-- (a_carried: each message and the send that carried it, see analyzer_sent)
CREATE OR REPLACE TEMP TABLE a_carried AS
SELECT sk, pk AS env FROM a_msg
WHERE role = 'P' AND op = 'create' AND p_role = 'P' AND coalesce(p_op, '') <> 'create'
UNION ALL
SELECT c.sk, s.sk
FROM a_lk l
JOIN a_msg s ON s.sk = l.from_sk AND s.role = 'P' AND coalesce(s.op, '') <> 'create'
JOIN a_msg c ON c.sk = l.to_sk AND c.role = 'P' AND c.service = s.service
WHERE c.sk <> s.sk;
CREATE OR REPLACE TEMP TABLE a_prod_t AS
WITH p AS (
    SELECT trace_id, span_id, sk, pk, shape_id, t0, t1, mid, p_nested AS nested
    FROM a_msg WHERE role = 'P'
),
env AS (
    SELECT env AS sk FROM a_carried
    UNION
    -- a producer span around a producer span of its service for another destination
    SELECT DISTINCT pk FROM a_msg
    WHERE role = 'P' AND p_role = 'P' AND NOT p_nested AND p_service = service
    UNION
    -- a producer span saying it does something else than send, naming no destination and
    -- no message: Brighter's outbox sweeper reads the outstanding messages in a "clear"
    -- span beside their publish spans (spans of such shapes only, mostly none)
    SELECT sk FROM a_msg_t
    WHERE shape_id IN (SELECT shape_id FROM a_shape
                       WHERE role = 'P' AND topic = 'unknown'
                         AND op NOT IN ('send', 'create', 'receive', 'process'))
      AND mid IS NULL
)
SELECT p.*,
       CASE WHEN NOT p.nested THEN p.sk
            WHEN NOT coalesce(q.nested, false) THEN p.pk
            ELSE q.pk END AS canon,
       p.sk IN (SELECT sk FROM env) AS envelope
-- (a plain equi-join: a one-sided condition in a LEFT JOIN's ON turns it into a nested loop)
FROM p LEFT JOIN p q ON q.sk = p.pk;
CREATE OR REPLACE TEMP VIEW a_prod AS
SELECT p.*, h.service, h.topic, h.err
FROM a_prod_t p JOIN a_shape h ON h.shape_id = p.shape_id

-- name: analyzer_resends
-- A publish at the root of a trace of a message id its service published earlier to the
-- same destination in another trace is that message sent on by something that had no
-- context: Remoulade's worker enqueues a delayed retry again, from the delay queue it went
-- to, when its time comes (a transactional outbox's relay may send what a request stored
-- alike). The earlier publish is no lost message (analyzer_unconsumed), the two traces are
-- one flow (analyzer_trace_pairs), and the re-send still lost the context
-- (analyzer_publish_lost). Only when one earlier trace sent that id; and to the same
-- destination: a Kafka record's id is its partition and offset, which records of two
-- topics share. (Root publishes naming a message, few, are looked up first.)
CREATE OR REPLACE TEMP TABLE a_resend AS
WITH r AS MATERIALIZED (
    SELECT p.sk, p.trace_id, p.mid, p.t0, h.service, h.topic FROM a_prod_t p
    JOIN a_shape h ON h.shape_id = p.shape_id
    WHERE p.pk IS NULL AND p.mid IS NOT NULL
),
e AS (
    SELECT r.sk AS r_sk, r.trace_id AS r_trace, a.sk AS a_sk, a.trace_id AS a_trace
    FROM r JOIN a_prod_t a ON a.mid = r.mid JOIN a_shape h ON h.shape_id = a.shape_id
    WHERE a.mid IN (SELECT mid FROM r)
      AND h.service = r.service AND h.topic = r.topic
      AND a.trace_id <> r.trace_id AND a.t0 <= r.t0
)
SELECT * FROM e
WHERE r_sk IN (SELECT r_sk FROM e GROUP BY r_sk HAVING count(DISTINCT a_trace) = 1)

-- name: analyzer_rabbitmq_consumers
-- Whether the window has RabbitMQ consumer shapes (else analyzer_rerouted_none)
SELECT count(*) FROM a_shape WHERE role = 'C' AND msg_system = 'rabbitmq'

-- name: analyzer_rerouted_candidates
-- RabbitMQ deliveries whose parent publish names their destination, when a later publish
-- to it by another service went out in their trace before they started: FastStream sends a
-- handler's output with the context of the message the handler took, so over one topic
-- exchange (every event through it, the routing key telling them apart) the next consumer
-- is the child of the first publish though it got the later one. Only the routing keys
-- can tell, and they are read for these spans alone (analyzer_rerouted, given the traces
-- of the candidates in a_rerouted_x: mostly none, and then analyzer_rerouted_none).
CREATE OR REPLACE TEMP TABLE a_rerouted_x AS
WITH c AS (
    SELECT m.trace_id, m.span_id, m.sk, m.pk, m.t0, h.topic, p.t0 AS p_t0, p.span_id AS p_span,
           ph.service AS p_service
    FROM a_msg_t m JOIN a_shape h ON h.shape_id = m.shape_id
    JOIN a_prod_t p ON p.sk = m.pk JOIN a_shape ph ON ph.shape_id = p.shape_id
    WHERE h.role = 'C' AND h.msg_system = 'rabbitmq' AND ph.topic = h.topic
      -- (the same test on the shapes, as a filter on the scan of a_msg_t: the window's
      -- other consumers are not joined)
      AND m.shape_id IN (SELECT shape_id FROM a_shape
                         WHERE role = 'C' AND msg_system = 'rabbitmq')
)
SELECT c.sk AS c_sk, c.trace_id, c.span_id, c.p_span, q.sk AS q_sk, q.span_id AS q_span,
       q.t1 AS q_t1
FROM c JOIN a_prod_t q ON q.trace_id = c.trace_id AND q.sk <> c.pk
JOIN a_shape qh ON qh.shape_id = q.shape_id
WHERE qh.topic = c.topic AND qh.service <> c.p_service AND NOT q.nested AND NOT q.envelope
  AND q.t0 > c.p_t0 AND q.t0 <= c.t0

-- name: analyzer_rerouted_traces
SELECT DISTINCT trace_id FROM a_rerouted_x

-- name: analyzer_rerouted
-- Of those candidates, the deliveries whose routing key is a later publish's and not their
-- parent's: that later publish (the latest such) is what they got (analyzer_matches).
CREATE OR REPLACE TEMP TABLE a_rerouted AS
WITH rk AS (
    SELECT trace_id, span_id,
           coalesce(json_extract_string(attributes, '$."messaging.rabbitmq.destination.routing_key"'),
                    json_extract_string(attributes, '$."rabbitmq.destination.routing_key"'),
                    json_extract_string(attributes, '$."messaging.rabbitmq.routing_key"')) AS rk
    FROM a_rows WHERE list_contains($ids::VARCHAR[], trace_id)
)
SELECT x.c_sk, arg_max(x.q_sk, (x.q_t1, x.q_sk)) AS p_sk
FROM a_rerouted_x x
JOIN rk c ON c.trace_id = x.trace_id AND c.span_id = x.span_id
JOIN rk p ON p.trace_id = x.trace_id AND p.span_id = x.p_span
JOIN rk q ON q.trace_id = x.trace_id AND q.span_id = x.q_span
WHERE c.rk = q.rk AND c.rk IS DISTINCT FROM p.rk
GROUP BY x.c_sk

-- name: analyzer_rerouted_none
CREATE OR REPLACE TEMP TABLE a_rerouted (c_sk UBIGINT, p_sk UBIGINT)

-- name: analyzer_matches
-- Consumer -> producer pairs. Parent links and span links (in either direction) are the
-- propagated context; a consumer inside a receive span inherits the receive's pairs; only a
-- consumer with none of those is joined by the message id it shares with a producer (lost
-- context, "stitched"). One row per (consumer, message), preferring the stronger evidence.
CREATE OR REPLACE TEMP TABLE a_match_t AS
WITH c AS (
    SELECT trace_id, span_id, sk, pk, t0, t1, op, topic, mid, shape_id, p_role, p_other
    FROM a_msg WHERE role = 'C'
),
-- A consumer whose parent publish names another destination than it does is a message
-- routed by the broker (exchange -> queue), unless a publish to its own destination went
-- out earlier in its trace: that is the message it got. FastStream sends a handler's output
-- with the context of the message the handler took, so the next consumer is a child of
-- the first publish, not of the one that sent what it consumed.
-- (p_other, decided while staging: such consumers are few, mostly none)
misparented AS (SELECT sk, trace_id, topic, t0 FROM c WHERE p_other),
own_publish AS (
    SELECT m.sk AS c_sk, arg_max(p.sk, (p.t1, p.sk)) AS p_sk
    FROM misparented m JOIN a_prod p ON p.trace_id = m.trace_id AND p.topic = m.topic
    -- (not a span around the parent's publish naming the routing key: eShop's event bus
    -- around the RabbitMQ client's publish to the exchange, an envelope)
    WHERE p.t0 <= m.t0 AND NOT p.envelope
    GROUP BY m.sk
),
direct AS (
    -- (a RabbitMQ delivery whose routing key says it got a later publish than its parent:
    -- analyzer_rerouted)
    SELECT c.sk AS c_sk, coalesce(r.p_sk, c.pk) AS p_sk, 1 AS prio, NULL::UBIGINT AS link_mid
    FROM c LEFT JOIN a_rerouted r ON r.c_sk = c.sk
    WHERE c.p_role = 'P' AND NOT c.p_other
    UNION ALL
    SELECT c.sk, coalesce(o.p_sk, c.pk), 1, NULL
    FROM c LEFT JOIN own_publish o ON o.c_sk = c.sk WHERE c.p_other
    UNION ALL
    SELECT c.sk, l.to_sk, 2, l.link_mid
    FROM a_lk l JOIN c ON c.sk = l.from_sk
    SEMI JOIN a_prod p ON p.sk = l.to_sk
    UNION ALL
    -- the other direction: a producer that carries a link to the consumer
    SELECT c.sk, l.from_sk, 2, l.link_mid
    FROM a_lk l JOIN c ON c.sk = l.to_sk
    SEMI JOIN a_prod p ON p.sk = l.from_sk
),
inherited AS (
    SELECT c.sk AS c_sk, d.p_sk, 3 AS prio, d.link_mid
    FROM c JOIN direct d ON d.c_sk = c.pk
    WHERE c.p_role = 'C'
      AND (c.mid IS NULL OR d.link_mid IS NULL OR c.mid = d.link_mid)
      AND c.sk NOT IN (SELECT c_sk FROM direct)
),
ctx AS (SELECT * FROM direct UNION ALL SELECT * FROM inherited),
lost AS MATERIALIZED (   -- consumers without context, found before the message-id join
    SELECT sk, mid, topic, trace_id FROM c
    WHERE mid IS NOT NULL AND sk NOT IN (SELECT c_sk FROM ctx)
),
-- destinations the broker routes between (exchange -> queue), as seen on deliveries that
-- kept their context: a message id may join a producer of one to a consumer of the other
-- (and RabbitMQ's default exchange routes to every queue, the one its routing key names:
-- collector.conventions.rabbitmq_default_exchange_destination)
routes AS (
    SELECT DISTINCT p.topic AS p_topic, c.topic AS c_topic
    FROM ctx JOIN c ON c.sk = ctx.c_sk JOIN a_prod p ON p.sk = ctx.p_sk
    WHERE p.topic <> c.topic AND p.topic <> 'unknown' AND c.topic <> 'unknown'
),
-- (a consumer in its producer's trace did get the context, from the span that was current
-- when the message was built rather than from the publish: Laravel's queue jobs)
by_id AS (
    SELECT c.sk AS c_sk, p.sk AS p_sk, CASE WHEN c.trace_id = p.trace_id THEN 3 ELSE 4 END AS prio,
           c.mid AS link_mid
    FROM lost c JOIN a_prod p ON p.mid = c.mid
    LEFT JOIN routes r ON r.p_topic = p.topic AND r.c_topic = c.topic
    WHERE p.topic = c.topic OR p.topic = 'unknown' OR c.topic = 'unknown'
       OR r.p_topic IS NOT NULL OR p.topic = 'amq.default'
),
alll AS (SELECT * FROM ctx UNION ALL SELECT * FROM by_id),
-- per (consumer, message): the strongest evidence, then the latest-ending producer (an
-- aggregate over narrow rows, then the strings are joined to the chosen pairs only)
best AS (
    SELECT a.c_sk, p.canon,
           arg_min({'p_sk': a.p_sk, 'prio': a.prio}, (a.prio, -p.t1)) AS b
    FROM alll a JOIN a_prod p ON p.sk = a.p_sk
    GROUP BY a.c_sk, p.canon
)
SELECT b.c_sk, c.trace_id AS c_trace, c.span_id AS c_span, b.b.p_sk AS p_sk,
       p.trace_id AS p_trace, p.span_id AS p_span, b.canon AS p_canon,
       b.b.prio::UTINYINT AS prio, c.t0 - p.t1 AS queue_ns,
       -- a consumer cannot start before its producer; a poll (receive) can: it waits for
       -- messages from its start (the .NET Kafka instrumentation's receive span covers a
       -- blocking Consume()), and only one that ended before the publish began is skewed
       CASE WHEN c.op = 'receive' THEN c.t1 < p.t0 ELSE c.t0 < p.t0 END AS skew,
       c.shape_id AS c_shape, p.shape_id AS p_shape
FROM best b
JOIN a_prod p ON p.sk = b.b.p_sk
JOIN c ON c.sk = b.c_sk;
-- (the consumer's service and operation and the producer's topic come from their shapes)
CREATE OR REPLACE TEMP VIEW a_match AS
SELECT m.* EXCLUDE (prio, c_shape, p_shape),
       CASE m.prio WHEN 1 THEN 'parent' WHEN 2 THEN 'link' WHEN 3 THEN 'parent'
            ELSE 'message_id' END AS via,
       ch.service AS c_service, ch.op AS c_op, ch.topic AS c_topic, ph.topic AS p_topic,
       ph.service AS p_service
FROM a_match_t m JOIN a_shape ch ON ch.shape_id = m.c_shape
JOIN a_shape ph ON ph.shape_id = m.p_shape

-- name: analyzer_relay_candidates
-- The consumer spans that are children of another service's consumer span (mostly none),
-- as under a broker's own spans (below): their count says whether analyzer_relays runs.
CREATE OR REPLACE TEMP TABLE a_relay_x AS
SELECT m.sk, m.pk, h.service, h.topic, ph.service AS r_service
FROM a_msg_t m JOIN a_shape h ON h.shape_id = m.shape_id
JOIN a_shape ph ON ph.shape_id = m.p_shape
WHERE h.role = 'C' AND ph.role = 'C' AND ph.service <> h.service

-- name: analyzer_relays
-- A consumer span with a consumer child in another service and a producer child of its own
-- service that names the destination that child consumes is the broker's own span of the
-- message passing through it, not a service consuming it and publishing again: Solace's
-- broker traces a message's receive ("(topic) receive", CONSUMER) and each delivery to a
-- queue ("<queue> send", PRODUCER, the queue named as its source), as the Collector's
-- solacereceiver exports them, and hands its receive span's context to the consumers.
-- Such a relay is no delivery (analyzer_consumers) and its sends are no publishes
-- (analyzer_hops). Its consumer children have its message by inheritance (analyzer_matches)
-- and pass it to their own nested consumer spans (a binder's process span under its
-- receive), which inherit it here. A consumer under another service's consumer span that
-- is no relay does not. Run only when analyzer_relay_candidates found some (a_relay_x).
CREATE OR REPLACE TEMP TABLE a_relay AS
SELECT DISTINCT x.pk AS sk, y.sk AS send_sk
FROM a_relay_x x JOIN a_msg_t y ON y.pk = x.pk
JOIN a_shape yh ON yh.shape_id = y.shape_id
WHERE yh.role = 'P' AND yh.service = x.r_service AND yh.topic = x.topic;
-- (a consumer span under another service's consumer span that is no relay did not get
-- that span's message: that service sent it a message of its own without a producer span,
-- an Azure Functions output binding under its trigger's span, analyzer_implied)
DELETE FROM a_match_t
WHERE prio = 3
  AND (c_sk, p_sk) IN (SELECT x.sk, d.p_sk FROM a_relay_x x
                       JOIN a_match_t d ON d.c_sk = x.pk
                       WHERE x.pk NOT IN (SELECT sk FROM a_relay));
INSERT INTO a_match_t BY NAME
SELECT z.sk AS c_sk, z.trace_id AS c_trace, z.span_id AS c_span, m.p_sk, m.p_trace,
       m.p_span, m.p_canon, 3 AS prio, z.t0 - p.t1 AS queue_ns, z.t0 < p.t0 AS skew,
       z.shape_id AS c_shape, m.p_shape
FROM a_msg_t z
JOIN a_relay_x x ON x.sk = z.pk
JOIN a_match_t m ON m.c_sk = x.sk
JOIN a_prod_t p ON p.sk = m.p_sk
WHERE x.pk IN (SELECT sk FROM a_relay)
  AND z.shape_id IN (SELECT shape_id FROM a_shape WHERE role = 'C')
  AND z.sk NOT IN (SELECT c_sk FROM a_match_t)

-- name: analyzer_relays_none
CREATE OR REPLACE TEMP TABLE a_relay AS
SELECT NULL::UBIGINT AS sk, NULL::UBIGINT AS send_sk WHERE false

-- name: analyzer_transport_candidates
-- The consumer spans under a span that is no messaging span with no producer by context
-- (mostly none): they may have been pushed over HTTP (below). Their count says whether
-- analyzer_transported runs.
-- (the few such spans first, then the matches for them: an anti-join read the other way
-- builds a table of every match)
CREATE OR REPLACE TEMP TABLE a_transport_c AS
SELECT x.* FROM (
    SELECT m.sk, m.pk, m.trace_id, m.span_id, m.t0, m.shape_id FROM a_msg_t m
    WHERE m.pk IS NOT NULL AND m.p_shape IS NULL
      AND m.shape_id IN (SELECT shape_id FROM a_shape WHERE role = 'C')
) x ANTI JOIN (SELECT c_sk FROM a_match_t WHERE prio <= 2) a ON a.c_sk = x.sk

-- name: analyzer_transported
-- A consumer span under a SERVER span of its service, itself under a CLIENT span of
-- another service whose parent is a producer span of that service, has that producer's
-- message by context (whatever message id joined them): the publish went out as the HTTP request (the CloudEvents Go SDK's HTTP
-- client and receiver put a request's spans between its send and process spans). The
-- request is how the message was pushed, no call (a_transported, analyzer_hops). Run only
-- when analyzer_transport_candidates found such consumers (a_transport_c).
CREATE OR REPLACE TEMP TABLE a_transported AS
WITH c AS MATERIALIZED (
    SELECT t.*, h.service FROM a_transport_c t JOIN a_shape h ON h.shape_id = t.shape_id
),
srv AS MATERIALIZED (
    SELECT s.sk, s.pk, s.service FROM a_spans s
    WHERE s.sk IN (SELECT pk FROM c) AND s.kind = 'SERVER' AND s.role IS NULL
      AND s.msg_system IS NULL AND s.pk IS NOT NULL
),
cli AS MATERIALIZED (
    SELECT k.sk, k.pk, k.service FROM a_spans k
    WHERE k.sk IN (SELECT pk FROM srv) AND k.kind = 'CLIENT' AND k.role IS NULL
      AND k.msg_system IS NULL AND k.pk IS NOT NULL
)
SELECT c.sk AS c_sk, c.trace_id AS c_trace, c.span_id AS c_span, c.t0, c.shape_id AS c_shape,
       p.sk AS p_sk, p.trace_id AS p_trace, p.span_id AS p_span, p.canon AS p_canon,
       p.t0 AS p_t0, p.t1 AS p_t1, p.shape_id AS p_shape, k.sk AS k_sk, s.sk AS s_sk
FROM c JOIN srv s ON s.sk = c.pk JOIN cli k ON k.sk = s.pk
JOIN a_prod_t p ON p.sk = k.pk JOIN a_shape ph ON ph.shape_id = p.shape_id
WHERE s.service = c.service AND k.service <> s.service AND ph.service = k.service;
-- (the message id the two share may have joined them already: by context now)
DELETE FROM a_match_t m USING a_transported t
WHERE m.c_sk = t.c_sk AND m.p_canon = t.p_canon;
INSERT INTO a_match_t BY NAME
SELECT c_sk, c_trace, c_span, p_sk, p_trace, p_span, p_canon, 1 AS prio,
       t0 - p_t1 AS queue_ns, t0 < p_t0 AS skew, c_shape, p_shape
FROM a_transported

-- name: analyzer_transported_none
CREATE OR REPLACE TEMP TABLE a_transported AS
SELECT NULL::UBIGINT AS k_sk, NULL::UBIGINT AS s_sk WHERE false

-- name: analyzer_implied
-- A consumer span joined to no producer whose parent is a span of another service that is
-- no producer (a span of no role, or a consumer span that is no relay) was sent its
-- message by that span, which traced no publish but passed its context on: SAQ's
-- before-enqueue hook (the request's span), an Azure Functions output binding (the
-- trigger's span), Rust services using lapin. That span is an implied publish to the
-- consumer's destination: a producer (a twin of its shape per destination, 'P', 'send')
-- with a key of its own, and the consumer's match, by context (when it sent the message is
-- not known: no queue time). Run after analyzer_transported or analyzer_relays, when
-- either found candidates.
CREATE OR REPLACE TEMP TABLE a_implied AS
WITH c AS MATERIALIZED (
    SELECT m.sk, m.pk, m.trace_id, m.span_id, m.shape_id, h.service, h.topic, h.msg_system
    FROM a_msg_t m JOIN a_shape h ON h.shape_id = m.shape_id
    LEFT JOIN a_shape ph ON ph.shape_id = m.p_shape
    ANTI JOIN a_match_t a ON a.c_sk = m.sk
    WHERE m.pk IS NOT NULL AND h.role = 'C'
      AND (m.p_shape IS NULL OR (ph.role = 'C' AND ph.service <> h.service))
),
x AS MATERIALIZED (
    SELECT s.sk, s.pk, s.trace_id, s.span_id, s.t0, s.t1, s.shape_id, s.service
    FROM a_spans s
    WHERE s.sk IN (SELECT pk FROM c) AND (s.role IS NULL OR s.role = 'C')
)
SELECT c.sk AS c_sk, c.trace_id AS c_trace, c.span_id AS c_span, c.shape_id AS c_shape,
       c.topic, c.msg_system, x.pk AS x_pk, x.trace_id AS x_trace, x.span_id AS x_span,
       x.t0 AS x_t0, x.t1 AS x_t1, x.shape_id AS x_shape,
       xor(x.sk, hash(c.topic, c.msg_system)) AS p_sk,
       xor(x.shape_id, (hash(c.topic, c.msg_system, 'P') >> 2)::BIGINT) AS p_shape
FROM c JOIN x ON x.sk = c.pk
WHERE x.service <> c.service;
INSERT INTO a_shape
SELECT h.* REPLACE (i.p_shape AS shape_id, 'send' AS op, 'P' AS role, i.topic AS topic,
                    i.msg_system AS msg_system)
FROM a_shape h
JOIN (SELECT DISTINCT x_shape, p_shape, topic, msg_system FROM a_implied) i
  ON i.x_shape = h.shape_id;
INSERT INTO a_prod_t BY NAME
SELECT DISTINCT x_trace AS trace_id, x_span AS span_id, p_sk AS sk, x_pk AS pk,
       p_shape AS shape_id, x_t0 AS t0, x_t1 AS t1, NULL AS mid, false AS nested,
       p_sk AS canon, false AS envelope
FROM a_implied;
INSERT INTO a_match_t BY NAME
SELECT c_sk, c_trace, c_span, p_sk, x_trace AS p_trace, x_span AS p_span, p_sk AS p_canon,
       1 AS prio, NULL AS queue_ns, false AS skew, c_shape, p_shape
FROM a_implied

-- name: analyzer_carried
-- Whether any message was created before the send that carried it (a_carried).
SELECT count(*) FROM a_carried

-- name: analyzer_sent
-- (run only when there are such messages) A message created before the send that carried
-- it was on the broker once that send ended (Azure SDKs fill a batch with per-event spans,
-- then send it, the conventions' create spans): its queue time starts there. a_sent holds
-- each such message with the send (the last to end) that carried it, for the critical
-- paths too (analyzer_cp_carriers, flow_carriers).
CREATE OR REPLACE TEMP TABLE a_sent AS
SELECT c.sk, any_value(p.trace_id) AS trace_id, any_value(p.span_id) AS span_id,
       any_value(p.t1) AS p_t1, max(e.t1) AS t1,
       arg_max([e.trace_id, e.span_id], (e.t1, e.sk)) AS send
FROM a_carried c JOIN a_msg_t e ON e.sk = c.env JOIN a_msg_t p ON p.sk = c.sk
GROUP BY c.sk HAVING max(e.t1) > any_value(p.t1);
UPDATE a_match_t SET queue_ns = a_match_t.queue_ns - (s.t1 - s.p_t1)
FROM a_sent s WHERE a_match_t.p_sk = s.sk

-- name: analyzer_consumers
-- Consumer spans that count as one delivery each. Dropped: the inner span of nested
-- consumer spans for the same destination in one service, and a receive (poll) span when a
-- process span of the same service handles its message (child, or sibling joined to the
-- same producer), so poll + process is one delivery, not two. A poll or a bare wrapper
-- (no operation) that names no destination around a consumer span that does is not the
-- delivery either (confluent-kafka wraps each "<topic> process" span in a bare "recv" span;
-- aiokafka's batch poll names no topic). And a consumer span that links to consumer spans of
-- its own service wraps them: they are the deliveries (aiokafka's per-topic span of a batch
-- links its records, each a child of its producer).
-- A consumer span naming the destination the message was published to, when a consumer
-- span of the same service has that message from a destination the broker routed it to, is
-- the client library's hand-off of that delivery, not a second one: the Java agent (up to
-- 2.30) gives a Spring AMQP listener's message both rabbitmq-client's "<queue> process"
-- span, naming the exchange and covering only the hand-off to Spring, and spring-rabbit's
-- around the listener, naming the routing key.
-- Several processing spans nested in one delivery span that all have their message from it
-- (no context of their own) handle one message: the outer span is the delivery (MassTransit
-- nests a "<queue> process" span per consumer of the message in its "<queue> receive").
-- A consumer naming no destination inside one that does belongs to that destination (the
-- queue MassTransit's receive names), else takes its producer's.
CREATE OR REPLACE TEMP TABLE a_cons_t AS
WITH c AS (
    SELECT trace_id, span_id, sk, pk, shape_id, service, kind, topic, op, p_nested, p_op,
           p_topic, p_role, t0, t1, mid, batch_n
    FROM a_msg WHERE role = 'C'
),
-- A poll (CLIENT receive) naming no message (no message id, no link, no producer parent)
-- when polls of its shape do name theirs came back empty (a long poll does every 20 s):
-- not a delivery. (Where no poll of a shape ever names its message, polls still count.)
-- (polls are receive spans, CLIENT or CONSUMER: boto3sqs's CONSUMER receive spans come
-- back empty too; a poll names its message by an id, a link, or a consumer span under it,
-- as boto3sqs's process span per message)
polled AS MATERIALIZED (
    SELECT c.sk, c.shape_id, c.mid, c.p_role, c.batch_n FROM c
    WHERE c.shape_id IN (SELECT shape_id FROM a_shape WHERE role = 'C' AND op = 'receive'
                                                       AND kind IN ('CLIENT', 'CONSUMER'))
),
named_polls AS (
    SELECT p.sk, p.shape_id FROM polled p
    WHERE p.mid IS NOT NULL OR p.sk IN (SELECT from_sk FROM a_lk)
       OR p.sk IN (SELECT pk FROM c WHERE p_role = 'C')
),
-- (so is a poll naming neither its message nor a destination in a service whose other
-- consumer spans name theirs: the fetch their messages came through, as arloliu/otx's NATS
-- pull consumer opens a "receive <stream>" CLIENT span per fetch while each message's
-- process span is a child of its publish)
-- A poll of a shape whose polls say how many messages they brought decides by that alone:
-- none (Node's AWS SDK says 0 for an empty SQS long poll), or some that it names no way of
-- (a receive whose messages lost their context). (Alibaba's Go agent says 0 on every span:
-- a count never above 0 says nothing.)
counting AS (SELECT DISTINCT shape_id FROM polled WHERE batch_n > 0),
empty_polls AS (
    SELECT p.sk FROM polled p
    WHERE coalesce(p.p_role, '') <> 'P' AND p.sk NOT IN (SELECT sk FROM named_polls)
      AND ((p.batch_n = 0 AND p.shape_id IN (SELECT shape_id FROM counting))
           OR (p.shape_id NOT IN (SELECT shape_id FROM counting)
               AND (p.shape_id IN (SELECT shape_id FROM named_polls)
                    OR p.shape_id IN (SELECT f.shape_id FROM a_shape f
                                      SEMI JOIN a_shape d ON d.service = f.service
                                                         AND d.role = 'C'
                                                         AND d.topic <> 'unknown'
                                      WHERE f.topic = 'unknown'))))
),
nested_child AS (   -- consumer under a consumer of the same service and destination
    SELECT sk, pk,
           -- the parent is a poll (or, FastStream's, a 'create' span the consumer opens to
           -- anchor a new trace) and the child the processing, or the parent an unnamed
           -- poll or wrapper and the child named, or the child has its message's context
           -- itself (a batch span around a span per message, each linked to its producer:
           -- the Java agent's Lambda SQS spans)
           (coalesce(p_op, '') IN ('receive', 'create')
            AND coalesce(op, '') NOT IN ('receive', 'create'))
           OR (coalesce(p_op, 'receive') = 'receive' AND p_topic = 'unknown'
               AND topic <> 'unknown')
           OR sk IN (SELECT c_sk FROM a_match_t WHERE prio <= 2) AS child_counts
    FROM c WHERE p_nested
),
wrappers AS (
    SELECT c.sk
    FROM c JOIN a_lk l ON l.from_sk = c.sk
    JOIN c r ON r.sk = l.to_sk AND r.service = c.service
),
inherited AS (   -- children whose only producers are the ones of the span they are in
    SELECT n.sk, n.pk
    FROM nested_child n JOIN a_match_t m ON m.c_sk = n.sk
    WHERE n.child_counts GROUP BY n.sk, n.pk HAVING min(m.prio) = 3
),
shared AS (SELECT pk FROM inherited GROUP BY pk HAVING count(*) > 1),
-- A batch span (linking several messages) each of whose messages a span of its own in the
-- same service delivered too is a step after those deliveries, not a second delivery of
-- them: Broadway's handle_batch span after each message's processor span, Vert.x's batch
-- handler beside its per-record handler. (Only link-joined batches: a_match_t is scanned
-- for the few rows that join them; services are compared on those rows only.)
batches AS MATERIALIZED (
    SELECT c_sk, count(*) AS n FROM a_match_t WHERE prio = 2 GROUP BY c_sk HAVING n > 1
),
-- A span of a batch consumer's shape (one whose spans link several messages) that names
-- no message at all (no id, no link, no producer parent, no consumer span under it) got
-- an empty batch: the Azure SDKs' receivers open their "BatchingReceiverLite.process" /
-- "PartitionPump.process" span also when the wait for messages ran out with none.
-- (One of a per-message consumer's shape with no link is a delivery that lost its context.)
empty_batches AS (
    SELECT c.sk FROM c
    WHERE c.shape_id IN (SELECT m.shape_id FROM a_msg_t m SEMI JOIN batches x ON x.c_sk = m.sk)
      AND c.mid IS NULL AND coalesce(c.p_role, '') <> 'P'
      AND c.sk NOT IN (SELECT from_sk FROM a_lk)
      AND c.sk NOT IN (SELECT pk FROM c WHERE p_role = 'C')
),
rebatched AS (
    SELECT b.c_sk FROM a_match_t b JOIN batches x ON x.c_sk = b.c_sk
    JOIN a_match_t o ON o.p_canon = b.p_canon
    JOIN a_shape bh ON bh.shape_id = b.c_shape JOIN a_shape oh ON oh.shape_id = o.c_shape
    WHERE b.prio = 2 AND o.c_sk NOT IN (SELECT c_sk FROM batches)
      AND oh.service = bh.service
    GROUP BY b.c_sk, x.n HAVING count(DISTINCT b.p_canon) = x.n
),
-- Two consumer spans of one service and destination joined to two producer spans of one
-- publish (nested producers: one canonical publish), one running inside the other, are two
-- instrumentation layers' view of one delivery: Rails' ActiveJob opens its "process" span,
-- a root of its own linking ActiveJob's publish, inside Sidekiq's, which links (or is a
-- child of) Sidekiq's publish, nested in ActiveJob's. The outer one counts. (A message
-- delivered again reaches the same producer span: that is a redelivery.) The layer that
-- opened a trace of its own is joined by its link: only those rows (prio 2) are paired.
-- (consumer spans naming no messaging system, destination or message: see below; spans of
-- such shapes only, mostly none)
bare AS MATERIALIZED (
    SELECT c.sk, c.pk, h.service FROM a_msg_t c JOIN a_shape h ON h.shape_id = c.shape_id
    WHERE c.shape_id IN (SELECT shape_id FROM a_shape
                         WHERE role = 'C' AND topic = 'unknown' AND msg_system IS NULL)
      AND c.mid IS NULL
),
-- (Each layer may have its context by parent too: MassTransit's receive span is the child
-- of MassTransit's send by its own header, RabbitMQ.Client 7's deliver span around it the
-- child of the client's publish. Only publishes whose deliveries reached two producer spans
-- of theirs are looked at.)
layers AS MATERIALIZED (   -- (publishes of nested producer spans whose deliveries reached
                           -- two of them: few)
    SELECT p_canon FROM a_match_t
    WHERE p_canon IN (SELECT canon FROM a_prod_t WHERE nested)
    GROUP BY p_canon HAVING min(p_sk) <> max(p_sk)
),
lpairs AS MATERIALIZED (   -- (the pairs first: their times are read for these only)
    SELECT x.c_sk AS x_sk, y.c_sk AS y_sk, x.c_shape AS x_shape, y.c_shape AS y_shape
    FROM a_match_t y JOIN a_match_t x ON x.p_canon = y.p_canon
    WHERE (y.prio = 2 OR y.p_canon IN (SELECT p_canon FROM layers))
      AND x.p_sk <> y.p_sk AND x.c_sk <> y.c_sk
),
layered AS (
    SELECT CASE WHEN yc.t0 <= xc.t0 AND xc.t1 <= yc.t1
                     AND (xc.t0 <> yc.t0 OR xc.t1 <> yc.t1 OR l.x_sk > l.y_sk)
                THEN l.x_sk ELSE l.y_sk END AS sk
    FROM lpairs l
    JOIN a_shape xh ON xh.shape_id = l.x_shape JOIN a_shape yh ON yh.shape_id = l.y_shape
    JOIN a_msg_t xc ON xc.sk = l.x_sk
    JOIN a_msg_t yc ON yc.sk = l.y_sk
    WHERE xh.service = yh.service
      AND (xh.topic = yh.topic OR xh.topic = 'unknown' OR yh.topic = 'unknown')
      AND ((yc.t0 <= xc.t0 AND xc.t1 <= yc.t1) OR (xc.t0 <= yc.t0 AND yc.t1 <= xc.t1))
),
-- A delivery span that lasted under a millisecond, without error, followed at once (its
-- next delivery starting within 5 ms of its end) by another delivery of the same producer
-- span in the same service, is the client's hand-off of that delivery to a listener, not a
-- delivery of its own: the Java agent's rabbitmq-client span before spring-rabbit's when
-- both name one destination (Spring Cloud Stream's binder routes by the destination's
-- name). (Spans that short are few: they are found first.)
quick AS MATERIALIZED (
    SELECT m.c_sk, m.p_sk, c.t1, c.mid, h.service
    FROM a_msg_t c JOIN a_match_t m ON m.c_sk = c.sk
    JOIN a_shape h ON h.shape_id = c.shape_id
    WHERE c.t1 - c.t0 < 1000000 AND h.role = 'C' AND NOT h.err AND m.prio <= 2
),
handoff AS (
    SELECT q.c_sk FROM quick q
    JOIN a_match_t o ON o.p_sk = q.p_sk
    JOIN a_msg_t oc ON oc.sk = o.c_sk
    JOIN a_shape oh ON oh.shape_id = o.c_shape
    WHERE o.c_sk <> q.c_sk AND oh.service = q.service AND o.prio <= 2
      AND oc.t0 >= q.t1 AND oc.t0 - q.t1 < 5000000
      -- (of one message: two messages of a batch publish name two ids)
      AND (q.mid IS NULL OR oc.mid IS NULL OR q.mid = oc.mid)
),
dropped AS (
    SELECT sk FROM empty_polls
    UNION
    -- the child, unless the parent is a poll and the child the processing (and the only
    -- one that handles the parent's message)
    SELECT sk FROM nested_child WHERE NOT child_counts
    UNION
    SELECT pk FROM nested_child WHERE child_counts AND pk NOT IN (SELECT pk FROM shared)
    UNION
    SELECT sk FROM inherited WHERE pk IN (SELECT pk FROM shared)
    UNION
    SELECT sk FROM wrappers
    UNION
    SELECT r.c_sk
    FROM a_match r JOIN a_match q ON q.p_canon = r.p_canon AND q.c_service = r.c_service
    WHERE r.c_op = 'receive' AND coalesce(q.c_op, '') <> 'receive' AND q.c_sk <> r.c_sk
      AND r.c_sk NOT IN (SELECT pk FROM shared)
      -- (unless that processing span is the hand-off below, naming the destination the
      -- message was published to where the poll names the one it was routed to: eShop's
      -- "<event> receive" CLIENT span, its handlers' parent, beside RabbitMQ.Client 7's
      -- "deliver <event>" naming the exchange)
      AND NOT (q.c_topic = q.p_topic AND r.c_topic <> r.p_topic AND r.c_topic <> 'unknown'
               AND r.p_topic <> 'unknown')
    UNION
    -- (a second join, not an OR in the one above: each side's filter then reaches its
    -- scan; one join with an OR took 88 ms against 72 at 1M)
    SELECT r.c_sk
    FROM a_match r JOIN a_match q ON q.p_canon = r.p_canon AND q.c_service = r.c_service
    WHERE r.c_topic = r.p_topic AND q.c_topic <> q.p_topic AND q.c_topic <> 'unknown'
      AND q.p_topic <> 'unknown' AND q.c_sk <> r.c_sk
    UNION
    SELECT sk FROM layered
    UNION
    SELECT c_sk FROM rebatched
    UNION
    SELECT sk FROM empty_batches
    UNION
    SELECT c_sk FROM handoff
    UNION
    -- a broker's own span of the message passing through it (analyzer_relays)
    SELECT sk FROM a_relay
    UNION
    -- a consumer span naming no messaging system, destination or message, that got nothing
    -- from another service, where no other service publishes anything unnamed either, is an
    -- in-process hand-over, no delivery: Spring Integration's channel (a root CONSUMER span
    -- with only messaging.operation), Symfony Messenger's SEND span inside the request that
    -- dispatched the message. (Its worker's CONSUME span, as bare, may have come from such
    -- a dispatch elsewhere: a delivery whose context was lost. And one whose parent runs in
    -- another service got its context from there: a delivery from a sender without a
    -- producer span, as Rust services using lapin and Python's dramatiq instrumentor
    -- give them.)
    SELECT b.sk FROM bare b
    WHERE b.sk NOT IN (SELECT m.c_sk FROM a_match_t m JOIN bare b2 ON b2.sk = m.c_sk
                       JOIN a_shape ph ON ph.shape_id = m.p_shape
                       WHERE ph.service <> b2.service)
      AND b.sk NOT IN (SELECT b3.sk FROM bare b3 JOIN a_spans p ON p.sk = b3.pk
                       WHERE p.service <> b3.service)
      AND b.service NOT IN (SELECT DISTINCT h.service FROM bare h
                            JOIN a_shape u ON u.role = 'P' AND u.topic = 'unknown'
                                          AND u.service <> h.service
                            SEMI JOIN a_prod_t p ON p.shape_id = u.shape_id)
),
ptopic AS (   -- (only a consumer naming no destination needs its producer's: the one its
              -- publish names, maybe on an inner span, as an SDK's under a framework's)
    SELECT m.c_sk, max(p.topic) AS topic
    FROM a_match m JOIN a_prod p ON p.canon = m.p_canon
    SEMI JOIN c ON c.sk = m.c_sk AND c.topic = 'unknown'
    WHERE p.topic <> 'unknown' GROUP BY m.c_sk
),
-- (else, a publish naming none either, the one where the message's other deliveries say
-- it went: analyzer_hops' went, which sends that publish there)
unnamed AS MATERIALIZED (   -- (such consumers joined to such publishes: mostly none)
    SELECT m.c_sk, m.p_canon FROM a_match m
    SEMI JOIN c ON c.sk = m.c_sk AND c.topic = 'unknown'
    WHERE m.p_topic = 'unknown'
),
wtopic AS (
    SELECT m.c_sk, min(k.topic) AS topic
    FROM unnamed m JOIN a_match o ON o.p_canon = m.p_canon
    JOIN c k ON k.sk = o.c_sk
    WHERE k.topic <> 'unknown'
    GROUP BY m.c_sk HAVING count(DISTINCT k.topic) = 1
)
SELECT c.trace_id, c.span_id, c.sk, c.shape_id, c.t0, c.t1, c.mid,
       CASE WHEN c.topic = 'unknown' THEN
           coalesce(CASE WHEN c.p_nested AND c.p_topic <> 'unknown' THEN c.p_topic END,
                    pt.topic, wt.topic) END AS alt_topic
FROM c LEFT JOIN ptopic pt ON pt.c_sk = c.sk
LEFT JOIN wtopic wt ON wt.c_sk = c.sk
WHERE c.sk NOT IN (SELECT sk FROM dropped);
CREATE OR REPLACE TEMP VIEW a_cons AS
SELECT k.* EXCLUDE (shape_id, alt_topic), h.service, h.err, h.cgroup,
       -- a consumer naming no destination takes the one of the consumer span it is nested
       -- in, else its producer's, else stays 'unknown'
       CASE WHEN h.topic <> 'unknown' THEN h.topic
            ELSE coalesce(k.alt_topic, 'unknown') END AS topic
FROM a_cons_t k JOIN a_shape h ON h.shape_id = k.shape_id

-- name: analyzer_instant_deliveries
-- Deliveries whose span is a mark, shorter than $instant ns: Brave marks a delivery with a
-- span of no duration ("poll", "next-message", "receive") and handles the message in an
-- "on-message" child; SmallRye Reactive Messaging's receive span lasts some 30 µs, its
-- handler's work runs under it.
SELECT count(*) FROM a_cons_t WHERE t1 - t0 < $instant

-- name: analyzer_delivery_work
-- (run only when there are such deliveries: it reads every span) Such a delivery lasts
-- until the end of its work: its direct children in its service that are no messaging spans.
UPDATE a_cons_t SET t1 = w.t1
FROM (SELECT k.sk, max(s.t1) AS t1
      FROM a_cons k JOIN a_spans s ON s.pk = k.sk
      WHERE k.t1 - k.t0 < $instant AND s.role IS NULL AND s.service = k.service
      GROUP BY k.sk) w
WHERE a_cons_t.sk = w.sk AND w.t1 > a_cons_t.t1

-- name: analyzer_bare_producers
-- Whether the window has producer spans naming no messaging system, destination or message
-- (their shapes, then their spans: mostly none)
SELECT count(*) FROM a_prod_t
WHERE mid IS NULL AND shape_id IN (SELECT shape_id FROM a_shape
                                   WHERE role = 'P' AND topic = 'unknown'
                                     AND msg_system IS NULL)

-- name: analyzer_inproc_sends
-- Such a producer span whose deliveries were all in-process hand-overs of its own service
-- (analyzer_consumers drops those) is no publish either: Spring Integration's
-- "<channel> send" (analyzer_hops). Asked only when analyzer_bare_producers found some.
CREATE OR REPLACE TEMP TABLE a_inproc AS
SELECT m.p_canon FROM a_prod_t b
JOIN a_match_t m ON m.p_canon = b.sk
JOIN a_shape ch ON ch.shape_id = m.c_shape
JOIN a_shape ph ON ph.shape_id = m.p_shape
LEFT JOIN a_cons_t k ON k.sk = m.c_sk
WHERE b.mid IS NULL
  AND b.shape_id IN (SELECT shape_id FROM a_shape
                     WHERE role = 'P' AND topic = 'unknown' AND msg_system IS NULL)
GROUP BY m.p_canon
-- (a consumer span named a send is the transport's send, the message leaving: Symfony
-- Messenger's "SEND <class>" spans were of kind CONSUMER for a while)
HAVING bool_and(k.sk IS NULL AND ch.service = ph.service
                AND NOT regexp_matches(lower(ch.name), '^(send|publish)( |$)'))

-- name: analyzer_inproc_none
CREATE OR REPLACE TEMP TABLE a_inproc AS SELECT NULL::UBIGINT AS p_canon WHERE false

-- name: analyzer_peer_answers_none
-- (a window: its own calls are what analyzer_hops' learned reads)
CREATE OR REPLACE TEMP TABLE a_peer_answer (peer VARCHAR, service VARCHAR)

-- name: analyzer_peer_answers
-- (a flow's traces) The services whose server spans answered, anywhere in the store, client
-- spans naming the peers of the flow's client spans that nothing answered: what
-- analyzer_hops' learned reads of a whole window, so the flow view names the service the
-- map does. (Mostly no such client span: nothing else is read.)
CREATE OR REPLACE TEMP TABLE a_peer_answer AS
WITH lone AS (
    SELECT DISTINCT h.learn_peer AS peer
    FROM a_rows r JOIN a_shape h ON h.shape_id = r.shape_id
    WHERE h.learn_peer NOT IN (SELECT service FROM a_shape)
      AND NOT EXISTS (SELECT 1 FROM a_rows c
                      WHERE c.trace_id = r.trace_id AND c.parent_span_id = r.span_id)
),
cs AS (SELECT shape_id, learn_peer AS peer FROM a_shape
       WHERE learn_peer IN (SELECT peer FROM lone))
SELECT DISTINCT cs.peer, ch.service
FROM span_rows p JOIN cs ON cs.shape_id = p.shape_id
JOIN span_rows c ON c.trace_id = p.trace_id AND c.parent_span_id = p.span_id
JOIN a_shape ch ON ch.shape_id = c.shape_id
WHERE ch.kind = 'SERVER' AND ch.role IS NULL
