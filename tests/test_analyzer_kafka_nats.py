"""Span shapes of the .NET Confluent.Kafka instrumentation (OpenTelemetry.Instrumentation
.ConfluentKafka), of Go's segmentio/kafka-go as OpenTelemetry's eBPF auto-instrumentation and
Trendyol's otel-kafka-konsumer trace it, and of NATS as the Java agent (nats-2.17) and NATS.Net
v2's own ActivitySource trace it, each read from the library's source or its own tests. Each
test builds exactly the spans the library exports for a small scenario and checks what the
analyzer makes of them."""

from __future__ import annotations

from analyzer import flow_for_trace
from tests.analysis_checks import analysed, analysed_each, systems_of
from tests.builders import SpanRef, SpanSet

N = 3


# --------------------------------------------------------------------------------------------
# .NET: OpenTelemetry.Instrumentation.ConfluentKafka (opentelemetry-dotnet-contrib)
# --------------------------------------------------------------------------------------------

def _confluent_worker(b: SpanSet, semconv: str, process_helper: bool) -> None:
    """An API that produces to `orders` with InstrumentedProducer.ProduceAsync and a
    BackgroundService in `billing` that loops on an InstrumentedConsumer (no ambient activity
    around the loop).

    ``semconv`` picks the release:
    - "1.24" (0.1.0-alpha.x; InstrumentedProducer.cs a7978e35, InstrumentedConsumer.cs
      a3a0d275, OpenTelemetryConsumeResultExtensions.cs ed8cfc9, src/Shared/
      SemanticConventions.cs): "<topic> publish" PRODUCER, "<topic> receive" CONSUMER,
      "<topic> process" CONSUMER; messaging.operation, messaging.client_id,
      messaging.kafka.destination.partition (int), messaging.kafka.message.offset,
      messaging.kafka.consumer.group.
    - "1.43" (0.2.0-alpha.1+; InstrumentedProducer.cs 0695ead9, InstrumentedConsumer.cs
      042d5f07, TracingTests.cs): "send <topic>" PRODUCER, "poll <topic>" CLIENT
      (operation.type receive), "process <topic>" CONSUMER; messaging.operation.name/type,
      messaging.client.id, messaging.consumer.group.name, messaging.destination.partition.id
      (a string), messaging.kafka.offset.
    - "1.45" (0.5.0-alpha.1 release notes): as 1.43 but messaging.system.name replaces
      messaging.system and kafka.offset / kafka.message.key replace messaging.kafka.*.

    The receive/poll span is started after Consume() returns with the time Consume() was
    called as its start (it covers the blocking wait, so it begins before the publish), has
    no parent (parentContext: default, no ambient activity in the loop) and one link to the
    context in the record's headers. ConsumeAndProcessMessageAsync (``process_helper``)
    then starts a "process" CONSUMER span, also parentless with the same link, around the
    handler (whose Npgsql call is its child), started once Consume() has returned (released
    versions; OpenTelemetryConsumeResultExtensions.cs ed8cfc9 and later). Without the helper
    the handler's database call runs under no activity: a root of its own."""
    kafka_sys = ({"messaging.system.name": "kafka"} if semconv == "1.45"
                 else {"messaging.system": "kafka"})
    for i in range(N):
        t = i * 200
        root = b.span("checkout", "POST /orders", kind="SERVER", start_ms=t, dur_ms=30,
                      attrs={"http.request.method": "POST", "http.route": "/orders"})
        key = f"order-{1000 + i}"
        if semconv == "1.24":
            pub = b.span("checkout", "orders publish", kind="PRODUCER", parent=root,
                         start_ms=t + 5, dur_ms=6,  # ProduceAsync: until the broker's ack
                         attrs={**kafka_sys, "messaging.client_id": "rdkafka#producer-1",
                                "messaging.destination.name": "orders",
                                "messaging.operation": "publish",
                                "messaging.kafka.message.key": key})
        else:
            keyattr = "kafka.message.key" if semconv == "1.45" else \
                "messaging.kafka.message.key"
            pub = b.span("checkout", "send orders", kind="PRODUCER", parent=root,
                         start_ms=t + 5, dur_ms=6,
                         attrs={**kafka_sys, "messaging.destination.name": "orders",
                                "messaging.operation.name": "send",
                                "messaging.operation.type": "send",
                                "messaging.client.id": "rdkafka#producer-1", keyattr: key})
        # Consume() was called right after the previous message was handled: it blocked
        # until this record arrived (t + 11 plus broker latency)
        wait_from = t - 150
        got = t + 14
        if semconv == "1.24":
            common = {**kafka_sys, "messaging.client_id": "rdkafka#consumer-2",
                      "messaging.destination.name": "orders",
                      "messaging.kafka.destination.partition": 0,
                      "messaging.kafka.message.offset": 500 + i,
                      "messaging.kafka.consumer.group": "billing",
                      "messaging.kafka.message.key": key}
            b.span("billing", "orders receive", kind="CONSUMER", start_ms=wait_from,
                   dur_ms=got - wait_from, links=[pub],
                   attrs={**common, "messaging.operation": "receive"})
            proc_name, proc_kind_attrs = "orders process", {"messaging.operation": "process"}
        else:
            offset = {"kafka.offset" if semconv == "1.45" else "messaging.kafka.offset":
                      500 + i}
            keyattr = "kafka.message.key" if semconv == "1.45" else \
                "messaging.kafka.message.key"
            common = {**kafka_sys, "messaging.client.id": "rdkafka#consumer-2",
                      "messaging.destination.name": "orders",
                      "messaging.destination.partition.id": "0",
                      "messaging.consumer.group.name": "billing", keyattr: key, **offset}
            b.span("billing", "poll orders", kind="CLIENT", start_ms=wait_from,
                   dur_ms=got - wait_from, links=[pub],
                   attrs={**common, "messaging.operation.name": "poll",
                          "messaging.operation.type": "receive"})
            proc_name = "process orders"
            proc_kind_attrs = {"messaging.operation.name": "process",
                               "messaging.operation.type": "process"}
        db = {"db.system": "postgresql", "db.name": "billing",
              "server.address": "pg", "server.port": 5432}
        if process_helper:
            start = got + 0.1
            proc = b.span("billing", proc_name, kind="CONSUMER", start_ms=start,
                          dur_ms=got + 12 - start, links=[pub],
                          attrs={**common, **proc_kind_attrs})
            b.span("billing", "billing", kind="CLIENT", parent=proc, start_ms=got + 2,
                   dur_ms=8, attrs=db)
        else:
            b.span("billing", "billing", kind="CLIENT", start_ms=got + 2, dur_ms=8, attrs=db)


