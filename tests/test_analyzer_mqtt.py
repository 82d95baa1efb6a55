"""Span shapes of MQTT with OpenTelemetry, each read from the real source (cited per test):
the EMQX broker's own tracing, in its two modes and two attribute generations, an MQTT client
library that traces its publishes and deliveries (vinculum-mqtt), and OpenTelemetry eBPF
Instrumentation's MQTT wire-protocol spans. Each test builds exactly those spans for a small
IoT scenario (a device publishing temperature readings to ``sensors/<device>/temp``, a backend
subscribed to ``sensors/+/temp``) and checks what the analyzer makes of them.

EMQX, read in emqx/emqx:
- 5.2 (apps/emqx_opentelemetry/src/emqx_otel_trace.erl, the first version): a PUBLISH whose
  MQTT 5 User-Property carries a ``traceparent`` (or any PUBLISH when ``trace_all``) gets an
  INTERNAL span ``process_message`` whose parent is that extracted context, attributes
  ``mqtt.topic`` and ``mqtt.subscriber.clientid`` (the publishing channel's client id); each
  delivery to a subscriber gets an INTERNAL span ``send_published_message``, child of
  ``process_message``, with ``mqtt.topic``, ``mqtt.from.clientid``, the subscriber's
  ``mqtt.subscriber.clientid`` and ``mqtt.subscriber.subscriptions`` (its topic filters).
- 5.3 .. 5.8, and "legacy" trace mode after: the same two spans with
  ``messaging.destination.name`` (the topic) and ``messaging.client_id``.
- "e2e" trace mode (5.9+, include/emqx_otel_trace.hrl): root spans ``client.publish``
  (``client.clientid``, ``client.username``, ``message.topic``; a NEW trace, the PUBLISH's
  traceparent is not extracted), children ``client.authz``, ``message.route`` (apps/emqx/src/
  emqx_broker.erl: ``message.*`` attributes, ``route.from``, ``route.matched_result``), a
  ``broker.publish`` per subscriber (child of ``message.route``, ended when the PUBLISH goes
  out), ``broker.puback`` to the publisher, ``client.puback`` awaiting the subscriber's ack.
  All spans INTERNAL (no kind given to otel_tracer:start_span).
In every mode EMQX forwards the User-Property ``traceparent``/``tracestate`` unchanged (never
rewritten: put_ctx_to_packet only stores the context in internal_extra), so a subscriber that
extracts it continues the device's trace, as a sibling of the broker's spans.
"""

from __future__ import annotations

from typing import Any

import pytest

from analyzer import analyze, edge_detail
from tests.analysis_checks import analysed_each as _analysed_each
from tests.analysis_checks import edges_of as _edges
from tests.analysis_checks import flows_of as _flows
from tests.analysis_checks import systems_of as _systems
from tests.builders import SpanRef, SpanSet

N = 3
MQTT = {"messaging.system": "mqtt"}


def _anomalies(a) -> list[tuple[str, str, int]]:
    return sorted((x["type"], x["where"], x["count"]) for x in a.anomalies)


def _device_publish(b: SpanSet, device: str, topic: str, t: float) -> SpanRef:
    """The device firmware's publish, as the W3C trace-context-mqtt spec and the users'
    paho code do it: a PRODUCER "send <topic>" span whose context goes into the PUBLISH's
    User-Property traceparent (QoS 1, so it ends on PUBACK)."""
    return b.span("thermostat-fw", f"send {topic}", kind="PRODUCER", start_ms=t, dur_ms=6,
                  attrs={**MQTT, "messaging.destination.name": topic,
                         "messaging.operation.type": "send", "messaging.client.id": device,
                         "messaging.mqtt.qos": 1, "server.address": "emqx", "server.port": 1883})


def _backend_consume(b: SpanSet, topic: str, t: float, parent: SpanRef | None,
                     dur: float = 4) -> SpanRef:
    """The backend's handler span, child of the context it extracted from the message's
    User-Property (none when the device sent none)."""
    proc = b.span("telemetry-ingest", f"process {topic}", kind="CONSUMER", parent=parent,
                  start_ms=t, dur_ms=dur,
                  attrs={**MQTT, "messaging.destination.name": topic,
                         "messaging.operation.type": "process",
                         "messaging.client.id": "ingest-1"})
    b.span("telemetry-ingest", "INSERT readings", kind="CLIENT", parent=proc,
           start_ms=t + 1, dur_ms=2, attrs={"db.system": "postgresql"})
    return proc


def _emqx_legacy(b: SpanSet, gen: str, topic: str, device: str, t: float,
                 parent: SpanRef | None) -> None:
    """EMQX's process_message and send_published_message (to the one subscriber)."""
    if gen == "5.2":
        pm = {"mqtt.topic": topic, "mqtt.subscriber.clientid": device}
        sp = {"mqtt.topic": topic, "mqtt.from.clientid": device,
              "mqtt.subscriber.clientid": "ingest-1",
              "mqtt.subscriber.subscriptions": ["sensors/+/temp"]}
    else:
        pm = {"messaging.destination.name": topic, "messaging.client_id": device}
        sp = {"messaging.destination.name": topic, "messaging.client_id": "ingest-1"}
    proc = b.span("emqx", "process_message", parent=parent, start_ms=t, dur_ms=0.4, attrs=pm)
    b.span("emqx", "send_published_message", parent=proc, start_ms=t + 0.2, dur_ms=0.3,
           attrs=sp)


