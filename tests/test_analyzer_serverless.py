"""Span shapes of serverless triggers, each read from the library's source or its own tests:
the OpenTelemetry AWS Lambda instrumentations (Python and Node) behind SQS, SNS and
EventBridge triggers. Each test builds exactly the spans the libraries export for a small
scenario and checks what the analyzer makes of them."""

from __future__ import annotations

from typing import Any

import pytest

from analyzer import analyze, edge_detail, flow_for_trace
from tests.analysis_checks import analysed_each as _analysed
from tests.analysis_checks import edges_of as _edges
from tests.analysis_checks import systems_of as _systems
from tests.builders import SpanRef, SpanSet

N = 3
REGION = "eu-west-1"
ACCOUNT = "123456789012"
FUNCTION = "notify-fn"
FUNCTION_ARN = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{FUNCTION}"
QUEUE = "order-events"
QUEUE_ARN = f"arn:aws:sqs:{REGION}:{ACCOUNT}:{QUEUE}"
QUEUE_URL = f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/{QUEUE}"


# ------------------------------------------------------------------------------ producers
def _node_sqs_send(b: SpanSet, service: str, parent: SpanRef, t: float,
                   message_id: str) -> SpanRef:
    """@opentelemetry/instrumentation-aws-sdk 0.58+ (open-telemetry/opentelemetry-js-contrib,
    packages/instrumentation-aws-sdk/src/services/sqs.ts): SendMessage is a PRODUCER
    "<queue> send" with messaging.system 'aws_sqs', messaging.destination.name (the URL's
    last segment), url.full and, from the response, messaging.message.id; rpc.* and the
    region from utils.ts. requestPostSpanHook injects the send span's context into the
    message's MessageAttributes (traceparent)."""
    return b.span(service, f"{QUEUE} send", kind="PRODUCER", parent=parent, start_ms=t,
                  dur_ms=22, attrs={
                      "rpc.system": "aws-api", "rpc.service": "SQS", "rpc.method": "SendMessage",
                      "cloud.region": REGION, "messaging.system": "aws_sqs",
                      "messaging.destination.name": QUEUE, "url.full": QUEUE_URL,
                      "messaging.message.id": message_id, "aws.request.id": f"req-{t}",
                      "http.status_code": 200})


def _http_server(b: SpanSet, service: str, route: str, t: float, dur: float) -> SpanRef:
    return b.span(service, f"POST {route}", kind="SERVER", start_ms=t, dur_ms=dur,
                  attrs={"http.method": "POST", "http.target": route, "http.route": route,
                         "http.status_code": 202})


def _orders(b: SpanSet, n: int, t0: float = 0.0, step: float = 40.0) -> list[SpanRef]:
    """``n`` checkout requests, each sending one message to the queue (message ids m0..)."""
    sends = []
    for i in range(n):
        t = t0 + i * step
        root = _http_server(b, "orders", "/orders", t, 35)
        sends.append(_node_sqs_send(b, "orders", root, t + 6, f"m{i}"))
    return sends


# ------------------------------------------------------------------------ AWS Lambda: SQS
# Python: opentelemetry-instrumentation-aws-lambda (open-telemetry/opentelemetry-python-
# contrib, instrumentation/opentelemetry-instrumentation-aws-lambda/src/opentelemetry/
# instrumentation/aws_lambda/__init__.py and _sqs.py; PR #4668 "add SQS context propagation
# support", modelled on the Node PR below). The invocation is a SERVER span named after the
# function (cloud.account.id, cloud.resource_id, faas.invocation_id), its parent the context
# the event_context_extractor finds (by default the event's 'headers': none for SQS, so a
# root; with OTEL_PROPAGATORS=xray-lambda and active tracing, the _X_AMZN_TRACE_ID
# context: Lambda's own X-Ray segment, never exported to OTLP). For an SQS event
# (_is_sqs_event: Records[0].eventSource 'aws:sqs') _run_sqs_handler runs the handler inside
# a CONSUMER "process <queue>" span (queue: the eventSourceARN's sixth part) with
# messaging.system 'aws_sqs', messaging.destination.name, messaging.operation.type
# 'process', messaging.batch.message_count when the batch has more than one record, and a
# link to each record's context extracted from its messageAttributes (traceparent), the
# link carrying messaging.message.id (the record's messageId). (The stored __init__.py
# predates the call site; the span is read from _sqs.py and is opened, as in Node, inside
# the invocation span.)
# Node: @opentelemetry/instrumentation-aws-lambda (open-telemetry/opentelemetry-js-contrib,
# packages/instrumentation-aws-lambda/src/instrumentation.ts; PR #2981). The SERVER span
# named context.functionName (faas.execution, faas.id, cloud.account.id, faas.coldstart),
# parent from eventContextExtractor (default: event.headers, else ROOT_CONTEXT); then, in
# its context, _startEventSourceSpans: for SQS a CONSUMER "<queue> process" with
# faas.trigger 'pubsub', messaging.operation.type 'process', messaging.system 'aws_sqs',
# messaging.destination.name, messaging.batch.message_count (always), url.full (the queue
# URL rebuilt from the ARN) and a link, without attributes, to each record's traceparent;
# ended just before the invocation span (_endInvocationSpanAndFlush). Before that PR (and
# for every other event source: "TODO implement other event sources") only the SERVER span.