def test_dotnet_confluent_kafka_worker_receive_and_process_spans_are_one_delivery():
    """The first releases (semantic conventions 1.24) in a worker loop using
    ConsumeAndProcessMessageAsync: per record a parentless "orders receive" CONSUMER span
    (covering the blocking Consume(), so it starts before the publish) and a parentless
    "orders process" CONSUMER span around the handler, each in a trace of its own and each
    linking to the publish. That is one delivery of one message, not two; the order is one
    flow across its three traces; a receive that began waiting before the publish is no
    clock skew, and its wait is no queue time."""
    b = SpanSet()
    _confluent_worker(b, "1.24", process_helper=True)
    st = b.store()
    a = analysed(st, {
        "service:checkout->topic:orders": ("publish", N),
        "topic:orders->service:billing": ("consume", N),
        "service:billing->external:postgresql": ("call", N),
    }, "topic:orders->service:billing")
    assert systems_of(a) == {"topic:orders": "kafka"}
    consume = a.edge("topic:orders->service:billing")
    assert consume["message_count"] == N
    # the record reached the consumer 3 ms after the broker acknowledged it
    assert 0.0 <= consume["queue_p50_ms"] <= 3.1
    (flow,) = a.flows
    assert flow["count"] == N and flow["entry_service"] == "checkout"
    assert flow["traces_per_flow"] == 3.0
    assert flow["e2e_p50_ms"] == 30.0  # from the request on, not from when billing waited
    view = flow_for_trace(st, flow["example_trace_ids"][0])
    assert view["duration_ms"] == 30.0 and len(view["trace_ids"]) == 3
    assert {s["name"] for s in view["spans"] if s["service_name"] == "billing"} == {
        "orders receive", "orders process", "billing"}


