"""Span shapes of the OpenTelemetry Java agent (2.x, old messaging conventions:
``messaging.operation`` publish/receive/process, span names "<destination> <operation>")
that the other test files do not cover: Spring Kafka batch listeners and error-handler
retries, Kafka clients with producer propagation off, Kafka Connect sink tasks, Pulsar
(batch receive, receive telemetry, empty receives) and the AWS SDK 2.x SQS consumer with
receive telemetry off and on. Each shape was read in open-telemetry/
opentelemetry-java-instrumentation (instrumentation/<module>/..., the module's code and its
own tests); each test builds exactly the spans the agent exports for a small scenario and
checks what the analyzer makes of them."""

from __future__ import annotations

import uuid
from typing import Any

from analyzer import analyze, edge_detail
from tests.analysis_checks import analysed as _analysed
from tests.analysis_checks import analysed_each as _analysed_each
from tests.analysis_checks import edges_of as _edges
from tests.analysis_checks import flows_of as _flows
from tests.analysis_checks import systems_of as _systems
from tests.builders import SpanRef, SpanSet

N = 3

_HTTP = {"http.request.method": "POST", "http.route": "/orders", "url.scheme": "http",
         "url.path": "/orders", "http.response.status_code": 202,
         "server.address": "orders", "server.port": 8080}
_PG = {"db.system": "postgresql", "db.name": "billing", "db.operation": "INSERT",
       "server.address": "billing-db", "server.port": 5432}


def _order(b: SpanSet, t: float, service: str = "orders", dur_ms: float = 15) -> SpanRef:
    return b.span(service, "POST /orders", kind="SERVER", start_ms=t, dur_ms=dur_ms,
                  attrs=_HTTP)


def _db(b: SpanSet, service: str, parent: SpanRef, t: float, dur_ms: float = 4,
        status: str = "UNSET") -> None:
    b.span(service, "INSERT billing.invoices", kind="CLIENT", parent=parent, start_ms=t,
           dur_ms=dur_ms, status=status, attrs=_PG)


# ============================================================================ Kafka
# kafka-clients-0.11 (javaagent) with kafka-clients-common-0.11 (library):
# KafkaInstrumenterFactory builds the "<topic> publish" PRODUCER (KafkaProducerAttributes-
# Extractor: messaging.client_id, messaging.destination.partition.id and
# messaging.kafka.message.offset from the RecordMetadata of the acknowledgement,
# messaging.kafka.message.key); the "<topic> receive" CONSUMER of a poll (only with
# otel.instrumentation.messaging.experimental.receive-telemetry.enabled, default false:
# messaging.batch.message_count, the consumer group, no link under the old conventions:
# KafkaBatchProcessSpanLinksExtractor is added to it only with the stable ones); the
# "<topic> process" CONSUMER per record (MessagingProcessInstrumenterFactory: the record's
# context as its parent when receive telemetry is off, else the receive span as parent and
# a link to the record's context). No span carries a message id: Kafka has none.
# Tests read: testing/.../KafkaClientBaseTest (sendAttributes, processAttributes),
# javaagent/.../KafkaClientPropagationDisabledTest (run with
# -Dotel.instrumentation.kafka.producer-propagation.enabled=false, build.gradle.kts
# testPropagationDisabled: the process span has no parent in the producer's trace and no
# link, "hasLinks(emptyList())").


def _kafka(topic: str, op: str, client: str, **extra: Any) -> dict[str, Any]:
    return {"messaging.system": "kafka", "messaging.destination.name": topic,
            "messaging.operation": op, "messaging.client_id": client, **extra}


def _kafka_publish(b: SpanSet, parent: SpanRef, topic: str, t: float, partition: int,
                   offset: int, key: str, service: str = "orders",
                   dur_ms: float = 6) -> SpanRef:
    return b.span(service, f"{topic} publish", kind="PRODUCER", parent=parent, start_ms=t,
                  dur_ms=dur_ms,
                  attrs=_kafka(topic, "publish", "producer-1",
                               **{"messaging.destination.partition.id": str(partition),
                                  "messaging.kafka.message.offset": offset,
                                  "messaging.kafka.message.key": key}))


def _record_process_attrs(topic: str, group: str, partition: int, offset: int,
                          key: str) -> dict[str, Any]:
    return _kafka(topic, "process", f"consumer-{group}-1",
                  **{"messaging.kafka.consumer.group": group,
                     "messaging.destination.partition.id": str(partition),
                     "messaging.kafka.message.offset": offset,
                     "messaging.kafka.message.key": key,
                     "messaging.message.body.size": 187})


# ----------------------------------------------------------------- Spring Kafka: batches
# spring-kafka-2.7 (javaagent): ListenerConsumerInstrumentation suppresses kafka-clients'
# per-record process spans inside the listener container's run loop (RunLoopAdvice) and
# wraps invokeBatchOnMessageWithRecordsOrList in one "<topic> process" CONSUMER span per
# batch (SpringKafkaSingletons.batchProcessInstrumenter, KafkaInstrumenterFactory.
# createBatchProcessInstrumenter: SpanKindExtractor.alwaysConsumer, KafkaReceiveAttributes-
# Extractor: consumer group, messaging.batch.message_count; KafkaBatchProcessSpanLinks-
# Extractor: one link per record to its producer, no link attributes under the old
# conventions). Its parent is the poll's receive span when there is one
# (KafkaConsumerContextUtil), else the current context: none, a root.
# Tests read: testing/.../AbstractSpringKafkaNoReceiveTelemetryTest
# (shouldCreateSpansForBatchReceiveAndProcess: a root "testBatchTopic process" linking both
# producers; shouldHandleFailureInKafkaBatchListener: each retry of the failed batch is a new
# root process span linking the same producer, status error, until one succeeds) and
# javaagent/.../v2_7/SpringKafkaTest (receive telemetry on, build.gradle.kts `test` task:
# a root "testBatchTopic receive" with the batch count, the batch "process" its child
# linking each producer).

