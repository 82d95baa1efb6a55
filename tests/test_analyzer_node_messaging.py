"""Span shapes of Node.js messaging instrumentation, each read from the library's source and
its own tests: @opentelemetry/instrumentation-kafkajs (and Aspecto's
opentelemetry-instrumentation-kafkajs it was donated from) and
@opentelemetry/instrumentation-amqplib (and Aspecto's original). Each test builds exactly the
spans the library exports for a small scenario, in every attribute generation the library
has shipped, and checks what the analyzer makes of them."""

from __future__ import annotations

from analyzer import analyze
from tests.analysis_checks import analysed_each as _analysed
from tests.analysis_checks import systems_of as _systems
from tests.builders import SpanRef, SpanSet

N = 3

# kafkajs instrumentation generations:
#  "old": Aspecto's opentelemetry-instrumentation-kafkajs (aspecto-io/opentelemetry-ext-js,
#         packages/instrumentation-kafkajs/src/kafkajs.ts) and @opentelemetry's up to 0.8
#         (open-telemetry/opentelemetry-js-contrib, plugins/node/instrumentation-kafkajs/src/
#         instrumentation.ts): every span is named after the topic alone, messaging.destination
#         + messaging.destination_kind=topic, messaging.operation only on consumer spans, the
#         batch's receive span a CONSUMER.
#  "new": @opentelemetry 0.9+ ("update semantic conventions", packages/instrumentation-kafkajs/
#         src/instrumentation.ts): "send <topic>" / "process <topic>" / "poll <topic>" (a
#         CLIENT), messaging.destination.name, messaging.operation.type/name,
#         messaging.destination.partition.id, messaging.kafka.message.key, messaging.kafka.offset.
KAFKAJS = ("old", "new")


def _pg(b: SpanSet, service: str, parent: SpanRef, t: float, table: str) -> SpanRef:
    """@opentelemetry/instrumentation-pg's query span (old attribute names)."""
    return b.span(service, f"pg.query:INSERT {table}", kind="CLIENT", parent=parent,
                  start_ms=t, dur_ms=3,
                  attrs={"db.system": "postgresql", "db.name": "shop",
                         "db.statement": f"INSERT INTO {table} VALUES ($1, $2)",
                         "net.peer.name": "postgres", "net.peer.port": 5432})


# ------------------------------------------------------------------------------- kafkajs
def _kafkajs_send(b: SpanSet, gen: str, service: str, parent: SpanRef, topic: str, key: str,
                  t: float, dur: float) -> SpanRef:
    """One PRODUCER span per message of a producer.send()/sendBatch() call, in the caller's
    context, ended when the broker acknowledged the whole call (_startProducerSpan)."""
    if gen == "old":
        return b.span(service, topic, kind="PRODUCER", parent=parent, start_ms=t, dur_ms=dur,
                      attrs={"messaging.system": "kafka", "messaging.destination": topic,
                             "messaging.destination_kind": "topic"})
    return b.span(service, f"send {topic}", kind="PRODUCER", parent=parent, start_ms=t,
                  dur_ms=dur,
                  attrs={"messaging.system": "kafka", "messaging.destination.name": topic,
                         "messaging.kafka.message.key": key,
                         "messaging.operation.name": "send",
                         "messaging.operation.type": "send"})


def _kafkajs_consumer(b: SpanSet, gen: str, service: str, topic: str, op: str, t: float,
                      dur: float, parent: SpanRef | None = None,
                      links: list[SpanRef] | None = None, key: str | None = None,
                      offset: int | None = None, partition: int = 0,
                      count: int | None = None) -> SpanRef:
    """_startConsumerSpan: op 'process' (a message) or 'receive' (an eachBatch batch)."""
    if gen == "old":
        return b.span(service, topic, kind="CONSUMER", parent=parent, start_ms=t, dur_ms=dur,
                      links=links or [],
                      attrs={"messaging.system": "kafka", "messaging.destination": topic,
                             "messaging.destination_kind": "topic",
                             "messaging.operation": op})
    name = "poll" if op == "receive" else op
    return b.span(service, f"{name} {topic}", kind="CLIENT" if op == "receive" else "CONSUMER",
                  parent=parent, start_ms=t, dur_ms=dur, links=links or [],
                  attrs={"messaging.system": "kafka", "messaging.destination.name": topic,
                         "messaging.destination.partition.id": str(partition),
                         "messaging.operation.type": op, "messaging.operation.name": name,
                         "messaging.kafka.message.key": key,
                         "messaging.kafka.offset": None if offset is None else str(offset),
                         "messaging.batch.message_count": count})


