"""Span shapes of more messaging frameworks, each read from the library's own source:
KafkaFlow's OpenTelemetry package (.NET) and taskiq's OpenTelemetry middleware (Python, in
taskiq itself and in opentelemetry-python-contrib). Each test builds exactly the spans the
library exports for a small scenario, three times, and checks what the analyzer makes of
them."""

from __future__ import annotations

from typing import Any

from analyzer import edge_detail
from tests.analysis_checks import analysed as _analysed
from tests.analysis_checks import analysed_each, systems_of
from tests.builders import SpanRef, SpanSet

N = 3


def _query(b: SpanSet, service: str, parent: SpanRef, t: float, dur: float = 3.0) -> SpanRef:
    """A database call made by a handler (any instrumentation's CLIENT span)."""
    return b.span(service, "INSERT billing.invoices", kind="CLIENT", parent=parent,
                  start_ms=t, dur_ms=dur,
                  attrs={"db.system": "postgresql", "db.name": "billing",
                         "server.address": "postgres", "server.port": 5432})


# ------------------------------------------------------------------------------- KafkaFlow
# Farfetch/kafkaflow, src/KafkaFlow.OpenTelemetry: an ActivitySource named after the
# assembly ("KafkaFlow.OpenTelemetry", KafkaFlowInstrumentation.cs). The handlers subscribe
# to KafkaFlow's global events (ExtensionMethods.cs): MessageProduceStarted starts a
# PRODUCER activity "<topic> publish" (the current activity its parent) and injects its
# context into the message headers; MessageProduceCompleted (after the delivery report)
# ends it. On the consumer, ConsumerWorker.ProcessMessageAsync fires MessageConsumeStarted
# before running the middlewares: OnConsumeStarted extracts the headers' context and starts
# a CONSUMER activity "<topic> process" whose PARENT is that context (no link); it ends when
# the message's ConsumerContext completes (OpenTelemetryConsumerEventsHandler.cs, PR #460
# "Closing the Consumer span when the Complete() method is invoked"). Event.FireAsync calls
# the handlers synchronously (fix of issue #468), so the consumer activity is current while
# the middlewares and the handler run: the handler's own spans are its children.

_BROKERS = "kafka-1:9092,kafka-2:9092"


def _kafkaflow_3(b: SpanSet, t: float, i: int, *, system_key: str) -> None:
    """KafkaFlow 3.x: OpenTelemetryProducerEventsHandler.SetProducerTags sets
    messaging.operation=publish, messaging.destination.name, messaging.kafka.message.key
    (the partition and offset tags are set at start, while still null: absent);
    OpenTelemetryConsumerEventsHandler.SetConsumerTags the 1.17-1.20 names:
    messaging.operation=process, messaging.source.name, messaging.kafka.consumer.group,
    messaging.kafka.message.key, messaging.kafka.message.offset and
    messaging.kafka.source.partition. ActivitySourceAccessor.SetGenericTags adds the
    system and peer.service, the bootstrap servers joined by commas (PR #460); one 3.x
    version wrote the system under the wrong key, "message.type" (``system_key``)."""
    generic = {system_key: "kafka", "peer.service": _BROKERS}
    root = b.span("orders", "POST /orders", kind="SERVER", start_ms=t, dur_ms=25,
                  attrs={"http.request.method": "POST", "http.route": "/orders"})
    pub = b.span("orders", "orders publish", kind="PRODUCER", parent=root, start_ms=t + 4,
                 dur_ms=6, attrs={**generic, "messaging.operation": "publish",
                                  "messaging.destination.name": "orders",
                                  "messaging.kafka.message.key": f"order-{i}"})
    proc = b.span("billing", "orders process", kind="CONSUMER", parent=pub, start_ms=t + 30,
                  dur_ms=12, attrs={**generic, "messaging.operation": "process",
                                    "messaging.source.name": "orders",
                                    "messaging.kafka.consumer.group": "billing",
                                    "messaging.kafka.message.key": f"order-{i}",
                                    "messaging.kafka.message.offset": 1200 + i,
                                    "messaging.kafka.source.partition": i % 2})
    _query(b, "billing", proc, t + 33)


