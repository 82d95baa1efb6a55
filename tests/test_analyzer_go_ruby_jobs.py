"""Span shapes of Go's Sarama Kafka client (otelsarama) and Ruby's Sidekiq job queue
(opentelemetry-instrumentation-sidekiq), each read from the library's source and its own
tests. Each test builds exactly the spans the library exports for a small scenario and
checks what the analyzer makes of them."""

from __future__ import annotations

from typing import Any

from analyzer import analyze, edge_detail
from tests.analysis_checks import analysed as _analysed
from tests.analysis_checks import edges_of as _edges
from tests.analysis_checks import systems_of as _systems
from tests.builders import SpanRef, SpanSet

N = 3


# ------------------------------------------------------------------------- Go: otelsarama
# Read from open-telemetry/opentelemetry-go-contrib,
# instrumentation/github.com/Shopify/sarama/otelsarama/{producer,dispatcher,consumer,
# consumer_group}.go (and test/, example/), and its successor dnwe/otelsarama (test/; same
# shapes, github.com/IBM/sarama). Every version makes the consumer span a CHILD of the
# context extracted from the record headers (no span link), and every version gives the
# Kafka offset as the message id: an id unique only within one partition.

# (partition, offset) of the N records: two share offset 1041 on different partitions
_RECORDS = [(0, 1041), (1, 1041), (0, 1042)]
_ONE_PARTITION = [(0, 1041), (0, 1042), (0, 1043)]


def _sarama_handler(b: SpanSet, receive: SpanRef, t: float) -> None:
    """The consumer group handler of otelsarama's example: it extracts the receive span's
    context (the dispatcher re-injects it into the record) and starts an INTERNAL
    "consume message" span tagged only messaging.operation=process, around the work."""
    work = b.span("billing", "consume message", parent=receive, start_ms=t, dur_ms=15,
                  attrs={"messaging.operation": "process"})
    b.client_call("billing", None, parent=work, start_ms=t + 2, dur_ms=4,
                  peer={"db.system": "postgresql", "server.address": "pg"})


def test_otelsarama_publish_is_parent_of_receive_and_offsets_are_per_partition():
    """otelsarama (go-contrib v0.38+ with semconv 1.17, dnwe/otelsarama): SyncProducer's
    "<topic> publish" PRODUCER (parent: the context the caller injected into the record's
    headers; messaging.message.id = the offset and messaging.kafka.destination.partition
    set when the broker acked) and, through WrapConsumerGroupHandler, a "<topic> receive"
    CONSUMER span per record, child of the publish, ended as soon as the handler takes the
    record off the channel. Two records of the topic have the same offset on different
    partitions: two messages, each delivered once, not one message delivered twice."""
    b = SpanSet()
    for i, (partition, offset) in enumerate(_RECORDS):
        t = i * 100
        root = b.span("orders", "POST /orders", kind="SERVER", start_ms=t, dur_ms=12)
        pub = b.span("orders", "orders publish", kind="PRODUCER", parent=root, start_ms=t + 3,
                     dur_ms=4, attrs={"messaging.system": "kafka",
                                      "messaging.destination.kind": "topic",
                                      "messaging.destination.name": "orders",
                                      "messaging.message.payload_size_bytes": 212,
                                      "messaging.operation": "publish",
                                      "messaging.message.id": str(offset),
                                      "messaging.kafka.destination.partition": partition})
        recv = b.span("billing", "orders receive", kind="CONSUMER", parent=pub,
                      start_ms=t + 9, dur_ms=0.05,
                      attrs={"messaging.system": "kafka", "messaging.destination.kind": "topic",
                             "messaging.destination.name": "orders",
                             "messaging.operation": "receive",
                             "messaging.message.id": str(offset),
                             "messaging.kafka.source.partition": partition})
        _sarama_handler(b, recv, t + 9.1)
    a = _analysed(b.store(), {
        "service:orders->topic:orders": ("publish", N),
        "topic:orders->service:billing": ("consume", N),
        "service:billing->external:postgresql": ("call", N),
    }, "topic:orders->service:billing")
    consume = next(e for e in a.edges if e["type"] == "consume")
    assert consume["message_count"] == N
    assert consume["queue_p50_ms"] == 2.0  # receive start - publish end
    assert _systems(a) == {"topic:orders": "kafka"}
    (flow,) = a.flows
    assert flow["count"] == N and flow["traces_per_flow"] == 1.0


