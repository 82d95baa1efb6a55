"""Span shapes of Python and Go messaging and task libraries, round 4, each read from the
library's source: FastStream's OpenTelemetry middleware over NATS and Redis (lists and
streams, beside opentelemetry-instrumentation-redis), faust-streaming's OpenTelemetrySensor
beside opentelemetry-instrumentation-aiokafka, opentelemetry-instrumentation-arq, machinery's
OpenTracing spans through OpenTelemetry's OpenTracing bridge, go-micro's OpenTelemetry
wrappers and go-redis' redisotel on Redis Streams. Each test builds exactly the spans the
library exports for a small scenario and checks what the analyzer makes of them.

(FastStream over Kafka, single and batch consumers, is in test_analyzer_libraries.py;
Watermill in test_analyzer_jobs_more.py; aiokafka's getmany spans alone in
test_analyzer_conventions.py: not repeated here. huey, procrastinate and pgmq ship no tracing
and no OpenTelemetry instrumentation of them was found; logfire's messaging spans are those of
opentelemetry-instrumentation-celery, encoded elsewhere.)"""

from __future__ import annotations

import json
from typing import Any

from analyzer import analyze, edge_detail, flow_for_trace
from tests.analysis_checks import analysed_each as _analysed_each
from tests.analysis_checks import edges_of as _edges
from tests.analysis_checks import systems_of as _systems
from tests.builders import SpanRef, SpanSet

N = 3


# ----------------------------------------------------------------------------- FastStream
# Read from ag2ai/faststream: faststream/opentelemetry/middleware.py (TelemetryMiddleware,
# BaseTelemetryMiddleware.publish_scope / consume_scope / after_processed, _get_msg_links),
# faststream/nats/opentelemetry/provider.py, faststream/redis/opentelemetry/provider.py,
# faststream/redis/response.py (RedisPublishCommand: the destination is the channel, list or
# stream), faststream/_internal/endpoint/subscriber/usecase.py and the middleware's own tests
# tests/opentelemetry/basic.py (test_chain_subscriber_publisher,
# test_no_trace_context_create_process_span) and tests/opentelemetry/redis/test_redis.py
# (test_batch_publish_with_single_consume).
#
# publish_scope outside a handler: a zero-length PRODUCER "<dest> create" span (its context
# is injected into the headers, then it ends), then a PRODUCER "<dest> publish" child of it
# around the send (messaging.operation = publish). Both carry messaging.system,
# messaging.destination.name and messaging.message.conversation_id (the correlation id), no
# message id; a batch of more than one message adds messaging.batch.message_count and the
# baggage entry with_batch=True.
# consume_scope: the headers' context (a single message) is the parent of a CONSUMER
# "<dest> process" span (messaging.operation = process, the topic only as
# messaging.destination_publish.name, messaging.message.id, conversation id, payload size).
# With no context in the headers, or for a batch (or a message of a batch-published lot,
# whose baggage says with_batch), a zero-length CONSUMER "<dest> create" span opens a new
# trace (linking the messages' producers) and the process span is its child.
# A handler's return value is published (by the handler's @publisher) after the handler
# returned, before after_processed ends the process span: with a process span recording,
# publish_scope makes no create span, its publish span is a child of the process span, and
# the headers get the *incoming* origin context (self._origin_context): the next consumer's
# process span is a child of the first message's create span.

_NATS = {"messaging.system": "nats"}
_REDIS = {"messaging.system": "redis"}


def _fs_publish(b: SpanSet, service: str, parent: SpanRef, t: float, dest: str,
                system: dict[str, Any], corr: str, *, batch: int = 1,
                dur: float = 1.5) -> tuple[SpanRef, SpanRef]:
    """The create span and the publish span under it; returns both."""
    attrs = {**system, "messaging.destination.name": dest,
             "messaging.message.conversation_id": corr}
    if batch > 1:
        attrs["messaging.batch.message_count"] = batch
    create = b.span(service, f"{dest} create", kind="PRODUCER", parent=parent, start_ms=t,
                    dur_ms=0, attrs=attrs)
    pub = b.span(service, f"{dest} publish", kind="PRODUCER", parent=create, start_ms=t,
                 dur_ms=dur, attrs={**attrs, "messaging.operation": "publish"})
    return create, pub


def _fs_consume_attrs(system: dict[str, Any], dest: str, mid: str, corr: str,
                      size: int) -> dict[str, Any]:
    return {**system, "messaging.message.id": mid,
            "messaging.message.conversation_id": corr,
            "messaging.message.payload_size_bytes": size,
            "messaging.destination_publish.name": dest}


