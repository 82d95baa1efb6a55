"""The committed sample scenarios: deterministic generation and agreement with ground truth.

The checker below re-derives every fact of ``sample_traces.ground_truth`` straight from the
OTLP/JSON span data (kinds, attributes, parent ids, links) -- it shares no code with the
generator, so a generator bug or a stale ground truth makes these tests fail.
"""

from __future__ import annotations

import json
import re
import statistics
import subprocess
import sys
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import pytest

from sample_traces import ground_truth as gt

ROOT = Path(__file__).resolve().parent.parent
SCENARIOS = list(gt.SCENARIOS)
SERVER, CLIENT, PRODUCER, CONSUMER = 2, 3, 4, 5
STATUS_ERROR = 2
HEX32 = re.compile(r"^[0-9a-f]{32}$")
HEX16 = re.compile(r"^[0-9a-f]{16}$")


def _value(v: dict):
    (kind, val), = v.items()
    if kind == "intValue":
        return int(val)
    if kind == "arrayValue":
        return [_value(x) for x in val.get("values", [])]
    return val


def _attrs(items: list) -> dict:
    return {a["key"]: _value(a["value"]) for a in items or []}


@dataclass
class Span:
    service: str
    scope: str
    schema: str
    resource: dict
    trace_id: str
    span_id: str
    parent_id: str
    name: str
    kind: int
    start: int
    end: int
    attrs: dict
    status: int
    events: list
    links: list = field(default_factory=list)

    @property
    def dest(self) -> str | None:
        return self.attrs.get("messaging.destination.name", self.attrs.get("messaging.destination"))

    @property
    def msg_id(self) -> str | None:
        return self.attrs.get("messaging.message.id", self.attrs.get("messaging.message_id"))


@lru_cache(maxsize=None)
def load(path: str) -> tuple[list[Span], int]:
    """All spans of an OTLP/JSON Lines file and the number of lines (requests)."""
    spans: list[Span] = []
    lines = 0
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            doc = json.loads(line)
            lines += 1
            for rs in doc["resourceSpans"]:
                res = _attrs(rs["resource"]["attributes"])
                for ss in rs["scopeSpans"]:
                    for s in ss["spans"]:
                        spans.append(Span(
                            res["service.name"], ss["scope"]["name"], ss.get("schemaUrl", ""), res,
                            s["traceId"], s["spanId"], s.get("parentSpanId", ""), s["name"], s["kind"],
                            int(s["startTimeUnixNano"]), int(s["endTimeUnixNano"]),
                            _attrs(s.get("attributes")), s.get("status", {}).get("code", 0),
                            s.get("events", []),
                            [dict(l, attributes=_attrs(l.get("attributes"))) for l in s.get("links", [])],
                        ))
    return spans, lines


class Derived:
    """Everything the ground truth states, derived from spans only."""

    def __init__(self, spans: list[Span]):
        self.spans = spans
        self.by_id = {(s.trace_id, s.span_id): s for s in spans}
        self.children = defaultdict(list)
        for s in spans:
            if s.parent_id:
                self.children[(s.trace_id, s.parent_id)].append(s)
        self.edges: set[tuple[str, str, str]] = set()
        self.edge_spans: dict[tuple, list[Span]] = defaultdict(list)  # consume: CONSUMER; call: CLIENT
        self.unexplained_clients: list[Span] = []
        for s in spans:
            svc = f"service:{s.service}"
            if s.kind == PRODUCER and s.dest:
                self.edges.add((svc, f"topic:{s.dest}", "publish"))
            elif s.kind == CONSUMER and s.dest:
                edge = (f"topic:{s.dest}", svc, "consume")
                self.edges.add(edge)
                self.edge_spans[edge].append(s)
            elif s.kind == CLIENT:
                servers = [c for c in self.children[(s.trace_id, s.span_id)] if c.kind == SERVER]
                if servers:
                    edge = (svc, f"service:{servers[0].service}", "call")
                elif "db.system" in s.attrs:
                    edge = (svc, f"external:{s.attrs['db.system']}", "call")
                else:
                    self.unexplained_clients.append(s)
                    continue
                self.edges.add(edge)
                self.edge_spans[edge].append(s)
        self.producers_by_msg: dict[str, list[Span]] = defaultdict(list)
        for s in spans:
            if s.kind == PRODUCER and s.msg_id:
                self.producers_by_msg[s.msg_id].append(s)

    def producer_of(self, consumer: Span) -> Span | None:
        """The creation-context span of a single-message consumer: its parent or its link."""
        if consumer.parent_id:
            parent = self.by_id.get((consumer.trace_id, consumer.parent_id))
            if parent is not None and parent.kind == PRODUCER:
                return parent
        if len(consumer.links) == 1:
            link = consumer.links[0]
            target = self.by_id.get((link["traceId"], link["spanId"]))
            if target is not None and target.kind == PRODUCER:
                return target
        return None

    def error_rate(self, edge) -> tuple[float, int]:
        spans = self.edge_spans[edge]
        if edge[2] == "call":  # a failed call is seen by the callee's SERVER span too
            spans = [c for s in spans for c in self.children[(s.trace_id, s.span_id)] if c.kind == SERVER]
        return sum(s.status == STATUS_ERROR for s in spans) / len(spans), len(spans)


