"""Span shapes of Elixir's Oban and Broadway instrumentation (opentelemetry_oban,
opentelemetry_broadway), PHP's Symfony Messenger instrumentation (opentelemetry-auto-symfony)
and Python's kafka-python instrumentation (opentelemetry-instrumentation-kafka-python), each
read from the library's source and its own tests. Each test builds exactly the spans the
library exports for a small scenario and checks what the analyzer makes of them."""

from __future__ import annotations

from typing import Any

from analyzer import analyze, edge_detail
from tests.analysis_checks import analysed as _analysed
from tests.analysis_checks import analysed_each as _analysed_each
from tests.analysis_checks import edges_of as _edges
from tests.analysis_checks import systems_of as _systems
from tests.builders import SpanRef, SpanSet

N = 3

_PG = {"db.system": "postgresql", "net.peer.name": "pg", "db.name": "shop_prod"}


def _query(b: SpanSet, service: str, parent: SpanRef, t: float, dur: float = 2.0) -> SpanRef:
    """A database call the application makes (any DB instrumentation's CLIENT span)."""
    return b.span(service, "SELECT shop_prod.orders", kind="CLIENT", parent=parent,
                  start_ms=t, dur_ms=dur, attrs=_PG)


# ------------------------------------------------------------------------- Elixir: Oban
# Read from open-telemetry/opentelemetry-erlang-contrib, instrumentation/opentelemetry_oban/
# lib/opentelemetry_oban.ex (insert/insert!/insert_all), lib/opentelemetry_oban/
# job_handler.ex and plugin_handler.ex, test/opentelemetry_oban/job_handler_test.exs and
# CHANGELOG.md. Only jobs inserted through OpentelemetryOban.insert* get a producer span and
# carry the context (injected into the job's meta column); the job span is started by a
# telemetry handler in the queue's executor process, which has no context of its own.

_WORKER = "Shop.Workers.ReceiptMailer"


def _oban_send(b: SpanSet, service: str, parent: SpanRef, t: float, queue: str, worker: str,
               job_id: int) -> SpanRef:
    """Current main: "send <queue>" PRODUCER around Oban.insert (the INSERT into oban_jobs
    is its child); messaging.operation.type is 'create', and the job's id is set once the
    row exists."""
    send = b.span(service, f"send {queue}", kind="PRODUCER", parent=parent, start_ms=t,
                  dur_ms=3.0, attrs={"messaging.system": "oban",
                                     "messaging.operation.name": "send",
                                     "messaging.client.id": worker,
                                     "messaging.destination.name": queue,
                                     "messaging.operation.type": "create",
                                     "oban.job.worker": worker,
                                     "messaging.message.id": job_id, "oban.job.job_id": job_id,
                                     "oban.job.priority": 0, "oban.job.max_attempts": 20})
    b.span(service, "shop.repo.query:oban_jobs", kind="CLIENT", parent=send, start_ms=t + 0.5,
           dur_ms=2.0, attrs={**_PG, "db.statement": "INSERT INTO \"public\".\"oban_jobs\" ..."})
    return send


def _oban_process(b: SpanSet, service: str, t: float, queue: str, worker: str, job_id: int,
                  *, attempt: int = 1, parent: SpanRef | None = None,
                  links: list[SpanRef] = (), dur: float = 15.0,
                  status: str = "UNSET") -> SpanRef:
    """Current main's job span: "process <queue>" CONSUMER, by default (span_relationship
    :link) the root of a new trace linking the span whose context the job's meta holds;
    with :child its child. The job's work inside."""
    attrs: dict[str, Any] = {
        "messaging.system": "oban", "messaging.operation.name": "process",
        "messaging.message.id": job_id, "messaging.client.id": worker,
        "messaging.destination.name": queue, "messaging.operation.type": "process",
        "oban.job.job_id": job_id, "oban.job.worker": worker, "oban.job.queue": queue,
        "oban.job.priority": 0, "oban.job.attempt": attempt, "oban.job.max_attempts": 20,
        "oban.job.inserted_at": "2026-03-02T10:00:00.000000Z",
        "oban.job.scheduled_at": "2026-03-02T10:00:00.000000Z",
        "oban.job.attempted_at": "2026-03-02T10:00:00.040000Z",
        "oban.job.duration_us": int(dur * 1000), "oban.job.queue_time_us": 40_000}
    if status == "ERROR":
        attrs["error.type"] = "RuntimeError"
    job = b.span(service, f"process {queue}", kind="CONSUMER", parent=parent, links=links,
                 start_ms=t, dur_ms=dur, status=status, attrs=attrs)
    _query(b, service, job, t + 2)
    return job


