"""Span shapes of Python messaging and job libraries, round 2: pika under
opentelemetry-instrumentation-pika, Celery on a RabbitMQ and a Redis broker (retries,
countdown/ETA, broker redeliveries) under opentelemetry-instrumentation-celery, Dramatiq
under opentelemetry-instrumentor-dramatiq and RQ under opentelemetry-instrumentation-rq,
each read from the library's source. Each test builds exactly the spans the library exports
for a small scenario and checks what the analyzer makes of them.

(kombu has no OpenTelemetry instrumentation of its own: no such package is published, and
opentelemetry-python-contrib has none; Celery's spans are the ones its signals give, below.
pika's instrumentation does not wrap BlockingChannel.basic_get at all: a message fetched
that way has no consumer span, so there is no shape to encode.)"""

from __future__ import annotations

from typing import Any

from analyzer import analyze, edge_detail, flow_for_trace
from tests.analysis_checks import analysed_each as _analysed_each
from tests.analysis_checks import systems_of as _systems
from tests.builders import SpanRef, SpanSet

N = 3

_PG = {"db.system": "postgresql", "db.name": "shop", "net.peer.name": "postgres",
       "net.peer.port": 5432}


def _pg(b: SpanSet, service: str, parent: SpanRef | None, t: float, dur: float = 4.0,
        stmt: str = "INSERT INTO shop.invoices") -> SpanRef:
    return b.span(service, stmt, kind="CLIENT", parent=parent, start_ms=t, dur_ms=dur,
                  attrs={**_PG, "db.statement": stmt + " VALUES (%s, %s)"})


def _http(b: SpanSet, service: str, parent: SpanRef | None, t: float, dur: float, host: str,
          status: int = 200) -> SpanRef:
    return b.span(service, "POST", kind="CLIENT", parent=parent, start_ms=t, dur_ms=dur,
                  status="ERROR" if status >= 500 else "UNSET",
                  attrs={"http.method": "POST", "http.url": f"https://{host}/v1/send",
                         "net.peer.name": host, "http.status_code": status})


# --------------------------------------------------------------------------------- pika
# Read from open-telemetry/opentelemetry-python-contrib,
# instrumentation/opentelemetry-instrumentation-pika/src/opentelemetry/instrumentation/pika/
# {pika_instrumentor,utils}.py: 0.66b1 (pip download) and the earlier utils.py stored at
# e3353acaff095447b244bc078710a1a466a2ad73. Schema 1.11.0, legacy attribute names only.
#
# basic_publish is replaced per channel: a PRODUCER span "<exchange or routing key> send"
# (the exchange; the routing key when publishing to the default exchange ''), child of the
# current context, with messaging.system = rabbitmq, messaging.temp_destination = True (on
# every publish), messaging.destination, messaging.message.id (0.66b1; earlier releases
# messaging.message_id) = properties.message_id and messaging.conversation_id =
# properties.correlation_id when the application set them, net.peer.name/port. The context
# is injected into properties.headers, then publish_hook(span, body, properties) runs.
# A basic_consume callback is wrapped: a CONSUMER span "<exchange or routing key> receive"
# (method.exchange, else method.routing_key), whose PARENT is the context extracted from the
# headers (no link), messaging.operation = receive, the same attributes, open around
# consume_hook and the application's callback. The BlockingChannel.consume() generator is
# wrapped through _QueueConsumerGeneratorInfo.pending_events: the same CONSUMER span,
# without net.peer.*, started and ENDED in popleft (the handler runs after the generator
# yields), its context left attached so the handler's spans are its children.
# Until PR #4563 (May 2026) _enrich_span was given the task name instead of the destination:
# messaging.destination was "(temporary)" on every publish (or properties.type when set) and
# the consumer tag (pika's 'ctag<channel>.<uuid4 hex>', new for each consumer) on every
# consume span, while the span names already carried the exchange.

_RABBIT = {"messaging.system": "rabbitmq", "net.peer.name": "rabbitmq", "net.peer.port": 5672}


def _pika_publish(b: SpanSet, service: str, parent: SpanRef, t: float, dest: str,
                  message_id: str | None = None, correlation_id: str | None = None,
                  old: bool = False, hook: dict[str, Any] | None = None) -> SpanRef:
    a: dict[str, Any] = {**_RABBIT, "messaging.temp_destination": True,
                         "messaging.destination": "(temporary)" if old else dest}
    if message_id:
        a["messaging.message.id"] = message_id
    if correlation_id:
        a["messaging.conversation_id"] = correlation_id
    a.update(hook or {})
    return b.span(service, f"{dest} send", kind="PRODUCER", parent=parent, start_ms=t,
                  dur_ms=0.4, attrs=a)


