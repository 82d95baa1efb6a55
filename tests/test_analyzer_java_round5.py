"""Span shapes of JVM in-process and integration messaging, read from the libraries' own
source and tests: the Vert.x event bus traced by vertx-opentelemetry (eclipse-vertx/
vertx-tracing, Vert.x 4 and 5), Apache Camel 4 routes traced by camel-opentelemetry2 (before
and after it set span kinds), and Spring Integration 6's own Micrometer observations
(channels, handlers, gateways, polled sources) through micrometer-tracing-bridge-otel. Each
test builds exactly the spans the library exports for a small scenario and checks what the
analyzer makes of them.

Looked at and not encoded (nothing to encode):
* The OpenTelemetry Java agent has no event-bus instrumentation (instrumentation/vertx holds
  HTTP client, web routes, Kafka, Redis, SQL and Aerospike clients only): under the agent
  alone event-bus messages make no spans.
* Helidon's messaging connectors (messaging/connectors/kafka: KafkaPublisher,
  KafkaSubscriber) neither start spans nor carry context in record headers.
* Open Liberty's mpTelemetry traces JAX-RS / HTTP only ("automatic instrumentation is
  available only for JAX-RS"); JMS or Reactive Messaging spans come from the Java agent,
  whose JMS shapes other test files encode.
* camel-observation builds on camel-tracing, whose PRODUCER / CONSUMER messaging decorators
  test_analyzer_libraries.py already encodes (test_opentracing_destinations_of_converted_or_
  camel_spans).
"""

from __future__ import annotations

from typing import Any

from tests.analysis_checks import analysed_each as _analysed_each
from tests.analysis_checks import flows_of as _flows
from tests.analysis_checks import systems_of as _systems
from tests.builders import SpanRef, SpanSet

N = 3

_PG = {"db.system": "postgresql", "db.name": "shop", "server.address": "shop-db",
       "server.port": 5432}


def _db(b: SpanSet, service: str, parent: SpanRef, t: float, dur_ms: float = 4) -> SpanRef:
    return b.span(service, "SELECT shop.stock", kind="CLIENT", parent=parent, start_ms=t,
                  dur_ms=dur_ms, attrs={**_PG, "db.operation": "SELECT"})


# ------------------------------------------------------------------------ Vert.x event bus
# Read in eclipse-vertx/vert.x: vertx-core/.../eventbus/impl/OutboundDeliveryContext.java
# (execute(): tracer.sendRequest(ctx, SpanKind.RPC, policy, message, message.send ? "send" :
# "publish", headers, MessageTagExtractor.INSTANCE) -- the event bus passes the RPC kind;
# written(): a send or publish without reply handler ends its span once the message is
# written, a request's span is handed to the ReplyHandler and ends when the reply arrives;
# a reply's execute() ends the receiver's span: tracer.sendResponse), HandlerRegistration
# (InboundDeliveryContext.execute(): tracer.receiveRequest(ctx, SpanKind.RPC, PROPAGATE,
# message, "send"/"publish", message.headers(), ...) around the handler, ended after it
# returns when there is no reply address), MessageTagExtractor (Vert.x 5:
# messaging.destination.name = the address, messaging.system = "vertx-eventbus",
# messaging.operation.name = isSend() ? "send" : "publish", on both sides; Vert.x 4.x,
# src/main/.../MessageTagExtractor at 50ebce0: message_bus.destination only);
# eclipse-vertx/vertx-tracing vertx-opentelemetry/.../OpenTelemetryTracer.java (SpanKind.RPC
# -> CLIENT when sending, SERVER when receiving, else PRODUCER / CONSUMER; the receiver's
# parent is the context extracted from the message headers; the 4.x tracer copies the tags
# as they are) and its EventBusTest (every non-HTTP span named "send" -- request-reply too --
# or "publish", 2 spans per send, 3 for a publish to two consumers).

def _eventbus(address: str, op: str) -> dict[str, Any]:
    return {"messaging.destination.name": address, "messaging.system": "vertx-eventbus",
            "messaging.operation.name": op}