def test_oban_job_runs_in_a_new_trace_linked_to_its_send():
    """Current main (default span_relationship :link): the Phoenix request's "send mailers"
    PRODUCER (child of the request) and the Oban node's "process mailers" CONSUMER, the root
    of a new trace with one link to the send (the library's "process span creates a new
    trace with a link to the send span" test). Both carry the job id, an integer."""
    b = SpanSet()
    for i in range(N):
        t = i * 100
        root = b.span("shop", "POST /orders", kind="SERVER", start_ms=t, dur_ms=12)
        send = _oban_send(b, "shop", root, t + 4, "mailers", _WORKER, 7001 + i)
        _oban_process(b, "shop-worker", t + 47, "mailers", _WORKER, 7001 + i, links=[send])
    a = _analysed(b.store(), {
        "service:shop->topic:mailers": ("publish", N),
        "topic:mailers->service:shop-worker": ("consume", N),
        "service:shop->external:postgresql": ("call", N),
        "service:shop-worker->external:postgresql": ("call", N),
    }, "topic:mailers->service:shop-worker", p50_ms=15)
    consume = a.edge("topic:mailers->service:shop-worker")
    assert consume["queue_p50_ms"] == 40.0  # job start - send end
    assert consume["message_count"] == N
    assert _systems(a) == {"topic:mailers": "oban"}
    (flow,) = a.flows  # the request and its job: one transaction, two traces
    assert flow["count"] == N and flow["traces_per_flow"] == 2.0


def test_oban_child_relationship_continues_the_inserting_trace():
    """span_relationship: :child attaches the extracted context: "process mailers" is a
    child of "send mailers" in the request's trace (the library's "process span continues
    the propagated trace as a child of the send span" test)."""
    b = SpanSet()
    for i in range(N):
        t = i * 100
        root = b.span("shop", "POST /orders", kind="SERVER", start_ms=t, dur_ms=12)
        send = _oban_send(b, "shop", root, t + 4, "mailers", _WORKER, 7001 + i)
        _oban_process(b, "shop-worker", t + 47, "mailers", _WORKER, 7001 + i, parent=send)
    a = _analysed(b.store(), {
        "service:shop->topic:mailers": ("publish", N),
        "topic:mailers->service:shop-worker": ("consume", N),
        "service:shop->external:postgresql": ("call", N),
        "service:shop-worker->external:postgresql": ("call", N),
    }, "topic:mailers->service:shop-worker", p50_ms=15)
    (flow,) = a.flows
    assert flow["count"] == N and flow["traces_per_flow"] == 1.0


def test_oban_1x_worker_named_spans_name_their_queue_only_in_attributes():
    """opentelemetry_oban 1.0-1.1 (semantic conventions before 1.20): "<Worker> send"
    PRODUCER (messaging.destination = the queue, destination_kind queue, no operation,
    oban.job.job_id/priority/max_attempts once inserted) and "<Worker> process" CONSUMER
    (messaging.operation process), the root of a new trace linking the send
    (set_current_span(:undefined) after extracting). Two workers on the queue "default":
    the span names name the workers, the queue is the destination of both."""
    b = SpanSet()
    workers = ("Shop.Workers.ReceiptMailer", "Shop.Workers.StockSync")
    for i in range(N):
        t = i * 200
        root = b.span("shop", "POST /orders", kind="SERVER", start_ms=t, dur_ms=20)
        for k, worker in enumerate(workers):
            job_id = 9000 + 2 * i + k
            send = b.span("shop", f"{worker} send", kind="PRODUCER", parent=root,
                          start_ms=t + 4 + 5 * k, dur_ms=3,
                          attrs={"messaging.system": "oban", "messaging.destination": "default",
                                 "messaging.destination_kind": "queue",
                                 "oban.job.worker": worker, "oban.job.job_id": job_id,
                                 "oban.job.priority": 0, "oban.job.max_attempts": 20})
            job = b.span("shop-worker", f"{worker} process", kind="CONSUMER",
                         start_ms=t + 60 + 30 * k, dur_ms=15, links=[send],
                         attrs={"messaging.system": "oban", "messaging.destination": "default",
                                "messaging.destination_kind": "queue",
                                "messaging.operation": "process", "oban.job.job_id": job_id,
                                "oban.job.worker": worker, "oban.job.priority": 0,
                                "oban.job.attempt": 1, "oban.job.max_attempts": 20,
                                "oban.job.inserted_at": "2024-05-02T10:00:00.000000Z",
                                "oban.job.scheduled_at": "2024-05-02T10:00:00.000000Z"})
            _query(b, "shop-worker", job, t + 62 + 30 * k)
    a = _analysed(b.store(), {
        "service:shop->topic:default": ("publish", 2 * N),
        "topic:default->service:shop-worker": ("consume", 2 * N),
        "service:shop-worker->external:postgresql": ("call", 2 * N),
    }, "topic:default->service:shop-worker", p50_ms=15)
    assert _systems(a) == {"topic:default": "oban"}
    (flow,) = a.flows
    assert flow["count"] == N and flow["traces_per_flow"] == 3.0


