"""Span shapes of reactive and concurrent JVM messaging clients, each read from the
instrumentation's or the library's own source and tests: reactor-kafka and the Vert.x Kafka
client under the OpenTelemetry Java agent (2.x), Confluent's Parallel Consumer under the
agent's kafka-clients instrumentation, and the Micrometer observations of Spring for Apache
Pulsar and Spring AMQP 3.0-3.1 through Micrometer Tracing's OpenTelemetry bridge. Each test
builds exactly the spans the library exports for a small scenario and checks what the
analyzer makes of them. (Micronaut Kafka, the Vert.x batch handler without receive
telemetry and Spring AMQP 3.2+ observations are in test_analyzer_jvm_frameworks.py,
test_analyzer_java_more.py and test_analyzer_libraries.py.)

reactor-kafka (open-telemetry/opentelemetry-java-instrumentation,
instrumentation/reactor/reactor-kafka-1.0/javaagent): InstrumentedKafkaReceiver wraps every
Flux of records the KafkaReceiver hands out (receive, receiveAutoAck, receiveAtmostOnce,
receiveBatch, receiveExactlyOnce) in InstrumentedKafkaFlux, whose subscriber starts one
"<topic> process" CONSUMER span per record (ReactorKafkaSingletons: KafkaInstrumenterFactory.
createConsumerProcessInstrumenter) around ``actual.onNext(record)`` only: the span ends when
onNext returns, whatever the pipeline goes on to do asynchronously. Its parent is the poll's
receive span when there is one, else the context current at subscription; the process
instrumenter (MessagingProcessInstrumenterFactory) then takes the record's headers as the
parent when receive telemetry is off (the default), and as a link when it is on.
ConsumerHandlerInstrumentation wraps the consumer's own flux in TracingDisablingKafkaFlux so
kafka-clients' iterator does not add a second process span. There is no sender
instrumentation: KafkaSender.send's records go through the kafka-clients producer
instrumentation ("<topic> publish", ended on the broker's acknowledgement), under the
context the reactor-3.1 instrumentation carries from the subscription to the sender's
scheduler. Tests read: testing/.../AbstractReactorKafkaTest (assertWithoutReceiveTelemetry:
producer -> "testTopic publish" -> "testTopic process" -> consumer, one trace;
assertWithReceiveTelemetry: a root "testTopic receive" with messaging.batch.message_count,
its "testTopic process" child linking the publish; under the stable conventions a root
"poll testTopic" CLIENT span linking the send and the process span a child of the send) and
build.gradle.kts (the `test` task runs with receive telemetry on, testReceiveSpansDisabled
without).
"""

from __future__ import annotations

from typing import Any

from analyzer import analyze, edge_detail
from tests.analysis_checks import analysed_each as _analysed_each
from tests.analysis_checks import flows_of as _flows
from tests.analysis_checks import systems_of as _systems
from tests.builders import SpanRef, SpanSet

N = 3

_PG = {"db.system": "postgresql", "db.name": "billing", "db.operation": "INSERT",
       "server.address": "billing-db", "server.port": 5432}


def _http(route: str, status: int = 202) -> dict[str, Any]:
    return {"http.request.method": "POST", "http.route": route, "url.scheme": "http",
            "url.path": route, "http.response.status_code": status,
            "server.address": "localhost", "server.port": 8080}


def _kafka(topic: str, op: str, client: str, **extra: Any) -> dict[str, Any]:
    """The agent's old-convention Kafka attributes (2.x default)."""
    return {"messaging.system": "kafka", "messaging.destination.name": topic,
            "messaging.operation": op, "messaging.client_id": client, **extra}


def _publish(b: SpanSet, service: str, parent: SpanRef | None, topic: str, t: float,
             dur_ms: float, partition: int, offset: int, key: str,
             client: str = "producer-1") -> SpanRef:
    """kafka-clients' "<topic> publish" PRODUCER: started at KafkaProducer.send, ended in
    the send's callback with the partition and offset the broker assigned."""
    return b.span(service, f"{topic} publish", kind="PRODUCER", parent=parent, start_ms=t,
                  dur_ms=dur_ms,
                  attrs=_kafka(topic, "publish", client,
                               **{"messaging.destination.partition.id": str(partition),
                                  "messaging.kafka.message.offset": offset,
                                  "messaging.kafka.message.key": key}))


