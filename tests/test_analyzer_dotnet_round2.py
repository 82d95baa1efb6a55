"""Span shapes of more .NET libraries, each read from the library's own source: MassTransit 8
over RabbitMQ with RabbitMQ.Client 7's own ActivitySource listened to as well (two layers of
spans for one send and one delivery), MassTransit's request client and its Entity Framework
bus outbox; Microsoft Orleans 7-9 grain calls (the Microsoft.Orleans.Application source);
and the Dapr .NET SDK's actors and bulk subscriptions (as the Dapr sidecar traces them: the
SDK itself opens no span). Each test builds exactly the spans the libraries export for a
small scenario, three times, and checks what the analyzer makes of them."""

from __future__ import annotations

from typing import Any


from tests.analysis_checks import analysed_each, flows_of
from tests.builders import SpanRef, SpanSet

N = 3

# ------------------------------------------------------------------------------ MassTransit
# MassTransit/MassTransit, src/MassTransit/Logging/Diagnostics/LogContextActivityExtensions.cs
# (ActivitySource "MassTransit", tag names in DiagnosticHeaders.cs):
#   StartSendActivity: "<destination> send" PRODUCER, a child of Activity.Current (else of the
#     MT-Activity-Id header), messaging.operation=send, messaging.system (the transport's
#     ActivitySystem: "rabbitmq"), messaging.destination.name = ActivityDestination, and
#     messaging.masstransit.* tags; it writes its own id to the MT-Activity-Id header.
#     src/MassTransit/Transports/BaseSendTransportContext.cs: the destination is the
#     transport's entity name (for RabbitMQ the exchange), "bus" for a name holding "_bus_"
#     (a bus endpoint's temporary queue), "endpoint" for "_endpoint_".
#   StartReceiveActivity: "<endpoint> receive" CONSUMER whose parent is the MT-Activity-Id
#     header (explicitly, whatever Activity.Current is), messaging.operation=receive,
#     messaging.destination.name = the endpoint (queue) name, input address, the transport
#     message id; no messaging.system. ReceivePipeDispatcher names it by
#     EndpointAddressExtensions.GetDiagnosticEndpointName ("bus" for a bus endpoint) and the
#     destination by GetEndpointName (the queue's real name).
#   StartConsumerActivity / StartHandlerActivity: "<endpoint> process" CONSUMER under it.
#   StartOutboxSendActivity: "outbox send" PRODUCER (no system, no destination) when a message
#     is written to the outbox; StartOutboxDeliverActivity: "outbox process" CLIENT, its
#     parent the stored MT-Activity-Id (the outbox send), opened by the delivery service
#     around the real send (BusOutboxDeliveryService.DeliverOutboxMessages).
#   StartedActivity.Stop sets status Ok.
# src/Transports/MassTransit.RabbitMqTransport/RabbitMqTransport/RabbitMqSendTransportContext.cs
#   publishes to the exchange (message id and correlation id in BasicProperties) through
#   IChannel.BasicPublishAsync; RabbitMqBasicConsumer.HandleBasicDeliverAsync (8.3+, on
#   RabbitMQ.Client 7) awaits the dispatch inline, inside the client's delivery span.
# rabbitmq/rabbitmq-dotnet-client, projects/RabbitMQ.Client/Impl/RabbitMQActivitySource.cs
# (sources "RabbitMQ.Client.Publisher" / "RabbitMQ.Client.Subscriber"), Impl/Channel.BasicPublish.cs
# and Impl/RabbitMQTracingOptions.cs:
#   BasicPublish: "publish <routing key>" PRODUCER, child of Activity.Current (MassTransit's
#     send span), messaging.operation.type=send, .name=publish, messaging.destination.name =
#     the exchange ("amq.default" for ''), messaging.rabbitmq.destination.routing_key, body
#     and envelope sizes, messaging.message.id from the properties, server/network tags; it
#     injects its own context (traceparent) into the headers; with publisher confirms the
#     span lasts until the confirm.
#   Deliver (ConsumerDispatching/AsyncConsumerDispatcher.cs, around HandleBasicDeliverAsync):
#     "deliver <routing key>" CONSUMER naming the *exchange* the message was published to,
#     operation type process, name deliver, delivery tag, message id; a link to the
#     publish's context and, with TracingOptions.UsePublisherAsParent (later 7.x releases,
#     default true), that context as its parent too (the first 7.x releases: the link only,
#     a root span, and no message id on the publish).


