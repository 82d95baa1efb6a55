"""Span shapes of application events that reach a broker later, through a transactional outbox
or an event publication registry, each read from the library's own source: the namastack
outbox's tracing module (alone and as Spring Modulith 2.1's outbox), Spring Modulith's event
externalization with the registry re-submitting incomplete publications (under the Java agent,
and under Micrometer Tracing with a scheduled re-submission); MassTransit 8's outboxes and
Axon Framework's Kafka extension are notes at the end (not supported). Each
test builds exactly the spans the libraries export for a small scenario, three times, and
checks what the analyzer makes of them: the business service publishes to the broker's
destination even when a relay sends later, the delivery joins its consumer, one flow per
business transaction."""

from __future__ import annotations

from typing import Any

from analyzer import flow_for_trace
from tests.analysis_checks import analysed_each, flows_of, systems_of
from tests.builders import SpanRef, SpanSet

N = 3

# ------------------------------------------------------------------------------ namastack outbox
# Read in namastack/namastack-outbox, namastack-outbox-tracing: OutboxTracingContextProvider
# (Outbox.schedule(payload, key) stores the current span's context, injected by Micrometer's
# Propagator -- traceparent -- in the record's context map; no span of its own),
# OutboxTracingContextRestorer (an OutboxHandlerInterceptor: every handler invocation runs
# inside an OUTBOX_RECORD_PROCESS observation), observability/OutboxProcessObservationContext
# (a Micrometer ReceiverContext whose getter reads the record's stored context: Micrometer
# Tracing's PropagatingReceiverTracingObservationHandler makes it a CONSUMER span whose parent
# is the scheduling span), OutboxObservationDocumentation (name "outbox.record.process",
# contextual name "outbox process", tags outbox.handler.operation=handler, outbox.handler.id,
# outbox.record.key, outbox.delivery.attempt = failureCount + 1; no messaging attribute) and
# tracing/OutboxTracingIntegrationTest (the handler runs in the scheduling trace). A failed
# handler (observation.observe rethrows: the span is in error) is retried later by the
# scheduler: a new "outbox process" span, again a child of the scheduling span.
# spring-projects/spring-kafka KafkaTemplateObservation (3.1-3.2: "<topic> send" PRODUCER,
# messaging.system, messaging.operation=publish, messaging.destination.kind/.name) and
# KafkaListenerObservation ("<topic> receive" CONSUMER naming messaging.source.name).

def _outbox_process(b: SpanSet, service: str, parent: SpanRef, handler: str, key: str,
                    attempt: int, t: float, dur: float, status: str = "UNSET") -> SpanRef:
    return b.span(service, "outbox process", kind="CONSUMER", parent=parent, start_ms=t,
                  dur_ms=dur, status=status,
                  attrs={"outbox.handler.operation": "handler", "outbox.handler.id": handler,
                         "outbox.record.key": key, "outbox.delivery.attempt": str(attempt)})


def _kafka_template_send(b: SpanSet, service: str, parent: SpanRef, topic: str, t: float,
                         dur: float, status: str = "UNSET",
                         extra: dict[str, Any] | None = None) -> SpanRef:
    return b.span(service, f"{topic} send", kind="PRODUCER", parent=parent, start_ms=t,
                  dur_ms=dur, status=status,
                  attrs={"spring.kafka.template.name": "kafkaTemplate",
                         "messaging.system": "kafka", "messaging.operation": "publish",
                         "messaging.destination.kind": "topic",
                         "messaging.destination.name": topic, **(extra or {})})


def _kafka_listener_receive(b: SpanSet, service: str, parent: SpanRef, topic: str,
                            group: str, offset: int, t: float, dur: float) -> SpanRef:
    return b.span(service, f"{topic} receive", kind="CONSUMER", parent=parent, start_ms=t,
                  dur_ms=dur,
                  attrs={"spring.kafka.listener.id": f"{group}-0", "messaging.system": "kafka",
                         "messaging.operation": "receive", "messaging.source.name": topic,
                         "messaging.source.kind": "topic", "messaging.consumer.id": group,
                         "messaging.kafka.consumer.group": group,
                         "messaging.kafka.source.partition": "0",
                         "messaging.kafka.message.offset": str(offset)})


def _boot_http(route: str, status: str = "201") -> dict[str, Any]:
    """Spring Boot's http.server.requests observation (Micrometer Tracing's span tags)."""
    return {"method": "POST", "uri": route, "status": status, "outcome": "SUCCESS",
            "exception": "none"}


