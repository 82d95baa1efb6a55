"""The collector end to end: official SDK exporters and plain clients over real sockets."""

from __future__ import annotations

import gzip
import json
import time
import zlib

import cramjam

import grpc
import orjson
import pyarrow as pa
import requests
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcExporter
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpExporter
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2_grpc
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import Link, SpanKind

from collector.otlp_json import request_to_json_dict
from tests.otlp_fixtures import full_request, simple_request

PB = {"Content-Type": "application/x-protobuf"}


def _rows(col, sql: str, params: list | None = None) -> list[tuple]:
    with col.store.cursor() as cur:
        return cur.execute(sql, params or []).fetchall()


def _sdk_spans(exporter, service: str) -> tuple[str, str]:
    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("test.scope", "1.0")
    with tracer.start_as_current_span("send orders", kind=SpanKind.PRODUCER,
                                      attributes={"messaging.system": "kafka",
                                                  "messaging.destination.name": "orders",
                                                  "messaging.operation.type": "send"}) as prod:
        ctx = prod.get_span_context()
    with tracer.start_as_current_span("process orders", kind=SpanKind.CONSUMER,
                                      links=[Link(ctx, {"messaging.message.id": "42"})]) as cons:
        cons_ctx = cons.get_span_context()
    provider.shutdown()
    return format(ctx.trace_id, "032x"), format(cons_ctx.trace_id, "032x")


def test_sdk_grpc_exporter_spans_are_stored(collector):
    endpoint = collector.endpoints.grpc
    exp = GrpcExporter(endpoint=endpoint, insecure=True)
    prod_trace, cons_trace = _sdk_spans(exp, "grpc-svc")
    rows = _rows(collector, "SELECT name, kind, msg_destination, trace_id FROM spans "
                            "WHERE service_name='grpc-svc' ORDER BY start_time_unix_nano")
    assert [(r[0], r[1], r[2]) for r in rows] == [("send orders", "PRODUCER", "orders"),
                                                 ("process orders", "CONSUMER", None)]
    assert rows[0][3] == prod_trace
    links = _rows(collector, "SELECT linked_trace_id, msg_message_id, trace_id FROM span_links")
    assert links == [(prod_trace, "42", cons_trace)]


def test_sdk_http_exporter_spans_are_stored(collector):
    exp = HttpExporter(endpoint=collector.endpoints.http + "/v1/traces")
    _sdk_spans(exp, "http-svc")
    assert _rows(collector, "SELECT count(*) FROM spans WHERE service_name='http-svc'") == [(2,)]


def test_round_trip_keeps_every_field(collector):
    req = full_request()
    r = requests.post(collector.endpoints.http + "/v1/traces", data=req.SerializeToString(),
                      headers=PB, timeout=10)
    assert r.status_code == 200
    assert r.headers["Content-Type"] == "application/x-protobuf"
    assert ExportTraceServiceResponse.FromString(r.content).partial_success.rejected_spans == 0
    src = req.resource_spans[0].scope_spans[0].spans[0]
    with collector.store.cursor() as cur:
        row = cur.execute("SELECT * FROM spans_full").to_arrow_table().to_pylist()[0]
    assert row["trace_id"] == "0af7651916cd43dd8448eb211c80319c"
    assert row["span_id"] == "b7ad6b7169203331"
    assert row["parent_span_id"] == "00f067aa0ba902b7"
    assert row["trace_state"] == "congo=t61rcWkgMzE"
    assert row["flags"] == 0x301
    assert row["name"] == "publish order.placed"
    assert row["kind"] == "PRODUCER"
    assert row["start_time_unix_nano"] == src.start_time_unix_nano
    assert row["end_time_unix_nano"] == src.end_time_unix_nano
    assert (row["status_code"], row["status_message"]) == ("ERROR", "broker said no")
    assert row["service_name"] == "order-service"
    attrs = json.loads(row["attributes"])
    assert attrs["ratio"] == 0.25 and attrs["ok"] is True and attrs["big"] == 2**62
    assert attrs["list"] == ["a", 1] and attrs["map"] == {"k": "v"} and attrs["blob"] == "AAE="
    assert (row["dropped_attributes_count"], row["dropped_events_count"],
            row["dropped_links_count"]) == (2, 4, 5)
    assert json.loads(row["resource_attributes"])["service.version"] == "1.4.2"
    assert row["resource_schema_url"] == "https://opentelemetry.io/schemas/1.26.0"
    assert row["resource_dropped_attributes_count"] == 3
    assert (row["scope_name"], row["scope_version"]) == ("opentelemetry.instrumentation.kafka",
                                                         "0.48b0")
    assert json.loads(row["scope_attributes"]) == {"scope.attr": "x"}
    assert row["scope_schema_url"] == "https://opentelemetry.io/schemas/1.24.0"
    assert row["scope_dropped_attributes_count"] == 1
    assert (row["event_count"], row["link_count"]) == (1, 1)
    ev = _rows(collector, "SELECT seq, time_unix_nano, name, attributes, "
                          "dropped_attributes_count FROM span_events")
    assert ev[0][0] == 0 and ev[0][1] == src.start_time_unix_nano + 1000
    assert ev[0][2] == "exception" and json.loads(ev[0][3])["exception.message"] == "boom"
    assert ev[0][4] == 6
    lk = _rows(collector, "SELECT linked_trace_id, linked_span_id, trace_state, flags, "
                          "attributes, dropped_attributes_count, msg_message_id FROM span_links")
    assert lk == [("11111111111111111111111111111111", "2222222222222222", "a=b", 1,
                   '{"messaging.message.id":"m-0"}', 7, "m-0")]


