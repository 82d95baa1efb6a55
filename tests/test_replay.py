"""``replay`` against real OTLP receivers on loopback (gRPC and HTTP, started here).

The receivers decode what arrives independently of ``sample_traces`` (protobuf parsing, and a
hand-written hex-id conversion for OTLP/JSON), so the checks see exactly what a collector sees.
"""

from __future__ import annotations

import argparse
import json
import re
import socket
import threading
import time
from concurrent import futures
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import grpc
import pytest
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc

from sample_traces import ground_truth as gt
from sample_traces.replay import ReplayError, add_replay_arguments, replay, run_replay

SCENARIO = gt.data_path("choreography")


class Receiver:
    """Collected export requests plus switches to make the receiver misbehave."""

    def __init__(self) -> None:
        self.requests: list[tuple[list[tuple], set[str]]] = []  # (span tuples, service names)
        self.headers: list[dict[str, str]] = []
        self.arrived: list[int] = []  # time.time_ns() of each request's arrival
        self.reject = False
        self.partial = 0
        self.require_token: str | None = None
        self.lock = threading.Lock()

    def reset(self) -> None:
        with self.lock:
            self.requests.clear()
            self.headers.clear()
            self.arrived.clear()
        self.reject, self.partial, self.require_token = False, 0, None


class _GrpcServicer(trace_service_pb2_grpc.TraceServiceServicer):
    def __init__(self, receiver: Receiver) -> None:
        self.r = receiver

    def Export(self, request, context):  # noqa: N802 (gRPC method name)
        md = dict(context.invocation_metadata())
        if self.r.require_token and md.get("authorization") != f"Bearer {self.r.require_token}":
            context.abort(grpc.StatusCode.UNAUTHENTICATED, "missing or bad bearer token")
        if self.r.reject:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "schema violation: bad span")
        with self.r.lock:
            self.r.requests.append(_proto_span_tuples(request))
            self.r.arrived.append(time.time_ns())
            self.r.headers.append(md)
        response = trace_service_pb2.ExportTraceServiceResponse()
        if self.r.partial:
            response.partial_success.rejected_spans = self.r.partial
            response.partial_success.error_message = "too old"
        return response


def _json_span_tuples(doc: dict) -> tuple[list[tuple], set[str]]:
    """Span tuples and service names of an OTLP/JSON request; ids must be lowercase hex."""
    spans, services = [], set()
    for rs in doc.get("resourceSpans", []):
        services |= {a["value"]["stringValue"] for a in rs["resource"]["attributes"] if a["key"] == "service.name"}
        for ss in rs.get("scopeSpans", []):
            for s in ss.get("spans", []):
                for obj in [s] + s.get("links", []):
                    for key in ("traceId", "spanId", "parentSpanId"):
                        if obj.get(key):
                            assert re.fullmatch(r"[0-9a-f]{16}|[0-9a-f]{32}", obj[key]), obj[key]
                links = tuple((l["traceId"], l["spanId"]) for l in s.get("links", []))
                spans.append((s["traceId"], s["spanId"], s.get("parentSpanId", ""), links,
                              int(s["startTimeUnixNano"]), int(s["endTimeUnixNano"]), s["name"]))
    return spans, services


def _proto_span_tuples(req) -> tuple[list[tuple], set[str]]:
    spans, services = [], set()
    for rs in req.resource_spans:
        services |= {a.value.string_value for a in rs.resource.attributes if a.key == "service.name"}
        for ss in rs.scope_spans:
            for s in ss.spans:
                links = tuple((l.trace_id.hex(), l.span_id.hex()) for l in s.links)
                spans.append((s.trace_id.hex(), s.span_id.hex(), s.parent_span_id.hex(), links,
                              s.start_time_unix_nano, s.end_time_unix_nano, s.name))
    return spans, services


def _http_handler(receiver: Receiver):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args) -> None:
            pass

        def do_POST(self) -> None:  # noqa: N802
            body = self.rfile.read(int(self.headers["Content-Length"]))
            if self.path != "/v1/traces":
                return self._reply(404, b"not found")
            if receiver.require_token and self.headers.get("authorization") != f"Bearer {receiver.require_token}":
                return self._reply(401, b"unauthorized")
            if receiver.reject:
                return self._reply(400, b"bad span data")
            ctype = self.headers["Content-Type"]
            if ctype == "application/json":
                request = _json_span_tuples(json.loads(body))
                reply = {"partialSuccess": {"rejectedSpans": str(receiver.partial)}} if receiver.partial else {}
                payload = json.dumps(reply).encode()
            else:
                assert ctype == "application/x-protobuf"
                request = _proto_span_tuples(trace_service_pb2.ExportTraceServiceRequest.FromString(body))
                resp = trace_service_pb2.ExportTraceServiceResponse()
                resp.partial_success.rejected_spans = receiver.partial
                payload = resp.SerializeToString()
            with receiver.lock:
                receiver.requests.append(request)
                receiver.arrived.append(time.time_ns())
                receiver.headers.append({k.lower(): v for k, v in self.headers.items()})
            self._reply(200, payload, ctype)

        def _reply(self, code: int, payload: bytes, ctype: str = "text/plain") -> None:
            self.send_response(code)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

    return Handler


