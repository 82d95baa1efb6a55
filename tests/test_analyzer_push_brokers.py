"""Span shapes of brokers that deliver by pushing over HTTP, and of the CloudEvents world,
each read from the library's own source: the CloudEvents Go SDK's OpenTelemetry
observability service, Knative Eventing's multi-tenant channel-based broker (its OpenTelemetry
tracing, eventing 1.18+), and the Azure Event Grid publisher clients (.NET, Python) with a
webhook subscriber. (Dapr pub/sub pushed to an app over HTTP is in
tests/test_analyzer_libraries.py and tests/test_analyzer_dapr2.py.) Each test builds exactly
the spans the libraries export for a small scenario, three times, and checks what the
analyzer makes of them. (Knative Eventing's broker is a note: not supported.)

CloudEvents SDKs: only sdk-go has tracing (cloudevents/sdk-go, observability/opentelemetry/v2;
its older observability/opencensus/v2 is OpenCensus). sdk-java, sdk-javascript, sdk-csharp and
sdk-python only model the distributed tracing extension (traceparent in the event); they open
no spans of their own.
"""

from __future__ import annotations

from typing import Any

from analyzer import analyze, edge_detail
from tests.analysis_checks import analysed_each, edges_of, flows_of, systems_of
from tests.builders import SpanRef, SpanSet

N = 3


# ------------------------------------------------------------------------ CloudEvents sdk-go
# cloudevents/sdk-go, observability/opentelemetry/v2/client/otel_observability_service.go:
# RecordSendingEvent opens a PRODUCER span "cloudevents.client.<type> send" (the default span
# name formatter of otel_options.go, ClientSpanName "cloudevents.client" + "." + the event's
# type, the operation appended), RecordCallingInvoker a CONSUMER span "... process"; both carry
# GetDefaultSpanAttributes only: code.function (the recording method's name, getFuncName), and
# the event's cloudevents.specversion / .id / .type / .source / .subject / .datacontenttype
# (v2/observability/keys.go: the SDK's own keys, not the semantic conventions'
# cloudevents.event_*). No messaging.system, no destination. v2/client/client.go Send calls
# RecordSendingEvent, then the protocol's Send with that context. NewClientHTTP
# (observability/opentelemetry/v2/client/client.go, http/http.go) wraps the HTTP protocol in
# otelhttp.NewTransport (a CLIENT span per request, child of the send span, traceparent header)
# and otelhttp.NewHandler(next, "cloudevents.http.receiver") (the SERVER span); the
# invoker's InboundContextDecorators (tracePropagatorContextDecorator) take the span of the
# request's context as the process span's parent.

def _ce(event_type: str, event_id: str, func: str, source: str = "/orders") -> dict[str, Any]:
    """GetDefaultSpanAttributes of an event (no subject)."""
    return {"code.function": func, "cloudevents.specversion": "1.0",
            "cloudevents.id": event_id, "cloudevents.type": event_type,
            "cloudevents.source": source, "cloudevents.datacontenttype": "application/json"}


def _ce_send(b: SpanSet, service: str, parent: SpanRef, t: float, dur: float,
             event_type: str, event_id: str) -> SpanRef:
    return b.span(service, f"cloudevents.client.{event_type} send", kind="PRODUCER",
                  parent=parent, start_ms=t, dur_ms=dur,
                  attrs=_ce(event_type, event_id, "RecordSendingEvent"))


def _ce_process(b: SpanSet, service: str, parent: SpanRef | None, t: float, dur: float,
                event_type: str, event_id: str, status: str = "UNSET") -> SpanRef:
    return b.span(service, f"cloudevents.client.{event_type} process", kind="CONSUMER",
                  parent=parent, start_ms=t, dur_ms=dur, status=status,
                  attrs=_ce(event_type, event_id, "RecordCallingInvoker"))