def _process_attrs(topic: str, group: str, partition: int, offset: int,
                   key: str) -> dict[str, Any]:
    return _kafka(topic, "process", f"consumer-{group}-1",
                  **{"messaging.kafka.consumer.group": group,
                     "messaging.destination.partition.id": str(partition),
                     "messaging.kafka.message.offset": offset,
                     "messaging.kafka.message.key": key,
                     "messaging.message.body.size": 96})


def _receive(b: SpanSet, service: str, topic: str, group: str, t: float, dur_ms: float,
             count: int) -> SpanRef:
    """kafka-clients' poll span with receive telemetry on, old conventions: a root "<topic>
    receive" CONSUMER, only when the poll brought records, with their count and no link
    (KafkaBatchProcessSpanLinksExtractor is added to it under the stable conventions only)."""
    return b.span(service, f"{topic} receive", kind="CONSUMER", start_ms=t, dur_ms=dur_ms,
                  attrs=_kafka(topic, "receive", f"consumer-{group}-1",
                               **{"messaging.kafka.consumer.group": group,
                                  "messaging.batch.message_count": count}))


# ------------------------------------------------------------------------- reactor-kafka
def test_reactor_kafka_sender_flux_of_lines_is_one_flow_per_request():
    """Receive telemetry off (the default). A WebFlux endpoint posts an order of three lines
    with one KafkaSender.send(Flux) of three SenderRecords: three "order-lines publish"
    spans, all children of the request's SERVER span (the reactor context reaches the
    sender's scheduler), overlapping until each acknowledgement. billing's
    receiver.receive().flatMap(line -> webClient.post()...) gets a "order-lines process"
    span per record, a child of its publish, that ends as soon as flatMap has subscribed the
    WebClient call (0.3 ms): the call to ledger is the process span's child and outlives it.
    3N deliveries joined by their parent, one flow (one trace) per order, the queue time
    from each acknowledgement to its process span."""
    b = SpanSet()
    for i in range(N):
        t = i * 200
        root = b.span("orders", "POST /orders", kind="SERVER", start_ms=t, dur_ms=14,
                      attrs=_http("/orders"))
        for j in range(3):
            key = f"order-{i}"
            pub = _publish(b, "orders", root, "order-lines", t + 2 + 0.1 * j, 4 + 0.4 * j,
                           partition=i % 2, offset=300 + 3 * i + j, key=key)
            pub_end = t + 2 + 0.1 * j + 4 + 0.4 * j
            start = pub_end + 14
            proc = b.span("billing", "order-lines process", kind="CONSUMER", parent=pub,
                          start_ms=start, dur_ms=0.3,
                          attrs=_process_attrs("order-lines", "billing", i % 2,
                                               300 + 3 * i + j, key))
            call = b.span("billing", "POST", kind="CLIENT", parent=proc, start_ms=start + 0.1,
                          dur_ms=18, attrs={"http.request.method": "POST",
                                            "server.address": "ledger", "server.port": 8080,
                                            "url.full": "http://ledger:8080/entries",
                                            "http.response.status_code": 201})
            b.span("ledger", "POST /entries", kind="SERVER", parent=call,
                   start_ms=start + 0.6, dur_ms=17, attrs=_http("/entries", 201))
    st = b.store()
    a = _analysed_each(st, {
        "service:orders->topic:order-lines": ("publish", 3 * N),
        "topic:order-lines->service:billing": ("consume", 3 * N),
        "service:billing->service:ledger": ("call", 3 * N),
    }, ["topic:order-lines->service:billing"])
    assert _systems(a) == {"topic:order-lines": "kafka"}
    consume = a.edge("topic:order-lines->service:billing")
    assert (consume["message_count"], consume["batch_deliveries"]) == (3 * N, 0)
    assert consume["queue_p50_ms"] == 14.0
    assert _flows(a) == [("orders", N, 1.0)]