@lru_cache(maxsize=None)
def derived(scenario: str) -> Derived:
    return Derived(load(gt.data_path(scenario))[0])


# --------------------------------------------------------------------------- generation


def _generate(out: Path, seed: int, spans: int) -> None:
    subprocess.run([sys.executable, "-m", "sample_traces.generate", "--seed", str(seed), "--out", str(out),
                    "--spans", str(spans)], cwd=ROOT, check=True, capture_output=True)


def test_generation_is_deterministic(tmp_path: Path) -> None:
    _generate(tmp_path / "a", 7, 400)
    _generate(tmp_path / "b", 7, 400)
    _generate(tmp_path / "c", 8, 400)
    for name in SCENARIOS:
        a = (tmp_path / "a" / f"{name}.jsonl").read_bytes()
        assert a == (tmp_path / "b" / f"{name}.jsonl").read_bytes(), name
        assert a != (tmp_path / "c" / f"{name}.jsonl").read_bytes(), name  # the seed matters
        spans, _ = load(str(tmp_path / "a" / f"{name}.jsonl"))
        assert 300 <= len(spans) <= 700, (name, len(spans))


def test_committed_files_are_what_the_generator_makes(tmp_path: Path) -> None:
    """The committed data is exactly the default generator output (not hand-edited)."""
    _generate(tmp_path, gt.SEED, gt.SPANS)
    for name in SCENARIOS:
        assert (tmp_path / f"{name}.jsonl").read_bytes() == Path(gt.data_path(name)).read_bytes(), name


# --------------------------------------------------------------------------- file format


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_file_is_collector_style_otlp_json(scenario: str) -> None:
    spans, lines = load(gt.data_path(scenario))
    assert 1000 <= len(spans) <= 5000
    assert lines >= 4  # several export requests, a few hundred spans each
    ids = Counter((s.trace_id, s.span_id) for s in spans)
    assert max(ids.values()) == 1
    for s in spans:
        assert HEX32.match(s.trace_id) and HEX16.match(s.span_id)
        assert not s.parent_id or HEX16.match(s.parent_id)
        assert s.kind in (1, 2, 3, 4, 5) and s.start <= s.end
        for link in s.links:
            assert HEX32.match(link["traceId"]) and HEX16.match(link["spanId"])
        for key in ("service.name", "service.version", "service.namespace", "deployment.environment",
                    "host.name", "telemetry.sdk.name", "telemetry.sdk.language", "telemetry.sdk.version",
                    "process.runtime.name", "process.runtime.version"):
            assert key in s.resource, key
    # Parents are never dangling: every parent id refers to a span in the file.
    d = derived(scenario)
    assert all((s.trace_id, s.parent_id) in d.by_id for s in spans if s.parent_id)
    scopes = {s.scope for s in spans}
    assert scopes <= {"opentelemetry.instrumentation.confluent_kafka", "opentelemetry.instrumentation.pika",
                      "opentelemetry.instrumentation.flask", "opentelemetry.instrumentation.requests",
                      "opentelemetry.instrumentation.grpc", "opentelemetry.instrumentation.psycopg",
                      "shop.eventbus", "shop.app"}
    # Raw encoding details the Collector's file exporter uses.
    first = json.loads(Path(gt.data_path(scenario)).open().readline())
    span0 = first["resourceSpans"][0]["scopeSpans"][0]["spans"][0]
    assert isinstance(span0["kind"], int) and isinstance(span0["startTimeUnixNano"], str)


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_replay_parser_reads_the_file_losslessly(scenario: str) -> None:
    from sample_traces.otlp_json import read_requests, request_to_dict

    path = gt.data_path(scenario)
    requests = list(read_requests(path))
    with open(path, encoding="utf-8") as fh:
        for request, line in zip(requests, fh, strict=True):
            assert request_to_dict(request) == json.loads(line)


