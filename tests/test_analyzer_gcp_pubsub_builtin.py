"""Span shapes of the Google Cloud Pub/Sub client libraries' own (built-in) OpenTelemetry
tracing, each read from the library's source and its own tests, for what the other suites do
not encode yet: Python's google-cloud-pubsub (2.24+, both sides, before and after the
callback-context fix of 2.31.1), Java's google-cloud-pubsub with ordering keys and exactly-once
delivery, and the Node client's first generation (messaging.system 'pubsub', resource names
everywhere). Each test builds exactly the spans the library exports for a small
scenario and checks what the analyzer makes of them.

(Already encoded elsewhere: the Java/Python basic shape in test_analyzer_libraries.py
(test_google_pubsub_client_tracing), the Node 4.x/5.x generations in
test_analyzer_node_cloud.py, Go's client in test_analyzer_go_more.py.)"""

from __future__ import annotations

from typing import Any

from analyzer import analyze, edge_detail, flow_for_trace
from tests.analysis_checks import analysed_each as _analysed_each
from tests.analysis_checks import edges_of as _edges
from tests.analysis_checks import systems_of as _systems
from tests.builders import SpanRef, SpanSet

N = 3
PROJECT = "shop-prod"


def _span(b: SpanSet, ref: SpanRef):
    """The built span behind ``ref`` (to add the links, attributes and end times a library
    sets after the span started)."""
    return next(x for x in b.spans if x.ref == ref)


def _http(b: SpanSet, service: str, route: str, t: float, dur: float) -> SpanRef:
    return b.span(service, f"POST {route}", kind="SERVER", start_ms=t, dur_ms=dur,
                  attrs={"http.request.method": "POST", "http.route": route,
                         "http.response.status_code": 202})


def _db(b: SpanSet, service: str, parent: SpanRef | None, t: float, table: str) -> SpanRef:
    return b.span(service, f"INSERT {table}", kind="CLIENT", parent=parent, start_ms=t,
                  dur_ms=3, attrs={"db.system": "postgresql", "db.name": service,
                                   "server.address": "pg", "server.port": 5432})


# ----------------------------------------------------------- Python google-cloud-pubsub 2.24+
# Read in googleapis/python-pubsub:
#  google/cloud/pubsub_v1/open_telemetry/publish_message_wrapper.py (start_create_span, the
#    flow control and batching spans), publisher/_batch/thread.py (_start_publish_rpc_span,
#    _commit), open_telemetry/context_propagation.py (googclient_ prefix),
#    open_telemetry/subscribe_opentelemetry.py (subscribe, concurrency control, scheduler,
#    process spans; start_modack_span, start_ack_span, start_nack_span),
#    subscriber/message.py (ack()/nack() end the process span), issue #1428 / PR #1429
#    (before 2.31.1 the callback did not run in the process span's context).
#  - PublisherClient.publish: "<topic id> create" PRODUCER in the caller's context
#    (messaging.system gcp_pubsub, messaging.destination.name the topic id, gcp.project_id,
#    code.function "publish", messaging.gcp_pubsub.message.ordering_key, messaging.operation
#    "create", messaging.message.body.size); its context goes into the message as
#    googclient_traceparent. INTERNAL children "publisher flow control", "publisher batching".
#  - the batch's commit thread: "<topic id> publish" CLIENT, a root (no context in that
#    thread), linking every sampled create span (no link attributes) which link back to it;
#    messaging.operation "publish", messaging.batch.message_count, code.function "_commit".
#    When the RPC returns it ends, then every create span gets messaging.message.id (the
#    server's id) and ends.
#  - on each pulled message: "<subscription id> subscribe" CONSUMER, child of the extracted
#    create span (a root when the message carries no context): messaging.destination.name
#    the subscription id, gcp.project_id, messaging.message.id, body size, ack id, ordering
#    key, exactly_once_delivery, code.function "_on_response", delivery_attempt; no
#    operation. Ended when the ack (or nack) RPC returned, with
#    messaging.gcp_pubsub.result.
#  - INTERNAL children "subscriber concurrency control", "subscriber scheduler" and
#    "<subscription id> process" (only messaging.system; a link to the create span), the
#    process span from the callback's start until it calls ack()/nack().
#  - the dispatcher's RPC spans, roots linking the subscribe spans of their ack ids:
#    "<subscription id> modack" CLIENT (messaging.operation.name "modack" and no
#    messaging.operation, messaging.gcp_pubsub.message.ack_deadline,
#    messaging.gcp_pubsub.is_receipt_modack, the caller's code.function), "<subscription
#    id> ack" CLIENT (messaging.operation "ack", code.function "ack") and "<subscription
#    id> nack" CLIENT (messaging.operation "nack", code.function "modify_ack_deadline").
#  (The streaming pull manager and dispatcher that call these were not readable in the
#  versions with tracing; when the subscribe span ends and that the RPC spans are roots
#  follow from subscribe_opentelemetry.py, message.py, PR #1513 and the other clients.)


