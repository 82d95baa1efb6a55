"""Mixed fleets: one business flow crossing services instrumented by different libraries and
semantic-convention versions, as in real companies. Every hop is built exactly as its
library exports it, read from that library's source (cited per hop), and each test checks
what the analyzer makes of the whole flow: edges, how each delivery was joined, queue
times, flows and anomalies.

Sources read (shared by several tests):
- OpenTelemetry Java agent 2.x, Kafka (open-telemetry/opentelemetry-java-instrumentation:
  instrumentation/kafka/kafka-clients/kafka-clients-common-0.11/library/.../internal/
  KafkaInstrumenterFactory.java, KafkaProducerAttributesExtractor.java,
  KafkaConsumerAttributesExtractor.java; instrumentation-api-incubator/.../semconv/messaging/
  MessagingAttributesExtractor.java, MessagingSpanNameExtractor.java,
  internal/MessagingProcessInstrumenterFactory.java, MessagingProcessContextCustomizer.java).
  With otel.semconv-stability.opt-in=messaging (conventions 1.26+): spans "send <topic>" /
  "process <topic>", messaging.operation.name and .type, messaging.client.id; the producer
  adds messaging.destination.partition.id and messaging.kafka.message.offset once the broker
  acknowledged the record; the process span's parent is the producer context extracted from
  the headers (when no span is current) and it links to it as well.
- otelsarama (open-telemetry/opentelemetry-go-contrib:
  instrumentation/github.com/Shopify/sarama/otelsarama/producer.go, dispatcher.go,
  option.go). Old conventions (semconv 1.7 / 1.12): messaging.destination,
  messaging.destination_kind, messaging.kafka.partition and the record's *offset* as
  messaging.message_id; the consumer span ("kafka.consume", later "<topic> receive",
  messaging.operation=receive) is a child of the extracted context and ends as soon as the
  application took the message from the channel. Its propagator is otel.GetTextMapPropagator(),
  which in Go is a no-op until the application sets one (go.opentelemetry.io/otel
  propagation.go: "If none has been set, a No-Op TextMapPropagator is returned").
- opentelemetry-instrumentation-confluent-kafka (open-telemetry/opentelemetry-python-contrib:
  instrumentation/opentelemetry-instrumentation-confluent-kafka/src/opentelemetry/
  instrumentation/confluent_kafka/__init__.py and utils.py). poll() ends the previous
  "<topic> process" span; for a record, a bare CONSUMER "recv" span (no attributes) wraps the
  start of a new CONSUMER "<topic> process" span, its child, that *links* to the producer and
  lasts until the next poll(); attributes: messaging.destination, messaging.kafka.partition,
  messaging.destination_kind=queue, messaging.operation=process, server.address/port and the
  message id "<topic>.<partition>.<offset>". Its producer span "<topic> send" says
  messaging.operation=publish (older releases: "receive", with a "# Replace" comment).
"""

from __future__ import annotations

from typing import Any

from opentelemetry.proto.common.v1 import common_pb2

from analyzer import analyze, edge_detail, flow_for_trace
from choreoscope.store import Store
from collector.decode import decode_request
from tests.analysis_checks import analysed_each as _analysed_each
from tests.analysis_checks import edges_of as _edges
from tests.analysis_checks import flows_of as _flows
from tests.analysis_checks import systems_of as _systems
from tests.builders import SpanRef, SpanSet

N = 3


# ------------------------------------------------------------------------------ helpers
def _java_send(b: SpanSet, svc: str, topic: str, *, parent: SpanRef, start_ms: float,
               dur_ms: float, partition: int, offset: int, key: str) -> SpanRef:
    """The Java agent's producer span, stable messaging conventions (opt-in)."""
    return b.span(svc, f"send {topic}", kind="PRODUCER", parent=parent, start_ms=start_ms,
                  dur_ms=dur_ms, attrs={
                      "messaging.system": "kafka", "messaging.destination.name": topic,
                      "messaging.operation.name": "send", "messaging.operation.type": "send",
                      "messaging.client.id": f"{svc}-producer-1",
                      "messaging.kafka.message.key": key,
                      "messaging.destination.partition.id": str(partition),
                      "messaging.kafka.message.offset": offset})


def _java_process(b: SpanSet, svc: str, topic: str, *, producer: SpanRef | None,
                  start_ms: float, dur_ms: float, partition: int, offset: int,
                  group: str, trace: str | None = None) -> SpanRef:
    """The Java agent's process span, stable conventions: child of the producer context
    found in the record's headers and linked to it; a root with no link when the headers
    carried none."""
    return b.span(svc, f"process {topic}", kind="CONSUMER", parent=producer, trace=trace,
                  start_ms=start_ms, dur_ms=dur_ms,
                  links=[producer] if producer is not None else [], attrs={
                      "messaging.system": "kafka", "messaging.destination.name": topic,
                      "messaging.operation.name": "process",
                      "messaging.operation.type": "process",
                      "messaging.client.id": f"{svc}-consumer-1",
                      "messaging.destination.partition.id": str(partition),
                      "messaging.kafka.message.offset": offset,
                      "messaging.kafka.consumer.group": group})