def _lambda_server(b: SpanSet, gen: str, t: float, dur: float, inv: str,
                   parent: SpanRef | None = None, trace: str | None = None,
                   cold: bool = False) -> SpanRef:
    if gen.startswith("python"):
        attrs: dict[str, Any] = {"cloud.account.id": ACCOUNT, "cloud.resource_id": FUNCTION_ARN,
                                 "faas.invocation_id": inv}
    else:
        attrs = {"faas.execution": inv, "faas.id": FUNCTION_ARN, "cloud.account.id": ACCOUNT,
                 "faas.coldstart": cold}
    return b.span(FUNCTION, FUNCTION, kind="SERVER", parent=parent, trace=trace, start_ms=t,
                  dur_ms=dur, attrs=attrs)


def _lambda_sqs_process(b: SpanSet, gen: str, server: SpanRef, t: float, dur: float,
                        records: list[tuple[str, SpanRef]]) -> SpanRef:
    """The CONSUMER span of the batch ``records`` (message id, producer context)."""
    if gen.startswith("python"):
        attrs: dict[str, Any] = {"messaging.system": "aws_sqs",
                                 "messaging.destination.name": QUEUE,
                                 "messaging.operation.type": "process"}
        if len(records) > 1:
            attrs["messaging.batch.message_count"] = len(records)
        return b.span(FUNCTION, f"process {QUEUE}", kind="CONSUMER", parent=server,
                      start_ms=t, dur_ms=dur, attrs=attrs,
                      links=[(ctx, {"messaging.message.id": mid}) for mid, ctx in records])
    return b.span(FUNCTION, f"{QUEUE} process", kind="CONSUMER", parent=server, start_ms=t,
                  dur_ms=dur, links=[ctx for _, ctx in records],
                  attrs={"faas.trigger": "pubsub", "messaging.operation.type": "process",
                         "messaging.system": "aws_sqs", "messaging.destination.name": QUEUE,
                         "messaging.batch.message_count": len(records), "url.full": QUEUE_URL})


def _dynamodb_put(b: SpanSet, parent: SpanRef, t: float) -> SpanRef:
    """The handler's write: botocore's CLIENT "DynamoDB.PutItem" (rpc.*, aws.region,
    aws.request_id; extensions/dynamodb.py: db.system, db.operation, the table names)."""
    return b.span(FUNCTION, "DynamoDB.PutItem", kind="CLIENT", parent=parent, start_ms=t,
                  dur_ms=6, attrs={"rpc.system": "aws-api", "rpc.service": "DynamoDB",
                                   "rpc.method": "PutItem", "db.system": "dynamodb",
                                   "db.operation": "PutItem", "aws.region": REGION,
                                   "aws.dynamodb.table_names": "notifications",
                                   "aws.request_id": f"ddb-{t}", "http.status_code": 200})


# batches the event source mapping hands the function: (first message, size)
BATCHES = [(0, 2), (2, 1), (3, 3)]