def test_messaging_current_and_legacy_names_are_normalised(collector):
    now = time.time_ns()
    current = simple_request(1, "new-svc", now, {
        "messaging.system": "kafka", "messaging.destination.name": "orders",
        "messaging.operation.type": "process", "messaging.operation.name": "process",
        "messaging.message.id": "a1", "messaging.consumer.group.name": "g",
        "messaging.batch.message_count": 3, "messaging.message.conversation_id": "c1",
        "peer.service": "billing", "server.address": "kafka-0", "db.system": "postgresql"})
    legacy = simple_request(1, "old-svc", now, {
        "messaging.system": "rabbitmq", "messaging.destination": "orders-exchange",
        "messaging.destination_kind": "topic", "messaging.operation": "receive",
        "messaging.message_id": "b2", "messaging.conversation_id": "c2",
        "messaging.kafka.consumer.group": "lg", "net.peer.name": "rabbit-1"})
    publish = simple_request(1, "pub-svc", now, {"messaging.operation": "publish",
                                                 "messaging.destination": "x"})
    for req in (current, legacy, publish):
        assert requests.post(collector.endpoints.http + "/v1/traces",
                             data=req.SerializeToString(), headers=PB, timeout=10).ok
    cols = ("msg_system, msg_destination, msg_destination_kind, msg_operation_type, "
            "msg_operation_name, msg_message_id, msg_conversation_id, msg_consumer_group, "
            "msg_batch_count, peer_service, server_address, db_system")
    got = {r[0]: r[1:] for r in _rows(collector, f"SELECT service_name, {cols} FROM spans")}
    assert got["new-svc"] == ("kafka", "orders", None, "process", "process", "a1", "c1", "g", 3,
                              "billing", "kafka-0", "postgresql")
    assert got["old-svc"] == ("rabbitmq", "orders-exchange", "topic", "receive", None, "b2",
                              "c2", "lg", None, None, "rabbit-1", None)
    assert got["pub-svc"][3] == "send"  # legacy 'publish' is today's 'send'


