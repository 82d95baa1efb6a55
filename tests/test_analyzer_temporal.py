"""Span shapes of Temporal's tracing interceptors, read from each SDK's source: Go
(go.temporal.io/sdk/contrib/opentelemetry over the SDK's interceptor/tracing_interceptor.go),
Python (temporalio.contrib.opentelemetry.TracingInterceptor), TypeScript
(@temporalio/interceptors-opentelemetry) and Java (temporal-opentracing through the
OpenTelemetry OpenTracing shim).

Temporal is orchestration: an API service starts a workflow through the Temporal server; a
workflow worker runs it and schedules activities, which other worker services pick up from
their task queues. No span names a task queue or any messaging attribute: the interceptors
carry the span context in a Temporal header ("_tracer-data"), so the hops are parent links
across services -- calls, not topics. The scenario throughout: "POST /orders" in `api` starts
OrderWorkflow, run by `orders-worker`, which runs ChargePayment (in `payments-worker`), then
ReserveStock (in `inventory-worker`), then SendEmail (in `orders-worker` itself).
"""

from __future__ import annotations

from typing import Any

from analyzer import analyze, edge_detail, flow_for_trace
from tests.analysis_checks import edges_of as _edges
from tests.analysis_checks import flows_of as _flows
from tests.builders import SpanRef, SpanSet

N = 3
GAP = 5_000  # ms between workflows

# When things happen in one OrderWorkflow, ms after "POST /orders" starts (realistic for a
# worker polling a nearby Temporal cluster: ~8-10 ms schedule-to-start, a few ms per task):
START = (3, 18)            # client StartWorkflowExecution round trip
WF_STARTED = 10            # the workflow execution started (history event time)
TASKS = (14, 180, 396, 433)  # workflow tasks: start; after each activity completed
CHARGE = (24, 150)         # (start, duration) of the activity attempt
RESERVE = (190, 200)
EMAIL = (404, 25)
END = 436                  # the workflow completed

_CALLS = {
    "service:api->service:orders-worker": ("call", N),
    "service:orders-worker->service:payments-worker": ("call", N),
    "service:orders-worker->service:inventory-worker": ("call", N),
}
# The Python SDK's StartActivity CLIENT -> RunActivity SERVER of the workflow's own SendEmail
# activity: a call of the workflow worker to itself, through Temporal (a cycle of the map,
# reported as any other; no flow goes around it twice).
_PY_CALLS = {**_CALLS, "service:orders-worker->service:orders-worker": ("call", N)}
_SELF = [("cycle", "service:orders-worker -> service:orders-worker", 0)]


def _anoms(a) -> list[tuple[str, str, int]]:
    return sorted((x["type"], x["where"], x.get("loops", 0)) for x in a.anomalies)


def _hops(flow: dict[str, Any]) -> dict[tuple[str, str], float]:
    return {(h["hop"], h["kind"]): h["p50_ms"] for h in flow["critical_path"]}