def test_dotnet_confluent_kafka_semconv_1_43_and_1_45_send_poll_process():
    """0.2.0-alpha.1 moved to semantic conventions 1.43: "send orders" PRODUCER, a "poll
    orders" CLIENT span (operation type receive) that still covers the blocking Consume()
    and links to the send, and "process orders" CONSUMER from ConsumeAndProcessMessageAsync,
    parentless and linked too. 0.5.0-alpha.1 (1.45) names the system messaging.system.name
    instead of messaging.system. Either way: one delivery per record from the Kafka topic."""
    for semconv in ("1.43", "1.45"):
        b = SpanSet()
        _confluent_worker(b, semconv, process_helper=True)
        a = analysed(b.store(), {
            "service:checkout->topic:orders": ("publish", N),
            "topic:orders->service:billing": ("consume", N),
            "service:billing->external:postgresql": ("call", N),
        }, "topic:orders->service:billing")
        assert a.edge("topic:orders->service:billing")["message_count"] == N, semconv
        (flow,) = a.flows
        assert flow["count"] == N and flow["traces_per_flow"] == 3.0, semconv
        assert systems_of(a) == {"topic:orders": "kafka"}, semconv


def test_dotnet_confluent_kafka_plain_consume_poll_without_process_span():
    """A worker that calls InstrumentedConsumer.Consume() itself (no process helper): only
    the parentless "poll orders" CLIENT span linking to the send, and the handler's database
    call as a root of its own (nothing is current after Consume() returns). The poll is the
    delivery; the call is still billing's."""
    b = SpanSet()
    _confluent_worker(b, "1.43", process_helper=False)
    st = b.store()
    a = analysed(st, {
        "service:checkout->topic:orders": ("publish", N),
        "topic:orders->service:billing": ("consume", N),
        "service:billing->external:postgresql": ("call", N),
    }, "topic:orders->service:billing")
    assert 0.0 <= a.edge("topic:orders->service:billing")["queue_p50_ms"] <= 3.0
    flows = {f["entry_service"]: f for f in a.flows}
    assert flows["checkout"]["count"] == N
    assert flows["checkout"]["traces_per_flow"] == 2.0


# --------------------------------------------------------------------------------------------
# Go: github.com/segmentio/kafka-go
# --------------------------------------------------------------------------------------------