def test_json_body_with_hex_ids_enum_names_and_string_ints(collector):
    now = time.time_ns()
    doc = {"resourceSpans": [{"resource": {"attributes": [
        {"key": "service.name", "value": {"stringValue": "json-svc"}}]},
        "scopeSpans": [{"scope": {"name": "manual"}, "spans": [
            {"traceId": "5B8EFFF798038103D269B633813FC60C", "spanId": "EEE19B7EC3C1B174",
             "name": "by-name", "kind": "SPAN_KIND_SERVER",
             "startTimeUnixNano": str(now), "endTimeUnixNano": str(now + 10),
             "attributes": [{"key": "n", "value": {"intValue": "7"}}],
             "status": {"code": "STATUS_CODE_ERROR"}},
            {"traceId": "5b8efff798038103d269b633813fc60c", "spanId": "eee19b7ec3c1b175",
             "parentSpanId": "eee19b7ec3c1b174", "name": "by-number", "kind": 3,
             "startTimeUnixNano": now, "endTimeUnixNano": now + 5,
             "status": {"code": 1}}]}]}]}
    r = requests.post(collector.endpoints.http + "/v1/traces", data=json.dumps(doc),
                      headers={"Content-Type": "application/json"}, timeout=10)
    assert r.status_code == 200 and r.headers["Content-Type"] == "application/json"
    assert r.json() == {}
    rows = _rows(collector, "SELECT name, kind, status_code, span_id, parent_span_id, trace_id, "
                            "attributes FROM spans ORDER BY name")
    assert rows[0][:5] == ("by-name", "SERVER", "ERROR", "eee19b7ec3c1b174", None)
    assert rows[0][5] == "5b8efff798038103d269b633813fc60c"
    assert json.loads(rows[0][6]) == {"n": 7}
    assert rows[1][:5] == ("by-number", "CLIENT", "OK", "eee19b7ec3c1b175", "eee19b7ec3c1b174")


def test_json_round_trip_of_encoder_output(collector):
    doc = request_to_json_dict(full_request())
    r = requests.post(collector.endpoints.http + "/v1/traces", data=orjson.dumps(doc),
                      headers={"Content-Type": "application/json"}, timeout=10)
    assert r.status_code == 200
    assert _rows(collector, "SELECT span_id, link_count FROM spans") == [("b7ad6b7169203331", 1)]


def test_gzip_body_is_accepted(collector):
    body = gzip.compress(simple_request(5).SerializeToString())
    r = requests.post(collector.endpoints.http + "/v1/traces", data=body,
                      headers={**PB, "Content-Encoding": "gzip"}, timeout=10)
    assert r.status_code == 200
    assert collector.store.count_spans() == 5


def test_deflate_body_from_the_python_sdk_is_accepted(collector):
    """The Python SDK's exporter compresses with deflate when asked
    (OTEL_EXPORTER_OTLP_COMPRESSION=deflate): a zlib stream. Raw deflate is accepted too;
    a body that is neither is a 400."""
    provider = TracerProvider(resource=Resource.create({"service.name": "deflated"}))
    exporter = HttpExporter(endpoint=collector.endpoints.http + "/v1/traces",
                            compression=Compression.Deflate)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    for i in range(3):
        provider.get_tracer("t").start_span(f"work {i}").end()
    provider.shutdown()
    assert collector.store.count_spans() == 3
    raw = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    body = raw.compress(simple_request(2).SerializeToString()) + raw.flush()
    for data, status in [(body, 200), (b"not deflate", 400)]:
        r = requests.post(collector.endpoints.http + "/v1/traces", data=data,
                          headers={**PB, "Content-Encoding": "deflate"}, timeout=10)
        assert r.status_code == status
    assert collector.store.count_spans() == 5


def _arrow_compressed(data: bytes, codec: str) -> bytes:
    sink = pa.BufferOutputStream()
    with pa.CompressedOutputStream(sink, codec) as out:
        out.write(data)
    return sink.getvalue().to_pybytes()


