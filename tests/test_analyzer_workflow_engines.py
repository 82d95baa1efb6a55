"""Span shapes of durable workflow and job engines that export OpenTelemetry spans themselves
or through an official integration, each read from the engine's source: the Restate server
(its own invocation spans, and its Kafka subscriptions), Hatchet's Python SDK
(hatchet_sdk.opentelemetry.HatchetInstrumentor) and Apache Airflow 2.10's DAG run and task
instance spans. Each test builds exactly the spans the engine exports for a small scenario
and checks what the analyzer makes of them.

(Not encoded: Inngest's extendedTracesMiddleware (inngest-js packages/inngest/src/
components/execution/otel) exports the user's own spans to Inngest's endpoint and makes no
step or sendEvent span of its own; Trigger.dev v3's "<task>.trigger()" / triggerAndWait
PRODUCER spans (packages/trigger-sdk/src/v3/shared.ts) are read, but the run span that
parents a worker's "Attempt N" CONSUMER span (packages/core/src/v3/workers/taskExecutor.ts)
is a server-side event (webapp eventRepository.traceEvent), not something a user's collector
receives; no official Camunda 8 / Zeebe job worker span source was found, only third-party
frameworks.)
"""

from __future__ import annotations

import json
from typing import Any

from analyzer import analyze, edge_detail, flow_for_trace
from tests.analysis_checks import analysed_each as _analysed_each
from tests.analysis_checks import edges_of as _edges
from tests.analysis_checks import flows_of as _flows
from tests.analysis_checks import systems_of as _systems
from tests.builders import SpanRef, SpanSet

N = 3

# ------------------------------------------------------------------------------ Restate
# Restate 1.0/1.1, read from restatedev/restate:
#   crates/ingress-http/src/handler/ (component_handler.rs, later service_handler.rs): a request
#     to the ingress opens "ingress_invoke <Service>/<handler>" (rpc.system restate,
#     rpc.service, rpc.method, client.socket.*), whose parent is the caller's W3C
#     traceparent when it sent one; the invocation it creates (a call, or a /send) is
#     related to it as SpanRelation::Parent. The span lasts as long as the request.
#   crates/types/src/invocation/mod.rs (ServiceInvocationSpanContext::start): an invocation's
#     span context is made up front (span id from the invocation id) -- in the caller's
#     trace for a Parent relation; for a Linked relation (a one-way call from a handler) in a
#     NEW trace, with a 'pointer' span id for the caller's trace.
#   crates/worker/src/partition/state_machine/effect_interpreter.rs
#     (Effect::TraceInvocationResult, Effect::TraceBackgroundInvoke; do_trace_invocation_result
#     and do_trace_background_invoke once refactored): when the invocation ends, "invoke
#     <target>" is emitted
#     with that context (restate.internal.span_id/trace_id), started at the invocation's
#     creation time (restate.internal.start_time) and its causing span as parent (Parent)
#     or as a link (Linked); a one-way call also emits, at once, the instantaneous pointer
#     span "background_invoke <target>" under the caller's invocation span. Every one of
#     these carries rpc.service/rpc.method of the *target* and restate.invocation.id.
#   crates/worker/src/invoker_integration.rs (EntryEnricher): an Invoke entry (a call awaited by the
#     handler) is related as_parent() to the caller's invocation, a BackgroundInvoke entry
#     (one-way call, optionally with invoke_time = a delayed send) as_linked().
#   crates/tracing-instrumentation/src/exporter.rs (ResourceModifyingSpanExporter): spans
#     are exported grouped by rpc.service, each group with service.name = that value, so
#     every Restate service shows up as a service of its own.
# All of them are tracing-opentelemetry spans without otel.kind: INTERNAL. No messaging
# attribute: calls and one-way calls between handlers are hops between services, not topics.

_RESULT = {"restate.invocation.result": "Success", "error": False}


def _rs(service: str, handler: str, inv: str, **extra: Any) -> dict[str, Any]:
    return {"rpc.service": service, "rpc.method": handler, "restate.invocation.id": inv,
            "restate.invocation.target": f"{service}/{handler}", **extra}


