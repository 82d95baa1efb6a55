"""Span shapes of the Azure SDKs for JavaScript (@azure/service-bus, @azure/event-hubs through
@azure/core-tracing and @azure/opentelemetry-instrumentation-azure-sdk) and for Python
(azure-servicebus through azure-core's tracing), each read from the SDK's source and its own
tests. Each test builds exactly the spans the SDK exports for a small scenario and checks what
the analyzer makes of them.

What the JavaScript SDKs export (Azure/azure-sdk-for-js):
- sdk/core/core-tracing/src/tracingClient.ts: every span gets ``az.namespace`` (the client's
  namespace, "Microsoft.ServiceBus" / "Microsoft.EventHub"); ``withSpan`` runs the callback
  in the span's context and sets status OK (error on a throw).
- sdk/instrumentation/opentelemetry-instrumentation-azure-sdk/src/transformations.ts: the
  kind given ("client", "producer", "consumer") becomes the OpenTelemetry kind; span links
  keep their attributes.
- service-bus 7.7+ (core-tracing 1.0, CHANGELOG 7.7.0; the attributes as in
  src/diagnostics/tracing.ts and the package's compiled dist of 7.9.x): ``toSpanOptions``
  sets ``messaging.system`` "servicebus", ``messaging.operation``, ``net.peer.name`` (the
  namespace host) and the entity path as ``messaging.source.name`` for "receive"/"process",
  else ``messaging.destination.name``.
  src/diagnostics/instrumentServiceBusMessage.ts: ``instrumentMessage`` opens a PRODUCER
  "message" span per message (in the caller's context, ended at once) and stores its
  traceparent as the message's ``Diagnostic-Id``; ``toProcessingSpanOptions`` gives a
  CONSUMER span a link to every received message's Diagnostic-Id context, with
  ``enqueuedTime`` on the link. src/sender.ts: ``sendMessages`` (one message, an array, or
  a ServiceBusMessageBatch whose ``tryAddMessage`` instrumented each message) opens a
  CLIENT "ServiceBusSender.send" linking the message spans. The receivers:
  ``subscribe()`` runs each message's handler inside a CONSUMER "StreamReceiver.process"
  (core/streamingReceiver), ``receiveMessages()`` opens a CONSUMER
  "BatchingReceiverLite.process" only once the messages are back and ends it at once
  (core/batchingReceiver: ``withSpan(..., () => messages, ...)``, also when nothing came);
  src/receivers/receiverCommon.ts: ``completeMessage``/``abandonMessage`` open a CLIENT
  "ServicebusReceiver.complete"/"ServicebusReceiver.abandon" (operation "settle", the
  entity as destination) linking the message, in whatever context is current. A
  subscription's entity path is "<topic>/Subscriptions/<subscription>"
  (src/util/connectionStringUtils / constructorHelpers).
- service-bus 7.0-7.6 (core-tracing preview; src/diagnostics/messageSpan.ts,
  src/modelsToBeSharedWithEventHubs.ts ``createSendSpan``, test/internal/unit/tracing.spec.ts
  and the public tracing tests): "Azure.ServiceBus.message" PRODUCER, "Azure.ServiceBus.send"
  CLIENT and "Azure.ServiceBus.process" CONSUMER spans carrying only ``az.namespace``,
  ``message_bus.destination`` and ``peer.address``: no messaging.* attribute at all.
- event-hubs 5.x on core-tracing 1.0 (src/diagnostics/tracing.ts, instrumentEventData.ts,
  eventHubProducerClient.ts, partitionPump.ts and the package's tracing tests): a
  PRODUCER "message" per event, a CLIENT "EventHubProducerClient.sendBatch" linking them
  (``messaging.system`` "eventhubs", ``messaging.destination.name`` the hub), and for
  ``EventHubConsumerClient.subscribe`` a root CONSUMER "PartitionPump.process" around each
  ``processEvents`` call, linking every event of the batch (``messaging.source.name`` the
  hub), opened also when ``maxWaitTimeInSeconds`` passed and the batch is empty.

What the Python SDK exports (Azure/azure-sdk-for-python,
sdk/servicebus/azure-servicebus/azure/servicebus/_common/tracing.py, _servicebus_sender.py,
_servicebus_receiver.py, _transport/_pyamqp_transport.py and CHANGELOG.md):
``trace_message`` opens a PRODUCER "ServiceBus.message" per message (az.namespace,
messaging.system, net.peer.name, messaging.destination.name), writing its traceparent as
both ``Diagnostic-Id`` and ``traceparent``; ``send_messages`` opens a CLIENT
"ServiceBus.send" linking them (``messaging.batch.message_count`` above 1); a receive is a
CLIENT "ServiceBus.receive" linking the received messages (``enqueuedTime`` on each link,
read from ``traceparent`` or, since 7.11, ``Diagnostic-Id``): ``receive_messages`` starts it
at the call's start, the iterator (``for msg in receiver``) opens one per message around the
loop body (the ``yield`` sits inside the span); settling is a CLIENT
"ServiceBus.complete"/"ServiceBus.abandon" (operation "settle") linking the message. The
entity is ``_entity_name``: the queue, or for a subscription the *topic* (the receiver is
built with ``entity_name = queue_name or topic_name``). Since 7.10 (CHANGELOG:
messaging.system, messaging.operation, settle spans, send spans linking the message spans)
through the azure-core-tracing-opentelemetry plugin, send and receive spans name the
entity only by the legacy ``message_bus.destination`` and ``peer.address``; the versions on
azure-core's native tracer (``get_tracer``, schema 1.23.1) by ``messaging.destination.name``
and ``net.peer.name``.
"""