def test_faststream_nats_handler_output_goes_out_with_the_first_create_context():
    """FastStream over NATS (source above; the middleware's own test_chain_subscriber_
    publisher asserts this tree): the API publishes orders.placed; billing's handler returns
    an invoice that its @publisher sends to invoices.issued. That "invoices.issued publish"
    is a child of billing's process span, but the message carries the *first* create span's
    context, so the mailer's "invoices.issued process" is a child of the API's
    "orders.placed create" span. Everything is one trace.
    Expected: two hops, orders.placed -> billing and invoices.issued -> mailer, the second
    delivered from billing's publish (the only publish of that subject, earlier in the same
    trace): no broker route between the two subjects, no invoice published and never
    consumed, queue time from the end of billing's publish (7.5 ms)."""
    b = SpanSet()
    for i in range(N):
        t = i * 100
        corr = f"9f0c2d1e-5b7a-4c3e-8d21-00000000000{i}"
        root = b.span("api", "POST /orders", kind="SERVER", start_ms=t, dur_ms=10)
        create, _ = _fs_publish(b, "api", root, t + 2, "orders.placed", _NATS, corr)
        proc1 = b.span("billing", "orders.placed process", kind="CONSUMER", parent=create,
                       start_ms=t + 10, dur_ms=8,
                       attrs={**_fs_consume_attrs(_NATS, "orders.placed", f"a1{i}", corr, 118),
                              "messaging.operation": "process"})
        b.span("billing", "invoices.issued publish", kind="PRODUCER", parent=proc1,
               start_ms=t + 16, dur_ms=1.5,
               attrs={**_NATS, "messaging.destination.name": "invoices.issued",
                      "messaging.message.conversation_id": corr,
                      "messaging.operation": "publish"})
        b.span("mailer", "invoices.issued process", kind="CONSUMER", parent=create,
               start_ms=t + 25, dur_ms=5,
               attrs={**_fs_consume_attrs(_NATS, "invoices.issued", f"b2{i}", corr, 96),
                      "messaging.operation": "process"})
    st = b.store()
    a = analyze(st)
    assert _edges(a) == {
        "service:api->topic:orders.placed": ("publish", N),
        "topic:orders.placed->service:billing": ("consume", N),
        "service:billing->topic:invoices.issued": ("publish", N),
        "topic:invoices.issued->service:mailer": ("consume", N),
    }
    assert a.edge("topic:orders.placed->service:billing")["joined_by"] == {
        "context": N, "message_id": 0, "none": 0, "outside": 0}
    mail = a.edge("topic:invoices.issued->service:mailer")
    assert mail["joined_by"]["none"] == 0 and mail["p50_ms"] == 5
    assert mail["queue_p50_ms"] == 7.5
    assert not a.anomalies
    assert _systems(a) == {"topic:orders.placed": "nats", "topic:invoices.issued": "nats"}
    (flow,) = a.flows
    assert flow["count"] == N and flow["traces_per_flow"] == 1.0
    one = flow_for_trace(st, flow["example_trace_ids"][0])
    assert {s["service_name"] for s in one["spans"]} == {"api", "billing", "mailer"}


# Not supported (left alone): FastStream puts its publish span under a zero-length create
# span (redis/opentelemetry/provider.py); a delivery's queue time is measured from the end
# of the create span it links to, not from the end of the publish under it (24.0 against
# 22.8 ms in a batch of three).


# opentelemetry-instrumentation-redis (open-telemetry/opentelemetry-python-contrib,
# instrumentation/opentelemetry-instrumentation-redis/src/opentelemetry/instrumentation/redis/
# util.py and __init__.py): a CLIENT span per command named after it ("XADD"), db.system
# redis, db.statement sanitised to "XADD ? ? ...", db.redis.args_length,
# db.redis.database_index, net.peer.name / net.peer.port / net.transport. FastStream's
# stream subscriber reads with XREADGROUP in a task of its own (no span current): each read
# is a root span.
_PYREDIS = {"db.system": "redis", "db.redis.database_index": 0, "net.peer.name": "redis",
            "net.peer.port": 6379, "net.transport": "ip_tcp"}


def _pyredis(b: SpanSet, service: str, parent: SpanRef | None, t: float, cmd: str,
             nargs: int, dur: float = 0.9) -> SpanRef:
    return b.span(service, cmd, kind="CLIENT", parent=parent, start_ms=t, dur_ms=dur,
                  attrs={**_PYREDIS, "db.statement": " ".join([cmd] + ["?"] * (nargs - 1)),
                         "db.redis.args_length": nargs})


