"""Span shapes of JVM frameworks that trace messaging themselves, not through the
OpenTelemetry Java agent (whose plain Kafka/RabbitMQ/JMS/Spring shapes are in
test_analyzer_libraries.py and test_analyzer_java_more.py): Quarkus with SmallRye Reactive
Messaging, and Micronaut's micronaut-tracing-opentelemetry-kafka. Each shape was read from
the framework's source and its own tests; each test builds exactly the spans the framework
exports for a small scenario and checks what the analyzer makes of them.

SmallRye Reactive Messaging (smallrye/smallrye-reactive-messaging; Quarkus wires it in with
quarkus-opentelemetry, whose build step registerReactiveMessagingMessageDecorator is on by
default, quarkus.otel.instrument.reactive-messaging=true, and every connector's
``tracing-enabled`` attribute defaults to true):

* The connectors build their spans with the OpenTelemetry instrumentation API (2.x,
  MessagingAttributesExtractor with the old conventions): an outgoing channel's
  "<destination> publish" PRODUCER, an incoming channel's "<destination> receive" CONSUMER,
  ``messaging.operation`` publish/receive, ``messaging.destination.name``.
* The receive span is started and ended at once (smallrye-reactive-messaging-otel
  tracing/TracingUtils.traceIncoming, KafkaSource.incomingTrace): it has no duration. Its
  parent is the context extracted from the message's headers (buildConsumerInstrumenter), a
  parent and not a link.
* Quarkus attaches the receive span's context to the message's Vert.x duplicated context
  (extensions/opentelemetry/runtime/.../reactivemessaging/
  ReactiveMessagingTracingIncomingDecorator), so what the @Incoming method does is a child of
  the already-ended receive span, and an @Outgoing result keeps the incoming message's
  TracingMetadata (ReactiveMessagingTracingOutgoingDecorator only adds one when missing): the
  processor's publish is a child of its receive. Quarkus' own OpenTelemetry adds no Kafka
  client spans beside SmallRye's: integration-tests/opentelemetry-reactive-messaging
  (OpenTelemetryTestCase) sees exactly SERVER, PRODUCER, CONSUMER and the CDI span for a
  REST endpoint that emits to Kafka, and CONSUMER, INTERNAL, PRODUCER for a processor.

micronaut-tracing-opentelemetry-kafka (micronaut-projects/micronaut-tracing,
tracing-opentelemetry-kafka): KafkaTelemetry wraps Micronaut's producers and consumers with
the OpenTelemetry kafka-clients library's instrumenters.
"""

from __future__ import annotations

import pytest

from analyzer import flow_for_trace
from tests.analysis_checks import analysed as _analysed
from tests.analysis_checks import analysed_each as _analysed_each
from tests.analysis_checks import flows_of as _flows
from tests.analysis_checks import systems_of as _systems
from tests.builders import SpanRef, SpanSet

N = 3

_HTTP = {"http.request.method": "POST", "url.scheme": "http", "url.path": "/orders",
         "http.route": "/orders", "http.response.status_code": 200,
         "server.address": "localhost", "server.port": 8080}
_PG = {"db.system": "postgresql", "db.name": "billing", "db.operation": "INSERT",
       "server.address": "postgres", "server.port": 5432}


# ------------------------------------------------------------------ SmallRye Kafka connector
def _smallrye_publish(b: SpanSet, service: str, parent: SpanRef | None, topic: str, t: float,
                      dur_ms: float, offset: int) -> SpanRef:
    """KafkaSink's "<topic> publish" (KafkaOpenTelemetryInstrumenter.startOutgoing before
    the send, endOutgoing when the broker acknowledges it): KafkaProducerAttributesExtractor
    adds the client id, and on end the partition and offset the broker assigned."""
    return b.span(service, f"{topic} publish", kind="PRODUCER", parent=parent, start_ms=t,
                  dur_ms=dur_ms,
                  attrs={"messaging.system": "kafka", "messaging.destination.name": topic,
                         "messaging.operation": "publish",
                         "messaging.client_id": f"kafka-producer-{topic}",
                         "messaging.destination.partition.id": "0",
                         "messaging.kafka.offset": offset})


