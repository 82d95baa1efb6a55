"""Span shapes of managed cloud event plumbing, fourth round, each read from the source of the
instrumentation (or, for what Google's front end does, from the reports of those who hit it):
Pub/Sub push subscriptions and Cloud Tasks HTTP tasks arriving at Cloud Run (and Cloud
Functions gen2 through the Functions Framework), the Cloud Run front end's own span between
two services, and AWS Lambda's SQS event source mapping (the Java agent's batch and record
spans, old and stable messaging conventions; Python's partial batch failures; an SNS topic
fanned out to two SQS-triggered functions, raw message delivery on for one, off for the
other). Each test builds exactly the spans the libraries export for a small scenario and
checks what the analyzer makes of them."""

from __future__ import annotations

import pytest

from analyzer import analyze, edge_detail, flow_for_trace
from tests.analysis_checks import analysed_each as _analysed
from tests.analysis_checks import edges_of as _edges
from tests.analysis_checks import systems_of as _systems
from tests.builders import SpanRef, SpanSet

N = 3
PROJECT = "shop-prod"
REGION = "eu-west-1"
ACCOUNT = "123456789012"


def _span(b: SpanSet, ref: SpanRef):
    """The built span behind ``ref`` (to add the links a library adds after the start)."""
    return next(x for x in b.spans if x.ref == ref)


def _front_end(trace: str, n: int) -> SpanRef:
    """The span Google's front end (GFE) opens for a request to a Cloud Run service (or a
    Cloud Functions gen2 function, which runs on Cloud Run): it is exported to Cloud Trace
    only, never to the OTLP collector, and the request reaches the container with a
    traceparent (and X-Cloud-Trace-Context) naming it. In the incoming trace when the request
    carried one, else in a new trace."""
    return SpanRef(trace, "%016x" % (0x6FE0_0000_0000_0000 + n))


def _services_in(st, trace_id: str) -> set[str]:
    """The services of the flow instance holding ``trace_id``."""
    return {s["service_name"] for s in flow_for_trace(st, trace_id)["spans"]}


def _pg(b: SpanSet, service: str, parent: SpanRef, t: float, table: str) -> SpanRef:
    return b.span(service, f"INSERT {table}", kind="CLIENT", parent=parent, start_ms=t,
                  dur_ms=4, attrs={"db.system": "postgresql", "db.name": service,
                                   "db.operation": "INSERT", "server.address": "10.20.0.3",
                                   "server.port": 5432})


# ================================================================ Pub/Sub push -> Cloud Run
# The publisher: cloud.google.com/go/pubsub with ClientConfig.EnableOpenTelemetryTracing,
# read in googleapis/google-cloud-go pubsub/trace.go and topic.go: per message a
# "<topic> create" PRODUCER in the caller's context (messaging.system gcp_pubsub,
# messaging.destination.name the topic id, gcp.project_id, code.function Publish,
# messaging.message.body.size; messaging.message.id once the Publish RPC returned, which is
# when it ends), INTERNAL children "publisher flow control" and "publisher batching", its
# context injected as the message attribute googclient_traceparent; the bundler's
# "<topic> publish" (no kind, a root) links every create span of the bundle and each links
# back to it.
# A push subscription POSTs {"message": {"attributes": {...}, "data", "messageId",
# "publishTime"}, "subscription": "projects/<p>/subscriptions/<s>"} to the endpoint, with
# User-Agent APIs-Google; the request passes Google's front end, which opens a span of its
# own and hands the container a traceparent naming it (_front_end).
# The subscriber: einride/cloudrunner-go, a Cloud Run service framework. httpserver.go
# (NewHTTPServer) chains otelTraceMiddleware.PubsubTraceExtractor, then otelhttp.NewHandler
# (span name "<method> <pattern>", httpSpanName), then the handler. cloudotel/
# tracemiddleware.go (EnablePubsubTracing, off by default; propagatePubsubTracing /
# injectTracingFromPubsubMsg: the body parsed as a push payload, the context extracted from
# the message attributes with pubsub.NewMessageCarrierFromPB, i.e. googclient_traceparent)
# and its test TestPubsubTraceExtractor ("pubsub message extracts trace context and sets
# traceparent header"; "no-op when disabled"): with it on, otelhttp's SERVER span is the
# child of the message's create span; off, of the front end's span.
def _go_publish(b: SpanSet, service: str, topic: str, parent: SpanRef, t: float,
                mid: str) -> SpanRef:
    """One message published to ``topic`` at ``t``, its bundle sent 10 ms later (an 8 ms
    Publish RPC). Returns the create span."""
    end = t + 18.3
    c = b.span(service, f"{topic} create", kind="PRODUCER", parent=parent, start_ms=t,
               dur_ms=end - t,
               attrs={"messaging.system": "gcp_pubsub", "messaging.destination.name": topic,
                      "gcp.project_id": PROJECT, "code.function": "Publish",
                      "messaging.message.id": mid, "messaging.message.body.size": 212})
    b.span(service, "publisher flow control", parent=c, start_ms=t + 0.05, dur_ms=0.02)
    b.span(service, "publisher batching", parent=c, start_ms=t + 0.1, dur_ms=9.9)
    rpc = b.span(service, f"{topic} publish", start_ms=t + 10, dur_ms=8, links=[c],
                 attrs={"messaging.system": "gcp_pubsub", "messaging.destination.name": topic,
                        "gcp.project_id": PROJECT, "messaging.batch.message_count": 1,
                        "code.function": "publishMessageBundle"})
    _span(b, c).links.append((rpc, {"messaging.operation.name": "publish"}))
    return c