@pytest.fixture(scope="module")
def servers():
    receiver = Receiver()
    gserver = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(_GrpcServicer(receiver), gserver)
    gport = gserver.add_insecure_port("127.0.0.1:0")
    gserver.start()
    hserver = ThreadingHTTPServer(("127.0.0.1", 0), _http_handler(receiver))
    thread = threading.Thread(target=hserver.serve_forever, daemon=True)
    thread.start()
    endpoints = {"grpc": f"http://127.0.0.1:{gport}",
                 "http/protobuf": f"http://127.0.0.1:{hserver.server_address[1]}",
                 "http/json": f"http://127.0.0.1:{hserver.server_address[1]}"}
    yield receiver, endpoints
    hserver.shutdown()
    gserver.stop(0)


@pytest.fixture
def receiver_endpoints(servers):
    receiver, endpoints = servers
    receiver.reset()
    return receiver, endpoints


# --------------------------------------------------------------------------- helpers


def _file_spans(path: str) -> list[tuple]:
    """(trace, span, parent, links, start, end, name) of every span, in file order."""
    out = []
    text = Path(path).read_text()
    docs = [json.loads(text)] if text.lstrip().startswith("{\n") else [json.loads(l) for l in text.splitlines()]
    for doc in docs:
        if True:
            for rs in doc["resourceSpans"]:
                for ss in rs["scopeSpans"]:
                    for s in ss["spans"]:
                        links = tuple((l["traceId"], l["spanId"]) for l in s.get("links", []))
                        out.append((s["traceId"], s["spanId"], s.get("parentSpanId", ""), links,
                                    int(s["startTimeUnixNano"]), int(s["endTimeUnixNano"]), s["name"]))
    return out


def _received_spans(receiver: Receiver) -> list[tuple]:
    return [span for spans, _ in receiver.requests for span in spans]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --------------------------------------------------------------------------- tests


@pytest.mark.parametrize("protocol", ["grpc", "http/protobuf", "http/json"])
def test_replay_delivers_exactly_the_scenario(receiver_endpoints, protocol: str) -> None:
    receiver, endpoints = receiver_endpoints
    result = replay([SCENARIO], endpoints[protocol], protocol, speed=0, loops=1, shift=False, progress=False)
    expected = _file_spans(SCENARIO)
    got = _received_spans(receiver)
    assert result.spans == len(expected) == len(got)
    assert result.requests == len(receiver.requests) > 1
    assert sorted(got) == sorted(expected)  # ids, parents, links, timestamps intact
    # Resources and scopes survive too.
    services = set().union(*(svcs for _, svcs in receiver.requests))
    assert services == {n.split(":", 1)[1] for n in gt.SCENARIOS["choreography"]["services"]}


@pytest.mark.parametrize("protocol", ["grpc", "http/json"])
def test_loops_get_fresh_consistent_ids_and_shifted_times(receiver_endpoints, protocol: str) -> None:
    receiver, endpoints = receiver_endpoints
    before = time.time_ns()
    result = replay([SCENARIO], endpoints[protocol], protocol, speed=0, loops=2, shift=True, progress=False)
    original = _file_spans(SCENARIO)
    got = _received_spans(receiver)
    assert result.loops == 2 and result.spans == len(got) == 2 * len(original)
    first, second = got[: len(original)], got[len(original):]
    orig_traces = {s[0] for s in original}
    assert {s[0] for s in first} == orig_traces and not orig_traces & {s[0] for s in second}
    assert len({(s[0], s[1]) for s in got}) == len(got)  # no duplicate span anywhere
    t0 = min(s[4] for s in original)
    for loop in (first, second):
        trace_map: dict[str, str] = {}
        span_map: dict[str, str] = {}
        for o, n in zip(original, loop, strict=True):
            assert n[6] == o[6] and n[5] - n[4] == o[5] - o[4]  # same span, same duration
            assert trace_map.setdefault(o[0], n[0]) == n[0]
            assert span_map.setdefault(o[1], n[1]) == n[1]
        assert len(set(trace_map.values())) == len(trace_map) and len(set(span_map.values())) == len(span_map)
        for o, n in zip(original, loop):
            assert n[2] == (span_map[o[2]] if o[2] else "")  # parents rewritten consistently
            assert n[3] == tuple((trace_map[t], span_map[s]) for t, s in o[3])  # links too
        # Timestamps moved so that the loop's spans have all ended when it sends them (at
        # full speed, ending as the loop starts), relative timing kept.
        start = min(s[4] for s in loop)
        extent = max(s[5] for s in original) - t0
        assert before - 1e9 <= start + extent <= time.time_ns()
        assert all(n[4] - start == o[4] - t0 for o, n in zip(original, loop))


