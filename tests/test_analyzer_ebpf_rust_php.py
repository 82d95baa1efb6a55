"""Span shapes of OpenTelemetry eBPF Instrumentation (OBI, formerly Grafana Beyla) for
Kafka, of Rust services instrumented with ``tracing`` + ``tracing-opentelemetry`` around
rdkafka and lapin (as users write it: no instrumentation crate exists for either), and of
opentelemetry-php-contrib's ext-rdkafka and ext-amqp instrumentations. Each shape was read
from the library's source (cited per test); each test builds exactly those spans for a small
scenario and checks what the analyzer makes of them.

OBI, read in open-telemetry/opentelemetry-ebpf-instrumentation: pkg/ebpf/common/
kafka_detect_transform.go (the Kafka wire protocol, any language: Produce -> "publish",
newest "send"; Fetch -> "process"; topic "*" for a topic id no Metadata response named),
go_kafka_transform.go and bpf/gotracer/go_kafka_go.c (Go's sarama: no trace context at all;
segmentio/kafka-go: the produce span joins the goroutine's request, the fetch gets none),
pkg/appolly/app/request/span.go (TraceName "<operation> <topic>", event types),
pkg/export/otel/tracesgen/tracesgen.go (attributes; a client span PRODUCER for publish,
CONSUMER for process; the broker's own view, EventTypeKafkaServer, a SERVER span) and
tracesgen_test.go (newest: send is PRODUCER), pkg/export/attributes/names/attrs.go
(messaging.destination.partition.id, messaging.kafka.offset) and the Beyla integration test
test/integration/red_test_kafka.go ("publish my-topic" / "process my-topic" / "process *").
OBI injects context into HTTP/gRPC requests (and TCP/IP options) only, never into a Kafka
record: every delivery it reports has lost its producer's context, and has no message id.
"""

from __future__ import annotations

from typing import Any

from analyzer import analyze, edge_detail, flow_for_trace
from tests.analysis_checks import analysed as _analysed
from tests.analysis_checks import edges_of as _edges
from tests.analysis_checks import systems_of as _systems
from tests.builders import SpanRef, SpanSet

N = 3


def _anomalies(a) -> list[tuple[str, str, int]]:
    return sorted((x["type"], x["where"], x["count"]) for x in a.anomalies)


# ------------------------------------------------------------------------------------ OBI
# What OBI's HTTP server span of the producing service looks like (tracesgen.go,
# EventTypeHTTP): its child spans are the client calls made while serving it.
def _obi_http_server(b: SpanSet, service: str, t: float, route: str, dur: float) -> SpanRef:
    return b.span(service, f"POST {route}", kind="SERVER", start_ms=t, dur_ms=dur,
                  attrs={"http.request.method": "POST", "http.response.status_code": 202,
                         "url.path": route, "http.route": route, "client.address": "10.1.0.4",
                         "server.address": service, "server.port": 8080,
                         "http.request.body.size": 214, "http.response.body.size": 0})


# OBI generations and client libraries, each a Kafka span pair:
#  "1.24":  OBI's first Kafka spans (the integration test under python3.11): operation
#           "publish", client id under semconv 1.24's messaging.client_id;
#  "1.25":  tracesgen.go with semconv v1.25 (Java and python3.14 in the integration test):
#           messaging.client.id;
#  "send":  the newest kafka_detect_transform.go: Produce is "send" (a PRODUCER still,
#           tracesgen_test.go TestMessagingSpanKindFollowsTheOperationNotTheDirection);
#  "kafka-go": Go's segmentio/kafka-go probes: the client id is the library's import path,
#           no partition (no MessagingInfo);
#  "sarama": Go's sarama probes: GoKafkaSaramaToSpan sets no trace id or parent: the
#           publish is a root span of a trace of its own, not in the request's trace.
OBI_KAFKA = ("1.24", "1.25", "send", "kafka-go", "sarama")


