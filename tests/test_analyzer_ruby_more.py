"""Span shapes of more Ruby instrumentation from open-telemetry/opentelemetry-ruby-contrib:
the Kafka clients (rdkafka, racecar, ruby-kafka) and the job queues delayed_job, resque and
que, each read from the library's source and its own tests. Each test builds exactly the
spans the library exports for a small scenario and checks what the analyzer makes of them.
(Sidekiq, ActiveJob over Sidekiq and bunny are in test_analyzer_go_ruby_jobs.py and
test_analyzer_libraries.py.)"""

from __future__ import annotations

from typing import Any

import pytest

from analyzer import analyze, edge_detail
from tests.analysis_checks import analysed as _analysed
from tests.analysis_checks import analysed_each as _analysed_each
from tests.analysis_checks import edges_of as _edges
from tests.analysis_checks import systems_of as _systems
from tests.builders import SpanRef, SpanSet

N = 3

# ------------------------------------------------------------------------------ Kafka
# Read from open-telemetry/opentelemetry-ruby-contrib:
#   instrumentation/rdkafka/lib/opentelemetry/instrumentation/rdkafka/patches/{producer,
#     consumer}.rb, test/.../patches/consumer_test.rb, CHANGELOG.md (v0.4.0, PR #648:
#     "<topic> send" renamed "<topic> publish");
#   instrumentation/racecar/lib/opentelemetry/instrumentation/racecar/{instrumentation.rb,
#     process_message_subscriber.rb, patches/consumer.rb, patches/runner.rb},
#     test/.../racecar_test.rb, test/.../patches/runner_test.rb; zendesk/racecar
#     lib/racecar/consumer.rb (Consumer#produce calls the rdkafka producer);
#   instrumentation/ruby_kafka/lib/opentelemetry/instrumentation/ruby_kafka/patches/
#     {producer,async_producer,client,consumer}.rb, test/.../patches/consumer_test.rb.
# Every consumer span carries pre-1.20 names (messaging.destination, destination_kind=topic,
# messaging.kafka.partition / offset / message_key); none names a consumer group or a
# message id. Single-message consumers run the process span under the context extracted
# from the headers AND link to it; batch consumers start a root span linking every message.

_KAFKA = {"messaging.system": "kafka", "messaging.destination_kind": "topic"}
_PG = {"db.system": "postgresql", "db.name": "shop_production", "net.peer.name": "pg"}
_REDIS = {"db.system": "redis", "net.peer.name": "redis", "net.peer.port": 6379}


def _flow(a, entry: str) -> dict[str, Any]:
    """The one flow entered at ``entry`` (a worker's polling queries are flows of their
    own: separate traces with no messaging)."""
    (flow,) = [f for f in a.flows if f["entry_service"] == entry]
    return flow


def _kafka_publish(b: SpanSet, service: str, parent: SpanRef | None, t: float, topic: str,
                   op: str = "publish", attrs: dict[str, Any] | None = None,
                   dur_ms: float = 0.2) -> SpanRef:
    """rdkafka's Producer#produce (and ruby-kafka's Producer#produce): a "<topic> publish"
    PRODUCER (before v0.4.0 "<topic> send") around the injection and the hand-off to the
    client's buffer only: no key, no partition (the delivery report comes later)."""
    return b.span(service, f"{topic} {op}", kind="PRODUCER", parent=parent, start_ms=t,
                  dur_ms=dur_ms, attrs={**_KAFKA, "messaging.destination": topic,
                                        **(attrs or {})})


def _kafka_process(b: SpanSet, service: str, pub: SpanRef, t: float, topic: str,
                   partition: int, offset: int | None, key: str | None,
                   dur_ms: float = 8, link: bool = True) -> SpanRef:
    """A single-message "<topic> process" CONSUMER: child of the extracted context and
    (rdkafka each, racecar, ruby-kafka each_message) a link to it as well."""
    a: dict[str, Any] = {**_KAFKA, "messaging.destination": topic,
                         "messaging.kafka.partition": partition}
    if offset is not None:
        a["messaging.kafka.offset"] = offset
    if key is not None:
        a["messaging.kafka.message_key"] = key
    proc = b.span(service, f"{topic} process", kind="CONSUMER", parent=pub, start_ms=t,
                  dur_ms=dur_ms, attrs=a, links=[pub] if link else [])
    b.span(service, "SELECT shop_production.orders", kind="CLIENT", parent=proc,
           start_ms=t + 1, dur_ms=2, attrs=_PG)
    return proc