# ------------------------------------------------------------------------------------ Go
# go.temporal.io/sdk/contrib/opentelemetry (tracing_interceptor.go) implements the SDK's
# generic interceptor.Tracer: StartSpan calls tracer.Start(ctx, Operation+":"+Name,
# trace.WithTimestamp(opts.Time)) with no span kind (so INTERNAL) and sets the tags as string
# attributes; Finish sets status Error with the error's text. interceptor/
# tracing_interceptor.go decides the spans:
#   client:   StartWorkflow:<type> {temporalWorkflowID}, parent = the caller's span, ended
#             when ExecuteWorkflow returns; SignalWorkflow:<signal>, QueryWorkflow:<query>
#   workflow: RunWorkflow:<type> {temporalWorkflowID, temporalRunID}, parent read from the
#             header (the StartWorkflow span), start time = WorkflowStartTime, ended when the
#             workflow function returns; HandleSignal:<signal> (parent = the signal's span,
#             from the header; not on replay); StartActivity:<type> and
#             StartChildWorkflow:<type> (parent = RunWorkflow, written to the header, ended
#             as soon as the command is scheduled: `defer span.Finish` around a call that
#             returns a Future)
#   activity: RunActivity:<type> {temporalWorkflowID, temporalRunID, temporalActivityID},
#             parent = the StartActivity span from the header, start = info.StartedTime;
#             one span per attempt.
def _go_order(b: SpanSet, t: float, i: int, *, signal: str | None = None) -> SpanRef:
    """One OrderWorkflow traced by the Go SDK; returns the api's root span. With ``signal``
    (the service that sends it), the workflow waits after ChargePayment for an "approve"
    signal that service sends 300 ms in, in its own trace."""
    wf = {"temporalWorkflowID": f"order-{1000 + i}"}
    run = {**wf, "temporalRunID": f"6f1c2a0e-{i:04d}-4b8e-9d1f-5e2a7c3b9a10"}
    delay = 160 if signal else 0  # the signal comes at +300: ReserveStock waits for it
    root = b.span("api", "POST /orders", kind="SERVER", start_ms=t, dur_ms=24,
                  attrs={"http.request.method": "POST", "http.route": "/orders",
                         "http.response.status_code": 202})
    start = b.span("api", "StartWorkflow:OrderWorkflow", parent=root, start_ms=t + START[0],
                   dur_ms=START[1], attrs=wf)
    rw = b.span("orders-worker", "RunWorkflow:OrderWorkflow", parent=start,
                start_ms=t + WF_STARTED, dur_ms=END + delay - WF_STARTED, attrs=run)
    for (name, svc, (s0, d), aid, task) in (
            ("ChargePayment", "payments-worker", CHARGE, "5", TASKS[0]),
            ("ReserveStock", "inventory-worker", (RESERVE[0] + delay, RESERVE[1]), "11",
             TASKS[1] + delay),
            ("SendEmail", "orders-worker", (EMAIL[0] + delay, EMAIL[1]), "17",
             TASKS[2] + delay)):
        sa = b.span("orders-worker", f"StartActivity:{name}", parent=rw, start_ms=t + task + 1,
                    dur_ms=0.02, attrs=run)
        b.span(svc, f"RunActivity:{name}", parent=sa, start_ms=t + s0, dur_ms=d,
               attrs={**run, "temporalActivityID": aid})
    if signal:
        sroot = b.span(signal, "POST /orders/{id}/approve", kind="SERVER", start_ms=t + 300,
                       dur_ms=14, attrs={"http.request.method": "POST",
                                         "http.route": "/orders/{id}/approve"})
        sig = b.span(signal, "SignalWorkflow:approve", parent=sroot, start_ms=t + 302,
                     dur_ms=9, attrs=wf)
        # the workflow task that delivers the signal; the workflow then schedules ReserveStock
        b.span("orders-worker", "HandleSignal:approve", parent=sig, start_ms=t + 338,
               dur_ms=0.1, attrs=run)
    return root


def test_go_order_workflow_is_calls_from_its_worker_to_the_activity_workers():
    """Go SDK: every Temporal span is INTERNAL and the hops are parent links across
    services (StartWorkflow -> RunWorkflow, StartActivity -> RunActivity). The map shows
    calls, no topic (no span names a task queue); one flow per workflow, in one trace,
    orchestrated by the workflow worker, lasting until the workflow completed.
    Source: temporalio/sdk-go contrib/opentelemetry/tracing_interceptor.go,
    interceptor/tracing_interceptor.go."""
    b = SpanSet()
    for i in range(N):
        _go_order(b, i * GAP, i)
    st = b.store()
    a = analyze(st)
    assert _edges(a) == _CALLS
    assert not [n for n in a.nodes if n["type"] == "topic"]
    assert _flows(a) == [("api", N, 1.0)]
    (flow,) = a.flows
    assert flow["style"] == "orchestration"
    assert flow["style_measure"]["central_service"] == "orders-worker"
    assert flow["e2e_p50_ms"] == END
    for e in a.edges:
        assert edge_detail(st, e["id"])["count"] == e["count"], e["id"]