def _obi_kafka_attrs(gen: str, op: str, topic: str, client: str,
                     offset: int | None) -> dict[str, Any]:
    a: dict[str, Any] = {"server.address": "kafka-0.kafka", "server.port": 9092,
                         "messaging.system": "kafka", "messaging.destination.name": topic,
                         "messaging.operation.type": op, "peer.service": "kafka"}
    if gen in ("kafka-go", "sarama"):
        # (kafka-go: the probe's Statement; sarama: the request header's, sarama's default)
        a["messaging.client.id"] = "github.com/segmentio/kafka-go" if gen == "kafka-go" \
            else "sarama"
    else:
        a["messaging.client_id" if gen == "1.24" else "messaging.client.id"] = client
    if gen != "kafka-go":
        a["messaging.destination.partition.id"] = 0
        if offset is not None:
            a["messaging.kafka.offset"] = offset
    return a


def _obi_kafka(b: SpanSet, gen: str, topic: str = "orders", fetched: str | None = None) -> None:
    """N orders: OBI's HTTP server span in "checkout" with the Produce request's span in it
    (a root of its own for sarama), and in "billing" the Fetch request's "process <topic>"
    CONSUMER span, a root (OBI could not carry the context through the record), after
    which the handler's database call is a root too (OBI gives client calls made outside a
    server request a trace of their own)."""
    op = "send" if gen == "send" else "publish"
    fetched = fetched or topic
    for i in range(N):
        t = i * 200
        root = _obi_http_server(b, "checkout", t, "/orders", 25)
        b.span("checkout", f"{op} {topic}", kind="PRODUCER",
               parent=None if gen == "sarama" else root, start_ms=t + 6, dur_ms=4,
               attrs=_obi_kafka_attrs(gen, op, topic, "producer-1", None))
        b.span("billing", f"process {fetched}", kind="CONSUMER", start_ms=t + 60, dur_ms=1.5,
               attrs=_obi_kafka_attrs(gen, "process", fetched, "consumer-billing-1", 40 + i))
        b.span("billing", "INSERT invoices", kind="CLIENT", start_ms=t + 63, dur_ms=3,
               attrs={"db.system.name": "postgresql", "db.operation.name": "INSERT",
                      "db.collection.name": "invoices", "server.address": "pg",
                      "server.port": 5432})


def test_obi_kafka_deliveries_never_carry_their_producers_context():
    """Whatever the client library or OBI version, a Kafka delivery OBI reports is a root
    span with no link and no message id: the delivery is counted on the topic's edge, joined
    to nothing (no invented join), reported as a broken context (the topic has producers),
    and the published messages as not seen consumed while the topic has consumers. No flow
    spans two traces."""
    for gen in OBI_KAFKA:
        b = SpanSet()
        _obi_kafka(b, gen)
        st = b.store()
        a = analyze(st)
        assert _edges(a) == {
            "service:checkout->topic:orders": ("publish", N),
            "topic:orders->service:billing": ("consume", N),
            "service:billing->external:postgresql": ("call", N),
        }, gen
        assert _systems(a) == {"topic:orders": "kafka"}, gen
        consume = a.edge("topic:orders->service:billing")
        assert consume["joined_by"] == {"context": 0, "message_id": 0, "none": N,
                                        "outside": 0}, gen
        assert consume["queue_p50_ms"] is None, gen  # (nothing says which publish it was)
        assert _anomalies(a) == [("broken_context", "topic:orders->service:billing", N),
                                 ("published_never_consumed", "topic:orders", N)], gen
        never = next(x for x in a.anomalies if x["type"] == "published_never_consumed")
        assert never["topic_has_consumers"], gen
        assert all(f["traces_per_flow"] == 1.0 for f in a.flows), gen
        for e in a.edges:
            assert edge_detail(st, e["id"])["count"] == e["count"], (gen, e["id"])


def test_obi_fetch_by_topic_id_names_the_topic_star():
    """A Fetch request of Kafka 3.x+ clients (Java's, Fetch v13) names its topic by id; until
    OBI has seen a Metadata response naming that id it reports the topic as "*"
    (kafka_detect_transform.go unknownTopicName; the integration test's "process *" for
    Java). "*" is OBI's word for an unknown topic, not a topic of that name: the delivery
    comes from an unknown topic, and is joined to no publish."""
    b = SpanSet()
    _obi_kafka(b, "1.25", fetched="*")
    a = analyze(b.store())
    assert "topic:*" not in {n["id"] for n in a.nodes}
    assert _edges(a) == {
        "service:checkout->topic:orders": ("publish", N),
        "topic:unknown->service:billing": ("consume", N),
        "service:billing->external:postgresql": ("call", N),
    }
    consume = a.edge("topic:unknown->service:billing")
    assert consume["joined_by"] == {"context": 0, "message_id": 0, "none": N, "outside": 0}