def _otelhttp_server(b: SpanSet, service: str, host: str, route: str, parent: SpanRef,
                     t: float, dur: float, code: int = 200) -> SpanRef:
    """go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp's SERVER span (semconv
    1.26 names), named by cloudrunner's httpSpanName."""
    return b.span(service, f"POST {route}", kind="SERVER", parent=parent, start_ms=t,
                  dur_ms=dur, status="ERROR" if code >= 500 else "UNSET",
                  attrs={"http.request.method": "POST", "url.scheme": "https",
                         "url.path": route, "server.address": host,
                         "network.protocol.version": "1.1",
                         "user_agent.original": "APIs-Google; (+https://developers.google.com"
                                                "/webmasters/APIs-Google.html)",
                         "http.response.status_code": code})


FULFIL_HOST = "fulfilment-7x2k3qhbfa-ew.a.run.app"


def test_pubsub_push_extracted_by_cloudrunner_is_a_delivery_of_the_create_span():
    """cloudrunner-go with EnablePubsubTracing on: its PubsubTraceExtractor reads the pushed
    message's googclient_traceparent, so otelhttp's SERVER span, naming no messaging
    attribute, is the child of the message's create span in the publisher's trace. That
    span is the message's delivery (a publish nothing else consumed, its child in another
    service: analyzer_pushed): one delivery per message joined by context, queued from
    the end of the create span (which ends with the Publish RPC) to the push, one flow per
    order entered at orders, holding the fulfilment, and no anomaly.
    Source: einride/cloudrunner-go cloudotel/tracemiddleware.go (TestPubsubTraceExtractor,
    "pubsub message extracts trace context and sets traceparent header"), httpserver.go;
    googleapis/google-cloud-go pubsub/trace.go (the create span, googclient_traceparent)."""
    b = SpanSet()
    roots = []
    for i in range(N):
        t = i * 20_000
        root = b.span("orders", "POST /orders", kind="SERVER", start_ms=t, dur_ms=4,
                      attrs={"http.request.method": "POST", "http.route": "/orders",
                             "http.response.status_code": 202})
        roots.append(root)
        c = _go_publish(b, "orders", "order-events", root, t + 1, f"1390{i}7704412")
        srv = _otelhttp_server(b, "fulfilment", FULFIL_HOST, "/pubsub/order-events", c,
                               t + 45, 14)
        _pg(b, "fulfilment", srv, t + 48, "shipments")
    st = b.store()
    a = _analysed(st, {
        "service:orders->topic:order-events": ("publish", N),
        "topic:order-events->service:fulfilment": ("consume", N),
        "service:fulfilment->external:postgresql": ("call", N),
    }, ["topic:order-events->service:fulfilment"])
    push = a.edge("topic:order-events->service:fulfilment")
    assert push["queue_p50_ms"] == 25.7  # the push at t+45, the create span's end at t+19.3
    assert push["p50_ms"] == 14
    assert _systems(a) == {"topic:order-events": "gcp_pubsub"}
    flows = [(f["entry_service"], f["count"]) for f in a.flows]
    assert flows == [("orders", N)], flows
    assert _services_in(st, roots[0].trace_id) == {"orders", "fulfilment"}
    flow = flow_for_trace(st, roots[0].trace_id)
    push_span = next(s for s in flow["spans"] if s["name"] == "POST /pubsub/order-events")
    assert push_span["queue_wait_ms"] == 25.7
    hops = {g["hop"] for g in flow["critical_path_segments"]}
    assert "topic:order-events->service:fulfilment" in hops, hops


