"""Span shapes of the OpenTelemetry Java agent (2.x) beyond its plain Kafka, JMS and
RabbitMQ clients: Kafka Streams, RocketMQ (the 4.x remoting client and the 5.x gRPC client)
and Spring Integration (in-process channels, Spring Cloud Stream's Rabbit binder), each read
from open-telemetry/opentelemetry-java-instrumentation (instrumentation/..., the library's
code and its own tests). Each test builds exactly the spans the agent exports with its
default settings (old messaging conventions: ``messaging.operation`` publish/receive/process,
span names "<destination> <operation>"), unless the test says which setting it turns on,
and checks what the analyzer makes of them."""

from __future__ import annotations

from typing import Any

from analyzer import analyze, edge_detail, flow_for_trace
from tests.analysis_checks import analysed as _analysed
from tests.analysis_checks import analysed_each as _analysed_each
from tests.analysis_checks import flows_of as _flows
from tests.analysis_checks import systems_of as _systems
from tests.builders import SpanRef, SpanSet

N = 3

# ---------------------------------------------------------------------------- Kafka Streams
# Read in instrumentation/kafka/kafka-streams-0.11/javaagent: v0_11/PartitionGroupInstrumentation
# (starts the "<topic> process" CONSUMER span when the stream task takes the next record off
# its partition group: its parent is the kafka-clients receive span stored on the record when
# receive telemetry is on, else the context extracted from the record's headers),
# StreamTaskInstrumentation (ends it when StreamTask.process returns: the topology's sink
# has handed the output record to the producer inside it, so the kafka-clients "<topic>
# publish" is its child), KafkaStreamsSingletons (the kafka-clients consumer process
# instrumenter; receive telemetry follows
# otel.instrumentation.messaging.experimental.receive-telemetry.enabled, default false:
# ExperimentalConfig), and the tests KafkaStreamsSuppressReceiveSpansTest (the default: one
# trace, publish -> process -> publish -> process, each a child) and KafkaStreamsDefaultTest
# (receive telemetry on: the receive spans are roots, each process a child of its receive
# linking its producer). otel.instrumentation.kafka.experimental-span-attributes only adds
# kafka.record.queue_time_ms (and messaging.kafka.bootstrap.servers on the producer): it
# changes no parent or link.


def _kafka(topic: str, op: str, client: str, offset: int, **extra: Any) -> dict[str, Any]:
    return {"messaging.system": "kafka", "messaging.destination.name": topic,
            "messaging.operation": op, "messaging.client_id": client,
            "messaging.kafka.cluster.id": "Hq3XbN1-TgOp5k0D1JqZbw",
            "messaging.destination.partition.id": "0",
            "messaging.kafka.message.offset": offset, **extra}