def _restate_checkout(b: SpanSet, i: int, t: float, *, ship_delay_ms: float | None = None
                      ) -> SpanRef:
    """``api`` calls Checkout/checkout through the ingress (a call, awaiting the result);
    the handler calls Payments/charge and waits for it; with ``ship_delay_ms`` it then sends
    Shipping/ship one-way (delayed by that much, 0 for none). Returns the request span."""
    root = b.span("api", "POST /checkout", kind="SERVER", start_ms=t, dur_ms=200,
                  attrs={"http.request.method": "POST", "http.route": "/checkout",
                         "http.response.status_code": 200})
    cli = b.span("api", "POST", kind="CLIENT", parent=root, start_ms=t + 2, dur_ms=190,
                 attrs={"http.request.method": "POST", "server.address": "restate",
                        "server.port": 8080, "http.response.status_code": 200,
                        "url.full": "http://restate:8080/Checkout/checkout"})
    ing = b.span("Checkout", "ingress_invoke Checkout/checkout", parent=cli, start_ms=t + 3,
                 dur_ms=188, attrs={"rpc.system": "restate", "rpc.service": "Checkout",
                                    "rpc.method": "checkout",
                                    "client.socket.address": "10.0.3.7",
                                    "client.socket.port": 51234})
    inv = b.span("Checkout", "invoke Checkout/checkout", parent=ing, start_ms=t + 4,
                 dur_ms=182, attrs=_rs("Checkout", "checkout", f"inv_1chk{i:04d}", **_RESULT))
    b.span("Payments", "invoke Payments/charge", parent=inv, start_ms=t + 20, dur_ms=120,
           attrs=_rs("Payments", "charge", f"inv_1pay{i:04d}", **_RESULT))
    if ship_delay_ms is not None:
        ptr = b.span("Shipping", "background_invoke Shipping/ship", parent=inv,
                     start_ms=t + 150, dur_ms=0, attrs=_rs("Shipping", "ship", f"inv_1shp{i:04d}"))
        # the new trace's root: created when sent, run once the delay is over, ended then
        b.span("Shipping", "invoke Shipping/ship", start_ms=t + 150,
               dur_ms=ship_delay_ms + 60, links=[ptr],
               attrs=_rs("Shipping", "ship", f"inv_1shp{i:04d}", **_RESULT))
    return root


_RESTATE_CALLS = {
    "service:api->service:Checkout": ("call", N),
    "service:Checkout->service:Payments": ("call", N),
}


def test_restate_ingress_call_and_handler_call_are_calls_in_one_trace():
    """Restate 1.x: the ingress's "ingress_invoke Checkout/checkout" is the child of the
    caller's HTTP client span, the invocation's "invoke Checkout/checkout" its child, and a
    call awaited by the handler ("invoke Payments/charge") the child of that: INTERNAL spans
    of the services Restate names after rpc.service, no messaging attribute. Calls, no topic;
    one flow per request. Source: restatedev/restate crates/ingress-http/src/handler/,
    crates/types/src/invocation/mod.rs (ServiceInvocationSpanContext),
    crates/worker/src/partition/state_machine/effect_interpreter.rs,
    crates/tracing-instrumentation/src/exporter.rs."""
    b = SpanSet()
    for i in range(N):
        _restate_checkout(b, i, i * 1000)
    st = b.store()
    a = _analysed_each(st, _RESTATE_CALLS, deliveries=())
    assert not [n for n in a.nodes if n["type"] == "topic"]
    assert _flows(a) == [("api", N, 1.0)]
    assert a.edge("service:Checkout->service:Payments")["p50_ms"] == 120