def _sarama_consume(b: SpanSet, svc: str, topic: str, *, parent: SpanRef | None,
                    start_ms: float, partition: int, offset: int) -> SpanRef:
    """otelsarama's consumer span (semconv 1.7): instant, named kafka.consume."""
    return b.span(svc, "kafka.consume", kind="CONSUMER", parent=parent, start_ms=start_ms,
                  dur_ms=0.05, attrs={
                      "messaging.system": "kafka", "messaging.destination_kind": "topic",
                      "messaging.destination": topic, "messaging.operation": "receive",
                      "messaging.message_id": str(offset),
                      "messaging.kafka.partition": partition})


def _sarama_send(b: SpanSet, svc: str, topic: str, *, parent: SpanRef, start_ms: float,
                 dur_ms: float, partition: int, offset: int) -> SpanRef:
    """otelsarama's SyncProducer span (semconv 1.12): partition and offset set at its end."""
    return b.span(svc, f"{topic} send", kind="PRODUCER", parent=parent, start_ms=start_ms,
                  dur_ms=dur_ms, attrs={
                      "messaging.system": "kafka", "messaging.destination_kind": "topic",
                      "messaging.destination": topic,
                      "messaging.message_payload_size_bytes": 182,
                      "messaging.operation": "send",
                      "messaging.message_id": str(offset),
                      "messaging.kafka.partition": partition})


def _confluent_process(b: SpanSet, svc: str, topic: str, *, producer: SpanRef | None,
                       start_ms: float, dur_ms: float, partition: int,
                       offset: int) -> SpanRef:
    """confluent-kafka's poll(): a bare "recv" root and its "<topic> process" child, which
    links to the producer (no link when the headers carried no context)."""
    recv = b.span(svc, "recv", kind="CONSUMER", start_ms=start_ms - 0.01, dur_ms=0.03)
    return b.span(svc, f"{topic} process", kind="CONSUMER", parent=recv,
                  start_ms=start_ms, dur_ms=dur_ms,
                  links=[producer] if producer is not None else [], attrs={
                      "messaging.system": "kafka", "messaging.destination": topic,
                      "messaging.kafka.partition": partition,
                      "messaging.destination_kind": "queue", "messaging.operation": "process",
                      "server.address": "kafka-0.kafka", "server.port": 9092,
                      "messaging.message.id": f"{topic}.{partition}.{offset}"})


def _store_with_resources(b: SpanSet, resources: dict[str, dict[str, Any]]) -> Store:
    """A store of ``b``'s spans whose services in ``resources`` have those resource
    attributes instead of a plain service.name (the builder's service name is only the key
    here)."""
    req = b.request()
    for rs in req.resource_spans:
        name = next(kv.value.string_value for kv in rs.resource.attributes
                    if kv.key == "service.name")
        if name in resources:
            del rs.resource.attributes[:]
            rs.resource.attributes.extend(
                common_pb2.KeyValue(key=k, value=common_pb2.AnyValue(string_value=v))
                for k, v in resources[name].items())
    st = Store.open(":memory:")
    st.write(decode_request(req))
    return st


