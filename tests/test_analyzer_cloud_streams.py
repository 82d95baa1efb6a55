"""Span shapes of cloud event streams, each read from the library's source and its own tests:
the Azure Event Hubs SDKs (.NET Azure.Messaging.EventHubs, Java azure-messaging-eventhubs,
Python azure-eventhub), and Amazon Kinesis and EventBridge calls through the OpenTelemetry
Java agent's AWS SDK 2.x instrumentation and @opentelemetry/instrumentation-aws-sdk (Node).
Each test builds exactly the spans the library exports for a small scenario and checks what
the analyzer makes of them."""

from __future__ import annotations

from typing import Any

import pytest

from analyzer import analyze, edge_detail, flow_for_trace
from tests.analysis_checks import analysed_each as _analysed
from tests.analysis_checks import edges_of as _edges
from tests.analysis_checks import systems_of as _systems
from tests.builders import SpanRef, SpanSet

N = 3
NS = "shop-ns.servicebus.windows.net"  # an Event Hubs namespace (its AMQP host)
ENQUEUED = 1_700_000_000_000  # an event's x-opt-enqueued-time (ms since the epoch)


def _flows(a) -> list[tuple[str, int]]:
    """(entry service, count) of every flow, sorted."""
    return sorted((f["entry_service"], f["count"]) for f in a.flows)


# ------------------------------------------------------------------------ Azure Event Hubs
# .NET (Azure.Messaging.EventHubs 5.x with the ActivitySource switch
# "Azure.Experimental.EnableActivitySource" on, the only path the OpenTelemetry SDK
# collects). Read in Azure/azure-sdk-for-net: sdk/core/Azure.Core/src/Shared/
# MessagingClientDiagnostics.cs (CreateScope: messaging.system, messaging.operation,
# server.address, messaging.destination.name; InstrumentMessage: a Producer activity per
# event, its id stored as Diagnostic-Id and traceparent), DiagnosticScopeFactory.cs
# (az.namespace), MessagingDiagnosticOperation.cs ("publish", "receive", "process"),
# sdk/eventhub/Azure.Messaging.EventHubs.Shared/src/Diagnostics/DiagnosticProperty.cs
# (activity names "Message", "EventHubProducerClient.Send", "EventProcessor.Process",
# enqueuedTime),
# sdk/eventhub/Azure.Messaging.EventHubs/src/Primitives/EventProcessor{TPartition}.cs
# (ProcessEventBatchAsync: one Consumer activity per dispatched batch; with
# EventBatchMaximumCount 1, EventProcessorClient's case, its parent is the event's context;
# above 1, a link per event carrying enqueuedTime, and messaging.batch.message_count), and
# the package's tests/Diagnostics/DiagnosticsActivitySourceTests.cs (the send links every
# event's message activity; both are children of the caller's activity; batch count only
# when above 1).
def _dotnet_eh(b: SpanSet, service: str, name: str, kind: str, **kw: Any) -> SpanRef:
    attrs = {"az.namespace": "Microsoft.EventHub", "messaging.system": "eventhubs",
             "server.address": NS, "messaging.destination.name": "orders",
             **kw.pop("attrs", {})}
    return b.span(service, name, kind=kind, attrs=attrs, **kw)


# Java (azure-messaging-eventhubs 5.18+ through azure-core-tracing-opentelemetry or the Java
# agent's Azure SDK bridge). Read in Azure/azure-sdk-for-java: sdk/eventhubs/
# azure-messaging-eventhubs/src/main/java/com/azure/messaging/eventhubs/implementation/
# instrumentation/EventHubsTracer.java (reportMessageSpan: a PRODUCER "event <hub>" span per
# event added to a batch, ended at once, its context injected as traceparent and
# Diagnostic-Id; startProcessSpan: a CONSUMER "process <hub>" whose remote parent is the
# event's context and which links to it too, or, for a batch, a root linking every event
# with messaging.eventhubs.message.enqueued_time on each link; createStartOptions:
# messaging.system, messaging.destination.name, server.address, messaging.operation.name,
# messaging.consumer.group.name unless $Default, messaging.destination.partition.id,
# messaging.operation.type), InstrumentationUtils.java (getOperationType: send -> "publish",
# checkpoint -> "settle", process -> "process", event -> none), OperationName.java,
# InstrumentedCheckpointStore.java (an INTERNAL "checkpoint <hub>" span under the current
# one), and the producer's instrumentation (startPublishSpanWithLinks, found by its text: a
# CLIENT "send <hub>" span linking the batch's events, with messaging.batch.message_count).
def _java_eh(b: SpanSet, service: str, op_name: str, kind: str, **kw: Any) -> SpanRef:
    op_type = {"send": "publish", "checkpoint": "settle", "process": "process"}.get(op_name)
    attrs = {"az.namespace": "Microsoft.EventHub", "messaging.system": "eventhubs",
             "messaging.destination.name": "orders", "server.address": NS,
             "messaging.operation.name": op_name, "messaging.operation.type": op_type,
             **kw.pop("attrs", {})}
    return b.span(service, f"{op_name} orders", kind=kind, attrs=attrs, **kw)