def test_restate_one_way_call_is_a_call_into_a_linked_trace():
    """A handler's one-way call (ctx.send) puts an instantaneous "background_invoke
    Shipping/ship" pointer span -- exported as service Shipping, it names the target's
    rpc.service -- under the caller's invocation span, and the callee's "invoke
    Shipping/ship" becomes the root of a new trace that links to that pointer. The map
    shows the hop Checkout -> Shipping (no topic: Restate names none); the business
    transaction is one flow of two traces, with no anomaly and no clock skew. Source:
    restatedev/restate crates/types/src/invocation/mod.rs (SpanRelation::Linked, pointer
    span id), crates/worker/src/partition/state_machine/effect_interpreter.rs
    (TraceBackgroundInvoke), crates/worker/src/invoker_integration.rs (as_linked)."""
    b = SpanSet()
    roots = [_restate_checkout(b, i, i * 1000, ship_delay_ms=0) for i in range(N)]
    st = b.store()
    a = _analysed_each(st, {**_RESTATE_CALLS, "service:Checkout->service:Shipping": ("call", N)},
                       deliveries=())
    assert not [n for n in a.nodes if n["type"] == "topic"]
    assert _flows(a) == [("api", N, 2.0)]
    assert all(e["clock_skew_count"] == 0 for e in a.edges)
    one = flow_for_trace(st, roots[0].trace_id)
    assert {s["name"] for s in one["spans"]} >= {"background_invoke Shipping/ship",
                                                  "invoke Shipping/ship"}


def test_restate_delayed_send_waits_in_the_callee_span_not_in_a_queue():
    """A delayed one-way call (ctx.send with a delay, BackgroundInvoke's invoke_time): the
    callee's "invoke Shipping/ship" starts when it was sent (the invocation's creation time)
    and ends once it ran, 30 s later. Still a hop Checkout -> Shipping in a linked trace, no
    anomaly; the business transaction lasts until the delayed invocation completed.
    Source: restatedev/restate crates/worker/src/partition/state_machine/
    effect_interpreter.rs (restate.internal.start_time = creation_time),
    crates/tracing-instrumentation/src/tracer.rs (SpanModifyingTracer)."""
    b = SpanSet()
    for i in range(N):
        _restate_checkout(b, i, i * 60_000, ship_delay_ms=30_000)
    a = _analysed_each(b.store(),
                       {**_RESTATE_CALLS, "service:Checkout->service:Shipping": ("call", N)},
                       deliveries=())
    (flow,) = a.flows
    assert (flow["count"], flow["traces_per_flow"]) == (N, 2.0)
    assert flow["e2e_p50_ms"] == 150 + 30_000 + 60
    assert all(e["clock_skew_count"] == 0 for e in a.edges)


def test_restate_kafka_subscription_consumes_the_topic_by_partition_and_offset():
    """Restate 1.4+'s Kafka ingress: for each record of a subscription it opens
    "ingress_kafka OrderProcessor/onOrder" (INTERNAL, exported as service OrderProcessor:
    rpc.service, rpc.method, restate.invocation.id, messaging.system kafka,
    messaging.operation.type process, messaging.consumer.group.name,
    messaging.source.name = the topic, messaging.source.partition.id and
    messaging.kafka.offset). It looks for a traceparent among the invocation headers it
    built itself (kafka.offset, kafka.topic, ...), never the record's: the span is the root
    of a trace of its own. The producer (the Java agent's "orders publish": partition and
    offset of the record it sent) and the delivery name the same record, partition 0 at
    that offset: joined by that id, a delivery that lost its context (the one anomaly),
    each order one flow of two traces, and no publish left unconsumed.
    Source: restatedev/restate crates/ingress-kafka/src/builder.rs (EnvelopeBuilder::build,
    InvocationBuilder::create, prepare_tracing_span), crates/tracing-instrumentation/src/
    lib.rs (invocation_span!), crates/tracing-instrumentation/src/exporter.rs
    (UserServiceModifierSpanExporter)."""
    b = SpanSet()
    kafka = {"messaging.system": "kafka", "server.address": "kafka", "server.port": 9092}
    for i in range(N):
        t = i * 1000
        root = b.span("orders-api", "POST /orders", kind="SERVER", start_ms=t, dur_ms=20)
        b.span("orders-api", "orders publish", kind="PRODUCER", parent=root, start_ms=t + 2,
               dur_ms=3, attrs={**kafka, "messaging.destination.name": "orders",
                                "messaging.operation": "publish",
                                "messaging.kafka.message.key": f"order-{i}",
                                "messaging.destination.partition.id": "0",
                                "messaging.kafka.message.offset": 4100 + i})
        b.span("OrderProcessor", "ingress_kafka OrderProcessor/onOrder", start_ms=t + 40,
               dur_ms=0.05,
               attrs={**_rs("OrderProcessor", "onOrder", f"inv_1ord{i:04d}"),
                      "messaging.system": "kafka",
                      "messaging.consumer.group.name": "restate-order-processor",
                      "messaging.operation.type": "process", "messaging.kafka.offset": 4100 + i,
                      "messaging.source.partition.id": 0, "messaging.source.name": "orders"})
    st = b.store()
    a = analyze(st)
    assert _edges(a) == {"service:orders-api->topic:orders": ("publish", N),
                         "topic:orders->service:OrderProcessor": ("consume", N)}
    assert _systems(a) == {"topic:orders": "kafka"}
    consume = a.edge("topic:orders->service:OrderProcessor")
    assert consume["joined_by"] == {"context": 0, "message_id": N, "none": 0, "outside": 0}
    assert sorted((x["type"], x["where"], x["count"]) for x in a.anomalies) == [
        ("broken_context", "topic:orders->service:OrderProcessor", N)]
    assert _flows(a) == [("orders-api", N, 2.0)]