def _smallrye_receive(b: SpanSet, service: str, parent: SpanRef, topic: str, channel: str,
                      t: float, offset: int) -> SpanRef:
    """KafkaSource's "<topic> receive", started and ended at once, child of the producer
    (KafkaAttributesExtractor: partition, offset, group, consumer id "<group> - <client id>";
    the attribute names the Quarkus integration test asserts)."""
    return b.span(service, f"{topic} receive", kind="CONSUMER", parent=parent, start_ms=t,
                  dur_ms=0.03,
                  attrs={"messaging.system": "kafka", "messaging.destination.name": topic,
                         "messaging.operation": "receive",
                         "messaging.client_id": f"kafka-consumer-{channel}",
                         "messaging.kafka.partition": 0,
                         "messaging.kafka.message.offset": offset,
                         "messaging.kafka.consumer.group": service,
                         "messaging.consumer.id": f"{service} - kafka-consumer-{channel}"})


def test_quarkus_kafka_emitter_to_incoming_method_under_an_instant_receive_span():
    """A REST endpoint sends through an Emitter (its publish is a child of the SERVER span
    and lasts until the broker's ack); the @Incoming method in billing runs after its
    "orders receive" span has already ended, as children of it (a @WithSpan CDI method and
    its database insert). Read in smallrye-reactive-messaging-kafka tracing/
    KafkaOpenTelemetryInstrumenter, KafkaAttributesExtractor, KafkaProducerAttributesExtractor,
    impl/KafkaSink, impl/KafkaSource, and quarkusio/quarkus ReactiveMessagingTracing*Decorator
    and integration-tests/opentelemetry-reactive-messaging (testProducerConsumerTracing).
    The handler's work is the consumer's: the flow ends with it, and so does its critical
    path (children in the receive span's service running after it are no clock skew: they
    are not clipped to it)."""
    b = SpanSet()
    roots = []
    for i in range(N):
        t = i * 100
        root = b.span("api", "POST /orders", kind="SERVER", start_ms=t, dur_ms=8, attrs=_HTTP)
        roots.append(root)
        pub = _smallrye_publish(b, "api", root, "orders", t + 2, 4, offset=i)
        rec = _smallrye_receive(b, "billing", pub, "orders", "orders-in", t + 12, offset=i)
        work = b.span("billing", "InvoiceService.create", parent=rec, start_ms=t + 12.1,
                      dur_ms=9, attrs={"code.namespace": "org.acme.InvoiceService",
                                       "code.function": "create"})
        b.span("billing", "INSERT billing.invoices", kind="CLIENT", parent=work,
               start_ms=t + 14, dur_ms=5, attrs=_PG)
    st = b.store()
    a = _analysed(st, {
        "service:api->topic:orders": ("publish", N),
        "topic:orders->service:billing": ("consume", N),
        "service:billing->external:postgresql": ("call", N),
    }, "topic:orders->service:billing")
    assert _systems(a) == {"topic:orders": "kafka"}
    assert a.edge("topic:orders->service:billing")["queue_p50_ms"] == 6.0
    (flow,) = a.flows
    assert (flow["count"], flow["traces_per_flow"]) == (N, 1.0)
    assert flow["e2e_p50_ms"] == 21.1  # up to the end of the handler's work
    hops = {(h["hop"], h["kind"]): h["p50_ms"] for h in flow["critical_path"]}
    assert {k: v for k, v in hops.items() if k[0].startswith("service:api")} == \
        pytest.approx({("service:api", "processing"): 2.0,
                       ("service:api->topic:orders", "call"): 4.0})
    assert hops[("topic:orders->service:billing", "queue")] == pytest.approx(6.0)
    assert {k: v for k, v in hops.items() if "billing" in k[0] and k[1] != "queue"} == \
        pytest.approx({("service:billing", "processing"): 4.03,  # receive + handler
                       ("service:billing->external:postgresql", "call"): 5.0})
    one = flow_for_trace(st, roots[0].trace_id)
    assert {g["hop"] for g in one["critical_path_segments"]} >= {
        "service:api->topic:orders", "topic:orders->service:billing"}


