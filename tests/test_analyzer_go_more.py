"""Span shapes of Go messaging instrumentation, each read from the library's source or its
own tests: cloud.google.com/go/pubsub's native OpenTelemetry tracing, two OpenTelemetry
instrumentations of github.com/rabbitmq/amqp091-go (wzy9607/amqp091otel and Alibaba's
compile-time auto-instrumentation) and arloliu/otx's NATS JetStream wrapper. Each test
builds exactly the spans the library exports for a small scenario and checks what the
analyzer makes of them.

(Watermill and Asynq are in test_analyzer_jobs_more.py: Watermill traces only through
third-party decorators, Asynq has no OpenTelemetry tracing.)"""

from __future__ import annotations

from typing import Any

from analyzer import analyze, edge_detail, flow_for_trace
from tests.analysis_checks import analysed_each as _analysed_each
from tests.analysis_checks import edges_of as _edges
from tests.analysis_checks import systems_of as _systems
from tests.builders import SpanRef, SpanSet

N = 3


def _span(b: SpanSet, ref: SpanRef):
    """The built span behind ``ref`` (to add the links and end times a library sets after
    the span started)."""
    return next(x for x in b.spans if x.ref == ref)


def _db(b: SpanSet, service: str, parent: SpanRef, t: float, table: str) -> SpanRef:
    return b.span(service, f"INSERT {table}", kind="CLIENT", parent=parent, start_ms=t,
                  dur_ms=3, attrs={"db.system": "postgresql", "db.name": service,
                                   "server.address": "pg", "server.port": 5432})


# --------------------------------------------------------------- cloud.google.com/go/pubsub
# The client's own tracing (ClientConfig.EnableOpenTelemetryTracing), read in
# googleapis/google-cloud-go: pubsub/trace.go (semconv v1.26.0; span names and attribute
# keys), pubsub/topic.go and pubsub/v2/publisher.go (Publish, initBundler,
# publishMessageBundle), pubsub/iterator.go (receive, sendAck, sendModAck),
# pubsub/subscription.go (Receive: concurrency control, scheduler and process spans) and
# pubsub/trace_test.go (TestTrace_PublishSpan, TestTrace_SubscribeSpans).
#  - Topic.Publish: "<topic> create" PRODUCER in the caller's context, ended when the
#    bundle's Publish RPC returned (then it gets messaging.message.id, the server's id);
#    messaging.system gcp_pubsub, messaging.destination.name, gcp.project_id,
#    code.function Publish, messaging.message.body.size, the ordering key; no
#    messaging.operation. Children "publisher flow control" and "publisher batching"
#    (INTERNAL, no attributes). Its context goes into the message as googclient_traceparent.
#  - the bundler's goroutine (context.Background(), DelayThreshold 10 ms): "<topic> publish"
#    with no span kind (INTERNAL), a root, linking every create span of the bundle (each
#    create span links back to it, link attribute messaging.operation.name = publish),
#    messaging.batch.message_count, code.function publishMessageBundle.
#    v1 (Topic) and the first v2 Publisher name the topic id; the 2025 v2 Publisher (with
#    hedging) puts its full name, projects/<p>/topics/<t>, in messaging.destination.name of
#    both spans (the span names keep the id).
#  - messageIterator.receive: per message a "<subscription> subscribe" CONSUMER span whose
#    parent is the extracted create span: messaging.destination.name the subscription id,
#    messaging.message.id, the ack id, exactly_once_delivery, code.function receive and
#    messaging.batch.message_count = the number of messages in the pull response that
#    brought it. Ended when the ack (or nack) RPC carrying its ack id returned, with
#    messaging.gcp_pubsub.result acked / nacked.
#  - Receive: children of the subscribe span "subscriber concurrency control", "subscribe
#    scheduler" (INTERNAL, no attributes) and "<subscription> process" (INTERNAL, no
#    attributes but messaging.operation.type = process set when the handler calls Ack or
#    Nack, when it ends); the handler runs in the process span's context.
#  - sendModAck / sendAck: one root span per RPC ("<subscription> modack", "... ack",
#    "... nack"; no span kind), linking the subscribe spans of its ack ids (which link back),
#    messaging.batch.message_count, code.function sendModAck / sendAck; a modack also has
#    messaging.gcp_pubsub.message.ack_deadline_seconds and is_receipt_modack.

PROJECT = "shop-prod"


def _ps(dest: str, **extra: Any) -> dict[str, Any]:
    return {"gcp.project_id": PROJECT, "messaging.system": "gcp_pubsub",
            "messaging.destination.name": dest, **extra}