def test_rdkafka_each_process_is_a_child_and_a_link_of_its_publish():
    """rdkafka Consumer#each: "<topic> process" runs in Context.with_current(extracted) and
    links to the same context: the publish's child and its link, in the publish's trace,
    with partition, offset and key (the publish gives neither)."""
    b = SpanSet()
    for i in range(N):
        t = i * 100
        root = b.span("checkout", "POST /orders", kind="SERVER", start_ms=t, dur_ms=6)
        pub = _kafka_publish(b, "checkout", root, t + 2, "orders")
        _kafka_process(b, "billing", pub, t + 15, "orders", i % 2, 4100 + i, f"order-{i}")
    a = _analysed(b.store(), {
        "service:checkout->topic:orders": ("publish", N),
        "topic:orders->service:billing": ("consume", N),
        "service:billing->external:postgresql": ("call", N),
    }, "topic:orders->service:billing", p50_ms=8)
    consume = a.edge("topic:orders->service:billing")
    assert consume["queue_p50_ms"] == 12.8  # process start - publish end
    assert consume["message_count"] == N
    assert _systems(a) == {"topic:orders": "kafka"}
    flow = _flow(a, "checkout")
    assert flow["count"] == N and flow["traces_per_flow"] == 1.0


def test_rdkafka_each_batch_span_names_no_topic_and_links_each_message():
    """rdkafka Consumer#each_batch (< 0.20): one "batch process" CONSUMER per non-empty
    batch, a root (no extracted parent) linking every message's publish, with only
    messaging.system, destination_kind and messaging.kafka.message_count: no topic. The
    topic of the delivery is the one its linked publishes went to."""
    b = SpanSet()
    pubs: list[SpanRef] = []
    for i in range(2 * N):
        t = i * 10
        root = b.span("checkout", "POST /orders", kind="SERVER", start_ms=t, dur_ms=5)
        pubs.append(_kafka_publish(b, "checkout", root, t + 2, "orders"))
    for k in range(N):
        batch = pubs[2 * k:2 * k + 2]
        proc = b.span("billing", "batch process", kind="CONSUMER", start_ms=200 + k * 50,
                      dur_ms=12, links=batch,
                      attrs={**_KAFKA, "messaging.kafka.message_count": len(batch)})
        b.span("billing", "INSERT shop_production.invoices", kind="CLIENT", parent=proc,
               start_ms=201 + k * 50, dur_ms=4, attrs=_PG)
    st = b.store()
    a = _analysed(st, {
        "service:checkout->topic:orders": ("publish", 2 * N),
        "topic:orders->service:billing": ("consume", N),
        "service:billing->external:postgresql": ("call", N),
    }, "topic:orders->service:billing", p50_ms=12)
    consume = a.edge("topic:orders->service:billing")
    assert consume["message_count"] == 2 * N and consume["batch_deliveries"] == N
    assert edge_detail(st, "topic:orders->service:billing")["message_count"] == 2 * N
    assert _systems(a) == {"topic:orders": "kafka"}


def test_racecar_consumer_relays_to_a_second_topic():
    """racecar (current): the process_message.racecar subscriber attaches the extracted
    context, then starts "<topic> process" (child of the publish, linking it too), with
    partition, offset and key. Consumer#produce inside it (the library test's "ack-<topic>")
    makes a "<topic> publish" PRODUCER with the newer names (messaging.destination.name,
    messaging.operation.type=send), child of the process span; a second racecar consumer
    takes it. One trace per order, across two topics."""
    b = SpanSet()
    for i in range(N):
        t = i * 100
        root = b.span("checkout", "POST /orders", kind="SERVER", start_ms=t, dur_ms=6)
        pub = _kafka_publish(b, "checkout", root, t + 2, "orders")
        proc = _kafka_process(b, "fulfilment", pub, t + 12, "orders", 0, 700 + i,
                              f"order-{i}", dur_ms=10)
        ack = b.span("fulfilment", "shipments publish", kind="PRODUCER", parent=proc,
                     start_ms=t + 16, dur_ms=0.3,
                     attrs={"messaging.system": "kafka",
                            "messaging.destination.name": "shipments",
                            "messaging.operation.type": "send"})
        _kafka_process(b, "notifier", ack, t + 30, "shipments", 2, 90 + i, None, dur_ms=5)
    a = _analysed_each(b.store(), {
        "service:checkout->topic:orders": ("publish", N),
        "topic:orders->service:fulfilment": ("consume", N),
        "service:fulfilment->topic:shipments": ("publish", N),
        "topic:shipments->service:notifier": ("consume", N),
        "service:fulfilment->external:postgresql": ("call", N),
        "service:notifier->external:postgresql": ("call", N),
    }, ["topic:orders->service:fulfilment", "topic:shipments->service:notifier"])
    assert _systems(a) == {"topic:orders": "kafka", "topic:shipments": "kafka"}
    flow = _flow(a, "checkout")
    assert flow["count"] == N and flow["traces_per_flow"] == 1.0


