"""Span shapes of Python messaging and task libraries, round 3: Remoulade under
opentelemetry-instrumentation-remoulade and nameko under nameko-opentelemetry
(opentelemetry-instrumentation-nameko), each read from the library's source. Each test
builds exactly the spans the library exports for a small scenario and checks what the
analyzer makes of them.

(aio-pika, kafka-python and confluent-kafka are encoded in test_analyzer_conventions.py and
test_analyzer_elixir_php_py.py already; not repeated here.)"""

from __future__ import annotations

from typing import Any

from analyzer import edge_detail, flow_for_trace
from tests.analysis_checks import analysed as _analysed
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


# ---------------------------------------------------------------------------- Remoulade
# Read from open-telemetry/opentelemetry-python-contrib,
# instrumentation/opentelemetry-instrumentation-remoulade/src/opentelemetry/instrumentation/
# remoulade/{__init__,utils}.py (main, commit 0047a9627eee2b7201531c8767f6663e43b85f84), and
# wiremind/remoulade remoulade/broker.py (emit_before / emit_after: after_* hooks run in
# REVERSED middleware order) and remoulade/middleware/retries.py.
#
# The instrumentor adds a broker middleware (add_extra_default_middleware: after the
# defaults, so its after_process_message runs BEFORE Retries'). before_enqueue: a PRODUCER
# span "remoulade/send" ("remoulade/send(retry-<n>)" when message.options["retries"] = n),
# child of the current context, with remoulade.retry_count, remoulade.action = send,
# remoulade.actor_name, messaging.message.id (messaging.message_id before the semconv
# module switch); made current and injected into message.options["trace_ctx"];
# after_enqueue ends it. before_process_message: a CONSUMER span "remoulade/process"
# ("remoulade/process(retry-<n>)") whose PARENT is the extracted trace_ctx, current while
# the actor runs; after_process_message sets remoulade.action = run, the actor name and the
# message id and ends it (the exception is not recorded: status stays UNSET). No
# messaging.system and no destination: the queue is named by no span.
# Retries.after_process_message enqueues message.copy() (same message_id) with retries + 1
# and a backoff delay: a "remoulade/send(retry-<n>)" span, under the failed run's span
# (still current), to the actor queue's delay queue. When the delay is over, the worker
# enqueues the message again to the actor's queue: before_enqueue makes a second
# "remoulade/send(retry-<n>)", a ROOT span of a new trace (the worker's delay handling has
# no context), and inject() overwrites the copied trace_ctx, so the retry's process span
# is that root send's child. (The second send was seen in a real run, remoulade 3.5.2 on
# RabbitMQ: its RabbitMQ broker needs amqpstorm, which needs pamqp < 3, and aio-pika
# pamqp 4, so it cannot run beside the other real-broker tests.)


def _remoulade_send(b: SpanSet, service: str, parent: SpanRef | None, t: float, msg_id: str,
                    actor: str, retries: int = 0, trace: str | None = None) -> SpanRef:
    name = "remoulade/send" if retries == 0 else f"remoulade/send(retry-{retries})"
    return b.span(service, name, kind="PRODUCER", parent=parent, trace=trace, start_ms=t,
                  dur_ms=1.2, attrs={"remoulade.retry_count": retries,
                                     "remoulade.action": "send",
                                     "remoulade.actor_name": actor,
                                     "messaging.message.id": msg_id})


def _remoulade_process(b: SpanSet, parent: SpanRef, t: float, dur: float, msg_id: str,
                       actor: str, retries: int = 0) -> SpanRef:
    name = "remoulade/process" if retries == 0 else f"remoulade/process(retry-{retries})"
    return b.span("worker", name, kind="CONSUMER", parent=parent, start_ms=t, dur_ms=dur,
                  attrs={"remoulade.retry_count": retries, "remoulade.action": "run",
                         "remoulade.actor_name": actor, "messaging.message.id": msg_id})


