"""Span shapes of Node.js cloud messaging instrumentation, each read from the library's source
and its own tests: @opentelemetry/instrumentation-aws-sdk (SQS and SNS) and the built-in
OpenTelemetry tracing of @google-cloud/pubsub. Each test builds exactly the spans the library
exports for a small scenario, in every generation the library has shipped, and checks what
the analyzer makes of them."""

from __future__ import annotations

from typing import Any

import pytest

from analyzer import analyze, edge_detail, flow_for_trace
from tests.analysis_checks import analysed_each as _analysed
from tests.analysis_checks import systems_of as _systems
from tests.builders import SpanRef, SpanSet
from tests.test_analyzer_node_messaging import _pg

N = 3

# ------------------------------------------------------------------- instrumentation-aws-sdk
# Read in open-telemetry/opentelemetry-js-contrib: plugins/node/opentelemetry-instrumentation-
# aws-sdk/src/ and (since the move) packages/instrumentation-aws-sdk/src/: aws-sdk.ts (the
# span: "<spanName>" of the service extension, else "<service>.<command>", in the caller's
# active context; utils.ts adds rpc.system aws-api, rpc.service, rpc.method and the region,
# aws-sdk.ts aws.request.id and http.status_code from the response), services/sqs.ts,
# services/sns.ts, services/MessageAttributes.ts, and packages/propagation-utils/src/
# pubsub-propagation.ts (the per-message process spans of the older generation).
#  "old" (up to 0.57): SendMessage / SendMessageBatch a PRODUCER "<queue> send" (one span for
#        the whole batch; SendMessage also gets messaging.message_id), ReceiveMessage a
#        CONSUMER "<queue> receive" (messaging.operation receive), all with messaging.system
#        'aws.sqs', messaging.destination (the queue's name, the URL's last segment),
#        messaging.destination_kind 'queue' and messaging.url. The received messages array
#        is patched: when the app iterates it (forEach/map), each message gets a CONSUMER
#        "<queue> process" span (messaging.operation process, messaging.message_id) whose
#        parent is the receive span and which links to the context extracted from the
#        message's attributes (the send span); it ends when the callback (its promise)
#        returns. Region: aws.region (cloud.region since 0.54).
#  "new" (0.58+, "SQS receive: use span links instead of processing spans", PR #2345):
#        messaging.system 'aws_sqs', messaging.destination.name, url.full (no kind, no
#        messaging.url), messaging.message.id on SendMessage; ReceiveMessage sets
#        messaging.operation.type receive and messaging.batch.message_count, and links to each
#        received message's context with messaging.message.id on the link. No process spans.
# Both inject the current context (the send span's) into every message's MessageAttributes
# (traceparent), the same context for every entry of a batch.
REGION = "eu-west-1"
ACCOUNT = "123456789012"
SQS_HOST = f"https://sqs.{REGION}.amazonaws.com"
AWS_SDK = ("old", "new")


def _sqs_attrs(gen: str, queue: str, method: str) -> dict[str, Any]:
    url = f"{SQS_HOST}/{ACCOUNT}/{queue}"
    a: dict[str, Any] = {"rpc.system": "aws-api", "rpc.service": "SQS", "rpc.method": method,
                         "http.status_code": 200}
    if gen == "old":
        a.update({"aws.region": REGION, "messaging.system": "aws.sqs",
                  "messaging.destination_kind": "queue", "messaging.destination": queue,
                  "messaging.url": url})
    else:
        a.update({"cloud.region": REGION, "messaging.system": "aws_sqs",
                  "messaging.destination.name": queue, "url.full": url})
    return a


def _sqs_send(b: SpanSet, gen: str, service: str, parent: SpanRef, queue: str, t: float,
              dur: float, message_id: str | None = None, batch: bool = False) -> SpanRef:
    """A PRODUCER "<queue> send" span for SendMessage (with the message id from the response)
    or SendMessageBatch (no message id)."""
    a = _sqs_attrs(gen, queue, "SendMessageBatch" if batch else "SendMessage")
    a["aws.request.id"] = f"req-{t}"
    if message_id is not None:
        a["messaging.message_id" if gen == "old" else "messaging.message.id"] = message_id
    return b.span(service, f"{queue} send", kind="PRODUCER", parent=parent, start_ms=t,
                  dur_ms=dur, attrs=a)