def test_racecar_process_batch_links_its_messages_and_sends_from_inside():
    """racecar with process_batch (Runner patch), from the era whose producer spans were
    rdkafka's "<topic> send" (runner_test.rb): a root "batch process" CONSUMER linking each
    message's send, naming no topic (only messaging.kafka.message_count); the consumer's
    produce calls make rdkafka "ack-orders send" PRODUCERs, children of the batch span,
    which a single-message racecar consumer takes (child and link)."""
    b = SpanSet()
    sends: list[SpanRef] = []
    for i in range(2 * N):
        t = i * 10
        root = b.span("checkout", "POST /orders", kind="SERVER", start_ms=t, dur_ms=5)
        sends.append(_kafka_publish(b, "checkout", root, t + 2, "orders", op="send"))
    for k in range(N):
        t = 200 + k * 100
        batch = sends[2 * k:2 * k + 2]
        proc = b.span("fulfilment", "batch process", kind="CONSUMER", start_ms=t, dur_ms=10,
                      links=batch, attrs={**_KAFKA, "messaging.kafka.message_count": 2})
        for j in range(2):
            ack = _kafka_publish(b, "fulfilment", proc, t + 2 + j * 3, "ack-orders",
                                 op="send")
            _kafka_process(b, "audit", ack, t + 40 + j * 5, "ack-orders", 0,
                           300 + 2 * k + j, None, dur_ms=3)
    st = b.store()
    a = _analysed_each(st, {
        "service:checkout->topic:orders": ("publish", 2 * N),
        "topic:orders->service:fulfilment": ("consume", N),
        "service:fulfilment->topic:ack-orders": ("publish", 2 * N),
        "topic:ack-orders->service:audit": ("consume", 2 * N),
        "service:audit->external:postgresql": ("call", 2 * N),
    }, ["topic:orders->service:fulfilment", "topic:ack-orders->service:audit"])
    assert a.edge("topic:orders->service:fulfilment")["message_count"] == 2 * N


def test_racecar_produce_over_instrumented_rdkafka_is_one_publish():
    """Racecar::Consumer#produce calls the rdkafka producer with the same headers hash, so
    with both instrumentations installed (opentelemetry-instrumentation-all does) one
    message makes two PRODUCER spans: racecar's "shipments publish" (newer names) and, as
    its child, rdkafka's "shipments publish" (legacy names), whose injection overwrites the
    traceparent: the consumer's parent and link are the inner span. One message, one
    publish."""
    b = SpanSet()
    for i in range(N):
        t = i * 100
        root = b.span("checkout", "POST /orders", kind="SERVER", start_ms=t, dur_ms=6)
        pub = _kafka_publish(b, "checkout", root, t + 2, "orders")
        proc = _kafka_process(b, "fulfilment", pub, t + 12, "orders", 1, 800 + i,
                              f"order-{i}", dur_ms=10)
        outer = b.span("fulfilment", "shipments publish", kind="PRODUCER", parent=proc,
                       start_ms=t + 16, dur_ms=0.4,
                       attrs={"messaging.system": "kafka",
                              "messaging.destination.name": "shipments",
                              "messaging.operation.type": "send"})
        inner = _kafka_publish(b, "fulfilment", outer, t + 16.1, "shipments", dur_ms=0.2)
        _kafka_process(b, "notifier", inner, t + 30, "shipments", 0, 55 + i, None, dur_ms=5)
    a = _analysed_each(b.store(), {
        "service:checkout->topic:orders": ("publish", N),
        "topic:orders->service:fulfilment": ("consume", N),
        "service:fulfilment->topic:shipments": ("publish", N),
        "topic:shipments->service:notifier": ("consume", N),
        "service:fulfilment->external:postgresql": ("call", N),
        "service:notifier->external:postgresql": ("call", N),
    }, ["topic:orders->service:fulfilment", "topic:shipments->service:notifier"])
    assert a.edge("topic:shipments->service:notifier")["message_count"] == N


def test_ruby_kafka_consumer_group_each_message():
    """ruby-kafka: Producer#produce makes a "<topic> publish" PRODUCER around buffering the
    message only (deliver_messages, which sends the buffer, has no span);
    Consumer#each_message makes "<topic> process" under the extracted context and linking
    it, with partition, offset and key."""
    b = SpanSet()
    for i in range(N):
        t = i * 100
        root = b.span("checkout", "POST /orders", kind="SERVER", start_ms=t, dur_ms=12)
        pub = _kafka_publish(b, "checkout", root, t + 2, "orders", dur_ms=0.05)
        _kafka_process(b, "billing", pub, t + 25, "orders", i, 12 + i, f"order-{i}")
    a = _analysed(b.store(), {
        "service:checkout->topic:orders": ("publish", N),
        "topic:orders->service:billing": ("consume", N),
        "service:billing->external:postgresql": ("call", N),
    }, "topic:orders->service:billing", p50_ms=8)
    flow = _flow(a, "checkout")
    assert flow["count"] == N and flow["traces_per_flow"] == 1.0