# ----------------------------------------------------------------------------- scenarios
def test_java_kafka_event_consumed_by_go_otelsarama_and_python_confluent_kafka():
    """One order event, three instrumentations: checkout (Java agent, stable conventions)
    sends "send orders"; inventory (Go, otelsarama of the semconv 1.7 era, the W3C propagator
    set) gets an instant "kafka.consume" child of the send, naming the topic only as
    messaging.destination and its offset as message id, and its handler's spans under it;
    notifications (Python, confluent-kafka) gets a bare "recv" root and under it
    "orders process" linking to the send, named by "<topic>.<partition>.<offset>". Both
    deliveries are joined by context; one flow per order (the Python delivery is a trace of
    its own); the bare "recv" spans are no delivery from an unknown topic."""
    b = SpanSet()
    for i in range(N):
        t = i * 200
        root = b.span("checkout", "POST /api/orders", kind="SERVER", start_ms=t, dur_ms=30,
                      attrs={"http.request.method": "POST", "http.route": "/api/orders"})
        send = _java_send(b, "checkout", "orders", parent=root, start_ms=t + 5, dur_ms=4,
                          partition=i % 3, offset=1000 + i, key=f"order-{i}")
        # inventory: the user's handler extracts the consume span's context (otelsarama
        # injects it into the message) and works under it
        cons = _sarama_consume(b, "inventory", "orders", parent=send, start_ms=t + 12,
                               partition=i % 3, offset=1000 + i)
        work = b.span("inventory", "reserve stock", parent=cons, start_ms=t + 12.1, dur_ms=8)
        b.span("inventory", "UPDATE stock", kind="CLIENT", parent=work, start_ms=t + 13,
               dur_ms=4, attrs={"db.system": "postgresql", "db.operation": "UPDATE",
                                "server.address": "pg-inventory"})
        proc = _confluent_process(b, "notifications", "orders", producer=send,
                                  start_ms=t + 15, dur_ms=25, partition=i % 3,
                                  offset=1000 + i)
        b.span("notifications", "POST", kind="CLIENT", parent=proc, start_ms=t + 16,
               dur_ms=12, attrs={"http.request.method": "POST",
                                 "server.address": "api.sendgrid.com",
                                 "url.full": "https://api.sendgrid.com/v3/mail/send"})
    st = b.store()
    a = _analysed_each(st, {
        "service:checkout->topic:orders": ("publish", N),
        "topic:orders->service:inventory": ("consume", N),
        "topic:orders->service:notifications": ("consume", N),
        "service:inventory->external:postgresql": ("call", N),
        "service:notifications->external:api.sendgrid.com": ("call", N),
    }, ["topic:orders->service:inventory", "topic:orders->service:notifications"])
    assert _systems(a) == {"topic:orders": "kafka"}
    # queue time: from the end of the send (t+9) to each delivery's start
    assert a.edge("topic:orders->service:inventory")["queue_p50_ms"] == 3.0
    assert a.edge("topic:orders->service:notifications")["queue_p50_ms"] == 6.0
    # the Python delivery lasts until the next poll (its process span), not the recv's 30 µs
    assert a.edge("topic:orders->service:notifications")["p50_ms"] == 25.0
    # one flow per order, entered at checkout; the linked Python trace is part of it
    assert _flows(a) == [("checkout", N, 2.0)]


def test_go_producer_without_propagator_joined_to_java_consumer_by_partition_and_offset():
    """payments (Go, otelsarama SyncProducer, semconv 1.12) never set a global propagator:
    Go's default is a no-op, so the records carry no context. The ledger's Java agent
    (stable conventions) starts a root "process payment-events" span with no link. Both
    sides name the record by partition and offset: otelsarama its offset as
    messaging.message_id beside messaging.kafka.partition, the agent
    messaging.destination.partition.id and messaging.kafka.message.offset. The three records
    sit at offset 41 of three partitions: each delivery is stitched to its own record only,
    and each order is one flow of two traces."""
    b = SpanSet()
    sends, procs = [], []
    for i in range(N):
        t = i * 300
        root = b.span("payments", "POST /v1/charges", kind="SERVER", start_ms=t, dur_ms=40,
                      attrs={"http.method": "POST", "http.route": "/v1/charges"})
        sends.append(_sarama_send(b, "payments", "payment-events", parent=root,
                                  start_ms=t + 20, dur_ms=6, partition=i, offset=41))
        procs.append(_java_process(b, "ledger", "payment-events", producer=None,
                                   start_ms=t + 38, dur_ms=15, partition=i, offset=41,
                                   group="ledger"))
        b.span("ledger", "INSERT ledger.entries", kind="CLIENT", parent=procs[-1],
               start_ms=t + 40, dur_ms=5, attrs={"db.system": "postgresql",
                                                 "server.address": "pg-ledger"})
    st = b.store()
    a = analyze(st)
    assert _edges(a) == {
        "service:payments->topic:payment-events": ("publish", N),
        "topic:payment-events->service:ledger": ("consume", N),
        "service:ledger->external:postgresql": ("call", N),
    }
    consume = a.edge("topic:payment-events->service:ledger")
    assert consume["joined_by"] == {"context": 0, "message_id": N, "none": 0, "outside": 0}
    assert consume["queue_p50_ms"] == 12.0  # t+38 - (t+20+6)
    assert sorted((x["type"], x["where"], x["count"]) for x in a.anomalies) == [
        ("broken_context", "topic:payment-events->service:ledger", N)]
    assert _flows(a) == [("payments", N, 2.0)]
    # each record's delivery joined to its own send (same offset, other partitions: no)
    for send, proc in zip(sends, procs):
        f = flow_for_trace(st, send.trace_id)
        ids = {s["span_id"] for s in f["spans"]}
        assert proc.span_id in ids
        assert not ids & {p.span_id for p in procs if p != proc}
    assert edge_detail(st, "topic:payment-events->service:ledger")["count"] == N


