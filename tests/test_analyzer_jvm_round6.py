"""Span shapes of JVM messaging frameworks read from their own source: Micronaut Kafka with
micronaut-tracing-opentelemetry-kafka (the release line whose consumer spans are "receive"
children of the publish, batch listeners, the listener's retry error strategy), and the
Vert.x Kafka client traced by Vert.x's own tracer SPI with vertx-opentelemetry (not the
OpenTelemetry Java agent, whose Vert.x Kafka shapes are in test_analyzer_jvm_reactive.py and
test_analyzer_java_more.py). Each test builds exactly the spans the library exports for a
small scenario, three times, and checks what the analyzer makes of them.

Looked at and not encoded:
* Micronaut RabbitMQ: micronaut-tracing has no RabbitMQ module (settings.gradle: annotation,
  core, http, grpc, jdbc, kafka, r2dbc, ucp, zipkin exporter) and micronaut-rabbitmq opens
  no span of its own; under the Java agent its listeners are the agent's RabbitMQ shapes.
* Helidon MP/SE messaging: the Kafka, JMS and AQ connectors neither open spans nor carry
  context (helidon-io/helidon messaging/connectors/kafka module-info.java requires no
  tracing module, and none of the connectors' classes traces; KafkaPublisher polls on its
  scheduler into a buffer and emits later in a new Helidon context). Under the Java agent that is the agent's Kafka / JMS poll shapes, encoded
  elsewhere (test_analyzer_jvm_round4.py's Quartz JMS poll, the Micronaut 5 shape).
* Spring Cloud Stream with reactive functions: spring-cloud-function's
  FunctionAroundWrapper skips a Publisher input (no "<definition> process" span); the
  reactive Kafka binder's observations are reactor-kafka's KafkaReceiverObservation and
  KafkaSenderObservation ("<topic> receive" / "<topic> send", only reactor.kafka.* tags and
  the remote service "Apache Kafka: <servers>", no messaging.* attribute): the topic is in
  the span name only, like Spring for Apache Pulsar's observations, which
  test_analyzer_jvm_reactive.py leaves alone for that reason.
* Pulsar's built-in tracing (PIP-446) is in test_analyzer_jvm_round4.py; its batch receive
  and ack timeout (OpenTelemetryConsumerInterceptor: a span per message in beforeConsume,
  ended by each acknowledgement, "ack_timeout" ending it with status OK before a
  redelivery) add nothing those tests do not check.
* Knative's Kafka broker (knative-extensions/eventing-kafka-broker data-plane/core
  tracing/kafka) copies the Vert.x Kafka ConsumerTracer with policy ALWAYS and OpenTracing
  tags: two triggers of one broker are two consumer groups of one dispatcher service whose
  "kafka_receive" spans name no group, indistinguishable from a redelivery.
"""

from __future__ import annotations

from typing import Any

from analyzer import analyze, edge_detail
from tests.analysis_checks import analysed_each as _analysed_each
from tests.analysis_checks import edges_of as _edges
from tests.analysis_checks import flows_of as _flows
from tests.analysis_checks import systems_of as _systems
from tests.builders import SpanRef, SpanSet

N = 3

_HTTP = {"http.request.method": "POST", "http.route": "/orders", "url.scheme": "http",
         "url.path": "/orders", "http.response.status_code": 202,
         "server.address": "localhost", "server.port": 8080}
_PG = {"db.system": "postgresql", "db.name": "billing", "db.operation": "INSERT",
       "server.address": "billing-db", "server.port": 5432}


