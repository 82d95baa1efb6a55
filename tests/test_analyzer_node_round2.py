"""Span shapes of Node.js messaging instrumentation, second round, each read from the
library's source: @opentelemetry/instrumentation-kafkajs (sendBatch, transactions, failed
sends), the instrumentations of @confluentinc/kafka-javascript (which the kafkajs one does not
patch), NestJS microservices (Kafka, RabbitMQ and Redis transports) under
@opentelemetry/instrumentation-nestjs-core and its successor @opentelemetry/instrumentation-
nestjs, and @opentelemetry/instrumentation-aws-sdk's SNS -> SQS without raw message delivery,
SNS PublishBatch and EventBridge -> SQS. Each test builds exactly the spans the libraries
export for a small scenario and checks what the analyzer makes of them."""

from __future__ import annotations

from typing import Any

import pytest

from analyzer import analyze, edge_detail
from tests.analysis_checks import analysed_each as _analysed
from tests.analysis_checks import edges_of as _edges
from tests.analysis_checks import flows_of as _flows
from tests.analysis_checks import systems_of as _systems
from tests.builders import SpanRef, SpanSet
from tests.test_analyzer_node_cloud import (
    ACCOUNT,
    AWS_SDK,
    REGION,
    _http_server,
    _sns_publish,
    _sqs_attrs,
    _sqs_receive,
)
from tests.test_analyzer_node_messaging import _CONN, _pg

N = 3


def _root(b: SpanSet, service: str, method: str, route: str, t: float, dur: float,
          status_code: int = 200, status: str = "UNSET") -> SpanRef:
    """@opentelemetry/instrumentation-http's SERVER span (old attribute names)."""
    return b.span(service, f"{method} {route}", kind="SERVER", start_ms=t, dur_ms=dur,
                  status=status,
                  attrs={"http.method": method, "http.target": route, "http.route": route,
                         "http.status_code": status_code})


def _pg_select(b: SpanSet, service: str, parent: SpanRef | None, t: float,
               table: str) -> SpanRef:
    return b.span(service, f"pg.query:SELECT {table}", kind="CLIENT", parent=parent,
                  start_ms=t, dur_ms=2,
                  attrs={"db.system": "postgresql", "db.name": "shop",
                         "db.statement": f"SELECT * FROM {table} WHERE id = $1",
                         "net.peer.name": "postgres", "net.peer.port": 5432})


def _assert_joined(a, edge: str, context: int, none: int) -> None:
    assert a.edge(edge)["joined_by"] == {"context": context, "message_id": 0, "none": none,
                                         "outside": 0}


# ------------------------------------------------------------------------------- kafkajs
# open-telemetry/opentelemetry-js-contrib, packages/instrumentation-kafkajs/src/
# instrumentation.ts (0.9+ up to 0.20, the newest): the stable messaging names are emitted
# unconditionally ("update semantic conventions", #2752); there is no
# OTEL_SEMCONV_STABILITY_OPT_IN switch in this package (CHANGELOG.md to 0.20.0, src/).
#  _startProducerSpan: "send <topic>" PRODUCER per message, in the active context, with
#    messaging.system kafka, messaging.destination.name, messaging.operation.type/name send,
#    messaging.kafka.message.key (if any) and messaging.destination.partition.id only when the
#    message names its partition; the span's context is injected into the message headers.
#  _endSpansOnPromise: every span of one send()/sendBatch() call ends when the call's promise
#    settles; on rejection each gets ERROR status and error.type (the error's class name).
#  _startConsumerSpan for eachMessage: "process <topic>" CONSUMER, parent = the extracted
#    context, messaging.destination.partition.id, messaging.kafka.offset, the key.
def _kjs_send(b: SpanSet, service: str, parent: SpanRef, topic: str, key: str | None,
              t: float, dur: float, partition: int | None = None,
              error: str | None = None) -> SpanRef:
    attrs: dict[str, Any] = {"messaging.system": "kafka", "messaging.destination.name": topic,
                             "messaging.kafka.message.key": key,
                             "messaging.operation.name": "send",
                             "messaging.operation.type": "send"}
    if partition is not None:
        attrs["messaging.destination.partition.id"] = str(partition)
    if error is not None:
        attrs["error.type"] = error
    return b.span(service, f"send {topic}", kind="PRODUCER", parent=parent, start_ms=t,
                  dur_ms=dur, status="ERROR" if error else "UNSET", attrs=attrs)


def _kjs_process(b: SpanSet, service: str, parent: SpanRef, topic: str, key: str | None,
                 t: float, dur: float, offset: int, partition: int = 0) -> SpanRef:
    return b.span(service, f"process {topic}", kind="CONSUMER", parent=parent, start_ms=t,
                  dur_ms=dur,
                  attrs={"messaging.system": "kafka", "messaging.destination.name": topic,
                         "messaging.destination.partition.id": str(partition),
                         "messaging.operation.type": "process",
                         "messaging.operation.name": "process",
                         "messaging.kafka.message.key": key,
                         "messaging.kafka.offset": str(offset)})