def _py_ps(dest: str, **extra: Any) -> dict[str, Any]:
    return {"messaging.system": "gcp_pubsub", "messaging.destination.name": dest,
            "gcp.project_id": PROJECT, **extra}


def _py_publish(b: SpanSet, service: str, topic: str, parents: list[SpanRef | None],
                starts: list[float], commit_t: float, ids: list[str],
                ordering_key: str = "") -> list[SpanRef]:
    """The messages ``parents`` (request or process spans; None: no active span) published to
    ``topic``, committed in one batch at ``commit_t`` (a 9 ms Publish RPC)."""
    end = commit_t + 9.2
    creates = []
    for parent, s, mid in zip(parents, starts, ids):
        c = b.span(service, f"{topic} create", kind="PRODUCER", parent=parent, start_ms=s,
                   dur_ms=end - s,
                   attrs=_py_ps(topic, **{
                       "code.function": "publish", "messaging.operation": "create",
                       "messaging.gcp_pubsub.message.ordering_key": ordering_key,
                       "messaging.message.body.size": 217, "messaging.message.id": mid}))
        b.span(service, "publisher flow control", parent=c, start_ms=s + 0.05, dur_ms=0.03)
        b.span(service, "publisher batching", parent=c, start_ms=s + 0.1,
               dur_ms=commit_t - s - 0.1)
        creates.append(c)
    rpc = b.span(service, f"{topic} publish", kind="CLIENT", start_ms=commit_t, dur_ms=9,
                 links=creates,
                 attrs=_py_ps(topic, **{"messaging.batch.message_count": len(creates),
                                        "messaging.operation": "publish",
                                        "code.function": "_commit"}))
    for c in creates:
        _span(b, c).links.append((rpc, {}))
    return creates


def _py_subscribe(b: SpanSet, service: str, sub: str, creates: list[SpanRef | None],
                  ids: list[str], r: float, handle_ms: float, table: str | None = None,
                  nack: bool = False, in_context: bool = True, attempt: int = 0,
                  ordering_key: str = "") -> list[SpanRef]:
    """``service``'s streaming pull on ``sub``: the messages (their create spans; None: the
    message carried no context) arrive in one response at ``r``, a receipt modack goes out at
    once, each callback takes ``handle_ms`` (a database write each, in the process span's
    context when ``in_context``, else a root of its own) and acks (or nacks); one ack (nack)
    RPC 10 ms after the last. Gives the process spans."""
    subs = []
    for c, mid in zip(creates, ids):
        subs.append(b.span(service, f"{sub} subscribe", kind="CONSUMER", parent=c,
                           start_ms=r, dur_ms=0,  # (ended below)
                           attrs=_py_ps(sub, **{
                               "messaging.message.id": mid,
                               "messaging.message.body.size": 180,
                               "messaging.gcp_pubsub.message.ack_id": f"{sub}-{mid}-{attempt}",
                               "messaging.gcp_pubsub.message.ordering_key": ordering_key,
                               "messaging.gcp_pubsub.message.exactly_once_delivery": False,
                               "code.function": "_on_response",
                               "messaging.gcp_pubsub.message.delivery_attempt": attempt})))
    # (the receipt modack's code.function is its caller's, in the streaming pull manager,
    # which was not readable: left out)
    b.span(service, f"{sub} modack", kind="CLIENT", start_ms=r + 0.3, dur_ms=5, links=subs,
           attrs=_py_ps(sub, **{"messaging.batch.message_count": len(subs),
                                "messaging.gcp_pubsub.message.ack_deadline": 10,
                                "messaging.operation.name": "modack",
                                "messaging.gcp_pubsub.is_receipt_modack": True}))
    procs, ends = [], []
    for k, (s, c) in enumerate(zip(subs, creates)):
        d = r + 0.6 + k * (handle_ms + 0.4)  # one callback after the other
        b.span(service, "subscriber concurrency control", parent=s, start_ms=r + 0.1,
               dur_ms=0.1)
        b.span(service, "subscriber scheduler", parent=s, start_ms=r + 0.25,
               dur_ms=d - r - 0.25)
        proc = b.span(service, f"{sub} process", parent=s, start_ms=d, dur_ms=handle_ms,
                      links=[c] if c is not None else [],
                      attrs={"messaging.system": "gcp_pubsub"})
        if table is not None:
            _db(b, service, proc if in_context else None, d + 1, table)
        procs.append(proc)
        ends.append(d + handle_ms)
    settle = "nack" if nack else "ack"
    t_ack = max(ends) + 10
    b.span(service, f"{sub} {settle}", kind="CLIENT", start_ms=t_ack, dur_ms=6, links=subs,
           attrs=_py_ps(sub, **{"messaging.batch.message_count": len(subs),
                                "messaging.operation": settle,
                                "code.function": "modify_ack_deadline" if nack else "ack"}))
    for s in subs:
        x = _span(b, s)
        x.attrs["messaging.gcp_pubsub.result"] = "nacked" if nack else "acked"
        x.end_ns = b.ms(t_ack + 6.2)
    return procs


