"""Span shapes of Scala and Kotlin messaging stacks, each read from the library's source or
its own tests: fs2-kafka traced with otel4s (the fs2-kafka-otel4s trace module), zio-kafka
traced with zio-opentelemetry (zio-theseus' tracing-kafka module), Pekko actors and Pekko HTTP
under the OpenTelemetry Java agent, Ktor's server and client instrumentation, and a Kafka
Streams aggregation (a repartition topic, a cached KTable) under the Java agent. Each test
builds exactly the spans the library exports for a small scenario and checks what the
analyzer makes of them."""

from __future__ import annotations

from typing import Any

from analyzer import analyze, flow_for_trace
from tests.analysis_checks import analysed_each as _analysed_each
from tests.analysis_checks import edges_of as _edges
from tests.analysis_checks import flows_of as _flows
from tests.analysis_checks import systems_of as _systems
from tests.builders import SpanRef, SpanSet

N = 3

_PG = {"db.system": "postgresql", "db.name": "shop", "server.address": "shop-db",
       "server.port": 5432}


def _http_server(b: SpanSet, service: str, route: str, t: float, dur_ms: float,
                 status: int = 202, path: str | None = None,
                 parent: SpanRef | None = None) -> SpanRef:
    """A Java agent 2.x HTTP server span: named "<method> <route>"."""
    return b.span(service, f"POST {route}", kind="SERVER", parent=parent, start_ms=t,
                  dur_ms=dur_ms, status="ERROR" if status >= 500 else "UNSET",
                  attrs={"http.request.method": "POST", "http.route": route,
                         "url.path": path or route, "url.scheme": "http",
                         "http.response.status_code": status, "server.address": service,
                         "server.port": 8080, "network.protocol.version": "1.1",
                         **({"error.type": str(status)} if status >= 500 else {})})


# ======================================================================= fs2-kafka + otel4s
# Read in iRevive/fs2-kafka-otel4s (the otel4s trace module proposed for fd4s/fs2-kafka,
# tracer name "fs2.kafka"), modules/trace/src/main/scala/fs2/kafka/otel4s/trace/:
# KafkaTracer.scala (default span names "send <topic>", "poll <topic>", "process <topic>",
# "commit <topic>"; the topic only when the operation has exactly one), TracedKafkaProducer.scala
# (one record without trace headers: a PRODUCER "send <topic>" whose context is injected; a
# batch (BatchSpanMode.PerRecordSpans, the default): a PRODUCER "create <topic>" per record,
# its context injected into that record, and one CLIENT send span linking them, each link
# carrying the record's topic and key; the ambient span parents them all; the create spans
# end once the batch is submitted, the send span once Kafka acknowledged it),
# TracedKafkaConsumer.scala (receive: a CLIENT "poll" span built with .root, linking each
# record's propagated context; process: a CONSUMER "process <topic>" span built with .root,
# linking its record's context; recordsTraced wraps `pure(chunk)` in the poll span, so it
# ends before the records are handled one by one; consumeChunkTraced nests
# `process(r1)(process(r2)(chunkProcessor))` inside the poll span, so every record's process
# span lasts the whole chunk and the chunk processor runs under the last record's) and
# internal/Semconv.scala (messaging.system kafka, messaging.operation.type/.name, the
# destination, messaging.client.id, messaging.consumer.group.name, the partition and
# messaging.kafka.offset on single-record spans and on links, messaging.batch.message_count
# on batches only); the tests KafkaConsumerTracingSuite ("process topic" CONSUMER with no
# parent and one link; "poll topic" CLIENT with no parent, operation name poll, type
# receive, batch count 2, two links) and KafkaProducerTracingSuite ("create topic-a",
# "create topic-b" PRODUCER and a CLIENT span named just "send" for a two-topic batch,
# links carrying messaging.destination.name). The commit span's attributes were not found
# in the versions stored: no commit span is built here.

def _fs2(op_type: str, op_name: str, topic: str | None, **extra: Any) -> dict[str, Any]:
    a: dict[str, Any] = {"messaging.system": "kafka", "messaging.operation.type": op_type,
                         "messaging.operation.name": op_name}
    if topic is not None:
        a["messaging.destination.name"] = topic
    a.update(extra)
    return a