def test_quarkus_processor_publish_is_a_child_of_its_receive():
    """An @Incoming("orders-in") @Outgoing("enriched-out") method returning a payload: its
    outgoing message keeps the incoming one's TracingMetadata, so "orders-enriched publish"
    is a child of the (instant) "orders receive" span, beside the method's own spans, and
    billing receives it in the same trace. Read in quarkusio/quarkus integration-tests/
    opentelemetry-reactive-messaging (TracedKafkaProcessor, testProcessorTracing: the
    PRODUCER's parent is the CONSUMER) and ReactiveMessagingTracingOutgoingDecorator. One
    trace, one flow through three services."""
    b = SpanSet()
    for i in range(N):
        t = i * 100
        root = b.span("api", "POST /orders", kind="SERVER", start_ms=t, dur_ms=8, attrs=_HTTP)
        pub = _smallrye_publish(b, "api", root, "orders", t + 2, 4, offset=i)
        rec = _smallrye_receive(b, "enricher", pub, "orders", "orders-in", t + 10, offset=i)
        b.span("enricher", "CustomerLookup.enrich", parent=rec, start_ms=t + 10.1, dur_ms=3,
               attrs={"code.namespace": "org.acme.CustomerLookup", "code.function": "enrich"})
        out = _smallrye_publish(b, "enricher", rec, "orders-enriched", t + 13.5, 3, offset=i)
        _smallrye_receive(b, "billing", out, "orders-enriched", "enriched-in", t + 20,
                          offset=i)
    a = _analysed_each(b.store(), {
        "service:api->topic:orders": ("publish", N),
        "topic:orders->service:enricher": ("consume", N),
        "service:enricher->topic:orders-enriched": ("publish", N),
        "topic:orders-enriched->service:billing": ("consume", N),
    }, ["topic:orders->service:enricher", "topic:orders-enriched->service:billing"])
    assert _flows(a) == [("api", N, 1.0)]
    assert a.edge("topic:orders-enriched->service:billing")["queue_p50_ms"] == 3.5


def test_quarkus_kafka_batch_incoming_gets_a_receive_span_per_record():
    """A batch channel (mp.messaging.incoming.<channel>.batch=true): KafkaSource.incomingTrace
    of the batch gives every record of a poll its own instant "<topic> receive" span (not
    made current), all at the same moment, each a child of its own record's publish. Six
    orders from six requests, consumed in two polls of three: six deliveries, each joined to
    its producer, six one-trace flows."""
    b = SpanSet()
    pubs = []
    for i in range(6):
        t = i * 10
        root = b.span("api", "POST /orders", kind="SERVER", start_ms=t, dur_ms=8, attrs=_HTTP)
        pubs.append(_smallrye_publish(b, "api", root, "orders", t + 2, 4, offset=i))
    for k in range(2):
        for j, pub in enumerate(pubs[k * 3:(k + 1) * 3]):
            _smallrye_receive(b, "analytics", pub, "orders", "orders-batch", 100 + k * 50,
                              offset=k * 3 + j)
    a = _analysed(b.store(), {
        "service:api->topic:orders": ("publish", 6),
        "topic:orders->service:analytics": ("consume", 6),
    }, "topic:orders->service:analytics")
    assert a.edge("topic:orders->service:analytics")["message_count"] == 6
    assert _flows(a) == [("api", 6, 1.0)]


