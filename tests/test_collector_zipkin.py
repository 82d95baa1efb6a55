"""Apps on Zipkin's instrumentation report to ``POST /api/v2/spans`` as to a Zipkin server:
the OpenTelemetry SDK's own Zipkin exporter, over a real socket, its spans stored as the
OpenTelemetry Collector's zipkin receiver would make them OTLP (collector/foreign.py)."""

from __future__ import annotations

import json

import requests
from opentelemetry.exporter.zipkin.json import ZipkinExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import SpanKind, Status, StatusCode

from analyzer import analyze
from collector.server import Collector
from tests.analysis_checks import edges_of
from tests.conftest import collector_settings


def _rows(collector, sql):
    with collector.store.cursor() as c:
        return c.execute(sql).fetchall()


def _report(endpoint: str, service: str) -> tuple[str, str]:
    """An order's spans through the SDK's Zipkin exporter: its server span, a publish to
    Kafka, and the failed consumer of another service (its own provider: Zipkin's local
    endpoint is per exporter)."""
    def provider(name: str) -> TracerProvider:
        p = TracerProvider(resource=Resource.create({"service.name": name}))
        p.add_span_processor(SimpleSpanProcessor(ZipkinExporter(endpoint=endpoint)))
        return p

    shop, billing = provider(service), provider("billing")
    kafka = {"messaging.system": "kafka", "messaging.destination.name": "orders"}
    tracer = shop.get_tracer("shop.http", "2.1")
    with tracer.start_as_current_span("POST /orders", kind=SpanKind.SERVER) as root:
        root.add_event("order.validated", {"items": 3})
        with tracer.start_as_current_span("orders publish", kind=SpanKind.PRODUCER,
                                          attributes={**kafka, "messaging.operation.type":
                                                      "send"}) as pub:
            with billing.get_tracer("billing.kafka").start_as_current_span(
                    "orders process", kind=SpanKind.CONSUMER,
                    attributes={**kafka, "messaging.operation.type": "process"}) as cons:
                cons.set_status(Status(StatusCode.ERROR, "card declined"))
    shop.shutdown()
    billing.shutdown()
    return format(root.get_span_context().trace_id, "032x"), \
        format(pub.get_span_context().span_id, "016x")


def test_the_sdk_zipkin_exporter_reports_to_api_v2_spans(collector):
    trace_id, publish_id = _report(collector.endpoints.http + "/api/v2/spans", "shop")
    rows = _rows(collector, "SELECT trace_id, name, kind, service_name, status_code, "
                            "status_message, msg_system, msg_destination FROM spans "
                            "ORDER BY start_time_unix_nano")
    assert rows == [
        (trace_id, "POST /orders", "SERVER", "shop", "UNSET", None, None, None),
        (trace_id, "orders publish", "PRODUCER", "shop", "UNSET", None, "kafka", "orders"),
        (trace_id, "orders process", "CONSUMER", "billing", "ERROR", "card declined",
         "kafka", "orders")]
    assert _rows(collector, "SELECT parent_span_id FROM spans WHERE name = 'orders process'"
                 ) == [(publish_id,)]
    (scope,) = _rows(collector, "SELECT scope_name FROM spans_full WHERE name = 'POST /orders'")
    assert scope == ("shop.http",)
    # (Zipkin's annotation is one text: the SDK writes an event with attributes as JSON,
    # read back as the event)
    (event,) = _rows(collector, "SELECT name, attributes FROM span_events")
    assert (event[0], json.loads(event[1])) == ("order.validated", {"items": 3})
    a = analyze(collector.store)
    assert edges_of(a) == {"service:shop->topic:orders": ("publish", 1),
                           "topic:orders->service:billing": ("consume", 1)}


def test_py_zipkin_reports_a_call_joined_through_b3_headers(collector):
    """py_zipkin (Zipkin's own Python instrumentation) over its HTTP transport: checkout's
    client span puts B3 headers on a call, stock's server span is made from them, as
    Zipkin's "shared" half of the call. The map has the call; the flow has both services."""
    from py_zipkin import Kind
    from py_zipkin.encoding import Encoding
    from py_zipkin.request_helpers import extract_zipkin_attrs_from_headers
    from py_zipkin.transport import SimpleHTTPTransport
    from py_zipkin.zipkin import create_http_headers_for_new_span, zipkin_span

    host, port = collector.endpoints.http.removeprefix("http://").rsplit(":", 1)
    transport = SimpleHTTPTransport(host, int(port))

    def stock(headers: dict[str, str]) -> None:  # (what stock's HTTP handler would run)
        attrs = extract_zipkin_attrs_from_headers(headers, sample_rate=100.0,
                                                  use_128bit_trace_id=True)
        with zipkin_span(service_name="stock", span_name="GET /stock/{sku}", kind=Kind.SERVER,
                         zipkin_attrs=attrs, transport_handler=transport,
                         encoding=Encoding.V2_JSON):
            pass

    with zipkin_span(service_name="checkout", span_name="POST /checkout", kind=Kind.SERVER,
                     transport_handler=transport, sample_rate=100.0,
                     use_128bit_trace_id=True, encoding=Encoding.V2_JSON):
        with zipkin_span(service_name="checkout", span_name="GET /stock/{sku}",
                         kind=Kind.CLIENT):
            stock(create_http_headers_for_new_span())
    rows = _rows(collector, "SELECT service_name, kind FROM spans ORDER BY start_time_unix_nano")
    assert rows == [("checkout", "SERVER"), ("checkout", "CLIENT"), ("stock", "SERVER")]
    a = analyze(collector.store)
    assert {(e["source"], e["target"], e["count"]) for e in a.edges} == {
        ("service:checkout", "service:stock", 1)}
    assert a.summary["flow_instance_count"] == 1 and a.summary["trace_count"] == 1


def test_bad_zipkin_bodies_get_clear_errors_and_the_token_still_locks(tmp_path):
    col = Collector(collector_settings(tmp_path / "z.duckdb", auth_token="s3cret"))
    col.start()
    try:
        url = col.endpoints.http + "/api/v2/spans"
        auth = {"Authorization": "Bearer s3cret"}
        r = requests.post(url, data=b"[]", headers={"Content-Type": "application/json"},
                          timeout=10)
        assert r.status_code == 401
        r = requests.post(url, data=b"[]", headers={**auth, "Content-Type":
                                                    "application/x-protobuf"}, timeout=10)
        assert r.status_code == 415 and "Zipkin's v2 JSON" in r.json()["message"]
        for body, message in ((b"[{", "malformed JSON"),
                              (b'[{"traceId": "xyz", "id": "1", "timestamp": 1}]',
                               "Zipkin v2 JSON: span 1 (1): traceId 'xyz' is not a hex id"),
                              (b'{"traceId": "1"}', "Zipkin v2 JSON is a list of spans")):
            r = requests.post(url, data=body, headers={**auth, "Content-Type":
                                                       "application/json"}, timeout=10)
            assert r.status_code == 400 and message in r.json()["message"], r.text
        r = requests.post(url, data=b"[]", headers={**auth, "Content-Type":
                                                    "application/json"}, timeout=10)
        assert r.status_code == 202 and r.content == b""
        with col.store.cursor() as c:
            assert c.execute("SELECT count(*) FROM spans").fetchone() == (0,)
    finally:
        col.stop()