def test_kafkajs_each_message_process_span_is_the_child_of_its_send():
    """consumer.run({eachMessage}): the instrumentation extracts the message headers and
    starts a CONSUMER "process <topic>" span (old: "<topic>") with the send span as its
    parent, runs the handler inside it and ends it when the handler's promise settles: one
    delivery per message, in the producer's trace, lasting as long as the handler."""
    for gen in KAFKAJS:
        b = SpanSet()
        for i in range(N):
            t = i * 200
            root = b.span("checkout", "POST /orders", kind="SERVER", start_ms=t, dur_ms=30,
                          attrs={"http.method": "POST", "http.target": "/orders",
                                 "http.status_code": 201})
            send = _kafkajs_send(b, gen, "checkout", root, "orders", f"order-{i}", t + 20, 6)
            proc = _kafkajs_consumer(b, gen, "billing", "orders", "process", t + 35, 14,
                                     parent=send, key=f"order-{i}", offset=100 + i)
            _pg(b, "billing", proc, t + 40, "invoices")
        st = b.store()
        a = _analysed(st, {
            "service:checkout->topic:orders": ("publish", N),
            "topic:orders->service:billing": ("consume", N),
            "service:billing->external:postgresql": ("call", N),
        }, ["topic:orders->service:billing"])
        consume = a.edge("topic:orders->service:billing")
        assert (consume["p50_ms"], consume["queue_p50_ms"]) == (14.0, 9.0), gen
        assert _systems(a) == {"topic:orders": "kafka"}
        assert [(f["entry_service"], f["count"], f["e2e_p50_ms"]) for f in a.flows] == \
            [("checkout", N, 49.0)], gen


def test_kafkajs_each_batch_poll_with_a_linked_process_span_per_message():
    """consumer.run({eachBatch}): a "poll <topic>" CLIENT span (old: a "<topic>" CONSUMER
    span, messaging.operation=receive) started in ROOT_CONTEXT, i.e. a new trace, and under
    it one "process <topic>" CONSUMER span per message, each linked (not parented) to its
    message's send span. All of them start before the handler and end together when the
    handler's promise settles; the handler runs with the poll span active, so its own spans
    (a database write per batch here) are children of the poll. Two orders per batch: each
    message is one delivery joined by its link, the poll is not a delivery of its own."""
    for gen in KAFKAJS:
        b = SpanSet()
        sends = []
        for i in range(2 * N):
            t = i * 100
            root = b.span("checkout", "POST /orders", kind="SERVER", start_ms=t, dur_ms=30,
                          attrs={"http.method": "POST", "http.target": "/orders",
                                 "http.status_code": 201})
            sends.append((t, _kafkajs_send(b, gen, "checkout", root, "orders", f"order-{i}",
                                           t + 20, 6)))
        for k in range(N):
            batch = sends[2 * k:2 * k + 2]
            t = batch[-1][0] + 40  # fetched after the second send was acknowledged
            poll = _kafkajs_consumer(b, gen, "billing", "orders", "receive", t, 20,
                                     count=len(batch))
            for j, (_, send) in enumerate(batch):
                _kafkajs_consumer(b, gen, "billing", "orders", "process", t + 0.1, 19.9,
                                  parent=poll, links=[send], key=f"order-{2 * k + j}",
                                  offset=100 + 2 * k + j)
            _pg(b, "billing", poll, t + 5, "invoices")
        st = b.store()
        a = _analysed(st, {
            "service:checkout->topic:orders": ("publish", 2 * N),
            "topic:orders->service:billing": ("consume", 2 * N),
            "service:billing->external:postgresql": ("call", N),
        }, ["topic:orders->service:billing"])
        consume = a.edge("topic:orders->service:billing")
        assert consume["message_count"] == 2 * N, gen
        assert consume["p50_ms"] == 19.9, gen  # a process span, not the poll around it
        assert _systems(a) == {"topic:orders": "kafka"}
        flows = {f["entry_service"]: f for f in a.flows}
        assert flows["checkout"]["count"] == 2 * N, gen
        # a poll that brought two orders is where their transactions meet: its trace is a
        # flow of its own, not a merge of the two orders
        assert flows["billing"]["count"] == N, gen


