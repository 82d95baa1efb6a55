"""Span shapes of traces that pass through data pipelines or arrive converted from AWS
X-Ray, each read from the real source: Redpanda Connect / Benthos' built-in tracer
(extract_tracing_map, inject_tracing_map), the OpenTelemetry Collector's own obsreport
spans when it carries telemetry over Kafka, and X-Ray SDK segments turned into OTLP by the
Collector's awsxrayreceiver. Each test builds exactly the spans those components export
for a small scenario and checks what the analyzer makes of them."""

from __future__ import annotations

from typing import Any

import pytest

from analyzer import analyze, edge_detail
from tests.analysis_checks import analysed as _analysed
from tests.analysis_checks import analysed_each as _analysed_each
from tests.analysis_checks import edges_of as _edges
from tests.analysis_checks import flows_of as _flows
from tests.analysis_checks import systems_of as _systems
from tests.builders import SpanRef, SpanSet

N = 3


# ===================================================================== Benthos / Connect
# redpanda-data/benthos internal/tracing/otel.go (and v2/otel.go): every span is started by
# prov.Tracer("redpanda-connect"|"benthos").Start(ctx, operationName) with no span kind
# (INTERNAL) and no attribute at all.
#  - input: internal/component/input/async_reader.go, traceName "input_" + typeStr,
#    tracing.InitSpans per message of each read batch (a new root, unless the message
#    already carries a recording span), ended by FinishSpans only when the batch is acked,
#    i.e. after the output has delivered it: the input span lasts the whole pipeline.
#    With extract_tracing_map (public/service/config_extract_tracing.go, and the `kafka`
#    input's own copy in redpanda-data/connect internal/impl/kafka/input_sarama_kafka.go ->
#    span.NewBatchInput("kafka", ...)) the span "input_kafka" is started as a child of the
#    context extracted from the message's metadata (its Kafka headers: `root = @`);
#    AsyncReader's InitSpans then leaves it alone.
#  - processors: internal/component/processor/auto_observed.go, WithChildSpan(typeStr, part)
#    per message ("mapping"), the returned part discarded: the message keeps the input
#    span as its context.
#  - output: internal/component/output/async_writer.go, `_, spans :=
#    tracing.WithChildSpans(w.tracer, "output_" + typeStr, ts.Payload)`: a child span per
#    message, ended after WriteBatch; the parts carrying it are thrown away, so the
#    messages written still carry the input span's context. inject_tracing_map
#    (public/service/config_inject_tracing.go, spanExtractBatchOutput.WriteBatch: span :=
#    GetSpanFromContext(batch[i].Context()); span.TextMap()) therefore writes the input
#    span's traceparent into the outgoing message: the `kafka` output has the field
#    (connect internal/impl/kafka/output_sarama_kafka.go, span.NewBatchOutput("kafka", ...)).
#  - the tracer's resource: connect internal/impl/otlp/tracer_otlp.go, service default
#    "benthos".
def _kafka_send(b: SpanSet, service: str, parent: SpanRef, topic: str, t: float,
                offset: int) -> SpanRef:
    """An application's Kafka publish (the upstream producer of the pipeline)."""
    return b.producer(service, topic, parent=parent, start_ms=t, dur_ms=3,
                      attrs={"messaging.destination.partition.id": "0",
                             "messaging.kafka.offset": offset})


def _benthos_bridge(b: SpanSet, t: float, parent: SpanRef) -> SpanRef:
    """The pipeline's spans for one message read by the `kafka` input with
    extract_tracing_map: its input span (the message's context, lasting until the output
    acked), a mapping processor span and the output span, both its children."""
    inp = b.span("benthos", "input_kafka", parent=parent, start_ms=t, dur_ms=20)
    b.span("benthos", "mapping", parent=inp, start_ms=t + 0.1, dur_ms=0.3)
    b.span("benthos", "output_kafka", parent=inp, start_ms=t + 0.6, dur_ms=18.5)
    return inp