def test_kafkajs_send_batch_to_two_topics_is_one_publish_per_message():
    """producer.sendBatch({topicMessages: [{topic: 'orders', messages: [order]},
    {topic: 'inventory-reservations', messages: [line 1, line 2]}]}) from an Express handler:
    _getProducerSendBatchPatch starts a "send <topic>" PRODUCER span per message of every
    topic, all children of the handler's span, and ends them all together when the batch's
    promise resolves. billing consumes orders and the warehouse each reservation (eachMessage:
    a "process <topic>" CONSUMER child of that message's send span). One request is one
    flow: three publishes to two topics, three deliveries.
    Source: open-telemetry/opentelemetry-js-contrib, packages/instrumentation-kafkajs/src/
    instrumentation.ts (_getProducerSendBatchPatch, _startProducerSpan,
    _getConsumerEachMessagePatch, _endSpansOnPromise)."""
    b = SpanSet()
    for i in range(N):
        t = i * 300
        root = _root(b, "checkout", "POST", "/orders", t, 40, 201)
        # all three started one after the other, all ended at t + 20 with the batch
        order_send = _kjs_send(b, "checkout", root, "orders", f"order-{i}", t + 12, 8)
        sends = [_kjs_send(b, "checkout", root, "inventory-reservations", f"sku-{k}",
                           t + 12.05 + 0.05 * k, 7.95 - 0.05 * k) for k in range(2)]
        proc = _kjs_process(b, "billing", order_send, "orders", f"order-{i}", t + 30, 15,
                            offset=100 + i)
        _pg(b, "billing", proc, t + 33, "invoices")
        for k, send in enumerate(sends):
            _kjs_process(b, "warehouse", send, "inventory-reservations", f"sku-{k}",
                         t + 28 + 6 * k, 5, offset=500 + 2 * i + k, partition=k)
    st = b.store()
    a = _analysed(st, {
        "service:checkout->topic:orders": ("publish", N),
        "service:checkout->topic:inventory-reservations": ("publish", 2 * N),
        "topic:orders->service:billing": ("consume", N),
        "topic:inventory-reservations->service:warehouse": ("consume", 2 * N),
        "service:billing->external:postgresql": ("call", N),
    }, ["topic:orders->service:billing", "topic:inventory-reservations->service:warehouse"])
    consume = a.edge("topic:orders->service:billing")
    assert (consume["p50_ms"], consume["queue_p50_ms"]) == (15.0, 10.0)
    assert a.edge("topic:inventory-reservations->service:warehouse")["message_count"] == 2 * N
    assert _systems(a) == {"topic:orders": "kafka", "topic:inventory-reservations": "kafka"}
    assert _flows(a) == [("checkout", N, 1.0)]


def test_kafkajs_transaction_sends_under_an_internal_transaction_span():
    """producer.transaction(): _getProducerTransactionPatch starts an INTERNAL "transaction"
    span (no messaging attribute) in the caller's context; transaction.send() runs with it
    active, so each message's "send <topic>" PRODUCER span is its child; commit() (or
    abort()) ends it. A transfer is a debit and a credit sent in one transaction; the ledger
    consumer (kafkajs' default isolation: read committed) sees them once committed, each a
    "process ledger-entries" child of its send. The last transfer is aborted: its two
    records reached the broker (their sends succeeded) and no consumer ever gets them.
    Source: open-telemetry/opentelemetry-js-contrib, packages/instrumentation-kafkajs/src/
    instrumentation.ts (_getProducerTransactionPatch, 0.13.0 "instrument transaction send
    and sendBatch")."""
    b = SpanSet()
    offset = 0
    for i in range(N + 1):
        t = i * 300
        aborted = i == N
        root = _root(b, "payments-api", "POST", "/transfers", t, 30,
                     409 if aborted else 201)
        tx = b.span("payments-api", "transaction", parent=root, start_ms=t + 5,
                    dur_ms=13 if aborted else 15)
        sends = [_kjs_send(b, "payments-api", tx, "ledger-entries", f"acct-{i}-{k}",
                           t + 8 + 0.1 * k, 4 - 0.1 * k) for k in range(2)]
        if aborted:
            continue
        for k, send in enumerate(sends):
            _kjs_process(b, "ledger", send, "ledger-entries", f"acct-{i}-{k}",
                         t + 25 + 4 * k, 3, offset=offset)
            offset += 1
    st = b.store()
    a = _analysed(st, {
        "service:payments-api->topic:ledger-entries": ("publish", 2 * N + 2),
        "topic:ledger-entries->service:ledger": ("consume", 2 * N),
    }, ["topic:ledger-entries->service:ledger"],
        anomalies=[("published_never_consumed", "topic:ledger-entries", 2)])
    assert a.edge("topic:ledger-entries->service:ledger")["queue_p50_ms"] == 15.0


def test_kafkajs_failed_send_is_a_failed_publish_not_an_unconsumed_message():
    """producer.send() that the broker never acknowledged (a leader unavailable until the
    retries ran out): _endSpansOnPromise sets ERROR status and error.type
    'KafkaJSNumberOfRetriesExceeded' (the rejection's class name) on every span of the call
    and the handler answers 503. Nothing was written, so nothing is consumed: the publish
    edge counts the failed attempts as errors; no message was lost on the way to a
    consumer.
    Source: open-telemetry/opentelemetry-js-contrib, packages/instrumentation-kafkajs/src/
    instrumentation.ts (_endSpansOnPromise)."""
    b = SpanSet()
    for i in range(2 * N):
        t = i * 300
        failed = i % 2 == 1
        root = _root(b, "checkout", "POST", "/orders", t, 40, 503 if failed else 201,
                     status="ERROR" if failed else "UNSET")
        send = _kjs_send(b, "checkout", root, "orders", f"order-{i}", t + 5,
                         30 if failed else 6,
                         error="KafkaJSNumberOfRetriesExceeded" if failed else None)
        if not failed:
            _kjs_process(b, "billing", send, "orders", f"order-{i}", t + 20, 10,
                         offset=200 + i)
    st = b.store()
    a = _analysed(st, {
        "service:checkout->topic:orders": ("publish", 2 * N),
        "topic:orders->service:billing": ("consume", N),
    }, ["topic:orders->service:billing"])
    assert a.edge("service:checkout->topic:orders")["error_count"] == N