@pytest.mark.parametrize("gen", ["python", "python-xray", "node"])
def test_lambda_sqs_trigger_process_span_links_each_record(gen: str):
    """An SQS-triggered function invoked three times with batches of 2, 1 and 3 records: the
    invocation's SERVER span (a root, or with active tracing and the xray-lambda propagator
    the child of Lambda's X-Ray segment, a span no exporter sends) and inside it one CONSUMER
    process span per batch linking every record's send. Three deliveries of six messages
    from the queue to the function, each joined to its producer by its link; no second
    delivery for the SERVER span, no broken context, no spurious caller for the X-Ray parent.
    Source: open-telemetry/opentelemetry-python-contrib, instrumentation/opentelemetry-
    instrumentation-aws-lambda/src/opentelemetry/instrumentation/aws_lambda/_sqs.py and
    __init__.py (its tests' test_active_tracing for xray-lambda); open-telemetry/
    opentelemetry-js-contrib, packages/instrumentation-aws-lambda/src/instrumentation.ts
    (_startSqsProcessSpan, _extractSqsSpanLinks) and packages/instrumentation-aws-sdk/src/
    services/sqs.ts for the sends."""
    b = SpanSet()
    sends = _orders(b, 6)
    for k, (first, size) in enumerate(BATCHES):
        t = 400 + k * 300
        recs = [(f"m{j}", sends[j]) for j in range(first, first + size)]
        parent = None
        trace = None
        if gen == "python-xray":
            trace = b.new_trace()
            parent = SpanRef(trace, "%016x" % (0x53995C3F42CD0000 + k))  # the X-Ray segment
        server = _lambda_server(b, gen, t, 60, f"inv-{k}", parent=parent, trace=trace,
                                cold=k == 0)
        proc = _lambda_sqs_process(b, gen, server, t + 1, 57, recs)
        # (Python runs the handler inside the process span; Node only starts it, the
        # invocation span stays the active one)
        for j in range(size):
            _dynamodb_put(b, proc if gen.startswith("python") else server, t + 5 + j * 10)
    st = b.store()
    a = _analysed(st, {
        f"service:orders->topic:{QUEUE}": ("publish", 6),
        f"topic:{QUEUE}->service:{FUNCTION}": ("consume", 3),
        f"service:{FUNCTION}->external:dynamodb": ("call", 6),
    }, [f"topic:{QUEUE}->service:{FUNCTION}"])
    consume = a.edge(f"topic:{QUEUE}->service:{FUNCTION}")
    assert consume["message_count"] == 6, gen
    assert consume["batch_deliveries"] == 2, gen
    assert _systems(a) == {f"topic:{QUEUE}": "aws_sqs"}, gen
    detail = edge_detail(st, f"topic:{QUEUE}->service:{FUNCTION}")
    assert (detail["count"], detail["message_count"]) == (3, 6), gen


def test_node_lambda_before_sqs_support_names_no_queue():
    """@opentelemetry/instrumentation-aws-lambda before PR #2981 (and Python's before PR
    #4668, whose mocks test asserts a single SERVER span for an SQS event): the invocation
    is one SERVER span, a root, naming no queue and linking nothing. Nothing says which queue
    the function read: no delivery is invented, at most the sends are reported unconsumed.
    Source: open-telemetry/opentelemetry-js-contrib, packages/instrumentation-aws-lambda/src/
    instrumentation.ts (_createSpanForRequest); open-telemetry/opentelemetry-python-contrib,
    instrumentation/opentelemetry-instrumentation-aws-lambda/tests/
    test_aws_lambda_instrumentation_mocks.py (test_sqs_event_sets_attributes)."""
    b = SpanSet()
    _orders(b, N)
    for k in range(N):
        server = _lambda_server(b, "node", 300 + k * 200, 45, f"inv-{k}", cold=k == 0)
        _dynamodb_put(b, server, 300 + k * 200 + 10)
    a = analyze(b.store())
    assert _edges(a) == {
        f"service:orders->topic:{QUEUE}": ("publish", N),
        f"service:{FUNCTION}->external:dynamodb": ("call", N),
    }
    assert {x["type"] for x in a.anomalies} <= {"published_never_consumed"}


@pytest.mark.parametrize("gen", ["python", "node"])
def test_lambda_event_context_extractor_parent_from_first_record(gen: str):
    """The documented custom eventContextExtractor for SQS (opentelemetry.io's Lambda
    instrumentation docs, "this example assumes a batch of 1 message"): it reads the first
    record's trace context, so the invocation's SERVER span is a child of the first
    record's send, while the process span inside it still links every record. The first
    message is delivered once (by the batch), not twice: the SERVER span under a PRODUCER is
    the invocation, not a second delivery.
    Source: the eventContextExtractor / event_context_extractor options of
    packages/instrumentation-aws-lambda/src/instrumentation.ts (_determineParent) and
    aws_lambda/__init__.py (_determine_parent_context); the documented SQS extractor
    (AWSTraceHeader of Records[0], "assumes a batch of 1 message")."""
    b = SpanSet()
    sends = _orders(b, 6)
    for k, (first, size) in enumerate(BATCHES):
        t = 400 + k * 300
        recs = [(f"m{j}", sends[j]) for j in range(first, first + size)]
        server = _lambda_server(b, gen, t, 60, f"inv-{k}", parent=sends[first])
        _lambda_sqs_process(b, gen, server, t + 1, 57, recs)
    st = b.store()
    a = _analysed(st, {
        f"service:orders->topic:{QUEUE}": ("publish", 6),
        f"topic:{QUEUE}->service:{FUNCTION}": ("consume", 3),
    }, [f"topic:{QUEUE}->service:{FUNCTION}"])
    assert a.edge(f"topic:{QUEUE}->service:{FUNCTION}")["message_count"] == 6, gen