# ------------------------------------------------------------------------------ Hatchet
# hatchet-dev/hatchet sdks/python/hatchet_sdk/opentelemetry/instrumentor.py
# (HatchetInstrumentor, SDK >= 1.11) with the attribute names of
# sdks/python/hatchet_sdk/utils/opentelemetry.py (OTelAttribute) and Action.get_otel_
# attributes (hatchet_sdk/clients/dispatcher/action_listener.py):
#   AdminClient.run_workflow / aio_run_workflow -> PRODUCER "hatchet.run_workflow"
#     {hatchet.workflow_name, hatchet.payload, hatchet.priority, ...: every truthy value, "{}"
#     and "[]" left out}; schedule_workflow -> PRODUCER "hatchet.schedule_workflow";
#     run_workflows -> one PRODUCER "hatchet.run_workflows" {hatchet.num_workflows,
#     hatchet.unique_workflow_names} for the whole batch;
#   EventClient.push -> PRODUCER "hatchet.push_event" {hatchet.event_key, hatchet.payload,
#     ...}; bulk_push -> one PRODUCER "hatchet.bulk_push_event" {hatchet.num_events,
#     hatchet.unique_event_keys = json.dumps(a set, default=str)};
#   each of them injects its own context as "traceparent" into the additional metadata of
#   every run/event it sends. Hatchet copies additional metadata from an event to the runs
#   it triggers and from a parent run to its children (docs: additional-metadata).
#   Runner.handle_start_step_run -> CONSUMER "hatchet.start_step_run" whose parent is the
#     traceparent in the step's additional metadata {hatchet.tenant_id, hatchet.worker_id,
#     hatchet.workflow_run_id, hatchet.step_id, hatchet.step_run_id, hatchet.retry_count
#     (when not 0), hatchet.payload, hatchet.workflow_name, hatchet.action_name, ...},
#     status ERROR with the exception when the step failed. One span per step run attempt:
#     every step of a DAG workflow is a child of the one span that triggered the run.
# No messaging.* attribute anywhere. The engine is a queue: what a publish goes to is the
# workflow it triggers (hatchet.workflow_name) or the event key (hatchet.event_key), the
# system Hatchet; a correct map has one node per workflow or event, not one 'unknown' node
# for every Hatchet trigger, and a step run is identified by its hatchet.step_run_id.

_TENANT = "707d0855-80ab-4e1f-a156-f1c4546cbf52"