# ----------------------------------------------------------------------------------- Rust
# tokio-rs/tracing-opentelemetry src/layer.rs: a tracing span's kind is its otel.kind field
# (str_to_span_kind, case-insensitive: "producer", "Producer", "Consumer" all work), its name
# the tracing span's name (an #[instrument]ed function's name) unless otel.name; the other
# fields are attributes, beside code.filepath / code.namespace / code.lineno, thread.id /
# thread.name and busy_ns / idle_ns that the layer adds; its parent the current tracing
# span unless set_parent() was called. src/span_ext.rs: add_link_with_attributes() adds a
# link only for a valid span context (no headers, no link).
def _rust_attrs(fn: str, module: str, line: int, **fields: Any) -> dict[str, Any]:
    return {"code.filepath": f"{module.split('::')[0]}/src/{module.split('::')[-1]}.rs",
            "code.namespace": module, "code.lineno": line, "thread.id": 7,
            "thread.name": "tokio-runtime-worker", "busy_ns": 412_000, "idle_ns": 88_000,
            **fields}


def _axum_server(b: SpanSet, t: float, dur: float) -> SpanRef:
    """axum-tracing-opentelemetry's OtelAxumLayer server span (otel.kind = server)."""
    return b.span("bookapp", "POST /books/add", kind="SERVER", start_ms=t, dur_ms=dur,
                  attrs={"http.request.method": "POST", "http.route": "/books/add",
                         "http.response.status_code": 200, "url.scheme": "http"})


def test_rust_rdkafka_producer_kind_from_otel_kind_and_a_linked_consumer_root():
    """hardbyte/rust-telemetry-example, bookapp/src/rest.rs and book_ingestion.rs (the
    versions with a consumer in the app): the handler calls
    ``#[tracing::instrument(skip(producer), fields(otel.kind = "producer"))] async fn
    queue_background_ingestion_task(producer, new_id)``, which injects its own context into
    the record's headers and sends to "book_ingestion": a PRODUCER span with no messaging
    attribute at all (only new_id). The consumer loop makes ``info_span!("book_ingestion",
    "otel.kind" = "Consumer")``, a root, linked to the extracted context (link attribute
    somekey=somevalue), and handles the message in_scope (background_process_new_book, a
    child). Nothing names the topic: it is unknown, but each delivery is joined to its
    publish by the link, the whole business transaction is one flow of two traces, and the
    delivery lasts as long as its span (the handling inside it)."""
    b = SpanSet()
    for i in range(N):
        t = i * 150
        root = _axum_server(b, t, 22)
        handler = b.span("bookapp", "create_book", parent=root, start_ms=t + 1, dur_ms=20,
                         attrs=_rust_attrs("create_book", "bookapp::rest", 120))
        b.span("bookapp", "INSERT INTO books", kind="CLIENT", parent=handler, start_ms=t + 2,
               dur_ms=4, attrs={"db.system": "postgresql", "db.name": "bookapp"})
        pub = b.span("bookapp", "queue_background_ingestion_task", kind="PRODUCER",
                     parent=handler, start_ms=t + 8, dur_ms=11,
                     attrs=_rust_attrs("queue_background_ingestion_task", "bookapp::rest",
                                       141, new_id=1000 + i))
        recv = b.span("backend", "book_ingestion", kind="CONSUMER", start_ms=t + 45,
                      dur_ms=7, links=[(pub, {"somekey": "somevalue"})],
                      attrs=_rust_attrs("run_consumer", "bookapp::book_ingestion", 152))
        b.span("backend", "background_process_new_book", parent=recv, start_ms=t + 45.5,
               dur_ms=6, attrs=_rust_attrs("background_process_new_book",
                                           "bookapp::book_ingestion", 70, book_id=1000 + i))
    st = b.store()
    a = _analysed(st, {
        "service:bookapp->topic:unknown": ("publish", N),
        "topic:unknown->service:backend": ("consume", N),
        "service:bookapp->external:postgresql": ("call", N),
    }, "topic:unknown->service:backend", p50_ms=7.0)
    assert a.edge("topic:unknown->service:backend")["queue_p50_ms"] == 26.0
    assert [(f["entry_service"], f["count"], f["traces_per_flow"]) for f in a.flows] == \
        [("bookapp", N, 2.0)]


