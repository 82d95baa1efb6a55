"""Span shapes of Azure Functions hosting messaging triggers with OpenTelemetry, each read from
the source of the Functions host, its trigger extensions, the Azure SDK for .NET and the
language workers: what the host exports around an invocation (its own span when no trigger
span is current, the Service Bus listener's batch span, the SDK's receive and settle spans
when the host listens to every Azure source), how an output binding's message is sent, and
how the Python and Node workers continue the host's context. Each test builds exactly the
spans exported for a small scenario, three times, and checks what the analyzer makes of them.

What the host listens to (Azure/azure-functions-host, src/WebJobs.Script/Diagnostics/
OpenTelemetry/OpenTelemetryConfigurationExtensions.cs, telemetryMode OpenTelemetry):
- earlier host versions ("old host" below): AddSource("Azure.*"): every Azure SDK source,
  so the Service Bus receiver's "ServiceBusReceiver.Receive"/"ServiceBusReceiver.Complete",
  the sender's "Message"/"ServiceBusSender.Send", the listener's
  "ServiceBusListener.ProcessMessages".
- current host ("new host"): only the sources of OpenTelemetryConstants.ActivitySourceNames:
  "Microsoft.Azure.WebJobs", "Microsoft.Azure.Functions.Host",
  "Azure.Messaging.ServiceBus.ServiceBusProcessor", "Azure.Messaging.EventHubs.EventProcessor",
  "Azure.Functions.Extensions.Mcp", "Microsoft.Azure.WebJobs.Extensions.*", Durable Task's;
  and ASP.NET Core. ActivitySourceWrapper.cs (source "Microsoft.Azure.WebJobs") opens a SERVER
  span named FunctionDescriptor.LogName ("Functions.<name>") for the whole invocation only when
  no activity is current ("HTTP, Service Bus, Event Hub, and other instrumented triggers will
  have their own activities"), with no attribute of its own.
The invocation's trace context sent to the worker is Activity.Current
(src/WebJobs.Script/Description/Workers/WorkerFunctionInvoker.cs). The .NET isolated worker
(Azure/azure-functions-dotnet-worker, TelemetryProvider, default schema 1.17.0) opens a SERVER
"Invoke" (az.schema_url, AzureFunctions_InvocationId, AzureFunctions_FunctionName,
faas.execution) with it as parent. Resource: FunctionsResourceDetector.cs names the service by
WEBSITE_SITE_NAME, as the workers' Azure resource detectors do (opentelemetry-resourcedetector-
azure AzureFunctionsResourceDetector, @opentelemetry/resource-detector-azure
AzureFunctionsDetector): host and worker export as one service.

Already encoded elsewhere (not repeated): the new host's single-dispatch Service Bus trigger
with the worker's "Invoke" / "function <name>" span (test_analyzer_dotnet_more.py) and the
single-dispatch Event Hubs trigger's batch span (test_analyzer_dotnet_round4.py)."""

from __future__ import annotations

from typing import Any

from analyzer import analyze
from tests.analysis_checks import analysed_each, edges_of, flows_of, systems_of
from tests.builders import SpanRef, SpanSet
from tests.test_analyzer_azure_sdks import _js_sb  # (a span of @azure/service-bus 7.7+)

N = 3
SB_HOST = "shop.servicebus.windows.net"
EH_HOST = "shop-eh.servicebus.windows.net"
SQL = {"db.system": "mssql", "db.name": "orders", "server.address": "shop.database.windows.net"}
ENQUEUED = 1_700_000_000_000


def _api(b: SpanSet, t: float, dur: float = 30, service: str = "api") -> SpanRef:
    """An ASP.NET Core request span (a trace's root)."""
    return b.span(service, "POST /orders", kind="SERVER", start_ms=t, dur_ms=dur,
                  attrs={"http.request.method": "POST", "http.route": "/orders",
                         "http.response.status_code": 202})


def _sb(b: SpanSet, service: str, name: str, kind: str, entity: str,
        op: str | None = None, **kw: Any) -> SpanRef:
    """A span of Azure.Messaging.ServiceBus (Azure.Core MessagingClientDiagnostics.CreateScope:
    messaging.system, messaging.operation when given, server.address, the entity as
    messaging.destination.name; az.namespace from DiagnosticScopeFactory)."""
    attrs = {"az.namespace": "Microsoft.ServiceBus", "messaging.system": "servicebus",
             "server.address": SB_HOST, "messaging.destination.name": entity,
             **({"messaging.operation": op} if op else {}), **kw.pop("attrs", {})}
    return b.span(service, name, kind=kind, attrs=attrs, **kw)


def _sb_send(b: SpanSet, service: str, entity: str, parent: SpanRef, t: float,
             n: int = 1) -> list[SpanRef]:
    """ServiceBusSender.SendMessagesAsync: InstrumentMessage opens a PRODUCER "Message" per
    message (its id becomes the message's Diagnostic-Id/traceparent), then the CLIENT
    "ServiceBusSender.Send" links them (messaging.batch.message_count above 1)."""
    msgs = [_sb(b, service, "Message", "PRODUCER", entity, parent=parent,
                start_ms=t + 0.2 * j, dur_ms=0.05) for j in range(n)]
    _sb(b, service, "ServiceBusSender.Send", "CLIENT", entity, "publish", parent=parent,
        start_ms=t + 1, dur_ms=12, links=msgs,
        attrs={"messaging.batch.message_count": n} if n > 1 else {})
    return msgs  # the send ends at t + 13