def test_speed_paces_requests(receiver_endpoints) -> None:
    receiver, endpoints = receiver_endpoints
    original = _file_spans(SCENARIO)
    span_s = (max(s[5] for s in original) - min(s[4] for s in original)) / 1e9
    speed = span_s / 0.6  # the whole file in about 0.6 s
    result = replay([SCENARIO], endpoints["grpc"], "grpc", speed=speed, shift=False, progress=False)
    assert 0.5 <= result.elapsed < 5.0
    assert len(_received_spans(receiver)) == len(original)


def test_shifted_spans_have_ended_when_they_are_sent(receiver_endpoints) -> None:
    """An exporter sends a span once it has ended: faster than real time, a loop's timeline
    starts early enough that no request holds a span ending after it was received (a live
    window sees no spans from the future)."""
    receiver, endpoints = receiver_endpoints
    spans = _file_spans(SCENARIO)
    span_s = (max(s[5] for s in spans) - min(s[4] for s in spans)) / 1e9
    started = time.time_ns()
    replay([SCENARIO], endpoints["grpc"], "grpc", speed=span_s / 0.8, shift=True,
           progress=False)
    received = list(zip(receiver.arrived, (req for req, _ in receiver.requests), strict=True))
    assert len(received) > 10
    assert all(span[5] <= at for at, req in received for span in req)
    # ... and at that speed the loop's timeline began about span_s before the loop did
    first = min(span[4] for _, req in received for span in req)
    assert started - span_s * 1e9 - 1e9 <= first <= started


def test_single_document_and_multiple_files(receiver_endpoints, tmp_path: Path) -> None:
    receiver, endpoints = receiver_endpoints
    lines = Path(SCENARIO).read_text().splitlines()
    doc = tmp_path / "one.json"
    doc.write_text(json.dumps(json.loads(lines[0]), indent=2))
    other = gt.data_path("orchestration")
    result = replay([doc, other], endpoints["http/protobuf"], "http/protobuf", speed=0, shift=False,
                    progress=False)
    expected = len(_file_spans(str(doc))) + len(_file_spans(other))
    assert result.spans == expected == len(_received_spans(receiver))


@pytest.mark.parametrize("protocol", ["grpc", "http/protobuf"])
def test_bearer_token_header(receiver_endpoints, protocol: str) -> None:
    receiver, endpoints = receiver_endpoints
    receiver.require_token = "s3cret"
    with pytest.raises(ReplayError, match="rejected"):
        replay([SCENARIO], endpoints[protocol], protocol, speed=0, progress=False)
    parser = argparse.ArgumentParser()
    add_replay_arguments(parser)
    args = parser.parse_args([SCENARIO, "--endpoint", endpoints[protocol], "--protocol", protocol,
                              "--speed", "0", "--no-progress", "--headers", "authorization=Bearer s3cret"])
    assert run_replay(args) == 0
    assert receiver.headers and all(h["authorization"] == "Bearer s3cret" for h in receiver.headers)


@pytest.mark.parametrize("protocol", ["grpc", "http/protobuf", "http/json"])
def test_rejections_are_clean_errors(receiver_endpoints, protocol: str, capsys) -> None:
    receiver, endpoints = receiver_endpoints
    receiver.reject = True
    with pytest.raises(ReplayError, match="rejected the data") as info:
        replay([SCENARIO], endpoints[protocol], protocol, speed=0, progress=False)
    assert "\n" not in str(info.value)
    receiver.reject, receiver.partial = False, 5
    with pytest.raises(ReplayError, match="rejected 5 spans"):
        replay([SCENARIO], endpoints[protocol], protocol, speed=0, progress=False)