def _spring_kafka_batches(b: SpanSet, receive_telemetry: bool,
                          failing_batch: int | None = None) -> None:
    """N polls of three orders each: the orders service publishes each order to 'orders'
    (three partitions); billing's @KafkaListener(batch = "true") gets each poll's three
    records in one call and inserts them in one statement. ``failing_batch``: that batch's
    first two attempts fail (the insert deadlocks) and DefaultErrorHandler
    (FixedBackOff(1000, 2)) seeks back and redelivers the whole batch."""
    for k in range(N):
        t = k * 5000
        pubs = []
        for j in range(3):
            i = 3 * k + j
            root = _order(b, t + j * 20)
            pubs.append(_kafka_publish(b, root, "orders", t + j * 20 + 3, partition=j,
                                       offset=4100 + k, key=f"order-{i}"))
        batch = _kafka("orders", "process", "consumer-billing-1",
                       **{"messaging.kafka.consumer.group": "billing",
                          "messaging.batch.message_count": 3})
        attempts = 3 if k == failing_batch else 1
        for attempt in range(attempts):
            start = t + 52 + attempt * 1030
            parent = None
            if receive_telemetry:
                parent = b.span("billing", "orders receive", kind="CONSUMER",
                                start_ms=start - 2, dur_ms=1.5,
                                attrs=_kafka("orders", "receive", "consumer-billing-1",
                                             **{"messaging.kafka.consumer.group": "billing",
                                                "messaging.batch.message_count": 3}))
            failed = attempt < attempts - 1
            proc = b.span("billing", "orders process", kind="CONSUMER", parent=parent,
                          start_ms=start, dur_ms=25, links=pubs,
                          status="ERROR" if failed else "UNSET", attrs=batch)
            _db(b, "billing", proc, start + 3, dur_ms=18,
                status="ERROR" if failed else "UNSET")


_BATCH_EDGES = {
    "service:orders->topic:orders": ("publish", 3 * N),
    "topic:orders->service:billing": ("consume", N),
    "service:billing->external:postgresql": ("call", N),
}


def test_spring_kafka_batch_listener_default_is_one_delivery_of_its_records():
    """Receive telemetry off (the default): each listener call is one root "orders process"
    span linking the three records' publishes, with messaging.batch.message_count 3. One
    delivery of three messages per batch, joined by the links; the nine orders are nine
    business transactions."""
    b = SpanSet()
    _spring_kafka_batches(b, receive_telemetry=False)
    st = b.store()
    a = _analysed(st, _BATCH_EDGES, "topic:orders->service:billing", p50_ms=25)
    consume = a.edge("topic:orders->service:billing")
    assert (consume["message_count"], consume["batch_deliveries"]) == (3 * N, N)
    detail = edge_detail(st, "topic:orders->service:billing")
    assert (detail["count"], detail["message_count"]) == (N, 3 * N)
    assert _systems(a) == {"topic:orders": "kafka"}
    assert sum(f["count"] for f in a.flows if f["entry_service"] == "orders") == 3 * N


def test_spring_kafka_batch_listener_with_receive_telemetry_is_still_one_delivery():
    """Receive telemetry on: the poll's root "orders receive" span (batch count 3, no link
    under the old conventions) is the parent of the batch "process" span, which links the
    three publishes. The receive is the poll, not a second delivery."""
    b = SpanSet()
    _spring_kafka_batches(b, receive_telemetry=True)
    a = _analysed(b.store(), _BATCH_EDGES, "topic:orders->service:billing", p50_ms=25)
    consume = a.edge("topic:orders->service:billing")
    assert (consume["message_count"], consume["batch_deliveries"]) == (3 * N, N)


def test_spring_kafka_failed_batch_is_redelivered_whole_after_the_seek():
    """A batch listener that throws: DefaultErrorHandler seeks the consumer back to the
    batch's first offsets and the next polls deliver the same three records again, each
    attempt a new root "orders process" span (error, error, then ok) linking the same three
    publishes. Three records were each delivered three times: N + 2 batch deliveries, two
    of them failed, and the redelivery is the only anomaly (nothing was lost)."""
    b = SpanSet()
    _spring_kafka_batches(b, receive_telemetry=False, failing_batch=1)
    st = b.store()
    edges = {**_BATCH_EDGES, "topic:orders->service:billing": ("consume", N + 2),
             "service:billing->external:postgresql": ("call", N + 2)}
    a = analyze(st)
    assert _edges(a) == edges
    consume = a.edge("topic:orders->service:billing")
    assert consume["joined_by"] == {"context": N + 2, "message_id": 0, "none": 0, "outside": 0}
    assert consume["error_count"] == 2
    assert consume["message_count"] == 3 * N + 6
    (red,) = a.anomalies
    assert (red["type"], red["where"]) == ("redelivery", "topic:orders->service:billing")
    assert (red["messages"], red["count"]) == (3, 6)


# ------------------------------------------------------- Spring Kafka: record listener retry
# spring-kafka-2.7 (library): InstrumentedRecordInterceptor wraps each record's listener call
# in a "<topic> process" CONSUMER span (KafkaInstrumenterFactory.
# createConsumerProcessInstrumenter: with receive telemetry off its parent is the record's
# context, else the poll's receive span, linking the record's context).
# Tests read: AbstractSpringKafkaNoReceiveTelemetryTest.shouldHandleFailureInKafkaListener
# (three process spans, all children of the one publish in the producer's trace: error,
# error, ok) and v2_7/SpringKafkaTest.shouldHandleFailureInKafkaListener (receive telemetry
# on, spring-kafka 2.7's seeking error handler: each attempt is a new poll, a new root
# "testSingleTopic receive" with its own process child linking the publish).