def _step(b: SpanSet, service: str, parent: SpanRef, t: float, dur: float, workflow: str,
          step: str, run: str, k: int, *, retry: int = 0, status: str = "UNSET") -> SpanRef:
    attrs: dict[str, Any] = {
        "hatchet.tenant_id": _TENANT, "hatchet.worker_id": f"{service}-7d9f",
        "hatchet.workflow_run_id": run, "hatchet.step_id": f"{workflow}-{step}-id",
        "hatchet.step_run_id": f"{run}-sr{k}", "hatchet.payload": '{"input": {}}',
        "hatchet.workflow_name": workflow, "hatchet.action_name": f"{workflow}:{step}",
        "hatchet.workflow_id": f"{workflow}-wf", "hatchet.workflow_version_id": f"{workflow}-v3"}
    if retry:
        attrs["hatchet.retry_count"] = retry
    return b.span(service, "hatchet.start_step_run", kind="CONSUMER", parent=parent,
                  start_ms=t, dur_ms=dur, status=status, attrs=attrs)


def _hops(a) -> list[tuple[str, str, int]]:
    """(type, service, count) of every edge, whatever its topic is named."""
    return sorted((e["type"], (e["target"] if e["type"] == "consume" else e["source"])
                   .removeprefix("service:"), e["count"]) for e in a.edges)


def _run_workflow(b: SpanSet, service: str, parent: SpanRef, t: float, workflow: str,
                  payload: dict[str, Any]) -> SpanRef:
    return b.span(service, "hatchet.run_workflow", kind="PRODUCER", parent=parent,
                  start_ms=t, dur_ms=9,
                  attrs={"hatchet.workflow_name": workflow,
                         "hatchet.payload": json.dumps(payload)})


def test_hatchet_dag_workflow_steps_are_deliveries_from_the_workflow_not_redeliveries():
    """shop-api runs the two-step DAG workflow "process-order" (hatchet.run_workflow,
    PRODUCER); order-worker runs both steps, each a "hatchet.start_step_run" CONSUMER child of
    that one producer span (the run's additional metadata carries its traceparent to every
    step). A publish to the workflow "process-order" (system hatchet) consumed by
    order-worker, two step runs (two hatchet.step_run_id) per run, all joined by context:
    two tasks of one run, no redelivery, no anomaly, one flow per order.
    Source: hatchet-dev/hatchet sdks/python/hatchet_sdk/opentelemetry/instrumentor.py
    (_wrap_run_workflow, _wrap_handle_start_step_run), hatchet_sdk/utils/opentelemetry.py."""
    b = SpanSet()
    for i in range(N):
        t = i * 1000
        root = b.span("shop-api", "POST /orders", kind="SERVER", start_ms=t, dur_ms=30)
        pub = _run_workflow(b, "shop-api", root, t + 3, "process-order", {"order_id": i})
        run = f"b6f1c3e2-{i:04d}-4a1d-9c1e-2f6b8a0d4c11"
        _step(b, "order-worker", pub, t + 40, 80, "process-order", "charge", run, 0)
        _step(b, "order-worker", pub, t + 41, 55, "process-order", "reserve", run, 1)
    a = analyze(b.store())
    # (what the topic is named is test_hatchet_event_triggers_the_workflows_of_two_services'
    # and test_hatchet_child_workflow_spawned_in_a_step's concern)
    assert _hops(a) == [("consume", "order-worker", 2 * N), ("publish", "shop-api", N)]
    consume = next(e for e in a.edges if e["type"] == "consume")
    assert consume["joined_by"] == {"context": 2 * N, "message_id": 0, "none": 0, "outside": 0}
    assert a.anomalies == []
    assert _flows(a) == [("shop-api", N, 1.0)]