def test_faststream_redis_stream_beside_redis_instrumentation_and_a_bare_publisher():
    """FastStream over a Redis stream with opentelemetry-instrumentation-redis on both
    sides (sources above): the API's "orders publish" wraps the client's XADD span; the
    subscriber's XREADGROUP polls are root spans; each message's "orders process" is a
    child of the API's create span. A legacy importer writes to the same stream with a bare
    XADD (no FastStream telemetry, no trace context in the entry): FastStream opens a
    CONSUMER "orders create" root for it and the process span under it
    (test_no_trace_context_create_process_span).
    Expected: the XADD and XREADGROUP spans are calls to redis, not publishes or polls of the
    stream; each message one delivery (the create anchor is none); the importer's
    deliveries reach billing without context, which the analysis reports, and the API's
    deliveries are joined by context."""
    b = SpanSet()
    for k in range(2 * N + 2):   # the subscriber's reads: empty 50 ms blocks and hits
        _pyredis(b, "billing", None, k * 50, "XREADGROUP", 10, dur=49 if k % 2 else 0.8)
    for i in range(N):
        t = i * 100 + 5
        corr = f"1b3f5a7c-0e2d-4c6b-9a8f-00000000000{i}"
        root = b.span("api", "POST /orders", kind="SERVER", start_ms=t, dur_ms=10)
        create, pub = _fs_publish(b, "api", root, t + 2, "orders", _REDIS, corr)
        _pyredis(b, "api", pub, t + 2.2, "XADD", 6, dur=1.1)
        b.span("billing", "orders process", kind="CONSUMER", parent=create, start_ms=t + 20.5,
               dur_ms=9, attrs={**_fs_consume_attrs(_REDIS, "orders", f"e5{i}", corr, 64),
                                "messaging.operation": "process"})
        legacy = b.span("importer", "POST /orders/import", kind="SERVER", start_ms=t + 40,
                        dur_ms=6)
        _pyredis(b, "importer", legacy, t + 41, "XADD", 6, dur=1.1)
        attrs = _fs_consume_attrs(_REDIS, "orders", f"f6{i}", f"c0ffee0{i}", 64)
        anchor = b.span("billing", "orders create", kind="CONSUMER", start_ms=t + 60,
                        dur_ms=0, attrs=attrs)
        b.span("billing", "orders process", kind="CONSUMER", parent=anchor, start_ms=t + 60,
               dur_ms=9, attrs={**attrs, "messaging.operation": "process"})
    st = b.store()
    a = analyze(st)
    assert _edges(a) == {
        "service:api->topic:orders": ("publish", N),
        "topic:orders->service:billing": ("consume", 2 * N),
        "service:api->external:redis": ("call", N),
        "service:importer->external:redis": ("call", N),
        "service:billing->external:redis": ("call", 2 * N + 2),
    }
    consume = a.edge("topic:orders->service:billing")
    assert consume["joined_by"] == {"context": N, "message_id": 0, "none": N, "outside": 0}
    assert consume["p50_ms"] == 9
    assert [(x["type"], x["where"], x["count"], x["stitched"]) for x in a.anomalies] == [
        ("broken_context", "topic:orders->service:billing", N, 0)]
    assert _systems(a) == {"topic:orders": "redis"}
    api = [f for f in a.flows if f["entry_service"] == "api"]
    assert [(f["count"], f["traces_per_flow"]) for f in api] == [(N, 1.0)]
    assert edge_detail(st, "topic:orders->service:billing")["count"] == 2 * N


# -------------------------------------------------------------------------- faust-streaming
# Read from faust-streaming 0.15.3 (the PyPI wheel): faust/contrib/opentelemetry.py
# (OpenTelemetrySensor, setup_opentelemetry), faust/streams.py (_py_aiter: the sensor's
# on_stream_event_in before the agent gets the value, on_stream_event_out when the agent
# asks for the next one), faust/topics.py (publish_message -> producer.send) and
# faust/transport/drivers/aiokafka.py (Producer.send -> AIOKafkaProducer.send); with
# open-telemetry/opentelemetry-python-contrib's opentelemetry-instrumentation-aiokafka
# (src/opentelemetry/instrumentation/aiokafka/utils.py), which the sensor's docstring says
# to install for the produce side and which also wraps Faust's getmany().
#
# The sensor opens a CONSUMER "<topic> process" span per event whose parent is the record's
# traceparent header (the aiokafka "<topic> send" span), current while the agent handles the
# event: messaging.system kafka, operation name and type process, destination name,
# partition id, kafka offset and key, consumer group = the app id. It injects nothing; the
# agent's topic.send() goes through AIOKafkaProducer.send, whose "<topic> send" PRODUCER span
# is a child of the process span. In Faust's consumer thread, aiokafka's getmany makes a
# poll span (no topic), a span per topic linking its records, and a "<topic> receive" span
# per record, child of the send too: siblings of the process span.