# ---------------------------------------------------------------- @confluentinc/kafka-javascript
# @opentelemetry/instrumentation-kafkajs patches only the module named 'kafkajs'
# (InstrumentationNodeModuleDefinition('kafkajs', ...)): Confluent's KafkaJS-compatible API
# (require('@confluentinc/kafka-javascript').KafkaJS) is not instrumented by it
# (confluentinc/confluent-kafka-javascript issue #318), and the client has no tracing of its
# own (lib/kafkajs/_producer.js, _consumer.js: no OpenTelemetry). Two third-party
# instrumentations exist:
#  - instana/instrumentation-confluent-kafka-javascript (src/instrumentation.ts) patches the
#    KafkaJS API too: Kafka.producer().send gets a PRODUCER span named after the topic alone
#    per message (operation name/type send), the rdkafka-level produce() is skipped inside it;
#    consumer.run({eachMessage}) gets a CONSUMER span named after the topic, child of the
#    extracted context, operation name 'received', type 'receive', key, offset, partition.
#  - Drazke/instrumentation-confluent-kafka-javascript (src/instrumentation.ts) patches only
#    the rdkafka layer: Producer.produce (which the KafkaJS API's send calls, one per message,
#    with partition -1 when none is given) gets a PRODUCER "<topic>" span (operation name
#    'produce', type send) that ends when produce() returns; its context is injected into the
#    headers and into the `opaque` object, so the delivery report (the KafkaJS API listens
#    for 'delivery-report') runs in a second PRODUCER "<topic>" span, child of the first,
#    operation name 'delivery-report', type 'deliver' (the deprecated name of process), with
#    the partition and offset the broker assigned. KafkaConsumer's 'data' events (the
#    standard, non-KafkaJS consumer) get a CONSUMER "<topic>" span, child of the extracted
#    context, operation 'received'/'receive'. (The KafkaJS API's consumer calls consume(),
#    not 'data' events: it gets no span from this one.)
def test_confluent_kafka_javascript_kafkajs_api_under_instanas_instrumentation():
    """The KafkaJS-compatible API of @confluentinc/kafka-javascript under
    @instana/instrumentation-confluent-kafka-javascript: "payments" PRODUCER per message and
    a "payments" CONSUMER (operation 'receive', name 'received') around each eachMessage
    call, child of its producer. Spans named after the topic alone, a consumer that says
    it receives: one delivery per message, joined by its parent.
    Source: instana/instrumentation-confluent-kafka-javascript, src/instrumentation.ts
    (_patchProducerSend, _patchConsumerRun, _patchProduce's KAFKAJS_PROMISE_API_CONTEXT_KEY
    skip); confluentinc/confluent-kafka-javascript lib/kafkajs/_producer.js (send)."""
    b = SpanSet()
    for i in range(N):
        t = i * 200
        root = _root(b, "checkout", "POST", "/payments", t, 25, 202)
        send = b.span("checkout", "payments", kind="PRODUCER", parent=root, start_ms=t + 4,
                      dur_ms=6,
                      attrs={"messaging.system": "kafka",
                             "messaging.destination.name": "payments",
                             "messaging.kafka.message.key": f"pay-{i}",
                             "messaging.operation.name": "send",
                             "messaging.operation.type": "send"})
        proc = b.span("payments", "payments", kind="CONSUMER", parent=send, start_ms=t + 15,
                      dur_ms=9,
                      attrs={"messaging.system": "kafka",
                             "messaging.destination.name": "payments",
                             "messaging.operation.name": "received",
                             "messaging.operation.type": "receive",
                             "messaging.kafka.message.key": f"pay-{i}",
                             "messaging.kafka.offset": str(40 + i),
                             "messaging.destination.partition.id": "1"})
        _pg(b, "payments", proc, t + 17, "charges")
    st = b.store()
    a = _analysed(st, {
        "service:checkout->topic:payments": ("publish", N),
        "topic:payments->service:payments": ("consume", N),
        "service:payments->external:postgresql": ("call", N),
    }, ["topic:payments->service:payments"])
    consume = a.edge("topic:payments->service:payments")
    assert (consume["p50_ms"], consume["queue_p50_ms"]) == (9.0, 5.0)
    assert _systems(a) == {"topic:payments": "kafka"}
    assert _flows(a) == [("checkout", N, 1.0)]


def test_confluent_kafka_javascript_produce_and_its_delivery_report_are_one_publish():
    """The KafkaJS-compatible producer under Drazke's instrumentation: send() calls the
    rdkafka Producer.produce once per message (partition -1: none given), whose "payments"
    PRODUCER span ends as produce() returns (the message is only queued in librdkafka); when
    the broker acknowledges it, the delivery report runs in a second "payments" PRODUCER span,
    child of the first through the context injected into `opaque`, operation type 'deliver',
    naming the partition and offset. The consumer uses the standard API (consumer.on('data')):
    a "payments" CONSUMER span, operation 'receive', child of the produce span. The delivery
    report belongs to the publish (it is the producer's callback, not a delivery to anyone):
    one publish and one delivery per message.
    Source: Drazke/instrumentation-confluent-kafka-javascript, src/instrumentation.ts
    (_patchProduce, _patchProducerOn, _patchOn); confluentinc/confluent-kafka-javascript
    lib/kafkajs/_producer.js (send: partition -1, opaque {resolve, reject},
    'delivery-report' listener)."""
    b = SpanSet()
    for i in range(N):
        t = i * 200
        root = _root(b, "checkout", "POST", "/payments", t, 12, 202)
        kafka = {"messaging.system": "kafka", "messaging.destination.name": "payments",
                 "messaging.kafka.message.key": f"pay-{i}"}
        produce = b.span("checkout", "payments", kind="PRODUCER", parent=root,
                         start_ms=t + 4, dur_ms=0.1,
                         attrs={**kafka, "messaging.destination.partition.id": "-1",
                                "messaging.operation.name": "produce",
                                "messaging.operation.type": "send"})
        b.span("checkout", "payments", kind="PRODUCER", parent=produce, start_ms=t + 9,
               dur_ms=0.05,
               attrs={**kafka, "messaging.operation.name": "delivery-report",
                      "messaging.operation.type": "deliver",
                      "messaging.destination.partition.id": "2",
                      "messaging.kafka.offset": str(1200 + i)})
        proc = b.span("payments", "payments", kind="CONSUMER", parent=produce,
                      start_ms=t + 14, dur_ms=6,
                      attrs={**kafka, "messaging.operation.name": "received",
                             "messaging.operation.type": "receive",
                             "messaging.kafka.offset": str(1200 + i),
                             "messaging.destination.partition.id": "2"})
        _pg(b, "payments", proc, t + 15, "charges")
    st = b.store()
    a = _analysed(st, {
        "service:checkout->topic:payments": ("publish", N),
        "topic:payments->service:payments": ("consume", N),
        "service:payments->external:postgresql": ("call", N),
    }, ["topic:payments->service:payments"])
    assert a.edge("topic:payments->service:payments")["p50_ms"] == 6.0
    assert _systems(a) == {"topic:payments": "kafka"}
    assert _flows(a) == [("checkout", N, 1.0)]