from __future__ import annotations

from typing import Any

from analyzer import edge_detail, flow_for_trace
from tests.analysis_checks import analysed_each as _analysed
from tests.analysis_checks import systems_of as _systems
from tests.builders import SpanRef, SpanSet

N = 3
SB_HOST = "shop-ns.servicebus.windows.net"
EH_HOST = "shop-eh.servicebus.windows.net"
ENQUEUED = 1_700_000_000_000  # a message's x-opt-enqueued-time (ms since the epoch)
PG = {"db.system": "postgresql", "server.address": "orders-db", "db.name": "orders"}


def _flows(a) -> list[tuple[str, int]]:
    """(entry service, count) of every flow with a hop, sorted. (A trace with no edge, such
    as an empty poll's or a settle's of its own, is a flow of its own with no hop: not
    looked at here.)"""
    return sorted((f["entry_service"], f["count"]) for f in a.flows if f["hops"])


# ----------------------------------------------------------------- @azure/service-bus 7.9
def _js_sb(b: SpanSet, service: str, name: str, kind: str, op: str, entity: str,
           **kw: Any) -> SpanRef:
    """A span of @azure/service-bus 7.7+ (toSpanOptions + tracingClient)."""
    key = ("messaging.source.name" if op in ("receive", "process")
           else "messaging.destination.name")
    attrs = {"az.namespace": "Microsoft.ServiceBus", "messaging.system": "servicebus",
             key: entity, "messaging.operation": op, "net.peer.name": SB_HOST,
             **kw.pop("attrs", {})}
    return b.span(service, name, kind=kind, attrs=attrs, **kw)


def _js_sb_send(b: SpanSet, service: str, entity: str, parent: SpanRef, t: float,
                n: int) -> list[SpanRef]:
    """``sender.sendMessages([...n])``: createMessageBatch, tryAddMessage per message (a
    PRODUCER "message" span each, ended at once, in the caller's context), then the CLIENT
    "ServiceBusSender.send" linking them (status OK: withSpan)."""
    msgs = [_js_sb(b, service, "message", "PRODUCER", "publish", entity, parent=parent,
                   start_ms=t + 0.4 * j, dur_ms=0.05) for j in range(n)]
    _js_sb(b, service, "ServiceBusSender.send", "CLIENT", "publish", entity, parent=parent,
           start_ms=t + 1.5, dur_ms=18, links=msgs, status="OK")
    return msgs  # the send ends at t + 19.5


def _js_subscribe(b: SpanSet, service: str, entity: str, msg: SpanRef, start: float,
                  dur: float = 6.0, settle: str = "complete", status: str = "OK",
                  db: bool = True) -> SpanRef:
    """``receiver.subscribe({processMessage})`` with autoCompleteMessages: a root CONSUMER
    "StreamReceiver.process" around the handler (its work inside), linking the message;
    then, after the handler returned (outside the process span), the SDK's settle."""
    proc = _js_sb(b, service, "StreamReceiver.process", "CONSUMER", "process", entity,
                  start_ms=start, dur_ms=dur, status=status,
                  links=[(msg, {"enqueuedTime": ENQUEUED + int(start)})])
    if db:
        b.span(service, "INSERT orders", kind="CLIENT", parent=proc, start_ms=start + 1,
               dur_ms=dur - 2, attrs=PG)
    _js_sb(b, service, f"ServicebusReceiver.{settle}", "CLIENT", "settle", entity,
           start_ms=start + dur + 0.3, dur_ms=2, links=[msg], status="OK")
    return proc


