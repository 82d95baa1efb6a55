"""Durable Task (Azure Durable Functions, the Durable Task Scheduler SDKs), read from
microsoft/durabletask-dotnet src/Shared/Grpc/Tracing/{TraceHelper,Schema,
TraceActivityConstants}.cs (adapted from Azure/durabletask's DurableTask.Core tracing):

- the client scheduling an orchestration opens "create_orchestration:<name>", a PRODUCER
  span (durabletask.type orchestration, durabletask.task.name / instance_id /
  execution_id) and writes the current context into the CreateInstanceRequest;
- the worker runs the orchestration under "orchestration:<name>", a SERVER span whose parent
  is that context and whose start is kept across replays (it ends when the orchestration
  completes);
- each scheduled activity is an "activity:<name>" CLIENT span under the orchestration,
  emitted on completion with the scheduling time as its start (error status if it failed),
  and the activity worker's "activity:<name>" SERVER span under it;
- a timer is an INTERNAL "orchestration:<name>:timer" span; raising an event is an
  "orchestration_event:<event>" PRODUCER span, delivered to the orchestration's history with
  no span of its own.
No span names a messaging system or a destination: the task hub is the orchestration's own
state, not a topic. Starting an orchestration is a call of the client to the worker that runs
it (as Temporal's StartWorkflow is), not a publish nobody consumed.
"""

from __future__ import annotations

from typing import Any

from analyzer import edge_detail
from tests.analysis_checks import analysed_each, flows_of
from tests.builders import SpanRef, SpanSet

N = 3


def _dt(kind: str, name: str, instance: str, **extra: Any) -> dict[str, Any]:
    return {"durabletask.type": kind, "durabletask.task.name": name,
            "durabletask.task.instance_id": instance, **extra}


def _order(b: SpanSet, i: int, t: float, worker: str, activities: dict[str, str],
           event: bool = False) -> SpanRef:
    """order-api starts ProcessOrder for order ``i`` at ``t``; ``worker`` runs it and calls
    each activity (name -> the service that runs it) in turn. Returns the request span."""
    inst = f"order-{4200 + i}"
    root = b.span("order-api", "POST /orders", kind="SERVER", start_ms=t, dur_ms=9,
                  attrs={"http.request.method": "POST", "http.route": "/orders",
                         "http.response.status_code": 202})
    create = b.span("order-api", "create_orchestration:ProcessOrder", kind="PRODUCER",
                    parent=root, start_ms=t + 2, dur_ms=4,
                    attrs=_dt("orchestration", "ProcessOrder", inst,
                              **{"durabletask.task.execution_id": f"e{i}"}))
    orch = b.span(worker, "orchestration:ProcessOrder", kind="SERVER", parent=create,
                  start_ms=t + 30, dur_ms=400,
                  attrs=_dt("orchestration", "ProcessOrder", inst,
                            **{"durabletask.task.status": "Completed"}))
    at = t + 35
    for k, (name, svc) in enumerate(activities.items()):
        call = b.span(worker, f"activity:{name}", kind="CLIENT", parent=orch, start_ms=at,
                      dur_ms=90, attrs=_dt("activity", name, inst,
                                           **{"durabletask.task.task_id": k}))
        b.span(svc, f"activity:{name}", kind="SERVER", parent=call, start_ms=at + 15,
               dur_ms=60, attrs=_dt("activity", name, inst,
                                    **{"durabletask.task.task_id": k}))
        at += 100
    b.span(worker, "orchestration:ProcessOrder:timer", parent=orch, start_ms=at,
           dur_ms=50, attrs=_dt("timer", "ProcessOrder", inst,
                                **{"durabletask.fire_at": "2026-11-30T10:00:00Z"}))
    if event:
        # the customer approves the order: the event lands in the orchestration's history
        ok = b.span("order-api", "POST /orders/{id}/approve", kind="SERVER",
                    start_ms=t + 200, dur_ms=6)
        b.span("order-api", "orchestration_event:Approved", kind="PRODUCER", parent=ok,
               start_ms=t + 201, dur_ms=3,
               attrs={"durabletask.type": "event", "durabletask.task.name": "Approved",
                      "durabletask.event.target_instance_id": inst})
    return root


def test_starting_an_orchestration_is_a_call_to_its_worker_not_a_publish():
    b = SpanSet()
    for i in range(N):
        _order(b, i, i * 1000, "order-worker",
               {"ChargePayment": "payment-worker", "ReserveStock": "inventory-worker"},
               event=True)
    st = b.store()
    a = analysed_each(st, {
        "service:order-api->service:order-worker": ("call", N),
        "service:order-worker->service:payment-worker": ("call", N),
        "service:order-worker->service:inventory-worker": ("call", N),
    }, [])
    assert not a.anomalies, a.anomalies
    # (the orchestration runs 400 ms after the request's 4 ms create span ended: a call of
    # its own, timed by the orchestration)
    assert a.edge("service:order-api->service:order-worker")["p50_ms"] == 400.0
    assert edge_detail(st, "service:order-api->service:order-worker")["count"] == N
    (flow,) = [f for f in a.flows if f["entry_service"] == "order-api"
               and f["name"].startswith("POST /orders ")]
    assert flow["count"] == N and flow["traces_per_flow"] == 1.0
    # (each approval is a request of its own: its event has no span where it lands)
    assert sorted(flows_of(a)) == [("order-api", N, 1.0), ("order-api", N, 1.0)]


def test_durable_functions_app_running_its_own_orchestration_calls_only_its_activities():
    """Durable Functions: the HTTP starter, the orchestrator and an activity live in one
    function app; one activity runs in another app. Starting the orchestration is work of
    the app itself, no call; the activity in the same app is the app calling itself through
    the task hub (as Temporal's Python SDK starting an activity of the workflow's own
    worker), reported as a cycle like any other."""
    b = SpanSet()
    for i in range(N):
        _order(b, i, i * 1000, "order-api",
               {"ValidateOrder": "order-api", "ChargePayment": "payment-worker"})
    a = analysed_each(b.store(), {
        "service:order-api->service:order-api": ("call", N),
        "service:order-api->service:payment-worker": ("call", N),
    }, [], [("cycle", "service:order-api -> service:order-api", N)])
    assert flows_of(a) == [("order-api", N, 1.0)]