# Python (azure-eventhub 5.11+ with azure-core-tracing-opentelemetry). Read in
# Azure/azure-sdk-for-python: sdk/eventhub/azure-eventhub/azure/eventhub/_tracing.py
# (trace_message: a PRODUCER "EventHubs.message" per event, its traceparent stored as
# Diagnostic-Id and traceparent; send_context_manager: a CLIENT "EventHubs.send" linking the
# events; receive_context_manager: a CLIENT "EventHubs.receive" linking the received events,
# enqueuedTime on each link, started at the previous receive; process_context_manager: a
# CONSUMER "EventHubs.process", a child of the event's context for a single event, linking
# every event for a batch; add_span_attributes: messaging.operation, batch count above 1,
# the legacy message_bus.destination and peer.address on publish and process, net.peer.name
# and messaging.destination.name on receive), _producer.py (the message span's
# net.peer.name and messaging.destination.name), _client_base.py (_Address: path is
# "/" + the hub's name), _eventprocessor/event_processor.py (_on_event_received: the receive
# span, then the process span around the handler, both outside any other span).
def _py_eh(b: SpanSet, service: str, what: str, **kw: Any) -> SpanRef:
    kind, op = {"message": ("PRODUCER", None), "send": ("CLIENT", "publish"),
                "receive": ("CLIENT", "receive"), "process": ("CONSUMER", "process")}[what]
    attrs: dict[str, Any] = {"az.namespace": "Microsoft.EventHub",
                             "messaging.system": "eventhubs", "messaging.operation": op}
    if what in ("message", "receive"):
        attrs.update({"net.peer.name": NS, "messaging.destination.name": "/orders"})
    else:
        attrs.update({"message_bus.destination": "/orders", "peer.address": NS})
    attrs.update(kw.pop("attrs", {}))
    return b.span(service, f"EventHubs.{what}", kind=kind, attrs=attrs, **kw)


def test_dotnet_event_hubs_batch_send_and_event_processor_client():
    """.NET: a request adds three events to an EventDataBatch (a PRODUCER "Message" span
    each, ended at once) and sends it: a CLIENT "EventHubProducerClient.Send" linking the
    three. EventProcessorClient dispatches one event at a time: a CONSUMER
    "EventProcessor.Process" per event, a child of its "Message" span. Three deliveries per
    request, all in its trace. The events were on the hub only once the send returned: the
    queue time runs from the end of the send that carried them, not from the instant their
    "Message" span was opened while the batch was being filled."""
    b = SpanSet()
    for i in range(N):
        t = i * 200
        root = b.span("checkout", "POST /orders/import", kind="SERVER", start_ms=t, dur_ms=40)
        events = [_dotnet_eh(b, "checkout", "Message", "PRODUCER", parent=root,
                             start_ms=t + 1 + 2 * j, dur_ms=0.05) for j in range(3)]
        _dotnet_eh(b, "checkout", "EventHubProducerClient.Send", "CLIENT", parent=root,
                   start_ms=t + 10, dur_ms=15, links=events,
                   attrs={"messaging.operation": "publish", "messaging.batch.message_count": 3})
        for j, ev in enumerate(events):
            proc = _dotnet_eh(b, "billing", "EventProcessor.Process", "CONSUMER", parent=ev,
                              start_ms=t + 60 + 10 * j, dur_ms=8,
                              attrs={"messaging.operation": "process",
                                     "enqueuedTime": str(ENQUEUED + t + 25)})
            b.client_call("billing", None, parent=proc, start_ms=t + 62 + 10 * j, dur_ms=3,
                          peer={"db.system": "postgresql"})
    st = b.store()
    a = _analysed(st, {
        "service:checkout->topic:orders": ("publish", 3 * N),
        "topic:orders->service:billing": ("consume", 3 * N),
        "service:billing->external:postgresql": ("call", 3 * N),
    }, ["topic:orders->service:billing"])
    consume = a.edge("topic:orders->service:billing")
    assert (consume["message_count"], consume["p50_ms"]) == (3 * N, 8.0)
    assert _systems(a) == {"topic:orders": "eventhubs"}
    assert _flows(a) == [("checkout", N)]
    # consumers start 35, 45 and 55 ms after the send (t+10..t+25) returned; the edge's
    # detail says the same
    assert consume["queue_p50_ms"] == 45.0
    assert edge_detail(st, "topic:orders->service:billing")["queue_p50_ms"] == 45.0
    # On the critical path too the events follow the send (its 15 ms are the publish's),
    # not the instant their "Message" span ended (then the send was off the path and the
    # queue ran 75 ms from the third event's span); the flow view's path is the same.
    (flow,) = a.flows
    path = {(h["hop"], h["kind"]): h["p50_ms"] for h in flow["critical_path"]}
    assert path[("service:checkout->topic:orders", "call")] == pytest.approx(15.15)
    assert path[("topic:orders->service:billing", "queue")] == pytest.approx(39.0)
    one = flow_for_trace(st, flow["example_trace_ids"][0])
    send = next(s["span_id"] for s in one["spans"] if s["name"] == "EventHubProducerClient.Send")
    assert send in one["critical_path"]
    queued = [g for g in one["critical_path_segments"] if g["kind"] == "queue"]
    assert sum(g["end_ns"] - g["start_ns"] for g in queued) == 39_000_000


