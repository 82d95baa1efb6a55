"""Span shapes of Node.js event-driven libraries, fourth round, each read from the library's
source: Moleculer's built-in tracer (actions and balanced events) as its Jaeger and Zipkin
exporters send it, @opentelemetry/instrumentation-nats (nats.js 2.x: publish, queue groups,
request/reply, async-iterator subscriptions, wildcards), @azure/event-hubs 5.x on the
preview @azure/core-tracing (legacy attributes, the unlinked sendBatch of an array), the
third-party opentelemetry-instrumentation-rhea (AMQP 1.0) and @opentelemetry/
instrumentation-aws-sdk's Step Functions extension. Each test builds exactly the spans the
library exports for a small scenario and checks what the analyzer makes of them."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from tests.analysis_checks import analysed_each as _analysed
from tests.analysis_checks import systems_of as _systems
from tests.builders import SpanRef, SpanSet
from tests.test_analyzer_node_messaging import _pg

N = 3


def _flows(a) -> list[tuple[str, int, float]]:
    """(entry service, count, traces per flow) of every flow with a hop, sorted."""
    return sorted((f["entry_service"], f["count"], f["traces_per_flow"]) for f in a.flows
                  if f["hops"])


def _http_root(b: SpanSet, service: str, method: str, route: str, t: float, dur: float,
               **kw: Any) -> SpanRef:
    """@opentelemetry/instrumentation-http's SERVER span (old attribute names)."""
    return b.span(service, f"{method} {route}", kind="SERVER", start_ms=t, dur_ms=dur,
                  attrs={"http.method": method, "http.target": route, "http.route": route,
                         "http.status_code": 200}, **kw)


# ---------------------------------------------------------------------------- Moleculer
# Read in moleculerjs/moleculer (0.14): src/middlewares/tracing.js (tracingLocalAction-
# Middleware: a span "action '<action>'" with id ctx.id, parent ctx.parentID, trace
# ctx.requestID, tags callingLevel, action.{name,rawName}, remoteCall, callerNodeID, nodeID,
# options.{timeout,retries}, params (all by default), fromCache at the end;
# tracingLocalEventMiddleware, on only with tracing.events (src/tracing/tracer.js: events
# false by default): a span "event '<eventName>' in '<service>'" of type "event", tags
# event.{name,group}, eventName, eventType ("emit", "broadcast", "broadcastLocal"),
# callerNodeID, callingLevel, remoteCall, nodeID, params), src/context.js (Context.create:
# a child context's parentID is the parent context's span id, its requestID the parent's;
# ctx.emit/ctx.broadcast hand the calling context as parentCtx, so an event handler's span
# is a child of the emitting action's span; the emit itself has no span; the first
# context's id is the request id, so a root span's id is its trace id), src/tracing/
# exporters/base.js (flattenTags: nested tags become dotted keys; Zipkin's all strings),
# jaeger.js (jaeger-client; every span tagged span.kind "server", "span.type" and
# "service"; ids: the first 16 hex digits of the context's UUID, a 64-bit trace id) and
# zipkin.js (v2 JSON: kind "CONSUMER" for every span, localEndpoint and remoteEndpoint the
# service's fullName, tags "service", "span.type" and the flattened tags, 64-bit ids).
# moleculerjs/moleculer-web src/index.js: the gateway's private "rest" action is traced
# with spanName "<METHOD> <url>" and the tags params.req.url / params.req.method.
# Through the OpenTelemetry Collector's jaeger and zipkin receivers (span.kind tag ->
# kind, remoteEndpoint.serviceName -> peer.service, a 64-bit trace id padded to 128 bits).
# Scenario: POST /api/orders on the gateway calls orders.create, which emits the balanced
# event order.created; billing and shipping (other nodes) each handle it in their group;
# billing's handler calls payments.charge.
_NODES = {"api": "api-7d9f-1", "orders": "orders-5c2b-1", "billing": "billing-84aa-1",
          "shipping": "shipping-1f3e-1", "payments": "payments-9b07-1"}