def _otelhttp_client_old(b: SpanSet, service: str, parent: SpanRef, t: float, dur: float,
                         host: str, path: str = "/", status: int = 202) -> SpanRef:
    """otelhttp.NewTransport of the releases on semantic conventions 1.20 ("HTTP POST")."""
    return b.span(service, "HTTP POST", kind="CLIENT", parent=parent, start_ms=t, dur_ms=dur,
                  attrs={"http.method": "POST", "http.url": f"http://{host}{path}",
                         "net.peer.name": host, "http.status_code": status,
                         "http.request_content_length": 412})


def _db(b: SpanSet, service: str, parent: SpanRef, t: float) -> None:
    b.span(service, "INSERT invoices", kind="CLIENT", parent=parent, start_ms=t, dur_ms=2,
           attrs={"db.system": "postgresql", "db.operation": "INSERT",
                  "server.address": "postgres", "server.port": 5432})


PLACED = "com.example.order.placed"


def test_cloudevents_go_client_sending_over_http_is_a_delivery_not_a_call():
    """sdk-go's NewClientHTTP on both sides, sending straight to the subscriber's URL (a sink:
    no broker between them): the sender's PRODUCER "cloudevents.client.<type> send" with the
    otelhttp CLIENT request under it; the receiver's otelhttp SERVER span
    "cloudevents.http.receiver", child of that request, and under it the CONSUMER
    "cloudevents.client.<type> process". The HTTP request is how the event was pushed: one
    publish and one delivery per event, joined by the propagated context (the producer is
    the process span's ancestor through the request), no call between the services, no
    anomaly, one flow per order. Nothing names a destination: the topic is unknown.
    Source: cloudevents/sdk-go observability/opentelemetry/v2/client/
    otel_observability_service.go, otel_options.go, client.go, http/http.go;
    v2/client/client.go (Send)."""
    b = SpanSet()
    host = "billing.shop.svc.cluster.local"
    for i in range(N):
        t = i * 100
        root = b.span("orders", "POST /orders", kind="SERVER", start_ms=t, dur_ms=30,
                      attrs={"http.method": "POST", "http.route": "/orders",
                             "http.status_code": 201})
        send = _ce_send(b, "orders", root, t + 2, 20, PLACED, f"3f1c-{i}")
        req = _otelhttp_client_old(b, "orders", send, t + 3, 18, host)
        srv = b.span("billing", "cloudevents.http.receiver", kind="SERVER", parent=req,
                     start_ms=t + 5, dur_ms=15,
                     attrs={"http.method": "POST", "http.target": "/", "http.scheme": "http",
                            "net.host.name": host, "http.status_code": 202})
        proc = _ce_process(b, "billing", srv, t + 6, 13, PLACED, f"3f1c-{i}")
        _db(b, "billing", proc, t + 8)
    st = b.store()
    a = analysed_each(st, {
        "service:orders->topic:unknown": ("publish", N),
        "topic:unknown->service:billing": ("consume", N),
        "service:billing->external:postgresql": ("call", N),
    }, ["topic:unknown->service:billing"])
    assert a.edge("topic:unknown->service:billing")["p50_ms"] == 13
    assert flows_of(a) == [("orders", N, 1.0)]


def test_cloudevents_go_receiver_without_http_middleware_is_joined_by_event_id():
    """A receiver built with cloudevents.NewClient(cloudevents.NewHTTP(),
    client.WithObservabilityService(otelObs.NewOTelObservabilityService())) but without the
    otelhttp middleware (the README's "Advanced configuration" says both are needed): the
    request's context holds no span, tracePropagatorContextDecorator finds none, and each
    process span starts a trace of its own. Only the event id, which both spans carry
    (cloudevents.id), joins the delivery to its publish: the context was lost, the event
    was not. The sender's otelhttp request under its send span is how the event went out,
    not a call of its own.
    Source: cloudevents/sdk-go observability/opentelemetry/v2/README.md,
    client/otel_observability_service.go (tracePropagatorContextDecorator)."""
    b = SpanSet()
    host = "billing.shop.svc.cluster.local"
    for i in range(N):
        t = i * 100
        root = b.span("orders", "POST /orders", kind="SERVER", start_ms=t, dur_ms=30)
        send = _ce_send(b, "orders", root, t + 2, 20, PLACED, f"9d0e-{i}")
        _otelhttp_client_old(b, "orders", send, t + 3, 18, host)
        proc = _ce_process(b, "billing", None, t + 6, 13, PLACED, f"9d0e-{i}")
        _db(b, "billing", proc, t + 8)
    a = analyze(b.store())
    assert edges_of(a) == {
        "service:orders->topic:unknown": ("publish", N),
        "topic:unknown->service:billing": ("consume", N),
        "service:billing->external:postgresql": ("call", N),
    }
    consume = a.edge("topic:unknown->service:billing")
    assert consume["joined_by"] == {"context": 0, "message_id": N, "none": 0, "outside": 0}
    (broken,) = a.anomalies
    assert (broken["type"], broken["where"], broken["stitched"]) == \
        ("broken_context", "topic:unknown->service:billing", N)
    assert flows_of(a) == [("orders", N, 2.0)]