# --------------------------------------------------------------------------- ground truth


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_edges_and_nodes_match_ground_truth(scenario: str) -> None:
    d, truth = derived(scenario), gt.SCENARIOS[scenario]
    assert d.edges == gt.edges(scenario)
    assert not d.unexplained_clients
    derived_nodes = {n for e in d.edges for n in e[:2]} | {f"service:{s.service}" for s in d.spans}
    assert derived_nodes == gt.nodes(scenario)
    systems = {f"topic:{s.dest}": s.attrs["messaging.system"] for s in d.spans if s.dest}
    assert systems == truth["topics"]
    kinds = {e[2] for e in d.edges if not e[1].startswith("external:")}
    expected_kinds = {"choreography": {"publish", "consume"}, "orchestration": {"call"},
                      "hybrid": {"publish", "consume", "call"}}[truth["style"]]
    assert kinds == expected_kinds
    for topic, consumers in truth["fan_out"].items():
        assert {e[1] for e in d.edges if e[0] == topic and e[2] == "consume"} == set(consumers)
    entries = {s.service for s in d.spans if not s.parent_id and s.kind == SERVER}
    assert {f"service:{e}" for e in entries} == {truth["entry"]}


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_unconsumed_topics(scenario: str) -> None:
    d = derived(scenario)
    published = {e[1] for e in d.edges if e[2] == "publish"}
    consumed = {e[0] for e in d.edges if e[2] == "consume"}
    assert published - consumed == set(gt.SCENARIOS[scenario]["unconsumed_topics"])


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_failing_hop_rate_and_retries(scenario: str) -> None:
    d, hop = derived(scenario), gt.SCENARIOS[scenario]["failing_hop"]
    rate, n = d.error_rate(hop["edge"])
    assert n >= 100 and abs(rate - hop["failure_rate"]) <= 0.03, (rate, n)
    for edge in d.edge_spans:  # every other hop is healthy
        if edge != hop["edge"] and not edge[1].startswith("external:"):
            assert d.error_rate(edge)[0] == 0.0, edge
    failed = [s for s in d.edge_spans[hop["edge"]] if s.status == STATUS_ERROR]
    for s in (failed if hop["edge"][2] == "consume" else []):
        assert any(e["name"] == "exception" for e in s.events)
    if hop["retry"] == "redelivery":
        attempts = defaultdict(list)
        for s in d.edge_spans[hop["edge"]]:
            attempts[s.msg_id].append(s)
        redelivered = [m for m, a in attempts.items() if len(a) > 1]
        assert redelivered and max(len(a) for a in attempts.values()) == hop["max_attempts"]
        for m in redelivered:  # the same message: same id, same creation context
            assert len({(s.trace_id, s.parent_id) for s in attempts[m]}) == 1
            ordered = sorted(attempts[m], key=lambda s: s.start)
            assert all(s.status == STATUS_ERROR for s in ordered[:-1])
        exhausted = {m for m, a in attempts.items()
                     if len(a) == hop["max_attempts"] and all(s.status == STATUS_ERROR for s in a)}
        dlq = gt.SCENARIOS[scenario]["dlq"]
        dlq_publishes = [s for s in d.spans if s.kind == PRODUCER and f"topic:{s.dest}" == dlq["topic"]]
        assert exhausted and len(dlq_publishes) == len(exhausted)
        for p in dlq_publishes:  # published from inside the last failed attempt
            parent = d.by_id[(p.trace_id, p.parent_id)]
            assert parent.kind == CONSUMER and parent.status == STATUS_ERROR and parent.msg_id in exhausted
            assert f"service:{p.service}" == dlq["publisher"]
    else:  # client retries: several CLIENT spans of one trace towards the callee
        per_trace = Counter(s.trace_id for s in d.edge_spans[hop["edge"]])
        assert max(per_trace.values()) == hop["max_attempts"] and sum(v > 1 for v in per_trace.values()) > 3