def test_ruby_kafka_each_batch_is_one_span_per_partition_batch():
    """ruby-kafka Consumer#each_batch: a root "<topic> process" CONSUMER per fetched
    partition batch, naming the topic and partition, with offset_lag,
    highwater_mark_offset and messaging.kafka.message_count, linking every message's
    publish. Two partitions fetched together are two deliveries."""
    b = SpanSet()
    for k in range(N):
        t = k * 300
        by_partition: dict[int, list[SpanRef]] = {0: [], 1: []}
        for j in range(4):
            root = b.span("checkout", "POST /orders", kind="SERVER", start_ms=t + j * 10,
                          dur_ms=5)
            by_partition[j % 2].append(
                _kafka_publish(b, "checkout", root, t + j * 10 + 2, "orders", dur_ms=0.05))
        for p, pubs in by_partition.items():
            b.span("billing", "orders process", kind="CONSUMER", start_ms=t + 100 + p * 20,
                   dur_ms=15, links=pubs,
                   attrs={**_KAFKA, "messaging.destination": "orders",
                          "messaging.kafka.partition": p, "messaging.kafka.offset_lag": 0,
                          "messaging.kafka.highwater_mark_offset": 2 * k + 2,
                          "messaging.kafka.message_count": len(pubs)})
    st = b.store()
    a = _analysed(st, {
        "service:checkout->topic:orders": ("publish", 4 * N),
        "topic:orders->service:billing": ("consume", 2 * N),
    }, "topic:orders->service:billing", p50_ms=15)
    consume = a.edge("topic:orders->service:billing")
    assert consume["message_count"] == 4 * N and consume["batch_deliveries"] == 2 * N


def test_ruby_kafka_client_each_message_is_a_child_without_link():
    """ruby-kafka's simple client API, before the 2023 rename (PR #648): Client#deliver_message
    makes "<topic> send" (key, and the partition when given), delivering synchronously
    inside it; Client#each_message (no consumer group) makes "<topic> process" as a child
    of the extracted context with no link, partition and key but no offset."""
    b = SpanSet()
    for i in range(N):
        t = i * 100
        root = b.span("checkout", "POST /orders", kind="SERVER", start_ms=t, dur_ms=12)
        pub = _kafka_publish(b, "checkout", root, t + 2, "orders", op="send", dur_ms=6,
                             attrs={"messaging.kafka.message_key": f"order-{i}",
                                    "messaging.kafka.partition": 0})
        _kafka_process(b, "billing", pub, t + 20, "orders", 0, None, f"order-{i}",
                       link=False)
    a = _analysed(b.store(), {
        "service:checkout->topic:orders": ("publish", N),
        "topic:orders->service:billing": ("consume", N),
        "service:billing->external:postgresql": ("call", N),
    }, "topic:orders->service:billing", p50_ms=8)
    assert a.edge("topic:orders->service:billing")["queue_p50_ms"] == 12


# -------------------------------------------------------------------------- job queues
# delayed_job: instrumentation/delayed_job/lib/opentelemetry/instrumentation/delayed_job/
#   plugins/tracer_plugin.rb (current, and its v0.20 version as middlewares/
#   tracer_middleware.rb with "<queue> send" and integer ids) and test/.../plugins/
#   tracer_plugin_test.rb. A Delayed::Plugin around :enqueue and :invoke_job: it injects
#   nothing and extracts nothing. "<queue> publish" PRODUCER (messaging.operation publish,
#   messaging.message_id = job.id.to_s set after the job row is saved, inside the span) and
#   a worker "<queue> process" CONSUMER, a root (the worker loop has no span) with the same
#   message_id, messaging.delayed_job.attempts and locked_by.


def _dj_enqueue(b: SpanSet, parent: SpanRef, t: float, job_id: Any, op: str) -> SpanRef:
    pub = b.span("shop-web", f"default {op}", kind="PRODUCER", parent=parent, start_ms=t,
                 dur_ms=3, attrs={"messaging.system": "delayed_job",
                                  "messaging.destination": "default",
                                  "messaging.destination_kind": "queue",
                                  "messaging.delayed_job.name": "InvoiceJob",
                                  "messaging.delayed_job.priority": 0,
                                  "messaging.operation": op, "messaging.message_id": job_id})
    b.span("shop-web", "INSERT shop_production", kind="CLIENT", parent=pub, start_ms=t + 0.5,
           dur_ms=2, attrs={**_PG, "db.operation": "INSERT"})
    return pub


