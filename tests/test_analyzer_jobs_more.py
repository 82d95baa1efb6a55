"""Span shapes of Celery canvas workflows (chain, group, chord) under
opentelemetry-instrumentation-celery, and of Go's Watermill under its OpenTelemetry
decorators, each read from the library's source. Each test builds exactly the spans the
library exports for a small scenario and checks what the analyzer makes of them.

(Go's Asynq, hibiken/asynq, has no OpenTelemetry tracing: its x/ module holds metrics and a
rate limiter only, no contrib repository in the index instruments it, and its issues #321
and #787 leave tracing to the application, which since v0.26 can put a traceparent in
Task headers itself. No library shape to encode.)"""

from __future__ import annotations

from typing import Any

from analyzer import analyze, edge_detail, flow_for_trace
from tests.analysis_checks import analysed_each as _analysed_each
from tests.analysis_checks import edges_of as _edges
from tests.analysis_checks import systems_of as _systems
from tests.builders import SpanRef, SpanSet

N = 3


# ------------------------------------------------------------------------ Celery: canvas
# Read from open-telemetry/opentelemetry-python-contrib,
# instrumentation/opentelemetry-instrumentation-celery/src/opentelemetry/instrumentation/
# celery/{__init__,utils}.py (0.66b2, as installed here), and from celery 5.x canvas.py,
# app/trace.py, app/builtins.py (unlock_chord) and backends/base.py
# (fallback_chord_unlock, on_chord_part_return); the shapes were checked against spans the
# instrumentation exported for a real worker running each canvas (memory broker).
#
# before_task_publish starts a PRODUCER span "apply_async/<task>" (celery.action,
# messaging.message.id = the task id, celery.task_name, and from the signal's routing_key
# and declare messaging.destination = the queue's routing key and
# messaging.destination_kind = queue) and injects its context into the message headers;
# after_task_publish ends it. task_prerun starts a CONSUMER span "run/<task>" whose parent is
# the context extracted from the headers; task_postrun tags it (celery.state,
# messaging.message.id, messaging.conversation_id = the correlation id, which is the task's
# own id, messaging.destination from delivery_info) and ends it. No messaging.system.
# A chain sends only its first task; the worker's tracer sends the next one after the task
# returned, before task_postrun: inside the previous run span. A group sends each task
# from the caller. A chord whose result backend counts (Redis) has its callback sent by the
# header task that finished last (on_chord_part_return, inside that task's run span);
# any other backend (database, filesystem, ...) sends `celery.chord_unlock` to the
# callback's queue with a countdown, and that task polls: while the header is not ready
# it retries (Task.retry: a new "apply_async/celery.chord_unlock" inside its run span, same
# task id, eta = now + result_chord_retry_interval; the run span ends with
# celery.state = RETRY, status unset), and once ready it sends the callback.

_REPLY_TO = "5d796689-1c07-3063-bda5-ca8ffd08dc90"


def _task_id(i: int, k: int) -> str:
    return f"6f76d7f4-a384-483f-{k:04x}-{0x5005 + i:012x}"


def _apply_async(b: SpanSet, service: str, parent: SpanRef, t: float, task: str, queue: str,
                 task_id: str, dur: float = 0.3) -> SpanRef:
    return b.span(service, f"apply_async/{task}", kind="PRODUCER", parent=parent,
                  start_ms=t, dur_ms=dur,
                  attrs={"celery.action": "apply_async", "messaging.message.id": task_id,
                         "celery.task_name": task, "messaging.destination_kind": "queue",
                         "messaging.destination": queue})


