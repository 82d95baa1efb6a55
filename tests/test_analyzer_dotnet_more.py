"""Span shapes of more .NET messaging libraries, each read from the library's own source:
DotNetCore.CAP's OpenTelemetry listener (an outbox: the event is persisted inside the
request's transaction and published afterwards by a background dispatcher) and an Azure
Functions .NET isolated worker triggered by Service Bus (the Functions host's Service Bus
processor span, then the worker's invocation span). EasyNetQ has no tracing of its own (see
the report), so it has no test here. Each test builds exactly the spans the library exports
for a small scenario, three times, and checks what the analyzer makes of them."""

from __future__ import annotations

from typing import Any

from analyzer import analyze, edge_detail, flow_for_trace
from tests.analysis_checks import analysed_each, edges_of, systems_of
from tests.builders import SpanRef, SpanSet

N = 3


# ------------------------------------------------------------------------------------ CAP
# dotnetcore/CAP, src/DotNetCore.CAP.OpenTelemetry/DiagnosticListener.cs (ActivitySource
# "DotNetCore.CAP.OpenTelemetry"), fed by the DiagnosticListener events written in
# src/DotNetCore.CAP/Internal/IMessageSender.Default.cs (BeforePublish/AfterPublish),
# IConsumerRegister.Default.cs (BeforeConsume/AfterConsume) and ISubscribeDispatcher.Default.cs
# (BeforeSubscriberInvoke). Publishing is the outbox: ICapPublisher stores the message (the
# "Event Persistence" span) and, once the transaction commits, Processor/IDispatcher.Default.cs
# hands it to a background sending loop that calls the transport ("CAP/<name>/Publisher").
# The consumer stores the received message ("CAP/<name>/Subscriber", ended once it is stored
# and acked) and only then invokes the subscriber method ("Subscriber Invoke: <method>").
# BrokerAddress.Name is the transport's own name ("RabbitMQ", ITransport.RabbitMQ.cs) and its
# endpoint "<host>:<port>", the port -1 unless configured (RabbitMQOptions.Port = -1).

CAP_RMQ = {"messaging.system": "RabbitMQ", "server.address": "rabbitmq", "server.port": -1}


def _npgsql(b: SpanSet, service: str, parent: SpanRef, t: float, sql: str,
            dur: float = 1.5) -> SpanRef:
    """An Npgsql command span (its ActivitySource names the span by the database)."""
    return b.span(service, "shop", kind="CLIENT", parent=parent, start_ms=t, dur_ms=dur,
                  attrs={"db.system": "postgresql", "db.name": "shop", "db.statement": sql,
                         "net.peer.name": "postgres", "net.peer.port": 5432})


def _cap_hop(b: SpanSet, *, publisher: str, consumer: str, name: str, group: str,
             method: str, ambient: SpanRef, t: float, msg_id: str,
             publish_attempts: list[tuple[float, str]] | None = None) -> tuple[SpanRef, SpanRef]:
    """One CAP event, as the current listener exports it: "Event Persistence: <name>"
    (INTERNAL, child of the span current when PublishAsync ran; it writes its own context
    into the stored message's headers), "CAP/<name>/Publisher" (PRODUCER, its parent the
    context read back from the stored message, i.e. the persistence span; sent later by the
    dispatcher's background loop), "CAP/<name>/Subscriber" (CONSUMER, child of the publisher
    whose context it extracts; ended once the message is stored) and "Subscriber Invoke:
    <method>" (INTERNAL; BeforeSubscriberInvoke extracts the context from the message headers
    again, which still carry the publisher's context: a sibling of the consumer span, not its
    child). ``publish_attempts`` are (start, status) of each send; the last one delivered."""
    persist = b.span(publisher, f"Event Persistence: {name}", parent=ambient, start_ms=t,
                     dur_ms=3, attrs={"messaging.destination.name": name})
    _npgsql(b, publisher, persist, t + 0.5, 'INSERT INTO "cap"."published" ...')
    attempts = publish_attempts or [(t + 18, "UNSET")]
    pub = persist
    for start, status in attempts:
        pub = b.span(publisher, f"CAP/{name}/Publisher", kind="PRODUCER", parent=persist,
                     start_ms=start, dur_ms=4, status=status,
                     attrs={**CAP_RMQ, "messaging.message.id": msg_id,
                            "messaging.message.body.size": 212,
                            "messaging.message.conversation_id": msg_id,
                            "messaging.destination.name": name})
    t_pub = attempts[-1][0]
    recv = b.span(consumer, f"CAP/{name}/Subscriber", kind="CONSUMER", parent=pub,
                  start_ms=t_pub + 12, dur_ms=5,
                  attrs={**CAP_RMQ, "messaging.message.id": msg_id,
                         "messaging.message.body.size": 212,
                         "messaging.operation.type": "receive",
                         "messaging.destination.name": name,
                         "messaging.consumer.group.name": group})
    _npgsql(b, consumer, recv, t_pub + 13, 'INSERT INTO "cap"."received" ...')
    invoke = b.span(consumer, f"Subscriber Invoke: {method}", parent=pub,
                    start_ms=t_pub + 18, dur_ms=15, attrs={"code.function.name": method})
    return persist, invoke