def test_benthos_input_span_under_the_publish_is_its_delivery():
    """A Redpanda Connect pipeline reads the orders topic with extract_tracing_map and
    writes each order to Postgres (the sql_insert output). Its spans are INTERNAL with no
    attribute, but "input_kafka" is the child of the application's publish, which nothing
    else consumed: the message's delivery to the pipeline (analyzer_pushed), joined by
    context, queued from the publish's end to the input span's start, lasting until the
    output acked. One flow per order, entered at the shop; the pipeline calls nobody, and
    there is no anomaly.
    Source: redpanda-data/benthos internal/tracing/otel.go, internal/component/input/
    async_reader.go, processor/auto_observed.go, output/async_writer.go;
    public/service/config_extract_tracing.go (see the comment above)."""
    b = SpanSet()
    for i in range(N):
        t = i * 1000
        root = b.span("shop", "POST /orders", kind="SERVER", start_ms=t, dur_ms=12,
                      attrs={"http.request.method": "POST", "http.route": "/orders"})
        pub = _kafka_send(b, "shop", root, "orders", t + 2, 100 + i)
        inp = b.span("benthos", "input_kafka", parent=pub, start_ms=t + 30, dur_ms=20)
        b.span("benthos", "mapping", parent=inp, start_ms=t + 30.1, dur_ms=0.3)
        b.span("benthos", "output_sql_insert", parent=inp, start_ms=t + 30.6, dur_ms=18.5)
    st = b.store()
    a = _analysed(st, {
        "service:shop->topic:orders": ("publish", N),
        "topic:orders->service:benthos": ("consume", N),
    }, "topic:orders->service:benthos", p50_ms=20)
    assert a.edge("topic:orders->service:benthos")["queue_p50_ms"] == 25  # t+30 - (t+5)
    assert _flows(a) == [("shop", N, 1.0)]


# Not supported (left alone): a consumer whose parent is Benthos' attribute-less input span
# (the output injects the input's context) has no producer.


# ======================================================= OpenTelemetry Collector obsreport
# open-telemetry/opentelemetry-collector receiver/receiverhelper/obsreport.go: startOp
# opens "receiver/<id>/TraceDataReceived" (no kind: INTERNAL) with the attribute
# transport, endOp adds format, accepted_spans, refused_spans, failed_spans. The contrib
# kafkareceiver (receiver/kafkareceiver/kafka_receiver.go, ConsumeClaim) starts it from
# sarama's session.Context() (no span, no header extracted: a root) with transport
# "kafka". exporterhelper's obsReportSender: "exporter/<id>/<signal>" with the attributes
# exporter and data_type, a child of the context the pipeline hands it (the receiver's
# span, with no batch processor and no sending queue). These are the collector's own
# spans about the telemetry it moves; the telemetry itself keeps its own trace ids.
def test_collector_kafka_exporter_and_receiver_obsreport_spans_are_no_messaging():
    """Two collectors chained through Kafka (agent: otlp receiver -> kafka exporter;
    gateway: kafka receiver -> otlp exporter) exporting their own traces beside an
    application's HTTP call: "receiver/otlp/TraceDataReceived" (transport grpc) with its
    child "exporter/kafka/traces" (exporter kafka), and on the gateway a root
    "receiver/kafka/TraceDataReceived" (transport kafka, format otlp_proto) with its child
    "exporter/otlp/traces". None is a messaging span: no topic, no publish, no delivery, no
    anomaly, and the collectors call nobody. Sources: open-telemetry/opentelemetry-
    collector receiver/receiverhelper/obsreport.go, exporter/exporterhelper obs_report
    sender (span name ExporterKey/<id>/<signal>, attributes exporter, data_type);
    open-telemetry/opentelemetry-collector-contrib receiver/kafkareceiver/kafka_receiver.go."""
    b = SpanSet()
    for i in range(N):
        t = i * 1000
        root = b.span("web", "GET /cart", kind="SERVER", start_ms=t, dur_ms=30)
        b.client_call("web", "cart", parent=root, start_ms=t + 3, dur_ms=20,
                      peer={"http.request.method": "GET", "server.address": "cart"},
                      route="/cart")
        rcv = b.span("otelcol-agent", "receiver/otlp/TraceDataReceived", start_ms=t + 200,
                     dur_ms=4, attrs={"transport": "grpc", "format": "protobuf",
                                      "accepted_spans": 3, "refused_spans": 0,
                                      "failed_spans": 0})
        b.span("otelcol-agent", "exporter/kafka/traces", parent=rcv, start_ms=t + 201,
               dur_ms=2.5, attrs={"exporter": "kafka", "data_type": "traces",
                                  "sent_spans": 3, "send_failed_spans": 0})
        grcv = b.span("otelcol-gateway", "receiver/kafka/TraceDataReceived",
                      start_ms=t + 230, dur_ms=6,
                      attrs={"transport": "kafka", "format": "otlp_proto",
                             "accepted_spans": 3, "refused_spans": 0, "failed_spans": 0})
        b.span("otelcol-gateway", "exporter/otlp/traces", parent=grcv, start_ms=t + 231,
               dur_ms=4, attrs={"exporter": "otlp", "data_type": "traces",
                                "sent_spans": 3, "send_failed_spans": 0})
    a = analyze(b.store())
    assert _edges(a) == {"service:web->service:cart": ("call", N)}
    assert not [n for n in a.nodes if n["type"] == "topic"]
    assert not a.anomalies