def _run(b: SpanSet, service: str, publish: SpanRef, t: float, dur: float, task: str,
         queue: str, task_id: str, *, state: str = "SUCCESS", retries: int = 0,
         eta: str | None = None, links: bool = False) -> SpanRef:
    """The run span of the task ``publish`` sent: its child, or with use_span_links=True a
    new root linking to it."""
    a: dict[str, Any] = {
        "celery.action": "run", "celery.state": state,
        "messaging.conversation_id": task_id, "messaging.destination": queue,
        "celery.delivery_info": str({"exchange": "", "routing_key": queue, "priority": 0,
                                     "redelivered": False}),
        "messaging.message.id": task_id, "celery.reply_to": _REPLY_TO,
        "celery.hostname": f"celery@{service}-7f9c", "celery.task_name": task}
    if retries:
        a["celery.retries"] = retries
    if eta:
        a["celery.eta"] = eta
    if state == "RETRY":
        a["celery.retry.reason"] = "Retry in 1s"
    return b.span(service, f"run/{task}", kind="CONSUMER",
                  parent=None if links else publish, links=[publish] if links else (),
                  start_ms=t, dur_ms=dur, attrs=a)


def _chain(b: SpanSet, links: bool = False) -> None:
    """chain(fetch_invoice.s(id) | render_pdf.s() | email_pdf.s()).apply_async(), tasks
    routed to three queues worked by three services."""
    hops = [("tasks.fetch_invoice", "invoices", "invoice-worker", 30.0),
            ("tasks.render_pdf", "pdf", "pdf-worker", 120.0),
            ("tasks.email_pdf", "emails", "mailer", 45.0)]
    for i in range(N):
        t = i * 1000
        parent = b.span("api", "POST /invoices/{id}/send", kind="SERVER", start_ms=t,
                        dur_ms=9)
        publisher, t_pub = "api", t + 6
        for k, (task, queue, worker, work) in enumerate(hops):
            tid = _task_id(i, k)
            pub = _apply_async(b, publisher, parent, t_pub, task, queue, tid)
            run = _run(b, worker, pub, t_pub + 3.3, work, task, queue, tid, links=links)
            # the next task is sent after this one returned, inside its run span
            publisher, parent, t_pub = worker, run, t_pub + 3.3 + work - 0.6


_CHAIN_EDGES = {
    "service:api->topic:invoices": ("publish", N),
    "topic:invoices->service:invoice-worker": ("consume", N),
    "service:invoice-worker->topic:pdf": ("publish", N),
    "topic:pdf->service:pdf-worker": ("consume", N),
    "service:pdf-worker->topic:emails": ("publish", N),
    "topic:emails->service:mailer": ("consume", N),
}
_CHAIN_DELIVERIES = ["topic:invoices->service:invoice-worker", "topic:pdf->service:pdf-worker",
                     "topic:emails->service:mailer"]


def test_celery_chain_sends_each_task_from_the_previous_run():
    """The web request sends the chain's first task; each worker sends the next one at the
    end of its run span. One trace, one flow per chain; each hop a delivery joined by its
    parent, with a few ms in the queue."""
    b = SpanSet()
    _chain(b)
    st = b.store()
    a = _analysed_each(st, _CHAIN_EDGES, _CHAIN_DELIVERIES)
    assert _systems(a) == {"topic:invoices": None, "topic:pdf": None, "topic:emails": None}
    assert a.edge("topic:pdf->service:pdf-worker")["p50_ms"] == 120.0
    assert a.edge("topic:pdf->service:pdf-worker")["queue_p50_ms"] == 3.0
    # (each message's conversation id is its own task id: no grouping by it)
    (flow,) = a.flows
    assert flow["count"] == N and flow["traces_per_flow"] == 1.0
    assert flow["entry_service"] == "api"
    one = flow_for_trace(st, flow["example_trace_ids"][0])
    assert {s["service_name"] for s in one["spans"]} == \
        {"api", "invoice-worker", "pdf-worker", "mailer"}


def test_celery_chain_with_span_links_is_one_flow_of_four_traces():
    """CeleryInstrumentor().instrument(use_span_links=True) (0.65b0+): each run span is a
    new root with a link to the publish (no parent, the context is not attached), and the
    next task's publish is its child, in its trace. The same chain is four traces, still one
    flow per chain, each hop joined by its link."""
    b = SpanSet()
    _chain(b, links=True)
    st = b.store()
    a = _analysed_each(st, _CHAIN_EDGES, _CHAIN_DELIVERIES)
    assert a.edge("topic:pdf->service:pdf-worker")["queue_p50_ms"] == 3.0
    (flow,) = a.flows
    assert flow["count"] == N and flow["traces_per_flow"] == 4.0
    assert flow["entry_service"] == "api"