def test_cap_outbox_publish_after_commit_is_one_delivery_and_one_flow():
    """CAP's current listener (dotnetcore/CAP master, DiagnosticListener.cs): the API stores
    shop.order.created inside its request's transaction ("Event Persistence", INTERNAL, naming
    the destination but not a publish), the dispatcher publishes it after the commit, after
    the request has returned ("CAP/shop.order.created/Publisher", child of the persistence
    span); billing's "Subscriber" CONSUMER and its "Subscriber Invoke" are both children of
    the publisher. The subscriber publishes shop.invoice.issued (its persistence span a child
    of "Subscriber Invoke", the current activity), which mailer consumes: one trace, one flow
    per order, one delivery per message, no call between the services."""
    b = SpanSet()
    for i in range(N):
        t = i * 1000
        root = b.span("api", "POST /orders", kind="SERVER", start_ms=t, dur_ms=14,
                      attrs={"http.request.method": "POST", "http.route": "/orders",
                             "http.response.status_code": 201})
        _npgsql(b, "api", root, t + 1, 'INSERT INTO "orders" ...')
        # persisted at t+3, committed at t+10, published by the dispatcher at t+21
        _, invoke = _cap_hop(b, publisher="api", consumer="billing", name="shop.order.created",
                             group="cap.queue.billing.v1", method="HandleOrderCreated",
                             ambient=root, t=t + 3, msg_id=f"18532014675288{i:05d}")
        _npgsql(b, "billing", invoke, t + 39, 'UPDATE "invoices" ...')
        _cap_hop(b, publisher="billing", consumer="mailer", name="shop.invoice.issued",
                 group="cap.queue.mailer.v1", method="SendInvoiceMail", ambient=invoke,
                 t=t + 42, msg_id=f"18532014675299{i:05d}")
    st = b.store()
    a = analysed_each(st, {
        "service:api->topic:shop.order.created": ("publish", N),
        "topic:shop.order.created->service:billing": ("consume", N),
        "service:billing->topic:shop.invoice.issued": ("publish", N),
        "topic:shop.invoice.issued->service:mailer": ("consume", N),
        "service:api->external:postgresql": ("call", 2 * N),
        "service:billing->external:postgresql": ("call", 3 * N),
        "service:mailer->external:postgresql": ("call", N),
    }, ["topic:shop.order.created->service:billing",
        "topic:shop.invoice.issued->service:mailer"])
    first = a.edge("topic:shop.order.created->service:billing")
    assert first["queue_p50_ms"] == 8.0  # Subscriber start - Publisher end
    assert first["p50_ms"] == 5.0  # the consumer span: receiving and storing the message
    assert sum(f["count"] for f in a.flows) == N and len(a.flows) == 1
    flow = flow_for_trace(st, a.flows[0]["example_trace_ids"][0])
    assert {s["service_name"] for s in flow["spans"]} == {"api", "billing", "mailer"}
    # CAP names its transport "RabbitMQ": the topics are RabbitMQ's all the same
    assert systems_of(a) == {"topic:shop.order.created": "rabbitmq",
                             "topic:shop.invoice.issued": "rabbitmq"}