def _spring_kafka_record_retries(b: SpanSet, receive_telemetry: bool) -> None:
    """N orders to 'orders'; billing's @KafkaListener charges each through its database.
    The second order's first two attempts fail (a lock timeout) and the container's
    DefaultErrorHandler (FixedBackOff(1000, 2)) seeks back: the record comes again a
    second later, twice, and the third attempt succeeds."""
    for i in range(N):
        t = i * 5000
        root = _order(b, t)
        pub = _kafka_publish(b, root, "orders", t + 3, partition=i, offset=900 + i,
                             key=f"order-{i}")
        attempts = 3 if i == 1 else 1
        for attempt in range(attempts):
            start = t + 14 + attempt * 1012
            failed = attempt < attempts - 1
            attrs = _record_process_attrs("orders", "billing", i, 900 + i, f"order-{i}")
            if receive_telemetry:
                recv = b.span("billing", "orders receive", kind="CONSUMER",
                              start_ms=start - 1.5, dur_ms=1,
                              attrs=_kafka("orders", "receive", "consumer-billing-1",
                                           **{"messaging.kafka.consumer.group": "billing",
                                              "messaging.batch.message_count": 1}))
                proc = b.span("billing", "orders process", kind="CONSUMER", parent=recv,
                              links=[pub], start_ms=start, dur_ms=9,
                              status="ERROR" if failed else "UNSET", attrs=attrs)
            else:
                proc = b.span("billing", "orders process", kind="CONSUMER", parent=pub,
                              start_ms=start, dur_ms=9,
                              status="ERROR" if failed else "UNSET", attrs=attrs)
            _db(b, "billing", proc, start + 1, dur_ms=7,
                status="ERROR" if failed else "UNSET")


_RETRY_EDGES = {
    "service:orders->topic:orders": ("publish", N),
    "topic:orders->service:billing": ("consume", N + 2),
    "service:billing->external:postgresql": ("call", N + 2),
}


def test_spring_kafka_record_listener_retries_are_children_of_the_one_publish():
    """Receive telemetry off: every attempt's "orders process" span is a child of the
    record's publish (its context is in the record's headers each time it is fetched
    again). One message delivered three times: two redeliveries, two failed deliveries, one
    flow per order in one trace each."""
    b = SpanSet()
    _spring_kafka_record_retries(b, receive_telemetry=False)
    a = _analysed_each(b.store(), _RETRY_EDGES, ["topic:orders->service:billing"],
                       anomalies=[("redelivery", "topic:orders->service:billing", 2)])
    assert a.edge("topic:orders->service:billing")["error_count"] == 2
    assert _flows(a) == [("orders", N, 1.0)]


def test_spring_kafka_record_listener_retries_with_receive_telemetry_are_new_polls():
    """Receive telemetry on: each attempt is a new poll, so a new trace rooted at its
    "orders receive" span, the process span its child linking the publish. Still one
    message delivered three times (two redeliveries), not three messages; each order is one
    flow, the retried one spanning four traces."""
    b = SpanSet()
    _spring_kafka_record_retries(b, receive_telemetry=True)
    a = _analysed_each(b.store(), _RETRY_EDGES, ["topic:orders->service:billing"],
                       anomalies=[("redelivery", "topic:orders->service:billing", 2)])
    assert a.edge("topic:orders->service:billing")["p50_ms"] == 9
    assert [(f["entry_service"], f["count"]) for f in a.flows] == [("orders", N)]


# ---------------------------------------------- kafka-clients, receive telemetry, one poll
# KafkaConsumerInstrumentation (javaagent): the poll's "<topic> receive" CONSUMER span, a root
# timed from the poll call to its return, with the batch count; TracingIterator/TracingList
# then start a "<topic> process" span per record as the app iterates, ended when it takes the
# next one: the receive span its parent, the record's context a link.
# Test read: javaagent/.../v0_11/KafkaClientDefaultTest (receive telemetry on, build.gradle.kts
# `test` task: a root "<topic> receive" and its "<topic> process" child linking the send).

def test_kafka_clients_poll_of_three_records_is_three_deliveries():
    """Receive telemetry on, a plain KafkaConsumer poll loop in shipping: one poll returned
    the N orders (a root "orders receive" span, batch count N, no link), each record then a
    "orders process" child of it linking its own publish. The poll is no delivery: N
    deliveries, one per record, each joined by its link, none of them a batch."""
    b = SpanSet()
    pubs = []
    for i in range(N):
        root = _order(b, i * 10)
        pubs.append(_kafka_publish(b, root, "orders", i * 10 + 3, partition=i,
                                   offset=5000 + i, key=f"order-{i}"))
    recv = b.span("shipping", "orders receive", kind="CONSUMER", start_ms=-480, dur_ms=520,
                  attrs=_kafka("orders", "receive", "consumer-shipping-1",
                               **{"messaging.kafka.consumer.group": "shipping",
                                  "messaging.batch.message_count": N}))
    for i, pub in enumerate(pubs):
        start = 41 + i * 16
        proc = b.span("shipping", "orders process", kind="CONSUMER", parent=recv, links=[pub],
                      start_ms=start, dur_ms=15,
                      attrs=_record_process_attrs("orders", "shipping", i, 5000 + i,
                                                  f"order-{i}"))
        _db(b, "shipping", proc, start + 1, dur_ms=11)
    a = _analysed(b.store(), {
        "service:orders->topic:orders": ("publish", N),
        "topic:orders->service:shipping": ("consume", N),
        "service:shipping->external:postgresql": ("call", N),
    }, "topic:orders->service:shipping", p50_ms=15)
    consume = a.edge("topic:orders->service:shipping")
    assert (consume["message_count"], consume["batch_deliveries"]) == (N, 0)


