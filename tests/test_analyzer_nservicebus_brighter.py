"""Span shapes of two .NET service buses, each read from the library's own source:
NServiceBus 8/9 (its native OpenTelemetry: the "NServiceBus.Core" ActivitySource) over
RabbitMQ and Azure Service Bus, and Brighter v10 (the "Paramore.Brighter" ActivitySource: the
command processor, the outbox producer mediator and the Service Activator's message pump).
Each test builds exactly the spans the library exports for a small scenario, three times, and
checks what the analyzer makes of them."""

from __future__ import annotations

from typing import Any

from analyzer import analyze, flow_for_trace
from tests.analysis_checks import analysed_each, flows_of
from tests.builders import SpanRef, SpanSet

N = 3


# ----------------------------------------------------------------------------- NServiceBus
# Particular/NServiceBus, src/NServiceBus.Core/OpenTelemetry/Tracing/ (9.x; Diagnostics/ in
# 8.x): ActivitySources.cs (one source, "NServiceBus.Core"), ActivityNames.cs (operation names
# NServiceBus.Diagnostics.SendMessage / PublishMessage / ReceiveMessage / InvokeHandler),
# ActivityDisplayNames.cs (the exported span names "send message", "publish event",
# "process message", "reply"; a handler span is named by the handler's type name),
# ActivityFactory.cs (outgoing spans are PRODUCER spans of the current activity; the incoming
# "process message" is a CONSUMER span: the child of the traceparent header's span, or, when
# the NServiceBus.OpenTelemetry.StartNewTrace header is "True", a root span in a new trace
# with a link to it), ActivityDecorator.cs + ActivityTags.cs (the only attributes are the
# message headers promoted to nservicebus.* tags, plus nservicebus.native_message_id on the
# incoming span and nservicebus.handler.handler_type on handler spans: no messaging.* at
# all). RoutingToDispatchConnector.cs promotes the outgoing headers onto the send/publish span
# and writes its context into the traceparent header. Who starts a new trace on receive
# (OpenTelemetrySendBehavior.cs, OpenTelemetryPublishBehavior.cs, DelayedRetryExecutor and
# docs/decisions/2026-07-15-sender-decides-trace-continuation.md): a send continues the trace;
# a publish, a delayed send, a saga timeout and a delayed retry start a new one, linked.

def _type(full_name: str) -> str:
    """The enclosed message types header: an assembly-qualified type name."""
    asm = full_name.rsplit(".", 2)[0]
    return f"{full_name}, {asm}, Version=1.0.0.0, Culture=neutral, PublicKeyToken=null"


ORDER_PLACED = _type("Sales.Messages.Events.OrderPlaced")
# (Not encoded, left alone: NServiceBus names no destination on any span, only the message
# type and intent, so every message of a pure NServiceBus system -- a command, the event its
# handler publishes, a saga timeout -- is read as one 'unknown' destination. Taking the type
# as the destination makes two destinations of one message where the transport's own spans
# name the queue (Azure Service Bus below), which the analysis cannot yet fold together.)