def test_otelsarama_async_producer_span_is_a_root_when_the_caller_injects_nothing():
    """otelsarama's producer span takes its parent only from the record's headers
    (sarama's API has no context.Context): a caller that does not inject its context
    makes "<topic> publish" the root of a new trace. With AsyncProducer and
    Producer.Return.Successes false (sarama's default) the span ends as soon as the
    record is handed to sarama's input channel, with no offset and no partition. The
    consumer's receive span is still its child. (One partition here: distinct offsets.)"""
    b = SpanSet()
    for i, (partition, offset) in enumerate(_ONE_PARTITION):
        t = i * 100
        b.span("orders", "POST /orders", kind="SERVER", start_ms=t, dur_ms=3)
        pub = b.span("orders", "orders publish", kind="PRODUCER", start_ms=t + 1, dur_ms=0.02,
                     attrs={"messaging.system": "kafka", "messaging.destination.kind": "topic",
                            "messaging.destination.name": "orders",
                            "messaging.message.payload_size_bytes": 212,
                            "messaging.operation": "publish"})
        recv = b.span("billing", "orders receive", kind="CONSUMER", parent=pub,
                      start_ms=t + 110, dur_ms=0.05,  # sarama's Flush.Frequency batching
                      attrs={"messaging.system": "kafka", "messaging.destination.kind": "topic",
                             "messaging.destination.name": "orders",
                             "messaging.operation": "receive",
                             "messaging.message.id": str(offset),
                             "messaging.kafka.source.partition": partition})
        _sarama_handler(b, recv, t + 110.1)
    a = _analysed(b.store(), {
        "service:orders->topic:orders": ("publish", N),
        "topic:orders->service:billing": ("consume", N),
        "service:billing->external:postgresql": ("call", N),
    }, "topic:orders->service:billing")
    # the publish trace is one flow (the request's own trace is another: nothing joins them)
    flow = next(f for f in a.flows if "topic:orders->service:billing" in f["hops"])
    assert flow["count"] == N and flow["entry_service"] == "orders"


def test_otelsarama_old_spans_without_headers_join_by_partition_and_offset():
    """otelsarama before semconv 1.12 (go-contrib v0.2x): "kafka.produce" PRODUCER
    (messaging.destination, no operation; messaging.message_id = the offset and
    messaging.kafka.partition set on the ack) and "kafka.consume" CONSUMER
    (messaging.operation=receive, the same id and partition keys). It injects the context
    only when sarama's Config.Version is at least 0.11 (record headers): with an older
    Version every consumer span is a root. Only the offsets tie the consumers back to the
    producers, and offset 1041 was written to two partitions."""
    b = SpanSet()
    for i, (partition, offset) in enumerate(_RECORDS):
        t = i * 100
        root = b.span("orders", "POST /orders", kind="SERVER", start_ms=t, dur_ms=12)
        b.span("orders", "kafka.produce", kind="PRODUCER", parent=root, start_ms=t + 3,
               dur_ms=4, attrs={"messaging.system": "kafka", "messaging.destination_kind": "topic",
                                "messaging.destination": "orders",
                                "messaging.message_id": str(offset),
                                "messaging.kafka.partition": partition})
        recv = b.span("billing", "kafka.consume", kind="CONSUMER", start_ms=t + 9, dur_ms=0.05,
                      attrs={"messaging.system": "kafka", "messaging.destination_kind": "topic",
                             "messaging.destination": "orders",
                             "messaging.operation": "receive",
                             "messaging.message_id": str(offset),
                             "messaging.kafka.partition": partition})
        _sarama_handler(b, recv, t + 9.1)
    st = b.store()
    a = analyze(st)
    assert _edges(a) == {
        "service:orders->topic:orders": ("publish", N),
        "topic:orders->service:billing": ("consume", N),
        "service:billing->external:postgresql": ("call", N),
    }
    consume = next(e for e in a.edges if e["type"] == "consume")
    assert consume["joined_by"] == {"context": 0, "message_id": N, "none": 0, "outside": 0}
    assert consume["message_count"] == N
    # the context was lost, and every delivery was found by its own record's offset
    (broken,) = a.anomalies
    assert broken["type"] == "broken_context" and broken["stitched"] == N
    # each consumer trace joins the one request that wrote its record
    (flow,) = a.flows
    assert flow["count"] == N and flow["traces_per_flow"] == 2.0