def _kafka_streams(b: SpanSet, receive_telemetry: bool) -> list[SpanRef]:
    """orders (HTTP) publishes to orders-pending; the Kafka Streams app 'enricher'
    (application.id enricher: its consumer group) maps each record to orders-enriched;
    'shipping' consumes that with a plain KafkaConsumer (group shipping). Returns the
    HTTP roots."""
    roots = []
    for i in range(N):
        t = i * 100
        key = {"messaging.kafka.message.key": f"order-{i}"}
        root = b.span("orders", "POST /orders", kind="SERVER", start_ms=t, dur_ms=12,
                      attrs={"http.request.method": "POST", "http.route": "/orders"})
        roots.append(root)
        pub_a = b.span("orders", "orders-pending publish", kind="PRODUCER", parent=root,
                       start_ms=t + 2, dur_ms=6,
                       attrs=_kafka("orders-pending", "publish", "producer-1", 40 + i, **key))
        proc_attrs = _kafka("orders-pending", "process",
                            "enricher-5b1c-StreamThread-1-consumer", 40 + i,
                            **key, **{"messaging.message.body.size": 118,
                                      "messaging.kafka.consumer.group": "enricher"})
        if receive_telemetry:
            recv = b.span("enricher", "orders-pending receive", kind="CONSUMER",
                          start_ms=t + 14, dur_ms=1.5,
                          attrs={"messaging.system": "kafka",
                                 "messaging.destination.name": "orders-pending",
                                 "messaging.operation": "receive",
                                 "messaging.client_id": "enricher-5b1c-StreamThread-1-consumer",
                                 "messaging.kafka.cluster.id": "Hq3XbN1-TgOp5k0D1JqZbw",
                                 "messaging.kafka.consumer.group": "enricher",
                                 "messaging.batch.message_count": 1})
            proc = b.span("enricher", "orders-pending process", kind="CONSUMER", parent=recv,
                          start_ms=t + 16, dur_ms=5, links=[pub_a], attrs=proc_attrs)
        else:
            proc = b.span("enricher", "orders-pending process", kind="CONSUMER", parent=pub_a,
                          start_ms=t + 16, dur_ms=5, attrs=proc_attrs)
        # the sink's send: the producer span ends on the broker's acknowledgement, after
        # StreamTask.process has returned
        pub_b = b.span("enricher", "orders-enriched publish", kind="PRODUCER", parent=proc,
                       start_ms=t + 19, dur_ms=6,
                       attrs=_kafka("orders-enriched", "publish",
                                    "enricher-5b1c-StreamThread-1-producer", 70 + i))
        ship = _kafka("orders-enriched", "process", "consumer-shipping-1", 70 + i, **key,
                      **{"messaging.message.body.size": 131,
                         "messaging.kafka.consumer.group": "shipping"})
        if receive_telemetry:
            recv = b.span("shipping", "orders-enriched receive", kind="CONSUMER",
                          start_ms=t + 40, dur_ms=2,
                          attrs={"messaging.system": "kafka",
                                 "messaging.destination.name": "orders-enriched",
                                 "messaging.operation": "receive",
                                 "messaging.client_id": "consumer-shipping-1",
                                 "messaging.kafka.cluster.id": "Hq3XbN1-TgOp5k0D1JqZbw",
                                 "messaging.kafka.consumer.group": "shipping",
                                 "messaging.batch.message_count": 1})
            work = b.span("shipping", "orders-enriched process", kind="CONSUMER", parent=recv,
                          start_ms=t + 43, dur_ms=10, links=[pub_b], attrs=ship)
        else:
            work = b.span("shipping", "orders-enriched process", kind="CONSUMER",
                          parent=pub_b, start_ms=t + 43, dur_ms=10, attrs=ship)
        b.client_call("shipping", None, parent=work, start_ms=t + 45, dur_ms=4,
                      peer={"db.system": "postgresql", "server.address": "pg"})
    return roots


_STREAMS_EDGES = {
    "service:orders->topic:orders-pending": ("publish", N),
    "topic:orders-pending->service:enricher": ("consume", N),
    "service:enricher->topic:orders-enriched": ("publish", N),
    "topic:orders-enriched->service:shipping": ("consume", N),
    "service:shipping->external:postgresql": ("call", N),
}


def test_kafka_streams_default_is_one_trace_through_the_stream_app():
    """Default settings: one trace per order. The stream app's process span (a child of the
    orders-pending publish) is a delivery from orders-pending, and the orders-enriched
    publish under it is the stream app's: two hops, one flow, each delivery joined by its
    parent; queue times from each publish's end to its process span."""
    b = SpanSet()
    _kafka_streams(b, receive_telemetry=False)
    st = b.store()
    a = _analysed_each(st, _STREAMS_EDGES, ["topic:orders-pending->service:enricher",
                                            "topic:orders-enriched->service:shipping"])
    assert _systems(a) == {"topic:orders-pending": "kafka", "topic:orders-enriched": "kafka"}
    assert _flows(a) == [("orders", N, 1.0)]
    assert a.edge("topic:orders-pending->service:enricher")["queue_p50_ms"] == 8.0
    assert a.edge("topic:orders-enriched->service:shipping")["queue_p50_ms"] == 18.0
    assert a.edge("topic:orders-pending->service:enricher")["p50_ms"] == 5.0


def test_kafka_streams_with_receive_telemetry_links_three_traces_into_one_flow():
    """Receive telemetry on: the stream app's and the consumer's receive spans are roots of
    traces of their own, each process span their child linking its producer. The order still
    runs A-producer -> orders-pending -> enricher -> orders-enriched -> shipping: one flow of
    three traces; the receive (the poll) is no second delivery."""
    b = SpanSet()
    roots = _kafka_streams(b, receive_telemetry=True)
    st = b.store()
    a = _analysed_each(st, _STREAMS_EDGES, ["topic:orders-pending->service:enricher",
                                            "topic:orders-enriched->service:shipping"])
    assert _flows(a) == [("orders", N, 3.0)]
    assert a.edge("topic:orders-pending->service:enricher")["p50_ms"] == 5.0
    assert a.edge("topic:orders-enriched->service:shipping")["p50_ms"] == 10.0
    hops = {g["hop"] for g in flow_for_trace(st, roots[0].trace_id)["critical_path_segments"]}
    assert "topic:orders-enriched->service:shipping" in hops