@pytest.mark.parametrize("gen", ["cloudrunner", "functions-framework"])
def test_pubsub_push_without_extraction_starts_under_the_front_end_span(gen: str):
    """The same pushes without anything reading the message's googclient_traceparent:
    cloudrunner-go with EnablePubsubTracing off (the default), or a Cloud Functions gen2
    function (an Eventarc Pub/Sub trigger) on the Python Functions Framework with
    opentelemetry-instrumentation-flask, whose only spans are Flask's (the framework mounts
    a CloudEvent function at "/" for POST and reads X-Cloud-Trace-Context only to label its
    logs). The SERVER span's parent is the front end's span, never exported, in a trace of
    its own. Nothing ties the push to the topic: no delivery is invented, the push traces
    are flows of their own, the orders' flows hold only orders; at most the publishes are
    reported unconsumed.
    Source: einride/cloudrunner-go cloudotel/tracemiddleware.go ("no-op when disabled");
    GoogleCloudPlatform/functions-framework-python src/functions_framework/__init__.py
    (create_app: Rule("/", methods=["POST"]) for cloudevent functions) and execution_id.py
    (X-Cloud-Trace-Context parsed for log fields only); lynn.zone "Opting out of tracing on
    GCP" (Cloud Run and Cloud Functions inject the traceparent of their own span)."""
    b = SpanSet()
    for i in range(N):
        t = i * 20_000
        root = b.span("orders", "POST /orders", kind="SERVER", start_ms=t, dur_ms=4,
                      attrs={"http.request.method": "POST", "http.route": "/orders",
                             "http.response.status_code": 202})
        c = _go_publish(b, "orders", "order-events", root, t + 1, f"1390{i}7704412")
        gfe = _front_end(b.new_trace(), i)
        if gen == "cloudrunner":
            srv = _otelhttp_server(b, "fulfilment", FULFIL_HOST, "/pubsub/order-events", gfe,
                                   t + 45, 14)
        else:
            srv = b.span("fulfilment", "POST /", kind="SERVER", parent=gfe, start_ms=t + 45,
                         dur_ms=14, attrs={
                             "http.method": "POST", "http.server_name": "0.0.0.0",
                             "http.scheme": "http", "net.host.port": 8080,
                             "http.host": "fulfilment-fn-7x2k3qhbfa-ew.a.run.app",
                             "http.target": "/", "http.route": "/", "http.flavor": "1.1",
                             "http.user_agent": "APIs-Google; (+https://developers.google."
                                                "com/webmasters/APIs-Google.html)",
                             "http.status_code": 200})
        _pg(b, "fulfilment", srv, t + 48, "shipments")
        assert c.trace_id != srv.trace_id
    st = b.store()
    a = analyze(st)
    assert _edges(a) == {
        "service:orders->topic:order-events": ("publish", N),
        "service:fulfilment->external:postgresql": ("call", N),
    }, gen
    assert {x["type"] for x in a.anomalies} <= {"published_never_consumed"}, gen
    flows = sorted((f["entry_service"], f["count"], f["traces_per_flow"]) for f in a.flows)
    assert flows == [("fulfilment", N, 1.0), ("orders", N, 1.0)], (gen, flows)


# ================================================================ Cloud Tasks -> Cloud Run
# The client: google-cloud-tasks (Java, gRPC transport) under the OpenTelemetry Java agent,
# whose grpc-1.6 instrumentation (open-telemetry/opentelemetry-java-instrumentation,
# instrumentation/grpc-1.6/library/.../TracingClientInterceptor.java, GrpcRpcAttributesGetter,
# internal/GrpcClientNetworkAttributesGetter) makes CreateTask a CLIENT span
# "google.cloud.tasks.v2.CloudTasks/CreateTask" with rpc.system grpc, rpc.service,
# rpc.method, rpc.grpc.status_code and the channel's authority as server.address/port. Its
# context goes into the gRPC metadata of the CreateTask call, not into the task: Cloud Tasks
# dispatches an HTTP target task later, as a request of its own. Apps that want the trace to
# go on put a traceparent (or an X-Cloud-Trace-Context) among the task's httpRequest.headers
# (googleapis/nodejs-pubsub issue #1068: "setting the 'traceparent' property in the header
# to allow the tracing between app services and cloud tasks"); the front end of the Cloud
# Run target then opens its span under it and passes the container a traceparent naming its
# own span: the handler's SERVER span is in the creating request's trace, its parent a span
# never exported (last9.io "Fixing broken traces in GCP Cloud Run": "The ParentSpanId is
# there. It just references a span that was never exported"). A handler answering 5xx is
# retried with backoff: each attempt is a request of its own, with the same task headers.
CLOUD_TASKS = {"rpc.system": "grpc", "rpc.service": "google.cloud.tasks.v2.CloudTasks",
               "rpc.method": "CreateTask", "rpc.grpc.status_code": 0,
               "server.address": "cloudtasks.googleapis.com", "server.port": 443}