def _fs2_link(topic: str, partition: int, offset: int, key: str) -> dict[str, Any]:
    return {"messaging.destination.name": topic,
            "messaging.destination.partition.id": str(partition),
            "messaging.kafka.message.key": key, "messaging.kafka.offset": offset}


_BILLING = {"messaging.client.id": "billing-consumer",
            "messaging.consumer.group.name": "billing"}


def _fs2_single_sends(b: SpanSet, t: float, c: int) -> list[tuple[int, SpanRef]]:
    """Two orders, each POST /orders producing one record to 'orders' (partition 0) with
    TracedKafkaProducer.produce(...).flatten: a PRODUCER "send orders" per order, partition
    and offset added on acknowledgement."""
    sends = []
    for j in range(2):
        i = 2 * c + j
        root = _http_server(b, "orders", "/orders", t + j * 20, 15)
        sends.append((i, b.span("orders", "send orders", kind="PRODUCER", parent=root,
                                start_ms=t + j * 20 + 3, dur_ms=8,
                                attrs=_fs2("send", "send", "orders",
                                           **{"messaging.client.id": "orders-producer",
                                              "messaging.kafka.message.key": f"order-{i}",
                                              "messaging.destination.partition.id": "0",
                                              "messaging.kafka.offset": 200 + i}))))
    return sends


def test_fs2_kafka_otel4s_records_traced_poll_and_process_are_linked_roots():
    """billing consumes 'orders' with TracedKafkaConsumer.recordsTraced: per chunk (two
    records of two orders) an instant root "poll orders" CLIENT span linking both sends,
    then per record a root "process orders" CONSUMER span linking its send, around the
    handler (its INSERT a child). Every delivery is joined by its link; queue time runs
    from each send's end to its process span. The poll's trace holds the poll alone: where
    two orders meet, no business transaction of billing's own. One flow per order, of two
    traces (the order's and its process span's)."""
    b = SpanSet()
    for c in range(N):
        t = c * 1000
        sends = _fs2_single_sends(b, t, c)
        links = [(s, _fs2_link("orders", 0, 200 + i, f"order-{i}")) for i, s in sends]
        b.span("billing", "poll orders", kind="CLIENT", start_ms=t + 60, dur_ms=0.2,
               links=links,
               attrs=_fs2("receive", "poll", "orders", **_BILLING,
                          **{"messaging.destination.partition.id": "0",
                             "messaging.batch.message_count": 2}))
        for n, (i, _) in enumerate(sends):
            proc = b.span("billing", "process orders", kind="CONSUMER",
                          start_ms=t + 61 + n * 19, dur_ms=18, links=[links[n]],
                          attrs=_fs2("process", "process", "orders", **_BILLING,
                                     **{"messaging.destination.partition.id": "0",
                                        "messaging.kafka.message.key": f"order-{i}",
                                        "messaging.kafka.offset": 200 + i}))
            b.span("billing", "INSERT shop.invoices", kind="CLIENT", parent=proc,
                   start_ms=t + 63 + n * 19, dur_ms=10,
                   attrs={**_PG, "db.operation": "INSERT"})
    a = _analysed_each(b.store(), {
        "service:orders->topic:orders": ("publish", 2 * N),
        "topic:orders->service:billing": ("consume", 2 * N),
        "service:billing->external:postgresql": ("call", 2 * N),
    }, ["topic:orders->service:billing"])
    assert _systems(a) == {"topic:orders": "kafka"}
    consume = a.edge("topic:orders->service:billing")
    assert consume["message_count"] == 2 * N
    assert consume["p50_ms"] == 18.0
    # (the first record waited 50 ms, the second 49 ms: sends end at 11 and 31 ms)
    assert consume["queue_p50_ms"] == 49.5
    assert _flows(a) == [("orders", 2 * N, 2.0)]