def test_smallrye_kafka_before_semconv_1_20_send_and_receive():
    """SmallRye Reactive Messaging 3.x/4.0 (javax, Quarkus 2): KafkaSink built its producer
    instrumenter with the instrumentation API 1.x's MessageOperation.SEND, so the publish is
    "<topic> send" with no messaging.operation (those conventions forbade it on sends), and
    every span names the topic as messaging.destination with messaging.destination_kind;
    KafkaAttributesExtractor used the pre-1.20 names messaging.kafka.partition,
    messaging.kafka.consumer_group, messaging.kafka.client_id, messaging.consumer_id. Both
    spans instant (TracingUtils.traceOutgoing ends the publish right after starting it), the
    receive a child of the send. Read in impl/KafkaSink and impl/KafkaSource (javax
    versions) and the first tracing/KafkaAttributesExtractor."""
    b = SpanSet()
    legacy = {"messaging.system": "kafka", "messaging.destination": "orders",
              "messaging.destination_kind": "topic"}
    for i in range(N):
        t = i * 100
        root = b.span("api", "POST /orders", kind="SERVER", start_ms=t, dur_ms=8,
                      attrs={"http.method": "POST", "http.route": "/orders",
                             "http.status_code": 200})
        send = b.span("api", "orders send", kind="PRODUCER", parent=root, start_ms=t + 2,
                      dur_ms=0.05, attrs=legacy)
        rec = b.span("billing", "orders receive", kind="CONSUMER", parent=send,
                     start_ms=t + 9, dur_ms=0.03,
                     attrs={**legacy, "messaging.operation": "receive",
                            "messaging.kafka.partition": 0,
                            "messaging.kafka.consumer_group": "billing",
                            "messaging.kafka.client_id": "kafka-consumer-orders-in",
                            "messaging.consumer_id": "billing - kafka-consumer-orders-in"})
        b.span("billing", "INSERT billing.invoices", kind="CLIENT", parent=rec,
               start_ms=t + 10, dur_ms=4, attrs=_PG)
    a = _analysed(b.store(), {
        "service:api->topic:orders": ("publish", N),
        "topic:orders->service:billing": ("consume", N),
        "service:billing->external:postgresql": ("call", N),
    }, "topic:orders->service:billing")
    assert _systems(a) == {"topic:orders": "kafka"}
    assert _flows(a) == [("api", N, 1.0)]


# --------------------------------------------------------------- SmallRye RabbitMQ and AMQP
def test_quarkus_rabbitmq_publishes_to_the_exchange_and_receives_from_the_queue():
    """smallrye-reactive-messaging-rabbitmq: the sender traces RabbitMQTrace.traceExchange
    (exchange, routing key), so the publish is "<exchange> publish" naming the exchange;
    IncomingRabbitMQChannel traces RabbitMQTrace.traceQueue(queue, the envelope's routing key),
    so the receive is "<queue> receive" naming the queue. RabbitMQTraceAttributesExtractor
    adds the routing key (semantic conventions' MESSAGING_RABBITMQ_ROUTING_KEY,
    messaging.rabbitmq.routing_key). Both spans instant (TracingUtils.traceOutgoing /
    traceIncoming); the receive is a child of the publish and, in Quarkus, the @Incoming
    method's spans are children of the receive. Read in rabbitmq/tracing/
    RabbitMQOpenTelemetryInstrumenter, RabbitMQTrace, RabbitMQTraceAttributesExtractor and
    TracingTest."""
    b = SpanSet()
    for i in range(N):
        t = i * 100
        root = b.span("api", "POST /orders", kind="SERVER", start_ms=t, dur_ms=6, attrs=_HTTP)
        pub = b.span("api", "orders publish", kind="PRODUCER", parent=root, start_ms=t + 2,
                     dur_ms=0.05,
                     attrs={"messaging.system": "rabbitmq",
                            "messaging.destination.name": "orders",
                            "messaging.operation": "publish",
                            "messaging.rabbitmq.routing_key": "order.created"})
        rec = b.span("billing", "billing-orders receive", kind="CONSUMER", parent=pub,
                     start_ms=t + 9, dur_ms=0.03,
                     attrs={"messaging.system": "rabbitmq",
                            "messaging.destination.name": "billing-orders",
                            "messaging.operation": "receive",
                            "messaging.rabbitmq.routing_key": "order.created"})
        b.span("billing", "INSERT billing.invoices", kind="CLIENT", parent=rec,
               start_ms=t + 9.5, dur_ms=4, attrs=_PG)
    a = _analysed(b.store(), {
        "service:api->topic:orders": ("publish", N),
        "topic:orders->topic:billing-orders": ("route", N),
        "topic:billing-orders->service:billing": ("consume", N),
        "service:billing->external:postgresql": ("call", N),
    }, "topic:billing-orders->service:billing")
    assert _systems(a) == {"topic:orders": "rabbitmq", "topic:billing-orders": "rabbitmq"}
    assert _flows(a) == [("api", N, 1.0)]