def _invoke(b: SpanSet, service: str, parent: SpanRef | None, t: float, dur: float,
            inv: str, fn: str = "ProcessOrder") -> SpanRef:
    """The isolated worker's invocation span (schema 1.17.0, the default)."""
    return b.span(service, "Invoke", kind="SERVER", parent=parent, start_ms=t, dur_ms=dur,
                  attrs={"az.schema_url": "https://opentelemetry.io/schemas/1.17.0",
                         "AzureFunctions_InvocationId": inv,
                         "AzureFunctions_FunctionName": fn, "faas.execution": inv})


def _sql(b: SpanSet, service: str, parent: SpanRef, t: float, dur: float = 8) -> SpanRef:
    """A SqlClient command (named by the database)."""
    return b.span(service, "orders", kind="CLIENT", parent=parent, start_ms=t, dur_ms=dur,
                  attrs=SQL)


def _inv(k: int, j: int = 0) -> str:
    return f"5c0f7d1e-3a4b-4c2d-9e8f-{k:06d}{j:06d}"


# ------------------------------------------------------------ Storage Queue trigger, new host
# Azure/azure-functions-host ActivitySourceWrapper.cs (above): the queue extension
# (Microsoft.Azure.WebJobs.Extensions.Storage.Queues) runs no activity of its own, so the
# host opens its "Functions.<name>" SERVER span, a root; its QueueClient polls and deletes
# come from "Azure.Storage.Queues.*", a source the new host does not listen to.
# The sender: Azure.Storage.Queues (Azure/azure-sdk-for-net sdk/storage/Azure.Storage.Queues/
# src/QueueClient.cs, SendMessageInternal): an INTERNAL "QueueClient.SendMessage" scope and
# Azure.Core's CLIENT HTTP span (RequestActivityPolicy.cs); a queue message carries no
# properties, so no context reaches the function.
ACCOUNT = "shopstore.queue.core.windows.net"


def test_storage_queue_trigger_host_opens_a_root_invocation_span():
    """New host, isolated worker, Storage Queue trigger: the API's SendMessage (INTERNAL
    scope, CLIENT "POST" to the account) carries no context. The host, with no trigger
    activity current, opens "Functions.ProcessOrder" (SERVER, no attribute, a root); the
    worker's "Invoke" is its child and writes to SQL. Nothing says a message went anywhere:
    calls only, no topic, no lost delivery, and two flows (the request's and the
    invocation's) with no edge between them.
    Source: Azure/azure-functions-host src/WebJobs.Script/Diagnostics/OpenTelemetry/
    ActivitySourceWrapper.cs, OpenTelemetryConfigurationExtensions.cs, OpenTelemetryConstants.cs;
    Azure/azure-sdk-for-net sdk/storage/Azure.Storage.Queues/src/QueueClient.cs."""
    b = SpanSet()
    for i in range(N):
        t = i * 2000
        root = _api(b, t)
        scope = b.span("api", "QueueClient.SendMessage", parent=root, start_ms=t + 3,
                       dur_ms=18, attrs={"az.namespace": "Microsoft.Storage"})
        b.span("api", "POST", kind="CLIENT", parent=scope, start_ms=t + 3.3, dur_ms=17.4,
               attrs={"http.request.method": "POST",
                      "url.full": f"https://{ACCOUNT}/orders/messages",
                      "server.address": ACCOUNT, "server.port": 443,
                      "http.response.status_code": 201, "az.namespace": "Microsoft.Storage"})
        host = b.span("orders-func", "Functions.ProcessOrder", kind="SERVER",
                      start_ms=t + 900, dur_ms=40)
        inv = _invoke(b, "orders-func", host, t + 902, 35, _inv(i))
        _sql(b, "orders-func", inv, t + 905, 20)
    st = b.store()
    a = analysed_each(st, {
        f"service:api->external:{ACCOUNT}": ("call", N),
        "service:orders-func->external:mssql": ("call", N),
    }, [])
    assert systems_of(a) == {}
    assert flows_of(a) == [("api", N, 1.0), ("orders-func", N, 1.0)]


# ------------------------------------------------------- Service Bus batch trigger (IsBatched)
# Azure/azure-sdk-for-net sdk/servicebus/Microsoft.Azure.WebJobs.Extensions.ServiceBus/src/
# Listeners/ServiceBusListener.cs: a batched trigger (cardinality many) runs
# RunBatchReceiveLoopAsync on a plain ServiceBusReceiver (ReceiveMessagesAsync, no processor),
# and TriggerAndCompleteMessagesInternal wraps the invocation and the completes in a
# DiagnosticScope "ServiceBusListener.ProcessMessages" (Constants.cs), CONSUMER, operation
# process, SetMessageData(messages): a link to each message's Diagnostic-Id and
# messaging.batch.message_count (Azure.Messaging.ServiceBus src/Diagnostics/
# DiagnosticExtensions.cs). Its ActivitySource is "Azure.Messaging.ServiceBus.ServiceBusListener".
# ServiceBusReceiver.cs: ReceiveMessagesAsync opens a CLIENT "ServiceBusReceiver.Receive"
# (operation receive), backdated to the call's start, linking what came back (nothing when
# the wait ran out); CompleteMessageAsync a CLIENT "ServiceBusReceiver.Complete" (operation
# settle) linking its message, here inside the listener's scope.