def test_go_producer_without_propagator_joined_to_python_consumer_by_record_id():
    """The same context-less records read by analytics (Python, confluent-kafka): its
    process span names the record "<topic>.<partition>.<offset>"
    ("payment-events.1.41"), otelsarama's send names it by offset "41" and partition 1. Both
    name the same Kafka record (topic, partition, offset: the instrumentation's own comment
    says a message is uniquely defined so): each delivery is stitched to its record by id,
    and each payment is one flow."""
    b = SpanSet()
    for i in range(N):
        t = i * 300
        root = b.span("payments", "POST /v1/charges", kind="SERVER", start_ms=t, dur_ms=40,
                      attrs={"http.method": "POST", "http.route": "/v1/charges"})
        _sarama_send(b, "payments", "payment-events", parent=root, start_ms=t + 20,
                     dur_ms=6, partition=i, offset=41)
        _confluent_process(b, "analytics", "payment-events", producer=None,
                           start_ms=t + 60, dur_ms=30, partition=i, offset=41)
    st = b.store()
    a = analyze(st)
    assert _edges(a) == {
        "service:payments->topic:payment-events": ("publish", N),
        "topic:payment-events->service:analytics": ("consume", N),
    }
    consume = a.edge("topic:payment-events->service:analytics")
    assert consume["joined_by"] == {"context": 0, "message_id": N, "none": 0, "outside": 0}
    assert consume["queue_p50_ms"] == 34.0  # t+60 - (t+20+6)
    assert sorted((x["type"], x["where"], x["count"]) for x in a.anomalies) == [
        ("broken_context", "topic:payment-events->service:analytics", N)]
    assert _flows(a) == [("payments", N, 2.0)]


def test_masstransit_event_consumed_by_masstransit_and_by_node_amqplib_without_context():
    """ordering (.NET, MassTransit 8 on RabbitMQ.Client 6) publishes OrderSubmitted to its
    message-type exchange "Shop.Contracts:OrderSubmitted". MassTransit carries its trace
    context in its own header, MT-Activity-Id, not traceparent, and tags its send span's
    message id only as messaging.masstransit.message_id; the AMQP message-id property is the
    same GUID (MassTransit/MassTransit: src/MassTransit/Logging/Diagnostics/
    LogContextActivityExtensions.cs StartSendActivity / PopulateSendActivity /
    StartReceiveActivity, DiagnosticHeaders.cs; src/Transports/MassTransit.RabbitMqTransport/
    RabbitMqTransport/RabbitMqSendTransport.cs: properties.MessageId, the routing key tagged
    only when not empty).
    billing (MassTransit) reads MT-Activity-Id: its "order-submitted receive" span is a child
    of the send and names its queue, a "order-submitted process" span per consumer under it.
    notifier (Node, @opentelemetry/instrumentation-amqplib, old conventions;
    open-telemetry/opentelemetry-js-contrib: packages/instrumentation-amqplib/src/amqplib.ts
    getConsumePatch, utils.ts getConnectionAttributesFromUrl/FromServer) extracts W3C
    context, finds none, and starts a root "<queue> process" span naming the *exchange*
    (msg.fields.exchange) as messaging.destination, the routing key ('' for MassTransit's
    fanout publish) and properties.messageId as messaging.message_id; it ends at ack.
    A correct analysis: the broker routed the event to billing's queue (route edge, context)
    and to notifier straight from the exchange, notifier's deliveries stitched to their
    publish by the message id both sides carry, the lost context flagged, one flow per
    order."""
    b = SpanSet()
    exchange = "Shop.Contracts:OrderSubmitted"
    conn = {"messaging.protocol": "AMQP", "messaging.protocol_version": "0.9.1",
            "messaging.url": "amqp://guest:***@rabbitmq:5672", "net.peer.name": "rabbitmq",
            "net.peer.port": 5672, "messaging.system": "rabbitmq"}
    for i in range(N):
        t = i * 250
        mid = f"4a3b0000-5d21-0015-{i:04x}-08dc1f2a9b7e"
        conv = f"4a3b0000-5d21-0015-c0{i:02x}-08dc1f2a9b7e"
        root = b.span("ordering", "POST /orders", kind="SERVER", start_ms=t, dur_ms=25,
                      attrs={"http.request.method": "POST", "http.route": "/orders"})
        send = b.span("ordering", f"{exchange} send", kind="PRODUCER", parent=root,
                      start_ms=t + 8, dur_ms=3, attrs={
                          "messaging.operation": "send", "messaging.system": "rabbitmq",
                          "messaging.destination.name": exchange,
                          "messaging.masstransit.message_id": mid,
                          "messaging.message.conversation_id": conv,
                          "messaging.masstransit.source_address":
                              "rabbitmq://rabbitmq/ordering_bus_x1y2?temporary=true",
                          "messaging.masstransit.destination_address":
                              f"rabbitmq://rabbitmq/{exchange}",
                          "messaging.masstransit.message_types":
                              f"urn:message:{exchange}",
                          "messaging.message.payload_size_bytes": "1289"})
        # billing: MassTransit reads MT-Activity-Id
        recv = b.span("billing", "order-submitted receive", kind="CONSUMER", parent=send,
                      start_ms=t + 15, dur_ms=14, attrs={
                          "messaging.operation": "receive",
                          "messaging.destination.name": "order-submitted",
                          "messaging.masstransit.input_address":
                              "rabbitmq://rabbitmq/order-submitted",
                          "messaging.message.id": mid})
        proc = b.span("billing", "order-submitted process", kind="CONSUMER", parent=recv,
                      start_ms=t + 16, dur_ms=12, attrs={
                          "messaging.operation": "process",
                          "messaging.masstransit.message_id": mid,
                          "messaging.message.conversation_id": conv,
                          "messaging.masstransit.consumer_type": "OrderSubmittedConsumer",
                          "peer.address": "OrderSubmitted/Shop.Contracts"})
        b.span("billing", "INSERT invoices", kind="CLIENT", parent=proc, start_ms=t + 18,
               dur_ms=6, attrs={"db.system": "postgresql", "server.address": "pg-billing"})
        # notifier: no traceparent in the headers, a root span
        note = b.span("notifier", "notifier.order-submitted process", kind="CONSUMER",
                      start_ms=t + 17, dur_ms=30, attrs={
                          **conn, "messaging.destination": exchange,
                          "messaging.destination_kind": "topic",
                          "messaging.rabbitmq.routing_key": "",
                          "messaging.operation": "process", "messaging.message_id": mid})
        b.span("notifier", "POST", kind="CLIENT", parent=note, start_ms=t + 20, dur_ms=22,
               attrs={"http.method": "POST", "net.peer.name": "api.mailgun.net",
                      "http.url": "https://api.mailgun.net/v3/shop/messages"})
    st = b.store()
    a = analyze(st)
    assert _edges(a) == {
        f"service:ordering->topic:{exchange}": ("publish", N),
        f"topic:{exchange}->topic:order-submitted": ("route", N),
        "topic:order-submitted->service:billing": ("consume", N),
        f"topic:{exchange}->service:notifier": ("consume", N),
        "service:billing->external:postgresql": ("call", N),
        "service:notifier->external:api.mailgun.net": ("call", N),
    }
    assert a.edge("topic:order-submitted->service:billing")["joined_by"] == \
        {"context": N, "message_id": 0, "none": 0, "outside": 0}
    notifier = a.edge(f"topic:{exchange}->service:notifier")
    assert notifier["joined_by"] == {"context": 0, "message_id": N, "none": 0, "outside": 0}
    assert notifier["queue_p50_ms"] == 6.0  # t+17 - (t+8+3)
    assert sorted((x["type"], x["where"], x["count"]) for x in a.anomalies) == [
        ("broken_context", f"topic:{exchange}->service:notifier", N)]
    assert _flows(a) == [("ordering", N, 2.0)]
    # billing's queue is a RabbitMQ queue (MassTransit's receive span names no system, but
    # the exchange routing to it is RabbitMQ's and its input address is rabbitmq://...)
    assert _systems(a) == {f"topic:{exchange}": "rabbitmq", "topic:order-submitted": "rabbitmq"}