def _mol_tags(exporter: str, service: str, span_type: str, tags: dict[str, Any]
              ) -> dict[str, Any]:
    """The tags as the exporter sends them (and the receiver stores them)."""
    out = {"span.type": span_type, "service": service, **tags}
    if exporter == "zipkin":
        out = {k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in out.items()}
        out["peer.service"] = service  # (remoteEndpoint.serviceName)
    return out


def _mol_span(b: SpanSet, exporter: str, service: str, name: str, span_type: str,
              tags: dict[str, Any], **kw: Any) -> SpanRef:
    kind = "SERVER" if exporter == "jaeger" else "CONSUMER"
    return b.span(service, name, kind=kind, attrs=_mol_tags(exporter, service, span_type, tags),
                  **kw)


def _moleculer(b: SpanSet, exporter: str) -> None:
    for i in range(N):
        t = i * 1000
        rid = b.new_trace()[:16]  # the first context's id: the request (trace) id
        root = _mol_span(b, exporter, "api", "POST /api/orders", "action", {
            "callingLevel": 1, "action.name": "api.rest", "action.rawName": "rest",
            "remoteCall": False, "callerNodeID": _NODES["api"], "nodeID": _NODES["api"],
            "options.timeout": 0, "params.req.url": "/api/orders",
            "params.req.method": "POST", "fromCache": False,
            **({"sampler.type": "const", "sampler.param": True} if exporter == "jaeger"
               else {})}, trace="0" * 16 + rid, span_id=rid, start_ms=t, dur_ms=40)
        create = _mol_span(b, exporter, "orders", "action 'orders.create'", "action", {
            "callingLevel": 2, "action.name": "orders.create", "action.rawName": "create",
            "remoteCall": True, "callerNodeID": _NODES["api"], "nodeID": _NODES["orders"],
            "options.timeout": 10000, "params.customerId": f"c-{i}", "params.total": 42.5,
            "fromCache": False}, parent=root, start_ms=t + 3, dur_ms=33)
        for j, (svc, dur) in enumerate((("billing", 14), ("shipping", 6))):
            ev = _mol_span(b, exporter, svc, f"event 'order.created' in '{svc}'", "event", {
                "event.name": "order.created", "event.group": svc,
                "eventName": "order.created", "eventType": "emit",
                "callerNodeID": _NODES["orders"], "callingLevel": 3, "remoteCall": True,
                "nodeID": _NODES[svc], "params.orderId": f"o-{i}"},
                parent=create, start_ms=t + 34 + j, dur_ms=dur)
            if svc == "billing":
                _mol_span(b, exporter, "payments", "action 'payments.charge'", "action", {
                    "callingLevel": 4, "action.name": "payments.charge",
                    "action.rawName": "charge", "remoteCall": True,
                    "callerNodeID": _NODES["billing"], "nodeID": _NODES["payments"],
                    "options.timeout": 10000, "params.orderId": f"o-{i}",
                    "fromCache": False}, parent=ev, start_ms=t + 37, dur_ms=8)


_MOLECULER_EDGES = {
    "service:api->service:orders": ("call", N),
    "service:orders->service:billing": ("call", N),
    "service:orders->service:shipping": ("call", N),
    "service:billing->service:payments": ("call", N),
}


def test_moleculer_jaeger_exporter_actions_and_a_balanced_event():
    """Moleculer's Jaeger exporter: every span, action or event handler, is a SERVER span
    of the service that ran it, a child of the caller's span (the event handlers of the
    emitting action's, though the emit is fire-and-forget: both handlers start as the
    action ends and outlive it), with Moleculer's own tags and no messaging or RPC
    attribute. Nothing names a topic: the gateway calls orders, the event reaches billing
    and shipping from orders (context carried across services, as Hangfire's jobs are
    read), billing calls payments; one request, one trace, one flow.
    Source: moleculerjs/moleculer src/middlewares/tracing.js, src/context.js,
    src/tracing/exporters/jaeger.js; moleculerjs/moleculer-web src/index.js."""
    b = SpanSet()
    _moleculer(b, "jaeger")
    a = _analysed(b.store(), _MOLECULER_EDGES, [])
    assert _systems(a) == {}
    assert _flows(a) == [("api", N, 1.0)]