def _batch_setup(b: SpanSet) -> list[SpanRef]:
    """2N requests, each sending one message to the queue 'orders'."""
    msgs: list[SpanRef] = []
    for i in range(2 * N):
        t = i * 150
        msgs += _sb_send(b, "api", "orders", _api(b, t), t + 4)
    return msgs


def test_service_bus_batch_trigger_old_host_listener_span_links_the_batch():
    """Old host (every Azure source), batched trigger: each loop turn a root
    "ServiceBusReceiver.Receive" (waiting since before the messages came, linking the two
    it got), then a root CONSUMER "ServiceBusListener.ProcessMessages" linking both (batch
    count 2) around the worker's one "Invoke" and the two "ServiceBusReceiver.Complete"
    settles; between batches a receive that came back empty. One delivery of two messages
    per batch, joined by the links; the receive that fetched the batch is the same delivery,
    not a second one; the settles and the empty polls are none.
    Source: Azure/azure-sdk-for-net sdk/servicebus/Microsoft.Azure.WebJobs.Extensions.
    ServiceBus/src/Listeners/ServiceBusListener.cs, src/Constants.cs; sdk/servicebus/
    Azure.Messaging.ServiceBus/src/Receiver/ServiceBusReceiver.cs, src/Diagnostics/
    DiagnosticExtensions.cs; Azure/azure-functions-host OpenTelemetryConfigurationExtensions.cs
    (AddSource("Azure.*"))."""
    b = SpanSet()
    msgs = _batch_setup(b)
    for k in range(N):
        batch = msgs[2 * k:2 * k + 2]
        t = 2 * k * 150 + 180              # the second message's send ended at t - 13
        _sb(b, "orders-func", "ServiceBusReceiver.Receive", "CLIENT", "orders", "receive",
            start_ms=t - 200, dur_ms=201, links=batch,
            attrs={"messaging.batch.message_count": 2})
        proc = _sb(b, "orders-func", "ServiceBusListener.ProcessMessages", "CONSUMER",
                   "orders", "process", start_ms=t + 2, dur_ms=50, links=batch,
                   attrs={"messaging.batch.message_count": 2})
        inv = _invoke(b, "orders-func", proc, t + 3, 35, _inv(k), "ProcessOrders")
        _sql(b, "orders-func", inv, t + 6, 25)
        for j, m in enumerate(batch):
            _sb(b, "orders-func", "ServiceBusReceiver.Complete", "CLIENT", "orders", "settle",
                parent=proc, start_ms=t + 40 + j, dur_ms=9, links=[m])
        _sb(b, "orders-func", "ServiceBusReceiver.Receive", "CLIENT", "orders", "receive",
            start_ms=t + 55, dur_ms=40)     # nothing came back before the next turn
    st = b.store()
    a = analysed_each(st, {
        "service:api->topic:orders": ("publish", 2 * N),
        "topic:orders->service:orders-func": ("consume", N),
        "service:orders-func->external:mssql": ("call", N),
    }, ["topic:orders->service:orders-func"])
    consume = a.edge("topic:orders->service:orders-func")
    assert (consume["message_count"], consume["batch_deliveries"]) == (2 * N, N)
    assert systems_of(a) == {"topic:orders": "servicebus"}
    # a batch joining two orders is a flow of its own
    assert [(e, n) for e, n, _ in flows_of(a)] == [("api", 2 * N), ("orders-func", N)]


def test_service_bus_batch_trigger_new_host_exports_no_messaging_span():
    """New host, batched trigger: "Azure.Messaging.ServiceBus.ServiceBusListener" and
    "...ServiceBusReceiver" are not among its sources, so the listener's batch span, the
    receives and the settles are dropped; with no activity current the host opens its own
    root SERVER "Functions.ProcessOrders" (no attribute) around the worker's "Invoke". The
    messages' context is lost inside the host: no delivery can be shown, none is invented
    (at most the publishes are reported unconsumed), and the invocation is a flow of its
    own with only its SQL call.
    Source: Azure/azure-functions-host OpenTelemetryConstants.cs (ActivitySourceNames),
    ActivitySourceWrapper.cs; Azure/azure-sdk-for-net Microsoft.Azure.WebJobs.Extensions.
    ServiceBus src/Listeners/ServiceBusListener.cs."""
    b = SpanSet()
    _batch_setup(b)
    for k in range(N):
        t = 2 * k * 150 + 180
        host = b.span("orders-func", "Functions.ProcessOrders", kind="SERVER",
                      start_ms=t + 2, dur_ms=50)
        inv = _invoke(b, "orders-func", host, t + 3, 35, _inv(k), "ProcessOrders")
        _sql(b, "orders-func", inv, t + 6, 25)
    a = analyze(b.store())
    assert edges_of(a) == {
        "service:api->topic:orders": ("publish", 2 * N),
        "service:orders-func->external:mssql": ("call", N),
    }
    assert systems_of(a) == {"topic:orders": "servicebus"}
    assert {x["type"] for x in a.anomalies} <= {"published_never_consumed"}
    assert flows_of(a) == [("api", 2 * N, 1.0), ("orders-func", N, 1.0)]