def _dj_invoke(b: SpanSet, t: float, job_id: Any, attempts: int, dur_ms: float = 20,
               status: str = "UNSET") -> SpanRef:
    # the worker's reserve query (a root: the worker loop has no span)
    b.span("shop-worker", "UPDATE shop_production", kind="CLIENT", start_ms=t - 3, dur_ms=2,
           attrs={**_PG, "db.operation": "UPDATE"})
    proc = b.span("shop-worker", "default process", kind="CONSUMER", start_ms=t,
                  dur_ms=dur_ms, status=status,
                  attrs={"messaging.system": "delayed_job",
                         "messaging.destination": "default",
                         "messaging.destination_kind": "queue",
                         "messaging.delayed_job.name": "InvoiceJob",
                         "messaging.delayed_job.priority": 0,
                         "messaging.delayed_job.attempts": attempts,
                         "messaging.delayed_job.locked_by": "host:worker-1 pid:4242",
                         "messaging.operation": "process", "messaging.message_id": job_id})
    b.span("shop-worker", "SELECT shop_production", kind="CLIENT", parent=proc,
           start_ms=t + 2, dur_ms=3, attrs={**_PG, "db.operation": "SELECT"})
    return proc


@pytest.mark.parametrize("op,int_ids", [("publish", False), ("send", True)])
def test_delayed_job_process_is_joined_to_its_enqueue_by_job_id(op: str, int_ids: bool):
    """Current ("<queue> publish", ids as strings) and v0.20 ("<queue> send", integer
    ids): no context crosses the queue, so the job id on both spans is all that ties a job
    run to its enqueue: every delivery joined by message id, the request and its job one
    flow of two traces; the lost context reported once per run."""
    b = SpanSet()
    for i in range(N):
        t = i * 1000
        job_id = 501 + i if int_ids else str(501 + i)
        root = b.span("shop-web", "InvoicesController#create", kind="SERVER", start_ms=t,
                      dur_ms=15)
        _dj_enqueue(b, root, t + 5, job_id, op)
        _dj_invoke(b, t + 600, job_id, 0)
    st = b.store()
    a = analyze(st)
    assert _edges(a) == {
        "service:shop-web->topic:default": ("publish", N),
        "topic:default->service:shop-worker": ("consume", N),
        "service:shop-web->external:postgresql": ("call", N),
        "service:shop-worker->external:postgresql": ("call", 2 * N),
    }
    consume = a.edge("topic:default->service:shop-worker")
    assert consume["joined_by"] == {"context": 0, "message_id": N, "none": 0, "outside": 0}
    assert consume["queue_p50_ms"] == 592  # process start - publish end
    assert consume["p50_ms"] == 20
    assert _systems(a) == {"topic:default": "delayed_job"}
    assert [(x["type"], x.get("stitched")) for x in a.anomalies] == [("broken_context", N)]
    flow = _flow(a, "shop-web")
    assert flow["count"] == N and flow["traces_per_flow"] == 2.0
    assert edge_detail(st, "topic:default->service:shop-worker")["count"] == N


def test_delayed_job_failed_attempt_is_retried_under_the_same_id():
    """A job that raised: in_span records the exception, status ERROR; Delayed::Worker
    reschedules the same row (attempts + 1, run_at later) and runs it again: a second
    process span with the same message_id and messaging.delayed_job.attempts=1. Two
    deliveries of one message, both joined by its id."""
    b = SpanSet()
    for i in range(N):
        t = i * 1000
        job_id = str(701 + i)
        root = b.span("shop-web", "InvoicesController#create", kind="SERVER", start_ms=t,
                      dur_ms=15)
        _dj_enqueue(b, root, t + 5, job_id, "publish")
        _dj_invoke(b, t + 600, job_id, 0, dur_ms=8, status="ERROR")
        _dj_invoke(b, t + 600 + 6_000, job_id, 1)
    st = b.store()
    a = analyze(st)
    assert _edges(a) == {
        "service:shop-web->topic:default": ("publish", N),
        "topic:default->service:shop-worker": ("consume", 2 * N),
        "service:shop-web->external:postgresql": ("call", N),
        "service:shop-worker->external:postgresql": ("call", 4 * N),
    }
    consume = a.edge("topic:default->service:shop-worker")
    assert consume["joined_by"] == {"context": 0, "message_id": 2 * N, "none": 0, "outside": 0}
    assert consume["error_count"] == N
    assert {x["type"] for x in a.anomalies} == {"redelivery", "broken_context"}
    redelivery = next(x for x in a.anomalies if x["type"] == "redelivery")
    assert (redelivery["count"], redelivery["messages"]) == (N, N)
    flow = _flow(a, "shop-web")
    assert flow["count"] == N and flow["traces_per_flow"] == 3.0