def _queue_times(d: Derived, edge) -> list[tuple[int, int]]:
    """(producer end, consumer start - producer end) of the first delivery of each message."""
    first: dict[str, Span] = {}
    for s in d.edge_spans[edge]:
        if s.msg_id not in first or s.start < first[s.msg_id].start:
            first[s.msg_id] = s
    out = []
    for s in first.values():
        p = d.producer_of(s)
        if p is not None:
            out.append((p.end, s.start - p.end))
    return out


def _p95(values: list[float]) -> float:
    return sorted(values)[int(0.95 * (len(values) - 1))]


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_slow_hop(scenario: str) -> None:
    d, hop = derived(scenario), gt.SCENARIOS[scenario]["slow_hop"]
    if hop["metric"] == "queue_time":
        p95 = {e: _p95([q for _, q in _queue_times(d, e)]) for e in d.edge_spans
               if e[2] == "consume" and _queue_times(d, e)}
        slow = p95.pop(hop["edge"])
        assert slow > 5e9 and max(p95.values()) < 1e9, (slow, p95)
        # The queue backs up at peak: messages produced in the peak window wait far longer.
        t0 = min(s.start for s in d.spans)
        cycle, (lo, hi) = gt.PEAK_CYCLE_S, gt.PEAK_WINDOW_S
        before = [q for t, q in _queue_times(d, hop["edge"]) if (t - t0) / 1e9 % cycle < lo]
        during = [q for t, q in _queue_times(d, hop["edge"]) if lo <= (t - t0) / 1e9 % cycle < hi]
        assert statistics.median(before) < 1e9 < statistics.median(during)
    else:
        med = {e: statistics.median(s.end - s.start for s in spans) for e, spans in d.edge_spans.items()
               if e[2] == "call" and e[1].startswith("service:")}
        slow = med.pop(hop["edge"])
        assert slow > 3 * max(med.values()), (slow, med)


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_context_propagation_and_lost_context(scenario: str) -> None:
    d, truth = derived(scenario), gt.SCENARIOS[scenario]
    lost = truth["lost_context"]
    batch_edge = truth["batch"]["edge"] if truth["batch"] else None
    link_only = set(truth["link_only_consumers"])
    for edge, consumers in d.edge_spans.items():
        if edge[2] != "consume" or edge == batch_edge:
            continue
        for s in consumers:
            if lost and edge == lost["edge"]:
                # New trace, no parent, no link -- but the message id still names a producer.
                assert not s.parent_id and not s.links
                assert [p.dest for p in d.producers_by_msg[s.msg_id]] and all(
                    f"topic:{p.dest}" == edge[0] for p in d.producers_by_msg[s.msg_id])
            else:
                p = d.producer_of(s)
                assert p is not None and p.msg_id == s.msg_id and f"topic:{p.dest}" == edge[0], edge
                assert (not s.parent_id) == (edge in link_only), edge
    if lost:
        assert d.edge_spans[lost["edge"]]


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_batch_consumer_links(scenario: str) -> None:
    d, batch = derived(scenario), gt.SCENARIOS[scenario]["batch"]
    batches = [s for s in d.spans if "messaging.batch.message_count" in s.attrs]
    if batch is None:
        assert not batches
        return
    assert batches and all(s in d.edge_spans[batch["edge"]] for s in batches)
    assert len(batches) == len(d.edge_spans[batch["edge"]])
    assert max(s.attrs["messaging.batch.message_count"] for s in batches) >= 3
    for s in batches:
        assert not s.parent_id and s.attrs["messaging.batch.message_count"] == len(s.links)
        for link in s.links:
            producer = d.by_id[(link["traceId"], link["spanId"])]
            assert producer.kind == PRODUCER and producer.trace_id != s.trace_id
            assert f"topic:{producer.dest}" == batch["edge"][0]
            assert f"service:{producer.service}" == batch["producer"]
            assert link["attributes"]["messaging.message.id"] == producer.msg_id


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_legacy_attributes(scenario: str) -> None:
    d, truth = derived(scenario), gt.SCENARIOS[scenario]
    legacy = truth["legacy_messaging"]
    legacy_services = set()
    for s in d.spans:
        if not s.dest:
            continue
        if f"topic:{s.dest}" in legacy["topics"]:
            legacy_services.add(f"service:{s.service}")
            assert "messaging.destination.name" not in s.attrs and "messaging.operation.type" not in s.attrs
            assert {"messaging.destination", "messaging.destination_kind", "messaging.message_id",
                    "net.peer.name"} <= set(s.attrs)
            assert s.schema == "https://opentelemetry.io/schemas/1.11.0"
            if s.kind == CONSUMER:
                assert s.attrs["messaging.operation"] in ("receive", "process")
        else:
            assert "messaging.destination" not in s.attrs and "messaging.message_id" not in s.attrs
            assert s.attrs["messaging.operation.type"] in ("send", "process")
            assert s.name.startswith(("publish ", "send ", "process "))
            if s.kind == CONSUMER:
                assert "messaging.consumer.group.name" in s.attrs
    assert legacy_services == set(legacy["services"])
    http_legacy = {f"service:{s.service}" for s in d.spans if s.kind == SERVER and "http.method" in s.attrs}
    assert http_legacy == set(truth["legacy_http"]["services"])
    for s in d.spans:
        if s.kind == SERVER and f"service:{s.service}" in http_legacy:
            assert "http.status_code" in s.attrs and "http.request.method" not in s.attrs


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_nested_producers(scenario: str) -> None:
    d = derived(scenario)
    nested = set()
    for s in d.spans:
        if s.kind == PRODUCER and s.parent_id:
            parent = d.by_id[(s.trace_id, s.parent_id)]
            if parent.kind == PRODUCER:
                nested.add((f"service:{s.service}", f"topic:{s.dest}"))
                assert parent.msg_id == s.msg_id and parent.service == s.service
                assert parent.start <= s.start and s.end <= parent.end
    assert nested == set(gt.SCENARIOS[scenario]["nested_producers"])


def test_orchestration_sync_steps() -> None:
    d, truth = derived("orchestration"), gt.SCENARIOS["orchestration"]
    otp = d.edge_spans[truth["sync_immediate"]]
    assert statistics.median(s.end - s.start for s in otp) < 10e6  # answers at once
    for call in otp:  # ... without calling anything else: the SERVER span has no children
        (server,) = d.children[(call.trace_id, call.span_id)]
        assert server.kind == SERVER and not d.children[(server.trace_id, server.span_id)]
    # The recommendation call encloses the catalog call made before answering.
    enrich, via = truth["sync_enrich"]["edge"], truth["sync_enrich"]["via"]
    for call in d.edge_spans[enrich]:
        server = next(c for c in d.children[(call.trace_id, call.span_id)] if c.kind == SERVER)
        inner = [c for c in d.children[(server.trace_id, server.span_id)] if c.kind == CLIENT]
        assert any(c in d.edge_spans[via] and c.end <= server.end for c in inner)
    for edge in d.edge_spans:
        if edge[2] == "call" and edge[1].startswith("service:"):
            assert all(s.attrs.get("peer.service") == edge[1].split(":", 1)[1] for s in d.edge_spans[edge])