def test_remoulade_send_and_process_name_their_actor():
    """Remoulade under opentelemetry-instrumentation-remoulade (source above): the API sends
    two actors' messages per request; each "remoulade/process" is a child of its
    "remoulade/send" through message.options["trace_ctx"] and runs 25 ms after the send
    ended. The spans name no queue, but their actor: each actor's messages are a
    destination of their own, joined by context."""
    b = SpanSet()
    actors = ["send_confirmation", "reserve_stock"]
    for i in range(N):
        t = i * 100
        root = b.span("api", "POST /orders", kind="SERVER", start_ms=t, dur_ms=15)
        for j, actor in enumerate(actors):
            msg_id = f"0b7c{i:04x}-9d2e-4f11-a0c3-{j:012x}"
            send = _remoulade_send(b, "api", root, t + 4 + j * 3, msg_id, actor)
            proc = _remoulade_process(b, send, t + 30.2 + j * 3, 12, msg_id, actor)
            _pg(b, "worker", proc, t + 31 + j * 3, dur=6)
    st = b.store()
    a = _analysed_each(st, {
        "service:api->topic:send_confirmation": ("publish", N),
        "service:api->topic:reserve_stock": ("publish", N),
        "topic:send_confirmation->service:worker": ("consume", N),
        "topic:reserve_stock->service:worker": ("consume", N),
        "service:worker->external:postgresql": ("call", 2 * N),
    }, ["topic:send_confirmation->service:worker", "topic:reserve_stock->service:worker"])
    assert _systems(a) == {"topic:send_confirmation": "remoulade",
                           "topic:reserve_stock": "remoulade"}
    for actor in actors:
        consume = a.edge(f"topic:{actor}->service:worker")
        assert consume["p50_ms"] == 12 and consume["queue_p50_ms"] == 25
    assert len(a.flows) == 1 and a.flows[0]["count"] == N


def test_remoulade_retry_is_a_root_send_in_the_worker_with_the_same_message_id():
    """A failing actor retried by remoulade's Retries middleware (source above, and a real
    run): the first "remoulade/process" ends (UNSET, exception not recorded); under it,
    "remoulade/send(retry-1)" enqueues the message to the delay queue; 200 ms later the
    worker enqueues it again in a second "remoulade/send(retry-1)", the root of a new
    trace, with the same messaging.message.id; "remoulade/process(retry-1)" is its child
    and succeeds. Expected: both runs are deliveries joined by context; the worker feeding
    its actor's messages back is the cycle retries make, and its re-send, in a trace of
    its own, a publish that lost the context of the delivery it retries. The send to the
    delay queue, which no span consumed, is no lost message: the same message was sent
    again, and the re-send's trace continues the request's flow. No other anomaly (a retry
    is no duplicate)."""
    b = SpanSet()
    for i in range(N):
        t = i * 1000
        msg_id = f"5e1a{i:04x}-77c0-4b2d-8e19-00000000000{i}"
        root = b.span("api", "POST /invoices", kind="SERVER", start_ms=t, dur_ms=10)
        send = _remoulade_send(b, "api", root, t + 3, msg_id, "charge_card")
        first = _remoulade_process(b, send, t + 20, 30, msg_id, "charge_card")
        b.span("worker", "POST", kind="CLIENT", parent=first, start_ms=t + 22, dur_ms=25,
               status="ERROR", attrs={"http.method": "POST", "http.status_code": 503,
                                      "http.url": "https://psp.example.com/v1/charges",
                                      "net.peer.name": "psp.example.com"})
        _remoulade_send(b, "worker", first, t + 48, msg_id, "charge_card", retries=1)
        resend = _remoulade_send(b, "worker", None, t + 251, msg_id, "charge_card",
                                 retries=1, trace=f"7e7a{i:028x}")
        second = _remoulade_process(b, resend, t + 255, 20, msg_id, "charge_card",
                                    retries=1)
        b.span("worker", "POST", kind="CLIENT", parent=second, start_ms=t + 256, dur_ms=17,
               attrs={"http.method": "POST", "http.status_code": 200,
                      "http.url": "https://psp.example.com/v1/charges",
                      "net.peer.name": "psp.example.com"})
    st = b.store()
    a = _analysed_each(st, {
        "service:api->topic:charge_card": ("publish", N),
        "service:worker->topic:charge_card": ("publish", 2 * N),
        "topic:charge_card->service:worker": ("consume", 2 * N),
        "service:worker->external:psp.example.com": ("call", 2 * N),
    }, ["topic:charge_card->service:worker"],
        anomalies=[("cycle", "service:worker -> topic:charge_card -> service:worker", 2 * N),
                   ("publish_without_context", "service:worker->topic:charge_card", N)])
    # queue times 15.8 ms (first run) and 2.8 ms (after the backoff): median of the six
    assert a.edge("topic:charge_card->service:worker")["queue_p50_ms"] == 9.3
    # the retry's trace starts at the worker's root send of a message the worker sent
    # before, in the request's trace: it continues that trace's flow (the message id ties
    # them), one flow of two traces per invoice
    (flow,) = a.flows
    assert (flow["entry_service"], flow["count"], flow["traces_per_flow"]) == ("api", N, 2.0)
    view = flow_for_trace(st, f"7e7a{0:028x}")
    assert view is not None and len(view["trace_ids"]) == 2