def _pika_receive(b: SpanSet, service: str, publish: SpanRef, t: float, dur: float,
                  dest: str, message_id: str | None = None,
                  correlation_id: str | None = None, channel: bool = True,
                  consumer_tag: str | None = None, hook: dict[str, Any] | None = None
                  ) -> SpanRef:
    a: dict[str, Any] = {"messaging.system": "rabbitmq", "messaging.operation": "receive",
                         "messaging.destination": consumer_tag or dest}
    if channel:  # (the consume() generator's span is made without the channel)
        a.update({"net.peer.name": "rabbitmq", "net.peer.port": 5672})
    if message_id:
        a["messaging.message.id"] = message_id
    if correlation_id:
        a["messaging.conversation_id"] = correlation_id
    a.update(hook or {})
    return b.span(service, f"{dest} receive", kind="CONSUMER", parent=publish, start_ms=t,
                  dur_ms=dur, attrs=a)


def test_pika_topic_exchange_delivered_to_two_basic_consume_callbacks():
    """0.66b1. The orders API publishes OrderPlaced to the topic exchange "orders" (routing
    key order.placed, message_id and correlation_id set by the application; the README's
    publish_hook adds messaging.payload). Billing and shipping each bind a queue of their
    own and consume with basic_consume: each callback runs inside an "orders receive"
    CONSUMER span, child of the publish, naming the exchange (a delivery does not name the
    queue); the consume_hook adds messaging.id. One publish delivered to two services, one
    flow per order."""
    b = SpanSet()
    for i in range(N):
        t = i * 200
        mid, cid = f"5f0c7a2e-{i:04d}", f"req-{9100 + i}"
        root = b.span("orders-api", "POST /orders", kind="SERVER", start_ms=t, dur_ms=25)
        _pg(b, "orders-api", root, t + 1, 3, "INSERT INTO shop.orders")
        pub = _pika_publish(b, "orders-api", root, t + 6, "orders", mid, cid,
                            hook={"messaging.payload": f'{{"order": {4711 + i}}}'})
        bill = _pika_receive(b, "billing", pub, t + 9, 12, "orders", mid, cid,
                             hook={"messaging.id": mid})
        _pg(b, "billing", bill, t + 10, 8)
        ship = _pika_receive(b, "shipping", pub, t + 10, 30, "orders", mid, cid,
                             hook={"messaging.id": mid})
        _http(b, "shipping", ship, t + 12, 25, "api.carrier.example")
    st = b.store()
    a = _analysed_each(st, {
        "service:orders-api->external:postgresql": ("call", N),
        "service:orders-api->topic:orders": ("publish", N),
        "topic:orders->service:billing": ("consume", N),
        "topic:orders->service:shipping": ("consume", N),
        "service:billing->external:postgresql": ("call", N),
        "service:shipping->external:api.carrier.example": ("call", N),
    }, ["topic:orders->service:billing", "topic:orders->service:shipping"])
    assert _systems(a) == {"topic:orders": "rabbitmq"}
    assert a.edge("topic:orders->service:billing")["p50_ms"] == 12
    assert a.edge("topic:orders->service:shipping")["queue_p50_ms"] == 3.6
    (flow,) = a.flows
    assert flow["count"] == N and flow["traces_per_flow"] == 1.0
    assert flow["entry_service"] == "orders-api"


def test_pika_consume_generator_span_ends_before_its_handler_runs():
    """0.66b1, BlockingChannel.consume(): checkout publishes to the default exchange with
    routing key "invoice-requests" (no message id), so both spans name the queue. The
    invoicer iterates channel.consume("invoice-requests"): its "invoice-requests receive"
    span is started and ended inside popleft (50 us, no net.peer.*), and the handler's
    spans, made after the generator yielded, are its children although they start after it
    ended: the INSERT and the publish of InvoiceCreated to the fanout exchange "invoices",
    which the notifier consumes through basic_consume. Two hops of one flow; the instant
    receive span is a mark: the delivery lasts through the handler's work under it (the
    INSERT; the publish is a hop of its own)."""
    b = SpanSet()
    for i in range(N):
        t = i * 300
        root = b.span("checkout", "POST /checkout", kind="SERVER", start_ms=t, dur_ms=12)
        req = _pika_publish(b, "checkout", root, t + 8, "invoice-requests")
        recv = _pika_receive(b, "invoicer", req, t + 11, 0.05, "invoice-requests",
                             channel=False)
        _pg(b, "invoicer", recv, t + 11.2, 6)
        done = _pika_publish(b, "invoicer", recv, t + 17.5, "invoices",
                             message_id=f"inv-{20250 + i}")
        note = _pika_receive(b, "notifier", done, t + 20, 15, "invoices",
                             message_id=f"inv-{20250 + i}")
        _http(b, "notifier", note, t + 21, 12, "api.sendgrid.com")
    st = b.store()
    a = _analysed_each(st, {
        "service:checkout->topic:invoice-requests": ("publish", N),
        "topic:invoice-requests->service:invoicer": ("consume", N),
        "service:invoicer->external:postgresql": ("call", N),
        "service:invoicer->topic:invoices": ("publish", N),
        "topic:invoices->service:notifier": ("consume", N),
        "service:notifier->external:api.sendgrid.com": ("call", N),
    }, ["topic:invoice-requests->service:invoicer", "topic:invoices->service:notifier"])
    assert _systems(a) == {"topic:invoice-requests": "rabbitmq", "topic:invoices": "rabbitmq"}
    assert a.edge("topic:invoice-requests->service:invoicer")["p50_ms"] == 6.2
    assert a.edge("topic:invoice-requests->service:invoicer")["queue_p50_ms"] == 2.6
    (flow,) = a.flows
    assert flow["count"] == N and flow["traces_per_flow"] == 1.0
    one = flow_for_trace(st, flow["example_trace_ids"][0])
    assert {s["service_name"] for s in one["spans"]} == {"checkout", "invoicer", "notifier"}