def test_kafka_clients_stable_conventions_poll_span_links_and_process_is_a_child():
    """OTEL_SEMCONV_STABILITY_OPT_IN=messaging (KafkaClientDefaultTest's stable branch,
    KafkaInstrumenterFactory: the receive instrumenter gets KafkaBatchProcessSpanLinksExtractor
    and MessagingSpanKindExtractor makes it CLIENT; the process span's parent is the record's
    context, not the poll): "send orders" PRODUCER, a root "poll orders" CLIENT span linking
    every record of the poll (per-record partition, offset and key on the links), and each
    record's "process orders" CONSUMER a child of its send, in the order's trace. The process
    spans are the deliveries; the poll is none, and each order is one flow of one trace."""
    b = SpanSet()
    stable = {"messaging.system": "kafka", "messaging.destination.name": "orders"}
    pubs = []
    for i in range(N):
        root = _order(b, i * 10)
        pubs.append(b.span("orders", "send orders", kind="PRODUCER", parent=root,
                           start_ms=i * 10 + 3, dur_ms=6,
                           attrs={**stable, "messaging.operation.name": "send",
                                  "messaging.operation.type": "send",
                                  "messaging.client.id": "producer-1",
                                  "messaging.destination.partition.id": str(i),
                                  "messaging.kafka.offset": 5000 + i,
                                  "messaging.kafka.message.key": f"order-{i}"}))
    b.span("shipping", "poll orders", kind="CLIENT", start_ms=-480, dur_ms=520,
           links=[(p, {"messaging.destination.partition.id": str(i),
                       "messaging.kafka.offset": 5000 + i,
                       "messaging.kafka.message.key": f"order-{i}"})
                  for i, p in enumerate(pubs)],
           attrs={**stable, "messaging.operation.name": "poll",
                  "messaging.operation.type": "receive",
                  "messaging.client.id": "consumer-shipping-1",
                  "messaging.consumer.group.name": "shipping",
                  "messaging.batch.message_count": N})
    for i, pub in enumerate(pubs):
        start = 41 + i * 16
        proc = b.span("shipping", "process orders", kind="CONSUMER", parent=pub,
                      start_ms=start, dur_ms=15,
                      attrs={**stable, "messaging.operation.name": "process",
                             "messaging.operation.type": "process",
                             "messaging.client.id": "consumer-shipping-1",
                             "messaging.consumer.group.name": "shipping",
                             "messaging.destination.partition.id": str(i),
                             "messaging.kafka.offset": 5000 + i,
                             "messaging.kafka.message.key": f"order-{i}"})
        _db(b, "shipping", proc, start + 1, dur_ms=11)
    a = _analysed(b.store(), {
        "service:orders->topic:orders": ("publish", N),
        "topic:orders->service:shipping": ("consume", N),
        "service:shipping->external:postgresql": ("call", N),
    }, "topic:orders->service:shipping", p50_ms=15)
    assert [(f["count"], f["traces_per_flow"]) for f in a.flows
            if f["entry_service"] == "orders"] == [(N, 1.0)]


# ------------------------------------------------- kafka-clients, producer propagation off
# With otel.instrumentation.kafka.producer-propagation.enabled=false the producer injects no
# header: the "<topic> process" span (receive telemetry off) is a root with no link. Both
# spans still name the record: the topic, messaging.destination.partition.id and
# messaging.kafka.message.offset (the producer's from its RecordMetadata), which together
# identify a Kafka record.

def _kafka_no_propagation(b: SpanSet) -> None:
    """N orders to the three-partition topic 'orders' (offset 1041 written in two
    partitions); a plain KafkaConsumer poll loop in billing (group billing) processes each
    record, its process span a root covering the handler's insert."""
    records = [(0, 1041), (1, 1041), (2, 1187)]
    for i, (partition, offset) in enumerate(records):
        t = i * 2000
        root = _order(b, t)
        _kafka_publish(b, root, "orders", t + 3, partition, offset, f"order-{i}")
        proc = b.span("billing", "orders process", kind="CONSUMER", start_ms=t + 35,
                      dur_ms=12,
                      attrs=_record_process_attrs("orders", "billing", partition, offset,
                                                  f"order-{i}"))
        _db(b, "billing", proc, t + 37, dur_ms=8)


def test_kafka_producer_propagation_off_is_reported_as_lost_context():
    """No context reached the consumer: each delivery has neither parent nor link to a
    producer while the topic's producers are seen. The analyzer still counts one delivery
    per record and reports every one of them as a broken context."""
    b = SpanSet()
    _kafka_no_propagation(b)
    a = analyze(b.store())
    assert _edges(a) == {
        "service:orders->topic:orders": ("publish", N),
        "topic:orders->service:billing": ("consume", N),
        "service:billing->external:postgresql": ("call", N),
    }
    consume = a.edge("topic:orders->service:billing")
    assert consume["joined_by"]["context"] == 0
    broken = [x for x in a.anomalies if x["type"] == "broken_context"]
    assert [(x["where"], x["count"]) for x in broken] == [("topic:orders->service:billing", N)]
    assert not [x for x in a.anomalies if x["type"] == "consumer_without_producer"]