@pytest.mark.parametrize("gen", ["5.2", "5.3"])
def test_emqx_broker_spans_between_the_device_and_the_backend(gen):
    """EMQX 5.2 / 5.3+ (legacy mode): the broker's process_message is a child of the
    device's publish, its send_published_message a child of that, and the backend's
    handler a child of the device's publish too (the traceparent is forwarded unchanged).
    The broker is no service that consumes and publishes the reading: one publish, one
    delivery joined by context, one flow per reading, no anomaly."""
    b = SpanSet()
    topic = "sensors/dev-17/temp"
    for i in range(N):
        t = i * 1000
        pub = _device_publish(b, "dev-17", topic, t)
        _emqx_legacy(b, gen, topic, "dev-17", t + 1, pub)
        _backend_consume(b, topic, t + 3, pub)
    st = b.store()
    a = _analysed_each(st, {
        f"service:thermostat-fw->topic:{topic}": ("publish", N),
        f"topic:{topic}->service:telemetry-ingest": ("consume", N),
        "service:telemetry-ingest->external:postgresql": ("call", N),
    }, [f"topic:{topic}->service:telemetry-ingest"])
    assert _systems(a) == {f"topic:{topic}": "mqtt"}
    assert _flows(a) == [("thermostat-fw", N, 1.0)]


def test_emqx_e2e_mode_traces_the_broker_in_its_own_trace():
    """EMQX e2e trace mode: the broker's spans are a trace of their own (client.publish,
    a new root; client.authz, message.route, broker.publish to the subscriber, broker.puback
    to the device, client.puback for the subscriber's ack), all INTERNAL and naming the
    topic only as message.topic. The message still carries the device's traceparent, so the
    backend's handler is in the device's trace. The broker's trace publishes and consumes
    nothing: it adds no edge, and is a flow of its own with no hop (work of the broker's,
    as any trace no other joins)."""
    b = SpanSet()
    topic = "sensors/dev-17/temp"
    basic = {"client.clientid": "dev-17", "client.username": "dev-17"}
    for i in range(N):
        t = i * 1000
        pub = _device_publish(b, "dev-17", topic, t)
        msg = {"message.msgid": f"0006{i:012X}", "message.qos": 1, "message.from": "dev-17",
               "message.topic": topic, "message.retain": False, "message.pub_props": "{}",
               "message.payload_size": 42}
        cp = b.span("emqx", "client.publish", start_ms=t + 1, dur_ms=0.8,
                    attrs={**basic, "message.topic": topic})
        b.span("emqx", "client.authz", parent=cp, start_ms=t + 1.05, dur_ms=0.05,
               attrs={**basic, "authz.publish.topic": topic, "authz.publish.result": "allow"})
        route = b.span("emqx", "message.route", parent=cp, start_ms=t + 1.1, dur_ms=0.4,
                       attrs={**msg, "route.from": "emqx@10.0.0.5",
                              "route.matched_result":
                                  '[{"route":"sensors/+/temp","node":"emqx@10.0.0.5"}]',
                              "client.clientid": "dev-17"})
        bp = b.span("emqx", "broker.publish", parent=route, start_ms=t + 1.3, dur_ms=0.3,
                    attrs={**msg, "client.clientid": "ingest-1", "client.username": "ingest"})
        b.span("emqx", "broker.puback", parent=cp, start_ms=t + 1.6, dur_ms=0.1,
               attrs={**basic, "message.qos": 1})
        b.span("emqx", "client.puback", parent=bp, start_ms=t + 1.6, dur_ms=4,
               attrs={"client.clientid": "ingest-1", "client.username": "ingest",
                      "message.qos": 1})
        _backend_consume(b, topic, t + 2, pub)
    st = b.store()
    a = _analysed_each(st, {
        f"service:thermostat-fw->topic:{topic}": ("publish", N),
        f"topic:{topic}->service:telemetry-ingest": ("consume", N),
        "service:telemetry-ingest->external:postgresql": ("call", N),
    }, [f"topic:{topic}->service:telemetry-ingest"])
    assert _flows(a) == [("emqx", N, 1.0), ("thermostat-fw", N, 1.0)]
    (device,) = [f for f in a.flows if f["entry_service"] == "thermostat-fw"]
    assert device["services"] == ["telemetry-ingest", "thermostat-fw"]