# =============================================================== Micronaut Kafka (tracing)
# micronaut-projects/micronaut-tracing, tracing-opentelemetry-kafka, at 08df802 (the line
# between the 4.6 copy of the instrumentation and the later "process" spans that
# test_analyzer_jvm_frameworks.py encodes): KafkaTelemetryBuilder.build() uses the
# OpenTelemetry kafka-clients library's KafkaInstrumenterFactory and passes
# createConsumerOperationInstrumenter(MessageOperation.RECEIVE, ...) as the consumer
# instrumenter; receive telemetry is off by default there, so the instrumenter takes the
# record's headers as the parent (buildConsumerInstrumenter) and names the span "<topic>
# receive" with messaging.operation receive. KafkaTelemetry.wrap(Consumer) / the
# MicronautOtelKafkaConsumer call buildAndFinishSpan on every poll: one span per record,
# started and ended at once, never made current, whatever the listener (a batch
# @KafkaListener gets the same per-record spans: the batch process instrumenter of the
# internal package is never used). The producer side (wrap(Producer) ->
# buildAndInjectSpan) starts "<topic> publish" under the current context, injects it and
# ends it before the record is handed to the client: no partition or offset on it.
# Instrumentation name io.opentelemetry.micronaut-kafka-2.6.

def _mn_publish(b: SpanSet, service: str, parent: SpanRef | None, topic: str, t: float,
                client: str, key: str) -> SpanRef:
    return b.span(service, f"{topic} publish", kind="PRODUCER", parent=parent, start_ms=t,
                  dur_ms=0.1,
                  attrs={"messaging.system": "kafka", "messaging.destination.name": topic,
                         "messaging.operation": "publish", "messaging.client_id": client,
                         "messaging.kafka.message.key": key})


def _mn_receive(b: SpanSet, service: str, parent: SpanRef, topic: str, t: float,
                offset: int, key: str, name_op: str = "receive") -> SpanRef:
    """One record's consumer span, started and ended when the poll returned. "receive"
    (08df802, the library of conventions 1.21: messaging.kafka.destination.partition) or
    "process" (5.x, a later library: messaging.destination.partition.id)."""
    partition = {"messaging.kafka.destination.partition": 0} if name_op == "receive" \
        else {"messaging.destination.partition.id": "0"}
    return b.span(service, f"{topic} {name_op}", kind="CONSUMER", parent=parent, start_ms=t,
                  dur_ms=0.02,
                  attrs={"messaging.system": "kafka", "messaging.destination.name": topic,
                         "messaging.operation": name_op,
                         "messaging.client_id": f"{service}-consumer-1",
                         "messaging.kafka.consumer.group": service, **partition,
                         "messaging.kafka.message.offset": offset,
                         "messaging.kafka.message.key": key,
                         "messaging.message.body.size": 118})


def test_micronaut_batch_listener_receive_spans_are_children_of_each_publish():
    """Three requests each publish an order ("orders publish", ended at once); billing's
    @KafkaListener(batch = true) gets them in one poll: three zero-length "orders receive"
    CONSUMER spans, each the child of its own publish, created together when the poll
    returned. The batch method then runs with no current context: its batch INSERT is the
    root of a trace, and each invoice it sends through a @KafkaClient is a root "invoices
    publish", whose single-record delivery to mailer is again a "receive" child. Each
    record is one delivery joined by its parent, though the span says receive and not
    process; the order and its invoice are different flows (nothing joins them)."""
    b = SpanSet()
    for k in range(N):
        t = k * 1000
        pubs = []
        for j in range(3):
            i = 3 * k + j
            root = b.span("api", "POST /orders", kind="SERVER", start_ms=t + 25 * j,
                          dur_ms=11, attrs=_HTTP)
            pubs.append(_mn_publish(b, "api", root, "orders", t + 25 * j + 3, "producer-1",
                                    f"order-{i}"))
        poll = t + 80
        for j, pub in enumerate(pubs):
            i = 3 * k + j
            _mn_receive(b, "billing", pub, "orders", poll + 0.01 * j, 300 + i, f"order-{i}")
        b.span("billing", "INSERT billing.invoices", kind="CLIENT", start_ms=poll + 1,
               dur_ms=7, attrs=_PG)
        for j in range(3):
            i = 3 * k + j
            inv = _mn_publish(b, "billing", None, "invoices", poll + 9 + j, "producer-2",
                              f"invoice-{i}")
            _mn_receive(b, "mailer", inv, "invoices", poll + 30 + j, 50 + i, f"invoice-{i}")
    st = b.store()
    a = _analysed_each(st, {
        "service:api->topic:orders": ("publish", 3 * N),
        "topic:orders->service:billing": ("consume", 3 * N),
        "service:billing->external:postgresql": ("call", N),
        "service:billing->topic:invoices": ("publish", 3 * N),
        "topic:invoices->service:mailer": ("consume", 3 * N),
    }, ["topic:orders->service:billing", "topic:invoices->service:mailer"],
        [("publish_without_context", "service:billing->topic:invoices", 3 * N)])
    assert _systems(a) == {"topic:orders": "kafka", "topic:invoices": "kafka"}
    orders = a.edge("topic:orders->service:billing")
    assert orders["message_count"] == 3 * N and orders["error_count"] == 0
    # (the receive spans start when the poll returned, at 80 ms: 76.9, 51.91 and 26.92 ms
    # after the sends ended)
    assert orders["queue_p50_ms"] == 51.91
    assert a.edge("topic:invoices->service:mailer")["queue_p50_ms"] == 20.9
    assert _flows(a) == [("api", 3 * N, 1.0), ("billing", N, 1.0), ("billing", 3 * N, 1.0)]