@pytest.mark.parametrize("headers", [True, False])
def test_cloud_tasks_http_task_runs_under_the_front_end_span(headers: bool):
    """The signup API creates a welcome-email task per signup (the Java agent's gRPC CLIENT
    span to cloudtasks.googleapis.com). Cloud Tasks dispatches it 300 ms later to the mailer
    on Cloud Run; the first attempt fails (500), the retry 1.1 s later succeeds and writes
    the outbox row. With the traceparent in the task's headers both attempts' SERVER spans
    are in the signup's trace under a front-end span nobody exported: one flow per signup,
    entered at the API, holding the mailer; without it each attempt is a trace of its own.
    A call to Cloud Tasks per signup, the mailer's database calls, no anomaly either way
    (a SERVER span whose parent is missing is no broken context).
    Source: opentelemetry-java-instrumentation instrumentation/grpc-1.6 (the CLIENT span);
    googleapis/nodejs-pubsub issue #1068 and last9.io's Cloud Run trace propagation post
    (the task's header, the front end's span)."""
    b = SpanSet()
    roots = []
    for i in range(N):
        t = i * 5_000
        root = b.span("signup-api", "POST /signup", kind="SERVER", start_ms=t, dur_ms=60,
                      attrs={"http.request.method": "POST", "http.route": "/signup",
                             "url.scheme": "https", "http.response.status_code": 202})
        roots.append(root)
        b.span("signup-api", "google.cloud.tasks.v2.CloudTasks/CreateTask", kind="CLIENT",
               parent=root, start_ms=t + 8, dur_ms=35, attrs=CLOUD_TASKS)
        for k, (s, code) in enumerate([(300, 500), (1_400, 200)]):
            trace = root.trace_id if headers else b.new_trace()
            srv = b.span("mailer", "POST /tasks/welcome-email", kind="SERVER",
                         parent=_front_end(trace, 10 * i + k), start_ms=t + s, dur_ms=40,
                         status="ERROR" if code >= 500 else "UNSET",
                         attrs={"http.request.method": "POST",
                                "http.route": "/tasks/welcome-email", "url.scheme": "https",
                                "user_agent.original": "Google-Cloud-Tasks",
                                "http.response.status_code": code})
            if code == 200:
                _pg(b, "mailer", srv, t + s + 5, "outbox")
    st = b.store()
    a = _analysed(st, {
        "service:signup-api->external:cloudtasks.googleapis.com": ("call", N),
        "service:mailer->external:postgresql": ("call", N),
    }, [])
    flows = sorted((f["entry_service"], f["count"], f["traces_per_flow"]) for f in a.flows)
    if headers:
        assert flows == [("signup-api", N, 1.0)], flows
        assert _services_in(st, roots[0].trace_id) == {"signup-api", "mailer"}
        f = a.flows[0]
        assert f["e2e_p50_ms"] == 1_440  # (from the signup to the retry's end)
    else:
        # (the failed attempts and the retries: two shapes of the mailer's trace)
        assert flows == [("mailer", N, 1.0), ("mailer", N, 1.0), ("signup-api", N, 1.0)], \
            flows


# ======================================================== Cloud Run service to Cloud Run
# Not supported (left alone): Cloud Run's front end puts an unexported span between a client
# span and the server span it reaches; the client then reads as a call to the run.app host,
# the server span as a root of its own call. Pairing them needs a rule on missing parents.