def test_celery_group_fans_out_from_the_request():
    """group(fetch_rates.s(src) for src in 3 sources).apply_async() from a web request:
    three "apply_async/tasks.fetch_rates" under the request, each with its own task id, run
    in parallel by the worker's pool. Three deliveries per group, one flow per group."""
    b = SpanSet()
    for i in range(N):
        t = i * 1000
        root = b.span("api", "POST /rates/refresh", kind="SERVER", start_ms=t, dur_ms=8)
        for k in range(3):
            tid = _task_id(i, k)
            pub = _apply_async(b, "api", root, t + 5 + 0.4 * k, "tasks.fetch_rates",
                               "celery", tid, dur=0.2)
            _run(b, "rates-worker", pub, t + 7 + 0.4 * k, 150.0 + 100 * k,
                 "tasks.fetch_rates", "celery", tid)
    st = b.store()
    a = _analysed_each(st, {
        "service:api->topic:celery": ("publish", 3 * N),
        "topic:celery->service:rates-worker": ("consume", 3 * N),
    }, ["topic:celery->service:rates-worker"])
    assert a.edge("topic:celery->service:rates-worker")["p50_ms"] == 250.0
    (flow,) = a.flows
    assert flow["count"] == N and flow["traces_per_flow"] == 1.0


def test_celery_chord_callback_sent_by_the_last_header_task():
    """chord(fetch_rates.s(src) for 3 sources)(total.s()) with a Redis result backend: the
    request sends the three header tasks only; the header task that finishes last sends the
    callback (routed to its own queue) from inside its run span. One flow per chord."""
    b = SpanSet()
    for i in range(N):
        t = i * 2000
        root = b.span("api", "POST /rates/report", kind="SERVER", start_ms=t, dur_ms=8)
        runs = []
        for k in range(3):
            tid = _task_id(i, k)
            pub = _apply_async(b, "api", root, t + 5 + 0.4 * k, "tasks.fetch_rates",
                               "celery", tid, dur=0.2)
            runs.append(_run(b, "rates-worker", pub, t + 7 + 0.4 * k, 400.0 + 500 * k,
                             "tasks.fetch_rates", "celery", tid))
        # the last to finish (started t + 7.8, 1400 ms) counted the chord full
        body = _task_id(i, 9)
        pub = _apply_async(b, "rates-worker", runs[2], t + 1405.9, "tasks.total", "reports",
                           body, dur=0.4)
        _run(b, "reporter", pub, t + 1409, 12.0, "tasks.total", "reports", body)
    st = b.store()
    a = _analysed_each(st, {
        "service:api->topic:celery": ("publish", 3 * N),
        "topic:celery->service:rates-worker": ("consume", 3 * N),
        "service:rates-worker->topic:reports": ("publish", N),
        "topic:reports->service:reporter": ("consume", N),
    }, ["topic:celery->service:rates-worker", "topic:reports->service:reporter"])
    (flow,) = a.flows
    assert flow["count"] == N and flow["traces_per_flow"] == 1.0
    assert a.edge("topic:reports->service:reporter")["queue_p50_ms"] == 2.7