# micronaut-projects/micronaut-kafka, kafka/.../processor/ConsumerStateSingle.java
# (processRecords / resolveWithErrorStrategy): with errorStrategy RETRY_ON_ERROR a failed
# record is retried by seeking its partition back to the record's offset
# (kafkaConsumer.seek(topicPartition, consumerRecord.offset()), delayRetry) and
# resetTheFollowingPartitions skips the rest of the poll for that partition: the next poll
# returns the failed record and the ones after it again. The tracing wrapper traces every
# poll (MicronautOtelKafkaConsumer.poll -> KafkaTelemetry.buildAndFinishSpan), so each
# re-fetched record gets a second span. micronaut-tracing 5.x names them "<topic> process"
# (KafkaTelemetryBuilder: createConsumerProcessInstrumenter), as
# test_analyzer_jvm_frameworks.py encodes for single deliveries.

def test_micronaut_retry_on_error_seek_back_redelivers_the_rest_of_the_poll():
    """billing's @KafkaListener(errorStrategy = @ErrorStrategy(value = RETRY_ON_ERROR,
    retryDelay = "1s")) polls two orders of one partition at once; the first one's INSERT
    fails (a root trace: the listener runs outside the zero-length "orders process" spans),
    so Micronaut seeks back to its offset and, a second later, polls both again: each gets
    a second "orders process" span, a child of the same publish, with the same partition
    and offset. The second order was never handled the first time, but its spans cannot
    say so: 2N messages, 4N deliveries all joined by context, none failed (the spans end
    OK when the poll returns), and every message of the edge is a redelivery."""
    b = SpanSet()
    for k in range(N):
        t = k * 5000
        pubs = []
        for j in range(2):
            i = 2 * k + j
            root = b.span("api", "POST /orders", kind="SERVER", start_ms=t + 20 * j,
                          dur_ms=10, attrs=_HTTP)
            pubs.append((_mn_publish(b, "api", root, "orders", t + 20 * j + 2, "producer-1",
                                     f"order-{i}"), i))
        for poll in (t + 45, t + 1050):
            for j, (pub, i) in enumerate(pubs):
                _mn_receive(b, "billing", pub, "orders", poll + 0.01 * j, 700 + i,
                            f"order-{i}", name_op="process")
        b.span("billing", "INSERT billing.invoices", kind="CLIENT", start_ms=t + 46,
               dur_ms=30, status="ERROR", attrs=_PG)
        for j in range(2):
            b.span("billing", "INSERT billing.invoices", kind="CLIENT",
                   start_ms=t + 1051 + 6 * j, dur_ms=5, attrs=_PG)
    st = b.store()
    a = analyze(st)
    consume_id = "topic:orders->service:billing"
    assert _edges(a) == {
        "service:api->topic:orders": ("publish", 2 * N),
        consume_id: ("consume", 4 * N),
        "service:billing->external:postgresql": ("call", 3 * N),
    }
    consume = a.edge(consume_id)
    assert consume["joined_by"] == {"context": 4 * N, "message_id": 0, "none": 0, "outside": 0}
    # (a message delivered twice counts twice: edge_detail's message_count)
    assert (consume["message_count"], consume["error_count"]) == (4 * N, 0)
    assert a.edge("service:billing->external:postgresql")["error_count"] == N
    (red,) = a.anomalies
    assert (red["type"], red["where"], red["messages"], red["count"]) == \
        ("redelivery", consume_id, 2 * N, 2 * N)
    assert edge_detail(st, consume_id)["count"] == 4 * N