def _kafka_go_auto(b: SpanSet, batch: int, old_semconv: bool) -> None:
    """OpenTelemetry Go's eBPF auto-instrumentation (go.opentelemetry.io/auto; probes in
    opentelemetry-go-instrumentation internal/pkg/instrumentation/bpf/github.com/segmentio/
    kafka-go/{producer,consumer}: probe.go and bpf/probe.bpf.c).

    Producer: one uprobe on Writer.WriteMessages(ctx, msgs...) makes one "<topic> publish"
    PRODUCER span per message (at most 10), all with the call's start and end, all children
    of the span in ctx (here net/http's server span), one trace id, each with its own span id
    injected as that message's traceparent header; each carries messaging.batch.message_count
    = the number of messages in the call and messaging.operation.type=publish.

    Consumer: Reader.FetchMessage's return starts a "<topic> receive" CONSUMER span whose
    parent is the record's traceparent (the publish) and which becomes the goroutine's
    current span (the handler's database/sql span is its child); the next FetchMessage call
    ends it, so it covers the handling, not the blocking fetch. Newer probes (semconv 1.30):
    messaging.operation.type=receive, messaging.destination.partition.id (a string),
    messaging.kafka.offset, messaging.consumer.group.name; older ones (semconv 1.24):
    messaging.operation=receive, messaging.kafka.destination.partition (int),
    messaging.kafka.message.offset, messaging.kafka.consumer.group."""
    offset = 0
    for i in range(N):
        t = i * 300
        root = b.span("importer", "POST /orders/import", kind="SERVER", start_ms=t,
                      dur_ms=40, attrs={"http.request.method": "POST",
                                        "url.path": "/orders/import"})
        pubs = []
        for k in range(batch):  # one WriteMessages call: same start and end for all
            attrs = {"messaging.kafka.message.key": f"order-{i}-{k}",
                     "messaging.destination.name": "orders", "messaging.system": "kafka",
                     "messaging.operation.type": "publish",
                     "messaging.batch.message_count": batch}
            pubs.append(b.span("importer", "orders publish", kind="PRODUCER", parent=root,
                               start_ms=t + 5, dur_ms=20, attrs=attrs))
        for k, pub in enumerate(pubs):
            start = t + 30 + k * 15  # FetchMessage returned this record
            if old_semconv:
                attrs = {"messaging.system": "kafka", "messaging.operation": "receive",
                         "messaging.kafka.destination.partition": 0,
                         "messaging.destination.name": "orders",
                         "messaging.kafka.message.offset": offset,
                         "messaging.kafka.message.key": f"order-{i}-{k}",
                         "messaging.kafka.consumer.group": "fulfilment"}
            else:
                attrs = {"messaging.system": "kafka", "messaging.operation.type": "receive",
                         "messaging.destination.partition.id": "0",
                         "messaging.destination.name": "orders",
                         "messaging.kafka.offset": offset,
                         "messaging.kafka.message.key": f"order-{i}-{k}",
                         "messaging.consumer.group.name": "fulfilment"}
            offset += 1
            recv = b.span("fulfilment", "orders receive", kind="CONSUMER", parent=pub,
                          start_ms=start, dur_ms=12, attrs=attrs)  # until the next fetch
            b.span("fulfilment", "INSERT", kind="CLIENT", parent=recv, start_ms=start + 2,
                   dur_ms=6, attrs={"db.system": "postgresql", "db.query.text":
                                    "INSERT INTO shipments VALUES ($1)"})


def test_go_kafka_go_auto_instrumentation_batch_write_is_one_publish_per_message():
    """A WriteMessages call with three records gives three "orders publish" spans, each
    saying the batch had three messages: that is three messages published, not three
    batches of three. Each record's "orders receive" span is a child of its own publish."""
    b = SpanSet()
    _kafka_go_auto(b, batch=3, old_semconv=False)
    st = b.store()
    a = analysed(st, {
        "service:importer->topic:orders": ("publish", 3 * N),
        "topic:orders->service:fulfilment": ("consume", 3 * N),
        "service:fulfilment->external:postgresql": ("call", 3 * N),
    }, "topic:orders->service:fulfilment", p50_ms=12)
    consume = a.edge("topic:orders->service:fulfilment")
    assert consume["message_count"] == 3 * N
    assert consume["queue_p50_ms"] == 20.0  # the middle record of each batch waited 20 ms
    assert systems_of(a) == {"topic:orders": "kafka"}
    (flow,) = a.flows
    assert flow["count"] == N and flow["traces_per_flow"] == 1.0


def test_go_kafka_go_auto_instrumentation_single_writes_older_probes():
    """The probes before semantic conventions 1.26/1.30 (messaging.operation=receive,
    messaging.kafka.message.offset, messaging.kafka.destination.partition): one message per
    WriteMessages, still with messaging.batch.message_count=1. Parent-child all the way."""
    b = SpanSet()
    _kafka_go_auto(b, batch=1, old_semconv=True)
    a = analysed(b.store(), {
        "service:importer->topic:orders": ("publish", N),
        "topic:orders->service:fulfilment": ("consume", N),
        "service:fulfilment->external:postgresql": ("call", N),
    }, "topic:orders->service:fulfilment", p50_ms=12)
    assert a.edge("topic:orders->service:fulfilment")["message_count"] == N
    assert a.edge("topic:orders->service:fulfilment")["queue_p50_ms"] == 5.0