def test_fs2_kafka_otel4s_consume_chunk_traced_nests_process_spans_around_the_chunk():
    """billing uses consumeChunkTraced: the "poll orders" span wraps the chunk's handling;
    both records' "process orders" spans (roots, one link each) last the whole chunk; the
    chunk processor (one INSERT and one summary record to 'invoice-batches') runs under the
    last record's process span, so the summary's PRODUCER "send invoice-batches" is its
    child. ledger consumes the summary with recordsTraced. Two deliveries per chunk, each
    joined by its link; the summary travels with the last order's flow only."""
    b = SpanSet()
    for c in range(N):
        t = c * 1000
        sends = _fs2_single_sends(b, t, c)
        links = [(s, _fs2_link("orders", 0, 200 + i, f"order-{i}")) for i, s in sends]
        b.span("billing", "poll orders", kind="CLIENT", start_ms=t + 60, dur_ms=42,
               links=links,
               attrs=_fs2("receive", "poll", "orders", **_BILLING,
                          **{"messaging.destination.partition.id": "0",
                             "messaging.batch.message_count": 2}))
        procs = [b.span("billing", "process orders", kind="CONSUMER",
                        start_ms=t + 60.1 + n * 0.05, dur_ms=41.8 - n * 0.1, links=[links[n]],
                        attrs=_fs2("process", "process", "orders", **_BILLING,
                                   **{"messaging.destination.partition.id": "0",
                                      "messaging.kafka.message.key": f"order-{i}",
                                      "messaging.kafka.offset": 200 + i}))
                 for n, (i, _) in enumerate(sends)]
        b.span("billing", "INSERT shop.invoices", kind="CLIENT", parent=procs[-1],
               start_ms=t + 61, dur_ms=20, attrs={**_PG, "db.operation": "INSERT"})
        summary = b.span("billing", "send invoice-batches", kind="PRODUCER", parent=procs[-1],
                         start_ms=t + 82, dur_ms=18,
                         attrs=_fs2("send", "send", "invoice-batches",
                                    **{"messaging.client.id": "billing-producer",
                                       "messaging.destination.partition.id": "0",
                                       "messaging.kafka.offset": 50 + c}))
        lk = (summary, {"messaging.destination.name": "invoice-batches",
                        "messaging.destination.partition.id": "0",
                        "messaging.kafka.offset": 50 + c})
        ledger = {"messaging.client.id": "ledger-consumer",
                  "messaging.consumer.group.name": "ledger",
                  "messaging.destination.partition.id": "0", "messaging.kafka.offset": 50 + c}
        b.span("ledger", "poll invoice-batches", kind="CLIENT", start_ms=t + 130, dur_ms=0.2,
               links=[lk], attrs=_fs2("receive", "poll", "invoice-batches", **ledger))
        b.span("ledger", "process invoice-batches", kind="CONSUMER", start_ms=t + 130.3,
               dur_ms=9, links=[lk], attrs=_fs2("process", "process", "invoice-batches",
                                                **ledger))
    a = _analysed_each(b.store(), {
        "service:orders->topic:orders": ("publish", 2 * N),
        "topic:orders->service:billing": ("consume", 2 * N),
        "service:billing->external:postgresql": ("call", N),
        "service:billing->topic:invoice-batches": ("publish", N),
        "topic:invoice-batches->service:ledger": ("consume", N),
    }, ["topic:orders->service:billing", "topic:invoice-batches->service:ledger"])
    consume = a.edge("topic:orders->service:billing")
    assert consume["p50_ms"] == 41.75
    assert consume["queue_p50_ms"] == 39.125          # (49.1 and 29.15 ms)
    assert a.edge("topic:invoice-batches->service:ledger")["queue_p50_ms"] == 30.3
    # the first order of each chunk: its trace and its process span's; the last: those,
    # and the summary's delivery (ledger's poll and process traces)
    assert [f for f in _flows(a) if f[0] == "orders"] == [("orders", N, 2.0),
                                                          ("orders", N, 4.0)]


