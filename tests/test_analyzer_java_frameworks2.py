"""Span shapes of three Java event-driven frameworks, each read from the framework's own source:
Axon Framework 4.9+ with axon-tracing-opentelemetry (commands, events and event processors,
commands routed to other nodes through Axon Server), Spring Modulith's observability module
(module spans, @ApplicationModuleListener listeners, events externalized to Kafka) and Spring
Cloud Stream's Kafka binder with spring.cloud.stream.kafka.binder.enable-observation=true and
functional bindings. Each test builds exactly the spans the framework exports for a small
scenario and checks what the analyzer makes of them."""

from __future__ import annotations

from typing import Any

from analyzer import edge_detail
from tests.analysis_checks import analysed_each as _analysed_each
from tests.analysis_checks import systems_of as _systems
from tests.builders import SpanRef, SpanSet

N = 3

# ------------------------------------------------------------------------------ Axon Framework
# Read in AxonFramework/AxonFramework (4.x line):
# tracing-opentelemetry/.../OpenTelemetrySpanFactory.java (a dispatch span is PRODUCER with the
# current context as parent; a handler span is CONSUMER whose parent is the context extracted
# from the message's metadata (traceparent, MetadataContextGetter) when isChildTrace, else a
# root linking it; an internal span is INTERNAL under the current one; a root trace is an
# INTERNAL root linking Span.current() -- none on a processor thread; names are
# "<operation>(<message name>)", SpanUtils.determineMessageName: the payload's simple name),
# messaging/.../commandhandling/DefaultCommandBusSpanFactory.java and its test
# (CommandBus.dispatchCommand INTERNAL, CommandBus.dispatchDistributedCommand PRODUCER,
# CommandBus.handleDistributedCommand a child handler span by default (distributedInSameTrace
# = true), CommandBus.handleCommand a child handler span), DefaultEventBusSpanFactory and its
# test (EventBus.publishEvent a dispatch span per event around propagateContext,
# EventBus.commitEvents INTERNAL), DefaultEventProcessorSpanFactory and its test
# (StreamingEventProcessor.batch a root trace per batch unless disableBatchTrace;
# StreamingEventProcessor.process a child handler span by default, a linked handler span
# with disableBatchTrace; EventProcessor.process for a subscribing processor, a child handler
# span), TracingHandlerEnhancerDefinition ("<Class>.<method>(<ParamTypes>)" INTERNAL per
# handler invocation), tracing/attributes/*SpanAttributesProvider (axon_message_id,
# axon_message_type = the message class's simple name, axon_payload_type,
# axon_message_name for commands and queries, axon_aggregate_identifier for domain events,
# axon_metadata_<key> for every metadata entry -- the propagated traceparent too), and
# DistributedCommandBus (the distributed dispatch span is current while the command is sent
# and the context propagated). AxonServerCommandBus 4.9+ itself was not read: the AF4
# span-factory inventory written for AF5's tracing port (design notes found by code search)
# places createDispatchCommandSpan / createHandleCommandSpan(distributed) in its dispatch and
# handler legs, and the agent's gRPC client spans stand for its calls to Axon Server.
# No span carries messaging.system or a destination: Axon Server routes commands by name and
# streams events from its event store, and the spans name neither.
# (A consequence of the code read, encoded below: with the default batch trace, a streaming
# processor's process span is a child of the event's publish span through the traceparent in
# the event's metadata -- extract() replaces the current batch span as parent -- so the batch
# span is a root of its own holding only the token store's work.)


def _axon(msg_id: str, payload: str, message_type: str, **extra: Any) -> dict[str, Any]:
    """What the default attribute providers put on a span of one message."""
    attrs = {"axon_message_id": msg_id, "axon_message_type": message_type,
             "axon_payload_type": f"com.example.{payload}"}
    if message_type == "GenericCommandMessage":
        attrs["axon_message_name"] = f"com.example.{payload}"
    attrs.update(extra)
    return attrs


def _traceparent(parent: SpanRef) -> str:
    return f"00-{parent.trace_id}-{parent.span_id}-01"