def test_namastack_outbox_handler_retried_then_relayed_to_kafka_in_the_requests_trace():
    """orders schedules an OrderPlaced record in its @Transactional POST /orders (no span:
    only the request span's traceparent is stored with the record). The scheduler invokes
    the @OutboxHandler later: an "outbox process" CONSUMER span (no messaging attribute),
    child of the request span, whose KafkaTemplate send to 'order-events' fails the first
    time (broker unreachable: the send and the outbox process span in error, attempt 1) and
    succeeds on the retry (attempt 2); shipping's listener receives the record. The outbox
    relay is orders' own publish: one publish per attempt, one delivery per order, joined
    by context, no topic for the outbox itself, one flow per order."""
    b = SpanSet()
    roots = []
    for i in range(N):
        t = i * 10_000
        root = b.span("orders", "http post /orders", kind="SERVER", start_ms=t, dur_ms=16,
                      attrs=_boot_http("/orders"))
        roots.append(root)
        key = f"order-{7100 + i}"
        first = _outbox_process(b, "orders", root, "orderPlacedHandler", key, 1, t + 480,
                                1006, status="ERROR")
        _kafka_template_send(b, "orders", first, "order-events", t + 481, 1003,
                             status="ERROR")
        second = _outbox_process(b, "orders", root, "orderPlacedHandler", key, 2, t + 2490,
                                 9)
        send = _kafka_template_send(b, "orders", second, "order-events", t + 2491, 6)
        _kafka_listener_receive(b, "shipping", send, "order-events", "shipping", 310 + i,
                                t + 2511, 12)
    st = b.store()
    delivery = "topic:order-events->service:shipping"
    a = analysed_each(st, {
        "service:orders->topic:order-events": ("publish", 2 * N),
        delivery: ("consume", N),
    }, [delivery])
    assert a.edge("service:orders->topic:order-events")["error_count"] == N
    assert a.edge(delivery)["queue_p50_ms"] == 14.0
    assert systems_of(a) == {"topic:order-events": "kafka"}
    assert flows_of(a) == [("orders", N, 1.0)]
    flow = flow_for_trace(st, roots[0].trace_id)
    assert flow["trace_ids"] == [roots[0].trace_id]
    assert {s["service_name"] for s in flow["spans"]} == {"orders", "shipping"}


# ---------------------------------------------------------------------------- Spring Modulith
# Read in spring-projects/spring-modulith:
# spring-modulith-observability-core ModuleEntryInterceptor (an observation around each call
# entering an application module), DefaultModulithObservationConvention (contextual name
# "[<application>] <module>", module.key, module.method, module.invocation-type),
# ModulePassingObservationFilter (module.key passes from the parent *observation* to a child
# observation), LocalServiceRenamingSpanFilter (a span with module.key is exported under that
# module's name as its service), ModuleObservabilityAutoConfiguration (task executors
# decorated with ContextPropagatingTaskDecorator); ModuleEventListener (publishing an event
# only counts it: no span).
# spring-modulith-events-core EventExternalizationSupport.externalize (an
# @ApplicationModuleListener: after the commit, on the task executor),
# PersistentApplicationEventMulticaster (publications stored before the listeners run;
# resubmitIncompletePublications* and, with
# spring.modulith.events.republish-outstanding-events-on-restart, afterSingletonsInstantiated
# re-invoke the listener with the stored event: no trace context is stored, see
# spring-modulith issue #555, "When events are resubmitted, their original tracing context
# is lost"); spring-modulith-events-kafka KafkaEventExternalizerConfiguration
# (KafkaOperations.send(target, key, payload)); spring-modulith-events-amqp
# RabbitEventExternalizerConfiguration (RabbitMessageOperations.convertAndSend(exchange,
# routing key, payload)); spring-modulith-events-namastack (2.1) NamastackOutboxEventRecorder
# (an ApplicationListener scheduling each externalized event to the namastack Outbox,
# synchronously, inside the publishing module's transaction) and
# NamastackOutboxEventTransport (the OutboxHandler that sends it with the broker transport).
# spring-projects/spring-framework DefaultScheduledTaskObservationConvention (a @Scheduled
# run is the INTERNAL span "task <bean>.<method>", code.function, code.namespace, outcome).
# spring-projects/spring-amqp RabbitTemplateObservation / RabbitListenerObservation (3.2+:
# "<exchange>/<routing key> send" PRODUCER and "<queue> receive" CONSUMER, both naming the
# exchange as messaging.destination.name and the routing key; no messaging.system).
# open-telemetry/opentelemetry-java-instrumentation kafka-clients (KafkaInstrumenterFactory:
# "<topic> publish" PRODUCER, its error the send callback's; "<topic> process" CONSUMER
# whose parent is the record's context when receive telemetry is off, the default).