# --------------------------------------------------------------------------------- RocketMQ
# 4.x (rocketmq-client 4.8+, the remoting client; instrumentation/rocketmq/rocketmq-client-4.8):
# TracingSendMessageHookImpl / TracingConsumeMessageHookImpl around the client's send and
# consume hooks; RocketMqInstrumenterFactory (a producer "<topic> publish" PRODUCER with
# messaging.message.id = SendResult.getMsgId(); the process instrumenter's parent is the
# context in the message's properties; for a batch of more than one message, a
# "multiple_sources receive" CONSUMER span naming only messaging.system and
# messaging.operation, and per message a "<topic> process" CONSUMER child of it linking the
# producer); RocketMqConsumerInstrumenter (released 2.x: each batch process span is started
# and ended at once, the receive ends after the listener); AbstractRocketMqClientTest (tag,
# broker address, queue id/offset only with
# otel.instrumentation.rocketmq-client.experimental-span-attributes). A batch send's
# SendResult carries the batch's message ids joined by commas (RocketMQ's MQClientAPIImpl),
# which is what its publish span says.

def _rmq4_id(i: int) -> str:
    """A RocketMQ 4 unique message id (client ip, pid, class loader hash, time, counter)."""
    return f"0A00000700012A9F1B2C3D4E{i:08X}"


def test_rocketmq4_push_consumer_process_is_a_child_of_the_publish():
    """DefaultMQPushConsumer, one message per consume call: the process span is a child of
    the publish and carries the same message id."""
    b = SpanSet()
    for i in range(N):
        t = i * 100
        root = b.span("orders", "POST /orders", kind="SERVER", start_ms=t, dur_ms=15)
        pub = b.span("orders", "order-topic publish", kind="PRODUCER", parent=root,
                     start_ms=t + 2, dur_ms=9,
                     attrs={"messaging.system": "rocketmq",
                            "messaging.destination.name": "order-topic",
                            "messaging.operation": "publish",
                            "messaging.message.id": _rmq4_id(i)})
        proc = b.span("billing", "order-topic process", kind="CONSUMER", parent=pub,
                      start_ms=t + 30, dur_ms=12,
                      attrs={"messaging.system": "rocketmq",
                             "messaging.destination.name": "order-topic",
                             "messaging.operation": "process",
                             "messaging.message.body.size": 214,
                             "messaging.message.id": _rmq4_id(i)})
        b.client_call("billing", None, parent=proc, start_ms=t + 32, dur_ms=6,
                      peer={"db.system": "mysql", "server.address": "billing-db"})
    st = b.store()
    a = _analysed(st, {
        "service:orders->topic:order-topic": ("publish", N),
        "topic:order-topic->service:billing": ("consume", N),
        "service:billing->external:mysql": ("call", N),
    }, "topic:order-topic->service:billing", p50_ms=12.0)
    assert _systems(a) == {"topic:order-topic": "rocketmq"}
    assert a.edge("topic:order-topic->service:billing")["queue_p50_ms"] == 19.0
    assert _flows(a) == [("orders", N, 1.0)]