# ------------------------------------------------------------- Celery: RabbitMQ and Redis
# Read from opentelemetry-instrumentation-celery 0.66b2 (as installed here:
# opentelemetry/instrumentation/celery/{__init__,utils}.py) and celery 5.7
# (app/amqp.py send_task_message, app/task.py retry, app/trace.py, worker/request.py) and
# kombu 5.7 transport/redis.py (_do_restore_message). The broker makes no difference to the
# spans: Celery fires the same signals whatever kombu transport carries the message.
#
# before_task_publish: PRODUCER "apply_async/<task>", child of the current span, with
# celery.action, messaging.message.id = the task id, celery.task_name, and from the
# signal's own arguments messaging.destination = the routing key (the queue's name for a
# direct queue: send_task_message turns a direct exchange into '' and the queue's name),
# celery.exchange when not '' and messaging.destination_kind = queue/topic from the
# declared queue's exchange type (none when the route names an exchange and no queue).
# task_prerun: CONSUMER "run/<task>" whose PARENT is the context in the message headers;
# task_postrun tags it (celery.state, celery.delivery_info, messaging.destination = the
# delivery's routing key, messaging.conversation_id = the correlation id = the task id,
# celery.eta, celery.retries when > 0, celery.hostname = the sender's origin) and ends it.
# task_retry only adds celery.retry.reason; task_failure (not sent for Retry or Reject) sets
# status ERROR. Task.retry() publishes the same task id again from inside the run span
# (retries + 1, eta = now + countdown); a worker holds an ETA message it reserved until it is
# due, so the run starts at the ETA. The Redis transport restores a message that was not
# acknowledged within visibility_timeout (1 h by default) with delivery_info.redelivered set;
# an ETA further away than that is reserved by a second worker too and runs twice.

_REPLY_TO = "0b6f3ad6-52b9-3a38-8d7e-02b1a54b9c1d"


def _task_id(i: int, k: int = 0) -> str:
    return f"d1c0ffee-7a1b-4c2d-{k:04x}-{0x1000 + i:012x}"


def _apply_async(b: SpanSet, service: str, parent: SpanRef, t: float, task: str, dest: str,
                 task_id: str, dur: float = 0.4, kind: str | None = "queue",
                 exchange: str | None = None) -> SpanRef:
    a: dict[str, Any] = {"celery.action": "apply_async", "messaging.message.id": task_id,
                         "celery.task_name": task, "messaging.destination": dest}
    if exchange:
        a["celery.exchange"] = exchange
    if kind:
        a["messaging.destination_kind"] = kind
    return b.span(service, f"apply_async/{task}", kind="PRODUCER", parent=parent,
                  start_ms=t, dur_ms=dur, attrs=a)


def _run(b: SpanSet, service: str, publish: SpanRef, t: float, dur: float, task: str,
         dest: str, task_id: str, *, state: str = "SUCCESS", retries: int = 0,
         eta: str | None = None, exchange: str = "", redelivered: bool = False,
         origin: str = "gen4242@api-6d5f", reason: str | None = None,
         status: str = "UNSET") -> SpanRef:
    a: dict[str, Any] = {
        "celery.action": "run", "celery.state": state,
        "messaging.conversation_id": task_id, "messaging.destination": dest,
        "celery.delivery_info": str({"exchange": exchange, "routing_key": dest,
                                     "priority": 0, "redelivered": redelivered}),
        "messaging.message.id": task_id, "celery.reply_to": _REPLY_TO,
        "celery.hostname": origin, "celery.task_name": task}
    if retries:
        a["celery.retries"] = retries
    if eta:
        a["celery.eta"] = eta
    if reason:
        a["celery.retry.reason"] = reason
    return b.span(service, f"run/{task}", kind="CONSUMER", parent=publish, start_ms=t,
                  dur_ms=dur, status=status, attrs=a)