# Not supported (left alone, see the session note): Moleculer's Zipkin exporter gives every
# span kind CONSUMER (src/tracing/exporters/zipkin.js) with only Moleculer's own tags, so
# each action reads as a delivery from an unnamed destination; telling those from real
# deliveries without messaging attributes needs a Moleculer rule.


# ------------------------------------------------------------------------------- nats.js
# Read in open-telemetry/opentelemetry-js-contrib packages/instrumentation-nats (nats >=2 <3;
# src/instrumentation.ts, src/semconv.ts, test/nats.test.ts, README.md). It wraps connect()
# and then the connection's publish, request and subscribe:
#  - publish: "send <subject>" PRODUCER in the active context, ended on return (status OK);
#    messaging.system nats, messaging.destination.name the subject,
#    messaging.operation.type "publish" (the 1.26-era value), messaging.operation.name
#    "publish", server.address / server.port from the server's INFO (nc.info.host: the
#    server's own listen host, "0.0.0.0" by default). A publish with a reply subject is not
#    traced.
#  - request: the same span with operation.name "request", ended when the reply arrived (the
#    reply itself goes through the connection's internal mux subscription: no span).
#  - subscribe with a callback: per message a "process <msg.subject>" CONSUMER span whose
#    parent is the context extracted from the message's headers (ROOT_CONTEXT otherwise),
#    operation.type/name "process", messaging.consumer.group.name the queue group,
#    messaging.message.conversation_id the reply subject (if any); the callback runs in its
#    context and the span ends when the callback returns (an async callback's awaited work
#    outlives it).
#  - msg.respond(): "send <reply subject>" PRODUCER in the active context (the process
#    span's), messaging.destination.temporary true, conversation_id the reply subject,
#    operation.name "respond".
#  - subscribe as an async iterator: the process span is started and ended in next(), no
#    context for the loop body ("a known limitation").
#  - a wildcard subscription's process span names the concrete subject of the message.
NATS = {"messaging.system": "nats", "server.address": "0.0.0.0", "server.port": 4222}


def _nats_send(b: SpanSet, service: str, subject: str, parent: SpanRef, t: float,
               dur: float = 0.08, op_name: str = "publish", **extra: Any) -> SpanRef:
    return b.span(service, f"send {subject}", kind="PRODUCER", parent=parent, start_ms=t,
                  dur_ms=dur, status="OK",
                  attrs={**NATS, "messaging.destination.name": subject,
                         "messaging.operation.type": "publish",
                         "messaging.operation.name": op_name, **extra})


def _nats_process(b: SpanSet, service: str, subject: str, parent: SpanRef | None, t: float,
                  dur: float = 0.25, **extra: Any) -> SpanRef:
    return b.span(service, f"process {subject}", kind="CONSUMER", parent=parent, start_ms=t,
                  dur_ms=dur, status="OK",
                  attrs={**NATS, "messaging.destination.name": subject,
                         "messaging.operation.type": "process",
                         "messaging.operation.name": "process", **extra})


