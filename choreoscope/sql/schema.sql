-- choreoscope schema. Applied in file order by choreoscope.store; bump SCHEMA_VERSION in
-- choreoscope/store.py whenever a change here is not backward compatible.
--
-- Design notes (why it looks like this):
-- * One row per span, denormalised: the hot analyses (flow map, queue time, critical path)
--   read a handful of scalar columns of many spans, so those are real columns that DuckDB
--   compresses and scans fast; the long tail of attributes is JSON text for plain SQL
--   (json_extract_string(attributes, '$."http.route"')).
-- * Ids are lowercase hex VARCHAR, as in OTLP/JSON and every UI, so users can paste them.
-- * Messaging and peer attributes are normalised at ingest (current and legacy semantic
--   conventions folded into one column each) so the analyzer never re-parses attributes.
-- * No foreign keys: telemetry arrives out of order, a link or parent may point at a span
--   that arrives later or never. Duplicates (exporter retries) are removed on write by
--   (trace_id, span_id, start_time_unix_nano): Zipkin's shared client/server spans have one
--   id and are two spans.
-- * Resource and scope live in their own tables, referenced by a 64-bit content hash: every
--   span of an export shares them, and repeating ~300 bytes of resource JSON per span was a
--   quarter of the bytes each commit wrote. The view spans_full joins them back.
-- * Likewise what all spans of one operation repeat (service, name, kind, status, the
--   normalised messaging and peer columns) lives in span_shapes; span_rows keeps the rest
--   and the view spans joins them back, so users and the analyzer read one table. Thirteen
--   text columns per span were the single writer's largest cost.
-- * The attribute JSON columns are compressed with zstd: at checkpoint it costs ~40% less
--   CPU than the default analysis (FSST/dictionary) and halves the file (bench/RESULTS.md).
--   It needs the storage format of DuckDB 1.2 or later, which the store asks for when it
--   creates a file. Older files and DuckLake (which refuses the clause) get the schema
--   without it (choreoscope.sql.schema_sql(compression=False)).
-- * Never put a semicolon in a comment here: DuckDB splits the statements on it.

CREATE TABLE IF NOT EXISTS schema_meta (
    key   VARCHAR NOT NULL,  -- no PRIMARY KEY: DuckLake has no constraints; written once
    value VARCHAR
);

CREATE TABLE IF NOT EXISTS span_rows (
    trace_id                  VARCHAR NOT NULL,  -- 32 lowercase hex chars
    span_id                   VARCHAR NOT NULL,  -- 16 lowercase hex chars
    parent_span_id            VARCHAR,           -- NULL for a root span
    trace_state               VARCHAR,
    flags                     UINTEGER,          -- W3C trace flags + OTLP context flags
    start_time_unix_nano      BIGINT NOT NULL,
    end_time_unix_nano        BIGINT NOT NULL,
    status_message            VARCHAR,
    attributes                VARCHAR USING COMPRESSION zstd,  -- JSON object text of the span attributes
    dropped_attributes_count  UINTEGER,
    dropped_events_count      UINTEGER,
    dropped_links_count       UINTEGER,
    event_count               UINTEGER,          -- rows in span_events for this span
    link_count                UINTEGER,          -- rows in span_links for this span
    resource_id               BIGINT,            -- resources.resource_id
    scope_id                  BIGINT,            -- scopes.scope_id
    shape_id                  BIGINT NOT NULL,   -- span_shapes.shape_id
    msg_message_id            VARCHAR,  -- messaging.message.id | messaging.message_id | nservicebus.message_id | bullmq.job.id
    msg_conversation_id       VARCHAR,  -- messaging.message.conversation_id | messaging.conversation_id | nservicebus.conversation_id
    msg_batch_count           BIGINT,   -- messaging.batch.message_count
    ingested_at_unix_nano     BIGINT    -- collector clock when stored (retention, live views)
);

