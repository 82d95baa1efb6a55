"""Span shapes of Solace PubSub+ and of AMQP 1.0 clients, each read from the real source
(cited per test): Solace's OpenTelemetry JCSMP integration under the Spring Cloud Stream
Solace binder's own instrumentation, the broker's distributed-tracing spans as the
OpenTelemetry Collector's solacereceiver exports them, the Quarkus Solace connector
(SmallRye tracing), Solace's manual-instrumentation samples, the Java agent's JMS
instrumentation with Solace's JMS propagator (Solace's codelab), and Apache Qpid Proton's
own tracing (C++: OpenTelemetry; Python: OpenTracing/Jaeger). Each test builds exactly the
spans the library exports for a small scenario and checks what the analyzer makes of them.

Solace's JCSMP integration (com.solace:solace-opentelemetry-jcsmp-integration) is not open
source: its spans' attributes and kinds are those that SolaceProducts/solace-spring-cloud's
integration tests assert (solace-spring-cloud-stream-binder-opentelemetry/
solace-spring-cloud-stream-binder-instrumentation-tests/.../util/JaegerQueryUtil.java:
PRODUCER messaging.operation.name/type publish, CONSUMER operation.name consume and type
receive, messaging.system SolacePubSub+, messaging.solace.api.name jcsmp, the queue as
messaging.destination.name with messaging.solace.destination.type and the topic as
messaging.solace.message.topic). Their span names are not in any source I could read: they
are given here as the conventions' "{operation name} {destination}", which the binder's own
spans use ("process <queue>").

The broker's spans (open-telemetry/opentelemetry-collector-contrib receiver/solacereceiver:
unmarshaller.go, unmarshaller_receive.go, unmarshaller_egress.go, the collector 0.96 that
the binder's integration tests run): service.name is the broker's router name; a receive
span "(topic) receive" CONSUMER (messaging.system SolacePubSub+, messaging.operation
receive, the topic as the legacy messaging.destination, messaging.protocol, the queues it
was enqueued to only as span events); an egress span "<queue> send" PRODUCER per delivery
attempt (messaging.operation send, the queue as messaging.source.name and
messaging.source.kind queue, messaging.solace.send.outcome). Solace's documentation
(Distributed Tracing, Context Propagation): "if an event message is successfully traced
(that is, it generates and enqueues a span), the event broker updates the event message's
trace context with the context from the span" -- so the broker's receive span is the child
of the publisher's span and the consumer's span the child of the broker's receive span.
"""

from __future__ import annotations

import uuid
from typing import Any

from analyzer import analyze
from tests.analysis_checks import analysed as _analysed
from tests.analysis_checks import analysed_each as _analysed_each
from tests.analysis_checks import flows_of as _flows
from tests.analysis_checks import systems_of as _systems
from tests.builders import SpanRef, SpanSet

N = 3
SOLACE = "SolacePubSub+"


# ---------------------------------------------------------- JCSMP integration + SCSt binder
def _jcsmp(op_name: str, op_type: str, dest: str, dest_type: str,
           topic: str | None = None) -> dict[str, Any]:
    """The JCSMP integration's attributes (JaegerQueryUtil.createBasicTags and the
    verify*Spans helpers)."""
    a = {"messaging.system": SOLACE, "messaging.operation.name": op_name,
         "messaging.operation.type": op_type, "messaging.solace.api.name": "jcsmp",
         "messaging.solace.api.version": "10.25.1", "messaging.destination.name": dest,
         "messaging.solace.destination.type": dest_type}
    if topic is not None:  # (a queue or topic endpoint: the topic the message was sent to)
        a["messaging.solace.message.topic"] = topic
    return a


def _jcsmp_publish(b: SpanSet, service: str, topic: str, parent: SpanRef | None,
                   t: float, dur: float = 1.5) -> SpanRef:
    return b.span(service, f"publish {topic}", kind="PRODUCER", parent=parent, start_ms=t,
                  dur_ms=dur, attrs=_jcsmp("publish", "publish", topic, "topic"))