def test_nats_js_publish_to_a_queue_group_and_a_plain_subscriber():
    """nc.publish('orders.created') from an HTTP handler; billing runs two instances in
    the queue group 'billing' (one of them gets each message), audit a plain
    subscription; both callbacks are async, so their process spans end when the callback
    returns its promise, before the awaited INSERT does. One publish and one delivery per
    service per order, joined by the parent context; a delivery lasts until its work is
    done (0.25 ms span, 6 ms INSERT under it from 0.1 ms on); queue time from the end of
    the publish. Source: open-telemetry/opentelemetry-js-contrib packages/instrumentation-
    nats/src/instrumentation.ts (_getPublishPatch, _getSubscribePatch, _startConsumerSpan),
    test/nats.test.ts."""
    b = SpanSet()
    for i in range(N):
        t = i * 400
        root = _http_root(b, "orders", "POST", "/orders", t, 12)
        pub = _nats_send(b, "orders", "orders.created", root, t + 5)
        bill = _nats_process(b, "billing", "orders.created", pub, t + 6.08,
                             **{"messaging.consumer.group.name": "billing"})
        b.span("billing", "pg.query:INSERT invoices", kind="CLIENT", parent=bill,
               start_ms=t + 6.18, dur_ms=6,
               attrs={"db.system": "postgresql", "db.name": "shop",
                      "db.statement": "INSERT INTO invoices VALUES ($1, $2)",
                      "net.peer.name": "postgres", "net.peer.port": 5432})
        _nats_process(b, "audit", "orders.created", pub, t + 7.08, dur=0.1)
    st = b.store()
    a = _analysed(st, {
        "service:orders->topic:orders.created": ("publish", N),
        "topic:orders.created->service:billing": ("consume", N),
        "topic:orders.created->service:audit": ("consume", N),
        "service:billing->external:postgresql": ("call", N),
    }, ["topic:orders.created->service:billing", "topic:orders.created->service:audit"])
    assert _systems(a) == {"topic:orders.created": "nats"}
    bill = a.edge("topic:orders.created->service:billing")
    assert (bill["p50_ms"], bill["queue_p50_ms"]) == (6.1, 1.0)
    assert a.edge("topic:orders.created->service:audit")["queue_p50_ms"] == 2.0
    assert _flows(a) == [("orders", N, 1.0)]


def test_nats_js_request_reply_answered_on_an_inbox_nobody_traces():
    """nc.request('prices.get') from the storefront: a PRODUCER "send prices.get"
    (operation.name request) lasting until the reply came; pricing's callback, in its
    "process prices.get" span (conversation_id the reply inbox), answers with
    msg.respond(): a PRODUCER "send _INBOX.<nuid>.<n>" to a temporary destination, a
    child of the process span. The requester receives the reply through the connection's
    mux subscription, which has no span: the reply is published and, by design, never
    seen consumed; that is no lost message (the request span ending with the reply says it
    arrived). One flow per request, one trace.
    Source: open-telemetry/opentelemetry-js-contrib packages/instrumentation-nats/src/
    instrumentation.ts (_getRequestPatch, _getRespondPatch), test/nats.test.ts
    ("should create spans for request and respond": at least 3 spans)."""
    b = SpanSet()
    for i in range(N):
        t = i * 300
        inbox = f"_INBOX.DL4XB3J4ZV4ZQW0UOV8FTZ.{i + 1}"
        root = _http_root(b, "storefront", "GET", "/products/:id", t, 14)
        req = _nats_send(b, "storefront", "prices.get", root, t + 3, dur=6,
                         op_name="request")
        proc = _nats_process(b, "pricing", "prices.get", req, t + 4, dur=3,
                             **{"messaging.message.conversation_id": inbox})
        b.span("pricing", "GET", kind="CLIENT", parent=proc, start_ms=t + 4.3, dur_ms=2,
               attrs={"db.system": "redis", "db.statement": f"GET price:{i}",
                      "net.peer.name": "redis", "net.peer.port": 6379})
        _nats_send(b, "pricing", inbox, proc, t + 6.5, dur=0.05, op_name="respond",
                   **{"messaging.destination.temporary": True,
                      "messaging.message.conversation_id": inbox})
    st = b.store()
    a = _analysed(st, {
        "service:storefront->topic:prices.get": ("publish", N),
        "topic:prices.get->service:pricing": ("consume", N),
        "service:pricing->topic:(temporary:nats)": ("publish", N),
        "service:pricing->external:redis": ("call", N),
    }, ["topic:prices.get->service:pricing"])
    assert _systems(a) == {"topic:prices.get": "nats", "topic:(temporary:nats)": "nats"}
    assert _flows(a) == [("storefront", N, 1.0)]