def _sqs_receive(b: SpanSet, gen: str, service: str, queue: str, t: float, dur: float,
                 messages: list[tuple[str, SpanRef]], handler_ms: float,
                 parent: SpanRef | None = None) -> tuple[SpanRef, list[SpanRef]]:
    """One ReceiveMessage call returning ``messages`` (message id, producer context), then
    the app iterating them (``messages.forEach``) with a handler of ``handler_ms`` each. Gives
    the receive span and the spans that stand for the handling of each message (the process
    spans of "old", the receive span itself for "new") for the caller to hang the handler's
    own spans on."""
    a = _sqs_attrs(gen, queue, "ReceiveMessage")
    a["aws.request.id"] = f"req-{t}"
    if gen == "old":
        a["messaging.operation"] = "receive"
        recv = b.span(service, f"{queue} receive", kind="CONSUMER", parent=parent, start_ms=t,
                      dur_ms=dur, attrs=a)
        out = []
        for k, (mid, ctx) in enumerate(messages):
            s = t + dur + 0.2 + k * handler_ms
            out.append(b.span(service, f"{queue} process", kind="CONSUMER", parent=recv,
                              start_ms=s, dur_ms=handler_ms, links=[ctx],
                              attrs={"messaging.system": "aws.sqs",
                                     "messaging.destination": queue,
                                     "messaging.destination_kind": "queue",
                                     "messaging.message_id": mid,
                                     "messaging.url": a["messaging.url"],
                                     "messaging.operation": "process"}))
        return recv, out
    a.update({"messaging.operation.type": "receive",
              "messaging.batch.message_count": len(messages)})
    recv = b.span(service, f"{queue} receive", kind="CONSUMER", parent=parent, start_ms=t,
                  dur_ms=dur, attrs=a,
                  links=[(ctx, {"messaging.message.id": mid}) for mid, ctx in messages])
    return recv, [recv]


def _http_server(b: SpanSet, service: str, route: str, t: float, dur: float) -> SpanRef:
    return b.span(service, f"POST {route}", kind="SERVER", start_ms=t, dur_ms=dur,
                  attrs={"http.method": "POST", "http.target": route, "http.route": route,
                         "http.status_code": 202})


@pytest.mark.parametrize("gen", AWS_SDK)
def test_node_aws_sdk_sqs_send_message_and_receive_one_at_a_time(gen: str):
    """SendMessage from an Express handler; a worker long-polling with ReceiveMessage
    (WaitTimeSeconds 20, MaxNumberOfMessages 1) outside any request, so the receive span is a
    root, which started before the message was sent and returned when it arrived. Old: the
    per-message "<queue> process" span (child of the receive, linked to the send) is the
    delivery and the handler's database write is its child; new: the receive span, linked to
    the send, is the delivery, and the handler runs after it ended, outside any span of the
    instrumentation (its write is a root span: the receive promise is bound to the receive
    span's context, which an `await` does not see; the library's own test of that is
    skipped, issue #1477). One delivery per message, joined by the link,
    in every generation; a poll waiting for the message before it was sent is no clock skew
    and no negative queue time.
    Source: open-telemetry/opentelemetry-js-contrib, packages/instrumentation-aws-sdk/src/
    services/sqs.ts (and plugins/node/opentelemetry-instrumentation-aws-sdk/src/services/
    sqs.ts, packages/propagation-utils/src/pubsub-propagation.ts for "old"), aws-sdk.ts."""
    b = SpanSet()
    for i in range(N):
        t = i * 300
        root = _http_server(b, "checkout", "/orders", t, 40)
        send = _sqs_send(b, gen, "checkout", root, "orders", t + 10, 25,
                         message_id=f"sqs-{i}")
        _, [handling] = _sqs_receive(b, gen, "billing", "orders", t + 5, 55,
                                     [(f"sqs-{i}", send)], handler_ms=12)
        if gen == "old":
            _pg(b, "billing", handling, t + 65, "invoices")
        else:
            b.span("billing", "pg.query:INSERT invoices", kind="CLIENT", start_ms=t + 65,
                   dur_ms=3, attrs={"db.system": "postgresql", "db.name": "shop",
                                    "net.peer.name": "postgres"})
    st = b.store()
    a = _analysed(st, {
        "service:checkout->topic:orders": ("publish", N),
        "topic:orders->service:billing": ("consume", N),
        "service:billing->external:postgresql": ("call", N),
    }, ["topic:orders->service:billing"])
    assert _systems(a) == {"topic:orders": "aws.sqs" if gen == "old" else "aws_sqs"}, gen
    consume = a.edge("topic:orders->service:billing")
    if gen == "old":
        # the process span (12 ms), which starts when the app iterates the messages,
        # 0.2 ms after the receive returned, 25.2 ms after the send ended
        assert (consume["p50_ms"], consume["queue_p50_ms"]) == (12.0, 25.2), gen
    else:
        assert consume["p50_ms"] == 55.0, gen
        assert consume["queue_p50_ms"] is None or consume["queue_p50_ms"] >= 0, gen
    assert consume["message_count"] == N, gen
    flows = {f["entry_service"]: f["count"] for f in a.flows}
    assert flows["checkout"] == N, (gen, flows)


