"""Span shapes of Ruby and PHP job queues not covered elsewhere, each read from the library's
source and its own tests: Rails 8's Solid Queue under opentelemetry-instrumentation-active_job
(bulk enqueue, recurring tasks), Laravel queues on Redis and Horizon under
opentelemetry-php-contrib's Laravel instrumentation (nested pushRaw, delayed dispatch, bulk,
the TracingLinked / TracingIsolated job contracts), and the current Symfony Messenger
instrumentation of opentelemetry-php-contrib (create / send / receive / process spans). Each
test builds exactly the spans the libraries export for a small scenario and checks what the
analyzer makes of them.

(Not encodable, no instrumentation found: Sneakers has no OpenTelemetry gem (the contrib repo
instruments bunny only, whose shapes are in test_analyzer_libraries.py); ActionCable has none
in opentelemetry-ruby-contrib (only Datadog's dd-trace-rb traces broadcast/transmit); php-enqueue
has none in opentelemetry-php-contrib.)"""

from __future__ import annotations

from typing import Any

from analyzer import analyze, edge_detail
from tests.analysis_checks import analysed, edges_of, flows_of, systems_of
from tests.builders import SpanRef, SpanSet

N = 3


def _anomalies(a) -> list[tuple[str, str, int]]:
    return sorted((x["type"], x["where"], x["count"]) for x in a.anomalies)


# ----------------------------------------------------------- Ruby: Solid Queue (ActiveJob)
# Solid Queue (rails/solid_queue) has no OpenTelemetry instrumentation of its own (its
# SolidQueue.instrument events, e.g. enqueue_recurring_task.solid_queue, are plain
# ActiveSupport notifications nothing subscribes to by default); its jobs are traced by
# opentelemetry-instrumentation-active_job. Read from open-telemetry/opentelemetry-ruby-contrib,
# instrumentation/active_job/lib/opentelemetry/instrumentation/active_job/handlers.rb (it
# subscribes enqueue, enqueue_at, enqueue_retry, perform, retry_stopped, discard: NOT
# enqueue_all), handlers/enqueue.rb (a PRODUCER "<queue> publish" attached, then injected into
# job.__otel_headers), handlers/perform.rb (propagation_style :link by default: a root
# CONSUMER "<queue> process" linking the extracted context when it is valid, no link else),
# mappers/attribute.rb (messaging.system 'active_job', messaging.destination = queue,
# messaging.message.id = job_id, messaging.active_job.adapter.name, provider_job_id once set)
# and test/.../handlers/perform_test.rb. From rails/rails activejob/lib/active_job/
# enqueuing.rb: ActiveJob.perform_all_later pushes "many jobs onto the queue at once without
# running enqueue callbacks" (only enqueue_all.active_job is instrumented), and
# instrumentation.rb: enqueue / enqueue_at are instrumented by an around_enqueue callback.
# From rails/solid_queue app/models/solid_queue/recurring_task.rb: the scheduler enqueues a
# recurring task with active_job.run_callbacks(:enqueue) { Job.enqueue(active_job) }.

def _aj(job_class: str, queue: str, job_id: str,
        provider_job_id: str | None = None) -> dict[str, Any]:
    a = {"code.namespace": job_class, "messaging.system": "active_job",
         "messaging.destination": queue, "messaging.message.id": job_id,
         "messaging.active_job.adapter.name": "solid_queue"}
    if provider_job_id is not None:
        a["messaging.active_job.message.provider_job_id"] = provider_job_id
    return a


def _jid(i: int, k: int) -> str:
    return f"5d0e3c1a-77b2-4c1e-8f3d-{k:04x}{i:08x}"