-- What spans of one operation share: service, name, kind, status and the normalised
-- messaging / peer columns. Stored once per distinct combination, like resources and scopes.
CREATE TABLE IF NOT EXISTS span_shapes (
    shape_id                  BIGINT NOT NULL,   -- hash of everything below
    service_name              VARCHAR NOT NULL,  -- resource service.name, else (absent or unknown_service*) its workload's name (collector.conventions.service_name), else 'unknown_service'
    name                      VARCHAR NOT NULL,
    kind                      VARCHAR NOT NULL,  -- UNSPECIFIED|INTERNAL|SERVER|CLIENT|PRODUCER|CONSUMER
    status_code               VARCHAR NOT NULL,  -- UNSET|OK|ERROR
    -- Normalised messaging / peer columns (current name first, then legacy fallbacks):
    msg_system                VARCHAR,  -- messaging.system
    msg_destination           VARCHAR,  -- messaging.destination.template | .name | messaging.destination (legacy) | messaging.source.name (1.17-1.20 consumers) | messaging.destination_publish.name | bullmq.queue.name | message_bus.destination (OpenTracing)
    msg_destination_kind      VARCHAR,  -- messaging.destination_kind (legacy: queue|topic), or 'temporary' (messaging.destination.temporary | .anonymous, messaging.source.temporary | .anonymous true)
    msg_operation_type        VARCHAR,  -- messaging.operation.type | messaging.operation (legacy) | else (collector.conventions.messaging_fallbacks) the rpc.method of an AWS SDK messaging call or, for a span naming a messaging system or destination, the operation its name gives: create|send|receive|process|settle
    msg_operation_name        VARCHAR,  -- messaging.operation.name
    msg_consumer_group        VARCHAR,  -- messaging.consumer.group.name | messaging.kafka.consumer.group
    peer_service              VARCHAR,  -- peer.service
    server_address            VARCHAR,  -- server.address | net.peer.name | peer.hostname (OpenTracing) | a CLIENT span's url.full / http.url host
    db_system                 VARCHAR   -- db.system | db.system.name
);

-- One row per span, with every column users and the analyzer query: this is the table to
-- use. (A view, so the repeated columns are stored once in span_shapes.)
CREATE OR REPLACE VIEW spans AS
SELECT r.trace_id, r.span_id, r.parent_span_id, r.trace_state, r.flags,
       h.name, h.kind, r.start_time_unix_nano, r.end_time_unix_nano, h.status_code,
       r.status_message, h.service_name, r.attributes, r.dropped_attributes_count,
       r.dropped_events_count, r.dropped_links_count, r.event_count, r.link_count,
       r.resource_id, r.scope_id,
       h.msg_system, h.msg_destination, h.msg_destination_kind, h.msg_operation_type,
       h.msg_operation_name, r.msg_message_id, r.msg_conversation_id, h.msg_consumer_group,
       r.msg_batch_count, h.peer_service, h.server_address, h.db_system,
       r.ingested_at_unix_nano
FROM span_rows r
JOIN span_shapes h ON h.shape_id = r.shape_id;

CREATE TABLE IF NOT EXISTS span_events (
    trace_id                 VARCHAR NOT NULL,
    span_id                  VARCHAR NOT NULL,
    seq                      UINTEGER NOT NULL,  -- position of the event in the span
    time_unix_nano           BIGINT,
    name                     VARCHAR,
    attributes               VARCHAR USING COMPRESSION zstd,  -- JSON object text
    dropped_attributes_count UINTEGER
);

CREATE TABLE IF NOT EXISTS span_links (
    trace_id                 VARCHAR NOT NULL,   -- the span that carries the link
    span_id                  VARCHAR NOT NULL,
    seq                      UINTEGER NOT NULL,
    linked_trace_id          VARCHAR NOT NULL,   -- the span it points at (may be in another trace)
    linked_span_id           VARCHAR NOT NULL,
    trace_state              VARCHAR,
    flags                    UINTEGER,
    attributes               VARCHAR USING COMPRESSION zstd,  -- JSON object text
    dropped_attributes_count UINTEGER,
    msg_message_id           VARCHAR             -- per-message id of a batch lives on the link
);

CREATE TABLE IF NOT EXISTS resources (
    resource_id              BIGINT NOT NULL,    -- hash of everything below
    service_name             VARCHAR,
    attributes               VARCHAR,            -- JSON object text
    schema_url               VARCHAR,            -- ResourceSpans.schema_url
    dropped_attributes_count UINTEGER
);

CREATE TABLE IF NOT EXISTS scopes (
    scope_id                 BIGINT NOT NULL,    -- hash of everything below
    name                     VARCHAR,            -- instrumentation library
    version                  VARCHAR,
    attributes               VARCHAR,            -- JSON object text
    schema_url               VARCHAR,            -- ScopeSpans.schema_url (says which semconv)
    dropped_attributes_count UINTEGER
);

-- Every span with its resource and scope, under the names OTLP gives them.
CREATE OR REPLACE VIEW spans_full AS
SELECT s.* EXCLUDE (resource_id, scope_id),
       r.attributes AS resource_attributes,
       r.schema_url AS resource_schema_url,
       r.dropped_attributes_count AS resource_dropped_attributes_count,
       c.name AS scope_name,
       c.version AS scope_version,
       c.attributes AS scope_attributes,
       c.schema_url AS scope_schema_url,
       c.dropped_attributes_count AS scope_dropped_attributes_count
FROM spans s
LEFT JOIN resources r ON r.resource_id = s.resource_id
LEFT JOIN scopes c ON c.scope_id = s.scope_id;