def test_nats_js_async_iterator_over_a_wildcard_subscription():
    """fulfilment iterates `for await (const m of nc.subscribe('orders.>'))`: each
    message's "process <subject>" span names the concrete subject (orders.created.eu,
    orders.cancelled.eu), is a child of its publish, and is started and ended inside the
    iterator's next(); the loop body has no context, so its INSERT is a root span of a
    trace of its own. Two topics, one delivery per message joined by context; the INSERTs
    are calls of fulfilment's, no deliveries.
    Source: open-telemetry/opentelemetry-js-contrib packages/instrumentation-nats/src/
    instrumentation.ts (the async iterator branch of _getSubscribePatch),
    test/nats.test.ts (wildcard and async iterator subscriptions)."""
    b = SpanSet()
    for i in range(N):
        t = i * 500
        for k, subject in enumerate(("orders.created.eu", "orders.cancelled.eu")):
            s = t + 200 * k
            root = _http_root(b, "orders", "POST" if k == 0 else "DELETE", "/orders", s, 10)
            pub = _nats_send(b, "orders", subject, root, s + 4)
            _nats_process(b, "fulfilment", subject, pub, s + 5, dur=0.05)
            _pg(b, "fulfilment", None, s + 5.2, "shipments")  # (no context in the loop)
    st = b.store()
    a = _analysed(st, {
        "service:orders->topic:orders.created.eu": ("publish", N),
        "service:orders->topic:orders.cancelled.eu": ("publish", N),
        "topic:orders.created.eu->service:fulfilment": ("consume", N),
        "topic:orders.cancelled.eu->service:fulfilment": ("consume", N),
        "service:fulfilment->external:postgresql": ("call", 2 * N),
    }, ["topic:orders.created.eu->service:fulfilment",
        "topic:orders.cancelled.eu->service:fulfilment"])
    assert _systems(a) == {"topic:orders.created.eu": "nats",
                           "topic:orders.cancelled.eu": "nats"}
    # each order's flow is its request's trace (one flow type per subject); the INSERTs are
    # traces of fulfilment's own
    assert _flows(a) == [("fulfilment", 2 * N, 1.0), ("orders", N, 1.0), ("orders", N, 1.0)]


# ---------------------------------------------------------------- @azure/event-hubs 5.3-5.6
# Read in Azure/azure-sdk-for-js sdk/eventhub/event-hubs (the versions on the preview
# @azure/core-tracing, before tracingClient): src/diagnostics/tracing.ts (createEventHubSpan:
# core-tracing's createSpanFunction({namespace: "Microsoft.EventHub", packagePrefix:
# "Azure.EventHubs"}) names a span "Azure.EventHubs.<operation>" and sets az.namespace;
# the span gets message_bus.destination (the hub) and peer.address (the namespace host);
# createMessageSpan: "Azure.EventHubs.message", PRODUCER), src/eventHubProducerClient.ts
# (sendBatch: an EventDataBatch's message span contexts are linked from the CLIENT
# "Azure.EventHubs.send"; for an EventData[] array a message span is made per event in the
# caller's context and *not linked*: "since these message spans are created from same
# context as the send span, these message spans don't need to be linked"; status OK / the
# error), src/partitionPump.ts (createProcessingSpan: a CONSUMER "Azure.EventHubs.process"
# around processEvents, linking every event's Diagnostic-Id context with enqueuedTime on
# the link, same three attributes; status OK) and CHANGELOG.md (5.3.0: message spans get
# message_bus.destination and peer.address; peer.address without the sb:// scheme). No
# messaging.* attribute at all.
EH_HOST = "telemetry-ns.servicebus.windows.net"
EH_LEGACY = {"az.namespace": "Microsoft.EventHub", "message_bus.destination": "telemetry",
             "peer.address": EH_HOST}