@pytest.mark.parametrize("gen", AWS_SDK)
def test_node_aws_sdk_sqs_send_message_batch_of_three_received_together(gen: str):
    """SendMessageBatch of three orders: one PRODUCER "<queue> send" span for the batch (no
    message id: the response's ids are not read) whose context is injected into all three
    entries. One ReceiveMessage (MaxNumberOfMessages 10) returns the three. Old: three "<queue>
    process" spans under the receive, each linked to the same send span and naming its
    message; new: the receive span links the send span three times, once per message id, and
    says it received three. One publish of three messages, delivered (old: three
    deliveries; new: one delivery), all joined by context, and no redelivery:
    the three messages are distinct (their ids differ) although they share their producer.
    Source: open-telemetry/opentelemetry-js-contrib, packages/instrumentation-aws-sdk/src/
    services/sqs.ts (and plugins/node/opentelemetry-instrumentation-aws-sdk/src/services/
    sqs.ts, packages/propagation-utils/src/pubsub-propagation.ts for "old"), aws-sdk.ts."""
    b = SpanSet()
    for i in range(N):
        t = i * 500
        root = _http_server(b, "importer", "/imports", t, 60)
        send = _sqs_send(b, gen, "importer", root, "orders", t + 10, 40, batch=True)
        msgs = [(f"sqs-{i}-{j}", send) for j in range(3)]
        for h in _sqs_receive(b, gen, "billing", "orders", t + 80, 25, msgs,
                              handler_ms=8)[1]:
            _pg(b, "billing", h, t + 107, "invoices")
    st = b.store()
    deliveries = 3 * N if gen == "old" else N
    a = _analysed(st, {
        "service:importer->topic:orders": ("publish", N),
        "topic:orders->service:billing": ("consume", deliveries),
        "service:billing->external:postgresql": ("call", deliveries),
    }, ["topic:orders->service:billing"])
    consume = a.edge("topic:orders->service:billing")
    # (new: the receive span links the one send span three times, once per message id:
    # three messages, as the old per-message spans say)
    assert consume["message_count"] == 3 * N, gen
    assert edge_detail(st, "topic:orders->service:billing")["message_count"] == 3 * N, gen
    flows = {f["entry_service"]: f["count"] for f in a.flows}
    assert flows["importer"] == N, (gen, flows)


def _https_post(b: SpanSet, service: str, parent: SpanRef, t: float, dur: float) -> SpanRef:
    """@opentelemetry/instrumentation-http's span for the SDK's HTTPS request (the v3
    SDK's node-http-handler calls https.request inside the aws-sdk span's context, and the
    aws-sdk instrumentation's suppressInternalInstrumentation is off by default): a CLIENT
    span named after the method, with the default (old) HTTP attributes (read in
    open-telemetry/opentelemetry-js, experimental/packages/opentelemetry-instrumentation-http/
    src/utils.ts, getOutgoingRequestAttributes and the response's attributes)."""
    host = f"sqs.{REGION}.amazonaws.com"
    return b.span(service, "POST", kind="CLIENT", parent=parent, start_ms=t, dur_ms=dur,
                  attrs={"http.url": f"https://{host}/", "http.method": "POST",
                         "http.target": "/", "net.peer.name": host, "http.host": f"{host}:443",
                         "net.peer.port": 443, "http.status_code": 200,
                         "http.flavor": "1.1", "net.transport": "ip_tcp"})


