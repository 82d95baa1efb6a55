"""Dapr's own tracing (the daprd sidecar, dapr/dapr 1.13+) mixed with the apps' OpenTelemetry
spans, for what tests/test_analyzer_libraries.py (pub/sub publish through the sidecar) and
tests/test_analyzer_dotnet_round2.py (bulk subscriptions) do not cover: service invocation
through two sidecars, its resiliency retries, state store calls, input and output bindings,
actors and their reminders, subscription retries, raw-payload subscriptions and workflows.

What the sidecar exports, as read from dapr/dapr:
- Every sidecar span has service.name = the app id (pkg/runtime/runtime.go setupTracing:
  resource semconv.ServiceNameKey = runtimeConfig.id): the app and its sidecar are one service.
- The HTTP API (pkg/diagnostics/http_tracing.go HTTPTraceMiddleware) opens a CLIENT span named
  by the request path, child of the app's traceparent, renamed when the endpoint says so, with
  dapr.api "<METHOD> <path>", dapr.protocol "http", dapr.status_code, and the endpoint group's
  attributes (pkg/api/http/http.go, directmessaging.go, actors endpoints): invoke ->
  "CallLocal/<app-id>/<method>", rpc.service ServiceInvocation, net.peer.name <app-id>;
  actor method -> "CallActor/<type>/<method>", net.peer.name and dapr.actor "<type>.<id>";
  state -> db.system "state", db.name <store>, db.statement "<METHOD> <path>",
  db.connection_string "state"; bindings -> db.system "bindings", db.name <binding>; actor
  timers and reminders: none (AppendSpanAttributes nil, "TODO").
- The gRPC API and the internal sidecar-to-sidecar service (pkg/diagnostics/grpc_tracing.go):
  "/dapr.proto.internals.*" -> SERVER span, any other unary method -> CLIENT span, named by the
  full method and renamed by spanAttributesMapFromGRPC (CallLocalStream / InternalInvokeRequest
  -> "CallLocal/<own app id>/<method>" with dapr.invoke_method, or "CallActor/<type>/<method>"
  with dapr.actor; Dapr API requests by pkg/proto/runtime/v1/dapr_tracing.go
  AppendSpanAttributes: InvokeService "CallLocal/<id>/<method>", GetState/SaveState db.*).
- The sidecar calls its app (pkg/channel/http/http_channel.go) with no span of its own: it
  passes the current span's traceparent, so the app's server span is that span's child.
- Deliveries to the app (pkg/diagnostics/tracing.go StartInternalCallbackSpan): a CLIENT span
  "pubsub/<topic>" (pkg/runtime/subscription/postman/http/http.go) or "bindings/<name>"
  (pkg/runtime/processor/binding, sendBindingEventToApp), child of the traceparent found in
  the CloudEvent / the binding's metadata, else a root.
"""

from __future__ import annotations

from typing import Any

from analyzer import analyze
from tests.analysis_checks import analysed_each, edges_of, flows_of, systems_of
from tests.builders import SpanRef, SpanSet

N = 3


def _to_sidecar(method: str, path: str, status: int = 200) -> dict[str, Any]:
    """The app's HTTP client span to its sidecar (OTel HTTP client instrumentation)."""
    return {"http.request.method": method, "server.address": "localhost", "server.port": 3500,
            "url.full": f"http://localhost:3500/{path}", "http.response.status_code": status}


def _grpc_to_sidecar(service: str, method: str) -> dict[str, Any]:
    """The app's gRPC client span to its sidecar (otelgrpc)."""
    return {"rpc.system": "grpc", "rpc.service": service, "rpc.method": method,
            "server.address": "localhost", "server.port": 50001}


def _server(method: str, route: str, status: int = 200) -> dict[str, Any]:
    return {"http.request.method": method, "http.route": route,
            "http.response.status_code": status}


def _dapr_http(method: str, path: str, status: int) -> dict[str, Any]:
    """What HTTPTraceMiddleware adds to every HTTP API span."""
    return {"dapr.api": f"{method} {path}", "dapr.protocol": "http",
            "dapr.status_code": str(status)}