# ------------------------------------------------------------------ Ruby: Sidekiq
# Read from open-telemetry/opentelemetry-ruby-contrib, instrumentation/sidekiq/lib/
# opentelemetry/instrumentation/sidekiq/{instrumentation.rb, middlewares/client/
# tracer_middleware.rb, middlewares/server/tracer_middleware.rb, patches/*.rb}, its tests
# (test/.../middlewares/server/tracer_middleware_test.rb, patches/poller_test.rb) and
# CHANGELOG. Every version tags spans with pre-1.20 names: messaging.system=sidekiq,
# messaging.destination=<queue>, messaging.destination_kind=queue,
# messaging.message_id=<jid>, messaging.sidekiq.job_class. Sidekiq::Client#push runs the
# client middleware and only then raw_push (a pipelined SADD + LPUSH, or ZADD schedule for a
# job with 'at'), so the Redis span is a sibling after the publish span, not its child.

_REDIS = {"db.system": "redis", "net.peer.name": "redis", "net.peer.port": 6379}


def _jid(i: int, k: int = 0) -> str:
    return f"b1f0c6d2e4a3{k:04d}9c7e{i:08d}"


def _sk(queue: str, job_class: str, jid: str) -> dict[str, Any]:
    return {"messaging.system": "sidekiq", "messaging.sidekiq.job_class": job_class,
            "messaging.message_id": jid, "messaging.destination": queue,
            "messaging.destination_kind": "queue"}


def _enqueue(b: SpanSet, service: str, parent: SpanRef, t: float, queue: str, job_class: str,
             jid: str, name: str | None = None, scheduled: bool = False) -> SpanRef:
    """The client middleware's PRODUCER span (v0.25+: "<queue> publish") around the
    injection only, then the redis-client instrumentation's PIPELINED span of raw_push."""
    pub = b.span(service, name or f"{queue} publish", kind="PRODUCER", parent=parent,
                 start_ms=t, dur_ms=0.1, attrs=_sk(queue, job_class, jid))
    stmt = ("ZADD schedule ? ?" if scheduled
            else f"SADD queues {queue}\nLPUSH queue:{queue} ?")
    b.span(service, "PIPELINED", kind="CLIENT", parent=parent, start_ms=t + 0.2, dur_ms=0.6,
           attrs={**_REDIS, "db.statement": stmt})
    return pub


def _job(b: SpanSet, service: str, t: float, queue: str, job_class: str, jid: str, *,
         dur_ms: float = 20, parent: SpanRef | None = None, links: list[SpanRef] = (),
         name: str | None = None, operation: bool = True, status: str = "UNSET") -> SpanRef:
    """The server middleware's CONSUMER span (messaging.operation=process since v0.19) with
    the job's database work inside it."""
    attrs = _sk(queue, job_class, jid)
    if operation:
        attrs["messaging.operation"] = "process"
    proc = b.span(service, name or f"{queue} process", kind="CONSUMER", parent=parent,
                  start_ms=t, dur_ms=dur_ms, links=links, status=status, attrs=attrs)
    b.span(service, "SELECT shop_production.invoices", kind="CLIENT", parent=proc,
           start_ms=t + 2, dur_ms=3, attrs={"db.system": "postgresql", "db.name": "shop_production",
                                            "net.peer.name": "pg"})
    return proc