def test_rust_rdkafka_consumer_naming_its_topic_by_the_legacy_key_names_the_publish():
    """The same example later (backend/src/book_ingestion.rs at 0c711a78, the consumer
    moved to the backend service): ``info_span!("book_ingestion_processing", "otel.kind" =
    "Consumer", "messaging.system" = "kafka", "messaging.destination" = "book_ingestion")``
    (the pre-1.20 key), a root linked to the extracted context (link attributes
    link.type=follows_from, messaging.operation=process); the handler runs in
    ``span.in_scope(|| async {...}).await``, which enters the span only while the future
    is built, so background_process_new_book is polled outside it: a root trace of its
    own. The producer still names nothing: its messages went to the topic their
    deliveries came from."""
    b = SpanSet()
    for i in range(N):
        t = i * 150
        root = _axum_server(b, t, 22)
        handler = b.span("bookapp", "create_book", parent=root, start_ms=t + 1, dur_ms=20,
                         attrs=_rust_attrs("create_book", "bookapp::rest", 120))
        pub = b.span("bookapp", "queue_background_ingestion_task", kind="PRODUCER",
                     parent=handler, start_ms=t + 8, dur_ms=11,
                     attrs=_rust_attrs("queue_background_ingestion_task", "bookapp::rest",
                                       141, new_id=1000 + i))
        b.span("backend", "book_ingestion_processing", kind="CONSUMER", start_ms=t + 45,
               dur_ms=7, links=[(pub, {"link.type": "follows_from",
                                       "messaging.operation": "process"})],
               attrs=_rust_attrs("run_consumer", "backend::book_ingestion", 262,
                                 **{"messaging.system": "kafka",
                                    "messaging.destination": "book_ingestion"}))
        b.span("backend", "background_process_new_book", start_ms=t + 45.2, dur_ms=6.5,
               attrs=_rust_attrs("background_process_new_book", "backend::book_ingestion",
                                 180, book_id=f"0190c3a1-{i}"))
    st = b.store()
    a = _analysed(st, {
        "service:bookapp->topic:book_ingestion": ("publish", N),
        "topic:book_ingestion->service:backend": ("consume", N),
    }, "topic:book_ingestion->service:backend", p50_ms=7.0)
    assert _systems(a) == {"topic:book_ingestion": "kafka"}
    # (the publish edge's detail finds the deliveries linking to its spans, as the analysis)
    assert edge_detail(st, "service:bookapp->topic:book_ingestion")["count"] == N
    flows = sorted((f["entry_service"], f["count"], f["traces_per_flow"]) for f in a.flows)
    # the business transaction is one flow; the detached handler roots are work of their own
    assert flows == [("backend", N, 1.0), ("bookapp", N, 2.0)]