def test_go_activity_run_after_its_start_span_ended_is_no_clock_skew():
    """StartActivity ends the moment the command is scheduled (tens of microseconds) and
    RunActivity starts ~10 ms later, when a worker polled the task: the child of an
    INTERNAL span in another service starting after that span ended is asynchronous
    work, as RunWorkflow (which outlives StartWorkflow by 400 ms), not clocks that
    disagree. Source: temporalio/sdk-go interceptor/tracing_interceptor.go
    (startNonReplaySpan, defer span.Finish in ExecuteActivity)."""
    b = SpanSet()
    for i in range(N):
        _go_order(b, i * GAP, i)
    a = analyze(b.store())
    assert a.anomalies == []
    assert all(e["clock_skew_count"] == 0 for e in a.edges)


def test_go_critical_path_goes_through_the_activity_workers():
    """The workflow waits for each activity before scheduling the next: its critical path
    runs through RunActivity:ChargePayment (150 ms in payments-worker) and
    RunActivity:ReserveStock (200 ms in inventory-worker, the bottleneck), which are
    children of StartActivity spans that ended long before -- not 380 ms of unexplained
    waiting in the workflow worker. Source: temporalio/sdk-go
    interceptor/tracing_interceptor.go."""
    b = SpanSet()
    roots = [_go_order(b, i * GAP, i) for i in range(N)]
    st = b.store()
    (flow,) = analyze(st).flows
    hops = _hops(flow)
    assert hops[("service:payments-worker", "processing")] == CHARGE[1]
    assert hops[("service:inventory-worker", "processing")] == RESERVE[1]
    assert flow["bottleneck"]["hop"] == "service:inventory-worker"
    assert hops.get(("", "wait"), 0.0) < 50
    one = flow_for_trace(st, roots[0].trace_id)
    on_path = {s["name"] for s in one["spans"] if s["on_critical_path"]}
    assert {"RunActivity:ChargePayment", "RunActivity:ReserveStock",
            "RunActivity:SendEmail"} <= on_path


def test_go_signal_from_another_service_belongs_to_the_workflow():
    """A back-office service signals the running workflow: its SignalWorkflow:approve span
    (temporalWorkflowID of the workflow) is the parent of the worker's HandleSignal:approve
    -- a call into orders-worker in the back office's own trace. The workflow was waiting
    for it (ReserveStock is scheduled after it), and both traces name the same workflow id:
    one flow per workflow, of two traces. Source: temporalio/sdk-go
    interceptor/tracing_interceptor.go (SignalWorkflow, HandleSignal)."""
    b = SpanSet()
    for i in range(N):
        _go_order(b, i * GAP, i, signal="backoffice")
    a = analyze(b.store())
    assert _edges(a) == {**_CALLS, "service:backoffice->service:orders-worker": ("call", N)}
    assert _flows(a) == [("api", N, 2.0)]