def test_fs2_kafka_otel4s_mixed_topic_batch_creates_per_record_and_a_client_send():
    """orders produces one ProducerRecords batch per request: an 'orders' record and an
    'audit' record. PerRecordSpans: a PRODUCER "create orders" and "create audit" (children
    of the HTTP span, each record's creation context) and one CLIENT send named just "send"
    (no destination: two topics; messaging.batch.message_count 2) linking both creates.
    billing and auditor each poll (one record: the poll links it) and process it (a root
    linking its create span). Each record is published once to its own topic; the send
    carries both and is no third publish; queue time runs to the send's acknowledgement."""
    b = SpanSet()
    client = {"messaging.client.id": "orders-producer"}
    for i in range(N):
        t = i * 200
        root = _http_server(b, "orders", "/orders", t, 30)
        creates = {topic: b.span("orders", f"create {topic}", kind="PRODUCER", parent=root,
                                 start_ms=t + 2 + n * 0.5, dur_ms=4 - n * 0.5,
                                 attrs=_fs2("create", "create", topic, **client,
                                            **{"messaging.kafka.message.key": f"order-{i}"}))
                   for n, topic in enumerate(("orders", "audit"))}
        b.span("orders", "send", kind="CLIENT", parent=root, start_ms=t + 3, dur_ms=20,
               links=[(cr, {"messaging.destination.name": topic,
                            "messaging.kafka.message.key": f"order-{i}"})
                      for topic, cr in creates.items()],
               attrs=_fs2("send", "send", None, **client,
                          **{"messaging.batch.message_count": 2}))
        for svc, topic, at in (("billing", "orders", 40), ("auditor", "audit", 55)):
            lk = (creates[topic], _fs2_link(topic, 0, 10 + i, f"order-{i}"))
            group = {"messaging.client.id": f"{svc}-consumer",
                     "messaging.consumer.group.name": svc,
                     "messaging.destination.partition.id": "0",
                     "messaging.kafka.message.key": f"order-{i}",
                     "messaging.kafka.offset": 10 + i}
            b.span(svc, f"poll {topic}", kind="CLIENT", start_ms=t + at, dur_ms=0.3,
                   links=[lk], attrs=_fs2("receive", "poll", topic, **group))
            b.span(svc, f"process {topic}", kind="CONSUMER", start_ms=t + at + 0.5,
                   dur_ms=12, links=[lk], attrs=_fs2("process", "process", topic, **group))
    a = _analysed_each(b.store(), {
        "service:orders->topic:orders": ("publish", N),
        "service:orders->topic:audit": ("publish", N),
        "topic:orders->service:billing": ("consume", N),
        "topic:audit->service:auditor": ("consume", N),
    }, ["topic:orders->service:billing", "topic:audit->service:auditor"])
    assert _systems(a) == {"topic:orders": "kafka", "topic:audit": "kafka"}
    # (the records left with the send, acknowledged at 23 ms, not when created)
    assert a.edge("topic:orders->service:billing")["queue_p50_ms"] == 17.5
    assert a.edge("topic:audit->service:auditor")["queue_p50_ms"] == 32.5
    assert [f[:2] for f in _flows(a)] == [("orders", N)]


# ============================================================ zio-kafka + zio-opentelemetry
# Read in pierangeloc/zio-theseus ("ZIO-Toolbox": tracing utilities on zio-opentelemetry;
# not published), modules/tracing-kafka/.../tracing/kafka/: producer/
# KafkaProducerTracingInterpreter.scala in two versions -- KafkaRecordTracer.produceTracedRecord
# (ClientBaseTracingInterpreter.spanOnRequest: tracing.span("kafka.producer - <topic>",
# SpanKind.PRODUCER) around injecting the context into the record's headers and
# zio-kafka's Producer.produce, attributes kafka.topic, messaging.destination.name,
# messaging.kafka.destination.partition; used by example/charging-service SessionPublisher)
# and, at f1c475e, KafkaRecordTracer.traced (no span: tracing.setAttribute of those three
# keys on whatever span is current, then tracing.inject of that span's context; used by
# simple-example KafkaClient.produce, called inside ProxyApp's tracing.span("proxy-call"),
# an INTERNAL span); consumer/KafkaConsumerTracingInterpreter.scala
# (ServerTracerBaseInterpreter.spanOnRequest: tracing.extractSpan from the record's headers,
# SpanKind.CONSUMER, named by the algebra -- "kafka-consumer" in KafkaBackendApp -- with
# kafka.topic and kafka.partition, or, in the other version, messaging.source.name,
# kafka.topic and messaging.kafka.source.partition). No messaging.system and no operation
# anywhere: the destination keys say Kafka.