def test_rust_outbox_publisher_without_a_messaging_span_leaves_its_consumer_unjoined():
    """The example's latest producer path (backend/src/book_ingestion.rs,
    start_outbox_publisher): a root ``outbox_publish_cycle`` span (otel.kind = "internal")
    per polling cycle, publish_unpublished_events and publish_event (#[instrument] with
    fields topic and event.id: INTERNAL spans, no messaging attribute) around an rdkafka
    send "without headers for now". The consumer span names the topic and links nothing
    (the extracted context is invalid: add_link_with_attributes adds no link). No span says
    a message was published: the deliveries have no producer, honestly reported so, and
    no publish is invented."""
    b = SpanSet()
    for i in range(N):
        t = i * 5000
        cycle = b.span("backend", "outbox_publish_cycle", start_ms=t, dur_ms=14,
                       attrs=_rust_attrs("start_outbox_publisher", "backend::book_ingestion",
                                         45, batch_size="100"))
        scan = b.span("backend", "publish_unpublished_events", parent=cycle,
                      start_ms=t + 0.5, dur_ms=13,
                      attrs=_rust_attrs("publish_unpublished_events",
                                        "backend::book_ingestion", 80))
        b.span("backend", "SELECT events", kind="CLIENT", parent=scan, start_ms=t + 1,
               dur_ms=2, attrs={"db.system": "postgresql", "db.name": "bookapp"})
        b.span("backend", "publish_event", parent=scan, start_ms=t + 4, dur_ms=6,
               attrs=_rust_attrs("publish_event", "backend::book_ingestion", 128,
                                 topic="book_ingestion", **{"event.id": 500 + i}))
        b.span("backend", "book_ingestion_processing", kind="CONSUMER", start_ms=t + 30,
               dur_ms=7, attrs=_rust_attrs("run_consumer", "backend::book_ingestion", 262,
                                           **{"messaging.system": "kafka",
                                              "messaging.destination": "book_ingestion"}))
    a = analyze(b.store())
    assert _edges(a) == {
        "topic:book_ingestion->service:backend": ("consume", N),
        "service:backend->external:postgresql": ("call", N),
    }
    consume = a.edge("topic:book_ingestion->service:backend")
    assert consume["joined_by"] == {"context": 0, "message_id": 0, "none": N, "outside": 0}
    assert _anomalies(a) == [("consumer_without_producer",
                              "topic:book_ingestion->service:backend", N)]


def test_rust_lapin_consumer_span_is_a_child_of_the_senders_request():
    """ralvescosta/ruskit, amqp/src/publisher.rs: AmqpPublisher::publish opens no span; it
    injects the context its caller passes (the request's) into the lapin message headers.
    amqp/src/otel.rs new_span and amqp/src/consumer.rs: each delivery gets a span named
    after the message type (the AMQP "type" property, e.g. "OrderCreated"), SpanKind
    Consumer, no attribute at all, parented on the extracted context; the handler runs
    with that context (its database call is a child) and the span is set Ok on ack. The
    consumer span is a delivery that came from another service (its parent is there): a
    delivery from an unnamed destination to orders-worker, inside the sender's flow."""
    b = SpanSet()
    for i in range(N):
        t = i * 100
        root = b.span("orders-api", "POST /orders", kind="SERVER", start_ms=t, dur_ms=18,
                      attrs={"http.request.method": "POST", "http.route": "/orders",
                             "http.response.status_code": 201})
        b.span("orders-api", "INSERT orders", kind="CLIENT", parent=root, start_ms=t + 2,
               dur_ms=5, attrs={"db.system": "postgresql"})
        cons = b.span("orders-worker", "OrderCreated", kind="CONSUMER", parent=root,
                      start_ms=t + 30, dur_ms=9, status="OK")
        b.span("orders-worker", "INSERT shipments", kind="CLIENT", parent=cons,
               start_ms=t + 31, dur_ms=4, attrs={"db.system": "postgresql"})
    st = b.store()
    a = analyze(st)
    edges = _edges(a)
    assert edges["topic:unknown->service:orders-worker"] == ("consume", N)
    assert edges["service:orders-worker->external:postgresql"] == ("call", N)
    (flow,) = [f for f in a.flows if f["entry_service"] == "orders-api"]
    assert flow["count"] == N and flow["traces_per_flow"] == 1.0
    assert "topic:unknown->service:orders-worker" in flow["hops"]
    assert edge_detail(st, "topic:unknown->service:orders-worker")["count"] == N