# ========================================================= Vert.x Kafka client, own tracing
# vert-x3/vertx-kafka-client, src/main/java/io/vertx/kafka/client/common/tracing:
# ProducerTracer.prepareSendMessage -> VertxTracer.sendRequest(ctx, SpanKind.MESSAGING,
# policy (default PROPAGATE), TraceContext, "kafka_send", record headers, TAG_EXTRACTOR);
# ConsumerTracer.prepareMessageReceived -> receiveRequest(ctx, MESSAGING, policy (default
# ALWAYS), ..., "kafka_receive", the record's headers, TAG_EXTRACTOR). TraceTags at 08460b4
# (current): server.address, server.port, peer.service = "kafka" (a constant),
# messaging.destination.name; at 19ca6dc (the OpenTracing tags): peer.address,
# peer.hostname, peer.port, peer.service = "kafka", message_bus.destination. No
# messaging.system, no operation. KafkaWriteStreamImpl.send starts the span on the caller's
# context and finishes it in the producer callback (the broker's ack);
# KafkaReadStreamImpl / AbstractKafkaReadStreamImpl.tracedHandler runs each record's
# handler on a duplicated context between prepareMessageReceived and finish: the span
# covers the synchronous handler only. eclipse-vertx/vertx-tracing vertx-opentelemetry
# OpenTelemetryTracer: the span is named by the operation; MESSAGING -> PRODUCER when
# sending, CONSUMER when receiving; the receive's parent is the context extracted from the
# headers (a root when there is none and the policy is ALWAYS) and it is attached to the
# duplicated context (VertxContextStorageProvider: a context local, still there when a
# callback of that handler runs later); a send with no active context and policy PROPAGATE
# makes no span and injects nothing. The later 4.x tracer (processTags) also writes
# message_bus.destination as messaging.destination.name, peer.address / peer.port as
# network.peer.*, http.method / http.status_code as their current names.

def _vx(topic: str) -> dict[str, Any]:
    """Current TraceTags."""
    return {"server.address": "kafka-0.kafka:9092,kafka-1.kafka:9092", "server.port": "9092",
            "peer.service": "kafka", "messaging.destination.name": topic}


def _vx_opentracing(topic: str, translated: bool) -> dict[str, Any]:
    """The OpenTracing TraceTags, as the 4.x tracer wrote them (``translated``: the later
    one's processTags)."""
    a: dict[str, Any] = {"peer.address": "kafka-0.kafka:9092", "peer.hostname": "kafka-0.kafka",
                         "peer.port": "9092", "peer.service": "kafka",
                         "message_bus.destination": topic}
    if translated:
        a.update({"network.peer.address": "kafka-0.kafka:9092", "network.peer.port": "9092",
                  "messaging.destination.name": topic})
    return a