def test_celery_chord_unlock_polling_is_no_redelivery():
    """The same chord with a result backend that does not count (database, filesystem):
    the request also sends "apply_async/celery.chord_unlock" (countdown 1 s) to the
    callback's queue. The reporter runs it at once the countdown passed; the header is not
    ready, so it retries twice (each retry a new publish of the same task id inside the run
    span, run again a second later: celery.state RETRY, celery.retries 1, 2), and the third
    run sends tasks.total. Each run is a delivery of its own publish, joined by its parent:
    polling, not a message delivered again, and no error. The reporter feeding its own queue
    is a cycle of the map (Celery's poll loop), the only thing to report."""
    b = SpanSet()
    for i in range(N):
        t = i * 5000
        root = b.span("api", "POST /rates/report", kind="SERVER", start_ms=t, dur_ms=8)
        unlock = _task_id(i, 8)
        pub = _apply_async(b, "api", root, t + 5, "celery.chord_unlock", "reports", unlock)
        for k in range(3):
            tid = _task_id(i, k)
            hp = _apply_async(b, "api", root, t + 5.6 + 0.4 * k, "tasks.fetch_rates",
                              "celery", tid, dur=0.2)
            _run(b, "rates-worker", hp, t + 7.6 + 0.4 * k, 400.0 + 800 * k,
                 "tasks.fetch_rates", "celery", tid)
        for r in range(3):
            t_run = t + 1006 + r * 1003
            run = _run(b, "reporter", pub, t_run, 4.0 if r < 2 else 1.5,
                       "celery.chord_unlock", "reports", unlock,
                       state="RETRY" if r < 2 else "SUCCESS", retries=r,
                       eta="2025-11-30T14:48:56.444761+00:00")
            if r < 2:
                pub = _apply_async(b, "reporter", run, t_run + 2.5, "celery.chord_unlock",
                                   "reports", unlock)
        body = _task_id(i, 9)
        bp = _apply_async(b, "reporter", run, t_run + 0.8, "tasks.total", "reports", body,
                          dur=0.4)
        _run(b, "reporter", bp, t_run + 3.5, 12.0, "tasks.total", "reports", body)
    st = b.store()
    a = _analysed_each(st, {
        "service:api->topic:celery": ("publish", 3 * N),
        "service:api->topic:reports": ("publish", N),
        "topic:celery->service:rates-worker": ("consume", 3 * N),
        # 3 chord_unlock runs and tasks.total per chord; 2 retries and tasks.total sent
        "topic:reports->service:reporter": ("consume", 4 * N),
        "service:reporter->topic:reports": ("publish", 3 * N),
    }, ["topic:celery->service:rates-worker", "topic:reports->service:reporter"],
        anomalies=[("cycle", "service:reporter -> topic:reports -> service:reporter",
                    3 * N)])
    assert a.edge("topic:reports->service:reporter")["error_count"] == 0
    (flow,) = a.flows
    assert flow["count"] == N and flow["traces_per_flow"] == 1.0 and flow["error_rate"] == 0


# ------------------------------------------------------------------------- Go: Watermill
# Watermill itself (ThreeDotsLabs/watermill) only has OpenTelemetry *metrics*
# (components/metrics/opentelemetry_*.go); its tracing comes from
# voi-oss/watermill-opentelemetry (read: pkg/opentelemetry/{publishers,subscribers,
# options}.go and the root-package copies), used as the router middleware and a publisher
# decorator, and from two ways of carrying the context it does not carry itself:
# dentech-floss/watermill-opentelemetry-go-extra (pkg/opentelemetry/{publishers,
# subscribers}.go, README.md) and the forks nkonev/watermill-opentelemetry and
# Gungniir/watermill-opentelemetry (pkg/opentelemetry/{publishers,subscribers}.go).
# Read with ThreeDotsLabs/watermill message/router.go (handler and publisher names in the
# message context).
#
# voi-oss: PublisherDecorator.Publish starts one PRODUCER span named after the publisher
# (message.PublisherNameFromCtx, else the name given to NewNamedPublisherDecorator, else the
# publisher's Go type, "kafka.Publisher") from the first message's context, with
# messaging.destination_kind = topic, messaging.destination = the topic and
# messaging.operation = process (semconv 1.4/1.10 names; no messaging.system, no message
# id), sets it as the first message's context and injects nothing into the message.
# Trace(): a CONSUMER span named after the router handler (HandlerNameFromCtx) whose parent
# is whatever the message's context holds, with messaging.destination = the subscribed
# topic and messaging.operation = receive, ended when the handler returns.