def _db(b: SpanSet, service: str, parent: SpanRef | None, t: float, sql: str,
        dur: float = 1.5) -> SpanRef:
    """An Npgsql command span (named by the database)."""
    return b.span(service, "shop", kind="CLIENT", parent=parent, start_ms=t, dur_ms=dur,
                  attrs={"db.system": "postgresql", "db.name": "shop", "db.statement": sql,
                         "server.address": "postgres", "server.port": 5432})


# ------------------------------------------------------------------------------- Orleans
# dotnet/orleans, src/Orleans.Core/Diagnostics/ActivityPropagationGrainCallFilter.cs (7.x-9.x,
# enabled by AddActivityPropagation on the silos and the client): the outgoing filter starts
# a CLIENT activity named by the invokable's GetActivityName() ("IOrderGrain/PlaceOrder", see
# the code generator's output) under Activity.Current and injects it (traceparent) into the
# RequestContext; the incoming filter starts a SERVER activity of the same name, child of the
# extracted context. Source "Microsoft.Orleans.Application" for application grains,
# "Microsoft.Orleans.Runtime" for Orleans' own interfaces. Tags rpc.system=orleans,
# rpc.service (the interface's full name), rpc.method, rpc.orleans.target_id (the GrainId,
# "<type>/<key>") and rpc.orleans.source_id (the calling grain's id), on both spans; status
# Error and exception.* tags when the call throws. No network peer is named.

def _orleans(method: str, target: str, source: str | None = None) -> dict[str, Any]:
    iface, _, name = method.partition("/")
    a = {"rpc.system": "orleans", "rpc.service": f"Shop.Grains.{iface}", "rpc.method": name,
         "rpc.orleans.target_id": target}
    if source is not None:
        a["rpc.orleans.source_id"] = source
    return a


def _grain_call(b: SpanSet, caller: str, callee: str, parent: SpanRef, t: float, dur: float,
                method: str, target: str, source: str | None = None,
                server_dur: float | None = None, server_offset: float = 0.6,
                status: str = "UNSET") -> SpanRef:
    """A grain call: the caller's CLIENT span, the callee silo's SERVER span under it."""
    tags = _orleans(method, target, source)
    client = b.span(caller, method, kind="CLIENT", parent=parent, start_ms=t, dur_ms=dur,
                    attrs=tags, status=status)
    sd = server_dur if server_dur is not None else dur - 2 * server_offset
    return b.span(callee, method, kind="SERVER", parent=client, start_ms=t + server_offset,
                  dur_ms=sd, attrs=tags, status=status)


def test_orleans_grain_calls_are_calls_between_the_client_and_the_silos():
    """An ASP.NET Core frontend with an Orleans client calls OrderGrain (hosted by the
    orders silos), which calls InventoryGrain (hosted by the inventory silos of a
    heterogeneous cluster) and writes its state (ADO.NET storage on PostgreSQL): grain calls
    are calls between the services, one flow per order, no messaging."""
    b = SpanSet()
    for i in range(N):
        t = i * 1000
        order, sku = f"order/{1001 + i}", f"inventory/sku-{40 + i}"
        root = b.span("web", "POST /orders", kind="SERVER", start_ms=t, dur_ms=40,
                      attrs={"http.request.method": "POST", "http.route": "/orders"})
        grain = _grain_call(b, "web", "orders-silo", root, t + 2, 35, "IOrderGrain/PlaceOrder",
                            order)
        inv = _grain_call(b, "orders-silo", "inventory-silo", grain, t + 5, 14,
                          "IInventoryGrain/Reserve", sku, source=order)
        _db(b, "inventory-silo", inv, t + 8, "UPDATE orleansstorage SET ...", dur=4)
        _db(b, "orders-silo", grain, t + 25, "UPDATE orleansstorage SET ...", dur=5)
    st = b.store()
    a = analysed_each(st, {
        "service:web->service:orders-silo": ("call", N),
        "service:orders-silo->service:inventory-silo": ("call", N),
        "service:inventory-silo->external:postgresql": ("call", N),
        "service:orders-silo->external:postgresql": ("call", N),
    }, [])
    assert flows_of(a) == [("web", N, 1.0)]