def test_reactor_kafka_receive_telemetry_processor_relays_each_line_to_invoices():
    """Receive telemetry on (old conventions). billing is a reactor-kafka processor:
    receiver.receive().flatMap(line -> sender.send(Mono.just(invoice line))). Each poll
    brings one order's three lines: a root "order-lines receive" (batch count 3, no link),
    under it each record's "order-lines process" linking its publish; the invoice line's
    "invoices publish" is that process span's child (the context current when flatMap
    subscribed the send inside onNext), starting on the sender's thread as the process span
    ends. mailer
    reads invoices the same way. Every delivery is joined by its link; the order's trace,
    billing's poll trace and mailer's poll trace are one flow."""
    b = SpanSet()
    for i in range(N):
        t = i * 300
        root = b.span("orders", "POST /orders", kind="SERVER", start_ms=t, dur_ms=12,
                      attrs=_http("/orders"))
        pubs = [_publish(b, "orders", root, "order-lines", t + 2 + 0.1 * j, 5,
                         partition=0, offset=40 + 3 * i + j, key=f"order-{i}")
                for j in range(3)]
        recv = _receive(b, "billing", "order-lines", "billing", t - 180, 190.0, 3)
        invoices = []
        for j, pub in enumerate(pubs):
            start = t + 12 + 2 * j
            proc = b.span("billing", "order-lines process", kind="CONSUMER", parent=recv,
                          links=[pub], start_ms=start, dur_ms=0.3,
                          attrs=_process_attrs("order-lines", "billing", 0, 40 + 3 * i + j,
                                               f"order-{i}"))
            invoices.append(_publish(b, "billing", proc, "invoices", start + 0.25, 4,
                                     partition=1, offset=900 + 3 * i + j, key=f"order-{i}",
                                     client="producer-2"))
        mrecv = _receive(b, "mailer", "invoices", "mailer", t + 5, 25.0, 3)
        for j, inv in enumerate(invoices):
            start = t + 31 + 1.5 * j
            proc = b.span("mailer", "invoices process", kind="CONSUMER", parent=mrecv,
                          links=[inv], start_ms=start, dur_ms=1.2,
                          attrs=_process_attrs("invoices", "mailer", 1, 900 + 3 * i + j,
                                               f"order-{i}"))
            b.span("mailer", "POST", kind="CLIENT", parent=proc, start_ms=start + 0.1,
                   dur_ms=1, attrs={"http.request.method": "POST",
                                    "server.address": "smtp-relay", "server.port": 443,
                                    "url.full": "https://smtp-relay/v3/mail/send"})
    st = b.store()
    a = _analysed_each(st, {
        "service:orders->topic:order-lines": ("publish", 3 * N),
        "topic:order-lines->service:billing": ("consume", 3 * N),
        "service:billing->topic:invoices": ("publish", 3 * N),
        "topic:invoices->service:mailer": ("consume", 3 * N),
        "service:mailer->external:smtp-relay": ("call", 3 * N),
    }, ["topic:order-lines->service:billing", "topic:invoices->service:mailer"])
    assert _systems(a) == {"topic:order-lines": "kafka", "topic:invoices": "kafka"}
    # lines: published from t+2 .. t+2.2, acknowledged 5 ms later, processed at t+12, +14,
    # +16; invoice lines acknowledged at t+16.25, +18.25, +20.25, processed at t+31, +32.5, +34
    assert a.edge("topic:order-lines->service:billing")["queue_p50_ms"] == 6.9
    assert a.edge("topic:invoices->service:mailer")["queue_p50_ms"] == 14.25
    assert _flows(a) == [("orders", N, 3.0)]


# ------------------------------------------------------------------------- Vert.x Kafka
# instrumentation/vertx/vertx-kafka-client-3.6/javaagent (InstrumentedSingleRecordHandler,
# InstrumentedBatchRecordsHandler, KafkaReadStreamImplInstrumentation) and the tests in
# testing/.../AbstractSingleRecordVertxKafkaTest and AbstractBatchRecordsVertxKafkaTest.

