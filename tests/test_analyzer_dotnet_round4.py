"""Span shapes of more .NET and Azure libraries, each read from the library's own source:
the EventStoreDB / KurrentDB .NET clients (an event store whose subscriptions are the
deliveries of its appends), Azure.Storage.Queues (no messaging instrumentation at all: HTTP
calls to the storage account), Azure.Messaging.EventHubs' EventProcessorClient checkpointing
and an Azure Functions isolated worker triggered by Event Hubs (the host's batch span, the
worker's invocation spans under it). Each test builds exactly the spans the library exports
for a small scenario, three times, and checks what the analyzer makes of them."""

from __future__ import annotations

from typing import Any

from analyzer import edge_detail, flow_for_trace
from tests.analysis_checks import analysed_each, flows_of, systems_of
from tests.builders import SpanRef, SpanSet

N = 3


def _npgsql(b: SpanSet, service: str, parent: SpanRef | None, t: float, sql: str,
            dur: float = 1.5) -> SpanRef:
    """An Npgsql command span (named by the database); a root when ``parent`` is None."""
    return b.span(service, "shop", kind="CLIENT", parent=parent, start_ms=t, dur_ms=dur,
                  attrs={"db.system": "postgresql", "db.name": "shop", "db.statement": sql,
                         "server.address": "postgres", "server.port": 5432})


def _post(b: SpanSet, service: str, t: float, dur: float, route: str = "/orders") -> SpanRef:
    """An ASP.NET Core request span (a trace's root)."""
    return b.span(service, f"POST {route}", kind="SERVER", start_ms=t, dur_ms=dur,
                  attrs={"http.request.method": "POST", "http.route": route,
                         "http.response.status_code": 201})


# ----------------------------------------------------------------- EventStoreDB / KurrentDB
# EventStore/EventStore-Client-Dotnet (EventStore.Client 23.3+, package
# EventStore.Client.Extensions.OpenTelemetry: AddEventStoreClientInstrumentation adds the
# ActivitySource "eventstoredb"): src/EventStore.Client/Common/Diagnostics/
# ActivitySourceExtensions.cs, Tracing/TracingConstants.cs, Core/Telemetry/TelemetryTags.cs,
# EventMetadataExtensions.cs; src/EventStore.Client.Streams/EventStoreClient.Append.cs and
# the subscription readers (the gRPC read loop calls TraceSubscriptionEvent for every
# StreamMessage.Event before writing it to the channel the application reads).
# - An append is a CLIENT activity "streams.append" under Activity.Current, tagged db.system
#   "eventstoredb", db.operation "streams.append", db.eventstoredb.stream, server.address,
#   server.port, db.user; status Ok/Error (otel.status_code). Every event's metadata gets
#   {"$traceId", "$spanId"} of Activity.Current inside it, i.e. of the append span itself.
# - A subscription (catch-up or persistent) starts, for each event whose metadata holds a
#   context, a CONSUMER activity "streams.subscribe" whose parent is that (remote) context,
#   and disposes it at once: a span of no duration, never current while the application
#   handles the event (what the handler does belongs to whatever span the application has,
#   usually none). Tags: db.system, db.operation "streams.subscribe",
#   db.eventstoredb.stream (the ORIGINAL event's stream), .subscription.id, .event.id,
#   .event.type, server.address/port, db.user. No messaging.* attribute anywhere.
# kurrent-io/KurrentDB-Client-Dotnet (KurrentDB.Client 1.x): the same code under new names,
# src/KurrentDB.Client/Core/Common/Diagnostics/ActivitySourceExtensions.cs and
# KurrentDBClientDiagnostics.cs (source and db.system "kurrentdb"), Telemetry/TelemetryTags.cs
# (db.kurrentdb.stream, .subscription.id, .event.id, .event.type); persistent subscriptions
# (KurrentDBPersistentSubscriptionsClient.Read.cs) trace every event they receive, a retried
# one (Nack with Retry: the server sends it again, with a retry count) once per delivery.

