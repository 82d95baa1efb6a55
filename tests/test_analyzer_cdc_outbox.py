"""Span shapes of change-data-capture and transactional-outbox publishing, each read from the
library's source: Debezium's tracing (debezium/debezium), its Quarkus outbox extension and
the debezium-examples outbox demo, Debezium 1.x's OpenTracing flavour with the
opentracing-contrib Kafka interceptors, and Eventuate Tram's Spring Cloud Sleuth integration.
Each test builds exactly the spans those libraries export for a small scenario and checks
what the analyzer makes of them.

How Debezium traces (debezium-core io/debezium/transforms/tracing/ActivateTracingSpan.java
and TracingSpanUtil.java, OpenTelemetry since 2.2; io/debezium/transforms/outbox/
EventRouterDelegate.java; debezium-interceptor io/debezium/tracing/
DebeziumTracingProducerInterceptor.java; documentation/modules/ROOT/pages/integrations/
tracing.adoc):

* The application writes its span context, serialised as java.util.Properties, into a
  column of the captured row (``tracingspancontext``). The Quarkus outbox extension does it
  for you (debezium-quarkus-outbox DebeziumTracerEventDispatcher): an INTERNAL
  ``outbox-write`` span, child of the current span, tagged aggregateType, aggregateId,
  type, timestamp, whose context goes into the column; the row itself is only inserted
  when Hibernate flushes at commit, and (quarkus.debezium-outbox.remove-after-insert,
  default true) deleted again right after.
* In the Kafka Connect worker, the SMT (ActivateTracingSpan, or the outbox EventRouter,
  which applies it to rows that carry the column only) extracts that context and opens
  ``db-log-write`` (INTERNAL, parent: the row's context; start: source.ts_ms, the commit
  time in the database's log, whole milliseconds; tagged with the source block as db.*:
  db.type = connector, db.cdc-name = topic prefix, db.instance = database, db.schema,
  db.table, db.txId, db.lsn, ...), and inside it ``debezium-read`` (INTERNAL, start: the
  envelope's ts_ms, when the connector processed the event; tags op, ts_ms), which ends at
  once; db-log-write ends after it, when the SMT returns. The SMT injects db-log-write's
  context into the Connect record's headers. Rows without the column get no span at all
  (the OpenTelemetry version only traces when a context is present).
* The Connect worker's producer runs DebeziumTracingProducerInterceptor
  (producer.interceptor.classes): it extracts the context from the record's headers, opens
  an INTERNAL ``onSend`` span under it and, inside it, the kafka-clients library's
  TracingProducerInterceptor opens and at once ends the PRODUCER ``<topic> publish``
  (KafkaProducerTelemetry.buildAndInjectSpan: no partition or offset, as no broker answered
  yet; no message key, as Connect's keys are already serialised bytes; the client id is
  Connect's ``connector-producer-<connector>-<task>``) and injects its context for the
  consumer. This only happens with the Java agent's own Kafka instrumentation turned off
  (OTEL_INSTRUMENTATION_KAFKA_ENABLED=false): the interceptor checks and does nothing
  otherwise.

The map when the database write and the publish are different services: the application
never talks to Kafka, the Connect worker does. So the topic's publisher is the connector's
service, not the application: a map drawing ``order-service -> topic`` would hide the
component every event goes through and whose lag is most of the end-to-end time. The hop
from the application to the connector is carried by a database row, not a message: no span
names a destination, so it is the analyzer's hop for any context carried across services
without messaging spans (as Hangfire's job rows, test_analyzer_libraries), a ``call`` edge
``order-service -> kafka-connect``, one per captured row, timed by db-log-write: from the
commit to the connector's read, the capture lag. The whole business transaction is one
trace (the row carried the context, the interceptor carried it on), so one flow from the
request to the consumer's work, the capture lag on its critical path as the connector's,
and queue time measured from the end of the connector's publish.
"""

from __future__ import annotations

from typing import Any

import pytest