# ----------------------------------------------------------------------- NestJS microservices
# @opentelemetry/instrumentation-nestjs-core (open-telemetry/opentelemetry-js-contrib,
# packages/instrumentation-nestjs-core/src/instrumentation.ts, up to 0.59) wraps
# NestFactory.create and RouterExecutionContext.create only: HTTP controllers get an INTERNAL
# "<Controller>.<method>" span (nestjs.type request_context, http.route, nestjs.controller,
# nestjs.callback, http.method, http.url) and under it an INTERNAL "<method>" span (nestjs.type
# handler); @MessagePattern/@EventPattern handlers get nothing (issue #2510). Its successor
# @opentelemetry/instrumentation-nestjs (packages/instrumentation-nestjs/src/
# instrumentation.ts, utils.ts) also wraps ListenersController.registerPatternHandlers and
# RpcContextCreator.create: a message handler runs in an INTERNAL "<Controller>.<method>" span
# (nestjs.type message_context, nestjs.pattern, nestjs.transport = the server's transportId)
# with an INTERNAL "<method>" span (nestjs.type message_handler) under it, both in whatever
# context the transport's own instrumentation made current. Neither touches messaging
# attributes or propagation: that is the transport client's instrumentation.
NEST = ("nestjs-core", "nestjs")
NEST_VERSION = "10.4.15"
_NEST = {"component": "@nestjs/core", "nestjs.version": NEST_VERSION}


def _nest_http(b: SpanSet, service: str, root: SpanRef, controller: str, method: str,
               route: str, http_method: str, t: float, dur: float) -> SpanRef:
    """The request context and handler spans of an HTTP controller method; returns the
    handler's span (what its calls are children of)."""
    ctx = b.span(service, f"{controller}.{method}", parent=root, start_ms=t, dur_ms=dur,
                 attrs={**_NEST, "nestjs.type": "request_context", "http.route": route,
                        "nestjs.controller": controller, "nestjs.callback": method,
                        "http.method": http_method, "http.url": route})
    return b.span(service, method, parent=ctx, start_ms=t + 0.2, dur_ms=dur - 0.4,
                  attrs={**_NEST, "nestjs.type": "handler", "nestjs.callback": method})


def _nest_message(b: SpanSet, gen: str, service: str, parent: SpanRef | None,
                  controller: str, method: str, pattern: str, transport: str, t: float,
                  dur: float) -> SpanRef | None:
    """instrumentation-nestjs's message context and handler spans (nothing under
    nestjs-core); returns the handler's span, or None."""
    if gen != "nestjs":
        return None
    ctx = b.span(service, f"{controller}.{method}", parent=parent, start_ms=t, dur_ms=dur,
                 attrs={**_NEST, "nestjs.type": "message_context",
                        "nestjs.controller": controller, "nestjs.callback": method,
                        "nestjs.pattern": pattern, "nestjs.transport": transport})
    return b.span(service, method, parent=ctx, start_ms=t + 0.1, dur_ms=dur - 0.2,
                  attrs={**_NEST, "nestjs.type": "message_handler",
                         "nestjs.callback": method})