def test_js_service_bus_batch_to_queue_subscribe_processor_completes_each():
    """@azure/service-bus 7.9: a request sends three messages to the queue 'orders' in one
    sendMessages call (three "message" PRODUCER spans and a "ServiceBusSender.send" CLIENT
    linking them). Another service's subscribe() handler runs each in a root
    "StreamReceiver.process" (linking its message, with its DB insert inside) and the SDK
    completes it afterwards in a root "ServicebusReceiver.complete" (a settle, linking the
    message too). Nine deliveries joined by their links; the completes are none; one flow
    per request; queue time from the end of the send."""
    b = SpanSet()
    for i in range(N):
        t = i * 200
        root = b.span("checkout", "POST /orders", kind="SERVER", start_ms=t, dur_ms=30)
        msgs = _js_sb_send(b, "checkout", "orders", root, t + 2, 3)   # send ends t+21.5
        for j, m in enumerate(msgs):
            _js_subscribe(b, "billing", "orders", m, t + 50 + 10 * j)
    st = b.store()
    a = _analysed(st, {
        "service:checkout->topic:orders": ("publish", 3 * N),
        "topic:orders->service:billing": ("consume", 3 * N),
        "service:billing->external:postgresql": ("call", 3 * N),
    }, ["topic:orders->service:billing"])
    consume = a.edge("topic:orders->service:billing")
    assert (consume["message_count"], consume["p50_ms"]) == (3 * N, 6.0)
    assert consume["queue_p50_ms"] == 38.5  # 28.5, 38.5, 48.5 after the send returned
    assert _systems(a) == {"topic:orders": "servicebus"}
    assert _flows(a) == [("checkout", N)]


def test_js_service_bus_topic_with_two_subscriptions():
    """@azure/service-bus 7.9: the sender names the topic 'orders'; two services
    subscribe() to its subscriptions, each receiver naming its entity path
    'orders/Subscriptions/<name>' as messaging.source.name. Each message reaches both
    subscriptions: a route from the topic to each, a delivery from each."""
    b = SpanSet()
    for i in range(N):
        t = i * 200
        root = b.span("checkout", "POST /orders", kind="SERVER", start_ms=t, dur_ms=30)
        msgs = _js_sb_send(b, "checkout", "orders", root, t + 2, 3)
        for j, m in enumerate(msgs):
            _js_subscribe(b, "billing", "orders/Subscriptions/billing", m, t + 40 + 8 * j)
            _js_subscribe(b, "shipping", "orders/Subscriptions/shipping", m,
                          t + 45 + 8 * j, dur=4, db=False)
    st = b.store()
    billing, shipping = "orders/Subscriptions/billing", "orders/Subscriptions/shipping"
    a = _analysed(st, {
        "service:checkout->topic:orders": ("publish", 3 * N),
        f"topic:orders->topic:{billing}": ("route", 3 * N),
        f"topic:orders->topic:{shipping}": ("route", 3 * N),
        f"topic:{billing}->service:billing": ("consume", 3 * N),
        f"topic:{shipping}->service:shipping": ("consume", 3 * N),
        "service:billing->external:postgresql": ("call", 3 * N),
    }, [f"topic:{billing}->service:billing", f"topic:{shipping}->service:shipping"])
    # from the end of the send (t+21.5): billing at t+40/48/56, shipping 5 ms later
    assert a.edge(f"topic:{billing}->service:billing")["queue_p50_ms"] == 26.5
    assert a.edge(f"topic:{shipping}->service:shipping")["queue_p50_ms"] == 31.5
    assert _systems(a) == {"topic:orders": "servicebus", f"topic:{billing}": "servicebus",
                           f"topic:{shipping}": "servicebus"}
    assert _flows(a) == [("checkout", N)]