@pytest.mark.parametrize("gen", AWS_SDK)
def test_node_aws_sdk_sqs_https_request_under_the_sqs_span_is_no_call(gen: str):
    """With getNodeAutoInstrumentations() the http instrumentation is on too: each SQS span
    (send, receive) has the SDK's HTTPS request to the SQS endpoint as a CLIENT child. That
    request is how the message was sent or fetched, already the publish and the delivery:
    not a call from the service to an external 'sqs.<region>.amazonaws.com' as well.
    Source: open-telemetry/opentelemetry-js-contrib, packages/instrumentation-aws-sdk/src/
    aws-sdk.ts (_getV3MiddlewareStackResolvePatch, _callOriginalFunction); open-telemetry/
    opentelemetry-js, experimental/packages/opentelemetry-instrumentation-http/src/utils.ts."""
    b = SpanSet()
    for i in range(N):
        t = i * 300
        root = _http_server(b, "checkout", "/orders", t, 40)
        send = _sqs_send(b, gen, "checkout", root, "orders", t + 10, 25,
                         message_id=f"sqs-{i}")
        _https_post(b, "checkout", send, t + 11, 23)
        recv, _ = _sqs_receive(b, gen, "billing", "orders", t + 5, 55,
                               [(f"sqs-{i}", send)], handler_ms=12)
        _https_post(b, "billing", recv, t + 6, 53)
        # (a request of the app's own to the endpoint is a call, whatever else went there)
        _https_post(b, "checkout", root, t + 36, 3)
    st = b.store()
    host = f"external:sqs.{REGION}.amazonaws.com"
    _analysed(st, {
        "service:checkout->topic:orders": ("publish", N),
        "topic:orders->service:billing": ("consume", N),
        f"service:checkout->{host}": ("call", N),
    }, ["topic:orders->service:billing"])
    assert edge_detail(st, host)["count"] == N


def _sns_publish(b: SpanSet, gen: str, service: str, parent: SpanRef, topic_arn: str,
                 t: float, dur: float) -> SpanRef:
    """services/sns.ts: Publish is a PRODUCER "<topic name> send" (the ARN's last segment)
    with messaging.system 'aws.sns', messaging.destination_kind 'topic' and messaging.destination
    the topic's name; newer versions add messaging.destination.name = the full ARN ("ToDO: Use
    SEMATTRS_MESSAGING_DESTINATION_NAME") and, since 0.55, aws.sns.topic.arn. The current
    context is injected into the SNS MessageAttributes."""
    name = topic_arn.rsplit(":", 1)[-1]
    a: dict[str, Any] = {"rpc.system": "aws-api", "rpc.service": "SNS", "rpc.method": "Publish",
                         "messaging.system": "aws.sns", "messaging.destination_kind": "topic",
                         "messaging.destination": name, "http.status_code": 200,
                         "aws.request.id": f"req-{t}"}
    if gen == "old":
        a["aws.region"] = REGION
    else:
        a.update({"cloud.region": REGION, "messaging.destination.name": topic_arn,
                  "aws.sns.topic.arn": topic_arn})
    return b.span(service, f"{name} send", kind="PRODUCER", parent=parent, start_ms=t,
                  dur_ms=dur, attrs=a)