def _binder_consume(b: SpanSet, service: str, queue: str, topic: str, channel: str,
                    parent: SpanRef, t: float, work_ms: float) -> SpanRef:
    """One message through the binder (SolaceBinderConsumerInstrumentation): the JCSMP
    integration's receive span (its parent the message's context), the binder's
    "process <queue>" CONSUMER span in it (InboundXMLMessageListener.processMessage: its
    parent the current context, the receive), and the "<channel> process" INTERNAL span
    around MessageProducerSupport.sendMessage (the function's work). Returns the INTERNAL
    span, the current context of anything the function does."""
    recv = b.span(service, f"consume {queue}", kind="CONSUMER", parent=parent, start_ms=t,
                  dur_ms=0.4, attrs=_jcsmp("consume", "receive", queue, "queue", topic))
    proc = b.span(service, f"process {queue}", kind="CONSUMER", parent=recv,
                  start_ms=t + 0.5, dur_ms=work_ms + 1,
                  attrs={**_jcsmp("consume", "process", queue, "queue", topic),
                         "messaging.solace.api.name": "spring-cloud-stream-binder-solace",
                         "messaging.solace.api.version": "6.0.0",
                         "messaging.solace.delivery_mode": "PERSISTENT"})
    return b.span(service, f"{channel} process", kind="INTERNAL", parent=proc,
                  start_ms=t + 0.8, dur_ms=work_ms,
                  attrs={"messaging.system": SOLACE, "messaging.operation.name": "consume",
                         "messaging.operation.type": "process",
                         "messaging.solace.api.name": "solace-spring-cloud-stream-binder",
                         "messaging.solace.api.version": "6.0.0"})


FAHRENHEIT = "sensors/temperature/fahrenheit"
CELSIUS = "sensors/temperature/celsius"
# the binder's queue of a durable consumer group (queueNameExpression's default:
# 'scst/' + (isAnonymous ? 'an/' : 'wk/') + group + '/' + 'plain/' + destination)
Q_CONVERTER = f"scst/wk/converter/plain/{FAHRENHEIT}"
Q_DASHBOARD = f"scst/wk/dashboard/plain/{CELSIUS}"


def test_solace_scst_processor_receive_and_binder_spans_are_one_delivery_each():
    """The binder's integration tests' processor shape (SolaceBinderInstrumentationIT
    testProcessorInstrumentation), three services: a poller-driven supplier publishes a
    reading to topic sensors/temperature/fahrenheit (a root PRODUCER span); the converter's
    durable group queue (subscribed to that topic) delivers it: the JCSMP receive span names
    the queue (the topic as messaging.solace.message.topic), the binder's "process <queue>"
    CONSUMER span is its child and the function's INTERNAL span under that, which
    publishes the converted reading to sensors/temperature/celsius; the dashboard's group
    queue delivers that. Two consumer spans per delivery are one delivery; each queue is
    routed from the topic it subscribes to; one flow per reading, in one trace."""
    b = SpanSet()
    for i in range(N):
        t = i * 5000
        pub = _jcsmp_publish(b, "temperature-source", FAHRENHEIT, None, t)
        fn = _binder_consume(b, "converter", Q_CONVERTER, FAHRENHEIT,
                             "convertFtoC-in-0", pub, t + 4, work_ms=3)
        out = _jcsmp_publish(b, "converter", CELSIUS, fn, t + 6, dur=1.2)
        _binder_consume(b, "dashboard", Q_DASHBOARD, CELSIUS, "display-in-0", out, t + 10,
                        work_ms=2)
    st = b.store()
    a = _analysed_each(st, {
        f"service:temperature-source->topic:{FAHRENHEIT}": ("publish", N),
        f"topic:{FAHRENHEIT}->topic:{Q_CONVERTER}": ("route", N),
        f"topic:{Q_CONVERTER}->service:converter": ("consume", N),
        f"service:converter->topic:{CELSIUS}": ("publish", N),
        f"topic:{CELSIUS}->topic:{Q_DASHBOARD}": ("route", N),
        f"topic:{Q_DASHBOARD}->service:dashboard": ("consume", N),
    }, [f"topic:{Q_CONVERTER}->service:converter", f"topic:{Q_DASHBOARD}->service:dashboard"])
    assert set(_systems(a).values()) == {"solacepubsub+"}
    assert _flows(a) == [("temperature-source", N, 1.0)]
    # the delivery is timed by the binder's process span (the handler, as for Spring JMS's
    # listener): from the end of the publish to its start, and its length
    assert a.edge(f"topic:{Q_CONVERTER}->service:converter")["p50_ms"] == 4.0
    assert a.edge(f"topic:{Q_CONVERTER}->service:converter")["queue_p50_ms"] == 3.0