def test_js_service_bus_receive_messages_batch_and_empty_polls():
    """@azure/service-bus 7.9, a worker loop over ``receiveMessages(10)``: when the three
    messages of a request are back the SDK opens a CONSUMER "BatchingReceiverLite.process"
    linking all three and ends it at once (no messaging.batch.message_count); the worker
    completes each (a root "ServicebusReceiver.complete" each). The loop's next call comes
    back empty after maxWaitTimeInMs and still opens a "BatchingReceiverLite.process", with
    no link. One delivery of three messages per request; the empty polls deliver nothing
    and lose nothing."""
    b = SpanSet()
    for i in range(N):
        t = i * 1000
        root = b.span("checkout", "POST /orders", kind="SERVER", start_ms=t, dur_ms=30)
        msgs = _js_sb_send(b, "checkout", "orders", root, t + 2, 3)   # send ends t+21.5
        _js_sb(b, "billing", "BatchingReceiverLite.process", "CONSUMER", "process", "orders",
               start_ms=t + 40, dur_ms=0.1, status="OK",
               links=[(m, {"enqueuedTime": ENQUEUED + t + 21}) for m in msgs])
        for j, m in enumerate(msgs):
            _js_sb(b, "billing", "ServicebusReceiver.complete", "CLIENT", "settle", "orders",
                   start_ms=t + 41 + 3 * j, dur_ms=2.5, links=[m], status="OK")
        # the next receiveMessages waited its maxWaitTimeInMs (500) for nothing
        _js_sb(b, "billing", "BatchingReceiverLite.process", "CONSUMER", "process", "orders",
               start_ms=t + 550, dur_ms=0.1, status="OK")
    st = b.store()
    a = _analysed(st, {
        "service:checkout->topic:orders": ("publish", 3 * N),
        "topic:orders->service:billing": ("consume", N),
    }, ["topic:orders->service:billing"])
    consume = a.edge("topic:orders->service:billing")
    assert (consume["message_count"], consume["batch_deliveries"]) == (3 * N, N)
    detail = edge_detail(st, "topic:orders->service:billing")
    assert (detail["count"], detail["message_count"]) == (N, 3 * N)
    assert _flows(a) == [("checkout", N)]


def test_js_service_bus_failed_handler_abandons_and_the_message_comes_again():
    """@azure/service-bus 7.9 subscribe(): the handler throws the first time, so its
    "StreamReceiver.process" ends in error and the SDK abandons the message (a root
    "ServicebusReceiver.abandon", a settle linking it); Service Bus delivers the message
    again, the handler succeeds and the SDK completes it. Two deliveries of one message
    (both joined by their link to its "message" span), one of them failed, nothing lost;
    the only anomaly is the redelivery itself."""
    b = SpanSet()
    for i in range(N):
        t = i * 500
        root = b.span("checkout", "POST /orders", kind="SERVER", start_ms=t, dur_ms=25)
        msg = _js_sb(b, "checkout", "message", "PRODUCER", "publish", "orders", parent=root,
                     start_ms=t + 2, dur_ms=0.05)
        _js_sb(b, "checkout", "ServiceBusSender.send", "CLIENT", "publish", "orders",
               parent=root, start_ms=t + 2.5, dur_ms=15, links=[msg], status="OK")
        _js_subscribe(b, "billing", "orders", msg, t + 40, dur=5, settle="abandon",
                      status="ERROR", db=False)
        _js_subscribe(b, "billing", "orders", msg, t + 60, dur=7)
    st = b.store()
    # the second delivery of each message is a redelivery (and no message was lost)
    a = _analysed(st, {
        "service:checkout->topic:orders": ("publish", N),
        "topic:orders->service:billing": ("consume", 2 * N),
        "service:billing->external:postgresql": ("call", N),
    }, ["topic:orders->service:billing"],
        anomalies=[("redelivery", "topic:orders->service:billing", N)])
    consume = a.edge("topic:orders->service:billing")
    assert (consume["error_count"], consume["message_count"]) == (N, 2 * N)
    assert _flows(a) == [("checkout", N)]