def _go_publish(b: SpanSet, service: str, topic: str, parents: list[SpanRef],
                starts: list[float], bundle_t: float, ids: list[str],
                full_name: bool = False) -> list[SpanRef]:
    """The messages that ``parents`` (request spans, starting at ``starts``) published to
    ``topic``, sent in one bundle at ``bundle_t`` (an 8 ms Publish RPC)."""
    dest = f"projects/{PROJECT}/topics/{topic}" if full_name else topic
    end = bundle_t + 8.3  # (the RPC returned; the create spans end then)
    creates = []
    for parent, s, mid in zip(parents, starts, ids):
        c = b.span(service, f"{topic} create", kind="PRODUCER", parent=parent, start_ms=s,
                   dur_ms=end - s,
                   attrs=_ps(dest, **{"code.function": "Publish", "messaging.message.id": mid,
                                      "messaging.message.body.size": 184,
                                      "messaging.gcp_pubsub.message.ordering_key": ""}))
        b.span(service, "publisher flow control", parent=c, start_ms=s + 0.05, dur_ms=0.02)
        b.span(service, "publisher batching", parent=c, start_ms=s + 0.1,
               dur_ms=bundle_t - s - 0.1)
        creates.append(c)
    rpc = b.span(service, f"{topic} publish", start_ms=bundle_t, dur_ms=8, links=creates,
                 attrs=_ps(dest, **{"messaging.batch.message_count": len(creates),
                                    "code.function": "publishMessageBundle"}))
    for c in creates:
        _span(b, c).links.append((rpc, {"messaging.operation.name": "publish"}))
    return creates


def _go_subscribe(b: SpanSet, service: str, sub: str, creates: list[SpanRef],
                  ids: list[str], r: float, handle_ms: float, table: str | None = None,
                  nack: bool = False) -> list[SpanRef]:
    """``service``'s Receive on subscription ``sub``: the messages of ``creates`` arrive in
    one StreamingPull response at ``r`` and are handled one after the other (``handle_ms``
    each, a database write each); a receipt modack 100 ms after receipt, then one ack (or
    nack) RPC 40 ms after the last handler acked. Gives the process spans."""
    subs = []
    for c, mid in zip(creates, ids):
        subs.append(b.span(service, f"{sub} subscribe", kind="CONSUMER", parent=c,
                           start_ms=r, dur_ms=0,  # (ended below)
                           attrs=_ps(sub, **{
                               "code.function": "receive", "messaging.message.id": mid,
                               "messaging.message.body.size": 184,
                               "messaging.gcp_pubsub.message.ordering_key": "",
                               "messaging.gcp_pubsub.message.ack_id": f"{sub}-{mid}-ack",
                               "messaging.gcp_pubsub.exactly_once_delivery": False,
                               "messaging.batch.message_count": len(creates)})))
    modack = b.span(service, f"{sub} modack", start_ms=r + 100, dur_ms=6, links=subs,
                    attrs=_ps(sub, **{"messaging.batch.message_count": len(subs),
                                      "code.function": "sendModAck",
                                      "messaging.gcp_pubsub.message.ack_deadline_seconds": 10,
                                      "messaging.gcp_pubsub.is_receipt_modack": True}))
    procs, ends = [], []
    for k, s in enumerate(subs):
        d = r + 0.4 + k * (handle_ms + 0.5)
        b.span(service, "subscriber concurrency control", parent=s, start_ms=r + 0.1,
               dur_ms=0.05)
        b.span(service, "subscribe scheduler", parent=s, start_ms=r + 0.2, dur_ms=d - r - 0.2)
        proc = b.span(service, f"{sub} process", parent=s, start_ms=d, dur_ms=handle_ms,
                      attrs={"messaging.operation.type": "process"})
        if table is not None:
            _db(b, service, proc, d + 1, table)
        procs.append(proc)
        ends.append(d + handle_ms)
    settle = "nack" if nack else "ack"
    t_ack = max(ends) + 40
    extra = {"messaging.batch.message_count": len(subs),
             "code.function": "sendModAck" if nack else "sendAck"}
    ack = b.span(service, f"{sub} {settle}", start_ms=t_ack, dur_ms=7, links=subs,
                 attrs=_ps(sub, **extra))
    for s in subs:
        x = _span(b, s)
        x.links.extend([(modack, {"messaging.operation.name": "modack"}),
                        (ack, {"messaging.operation.name": settle})])
        x.attrs["messaging.gcp_pubsub.result"] = "nacked" if nack else "acked"
        x.end_ns = b.ms(t_ack + 7.2)
    return procs


def _go_pubsub_orders(b: SpanSet, full_name: bool = False) -> list[str]:
    """N bundles of two orders each (two requests 3 ms apart: one Publish RPC), the topic
    'order-events' subscribed by billing ('billing-sub', received 25 ms after the RPC
    returned) and shipping ('shipping-sub', 31 ms). Gives the order traces."""
    orders = []
    for k in range(N):
        t = k * 1000
        roots = [b.span("orders", "POST /orders", kind="SERVER", start_ms=t + 3 * j,
                        dur_ms=4, attrs={"http.request.method": "POST",
                                         "http.route": "/orders"}) for j in range(2)]
        orders += [r.trace_id for r in roots]
        ids = [f"1390{k}{j}7704412" for j in range(2)]
        creates = _go_publish(b, "orders", "order-events", roots, [t + 1, t + 4], t + 11,
                              ids, full_name)
        _go_subscribe(b, "billing", "billing-sub", creates, ids, t + 19.3 + 25, 9, "invoices")
        _go_subscribe(b, "shipping", "shipping-sub", creates, ids, t + 19.3 + 31, 6,
                      "shipments")
    return orders