def test_kafkaflow_3_consumer_is_child_of_the_publish_and_brokers_are_no_service():
    """KafkaFlow 3.x (Farfetch/kafkaflow, src/KafkaFlow.OpenTelemetry/
    OpenTelemetryProducerEventsHandler.cs, OpenTelemetryConsumerEventsHandler.cs,
    ActivitySourceAccessor.cs): "orders publish" PRODUCER, "orders process" CONSUMER as
    its child, the consumer naming its topic messaging.source.name. Both spans carry
    peer.service set to the bootstrap servers: that is the broker, not a service the
    producer or consumer called."""
    b = SpanSet()
    for i in range(N):
        _kafkaflow_3(b, i * 100, i, system_key="messaging.system")
    a = _analysed(b.store(), {
        "service:orders->topic:orders": ("publish", N),
        "topic:orders->service:billing": ("consume", N),
        "service:billing->external:postgresql": ("call", N),
    }, "topic:orders->service:billing", p50_ms=12)
    assert systems_of(a) == {"topic:orders": "kafka"}
    assert a.edge("topic:orders->service:billing")["queue_p50_ms"] == 20
    assert sum(f["count"] for f in a.flows) == N and len(a.flows) == 1


def test_kafkaflow_3_message_type_tag_instead_of_the_system():
    """A KafkaFlow 3.x release set its system tag under "message.type" (SetGenericTags:
    activity?.SetTag("message.type", MessagingSystemId), Farfetch/kafkaflow,
    src/KafkaFlow.OpenTelemetry/ActivitySourceAccessor.cs): no messaging.system at all.
    The kinds, the topic and the messaging.kafka.* tags still make it a Kafka delivery."""
    b = SpanSet()
    for i in range(N):
        _kafkaflow_3(b, i * 100, i, system_key="message.type")
    a = _analysed(b.store(), {
        "service:orders->topic:orders": ("publish", N),
        "topic:orders->service:billing": ("consume", N),
        "service:billing->external:postgresql": ("call", N),
    }, "topic:orders->service:billing", p50_ms=12)
    assert systems_of(a) == {"topic:orders": "kafka"}


_KF4 = {"messaging.system": "kafka"}


def _kafkaflow_4_publish(b: SpanSet, parent: SpanRef, t: float, key: str) -> SpanRef:
    """KafkaFlow 4.x OpenTelemetryProducerEventsHandler.SetProducerTags (AttributeKeys.cs):
    messaging.operation.type=send, messaging.operation.name=publish,
    messaging.destination.name, messaging.kafka.message.key; partition and offset only
    when known (not yet at start); SetGenericTags: messaging.system=kafka."""
    return b.span("orders", "orders publish", kind="PRODUCER", parent=parent, start_ms=t,
                  dur_ms=5, attrs={**_KF4, "messaging.operation.type": "send",
                                   "messaging.operation.name": "publish",
                                   "messaging.destination.name": "orders",
                                   "messaging.kafka.message.key": key})


def _kafkaflow_4_process(b: SpanSet, parent: SpanRef, t: float, dur: float, i: int,
                         key: str) -> SpanRef:
    """KafkaFlow 4.x OpenTelemetryConsumerEventsHandler.SetConsumerTags: the current
    names (operation type and name process, destination name and partition id, consumer
    group name, client id = the consumer's name, messaging.kafka.offset, the key, the raw
    body's size: the value is still bytes when MessageConsumeStarted fires)."""
    return b.span("billing", "orders process", kind="CONSUMER", parent=parent, start_ms=t,
                  dur_ms=dur, attrs={**_KF4, "messaging.operation.type": "process",
                                     "messaging.operation.name": "process",
                                     "messaging.destination.name": "orders",
                                     "messaging.destination.partition.id": str(i % 3),
                                     "messaging.consumer.group.name": "billing",
                                     "messaging.client.id": "billing-orders",
                                     "messaging.kafka.offset": 5000 + i,
                                     "messaging.kafka.message.key": key,
                                     "messaging.message.body.size": 412})


def test_kafkaflow_4_current_conventions():
    """KafkaFlow 4.x (Farfetch/kafkaflow, src/KafkaFlow.OpenTelemetry/AttributeKeys.cs and
    the two events handlers): the same parent-child pair under the current attribute
    names, the publish's operation type send and name publish."""
    b = SpanSet()
    for i in range(N):
        t = i * 100
        root = b.span("orders", "POST /orders", kind="SERVER", start_ms=t, dur_ms=20)
        pub = _kafkaflow_4_publish(b, root, t + 3, f"order-{i}")
        proc = _kafkaflow_4_process(b, pub, t + 15, 9, i, f"order-{i}")
        _query(b, "billing", proc, t + 17)
    a = _analysed(b.store(), {
        "service:orders->topic:orders": ("publish", N),
        "topic:orders->service:billing": ("consume", N),
        "service:billing->external:postgresql": ("call", N),
    }, "topic:orders->service:billing", p50_ms=9)
    assert systems_of(a) == {"topic:orders": "kafka"}
    assert a.edge("topic:orders->service:billing")["queue_p50_ms"] == 7