def test_orleans_one_way_grain_call_runs_after_its_client_span():
    """A [OneWay] grain method (IOrderGrain calls INotificationGrain.OrderPlaced): the
    caller's invoke returns once the message is sent, so its CLIENT span ends at once while
    the callee's SERVER span, its child, runs after it. Work handed on, not clock skew; a
    failed notification is an error of that call."""
    b = SpanSet()
    for i in range(N):
        t = i * 1000
        order = f"order/{2001 + i}"
        root = b.span("web", "POST /orders", kind="SERVER", start_ms=t, dur_ms=20,
                      attrs={"http.request.method": "POST", "http.route": "/orders"})
        grain = _grain_call(b, "web", "orders-silo", root, t + 2, 15, "IOrderGrain/PlaceOrder",
                            order)
        assert grain
        client = b.span("orders-silo", "INotificationGrain/OrderPlaced", kind="CLIENT",
                        parent=grain, start_ms=t + 12, dur_ms=0.3,
                        attrs=_orleans("INotificationGrain/OrderPlaced",
                                       f"notification/{1 + i}", source=order))
        b.span("notifications-silo", "INotificationGrain/OrderPlaced", kind="SERVER",
               parent=client, start_ms=t + 13, dur_ms=30,
               status="ERROR" if i == 0 else "UNSET",
               attrs=_orleans("INotificationGrain/OrderPlaced", f"notification/{1 + i}",
                              source=order))
    st = b.store()
    a = analysed_each(st, {
        "service:web->service:orders-silo": ("call", N),
        "service:orders-silo->service:notifications-silo": ("call", N),
    }, [])
    assert a.edge("service:orders-silo->service:notifications-silo")["error_count"] == 1
    assert flows_of(a) == [("web", N, 1.0)]


# ---------------------------------------------------------------------------------- Dapr
# The Dapr .NET SDK opens no span of its own (dapr/dotnet-sdk: Dapr.Actors'
# DaprHttpInteractor sends actor calls with HttpClient, "PUT v1.0/actors/{type}/{id}/method/
# {method}" per Constants.ActorMethodRelativeUrlFormat; state through ".../state"): the app's
# HttpClient instrumentation traces its call to the sidecar (localhost:3500), the sidecar
# (service.name = the app id) traces the API (dapr/dapr pkg/diagnostics/http_tracing.go,
# populateActorParams: a CLIENT span renamed "CallActor/<type>/<method>" with rpc.service
# ServiceInvocation, net.peer.name and dapr.actor "<type>.<id>", dapr.api, dapr.protocol,
# dapr.status_code; actor state: db.system "state", db.name "actor"), the hosting sidecar
# traces the internal gRPC call (grpc_tracing.go: a SERVER span "CallActor/<type>/<method>"
# for dapr.proto.internals) and calls the app, whose ASP.NET Core span is its child.
# Subscriptions (pkg/runtime/subscription/postman/http, bulk: .../bulk): the sidecar starts a
# CLIENT span "pubsub/<topic>" (messaging.system pubsub, messaging.destination.name) per
# message, child of the traceparent of the message's CloudEvent; a bulk delivery starts one
# per message (the context variable reassigned in the loop) and calls the app once, with the
# last message's span as the app request's parent; all end together.

def _dapr_http(method: str, path: str, status: int = 200) -> dict[str, Any]:
    return {"http.request.method": method, "server.address": "localhost", "server.port": 3500,
            "url.full": f"http://localhost:3500/{path}",
            "http.response.status_code": status}


def test_dapr_bulk_subscription_delivers_each_message_of_a_batch_once():
    """checkout publishes each order through its sidecar; order-processor subscribes with
    [BulkSubscribe]: its sidecar hands three messages at a time to one app request, opening
    a "pubsub/orders" span per message (each the child of its own publish, in its publisher's
    trace), the app's request span a child of the last one. Every message is one delivery
    joined by context; the batch's other messages are not lost."""
    b = SpanSet()
    pubs: list[SpanRef] = []
    for k in range(3 * N):
        t = k * 100
        root = b.span("checkout", "POST /checkout", kind="SERVER", start_ms=t, dur_ms=20,
                      attrs={"http.request.method": "POST", "http.route": "/checkout"})
        call = b.span("checkout", "POST", kind="CLIENT", parent=root, start_ms=t + 2,
                      dur_ms=10, attrs=_dapr_http("POST", "v1.0/publish/pubsub/orders", 204))
        pubs.append(b.span("checkout", "/v1.0/publish/pubsub/orders", kind="CLIENT",
                           parent=call, start_ms=t + 3, dur_ms=8,
                           attrs={"messaging.system": "pubsub",
                                  "messaging.destination.name": "orders",
                                  "dapr.protocol": "http",
                                  "dapr.api": "POST /v1.0/publish/pubsub/orders",
                                  "dapr.status_code": "204"}))
    for j in range(N):
        batch = pubs[3 * j:3 * j + 3]
        t = 3 * j * 100 + 260
        spans = [b.span("order-processor", "pubsub/orders", kind="CLIENT", parent=p,
                        start_ms=t + 0.1 * k, dur_ms=25 - 0.1 * k,
                        attrs={"messaging.system": "pubsub",
                               "messaging.destination.name": "orders"})
                 for k, p in enumerate(batch)]
        app = b.span("order-processor", "POST /orders-bulk", kind="SERVER", parent=spans[-1],
                     start_ms=t + 1, dur_ms=23,
                     attrs={"http.request.method": "POST", "http.route": "/orders-bulk"})
        _db(b, "order-processor", app, t + 5, 'INSERT INTO orders ...', dur=12)
    st = b.store()
    delivery = "topic:orders->service:order-processor"
    a = analysed_each(st, {
        "service:checkout->topic:orders": ("publish", 3 * N),
        delivery: ("consume", 3 * N),
        "service:order-processor->external:postgresql": ("call", N),
    }, [delivery])
    assert a.edge(delivery)["message_count"] == 3 * N
    # one flow per order (the app's request, in the last message's trace, makes that order's
    # flow look different from its batch mates')
    assert {f[0] for f in flows_of(a)} == {"checkout"}
    assert sum(f[1] for f in flows_of(a)) == 3 * N
    assert all(f[2] == 1.0 for f in flows_of(a))