# ------------------------------------------------------------- the broker's own spans
BROKER = "solbroker"  # the broker's router name: the broker spans' service.name


def _broker_receive(b: SpanSet, topic: str, parent: SpanRef, t: float) -> SpanRef:
    """The solacereceiver's receive span (receive/v1, collector 0.96): named "(topic)
    receive" whatever the topic, CONSUMER, legacy messaging attributes; the enqueue
    decisions are span events (not kept here)."""
    return b.span(BROKER, "(topic) receive", kind="CONSUMER", parent=parent, start_ms=t,
                  dur_ms=0.3,
                  attrs={"messaging.system": SOLACE, "messaging.operation": "receive",
                         "messaging.protocol": "SMF", "messaging.protocol_version": "3.0",
                         "messaging.destination": topic,
                         "messaging.message_payload_size_bytes": 182,
                         "messaging.solace.client_username": "default",
                         "messaging.solace.client_name": "shop-7f9c/1234/#00000001/A1b2",
                         "messaging.solace.broker_receive_time_unix_nano": b.ms(t),
                         "messaging.solace.delivery_mode": "persistent",
                         "messaging.solace.dmq_eligible": False,
                         "net.host.ip": "10.0.3.7", "net.host.port": 55555,
                         "net.peer.ip": "10.0.1.12", "net.peer.port": 40432})


def _broker_send(b: SpanSet, queue: str, parent: SpanRef, t: float, dur: float,
                 outcome: str = "accepted") -> SpanRef:
    """The solacereceiver's egress send span (egress/v1, collector 0.96): "<queue> send",
    PRODUCER, from the delivery to the consumer's settlement; the queue as its source."""
    return b.span(BROKER, f"{queue} send", kind="PRODUCER", parent=parent, start_ms=t,
                  dur_ms=dur,
                  attrs={"messaging.system": SOLACE, "messaging.operation": "send",
                         "messaging.protocol": "SMF", "messaging.protocol_version": "3.0",
                         "messaging.source.name": queue, "messaging.source.kind": "queue",
                         "messaging.solace.client_username": "default",
                         "messaging.solace.client_name": "fulfilment-5d8b/77/#00000002/Z9y8",
                         "messaging.solace.message_replayed": False,
                         "messaging.solace.send.outcome": outcome},
                  status="ERROR" if outcome == "delivery failed" else "UNSET")


ORDERS = "acme/shop/order/created/v1"
Q_FULFIL = "q.fulfilment"


def test_solace_broker_receive_and_send_spans_are_no_service():
    """With the broker's tracing on, each order's trace holds, between the shop's publish
    (a JCSMP integration PRODUCER span under its HTTP request) and fulfilment's receive: the
    broker's "(topic) receive" CONSUMER span (child of the publish) and, per delivery, its
    "q.fulfilment send" PRODUCER span (child of its receive span, lasting until the
    consumer acknowledged). Fulfilment's receive span is the child of the broker's receive
    span (the broker put its span's context into the message). The broker is no service
    that consumes the topic and publishes to the queue (analyzer_relays): one publish, one
    route from the topic to the queue, one delivery joined by context, queued from the
    publish's end, no anomaly, one flow per order.
    Source: open-telemetry/opentelemetry-collector-contrib receiver/solacereceiver
    (unmarshaller_receive.go, unmarshaller_egress.go); Solace's documentation on context
    propagation (see the module's docstring)."""
    b = SpanSet()
    for i in range(N):
        t = i * 1000
        root = b.span("shop", "POST /orders", kind="SERVER", start_ms=t, dur_ms=30,
                      attrs={"http.request.method": "POST", "http.route": "/orders"})
        pub = _jcsmp_publish(b, "shop", ORDERS, root, t + 20, dur=2)
        brecv = _broker_receive(b, ORDERS, pub, t + 20.6)
        _broker_send(b, Q_FULFIL, brecv, t + 21.1, dur=9)
        recv = b.span("fulfilment", f"consume {Q_FULFIL}", kind="CONSUMER", parent=brecv,
                      start_ms=t + 23, dur_ms=6,
                      attrs=_jcsmp("consume", "receive", Q_FULFIL, "queue", ORDERS))
        b.client_call("fulfilment", None, parent=recv, start_ms=t + 24, dur_ms=4,
                      peer={"db.system": "postgresql", "server.address": "fulfilment-db"})
    st = b.store()
    a = _analysed_each(st, {
        f"service:shop->topic:{ORDERS}": ("publish", N),
        f"topic:{ORDERS}->topic:{Q_FULFIL}": ("route", N),
        f"topic:{Q_FULFIL}->service:fulfilment": ("consume", N),
        "service:fulfilment->external:postgresql": ("call", N),
    }, [f"topic:{Q_FULFIL}->service:fulfilment"])
    assert a.edge(f"topic:{Q_FULFIL}->service:fulfilment")["queue_p50_ms"] == 1.0
    assert _flows(a) == [("shop", N, 1.0)]