def _kafka_konsumer(b: SpanSet) -> None:
    """Trendyol's otel-kafka-konsumer (github.com/Trendyol/otel-kafka-konsumer, writer.go,
    reader.go, config.go, carrier.go; the tracing of Trendyol/kafka-konsumer, built on
    segmentio/kafka-go), semantic conventions 1.13/1.16 and no messaging.system at all.

    Writer.WriteMessages: a "<topic> send" PRODUCER span, child of ctx, with
    messaging.destination (legacy), messaging.destination_kind=topic, and the message's
    Offset and Partition as messaging.message_id and messaging.kafka.partition, read before
    the write, so always "0" and 0. Reader.ReadMessage: a "received from <topic>" CONSUMER
    span, child of the record's context, started and ended at once after the read (the
    message id is now the real offset, the partition the real one); its context is injected
    back into the record, and the application's own spans continue from it."""
    for i in range(N):
        t = i * 200
        root = b.span("catalog", "PUT /products/{id}", kind="SERVER", start_ms=t, dur_ms=25)
        send = b.span("catalog", "product-updated send", kind="PRODUCER", parent=root,
                      start_ms=t + 4, dur_ms=15,
                      attrs={"messaging.destination_kind": "topic",
                             "messaging.destination": "product-updated",
                             "messaging.message_id": "0",
                             "messaging.kafka.message_key": f"sku-{i}",
                             "messaging.kafka.partition": 0})
        recv = b.span("search-indexer", "received from product-updated", kind="CONSUMER",
                      parent=send, start_ms=t + 30, dur_ms=0.02,
                      attrs={"messaging.destination_kind": "topic",
                             "messaging.operation": "receive",
                             "messaging.destination": "product-updated",
                             "messaging.message_id": str(7310 + i),
                             "messaging.kafka.message_key": f"sku-{i}",
                             "messaging.kafka.partition": i % 3})
        work = b.span("search-indexer", "work", parent=recv, start_ms=t + 30.1, dur_ms=10)
        b.span("search-indexer", "POST /products/_doc", kind="CLIENT", parent=work,
               start_ms=t + 31, dur_ms=8, attrs={"db.system": "elasticsearch"})


def test_go_kafka_konsumer_producer_message_ids_are_all_zero():
    """Every send span gives message id "0" on partition 0 (the record's offset before it
    was written): that is no message published three times, and with every delivery a child
    of its send, no delivery is joined by message id. The destination is the topic even with
    no messaging.system; its messaging.kafka.* keys say it is Kafka's."""
    b = SpanSet()
    _kafka_konsumer(b)
    st = b.store()
    a = analysed(st, {
        "service:catalog->topic:product-updated": ("publish", N),
        "topic:product-updated->service:search-indexer": ("consume", N),
        "service:search-indexer->external:elasticsearch": ("call", N),
    }, "topic:product-updated->service:search-indexer")
    (flow,) = a.flows
    assert flow["count"] == N and flow["traces_per_flow"] == 1.0
    assert systems_of(a) == {"topic:product-updated": "kafka"}


# --------------------------------------------------------------------------------------------
# NATS
# --------------------------------------------------------------------------------------------

# A request and its reply make a cycle of the map, which the analyzer lists as a cycle that
# flows come back along (a reply), not a loop (tests/test_analyzer_rules.py).
_REPLY_CYCLE = ("cycle", ("service:orders -> topic:(temporary:nats) -> service:storefront"
                          " -> topic:orders.get -> service:orders"), N)