# -------------------------------------------------- Service Bus output binding (host sends)
# An isolated worker returns its output binding values to the host; the WebJobs executor
# flushes them after the invocation, still inside the trigger's ProcessMessage scope
# (Azure.Messaging.ServiceBus src/Processor/ReceiverManager.cs,
# ProcessOneMessageWithinScopeAsync wraps the handler and the auto-complete). The Service Bus
# extension sends with a ServiceBusSender (src/Bindings/MessageSenderAsyncCollector.cs):
# InstrumentMessage (Azure.Core src/Shared/MessagingClientDiagnostics.cs) starts the "Message"
# scope and writes Activity.Current.Id as the message's Diagnostic-Id/traceparent: the
# "Message" span's when its source is listened to (old host), otherwise the current activity,
# the host's "ServiceBusProcessor.ProcessMessage" (new host: ServiceBusSender is no source of
# its). The downstream trigger's ProcessMessage takes that context as its parent, no link
# (ReceiverManager.ProcessOneMessageWithinScopeAsync: DiagnosticExtensions.SetMessageAsParent,
# Azure.Core DiagnosticScope.SetTraceContext).

def _chain(b: SpanSet, old_host: bool) -> None:
    """api sends to 'orders'; orders-func (queue trigger on 'orders', output binding to
    'shipments') and shipping-func (queue trigger on 'shipments')."""
    for i in range(N):
        t = i * 1000
        (msg,) = _sb_send(b, "api", "orders", _api(b, t), t + 4)   # send ends t + 17
        if old_host:   # the processor's receive: a root, backdated, linking the message
            _sb(b, "orders-func", "ServiceBusReceiver.Receive", "CLIENT", "orders",
                "receive", start_ms=t - 500, dur_ms=540, links=[msg])
        proc = _sb(b, "orders-func", "ServiceBusProcessor.ProcessMessage", "CONSUMER",
                   "orders", "process", parent=msg, start_ms=t + 41, dur_ms=60)
        inv = _invoke(b, "orders-func", proc, t + 42, 30, _inv(i))
        _sql(b, "orders-func", inv, t + 45, 20)
        if old_host:
            (out,) = _sb_send(b, "orders-func", "shipments", proc, t + 75)  # ends t + 88
            _sb(b, "orders-func", "ServiceBusReceiver.Complete", "CLIENT", "orders",
                "settle", parent=proc, start_ms=t + 90, dur_ms=10, links=[msg])
            _sb(b, "shipping-func", "ServiceBusReceiver.Receive", "CLIENT", "shipments",
                "receive", start_ms=t - 300, dur_ms=420, links=[out])
        else:
            out = proc   # no send span: the message's context is the trigger's span
        down = _sb(b, "shipping-func", "ServiceBusProcessor.ProcessMessage", "CONSUMER",
                   "shipments", "process", parent=out, start_ms=t + 121, dur_ms=30)
        inv2 = _invoke(b, "shipping-func", down, t + 122, 25, _inv(i, 1), "ShipOrder")
        _sql(b, "shipping-func", inv2, t + 125, 15)
        if old_host:
            _sb(b, "shipping-func", "ServiceBusReceiver.Complete", "CLIENT", "shipments",
                "settle", parent=down, start_ms=t + 148, dur_ms=2.5, links=[out])


def test_output_binding_old_host_sends_under_the_trigger_span():
    """Old host: the output binding's "Message" PRODUCER and "ServiceBusSender.Send" CLIENT
    (queue 'shipments') are children of the trigger's ProcessMessage CONSUMER span, after
    the worker's "Invoke" returned and before the auto-complete; every receive is a root
    linking its message. The function app consumes 'orders' and publishes 'shipments'; the
    second app's ProcessMessage (child of the "Message") is its delivery.
    Deliveries joined by context, the receives are the same deliveries, the settles none,
    one flow per order; queue time from the end of each send.
    Source: Azure/azure-sdk-for-net sdk/servicebus/Microsoft.Azure.WebJobs.Extensions.
    ServiceBus/src/Bindings/MessageSenderAsyncCollector.cs; Azure.Messaging.ServiceBus
    src/Processor/ReceiverManager.cs, src/Receiver/ServiceBusReceiver.cs; Azure.Core
    src/Shared/MessagingClientDiagnostics.cs; Azure/azure-functions-host
    OpenTelemetryConfigurationExtensions.cs (AddSource("Azure.*"))."""
    b = SpanSet()
    _chain(b, old_host=True)
    st = b.store()
    a = analysed_each(st, {
        "service:api->topic:orders": ("publish", N),
        "topic:orders->service:orders-func": ("consume", N),
        "service:orders-func->topic:shipments": ("publish", N),
        "topic:shipments->service:shipping-func": ("consume", N),
        "service:orders-func->external:mssql": ("call", N),
        "service:shipping-func->external:mssql": ("call", N),
    }, ["topic:orders->service:orders-func", "topic:shipments->service:shipping-func"])
    assert a.edge("topic:orders->service:orders-func")["queue_p50_ms"] == 24.0
    assert a.edge("topic:shipments->service:shipping-func")["queue_p50_ms"] == 33.0
    assert systems_of(a) == {"topic:orders": "servicebus", "topic:shipments": "servicebus"}
    # one flow per order (the receives' traces, linked to it, belong to it)
    assert [(e, n) for e, n, _ in flows_of(a)] == [("api", N)]