def _kafka(client: str) -> dict[str, Any]:
    return {"messaging.system": "kafka", "server.address": '["kafka-0:9092"]',
            "messaging.client.id": client}


_SEND = {"messaging.operation.name": "send", "messaging.operation.type": "publish"}
_RECV = {"messaging.operation.name": "receive", "messaging.operation.type": "receive"}
_PROC = {"messaging.operation.name": "process", "messaging.operation.type": "process"}


def test_faust_agent_process_span_beside_aiokafka_receive_spans_is_one_delivery():
    """The orders API (aiokafka) sends to "orders"; a Faust app "billing" with
    setup_opentelemetry() and the aiokafka instrumentation fetches each record (poll span,
    per-topic span linking the record, record "orders receive" child of the send) and its
    agent handles it in "orders process" (child of the send too), sending an invoice to
    "invoices" from inside; the mailer's process span is a child of that send.
    Expected: each record is one delivery, the agent's process span (12 ms, not the
    0.1 ms record span); the agent's send is billing's publish; one flow per order."""
    b = SpanSet()
    for i in range(N):
        t = i * 100
        key = f"order-{1042 + i}"
        root = b.span("orders", "POST /orders", kind="SERVER", start_ms=t, dur_ms=12)
        send = b.span("orders", "orders send", kind="PRODUCER", parent=root, start_ms=t + 3,
                      dur_ms=4, attrs={**_kafka("aiokafka-1"), **_SEND,
                                       "messaging.destination.name": "orders",
                                       "messaging.destination.partition.id": "0",
                                       "messaging.kafka.message.key": key})
        f = {**_kafka("faust-0.15.3"), "messaging.consumer.group.name": "billing"}
        rec_attrs = {"messaging.destination.name": "orders",
                     "messaging.destination.partition.id": "0"}
        poll = b.span("billing", "receive", kind="CONSUMER", start_ms=t + 20, dur_ms=1.5,
                      attrs={**f, **_RECV, "messaging.batch.message_count": 1})
        rec = b.span("billing", "orders receive", kind="CONSUMER", parent=send,
                     start_ms=t + 20.5, dur_ms=0.1,
                     attrs={**f, **_RECV, **rec_attrs, "messaging.kafka.message.key": key,
                            "messaging.kafka.message.offset": 40 + i,
                            "messaging.message.id": f"orders.0.{40 + i}"})
        b.span("billing", "orders receive", kind="CONSUMER", parent=poll, start_ms=t + 20.3,
               dur_ms=1, links=[rec],
               attrs={**f, **_RECV, **rec_attrs, "messaging.batch.message_count": 1})
        proc = b.span("billing", "orders process", kind="CONSUMER", parent=send,
                      start_ms=t + 24, dur_ms=12,
                      attrs={"messaging.system": "kafka", **_PROC, **rec_attrs,
                             "messaging.kafka.message.offset": 40 + i,
                             "messaging.consumer.group.name": "billing",
                             "messaging.kafka.message.key": key})
        out = b.span("billing", "invoices send", kind="PRODUCER", parent=proc,
                     start_ms=t + 32, dur_ms=2.5,
                     attrs={**_kafka("faust-0.15.3"), **_SEND,
                            "messaging.destination.name": "invoices",
                            "messaging.destination.partition.id": "2",
                            "messaging.kafka.message.key": key})
        b.span("mailer", "invoices process", kind="CONSUMER", parent=out, start_ms=t + 60,
               dur_ms=6, attrs={"messaging.system": "kafka", **_PROC,
                                "messaging.destination.name": "invoices",
                                "messaging.destination.partition.id": "2",
                                "messaging.kafka.message.offset": 7 + i,
                                "messaging.consumer.group.name": "mailer"})
    st = b.store()
    a = _analysed_each(st, {
        "service:orders->topic:orders": ("publish", N),
        "topic:orders->service:billing": ("consume", N),
        "service:billing->topic:invoices": ("publish", N),
        "topic:invoices->service:mailer": ("consume", N),
    }, ["topic:orders->service:billing", "topic:invoices->service:mailer"])
    assert a.edge("topic:orders->service:billing")["p50_ms"] == 12
    assert a.edge("topic:orders->service:billing")["message_count"] == N
    assert _systems(a) == {"topic:orders": "kafka", "topic:invoices": "kafka"}
    (flow,) = a.flows
    assert flow["entry_service"] == "orders" and flow["count"] == N