def test_oban_retried_job_links_the_same_send_again():
    """A job that raised: its span records the exception (status ERROR, error.type) and
    Oban schedules attempt 2 with its backoff (attempt^4 + 15 s, plus jitter). The meta
    still holds the send's context, so the retry's span is another new trace linking the
    same send span (the library's "retries each create a new trace with links" test), with
    the same job id and oban.job.attempt = 2: the job was delivered twice."""
    b = SpanSet()
    for i in range(N):
        t = i * 100
        root = b.span("shop", "POST /orders", kind="SERVER", start_ms=t, dur_ms=12)
        send = _oban_send(b, "shop", root, t + 4, "mailers", _WORKER, 7001 + i)
        _oban_process(b, "shop-worker", t + 47, "mailers", _WORKER, 7001 + i, links=[send],
                      dur=6, status="ERROR")
        _oban_process(b, "shop-worker", t + 47 + 16_300, "mailers", _WORKER, 7001 + i,
                      attempt=2, links=[send])
    st = b.store()
    a = _analysed_each(st, {
        "service:shop->topic:mailers": ("publish", N),
        "topic:mailers->service:shop-worker": ("consume", 2 * N),
        "service:shop->external:postgresql": ("call", N),
        "service:shop-worker->external:postgresql": ("call", 2 * N),
    }, ["topic:mailers->service:shop-worker"],
        anomalies=[("redelivery", "topic:mailers->service:shop-worker", N)])
    consume = a.edge("topic:mailers->service:shop-worker")
    assert consume["error_count"] == N
    redelivery = next(x for x in a.anomalies if x["type"] == "redelivery")
    assert redelivery["messages"] == N
    (flow,) = a.flows  # the request, the failed attempt and the retry
    assert flow["count"] == N and flow["traces_per_flow"] == 3.0


def test_oban_cron_jobs_have_no_producer_and_plugin_spans_are_no_deliveries():
    """Jobs that Oban itself inserts (Oban.Plugins.Cron; any plain Oban.insert) carry no
    context and have no producer span: their "process default" span is a root without
    links. The plugin handler's spans ("Oban.Plugins.Cron process", INTERNAL, only
    oban.plugin and oban.jobs_count; also Stager, Pruner...) name an operation but no
    messaging system: they deliver nothing."""
    b = SpanSet()
    for i in range(N):
        t = i * 60_000
        cron = b.span("shop-worker", "Oban.Plugins.Cron process", start_ms=t, dur_ms=5,
                      attrs={"oban.plugin": "Oban.Plugins.Cron", "oban.jobs_count": 1})
        b.span("shop-worker", "shop.repo.query:oban_jobs", kind="CLIENT", parent=cron,
               start_ms=t + 1, dur_ms=3,
               attrs={**_PG, "db.statement": "INSERT INTO \"public\".\"oban_jobs\" ..."})
        b.span("shop-worker", "Oban.Stager process", start_ms=t + 500, dur_ms=2,
               attrs={"oban.plugin": "Oban.Stager"})
        _oban_process(b, "shop-worker", t + 1_040, "default", "Shop.Workers.NightlyReport",
                      6001 + i)
    st = b.store()
    a = _analysed_each(st, {
        "topic:default->service:shop-worker": ("consume", N),
        "service:shop-worker->external:postgresql": ("call", 2 * N),
    }, [], anomalies=[("consumer_without_producer", "topic:default->service:shop-worker",
                       N)])
    assert a.edge("topic:default->service:shop-worker")["joined_by"] == \
        {"context": 0, "message_id": 0, "none": N, "outside": 0}