def _py_orders(b: SpanSet) -> list[str]:
    """N batches of two orders (two requests 4 ms apart, committed together 11 ms after the
    first: the default max_latency 10 ms), 'order-events' subscribed by billing
    ('billing-sub', received 18 ms after the RPC returned, 11 ms callbacks) and shipping
    ('shipping-sub', 27 ms, 7 ms callbacks), both on 2.31.1+ (handler in the process span's
    context). Gives the order traces."""
    orders = []
    for k in range(N):
        t = k * 1000
        roots = [_http(b, "orders", "/orders", t + 4 * j, 6) for j in range(2)]
        orders += [r.trace_id for r in roots]
        ids = [f"1290{k}{j}5531" for j in range(2)]
        creates = _py_publish(b, "orders", "order-events", roots, [t + 1, t + 5], t + 12, ids)
        _py_subscribe(b, "billing", "billing-sub", creates, ids, t + 21.2 + 18, 11, "invoices")
        _py_subscribe(b, "shipping", "shipping-sub", creates, ids, t + 21.2 + 27, 7,
                      "shipments")
    return orders


_PY_EDGES = {
    "service:orders->topic:order-events": ("publish", 2 * N),
    "topic:order-events->topic:billing-sub": ("route", 2 * N),
    "topic:order-events->topic:shipping-sub": ("route", 2 * N),
    "topic:billing-sub->service:billing": ("consume", 2 * N),
    "topic:shipping-sub->service:shipping": ("consume", 2 * N),
    "service:billing->external:postgresql": ("call", 2 * N),
    "service:shipping->external:postgresql": ("call", 2 * N),
}


def test_python_pubsub_batch_publish_to_two_subscriptions():
    """google-cloud-pubsub 2.24+ on both sides: a create span per message under its request,
    the batch's "order-events publish" CLIENT RPC span (a root, messaging.operation
    'publish', linking both create spans, which link back), and per subscription and message
    a subscribe span (child of the create span) with the concurrency control, scheduler and
    process spans under it (the process span links the create span and lasts until the
    callback's ack()); a receipt modack ("messaging.operation.name" modack only) and an ack
    RPC span (messaging.operation 'ack'), roots linking the subscribe spans. One publish per
    message (the RPC span carries them, it is none of its own), one delivery per message and
    subscription, joined by context; the modack and ack spans are no deliveries and the pull
    response of two messages is no batch delivery. The callback's time is the delivery's.
    Source: googleapis/python-pubsub open_telemetry/publish_message_wrapper.py,
    publisher/_batch/thread.py, open_telemetry/subscribe_opentelemetry.py,
    subscriber/message.py."""
    b = SpanSet()
    _py_orders(b)
    st = b.store()
    a = _analysed_each(st, _PY_EDGES, ["topic:billing-sub->service:billing",
                                       "topic:shipping-sub->service:shipping"])
    assert _systems(a) == {"topic:order-events": "gcp_pubsub",
                           "topic:billing-sub": "gcp_pubsub",
                           "topic:shipping-sub": "gcp_pubsub"}
    billing = a.edge("topic:billing-sub->service:billing")
    shipping = a.edge("topic:shipping-sub->service:shipping")
    assert (billing["message_count"], billing["batch_deliveries"]) == (2 * N, 0)
    assert (shipping["message_count"], shipping["batch_deliveries"]) == (2 * N, 0)
    assert (billing["p50_ms"], shipping["p50_ms"]) == (11.0, 7.0)
    assert edge_detail(st, "topic:billing-sub->service:billing")["message_count"] == 2 * N