def test_kafkaflow_batch_consume_keeps_one_process_span_per_message():
    """KafkaFlow's batch consume middleware (Farfetch/kafkaflow,
    src/KafkaFlow/Batching/BatchConsumeMiddleware.cs) leaves every message its own
    "orders process" span (started by the worker as it takes the message, child of that
    message's publish) and turns AutoMessageCompletion off: the spans end together when the
    batch handler has run and DispatchAsync completes each message. The dispatch runs in a
    continuation scheduled by the batch's first message, so the handler's own spans are
    children of that first message's process span. Three messages a batch, from three
    requests: three deliveries each, not one."""
    b = SpanSet()
    for k in range(N):
        t = k * 1000
        pubs = []
        for j in range(3):
            root = b.span("orders", "POST /orders", kind="SERVER", start_ms=t + j * 10,
                          dur_ms=9)
            pubs.append(_kafkaflow_4_publish(b, root, t + j * 10 + 2, f"order-{k}-{j}"))
        end = t + 60.0
        procs = [_kafkaflow_4_process(b, pubs[j], t + 30 + j * 2, end - (t + 30 + j * 2),
                                      3 * k + j, f"order-{k}-{j}") for j in range(3)]
        _query(b, "billing", procs[0], t + 40, dur=15)  # the batch's bulk insert
    st = b.store()
    a = analysed_each(st, {
        "service:orders->topic:orders": ("publish", 3 * N),
        "topic:orders->service:billing": ("consume", 3 * N),
        "service:billing->external:postgresql": ("call", N),
    }, ["topic:orders->service:billing"])
    consume = a.edge("topic:orders->service:billing")
    assert consume["message_count"] == 3 * N
    assert consume["p50_ms"] == 28  # 30, 28 and 26 ms: each waited for the whole batch
    assert edge_detail(st, "topic:orders->service:billing")["count"] == 3 * N


# --------------------------------------------------------------------------------- taskiq
# taskiq-python/taskiq, taskiq/middlewares/opentelemetry_middleware.py
# (OpenTelemetryMiddleware; taskiq/instrumentation.py's TaskiqInstrumentor installs it), and
# its copy in open-telemetry/opentelemetry-python-contrib,
# instrumentation/opentelemetry-instrumentation-taskiq. pre_send starts a PRODUCER span
# "send/<task name>" (taskiq.action=send, messaging.message.id = the task id,
# taskiq.task_name, and "taskiq.<label>" for the labels _retries (unless 0), delay,
# max_retries, retry_on_error, timeout), makes it current, and injects the context into the
# message's labels; post_send ends it after broker.kick. pre_execute extracts the labels'
# context and starts a CONSUMER span "execute/<task name>" with it as PARENT; the
# attributes (taskiq.action=execute, taskiq.task_name, the labels) are set only when it
# ends. No messaging.system, no destination: a task queue the spans do not name.


def _taskiq_send(b: SpanSet, service: str, parent: SpanRef, t: float, task_id: str,
                 task: str, labels: dict[str, Any] | None = None) -> SpanRef:
    return b.span(service, f"send/{task}", kind="PRODUCER", parent=parent, start_ms=t,
                  dur_ms=1.5, attrs={"taskiq.action": "send",
                                     "messaging.message.id": task_id,
                                     "taskiq.task_name": task, **(labels or {})})


def _taskiq_execute(b: SpanSet, parent: SpanRef, t: float, dur: float, task: str,
                    labels: dict[str, Any] | None = None, status: str = "UNSET",
                    extra: dict[str, Any] | None = None) -> SpanRef:
    return b.span("worker", f"execute/{task}", kind="CONSUMER", parent=parent, start_ms=t,
                  dur_ms=dur, status=status,
                  attrs={"taskiq.action": "execute", "taskiq.task_name": task,
                         **(labels or {}), **(extra or {})})