def test_hatchet_event_triggers_the_workflows_of_two_services():
    """shop-api pushes the event "order:created" (hatchet.push_event, PRODUCER,
    hatchet.event_key); two workflows listen to it, in billing-worker and email-worker, and
    each runs one step as a child of the push span (Hatchet copies the event's metadata,
    traceparent included, to the runs it triggers). The event goes to its key
    "order:created", which Hatchet routes to the two workflows listening to it, as an
    exchange feeds its queues: a route from the key to each workflow (the step spans name
    their workflow), a delivery from each to its service, joined by context, no
    redelivery, no anomaly; one flow per order. Source: hatchet-dev/hatchet sdks/python/hatchet_sdk/opentelemetry/instrumentor.py
    (_wrap_push_event), docs.hatchet.run additional-metadata (events -> runs)."""
    b = SpanSet()
    for i in range(N):
        t = i * 1000
        root = b.span("shop-api", "POST /orders", kind="SERVER", start_ms=t, dur_ms=25)
        push = b.span("shop-api", "hatchet.push_event", kind="PRODUCER", parent=root,
                      start_ms=t + 4, dur_ms=7,
                      attrs={"hatchet.event_key": "order:created",
                             "hatchet.payload": json.dumps({"order_id": i})})
        _step(b, "billing-worker", push, t + 35, 60, "bill-order", "invoice",
              f"0c1d2e3f-{i:04d}-4b00-8000-00000000b111", 0)
        _step(b, "email-worker", push, t + 38, 20, "confirm-order", "send-email",
              f"0c1d2e3f-{i:04d}-4b00-8000-00000000e222", 0)
    a = _analysed_each(b.store(), {
        "service:shop-api->topic:order:created": ("publish", N),
        "topic:order:created->topic:bill-order": ("route", N),
        "topic:order:created->topic:confirm-order": ("route", N),
        "topic:bill-order->service:billing-worker": ("consume", N),
        "topic:confirm-order->service:email-worker": ("consume", N),
    }, deliveries=["topic:bill-order->service:billing-worker",
                   "topic:confirm-order->service:email-worker"])
    assert _systems(a) == {"topic:order:created": "hatchet", "topic:bill-order": "hatchet",
                           "topic:confirm-order": "hatchet"}
    assert _flows(a) == [("shop-api", N, 1.0)]


def test_hatchet_bulk_push_is_one_publish_of_several_events():
    """hatchet.bulk_push_event is one PRODUCER span for a whole batch
    (hatchet.num_events = 3, hatchet.unique_event_keys = json.dumps of a Python set with
    default=str: a quoted repr) and injects that one span's traceparent into every event:
    the three runs the events trigger each have a step span that is a child of it. Three
    events, each delivered once: three deliveries joined by context and no redelivery, no
    anomaly. Source: hatchet-dev/hatchet sdks/python/hatchet_sdk/opentelemetry/
    instrumentor.py (_wrap_bulk_push_event)."""
    b = SpanSet()
    keys = json.dumps({"order:created"}, default=str)
    for i in range(N):
        t = i * 1000
        root = b.span("importer", "import-batch", start_ms=t, dur_ms=40)
        push = b.span("importer", "hatchet.bulk_push_event", kind="PRODUCER", parent=root,
                      start_ms=t + 2, dur_ms=11,
                      attrs={"hatchet.num_events": 3, "hatchet.unique_event_keys": keys})
        for k in range(3):
            _step(b, "billing-worker", push, t + 30 + 15 * k, 40, "bill-order", "invoice",
                  f"7a7b7c7d-{i:04d}-4c00-8000-0000000000{k:02d}", 0)
    a = analyze(b.store())
    assert _hops(a) == [("consume", "billing-worker", 3 * N), ("publish", "importer", N)]
    consume = next(e for e in a.edges if e["type"] == "consume")
    assert consume["joined_by"] == {"context": 3 * N, "message_id": 0, "none": 0, "outside": 0}
    assert a.anomalies == []