from analyzer import analyze, edge_detail, flow_for_trace
from tests.analysis_checks import analysed_each as _analysed_each
from tests.analysis_checks import flows_of as _flows
from tests.analysis_checks import systems_of as _systems
from tests.builders import SpanRef, SpanSet

N = 3

CONNECT = "kafka-connect"          # OTEL_SERVICE_NAME of the Connect worker (debezium-examples)
CLIENT_ID = "connector-producer-order-outbox-connector-0"
_HTTP = {"http.request.method": "POST", "http.route": "/orders", "url.path": "/orders",
         "url.scheme": "http", "http.response.status_code": 200,
         "server.address": "localhost", "server.port": 8080}


def _pg(db: str, op: str, table: str) -> dict[str, Any]:
    """A JDBC statement span's attributes (the Java agent's / Quarkus' JDBC telemetry)."""
    return {"db.system": "postgresql", "db.name": db, "db.operation": op,
            "db.sql.table": table, "server.address": f"{db.replace('db', '')}-db",
            "server.port": 5432}


def _order_request(b: SpanSet, t: float, events: list[tuple[str, str]],
                   context_column: bool = True) -> tuple[SpanRef, list[SpanRef], float]:
    """order-service's POST /orders (debezium-examples outbox/order-service OrderService.
    addOrder, @Transactional): one ``outbox-write`` span per event fired (aggregate type,
    event type), the Hibernate flush at commit (INSERT purchaseorder, then INSERT and, with
    remove-after-insert, DELETE outboxevent per event). Returns the root, the outbox-write
    spans and the commit time."""
    root = b.span("order-service", "POST /orders", kind="SERVER", start_ms=t, dur_ms=30,
                  attrs=_HTTP)
    writes = []
    for k, (agg, typ) in enumerate(events):
        if context_column:
            writes.append(b.span("order-service", "outbox-write", parent=root,
                                 start_ms=t + 4 + k, dur_ms=0.6,
                                 attrs={"aggregateType": agg, "aggregateId": str(100 + k),
                                        "type": agg, "timestamp": str(1_700_000_000_000)}))
    tx = t + 20
    b.span("order-service", "INSERT orderdb.purchaseorder", kind="CLIENT", parent=root,
           start_ms=tx, dur_ms=1.5, attrs=_pg("orderdb", "INSERT", "purchaseorder"))
    for k, _ in enumerate(events):
        b.span("order-service", "INSERT orderdb.outboxevent", kind="CLIENT", parent=root,
               start_ms=tx + 2 + 2 * k, dur_ms=1, attrs=_pg("orderdb", "INSERT", "outboxevent"))
        b.span("order-service", "DELETE orderdb.outboxevent", kind="CLIENT", parent=root,
               start_ms=tx + 3 + 2 * k, dur_ms=0.8, attrs=_pg("orderdb", "DELETE", "outboxevent"))
    return root, writes, float(int(tx + 3 + 2 * len(events)))   # the commit (whole ms)


def _source(table: str, commit: float, tx_id: int, db: str = "orderdb",
            schema: str = "inventory") -> dict[str, Any]:
    """db-log-write's tags: the Postgres connector's source block, renamed by addFieldToSpan
    (db -> db.instance, connector -> db.type, name -> db.cdc-name)."""
    return {"db.version": "2.7.3.Final", "db.type": "postgresql", "db.cdc-name": "dbserver1",
            "db.ts_ms": str(1_700_000_000_000 + int(commit)), "db.snapshot": "false",
            "db.instance": db, "db.sequence": '["24023928","24023928"]', "db.schema": schema,
            "db.table": table, "db.txId": str(tx_id), "db.lsn": str(24023928 + tx_id)}