# ------------------------------------------------------------------------------------ arq
# Read from opentelemetry-instrumentation-arq 0.50b1 (the PyPI wheel, by fcfangcc:
# opentelemetry/instrumentation/arq/__init__.py; README in fcfangcc/opentelemetry-
# instrumentation-arq). ArqRedis.enqueue_job is wrapped in a CLIENT span named after the job
# function (arq.job.name, and from the returned Job arq.job.id and arq.job.queue; ERROR
# "Job with this ID already exists" when arq returns None) that injects its context into the
# job's kwargs (_carrier). Function.coroutine and CronJob.coroutine are wrapped in a SERVER
# span named after the function whose parent is extracted from _carrier (arq.job.name,
# arq.job.id, arq.job.try, arq.job.score; status OK, or the exception recorded). No
# messaging attribute at all. A job raising arq's Retry is run again from the job stored in
# Redis, _carrier included: each try is another SERVER child of the one CLIENT span. A cron
# job has no carrier: a root SERVER span. (python-arq/arq's own arq/opentelemetry package,
# "<job> send" / "<job> process", exists only on an unreleased branch whose consume.py cannot
# run as stored; not encoded.) The analyzer reads these keys (collector.untagged.arq_job).

def _arq(name: str, job_id: str, **more: Any) -> dict[str, Any]:
    return {"arq.job.name": name, "arq.job.id": job_id, **more}


def test_arq_enqueue_is_a_send_to_its_queue_and_each_try_a_delivery():
    """The API enqueues send_welcome_email (CLIENT, 1.8 ms); the worker's first try gets a
    503 from the mail provider and raises Retry (SERVER span ERROR), the second try 0.5 s
    later succeeds; both are children of the enqueue. A cron job runs in between (root).
    Expected: the span kinds say a call, but arq's keys say a job: a send to its queue
    (arq.job.queue) and two deliveries of it, one failed, the second reported as the job
    delivered again; the cron job, which no one sent, is no edge."""
    b = SpanSet()
    http = {"http.method": "POST", "http.url": "https://api.mailer.example/v3/send",
            "net.peer.name": "api.mailer.example"}
    for i in range(N):
        t = i * 1000
        jid = f"{0x5e1f00 + i:032x}"
        root = b.span("api", "POST /signup", kind="SERVER", start_ms=t, dur_ms=12)
        enq = b.span("api", "send_welcome_email", kind="CLIENT", parent=root, start_ms=t + 3,
                     dur_ms=1.8, attrs=_arq("send_welcome_email", jid,
                                            **{"arq.job.queue": "arq:queue"}))
        for n, (start, dur, ok) in enumerate([(20, 30, False), (560, 25, True)], start=1):
            run = b.span("worker", "send_welcome_email", kind="SERVER", parent=enq,
                         start_ms=t + start, dur_ms=dur, status="OK" if ok else "ERROR",
                         attrs=_arq("send_welcome_email", jid, **{
                             "arq.job.try": n, "arq.job.score": 1_764_000_000_000 + t + start}))
            b.span("worker", "POST", kind="CLIENT", parent=run, start_ms=t + start + 1,
                   dur_ms=dur - 3, status="UNSET" if ok else "ERROR",
                   attrs={**http, "http.status_code": 202 if ok else 503})
        b.span("worker", "purge_expired_sessions", kind="SERVER", start_ms=t + 700, dur_ms=8,
               status="OK", attrs=_arq("purge_expired_sessions",
                                       f"cron:purge_expired_sessions:{1_764_000_000 + i}",
                                       **{"arq.job.try": 1,
                                          "arq.job.score": 1_764_000_000_700 + t}))
    st = b.store()
    a = analyze(st)
    assert _edges(a) == {
        "service:api->topic:arq:queue": ("publish", N),
        "topic:arq:queue->service:worker": ("consume", 2 * N),
        "service:worker->external:api.mailer.example": ("call", 2 * N),
    }
    runs = a.edge("topic:arq:queue->service:worker")
    assert runs["error_count"] == N and runs["joined_by"]["context"] == 2 * N
    assert [(x["type"], x["where"], x["count"]) for x in a.anomalies] == [
        ("redelivery", "topic:arq:queue->service:worker", N)]
    assert edge_detail(st, "topic:arq:queue->service:worker")["count"] == 2 * N
    api = [f for f in a.flows if f["entry_service"] == "api"]
    assert [(f["count"], f["traces_per_flow"]) for f in api] == [(N, 1.0)]