def test_vertx_kafka_stable_conventions_process_span_is_child_and_link_of_its_send():
    """OTEL_SEMCONV_STABILITY_OPT_IN=messaging with receive telemetry on
    (AbstractSingleRecordVertxKafkaTest, stable branch): "send orders" PRODUCER; a root
    "poll orders" CLIENT span per poll linking the send (messaging.operation.type receive,
    name poll, batch count 1); the handler's "process orders" CONSUMER span is a child of the
    send and also links it (hasParent(send).hasLinks(send)); a handler that throws marks its
    process span ERROR with error.type (shouldHandleFailureInSingleRecordHandler). Parent
    and link name one producer: one delivery per record, one of them failed; the poll is
    none. Each poll fetched one order's record and links only it: the poll's trace is part
    of that order's flow, two traces per order."""
    b = SpanSet()
    stable = {"messaging.system": "kafka", "messaging.destination.name": "orders"}
    for i in range(N + 1):
        t = i * 150
        failed = i == N
        root = b.span("orders", "POST /orders", kind="SERVER", start_ms=t, dur_ms=10,
                      attrs=_http("/orders"))
        rec = {"messaging.destination.partition.id": "0", "messaging.kafka.offset": 70 + i,
               "messaging.kafka.message.key": f"order-{i}"}
        send = b.span("orders", "send orders", kind="PRODUCER", parent=root, start_ms=t + 2,
                      dur_ms=4, attrs={**stable, **rec, "messaging.operation.name": "send",
                                       "messaging.operation.type": "send",
                                       "messaging.client.id": "producer-1"})
        b.span("billing", "poll orders", kind="CLIENT", start_ms=t - 40, dur_ms=52,
               links=[send],
               attrs={**stable, "messaging.operation.name": "poll",
                      "messaging.operation.type": "receive",
                      "messaging.client.id": "consumer-billing-1",
                      "messaging.consumer.group.name": "billing",
                      "messaging.batch.message_count": 1})
        proc = b.span("billing", "process orders", kind="CONSUMER", parent=send, links=[send],
                      start_ms=t + 13, dur_ms=9, status="ERROR" if failed else "UNSET",
                      attrs={**stable, **rec, "messaging.operation.name": "process",
                             "messaging.operation.type": "process",
                             "messaging.client.id": "consumer-billing-1",
                             "messaging.consumer.group.name": "billing",
                             "messaging.message.body.size": 88,
                             **({"error.type": "java.lang.IllegalArgumentException"}
                                if failed else {})})
        b.span("billing", "INSERT billing.invoices", kind="CLIENT", parent=proc,
               start_ms=t + 14, dur_ms=6, attrs=_PG)
    st = b.store()
    a = _analysed_each(st, {
        "service:orders->topic:orders": ("publish", N + 1),
        "topic:orders->service:billing": ("consume", N + 1),
        "service:billing->external:postgresql": ("call", N + 1),
    }, ["topic:orders->service:billing"])
    consume = a.edge("topic:orders->service:billing")
    assert (consume["message_count"], consume["error_count"]) == (N + 1, 1)
    assert consume["p50_ms"] == 9.0
    assert consume["queue_p50_ms"] == 7.0
    assert _flows(a) == [("orders", N + 1, 2.0)]


def test_vertx_kafka_batch_and_record_handlers_with_receive_telemetry_are_one_delivery():
    """Receive telemetry on (old conventions, AbstractBatchRecordsVertxKafkaTest's
    shouldCreateSpansForBatchReceiveAndProcess): a poll of two orders from two requests is a
    root "order-events receive"; under it the batch handler's "order-events process"
    (messaging.batch.message_count 2, linking both publishes) and each record's own
    "order-events process" linking its publish. Two handlers saw each record, which Kafka
    delivered once: 2N messages, each joined by context, no redelivery; each order is its
    own flow (the poll's trace joins two orders and merges neither)."""
    b = SpanSet()
    for k in range(N):
        t = k * 300
        pubs = []
        for j in range(2):
            i = 2 * k + j
            root = b.span("orders", "POST /orders", kind="SERVER", start_ms=t + 10 * j,
                          dur_ms=9, attrs=_http("/orders"))
            pubs.append(_publish(b, "orders", root, "order-events", t + 10 * j + 2, 4,
                                 partition=0, offset=500 + i, key=f"order-{i}"))
        recv = _receive(b, "billing", "order-events", "billing", t - 60, 80.0, 2)
        batch = b.span("billing", "order-events process", kind="CONSUMER", parent=recv,
                       links=pubs, start_ms=t + 21, dur_ms=6,
                       attrs=_kafka("order-events", "process", "consumer-billing-1",
                                    **{"messaging.kafka.consumer.group": "billing",
                                       "messaging.batch.message_count": 2}))
        b.span("billing", "audit batch", parent=batch, start_ms=t + 21.5, dur_ms=5)
        for j, pub in enumerate(pubs):
            i = 2 * k + j
            proc = b.span("billing", "order-events process", kind="CONSUMER", parent=recv,
                          links=[pub], start_ms=t + 28 + 6 * j, dur_ms=5,
                          attrs=_process_attrs("order-events", "billing", 0, 500 + i,
                                               f"order-{i}"))
            b.span("billing", "INSERT billing.invoices", kind="CLIENT", parent=proc,
                   start_ms=t + 28.5 + 6 * j, dur_ms=4, attrs=_PG)
    st = b.store()
    a = analyze(st)
    assert {e["id"]: e["type"] for e in a.edges} == {
        "service:orders->topic:order-events": "publish",
        "topic:order-events->service:billing": "consume",
        "service:billing->external:postgresql": "call",
    }
    assert a.edge("service:orders->topic:order-events")["count"] == 2 * N
    assert a.edge("service:billing->external:postgresql")["count"] == 2 * N
    consume = a.edge("topic:order-events->service:billing")
    assert consume["message_count"] == 2 * N
    assert consume["joined_by"]["message_id"] == 0 and consume["joined_by"]["none"] == 0
    assert not a.anomalies
    assert edge_detail(st, "topic:order-events->service:billing")["count"] == consume["count"]
    assert [f for f in _flows(a) if f[0] == "orders"] == [("orders", 2 * N, 1.0)]