def _debezium(b: SpanSet, parent: SpanRef | None, topic: str, commit: float, read: float,
              table: str, tx_id: int, op: str = "c", db: str = "orderdb") -> SpanRef:
    """The Connect worker's spans for one captured row: db-log-write and debezium-read when
    the row carried a context (``parent``), then the interceptor's onSend and the
    kafka-clients library's instant "<topic> publish". Returns the publish."""
    if parent is not None:
        log = b.span(CONNECT, "db-log-write", parent=parent, start_ms=commit,
                     dur_ms=read + 0.5 - commit, attrs=_source(table, commit, tx_id, db))
        b.span(CONNECT, "debezium-read", parent=log, start_ms=read, dur_ms=0.4,
               attrs={"op": op, "ts_ms": str(1_700_000_000_000 + int(read))})
    else:
        log = None
    on_send = b.span(CONNECT, "onSend", parent=log, start_ms=read + 0.7, dur_ms=0.3)
    return b.span(CONNECT, f"{topic} publish", kind="PRODUCER", parent=on_send,
                  start_ms=read + 0.75, dur_ms=0.05,
                  attrs={"messaging.system": "kafka", "messaging.destination.name": topic,
                         "messaging.operation": "publish", "messaging.client_id": CLIENT_ID})


def _shipment(b: SpanSet, parent: SpanRef, topic: str, t: float, offset: int,
              seen: bool = False) -> SpanRef:
    """shipment-service (Quarkus, SmallRye Reactive Messaging, channel 'orders', group
    shipment-service: debezium-examples outbox/shipment-service application.properties):
    KafkaSource's instant "<topic> receive", child of the publish, and the handler's JDBC
    statements (OrderEventHandler: the message log check, the shipment, the log entry) as
    its children, after it ended; an event already in the log (``seen``) is skipped after
    the check)."""
    rec = b.span("shipment-service", f"{topic} receive", kind="CONSUMER", parent=parent,
                 start_ms=t, dur_ms=0.03,
                 attrs={"messaging.system": "kafka", "messaging.destination.name": topic,
                        "messaging.operation": "receive",
                        "messaging.client_id": "kafka-consumer-orders",
                        "messaging.kafka.partition": 0,
                        "messaging.kafka.message.offset": offset,
                        "messaging.kafka.consumer.group": "shipment-service",
                        "messaging.consumer.id": "shipment-service - kafka-consumer-orders"})
    b.span("shipment-service", "SELECT shipmentdb.consumedmessage", kind="CLIENT", parent=rec,
           start_ms=t + 0.5, dur_ms=2, attrs=_pg("shipmentdb", "SELECT", "consumedmessage"))
    if seen:
        return rec
    b.span("shipment-service", "INSERT shipmentdb.shipment", kind="CLIENT", parent=rec,
           start_ms=t + 6, dur_ms=2, attrs=_pg("shipmentdb", "INSERT", "shipment"))
    b.span("shipment-service", "INSERT shipmentdb.consumedmessage", kind="CLIENT", parent=rec,
           start_ms=t + 9, dur_ms=3, attrs=_pg("shipmentdb", "INSERT", "consumedmessage"))
    return rec


def _outbox_orders(b: SpanSet, events: list[tuple[str, str]]) -> list[SpanRef]:
    """N orders through the outbox; only Order events are consumed (by shipment-service).
    Returns the request roots."""
    roots = []
    for i in range(N):
        t = i * 200
        root, writes, commit = _order_request(b, t, events)
        roots.append(root)
        read = commit + 45          # the connector reads the commit 45 ms later
        for k, ((agg, _), ow) in enumerate(zip(events, writes)):
            pub = _debezium(b, ow, f"{agg}.events", commit, read + k, "outboxevent", 600 + i)
            if agg == "Order":
                _shipment(b, pub, "Order.events", read + k + 15, offset=i)
    return roots


_OUTBOX_EDGES = {
    "service:order-service->external:postgresql": ("call", 3 * N),
    "service:order-service->service:kafka-connect": ("call", N),
    "service:kafka-connect->topic:Order.events": ("publish", N),
    "topic:Order.events->service:shipment-service": ("consume", N),
    "service:shipment-service->external:postgresql": ("call", 3 * N),
}