def _invoke(b: SpanSet, caller: str, target: str, method: str, parent: SpanRef, t: float,
            grpc: bool = False) -> SpanRef:
    """An app invoking ``target``'s ``method`` through its sidecar; returns the caller
    sidecar's "CallLocal/<target>/<method>" CLIENT span."""
    if grpc:
        call = b.span(caller, "dapr.proto.runtime.v1.Dapr/InvokeService", kind="CLIENT",
                      parent=parent, start_ms=t, dur_ms=14,
                      attrs=_grpc_to_sidecar("dapr.proto.runtime.v1.Dapr", "InvokeService"))
        attrs = {"dapr.api": "/dapr.proto.runtime.v1.Dapr/InvokeService",
                 "dapr.protocol": "grpc"}
    else:
        path = f"v1.0/invoke/{target}/method/{method}"
        call = b.span(caller, "POST", kind="CLIENT", parent=parent, start_ms=t, dur_ms=14,
                      attrs=_to_sidecar("POST", path))
        attrs = _dapr_http("POST", "/" + path, 200)
    return b.span(caller, f"CallLocal/{target}/{method}", kind="CLIENT", parent=call,
                  start_ms=t + 0.3, dur_ms=13.4,
                  attrs={"rpc.service": "ServiceInvocation", "net.peer.name": target, **attrs})


def _call_local(b: SpanSet, target: str, method: str, parent: SpanRef, t: float,
                dur: float) -> SpanRef:
    """The target sidecar's SERVER span of the internal CallLocalStream."""
    return b.span(target, f"CallLocal/{target}/{method}", kind="SERVER", parent=parent,
                  start_ms=t, dur_ms=dur,
                  attrs={"rpc.service": "ServiceInvocation", "dapr.invoke_method": method,
                         "dapr.api": "/dapr.proto.internals.v1.ServiceInvocation/CallLocalStream",
                         "dapr.protocol": "grpc"})


def _publish(b: SpanSet, app: str, topic: str, parent: SpanRef, t: float) -> SpanRef:
    """An app publishing through its sidecar's HTTP API; returns the sidecar's span."""
    path = f"v1.0/publish/pubsub/{topic}"
    call = b.span(app, "POST", kind="CLIENT", parent=parent, start_ms=t, dur_ms=6,
                  attrs=_to_sidecar("POST", path, 204))
    return b.span(app, "/" + path, kind="CLIENT", parent=call, start_ms=t + 0.3, dur_ms=5.2,
                  attrs={"messaging.system": "pubsub", "messaging.destination.name": topic,
                         **_dapr_http("POST", "/" + path, 204)})


def _deliver(b: SpanSet, app: str, topic: str, parent: SpanRef | None, t: float,
             status: str = "UNSET") -> SpanRef:
    """The subscriber sidecar's "pubsub/<topic>" span and the app's request under it."""
    d = b.span(app, f"pubsub/{topic}", kind="CLIENT", parent=parent, start_ms=t, dur_ms=9,
               status=status, attrs={"messaging.system": "pubsub",
                                     "messaging.destination.name": topic,
                                     "messaging.destination_kind": "topic"})
    return b.span(app, f"POST /{topic}", kind="SERVER", parent=d, start_ms=t + 0.4, dur_ms=8,
                  status=status, attrs=_server("POST", f"/{topic}",
                                               500 if status == "ERROR" else 200))


def _db(b: SpanSet, app: str, parent: SpanRef, t: float, dur: float = 3) -> None:
    b.span(app, "INSERT orders", kind="CLIENT", parent=parent, start_ms=t, dur_ms=dur,
           attrs={"db.system": "postgresql", "db.operation": "INSERT",
                  "server.address": "postgres", "server.port": 5432})