ESDB = {"server.address": "esdb.shop.internal", "server.port": 2113, "db.user": "admin"}


def _esdb_append(b: SpanSet, service: str, parent: SpanRef | None, t: float, stream: str,
                 dur: float = 4.0, system: str = "eventstoredb",
                 status: str = "OK") -> SpanRef:
    """AppendToStreamAsync: a CLIENT "streams.append" (the events' metadata carry its id)."""
    return b.span(service, "streams.append", kind="CLIENT", parent=parent, start_ms=t,
                  dur_ms=dur, status=status,
                  attrs={**ESDB, "db.system": system, "db.operation": "streams.append",
                         f"db.{system}.stream": stream})


def _esdb_subscribe(b: SpanSet, service: str, append: SpanRef, t: float, stream: str,
                    sub_id: str, event_id: str, event_type: str,
                    system: str = "eventstoredb") -> SpanRef:
    """One event received by a subscription: an instant CONSUMER "streams.subscribe", child
    of the append whose context the event's metadata carries."""
    return b.span(service, "streams.subscribe", kind="CONSUMER", parent=append, start_ms=t,
                  dur_ms=0.02,
                  attrs={**ESDB, "db.system": system, "db.operation": "streams.subscribe",
                         f"db.{system}.stream": stream, f"db.{system}.subscription.id": sub_id,
                         f"db.{system}.event.id": event_id,
                         f"db.{system}.event.type": event_type})


def test_eventstoredb_catch_up_subscription_is_the_delivery_of_the_append():
    """EventStore.Client 24.x: the API appends OrderPlaced to the stream 'shop-orders'
    (CLIENT "streams.append" under its request, db.* tags only) and the projector's catch-up
    subscription receives it (CONSUMER "streams.subscribe", the append its parent, no
    duration). The stream is where the event went and where the projector took it from: one
    publish and one delivery per order, joined by context, queued from the end of the append
    to the subscription; the append is no call to an external 'eventstoredb' as well. The
    projector's handler runs after the subscribe span is gone, outside any span: its
    database write is a root of its own, no part of the order's flow."""
    b = SpanSet()
    for i in range(N):
        t = i * 1000
        root = _post(b, "api", t, 12)
        append = _esdb_append(b, "api", root, t + 3, "shop-orders")
        _esdb_subscribe(b, "projector", append, t + 13, "shop-orders",
                        sub_id="c7b2f0f4-2a51-4d0e-9a43-5b1c0e6d3a10",
                        event_id=f"5f0c2b9e-8d41-4c1a-b7e2-00000000000{i}",
                        event_type="OrderPlaced")
        _npgsql(b, "projector", None, t + 14, 'INSERT INTO "order_summaries" ...')
    st = b.store()
    a = analysed_each(st, {
        "service:api->topic:shop-orders": ("publish", N),
        "topic:shop-orders->service:projector": ("consume", N),
        "service:projector->external:postgresql": ("call", N),
    }, ["topic:shop-orders->service:projector"])
    assert systems_of(a) == {"topic:shop-orders": "eventstoredb"}
    consume = a.edge("topic:shop-orders->service:projector")
    assert consume["queue_p50_ms"] == 6.0  # subscribe start - append end
    assert consume["message_count"] == N
    order = next(f for f in a.flows if f["entry_service"] == "api")
    assert order["count"] == N
    assert "topic:shop-orders->service:projector" in order["hops"]