def test_debezium_outbox_event_router_publish_is_the_connectors():
    """Debezium 2.2+ (OpenTelemetry) with the outbox EventRouter (route.topic.replacement
    '${routedByValue}.events': debezium-examples outbox/register-postgres.json), the
    Quarkus outbox extension in order-service and DebeziumTracingProducerInterceptor in the
    Connect worker: the request's trace runs outbox-write -> db-log-write -> onSend ->
    "Order.events publish" -> shipment's receive. The publish is the connector's; the row
    is the hop order-service -> kafka-connect (a call timed by db-log-write: the 45 ms of
    capture lag); the delivery is joined by its parent; the delivery lasts until the end of
    its handler's work (12 ms); queue time from the end of the publish (15 ms - 0.8 ms);
    nothing is left unconsumed and nothing is broken."""
    b = SpanSet()
    _outbox_orders(b, [("Order", "OrderCreated")])
    st = b.store()
    a = _analysed_each(st, _OUTBOX_EDGES, ["topic:Order.events->service:shipment-service"])
    assert _systems(a) == {"topic:Order.events": "kafka"}
    assert a.edge("service:order-service->service:kafka-connect")["p50_ms"] == 45.5
    consume = a.edge("topic:Order.events->service:shipment-service")
    assert consume["queue_p50_ms"] == pytest.approx(14.2)
    assert consume["producer_seen"] and consume["broken_context_count"] == 0
    assert edge_detail(st, "service:kafka-connect->topic:Order.events")["count"] == N
    # the receive span is a 30 µs mark; the delivery is the handler's work under it
    assert consume["p50_ms"] == 12.0


def test_debezium_outbox_is_one_flow_from_the_request_to_the_consumer():
    """One trace per order, so one flow: it enters at order-service and goes through the
    connector to shipment-service; its end-to-end time runs from the request to the end of
    the shipment's work (commit at 25 ms, read at 70, received at 85, done at 97). The
    capture lag (the connector's db-log-write, 45 ms) is the flow's bottleneck; the queue
    after the connector's publish is on the critical path, and the one trace's flow view
    holds the spans of all three services."""
    b = SpanSet()
    roots = _outbox_orders(b, [("Order", "OrderCreated")])
    st = b.store()
    a = analyze(st)
    assert _flows(a) == [("order-service", N, 1.0)]
    (flow,) = a.flows
    assert set(flow["services"]) == {"order-service", CONNECT, "shipment-service"}
    assert flow["topics"] == ["Order.events"]
    assert flow["e2e_p50_ms"] == 97.0
    assert flow["bottleneck"]["hop"] == f"service:{CONNECT}"
    hops = {(h["hop"], h["kind"]): h["p50_ms"] for h in flow["critical_path"]}
    assert hops[("topic:Order.events->service:shipment-service", "queue")] == \
        pytest.approx(14.2)
    one = flow_for_trace(st, roots[0].trace_id)
    assert one["trace_ids"] == [roots[0].trace_id]
    assert {s["service_name"] for s in one["spans"]} == \
        {"order-service", CONNECT, "shipment-service"}
    assert one["duration_ms"] == 97.0


def test_debezium_two_outbox_rows_of_one_transaction():
    """OrderService.addOrder fires OrderCreatedEvent (aggregate 'Order') and
    InvoiceCreatedEvent (aggregate 'Customer') in one transaction: two outbox-write spans,
    two rows committed together (one txId, one source.ts_ms), two db-log-write spans in the
    connector, two publishes to two topics. shipment-service consumes Order.events only;
    in the demo nothing consumes Customer.events, so those events, and only those, are
    published and never consumed. Two rows are two hops to the connector."""
    b = SpanSet()
    _outbox_orders(b, [("Order", "OrderCreated"), ("Customer", "InvoiceCreated")])
    a = _analysed_each(b.store(), {
        "service:order-service->external:postgresql": ("call", 5 * N),
        "service:order-service->service:kafka-connect": ("call", 2 * N),
        "service:kafka-connect->topic:Order.events": ("publish", N),
        "service:kafka-connect->topic:Customer.events": ("publish", N),
        "topic:Order.events->service:shipment-service": ("consume", N),
        "service:shipment-service->external:postgresql": ("call", 3 * N),
    }, ["topic:Order.events->service:shipment-service"],
        anomalies=[("published_never_consumed", "topic:Customer.events", N)])
    (lost,) = a.anomalies
    assert lost["publisher"] == f"service:{CONNECT}" and not lost["topic_has_consumers"]
    assert _flows(a) == [("order-service", N, 1.0)]