def test_arq_job_is_a_send_to_its_queue_and_its_delivery_not_a_call():
    """Without reading arq's keys, the enqueue and the run are a CLIENT span and a SERVER
    span of another service under it: a call as long as the job. They are a send to the
    queue (arq.job.queue) and its delivery, joined by context (and by the job id), with
    the job's wait in the queue as queue time. An enqueue arq refused sent nothing."""
    b = SpanSet()
    for i in range(N):
        t = i * 100
        root = b.span("orders-api", "POST /orders", kind="SERVER", start_ms=t, dur_ms=10)
        jid = f"{i:032x}"
        enq = b.span("orders-api", "charge", kind="CLIENT", parent=root, start_ms=t + 2,
                     dur_ms=2, attrs=_arq("charge", jid, **{"arq.job.queue": "arq:queue"}))
        run = b.span("billing", "charge", kind="SERVER", parent=enq, start_ms=t + 30,
                     dur_ms=20, status="OK",
                     attrs=_arq("charge", jid, **{"arq.job.try": 1,
                                                  "arq.job.score": 1_700_000_000_000 + i}))
        b.span("billing", "SELECT", kind="CLIENT", parent=run, start_ms=t + 31, dur_ms=5,
               attrs={"db.system": "postgresql"})
        # (enqueued twice under one id: arq refuses it; no id, no queue: nothing was sent)
        b.span("orders-api", "charge", kind="CLIENT", parent=root, start_ms=t + 5, dur_ms=1,
               status="ERROR", attrs={"arq.job.name": "charge"})
    st = b.store()
    a = _analysed_each(st, {
        "service:orders-api->topic:arq:queue": ("publish", N),
        "topic:arq:queue->service:billing": ("consume", N),
        "service:billing->external:postgresql": ("call", N),
    }, ["topic:arq:queue->service:billing"])
    assert _systems(a) == {"topic:arq:queue": "arq"}
    consume = a.edge("topic:arq:queue->service:billing")
    assert consume["joined_by"]["context"] == N
    assert consume["queue_p50_ms"] == 26 and consume["p50_ms"] == 20
    (flow,) = a.flows
    assert flow["count"] == N and flow["style"] == "choreography"


# ------------------------------------------------------------------------------ machinery
# Read from RichardKnop/machinery: v1/tracing/tracing.go and v2/tracing/tracing.go
# (ProducerOption / ConsumerOption: span.kind tags, the consumer's reference to the producer
# FollowsFrom; HeadersWithSpan injects a span into the signature headers;
# AnnotateSpanWith{Signature,Group}Info), server.go (SendTaskWithContext: "SendTask" with
# only component=machinery; SendTask(sig) is SendTaskWithContext(context.Background());
# SendGroupWithContext: one "SendGroup" span injected into every task of the group, which
# the broker then publishes without a span each), worker.go (Process: a span named after
# the task from the headers, its context passed to a task taking a context.Context) and
# tasks/task.go (Call finishes that span). Exported through OpenTelemetry's OpenTracing
# bridge (open-telemetry/opentelemetry-go bridge/opentracing/bridge.go): the span.kind tag
# becomes the span kind, other tags attributes, and a FollowsFrom reference (no ChildOf)
# is no parent but a link with ot-span-reference-type = follows-from-ref: every task span
# is the root of a trace of its own. No span names a queue or a messaging system.

_FOLLOWS = {"ot-span-reference-type": "follows-from-ref"}
_MACHINERY = {"component": "machinery"}


def _task(b: SpanSet, service: str, name: str, uuid: str, producer: SpanRef, t: float,
          dur: float, **more: Any) -> SpanRef:
    return b.span(service, name, kind="CONSUMER", start_ms=t, dur_ms=dur,
                  links=[(producer, _FOLLOWS)],
                  attrs={**_MACHINERY, "signature.name": name, "signature.uuid": uuid,
                         **more})