def test_eventstoredb_subscriber_that_appends_starts_a_trace_of_its_own():
    """EventStore.Client 24.x, two hops: billing's subscription receives OrderPlaced from
    'shop-orders' and its handler appends InvoiceIssued to 'shop-invoices'. The subscribe
    span was disposed before the handler ran, so nothing is current: that append is a root
    CLIENT span in a new trace, and mailer's subscription span is its child. Both hops are
    deliveries by context; nothing joins the invoice to the order, so the order's flow ends
    at billing and the invoice's flow starts at billing's append (no lost context: the
    stores' metadata carried what was current)."""
    b = SpanSet()
    for i in range(N):
        t = i * 1000
        root = _post(b, "api", t, 12)
        append = _esdb_append(b, "api", root, t + 3, "shop-orders")
        _esdb_subscribe(b, "billing", append, t + 12, "shop-orders",
                        sub_id="0d6f8b1a-77c2-4e4b-8f0e-3f1c2a9b5e21",
                        event_id=f"8a4e6c1d-0b2f-4d3e-9c5a-10000000000{i}",
                        event_type="OrderPlaced")
        invoice = _esdb_append(b, "billing", None, t + 15, "shop-invoices", dur=3)
        assert invoice.trace_id != append.trace_id
        _esdb_subscribe(b, "mailer", invoice, t + 24, "shop-invoices",
                        sub_id="9e1d3c5b-4a6f-4b8e-a2c0-6d7e8f9a0b12",
                        event_id=f"b3c9d2e1-5f4a-4e6b-8d7c-20000000000{i}",
                        event_type="InvoiceIssued")
    st = b.store()
    a = analysed_each(st, {
        "service:api->topic:shop-orders": ("publish", N),
        "topic:shop-orders->service:billing": ("consume", N),
        "service:billing->topic:shop-invoices": ("publish", N),
        "topic:shop-invoices->service:mailer": ("consume", N),
    }, ["topic:shop-orders->service:billing", "topic:shop-invoices->service:mailer"],
        [("publish_without_context", "service:billing->topic:shop-invoices", N)])
    assert systems_of(a) == {"topic:shop-orders": "eventstoredb",
                             "topic:shop-invoices": "eventstoredb"}
    flows = {f["entry_service"]: f for f in a.flows}
    assert sorted((s, f["count"]) for s, f in flows.items()) == [("api", N), ("billing", N)]
    assert "topic:shop-invoices->service:mailer" not in flows["api"]["hops"]
    assert "topic:shop-invoices->service:mailer" in flows["billing"]["hops"]


def test_kurrentdb_persistent_subscription_retry_is_a_redelivery():
    """KurrentDB.Client 1.x (db.system and source 'kurrentdb', db.kurrentdb.* tags): billing
    reads the persistent subscription 'billing-group' on 'shop-orders'. Its handler fails on
    the first delivery and Nacks with Retry; the server sends the event again, and the
    client traces it again: two instant "streams.subscribe" spans, both children of the one
    append. Two deliveries of one event (the second a redelivery), joined by context; the
    handler's database write (after the second delivery, outside any span) is its own
    trace."""
    b = SpanSet()
    sub = "shop-orders::billing-group"
    for i in range(N):
        t = i * 1000
        root = _post(b, "api", t, 12)
        append = _esdb_append(b, "api", root, t + 3, "shop-orders", system="kurrentdb")
        eid = f"e1f2a3b4-c5d6-4e7f-8a9b-30000000000{i}"
        for k, at in enumerate((t + 12, t + 40)):
            _esdb_subscribe(b, "billing", append, at, "shop-orders", sub_id=sub,
                            event_id=eid, event_type="OrderPlaced", system="kurrentdb")
            if k == 1:
                _npgsql(b, "billing", None, at + 1, 'INSERT INTO "invoices" ...')
    st = b.store()
    a = analysed_each(st, {
        "service:api->topic:shop-orders": ("publish", N),
        "topic:shop-orders->service:billing": ("consume", 2 * N),
        "service:billing->external:postgresql": ("call", N),
    }, ["topic:shop-orders->service:billing"],
        anomalies=[("redelivery", "topic:shop-orders->service:billing", N)])
    assert systems_of(a) == {"topic:shop-orders": "kurrentdb"}
    order = next(f for f in a.flows if f["entry_service"] == "api")
    assert order["count"] == N