def test_vertx_eventbus_send_is_a_client_span_and_its_delivery_a_server_span():
    """A clustered event bus: 'api' (an HTTP verticle) sends each order to address
    'orders.place'; the consumer verticle in 'fulfilment' handles it and writes to its
    database. vertx-opentelemetry makes the send a CLIENT span "send" (ended as soon as the
    message is written) and the delivery a SERVER span "send", child of the send by the
    message headers -- the consumer's span names the sender's operation. One delivery per
    message from the address, joined by context, one flow per request."""
    b = SpanSet()
    for i in range(N):
        t = i * 100
        root = b.span("api", "POST /orders", kind="SERVER", start_ms=t, dur_ms=12,
                      attrs={"http.request.method": "POST", "url.path": "/orders",
                             "http.response.status_code": 202})
        send = b.span("api", "send", kind="CLIENT", parent=root, start_ms=t + 2, dur_ms=0.4,
                      attrs=_eventbus("orders.place", "send"))
        srv = b.span("fulfilment", "send", kind="SERVER", parent=send, start_ms=t + 3.5,
                     dur_ms=9, attrs=_eventbus("orders.place", "send"))
        _db(b, "fulfilment", srv, t + 4, 6)
    a = _analysed_each(b.store(), {
        "service:api->topic:orders.place": ("publish", N),
        "topic:orders.place->service:fulfilment": ("consume", N),
        "service:fulfilment->external:postgresql": ("call", N),
    }, ["topic:orders.place->service:fulfilment"])
    assert _systems(a) == {"topic:orders.place": "vertx-eventbus"}
    consume = a.edge("topic:orders.place->service:fulfilment")
    assert (consume["p50_ms"], consume["queue_p50_ms"]) == (9.0, 1.1)
    assert _flows(a) == [("api", N, 1.0)]


def test_vertx_eventbus_publish_reaches_every_consumer_once():
    """eventBus().publish('order.placed'): one CLIENT "publish" span and a SERVER "publish"
    span per registered consumer (EventBusTest.testPublish: 3 spans for two consumers), here
    in 'billing' and 'audit'. One publish, one delivery to each service."""
    b = SpanSet()
    for i in range(N):
        t = i * 100
        root = b.span("api", "POST /orders", kind="SERVER", start_ms=t, dur_ms=10)
        pub = b.span("api", "publish", kind="CLIENT", parent=root, start_ms=t + 2,
                     dur_ms=0.3, attrs=_eventbus("order.placed", "publish"))
        for k, svc in enumerate(("billing", "audit")):
            b.span(svc, "publish", kind="SERVER", parent=pub, start_ms=t + 3 + k,
                   dur_ms=5 - k, attrs=_eventbus("order.placed", "publish"))
    a = _analysed_each(b.store(), {
        "service:api->topic:order.placed": ("publish", N),
        "topic:order.placed->service:billing": ("consume", N),
        "topic:order.placed->service:audit": ("consume", N),
    }, ["topic:order.placed->service:billing", "topic:order.placed->service:audit"])
    assert _systems(a) == {"topic:order.placed": "vertx-eventbus"}
    assert _flows(a) == [("api", N, 1.0)]


def test_vertx_eventbus_request_reply_client_span_waits_for_the_reply():
    """eventBus().request('inventory.check'): the CLIENT "send" span lasts until the reply
    arrives (the ReplyHandler ends it); the consumer's SERVER "send" span ends when its
    msg.reply() goes out, its stock query inside. The reply itself makes no span. The
    delivery is the consumer's span; it started inside the request's span, so no queue time
    (none negative, no clock skew)."""
    b = SpanSet()
    for i in range(N):
        t = i * 100
        root = b.span("api", "GET /stock/{sku}", kind="SERVER", start_ms=t, dur_ms=20)
        req = b.span("api", "send", kind="CLIENT", parent=root, start_ms=t + 2, dur_ms=15,
                     attrs=_eventbus("inventory.check", "send"))
        srv = b.span("inventory", "send", kind="SERVER", parent=req, start_ms=t + 3,
                     dur_ms=12, attrs=_eventbus("inventory.check", "send"))
        _db(b, "inventory", srv, t + 4, 8)
    a = _analysed_each(b.store(), {
        "service:api->topic:inventory.check": ("publish", N),
        "topic:inventory.check->service:inventory": ("consume", N),
        "service:inventory->external:postgresql": ("call", N),
    }, ["topic:inventory.check->service:inventory"])
    consume = a.edge("topic:inventory.check->service:inventory")
    assert (consume["p50_ms"], consume["queue_p50_ms"], consume["clock_skew_count"]) == \
        (12.0, 0.0, 0)