def test_output_binding_new_host_message_carries_the_trigger_span_context():
    """New host: the sender's source is not listened to, so no "Message" and no send span
    exist; the message's Diagnostic-Id is the trigger's own ProcessMessage span, and the
    second app's ProcessMessage on 'shipments' is that consumer span's child. The consumer
    of 'shipments' names who sent: orders-func published to 'shipments' (it consumed
    'orders', nothing routed 'orders' into 'shipments'); both deliveries joined by context,
    one flow per order.
    Source: Azure/azure-sdk-for-net sdk/core/Azure.Core/src/Shared/
    MessagingClientDiagnostics.cs (InstrumentMessage: Activity.Current when the "Message"
    scope does not start); Azure/azure-functions-host OpenTelemetryConstants.cs;
    Azure.Messaging.ServiceBus src/Processor/ReceiverManager.cs."""
    b = SpanSet()
    _chain(b, old_host=False)
    st = b.store()
    a = analysed_each(st, {
        "service:api->topic:orders": ("publish", N),
        "topic:orders->service:orders-func": ("consume", N),
        "service:orders-func->topic:shipments": ("publish", N),
        "topic:shipments->service:shipping-func": ("consume", N),
        "service:orders-func->external:mssql": ("call", N),
        "service:shipping-func->external:mssql": ("call", N),
    }, ["topic:orders->service:orders-func", "topic:shipments->service:shipping-func"])
    assert systems_of(a) == {"topic:orders": "servicebus", "topic:shipments": "servicebus"}
    assert flows_of(a) == [("api", N, 1.0)]


# ------------------------------------------------------------------- Python worker, new host
# Azure/azure-functions-python-worker runtimes/v2/azure_functions_runtime/otel.py: with
# PYTHON_ENABLE_OPENTELEMETRY (or the Azure Monitor distro) on, configure_opentelemetry
# extracts the invocation's trace_context (the host's Activity.Current) with the W3C
# propagator and attaches it: the worker opens no span of its own, so the function's spans
# are direct children of the host's span. initialize_azure_monitor sets
# OTEL_EXPERIMENTAL_RESOURCE_DETECTORS=azure_functions (service.name = WEBSITE_SITE_NAME,
# opentelemetry-resourcedetector-azure _functions.py): the host's service.
# The function sends with azure-servicebus 7.10+ (Azure/azure-sdk-for-python sdk/servicebus/
# azure-servicebus/azure/servicebus/_common/tracing.py): a PRODUCER "ServiceBus.message" per
# message, then a CLIENT "ServiceBus.send" linking them (messaging.operation publish,
# net.peer.name, messaging.destination.name, az.namespace).

def _py_sb(b: SpanSet, service: str, what: str, entity: str, **kw: Any) -> SpanRef:
    """A span of azure-servicebus's native tracing (message or send)."""
    attrs = {"az.namespace": "Microsoft.ServiceBus", "messaging.system": "servicebus",
             "net.peer.name": SB_HOST, "messaging.destination.name": entity,
             **({"messaging.operation": "publish"} if what == "send" else {}),
             **kw.pop("attrs", {})}
    kind = "PRODUCER" if what == "message" else "CLIENT"
    return b.span(service, f"ServiceBus.{what}", kind=kind, attrs=attrs, **kw)