@pytest.mark.parametrize("gen", NEST)
def test_nestjs_kafka_transport_event_and_request_reply(gen: str):
    """A NestJS gateway with ClientKafka and an orders microservice with ServerKafka, both on
    kafkajs (loadPackage('kafkajs')), so the kafkajs instrumentation makes the messaging
    spans. client.emit('order.created') is a producer.send to the topic named by the pattern:
    "send order.created" under the HTTP handler; the server's eachMessage handler is
    "process order.created", its child. client.send('order.total') (request-reply) is
    "send order.total" with the kafka_correlationId/kafka_replyTopic/kafka_replyPartition
    headers; the server's "process order.total" ends once the handler's first value is
    in, and the reply, sent on the next tick with that span still current, is
    "send order.total.reply" (its partition set: the reply partition the client named); the
    gateway's response consumer (eachMessage on order.total.reply) is
    "process order.total.reply", child of the reply. Each HTTP request is one flow of one
    trace; the reply coming back to the gateway is a reply cycle of the map, not a loop.
    Source: nestjs/nest packages/microservices/client/client-kafka.ts (dispatchEvent,
    publish, getResponsePatternName, createResponseCallback), server/server-kafka.ts
    (handleMessage, sendMessage, assignReplyPartition), server/server.ts (send: respond on
    process.nextTick); open-telemetry/opentelemetry-js-contrib packages/
    instrumentation-kafkajs/src/instrumentation.ts, packages/instrumentation-nestjs-core and
    packages/instrumentation-nestjs (see NEST)."""
    b = SpanSet()
    for i in range(N):
        t = i * 400
        # the event
        root = _root(b, "gateway", "POST", "/orders", t, 30, 201)
        h = _nest_http(b, "gateway", root, "OrdersController", "create", "/orders", "POST",
                       t + 1, 28)
        send = _kjs_send(b, "gateway", h, "order.created", None, t + 3, 9)
        proc = _kjs_process(b, "orders-svc", send, "order.created", None, t + 20, 14,
                            offset=300 + i)
        mh = _nest_message(b, gen, "orders-svc", proc, "OrdersEventsController",
                           "handleOrderCreated", "order.created", "6", t + 20.5, 13)
        _pg(b, "orders-svc", mh or proc, t + 22, "orders")
        # the request and its reply
        t2 = t + 150
        root2 = _root(b, "gateway", "GET", "/orders/:id/total", t2, 40)
        h2 = _nest_http(b, "gateway", root2, "OrdersController", "total",
                        "/orders/:id/total", "GET", t2 + 1, 38)
        req = _kjs_send(b, "gateway", h2, "order.total", None, t2 + 3, 8)
        proc2 = _kjs_process(b, "orders-svc", req, "order.total", None, t2 + 14, 10,
                             offset=700 + i)
        mh2 = _nest_message(b, gen, "orders-svc", proc2, "OrdersRpcController", "total",
                            "order.total", "6", t2 + 14.5, 9)
        _pg_select(b, "orders-svc", mh2 or proc2, t2 + 16, "orders")
        reply = _kjs_send(b, "orders-svc", proc2, "order.total.reply", None, t2 + 24.2, 5,
                          partition=0)
        _kjs_process(b, "gateway", reply, "order.total.reply", None, t2 + 31, 0.4,
                     offset=40 + i)
    st = b.store()
    # the reply makes a cycle of the map, and so do the event and the reply together: the
    # map's cycles are its structure (gateway and orders-svc depend on each other both
    # ways), whichever flows their edges belong to; neither is a loop, and the two, through
    # the same services, are one reply finding with both paths
    paths = [("service:gateway -> topic:order.created -> service:orders-svc -> "
              "topic:order.total.reply -> service:gateway"),
             ("service:gateway -> topic:order.total -> service:orders-svc -> "
              "topic:order.total.reply -> service:gateway")]
    cycles = [("cycle", paths[0], N)]
    deliveries = ["topic:order.created->service:orders-svc",
                  "topic:order.total->service:orders-svc",
                  "topic:order.total.reply->service:gateway"]
    a = analyze(st)
    assert _edges(a) == {
        "service:gateway->topic:order.created": ("publish", N),
        "topic:order.created->service:orders-svc": ("consume", N),
        "service:gateway->topic:order.total": ("publish", N),
        "topic:order.total->service:orders-svc": ("consume", N),
        "service:orders-svc->topic:order.total.reply": ("publish", N),
        "topic:order.total.reply->service:gateway": ("consume", N),
        "service:orders-svc->external:postgresql": ("call", 2 * N),
    }, gen
    for d in deliveries:
        _assert_joined(a, d, N, 0)
    assert sorted((x["type"], x["where"], x["count"]) for x in a.anomalies) == cycles, gen
    assert all(x["loops"] == 0 for x in a.anomalies)
    assert a.anomalies[0]["paths"] == paths
    assert "2 paths between gateway and orders-svc" in a.anomalies[0]["detail"]
    assert a.anomalies[0]["edges"] == list(dict.fromkeys(
        ["service:gateway->topic:order.created", "topic:order.created->service:orders-svc",
         "service:orders-svc->topic:order.total.reply",
         "topic:order.total.reply->service:gateway", "service:gateway->topic:order.total",
         "topic:order.total->service:orders-svc"]))
    assert a.edge("topic:order.total.reply->service:gateway")["queue_p50_ms"] == 1.8
    assert _flows(a) == [("gateway", N, 1.0), ("gateway", N, 1.0)], gen


@pytest.mark.parametrize("gen", NEST)
def test_nestjs_rmq_transport_event_acked_on_arrival(gen: str):
    """ClientRMQ.emit('order.created') is channel.sendToQueue('orders_queue', ...) on an
    amqp-connection-manager ChannelWrapper, whose channel is a ConfirmChannel: the amqplib
    instrumentation's confirmed publish span "publish <default>" (exchange '', routing key
    the queue) lasts until the broker confirms. ServerRMQ consumes with noAck (NestJS'
    default RQM_DEFAULT_NOACK = true): the "orders_queue process" CONSUMER span, child of the
    publish, ends as soon as the (async) onMessage returns, before the handler's work; the
    handler's spans (instrumentation-nestjs's message spans, the database write) are its
    children that end after it. That short span (0.3 ms) is a mark, as Brave's: the
    delivery, like the business transaction, lasts until the handler is done.
    Source: nestjs/nest packages/microservices/client/client-rmq.ts (dispatchEvent),
    server/server-rmq.ts, constants.ts (RQM_DEFAULT_NOACK); jwalton/node-amqp-connection-
    manager src/ChannelWrapper.ts (confirm channel by default, _publishQueuedMessages);
    open-telemetry/opentelemetry-js-contrib packages/instrumentation-amqplib/src/amqplib.ts
    (getConfirmedPublishPatch, getConsumePatch: noAck ends the span after onMessage)."""
    b = SpanSet()
    for i in range(N):
        t = i * 300
        root = _root(b, "gateway", "POST", "/orders", t, 10, 201)
        h = _nest_http(b, "gateway", root, "OrdersController", "create", "/orders", "POST",
                       t + 1, 8)
        pub = b.span("gateway", "publish <default>", kind="PRODUCER", parent=h,
                     start_ms=t + 3, dur_ms=1.8,
                     attrs={**_CONN, "messaging.destination": "",
                            "messaging.destination_kind": "topic",
                            "messaging.rabbitmq.routing_key": "orders_queue"})
        proc = b.span("orders-svc", "orders_queue process", kind="CONSUMER", parent=pub,
                      start_ms=t + 6, dur_ms=0.3,
                      attrs={**_CONN, "messaging.destination": "",
                             "messaging.destination_kind": "topic",
                             "messaging.rabbitmq.routing_key": "orders_queue",
                             "messaging.operation": "process"})
        mh = _nest_message(b, gen, "orders-svc", proc, "OrdersEventsController",
                           "handleOrderCreated", "order.created", "5", t + 6.5, 12)
        _pg(b, "orders-svc", mh or proc, t + 8, "orders")
    st = b.store()
    a = _analysed(st, {
        "service:gateway->topic:amq.default": ("publish", N),
        "topic:amq.default->topic:orders_queue": ("route", N),
        "topic:orders_queue->service:orders-svc": ("consume", N),
        "service:orders-svc->external:postgresql": ("call", N),
    }, ["topic:orders_queue->service:orders-svc"])
    consume = a.edge("topic:orders_queue->service:orders-svc")
    assert (consume["p50_ms"], consume["queue_p50_ms"]) == \
        (12.5 if gen == "nestjs" else 5.0, 1.2), gen
    assert _systems(a) == {"topic:amq.default": "rabbitmq", "topic:orders_queue": "rabbitmq"}
    (flow,) = a.flows
    assert (flow["entry_service"], flow["count"]) == ("gateway", N)
    # from the request to the end of the handler's work, not to the early ack
    assert flow["e2e_p50_ms"] == (18.5 if gen == "nestjs" else 11.0), gen