def test_python_pubsub_rpc_and_settle_traces_are_no_flows():
    """The batch's publish RPC span and the subscribers' modack and ack RPC spans are roots
    of traces of their own, holding nothing but the client library's bookkeeping (each
    linking the messages of two orders). The business transactions are the orders: one flow
    per order (its request, create span and both deliveries, in its trace), and no flow
    made of an RPC trace; the flow view of one order leaves out its batch mate.
    Source: googleapis/python-pubsub publisher/_batch/thread.py (_start_publish_rpc_span:
    started in the commit thread, no parent), open_telemetry/subscribe_opentelemetry.py
    (start_modack_span, start_ack_span)."""
    b = SpanSet()
    orders = _py_orders(b)
    st = b.store()
    a = analyze(st)
    assert [(f["entry_service"], f["name"], f["count"], f["traces_per_flow"])
            for f in a.flows] == [("orders", "POST /orders (orders)", 2 * N, 1.0)]
    for k in range(N):
        assert orders[2 * k + 1] not in flow_for_trace(st, orders[2 * k])["trace_ids"]


def _py_invoice_chain(b: SpanSet, in_context: bool) -> list[tuple[str, str]]:
    """Per order (one message per batch, one hop after the other): orders publishes to
    'order-events'; billing's callback writes the invoice and publishes to 'invoice-events'
    (its create span under the process span when ``in_context``, else a root: the callback
    ran with no active span), which the notifier receives through 'notifier-sub'. Gives each
    order's trace and its invoice's create span's."""
    orders = []
    for i in range(N):
        t = i * 1000
        root = _http(b, "orders", "/orders", t, 4)
        oid = [f"3{i}01"]
        (c1,) = _py_publish(b, "orders", "order-events", [root], [t + 1], t + 11, oid)
        (proc,) = _py_subscribe(b, "billing", "billing-sub", [c1], oid, t + 20.2 + 17, 16,
                                "invoices", in_context=in_context)
        iid = [f"3{i}02"]
        d = t + 37.2 + 0.6  # the callback's start
        (c2,) = _py_publish(b, "billing", "invoice-events", [proc if in_context else None],
                            [d + 6], d + 17, iid)
        _py_subscribe(b, "notifier", "notifier-sub", [c2], iid, d + 26.2 + 21, 5)
        orders.append((root.trace_id, c2.trace_id))
    return orders


_CHAIN_EDGES = {
    "service:orders->topic:order-events": ("publish", N),
    "topic:order-events->topic:billing-sub": ("route", N),
    "topic:billing-sub->service:billing": ("consume", N),
    "service:billing->external:postgresql": ("call", N),
    "service:billing->topic:invoice-events": ("publish", N),
    "topic:invoice-events->topic:notifier-sub": ("route", N),
    "topic:notifier-sub->service:notifier": ("consume", N),
}


def test_python_pubsub_callback_publishing_a_follow_up_event_is_one_flow():
    """google-cloud-pubsub 2.31.1+ runs the subscriber callback in its process span's context
    (PR #1429): billing's callback writes the invoice and publishes an 'invoice-events'
    message whose create span is a child of the process span; the notifier receives it
    through 'notifier-sub'. Every hop is joined by context and each order is one
    choreographed flow in one trace.
    Source: googleapis/python-pubsub issue #1428 / PR #1429,
    open_telemetry/subscribe_opentelemetry.py, open_telemetry/publish_message_wrapper.py."""
    b = SpanSet()
    _py_invoice_chain(b, in_context=True)
    a = _analysed_each(b.store(), _CHAIN_EDGES, ["topic:billing-sub->service:billing",
                                                 "topic:notifier-sub->service:notifier"])
    order = next(f for f in a.flows if f["name"].startswith("POST /orders"))
    assert (order["count"], order["style"], order["traces_per_flow"]) == \
        (N, "choreography", 1.0)