# ------------------------------------------------------------------- service invocation
def test_invocation_through_two_sidecars_is_one_call_between_the_apps():
    """checkout invokes order-processor's "orders" method, over HTTP and with the gRPC SDK
    (pkg/api/http/directmessaging.go appendDirectMessagingSpanAttributes; grpc_tracing.go
    GRPCTraceUnaryServerInterceptor / GRPCTraceStreamServerInterceptor, spanAttributesMapFromGRPC;
    pkg/messaging/direct_messaging.go invokeRemote -> CallLocalStream with the span's context
    in the gRPC metadata): the app's client span to localhost, under it its sidecar's CLIENT
    "CallLocal/order-processor/orders" (service checkout, net.peer.name order-processor), the
    target sidecar's SERVER "CallLocal/order-processor/orders" (service order-processor) and
    the target app's server span. One call per request from checkout to order-processor: no
    call per sidecar hop, none to 'localhost' (the sidecar's spans are there)."""
    for grpc in (False, True):
        b = SpanSet()
        for i in range(N):
            t = i * 200
            root = b.span("checkout", "POST /checkout", kind="SERVER", start_ms=t, dur_ms=30,
                          attrs=_server("POST", "/checkout"))
            out = _invoke(b, "checkout", "order-processor", "orders", root, t + 4, grpc)
            srv = _call_local(b, "order-processor", "orders", out, t + 5.5, 11)
            if grpc:  # a gRPC app: the sidecar calls AppCallback/OnInvoke
                app = b.span("order-processor", "dapr.proto.runtime.v1.AppCallback/OnInvoke",
                             kind="SERVER", parent=srv, start_ms=t + 6, dur_ms=10,
                             attrs={"rpc.system": "grpc", "rpc.method": "OnInvoke",
                                    "rpc.service": "dapr.proto.runtime.v1.AppCallback"})
            else:
                app = b.span("order-processor", "POST /orders", kind="SERVER", parent=srv,
                             start_ms=t + 6, dur_ms=10, attrs=_server("POST", "/orders"))
            _db(b, "order-processor", app, t + 8)
        a = analysed_each(b.store(), {
            "service:checkout->service:order-processor": ("call", N),
            "service:order-processor->external:postgresql": ("call", N),
        }, [])
        assert flows_of(a) == [("checkout", N, 1.0)], grpc


def test_invocation_retried_by_a_resiliency_policy_is_one_call():
    """A resiliency policy retries the invocation on the app's 500s (onDirectMessage runs
    directMessaging.Invoke in a policyRunner, returning a codeError for status >= 400): all
    attempts happen inside the caller sidecar's one "CallLocal/..." span (the HTTP middleware's,
    ended once with the final 200), each attempt a new CallLocalStream, so a SERVER span of the
    target sidecar and an app request each; the first two app requests fail. One call per
    request, not one per attempt."""
    b = SpanSet()
    for i in range(N):
        t = i * 500
        root = b.span("checkout", "POST /checkout", kind="SERVER", start_ms=t, dur_ms=150,
                      attrs=_server("POST", "/checkout"))
        path = "v1.0/invoke/order-processor/method/orders"
        call = b.span("checkout", "POST", kind="CLIENT", parent=root, start_ms=t + 4,
                      dur_ms=140, attrs=_to_sidecar("POST", path))
        out = b.span("checkout", "CallLocal/order-processor/orders", kind="CLIENT",
                      parent=call, start_ms=t + 4.3, dur_ms=139.4,
                      attrs={"rpc.service": "ServiceInvocation",
                             "net.peer.name": "order-processor",
                             **_dapr_http("POST", "/" + path, 200)})
        for k in range(3):  # constant backoff 50 ms
            s0 = t + 6 + k * 62
            srv = _call_local(b, "order-processor", "orders", out, s0, 10)
            b.span("order-processor", "POST /orders", kind="SERVER", parent=srv,
                   start_ms=s0 + 0.5, dur_ms=9, status="ERROR" if k < 2 else "UNSET",
                   attrs=_server("POST", "/orders", 500 if k < 2 else 200))
    a = analysed_each(b.store(), {
        "service:checkout->service:order-processor": ("call", N),
    }, [])
    assert flows_of(a) == [("checkout", N, 1.0)]