def test_go_child_workflow_is_a_call_to_the_worker_that_runs_it():
    """StartChildWorkflow:ShipmentWorkflow (ended when scheduled, parent RunWorkflow) is the
    parent of the child's RunWorkflow:ShipmentWorkflow in `shipping-worker`, which runs its
    own activity there: one more call of the orchestrator, in the same trace and flow.
    Source: temporalio/sdk-go interceptor/tracing_interceptor.go (ExecuteChildWorkflow)."""
    b = SpanSet()
    for i in range(N):
        t = i * GAP
        root = _go_order(b, t, i)
        rw = next(s.ref for s in b.spans if s.name == "RunWorkflow:OrderWorkflow"
                  and s.ref.trace_id == root.trace_id)
        run = {"temporalWorkflowID": f"order-{1000 + i}-shipment",
               "temporalRunID": f"0b7d9e4c-{i:04d}-4c1a-8f2e-3a6b5d9c7e21"}
        sc = b.span("orders-worker", "StartChildWorkflow:ShipmentWorkflow", parent=rw,
                    start_ms=t + 181, dur_ms=0.03, attrs=run)
        cw = b.span("shipping-worker", "RunWorkflow:ShipmentWorkflow", parent=sc,
                    start_ms=t + 185, dur_ms=90, attrs=run)
        sa = b.span("shipping-worker", "StartActivity:BookCourier", parent=cw,
                    start_ms=t + 192, dur_ms=0.02, attrs=run)
        b.span("shipping-worker", "RunActivity:BookCourier", parent=sa, start_ms=t + 200,
               dur_ms=60, attrs={**run, "temporalActivityID": "5"})
    a = analyze(b.store())
    assert _edges(a) == {**_CALLS,
                         "service:orders-worker->service:shipping-worker": ("call", N)}
    (flow,) = a.flows
    assert flow["count"] == N and flow["traces_per_flow"] == 1.0
    assert flow["style"] == "orchestration"
    assert flow["style_measure"]["central_service"] == "orders-worker"


# -------------------------------------------------------------------------------- Python
# temporalio/contrib/opentelemetry/_interceptor.py (TracingInterceptor):
#   client:   StartWorkflow:<type> CLIENT {temporalWorkflowID} (start_as_current_span, the
#             context injected into the start request's header); SignalWorkflow:<signal>
#             CLIENT, QueryWorkflow:<query> CLIENT, StartWorkflowUpdate:<update> CLIENT
#   workflow: every span is made by _completed_span: started and ended at once at
#             workflow.time_ns() (the activation's time: "not replay-safe to keep an unended
#             long-running span"), attributes {temporalWorkflowID, temporalRunID}, parent =
#             the context from the *workflow's start header* (the StartWorkflow span): so
#             RunWorkflow:<type> (SERVER), StartActivity:<type> (CLIENT, the new context put on
#             the activity's header), HandleSignal:<signal> (SERVER, linking the signal's
#             span) and CompleteWorkflow:<type> (INTERNAL) are all siblings under
#             StartWorkflow -- as the SDK's own test dumps them (tests/contrib/opentelemetry/
#             test_opentelemetry.py: "StartWorkflow:TracingWorkflow / RunWorkflow /
#             HandleSignal:signal (links: SignalWorkflow:signal) / StartActivity / RunActivity
#             / RunActivity / CompleteWorkflow").
#   activity: RunActivity:<type> SERVER {temporalActivityID, temporalWorkflowID,
#             temporalRunID}, parent = the StartActivity span from the header; one per
#             attempt, status ERROR ("<Type>: <message>") for a failed one.
def _py_order(b: SpanSet, t: float, i: int, *, retry_after: float | None = None,
              signal: str | None = None) -> SpanRef:
    """One OrderWorkflow traced by the Python SDK; returns the api's root. With
    ``retry_after``, ChargePayment's first attempt fails after 60 ms and the retry starts
    that many ms after the failure (the retry policy's backoff). With ``signal``, that
    service signals "approve" 300 ms in and the workflow waits for it after ChargePayment."""
    wf = {"temporalWorkflowID": f"order-{2000 + i}"}
    run = {**wf, "temporalRunID": f"8c2e4f1a-{i:04d}-4d3b-a7e9-1f6c8b2d4e50"}
    shift = (60 + retry_after) if retry_after is not None else 0
    shift += 160 if signal else 0
    root = b.span("api", "POST /orders", kind="SERVER", start_ms=t, dur_ms=24,
                  attrs={"http.request.method": "POST", "http.route": "/orders",
                         "http.response.status_code": 202})
    start = b.span("api", "StartWorkflow:OrderWorkflow", kind="CLIENT", parent=root,
                   start_ms=t + START[0], dur_ms=START[1], attrs=wf)

    def instant(name: str, kind: str, at: float,
                links: tuple[SpanRef, ...] = ()) -> SpanRef:
        return b.span("orders-worker", name, kind=kind, parent=start, start_ms=t + at,
                      dur_ms=0, attrs=run, links=links)

    instant("RunWorkflow:OrderWorkflow", "SERVER", TASKS[0])
    sa = instant("StartActivity:ChargePayment", "CLIENT", TASKS[0])
    if retry_after is not None:
        b.span("payments-worker", "RunActivity:ChargePayment", kind="SERVER", parent=sa,
               start_ms=t + CHARGE[0], dur_ms=60, status="ERROR",
               attrs={"temporalActivityID": "1", **run})
        b.span("payments-worker", "RunActivity:ChargePayment", kind="SERVER", parent=sa,
               start_ms=t + CHARGE[0] + 60 + retry_after, dur_ms=CHARGE[1],
               attrs={"temporalActivityID": "1", **run})
    else:
        b.span("payments-worker", "RunActivity:ChargePayment", kind="SERVER", parent=sa,
               start_ms=t + CHARGE[0], dur_ms=CHARGE[1],
               attrs={"temporalActivityID": "1", **run})
    if signal:
        sroot = b.span(signal, "POST /orders/{id}/approve", kind="SERVER",
                       start_ms=t + shift + 140, dur_ms=14,
                       attrs={"http.request.method": "POST",
                              "http.route": "/orders/{id}/approve"})
        sig = b.span(signal, "SignalWorkflow:approve", kind="CLIENT", parent=sroot,
                     start_ms=t + shift + 142, dur_ms=9, attrs=wf)
        instant("HandleSignal:approve", "SERVER", shift + 178, links=(sig,))
    sa = instant("StartActivity:ReserveStock", "CLIENT", TASKS[1] + shift)
    b.span("inventory-worker", "RunActivity:ReserveStock", kind="SERVER", parent=sa,
           start_ms=t + RESERVE[0] + shift, dur_ms=RESERVE[1],
           attrs={"temporalActivityID": "2", **run})
    sa = instant("StartActivity:SendEmail", "CLIENT", TASKS[2] + shift)
    b.span("orders-worker", "RunActivity:SendEmail", kind="SERVER", parent=sa,
           start_ms=t + EMAIL[0] + shift, dur_ms=EMAIL[1],
           attrs={"temporalActivityID": "3", **run})
    instant("CompleteWorkflow:OrderWorkflow", "INTERNAL", TASKS[3] + shift)
    return root