_GO_PUBSUB_EDGES = {
    "service:orders->topic:order-events": ("publish", 2 * N),
    "topic:order-events->topic:billing-sub": ("route", 2 * N),
    "topic:order-events->topic:shipping-sub": ("route", 2 * N),
    "topic:billing-sub->service:billing": ("consume", 2 * N),
    "topic:shipping-sub->service:shipping": ("consume", 2 * N),
    "service:billing->external:postgresql": ("call", 2 * N),
    "service:shipping->external:postgresql": ("call", 2 * N),
}


def test_go_pubsub_batch_publish_to_two_subscriptions():
    """Bundles of two orders each (a create span per message, one root "order-events
    publish" RPC span per bundle, INTERNAL, linking both), delivered through two
    subscriptions to billing and shipping: per message and subscription a subscribe span,
    child of its create span (the delivery, joined by its parent), with the concurrency
    control, scheduler and process spans under it; receipt modack and ack RPC spans (roots
    linking the subscribe spans) are no deliveries, and the bundle's publish RPC span is no
    publish of its own. A subscribe span's messaging.batch.message_count (2: the pull
    response brought both messages) does not make it a batch delivery: each carries one
    message. Queue time runs from the end of the create span (the RPC returned) to the
    subscribe span's start. Source: googleapis/google-cloud-go pubsub/trace.go, topic.go,
    iterator.go, subscription.go, trace_test.go."""
    b = SpanSet()
    _go_pubsub_orders(b)
    st = b.store()
    a = _analysed_each(st, _GO_PUBSUB_EDGES, ["topic:billing-sub->service:billing",
                                              "topic:shipping-sub->service:shipping"])
    assert _systems(a) == {"topic:order-events": "gcp_pubsub",
                           "topic:billing-sub": "gcp_pubsub",
                           "topic:shipping-sub": "gcp_pubsub"}
    billing = a.edge("topic:billing-sub->service:billing")
    shipping = a.edge("topic:shipping-sub->service:shipping")
    assert (billing["message_count"], billing["batch_deliveries"]) == (2 * N, 0)
    assert (shipping["message_count"], shipping["batch_deliveries"]) == (2 * N, 0)
    assert (billing["queue_p50_ms"], shipping["queue_p50_ms"]) == (25.0, 31.0)
    assert edge_detail(st, "topic:billing-sub->service:billing")["message_count"] == 2 * N


def test_go_pubsub_one_flow_per_order_not_per_bundle():
    """Each order (its request, its create span and both subscriptions' deliveries, all in
    its trace) is one flow; the bundle's publish RPC trace, linking both orders of a bundle,
    joins them into none, and the flow view of one order leaves out its bundle mate.
    Source: googleapis/google-cloud-go pubsub/topic.go (publishMessageBundle),
    iterator.go."""
    b = SpanSet()
    orders = _go_pubsub_orders(b)
    st = b.store()
    a = analyze(st)
    order = next(f for f in a.flows if f["entry_service"] == "orders"
                 and f["name"].startswith("POST /orders"))
    assert (order["count"], order["traces_per_flow"]) == (2 * N, 1.0)
    for k in range(N):
        f = flow_for_trace(st, orders[2 * k])
        assert orders[2 * k + 1] not in f["trace_ids"]


def test_go_pubsub_handler_publishing_a_follow_up_event_is_one_flow():
    """Choreography over two topics: billing's handler, running in its process span's
    context, publishes an 'invoice-events' message (its create span a child of the process
    span), which the notifier receives through 'notifier-sub'. One bundle of one message
    per hop. Every hop joined by context, one flow per order in one trace.
    Source: googleapis/google-cloud-go pubsub/subscription.go (the handler gets the process
    span's context), topic.go, iterator.go."""
    b = SpanSet()
    for i in range(N):
        t = i * 1000
        root = b.span("orders", "POST /orders", kind="SERVER", start_ms=t, dur_ms=3,
                      attrs={"http.request.method": "POST", "http.route": "/orders"})
        oid = [f"20{i}1"]
        (c1,) = _go_publish(b, "orders", "order-events", [root], [t + 1], t + 11, oid)
        (proc,) = _go_subscribe(b, "billing", "billing-sub", [c1], oid, t + 44, 15, "invoices")
        iid = [f"20{i}2"]
        (c2,) = _go_publish(b, "billing", "invoice-events", [proc], [t + 44.4 + 6],
                            t + 44.4 + 16, iid)
        _go_subscribe(b, "notifier", "notifier-sub", [c2], iid, t + 44.4 + 24.3 + 20, 5)
    a = _analysed_each(b.store(), {
        "service:orders->topic:order-events": ("publish", N),
        "topic:order-events->topic:billing-sub": ("route", N),
        "topic:billing-sub->service:billing": ("consume", N),
        "service:billing->external:postgresql": ("call", N),
        "service:billing->topic:invoice-events": ("publish", N),
        "topic:invoice-events->topic:notifier-sub": ("route", N),
        "topic:notifier-sub->service:notifier": ("consume", N),
    }, ["topic:billing-sub->service:billing", "topic:notifier-sub->service:notifier"])
    # (the ack and modack RPC traces linking an order's deliveries are the subscriber's
    # bookkeeping, not more of the order: the order happened in its one trace)
    order = next(f for f in a.flows if f["name"].startswith("POST /orders"))
    assert (order["count"], order["style"]) == (N, "choreography")
    assert order["traces_per_flow"] == 1.0