def test_solace_broker_spans_of_a_requeued_message_are_redeliveries():
    """The Spring Cloud Stream binder's manual acknowledgement requeueing a message twice
    before processing it: the broker's receive span, then per attempt its "q.fulfilment
    send" span (outcome "delivery failed" for the two requeued ones) and the consumer's
    JCSMP receive span (a child of the broker's receive) with the binder's process span
    nested in it. Three deliveries of one publish per order, each joined by context (the
    process span inherits its receive's message, which inherits the broker's), one publish,
    no publish by the broker, and the only anomaly: two redeliveries per order.
    Source: receiver/solacereceiver (the egress span per delivery attempt, its outcome);
    SolaceProducts/solace-spring-cloud SolaceBinderConsumerInstrumentation.java (the
    binder's process span inside the JCSMP receive)."""
    b = SpanSet()
    for i in range(N):
        t = i * 1000
        pub = _jcsmp_publish(b, "shop", ORDERS, None, t, dur=2)
        brecv = _broker_receive(b, ORDERS, pub, t + 0.6)
        for k, outcome in enumerate(("delivery failed", "delivery failed", "accepted")):
            tk = t + 3 + 40 * k
            _broker_send(b, Q_FULFIL, brecv, tk - 1, dur=4, outcome=outcome)
            _binder_consume(b, "fulfilment", Q_FULFIL, ORDERS, "fulfil-in-0", brecv, tk,
                            work_ms=2)
    st = b.store()
    _analysed_each(st, {
        f"service:shop->topic:{ORDERS}": ("publish", N),
        f"topic:{ORDERS}->topic:{Q_FULFIL}": ("route", N),
        f"topic:{Q_FULFIL}->service:fulfilment": ("consume", 3 * N),
    }, [f"topic:{Q_FULFIL}->service:fulfilment"],
        anomalies=[("redelivery", f"topic:{Q_FULFIL}->service:fulfilment", 2 * N)])


# ------------------------------------------------------------------ Quarkus Solace connector
def _quarkus_solace(dest: str, op: str) -> dict[str, Any]:
    """SolaceAttributeExtractor's getter through the instrumentation API's
    MessagingAttributesExtractor (old conventions): system SolacePubSub+, the topic as
    destination, an empty template, zero sizes, an empty client id and, at the span's end,
    a batch count of 0 (getBatchMessageCount returns 0L, put as is)."""
    return {"messaging.system": SOLACE, "messaging.destination.name": dest,
            "messaging.destination.template": "", "messaging.message.body.size": 0,
            "messaging.message.envelope.size": 0, "messaging.client_id": "",
            "messaging.operation": op, "messaging.batch.message_count": 0}