def test_cap_earlier_listener_legacy_tags_and_a_subscriber_publish_starts_a_new_trace():
    """CAP's earlier listener (dotnetcore/CAP, DiagnosticListener.cs at 9c8baec): pre-1.17
    tags (messaging.destination, destination_kind 'topic', messaging.url, messaging.message_id),
    the persistence span tagged only message.name, and the contexts kept in a dictionary by
    message id: "Subscriber Invoke" (messaging.operation=process) is the child of the consumer
    span. The persistence span takes a parent only when the current activity is ASP.NET
    Core's; anywhere else it sets Activity.Current to null, so an event published by a
    subscriber is persisted in a root span and published by the dispatcher in a new trace of
    its own (no parent, no link). mailer's delivery is still one delivery by context."""
    b = SpanSet()

    def legacy(name: str, msg_id: str) -> dict[str, Any]:
        return {"messaging.system": "RabbitMQ", "messaging.destination": name,
                "messaging.destination_kind": "topic", "messaging.url": "rabbitmq:5672",
                "messaging.message_id": msg_id, "messaging.message_payload_size_bytes": 212}

    for i in range(N):
        t = i * 1000
        oid, iid = f"17020114675288{i:05d}", f"17020114675299{i:05d}"
        root = b.span("api", "POST /orders", kind="SERVER", start_ms=t, dur_ms=14,
                      attrs={"http.method": "POST", "http.target": "/orders",
                             "http.status_code": 201})
        persist = b.span("api", "Event Persistence: shop.order.created", parent=root,
                         start_ms=t + 3, dur_ms=3, attrs={"message.name": "shop.order.created"})
        _npgsql(b, "api", persist, t + 3.5, 'INSERT INTO "cap"."published" ...')
        pub = b.span("api", "CAP/shop.order.created/Publisher", kind="PRODUCER", parent=persist,
                     start_ms=t + 21, dur_ms=4, attrs=legacy("shop.order.created", oid))
        recv = b.span("billing", "CAP/shop.order.created/Subscriber", kind="CONSUMER",
                      parent=pub, start_ms=t + 33, dur_ms=5,
                      attrs=legacy("shop.order.created", oid))
        _npgsql(b, "billing", recv, t + 34, 'INSERT INTO "cap"."received" ...')
        invoke = b.span("billing", "Subscriber Invoke: HandleOrderCreated", parent=recv,
                        start_ms=t + 39, dur_ms=15,
                        attrs={"messaging.operation": "process",
                               "code.function": "HandleOrderCreated"})
        # the subscriber publishes: a root persistence span, then a publish in a new trace
        persist2 = b.span("billing", "Event Persistence: shop.invoice.issued", start_ms=t + 42,
                          dur_ms=3, attrs={"message.name": "shop.invoice.issued"})
        _npgsql(b, "billing", persist2, t + 42.5, 'INSERT INTO "cap"."published" ...')
        pub2 = b.span("billing", "CAP/shop.invoice.issued/Publisher", kind="PRODUCER",
                      start_ms=t + 46, dur_ms=4, attrs=legacy("shop.invoice.issued", iid))
        assert pub2.trace_id not in (invoke.trace_id, persist2.trace_id)
        recv2 = b.span("mailer", "CAP/shop.invoice.issued/Subscriber", kind="CONSUMER",
                       parent=pub2, start_ms=t + 60, dur_ms=5,
                       attrs=legacy("shop.invoice.issued", iid))
        b.span("mailer", "Subscriber Invoke: SendInvoiceMail", parent=recv2, start_ms=t + 66,
               dur_ms=20, attrs={"messaging.operation": "process",
                                 "code.function": "SendInvoiceMail"})
    a = analysed_each(b.store(), {
        "service:api->topic:shop.order.created": ("publish", N),
        "topic:shop.order.created->service:billing": ("consume", N),
        "service:billing->topic:shop.invoice.issued": ("publish", N),
        "topic:shop.invoice.issued->service:mailer": ("consume", N),
        "service:api->external:postgresql": ("call", N),
        "service:billing->external:postgresql": ("call", 2 * N),
    }, ["topic:shop.order.created->service:billing",
        "topic:shop.invoice.issued->service:mailer"],
        # (the context the subscriber had is lost before its publish: reported there)
        [("publish_without_context", "service:billing->topic:shop.invoice.issued", N)])
    # the delivery to billing is the consumer span (5 ms), not the handler under it
    assert a.edge("topic:shop.order.created->service:billing")["p50_ms"] == 5.0
    # nothing joins the subscriber's publish to the order: the order's flow ends at billing,
    # mailer's delivery belongs to the flow the dispatcher's publish starts
    flows = {f["name"]: f for f in a.flows}
    order = flows["POST /orders (api)"]
    assert order["count"] == N
    assert "topic:shop.invoice.issued->service:mailer" not in order["hops"]
    invoice = flows["CAP/shop.invoice.issued/Publisher (billing)"]
    assert invoice["count"] == N
    assert "topic:shop.invoice.issued->service:mailer" in invoice["hops"]