def test_vertx4_eventbus_spans_name_only_the_opentracing_destination():
    """Vert.x 4 with the 4.x vertx-opentelemetry tracer, which copies Vert.x's tags as they
    are: the event bus tags its spans with message_bus.destination only (no messaging
    system, no operation; the span name says send). Same CLIENT / SERVER pair as in Vert.x
    5 (vertx-tracing 4.x EventBusTest asserts message_bus.destination on both)."""
    b = SpanSet()
    for i in range(N):
        t = i * 100
        root = b.span("api", "POST /orders", kind="SERVER", start_ms=t, dur_ms=12)
        send = b.span("api", "send", kind="CLIENT", parent=root, start_ms=t + 2, dur_ms=0.4,
                      attrs={"message_bus.destination": "orders.place"})
        srv = b.span("fulfilment", "send", kind="SERVER", parent=send, start_ms=t + 3.5,
                     dur_ms=9, attrs={"message_bus.destination": "orders.place"})
        _db(b, "fulfilment", srv, t + 4, 6)
    _analysed_each(b.store(), {
        "service:api->topic:orders.place": ("publish", N),
        "topic:orders.place->service:fulfilment": ("consume", N),
        "service:fulfilment->external:postgresql": ("call", N),
    }, ["topic:orders.place->service:fulfilment"])


# ------------------------------------------------------------------- Camel 4 opentelemetry2
# Read in apache/camel components/camel-telemetry: Tracer.java (an EVENT_RECEIVED span per
# route begin, from its consumer endpoint; an EVENT_SENT span per endpoint an exchange is
# sent to, child of the span on top of the exchange's stack; the context is injected into
# the exchange headers, which camel-kafka carries as record headers), TagConstants ("op",
# "component", "exchangeId", "camel.uri", "url.scheme", "url.path", "url.query",
# MESSAGE_BUS_DESTINATION = "messaging.destination.name", "messaging.message.id"),
# decorators/AbstractSpanDecorator (component "camel-<scheme>"), AbstractMessagingSpanDecorator
# (span name and messaging.destination.name = the endpoint path; no messaging.system),
# KafkaSpanDecorator (kafka.partition / kafka.offset / kafka.key from the exchange's
# kafka.PARTITION / kafka.OFFSET / kafka.KEY headers -- which a kafka consumer route leaves
# on the exchange, so a send later in the route carries the consumed record's -- the topic
# from kafka.OVERRIDE_TOPIC or the endpoint), AbstractInternalSpanDecorator / SedaSpanDecorator
# / DirectSpanDecorator (named by the endpoint path, no destination); and
# components/camel-opentelemetry2: OpenTelemetryTracer (at 014fa5e no span kind is set: every
# span INTERNAL; at 2e200ba determineSpanKind(): EVENT_SENT / EVENT_RECEIVED of a decorator
# implementing OpenTelemetryMessagingSpanDecorator -- Kafka, JMS, AMQP, ActiveMQ,
# Spring RabbitMQ -- PRODUCER / CONSUMER, of HTTP ones CLIENT / SERVER, everything else
# INTERNAL), tests SpanKindTest (direct INTERNAL, kafka EVENT_SENT PRODUCER with kafka.*
# tags), OpenTelemetryTracerTest (hierarchy EVENT_SENT -> EVENT_RECEIVED -> EVENT_SENT) and
# MulticastSedaTest (seda consumers' EVENT_RECEIVED spans in the sender's trace).