ENQUEUED = 1_700_000_000_000


# Not supported (left alone): @azure/event-hubs' preview tracing, sendBatch() of an array
# (sdk/eventhub/event-hubs/src/diagnostics/tracing.ts): the send span links none of the
# message spans beside it, so it counts as a third, unconsumed message.


# --------------------------------------------------------- opentelemetry-instrumentation-rhea
# Read in bartoval/opentelemetry-instrumentation-rhea (npm opentelemetry-instrumentation-
# rhea 0.1; rhea >=1 <4, and so rhea-promise and the Azure SDKs over it): src/
# instrumentation.ts (Sender.prototype.send: a PRODUCER "<address> publish" in the active
# context, ended when send returns, its context injected as traceparent into the message's
# application_properties; Receiver.prototype.dispatch('message'): a CONSUMER "<address>
# process" around the dispatch, a root span linking the extracted context by default
# (useLinksForConsume; the README and test/instrumentation.test.ts "should use links by
# default"), the parent otherwise), src/utils.ts (the address: a receiver's source, a
# sender's target; network.peer.address / network.peer.port from the connection options,
# messaging.client.id the container id, messaging.message.body.size), README.md.
# Attributes: messaging.system "amqp", messaging.destination.name, messaging.message.id and
# messaging.message.conversation_id from message_id / correlation_id. The consumer span's
# operation is "receive" in one published source version (src/instrumentation.ts) and
# "process" in the tests and README of another.
@pytest.mark.parametrize("consume_op", ["receive", "process"])
def test_rhea_amqp_1_0_publish_and_a_linked_root_consumer(consume_op: str):
    """An Express handler sends an order to the Artemis queue 'orders' with rhea
    (message_id set): "orders publish" PRODUCER under the request. billing's receiver
    dispatches it in a root "orders process" CONSUMER linking the publish (the default);
    the async handler's INSERT outlives it. One publish and one delivery per order joined
    by the link (and the shared message id), two traces per order.
    Source: bartoval/opentelemetry-instrumentation-rhea src/instrumentation.ts,
    src/utils.ts, test/instrumentation.test.ts, README.md."""
    conn = {"network.peer.address": "artemis", "network.peer.port": 5672}
    b = SpanSet()
    for i in range(N):
        t = i * 300
        mid = f"ord-{i}"
        root = _http_root(b, "orders", "POST", "/orders", t, 10)
        pub = b.span("orders", "orders publish", kind="PRODUCER", parent=root,
                     start_ms=t + 4, dur_ms=0.3,
                     attrs={"messaging.system": "amqp", "messaging.operation.name": "publish",
                            "messaging.operation.type": "publish",
                            "messaging.destination.name": "orders",
                            "messaging.message.id": mid, "messaging.message.body.size": 83,
                            "messaging.client.id": str(uuid.UUID(int=7 + i)), **conn})
        proc = b.span("billing", "orders process", kind="CONSUMER", start_ms=t + 9,
                      dur_ms=0.4, links=[pub],
                      attrs={"messaging.system": "amqp",
                             "messaging.operation.name": consume_op,
                             "messaging.operation.type": consume_op,
                             "messaging.destination.name": "orders",
                             "messaging.message.id": mid, "messaging.message.body.size": 83,
                             "messaging.client.id": str(uuid.UUID(int=99)), **conn})
        _pg(b, "billing", proc, t + 9.3, "invoices")
    st = b.store()
    a = _analysed(st, {
        "service:orders->topic:orders": ("publish", N),
        "topic:orders->service:billing": ("consume", N),
        "service:billing->external:postgresql": ("call", N),
    }, ["topic:orders->service:billing"])
    assert _systems(a) == {"topic:orders": "amqp"}
    assert a.edge("topic:orders->service:billing")["queue_p50_ms"] == 4.7
    assert _flows(a) == [("orders", N, 2.0)]