def test_celery_self_retry_with_countdown_on_rabbitmq_is_sent_again_by_the_worker():
    """@app.task(bind=True, max_retries=3) def charge_card(self, ...): the gateway times
    out, the task calls self.retry(exc=exc, countdown=5). Inside the first run span (the
    payment call failed, status ERROR on the HTTP span only) Task.retry publishes
    "apply_async/tasks.charge_card" again with the same task id; the run ends with
    celery.state RETRY and the retry reason, status unset (task_failure is not sent for
    Retry). The worker reserves the retry at once and runs it at its ETA, 5 s later:
    celery.retries 1, celery.eta. Two deliveries, each of its own publish: no redelivery,
    no failed delivery; the worker feeding its own queue is the cycle Celery's retries
    make."""
    b = SpanSet()
    task, q = "tasks.charge_card", "payments"
    for i in range(N):
        t = i * 10_000
        tid = _task_id(i)
        root = b.span("shop-api", "POST /payments", kind="SERVER", start_ms=t, dur_ms=9)
        pub = _apply_async(b, "shop-api", root, t + 5, task, q, tid)
        run1 = _run(b, "payments-worker", pub, t + 8.4, 32, task, q, tid, state="RETRY",
                    reason="Retry in 5s: GatewayTimeout('upstream timed out')")
        _http(b, "payments-worker", run1, t + 9, 30, "api.stripe.com", status=504)
        again = _apply_async(b, "payments-worker", run1, t + 39.6, task, q, tid)
        run2 = _run(b, "payments-worker", again, t + 5040.5, 210, task, q, tid, retries=1,
                    eta="2026-03-02T10:15:05.040000+00:00", origin="gen17@payments-worker-5b8c")
        _http(b, "payments-worker", run2, t + 5041, 205, "api.stripe.com")
    st = b.store()
    a = _analysed_each(st, {
        "service:shop-api->topic:payments": ("publish", N),
        "service:payments-worker->topic:payments": ("publish", N),
        "topic:payments->service:payments-worker": ("consume", 2 * N),
        "service:payments-worker->external:api.stripe.com": ("call", 2 * N),
    }, ["topic:payments->service:payments-worker"],
        anomalies=[("cycle", ("service:payments-worker -> topic:payments -> "
                              "service:payments-worker"), N)])
    consume = a.edge("topic:payments->service:payments-worker")
    assert consume["error_count"] == 0
    (flow,) = a.flows
    assert flow["count"] == N and flow["traces_per_flow"] == 1.0
    assert flow["entry_service"] == "shop-api"
    # The 5 s countdown is the retry's, not a busy queue's: the first delivery waited
    # 3 ms in the queue, the retry 5 s.
    by_kind = {(h["hop"], h["kind"]): h for h in flow["critical_path"]}
    retry = by_kind[("topic:payments->service:payments-worker", "retry")]
    assert flow["bottleneck"]["kind"] == "retry" and retry["p50_ms"] == 5000.5
    assert by_kind[("topic:payments->service:payments-worker", "queue")]["p50_ms"] == 3.0


def test_celery_countdown_through_a_topic_exchange_waits_until_its_eta():
    """send_review_request.apply_async((order_id,), countdown=600) routed by task_routes to
    the topic exchange "notifications" with routing key "email.review" (no queue named, so
    no declared queue: no destination kind); the "emails" queue is bound with "email.#".
    Both spans name the routing key (the publish from the signal's routing_key, the run
    from delivery_info). The worker holds the reserved message until its ETA: ten minutes
    in the queue, and no anomaly for it."""
    b = SpanSet()
    task, rk = "tasks.send_review_request", "email.review"
    for i in range(N):
        t = i * 1000
        tid = _task_id(i, 1)
        root = b.span("orders-api", "POST /orders/{id}/deliver", kind="SERVER", start_ms=t,
                      dur_ms=11)
        pub = _apply_async(b, "orders-api", root, t + 6, task, rk, tid, kind=None,
                           exchange="notifications")
        run = _run(b, "mailer", pub, t + 600_007.9, 140, task, rk, tid,
                   exchange="notifications", eta="2026-03-02T10:25:00.006000+00:00")
        _http(b, "mailer", run, t + 600_009, 130, "api.sendgrid.com")
    st = b.store()
    a = _analysed_each(st, {
        "service:orders-api->topic:email.review": ("publish", N),
        "topic:email.review->service:mailer": ("consume", N),
        "service:mailer->external:api.sendgrid.com": ("call", N),
    }, ["topic:email.review->service:mailer"])
    consume = a.edge("topic:email.review->service:mailer")
    assert consume["queue_p50_ms"] == 600_001.5 and consume["p50_ms"] == 140
    (flow,) = a.flows
    assert flow["count"] == N and flow["traces_per_flow"] == 1.0