def _camel(b: SpanSet, service: str, name: str, op: str, scheme: str, uri: str, t: float,
           dur_ms: float, parent: SpanRef | None = None, kind: str = "INTERNAL",
           destination: str | None = None, **tags: str) -> SpanRef:
    path, _, query = uri.split("://", 1)[1].partition("?")
    attrs: dict[str, Any] = {"op": op, "component": f"camel-{scheme}", "url.scheme": scheme,
                             "exchangeId": f"{service}-{int(t)}-{name}", "camel.uri": uri,
                             "url.path": path, "url.query": query or None}
    if destination is not None:
        attrs["messaging.destination.name"] = destination
    attrs.update(tags)
    return b.span(service, name, kind=kind, parent=parent, start_ms=t, dur_ms=dur_ms,
                  attrs=attrs)


def _camel_routes(b: SpanSet, kinds: bool, hop: str) -> None:
    """orders-api: from("timer:tick").to("kafka:orders"). router:
    from("kafka:orders").to("<hop>:enrich"); from("<hop>:enrich")...to("kafka:invoices").
    billing: from("kafka:invoices"). ``kinds``: camel-opentelemetry2 setting span kinds
    (PRODUCER / CONSUMER on the Kafka endpoints) or not (all INTERNAL). ``hop``: direct (the
    enrich route runs inside the kafka route's span) or seda (on another thread later; the
    kafka route's span ended when the exchange was queued)."""
    prod, cons = ("PRODUCER", "CONSUMER") if kinds else ("INTERNAL", "INTERNAL")
    brokers = "brokers=kafka%3A9092"
    for i in range(N):
        t = i * 100
        tick = _camel(b, "orders-api", "tick", "EVENT_RECEIVED", "timer",
                      "timer://tick?period=1000", t, 7)
        out = _camel(b, "orders-api", "orders", "EVENT_SENT", "kafka",
                     f"kafka://orders?{brokers}", t + 1, 5, tick, prod, "orders",
                     **{"kafka.key": f"o-{i}"})
        rec = {"kafka.partition": str(i % 2), "kafka.offset": str(40 + i), "kafka.key": f"o-{i}"}
        route = _camel(b, "router", "orders", "EVENT_RECEIVED", "kafka",
                       f"kafka://orders?{brokers}&groupId=router", t + 20,
                       16 if hop == "direct" else 2, out, cons, "orders", **rec)
        sent = _camel(b, "router", "enrich", "EVENT_SENT", hop, f"{hop}://enrich", t + 20.5,
                      14 if hop == "direct" else 0.3, route)
        start = t + 20.6 if hop == "direct" else t + 26
        enrich = _camel(b, "router", "enrich", "EVENT_RECEIVED", hop, f"{hop}://enrich", start,
                        13.5 if hop == "direct" else 12, sent)
        # (the send carries the consumed record's partition, offset and key)
        inv = _camel(b, "router", "invoices", "EVENT_SENT", "kafka",
                     f"kafka://invoices?{brokers}", start + 6, 5, enrich, prod, "invoices",
                     **rec)
        _camel(b, "billing", "invoices", "EVENT_RECEIVED", "kafka",
               f"kafka://invoices?{brokers}&groupId=billing", t + 60, 8, inv, cons,
               "invoices", **{"kafka.partition": "0", "kafka.offset": str(7 + i),
                              "kafka.key": f"o-{i}"})


_CAMEL_EDGES = {
    "service:orders-api->topic:orders": ("publish", N),
    "topic:orders->service:router": ("consume", N),
    "service:router->topic:invoices": ("publish", N),
    "topic:invoices->service:billing": ("consume", N),
}