def test_quarkus_solace_connector_instant_spans_name_the_topic():
    """SolaceLabs/solace-quarkus pubsub-plus-connector (tracing/SolaceOpenTelemetryInstrumenter,
    SolaceAttributeExtractor, SolaceTrace; incoming/SolaceIncomingChannel and
    outgoing/SolaceOutgoingChannel build the SolaceTrace: the incoming one's "topic" is the
    consumed message's destination, the topic it was published to, though it came from a
    queue) over smallrye-reactive-messaging's TracingUtils: traceOutgoing and traceIncoming
    start and end their span at once ("<topic> publish" PRODUCER, "<topic> receive"
    CONSUMER, the latter the child of the context in the message's user properties); the
    @Incoming method runs after, in the receive span's context. A processor: orders in,
    its enriched order out, each handled by a downstream service. The batch count of 0 on
    each single-message span counts no batch; one delivery of one message each."""
    b = SpanSet()
    t_in, t_out = "acme/orders/placed", "acme/orders/priced"
    for i in range(N):
        t = i * 1000
        root = b.span("storefront", "POST /orders", kind="SERVER", start_ms=t, dur_ms=12,
                      attrs={"http.request.method": "POST", "http.route": "/orders"})
        pub = b.span("storefront", f"{t_in} publish", kind="PRODUCER", parent=root,
                     start_ms=t + 5, dur_ms=0.05, attrs=_quarkus_solace(t_in, "publish"))
        recv = b.span("pricing", f"{t_in} receive", kind="CONSUMER", parent=pub,
                      start_ms=t + 9, dur_ms=0.04,
                      attrs={**_quarkus_solace(t_in, "receive"),
                             "messaging.message.id": f"ord-{i}"})
        b.client_call("pricing", None, parent=recv, start_ms=t + 9.2, dur_ms=3,
                      peer={"db.system": "postgresql", "server.address": "pricing-db"})
        out = b.span("pricing", f"{t_out} publish", kind="PRODUCER", parent=recv,
                     start_ms=t + 12.5, dur_ms=0.05, attrs=_quarkus_solace(t_out, "publish"))
        b.span("invoicing", f"{t_out} receive", kind="CONSUMER", parent=out,
               start_ms=t + 16, dur_ms=0.04, attrs=_quarkus_solace(t_out, "receive"))
    st = b.store()
    a = _analysed_each(st, {
        f"service:storefront->topic:{t_in}": ("publish", N),
        f"topic:{t_in}->service:pricing": ("consume", N),
        "service:pricing->external:postgresql": ("call", N),
        f"service:pricing->topic:{t_out}": ("publish", N),
        f"topic:{t_out}->service:invoicing": ("consume", N),
    }, [f"topic:{t_in}->service:pricing", f"topic:{t_out}->service:invoicing"])
    for d in (f"topic:{t_in}->service:pricing", f"topic:{t_out}->service:invoicing"):
        e = a.edge(d)
        assert (e["message_count"], e["batch_deliveries"]) == (N, 0), d
    assert _systems(a) == {f"topic:{t_in}": "solacepubsub+",
                           f"topic:{t_out}": "solacepubsub+"}
    assert _flows(a) == [("storefront", N, 1.0)]


# ------------------------------------------------------------ Solace's manual samples
def test_solace_jcsmp_manual_instrumentation_samples():
    """SolaceSamples/solace-samples-java-jcsmp features/distributedtracing:
    GuaranteedPublisherWithManualInstrumentation ("Product Update > Send", PRODUCER, a root:
    messaging.system "solace", messaging.operation send, the topic
    acme/plm/product/updated/A001, net.protocol.name smf) and
    QueueSubscriberWithManualInstrumentation (bound to queue q.product_to_distribution:
    "Product Update > Received" CONSUMER, the child of the context extracted from the
    message, messaging.operation receive, messaging.destination.name the message's
    getDestination(), the topic; under it "Product Update > Processed", a SERVER span with
    no messaging attribute). One publish, one delivery from the topic; the SERVER span in
    the consumer is the consumer's own work, no call from anywhere."""
    b = SpanSet()
    topic = "acme/plm/product/updated/A001"
    rt = {"env": "Development", "user.name": "dev", "java.version": "17.0.9",
          "os.name": "Linux"}
    for i in range(N):
        t = i * 2000
        send = b.span("ACME Product Master [DEV]", "Product Update > Send", kind="PRODUCER",
                      start_ms=t, dur_ms=1.8,
                      attrs={**rt, "messaging.system": "solace", "messaging.operation": "send",
                             "messaging.destination.name": topic, "net.protocol.name": "smf"})
        recv = b.span("ACME Distribution [DEV]", "Product Update > Received", kind="CONSUMER",
                      parent=send, start_ms=t + 5, dur_ms=2.2,
                      attrs={**rt, "messaging.system": "solace",
                             "messaging.operation": "receive",
                             "messaging.destination.name": topic,
                             "net.protocol.name": "smf",
                             "com.acme.product_update.receive_key.1": "myValue1"})
        b.span("ACME Distribution [DEV]", "Product Update > Processed", kind="SERVER",
               parent=recv, start_ms=t + 5.3, dur_ms=1.6,
               attrs={"com.acme.product_update.processing_key.1": "postProcessingInformation"})
    st = b.store()
    a = _analysed(st, {
        f"service:ACME Product Master [DEV]->topic:{topic}": ("publish", N),
        f"topic:{topic}->service:ACME Distribution [DEV]": ("consume", N),
    }, f"topic:{topic}->service:ACME Distribution [DEV]", p50_ms=2.2)
    assert _systems(a) == {f"topic:{topic}": "solace"}
    assert _flows(a) == [("ACME Product Master [DEV]", N, 1.0)]