def _grpc(service: str, method: str) -> dict[str, Any]:
    """The Java agent's gRPC client span attributes for a call to Axon Server."""
    return {"rpc.system": "grpc", "rpc.service": f"io.axoniq.axonserver.grpc.{service}",
            "rpc.method": method, "rpc.grpc.status_code": 0, "server.address": "axonserver",
            "server.port": 8124, "network.peer.address": "10.1.0.40"}


def _axon_publish(b: SpanSet, service: str, handler_span: SpanRef, command_span: SpanRef,
                  event: str, event_id: str, aggregate: str, cmd_id: str,
                  t: float) -> SpanRef:
    """EventBus.publishEvent (PRODUCER, a short span around propagateContext) for an event
    applied by the aggregate, and the unit of work's EventBus.commitEvents with the agent's
    gRPC AppendEvent call to Axon Server's event store under it. The event's metadata
    carries MessageOriginProvider's correlationId/traceId (the command's id)."""
    short = event.rsplit(".", 1)[-1]
    pub = b.span(service, f"EventBus.publishEvent({short})", kind="PRODUCER",
                 parent=handler_span, start_ms=t, dur_ms=0.3,
                 attrs=_axon(event_id, event, "GenericDomainEventMessage",
                             axon_aggregate_identifier=aggregate,
                             axon_metadata_correlationId=cmd_id,
                             axon_metadata_traceId=cmd_id))
    commit = b.span(service, "EventBus.commitEvents", parent=command_span, start_ms=t + 3,
                    dur_ms=9)
    b.span(service, "io.axoniq.axonserver.grpc.event.EventStore/AppendEvent", kind="CLIENT",
           parent=commit, start_ms=t + 3.5, dur_ms=8,
           attrs=_grpc("event.EventStore", "AppendEvent"))
    return pub


def _axon_streaming_handler(b: SpanSet, service: str, pub: SpanRef, event: str,
                            event_id: str, aggregate: str, cmd_id: str, t: float,
                            batch_trace: bool = True) -> SpanRef:
    """A tracking/pooled streaming processor in ``service`` handling the event, read from
    Axon Server's event store. Default (batch trace): the StreamingEventProcessor.batch root
    (the token store's UPDATE under it, in its prepare-commit phase) and, per event, the
    CONSUMER StreamingEventProcessor.process span, a child of the publish through the event's
    traceparent. With disableBatchTrace: no batch span; the process span is a root linking
    the publish. Under it the @EventHandler method's span and its INSERT."""
    short = event.rsplit(".", 1)[-1]
    attrs = _axon(event_id, event, "GenericTrackedDomainEventMessage",
                  axon_aggregate_identifier=aggregate, axon_metadata_correlationId=cmd_id,
                  axon_metadata_traceId=cmd_id, axon_metadata_traceparent=_traceparent(pub))
    if batch_trace:
        batch = b.span(service, "StreamingEventProcessor.batch", start_ms=t, dur_ms=20)
        b.span(service, "UPDATE token_entry", kind="CLIENT", parent=batch, start_ms=t + 14,
               dur_ms=3, attrs={"db.system": "postgresql", "db.operation": "UPDATE",
                                "db.sql.table": "token_entry", "server.address": "pg"})
        proc = b.span(service, f"StreamingEventProcessor.process({short})", kind="CONSUMER",
                      parent=pub, start_ms=t + 1, dur_ms=12, attrs=attrs)
    else:
        proc = b.span(service, f"StreamingEventProcessor.process({short})", kind="CONSUMER",
                      links=[pub], start_ms=t + 1, dur_ms=12, attrs=attrs)
    handler = b.span(service, f"{service.capitalize()}Projection.on({short})", parent=proc,
                     start_ms=t + 2, dur_ms=10)
    b.span(service, f"INSERT {service}", kind="CLIENT", parent=handler, start_ms=t + 3,
           dur_ms=5, attrs={"db.system": "postgresql", "db.operation": "INSERT",
                            "db.sql.table": service, "server.address": "pg"})
    return proc