# ------------------------------------------------------------------------ AWS Lambda: SNS
# The publisher: opentelemetry-instrumentation-botocore (open-telemetry/opentelemetry-python-
# contrib, instrumentation/opentelemetry-instrumentation-botocore/src/opentelemetry/
# instrumentation/botocore/extensions/sns.py): Publish is a PRODUCER "<topic name> send" with
# messaging.system 'aws.sns', messaging.destination_kind 'topic', messaging.destination and
# messaging.destination.name both the topic ARN, aws.sns.topic.arn; the botocore span's
# rpc.system 'aws-api', rpc.service, rpc.method, aws.region, aws.request_id and
# http.status_code; before_service_call injects the span's context into the SNS
# MessageAttributes, which SNS hands the function as Records[0].Sns.MessageAttributes
# ({"traceparent": {"Type": "String", "Value": ...}}). The function: neither Lambda
# instrumentation opens an event-source span for SNS; its SERVER span is a root unless an
# event_context_extractor reads that attribute. Older Python releases (the __init__.py of
# commit 47eb88f) named the span after the handler ("<module>.<function>") and made it a
# CONSUMER for aws:sqs, aws:s3, aws:sns and aws:dynamodb events, with no messaging attribute.
TOPIC_ARN = f"arn:aws:sns:{REGION}:{ACCOUNT}:order-events"


def _sns_publish(b: SpanSet, service: str, parent: SpanRef, t: float) -> SpanRef:
    return b.span(service, "order-events send", kind="PRODUCER", parent=parent, start_ms=t,
                  dur_ms=28, attrs={
                      "rpc.system": "aws-api", "rpc.service": "SNS", "rpc.method": "Publish",
                      "aws.region": REGION, "messaging.system": "aws.sns",
                      "messaging.destination_kind": "topic", "messaging.destination": TOPIC_ARN,
                      "messaging.destination.name": TOPIC_ARN, "aws.sns.topic.arn": TOPIC_ARN,
                      "aws.request_id": f"req-{t}", "retry_attempts": 0,
                      "http.status_code": 200})


def _python_lambda(b: SpanSet, gen: str, t: float, dur: float, inv: str,
                   parent: SpanRef | None) -> SpanRef:
    if gen == "python":
        return _lambda_server(b, gen, t, dur, inv, parent=parent)
    return b.span(FUNCTION, "app.lambda_handler", kind="CONSUMER", parent=parent, start_ms=t,
                  dur_ms=dur, attrs={"cloud.resource_id": FUNCTION_ARN,
                                     "faas.invocation_id": inv, "cloud.account.id": ACCOUNT})