def test_go_pubsub_nacked_message_is_redelivered():
    """billing's handler fails and calls Nack: its process span ends (nack called), the
    iterator sends a "billing-sub nack" RPC span (a modack to deadline 0, a root linking the
    subscribe span), and the subscribe span ends with result nacked (status unset). Pub/Sub
    delivers the message again: a second subscribe span, again a child of the create span
    (the traceparent is in the message), acked this time. Two deliveries of one message: a
    redelivery, and the nack RPC span is no delivery.
    Source: googleapis/google-cloud-go pubsub/iterator.go (sendModAck with deadline 0),
    subscription.go, message.go."""
    b = SpanSet()
    for i in range(N):
        t = i * 1000
        root = b.span("orders", "POST /orders", kind="SERVER", start_ms=t, dur_ms=3,
                      attrs={"http.request.method": "POST", "http.route": "/orders"})
        mid = [f"31{i}77"]
        (c,) = _go_publish(b, "orders", "order-events", [root], [t + 1], t + 11, mid)
        _go_subscribe(b, "billing", "billing-sub", [c], mid, t + 45, 12, "invoices", nack=True)
        _go_subscribe(b, "billing", "billing-sub", [c], mid, t + 260, 9, "invoices")
    a = _analysed_each(b.store(), {
        "service:orders->topic:order-events": ("publish", N),
        "topic:order-events->topic:billing-sub": ("route", N),
        "topic:billing-sub->service:billing": ("consume", 2 * N),
        "service:billing->external:postgresql": ("call", 2 * N),
    }, ["topic:billing-sub->service:billing"],
        anomalies=[("redelivery", "topic:billing-sub->service:billing", N)])
    order = next(f for f in a.flows if f["name"].startswith("POST /orders"))
    assert order["count"] == N


def test_go_pubsub_v2_full_topic_name_is_the_topic_the_v1_clients_name():
    """One topic, two publishing services: 'orders' on pubsub v1 (Topic.Publish names the
    topic id, 'order-events') and 'returns' on the 2025 pubsub/v2 Publisher, whose create
    and publish RPC spans give its full name, projects/shop-prod/topics/order-events, as
    messaging.destination.name (span names keep the id: "order-events create"). One
    subscription, billing-sub, receives both services' messages. A Pub/Sub resource name
    names its topic: one topic node, fed by both services.
    Source: googleapis/google-cloud-go pubsub/topic.go (getPublishSpanAttributes(project,
    t.ID(), ...)) and pubsub/v2/publisher.go (getPublishSpanAttributes(project, t.name,
    ...), getCommonOptions(projectID, t.name))."""
    b = SpanSet()
    for i in range(N):
        t = i * 1000
        for svc, full, off in (("orders", False, 0), ("returns", True, 400)):
            root = b.span(svc, f"POST /{svc}", kind="SERVER", start_ms=t + off, dur_ms=3,
                          attrs={"http.request.method": "POST", "http.route": f"/{svc}"})
            mid = [f"4{int(full)}{i}9"]
            (c,) = _go_publish(b, svc, "order-events", [root], [t + off + 1], t + off + 11,
                               mid, full_name=full)
            _go_subscribe(b, "billing", "billing-sub", [c], mid, t + off + 45, 8, "invoices")
    a = _analysed_each(b.store(), {
        "service:orders->topic:order-events": ("publish", N),
        "service:returns->topic:order-events": ("publish", N),
        "topic:order-events->topic:billing-sub": ("route", 2 * N),
        "topic:billing-sub->service:billing": ("consume", 2 * N),
        "service:billing->external:postgresql": ("call", 2 * N),
    }, ["topic:billing-sub->service:billing"])
    assert _systems(a) == {"topic:order-events": "gcp_pubsub",
                           "topic:billing-sub": "gcp_pubsub"}


# -------------------------------------------------------------------- wzy9607/amqp091otel
# OpenTelemetry instrumentation for github.com/rabbitmq/amqp091-go, read in
# wzy9607/amqp091otel: channel.go (semconv v1.23.0), acknowledger.go, context.go,
# carrier.go. amqp091otel.Channel wraps *amqp091.Channel:
#  - PublishWithContext / PublishWithDeferredConfirmWithContext: PRODUCER
#    "<exchange> publish" ("(default) publish" for the default exchange '') in the caller's
#    context, ended when the publish call returned (not at the broker's confirm):
#    messaging.destination.anonymous = (exchange == ''), messaging.destination.name = the
#    exchange, messaging.rabbitmq.destination.routing_key, messaging.operation = publish,
#    messaging.message.id / messaging.message.conversation_id when the Publishing has a
#    MessageId / CorrelationId, and on every span the common attributes, among them
#    *span* attributes service.name = "github.com/rabbitmq/amqp091-go" and service.version
#    (the AMQP library's), network.protocol.name = the URI scheme, server.address/port.
#    Its context is injected into the message headers.
#  - Consume: the wrapper's goroutine starts, per delivery, a CONSUMER "<queue> process"
#    ("(anonymous) process" for amq.gen-* queues) whose parent is the context extracted from
#    the headers: messaging.destination.name = the queue, messaging.destination_publish.name
#    = the delivery's exchange (and .anonymous), the routing key, messaging.operation =
#    deliver; it ends when the handler acks, nacks or rejects (Ack with multiple ends every
#    open span up to that delivery tag); the handler gets its context from
#    ContextFromDelivery. Get: the same span with messaging.operation = receive.