# ---------------------------------------------------------------------- Elixir: Broadway
# Read from open-telemetry/opentelemetry-erlang-contrib, instrumentation/
# opentelemetry_broadway/lib/opentelemetry_broadway.ex (0.1 without propagation; 0.2 with
# `propagation: true`; main with span_relationship :link by default and the batch
# processor span) and test/opentelemetry_broadway_test.exs. A message span names no
# destination at all: messaging.system is 'broadway' (the pipeline library, not the broker),
# messaging.client.id the processor's name; the producer's context comes from the message's
# headers (RabbitMQ headers, Kafka record headers, SQS message attributes).

_PIPELINE = "Fulfilment.OrdersPipeline"


def _kafka_python_send(b: SpanSet, service: str, parent: SpanRef, t: float, topic: str,
                       partition: int) -> SpanRef:
    """kafka-python's "<topic> send" PRODUCER (releases 0.28b0-0.66b0: legacy attribute
    names, ended before KafkaProducer.send is even called)."""
    return b.span(service, f"{topic} send", kind="PRODUCER", parent=parent, start_ms=t,
                  dur_ms=0.05, attrs={"messaging.system": "kafka",
                                      "messaging.destination": topic,
                                      "messaging.kafka.partition": partition,
                                      "messaging.url": '["kafka:9092"]'})


def _broadway_message(b: SpanSet, t: float, link: SpanRef, size: int = 212) -> SpanRef:
    """main's "<Topology>/<processor> process" CONSUMER per message: a new trace linking the
    message's producer, status OK once handle_message returned :ok."""
    span = b.span("fulfilment", f"{_PIPELINE}/default process", kind="CONSUMER",
                  start_ms=t, dur_ms=9, links=[link], status="OK",
                  attrs={"messaging.system": "broadway", "messaging.operation.type": "process",
                         "messaging.client.id": f"{_PIPELINE}.Broadway.Processor_default_0",
                         "messaging.message.body.size": size})
    _query(b, "fulfilment", span, t + 2, dur=4)
    return span


def test_broadway_message_span_names_no_topic_but_links_its_producer():
    """A Python service publishes with kafka-python (context in the record headers); a
    Broadway pipeline (BroadwayKafka) consumes the topic. Broadway's message span names no
    topic and no broker: its link to the producer is what says which topic it came from."""
    b = SpanSet()
    for i in range(N):
        t = i * 100
        root = b.span("orders", "POST /orders", kind="SERVER", start_ms=t, dur_ms=8)
        send = _kafka_python_send(b, "orders", root, t + 3, "orders", i % 2)
        _broadway_message(b, t + 30, send)
    a = _analysed(b.store(), {
        "service:orders->topic:orders": ("publish", N),
        "topic:orders->service:fulfilment": ("consume", N),
        "service:fulfilment->external:postgresql": ("call", N),
    }, "topic:orders->service:fulfilment", p50_ms=9)
    assert _systems(a) == {"topic:orders": "kafka"}
    assert a.edge("topic:orders->service:fulfilment")["queue_p50_ms"] == 26.95
    (flow,) = a.flows
    assert flow["count"] == N and flow["traces_per_flow"] == 2.0