def test_kafka_producer_propagation_off_records_join_by_partition_and_offset():
    """The lost context is still recoverable: the publish and the process span of one record
    both name its topic, partition and offset (the Kafka record's identity; offset 1041 of
    partition 0 is not offset 1041 of partition 1). Every delivery is joined to its own
    publish by them, so no message looks unconsumed, and each order is one flow of two
    traces; the broken context stays reported, all of it stitched."""
    b = SpanSet()
    _kafka_no_propagation(b)
    a = analyze(b.store())
    consume = a.edge("topic:orders->service:billing")
    assert consume["joined_by"] == {"context": 0, "message_id": N, "none": 0, "outside": 0}
    assert consume["queue_p50_ms"] == 26.0
    assert sorted((x["type"], x["where"], x["count"]) for x in a.anomalies) == \
        [("broken_context", "topic:orders->service:billing", N)]
    (broken,) = a.anomalies
    assert broken["stitched"] == N
    assert _flows(a) == [("orders", N, 2.0)]


# ------------------------------------------------------------------- Kafka Connect sink
# kafka-connect-2.6 (javaagent): SinkTaskInstrumentation wraps SinkTask.put(records) in one
# CONSUMER span (KafkaConnectSingletons: SpanKindExtractor.alwaysConsumer,
# MessageOperation.PROCESS; KafkaConnectBatchProcessSpanLinksExtractor: a link per record to
# the context in its headers, no link attributes under the old conventions). Its parent is
# none (a root). KafkaConnectAttributesGetter: messaging.system kafka,
# messaging.batch.message_count, and messaging.destination.name only when every record of the
# batch is of one topic (KafkaConnectTask.getDestinationName: null for several topics, so the
# old span name is "unknown process", MessagingSpanNameExtractor). The JDBC sink's
# statements are its children. Tests read: testing/.../PostgresKafkaConnectSinkTaskTest
# (testSingleMessage: root "<topic> process" linking the producer, SELECTs and the INSERT its
# children; testMultiTopic) and KafkaConnectSinkTaskBaseTest (processAttributes,
# waitAndAssertMultiTopicTraces: batch count = number of links, one link per record).

def _connect_attrs(topic: str | None, count: int) -> dict[str, Any]:
    a: dict[str, Any] = {"messaging.system": "kafka", "messaging.operation": "process",
                         "messaging.batch.message_count": count,
                         "thread.name": "task-thread-pg-sink-0", "thread.id": 58}
    if topic is not None:
        a["messaging.destination.name"] = topic
    return a


def _kafka_connect(b: SpanSet, mixed: bool) -> None:
    """The orders service publishes orders to 'orders', the refunds service refunds to
    'refunds'; a JDBC sink connector (the kafka-connect worker, connector pg-sink, topics
    orders,refunds) writes them to Postgres. Each of N put() calls gets two orders and,
    when ``mixed``, one refund too."""
    for k in range(N):
        t = k * 3000
        pubs = []
        for j in range(2):
            root = _order(b, t + j * 30)
            pubs.append(_kafka_publish(b, root, "orders", t + j * 30 + 2, partition=j,
                                       offset=70 + k, key=f"order-{k}-{j}"))
        topic: str | None = "orders"
        if mixed:
            root = b.span("refunds", "POST /refunds", kind="SERVER", start_ms=t + 70,
                          dur_ms=12, attrs={**_HTTP, "http.route": "/refunds"})
            pubs.append(_kafka_publish(b, root, "refunds", t + 72, partition=0,
                                       offset=30 + k, key=f"refund-{k}",
                                       service="refunds"))
            topic = None
        put = b.span("kafka-connect", f"{topic or 'unknown'} process", kind="CONSUMER",
                     start_ms=t + 600, dur_ms=40, links=pubs,
                     attrs=_connect_attrs(topic, len(pubs)))
        for s in range(2):
            b.span("kafka-connect", "SELECT shop", kind="CLIENT", parent=put,
                   start_ms=t + 601 + s * 3, dur_ms=2,
                   attrs={**_PG, "db.name": "shop", "db.operation": "SELECT"})
        b.span("kafka-connect", "INSERT shop.person", kind="CLIENT", parent=put,
               start_ms=t + 610, dur_ms=25, attrs={**_PG, "db.name": "shop"})


def test_kafka_connect_sink_put_is_one_delivery_of_its_records():
    """Each SinkTask.put() of two orders is a root "orders process" span linking both
    publishes (batch count 2), the sink's statements under it: one delivery of two messages
    per put, joined by the links."""
    b = SpanSet()
    _kafka_connect(b, mixed=False)
    a = _analysed(b.store(), {
        "service:orders->topic:orders": ("publish", 2 * N),
        "topic:orders->service:kafka-connect": ("consume", N),
        "service:kafka-connect->external:postgresql": ("call", 3 * N),
    }, "topic:orders->service:kafka-connect", p50_ms=40)
    consume = a.edge("topic:orders->service:kafka-connect")
    assert (consume["message_count"], consume["batch_deliveries"]) == (2 * N, N)


_PULSAR_BROKER = {"server.address": "pulsar-broker.pulsar.svc.cluster.local",
                  "server.port": 6650}


def _pulsar(topic: str, op: str, **extra: Any) -> dict[str, Any]:
    a: dict[str, Any] = {"messaging.system": "pulsar", "messaging.destination.name": topic,
                         "messaging.operation": op, **extra}
    if "-partition-" in topic:
        a["messaging.destination.partition.id"] = topic.rsplit("-partition-", 1)[1]
    return a


def _pulsar_publish(b: SpanSet, parent: SpanRef, topic: str, t: float,
                    mid: str) -> SpanRef:
    return b.span("orders", f"{topic} publish", kind="PRODUCER", parent=parent, start_ms=t,
                  dur_ms=4, attrs={**_PULSAR_BROKER,
                                   **_pulsar(topic, "publish",
                                             **{"messaging.message.id": mid,
                                                "messaging.message.body.size": 212})})


_ORDERS = "persistent://acme/shop/orders"