def test_python_function_sends_with_the_sdk_straight_under_the_host_span():
    """A Python function app on the new host, Service Bus queue trigger on 'orders': the
    host's "ServiceBusProcessor.ProcessMessage" (child of the API's "Message") is the
    invocation's context; the Python worker attaches it and opens nothing, so the
    function's psycopg2 INSERT and its azure-servicebus send to 'shipments'
    ("ServiceBus.message" PRODUCER, "ServiceBus.send" CLIENT) are direct children of the
    host's consumer span, in the same service. A .NET function app consumes 'shipments'.
    Each hop one delivery joined by context, the INSERT a call, one flow per order.
    Source: Azure/azure-functions-python-worker runtimes/v2/azure_functions_runtime/otel.py;
    Azure/azure-sdk-for-python sdk/servicebus/azure-servicebus/azure/servicebus/_common/
    tracing.py; opentelemetry-resourcedetector-azure _functions.py."""
    b = SpanSet()
    for i in range(N):
        t = i * 1000
        (msg,) = _sb_send(b, "api", "orders", _api(b, t), t + 4)       # ends t + 17
        proc = _sb(b, "orders-func", "ServiceBusProcessor.ProcessMessage", "CONSUMER",
                   "orders", "process", parent=msg, start_ms=t + 37, dur_ms=60)
        b.span("orders-func", "INSERT", kind="CLIENT", parent=proc, start_ms=t + 40,
               dur_ms=12, attrs={"db.system": "postgresql", "db.name": "orders",
                                 "db.statement": "INSERT INTO orders VALUES (%s, %s)",
                                 "net.peer.name": "orders-db", "net.peer.port": 5432})
        out = _py_sb(b, "orders-func", "message", "shipments", parent=proc, start_ms=t + 55,
                     dur_ms=0.1)
        _py_sb(b, "orders-func", "send", "shipments", parent=proc, start_ms=t + 56,
               dur_ms=25, links=[out])                                  # ends t + 81
        down = _sb(b, "shipping-func", "ServiceBusProcessor.ProcessMessage", "CONSUMER",
                   "shipments", "process", parent=out, start_ms=t + 101, dur_ms=30)
        inv = _invoke(b, "shipping-func", down, t + 102, 25, _inv(i, 1), "ShipOrder")
        _sql(b, "shipping-func", inv, t + 105, 15)
    st = b.store()
    a = analysed_each(st, {
        "service:api->topic:orders": ("publish", N),
        "topic:orders->service:orders-func": ("consume", N),
        "service:orders-func->topic:shipments": ("publish", N),
        "topic:shipments->service:shipping-func": ("consume", N),
        "service:orders-func->external:postgresql": ("call", N),
        "service:shipping-func->external:mssql": ("call", N),
    }, ["topic:orders->service:orders-func", "topic:shipments->service:shipping-func"])
    assert a.edge("topic:orders->service:orders-func")["queue_p50_ms"] == 20.0
    assert a.edge("topic:shipments->service:shipping-func")["queue_p50_ms"] == 20.0
    assert systems_of(a) == {"topic:orders": "servicebus", "topic:shipments": "servicebus"}
    assert flows_of(a) == [("api", N, 1.0)]


# --------------------------------------------------------------------- Node worker, new host
# Azure/azure-functions-nodejs-opentelemetry src/instrumentation.ts
# (AzureFunctionsInstrumentation, @azure/functions ^4.5): a preInvocation hook binds the
# function handler to propagation.extract(invocationContext.traceContext) (DISTRIBUTED_
# TRACING_FIX.md: wrapped as a non-recording span so instrumentations parent to it): no span
# of its own; the host's span is the parent of what the handler does. Service name from
# @opentelemetry/resource-detector-azure AzureFunctionsDetector (WEBSITE_SITE_NAME).
# Event Hubs trigger, cardinality many: the host's "EventProcessor.Process" (new host source
# "Azure.Messaging.EventHubs.EventProcessor"; batch size above 1: a root CONSUMER linking
# every event, enqueuedTime on the links, messaging.batch.message_count) runs one invocation
# per batch, then "EventProcessor.Checkpoint" (INTERNAL; the blob write under it comes from
# "Azure.Storage.Blobs.*", not listened to). Azure/azure-sdk-for-net sdk/eventhub/
# Azure.Messaging.EventHubs/src/Primitives/EventProcessor{TPartition}.cs.
# The handler forwards the batch with @azure/service-bus 7.9 (Azure/azure-sdk-for-js
# sdk/servicebus/service-bus src/sender.ts, src/diagnostics/instrumentServiceBusMessage.ts):
# a PRODUCER "message" per message, a CLIENT "ServiceBusSender.send" linking them;
# a subscriber's "StreamReceiver.process" (CONSUMER, linking the message, the entity as
# messaging.source.name) and "ServicebusReceiver.complete" after it.

def _eh(b: SpanSet, service: str, name: str, kind: str, op: str | None = None,
        **kw: Any) -> SpanRef:
    """A span of Azure.Messaging.EventHubs (event hub 'orders')."""
    attrs = {"az.namespace": "Microsoft.EventHub", "messaging.system": "eventhubs",
             "server.address": EH_HOST, "messaging.destination.name": "orders",
             **({"messaging.operation": op} if op else {}), **kw.pop("attrs", {})}
    return b.span(service, name, kind=kind, attrs=attrs, **kw)