def test_zio_theseus_producer_span_without_messaging_system():
    """charging-service's POST /sessions/stop calls charging-hub over gRPC, then publishes
    ChargeSessionEnded through produceTracedRecord: a PRODUCER "kafka.producer -
    session-events" naming no system and no operation. billing-service's "kafka-consumer"
    CONSUMER span (messaging.source.name, kafka.topic) is its child and writes to its
    database. A Kafka topic, one delivery per session joined by its parent."""
    b = SpanSet()
    rpc = {"rpc.system": "grpc", "rpc.service": "charginghub.ChargingHubApi",
           "rpc.method": "StopSession"}
    for i in range(N):
        t = i * 300
        root = _http_server(b, "charging-service", "/sessions/stop", t, 60, status=200)
        grpc = b.span("charging-service", "charginghub.ChargingHubApi/StopSession",
                      kind="CLIENT", parent=root, start_ms=t + 3, dur_ms=20,
                      attrs={**rpc, "server.address": "charging-hub", "server.port": 9000})
        b.span("charging-hub", "charginghub.ChargingHubApi/StopSession", kind="SERVER",
               parent=grpc, start_ms=t + 5, dur_ms=16, attrs=rpc)
        pub = b.span("charging-service", "kafka.producer - session-events", kind="PRODUCER",
                     parent=root, start_ms=t + 25, dur_ms=30,
                     attrs={"kafka.topic": "session-events",
                            "messaging.destination.name": "session-events",
                            "messaging.kafka.destination.partition": "0"})
        cons = b.span("billing-service", "kafka-consumer", kind="CONSUMER", parent=pub,
                      start_ms=t + 70, dur_ms=40,
                      attrs={"messaging.source.name": "session-events",
                             "kafka.topic": "session-events",
                             "messaging.kafka.source.partition": "0"})
        b.span("billing-service", "INSERT billable_session", kind="CLIENT", parent=cons,
               start_ms=t + 90, dur_ms=15,
               attrs={"db.system": "postgresql", "db.name": "db_billing_service",
                      "server.address": "localhost", "server.port": 5412})
    a = _analysed_each(b.store(), {
        "service:charging-service->service:charging-hub": ("call", N),
        "service:charging-service->topic:session-events": ("publish", N),
        "topic:session-events->service:billing-service": ("consume", N),
        "service:billing-service->external:postgresql": ("call", N),
    }, ["topic:session-events->service:billing-service"])
    assert _systems(a) == {"topic:session-events": "kafka"}
    assert a.edge("topic:session-events->service:billing-service")["queue_p50_ms"] == 15.0
    assert _flows(a) == [("charging-service", N, 1.0)]


# Not supported (left alone, see the session note): zio-theseus' KafkaRecordTracer.traced
# puts the destination keys on the current INTERNAL span and sends no producer span; an
# INTERNAL span naming a destination but no operation is no publish here, so the consumer,
# its child, has no producer.


# ============================================== Pekko actors + Pekko HTTP (Java agent 2.x)
# Read in open-telemetry/opentelemetry-java-instrumentation, instrumentation/pekko/:
# pekko-actor-1.0 (PekkoActorCellInstrumentation, PekkoDispatcherInstrumentation: a tell or
# ask carries the sender's context to the actor, no span of its own; PekkoActorTest
# basicTell/basicAsk: the actor's work is a child of "parent" though "parent" ended right
# after the tell, and carries no attribute), pekko-http-1.0 (server route instrumentation:
# PekkoHttpServerRouteTest names the server span "<method> <route>", path matchers shown as
# '*', e.g. "GET /api/v2/orders/*"; PekkoHttpTestWebServerWithActor and
# PekkoHttpServerWithActorTest: an actor asked from a route sees the route's span as
# current; the client instrumentation HttpExtClientInstrumentation, a CLIENT span per
# Http().singleRequest, named by the method alone as HttpSpanNameExtractor names client
# spans) and kafka-clients-0.11 ("<topic> publish" PRODUCER under the current context,
# "<topic> process" CONSUMER the child of the record's propagated context).