def test_kurrentdb_rejected_append_is_a_failed_publish_nothing_was_delivered_from():
    """KurrentDB.Client 1.x: the first append of each order expects the stream not to exist
    and fails with WrongExpectedVersion (the CLIENT span's status Error; no event was
    written, so no subscription ever traces one); the API reads the stream and appends again
    with the right revision, and the projector's catch-up subscription receives that event.
    Two publishes per order, one failed; one delivery, from the append that succeeded; a
    failed append is no message that went unconsumed."""
    b = SpanSet()
    for i in range(N):
        t = i * 1000
        root = _post(b, "api", t, 20)
        _esdb_append(b, "api", root, t + 2, "shop-orders", system="kurrentdb",
                     status="ERROR")
        ok = _esdb_append(b, "api", root, t + 10, "shop-orders", system="kurrentdb")
        _esdb_subscribe(b, "projector", ok, t + 20, "shop-orders",
                        sub_id="5a6b7c8d-9e0f-4a1b-8c2d-3e4f5a6b7c8d",
                        event_id=f"f0e1d2c3-b4a5-4697-8877-40000000000{i}",
                        event_type="OrderPlaced", system="kurrentdb")
    st = b.store()
    a = analysed_each(st, {
        "service:api->topic:shop-orders": ("publish", 2 * N),
        "topic:shop-orders->service:projector": ("consume", N),
    }, ["topic:shop-orders->service:projector"])
    assert a.edge("service:api->topic:shop-orders")["error_count"] == N
    assert a.edge("topic:shop-orders->service:projector")["queue_p50_ms"] == 6.0
    assert flows_of(a) == [("api", N, 1.0)]


# ------------------------------------------------------------------- Azure.Storage.Queues
# Azure/azure-sdk-for-net: sdk/storage/Azure.Storage.Queues/src/QueueClient.cs
# (SendMessageInternal, ReceiveMessagesInternal, DeleteMessageInternal: a DiagnosticScope
# "QueueClient.<Operation>" per public method), src/AssemblyInfo.cs
# ([assembly: AzureResourceProviderNamespace("Microsoft.Storage")]), and Azure.Core:
# src/Shared/DiagnosticScopeFactory.cs (CreateScope's default kind is Internal, ActivitySource
# "Azure.Storage.Queues.QueueClient", az.namespace added), src/Pipeline/Internal/
# RequestActivityPolicy.cs (a CLIENT "Azure.Core.Http" span per HTTP request, display name
# the method; http.request.method, url.full, server.address, server.port, az.client_request_id,
# az.service_request_id, http.response.status_code, az.namespace; traceparent goes into the
# HTTP request's headers only). A queue message has no properties: no context and no
# message id reach the receiver, and no span carries messaging.* attributes.

ACCOUNT = "shopstore.queue.core.windows.net"


def _storage(b: SpanSet, service: str, parent: SpanRef | None, t: float, op: str,
             method: str, path: str, status: int, dur: float) -> SpanRef:
    """A QueueClient call: its INTERNAL scope and the HTTP request under it."""
    scope = b.span(service, f"QueueClient.{op}", parent=parent, start_ms=t, dur_ms=dur,
                   attrs={"az.namespace": "Microsoft.Storage"})
    b.span(service, method, kind="CLIENT", parent=scope, start_ms=t + 0.3, dur_ms=dur - 0.6,
           attrs={"http.request.method": method, "url.full": f"https://{ACCOUNT}/{path}",
                  "server.address": ACCOUNT, "server.port": 443,
                  "http.response.status_code": status, "az.namespace": "Microsoft.Storage",
                  "az.client_request_id": "2c5e7f0a-0000-4000-8000-000000000001",
                  "az.service_request_id": "9d1b3a2c-7003-0041-4e1a-000000000000"})
    return scope


