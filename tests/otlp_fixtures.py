"""Builders of OTLP export requests for tests: every field set, messaging current and legacy."""

from __future__ import annotations

import os
import time

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status


def kv(key: str, value: object) -> KeyValue:
    """A KeyValue from a Python value (str, bool, int, float, bytes, list, dict)."""
    return KeyValue(key=key, value=av(value))


def av(value: object) -> AnyValue:
    a = AnyValue()
    if isinstance(value, bool):
        a.bool_value = value
    elif isinstance(value, int):
        a.int_value = value
    elif isinstance(value, float):
        a.double_value = value
    elif isinstance(value, bytes):
        a.bytes_value = value
    elif isinstance(value, list):
        a.array_value.values.extend(av(v) for v in value)
    elif isinstance(value, dict):
        a.kvlist_value.values.extend(kv(k, v) for k, v in value.items())
    else:
        a.string_value = str(value)
    return a


def full_request(now_ns: int | None = None) -> ExportTraceServiceRequest:
    """One request exercising every OTLP span field, a link and an event."""
    now = now_ns or time.time_ns()
    req = ExportTraceServiceRequest()
    rs = req.resource_spans.add()
    rs.schema_url = "https://opentelemetry.io/schemas/1.26.0"
    rs.resource.attributes.extend([kv("service.name", "order-service"),
                                   kv("service.version", "1.4.2"),
                                   kv("host.name", "node-7")])
    rs.resource.dropped_attributes_count = 3
    ss = rs.scope_spans.add()
    ss.schema_url = "https://opentelemetry.io/schemas/1.24.0"
    ss.scope.name = "opentelemetry.instrumentation.kafka"
    ss.scope.version = "0.48b0"
    ss.scope.attributes.append(kv("scope.attr", "x"))
    ss.scope.dropped_attributes_count = 1
    s = ss.spans.add()
    s.trace_id = bytes.fromhex("0af7651916cd43dd8448eb211c80319c")
    s.span_id = bytes.fromhex("b7ad6b7169203331")
    s.parent_span_id = bytes.fromhex("00f067aa0ba902b7")
    s.trace_state = "congo=t61rcWkgMzE"
    s.flags = 0x301
    s.name = "publish order.placed"
    s.kind = Span.SPAN_KIND_PRODUCER
    s.start_time_unix_nano = now
    s.end_time_unix_nano = now + 2_500_000
    s.attributes.extend([
        kv("messaging.system", "kafka"), kv("messaging.destination.name", "order.placed"),
        kv("messaging.operation.type", "send"), kv("messaging.operation.name", "publish"),
        kv("messaging.message.id", "m-1"), kv("messaging.batch.message_count", 1),
        kv("messaging.consumer.group.name", "g1"), kv("server.address", "kafka-1"),
        kv("peer.service", "kafka"), kv("ratio", 0.25), kv("ok", True),
        kv("blob", b"\x00\x01"), kv("list", ["a", 1]), kv("map", {"k": "v"}),
        kv("big", 2**62),
    ])
    s.dropped_attributes_count = 2
    s.dropped_events_count = 4
    s.dropped_links_count = 5
    s.status.CopyFrom(Status(code=Status.STATUS_CODE_ERROR, message="broker said no"))
    e = s.events.add()
    e.time_unix_nano = now + 1000
    e.name = "exception"
    e.attributes.extend([kv("exception.type", "KafkaError"), kv("exception.message", "boom")])
    e.dropped_attributes_count = 6
    link = s.links.add()
    link.trace_id = bytes.fromhex("11111111111111111111111111111111")
    link.span_id = bytes.fromhex("2222222222222222")
    link.trace_state = "a=b"
    link.flags = 1
    link.attributes.extend([kv("messaging.message.id", "m-0")])
    link.dropped_attributes_count = 7
    return req


def simple_request(n: int, service: str = "svc", now_ns: int | None = None,
                   attrs: dict | None = None) -> ExportTraceServiceRequest:
    """``n`` random INTERNAL spans of one service."""
    now = now_ns or time.time_ns()
    req = ExportTraceServiceRequest()
    rs = req.resource_spans.add()
    rs.resource.attributes.append(kv("service.name", service))
    ss = rs.scope_spans.add()
    for i in range(n):
        s = ss.spans.add()
        s.trace_id = os.urandom(16)
        s.span_id = os.urandom(8)
        s.name = f"op-{i % 5}"
        s.kind = Span.SPAN_KIND_INTERNAL
        s.start_time_unix_nano = now + i
        s.end_time_unix_nano = now + i + 1000
        for k, v in (attrs or {}).items():
            s.attributes.append(kv(k, v))
    return req