def test_js_service_bus_7_5_spans_name_no_messaging_system():
    """@azure/service-bus 7.0-7.6 (core-tracing preview): "Azure.ServiceBus.message"
    PRODUCER spans and an "Azure.ServiceBus.send" CLIENT linking them, and per subscribe()
    message an "Azure.ServiceBus.process" CONSUMER linking it, all carrying only
    az.namespace 'Microsoft.ServiceBus', message_bus.destination (the entity path) and
    peer.address. The queue is 'orders' and Service Bus' (the namespace says so), and the
    graph is the same as 7.9's."""
    legacy = {"az.namespace": "Microsoft.ServiceBus", "message_bus.destination": "orders",
              "peer.address": SB_HOST}
    b = SpanSet()
    for i in range(N):
        t = i * 200
        root = b.span("checkout", "POST /orders", kind="SERVER", start_ms=t, dur_ms=30)
        msgs = [b.span("checkout", "Azure.ServiceBus.message", kind="PRODUCER", parent=root,
                       start_ms=t + 2 + 0.4 * j, dur_ms=0.05, attrs=legacy)
                for j in range(2)]
        b.span("checkout", "Azure.ServiceBus.send", kind="CLIENT", parent=root,
               start_ms=t + 3, dur_ms=15, links=msgs, attrs=legacy, status="OK")
        for j, m in enumerate(msgs):
            proc = b.span("billing", "Azure.ServiceBus.process", kind="CONSUMER",
                          start_ms=t + 40 + 10 * j, dur_ms=6, attrs=legacy, status="OK",
                          links=[(m, {"enqueuedTime": ENQUEUED + t + 18})])
            b.span("billing", "INSERT orders", kind="CLIENT", parent=proc,
                   start_ms=t + 41 + 10 * j, dur_ms=4, attrs=PG)
    st = b.store()
    a = _analysed(st, {
        "service:checkout->topic:orders": ("publish", 2 * N),
        "topic:orders->service:billing": ("consume", 2 * N),
        "service:billing->external:postgresql": ("call", 2 * N),
    }, ["topic:orders->service:billing"])
    assert a.edge("topic:orders->service:billing")["queue_p50_ms"] == 27.0  # 22 and 32
    assert _systems(a) == {"topic:orders": "servicebus"}
    assert _flows(a) == [("checkout", N)]


# --------------------------------------------------------------------- @azure/event-hubs
def _js_eh(b: SpanSet, service: str, name: str, kind: str, op: str, **kw: Any) -> SpanRef:
    """A span of @azure/event-hubs 5.x on core-tracing 1.0 (toSpanOptions + tracingClient)."""
    key = ("messaging.source.name" if op in ("receive", "process")
           else "messaging.destination.name")
    attrs = {"az.namespace": "Microsoft.EventHub", "messaging.system": "eventhubs",
             key: "orders", "messaging.operation": op, "net.peer.name": EH_HOST,
             **kw.pop("attrs", {})}
    return b.span(service, name, kind=kind, attrs=attrs, **kw)


def test_js_event_hubs_send_batch_and_consumer_client_subscribe():
    """@azure/event-hubs 5.x: a request adds three events to a batch (a PRODUCER "message"
    each) and sends it (CLIENT "EventHubProducerClient.sendBatch" linking them).
    EventHubConsumerClient.subscribe's partition pump calls processEvents with each batch
    it received inside a root CONSUMER "PartitionPump.process" linking every event (with
    its enqueuedTime), and with an empty batch when maxWaitTimeInSeconds passed (a
    "PartitionPump.process" linking nothing). One delivery of three events per request; the
    empty batches are no delivery and no loss."""
    b = SpanSet()
    for i in range(N):
        t = i * 2000
        root = b.span("checkout", "POST /orders", kind="SERVER", start_ms=t, dur_ms=30)
        events = [_js_eh(b, "checkout", "message", "PRODUCER", "publish", parent=root,
                         start_ms=t + 2 + 0.3 * j, dur_ms=0.05) for j in range(3)]
        _js_eh(b, "checkout", "EventHubProducerClient.sendBatch", "CLIENT", "publish",
               parent=root, start_ms=t + 3, dur_ms=14, links=events, status="OK")
        proc = _js_eh(b, "billing", "PartitionPump.process", "CONSUMER", "process",
                      start_ms=t + 45, dur_ms=9, status="OK",
                      links=[(ev, {"enqueuedTime": ENQUEUED + t + 16}) for ev in events])
        b.span("billing", "INSERT orders", kind="CLIENT", parent=proc, start_ms=t + 46,
               dur_ms=7, attrs=PG)
        # the pump's next receiveBatch waited maxWaitTimeInSeconds (1 s) for nothing
        _js_eh(b, "billing", "PartitionPump.process", "CONSUMER", "process",
               start_ms=t + 1055, dur_ms=0.2, status="OK")
    st = b.store()
    a = _analysed(st, {
        "service:checkout->topic:orders": ("publish", 3 * N),
        "topic:orders->service:billing": ("consume", N),
        "service:billing->external:postgresql": ("call", N),
    }, ["topic:orders->service:billing"])
    consume = a.edge("topic:orders->service:billing")
    assert (consume["message_count"], consume["batch_deliveries"]) == (3 * N, N)
    assert (consume["p50_ms"], consume["queue_p50_ms"]) == (9.0, 28.0)
    assert _systems(a) == {"topic:orders": "eventhubs"}
    assert _flows(a) == [("checkout", N)]