def test_celery_redis_eta_past_the_visibility_timeout_runs_twice():
    """Redis broker, send_reminder.apply_async(countdown=7200): worker A reserves the
    message at once and holds it unacknowledged; after visibility_timeout (3600 s) the
    Redis transport restores it to the queue (delivery_info.redelivered = True) and worker
    B reserves it too. Both run it at the ETA: two "run/tasks.send_reminder" spans, both
    children of the one publish, with the same task id. One message delivered twice to the
    same service: a redelivery (and the customer got two reminders)."""
    b = SpanSet()
    task, q = "tasks.send_reminder", "reminders"
    for i in range(N):
        t = i * 1000
        tid = _task_id(i, 2)
        root = b.span("booking-api", "POST /bookings", kind="SERVER", start_ms=t, dur_ms=14)
        pub = _apply_async(b, "booking-api", root, t + 9, task, q, tid)
        eta = "2026-03-02T12:10:00.009000+00:00"
        for k, late in enumerate((1.6, 2.9)):
            run = _run(b, "reminder-worker", pub, t + 7_200_009.4 + late, 60, task, q, tid,
                       eta=eta, redelivered=bool(k))
            _http(b, "reminder-worker", run, t + 7_200_011 + late, 50, "api.twilio.com")
    st = b.store()
    a = _analysed_each(st, {
        "service:booking-api->topic:reminders": ("publish", N),
        "topic:reminders->service:reminder-worker": ("consume", 2 * N),
        "service:reminder-worker->external:api.twilio.com": ("call", 2 * N),
    }, ["topic:reminders->service:reminder-worker"],
        anomalies=[("redelivery", "topic:reminders->service:reminder-worker", N)])
    redelivery = next(x for x in a.anomalies if x["type"] == "redelivery")
    assert redelivery["messages"] == N
    (flow,) = a.flows
    assert flow["count"] == N and flow["traces_per_flow"] == 1.0


def test_celery_reject_requeue_on_rabbitmq_is_a_redelivery_of_the_same_publish():
    """acks_late task that raises Reject(requeue=True) while another import holds the
    catalog lock: the run ends with celery.state REJECTED, status unset (no task_failure),
    and RabbitMQ puts the message back; the next delivery (delivery_info.redelivered True)
    is again a child of the request's publish and succeeds. Redelivered by the broker, not
    sent again: a redelivery of one message, no failure."""
    b = SpanSet()
    task, q = "tasks.import_catalog", "imports"
    for i in range(N):
        t = i * 5000
        tid = _task_id(i, 3)
        root = b.span("admin-api", "POST /catalog/imports", kind="SERVER", start_ms=t,
                      dur_ms=10)
        pub = _apply_async(b, "admin-api", root, t + 6, task, q, tid)
        _run(b, "importer", pub, t + 9, 2.5, task, q, tid, state="REJECTED")
        run = _run(b, "importer", pub, t + 31, 900, task, q, tid, redelivered=True)
        _pg(b, "importer", run, t + 35, 850, "COPY shop.products")
    st = b.store()
    a = _analysed_each(st, {
        "service:admin-api->topic:imports": ("publish", N),
        "topic:imports->service:importer": ("consume", 2 * N),
        "service:importer->external:postgresql": ("call", N),
    }, ["topic:imports->service:importer"],
        anomalies=[("redelivery", "topic:imports->service:importer", N)])
    assert a.edge("topic:imports->service:importer")["error_count"] == 0
    (flow,) = a.flows
    assert flow["count"] == N and flow["traces_per_flow"] == 1.0