def test_axon_streaming_processors_without_batch_trace_start_linked_traces():
    """DefaultEventProcessorSpanFactory with disableBatchTrace(true): no batch span; each
    StreamingEventProcessor.process span is the root of a new trace linking the event's
    EventBus.publishEvent span. The order's flow spans the publishing trace and both
    processors' traces, joined by the links; queue time from the publish to the process
    span."""
    b = SpanSet()
    for i in range(N):
        t = i * 1000
        cmd_id = f"1e2d3c4b-5a69-4788-9900-00000000c00{i}"
        ev_id = f"c0ffee00-1234-4abc-8def-00000000e00{i}"
        root = b.span("orders", "POST /orders", kind="SERVER", start_ms=t, dur_ms=32,
                      attrs={"http.request.method": "POST", "http.route": "/orders",
                             "http.response.status_code": 200})
        disp = b.span("orders", "CommandBus.dispatchCommand(PlaceOrderCommand)", parent=root,
                      start_ms=t + 1, dur_ms=29,
                      attrs=_axon(cmd_id, "orders.PlaceOrderCommand", "GenericCommandMessage"))
        handle = b.span("orders", "CommandBus.handleCommand(PlaceOrderCommand)",
                        kind="CONSUMER", parent=disp, start_ms=t + 1.5, dur_ms=28,
                        attrs=_axon(cmd_id, "orders.PlaceOrderCommand",
                                    "GenericCommandMessage",
                                    axon_metadata_traceparent=_traceparent(disp)))
        method = b.span("orders", "OrderCommandHandler.handle(PlaceOrderCommand)",
                        parent=handle, start_ms=t + 2, dur_ms=8)
        pub = _axon_publish(b, "orders", method, handle, "orders.OrderPlacedEvent", ev_id,
                            f"order-{i}", cmd_id, t + 6)
        for service, start in (("billing", 200), ("shipping", 260)):
            _axon_streaming_handler(b, service, pub, "orders.OrderPlacedEvent", ev_id,
                                    f"order-{i}", cmd_id, t + start, batch_trace=False)
    st = b.store()
    a = _analysed_each(st, {
        "service:orders->topic:unknown": ("publish", N),
        "topic:unknown->service:billing": ("consume", N),
        "topic:unknown->service:shipping": ("consume", N),
        "service:orders->external:axonserver": ("call", N),
        "service:billing->external:postgresql": ("call", N),
        "service:shipping->external:postgresql": ("call", N),
    }, ["topic:unknown->service:billing", "topic:unknown->service:shipping"])
    assert a.edge("topic:unknown->service:billing")["queue_p50_ms"] == 194.7
    assert a.edge("topic:unknown->service:shipping")["queue_p50_ms"] == 254.7
    assert [(f["entry_service"], f["count"], f["traces_per_flow"]) for f in a.flows] == \
        [("orders", N, 3.0)]
    assert a.flows[0]["style"] == "choreography"


# ------------------------------------------------------------------------------ Spring Modulith
# Read in spring-projects/spring-modulith, spring-modulith-observability:
# support/ModuleEntryInterceptor.java (an Observation around each invocation that enters an
# application module from outside it -- none when the current observation is already of that
# module), DefaultModulithObservationConvention.java (name "module.requests", contextual
# name "[<spring.application.name>] <module display name>", low-cardinality module.key and,
# for an event listener, module.invocation-type=event-listener, high-cardinality
# module.method), ModuleEventListener.java (a published event only adds an event to the
# current observation: no span), ModulePassingObservationFilter.java (child observations
# inherit module.key), LocalServiceRenamingSpanFilter.java (a span with module.key is
# exported with that module as its service name), autoconfigure/
# ModuleObservabilityAutoConfiguration (both registered by default, task executors decorated
# with ContextPropagatingTaskDecorator, so an @Async listener's observation continues the
# publisher's); micrometer-metrics/tracing OtelFinishedSpan.setLocalServiceName (the
# resource's service.name); spring-modulith-events: EventExternalizationSupport.externalize
# is an @ApplicationModuleListener (after commit, async) and
# KafkaEventExternalizerConfiguration sends with KafkaOperations.send(target, key, payload);
# spring-projects/spring-kafka KafkaTemplateObservation / KafkaListenerObservation (3.1-3.2:
# "<topic> send" PRODUCER, "<topic> receive" CONSUMER naming messaging.source.name).