# ============================================================ AWS Lambda: SQS event source
# The Java agent (or the opentelemetry-lambda Java wrapper) on a handler of SQSEvent, read in
# open-telemetry/opentelemetry-java-instrumentation, instrumentation/aws-lambda/
# aws-lambda-events-common-2.2/library/.../internal/: AwsLambdaSqsInstrumenterFactory (the
# batch span forEvent, always CONSUMER; the per-record span forMessage, for handlers built on
# SqsMessageHandler), SqsEventAttributesGetter (old conventions: name "<eventSource>
# process", i.e. "aws:sqs process", no destination, no batch count; stable conventions,
# otel.semconv-stability.opt-in=messaging: name "process <queue>", the queue all records
# share as messaging.destination.name, messaging.batch.message_count), SqsEventSpanLinks-
# Extractor (a link to each record's AWSTraceHeader context; stable: with
# messaging.message.id on the link, SqsEventRecordAttributes), SqsMessageAttributesGetter
# (a record span names its queue, the eventSourceARN's last part, and the message id),
# SqsAttributesGetter (system aws_sqs) and, in instrumentation-api-incubator,
# MessagingProcessInstrumenterFactory (receive instrumentation on: the record span's parent
# is the batch span, its link the record's creation context). Under them the function's
# SERVER span (faas.invocation_id, cloud.resource_id, cloud.account.id).
# The producer: the Java agent's aws-sdk-2.2 SQS SendMessage, "<queue> publish" PRODUCER
# (old names), its context put in the AWSTraceHeader system attribute (SqsImpl).
SQS_HOST = f"sqs.{REGION}.amazonaws.com"


def _java_sqs_send(b: SpanSet, service: str, parent: SpanRef, queue: str, t: float,
                   mid: str) -> SpanRef:
    return b.span(service, f"{queue} publish", kind="PRODUCER", parent=parent, start_ms=t,
                  dur_ms=24, attrs={
                      "aws.agent": "java-aws-sdk", "rpc.system": "aws-api",
                      "rpc.service": "Sqs", "rpc.method": "SendMessage",
                      "http.request.method": "POST", "http.response.status_code": 200,
                      "url.full": f"https://{SQS_HOST}", "server.address": SQS_HOST,
                      "server.port": 443, "messaging.system": "aws_sqs",
                      "messaging.destination.name": queue, "messaging.operation": "publish",
                      "aws.queue.url": f"https://{SQS_HOST}/{ACCOUNT}/{queue}",
                      "messaging.message.id": mid})