# ----------------------------------------------------------------------------- Dramatiq
# Read from opentelemetry-instrumentor-dramatiq 0.1.4 (Shrest4647/opentelemetry-instrumentor-
# dramatiq, the only published OpenTelemetry instrumentation of Dramatiq; pip download:
# opentelemetry_instrumentor_dramatiq/src/__init__.py) and dramatiq 2.x (actor.py,
# worker.py _WorkerThread.process_message, middleware/retries.py).
#
# Actor.message_with_options is wrapped: a SERVER span "dramatiq.producer.<actor>" (child of
# the current span) with actor_name, queue_name and message_id, status OK, no messaging.*
# attribute; the context is injected into message.options["options"]["trace_context"]. The
# span ends when the message is built, before send_with_options hands it to the broker.
# _WorkerThread.process_message is wrapped: a CONSUMER span "dramatiq.worker.WorkerThread"
# whose PARENT is that context, with message_id and actor_name, status OK: process_message
# catches every exception itself (so a failed run is OK too). The span is opened with
# `with tracer.start_span(...)`, which does not make it current: the extracted context is
# attached instead (and never detached), so the actor's own spans are children of the
# producer span, siblings of the consumer span. The Retries middleware
# re-enqueues the same message (same id and options, trace context included) from inside
# that span, through broker.enqueue, not message_with_options: no producer span, and the
# retry's consumer span is again a child of the first producer span.


def test_dramatiq_actor_message_and_its_retry_through_the_invoices_queue():
    """A Dramatiq actor's message (opentelemetry-instrumentor-dramatiq 0.1.4): the producer
    SERVER span names the queue only as queue_name, the worker's CONSUMER span (its child)
    only the message id, and the actor's spans are siblings of it, children of the
    publish. The first run fails and the Retries middleware re-enqueues the message: a
    second delivery of the same message under the same publish, a redelivery. Tests in
    tests/test_real_broker.py run the real instrumentor on RabbitMQ."""
    b = SpanSet()
    for i in range(N):
        t = i * 1000
        mid = f"9a1f0c3e-{i:04d}"
        root = b.span("orders-api", "POST /orders", kind="SERVER", start_ms=t, dur_ms=20)
        pub = b.span("orders-api", "dramatiq.producer.send_invoice", kind="SERVER",
                     parent=root, start_ms=t + 5, dur_ms=0.3, status="OK",
                     attrs={"actor_name": "send_invoice", "queue_name": "invoices",
                            "message_id": mid})
        for attempt, (at, failed) in enumerate(((t + 40, True), (t + 400, False))):
            b.span("billing", "dramatiq.worker.WorkerThread", kind="CONSUMER", parent=pub,
                   start_ms=at, dur_ms=30, status="OK",
                   attrs={"message_id": mid, "actor_name": "send_invoice"})
            b.span("billing", "render invoice", parent=pub, start_ms=at + 2, dur_ms=20,
                   status="ERROR" if failed else "UNSET")
            _pg(b, "billing", pub, at + 24, 3)
    st = b.store()
    a = analyze(st)
    assert {e["id"]: (e["type"], e["count"]) for e in a.edges} == {
        "service:orders-api->topic:invoices": ("publish", N),
        "topic:invoices->service:billing": ("consume", 2 * N),
        "service:billing->external:postgresql": ("call", 2 * N),
    }
    assert _systems(a) == {"topic:invoices": "dramatiq"}
    consume = a.edge("topic:invoices->service:billing")
    assert consume["joined_by"] == {"context": 2 * N, "message_id": 0, "none": 0, "outside": 0}
    assert [(x["type"], x["where"]) for x in a.anomalies] == [
        ("redelivery", "topic:invoices->service:billing")]
    (flow,) = a.flows
    assert (flow["entry_service"], flow["count"], flow["traces_per_flow"]) == \
        ("orders-api", N, 1.0)
    # The worker span ends OK though its actor raised beside it: the second delivery
    # follows the first, which had ended, and its wait is the retry's backoff (330 ms),
    # not queue time.
    waits = {h["kind"]: h["p50_ms"] for h in flow["critical_path"]
             if h["hop"] == "topic:invoices->service:billing"}
    assert waits == {"queue": 34.7, "retry": 330.0}


# ----------------------------------------------------------------------------------- RQ
# Read from opentelemetry-instrumentation-rq 0.1.4 (K-T-Ng/opentelemetry-instrumentation-rq;
# pip download: opentelemetry_instrumentation_rq/{__init__,instrumentor,utils}.py) and rq
# (queue.py _enqueue_job, schedule_job; job.py retry; worker perform_job,
# handle_job_failure; scheduler.py enqueue_scheduled_jobs).
#
# Every wrapper starts its span with the parent extracted from job.meta (else the current
# context) and, where it propagates, injects its own context back into job.meta (saved with
# the job). Attributes: messaging.system = "Python RQ", messaging.client.id = the host name,
# messaging.operation.type/.name, rq.job.id, rq.job.function, messaging.destination.name =
# the queue when the wrapped call has one, status OK (ERROR and the exception when it
# raised). Queue._enqueue_job: PRODUCER "publish <queue>" (send). Queue.schedule_job:
# PRODUCER "schedule <queue>" (create). Worker.perform_job: CONSUMER "consume <queue>"
# (process; messaging.consumer.group.name = the worker's name), flushed at its end (the work
# horse exits). Job.perform: CLIENT "perform" (process, no queue); Worker.handle_job_success
# / handle_job_failure: CLIENT "handle_job_success <queue>" / "handle_job_failure <queue>".
# perform_job catches the job's exception, so the consume span is OK when the job failed.
# A retry with an interval (Retry(max, interval)) calls queue.schedule_job inside
# handle_job_failure; its parent is the consume span (job.meta), not handle_job_failure.
# The scheduler (rq worker --with-scheduler, a process of the worker) later moves due jobs
# with queue._enqueue_job: a "publish <queue>" in the worker whose parent is the schedule
# span, and the next consume span is that publish's child.

