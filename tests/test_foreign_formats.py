"""Traces in Jaeger's and Zipkin's JSON load as the OpenTelemetry Collector's translators
make them OTLP (collector/foreign.py), and are analysed as any other: a consumer in another
trace joined by its FOLLOWS_FROM reference, Zipkin's shared client/server halves, Brave's
Kafka spans."""

from __future__ import annotations

import json

import orjson
import pytest

from analyzer import analyze
from choreoscope.cli import main
from choreoscope.store import Store
from collector import foreign
from tests.analysis_checks import edges_of

T0 = 1_764_000_000_000_000  # microseconds, as both formats count


def _tag(key, value, type_="string"):
    return {"key": key, "type": type_, "value": value}


def _jaeger_doc() -> dict:
    """Two traces as Jaeger's API answers (``/api/traces``): the order's, and billing's,
    which follows from the order's publish (a message consumed in a new trace). Trace ids of
    64 bits and span ids without their leading zeros, as Jaeger's UI writes them."""
    order = {"traceID": "a1b2c3d4e5f60718", "spans": [
        {"traceID": "a1b2c3d4e5f60718", "spanID": "1", "operationName": "POST /orders",
         "references": [], "startTime": T0, "duration": 20_000, "processID": "p1",
         "tags": [_tag("span.kind", "server"), _tag("http.response.status_code", 201, "int64"),
                  _tag("otel.scope.name", "io.opentelemetry.servlet"),
                  _tag("sampler.param", True, "bool"), _tag("weight", 0.5, "float64"),
                  _tag("blob", "AAAwOQ==", "binary")],
         "logs": [{"timestamp": T0 + 1_000, "fields": [_tag("event", "validated"),
                                                       _tag("items", 3, "int64")]}],
         "warnings": None},
        {"traceID": "a1b2c3d4e5f60718", "spanID": "2", "operationName": "orders publish",
         "references": [{"refType": "CHILD_OF", "traceID": "a1b2c3d4e5f60718", "spanID": "1"}],
         "startTime": T0 + 5_000, "duration": 1_000, "processID": "p1",
         "tags": [_tag("span.kind", "producer"), _tag("messaging.system", "kafka"),
                  _tag("messaging.destination.name", "orders")], "logs": []}],
        "processes": {"p1": {"serviceName": "order-service",
                             "tags": [_tag("hostname", "order-7f9c"),
                                      _tag("jaeger.version", "Go-2.30.0")]}}}
    billing = {"traceID": "00000000000000000000000000000b17", "spans": [
        {"traceID": "00000000000000000000000000000b17", "spanID": "00000000000000b1",
         "operationName": "orders process",
         "references": [{"refType": "FOLLOWS_FROM", "traceID": "a1b2c3d4e5f60718",
                         "spanID": "2"}],
         "startTime": T0 + 40_000, "duration": 8_000, "processID": "p1",
         "tags": [_tag("span.kind", "consumer"), _tag("messaging.system", "kafka"),
                  _tag("messaging.destination.name", "orders"),
                  _tag("error", True, "bool"),
                  _tag("otel.status_description", "card declined")], "logs": []}],
        "processes": {"p1": {"serviceName": "billing", "tags": []}}}
    return {"data": [order, billing], "total": 0, "limit": 0, "offset": 0, "errors": None}