# resque: instrumentation/resque/lib/opentelemetry/instrumentation/resque/{instrumentation.rb,
#   patches/resque_module.rb, patches/resque_job.rb} and test/.../patches/resque_job_test.rb.
#   Resque.push makes "<queue> publish" (before v0.5 "send") PRODUCER around the injection
#   into the job hash and the Redis push itself (SADD + RPUSH, pipelined: the Redis span is
#   the publish span's child). Resque::Job#perform makes "<queue> process" CONSUMER:
#   propagation_style :link (default) a root linking the publish, :child a child of it,
#   :none a root with nothing. Attributes: messaging.system=resque, messaging.destination,
#   destination_kind=queue, messaging.resque.job_class. Resque jobs have no id: no
#   messaging.message_id on either span.


def _resque_push(b: SpanSet, parent: SpanRef, t: float, queue: str, job_class: str,
                 name: str | None = None) -> SpanRef:
    pub = b.span("shop-web", name or f"{queue} publish", kind="PRODUCER", parent=parent,
                 start_ms=t, dur_ms=1.2, attrs=_rq(queue, job_class))
    b.span("shop-web", "PIPELINED", kind="CLIENT", parent=pub, start_ms=t + 0.3, dur_ms=0.7,
           attrs={**_REDIS, "db.statement": f"SADD resque:queues {queue}\n"
                                            f"RPUSH resque:queue:{queue} ?"})
    return pub


def _rq(queue: str, job_class: str) -> dict[str, Any]:
    return {"messaging.system": "resque", "messaging.destination": queue,
            "messaging.destination_kind": "queue", "messaging.resque.job_class": job_class}


def _resque_perform(b: SpanSet, t: float, queue: str, job_class: str, *,
                    parent: SpanRef | None = None, links: list[SpanRef] = (),
                    name: str | None = None) -> SpanRef:
    # the worker's poll that found the job (a root: Resque::Worker#reserve has no span)
    b.span("shop-worker", "LPOP", kind="CLIENT", start_ms=t - 4, dur_ms=0.4,
           attrs={**_REDIS, "db.statement": f"LPOP resque:queue:{queue}"})
    proc = b.span("shop-worker", name or f"{queue} process", kind="CONSUMER", parent=parent,
                  start_ms=t, dur_ms=20, links=links, attrs=_rq(queue, job_class))
    b.span("shop-worker", "SELECT shop_production.invoices", kind="CLIENT", parent=proc,
           start_ms=t + 2, dur_ms=3, attrs=_PG)
    return proc


_RESQUE_EDGES = {
    "service:shop-web->topic:default": ("publish", N),
    "topic:default->service:shop-worker": ("consume", N),
    "service:shop-web->external:redis": ("call", N),
    "service:shop-worker->external:redis": ("call", N),
    "service:shop-worker->external:postgresql": ("call", N),
}


def test_resque_default_job_runs_in_a_new_trace_linked_to_its_push():
    """propagation_style :link (default; resque_job_test.rb "defaults to using links"):
    the forked worker's "default process" is a root (start_root_span) linking the push."""
    b = SpanSet()
    for i in range(N):
        t = i * 1000
        root = b.span("shop-web", "InvoicesController#create", kind="SERVER", start_ms=t,
                      dur_ms=15)
        pub = _resque_push(b, root, t + 5, "default", "InvoiceJob")
        _resque_perform(b, t + 300, "default", "InvoiceJob", links=[pub])
    a = _analysed(b.store(), _RESQUE_EDGES, "topic:default->service:shop-worker", p50_ms=20)
    assert a.edge("topic:default->service:shop-worker")["queue_p50_ms"] == 293.8
    assert _systems(a) == {"topic:default": "resque"}
    flow = _flow(a, "shop-web")
    assert flow["count"] == N and flow["traces_per_flow"] == 2.0


def test_resque_child_propagation_continues_the_pushing_trace():
    """propagation_style :child: "default process" is in_span under the extracted context,
    a child of the push in the request's trace."""
    b = SpanSet()
    for i in range(N):
        t = i * 1000
        root = b.span("shop-web", "InvoicesController#create", kind="SERVER", start_ms=t,
                      dur_ms=15)
        pub = _resque_push(b, root, t + 5, "default", "InvoiceJob")
        _resque_perform(b, t + 300, "default", "InvoiceJob", parent=pub)
    a = _analysed(b.store(), _RESQUE_EDGES, "topic:default->service:shop-worker", p50_ms=20)
    flow = _flow(a, "shop-web")
    assert flow["count"] == N and flow["traces_per_flow"] == 1.0