def test_solid_queue_perform_all_later_jobs_have_no_publish_and_no_link():
    """A request enqueues one InvoiceJob with perform_later (its "invoices publish" PRODUCER,
    the worker's "invoices process" root linking it) and three ReceiptMailJobs with
    ActiveJob.perform_all_later: Solid Queue's enqueue_all, no enqueue callback, hence no
    enqueue.active_job notification, no publish span and nothing in __otel_headers. Their
    "mailers process" spans are roots with no link (the extracted context is invalid). The
    queue database is Rails 8's default SQLite, which no contrib gem traces. The mailers
    deliveries have no producer anywhere (the publisher is uninstrumented), which is not a
    lost context: no producer of that queue was seen."""
    b = SpanSet()
    for i in range(N):
        t = i * 1000
        root = b.span("shop-web", "OrdersController#create", kind="SERVER", start_ms=t,
                      dur_ms=30, attrs={"http.method": "POST", "http.route": "/orders"})
        jid = _jid(i, 1)
        pub = b.span("shop-web", "invoices publish", kind="PRODUCER", parent=root,
                     start_ms=t + 8, dur_ms=3, status="OK", attrs=_aj("InvoiceJob", "invoices",
                                                                     jid))
        b.span("shop-worker", "invoices process", kind="CONSUMER", start_ms=t + 140,
               dur_ms=40, status="OK", links=[pub],
               attrs=_aj("InvoiceJob", "invoices", jid, str(9000 + 4 * i)))
        for k in range(3):
            b.span("shop-worker", "mailers process", kind="CONSUMER",
                   start_ms=t + 150 + 20 * k, dur_ms=12, status="OK",
                   attrs=_aj("ReceiptMailJob", "mailers", _jid(i, 10 + k),
                             str(9001 + 4 * i + k)))
    st = b.store()
    a = analyze(st)
    assert edges_of(a) == {
        "service:shop-web->topic:invoices": ("publish", N),
        "topic:invoices->service:shop-worker": ("consume", N),
        "topic:mailers->service:shop-worker": ("consume", 3 * N),
    }
    assert a.edge("topic:invoices->service:shop-worker")["joined_by"] == \
        {"context": N, "message_id": 0, "none": 0, "outside": 0}
    assert a.edge("topic:mailers->service:shop-worker")["joined_by"] == \
        {"context": 0, "message_id": 0, "none": 3 * N, "outside": 0}
    assert _anomalies(a) == [
        ("consumer_without_producer", "topic:mailers->service:shop-worker", 3 * N)]
    assert systems_of(a) == {"topic:invoices": "active_job", "topic:mailers": "active_job"}
    for e in a.edges:
        assert edge_detail(st, e["id"])["count"] == e["count"], e["id"]


# Not supported (left alone): Solid Queue's scheduler publishes recurring jobs from the
# service that runs them: the map's cycle shop-jobs -> topic -> shop-jobs is reported,
# though no delivery published anything (cycles are found on the map, not along messages).


# ------------------------------------------------------------------ PHP: Laravel queues
# Read from open-telemetry/opentelemetry-php-contrib, src/Instrumentation/Laravel/src/Hooks/
# Illuminate/Contracts/Queue/Queue.php (hooks on the Queue contract: bulk -> PRODUCER
# "send <getQueue()>" with messaging.batch.message_count and the connection's system
# attributes; later -> PRODUCER "create <getQueue()>" with only code.* and
# messaging.message.delivery_timestamp; pushRaw -> PRODUCER "create <destination>" with the
# payload's attributes), Hooks/Illuminate/Queue/Queue.php (createPayloadArray's post hook
# injects the CURRENT context into the job payload), Hooks/Illuminate/Queue/Worker.php
# (getNextJob -> CONSUMER "receive <destination>", a root ended when the job is fetched;
# process -> CONSUMER "process <destination>" whose parent is the payload's context, or, for
# a job implementing Contracts\Queue\TracingLinked, a root linking it, or for TracingIsolated
# a root without link; its post hook adds messaging.message.deleted / released),
# Hooks/Illuminate/Queue/AttributesBuilder.php (messaging.message.id = the payload's uuid,
# envelope size, job_name, attempts), ContextualAttributesBuilders/RedisQueueAttributes.php
# (messaging.system redis, messaging.destination.name = RedisQueue::getQueue()), and
# tests/Integration/Queue/{QueueTest,WorkerTest}.php ("send queues:default" with system
# redis, "create <queue>", "process (anonymous)", the linked and isolated jobs). From
# laravel/framework src/Illuminate/Queue/RedisQueue.php: getQueue($q) is 'queues:' . ($q ?:
# default); push() builds the payload BEFORE calling pushRaw (so the job carries the caller's
# context, not the create span's); later() builds it inside the hooked later(); bulk() pushes
# each job inside the hooked bulk(). From laravel/horizon src/RedisQueue.php: Horizon's
# pushRaw() calls parent::pushRaw(), and the extension (opentelemetry-php-instrumentation,
# otel_observer.c find_class_observers) hooks every method of a class implementing the
# contract: two nested create spans per pushed job. The worker loop is Illuminate's Worker.