def test_sleuth_brave_services_between_otel_services_through_the_zipkin_receiver():
    """A fleet half-way from Spring Cloud Sleuth (Brave, B3, reported through the collector's
    zipkin receiver) to OpenTelemetry. storefront (Java agent, otel.propagators
    tracecontext,baggage,b3) calls legacy-orders (Sleuth) over HTTP with a B3 header that has
    no parent id; Brave joins it (openzipkin/brave: brave/src/main/java/brave/Tracer.java
    joinSpan, B3 supportsJoin): legacy-orders' SERVER span *shares the client's span id* and,
    the header having no parent, has no parent at all once translated
    (open-telemetry/opentelemetry-collector-contrib: pkg/translator/zipkin/zipkinv2/
    to_translator.go zSpanToInternal: trace id from High/Low, parent only if set).
    legacy-orders' KafkaTracing "send" (kafka.topic, no messaging.*; B3 single header,
    brave/propagation/B3Propagation.java) is extracted by fulfilment's Java agent (stable
    conventions): "process orders" child of the Brave send and linked to it. fulfilment's
    "send shipments" is read by legacy-shipping (Sleuth): a zero-length "poll" child of it
    and the listener's work in "on-message" (as tests/test_analyzer_libraries.py _brave).
    One call, two Kafka hops joined by context, one flow entered at storefront."""
    b = SpanSet()
    for i in range(N):
        t = i * 300
        root = b.span("storefront", "POST /checkout", kind="SERVER", start_ms=t, dur_ms=60,
                      attrs={"http.request.method": "POST", "http.route": "/checkout"})
        client = b.span("storefront", "POST", kind="CLIENT", parent=root, start_ms=t + 3,
                        dur_ms=30, attrs={"http.request.method": "POST",
                                          "server.address": "legacy-orders",
                                          "server.port": 8080,
                                          "url.full": "http://legacy-orders:8080/orders"})
        # Brave's joined server span: the client's id, no parent (B3 from OTel has none)
        server = b.span("legacy-orders", "post /orders", kind="SERVER", trace=client.trace_id,
                        span_id=client.span_id, start_ms=t + 5, dur_ms=26,
                        attrs={"http.method": "POST", "http.path": "/orders"})
        b.span("legacy-orders", "query", kind="CLIENT", parent=server, start_ms=t + 7,
               dur_ms=5, attrs={"peer.service": "mysql"})
        send = b.span("legacy-orders", "send", kind="PRODUCER", parent=server,
                      start_ms=t + 14, dur_ms=3,
                      attrs={"kafka.topic": "orders", "kafka.key": f"o-{i}",
                             "peer.service": "kafka"})
        proc = _java_process(b, "fulfilment", "orders", producer=send, start_ms=t + 22,
                             dur_ms=20, partition=0, offset=500 + i, group="fulfilment")
        ship = _java_send(b, "fulfilment", "shipments", parent=proc, start_ms=t + 30,
                          dur_ms=4, partition=1, offset=70 + i, key=f"o-{i}")
        poll = b.span("legacy-shipping", "poll", kind="CONSUMER", parent=ship,
                      start_ms=t + 40, dur_ms=0,
                      attrs={"kafka.topic": "shipments", "peer.service": "kafka"})
        work = b.span("legacy-shipping", "on-message", kind="UNSPECIFIED", parent=poll,
                      start_ms=t + 40, dur_ms=15)
        b.span("legacy-shipping", "query", kind="CLIENT", parent=work, start_ms=t + 42,
               dur_ms=6, attrs={"peer.service": "mysql"})
    for st in (b.store(), b.store(batches=len(b.spans))):
        a = _analysed_each(st, {
            "service:storefront->service:legacy-orders": ("call", N),
            "service:legacy-orders->external:mysql": ("call", N),
            "service:legacy-orders->topic:orders": ("publish", N),
            "topic:orders->service:fulfilment": ("consume", N),
            "service:fulfilment->topic:shipments": ("publish", N),
            "topic:shipments->service:legacy-shipping": ("consume", N),
            "service:legacy-shipping->external:mysql": ("call", N),
        }, ["topic:orders->service:fulfilment", "topic:shipments->service:legacy-shipping"])
        assert _systems(a) == {"topic:orders": "kafka", "topic:shipments": "kafka"}
        assert a.edge("service:storefront->service:legacy-orders")["p50_ms"] == 30.0
        assert a.edge("topic:orders->service:fulfilment")["queue_p50_ms"] == 5.0
        assert a.edge("topic:shipments->service:legacy-shipping")["queue_p50_ms"] == 6.0
        assert _flows(a) == [("storefront", N, 1.0)]