def _nsb_headers(msg_id: str, conv: str, intent: str, types: str, sender: str,
                 extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """The headers NServiceBus promotes to tags (ActivityDecorator.HeaderMapping) on both the
    outgoing span and the receiver's "process message" span."""
    tags = {"nservicebus.message_id": msg_id, "nservicebus.conversation_id": conv,
            "nservicebus.message_intent": intent,
            "nservicebus.enclosed_message_types": types,
            "nservicebus.content_type": "application/json",
            "nservicebus.originating_endpoint": sender,
            "nservicebus.originating_machine": f"{sender.lower()}-7d9f",
            "nservicebus.originating_host_id": "3f1c2a9e0b6d4e8f9a1b2c3d4e5f6a7b",
            "nservicebus.reply_to_address": sender, "nservicebus.version": "9.2.3"}
    tags.update(extra or {})
    return tags


def _nsb_process(b: SpanSet, service: str, headers: dict[str, Any], native_id: str, *,
                 parent: SpanRef | None = None, link: SpanRef | None = None, t: float,
                 dur: float, handler: str, status: str = "UNSET",
                 handler_attrs: dict[str, Any] | None = None) -> tuple[SpanRef, SpanRef]:
    """The receiver's "process message" CONSUMER span (child of the sender's span, or a new
    trace's root linking it) and the handler span under it."""
    proc = b.span(service, "process message", kind="CONSUMER", parent=parent,
                  links=[link] if link else (), start_ms=t, dur_ms=dur,
                  status="ERROR" if status == "ERROR" else "OK",
                  attrs={**headers, "nservicebus.native_message_id": native_id})
    h = b.span(service, handler.rsplit(".", 1)[-1], parent=proc, start_ms=t + 0.4,
               dur_ms=dur - 1, status="ERROR" if status == "ERROR" else "OK",
               attrs={"nservicebus.handler.handler_type": handler, **(handler_attrs or {})})
    return proc, h


def _topic_of(a, service: str) -> str:
    """The one topic node ``service`` publishes to."""
    (topic,) = [e["target"] for e in a.edges
                if e["type"] == "publish" and e["source"] == f"service:{service}"]
    return topic


def _order_placed(b: SpanSet, i: int, t: float, parent: SpanRef) -> SpanRef:
    """Sales' handler publishing OrderPlaced: one "publish event" PRODUCER span, whatever the
    number of subscribers (RabbitMQ's conventional topology fans it out from the type's
    exchange)."""
    return b.span("sales", "publish event", kind="PRODUCER", parent=parent, start_ms=t,
                  dur_ms=4, status="OK",
                  attrs=_nsb_headers(f"op-{i}", f"conv-{i}", "Publish", ORDER_PLACED, "Sales",
                                     {"nservicebus.related_to": f"po-{i}"}))


def test_nservicebus_event_reaches_two_subscribers_in_new_linked_traces():
    """v9 default for a publish (OpenTelemetryPublishBehavior: StartNewTrace = True): Sales'
    "publish event" inside its handler; Billing's and Shipping's "process message" spans are
    roots of new traces, each with a span link to the publish span. Two deliveries of each
    event, joined by context (the link), one flow per order."""
    b = SpanSet()
    for i in range(N):
        t = i * 1000
        root = b.span("sales", "POST /orders", kind="SERVER", start_ms=t, dur_ms=20,
                      attrs={"http.request.method": "POST", "http.route": "/orders"})
        pub = _order_placed(b, i, t + 6, root)
        for k, svc in enumerate(("billing", "shipping")):
            _nsb_process(b, svc, _nsb_headers(f"op-{i}", f"conv-{i}", "Publish",
                                              ORDER_PLACED, "Sales"),
                         f"op-{i}", link=pub, t=t + 30 + 7 * k, dur=12,
                         handler=f"{svc.title()}.OrderPlacedHandler")
    st = b.store()
    a = analyze(st)
    topic = _topic_of(a, "sales")
    delivered = [f"{topic}->service:billing", f"{topic}->service:shipping"]
    a = analysed_each(st, {
        f"service:sales->{topic}": ("publish", N),
        delivered[0]: ("consume", N),
        delivered[1]: ("consume", N),
    }, delivered)
    assert a.edge(delivered[0])["queue_p50_ms"] == 20.0  # process start - publish end
    assert a.edge(delivered[1])["queue_p50_ms"] == 27.0
    # one flow per order, over the publisher's trace and the two subscribers' traces
    assert flows_of(a) == [("sales", N, 3.0)]
    flow = flow_for_trace(st, a.flows[0]["example_trace_ids"][0])
    assert {s["service_name"] for s in flow["spans"]} == {"sales", "billing", "shipping"}


def test_nservicebus_delayed_retry_is_a_redelivery_in_a_new_trace():
    """Recoverability with one immediate retry and delayed retries (v9): Billing's handler
    throws, so its "process message" span and the handler span under it end with status
    ERROR; the immediate retry processes the same message again (same headers: a new trace
    linking the publish); DelayedRetryExecutor then re-sends the incoming message with its
    headers copied, NServiceBus.Retries = 1, a timestamp and StartNewTrace = True, and no
    span of its own: ten seconds later the retry is a third "process message" in a new trace,
    linked to the original publish span, tagged nservicebus.delayed_retries. Three deliveries
    of one message to Billing, all joined by context: one redelivery anomaly, nothing else;
    the two failed attempts are the edge's errors. Shipping got its copy once."""
    b = SpanSet()
    for i in range(N):
        t = i * 30_000
        root = b.span("sales", "POST /orders", kind="SERVER", start_ms=t, dur_ms=20)
        pub = _order_placed(b, i, t + 6, root)
        headers = _nsb_headers(f"op-{i}", f"conv-{i}", "Publish", ORDER_PLACED, "Sales")
        _nsb_process(b, "shipping", headers, f"op-{i}", link=pub, t=t + 30, dur=9,
                     handler="Shipping.OrderPlacedHandler")
        for at in (t + 32, t + 51):  # the first attempt, the immediate retry
            _nsb_process(b, "billing", headers, f"op-{i}", link=pub, t=at, dur=14,
                         handler="Billing.OrderPlacedHandler", status="ERROR")
        retried = _nsb_headers(f"op-{i}", f"conv-{i}", "Publish", ORDER_PLACED, "Sales", {
            "nservicebus.delayed_retries": "1",
            "nservicebus.delayed_retries_timestamp": f"2025-03-04 10:1{i}:12:401533 Z"})
        _nsb_process(b, "billing", retried, f"op-{i}", link=pub, t=t + 10_070, dur=11,
                     handler="Billing.OrderPlacedHandler")
    st = b.store()
    a = analyze(st)
    topic = _topic_of(a, "sales")
    billing, shipping = f"{topic}->service:billing", f"{topic}->service:shipping"
    a = analysed_each(st, {
        f"service:sales->{topic}": ("publish", N),
        billing: ("consume", 3 * N),
        shipping: ("consume", N),
    }, [billing, shipping], anomalies=[("redelivery", billing, 2 * N)])
    assert a.edge(billing)["error_count"] == 2 * N
    assert a.edge(billing)["message_count"] == 3 * N and a.edge(shipping)["error_count"] == 0
    # still one flow per order, over the publish trace and its four linked traces
    assert flows_of(a) == [("sales", N, 5.0)]


# The Azure Service Bus SDK's own spans under the transport (Azure.Messaging.ServiceBus,
# as in tests/test_analyzer_libraries.py's Service Bus test): the system and namespace.
ASB = {"messaging.system": "servicebus", "az.namespace": "Microsoft.ServiceBus",
       "server.address": "shop.servicebus.windows.net"}


def test_nservicebus_over_azure_service_bus_with_the_sdk_spans():
    """One publish per order to bundle-1, routed to the Billing and Shipping queues; each
    subscriber received each event once, though two of its consumer spans saw it (the SDK's
    processor span in the publisher's trace, NServiceBus' "process message" in a new one)."""
    b = SpanSet()
    for i in range(N):
        t = i * 1000
        root = b.span("sales", "POST /orders", kind="SERVER", start_ms=t, dur_ms=30)
        pub = _order_placed(b, i, t + 6, root)
        msg = b.span("sales", "Message", kind="PRODUCER", parent=pub, start_ms=t + 6.5,
                     dur_ms=0.1, attrs={**ASB, "messaging.destination.name": "bundle-1"})
        b.span("sales", "ServiceBusSender.Send", kind="CLIENT", parent=pub, start_ms=t + 7,
               dur_ms=2.5, links=[msg],
               attrs={**ASB, "messaging.destination.name": "bundle-1",
                      "messaging.operation": "publish"})
        for k, (svc, queue) in enumerate((("billing", "Billing"), ("shipping", "Shipping"))):
            at = t + 40 + 6 * k
            sdk = b.span(svc, "ServiceBusProcessor.ProcessMessage", kind="CONSUMER",
                         parent=msg, start_ms=at, dur_ms=16, links=[msg],
                         attrs={**ASB, "messaging.destination.name": queue,
                                "messaging.operation": "process"})
            _nsb_process(b, svc, _nsb_headers(f"op-{i}", f"conv-{i}", "Publish",
                                              ORDER_PLACED, "Sales"),
                         f"op-{i}", link=pub, t=at + 0.5, dur=12,
                         handler=f"{svc.title()}.OrderPlacedHandler")
            b.span(svc, "ServiceBusReceiver.Complete", kind="CLIENT", parent=sdk,
                   start_ms=at + 13, dur_ms=2, links=[msg],
                   attrs={**ASB, "messaging.destination.name": queue,
                          "messaging.operation": "settle"})
    st = b.store()
    a = analysed_each(st, {
        "service:sales->topic:bundle-1": ("publish", N),
        "topic:bundle-1->topic:Billing": ("route", N),
        "topic:bundle-1->topic:Shipping": ("route", N),
        "topic:Billing->service:billing": ("consume", N),
        "topic:Shipping->service:shipping": ("consume", N),
    }, ["topic:Billing->service:billing", "topic:Shipping->service:shipping"])
    assert a.edge("topic:Billing->service:billing")["p50_ms"] == 16.0
    assert flows_of(a) == [("sales", N, 3.0)]


# -------------------------------------------------------------------------------- Brighter
# BrighterCommand/Brighter (v10), src/Paramore.Brighter/Observability/: BrighterTracer.cs (the
# "Paramore.Brighter" ActivitySource), BrighterSemanticConventions.cs (the attribute names),
# BrighterSpanExtensions.cs (operation names create / deposit / publish / send / clear; the
# outbox's db operations add.message, retrieve.message, mark_as_dispatched...).
# The command processor (src/Paramore.Brighter/CommandProcessor.cs): Post = DepositPost, then
# ClearOutbox. DepositPost opens "<Request> deposit" (INTERNAL) and the outbox writes under
# it; ClearOutbox opens "paramore.brighter.clear_messages create" (PRODUCER, no destination)
# and OutboxProducerMediator.ClearOutbox (src/Paramore.Brighter/OutboxProducerMediator.cs)
# one "paramore.brighter.clear_messages clear" (PRODUCER, the message id, no destination)
# per message, with Dispatch's "<topic> publish" (PRODUCER: CreateProducerSpan; destination,
# message id and type, no messaging.system) under it. The transport writes a "<topic>
# publish" event (with messaging.system) on that span and puts the span's context in the
# message header (WriteProducerEvent + TextContextPropogator). The pump
# (src/Paramore.Brighter.ServiceActivator/Reactor.cs, Proactor.cs): a "<topic> begin"
# CONSUMER span for the pump's life, then per message "<topic> receive" (CONSUMER, its parent
# the message's traceparent, messaging.system always "internal_bus") around the translation
# and CommandProcessor.Publish / Send, whose "<Request> publish" span (INTERNAL) carries the
# handlers as events.

BRIGHTER = {"instrumentation.domain": "messaging"}


def _brighter_db(b: SpanSet, service: str, parent: SpanRef, t: float, op: str) -> SpanRef:
    """An outbox operation (BrighterTracer.CreateDbSpan): "<op> <db> <table>", CLIENT."""
    return b.span(service, f"{op} brighter outbox", kind="CLIENT", parent=parent, start_ms=t,
                  dur_ms=1.2, status="OK",
                  attrs={"instrumentation.domain": "db", "db.operation": op,
                         "db.name": "brighter", "db.table": "outbox",
                         "db.system": "postgresql", "server.address": "postgres",
                         "server.port": 5432})


def _brighter_post(b: SpanSet, service: str, parent: SpanRef, t: float, request: str,
                   request_id: str, topic: str, mtype: str = "MT_EVENT",
                   clear: SpanRef | None = None, clear_t: float | None = None) -> SpanRef:
    """Post(request): the deposit at ``t``, the clear (a create span around one clear span
    around the producer span, unless ``clear`` is the span the clear span goes under) at
    ``clear_t``. Returns the "<topic> publish" span, whose context the message carries."""
    dep = b.span(service, f"{request} deposit", parent=parent, start_ms=t, dur_ms=3,
                 status="OK", attrs={**BRIGHTER, "messaging.operation.type": "deposit",
                                     "paramore.brighter.operation": "deposit",
                                     "paramore.brighter.request.id": request_id,
                                     "paramore.brighter.request.type": request})
    _brighter_db(b, service, dep, t + 1, "add.message")
    t = t + 4 if clear_t is None else clear_t
    create = clear or b.span(
        service, "paramore.brighter.clear_messages create", kind="PRODUCER", parent=parent,
        start_ms=t, dur_ms=9, status="OK",
        attrs={**BRIGHTER, "messaging.operation.type": "create",
               "paramore.brighter.operation": "clear"})
    one = b.span(service, "paramore.brighter.clear_messages clear", kind="PRODUCER",
                 parent=create, start_ms=t + 0.5, dur_ms=8, status="OK",
                 attrs={**BRIGHTER, "messaging.operation.type": "clear",
                        "paramore.brighter.operation": "clear",
                        "messaging.message.id": request_id})
    _brighter_db(b, service, one, t + 1, "retrieve.message")
    pub = b.span(service, f"{topic} publish", kind="PRODUCER", parent=one, start_ms=t + 3,
                 dur_ms=3, status="OK",
                 attrs={**BRIGHTER, "messaging.operation.type": "publish",
                        "messaging.message.id": request_id, "messaging.message.type": mtype,
                        "messaging.destination.name": topic,
                        "messaging.destination.partition.id": "",
                        "messaging.message.body.size": 212,
                        "messaging.message.conversation_id": f"corr-{request_id}",
                        "cloudevents.event_id": request_id,
                        "cloudevents.event_spec_version": "1.0",
                        "cloudevents.event_source": "http://goparamore.io",
                        "cloudevents.event_type": "goparamore.io.Paramore.Brighter.Message"})
    _brighter_db(b, service, one, t + 6.5, "mark_as_dispatched.outstanding_messages")
    return pub


def _parent_of(b: SpanSet, ref: SpanRef) -> SpanRef:
    """The parent of a built span."""
    (span,) = [x for x in b.spans if x.ref == ref]
    return SpanRef(ref.trace_id, span.parent)


def _brighter_receive(b: SpanSet, service: str, producer: SpanRef, t: float, request: str,
                      request_id: str, topic: str, mtype: str = "MT_EVENT",
                      dur: float = 14) -> SpanRef:
    """The v10 pump's "<topic> receive" (child of the producer span) and the command
    processor's "<Request> publish" (or send, for a command) under it."""
    rec = b.span(service, f"{topic} receive", kind="CONSUMER", parent=producer, start_ms=t,
                 dur_ms=dur, status="OK",
                 attrs={**BRIGHTER, "messaging.operation.type": "receive",
                        "messaging.destination.name": topic,
                        "messaging.destination.partition.id": "",
                        "messaging.message.id": request_id, "messaging.message.type": mtype,
                        "messaging.message.body.size": 212,
                        "messaging.message.conversation_id": f"corr-{request_id}",
                        "messaging.system": "internal_bus", "paramore.brighter.handled_count": 0,
                        "cloudevents.event_id": request_id})
    op = "publish" if mtype == "MT_EVENT" else "send"
    b.span(service, f"{request} {op}", parent=rec, start_ms=t + 1, dur_ms=dur - 2, status="OK",
           attrs={**BRIGHTER, "messaging.operation.type": op,
                  "paramore.brighter.operation": op,
                  "paramore.brighter.request.id": request_id,
                  "paramore.brighter.request.type": request})
    return rec


def test_brighter_post_deposits_then_clears_to_two_subscribers():
    """Post(OrderPlaced) in an ASP.NET request: the deposit and the three nested producer
    spans of the clear (create, clear, "order.placed publish") are one publish of one
    message; Billing's and Shipping's pumps (each its own queue bound to the order.placed
    routing key) receive it as children of the publish span. The handler's "OrderPlaced
    publish" span on the consumer side is INTERNAL: no publish."""
    b = SpanSet()
    for i in range(N):
        t = i * 1000
        root = b.span("orders", "POST /orders", kind="SERVER", start_ms=t, dur_ms=25,
                      attrs={"http.request.method": "POST", "http.route": "/orders"})
        pub = _brighter_post(b, "orders", root, t + 3, "OrderPlaced", f"9e1f{i:04d}",
                             "order.placed")
        for k, svc in enumerate(("billing", "shipping")):
            _brighter_receive(b, svc, pub, t + 40 + 5 * k, "OrderPlaced", f"9e1f{i:04d}",
                              "order.placed")
    st = b.store()
    delivered = ["topic:order.placed->service:billing",
                 "topic:order.placed->service:shipping"]
    a = analysed_each(st, {
        "service:orders->topic:order.placed": ("publish", N),
        delivered[0]: ("consume", N),
        delivered[1]: ("consume", N),
        "service:orders->external:postgresql": ("call", 3 * N),
    }, delivered)
    assert a.edge(delivered[0])["queue_p50_ms"] == 27.0  # receive start - publish span end
    assert a.edge(delivered[0])["p50_ms"] == 14.0
    assert flows_of(a) == [("orders", N, 1.0)]


def test_brighter_clear_of_several_deposits_publishes_each_message():
    """A handler that deposits two requests in its transaction (an event and a command, two
    topics) and then calls ClearOutbox with both ids: one "paramore.brighter.clear_messages
    create" span, and a clear span per message, each around its own "<topic> publish" span.
    OutboxProducerMediator.ClearOutbox sets requestContext.Span to each clear span and does
    not restore it until the loop ends, so the second clear span is the child of the first.
    Two messages published, one to each topic, each consumed once: the create and clear
    spans name no destination and are no message of their own."""
    b = SpanSet()
    for i in range(N):
        t = i * 1000
        root = b.span("orders", "POST /orders", kind="SERVER", start_ms=t, dur_ms=40)
        create = b.span("orders", "paramore.brighter.clear_messages create", kind="PRODUCER",
                        parent=root, start_ms=t + 10, dur_ms=20, status="OK",
                        attrs={**BRIGHTER, "messaging.operation.type": "create",
                               "paramore.brighter.operation": "clear"})
        placed = _brighter_post(b, "orders", root, t + 3, "OrderPlaced", f"9e1f{i:04d}",
                                "order.placed", clear=create, clear_t=t + 10.5)
        charge = _brighter_post(b, "orders", root, t + 6, "ChargeCard", f"c4a2{i:04d}",
                                "payments.charge-card", mtype="MT_COMMAND",
                                clear=_parent_of(b, placed), clear_t=t + 19.5)
        _brighter_receive(b, "shipping", placed, t + 45, "OrderPlaced", f"9e1f{i:04d}",
                          "order.placed")
        _brighter_receive(b, "payments", charge, t + 50, "ChargeCard", f"c4a2{i:04d}",
                          "payments.charge-card", mtype="MT_COMMAND")
    st = b.store()
    delivered = ["topic:order.placed->service:shipping",
                 "topic:payments.charge-card->service:payments"]
    a = analysed_each(st, {
        "service:orders->topic:order.placed": ("publish", N),
        "service:orders->topic:payments.charge-card": ("publish", N),
        delivered[0]: ("consume", N),
        delivered[1]: ("consume", N),
        "service:orders->external:postgresql": ("call", 6 * N),
    }, delivered)
    assert flows_of(a) == [("orders", N, 1.0)]


def test_brighter_pump_receive_root_and_process_under_the_producer():
    """The pump after v10 (Brighter master: Observability/BrighterTracerReceiveExtensions.cs,
    ServiceActivator/Reactor.cs; the tests under
    tests/Paramore.Brighter.Core.Tests/Observability/MessageDispatch/, e.g.
    When_A_Root_Consumer_Span_Is_Created_Should_Link_The_Message_Pump_Span.cs and
    When_A_Producer_Parented_Process_Span_Is_Created_Should_Link_The_Message_Pump_Span.cs):
    a "<topic> receive" CONSUMER span that covers the broker call only, a root of its own
    trace linking the pump's "<topic> begin" span (open for the pump's life, so not exported
    yet), enriched with the message's id once it arrived; then "<topic> process" (CONSUMER,
    child of the producer span from the message header, also linking the pump) around the
    dispatch. The receive and the process of one message are one delivery, by context: the
    receive is no delivery that lost its context."""
    b = SpanSet()
    pump = SpanRef(f"{0xB0D1E5:032x}", f"{0x9A7E:016x}")  # the pump's open "begin" span
    for i in range(N):
        t = i * 1000
        root = b.span("orders", "POST /orders", kind="SERVER", start_ms=t, dur_ms=25)
        pub = _brighter_post(b, "orders", root, t + 3, "OrderPlaced", f"9e1f{i:04d}",
                             "order.placed")
        msg = {**BRIGHTER, "messaging.destination.name": "order.placed",
               "messaging.destination.partition.id": "", "messaging.system": "internal_bus",
               "messaging.message.id": f"9e1f{i:04d}", "messaging.message.type": "MT_EVENT",
               "messaging.message.body.size": 212,
               "messaging.message.conversation_id": f"corr-9e1f{i:04d}",
               "paramore.brighter.handled_count": 0, "cloudevents.event_id": f"9e1f{i:04d}"}
        b.span("billing", "order.placed receive", kind="CONSUMER", start_ms=t + 39,
               dur_ms=0.8, status="OK", links=[pump],
               attrs={**msg, "messaging.operation.type": "receive",
                      "paramore.brighter.operation": "receive"})
        proc = b.span("billing", "order.placed process", kind="CONSUMER", parent=pub,
                      start_ms=t + 40, dur_ms=13, status="OK", links=[pump],
                      attrs={**msg, "messaging.operation.type": "process"})
        b.span("billing", "OrderPlaced publish", parent=proc, start_ms=t + 41, dur_ms=11,
               status="OK", attrs={**BRIGHTER, "messaging.operation.type": "publish",
                                   "paramore.brighter.operation": "publish",
                                   "paramore.brighter.request.id": f"9e1f{i:04d}",
                                   "paramore.brighter.request.type": "OrderPlaced"})
    st = b.store()
    a = analysed_each(st, {
        "service:orders->topic:order.placed": ("publish", N),
        "topic:order.placed->service:billing": ("consume", N),
        "service:orders->external:postgresql": ("call", 3 * N),
    }, ["topic:order.placed->service:billing"])
    assert a.edge("topic:order.placed->service:billing")["queue_p50_ms"] == 27.0
    # one flow per order: the publisher's trace and the receive span's own trace
    assert flows_of(a) == [("orders", N, 2.0)]


def test_brighter_outbox_sweeper_publishes_each_outstanding_message():
    """Deposits without a clear (DepositPost in the request's transaction), sent later by the
    outbox sweeper (src/Paramore.Brighter/OutboxSweeper.cs, SweepAsync): its "Implicit Clear
    Outbox" SERVER span (from the obsolete ApplicationTelemetry source, here listened to) is
    the root of the sweep's trace and the request context's span;
    OutboxProducerMediator.BackgroundDispatchUsingAsync opens a "paramore.brighter.clear_messages
    clear" PRODUCER span (no message id, no destination) around the read of the outstanding
    messages, puts the request context's span back, and DispatchAsync creates each "<topic>
    publish" span as a child of that span: siblings of the clear span, each with its own
    consumer. Three messages per sweep are three publishes; the requests that deposited them
    share no context with the sweep (the deposit span carries the request id, not the
    message's), so a sweep is a flow of its own. The clear span is the outbox's read, no
    message: nothing was published to an unnamed destination."""
    b = SpanSet()
    for i in range(N):
        t = i * 5000
        ids = [f"9e1f{i}{k:03d}" for k in range(3)]
        for k, mid in enumerate(ids):
            root = b.span("orders", "POST /orders", kind="SERVER", start_ms=t + 200 * k,
                          dur_ms=9)
            dep = b.span("orders", "OrderPlaced deposit", parent=root,
                         start_ms=t + 200 * k + 2, dur_ms=3, status="OK",
                         attrs={**BRIGHTER, "messaging.operation.type": "deposit",
                                "paramore.brighter.operation": "deposit",
                                "paramore.brighter.request.id": mid,
                                "paramore.brighter.request.type": "OrderPlaced"})
            _brighter_db(b, "orders", dep, t + 200 * k + 3, "add.message")
        sweep_t = t + 1500
        sweep = b.span("orders", "Implicit Clear Outbox", kind="SERVER", start_ms=sweep_t,
                       dur_ms=30)
        clear = b.span("orders", "paramore.brighter.clear_messages clear", kind="PRODUCER",
                       parent=sweep, start_ms=sweep_t + 0.5, dur_ms=28, status="OK",
                       attrs={**BRIGHTER, "messaging.operation.type": "clear",
                              "paramore.brighter.operation": "clear"})
        _brighter_db(b, "orders", clear, sweep_t + 1, "retrieve.outstanding_messages")
        for k, mid in enumerate(ids):
            at = sweep_t + 4 + 8 * k
            pub = b.span("orders", "order.placed publish", kind="PRODUCER", parent=sweep,
                         start_ms=at, dur_ms=3, status="OK",
                         attrs={**BRIGHTER, "messaging.operation.type": "publish",
                                "messaging.message.id": mid, "messaging.message.type": "MT_EVENT",
                                "messaging.destination.name": "order.placed",
                                "messaging.destination.partition.id": "",
                                "messaging.message.conversation_id": f"corr-{mid}"})
            _brighter_db(b, "orders", sweep, at + 3.5, "mark_as_dispatched.outstanding_messages")
            _brighter_receive(b, "billing", pub, at + 20, "OrderPlaced", mid, "order.placed")
    st = b.store()
    a = analysed_each(st, {
        "service:orders->topic:order.placed": ("publish", 3 * N),
        "topic:order.placed->service:billing": ("consume", 3 * N),
        "service:orders->external:postgresql": ("call", 7 * N),
    }, ["topic:order.placed->service:billing"])
    assert a.edge("topic:order.placed->service:billing")["queue_p50_ms"] == 17.0
    # the sweeps, and the requests (three per sweep) that only deposited
    assert flows_of(a) == [("orders", N, 1.0), ("orders", 3 * N, 1.0)]