def test_azure_storage_queue_messages_carry_no_context_and_name_no_queue():
    """Azure.Storage.Queues 12.x: the API's SendMessage (INTERNAL "QueueClient.SendMessage",
    a CLIENT "POST" to the account under it), a worker's polling loop (a root
    "QueueClient.ReceiveMessages" with its "GET" every few seconds, most of them empty; the
    handler's write and the "QueueClient.DeleteMessage" after it, roots too, as the loop has
    no span). Nothing says these are messages: both services call the storage account, no
    topic is invented, no delivery is reported lost."""
    b = SpanSet()
    for i in range(N):
        t = i * 2000
        root = _post(b, "api", t, 30)
        _storage(b, "api", root, t + 3, "SendMessage", "POST", "orders/messages", 201, 18)
        _storage(b, "worker", None, t + 500, "ReceiveMessages", "GET",
                 "orders/messages?numofmessages=16&visibilitytimeout=30", 200, 9)  # empty
        _storage(b, "worker", None, t + 1000, "ReceiveMessages", "GET",
                 "orders/messages?numofmessages=16&visibilitytimeout=30", 200, 11)
        _npgsql(b, "worker", None, t + 1012, 'INSERT INTO "orders" ...', dur=3)
        _storage(b, "worker", None, t + 1016, "DeleteMessage", "DELETE",
                 f"orders/messages/8a1b{i:04d}-5c2d-4e3f-9a0b-1c2d3e4f5a6b"
                 "?popreceipt=AgAAAAMAAAA", 204, 8)
    st = b.store()
    a = analysed_each(st, {
        f"service:api->external:{ACCOUNT}": ("call", N),
        f"service:worker->external:{ACCOUNT}": ("call", 3 * N),
        "service:worker->external:postgresql": ("call", N),
    }, [])
    assert systems_of(a) == {}
    assert not any(e["type"] in ("publish", "consume") for e in a.edges)


# --------------------------------------------------------- Event Hubs: EventProcessorClient
# Azure/azure-sdk-for-net: sdk/eventhub/Azure.Messaging.EventHubs/src/Primitives/
# EventProcessor{TPartition}.cs (ProcessEventBatchAsync: a CONSUMER "EventProcessor.Process"
# per dispatched batch, messaging.operation "process"; EventBatchMaximumCount 1, as
# EventProcessorClient dispatches, makes it a child of the event's context; above 1 it links
# every event, enqueuedTime on the link, and counts them; UpdateCheckpointAsync: an
# INTERNAL "EventProcessor.Checkpoint" scope around the checkpoint store call),
# DiagnosticProperty.cs (the names), Azure.Core's MessagingClientDiagnostics.cs (CreateScope:
# messaging.system, messaging.operation only when one is given, server.address,
# messaging.destination.name; az.namespace Microsoft.EventHub), and
# Azure.Messaging.EventHubs.Shared/src/BlobCheckpointStore/BlobCheckpointStoreInternal.cs
# (UpdateCheckpointInternalAsync: BlobClient.SetMetadataAsync on the partition's checkpoint
# blob, a Storage scope and its HTTP PUT, under the checkpoint scope).

NS = "shop-ns.servicebus.windows.net"
CKPT = "shopckpt.blob.core.windows.net"
ENQUEUED = 1_700_000_000_000


def _eh(b: SpanSet, service: str, name: str, kind: str, op: str | None = None,
        **kw: Any) -> SpanRef:
    """A span of Azure.Messaging.EventHubs (ActivitySource switch on)."""
    attrs = {"az.namespace": "Microsoft.EventHub", "messaging.system": "eventhubs",
             "server.address": NS, "messaging.destination.name": "orders",
             "messaging.operation": op, **kw.pop("attrs", {})}
    return b.span(service, name, kind=kind, attrs=attrs, **kw)