def test_machinery_task_sending_a_task_with_its_context():
    """The API sends generate_report (SendTaskWithContext under its request span); the
    report worker's task span is a root linking SendTask, and the task sends email_report
    with its own context (SendTask child of the task span), run by the mail worker (its
    tasks routed to another queue by the signature's routing key; no span says so).
    Expected: both hops joined by their links through the one unnamed destination the spans
    leave, one flow of three traces per report, and no cycle: no flow comes back to the
    report worker (its publishes all went to the mail worker)."""
    b = SpanSet()
    for i in range(N):
        t = i * 1000
        root = b.span("api", "POST /reports", kind="SERVER", start_ms=t, dur_ms=15)
        send1 = b.span("api", "SendTask", kind="PRODUCER", parent=root, start_ms=t + 2,
                       dur_ms=6, attrs=_MACHINERY)
        report = _task(b, "report-worker", "generate_report", f"task_3c9e{i:04x}-0d1f",
                       send1, t + 30, 40)
        send2 = b.span("report-worker", "SendTask", kind="PRODUCER", parent=report,
                       start_ms=t + 62, dur_ms=4, attrs=_MACHINERY)
        _task(b, "mail-worker", "email_report", f"task_7a21{i:04x}-4b5c", send2, t + 90, 12)
    st = b.store()
    a = _analysed_each(st, {
        "service:api->topic:unknown": ("publish", N),
        "topic:unknown->service:report-worker": ("consume", N),
        "service:report-worker->topic:unknown": ("publish", N),
        "topic:unknown->service:mail-worker": ("consume", N),
    }, ["topic:unknown->service:report-worker", "topic:unknown->service:mail-worker"])
    assert _systems(a) == {"topic:unknown": None}
    assert a.edge("topic:unknown->service:report-worker")["queue_p50_ms"] == 22
    (flow,) = a.flows
    assert flow["count"] == N and flow["traces_per_flow"] == 3.0


def test_machinery_send_group_one_producer_span_carries_every_task():
    """SendGroupWithContext with three resize_image tasks: one "SendGroup" PRODUCER span
    (machinery.workflow=group, group.uuid, group.tasks.length 3, group.tasks the JSON list
    of task uuids) whose context every task's headers carry; the worker runs the three
    tasks concurrently, each a root span (signature.uuid its own, signature.group.uuid the
    group's) linking SendGroup.
    Expected: one publish per request, three deliveries joined by their links, and no
    redelivery: three task spans with three uuids running side by side are three
    messages, not one message delivered three times; one flow of four traces."""
    b = SpanSet()
    for i in range(N):
        t = i * 1000
        root = b.span("api", "POST /albums/{id}/thumbnails", kind="SERVER", start_ms=t,
                      dur_ms=25)
        group = f"group_0e5d{i:04x}-6a7b-4c8d-9e0f-a1b2c3d4e5f6"
        uuids = [f"task_91f3{i:02x}{j:02x}-2c4d-4e6f-8a0b-c1d2e3f4a5b6" for j in range(3)]
        send = b.span("api", "SendGroup", kind="PRODUCER", parent=root, start_ms=t + 2,
                      dur_ms=18, attrs={**_MACHINERY, "machinery.workflow": "group",
                                        "group.uuid": group, "group.tasks.length": 3,
                                        "group.concurrency": 0,
                                        "group.tasks": json.dumps(uuids)})
        for j, uuid in enumerate(uuids):
            _task(b, "worker", "resize_image", uuid, send, t + 40 + j * 2, 60 + j * 10,
                  **{"signature.group.uuid": group})
    st = b.store()
    a = _analysed_each(st, {
        "service:api->topic:unknown": ("publish", N),
        "topic:unknown->service:worker": ("consume", 3 * N),
    }, ["topic:unknown->service:worker"])
    assert a.edge("topic:unknown->service:worker")["p50_ms"] == 70
    (flow,) = a.flows
    assert flow["count"] == N and flow["traces_per_flow"] == 4.0


# ------------------------------------------------------------------------------- go-micro
# Read from micro/go-micro: wrapper/trace/opentelemetry/wrapper.go (NewClientWrapper's
# Publish: a CLIENT span "Pub to <topic>"; NewSubscriberWrapper: a SERVER span
# "Sub from <topic>"; no attribute set on either), wrapper/trace/opentelemetry/
# opentelemetry.go (StartSpanFromContext: the parent extracted from the go-micro metadata,
# the new span's context injected back into it) and client/rpc_client.go (Publish sends the
# context's metadata as the broker message's headers, with Micro-Topic and Micro-Id).