def _modulith_kafka_listener(topic: str, group: str, offset: int) -> dict[str, Any]:
    return {"spring.kafka.listener.id": f"{group}-0", "messaging.system": "kafka",
            "messaging.operation": "receive", "messaging.source.name": topic,
            "messaging.source.kind": "topic", "messaging.consumer.id": group,
            "messaging.kafka.consumer.group": group, "messaging.kafka.source.partition": "0",
            "messaging.kafka.message.offset": str(offset)}


def test_spring_modulith_module_spans_async_listeners_and_an_event_externalized_to_kafka():
    """A Spring Modulith shop: completing an order enters the order module (a span renamed
    to service 'order'), which publishes OrderCompleted. Two @ApplicationModuleListener
    listeners in the inventory and notification modules run after the commit on the task
    executor (their spans, renamed to their modules, are children of the order module's span
    and outlive it), and the @Externalized event is sent to Kafka 'order-events' by the
    externalizer (the KafkaTemplate span inherits module.key, so it is the order module's
    publish; spring.kafka.template/listener.observation-enabled are on); warehouse, another
    application, consumes it. No broker between the modules: no topic for the in-process
    event, only 'order-events'. The listeners are triggered by an event nobody waits for, as
    is the warehouse: choreography, one flow per order."""
    b = SpanSet()
    for i in range(N):
        t = i * 200
        root = b.span("shop", "http post /orders/{id}/complete", kind="SERVER", start_ms=t,
                      dur_ms=30, attrs={"method": "POST", "uri": "/orders/{id}/complete",
                                        "status": "200", "outcome": "SUCCESS",
                                        "exception": "none",
                                        "http.url": f"/orders/{40 + i}/complete"})
        order = b.span("order", "[shop] Order", parent=root, start_ms=t + 1, dur_ms=27,
                       attrs={"module.key": "order", "module.method": "complete"})
        for k, (module, display) in enumerate((("inventory", "Inventory"),
                                               ("notification", "Notification"))):
            b.span(module, f"[shop] {display}", parent=order, start_ms=t + 26 + k * 0.5,
                   dur_ms=15, attrs={"module.key": module, "module.method": "on",
                                     "module.invocation-type": "event-listener"})
        send = b.span("order", "order-events send", kind="PRODUCER", parent=order,
                      start_ms=t + 27, dur_ms=4,
                      attrs={"module.key": "order",
                             "spring.kafka.template.name": "kafkaTemplate",
                             "messaging.system": "kafka", "messaging.operation": "publish",
                             "messaging.destination.kind": "topic",
                             "messaging.destination.name": "order-events"})
        b.span("warehouse", "order-events receive", kind="CONSUMER", parent=send,
               start_ms=t + 40, dur_ms=10,
               attrs=_modulith_kafka_listener("order-events", "warehouse", 700 + i))
    st = b.store()
    a = _analysed_each(st, {
        "service:shop->service:order": ("call", N),
        "service:order->service:inventory": ("call", N),
        "service:order->service:notification": ("call", N),
        "service:order->topic:order-events": ("publish", N),
        "topic:order-events->service:warehouse": ("consume", N),
    }, ["topic:order-events->service:warehouse"])
    assert _systems(a) == {"topic:order-events": "kafka"}
    assert a.edge("topic:order-events->service:warehouse")["queue_p50_ms"] == 9.0
    (flow,) = a.flows
    assert (flow["entry_service"], flow["count"], flow["traces_per_flow"]) == ("shop", N, 1.0)
    # (its style reads 'hybrid': the async listeners' hops between module "services" are
    # calls to the style measure, though their spans outlive the span that published the
    # event in-process. Left alone: the style is not asserted.)