def test_python_pubsub_callback_without_context_starts_new_traces():
    """Before 2.31.1 (2.24-2.31.0) the process span was started and left
    (start_as_current_span exited when start_process_span returned): the callback ran with
    no active span (issue #1428), so billing's database write and its 'invoice-events'
    create span are roots of new traces. The graph is the same: the invoice publish is
    still billing's and the notifier's delivery is joined to it by context (its
    googclient_traceparent is the create span's); nothing was lost on the broker's side. The
    order's flow ends at billing's delivery; the invoice starts a flow of its own, entered
    at billing: the one anomaly, where the callback lost its message's context.
    Source: googleapis/python-pubsub issue #1428 (streaming_pull_manager._wrap_callback_errors
    before PR #1429), open_telemetry/subscribe_opentelemetry.py (start_process_span)."""
    b = SpanSet()
    orders = _py_invoice_chain(b, in_context=False)
    st = b.store()
    a = _analysed_each(st, _CHAIN_EDGES, ["topic:billing-sub->service:billing",
                                          "topic:notifier-sub->service:notifier"],
                       [("publish_without_context", "service:billing->topic:invoice-events", N)])
    order = next(f for f in a.flows if f["name"].startswith("POST /orders"))
    assert (order["count"], order["traces_per_flow"]) == (N, 1.0)
    invoice = next(f for f in a.flows if f["name"].startswith("invoice-events create"))
    assert (invoice["entry_service"], invoice["count"]) == ("billing", N)
    for order_trace, invoice_trace in orders:
        assert invoice_trace != order_trace
        assert invoice_trace not in flow_for_trace(st, order_trace)["trace_ids"]


def test_python_pubsub_nacked_message_is_delivered_again():
    """billing's callback fails and calls nack(): its process span ends ("nack called"), the
    dispatcher sends a "billing-sub nack" CLIENT RPC span (messaging.operation 'nack',
    code.function modify_ack_deadline; a root linking the subscribe span) and the subscribe
    span ends with result 'nacked'. The subscription has a dead-letter policy, so the
    subscribe spans carry the delivery attempt: Pub/Sub delivers the message again (attempt
    2, a new ack id), again a child of the create span, acked this time. Two deliveries of
    one message, the second a redelivery; the nack span is no delivery.
    Source: googleapis/python-pubsub subscriber/message.py (nack), open_telemetry/
    subscribe_opentelemetry.py (start_subscribe_span's delivery_attempt, start_nack_span)."""
    b = SpanSet()
    for i in range(N):
        t = i * 1000
        root = _http(b, "orders", "/orders", t, 4)
        mid = [f"41{i}09"]
        (c,) = _py_publish(b, "orders", "order-events", [root], [t + 1], t + 11, mid)
        _py_subscribe(b, "billing", "billing-sub", [c], mid, t + 38, 14, "invoices",
                      nack=True, attempt=1)
        _py_subscribe(b, "billing", "billing-sub", [c], mid, t + 190, 9, "invoices", attempt=2)
    a = _analysed_each(b.store(), {
        "service:orders->topic:order-events": ("publish", N),
        "topic:order-events->topic:billing-sub": ("route", N),
        "topic:billing-sub->service:billing": ("consume", 2 * N),
        "service:billing->external:postgresql": ("call", 2 * N),
    }, ["topic:billing-sub->service:billing"],
        anomalies=[("redelivery", "topic:billing-sub->service:billing", N)])
    order = next(f for f in a.flows if f["name"].startswith("POST /orders"))
    assert (order["count"], order["traces_per_flow"]) == (N, 1.0)


def test_python_pubsub_message_from_an_untraced_publisher():
    """A message published without the client's tracing (Cloud Scheduler, gcloud, a client
    with enable_open_telemetry_tracing off) carries no googclient_traceparent: the subscribe
    span is a root and the process span has no link. The delivery still comes from the
    subscription; it is joined to no producer, and with no producer span of that topic
    anywhere it is a consumer without a (traced) producer, not a broken context, and no
    route from an unknown topic.
    Source: googleapis/python-pubsub open_telemetry/subscribe_opentelemetry.py
    (start_subscribe_span: context=None when nothing was extracted; start_process_span: a link
    only to an extracted create span), open_telemetry/context_propagation.py."""
    b = SpanSet()
    for i in range(N):
        t = i * 60_000  # a job every minute
        mid = [f"52{i}88"]
        _py_subscribe(b, "reports", "nightly-sub", [None], mid, t + 3, 40, "reports")
    st = b.store()
    a = analyze(st)
    assert _edges(a) == {"topic:nightly-sub->service:reports": ("consume", N),
                         "service:reports->external:postgresql": ("call", N)}
    consume = a.edge("topic:nightly-sub->service:reports")
    assert consume["joined_by"] == {"context": 0, "message_id": 0, "none": N, "outside": 0}
    assert [(x["type"], x["where"], x["count"]) for x in a.anomalies] == \
        [("consumer_without_producer", "topic:nightly-sub->service:reports", N)]
    assert _systems(a) == {"topic:nightly-sub": "gcp_pubsub"}
    assert edge_detail(st, "topic:nightly-sub->service:reports")["count"] == N