# --------------------------------------------------------------------- Knative Eventing broker
# Not supported (left alone, see the session note): Knative Eventing 1.18+'s multi-tenant
# channel-based broker reports its own spans from its components (mt-broker-ingress: an
# otelhttp SERVER span and an INTERNAL "broker:<broker>.<namespace>" span with
# messaging.system knative, the channel's URL as destination and only
# messaging.operation.name send; imc-dispatcher: HTTP spans only; mt-broker-filter: an
# INTERNAL "trigger:<trigger>.<namespace>" span per trigger; knative/eventing
# pkg/broker/ingress/ingress_handler.go, pkg/broker/filter/filter_handler.go,
# pkg/tracing/attributes.go). The broker would have to be read as one destination between
# the sender and the triggers' subscribers (its components no services, their requests no
# calls); they read as services calling each other, the subscribers' deliveries joined to
# nothing. Its retries (pkg/kncloudevents/event_dispatcher.go DoWithRetries) likewise.


# ------------------------------------------------------------------------- Azure Event Grid
# Azure/azure-sdk-for-net sdk/eventgrid/Azure.Messaging.EventGrid: EventGridPublisherClient
# (src/Customization/EventGridPublisherClient.cs) opens a DiagnosticScope
# "EventGridPublisherClient.SendEvents" (kind INTERNAL, the scope's default), and, for
# CloudEvents, writes Activity.Current.Id (that scope's span) as each event's traceparent
# extension unless the event has one. The assembly's AzureResourceProviderNamespace is
# "Microsoft.EventGrid" (src/Properties/AssemblyInfo.cs): az.namespace on its spans.
# Azure.Core's RequestActivityPolicy (sdk/core/Azure.Core/src/Pipeline/Internal/
# RequestActivityPolicy.cs) opens the CLIENT span "Azure.Core.Http.Request" with
# http.method, http.url, az.client_request_id, net.peer.name, az.namespace,
# http.user_agent, then http.status_code, az.service_request_id, otel.status_code.
# Event Grid pushes the event to the subscription's webhook (structured CloudEvents JSON, the
# traceparent inside the event): the webhook's SERVER span is a root.
EG_HOST = "orders.westeurope-1.eventgrid.azure.net"


def _dotnet_publish(b: SpanSet, parent: SpanRef, t: float, i: int) -> SpanRef:
    """.NET EventGridPublisherClient.SendEventsAsync(CloudEvent[]); returns the scope span
    (the events' traceparent)."""
    scope = b.span("orders", "EventGridPublisherClient.SendEvents", parent=parent,
                   start_ms=t, dur_ms=28, attrs={"az.namespace": "Microsoft.EventGrid"})
    b.span("orders", "Azure.Core.Http.Request", kind="CLIENT", parent=scope, start_ms=t + 1,
           dur_ms=26, attrs={"http.method": "POST",
                             "http.url": f"https://{EG_HOST}/api/events?api-version=2018-01-01",
                             "az.client_request_id": f"5c0e-{i}", "net.peer.name": EG_HOST,
                             "az.namespace": "Microsoft.EventGrid",
                             "http.user_agent": "azsdk-net-Messaging.EventGrid/4.28.0",
                             "http.status_code": 200, "az.service_request_id": f"eg-{i}",
                             "otel.status_code": "UNSET"})
    return scope