def test_broadway_batch_span_links_messages_its_processors_already_handled():
    """A pipeline with a batcher: each message's processor span (linking its producer), then
    handle_batch's "<Topology>/<batcher> batch" CONSUMER span, another new trace, with
    messaging.batch.message_count and one link per distinct producer trace
    (Enum.uniq_by trace_id). The batch span handles messages the processors already
    delivered: each message was delivered once."""
    b = SpanSet()
    per_batch = 2
    for k in range(N):
        t = k * 1_000
        sends = []
        for j in range(per_batch):
            root = b.span("orders", "POST /orders", kind="SERVER", start_ms=t + 10 * j,
                          dur_ms=8)
            send = _kafka_python_send(b, "orders", root, t + 10 * j + 3, "orders", j)
            _broadway_message(b, t + 10 * j + 30, send)
            sends.append(send)
        batch = b.span("fulfilment", f"{_PIPELINE}/default batch", kind="CONSUMER",
                       start_ms=t + 60, dur_ms=12, links=sends, status="OK",
                       attrs={"messaging.system": "broadway",
                              "messaging.operation.type": "process",
                              "messaging.client.id":
                                  f"{_PIPELINE}.Broadway.BatchProcessor_default_0",
                              "messaging.batch.message_count": per_batch,
                              "messaging.broadway.batch.successful_count": per_batch,
                              "messaging.broadway.batch.failed_count": 0})
        b.span("fulfilment", "INSERT shop_prod.shipments", kind="CLIENT", parent=batch,
               start_ms=t + 62, dur_ms=8, attrs=_PG)
    st = b.store()
    a = analyze(st)
    edges = _edges(a)
    assert edges["service:orders->topic:orders"] == ("publish", per_batch * N)
    consume = a.edge("topic:orders->service:fulfilment")
    assert consume["message_count"] == per_batch * N
    assert consume["joined_by"]["none"] == 0 and consume["joined_by"]["message_id"] == 0
    assert not [x for x in a.anomalies if x["type"] == "redelivery"]
    assert not a.anomalies
    assert set(edges) == {"service:orders->topic:orders", "topic:orders->service:fulfilment",
                          "service:fulfilment->external:postgresql"}
    assert edge_detail(st, consume["id"])["count"] == consume["count"]


# ------------------------------------------------------------ PHP: Symfony Messenger
# Read from open-telemetry/opentelemetry-php-contrib, src/Instrumentation/Symfony/src/
# MessengerInstrumentation.php (018e7fd2: SEND as CONSUMER, after PR #304; fb18a173: SEND
# as PRODUCER, schema 1.30), tests/Integration/MessengerInstrumentationTest.php, and the
# description of PR #652 (CONSUME span for a dispatch of a received envelope). The class
# says it "is currently not designed to facilitate trace context propagation": nothing is
# injected into the envelope, and no span names a transport's queue or a messaging system.
# Hooks are on interfaces, so every implementation in a chain gets its own span: a
# transport's send() calls its sender's send() (AmqpTransport -> AmqpSender), and the
# worker dispatches through RoutableMessageBus, which dispatches on the message's bus.

_MSG = "App\\Message\\OrderPlaced"
_ENVELOPE = "Symfony\\Component\\Messenger\\Envelope"
_BUS = "Symfony\\Component\\Messenger\\MessageBus"
_ROUTABLE = "Symfony\\Component\\Messenger\\RoutableMessageBus"
_AMQP = "Symfony\\Component\\Messenger\\Bridge\\Amqp\\Transport\\"


def _php_code(fn: str, cls: str) -> dict[str, Any]:
    return {"code.function.name": fn, "code.namespace": cls,
            "code.filepath": "/app/vendor/symfony/messenger/x.php", "code.line_number": 42}


def _symfony_web(b: SpanSet, t: float, send_kind: str) -> None:
    """The web request: "DISPATCH <class>" PRODUCER on the bus, inside it (SendMessage-
    Middleware) "SEND <class>" for the transport and, nested, for its sender."""
    root = b.span("shop", "POST /orders", kind="SERVER", start_ms=t, dur_ms=30,
                  attrs={"http.request.method": "POST", "http.route": "/orders"})
    dispatch = b.span("shop", f"DISPATCH {_MSG}", kind="PRODUCER", parent=root,
                      start_ms=t + 5, dur_ms=6,
                      attrs={**_php_code("dispatch", _BUS), "symfony.messenger.bus": _BUS,
                             "symfony.messenger.message": _MSG})
    send = dispatch
    for cls in ("AmqpTransport", "AmqpSender"):
        send = b.span("shop", f"SEND {_MSG}", kind=send_kind, parent=send,
                      start_ms=t + 6 + 0.1 * (cls == "AmqpSender"), dur_ms=4,
                      attrs={**_php_code("send", _AMQP + cls),
                             "symfony.messenger.transport": _AMQP + cls,
                             "symfony.messenger.message": _MSG})