@pytest.mark.parametrize("gen", AWS_SDK)
def test_node_aws_sdk_sns_publish_fans_out_to_two_subscribed_queues(gen: str):
    """SNS Publish to a topic two SQS queues subscribe to (raw message delivery on, or the
    consumers set sqsExtractContextPropagationFromPayload: the SNS message attributes, with
    the traceparent, reach the SQS message either way). Each queue's worker polls it; its
    delivery (old: the process span, new: the receive span) is tied by its link to the SNS
    publish span. The topic is one node, by its name (old: messaging.destination, the
    topic's name; new: messaging.destination.name, its ARN, whose name ends it), routed by
    the broker to two queues.
    Source: open-telemetry/opentelemetry-js-contrib, packages/instrumentation-aws-sdk/src/
    services/sns.ts, services/sqs.ts, services/MessageAttributes.ts (extractPropagationContext:
    the message's attributes, else with sqsExtractContextPropagationFromPayload the SNS
    envelope's MessageAttributes), and plugins/node/.../services/sns.ts for "old"."""
    arn = f"arn:aws:sns:{REGION}:{ACCOUNT}:order-events"
    topic = "order-events"  # (new: its ARN, old: its name; one node either way)
    b = SpanSet()
    for i in range(N):
        t = i * 400
        root = _http_server(b, "checkout", "/orders", t, 50)
        pub = _sns_publish(b, gen, "checkout", root, arn, t + 10, 30)
        for k, (svc, queue) in enumerate((("billing", "billing-orders"),
                                          ("shipping", "shipping-orders"))):
            for h in _sqs_receive(b, gen, svc, queue, t + 70 + 10 * k, 20,
                                  [(f"{queue}-{i}", pub)], handler_ms=9)[1]:
                if gen == "old":
                    _pg(b, svc, h, t + 92 + 10 * k, svc)
    st = b.store()
    edges = {
        f"service:checkout->topic:{topic}": ("publish", N),
        f"topic:{topic}->topic:billing-orders": ("route", N),
        f"topic:{topic}->topic:shipping-orders": ("route", N),
        "topic:billing-orders->service:billing": ("consume", N),
        "topic:shipping-orders->service:shipping": ("consume", N),
    }
    if gen == "old":
        edges["service:billing->external:postgresql"] = ("call", N)
        edges["service:shipping->external:postgresql"] = ("call", N)
    a = _analysed(st, edges, ["topic:billing-orders->service:billing",
                              "topic:shipping-orders->service:shipping"])
    sqs = "aws.sqs" if gen == "old" else "aws_sqs"
    assert _systems(a) == {f"topic:{topic}": "aws.sns", "topic:billing-orders": sqs,
                           "topic:shipping-orders": sqs}, gen
    flows = {f["entry_service"]: f["count"] for f in a.flows}
    assert flows["checkout"] == N, (gen, flows)


# ------------------------------------------------------------------------ @google-cloud/pubsub
# The client's own tracing (enableOpenTelemetryTracing), read in googleapis/nodejs-pubsub:
# src/telemetry-tracing.ts, src/publisher/message-queues.ts (_publish: the batch's RPC span,
# then, when the RPC returns, every message's create span ends), src/subscriber.ts (Message:
# the subscribe span from receipt until the ack RPC of its batch returned; the process span
# from dispatch to the user's ack()), src/message-queues.ts (AckQueue / ModAckQueue
# _sendBatch: one span per ack / modack RPC).
#  - "<topic> create" PRODUCER per message, in the caller's context, messaging.destination.name
#    the topic id, gcp.project_id, code.function, messaging.message.envelope.size; INTERNAL
#    children "publisher flow control" and "publisher batching". Its context is injected
#    (googclient_traceparent).
#  - "projects/<p>/topics/<topic> send" PRODUCER, a root (ROOT_CONTEXT), linking every create
#    span of the batch (which link back to it), messaging.batch.message_count, no operation.
#  - "<subscription> subscribe" CONSUMER per message, child of its create span (extracted),
#    messaging.destination.name the *subscription* id, the ack id, no message id; INTERNAL
#    children "subscriber concurrency control" and "<subscription> process" (the user's
#    handler until it calls ack(); no attributes at all).
#  - "<subscription> modack" (the receipt modack) and "<subscription> ack" roots, one per RPC,
#    linking the subscribe spans of the messages they carried (which link back to them),
#    messaging.batch.message_count, messaging.gcp_pubsub.message.ack_deadline_seconds (modack).
# Generations:
#  "4.x"     (OpenTelemetryLevel.Legacy still there): no messaging.operation anywhere, the
#            ack and modack spans are CONSUMER spans.
#  "5.x-a"   (issue #2018/#2028: semantic conventions 1.24): create gets messaging.operation
#            'create', subscribe 'receive', ack and modack become CLIENT spans with
#            messaging.operation 'receive'.
#  "5.x-b"   (current, W3CTraceContextPropagator): createAttributes() sets messaging.operation
#            only when it is given a message, so create 'create' and subscribe 'receive', and
#            the send, ack and modack spans have none (ack and modack stay CLIENT spans).
PUBSUB = ("4.x", "5.x-a", "5.x-b")
PROJECT = "shop-prod"