# ------------------------------------------------------------------- Java google-cloud-pubsub
# Read in googleapis/java-pubsub, google-cloud-pubsub/src/main/java/com/google/cloud/pubsub/v1/:
# OpenTelemetryPubsubTracer.java (every span and attribute), PubsubMessageWrapper.java
# (googclient_ injection and extraction, endSubscribeProcessSpan setting the result),
# ModAckHandler.java / AckHandler.java (code.function, ack deadline, receipt modack),
# MessageDispatcher.java (processReceivedMessages: exactly-once messages wait for their
# receipt modack; deliverMessageTask starts the process span without making it current)
# and src/test/.../OpenTelemetryTest.java (testPublishSpansSuccess,
# testSubscribeSpansSuccess: the publish and RPC spans have no parent).
#  - "<topic id> create" PRODUCER in the caller's context: messaging.system gcp_pubsub,
#    messaging.destination.name, gcp.project_id, code.function "publish", messaging.operation
#    "create", messaging.message.body.size, the ordering key only when there is one;
#    messaging.message.id once the RPC returned. Children "publisher flow control",
#    "publisher batching".
#  - "<topic id> publish" CLIENT, no parent, code.function "publishCall", messaging.operation
#    "publish", messaging.batch.message_count, linking the create spans with the link
#    attribute messaging.operation = publish (each create span links back the same way).
#  - "<subscription id> subscribe" CONSUMER, parent the extracted create span: code.function
#    "onResponse", no operation, messaging.message.id, body size, ack id,
#    exactly_once_delivery, ordering key and delivery attempt when there are; ended when its
#    ack RPC returned, messaging.gcp_pubsub.result the handler's action ("ack").
#  - children "subscriber concurrency control", "subscriber scheduler" (ordering keys) and
#    "<subscription id> process" (messaging.system, a link to the create span).
#  - "<subscription id> modack" / "ack" / "nack" CLIENT, no parent: messaging.operation the
#    RPC's name, code.function sendModAckOperations / sendAckOperations, the batch count,
#    modack also messaging.gcp_pubsub.message.ack_deadline and is_receipt_modack; links to
#    the subscribe spans with messaging.operation = <rpc> on the link, and back.


def _java_ps(dest: str, **extra: Any) -> dict[str, Any]:
    return {"messaging.system": "gcp_pubsub", "messaging.destination.name": dest,
            "gcp.project_id": PROJECT, **extra}


def _java_publish(b: SpanSet, service: str, topic: str, parent: SpanRef, s: float,
                  rpc_t: float, mid: str, ordering_key: str) -> SpanRef:
    """One message published by ``parent`` with ``ordering_key``, sent alone in a publish
    RPC at ``rpc_t`` (messages of one ordering key go one batch after the other)."""
    end = rpc_t + 8.4
    c = b.span(service, f"{topic} create", kind="PRODUCER", parent=parent, start_ms=s,
               dur_ms=end - s,
               attrs=_java_ps(topic, **{"code.function": "publish",
                                        "messaging.operation": "create",
                                        "messaging.message.body.size": 96,
                                        "messaging.gcp_pubsub.message.ordering_key":
                                            ordering_key,
                                        "messaging.message.id": mid}))
    b.span(service, "publisher flow control", parent=c, start_ms=s + 0.02, dur_ms=0.01)
    b.span(service, "publisher batching", parent=c, start_ms=s + 0.05,
           dur_ms=rpc_t - s - 0.05)
    op = {"messaging.operation": "publish"}
    rpc = b.span(service, f"{topic} publish", kind="CLIENT", start_ms=rpc_t, dur_ms=8,
                 links=[(c, op)],
                 attrs=_java_ps(topic, **{"code.function": "publishCall",
                                          "messaging.operation": "publish",
                                          "messaging.batch.message_count": 1}))
    _span(b, c).links.append((rpc, op))
    return c


def _java_rpc(b: SpanSet, service: str, sub: str, op: str, subs: list[SpanRef], t: float,
              dur: float, **extra: Any) -> SpanRef:
    lk = {"messaging.operation": op}
    fn = "sendAckOperations" if op == "ack" else "sendModAckOperations"
    rpc = b.span(service, f"{sub} {op}", kind="CLIENT", start_ms=t, dur_ms=dur,
                 links=[(s, lk) for s in subs],
                 attrs=_java_ps(sub, **{"code.function": fn, "messaging.operation": op,
                                        "messaging.batch.message_count": len(subs),
                                        **extra}))
    for s in subs:
        _span(b, s).links.append((rpc, lk))
    return rpc