def test_hatchet_child_workflow_spawned_in_a_step():
    """A step of "process-order" spawns the child workflow "ship-order" from inside its
    CONSUMER span (ctx.aio_run_workflow -> AdminClient.aio_run_workflow): a
    "hatchet.run_workflow" PRODUCER nested in the step span, whose traceparent the child's
    step (in shipping-worker) continues. Two hops of one trace: order-worker publishes to
    "ship-order", consumed by shipping-worker; one flow per order, no anomaly.
    Source: hatchet-dev/hatchet sdks/python/hatchet_sdk/opentelemetry/instrumentor.py
    (_wrap_async_run_workflow inside _wrap_handle_start_step_run)."""
    b = SpanSet()
    for i in range(N):
        t = i * 1000
        root = b.span("shop-api", "POST /orders", kind="SERVER", start_ms=t, dur_ms=30)
        pub = _run_workflow(b, "shop-api", root, t + 3, "process-order", {"order_id": i})
        step = _step(b, "order-worker", pub, t + 40, 120, "process-order", "charge",
                     f"b6f1c3e2-{i:04d}-4a1d-9c1e-2f6b8a0d4c11", 0)
        child = b.span("order-worker", "hatchet.run_workflow", kind="PRODUCER", parent=step,
                       start_ms=t + 130, dur_ms=8,
                       attrs={"hatchet.workflow_name": "ship-order",
                              "hatchet.payload": json.dumps({"order_id": i}),
                              "hatchet.parent_id": f"b6f1c3e2-{i:04d}-4a1d-9c1e-2f6b8a0d4c11",
                              "hatchet.parent_step_run_id":
                                  f"b6f1c3e2-{i:04d}-4a1d-9c1e-2f6b8a0d4c11-sr0"})
        _step(b, "shipping-worker", child, t + 170, 70, "ship-order", "book-courier",
              f"5e5e5e5e-{i:04d}-4d00-8000-00000000c0de", 0)
    a = _analysed_each(b.store(), {
        "service:shop-api->topic:process-order": ("publish", N),
        "topic:process-order->service:order-worker": ("consume", N),
        "service:order-worker->topic:ship-order": ("publish", N),
        "topic:ship-order->service:shipping-worker": ("consume", N),
    }, deliveries=["topic:process-order->service:order-worker",
                   "topic:ship-order->service:shipping-worker"])
    assert _flows(a) == [("shop-api", N, 1.0)]


def test_hatchet_retried_step_is_a_redelivery_of_its_step_run():
    """A one-step workflow whose step fails once: the first "hatchet.start_step_run" ends in
    ERROR, Hatchet retries the same step run (hatchet.retry_count = 1) and the second
    attempt succeeds; both are children of the run_workflow span. Two deliveries of one
    step run: the one anomaly is the redelivery (one per order), no message was lost.
    Source: hatchet-dev/hatchet sdks/python/hatchet_sdk/opentelemetry/instrumentor.py
    (_wrap_handle_start_step_run: status ERROR for a failed step), Action.get_otel_attributes
    (retry_count set when not 0)."""
    b = SpanSet()
    for i in range(N):
        t = i * 10_000
        root = b.span("shop-api", "POST /refunds", kind="SERVER", start_ms=t, dur_ms=30)
        pub = _run_workflow(b, "shop-api", root, t + 3, "refund", {"refund_id": i})
        run = f"9d8c7b6a-{i:04d}-4e00-8000-0000000f00d0"
        _step(b, "payments-worker", pub, t + 40, 90, "refund", "call-psp", run, 0,
              status="ERROR")
        _step(b, "payments-worker", pub, t + 5_130, 85, "refund", "call-psp", run, 0, retry=1)
    a = analyze(b.store())
    assert _hops(a) == [("consume", "payments-worker", 2 * N), ("publish", "shop-api", N)]
    consume = next(e for e in a.edges if e["type"] == "consume")
    assert consume["joined_by"] == {"context": 2 * N, "message_id": 0, "none": 0, "outside": 0}
    assert consume["error_count"] == N
    assert [(x["type"], x["count"], x["messages"]) for x in a.anomalies] == [
        ("redelivery", N, N)]
    assert _flows(a) == [("shop-api", N, 1.0)]