def test_clock_skew_of_300_ms_on_two_consumer_hosts():
    """orders (Java agent, stable conventions) sends each event at t+5..t+8 by its clock.
    shipping (Go, otelsarama, W3C propagator set) really takes it at t+20, but its host's
    clock runs 300 ms behind: its instant "kafka.consume" (a receive) and its handler are
    recorded at t-280, ending long before the send began; analytics (Python,
    confluent-kafka) really polls it at t+25 on a host 300 ms ahead: recorded t+325.
    Given the skew rules (a receive is skewed only if it ended before the publish began;
    queue time is consumer start - producer end, at least 0): shipping's deliveries are
    clock skew, with no queue time; analytics' skew is indistinguishable from a 317 ms wait
    and is no anomaly. Each order is still one flow entered at orders, and its critical path
    has no negative or double-counted time."""
    b = SpanSet()
    for i in range(N):
        t = 1000 + i * 1000
        root = b.span("orders", "POST /orders", kind="SERVER", start_ms=t, dur_ms=30,
                      attrs={"http.request.method": "POST", "http.route": "/orders"})
        send = _java_send(b, "orders", "order-events", parent=root, start_ms=t + 5,
                          dur_ms=3, partition=i, offset=9000 + i, key=f"o-{i}")
        cons = _sarama_consume(b, "shipping", "order-events", parent=send,
                               start_ms=t + 20 - 300, partition=i, offset=9000 + i)
        work = b.span("shipping", "create shipment", parent=cons, start_ms=t + 20.1 - 300,
                      dur_ms=10)
        b.span("shipping", "INSERT shipments", kind="CLIENT", parent=work,
               start_ms=t + 22 - 300, dur_ms=5,
               attrs={"db.system": "postgresql", "server.address": "pg-shipping"})
        _confluent_process(b, "analytics", "order-events", producer=send,
                           start_ms=t + 25 + 300, dur_ms=12, partition=i, offset=9000 + i)
    st = b.store()
    a = _analysed_each(st, {
        "service:orders->topic:order-events": ("publish", N),
        "topic:order-events->service:shipping": ("consume", N),
        "topic:order-events->service:analytics": ("consume", N),
        "service:shipping->external:postgresql": ("call", N),
    }, ["topic:order-events->service:shipping", "topic:order-events->service:analytics"],
        anomalies=[("clock_skew", "topic:order-events->service:shipping", N)])
    shipping = a.edge("topic:order-events->service:shipping")
    analytics = a.edge("topic:order-events->service:analytics")
    assert (shipping["clock_skew_count"], analytics["clock_skew_count"]) == (N, 0)
    assert shipping["queue_p50_ms"] == 0.0
    assert analytics["queue_p50_ms"] == 317.0
    assert _flows(a) == [("orders", N, 2.0)]
    (flow,) = a.flows
    # from the root's start (t) to analytics' recorded end (t+337): shipping's skewed spans
    # recorded 280 ms before the root do not stretch the flow
    assert flow["e2e_p50_ms"] == 337.0
    assert all(h["mean_ms"] >= 0 for h in flow["critical_path"])
    assert abs(sum(h["share"] for h in flow["critical_path"]) - 1.0) < 0.01