def _kafka(topic: str, op: str, client: str, **extra: Any) -> dict[str, Any]:
    """The Java agent's kafka-clients attributes (old messaging conventions, its default)."""
    return {"messaging.system": "kafka", "messaging.destination.name": topic,
            "messaging.operation": op, "messaging.client_id": client,
            "messaging.kafka.cluster.id": "Hq3XbN1-TgOp5k0D1JqZbw", **extra}


def _kafka_publish(b: SpanSet, service: str, parent: SpanRef | None, topic: str, t: float,
                   partition: int, offset: int, key: str, dur_ms: float = 5,
                   client: str = "producer-1") -> SpanRef:
    return b.span(service, f"{topic} publish", kind="PRODUCER", parent=parent, start_ms=t,
                  dur_ms=dur_ms,
                  attrs=_kafka(topic, "publish", client,
                               **{"messaging.destination.partition.id": str(partition),
                                  "messaging.kafka.message.offset": offset,
                                  "messaging.kafka.message.key": key}))


def _kafka_process(b: SpanSet, service: str, parent: SpanRef, topic: str, t: float,
                   group: str, partition: int, offset: int, key: str, dur_ms: float = 10,
                   client: str | None = None) -> SpanRef:
    return b.span(service, f"{topic} process", kind="CONSUMER", parent=parent, start_ms=t,
                  dur_ms=dur_ms,
                  attrs=_kafka(topic, "process", client or f"consumer-{group}-1",
                               **{"messaging.kafka.consumer.group": group,
                                  "messaging.destination.partition.id": str(partition),
                                  "messaging.kafka.message.offset": offset,
                                  "messaging.kafka.message.key": key,
                                  "messaging.message.body.size": 240}))


def test_pekko_http_route_tells_an_actor_that_calls_and_publishes_after_the_response():
    """shop's Pekko HTTP route POST /orders tells an OrderActor and completes with 202 at
    once (its server span lasts 4 ms). The actor, later, asks pricing over
    Http().singleRequest (a CLIENT "POST", pricing's server span "POST /prices/*") and
    publishes to 'orders' with a KafkaProducer: both children of the ended server span, by
    the context the tell carried; the actor's message is no span. billing consumes. One
    trace and one flow per order, whose critical path runs through the actor's work after
    the response."""
    b = SpanSet()
    roots = []
    for i in range(N):
        t = i * 500
        root = _http_server(b, "shop", "/orders", t, 4)
        roots.append(root)
        cl = b.span("shop", "POST", kind="CLIENT", parent=root, start_ms=t + 6, dur_ms=25,
                    attrs={"http.request.method": "POST",
                           "url.full": f"http://pricing:8080/prices/sku-{i}",
                           "server.address": "pricing", "server.port": 8080,
                           "http.response.status_code": 200,
                           "network.protocol.version": "1.1"})
        _http_server(b, "pricing", "/prices/*", t + 8, 20, status=200,
                     path=f"/prices/sku-{i}", parent=cl)
        pub = _kafka_publish(b, "shop", root, "orders", t + 33, partition=0, offset=70 + i,
                             key=f"order-{i}")
        _kafka_process(b, "billing", pub, "orders", t + 50, "billing", partition=0,
                       offset=70 + i, key=f"order-{i}", dur_ms=12)
    st = b.store()
    a = _analysed_each(st, {
        "service:shop->service:pricing": ("call", N),
        "service:shop->topic:orders": ("publish", N),
        "topic:orders->service:billing": ("consume", N),
    }, ["topic:orders->service:billing"])
    assert a.edge("topic:orders->service:billing")["queue_p50_ms"] == 12.0
    assert _flows(a) == [("shop", N, 1.0)]
    flow = flow_for_trace(st, roots[0].trace_id)
    assert flow["duration_ms"] == 62.0
    hops = [g["hop"] for g in flow["critical_path_segments"]]
    assert "service:shop->service:pricing" in hops
    assert hops[-2:] == ["topic:orders->service:billing", "service:billing"]