# ------------------------------------------------------------------------------ Airflow
# apache/airflow 2.10, airflow/traces/otel_tracer.py (OtelTrace), airflow/models/dagrun.py
# (DagRun.update_state, once the run is done) and airflow/jobs/scheduler_job_runner.py
# (_process_executor_events), with [traces] otel_on:
#   a finished DAG run emits one span named after the dag_id, in a trace whose id is derived
#   from the run (gen_trace_id), span id gen_dag_span_id, parent an INVALID context (a
#   root), started at dagrun.queued_at and ended at once, in update_state, when the run was
#   marked done {category "DAG runs", dag_id, run_id, run_type, external_trigger, state,
#   ...}; links: the current span's context (none in the scheduler loop: the all-zero
#   context, kept for its attributes {"meta.annotation_type": "link", "from":
#   "parenttrace"}) and, when the run's conf carries a traceparent (a REST trigger passing
#   its context), that span {"from": "traceparent"};
#   each task instance emits, when the scheduler processes its executor event, a span
#   named after the task_id, child of the DAG run span (same trace), started at
#   ti.queued_dttm {category "scheduler", task_id, dag_id, state, try_number, operator,
#   ...}, linking (trace id of the current span: zero, its own span id).
# Every span is INTERNAL, of service.name = [traces] otel_service ("Airflow"). The scheduler
# marks the run done as soon as the last task instance's state is success in the database;
# it processes that task's executor event on a later loop: the last task span ends after its
# parent.

_ZERO_TRACE = "0" * 32


def test_airflow_dag_run_and_task_spans_are_one_flow_with_its_rest_trigger():
    """ops-portal triggers the DAG "daily_report" through Airflow's REST API, passing its
    traceparent in the run's conf. Airflow exports the DAG run span (a root in a trace of its
    own, linking the all-zero context and the portal's client span) and a span per task
    under it, the last one ending after the DAG run span. Airflow's spans are one service
    and make no hop of their own; the links to the all-zero context name no span and are
    no lost context; the task ending after its parent is the scheduler's order of work,
    not clock skew. Each report is one flow of two traces (the portal's and the run's),
    with no anomaly. Source: apache/airflow airflow/traces/otel_tracer.py
    (start_span_from_dagrun, start_span_from_taskinstance), airflow/models/dagrun.py,
    airflow/jobs/scheduler_job_runner.py (2.10)."""
    b = SpanSet()
    for i in range(N):
        t = i * 120_000
        root = b.span("ops-portal", "POST /reports", kind="SERVER", start_ms=t, dur_ms=40,
                      attrs={"http.request.method": "POST", "http.route": "/reports",
                             "http.response.status_code": 202})
        cli = b.span("ops-portal", "POST", kind="CLIENT", parent=root, start_ms=t + 2,
                     dur_ms=30, attrs={"http.request.method": "POST",
                                       "server.address": "airflow-webserver",
                                       "server.port": 8080, "http.response.status_code": 200,
                                       "url.full": "http://airflow-webserver:8080/api/v1/"
                                                   "dags/daily_report/dagRuns"})
        q = t + 30  # queued_at
        dag = b.span("Airflow", "daily_report", start_ms=q, dur_ms=20_000,
                     links=[(SpanRef(_ZERO_TRACE, "0" * 16),
                             {"meta.annotation_type": "link", "from": "parenttrace"}),
                            (cli, {"meta.annotation_type": "link", "from": "traceparent"})],
                     attrs={"category": "DAG runs", "dag_id": "daily_report",
                            "run_id": f"manual__2024-09-0{i + 1}T06:00:00+00:00",
                            "run_type": "manual", "external_trigger": "True",
                            "state": "success"})
        for k, (task, s0, d) in enumerate((("extract", 900, 5_000), ("transform", 6_400, 6_000),
                                           ("load", 12_900, 8_100))):
            sid = "%016x" % (0x5a17 << 32 | i << 8 | k)
            b.span("Airflow", task, parent=dag, start_ms=q + s0, dur_ms=d, span_id=sid,
                   links=[(SpanRef(_ZERO_TRACE, sid),
                           {"meta.annotation_type": "link", "from": "parenttrace"})],
                   attrs={"category": "scheduler", "task_id": task, "dag_id": "daily_report",
                          "state": "success", "try_number": 1, "operator": "PythonOperator"})
    st = b.store()
    a = analyze(st)
    assert a.anomalies == []
    assert not [n for n in a.nodes if n["type"] == "topic"]
    assert all(e["source"] == "service:ops-portal" for e in a.edges)
    assert all(e["clock_skew_count"] == 0 for e in a.edges)
    assert _flows(a) == [("ops-portal", N, 2.0)]
    for e in a.edges:
        assert edge_detail(st, e["id"])["count"] == e["count"], e["id"]