def test_quarkus_amqp_1_0_connector_names_its_system_amqp_1_0():
    """smallrye-reactive-messaging-amqp: AmqpAttributesExtractor names the system
    "AMQP 1.0" (with a space) and the message's address as destination, and adds the AMQP
    message id and, when it is a string, the correlation id as conversation id. "<address>
    publish" PRODUCER and "<address> receive" CONSUMER (child of it), both instant. Read in
    amqp/tracing/AmqpOpenTelemetryInstrumenter and AmqpAttributesExtractor."""
    b = SpanSet()
    for i in range(N):
        t = i * 100
        amqp = {"messaging.system": "AMQP 1.0", "messaging.destination.name": "prices",
                "messaging.message.id": f"ID:price-{i}",
                "messaging.message.conversation_id": f"quote-{i}"}
        root = b.span("quotes", "POST /quotes", kind="SERVER", start_ms=t, dur_ms=6,
                      attrs=_HTTP)
        pub = b.span("quotes", "prices publish", kind="PRODUCER", parent=root, start_ms=t + 2,
                     dur_ms=0.05, attrs={**amqp, "messaging.operation": "publish"})
        b.span("pricing", "prices receive", kind="CONSUMER", parent=pub, start_ms=t + 7,
               dur_ms=0.03, attrs={**amqp, "messaging.operation": "receive"})
    a = _analysed(b.store(), {
        "service:quotes->topic:prices": ("publish", N),
        "topic:prices->service:pricing": ("consume", N),
    }, "topic:prices->service:pricing")
    assert (_systems(a)["topic:prices"] or "").lower() == "amqp 1.0"
    assert _flows(a) == [("quotes", N, 1.0)]


# ------------------------------------------------------------------------- Micronaut Kafka
def _micronaut_publish(b: SpanSet, service: str, parent: SpanRef | None, topic: str,
                       t: float, client: str) -> SpanRef:
    """KafkaTelemetry.buildAndInjectSpan (wrapped Producer.send): "<topic> publish" started
    with the current context as parent, injected, and ended right away, before the send (the
    ProducerCallback's end comes after the span has ended and changes nothing)."""
    return b.span(service, f"{topic} publish", kind="PRODUCER", parent=parent, start_ms=t,
                  dur_ms=0.1,
                  attrs={"messaging.system": "kafka", "messaging.destination.name": topic,
                         "messaging.operation": "publish", "messaging.client_id": client,
                         "messaging.kafka.message.key": "k-1"})


def _micronaut_process(b: SpanSet, service: str, parent: SpanRef, topic: str, t: float,
                       offset: int) -> SpanRef:
    """KafkaTelemetry.processConsumerRecord, per record when poll returns: "<topic> process"
    started and ended at once; the OpenTelemetry KafkaInstrumenterFactory's process
    instrumenter (receive telemetry off by default) takes the record's headers as parent."""
    return b.span(service, f"{topic} process", kind="CONSUMER", parent=parent, start_ms=t,
                  dur_ms=0.02,
                  attrs={"messaging.system": "kafka", "messaging.destination.name": topic,
                         "messaging.operation": "process",
                         "messaging.client_id": f"{service}-consumer",
                         "messaging.kafka.consumer.group": service,
                         "messaging.destination.partition.id": "0",
                         "messaging.kafka.message.offset": offset,
                         "messaging.kafka.message.key": "k-1",
                         "messaging.message.body.size": 120})