# ================================================================= Ktor (server + client)
# Read in open-telemetry/opentelemetry-java-instrumentation, instrumentation/ktor/ktor-3.0/
# library: server/KtorServerTracing.kt (the SERVER span starts in a phase before
# Monitoring and is handed to the handler's coroutines as a context element; it ends in
# the send pipeline's post-send phase, when the response is sent; http.route is
# call.route.parent, the route's path template, e.g. "/orders/{id}/confirm"), and
# ktor-2.0 common KtorClientTelemetryUtil.kt (a CLIENT span per pass through the send
# pipeline: every HttpRequestRetry attempt is its own span, HttpClientRequestResendCount
# adding http.request.resend_count from the second), client spans named by the method
# (HttpSpanNameExtractor). Work a handler does after call.respond() still runs in the
# server span's context, after that span has ended.

def test_ktor_client_retry_is_two_calls_and_the_publish_after_respond_is_the_requests():
    """orders' Ktor route POST /orders/{id}/confirm reserves stock at inventory with a
    Ktor client using HttpRequestRetry: the first attempt gets 503 (a failed CLIENT span
    and a failed SERVER span "POST /reservations/{sku}"), the second, 200 ms later, 200
    (http.request.resend_count 1). The route responds, then publishes 'order-confirmed'
    (kafka-clients under the agent): a child of the ended server span. shipping consumes.
    Two calls per order, one of them failed; one flow per order."""
    b = SpanSet()
    for i in range(N):
        t = i * 1000
        root = _http_server(b, "orders", "/orders/{id}/confirm", t, 240, status=200,
                            path=f"/orders/{i}/confirm")
        for n, (status, at) in enumerate(((503, 5), (200, 215))):
            attrs = {"http.request.method": "POST",
                     "url.full": f"http://inventory:8080/reservations/sku-{i}",
                     "server.address": "inventory", "server.port": 8080,
                     "http.response.status_code": status, "network.protocol.version": "1.1"}
            if n:
                attrs["http.request.resend_count"] = n
            if status >= 500:
                attrs["error.type"] = str(status)
            cl = b.span("orders", "POST", kind="CLIENT", parent=root, start_ms=t + at,
                        dur_ms=20, status="ERROR" if status >= 500 else "UNSET", attrs=attrs)
            _http_server(b, "inventory", "/reservations/{sku}", t + at + 2, 16,
                         status=status, path=f"/reservations/sku-{i}", parent=cl)
        pub = _kafka_publish(b, "orders", root, "order-confirmed", t + 242, partition=1,
                             offset=900 + i, key=str(i), dur_ms=6)
        _kafka_process(b, "shipping", pub, "order-confirmed", t + 260, "shipping",
                       partition=1, offset=900 + i, key=str(i), dur_ms=9)
    a = _analysed_each(b.store(), {
        "service:orders->service:inventory": ("call", 2 * N),
        "service:orders->topic:order-confirmed": ("publish", N),
        "topic:order-confirmed->service:shipping": ("consume", N),
    }, ["topic:order-confirmed->service:shipping"])
    assert a.edge("service:orders->service:inventory")["error_count"] == N
    assert a.edge("topic:order-confirmed->service:shipping")["queue_p50_ms"] == 12.0
    assert [f[:2] for f in _flows(a)] == [("orders", N)]


# =================================================== Kafka Streams aggregation (Java agent)
# Read in open-telemetry/opentelemetry-java-instrumentation, instrumentation/kafka/
# kafka-streams-0.11/javaagent/.../v0_11/: PartitionGroupInstrumentation (the "<topic>
# process" CONSUMER span starts at PartitionGroup.nextRecord inside StreamTask.process, its
# parent the record's propagated context when receive telemetry is off), StreamTaskInstrumentation
# (it ends when StreamTask.process returns) and StreamThreadInstrumentation (pollRequests
# makes no span): nothing else in the stream thread runs under a span. In apache/kafka,
# streams/.../state/internals/CachingKeyValueStore.java (a KTable's store caches dirty
# entries and forwards them downstream, and writes them to its changelog
# "<application.id>-<store>-changelog", only when the cache is flushed) and
# processor/internals/StreamTask.java prepareCommit ("we need to flush the store caches
# before flushing the record collector since it may cause some cached records to be
# processed and hence generate more records to be sent out"): with caching on (the
# default), an aggregate's output records are sent at commit (commit.interval.ms, 30 s),
# outside any process span, so their "<topic> publish" PRODUCER spans are roots. The
# agent's KafkaHeadersSetter replaces the traceparent header the output record inherited
# from its input, so a downstream consumer is the child of that root publish. A groupBy
# to a new key goes through "<application.id>-<name>-repartition", published inside the
# input record's process span and consumed back by the same application.