def test_node_function_forwards_an_event_hubs_batch_under_the_host_batch_span():
    """A Node function app on the new host, Event Hubs trigger with cardinality many: per
    batch of two events the host's root CONSUMER "EventProcessor.Process" links both
    events; the Node handler, bound to that context, forwards them in one sendMessages
    call (two "message" PRODUCER spans and a "ServiceBusSender.send" CLIENT, children of
    the batch span); the host checkpoints after. A Node service subscribes to 'shipments'.
    One delivery of two events per batch, two publishes and two deliveries on 'shipments',
    all joined by context; a batch joining two orders is a flow of its own.
    Source: Azure/azure-functions-nodejs-opentelemetry src/instrumentation.ts,
    DISTRIBUTED_TRACING_FIX.md; Azure/azure-sdk-for-net sdk/eventhub/Azure.Messaging.
    EventHubs/src/Primitives/EventProcessor{TPartition}.cs; Azure/azure-sdk-for-js
    sdk/servicebus/service-bus src/sender.ts, src/diagnostics/tracing.ts."""
    b = SpanSet()
    events: list[SpanRef] = []
    for i in range(2 * N):
        t = i * 100
        root = _api(b, t, service="checkout")
        ev = _eh(b, "checkout", "Message", "PRODUCER", parent=root, start_ms=t + 3,
                 dur_ms=0.05)
        _eh(b, "checkout", "EventHubProducerClient.Send", "CLIENT", "publish", parent=root,
            start_ms=t + 4, dur_ms=14, links=[ev])                     # ends t + 18
        events.append(ev)
    for k in range(N):
        batch = events[2 * k:2 * k + 2]
        t = 2 * k * 100 + 150
        proc = _eh(b, "orders-func", "EventProcessor.Process", "CONSUMER", "process",
                   start_ms=t, dur_ms=60,
                   links=[(ev, {"enqueuedTime": ENQUEUED + 100 * (2 * k + j) + 17})
                          for j, ev in enumerate(batch)],
                   attrs={"messaging.batch.message_count": 2})
        msgs = [_js_sb(b, "orders-func", "message", "PRODUCER", "publish", "shipments",
                       parent=proc, start_ms=t + 3 + 0.4 * j, dur_ms=0.05) for j in range(2)]
        _js_sb(b, "orders-func", "ServiceBusSender.send", "CLIENT", "publish", "shipments",
               parent=proc, start_ms=t + 5, dur_ms=20, links=msgs, status="OK")  # t + 25
        _eh(b, "orders-func", "EventProcessor.Checkpoint", "INTERNAL", parent=proc,
            start_ms=t + 48, dur_ms=9)
        for j, m in enumerate(msgs):
            start = t + 45 + 10 * j
            sub = _js_sb(b, "billing", "StreamReceiver.process", "CONSUMER", "process",
                         "shipments", start_ms=start, dur_ms=6, status="OK",
                         links=[(m, {"enqueuedTime": ENQUEUED + int(start)})])
            b.span("billing", "INSERT invoices", kind="CLIENT", parent=sub,
                   start_ms=start + 1, dur_ms=4,
                   attrs={"db.system": "postgresql", "server.address": "billing-db",
                          "db.name": "billing"})
            _js_sb(b, "billing", "ServicebusReceiver.complete", "CLIENT", "settle",
                   "shipments", start_ms=start + 6.3, dur_ms=2, links=[m], status="OK")
    st = b.store()
    a = analysed_each(st, {
        "service:checkout->topic:orders": ("publish", 2 * N),
        "topic:orders->service:orders-func": ("consume", N),
        "service:orders-func->topic:shipments": ("publish", 2 * N),
        "topic:shipments->service:billing": ("consume", 2 * N),
        "service:billing->external:postgresql": ("call", 2 * N),
    }, ["topic:orders->service:orders-func", "topic:shipments->service:billing"])
    consume = a.edge("topic:orders->service:orders-func")
    assert (consume["message_count"], consume["batch_deliveries"]) == (2 * N, N)
    assert a.edge("topic:shipments->service:billing")["queue_p50_ms"] == 25.0
    assert systems_of(a) == {"topic:orders": "eventhubs", "topic:shipments": "servicebus"}
    assert sorted((f["entry_service"], f["count"]) for f in a.flows if f["hops"]) == \
        [("checkout", 2 * N), ("orders-func", N)]


# --------------------------------------------- HTTP trigger with a Service Bus output binding
# New host: the request is ASP.NET Core's SERVER span (AddAspNetCoreInstrumentation;
# EnrichHttpResponse adds faas.trigger "http", the route template as http.route and to the
# display name); it is Activity.Current for the whole invocation, so the host opens no span
# of its own (ActivitySourceWrapper.cs) and the worker's "Invoke" is its child. The output
# binding's ServiceBusSender is no source of the new host: the message's Diagnostic-Id is the
# request span (MessagingClientDiagnostics.InstrumentMessage, Activity.Current).