def test_java_event_hubs_process_span_is_child_of_and_linked_to_its_event():
    """Java: an "event orders" PRODUCER span per event (messaging.operation.name 'event', no
    operation type), then a CLIENT "send orders" (operation type 'publish') linking it.
    EventProcessorClient's processEvent: a CONSUMER "process orders" whose parent is the
    event's context and which also links to it, with the consumer group and partition; the
    handler's checkpoint is an INTERNAL "checkpoint orders" (type 'settle') inside it. One
    delivery per event, the checkpoint is no second one."""
    b = SpanSet()
    part = {"messaging.destination.partition.id": "1"}
    for i in range(N):
        t = i * 100
        root = b.span("checkout", "POST /orders", kind="SERVER", start_ms=t, dur_ms=30)
        ev = _java_eh(b, "checkout", "event", "PRODUCER", parent=root, start_ms=t + 1,
                      dur_ms=0.05)
        _java_eh(b, "checkout", "send", "CLIENT", parent=root, start_ms=t + 2, dur_ms=12,
                 links=[ev], attrs={**part, "messaging.batch.message_count": 1})
        group = {**part, "messaging.consumer.group.name": "billing"}
        proc = _java_eh(b, "billing", "process", "CONSUMER", parent=ev, links=[ev],
                        start_ms=t + 50, dur_ms=9,
                        attrs={**group, "messaging.eventhubs.message.enqueued_time":
                               (ENQUEUED + t + 14) // 1000})
        _java_eh(b, "billing", "checkpoint", "INTERNAL", parent=proc, start_ms=t + 56,
                 dur_ms=2.5, attrs=group)
    st = b.store()
    a = _analysed(st, {
        "service:checkout->topic:orders": ("publish", N),
        "topic:orders->service:billing": ("consume", N),
    }, ["topic:orders->service:billing"])
    consume = a.edge("topic:orders->service:billing")
    assert (consume["message_count"], consume["p50_ms"]) == (N, 9.0)
    assert _systems(a) == {"topic:orders": "eventhubs"}
    assert _flows(a) == [("checkout", N)]


def test_event_hubs_batch_processor_links_each_event():
    """A processor that takes batches (.NET: EventProcessor<T> or
    PluggableCheckpointStoreEventProcessor with EventBatchMaximumCount above 1; Java:
    processEventBatch) opens one CONSUMER span per batch, in a trace of its own, linking every
    event of the batch (with its enqueued time on the link) and counting them. A batch is one
    delivery of several events; where two orders meet is a flow of its own, not a merge."""
    for sdk in ("dotnet", "java"):
        b = SpanSet()
        events = []
        for i in range(2 * N):
            t = i * 20
            root = b.span("checkout", "POST /orders", kind="SERVER", start_ms=t, dur_ms=18)
            if sdk == "dotnet":
                ev = _dotnet_eh(b, "checkout", "Message", "PRODUCER", parent=root,
                                start_ms=t + 1, dur_ms=0.05)
                _dotnet_eh(b, "checkout", "EventHubProducerClient.Send", "CLIENT",
                           parent=root, start_ms=t + 2, dur_ms=12, links=[ev],
                           attrs={"messaging.operation": "publish"})
            else:
                ev = _java_eh(b, "checkout", "event", "PRODUCER", parent=root,
                              start_ms=t + 1, dur_ms=0.05)
                _java_eh(b, "checkout", "send", "CLIENT", parent=root, start_ms=t + 2,
                         dur_ms=12, links=[ev], attrs={"messaging.batch.message_count": 1})
            events.append(ev)
        for k in range(N):
            batch = events[2 * k:2 * k + 2]
            start = 200 + k * 30
            if sdk == "dotnet":
                _dotnet_eh(b, "billing", "EventProcessor.Process", "CONSUMER", start_ms=start,
                           dur_ms=10,
                           links=[(ev, {"enqueuedTime": str(ENQUEUED)}) for ev in batch],
                           attrs={"messaging.operation": "process",
                                  "messaging.batch.message_count": 2})
            else:
                _java_eh(b, "billing", "process", "CONSUMER", start_ms=start, dur_ms=10,
                         links=[(ev, {"messaging.eventhubs.message.enqueued_time":
                                      ENQUEUED // 1000}) for ev in batch],
                         attrs={"messaging.batch.message_count": 2,
                                "messaging.destination.partition.id": "0"})
        st = b.store()
        a = _analysed(st, {
            "service:checkout->topic:orders": ("publish", 2 * N),
            "topic:orders->service:billing": ("consume", N),
        }, ["topic:orders->service:billing"])
        consume = a.edge("topic:orders->service:billing")
        assert (consume["message_count"], consume["batch_deliveries"]) == (2 * N, N), sdk
        assert consume["p50_ms"] == 10.0, sdk
        assert _systems(a) == {"topic:orders": "eventhubs"}, sdk
        assert _flows(a) == [("billing", N), ("checkout", 2 * N)], sdk


def test_python_event_hubs_single_event_processor():
    """Python: the sender's "EventHubs.message" PRODUCER and "EventHubs.send" CLIENT (linking
    it) name the hub by the AMQP path, '/orders'; so do the processor's spans. For each event
    on_event gets, a root CLIENT "EventHubs.receive" linking the event (started when the
    previous event came in), then a CONSUMER "EventHubs.process" around the handler, a child
    of the event's span. The hub is 'orders' (as the other SDKs name it); one delivery per
    event, the receive is no second one."""
    b = SpanSet()
    last = -40.0  # the processor started before the first order
    for i in range(N):
        t = i * 100
        root = b.span("checkout", "POST /orders", kind="SERVER", start_ms=t, dur_ms=30)
        ev = _py_eh(b, "checkout", "message", parent=root, start_ms=t + 1, dur_ms=0.1)
        _py_eh(b, "checkout", "send", parent=root, start_ms=t + 2, dur_ms=10, links=[ev])
        _py_eh(b, "billing", "receive", start_ms=last, dur_ms=t + 49.9 - last,
               links=[(ev, {"enqueuedTime": ENQUEUED + t + 12})])
        last = t + 49.9
        _py_eh(b, "billing", "process", parent=ev, start_ms=t + 50, dur_ms=8)
    st = b.store()
    a = _analysed(st, {
        "service:checkout->topic:orders": ("publish", N),
        "topic:orders->service:billing": ("consume", N),
    }, ["topic:orders->service:billing"])
    assert a.edge("topic:orders->service:billing")["p50_ms"] == 8.0
    assert _systems(a) == {"topic:orders": "eventhubs"}
    assert _flows(a) == [("checkout", N)]


def test_python_event_hubs_batch_processor_receive_and_process_are_one_delivery():
    """Python's on_event_batch: per batch, a root CLIENT "EventHubs.receive" and then a root
    CONSUMER "EventHubs.process" (two traces), both linking every event of the batch. One
    delivery of the batch's events: the process span's. (The receive's trace, which links
    the same events and is no delivery, is still a flow of its own beside the batch's:
    not asserted here.)"""
    b = SpanSet()
    events = []
    for i in range(2 * N):
        t = i * 20
        root = b.span("checkout", "POST /orders", kind="SERVER", start_ms=t, dur_ms=18)
        ev = _py_eh(b, "checkout", "message", parent=root, start_ms=t + 1, dur_ms=0.1)
        _py_eh(b, "checkout", "send", parent=root, start_ms=t + 2, dur_ms=10, links=[ev])
        events.append(ev)
    for k in range(N):
        batch = events[2 * k:2 * k + 2]
        links = [(ev, {"enqueuedTime": ENQUEUED + 40 * k + 12}) for ev in batch]
        start = 200 + k * 40
        count = {"messaging.batch.message_count": 2}
        _py_eh(b, "billing", "receive", start_ms=start - 38, dur_ms=37.9, links=links,
               attrs=count)
        _py_eh(b, "billing", "process", start_ms=start, dur_ms=12, links=links, attrs=count)
    st = b.store()
    a = _analysed(st, {
        "service:checkout->topic:orders": ("publish", 2 * N),
        "topic:orders->service:billing": ("consume", N),
    }, ["topic:orders->service:billing"])
    consume = a.edge("topic:orders->service:billing")
    assert (consume["message_count"], consume["batch_deliveries"]) == (2 * N, N)
    assert consume["p50_ms"] == 12.0  # the process span, not the receive


def test_event_hubs_python_sender_and_dotnet_processor_share_one_hub():
    """A Python service sends (naming the hub '/orders', its AMQP path), a .NET
    EventProcessorClient consumes (naming it 'orders'): one hub, so one topic and no route
    between two spellings of its name."""
    b = SpanSet()
    for i in range(N):
        t = i * 100
        root = b.span("checkout", "POST /orders", kind="SERVER", start_ms=t, dur_ms=30)
        ev = _py_eh(b, "checkout", "message", parent=root, start_ms=t + 1, dur_ms=0.1)
        _py_eh(b, "checkout", "send", parent=root, start_ms=t + 2, dur_ms=10, links=[ev])
        _dotnet_eh(b, "billing", "EventProcessor.Process", "CONSUMER", parent=ev,
                   start_ms=t + 45, dur_ms=7,
                   attrs={"messaging.operation": "process",
                          "enqueuedTime": str(ENQUEUED + t + 12)})
    st = b.store()
    a = _analysed(st, {
        "service:checkout->topic:orders": ("publish", N),
        "topic:orders->service:billing": ("consume", N),
    }, ["topic:orders->service:billing"])
    assert _systems(a) == {"topic:orders": "eventhubs"}
    assert _flows(a) == [("checkout", N)]


# ------------------------------------------------------------------------ Amazon Kinesis
# The Java agent (aws-sdk-2.2; read in open-telemetry/opentelemetry-java-instrumentation,
# instrumentation/aws-sdk/aws-sdk-2.2/library/src/main/java/io/opentelemetry/
# instrumentation/awssdk/v2_2/internal/): TracingExecutionInterceptor.getInstrumenter gives
# only SQS sends the producer instrumenter; every other call, Kinesis' included, gets the
# request instrumenter (AwsSdkInstrumenterFactory.requestInstrumenter: a CLIENT span named
# "<service>.<operation>", rpc.* and HTTP client attributes, aws.request_id), and
# modifyRequest injects context only into SQS, SNS and Lambda requests: nothing goes into a
# record. AwsSdkRequestType maps a request's StreamName to aws.stream.name (renamed
# aws.kinesis.stream_name in 2.22, release notes of PR #15028); GetRecords has no
# StreamName. @opentelemetry/instrumentation-aws-sdk (read in
# open-telemetry/opentelemetry-js-contrib, packages/instrumentation-aws-sdk/src/):
# services/kinesis.ts makes it a CLIENT span with aws.kinesis.stream.name and no injection;
# aws-sdk.ts names it "<serviceId>.<command>", utils.ts adds rpc.* and cloud.region (no
# server address). A Lambda function behind a Kinesis trigger gets only the function's SERVER
# span (instrumentation/aws-lambda: AwsLambdaEventsInstrumenterFactory,
# AwsLambdaFunctionAttributesExtractor; only SQS events are handled further).
KINESIS_HOST = "kinesis.eu-west-1.amazonaws.com"


def _java_aws(host: str, service: str, method: str, **extra: Any) -> dict[str, Any]:
    return {"rpc.system": "aws-api", "rpc.service": service, "rpc.method": method,
            "http.request.method": "POST", "url.full": f"https://{host}",
            "server.address": host, "server.port": 443, "http.response.status_code": 200,
            **extra}


def test_kinesis_put_record_is_a_publish_to_the_stream():
    """PutRecord / PutRecords is a CLIENT RPC span naming the stream in an aws.* attribute
    (three spellings across releases) and no messaging attribute: a publish to the stream.
    A KCL consumer's GetRecords polls (roots naming no stream) and its DynamoDB lease
    updates are calls; a Lambda behind the stream's trigger gets a SERVER span that names
    nothing of the stream: no delivery is invented for either."""
    gens = {
        "java-agent<2.22": ("Kinesis.PutRecord", _java_aws(
            KINESIS_HOST, "Kinesis", "PutRecord", **{"aws.stream.name": "order-events"})),
        "java-agent>=2.22": ("Kinesis.PutRecord", _java_aws(
            KINESIS_HOST, "Kinesis", "PutRecord", **{"aws.kinesis.stream_name": "order-events"})),
        "node": ("Kinesis.PutRecords", {
            "rpc.system": "aws-api", "rpc.service": "Kinesis", "rpc.method": "PutRecords",
            "cloud.region": "eu-west-1", "aws.kinesis.stream.name": "order-events",
            "http.status_code": 200}),
    }
    for gen, (name, attrs) in gens.items():
        b = SpanSet()
        for i in range(N):
            t = i * 100
            root = b.span("orders", "POST /orders", kind="SERVER", start_ms=t, dur_ms=40)
            b.span("orders", name, kind="CLIENT", parent=root, start_ms=t + 5, dur_ms=20,
                   attrs={**attrs, "aws.request_id": f"req-{i}"})
            b.span("notify-fn", "notify-fn", kind="SERVER", start_ms=t + 400, dur_ms=30,
                   attrs={"faas.invocation_id": f"inv-{i}", "cloud.account.id": "123456789012",
                          "cloud.resource_id":
                              "arn:aws:lambda:eu-west-1:123456789012:function:notify-fn"})
        for k in range(2 * N):  # the KCL's scheduler polls the shard every 50 ms
            b.span("shipping", "Kinesis.GetRecords", kind="CLIENT", start_ms=k * 50, dur_ms=6,
                   attrs=_java_aws(KINESIS_HOST, "Kinesis", "GetRecords",
                                   **{"aws.request_id": f"get-{k}"}))
        for k in range(N):  # its lease checkpoints
            b.span("shipping", "DynamoDb.UpdateItem", kind="CLIENT", start_ms=k * 100 + 30,
                   dur_ms=4, attrs=_java_aws(
                       "dynamodb.eu-west-1.amazonaws.com", "DynamoDb", "UpdateItem",
                       **{"db.system": "dynamodb", "db.operation": "UpdateItem",
                          "aws.table.name": "shipping"}))
        st = b.store()
        a = analyze(st)
        assert _edges(a) == {
            "service:orders->topic:order-events": ("publish", N),
            f"service:shipping->external:{KINESIS_HOST}": ("call", 2 * N),
            "service:shipping->external:dynamodb": ("call", N),
        }, gen
        # (nothing says the stream's records were read: at most that)
        assert {x["type"] for x in a.anomalies} <= {"published_never_consumed"}, gen


# ------------------------------------------------------------------------ Amazon EventBridge
def test_eventbridge_put_events_names_no_bus_so_it_stays_a_call():
    """The Java agent gives EventBridge PutEvents no special handling (no AwsSdkRequestType,
    no injection: TracingExecutionInterceptor, AwsSdkRequestType.java): a CLIENT
    "EventBridge.PutEvents" with rpc.* and the regional endpoint. The bus is named per entry
    inside the request, never on the span: a call to EventBridge, not a publish to a topic
    the analysis would have to guess."""
    host = "events.eu-west-1.amazonaws.com"
    b = SpanSet()
    for i in range(N):
        t = i * 100
        root = b.span("orders", "POST /orders", kind="SERVER", start_ms=t, dur_ms=40)
        b.span("orders", "EventBridge.PutEvents", kind="CLIENT", parent=root, start_ms=t + 5,
               dur_ms=18, attrs=_java_aws(host, "EventBridge", "PutEvents",
                                          **{"aws.request_id": f"req-{i}"}))
    st = b.store()
    a = _analysed(st, {f"service:orders->external:{host}": ("call", N)}, [])
    assert _systems(a) == {}
    assert a.edge(f"service:orders->external:{host}")["p50_ms"] == 18.0