def _java_nats_request_reply(b: SpanSet) -> None:
    """The OpenTelemetry Java agent's nats-2.17 instrumentation (2.x, default, old messaging
    conventions), read from opentelemetry-java-instrumentation instrumentation/nats/nats-2.17
    (NatsInstrumenterFactory, NatsRequestMessagingAttributesGetter,
    ConnectionRequestInstrumentation, AbstractNatsRequestTest) and instrumentation-api-
    incubator's MessagingAttributesExtractor / MessagingSpanNameExtractor.

    Connection.request("orders.get", ...) is one "orders.get publish" PRODUCER span that lasts
    until the reply arrives; the responder's Dispatcher handler runs in an "orders.get
    process" CONSUMER span, its child; the reply it publishes to the _INBOX subject is a
    "(temporary) publish" PRODUCER span (messaging.destination.name "(temporary)",
    messaging.destination.temporary=true), child of the process span; the requester handles
    the reply in a "(temporary) process" CONSUMER span, child of that. All in one trace.
    Attributes: messaging.system=nats, messaging.operation, messaging.message.body.size,
    messaging.client_id (the server-assigned client id)."""
    for i in range(N):
        t = i * 100
        root = b.span("storefront", "GET /orders/{id}", kind="SERVER", start_ms=t,
                      dur_ms=25, attrs={"http.request.method": "GET",
                                        "http.route": "/orders/{id}"})
        req = b.span("storefront", "orders.get publish", kind="PRODUCER", parent=root,
                     start_ms=t + 2, dur_ms=18,
                     attrs={"messaging.operation": "publish", "messaging.system": "nats",
                            "messaging.destination.name": "orders.get",
                            "messaging.message.body.size": 36, "messaging.client_id": "5"})
        proc = b.span("orders", "orders.get process", kind="CONSUMER", parent=req,
                      start_ms=t + 4, dur_ms=11,
                      attrs={"messaging.operation": "process", "messaging.system": "nats",
                             "messaging.destination.name": "orders.get",
                             "messaging.message.body.size": 36, "messaging.client_id": "9"})
        b.span("orders", "SELECT orders.orders", kind="CLIENT", parent=proc, start_ms=t + 5,
               dur_ms=6, attrs={"db.system": "postgresql", "db.name": "orders"})
        reply = b.span("orders", "(temporary) publish", kind="PRODUCER", parent=proc,
                       start_ms=t + 13, dur_ms=0.5,
                       attrs={"messaging.operation": "publish", "messaging.system": "nats",
                              "messaging.destination.temporary": True,
                              "messaging.destination.name": "(temporary)",
                              "messaging.message.body.size": 310,
                              "messaging.client_id": "9"})
        b.span("storefront", "(temporary) process", kind="CONSUMER", parent=reply,
               start_ms=t + 17, dur_ms=0.3,
               attrs={"messaging.operation": "process", "messaging.system": "nats",
                      "messaging.destination.temporary": True,
                      "messaging.destination.name": "(temporary)",
                      "messaging.message.body.size": 310, "messaging.client_id": "5"})


def test_java_agent_nats_request_reply_through_the_inbox():
    """A request and its reply: the request subject and the (temporary) inbox are the two
    topics; the reply coming back to the requester is a reply cycle, not a loop; each
    request is one flow of one trace."""
    b = SpanSet()
    _java_nats_request_reply(b)
    st = b.store()
    a = analysed_each(st, {
        "service:storefront->topic:orders.get": ("publish", N),
        "topic:orders.get->service:orders": ("consume", N),
        "service:orders->topic:(temporary:nats)": ("publish", N),
        "topic:(temporary:nats)->service:storefront": ("consume", N),
        "service:orders->external:postgresql": ("call", N),
    }, ["topic:orders.get->service:orders", "topic:(temporary:nats)->service:storefront"],
        anomalies=[_REPLY_CYCLE])
    assert a.anomalies[0]["loops"] == 0
    assert systems_of(a) == {"topic:orders.get": "nats", "topic:(temporary:nats)": "nats"}
    (flow,) = a.flows
    assert flow["count"] == N and flow["traces_per_flow"] == 1.0
    assert flow["entry_service"] == "storefront"
    assert flow["e2e_p50_ms"] == 25.0


def test_java_agent_nats_publish_to_two_subscribers():
    """Plain publish-subscribe: "orders.created publish" PRODUCER and, in each subscribing
    service's Dispatcher, an "orders.created process" CONSUMER child (the Java agent's
    MessageHandlerInstrumentation); one publish, two deliveries."""
    b = SpanSet()
    nats = {"messaging.system": "nats", "messaging.destination.name": "orders.created",
            "messaging.message.body.size": 120}
    for i in range(N):
        t = i * 100
        root = b.span("checkout", "POST /checkout", kind="SERVER", start_ms=t, dur_ms=10)
        pub = b.span("checkout", "orders.created publish", kind="PRODUCER", parent=root,
                     start_ms=t + 3, dur_ms=0.4,
                     attrs={**nats, "messaging.operation": "publish",
                            "messaging.client_id": "3"})
        for k, svc in enumerate(("billing", "shipping")):
            b.span(svc, "orders.created process", kind="CONSUMER", parent=pub,
                   start_ms=t + 5 + k, dur_ms=4,
                   attrs={**nats, "messaging.operation": "process",
                          "messaging.client_id": str(10 + k)})
    a = analysed_each(b.store(), {
        "service:checkout->topic:orders.created": ("publish", N),
        "topic:orders.created->service:billing": ("consume", N),
        "topic:orders.created->service:shipping": ("consume", N),
    }, ["topic:orders.created->service:billing", "topic:orders.created->service:shipping"])
    assert a.edge("topic:orders.created->service:billing")["queue_p50_ms"] == 1.6
    (flow,) = a.flows
    assert flow["count"] == N and flow["traces_per_flow"] == 1.0