# ------------------------------------------------------------------------------- amqplib
# amqplib instrumentation generations (producer span name; the consumer's is "<queue> process"):
#  "aspecto": Aspecto's original (aspecto-io/opentelemetry-ext-js,
#             packages/instrumentation-amqplib/src/amqplib.ts, utils.ts):
#             "<exchange|<default>> -> <routing key> send", destination_kind 'queue' for the
#             default exchange.
#  "contrib-0.3x": @opentelemetry's first releases (plugins/node/instrumentation-amqplib/src/
#             amqplib.ts): the same name, destination_kind always 'topic', messaging.message_id
#             and messaging.conversation_id from the publish options.
#  "contrib": @opentelemetry's current default (packages/instrumentation-amqplib/src/
#             amqplib.ts): "publish <exchange|<default>>", the same old attribute names.
# All of them: messaging.destination = the exchange ('' for the default one),
# messaging.rabbitmq.routing_key, and the connection's messaging.system (the broker's
# product, lower-cased), messaging.protocol(_version), messaging.url, net.peer.name/port; the
# consumer span's parent is the publish span (headers extracted), and the consumer span ends
# when the message is acked (or nacked/rejected: then with an error status), not when the
# handler returns. useLinksForConsume (contrib) makes it a root linked to the publish instead.
AMQPLIB = ("aspecto", "contrib-0.3x", "contrib", "contrib-links")
_CONN = {"messaging.system": "rabbitmq", "messaging.protocol": "AMQP",
         "messaging.protocol_version": "0.9.1", "messaging.url": "amqp://shop:***@rabbitmq:5672",
         "net.peer.name": "rabbitmq", "net.peer.port": 5672}


def _amqplib_publish(b: SpanSet, gen: str, service: str, parent: SpanRef, exchange: str,
                     key: str, t: float, message_id: str | None = None) -> SpanRef:
    """channel.publish()/sendToQueue(): a PRODUCER span ended as soon as the message is
    written to the channel's buffer (createPublishSpan)."""
    shown = exchange or "<default>"
    name = f"{shown} -> {key} send" if gen in ("aspecto", "contrib-0.3x") else f"publish {shown}"
    attrs = {**_CONN, "messaging.destination": exchange,
             "messaging.destination_kind": "queue" if gen == "aspecto" and not exchange
             else "topic",
             "messaging.rabbitmq.routing_key": key}
    if gen != "aspecto":
        attrs["messaging.message_id"] = message_id
    return b.span(service, name, kind="PRODUCER", parent=parent, start_ms=t, dur_ms=0.2,
                  attrs=attrs)


def _amqplib_consume(b: SpanSet, gen: str, service: str, queue: str, publish: SpanRef,
                     exchange: str, key: str, t: float, until_ack: float,
                     message_id: str | None = None, status: str = "UNSET") -> SpanRef:
    """The patched onMessage: a CONSUMER "<queue> process" span, ended by channel.ack()."""
    attrs = {**_CONN, "messaging.destination": exchange,
             "messaging.destination_kind": "queue" if gen == "aspecto" and not exchange
             else "topic",
             "messaging.rabbitmq.routing_key": key, "messaging.operation": "process"}
    if gen != "aspecto":
        attrs["messaging.message_id"] = message_id
    links = gen == "contrib-links"
    return b.span(service, f"{queue} process", kind="CONSUMER",
                  parent=None if links else publish, links=[publish] if links else [],
                  start_ms=t, dur_ms=until_ack, status=status, attrs=attrs)