# -------------------------------------------------------------------------------- nameko
# Read from nameko/opentelemetry-instrumentation-nameko (the nameko-opentelemetry package):
# nameko_opentelemetry/entrypoints.py (7d486087f70aacb1cac97caaabb2090d68501fe9),
# rpc.py (d5d664527443e40aaa23d96438ca0792749eeba2), events.py, messaging.py and amqp.py
# (1bb0e31ef0c3afca5eac9ddfdf4a767139fab133).
#
# Every entrypoint that fires (ServiceContainer._worker_setup) gets a span
# "<service>.<method>" whose PARENT is the context extracted from the worker's context_data
# (the AMQP message headers); its kind is the adapter's span_kind: SERVER for RPC, HTTP
# and timers, CONSUMER for event handlers and Consumer entrypoints. Attributes: hostname,
# service_name, entrypoint_type, method_name, active_workers, available_workers; for AMQP
# entrypoints nameko.amqp.amqp_uri, .ssl, .prefetch_count, .heartbeat, .accept, .queues,
# .consumer_options; event handlers add nameko.events.handler_type, .reliable_delivery,
# .requeue_on_error; status OK (ERROR for an unexpected exception).
# RPC client (Client._call): a CLIENT span "RPC to <service>.<method>" with
# nameko.rpc.target_service, nameko.rpc.target_method and (after the publish)
# nameko.rpc.correlation_id; it ends in RpcCall.get_response, when the reply arrived on the
# caller's reply queue (no span for the reply). Publisher.publish only adds nameko.amqp.*
# publisher attributes (amqp_uri, routing_key, ...) to the current span.
# EventDispatcher: a PRODUCER span "Dispatch event <service>.<event_type>" with
# nameko.events.exchange = "<service>.events", nameko.events.event_type, and the publisher's
# nameko.amqp.* attributes (routing_key = the event type). messaging.Publisher: a PRODUCER
# span "Publish to <exchange>" (or "default-exchange") with nameko.messaging.exchange.
# No messaging.* attribute anywhere: the decoders read the exchanges and queues named
# (collector.untagged.nameko_message).

_AMQP = {"nameko.amqp.amqp_uri": "amqp://guest:********@rabbitmq:5672/",
         "nameko.amqp.ssl": "None", "nameko.amqp.heartbeat": "60",
         "nameko.amqp.prefetch_count": "10", "nameko.amqp.accept": '["json"]',
         "nameko.amqp.consumer_options": "{}"}


def _entrypoint(b: SpanSet, service: str, method: str, kind: str, parent: SpanRef | None,
                t: float, dur: float, ep_type: str, extra: dict[str, Any] | None = None,
                status: str = "OK") -> SpanRef:
    return b.span(service, f"{service}.{method}", kind=kind, parent=parent, start_ms=t,
                  dur_ms=dur, status=status,
                  attrs={"hostname": f"{service}-7f9c", "service_name": service,
                         "entrypoint_type": ep_type, "method_name": method,
                         "active_workers": 1, "available_workers": 9, **(extra or {})})


def _rpc_call(b: SpanSet, service: str, parent: SpanRef, t: float, dur: float,
              target: str, method: str, corr: str) -> SpanRef:
    return b.span(service, f"RPC to {target}.{method}", kind="CLIENT", parent=parent,
                  start_ms=t, dur_ms=dur,
                  attrs={"nameko.rpc.target_service": target,
                         "nameko.rpc.target_method": method,
                         "nameko.rpc.correlation_id": corr,
                         "nameko.amqp.amqp_uri": _AMQP["nameko.amqp.amqp_uri"],
                         "nameko.amqp.routing_key": f"{target}.{method}",
                         "nameko.amqp.use_confirms": "True",
                         "nameko.amqp.delivery_mode": "2"})