def test_debezium_with_the_agents_kafka_instrumentation_on_starts_a_trace_at_the_connector():
    """The Connect worker left with the Java agent's Kafka instrumentation on (the
    default): DebeziumTracingProducerInterceptor logs a warning and returns the record
    untouched (no onSend span), and the agent's KafkaProducerInstrumentation starts the
    "Order.events publish" under the current context of Connect's task thread, none: a
    root, ended when the broker acknowledges it (partition, offset), whose context replaces
    the header the SMT wrote (KafkaHeadersSetter: remove, then add). The request's trace
    ends in the connector's db-log-write; the consumer is a child of the agent's publish,
    in the connector's trace. Nothing joins the two traces: two flows, each one trace, and
    the map is the same."""
    b = SpanSet()
    for i in range(N):
        t = i * 200
        _, (ow,), commit = _order_request(b, t, [("Order", "OrderCreated")])
        read = commit + 45
        log = b.span(CONNECT, "db-log-write", parent=ow, start_ms=commit,
                     dur_ms=read + 0.5 - commit, attrs=_source("outboxevent", commit, 600 + i))
        b.span(CONNECT, "debezium-read", parent=log, start_ms=read, dur_ms=0.4,
               attrs={"op": "c", "ts_ms": str(1_700_000_000_000 + int(read))})
        pub = b.span(CONNECT, "Order.events publish", kind="PRODUCER", start_ms=read + 0.7,
                     dur_ms=3, attrs={"messaging.system": "kafka",
                                      "messaging.destination.name": "Order.events",
                                      "messaging.operation": "publish",
                                      "messaging.client_id": CLIENT_ID,
                                      "messaging.destination.partition.id": "0",
                                      "messaging.kafka.message.offset": i})
        _shipment(b, pub, "Order.events", read + 15, offset=i)
    a = _analysed_each(b.store(), _OUTBOX_EDGES,
                       ["topic:Order.events->service:shipment-service"])
    assert _flows(a) == [(CONNECT, N, 1.0), ("order-service", N, 1.0)]
    assert a.edge("topic:Order.events->service:shipment-service")["queue_p50_ms"] == \
        pytest.approx(11.3)


def test_debezium_activate_tracing_span_on_a_captured_table_fans_out():
    """ActivateTracingSpan on a plain captured table (transforms.tracing.type=
    io.debezium.transforms.tracing.ActivateTracingSpan; topic <prefix>.<schema>.<table>),
    two consumer groups on the topic (the Java agent's "<topic> process", child of the
    publish). customer-service updates customers through its API and writes the
    tracingspancontext column (an update: op "u"); a nightly import inserts customers with
    the column left NULL: no Debezium span for those rows, and the interceptor, finding no
    context in the headers, opens onSend as a root, so each imported row's publish starts a
    trace in the connector. Every delivery is joined by its parent; the API's changes are
    flows from customer-service, the import's flows from the connector."""
    b = SpanSet()
    topic = "dbserver1.inventory.customers"
    pubs = []   # (publish, its end)
    for i in range(N):
        t = i * 200
        root = b.span("customer-service", "PUT /customers/{id}", kind="SERVER", start_ms=t,
                      dur_ms=12, attrs={**_HTTP, "http.request.method": "PUT",
                                        "http.route": "/customers/{id}"})
        b.span("customer-service", "UPDATE inventory.customers", kind="CLIENT", parent=root,
               start_ms=t + 3, dur_ms=2, attrs=_pg("inventory", "UPDATE", "customers"))
        # (the context the app wrote into the row is its request span's)
        pub = _debezium(b, root, topic, t + 6, t + 31, "customers", 700 + i, op="u",
                        db="inventory")
        pubs.append((pub, t + 31.8))
    for i in range(2):
        read = 1000 + i * 5
        pubs.append((_debezium(b, None, topic, 0, read, "customers", 0), read + 0.8))
    for i, (pub, end) in enumerate(pubs):
        for k, group in enumerate(("search-indexer", "cache-invalidator")):
            b.span(group, f"{topic} process", kind="CONSUMER", parent=pub,
                   start_ms=end + 8 + 4 * k, dur_ms=6,
                   attrs={"messaging.system": "kafka", "messaging.destination.name": topic,
                          "messaging.operation": "process",
                          "messaging.client_id": f"consumer-{group}-1",
                          "messaging.kafka.consumer.group": group,
                          "messaging.destination.partition.id": "0",
                          "messaging.kafka.message.offset": i,
                          "messaging.message.body.size": 612})
    total = N + 2
    a = _analysed_each(b.store(), {
        "service:customer-service->external:postgresql": ("call", N),
        "service:customer-service->service:kafka-connect": ("call", N),
        f"service:kafka-connect->topic:{topic}": ("publish", total),
        f"topic:{topic}->service:search-indexer": ("consume", total),
        f"topic:{topic}->service:cache-invalidator": ("consume", total),
    }, [f"topic:{topic}->service:search-indexer", f"topic:{topic}->service:cache-invalidator"])
    assert _flows(a) == [("customer-service", N, 1.0), (CONNECT, 2, 1.0)]
    assert a.edge(f"topic:{topic}->service:cache-invalidator")["queue_p50_ms"] == \
        pytest.approx(12.0)