def test_rocketmq4_batch_consume_is_a_multiple_sources_receive_with_a_process_per_message():
    """producer.send(Collection) and a push consumer with consumeMessageBatchMaxSize 2: one
    publish span for the batch (its message id the batch's ids joined by commas); in the
    consumer a root "multiple_sources receive" CONSUMER span (no destination, no link)
    around the listener, and per message a "order-topic process" CONSUMER child of it,
    started and ended at once, linking the publish. Each message is delivered from
    order-topic, joined by its link, and handled by the listener (the receive's other
    child); the receive names no topic and is no delivery from an unknown one."""
    b = SpanSet()
    for i in range(N):
        t = i * 100
        ids = [_rmq4_id(2 * i), _rmq4_id(2 * i + 1)]
        root = b.span("orders", "POST /orders/bulk", kind="SERVER", start_ms=t, dur_ms=15)
        pub = b.span("orders", "order-topic publish", kind="PRODUCER", parent=root,
                     start_ms=t + 2, dur_ms=9,
                     attrs={"messaging.system": "rocketmq",
                            "messaging.destination.name": "order-topic",
                            "messaging.operation": "publish",
                            "messaging.message.id": ",".join(ids)})
        recv = b.span("billing", "multiple_sources receive", kind="CONSUMER",
                      start_ms=t + 30, dur_ms=20,
                      attrs={"messaging.system": "rocketmq", "messaging.operation": "receive"})
        for k, mid in enumerate(ids):
            b.span("billing", "order-topic process", kind="CONSUMER", parent=recv,
                   start_ms=t + 30.01 + k * 0.01, dur_ms=0.005, links=[pub],
                   attrs={"messaging.system": "rocketmq",
                          "messaging.destination.name": "order-topic",
                          "messaging.operation": "process",
                          "messaging.message.body.size": 180 + k,
                          "messaging.message.id": mid})
        listener = b.span("billing", "BillingListener.consumeMessage", parent=recv,
                          start_ms=t + 30.1, dur_ms=19.5)
        b.client_call("billing", None, parent=listener, start_ms=t + 32, dur_ms=12,
                      peer={"db.system": "mysql", "server.address": "billing-db"})
    st = b.store()
    a = _analysed(st, {
        "service:orders->topic:order-topic": ("publish", N),
        "topic:order-topic->service:billing": ("consume", 2 * N),
        "service:billing->external:mysql": ("call", N),
    }, "topic:order-topic->service:billing")
    consume = a.edge("topic:order-topic->service:billing")
    assert consume["message_count"] == 2 * N
    # (each message was handled when the listener had handled the batch, the receive's
    # 20 ms, not in the instant its process span marks: the deliveries read a few µs, left)
    assert _systems(a) == {"topic:order-topic": "rocketmq"}
    assert _flows(a) == [("orders", N, 2.0)]


# 5.x (rocketmq-client-java 5.0+, the gRPC client; instrumentation/rocketmq/rocketmq-client-5.0):
# RocketMqInstrumenterFactory (producer "<topic> publish" PRODUCER; consumer process
# instrumenter: with receive telemetry off, the default, a consumer instrumenter whose parent
# is the message's propagated context; on, a "<topic> receive" CONSUMER span per
# ReceiveMessage call that returned messages (ReceiveSpanFinishingCallback: started when the
# request went out, ended when the messages came back, messaging.batch.message_count their
# number, no link) and each message's process span its child, linking the publish),
# RocketMqProducerAttributeExtractor / RocketMqConsumerProcessAttributeExtractor
# (messaging.rocketmq.message.tag, .keys (a string array), .message.type on the publish,
# messaging.rocketmq.client_group on the consumer side) and the tests
# AbstractRocketMqClientSuppressReceiveSpanTest / AbstractRocketMqClientTest.

def _rmq5_id(i: int) -> str:
    """A RocketMQ 5 message id: version 01, then MAC, pid, time and sequence (hex)."""
    return f"01C2D3E4F5A6B70F2A{i:016X}"


def _rmq5_publish(b: SpanSet, parent: SpanRef, i: int, t: float) -> SpanRef:
    return b.span("orders", "order-topic publish", kind="PRODUCER", parent=parent,
                  start_ms=t, dur_ms=7,
                  attrs={"messaging.rocketmq.message.tag": "created",
                         "messaging.rocketmq.message.keys": [f"order-{i}"],
                         "messaging.rocketmq.message.type": "normal",
                         "messaging.message.body.size": 96,
                         "messaging.system": "rocketmq",
                         "messaging.message.id": _rmq5_id(i),
                         "messaging.destination.name": "order-topic",
                         "messaging.operation": "publish"})


def _rmq5_process_attrs(i: int) -> dict[str, Any]:
    return {"messaging.rocketmq.client_group": "billing-group",
            "messaging.rocketmq.message.tag": "created",
            "messaging.rocketmq.message.keys": [f"order-{i}"],
            "messaging.message.body.size": 96,
            "messaging.system": "rocketmq",
            "messaging.message.id": _rmq5_id(i),
            "messaging.destination.name": "order-topic",
            "messaging.operation": "process"}