# ------------------------------------------------------------------------- Qpid Proton
def _temporary_node(a) -> str:
    """The one temporary destination node of an analysis."""
    (temp,) = [n["id"] for n in a.nodes
               if n["type"] == "topic" and n["id"].startswith("topic:(temporary")]
    return temp


def test_qpid_proton_python_request_reply_through_a_dynamic_queue():
    """apache/qpid-proton python/proton/_tracing.py (OpenTracing with jaeger_client,
    received by the collector's jaeger receiver; the service is the script's basename):
    Sender.send opens "amqp-delivery-send" (span.kind producer, message_bus.destination the
    link's target address, peer.address, peer.hostname, component proton-message-tracing,
    delivery-tag), a child of the active span, finished when the delivery is settled
    (delivery-terminal-state ACCEPTED); each on_message runs in an "amqp-delivery-receive"
    span (span.kind consumer, message_bus.destination the receiver's source address), the
    child of the context in the x-opt-qpid-tracestate annotation. python/examples client.py
    and server.py: the client sends four requests to "examples" one after the other, each
    from the on_message of the previous reply, with reply_to its dynamic receiver's address
    (examples/broker.py names a dynamic node str(uuid4())); the server replies through an
    anonymous sender (no target address: the reply's send names no destination). One trace
    per client run, with four request/reply rounds; the reply queue is one temporary
    node, the anonymous reply publishes to it; the round trip is a reply cycle, the only
    anomaly."""
    b = SpanSet()
    peer = {"peer.address": "amqp-broker:5672", "peer.hostname": "amqp-broker",
            "component": "proton-message-tracing"}
    for i in range(N):
        t = i * 1000
        reply_q = str(uuid.uuid5(uuid.NAMESPACE_URL, f"dynamic-{i}"))
        parent = None
        for k in range(4):
            tk = t + 8 * k
            req = b.span("client.py", "amqp-delivery-send", kind="PRODUCER", parent=parent,
                         start_ms=tk + 0.3, dur_ms=1.4,
                         attrs={**peer, "message_bus.destination": "examples",
                                "delivery-tag": str(k + 1),
                                "delivery-terminal-state": "ACCEPTED"})
            srv = b.span("server.py", "amqp-delivery-receive", kind="CONSUMER", parent=req,
                         start_ms=tk + 2.5, dur_ms=1.5,
                         attrs={**peer, "message_bus.destination": "examples"})
            rep = b.span("server.py", "amqp-delivery-send", kind="PRODUCER", parent=srv,
                         start_ms=tk + 2.8, dur_ms=1.3,
                         attrs={**peer, "delivery-tag": str(i * 4 + k + 1),
                                "delivery-terminal-state": "ACCEPTED"})
            parent = b.span("client.py", "amqp-delivery-receive", kind="CONSUMER",
                            parent=rep, start_ms=tk + 5, dur_ms=0.8,
                            attrs={**peer, "message_bus.destination": reply_q})
    st = b.store()
    a = analyze(st)
    temp = _temporary_node(a)
    _analysed_each(st, {
        "service:client.py->topic:examples": ("publish", 4 * N),
        "topic:examples->service:server.py": ("consume", 4 * N),
        f"service:server.py->{temp}": ("publish", 4 * N),
        f"{temp}->service:client.py": ("consume", 4 * N),
    }, ["topic:examples->service:server.py", f"{temp}->service:client.py"],
        anomalies=[("cycle", (f"service:client.py -> topic:examples -> service:server.py"
                              f" -> {temp} -> service:client.py"), 4 * N)])
    assert _flows(a) == [("client.py", N, 1.0)]