def test_debezium_snapshot_of_the_outbox_replays_rows_whose_traces_are_gone():
    """With remove-after-insert off (debezium-examples sets
    QUARKUS_DEBEZIUM_OUTBOX_REMOVE_AFTER_INSERT=false) the outbox rows stay, and a new
    snapshot (a new connector, or an incremental snapshot signal) reads them again: op "r",
    which EventRouterDelegate routes like an insert, so the SMT opens db-log-write under
    the context still in each row, a span of a request long gone from the store. Those
    publishes are the connector's, in the old traces; shipment-service finds the events in
    its message log and skips them. No hop from order-service (none of its spans is here),
    no anomaly: the flows start in the connector."""
    b = SpanSet()
    for i in range(N):
        gone = SpanRef(b.new_trace(), "%016x" % (0x5EED00 + i))
        snap = 5000.0 + i * 2
        pub = _debezium(b, gone, "Order.events", snap, snap + 1, "outboxevent", 0, op="r")
        _shipment(b, pub, "Order.events", snap + 20, offset=50 + i, seen=True)
    a = _analysed_each(b.store(), {
        "service:kafka-connect->topic:Order.events": ("publish", N),
        "topic:Order.events->service:shipment-service": ("consume", N),
        "service:shipment-service->external:postgresql": ("call", N),
    }, ["topic:Order.events->service:shipment-service"])
    assert _flows(a) == [(CONNECT, N, 1.0)]