_REDIS = {"messaging.system": "redis", "messaging.destination.name": "queues:default"}
_HORIZON = "Laravel\\Horizon\\RedisQueue"
_ILLUMINATE = "Illuminate\\Queue\\RedisQueue"


def _uuid(i: int, k: int = 0) -> str:
    return f"9a3f6c2e-1d4b-4e8a-b0c7-{k:04x}{i:08x}"


def _job(uuid: str, job: str, size: int) -> dict[str, Any]:
    """AttributesBuilder::buildMessageAttributes of a payload on the Redis connection."""
    return {**_REDIS, "messaging.message.id": uuid, "messaging.message.envelope.size": size,
            "messaging.message.job_name": job, "messaging.message.attempts": 0}


def _mysql(b: SpanSet, service: str, parent: SpanRef, t: float, dur: float = 3) -> SpanRef:
    return b.span(service, "sql SELECT", kind="CLIENT", parent=parent, start_ms=t,
                  dur_ms=dur, attrs={"db.system": "mysql", "db.name": "shop",
                                     "db.query.text": "select * from `orders` where `id` = ?",
                                     "server.address": "mysql"})


def _request(b: SpanSet, t: float, dur: float = 40) -> SpanRef:
    return b.span("shop", "POST /orders", kind="SERVER", start_ms=t, dur_ms=dur,
                  attrs={"http.request.method": "POST", "http.route": "orders"})


def _worker(b: SpanSet, t: float, uuid: str, job: str, size: int, *,
            parent: SpanRef | None = None, links: list[SpanRef] = (),
            dur: float = 15) -> SpanRef:
    """Worker::getNextJob's root "receive" (ended once the job is popped), then
    Worker::process's "process" with the job's query inside."""
    b.span("shop-worker", "receive queues:default", kind="CONSUMER", start_ms=t, dur_ms=1.5,
           attrs=_job(uuid, job, size))
    proc = b.span("shop-worker", "process queues:default", kind="CONSUMER", parent=parent,
                  start_ms=t + 2, dur_ms=dur, links=links,
                  attrs={**_job(uuid, job, size), "messaging.message.deleted": True,
                         "messaging.message.released": False})
    _mysql(b, "shop-worker", proc, t + 4)
    return proc


def test_laravel_horizon_push_is_two_nested_creates_of_one_job():
    """SendInvoice::dispatch() on a Horizon connection: Horizon's RedisQueue::pushRaw and,
    through parent::pushRaw, Illuminate's: two nested "create queues:default" PRODUCERs of
    the same job uuid (the inner one sees the payload Horizon enlarged with its type, tags
    and pushedAt). The payload was built before either, so the worker's "process
    queues:default" is a child of the request itself. One job, one publish, one delivery;
    the flow also holds the worker's receive, a root trace of its own naming the uuid."""
    b = SpanSet()
    job = "App\\Jobs\\SendInvoice"
    for i in range(N):
        t = i * 1000
        root = _request(b, t)
        uuid = _uuid(i)
        outer = b.span("shop", "create queues:default", kind="PRODUCER", parent=root,
                       start_ms=t + 10, dur_ms=3, attrs=_job(uuid, job, 1214))
        b.span("shop", "create queues:default", kind="PRODUCER", parent=outer,
               start_ms=t + 10.4, dur_ms=1.8, attrs=_job(uuid, job, 1371))
        _worker(b, t + 120, uuid, job, 1371, parent=root)
    a = analysed(b.store(), {
        "service:shop->topic:queues:default": ("publish", N),
        "topic:queues:default->service:shop-worker": ("consume", N),
        "service:shop-worker->external:mysql": ("call", N),
    }, "topic:queues:default->service:shop-worker", p50_ms=15)
    assert a.edge("topic:queues:default->service:shop-worker")["message_count"] == N
    assert systems_of(a) == {"topic:queues:default": "redis"}
    assert flows_of(a) == [("shop", N, 2.0)]


# Not supported (left alone): Laravel's later() create span names no system, destination or
# id; its job's receive span joins no producer and counts as a second delivery.


# Not supported (left alone): Laravel's bulk() send around a create per job, each job a
# child of the send: the send counts as a publish once a job joins it.


