-- Queries of the flow analyzer (analyzer/). The analysis stages run on one read cursor and
-- build TEMP tables (private to that cursor, allowed on a read-only database), so every
-- aggregate is computed by DuckDB over columns and Python only sees aggregated rows.
--
-- Span roles and topics are defined once, by the macros of analyzer_macros (below).
--
-- Spans are joined by 64-bit keys, sk = hash(trace_id, span_id) and pk = the parent's sk:
-- on a million spans an integer hash join is several times faster than one on two strings,
-- and a collision (probability ~1e-8 at that size) could at worst misplace one span.
-- Message ids are only ever compared, so the staged tables carry them hashed the same way
-- (mid): a 36-character string per messaging span cost more to copy than anything done with it.

-- name: analyzer_session
-- The stages' statements need no row order (every result that is shown is ORDER BY'd or
-- aggregated with explicit tie-breaks), and keeping insertion order makes each TEMP table
-- copy several times slower (order-preserving batch insert). A setting of this cursor only.
SET SESSION preserve_insertion_order = false

-- name: analyzer_macros
-- What every query here means by a span's role and topic (TEMP macros of this cursor; the
-- stages and the flow view read them per shape, from a_shape).
-- Role 'P' publishes: a PRODUCER span, a CLIENT span whose messaging.operation.type is
-- send/create, or an INTERNAL, SERVER or UNSPECIFIED span (bridged or converted data) of a
-- messaging system that says it sends (some libraries and push deliveries use those
-- kinds). 'C' consumes: a CONSUMER span, a CLIENT receive (a poll), or an INTERNAL, SERVER
-- or UNSPECIFIED span of a messaging system that receives or processes. A SERVER span needs
-- no system: its messaging operation says it was a delivery (Rebus' point-to-point
-- deliveries name none), where an INTERNAL span's may be a handler's inside one. Anything else has no role. Ruby's bunny instrumentation opens a
-- CONSUMER span for every frame its reader loop reads (heartbeats, broker replies) and
-- renames the ones that are deliveries: one still named 'Bunny::ReaderLoop#run_once'
-- delivered nothing. (Dapr's sidecar spans say their operation only in their names: the
-- collector reads it there, collector.conventions.operation_from_name.)
CREATE OR REPLACE TEMP MACRO msg_role(kind, op, sys, name) AS
    CASE WHEN name = 'Bunny::ReaderLoop#run_once' THEN NULL
         -- (Durable Task's PRODUCER spans that start an orchestration or raise an event
         -- for one: the orchestration's worker runs it under a SERVER span, a call; an
         -- event lands in its history with no span. No topic carries either)
         WHEN kind = 'PRODUCER' AND sys IS NULL
              AND (starts_with(name, 'create_orchestration:')
                   OR starts_with(name, 'orchestration_event:')) THEN NULL
         -- (an MQTT topic holds no wildcard: a span named by a filter is a SUBSCRIBE,
         -- which OBI reports as a CONSUMER span, once per connection)
         WHEN lower(sys) = 'mqtt' AND regexp_matches(name, '[+#]') THEN NULL
         WHEN op = 'settle' THEN NULL  -- an acknowledgement, whatever its kind
         -- (Pub/Sub's Node client 5.0 said its "<subscription> ack" RPC spans receive)
         WHEN kind = 'CLIENT' AND op = 'receive'
              AND regexp_matches(lower(name), ' (ack|nack|modack)$') THEN NULL
         WHEN kind = 'PRODUCER' THEN 'P'
         WHEN kind = 'CONSUMER' THEN 'C'
         WHEN kind = 'CLIENT' AND op IN ('send', 'create') THEN 'P'
         WHEN kind = 'CLIENT' AND op = 'receive' THEN 'C'
         WHEN kind IN ('INTERNAL', 'SERVER', 'UNSPECIFIED')
              AND (sys IS NOT NULL OR kind = 'SERVER') AND op IN ('send', 'create') THEN 'P'
         WHEN kind IN ('INTERNAL', 'SERVER', 'UNSPECIFIED')
              AND (sys IS NOT NULL OR kind = 'SERVER') AND op IN ('receive', 'process')
              THEN 'C' END;
-- Topic: the normalised destination (by its destination_name, below); 'unknown' when a
-- span names none (or an empty name),
-- except RabbitMQ's default exchange, which clients name '' (the Java agent '<default>') and
-- the conventions 'amq.default', and temporary destinations (reply queues, inboxes: a new name each time),
-- which are one '(temporary)' node per messaging system rather than one per name.
-- Names that brokers generate for reply destinations are temporary whether or not the span
-- says so: NATS inboxes (_INBOX.*), RabbitMQ server-named queues (amq.gen-*, Spring AMQP's
-- spring.gen-*) and its direct reply-to (amq.rabbitmq.reply-to*), IBM MQ's dynamic
-- queues (AMQ.*, CSQ.*), FastStream's Redis reply channels (a NUID), aio-pika's
-- anonymous queues (amq_<uuid>).
-- aio-pika's instrumentation names a publish 'exchange,routing key' (its consumers name the
-- exchange): RabbitMQ names cannot hold a comma, so the part before it is the exchange.
CREATE OR REPLACE TEMP MACRO msg_topic(dest, sys, dkind) AS
    -- (RabbitMQ's default exchange is no temporary destination, though Go's amqp091otel
    -- says its '' is anonymous)
    CASE WHEN dest IN ('', '<default>') AND lower(sys) = 'rabbitmq' THEN 'amq.default'
         -- (OBI, the eBPF instrumentation, names '*' a Kafka topic it knows only by its id)
         WHEN dest = '*' THEN 'unknown'
         WHEN dkind = 'temporary' OR starts_with(dest, '_INBOX.')
              -- (a bare UUID: a broker-generated reply queue, named so by ActiveMQ
              -- Artemis, whose consumers do not say it is temporary)
              OR regexp_full_match(dest, '[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}')
              OR starts_with(dest, 'amq.gen-') OR starts_with(dest, 'spring.gen-')
              OR starts_with(dest, 'amq.rabbitmq.reply-to')
              -- (aio-pika's robust channels name a queue declared without a name so,
              -- to declare it again after a reconnection: an RPC client's reply queue)
              OR regexp_full_match(dest, 'amq_[0-9a-f]{32}')
              OR starts_with(dest, 'AMQ.') OR starts_with(dest, 'CSQ.')
              -- (FastStream's Redis requests: a reply channel named by a NUID, 22 random
              -- letters and digits: both cases, and a digit, or, as one NUID in fifty has
              -- none, both cases six times or more, which a CamelCase name seldom is)
              OR (lower(sys) = 'redis' AND regexp_full_match(dest, '[0-9A-Za-z]{22}')
                  AND regexp_matches(dest, '[A-Z]') AND regexp_matches(dest, '[a-z]')
                  AND (regexp_matches(dest, '[0-9]')
                       OR (length(regexp_replace(dest, '[^A-Z]', '', 'g')) >= 6
                           AND length(regexp_replace(dest, '[^a-z]', '', 'g')) >= 6)))
         THEN '(temporary:' || coalesce(lower(sys), 'messaging') || ')'
         WHEN lower(sys) = 'rabbitmq' AND contains(dest, ',')
              THEN coalesce(nullif(split_part(dest, ',', 1), ''), 'amq.default')
         -- a Lambda event source ('aws:sqs': the Java agent's per-message Lambda spans)
         -- names the kind of trigger, not a queue
         WHEN dest IN ('aws:sqs', 'aws:sns', 'aws:kinesis') THEN 'unknown'
         -- Rebus.Diagnostics names its destinations as a JSON array ('["orders"]')
         WHEN starts_with(dest, '["') AND ends_with(dest, '"]') AND json_valid(dest)
              THEN coalesce(nullif(json_extract_string(dest, '$[0]'), ''), 'unknown')
         -- the Python Event Hubs SDK names a hub by its AMQP path ('/orders'); the other
         -- SDKs by its name
         WHEN lower(sys) = 'eventhubs' AND starts_with(dest, '/') AND length(dest) > 1
              THEN ltrim(dest, '/')
         -- Google Pub/Sub's Go client v2 names a topic by its resource name
         -- ('projects/<p>/topics/<t>'), the other clients by its id; so did the Node
         -- client before 4.x, with system 'pubsub'
         WHEN lower(sys) IN ('gcp_pubsub', 'pubsub') AND starts_with(dest, 'projects/')
              AND regexp_matches(dest, '^projects/[^/]+/(topics|subscriptions)/.')
              THEN regexp_replace(dest, '^projects/[^/]+/(topics|subscriptions)/', '')
         -- a partitioned Pulsar topic is one topic, whichever partition a span names
         WHEN lower(sys) = 'pulsar' AND regexp_matches(dest, '-partition-[0-9]+$')
              THEN regexp_replace(dest, '-partition-[0-9]+$', '')
         ELSE coalesce(nullif(dest, ''), 'unknown') END;
-- The name a destination is known by: IBM MQ's JMS classes name a destination created by
-- URI ('queue:///Q', 'queue://QM1/Q?...', 'topic://a/b') so, and a received message's
-- destination always so: the queue or topic it names. (IBM MQ names the dynamic queues it
-- makes for replies 'AMQ.*', 'CSQ.*' on z/OS, a prefix it reserves: msg_topic.) An SNS
-- topic or SQS queue named by its ARN ('arn:aws:sns:<region>:<account>:orders': the
-- Python and JS AWS SDK instrumentations' messaging.destination.name of a publish, where
-- their older releases, the span name and the console say 'orders') is its name, so that
-- old and new instrumentation meet at one node. Callers
-- compute it in a subquery and pass the column to msg_topic: a macro's argument is
-- inlined at every use of it, and msg_topic uses its destination some twenty times.
CREATE OR REPLACE TEMP MACRO destination_name(dest) AS
    CASE WHEN starts_with(dest, 'queue://') THEN regexp_extract(dest, '^queue://[^/]*/([^?]*)', 1)
         WHEN starts_with(dest, 'topic://') THEN regexp_extract(dest, '^topic://([^?]*)', 1)
         WHEN starts_with(dest, 'arn:aws')
              AND regexp_full_match(dest, 'arn:aws[a-z-]*:(sns|sqs):[^:]*:[^:]*:[^:/]+')
              THEN regexp_extract(dest, '[^:]+$')
         ELSE dest END;
-- Whether a CLIENT span waited for its child in another service (a synchronous call): a
-- SERVER span no longer than the client, any other child starting before the client ended.
-- A longer server was handed work the client did not wait for (Temporal's Python SDK opens
-- a zero-length StartActivity CLIENT span; each attempt of the activity is a SERVER span
-- under it), as was another child starting once the client had ended (Dapr's input binding
-- under the output binding's span that sent the message): a call of its own, timed by
-- itself, and never clock skew. (A server starting after its client ended, no longer than
-- it, is skewed: server spans are the clock that disagrees.)
CREATE OR REPLACE TEMP MACRO call_waited(pkind, skind, p0, p1, s0, s1) AS
    pkind = 'CLIENT' AND CASE WHEN skind = 'SERVER' THEN s1 - s0 <= p1 - p0 ELSE s0 < p1 END;
-- Whether a client span's server is this host: a sidecar or local agent (an app calling its
-- Dapr sidecar), never an external peer (analyzer_hops, d_external).
CREATE OR REPLACE TEMP MACRO is_loopback(addr) AS
    coalesce(addr IN ('localhost', '127.0.0.1', '::1'), false)

-- name: analyzer_shapes
-- What the stages need of each span shape (service, kind, status, messaging columns), with
-- its role and topic decided once per shape: a store has tens to hundreds of shapes, so
-- spans join this small table instead of each span evaluating the macros.
CREATE OR REPLACE TEMP TABLE a_shape AS
SELECT shape_id, service_name AS service, name, kind, status_code = 'ERROR' AS err,
       -- (in one case: DotNetCore.CAP names its transport 'RabbitMQ', the conventions
       -- 'rabbitmq')
       lower(msg_system) AS msg_system, msg_operation_type AS op,
       msg_consumer_group AS cgroup,
       peer_service, server_address, db_system,
       -- (a client span to this host: a sidecar or local agent, analyzer_hops)
       is_loopback(server_address) AS loopback,
       msg_role(kind, msg_operation_type, msg_system, name) AS role,
       msg_topic(dest, msg_system, msg_destination_kind) AS topic,
       -- (a span of this shape under another service's producer span may be a delivery
       -- pushed to it: no role, no messaging system, destination or database, analyzer_pushed)
       msg_role(kind, msg_operation_type, msg_system, name) IS NULL
           AND kind IN ('SERVER', 'INTERNAL', 'UNSPECIFIED') AND msg_system IS NULL
           AND db_system IS NULL
           AND msg_topic(dest, msg_system, msg_destination_kind) = 'unknown' AS push_child,
       -- (the peer a client span of this shape calls, where the calls a server span
       -- answered may tell which service answers there: analyzer_hops' learned. No
       -- messaging or database span's, nor a loopback address', where a sidecar answers)
       CASE WHEN kind = 'CLIENT' AND msg_role(kind, msg_operation_type, msg_system, name) IS NULL
                 AND msg_system IS NULL AND db_system IS NULL AND NOT is_loopback(server_address)
            THEN coalesce(peer_service, server_address) END AS learn_peer
FROM (SELECT *, destination_name(msg_destination) AS dest FROM span_shapes)

-- name: analyzer_shape_topics
-- The topic names of the store's shapes, for analyzer.destinations to group those named
-- per entity (sensors/dev-17/temp, ...)
SELECT DISTINCT topic FROM a_shape WHERE topic IS NOT NULL

-- name: analyzer_group_topics
-- ... and each grouped name replaced by its group's (a_topic_group: name -> grp, an Arrow
-- table the Stager registers): every stage reads a span's topic from its shape, so they
-- all see one topic.
UPDATE a_shape SET topic = m.grp FROM a_topic_group m WHERE a_shape.topic = m.name

-- name: analyzer_src_all
-- The stages read a_rows (span rows, joined to a_shape) and a_links: the whole store for an
-- analysis ...
CREATE OR REPLACE TEMP VIEW a_rows AS SELECT * FROM span_rows

-- name: analyzer_links_all
CREATE OR REPLACE TEMP VIEW a_links AS SELECT * FROM span_links

-- name: analyzer_src_traces
-- ... or only the traces $ids, for one flow. list_contains() is pushed into the scan as a
-- filter on trace_id alone, so the other columns are read only for matching rows (an IN
-- (subquery) semi-join reads every column of every span first; ~12x slower at 1M spans), and
-- it works through a view as well as on a table.
CREATE OR REPLACE TEMP TABLE a_rows AS
SELECT * FROM span_rows WHERE list_contains($ids::VARCHAR[], trace_id)

-- name: analyzer_src_traces_full
-- Every column of those spans, as the view spans has them (for flow_spans), from the rows
-- already read rather than a second scan.
CREATE OR REPLACE TEMP VIEW a_src AS
SELECT r.* EXCLUDE (shape_id), h.* EXCLUDE (shape_id)
FROM a_rows r JOIN span_shapes h ON h.shape_id = r.shape_id

-- name: analyzer_links_traces
CREATE OR REPLACE TEMP TABLE a_links AS
SELECT * FROM span_links WHERE list_contains($ids::VARCHAR[], trace_id)

-- name: analyzer_link_keys
-- Every link by the keys the stages join on: the linking span's, the linked span's and the
-- message id's (producers, matches and deliveries all follow links).
-- (a link from a span to itself, as broken instrumentation may add, says nothing: it
-- would make a consumer span the wrapper of itself)
CREATE OR REPLACE TEMP TABLE a_lk AS
SELECT hash(trace_id, span_id) AS from_sk, hash(linked_trace_id, linked_span_id) AS to_sk,
       CASE WHEN msg_message_id IS NOT NULL THEN hash(msg_message_id) END AS link_mid
FROM a_links
WHERE NOT (span_id = linked_span_id AND trace_id = linked_trace_id)

-- name: analyzer_window
-- The window [since, until) for the views below (a variable of this cursor).
SET VARIABLE a_window = [$since, $until]

-- name: analyzer_load_spans
-- The window's spans, as a view: each stage reads only the columns it needs straight from
-- the store (materialising every span's row once cost more than all the scans it saved).
-- a_spans is what the stages read; a_spans_w stays the whole window when a service filter
-- narrows a_spans to the kept traces.
CREATE OR REPLACE TEMP VIEW a_spans_w AS
SELECT r.trace_id, r.span_id, r.parent_span_id, hash(r.trace_id, r.span_id) AS sk,
       CASE WHEN r.parent_span_id IS NOT NULL THEN hash(r.trace_id, r.parent_span_id) END AS pk,
       h.kind, h.service, h.name,
       r.start_time_unix_nano AS t0, r.end_time_unix_nano AS t1,
       h.err, h.msg_system, h.op, r.msg_message_id AS msg_id,
       r.msg_conversation_id AS conv_id, h.cgroup, r.msg_batch_count AS batch_n,
       h.peer_service, h.server_address, h.db_system, h.role, h.topic, r.shape_id,
       h.loopback, h.push_child
FROM a_rows r JOIN a_shape h ON h.shape_id = r.shape_id
WHERE r.start_time_unix_nano >= getvariable('a_window')[1]
  AND r.start_time_unix_nano < getvariable('a_window')[2]

-- name: analyzer_spans_all
CREATE OR REPLACE TEMP VIEW a_spans AS SELECT * FROM a_spans_w

-- name: analyzer_spans_keep
CREATE OR REPLACE TEMP VIEW a_spans AS
SELECT s.* FROM a_spans_w s SEMI JOIN a_keep k ON k.trace_id = s.trace_id

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

-- ---------------------------------------------------------------- one flow (waterfall)

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

-- ------------------------------------------------------- one map element (detail panel)
-- Direct queries over `spans` for one clicked node or edge, without staging the window:
-- each builds d_rows(trace_id, t0, t1, err, queue_ns) with the analysis' rules for that hop
-- type, then detail_stats / detail_series aggregate it. $service keeps traces that have a
-- span of that service.

-- name: detail_rows_publish
-- A publish is an outermost producer span, as in analyzer_producers: a producer span under
-- a producer span (of any service) for the same destination, or where either names none,
-- belongs to its outermost one (three levels, as there), whose destination is the one any
-- of them names; a 'create' under a batch send is a message of its own, and the send
-- around (or linking to) such creates is not one (the analysis counts that envelope only
-- if a consumer was joined to it: rare, not looked for here).
CREATE OR REPLACE TEMP TABLE d_rows AS
WITH a AS (     -- producer spans naming $topic or none (role and topic per shape, a_shape)
    SELECT r.trace_id, r.span_id, r.parent_span_id, r.start_time_unix_nano AS t0,
           r.end_time_unix_nano AS t1, h.err, coalesce(h.op, '') AS op, h.topic, h.service,
           r.msg_message_id
    FROM span_rows r JOIN a_shape h ON h.shape_id = r.shape_id
    WHERE r.start_time_unix_nano >= $since AND r.start_time_unix_nano < $until
      AND h.role = 'P' AND (h.topic IN ($topic, 'unknown') OR $topic = 'unknown')
),
-- (equi-joins only: a condition on both sides in an ANTI JOIN's ON makes DuckDB compare
-- every pair, 0.8 s for 14k producers)
n AS (          -- whether each is nested in its parent (a_msg's p_nested)
    SELECT c.*, coalesce(q.span_id IS NOT NULL AND NOT (c.op = 'create' AND q.op <> 'create')
                         AND (c.topic = q.topic OR c.topic = 'unknown'
                              OR q.topic = 'unknown'), false) AS nested
    FROM a c LEFT JOIN a q ON q.trace_id = c.trace_id AND q.span_id = c.parent_span_id
),
g AS (          -- each publish: its outermost span, destination and error
    SELECT c.trace_id,
           CASE WHEN NOT c.nested THEN c.span_id WHEN NOT q.nested THEN q.span_id
                ELSE q.parent_span_id END AS canon,
           coalesce(max(c.topic) FILTER (WHERE c.topic <> 'unknown'), 'unknown') AS topic,
           bool_or(c.err) AS err
    FROM n c LEFT JOIN n q ON q.trace_id = c.trace_id AND q.span_id = c.parent_span_id
    GROUP BY ALL
),
envelope AS (  -- a send around (or linking to) the creates of its messages
    SELECT k.trace_id, k.parent_span_id AS span_id FROM a k
    WHERE k.op = 'create' AND k.service = $name AND k.topic = $topic
    UNION
    SELECT l.trace_id, l.span_id FROM span_links l
    JOIN a k ON k.trace_id = l.linked_trace_id AND k.span_id = l.linked_span_id
    WHERE k.service = $name AND k.topic = $topic
    UNION
    -- (a producer span saying it does something else than send, naming no destination and
    -- no message: Brighter's outbox sweeper's "clear", as analyzer_producers' env)
    SELECT k.trace_id, k.span_id FROM a k
    WHERE k.service = $name AND k.topic = 'unknown' AND k.msg_message_id IS NULL
      AND k.op NOT IN ('', 'send', 'create', 'receive', 'process')
)
SELECT p.trace_id, p.span_id, p.t0, p.t1, g.err, NULL::BIGINT AS queue_ns
FROM n p
JOIN g ON g.trace_id = p.trace_id AND g.canon = p.span_id
LEFT JOIN envelope e ON e.trace_id = p.trace_id AND e.span_id = p.span_id
WHERE p.service = $name AND g.topic = $topic AND (e.span_id IS NULL OR p.op = 'create')

-- name: detail_implied_shapes
-- Whether $name may have implied publishes to $topic (analyzer_implied), by shape: spans of
-- no role or consumer spans of $name, and consumer spans of another service naming $topic.
SELECT (SELECT count(*) FROM a_shape WHERE service = $name AND (role IS NULL OR role = 'C'))
     * (SELECT count(*) FROM a_shape WHERE role = 'C' AND service <> $name AND topic = $topic)

-- name: detail_implied_publishes
-- (when detail_implied_shapes says so) A span of $name, of no role or a consumer span that
-- is no relay, under which a consumer span of another service naming $topic started
-- without a producer (none as parent or by link, none of its message id): an implied
-- publish (analyzer_implied), one per span.
INSERT INTO d_rows
WITH k AS (
    SELECT r.trace_id, r.span_id, r.parent_span_id, r.msg_message_id
    FROM span_rows r JOIN a_shape h ON h.shape_id = r.shape_id
    WHERE r.start_time_unix_nano >= $since AND r.start_time_unix_nano < $until
      AND h.role = 'C' AND h.service <> $name AND h.topic = $topic
      AND r.parent_span_id IS NOT NULL
),
x AS (
    SELECT k.trace_id AS k_trace, k.span_id AS k_span, k.msg_message_id, x.trace_id,
           x.span_id, x.start_time_unix_nano AS t0, x.end_time_unix_nano AS t1, xh.err,
           xh.role
    FROM k JOIN span_rows x ON x.trace_id = k.trace_id AND x.span_id = k.parent_span_id
    JOIN a_shape xh ON xh.shape_id = x.shape_id
    WHERE xh.service = $name AND (xh.role IS NULL OR xh.role = 'C')
      AND x.start_time_unix_nano >= $since AND x.start_time_unix_nano < $until
)
SELECT DISTINCT x.trace_id, x.span_id, x.t0, x.t1, x.err, NULL::BIGINT AS queue_ns
FROM x
WHERE NOT EXISTS (SELECT 1 FROM span_links l JOIN span_rows p ON p.trace_id = l.linked_trace_id
                                             AND p.span_id = l.linked_span_id
                  JOIN a_shape ph ON ph.shape_id = p.shape_id
                  WHERE l.trace_id = x.k_trace AND l.span_id = x.k_span AND ph.role = 'P')
  AND NOT EXISTS (SELECT 1 FROM span_rows p JOIN a_shape ph ON ph.shape_id = p.shape_id
                  WHERE x.msg_message_id IS NOT NULL AND p.msg_message_id = x.msg_message_id
                    AND ph.role = 'P')
  -- (not a relay: a consumer span with a producer child of its service naming $topic)
  AND NOT (x.role = 'C'
           AND EXISTS (SELECT 1 FROM span_rows y JOIN a_shape yh ON yh.shape_id = y.shape_id
                       WHERE y.trace_id = x.trace_id AND y.parent_span_id = x.span_id
                         AND yh.role = 'P' AND yh.service = $name AND yh.topic = $topic))

-- name: detail_unnamed_producers
-- Whether $name has producer spans naming no destination (by shape: no span is read).
SELECT count(*) FROM a_shape WHERE service = $name AND role = 'P' AND topic = 'unknown'

-- name: detail_publish_went
-- (run only when $name has producer spans naming no destination: it reads every consumer
-- span. Three statements, split on their semicolons: none in these comments.) A publish
-- naming no destination went where all its deliveries say it came from, as in
-- analyzer_hops (here its deliveries are the consumer spans that are children of, link
-- to, or carry the message id of any span of it): it leaves the 'unknown' edge's rows and
-- joins its destination's.
-- Its spans are those detail_rows_publish groups: a producer span naming none under
-- another of $name's belongs to that one (its grandparent's if that one is nested too), and
-- one under a producer span naming a destination is that publish's, named already.
CREATE OR REPLACE TEMP TABLE d_went AS
WITH u0 AS (     -- (roles and topics per shape, a_shape)
    SELECT r.trace_id, r.span_id, r.parent_span_id, r.start_time_unix_nano AS t0,
           r.end_time_unix_nano AS t1, h.err, coalesce(h.op, '') AS op, r.msg_message_id
    FROM span_rows r JOIN a_shape h ON h.shape_id = r.shape_id
    WHERE r.start_time_unix_nano >= $since AND r.start_time_unix_nano < $until
      AND h.service = $name AND h.topic = 'unknown' AND h.role = 'P'
),
named AS (       -- producer spans naming a destination that are parents of those
    SELECT q.trace_id, q.span_id FROM span_rows q
    SEMI JOIN u0 ON u0.trace_id = q.trace_id AND u0.parent_span_id = q.span_id
    WHERE q.shape_id IN (SELECT shape_id FROM a_shape WHERE role = 'P' AND topic <> 'unknown')
),
n AS (           -- whether each is nested in its parent
    SELECT c.*, coalesce(q.span_id IS NOT NULL
                         AND NOT (c.op = 'create' AND q.op <> 'create'), false) AS nested
    FROM u0 c LEFT JOIN u0 q ON q.trace_id = c.trace_id AND q.span_id = c.parent_span_id
    ANTI JOIN named x ON x.trace_id = c.trace_id AND x.span_id = c.parent_span_id
),
u AS (           -- each span with the outermost span of its publish (canon)
    SELECT c.trace_id, c.span_id, c.err,
           CASE WHEN NOT c.nested THEN c.span_id WHEN NOT q.nested THEN q.span_id
                ELSE q.parent_span_id END AS canon
    FROM n c LEFT JOIN n q ON q.trace_id = c.trace_id AND q.span_id = c.parent_span_id
    WHERE NOT c.nested OR q.span_id IS NOT NULL
)
SELECT u.trace_id, u.canon AS span_id, any_value(o.t0) AS t0, any_value(o.t1) AS t1,
       bool_or(u.err) AS err, min(c.topic) AS topic
FROM u JOIN u0 o ON o.trace_id = u.trace_id AND o.span_id = u.canon
JOIN (
    SELECT r.trace_id, r.parent_span_id, h.topic
    FROM span_rows r JOIN a_shape h ON h.shape_id = r.shape_id
    WHERE r.start_time_unix_nano >= $since AND r.start_time_unix_nano < $until
      AND h.role = 'C'
    UNION ALL
    SELECT l.linked_trace_id, l.linked_span_id, h.topic
    FROM span_links l
    JOIN span_rows r ON r.trace_id = l.trace_id AND r.span_id = l.span_id
    JOIN a_shape h ON h.shape_id = r.shape_id
    WHERE r.start_time_unix_nano >= $since AND r.start_time_unix_nano < $until
      AND h.role = 'C'
    UNION ALL
    -- (and those of its message id that reach no producer span by context: joined to it
    -- by that id, as analyzer_matches joins them when nothing stronger does)
    SELECT m.trace_id, m.span_id, h.topic
    FROM span_rows r JOIN a_shape h ON h.shape_id = r.shape_id
    JOIN u0 m ON m.msg_message_id = r.msg_message_id
    ANTI JOIN (SELECT q.trace_id, q.span_id FROM span_rows q
               WHERE q.shape_id IN (SELECT shape_id FROM a_shape WHERE role = 'P')) q
        ON q.trace_id = r.trace_id AND q.span_id = r.parent_span_id
    WHERE r.start_time_unix_nano >= $since AND r.start_time_unix_nano < $until
      AND h.role = 'C' AND coalesce(r.link_count, 0) = 0
) c ON c.trace_id = u.trace_id AND c.parent_span_id = u.span_id
WHERE c.topic <> 'unknown'
GROUP BY u.trace_id, u.canon HAVING count(DISTINCT c.topic) = 1;
DELETE FROM d_rows USING d_went w
WHERE d_rows.trace_id = w.trace_id AND d_rows.span_id = w.span_id;
INSERT INTO d_rows
SELECT trace_id, span_id, t0, t1, err, NULL FROM d_went WHERE topic = $topic

-- name: detail_rows_consume
-- Deliveries from $topic to $name, counted as analyzer_consumers counts them. A consumer
-- span naming no destination belongs to the one of the consumer span it is nested in,
-- else to its producer's, so those are read too and kept only if that is $topic.
CREATE OR REPLACE TEMP TABLE d_rows AS
WITH lk AS (   -- (links, but none from a span to itself: analyzer_link_keys; the key
               -- columns and message id only: an attribute column read with them costs more
               -- than the rest)
    SELECT trace_id, span_id, linked_trace_id, linked_span_id,
           CASE WHEN msg_message_id IS NOT NULL THEN hash(msg_message_id) END AS lmid
    FROM span_links
    WHERE NOT (span_id = linked_span_id AND trace_id = linked_trace_id)
),
c AS (     -- (roles and topics come from the shapes, a_shape: decided once per shape)
    SELECT r.trace_id, r.span_id, r.parent_span_id, r.start_time_unix_nano AS t0,
           r.end_time_unix_nano AS t1, h.err, r.msg_message_id,
           CASE WHEN h.role = 'P' THEN 'process' ELSE h.op END AS op, h.kind, h.name, h.topic,
           r.msg_batch_count AS batch_n, r.shape_id
    FROM span_rows r JOIN a_shape h ON h.shape_id = r.shape_id
    WHERE r.start_time_unix_nano >= $since AND r.start_time_unix_nano < $until
      -- (all of $name's for the 'unknown' edge: one naming none may belong to another's)
      AND h.service = $name AND (h.topic IN ($topic, 'unknown') OR $topic = 'unknown')
      AND (h.role = 'C'
           -- (a SERVER span saying it sends under another service's publish to its
           -- destination is that message's delivery: analyzer_delivered, d_served)
           OR (h.role = 'P' AND h.kind = 'SERVER'
               AND (r.trace_id, r.span_id) IN (SELECT trace_id, span_id FROM d_served)))
    UNION ALL
    -- (a delivery pushed to a handler that knows nothing of messaging: analyzer_pushed,
    -- d_pushed)
    SELECT trace_id, span_id, parent_span_id, t0, t1, err, msg_message_id, op, kind, name,
           topic, batch_n, NULL::BIGINT
    FROM d_pushed
),
reach AS MATERIALIZED (   -- the producer spans each consumer span reaches by parent or link (ctx),
               -- and those of the same message id and destination
    SELECT r.trace_id, r.span_id, r.op, p.trace_id AS p_trace, p.span_id AS p_span,
           p.end_time_unix_nano AS p_t1, true AS ctx, ph.topic AS p_topic,
           p.parent_span_id AS p_parent, ph.op AS p_op, ph.service AS p_service, r.lmid
    FROM (SELECT trace_id, span_id, op, trace_id AS to_trace, parent_span_id AS to_span,
                 NULL::UBIGINT AS lmid
          FROM c WHERE parent_span_id IS NOT NULL
          UNION ALL
          SELECT c.trace_id, c.span_id, c.op, l.linked_trace_id, l.linked_span_id, l.lmid
          FROM c JOIN lk l ON l.trace_id = c.trace_id AND l.span_id = c.span_id) r
    JOIN span_rows p ON p.trace_id = r.to_trace AND p.span_id = r.to_span
    JOIN a_shape ph ON ph.shape_id = p.shape_id
    WHERE ph.role = 'P'
    UNION ALL
    SELECT c.trace_id, c.span_id, c.op, p.trace_id, p.span_id, p.end_time_unix_nano, false,
           ph.topic, NULL, ph.op, ph.service, NULL
    FROM c
    JOIN span_rows p ON p.msg_message_id = c.msg_message_id
    JOIN a_shape ph ON ph.shape_id = p.shape_id
    WHERE ph.role = 'P' AND (ph.topic IN ($topic, 'unknown') OR $topic = 'unknown')
),
own AS (SELECT DISTINCT trace_id, span_id FROM reach WHERE ctx),  -- has its own context
linking AS (SELECT DISTINCT l.trace_id, l.span_id FROM lk l
            SEMI JOIN c ON c.trace_id = l.trace_id AND c.span_id = l.span_id),
-- (a poll names its message by an id, a link or a consumer span under it, as in
-- analyzer_consumers)
named AS (
    SELECT c.trace_id, c.span_id, c.shape_id FROM c
    WHERE c.kind IN ('CLIENT', 'CONSUMER') AND c.op = 'receive'
      AND (c.msg_message_id IS NOT NULL
           OR EXISTS (SELECT 1 FROM linking k WHERE k.trace_id = c.trace_id
                         AND k.span_id = c.span_id)
           OR EXISTS (SELECT 1 FROM c k WHERE k.trace_id = c.trace_id
                         AND k.parent_span_id = c.span_id))
),
multi AS MATERIALIZED (   -- spans reaching several producers by context (few)
    SELECT trace_id, span_id FROM reach WHERE ctx
    GROUP BY trace_id, span_id HAVING min(hash(p_trace, p_span)) <> max(hash(p_trace, p_span))
),
batch_shapes AS MATERIALIZED (   -- (the shapes of those spans: batch consumers)
    SELECT DISTINCT x.shape_id FROM c x
    SEMI JOIN multi m ON m.trace_id = x.trace_id AND m.span_id = x.span_id
),
counting AS MATERIALIZED (   -- (shapes of polls that count their messages: analyzer_consumers)
    SELECT DISTINCT shape_id FROM c WHERE batch_n > 0
),
empty AS (     -- a poll naming no message where polls of its shape name theirs: came back empty
    SELECT c.trace_id, c.span_id FROM c
    ANTI JOIN own w ON w.trace_id = c.trace_id AND w.span_id = c.span_id
    ANTI JOIN named n ON n.trace_id = c.trace_id AND n.span_id = c.span_id
    WHERE c.kind IN ('CLIENT', 'CONSUMER') AND c.op = 'receive'
      -- (a poll of a shape whose polls say how many they brought decides by that alone)
      AND ((c.batch_n = 0 AND c.shape_id IN (SELECT shape_id FROM counting))
           OR (c.shape_id NOT IN (SELECT shape_id FROM counting)
               AND (c.shape_id IN (SELECT shape_id FROM named)
                    -- (or naming no destination where the service's other consumers name
                    -- theirs)
                    OR (c.topic = 'unknown'
                        AND EXISTS (SELECT 1 FROM a_shape d WHERE d.service = $name
                                       AND d.role = 'C' AND d.topic <> 'unknown')))))
    UNION ALL
    -- (a span of a batch consumer's shape naming no message: an empty batch, analyzer_consumers'
    -- empty_batches)
    SELECT c.trace_id, c.span_id FROM c
    SEMI JOIN batch_shapes bn ON bn.shape_id = c.shape_id
    ANTI JOIN own w ON w.trace_id = c.trace_id AND w.span_id = c.span_id
    ANTI JOIN linking k ON k.trace_id = c.trace_id AND k.span_id = c.span_id
    WHERE c.msg_message_id IS NULL
      AND NOT EXISTS (SELECT 1 FROM c k WHERE k.trace_id = c.trace_id
                         AND k.parent_span_id = c.span_id)
),
shared AS (    -- a delivery handled by several spans in it that have their message from it
    SELECT o.trace_id, o.span_id
    FROM c o SEMI JOIN own w ON w.trace_id = o.trace_id AND w.span_id = o.span_id
    JOIN c k ON k.trace_id = o.trace_id AND k.parent_span_id = o.span_id
    WHERE coalesce(o.op, '') IN ('receive', 'create')
      AND coalesce(k.op, '') NOT IN ('receive', 'create')
      AND NOT EXISTS (SELECT 1 FROM own w2 WHERE w2.trace_id = k.trace_id
                         AND w2.span_id = k.span_id)
    GROUP BY o.trace_id, o.span_id HAVING count(*) > 1
),
layered AS MATERIALIZED (   -- the inner of two consumer spans, one inside the other, that reached two
               -- layers of one publish (a producer span and its producer child): as in
               -- analyzer_consumers (there by the canonical publish)
    SELECT CASE WHEN yc.t0 <= xc.t0 AND xc.t1 <= yc.t1
                     AND (xc.t0 <> yc.t0 OR xc.t1 <> yc.t1 OR x.span_id > y.span_id)
                THEN x.trace_id ELSE y.trace_id END AS trace_id,
           CASE WHEN yc.t0 <= xc.t0 AND xc.t1 <= yc.t1
                     AND (xc.t0 <> yc.t0 OR xc.t1 <> yc.t1 OR x.span_id > y.span_id)
                THEN x.span_id ELSE y.span_id END AS span_id
    FROM reach x JOIN reach y ON y.p_trace = x.p_trace AND y.p_span = x.p_parent
    JOIN c xc ON xc.trace_id = x.trace_id AND xc.span_id = x.span_id
    JOIN c yc ON yc.trace_id = y.trace_id AND yc.span_id = y.span_id
    WHERE x.ctx AND y.ctx
      AND ((yc.t0 <= xc.t0 AND xc.t1 <= yc.t1) OR (xc.t0 <= yc.t0 AND yc.t1 <= xc.t1))
),
handoff AS (   -- a delivery under a millisecond followed at once by another of the same
               -- producer span: its hand-off (analyzer_consumers' handoff)
    SELECT q.trace_id, q.span_id FROM reach q
    JOIN c qc ON qc.trace_id = q.trace_id AND qc.span_id = q.span_id
    JOIN reach o ON o.p_trace = q.p_trace AND o.p_span = q.p_span
    JOIN c oc ON oc.trace_id = o.trace_id AND oc.span_id = o.span_id
    WHERE q.ctx AND o.ctx AND qc.t1 - qc.t0 < 1000000 AND NOT qc.err
      AND NOT (o.trace_id = q.trace_id AND o.span_id = q.span_id)
      AND oc.t0 >= qc.t1 AND oc.t0 - qc.t1 < 5000000
      AND (qc.msg_message_id IS NULL OR oc.msg_message_id IS NULL
           OR qc.msg_message_id = oc.msg_message_id)
),
rebatched AS ( -- such a span whose every producer another span reached alone
               -- (analyzer_consumers' rebatched)
    SELECT b.trace_id, b.span_id
    FROM (SELECT DISTINCT r.trace_id, r.span_id, r.p_trace, r.p_span FROM reach r
          SEMI JOIN multi m ON m.trace_id = r.trace_id AND m.span_id = r.span_id
          WHERE r.ctx) b
    LEFT JOIN (SELECT DISTINCT o.p_trace, o.p_span FROM reach o
               ANTI JOIN multi m ON m.trace_id = o.trace_id AND m.span_id = o.span_id
               WHERE o.ctx) o ON o.p_trace = b.p_trace AND o.p_span = b.p_span
    GROUP BY b.trace_id, b.span_id HAVING count(*) FILTER (WHERE o.p_span IS NULL) = 0
),
polls AS (     -- a poll whose message a processing span of the same service also reached
    SELECT DISTINCT r.trace_id, r.span_id
    FROM reach r JOIN reach q ON q.p_trace = r.p_trace AND q.p_span = r.p_span
    WHERE coalesce(r.op, '') = 'receive' AND coalesce(q.op, '') <> 'receive'
),
counted AS (   -- one per delivery: not the inner span of nested consumer spans (unless the
               -- outer is a poll or anchor, or the inner has its own context), not such an
               -- outer span, not a poll beside the span processing its message or an empty
               -- one, not a second layer's span of a delivery or a hand-off, and not a span
               -- that links to the deliveries it wraps (as in analyzer_consumers)
    SELECT c.* FROM c ANTI JOIN polls x ON x.trace_id = c.trace_id AND x.span_id = c.span_id
    ANTI JOIN empty y ON y.trace_id = c.trace_id AND y.span_id = c.span_id
    ANTI JOIN layered z ON z.trace_id = c.trace_id AND z.span_id = c.span_id
    -- (nor a consumer span under such a second layer's span, which has its message from it:
    -- MassTransit's process span under its receive, inside RabbitMQ.Client's deliver)
    ANTI JOIN (SELECT k.trace_id, k.span_id FROM c k
               SEMI JOIN layered z2 ON z2.trace_id = k.trace_id
                                   AND z2.span_id = k.parent_span_id
               ANTI JOIN own w2 ON w2.trace_id = k.trace_id AND w2.span_id = k.span_id) zk
         ON zk.trace_id = c.trace_id AND zk.span_id = c.span_id
    ANTI JOIN rebatched w ON w.trace_id = c.trace_id AND w.span_id = c.span_id
    ANTI JOIN handoff v ON v.trace_id = c.trace_id AND v.span_id = c.span_id
    -- (the parent an unnamed poll or wrapper and the child named: the child counts, as
    -- analyzer_consumers' nested_child says, confluent-kafka's "recv" around its process)
    WHERE NOT EXISTS (SELECT 1 FROM c o WHERE o.trace_id = c.trace_id
                         AND o.span_id = c.parent_span_id
                         AND (NOT (coalesce(o.op, '') IN ('receive', 'create')
                                   AND coalesce(c.op, '') NOT IN ('receive', 'create'))
                              OR EXISTS (SELECT 1 FROM shared h WHERE h.trace_id = o.trace_id
                                            AND h.span_id = o.span_id))
                         AND NOT (coalesce(o.op, 'receive') = 'receive' AND o.topic = 'unknown'
                                  AND c.topic <> 'unknown')
                         AND NOT EXISTS (SELECT 1 FROM own w WHERE w.trace_id = c.trace_id
                                            AND w.span_id = c.span_id))
      AND NOT EXISTS (SELECT 1 FROM c k WHERE k.trace_id = c.trace_id
                         AND k.parent_span_id = c.span_id
                         AND ((coalesce(c.op, '') IN ('receive', 'create')
                               AND coalesce(k.op, '') NOT IN ('receive', 'create')
                               AND NOT EXISTS (SELECT 1 FROM shared h
                                               WHERE h.trace_id = c.trace_id
                                                 AND h.span_id = c.span_id))
                              OR (coalesce(c.op, 'receive') = 'receive' AND c.topic = 'unknown'
                                  AND k.topic <> 'unknown')
                              OR EXISTS (SELECT 1 FROM own w WHERE w.trace_id = k.trace_id
                                            AND w.span_id = k.span_id)))
      AND NOT EXISTS (SELECT 1 FROM lk l JOIN c r ON r.trace_id = l.linked_trace_id
                         AND r.span_id = l.linked_span_id
                      WHERE l.trace_id = c.trace_id AND l.span_id = c.span_id)
),
-- (the destination of a counted span naming none: its outer consumer's, else its producer's)
ptopic AS (     -- (its producer's, or that of a producer span inside it or around it: the
                -- publish's)
    SELECT x.trace_id, x.span_id, max(x.topic) AS topic FROM (
        SELECT r.trace_id, r.span_id, r.p_topic AS topic FROM reach r
        UNION ALL
        SELECT r.trace_id, r.span_id, ih.topic FROM reach r
        JOIN span_rows i ON i.trace_id = r.p_trace AND i.parent_span_id = r.p_span
        JOIN a_shape ih ON ih.shape_id = i.shape_id AND ih.role = 'P'
        UNION ALL
        SELECT r.trace_id, r.span_id, oh.topic FROM reach r
        JOIN span_rows o ON o.trace_id = r.p_trace AND o.span_id = r.p_parent
        JOIN a_shape oh ON oh.shape_id = o.shape_id AND oh.role = 'P'
        WHERE r.p_topic = 'unknown'
        UNION ALL
        -- (else where the message's other deliveries, its producer's children, say it
        -- went: analyzer_consumers' wtopic)
        SELECT r.trace_id, r.span_id, oh.topic FROM reach r
        JOIN span_rows o ON o.trace_id = r.p_trace AND o.parent_span_id = r.p_span
        JOIN a_shape oh ON oh.shape_id = o.shape_id AND oh.role = 'C'
        WHERE r.p_topic = 'unknown' AND r.ctx
    ) x SEMI JOIN c ON c.trace_id = x.trace_id AND c.span_id = x.span_id
                   AND c.topic = 'unknown'
    WHERE x.topic <> 'unknown' GROUP BY x.trace_id, x.span_id
),
mine AS (
    SELECT k.* FROM counted k
    LEFT JOIN c o ON o.trace_id = k.trace_id AND o.span_id = k.parent_span_id
                 AND o.topic <> 'unknown'
    LEFT JOIN ptopic pt ON pt.trace_id = k.trace_id AND pt.span_id = k.span_id
    WHERE CASE WHEN k.topic <> 'unknown' THEN k.topic
               ELSE coalesce(o.topic, pt.topic, 'unknown') END = $topic
),
-- (a message created before the send carrying it: its queue time starts when that send
-- ended, as in analyzer_sent: d_carried, see detail_carried)
sent AS (
    SELECT d.p_trace, d.p_span, max(d.t1) AS t1
    FROM d_carried d
    SEMI JOIN reach r ON r.p_trace = d.p_trace AND r.p_span = d.p_span
                     AND r.p_service = d.service
    GROUP BY d.p_trace, d.p_span
),
prod AS (      -- producers reached by parent or by link, else by message id
    SELECT r.trace_id, r.span_id, greatest(r.p_t1, coalesce(st.t1, r.p_t1)) AS p_t1, r.ctx,
           CASE WHEN r.ctx THEN hash(r.p_trace, r.p_span) END AS p_key, r.lmid
    FROM reach r SEMI JOIN mine k ON k.trace_id = r.trace_id AND k.span_id = r.span_id
    LEFT JOIN sent st ON st.p_trace = r.p_trace AND st.p_span = r.p_span
)
SELECT k.trace_id, k.span_id, k.t0, k.t1, k.err,
       -- greatest() ignores NULL: a delivery with no producer found has no queue time
       CASE WHEN max(p.p_t1) IS NOT NULL THEN
           greatest(k.t0 - coalesce(max(p.p_t1) FILTER (WHERE p.ctx),
                                    max(p.p_t1) FILTER (WHERE NOT p.ctx)), 0) END AS queue_ns,
       -- the messages it delivered: the producers its context reached (a batch reaches
       -- several), else the one its message id names
       CASE WHEN bool_or(p.ctx) THEN count(DISTINCT p.p_key)
            WHEN count(p.p_t1) > 0 THEN 1 ELSE 0 END
       -- (and a producer span it links once per message id is as many messages, as
       -- analyzer_edge_stats counts them)
       + count(DISTINCT hash(p.p_key, p.lmid)) FILTER (WHERE p.lmid IS NOT NULL)
       - count(DISTINCT p.p_key) FILTER (WHERE p.lmid IS NOT NULL) AS messages
FROM mine k LEFT JOIN prod p ON p.trace_id = k.trace_id AND p.span_id = k.span_id
GROUP BY k.trace_id, k.span_id, k.t0, k.t1, k.err

-- name: detail_server_send_shapes
-- Whether $name has SERVER spans saying they send to $topic (vertx-opentelemetry's event
-- bus deliveries): mostly none, and then d_served is empty (detail_served_none).
SELECT count(*) FROM a_shape
WHERE service = $name AND topic = $topic AND role = 'P' AND kind = 'SERVER'

-- name: detail_served
-- Those spans of the window under another service's publish to $topic: deliveries
-- (analyzer_delivered), which detail_rows_consume counts.
CREATE OR REPLACE TEMP TABLE d_served AS
SELECT r.trace_id, r.span_id
FROM span_rows r JOIN a_shape h ON h.shape_id = r.shape_id
JOIN span_rows pr ON pr.trace_id = r.trace_id AND pr.span_id = r.parent_span_id
JOIN a_shape ph ON ph.shape_id = pr.shape_id
WHERE r.start_time_unix_nano >= $since AND r.start_time_unix_nano < $until
  AND h.service = $name AND h.topic = $topic AND h.role = 'P' AND h.kind = 'SERVER'
  AND ph.role = 'P' AND ph.service <> h.service AND ph.topic = h.topic

-- name: detail_served_none
CREATE OR REPLACE TEMP TABLE d_served AS
SELECT NULL::VARCHAR AS trace_id, NULL::VARCHAR AS span_id WHERE false

-- name: detail_push_shapes
-- Whether $name has spans of no role, messaging system, destination or database that
-- another service's producer spans for $topic (or naming none) could be the parents of
-- (their shapes): deliveries pushed to a handler that knows nothing of messaging
-- (analyzer_pushed). Then detail_push_candidates, else detail_pushed_none.
SELECT count(*) FROM a_shape s
WHERE s.service = $name AND s.role IS NULL AND s.kind IN ('SERVER', 'INTERNAL', 'UNSPECIFIED')
  AND s.msg_system IS NULL AND s.db_system IS NULL AND s.topic = 'unknown'
  AND EXISTS (SELECT 1 FROM a_shape p WHERE p.role = 'P' AND p.service <> $name
                                       AND p.topic IN ($topic, 'unknown'))

-- name: detail_push_candidates
-- Those spans of the window whose parent is such a producer span (mostly none), with the
-- columns detail_rows_consume reads of a consumer span: a delivery ('process') of the
-- parent's destination.
CREATE OR REPLACE TEMP TABLE d_push_c AS
SELECT r.trace_id, r.span_id, r.parent_span_id, r.start_time_unix_nano AS t0,
       r.end_time_unix_nano AS t1, h.err, r.msg_message_id, 'process' AS op, h.kind, h.name,
       ph.topic, r.msg_batch_count AS batch_n,
       pr.parent_span_id AS p_parent, pr.msg_message_id AS p_mid
FROM span_rows r JOIN a_shape h ON h.shape_id = r.shape_id
JOIN span_rows pr ON pr.trace_id = r.trace_id AND pr.span_id = r.parent_span_id
JOIN a_shape ph ON ph.shape_id = pr.shape_id
WHERE r.start_time_unix_nano >= $since AND r.start_time_unix_nano < $until
  AND h.service = $name AND h.role IS NULL AND h.kind IN ('SERVER', 'INTERNAL', 'UNSPECIFIED')
  AND h.msg_system IS NULL AND h.db_system IS NULL AND h.topic = 'unknown'
  AND ph.role = 'P' AND ph.service <> $name AND ph.topic IN ($topic, 'unknown')

-- name: detail_pushed
-- (when there are candidates) Those whose publish nothing else consumed: no consumer span
-- is the child of the producer span (or of the producer span around it, its publish),
-- links to it, or names its message id (analyzer_pushed: the analysis asks its matches).
CREATE OR REPLACE TEMP TABLE d_pushed AS
WITH pubs AS (
    SELECT DISTINCT trace_id, parent_span_id AS span_id, p_mid FROM d_push_c
    UNION
    SELECT DISTINCT trace_id, p_parent, NULL FROM d_push_c WHERE p_parent IS NOT NULL
),
consumed AS (
    SELECT k.trace_id, k.parent_span_id AS span_id
    FROM span_rows k JOIN a_shape kh ON kh.shape_id = k.shape_id AND kh.role = 'C'
    SEMI JOIN pubs u ON u.trace_id = k.trace_id AND u.span_id = k.parent_span_id
    UNION
    SELECT l.linked_trace_id, l.linked_span_id
    FROM span_links l SEMI JOIN pubs u ON u.trace_id = l.linked_trace_id
                                      AND u.span_id = l.linked_span_id
    JOIN span_rows k ON k.trace_id = l.trace_id AND k.span_id = l.span_id
    JOIN a_shape kh ON kh.shape_id = k.shape_id AND kh.role = 'C'
    UNION
    SELECT u.trace_id, u.span_id
    FROM pubs u JOIN span_rows k ON k.msg_message_id = u.p_mid
    JOIN a_shape kh ON kh.shape_id = k.shape_id AND kh.role = 'C'
)
SELECT d.* EXCLUDE (p_parent, p_mid) FROM d_push_c d
ANTI JOIN consumed x ON x.trace_id = d.trace_id AND x.span_id = d.parent_span_id
ANTI JOIN consumed y ON y.trace_id = d.trace_id AND y.span_id = d.p_parent

-- name: detail_pushed_none
CREATE OR REPLACE TEMP TABLE d_pushed (trace_id VARCHAR, span_id VARCHAR,
    parent_span_id VARCHAR, t0 BIGINT, t1 BIGINT, err BOOLEAN, msg_message_id VARCHAR,
    op VARCHAR, kind VARCHAR, name VARCHAR, topic VARCHAR, batch_n BIGINT)

-- name: detail_may_carry
-- Whether any message may have been created before the send that carried it (by shape,
-- and for a send's links by its spans' link_count: two integer columns read): a producer
-- shape whose operation is 'create', or a producer span that is no 'create' with links.
SELECT (SELECT count(*) FROM a_shape WHERE role = 'P' AND op = 'create')
     + (SELECT count(*) FROM span_rows
        WHERE link_count > 0
          AND shape_id IN (SELECT shape_id FROM a_shape
                           WHERE role = 'P' AND coalesce(op, '') <> 'create'))

-- name: detail_carried_none
CREATE OR REPLACE TEMP TABLE d_carried (p_trace VARCHAR, p_span VARCHAR, t1 BIGINT,
                                        service VARCHAR)

-- name: detail_carried
-- (run instead when detail_may_carry says so) Each message and the end of the send that
-- carried it (analyzer_producers' a_carried): a 'create' in its send, or a producer span
-- its service's send links to.
CREATE OR REPLACE TEMP TABLE d_carried AS
SELECT c.trace_id AS p_trace, c.span_id AS p_span, e.end_time_unix_nano AS t1,
       eh.service
FROM span_rows c JOIN a_shape ch ON ch.shape_id = c.shape_id
JOIN span_rows e ON e.trace_id = c.trace_id AND e.span_id = c.parent_span_id
JOIN a_shape eh ON eh.shape_id = e.shape_id
WHERE ch.role = 'P' AND ch.op = 'create' AND eh.role = 'P' AND coalesce(eh.op, '') <> 'create'
UNION ALL
SELECT l.linked_trace_id, l.linked_span_id, e.end_time_unix_nano, eh.service
FROM span_rows e JOIN a_shape eh ON eh.shape_id = e.shape_id
JOIN span_links l ON l.trace_id = e.trace_id AND l.span_id = e.span_id
JOIN span_rows c ON c.trace_id = l.linked_trace_id AND c.span_id = l.linked_span_id
JOIN a_shape ch ON ch.shape_id = c.shape_id
WHERE e.link_count > 0 AND eh.role = 'P' AND coalesce(eh.op, '') <> 'create'
  AND ch.role = 'P' AND ch.service = eh.service
  AND NOT (c.trace_id = e.trace_id AND c.span_id = e.span_id)

-- name: detail_instant_deliveries
-- (consume edges: d_rows has their span ids) Deliveries whose span has no duration, as in
-- analyzer_instant_deliveries.
SELECT count(*) FROM d_rows WHERE t1 - t0 < $instant

-- name: detail_delivery_work
-- (run only when there are such deliveries: it reads every span) They last until the end
-- of their direct children in $name that are no messaging spans (analyzer_delivery_work).
UPDATE d_rows SET t1 = w.t1
FROM (SELECT k.trace_id, k.span_id, max(s.end_time_unix_nano) AS t1
      FROM d_rows k
      JOIN span_rows s ON s.trace_id = k.trace_id AND s.parent_span_id = k.span_id
      JOIN a_shape h ON h.shape_id = s.shape_id
      WHERE k.t1 - k.t0 < $instant AND h.role IS NULL AND h.service = $name
      GROUP BY k.trace_id, k.span_id) w
WHERE d_rows.trace_id = w.trace_id AND d_rows.span_id = w.span_id AND w.t1 > d_rows.t1

-- name: detail_rows_route
-- Messages published to $name and delivered from $target (a broker route, e.g. exchange
-- -> queue): per message, from the end of its publish to its first delivery there. Joined
-- as the analysis joins them: parent, span link either way, else the message id.
CREATE OR REPLACE TEMP TABLE d_rows AS
WITH p AS (     -- (roles and topics per shape, a_shape)
    SELECT r.trace_id, r.span_id, r.end_time_unix_nano AS t1, r.msg_message_id
    FROM span_rows r JOIN a_shape h ON h.shape_id = r.shape_id
    WHERE r.start_time_unix_nano >= $since AND r.start_time_unix_nano < $until
      AND h.topic = $name AND h.role = 'P'
),
c AS (
    SELECT r.trace_id, r.span_id, r.parent_span_id, r.start_time_unix_nano AS t0,
           r.msg_message_id
    FROM span_rows r JOIN a_shape h ON h.shape_id = r.shape_id
    WHERE r.start_time_unix_nano >= $since AND r.start_time_unix_nano < $until
      AND h.topic = $target AND h.role = 'C'
),
pairs AS (
    SELECT p.trace_id, p.span_id, p.t1, c.t0
    FROM c JOIN p ON p.trace_id = c.trace_id AND p.span_id = c.parent_span_id
    UNION ALL
    SELECT p.trace_id, p.span_id, p.t1, c.t0
    FROM c JOIN span_links l ON l.trace_id = c.trace_id AND l.span_id = c.span_id
    JOIN p ON p.trace_id = l.linked_trace_id AND p.span_id = l.linked_span_id
    UNION ALL
    SELECT p.trace_id, p.span_id, p.t1, c.t0
    FROM p JOIN span_links l ON l.trace_id = p.trace_id AND l.span_id = p.span_id
    JOIN c ON c.trace_id = l.linked_trace_id AND c.span_id = l.linked_span_id
    UNION ALL
    -- (a consumer in a consumer span the publish reached has its message from it, as
    -- analyzer_matches' inherited pairs: consumers under a broker's own receive span)
    SELECT p.trace_id, p.span_id, p.t1, c.t0
    FROM c JOIN span_rows r ON r.trace_id = c.trace_id AND r.span_id = c.parent_span_id
    JOIN a_shape rh ON rh.shape_id = r.shape_id
    JOIN p ON p.trace_id = r.trace_id AND p.span_id = r.parent_span_id
    WHERE rh.role = 'C'
    UNION ALL
    SELECT p.trace_id, p.span_id, p.t1, c.t0
    FROM c JOIN p ON p.msg_message_id = c.msg_message_id
)
SELECT trace_id, t1 AS t0, greatest(min(t0), t1) AS t1, false AS err, NULL::BIGINT AS queue_ns
FROM pairs GROUP BY trace_id, span_id, t1

-- name: detail_rows_call
-- A call to a service: client span (or any caller span) whose child runs in $target, one
-- row per pair (d_calls; detail_calls_rows counts them as calls). Span ids are kept hashed,
-- as the analysis joins them: ck the caller's, gk its parent's, k what keys the call (as in
-- analyzer_hops: a server span whose parent is no client span, or that its client did not
-- wait for, is a call of its own, and one with its client's id is that client's).
CREATE OR REPLACE TEMP TABLE d_calls AS
WITH s AS (     -- (roles per shape, a_shape)
    SELECT r.trace_id, r.span_id, r.parent_span_id, h.kind, r.start_time_unix_nano AS t0,
           r.end_time_unix_nano AS t1, h.err, h.msg_system
    FROM span_rows r JOIN a_shape h ON h.shape_id = r.shape_id
    WHERE r.start_time_unix_nano >= $since AND r.start_time_unix_nano < $until
      AND h.service = $target AND r.parent_span_id IS NOT NULL AND h.role IS NULL
)
SELECT trace_id, CASE WHEN kind = 'SERVER' AND NOT w THEN sk ELSE ck END AS k, ck, gk,
       s_t0, s_t1, p_t0, p_t1, err, w, p_nosys
FROM (
SELECT s.trace_id, s.kind, hash(s.trace_id, s.span_id) AS sk,
       hash(p.trace_id, p.span_id) AS ck,
       CASE WHEN p.parent_span_id IS NOT NULL THEN hash(p.trace_id, p.parent_span_id) END
           AS gk,
       s.t0 AS s_t0, s.t1 AS s_t1, p.start_time_unix_nano AS p_t0,
       p.end_time_unix_nano AS p_t1, s.err OR ph.err AS err, ph.msg_system IS NULL AS p_nosys,
       call_waited(ph.kind, s.kind, p.start_time_unix_nano, p.end_time_unix_nano, s.t0,
                   s.t1) AS w
FROM s JOIN span_rows p ON p.trace_id = s.trace_id AND p.span_id = s.parent_span_id
JOIN a_shape ph ON ph.shape_id = p.shape_id
WHERE ph.service = $name AND ph.role IS NULL
  AND ((ph.kind = 'CLIENT' AND s.kind = 'SERVER') OR ($name <> $target AND s.msg_system IS NULL))
)

-- name: detail_calls_self
-- (a service's call to itself only) Not its sidecar handing it a request, analyzer_hops'
-- handed: a client under a client span of its service, or one waiting for the server that
-- is a root or under a messaging span or a span of another service.
DELETE FROM d_calls c
WHERE c.gk IS NULL AND c.w
   OR c.gk IN (SELECT hash(g.trace_id, g.span_id) FROM span_rows g
               JOIN a_shape gh ON gh.shape_id = g.shape_id
               SEMI JOIN d_calls x ON x.gk = hash(g.trace_id, g.span_id)
               WHERE (gh.kind = 'CLIENT' AND gh.service = $name AND gh.role IS NULL)
                  OR (c.w AND (gh.role IS NOT NULL OR (gh.service <> $name AND c.p_nosys))))

-- name: detail_calls_rows
CREATE OR REPLACE TEMP TABLE d_rows AS
SELECT trace_id, min(CASE WHEN w THEN p_t0 ELSE s_t0 END) AS t0,
       max(CASE WHEN w THEN p_t1 ELSE s_t1 END) AS t1,
       bool_or(err) AS err, NULL::BIGINT AS queue_ns
FROM d_calls GROUP BY trace_id, k

-- name: detail_peer_shapes
-- Whether $name has client spans naming the service $target as their peer (by shape: no
-- span is read). analyzer_hops counts those without spans under them as calls to it.
SELECT count(*) FROM a_shape
WHERE service = $name AND kind = 'CLIENT' AND role IS NULL AND msg_system IS NULL
  AND coalesce(peer_service, db_system, server_address) = $target

-- name: detail_peer_candidates
-- (after detail_rows_call, when detail_peer_shapes says so) Whether any of those client
-- spans is no caller of a span of $target (read by their shapes, a few; those that are,
-- mostly all, make detail_rows_call_peer's look at every span needless).
SELECT count(*) FROM span_rows r JOIN a_shape h ON h.shape_id = r.shape_id
WHERE r.start_time_unix_nano >= $since AND r.start_time_unix_nano < $until
  AND h.service = $name AND h.kind = 'CLIENT' AND h.role IS NULL AND h.msg_system IS NULL
  AND coalesce(h.peer_service, h.db_system, h.server_address) = $target
  AND hash(r.trace_id, r.span_id) NOT IN (SELECT ck FROM d_calls)

-- name: detail_rows_call_peer
-- (run after detail_rows_call when detail_peer_shapes says so, with d_external defined)
-- Client spans of $name naming $target as their peer that are no call to a span (Kong's
-- balancer tries refused before reaching the service): calls to it, as analyzer_hops
-- counts them.
INSERT INTO d_rows
SELECT e.trace_id, e.t0, e.t1, e.err, NULL::BIGINT
FROM d_external($since, $until, $name, $target) e

-- name: detail_learn_shapes
-- Whether $name has client spans naming a peer that analyzer_hops' learned may resolve to
-- a service (by shape: no span is read; mostly none, a peer being a database or a
-- service's own name).
SELECT count(*) FROM a_shape
WHERE service = $name AND learn_peer NOT IN (SELECT service FROM a_shape)

-- name: detail_learned_peers
-- The peers of those client spans that analyzer_hops' learned resolves to $target: every
-- client span of the window naming it that a server span answered reached $target's.
-- (Only client spans naming those peers are joined to their children.)
WITH peers AS (
    SELECT DISTINCT learn_peer AS peer FROM a_shape
    WHERE service = $name AND learn_peer NOT IN (SELECT service FROM a_shape)
),
cs AS (SELECT shape_id, learn_peer AS peer FROM a_shape
       WHERE learn_peer IN (SELECT peer FROM peers))
SELECT x.peer FROM (
    SELECT cs.peer, count(DISTINCT ch.service) AS n, min(ch.service) AS service
    FROM span_rows p JOIN cs ON cs.shape_id = p.shape_id
    JOIN span_rows c ON c.trace_id = p.trace_id AND c.parent_span_id = p.span_id
    JOIN a_shape ch ON ch.shape_id = c.shape_id
    WHERE p.start_time_unix_nano >= $since AND p.start_time_unix_nano < $until
      AND c.start_time_unix_nano >= $since AND c.start_time_unix_nano < $until
      AND ch.kind = 'SERVER' AND ch.role IS NULL
    GROUP BY cs.peer) x
WHERE x.n = 1 AND x.service = $target AND x.service <> $name

-- name: detail_rows_call_learned
-- (run after detail_rows_call for each of those peers, $peer, with d_external defined)
-- Client spans of $name to it that reached no span: calls to $target, as analyzer_hops
-- counts them.
INSERT INTO d_rows
SELECT e.trace_id, e.t0, e.t1, e.err, NULL::BIGINT
FROM d_external($since, $until, $name, $peer) e

-- name: detail_external_calls
-- Calls to a peer without spans ($target): from one service (svc), or from all (svc NULL).
-- A table macro, so the queries below read them alike. As analyzer_hops' ext, not a client
-- span with a span under it that makes it a call to that span's service (waited for or
-- not: a client span of no duration is a mark), a publish or poll (a messaging span), or
-- its service's call to itself or its sidecar's request to its app (a server span of its
-- service); nor one to this host with a client span of its service under it (an app's
-- call to its Dapr sidecar).
CREATE OR REPLACE TEMP MACRO d_external(since, until, svc, target) AS TABLE
SELECT e.trace_id, e.span_id, e.parent_span_id, e.service_name, e.server_address,
       e.db_system, e.start_time_unix_nano AS t0, e.end_time_unix_nano AS t1,
       e.status_code = 'ERROR' AS err
FROM spans e
WHERE e.start_time_unix_nano >= since AND e.start_time_unix_nano < until
  AND (svc IS NULL OR e.service_name = svc)
  AND e.kind = 'CLIENT' AND e.msg_system IS NULL AND e.msg_operation_type IS NULL
  AND coalesce(e.peer_service, e.db_system, e.server_address) = target
  AND NOT EXISTS (
      SELECT 1 FROM span_rows c JOIN a_shape ch ON ch.shape_id = c.shape_id
      WHERE c.trace_id = e.trace_id AND c.parent_span_id = e.span_id
        AND c.start_time_unix_nano >= since AND c.start_time_unix_nano < until
        AND (ch.role IS NOT NULL
             OR (ch.kind = 'SERVER' AND ch.service = e.service_name)
             OR (ch.service <> e.service_name AND (ch.kind = 'SERVER' OR ch.msg_system IS NULL))
             OR (ch.kind = 'CLIENT' AND ch.service = e.service_name
                 AND is_loopback(e.server_address))))

-- name: detail_rows_external
CREATE OR REPLACE TEMP TABLE d_rows AS
SELECT trace_id, t0, t1, err, NULL::BIGINT AS queue_ns
FROM d_external($since, $until, $name, $target)

-- name: detail_transport_shapes
-- Whether client spans to $target may be a messaging span's transport (by shape: a client
-- shape whose server a messaging shape of its service names, or one of no database in a
-- service with producer shapes naming neither destination nor server; no span is read).
SELECT count(*) FROM a_shape c
WHERE c.kind = 'CLIENT' AND c.role IS NULL AND c.msg_system IS NULL
  AND coalesce(c.peer_service, c.db_system, c.server_address) = $target
  AND (EXISTS (SELECT 1 FROM a_shape x WHERE x.service = c.service
                  AND x.server_address = c.server_address AND x.role IS NOT NULL)
       OR (c.db_system IS NULL
           AND EXISTS (SELECT 1 FROM a_shape x WHERE x.service = c.service AND x.role = 'P'
                          AND x.topic = 'unknown' AND x.server_address IS NULL)))

-- name: detail_rows_external_transport
-- (run instead when detail_transport_shapes says so) Not a client span under a messaging
-- span of its service naming the same server: how that message reached the broker, no
-- call; nor one of no database under a producer span of its service naming neither
-- destination nor server (analyzer_hops' transport).
CREATE OR REPLACE TEMP TABLE d_rows AS
SELECT x.trace_id, x.t0, x.t1, x.err, NULL::BIGINT AS queue_ns
FROM d_external($since, $until, $name, $target) x
WHERE NOT EXISTS (
    SELECT 1 FROM span_rows p JOIN a_shape ph ON ph.shape_id = p.shape_id
    WHERE p.trace_id = x.trace_id AND p.span_id = x.parent_span_id
      AND ph.service = x.service_name
      AND ((ph.role IS NOT NULL AND ph.server_address = x.server_address)
           OR (ph.role = 'P' AND ph.topic = 'unknown' AND ph.server_address IS NULL
               AND x.db_system IS NULL)))

-- name: detail_rows_service
-- A service's units of work: its server, consumer and root spans.
CREATE OR REPLACE TEMP TABLE d_rows AS
SELECT trace_id, start_time_unix_nano AS t0, end_time_unix_nano AS t1,
       status_code = 'ERROR' AS err, NULL::BIGINT AS queue_ns
FROM spans
WHERE start_time_unix_nano >= $since AND start_time_unix_nano < $until
  AND service_name = $name
  AND (kind IN ('SERVER', 'CONSUMER') OR parent_span_id IS NULL)

-- name: detail_rows_topic
-- A topic's traffic: the spans publishing to and consuming from it.
-- (role and topic decided per shape, a_shape, not per span)
CREATE OR REPLACE TEMP TABLE d_rows AS
SELECT r.trace_id, r.start_time_unix_nano AS t0, r.end_time_unix_nano AS t1,
       h.err, NULL::BIGINT AS queue_ns
FROM span_rows r JOIN a_shape h ON h.shape_id = r.shape_id
WHERE r.start_time_unix_nano >= $since AND r.start_time_unix_nano < $until
  AND h.topic = $name AND h.role IS NOT NULL

-- name: detail_keep_service
-- With a service filter: only the rows of traces that touch $service in the window (run
-- after whichever detail_rows_* query filled d_rows).
DELETE FROM d_rows WHERE trace_id NOT IN (
    SELECT trace_id FROM spans WHERE service_name = $service
      AND start_time_unix_nano >= $since AND start_time_unix_nano < $until)

-- name: staged_detail_rows
-- One edge of the map, read from its window's staged tables (analyzer.StagedWindow.detail):
-- its hop instances are the very rows analyzer_edge_stats aggregates, so the detail counts
-- what the map shows, rule for rule. (a_hops keeps no 'pushed' candidates once staged; the
-- node types of $src and $dst tell the hop's type.)
CREATE OR REPLACE TEMP TABLE d_rows AS
SELECT trace_id, t0, t1, err, NULL::BIGINT AS queue_ns, NULL::BIGINT AS messages
FROM a_hops WHERE src = $src AND dst = $dst

-- name: staged_detail_queue
-- (a delivery edge read from the staged window: its queue time and messages, as the map's)
SELECT qq, pairs FROM a_edge_queue WHERE topic = $topic AND service = $service

-- name: detail_stats
SELECT count(*) AS n, sum(err::INT) AS errors,
       quantile_cont(t1 - t0, [0.5, 0.95, 0.99]) AS dq,
       quantile_cont(queue_ns, [0.5, 0.95, 0.99]) AS qq,
       min(t0) AS t0, max(t1) AS t1,
       max_by(trace_id, (t1 - t0, trace_id), 5) AS slowest,
       max_by(trace_id, (t0, trace_id), 5) FILTER (WHERE err) AS failed
FROM d_rows

-- name: detail_messages
-- (consume edges only: their rows count the messages each delivery was joined to)
SELECT coalesce(sum(messages), 0) FROM d_rows

-- name: detail_series
-- Buckets of $step_us microseconds (analyzer.detail.series_step_s; time_bucket works in
-- microseconds: timestamps are ns), aligned as time_bucket aligns them.
SELECT time_bucket(to_microseconds($step_us::BIGINT), make_timestamp(t0 // 1000)) AS t,
       count(*) AS n,
       sum(err::INT) AS errors, quantile_cont(t1 - t0, 0.95) AS p95
FROM d_rows GROUP BY 1 ORDER BY 1