def test_vertx_kafka_own_tracer_relays_orders_to_invoices_after_the_handler_returned():
    """Vert.x 5 with vertx-opentelemetry. The orders verticle's HTTP handler sends each
    order ("kafka_send" PRODUCER under the SERVER span "POST", ended by the broker's ack).
    billing's record handler ("kafka_receive" CONSUMER, the send's child) checks the order
    asynchronously and returns; the check's callback, on the same duplicated context, sends
    the invoice: its "kafka_send" is a child of the receive span that ended before it
    started. mailer's handler receives it. Neither span names an operation or a messaging
    system (only peer.service "kafka", which the client hard-codes): their kinds say
    publish and delivery, and the topics are Kafka's. One trace, one flow per order."""
    b = SpanSet()
    for i in range(N):
        t = i * 200
        root = b.span("orders", "POST", kind="SERVER", start_ms=t, dur_ms=9,
                      attrs={"http.request.method": "POST", "url.path": "/orders",
                             "url.scheme": "http", "http.response.status_code": 202})
        send = b.span("orders", "kafka_send", kind="PRODUCER", parent=root, start_ms=t + 2,
                      dur_ms=5, attrs=_vx("orders"))
        recv = b.span("billing", "kafka_receive", kind="CONSUMER", parent=send,
                      start_ms=t + 15, dur_ms=1.5, attrs=_vx("orders"))
        inv = b.span("billing", "kafka_send", kind="PRODUCER", parent=recv, start_ms=t + 24,
                     dur_ms=6, attrs=_vx("invoices"))
        b.span("mailer", "kafka_receive", kind="CONSUMER", parent=inv, start_ms=t + 41,
               dur_ms=2, attrs=_vx("invoices"))
    st = b.store()
    a = _analysed_each(st, {
        "service:orders->topic:orders": ("publish", N),
        "topic:orders->service:billing": ("consume", N),
        "service:billing->topic:invoices": ("publish", N),
        "topic:invoices->service:mailer": ("consume", N),
    }, ["topic:orders->service:billing", "topic:invoices->service:mailer"])
    assert a.edge("topic:orders->service:billing")["queue_p50_ms"] == 8.0
    assert a.edge("topic:invoices->service:mailer")["queue_p50_ms"] == 11.0
    assert _flows(a) == [("orders", N, 1.0)]
    assert _systems(a) == {"topic:orders": "kafka", "topic:invoices": "kafka"}


def test_vertx4_kafka_opentracing_tags_and_an_untraced_timer_producer():
    """A Vert.x 4 fleet: orders (the 4.x tracer that copies tags as they are) sends orders
    named only by message_bus.destination; billing (the later 4.x tracer, which also writes
    messaging.destination.name) receives them as the send's child: one topic 'orders' for
    both spellings. A pricing verticle sends a price tick from a periodic timer, where no
    trace is active: the producer policy PROPAGATE makes no span and injects nothing, and
    catalog's consumer (policy ALWAYS) starts each "kafka_receive" as a root. Those
    deliveries are joined to nothing, and the only anomaly is that no producer of 'prices'
    was seen (none was traced)."""
    b = SpanSet()
    for i in range(N):
        t = i * 200
        root = b.span("orders", "POST", kind="SERVER", start_ms=t, dur_ms=9,
                      attrs={"http.method": "POST", "http.url": "/orders",
                             "http.status_code": "202"})
        send = b.span("orders", "kafka_send", kind="PRODUCER", parent=root, start_ms=t + 2,
                      dur_ms=4, attrs=_vx_opentracing("orders", False))
        b.span("billing", "kafka_receive", kind="CONSUMER", parent=send, start_ms=t + 14,
               dur_ms=3, attrs=_vx_opentracing("orders", True))
        b.span("catalog", "kafka_receive", kind="CONSUMER", start_ms=t + 120, dur_ms=1.2,
               attrs=_vx_opentracing("prices", True))
    st = b.store()
    a = _analysed_each(st, {
        "service:orders->topic:orders": ("publish", N),
        "topic:orders->service:billing": ("consume", N),
        "topic:prices->service:catalog": ("consume", N),
    }, ["topic:orders->service:billing"],
        anomalies=[("consumer_without_producer", "topic:prices->service:catalog", N)])
    prices = a.edge("topic:prices->service:catalog")
    assert prices["joined_by"] == {"context": 0, "message_id": 0, "none": N, "outside": 0}
    assert a.edge("topic:orders->service:billing")["queue_p50_ms"] == 8.0
    assert _flows(a) == [("catalog", N, 1.0), ("orders", N, 1.0)]