def test_python_workflow_spans_are_instants_under_the_client_start():
    """Python SDK: the workflow's spans are zero-length and all children of the client's
    StartWorkflow span, StartActivity spans included (CLIENT, with their activity's
    RunActivity SERVER child in the activity worker). Still one call from api to the
    workflow worker per workflow (five spans of it under one StartWorkflow), one call per
    activity, no anomaly, and a flow that lasts until CompleteWorkflow.
    Source: temporalio/sdk-python temporalio/contrib/opentelemetry/_interceptor.py."""
    b = SpanSet()
    for i in range(N):
        _py_order(b, i * GAP, i)
    st = b.store()
    a = analyze(st)
    assert _edges(a) == _PY_CALLS
    assert _flows(a) == [("api", N, 1.0)]
    (flow,) = a.flows
    assert flow["style"] == "orchestration"
    assert flow["style_measure"]["central_service"] == "orders-worker"
    assert flow["e2e_p50_ms"] == TASKS[3]
    for e in a.edges:
        assert edge_detail(st, e["id"])["count"] == e["count"], e["id"]
    assert _anoms(a) == _SELF  # no clock skew: the instants are async, not skewed


def test_python_critical_path_goes_through_the_activity_workers():
    """The critical path of the Python-traced workflow runs from the StartWorkflow call
    through each RunActivity (CLIENT StartActivity -> SERVER RunActivity, which ends ~150
    and ~200 ms after its zero-length client span) to CompleteWorkflow.
    Source: temporalio/sdk-python temporalio/contrib/opentelemetry/_interceptor.py."""
    b = SpanSet()
    for i in range(N):
        _py_order(b, i * GAP, i)
    (flow,) = analyze(b.store()).flows
    hops = _hops(flow)
    assert hops[("service:payments-worker", "processing")] == CHARGE[1]
    assert hops[("service:inventory-worker", "processing")] == RESERVE[1]
    assert flow["bottleneck"]["hop"] == "service:inventory-worker"