def _zipkin_spans() -> list[dict]:
    """What Brave reports (Spring Cloud Sleuth, Micrometer Tracing): a client call whose
    server half shares its span id (B3), and Kafka spans tagged ``kafka.topic``."""
    trace = "5af7183fb1d4cf5f"
    local = {"serviceName": "checkout", "ipv4": "10.0.0.5"}
    return [
        {"traceId": trace, "id": "5af7183fb1d4cf5f", "name": "post /checkout", "kind": "SERVER",
         "timestamp": T0, "duration": 30_000, "localEndpoint": local,
         "tags": {"http.method": "POST", "http.path": "/checkout"}},
        {"traceId": trace, "parentId": "5af7183fb1d4cf5f", "id": "352bff9a74ca9ad2",
         "name": "get", "kind": "CLIENT", "timestamp": T0 + 1_000, "duration": 6_000,
         "localEndpoint": local, "remoteEndpoint": {"serviceName": "stock", "port": 8080},
         "tags": {"http.method": "GET", "http.path": "/stock/42"}},
        {"traceId": trace, "parentId": "5af7183fb1d4cf5f", "id": "352bff9a74ca9ad2",
         "name": "get /stock/{id}", "kind": "SERVER", "shared": True,
         "timestamp": T0 + 2_000, "duration": 4_000,
         "localEndpoint": {"serviceName": "stock"}, "tags": {"http.method": "GET"}},
        {"traceId": trace, "parentId": "5af7183fb1d4cf5f", "id": "e457b5a2e4d86bd1",
         "name": "send", "kind": "PRODUCER", "timestamp": T0 + 10_000, "duration": 500,
         "localEndpoint": local, "remoteEndpoint": {"serviceName": "kafka"},
         "tags": {"kafka.topic": "orders"}},
        {"traceId": trace, "parentId": "e457b5a2e4d86bd1", "id": "7c1c8f3a2b6d9e01",
         "name": "poll", "kind": "CONSUMER", "timestamp": T0 + 25_000, "duration": 300,
         "localEndpoint": {"serviceName": "shipping"}, "remoteEndpoint": {"serviceName": "kafka"},
         "tags": {"kafka.topic": "orders"}},
        {"traceId": trace, "parentId": "7c1c8f3a2b6d9e01", "id": "0d5e4f3a2b1c0918",
         "name": "on-message", "timestamp": T0 + 25_400, "duration": 9_000,
         "localEndpoint": {"serviceName": "shipping"}, "tags": {"error": "label printer offline"},
         "annotations": [{"timestamp": T0 + 26_000, "value": "label.requested"}]}]


def _one_joined_delivery(a, producer: str) -> dict:
    """The consume edge of an analysis holding exactly ``producer`` -> orders -> billing,
    its one delivery joined to its publish by context."""
    assert edges_of(a) == {f"service:{producer}->topic:orders": ("publish", 1),
                           "topic:orders->service:billing": ("consume", 1)}
    consume = next(e for e in a.edges if e["type"] == "consume")
    assert consume["joined_by"]["context"] == 1
    return consume


def _load(tmp_path, name: str, body: bytes) -> Store:
    f = tmp_path / name
    f.write_bytes(body)
    db = tmp_path / "s.duckdb"
    assert main(["load", "--quiet", "--db", str(db), str(f)]) == 0
    return Store.open(str(db))