def test_vertx_kafka_producer_with_policy_always_starts_a_trace_per_tick():
    """The pricing verticle's KafkaProducer is created with
    KafkaClientOptions.setTracingPolicy(ALWAYS): a tick of its periodic timer, where no
    trace is active, still gets a "kafka_send" -- a root PRODUCER span (sendRequest starts it
    from the root context and injects it) -- and catalog's "kafka_receive" is its child.
    Every delivery is joined by context, no anomaly; each tick is one trace, one flow
    entered by pricing's publish."""
    b = SpanSet()
    for i in range(N):
        t = i * 1000
        send = b.span("pricing", "kafka_send", kind="PRODUCER", start_ms=t, dur_ms=4,
                      attrs=_vx("prices"))
        b.span("catalog", "kafka_receive", kind="CONSUMER", parent=send, start_ms=t + 11,
               dur_ms=1.5, attrs=_vx("prices"))
    st = b.store()
    a = _analysed_each(st, {
        "service:pricing->topic:prices": ("publish", N),
        "topic:prices->service:catalog": ("consume", N),
    }, ["topic:prices->service:catalog"])
    assert a.edge("topic:prices->service:catalog")["queue_p50_ms"] == 7.0
    assert _flows(a) == [("pricing", N, 1.0)]


# eclipse-vertx/vert.x vertx-core .../eventbus/impl/OutboundDeliveryContext (the event bus
# traces a send or publish through the same tracer SPI: a CLIENT span "publish", SpanKind.RPC,
# ended once written; each consumer's SERVER span "publish", the sender's child) and
# MessageTagExtractor (Vert.x 5: messaging.destination.name, messaging.system
# vertx-eventbus, messaging.operation.name), as test_analyzer_java_round5.py encodes.

def _eventbus(address: str, op: str) -> dict[str, Any]:
    return {"messaging.destination.name": address, "messaging.system": "vertx-eventbus",
            "messaging.operation.name": op}


def test_vertx_kafka_handler_publishes_on_the_clustered_event_bus():
    """Vert.x 5: billing's Kafka record handler ("kafka_receive", the child of the orders
    service's "kafka_send") publishes each order to the clustered event bus address
    'invoice.requested' inside the handler: a CLIENT "publish" span, the receive span's
    child, naming another messaging system. invoicing and audit each get a SERVER "publish"
    span, children of it. Two hops of two systems in one trace: a Kafka delivery, then an
    event-bus publish delivered to each consumer once; one flow per order."""
    b = SpanSet()
    for i in range(N):
        t = i * 200
        root = b.span("orders", "POST", kind="SERVER", start_ms=t, dur_ms=9,
                      attrs={"http.request.method": "POST", "url.path": "/orders",
                             "url.scheme": "http", "http.response.status_code": 202})
        send = b.span("orders", "kafka_send", kind="PRODUCER", parent=root, start_ms=t + 2,
                      dur_ms=5, attrs=_vx("orders"))
        recv = b.span("billing", "kafka_receive", kind="CONSUMER", parent=send,
                      start_ms=t + 15, dur_ms=2, attrs=_vx("orders"))
        pub = b.span("billing", "publish", kind="CLIENT", parent=recv, start_ms=t + 15.5,
                     dur_ms=0.3, attrs=_eventbus("invoice.requested", "publish"))
        for k, svc in enumerate(("invoicing", "audit")):
            b.span(svc, "publish", kind="SERVER", parent=pub, start_ms=t + 17 + k,
                   dur_ms=6 - 2 * k, attrs=_eventbus("invoice.requested", "publish"))
    st = b.store()
    a = _analysed_each(st, {
        "service:orders->topic:orders": ("publish", N),
        "topic:orders->service:billing": ("consume", N),
        "service:billing->topic:invoice.requested": ("publish", N),
        "topic:invoice.requested->service:invoicing": ("consume", N),
        "topic:invoice.requested->service:audit": ("consume", N),
    }, ["topic:orders->service:billing", "topic:invoice.requested->service:invoicing",
        "topic:invoice.requested->service:audit"])
    assert _systems(a)["topic:invoice.requested"] == "vertx-eventbus"
    assert a.edge("topic:invoice.requested->service:invoicing")["queue_p50_ms"] == 1.2
    assert _flows(a) == [("orders", N, 1.0)]