def test_rocketmq5_push_consumer_default_process_is_a_child_of_the_publish():
    """PushConsumer with the default settings: no receive span, the process span a child of
    the publish, its consumer group messaging.rocketmq.client_group."""
    b = SpanSet()
    for i in range(N):
        t = i * 100
        root = b.span("orders", "POST /orders", kind="SERVER", start_ms=t, dur_ms=14)
        pub = _rmq5_publish(b, root, i, t + 3)
        proc = b.span("billing", "order-topic process", kind="CONSUMER", parent=pub,
                      start_ms=t + 25, dur_ms=11, attrs=_rmq5_process_attrs(i))
        b.client_call("billing", None, parent=proc, start_ms=t + 27, dur_ms=6,
                      peer={"db.system": "mysql", "server.address": "billing-db"})
    st = b.store()
    a = _analysed(st, {
        "service:orders->topic:order-topic": ("publish", N),
        "topic:order-topic->service:billing": ("consume", N),
        "service:billing->external:mysql": ("call", N),
    }, "topic:order-topic->service:billing", p50_ms=11.0)
    assert _systems(a) == {"topic:order-topic": "rocketmq"}
    assert a.edge("topic:order-topic->service:billing")["queue_p50_ms"] == 15.0


def test_rocketmq5_receive_telemetry_one_receive_brings_two_messages():
    """Receive telemetry on: the push consumer's long poll comes back with two orders'
    messages: a root "order-topic receive" CONSUMER span (batch count 2, no link), then on
    the consumption threads a "order-topic process" span per message, its child, linking
    that message's publish. Each message is one delivery (the process span, around the
    listener), joined by its link; the poll is no delivery of its own."""
    b = SpanSet()
    for k in range(N):
        t = k * 200
        pubs = []
        for j in range(2):
            i = 2 * k + j
            root = b.span("orders", "POST /orders", kind="SERVER", start_ms=t + j * 10,
                          dur_ms=14)
            pubs.append(_rmq5_publish(b, root, i, t + j * 10 + 3))
        recv = b.span("billing", "order-topic receive", kind="CONSUMER", start_ms=t - 30,
                      dur_ms=45,
                      attrs={"messaging.rocketmq.client_group": "billing-group",
                             "messaging.system": "rocketmq",
                             "messaging.destination.name": "order-topic",
                             "messaging.operation": "receive",
                             "messaging.batch.message_count": 2})
        for j, pub in enumerate(pubs):
            i = 2 * k + j
            proc = b.span("billing", "order-topic process", kind="CONSUMER", parent=recv,
                          start_ms=t + 16 + j * 0.5, dur_ms=11, links=[pub],
                          attrs=_rmq5_process_attrs(i))
            b.span("billing", "BillingListener.consume", parent=proc,
                   start_ms=t + 16.2 + j * 0.5, dur_ms=10.5)
    st = b.store()
    a = _analysed(st, {
        "service:orders->topic:order-topic": ("publish", 2 * N),
        "topic:order-topic->service:billing": ("consume", 2 * N),
    }, "topic:order-topic->service:billing", p50_ms=11.0)
    assert a.edge("topic:order-topic->service:billing")["message_count"] == 2 * N
    assert _systems(a) == {"topic:order-topic": "rocketmq"}
    # (the poll that brought two orders' messages is a flow of its own, as where two
    # orders meet in a batch)
    assert _flows(a) == [("billing", N, 1.0), ("orders", 2 * N, 1.0)]


# ----------------------------------------------------------------------- Spring Integration
# Read in instrumentation/spring/spring-integration-4.1/library: TracingChannelInterceptor
# (released 2.x: preSend starts a CONSUMER span "<channel> process" only when no span is
# current, its parent the context in the message's headers; otherwise it backs off and only
# injects the current context into the message; with
# otel.instrumentation.spring-integration.producer.enabled (default false) a Spring Cloud
# Stream output channel gets a PRODUCER "<channel> publish" instead),
# SpringMessagingAttributesGetter (old conventions: no messaging.system and no destination
# attribute; the channel's name, e.g. 'application.ordersChannel' for an
# AbstractMessageChannel bean, only in the span name), SpringIntegrationTelemetryBuilder;
# tests AbstractSpringIntegrationTracingTest (a channel.send() with no current span ->
# CONSUMER "application.directChannel process" root, the handler its child; with a current
# span no Spring Integration span at all) and SpringIntegrationAndRabbitTest (Spring Cloud
# Stream's Rabbit binder with the rabbitmq and spring-rabbit instrumentations, both on by
# default: the rabbitmq client's "<queue> process" CONSUMER span naming the exchange, which
# has no child, the spring-rabbit "<routing key> process" CONSUMER span around the listener,
# Spring Integration backing off; the container's basic.ack a CLIENT span in a trace of its
# own).