def test_java_pubsub_ordering_key_with_exactly_once_delivery():
    """Each order's two events (placed, then paid: two requests, the same ordering key, the
    order id) published by the Java client, each in a publish RPC of its own (one batch per
    ordering key at a time), and received by a Java subscriber of an exactly-once, ordered
    subscription: both messages in one pull response, a receipt modack each awaited before
    dispatch (exactly-once), the second message held by the ordering scheduler until the
    first was handled; ack RPCs carrying messaging.operation 'ack'/'modack' (not settle
    words of the conventions) on the span and on the links both ways. One publish per event,
    one delivery per event joined by context, no redelivery and no anomaly, one flow per
    request (the RPC traces join none).
    Source: googleapis/java-pubsub OpenTelemetryPubsubTracer.java, PubsubMessageWrapper.java,
    ModAckHandler.java, AckHandler.java, MessageDispatcher.java, OpenTelemetryTest.java."""
    b = SpanSet()
    for i in range(N):
        t = i * 1000
        key = f"order-7{i}"
        placed = _http(b, "orders", "/orders", t, 5)
        paid = _http(b, "orders", "/orders/{id}/pay", t + 60, 5)
        creates = [_java_publish(b, "orders", "order-events", placed, t + 1, t + 6, f"7{i}1",
                                 key),
                   _java_publish(b, "orders", "order-events", paid, t + 61, t + 66, f"7{i}2",
                                 key)]
        r = t + 66 + 8.4 + 22
        subs = [b.span("fulfillment", "fulfillment-sub subscribe", kind="CONSUMER", parent=c,
                       start_ms=r, dur_ms=0,  # (ended below)
                       attrs=_java_ps("fulfillment-sub", **{
                           "code.function": "onResponse", "messaging.message.id": f"7{i}{j}",
                           "messaging.message.body.size": 96,
                           "messaging.gcp_pubsub.message.ack_id": f"fs-7{i}{j}",
                           "messaging.gcp_pubsub.message.exactly_once_delivery": True,
                           "messaging.gcp_pubsub.message.ordering_key": key}))
                for j, c in zip((1, 2), creates)]
        _java_rpc(b, "fulfillment", "fulfillment-sub", "modack", subs, r + 0.2, 31,
                  **{"messaging.gcp_pubsub.message.ack_deadline": 60,
                     "messaging.gcp_pubsub.is_receipt_modack": True})
        d = r + 31.5  # dispatched once the receipt modack returned
        for j, (s, c) in enumerate(zip(subs, creates)):
            start = d + j * 13  # the second waits for the first (ordering key)
            b.span("fulfillment", "subscriber concurrency control", parent=s, start_ms=d,
                   dur_ms=0.05)
            b.span("fulfillment", "subscriber scheduler", parent=s, start_ms=d + 0.1,
                   dur_ms=start - d - 0.1 + 0.05)
            b.span("fulfillment", "fulfillment-sub process", parent=s, start_ms=start + 0.2,
                   dur_ms=12, links=[c], attrs={"messaging.system": "gcp_pubsub"})
            _span(b, s).attrs["messaging.gcp_pubsub.result"] = "ack"
        t_ack = d + 13 + 12.2 + 1
        _java_rpc(b, "fulfillment", "fulfillment-sub", "ack", subs, t_ack, 24)
        for s in subs:
            _span(b, s).end_ns = b.ms(t_ack + 24.3)
    st = b.store()
    a = _analysed_each(st, {
        "service:orders->topic:order-events": ("publish", 2 * N),
        "topic:order-events->topic:fulfillment-sub": ("route", 2 * N),
        "topic:fulfillment-sub->service:fulfillment": ("consume", 2 * N),
    }, ["topic:fulfillment-sub->service:fulfillment"])
    assert _systems(a) == {"topic:order-events": "gcp_pubsub",
                           "topic:fulfillment-sub": "gcp_pubsub"}
    consume = a.edge("topic:fulfillment-sub->service:fulfillment")
    assert (consume["message_count"], consume["batch_deliveries"]) == (2 * N, 0)
    requests = sorted((f["name"], f["count"], f["traces_per_flow"]) for f in a.flows
                      if f["name"].startswith("POST "))
    # (a flow type is its entry service and hops: placing and paying an order take the same
    # ones, so they are one type, named by its commonest entry; each instance is one trace,
    # the modack RPC's trace linking both requests' messages joins neither)
    assert requests == [("POST /orders (orders)", 2 * N, 1.0)]