def _amqp_common() -> dict[str, Any]:
    return {"service.name": "github.com/rabbitmq/amqp091-go", "service.version": "v1.10.0",
            "messaging.system": "rabbitmq", "network.protocol.name": "amqp",
            "network.protocol.version": "0.9.1", "network.transport": "tcp",
            "server.address": "rabbitmq", "server.port": 5672}


def _otel_publish(b: SpanSet, service: str, parent: SpanRef, t: float, exchange: str,
                  key: str, mid: str | None = None) -> SpanRef:
    return b.span(service, f"{exchange or '(default)'} publish", kind="PRODUCER",
                  parent=parent, start_ms=t, dur_ms=1.2,
                  attrs={"messaging.destination.anonymous": exchange == "",
                         "messaging.destination.name": exchange,
                         "messaging.rabbitmq.destination.routing_key": key,
                         "messaging.operation": "publish", "messaging.message.id": mid,
                         **_amqp_common()})


def _otel_deliver(b: SpanSet, service: str, pub: SpanRef, t: float, dur: float,
                  queue: str, exchange: str, key: str, mid: str | None = None,
                  op: str = "deliver") -> SpanRef:
    return b.span(service, f"{queue} process", kind="CONSUMER", parent=pub, start_ms=t,
                  dur_ms=dur,
                  attrs={"messaging.destination.anonymous": queue.startswith("amq.gen-"),
                         "messaging.destination.name": queue,
                         "messaging.destination_publish.anonymous": exchange == "",
                         "messaging.destination_publish.name": exchange,
                         "messaging.rabbitmq.destination.routing_key": key,
                         "messaging.operation": op, "messaging.message.id": mid,
                         **_amqp_common()})


def test_amqp091otel_topic_exchange_bound_to_two_queues():
    """The order service publishes "order.created" to the topic exchange 'orders' (a
    MessageId on every message), bound to 'billing-orders' and 'shipping-orders': the
    publish names the exchange, each delivery's span names its queue and, as
    messaging.destination_publish.name, the exchange. The exchange routes to both queues;
    each queue's consumer span (child of the publish, until the handler acked) is one
    delivery. The span attribute service.name (the AMQP library's module path) names no
    service. Source: wzy9607/amqp091otel channel.go, acknowledger.go, context.go."""
    b = SpanSet()
    for i in range(N):
        t = i * 100
        mid = f"5c0e7a1e-{i:04d}"
        root = b.span("orders", "POST /orders", kind="SERVER", start_ms=t, dur_ms=20,
                      attrs={"http.request.method": "POST", "http.route": "/orders"})
        pub = _otel_publish(b, "orders", root, t + 3, "orders", "order.created", mid)
        bill = _otel_deliver(b, "billing", pub, t + 9, 14, "billing-orders", "orders",
                             "order.created", mid)
        _db(b, "billing", bill, t + 10, "invoices")
        ship = _otel_deliver(b, "shipping", pub, t + 11, 6, "shipping-orders", "orders",
                             "order.created", mid)
        _db(b, "shipping", ship, t + 12, "shipments")
    st = b.store()
    a = _analysed_each(st, {
        "service:orders->topic:orders": ("publish", N),
        "topic:orders->topic:billing-orders": ("route", N),
        "topic:orders->topic:shipping-orders": ("route", N),
        "topic:billing-orders->service:billing": ("consume", N),
        "topic:shipping-orders->service:shipping": ("consume", N),
        "service:billing->external:postgresql": ("call", N),
        "service:shipping->external:postgresql": ("call", N),
    }, ["topic:billing-orders->service:billing", "topic:shipping-orders->service:shipping"])
    assert set(_systems(a).values()) == {"rabbitmq"}
    assert {n["id"] for n in a.nodes if n["type"] == "service"} == {
        "service:orders", "service:billing", "service:shipping"}
    billing = a.edge("topic:billing-orders->service:billing")
    assert (billing["p50_ms"], billing["queue_p50_ms"]) == (14.0, 4.8)
    (flow,) = a.flows
    assert (flow["count"], flow["traces_per_flow"]) == (N, 1.0)


def test_amqp091otel_default_exchange_work_queue():
    """A work queue through the default exchange: "(default) publish" with
    messaging.destination.name '' and messaging.destination.anonymous = true (amqp091otel
    marks the default exchange anonymous), routing key 'thumbnails' (the queue); the
    worker's "thumbnails process" spans name the queue (destination_publish.name '',
    .anonymous true). The worker acks every third delivery with multiple=true, which ends
    the three open spans at once. The default exchange is RabbitMQ's 'amq.default', one
    named broker entity, not a temporary destination: a publish to it, routed to the
    queue. Source: wzy9607/amqp091otel channel.go (nameWhenPublish,
    PublishWithDeferredConfirmWithContext, startConsumerSpan), acknowledger.go
    (endMultiple)."""
    b = SpanSet()
    pubs = []
    for i in range(N):
        t = i * 10
        root = b.span("media", "POST /uploads", kind="SERVER", start_ms=t, dur_ms=8,
                      attrs={"http.request.method": "POST", "http.route": "/uploads"})
        pubs.append(_otel_publish(b, "media", root, t + 2, "", "thumbnails"))
    for i, pub in enumerate(pubs):
        start = 40 + i * 15
        d = _otel_deliver(b, "thumbnailer", pub, start, 0, "thumbnails", "", "thumbnails")
        _span(b, d).end_ns = b.ms(40 + 3 * 15)  # Ack(tag 3, multiple=true)
    a = _analysed_each(b.store(), {
        "service:media->topic:amq.default": ("publish", N),
        "topic:amq.default->topic:thumbnails": ("route", N),
        "topic:thumbnails->service:thumbnailer": ("consume", N),
    }, ["topic:thumbnails->service:thumbnailer"])
    assert _systems(a) == {"topic:amq.default": "rabbitmq", "topic:thumbnails": "rabbitmq"}
    (flow,) = a.flows
    assert (flow["count"], flow["traces_per_flow"]) == (N, 1.0)