def _lambda_server(b: SpanSet, fn: str, t: float, dur: float, inv: str,
                   parent: SpanRef | None = None) -> SpanRef:
    return b.span(fn, fn, kind="SERVER", parent=parent, start_ms=t, dur_ms=dur,
                  attrs={"faas.invocation_id": inv, "cloud.account.id": ACCOUNT,
                         "cloud.resource_id": f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{fn}"})


def _dynamodb(b: SpanSet, service: str, parent: SpanRef, t: float) -> SpanRef:
    return b.span(service, "DynamoDB.PutItem", kind="CLIENT", parent=parent, start_ms=t,
                  dur_ms=6, attrs={"rpc.system": "aws-api", "rpc.service": "DynamoDB",
                                   "rpc.method": "PutItem", "db.system": "dynamodb",
                                   "aws.table.name": "fulfilments",
                                   "server.address": f"dynamodb.{REGION}.amazonaws.com"})


# batches the event source mapping hands the function: (first message, size)
BATCHES = [(0, 2), (2, 1), (3, 3)]


@pytest.mark.parametrize("semconv", ["old", "stable"])
def test_java_lambda_sqs_batch_span_around_record_spans(semconv: str):
    """Six orders sent to 'orders-queue' by the Java agent (AWSTraceHeader), handed to a
    Java function on the agent in batches of 2, 1 and 3. Per invocation the function's
    SERVER span, in it the batch CONSUMER span linking every record's send (old: "aws:sqs
    process", naming no queue; stable: "process orders-queue" with the queue, the batch
    count and the message id on each link), and in that one CONSUMER span per record (old:
    "aws:sqs process", stable: "process orders-queue"; both naming the queue and the
    message id) linking its send, the handler's DynamoDB write in it. Each record's span is
    its delivery (six, 14 ms each), the batch span the envelope around them, not six more:
    one queue, every delivery joined by context, no anomaly.
    Source: opentelemetry-java-instrumentation instrumentation/aws-lambda/
    aws-lambda-events-common-2.2 (AwsLambdaSqsInstrumenterFactory, SqsEventAttributesGetter,
    SqsEventSpanLinksExtractor, SqsEventRecordAttributes, SqsMessageAttributesGetter) and
    instrumentation-api-incubator MessagingProcessInstrumenterFactory."""
    queue, fn = "orders-queue", "fulfil-fn"
    b = SpanSet()
    sends = []
    for i in range(6):
        t = i * 40
        root = b.span("orders", "POST /orders", kind="SERVER", start_ms=t, dur_ms=40,
                      attrs={"http.request.method": "POST", "http.route": "/orders",
                             "http.response.status_code": 202})
        mid = f"5f0c{i}e2a-91d4-4c1b-a6f3-0b8e4d2c7a1{i}"
        sends.append((_java_sqs_send(b, "orders", root, queue, t + 5, mid), mid))
    for k, (first, size) in enumerate(BATCHES):
        t = 400 + k * 300
        recs = sends[first:first + size]
        server = _lambda_server(b, fn, t, 60, f"inv-{k}")
        if semconv == "old":
            base = {"messaging.system": "aws_sqs", "messaging.operation": "process"}
            batch = b.span(fn, "aws:sqs process", kind="CONSUMER", parent=server,
                           start_ms=t + 1, dur_ms=58, attrs=base,
                           links=[s for s, _ in recs])
        else:
            base = {"messaging.system": "aws_sqs", "messaging.operation.type": "process",
                    "messaging.operation.name": "process",
                    "messaging.destination.name": queue}
            batch = b.span(fn, f"process {queue}", kind="CONSUMER", parent=server,
                           start_ms=t + 1, dur_ms=58,
                           attrs={**base, "messaging.batch.message_count": size},
                           links=[(s, {"messaging.message.id": m}) for s, m in recs])
        for j, (s, mid) in enumerate(recs):
            name = "aws:sqs process" if semconv == "old" else f"process {queue}"
            rec = b.span(fn, name, kind="CONSUMER", parent=batch, start_ms=t + 2 + j * 15,
                         dur_ms=14, links=[s],
                         attrs={**base, "messaging.destination.name": queue,
                                "messaging.message.id": mid})
            _dynamodb(b, fn, rec, t + 4 + j * 15)
    st = b.store()
    delivery = f"topic:{queue}->service:{fn}"
    a = _analysed(st, {
        f"service:orders->topic:{queue}": ("publish", 6),
        delivery: ("consume", 6),
        f"service:{fn}->external:dynamodb": ("call", 6),
    }, [delivery])
    consume = a.edge(delivery)
    assert (consume["message_count"], consume["p50_ms"]) == (6, 14), semconv
    assert _systems(a) == {f"topic:{queue}": "aws_sqs"}, semconv
    assert edge_detail(st, delivery)["count"] == 6


# The Python function: opentelemetry-instrumentation-aws-lambda (open-telemetry/
# opentelemetry-python-contrib, instrumentation/opentelemetry-instrumentation-aws-lambda/src/
# opentelemetry/instrumentation/aws_lambda/_sqs.py): _run_sqs_handler runs the handler in a
# CONSUMER "process <queue>" span (messaging.system aws_sqs, messaging.destination.name,
# messaging.operation.type process, messaging.batch.message_count above one record) linking
# each record whose messageAttributes carry a context, the link naming the record's
# messageId. A handler that reports partial batch failures (ReportBatchItemFailures)
# returns {"batchItemFailures": [...]} normally: nothing on the span says it; the failed
# records become visible again after the visibility timeout and come in a later batch,
# with the same message attributes. The producer: @opentelemetry/instrumentation-aws-sdk
# (Node, services/sqs.ts): "<queue> send" PRODUCER, its context in MessageAttributes.
def _node_sqs_send(b: SpanSet, service: str, parent: SpanRef, queue: str, t: float,
                   mid: str) -> SpanRef:
    return b.span(service, f"{queue} send", kind="PRODUCER", parent=parent, start_ms=t,
                  dur_ms=22, attrs={
                      "rpc.system": "aws-api", "rpc.service": "SQS",
                      "rpc.method": "SendMessage", "cloud.region": REGION,
                      "messaging.system": "aws_sqs", "messaging.destination.name": queue,
                      "url.full": f"https://{SQS_HOST}/{ACCOUNT}/{queue}",
                      "messaging.message.id": mid, "http.status_code": 200})


def test_python_lambda_sqs_partial_batch_failure_delivers_the_failed_record_again():
    """Three rounds of three orders sent to 'order-events' (Node SDK, traceparent in the
    message attributes), each round handed to a Python function as one batch; the handler
    fails the middle record and reports it in batchItemFailures (the invocation itself
    succeeds). 30 s later, after the visibility timeout, the record comes back alone in a
    batch of its own and is processed. Six process spans (one per invocation) linking
    twelve records: six deliveries, all joined by context, and three messages delivered a
    second time (a redelivery each, no lost context); the handler's writes: the records
    that succeeded.
    Source: open-telemetry/opentelemetry-python-contrib, instrumentation/opentelemetry-
    instrumentation-aws-lambda/src/opentelemetry/instrumentation/aws_lambda/_sqs.py
    (_run_sqs_handler, _get_sqs_span_links); open-telemetry/opentelemetry-js-contrib
    packages/instrumentation-aws-sdk/src/services/sqs.ts (the sends)."""
    queue, fn = "order-events", "notify-fn"
    b = SpanSet()
    sends = []
    for i in range(3 * N):
        t = (i // 3) * 60_000 + (i % 3) * 40
        root = b.span("orders", "POST /orders", kind="SERVER", start_ms=t, dur_ms=35,
                      attrs={"http.method": "POST", "http.target": "/orders",
                             "http.route": "/orders", "http.status_code": 202})
        mid = f"7d1e{i}b40-2c55-4f0e-9a7b-61c3e8f5d2a{i}"
        sends.append((mid, _node_sqs_send(b, "orders", root, queue, t + 6, mid)))
    attrs = {"messaging.system": "aws_sqs", "messaging.destination.name": queue,
             "messaging.operation.type": "process"}
    for r in range(N):
        t = r * 60_000 + 400
        recs = sends[3 * r:3 * r + 3]
        server = _lambda_server(b, fn, t, 60, f"inv-{r}a")
        proc = b.span(fn, f"process {queue}", kind="CONSUMER", parent=server,
                      start_ms=t + 1, dur_ms=57,
                      attrs={**attrs, "messaging.batch.message_count": 3},
                      links=[(ctx, {"messaging.message.id": mid}) for mid, ctx in recs])
        for j in (0, 2):  # (the middle record failed)
            _dynamodb(b, fn, proc, t + 5 + j * 15)
        t2 = t + 30_000
        mid, ctx = recs[1]
        server = _lambda_server(b, fn, t2, 30, f"inv-{r}b")
        proc = b.span(fn, f"process {queue}", kind="CONSUMER", parent=server,
                      start_ms=t2 + 1, dur_ms=27, attrs=attrs,
                      links=[(ctx, {"messaging.message.id": mid})])
        _dynamodb(b, fn, proc, t2 + 5)
    st = b.store()
    delivery = f"topic:{queue}->service:{fn}"
    a = _analysed(st, {
        f"service:orders->topic:{queue}": ("publish", 3 * N),
        delivery: ("consume", 2 * N),
        f"service:{fn}->external:dynamodb": ("call", 3 * N),
    }, [delivery], anomalies=[("redelivery", delivery, N)])
    consume = a.edge(delivery)
    assert (consume["message_count"], consume["batch_deliveries"]) == (4 * N, N)


# ============================================ AWS: SNS -> SQS -> Lambda, raw delivery on/off
# The publisher: @opentelemetry/instrumentation-aws-sdk (open-telemetry/opentelemetry-js-
# contrib, packages/instrumentation-aws-sdk/src/services/sns.ts): Publish is a PRODUCER
# "<topic name> send" (messaging.system aws.sns, messaging.destination_kind topic,
# messaging.destination the name, messaging.destination.name and aws.sns.topic.arn the ARN),
# its context injected into the SNS MessageAttributes. SNS copies the message attributes
# onto the SQS message only for a subscription with raw message delivery; otherwise they stay
# inside the JSON envelope that is the SQS body.
# The functions: @opentelemetry/instrumentation-aws-lambda (packages/instrumentation-aws-
# lambda/src/instrumentation.ts): the SERVER span named after the function (faas.execution,
# faas.id, cloud.account.id, faas.coldstart), a root (the default eventContextExtractor reads
# event.headers, which an SQS event has not); _startSqsProcessSpan: a CONSUMER
# "<queue> process" (faas.trigger pubsub, messaging.operation.type process, messaging.system
# aws_sqs, messaging.destination.name, messaging.batch.message_count, url.full) whose links
# come from _extractSqsSpanLinks: only records whose messageAttributes hold a propagation
# field (the body is never read).
def _sns_publish(b: SpanSet, service: str, parent: SpanRef, arn: str, t: float) -> SpanRef:
    name = arn.rsplit(":", 1)[-1]
    return b.span(service, f"{name} send", kind="PRODUCER", parent=parent, start_ms=t,
                  dur_ms=30, attrs={
                      "rpc.system": "aws-api", "rpc.service": "SNS", "rpc.method": "Publish",
                      "cloud.region": REGION, "messaging.system": "aws.sns",
                      "messaging.destination_kind": "topic", "messaging.destination": name,
                      "messaging.destination.name": arn, "aws.sns.topic.arn": arn,
                      "aws.request.id": f"req-{t}", "http.status_code": 200})


def _node_lambda_sqs(b: SpanSet, fn: str, queue: str, t: float, dur: float,
                     links: list[SpanRef], count: int, cold: bool) -> SpanRef:
    server = b.span(fn, fn, kind="SERVER", start_ms=t, dur_ms=dur,
                    attrs={"faas.execution": f"{fn}-{t}", "cloud.account.id": ACCOUNT,
                           "faas.id": f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{fn}",
                           "faas.coldstart": cold})
    return b.span(fn, f"{queue} process", kind="CONSUMER", parent=server, start_ms=t + 0.4,
                  dur_ms=dur - 0.8, links=links,
                  attrs={"faas.trigger": "pubsub", "messaging.operation.type": "process",
                         "messaging.system": "aws_sqs", "messaging.destination.name": queue,
                         "messaging.batch.message_count": count,
                         "url.full": f"https://{SQS_HOST}/{ACCOUNT}/{queue}"})


def test_sns_fan_out_to_lambdas_raw_delivery_on_for_one_queue_off_for_the_other():
    """checkout publishes each order to the SNS topic 'order-events'; two SQS queues
    subscribe to it, each triggering a Node function: 'billing-orders' with raw message
    delivery (the traceparent reaches the SQS message attributes: billing-fn's process span
    links the publish) and 'audit-orders' without (the attributes stay in the body's
    envelope: audit-fn's process span links nothing). The topic is one node (by its name, at
    the end of its ARN), routed to billing-orders; billing's deliveries are joined by context; audit's cannot be
    (a queue with no producer seen: consumer without producer, naming the SNS topic it may
    have come from), and the topic is consumed,
    so its publishes are not reported as never consumed. One flow per order holds the
    billing function.
    Source: open-telemetry/opentelemetry-js-contrib packages/instrumentation-aws-sdk/src/
    services/sns.ts; packages/instrumentation-aws-lambda/src/instrumentation.ts
    (_startSqsProcessSpan, _extractSqsSpanLinks, _defaultEventContextExtractor)."""
    arn = f"arn:aws:sns:{REGION}:{ACCOUNT}:order-events"
    b = SpanSet()
    roots = []
    for i in range(N):
        t = i * 500
        root = b.span("checkout", "POST /orders", kind="SERVER", start_ms=t, dur_ms=50,
                      attrs={"http.method": "POST", "http.target": "/orders",
                             "http.route": "/orders", "http.status_code": 201})
        roots.append(root)
        pub = _sns_publish(b, "checkout", root, arn, t + 10)
        proc = _node_lambda_sqs(b, "billing-fn", "billing-orders", t + 90, 40, [pub], 1,
                                cold=i == 0)
        _dynamodb(b, "billing-fn", proc, t + 95)
        _node_lambda_sqs(b, "audit-fn", "audit-orders", t + 97, 25, [], 1, cold=i == 0)
    st = b.store()
    topic = "topic:order-events"  # (by its name: the end of its ARN)
    billing = "topic:billing-orders->service:billing-fn"
    audit = "topic:audit-orders->service:audit-fn"
    a = _analysed(st, {
        f"service:checkout->{topic}": ("publish", N),
        f"{topic}->topic:billing-orders": ("route", N),
        billing: ("consume", N),
        audit: ("consume", N),
        "service:billing-fn->external:dynamodb": ("call", N),
    }, [billing], anomalies=[("consumer_without_producer", audit, N)])
    assert a.edge(audit)["joined_by"] == {"context": 0, "message_id": 0, "none": N, "outside": 0}
    # (the anomaly names the SNS topic the queue is most likely subscribed to)
    (orphan,) = a.anomalies
    assert orphan["maybe_from"] == [topic]
    assert _systems(a) == {topic: "aws.sns", "topic:billing-orders": "aws_sqs",
                           "topic:audit-orders": "aws_sqs"}
    assert "billing-fn" in _services_in(st, roots[0].trace_id)
    order = [f for f in a.flows if f["entry_service"] == "checkout"]
    assert [(f["count"], f["traces_per_flow"]) for f in order] == [(N, 2.0)]