# ---------------------------------------------------------------------------- state store
def test_state_store_calls_are_calls_to_the_store_not_to_localhost():
    """checkout saves state over HTTP (POST /v1.0/state/statestore: the span keeps the path as
    its name, appendStateSpanAttributes adds db.system "state", db.name "statestore") and reads
    it with the gRPC SDK (GetStateRequest.AppendSpanAttributes: "/dapr.proto.runtime.v1.Dapr/
    GetState", rpc.service Dapr, the same db.* attributes). Dapr's state components trace
    nothing below that. Two calls per request to the state store, none to 'localhost'."""
    b = SpanSet()
    db = {"db.system": "state", "db.name": "statestore", "db.connection_string": "state"}
    for i in range(N):
        t = i * 200
        root = b.span("checkout", "POST /checkout", kind="SERVER", start_ms=t, dur_ms=20,
                      attrs=_server("POST", "/checkout"))
        path = "v1.0/state/statestore"
        call = b.span("checkout", "POST", kind="CLIENT", parent=root, start_ms=t + 2,
                      dur_ms=5, attrs=_to_sidecar("POST", path, 204))
        b.span("checkout", "/" + path, kind="CLIENT", parent=call, start_ms=t + 2.3,
               dur_ms=4.4, attrs={**db, "db.statement": "POST /" + path,
                                  **_dapr_http("POST", "/" + path, 204)})
        m = "/dapr.proto.runtime.v1.Dapr/GetState"
        call = b.span("checkout", m[1:], kind="CLIENT", parent=root, start_ms=t + 9,
                      dur_ms=4, attrs=_grpc_to_sidecar("dapr.proto.runtime.v1.Dapr", "GetState"))
        b.span("checkout", m, kind="CLIENT", parent=call, start_ms=t + 9.2, dur_ms=3.5,
               attrs={**db, "db.statement": m, "rpc.service": "Dapr", "dapr.api": m,
                      "dapr.protocol": "grpc"})
    analysed_each(b.store(), {"service:checkout->external:state": ("call", 2 * N)}, [])


# ------------------------------------------------------------------------------ bindings
def test_kafka_output_binding_to_an_input_binding_is_one_hop_per_message():
    """checkout sends to its Kafka output binding "orders-out" (POST /v1.0/bindings/orders-out:
    appendBindingsSpanAttributes, db.system "bindings"; onOutputBindingMessage puts the span's
    traceparent in the request metadata, which components-contrib's Kafka producer writes as
    record headers). shipping reads the topic with its input binding "orders-in" (the Kafka
    consumer turns headers into metadata, GetEventMetadata): sendBindingEventToApp opens a
    CLIENT "bindings/orders-in" (db.system "bindings", db.name "orders-in", rpc.service Dapr,
    db.connection_string "POST /orders-in") as the child of that traceparent and posts to the
    app. No span names the topic. One asynchronous hop per message from checkout to shipping:
    no call of shipping to itself (its sidecar's span and its app's request are one service),
    no clock skew (the delivery starts after the send ended: work handed on), no 'localhost'."""
    b = SpanSet()
    for i in range(N):
        t = i * 300
        root = b.span("checkout", "POST /checkout", kind="SERVER", start_ms=t, dur_ms=25,
                      attrs=_server("POST", "/checkout"))
        path = "v1.0/bindings/orders-out"
        call = b.span("checkout", "POST", kind="CLIENT", parent=root, start_ms=t + 3,
                      dur_ms=12, attrs=_to_sidecar("POST", path))
        out = b.span("checkout", "/" + path, kind="CLIENT", parent=call, start_ms=t + 3.3,
                     dur_ms=11.4,
                     attrs={"db.system": "bindings", "db.name": "orders-out",
                            "db.statement": "POST /" + path, "db.connection_string": "bindings",
                            **_dapr_http("POST", "/" + path, 200)})
        inb = b.span("shipping", "bindings/orders-in", kind="CLIENT", parent=out,
                     start_ms=t + 40, dur_ms=9,
                     attrs={"db.system": "bindings", "db.name": "orders-in",
                            "rpc.service": "Dapr", "db.connection_string": "POST /orders-in"})
        app = b.span("shipping", "POST /orders-in", kind="SERVER", parent=inb,
                     start_ms=t + 40.5, dur_ms=8, attrs=_server("POST", "/orders-in"))
        _db(b, "shipping", app, t + 42)
    a = analysed_each(b.store(), {
        "service:checkout->service:shipping": ("call", N),
        "service:shipping->external:postgresql": ("call", N),
    }, [])
    assert flows_of(a) == [("checkout", N, 1.0)]