@pytest.mark.parametrize("pretty", [True, False])
def test_a_jaeger_api_document_loads_as_the_collector_translates_it(tmp_path, pretty):
    """(Pretty, as a download is, or on one line, as the API answers: a JSON Lines file of
    one line to the loader.)"""
    doc = _jaeger_doc()
    body = json.dumps(doc, indent=2 if pretty else None).encode()
    with _load(tmp_path, "trace.json", body) as st, st.cursor() as c:
        spans = c.execute(
            "SELECT trace_id, span_id, parent_span_id, name, kind, service_name, status_code, "
            "status_message, end_time_unix_nano - start_time_unix_nano FROM spans "
            "ORDER BY start_time_unix_nano").fetchall()
        order, billing = "0000000000000000a1b2c3d4e5f60718", "00000000000000000000000000000b17"
        assert spans == [
            (order, "0000000000000001", None, "POST /orders", "SERVER", "order-service",
             "UNSET", None, 20_000_000),
            (order, "0000000000000002", "0000000000000001", "orders publish", "PRODUCER",
             "order-service", "UNSET", None, 1_000_000),
            (billing, "00000000000000b1", None, "orders process", "CONSUMER", "billing",
             "ERROR", "card declined", 8_000_000)]
        attrs, resource, scope = c.execute(
            "SELECT attributes, resource_attributes, scope_name FROM spans_full "
            "WHERE name = 'POST /orders'").fetchone()
        attrs, resource = json.loads(attrs), json.loads(resource)
        # (the tags that are span fields are not attributes; the others keep their types)
        assert set(attrs) == {"http.response.status_code", "sampler.param", "weight", "blob"}
        assert (attrs["http.response.status_code"], attrs["sampler.param"],
                attrs["weight"]) == (201, True, 0.5)
        assert resource == {"service.name": "order-service", "hostname": "order-7f9c",
                            "jaeger.version": "Go-2.30.0"}
        assert scope == "io.opentelemetry.servlet"
        events = c.execute("SELECT name, time_unix_nano, attributes FROM span_events").fetchall()
        assert [(n, t, json.loads(a)) for n, t, a in events] == [
            ("validated", (T0 + 1_000) * 1000, {"items": 3})]
        links = c.execute("SELECT trace_id, span_id, linked_trace_id, linked_span_id, "
                          "attributes FROM span_links").fetchall()
        assert [(*r[:4], json.loads(r[4])) for r in links] == [
            (billing, "00000000000000b1", order, "0000000000000002",
             {"opentracing.ref_type": "follows_from"})]
        a = analyze(st)
    # (joined by the reference, a link: one flow across the two traces, its queue time the
    # 34 ms between the publish's end and the delivery)
    assert _one_joined_delivery(a, "order-service")["queue_p50_ms"] == pytest.approx(34.0)
    assert a.summary["flow_instance_count"] == 1 and a.summary["trace_count"] == 2


def test_zipkin_v2_spans_load_with_their_shared_halves_and_brave_kafka_tags(tmp_path):
    body = orjson.dumps(_zipkin_spans())
    with _load(tmp_path, "zipkin.json", body) as st, st.cursor() as c:
        rows = c.execute("SELECT span_id, service_name, kind, status_code, status_message "
                         "FROM spans ORDER BY start_time_unix_nano").fetchall()
        assert rows == [("5af7183fb1d4cf5f", "checkout", "SERVER", "UNSET", None),
                        ("352bff9a74ca9ad2", "checkout", "CLIENT", "UNSET", None),
                        ("352bff9a74ca9ad2", "stock", "SERVER", "UNSET", None),
                        ("e457b5a2e4d86bd1", "checkout", "PRODUCER", "UNSET", None),
                        ("7c1c8f3a2b6d9e01", "shipping", "CONSUMER", "UNSET", None),
                        ("0d5e4f3a2b1c0918", "shipping", "UNSPECIFIED", "ERROR",
                         "label printer offline")]
        client = json.loads(c.execute("SELECT attributes FROM spans WHERE kind = 'CLIENT'"
                                      ).fetchone()[0])
        assert client == {"http.method": "GET", "http.path": "/stock/42",
                          "peer.service": "stock", "network.peer.port": 8080}
        assert c.execute("SELECT name FROM span_events").fetchall() == [("label.requested",)]
        a = analyze(st)
    edges = edges_of(a)
    assert edges["service:checkout->topic:orders"] == ("publish", 1)
    assert edges["topic:orders->service:shipping"] == ("consume", 1)
    assert edges["service:checkout->service:stock"][1] == 1
    assert a.summary["flow_instance_count"] == 1


def test_what_is_not_a_trace_document_is_told_so(tmp_path, capsys):
    """A Jaeger span with a broken id, and OTLP logs loaded as traces: readable reports,
    nothing stored, exit status 1."""
    doc = _jaeger_doc()
    doc["data"][0]["spans"][1]["spanID"] = "zz"
    cases = {"bad-id.json": (json.dumps(doc).encode(),
                             "jaeger JSON: span 2 (zz): spanID 'zz' is not a hex id"),
             "logs.json": (b'{"resourceLogs": []}\n',
                           "neither OTLP, Jaeger nor Zipkin JSON (its keys: resourceLogs)")}
    for name, (body, message) in cases.items():
        f = tmp_path / name
        f.write_bytes(body)
        assert main(["load", "--quiet", "--db", str(tmp_path / "x.duckdb"), str(f)]) == 1
        out = capsys.readouterr().out
        assert "0 spans stored" in out and message in out, out