_WM_PUB = {"messaging.destination_kind": "topic", "messaging.operation": "process"}
_WM_SUB = {"messaging.destination_kind": "topic", "messaging.operation": "receive"}


def _wm_publish(b: SpanSet, service: str, name: str, parent: SpanRef | None, t: float,
                topic: str, extra: dict[str, Any] | None = None) -> SpanRef:
    return b.span(service, name, kind="PRODUCER", parent=parent, start_ms=t, dur_ms=2.5,
                  attrs={**_WM_PUB, "messaging.destination": topic, **(extra or {})})


def _wm_handle(b: SpanSet, service: str, name: str, parent: SpanRef | None, t: float,
               dur: float, topic: str, *, links: list[SpanRef] = (),
               extra: dict[str, Any] | None = None) -> SpanRef:
    return b.span(service, name, kind="CONSUMER", parent=parent, start_ms=t, dur_ms=dur,
                  links=links,
                  attrs={**_WM_SUB, "messaging.destination": topic, **(extra or {})})


def test_watermill_opentelemetry_alone_carries_no_context():
    """voi-oss/watermill-opentelemetry alone: the message crosses Kafka without any trace
    context (the decorator only sets it on the in-process message), so the handler span is
    the root of a new trace and nothing (no id either) ties it to the publish. The topic is
    still a node between the services; every delivery lost its context, which the analysis
    reports."""
    b = SpanSet()
    for i in range(N):
        t = i * 100
        root = b.span("orders", "POST /orders", kind="SERVER", start_ms=t, dur_ms=12)
        _wm_publish(b, "orders", "kafka.Publisher", root, t + 4, "orders.placed")
        _wm_handle(b, "billing", "OnOrderPlaced", None, t + 30, 15.0, "orders.placed")
    st = b.store()
    a = analyze(st)
    assert _edges(a) == {"service:orders->topic:orders.placed": ("publish", N),
                         "topic:orders.placed->service:billing": ("consume", N)}
    consume = a.edge("topic:orders.placed->service:billing")
    assert consume["joined_by"] == {"context": 0, "message_id": 0, "none": N, "outside": 0}
    broken = [x for x in a.anomalies if x["type"] == "broken_context"]
    assert [(x["where"], x["count"], x["stitched"]) for x in broken] == [
        ("topic:orders.placed->service:billing", N, 0)]
    assert {x["type"] for x in a.anomalies} <= {"broken_context", "published_never_consumed"}
    # the unjoined publishes are not called messages to a topic nobody consumes
    assert all(x["topic_has_consumers"] for x in a.anomalies
               if x["type"] == "published_never_consumed")
    assert edge_detail(st, "topic:orders.placed->service:billing")["count"] == N


def test_watermill_opentelemetry_with_propagated_ids_handler_is_child_of_publish():
    """voi-oss's decorator around dentech-floss's TracePropagatingPublisherDecorator
    (metadata trace_id and span_id of the publish span) and, on the router,
    ExtractRemoteParentSpanContext before Trace(): the handler span is a child of the
    publish span, in the publishing trace. The billing handler publishes an event through
    its EventBus with the message's context, so that publish is a child of the handler
    span; the mailer handles it. One trace and one flow per order."""
    b = SpanSet()
    for i in range(N):
        t = i * 200
        root = b.span("orders", "POST /orders", kind="SERVER", start_ms=t, dur_ms=15)
        pub = _wm_publish(b, "orders", "pubsub.Publish", root, t + 5, "orders.placed")
        handler = _wm_handle(b, "billing", "OnOrderPlaced", pub, t + 40, 25.0,
                             "orders.placed")
        pub2 = _wm_publish(b, "billing", "pubsub.Publish", handler, t + 58, "invoices.issued")
        _wm_handle(b, "mailer", "OnInvoiceIssued", pub2, t + 90, 10.0, "invoices.issued")
    st = b.store()
    a = _analysed_each(st, {
        "service:orders->topic:orders.placed": ("publish", N),
        "topic:orders.placed->service:billing": ("consume", N),
        "service:billing->topic:invoices.issued": ("publish", N),
        "topic:invoices.issued->service:mailer": ("consume", N),
    }, ["topic:orders.placed->service:billing", "topic:invoices.issued->service:mailer"])
    assert _systems(a) == {"topic:orders.placed": None, "topic:invoices.issued": None}
    assert a.edge("topic:orders.placed->service:billing")["p50_ms"] == 25.0
    assert a.edge("topic:orders.placed->service:billing")["queue_p50_ms"] == 32.5
    (flow,) = a.flows
    assert flow["count"] == N and flow["traces_per_flow"] == 1.0
    one = flow_for_trace(st, flow["example_trace_ids"][0])
    assert {s["service_name"] for s in one["spans"]} == {"orders", "billing", "mailer"}