def test_cron_input_binding_starts_a_flow_of_its_own_app():
    """A cron input binding "cleanup" fires with no trace context (no metadata traceparent), so
    its "bindings/cleanup" CLIENT span is a root in janitor's sidecar and janitor's request a
    child of it (the same holds for the RabbitMQ binding, which in components-contrib
    bindings/rabbitmq/rabbitmq.go @7ed33e7 neither writes nor reads headers). The app's own
    work is all there is: no call of janitor to itself, one flow entered at janitor."""
    b = SpanSet()
    for i in range(N):
        t = i * 60_000
        inb = b.span("janitor", "bindings/cleanup", kind="CLIENT", start_ms=t, dur_ms=15,
                     attrs={"db.system": "bindings", "db.name": "cleanup",
                            "rpc.service": "Dapr", "db.connection_string": "POST /cleanup"})
        app = b.span("janitor", "POST /cleanup", kind="SERVER", parent=inb, start_ms=t + 0.5,
                     dur_ms=14, attrs=_server("POST", "/cleanup"))
        _db(b, "janitor", app, t + 2, dur=10)
    a = analysed_each(b.store(), {"service:janitor->external:postgresql": ("call", N)}, [])
    assert flows_of(a) == [("janitor", N, 1.0)]


# -------------------------------------------------------------------------------- actors
def _actor_call(b: SpanSet, app: str, actor: str, aid: str, method: str, parent: SpanRef,
                t: float, dur: float) -> SpanRef:
    """An app calling an actor method through its sidecar; returns the sidecar's span."""
    path = f"v1.0/actors/{actor}/{aid}/method/{method}"
    call = b.span(app, "PUT", kind="CLIENT", parent=parent, start_ms=t, dur_ms=dur,
                  attrs=_to_sidecar("PUT", path))
    return b.span(app, f"CallActor/{actor}/{method}", kind="CLIENT", parent=call,
                  start_ms=t + 0.3, dur_ms=dur - 0.6,
                  attrs={"rpc.service": "ServiceInvocation", "net.peer.name": f"{actor}.{aid}",
                         "dapr.actor": f"{actor}.{aid}", **_dapr_http("PUT", "/" + path, 200)})


def _actor_method(b: SpanSet, app: str, actor: str, aid: str, method: str, parent: SpanRef,
                  t: float, dur: float) -> SpanRef:
    """The actor host app's request (the SDK's actor route)."""
    return b.span(app, f"PUT /actors/{actor}/{aid}/method/{method}", kind="SERVER",
                  parent=parent, start_ms=t, dur_ms=dur,
                  attrs=_server("PUT", "/actors/{actorTypeName}/{actorId}/method/{methodName}"))


def test_actor_calls_are_calls_to_the_host_app_never_to_itself():
    """checkout calls OrderActor.Process (hosted by order-actors): its sidecar's CLIENT
    "CallActor/OrderActor/Process" (appendActorInvocationSpanAttributesFn: net.peer.name and
    dapr.actor "OrderActor.<id>"), the host sidecar's SERVER "CallActor/OrderActor/Process"
    (InternalInvokeRequest with an actor), the host app's request. The actor then calls
    StockActor.Reserve, hosted by the same app: its sidecar invokes its own app (no internal
    call, so no SERVER span). One call per request from checkout to order-actors; the actor-to-
    actor call within order-actors is no call of the service to itself, and nothing goes to
    'localhost' or to an 'OrderActor.<id>' peer."""
    b = SpanSet()
    for i in range(N):
        t = i * 200
        root = b.span("checkout", "POST /checkout", kind="SERVER", start_ms=t, dur_ms=40,
                      attrs=_server("POST", "/checkout"))
        out = _actor_call(b, "checkout", "OrderActor", str(i), "Process", root, t + 3, 30)
        srv = b.span("order-actors", "CallActor/OrderActor/Process", kind="SERVER", parent=out,
                     start_ms=t + 5, dur_ms=26,
                     attrs={"rpc.service": "ServiceInvocation", "dapr.actor": f"OrderActor.{i}",
                            "dapr.api": "/dapr.proto.internals.v1.ServiceInvocation/CallActor",
                            "dapr.protocol": "grpc"})
        app = _actor_method(b, "order-actors", "OrderActor", str(i), "Process", srv, t + 5.5, 25)
        inner = _actor_call(b, "order-actors", "StockActor", f"sku-{i}", "Reserve", app,
                            t + 8, 12)
        stock = _actor_method(b, "order-actors", "StockActor", f"sku-{i}", "Reserve", inner,
                              t + 8.6, 10.5)
        _db(b, "order-actors", stock, t + 10)
    a = analysed_each(b.store(), {
        "service:checkout->service:order-actors": ("call", N),
        "service:order-actors->external:postgresql": ("call", N),
    }, [])
    assert flows_of(a) == [("checkout", N, 1.0)]