def test_sidekiq_default_job_runs_in_a_new_trace_linked_to_its_enqueue():
    """v0.19+ default (propagation_style :link): the web process's "default publish"
    PRODUCER is a child of the request; the worker's "default process" CONSUMER is the root
    of a new trace (tracer.start_root_span) with one link to the publish span."""
    b = SpanSet()
    for i in range(N):
        t = i * 100
        root = b.span("shop-web", "InvoicesController#create", kind="SERVER", start_ms=t,
                      dur_ms=15)
        pub = _enqueue(b, "shop-web", root, t + 5, "default", "InvoiceJob", _jid(i))
        _job(b, "shop-worker", t + 40, "default", "InvoiceJob", _jid(i), links=[pub])
    a = _analysed(b.store(), {
        "service:shop-web->topic:default": ("publish", N),
        "topic:default->service:shop-worker": ("consume", N),
        "service:shop-web->external:redis": ("call", N),
        "service:shop-worker->external:postgresql": ("call", N),
    }, "topic:default->service:shop-worker", p50_ms=20)
    consume = next(e for e in a.edges if e["type"] == "consume")
    assert consume["queue_p50_ms"] == 34.9  # process start - publish end
    assert _systems(a) == {"topic:default": "sidekiq"}
    (flow,) = a.flows  # the request and its job: one business transaction, two traces
    assert flow["count"] == N and flow["traces_per_flow"] == 2.0


def test_sidekiq_child_propagation_continues_the_enqueuing_trace():
    """propagation_style :child: "default process" is a child of "default publish" in the
    enqueuing trace (tracer.in_span under the extracted context)."""
    b = SpanSet()
    for i in range(N):
        t = i * 100
        root = b.span("shop-web", "InvoicesController#create", kind="SERVER", start_ms=t,
                      dur_ms=15)
        pub = _enqueue(b, "shop-web", root, t + 5, "default", "InvoiceJob", _jid(i))
        _job(b, "shop-worker", t + 40, "default", "InvoiceJob", _jid(i), parent=pub)
    a = _analysed(b.store(), {
        "service:shop-web->topic:default": ("publish", N),
        "topic:default->service:shop-worker": ("consume", N),
        "service:shop-web->external:redis": ("call", N),
        "service:shop-worker->external:postgresql": ("call", N),
    }, "topic:default->service:shop-worker", p50_ms=20)
    (flow,) = a.flows
    assert flow["count"] == N and flow["traces_per_flow"] == 1.0


def test_sidekiq_old_job_class_span_names_still_name_the_queue():
    """v0.17-0.18 with enable_job_class_span_names: "<JobClass> enqueue" PRODUCER and
    "<JobClass> process" CONSUMER, child of the enqueue (in_span with_parent: the
    extracted context), and no messaging.operation on either. Two job classes on one queue
    are one destination, the queue the spans name."""
    b = SpanSet()
    for i in range(N):
        t = i * 100
        root = b.span("shop-web", "OrdersController#create", kind="SERVER", start_ms=t,
                      dur_ms=20)
        for k, job_class in enumerate(("InvoiceJob", "ReceiptJob")):
            jid = _jid(i, k)
            pub = _enqueue(b, "shop-web", root, t + 5 + k, "default", job_class, jid,
                           name=f"{job_class} enqueue")
            _job(b, "shop-worker", t + 40 + k * 25, "default", job_class, jid, parent=pub,
                 name=f"{job_class} process", operation=False)
    _analysed(b.store(), {
        "service:shop-web->topic:default": ("publish", 2 * N),
        "topic:default->service:shop-worker": ("consume", 2 * N),
        "service:shop-web->external:redis": ("call", 2 * N),
        "service:shop-worker->external:postgresql": ("call", 2 * N),
    }, "topic:default->service:shop-worker", p50_ms=20)