def test_kafka_streams_cached_count_repartitions_and_publishes_at_commit_in_new_traces():
    """order-stats (application.id order-stats) counts orders per customer:
    groupBy(customer, Grouped.as("orders-by-customer")).count(Materialized.as(
    "customer-counts")).toStream().to("customer-order-counts"). Each order's process span
    publishes to the repartition topic (its child); the repartition record's process span
    only updates the cache. At the commit, 30 s later, the two dirty customers are written
    to the changelog and to customer-order-counts: root PRODUCER spans, new traces;
    dashboard consumes the counts. Every delivery is joined by its parent; the
    repartition round trip and the changelog nobody reads are how Kafka Streams works (a
    repartition topic is read back by the application that wrote it; a changelog only
    when a store is restored), not a cycle or a lost publish."""
    b = SpanSet()
    rep = "order-stats-orders-by-customer-repartition"
    chg = "order-stats-customer-counts-changelog"
    thread = "order-stats-4c1e9a70-StreamThread-1"
    customers = ["c-1", "c-2", "c-1"]
    for i in range(N):
        t = i * 100
        root = _http_server(b, "shop", "/orders", t, 12)
        pub = _kafka_publish(b, "shop", root, "orders", t + 2, partition=0, offset=40 + i,
                             key=f"order-{i}", dur_ms=6)
        proc = _kafka_process(b, "order-stats", pub, "orders", t + 15, "order-stats",
                              partition=0, offset=40 + i, key=f"order-{i}", dur_ms=2,
                              client=f"{thread}-consumer")
        rp = _kafka_publish(b, "order-stats", proc, rep, t + 16, partition=0, offset=10 + i,
                            key=customers[i], client=f"{thread}-producer")
        _kafka_process(b, "order-stats", rp, rep, t + 30, "order-stats", partition=0,
                       offset=10 + i, key=customers[i], dur_ms=0.5,
                       client=f"{thread}-consumer")
    commit = 30_000
    for n, customer in enumerate(("c-1", "c-2")):
        at = commit + n * 0.4
        _kafka_publish(b, "order-stats", None, chg, at, partition=0, offset=5 + n,
                       key=customer, dur_ms=4, client=f"{thread}-producer")
        out = _kafka_publish(b, "order-stats", None, "customer-order-counts", at + 0.2,
                             partition=0, offset=7 + n, key=customer, dur_ms=4,
                             client=f"{thread}-producer")
        _kafka_process(b, "dashboard", out, "customer-order-counts", at + 20, "dashboard",
                       partition=0, offset=7 + n, key=customer, dur_ms=3)
    a = analyze(b.store())
    assert _edges(a) == {
        "service:shop->topic:orders": ("publish", N),
        "topic:orders->service:order-stats": ("consume", N),
        f"service:order-stats->topic:{rep}": ("publish", N),
        f"topic:{rep}->service:order-stats": ("consume", N),
        f"service:order-stats->topic:{chg}": ("publish", 2),
        "service:order-stats->topic:customer-order-counts": ("publish", 2),
        "topic:customer-order-counts->service:dashboard": ("consume", 2),
    }
    for d in ("topic:orders->service:order-stats", f"topic:{rep}->service:order-stats",
              "topic:customer-order-counts->service:dashboard"):
        assert a.edge(d)["joined_by"]["context"] == a.edge(d)["count"], d
    assert a.edge("topic:orders->service:order-stats")["queue_p50_ms"] == 7.0
    assert a.edge("topic:customer-order-counts->service:dashboard")["queue_p50_ms"] == 15.8
    assert ("shop", N, 1.0) in _flows(a)
    # (the counts published at commit carry no update's context: reported, the changelog
    # written with them not)
    assert [(x["type"], x["where"], x["count"]) for x in a.anomalies] == [
        ("publish_without_context", "service:order-stats->topic:customer-order-counts", 2)]