def test_cap_publish_retried_by_the_outbox_is_delivered_once():
    """CAP's outbox when the broker is down (IMessageSender.Default.cs: three immediate
    attempts, then the retry processor sends the stored message again minutes later): three
    "CAP/<name>/Publisher" spans with status ERROR, then one that succeeds ~4 minutes later,
    all children of the persistence span, whose context the stored message's headers carry.
    The message was delivered once, from the last attempt: no message went unconsumed, and its
    queue time counts from the attempt that reached the broker."""
    b = SpanSet()
    for i in range(N):
        t = i * 1000
        root = b.span("api", "POST /orders", kind="SERVER", start_ms=t, dur_ms=14,
                      attrs={"http.request.method": "POST", "http.route": "/orders",
                             "http.response.status_code": 201})
        attempts = [(t + 21, "ERROR"), (t + 26, "ERROR"), (t + 31, "ERROR"),
                    (t + 245_000, "UNSET")]
        _cap_hop(b, publisher="api", consumer="billing", name="shop.order.created",
                 group="cap.queue.billing.v1", method="HandleOrderCreated", ambient=root,
                 t=t + 3, msg_id=f"18532014675288{i:05d}", publish_attempts=attempts)
    st = b.store()
    a = analyze(st)
    assert edges_of(a) == {
        "service:api->topic:shop.order.created": ("publish", 4 * N),
        "topic:shop.order.created->service:billing": ("consume", N),
        "service:api->external:postgresql": ("call", N),
        "service:billing->external:postgresql": ("call", N),
    }
    assert a.edge("service:api->topic:shop.order.created")["error_count"] == 3 * N
    consume = a.edge("topic:shop.order.created->service:billing")
    assert consume["joined_by"] == {"context": N, "message_id": 0, "none": 0, "outside": 0}
    assert consume["message_count"] == N
    assert consume["queue_p50_ms"] == 8.0
    # the failed attempts never reached the broker; their message was consumed
    assert not a.anomalies


# ------------------------------------------------------------------ Azure Functions (isolated)
# The API sends with Azure.Messaging.ServiceBus (sources "Azure.Messaging.ServiceBus.*" on):
# Azure/azure-sdk-for-net sdk/core/Azure.Core/src/Shared/MessagingClientDiagnostics.cs
# (InstrumentMessage: a PRODUCER "Message" per message, its id written to Diagnostic-Id and
# traceparent; scopes tagged messaging.system, server.address, messaging.destination.name and
# az.namespace) and a CLIENT "ServiceBusSender.Send" linking the messages.
# The Functions host (Azure/azure-functions-host, src/WebJobs.Script/Diagnostics/OpenTelemetry/
# OpenTelemetryConfigurationExtensions.cs, telemetryMode OpenTelemetry) listens only to
# "Azure.Messaging.ServiceBus.ServiceBusProcessor" among the SDK's sources; the Service Bus
# extension's single-dispatch trigger (Microsoft.Azure.WebJobs.Extensions.ServiceBus,
# Listeners/ServiceBusListener.cs) runs on a ServiceBusProcessor, whose
# ProcessOneMessageWithinScopeAsync opens "ServiceBusProcessor.ProcessMessage" (CONSUMER,
# messaging.operation=process) with the message's context as parent and as link
# (DiagnosticExtensions.SetMessageAsParent). The host makes no invocation span of its own when
# one is current (ActivitySourceWrapper.cs) and passes Activity.Current to the worker as the
# invocation's trace context (src/WebJobs.Script/Description/Workers/WorkerFunctionInvoker.cs:
# Traceparent = Activity.Current?.Id).
# The worker (Azure/azure-functions-dotnet-worker, src/DotNetWorker.Core/Diagnostics/Telemetry/
# TelemetryProvider*.cs, source "Microsoft.Azure.Functions.Worker") starts its invocation span
# with that context as parent: schema 1.17.0 (the default) "Invoke", SERVER, tagged
# az.schema_url and faas.execution; schema 1.37.0 "function <name>", INTERNAL, tagged
# schema.url, faas.invocation_id, faas.name, faas.instance. The receive and the settle
# ("ServiceBusReceiver.*") come from a source the host does not listen to.

SB = {"messaging.system": "servicebus", "server.address": "shop.servicebus.windows.net",
      "az.namespace": "Microsoft.ServiceBus"}