def test_actor_reminder_fires_in_a_trace_of_its_own():
    """OrderActor registers a reminder "checkStock" through its sidecar (PUT /v1.0/actors/
    OrderActor/<id>/reminders/checkStock: endpointGroupActorV1Misc adds no attributes, so the
    sidecar span has only dapr.api/protocol/status_code). When it fires, the sidecar calls the
    actor's "remind/checkStock" method (pkg/actors doExecuteReminderOrTimer / InvokeReminder:
    an InternalInvokeRequest to the local app, callLocalActor, with no span and no stored
    context): the app's request is a root.
    The reminder's work publishes "stock-checks", delivered to inventory. Nothing goes to
    'localhost'; the reminder's trace is a flow of its own, entered at order-actors."""
    b = SpanSet()
    for i in range(N):
        t = i * 10_000
        root = b.span("order-actors", "POST /orders/{id}/watch", kind="SERVER", start_ms=t,
                      dur_ms=12, attrs=_server("POST", "/orders/{id}/watch"))
        path = f"v1.0/actors/OrderActor/{i}/reminders/checkStock"
        call = b.span("order-actors", "PUT", kind="CLIENT", parent=root, start_ms=t + 2,
                      dur_ms=6, attrs=_to_sidecar("PUT", path, 204))
        b.span("order-actors", "/" + path, kind="CLIENT", parent=call, start_ms=t + 2.3,
               dur_ms=5.4, attrs=_dapr_http("PUT", "/" + path, 204))
        fired = _actor_method(b, "order-actors", "OrderActor", str(i), "remind/checkStock",
                              None, t + 5_000, 12)
        pub = _publish(b, "order-actors", "stock-checks", fired, t + 5_003)
        _deliver(b, "inventory", "stock-checks", pub, t + 5_030)
    a = analysed_each(b.store(), {
        "service:order-actors->topic:stock-checks": ("publish", N),
        "topic:stock-checks->service:inventory": ("consume", N),
    }, ["topic:stock-checks->service:inventory"])
    assert {f[0] for f in flows_of(a)} == {"order-actors"}
    assert sum(f[1] for f in flows_of(a)) == 2 * N  # the registrations and the reminders


# ------------------------------------------------------------------------------- pub/sub
def test_subscription_retries_are_redeliveries_of_one_message():
    """A resiliency policy on the subscription retries a message the app failed (subscription.go
    runs postman.Deliver in a policyRunner; http.go Deliver opens a new "pubsub/<topic>" span
    per attempt, child of the CloudEvent's traceparent, and sets its status from the app's
    answer: a 500 is an error). Two failed attempts and a good one per order: three deliveries
    of one message, joined by context, two failed; the only anomaly is the redelivery."""
    b = SpanSet()
    for i in range(N):
        t = i * 2000
        root = b.span("checkout", "POST /checkout", kind="SERVER", start_ms=t, dur_ms=20,
                      attrs=_server("POST", "/checkout"))
        pub = _publish(b, "checkout", "orders", root, t + 3)
        for k in range(3):  # retry policy: constant 500 ms
            _deliver(b, "order-processor", "orders", pub, t + 30 + 510 * k,
                     status="ERROR" if k < 2 else "UNSET")
    a = analysed_each(b.store(), {
        "service:checkout->topic:orders": ("publish", N),
        "topic:orders->service:order-processor": ("consume", 3 * N),
    }, ["topic:orders->service:order-processor"],
        anomalies=[("redelivery", "topic:orders->service:order-processor", 2 * N)])
    assert a.edge("topic:orders->service:order-processor")["error_count"] == 2 * N
    assert flows_of(a) == [("checkout", N, 1.0)]