def test_per_device_topics_are_a_topic_each_and_the_filter_none():
    """Three devices, each publishing to its own topic sensors/<id>/temp, one backend
    subscribed to the filter sensors/+/temp (EMQX 5.2 names the filter on its
    send_published_message span, mqtt.subscriber.subscriptions). The analyzer names topics
    by the published topic, so per-device topics are a node each (cardinality grows with
    the fleet); the subscription filter is never a topic."""
    b = SpanSet()
    devices = ["dev-17", "dev-18", "dev-19"]
    for i in range(N):
        for k, dev in enumerate(devices):
            t = i * 1000 + k * 100
            topic = f"sensors/{dev}/temp"
            pub = _device_publish(b, dev, topic, t)
            _emqx_legacy(b, "5.2", topic, dev, t + 1, pub)
            _backend_consume(b, topic, t + 3, pub)
    st = b.store()
    edges: dict[str, tuple[str, int]] = {
        "service:telemetry-ingest->external:postgresql": ("call", N * len(devices))}
    for dev in devices:
        edges[f"service:thermostat-fw->topic:sensors/{dev}/temp"] = ("publish", N)
        edges[f"topic:sensors/{dev}/temp->service:telemetry-ingest"] = ("consume", N)
    a = _analysed_each(st, edges, [f"topic:sensors/{d}/temp->service:telemetry-ingest"
                                   for d in devices])
    assert _systems(a) == {f"topic:sensors/{d}/temp": "mqtt" for d in devices}
    assert not any("+" in n["id"] for n in a.nodes)


def test_untraced_device_reading_is_a_delivery_without_a_publisher():
    """A device with no tracing sends no traceparent: EMQX (legacy mode, trace_all off)
    traces nothing, and the backend's handler span is a root. Its reading still came from
    the topic (a delivery joined by nothing); with trace_all on, EMQX's process_message is
    a root of its own too, which publishes nothing and must not make the broker a
    publisher (it is a flow of its own with no hop). Each reading is its own flow, entered
    at the backend; the only anomaly says the readings' producer is untraced."""
    b = SpanSet()
    topic = "sensors/dev-17/temp"
    for i in range(N):
        t = i * 1000
        if i:  # trace_all on for the later two
            _emqx_legacy(b, "5.3", topic, "dev-17", t + 1, None)
        _backend_consume(b, topic, t + 3, None)
    st = b.store()
    a = analyze(st)
    assert _edges(a) == {
        f"topic:{topic}->service:telemetry-ingest": ("consume", N),
        "service:telemetry-ingest->external:postgresql": ("call", N),
    }
    consume = a.edge(f"topic:{topic}->service:telemetry-ingest")
    assert consume["joined_by"] == {"context": 0, "message_id": 0, "none": N, "outside": 0}
    assert _systems(a) == {f"topic:{topic}": "mqtt"}
    # (the only anomaly: readings of a producer nobody traced)
    assert _anomalies(a) == [("consumer_without_producer",
                              f"topic:{topic}->service:telemetry-ingest", N)]
    assert _flows(a) == [("emqx", N - 1, 1.0), ("telemetry-ingest", N, 1.0)]
    assert edge_detail(st, f"topic:{topic}->service:telemetry-ingest")["count"] == N


# (Not encoded, left alone: tsarna/vinculum-mqtt injects its caller's context into the
# message before it starts its "send <topic>" span, so the subscriber's CONSUMER span links to
# the caller, not to a producer span: its deliveries read as lost context, and a QoS 1
# message delivered again (DUP) as two unjoined deliveries rather than a redelivery.)


def test_obi_mqtt_subscribe_packet_is_no_delivery_from_the_filter():
    """OBI (open-telemetry/opentelemetry-ebpf-instrumentation, pkg/ebpf/common/
    mqtt_detect_transform.go; span kinds in pkg/appolly/app/request/span.go): a client's
    PUBLISH packet is a PRODUCER span "publish <topic>", but its SUBSCRIBE packet becomes a
    CONSUMER "process" span named by the subscription's first topic filter
    (sensors/+/temp), once per connection, not per message. OBI carries no context through
    MQTT. A subscription filter is no destination: the publishes are the only edges."""
    b = SpanSet()

    def obi(op: str, topic: str) -> dict[str, Any]:
        return {**MQTT, "messaging.destination.name": topic, "messaging.operation.name": op,
                "messaging.operation.type": "send" if op == "publish" else "process",
                "server.address": "emqx", "server.port": 1883}

    b.span("telemetry-ingest", "process sensors/+/temp", kind="CONSUMER", start_ms=0,
           dur_ms=0.5, attrs=obi("process", "sensors/+/temp"))
    for i in range(N):
        b.span("gateway", "publish sensors/dev-17/temp", kind="PRODUCER", start_ms=100 + i * 1000,
               dur_ms=1.5, attrs=obi("publish", "sensors/dev-17/temp"))
    a = analyze(b.store())
    assert _edges(a) == {"service:gateway->topic:sensors/dev-17/temp": ("publish", N)}
    assert not any("+" in n["id"] for n in a.nodes)
    # (OBI makes no span of the PUBLISH packets the broker sends the subscriber: no span
    # shows the readings consumed, and the analysis says so; the filter proves nothing)
    assert _anomalies(a) == [("published_never_consumed", "topic:sensors/dev-17/temp", N)]