def test_zstd_and_lz4_bodies_from_a_collector_are_accepted(collector):
    """The OpenTelemetry Collector's otlphttp exporter may compress with zstd or lz4
    (frames): accepted; a corrupt or truncated body is a 400, and one that decompresses
    past the request size limit a 413, as a gzip bomb is."""
    for codec, n in (("zstd", 3), ("lz4", 4)):
        body = _arrow_compressed(simple_request(n).SerializeToString(), codec)
        r = requests.post(collector.endpoints.http + "/v1/traces", data=body,
                          headers={**PB, "Content-Encoding": codec}, timeout=10)
        assert r.status_code == 200, r.text
        for bad in (b"not compressed", body[:len(body) // 2]):
            r = requests.post(collector.endpoints.http + "/v1/traces", data=bad,
                              headers={**PB, "Content-Encoding": codec}, timeout=10)
            assert r.status_code == 400, (codec, r.status_code)
    assert collector.store.count_spans() == 7


def test_snappy_and_zlib_bodies_from_a_collector_are_accepted(collector):
    """The Collector's otlphttp exporter's other compressions: `snappy` (the block format
    today, the framing format before Collector v0.131, told apart by the body's first
    bytes), `x-snappy-framed`, and `zlib`. Bodies made by cramjam, an implementation of
    its own. A corrupt or truncated one is a 400, and the framing format's stream
    identifier in front of anything else is required under `x-snappy-framed`."""
    def framed(data: bytes) -> bytes:
        return bytes(cramjam.snappy.compress(data))

    def block(data: bytes) -> bytes:
        return bytes(cramjam.snappy.compress_raw(data))

    for encoding, codec in (("snappy", block), ("snappy", framed),
                            ("x-snappy-framed", framed), ("zlib", zlib.compress)):
        body = codec(simple_request(2, service=encoding).SerializeToString())
        r = requests.post(collector.endpoints.http + "/v1/traces", data=body,
                          headers={**PB, "Content-Encoding": encoding}, timeout=10)
        assert r.status_code == 200, (encoding, r.text)
        for bad in (b"not compressed", body[:len(body) // 2]):
            r = requests.post(collector.endpoints.http + "/v1/traces", data=bad,
                              headers={**PB, "Content-Encoding": encoding}, timeout=10)
            assert r.status_code == 400, (encoding, bad[:8], r.status_code)
    r = requests.post(collector.endpoints.http + "/v1/traces",
                      data=block(simple_request(1).SerializeToString()),
                      headers={**PB, "Content-Encoding": "x-snappy-framed"}, timeout=10)
    assert r.status_code == 400 and "stream identifier" in r.text
    assert collector.store.count_spans() == 8


def test_partial_success_reports_rejected_spans(collector):
    req = simple_request(3)
    bad = req.resource_spans[0].scope_spans[0].spans[1]
    bad.trace_id = b"\x00" * 16
    worse = req.resource_spans[0].scope_spans[0].spans[2]
    worse.end_time_unix_nano = worse.start_time_unix_nano - 1
    r = requests.post(collector.endpoints.http + "/v1/traces", data=req.SerializeToString(),
                      headers=PB, timeout=10)
    assert r.status_code == 200
    ps = ExportTraceServiceResponse.FromString(r.content).partial_success
    assert ps.rejected_spans == 2
    assert "invalid trace_id" in ps.error_message and "end before" in ps.error_message
    assert collector.store.count_spans() == 1
    # The same over gRPC.
    stub = trace_service_pb2_grpc.TraceServiceStub(
        grpc.insecure_channel(collector.endpoints.grpc.removeprefix("http://")))
    req2 = simple_request(2)
    req2.resource_spans[0].scope_spans[0].spans[0].span_id = b"\x01\x02"
    resp = stub.Export(req2, timeout=10)
    assert resp.partial_success.rejected_spans == 1
    assert "span_id" in resp.partial_success.error_message


def test_retried_export_does_not_double_count(collector):
    body = simple_request(50).SerializeToString()
    for _ in range(3):
        assert requests.post(collector.endpoints.http + "/v1/traces", data=body, headers=PB,
                             timeout=10).status_code == 200
    stub = trace_service_pb2_grpc.TraceServiceStub(
        grpc.insecure_channel(collector.endpoints.grpc.removeprefix("http://")))
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
    stub.Export(ExportTraceServiceRequest.FromString(body), timeout=10)
    assert collector.store.count_spans() == 50
    # A request that repeats a span inside itself also stores it once.
    req = simple_request(1)
    spans = req.resource_spans[0].scope_spans[0].spans
    spans.add().CopyFrom(spans[0])
    requests.post(collector.endpoints.http + "/v1/traces", data=req.SerializeToString(),
                  headers=PB, timeout=10)
    assert collector.store.count_spans() == 51


def test_empty_request_is_valid(collector):
    r = requests.post(collector.endpoints.http + "/v1/traces", data=b"", headers=PB, timeout=10)
    assert r.status_code == 200
    r = requests.post(collector.endpoints.http + "/v1/traces", data=b"{}",
                      headers={"Content-Type": "application/json"}, timeout=10)
    assert r.status_code == 200