def test_resque_none_propagation_leaves_jobs_unjoined():
    """propagation_style :none: the job hash still carries the injected context (push
    injects regardless), but perform starts a root with no link, and nothing (no job id)
    can join it: N deliveries from the queue, none joined (their context was dropped: a
    broken context, nothing stitched). The N pushes no delivery was joined to are reported
    as such, saying the queue has consumers (their context lost: the same evidence, read
    from the publishing side)."""
    b = SpanSet()
    for i in range(N):
        t = i * 1000
        root = b.span("shop-web", "InvoicesController#create", kind="SERVER", start_ms=t,
                      dur_ms=15)
        _resque_push(b, root, t + 5, "default", "InvoiceJob")
        _resque_perform(b, t + 300, "default", "InvoiceJob")
    st = b.store()
    a = analyze(st)
    assert _edges(a) == _RESQUE_EDGES
    consume = a.edge("topic:default->service:shop-worker")
    assert consume["joined_by"] == {"context": 0, "message_id": 0, "none": N, "outside": 0}
    found = {x["type"]: x for x in a.anomalies}
    assert set(found) == {"broken_context", "published_never_consumed"}
    broken = found["broken_context"]
    assert (broken["where"], broken["count"], broken["stitched"]) == \
        ("topic:default->service:shop-worker", N, 0)
    assert found["published_never_consumed"]["topic_has_consumers"]
    for e in a.edges:
        assert edge_detail(st, e["id"])["count"] == e["count"], e["id"]


def test_resque_job_class_span_names_under_active_job():
    """span_naming :job_class with ActiveJob's Resque adapter: "<JobClass> publish" and
    "<JobClass> process" (the class read from the JobWrapper's first argument), the queue
    only in messaging.destination. Two job classes on one queue are one destination."""
    b = SpanSet()
    for i in range(N):
        t = i * 1000
        root = b.span("shop-web", "OrdersController#create", kind="SERVER", start_ms=t,
                      dur_ms=20)
        for k, job_class in enumerate(("InvoiceJob", "ReceiptJob")):
            pub = _resque_push(b, root, t + 5 + k * 3, "mailers", job_class,
                               name=f"{job_class} publish")
            _resque_perform(b, t + 300 + k * 40, "mailers", job_class, links=[pub],
                            name=f"{job_class} process")
    _analysed(b.store(), {
        "service:shop-web->topic:mailers": ("publish", 2 * N),
        "topic:mailers->service:shop-worker": ("consume", 2 * N),
        "service:shop-web->external:redis": ("call", 2 * N),
        "service:shop-worker->external:redis": ("call", 2 * N),
        "service:shop-worker->external:postgresql": ("call", 2 * N),
    }, "topic:mailers->service:shop-worker", p50_ms=20)


# que: instrumentation/que/lib/opentelemetry/instrumentation/que/{patches/que_job.rb,
#   middlewares/server_middleware.rb, instrumentation.rb} (v0.6 and current) and
#   test/.../que_test.rb. Que::Job.enqueue makes a PRODUCER named "<JobClass> send"
#   (v0.7+: "<JobClass> publish") once the job row exists: messaging.system=que,
#   messaging.destination=<queue>, destination_kind=queue, messaging.operation send/publish,
#   messaging.que.job_class, messaging.que.priority and messaging.message_id = the job's
#   integer id. The context travels in the job's tags ("traceparent:..."). The server
#   middleware's "<JobClass> process" CONSUMER has the same id, messaging.que.attempts
#   (error_count) and, with propagation_style :link (default), is a root linking the
#   enqueue. Que::Poller#poll, with trace_poller, is an INTERNAL root with its SQL inside.


def _que(job_class: str, job_id: int | None, op: str) -> dict[str, Any]:
    a = {"messaging.system": "que", "messaging.destination_kind": "queue",
         "messaging.operation": op, "messaging.destination": "default",
         "messaging.que.job_class": job_class, "messaging.que.priority": 100}
    if job_id is not None:
        a["messaging.message_id"] = job_id
    return a


def _que_enqueue(b: SpanSet, parent: SpanRef, t: float, job_class: str, job_id: int | None,
                 op: str = "publish") -> SpanRef:
    return b.span("shop-web", f"{job_class} {op}", kind="PRODUCER", parent=parent,
                  start_ms=t, dur_ms=2.5, attrs=_que(job_class, job_id, op))


def _que_run(b: SpanSet, t: float, job_class: str, job_id: int, link: SpanRef,
             attempts: int = 0, dur_ms: float = 20, status: str = "UNSET") -> SpanRef:
    proc = b.span("shop-worker", f"{job_class} process", kind="CONSUMER", start_ms=t,
                  dur_ms=dur_ms, links=[link], status=status,
                  attrs={**_que(job_class, job_id, "process"),
                         "messaging.que.attempts": attempts})
    b.span("shop-worker", "SELECT shop_production.invoices", kind="CLIENT", parent=proc,
           start_ms=t + 2, dur_ms=3, attrs=_PG)
    return proc