# ------------------------------------------------- Alibaba's Go auto-instrumentation, amqp091
# alibaba/opentelemetry-go-auto-instrumentation (now loongsuite-go-agent), read:
# pkg/rules/amqp091/{publish_setup,consume_setup,common_otel_instrumenter}.go, README.md,
# pkg/inst-api-semconv/instrumenter/message/{message_attrs_extractor,
# message_span_name_extractor}.go, test/amqp091/v1.10.0/test_mq_{,no_}cascading.go; the
# agent's GLS fallback (a context without a span takes the goroutine's current span).
#  - Channel.PublishWithDeferredConfirm (hooked at compile time): PRODUCER
#    "<exchange>:<routing key> publish" (the current request span its parent), with
#    messaging.destination.name '<exchange>:<routing key>', messaging.destination.template
#    '' (always: the getter returns ''), messaging.operation.name and .type 'publish',
#    messaging.system rabbitmq, the routing key, delivery mode, messaging.message.id and
#    messaging.message.conversation_id both the Publishing's MessageId ('' when unset),
#    messaging.client_id '', envelope size 0 and, at the end, messaging.batch.message_count
#    0. The context goes into the Publishing's headers only when they are not nil (README:
#    "they must ensure that the Headers field ... is not nil").
#  - consumers.send (the library handing a delivery to the consumer's channel): CONSUMER
#    "<exchange>:<routing key> receive", parent extracted from the headers, the same
#    attributes with operation 'receive', delivery tag and consumer tag; it ends as soon as
#    the delivery is handed over (the handler is not traced).

def _ali_attrs(exchange: str, key: str, op: str, extra: dict[str, Any]) -> dict[str, Any]:
    return {"messaging.rabbitmq.destination.routing_key": key,
            "messaging.operation.type": op, **extra,
            "messaging.destination.name": f"{exchange}:{key}",
            "messaging.destination.template": "",
            "messaging.message.conversation_id": "", "messaging.message.body.size": 96,
            "messaging.message.envelope.size": 0, "messaging.client_id": "",
            "messaging.operation.name": op, "messaging.system": "rabbitmq",
            "messaging.message.id": "", "messaging.batch.message_count": 0}


def _ali_publish(b: SpanSet, service: str, parent: SpanRef, t: float, exchange: str,
                 key: str) -> SpanRef:
    return b.span(service, f"{exchange}:{key} publish", kind="PRODUCER", parent=parent,
                  start_ms=t, dur_ms=0.8,
                  attrs=_ali_attrs(exchange, key, "publish",
                                   {"messaging.rabbitmq.message.delivery_mode": 2}))


def _ali_receive(b: SpanSet, service: str, parent: SpanRef | None, t: float, exchange: str,
                 key: str, tag: int) -> SpanRef:
    return b.span(service, f"{exchange}:{key} receive", kind="CONSUMER", parent=parent,
                  start_ms=t, dur_ms=0.05,
                  attrs=_ali_attrs(exchange, key, "receive", {
                      "messaging.rabbitmq.message.delivery_tag": tag,
                      "messaging.rabbitmq.message.consumer_tag": f"ctag-{service}-1"}))


def test_alibaba_amqp091_empty_template_and_ids_are_no_names():
    """Publishing with headers (so the context reaches the consumer) to the topic exchange
    'orders', routing key 'order.created', consumed by billing and by shipping, no
    MessageId set. Every span carries messaging.destination.template '' and empty message
    and conversation ids: an empty template names no destination (the name is
    '<exchange>:<routing key>', which, per the conventions, a delivery without a queue part
    reads as the routing key naming the queue), and an empty id is no id: the two
    consumers' and the N messages' deliveries are not one message delivered again.
    Source: alibaba/opentelemetry-go-auto-instrumentation pkg/rules/amqp091,
    pkg/inst-api-semconv/instrumenter/message/message_attrs_extractor.go."""
    b = SpanSet()
    for i in range(N):
        t = i * 100
        root = b.span("orders", "POST /orders", kind="SERVER", start_ms=t, dur_ms=10,
                      attrs={"http.request.method": "POST", "http.route": "/orders"})
        pub = _ali_publish(b, "orders", root, t + 3, "orders", "order.created")
        _ali_receive(b, "billing", pub, t + 6, "orders", "order.created", i + 1)
        _ali_receive(b, "shipping", pub, t + 7, "orders", "order.created", i + 1)
    a = _analysed_each(b.store(), {
        "service:orders->topic:orders": ("publish", N),
        "topic:orders->topic:order.created": ("route", N),
        "topic:order.created->service:billing": ("consume", N),
        "topic:order.created->service:shipping": ("consume", N),
    }, ["topic:order.created->service:billing", "topic:order.created->service:shipping"])
    assert set(_systems(a).values()) == {"rabbitmq"}
    (flow,) = a.flows
    assert (flow["count"], flow["traces_per_flow"]) == (N, 1.0)