def _natsnet_conn(client_id: int) -> dict:
    """What NATS.Net's Telemetry adds about the connection (all strings, ports included)."""
    return {"messaging.client_id": str(client_id), "server.address": "nats",
            "server.port": "4222", "network.protocol.name": "nats",
            "network.protocol.version": "1", "network.peer.address": "nats",
            "network.peer.port": "4222", "network.local.address": f"10.0.0.{client_id}"}


def _natsnet_receive(b: SpanSet, service: str, subject: str, parent: SpanRef,
                     start_ms: float, client_id: int, reply_to: str | None = None,
                     inbox: bool = False) -> SpanRef:
    """NATS.Net's receive span (Telemetry.StartReceiveActivity, called from NatsMsg.Build):
    "<first two tokens of the subject | inbox> receive" CONSUMER, child of the traceparent in
    the message's headers; messaging.destination.template is the subscription subject (the
    message's subject on this path) and messaging.destination.temporary the string "true"
    or "false". ActivityEndingMsgReader ends it when the application reads the message from
    the subscription's channel: it covers the hand-over, not the handling."""
    tokens = subject.split(".")
    head = "inbox" if inbox else ".".join(tokens[:2])
    attrs = {"messaging.system": "nats", "messaging.operation": "receive",
             "messaging.destination.template": subject,
             "messaging.destination.temporary": "true" if inbox else "false",
             "messaging.nats.message.subject": subject,
             "messaging.destination.name": subject,
             "messaging.destination_publish.name": subject,
             "messaging.message.body.size": "84", "messaging.message.envelope.size": "131",
             **_natsnet_conn(client_id)}
    if reply_to:
        attrs["messaging.nats.message.reply_to"] = reply_to
    return b.span(service, f"{head} receive", kind="CONSUMER", parent=parent,
                  start_ms=start_ms, dur_ms=0.3, attrs=attrs)


def _natsnet_publish(b: SpanSet, service: str, name: str, subject: str,
                     parent: SpanRef | None, start_ms: float, dur_ms: float, client_id: int,
                     reply_to: str | None = None) -> SpanRef:
    """NATS.Net's send span (Telemetry.StartSendActivity): PRODUCER, messaging.operation
    publish, the subject as messaging.destination.name, the reply subject as
    messaging.nats.message.reply_to."""
    attrs = {"messaging.system": "nats", "messaging.operation": "publish",
             "messaging.destination.name": subject, **_natsnet_conn(client_id)}
    if reply_to:
        attrs["messaging.nats.message.reply_to"] = reply_to
    return b.span(service, name, kind="PRODUCER", parent=parent, start_ms=start_ms,
                  dur_ms=dur_ms, attrs=attrs)