def test_sidekiq_job_enqueuing_a_job_links_each_hop():
    """A job that enqueues another (the library's "fan out jobs are linked" test): the
    second publish is a child of the first job's process span, and the second job's process
    span is a new root linking to it. One Sidekiq process works both queues: a cycle on
    the map that no flow goes around twice."""
    b = SpanSet()
    for i in range(N):
        t = i * 200
        root = b.span("shop-web", "OrdersController#create", kind="SERVER", start_ms=t,
                      dur_ms=15)
        pub = _enqueue(b, "shop-web", root, t + 5, "default", "FulfilOrderJob", _jid(i))
        job = _job(b, "shop-worker", t + 40, "default", "FulfilOrderJob", _jid(i), dur_ms=30,
                   links=[pub])
        pub2 = _enqueue(b, "shop-worker", job, t + 60, "mailers", "OrderMailerJob",
                        _jid(i, 1))
        _job(b, "shop-worker", t + 90, "mailers", "OrderMailerJob", _jid(i, 1), dur_ms=12,
             links=[pub2])
    st = b.store()
    a = analyze(st)
    assert _edges(a) == {
        "service:shop-web->topic:default": ("publish", N),
        "topic:default->service:shop-worker": ("consume", N),
        "service:shop-worker->topic:mailers": ("publish", N),
        "topic:mailers->service:shop-worker": ("consume", N),
        "service:shop-web->external:redis": ("call", N),
        "service:shop-worker->external:redis": ("call", N),
        "service:shop-worker->external:postgresql": ("call", 2 * N),
    }
    for e in a.edges:
        if e["type"] == "consume":
            assert e["joined_by"] == {"context": N, "message_id": 0, "none": 0, "outside": 0}
            assert edge_detail(st, e["id"])["count"] == N
    (cycle,) = a.anomalies
    assert cycle["type"] == "cycle" and cycle["loops"] == 0
    (flow,) = a.flows  # request, job, follow-up job: three traces of one transaction
    assert flow["count"] == N and flow["traces_per_flow"] == 3.0


def test_sidekiq_scheduled_job_loses_its_link_and_is_found_by_jid():
    """perform_in: the web's "default publish" injects its context into a job that goes
    to the schedule set (ZADD). When it is due, Sidekiq's poller pushes it again through
    Sidekiq::Client#push, running the client middleware inside
    OpenTelemetry::Common::Utilities.untraced (trace_poller_enqueue is false by default):
    the SDK returns a non-recording span with fresh ids, which is injected over the job's
    traceparent. The process span then links to a span that was never exported; only the
    jid, on both spans, ties the job to its enqueue."""
    b = SpanSet()
    for i in range(N):
        t = i * 100
        root = b.span("shop-web", "RemindersController#create", kind="SERVER", start_ms=t,
                      dur_ms=15)
        _enqueue(b, "shop-web", root, t + 5, "default", "ReminderJob", _jid(i), scheduled=True)
        ghost = SpanRef(b.new_trace(), "%016x" % (0x5EED0000 + i))  # never exported
        _job(b, "shop-worker", t + 30_005.1 + 2_000, "default", "ReminderJob", _jid(i),
             links=[ghost])
    st = b.store()
    a = analyze(st)
    assert _edges(a) == {
        "service:shop-web->topic:default": ("publish", N),
        "topic:default->service:shop-worker": ("consume", N),
        "service:shop-web->external:redis": ("call", N),
        "service:shop-worker->external:postgresql": ("call", N),
    }
    consume = next(e for e in a.edges if e["type"] == "consume")
    assert consume["joined_by"] == {"context": 0, "message_id": N, "none": 0, "outside": 0}
    assert consume["queue_p50_ms"] == 32_000.0  # the schedule's delay, then the poll
    (broken,) = a.anomalies
    assert broken["type"] == "broken_context" and broken["stitched"] == N
    (flow,) = a.flows
    assert flow["count"] == N and flow["traces_per_flow"] == 2.0