# ----------------------------------------------- Node @google-cloud/pubsub, first generation
# The first generation of the Node client's tracing (enableOpenTelemetryTracing, from 2.x
# until the telemetry-tracing.ts rewrite in 4.x); read in googleapis/nodejs-pubsub:
# src/opentelemetry-tracing.ts (createSpan: the given parent, else the active context),
# src/publisher/index.ts
# (constructSpan, doPublishMessage), src/subscriber.ts (_constructSpan, _onData) and issue
# #1389 (the handler does not run in the subscriber span's context).
#  - publishMessage: "<topic full name> send" PRODUCER in the caller's context, ended as soon
#    as the message is queued for its batch: messaging.system 'pubsub', messaging.operation
#    'send', messaging.destination the topic's resource name (projects/<p>/topics/<t>),
#    messaging.destination_kind 'topic', messaging.temp_destination false,
#    messaging.protocol 'pubsub', messaging.message_payload_size_bytes; no message id (the
#    server has not given one yet). Its span context goes into the message as JSON
#    (googclient_OpenTelemetrySpanContext). No span for the batch's RPC.
#  - on receipt, only when that attribute is there: "<subscription full name> process"
#    CONSUMER, child of the send span, ended right away (before the handler runs):
#    messaging.system 'pubsub', messaging.operation 'process', messaging.destination the
#    subscription's resource name, messaging.destination_kind 'topic', messaging.message_id,
#    messaging.protocol, ackId, deliveryAttempt, messaging.pubsub.received_at,
#    messaging.pubsub.acknowlege_id, messaging.pubsub.delivery_attempt. No ack spans.


def test_node_pubsub_first_generation_names_topics_by_resource_name():
    """@google-cloud/pubsub, first generation: an Express handler publishes an order; the send span
    names the topic by its resource name, projects/shop-prod/topics/order-events (span name
    "projects/shop-prod/topics/order-events send"), with messaging.system 'pubsub' and the
    pre-1.20 attribute names; billing's subscriber span, a child of it, names the
    subscription by its resource name. A Pub/Sub resource name names its topic or
    subscription: the nodes are 'order-events' and 'billing-sub' (the names every newer
    client gives them), the delivery is routed from the topic to the subscription and joined
    by context, and the handler's database write (no active span: issue #1389) is still
    billing's call.
    Source: googleapis/nodejs-pubsub src/opentelemetry-tracing.ts, src/publisher/index.ts
    (constructSpan), src/subscriber.ts (_constructSpan, _onData), issue #1389."""
    b = SpanSet()
    topic = f"projects/{PROJECT}/topics/order-events"
    sub = f"projects/{PROJECT}/subscriptions/billing-sub"
    for i in range(N):
        t = i * 1000
        root = b.span("orders", "POST /orders", kind="SERVER", start_ms=t, dur_ms=4,
                      attrs={"http.method": "POST", "http.target": "/orders",
                             "http.route": "/orders", "http.status_code": 202})
        send = b.span("orders", f"{topic} send", kind="PRODUCER", parent=root,
                      start_ms=t + 1, dur_ms=0.3,
                      attrs={"messaging.temp_destination": False,
                             "messaging.system": "pubsub", "messaging.operation": "send",
                             "messaging.destination": topic,
                             "messaging.destination_kind": "topic",
                             "messaging.protocol": "pubsub",
                             "messaging.message_payload_size_bytes": 143})
        r = t + 1 + 10 + 9 + 24  # batched 10 ms, a 9 ms RPC, 24 ms to the subscriber
        b.span("billing", f"{sub} process", kind="CONSUMER", parent=send, start_ms=r,
               dur_ms=0.2,
               attrs={"ackId": f"ack-{i}", "deliveryAttempt": 0,
                      "messaging.system": "pubsub", "messaging.operation": "process",
                      "messaging.destination": sub, "messaging.destination_kind": "topic",
                      "messaging.message_id": f"88{i}1", "messaging.protocol": "pubsub",
                      "messaging.message_payload_size_bytes": 143,
                      "messaging.pubsub.received_at": 1_700_000_000_000 + t,
                      "messaging.pubsub.acknowlege_id": f"ack-{i}",
                      "messaging.pubsub.delivery_attempt": 0})
        _db(b, "billing", None, r + 2, "invoices")
    st = b.store()
    a = _analysed_each(st, {
        "service:orders->topic:order-events": ("publish", N),
        "topic:order-events->topic:billing-sub": ("route", N),
        "topic:billing-sub->service:billing": ("consume", N),
        "service:billing->external:postgresql": ("call", N),
    }, ["topic:billing-sub->service:billing"])
    assert _systems(a) == {"topic:order-events": "pubsub", "topic:billing-sub": "pubsub"}