def test_go_micro_pub_sub_wrappers_are_client_and_server_spans():
    """go-micro services with the OpenTelemetry client and subscriber wrappers: the order
    API's handler publishes go.micro.topic.order.created ("Pub to ..." CLIENT, 2 ms); the
    billing and shipping subscribers' "Sub from ..." SERVER spans are its children and run
    after it returned. No span names a messaging system or destination (the topic is only
    in the names): the hop reads as the calls the kinds say, one per subscriber."""
    b = SpanSet()
    topic = "go.micro.topic.order.created"
    for i in range(N):
        t = i * 100
        root = b.span("order-api", "OrderService.Create", kind="SERVER", start_ms=t,
                      dur_ms=20)
        pub = b.span("order-api", f"Pub to {topic}", kind="CLIENT", parent=root,
                     start_ms=t + 8, dur_ms=2)
        for svc, start, dur in (("billing", 12, 15), ("shipping", 13, 9)):
            b.span(svc, f"Sub from {topic}", kind="SERVER", parent=pub, start_ms=t + start,
                   dur_ms=dur)
    st = b.store()
    a = analyze(st)
    assert _edges(a) == {"service:order-api->service:billing": ("call", N),
                         "service:order-api->service:shipping": ("call", N)}
    assert not a.anomalies
    assert edge_detail(st, "service:order-api->service:billing")["count"] == N
    (flow,) = a.flows
    assert flow["count"] == N and flow["traces_per_flow"] == 1.0


# ------------------------------------------------------------------- go-redis (redisotel)
# Read from redis/go-redis: extra/redisotel/tracing.go (ProcessHook: a CLIENT span named
# cmd.FullName(), the lower-case command, with db.system redis, db.connection_string,
# server.address / server.port, code.function / code.filepath / code.lineno and the full
# command as db.statement, taken before it runs; redis.Nil, an empty read, is no error),
# extra/redisotel/config.go (statements on by default) and command.go (FullName).
# Nothing is injected into stream entries: XADD in the producer's request, XREADGROUP and
# XACK in the consumer's background loop (roots).

def _goredis(fn: str, line: int, stmt: str) -> dict[str, Any]:
    return {"db.system": "redis", "db.connection_string": "redis://redis:6379",
            "server.address": "redis", "server.port": 6379, "code.function": fn,
            "code.filepath": "/app/internal/events/stream.go", "code.lineno": line,
            "db.statement": stmt}


def test_go_redis_streams_under_redisotel_are_calls_to_redis():
    """A checkout service XADDs an order to the "orders" stream in its request; the
    fulfilment service reads it with XREADGROUP (blocking reads, some empty) and XACKs it,
    both roots. These are database spans: calls to redis from both services, no topic,
    no publish, no delivery, no anomaly."""
    b = SpanSet()
    for i in range(N):
        t = i * 100
        root = b.span("checkout", "POST /checkout", kind="SERVER", start_ms=t, dur_ms=10,
                      attrs={"http.request.method": "POST", "http.route": "/checkout"})
        b.span("checkout", "xadd", kind="CLIENT", parent=root, start_ms=t + 4, dur_ms=0.6,
               attrs=_goredis("events.(*Publisher).Publish", 41,
                              f"xadd orders * id {1042 + i} total 42.50"))
    for k in range(2 * N):
        b.span("fulfilment", "xreadgroup", kind="CLIENT", start_ms=k * 50 + 1,
               dur_ms=48 if k % 2 else 3.5,
               attrs=_goredis("events.(*Consumer).Run", 77,
                              "xreadgroup group fulfilment worker-1 count 10 block 5000 "
                              "streams orders >"))
    for i in range(N):
        b.span("fulfilment", "xack", kind="CLIENT", start_ms=i * 100 + 30, dur_ms=0.3,
               attrs=_goredis("events.(*Consumer).Run", 93,
                              f"xack orders fulfilment 1764000000{i}-0"))
    st = b.store()
    a = analyze(st)
    assert _edges(a) == {"service:checkout->external:redis": ("call", N),
                         "service:fulfilment->external:redis": ("call", 3 * N)}
    assert not [n for n in a.nodes if n["type"] == "topic"]
    assert not a.anomalies
    checkout = [f for f in a.flows if f["entry_service"] == "checkout"]
    assert [(f["count"], f["traces_per_flow"]) for f in checkout] == [(N, 1.0)]