# ------------------------------------------------- instrumentation-aws-sdk: Step Functions
# Read in open-telemetry/opentelemetry-js-contrib packages/instrumentation-aws-sdk/src/
# services/stepfunctions.ts (StepFunctionsServiceExtension: a CLIENT span with
# aws.step_functions.state_machine.arn / aws.step_functions.activity.arn from the command's
# input; nothing injected: Step Functions carries no context), ServicesExtensions.ts and
# aws-sdk.ts/utils.ts (the span "<service>.<command>", rpc.system aws-api, rpc.service,
# rpc.method, cloud.region, then aws.request.id and http.status_code). With the http
# instrumentation on, the SDK's HTTPS request to the regional endpoint is a CLIENT child.
REGION = "eu-west-1"
SFN_HOST = f"states.{REGION}.amazonaws.com"


def _sfn_call(b: SpanSet, service: str, parent: SpanRef | None, method: str, t: float,
              dur: float, arn_key: str, arn: str, i: int) -> SpanRef:
    call = b.span(service, f"SFN.{method}", kind="CLIENT", parent=parent, start_ms=t,
                  dur_ms=dur,
                  attrs={"rpc.system": "aws-api", "rpc.service": "SFN", "rpc.method": method,
                         "cloud.region": REGION, arn_key: arn,
                         "aws.request.id": f"{method}-{i}", "http.status_code": 200})
    b.span(service, "POST", kind="CLIENT", parent=call, start_ms=t + 0.5, dur_ms=dur - 1,
           attrs={"http.url": f"https://{SFN_HOST}/", "http.method": "POST",
                  "http.target": "/", "net.peer.name": SFN_HOST, "net.peer.port": 443,
                  "http.status_code": 200, "http.flavor": "1.1"})
    return call


def test_aws_sdk_step_functions_execution_and_an_activity_worker():
    """orders starts a state machine execution per order (SFN.StartExecution, the state
    machine's ARN); a worker polls the machine's activity (SFN.GetActivityTask, a 1.2 s
    long poll in a root span of its own loop, the activity's ARN) and reports
    SFN.SendTaskSuccess. Step Functions is an RPC API carrying no context: calls of both
    services to its endpoint, no topic, no delivery, nothing lost.
    Source: open-telemetry/opentelemetry-js-contrib packages/instrumentation-aws-sdk/src/
    services/stepfunctions.ts, ServicesExtensions.ts."""
    machine = f"arn:aws:states:{REGION}:123456789012:stateMachine:order-fulfilment"
    activity = f"arn:aws:states:{REGION}:123456789012:activity:pick-and-pack"
    b = SpanSet()
    for i in range(N):
        t = i * 2000
        root = _http_root(b, "orders", "POST", "/orders", t, 60)
        _sfn_call(b, "orders", root, "StartExecution", t + 10, 40,
                  "aws.step_functions.state_machine.arn", machine, i)
        _sfn_call(b, "warehouse", None, "GetActivityTask", t + 100, 1200,
                  "aws.step_functions.activity.arn", activity, i)
        job = b.span("warehouse", "pick-and-pack", start_ms=t + 1301, dur_ms=30)
        _sfn_call(b, "warehouse", job, "SendTaskSuccess", t + 1320, 10,
                  "aws.step_functions.activity.arn", activity, i)
    st = b.store()
    a = _analysed(st, {
        f"service:orders->external:{SFN_HOST}": ("call", N),
        f"service:warehouse->external:{SFN_HOST}": ("call", 2 * N),
    }, [])
    assert _systems(a) == {}
    # (nothing joins the execution to the worker: each call is a flow of its own trace)
    assert _flows(a) == [("orders", N, 1.0), ("warehouse", 2 * N, 1.0)]