def test_alibaba_amqp091_default_exchange_names_the_queue_after_a_colon():
    """A work queue through the default exchange: the publish and receive spans name
    ':thumbnails' (exchange '' and the routing key, joined by a colon the conventions would
    leave out) and the routing key is 'thumbnails'. The default exchange 'amq.default'
    routes the message to the queue 'thumbnails', the worker's delivery comes from that
    queue. Source: alibaba/opentelemetry-go-auto-instrumentation
    pkg/rules/amqp091/{publish_setup,consume_setup}.go (destinationName exchange + ":" +
    key)."""
    b = SpanSet()
    for i in range(N):
        t = i * 100
        root = b.span("media", "POST /uploads", kind="SERVER", start_ms=t, dur_ms=10,
                      attrs={"http.request.method": "POST", "http.route": "/uploads"})
        pub = _ali_publish(b, "media", root, t + 3, "", "thumbnails")
        _ali_receive(b, "thumbnailer", pub, t + 6, "", "thumbnails", i + 1)
    _analysed_each(b.store(), {
        "service:media->topic:amq.default": ("publish", N),
        "topic:amq.default->topic:thumbnails": ("route", N),
        "topic:thumbnails->service:thumbnailer": ("consume", N),
    }, ["topic:thumbnails->service:thumbnailer"])


def test_alibaba_amqp091_publishing_without_headers_loses_the_context():
    """The common amqp091.Publishing{Body: ...} with nil Headers: the agent cannot inject
    the context, so each receive span is the root of a trace of its own (the library's own
    no-cascading test expects two traces). Nothing joins the deliveries to their publishes:
    all message ids are '' (no MessageId set), which must not join every delivery to every
    publish or make them redeliveries of one message. The deliveries are counted, none
    joined: deliveries without a producer, and messages nobody consumed.
    Source: alibaba/opentelemetry-go-auto-instrumentation
    test/amqp091/v1.10.0/test_mq_no_cascading.go, pkg/rules/amqp091/README.md,
    common_otel_instrumenter.go (carrierGetter.Set does nothing on nil headers)."""
    b = SpanSet()
    for i in range(N):
        t = i * 100
        root = b.span("orders", "POST /orders", kind="SERVER", start_ms=t, dur_ms=10,
                      attrs={"http.request.method": "POST", "http.route": "/orders"})
        _ali_publish(b, "orders", root, t + 3, "orders", "order.created")
        _ali_receive(b, "billing", None, t + 6, "orders", "order.created", i + 1)
    st = b.store()
    a = analyze(st)
    (consume,) = [e for e in a.edges if e["type"] == "consume"]
    assert consume["joined_by"] == {"context": 0, "message_id": 0, "none": N, "outside": 0}
    # (message_count counts the messages deliveries were joined to: none here)
    assert (consume["message_count"], consume["batch_deliveries"]) == (0, 0)
    # (with nothing joining them, nothing says the exchange routes to the queue: the
    # queue's deliveries have no producer and the exchange's messages no consumer; no
    # redelivery, no clock skew)
    assert sorted((x["type"], x["where"], x["count"]) for x in a.anomalies) == [
        ("consumer_without_producer", "topic:order.created->service:billing", N),
        ("published_never_consumed", "topic:orders", N)]
    assert _edges(a) == {
        "service:orders->topic:orders": ("publish", N),
        "topic:order.created->service:billing": ("consume", N),
    }
    assert edge_detail(st, "topic:order.created->service:billing")["count"] == N


# -------------------------------------------------------------------- arloliu/otx, NATS
# arloliu/otx nats package (JetStream), read: nats/{publisher,consumer,handler,message,
# attributes,carrier}.go.
#  - Publisher.Publish / PublishMsg: PRODUCER "publish <subject>" in the caller's context,
#    messaging.system nats, messaging.operation.name publish, messaging.operation.type
#    send, messaging.destination.name = the subject, body size, and after the PubAck
#    messaging.message.id = the stream sequence; the context goes into the headers.
#  - MessageHandlerWithTracing (for Consumer.Consume): per message a CONSUMER
#    "process <stream>" whose parent is the extracted context: operation process,
#    nats.stream, messaging.destination.name = the subject, messaging.consumer.group.name =
#    the consumer's name (durable), body size, no message id; ended when the handler
#    returns.
#  - TracedConsumer.Fetch / FetchContext / FetchNoWait / Next: a CLIENT "receive <stream>"
#    span (operation receive, nats.stream, the consumer's name; no destination, no link),
#    ended as soon as the fetch request returned, before the messages are read. Each
#    message's context is the one extracted from its headers (the receive span's only when
#    it has none); TracedMsg.StartProcessSpan makes the "process <stream>" span there.