def _checkpoint(b: SpanSet, service: str, parent: SpanRef, t: float, container: str,
                http: bool = True) -> None:
    """UpdateCheckpointAsync: "EventProcessor.Checkpoint" and the blob write under it."""
    ck = _eh(b, service, "EventProcessor.Checkpoint", "INTERNAL", parent=parent,
             start_ms=t, dur_ms=9)
    blob = b.span(service, "BlobBaseClient.SetMetadata", parent=ck, start_ms=t + 0.5,
                  dur_ms=8, attrs={"az.namespace": "Microsoft.Storage"})
    if http:
        b.span(service, "PUT", kind="CLIENT", parent=blob, start_ms=t + 0.8, dur_ms=7.2,
               attrs={"http.request.method": "PUT", "server.address": CKPT,
                      "server.port": 443, "http.response.status_code": 200,
                      "url.full": f"https://{CKPT}/{container}/{NS}/orders/$default/"
                                  "checkpoint/0?comp=metadata",
                      "az.namespace": "Microsoft.Storage"})


def _send_events(b: SpanSet, service: str, t: float, n: int) -> list[SpanRef]:
    """A request that adds ``n`` events to a batch and sends it (EventHubProducerClient)."""
    root = _post(b, service, t, 30)
    events = [_eh(b, service, "Message", "PRODUCER", parent=root, start_ms=t + 1 + j,
                  dur_ms=0.05) for j in range(n)]
    _eh(b, service, "EventHubProducerClient.Send", "CLIENT", "publish", parent=root,
        start_ms=t + 5, dur_ms=14, links=events,
        attrs={"messaging.batch.message_count": n} if n > 1 else {})
    return events


def test_event_processor_client_checkpoint_is_no_second_delivery():
    """EventProcessorClient, checkpointing after every event from its ProcessEventAsync
    handler: the CONSUMER "EventProcessor.Process" (child of the event's "Message" span)
    holds the handler's write and an INTERNAL "EventProcessor.Checkpoint" naming the hub
    and Event Hubs but no operation, with the checkpoint blob's SetMetadata and its HTTP PUT
    to the storage account under it. One delivery per event; the checkpoint is neither a
    delivery nor a publish, and its blob write is a call to the storage account."""
    b = SpanSet()
    for i in range(N):
        t = i * 500
        (ev,) = _send_events(b, "checkout", t, 1)
        proc = _eh(b, "billing", "EventProcessor.Process", "CONSUMER", "process", parent=ev,
                   start_ms=t + 60, dur_ms=20,
                   attrs={"enqueuedTime": str(ENQUEUED + t + 19)})
        _npgsql(b, "billing", proc, t + 61, 'INSERT INTO "invoices" ...', dur=5)
        _checkpoint(b, "billing", proc, t + 68, "checkpoints")
    st = b.store()
    a = analysed_each(st, {
        "service:checkout->topic:orders": ("publish", N),
        "topic:orders->service:billing": ("consume", N),
        "service:billing->external:postgresql": ("call", N),
        f"service:billing->external:{CKPT}": ("call", N),
    }, ["topic:orders->service:billing"])
    consume = a.edge("topic:orders->service:billing")
    assert (consume["p50_ms"], consume["message_count"]) == (20.0, N)
    assert systems_of(a) == {"topic:orders": "eventhubs"}
    assert flows_of(a) == [("checkout", N, 1.0)]


