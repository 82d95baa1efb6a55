-- Queries of the flow analyzer (analyzer/). The analysis stages run on one read cursor and
-- build TEMP tables (private to that cursor, allowed on a read-only database), so every
-- aggregate is computed by DuckDB over columns and Python only sees aggregated rows.
--
-- This file holds the session, the macros and the window's spans. The stages go on in
-- analyzer_messages.sql (messaging spans, producers, matches, consumers), analyzer_hops.sql
-- (hops, trace pairs, per-trace rows, a service's narrowing) and analyzer_results.sql (flows,
-- critical-path samples, statistics, findings). flow_view.sql and detail.sql stage and read
-- with the same macros and tables for one flow and for one map element.
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
-- per entity (sensors/dev-17/temp, ...), with who sends and receives on each, for it to
-- tell a Redis reply channel that msg_topic's rule missed (reply_channels)
SELECT DISTINCT topic, msg_system, role, service FROM a_shape WHERE topic IS NOT NULL

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