# ------------------------------------------------------------------------- Spring Cloud Stream
# Read in spring-cloud/spring-cloud-stream, binders/kafka-binder/.../KafkaMessageChannelBinder
# (enable-observation sets ContainerProperties.setObservationEnabled on the binding's
# listener container, KafkaTemplate.setObservationEnabled on the producer binding's and the
# DLQ's template; a record-mode binding is a KafkaMessageDrivenChannelAdapter whose
# RetryTemplate retries the function inside one listener invocation, maxAttempts 3 by
# default); spring-projects/spring-kafka KafkaListenerObservation ("<topic> receive"
# CONSUMER, messaging.source.name, the consumer group, partition and offset) and
# KafkaTemplateObservation ("<topic> send" PRODUCER, messaging.destination.name);
# spring-cloud/spring-cloud-function observability/ObservationFunctionAroundWrapper,
# DefaultFunctionObservationConvention and FunctionObservation (around each function
# invocation an INTERNAL "<definition> process" span with spring.cloud.function.definition,
# registered whenever an ObservationRegistry exists). The output binding's send happens after
# the function returned, inside the listener's observation: the "<out-topic> send" span is
# the receive span's child, beside the function's span.

def _scst_receive(b: SpanSet, service: str, parent: SpanRef, topic: str, group: str,
                  offset: int, t: float, dur: float) -> SpanRef:
    return b.span(service, f"{topic} receive", kind="CONSUMER", parent=parent, start_ms=t,
                  dur_ms=dur,
                  attrs={"spring.kafka.listener.id": f"{topic}.container-0",
                         "messaging.system": "kafka", "messaging.operation": "receive",
                         "messaging.source.name": topic, "messaging.source.kind": "topic",
                         "messaging.consumer.id": group,
                         "messaging.kafka.consumer.group": group,
                         "messaging.kafka.source.partition": str(offset % 2),
                         "messaging.kafka.message.offset": str(offset)})


def _scst_send(b: SpanSet, service: str, parent: SpanRef, topic: str, t: float,
               dur: float = 3) -> SpanRef:
    return b.span(service, f"{topic} send", kind="PRODUCER", parent=parent, start_ms=t,
                  dur_ms=dur, attrs={"spring.kafka.template.name": "kafkaTemplate",
                                     "messaging.system": "kafka",
                                     "messaging.operation": "publish",
                                     "messaging.destination.kind": "topic",
                                     "messaging.destination.name": topic})


def _scst_function(b: SpanSet, service: str, parent: SpanRef, definition: str, t: float,
                   dur: float, status: str = "UNSET") -> SpanRef:
    return b.span(service, f"{definition} process", parent=parent, start_ms=t, dur_ms=dur,
                  status=status, attrs={"spring.cloud.function.definition": definition})