# ------------------------------------------------------------------------------------ PHP
# open-telemetry/opentelemetry-php-contrib, src/Instrumentation/ExtRdKafka/src/
# ExtRdKafkaInstrumentation.php, three generations read from its history:
#  "first":  no producer span; producev() only injects the current context's traceparent
#            (the request's); KafkaConsumer::consume() starts "Consumer: <topic>" CONSUMER
#            (messaging.system kafka, messaging.operation consume), parent the traceparent;
#  "1.25":   ProducerTopic::producev -> "<topic> publish" PRODUCER (messaging.operation.type
#            publish, messaging.kafka.message.key), whose own context is injected; consume()
#            -> "<topic> process" CONSUMER (process, message key, messaging.kafka.offset);
#  "1.32":   "send <topic>" PRODUCER (send), and the consumer span named "send <topic>" too
#            (TraceAttributeValues::MESSAGING_OPERATION_TYPE_SEND in its spanBuilder), its
#            operation type process.
# No generation sets messaging.destination.name: the topic is only in the span name. The
# consumer span starts when consume() returns a message, becomes the current span (the
# handler's PDO spans are its children) and ends on commit()/commitAsync().
def _php_code(fn: str, cls: str) -> dict[str, Any]:
    return {"code.function": fn, "code.namespace": cls,
            "code.filepath": "/var/www/src/Messaging/OrderEvents.php", "code.lineno": 57}


def _php_rdkafka(b: SpanSet, gen: str) -> None:
    for i in range(N):
        t = i * 100
        root = b.span("shop", "POST /checkout", kind="SERVER", start_ms=t, dur_ms=24,
                      attrs={"http.request.method": "POST", "http.route": "/checkout",
                             "http.response.status_code": 200})
        key = f"order-{1000 + i}"
        if gen == "first":
            parent = root
            name = "Consumer: orders"
            cattrs: dict[str, Any] = {"messaging.system": "kafka",
                                      "messaging.operation": "consume"}
        else:
            pname, op = (("orders publish", "publish") if gen == "1.25"
                         else ("send orders", "send"))
            parent = b.span("shop", pname, kind="PRODUCER", parent=root, start_ms=t + 9,
                            dur_ms=1.5, attrs={**_php_code("producev", "RdKafka\\ProducerTopic"),
                                               "messaging.system": "kafka",
                                               "messaging.operation.type": op,
                                               "messaging.kafka.message.key": key})
            name = "orders process" if gen == "1.25" else "send orders"
            cattrs = {"messaging.system": "kafka", "messaging.operation.type": "process",
                      "messaging.kafka.message.key": key, "messaging.kafka.offset": 310 + i}
        cons = b.span("billing-worker", name, kind="CONSUMER", parent=parent,
                      start_ms=t + 40, dur_ms=15, attrs=cattrs)  # (until the commit)
        b.span("billing-worker", "PDO->prepare", kind="CLIENT", parent=cons, start_ms=t + 42,
               dur_ms=3, attrs={"db.system": "mysql", "db.statement": "INSERT INTO invoices"})


def test_php_rdkafka_first_consumer_span_is_a_child_of_the_request():
    """The first generation made no producer span: the record carries the checkout
    request's context, and "Consumer: orders" is its child. The delivery is counted, on the
    sender's flow (its context came through), with the handler's query under it."""
    b = SpanSet()
    _php_rdkafka(b, "first")
    st = b.store()
    a = analyze(st)
    (consume,) = [e for e in a.edges if e["type"] == "consume"]
    assert (consume["target"], consume["count"]) == ("service:billing-worker", N)
    assert consume["p50_ms"] == 15.0
    assert _edges(a)["service:billing-worker->external:mysql"] == ("call", N)
    assert [(f["entry_service"], f["count"], f["traces_per_flow"]) for f in a.flows] == \
        [("shop", N, 1.0)]
    flow = flow_for_trace(st, b.spans[0].ref.trace_id)
    assert consume["id"] in {h["hop"] for h in flow["critical_path_segments"]}