def test_sidekiq_retried_job_is_a_redelivery_of_its_jid():
    """A job that raised: its process span records the exception and has status ERROR;
    Sidekiq's JobRetry puts it in the retry set, and the poller pushes it back (untraced,
    as for scheduled jobs: a fresh unexported context replaces the traceparent). The retry
    is a second delivery of the same jid, joined by that id."""
    b = SpanSet()
    for i in range(N):
        t = i * 100
        root = b.span("shop-web", "InvoicesController#create", kind="SERVER", start_ms=t,
                      dur_ms=15)
        pub = _enqueue(b, "shop-web", root, t + 5, "default", "InvoiceJob", _jid(i))
        _job(b, "shop-worker", t + 40, "default", "InvoiceJob", _jid(i), dur_ms=8,
             links=[pub], status="ERROR")
        ghost = SpanRef(b.new_trace(), "%016x" % (0x5EED0000 + i))  # never exported
        _job(b, "shop-worker", t + 40 + 21_000, "default", "InvoiceJob", _jid(i),
             links=[ghost])
    st = b.store()
    a = analyze(st)
    assert _edges(a) == {
        "service:shop-web->topic:default": ("publish", N),
        "topic:default->service:shop-worker": ("consume", 2 * N),
        "service:shop-web->external:redis": ("call", N),
        "service:shop-worker->external:postgresql": ("call", 2 * N),
    }
    consume = next(e for e in a.edges if e["type"] == "consume")
    assert consume["joined_by"] == {"context": N, "message_id": N, "none": 0, "outside": 0}
    assert consume["error_count"] == N
    assert {x["type"] for x in a.anomalies} == {"redelivery", "broken_context"}
    redelivery = next(x for x in a.anomalies if x["type"] == "redelivery")
    assert (redelivery["count"], redelivery["messages"]) == (N, N)
    broken = next(x for x in a.anomalies if x["type"] == "broken_context")
    assert (broken["count"], broken["stitched"]) == (N, N)
    (flow,) = a.flows  # the request, the failed run and the retry
    assert flow["count"] == N and flow["traces_per_flow"] == 3.0
    # the messages the deliveries carried, each delivery's own: a redelivered message counts
    # once per delivery (the redelivery anomaly says how many were delivered again)
    assert consume["message_count"] == 2 * N


def test_sidekiq_traced_poller_and_internals_are_no_deliveries():
    """With trace_poller_enqueue (and trace_poller_wait, trace_launcher_heartbeat,
    trace_processor_process_one) on: INTERNAL roots "Sidekiq::Scheduled::Poller#enqueue"
    (EVALSHA of the zpopbyscore script per sorted set), "Sidekiq::Scheduled::Poller#wait",
    "Sidekiq::Launcher#heartbeat" and "Sidekiq::Processor#process_one" (BRPOP) in the
    worker, none with a messaging attribute. A due scheduled job is pushed again inside
    Poller#enqueue, so the worker's client middleware makes a second "default publish"
    (same jid, child of Poller#enqueue) whose context the job's process span links to.
    The job was enqueued once by the web and run once: one delivery, the poller's internal
    spans none."""
    b = SpanSet()
    for i in range(N):
        t = i * 100
        root = b.span("shop-web", "RemindersController#create", kind="SERVER", start_ms=t,
                      dur_ms=15)
        _enqueue(b, "shop-web", root, t + 5, "default", "ReminderJob", _jid(i), scheduled=True)
        due = t + 30_000
        poll = b.span("shop-worker", "Sidekiq::Scheduled::Poller#enqueue", start_ms=due,
                      dur_ms=2.5)
        b.span("shop-worker", "EVALSHA", kind="CLIENT", parent=poll, start_ms=due + 0.1,
               dur_ms=0.4, attrs={**_REDIS, "db.statement": "EVALSHA ? 1 retry ?"})
        b.span("shop-worker", "EVALSHA", kind="CLIENT", parent=poll, start_ms=due + 0.6,
               dur_ms=0.4, attrs={**_REDIS, "db.statement": "EVALSHA ? 1 schedule ?"})
        repub = _enqueue(b, "shop-worker", poll, due + 1.1, "default", "ReminderJob", _jid(i))
        # the worker's other internal spans, in every second of its life
        b.span("shop-worker", "Sidekiq::Scheduled::Poller#wait", start_ms=due + 3, dur_ms=40)
        beat = b.span("shop-worker", "Sidekiq::Launcher#heartbeat", start_ms=due + 4,
                      dur_ms=1.2)
        b.span("shop-worker", "PIPELINED", kind="CLIENT", parent=beat, start_ms=due + 4.1,
               dur_ms=0.9, attrs={**_REDIS, "db.statement": "SADD processes ?\nHSET ?"})
        one = b.span("shop-worker", "Sidekiq::Processor#process_one", start_ms=due + 1.5,
                     dur_ms=22)
        b.span("shop-worker", "BRPOP", kind="CLIENT", parent=one, start_ms=due + 1.5,
               dur_ms=0.3, attrs={**_REDIS, "db.statement": "BRPOP queue:default ?"})
        _job(b, "shop-worker", due + 2, "default", "ReminderJob", _jid(i), links=[repub])
    st = b.store()
    a = analyze(st)
    edges = _edges(a)
    consume = next(e for e in a.edges if e["type"] == "consume")
    assert consume["id"] == "topic:default->service:shop-worker" and consume["count"] == N
    assert consume["message_count"] == N
    assert consume["joined_by"] == {"context": N, "message_id": 0, "none": 0, "outside": 0}
    assert consume["p50_ms"] == 20  # the job's process span, not the poller's
    assert edges["service:shop-web->topic:default"] == ("publish", N)
    assert edges["service:shop-worker->external:postgresql"] == ("call", N)
    assert {e["type"] for e in a.edges} <= {"publish", "consume", "call"}
    assert edge_detail(st, consume["id"])["count"] == N
    # (the web's enqueue, whose job the poller pushed again under the same jid, still reads
    # as a publish nobody consumed: the re-publish is what the job links to)
    assert not [x for x in a.anomalies if x["type"] in ("redelivery", "broken_context")]