def test_services_named_only_by_their_kubernetes_workload():
    """SDKs that were never told their service name report a default: Node
    "unknown_service:<argv0>" (opentelemetry-js resources default-service-name.ts), Go
    "unknown_service:<executable>" (opentelemetry-go sdk/resource builtin.go
    defaultServiceNameDetector), Python "unknown_service"; a Go resource built without
    resource.Default() has no service.name at all; the collector's k8sattributes processor
    adds the workload. storefront and fulfilment (both Node, "unknown_service:node",
    amqplib: "publish orders" PRODUCER naming exchange and routing key, no operation;
    "<queue> process" child of it naming the exchange) and invoicing (Python, confluent-kafka
    "invoices send", operation publish) are their Deployments, ledger (Go, otelsarama, no
    service.name) its StatefulSet; payments has a real service.name ("payments") that
    differs from its Deployment ("payments-v2") and keeps it. Each service is its own node
    (the two Node services are not one "unknown_service:node" calling itself) and the flow
    is whole."""
    b = SpanSet()
    conn = {"messaging.protocol": "AMQP", "messaging.protocol_version": "0.9.1",
            "messaging.url": "amqp://shop:***@rabbitmq.shop.svc:5672",
            "net.peer.name": "rabbitmq.shop.svc", "net.peer.port": 5672,
            "messaging.system": "rabbitmq"}
    for i in range(N):
        t = i * 400
        mid = f"c0ffee00-0000-4000-8000-00000000000{i}"
        root = b.span("storefront", "POST /checkout", kind="SERVER", start_ms=t, dur_ms=50,
                      attrs={"http.method": "POST", "http.route": "/checkout",
                             "http.target": "/checkout"})
        pay = b.span("storefront", "POST", kind="CLIENT", parent=root, start_ms=t + 2,
                     dur_ms=20, attrs={"http.method": "POST", "net.peer.name": "payments",
                                       "net.peer.port": 8080,
                                       "http.url": "http://payments:8080/charges"})
        b.span("payments", "POST /charges", kind="SERVER", parent=pay, start_ms=t + 3,
               dur_ms=18, attrs={"http.request.method": "POST", "http.route": "/charges"})
        pub = b.span("storefront", "publish orders", kind="PRODUCER", parent=root,
                     start_ms=t + 25, dur_ms=0.2, attrs={
                         **conn, "messaging.destination": "orders",
                         "messaging.destination_kind": "topic",
                         "messaging.rabbitmq.routing_key": "order.created",
                         "messaging.message_id": mid})
        cons = b.span("fulfilment", "fulfilment.orders process", kind="CONSUMER", parent=pub,
                      start_ms=t + 30, dur_ms=40, attrs={
                          **conn, "messaging.destination": "orders",
                          "messaging.destination_kind": "topic",
                          "messaging.rabbitmq.routing_key": "order.created",
                          "messaging.operation": "process", "messaging.message_id": mid})
        inv = b.span("fulfilment", "POST", kind="CLIENT", parent=cons, start_ms=t + 32,
                     dur_ms=30, attrs={"http.method": "POST", "net.peer.name": "invoicing",
                                       "net.peer.port": 8000,
                                       "http.url": "http://invoicing:8000/invoices"})
        srv = b.span("invoicing", "POST /invoices", kind="SERVER", parent=inv, start_ms=t + 33,
                     dur_ms=28, attrs={"http.method": "POST", "http.route": "/invoices"})
        send = b.span("invoicing", "invoices send", kind="PRODUCER", parent=srv,
                      start_ms=t + 50, dur_ms=2, attrs={
                          "messaging.system": "kafka", "messaging.destination": "invoices",
                          "messaging.destination_kind": "queue",
                          "messaging.operation": "publish",
                          "server.address": "kafka-0.kafka", "server.port": 9092})
        cons = _sarama_consume(b, "ledger", "invoices", parent=send, start_ms=t + 60,
                               partition=0, offset=300 + i)
        b.span("ledger", "post entry", parent=cons, start_ms=t + 60.1, dur_ms=7)
    st = _store_with_resources(b, {
        "storefront": {"service.name": "unknown_service:node",
                       "k8s.deployment.name": "storefront", "k8s.namespace.name": "shop",
                       "telemetry.sdk.language": "nodejs"},
        "fulfilment": {"service.name": "unknown_service:node",
                       "k8s.deployment.name": "fulfilment", "k8s.namespace.name": "shop",
                       "telemetry.sdk.language": "nodejs"},
        "invoicing": {"service.name": "unknown_service", "k8s.deployment.name": "invoicing",
                      "k8s.namespace.name": "shop", "telemetry.sdk.language": "python"},
        # (a Go resource built with resource.NewWithAttributes, not merged with
        # resource.Default(): no service.name at all)
        "ledger": {"k8s.statefulset.name": "ledger", "k8s.namespace.name": "shop",
                   "k8s.pod.name": "ledger-0", "telemetry.sdk.language": "go"},
        "payments": {"service.name": "payments", "k8s.deployment.name": "payments-v2",
                     "k8s.namespace.name": "shop", "telemetry.sdk.language": "java"},
    })
    a = _analysed_each(st, {
        "service:storefront->service:payments": ("call", N),
        "service:storefront->topic:orders": ("publish", N),
        "topic:orders->service:fulfilment": ("consume", N),
        "service:fulfilment->service:invoicing": ("call", N),
        "service:invoicing->topic:invoices": ("publish", N),
        "topic:invoices->service:ledger": ("consume", N),
    }, ["topic:orders->service:fulfilment", "topic:invoices->service:ledger"])
    assert {n["id"] for n in a.nodes if n["type"] == "service"} == {
        "service:storefront", "service:payments", "service:fulfilment",
        "service:invoicing", "service:ledger"}
    assert _systems(a) == {"topic:orders": "rabbitmq", "topic:invoices": "kafka"}
    assert _flows(a) == [("storefront", N, 1.0)]