def test_symfony_messenger_send_span_of_kind_consumer_is_no_delivery_to_the_sender():
    """After PR #304 (until SEND was made a PRODUCER): "SEND <class>" was a CONSUMER span,
    child of the "DISPATCH <class>" PRODUCER in the web request itself, naming no
    destination. The web service sent the message; it did not receive its own message
    (a cycle shop -> topic -> shop would be false). The worker's spans of that version are
    "DISPATCH Symfony\\...\\Envelope" PRODUCERs (the received envelope, re-dispatched)."""
    b = SpanSet()
    for i in range(N):
        t = i * 100
        _symfony_web(b, t, "CONSUMER")
    a = analyze(b.store())
    edges = _edges(a)
    assert not [e for e in edges if e.endswith("->service:shop")], edges
    assert not [x for x in a.anomalies if x["type"] == "cycle"]
    assert edges.get("service:shop->topic:unknown") == ("publish", N)


def test_symfony_messenger_consume_span_of_a_received_message_has_no_context():
    """PR #652 (merged): a dispatch of an envelope carrying a ReceivedStamp is a
    "CONSUME <class>" CONSUMER span naming the wrapped message's class; still no context
    propagation and no destination. The worker's RoutableMessageBus and the message's bus
    both see the received envelope: two nested CONSUME spans, one delivery. The deliveries
    cannot be joined to their dispatches: context lost by design, not a consumer without
    any producer."""
    b = SpanSet()
    for i in range(N):
        t = i * 100
        _symfony_web(b, t, "PRODUCER")
        outer = b.span("shop-worker", f"CONSUME {_MSG}", kind="CONSUMER", start_ms=t + 50,
                       dur_ms=20, attrs={**_php_code("dispatch", _ROUTABLE),
                                         "symfony.messenger.bus": _ROUTABLE,
                                         "symfony.messenger.message": _MSG})
        inner = b.span("shop-worker", f"CONSUME {_MSG}", kind="CONSUMER", parent=outer,
                       start_ms=t + 50.2, dur_ms=19.6,
                       attrs={**_php_code("dispatch", _BUS), "symfony.messenger.bus": _BUS,
                              "symfony.messenger.message": _MSG})
        _query(b, "shop-worker", inner, t + 52, dur=5)
    a = analyze(b.store())
    assert _edges(a) == {
        "service:shop->topic:unknown": ("publish", N),
        "topic:unknown->service:shop-worker": ("consume", N),
        "service:shop-worker->external:postgresql": ("call", N),
    }
    consume = a.edge("topic:unknown->service:shop-worker")
    assert consume["joined_by"] == {"context": 0, "message_id": 0, "none": N, "outside": 0}
    assert consume["p50_ms"] == 20  # the outer CONSUME, around the inner one
    kinds = {x["type"] for x in a.anomalies}
    assert "broken_context" in kinds and "consumer_without_producer" not in kinds
    assert "cycle" not in kinds and "redelivery" not in kinds
    # the unjoined dispatches are not called messages to a topic nobody consumes
    assert all(x["topic_has_consumers"] for x in a.anomalies
               if x["type"] == "published_never_consumed")


# -------------------------------------------------------------- Python: kafka-python
# Read from open-telemetry/opentelemetry-python-contrib, instrumentation/
# opentelemetry-instrumentation-kafka-python/src/opentelemetry/instrumentation/kafka/
# utils.py and package.py on main, and the released wheels 0.28b0 (the first on PyPI),
# 0.33b0, 0.37b0 and 0.66b1 (their utils.py, read after `pip download`). kafka-python-ng is
# the same instrumentation: package.py accepts either distribution ("kafka-python >= 2.0, < 3.0" or
# "kafka-python-ng >= 2.0, < 3.0") and both import as `kafka`, so there is no second shape.
# Every generation wraps KafkaProducer.send and KafkaConsumer.__next__, names spans
# "<topic> send" (PRODUCER) and "<topic> receive" (CONSUMER), injects into the record
# headers and starts the receive span with the extracted context as its PARENT (no link).

_LEGACY = {"messaging.system": "kafka", "messaging.url": '["kafka:9092"]'}