def _functions_servicebus(b: SpanSet, schema: str, entity: str, topic: str) -> None:
    """An API sends one message per order to ``topic``; the function app "orders-func" (host
    and worker exporting as one service) is triggered from ``entity`` (the queue, or the
    topic's subscription path) and writes to SQL Server."""
    for i in range(N):
        t = i * 1000
        inv = f"5c0f7d1e-3a4b-4c2d-9e8f-0000000000{i:02d}"
        root = b.span("api", "POST /orders", kind="SERVER", start_ms=t, dur_ms=30,
                      attrs={"http.request.method": "POST", "http.route": "/orders",
                             "http.response.status_code": 202})
        msg = b.span("api", "Message", kind="PRODUCER", parent=root, start_ms=t + 5,
                     dur_ms=0.1, attrs={**SB, "messaging.destination.name": topic})
        b.span("api", "ServiceBusSender.Send", kind="CLIENT", parent=root, start_ms=t + 6,
               dur_ms=12, links=[msg],
               attrs={**SB, "messaging.destination.name": topic,
                      "messaging.operation": "publish"})
        proc = b.span("orders-func", "ServiceBusProcessor.ProcessMessage", kind="CONSUMER",
                      parent=msg, start_ms=t + 60, dur_ms=30, links=[msg],
                      attrs={**SB, "messaging.destination.name": entity,
                             "messaging.operation": "process"})
        if schema == "1.17.0":
            invoke = b.span("orders-func", "Invoke", kind="SERVER", parent=proc,
                            start_ms=t + 62, dur_ms=25,
                            attrs={"az.schema_url": "https://opentelemetry.io/schemas/1.17.0",
                                   "AzureFunctions_InvocationId": inv,
                                   "AzureFunctions_FunctionName": "ProcessOrder",
                                   "faas.execution": inv})
        else:
            invoke = b.span("orders-func", "function ProcessOrder", parent=proc,
                            start_ms=t + 62, dur_ms=25,
                            attrs={"schema.url": "https://opentelemetry.io/schemas/1.37.0",
                                   "faas.invocation_id": inv, "faas.name": "ProcessOrder",
                                   "faas.instance": "a1b2c3d4e5f6"})
        b.span("orders-func", "orders", kind="CLIENT", parent=invoke, start_ms=t + 65,
               dur_ms=15, attrs={"db.system": "mssql", "db.name": "orders",
                                 "server.address": "shop.database.windows.net"})


def test_azure_function_servicebus_trigger_invoke_span_is_the_delivered_work():
    """Isolated worker, default schema 1.17.0, queue trigger: the host's ProcessMessage
    (CONSUMER, child of and linked to the API's "Message") is the delivery; the worker's
    SERVER "Invoke" under it belongs to the same function app and is no call into it."""
    b = SpanSet()
    _functions_servicebus(b, "1.17.0", entity="orders", topic="orders")
    st = b.store()
    a = analysed_each(st, {
        "service:api->topic:orders": ("publish", N),
        "topic:orders->service:orders-func": ("consume", N),
        "service:orders-func->external:mssql": ("call", N),
    }, ["topic:orders->service:orders-func"])
    assert systems_of(a) == {"topic:orders": "servicebus"}
    consume = a.edge("topic:orders->service:orders-func")
    assert consume["p50_ms"] == 30.0 and consume["message_count"] == N
    assert sum(f["count"] for f in a.flows) == N
    assert edge_detail(st, "topic:orders->service:orders-func")["count"] == N


def test_azure_function_servicebus_subscription_trigger_with_schema_1_37():
    """Isolated worker on schema 1.37.0 (an INTERNAL "function ProcessOrder" span with faas.*
    tags), triggered from a topic's subscription: the API publishes to the topic, the broker
    routes it to the subscription the trigger names (orders/Subscriptions/fulfilment), and the
    function app's ProcessMessage is its one delivery."""
    b = SpanSet()
    sub = "orders/Subscriptions/fulfilment"
    _functions_servicebus(b, "1.37.0", entity=sub, topic="orders")
    a = analysed_each(b.store(), {
        "service:api->topic:orders": ("publish", N),
        f"topic:orders->topic:{sub}": ("route", N),
        f"topic:{sub}->service:orders-func": ("consume", N),
        "service:orders-func->external:mssql": ("call", N),
    }, [f"topic:{sub}->service:orders-func"])
    assert a.edge(f"topic:{sub}->service:orders-func")["p50_ms"] == 30.0
    assert sum(f["count"] for f in a.flows) == N