# ========================================================== AWS X-Ray via awsxrayreceiver
# open-telemetry/opentelemetry-collector-contrib receiver/awsxrayreceiver/internal/
# translator: translator.go (ToTraces/populateSpan: span name = the (sub)segment's name; a
# segment that is no subsegment is a SERVER span; trace id from "1-<8 hex>-<24 hex>";
# an embedded subsegment's parent is its enclosing segment; the resource's service.name is
# the document's name), name.go (a subsegment with namespace "aws" or "remote" is a CLIENT
# span, "aws" also sets aws.service = its name; no namespace: INTERNAL), aws.go
# (addAWSToSpan: only aws.account_id, aws.operation, aws.region, aws.request_id,
# aws.queue_url, aws.table_name, aws.xray.retries), http.go (http.method, http.url,
# http.client_ip, http.user_agent, http.status_code), and internal/aws/xray/
# tracesegment.go (AWSData has no field for the SDKs' topic_arn, message_id,
# function_name or message_count: json.Unmarshal drops them; the segment's links are
# parsed but never converted). No messaging.* and no rpc.* attribute on any span.
# The SDKs' AWS call subsegments:
#  - Python, aws/aws-xray-sdk-python aws_xray_sdk/ext/botocore/patch.py: name = the
#    endpoint prefix ("sqs", "sns"), namespace "aws"; ext/boto_utils.py aws_meta_processor:
#    operation, region, request_id, the whitelisted parameters of ext/resources/
#    aws_para_whitelist.json (SendMessage: queue_url, message_id; Publish: topic_arn) and
#    the HTTP status; inject_header puts "Root=..;Parent=<this subsegment's id>" in the
#    request's X-Amzn-Trace-Id (ext/util.py inject_trace_header), which SQS keeps as the
#    message's AWSTraceHeader.
#  - Java, aws/aws-xray-sdk-java aws-xray-recorder-sdk-aws-sdk-v2 TracingInterceptor:
#    name = SdkExecutionAttribute.SERVICE_NAME ("Sqs"), namespace aws, operation, region,
#    whitelisted parameters (queue_url), retries (0 on the first attempt, +1 per retry),
#    X-Amzn-Trace-Id Parent = the subsegment's id.
#  - Node, aws/aws-xray-sdk-node packages/core/lib/patchers/aws3_p.ts (SDK v3): name = the
#    client's name without "Client" ("SQS", "SNS"); segments/attributes/aws.js builds the
#    aws data from $metadata (retries = attempts, 1 on the first try) and looks the
#    whitelist up by that name (call_capturer.js: the whitelist's keys are "sqs", "sns"),
#    so no parameter, no queue_url, is recorded.
REGION = "eu-west-1"
ACCOUNT = "123456789012"
QUEUE_URL = f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/orders"


def _xray_segment(b: SpanSet, service: str, t: float, dur: float,
                  route: str = "/checkout") -> SpanRef:
    """A web framework middleware's segment (the name is the service's): a SERVER span."""
    return b.span(service, service, kind="SERVER", start_ms=t, dur_ms=dur,
                  attrs={"http.method": "POST", "http.url": f"https://shop.example.com{route}",
                         "http.client_ip": "10.0.3.17", "http.user_agent": "okhttp/4.12.0",
                         "http.status_code": 200})


def _xray_aws_call(b: SpanSet, service: str, name: str, parent: SpanRef, t: float,
                   dur: float, operation: str, **aws: Any) -> SpanRef:
    """An AWS SDK call subsegment as the receiver converts it (namespace aws)."""
    attrs: dict[str, Any] = {"aws.service": name, "aws.operation": operation,
                             "aws.region": REGION, "aws.request_id": f"req-{service}-{t}",
                             "http.status_code": 200}
    attrs.update(aws)
    return b.span(service, name, kind="CLIENT", parent=parent, start_ms=t, dur_ms=dur,
                  attrs=attrs)


def _java_agent_sqs_process(b: SpanSet, service: str, parent: SpanRef, t: float,
                            mid: str) -> SpanRef:
    """The OpenTelemetry Java agent's aws-sdk-2.2 "<queue> process" CONSUMER span (receive
    telemetry off, its default): the child of the context in the message's AWSTraceHeader
    (the agent propagates SQS context the X-Ray way)."""
    return b.span(service, "orders process", kind="CONSUMER", parent=parent, start_ms=t,
                  dur_ms=30, attrs={
                      "aws.agent": "java-aws-sdk", "rpc.system": "aws-api",
                      "rpc.service": "Sqs", "rpc.method": "ReceiveMessage",
                      "messaging.system": "aws_sqs", "messaging.destination.name": "orders",
                      "messaging.operation": "process", "messaging.message.id": mid,
                      "server.address": f"sqs.{REGION}.amazonaws.com", "server.port": 443})