def _php_ext_amqp(b: SpanSet, gen: str) -> None:
    """src/Instrumentation/ExtAmqp/src/ExtAmqpInstrumentation.php. AMQPExchange::publish ->
    "<routing key> publish" PRODUCER (the default exchange: no exchange name in front),
    destination name = the routing key. Schema 1.24 generation: messaging.system "amqp",
    messaging.operation publish, messaging.destination too, destination_publish.name,
    destination.kind = the exchange type, net.* and network.*; schema 1.38 generation:
    messaging.system rabbitmq, operation type send, network.*. There is no consume or
    process span: AMQPQueue::ack/nack/reject make "<queue> ack" CLIENT spans (operation ack,
    newest: type settle, name ack; the consumer tag as client id), parented on whatever is
    current in the worker (nothing: the delivery's headers are not extracted)."""
    for i in range(N):
        t = i * 100
        root = b.span("shop", "POST /signup", kind="SERVER", start_ms=t, dur_ms=20,
                      attrs={"http.request.method": "POST", "http.route": "/signup",
                             "http.response.status_code": 201})
        code = {"code.function": "publish", "code.namespace": "AMQPExchange",
                "code.filepath": "/var/www/src/Mail/Outbox.php", "code.lineno": 31}
        if gen == "1.24":
            pub = {"messaging.system": "amqp", "messaging.operation": "publish",
                   "messaging.destination": "emails", "messaging.destination.name": "emails",
                   "messaging.destination_publish.name": "emails",
                   "messaging.destination.kind": "direct",
                   "messaging.rabbitmq.routing.key": "emails",
                   "messaging.rabbitmq.destination.routing.key": "emails",
                   "net.protocol.name": "amqp", "network.protocol.name": "amqp",
                   "net.transport": "tcp", "network.transport": "tcp",
                   "net.peer.name": "rabbitmq", "network.peer.address": "rabbitmq",
                   "net.peer.port": 5672, "network.peer.port": 5672}
            ack = {"messaging.system": "amqp", "messaging.operation": "ack",
                   "messaging.destination.kind": "queue",
                   "messaging.rabbitmq.routing.key": "emails",
                   "messaging.rabbitmq.destination.routing_key": "emails",
                   "messaging.destination_publish.name": "emails",
                   "messaging.client_id": "amq.ctag-Wq2", "net.peer.name": "rabbitmq",
                   "net.peer.port": 5672}
        else:
            pub = {"messaging.system": "rabbitmq", "messaging.operation.type": "send",
                   "messaging.destination.name": "emails",
                   "messaging.rabbitmq.destination.routing_key": "emails",
                   "network.protocol.name": "amqp", "network.transport": "tcp",
                   "network.peer.address": "rabbitmq", "network.peer.port": 5672}
            ack = {"messaging.system": "rabbitmq", "messaging.operation.type": "settle",
                   "messaging.operation.name": "ack", "messaging.destination.name": "emails",
                   "messaging.rabbitmq.destination.routing_key": "emails",
                   "messaging.client.id": "amq.ctag-Wq2", "network.protocol.name": "amqp",
                   "network.transport": "tcp", "network.peer.address": "rabbitmq",
                   "network.peer.port": 5672}
        b.span("shop", "emails publish", kind="PRODUCER", parent=root, start_ms=t + 6,
               dur_ms=1.2, attrs={**code, **pub})
        b.span("mailer", "emails ack", kind="CLIENT", start_ms=t + 55, dur_ms=0.4,
               attrs={**code, "code.function": "ack", "code.namespace": "AMQPQueue",
                      "code.filepath": "/var/www/bin/mail-worker.php", **ack})


def test_php_ext_amqp_acknowledged_messages_are_not_reported_lost():
    """With ext-amqp the worker reports only its acknowledgements. Each published message
    was acknowledged on its queue by the mailer: no delivery can be joined (there is no
    delivery span, and no context), but nothing was lost either."""
    for gen in ("1.24", "1.38"):
        b = SpanSet()
        _php_ext_amqp(b, gen)
        st = b.store()
        a = analyze(st)
        edges = _edges(a)
        assert edges["service:shop->topic:emails"] == ("publish", N), gen
        assert _systems(a)["topic:emails"] == ("amqp" if gen == "1.24" else "rabbitmq"), gen
        assert not [e for e in a.edges if e["type"] == "consume"
                    and e["joined_by"]["context"]], gen  # (nothing to join them by)
        assert not [x for x in a.anomalies if x["type"] == "published_never_consumed"], gen


# Seen, not encoded (left alone): OBI instrumenting the Kafka broker itself gives its view
# of produce and fetch requests as SERVER messaging spans (read as the broker publishing
# and consuming); PHP's ExtRdKafka names the topic only in its span names (a name is not
# read for a destination: too many libraries put other things there).