def _dispatch(b: SpanSet, service: str, parent: SpanRef, t: float, event: str) -> SpanRef:
    return b.span(service, f"Dispatch event {service}.{event}", kind="PRODUCER",
                  parent=parent, start_ms=t, dur_ms=2.5,
                  attrs={"nameko.events.exchange": f"{service}.events",
                         "nameko.events.event_type": event,
                         "nameko.amqp.amqp_uri": _AMQP["nameko.amqp.amqp_uri"],
                         "nameko.amqp.routing_key": event,
                         "nameko.amqp.use_confirms": "True"})


def _handler(b: SpanSet, service: str, method: str, parent: SpanRef, t: float, dur: float,
             source: str, event: str) -> SpanRef:
    queue = f"evt-{source}-{event}--{service}.{method}"
    return _entrypoint(b, service, method, "CONSUMER", parent, t, dur, "EventHandler", {
        **_AMQP, "nameko.amqp.queues": f'["<unbound Queue {queue} -> <unbound Exchange '
                                       f'{source}.events(topic)> -> {event}>"]',
        "nameko.events.handler_type": "service_pool",
        "nameko.events.reliable_delivery": "True",
        "nameko.events.requeue_on_error": "False"})


def test_nameko_rpc_over_amqp_is_a_call_from_client_to_server():
    """nameko RPC under nameko-opentelemetry (source above): the gateway's HTTP entrypoint
    (SERVER "gateway.create_order") calls orders.create over AMQP: CLIENT
    "RPC to orders.create" (ended when the reply came back on the gateway's temporary reply
    queue), whose child is the orders service's SERVER "orders.create" (entrypoint Rpc,
    parent from the message headers). Request and reply queues are named by no span: the
    pair is a call between the services, no topic, no delivery, nothing lost."""
    b = SpanSet()
    for i in range(N):
        t = i * 100
        root = _entrypoint(b, "gateway", "create_order", "SERVER", None, t, 40,
                           "HttpRequestHandler")
        call = _rpc_call(b, "gateway", root, t + 2, 34, "orders", "create",
                         f"c0ffee{i:02x}-1b2c-4d5e-8f90-a1b2c3d4e5f6")
        srv = _entrypoint(b, "orders", "create", "SERVER", call, t + 6, 26, "Rpc", {
            **_AMQP, "nameko.amqp.queues": '["<unbound Queue rpc-orders -> <unbound '
                                           'Exchange nameko-rpc(topic)> -> orders.*>"]'})
        _pg(b, "orders", srv, t + 8, dur=20, stmt="INSERT INTO shop.orders")
    st = b.store()
    a = _analysed_each(st, {
        "service:gateway->service:orders": ("call", N),
        "service:orders->external:postgresql": ("call", N),
    }, [])
    assert not [n for n in a.nodes if n["type"] == "topic"]
    assert a.edge("service:gateway->service:orders")["p50_ms"] == 34
    assert len(a.flows) == 1 and a.flows[0]["count"] == N


def test_nameko_event_dispatch_fans_out_to_two_handlers():
    """nameko events under nameko-opentelemetry (source above): orders.create (an RPC
    entrypoint) dispatches "order_created": PRODUCER "Dispatch event orders.order_created"
    (nameko.events.exchange orders.events, no messaging.* attribute); the billing and
    emails services' event handlers each get a CONSUMER "<service>.<method>" whose parent is
    the dispatch span. One publish to the exchange the dispatch names, two deliveries from
    it (the exchange their queues are bound to, in nameko.amqp.queues), joined by
    context, one flow."""
    b = SpanSet()
    for i in range(N):
        t = i * 100
        root = _entrypoint(b, "orders", "create", "SERVER", None, t, 20, "Rpc", {
            **_AMQP, "nameko.amqp.queues": '["rpc-orders"]'})
        disp = _dispatch(b, "orders", root, t + 12, "order_created")
        _pg(b, "billing", _handler(b, "billing", "handle_order_created", disp, t + 18, 15,
                                   "orders", "order_created"), t + 19, dur=10)
        _handler(b, "emails", "send_receipt", disp, t + 21, 8, "orders", "order_created")
    st = b.store()
    a = _analysed_each(st, {
        "service:orders->topic:orders.events": ("publish", N),
        "topic:orders.events->service:billing": ("consume", N),
        "topic:orders.events->service:emails": ("consume", N),
        "service:billing->external:postgresql": ("call", N),
    }, ["topic:orders.events->service:billing", "topic:orders.events->service:emails"])
    assert a.edge("topic:orders.events->service:billing")["queue_p50_ms"] == 3.5
    assert a.edge("topic:orders.events->service:emails")["queue_p50_ms"] == 6.5
    assert len(a.flows) == 1 and a.flows[0]["count"] == N
    assert edge_detail(st, "service:orders->topic:orders.events")["count"] == N