# ------------------------------------------------------------- JavaScript sender, .NET
def test_js_sender_and_dotnet_processor_on_a_subscription():
    """A Node service sends with @azure/service-bus 7.9 to the topic 'orders'; a .NET
    service's ServiceBusProcessor (Azure.Messaging.ServiceBus with its ActivitySource on;
    activity names from Azure/azure-sdk-for-net's DiagnosticProperty.cs, the shape as
    tests/test_analyzer_libraries.py encodes it) reads the subscription: a root CLIENT
    "ServiceBusReceiver.Receive" linking the message, then a CONSUMER
    "ServiceBusProcessor.ProcessMessage" whose parent is the JS "message" span (the .NET
    SDK reads the Diagnostic-Id the JS SDK wrote) and which links it too, with its
    "ServiceBusReceiver.Complete" inside. One delivery per message, from the
    subscription the topic routed it to, all in the request's trace."""
    sb = {"az.namespace": "Microsoft.ServiceBus", "messaging.system": "servicebus",
          "server.address": SB_HOST}
    sub = "orders/Subscriptions/billing"
    b = SpanSet()
    for i in range(N):
        t = i * 200
        root = b.span("checkout", "POST /orders", kind="SERVER", start_ms=t, dur_ms=30)
        msgs = _js_sb_send(b, "checkout-node", "orders", root, t + 2, 2)
        for j, m in enumerate(msgs):
            s = t + 45 + 12 * j
            b.span("billing-dotnet", "ServiceBusReceiver.Receive", kind="CLIENT",
                   start_ms=s - 1, dur_ms=0.5, links=[m],
                   attrs={**sb, "messaging.destination.name": sub,
                          "messaging.operation": "receive"})
            proc = b.span("billing-dotnet", "ServiceBusProcessor.ProcessMessage",
                          kind="CONSUMER", parent=m, links=[m], start_ms=s, dur_ms=9,
                          attrs={**sb, "messaging.destination.name": sub,
                                 "messaging.operation": "process"})
            b.span("billing-dotnet", "ServiceBusReceiver.Complete", kind="CLIENT",
                   parent=proc, links=[m], start_ms=s + 7, dur_ms=1.5,
                   attrs={**sb, "messaging.destination.name": sub,
                          "messaging.operation": "settle"})
    st = b.store()
    a = _analysed(st, {
        "service:checkout-node->topic:orders": ("publish", 2 * N),
        f"topic:orders->topic:{sub}": ("route", 2 * N),
        f"topic:{sub}->service:billing-dotnet": ("consume", 2 * N),
    }, [f"topic:{sub}->service:billing-dotnet"])
    consume = a.edge(f"topic:{sub}->service:billing-dotnet")
    assert (consume["message_count"], consume["p50_ms"]) == (2 * N, 9.0)
    assert consume["queue_p50_ms"] == 29.5  # 23.5 and 35.5 after the JS send returned
    assert _systems(a) == {"topic:orders": "servicebus", f"topic:{sub}": "servicebus"}
    assert _flows(a) == [("checkout", N)]
    (flow,) = [f for f in a.flows if f["hops"]]
    # the .NET processor continued the request's trace; each message's receive, a root
    # linking it, is a trace of the same transaction
    assert flow["traces_per_flow"] == 3.0
    one = flow_for_trace(st, flow["example_trace_ids"][0])
    assert {s["name"] for s in one["spans"]} >= {"ServiceBusSender.send",
                                                "ServiceBusProcessor.ProcessMessage"}


# -------------------------------------------------------------------- azure-servicebus
def _py_sb(b: SpanSet, service: str, what: str, entity: str, legacy: bool = False,
           count: int = 1, **kw: Any) -> SpanRef:
    """A span of azure-servicebus 7.10+ (_common/tracing.py). ``what``: message, send,
    receive, complete or abandon. ``legacy``: the plugin-era send and receive spans, which
    name the entity only by message_bus.destination and peer.address."""
    attrs: dict[str, Any] = {"az.namespace": "Microsoft.ServiceBus",
                             "messaging.system": "servicebus"}
    kind = "PRODUCER" if what == "message" else "CLIENT"
    if what != "message":
        attrs["messaging.operation"] = {"send": "publish", "receive": "receive"}.get(
            what, "settle")
    if count > 1:
        attrs["messaging.batch.message_count"] = count
    if legacy and what in ("send", "receive"):
        attrs.update({"message_bus.destination": entity, "peer.address": SB_HOST})
    else:
        attrs.update({"net.peer.name": SB_HOST, "messaging.destination.name": entity})
    attrs.update(kw.pop("attrs", {}))
    return b.span(service, f"ServiceBus.{what}", kind=kind, attrs=attrs, **kw)