def test_spring_cloud_stream_function_relays_orders_to_invoices_with_observation():
    """Spring Cloud Stream Kafka binder with observation on. orders-api sends each order to
    'orders' (StreamBridge). billing's Function<Order, Invoice> 'invoice' (group billing)
    consumes it and its output binding sends the invoice to 'invoices'; audit's
    Consumer<Order> (group audit) consumes 'orders' too; notifier's Consumer<Invoice> consumes
    'invoices'. One trace per order: publish, two deliveries of 'orders', billing's publish
    of the invoice (the receive span's child, not the function span's) and its delivery.
    The function spans, INTERNAL and named "... process", are no deliveries. Choreography."""
    b = SpanSet()
    for i in range(N):
        t = i * 200
        root = b.span("orders-api", "http post /orders", kind="SERVER", start_ms=t,
                      dur_ms=12, attrs={"method": "POST", "uri": "/orders", "status": "202",
                                        "outcome": "SUCCESS"})
        send = _scst_send(b, "orders-api", root, "orders", t + 3, 4)
        recv = _scst_receive(b, "billing", send, "orders", "billing", 100 + i, t + 20, 14)
        _scst_function(b, "billing", recv, "invoice", t + 20.5, 8)
        inv = _scst_send(b, "billing", recv, "invoices", t + 29, 3)
        audit = _scst_receive(b, "audit", send, "orders", "audit", 100 + i, t + 25, 6)
        _scst_function(b, "audit", audit, "audit", t + 25.5, 5)
        note = _scst_receive(b, "notifier", inv, "invoices", "notifier", 40 + i, t + 45, 9)
        _scst_function(b, "notifier", note, "notify", t + 45.5, 8)
    st = b.store()
    a = _analysed_each(st, {
        "service:orders-api->topic:orders": ("publish", N),
        "topic:orders->service:billing": ("consume", N),
        "topic:orders->service:audit": ("consume", N),
        "service:billing->topic:invoices": ("publish", N),
        "topic:invoices->service:notifier": ("consume", N),
    }, ["topic:orders->service:billing", "topic:orders->service:audit",
        "topic:invoices->service:notifier"])
    assert _systems(a) == {"topic:orders": "kafka", "topic:invoices": "kafka"}
    assert a.edge("topic:orders->service:billing")["p50_ms"] == 14.0
    assert a.edge("topic:orders->service:billing")["queue_p50_ms"] == 13.0
    assert a.edge("topic:invoices->service:notifier")["queue_p50_ms"] == 13.0
    (flow,) = a.flows
    assert (flow["entry_service"], flow["count"], flow["traces_per_flow"]) == \
        ("orders-api", N, 1.0)
    assert flow["style"] == "choreography"


def test_spring_cloud_stream_binder_retries_inside_one_delivery():
    """The function fails twice and succeeds on the third attempt: the binder's RetryTemplate
    (maxAttempts 3, back-off 1 s then 2 s) calls it again inside the same listener
    invocation. One "orders receive" span around three "invoice process" spans, the first
    two in error, then the invoice's send. Kafka delivered each record once: one delivery
    per order, no redelivery and no failed delivery; the delivery lasted the retries."""
    b = SpanSet()
    for i in range(N):
        t = i * 10_000
        root = b.span("orders-api", "http post /orders", kind="SERVER", start_ms=t,
                      dur_ms=12, attrs={"method": "POST", "uri": "/orders", "status": "202",
                                        "outcome": "SUCCESS"})
        send = _scst_send(b, "orders-api", root, "orders", t + 3, 4)
        recv = _scst_receive(b, "billing", send, "orders", "billing", 300 + i, t + 20, 3016)
        for k, start in enumerate((0.5, 1006, 3006)):
            _scst_function(b, "billing", recv, "invoice", t + 20 + start, 5,
                           status="ERROR" if k < 2 else "UNSET")
        inv = _scst_send(b, "billing", recv, "invoices", t + 3032, 3)
        note = _scst_receive(b, "notifier", inv, "invoices", "notifier", 80 + i, t + 3048, 9)
        _scst_function(b, "notifier", note, "notify", t + 3048.5, 8)
    st = b.store()
    a = _analysed_each(st, {
        "service:orders-api->topic:orders": ("publish", N),
        "topic:orders->service:billing": ("consume", N),
        "service:billing->topic:invoices": ("publish", N),
        "topic:invoices->service:notifier": ("consume", N),
    }, ["topic:orders->service:billing", "topic:invoices->service:notifier"])
    consume = a.edge("topic:orders->service:billing")
    assert consume["error_count"] == 0
    assert consume["p50_ms"] == 3016.0
    assert edge_detail(st, "topic:orders->service:billing")["count"] == N
    (flow,) = a.flows
    assert (flow["entry_service"], flow["count"]) == ("orders-api", N)


# Seen, not encoded (left alone): Axon's command and event spans name no destination: its
# in-process re-dispatch of a command under an INTERNAL span reads as a second delivery
# that lost its context, every unnamed destination is one 'unknown' node (a cycle that is
# not there), an in-process subscribing processor leaves an unnamed publish, and commands
# a sender waits for read as choreography (a publish is taken as never waited for).