def _opentracing_orders(b: SpanSet) -> None:
    """Debezium 1.x-2.1 (OpenTracing): the debezium-examples outbox demo of that time
    (Strimzi's Connect image with a Jaeger tracer, producer.interceptor.classes /
    consumer.interceptor.classes = io.opentracing.contrib.kafka.Tracing*Interceptor;
    shipment-service with the consumer interceptor and its own "orders" span), the spans
    arriving through the collector's jaeger receiver (span.kind tags become span kinds,
    other tags attributes; a span without span.kind is UNSPECIFIED)."""
    for i in range(N):
        t = i * 200
        root = b.span("order-service",
                      "POST:io.debezium.examples.outbox.order.rest.OrderResource.addOrder",
                      kind="SERVER", start_ms=t, dur_ms=30,
                      attrs={"component": "jaxrs", "http.method": "POST",
                             "http.url": "http://localhost:8080/orders",
                             "http.status_code": 200})
        # the Quarkus extension's OpenTracing dispatcher: component tag, no span.kind
        ow = b.span("order-service", "outbox-write", kind="UNSPECIFIED", parent=root,
                    start_ms=t + 4, dur_ms=0.6,
                    attrs={"aggregateType": "Order", "aggregateId": str(100 + i),
                           "type": "Order", "timestamp": "1700000000000",
                           "component": "debezium"})
        commit, read = t + 27.0, t + 72.0
        # ActivateTracingSpan (OpenTracing): db-log-write starts and is finished at the
        # commit's time (txLogSpan.finish(eventTimestamp)); debezium-read, its child, runs
        # from the processing time; its context goes into the headers
        log = b.span(CONNECT, "db-log-write", kind="UNSPECIFIED", parent=ow, start_ms=commit,
                     dur_ms=0, attrs={**_source("outboxevent", commit, 600 + i),
                                      "component": "debezium"})
        read_span = b.span(CONNECT, "debezium-read", kind="UNSPECIFIED", parent=log,
                           start_ms=read, dur_ms=0.4,
                           attrs={"op": "c", "ts_ms": str(1_700_000_000_000 + int(read)),
                                  "component": "debezium"})
        # TracingKafkaUtils.buildAndInjectSpan: "To_<topic>", child of the context in the
        # headers, finished at once by the interceptor
        to = b.span(CONNECT, "To_Order.events", kind="PRODUCER", parent=read_span,
                    start_ms=read + 0.6, dur_ms=0.1,
                    attrs={"component": "java-kafka", "peer.service": "kafka",
                           "message_bus.destination": "Order.events"})
        # buildAndFinishChildSpan: "From_<topic>", FOLLOWS_FROM the producer (the Jaeger
        # client makes it the parent), finished at once; its context is injected back
        frm = b.span("shipment-service", "From_Order.events", kind="CONSUMER", parent=to,
                     start_ms=read + 15, dur_ms=0.012,
                     attrs={"component": "java-kafka", "peer.service": "kafka",
                            "message_bus.destination": "Order.events", "partition": 0,
                            "offset": i})
        b.span("shipment-service", "orders", kind="UNSPECIFIED", parent=frm,
               start_ms=read + 15.5, dur_ms=11)


def test_debezium_opentracing_outbox_with_the_kafka_client_interceptors():
    """The same outbox flow under Debezium's OpenTracing tracing: the context the SMT hands
    on is debezium-read's, and db-log-write is a mark of no duration at the commit (the lag
    sits between it and debezium-read). The map is the one of the OpenTelemetry version:
    the connector publishes (To_<topic> names its destination as message_bus.destination;
    peer.service kafka, component java-kafka say the system), shipment-service's From_
    span is the delivery, lasting through its "orders" work; one flow per order."""
    b = SpanSet()
    _opentracing_orders(b)
    a = _analysed_each(b.store(), {
        "service:order-service->service:kafka-connect": ("call", N),
        "service:kafka-connect->topic:Order.events": ("publish", N),
        "topic:Order.events->service:shipment-service": ("consume", N),
    }, ["topic:Order.events->service:shipment-service"])
    consume = a.edge("topic:Order.events->service:shipment-service")
    assert consume["queue_p50_ms"] == pytest.approx(14.3)
    assert _flows(a) == [("order-service", N, 1.0)]
    # From_ is finished as soon as it is started (12 µs): the delivery is the "orders" work
    # under it. (Not asserted, left alone: the topic's system. Only the interceptors' fixed
    # OpenTracing tags say it, component java-kafka and peer.service kafka; the decoders
    # read no system from a component's value.)
    assert consume["p50_ms"] == pytest.approx(11.5)


# (Not encoded, left alone: Eventuate Tram's Spring Cloud Sleuth interceptors
# (eventuate-tram/eventuate-tram-spring-cloud-sleuth). Its "doSend <destination>" and
# "receive <destination>" spans have no kind and say what they are only by Eventuate's own
# tags (message.operation PRODUCE / CONSUME, message.DESTINATION); the untraced Eventuate CDC
# service moves the message, so "receive" is a child of "doSend" in another service and the
# analyzer reads a call order-service -> customer-service, not a publish through the
# destination. The decoders know no message.* tags.)