def test_http_trigger_output_binding_message_carries_the_request_span_context():
    """New host, isolated worker: a web app calls the HTTP-triggered function (HttpClient
    CLIENT, the host's SERVER "POST api/orders" with faas.trigger http); the function
    returns an order for its Service Bus output binding to 'shipments', which the host
    sends with no span at all. The consuming app's "ServiceBusProcessor.ProcessMessage" is
    therefore the child of the host's request span. The web app calls the
    function; the function app publishes to 'shipments' (the consumer's context names it);
    the delivery is joined by context, one flow per order.
    Source: Azure/azure-functions-host src/WebJobs.Script/Diagnostics/OpenTelemetry/
    OpenTelemetryConfigurationExtensions.cs (ConfigureTracing, EnrichHttpResponse),
    ActivitySourceWrapper.cs, OpenTelemetryConstants.cs; Azure/azure-sdk-for-net
    sdk/core/Azure.Core/src/Shared/MessagingClientDiagnostics.cs; Azure.Messaging.ServiceBus
    src/Diagnostics/DiagnosticExtensions.cs (SetMessageAsParent)."""
    b = SpanSet()
    fn = "orders-func.azurewebsites.net"
    for i in range(N):
        t = i * 1000
        root = b.span("web", "POST /checkout", kind="SERVER", start_ms=t, dur_ms=80,
                      attrs={"http.request.method": "POST", "http.route": "/checkout",
                             "http.response.status_code": 200})
        call = b.span("web", "POST", kind="CLIENT", parent=root, start_ms=t + 3, dur_ms=70,
                      attrs={"http.request.method": "POST", "server.address": fn,
                             "server.port": 443, "url.full": f"https://{fn}/api/orders",
                             "http.response.status_code": 200})
        req = b.span("orders-func", "POST api/orders", kind="SERVER", parent=call,
                     start_ms=t + 5, dur_ms=66,
                     attrs={"http.request.method": "POST", "url.path": "/api/orders",
                            "url.scheme": "https", "server.address": fn,
                            "http.route": "api/orders", "faas.trigger": "http",
                            "http.response.status_code": 200})
        inv = _invoke(b, "orders-func", req, t + 7, 40, _inv(i), "CreateOrder")
        _sql(b, "orders-func", inv, t + 10, 20)
        # (the output binding's send, t + 50 .. t + 68, has no span)
        down = _sb(b, "shipping-func", "ServiceBusProcessor.ProcessMessage", "CONSUMER",
                   "shipments", "process", parent=req, start_ms=t + 95, dur_ms=30)
        inv2 = _invoke(b, "shipping-func", down, t + 96, 25, _inv(i, 1), "ShipOrder")
        _sql(b, "shipping-func", inv2, t + 99, 15)
    st = b.store()
    a = analysed_each(st, {
        "service:web->service:orders-func": ("call", N),
        "service:orders-func->topic:shipments": ("publish", N),
        "topic:shipments->service:shipping-func": ("consume", N),
        "service:orders-func->external:mssql": ("call", N),
        "service:shipping-func->external:mssql": ("call", N),
    }, ["topic:shipments->service:shipping-func"])
    assert systems_of(a) == {"topic:shipments": "servicebus"}
    assert flows_of(a) == [("web", N, 1.0)]


# ------------------------------------------------- failed invocation, abandon and redelivery
# New host, single dispatch: when the worker's function throws, the worker's "Invoke" ends
# in error (Azure/azure-functions-dotnet-worker src/DotNetWorker.Core/FunctionsApplication.cs:
# SetStatus(Error)); the host's FunctionResult fails, the extension's
# MessageProcessor.CompleteProcessingMessageAsync rethrows its exception
# (Microsoft.Azure.WebJobs.Extensions.ServiceBus src/Primitives/MessageProcessor.cs), and the
# SDK's ReceiverManager.ProcessOneMessage catches it, raises the error handler and abandons
# the message (a "ServiceBusReceiver.Abandon", from a source the new host drops) without
# rethrowing: the ProcessMessage span is not marked failed. Service Bus delivers the message
# again (DeliveryCount 2): a second ProcessMessage with the same Diagnostic-Id as parent.

def test_failed_invocation_is_abandoned_and_the_message_redelivered():
    """New host: the first ProcessMessage of each message (status unset) holds a failed
    "Invoke" (status error); the message is abandoned (no span) and comes again 1 s later,
    a second ProcessMessage under the same "Message" whose "Invoke" succeeds. Two
    deliveries of each message, both joined by context; the failure is the function app's
    own (its invocation span), not the delivery span's; the only anomaly is the redelivery.
    Source: Azure/azure-functions-dotnet-worker src/DotNetWorker.Core/FunctionsApplication.cs;
    Azure/azure-sdk-for-net sdk/servicebus/Microsoft.Azure.WebJobs.Extensions.ServiceBus/src/
    Primitives/MessageProcessor.cs, src/Listeners/ServiceBusListener.cs;
    sdk/servicebus/Azure.Messaging.ServiceBus/src/Processor/ReceiverManager.cs."""
    b = SpanSet()
    for i in range(N):
        t = i * 3000
        (msg,) = _sb_send(b, "api", "orders", _api(b, t), t + 4)       # ends t + 17
        for k, start in enumerate((t + 37, t + 1060)):
            proc = _sb(b, "orders-func", "ServiceBusProcessor.ProcessMessage", "CONSUMER",
                       "orders", "process", parent=msg, start_ms=start, dur_ms=40)
            inv = b.span("orders-func", "Invoke", kind="SERVER", parent=proc,
                         start_ms=start + 1, dur_ms=30, status="ERROR" if k == 0 else "UNSET",
                         attrs={"az.schema_url": "https://opentelemetry.io/schemas/1.17.0",
                                "AzureFunctions_InvocationId": _inv(i, k),
                                "AzureFunctions_FunctionName": "ProcessOrder",
                                "faas.execution": _inv(i, k)})
            _sql(b, "orders-func", inv, start + 4, 20)
    st = b.store()
    a = analysed_each(st, {
        "service:api->topic:orders": ("publish", N),
        "topic:orders->service:orders-func": ("consume", 2 * N),
        "service:orders-func->external:mssql": ("call", 2 * N),
    }, ["topic:orders->service:orders-func"],
        anomalies=[("redelivery", "topic:orders->service:orders-func", N)])
    # the delivery span itself did not fail: the failure is the function app's own work
    assert a.edge("topic:orders->service:orders-func")["error_count"] == 0
    assert [(x["hop"], x["error_count"], x["failed_flows"]) for x in a.bottlenecks
            if x["kind"] == "error"] == [("service:orders-func", N, N)]
    assert flows_of(a) == [("api", N, 1.0)]