def test_micronaut_kafka_listener_runs_outside_its_process_span():
    """micronaut-tracing 5.x: a @KafkaClient called from a controller publishes "orders
    publish" under the SERVER span; the consumer's "orders process" is a child of it,
    created when poll returns (MicronautOtelKafkaConsumer.poll -> buildAndFinishSpan) and
    never made current. The @KafkaListener method runs after that with no current context:
    its database insert and its own @KafkaClient publish to "invoices" are roots of new
    traces, and mailer's process of the invoice is a child of that root publish. Read in
    tracing-opentelemetry-kafka instrument/kafka/KafkaTelemetry, KafkaTelemetryBuilder,
    MicronautOtelKafkaConsumer and KafkaTelemetryIntegrationSpec (one "publish" and one
    "process" span per message). The lost context splits each business transaction into
    traces nothing joins: the map is still whole, each piece its own flow."""
    b = SpanSet()
    for i in range(N):
        t = i * 100
        root = b.span("api", "POST /orders", kind="SERVER", start_ms=t, dur_ms=10,
                      attrs=_HTTP)
        pub = _micronaut_publish(b, "api", root, "orders", t + 2, "producer-1")
        _micronaut_process(b, "billing", pub, "orders", t + 15, offset=i)
        b.span("billing", "INSERT billing.invoices", kind="CLIENT", start_ms=t + 15.5,
               dur_ms=4, attrs=_PG)
        inv = _micronaut_publish(b, "billing", None, "invoices", t + 20, "producer-2")
        _micronaut_process(b, "mailer", inv, "invoices", t + 30, offset=i)
    a = _analysed_each(b.store(), {
        "service:api->topic:orders": ("publish", N),
        "topic:orders->service:billing": ("consume", N),
        "service:billing->external:postgresql": ("call", N),
        "service:billing->topic:invoices": ("publish", N),
        "topic:invoices->service:mailer": ("consume", N),
    }, ["topic:orders->service:billing", "topic:invoices->service:mailer"],
        [("publish_without_context", "service:billing->topic:invoices", N)])
    assert _systems(a) == {"topic:orders": "kafka", "topic:invoices": "kafka"}
    assert _flows(a) == [("api", N, 1.0), ("billing", N, 1.0), ("billing", N, 1.0)]


def test_micronaut_tracing_4_kafka_receive_is_a_new_trace_linked_to_the_send():
    """micronaut-tracing 4.6-4.x (instrumentation "io.opentelemetry.kafka-micronaut"): its own
    copy of KafkaInstrumenterFactory (instrument/internal) defaults
    messagingReceiveInstrumentationEnabled to true, so KafkaTelemetryBuilder's consumer
    instrumenter (createConsumerOperationInstrumenter(MessageOperation.RECEIVE)) adds a span
    link to the record's context instead of taking it as parent: the poll's "<topic>
    receive" CONSUMER starts a new trace. The producer instrumenter uses
    MessageOperation.SEND ("<topic> send"); the getters are of the instrumentation API 1.x
    (messaging.destination, messaging.destination_kind, no operation on the send,
    messaging.kafka.partition, messaging.message_payload_size_bytes). Joined by the link:
    one flow of two traces."""
    b = SpanSet()
    legacy = {"messaging.system": "kafka", "messaging.destination": "orders",
              "messaging.destination_kind": "topic"}
    for i in range(N):
        t = i * 100
        root = b.span("api", "POST /orders", kind="SERVER", start_ms=t, dur_ms=10,
                      attrs={"http.method": "POST", "http.route": "/orders",
                             "http.status_code": 200})
        send = b.span("api", "orders send", kind="PRODUCER", parent=root, start_ms=t + 2,
                      dur_ms=0.1, attrs=legacy)
        b.span("billing", "orders receive", kind="CONSUMER", links=[send], start_ms=t + 15,
               dur_ms=0.02,
               attrs={**legacy, "messaging.operation": "receive",
                      "messaging.kafka.partition": 0, "messaging.kafka.message.offset": i,
                      "messaging.message_payload_size_bytes": 120})
    a = _analysed(b.store(), {
        "service:api->topic:orders": ("publish", N),
        "topic:orders->service:billing": ("consume", N),
    }, "topic:orders->service:billing")
    assert a.edge("topic:orders->service:billing")["queue_p50_ms"] == 12.9
    assert _flows(a) == [("api", N, 2.0)]