@pytest.mark.parametrize("sdk", ["python", "java"])
def test_xray_sdk_sqs_send_is_a_publish_joined_to_its_otel_consumer(sdk: str):
    """A checkout service instrumented with an X-Ray SDK (Python's botocore patch, or Java's
    AWS SDK v2 TracingInterceptor) sends one SQS message per order; the receiver turns the
    call into a CLIENT span "sqs" / "Sqs" with aws.service, aws.operation SendMessage and
    aws.queue_url, no messaging or rpc attribute. The fulfilment worker runs the Java
    agent: its "orders process" span is the child of that span (the SDK put the
    subsegment's id in X-Amzn-Trace-Id, SQS kept it as AWSTraceHeader). The send is a
    publish to the queue the URL names: each order published and consumed once, joined by
    context, 43 ms in the queue. Sources: see the X-Ray block above; the consumer, open-
    telemetry/opentelemetry-java-instrumentation aws-sdk-2.2 (tests/test_analyzer_java_
    round2.py reads it)."""
    b = SpanSet()
    name = {"python": "sqs", "java": "Sqs"}[sdk]
    for i in range(N):
        t = i * 200
        seg = _xray_segment(b, "checkout", t, 30)
        extra: dict[str, Any] = {"aws.queue_url": QUEUE_URL}
        if sdk == "java":
            extra["aws.xray.retries"] = 0
        send = _xray_aws_call(b, "checkout", name, seg, t + 5, 12, "SendMessage", **extra)
        proc = _java_agent_sqs_process(b, "fulfilment", send, t + 60, f"msg-{sdk}-{i}")
        b.span("fulfilment", "INSERT shipments", kind="CLIENT", parent=proc,
               start_ms=t + 65, dur_ms=8, attrs={"db.system": "postgresql"})
    st = b.store()
    a = _analysed(st, {
        "service:checkout->topic:orders": ("publish", N),
        "topic:orders->service:fulfilment": ("consume", N),
        "service:fulfilment->external:postgresql": ("call", N),
    }, "topic:orders->service:fulfilment", p50_ms=30.0)
    assert _systems(a) == {"topic:orders": "aws_sqs"}
    assert a.edge("topic:orders->service:fulfilment")["queue_p50_ms"] == 43.0
    assert _flows(a) == [("checkout", N, 1.0)]
    assert edge_detail(st, "service:checkout->topic:orders")["count"] == N


def test_xray_sends_linked_by_a_java_lambda_batch_consumer():
    """Six orders sent with the Java X-Ray SDK (a "Sqs" CLIENT span each, aws.queue_url,
    aws.xray.retries 0; the last one retried once: aws.xray.retries 1, still one send);
    a Lambda running the Java agent consumes them in three batches of 2, 1 and 3 records:
    its SERVER span, under it a CONSUMER "aws:sqs process" (messaging.system AmazonSQS, no
    queue) linking each record's AWSTraceHeader context, i.e. the X-Ray send spans. Three
    deliveries of six messages, each joined by its link; no anomaly. Sources: aws/aws-xray-
    sdk-java aws-xray-recorder-sdk-aws-sdk-v2 TracingInterceptor (beforeTransmission counts
    retries); open-telemetry/opentelemetry-java-instrumentation awslambdaevents
    common/v2_2/internal/SqsMessageSpanLinksExtractor.java (AwsXrayPropagator on
    AWSTraceHeader, a link per record)."""
    b = SpanSet()
    sends = []
    for i in range(6):
        t = i * 40
        seg = _xray_segment(b, "checkout", t, 30)
        sends.append(_xray_aws_call(b, "checkout", "Sqs", seg, t + 5, 12, "SendMessage",
                                    **{"aws.queue_url": QUEUE_URL,
                                       "aws.xray.retries": 1 if i == 5 else 0}))
    for k, (first, size) in enumerate([(0, 2), (2, 1), (3, 3)]):
        t = 400 + k * 300
        fn = b.span("notify-fn", "notify-fn", kind="SERVER", start_ms=t, dur_ms=60,
                    attrs={"faas.invocation_id": f"inv-{k}", "cloud.account.id": ACCOUNT})
        b.span("notify-fn", "aws:sqs process", kind="CONSUMER", parent=fn, start_ms=t + 1,
               dur_ms=57, links=sends[first:first + size],
               attrs={"messaging.system": "AmazonSQS", "messaging.operation": "process"})
    st = b.store()
    a = _analysed_each(st, {
        "service:checkout->topic:orders": ("publish", 6),
        "topic:orders->service:notify-fn": ("consume", 3),
    }, ["topic:orders->service:notify-fn"])
    consume = a.edge("topic:orders->service:notify-fn")
    assert (consume["message_count"], consume["batch_deliveries"]) == (6, 2)
    assert _systems(a) == {"topic:orders": "aws_sqs"}
    detail = edge_detail(st, "topic:orders->service:notify-fn")
    assert (detail["count"], detail["message_count"]) == (3, 6)