@pytest.mark.parametrize("op", ["publish", "send"])
def test_que_job_runs_in_a_new_trace_linked_to_its_enqueue(op: str):
    """The default :link style (current "publish" and v0.6 "send" names), with the poller
    traced: each locker poll an INTERNAL "Que::Poller#poll" root around its SQL, no
    delivery."""
    b = SpanSet()
    for i in range(N):
        t = i * 1000
        root = b.span("shop-web", "InvoicesController#create", kind="SERVER", start_ms=t,
                      dur_ms=15)
        pub = _que_enqueue(b, root, t + 5, "InvoiceJob", 9001 + i, op)
        poll = b.span("shop-worker", "Que::Poller#poll", start_ms=t + 200, dur_ms=3)
        b.span("shop-worker", "WITH jobs AS (SELECT ...)", kind="CLIENT", parent=poll,
               start_ms=t + 200.5, dur_ms=2, attrs={**_PG, "db.operation": "WITH"})
        _que_run(b, t + 205, "InvoiceJob", 9001 + i, pub)
    a = _analysed(b.store(), {
        "service:shop-web->topic:default": ("publish", N),
        "topic:default->service:shop-worker": ("consume", N),
        "service:shop-worker->external:postgresql": ("call", 2 * N),
    }, "topic:default->service:shop-worker", p50_ms=20)
    assert a.edge("topic:default->service:shop-worker")["queue_p50_ms"] == 197.5
    assert _systems(a) == {"topic:default": "que"}
    flow = _flow(a, "shop-web")
    assert flow["count"] == N and flow["traces_per_flow"] == 2.0


def test_que_retried_job_links_the_same_enqueue():
    """A job that raised: the middleware's span records que_error, status ERROR,
    messaging.que.attempts=0. Que keeps the row (error_count + 1, run_at later) with its
    tags, so the retry's span links to the same enqueue again, attempts=1. Two deliveries
    of one job, both joined by context: a redelivery."""
    b = SpanSet()
    for i in range(N):
        t = i * 1000
        root = b.span("shop-web", "InvoicesController#create", kind="SERVER", start_ms=t,
                      dur_ms=15)
        pub = _que_enqueue(b, root, t + 5, "InvoiceJob", 9101 + i)
        _que_run(b, t + 200, "InvoiceJob", 9101 + i, pub, dur_ms=6, status="ERROR")
        _que_run(b, t + 200 + 4_000, "InvoiceJob", 9101 + i, pub, attempts=1)
    st = b.store()
    a = _analysed_each(st, {
        "service:shop-web->topic:default": ("publish", N),
        "topic:default->service:shop-worker": ("consume", 2 * N),
        "service:shop-worker->external:postgresql": ("call", 2 * N),
    }, ["topic:default->service:shop-worker"], anomalies=[
        ("redelivery", "topic:default->service:shop-worker", N)])
    consume = a.edge("topic:default->service:shop-worker")
    assert consume["error_count"] == N
    redelivery = next(x for x in a.anomalies if x["type"] == "redelivery")
    assert redelivery["messages"] == N
    flow = _flow(a, "shop-web")
    assert flow["count"] == N and flow["traces_per_flow"] == 3.0


def test_que_bulk_enqueue_is_one_publish_of_several_jobs():
    """Que 2.1+ bulk_enqueue (current instrumentation): one "publish" PRODUCER around the
    whole block, renamed after the first job's class, with no message id (the rows do not
    exist yet when it is tagged) and one traceparent tag shared by every job: each job's
    process span (its own id) links to that one publish. One publish delivering three
    jobs; three deliveries, none of them a redelivery."""
    b = SpanSet()
    for i in range(N):
        t = i * 1000
        root = b.span("shop-web", "ImportsController#create", kind="SERVER", start_ms=t,
                      dur_ms=20)
        pub = _que_enqueue(b, root, t + 5, "ImportRowJob", None)
        for k in range(3):
            _que_run(b, t + 200 + k * 30, "ImportRowJob", 9200 + 3 * i + k, pub)
    a = _analysed(b.store(), {
        "service:shop-web->topic:default": ("publish", N),
        "topic:default->service:shop-worker": ("consume", 3 * N),
        "service:shop-worker->external:postgresql": ("call", 3 * N),
    }, "topic:default->service:shop-worker", p50_ms=20)
    assert a.edge("topic:default->service:shop-worker")["message_count"] == 3 * N
    flow = _flow(a, "shop-web")
    assert flow["count"] == N