def test_nameko_publisher_and_consumer_entrypoint():
    """nameko's messaging.Publisher and Consumer entrypoint under nameko-opentelemetry
    (messaging.py above): PRODUCER "Publish to audit" (nameko.messaging.exchange audit),
    the auditor's CONSUMER "auditor.record" (entrypoint Consumer) its child, with
    nameko.messaging.requeue_on_error and the AMQP consumer attributes."""
    b = SpanSet()
    for i in range(N):
        t = i * 100
        root = _entrypoint(b, "orders", "cancel", "SERVER", None, t, 12, "Rpc")
        pub = b.span("orders", "Publish to audit", kind="PRODUCER", parent=root,
                      start_ms=t + 5, dur_ms=2,
                      attrs={"nameko.messaging.exchange": "audit",
                             "nameko.amqp.amqp_uri": _AMQP["nameko.amqp.amqp_uri"],
                             "nameko.amqp.routing_key": "None"})
        con = _entrypoint(b, "auditor", "record", "CONSUMER", pub, t + 11, 6, "Consumer", {
            **_AMQP, "nameko.amqp.queues": '["<unbound Queue audit-log -> <unbound '
                                           'Exchange audit(direct)> -> >"]',
            "nameko.messaging.requeue_on_error": "False"})
        _pg(b, "auditor", con, t + 12, dur=4, stmt="INSERT INTO shop.audit_log")
    st = b.store()
    _analysed(st, {
        "service:orders->topic:audit": ("publish", N),
        "topic:audit->service:auditor": ("consume", N),
        "service:auditor->external:postgresql": ("call", N),
    }, "topic:audit->service:auditor", p50_ms=6)


def test_nameko_timer_calls_rpc_then_dispatches_an_event_handled_by_another_service():
    """A nameko Timer entrypoint (timer.py: the default SERVER kind, a ROOT span, with
    nameko.timer.interval and nameko.timer.eager) in "reports" every 10 s: it calls
    orders.list_stale over RPC (CLIENT "RPC to orders.list_stale", SERVER
    "orders.list_stale" its child) then dispatches "stale_found" (PRODUCER "Dispatch event
    reports.stale_found"), handled by the emails service (CONSUMER "emails.notify"). One
    flow per tick, entered at reports; the RPC a call, the event a delivery."""
    b = SpanSet()
    for i in range(N):
        t = i * 10_000
        tick = _entrypoint(b, "reports", "sweep", "SERVER", None, t, 30, "Timer",
                           {"nameko.timer.interval": 10, "nameko.timer.eager": False})
        call = _rpc_call(b, "reports", tick, t + 1, 14, "orders", "list_stale",
                         f"feed{i:04x}-1b2c-4d5e-8f90-a1b2c3d4e5f6")
        srv = _entrypoint(b, "orders", "list_stale", "SERVER", call, t + 4, 9, "Rpc", {
            **_AMQP, "nameko.amqp.queues": '["rpc-orders"]'})
        _pg(b, "orders", srv, t + 5, dur=6, stmt="SELECT FROM shop.orders")
        disp = _dispatch(b, "reports", tick, t + 20, "stale_found")
        _handler(b, "emails", "notify", disp, t + 26.5, 5, "reports", "stale_found")
    st = b.store()
    a = _analysed_each(st, {
        "service:reports->service:orders": ("call", N),
        "service:orders->external:postgresql": ("call", N),
        "service:reports->topic:reports.events": ("publish", N),
        "topic:reports.events->service:emails": ("consume", N),
    }, ["topic:reports.events->service:emails"])
    assert a.edge("topic:reports.events->service:emails")["queue_p50_ms"] == 4
    (flow,) = a.flows
    assert flow["count"] == N and flow["entry_service"] == "reports"
    assert flow["traces_per_flow"] == 1.0