@pytest.mark.parametrize("gen", NEST)
def test_nestjs_rmq_transport_request_reply_over_direct_reply_to(gen: str):
    """client.send('order.total') over RabbitMQ: ClientRMQ.publish is
    sendToQueue('orders_queue', ..., {replyTo: 'amq.rabbitmq.reply-to', correlationId}):
    "publish <default>" (routing key orders_queue, messaging.conversation_id the correlation
    id). The server's "orders_queue process" (noAck) runs the handler; its reply,
    sendToQueue(properties.replyTo, ..., {correlationId}) on the next tick, is another
    "publish <default>" whose routing key is the broker's direct reply-to name
    ('amq.rabbitmq.reply-to.<token>'), child of the process span. The client consumes
    'amq.rabbitmq.reply-to' (noAck): "amq.rabbitmq.reply-to process", exchange '', the same
    routing key, child of the reply. The request goes through the default exchange to
    orders_queue; the reply to the direct reply-to pseudo-queue, a temporary destination
    (a new name per channel), not a second delivery through the same node as the request. A
    reply cycle, one flow per request.
    Source: nestjs/nest packages/microservices/client/client-rmq.ts (publish, consumeChannel,
    REPLY_QUEUE), server/server-rmq.ts (handleMessage, sendMessage); open-telemetry/
    opentelemetry-js-contrib packages/instrumentation-amqplib/src/amqplib.ts
    (createPublishSpan: routing key, correlationId as conversation id; getConsumePatch)."""
    b = SpanSet()
    for i in range(N):
        t = i * 300
        corr = f"6b1f0c2e-{i:04d}"
        reply_to = f"amq.rabbitmq.reply-to.g1h2AA5yZXBseUAyNjk0MDU4{i}"
        root = _root(b, "gateway", "GET", "/orders/:id/total", t, 30)
        h = _nest_http(b, "gateway", root, "OrdersController", "total",
                       "/orders/:id/total", "GET", t + 1, 28)
        req = b.span("gateway", "publish <default>", kind="PRODUCER", parent=h,
                     start_ms=t + 3, dur_ms=1.5,
                     attrs={**_CONN, "messaging.destination": "",
                            "messaging.destination_kind": "topic",
                            "messaging.rabbitmq.routing_key": "orders_queue",
                            "messaging.conversation_id": corr})
        proc = b.span("orders-svc", "orders_queue process", kind="CONSUMER", parent=req,
                      start_ms=t + 5.5, dur_ms=0.3,
                      attrs={**_CONN, "messaging.destination": "",
                             "messaging.destination_kind": "topic",
                             "messaging.rabbitmq.routing_key": "orders_queue",
                             "messaging.operation": "process",
                             "messaging.conversation_id": corr})
        mh = _nest_message(b, gen, "orders-svc", proc, "OrdersRpcController", "total",
                           "order.total", "5", t + 6, 9)
        _pg_select(b, "orders-svc", mh or proc, t + 8, "orders")
        reply = b.span("orders-svc", "publish <default>", kind="PRODUCER", parent=proc,
                       start_ms=t + 15.2, dur_ms=1.2,
                       attrs={**_CONN, "messaging.destination": "",
                              "messaging.destination_kind": "topic",
                              "messaging.rabbitmq.routing_key": reply_to,
                              "messaging.conversation_id": corr})
        b.span("gateway", "amq.rabbitmq.reply-to process", kind="CONSUMER", parent=reply,
               start_ms=t + 17, dur_ms=0.2,
               attrs={**_CONN, "messaging.destination": "",
                      "messaging.destination_kind": "topic",
                      "messaging.rabbitmq.routing_key": reply_to,
                      "messaging.operation": "process", "messaging.conversation_id": corr})
    st = b.store()
    a = analyze(st)
    assert _edges(a) == {
        "service:gateway->topic:amq.default": ("publish", N),
        "topic:amq.default->topic:orders_queue": ("route", N),
        "topic:orders_queue->service:orders-svc": ("consume", N),
        "service:orders-svc->topic:(temporary:rabbitmq)": ("publish", N),
        "topic:(temporary:rabbitmq)->service:gateway": ("consume", N),
        "service:orders-svc->external:postgresql": ("call", N),
    }, gen
    _assert_joined(a, "topic:orders_queue->service:orders-svc", N, 0)
    _assert_joined(a, "topic:(temporary:rabbitmq)->service:gateway", N, 0)
    assert [(x["type"], x["count"], x["loops"]) for x in a.anomalies] == [("cycle", N, 0)]
    assert _flows(a) == [("gateway", N, 1.0)], gen