@pytest.mark.parametrize("sdk", ["node-v3-sqs", "python-sns"])
def test_xray_publish_whose_destination_the_conversion_lost(sdk: str):
    """Two X-Ray publishes that reach OTLP naming no destination: Node's SDK v3 middleware
    records no parameter at all for a SendMessage (a "SQS" CLIENT span, aws.operation
    SendMessage, aws.xray.retries 1 on its first attempt), and Python's SNS Publish records
    topic_arn, which the receiver's AWSData drops (an "sns" CLIENT span, aws.operation
    Publish). Each is still a publish of that messaging system, to a destination nothing
    names, and no call to an "SQS"/"sns" peer. Sources: aws/aws-xray-sdk-node packages/
    core/lib/patchers/aws3_p.ts, lib/segments/attributes/aws.js, lib/patchers/
    call_capturer.js; aws/aws-xray-sdk-python aws_xray_sdk/ext/boto_utils.py,
    ext/resources/aws_para_whitelist.json; open-telemetry/opentelemetry-collector-contrib
    internal/aws/xray/tracesegment.go (AWSData), receiver/awsxrayreceiver/internal/
    translator/aws.go."""
    b = SpanSet()
    for i in range(N):
        t = i * 200
        seg = _xray_segment(b, "orders", t, 30, route="/orders")
        if sdk == "node-v3-sqs":
            _xray_aws_call(b, "orders", "SQS", seg, t + 5, 14, "SendMessage",
                           **{"aws.xray.retries": 1})
        else:
            _xray_aws_call(b, "orders", "sns", seg, t + 5, 14, "Publish")
    a = analyze(b.store())
    assert _edges(a) == {"service:orders->topic:unknown": ("publish", N)}, sdk
    assert _systems(a) == {"topic:unknown": "aws_sqs" if sdk == "node-v3-sqs"
                           else "aws_sns"}, sdk


def test_xray_worker_poll_subsegments_are_no_publish_and_no_delivery():
    """A worker instrumented with the Python X-Ray SDK polls the queue inside a segment of
    its own (a new trace: the SDK does not continue the AWSTraceHeader): the receiver makes
    the segment a SERVER span and its subsegments "sqs" CLIENT spans (ReceiveMessage,
    DeleteMessage, both with aws.queue_url; the number of messages received is dropped).
    Nothing says which message, or whether any, a poll brought: no delivery is invented
    and the worker publishes nothing; the Python X-Ray sends stay the queue's only
    publishes. Sources: aws/aws-xray-sdk-python aws_xray_sdk/ext/resources/
    aws_para_whitelist.json (ReceiveMessage: message_count, dropped by the receiver's
    AWSData), ext/boto_utils.py; collector.conventions (a bare ReceiveMessage is an RPC)."""
    b = SpanSet()
    for i in range(N):
        t = i * 200
        seg = _xray_segment(b, "checkout", t, 30)
        _xray_aws_call(b, "checkout", "sqs", seg, t + 5, 12, "SendMessage",
                       **{"aws.queue_url": QUEUE_URL})
        poll = b.span("billing-worker", "billing-worker", kind="SERVER", start_ms=t + 50,
                      dur_ms=40)
        _xray_aws_call(b, "billing-worker", "sqs", poll, t + 50.5, 20, "ReceiveMessage",
                       **{"aws.queue_url": QUEUE_URL})
        _xray_aws_call(b, "billing-worker", "sqs", poll, t + 80, 6, "DeleteMessage",
                       **{"aws.queue_url": QUEUE_URL})
    a = analyze(b.store())
    edges = _edges(a)
    assert edges.get("service:checkout->topic:orders") == ("publish", N)
    assert not [e for e in edges if e.startswith("service:billing-worker->topic:")]
    assert not [e for e in edges if e.endswith("->service:billing-worker")
                and edges[e][0] == "consume"]