def test_python_retried_activity_attempts_share_their_start_span():
    """ChargePayment fails once (the payment gateway timed out) and Temporal retries it
    after the retry policy's 1 s initial interval: two RunActivity:ChargePayment SERVER
    spans, the first with status ERROR, both children of the one StartActivity span (the
    header is the activity's, the same for every attempt). The payments worker ran twice,
    once failing -- as a redelivered message is delivered twice -- and the 1 s backoff lies
    on the workflow's critical path as retry time of the activity's hop.
    Source: temporalio/sdk-python temporalio/contrib/opentelemetry/_interceptor.py
    (_TracingActivityInboundInterceptor); the SDK's test expects "StartActivity /
    RunActivity / RunActivity" for an activity failing its first attempt."""
    b = SpanSet()
    for i in range(N):
        _py_order(b, i * GAP, i, retry_after=1_000)
    st = b.store()
    a = analyze(st)
    pay = "service:orders-worker->service:payments-worker"
    assert _edges(a) == {**_PY_CALLS, pay: ("call", 2 * N)}
    assert a.edge(pay)["error_count"] == N
    assert _flows(a) == [("api", N, 1.0)]
    (flow,) = a.flows
    hops = _hops(flow)
    assert hops[("service:payments-worker", "processing")] == 60 + CHARGE[1]
    assert hops[(pay, "retry")] == 1_000
    assert edge_detail(st, pay)["count"] == 2 * N


def test_python_signal_handler_links_the_signal_sender():
    """HandleSignal:approve is a SERVER instant in the workflow's trace (child of
    StartWorkflow, like every workflow span) linking the back office's
    SignalWorkflow:approve CLIENT span in the back office's trace: the signal reaches the
    workflow worker through the link, and the two traces are one flow per workflow (by the
    link, and by the workflow id both carry). (The map does not draw the back office
    calling the worker: a link from a SERVER span is not read as a call. Left alone.)
    Source: temporalio/sdk-python temporalio/contrib/opentelemetry/_interceptor.py
    (handle_signal: link_context_carrier from the signal's header)."""
    b = SpanSet()
    for i in range(N):
        _py_order(b, i * GAP, i, signal="backoffice")
    a = analyze(b.store())
    assert _flows(a) == [("api", N, 2.0)]
    assert _edges(a) == _PY_CALLS