def test_raw_payload_subscription_continues_the_kafka_producers_trace():
    """A service without Dapr (the Java agent's Kafka producer: PRODUCER "orders publish",
    traceparent record header) publishes to "orders"; order-processor subscribes through Dapr
    with rawPayload: the subscription wraps the record in a CloudEvent and takes its
    traceparent from the message metadata (subscription.go, case rawPayload; the Kafka
    component turns record headers into metadata), so "pubsub/orders" is the child of the
    producer span. One topic "orders" on Kafka, each delivery joined by context."""
    b = SpanSet()
    for i in range(N):
        t = i * 200
        root = b.span("legacy", "POST /orders", kind="SERVER", start_ms=t, dur_ms=15,
                      attrs=_server("POST", "/orders"))
        pub = b.span("legacy", "orders publish", kind="PRODUCER", parent=root, start_ms=t + 3,
                     dur_ms=4, attrs={"messaging.system": "kafka",
                                      "messaging.destination.name": "orders",
                                      "messaging.operation": "publish",
                                      "messaging.kafka.message.key": f"o-{i}"})
        _deliver(b, "order-processor", "orders", pub, t + 35)
    a = analysed_each(b.store(), {
        "service:legacy->topic:orders": ("publish", N),
        "topic:orders->service:order-processor": ("consume", N),
    }, ["topic:orders->service:order-processor"])
    assert systems_of(a) == {"topic:orders": "kafka"}
    assert a.edge("topic:orders->service:order-processor")["queue_p50_ms"] is not None


# ------------------------------------------------------------------------------ workflow
def test_workflow_run_by_its_own_app_is_no_call_to_itself():
    """order-workflow starts an OrderWorkflow with the Dapr workflow SDK (durabletask gRPC
    "TaskHubSidecarService/StartInstance" to localhost:50001). In the sidecar: the gRPC API
    span (a unary method outside dapr.proto.internals: CLIENT "/TaskHubSidecarService/
    StartInstance"), durabletask-go's StartInstance "create_orchestration||OrderWorkflow"
    (CLIENT, durabletask.type orchestration, ...task.name, ...task.instance_id) whose context
    goes into the ExecutionStartedEvent; the orchestration's SERVER "orchestration||
    OrderWorkflow" (its child, from the started time until the workflow completes), an
    INTERNAL "timer" and a SERVER "activity||<name>" per activity, children of the
    orchestration span (internal/helpers/tracing.go). All in order-workflow's sidecar: the
    workflow is no call of order-workflow to itself, and its run is one flow per instance."""
    b = SpanSet()
    dt = "durabletask."
    for i in range(N):
        t = i * 5000
        iid = f"order-{i}"
        root = b.span("order-workflow", "POST /orders", kind="SERVER", start_ms=t, dur_ms=12,
                      attrs=_server("POST", "/orders"))
        call = b.span("order-workflow", "TaskHubSidecarService/StartInstance", kind="CLIENT",
                      parent=root, start_ms=t + 2, dur_ms=7,
                      attrs=_grpc_to_sidecar("TaskHubSidecarService", "StartInstance"))
        api = b.span("order-workflow", "/TaskHubSidecarService/StartInstance", kind="CLIENT",
                     parent=call, start_ms=t + 2.4, dur_ms=6.2,
                     attrs={"dapr.api": "/TaskHubSidecarService/StartInstance",
                            "dapr.protocol": "grpc"})
        create = b.span("order-workflow", "create_orchestration||OrderWorkflow", kind="CLIENT",
                        parent=api, start_ms=t + 2.6, dur_ms=5.8,
                        attrs={dt + "type": "orchestration", dt + "task.name": "OrderWorkflow",
                               dt + "task.instance_id": iid})
        orch = b.span("order-workflow", "orchestration||OrderWorkflow", kind="SERVER",
                      parent=create, start_ms=t + 9, dur_ms=1400,
                      attrs={dt + "type": "orchestration", dt + "task.name": "OrderWorkflow",
                             dt + "task.instance_id": iid,
                             dt + "runtime_status": "COMPLETED"})
        for k, (name, s0, d) in enumerate((("ChargePayment", 20, 120),
                                           ("ShipOrder", 1160, 200))):
            b.span("order-workflow", f"activity||{name}", kind="SERVER", parent=orch,
                   start_ms=t + s0, dur_ms=d,
                   attrs={dt + "type": "activity", dt + "task.name": name,
                          dt + "task.task_id": k, dt + "task.instance_id": iid})
        b.span("order-workflow", "timer", kind="INTERNAL", parent=orch, start_ms=t + 145,
               dur_ms=1000, attrs={dt + "type": "timer", dt + "task.task_id": 1,
                                   dt + "task.instance_id": iid})
    a = analyze(b.store())
    assert edges_of(a) == {}
    assert not a.anomalies
    assert flows_of(a) == [("order-workflow", N, 1.0)]