def _ps(dest: str, caller: str, op: str | None = None, **extra: Any) -> dict[str, Any]:
    return {"messaging.system": "gcp_pubsub", "messaging.destination.name": dest,
            "gcp.project_id": PROJECT, "code.function": caller, "messaging.operation": op,
            **extra}


def _pubsub(b: SpanSet, gen: str, batches: int, per_batch: int) -> list[str]:
    """``batches`` publish batches of ``per_batch`` orders each (each order its own web
    request: topic.publishMessage() in the request handler), one subscriber (the billing
    service, subscription 'billing-sub') handling them. Gives the order traces."""
    ops = gen != "4.x"
    rpc_kind = "CONSUMER" if gen == "4.x" else "CLIENT"
    rpc_op = "receive" if gen == "5.x-a" else None
    order_traces = []
    for k in range(batches):
        t = k * 1000
        creates = []
        for j in range(per_batch):
            s = t + j * 4
            root = _http_server(b, "orders", "/orders", s, 6)
            order_traces.append(root.trace_id)
            c = b.span("orders", "order-events create", kind="PRODUCER", parent=root,
                       start_ms=s + 1, dur_ms=(t + 4 * per_batch + 30) - (s + 1),
                       attrs=_ps("order-events", "Topic.publishMessage",
                                 "create" if ops else None,
                                 **{"messaging.message.envelope.size": 212}))
            b.span("orders", "publisher flow control", parent=c, start_ms=s + 1.1,
                   dur_ms=0.1)
            b.span("orders", "publisher batching", parent=c, start_ms=s + 1.3,
                   dur_ms=(t + 4 * per_batch + 10) - (s + 1.3))
            creates.append(c)
        send = b.span("orders", f"projects/{PROJECT}/topics/order-events send",
                      kind="PRODUCER", start_ms=t + 4 * per_batch + 10, dur_ms=20,
                      links=creates,
                      attrs=_ps("order-events", "MessageQueue._publish",
                                **{"messaging.batch.message_count": per_batch}))
        # (the create spans link back to the send span: added after they started)
        for c in creates:
            next(x for x in b.spans if x.ref == c).links.append((send, {}))
        # the subscriber's stream delivers the batch's messages at once
        r = t + 4 * per_batch + 45
        subs = []
        for j, c in enumerate(creates):
            sub = b.span("billing", "billing-sub subscribe", kind="CONSUMER", parent=c,
                         start_ms=r, dur_ms=0,  # ended below
                         attrs=_ps("billing-sub", "extractSpan", "receive" if ops else None,
                                   **{"messaging.message.envelope.size": 212,
                                      "messaging.gcp_pubsub.message.ack_id": f"ack-{k}-{j}"}))
            subs.append(sub)
        modack = b.span("billing", "billing-sub modack", kind=rpc_kind, start_ms=r + 100,
                        dur_ms=15, links=subs,
                        attrs=_ps("billing-sub", "ModAckQueue._sendBatch", rpc_op,
                                  **{"messaging.batch.message_count": per_batch,
                                     "messaging.gcp_pubsub.message.ack_deadline_seconds": 10}))
        ends = []
        for j, sub in enumerate(subs):
            d = r + 0.5 + j * 20  # dispatched one after the other
            b.span("billing", "subscriber concurrency control", parent=sub, start_ms=r + 0.1,
                   dur_ms=d - r - 0.1)
            proc = b.span("billing", "billing-sub process", parent=sub, start_ms=d,
                          dur_ms=18)
            _pg(b, "billing", proc, d + 2, "invoices")
            ends.append(d + 18)
        ack_t = min(ends) + 100  # the ack batch is sent 100 ms after the first ack()
        ack = b.span("billing", "billing-sub ack", kind=rpc_kind, start_ms=ack_t, dur_ms=12,
                     links=subs,
                     attrs=_ps("billing-sub", "AckQueue._sendBatch", rpc_op,
                               **{"messaging.batch.message_count": per_batch}))
        for sub in subs:
            x = next(x for x in b.spans if x.ref == sub)
            x.links.extend([(modack, {}), (ack, {})])
            x.end_ns = b.ms(ack_t + 12.5)  # ended when the ack RPC returned
    return order_traces