# Not supported (left alone): a TracingLinked Laravel job links the dispatching request
# span, not its create span: it is joined by its uuid, as lost context.


def test_laravel_tracing_isolated_job_is_found_by_its_uuid_only():
    """A job implementing TracingIsolated: a root "process queues:default" with neither
    parent nor link (WorkerTest::test_isolated_job_starts_completely_new_trace); the
    payload's uuid on both sides is all that joins it to its create span."""
    b = SpanSet()
    job = "App\\Jobs\\PurgeCache"
    for i in range(N):
        t = i * 1000
        root = _request(b, t)
        uuid = _uuid(i, 4)
        b.span("shop", "create queues:default", kind="PRODUCER", parent=root,
               start_ms=t + 10, dur_ms=2, attrs=_job(uuid, job, 760))
        _worker(b, t + 90, uuid, job, 760)
    st = b.store()
    a = analyze(st)
    assert edges_of(a) == {
        "service:shop->topic:queues:default": ("publish", N),
        "topic:queues:default->service:shop-worker": ("consume", N),
        "service:shop-worker->external:mysql": ("call", N),
    }
    consume = a.edge("topic:queues:default->service:shop-worker")
    assert consume["joined_by"] == {"context": 0, "message_id": N, "none": 0, "outside": 0}
    assert consume["message_count"] == N
    kinds = {x["type"] for x in a.anomalies}
    assert "consumer_without_producer" not in kinds and "redelivery" not in kinds
    assert "published_never_consumed" not in kinds
    for e in a.edges:
        assert edge_detail(st, e["id"])["count"] == e["count"], e["id"]


# --------------------------------------------------------- PHP: Symfony Messenger (current)
# Read from open-telemetry/opentelemetry-php-contrib, src/Instrumentation/Symfony/src/
# MessengerInstrumentation.php (the version with OPERATION_TYPE_* constants, schema 1.30;
# older versions are in test_analyzer_elixir_php_py.py) and src/Propagation/
# EnvelopeContextPropagator.php. MessageBusInterface::dispatch -> PRODUCER "create <dest>"
# (dest: the bus class for a plain message; for an envelope its SentStamp alias or
# ReceivedStamp transport); SenderInterface::send -> PRODUCER "send <alias>", which injects
# the current context into a SerializerStamp; Worker::handleMessage -> CONSUMER "receive
# <transport>", which extracts that context and discards it (the extract's result is never
# used: the span's parent is the worker's current context); HandleMessageMiddleware::handle
# -> CONSUMER "process <transport>"; HandleMessageMiddleware::callHandler -> CONSUMER
# "process <handler class>::<message class>". All carry messaging.system 'symfony'; the
# stamps add messaging.message.id (TransportMessageIdStamp), messaging.symfony.bus
# (BusNameStamp), consumed_by_worker. From symfony/symfony src/Symfony/Component/Messenger:
# HandlerDescriptor wraps every handler in a \Closure and callHandler takes that closure
# (get_class: "Closure"); the Worker dispatches the received envelope, stamped
# ReceivedStamp + ConsumedByWorkerStamp, on the RoutableMessageBus, which dispatches it on
# the message's bus; hooks are on interfaces, so DoctrineTransport::send and the
# DoctrineSender::send it calls each get a span.

_MSG = "App\\Message\\OrderPlaced"
_MESSENGER = "Symfony\\Component\\Messenger\\"
_DOCTRINE = _MESSENGER + "Bridge\\Doctrine\\Transport\\"


def _sf(op: str, dest: str, ns: str, fn: str, **extra: Any) -> dict[str, Any]:
    return {"code.function.name": fn, "code.namespace": ns,
            "code.filepath": "/app/vendor/symfony/messenger/x.php", "code.line.number": 60,
            "messaging.system": "symfony", "messaging.operation.type": op,
            "messaging.destination.name": dest, "messaging.message": _MSG, **extra}


def _stamps(*counts: tuple[str, int]) -> str:
    """messaging.symfony.stamps: json_encode of each stamp class's count."""
    return "{" + ",".join(f'"Symfony\\\\Component\\\\Messenger\\\\Stamp\\\\{c}":{n}'
                          for c, n in counts) + "}"


# Not supported (left alone): the current Symfony Messenger instrumentation drops the
# extracted context; a worker re-dispatching the received envelope reads as a publish, and
# the Closure-wrapped handler's name as a destination.