def test_sidekiq_under_active_job_instrumentation_is_one_publish_and_one_delivery():
    """A Rails job through ActiveJob's Sidekiq adapter with opentelemetry-instrumentation-
    active_job beside the Sidekiq one (read from instrumentation/active_job/lib/.../
    handlers/{enqueue,perform}.rb and mappers/attribute.rb). ActiveJob's "default publish"
    PRODUCER (messaging.system = the adapter's name, messaging.destination, and
    messaging.message.id = provider_job_id.to_s, still "" when the enqueue starts) wraps
    the adapter's push, so Sidekiq's "default publish" and the Redis PIPELINED span are its
    children. In the worker, Sidekiq's "default process" (a root linking Sidekiq's publish)
    runs the JobWrapper, whose perform.active_job makes ActiveJob's own "default process"
    CONSUMER: another root (propagation_style :link by default there too) linking
    ActiveJob's publish, with provider_job_id = the jid, status OK, and the job's queries
    inside. One job: one publish and one delivery."""
    b = SpanSet()
    for i in range(N):
        t = i * 100
        jid = _jid(i)
        aj = {"code.namespace": "InvoiceJob", "messaging.system": "sidekiq",
              "messaging.destination": "default"}
        sk = {**_sk("default", "InvoiceJob", jid),
              "messaging.sidekiq.job_class": "InvoiceJob"}  # job['wrapped']
        root = b.span("shop-web", "InvoicesController#create", kind="SERVER", start_ms=t,
                      dur_ms=15)
        aj_pub = b.span("shop-web", "default publish", kind="PRODUCER", parent=root,
                        start_ms=t + 5, dur_ms=1.2, status="OK",
                        attrs={**aj, "messaging.message.id": ""})
        sk_pub = b.span("shop-web", "default publish", kind="PRODUCER", parent=aj_pub,
                        start_ms=t + 5.1, dur_ms=0.1, attrs=sk)
        b.span("shop-web", "PIPELINED", kind="CLIENT", parent=aj_pub, start_ms=t + 5.3,
               dur_ms=0.6, attrs={**_REDIS, "db.statement": "SADD queues default\nLPUSH ?"})
        b.span("shop-worker", "default process", kind="CONSUMER", start_ms=t + 40, dur_ms=22,
               links=[sk_pub], attrs={**sk, "messaging.operation": "process"})
        proc = b.span("shop-worker", "default process", kind="CONSUMER", start_ms=t + 40.5,
                      dur_ms=20, links=[aj_pub], status="OK",
                      attrs={**aj, "messaging.message.id": jid})
        b.span("shop-worker", "SELECT shop_production.invoices", kind="CLIENT", parent=proc,
               start_ms=t + 42, dur_ms=3, attrs={"db.system": "postgresql", "net.peer.name": "pg"})
    a = _analysed(b.store(), {
        "service:shop-web->topic:default": ("publish", N),
        "topic:default->service:shop-worker": ("consume", N),
        "service:shop-web->external:redis": ("call", N),
        "service:shop-worker->external:postgresql": ("call", N),
    }, "topic:default->service:shop-worker")
    assert next(e for e in a.edges if e["type"] == "consume")["message_count"] == N