def test_amqplib_named_exchange_fans_out_to_two_queues():
    """channel.publish('orders', 'order.created', ...) to a topic exchange with two queues
    bound: billing and audit each consume a copy from their own queue. The consumer spans
    name the exchange (not the queue: only the span name has it), so the exchange is the
    topic both deliveries come from. The span lasts until the handler's ack; one delivery
    the billing handler nacked (requeue) came again and was acked: a redelivery, not a
    second message, and its failed attempt an error."""
    for gen in AMQPLIB:
        b = SpanSet()
        for i in range(N):
            t = i * 200
            root = b.span("shop", "POST /orders", kind="SERVER", start_ms=t, dur_ms=12,
                          attrs={"http.method": "POST", "http.target": "/orders",
                                 "http.status_code": 202})
            pub = _amqplib_publish(b, gen, "shop", root, "orders", "order.created", t + 8,
                                   message_id=f"msg-{i}")
            if i == 0:  # nack(msg, false, true): ended with an error, the broker redelivers
                _amqplib_consume(b, gen, "billing", "billing-orders", pub, "orders",
                                 "order.created", t + 10, 4, message_id=f"msg-{i}",
                                 status="ERROR")
                t += 10
            proc = _amqplib_consume(b, gen, "billing", "billing-orders", pub, "orders",
                                    "order.created", t + 10, 15, message_id=f"msg-{i}")
            _pg(b, "billing", proc, t + 12, "invoices")
            _amqplib_consume(b, gen, "audit", "audit-orders", pub, "orders", "order.created",
                             t + 11, 2, message_id=f"msg-{i}")
        st = b.store()
        a = _analysed(st, {
            "service:shop->topic:orders": ("publish", N),
            "topic:orders->service:billing": ("consume", N + 1),
            "topic:orders->service:audit": ("consume", N),
            "service:billing->external:postgresql": ("call", N),
        }, ["topic:orders->service:billing", "topic:orders->service:audit"],
            [("redelivery", "topic:orders->service:billing", 1)])
        billing = a.edge("topic:orders->service:billing")
        assert billing["error_count"] == 1, gen
        assert billing["p50_ms"] == 15.0, gen  # until the ack
        assert a.edge("topic:orders->service:audit")["queue_p50_ms"] == 2.8, gen
        assert _systems(a) == {"topic:orders": "rabbitmq"}, gen
        assert [(f["entry_service"], f["count"]) for f in a.flows] == [("shop", N)], gen


def test_amqplib_default_exchange_send_to_queue():
    """channel.sendToQueue('emails', ...) publishes through the default exchange: the
    publish names exchange '' (span "<default> -> emails send" / "publish <default>") with the
    queue as routing key, and so does the consumer's "emails process" span. That is
    RabbitMQ's amq.default exchange, not a span without a destination, which routes each
    message to the queue its routing key names: a delivery from it is from that queue. A
    second queue (invoices), consumed by another service, goes through the same exchange
    and is a node of its own."""
    for gen in AMQPLIB:
        b = SpanSet()
        for i in range(N):
            t = i * 200
            root = b.span("shop", "POST /orders", kind="SERVER", start_ms=t, dur_ms=12,
                          attrs={"http.method": "POST", "http.target": "/orders",
                                 "http.status_code": 202})
            for k, (queue, svc) in enumerate((("emails", "mailer"), ("invoices", "billing"))):
                pub = _amqplib_publish(b, gen, "shop", root, "", queue, t + 5 + k)
                _amqplib_consume(b, gen, svc, queue, pub, "", queue, t + 9 + k, 6)
        st = b.store()
        a = _analysed(st, {
            "service:shop->topic:amq.default": ("publish", 2 * N),
            "topic:amq.default->topic:emails": ("route", N),
            "topic:amq.default->topic:invoices": ("route", N),
            "topic:emails->service:mailer": ("consume", N),
            "topic:invoices->service:billing": ("consume", N),
        }, ["topic:emails->service:mailer", "topic:invoices->service:billing"])
        assert a.edge("topic:emails->service:mailer")["queue_p50_ms"] == 3.8, gen
        assert _systems(a) == {"topic:amq.default": "rabbitmq", "topic:emails": "rabbitmq",
                               "topic:invoices": "rabbitmq"}, gen
        assert [(f["entry_service"], f["count"]) for f in a.flows] == [("shop", N)], gen