def test_camel_opentelemetry2_kafka_route_through_seda_with_span_kinds():
    """camel-opentelemetry2 with span kinds (2e200ba): the Kafka endpoints' spans are
    PRODUCER / CONSUMER named by the topic, with messaging.destination.name but no messaging
    system; the seda hop inside 'router' is a pair of INTERNAL spans with no destination (an
    in-process queue, no topic). The invoices send sits under the seda consumer's span, in
    the trace of the orders record. The Kafka endpoints' component (camel-kafka) says the
    system."""
    b = SpanSet()
    _camel_routes(b, kinds=True, hop="seda")
    a = _analysed_each(b.store(), _CAMEL_EDGES,
                       ["topic:orders->service:router", "topic:invoices->service:billing"])
    assert a.edge("topic:orders->service:router")["queue_p50_ms"] == 14.0
    assert a.edge("topic:invoices->service:billing")["queue_p50_ms"] == 23.0
    assert _flows(a) == [("orders-api", N, 1.0)]
    # (the system: Camel names it only as its component, "camel-kafka")
    assert _systems(a) == {"topic:orders": "kafka", "topic:invoices": "kafka"}


# Not supported (left alone, see the session note): camel-opentelemetry2 before span kinds
# made every span INTERNAL, saying send or receive only in Camel's own op tag
# (EVENT_SENT / EVENT_RECEIVED) and naming no system: the route reads as calls.


# ------------------------------------------------------- Spring Integration observations
# Read in spring-projects/spring-integration, spring-integration-core/.../support/management/
# observation: IntegrationObservation (PRODUCER, HANDLER, GATEWAY), MessageSenderContext (a
# SenderContext: Micrometer Tracing's propagating sender handler makes a PRODUCER span and
# injects its context into the message headers), MessageSenderObservationConvention
# (contextual name "<channel> send"), DefaultMessageSenderObservationConvention
# (spring.integration.name = the channel, spring.integration.type = "producer"),
# MessageReceiverContext (a ReceiverContext: a CONSUMER span whose parent is extracted from
# the message headers; handler type "handler", "message-source" or "message-producer"),
# MessageReceiverObservationConvention ("<handler> receive"),
# DefaultMessageRequestReplyReceiverObservationConvention (a gateway: SERVER span
# "<gateway> process", spring.integration.type = gateway, spring.integration.outcome). No
# messaging.* attribute on any of them. Tests: IntegrationObservabilityZipkinTests (gateway
# SERVER "testInboundGateway process", PRODUCER "queueChannel send", CONSUMER
# "observedEndpoint receive" on the poller's thread, one trace) and
# SourcePollingChannelAdapterObservationTests (6.5: CONSUMER "dataMessageSource receive" as
# the root, PRODUCER "processMessage send", CONSUMER "dataHandler receive", PRODUCER
# "afterCommit send", CONSUMER "commitHandler receive", one trace). The Kafka spans are
# spring-kafka's KafkaTemplateObservation / KafkaListenerObservation (3.1-3.2 attributes, as
# test_analyzer_java_frameworks2.py reads them); micrometer-tracing's OtelPropagator.extract
# starts from Context.current(), so a gateway called with no headers is the current span's
# child.

def _si(kind_type: str, name: str) -> dict[str, Any]:
    return {"spring.integration.name": name, "spring.integration.type": kind_type}


def _kafka_send(b: SpanSet, service: str, parent: SpanRef, topic: str, t: float) -> SpanRef:
    return b.span(service, f"{topic} send", kind="PRODUCER", parent=parent, start_ms=t,
                  dur_ms=3, attrs={"spring.kafka.template.name": "kafkaTemplate",
                                   "messaging.system": "kafka",
                                   "messaging.operation": "publish",
                                   "messaging.destination.kind": "topic",
                                   "messaging.destination.name": topic})


def _kafka_receive(b: SpanSet, service: str, parent: SpanRef, topic: str, t: float,
                   offset: int) -> SpanRef:
    return b.span(service, f"{topic} receive", kind="CONSUMER", parent=parent, start_ms=t,
                  dur_ms=6, attrs={"spring.kafka.listener.id": f"{service}-0",
                                   "messaging.system": "kafka",
                                   "messaging.operation": "receive",
                                   "messaging.source.name": topic,
                                   "messaging.source.kind": "topic",
                                   "messaging.consumer.id": service,
                                   "messaging.kafka.consumer.group": service,
                                   "messaging.kafka.source.partition": "0",
                                   "messaging.kafka.message.offset": str(offset)})