@pytest.mark.parametrize("gen", NEST)
def test_nestjs_redis_transport_carries_no_context(gen: str):
    """ClientRedis.emit('order.created') is a plain PUBLISH on ioredis: the ioredis
    instrumentation's "publish" CLIENT span (db.system redis, db.statement
    'publish order.created [1 other arguments]'); nothing is injected (a NestJS Redis packet
    has no headers). ServerRedis gets the message as a 'message' event of its subscriber
    connection, which sends no command: no span. Under instrumentation-nestjs the handler
    runs in a root "OrdersEventsController.handleOrderCreated" span; under nestjs-core its
    database query is a root span itself (instrumentation-pg does not require a parent). A
    call from the gateway to Redis, the worker's own work, no topic made up, nothing to
    join and nothing to report.
    Source: nestjs/nest packages/microservices/client/client-redis.ts, server/
    server-redis.ts; open-telemetry/opentelemetry-js-contrib packages/
    instrumentation-ioredis/src/instrumentation.ts (_traceSendCommand), packages/
    redis-common/src/index.ts (defaultDbStatementSerializer)."""
    b = SpanSet()
    for i in range(N):
        t = i * 300
        root = _root(b, "gateway", "POST", "/orders", t, 6, 201)
        h = _nest_http(b, "gateway", root, "OrdersController", "create", "/orders", "POST",
                       t + 1, 4)
        b.span("gateway", "publish", kind="CLIENT", parent=h, start_ms=t + 2, dur_ms=0.8,
               attrs={"db.system": "redis",
                      "db.statement": "publish order.created [1 other arguments]",
                      "db.connection_string": "redis://redis:6379",
                      "net.peer.name": "redis", "net.peer.port": 6379})
        mh = _nest_message(b, gen, "orders-svc", None, "OrdersEventsController",
                           "handleOrderCreated", "order.created", "1", t + 4, 10)
        _pg(b, "orders-svc", mh, t + 6, "orders")
    st = b.store()
    a = _analysed(st, {
        "service:gateway->external:redis": ("call", N),
        "service:orders-svc->external:postgresql": ("call", N),
    }, [])
    assert _systems(a) == {}


# ------------------------------------------------------------------------ AWS SDK v3: SNS, SQS
# open-telemetry/opentelemetry-js-contrib packages/instrumentation-aws-sdk/src/services/
# sns.ts: only Publish is a PRODUCER ("<topic name> send") and only Publish gets the context
# injected into its MessageAttributes (requestPostSpanHook); any other command, PublishBatch
# too, is a CLIENT "SNS <command>" span with messaging.system 'aws.sns' and
# aws.sns.topic.arn. services/MessageAttributes.ts extractPropagationContext: the SQS
# message's own MessageAttributes, else (only with sqsExtractContextPropagationFromPayload)
# the MessageAttributes of the SNS envelope in the body. With raw message delivery on, SNS
# copies its message attributes onto the SQS message; off, they travel only inside the body's
# envelope. services/sqs.ts (0.58+): ReceiveMessage sets messaging.batch.message_count (0 for
# an empty poll) and links only the messages whose context it found.
def _sqs_receive_no_context(b: SpanSet, gen: str, service: str, queue: str, t: float,
                            dur: float, message_ids: list[str],
                            handler_ms: float) -> list[SpanRef]:
    """A ReceiveMessage whose messages carry no context: new, one receive span saying how
    many it got and linking none; old, a "<queue> process" span per message under it, with
    no link. Returns the spans the handler's own spans hang under (old only)."""
    a = _sqs_attrs(gen, queue, "ReceiveMessage")
    a["aws.request.id"] = f"req-{t}"
    if gen == "old":
        a["messaging.operation"] = "receive"
        recv = b.span(service, f"{queue} receive", kind="CONSUMER", start_ms=t, dur_ms=dur,
                      attrs=a)
        return [b.span(service, f"{queue} process", kind="CONSUMER", parent=recv,
                       start_ms=t + dur + 0.2 + k * handler_ms, dur_ms=handler_ms,
                       attrs={"messaging.system": "aws.sqs", "messaging.destination": queue,
                              "messaging.destination_kind": "queue",
                              "messaging.message_id": mid,
                              "messaging.url": a["messaging.url"],
                              "messaging.operation": "process"})
                for k, mid in enumerate(message_ids)]
    a.update({"messaging.operation.type": "receive",
              "messaging.batch.message_count": len(message_ids)})
    b.span(service, f"{queue} receive", kind="CONSUMER", start_ms=t, dur_ms=dur, attrs=a)
    return []


@pytest.mark.parametrize("gen", AWS_SDK)
def test_node_aws_sdk_sns_to_sqs_without_raw_delivery_loses_the_context(gen: str):
    """SNS Publish (context injected into the SNS message attributes) to a topic a queue
    subscribes to with raw message delivery off, the consumer without
    sqsExtractContextPropagationFromPayload: the traceparent is inside the SNS envelope in
    the SQS body, the SQS message attributes are empty, so nothing is extracted. New: the
    receive span says it got one message and links none; old: its process span has no link.
    The worker long-polls; most polls come back empty (new: batch count 0; old: a receive
    span without process spans). The publish and the deliveries cannot be joined: a
    publish nobody is seen to consume and deliveries without a producer, N each, and no
    delivery for an empty poll.
    Source: open-telemetry/opentelemetry-js-contrib packages/instrumentation-aws-sdk/src/
    services/sns.ts, sqs.ts, MessageAttributes.ts (extractPropagationContext), packages/
    propagation-utils/src/pubsub-propagation.ts ("old")."""
    arn = f"arn:aws:sns:{REGION}:{ACCOUNT}:order-events"
    topic = "order-events"  # (named so by its ARN too)
    b = SpanSet()
    for i in range(N):
        t = i * 400
        root = _http_server(b, "checkout", "/orders", t, 50)
        _sns_publish(b, gen, "checkout", root, arn, t + 10, 30)
        for h in _sqs_receive_no_context(b, gen, "billing", "billing-orders", t + 60, 25,
                                         [f"sqs-{i}"], handler_ms=9):
            _pg(b, "billing", h, t + 87, "invoices")
        for k in range(2):  # empty polls before the next order
            _sqs_receive_no_context(b, gen, "billing", "billing-orders",
                                    t + 120 + 100 * k, 95, [], handler_ms=0)
    st = b.store()
    edges = {
        f"service:checkout->topic:{topic}": ("publish", N),
        "topic:billing-orders->service:billing": ("consume", N),
    }
    if gen == "old":
        edges["service:billing->external:postgresql"] = ("call", N)
    a = _analysed(st, edges, [], anomalies=[
        ("consumer_without_producer", "topic:billing-orders->service:billing", N),
        ("published_never_consumed", f"topic:{topic}", N)])
    _assert_joined(a, "topic:billing-orders->service:billing", 0, N)
    sqs = "aws.sqs" if gen == "old" else "aws_sqs"
    assert _systems(a) == {f"topic:{topic}": "aws.sns", "topic:billing-orders": sqs}, gen
    # (the deliveries without a producer name the SNS topic they most likely came from)
    (orphan,) = [x for x in a.anomalies if x["type"] == "consumer_without_producer"]
    assert orphan["maybe_from"] == [f"topic:{topic}"]
    assert "raw message delivery" in orphan["detail"]