def test_spring_integration_channel_inside_one_service_is_no_topic():
    """A Spring Integration flow in 'orders-import' started by an inbound adapter the agent
    does not instrument (a file poller): the channel send opens a root CONSUMER span
    "application.ordersChannel process" (only messaging.operation), under it the handler
    writes the order and publishes it to Kafka, which 'billing' consumes. A channel between
    two beans of one service is no broker destination: no topic node for it and no delivery
    into orders-import from an unknown topic; the service's real edges only, one flow that
    enters at orders-import."""
    b = SpanSet()
    for i in range(N):
        t = i * 100
        chan = b.span("orders-import", "application.ordersChannel process", kind="CONSUMER",
                      start_ms=t, dur_ms=18, attrs={"messaging.operation": "process"})
        b.client_call("orders-import", None, parent=chan, start_ms=t + 1, dur_ms=5,
                      peer={"db.system": "postgresql", "server.address": "pg"})
        pub = b.span("orders-import", "order-events publish", kind="PRODUCER", parent=chan,
                     start_ms=t + 8, dur_ms=6,
                     attrs=_kafka("order-events", "publish", "producer-1", 300 + i))
        b.span("billing", "order-events process", kind="CONSUMER", parent=pub,
               start_ms=t + 30, dur_ms=9,
               attrs=_kafka("order-events", "process", "consumer-billing-1", 300 + i,
                            **{"messaging.message.body.size": 77,
                               "messaging.kafka.consumer.group": "billing"}))
    st = b.store()
    a = _analysed(st, {
        "service:orders-import->external:postgresql": ("call", N),
        "service:orders-import->topic:order-events": ("publish", N),
        "topic:order-events->service:billing": ("consume", N),
    }, "topic:order-events->service:billing", p50_ms=9.0)
    assert _systems(a) == {"topic:order-events": "kafka"}
    assert _flows(a) == [("orders-import", N, 1.0)]


def test_spring_cloud_stream_rabbit_binder_is_one_delivery_per_message():
    """Spring Cloud Stream over RabbitMQ (binder defaults: a topic exchange named after the
    destination, the routing key the destination's name, the group's queue
    'orders.billing'). The rabbitmq client's "orders.billing process" (the hand-off to the
    container's queue) and spring-rabbit's "orders process" around the function are both
    children of the publish and both name 'orders': one delivery per message, the
    listener's. The container's basic.ack (a CLIENT span of its own trace, no destination)
    is no edge."""
    b = SpanSet()
    net = {"network.type": "ipv4", "network.peer.address": "10.1.0.12",
           "network.peer.port": 5672}
    for i in range(N):
        t = i * 100
        root = b.span("orders", "POST /orders", kind="SERVER", start_ms=t, dur_ms=20)
        pub = b.span("orders", "orders publish", kind="PRODUCER", parent=root,
                     start_ms=t + 3, dur_ms=1.5,
                     attrs={**net, "messaging.system": "rabbitmq",
                            "messaging.destination.name": "orders",
                            "messaging.operation": "publish",
                            "messaging.message.body.size": 143,
                            "messaging.rabbitmq.destination.routing_key": "orders"})
        b.span("billing", "orders.billing process", kind="CONSUMER", parent=pub,
               start_ms=t + 12, dur_ms=0.08,
               attrs={**net, "messaging.system": "rabbitmq",
                      "messaging.destination.name": "orders",
                      "messaging.operation": "process",
                      "messaging.message.body.size": 143,
                      "messaging.rabbitmq.destination.routing_key": "orders"})
        listener = b.span("billing", "orders process", kind="CONSUMER", parent=pub,
                          start_ms=t + 12.3, dur_ms=14,
                          attrs={"messaging.system": "rabbitmq",
                                 "messaging.destination.name": "orders",
                                 "messaging.operation": "process",
                                 "messaging.message.id": f"5f0c1e2a-77b4-4c1d-9a51-0000000{i}",
                                 "messaging.message.body.size": 143})
        b.client_call("billing", None, parent=listener, start_ms=t + 14, dur_ms=8,
                      peer={"db.system": "postgresql", "server.address": "pg"})
        b.span("billing", "basic.ack", kind="CLIENT", start_ms=t + 26.5, dur_ms=0.2,
               attrs={**net, "messaging.system": "rabbitmq"})
    st = b.store()
    a = _analysed(st, {
        "service:orders->topic:orders": ("publish", N),
        "topic:orders->service:billing": ("consume", N),
        "service:billing->external:postgresql": ("call", N),
    }, "topic:orders->service:billing")
    assert a.edge("topic:orders->service:billing")["p50_ms"] >= 14.0
    assert _systems(a) == {"topic:orders": "rabbitmq"}
    # (each basic.ack's trace is still a flow of its own beside the order's: not asserted)
    assert [f for f in _flows(a) if f[0] == "orders"] == [("orders", N, 1.0)]