# ------------------------------------------------ Azure Functions (isolated), Event Hubs trigger
# Azure/azure-sdk-for-net: sdk/eventhub/Microsoft.Azure.WebJobs.Extensions.EventHubs/src/
# Listeners/EventHubListener.cs (EventProcessor.ProcessEventsAsync: single dispatch runs the
# function once per event of the batch it was given, then checkpoints the batch's last
# event; the batch comes from the extension's EventProcessorHost, an EventProcessor<T> whose
# EventBatchMaximumCount is MaxEventBatchSize, above 1: every batch is one root CONSUMER
# "EventProcessor.Process" linking its events, see EventProcessor{TPartition}.cs above).
# Azure/azure-functions-host: src/WebJobs.Script/Diagnostics/OpenTelemetry/
# OpenTelemetryConfigurationExtensions.cs (telemetryMode OpenTelemetry: AddSource("Azure.*"),
# the Azure SDK ActivitySource switch on), ActivitySourceWrapper.cs (no invocation span of
# the host's own while an activity is current), Description/Workers/
# WorkerFunctionInvoker.cs (the invocation's traceparent is Activity.Current); the worker
# (Azure/azure-functions-dotnet-worker, TelemetryProvider, default schema 1.17.0) starts a
# SERVER "Invoke" per invocation, child of that context. The checkpoint's HTTP request to the
# host's own storage ("azure-webjobs-eventhub") is left out (the host's TraceFilterProcessor
# drops Azure.Core.Http requests to azure-webjobs-* paths).

def test_functions_event_hubs_trigger_one_batch_span_several_invocations():
    """An isolated-worker function with a single-dispatch Event Hubs trigger: each batch the
    host receives (two events) is one root CONSUMER "EventProcessor.Process" linking both
    events (enqueuedTime on the links, messaging.batch.message_count 2); the function runs
    once per event, the worker's SERVER "Invoke" spans both children of that batch span, and
    the host checkpoints afterwards. One delivery per batch carrying two events; the
    invocations are the function app's own work, no call into it and no second delivery; a
    batch where two orders meet is a flow of its own, no merge of them."""
    b = SpanSet()
    events: list[SpanRef] = []
    for i in range(2 * N):
        events += _send_events(b, "checkout", i * 100, 1)
    for k in range(N):
        batch = events[2 * k:2 * k + 2]
        t = 1000 + k * 300
        proc = _eh(b, "orders-func", "EventProcessor.Process", "CONSUMER", "process",
                   start_ms=t, dur_ms=60,
                   links=[(ev, {"enqueuedTime": str(ENQUEUED + 100 * (2 * k + j) + 19)})
                          for j, ev in enumerate(batch)],
                   attrs={"messaging.batch.message_count": 2})
        for j in range(2):
            inv = f"7d2c9a10-4b3e-4f5a-8c6d-0000000{k}{j:04d}"
            invoke = b.span("orders-func", "Invoke", kind="SERVER", parent=proc,
                            start_ms=t + 2 + 24 * j, dur_ms=20,
                            attrs={"az.schema_url": "https://opentelemetry.io/schemas/1.17.0",
                                   "AzureFunctions_InvocationId": inv,
                                   "AzureFunctions_FunctionName": "ProcessOrder",
                                   "faas.execution": inv})
            b.span("orders-func", "orders", kind="CLIENT", parent=invoke,
                   start_ms=t + 5 + 24 * j, dur_ms=12,
                   attrs={"db.system": "mssql", "db.name": "orders",
                          "server.address": "shop.database.windows.net"})
        _checkpoint(b, "orders-func", proc, t + 50, "azure-webjobs-eventhub", http=False)
    st = b.store()
    a = analysed_each(st, {
        "service:checkout->topic:orders": ("publish", 2 * N),
        "topic:orders->service:orders-func": ("consume", N),
        "service:orders-func->external:mssql": ("call", 2 * N),
    }, ["topic:orders->service:orders-func"])
    consume = a.edge("topic:orders->service:orders-func")
    assert (consume["message_count"], consume["batch_deliveries"]) == (2 * N, N)
    assert consume["p50_ms"] == 60.0
    assert edge_detail(st, "topic:orders->service:orders-func")["count"] == N
    assert systems_of(a) == {"topic:orders": "eventhubs"}
    assert sorted((f["entry_service"], f["count"]) for f in a.flows) == \
        [("checkout", 2 * N), ("orders-func", N)]
    one = flow_for_trace(st, next(f for f in a.flows if f["entry_service"] == "orders-func")
                         ["example_trace_ids"][0])
    assert sum(1 for s in one["spans"] if s["name"] == "Invoke") == 2