_RQ_WORKER = "b6f1a0c2d4e84d7f9a3c5e7b1d2f4a6c"


def _rq(op_type: str, op_name: str, host: str, job_id: str, func: str,
        queue: str | None = None, worker: str | None = None) -> dict[str, Any]:
    a: dict[str, Any] = {"messaging.system": "Python RQ", "messaging.client.id": host,
                         "messaging.operation.type": op_type,
                         "messaging.operation.name": op_name, "rq.job.id": job_id,
                         "rq.job.function": func}
    if worker:
        a["messaging.consumer.group.name"] = worker
    if queue:
        a["messaging.destination.name"] = queue
    return a


def _rq_producer(b: SpanSet, service: str, parent: SpanRef, t: float, op: str, queue: str,
                 job_id: str, func: str, host: str) -> SpanRef:
    op_type = "send" if op == "publish" else "create"
    return b.span(service, f"{op} {queue}", kind="PRODUCER", parent=parent, start_ms=t,
                  dur_ms=1.2, status="OK",
                  attrs=_rq(op_type, op, host, job_id, func, queue=queue))


def _rq_work(b: SpanSet, publish: SpanRef, t: float, dur: float, queue: str, job_id: str,
             func: str, *, fails: bool = False,
             then: Any = None) -> SpanRef:
    """The work horse's spans for one job: consume, perform (and the job's query), then
    handle_job_success or handle_job_failure; ``then(handler_span, t)`` adds what the
    failure handler does."""
    host = "rq-worker-7d9c5-xk2lp"
    cons = b.span("report-worker", f"consume {queue}", kind="CONSUMER", parent=publish,
                  start_ms=t, dur_ms=dur, status="OK",
                  attrs=_rq("process", "consume", host, job_id, func, queue=queue,
                            worker=_RQ_WORKER))
    perf = b.span("report-worker", "perform", kind="CLIENT", parent=cons, start_ms=t + 2,
                  dur_ms=dur - 6, status="ERROR" if fails else "OK",
                  attrs=_rq("process", "perform", host, job_id, func))
    _pg(b, "report-worker", perf, t + 3, dur - 9, "SELECT shop.orders")
    name = "handle_job_failure" if fails else "handle_job_success"
    h = b.span("report-worker", f"{name} {queue}", kind="CLIENT", parent=cons,
               start_ms=t + dur - 3.5, dur_ms=3, status="OK",
               attrs=_rq("process", name, host, job_id, func, queue=queue))
    if then is not None:
        then(cons, t + dur - 3)
    return h


def test_rq_enqueued_job_is_one_delivery_and_its_bookkeeping_spans_are_no_calls():
    """queue.enqueue(render_report, ...) from a web request: "publish reports" PRODUCER
    under the request; in the work horse "consume reports" CONSUMER, child of it, and under
    that the CLIENT spans "perform" (the job function, which queries postgres) and
    "handle_job_success reports", which carry messaging.system "Python RQ" and a process
    operation: RQ's own bookkeeping, neither deliveries nor calls to another system."""
    b = SpanSet()
    q, func = "reports", "app.jobs.render_report"
    for i in range(N):
        t = i * 2000
        jid = f"8a7e2c1f-0b3d-4e5a-9c6d-{0x4000 + i:012x}"
        root = b.span("reports-web", "POST /reports", kind="SERVER", start_ms=t, dur_ms=16)
        pub = _rq_producer(b, "reports-web", root, t + 8, "publish", q, jid, func,
                           "reports-web-5f7d9-abcde")
        _rq_work(b, pub, t + 250, 480, q, jid, func)
    st = b.store()
    a = _analysed_each(st, {
        "service:reports-web->topic:reports": ("publish", N),
        "topic:reports->service:report-worker": ("consume", N),
        "service:report-worker->external:postgresql": ("call", N),
    }, ["topic:reports->service:report-worker"])
    assert _systems(a) == {"topic:reports": "python rq"}  # (systems are compared lowercased)
    consume = a.edge("topic:reports->service:report-worker")
    assert consume["p50_ms"] == 480 and consume["queue_p50_ms"] == 240.8
    (flow,) = a.flows
    assert flow["count"] == N and flow["traces_per_flow"] == 1.0