def test_watermill_opentelemetry_fork_handler_is_a_new_root_linking_the_publish():
    """Gungniir/watermill-opentelemetry (pkg/opentelemetry at 6274f2b): a PRODUCER span per
    message named "<publisher>: <topic>" whose context is injected into the metadata (the
    global W3C propagator), and a CONSUMER span "<handler>: <topic>" started as a new root
    (WithNewRoot) with a link to the extracted context; both carry the CQRS event name
    (metadata "name") as message.type. Each delivery is in a trace of its own, joined to its
    publish by the link: one flow of two traces per order."""
    b = SpanSet()
    for i in range(N):
        t = i * 200
        root = b.span("orders", "POST /orders", kind="SERVER", start_ms=t, dur_ms=15)
        pub = _wm_publish(b, "orders", "kafka.Publisher: orders.placed", root, t + 5,
                          "orders.placed", {"message.type": "OrderPlaced"})
        _wm_handle(b, "billing", "OnOrderPlaced: orders.placed", None, t + 40, 25.0,
                   "orders.placed", links=[pub], extra={"message.type": "OrderPlaced"})
    st = b.store()
    a = _analysed_each(st, {
        "service:orders->topic:orders.placed": ("publish", N),
        "topic:orders.placed->service:billing": ("consume", N),
    }, ["topic:orders.placed->service:billing"])
    assert a.edge("topic:orders.placed->service:billing")["queue_p50_ms"] == 32.5
    (flow,) = a.flows
    assert flow["count"] == N and flow["traces_per_flow"] == 2.0


def test_watermill_router_publishes_a_handlers_output_after_its_span_ended():
    """A router handler that returns its output (AddHandler with a publish topic) instead of
    publishing it: the router publishes the returned messages after the handler (and so the
    Trace() span around it) returned. Their context is the one the handler gave them, here
    the handler message's (newMsg.SetContext(msg.Context())): the publish span is a child of
    the ended handler span, named after the handler's publisher (the router puts its type
    name, "googlecloud.Publisher", in the message context). Still one trace and one flow."""
    b = SpanSet()
    for i in range(N):
        t = i * 200
        root = b.span("orders", "POST /orders", kind="SERVER", start_ms=t, dur_ms=15)
        pub = _wm_publish(b, "orders", "pubsub.Publish", root, t + 5, "orders.placed")
        handler = _wm_handle(b, "billing", "billing.issue_invoice", pub, t + 40, 25.0,
                             "orders.placed")
        out = _wm_publish(b, "billing", "googlecloud.Publisher", handler, t + 65.2,
                          "invoices.issued")
        _wm_handle(b, "mailer", "OnInvoiceIssued", out, t + 95, 10.0, "invoices.issued")
    st = b.store()
    a = _analysed_each(st, {
        "service:orders->topic:orders.placed": ("publish", N),
        "topic:orders.placed->service:billing": ("consume", N),
        "service:billing->topic:invoices.issued": ("publish", N),
        "topic:invoices.issued->service:mailer": ("consume", N),
    }, ["topic:orders.placed->service:billing", "topic:invoices.issued->service:mailer"])
    assert a.edge("topic:invoices.issued->service:mailer")["queue_p50_ms"] == 27.3
    (flow,) = a.flows
    assert flow["count"] == N and flow["traces_per_flow"] == 1.0