# ------------------------------------------------------------- Confluent Parallel Consumer
# confluentinc/parallel-consumer has no tracing of its own. Read in parallel-consumer-core:
# internal/EpochAndRecordsMap (the broker poll thread keeps poll.records(partition), a List
# the agent's ConsumerRecordsInstrumentation.ListAdvice wraps in a TracingList),
# state/PartitionStateManager.maybeRegisterNewRecordAsWork (the controller thread iterates
# that list to register each record as work: kafka-clients-common TracingIterator starts a
# "<topic> process" span at each next(), its parent the record's context with receive
# telemetry off, and ends it at the following hasNext(): the span covers the registration
# only), internal/AbstractParallelEoSStreamProcessor (submitWorkToPoolInner submits the user
# function to the worker pool from the control loop, where no span is current; a failed
# function is retried by Parallel Consumer itself, without a new poll; pollAndProduce's
# ProducerRecords are sent by the worker after the function returns).

def test_parallel_consumer_user_function_runs_outside_the_records_process_span():
    """The Java agent with Parallel Consumer in billing: each record's "orders process" span
    is a 30 µs child of its publish (registration on the controller thread); the user
    function then runs on a worker with no context, so its insert is the root of a new
    trace, and so is the "invoices publish" pollAndProduce sends after it (mailer, a plain
    KafkaConsumer, processes it as that publish's child). One order's function fails twice
    and is retried by Parallel Consumer without a new poll: three inserts, two failed, one
    delivery. One delivery per record, none redelivered; the lost context splits each order
    into traces nothing joins."""
    b = SpanSet()
    for i in range(N):
        t = i * 400
        retried = i == 0
        root = b.span("orders", "POST /orders", kind="SERVER", start_ms=t, dur_ms=10,
                      attrs=_http("/orders"))
        pub = _publish(b, "orders", root, "orders", t + 2, 5, partition=i, offset=1200,
                       key=f"order-{i}")
        b.span("billing", "orders process", kind="CONSUMER", parent=pub, start_ms=t + 19,
               dur_ms=0.03, attrs=_process_attrs("orders", "billing", i, 1200, f"order-{i}"))
        work = t + 25
        for attempt in range(3 if retried else 1):
            failed = retried and attempt < 2
            b.span("billing", "INSERT billing.invoices", kind="CLIENT", start_ms=work,
                   dur_ms=6, status="ERROR" if failed else "UNSET", attrs=_PG)
            work += 6 + (100 if failed else 0)  # (defaultMessageRetryDelay: 1 s, shortened)
        inv = _publish(b, "billing", None, "invoices", work + 0.5, 4, partition=0,
                       offset=800 + i, key=f"order-{i}", client="producer-2")
        proc = b.span("mailer", "invoices process", kind="CONSUMER", parent=inv,
                      start_ms=work + 14, dur_ms=3,
                      attrs=_process_attrs("invoices", "mailer", 0, 800 + i, f"order-{i}"))
        b.span("mailer", "POST", kind="CLIENT", parent=proc, start_ms=work + 14.2, dur_ms=2,
               attrs={"http.request.method": "POST", "server.address": "smtp-relay",
                      "server.port": 443, "url.full": "https://smtp-relay/v3/mail/send"})
    st = b.store()
    a = _analysed_each(st, {
        "service:orders->topic:orders": ("publish", N),
        "topic:orders->service:billing": ("consume", N),
        "service:billing->external:postgresql": ("call", N + 2),
        "service:billing->topic:invoices": ("publish", N),
        "topic:invoices->service:mailer": ("consume", N),
        "service:mailer->external:smtp-relay": ("call", N),
    }, ["topic:orders->service:billing", "topic:invoices->service:mailer"],
        [("publish_without_context", "service:billing->topic:invoices", N)])
    assert a.edge("service:billing->external:postgresql")["error_count"] == 2
    assert a.edge("topic:orders->service:billing")["queue_p50_ms"] == 12.0
    assert a.edge("topic:invoices->service:mailer")["queue_p50_ms"] == 9.5
    assert _flows(a) == [("billing", N, 1.0), ("billing", N + 2, 1.0), ("orders", N, 1.0)]