def test_node_aws_sdk_sns_publish_batch_is_a_publish_without_context():
    """Two publishers to one SNS topic, raw message delivery on: the orders service's
    Publish (a PRODUCER "order-events send", context in the message attributes, copied onto
    the SQS message) and a reconciler's PublishBatch of three entries, which sns.ts leaves a
    CLIENT "SNS PublishBatch" span (messaging.system aws.sns, aws.sns.topic.arn, no
    destination name, nothing injected). billing's receive of a Publish message links it;
    its receive of the three batch entries links nothing and says it got three. One topic
    (the ARN, however each span names it), routed to the queue; the batch's deliveries lost
    their context on a queue that does have producers.
    Source: open-telemetry/opentelemetry-js-contrib packages/instrumentation-aws-sdk/src/
    services/sns.ts (requestPreSpanHook, requestPostSpanHook: Publish only), sqs.ts,
    aws-sdk.ts and utils.ts (rpc.* and cloud.region on every SDK span)."""
    arn = f"arn:aws:sns:{REGION}:{ACCOUNT}:order-events"
    b = SpanSet()
    for i in range(N):
        t = i * 500
        root = _http_server(b, "orders", "/orders", t, 50)
        pub = _sns_publish(b, "new", "orders", root, arn, t + 10, 30)
        _sqs_receive(b, "new", "billing", "billing-orders", t + 70, 20, [(f"sqs-{i}", pub)],
                     handler_ms=9)
        t2 = t + 200
        rec = _http_server(b, "reconciler", "/reconcile", t2, 60)
        b.span("reconciler", "SNS PublishBatch", kind="CLIENT", parent=rec, start_ms=t2 + 5,
               dur_ms=40,
               attrs={"rpc.system": "aws-api", "rpc.service": "SNS",
                      "rpc.method": "PublishBatch", "cloud.region": REGION,
                      "messaging.system": "aws.sns", "aws.sns.topic.arn": arn,
                      "aws.request.id": f"req-b{i}", "http.status_code": 200})
        _sqs_receive_no_context(b, "new", "billing", "billing-orders", t2 + 80, 20,
                                [f"sqs-b{i}-{k}" for k in range(3)], handler_ms=5)
    st = b.store()
    a = _analysed(st, {
        "service:orders->topic:order-events": ("publish", N),
        "service:reconciler->topic:order-events": ("publish", N),
        "topic:order-events->topic:billing-orders": ("route", N),
        "topic:billing-orders->service:billing": ("consume", 2 * N),
    }, [], anomalies=[("broken_context", "topic:billing-orders->service:billing", N),
                      ("published_never_consumed", "topic:order-events", N)])
    consume = a.edge("topic:billing-orders->service:billing")
    assert consume["joined_by"] == {"context": N, "message_id": 0, "none": N, "outside": 0}
    # (the producer messages its deliveries were joined to: the Publish ones)
    assert consume["message_count"] == N
    assert _systems(a) == {"topic:order-events": "aws.sns", "topic:billing-orders": "aws_sqs"}


@pytest.mark.parametrize("gen", AWS_SDK)
def test_node_aws_sdk_eventbridge_rule_to_an_sqs_queue(gen: str):
    """PutEvents to EventBridge (no service extension: a CLIENT "EventBridge.PutEvents"
    with rpc.*, nothing injected, and the http instrumentation's HTTPS request to the
    regional endpoint under it) whose rule targets an SQS queue: the SQS message's body is
    the event, with no message attributes, so even sqsExtractContextPropagationFromPayload
    finds none (the event has no MessageAttributes). The fulfilment worker's receive (new)
    or process span (old) links nothing. A call to EventBridge, deliveries from the queue
    without a producer: the context cannot travel this way.
    Source: open-telemetry/opentelemetry-js-contrib packages/instrumentation-aws-sdk/src/
    services/ (ServicesExtensions.ts: no EventBridge), services/sqs.ts,
    MessageAttributes.ts."""
    host = f"events.{REGION}.amazonaws.com"
    b = SpanSet()
    for i in range(N):
        t = i * 500
        root = _http_server(b, "orders", "/orders", t, 45)
        put = b.span("orders", "EventBridge.PutEvents", kind="CLIENT", parent=root,
                     start_ms=t + 8, dur_ms=25,
                     attrs={"rpc.system": "aws-api", "rpc.service": "EventBridge",
                            "rpc.method": "PutEvents",
                            "cloud.region" if gen == "new" else "aws.region": REGION,
                            "aws.request.id": f"req-{i}", "http.status_code": 200})
        b.span("orders", "POST", kind="CLIENT", parent=put, start_ms=t + 9, dur_ms=23,
               attrs={"http.url": f"https://{host}/", "http.method": "POST",
                      "http.target": "/", "net.peer.name": host, "http.host": f"{host}:443",
                      "net.peer.port": 443, "http.status_code": 200, "http.flavor": "1.1"})
        for h in _sqs_receive_no_context(b, gen, "fulfilment", "order-events-queue",
                                         t + 90, 30, [f"sqs-{i}"], handler_ms=12):
            _pg(b, "fulfilment", h, t + 122, "shipments")
    st = b.store()
    edges = {
        f"service:orders->external:{host}": ("call", N),
        "topic:order-events-queue->service:fulfilment": ("consume", N),
    }
    if gen == "old":
        edges["service:fulfilment->external:postgresql"] = ("call", N)
    a = _analysed(st, edges, [], anomalies=[
        ("consumer_without_producer", "topic:order-events-queue->service:fulfilment", N)])
    _assert_joined(a, "topic:order-events-queue->service:fulfilment", 0, N)
    assert edge_detail(st, f"service:orders->external:{host}")["count"] == N