@pytest.mark.parametrize("gen", PUBSUB)
def test_google_pubsub_node_batch_of_two_consumed_by_one_subscriber(gen: str):
    """Publish batches of two orders (two web requests, two create spans, one send RPC span
    linking both), delivered through the subscription 'billing-sub' to one subscriber: per
    message a subscribe span (child of its create span) with the user's process span and the
    handler's database write under it, and one modack and one ack RPC span per batch, roots
    that link the subscribe spans (and are linked back from them).

    The topic is the node the publishes go to. The subscribe span names only the
    subscription (messaging.destination.name = the subscription id): a Pub/Sub subscription
    is a broker entity of its own (its own backlog, fed by the topic, one per consuming
    application), as an SQS queue subscribed to an SNS topic or a Service Bus subscription
    is, so the delivery comes from the subscription node, routed from the topic, as for those
    brokers (and as test_google_pubsub_client_tracing has it for the Java and Python
    clients). Each message is one delivery, its subscribe span, joined to its create span by
    its parent and lasting until the ack RPC returned; the send span (the RPC carrying the
    batch) is no publish of its own and the modack and ack RPC spans are no deliveries,
    whatever their kind and operation.
    Source: googleapis/nodejs-pubsub, src/telemetry-tracing.ts, src/publisher/
    message-queues.ts, src/subscriber.ts, src/message-queues.ts."""
    b = SpanSet()
    _pubsub(b, gen, N, 2)
    st = b.store()
    a = _analysed(st, {
        "service:orders->topic:order-events": ("publish", 2 * N),
        "topic:order-events->topic:billing-sub": ("route", 2 * N),
        "topic:billing-sub->service:billing": ("consume", 2 * N),
        "service:billing->external:postgresql": ("call", 2 * N),
    }, ["topic:billing-sub->service:billing"])
    assert _systems(a) == {"topic:order-events": "gcp_pubsub",
                           "topic:billing-sub": "gcp_pubsub"}
    consume = a.edge("topic:billing-sub->service:billing")
    assert consume["message_count"] == 2 * N
    # received 15 ms after the send RPC (and so the create spans) ended; each subscribe
    # span lasts until the ack RPC of the batch returned (131 ms), whatever its handler took
    assert (consume["p50_ms"], consume["queue_p50_ms"]) == (131.0, 15.0)


@pytest.mark.parametrize("gen", PUBSUB)
def test_google_pubsub_node_batch_rpc_trace_does_not_merge_its_orders(gen: str):
    """The send span of a batch is a root span of its own trace linking the create spans of
    both orders, and each create span links back to it (addLink after the RPC span started).
    That trace is where two independent orders meet, not a part of either: each order (its
    request, its create span, its delivery in the same trace) is one flow, and the flow view
    of one order does not take in the other order of its batch.
    Source: googleapis/nodejs-pubsub, src/telemetry-tracing.ts, src/publisher/
    message-queues.ts, src/subscriber.ts, src/message-queues.ts."""
    b = SpanSet()
    orders = _pubsub(b, gen, N, 2)
    st = b.store()
    a = analyze(st)
    # (the batch's send trace, and the subscriber's ack and modack RPC traces, each linking
    # the messages of two orders, are flows of their own beside the orders')
    order = next(f for f in a.flows if f["name"].startswith("POST /orders"))
    assert order["count"] == 2 * N, [(f["name"], f["count"]) for f in a.flows]
    assert order["traces_per_flow"] == 1.0
    for k in range(N):
        f = flow_for_trace(st, orders[2 * k])
        assert orders[2 * k + 1] not in f["trace_ids"]