def test_pulsar_batch_receive_names_the_partitioned_topic_or_its_partition():
    """A scheduled exporter calls consumer.batchReceive() on the four-partition topic
    persistent://acme/shop/orders: each call is a "<topic> receive" CONSUMER span under the
    job's span, linking each message's publish (published to "...-partition-<n>"), with the
    batch count and no message id. A batch of several partitions names the partitioned
    topic, a batch of one partition names that partition: all one topic node, each call one
    delivery of its messages."""
    b = SpanSet()
    batches = [[0, 1, 2], [3, 1, 2], [2, 2]]
    total = sum(len(x) for x in batches)
    n = 0
    for k, partitions in enumerate(batches):
        t = k * 10_000
        pubs = []
        for j, p in enumerate(partitions):
            root = _order(b, t + j * 40)
            pubs.append(_pulsar_publish(b, root, f"{_ORDERS}-partition-{p}", t + j * 40 + 3,
                                        mid=f"{1200 + p}:{n}:{p}"))
            n += 1
        dest = _ORDERS if len(set(partitions)) > 1 else f"{_ORDERS}-partition-{partitions[0]}"
        job = b.span("exporter", "OrderExporter.export", start_ms=t + 1000, dur_ms=60,
                     attrs={"code.namespace": "com.acme.export.OrderExporter",
                            "code.function": "export"})
        b.span("exporter", f"{dest} receive", kind="CONSUMER", parent=job,
               start_ms=t + 1001, dur_ms=3, links=pubs,
               attrs={**_PULSAR_BROKER,
                      **_pulsar(dest, "receive",
                                **{"messaging.batch.message_count": len(pubs),
                                   "messaging.message.body.size": 212 * len(pubs)})})
        _db(b, "exporter", job, t + 1010, dur_ms=30)
    a = _analysed(b.store(), {
        f"service:orders->topic:{_ORDERS}": ("publish", total),
        f"topic:{_ORDERS}->service:exporter": ("consume", N),
        "service:exporter->external:postgresql": ("call", N),
    }, f"topic:{_ORDERS}->service:exporter")
    assert _systems(a) == {f"topic:{_ORDERS}": "pulsar"}
    consume = a.edge(f"topic:{_ORDERS}->service:exporter")
    assert (consume["message_count"], consume["batch_deliveries"]) == (total, N)


def _pulsar_receive_loop(b: SpanSet, empty_polls: bool) -> None:
    """Receive telemetry on: the invoicing worker loops on consumer.receive(1, SECONDS) on
    the non-partitioned topic persistent://acme/billing/invoices. A receive that got a
    message is a root "<topic> receive" span (from the call to the message's arrival)
    linking the message's publish, with its message id; the worker handles the message after
    it, outside any span. ``empty_polls``: between messages the loop's receives time out
    and return null: a root receive span each, no link, no message id."""
    topic = "persistent://acme/billing/invoices"
    for i in range(N):
        t = i * 5000
        root = _order(b, t)
        mid = f"3301:{i}:-1"
        pub = b.span("orders", f"{topic} publish", kind="PRODUCER", parent=root,
                     start_ms=t + 3, dur_ms=4,
                     attrs={**_PULSAR_BROKER,
                            **_pulsar(topic, "publish", **{"messaging.message.id": mid,
                                                            "messaging.message.body.size": 96})})
        if empty_polls:
            for k in range(3):
                b.span("invoicing", f"{topic} receive", kind="CONSUMER",
                       start_ms=t - 3000 + k * 1000, dur_ms=1000,
                       attrs={**_PULSAR_BROKER, **_pulsar(topic, "receive")})
        # the receive was waiting when the message came: it started before the publish
        b.span("invoicing", f"{topic} receive", kind="CONSUMER", start_ms=t + 1, dur_ms=8,
               links=[pub],
               attrs={**_PULSAR_BROKER,
                      **_pulsar(topic, "receive", **{"messaging.message.id": mid,
                                                      "messaging.message.body.size": 96})})


def test_pulsar_receive_telemetry_sync_receive_is_the_delivery():
    """A receive(timeout) that returned a message is the delivery (there is no process span
    without a MessageListener), joined by its link; that it began waiting before the message
    was published is no clock skew."""
    b = SpanSet()
    _pulsar_receive_loop(b, empty_polls=False)
    topic = "persistent://acme/billing/invoices"
    _analysed(b.store(), {
        f"service:orders->topic:{topic}": ("publish", N),
        f"topic:{topic}->service:invoicing": ("consume", N),
    }, f"topic:{topic}->service:invoicing")


def test_pulsar_receive_telemetry_empty_receives_are_no_deliveries():
    """The receives that timed out (root "<topic> receive" spans with no link and no message
    id) delivered nothing: still N deliveries, none of them lost context, and no flow
    starts at an empty receive."""
    b = SpanSet()
    _pulsar_receive_loop(b, empty_polls=True)
    topic = "persistent://acme/billing/invoices"
    a = _analysed(b.store(), {
        f"service:orders->topic:{topic}": ("publish", N),
        f"topic:{topic}->service:invoicing": ("consume", N),
    }, f"topic:{topic}->service:invoicing")
    assert [f["entry_service"] for f in a.flows if f["hops"]] == ["orders"]