def test_kind_of_tells_the_formats_apart():
    assert foreign.kind_of(_jaeger_doc()) == "jaeger"
    assert foreign.kind_of(_jaeger_doc()["data"][0]) == "jaeger"
    assert foreign.kind_of(_zipkin_spans()) == "zipkin"
    for other in ({"resourceSpans": []}, {}, [], [{"id": "1"}], {"data": [{"x": 1}]}):
        assert foreign.kind_of(other) is None
    with pytest.raises(foreign.NotForeign):
        foreign.to_otlp({"resourceLogs": []})


def test_ids_are_hex_only_and_zipkin_v1_is_told_apart():
    span = _zipkin_spans()[0]
    for bad in ("0x1f", "1_f", " 1f", "+1f", "5af7183fb1d4cf5f0"):
        with pytest.raises(ValueError, match="not a hex id"):
            foreign.zipkin_request([{**span, "id": bad}])
    v1 = {**span, "binaryAnnotations": [{"key": "http.path", "value": "/checkout"}]}
    with pytest.raises(ValueError, match="v1 JSON"):
        foreign.zipkin_request([v1])


def test_jaeger_api_v3_answers_are_otlp_inside_result(tmp_path):
    """Jaeger's api/v3 answers OTLP/JSON, wrapped in ``{"result": ...}``: unwrapped, not
    read as an empty OTLP request."""
    from collector.otlp_json import request_to_json_dict
    from tests.otlp_fixtures import simple_request

    inner = request_to_json_dict(simple_request(4, "v3-svc"))
    with _load(tmp_path, "v3.json", orjson.dumps({"result": inner})) as st, st.cursor() as c:
        assert c.execute("SELECT service_name, count(*) FROM spans GROUP BY 1").fetchall() == [
            ("v3-svc", 4)]


def test_an_opentracing_consumer_follows_from_its_producer_in_the_same_trace(tmp_path):
    """OpenTracing's Kafka clients (Jaeger's era) start a consumer span FOLLOWS_FROM the
    producer's context, in the producer's trace: as in Jaeger, that reference is the parent
    (and a link, as the Collector keeps it); the delivery is joined, the flow one trace. One
    trace as Jaeger's UI holds it (no ``data`` around it)."""
    trace = "7d3c2b1a00f0e0d0"
    tags = [_tag("message_bus.destination", "orders")]
    doc = {"traceID": trace, "processes": {"p1": {"serviceName": "orders-api", "tags": []},
                                           "p2": {"serviceName": "billing", "tags": []}},
           "spans": [
               {"traceID": trace, "spanID": "a1", "operationName": "To_orders",
                "references": [], "startTime": T0, "duration": 800, "processID": "p1",
                "tags": [_tag("span.kind", "producer"), *tags]},
               {"traceID": trace, "spanID": "b2", "operationName": "From_orders",
                "references": [{"refType": "FOLLOWS_FROM", "traceID": trace, "spanID": "a1"}],
                "startTime": T0 + 5_000, "duration": 2_000, "processID": "p2",
                "tags": [_tag("span.kind", "consumer"), *tags]}]}
    with _load(tmp_path, "ot.json", json.dumps(doc, indent=1).encode()) as st, \
            st.cursor() as c:
        assert c.execute("SELECT span_id, parent_span_id FROM spans ORDER BY 1").fetchall() == [
            ("00000000000000a1", None), ("00000000000000b2", "00000000000000a1")]
        assert c.execute("SELECT span_id, linked_span_id FROM span_links").fetchall() == [
            ("00000000000000b2", "00000000000000a1")]
        a = analyze(st)
    assert _one_joined_delivery(a, "orders-api")["queue_p50_ms"] == pytest.approx(4.2)