# Seen, not encoded (left alone): MassTransit with RabbitMQ.Client 7's own spans enabled
# when a message is published to an exchange routed to a queue (the client's delivery names
# the exchange, MassTransit's the queue: two destinations of one delivery; the route detail
# counts both sends), MassTransit's per-replica bus reply queues
# ('<machine>_<app>_bus_<id>', not read as temporary), its bus outbox sweeper sending
# under a CLIENT span (an extra unnamed publish), and a Dapr actor call's app-to-sidecar
# CLIENT spans (a call to an external 'localhost').


def test_masstransit_send_over_rabbitmq_client_7_counts_one_delivery_per_message():
    """A command sent to the 'submit-order' queue endpoint with both ActivitySources listened
    to (read as in the comment above: LogContextActivityExtensions.cs, RabbitMQActivitySource.cs,
    AsyncConsumerDispatcher.cs): MassTransit's "submit-order send" and, under it, the client's
    "publish submit-order"; in the worker the client's "deliver submit-order" (its parent the
    client's publish, UsePublisherAsParent) around MassTransit's "submit-order receive" (its
    parent MassTransit's send, by the MT-Activity-Id header) and the consumer's
    "submit-order process" under it. Two instrumentation layers of one send and of one
    delivery, each layer with its own parent: one publish and one delivery per command."""
    b = SpanSet()
    rmq = {"messaging.system": "rabbitmq", "server.address": "rabbitmq", "server.port": 5672}
    for i in range(N):
        t = i * 200
        root = b.span("api", "POST /orders", kind="SERVER", start_ms=t, dur_ms=20)
        send = b.span("api", "submit-order send", kind="PRODUCER", parent=root,
                      start_ms=t + 2, dur_ms=6, status="OK",
                      attrs={**rmq, "messaging.operation": "send",
                             "messaging.destination.name": "submit-order",
                             "messaging.message.id": f"mt-{i}"})
        pub = b.span("api", "publish submit-order", kind="PRODUCER", parent=send,
                     start_ms=t + 3, dur_ms=4,
                     attrs={**rmq, "messaging.operation.type": "send",
                            "messaging.operation.name": "publish",
                            "messaging.destination.name": "submit-order",
                            "messaging.rabbitmq.destination.routing_key": "",
                            "messaging.message.id": f"mt-{i}"})
        deliver = b.span("worker", "deliver submit-order", kind="CONSUMER", parent=pub,
                         start_ms=t + 12, dur_ms=14, links=[pub],
                         attrs={**rmq, "messaging.operation.type": "process",
                                "messaging.operation.name": "deliver",
                                "messaging.destination.name": "submit-order",
                                "messaging.message.id": f"mt-{i}"})
        recv = b.span("worker", "submit-order receive", kind="CONSUMER", parent=send,
                      start_ms=t + 12.2, dur_ms=13.5, status="OK",
                      attrs={"messaging.operation": "receive",
                             "messaging.destination.name": "submit-order",
                             "messaging.message.id": f"mt-{i}"})
        b.span("worker", "submit-order process", kind="CONSUMER", parent=recv,
               start_ms=t + 12.5, dur_ms=12, status="OK",
               attrs={"messaging.operation": "process",
                      "messaging.masstransit.consumer_type": "SubmitOrderConsumer"})
        assert deliver  # (the client's span is the outer one)
    st = b.store()
    analysed_each(st, {
        "service:api->topic:submit-order": ("publish", N),
        "topic:submit-order->service:worker": ("consume", N),
    }, ["topic:submit-order->service:worker"])