# (the current release makes the invocation span a SERVER span naming no messaging
# attribute: a push delivery, its parent's message (analyzer_pushed); the older releases'
# CONSUMER span is one by its kind)
@pytest.mark.parametrize("gen", ["python", "python-old"])
def test_sns_triggered_lambda_child_of_the_publish_is_a_delivery(gen: str):
    """An SNS-triggered Python function whose event_context_extractor reads the traceparent
    of Records[0].Sns.MessageAttributes (SNS invokes the function once per message): its
    invocation span (SERVER; CONSUMER named after the handler in older releases), naming
    no messaging attribute, is the child of the publish. One delivery per message from the
    topic to the function, joined by context, in the publisher's flow.
    Source: open-telemetry/opentelemetry-python-contrib, instrumentation/opentelemetry-
    instrumentation-botocore/src/opentelemetry/instrumentation/botocore/extensions/sns.py;
    instrumentation/opentelemetry-instrumentation-aws-lambda/src/opentelemetry/
    instrumentation/aws_lambda/__init__.py (current, and commit 47eb88f for "python-old")."""
    b = SpanSet()
    roots = []
    for i in range(N):
        t = i * 500
        root = _http_server(b, "orders", "/orders", t, 45)
        roots.append(root)
        pub = _sns_publish(b, "orders", root, t + 8)
        inv = _python_lambda(b, gen, t + 120, 40, f"inv-{i}", parent=pub)
        _dynamodb_put(b, inv, t + 130)
    st = b.store()
    topic = "topic:order-events"  # (by its name: the end of its ARN)
    a = _analysed(st, {
        f"service:orders->{topic}": ("publish", N),
        f"{topic}->service:{FUNCTION}": ("consume", N),
        f"service:{FUNCTION}->external:dynamodb": ("call", N),
    }, [f"{topic}->service:{FUNCTION}"])
    assert _systems(a) == {topic: "aws.sns"}, gen
    consume = a.edge(f"{topic}->service:{FUNCTION}")
    assert consume["p50_ms"] == 40, gen
    flows = {f["entry_service"]: f["count"] for f in a.flows}
    assert flows == {"orders": N}, (gen, flows)
    hops = {g["hop"] for g in flow_for_trace(st, roots[0].trace_id)["critical_path_segments"]}
    assert f"{topic}->service:{FUNCTION}" in hops, (gen, hops)


def test_sns_triggered_lambda_without_extractor_names_no_topic():
    """The default extractor reads the event's 'headers', which an SNS event has not: the
    invocation's SERVER span is a root naming no topic. No delivery is invented; at most the
    publishes are reported unconsumed.
    Source: aws_lambda/__init__.py (_default_event_context_extractor), extensions/sns.py."""
    b = SpanSet()
    for i in range(N):
        t = i * 500
        root = _http_server(b, "orders", "/orders", t, 45)
        _sns_publish(b, "orders", root, t + 8)
        inv = _lambda_server(b, "python", t + 120, 40, f"inv-{i}")
        _dynamodb_put(b, inv, t + 130)
    a = analyze(b.store())
    assert _edges(a) == {
        "service:orders->topic:order-events": ("publish", N),
        f"service:{FUNCTION}->external:dynamodb": ("call", N),
    }
    assert {x["type"] for x in a.anomalies} <= {"published_never_consumed"}


# ----------------------------------------------------------------- AWS Lambda: EventBridge
def test_eventbridge_triggered_lambda_is_no_delivery_of_an_unnamed_bus():
    """@opentelemetry/instrumentation-aws-sdk has no EventBridge extension
    (packages/instrumentation-aws-sdk/src/services/: no eventbridge.ts): PutEvents is a
    CLIENT "EventBridge.PutEvents" with rpc.* and the region, no bus (it is named per entry
    in the request), no injection, and the http instrumentation's HTTPS request to the
    regional endpoint under it. The rule's target function gets an event without headers:
    its SERVER span is a root. A call from the publisher to EventBridge; the function's own
    call; no topic, no delivery, no anomaly.
    Source: open-telemetry/opentelemetry-js-contrib, packages/instrumentation-aws-sdk/src/
    services/ (ServicesExtensions.ts: no EventBridge), packages/instrumentation-aws-lambda/
    src/instrumentation.ts (_defaultEventContextExtractor)."""
    host = f"events.{REGION}.amazonaws.com"
    b = SpanSet()
    for i in range(N):
        t = i * 500
        root = _http_server(b, "orders", "/orders", t, 45)
        put = b.span("orders", "EventBridge.PutEvents", kind="CLIENT", parent=root,
                     start_ms=t + 8, dur_ms=25,
                     attrs={"rpc.system": "aws-api", "rpc.service": "EventBridge",
                            "rpc.method": "PutEvents", "cloud.region": REGION,
                            "aws.request.id": f"req-{i}", "http.status_code": 200})
        b.span("orders", "POST", kind="CLIENT", parent=put, start_ms=t + 9, dur_ms=23,
               attrs={"http.url": f"https://{host}/", "http.method": "POST",
                      "http.target": "/", "net.peer.name": host, "http.host": f"{host}:443",
                      "net.peer.port": 443, "http.status_code": 200, "http.flavor": "1.1"})
        inv = _lambda_server(b, "node", t + 300, 30, f"inv-{i}", cold=i == 0)
        _dynamodb_put(b, inv, t + 305)
    st = b.store()
    a = _analysed(st, {
        f"service:orders->external:{host}": ("call", N),
        f"service:{FUNCTION}->external:dynamodb": ("call", N),
    }, [])
    assert _systems(a) == {}