def test_old_confluent_kafka_producer_saying_receive_consumed_by_java_agent():
    """Older opentelemetry-instrumentation-confluent-kafka releases (read at
    open-telemetry/opentelemetry-python-contrib commit 2a5fae9, __init__.py wrap_produce)
    enrich their PRODUCER "<topic> send" span with messaging.operation="receive" (passing
    MessagingOperationValues.RECEIVE, marked "# Replace"), messaging.destination and
    messaging.destination_kind=queue. billing-sync (Python, that release) sends invoices;
    accounting's Java agent with its default (old) conventions makes "invoices process"
    (messaging.operation=process, messaging.destination.name, partition, offset,
    messaging.kafka.consumer.group), a child of the send (receive telemetry off: no link).
    The PRODUCER span is the publish whatever its operation attribute says."""
    b = SpanSet()
    for i in range(N):
        t = i * 200
        root = b.span("billing-sync", "sync_invoices", start_ms=t, dur_ms=15)
        send = b.span("billing-sync", "invoices send", kind="PRODUCER", parent=root,
                      start_ms=t + 3, dur_ms=1, attrs={
                          "messaging.system": "kafka", "messaging.destination": "invoices",
                          "messaging.destination_kind": "queue",
                          "messaging.operation": "receive"})
        b.span("accounting", "invoices process", kind="CONSUMER", parent=send,
               start_ms=t + 12, dur_ms=9, attrs={
                   "messaging.system": "kafka", "messaging.destination.name": "invoices",
                   "messaging.operation": "process", "messaging.client_id": "consumer-acc-1",
                   "messaging.destination.partition.id": "0",
                   "messaging.kafka.message.offset": 77 + i,
                   "messaging.kafka.consumer.group": "accounting"})
    a = _analysed_each(b.store(), {
        "service:billing-sync->topic:invoices": ("publish", N),
        "topic:invoices->service:accounting": ("consume", N),
    }, ["topic:invoices->service:accounting"])
    assert _systems(a) == {"topic:invoices": "kafka"}
    assert a.edge("topic:invoices->service:accounting")["queue_p50_ms"] == 8.0
    assert _flows(a) == [("billing-sync", N, 1.0)]


# Not supported (left alone): an older confluent-kafka release's empty recv polls are kept
# as deliveries when another service (here Brave's Spring Rabbit publish, whose exchange is
# only found later from its deliveries) publishes anything unnamed.