def test_pulsar_listener_with_receive_telemetry_receive_and_process_are_one_delivery():
    """A MessageListener with receive telemetry on: the client's internal receive is a root
    "<topic> receive" span linking the publish (ended when the message is handed over), the
    listener a "<topic> process" child of it linking the publish too, both with the message
    id. One delivery per message, lasting the listener's span, in a flow of two traces."""
    b = SpanSet()
    topic = "persistent://acme/shop/payments"
    for i in range(N):
        t = i * 1000
        root = _order(b, t)
        mid = f"5120:{40 + i}:-1"
        pub = b.span("orders", f"{topic} publish", kind="PRODUCER", parent=root,
                     start_ms=t + 3, dur_ms=4,
                     attrs={**_PULSAR_BROKER,
                            **_pulsar(topic, "publish", **{"messaging.message.id": mid,
                                                            "messaging.message.body.size": 140})})
        ids = {"messaging.message.id": mid, "messaging.message.body.size": 140}
        recv = b.span("payments", f"{topic} receive", kind="CONSUMER", start_ms=t + 9,
                      dur_ms=0.3, links=[pub],
                      attrs={**_PULSAR_BROKER, **_pulsar(topic, "receive", **ids)})
        proc = b.span("payments", f"{topic} process", kind="CONSUMER", parent=recv,
                      start_ms=t + 9.5, dur_ms=22, links=[pub],
                      attrs=_pulsar(topic, "process", **ids))
        _db(b, "payments", proc, t + 11, dur_ms=15)
    a = _analysed(b.store(), {
        f"service:orders->topic:{topic}": ("publish", N),
        f"topic:{topic}->service:payments": ("consume", N),
        "service:payments->external:postgresql": ("call", N),
    }, f"topic:{topic}->service:payments", p50_ms=22)
    assert _flows(a) == [("orders", N, 2.0)]


# ============================================================================ AWS SQS
# aws-sdk-2.2 (library, used by the javaagent): TracingExecutionInterceptor (a "<queue>
# publish" PRODUCER for SendMessage/SendMessageBatch with rpc.* and http.* attributes,
# aws.queue.url, messaging.system aws_sqs, messaging.message.id of SendMessage only; the
# context injected as the AWSTraceHeader system attribute (X-Ray propagation, the agent's
# default) into every message, one context for all entries of a batch (SqsImpl
# injectIntoSendMessageBatchRequest's TODO); a ReceiveMessage call with no current span makes
# no CLIENT span at all ("Skip creating request span for SqsClient.receiveMessage if there is
# no parent span"), SqsImpl.afterReceiveMessageExecution (with receive telemetry on, a
# "<queue> receive" CONSUMER span per call, also for an empty response, with
# messaging.batch.message_count = the number of messages and no link; then per message a
# "<queue> process" CONSUMER span, TracingIterator/TracingList, started when the app takes
# the message and ended when it takes the next: its parent is the message's context with
# receive telemetry off, else the receive span, linking the message's context),
# SqsReceiveRequestAttributesGetter (batch count = messages().size()).
# Tests read: testing/.../AbstractAws2SqsSuppressReceiveSpansTest (receive telemetry off:
# the process span a child of the publish, "process child" its child; the batch test: three
# process spans children of the one SendMessageBatch publish), AbstractAws2SqsTracingTest
# (receive telemetry on: root "testSdkSqs receive" with no link and the batch count, process
# spans its children each linking the publish), AbstractAws2SqsBaseTest (the attributes).

_SQS_URL = "https://sqs.eu-west-1.amazonaws.com/123456789012/"


def _sqs(queue: str, method: str, op: str, **extra: Any) -> dict[str, Any]:
    return {"aws.agent": "java-aws-sdk", "rpc.system": "aws-api", "rpc.service": "Sqs",
            "rpc.method": method, "http.request.method": "POST",
            "http.response.status_code": 200,
            "url.full": "https://sqs.eu-west-1.amazonaws.com",
            "server.address": "sqs.eu-west-1.amazonaws.com", "server.port": 443,
            "messaging.system": "aws_sqs", "messaging.destination.name": queue,
            "messaging.operation": op, **extra}


def _sqs_id(name: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, name))


def _sqs_send(b: SpanSet, service: str, parent: SpanRef, queue: str, t: float,
              mid: str | None, batch: int | None = None) -> SpanRef:
    extra: dict[str, Any] = {"aws.queue.url": _SQS_URL + queue,
                             "aws.request_id": _sqs_id(f"req-{queue}-{t}")}
    if mid is not None:
        extra["messaging.message.id"] = mid
    if batch is not None:
        extra["messaging.batch.message_count"] = batch
    return b.span(service, f"{queue} publish", kind="PRODUCER", parent=parent, start_ms=t,
                  dur_ms=24,
                  attrs=_sqs(queue, "SendMessageBatch" if batch else "SendMessage",
                             "publish", **extra))