def test_taskiq_middleware_send_and_execute_through_an_unnamed_queue():
    """taskiq's own OpenTelemetryMiddleware (taskiq-python/taskiq,
    taskiq/middlewares/opentelemetry_middleware.py): the API kicks two tasks per request;
    each "execute/<task>" is a child of its "send/<task>" and ends in post_save, after the
    result backend stored the result (a redis SET under it, made by the redis
    instrumentation). The spans name no queue, but each its task (taskiq.task_name, also
    in the span's name): the task is the destination (system taskiq), joined by context."""
    b = SpanSet()
    tasks = ["app.tasks:send_confirmation", "app.tasks:reserve_stock"]
    for i in range(N):
        t = i * 100
        root = b.span("api", "POST /orders", kind="SERVER", start_ms=t, dur_ms=20)
        for j, task in enumerate(tasks):
            send = _taskiq_send(b, "api", root, t + 5 + j * 3, f"{i:08x}-{j}", task,
                                {"taskiq.timeout": "30"})
            # (an async worker: both tasks run at once, each 20 ms after its send ended)
            ex = _taskiq_execute(b, send, t + 26.5 + j * 3, 14, task,
                                 {"taskiq.timeout": "30"})
            _query(b, "worker", ex, t + 27.5 + j * 3, dur=8)
            b.span("worker", "SET", kind="CLIENT", parent=ex, start_ms=t + 39 + j * 3,
                   dur_ms=1, attrs={"db.system": "redis", "db.statement": "SET ? ?",
                                    "net.peer.name": "redis", "net.peer.port": 6379})
    st = b.store()
    confirm, reserve = (f"topic:{t}" for t in tasks)
    a = _analysed(st, {
        f"service:api->{confirm}": ("publish", N),
        f"service:api->{reserve}": ("publish", N),
        f"{confirm}->service:worker": ("consume", N),
        f"{reserve}->service:worker": ("consume", N),
        "service:worker->external:postgresql": ("call", 2 * N),
        "service:worker->external:redis": ("call", 2 * N),
    }, f"{confirm}->service:worker", p50_ms=14)
    assert systems_of(a) == {confirm: "taskiq", reserve: "taskiq"}
    assert a.edge(f"{reserve}->service:worker")["queue_p50_ms"] == 20
    assert a.edge(f"{confirm}->service:worker")["queue_p50_ms"] == 20
    assert sum(f["count"] for f in a.flows) == N and len(a.flows) == 1


def test_taskiq_contrib_retry_is_sent_again_by_the_worker():
    """opentelemetry-instrumentation-taskiq (open-telemetry/opentelemetry-python-contrib,
    instrumentation/opentelemetry-instrumentation-taskiq/src/opentelemetry/instrumentation/
    taskiq/__init__.py) ends "execute/<task>" in post_execute. With taskiq's
    SimpleRetryMiddleware (taskiq/middlewares/simple_retry_middleware.py) and the label
    retry_on_error, a failing run is not marked an error (on_error only adds
    taskiq.retry.reason); the retry middleware kicks the task again, with the same task id
    and _retries=1, from inside the failed run: a "send/<task>" in the worker, child of
    that execute span, and the retry's execute is its child. Two deliveries of one
    message, the second sent by the worker."""
    b = SpanSet()
    task = "app.tasks:charge_card"
    first = {"taskiq.retry_on_error": "True", "taskiq.max_retries": "3"}
    again = {**first, "taskiq._retries": "1"}
    for i in range(N):
        t = i * 1000
        tid = f"{i:08x}-c0de"
        root = b.span("api", "POST /payments", kind="SERVER", start_ms=t, dur_ms=15)
        send = _taskiq_send(b, "api", root, t + 4, tid, task, first)
        ex1 = _taskiq_execute(b, send, t + 20, 30, task, first,
                              extra={"taskiq.retry.reason": "gateway timeout"})
        b.span("worker", "POST", kind="CLIENT", parent=ex1, start_ms=t + 21, dur_ms=25,
               status="ERROR", attrs={"http.request.method": "POST",
                                      "server.address": "payments.example.com",
                                      "http.response.status_code": 504})
        resend = _taskiq_send(b, "worker", ex1, t + 47, tid, task, again)
        ex2 = _taskiq_execute(b, resend, t + 60, 20, task, again)
        b.span("worker", "POST", kind="CLIENT", parent=ex2, start_ms=t + 61, dur_ms=15,
               attrs={"http.request.method": "POST", "server.address": "payments.example.com",
                      "http.response.status_code": 200})
    st = b.store()
    # (the worker feeding the queue it consumes from is a cycle of the map, as Celery's
    # retries are: the only thing to report)
    topic = f"topic:{task}"
    a = analysed_each(st, {
        f"service:api->{topic}": ("publish", N),
        f"service:worker->{topic}": ("publish", N),
        f"{topic}->service:worker": ("consume", 2 * N),
        "service:worker->external:payments.example.com": ("call", 2 * N),
    }, [f"{topic}->service:worker"],
        anomalies=[("cycle", f"service:worker -> {topic} -> service:worker", N)])
    consume = a.edge(f"{topic}->service:worker")
    assert consume["error_count"] == 0  # a run that will be retried is no failed delivery
    assert consume["p50_ms"] == 25 and consume["queue_p50_ms"] == 13
    (flow,) = a.flows
    assert flow["count"] == N and flow["traces_per_flow"] == 1.0
    # On the critical path, the retry's wait is told from the first delivery's queue time,
    # though the execute spans name no message id (their sends do).
    waits = {h["kind"]: h["p50_ms"] for h in flow["critical_path"]
             if h["hop"] == f"{topic}->service:worker"}
    assert waits == {"queue": 14.5, "retry": 11.5}