def test_kafka_python_receive_span_ended_at_once_leaves_the_handler_outside():
    """Every release, 0.28b0 to 0.66b1 (_create_consumer_span): the receive span is started
    and ended inside __next__ (the context attached only around the consume hook), so it
    lasts microseconds and the handler's own spans, made after __next__ returned, have no
    parent: each is the root of a trace of its own. Legacy attributes: messaging.destination,
    messaging.kafka.partition, messaging.url (the bootstrap servers as JSON); no operation
    attribute (only the span name says "receive"). The delivery is the receive span, child
    of the send. (A version that kept the span open until the next __next__, so that the
    handler ran under it, exists only in unreleased history: its context manager called
    Span.close(), which the API does not have.)"""
    b = SpanSet()
    for i in range(N):
        t = i * 100
        root = b.span("orders", "POST /orders", kind="SERVER", start_ms=t, dur_ms=8)
        send = _kafka_python_send(b, "orders", root, t + 3, "orders", 0)
        b.span("billing", "orders receive", kind="CONSUMER", parent=send, start_ms=t + 20,
               dur_ms=0.04, attrs={**_LEGACY, "messaging.destination": "orders",
                                   "messaging.kafka.partition": 0})
        b.span("billing", "SELECT shop_prod.orders", kind="CLIENT", start_ms=t + 21,
               dur_ms=6, attrs=_PG)
    a = _analysed(b.store(), {
        "service:orders->topic:orders": ("publish", N),
        "topic:orders->service:billing": ("consume", N),
        "service:billing->external:postgresql": ("call", N),
    }, "topic:orders->service:billing", p50_ms=0.04)
    flow = next(f for f in a.flows if "topic:orders->service:billing" in f["hops"])
    assert flow["count"] == N and flow["traces_per_flow"] == 1.0


def test_kafka_python_current_attributes_and_topic_partition_offset_ids():
    """Main after 0.66b1 (unreleased; semantic conventions of the incubating registry;
    0.66b1 already wraps the send itself but keeps the legacy names): the send span
    wraps KafkaProducer.send and reads the partition back from its future;
    messaging.destination.name, messaging.destination.partition.id (a string),
    messaging.client.id, messaging.kafka.message.key, operation name 'send' and type
    'publish', server.address = the bootstrap servers as a JSON list. The receive span
    adds messaging.consumer.group.name, messaging.kafka.message.offset and
    messaging.message.id = "<topic>.<partition>.<offset>" (the producer has no id). Two
    records share offset 1041 on two partitions: two messages."""
    b = SpanSet()
    base = {"messaging.system": "kafka", "server.address": '["kafka:9092"]',
            "messaging.destination.name": "orders"}
    records = [(0, 1041), (1, 1041), (0, 1042)]
    for i, (partition, offset) in enumerate(records):
        t = i * 100
        key = f"order-{4711 + i}"
        root = b.span("orders", "POST /orders", kind="SERVER", start_ms=t, dur_ms=8)
        send = b.span("orders", "orders send", kind="PRODUCER", parent=root, start_ms=t + 3,
                      dur_ms=0.3, attrs={**base, "messaging.client.id": "kafka-python-producer-1",
                                         "messaging.destination.partition.id": str(partition),
                                         "messaging.kafka.message.key": key,
                                         "messaging.operation.name": "send",
                                         "messaging.operation.type": "publish"})
        b.span("billing", "orders receive", kind="CONSUMER", parent=send, start_ms=t + 20,
               dur_ms=0.04, attrs={**base, "messaging.client.id": "kafka-python-2.0.6",
                                   "messaging.destination.partition.id": str(partition),
                                   "messaging.kafka.message.key": key,
                                   "messaging.consumer.group.name": "billing",
                                   "messaging.operation.name": "receive",
                                   "messaging.operation.type": "receive",
                                   "messaging.kafka.message.offset": offset,
                                   "messaging.message.id": f"orders.{partition}.{offset}"})
    a = _analysed(b.store(), {
        "service:orders->topic:orders": ("publish", N),
        "topic:orders->service:billing": ("consume", N),
    }, "topic:orders->service:billing")
    consume = a.edge("topic:orders->service:billing")
    assert consume["message_count"] == N
    assert consume["queue_p50_ms"] == 16.7
    assert _systems(a) == {"topic:orders": "kafka"}
    # the JSON list of bootstrap servers is no host of its own
    assert not [n for n in a.nodes if n["type"] == "external"]