@pytest.mark.parametrize("protocol", ["grpc", "http/protobuf", "http/json"])
def test_unreachable_endpoint(protocol: str, capsys) -> None:
    endpoint = f"http://127.0.0.1:{_free_port()}"
    started = time.monotonic()
    with pytest.raises(ReplayError, match="cannot reach"):
        replay([SCENARIO], endpoint, protocol, speed=0, progress=False, timeout=2)
    parser = argparse.ArgumentParser()
    add_replay_arguments(parser)
    assert run_replay(parser.parse_args([SCENARIO, "--endpoint", endpoint, "--protocol", protocol,
                                         "--timeout", "2", "--no-progress"])) == 1
    assert time.monotonic() - started < 6
    err = capsys.readouterr().err
    assert "cannot reach" in err and "Traceback" not in err and err.count("\n") == 1


def test_bad_input_is_a_clean_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"resourceSpans": []}\nnot json\n')
    with pytest.raises(ReplayError):
        replay([bad], "http://127.0.0.1:9", "grpc", progress=False)
    with pytest.raises(ReplayError, match="no such file"):
        replay([tmp_path / "missing.jsonl"], "http://127.0.0.1:9", "grpc", progress=False)


def test_replay_into_the_project_collector(tmp_path: Path) -> None:
    """End to end into choreoscope's own collector (skipped if that part is unavailable)."""
    try:
        from choreoscope.config import resolve
        from collector.server import Collector
    except Exception as exc:  # the collector is developed in parallel; do not depend on it
        pytest.skip(f"project collector not importable: {exc}")
    settings = resolve({"db": str(tmp_path / "t.duckdb"), "grpc_port": 0, "http_port": 0, "no_ui": True},
                       environ={})
    col = Collector(settings)
    try:
        ep = col.start()
    except Exception as exc:
        col.stop()
        pytest.skip(f"project collector does not start: {exc}")
    try:
        files = {"grpc": gt.data_path("choreography"), "http/json": gt.data_path("hybrid")}
        for protocol, path in files.items():
            endpoint = ep.grpc if protocol == "grpc" else ep.http
            replay([path], endpoint, protocol, speed=0, shift=False, progress=False)
        expected = [s for p in files.values() for s in _file_spans(p)]
        deadline = time.monotonic() + 15
        while col.store.count_spans() < len(expected) and time.monotonic() < deadline:
            time.sleep(0.1)
        with col.store.cursor() as cur:
            rows = cur.execute("SELECT trace_id, span_id, coalesce(parent_span_id, ''), name, "
                               "start_time_unix_nano, end_time_unix_nano FROM spans").fetchall()
            links = cur.execute("SELECT trace_id, span_id, linked_trace_id, linked_span_id FROM span_links "
                                "ORDER BY trace_id, span_id, seq").fetchall()
        assert sorted(rows) == sorted((s[0], s[1], s[2], s[6], s[4], s[5]) for s in expected)
        assert sorted(links) == sorted((s[0], s[1], t, sp) for s in expected for t, sp in s[3])
    finally:
        col.stop()


def test_each_loop_sends_new_messages(tmp_path: Path) -> None:
    """A loop is new orders: its message ids are new too, though consistent among its spans
    (a consumer that lost its context is still joined to its producer by the id). Two loops
    into a real collector analyse as exactly twice one loop: twice the flows, no message
    delivered once per loop counted as redelivered."""
    from analyzer import analyze
    from collector.server import Collector
    from tests.conftest import collector_settings

    def analysed(loops: int) -> dict:
        col = Collector(collector_settings(tmp_path / f"loops{loops}.duckdb"))
        col.start()
        try:
            replay([SCENARIO], col.endpoints.grpc, "grpc", speed=0, loops=loops, shift=False,
                   progress=False)
            a = analyze(col.store)
            with col.store.session().use() as cur:
                ids = cur.execute("SELECT count(DISTINCT msg_message_id) FROM spans").fetchone()[0]
        finally:
            col.stop()
        return {"flows": a.summary["flow_instance_count"], "types": a.summary["flow_count"],
                "ids": ids, "joined_by_id": sum(e.get("joined_by", {}).get("message_id", 0)
                                                for e in a.edges),
                "anomalies": sorted((x["type"], x["where"], x["count"]) for x in a.anomalies)}

    one, two = analysed(1), analysed(2)
    assert one["joined_by_id"] > 0 and one["anomalies"]
    assert two == {"flows": 2 * one["flows"], "types": one["types"], "ids": 2 * one["ids"],
                   "joined_by_id": 2 * one["joined_by_id"],
                   "anomalies": [(t, w, 2 * n) for t, w, n in one["anomalies"]]}