def test_amqplib_default_exchange_without_context_is_joined_by_message_id():
    """The same sends with the SDK's propagator missing: every delivery from a queue is the
    root of its own trace. Its message id joins it to the publish to amq.default, the
    exchange that routes to every queue (no delivery with its context has to show that
    route first), and each such delivery is reported as having lost its context."""
    b = SpanSet()
    for i in range(N):
        t = i * 200
        root = b.span("shop", "POST /orders", kind="SERVER", start_ms=t, dur_ms=12)
        for k, (queue, svc) in enumerate((("emails", "mailer"), ("invoices", "billing"))):
            mid = f"{queue}-{i}"
            _amqplib_publish(b, "contrib", "shop", root, "", queue, t + 5 + k, mid)
            b.span(svc, f"{queue} process", kind="CONSUMER", start_ms=t + 9 + k, dur_ms=6,
                   attrs={**_CONN, "messaging.destination": "",
                          "messaging.destination_kind": "topic",
                          "messaging.rabbitmq.routing_key": queue,
                          "messaging.operation": "process", "messaging.message_id": mid})
    a = analyze(b.store())
    assert {e["id"]: (e["type"], e["count"]) for e in a.edges} == {
        "service:shop->topic:amq.default": ("publish", 2 * N),
        "topic:amq.default->topic:emails": ("route", N),
        "topic:amq.default->topic:invoices": ("route", N),
        "topic:emails->service:mailer": ("consume", N),
        "topic:invoices->service:billing": ("consume", N),
    }
    for d in ("topic:emails->service:mailer", "topic:invoices->service:billing"):
        assert a.edge(d)["joined_by"] == {"context": 0, "message_id": N, "none": 0,
                                          "outside": 0}, d
    assert sorted((x["type"], x["where"]) for x in a.anomalies) == [
        ("broken_context", "topic:emails->service:mailer"),
        ("broken_context", "topic:invoices->service:billing")]


def test_amqplib_stable_semconv_destination_is_exchange_routing_key_and_queue():
    """With OTEL_SEMCONV_STABILITY_OPT_IN=messaging (packages/instrumentation-amqplib/test/
    amqplib-promise-stable.test.ts, "topic exchange"): "publish <exchange>:<routing key>"
    PRODUCER spans whose messaging.destination.name is '<exchange>:<routing key>' and
    "consume <exchange>:<routing key>:<queue>" CONSUMER spans (children of the publish),
    messaging.operation.type send/process, messaging.operation.name publish/consume,
    messaging.rabbitmq.destination.routing_key, messaging.rabbitmq.message.delivery_tag,
    network.* and server.*. The shop publishes two event types to the orders topic exchange,
    and billing's one queue (bound with '#') receives both. Those composite names are one
    exchange and one queue, not a topic per routing key and a queue per binding: the publish
    goes to the exchange and is routed to the queue the consumer names (as the Java agent's
    RabbitMQ spans are read)."""
    conn = {"messaging.system": "rabbitmq", "network.protocol.name": "AMQP",
            "network.protocol.version": "0.9.1", "network.peer.address": "rabbitmq",
            "network.peer.port": 5672, "server.address": "rabbitmq", "server.port": 5672,
            "messaging.message.body.size": 184}
    b = SpanSet()
    tag = 0
    for i in range(N):
        t = i * 200
        root = b.span("shop", "POST /orders", kind="SERVER", start_ms=t, dur_ms=12,
                      attrs={"http.request.method": "POST", "http.route": "/orders",
                             "http.response.status_code": 202})
        for k, key in enumerate(("order.created", "order.paid")):
            pub = b.span("shop", f"publish orders:{key}", kind="PRODUCER", parent=root,
                         start_ms=t + 5 + k, dur_ms=0.2,
                         attrs={**conn, "messaging.operation.type": "send",
                                "messaging.operation.name": "publish",
                                "messaging.destination.name": f"orders:{key}",
                                "messaging.rabbitmq.destination.routing_key": key})
            tag += 1
            b.span("billing", f"consume orders:{key}:billing-orders", kind="CONSUMER",
                   parent=pub, start_ms=t + 9 + 10 * k, dur_ms=6,
                   attrs={**conn, "messaging.operation.type": "process",
                          "messaging.operation.name": "consume",
                          "messaging.destination.name": f"orders:{key}:billing-orders",
                          "messaging.rabbitmq.destination.routing_key": key,
                          "messaging.rabbitmq.message.delivery_tag": tag})
    st = b.store()
    a = _analysed(st, {
        "service:shop->topic:orders": ("publish", 2 * N),
        "topic:orders->topic:billing-orders": ("route", 2 * N),
        "topic:billing-orders->service:billing": ("consume", 2 * N),
    }, ["topic:billing-orders->service:billing"])
    assert _systems(a) == {"topic:orders": "rabbitmq", "topic:billing-orders": "rabbitmq"}
    assert [(f["entry_service"], f["count"]) for f in a.flows] == [("shop", N)]