def _py_send(b: SpanSet, service: str, entity: str, parent: SpanRef, t: float, n: int,
             legacy: bool = False) -> list[SpanRef]:
    """``sender.send_messages([...n])``: a batch built with _from_list (a "ServiceBus.message"
    PRODUCER per message, ended at once), then the CLIENT "ServiceBus.send" linking them."""
    msgs = [_py_sb(b, service, "message", entity, legacy, parent=parent,
                   start_ms=t + 0.5 * j, dur_ms=0.1) for j in range(n)]
    _py_sb(b, service, "send", entity, legacy, count=n, parent=parent, start_ms=t + 2,
           dur_ms=16, links=msgs)
    return msgs  # the send ends at t + 18


def _py_iterate(b: SpanSet, service: str, entity: str, msg: SpanRef, start: float,
                legacy: bool = False) -> SpanRef:
    """One turn of ``for msg in receiver:`` whose body writes to the database and
    completes the message: the root CLIENT "ServiceBus.receive" (opened when the message
    was yielded, linking it, with its enqueued time) spans the loop body, so the body's
    spans and the "ServiceBus.complete" are its children."""
    rec = _py_sb(b, service, "receive", entity, legacy, start_ms=start, dur_ms=8,
                 links=[(msg, {"enqueuedTime": ENQUEUED + int(start)})])
    b.span(service, "INSERT orders", kind="CLIENT", parent=rec, start_ms=start + 0.5,
           dur_ms=4, attrs=PG)
    _py_sb(b, service, "complete", entity, legacy, parent=rec, start_ms=start + 5,
           dur_ms=2.5, links=[msg])
    return rec


def test_python_service_bus_send_batch_and_iterator_receiver():
    """azure-servicebus (native tracing): a request sends three messages to the queue
    'orders' ("ServiceBus.message" PRODUCER spans, a "ServiceBus.send" CLIENT linking them,
    messaging.batch.message_count 3). A worker iterates its receiver: per message a root
    CLIENT "ServiceBus.receive" linking the message, around the loop body (its DB insert
    and the "ServiceBus.complete" settle are children). Nine deliveries joined by their
    links, the completes are none, one flow per request."""
    b = SpanSet()
    for i in range(N):
        t = i * 200
        root = b.span("checkout", "POST /orders", kind="SERVER", start_ms=t, dur_ms=30)
        msgs = _py_send(b, "checkout", "orders", root, t + 2, 3)     # send ends t+20
        for j, m in enumerate(msgs):
            _py_iterate(b, "billing", "orders", m, t + 40 + 10 * j)
    st = b.store()
    a = _analysed(st, {
        "service:checkout->topic:orders": ("publish", 3 * N),
        "topic:orders->service:billing": ("consume", 3 * N),
        "service:billing->external:postgresql": ("call", 3 * N),
    }, ["topic:orders->service:billing"])
    consume = a.edge("topic:orders->service:billing")
    assert (consume["message_count"], consume["p50_ms"]) == (3 * N, 8.0)
    assert consume["queue_p50_ms"] == 30.0  # 20, 30, 40 after the send returned
    assert _systems(a) == {"topic:orders": "servicebus"}
    assert _flows(a) == [("checkout", N)]


def test_python_service_bus_plugin_era_legacy_attributes():
    """azure-servicebus 7.10+ through azure-core-tracing-opentelemetry: the same spans,
    but "ServiceBus.send" and "ServiceBus.receive" name the queue only by the legacy
    message_bus.destination (and peer.address), while the "ServiceBus.message" and settle
    spans name it by messaging.destination.name. One queue, the same graph."""
    b = SpanSet()
    for i in range(N):
        t = i * 200
        root = b.span("checkout", "POST /orders", kind="SERVER", start_ms=t, dur_ms=30)
        msgs = _py_send(b, "checkout", "orders", root, t + 2, 3, legacy=True)
        for j, m in enumerate(msgs):
            _py_iterate(b, "billing", "orders", m, t + 40 + 10 * j, legacy=True)
    st = b.store()
    a = _analysed(st, {
        "service:checkout->topic:orders": ("publish", 3 * N),
        "topic:orders->service:billing": ("consume", 3 * N),
        "service:billing->external:postgresql": ("call", 3 * N),
    }, ["topic:orders->service:billing"])
    assert a.edge("topic:orders->service:billing")["queue_p50_ms"] == 30.0
    assert _systems(a) == {"topic:orders": "servicebus"}
    assert _flows(a) == [("checkout", N)]