# ---------------------------------------------------------------------- Vert.x Kafka client
# Read in instrumentation/vertx/vertx-kafka-client-3.6/javaagent:
# v3_6/InstrumentedBatchRecordsHandler (a batch handler's "<topic> process" CONSUMER span,
# its parent the receive span when receive telemetry is on, else whatever is current: a
# root; links to every record's producer through the kafka-clients batch process
# instrumenter), InstrumentedSingleRecordHandler (per record
# a "<topic> process" CONSUMER span, a child of its producer by default), and the tests
# testing/.../AbstractBatchRecordsNoReceiveTelemetryVertxKafkaTest and AbstractVertxKafkaTest:
# a consumer with a batch handler must also set the per-record handler (Vert.x does not poll
# without it), so each polled batch gives the batch span (messaging.batch.message_count,
# linking each record's publish) and then each record its own process span. The test's own
# metrics assertions say the records were consumed once each ("the per-record process
# operations must not also count the two deliveries the batch process operation already
# counted").


def test_vertx_kafka_batch_and_record_handlers_see_each_record_once():
    """A Vert.x consumer with a batch handler (auditing the batch) and the per-record handler
    (billing each order): for each poll of two records a root batch process span linking
    both publishes, then each record's process span, a child of its publish. Two handlers
    ran on each record, which Kafka delivered once: 2N messages from order-events, each
    joined by context, and no redelivery."""
    b = SpanSet()
    for k in range(N):
        t = k * 200
        pubs = []
        for j in range(2):
            i = 2 * k + j
            key = {"messaging.kafka.message.key": f"order-{i}"}
            root = b.span("orders", "POST /orders", kind="SERVER", start_ms=t + j * 10,
                          dur_ms=12)
            pubs.append(b.span("orders", "order-events publish", kind="PRODUCER", parent=root,
                               start_ms=t + j * 10 + 2, dur_ms=5,
                               attrs=_kafka("order-events", "publish", "producer-1", 500 + i,
                                            **key)))
        batch = b.span("billing", "order-events process", kind="CONSUMER", start_ms=t + 30,
                       dur_ms=8, links=pubs,
                       attrs={"messaging.system": "kafka",
                              "messaging.destination.name": "order-events",
                              "messaging.operation": "process",
                              "messaging.client_id": "consumer-billing-1",
                              "messaging.kafka.cluster.id": "Hq3XbN1-TgOp5k0D1JqZbw",
                              "messaging.kafka.consumer.group": "billing",
                              "messaging.batch.message_count": 2})
        b.span("billing", "audit batch", parent=batch, start_ms=t + 30.5, dur_ms=7)
        for j, pub in enumerate(pubs):
            i = 2 * k + j
            proc = b.span("billing", "order-events process", kind="CONSUMER", parent=pub,
                          start_ms=t + 40 + j * 6, dur_ms=5,
                          attrs=_kafka("order-events", "process", "consumer-billing-1",
                                       500 + i, **{"messaging.kafka.message.key": f"order-{i}",
                                                   "messaging.message.body.size": 60,
                                                   "messaging.kafka.consumer.group": "billing"}))
            b.span("billing", "bill order", parent=proc, start_ms=t + 40.5 + j * 6, dur_ms=4)
    st = b.store()
    a = analyze(st)
    assert {e["id"]: e["type"] for e in a.edges} == {
        "service:orders->topic:order-events": "publish",
        "topic:order-events->service:billing": "consume",
    }
    assert a.edge("service:orders->topic:order-events")["count"] == 2 * N
    consume = a.edge("topic:order-events->service:billing")
    assert consume["message_count"] == 2 * N
    assert consume["joined_by"]["message_id"] == 0 and consume["joined_by"]["none"] == 0
    assert not a.anomalies  # each record was delivered once
    assert edge_detail(st, "topic:order-events->service:billing")["count"] == consume["count"]