def _webhook(b: SpanSet, t: float) -> SpanRef:
    """ASP.NET Core's SERVER span of Event Grid's push to the webhook (a root)."""
    return b.span("billing", "POST /api/events", kind="SERVER", start_ms=t, dur_ms=20,
                  attrs={"http.request.method": "POST", "http.route": "/api/events",
                         "url.path": "/api/events", "url.scheme": "https",
                         "user_agent.original": "Microsoft-Azure-EventGrid/2.0",
                         "http.response.status_code": 200})


def test_event_grid_webhook_continuing_the_events_traceparent_is_a_delivery():
    """The webhook parses the CloudEvent and starts its handling span with the event's
    traceparent extension as parent (ActivitySource.StartActivity(name, Consumer, parent)):
    the CONSUMER span, naming no messaging attribute, is the child of the publisher's
    "EventGridPublisherClient.SendEvents" span, in the publisher's trace, under nothing of
    its own service. The Event Grid topic ("orders", the endpoint's first host label, system
    eventgrid per az.namespace Microsoft.EventGrid) is the destination: one publish and one
    delivery per event joined by context; the SDK's HTTP request to Event Grid is how the
    publish went out, not a call; the webhook's own request span is no second delivery.
    Source: Azure/azure-sdk-for-net sdk/eventgrid/Azure.Messaging.EventGrid/src/
    Customization/EventGridPublisherClient.cs, src/Properties/AssemblyInfo.cs;
    sdk/core/Azure.Core/src/Pipeline/Internal/RequestActivityPolicy.cs."""
    b = SpanSet()
    for i in range(N):
        t = i * 1000
        root = b.span("orders", "POST /orders", kind="SERVER", start_ms=t, dur_ms=40)
        scope = _dotnet_publish(b, root, t + 5, i)
        hook = _webhook(b, t + 300)
        proc = b.span("billing", "Process order.placed", kind="CONSUMER", parent=scope,
                      start_ms=t + 302, dur_ms=15)
        _db(b, "billing", proc, t + 305)
        assert hook.trace_id != proc.trace_id
    st = b.store()
    a = analysed_each(st, {
        "service:orders->topic:orders": ("publish", N),
        "topic:orders->service:billing": ("consume", N),
        "service:billing->external:postgresql": ("call", N),
    }, ["topic:orders->service:billing"])
    assert systems_of(a) == {"topic:orders": "eventgrid"}
    assert a.edge("topic:orders->service:billing")["queue_p50_ms"] == 269
    assert edge_detail(st, "topic:orders->service:billing")["count"] == N
    # the webhook's request span, a root nothing joins, is a trace of its own
    assert flows_of(a) == [("billing", N, 1.0), ("orders", N, 1.0)]