# Not supported (left alone, see the session note): Spring Modulith 2.1's namastack outbox
# with its observability module exports the order module's span under the service name
# 'order' and the outbox's bare "outbox process" CONSUMER span under 'shop': a bare consumer
# whose parent runs in another service reads as a delivery from a sender with no producer
# span (as lapin's and dramatiq's are), giving a topic:unknown delivery to shop.


def _agent_kafka(topic: str, op: str, client: str, **extra: Any) -> dict[str, Any]:
    """The Java agent's kafka-clients attributes (2.x, old messaging conventions)."""
    return {"messaging.system": "kafka", "messaging.destination.name": topic,
            "messaging.operation": op, "messaging.client_id": client, **extra}


def test_modulith_kafka_externalization_failed_then_resubmitted_on_restart_starts_new_traces():
    """Spring Modulith with the Java agent only (no Micrometer Tracing bridge: no module
    span). POST /orders/{id}/complete stores the event publication (the agent's JDBC span)
    and, after the commit, the externalizer's @ApplicationModuleListener sends to Kafka on
    the task executor (the agent carries the request's context there): the kafka-clients
    "order-events publish" span, a child of the request span that has already ended, fails
    after max.block.ms (set to 5 s; the broker is down) and the publication stays
    incomplete. The
    application restarts with republish-outstanding-events-on-restart: each incomplete
    publication is re-invoked from afterSingletonsInstantiated, where no span is current, so
    each publish is the root PRODUCER span of a new trace; warehouse's listener processes
    it. Both attempts are shop's publishes to 'order-events'; the resubmitted one is
    delivered, joined by context; the failed one is no anomaly."""
    b = SpanSet()
    for i in range(N):
        t = i * 1000
        root = b.span("shop", "POST /orders/{id}/complete", kind="SERVER", start_ms=t,
                      dur_ms=24, attrs={"http.request.method": "POST",
                                        "http.route": "/orders/{id}/complete",
                                        "http.response.status_code": 200})
        b.span("shop", "INSERT shop.event_publication", kind="CLIENT", parent=root,
               start_ms=t + 6, dur_ms=2,
               attrs={"db.system": "postgresql", "db.name": "shop", "db.operation": "INSERT",
                      "db.sql.table": "event_publication", "server.address": "postgres"})
        b.span("shop", "order-events publish", kind="PRODUCER", parent=root, start_ms=t + 26,
               dur_ms=5000, status="ERROR",
               attrs=_agent_kafka("order-events", "publish", "producer-1",
                                  **{"messaging.kafka.message.key": f"order-{40 + i}"}))
    for i in range(N):
        t = 300_000 + i * 3
        pub = b.span("shop", "order-events publish", kind="PRODUCER", start_ms=t, dur_ms=4,
                      attrs=_agent_kafka("order-events", "publish", "producer-1",
                                         **{"messaging.kafka.message.key": f"order-{40 + i}",
                                            "messaging.kafka.destination.partition": 0,
                                            "messaging.kafka.message.offset": 90 + i}))
        b.span("warehouse", "order-events process", kind="CONSUMER", parent=pub,
               start_ms=t + 9, dur_ms=7,
               attrs=_agent_kafka("order-events", "process", "consumer-warehouse-1",
                                  **{"messaging.kafka.consumer.group": "warehouse",
                                     "messaging.kafka.message.key": f"order-{40 + i}",
                                     "messaging.kafka.source.partition": 0,
                                     "messaging.kafka.message.offset": 90 + i}))
    st = b.store()
    delivery = "topic:order-events->service:warehouse"
    a = analysed_each(st, {
        "service:shop->topic:order-events": ("publish", 2 * N),
        delivery: ("consume", N),
        "service:shop->external:postgresql": ("call", N),
    }, [delivery])
    assert a.edge("service:shop->topic:order-events")["error_count"] == N
    assert a.edge(delivery)["queue_p50_ms"] == 5.0
    # the request and its re-submission share nothing (no link, no id): two flows, each
    # entered at shop, the delivered one being the re-submission's
    assert flows_of(a) == [("shop", N, 1.0), ("shop", N, 1.0)]
    delivered = [f for f in a.flows if delivery in f["hops"]]
    assert len(delivered) == 1 and delivered[0]["count"] == N