def test_java_aws_sdk_sqs_default_process_spans_are_children_of_the_send():
    """Receive telemetry off (the default), the fulfilment worker polling from a thread of
    its own (no current span): its ReceiveMessage calls make no span, empty or not, and each
    message it takes is a "<queue> process" CONSUMER child of its send (the AWSTraceHeader's
    context). A SendMessageBatch of three returns is one publish span, no message id, and
    each of its messages' process spans is its child: three different messages (three ids),
    not one message delivered three times."""
    b = SpanSet()
    for i in range(N):
        t = i * 4000
        root = _order(b, t, dur_ms=40)
        mid = _sqs_id(f"order-{i}")
        send = _sqs_send(b, "orders", root, "orders-queue", t + 5, mid)
        proc = b.span("fulfilment", "orders-queue process", kind="CONSUMER", parent=send,
                      start_ms=t + 60, dur_ms=30,
                      attrs=_sqs("orders-queue", "ReceiveMessage", "process",
                                 **{"messaging.message.id": mid}))
        _db(b, "fulfilment", proc, t + 62, dur_ms=20)
    root = b.span("returns", "POST /returns", kind="SERVER", start_ms=20_000, dur_ms=40,
                  attrs={**_HTTP, "http.route": "/returns"})
    send = _sqs_send(b, "returns", root, "returns-queue", 20_005, None, batch=3)
    for k in range(3):
        proc = b.span("fulfilment", "returns-queue process", kind="CONSUMER", parent=send,
                      start_ms=20_070 + k * 15, dur_ms=14,
                      attrs=_sqs("returns-queue", "ReceiveMessage", "process",
                                 **{"messaging.message.id": _sqs_id(f"return-{k}")}))
        _db(b, "fulfilment", proc, 20_071 + k * 15, dur_ms=10)
    st = b.store()
    a = analyze(st)
    e = _edges(a)
    assert e["service:orders->topic:orders-queue"] == ("publish", N)
    assert e["topic:orders-queue->service:fulfilment"] == ("consume", N)
    assert e["topic:returns-queue->service:fulfilment"] == ("consume", 3)
    assert e["service:returns->topic:returns-queue"][0] == "publish"
    assert e["service:fulfilment->external:postgresql"] == ("call", N + 3)
    assert len(e) == 5
    for d in ("topic:orders-queue->service:fulfilment",
              "topic:returns-queue->service:fulfilment"):
        assert a.edge(d)["joined_by"] == {"context": e[d][1], "message_id": 0, "none": 0,
                                          "outside": 0}
    assert a.edge("topic:orders-queue->service:fulfilment")["p50_ms"] == 30
    assert not a.anomalies
    assert _systems(a) == {"topic:orders-queue": "aws_sqs", "topic:returns-queue": "aws_sqs"}
    assert _flows(a) == [("orders", N, 1.0), ("returns", 1, 1.0)]


def _sqs_receive_telemetry(b: SpanSet, empty_polls: bool) -> None:
    """Receive telemetry on. N orders sent to orders-queue; the worker's first
    ReceiveMessage (MaxNumberOfMessages 10, WaitTimeSeconds 20) returns the first order,
    the second returns the other two: a root "orders-queue receive" span per call with the
    batch count, and a "<queue> process" child per message linking its send, lasting until
    the app takes the next message. ``empty_polls``: the worker's long polls before and
    after came back empty: root receive spans of 20 s with batch count 0."""
    sends = []
    for i in range(N):
        t = i * 300
        root = _order(b, t, dur_ms=40)
        mid = _sqs_id(f"order-{i}")
        sends.append((_sqs_send(b, "orders", root, "orders-queue", t + 5, mid), mid))
    if empty_polls:
        b.span("fulfilment", "orders-queue receive", kind="CONSUMER", start_ms=-20_010,
               dur_ms=20_000, attrs=_sqs("orders-queue", "ReceiveMessage", "receive",
                                         **{"messaging.batch.message_count": 0}))
    for start, batch in ((-10, sends[:1]), (650, sends[1:])):
        recv = b.span("fulfilment", "orders-queue receive", kind="CONSUMER", start_ms=start,
                      dur_ms=40 if start < 0 else 25,
                      attrs=_sqs("orders-queue", "ReceiveMessage", "receive",
                                 **{"messaging.batch.message_count": len(batch)}))
        t = start + (40 if start < 0 else 25) + 1
        for send, mid in batch:
            proc = b.span("fulfilment", "orders-queue process", kind="CONSUMER",
                          parent=recv, links=[send], start_ms=t, dur_ms=30,
                          attrs=_sqs("orders-queue", "ReceiveMessage", "process",
                                     **{"messaging.message.id": mid}))
            _db(b, "fulfilment", proc, t + 2, dur_ms=20)
            t += 31
    if empty_polls:
        b.span("fulfilment", "orders-queue receive", kind="CONSUMER", start_ms=800,
               dur_ms=20_000, attrs=_sqs("orders-queue", "ReceiveMessage", "receive",
                                         **{"messaging.batch.message_count": 0}))


_SQS_EDGES = {
    "service:orders->topic:orders-queue": ("publish", N),
    "topic:orders-queue->service:fulfilment": ("consume", N),
    "service:fulfilment->external:postgresql": ("call", N),
}


def test_java_aws_sdk_sqs_receive_telemetry_process_spans_are_the_deliveries():
    """Receive telemetry on: the receive span is the poll (no link, so nothing to join); its
    process children, each linking its send, are the deliveries: one per message, lasting
    the process span (the two of one poll are two deliveries, not one batch)."""
    b = SpanSet()
    _sqs_receive_telemetry(b, empty_polls=False)
    a = _analysed(b.store(), _SQS_EDGES, "topic:orders-queue->service:fulfilment",
                  p50_ms=30)
    consume = a.edge("topic:orders-queue->service:fulfilment")
    assert (consume["message_count"], consume["batch_deliveries"]) == (N, 0)


def test_java_aws_sdk_sqs_empty_receives_are_no_deliveries():
    """ReceiveMessage calls that returned nothing still make a root "<queue> receive" span
    with messaging.batch.message_count 0 (receive telemetry on): they delivered nothing.
    Still N deliveries, no lost context, and no hop starts at an empty poll."""
    b = SpanSet()
    _sqs_receive_telemetry(b, empty_polls=True)
    a = _analysed(b.store(), _SQS_EDGES, "topic:orders-queue->service:fulfilment",
                  p50_ms=30)
    consume = a.edge("topic:orders-queue->service:fulfilment")
    assert (consume["message_count"], consume["batch_deliveries"]) == (N, 0)
    # (an empty poll's trace is a flow without a hop: it reaches no topic)
    assert not [f for f in a.flows if f["entry_service"] == "fulfilment"
                and "topic:orders-queue->service:fulfilment" not in f["hops"] and f["hops"]]


# Seen, not encoded (left alone): a Kafka Connect sink's put() naming no destination and
# linking records of two topics is read as one delivery from one of them (and a route
# between them); a poll span holding the messages of several orders keeps those orders'
# traces apart but is a flow of its own (flows are sets of whole traces).