# ---------------------------------------------------------------------------- TypeScript
# @temporalio/interceptors-opentelemetry: instrument() calls tracer.startActiveSpan(name,
# spanOptions = {}) -- no kind, so INTERNAL -- and ends the span when the wrapped promise
# settles (status OK, or ERROR with the exception). Client (client/index.ts):
# StartWorkflow:<type> {temporalWorkflowId, run_id}, SignalWorkflow:<signal>, ... Workflow
# (workflow/index.ts): RunWorkflow:<type>, parent from the start header, lasting the
# workflow function; StartActivity:<type> wraps scheduleActivity, whose promise is the
# activity's *result*: the span lasts until the activity completed, and RunActivity is
# inside it. Workflow spans are exported through a sink, which merges the WorkflowInfo
# into their attributes (worker/index.ts makeWorkflowExporter: Object.assign(
# serialized.attributes, info)): workflowId, runId, workflowType, taskQueue, namespace...
# Activity (worker/index.ts): RunActivity:<type> {temporalWorkflowId, run_id,
# temporalActivityId}, parent from the activity's header.
def _ts_order(b: SpanSet, t: float, i: int) -> SpanRef:
    wid, rid = f"order-{3000 + i}", f"3e9a7c5b-{i:04d}-4f2d-b8c1-6d4a2e9f7b30"
    info = {"workflowId": wid, "runId": rid, "workflowType": "OrderWorkflow",
            "taskQueue": "orders", "namespace": "default", "attempt": 1,
            "firstExecutionRunId": rid}
    root = b.span("api", "POST /orders", kind="SERVER", start_ms=t, dur_ms=24,
                  attrs={"http.request.method": "POST", "http.route": "/orders",
                         "http.response.status_code": 202})
    start = b.span("api", "StartWorkflow:OrderWorkflow", parent=root, start_ms=t + START[0],
                   dur_ms=START[1], status="OK",
                   attrs={"temporalWorkflowId": wid, "run_id": rid})
    rw = b.span("orders-worker", "RunWorkflow:OrderWorkflow", parent=start,
                start_ms=t + TASKS[0], dur_ms=TASKS[3] - TASKS[0], status="OK", attrs=info)
    for (name, svc, (s0, d), aid, task, done) in (
            ("ChargePayment", "payments-worker", CHARGE, "1", TASKS[0], TASKS[1]),
            ("ReserveStock", "inventory-worker", RESERVE, "2", TASKS[1], TASKS[2]),
            ("SendEmail", "orders-worker", EMAIL, "3", TASKS[2], TASKS[3])):
        sa = b.span("orders-worker", f"StartActivity:{name}", parent=rw, start_ms=t + task,
                    dur_ms=done - task, status="OK", attrs=info)
        b.span(svc, f"RunActivity:{name}", parent=sa, start_ms=t + s0, dur_ms=d, status="OK",
               attrs={"temporalWorkflowId": wid, "run_id": rid, "temporalActivityId": aid})
    return root


def test_typescript_start_activity_span_lasts_until_the_activity_completed():
    """TypeScript SDK: INTERNAL spans, and StartActivity spans that wait for the activity's
    result, so each RunActivity lies inside its StartActivity span. Calls only (the
    workflow spans' taskQueue attribute is no messaging destination), one flow per
    workflow, orchestrated by the workflow worker, no anomaly, and a critical path through
    the activity workers. Source: temporalio/sdk-typescript
    packages/interceptors-opentelemetry/src/{instrumentation.ts, client/index.ts,
    workflow/index.ts, worker/index.ts}."""
    b = SpanSet()
    for i in range(N):
        _ts_order(b, i * GAP, i)
    st = b.store()
    a = analyze(st)
    assert _edges(a) == _CALLS
    assert _flows(a) == [("api", N, 1.0)]
    (flow,) = a.flows
    assert flow["style"] == "orchestration"
    assert flow["e2e_p50_ms"] == TASKS[3]
    hops = _hops(flow)
    assert hops[("service:payments-worker", "processing")] == CHARGE[1]
    assert hops[("service:inventory-worker", "processing")] == RESERVE[1]
    assert flow["bottleneck"]["hop"] == "service:inventory-worker"
    for e in a.edges:
        assert edge_detail(st, e["id"])["count"] == e["count"], e["id"]
    # RunWorkflow outlives StartWorkflow (a workflow runs long after it was started): no skew
    assert a.anomalies == []