def test_modulith_scheduled_resubmission_sends_every_incomplete_publication_in_one_trace():
    """Spring Modulith with Micrometer Tracing (OpenTelemetry bridge) and the observability
    module, events externalized to RabbitMQ exchange 'orders' with routing key
    'order.completed'. While RabbitMQ is down the externalizer's send, run after the commit
    under the order module's observation (module.key inherited: service 'order'), fails.
    A @Scheduled job of the application (outside any module) later calls
    IncompletePublications.resubmitIncompletePublicationsOlderThan: one "task
    eventResubmitter.resubmit" span, under which the externalizer sends every incomplete
    publication (service 'shop': its parent observation has no module.key); warehouse's
    @RabbitListener receives each. Three publishes from the order module failed, three from
    shop delivered, each joined by context; the sweep is one trace, so one flow instance."""
    b = SpanSet()
    rabbit = {"messaging.destination.name": "orders",
              "messaging.rabbitmq.destination.routing_key": "order.completed"}
    for i in range(N):
        t = i * 1000
        root = b.span("shop", "http post /orders/{id}/complete", kind="SERVER", start_ms=t,
                      dur_ms=30, attrs=_boot_http("/orders/{id}/complete", "200"))
        order = b.span("order", "[shop] Order", parent=root, start_ms=t + 1, dur_ms=27,
                       attrs={"module.key": "order", "module.method": "complete"})
        b.span("order", "orders/order.completed send", kind="PRODUCER", parent=order,
               start_ms=t + 29, dur_ms=32, status="ERROR",
               attrs={**rabbit, "module.key": "order",
                      "spring.rabbit.template.name": "rabbitTemplate"})
    task = b.span("shop", "task eventResubmitter.resubmit", start_ms=120_000, dur_ms=14,
                  attrs={"code.function": "resubmit",
                         "code.namespace": "com.acme.shop.EventResubmitter",
                         "outcome": "SUCCESS", "exception": "none"})
    for i in range(N):
        t = 120_004 + i * 3
        send = b.span("shop", "orders/order.completed send", kind="PRODUCER", parent=task,
                      start_ms=t, dur_ms=2,
                      attrs={**rabbit, "spring.rabbit.template.name": "rabbitTemplate"})
        b.span("warehouse", "warehouse.order-completed receive", kind="CONSUMER", parent=send,
               start_ms=t + 8, dur_ms=6,
               attrs={**rabbit, "spring.rabbit.listener.id":
                      "org.springframework.amqp.rabbit.RabbitListenerEndpointContainer#0"})
    st = b.store()
    delivery = "topic:orders->service:warehouse"
    a = analysed_each(st, {
        "service:shop->service:order": ("call", N),
        "service:order->topic:orders": ("publish", N),
        "service:shop->topic:orders": ("publish", N),
        delivery: ("consume", N),
    }, [delivery])
    assert a.edge("service:order->topic:orders")["error_count"] == N
    assert a.edge(delivery)["queue_p50_ms"] == 6.0
    assert systems_of(a) == {"topic:orders": "rabbitmq"}
    assert flows_of(a) == [("shop", 1, 1.0), ("shop", N, 1.0)]
    (sweep,) = [f for f in a.flows if task.trace_id in f["example_trace_ids"]]
    assert (sweep["entry_service"], sweep["count"]) == ("shop", 1)
    assert sweep["hops"] == ["service:shop->topic:orders", delivery]


# ------------------------------------------------------------------------------ MassTransit
# Not supported (left alone, see the session note): MassTransit 8's bus outbox (its
# LogContextActivityExtensions: StartOutboxSendActivity, StartOutboxDeliverActivity,
# StartSendActivity, StartReceiveActivity). "outbox send" PRODUCER (no system, no
# destination) -> later "outbox process" CLIENT -> the real "<queue> send" -> the receive:
# the outbox send counts as a publish of its own (a producer nests only under its direct
# parent), and with one consumer MassTransit's receive span is read as a poll, moving the
# queue time. Its consumer outbox (OutboxMessagePipe) has the same chain inside the
# consumer's process span.


# --------------------------------------------------------------------- Axon Framework + Kafka
# Not supported (left alone): Axon's Kafka extension (extension-kafka KafkaEventPublisher,
# KafkaPublisher, HeaderUtils) relays EventBus.publishEvent (no destination) to the
# Axon.Events topic; billing's handle span is the child of publishEvent through the
# axon-metadata-* record headers: the destination-less publish counts as a second publish,
# delivered to billing beside the Axon.Events delivery.