def test_rq_retry_with_an_interval_is_scheduled_then_published_by_the_scheduler():
    """enqueue(render_report, retry=Retry(max=3, interval=30)); the first run raises
    ("perform" status ERROR, "consume reports" OK). Inside handle_job_failure, Job.retry
    calls schedule_job: "schedule reports" (create), child of the consume span. 30 s later
    the worker's scheduler moves the due job to the queue: "publish reports" (send), child
    of the schedule span, and the second run is that publish's child. The retry is one
    message the worker sent again, created by the schedule and sent by the scheduler:
    every publish delivered, the worker's retry the only loop."""
    b = SpanSet()
    q, func = "reports", "app.jobs.render_report"
    host = "rq-worker-7d9c5-xk2lp"
    for i in range(N):
        t = i * 60_000
        jid = f"8a7e2c1f-0b3d-4e5a-9c6d-{0x5000 + i:012x}"
        root = b.span("reports-web", "POST /reports", kind="SERVER", start_ms=t, dur_ms=16)
        pub = _rq_producer(b, "reports-web", root, t + 8, "publish", q, jid, func,
                           "reports-web-5f7d9-abcde")
        box: dict[str, SpanRef] = {}

        def retry(cons: SpanRef, at: float, box=box, jid=jid) -> None:
            box["schedule"] = _rq_producer(b, "report-worker", cons, at, "schedule", q,
                                           jid, func, host)
        _rq_work(b, pub, t + 250, 120, q, jid, func, fails=True, then=retry)
        # the scheduler's loop, in the worker, once the 30 s are over
        moved = _rq_producer(b, "report-worker", box["schedule"], t + 30_370.5, "publish",
                             q, jid, func, host)
        _rq_work(b, moved, t + 30_372, 480, q, jid, func)
    st = b.store()
    a = _analysed_each(st, {
        "service:reports-web->topic:reports": ("publish", N),
        "service:report-worker->topic:reports": ("publish", N),
        "topic:reports->service:report-worker": ("consume", 2 * N),
        "service:report-worker->external:postgresql": ("call", 2 * N),
    }, ["topic:reports->service:report-worker"],
        anomalies=[("cycle", ("service:report-worker -> topic:reports -> "
                              "service:report-worker"), N)])
    assert a.edge("topic:reports->service:report-worker")["error_count"] == 0
    (flow,) = a.flows
    assert flow["count"] == N and flow["traces_per_flow"] == 1.0


def test_rq_enqueue_in_is_created_by_the_web_and_sent_by_the_workers_scheduler():
    """queue.enqueue_in(timedelta(minutes=10), send_digest, ...): the web's "schedule
    digests" (create) puts the job in the ScheduledJobRegistry; ten minutes later the
    scheduler in the worker moves it to the queue, "publish digests" (send), child of the
    schedule span, and the job runs under it. One message the web created and the worker
    ran once: the scheduler's move is no publish of the worker's own (no loop), and the
    web's schedule is not a message nobody consumed."""
    b = SpanSet()
    q, func = "digests", "app.jobs.send_digest"
    host = "rq-worker-7d9c5-xk2lp"
    for i in range(N):
        t = i * 1000
        jid = f"8a7e2c1f-0b3d-4e5a-9c6d-{0x6000 + i:012x}"
        root = b.span("reports-web", "POST /digests", kind="SERVER", start_ms=t, dur_ms=14)
        sched = _rq_producer(b, "reports-web", root, t + 7, "schedule", q, jid, func,
                             "reports-web-5f7d9-abcde")
        moved = _rq_producer(b, "report-worker", sched, t + 600_400, "publish", q, jid, func,
                             host)
        _rq_work(b, moved, t + 600_402.5, 300, q, jid, func)
    st = b.store()
    a = _analysed_each(st, {
        "service:reports-web->topic:digests": ("publish", N),
        "topic:digests->service:report-worker": ("consume", N),
        "service:report-worker->external:postgresql": ("call", N),
    }, ["topic:digests->service:report-worker"])
    (flow,) = a.flows
    assert flow["count"] == N and flow["traces_per_flow"] == 1.0
    assert edge_detail(st, "service:reports-web->topic:digests")["count"] == N


# Seen, not encoded (left alone): pika's instrumentation before its destination fix names
# '(temporary)' and consumer tags as destinations (the queue only in the span names).