# ---------------------------------------------------------------------------------- Java
# io.temporal:temporal-opentracing, with OpenTelemetry's OpenTracing shim as the tracer.
# SpanFactory / ActionTypeAndNameSpanBuilderProvider: "<Operation>:<name>" spans, tags
# workflowId and runId (parentWorkflowId/parentRunId on StartChildWorkflow; none on
# QueryWorkflow/HandleQuery), no span.kind tag (so the shim makes INTERNAL spans). The
# parent is the active span if any, else the context from the Temporal header, added as a
# FOLLOWS_FROM (RunWorkflow, RunActivity, HandleSignal, HandleQuery, SignalWorkflow,
# QueryWorkflow) or CHILD_OF (StartActivity, StartChildWorkflow) reference; the shim's
# SpanBuilderShim.addReference makes the first reference the parent, whatever its type.
# StartActivity (OpenTracingWorkflowOutboundCallsInterceptor.executeActivity) is finished
# when executeActivity returns its promise; RunWorkflow when the workflow method returns.
# A failure: logFail sets "failed"=true and the "error" tag (the shim's span status ERROR).
def _java_order(b: SpanSet, t: float, i: int, *, query: str | None = None) -> SpanRef:
    ids = {"workflowId": f"order-{4000 + i}",
           "runId": f"5d8b1f3e-{i:04d}-4a6c-9e2b-7c1d3f5a8e60"}
    root = b.span("api", "POST /orders", kind="SERVER", start_ms=t, dur_ms=24,
                  attrs={"http.request.method": "POST", "http.route": "/orders",
                         "http.response.status_code": 202})
    start = b.span("api", "StartWorkflow:OrderWorkflow", parent=root, start_ms=t + START[0],
                   dur_ms=START[1], attrs={"workflowId": ids["workflowId"]})
    rw = b.span("orders-worker", "RunWorkflow:OrderWorkflow", parent=start,
                start_ms=t + TASKS[0], dur_ms=END - TASKS[0], attrs=ids)
    for (name, svc, (s0, d), task) in (
            ("ChargePayment", "payments-worker", CHARGE, TASKS[0]),
            ("ReserveStock", "inventory-worker", RESERVE, TASKS[1]),
            ("SendEmail", "orders-worker", EMAIL, TASKS[2])):
        sa = b.span("orders-worker", f"StartActivity:{name}", parent=rw, start_ms=t + task + 1,
                    dur_ms=0.3, attrs=ids)
        b.span(svc, f"RunActivity:{name}", parent=sa, start_ms=t + s0, dur_ms=d, attrs=ids)
    if query:
        qroot = b.span(query, "GET /orders/{id}/status", kind="SERVER", start_ms=t + 250,
                       dur_ms=20, attrs={"http.request.method": "GET",
                                         "http.route": "/orders/{id}/status"})
        qs = b.span(query, "QueryWorkflow:getStatus", parent=qroot, start_ms=t + 252,
                    dur_ms=15)
        b.span("orders-worker", "HandleQuery:getStatus", parent=qs, start_ms=t + 258,
               dur_ms=0.4)
    return root


def test_java_opentracing_shim_spans_are_calls_to_each_worker():
    """Java SDK through the OpenTracing shim: INTERNAL spans with workflowId/runId tags,
    FOLLOWS_FROM references made parents. As for Go: calls from the workflow worker to
    each activity worker, no topic, one orchestrated flow per workflow, and no clock skew
    for RunActivity spans that start after their StartActivity ended. A dashboard's query
    of the workflow's status (QueryWorkflow -> HandleQuery, no tags) is a call in its own
    trace that changes nothing in the workflow: a flow of its own.
    Source: temporalio/sdk-java temporal-opentracing (SpanFactory,
    ActionTypeAndNameSpanBuilderProvider, StandardTagNames,
    OpenTracingWorkflowOutboundCallsInterceptor); open-telemetry/opentelemetry-java
    opentracing-shim SpanBuilderShim."""
    b = SpanSet()
    for i in range(N):
        _java_order(b, i * GAP, i, query="dashboard")
    a = analyze(b.store())
    assert _edges(a) == {**_CALLS, "service:dashboard->service:orders-worker": ("call", N)}
    assert sorted(_flows(a)) == [("api", N, 1.0), ("dashboard", N, 1.0)]
    flow = next(f for f in a.flows if f["entry_service"] == "api")
    assert flow["style"] == "orchestration"
    assert flow["style_measure"]["central_service"] == "orders-worker"
    assert a.anomalies == []