def test_spring_integration_polled_source_and_direct_channels_are_no_topics():
    """Spring Integration 6.5 with observation-patterns '*': a polled inbound adapter's
    "dataMessageSource receive" CONSUMER span starts the trace, the message goes through the
    DirectChannel 'processMessage' (PRODUCER "processMessage send", its handler's CONSUMER
    "dataHandler receive" inside it), the handler sends an invoice to Kafka, and after the
    poll's transaction commits the 'afterCommit' channel runs its handler. Channels between
    beans of one service are no broker destinations: only the Kafka topic is a node, no
    publish to an unknown topic, one flow entering at the importer."""
    b = SpanSet()
    for i in range(N):
        t = i * 100
        src = b.span("importer", "dataMessageSource receive", kind="CONSUMER", start_ms=t,
                     dur_ms=20, attrs=_si("message-source", "dataMessageSource"))
        send = b.span("importer", "processMessage send", kind="PRODUCER", parent=src,
                      start_ms=t + 1, dur_ms=12, attrs=_si("producer", "processMessage"))
        handler = b.span("importer", "dataHandler receive", kind="CONSUMER", parent=send,
                         start_ms=t + 1.2, dur_ms=11.5, attrs=_si("handler", "dataHandler"))
        kafka = _kafka_send(b, "importer", handler, "invoices", t + 5)
        commit = b.span("importer", "afterCommit send", kind="PRODUCER", parent=src,
                        start_ms=t + 14, dur_ms=4, attrs=_si("producer", "afterCommit"))
        b.span("importer", "commitHandler receive", kind="CONSUMER", parent=commit,
               start_ms=t + 14.2, dur_ms=3.5, attrs=_si("handler", "commitHandler"))
        _kafka_receive(b, "billing", kafka, "invoices", t + 30, 9 + i)
    a = _analysed_each(b.store(), {
        "service:importer->topic:invoices": ("publish", N),
        "topic:invoices->service:billing": ("consume", N),
    }, ["topic:invoices->service:billing"])
    assert _systems(a) == {"topic:invoices": "kafka"}
    assert _flows(a) == [("importer", N, 1.0)]


def test_spring_integration_gateway_to_a_queue_channel_polled_later_is_no_topic():
    """A REST controller calls a messaging gateway: its SERVER "orderGateway process" span
    (a child of the HTTP span: no headers to extract, so the current span), the PRODUCER
    "queueChannel send" that only enqueues, and 8 ms later, on the poller's thread, the
    CONSUMER "orderHandler receive" (the send's child by the message headers), which sends
    the order to Kafka and replies. The queue channel is in-process: the only topic is
    order-events, consumed by billing."""
    b = SpanSet()
    for i in range(N):
        t = i * 100
        root = b.span("orders", "http post /orders", kind="SERVER", start_ms=t, dur_ms=30,
                      attrs={"method": "POST", "uri": "/orders", "status": "200",
                             "outcome": "SUCCESS", "exception": "none"})
        gw = b.span("orders", "orderGateway process", kind="SERVER", parent=root,
                    start_ms=t + 1, dur_ms=27,
                    attrs={**_si("gateway", "orderGateway"),
                           "spring.integration.outcome": "SUCCESS"})
        send = b.span("orders", "queueChannel send", kind="PRODUCER", parent=gw,
                      start_ms=t + 2, dur_ms=0.2, attrs=_si("producer", "queueChannel"))
        handler = b.span("orders", "orderHandler receive", kind="CONSUMER", parent=send,
                         start_ms=t + 10, dur_ms=15, attrs=_si("handler", "orderHandler"))
        kafka = _kafka_send(b, "orders", handler, "order-events", t + 12)
        _kafka_receive(b, "billing", kafka, "order-events", t + 40, 20 + i)
    a = _analysed_each(b.store(), {
        "service:orders->topic:order-events": ("publish", N),
        "topic:order-events->service:billing": ("consume", N),
    }, ["topic:order-events->service:billing"])
    assert a.edge("topic:order-events->service:billing")["queue_p50_ms"] == 25.0
    assert _flows(a) == [("orders", N, 1.0)]