def test_event_grid_python_publish_without_tracestate_reaches_an_unlinked_webhook():
    """azure-eventgrid (Python): send is @distributed_trace ("EventGridPublisherClient.send",
    INTERNAL, no attributes), the pipeline's DistributedTracingPolicy the CLIENT span "POST"
    with the request's traceparent header. CloudEventDistributedTracingPolicy copies the
    traceparent header into the events only when a tracestate header is there too (a
    KeyError otherwise sets both to None), and OpenTelemetry's propagator writes no
    tracestate when it is empty: the events carry no traceparent, the webhook's span is a
    root with nothing to continue. The publish goes to the Event Grid topic the endpoint
    names; no delivery is invented (at most the publishes are reported unconsumed); the
    webhook's work is a flow of its own.
    Source: Azure/azure-sdk-for-python sdk/eventgrid/azure-eventgrid/azure/eventgrid/
    _publisher_client.py (_policies, send), _policies.py."""
    b = SpanSet()
    for i in range(N):
        t = i * 1000
        root = b.span("orders", "POST /orders", kind="SERVER", start_ms=t, dur_ms=40,
                      attrs={"http.method": "POST", "http.route": "/orders",
                             "http.status_code": 201})
        send = b.span("orders", "EventGridPublisherClient.send", parent=root, start_ms=t + 5,
                      dur_ms=30)
        b.span("orders", "POST", kind="CLIENT", parent=send, start_ms=t + 6, dur_ms=28,
               attrs={"http.method": "POST",
                      "http.url": f"https://{EG_HOST}/api/events?api-version=2018-01-01",
                      "net.peer.name": EG_HOST, "http.user_agent":
                      "azsdk-python-eventgrid/4.20.0 Python/3.12.3 (Linux-6.8)",
                      "http.status_code": 200, "x-ms-client-request-id": f"5c0e-{i}",
                      "x-ms-request-id": f"eg-{i}"})
        hook = b.span("billing", "POST /api/events", kind="SERVER", start_ms=t + 300,
                      dur_ms=20, attrs={"http.method": "POST", "http.route": "/api/events",
                                        "http.status_code": 200})
        _db(b, "billing", hook, t + 305)
    a = analyze(b.store())
    assert edges_of(a) == {
        "service:orders->topic:orders": ("publish", N),
        "service:billing->external:postgresql": ("call", N),
    }
    assert systems_of(a) == {"topic:orders": "eventgrid"}
    assert {x["type"] for x in a.anomalies} <= {"published_never_consumed"}
    assert flows_of(a) == [("billing", N, 1.0), ("orders", N, 1.0)]


def test_event_grid_namespace_sender_gives_its_events_the_http_requests_context():
    """Azure.Messaging.EventGrid.Namespaces: EventGridSenderClient.SendAsync(CloudEvent[])
    opens the scope "EventGridSenderClient.Send" (its ClientDiagnostics suppresses the
    generated method's nested "EventGridSenderClient.SendEvents" scope), and the
    CloudEventRequestContent writes the traceparent extension when the transport serialises
    the body: Activity.Current is then Azure.Core's "Azure.Core.Http.Request" CLIENT span,
    so the subscriber continuing the event's traceparent is that request's child. The
    request's URL names the namespace topic (/topics/orders:publish). Still one publish to
    the topic and one delivery per event joined by context, no call.
    Source: Azure/azure-sdk-for-net sdk/eventgrid/Azure.Messaging.EventGrid.Namespaces/src/
    Customization/EventGridSenderClient.cs, Customization/CloudEventRequestContent.cs,
    Generated/EventGridSenderClient.cs; Azure.Core RequestActivityPolicy.cs."""
    host = "shop-ns.westeurope-1.eventgrid.azure.net"
    b = SpanSet()
    for i in range(N):
        t = i * 1000
        root = b.span("orders", "POST /orders", kind="SERVER", start_ms=t, dur_ms=40)
        scope = b.span("orders", "EventGridSenderClient.Send", parent=root, start_ms=t + 5,
                       dur_ms=25, attrs={"az.namespace": "Microsoft.EventGrid"})
        req = b.span("orders", "Azure.Core.Http.Request", kind="CLIENT", parent=scope,
                     start_ms=t + 6, dur_ms=23,
                     attrs={"http.method": "POST",
                            "http.url": f"https://{host}/topics/orders:publish"
                                        "?api-version=2024-06-01",
                            "az.client_request_id": f"77ab-{i}", "net.peer.name": host,
                            "az.namespace": "Microsoft.EventGrid",
                            "http.user_agent": "azsdk-net-Messaging.EventGrid.Namespaces/1.1.0",
                            "http.status_code": 200, "otel.status_code": "UNSET"})
        _webhook(b, t + 200)
        proc = b.span("billing", "Process order.placed", kind="CONSUMER", parent=req,
                      start_ms=t + 202, dur_ms=15)
        _db(b, "billing", proc, t + 205)
    a = analysed_each(b.store(), {
        "service:orders->topic:orders": ("publish", N),
        "topic:orders->service:billing": ("consume", N),
        "service:billing->external:postgresql": ("call", N),
    }, ["topic:orders->service:billing"])
    assert systems_of(a) == {"topic:orders": "eventgrid"}
    assert flows_of(a) == [("billing", N, 1.0), ("orders", N, 1.0)]