def test_qpid_proton_cpp_opentelemetry_request_reply_example():
    """apache/qpid-proton cpp/src/tracing_opentelemetry.cpp (proton::initOpenTelemetryTracer;
    the context travels in the x-opt-qpid-tracestate message annotation): every send is an
    "amqp-delivery-send" PRODUCER span (attributes Delivery_tag and Destination_address, the
    sender's target address; no messaging.* attribute), a child of the active span, ended
    in on_settled_span when the peer settles the delivery (an event "delivery state:
    ACCEPTED"); every on_message runs in an "amqp-message-received" CONSUMER span
    (Delivery_tag, Source_address: the receiver's source address), the child of the
    context extracted from the message. cpp/examples tracing_client.cpp and
    tracing_server.cpp: the client's "send_request" CLIENT span (reply_to, message; kept
    open in a scope until the response comes) around its send to "examples"; the server's
    on_message span (no kind: INTERNAL) replies on a sender to the request's reply_to, the
    client's dynamic receiver's address (a broker-named node, a UUID); the client's own
    "on_message" CLIENT span (delivery_tag, message-received) handles the reply and sends
    the next request from inside it. Two requests per run, one trace. Each address is read
    from Proton's own attribute keys: a queue and one temporary reply node, no call; the
    round trip is a reply cycle, the only anomaly."""
    b = SpanSet()
    for i in range(N):
        t = i * 1000
        reply_q = str(uuid.uuid5(uuid.NAMESPACE_URL, f"cpp-dynamic-{i}"))
        parent = None
        for k, body in enumerate(("Two roads diverged in a wood.",
                                  "I took the one less traveled by.")):
            tk = t + 10 * k
            req = b.span("qpid-example-client", "send_request", kind="CLIENT", parent=parent,
                         start_ms=tk + 0.2, dur_ms=6.5,
                         attrs={"reply_to": reply_q, "message": body})
            snd = b.span("qpid-example-client", "amqp-delivery-send", kind="PRODUCER",
                         parent=req, start_ms=tk + 0.3, dur_ms=1.2,
                         attrs={"Delivery_tag": f"{k:x}", "Destination_address": "examples"})
            rcv = b.span("qpid-example-server", "amqp-message-received", kind="CONSUMER",
                         parent=snd, start_ms=tk + 2, dur_ms=2.4,
                         attrs={"Delivery_tag": f"{k:x}", "Source_address": "examples"})
            om = b.span("qpid-example-server", "on_message", parent=rcv, start_ms=tk + 2.1,
                        dur_ms=2.2)
            rep = b.span("qpid-example-server", "amqp-delivery-send", kind="PRODUCER",
                         parent=om, start_ms=tk + 2.6, dur_ms=1.3,
                         attrs={"Delivery_tag": f"{i * 2 + k:x}",
                                "Destination_address": reply_q})
            crcv = b.span("qpid-example-client", "amqp-message-received", kind="CONSUMER",
                          parent=rep, start_ms=tk + 6.5, dur_ms=0.6,
                          attrs={"Delivery_tag": f"{k:x}", "Source_address": reply_q})
            parent = b.span("qpid-example-client", "on_message", kind="CLIENT", parent=crcv,
                            start_ms=tk + 6.6, dur_ms=0.5 if k else 4,
                            attrs={"delivery_tag": f"{k:x}",
                                   "message-received": body.upper()})
    st = b.store()
    a = analyze(st)
    temp = _temporary_node(a)
    _analysed_each(st, {
        "service:qpid-example-client->topic:examples": ("publish", 2 * N),
        "topic:examples->service:qpid-example-server": ("consume", 2 * N),
        f"service:qpid-example-server->{temp}": ("publish", 2 * N),
        f"{temp}->service:qpid-example-client": ("consume", 2 * N),
    }, ["topic:examples->service:qpid-example-server",
        f"{temp}->service:qpid-example-client"],
        anomalies=[("cycle", (f"service:qpid-example-client -> topic:examples -> "
                              f"service:qpid-example-server -> {temp} -> "
                              f"service:qpid-example-client"), 2 * N)])
    assert _flows(a) == [("qpid-example-client", N, 1.0)]