def test_natsnet_publish_subscribe_subjects_and_string_temporary_flag():
    """NATS.Net v2 (nats-io/nats.net src/NATS.Client.Core/Internal/Telemetry.cs,
    NatsConnection.Publish.cs, NatsMsg.cs, ActivityEndingMsgReader.cs): PublishAsync to
    "orders.created.eu" is an "orders.created publish" PRODUCER span (the name keeps two
    subject tokens, the destination is the whole subject); a subscriber of "orders.>" gets an
    "orders.created receive" CONSUMER child naming the subject as destination and template
    and messaging.destination.temporary="false" (a string, which is no temporary
    destination). Each subject is its own topic."""
    b = SpanSet()
    for i in range(N):
        for k, region in enumerate(("eu", "us")):
            t = i * 100 + k * 40
            subject = f"orders.created.{region}"
            root = b.span("shop", "POST /orders", kind="SERVER", start_ms=t, dur_ms=12)
            pub = _natsnet_publish(b, "shop", "orders.created publish", subject, root,
                                   t + 4, 0.5, client_id=4)
            _natsnet_receive(b, "billing", subject, pub, t + 5.5, client_id=8)
    a = analysed_each(b.store(), {
        "service:shop->topic:orders.created.eu": ("publish", N),
        "service:shop->topic:orders.created.us": ("publish", N),
        "topic:orders.created.eu->service:billing": ("consume", N),
        "topic:orders.created.us->service:billing": ("consume", N),
    }, ["topic:orders.created.eu->service:billing", "topic:orders.created.us->service:billing"])
    assert systems_of(a) == {"topic:orders.created.eu": "nats",
                             "topic:orders.created.us": "nats"}
    assert a.edge("topic:orders.created.eu->service:billing")["queue_p50_ms"] == 1.0
    assert sorted((f["count"], f["traces_per_flow"]) for f in a.flows) == [(N, 1.0)] * 2


def test_natsnet_request_reply_nested_request_span_and_reply_from_a_worker():
    """NATS.Net's RequestAsync (NatsConnection.RequestReply.cs, RequestSub.cs) is an
    "orders.get request" PRODUCER span around the round trip with, inside it, the request's
    own "orders.get publish" PRODUCER span (carrying the _INBOX reply subject, and whose
    context the message carries). The responder's "orders.get receive" is that publish's
    child; a responder reading in a BackgroundService loop has no current activity, so its
    msg.ReplyAsync "inbox publish" PRODUCER span is the root of a new trace, and the
    requester's "inbox receive" (template the _INBOX subject, temporary "true") is its child.
    The request counts once; the reply goes through the (temporary) inbox topic. The reply's
    trace is still the request's transaction: its destination is the one-off inbox that the
    request's publish and the responder's receive name as messaging.nats.message.reply_to,
    so the request is one flow of two traces (the handler's parentless query stays apart)."""
    b = SpanSet()
    for i in range(N):
        t = i * 100
        inbox = f"_INBOX.Nkq8mUwx4cZ3bVg0hTj{i:02d}"
        root = b.span("storefront", "GET /orders/{id}", kind="SERVER", start_ms=t,
                      dur_ms=30, attrs={"http.request.method": "GET"})
        req = _natsnet_publish(b, "storefront", "orders.get request", "orders.get", root,
                               t + 2, 20, client_id=5)
        pub = _natsnet_publish(b, "storefront", "orders.get publish", "orders.get", req,
                               t + 2.3, 0.4, client_id=5, reply_to=inbox)
        _natsnet_receive(b, "orders", "orders.get", pub, t + 3.5, client_id=9,
                         reply_to=inbox)
        b.span("orders", "orders", kind="CLIENT", start_ms=t + 4, dur_ms=6,
               attrs={"db.system": "postgresql"})  # the handler's query: a root too
        reply = _natsnet_publish(b, "orders", "inbox publish", inbox, None, t + 12, 0.3,
                                 client_id=9)
        _natsnet_receive(b, "storefront", inbox, reply, t + 13, client_id=5, inbox=True)
    a = analysed_each(b.store(), {
        "service:storefront->topic:orders.get": ("publish", N),
        "topic:orders.get->service:orders": ("consume", N),
        "service:orders->topic:(temporary:nats)": ("publish", N),
        "topic:(temporary:nats)->service:storefront": ("consume", N),
        "service:orders->external:postgresql": ("call", N),
    }, ["topic:orders.get->service:orders", "topic:(temporary:nats)->service:storefront"],
        anomalies=[_REPLY_CYCLE, ("publish_without_context", "service:orders->topic:(temporary:nats)", N)])
    assert systems_of(a) == {"topic:orders.get": "nats", "topic:(temporary:nats)": "nats"}
    assert a.edge("service:storefront->topic:orders.get")["p50_ms"] == 20.0  # the request
    # (the reply, published from a worker loop with no current span, starts a trace of its
    # own that nothing joins to the request's: reply_to names its inbox, a key no rule reads)