# ------------------------------------------------------------ Spring for Apache Pulsar
# spring-projects/spring-pulsar, spring-pulsar/src/main/java/org/springframework/pulsar/
# observation: PulsarTemplateObservation / DefaultPulsarTemplateObservationConvention (name
# "<destination> send", the topic as given to PulsarTemplate.send; tag
# spring.pulsar.template.name), PulsarMessageSenderContext (a SenderContext: Micrometer
# Tracing's PropagatingSenderTracingObservationHandler makes a PRODUCER span and injects it
# into the message's properties; no remote service name), PulsarListenerObservation /
# DefaultPulsarListenerObservationConvention ("<Message.getTopicName()> receive", the fully
# qualified topic; tag spring.pulsar.listener.id "<id>-<n>"), PulsarMessageReceiverContext (a
# ReceiverContext: a CONSUMER span, the child of the extracted context). No messaging.*
# attribute at all. Test read: spring-pulsar/src/test/.../observation/ObservationTests
# (sendAndReceiveCreatesExpectedSpansAndMetrics: "obs1-topic send", then
# "persistent://public/default/obs1-topic receive", the listener's template.send to
# obs2-topic a child of it, "persistent://public/default/obs2-topic receive").

# (Not encoded, left alone: Spring for Apache Pulsar's observations. "orders send" and
# "persistent://public/default/orders receive" carry no messaging.* attribute: the topic
# is only in the span names, which the decoders do not read for destinations (reading
# them broke five libraries whose names carry message classes or channels), so every
# message is on topic 'unknown'.)


# ------------------------------------------------------------------ Spring AMQP 3.0-3.1
# spring-projects/spring-amqp, spring-rabbit/.../support/micrometer: before 3.2
# RabbitMessageSenderContext(message, beanName, destination) took "<exchange>/<routing
# key>" as the destination (RabbitTemplate passes exch + "/" + rKey) and the convention named
# the span "<destination> send" with only spring.rabbit.template.name; the listener's span
# is "<consumer queue> receive" with only spring.rabbit.listener.id. Both contexts set the
# remote service name "RabbitMQ", which the OpenTelemetry bridge (OtelSpanBuilder /
# OtelSpan.remoteServiceName) writes as peer.service. The messaging.destination.name and
# routing-key tags came with 3.2 (RabbitTemplateObservation, RabbitListenerObservation).
# Test read: spring-rabbit/src/test/.../micrometer/ObservationTests ("/observation.testQ1
# send", then "observation.testQ1 receive").

# (Not encoded, left alone: Spring AMQP 3.0-3.1's observations name the exchange and routing
# key ("orders/order.created send") or the queue ("billing receive") only in the span name,
# with peer.service RabbitMQ: as Spring Pulsar's above, every message is on 'unknown'.
# Spring AMQP 3.2+ names them in attributes, read right: tests/test_analyzer_libraries.py.)