def _nats_publish(b: SpanSet, service: str, parent: SpanRef, t: float, subject: str,
                  seq: int) -> SpanRef:
    return b.span(service, f"publish {subject}", kind="PRODUCER", parent=parent, start_ms=t,
                  dur_ms=1.6,
                  attrs={"messaging.system": "nats", "messaging.operation.name": "publish",
                         "messaging.operation.type": "send",
                         "messaging.destination.name": subject,
                         "messaging.message.body.size": 212,
                         "messaging.message.id": str(seq)})


def _nats_process(b: SpanSet, service: str, parent: SpanRef, t: float, dur: float,
                  stream: str, subject: str, consumer: str) -> SpanRef:
    return b.span(service, f"process {stream}", kind="CONSUMER", parent=parent, start_ms=t,
                  dur_ms=dur,
                  attrs={"messaging.system": "nats", "messaging.operation.name": "process",
                         "messaging.operation.type": "process", "nats.stream": stream,
                         "messaging.destination.name": subject,
                         "messaging.consumer.group.name": consumer,
                         "messaging.message.body.size": 212})


def test_otx_nats_jetstream_two_durable_consumers():
    """The order service publishes 'orders.created' into the stream ORDERS; two durable
    consumers, billing and shipping, handle it through MessageHandlerWithTracing: a
    "process ORDERS" span each (named by the stream, naming the subject as destination and
    the durable as consumer group), child of the publish. The subject is the node both
    consume from. Source: arloliu/otx nats/publisher.go, handler.go, attributes.go."""
    b = SpanSet()
    for i in range(N):
        t = i * 100
        root = b.span("orders", "POST /orders", kind="SERVER", start_ms=t, dur_ms=12,
                      attrs={"http.request.method": "POST", "http.route": "/orders"})
        pub = _nats_publish(b, "orders", root, t + 4, "orders.created", 41 + i)
        bill = _nats_process(b, "billing", pub, t + 7, 10, "ORDERS", "orders.created",
                             "billing")
        _db(b, "billing", bill, t + 8, "invoices")
        ship = _nats_process(b, "shipping", pub, t + 8, 5, "ORDERS", "orders.created",
                             "shipping")
        _db(b, "shipping", ship, t + 9, "shipments")
    a = _analysed_each(b.store(), {
        "service:orders->topic:orders.created": ("publish", N),
        "topic:orders.created->service:billing": ("consume", N),
        "topic:orders.created->service:shipping": ("consume", N),
        "service:billing->external:postgresql": ("call", N),
        "service:shipping->external:postgresql": ("call", N),
    }, ["topic:orders.created->service:billing", "topic:orders.created->service:shipping"])
    assert _systems(a) == {"topic:orders.created": "nats"}
    billing = a.edge("topic:orders.created->service:billing")
    assert (billing["p50_ms"], billing["queue_p50_ms"]) == (10.0, 1.4)
    (flow,) = a.flows
    assert (flow["count"], flow["traces_per_flow"]) == (N, 1.0)


def test_otx_nats_fetch_receive_spans_are_no_deliveries():
    """A pull consumer ('fulfilment') in a worker loop: FetchNoWait every 500 ms gives a
    CLIENT "receive ORDERS" span (a root: the deprecated context-less call) that names the
    stream and the consumer but no subject and links nothing, ended before the batch is
    read; each fetched message's process span (StartProcessSpan) is a child of its publish.
    Fetches that came back empty leave a receive span too. The process spans are the
    deliveries; the receive spans are neither deliveries nor consumers of an unknown
    destination. Source: arloliu/otx nats/consumer.go (startFetchSpanCtx, FetchNoWait,
    extractContext), message.go (TracedMessageBatch.forward, StartProcessSpan)."""
    b = SpanSet()
    recv = {"messaging.system": "nats", "messaging.operation.name": "receive",
            "messaging.operation.type": "receive", "nats.stream": "ORDERS",
            "messaging.consumer.group.name": "fulfilment"}
    pubs = []
    for i in range(N):
        t = i * 100
        root = b.span("orders", "POST /orders", kind="SERVER", start_ms=t, dur_ms=12,
                      attrs={"http.request.method": "POST", "http.route": "/orders"})
        pubs.append(_nats_publish(b, "orders", root, t + 4, "orders.created", 77 + i))
    for k in range(4):  # fetches at 500, 1000 (the batch of N), 1500, 2000
        t = 500 + 500 * k
        b.span("fulfilment", "receive ORDERS", kind="CLIENT", start_ms=t, dur_ms=0.4,
               attrs=recv)
        if k == 1:
            for j, pub in enumerate(pubs):
                proc = _nats_process(b, "fulfilment", pub, t + 1 + 20 * j, 18, "ORDERS",
                                     "orders.created", "fulfilment")
                _db(b, "fulfilment", proc, t + 2 + 20 * j, "picklists")
    a = _analysed_each(b.store(), {
        "service:orders->topic:orders.created": ("publish", N),
        "topic:orders.created->service:fulfilment": ("consume", N),
        "service:fulfilment->external:postgresql": ("call", N),
    }, ["topic:orders.created->service:fulfilment"])
    assert _systems(a) == {"topic:orders.created": "nats"}
    assert a.edge("topic:orders.created->service:fulfilment")["p50_ms"] == 18.0