def test_python_service_bus_receive_messages_on_two_subscriptions():
    """azure-servicebus: two services each poll their own subscription of the topic
    'orders' with ``receive_messages(max_message_count=10, max_wait_time=5)``. A
    "ServiceBus.receive" CLIENT span starts when the call starts (the long poll was already
    waiting when the request sent) and ends when the three messages are back, linking them
    (batch count 3); it names the *topic* (the receiver's _entity_name), not the
    subscription. Each message is then completed (a root "ServiceBus.complete"). A poll that
    came back empty is a "ServiceBus.receive" linking nothing. Per request and service one
    delivery of three messages from the topic; polls are not late or skewed consumers."""
    b = SpanSet()
    for i in range(N):
        t = i * 6000
        root = b.span("checkout", "POST /orders", kind="SERVER", start_ms=t, dur_ms=30)
        msgs = _py_send(b, "checkout", "orders", root, t + 2, 3)     # send ends t+20
        for k, svc in enumerate(("billing", "shipping")):
            start = t - 1000 - 300 * k                       # waiting since before the send
            _py_sb(b, svc, "receive", "orders", count=3, start_ms=start,
                   dur_ms=t + 25 + k - start,
                   links=[(m, {"enqueuedTime": ENQUEUED + t + 19}) for m in msgs])
            for j, m in enumerate(msgs):
                _py_sb(b, svc, "complete", "orders", start_ms=t + 27 + k + 3 * j,
                       dur_ms=2.5, links=[m])
            # the next poll waited its max_wait_time (5 s) for nothing
            _py_sb(b, svc, "receive", "orders", start_ms=t + 40 + k, dur_ms=5000)
    st = b.store()
    a = _analysed(st, {
        "service:checkout->topic:orders": ("publish", 3 * N),
        "topic:orders->service:billing": ("consume", N),
        "topic:orders->service:shipping": ("consume", N),
    }, ["topic:orders->service:billing", "topic:orders->service:shipping"])
    for svc in ("billing", "shipping"):
        consume = a.edge(f"topic:orders->service:{svc}")
        assert (consume["message_count"], consume["batch_deliveries"]) == (3 * N, N), svc
        assert consume["clock_skew_count"] == 0, svc
    assert _systems(a) == {"topic:orders": "servicebus"}
    assert _flows(a) == [("checkout", N)]


def test_js_sender_and_python_receiver_join_by_diagnostic_id():
    """A Node service sends with @azure/service-bus 7.9 (which writes only the
    Diagnostic-Id application property); a Python worker iterates its receiver with
    azure-servicebus 7.11+, which reads the context from 'traceparent' or else
    'Diagnostic-Id': each "ServiceBus.receive" links the JS "message" span. The JS sender
    names the queue by messaging.destination.name, the Python receiver too: one queue, one
    delivery per message, one flow per request."""
    b = SpanSet()
    for i in range(N):
        t = i * 200
        root = b.span("storefront", "POST /cart/checkout", kind="SERVER", start_ms=t,
                      dur_ms=30)
        msgs = _js_sb_send(b, "storefront", "orders", root, t + 2, 2)   # ends t+21.5
        for j, m in enumerate(msgs):
            _py_iterate(b, "fulfilment", "orders", m, t + 40 + 10 * j)
    st = b.store()
    a = _analysed(st, {
        "service:storefront->topic:orders": ("publish", 2 * N),
        "topic:orders->service:fulfilment": ("consume", 2 * N),
        "service:fulfilment->external:postgresql": ("call", 2 * N),
    }, ["topic:orders->service:fulfilment"])
    assert a.edge("topic:orders->service:fulfilment")["queue_p50_ms"] == 23.5  # 18.5, 28.5
    assert _systems(a) == {"topic:orders": "servicebus"}
    assert _flows(a) == [("storefront", N)]
